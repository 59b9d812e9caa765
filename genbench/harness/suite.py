"""``genbench run``: evaluate a preset's bundled generators and write the trilemma report.

For each model: sample n images with seed ``preset.seed`` (sample i depends only on (seed, i)),
evaluate every metric against the bundled shapes32 reference statistics (``harness.runner``),
time the sampling calls themselves (``TimedGenerator``: warm-up, inference mode, device sync,
median), keep the first 64 samples for a grid. The output folder gets ``results.json`` (the
source of truth; rewritten atomically after every model with ``"complete": false`` until the run
ends, so an interrupted run keeps what it finished), ``results.csv``, ``report.md``,
``trilemma.png`` and ``samples_<model>.png``. Under torchrun only rank 0 writes.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from genbench.features.weights import WeightsError
from genbench.generators.bundled import get_bundled
from genbench.harness.distributed import is_main
from genbench.harness.presets import ModelSpec, Preset
from genbench.harness.runner import EvalConfig, evaluate
from genbench.harness.throughput import TimedGenerator
from genbench.io import atomic_write_text, command_line
from genbench.reports.grids import save_grid, save_grid_prompts
from genbench.reports.plots import trilemma_plot
from genbench.reports.results import render
from genbench.reports.trilemma import trilemma_markdown

GRID_SAMPLES = 64


def eval_config(preset: Preset) -> EvalConfig:
    """The EvalConfig every model of ``preset`` is evaluated with."""
    return EvalConfig(n=preset.n, seed=preset.seed, batch_size=preset.batch_size, reference=preset.reference,
                      extractor=preset.extractor, metrics=preset.metrics,
                      resamples=preset.resamples, kid_subset_size=min(1000, preset.n))


def run_suite(preset: Preset, out_dir: str | Path | None, device: str | None = None, progress: bool = True,
              log=print, reference: Any = None, extractor: Any = None) -> dict:
    """Evaluate every model of ``preset`` against ``reference`` (a Reference or a spec; None: the
    bundled shapes32 statistics) in ``extractor``'s space (None: the reference's); write the
    report into ``out_dir`` (None: write nothing). Returns the results record."""
    cfg = eval_config(preset)
    started = time.time()
    out = Path(out_dir) if out_dir is not None else None
    results: dict[str, Any] = {"models": {}, "skipped": {}, "provenance": {}}
    done = _finished_models(out, preset)
    for i, spec in enumerate(preset.models):
        if spec.label in done:  # resumed: this model's record from the interrupted run
            log(f"[{i + 1}/{len(preset.models)}] {spec.label}: done in the interrupted run, kept", file=sys.stderr)
            results["models"][spec.label] = done[spec.label]
            continue
        try:
            inner = _load_model(spec, preset, device)
        except WeightsError as exc:  # e.g. a generator whose training has not landed: report it, run the rest
            log(f"[{i + 1}/{len(preset.models)}] {spec.label}: skipped ({exc})", file=sys.stderr)
            results["skipped"][spec.label] = str(exc)
            continue
        log(f"[{i + 1}/{len(preset.models)}] {spec.label}: {preset.n} samples", file=sys.stderr)
        gen = TimedGenerator(inner, keep_first=GRID_SAMPLES)
        gen.meta.name = spec.label
        for key in ("nfe", "parameters"):  # what a callable cannot say, as the suite declares it
            if getattr(spec, key) is not None:
                setattr(gen.meta, key, getattr(spec, key))
        record = evaluate(gen, reference, config=cfg, extractor=extractor, progress=progress)
        record["throughput"] = stored_throughput(gen) if getattr(inner, "stored", False) else gen.throughput()
        shared = record.pop("provenance")
        results["provenance"] = {**shared, "preset": preset.to_dict(), "command": command_line(),
                                 "started": dt.datetime.fromtimestamp(started, dt.timezone.utc).isoformat(),
                                 "complete": False}
        if out is not None and is_main() and gen.first is not None:
            save_grid(gen.first, out / f"samples_{spec.label}.png")
            record["samples_grid"] = f"samples_{spec.label}.png"
            if hasattr(gen, "captions_for"):  # caption-conditioned: the prompts of the grid, row by row
                record["samples_prompts"] = save_grid_prompts(gen.captions_for(0, len(gen.first)),
                                                              out / record["samples_grid"]).name
        results["models"][spec.label] = record
        if out is not None and is_main():
            atomic_write_text(out / "results.json", json.dumps(results, indent=2) + "\n")
    if not results["models"]:
        raise ValueError(f"no model of preset {preset.name!r} could be loaded: {results['skipped']}")
    results["provenance"] |= {"complete": True, "wall_seconds": round(time.time() - started, 1),
                              "device": str(device or ("cuda" if torch.cuda.is_available() else "cpu"))}
    if out is not None and is_main():
        write_report(results, out)
    return results


def _load_model(spec: ModelSpec, preset: Preset, device: str | None):
    """A bundled generator with the preset's micro-batch, or anything ``genbench eval`` takes."""
    from genbench.generators.bundled import BUNDLED
    from genbench.generators.sources import load_generator

    if spec.generator in BUNDLED:
        return get_bundled(spec.generator, device=device, **{"micro_batch": preset.micro_batch, **spec.options})
    if spec.generator.startswith("diffusers:"):
        return load_generator(spec.generator, device=device, **{"micro_batch": preset.micro_batch, **spec.options})
    return load_generator(spec.generator, **spec.options)


def stored_throughput(gen: TimedGenerator) -> dict:
    """Stored samples (a folder, an .npz) were not sampled: no speed, and the record says so."""
    return {"images_per_s": float("nan"), "ms_per_image": float("nan"), "nfe": gen.meta.nfe,
            "method": "stored samples: read, not sampled, so no speed"}


def _finished_models(out: Path | None, preset: Preset) -> dict[str, dict]:
    """Model records of an earlier run of the same suite in ``out`` (its results.json, written after
    every model), so a run started again after an interrupt resumes; {} when there is none or
    the suite differs."""
    path = None if out is None else out / "results.json"
    if path is None or not path.is_file():
        return {}
    try:
        earlier = json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}
    if earlier.get("provenance", {}).get("preset") != json.loads(json.dumps(preset.to_dict())):
        return {}
    return {label: record for label, record in earlier.get("models", {}).items()
            if label in {m.label for m in preset.models}}


def write_report(results: dict, out: Path) -> list[Path]:
    """results.json, results.csv, trilemma.png and report.md in ``out`` (all written atomically)."""
    paths = [out / "results.json", out / "results.csv", out / "report.md"]
    atomic_write_text(paths[0], json.dumps(results, indent=2) + "\n")
    atomic_write_text(paths[1], render(results, "csv"))
    paths.append(trilemma_plot(results, out / "trilemma.png"))
    atomic_write_text(paths[2], report_markdown(results))
    return paths


def _ranking_section(results: dict) -> list[str]:
    """report.md's leaderboard by FID (the rank rule of ``genbench compare`` under it); none without FID."""
    from genbench.reports.leaderboard import render_board

    if not any("fid" in r.get("metrics", {}) for r in results["models"].values()):
        return []
    return ["## Ranking by FID", "", render_board(results["models"], "fid", "md"), ""]


def report_markdown(results: dict) -> str:
    """report.md: the trilemma table and plot, the ranking by FID, sample grids, every metric with its
    interval, provenance."""
    prov = results["provenance"]
    preset = prov.get("preset", {})
    cfg = prov.get("config", {})
    lines = [f"# genbench run — preset `{preset.get('name', '?')}`", "",
             f"{cfg.get('n')} samples per model (seed {cfg.get('seed')}), features `{prov.get('extractor', cfg.get('extractor'))}` "
             f"(weights sha256 `{str(prov.get('weights_sha256', '?'))[:16]}…`) against the reference "
             f"`{prov.get('reference', {}).get('source', cfg.get('reference'))}`; 95% half-sampling intervals from "
             f"{cfg.get('resamples')} "
             f"resamples; device `{prov.get('device')}`; genbench {prov.get('genbench_version')}, torch "
             f"{prov.get('torch_version')}; wall time {prov.get('wall_seconds')} s.", "",
             f"Command: `{prov.get('command', '')}`", "", "## Trilemma", "", trilemma_markdown(results), "",
             "![trilemma](trilemma.png)", "", *_ranking_section(results), "## Samples (first 64 of each model)", ""]
    for name, r in results["models"].items():
        if "samples_grid" in r:
            lines += [f"**{name}** ({r['meta'].get('nfe')} NFE)", "", f"![{name}]({r['samples_grid']})", ""]
            if "samples_prompts" in r:
                lines += [f"Prompts, row by row: [{r['samples_prompts']}]({r['samples_prompts']})", ""]
    for name, reason in results.get("skipped", {}).items():
        lines += [f"**{name}**: skipped — {reason}", ""]
    lines += ["## Every metric", "", render(results, "md"), ""]
    return "\n".join(lines)
