"""A projected discriminator (Sauer et al., NeurIPS 2021) on the frozen encoder of the bundled KL
autoencoder, and the generator it trains: the bundled VAE's decoder, warm-started.

Images on the discriminator's side are float RGB in [−1, 1] (the autoencoder's convention). The
frozen encoder (``genbench.nn.autoencoder.KLAutoencoder.encoder``, never an evaluator network)
gives feature maps at three scales — after its first residual block (32×32), after the second
level's block (16×16) and after the middle block (8×8) for shapes32 — and each scale has its own
small head: spectrally normalised 4×4 stride-2 convs down to 4×4, a 3×3 conv and a 1×1 conv to one
logit per position. The discriminator's output is every head's logit map, flattened and
concatenated per image (n, 3·16 for shapes32), so a hinge loss averaged over it weighs every
position of every scale alike. Gradients flow through the frozen encoder into the generator's
images; the encoder's weights never change.

The generator is ``ConvVAE``'s decoding path (``from_latent`` then ``decoder``: z (n, latent_dim)
→ per-pixel logits (n, 3, 32, 32)); its images are 2·sigmoid(logits) − 1 ∈ [−1, 1], the VAE's
Bernoulli means in the discriminator's convention.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from genbench.nn.vae import ConvVAE

# indices into KLAutoencoder.encoder (conv_in, res 32, down, res 64, down, res 64, middle res, …)
FEATURE_TAPS = (1, 3, 6)


class VAEDecoderGenerator(nn.Module):
    """z (n, latent_dim) → images 2·sigmoid(logits) − 1 ∈ [−1, 1] (n, 3, 32, 32), the logits from
    ``ConvVAE``'s decoding path."""

    def __init__(self, latent_dim: int = 64, widths: tuple[int, int, int] = (32, 64, 128)) -> None:
        super().__init__()
        vae = ConvVAE(latent_dim, widths)
        self.latent_dim, self.widths = latent_dim, widths
        self.from_latent, self.decoder = vae.from_latent, vae.decoder

    @classmethod
    def from_vae(cls, vae: ConvVAE) -> VAEDecoderGenerator:
        """A generator holding copies of ``vae``'s decoding weights."""
        gen = cls(vae.latent_dim, tuple(vae.widths))
        gen.from_latent.load_state_dict(vae.from_latent.state_dict())
        gen.decoder.load_state_dict(vae.decoder.state_dict())
        return gen

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return 2.0 * torch.sigmoid(self.decoder(self.from_latent(z))) - 1.0


def _head(channels: int, size: int, width: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    while size > 4:
        layers += [spectral_norm(nn.Conv2d(channels, width, 4, 2, 1)), nn.LeakyReLU(0.2)]
        channels, size = width, size // 2
    layers += [spectral_norm(nn.Conv2d(channels, width, 3, 1, 1)), nn.LeakyReLU(0.2),
               spectral_norm(nn.Conv2d(width, 1, 1))]
    return nn.Sequential(*layers)


class ProjectedDiscriminator(nn.Module):
    """Images in [−1, 1] (n, 3, H, W) → logits (n, k): every scale's logit map, flattened and concatenated.

    ``encoder``: the frozen ``KLAutoencoder.encoder`` (an ``nn.Sequential``; kept frozen and in eval
    mode here, and left out of this module's parameters and state dict: move it to the device
    yourself); ``width``: channels of every head."""

    def __init__(self, encoder: nn.Sequential, width: int = 64, image_size: int = 32,
                 taps: tuple[int, ...] = FEATURE_TAPS) -> None:
        super().__init__()
        self.taps, self.width = taps, width
        self._encoder = [encoder.eval().requires_grad_(False)]  # a list: not a submodule
        with torch.no_grad():
            shapes = [f.shape[1:] for f in self.features(torch.zeros(1, 3, image_size, image_size))]
        self.heads = nn.ModuleList(_head(c, h, width) for c, h, _ in shapes)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The frozen encoder's feature maps at ``taps``."""
        out = []
        for i, layer in enumerate(self._encoder[0]):
            x = layer(x)
            if i in self.taps:
                out.append(x)
            if i >= max(self.taps):
                break
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([head(f).flatten(1) for head, f in zip(self.heads, self.features(x))], dim=1)
