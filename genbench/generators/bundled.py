"""The bundled shapes32 generators, assembled from networks (``genbench.nn``) and samplers
(``genbench.diffusion``): ``vae``, ``gan``, ``ddpm`` and ``ddim`` (a sampler over the DDPM denoiser);
``ldm`` (caption-conditioned latent diffusion) lives in ``genbench.generators.ldm``; what they all
share (weights loading, aligned micro-batches) in ``genbench.generators.bundled_base``.

Weights come from ``reference_models/`` (sha256 checked against the manifest on load). Every
generator draws the randomness of sample i from its own CPU generator seeded with (seed, i)
(``row_generators``; noise is drawn on the CPU and moved to the device), and computes sample i in
micro-batch ⌊i / m⌋ of exactly ``micro_batch`` = m samples (``genbench.microbatch``), so sample i
is bit-identical whatever the batch size, the call boundaries or the number of processes that
draw it. m is part of what a sample is: another m may change the last bits of float32 results
(and so, rarely, a uint8 pixel by one level). Networks run in eval mode under
``torch.inference_mode`` in float32 on ``device`` (default: CUDA when present, else CPU).
Outputs are uint8 NCHW RGB, 32×32; pixel values are rounded, not truncated.
"""

from __future__ import annotations

from typing import Any

import torch

from genbench.diffusion import (SAMPLERS, Denoiser, linear_schedule, row_generators, run_sampler, sampler_nfe,
                               sampler_options, standard_normal)
from genbench.diffusion.samplers import VARIANCES
from genbench.diffusion.schedule import SPACINGS
from genbench.generators.autoencoder import load_autoencoder
from genbench.generators.base import Generator, GeneratorMeta
from genbench.generators.bundled_base import MICRO_BATCH, BundledGenerator, n_params
from genbench.generators.ldm import LDMGenerator
from genbench.images import signed_unit_to_uint8, unit_to_uint8
from genbench.nn.gan import Generator as GANNetwork
from genbench.nn.latent_gan import LATENT_SHAPE, LatentGenerator
from genbench.nn.projected_gan import VAEDecoderGenerator
from genbench.nn.unet import UNet
from genbench.nn.vae import ConvVAE

BUNDLED = ("vae", "gan", "ddpm", "ddim", "ldm")
WEIGHTS = {"vae": "vae", "gan": "gan-generator", "ddpm": "ddpm-unet", "ddim": "ddpm-unet", "ldm": "ldm-unet"}


class VAEGenerator(BundledGenerator):
    """z ~ N(0, I) (latent_dim) → decoder → Bernoulli means in [0, 1] → uint8. NFE 1."""

    weights_name = WEIGHTS["vae"]

    def __init__(self, device: str | torch.device | None = None, micro_batch: int = MICRO_BATCH) -> None:
        super().__init__(device, micro_batch)
        self.net = self._finish(ConvVAE(self.config["latent_dim"], tuple(self.config["widths"])))
        self.meta = GeneratorMeta("vae", nfe=1, parameters=n_params(self.net.decoder) + n_params(self.net.from_latent),
                                  resolution=(32, 32), options=self.weights_meta())

    @torch.inference_mode()
    def _sample_block(self, seed: int, lo: int) -> torch.Tensor:
        z = standard_normal((self.micro_batch, self.net.latent_dim), row_generators(seed, lo, self.micro_batch))
        return unit_to_uint8(self.net.decode(z.to(self.device)).clamp_(0, 1).cpu())


class GANGenerator(BundledGenerator):
    """z ~ N(0, I) (z_dim) → EMA generator (eval mode: BatchNorm uses running statistics, so
    samples do not depend on their batch) → [−1, 1] → uint8. NFE 1.

    The weights of any of the three GAN trainers, by the manifest config's "architecture":
    ``VAEDecoderGenerator`` (``genbench.nn.projected_gan``, ``train_projected_gan``: the VAE's
    decoder fine-tuned adversarially, z of the VAE's latent size), ``LatentGenerator``
    (``genbench.nn.latent_gan``: G(z) is scale_factor·z of the bundled ``ldm-autoencoder``, whose
    decoder makes the image: one generator pass and one decoder pass per sample; the autoencoder
    is checked to be the one G was trained against) or the pixel DCGAN-style ``Generator``
    (``genbench.nn.gan``)."""

    weights_name = WEIGHTS["gan"]

    def __init__(self, device: str | torch.device | None = None, micro_batch: int = MICRO_BATCH) -> None:
        super().__init__(device, micro_batch)
        options = self.weights_meta()
        self.decoder = None
        architecture = self.config.get("architecture")
        if architecture == "VAEDecoderGenerator":
            self.net = self._finish(VAEDecoderGenerator(self.config["latent_dim"], tuple(self.config["widths"])))
            self.z_dim, parameters = self.net.latent_dim, n_params(self.net)
        elif architecture == "LatentGenerator":
            self.decoder, ae_entry = load_autoencoder(self.config["autoencoder_sha256"], user=self.weights_name)
            self.decoder = self.decoder.to(self.device)
            self.scale_factor = float(self.config["scale_factor"])
            self.net = self._finish(LatentGenerator(self.config["z_dim"], self.config["width"]))
            self.z_dim, parameters = self.net.z_dim, n_params(self.net) + n_params(self.decoder.decoder)
            options |= {"latent_shape": list(LATENT_SHAPE), "decoder_passes": 1, "autoencoder_sha256": ae_entry["sha256"]}
        else:
            self.net = self._finish(GANNetwork(self.config["z_dim"], self.config["width"]))
            self.z_dim, parameters = self.net.z_dim, n_params(self.net)
        self.meta = GeneratorMeta("gan", nfe=1, parameters=parameters, resolution=(32, 32), options=options)

    @torch.inference_mode()
    def _sample_block(self, seed: int, lo: int) -> torch.Tensor:
        z = standard_normal((self.micro_batch, self.z_dim), row_generators(seed, lo, self.micro_batch))
        x = self.net(z.to(self.device))
        if self.decoder is not None:
            x = self.decoder.decode(x / self.scale_factor)
        return signed_unit_to_uint8(x)


class DiffusionGenerator(BundledGenerator):
    """The DDPM ε-prediction U-Net driven by a sampler, as a ``Denoiser`` (``self.denoiser``:
    ε-prediction, linear β 1e-4 → 0.02 over T = 1000 in float64, x̂0 clipped to [−clip_x0, clip_x0]).

    sampler "ddpm": ancestral sampling over all T = 1000 steps (``variance`` "beta" = σ² = β_t,
    Ho et al.'s choice, or "beta_tilde"); NFE = 1000. sampler "ddim": ``steps`` timesteps with
    ``spacing`` ("uniform" (default), "trailing", "quadratic", "linspace"), stochasticity ``eta`` in
    [0, 1] or ``sigma_hat=True`` (DDIM Table 1's σ̂ row); NFE = steps. sampler "dpmsolver++":
    DPM-Solver++(2M) over ``steps`` timesteps with DPM-Solver's ``spacing`` ("linspace" (default),
    "leading", "trailing"; ``genbench.diffusion.dpm_solver``) and ``final_sigma``; deterministic
    (eta 0, sigma_hat False); NFE = steps. x̂0 is clipped to [−1, 1] at every step (``clip_x0``).
    """

    weights_name = WEIGHTS["ddpm"]

    def __init__(self, sampler: str = "ddim", steps: int = 50, eta: float = 0.0, spacing: str | None = None,
                 sigma_hat: bool = False, variance: str = "beta", clip_x0: float | None = 1.0,
                 device: str | torch.device | None = None, progress: bool = False,
                 micro_batch: int = MICRO_BATCH, final_sigma: str = "zero") -> None:
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
        if sampler == "dpmsolver++" and (eta != 0 or sigma_hat):
            raise ValueError("dpmsolver++ is deterministic: leave eta at 0 and sigma_hat False")
        if variance not in VARIANCES:
            raise ValueError(f"unknown variance {variance!r}; allowed: {', '.join(VARIANCES)}")
        if sampler == "ddpm" and spacing is not None and spacing not in SPACINGS:
            raise ValueError(f"unknown spacing {spacing!r}; allowed: {', '.join(SPACINGS)}")
        if not 0 <= eta <= 1:
            raise ValueError(f"eta must lie in [0, 1], got {eta}")
        super().__init__(device, micro_batch)
        cfg = self.config
        self.schedule = linear_schedule(cfg["T"], cfg["beta_start"], cfg["beta_end"])
        self.sampler_options = sampler_options(sampler, self.schedule.T, steps=steps, eta=eta, spacing=spacing,
                                               sigma_hat=sigma_hat, variance=variance, final_sigma=final_sigma)
        unet_keys = ("in_channels", "patch_size", "channels", "num_res_blocks", "attention_levels", "heads", "groups",
                     "refine_channels")
        self.net = self._finish(UNet(**{k: tuple(v) if isinstance(v, list) else v
                                        for k, v in cfg.items() if k in unet_keys}))
        self.denoiser = Denoiser(self.net, self.schedule, "epsilon", clip_x0, sample_shape=(3, 32, 32))
        self.sampler, self.steps, self.eta = sampler, steps, eta
        self.spacing = self.sampler_options.get("spacing", "uniform" if spacing is None else spacing)
        self.sigma_hat, self.variance, self.clip_x0, self.progress = sigma_hat, variance, clip_x0, progress
        options = {"sampler": sampler, **self.sampler_options}
        self.meta = GeneratorMeta(sampler, nfe=sampler_nfe(sampler, self.sampler_options, self.schedule.T),
                                  parameters=n_params(self.net), resolution=(32, 32),
                                  options={**options, "clip_x0": clip_x0, **self.weights_meta()})

    def _sample_block(self, seed: int, lo: int) -> torch.Tensor:
        x = run_sampler(self.denoiser, (self.micro_batch, 3, 32, 32), self.sampler, self.sampler_options,
                        generator=row_generators(seed, lo, self.micro_batch), device=self.device,
                        progress=self.progress)
        return signed_unit_to_uint8(x)


def get_bundled(name: str, **options: Any) -> Generator:
    """A bundled generator by name: ``vae``, ``gan``, ``ddpm`` (options: variance), ``ddim``
    (options: steps, eta, spacing, sigma_hat; ``sampler="dpmsolver++"`` with steps, spacing,
    final_sigma drives the same U-Net with DPM-Solver++(2M)) or ``ldm`` (options: steps, eta, guidance, sampler,
    captions; see ``genbench.generators.ldm``); every one also takes ``device`` and ``micro_batch``."""
    if name == "vae":
        return VAEGenerator(**options)
    if name == "gan":
        return GANGenerator(**options)
    if name in ("ddpm", "ddim"):
        return DiffusionGenerator(**{"sampler": name, **options})
    if name == "ldm":
        return LDMGenerator(**options)
    raise ValueError(f"unknown bundled generator {name!r}; bundled: {', '.join(BUNDLED)}")
