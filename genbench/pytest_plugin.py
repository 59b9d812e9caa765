"""The pytest plugin (entry point ``pytest11``): the ``genbench_check`` fixture for sample-quality
regression tests in users' own suites::

    def test_my_generator_did_not_regress(genbench_check):
        genbench_check("mypkg.sampling:sample", "tests/baselines/my_generator.json")

The first run (or ``GENBENCH_UPDATE_BASELINES=1``) records the baseline; later runs re-evaluate
with the baseline's recorded settings and fail when a metric got worse beyond its confidence
interval (or beyond a per-metric ``tolerances`` entry). The checks themselves live in
``genbench.testing``, which does not need pytest (``genbench baseline`` / ``genbench check``);
they are imported when the fixture is first used, so loading the plugin costs pytest nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import pandas as pd

    from genbench.generators.base import Generator
    from genbench.harness.runner import EvalConfig


@pytest.fixture
def genbench_check():
    """``genbench_check(generator, baseline_path, tolerances=None, config=None)``: record the baseline if
    missing (or with GENBENCH_UPDATE_BASELINES=1), else fail the test on a regression."""
    from genbench.testing import check_against_baseline, record_baseline

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
