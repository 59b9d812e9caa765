"""Plots (matplotlib, Agg backend, written atomically as PNG): the trilemma plot and the DDIM
sweep's quality-versus-time plot with its Pareto front."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from genbench.io import atomic_path  # noqa: E402


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Lay out ``fig``, write it as PNG atomically and close it."""
    path = Path(path)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)
    return path


def trilemma_plot(results: dict, path: str | Path) -> Path:
    """Quality (FID, log axis, better is up) against speed (images/s, log axis, better is right);
    colour = recall and marker size = mode coverage (diversity). The top-right corner holds all
    three."""
    names, fid, ips, recall, modes = [], [], [], [], []
    for name, r in results["models"].items():
        m = r["metrics"]
        names.append(name)
        fid.append(m["fid"]["value"])
        ips.append(r.get("throughput", {}).get("images_per_s", math.nan))
        recall.append(m.get("recall", {}).get("value", math.nan))
        modes.append(m.get("mode_coverage", {}).get("value", 1.0))
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    sizes = [40 + 400 * max(v, 0.0) ** 2 for v in modes]
    sc = ax.scatter(ips, fid, c=recall, s=sizes, cmap="viridis", vmin=0, vmax=1, edgecolors="black", zorder=3)
    for name, x, y in zip(names, ips, fid):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(8, 6), fontsize=9)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("sampling speed: images / s (log; right is faster)")
    ax.set_ylabel("quality: FID (log; up is better)")
    fig.colorbar(sc, ax=ax, label="diversity: recall (marker area: mode coverage)")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title("The generative trilemma on shapes32")
    return save_figure(fig, path)


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points not dominated when both coordinates are to be minimised
    (e.g. (seconds per image, FID)), sorted by the first coordinate."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    front, best = [], math.inf
    for i in order:
        if points[i][1] < best:
            front.append(i)
            best = points[i][1]
    return front


def sweep_plot(rows: list[dict], path: str | Path) -> Path:
    """FID against wall time per image (ms, log) for every sweep cell, one line per η / variant,
    the Pareto front marked. ``rows``: dicts with "variant", "steps", "fid", "ms_per_image"."""
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    for variant in variants:
        pts = sorted((r for r in rows if r["variant"] == variant), key=lambda r: r["ms_per_image"])
        ax.plot([r["ms_per_image"] for r in pts], [r["fid"] for r in pts], marker="o", label=variant)
        for r in pts:
            ax.annotate(f"S={r['steps']}", (r["ms_per_image"], r["fid"]), textcoords="offset points",
                        xytext=(4, 4), fontsize=7)
    front = pareto_front([(r["ms_per_image"], r["fid"]) for r in rows])
    ax.plot([rows[i]["ms_per_image"] for i in front], [rows[i]["fid"] for i in front], color="black",
            linestyle="--", linewidth=1, marker="*", markersize=12, label="Pareto front", zorder=4)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("wall time per image (ms, log)")
    ax.set_ylabel("FID (log; lower is better)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("DDIM: quality against sampling time")
    return save_figure(fig, path)
