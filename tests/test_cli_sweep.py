"""``genbench sweep`` (``genbench.cli.sweep``): the DDIM grid as a Table-1-shaped report, the guidance
sweep per scale, and bad lists refused (small random bundled weights); `genbench sweep ddim --model SPEC
--sampler ddim,dpmsolver++` and `genbench eval diffusers:PATH` end to end on a small diffusers
UNet2DModel (random weights: what is checked is the plumbing — the cells, their samplers and NFE, and
that a sweep cell is the same evaluation as `eval` of the same model, sampler and steps)."""

from __future__ import annotations

import importlib.util
import json
import math

import pytest

from genbench.cli import main

needs_diffusers = pytest.mark.skipif(importlib.util.find_spec("diffusers") is None, reason="diffusers not installed")

N = 20


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from genbench.training.train_diffusers_unet import train

    return train(tmp_path_factory.mktemp("dunet") / "model", steps=0)  # randomly initialised, saved


@needs_diffusers
def test_sweep_of_a_diffusers_model_with_two_samplers(model_dir, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", "ddim", "--model", f"diffusers:{model_dir}", "--sampler", "ddim,dpmsolver++",
                 "--steps", "2,3", "--eta", "0", "--no-sigma-hat", "-n", str(N), "--batch-size", str(N),
                 "--resamples", "2", "--out", str(out), "--quiet", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    cells = {(r["variant"], r["steps"]): r for r in rows}
    assert set(cells) == {("η = 0", 2), ("η = 0", 3), ("DPM-Solver++(2M)", 2), ("DPM-Solver++(2M)", 3)}
    assert {r["sampler"] for r in rows} == {"ddim", "dpmsolver++"}
    assert all(r["nfe"] == r["steps"] and r["fid"] > 0 for r in rows)
    report = (out / "sweep.md").read_text()
    assert f"diffusers:{model_dir}" in report and "DPM-Solver++(2M)" in report
    # a cell is the evaluation `eval` makes of the same model, sampler and steps
    assert main(["eval", f"diffusers:{model_dir}", "--sampler", "dpmsolver++", "--steps", "3", "-n", str(N),
                 "--batch-size", str(N), "--resamples", "2", "--metrics", "fid", "--quiet", "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    (model,) = record["models"].values()
    assert model["metrics"]["fid"]["value"] == pytest.approx(cells[("DPM-Solver++(2M)", 3)]["fid"], rel=1e-12)
    assert model["meta"]["nfe"] == 3 and model["meta"]["options"]["sampler"] == "dpmsolver++"


@needs_diffusers
def test_sweep_of_a_plain_network_with_its_schedule(tmp_path, monkeypatch, capsys):
    (tmp_path / "mynet.py").write_text(
        "import torch\n"
        "def net(x, t):\n"
        "    return 0.1 * x  # an ε-prediction stand-in\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["sweep", "ddim", "--model", "mynet:net", "--beta-schedule", "scaled_linear", "--steps", "2",
                 "--eta", "0", "--no-sigma-hat", "-n", str(N), "--batch-size", str(N), "--resamples", "2",
                 "--quiet", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["nfe"] == 2 and row["sampler"] == "ddim"
    assert main(["sweep", "ddim", "--beta-schedule", "linear", "--steps", "2", "-n", str(N)]) == 2
    assert "--beta-schedule" in capsys.readouterr().err
    assert main(["sweep", "ddim", "--sampler", "euler", "--steps", "2", "-n", str(N), "--quiet"]) == 2
    assert "ddim and dpmsolver++" in capsys.readouterr().err


@pytest.mark.usefixtures("one_thread", "random_bundled_assets")
def test_sweep_writes_a_table1_shaped_report(tmp_path, capsys):
    out = tmp_path / "sweep"
    rc = main(["sweep", "ddim", "--steps", "2,5", "--eta", "0,1", "-n", "20", "--batch-size", "10",
               "--resamples", "5", "--out", str(out), "--quiet", "--format", "json"])
    assert rc == 0
    cells = json.loads(capsys.readouterr().out)
    assert [(c["variant"], c["steps"]) for c in cells] == [("η = 0", 5), ("η = 0", 2), ("η = 1", 5), ("η = 1", 2),
                                                           ("σ̂", 5), ("σ̂", 2)]
    for c in cells:
        assert c["nfe"] == c["steps"] and c["ms_per_image"] > 0 and math.isfinite(c["fid"])
        if c["steps"] == 5:  # the reference of its row: the same samples
            assert c["ssim_to_ref"] == pytest.approx(1.0)
        else:
            assert c["ssim_to_ref"] < 1.0
    assert any(c["pareto"] for c in cells)
    md = (out / "sweep.md").read_text()
    assert "| variant | S=2 | S=5 |" in md and "Pareto front" in md
    assert (out / "sweep.png").stat().st_size > 0 and json.loads((out / "sweep.json").read_text())["provenance"]


@pytest.mark.usefixtures("one_thread", "random_bundled_assets")
def test_guidance_sweep_reports_quality_prompts_and_diversity_per_scale(tmp_path, capsys):
    out = tmp_path / "guidance"
    rc = main(["sweep", "guidance", "--scales", "1,3", "--steps", "3", "-n", "20", "--batch-size", "10",
               "--pairs", "6", "--resamples", "5", "--out", str(out), "--quiet", "--format", "json"])
    assert rc == 0
    cells = json.loads(capsys.readouterr().out)
    assert [c["guidance"] for c in cells] == [1.0, 3.0]
    assert [c["nfe"] for c in cells] == [3, 6]  # s = 1: conditional pass only; else a doubled batch
    for c in cells:
        for key in ("fid", "clip_score", "prompt_shape", "prompt_color", "same_prompt_ssim"):
            assert c[f"{key}_ci_low"] <= c[key] <= c[f"{key}_ci_high"], key
        assert 0 <= c["prompt_shape"] <= 1 and -1 <= c["same_prompt_ssim"] < 1 and c["images_per_s"] > 0
    md = (out / "guidance.md").read_text()
    assert "| s | FID | CLIP score | prompt shape | prompt colour |" in md and "same-prompt SSIM" in md
    assert (out / "guidance.png").stat().st_size > 0
    assert json.loads((out / "guidance.json").read_text())["provenance"]["generator"]["name"] == "ldm"


def test_guidance_sweep_needs_scales(capsys):
    assert main(["sweep", "guidance"]) == 2
    assert "--scales" in capsys.readouterr().err


def test_sweep_rejects_bad_lists(capsys):
    assert main(["sweep", "ddim", "--steps", "10,x"]) == 2
    assert "--steps takes comma-separated integers" in capsys.readouterr().err


def test_a_sweep_without_rows_is_a_one_line_error(capsys):
    assert main(["sweep", "ddim", "--eta", ",", "--no-sigma-hat", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no rows" in err[0]
