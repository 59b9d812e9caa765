"""Precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020).

Each real point i has a ball whose radius is the distance to its k-th nearest *other* real
point (the ``prdc`` package's convention: the (k+1)-th smallest distance counting itself);
fake points likewise for recall. Membership is strict ("<"), as in ``prdc``:

- precision = share of fakes inside some real ball
- recall    = share of reals inside some fake ball
- density   = (1 / (k·M)) Σ_j #{real balls containing fake j}
- coverage  = share of reals whose nearest fake lies inside their own ball

Distances are Euclidean in float64, computed in row chunks (``chunk_rows`` × N at a time), so
50k × 50k features never materialise a full distance matrix. Squared distances are compared
with squared radii (same order as comparing distances).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import torch

from genbench.metrics.stats import as_float64_2d


def _as_pair(real_feats: Any, fake_feats: Any, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    real = torch.from_numpy(as_float64_2d(real_feats, "real_feats"))
    fake = torch.from_numpy(as_float64_2d(fake_feats, "fake_feats"))
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature dimension mismatch: real d={real.shape[1]}, fake d={fake.shape[1]}")
    if k < 1 or min(len(real), len(fake)) <= k:
        raise ValueError(f"k={k} needs more than k samples in each set; got {len(real)} real, {len(fake)} fake")
    return real, fake


def _sq_dist_chunks(a: torch.Tensor, b: torch.Tensor, chunk_rows: int) -> Iterator[tuple[slice, torch.Tensor]]:
    """Yield (row slice, squared distances of those rows of ``a`` to all of ``b``)."""
    b_sq = (b * b).sum(dim=1)
    for start in range(0, len(a), chunk_rows):
        rows = slice(start, min(start + chunk_rows, len(a)))
        x = a[rows]
        d2 = (x * x).sum(dim=1, keepdim=True) + b_sq[None, :] - 2.0 * (x @ b.T)
        yield rows, d2.clamp_min_(0.0)


def knn_radii_sq(feats: torch.Tensor, k: int, chunk_rows: int = 1024) -> torch.Tensor:
    """Squared distance from each row to its k-th nearest other row."""
    radii = torch.empty(len(feats), dtype=torch.float64)
    for rows, d2 in _sq_dist_chunks(feats, feats, chunk_rows):
        radii[rows] = d2.topk(k + 1, dim=1, largest=False).values[:, k]  # index 0 is (usually) the point itself
    return radii


_CACHE: dict[tuple, PRDCReference] = {}
_CACHE_SIZE = 4


class PRDCReference:
    """Real features with their k-NN radii cached, for repeated precision/recall/density/coverage
    against many fake sets (e.g. bootstrap resamples)."""

    def __init__(self, real_feats: Any, k_pr: int = 3, k_dc: int = 5, chunk_rows: int = 1024) -> None:
        self.real = torch.from_numpy(as_float64_2d(real_feats, "real_feats"))
        if len(self.real) <= max(k_pr, k_dc):
            raise ValueError(f"k={max(k_pr, k_dc)} needs more than k samples in each set; got {len(self.real)} real")
        self.k_pr, self.k_dc, self.chunk_rows = k_pr, k_dc, chunk_rows
        self.radii_pr = knn_radii_sq(self.real, k_pr, chunk_rows)
        self.radii_dc = self.radii_pr if k_dc == k_pr else knn_radii_sq(self.real, k_dc, chunk_rows)

    @classmethod
    def cached(cls, real_feats: Any, k_pr: int = 3, k_dc: int = 5) -> PRDCReference:
        """Like the constructor, but reuses the radii computed for identical real features (same
        bytes, shape and k) earlier in this process: the radii of a 10,000-row reference cost
        seconds, and a run evaluates several generators against one reference."""
        arr = as_float64_2d(real_feats, "real_feats")
        key = (hashlib.sha1(arr.tobytes()).hexdigest(), arr.shape, k_pr, k_dc)
        if key not in _CACHE:
            if len(_CACHE) >= _CACHE_SIZE:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = cls(arr, k_pr, k_dc)
        return _CACHE[key]

    def compute(self, fake_feats: Any) -> dict[str, float]:
        """{"precision", "recall", "density", "coverage"} from one pass over real × fake distances."""
        _, fake = _as_pair(self.real, fake_feats, max(self.k_pr, self.k_dc))
        fake_r2 = knn_radii_sq(fake, self.k_pr, self.chunk_rows)
        fake_inside = torch.zeros(len(fake), dtype=torch.bool)
        real_inside = torch.zeros(len(self.real), dtype=torch.bool)
        balls_per_fake = torch.zeros(len(fake), dtype=torch.float64)
        covered = torch.zeros(len(self.real), dtype=torch.bool)
        for rows, d2 in _sq_dist_chunks(self.real, fake, self.chunk_rows):
            fake_inside |= (d2 < self.radii_pr[rows, None]).any(dim=0)
            real_inside[rows] = (d2 < fake_r2[None, :]).any(dim=1)
            balls_per_fake += (d2 < self.radii_dc[rows, None]).sum(dim=0)
            covered[rows] = d2.min(dim=1).values < self.radii_dc[rows]
        return {"precision": fake_inside.double().mean().item(), "recall": real_inside.double().mean().item(),
                "density": balls_per_fake.mean().item() / self.k_dc, "coverage": covered.double().mean().item()}


def precision_recall(real_feats: Any, fake_feats: Any, k: int = 3, chunk_rows: int = 1024) -> dict[str, float]:
    """{"precision", "recall"} of fake features against real features (k-NN balls, k = 3)."""
    _as_pair(real_feats, fake_feats, k)
    res = PRDCReference(real_feats, k, k, chunk_rows).compute(fake_feats)
    return {key: res[key] for key in ("precision", "recall")}


def density_coverage(real_feats: Any, fake_feats: Any, k: int = 5, chunk_rows: int = 1024) -> dict[str, float]:
    """{"density", "coverage"} of fake features against real features (Naeem et al., k = 5)."""
    _as_pair(real_feats, fake_feats, k)
    res = PRDCReference(real_feats, k, k, chunk_rows).compute(fake_feats)
    return {key: res[key] for key in ("density", "coverage")}
