"""Sample-quality regression checks, for the CLI (`genbench baseline` / `genbench check`) and for
users' own test suites (this module is also a pytest plugin, entry point ``pytest11``).

In a test suite::

    def test_my_generator_did_not_regress(genbench_check):
        genbench_check("mypkg.sampling:sample", "tests/baselines/my_generator.json")

The first run (or ``GENBENCH_UPDATE_BASELINES=1``) records the baseline; later runs re-evaluate
with the baseline's recorded settings and fail when a metric got worse beyond its confidence
interval (or beyond a per-metric ``tolerances`` entry).
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path

import pandas as pd
import pytest

from genbench.generators.base import Generator
from genbench.generators.sources import load_generator
from genbench.harness.runner import EvalConfig, evaluate
from genbench.io import atomic_write_text
from genbench.reports.compare import compare_metrics


def record_baseline(generator: Generator | str, path: str | Path, config: EvalConfig | None = None,
                    progress: bool = False) -> dict:
    """Evaluate ``generator`` and write its results (with the settings used) to ``path``."""
    gen = load_generator(generator) if isinstance(generator, str) else generator
    record = evaluate(gen, config or EvalConfig(), progress=progress)
    results = {"models": {gen.meta.name: {k: v for k, v in record.items() if k != "provenance"}},
               "provenance": record["provenance"]}
    atomic_write_text(path, json.dumps(results, indent=2, sort_keys=True) + "\n")
    return results


def check_against_baseline(generator: Generator | str, path: str | Path, tolerances: dict[str, float] | None = None,
                           progress: bool = False) -> tuple[pd.DataFrame, bool]:
    """Re-evaluate with the baseline's settings; return the comparison table and whether it passed
    (no metric "worse")."""
    baseline = json.loads(Path(path).read_text())
    recorded = baseline["provenance"]["config"]
    config = EvalConfig(**{f.name: recorded[f.name] for f in fields(EvalConfig) if f.name in recorded})
    gen = load_generator(generator) if isinstance(generator, str) else generator
    new = evaluate(gen, config, progress=progress)["metrics"]
    (old,) = [m["metrics"] for m in baseline["models"].values()]
    table = compare_metrics(old, new, tolerances)
    return table, not (table["verdict"] == "worse").any()


@pytest.fixture
def genbench_check():
    """``genbench_check(generator, baseline_path, tolerances=None, config=None)``: record the baseline if
    missing (or with GENBENCH_UPDATE_BASELINES=1), else fail the test on a regression."""

    def check(generator: Generator | str, baseline: str | Path, tolerances: dict[str, float] | None = None,
              config: EvalConfig | None = None) -> pd.DataFrame | None:
        if os.environ.get("GENBENCH_UPDATE_BASELINES") == "1" or not Path(baseline).exists():
            record_baseline(generator, baseline, config)
            return None
        table, passed = check_against_baseline(generator, baseline, tolerances)
        if not passed:
            pytest.fail(f"sample quality regressed against {baseline}:\n{table.to_string()}", pytrace=False)
        return table

    return check
