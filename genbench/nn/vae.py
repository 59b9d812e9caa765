"""ConvVAE: the bundled shapes32 VAE network (Gaussian latent, Bernoulli decoder).

Images: float RGB in [0, 1], NCHW, 32×32 (the encoder maps them to [−1, 1] itself).
Encoder: 32 → 16 → 8 → 4 by 4×4 stride-2 convs (each followed by a 3×3 conv) at ``widths``
channels, SiLU, then a linear map to the posterior mean μ and log-variance log σ² (natural log)
of a diagonal Gaussian q(z|x) over ``latent_dim`` dimensions; the prior is N(0, I).
Decoder: the mirror image (linear → 4×4, 4×4 stride-2 transposed convs up to 32×32), ending in
per-pixel logits; ``decode`` applies the sigmoid, so decoded images lie in [0, 1].

Likelihood: Bernoulli (binary cross-entropy on the continuous intensities, the classic VAE
choice for [0, 1] images: sharper than a fixed-variance Gaussian/MSE). ``negative_elbo`` sums it
over the 3·32·32 values and KL over the latent dimensions, in nats per image; ``beta`` weights
the KL term (β = 1 is the ELBO). No sampling loop here: samples are ``decode(torch.randn(n, d))``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _down(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.SiLU(), nn.Conv2d(c_out, c_out, 3, 1, 1), nn.SiLU()]


def _up(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.SiLU(), nn.Conv2d(c_out, c_out, 3, 1, 1), nn.SiLU()]


# log σ² is clamped (as in latent-diffusion's DiagonalGaussianDistribution): a first run at lr 1e-3
# without it blew up at step ~3,700 when exp(logvar) overflowed in the KL term.
LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0


class ConvVAE(nn.Module):
    """``encode(x) -> (mu, logvar)`` each (n, latent_dim); ``decode(z) -> x`` (n, 3, 32, 32) in [0, 1]."""

    def __init__(self, latent_dim: int = 64, widths: tuple[int, int, int] = (32, 64, 128)) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.widths = widths
        w1, w2, w3 = widths
        self.encoder = nn.Sequential(*_down(3, w1), *_down(w1, w2), *_down(w2, w3), nn.Flatten())
        self.to_posterior = nn.Linear(w3 * 16, 2 * latent_dim)
        self.from_latent = nn.Sequential(nn.Linear(latent_dim, w3 * 16), nn.SiLU(), nn.Unflatten(1, (w3, 4, 4)))
        self.decoder = nn.Sequential(*_up(w3, w2), *_up(w2, w1), *_up(w1, w1), nn.Conv2d(w1, 3, 3, 1, 1))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of q(z|x) for images ``x`` in [0, 1]."""
        mu, logvar = self.to_posterior(self.encoder(2.0 * x - 1.0)).chunk(2, dim=1)
        return mu, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Per-pixel Bernoulli logits (n, 3, 32, 32)."""
        return self.decoder(self.from_latent(z))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoded images in [0, 1] (the Bernoulli means)."""
        return torch.sigmoid(self.decode_logits(z))

    def negative_elbo(self, x: torch.Tensor, noise: torch.Tensor, beta: float = 1.0
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Batch means (nats per image) of (reconstruction + β·KL, reconstruction, KL) for images ``x``
        in [0, 1]; ``noise`` ~ N(0, I) of shape (n, latent_dim) drives the reparameterised z = μ + σ·noise."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * noise
        recon = F.binary_cross_entropy_with_logits(self.decode_logits(z), x, reduction="sum") / len(x)
        kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum() / len(x)
        return recon + beta * kl, recon, kl
