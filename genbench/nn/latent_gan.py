"""A convolutional GAN in the latent space of the bundled KL autoencoder (the bundled shapes32 GAN).

Latents: ``scale_factor · z`` with z the ``ldm-autoencoder`` latent, (n, 4, 8, 8), about unit
variance per value (the space the latent diffusion model works in). The generator maps
z_g ~ N(0, I) of shape (n, z_dim) to such a latent; images are ``decoder.decode(latent /
scale_factor)``, float RGB in [−1, 1] (clamped before quantising). The discriminator reads latents
only: it never sees pixels, and no evaluator network (shapes-net, shapes-clip) is involved.

Networks only: the hinge loss lives in ``genbench.training.gan``, EMA in ``genbench.training.ema``, the data in
``genbench.training.train_latent_gan``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

LATENT_SHAPE = (4, 8, 8)


def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class LatentGenerator(nn.Module):
    """z (n, z_dim) → latents (n, 4, 8, 8), unbounded (a linear last layer).

    Linear to 4×4×2w + BatchNorm + ReLU, a 3×3 conv block at 4×4, nearest 2× upsample to 8×8,
    two 3×3 conv blocks at w channels (conv, BatchNorm, ReLU), and a 3×3 conv to the 4 latent
    channels.
    """

    def __init__(self, z_dim: int = 128, width: int = 64, latent_channels: int = LATENT_SHAPE[0]) -> None:
        super().__init__()
        self.z_dim, self.width = z_dim, width
        self.net = nn.Sequential(
            nn.Linear(z_dim, 2 * width * 16, bias=False), nn.Unflatten(1, (2 * width, 4, 4)),
            nn.BatchNorm2d(2 * width), nn.ReLU(inplace=True),
            *_conv_bn_relu(2 * width, 2 * width),
            nn.Upsample(scale_factor=2, mode="nearest"),
            *_conv_bn_relu(2 * width, width), *_conv_bn_relu(width, width),
            nn.Conv2d(width, latent_channels, 3, 1, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class LatentDiscriminator(nn.Module):
    """Latents (n, 4, 8, 8) → one real/fake logit per latent, shape (n,).

    Two 3×3 convs at w and w channels (8×8), a 4×4 stride-2 conv to 2w (4×4), a 3×3 conv at 2w, and
    a linear layer; LeakyReLU(0.1) after every conv; every layer spectrally normalised.
    """

    def __init__(self, width: int = 64, latent_channels: int = LATENT_SHAPE[0]) -> None:
        super().__init__()
        self.width = width
        self.features = nn.Sequential(
            spectral_norm(nn.Conv2d(latent_channels, width, 3, 1, 1)), nn.LeakyReLU(0.1),
            spectral_norm(nn.Conv2d(width, width, 3, 1, 1)), nn.LeakyReLU(0.1),
            spectral_norm(nn.Conv2d(width, 2 * width, 4, 2, 1)), nn.LeakyReLU(0.1),
            spectral_norm(nn.Conv2d(2 * width, 2 * width, 3, 1, 1)), nn.LeakyReLU(0.1),
            nn.Flatten())
        self.head = spectral_norm(nn.Linear(2 * width * 16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)
