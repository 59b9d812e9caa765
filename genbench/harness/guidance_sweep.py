"""``genbench sweep guidance``: the classifier-free guidance scale against quality, prompt following
and diversity for the bundled latent diffusion model (``ldm``).

For each scale s, sample i (i < n) is conditioned on held-out shapes32 test caption i and draws its
noise from (seed, i), so every scale sees the same captions and the same initial latents. Each
cell is one ``evaluate`` call: FID, KID, precision/recall/coverage, mode coverage and recognisable
against the bundled train statistics, plus the prompt metrics of caption-conditioned generators
(``clip_score`` with shapes-clip, ``prompt_shape`` / ``prompt_color`` = the share of samples whose
shapes-net shape / colour is the prompted one). Throughput is timed on the cell's own sampling
calls (``TimedGenerator``); NFE counts U-Net evaluations per sample (steps × 2, or steps at s = 0 or 1).

Diversity per prompt (``same_prompt_ssim``): the first ``pairs`` samples are drawn a second time
from seed + 1 (same captions, other noise); the mean SSIM between the two draws of each caption
rises as guidance narrows the conditional distribution (the diversity half of the trade-off, which
recall and coverage see only globally). Its interval is the percentile bootstrap over captions.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from genbench.harness.distributed import is_main
from genbench.io import command_line
from genbench.harness.runner import EvalConfig, evaluate
from genbench.harness.sweep import write_sweep_files
from genbench.harness.throughput import TimedGenerator
from genbench.metrics.bootstrap import bootstrap_ci
from genbench.metrics.ssim import ssim
from genbench.reports.plots import guidance_plot
from genbench.reports.tables import markdown_table

TABLE_COLUMNS = {"fid": "FID", "clip_score": "CLIP score", "prompt_shape": "prompt shape", "prompt_color":
                 "prompt colour", "recall": "recall", "coverage": "coverage", "mode_coverage": "mode coverage",
                 "same_prompt_ssim": "same-prompt SSIM", "nfe": "NFE", "images_per_s": "images/s"}


@dataclass(frozen=True)
class GuidanceSweepConfig:
    """Scales s, the DDIM sampler (``steps``, ``eta``) and n samples per scale (captions 0 … n−1)."""

    scales: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 7.5)
    steps: int = 50
    eta: float = 0.0
    n: int = 1000
    seed: int = 0
    batch_size: int = 125
    resamples: int = 20
    pairs: int = 100
    extractor: str = "shapes-net"
    reference: str = "shapes32:train"  # a Reference.load spec


def run_guidance_sweep(cfg: GuidanceSweepConfig, out_dir: str | Path | None = None, device: str | None = None,
                       progress: bool = True, log=print, reference: Any = None,
                       extractor: Any = None) -> pd.DataFrame:
    """One row per scale: every metric with its interval (``<metric>_ci_low/high``), same_prompt_ssim,
    nfe, ms_per_image, images_per_s. Writes guidance.json / .csv / .md / .png into ``out_dir``."""
    from genbench.generators.ldm import LDMGenerator

    if not cfg.scales or not all(s >= 0 for s in cfg.scales):
        raise ValueError(f"guidance scales must be >= 0, got {cfg.scales}")
    if not 0 <= cfg.pairs <= cfg.n:
        raise ValueError(f"pairs must lie in [0, n = {cfg.n}], got {cfg.pairs}")
    eval_cfg = EvalConfig(n=cfg.n, seed=cfg.seed, batch_size=cfg.batch_size, extractor=cfg.extractor,
                          reference=cfg.reference,
                          resamples=cfg.resamples, kid_subset_size=min(1000, cfg.n))
    rows, started, record = [], time.time(), None
    for i, s in enumerate(cfg.scales):
        log(f"[{i + 1}/{len(cfg.scales)}] guidance s = {s:g}: {cfg.n} samples", file=sys.stderr)
        inner = LDMGenerator(steps=cfg.steps, eta=cfg.eta, guidance=s, device=device)
        gen = TimedGenerator(inner, keep_first=cfg.pairs)
        record = evaluate(gen, reference, config=eval_cfg, extractor=extractor, progress=progress)
        tp = gen.throughput()
        row = {"guidance": s, "nfe": gen.meta.nfe, "ms_per_image": tp["ms_per_image"],
               "images_per_s": tp["images_per_s"]}
        for key, m in record["metrics"].items():
            row |= {key: m["value"], f"{key}_ci_low": m["ci"][0], f"{key}_ci_high": m["ci"][1]}
        row |= same_prompt_ssim(inner, gen.first, cfg)
        rows.append(row)
    df = pd.DataFrame(rows)
    if out_dir is not None and is_main():
        write_guidance_sweep(df, cfg, Path(out_dir), {
            "command": command_line(), "wall_seconds": round(time.time() - started, 1),
            "device": str(device or ("cuda" if torch.cuda.is_available() else "cpu")),
            "eval_config": asdict(eval_cfg), "reference": record["provenance"]["reference"],
            "extractor": record["provenance"]["extractor"], "weights_sha256": record["provenance"]["weights_sha256"],
            "generator": record["meta"]})
    return df


def same_prompt_ssim(generator, first: torch.Tensor | None, cfg: GuidanceSweepConfig) -> dict[str, float]:
    """Mean SSIM (with its bootstrap interval) between samples 0 … pairs−1 of seed ``cfg.seed``
    (``first``) and of seed + 1, caption i in both; nan when there are no pairs (or under torchrun
    on ranks that did not draw sample 0)."""
    nan = {"same_prompt_ssim": float("nan"), "same_prompt_ssim_ci_low": float("nan"),
           "same_prompt_ssim_ci_high": float("nan")}
    if cfg.pairs < 2 or first is None or len(first) < cfg.pairs:
        return nan
    second = torch.cat([generator.sample_range(cfg.seed + 1, lo, min(cfg.batch_size, cfg.pairs - lo))
                        for lo in range(0, cfg.pairs, cfg.batch_size)])
    per_pair = ssim(first[:cfg.pairs], second).numpy().astype(np.float64)
    result = bootstrap_ci(np.mean, per_pair, resamples=cfg.resamples, seed=cfg.seed)
    return {"same_prompt_ssim": float(result.value), "same_prompt_ssim_ci_low": float(result.ci[0]),
            "same_prompt_ssim_ci_high": float(result.ci[1])}


def guidance_table(df: pd.DataFrame) -> pd.DataFrame:
    """The note/README table: one row per scale s, the ``TABLE_COLUMNS`` that were measured."""
    cols = [c for c in TABLE_COLUMNS if c in df.columns]
    table = df[cols].astype(object)  # per-cell Python values: NFE stays an integer in the Markdown
    table["nfe"] = df["nfe"].astype(int).tolist()
    table.index = [f"{s:g}" for s in df["guidance"]]
    return table.rename(columns=TABLE_COLUMNS).rename_axis("s")


def guidance_markdown(df: pd.DataFrame, cfg: GuidanceSweepConfig) -> str:
    return (f"Classifier-free guidance sweep of `ldm` (DDIM {cfg.steps} steps, η = {cfg.eta:g}; {cfg.n} held-out "
            f"test captions, one sample each, seed {cfg.seed}; {cfg.extractor} features against {cfg.reference} "
            f"; prompt accuracy by shapes-net; CLIP score by shapes-clip; same-prompt SSIM over "
            f"{cfg.pairs} captions drawn with seeds {cfg.seed} and {cfg.seed + 1}, higher = less diverse; "
            f"95% intervals in guidance.csv)\n\n" + markdown_table(guidance_table(df), ".3f")
            + "\n\n![FID and prompt accuracy against the guidance scale](guidance.png)\n")


def write_guidance_sweep(df: pd.DataFrame, cfg: GuidanceSweepConfig, out: Path, provenance: dict) -> list[Path]:
    return write_sweep_files(out, "guidance", "genbench sweep guidance", df, cfg, provenance,
                             guidance_markdown(df, cfg), guidance_plot)
