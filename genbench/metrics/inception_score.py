"""Inception Score from class probabilities p(y|x).

Convention (torch-fidelity's): float64; split k holds samples [k·N//S, (k+1)·N//S);
IS_k = exp(mean_x KL(p(y|x) ‖ p_k(y))) with p_k the split's marginal; the result is the mean
and the *population* std (÷ S) over splits. Optional shuffle before splitting with
``np.random.RandomState(seed).permutation(N)`` — torch-fidelity's defaults are shuffle=True,
seed=2020, which reproduce its numbers exactly. Our default does not shuffle (splits in
sample order, like the original TF code).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from genbench.metrics.stats import as_float64_2d


def inception_score(probs: Any, splits: int = 10, shuffle: bool = False, seed: int = 2020) -> tuple[float, float]:
    """(mean, std) Inception Score of (N, K) class probabilities (rows sum to 1)."""
    p = as_float64_2d(probs, "probs")
    n = p.shape[0]
    if splits < 1 or n < splits:
        raise ValueError(f"need at least one sample per split: N={n}, splits={splits}")
    if (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("probs must be non-negative rows summing to 1 (pass softmax outputs, not logits)")
    if shuffle:
        p = p[np.random.RandomState(seed).permutation(n)]
    pt = torch.from_numpy(p)
    scores = []
    for k in range(splits):
        chunk = pt[k * n // splits:(k + 1) * n // splits]
        marginal = chunk.mean(dim=0, keepdim=True)
        kl = torch.xlogy(chunk, chunk) - torch.xlogy(chunk, marginal)  # 0·log 0 = 0
        scores.append(kl.sum(dim=1).mean().exp().item())
    return float(np.mean(scores)), float(np.std(scores))
