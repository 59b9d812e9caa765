import numpy as np
import pytest
import torch
from torch_fidelity.metric_kid import kid_features_to_metric
from torchmetrics.image.kid import poly_mmd

from genbench.metrics.kid import kid, polynomial_mmd2


def feats(seed, n, d, shift=0.0):
    return np.random.default_rng(seed).standard_normal((n, d)) + shift


def test_equals_torch_fidelity_on_identical_subsets():
    real, fake = feats(0, 300, 32), feats(1, 250, 32, shift=0.3)
    ours = kid(real, fake, subsets=20, subset_size=100, seed=123)
    ref = kid_features_to_metric(torch.from_numpy(real), torch.from_numpy(fake), kid_subsets=20,
                                 kid_subset_size=100, kid_degree=3, kid_gamma=None, kid_coef0=1,
                                 rng_seed=123, verbose=False)
    assert ours[0] == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-9)
    assert ours[1] == pytest.approx(ref["kernel_inception_distance_std"], rel=1e-9)


def test_single_subset_equals_torchmetrics_poly_mmd():
    x, y = torch.from_numpy(feats(2, 64, 16)), torch.from_numpy(feats(3, 64, 16, shift=0.5))
    assert polynomial_mmd2(x, y) == pytest.approx(poly_mmd(x, y, degree=3, gamma=None, coef=1.0).item(), rel=1e-9)


def test_unbiased_near_zero_for_same_distribution():
    rng = np.random.default_rng(4)
    mean, _ = kid(rng.standard_normal((2000, 8)), rng.standard_normal((2000, 8)), subsets=20, subset_size=500)
    shifted, _ = kid(rng.standard_normal((2000, 8)), rng.standard_normal((2000, 8)) + 0.5, subsets=20, subset_size=500)
    assert abs(mean) < 0.05 * shifted


def test_subset_size_clamped_with_warning():
    with pytest.warns(UserWarning, match="clamped to 50"):
        kid(feats(5, 80, 4), feats(6, 50, 4), subsets=3, subset_size=1000)


def test_bad_inputs():
    with pytest.raises(ValueError, match="dimension mismatch"):
        kid(feats(0, 10, 4), feats(1, 10, 5))
    with pytest.raises(ValueError, match="at least 2 samples"):
        kid(feats(0, 1, 4), feats(1, 10, 4))
