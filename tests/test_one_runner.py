"""Every command evaluates a model through one runner (genbench/harness/suite.py), so the same model
evaluated by `run`, `eval` and `baseline` gives the same record, field for field (timings aside)."""

from __future__ import annotations

import json

from genbench.cli import main

TIMING_KEYS = {"images_per_s", "ms_per_image", "timed_seconds", "repeats", "peak_memory_mb", "method"}


def _without_timings(record: dict) -> dict:
    return {**record, "throughput": {k: v for k, v in record["throughput"].items() if k not in TIMING_KEYS}}


def test_run_eval_and_baseline_give_the_same_record(tmp_path, capsys):
    common = ["-n", "20", "--seed", "3", "--quiet"]
    suite = tmp_path / "suite.toml"
    suite.write_text('n = 20\nbatch_size = 10\nresamples = 4\n\n[[models]]\nlabel = "vae"\ngenerator = "vae"\n')
    assert main(["run", "--config", str(suite), "--out", str(tmp_path / "run"), *common]) == 0
    assert main(["eval", "vae", "--batch-size", "10", "--resamples", "4", "--out", str(tmp_path / "eval"),
                 *common]) == 0
    assert main(["baseline", "vae", "--batch-size", "10", "--resamples", "4", "-o", str(tmp_path / "base.json"),
                 *common]) == 0
    capsys.readouterr()
    run, ev = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("run", "eval"))
    base = json.loads((tmp_path / "base.json").read_text())
    assert _without_timings(run["models"]["vae"]) == _without_timings(ev["models"]["vae"])
    grid_fields = ("samples_grid",)  # a baseline file holds no grid
    assert _without_timings({k: v for k, v in ev["models"]["vae"].items() if k not in grid_fields}) == \
        _without_timings(base["models"]["vae"])
    assert run["provenance"]["config"] == ev["provenance"]["config"] == base["provenance"]["config"]
    assert run["models"]["vae"]["metrics"]["fid"]["n"] == 20
