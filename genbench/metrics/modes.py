"""Mode coverage on a labelled domain: which (shape × colour) cells the samples occupy.

Samples are assigned to cells by a classifier's joint prediction (on shapes32: shapes-net's
shape and colour heads, 10 × 8 = 80 cells). ``coverage`` is the fraction of cells with at least
``min_count`` samples; ``kl`` is KL(p_samples ‖ p_data) in nats between the samples' cell
histogram and the data's (0 when they match; log 80 ≈ 4.38 when all samples fall in one cell
of a uniform domain). Cells the data never visits are not allowed to hold samples (KL = ∞).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def cell_histogram(cells: Any, n_cells: int) -> np.ndarray:
    """Counts of integer cell ids in [0, n_cells)."""
    ids = cells.cpu().numpy() if isinstance(cells, torch.Tensor) else np.asarray(cells)
    ids = ids.astype(np.int64).ravel()
    if ids.size and (ids.min() < 0 or ids.max() >= n_cells):
        raise ValueError(f"cell ids must lie in [0, {n_cells}); observed min {ids.min()}, max {ids.max()}")
    return np.bincount(ids, minlength=n_cells).astype(np.float64)


def mode_coverage(sample_cells: Any, data_histogram: Any, min_count: int = 1) -> dict[str, float]:
    """{"coverage", "kl", "occupied", "n_cells"} of samples' integer cell ids against the data's
    cell histogram (counts or probabilities, length n_cells; see ``cell_histogram``)."""
    q = np.asarray(data_histogram, dtype=np.float64)
    if q.ndim != 1 or q.sum() <= 0 or (q < 0).any():
        raise ValueError(f"data_histogram must be a non-negative 1-D histogram, got shape {q.shape}")
    counts = cell_histogram(sample_cells, q.size)
    if counts.sum() == 0:
        raise ValueError("no samples")
    p, q = counts / counts.sum(), q / q.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = float(np.sum(np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)))
    occupied = int((counts >= min_count).sum())
    return {"coverage": occupied / q.size, "kl": kl, "occupied": occupied, "n_cells": q.size}
