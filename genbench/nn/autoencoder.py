"""KLAutoencoder: the first stage of latent diffusion (Rombach et al. 2022's "KL-f4"), at shapes32 scale.

Images: float RGB x = 2·u8/255 − 1 ∈ [−1, 1], NCHW, H and W divisible by 4 (32×32 for shapes32).
Latents: (n, ``latent_channels``, H/4, W/4): 8×8×4 for shapes32, a 3,072 → 256 compression.

``encode(x) -> (mean, logvar)``: the diagonal Gaussian posterior q(z|x) (natural-log variance,
clamped to [−30, 20] as in the LDM code). ``decode(z) -> x̂`` in the image convention (not
clamped; callers clamp to [−1, 1] before quantising). The latent diffusion model works on
``scale_factor · z`` with scale_factor = 1/std of the latents, computed by the training script
over ≥ 10,000 training encodings and stored with the weights; it is not part of this module.

Architecture (the LDM autoencoder without its attention layers, which at 8×8 buy nothing here):
encoder: 3×3 conv to ``channels[0]``; per level ``num_res_blocks`` residual blocks (GroupNorm →
SiLU → 3×3 conv, twice, plus a skip, 1×1 if widths differ) at width ``channels[level]`` and,
between levels, a stride-2 3×3 conv (32 → 16 → 8 with the two downsamplings of three levels); a
middle residual block; GroupNorm → SiLU → 3×3 conv to 2·latent_channels (mean, logvar).
Decoder: the mirror image: 3×3 conv from the latent, a middle block, per level
``num_res_blocks + 1`` blocks and nearest ×2 + 3×3 conv up, GroupNorm → SiLU → 3×3 conv to RGB.

Cost of the default config (channels 32, 64, 64 at 32, 16, 8 pixels): 0.77 M parameters (encoder
0.28 M, decoder 0.50 M; 1.6 MB as fp16); per image 0.098 GFLOP to encode and 0.30 GFLOP to decode
(``FlopCounterMode``, 2 FLOPs per multiply-add).

Loss (``loss``): L1 reconstruction summed over the 3·H·W values plus ``kl_weight`` · KL(q(z|x) ‖
N(0, I)) summed over the latent values, both per image (batch means): the LDM code's
``LPIPSWithDiscriminator`` without the perceptual and adversarial terms; ``kl_weight`` 1e-6 there.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

LOGVAR_RANGE = (-30.0, 20.0)
ARCH_KEYS = ("in_channels", "latent_channels", "channels", "num_res_blocks", "groups")


class ResBlock(nn.Module):
    """GroupNorm → SiLU → 3×3 conv, twice, plus a skip (1×1 conv if the widths differ)."""

    def __init__(self, in_ch: int, out_ch: int, groups: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.GroupNorm(groups, in_ch), nn.SiLU(), nn.Conv2d(in_ch, out_ch, 3, padding=1),
                                  nn.GroupNorm(groups, out_ch), nn.SiLU(), nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.skip = nn.Identity() if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)


class KLAutoencoder(nn.Module):
    """``encode(x) -> (mean, logvar)`` each (n, latent_channels, H/f, W/f) with f = 2^(len(channels) − 1);
    ``decode(z) -> x̂`` (n, in_channels, H, W). See the module docstring for conventions."""

    def __init__(self, in_channels: int = 3, latent_channels: int = 4, channels: tuple[int, ...] = (32, 64, 64),
                 num_res_blocks: int = 1, groups: int = 8) -> None:
        super().__init__()
        self.in_channels, self.latent_channels = in_channels, latent_channels
        self.downsample = 2 ** (len(channels) - 1)
        enc: list[nn.Module] = [nn.Conv2d(in_channels, channels[0], 3, padding=1)]
        ch = channels[0]
        for level, width in enumerate(channels):
            for _ in range(num_res_blocks):
                enc.append(ResBlock(ch, width, groups))
                ch = width
            if level != len(channels) - 1:
                enc.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
        enc += [ResBlock(ch, ch, groups), nn.GroupNorm(groups, ch), nn.SiLU(),
                nn.Conv2d(ch, 2 * latent_channels, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)

        dec: list[nn.Module] = [nn.Conv2d(latent_channels, ch, 3, padding=1), ResBlock(ch, ch, groups)]
        for level in reversed(range(len(channels))):
            for _ in range(num_res_blocks + 1):
                dec.append(ResBlock(ch, channels[level], groups))
                ch = channels[level]
            if level != 0:
                dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch, ch, 3, padding=1)]
        dec += [nn.GroupNorm(groups, ch), nn.SiLU(), nn.Conv2d(ch, in_channels, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> KLAutoencoder:
        """Built from a config dict such as the manifest's (other keys ignored; lists become tuples)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items() if k in ARCH_KEYS})

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance (n, latent_channels, H/f, W/f) of images x ∈ [−1, 1]."""
        if x.shape[-1] % self.downsample or x.shape[-2] % self.downsample:
            raise ValueError(f"H and W must be divisible by {self.downsample}, got {tuple(x.shape[-2:])}")
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar.clamp(*LOGVAR_RANGE)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images (n, in_channels, f·h, f·w) in the [−1, 1] convention (unclamped) from latents z."""
        return self.decoder(z)

    def loss(self, x: torch.Tensor, noise: torch.Tensor, kl_weight: float = 1e-6
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Batch means per image of (L1 + kl_weight·KL, L1, KL) for images x ∈ [−1, 1]; ``noise`` ~ N(0, I)
        of the latent shape drives the reparameterised z = mean + exp(logvar/2)·noise. L1 is summed over
        the pixel values (in [−1, 1] units), KL over the latent values (nats)."""
        mean, logvar = self.encode(x)
        z = mean + torch.exp(0.5 * logvar) * noise
        recon = F.l1_loss(self.decode(z), x, reduction="sum") / len(x)
        kl = 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar).sum() / len(x)
        return recon + kl_weight * kl, recon, kl
