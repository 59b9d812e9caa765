"""The FeatureExtractor interface every metric's feature space goes through.

An extractor turns a validated image batch (uint8 [0, 255] or float [0, 1], NCHW RGB) into
per-image features (n, d), and, where it has a classifier head, class probabilities (n, k).
``extract`` does both in one forward pass, so the runner calls each extractor once per batch.
The network always runs on micro-batches of exactly ``micro_batch`` images aligned to global image
indices: ``start`` (default 0) is the global index of the batch's first image, and image i is
computed in micro-batch ⌊i / m⌋ at position i mod m (``genbench.microbatch``), so its features are
bit-identical whatever batches the images arrive in.
Its ``provenance`` (name, weights sha256, preprocessing) travels with every statistic.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import torch

from genbench.images import validate_images
from genbench.microbatch import map_micro_batches

MICRO_BATCH = 50  # images per network call


@dataclass
class Extracted:
    """One forward pass: ``features`` (n, d) float32 and ``probs`` (n, k) or None."""

    features: torch.Tensor
    probs: torch.Tensor | None = None


class FeatureExtractor(abc.ABC):
    """Base class. Subclasses set ``name``, ``feature_dim``, ``weights_sha256``, ``preprocessing``
    and implement ``_extract`` on a validated batch."""

    name: str = "unnamed"
    feature_dim: int = 0
    weights_sha256: str | None = None
    preprocessing: str = ""
    device: torch.device = torch.device("cpu")
    micro_batch: int = MICRO_BATCH

    @abc.abstractmethod
    def _extract(self, images: torch.Tensor) -> Extracted:
        """Features (and probabilities) for a validated batch."""

    @torch.inference_mode()
    def extract(self, images: object, start: int = 0) -> Extracted:
        """Validate ``images`` (global indices start, start+1, …) and run the network once per
        micro-batch; results are on the CPU."""
        def run(chunk: torch.Tensor) -> dict:
            out = self._extract(chunk)
            return {"features": out.features.detach().float().cpu(),
                    "probs": None if out.probs is None else out.probs.detach().cpu()}

        return Extracted(**map_micro_batches(run, validate_images(images), self.micro_batch, start))

    def features(self, images: object, start: int = 0) -> torch.Tensor:
        """(n, d) float32 features on the CPU (``start``: as in ``extract``)."""
        return self.extract(images, start).features

    def probs(self, images: object, start: int = 0) -> torch.Tensor:
        """(n, k) class probabilities on the CPU (float64); only for extractors with a classifier."""
        out = self.extract(images, start)
        if out.probs is None:
            raise NotImplementedError(f"extractor {self.name!r} has no classifier head")
        return out.probs

    def provenance(self) -> dict:
        """What identifies this feature space: stats from a different one are not comparable."""
        return {
            "extractor": self.name,
            "weights_sha256": self.weights_sha256,
            "preprocessing": self.preprocessing,
            "feature_dim": self.feature_dim,
        }

    def to(self, device: str | torch.device) -> "FeatureExtractor":
        self.device = torch.device(device)
        for value in vars(self).values():
            if isinstance(value, torch.nn.Module):
                value.to(self.device)
        return self
