"""The bundled latent diffusion generator ``ldm``: caption-conditioned diffusion in the latent space
of a KL autoencoder (Rombach et al. 2022), with classifier-free guidance.

Pipeline for samples start … start+n−1 with captions c_i:
context_i = TextEncoder(c_i), null = TextEncoder(""); ε̃ = ε̂_u + s·(ε̂_c − ε̂_u) (``cfg_eps_model``);
z_0 = DDIM (or DDPM, or DPM-Solver++(2M)) over the ε-prediction ``Denoiser`` of ε̃ on the (4, 8, 8)
latents without clipping, the same sampler functions as pixel diffusion; x = decode(z_0 / scale_factor) → uint8 32×32 RGB.

Randomness and captions: sample i draws x_T and every z from its own generator seeded with
(seed, i) (``row_generators``), is conditioned on caption i alone and is computed in micro-batch
⌊i / m⌋ of exactly ``micro_batch`` = m samples (``genbench.microbatch``; rows of that micro-batch
outside a request are padding, conditioned on their default captions), so it depends only on
(seed, i, caption i), bit for bit. Caption i is ``captions[i mod len(captions)]`` when the generator was built
with a ``captions`` list, else the held-out shapes32 *test* caption i (the captions the LDM was
not trained on; train captions come from the train split). ``captions_for(start, n)`` returns the
captions that samples start … start+n−1 use, for CLIP score and prompt accuracy;
``genbench.data.shapes32.caption_labels`` parses captions back to shapes32 factor indices. ``sample(n, seed, captions=[…])``
conditions sample i on ``captions[i]`` directly.

Cost: ``meta.nfe`` counts denoiser (U-Net) evaluations per sample: steps × 2 with guidance (the
conditional and the unconditional pass run as one doubled batch), steps × 1 at guidance 1
(conditional only) or 0 (unconditional only, the null caption); plus one text-encoder pass per
batch and one decoder pass per sample (``options``). Weights: ``ldm-unet`` (text encoder and
U-Net, one file) and ``ldm-autoencoder`` (checked to be the autoencoder the U-Net was trained on).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from genbench.data.shapes32 import heldout_captions
from genbench.diffusion import Denoiser, DiffusionSchedule, linear_schedule, row_generators, run_sampler, sampler_options
from genbench.diffusion.guidance import cfg_eps_model, nfe_per_step
from genbench.generators.autoencoder import load_autoencoder
from genbench.generators.base import GeneratorMeta
from genbench.generators.bundled_base import MICRO_BATCH, BundledGenerator, n_params
from genbench.images import signed_unit_to_uint8
from genbench.microbatch import sample_aligned
from genbench.nn.autoencoder import KLAutoencoder
from genbench.nn.text_encoder import NULL_CAPTION, TextEncoder
from genbench.nn.unet import UNet

LDM_WEIGHTS = "ldm-unet"
UNET_KEYS = ("in_channels", "patch_size", "channels", "num_res_blocks", "attention_levels", "heads", "groups")
TEXT_KEYS = ("width", "layers", "heads", "context_length")
SAMPLERS = ("ddim", "ddpm", "dpmsolver++")


def _tuples(config: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in config.items() if k in keys}


def build_denoiser(unet_config: dict[str, Any], text_config: dict[str, Any]) -> nn.ModuleDict:
    """The jointly trained pair ``{"text": TextEncoder, "unet": UNet(context_dim=text width)}`` (state-dict
    keys ``text.*`` and ``unet.*``); text encoder first, so ``torch.manual_seed`` fixes both inits."""
    text = TextEncoder(**_tuples(text_config, TEXT_KEYS))
    unet = UNet(**_tuples(unet_config, UNET_KEYS), context_dim=text.width)
    return nn.ModuleDict({"text": text, "unet": unet})


def schedule_from_config(config: dict[str, Any]) -> DiffusionSchedule:
    """The linear β schedule named by a manifest config (keys T, beta_start, beta_end)."""
    if config.get("schedule", "linear") != "linear":
        raise ValueError(f"unknown schedule {config['schedule']!r}")
    return linear_schedule(config["T"], config["beta_start"], config["beta_end"])


@torch.inference_mode()
def sample_latent_diffusion(denoiser: nn.ModuleDict, decoder: KLAutoencoder, scale_factor: float,
                            schedule: DiffusionSchedule, captions: Sequence[str],
                            generator: torch.Generator | Sequence[torch.Generator] | None, *,
                            sampler: str = "ddim", steps: int = 50, eta: float = 0.0, guidance: float = 3.0,
                            device: torch.device | str = "cpu") -> torch.Tensor:
    """Float images (n, 3, 32, 32) in [−1, 1] (unclamped) for ``captions`` (n of them): guided sampling
    in latent space, then ``decoder.decode(z / scale_factor)``. ``generator`` as in the samplers."""
    text, unet = denoiser["text"], denoiser["unet"]
    cond = text.encode(list(captions))
    uncond = text.encode([NULL_CAPTION])
    denoiser = Denoiser(cfg_eps_model(unet, cond, uncond, guidance), schedule, "epsilon", clip_sample=None)
    shape = (len(captions), unet.stem.in_channels, 8, 8)
    options = sampler_options(sampler, schedule.T, steps=steps, eta=eta)
    z = run_sampler(denoiser, shape, sampler, options, generator=generator, device=device)
    return decoder.decode(z / scale_factor)


class LDMGenerator(BundledGenerator):
    """Latent diffusion, caption-conditioned, classifier-free guided (see the module docstring).

    sampler "ddim": ``steps`` uniform-spaced timesteps, stochasticity ``eta``; "ddpm": ancestral
    sampling over all T steps (``steps``, ``eta`` ignored); "dpmsolver++": DPM-Solver++(2M) over
    ``steps`` "linspace"-spaced timesteps (``genbench.diffusion.dpm_solver``; ``eta`` must be 0). ``guidance``: the scale s ≥ 0 (1:
    conditional only; 0: unconditional, i.e. the null caption). ``captions``: None (shapes32 test
    captions) or a list cycled over sample indices.
    """

    weights_name = LDM_WEIGHTS

    def __init__(self, steps: int = 50, eta: float = 0.0, guidance: float = 3.0, sampler: str = "ddim",
                 captions: Sequence[str] | None = None, device: str | torch.device | None = None,
                 micro_batch: int = MICRO_BATCH) -> None:
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
        if not 0 <= eta <= 1:
            raise ValueError(f"eta must lie in [0, 1], got {eta}")
        if sampler == "dpmsolver++" and eta != 0:
            raise ValueError("dpmsolver++ is deterministic: leave eta at 0")
        if not guidance >= 0:
            raise ValueError(f"guidance must be >= 0, got {guidance}")
        if captions is not None:
            captions = [captions] if isinstance(captions, str) else list(captions)
            if not captions or not all(isinstance(c, str) for c in captions):
                raise ValueError("captions must be a non-empty list of strings")
        super().__init__(device, micro_batch)
        cfg = self.config
        self.schedule = schedule_from_config(cfg)
        self.sampler_options = sampler_options(sampler, self.schedule.T, steps=steps, eta=eta)
        self.net = self._finish(build_denoiser(cfg["unet"], cfg["text_encoder"]))
        autoencoder, self.autoencoder_entry = load_autoencoder(cfg["autoencoder_sha256"], user=LDM_WEIGHTS)
        self.decoder = autoencoder.to(self.device)
        self.scale_factor = float(cfg["scale_factor"])
        self.sampler, self.steps, self.eta, self.guidance = sampler, steps, eta, float(guidance)
        self.captions = captions
        nfe_steps = self.schedule.T if sampler == "ddpm" else steps
        options: dict[str, Any] = {"sampler": sampler, "guidance": self.guidance,
                                   "nfe_per_step": nfe_per_step(self.guidance)}
        if sampler == "ddim":
            options |= {"steps": steps, "eta": eta, "spacing": "uniform"}
        elif sampler == "dpmsolver++":
            options |= self.sampler_options
        options |= {"clip_x0": None, "latent_shape": [self.net["unet"].stem.in_channels, 8, 8],
                    "scale_factor": self.scale_factor, "decoder_passes": 1, "text_encoder_passes": "1 per batch",
                    "captions": "user list, caption i = captions[i mod len]" if captions is not None
                    else "shapes32 test caption i", **self.weights_meta(),
                    "autoencoder_weights": self.autoencoder_entry["file"],
                    "autoencoder_sha256": self.autoencoder_entry["sha256"]}
        decoder_params = n_params(self.decoder.decoder)
        self.meta = GeneratorMeta("ldm", nfe=nfe_steps * nfe_per_step(self.guidance),
                                  parameters=n_params(self.net) + decoder_params, resolution=(32, 32),
                                  conditioning="caption", options=options)

    def captions_for(self, start: int, n: int) -> list[str]:
        """The captions of samples start … start+n−1 (see the class docstring)."""
        if start < 0 or n < 0:
            raise ValueError(f"start and n must be >= 0, got start={start}, n={n}")
        if self.captions is None:
            return heldout_captions(start, n)
        return [self.captions[i % len(self.captions)] for i in range(start, start + n)]

    def sample(self, n: int, seed: int = 0, captions: Sequence[str] | None = None) -> torch.Tensor:
        """The first ``n`` samples for ``seed``, uint8 (n, 3, 32, 32); sample i conditioned on
        ``captions[i]`` if given (exactly n captions), else on ``captions_for(0, n)[i]``."""
        return self.sample_range(seed, 0, n, captions)

    def sample_range(self, seed: int, start: int, n: int, captions: Sequence[str] | None = None) -> torch.Tensor:
        """Samples start … start+n−1 for ``seed`` (uint8), conditioned on ``captions`` (n of them) or
        on ``captions_for(start, n)``."""
        if captions is None:
            captions = self.captions_for(start, n)
        else:
            captions = [captions] if isinstance(captions, str) else list(captions)
            if len(captions) != n:
                raise ValueError(f"{len(captions)} captions for {n} samples")
        if n == 0:
            return torch.empty((0, 3, 32, 32), dtype=torch.uint8)
        m = self.micro_batch

        def block(lo: int) -> torch.Tensor:  # requested rows take the given captions, padding rows their defaults
            block_captions = self.captions_for(lo, m)
            for i in range(max(lo, start), min(lo + m, start + n)):
                block_captions[i - lo] = captions[i - start]
            return self._sample_block(seed, lo, block_captions)

        return sample_aligned(block, start, n, m)

    def _sample_block(self, seed: int, lo: int, captions: Sequence[str] | None = None) -> torch.Tensor:
        """Samples lo … lo+m−1 conditioned on ``captions`` (m of them; default ``captions_for(lo, m)``)."""
        m = self.micro_batch
        x = sample_latent_diffusion(self.net, self.decoder, self.scale_factor, self.schedule,
                                    self.captions_for(lo, m) if captions is None else captions,
                                    row_generators(seed, lo, m), sampler=self.sampler, steps=self.steps,
                                    eta=self.eta, guidance=self.guidance, device=self.device)
        return signed_unit_to_uint8(x)
