"""FID∞ and IS∞ (Chong & Forsyth 2020, "Effectively Unbiased FID and Inception Score and where to find them").

FID_N (and IS_N) computed from N samples is biased, and the bias is very nearly linear in 1/N:
FID_N ≈ FID∞ + b / N. Evaluating the metric on subsets of several sizes and fitting that line by
least squares gives the intercept FID∞, an estimate of the metric at infinitely many samples,
which lets models evaluated with different N be compared.

Convention (dgm-eval ``compute_FD_infinity``, itself from github.com/mchong6/FID_IS_infinity):

- sizes N_i = ``np.linspace(n_min, N, num_points).astype(int)``, N the number of fake rows, with
  ``n_min = min(5000, max(N // 10, 2))`` unless given (FID_IS_infinity fixes n_min = 5000);
- for each N_i, in order, an independent subset of N_i rows drawn without replacement with
  ``rng.choice`` from ``rng = np.random.default_rng(seed)`` (dgm-eval's draw, seeded here; the
  last subset is all N rows in a random order, so its FID is the ordinary FID_N);
- the FID of each subset against fixed reference moments (the reference is not subsampled);
  the Inception Score of each subset with a single split, as FID_IS_infinity's
  ``calculate_inception_score(pred, num_splits=1)``;
- an ordinary least-squares line value = a + b / N_i (what sklearn's ``LinearRegression`` on
  1/N_i fits); FID∞ = a.

The result also carries the slope b, the rms residual of the fit and the textbook standard
error of the intercept. The subsets overlap, so their errors are correlated and that standard
error is only indicative.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from genbench.metrics.frechet import FrechetReference
from genbench.metrics.inception_score import inception_score
from genbench.metrics.stats import FeatureStats, as_float64_2d


def default_n_min(n: int) -> int:
    """dgm-eval's smallest subset size: min(5000, max(N // 10, 2))."""
    return min(5000, max(n // 10, 2))


def subset_sizes(n: int, num_points: int = 15, n_min: int | None = None) -> np.ndarray:
    """The subset sizes ``linspace(n_min, n, num_points)`` truncated to int (ascending, last = n)."""
    n_min = default_n_min(n) if n_min is None else int(n_min)
    if num_points < 2:
        raise ValueError(f"num_points must be ≥ 2 to fit a line, got {num_points}")
    if not 2 <= n_min <= n:
        raise ValueError(f"need 2 ≤ n_min ≤ N; got n_min={n_min}, N={n}")
    ns = np.linspace(n_min, n, num_points).astype(np.int64)
    if len(np.unique(ns)) < 2:
        raise ValueError(f"subset sizes {ns.tolist()} take fewer than 2 distinct values; lower n_min or add samples")
    return ns


def extrapolate(ns: Sequence[int] | np.ndarray, values: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Least-squares fit values ≈ a + b / ns: {"value": a, "slope": b, "residual": rms residual,
    "stderr": standard error of a (nan with only 2 points)}."""
    x = 1.0 / np.asarray(ns, np.float64)
    y = np.asarray(values, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"ns and values must be 1-D of equal length; got {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("ns and values must be finite (ns nonzero)")
    x_bar, y_bar = x.mean(), y.mean()
    sxx = float(((x - x_bar) ** 2).sum())
    if sxx == 0.0:
        raise ValueError("need at least 2 distinct ns to fit a line")
    slope = float(((x - x_bar) * (y - y_bar)).sum() / sxx)
    intercept = float(y_bar - slope * x_bar)
    resid = y - (intercept + slope * x)
    k = len(x)
    stderr = math.sqrt(float(resid @ resid) / (k - 2) * (1.0 / k + x_bar**2 / sxx)) if k > 2 else math.nan
    return {"value": intercept, "slope": slope, "residual": float(np.sqrt(np.mean(resid**2))), "stderr": stderr}


def _subset_curve(rows: np.ndarray, metric: Callable[[np.ndarray], float], num_points: int,
                  n_min: int | None, seed: int) -> tuple[list[int], list[float]]:
    ns = subset_sizes(len(rows), num_points, n_min)
    rng = np.random.default_rng(seed)
    values = [metric(rows[rng.choice(len(rows), int(k), replace=False)]) for k in ns]
    return [int(k) for k in ns], values


def _as_reference(reference: Any) -> FrechetReference:
    if isinstance(reference, FrechetReference):
        return reference
    if isinstance(reference, FeatureStats):
        return FrechetReference.from_stats(reference)
    if isinstance(reference, (tuple, list)) and len(reference) == 2:
        return FrechetReference(*reference)
    raise TypeError("reference must be a FrechetReference, FeatureStats or (mu, sigma) pair, "
                    f"got {type(reference).__name__}")


def fid_infinity(reference: Any, fake_features: Any, num_points: int = 15, n_min: int | None = None,
                 seed: int = 0) -> dict[str, Any]:
    """FID∞ of fake features (N, d) against fixed reference moments.

    ``reference``: a ``FrechetReference``, ``FeatureStats`` or (mu, sigma) pair. Returns
    {"value": FID∞, "slope", "residual", "stderr", "ns": subset sizes, "fids": FID of each subset}.
    """
    ref = _as_reference(reference)
    fake = as_float64_2d(fake_features, "fake_features")
    if fake.shape[1] != ref.mu.size:
        raise ValueError(f"feature dimension mismatch: reference d={ref.mu.size}, fake d={fake.shape[1]}")

    def fid(rows: np.ndarray) -> float:
        return ref.distance_to_stats(FeatureStats.from_features(rows))

    ns, fids = _subset_curve(fake, fid, num_points, n_min, seed)
    return {**extrapolate(ns, fids), "ns": ns, "fids": fids}


def is_infinity(probs: Any, num_points: int = 15, n_min: int | None = None, seed: int = 0) -> dict[str, Any]:
    """IS∞ of (N, K) class probabilities: Inception Score (one split) of each subset, extrapolated.

    Returns {"value": IS∞, "slope", "residual", "stderr", "ns": subset sizes, "scores": IS of each subset}.
    """
    p = as_float64_2d(probs, "probs")

    def score(rows: np.ndarray) -> float:
        return inception_score(rows, splits=1)[0]

    ns, scores = _subset_curve(p, score, num_points, n_min, seed)
    return {**extrapolate(ns, scores), "ns": ns, "scores": scores}
