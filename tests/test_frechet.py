import numpy as np
import pytest
from pytorch_fid.fid_score import calculate_frechet_distance

from genbench.metrics.frechet import FrechetReference, frechet_distance, frechet_distance_stats, psd_factor
from genbench.metrics.stats import FeatureStats, ProvenanceMismatch


def random_stats(rng, n, d, scale=1.0, shift=0.0, prov=None):
    mix = rng.standard_normal((d, d)) / np.sqrt(d) + np.eye(d)
    return FeatureStats.from_features(rng.standard_normal((n, d)) @ mix * scale + shift, prov)


@pytest.mark.parametrize("d", [16, 256])
def test_agrees_with_pytorch_fid_full_rank(d):
    rng = np.random.default_rng(d)
    a, b = random_stats(rng, 4 * d, d), random_stats(rng, 3 * d, d, scale=1.3, shift=0.1)
    ours = frechet_distance(a.mean, a.cov, b.mean, b.cov)
    ref = calculate_frechet_distance(a.mean, a.cov, b.mean, b.cov)
    assert isinstance(ours, float)
    assert ours == pytest.approx(ref, rel=1e-6)


def test_closed_form_gaussians():
    # Diagonal covariances: FD = ‖μ1−μ2‖² + Σ (√a_i − √b_i)²
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = 5.0 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0.0
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)
    assert frechet_distance(mu1, np.diag(a), mu1, np.diag(a)) == pytest.approx(0.0, abs=1e-12)


def test_symmetric_in_its_arguments():
    rng = np.random.default_rng(7)
    a, b = random_stats(rng, 100, 20), random_stats(rng, 90, 20, scale=0.7)
    assert frechet_distance(a.mean, a.cov, b.mean, b.cov) == pytest.approx(
        frechet_distance(b.mean, b.cov, a.mean, a.cov), rel=1e-10)


def test_rank_deficient_is_finite_and_real():
    rng = np.random.default_rng(8)
    d = 64
    a = FeatureStats.from_features(rng.standard_normal((10, d)))  # rank 9 < d
    b = FeatureStats.from_features(rng.standard_normal((12, d)) + 0.5)
    sing = np.zeros((d, d))  # a covariance of rank 0 is legal too
    for val in (frechet_distance(a.mean, a.cov, b.mean, b.cov), frechet_distance(a.mean, sing, b.mean, b.cov),
                frechet_distance_stats(a, b)):
        assert isinstance(val, float) and np.isfinite(val)


def test_low_rank_form_matches_dense_form():
    rng = np.random.default_rng(9)
    d = 40
    small = [FeatureStats.from_features(rng.standard_normal((n, d)) * s) for n, s in ((15, 1.0), (25, 1.5))]
    big = FeatureStats.from_features(rng.standard_normal((400, d)))
    assert small[0].rows is not None and big.rows is None
    # Exact reference for rank-deficient σ: eigendecomposition of σ1 then Σ √λ(F1ᵀ σ2 F1)
    def dense(p, q):
        f = psd_factor(p.cov)
        lam = np.clip(np.linalg.eigvalsh(f.T @ q.cov @ f), 0, None)
        return np.sum((p.mean - q.mean) ** 2) + np.trace(p.cov) + np.trace(q.cov) - 2 * np.sqrt(lam).sum()
    for p, q in ((small[0], small[1]), (small[0], big), (big, small[1])):
        # the dense route takes √ of rounding-level eigenvalues (~1e-8 each), hence the looser bar
        assert frechet_distance_stats(p, q) == pytest.approx(dense(p, q), rel=1e-7)
        assert frechet_distance_stats(p, q) == pytest.approx(frechet_distance_stats(q, p), rel=1e-9)


def test_low_rank_form_exact_on_a_rotated_subspace():
    # Rows in an r-dim subspace of R^d, rotated: FD equals the full-rank r-dim FD (rotation invariance).
    rng = np.random.default_rng(12)
    d, r = 48, 6
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    low = [rng.standard_normal((n, r)) * s + m for n, s, m in ((20, 1.0, 0.0), (30, 1.7, 0.4))]
    lifted = [FeatureStats.from_features(np.pad(x, ((0, 0), (0, d - r))) @ q.T) for x in low]
    small = [FeatureStats.from_features(x) for x in low]
    expected = calculate_frechet_distance(small[0].mean, small[0].cov, small[1].mean, small[1].cov)
    assert lifted[0].rows is not None
    assert frechet_distance_stats(*lifted) == pytest.approx(expected, rel=1e-9)


def test_cached_reference_equals_function():
    rng = np.random.default_rng(10)
    ref_stats = random_stats(rng, 500, 32)
    ref = FrechetReference.from_stats(ref_stats)
    for scale in (0.5, 1.0, 2.0):
        s = random_stats(rng, 300, 32, scale=scale)
        assert ref.distance(s.mean, s.cov) == pytest.approx(
            frechet_distance(ref_stats.mean, ref_stats.cov, s.mean, s.cov), rel=1e-12)


def test_bad_inputs():
    with pytest.raises(ValueError, match="dimension mismatch: 3 vs 4"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match=r"sigma \(d, d\)"):
        frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="non-finite"):
        frechet_distance(np.array([np.nan, 0, 0]), np.eye(3), np.zeros(3), np.eye(3))
    rng = np.random.default_rng(11)
    a = random_stats(rng, 50, 4, prov={"extractor": "shapes-net", "weights_sha256": "1" * 64})
    b = random_stats(rng, 50, 4, prov={"extractor": "inception-v3-fid", "weights_sha256": "2" * 64})
    with pytest.raises(ProvenanceMismatch, match=r"(?s)shapes-net.*inception-v3-fid"):
        frechet_distance_stats(a, b)
