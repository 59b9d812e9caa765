"""`genbench sweep ddim --model SPEC --sampler ddim,dpmsolver++` and `genbench eval diffusers:PATH`
end to end through the CLI on a small diffusers UNet2DModel (random weights: what is checked is the
plumbing — the cells, their samplers and NFE, and that a sweep cell is the same evaluation as
`eval` of the same model, sampler and steps)."""

from __future__ import annotations

import json

import pytest

from genbench.cli import main

pytest.importorskip("diffusers")

N = 20


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from genbench.training.train_diffusers_unet import train

    return train(tmp_path_factory.mktemp("dunet") / "model", steps=0)  # randomly initialised, saved


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
