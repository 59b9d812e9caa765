"""Percentile bootstrap confidence intervals for metrics computed from per-sample features.

Each resample draws the rows of every resampled array independently, with replacement, from a
``np.random.default_rng(seed)`` stream, recomputes the metric, and the interval is the
[(1 − c)/2, (1 + c)/2] percentile range of the recomputed values (Efron's percentile method).
``value`` is the metric on the original data, not the bootstrap mean.
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

    @property
    def std(self) -> float:
        """Bootstrap standard error (population std of the resampled values)."""
        return float(self.samples.std())

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci": list(self.ci), "confidence": self.confidence,
                "resamples": self.resamples, "seed": self.seed, "method": "percentile bootstrap"}


def _rows(x: Any) -> int:
    if not isinstance(x, (np.ndarray, torch.Tensor)):
        x = np.asarray(x)
    return x.shape[0]


def bootstrap_ci(metric: Callable[..., float], *arrays: Any, resamples: int = 200, confidence: float = 0.95,
                 seed: int = 0, resample: Sequence[int] | None = None, progress: bool = False) -> BootstrapResult:
    """Evaluate ``metric(*arrays)`` and its percentile bootstrap interval.

    ``resample`` lists the positions of the arrays to resample (default: all); the others are
    passed unchanged, e.g. fixed real features. ``metric`` must return a float.
    """
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one array of per-sample values")
    if resamples < 2:
        raise ValueError(f"resamples must be ≥ 2, got {resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    which = range(len(arrays)) if resample is None else resample
    rng = np.random.default_rng(seed)
    value = float(metric(*arrays))
    samples = np.empty(resamples)
    for b in tqdm(range(resamples), desc="bootstrap", disable=not progress, leave=False):
        drawn = list(arrays)
        for i in which:
            n = _rows(arrays[i])
            idx = rng.integers(0, n, size=n)
            drawn[i] = arrays[i][torch.from_numpy(idx) if isinstance(arrays[i], torch.Tensor) else idx]
        samples[b] = metric(*drawn)
    lo, hi = np.percentile(samples, [50 * (1 - confidence), 50 * (1 + confidence)])
    return BootstrapResult(value, (float(lo), float(hi)), confidence, resamples, seed, samples)
