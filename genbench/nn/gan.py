"""DCGAN-style generator and spectral-norm discriminator for 32×32 RGB (the bundled shapes32 GAN).

Images: float RGB in [−1, 1], NCHW, 32×32 on both sides (the generator ends in tanh; map real
uint8 images with x/127.5 − 1 and samples back with (x + 1)/2). Latents: z ~ N(0, I) of shape
(n, z_dim). Networks only: the hinge loss lives in ``genbench.training.gan``, EMA in ``genbench.training.ema``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def _up_block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class Generator(nn.Module):
    """z (n, z_dim) → images (n, 3, 32, 32) in [−1, 1].

    Linear to 4×4×4w + BatchNorm + ReLU, then three (nearest 2× upsample, 3×3 conv, BatchNorm,
    ReLU) blocks at 2w, w, w channels (4 → 8 → 16 → 32) and a 3×3 conv to RGB with tanh.
    Upsample + conv rather than DCGAN's stride-2 transposed convs: with those, two trial runs on
    shapes32 (Adam β (0.5, 0.999), D widths 32 and 16) collapsed to a single checkerboarded image
    within ~300 steps, while this version gave varied samples.
    """

    def __init__(self, z_dim: int = 128, width: int = 64) -> None:
        super().__init__()
        self.z_dim, self.width = z_dim, width
        self.net = nn.Sequential(
            nn.Linear(z_dim, 4 * width * 16, bias=False), nn.Unflatten(1, (4 * width, 4, 4)),
            nn.BatchNorm2d(4 * width), nn.ReLU(inplace=True),
            *_up_block(4 * width, 2 * width), *_up_block(2 * width, width), *_up_block(width, width),
            nn.Conv2d(width, 3, 3, 1, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    """Images (n, 3, 32, 32) in [−1, 1] → one real/fake logit per image, shape (n,).

    SN-GAN's "standard CNN" at reduced width: a 3×3 conv, then three stages of (4×4 stride-2
    conv, 3×3 conv) at 2w, 4w, 8w channels (32 → 16 → 8 → 4) and a linear layer; LeakyReLU(0.1)
    after every conv; no normalisation layers; every conv and the linear layer is spectrally
    normalised (``torch.nn.utils.parametrizations.spectral_norm``, one power iteration per
    training-mode forward).
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.width = width
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(3, width, 3, 1, 1)), nn.LeakyReLU(0.1)]
        c = width
        for _ in range(3):
            layers += [spectral_norm(nn.Conv2d(c, 2 * c, 4, 2, 1)), nn.LeakyReLU(0.1),
                       spectral_norm(nn.Conv2d(2 * c, 2 * c, 3, 1, 1)), nn.LeakyReLU(0.1)]
            c *= 2
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = spectral_norm(nn.Linear(c * 16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)
