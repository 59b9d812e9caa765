"""Fréchet distance between Gaussians, in float64 from eigenvalues of symmetric matrices.

    FD = ‖μ1 − μ2‖² + Tr σ1 + Tr σ2 − 2 Tr √(σ1 σ2)

pytorch-fid computes Tr √(σ1 σ2) with ``scipy.linalg.sqrtm`` of the non-symmetric product,
which is slow, can go complex and fails on singular inputs. Here, with a factor σ1 = F Fᵀ
(Cholesky when σ1 is positive definite, else a truncated eigendecomposition),

    Tr √(σ1 σ2) = Σ √λ(Fᵀ σ2 F),

an ``eigvalsh`` problem on a symmetric PSD matrix: real by construction, tiny negative
eigenvalues from rounding clamp to 0, finite for rank-deficient covariances. When the
statistics carry their n ≤ d samples (``FeatureStats`` keeps them), σ = AᵀA with
A = centred rows / √(n − 1) and the trace is the nuclear norm of a small n1 × n2 matrix
(or a small eigenproblem when only one side is low rank).

``FrechetReference`` caches the factor of fixed reference statistics, so each comparison
against them costs two matrix products and one symmetric eigensolve.
"""

from __future__ import annotations

import numpy as np

from genbench.metrics.stats import FeatureStats, check_same_space


def _check_moments(mu: np.ndarray, sigma: np.ndarray, which: str) -> tuple[np.ndarray, np.ndarray]:
    mu = np.atleast_1d(np.asarray(mu, np.float64))
    sigma = np.atleast_2d(np.asarray(sigma, np.float64))
    if mu.ndim != 1 or sigma.shape != (mu.size, mu.size):
        raise ValueError(f"{which}: mu must be (d,) and sigma (d, d); got {mu.shape} and {sigma.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ValueError(f"{which}: non-finite values in mu or sigma")
    return mu, sigma


def psd_factor(sigma: np.ndarray) -> np.ndarray:
    """F (d × r) with σ ≈ F Fᵀ: Cholesky if σ is positive definite, else eigenvectors of the
    positive eigenvalues (those above d·eps·λmax) scaled by their square roots."""
    try:
        return np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh((sigma + sigma.T) / 2)
        keep = w > max(w.max(), 0.0) * sigma.shape[0] * np.finfo(np.float64).eps
        return v[:, keep] * np.sqrt(w[keep])


def _sum_sqrt_eigvalsh(m: np.ndarray) -> float:
    w = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(w, 0.0, None)).sum())


class FrechetReference:
    """Fixed reference statistics (μ, σ) with a cached factor, for repeated Fréchet distances."""

    def __init__(self, mu: np.ndarray, sigma: np.ndarray, factor: np.ndarray | None = None, provenance: dict | None = None):
        self.mu, self.sigma = _check_moments(mu, sigma, "reference")
        self.trace = float(np.trace(self.sigma))
        self.factor = psd_factor(self.sigma) if factor is None else factor
        self.provenance = dict(provenance or {})

    @classmethod
    def from_stats(cls, stats: FeatureStats) -> "FrechetReference":
        factor = stats.centred_factor()
        return cls(stats.mean, stats.cov, None if factor is None else factor.T, stats.provenance)

    def distance(self, mu: np.ndarray, sigma: np.ndarray, factor: np.ndarray | None = None) -> float:
        """FD between the reference and N(μ, σ); ``factor`` (d × r, σ = F Fᵀ) enables the low-rank form."""
        mu, sigma = _check_moments(mu, sigma, "compared")
        if mu.size != self.mu.size:
            raise ValueError(f"feature dimension mismatch: reference d={self.mu.size}, compared d={mu.size}")
        diff = self.mu - mu
        if factor is None:
            tr_covmean = _sum_sqrt_eigvalsh(self.factor.T @ sigma @ self.factor)
        elif self.factor.shape[1] < mu.size:  # both low rank: singular values of F1ᵀ F2 (r1 × r2)
            tr_covmean = float(np.linalg.svd(self.factor.T @ factor, compute_uv=False).sum())
        else:  # only the compared side is low rank: an r2 × r2 eigenproblem
            tr_covmean = _sum_sqrt_eigvalsh(factor.T @ self.sigma @ factor)
        return float(diff @ diff + self.trace + np.trace(sigma) - 2.0 * tr_covmean)

    def distance_to_stats(self, stats: FeatureStats) -> float:
        """FD between the reference and ``stats``; refuses stats from another feature space."""
        check_same_space(self.provenance, stats.provenance)
        factor = stats.centred_factor()
        return self.distance(stats.mean, stats.cov, None if factor is None else factor.T)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(μ1, σ1) and N(μ2, σ2), float64; same formula and argument order
    as pytorch-fid's ``calculate_frechet_distance``, computed via a symmetric eigensolve."""
    mu1, sigma1 = _check_moments(mu1, sigma1, "first")
    mu2, sigma2 = _check_moments(mu2, sigma2, "second")
    if mu1.shape != mu2.shape:
        raise ValueError(f"feature dimension mismatch: {mu1.size} vs {mu2.size}")
    return FrechetReference(mu1, sigma1).distance(mu2, sigma2)


def frechet_distance_stats(real: FeatureStats, fake: FeatureStats) -> float:
    """Fréchet distance between two ``FeatureStats`` (uses the low-rank form where they carry n ≤ d rows)."""
    return FrechetReference.from_stats(real).distance_to_stats(fake)
