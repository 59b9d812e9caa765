"""``genbench check``: re-run a generator with a baseline's settings; exit 1 if a metric got worse."""

from __future__ import annotations

import argparse

from genbench.cli import options
from genbench.cli.common import generator_options
from genbench.errors import GenbenchError
from genbench.harness import distributed


def add_parser(sub) -> None:
    p = sub("check", help="re-run a generator with a baseline's settings; exit 1 if a metric got worse")
    p.add_argument("generator")
    p.add_argument("--baseline", required=True, metavar="FILE")
    p.add_argument("--tolerance", action="append", default=[], metavar="METRIC=VALUE",
                   help="judge METRIC by this absolute tolerance instead of its interval (repeatable)")
    options.add_quiet(p)
    options.add_generator_options(p)
    p.set_defaults(func=run)


def tolerances(items: list[str]) -> dict[str, float]:
    """``METRIC=VALUE`` items as {metric: tolerance}."""
    out = {}
    for item in items:
        metric, _, value = item.partition("=")
        try:
            out[metric] = float(value)
        except ValueError:
            raise GenbenchError(f"--tolerance takes METRIC=VALUE with a number, got {item!r}") from None
    return out


def run(args: argparse.Namespace) -> int:
    from genbench.harness.models import load_model
    from genbench.harness.presets import ModelSpec
    from genbench.testing import check_against_baseline, recorded_micro_batch

    allowed = tolerances(args.tolerance)
    # sampled as the baseline was: its micro-batch unless --micro-batch says otherwise
    options, recorded = generator_options(args), recorded_micro_batch(args.baseline)
    if recorded is not None:  # a recorded micro-batch says the generator takes one, whatever its kind
        options.setdefault("micro_batch", recorded)
    generator = load_model(ModelSpec(args.generator, args.generator, options), device=args.device)
    table, passed = check_against_baseline(generator, args.baseline, allowed,
                                           progress=not args.quiet and distributed.is_main())
    if not distributed.is_main():
        return 0
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    print("PASS: no metric got worse beyond its interval or tolerance" if passed else "FAIL: sample quality regressed")
    return 0 if passed else 1
