"""``genbench selfcheck``: every metric on inputs whose answer is known in closed form.

Each check computes a metric with genbench and compares it with the exact value; the run fails
(non-zero exit) if any disagrees. No weights or downloads are needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Check:
    name: str
    expected: float
    got: float
    tol: float
    seconds: float

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.got) and abs(self.got - self.expected) <= self.tol)


def _timed(name: str, expected: float, tol: float, fn: Callable[[], float]) -> Check:
    t0 = time.perf_counter()
    got = float(fn())
    return Check(name, expected, got, tol, time.perf_counter() - t0)


def run_checks(seed: int = 0) -> list[Check]:
    import genbench as gb

    rng = np.random.default_rng(seed)
    var_a, var_b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    mu_a, mu_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    # ‖μa − μb‖² + Σ (√a − √b)² for diagonal covariances
    fd_exact = float(((mu_a - mu_b) ** 2).sum() + ((np.sqrt(var_a) - np.sqrt(var_b)) ** 2).sum())
    d = 2048
    feats = rng.standard_normal((4096, d))
    stats = gb.FeatureStats.from_features(feats)
    low_rank = gb.FeatureStats.from_features(feats[:100])
    probs_onehot = np.eye(10)[np.arange(1000) % 10]
    same = rng.standard_normal((1500, 16))
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    return [
        _timed("FID, diagonal Gaussians (closed form)", fd_exact, 1e-9,
               lambda: gb.frechet_distance(mu_a, np.diag(var_a), mu_b, np.diag(var_b))),
        _timed(f"FID, d={d} stats against themselves", 0.0, 1e-6 * np.trace(stats.cov),
               lambda: gb.frechet_distance(stats.mean, stats.cov, stats.mean, stats.cov)),
        _timed("FID, n=100 < d=2048 against themselves (low-rank form)", 0.0, 1e-6 * np.trace(low_rank.cov),
               lambda: gb.frechet_distance_stats(low_rank, low_rank)),
        _timed("IS, one-hot over 10 balanced classes", 10.0, 1e-9, lambda: gb.inception_score(probs_onehot)[0]),
        _timed("KID, identical sets (unbiased, ~0)", 0.0, 0.05,
               lambda: gb.kid(same, same, subsets=10, subset_size=500)[0]),
        _timed("precision, identical sets", 1.0, 0.0, lambda: gb.precision_recall(same, same)["precision"]),
        _timed("coverage, identical sets", 1.0, 0.0, lambda: gb.density_coverage(same, same)["coverage"]),
        _timed("SSIM(x, x)", 1.0, 1e-12, lambda: gb.ssim(images, images).min()),
    ]


def format_checks(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'check':<{width}}  {'expected':>10}  {'genbench':>14}  {'time':>7}  verdict"]
    for c in checks:
        lines.append(f"{c.name:<{width}}  {c.expected:>10.4g}  {c.got:>14.8g}  {c.seconds:>6.2f}s  "
                     f"{'ok' if c.ok else 'FAIL'}")
    return "\n".join(lines)
