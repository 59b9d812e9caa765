"""``genbench fid A B``: the FID between two sides (folders, .npz samples, statistics files, clean-fid's
published statistics, a torchvision root, shapes32)."""

from __future__ import annotations

import argparse
import json

from genbench.cli import options
from genbench.cli.common import extractor_from_args, load_reference


def add_parser(sub) -> None:
    p = sub("fid", help="the FID between two sides: folders, .npz samples, statistics files (genbench, pytorch-fid, "
                        "clean-fid, ADM), clean-fid's published statistics (cleanfid:DATASET/MODE/SPLIT/RES), a "
                        "torchvision root or shapes32[:split]")
    p.add_argument("a", help="first side")
    p.add_argument("b", help="second side")
    p.add_argument("--extractor", default=None,
                   help="feature space (default: the one a genbench statistics side records; shapes-net for "
                        "shapes32; else inception-v3-fid, as pytorch-fid; required for foreign statistics)")
    options.add_weights_options(p)
    options.add_reading_options(p)
    options.add_batch_size(p, reference=True)
    options.add_device(p)
    options.add_format(p, ("table", "json"), json_flag=True,
                       help_text="table: the value; json: the record (value, both sides' provenance, extractor)")
    options.add_quiet(p, "no progress bars; print the number alone")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genbench.metrics.frechet import frechet_distance
    from genbench.reference import resolve_extractor

    ext = extractor_from_args(resolve_extractor([args.a, args.b], args.extractor), args, [args.a, args.b])
    a, b = (load_reference(spec, ext, args, args.batch_size) for spec in (args.a, args.b))
    value = frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
    if args.format == "json":
        print(json.dumps({"fid": value, "a": a.provenance, "b": b.provenance, "extractor": ext.provenance()},
                         indent=2, default=str))
    else:
        print(f"{value:.6f}" if args.quiet else f"FID:  {value}")
    return 0
