"""What every bundled generator (``genbench.generators.bundled``, ``genbench.generators.ldm``)
shares: ``BundledGenerator`` loads its manifest entry and network and samples in aligned
micro-batches of ``MICRO_BATCH`` samples (``genbench.microbatch``); ``n_params`` counts a
network's parameters for ``GeneratorMeta``.
"""

from __future__ import annotations

import abc
from typing import Any

import torch

from genbench.assets import load_bundled_weights
from genbench.generators.base import Generator
from genbench.microbatch import check_micro_batch, sample_aligned
from genbench.nn.device import default_device

MICRO_BATCH = 50  # samples per network call (part of what a sample is); a multiple of it aligns a batch


def n_params(module: torch.nn.Module) -> int:
    """The number of parameters of ``module``."""
    return sum(p.numel() for p in module.parameters())


class BundledGenerator(Generator):
    """Shared loading (manifest entry ``weights_name``, network on ``device`` in eval mode) and
    sampling in aligned micro-batches: subclasses implement ``_sample_block(seed, lo)``, samples
    lo … lo+m−1."""

    weights_name: str

    def __init__(self, device: str | torch.device | None = None, micro_batch: int = MICRO_BATCH) -> None:
        self.device = torch.device(device) if device is not None else default_device()
        self.micro_batch = check_micro_batch(micro_batch)
        self.state, self.entry = load_bundled_weights(self.weights_name)
        self.config: dict[str, Any] = self.entry["config"]

    @abc.abstractmethod
    def _sample_block(self, seed: int, lo: int) -> torch.Tensor:
        """Samples lo … lo+m−1 (lo a multiple of m = ``micro_batch``) as uint8 (m, 3, H, W)."""

    def sample_range(self, seed: int, start: int, n: int) -> torch.Tensor:
        if n == 0:
            return torch.empty((0, 3, 32, 32), dtype=torch.uint8)
        return sample_aligned(lambda lo: self._sample_block(seed, lo), start, n, self.micro_batch)

    def _finish(self, net: torch.nn.Module) -> torch.nn.Module:
        net.load_state_dict(self.state)
        del self.state
        return net.to(self.device).eval().requires_grad_(False)

    def weights_meta(self) -> dict[str, Any]:
        return {"weights": self.entry["file"], "weights_sha256": self.entry["sha256"], "micro_batch": self.micro_batch}
