"""A generator that copies shapes32 images: the positive control of the memorization metrics.

``ShapesCopier(split="train", pixels=4, delta=16)`` returns image i of ``split`` with ``pixels``
pixels changed by up to ±``delta`` grey levels per channel (positions and changes drawn from
(seed, i), clipped to [0, 255]), i.e. a generator that memorised its training data and adds a
little noise. Sample i copies image i, so with n ≤ 10,000 every copy is among the feature rows of
the bundled shapes32:train reference (its first 10,000 images), which the memorization metrics
compare with. ``split="test", pixels=0`` is the negative control:
fresh images from the data distribution that no model saw. From the command line:
``genbench eval genbench.generators.copying:ShapesCopier --metrics authpct,ct,mifid``.
"""

from __future__ import annotations

import numpy as np
import torch

from genbench.data.shapes32 import IMAGE_SIZE, shapes32
from genbench.generators.base import Generator, GeneratorMeta


class ShapesCopier(Generator):
    """Images of shapes32 ``split`` with ``pixels`` random pixels changed by up to ±``delta``."""

    def __init__(self, split: str = "train", pixels: int = 4, delta: int = 16) -> None:
        if pixels < 0 or pixels > IMAGE_SIZE * IMAGE_SIZE:
            raise ValueError(f"pixels must be in [0, {IMAGE_SIZE * IMAGE_SIZE}], got {pixels}")
        if not 0 <= delta <= 255:
            raise ValueError(f"delta must be in [0, 255], got {delta}")
        self.split, self.pixels, self.delta = split, int(pixels), int(delta)
        self.meta = GeneratorMeta(name=f"copy-{split}-{pixels}px", nfe=0, resolution=(IMAGE_SIZE, IMAGE_SIZE),
                                  options={"split": split, "pixels": self.pixels, "delta": self.delta})

    def sample_range(self, seed: int, start: int, n: int) -> torch.Tensor:
        images = shapes32(self.split, start, n).images.clone()
        if self.pixels:
            for j in range(n):  # image start+j's changes depend only on (seed, start+j)
                rng = np.random.default_rng([seed, start + j])
                where = rng.choice(IMAGE_SIZE * IMAGE_SIZE, self.pixels, replace=False)
                change = torch.from_numpy(rng.integers(-self.delta, self.delta + 1, (3, self.pixels)))
                flat = images[j].view(3, -1)
                index = torch.from_numpy(where)
                flat[:, index] = (flat[:, index].long() + change).clamp(0, 255).to(torch.uint8)
        return images
