"""The Generator protocol: anything that produces uint8 NCHW RGB samples, indexable by seed.

Contract: sample i of ``sample(n, seed)`` depends only on (seed, i) — never on ``n``, the batch
size or the process — so metrics do not change with batching or sharding. ``sample_range``
is the one method a generator implements; ``sample`` and ``batches`` are built on it.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import torch


@dataclass
class GeneratorMeta:
    """What a generator is: ``nfe`` network evaluations per sample (0 for stored samples),
    ``parameters`` (0 when unknown), ``resolution`` (H, W), ``conditioning`` ("none", "caption", …),
    ``input``: for stored samples read from files, how they were read (``ImageSource.provenance``)."""

    name: str
    nfe: int = 0
    parameters: int = 0
    resolution: tuple[int, int] | None = None
    conditioning: str = "none"
    options: dict = field(default_factory=dict)
    input: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class Generator(abc.ABC):
    """Base class: implement ``sample_range``; set ``meta``.

    ``micro_batch``: the number of samples the generator computes per network call, aligned to
    global indices (``genbench.microbatch``), or None when it has no such unit (stored samples, user
    callables); the runner aligns its batches and shards to it."""

    meta: GeneratorMeta
    micro_batch: int | None = None

    @abc.abstractmethod
    def sample_range(self, seed: int, start: int, n: int) -> torch.Tensor:
        """Samples start … start+n−1 for ``seed`` as uint8 (n, 3, H, W)."""

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """The first ``n`` samples for ``seed``, uint8 (n, 3, H, W)."""
        return self.sample_range(seed, 0, n)

    def batches(self, n: int, seed: int = 0, batch_size: int = 256, start: int = 0) -> Iterator[torch.Tensor]:
        """Samples start … start+n−1 in batches of at most ``batch_size``."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        for lo in range(start, start + n, batch_size):
            yield self.sample_range(seed, lo, min(batch_size, start + n - lo))
