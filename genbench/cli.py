"""The ``genbench`` command line."""

from __future__ import annotations

import argparse
import sys

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genbench", description="Evaluate and benchmark image generative models.")
    parser.add_argument("--version", action="version", version=f"genbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("selfcheck", help="compute every metric on closed-form cases and verify the answers")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_selfcheck)
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
