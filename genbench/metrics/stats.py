"""FeatureStats: streaming, mergeable sufficient statistics of a feature distribution.

State: n, Σx and Σxxᵀ, all float64 (float32 sums made FID depend on batch size, torchmetrics
#1620). Mean = Σx / n; covariance is unbiased (÷ (n − 1)), as numpy / pytorch-fid. Merging the
stats of two parts gives the stats of their union, so results do not depend on batch size or
process count. While n ≤ d the raw rows are kept too (at most d × d values, the size of Σxxᵀ),
so the Fréchet distance can use its exact low-rank form.

Saved as ``.npz`` that pytorch-fid reads (``mu``, ``sigma``) plus ``n``, the kept rows if any,
and a JSON ``provenance`` record (extractor name and weights sha256, preprocessing, n, dataset,
genbench version).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genbench.io import atomic_path

PROVENANCE_KEYS = ("extractor", "weights_sha256", "preprocessing")


def as_float64_2d(x: Any, name: str = "features") -> np.ndarray:
    """Features (n, d) as a float64 numpy array; raise ValueError on bad rank or non-finite values."""
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (n, d) array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: {int((~np.isfinite(arr)).sum())} non-finite values in shape {arr.shape}")
    return arr


class ProvenanceMismatch(ValueError):
    """Two statistics (or stats and an extractor) come from different feature spaces."""


def check_same_space(a: dict, b: dict, what_a: str = "reference statistics", what_b: str = "features") -> None:
    """Refuse to compare quantities whose extractor, weights or preprocessing differ."""
    diffs = [k for k in PROVENANCE_KEYS if a.get(k) is not None and b.get(k) is not None and a.get(k) != b.get(k)]
    if diffs:
        def describe(p: dict) -> str:
            return ", ".join(f"{k}={p.get(k)!r}" for k in PROVENANCE_KEYS)
        raise ProvenanceMismatch(
            f"{what_a} and {what_b} come from different feature spaces ({', '.join(diffs)} differ):\n"
            f"  {what_a}: {describe(a)}\n  {what_b}: {describe(b)}\n"
            "Recompute one of them with the same extractor."
        )


class FeatureStats:
    """Sufficient statistics (n, Σx, Σxxᵀ in float64) of d-dimensional features.

    ``update(feats)`` adds rows, ``merge(other)`` adds another partial result, ``mean`` and
    ``cov`` (unbiased) read them out. ``provenance`` is a free dict describing the feature space.
    """

    def __init__(self, dim: int, provenance: dict | None = None, keep_rows: bool = True):
        if int(dim) <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        self.dim = int(dim)
        self.n = 0
        self.sum = np.zeros(self.dim, np.float64)
        self.sum_outer = np.zeros((self.dim, self.dim), np.float64)
        self.provenance: dict = dict(provenance or {})
        self._rows: list[np.ndarray] | None = [] if keep_rows else None

    # -- accumulation -----------------------------------------------------------------------
    def update(self, feats: Any) -> "FeatureStats":
        """Add a batch of features (n, d); numpy or torch, any float dtype (summed in float64)."""
        x = as_float64_2d(feats)
        if x.shape[1] != self.dim:
            raise ValueError(f"feature dimension mismatch: stats have d={self.dim}, batch has d={x.shape[1]}")
        self.n += x.shape[0]
        self.sum += x.sum(axis=0)
        self.sum_outer += x.T @ x
        self._keep(x)
        return self

    def _keep(self, x: np.ndarray) -> None:
        if self._rows is None:
            return
        if self.n > self.dim:
            self._rows = None  # full rank possible: the dense form is used from here on
        else:
            self._rows.append(x.copy())

    # -- read-out ---------------------------------------------------------------------------
    @property
    def mean(self) -> np.ndarray:
        if self.n < 1:
            raise ValueError("no samples: the mean needs at least 1")
        return self.sum / self.n

    @property
    def cov(self) -> np.ndarray:
        """Unbiased covariance (÷ (n − 1)), float64, exactly symmetric."""
        if self.n < 2:
            raise ValueError(f"a covariance needs at least 2 samples, got n={self.n}")
        mu = self.mean
        cov = (self.sum_outer - self.n * np.outer(mu, mu)) / (self.n - 1)
        return (cov + cov.T) / 2

    @property
    def rows(self) -> np.ndarray | None:
        """The raw feature rows when n ≤ d (for the low-rank Fréchet form), else None."""
        if self._rows is None or self.n == 0:
            return None
        return np.concatenate(self._rows, axis=0)

    def centred_factor(self) -> np.ndarray | None:
        """A with cov = AᵀA (A = centred rows / √(n − 1)), available when n ≤ d; else None."""
        rows = self.rows
        if rows is None or self.n < 2:
            return None
        return (rows - self.mean) / np.sqrt(self.n - 1)

    # -- constructors ------------------------------------------------------------------------
    @classmethod
    def from_features(cls, feats: Any, provenance: dict | None = None) -> "FeatureStats":
        x = as_float64_2d(feats)
        return cls(x.shape[1], provenance).update(x)

    @classmethod
    def from_moments(cls, mu: np.ndarray, sigma: np.ndarray, n: int, provenance: dict | None = None,
                     rows: np.ndarray | None = None) -> "FeatureStats":
        """Rebuild the sums from a mean, an unbiased covariance and n."""
        mu = np.asarray(mu, np.float64)
        sigma = np.asarray(sigma, np.float64)
        if mu.ndim != 1 or sigma.shape != (mu.size, mu.size):
            raise ValueError(f"mu must be (d,) and sigma (d, d); got {mu.shape} and {sigma.shape}")
        st = cls(mu.size, provenance, keep_rows=rows is not None)
        st.n = int(n)
        st.sum = mu * n
        st.sum_outer = sigma * (n - 1) + n * np.outer(mu, mu)
        if rows is not None:
            st._rows = [np.asarray(rows, np.float64)]
        return st

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write ``.npz`` (``mu``, ``sigma`` as pytorch-fid reads them, ``n``, ``provenance`` JSON,
        and ``rows`` when n ≤ d), atomically."""
        record = {**self.provenance, "n": self.n}
        record.setdefault("genbench_version", _version())
        arrays = {"mu": self.mean, "sigma": self.cov, "n": np.int64(self.n),
                  "provenance": np.array(json.dumps(record, sort_keys=True))}
        if self.rows is not None:
            arrays["rows"] = self.rows
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FeatureStats":
        """Read stats written by ``save`` (or a pytorch-fid ``.npz`` with mu/sigma only, n unknown → 0 is refused)."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as f:
                data = {k: f[k] for k in f.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"cannot read statistics file {path}: {exc} (truncated or not an .npz?)") from exc
        missing = [k for k in ("mu", "sigma") if k not in data]
        if missing:
            raise ValueError(f"statistics file {path} lacks {missing}; it has {sorted(data)}")
        provenance = json.loads(str(data["provenance"])) if "provenance" in data else {}
        n = int(data["n"]) if "n" in data else int(provenance.get("n", 0))
        if n < 2:
            raise ValueError(f"statistics file {path} does not record n ≥ 2 samples (n={n}); "
                             "FeatureStats needs n to merge and to pick the Fréchet form")
        provenance.pop("n", None)
        return cls.from_moments(data["mu"], data["sigma"], n, provenance, data.get("rows"))

    def __repr__(self) -> str:
        return f"FeatureStats(dim={self.dim}, n={self.n}, extractor={self.provenance.get('extractor')!r})"


def _version() -> str:
    from genbench import __version__

    return __version__
