"""The KL autoencoder's view of training images, for the trainers that learn on its latents
(``train_ldm``, ``train_latent_gan``)."""

from __future__ import annotations

import torch

from genbench.nn.autoencoder import KLAutoencoder
from genbench.training.pixels import uint8_to_signed_unit


@torch.inference_mode()
def encode_images(model: KLAutoencoder, images: torch.Tensor, batch_size: int = 500,
                  device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior (mean, std), float32 (n, c, h, w) each, on the CPU, of uint8 ``images`` (encoded on ``device``)."""
    means, stds = [], []
    for lo in range(0, len(images), batch_size):
        mean, logvar = model.encode(uint8_to_signed_unit(images[lo:lo + batch_size]).to(device))
        means.append(mean.float().cpu())
        stds.append(torch.exp(0.5 * logvar).float().cpu())
    return torch.cat(means), torch.cat(stds)
