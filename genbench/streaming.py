"""``StreamingFID``: the FID of images passed batch by batch (a training loop) against a fixed reference.

```python
fid = gb.StreamingFID("real.npz")            # or a folder, shapes32:train, a Reference, ...
for images in batches:                       # uint8 [0, 255] or float [0, 1], NCHW RGB
    fid.update(images)
result = fid.compute()                       # MetricResult: value, n, provenance; then fid.reset()
```

Conventions:

- Images: uint8 [0, 255] or float [0, 1], NCHW RGB, on any device. Floats are rounded to uint8
  first (``unit_to_uint8``: x · 255, rounded), as ``genbench eval`` does with a generator that
  returns floats, so the same samples give the same features.
- Each ``update`` runs the extractor on its images as global indices ``start`` … (default: the
  number of images this process has passed since the last ``reset``) in the extractor's fixed
  micro-batches (``genbench.microbatch``): a feature row does not depend on how the images were
  split into updates.
- State: exact sums of the features and of their outer products (``ExactSums``), no rows: memory
  does not grow with n (6 to 8 d × d float64 arrays: 0.8 MB for shapes-net's d = 128, about
  240 MB for Inception's d = 2048). Exact sums make the result independent of the batch split,
  the order and the number of processes, bit for bit, and equal to ``genbench eval --metrics
  fid`` on the same samples (whose FID value reads the same exact sums).
- ``compute()`` under ``torch.distributed`` (a process group of more than one process): the
  sums are summed over the ranks in two collectives, whatever the number of updates each rank
  made (a rank with fewer batches, or none, does not hang the others), and every rank gets the
  same result. Every rank must call ``compute()`` (and build the object: a reference read from
  images is computed by rank 0 first). For the bits of one process, rank r's images must be
  global indices: pass ``start=`` (the index of its first image) unless its shard begins at a
  multiple of the extractor's ``micro_batch``.
- ``compute()`` keeps the state (call it every epoch; ``reset()`` starts again). Its result has
  no interval (``ci`` None): an interval resamples the feature rows, which are not kept
  (``gb.compare_sets`` / ``genbench eval`` keep them).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from genbench.api import MetricResult, build_extractor, side_reference
from genbench.errors import GenbenchError
from genbench.features.base import FeatureExtractor
from genbench.harness import distributed
from genbench.images import unit_to_uint8, validate_images
from genbench.metrics.exact_sums import ExactSums
from genbench.reference import Reference


class StreamingFID:
    """FID of streamed images against ``reference`` (module docstring).

    ``reference``: a ``Reference`` or anything ``genbench eval --ref`` takes (a statistics file,
    a folder or ``.zip`` of images, an ``.npz``, a torchvision root, ``shapes32[:split]``), or
    images in memory. ``extractor``: a name or a built FeatureExtractor (None: the one the
    reference records; shapes-net for shapes32; else inception-v3-fid). ``weights``, ``resize``,
    ``any_weights``, ``device``, ``extractor_options``: as ``gb.fid``; ``batch_size``,
    ``workers``, ``resize_inputs``, ``cache``, ``progress``: how an image reference is read.
    """

    def __init__(self, reference: Reference | str | Path | Any, extractor: FeatureExtractor | str | None = None, *,
                 weights: str | Path | None = None, resize: str | None = None, any_weights: bool = False,
                 device: str | torch.device | None = None, extractor_options: dict | None = None,
                 batch_size: int = 500, workers: int | None = None, resize_inputs: int | None = None,
                 cache: bool = True, progress: bool = True) -> None:
        if isinstance(reference, Reference) and extractor is None:
            extractor = reference.provenance.get("extractor")
            if extractor is None:
                raise GenbenchError("the reference does not record its extractor; pass extractor=")
        specs = [str(reference)] if isinstance(reference, (str, Path)) else []
        self.extractor, declared = build_extractor(extractor, specs, weights=weights, resize=resize,
                                                   any_weights=any_weights, device=device,
                                                   extractor_options=extractor_options)
        self.reference = side_reference(reference, self.extractor, declared, batch_size=batch_size, workers=workers,
                                        resize_inputs=resize_inputs, cache=cache, progress=progress)
        if self.reference.mu is None:
            raise GenbenchError(f"reference {self.reference.provenance.get('source')} holds no moments (mu, sigma)")
        self._frechet = self.reference.frechet()
        self._sums = ExactSums(self.extractor.feature_dim, self.extractor.provenance())
        self._next = 0

    @property
    def n(self) -> int:
        """Images this process has passed since the last ``reset``."""
        return self._sums.n

    def update(self, images: Any, start: int | None = None) -> None:
        """Add a batch: uint8 [0, 255] or float [0, 1] NCHW RGB (floats rounded to uint8 first).
        ``start``: the global index of its first image (default: right after the previous batch)."""
        batch = unit_to_uint8(validate_images(images, name="StreamingFID.update"))
        start = self._next if start is None else int(start)
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        self._sums.update(self.extractor.extract(batch, start).features)
        self._next = start + len(batch)

    def compute(self) -> MetricResult:
        """The FID of every image passed (on every rank) against the reference; the state is kept."""
        sums = self._sums
        if distributed.world_size() > 1:
            sums = copy.deepcopy(sums).all_reduce()
        if sums.n < 2:
            raise GenbenchError(f"a FID needs at least 2 images; {sums.n} were passed")
        stats = sums.to_stats()
        from genbench.harness.runner import versions

        provenance = {**self.extractor.provenance(), "reference": self.reference.provenance,
                      "world_size": distributed.world_size(), "micro_batch": {"extractor": self.extractor.micro_batch},
                      "moments": "exact sums (genbench.metrics.exact_sums)",
                      "device": str(getattr(self.extractor, "device", "cpu")), **versions()}
        return MetricResult("fid", self._frechet.distance(stats.mean, stats.cov), None, stats.n, provenance,
                            {"ci_reason": "streaming keeps sums, not feature rows, so there is nothing to resample"})

    def reset(self) -> None:
        """Forget every image passed (the reference and extractor stay)."""
        self._sums.reset()
        self._next = 0

    def __repr__(self) -> str:
        source = self.reference.provenance.get("source")
        return f"StreamingFID(extractor={self.extractor.name!r}, reference={source!r}, n={self.n})"
