"""Image disturbances of the FID paper's experiment (Heusel et al. 2017, Fig. 1 / App. A).

Each function maps a uint8 NCHW batch and a level in [0, 1] (0 = clean) to a disturbed uint8
batch, seeded by ``generator`` so a study is reproducible. Disturbed values are rounded and
clamped to [0, 255] here, as part of making the disturbed image (the image contract itself never
clips). ``LEVELS`` holds the four increasing levels used in the study.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torchvision.transforms.v2.functional as TF

Disturbance = Callable[[torch.Tensor, float, torch.Generator], torch.Tensor]
LEVELS = (0.25, 0.5, 0.75, 1.0)


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return x.round().clamp_(0, 255).to(torch.uint8)


def gaussian_noise(images: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
    """Additive Gaussian noise, std = 64·level (pixel units, 0–255)."""
    noise = torch.randn(images.shape, generator=generator) * (64.0 * level)
    return _to_uint8(images.float() + noise)


def gaussian_blur(images: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian blur with σ = 2·level pixels (kernel 2⌈3σ⌉ + 1)."""
    if level <= 0:
        return images.clone()
    sigma = 2.0 * level
    k = 2 * int(torch.tensor(3 * sigma).ceil()) + 1
    return _to_uint8(TF.gaussian_blur(images.float(), kernel_size=[k, k], sigma=[sigma, sigma]))


def black_rectangles(images: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
    """``round(4·level)`` black rectangles per image, sides uniform in [4, 4 + 8·level] px, at random positions."""
    out = images.clone()
    n, _, h, w = images.shape
    for _ in range(round(4 * level)):
        side_hi = 4 + int(8 * level)
        hs = torch.randint(4, side_hi + 1, (n,), generator=generator)
        ws = torch.randint(4, side_hi + 1, (n,), generator=generator)
        ys = (torch.rand(n, generator=generator) * (h - hs + 1)).long()
        xs = (torch.rand(n, generator=generator) * (w - ws + 1)).long()
        rows = torch.arange(h)[None, :, None]
        cols = torch.arange(w)[None, None, :]
        mask = ((rows >= ys[:, None, None]) & (rows < (ys + hs)[:, None, None])
                & (cols >= xs[:, None, None]) & (cols < (xs + ws)[:, None, None]))
        out[mask[:, None].expand_as(out)] = 0
    return out


def salt_and_pepper(images: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
    """A fraction 0.04·level of pixels (1 % to 4 %) set to black or white (each with probability ½), all channels."""
    n, c, h, w = images.shape
    u = torch.rand((n, 1, h, w), generator=generator)
    out = images.clone()
    frac = 0.04 * level
    out[(u < frac / 2).expand_as(out)] = 0
    out[((u >= frac / 2) & (u < frac)).expand_as(out)] = 255
    return out


DISTURBANCES: dict[str, Disturbance] = {
    "gaussian_noise": gaussian_noise,
    "gaussian_blur": gaussian_blur,
    "black_rectangles": black_rectangles,
    "salt_and_pepper": salt_and_pepper,
}
