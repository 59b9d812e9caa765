"""Sample-quality regression checks for the CLI (`genbench baseline` / `genbench check`) and for
users' own code: ``record_baseline`` writes a generator's metrics with the settings used;
``check_against_baseline`` re-evaluates with those settings and compares. This module does not
import pytest (the commands work without the test extra); the ``genbench_check`` fixture lives in
``genbench.pytest_plugin`` (entry point ``pytest11``).
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pandas as pd

from genbench.errors import GenbenchError
from genbench.generators.base import Generator
from genbench.generators.sources import load_generator
from genbench.harness.runner import EvalConfig, evaluate
from genbench.io import atomic_write_text
from genbench.reports.compare import compare_metrics


def record_baseline(generator: Generator | str, path: str | Path, config: EvalConfig | None = None,
                    progress: bool = False, **evaluate_options: Any) -> dict:
    """Evaluate ``generator`` (``evaluate_options``: ``reference``, ``extractor``, ``metrics`` as
    ``evaluate`` takes them) and write its results, with the settings used, to ``path``."""
    gen = load_generator(generator) if isinstance(generator, str) else generator
    record = evaluate(gen, config=config or EvalConfig(), progress=progress, **evaluate_options)
    text = baseline_record(record)
    atomic_write_text(path, text)
    return json.loads(text)


def baseline_record(record: dict) -> str:
    """The baseline file's text for one ``evaluate`` record: its metrics under the model's name,
    and the provenance (the config a check re-runs)."""
    results = {"models": {record["meta"]["name"]: {k: v for k, v in record.items() if k != "provenance"}},
               "provenance": record["provenance"]}
    return json.dumps(results, indent=2, sort_keys=True) + "\n"


def check_against_baseline(generator: Generator | str, path: str | Path, tolerances: dict[str, float] | None = None,
                           progress: bool = False) -> tuple[pd.DataFrame, bool]:
    """Re-evaluate with the baseline's settings; return the comparison table and whether it passed
    (no metric "worse")."""
    old, recorded = _read_baseline(Path(path))
    config = EvalConfig(**{f.name: recorded[f.name] for f in fields(EvalConfig) if f.name in recorded})
    gen = load_generator(generator) if isinstance(generator, str) else generator
    new = evaluate(gen, config=config, progress=progress)["metrics"]
    table = compare_metrics(old, new, tolerances)
    return table, not (table["verdict"] == "worse").any()


def recorded_micro_batch(path: str | Path) -> int | None:
    """The generator micro-batch a baseline was sampled with (None: not recorded, or the generator
    has none), so that a check can sample the same computation (``genbench.microbatch``)."""
    try:
        recorded = json.loads(Path(path).read_text())["provenance"]["micro_batch"]["generator"]
    except (OSError, ValueError, KeyError, TypeError):  # not readable or not a baseline: the check says so
        return None
    return recorded if isinstance(recorded, int) else None


def _read_baseline(path: Path) -> tuple[dict, dict]:
    """A baseline's metrics and recorded config; GenbenchError naming the file when it is not one
    (checked before any sampling). FileNotFoundError when it does not exist."""
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
    return old, recorded


def __getattr__(name: str):
    if name == "genbench_check":  # the fixture's old home; imported from the plugin only when asked for
        from genbench.pytest_plugin import genbench_check

        return genbench_check
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
