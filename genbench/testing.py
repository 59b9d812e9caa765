"""Sample-quality regression checks for the CLI (``genbench baseline`` / ``genbench check``) and for
users' own code: ``record_baseline`` writes a generator's metrics with the settings used;
``check_against_baseline`` re-evaluates with those settings — the recorded ``EvalConfig`` and the
generator micro-batch the baseline was sampled with — and compares. Both evaluate through
``harness.one_model.evaluate_model``, the step every command shares. This module does not import
pytest (the commands work without the test extra); the ``genbench_check`` fixture lives in
``genbench.pytest_plugin`` (entry point ``pytest11``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import pandas as pd

from genbench.errors import GenbenchError
from genbench.generators.base import Generator
from genbench.harness.models import load_model
from genbench.harness.one_model import evaluate_model
from genbench.harness.presets import ModelSpec
from genbench.harness.runner import EvalConfig
from genbench.io import atomic_write_text
from genbench.reports.compare import compare_metrics


def record_baseline(generator: Generator | str, path: str | Path, config: EvalConfig | None = None,
                    progress: bool = False, metrics: Sequence[str] | None = None, **evaluate_options: Any) -> dict:
    """Evaluate ``generator`` (a Generator, or a spec loaded as ``genbench eval`` loads it) on
    ``metrics`` (None: ``config.metrics``; ``evaluate_options``: ``reference``, ``extractor`` as
    ``evaluate`` takes them) and write its results, with the settings used, to ``path``."""
    gen = load_model(ModelSpec(generator, generator)) if isinstance(generator, str) else generator
    config = config or EvalConfig()
    if metrics is not None:
        config = dataclasses.replace(config, metrics=tuple(metrics))
    record = evaluate_model(gen, config, progress=progress, **evaluate_options).record
    results = {"models": {record["meta"]["name"]: record}, "provenance": record.pop("provenance")}
    text = baseline_text(results)
    atomic_write_text(path, text)
    return json.loads(text)


def baseline_text(results: dict) -> str:
    """The baseline file's text for a one-model results record ({"models": {name: record},
    "provenance"}): its metrics under the model's name, and the provenance (the config a check re-runs)."""
    if len(results["models"]) != 1:
        raise GenbenchError(f"a baseline holds one model, got {len(results['models'])}")
    models = {name: {k: v for k, v in record.items() if k not in ("samples_grid", "samples_prompts", "prompts")}
              for name, record in results["models"].items()}
    return json.dumps({"models": models, "provenance": results["provenance"]}, indent=2, sort_keys=True) + "\n"


def check_against_baseline(generator: Generator | str, path: str | Path, tolerances: dict[str, float] | None = None,
                           progress: bool = False, **evaluate_options: Any) -> tuple[pd.DataFrame, bool]:
    """Re-evaluate with the baseline's settings (a spec ``generator`` is loaded with the baseline's
    micro-batch); return the comparison table and whether it passed (no metric "worse")."""
    old, recorded, micro_batch = _read_baseline(Path(path))
    config = EvalConfig(**{f.name: recorded[f.name] for f in fields(EvalConfig) if f.name in recorded})
    if isinstance(generator, str):  # a recorded micro-batch says the generator takes one, whatever its kind
        gen = load_model(ModelSpec(generator, generator, {} if micro_batch is None else {"micro_batch": micro_batch}))
    else:
        gen = generator
    new = evaluate_model(gen, config, progress=progress, **evaluate_options).record["metrics"]
    table = compare_metrics(old, new, tolerances)
    return table, not (table["verdict"] == "worse").any()


def recorded_micro_batch(path: str | Path) -> int | None:
    """The generator micro-batch a baseline was sampled with (None: not recorded, or the generator
    has none), so that a check can sample the same computation (``genbench.microbatch``)."""
    try:
        return _read_baseline(Path(path))[2]
    except (OSError, GenbenchError):  # not readable or not a baseline: the check itself says so
        return None


def _read_baseline(path: Path) -> tuple[dict, dict, int | None]:
    """A baseline's metrics, recorded config and generator micro-batch; GenbenchError naming the file
    when it is not one (checked before any sampling). FileNotFoundError when it does not exist."""
    try:
        baseline = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise GenbenchError(f"baseline {path} is not JSON: {exc}") from exc
    try:
        recorded = baseline["provenance"]["config"]
        (old,) = [m["metrics"] for m in baseline["models"].values()]
    except (KeyError, TypeError, AttributeError, ValueError):
        raise GenbenchError(f"{path} is not a genbench baseline (one model's metrics and provenance.config, "
                            "as `genbench baseline` writes)") from None
    micro_batch = (baseline["provenance"].get("micro_batch") or {}).get("generator")
    return old, recorded, micro_batch if isinstance(micro_batch, int) else None
