"""DDPM and DDIM samplers: small functions over any ``Denoiser`` (k-diffusion's rule), and
``run_sampler``, which runs any of genbench's samplers by name.

``sample_ddpm`` and ``sample_ddim`` take a ``Denoiser`` (network + schedule + prediction type +
x̂0 clipping; see ``genbench.diffusion.denoiser``), which they ask for (ε̂, x̂0) at integer
timesteps t in [0, T − 1] (index convention of ``DiffusionSchedule``), and return the final x_0
estimate as a float tensor of the requested shape. ``ddim_sample`` is ``sample_ddim`` over an
ε-prediction callable ``eps_model(x_t, t) -> ε̂`` (t a (n,) long tensor) and a schedule, clipping
x̂0 to [−clip_x0, clip_x0]. Samplers never know which network they drive: conditioning,
classifier-free guidance or latent decoding belong to wrapper callables and to the caller. They
run under ``torch.inference_mode``. DPM-Solver++(2M) lives in ``genbench.diffusion.dpm_solver``;
``sampler_options`` and ``run_sampler`` cover all three samplers ("ddpm", "ddim", "dpmsolver++").

Cost: each step calls the network once on the whole batch, so NFE = T for DDPM and NFE =
``steps`` for DDIM (a guided wrapper that runs two passes doubles that).

Randomness (``genbench.diffusion.noise``): x_T (unless passed as ``noise``) is drawn first, then
one z per step that adds noise (none at the last step), all on the CPU from ``generator`` (one
generator, or one per sample, ``row_generators``, so that sample i does not depend on which batch
it was drawn in) and then moved to x's device, so a seed gives the same samples on every device.

Clipping: with clip c the prediction x̂0 is clamped to [−c, c] (pixel data in [−1, 1]) and ε̂ is
re-derived from the clamped x̂0, as improved-diffusion does; without clamping both forms are the
same step. Use ``clip_x0=None`` (``Denoiser.clip_sample=None``) for latents.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from tqdm.auto import tqdm

from genbench.diffusion.denoiser import Denoiser
from genbench.diffusion.dpm_solver import DPM_SPACINGS, FINAL_SIGMAS, dpm_solver_timesteps, sample_dpmsolver
from genbench.diffusion.noise import Randomness, initial_noise, standard_normal_like
from genbench.diffusion.schedule import SPACINGS, DiffusionSchedule, spaced_timesteps

EpsModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
VARIANCES = ("beta", "beta_tilde")


@torch.inference_mode()
def sample_ddpm(denoiser: Denoiser, shape: Sequence[int], *, variance: str = "beta", generator: Randomness = None,
                noise: torch.Tensor | None = None, dtype: torch.dtype = torch.float32,
                device: torch.device | str | None = None, progress: bool = False) -> torch.Tensor:
    """Ancestral sampling, Algorithm 2 of Ho et al. 2020, over all T timesteps of ``denoiser`` (NFE = T).

    For t = T−1, …, 0: x_{t−1} = (x_t − β_t/√(1−ᾱ_t) · ε̂)/√α_t + σ_t z, with σ_t² = β_t
    (``variance="beta"``; diffusers' ``fixed_large``) or β̃_t = β_t (1−ᾱ_{t−1})/(1−ᾱ_t)
    (``"beta_tilde"``; diffusers' ``fixed_small``), and z = 0 at t = 0. When the denoiser clips
    x̂0 the mean is the posterior mean μ̃ = (√ᾱ_{t−1} β_t x̂0 + √α_t (1−ᾱ_{t−1}) x_t)/(1−ᾱ_t) of
    the clamped x̂0, which equals the formula above whenever nothing is clamped.

    shape: (n, ...) of the samples; noise: x_T of that shape (keeps its dtype, moved to
    ``device`` if given), else drawn from ``generator`` as ``dtype`` and placed on ``device``
    (default CPU).
    """
    if variance not in VARIANCES:
        raise ValueError(f"unknown variance {variance!r}; allowed: {', '.join(VARIANCES)}")
    schedule = denoiser.schedule
    x = initial_noise(shape, noise, generator, dtype, device)
    betas, alphas = schedule.betas.tolist(), schedule.alphas.tolist()
    alpha_bars, alpha_bars_prev = schedule.alphas_cumprod.tolist(), schedule.alphas_cumprod_prev.tolist()
    variances = (schedule.betas if variance == "beta" else schedule.posterior_variance).tolist()
    for t in tqdm(range(schedule.T - 1, -1, -1), desc="DDPM", disable=not progress):
        eps, x0 = denoiser.predict(x, t)
        if denoiser.clip_sample is None:
            x = (x - betas[t] / math.sqrt(1 - alpha_bars[t]) * eps) / math.sqrt(alphas[t])
        else:
            x = (math.sqrt(alpha_bars_prev[t]) * betas[t] * x0
                 + math.sqrt(alphas[t]) * (1 - alpha_bars_prev[t]) * x) / (1 - alpha_bars[t])
        if t > 0:
            x = x + math.sqrt(variances[t]) * standard_normal_like(x, generator)
    return x


@torch.inference_mode()
def sample_ddim(denoiser: Denoiser, shape: Sequence[int], *, steps: int = 50, eta: float = 0.0,
                spacing: str = "uniform", sigma_hat: bool = False, generator: Randomness = None,
                noise: torch.Tensor | None = None, dtype: torch.dtype = torch.float32,
                device: torch.device | str | None = None, progress: bool = False) -> torch.Tensor:
    """Generalised DDIM sampling (Song et al. 2021) over ``schedule.timesteps(steps, spacing)`` (NFE = steps).

    For consecutive timesteps τ_i → τ_{i−1} of that list (the previous timestep is the next
    list entry, never t − T/S; after the last entry ᾱ = 1), with (ε̂, x̂0) from the denoiser
    (x̂0 clamped and ε̂ re-derived when it clips):
    σ(η) = η √((1−ᾱ_prev)/(1−ᾱ_τi)) √(1 − ᾱ_τi/ᾱ_prev),
    x_prev = √ᾱ_prev x̂0 + √(1 − ᾱ_prev − σ²) ε̂ + σ z.
    η = 0 is the deterministic DDIM; η = 1 is DDPM with β̃ variance on the respaced schedule
    (with steps = T, exactly ``sample_ddpm(variance="beta_tilde")``; for any steps and spacing,
    diffusers' ``DDPMScheduler`` with that many inference steps).

    ``sigma_hat=True`` is Table 1's σ̂ row, σ̂ = √(1 − ᾱ_τi/ᾱ_prev), "DDPM with the larger
    variance": the mean stays the η = 1 mean and only the noise scale becomes σ̂, as in the
    DDIM code (``ddpm_steps``; with steps = T it is ``sample_ddpm(variance="beta")``). Plugging
    σ̂ into the direction term instead is undefined, since 1 − ᾱ_prev − σ̂² < 0 whenever
    ᾱ_τi < ᾱ_prev², i.e. for most large steps. η must then be 0.

    shape, noise, generator, dtype, device: as in ``sample_ddpm``.
    """
    if not 0 <= eta <= 1:
        raise ValueError(f"eta must lie in [0, 1], got {eta}")
    if sigma_hat and eta != 0:
        raise ValueError("sigma_hat=True replaces the η family; leave eta at 0")
    timesteps = denoiser.schedule.timesteps(steps, spacing)
    x = initial_noise(shape, noise, generator, dtype, device)
    for i, t in enumerate(tqdm(timesteps, desc="DDIM", disable=not progress)):
        is_last = i == len(timesteps) - 1
        alpha_bar = denoiser.alpha_bar(t)
        alpha_bar_prev = 1.0 if is_last else denoiser.alpha_bar(timesteps[i + 1])
        eps, x0 = denoiser.predict(x, t)
        sigma = ddim_sigma(alpha_bar, alpha_bar_prev, 1.0 if sigma_hat else eta)
        direction = math.sqrt(max(1 - alpha_bar_prev - sigma ** 2, 0.0))  # max: rounding at η = 1
        x = math.sqrt(alpha_bar_prev) * x0 + direction * eps
        noise_scale = math.sqrt(1 - alpha_bar / alpha_bar_prev) if sigma_hat else sigma
        if noise_scale > 0 and not is_last:
            x = x + noise_scale * standard_normal_like(x, generator)
    return x


def ddim_sample(eps_model: EpsModel, shape: Sequence[int], schedule: DiffusionSchedule, *,
                steps: int = 50, eta: float = 0.0, spacing: str = "uniform", sigma_hat: bool = False,
                clip_x0: float | None = 1.0, generator: Randomness = None,
                noise: torch.Tensor | None = None, dtype: torch.dtype = torch.float32,
                device: torch.device | str | None = None, progress: bool = False) -> torch.Tensor:
    """``sample_ddim`` over ``Denoiser(eps_model, schedule, "epsilon", clip_sample=clip_x0)``."""
    _check_clip(clip_x0)
    return sample_ddim(Denoiser(eps_model, schedule, "epsilon", clip_x0), shape, steps=steps, eta=eta,
                       spacing=spacing, sigma_hat=sigma_hat, generator=generator, noise=noise, dtype=dtype,
                       device=device, progress=progress)


def ddim_sigma(alpha_bar: float, alpha_bar_prev: float, eta: float) -> float:
    """σ_τi(η) = η √((1 − ᾱ_prev)/(1 − ᾱ_τi)) √(1 − ᾱ_τi/ᾱ_prev) (DDIM eq. 16); σ(1)² = respaced β̃."""
    return eta * math.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar) * (1 - alpha_bar / alpha_bar_prev))


def _check_clip(clip_x0: float | None) -> None:
    if clip_x0 is not None and not clip_x0 > 0:
        raise ValueError(f"clip_x0 must be positive or None, got {clip_x0}")


SAMPLERS = ("ddpm", "ddim", "dpmsolver++")


def sampler_options(sampler: str, T: int, *, steps: int = 50, eta: float = 0.0, spacing: str | None = None,
                    sigma_hat: bool = False, variance: str = "beta", final_sigma: str = "zero") -> dict:
    """The options that ``sampler`` uses, validated (ValueError otherwise), defaults resolved:

    - "ddpm": {variance} (all T steps; steps, eta, spacing ignored);
    - "ddim": {steps, eta, spacing (default "uniform"; ``spaced_timesteps``), sigma_hat};
    - "dpmsolver++": {steps, spacing (default "linspace"; ``dpm_solver_timesteps``), final_sigma}.
    ``run_sampler(denoiser, shape, sampler, options, …)`` takes the result."""
    if sampler == "ddpm":
        if variance not in VARIANCES:
            raise ValueError(f"unknown variance {variance!r}; allowed: {', '.join(VARIANCES)}")
        return {"variance": variance}
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; allowed: {', '.join(SAMPLERS)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= T:
        raise ValueError(f"steps must be an integer in [1, {T}], got {steps!r}")
    if sampler == "ddim":
        spacing = "uniform" if spacing is None else spacing
        if spacing not in SPACINGS:
            raise ValueError(f"unknown spacing {spacing!r}; allowed for ddim: {', '.join(SPACINGS)}")
        if not 0 <= eta <= 1:
            raise ValueError(f"eta must lie in [0, 1], got {eta}")
        if sigma_hat and eta != 0:
            raise ValueError("sigma_hat=True replaces the η family; leave eta at 0")
        spaced_timesteps(T, steps, spacing)
        return {"steps": steps, "eta": eta, "spacing": spacing, "sigma_hat": sigma_hat}
    spacing = "linspace" if spacing is None else spacing
    if spacing not in DPM_SPACINGS:
        raise ValueError(f"unknown spacing {spacing!r}; allowed for dpmsolver++: {', '.join(DPM_SPACINGS)}")
    if final_sigma not in FINAL_SIGMAS:
        raise ValueError(f"unknown final_sigma {final_sigma!r}; allowed: {', '.join(FINAL_SIGMAS)}")
    dpm_solver_timesteps(T, steps, spacing)
    return {"steps": steps, "spacing": spacing, "final_sigma": final_sigma}


def sampler_nfe(sampler: str, options: dict, T: int) -> int:
    """Network evaluations per sample: T for "ddpm", ``options["steps"]`` otherwise."""
    return T if sampler == "ddpm" else options["steps"]


def run_sampler(denoiser: Denoiser, shape: Sequence[int], sampler: str, options: dict, *,
                generator: Randomness = None, noise: torch.Tensor | None = None, dtype: torch.dtype = torch.float32,
                device: torch.device | str | None = None, progress: bool = False) -> torch.Tensor:
    """``sampler`` ("ddpm", "ddim", "dpmsolver++") over ``denoiser`` with ``options`` from
    ``sampler_options``; the remaining arguments as in ``sample_ddpm``."""
    run = {"ddpm": sample_ddpm, "ddim": sample_ddim, "dpmsolver++": sample_dpmsolver}[sampler]
    return run(denoiser, shape, **options, generator=generator, noise=noise, dtype=dtype, device=device,
               progress=progress)
