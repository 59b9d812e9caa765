"""`genbench run --config suite.toml` (``genbench.harness.suite``, the suite file read by
``genbench.harness.presets``): a suite of a user's own models (a callable, a folder of
samples, a bundled model) gives the trilemma table, a leaderboard and its HTML page, times every
sampled generator, says "stored" for the folder, and resumes after an interrupt without sampling
the finished models again."""

from __future__ import annotations

import json

import pytest

from genbench.cli import main
from genbench.data.shapes32 import shapes32

N = 20
CALLS: list[int] = []


def held_out(seed: int, start: int, n: int):
    """A user's 'generator': shapes32 test images 500 + i; counts its calls."""
    CALLS.append(n)
    return shapes32("test", 500 + start, n).images


@pytest.fixture
def suite(tmp_path, monkeypatch, image_folder):
    image_folder(tmp_path / "samples", shapes32("test", 0, N).images, pad=2)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "usergen.py").write_text("from test_suite import held_out\n")
    path = tmp_path / "suite.toml"
    path.write_text(f"""
n = {N}
seed = 0
resamples = 4
reference = "shapes32:train"
metrics = ["fid", "kid", "pr", "dc", "is", "modes", "ssim"]
[[models]]
label = "mine"
generator = "usergen:held_out"
nfe = 1
parameters = 0
[[models]]
label = "stored"
generator = "{tmp_path / 'samples'}"
[[models]]
label = "vae"
generator = "vae"
""")
    return path


def test_a_suite_of_user_models_runs_resumes_and_renders(suite, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["run", "--config", str(suite), "--out", str(out), "--quiet", "--format", "md"]) == 0
    table = capsys.readouterr().out
    for label in ("mine", "stored", "vae"):
        assert f"| {label} |" in table
    results = json.loads((out / "results.json").read_text())
    models = results["models"]
    assert models["mine"]["meta"]["nfe"] == 1 and models["mine"]["throughput"]["images_per_s"] > 0
    assert "no speed" in models["stored"]["throughput"]["method"]
    (row,) = [line for line in table.splitlines() if line.startswith("| stored |")]
    assert "| stored | – |" in row and "speed" not in row  # no speed for read samples, and no speed corner
    assert set(models["vae"]["metrics"]) >= {"fid", "kid", "precision", "coverage", "mode_coverage"}
    assert results["provenance"]["config"]["metrics"] == ["fid", "kid", "pr", "dc", "is", "modes", "ssim"]
    # interrupted after two models: the restarted run keeps them and samples only the third
    del results["models"]["vae"]
    results["provenance"]["complete"] = False
    (out / "results.json").write_text(json.dumps(results))
    CALLS.clear()
    assert main(["run", "--config", str(suite), "--out", str(out), "--quiet", "--format", "json"]) == 0
    resumed = json.loads((out / "results.json").read_text())
    assert CALLS == [] and resumed["provenance"]["complete"] is True
    assert resumed["models"]["mine"] == models["mine"] and "vae" in resumed["models"]
    assert list(resumed["models"]) == ["mine", "stored", "vae"] and resumed["provenance"]["resumed_models"] == [
        "mine", "stored"]
    # interrupted again, then restarted against another reference: nothing is kept (a FID against
    # shapes32:train beside one against shapes32:test would be meaningless)
    resumed["provenance"]["complete"] = False
    (out / "results.json").write_text(json.dumps(resumed))
    CALLS.clear()
    assert main(["run", "--config", str(suite), "--out", str(out), "--quiet", "--ref", "shapes32:test",
                 "--format", "json"]) == 0
    again = json.loads((out / "results.json").read_text())
    assert CALLS and "resumed_models" not in again["provenance"]
    assert again["models"]["mine"]["metrics"]["fid"] != models["mine"]["metrics"]["fid"]
    capsys.readouterr()
    assert main(["compare", str(out / "results.json"), "--format", "html"]) == 0
    page = capsys.readouterr().out
    assert page.startswith("<!doctype html>") and all(f"<td>{m}</td>" in page for m in ("mine", "stored", "vae"))
    assert "<script src" not in page  # nothing fetched when the page is viewed


def test_bad_suites_are_one_line_errors(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    for text, match in (("n = 20\n", "needs n and at least one"), ("n = 20\nfoo = 1\n[[models]]\nlabel='a'\n"
                                                                  "generator='vae'\n", "unknown keys"),
                        ("n = 20\n[[models]]\nlabel='a'\n", "needs label and generator"), ("n = [", "cannot read")):
        bad.write_text(text)
        assert main(["run", "--config", str(bad), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and match in err
