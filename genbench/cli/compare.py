"""``genbench compare``: a leaderboard from results.json files."""

from __future__ import annotations

import argparse
import sys

from genbench.cli import options
from genbench.reports.results import FORMATS


def add_parser(sub) -> None:
    p = sub("compare", help="a leaderboard from results.json files; a model's rank counts the models "
                            "better than it with confidence (95%% intervals apart)")
    p.add_argument("results", nargs="+", help="results.json files (from run, eval or baseline)")
    p.add_argument("--metric", default="fid", help="rank by this metric (default fid)")
    options.add_format(p, (*FORMATS, "html"), help_text="html: one self-contained page with the trilemma plot, "
                                                        "sample thumbnails and sortable columns (redirect it to a file)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genbench.reports.leaderboard import board_warnings, leaderboard, load_models, rank_rule, render_board, run_figures

    models, origins = load_models(args.results)
    board = leaderboard(models, args.metric)  # refuses an unrankable metric before any warning
    warnings = board_warnings(models, args.metric)
    for warning in warnings:
        print(f"genbench: warning: {warning}", file=sys.stderr)
    if args.format == "html":
        from genbench.reports.html import leaderboard_html

        grids, plots = run_figures(models, origins)
        print(leaderboard_html(board, f"genbench leaderboard by {args.metric}",
                               [rank_rule(args.metric), *(f"Warning: {w}." for w in warnings),
                                "Results: " + ", ".join(args.results)], grids=grids, plots=plots))
    else:
        print(render_board(models, args.metric, args.format))
    return 0
