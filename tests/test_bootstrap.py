import numpy as np
import pytest
import torch

from genbench.metrics.bootstrap import bootstrap_ci
from genbench.metrics.frechet import FrechetReference
from genbench.metrics.prdc import precision_recall
from genbench.metrics.stats import FeatureStats


def test_mean_ci_covers_truth_and_matches_normal_theory():
    x = np.random.default_rng(0).standard_normal(2000) + 3.0
    res = bootstrap_ci(lambda a: a.mean(), x, resamples=500, seed=1)
    assert res.value == pytest.approx(x.mean())
    assert res.ci[0] < res.value < res.ci[1]
    se = x.std() / np.sqrt(len(x))
    assert res.ci[1] - res.ci[0] == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert res.std == pytest.approx(se, rel=0.15)


def test_seeded_and_torch_inputs():
    x = torch.randn(100, 3, generator=torch.Generator().manual_seed(0))
    a = bootstrap_ci(lambda t: float(t.mean()), x, resamples=50, seed=3)
    b = bootstrap_ci(lambda t: float(t.mean()), x, resamples=50, seed=3)
    assert a.ci == b.ci and np.array_equal(a.samples, b.samples)
    assert a.ci != bootstrap_ci(lambda t: float(t.mean()), x, resamples=50, seed=4).ci


def test_fixed_arrays_are_not_resampled():
    rng = np.random.default_rng(2)
    real, fake = rng.standard_normal((300, 4)), rng.standard_normal((200, 4)) + 0.5
    ref = FrechetReference.from_stats(FeatureStats.from_features(real))

    def fid(f):
        s = FeatureStats.from_features(f)
        return ref.distance(s.mean, s.cov)

    res = bootstrap_ci(fid, fake, resamples=50, seed=0, method="subsample")
    assert res.ci[0] < res.value < res.ci[1]
    seen = []
    bootstrap_ci(lambda r, f: seen.append(r) or precision_recall(r, f)["precision"], real, fake,
                 resamples=3, seed=0, resample=[1])
    assert all(s is real for s in seen)


def test_bad_arguments():
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_ci(np.mean, np.ones(3), resamples=1)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(np.mean, np.ones(3), confidence=95)
    with pytest.raises(ValueError, match="method"):
        bootstrap_ci(np.mean, np.ones(3), method="bca")


def test_half_sampling_matches_the_standard_error_of_a_mean_and_contains_the_estimate():
    x = np.random.default_rng(5).standard_normal(4000) * 2.0
    res = bootstrap_ci(lambda a: a.mean(), x, resamples=400, seed=0, method="subsample")
    se = x.std() / np.sqrt(len(x))
    assert res.std == pytest.approx(se, rel=0.15)
    assert res.ci[1] - res.ci[0] == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert res.ci[0] < res.value < res.ci[1] and res.method == "subsample"


def test_half_sampling_interval_contains_a_knn_metric_that_resampling_biases():
    rng = np.random.default_rng(6)
    real, fake = rng.standard_normal((600, 8)), rng.standard_normal((500, 8))
    recall = lambda f: precision_recall(real, f)["recall"]  # noqa: E731
    pct = bootstrap_ci(recall, fake, resamples=30, seed=0)
    half = bootstrap_ci(recall, fake, resamples=30, seed=0, method="subsample")
    assert pct.ci[1] < pct.value  # duplicates collapse fake k-NN radii: the percentile interval misses
    assert half.ci[0] < half.value < half.ci[1]
