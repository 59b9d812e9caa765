import math

import numpy as np
import pytest
import torch
from vendi_score import vendi

from genbench.metrics.vendi import renyi_entropy, vendi_score

# vendi-score 0.0.3 touches the deprecated scipy.sparse.csr namespace on every score_K call.
pytestmark = pytest.mark.filterwarnings("ignore:Please import `csr_matrix`:DeprecationWarning")


def feats(seed, n, d, shift=0.0):
    return np.random.default_rng(seed).standard_normal((n, d)) + shift


@pytest.mark.parametrize("n,d", [(200, 16), (40, 64), (64, 64)])
def test_q1_equals_vendi_package(n, d):
    x = feats(0, n, d, shift=0.2)
    ours = vendi_score(x)
    assert ours == pytest.approx(vendi.score_X(x), rel=1e-8)
    assert ours == pytest.approx(vendi.score_dual(x), rel=1e-8)


@pytest.mark.parametrize("q", [0.5, 2.0, 3.0, "inf"])
def test_other_orders_equal_vendi_package(q):
    # score_X ignores q (always q=1), so orders ≠ 1 are compared with score_dual (d < n) and
    # score_K on the cosine kernel (d ≥ n), which both use the same eigenvalues as our path.
    tall = feats(1, 150, 12, shift=0.5)
    assert vendi_score(tall, q) == pytest.approx(vendi.score_dual(tall, q=q), rel=1e-8)
    wide = feats(2, 30, 50)
    wn = wide / np.linalg.norm(wide, axis=1, keepdims=True)
    assert vendi_score(wide, q) == pytest.approx(vendi.score_K(wn @ wn.T, q=q), rel=1e-8)


def test_inf_spelled_as_float_or_string():
    x = feats(3, 80, 10, shift=0.3)
    assert vendi_score(x, math.inf) == vendi_score(x, "inf")


@pytest.mark.parametrize("q", [0.5, 1.0, 2.0, "inf"])
@pytest.mark.parametrize("n,d", [(50, 8), (6, 20)])
def test_identical_rows_give_one(q, n, d):
    row = feats(4, 1, d, shift=1.0)
    assert vendi_score(np.repeat(row, n, axis=0), q) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("q", [0.5, 1.0, 2.0, "inf"])
def test_orthogonal_rows_give_n(q):
    n, d = 7, 12
    basis, _ = np.linalg.qr(feats(5, d, d))
    x = basis[:n] * np.arange(1, n + 1)[:, None]  # rescaled rows: cosine kernel ignores norms
    assert vendi_score(x, q) == pytest.approx(n, rel=1e-12)


def test_order_and_duplication_invariance():
    x = feats(6, 120, 10, shift=0.4)
    perm = np.random.default_rng(0).permutation(len(x))
    base = vendi_score(x)
    assert vendi_score(x[perm]) == pytest.approx(base, rel=1e-12)
    # the same set twice has the same kernel spectrum (K/n of the doubled set is K/n ⊗ 1/2)
    assert vendi_score(np.concatenate([x, x])) == pytest.approx(base, rel=1e-10)
    assert vendi_score(x * 3.7) == pytest.approx(base, rel=1e-12)
    assert vendi_score(torch.from_numpy(x).float()) == pytest.approx(base, rel=1e-5)


def test_dual_and_primal_forms_agree():
    """With d < n the score comes from the d × d dual matrix: the n × n kernel's spectrum gives the same."""
    for seed, (n, d) in enumerate([(60, 9), (40, 25), (20, 30)]):
        x = feats(10 + seed, n, d)
        xs = x / np.linalg.norm(x, axis=1, keepdims=True)
        primal = np.sort(np.linalg.eigvalsh(xs @ xs.T / n))[-min(n, d):]  # the nonzero part
        for q in (0.5, 1.0, 2.0, "inf"):
            assert vendi_score(x, q) == pytest.approx(math.exp(renyi_entropy(primal, q)), rel=1e-10)


def test_bounds_and_entropy_helper():
    x = feats(9, 300, 20)
    assert 1.0 <= vendi_score(x) <= 20.0
    p = np.array([0.5, 0.25, 0.25, 0.0])
    assert renyi_entropy(p, 1.0) == pytest.approx(1.5 * math.log(2))
    assert renyi_entropy(p, 2.0) == pytest.approx(-math.log(0.375))
    assert renyi_entropy(p, 0.0) == pytest.approx(math.log(3))
    with pytest.raises(ValueError):
        renyi_entropy(p, -1.0)
    with pytest.raises(ValueError, match="all feature rows are zero"):
        vendi_score(np.zeros((4, 3)))
