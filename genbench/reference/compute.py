"""Features of a set of images → a ``Reference``: the extractor run once over every image, batch by
batch, collecting float64 moments (``FeatureStats``, covariance ÷ (n − 1)), the first ``sample_n``
feature rows, the class probabilities' Inception Score (10 splits, when the extractor gives
probabilities and n ≥ 10) and the predicted-cell histogram (shapes32 classifiers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from genbench.metrics.inception_score import inception_score
from genbench.metrics.modes import cell_histogram
from genbench.metrics.stats import FeatureStats
from genbench.reference.base import Reference


def _batches(images: Any, n: int, batch_size: int, workers: int | None, desc: str,
             progress: bool) -> Iterator[tuple[int, torch.Tensor]]:
    """(start, images start … start+k−1) over [0, n): an ImageSource's own (parallel) decoding when
    it has it, else ``fetch`` / a (start, k) callable batch by batch."""
    bar = tqdm(total=n, desc=desc, disable=not progress, unit="img")
    if hasattr(images, "batches"):
        it = images.batches(batch_size, 0, n, workers=workers)
    else:
        fetch = getattr(images, "fetch", images)
        it = ((s, fetch(s, min(batch_size, n - s))) for s in range(0, n, batch_size))
    for start, batch in it:
        yield start, batch
        bar.update(len(batch))
    bar.close()


def compute_reference(images: Any, n: int, extractor: Any, dataset: str, split: str, sample_n: int = 10_000,
                      batch_size: int = 500, progress: bool = True, workers: int | None = None) -> Reference:
    """Run ``extractor`` over images [0, n) (an ImageSource or a ``(start, k) -> images`` callable
    giving uint8 NCHW RGB) in batches of ``batch_size`` rounded up to the extractor's micro-batch
    (``workers`` decoding processes for file sources) and collect float64 moments of all n, the
    first ``sample_n`` feature rows, the data's IS and the cell histogram (module docstring). The
    provenance is the extractor's plus ``dataset``, ``split``, ``n`` and ``sample_n``."""
    from genbench.microbatch import round_up

    provenance = {**extractor.provenance(), "dataset": dataset, "split": split}
    stats = FeatureStats(extractor.feature_dim, provenance, keep_rows=False)
    sample, probs, cells = [], [], []
    n_cells = getattr(extractor, "n_cells", None)  # classifier extractors with mode-coverage cells
    batch_size = round_up(batch_size, extractor.micro_batch)
    for start, batch in _batches(images, n, batch_size, workers, f"{dataset} → {extractor.name}", progress):
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
    if probs and n >= 10:  # the data's own IS (10 splits)
        mean, std = inception_score(np.concatenate(probs))
        extras["inception_score"] = {"mean": mean, "std": std, "splits": 10}
    histogram = cell_histogram(np.concatenate(cells), n_cells) if n_cells else None
    feats = np.concatenate(sample)[:sample_n]
    return Reference(stats, feats, {**provenance, "n": n, "sample_n": len(feats)}, histogram, extras)
