"""Kernel Inception Distance (Bińkowski et al. 2018).

Unbiased MMD² with the cubic polynomial kernel k(x, y) = (xᵀy / d + 1)³, averaged over random
subsets; mean and population std over subsets (torch-fidelity and torchmetrics both report
population std). Subsets are drawn exactly as torch-fidelity draws them —
``rng = np.random.RandomState(seed)``, then per subset ``rng.choice(n_real, m, replace=False)``
followed by ``rng.choice(n_fake, m, replace=False)`` — so equal seeds give identical subsets and
identical numbers. A subset size larger than either set is clamped to the smaller set with a
warning (torch-fidelity and torchmetrics raise instead).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from genbench.metrics.stats import as_float64_2d


def polynomial_mmd2(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD² between two equal-size float64 samples with kernel (xᵀy/d + 1)³."""
    m, d = x.shape
    k_xx = (x @ x.T / d + 1) ** 3
    k_yy = (y @ y.T / d + 1) ** 3
    k_xy = (x @ y.T / d + 1) ** 3
    off_diag = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return float(off_diag - 2 * k_xy.mean())


def kid(real_feats: Any, fake_feats: Any, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """(mean, std) of the unbiased polynomial-kernel MMD² over ``subsets`` random subsets."""
    real = as_float64_2d(real_feats, "real_feats")
    fake = as_float64_2d(fake_feats, "fake_feats")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature dimension mismatch: real d={real.shape[1]}, fake d={fake.shape[1]}")
    if subsets < 1:
        raise ValueError(f"subsets must be ≥ 1, got {subsets}")
    m = min(subset_size, len(real), len(fake))
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per set; got {len(real)} real, {len(fake)} fake")
    if m < subset_size:
        warnings.warn(f"KID subset_size {subset_size} clamped to {m} (real n={len(real)}, fake n={len(fake)})",
                      stacklevel=2)
    rng = np.random.RandomState(seed)
    real_t, fake_t = torch.from_numpy(real), torch.from_numpy(fake)
    mmds = np.empty(subsets)
    for i in range(subsets):
        r = real_t[rng.choice(len(real), m, replace=False)]
        f = fake_t[rng.choice(len(fake), m, replace=False)]
        mmds[i] = polynomial_mmd2(r, f)
    return float(mmds.mean()), float(mmds.std())
