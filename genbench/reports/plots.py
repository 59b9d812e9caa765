"""Plots (matplotlib, Agg backend, written atomically as PNG): the trilemma plot and the DDIM
sweep's quality-versus-time plot with its Pareto front, and the guidance sweep's trade-off plot."""

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
    finite = [v for v in fid if v > 0 and math.isfinite(v)]
    if finite and min(finite) == max(finite):  # one model (genbench eval): a decade around its FID
        ax.set_ylim(finite[0] / 3.0, finite[0] * 3.0)
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


def guidance_plot(rows: list[dict], path: str | Path) -> Path:
    """The guidance trade-off, one point per scale s: FID (left) and prompt accuracy, CLIP score
    (÷ 100) and same-prompt SSIM (right) against s. ``rows``: dicts with "guidance", "fid" and any of
    "prompt_shape", "prompt_color", "clip_score", "same_prompt_ssim"."""
    rows = sorted(rows, key=lambda r: r["guidance"])
    scales = [r["guidance"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 4.0))
    left.plot(scales, [r["fid"] for r in rows], marker="o", color="black")
    left.set_xlabel("guidance scale s")
    left.set_ylabel("FID (lower is better)")
    left.grid(True, alpha=0.3)
    for key, label, scale in (("prompt_shape", "prompt shape accuracy", 1.0), ("prompt_color",
                              "prompt colour accuracy", 1.0), ("clip_score", "CLIP score / 100", 0.01),
                              ("same_prompt_ssim", "same-prompt SSIM (less diverse ↑)", 1.0)):
        values = [r.get(key, math.nan) for r in rows]
        if not all(math.isnan(v) for v in values):
            right.plot(scales, [v * scale for v in values], marker="o", label=label)
    right.set_xlabel("guidance scale s")
    right.set_ylim(0, 1.05)
    right.grid(True, alpha=0.3)
    right.legend(fontsize=8)
    fig.suptitle("Classifier-free guidance: quality, prompt following and diversity")
    return save_figure(fig, path)
