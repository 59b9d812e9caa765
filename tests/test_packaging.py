"""A plain (non-editable) install carries the bundled weights and statistics: build the wheel,
install it without dependencies into a folder of its own, and run a tiny evaluation from another
directory with nothing of the repository on the path. A wheel build, an install and a run in fresh
processes (~40 s on a 2-core CPU): marked slow (``-m slow``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
import genbench
from genbench.cli import main
print(json.dumps({"genbench": genbench.__file__}))
sys.exit(main(["run", "--preset", "smoke", "--models", "vae,gan", "-n", "20", "--out", "report", "--quiet",
               "--format", "json", "--device", "cpu"]))
"""


@pytest.mark.slow
def test_wheel_install_runs_an_evaluation_from_another_directory(tmp_path):
    source, wheels, site, elsewhere = (tmp_path / name for name in ("source", "wheels", "site", "elsewhere"))
    elsewhere.mkdir()
    # a clean copy: a stale build/ folder in the checkout would hide files the package data leaves out
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "venv", "build", "dist", "reports",
                                                                 "*.egg-info", "__pycache__", ".pytest_cache"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(source)], check=True, timeout=600,
                   capture_output=True)
    (wheel,) = wheels.glob("genbench-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, timeout=600,
                   capture_output=True)
    env = {k: v for k, v in os.environ.items() if k != "GENBENCH_ASSETS"}
    env["PYTHONPATH"] = str(site)  # ahead of the editable install of this checkout
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=elsewhere, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first, rest = proc.stdout.split("\n", 1)
    assert Path(json.loads(first)["genbench"]).is_relative_to(site)  # the installed copy ran, not this checkout
    results = json.loads(rest)
    assert set(results["models"]) == {"vae", "gan"}
    assert results["models"]["gan"]["meta"]["options"]["weights_sha256"]  # the bundled weights were found
    assert (elsewhere / "report" / "results.json").is_file()
