"""``genbench sweep ddim``: sampling steps against quality for a denoiser, shaped like DDIM's Table 1.

The denoiser is the bundled DDPM U-Net, or any ``Denoiser`` (``model``: a diffusers folder, a
Python object). For each variant (DDIM's η values, σ̂ = "DDPM with the larger variance", and
DPM-Solver++(2M) when ``samplers`` asks for it) and each number of steps S, draw n samples with
seed ``seed`` and evaluate them (FID and every other metric the reference supports, against the
reference: the bundled shapes32 statistics by default). Sample i starts from the same x_T in every cell (x_T is the first
draw of sample i's own generator), so each cell's first ``ssim_n`` samples are compared by SSIM
with the samples of the largest S of the same variant from the same initial noise (for η = 0 that
is the deterministic DDIM path; with η > 0 the later noise differs by S, so SSIM falls for that
reason too). Each cell is a row of a suite (``harness.suite.evaluate_rows``): throughput is timed on its own
sampling calls.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from genbench.generators.bundled import DiffusionGenerator
from genbench.harness.outputs import RunFolder
from genbench.harness.runner import EvalConfig
from genbench.harness.suite import SuiteRow, evaluate_rows
from genbench.io import command_line
from genbench.metrics.ssim import ssim
from genbench.reports.plots import pareto_front, sweep_plot
from genbench.reports.tables import markdown_table

SIGMA_HAT = "σ̂"


@dataclass(frozen=True)
class SweepConfig:
    """The grid (``steps`` × ``etas`` plus the σ̂ row when ``sigma_hat``), n samples per cell."""

    steps: tuple[int, ...] = (10, 20, 50, 100, 1000)
    etas: tuple[float, ...] = (0.0, 0.2, 0.5, 1.0)
    sigma_hat: bool = True
    spacing: str = "uniform"
    n: int = 500
    seed: int = 0
    batch_size: int = 50
    resamples: int = 20
    ssim_n: int = 100
    extractor: str = "shapes-net"
    reference: str = "shapes32:train"  # a Reference.load spec
    samplers: tuple[str, ...] = ("ddim",)  # "ddim" (the η rows and σ̂) and / or "dpmsolver++"
    model: str | None = None  # a denoiser spec (diffusers:PATH, module:object); None: the bundled U-Net


DPM_SOLVER = "DPM-Solver++(2M)"


def variants(cfg: SweepConfig) -> list[tuple[str, dict]]:
    """(row label, generator options) for each row of the table: DDIM's η rows (``cfg.spacing``)
    and σ̂, then DPM-Solver++(2M) (its own default spacing, diffusers' "linspace")."""
    unknown = set(cfg.samplers) - {"ddim", "dpmsolver++"}
    if unknown or not cfg.samplers:
        raise ValueError(f"sweep samplers are ddim and dpmsolver++, got {', '.join(cfg.samplers) or 'none'}")
    rows = []
    if "ddim" in cfg.samplers:
        rows += [(f"η = {eta:g}", {"sampler": "ddim", "eta": float(eta), "spacing": cfg.spacing})
                 for eta in cfg.etas]
        if cfg.sigma_hat:
            rows.append((SIGMA_HAT, {"sampler": "ddim", "eta": 0.0, "sigma_hat": True, "spacing": cfg.spacing}))
    if "dpmsolver++" in cfg.samplers:
        rows.append((DPM_SOLVER, {"sampler": "dpmsolver++"}))
    if not rows:
        from genbench.errors import GenbenchError

        raise GenbenchError("the sweep has no rows: give at least one --eta, the σ̂ row or --sampler dpmsolver++")
    return rows


def _cell_generator(cfg: SweepConfig, denoiser: Any, steps: int, device: str | None, options: dict):
    """The generator of one cell: the bundled U-Net (``DiffusionGenerator``) or ``denoiser``."""
    if denoiser is None:
        return DiffusionGenerator(steps=steps, device=device, **options)
    from genbench.generators.diffusion_model import DenoiserGenerator

    return DenoiserGenerator(denoiser, steps=steps, device=device, name=cfg.model, **options)


def run_sweep(cfg: SweepConfig, out_dir: str | Path | None = None, device: str | None = None,
              progress: bool = True, log=print, reference: Any = None, extractor: Any = None,
              denoiser: Any = None) -> pd.DataFrame:
    """One row per (variant, steps): sampler, fid (with ci), kid, precision, recall, ssim_to_ref,
    ms_per_image, images_per_s, nfe. ``denoiser``: a ``Denoiser`` (default: ``cfg.model`` loaded, or
    the bundled U-Net). Writes sweep.json / sweep.csv / sweep.md / sweep.png into ``out_dir``."""
    if not cfg.steps or not all(s >= 1 for s in cfg.steps):
        raise ValueError(f"steps must be positive integers, got {cfg.steps}")
    steps = sorted(set(cfg.steps), reverse=True)  # the reference (largest S) first
    eval_cfg = EvalConfig(n=cfg.n, seed=cfg.seed, batch_size=cfg.batch_size, extractor=cfg.extractor,
                          reference=cfg.reference, resamples=cfg.resamples)
    started = time.time()
    if denoiser is None and cfg.model is not None:
        from genbench.generators.diffusion_model import load_denoiser

        denoiser = load_denoiser(cfg.model)
    cells = [SuiteRow(f"{label}, S = {s}", lambda opts=opts, s=s: _cell_generator(cfg, denoiser, s, device, opts),
                      keep_name=True)
             for label, opts in variants(cfg) for s in steps]
    variant_steps = [(label, opts, s) for label, opts in variants(cfg) for s in steps]
    rows, result = [], None
    for (label, opts, s), (_, result) in zip(variant_steps, evaluate_rows(
            cells, eval_cfg, reference=reference, extractor=extractor, keep_first=cfg.ssim_n, progress=progress,
            log=log)):
        tp, m = result.record["throughput"], result.record["metrics"]
        if s == steps[0]:
            largest_s = result.first
        rows.append({"variant": label, "sampler": opts["sampler"], "steps": s, "nfe": tp["nfe"],
                     "fid": m["fid"]["value"], "fid_ci_low": m["fid"]["ci"][0], "fid_ci_high": m["fid"]["ci"][1],
                     **{k: m.get(k, {}).get("value", float("nan"))
                        for k in ("kid", "precision", "recall", "mode_coverage")},
                     "ssim_to_ref": float("nan") if result.first is None else float(ssim(result.first,
                                                                                         largest_s).mean()),
                     "ms_per_image": tp["ms_per_image"], "images_per_s": tp["images_per_s"]})
    df = pd.DataFrame(rows)
    front = set(pareto_front(list(zip(df["ms_per_image"], df["fid"]))))
    df["pareto"] = [i in front for i in range(len(df))]
    # under torchrun rank 0 alone holds samples 0… for SSIM, and writes
    write_sweep(df, cfg, RunFolder(out_dir), sweep_provenance(result.record, eval_cfg, started))
    return df


def sweep_provenance(record: dict, eval_cfg: EvalConfig, started: float) -> dict:
    """How a sweep's numbers were obtained, from its last cell's record."""
    prov = record["provenance"]
    return {"command": command_line(), "device": prov["device"], "wall_seconds": round(time.time() - started, 1),
            "eval_config": asdict(eval_cfg), "reference": prov["reference"], "extractor": prov["extractor"],
            "weights_sha256": prov["weights_sha256"], "generator": record["meta"]}


def table(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """``column`` as variant × steps, rows in sweep order and columns by increasing S (DDIM Table 1's layout)."""
    t = df.pivot(index="variant", columns="steps", values=column)
    t = t.loc[list(dict.fromkeys(df["variant"])), sorted(t.columns)]
    t.columns = [f"S={s}" for s in t.columns]
    return t


def sweep_markdown(df: pd.DataFrame, cfg: SweepConfig) -> str:
    s_ref = max(cfg.steps)
    speed = df.groupby("steps")[["ms_per_image", "images_per_s"]].median().rename_axis("S")
    front = df[df["pareto"]].sort_values("ms_per_image")
    return "\n\n".join([
        f"FID of {cfg.model or 'the bundled DDPM U-Net'} ({cfg.extractor} features against {cfg.reference}, "
        f"{cfg.n} samples per cell, seed {cfg.seed}, DDIM rows with {cfg.spacing} spacing, DPM-Solver++ rows with "
        f"its linspace spacing; the 95% intervals are in sweep.csv)", markdown_table(table(df, "fid"), ".2f"),
        f"Mean SSIM of each cell's first {cfg.ssim_n} samples to the S={s_ref} samples of the same row from the "
        f"same initial noise", markdown_table(table(df, "ssim_to_ref"), ".3f"),
        "Throughput per S (median over the rows of each column's cells)", markdown_table(speed, ".2f"),
        "Pareto front (no other cell has both lower FID and less time per image): " + ", ".join(
            f"{r.variant} S={r.steps} (FID {r.fid:.2f}, {r.ms_per_image:.2f} ms/img)" for r in front.itertuples()),
    ]) + "\n\n![FID against time per image](sweep.png)\n"


def write_sweep(df: pd.DataFrame, cfg: SweepConfig, folder: RunFolder, provenance: dict) -> list[Path | None]:
    return write_sweep_files(folder, "sweep", "genbench sweep ddim", df, cfg, provenance, sweep_markdown(df, cfg),
                             sweep_plot)


def write_sweep_files(folder: RunFolder, stem: str, title: str, df: pd.DataFrame, cfg, provenance: dict,
                      markdown: str, plot) -> list[Path | None]:
    """``<stem>.json`` (config, one record per cell, provenance), ``<stem>.csv``, ``<stem>.md`` (title,
    command, ``markdown``) and ``<stem>.png`` (``plot(cells, path)``) in ``folder``."""
    cells = df.to_dict(orient="records")
    return [folder.write_text(f"{stem}.json", json.dumps({"config": asdict(cfg), "cells": cells,
                                                          "provenance": provenance}, indent=2) + "\n"),
            folder.write_text(f"{stem}.csv", df.to_csv(index=False)),
            folder.write_text(f"{stem}.md", f"# {title}\n\nCommand: `{provenance['command']}`\n\n" + markdown),
            folder.write_with(f"{stem}.png", lambda path: plot(cells, path))]


def sweep_denoiser(model: str | None, beta_schedule: str | None = None, prediction_type: str = "epsilon",
                   sample_shape: tuple[int, ...] = (3, 32, 32)):
    """The Denoiser a DDIM sweep drives: None for the bundled U-Net (``model`` None), ``model`` loaded
    (``load_denoiser``: diffusers:PATH, module:object), or with ``beta_schedule`` the network
    ``net(x, t)`` at ``module:net`` wrapped with that schedule (T = 1000, diffusers' defaults),
    ``prediction_type`` and the shape (C, H, W) of one sample."""
    from genbench.errors import GenbenchError

    if model is None:
        if beta_schedule is not None:
            raise GenbenchError("--beta-schedule describes a --model network; the bundled U-Net has its own schedule")
        return None
    from genbench.generators.diffusion_model import load_denoiser

    if beta_schedule is None:
        return load_denoiser(model)
    from genbench.diffusion import Denoiser
    from genbench.generators.import_spec import import_object

    if model.startswith("diffusers:") or ":" not in model:
        raise GenbenchError("--beta-schedule takes --model module:net (a network net(x, t)); a diffusers folder "
                            "carries its own scheduler config")
    if len(sample_shape) != 3:
        raise GenbenchError(f"--sample-shape takes C,H,W, got {','.join(map(str, sample_shape))}")
    return Denoiser.from_callable(import_object(model), beta_schedule=beta_schedule, prediction=prediction_type,
                                  sample_shape=tuple(sample_shape))
