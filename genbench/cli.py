"""The ``genbench`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genbench import __version__


def _cmd_selfcheck(args: argparse.Namespace) -> int:
    from genbench.selfcheck import format_checks, run_checks

    checks = run_checks(seed=args.seed)
    print(format_checks(checks))
    failed = [c.name for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def _cmd_extractors(args: argparse.Namespace) -> int:
    from genbench.registry import available_extractors

    print("\n".join(available_extractors()))
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from genbench.data.shapes32 import SPLIT_SIZES, shapes32
    from genbench.reference import compute_reference, save_reference
    from genbench.registry import get_extractor

    if args.source != "shapes32":
        raise ValueError(f"unknown source {args.source!r}; this version computes statistics for: shapes32")
    n = SPLIT_SIZES[args.split] if args.n is None else args.n
    out_dir = None if args.out_dir is None else Path(args.out_dir)
    for name in args.extractor or ["shapes-net", "shapes-clip"]:
        ext = get_extractor(name)
        ref = compute_reference(lambda start, k: shapes32(args.split, start, k).images, n, ext, "shapes32",
                                args.split, sample_n=args.sample_n, batch_size=args.batch_size,
                                progress=not args.quiet)
        for path in save_reference(ref, out_dir):
            print(path)
    return 0


def _cmd_disturb(args: argparse.Namespace) -> int:
    from genbench.disturbance_study import disturbance_study, study_table
    from genbench.io import atomic_write_text
    from genbench.reports.tables import markdown_table

    df = disturbance_study(n=args.n, extractor=args.extractor, seed=args.seed, progress=not args.quiet)
    fid, is_ = study_table(df, "fid"), study_table(df, "is_mean")
    text = (f"FID against shapes32 train statistics ({args.extractor}), test split, n = {args.n} per cell; "
            f"columns are disturbance levels (0 = clean)\n\n{markdown_table(fid, '.2f')}\n\n"
            f"Inception Score ({args.extractor} classifier, 10 splits; nan without one)\n\n{markdown_table(is_, '.3f')}\n")
    print(text)
    if args.out:
        out = Path(args.out)
        atomic_write_text(out / "disturbance.md", text)
        atomic_write_text(out / "disturbance.csv", df.to_csv(index=False))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from genbench.generators.sources import load_generator
    from genbench.harness.runner import evaluate
    from genbench.harness.throughput import measure_throughput
    from genbench.reports.results import render, write_results

    gen = load_generator(args.generator)
    record = evaluate(gen, _eval_config(args), progress=not args.quiet)
    if gen.meta.nfe:  # stored samples have no sampling cost to time
        record["throughput"] = measure_throughput(gen, batch_size=min(args.batch_size, args.n))
    provenance = record.pop("provenance")
    results = {"models": {gen.meta.name: record}, "provenance": provenance}
    print(render(results, args.format))
    if args.out:
        for path in write_results(results, args.out):
            print(path, file=sys.stderr)
    return 0


def _eval_config(args: argparse.Namespace):
    from genbench.harness.runner import EvalConfig

    return EvalConfig(n=args.n, seed=args.seed, batch_size=args.batch_size, extractor=args.extractor,
                      resamples=args.resamples)


def _cmd_baseline(args: argparse.Namespace) -> int:
    from genbench.testing import record_baseline

    record_baseline(args.generator, args.output, _eval_config(args), progress=not args.quiet)
    print(args.output)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from genbench.testing import check_against_baseline

    tolerances = {}
    for item in args.tolerance:
        metric, _, value = item.partition("=")
        tolerances[metric] = float(value)
    table, passed = check_against_baseline(args.generator, args.baseline, tolerances, progress=not args.quiet)
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    print("PASS: no metric got worse beyond its interval or tolerance" if passed else "FAIL: sample quality regressed")
    return 0 if passed else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genbench", description="Evaluate and benchmark image generative models.")
    parser.add_argument("--version", action="version", version=f"genbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("selfcheck", help="compute every metric on closed-form cases and verify the answers")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_selfcheck)
    p = sub.add_parser("stats", help="compute reference statistics (FeatureStats, feature sample, provenance)")
    p.add_argument("source", help="dataset: shapes32")
    p.add_argument("--split", default="train", choices=["train", "test"])
    p.add_argument("--n", type=int, default=None, help="images (default: the split's nominal size)")
    p.add_argument("--extractor", action="append", default=None,
                   help="feature extractor (repeatable; default: shapes-net and shapes-clip)")
    p.add_argument("--sample-n", type=int, default=10_000, help="feature rows kept for KID / PR (float16)")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--out-dir", default=None, help="default: the bundled reference_stats/")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_stats)
    p = sub.add_parser("disturb", help="the FID paper's disturbance experiment on shapes32")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--extractor", default="shapes-net")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="folder for disturbance.md / disturbance.csv")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_disturb)
    for name, help_text in (("eval", "every metric for one generator (.npz, image folder, module:callable, plug-in)"),
                            ("baseline", "record a generator's metrics as a regression baseline (JSON)")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("generator", help="an .npz of uint8 samples, an image folder, module:callable(seed, start, "
                                         "n), or a genbench.generators plug-in name")
        p.add_argument("--n", type=int, default=2000)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--batch-size", type=int, default=250)
        p.add_argument("--resamples", type=int, default=100, help="half-sampling resamples for the 95%% intervals")
        p.add_argument("--extractor", default="shapes-net")
        p.add_argument("--quiet", action="store_true")
        if name == "eval":
            p.add_argument("--out", default=None, help="folder for results.json, results.csv, report.md")
            p.add_argument("--format", default="table", choices=["table", "json", "csv", "md"])
            p.set_defaults(func=_cmd_eval)
        else:
            p.add_argument("-o", "--output", required=True, help="baseline JSON file to write")
            p.set_defaults(func=_cmd_baseline)
    p = sub.add_parser("check", help="re-run a generator with a baseline's settings; exit 1 if a metric got worse")
    p.add_argument("generator")
    p.add_argument("--baseline", required=True)
    p.add_argument("--tolerance", action="append", default=[], metavar="METRIC=VALUE",
                   help="judge METRIC by this absolute tolerance instead of its interval (repeatable)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_check)
    p = sub.add_parser("extractors", help="list registered feature extractors")
    p.set_defaults(func=_cmd_extractors)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, KeyError, FileNotFoundError) as exc:
        print(f"genbench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
