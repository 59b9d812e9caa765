"""``genbench models``, ``genbench extractors`` and ``genbench selfcheck``: what is installed and
whether it computes what it should."""

from __future__ import annotations

import argparse
import sys

from genbench.cli import options


def add_parsers(sub) -> None:
    p = sub("selfcheck", help="compute every metric on closed-form cases and verify the answers")
    options.add_seed(p)
    p.set_defaults(func=run_selfcheck)
    p = sub("models", help="the bundled weights (size, steps, device, sha256), or how one was made")
    p.add_argument("name", nargs="?", default=None,
                   help="a manifest name (e.g. ddpm-unet): print the commands that made it, oldest first")
    p.add_argument("--verify", action="store_true", help="hash every file against the manifest (exit 1 on a mismatch)")
    p.set_defaults(func=run_models)
    p = sub("extractors", help="list registered feature extractors")
    p.set_defaults(func=run_extractors)


def run_selfcheck(args: argparse.Namespace) -> int:
    from genbench.selfcheck import format_checks, run_checks

    checks = run_checks(seed=args.seed)
    print(format_checks(checks))
    failed = [c.name for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def run_extractors(args: argparse.Namespace) -> int:
    from genbench.features.registry import available_extractors

    print("\n".join(available_extractors()))
    return 0


def run_models(args: argparse.Namespace) -> int:
    from genbench.bundled_weights import weights_table, format_reproduction

    if args.name is not None:
        print(format_reproduction(args.name))
        return 0
    table = weights_table(verify=args.verify)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"{table['size_mb'].sum():.1f} MB in {len(table)} files under reference_models/"
          + ("" if args.verify else "; --verify checks every sha256"))
    bad = table[~table["status"].isin(["ok", "not checked"])]
    if len(bad):
        print(f"genbench: error: {', '.join(f'{n} ({s})' for n, s in zip(bad['name'], bad['status']))}",
              file=sys.stderr)
    return 1 if len(bad) else 0
