"""Confidence intervals for metrics computed from per-sample features, by resampling rows.

Two methods, both seeded (``np.random.default_rng(seed)``) and with ``value`` the metric on the
original data:

- ``"percentile"`` (Efron): resample n rows *with* replacement, recompute, and take the
  [(1 − c)/2, (1 + c)/2] percentiles. Right for smooth statistics such as means.
- ``"subsample"`` (half-sampling, the delete-n/2 jackknife of Shao & Wu 1989): draw n/2 rows
  *without* replacement, recompute, and place the quantiles of the centred values around
  ``value``. With half the rows left out, the spread of the half-sample values estimates the
  full-sample variance with no rescaling (for a mean, the finite-population correction makes it
  exactly σ²/n). Use it for FID, KID and the k-NN metrics: duplicated rows from sampling with
  replacement collapse k-NN radii and inflate FID/KID, which shifts percentile intervals away
  from the estimate (we saw FID 0.62 with a percentile interval of [1.12, 1.62]). Centring
  removes the half-size bias of FID/KID from the interval; the interval describes sampling
  spread, not FID's own small-n bias.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm


@dataclass(frozen=True)
class BootstrapResult:
    """A metric value with its percentile bootstrap interval and how it was obtained."""

    value: float
    ci: tuple[float, float]
    confidence: float
    resamples: int
    seed: int
    samples: np.ndarray = field(repr=False)
    method: str = "percentile"

    @property
    def std(self) -> float:
        """Standard error estimate: the std of the resampled values."""
        return float(self.samples.std())

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci": list(self.ci), "confidence": self.confidence,
                "resamples": self.resamples, "seed": self.seed, "method": self.method}


def _rows(x: Any) -> int:
    if not isinstance(x, (np.ndarray, torch.Tensor)):
        x = np.asarray(x)
    return x.shape[0]


def bootstrap_ci(metric: Callable[..., float], *arrays: Any, **kwargs: Any) -> BootstrapResult:
    """Evaluate ``metric(*arrays)`` (a float) and its interval; keyword arguments as ``bootstrap_many``."""
    return bootstrap_many(lambda *a: {"value": metric(*a)}, *arrays, **kwargs)["value"]


def bootstrap_many(metric: Callable[..., dict[str, float]], *arrays: Any, resamples: int = 200,
                   confidence: float = 0.95, seed: int = 0, resample: Sequence[int] | None = None,
                   progress: bool = False, method: str = "percentile") -> dict[str, BootstrapResult]:
    """Evaluate ``metric(*arrays)``, a dict of floats, and an interval for each of its values from
    the same resamples (``method``: "percentile" or "subsample").

    ``resample`` lists the positions of the arrays to resample (default: all); the others are
    passed unchanged, e.g. fixed real features.
    """
    if method not in ("percentile", "subsample"):
        raise ValueError(f"method must be 'percentile' or 'subsample', got {method!r}")
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one array of per-sample values")
    if resamples < 2:
        raise ValueError(f"resamples must be ≥ 2, got {resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    which = range(len(arrays)) if resample is None else resample
    rng = np.random.default_rng(seed)
    values = {k: float(v) for k, v in metric(*arrays).items()}
    samples = {k: np.empty(resamples) for k in values}
    for b in tqdm(range(resamples), desc="bootstrap", disable=not progress, leave=False):
        drawn = list(arrays)
        for i in which:
            n = _rows(arrays[i])
            idx = rng.integers(0, n, size=n) if method == "percentile" else rng.permutation(n)[: n // 2]
            drawn[i] = arrays[i][torch.from_numpy(idx) if isinstance(arrays[i], torch.Tensor) else idx]
        for k, v in metric(*drawn).items():
            samples[k][b] = v
    results = {}
    for k, value in values.items():
        lo, hi = np.percentile(samples[k], [50 * (1 - confidence), 50 * (1 + confidence)])
        if method == "subsample":
            centre = samples[k].mean()
            lo, hi = value + (lo - centre), value + (hi - centre)
        results[k] = BootstrapResult(value, (float(lo), float(hi)), confidence, resamples, seed, samples[k], method)
    return results
