"""Vendi Score (Friedman & Dieng 2023): the effective number of distinct samples.

    VS_q = exp(H_q(λ)),  λ = eigenvalues of K / n,  K = X Xᵀ with rows of X scaled to unit norm,

H_q the Rényi entropy of order q: q = 1 Shannon −Σ λ log λ, q = ∞ −log max λ, otherwise
log(Σ λ^q) / (1 − q). The cosine kernel has K_ii = 1, so the λ sum to 1 and 1 ≤ VS ≤ rank X.
As the ``vendi-score`` package (``score_X`` / ``score_dual``) and dgm-eval
(``compute_vendi_score``): rows are normalised like ``sklearn.preprocessing.normalize``
(all-zero rows stay zero) and the eigenvalues come from ``scipy.linalg.eigvalsh`` in float64.
When d < n the dual d × d matrix XᵀX / n is used (same nonzero eigenvalues), so 50k × 2048
features need a 2048² eigenproblem, not a 50k² one.

Eigenvalues at rounding level are dropped: those ≤ max(n, d)·eps·λmax (the numerical-rank
cut of ``numpy.linalg.matrix_rank``), where the package drops only those ≤ 0. The two agree to
far below 1e-10 for q ≥ 1; for q < 1 the package's value picks up Σ (rounding noise)^q from the
zero eigenvalues of a rank-deficient kernel, which this cut removes (identical rows give
exactly 1 for every q).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.linalg

from genbench.metrics.stats import as_float64_2d


def _normalised_rows(features: Any) -> np.ndarray:
    x = as_float64_2d(features, "features")
    if x.shape[0] < 1:
        raise ValueError("the Vendi score needs at least one sample")
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    norms[norms == 0] = 1.0  # all-zero rows stay zero, as sklearn.preprocessing.normalize
    return x / norms[:, None]


def _eigenvalues(x: np.ndarray) -> np.ndarray:
    """Eigenvalues of K / n for unit rows x, ascending, from the smaller of the n × n and d × d forms."""
    n, d = x.shape
    gram = (x.T @ x) if d < n else (x @ x.T)
    return scipy.linalg.eigvalsh(gram / n)


def renyi_entropy(p: np.ndarray, q: float | str = 1.0) -> float:
    """Rényi entropy of order q (natural log) of nonnegative weights ``p``; q = "inf" or math.inf
    gives −log max p. Zero or negative entries are ignored."""
    p = np.asarray(p, np.float64)
    if isinstance(q, str):
        if q != "inf":
            raise ValueError(f"q must be a number ≥ 0 or 'inf', got {q!r}")
        q = math.inf
    q = float(q)
    if not q >= 0:
        raise ValueError(f"q must be ≥ 0, got {q}")
    p = p[p > 0]
    if q == math.inf:
        return float(-np.log(p.max()))
    if q == 1.0:
        return float(-(p * np.log(p)).sum())
    return float(np.log((p**q).sum()) / (1.0 - q))


def vendi_score(features: Any, q: float | str = 1.0) -> float:
    """Vendi score of order ``q`` of features (n, d) under the cosine kernel; between 1 and min(n, d)."""
    x = _normalised_rows(features)
    lam = _eigenvalues(x)
    n, d = x.shape
    keep = lam > max(n, d) * np.finfo(np.float64).eps * max(lam.max(), 0.0)
    if not keep.any():
        raise ValueError("all feature rows are zero: the Vendi score is undefined")
    return math.exp(renyi_entropy(lam[keep], q))
