"""The pixel convention of the trainers whose networks see signed images (the DDPM U-Net and the KL
autoencoder): uint8 u in [0, 255] → float x = 2·u/255 − 1 in [−1, 1]. The way back is
``genbench.images.signed_unit_to_uint8``."""

from __future__ import annotations

import torch


def uint8_to_signed_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (n, 3, H, W) → float32 x = 2·u8/255 − 1 ∈ [−1, 1]."""
    return images.float() * (2.0 / 255.0) - 1.0
