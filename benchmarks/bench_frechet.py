"""Fréchet distance at d = 2048 (Inception pool features), full rank: genbench vs pytorch-fid."""

import numpy as np
import pytest
from conftest import record

from genbench.metrics.frechet import FrechetReference, frechet_distance
from genbench.metrics.stats import FeatureStats

D = 2048
GROUP = "frechet-d2048"


@pytest.fixture(scope="module")
def two_stats():
    rng = np.random.default_rng(0)
    out = []
    for shift, scale in ((0.0, 1.0), (0.05, 1.2)):
        mix = rng.standard_normal((D, D)) / np.sqrt(D) + np.eye(D)
        feats = (rng.standard_normal((2 * D, D)) @ mix) * scale + shift
        out.append(FeatureStats.from_features(feats))
    return out


def test_pytorch_fid(benchmark, two_stats):
    from pytorch_fid.fid_score import calculate_frechet_distance

    a, b = two_stats
    value = benchmark.pedantic(calculate_frechet_distance, args=(a.mean, a.cov, b.mean, b.cov), rounds=3, iterations=1)
    record(benchmark, GROUP, "reference")
    assert value == pytest.approx(frechet_distance(a.mean, a.cov, b.mean, b.cov), rel=1e-6)


def test_genbench_function(benchmark, two_stats):
    a, b = two_stats
    benchmark.pedantic(frechet_distance, args=(a.mean, a.cov, b.mean, b.cov), rounds=5, iterations=1)
    record(benchmark, GROUP, "genbench frechet_distance")


def test_genbench_cached_reference(benchmark, two_stats):
    a, b = two_stats
    ref = FrechetReference(a.mean, a.cov)  # factorised once, as for bundled reference statistics
    benchmark.pedantic(ref.distance, args=(b.mean, b.cov), rounds=5, iterations=1)
    record(benchmark, GROUP, "genbench FrechetReference.distance (cached factor)")
