"""``genbench stats SOURCE``: reference statistics (FeatureStats, feature sample, provenance) of a source."""

from __future__ import annotations

import argparse
from pathlib import Path

from genbench.cli import options
from genbench.cli.common import extractor_from_args
from genbench.errors import GenbenchError


def add_parser(sub) -> None:
    p = sub("stats", help="compute reference statistics (FeatureStats, feature sample, provenance)")
    p.add_argument("source", help="shapes32, a folder of images (flat or class subfolders), or a torchvision "
                                  "dataset root (CIFAR-10/100, MNIST; not downloaded)")
    p.add_argument("--split", default="train", choices=["train", "test"])
    options.add_num_samples(p, "images (default: the split's nominal size)")
    p.add_argument("--extractor", action="append", default=None,
                   help="feature extractor (repeatable with --out; default: with -o, shapes-net for shapes32 "
                        "and inception-v3-fid for other images; with --out, shapes-net and shapes-clip)")
    p.add_argument("--sample-n", type=int, default=10_000, help="feature rows kept for KID / PR (float16)")
    options.add_batch_size(p, default=options.REFERENCE_BATCH_SIZE, reference=True)
    p.add_argument("-o", "--output", default=None, metavar="FILE",
                   help="one .npz for one extractor (mu and sigma as pytorch-fid reads them, n, a feature sample, "
                        "provenance): a side for `genbench fid`")
    options.add_out(p, "the file pair per extractor (default: the bundled reference_stats/)", old_spelling="--out-dir")
    options.add_weights_options(p)
    options.add_reading_options(p, cache=False)
    options.add_device(p)
    options.add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genbench.data.sources import image_source
    from genbench.reference import compute_reference, resolve_extractor, save_reference, save_reference_file

    source = image_source(args.source, args.split, resize_inputs=args.resize_inputs)
    n = source.n if args.num_samples is None else args.num_samples
    if not 1 <= n <= source.n:
        raise GenbenchError(f"{source.name} has {source.n} images; --num-samples must be in [1, {source.n}], got {n}")
    if args.output is not None:  # one file, one feature space
        if args.out is not None or len(args.extractor or []) > 1:
            raise GenbenchError("-o writes one file for one feature space: give at most one --extractor, no --out")
        names = args.extractor or [resolve_extractor([args.source], None)]  # shapes-net for shapes32, else Inception
    else:
        if args.out is None and source.name != "shapes32":
            raise GenbenchError("give -o FILE (or --out DIR) for sources other than shapes32 "
                                "(the bundled folder holds shapes32)")
        names = args.extractor or ["shapes-net", "shapes-clip"]
    for name in names:
        ref = compute_reference(source, n, extractor_from_args(name, args), source.name, args.split,
                                sample_n=min(args.sample_n, n), batch_size=args.batch_size, progress=not args.quiet,
                                workers=args.workers)
        ref.provenance["input"] = source.provenance()
        paths = ([save_reference_file(ref, args.output)] if args.output is not None
                 else save_reference(ref, None if args.out is None else Path(args.out)))
        for path in paths:
            print(path)
    return 0
