"""Memorization / data-copying metrics on features: authenticity, C_T and MiFID.

- **Authenticity** (Alaa et al. 2022; dgm-eval ``metrics/authpct.py::compute_authpct``): for
  each fake, its nearest training point (Euclidean) at distance d1, and that training point's
  nearest *other* training point (excluded by index, so duplicate training rows count) at
  distance d2; the fake is authentic iff d2 < d1. AuthPct = 100 × the authentic share. Here in
  float64 (dgm-eval uses float32 ``torch.cdist``) from squared distances, in row chunks: the
  train × train search only covers the training points that are some fake's nearest neighbour,
  ``chunk`` rows at a time, so 50k training rows never build a 50k² matrix.
- **C_T** (Meehan, Chaudhuri & Dasgupta 2020, "A Non-Parametric Test to Detect Data-Copying in
  Generative Models"; code github.com/casey-meehan/data-copying, vendored by dgm-eval as
  ``metrics/ct.py::compute_CTscore``): features reduced to 64 PCA components (fitted on train)
  when d > 64; k-means cells (3 by default, as dgm-eval) fitted on train; in each cell the
  Mann–Whitney U of the fakes' versus the test points' distances to their nearest training
  point *in that cell*, Z-scored under H0 as (U − (nm/2 − 0.5)) / √(nm(n + m + 1)/12) with
  n test and m fake points in the cell; C_T = Σ P_n(π) Z(π) / Σ P_n(π) over the cells π that
  hold more than τ·m fakes, τ = 20 / m (i.e. more than 20 fakes), P_n(π) the test share of π.
  C_T ≪ 0: fakes sit closer to the training set than held-out data (copying); C_T ≫ 0:
  underfitting; ≈ 0 under the null. The reference fits PCA and k-means unseeded; here both get
  ``random_state=seed``.
- **MiFID** (Bai et al. 2021; torchmetrics ``image/mifid.py``): FID / (M + 1e-14) with M the
  memorization distance — the mean over rows of one set of the minimum cosine *distance*
  1 − |cos| to the other set (rows whose entries sum to 0 dropped), replaced by 1 when not below
  ``cosine_eps``; MiFID = 0 when FID ≤ 1e-8. torchmetrics averages over the **real** rows
  (``_compute_cosine_distance(real, fake)``), the default here; the paper and the Kaggle code
  average over the **generated** rows (``mean_over="fake"``).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import torch

from genbench.metrics.frechet import frechet_distance
from genbench.metrics.stats import FeatureStats, as_float64_2d

# -- authenticity ----------------------------------------------------------------------------


def _pair(a: Any, b: Any, name_a: str, name_b: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = as_float64_2d(a, name_a), as_float64_2d(b, name_b)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature dimension mismatch: {name_a} d={x.shape[1]}, {name_b} d={y.shape[1]}")
    return x, y


def _nearest(query: torch.Tensor, points: torch.Tensor, chunk: int,
             exclude: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(squared distance, index) of each query row's nearest row of ``points``; ``exclude[i]`` is
    an index of ``points`` that query row i may not pick (itself)."""
    p_sq = (points * points).sum(dim=1)
    best = torch.empty(len(query), dtype=torch.float64)
    idx = torch.empty(len(query), dtype=torch.int64)
    for s in range(0, len(query), chunk):
        q = query[s:s + chunk]
        d2 = ((q * q).sum(dim=1, keepdim=True) + p_sq[None, :] - 2.0 * (q @ points.T)).clamp_min_(0.0)
        if exclude is not None:
            d2[torch.arange(len(q)), exclude[s:s + chunk]] = torch.inf
        best[s:s + chunk], idx[s:s + chunk] = d2.min(dim=1)
    return best, idx


def authenticity(train_features: Any, fake_features: Any, chunk: int = 1024) -> np.ndarray:
    """Per-fake boolean: True iff the fake's nearest training point has another training point
    closer to it than the fake is (d2 < d1), as dgm-eval ``compute_authpct``."""
    train, fake = _pair(train_features, fake_features, "train_features", "fake_features")
    if len(train) < 2 or len(fake) < 1:
        raise ValueError(f"authenticity needs ≥ 2 training and ≥ 1 fake rows; got {len(train)} and {len(fake)}")
    if int(chunk) < 1:
        raise ValueError(f"chunk must be ≥ 1, got {chunk}")
    train_t, fake_t = torch.from_numpy(train), torch.from_numpy(fake)
    d1_sq, nn = _nearest(fake_t, train_t, int(chunk))
    needed, where = torch.unique(nn, return_inverse=True)
    d2_sq, _ = _nearest(train_t[needed], train_t, int(chunk), exclude=needed)
    return (d2_sq[where] < d1_sq).numpy()


def authpct(train_features: Any, fake_features: Any, chunk: int = 1024) -> float:
    """AuthPct: percentage (0–100) of authentic fakes."""
    return 100.0 * float(authenticity(train_features, fake_features, chunk).mean())


# -- C_T ------------------------------------------------------------------------------------


def _cell_z(test: np.ndarray, fake: np.ndarray, train: np.ndarray) -> float:
    """Z-scored Mann–Whitney U of fake vs test nearest-training-point distances (Meehan's ``Zu``)."""
    from scipy.stats import mannwhitneyu
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=1).fit(train)
    l_fake = nn.kneighbors(fake, n_neighbors=1)[0][:, 0]
    l_test = nn.kneighbors(test, n_neighbors=1)[0][:, 0]
    u = mannwhitneyu(l_fake, l_test, alternative="less", method="asymptotic").statistic
    m, n = len(fake), len(test)
    return float((u - (n * m / 2 - 0.5)) / np.sqrt(n * m * (n + m + 1) / 12))


def ct_from_cells(train: Any, train_cells: Any, test: Any, test_cells: Any, fake: Any, fake_cells: Any,
                  min_fake_per_cell: int = 20) -> dict[str, Any]:
    """C_T from given cell labels (integers 0..k−1, k = max train label + 1), as Meehan's ``C_T``
    with τ = min_fake_per_cell / m: cells holding more than ``min_fake_per_cell`` fakes enter,
    weighted by their test share. Every cell must hold test and training points."""
    train_a, test_a = _pair(train, test, "train", "test")
    _, fake_a = _pair(train_a, fake, "train", "fake")
    t_lab, p_lab, q_lab = (np.asarray(c, np.int64).ravel() for c in (train_cells, test_cells, fake_cells))
    for rows, lab, name in ((train_a, t_lab, "train"), (test_a, p_lab, "test"), (fake_a, q_lab, "fake")):
        if len(rows) != len(lab):
            raise ValueError(f"{name}: {len(rows)} rows but {len(lab)} cell labels")
    k = int(t_lab.max()) + 1
    if min(p_lab.min(initial=0), q_lab.min(initial=0)) < 0 or max(p_lab.max(initial=0), q_lab.max(initial=0)) >= k:
        raise ValueError(f"cell labels must lie in 0..{k - 1} (k from the training labels)")
    n, m = len(test_a), len(fake_a)
    test_counts = np.bincount(p_lab, minlength=k)
    fake_counts = np.bincount(q_lab, minlength=k)
    train_counts = np.bincount(t_lab, minlength=k)
    empty = np.flatnonzero((test_counts == 0) | (train_counts == 0))
    if empty.size:
        raise ValueError(f"cells {empty.tolist()} lack test and/or training samples; use fewer cells")
    used = fake_counts / m > min_fake_per_cell / m
    z = np.zeros(k)
    for i in range(k):
        if fake_counts[i] > 0:
            z[i] = _cell_z(test_a[p_lab == i], fake_a[q_lab == i], train_a[t_lab == i])
    share = test_counts / n
    value = float(share[used] @ z[used] / share[used].sum()) if used.any() else float("nan")
    return {"value": value, "cells_used": int(used.sum()), "num_cells": k, "cell_z": z.tolist(),
            "cell_test_share": share.tolist(), "cell_fake_count": fake_counts.tolist(),
            "cell_used": used.tolist()}


def ct_score(train_features: Any, test_features: Any, fake_features: Any, num_cells: int = 3, seed: int = 0,
             pca_dim: int | None = 64, min_fake_per_cell: int = 20) -> dict[str, Any]:
    """Meehan et al.'s C_T data-copying statistic, dgm-eval's ``compute_CTscore`` pipeline.

    PCA to ``pca_dim`` components fitted on train when d > pca_dim (None: never), k-means with
    ``num_cells`` cells (n_init=10) fitted on train, then ``ct_from_cells``. Negative = copying.
    Returns {"value": C_T, "cells_used", "num_cells", "cell_z", "cell_test_share",
    "cell_fake_count", "cell_used", "pca_dim"}; value is nan when no cell holds enough fakes.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    train, test = _pair(train_features, test_features, "train_features", "test_features")
    _, fake = _pair(train, fake_features, "train_features", "fake_features")
    if len(train) < num_cells:
        raise ValueError(f"{num_cells} cells need at least as many training rows; got {len(train)}")
    used_dim = None
    if pca_dim is not None and train.shape[1] > pca_dim:
        pca = PCA(n_components=pca_dim, random_state=seed).fit(train)
        train, test, fake = pca.transform(train), pca.transform(test), pca.transform(fake)
        used_dim = pca_dim
    km = KMeans(n_clusters=num_cells, n_init=10, random_state=seed).fit(train)
    res = ct_from_cells(train, km.predict(train), test, km.predict(test), fake, km.predict(fake), min_fake_per_cell)
    if res["cells_used"] == 0:
        print(f"C_T: no cell holds more than {min_fake_per_cell} fakes", file=sys.stderr)
    return {**res, "pca_dim": used_dim}


# -- MiFID ----------------------------------------------------------------------------------


def memorization_distance(features: Any, others: Any, chunk: int = 1024) -> float:
    """Mean over rows of ``features`` of the minimum cosine distance 1 − |cos| to the rows of
    ``others`` (rows summing to 0 dropped from both, as torchmetrics); not thresholded."""
    a, b = _pair(features, others, "features", "others")
    a, b = a[a.sum(axis=1) != 0], b[b.sum(axis=1) != 0]
    if len(a) == 0 or len(b) == 0:
        raise ValueError("no rows left after dropping rows that sum to 0")
    a_t = torch.from_numpy(a / np.linalg.norm(a, axis=1, keepdims=True))
    b_t = torch.from_numpy(b / np.linalg.norm(b, axis=1, keepdims=True))
    total = 0.0
    for s in range(0, len(a_t), int(chunk)):
        total += float((1.0 - (a_t[s:s + chunk] @ b_t.T).abs()).min(dim=1).values.sum())
    return total / len(a_t)


def mifid_from_fid(fid: float, real_features: Any, fake_features: Any, cosine_eps: float = 0.1,
                   mean_over: str = "real", chunk: int = 1024) -> float:
    """MiFID from an already computed FID: FID / (M + 1e-14), M the memorization distance
    (``mean_over`` "real": over the real rows, torchmetrics; "fake": over the fakes, paper/Kaggle),
    replaced by 1 unless M < ``cosine_eps``; 0 when FID ≤ 1e-8."""
    if mean_over not in ("real", "fake"):
        raise ValueError(f"mean_over must be 'real' or 'fake', got {mean_over!r}")
    if not 0 < cosine_eps <= 1:
        raise ValueError(f"cosine_eps must lie in (0, 1], got {cosine_eps}")
    fid = float(fid)
    if fid <= 1e-8:
        return 0.0
    if mean_over == "real":
        dist = memorization_distance(real_features, fake_features, chunk)
    else:
        dist = memorization_distance(fake_features, real_features, chunk)
    if not dist < cosine_eps:
        dist = 1.0
    return fid / (dist + 10e-15)


def mifid(real_features: Any, fake_features: Any, cosine_eps: float = 0.1, mean_over: str = "real",
          chunk: int = 1024) -> float:
    """Memorization-informed FID = FID / (M + 1e-14), M the memorization distance (1 unless < ``cosine_eps``).

    ``mean_over="real"`` (default) averages M over the real rows, as torchmetrics'
    ``MemorizationInformedFrechetInceptionDistance``; ``"fake"`` over the generated rows, as the
    MiFID paper and the Kaggle evaluation code. The FID uses float64 moments with unbiased
    covariances.
    """
    real, fake = _pair(real_features, fake_features, "real_features", "fake_features")
    if min(len(real), len(fake)) < 2:
        raise ValueError(f"MiFID needs ≥ 2 rows per set; got {len(real)} real, {len(fake)} fake")
    r, f = FeatureStats.from_features(real), FeatureStats.from_features(fake)
    fid = frechet_distance(r.mean, r.cov, f.mean, f.cov)
    return mifid_from_fid(fid, real, fake, cosine_eps, mean_over, chunk)
