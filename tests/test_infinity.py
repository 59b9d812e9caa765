import math

import numpy as np
import pytest
from pytorch_fid.fid_score import calculate_frechet_distance
from sklearn.linear_model import LinearRegression

from genbench.metrics import infinity
from genbench.metrics.frechet import FrechetReference
from genbench.metrics.infinity import (
    extrapolate,
    fid_infinity,
    is_infinity,
    subset_sizes,
)
from genbench.metrics.stats import FeatureStats


def gaussian_fakes(seed, n, d, m_norm, s):
    m = np.zeros(d)
    m[0] = m_norm
    return m + s * np.random.default_rng(seed).standard_normal((n, d))


def dgm_eval_fd_infinity(mu1, sigma1, reps2, num_points=15, seed=0):
    """dgm-eval metrics/fd.py ``compute_FD_infinity`` with its unseeded default_rng() seeded,
    pytorch-fid's Fréchet distance and sklearn's LinearRegression, as there."""
    batches = np.linspace(min(5000, max(len(reps2) // 10, 2)), len(reps2), num_points).astype("int32")
    rng = np.random.default_rng(seed)
    fds = []
    for size in batches:
        acts = rng.choice(reps2, size, replace=False)
        fds.append(calculate_frechet_distance(mu1, sigma1, np.mean(acts, axis=0), np.cov(acts, rowvar=False)))
    reg = LinearRegression().fit(1 / batches.reshape(-1, 1), np.array(fds).reshape(-1, 1))
    return reg.predict(np.array([[0]]))[0, 0], fds


def fid_is_infinity_inception_score(pred, num_splits=1):
    """FID_IS_infinity score_infinity.py ``calculate_inception_score``."""
    scores = []
    for index in range(num_splits):
        chunk = pred[index * (pred.shape[0] // num_splits): (index + 1) * (pred.shape[0] // num_splits), :]
        kl = chunk * (np.log(chunk) - np.log(np.expand_dims(np.mean(chunk, 0), 0)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    return np.mean(scores), np.std(scores)


def test_extrapolate_recovers_an_exact_line():
    ns = np.array([500, 700, 1000, 1500, 2200, 3000])
    fit = extrapolate(ns, 3.25 + 870.0 / ns)
    assert fit["value"] == pytest.approx(3.25, rel=1e-12)
    assert fit["slope"] == pytest.approx(870.0, rel=1e-10)
    assert fit["residual"] == pytest.approx(0.0, abs=1e-12)
    assert fit["stderr"] == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(extrapolate([10, 20], [1.0, 2.0])["stderr"])


def test_extrapolate_matches_sklearn_and_textbook_stderr():
    rng = np.random.default_rng(0)
    ns = np.linspace(200, 2000, 15).astype(int)
    values = 2.0 + 300.0 / ns + 0.01 * rng.standard_normal(15)
    fit = extrapolate(ns, values)
    reg = LinearRegression().fit(1 / ns.reshape(-1, 1), values)
    assert fit["value"] == pytest.approx(reg.intercept_, rel=1e-10)
    assert fit["slope"] == pytest.approx(reg.coef_[0], rel=1e-8)
    x = np.stack([np.ones(15), 1 / ns], axis=1)
    resid = values - x @ np.array([fit["value"], fit["slope"]])
    cov = resid @ resid / 13 * np.linalg.inv(x.T @ x)
    assert fit["stderr"] == pytest.approx(math.sqrt(cov[0, 0]), rel=1e-6)
    assert fit["residual"] == pytest.approx(math.sqrt(np.mean(resid**2)), rel=1e-10)


def test_fid_infinity_fits_the_line_through_its_subset_fids(monkeypatch):
    # when every subset FID lies on a line in 1/N, the intercept and slope come back exactly
    line = {"a": 1.5, "b": 4000.0}

    class OnALine(FrechetReference):
        def distance_to_stats(self, stats):
            return line["a"] + line["b"] / stats.n

    d = 4
    ref = OnALine(np.zeros(d), np.eye(d))
    out = fid_infinity(ref, gaussian_fakes(0, 1000, d, 0.0, 1.0))
    assert out["value"] == pytest.approx(1.5, rel=1e-10)
    assert out["slope"] == pytest.approx(4000.0, rel=1e-10)
    assert out["residual"] == pytest.approx(0.0, abs=1e-10)
    monkeypatch.setattr(infinity, "inception_score", lambda rows, splits: (line["a"] + line["b"] / len(rows), 0.0))
    p = np.full((1000, 3), 1 / 3)
    assert is_infinity(p)["value"] == pytest.approx(1.5, rel=1e-10)


@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")  # pytorch-fid's sqrtm call
def test_equals_dgm_eval_compute_fd_infinity_with_the_same_seed():
    d = 8
    real = gaussian_fakes(1, 3000, d, 0.0, 1.0)
    fake = gaussian_fakes(2, 1200, d, 0.5, 0.8)
    mu, sigma = real.mean(axis=0), np.cov(real, rowvar=False)
    ref_value, ref_fds = dgm_eval_fd_infinity(mu, sigma, fake, seed=3)
    ours = fid_infinity((mu, sigma), fake, seed=3)
    np.testing.assert_allclose(ours["fids"], ref_fds, rtol=1e-9)
    assert ours["value"] == pytest.approx(ref_value, rel=1e-8)
    assert ours["fids"][-1] == pytest.approx(FrechetReference(mu, sigma).distance(fake.mean(0), np.cov(fake, rowvar=False)),
                                             rel=1e-12)  # the last subset is the whole set


def test_is_infinity_equals_fid_is_infinity_scores_on_the_same_subsets():
    probs = np.random.default_rng(4).dirichlet(np.full(20, 0.3), size=900)
    probs = np.clip(probs, 1e-12, None)
    probs /= probs.sum(axis=1, keepdims=True)
    out = is_infinity(probs, num_points=6, seed=5)
    rng = np.random.default_rng(5)
    ref = [fid_is_infinity_inception_score(probs[rng.choice(900, k, replace=False)])[0] for k in out["ns"]]
    np.testing.assert_allclose(out["scores"], ref, rtol=1e-10)
    reg = LinearRegression().fit(1 / np.array(out["ns"]).reshape(-1, 1), np.array(ref))
    assert out["value"] == pytest.approx(reg.intercept_, rel=1e-8)


@pytest.mark.parametrize("d,m_norm,s", [(64, 1.0, 0.9), (48, 0.3, 1.0)])
def test_fid_infinity_is_closer_to_the_closed_form_fid_than_fid_n(d, m_norm, s):
    # reference: the exact moments of N(0, I); fakes ~ N(m, s² I) → FID = ‖m‖² + d (1 − s)²
    truth = m_norm**2 + d * (1 - s) ** 2
    ref = FrechetReference(np.zeros(d), np.eye(d))
    err_inf, err_n = [], []
    for seed in range(5):
        out = fid_infinity(ref, gaussian_fakes(100 + seed, 2000, d, m_norm, s), seed=seed)
        fid_n = ref.distance_to_stats(FeatureStats.from_features(gaussian_fakes(100 + seed, 2000, d, m_norm, s)))
        assert out["fids"][-1] == pytest.approx(fid_n, rel=1e-10)
        err_inf.append(abs(out["value"] - truth))
        err_n.append(abs(fid_n - truth))
    assert all(e_inf < e_n for e_inf, e_n in zip(err_inf, err_n)), (err_inf, err_n)
    assert np.mean(err_inf) < 0.3 * np.mean(err_n)


def test_seed_reproducibility():
    d = 6
    ref = FrechetReference(np.zeros(d), np.eye(d))
    fake = gaussian_fakes(7, 800, d, 0.2, 1.1)
    a, b, c = fid_infinity(ref, fake, seed=1), fid_infinity(ref, fake, seed=1), fid_infinity(ref, fake, seed=2)
    assert a == b
    assert a["fids"][:-1] != c["fids"][:-1]
    assert a["fids"][-1] == pytest.approx(c["fids"][-1], rel=1e-12)  # all rows either way
    probs = np.random.default_rng(8).dirichlet(np.ones(5), size=300)
    assert is_infinity(probs, seed=4) == is_infinity(probs, seed=4)


def test_ns_and_types():
    d = 5
    out = fid_infinity(FeatureStats.from_features(gaussian_fakes(9, 500, d, 0.0, 1.0)),
                       gaussian_fakes(10, 1000, d, 0.1, 1.0), num_points=15)
    assert out["ns"] == np.linspace(100, 1000, 15).astype(int).tolist()
    assert all(type(k) is int for k in out["ns"]) and out["ns"][-1] == 1000
    assert len(out["fids"]) == 15 and all(type(v) is float for v in out["fids"])
    for key in ("value", "slope", "residual", "stderr"):
        assert type(out[key]) is float and math.isfinite(out[key])
    assert subset_sizes(100_000).tolist()[0] == 5000          # n_min capped at 5000
    assert subset_sizes(15).tolist()[0] == 2                  # and at least 2
    assert subset_sizes(1000, 4, n_min=250).tolist() == [250, 500, 750, 1000]


def test_bad_inputs():
    ref = FrechetReference(np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="dimension mismatch"):
        fid_infinity(ref, np.zeros((100, 4)))
    with pytest.raises(ValueError, match="num_points"):
        subset_sizes(100, num_points=1)
    with pytest.raises(ValueError, match="n_min"):
        subset_sizes(100, n_min=200)
    with pytest.raises(ValueError, match="distinct"):
        subset_sizes(3, num_points=5, n_min=3)
    with pytest.raises(TypeError, match="reference"):
        fid_infinity("stats.npz", np.zeros((100, 3)))
