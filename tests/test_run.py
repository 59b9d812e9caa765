"""``genbench run``: the trilemma report end to end (smoke sizes, small random weights so the test
checks the pipeline, not the trained models), its results.json shape, the corner rule and the
Pareto front."""

from __future__ import annotations

import json
import math

import pytest
import torch

from genbench.cli import main
from genbench.harness.presets import PRESET_NAMES, get_preset
from genbench.reports.plots import pareto_front
from genbench.reports.trilemma import corners

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


def _record(fid, coverage, modes, ips, recall=0.5):
    return {"metrics": {"fid": {"value": fid}, "coverage": {"value": coverage}, "mode_coverage": {"value": modes},
                        "recall": {"value": recall}}, "throughput": {"images_per_s": ips}}


def test_corner_rule_on_a_textbook_trilemma():
    results = {"models": {"vae": _record(40.0, 0.8, 1.0, 5000.0), "gan": _record(8.0, 0.3, 0.7, 8000.0),
                          "ddpm": _record(5.0, 0.85, 1.0, 2.0), "ddim": _record(7.0, 0.8, 0.99, 100.0)}}
    assert corners(results) == {"vae": ["diversity", "speed"], "gan": ["quality", "speed"],
                                "ddpm": ["quality", "diversity"], "ddim": ["quality", "diversity"]}
    # off-manifold samples with a high recall do not buy the diversity corner: coverage decides
    results["models"]["junk"] = _record(500.0, 0.01, 0.5, 100.0, recall=0.99)
    assert corners(results)["junk"] == []


def test_conditioned_models_are_judged_against_the_unconditional_bars():
    results = {"models": {"gan": _record(10.0, 0.3, 0.7, 800.0), "ddpm": _record(9.0, 0.8, 1.0, 1.0),
                          "ddim-10": _record(11.0, 0.7, 0.9, 40.0)}}
    alone = corners(results)
    assert alone == {"gan": ["quality", "speed"], "ddpm": ["quality", "diversity"], "ddim-10": ["quality"]}
    # a caption-conditioned model far better on FID and coverage sets no bar, and is judged by them
    results["models"]["ldm"] = _record(3.0, 2.0, 1.0, 5.0) | {"meta": {"conditioning": "caption"}}
    assert corners(results) == alone | {"ldm": ["quality", "diversity"]}
    # were it unconditional, it would take quality and diversity from every other row
    results["models"]["ldm"]["meta"]["conditioning"] = "none"
    assert corners(results) == {"gan": ["speed"], "ddpm": [], "ddim-10": [], "ldm": ["quality", "diversity"]}


def test_speed_corner_lies_one_order_of_magnitude_from_the_fastest():
    results = {"models": {"a": _record(1.0, 1.0, 1.0, 1000.0), "b": _record(1.0, 1.0, 1.0, 100.5),
                          "c": _record(1.0, 1.0, 1.0, 99.5)}}
    assert [("speed" in v) for v in corners(results).values()] == [True, True, False]


def test_pareto_front_minimises_both_coordinates():
    pts = [(1.0, 10.0), (2.0, 5.0), (3.0, 6.0), (4.0, 1.0), (0.5, 20.0), (2.0, 4.0)]
    assert pareto_front(pts) == [4, 0, 5, 3]


@pytest.mark.usefixtures("random_bundled_assets")
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


@pytest.mark.usefixtures("random_bundled_assets")
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


def test_same_prompt_ssim_is_one_when_the_noise_is_ignored():
    """A generator whose samples depend on the caption alone has no diversity per prompt: SSIM 1."""
    from genbench.harness.guidance_sweep import GuidanceSweepConfig, same_prompt_ssim

    class CaptionOnly:
        def sample_range(self, seed, start, n):
            return torch.stack([torch.full((3, 32, 32), 7 * (start + i) % 256, dtype=torch.uint8)
                                for i in range(n)])

    gen = CaptionOnly()
    cfg = GuidanceSweepConfig(n=10, pairs=8, batch_size=3, resamples=5)
    result = same_prompt_ssim(gen, gen.sample_range(0, 0, 8), cfg)
    assert result["same_prompt_ssim"] == pytest.approx(1.0)
    assert math.isnan(same_prompt_ssim(gen, None, cfg)["same_prompt_ssim"])


def test_guidance_sweep_needs_scales(capsys):
    assert main(["sweep", "guidance"]) == 2
    assert "--scales" in capsys.readouterr().err


def test_sweep_rejects_bad_lists(capsys):
    assert main(["sweep", "ddim", "--steps", "10,x"]) == 2
    assert "--steps takes comma-separated integers" in capsys.readouterr().err


def _results(models, extractor="shapes-net", sha="a" * 64):
    return {"models": {name: {"metrics": {"fid": {"value": v, "ci": [lo, hi], "n": n},
                                          "recall": {"value": 0.5, "ci": [0.4, 0.6], "n": n}},
                              "throughput": {"images_per_s": 10.0}} for name, (v, lo, hi, n) in models.items()},
            "provenance": {"extractor": extractor, "weights_sha256": sha}}


def test_compare_ranks_and_marks_ties(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_results({"m1": (10.0, 9.0, 11.0, 500), "m2": (3.0, 2.5, 3.5, 500)})))
    b.write_text(json.dumps(_results({"m3": (10.5, 9.8, 11.2, 500), "m4": (30.0, 28.0, 32.0, 500)})))
    assert main(["compare", str(a), str(b), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [(r["rank"], r["shared_rank"], r["model"]) for r in rows] == [(1, False, "m2"), (2, True, "m1"),
                                                                         (2, True, "m3"), (4, False, "m4")]
    assert main(["compare", str(a), str(b), "--metric", "recall"]) == 0  # all tied
    assert capsys.readouterr().out.count("=1") == 4


def test_compare_refuses_different_feature_spaces_and_flags_different_n(tmp_path, capsys):
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    a.write_text(json.dumps(_results({"m1": (10.0, 9.0, 11.0, 500)})))
    b.write_text(json.dumps(_results({"m2": (10.0, 9.0, 11.0, 500)}, extractor="inception-v3-fid")))
    c.write_text(json.dumps(_results({"m3": (10.0, 9.0, 11.0, 2000)})))
    assert main(["compare", str(a), str(b)]) == 2
    assert "different feature spaces" in capsys.readouterr().err
    assert main(["compare", str(a), str(c)]) == 0
    assert "sample counts differ for fid, recall (n = 500: m1; n = 2000: m3)" in capsys.readouterr().err


def test_run_skips_a_model_without_weights_and_says_so(random_bundled_assets, tmp_path, capsys):
    (random_bundled_assets / "reference_models" / "gan-generator.safetensors").unlink()
    out = tmp_path / "partial"
    assert main(["run", "--preset", "smoke", "--models", "vae,gan", "-n", "20", "--out", str(out), "--quiet"]) == 0
    assert "gan skipped: bundled model 'gan-generator' not found" in capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert list(results["models"]) == ["vae"] and "gan" in results["skipped"]
    assert "**gan**: skipped" in (out / "report.md").read_text()
