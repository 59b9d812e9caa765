"""Training curves: the columns of a trainer's ``log.csv`` rows drawn against step (or epoch) as a PNG."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from genbench.reports.plots import save_figure
from genbench.training.loop import Row


def plot_curves(path: Path, rows: list[Row], left: Sequence[str], right: Sequence[str] = (), *, x: str = "step",
                title: str = "", left_label: str = "mean over logging interval", log_left: bool = False,
                right_title: str = "", right_label: str = "", log_right: bool = False,
                right_ylim: tuple[float, float] | None = None) -> None:
    """Write a figure of ``rows`` against column ``x``: the ``left`` columns as lines in the left
    panel, and, when ``right`` is not empty, the ``right`` columns (monitors: NaN where not computed)
    as points in a right panel; ``log_*`` puts a panel's y axis on a log scale."""
    import matplotlib.pyplot as plt

    xs = [r[x] for r in rows]
    fig, axes = plt.subplots(1, 2 if right else 1, figsize=(10 if right else 6, 4), squeeze=False)
    ax_left = axes[0][0]
    for key in left:
        ax_left.plot(xs, [r[key] for r in rows], label=key)
    ax_left.set(xlabel=x, ylabel=left_label, title=title, yscale="log" if log_left else "linear")
    if len(left) > 1:
        ax_left.legend()
    if right:
        ax_right = axes[0][1]
        for key in right:
            pts = [(r[x], r[key]) for r in rows if not math.isnan(r[key])]
            if pts:
                ax_right.plot(*zip(*pts), marker="o", label=key)
        ax_right.set(xlabel=x, ylabel=right_label, title=right_title, yscale="log" if log_right else "linear")
        if right_ylim is not None:
            ax_right.set_ylim(*right_ylim)
        if ax_right.lines:
            ax_right.legend()
    save_figure(fig, path, dpi=100)
