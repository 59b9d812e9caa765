"""CMMD (Jayasumana et al. 2024, "Rethinking FID"): MMD² with a Gaussian RBF kernel on CLIP embeddings.

Exactly google-research ``cmmd/distance.py``: the biased (V-statistic, minimum-variance) estimate

    CMMD = scale · (mean K(x, x') + mean K(y, y') − 2 mean K(x, y)),
    K(a, b) = exp(−γ (‖a‖² + ‖b‖² − 2 aᵀb)),  γ = 1 / (2σ²),

with the diagonal included in both self terms, σ = 10 and scale = 1000 by default. Squared norms
and the expansion of ‖a − b‖² are those of the reference (no clamping). Unlike the reference
(which builds full n × n matrices), each mean is accumulated in float64 over ``chunk × chunk``
blocks, so memory is O(chunk²) for any n. ``x`` is the reference set and ``y`` the evaluated set,
as in ``compute_cmmd(ref_embs, eval_embs)``; the value is symmetric up to rounding. The self
terms can be precomputed with ``kernel_mean(a, a)`` and passed in (``kxx`` / ``kyy``) to cache a
fixed reference.
"""

from __future__ import annotations

from typing import Any

import torch

from genbench.metrics.stats import as_float64_2d


def _check(sigma: float, chunk: int) -> None:
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    if int(chunk) < 1:
        raise ValueError(f"chunk must be ≥ 1, got {chunk}")


def _as_tensor(a: Any, name: str) -> torch.Tensor:
    return torch.from_numpy(as_float64_2d(a, name))


def _kernel_mean(a: torch.Tensor, b: torch.Tensor, sigma: float, chunk: int) -> float:
    gamma = 1.0 / (2.0 * sigma**2)
    a_sq = (a * a).sum(dim=1)
    b_sq = (b * b).sum(dim=1)
    total = torch.zeros((), dtype=torch.float64)
    for i in range(0, len(a), chunk):
        ai, ai_sq = a[i:i + chunk], a_sq[i:i + chunk, None]
        for j in range(0, len(b), chunk):
            bj = b[j:j + chunk]
            d2 = -2.0 * (ai @ bj.T) + ai_sq + b_sq[None, j:j + chunk]
            total += torch.exp(-gamma * d2).sum()
    return float(total) / (len(a) * len(b))


def kernel_mean(a: Any, b: Any, sigma: float = 10.0, chunk: int = 2048) -> float:
    """Mean of the Gaussian kernel exp(−‖a_i − b_j‖² / (2σ²)) over all pairs (i, j), diagonal
    included when ``a is b``; float64, in ``chunk × chunk`` blocks. ``kernel_mean(y, y)`` is the
    self term of a fixed reference set, to pass to ``cmmd`` as ``kxx`` / ``kyy``."""
    _check(sigma, chunk)
    a_t, b_t = _as_tensor(a, "a"), _as_tensor(b, "b")
    if a_t.shape[1] != b_t.shape[1]:
        raise ValueError(f"feature dimension mismatch: {a_t.shape[1]} vs {b_t.shape[1]}")
    if len(a_t) == 0 or len(b_t) == 0:
        raise ValueError("kernel_mean needs at least one row in each set")
    return _kernel_mean(a_t, b_t, sigma, int(chunk))


def cmmd(x: Any, y: Any, sigma: float = 10.0, scale: float = 1000.0, chunk: int = 2048,
         kxx: float | None = None, kyy: float | None = None) -> float:
    """scale × biased Gaussian-kernel MMD² between embeddings ``x`` (n, d) and ``y`` (m, d); n ≠ m allowed.

    ``kxx`` / ``kyy``: precomputed ``kernel_mean(x, x, sigma)`` / ``kernel_mean(y, y, sigma)``
    (e.g. cached for a fixed reference set); computed here when None.
    """
    _check(sigma, chunk)
    x_t, y_t = _as_tensor(x, "x"), _as_tensor(y, "y")
    if x_t.shape[1] != y_t.shape[1]:
        raise ValueError(f"feature dimension mismatch: x d={x_t.shape[1]}, y d={y_t.shape[1]}")
    if len(x_t) == 0 or len(y_t) == 0:
        raise ValueError(f"CMMD needs at least one row in each set; got {len(x_t)} and {len(y_t)}")
    chunk = int(chunk)
    k_xx = _kernel_mean(x_t, x_t, sigma, chunk) if kxx is None else float(kxx)
    k_yy = _kernel_mean(y_t, y_t, sigma, chunk) if kyy is None else float(kyy)
    k_xy = _kernel_mean(x_t, y_t, sigma, chunk)
    return cmmd_from_means(k_xx, k_yy, k_xy, scale)


def cmmd_from_means(kxx: float, kyy: float, kxy: float, scale: float = 1000.0) -> float:
    """scale · (kxx + kyy − 2 kxy) from the three ``kernel_mean`` terms (for callers that cache some)."""
    return scale * (float(kxx) + float(kyy) - 2.0 * float(kxy))
