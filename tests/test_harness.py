"""Generators as inputs (npz, folder, callable) and the evaluation runner on shapes32."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from genbench.cli import main
from genbench.data.disturb import gaussian_noise
from genbench.data.shapes32 import shapes32
from genbench.generators.sources import CallableGenerator, FolderSamples, NpzSamples, load_generator
from genbench.harness.runner import EvalConfig, evaluate

N = 300


def clean_test_images(seed, start, n):
    """A 'generator' that returns shapes32 test images (seed-independent)."""
    return shapes32("test", start, n).images


def noisy_test_split(seed, start, n):
    gen = torch.Generator().manual_seed(seed * 1_000_003 + start)  # per-batch seeding is enough here
    return gaussian_noise(shapes32("test", start, n).images, 0.5, gen)


def test_npz_nhwc_and_nchw(tmp_path):
    images = shapes32("test", 0, 20).images
    np.savez(tmp_path / "nhwc.npz", arr_0=images.permute(0, 2, 3, 1).numpy())
    np.savez(tmp_path / "nchw.npz", samples=images.numpy())
    for path in ("nhwc.npz", "nchw.npz"):
        gen = load_generator(str(tmp_path / path))
        assert isinstance(gen, NpzSamples) and torch.equal(gen.sample(20), images)
    with pytest.raises(ValueError, match="holds 20 samples"):
        gen.sample(21)
    np.savez(tmp_path / "two.npz", a=images.numpy(), b=images.numpy())
    with pytest.raises(ValueError, match="say which"):
        NpzSamples(tmp_path / "two.npz")


def test_folder_of_images(tmp_path):
    images = shapes32("test", 0, 12).images
    for i, im in enumerate(images):
        Image.fromarray(im.permute(1, 2, 0).numpy()).save(tmp_path / f"{i:03d}.png")
    gen = load_generator(str(tmp_path))
    assert isinstance(gen, FolderSamples) and torch.equal(gen.sample(12), images)
    Image.new("RGB", (16, 16)).save(tmp_path / "odd.png")
    with pytest.raises(ValueError, match="different sizes"):
        FolderSamples(tmp_path)


def test_callable_spec_and_bad_specs(tmp_path, monkeypatch):
    (tmp_path / "mygen.py").write_text("import torch\n"
                                       "def sample(seed, start, n):\n"
                                       "    g = torch.Generator().manual_seed(seed)\n"
                                       "    return torch.rand(start + n, 3, 8, 8, generator=g)[start:]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    gen = load_generator("mygen:sample")
    assert isinstance(gen, CallableGenerator)
    assert gen.sample(5, seed=1).dtype == torch.uint8
    whole = gen.sample(10, seed=1)
    assert torch.equal(torch.cat(list(gen.batches(10, seed=1, batch_size=3))), whole)
    with pytest.raises(ValueError, match="unknown generator"):
        load_generator("no-such-thing")
    with pytest.raises(ValueError, match="cannot import"):
        load_generator("no_such_module:fn")
    with pytest.raises(ValueError, match=r"\(seed, start, n\)"):
        CallableGenerator(lambda n: None, "bad")


@pytest.fixture(scope="module")
def clean_results():
    return evaluate(CallableGenerator(clean_test_images, "clean"), config=EvalConfig(n=N, batch_size=100, resamples=5),
                    progress=False)


def test_metrics_have_values_intervals_and_provenance(clean_results):
    metrics = clean_results["metrics"]
    for key in ("fid", "kid", "precision", "recall", "density", "coverage", "is", "mode_coverage", "mode_kl",
                "recognisable", "pairwise_ssim"):
        m = metrics[key]
        assert m["n"] > 0 and len(m["ci"]) == 2 and m["ci"][0] <= m["value"] <= m["ci"][1], (key, m)
    prov = clean_results["provenance"]
    assert prov["extractor"] == "shapes-net" and len(prov["weights_sha256"]) == 64
    assert prov["reference"]["n"] == 50_000 and prov["config"]["n"] == N


def test_batch_size_does_not_change_metrics(clean_results):
    other = evaluate(CallableGenerator(clean_test_images, "clean"), config=EvalConfig(n=N, batch_size=64, resamples=5),
                     progress=False)
    for key, m in clean_results["metrics"].items():
        assert other["metrics"][key]["value"] == pytest.approx(m["value"], rel=1e-9, abs=1e-12), key


def test_degraded_samples_score_worse_beyond_the_intervals(clean_results):
    noisy = evaluate(CallableGenerator(noisy_test_split, "noisy"), config=EvalConfig(n=N, batch_size=100, resamples=5),
                     progress=False)["metrics"]
    clean = clean_results["metrics"]
    assert noisy["fid"]["ci"][0] > clean["fid"]["ci"][1]
    assert noisy["precision"]["value"] < clean["precision"]["value"]


def test_eval_command_writes_results_json(tmp_path, capsys):
    np.savez(tmp_path / "samples.npz", arr_0=shapes32("test", 0, 200).images.numpy())
    out = tmp_path / "report"
    assert main(["eval", str(tmp_path / "samples.npz"), "-n", "200", "--resamples", "3", "--out", str(out),
                 "--quiet", "--format", "md"]) == 0
    assert "| model | metric |" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    fid = results["models"]["npz:samples.npz"]["metrics"]["fid"]
    assert set(fid) >= {"value", "ci", "n"} and fid["n"] == 200
    assert results["provenance"]["extractor"] == "shapes-net"
    # the same files as `genbench run` writes: eval is a one-model suite
    assert sorted(p.name for p in out.iterdir()) == ["report.md", "results.csv", "results.json",
                                                     "samples_npz_samples.npz.png", "trilemma.png"]
    assert results["models"]["npz:samples.npz"]["samples_grid"] == "samples_npz_samples.npz.png"


def test_caption_conditioned_generators_get_prompt_metrics():
    """A "generator" returning the test images with their own captions follows every prompt; with
    the captions shifted by one it follows few, and its CLIP score drops."""
    gen = CallableGenerator(lambda seed, start, n: shapes32("test", start, n).images, "captioned")
    cfg = EvalConfig(n=60, batch_size=25, resamples=5, kid_subset_size=60)
    gen.captions_for = lambda start, n: shapes32("test", start, n).captions
    matched = evaluate(gen, config=cfg, progress=False)["metrics"]
    gen.captions_for = lambda start, n: shapes32("test", start + 1, n).captions
    shifted = evaluate(gen, config=cfg, progress=False)["metrics"]
    assert matched["prompt_shape"]["value"] == 1.0 and matched["prompt_color"]["value"] == 1.0
    assert shifted["prompt_shape"]["value"] < 0.4 and shifted["prompt_color"]["value"] < 0.4
    assert matched["clip_score"]["value"] > shifted["clip_score"]["value"] + 30
    assert matched["clip_score"]["n"] == 60 and matched["clip_score"]["model"] == "shapes-clip"
    assert matched["fid"]["value"] == shifted["fid"]["value"]  # the images are the same


def test_timed_generator_reports_a_median_after_a_warm_up():
    from genbench.harness.throughput import TimedGenerator

    gen = TimedGenerator(CallableGenerator(lambda seed, start, n: shapes32("test", start, n).images, "real", nfe=1),
                         keep_first=5)
    first = gen.sample_range(0, 0, 4)
    gen.sample_range(0, 4, 4)
    assert torch.equal(gen.first, torch.cat([first, shapes32("test", 4, 1).images]))
    tp = gen.throughput(min_repeats=3)  # two full-size calls were too few: topped up to 1 warm-up + 3
    assert tp["warmup"] == 1 and tp["repeats"] == 3 and tp["batch_size"] == 4 and tp["images_per_s"] > 0
    assert len(gen.calls) == 4
    tp = gen.throughput(min_repeats=3, min_seconds=0.05)  # cheap calls: more of them, until 50 ms are timed
    assert tp["timed_seconds"] >= 0.05 and tp["repeats"] == len(gen.calls) - 1 > 3
    assert sum(s for _, s in gen.calls[1:-1]) < 0.05  # and not one call more than that took


def test_interval_ends_stay_inside_a_metrics_range():
    from genbench.harness.runner import _metric
    from genbench.metrics.bootstrap import BootstrapResult

    res = BootstrapResult(value=0.96, ci=(0.93, 1.005), confidence=0.95, resamples=50, seed=0,
                          samples=np.array([0.95, 0.97]), method="subsample")
    assert _metric(0.96, res, 100, "mode_coverage")["ci"] == [0.93, 1.0]
    assert _metric(0.96, res, 100, "kid")["ci"] == [0.93, 1.005]  # KID is unbiased: it may be negative or any size
