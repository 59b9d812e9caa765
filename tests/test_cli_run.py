"""``genbench run`` (``genbench.cli.run``): the trilemma report end to end (smoke sizes, small random
weights so the test checks the pipeline, not the trained models), its results.json shape, the presets,
and a model without weights skipped with the reason."""

from __future__ import annotations

import json
import math

import pytest

from genbench.cli import main
from genbench.harness.presets import PRESET_NAMES, get_preset

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.usefixtures("random_bundled_assets")
def test_run_writes_the_trilemma_report(tmp_path, capsys):
    out = tmp_path / "report"
    rc = main(["run", "--preset", "smoke", "--models", "vae,gan,ddim-10,ldm", "-n", "40", "--out", str(out),
               "--quiet"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "corners held" in printed and "ddim-10" in printed
    results = json.loads((out / "results.json").read_text())
    assert list(results["models"]) == ["vae", "gan", "ddim-10", "ldm"]
    for name, record in results["models"].items():
        fid = record["metrics"]["fid"]
        assert fid["n"] == 40 and fid["ci"][0] <= fid["ci"][1] and math.isfinite(fid["value"])
        assert record["throughput"]["images_per_s"] > 0
        assert record["throughput"]["nfe"] == record["meta"]["nfe"] == {"ddim-10": 10, "ldm": 100}.get(name, 1)
        assert (out / record["samples_grid"]).stat().st_size > 0
        assert ("samples_prompts" in record) == (name == "ldm")
        prompted = {"clip_score", "prompt_shape", "prompt_color"} & set(record["metrics"])
        assert prompted == (set() if name != "ldm" else {"clip_score", "prompt_shape", "prompt_color"})
    prompts = (out / results["models"]["ldm"]["samples_prompts"]).read_text().splitlines()
    assert len(prompts) == 5 and prompts[0].count(" | ") == 7  # 40 samples: 5 rows of 8 prompts
    ldm = results["models"]["ldm"]["metrics"]
    assert 0 <= ldm["prompt_shape"]["value"] <= 1 and ldm["clip_score"]["n"] == 40
    prov = results["provenance"]
    assert prov["complete"] is True and prov["extractor"] == "shapes-net" and len(prov["weights_sha256"]) == 64
    assert prov["preset"]["name"] == "smoke" and prov["config"]["n"] == 40
    report = (out / "report.md").read_text()
    assert "| model | Quality |" in report and "![trilemma](trilemma.png)" in report
    assert "against the reference `shapes32:train (bundled statistics)`" in report
    assert (out / "trilemma.png").stat().st_size > 0 and (out / "results.csv").read_text().count("\n") > 10


def test_unknown_preset_and_model_are_clear_errors(capsys):
    with pytest.raises(SystemExit) as exc:  # the choices come from the presets: argparse's exit 2
        main(["run", "--preset", "huge"])
    assert exc.value.code == 2 and "invalid choice: 'huge'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        get_preset("huge")
    with pytest.raises(ValueError, match="no model nope"):
        get_preset("smoke").with_models(["vae", "nope"])


def test_every_preset_evaluates_all_models_on_the_same_n():
    for preset in map(get_preset, PRESET_NAMES):
        assert {m.label for m in preset.models} >= {"vae", "gan", "ddpm-1000", "ddim-50"}
        assert preset.n >= 20 and preset.batch_size >= 1


def test_run_skips_a_model_without_weights_and_says_so(random_bundled_assets, tmp_path, capsys):
    (random_bundled_assets / "reference_models" / "gan-generator.safetensors").unlink()
    out = tmp_path / "partial"
    assert main(["run", "--preset", "smoke", "--models", "vae,gan", "-n", "20", "--out", str(out), "--quiet"]) == 0
    assert "gan skipped: bundled model 'gan-generator' not found" in capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert list(results["models"]) == ["vae"] and "gan" in results["skipped"]
    assert "**gan**: skipped" in (out / "report.md").read_text()
