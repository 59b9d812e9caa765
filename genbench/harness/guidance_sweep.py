"""``genbench sweep guidance``: the classifier-free guidance scale (× sampler steps × sampler)
against quality, prompt following and diversity, for the bundled latent diffusion model (``ldm``,
the default) or a Stable Diffusion-layout pipeline (``model="diffusers:PATH"``, with prompts).

The grid: for each sampler, each number of steps and each scale s (in that nesting order), sample i
(i < n) is conditioned on caption i (the held-out shapes32 test captions for ``ldm``, else prompt
i mod len of the prompts file) and draws its noise from (seed, i), so every cell sees the same
captions and the same initial latents. Each cell is one ``evaluate`` call: FID, KID,
precision/recall/coverage against the reference, and the prompt metrics of caption-conditioned
generators (``clip_score`` with ``clip_model``: shapes-clip for ``ldm``, OpenAI's ViT-L/14
(``clip:ViT-L-14-quickgelu:openai``) by default for pipelines; on ``ldm`` also mode coverage and
``prompt_shape`` / ``prompt_color``).
Throughput is timed on the cell's own sampling calls (``TimedGenerator``), text encoder and decoder
included; NFE counts U-Net evaluations per sample (steps × 2 when guided, as the doubled
[uncond; text] batch is two rows per sample; steps × 1 at s = 0 or 1; T instead of steps for ddpm).

Diversity per prompt (``same_prompt_ssim``): the first ``pairs`` samples are drawn a second time
from seed + 1 (same captions, other noise); the mean SSIM between the two draws of each caption
rises as guidance narrows the conditional distribution (the diversity half of the trade-off, which
recall and coverage see only globally). Its interval is the percentile bootstrap over captions.

Files: guidance.json / .csv / .md, guidance.png (one (sampler, steps): FID and prompt metrics
against s; several: the trade-off plot) and guidance_tradeoff.png (FID against CLIP score, one
curve per (sampler, steps), points labelled by s), when CLIP scores were measured.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from genbench.harness.outputs import RunFolder
from genbench.harness.runner import EvalConfig
from genbench.harness.suite import SuiteRow, evaluate_rows
from genbench.harness.sweep import sweep_provenance, write_sweep_files
from genbench.metrics.bootstrap import bootstrap_ci
from genbench.metrics.ssim import ssim
from genbench.generators.text_to_image import DEFAULT_CLIP_MODEL, NFE_RULE
from genbench.reports.plots import guidance_plot, plt, save_figure
from genbench.reports.tables import markdown_table

TABLE_COLUMNS = {"fid": "FID", "clip_score": "CLIP score", "prompt_shape": "prompt shape", "prompt_color":
                 "prompt colour", "recall": "recall", "coverage": "coverage", "mode_coverage": "mode coverage",
                 "same_prompt_ssim": "same-prompt SSIM", "nfe": "NFE", "images_per_s": "images/s"}


@dataclass(frozen=True)
class GuidanceSweepConfig:
    """Scales s × ``steps`` × ``samplers`` (DDIM with ``eta``, DPM-Solver++(2M), DDPM) and n samples
    per cell. ``model``: None (the bundled ``ldm``) or a text-to-image pipeline spec
    (``diffusers:PATH``); ``prompts``: a prompts file (``genbench.data.prompts``; required for a
    pipeline, optional for ``ldm``); ``negative_prompt``, ``dtype``, ``micro_batch``: pipeline
    options; ``clip_model``: the CLIP score's model (None: shapes-clip for ``ldm``,
    ``DEFAULT_CLIP_MODEL`` for a pipeline)."""

    scales: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 7.5)
    steps: int | tuple[int, ...] = 50
    eta: float = 0.0
    n: int = 1000
    seed: int = 0
    batch_size: int = 50
    resamples: int = 20
    pairs: int = 100
    extractor: str = "shapes-net"
    reference: str = "shapes32:train"  # a Reference.load spec
    samplers: tuple[str, ...] = ("ddim",)
    model: str | None = None
    prompts: str | None = None
    negative_prompt: str | None = None
    dtype: str = "fp32"
    micro_batch: int | None = None
    clip_model: str | None = None

    @property
    def steps_list(self) -> tuple[int, ...]:
        return (self.steps,) if isinstance(self.steps, int) else tuple(self.steps)


def _cell_generators(cfg: GuidanceSweepConfig, device: str | None, log):
    """A function (sampler, steps, s) -> Generator for the sweep's model, the model loaded once."""
    from genbench.errors import GenbenchError

    prompts, source = None, None
    if cfg.prompts is not None:
        from genbench.data.prompts import load_prompts, prompts_provenance

        prompts = load_prompts(cfg.prompts)
        source = prompts_provenance(cfg.prompts, prompts)
    if cfg.model is None or cfg.model == "ldm":
        from genbench.generators.ldm import LDMGenerator

        if cfg.negative_prompt is not None:
            raise GenbenchError("--negative-prompt applies to text-to-image pipelines, not the bundled ldm")
        extra = {} if cfg.micro_batch is None else {"micro_batch": cfg.micro_batch}

        def bundled(sampler: str, steps: int, s: float):
            return LDMGenerator(steps=steps, eta=cfg.eta, guidance=s, device=device, captions=prompts,
                                **({} if sampler == "ddim" else {"sampler": sampler}), **extra)

        return bundled
    from genbench.generators.diffusion_model import is_model_folder
    from genbench.generators.text_to_image import TextToImageGenerator, TextToImagePipeline, is_text_to_image_folder

    path = cfg.model.removeprefix("diffusers:")
    if not ((cfg.model.startswith("diffusers:") or is_model_folder(path)) and is_text_to_image_folder(path)):
        raise GenbenchError(f"sweep guidance takes the bundled ldm or a text-to-image pipeline folder "
                            f"(diffusers:PATH in the Stable Diffusion layout), got {cfg.model!r}")
    if prompts is None:
        raise GenbenchError("sweep guidance of a text-to-image pipeline needs --prompts FILE")
    log(f"loading {path}", file=sys.stderr)
    pipeline = TextToImagePipeline.from_folder(path, dtype=cfg.dtype, device=device)
    extra = {} if cfg.micro_batch is None else {"micro_batch": cfg.micro_batch}

    def pipeline_cell(sampler: str, steps: int, s: float):
        return TextToImageGenerator(pipeline, prompts=prompts, negative_prompt=cfg.negative_prompt, guidance=s,
                                    sampler=sampler, steps=steps, eta=cfg.eta if sampler == "ddim" else 0.0,
                                    name=cfg.model, prompts_source=source, **extra)

    return pipeline_cell


def run_guidance_sweep(cfg: GuidanceSweepConfig, out_dir: str | Path | None = None, device: str | None = None,
                       progress: bool = True, log=print, reference: Any = None,
                       extractor: Any = None) -> pd.DataFrame:
    """One row per (sampler, steps, scale): every metric with its interval (``<metric>_ci_low/high``),
    same_prompt_ssim, nfe, ms_per_image, images_per_s. Writes guidance.json / .csv / .md / .png (and
    guidance_tradeoff.png) into ``out_dir``."""
    if not cfg.scales or not all(s >= 0 for s in cfg.scales):
        raise ValueError(f"guidance scales must be >= 0, got {cfg.scales}")
    if not 0 <= cfg.pairs <= cfg.n:
        raise ValueError(f"pairs must lie in [0, n = {cfg.n}], got {cfg.pairs}")
    if not cfg.samplers or not cfg.steps_list:
        raise ValueError("sweep guidance needs at least one sampler and one number of steps")
    bundled = cfg.model is None or cfg.model == "ldm"
    clip_model = cfg.clip_model or ("shapes-clip" if bundled else DEFAULT_CLIP_MODEL)
    eval_cfg = EvalConfig(n=cfg.n, seed=cfg.seed, batch_size=cfg.batch_size, extractor=cfg.extractor,
                          reference=cfg.reference, resamples=cfg.resamples, clip_model=clip_model)
    make = _cell_generators(cfg, device, log)
    grid = [(sampler, steps, s) for sampler in cfg.samplers for steps in cfg.steps_list for s in cfg.scales]
    cells = [SuiteRow(f"{cell[0]}, {cell[1]} steps, guidance s = {cell[2]:g}", lambda cell=cell: make(*cell),
                      keep_name=True)
             for cell in grid]
    rows, started, result = [], time.time(), None
    for (sampler, steps, s), (_, result) in zip(grid, evaluate_rows(
            cells, eval_cfg, reference=reference, extractor=extractor, keep_first=cfg.pairs, progress=progress,
            log=log)):
        tp = result.record["throughput"]
        row = {"guidance": s, "sampler": sampler, "steps": steps, "nfe": tp["nfe"],
               "ms_per_image": tp["ms_per_image"], "images_per_s": tp["images_per_s"]}
        for key, m in result.record["metrics"].items():
            row |= {key: m["value"], f"{key}_ci_low": m["ci"][0], f"{key}_ci_high": m["ci"][1]}
        row |= same_prompt_ssim(result.generator.inner, result.first, cfg)
        rows.append(row)
    df = pd.DataFrame(rows)
    write_guidance_sweep(df, cfg, RunFolder(out_dir),
                         {**sweep_provenance(result.record, eval_cfg, started), "nfe_rule": NFE_RULE})
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


def _combinations(df: pd.DataFrame) -> list[tuple[str, int]]:
    if "sampler" not in df.columns:
        return []
    return list(dict.fromkeys(zip(df["sampler"], df["steps"].astype(int))))


def guidance_table(df: pd.DataFrame) -> pd.DataFrame:
    """The note/README table: one row per scale s (per sampler, steps and s when the grid has several
    of those), the ``TABLE_COLUMNS`` that were measured."""
    cols = [c for c in TABLE_COLUMNS if c in df.columns]
    table = df[cols].astype(object)  # per-cell Python values: NFE stays an integer in the Markdown
    table["nfe"] = df["nfe"].astype(int).tolist()
    if len(_combinations(df)) > 1:
        table.index = [f"{sampler} S={int(steps)} s={s:g}" for sampler, steps, s in
                       zip(df["sampler"], df["steps"], df["guidance"])]
        return table.rename(columns=TABLE_COLUMNS).rename_axis("sampler, steps, s")
    table.index = [f"{s:g}" for s in df["guidance"]]
    return table.rename(columns=TABLE_COLUMNS).rename_axis("s")


def _sampler_words(cfg: GuidanceSweepConfig) -> str:
    names = {"ddim": f"DDIM (η = {cfg.eta:g})", "ddpm": "DDPM (all T steps)", "dpmsolver++": "DPM-Solver++(2M)"}
    return ", ".join(names.get(s, s) for s in cfg.samplers) + " with " + ", ".join(map(str, cfg.steps_list)) + " steps"


def guidance_markdown(df: pd.DataFrame, cfg: GuidanceSweepConfig) -> str:
    bundled = cfg.model is None or cfg.model == "ldm"
    if bundled and cfg.prompts is None and cfg.samplers == ("ddim",) and len(cfg.steps_list) == 1:
        head = (f"Classifier-free guidance sweep of `ldm` (DDIM {cfg.steps_list[0]} steps, η = {cfg.eta:g}; {cfg.n} "
                f"held-out test captions, one sample each, seed {cfg.seed}; {cfg.extractor} features against "
                f"{cfg.reference} ; prompt accuracy by shapes-net; CLIP score by shapes-clip; same-prompt SSIM over "
                f"{cfg.pairs} captions drawn with seeds {cfg.seed} and {cfg.seed + 1}, higher = less diverse; "
                f"95% intervals in guidance.csv)\n\n")
    else:
        captions = (f"prompts of {cfg.prompts} (sample i: prompt i mod len)" if cfg.prompts is not None
                    else "held-out test captions")
        clip = cfg.clip_model or ("shapes-clip" if bundled else DEFAULT_CLIP_MODEL)
        head = (f"Classifier-free guidance sweep of `{cfg.model or 'ldm'}` ({_sampler_words(cfg)}; {cfg.n} samples "
                f"per cell, {captions}, seed {cfg.seed}; {cfg.extractor} features against {cfg.reference}; CLIP "
                f"score by {clip}; NFE = U-Net evaluations per sample, a guided step counting 2; same-prompt SSIM "
                f"over {cfg.pairs} prompts drawn with seeds {cfg.seed} and {cfg.seed + 1}, higher = less diverse; "
                f"95% intervals in guidance.csv)\n\n")
    text = head + markdown_table(guidance_table(df), ".3f")
    text += "\n\n![FID and prompt accuracy against the guidance scale](guidance.png)\n"
    if "clip_score" in df.columns:
        text += "\n![FID against CLIP score, one curve per sampler and steps](guidance_tradeoff.png)\n"
    return text


def tradeoff_plot(rows: list[dict], path: str | Path) -> Path:
    """FID (lower is better) against CLIP score, one curve per (sampler, steps) through its scales
    in increasing order, each point labelled with its scale s (the CFG papers' trade-off curve)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    groups: dict[tuple[str, int], list[dict]] = {}
    for row in rows:
        groups.setdefault((row.get("sampler", "ddim"), int(row.get("steps", 0))), []).append(row)
    for (sampler, steps), group in groups.items():
        group = sorted(group, key=lambda r: r["guidance"])
        xs, ys = [r["clip_score"] for r in group], [r["fid"] for r in group]
        ax.plot(xs, ys, marker="o", label=f"{sampler}, {steps} steps")
        for r, x, y in zip(group, xs, ys):
            ax.annotate(f"s={r['guidance']:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel("CLIP score (higher: follows the prompt)")
    ax.set_ylabel("FID (lower is better)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Classifier-free guidance: FID against CLIP score")
    return save_figure(fig, path)


def _plot(rows: list[dict], path: Path) -> Path:
    """guidance.png: the per-scale plot for one (sampler, steps); the trade-off plot for several."""
    if len({(r.get("sampler"), r.get("steps")) for r in rows}) > 1 and all("clip_score" in r for r in rows):
        return tradeoff_plot(rows, path)
    return guidance_plot(rows, path)


def write_guidance_sweep(df: pd.DataFrame, cfg: GuidanceSweepConfig, folder: RunFolder,
                         provenance: dict) -> list[Path | None]:
    paths = write_sweep_files(folder, "guidance", "genbench sweep guidance", df, cfg, provenance,
                              guidance_markdown(df, cfg), _plot)
    if "clip_score" in df.columns:
        cells = df.to_dict(orient="records")
        paths.append(folder.write_with("guidance_tradeoff.png", lambda path: tradeoff_plot(cells, path)))
    return paths
