"""``genbench run``: evaluate a preset's (or a suite file's) models and write the trilemma report."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
from pathlib import Path

from genbench.cli import options
from genbench.cli.common import log_for, reference_and_extractor, warn_skipped
from genbench.harness import distributed


def add_parser(sub) -> None:
    from genbench.harness.presets import PRESET_NAMES

    p = sub("run", help="evaluate the bundled generators and write the trilemma report (the main job)")
    p.add_argument("--preset", default="default", choices=list(PRESET_NAMES),
                   help="which bundled suite (docs/guide.md lists their sizes; default: default)")
    p.add_argument("--config", default=None, metavar="SUITE.toml",
                   help="a suite of your own models (TOML: n, seed, reference, extractor, metrics, [[models]] with "
                        "label, generator, options, nfe); replaces --preset; started again with the same --out "
                        "after an interrupt, it resumes")
    p.add_argument("--models", default=None, help="comma-separated subset of the suite's models, e.g. vae,gan")
    options.add_num_samples(p, "samples per model (default: the suite's)")
    options.add_seed(p, from_suite=True)
    p.add_argument("--name", default=None, help="run name: the report goes to reports/<name>/ (default: preset-time)")
    options.add_report_options(p, "report folder (overrides --name)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genbench.harness.presets import get_preset, load_suite
    from genbench.harness.suite import run_suite
    from genbench.reports.results import render
    from genbench.reports.trilemma import trilemma_markdown, trilemma_text

    suite = load_suite(args.config) if args.config else get_preset(args.preset)
    if args.models:
        suite = suite.with_models(args.models.split(","))
    if args.num_samples is not None or args.seed is not None:
        suite = dataclasses.replace(suite, n=suite.n if args.num_samples is None else args.num_samples,
                                    seed=suite.seed if args.seed is None else args.seed)
    # the reference and feature space are part of the suite: a resumed run must have the same
    suite = dataclasses.replace(suite, reference=args.ref or suite.reference, extractor=args.extractor or suite.extractor)
    name = args.name or f"{suite.name}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    out = Path(args.out) if args.out else Path("reports") / name
    ref, ext = reference_and_extractor(args, suite.reference, suite.extractor)
    results = run_suite(suite, out, device=args.device, progress=not args.quiet, reference=ref, extractor=ext,
                        log=log_for(args))
    if not distributed.is_main():
        return 0
    for label, reason in results["skipped"].items():
        print(f"genbench: warning: {label} skipped: {reason}", file=sys.stderr)
    for label, record in results["models"].items():
        warn_skipped(record.get("skipped", {}), explicit=False, label=f"{label}: ")
    text = {"table": trilemma_text, "md": trilemma_markdown}.get(args.format)
    print(text(results) if text is not None else render(results, args.format))
    print(f"report: {out / 'report.md'}", file=sys.stderr)
    return 0
