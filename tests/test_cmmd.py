import math

import numpy as np
import pytest
import torch

from genbench.metrics.cmmd import cmmd, cmmd_from_means, kernel_mean


def reference_mmd(x, y, sigma=10.0, scale=1000.0):
    """google-research cmmd/distance.py ``mmd``, transcribed from JAX to torch float64."""
    x, y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    x_sqnorms = torch.diag(x @ x.T)
    y_sqnorms = torch.diag(y @ y.T)
    gamma = 1 / (2 * sigma**2)
    k_xx = torch.mean(torch.exp(-gamma * (-2 * (x @ x.T) + x_sqnorms[:, None] + x_sqnorms[None, :])))
    k_xy = torch.mean(torch.exp(-gamma * (-2 * (x @ y.T) + x_sqnorms[:, None] + y_sqnorms[None, :])))
    k_yy = torch.mean(torch.exp(-gamma * (-2 * (y @ y.T) + y_sqnorms[:, None] + y_sqnorms[None, :])))
    return float(scale * (k_xx + k_yy - 2 * k_xy))


def unit_rows(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def data(seed, n, d, shift=0.0, scale=1.0):
    return scale * np.random.default_rng(seed).standard_normal((n, d)) + shift


@pytest.mark.parametrize("n,m,d,scale,shift,sigma", [
    (300, 300, 32, 3.0, 0.5, 10.0),   # raw features, equal n
    (257, 190, 64, 1.0, 0.0, 10.0),   # unequal n
    (200, 333, 16, 5.0, 2.0, 4.0),    # other bandwidth
])
def test_equals_reference_formula(n, m, d, scale, shift, sigma):
    x, y = data(0, n, d, scale=scale), data(1, m, d, shift=shift, scale=scale)
    ref = reference_mmd(x, y, sigma=sigma)
    assert ref > 0
    assert cmmd(x, y, sigma=sigma, chunk=64) == pytest.approx(ref, rel=1e-10)


def test_equals_reference_on_unit_norm_embeddings():
    # CLIP embeddings are unit norm: kernel values ≈ 0.99, strong cancellation in the difference.
    x = unit_rows(data(2, 400, 48))
    y = unit_rows(data(3, 350, 48, shift=0.3))
    ref = reference_mmd(x, y)
    assert cmmd(x, y, chunk=100) == pytest.approx(ref, rel=1e-10)


def test_chunk_size_invariance():
    x, y = data(4, 150, 8, scale=4.0), data(5, 97, 8, scale=4.0, shift=1.0)
    values = [cmmd(x, y, chunk=c) for c in (1, 7, 64, 150, 4096)]
    assert max(values) - min(values) <= 1e-12 * abs(values[0])


def test_identical_sets_give_exactly_zero():
    x = data(6, 120, 10, scale=5.0)
    assert cmmd(x, x) == 0.0
    assert cmmd(x, x.copy(), chunk=13) == 0.0


@pytest.mark.parametrize("sigma,scale", [(10.0, 1000.0), (1.5, 1.0)])
def test_two_single_points_closed_form(sigma, scale):
    a, b = np.array([[0.3, -1.2, 2.0]]), np.array([[1.0, 0.5, -0.7]])
    expected = scale * (2 - 2 * math.exp(-float(((a - b) ** 2).sum()) / (2 * sigma**2)))
    assert cmmd(a, b, sigma=sigma, scale=scale) == pytest.approx(expected, rel=1e-12)


def test_symmetric():
    x, y = data(7, 90, 12, scale=3.0), data(8, 140, 12, scale=2.0, shift=0.5)
    assert cmmd(x, y) == pytest.approx(cmmd(y, x), rel=1e-12)


def test_cached_self_term_gives_the_same_value():
    x, y = data(9, 100, 6, scale=4.0), data(10, 80, 6, scale=4.0, shift=0.7)
    kyy = kernel_mean(y, y, chunk=32)
    kxx = kernel_mean(x, x)
    assert cmmd(x, y, kyy=kyy) == pytest.approx(cmmd(x, y), rel=1e-13)
    assert cmmd(x, y, kxx=kxx, kyy=kyy) == pytest.approx(cmmd(x, y), rel=1e-13)
    assert cmmd_from_means(kxx, kyy, kernel_mean(x, y)) == pytest.approx(cmmd(x, y), rel=1e-13)


def test_accepts_torch_float32():
    x, y = data(11, 50, 4, scale=4.0), data(12, 60, 4, scale=4.0)
    xt, yt = torch.from_numpy(x).float(), torch.from_numpy(y).float()
    assert cmmd(xt, yt) == pytest.approx(reference_mmd(xt.double(), yt.double()), rel=1e-10)


def test_bad_inputs():
    with pytest.raises(ValueError, match="dimension mismatch"):
        cmmd(np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="sigma"):
        cmmd(np.zeros((3, 2)), np.zeros((3, 2)), sigma=0.0)
    with pytest.raises(ValueError, match="at least one row"):
        cmmd(np.zeros((0, 2)), np.zeros((3, 2)))
