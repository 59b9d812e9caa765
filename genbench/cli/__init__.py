"""The ``genbench`` command line: one small module per command (each parses, makes one library call
and prints), the shared options and their defaults in ``genbench.cli.options``."""

from __future__ import annotations

import argparse
import functools
import sys

from genbench import __version__
from genbench.harness import distributed

OFFLINE_HELP = ("no network access: weights and published statistics that are not on disk are not fetched, and "
                "their absence fails naming the file and where to put it (also GENBENCH_OFFLINE=1)")


def build_parser() -> argparse.ArgumentParser:
    from genbench.cli import check, compare, disturb, evaluate, fid, info, run, stats, sweep

    # allow_abbrev=False: only whole option names (and the short forms listed), so that an option
    # never silently means another and genbench's options stay apart from torchrun's
    parser = argparse.ArgumentParser(prog="genbench", description="Evaluate and benchmark image generative models.",
                                     allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"genbench {__version__}")
    parser.add_argument("--offline", action="store_true", help=OFFLINE_HELP)
    common = argparse.ArgumentParser(add_help=False)  # --offline is taken after the command name too
    common.add_argument("--offline", action="store_true", default=argparse.SUPPRESS, help=OFFLINE_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    add = functools.partial(sub.add_parser, allow_abbrev=False, parents=[common])
    run.add_parser(add)
    sweep.add_parser(add)
    fid.add_parser(add)
    compare.add_parser(add)
    stats.add_parser(add)
    disturb.add_parser(add)
    evaluate.add_parsers(add)
    check.add_parser(add)
    info.add_parsers(add)
    return parser


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"genbench: warning: {message}\n"  # one line, like the errors


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit code: 0 done, 1 a
    check failed, 2 bad input (one ``genbench: error:`` line), 130 interrupted."""
    import warnings

    from genbench.fetch import offline

    previous_format, warnings.formatwarning = warnings.formatwarning, _format_warning
    try:
        args = build_parser().parse_args(argv)
        # under torchrun (WORLD_SIZE > 1): join the process group (nccl for a CUDA device, else gloo), leave it at the end
        with distributed.session(getattr(args, "device", None)), offline(args.offline):
            try:
                return args.func(args)
            except KeyboardInterrupt:
                print("interrupted", file=sys.stderr)
                return 130
            except (ValueError, FileNotFoundError) as exc:  # bad input (GenbenchError is a ValueError); the rest are bugs
                print(f"genbench: error: {exc}", file=sys.stderr)
                return 2
    finally:
        warnings.formatwarning = previous_format


if __name__ == "__main__":
    sys.exit(main())
