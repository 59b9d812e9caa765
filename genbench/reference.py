"""Reference statistics: what generated samples are compared against.

For one (dataset, split, extractor) the reference is two files in ``reference_stats/``:

- ``<dataset>-<split>-<extractor>.npz``: ``FeatureStats`` over all n images (FID), readable by
  pytorch-fid (``mu``, ``sigma``), with provenance;
- ``<dataset>-<split>-<extractor>-sample.npz``: a feature sample of the first ``sample_n``
  images (float16, for KID and precision/recall/density/coverage), plus, for classifier
  extractors, the predicted (shape × colour) cell histogram over all n (mode coverage) and the
  data's own Inception Score.

Provenance (dataset, split, n, extractor, weights sha256, preprocessing, genbench version) is
recorded in both and checked when they are used.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from genbench.assets import stats_dir
from genbench.io import atomic_path
from genbench.metrics.inception_score import inception_score
from genbench.metrics.modes import cell_histogram
from genbench.metrics.stats import FeatureStats, check_same_space

ImageBatches = Callable[[int, int], torch.Tensor]  # (start, n) -> uint8 NCHW images


@dataclass
class Reference:
    """Loaded reference statistics for one feature space."""

    stats: FeatureStats
    sample: np.ndarray
    provenance: dict
    cell_histogram: np.ndarray | None = None
    extras: dict = field(default_factory=dict)


def reference_paths(dataset: str, split: str, extractor: str, root: Path | None = None) -> tuple[Path, Path]:
    root = stats_dir() if root is None else Path(root)
    stem = f"{dataset}-{split}-{extractor}"
    return root / f"{stem}.npz", root / f"{stem}-sample.npz"


def iterate_batches(images: ImageBatches, n: int, batch_size: int, desc: str,
                    progress: bool) -> Iterator[tuple[int, torch.Tensor]]:
    """(start, images start … start+k−1) for consecutive batches of at most ``batch_size`` over [0, n)."""
    for start in tqdm(range(0, n, batch_size), desc=desc, disable=not progress, unit="batch"):
        yield start, images(start, min(batch_size, n - start))


def compute_reference(images: ImageBatches, n: int, extractor, dataset: str, split: str, sample_n: int = 10_000,
                      batch_size: int = 500, progress: bool = True) -> Reference:
    """Run ``extractor`` over images [0, n) and collect stats, a feature sample and class statistics."""
    provenance = {**extractor.provenance(), "dataset": dataset, "split": split}
    stats = FeatureStats(extractor.feature_dim, provenance, keep_rows=False)
    sample, probs, cells = [], [], []
    n_cells = getattr(extractor, "n_cells", None)  # classifier extractors with mode-coverage cells
    for start, batch in iterate_batches(images, n, batch_size, f"{dataset}/{split} → {extractor.name}", progress):
        if n_cells:
            out, predictions = extractor.extract_all(batch, start)
            cells.append(predictions["cell"].numpy())
        else:
            out = extractor.extract(batch, start)
        stats.update(out.features)
        if sum(len(s) for s in sample) < sample_n:
            sample.append(out.features.numpy())
        if out.probs is not None:
            probs.append(out.probs.numpy())
    extras = {}
    if probs:
        mean, std = inception_score(np.concatenate(probs))
        extras["inception_score"] = {"mean": mean, "std": std, "splits": 10}
    histogram = cell_histogram(np.concatenate(cells), n_cells) if n_cells else None
    feats = np.concatenate(sample)[:sample_n]
    return Reference(stats, feats, {**provenance, "n": n, "sample_n": len(feats)}, histogram, extras)


def save_reference(ref: Reference, root: Path | None = None) -> tuple[Path, Path]:
    """Write both files atomically; returns their paths."""
    p = ref.provenance
    stats_path, sample_path = reference_paths(p["dataset"], p["split"], p["extractor"], root)
    ref.stats.save(stats_path)
    with atomic_path(sample_path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **_sample_arrays(ref))
    return stats_path, sample_path


def _sample_arrays(ref: Reference) -> dict[str, np.ndarray]:
    """The feature sample (float16), the cell histogram when there is one, and the provenance JSON."""
    p = ref.provenance
    record = {**ref.stats.provenance, "n": p["n"], "sample_n": p["sample_n"], **_version(), **ref.extras}
    arrays = {"features": ref.sample.astype(np.float16), "provenance": np.array(json.dumps(record, sort_keys=True))}
    if ref.cell_histogram is not None:
        arrays["cell_histogram"] = ref.cell_histogram
    return arrays


def save_reference_file(ref: Reference, path: str | Path) -> Path:
    """Write ``ref`` as one ``.npz``, atomically: ``mu`` and ``sigma`` (float64, as pytorch-fid reads
    them), ``n``, ``features`` (the float16 feature sample), ``cell_histogram`` when there is one,
    and ``provenance`` (JSON: feature space, dataset, split, n, sample_n, genbench version)."""
    path = Path(path)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, mu=ref.stats.mean, sigma=ref.stats.cov, n=np.int64(ref.stats.n), **_sample_arrays(ref))
    return path


def load_reference(dataset: str = "shapes32", split: str = "train", extractor: str = "shapes-net",
                   root: Path | None = None, expect: dict | None = None) -> Reference:
    """Load reference statistics; ``expect`` (an extractor's provenance) is checked against them."""
    stats_path, sample_path = reference_paths(dataset, split, extractor, root)
    for path in (stats_path, sample_path):
        if not path.is_file():
            raise FileNotFoundError(f"reference statistics {path} not found; regenerate them with "
                                    f"`genbench stats {dataset} --split {split} --extractor {extractor}`")
    stats = FeatureStats.load(stats_path)
    with np.load(sample_path, allow_pickle=False) as f:
        sample = f["features"].astype(np.float64)
        provenance = json.loads(str(f["provenance"]))
        histogram = f["cell_histogram"] if "cell_histogram" in f.files else None
    check_same_space(stats.provenance, provenance, f"{stats_path.name}", f"{sample_path.name}")
    if expect is not None:
        check_same_space(stats.provenance, expect, f"reference statistics {stats_path.name}", "the extractor in use")
    extras = {k: provenance[k] for k in ("inception_score",) if k in provenance}
    return Reference(stats, sample, provenance, histogram, extras)


def _version() -> dict:
    from genbench import __version__

    return {"genbench_version": __version__}
