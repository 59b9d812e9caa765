"""The evaluation runner (``genbench.harness.runner``) on shapes32: every metric with its value, interval
and provenance; the batch size changes nothing; degraded samples score worse; caption-conditioned
generators get the prompt metrics; intervals stay inside a metric's range."""

import numpy as np
import pytest
import torch

from genbench.data.disturb import gaussian_noise
from genbench.data.shapes32 import shapes32
from genbench.generators.user import CallableGenerator
from genbench.harness.runner import EvalConfig, evaluate

N = 300


def clean_test_images(seed, start, n):
    """A 'generator' that returns shapes32 test images (seed-independent)."""
    return shapes32("test", start, n).images


def noisy_test_split(seed, start, n):
    gen = torch.Generator().manual_seed(seed * 1_000_003 + start)  # per-batch seeding is enough here
    return gaussian_noise(shapes32("test", start, n).images, 0.5, gen)


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


def test_interval_ends_stay_inside_a_metrics_range():
    from genbench.harness.runner import _metric
    from genbench.metrics.bootstrap import BootstrapResult

    res = BootstrapResult(value=0.96, ci=(0.93, 1.005), confidence=0.95, resamples=50, seed=0,
                          samples=np.array([0.95, 0.97]), method="subsample")
    assert _metric(0.96, res, 100, "mode_coverage")["ci"] == [0.93, 1.0]
    assert _metric(0.96, res, 100, "kid")["ci"] == [0.93, 1.005]  # KID is unbiased: it may be negative or any size
