"""``genbench disturb``: the FID paper's disturbance experiment on shapes32."""

from __future__ import annotations

import argparse

from genbench.cli import options
from genbench.harness.outputs import RunFolder


def add_parser(sub) -> None:
    p = sub("disturb", help="the FID paper's disturbance experiment on shapes32")
    options.add_num_samples(p, "images per cell (default 10000)", default=10_000)
    p.add_argument("--extractor", default="shapes-net")
    options.add_seed(p)
    options.add_out(p, "folder for disturbance.md / disturbance.csv")
    options.add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genbench.disturbance_study import disturbance_study, study_markdown

    df = disturbance_study(n=args.num_samples, extractor=args.extractor, seed=args.seed, progress=not args.quiet)
    text = study_markdown(df, args.extractor)
    print(text)
    folder = RunFolder(args.out)
    folder.write_text("disturbance.md", text)
    folder.write_text("disturbance.csv", df.to_csv(index=False))
    return 0
