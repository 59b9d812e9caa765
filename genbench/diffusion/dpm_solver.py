"""DPM-Solver++(2M) (Lu et al. 2022): the multistep second-order solver of the diffusion ODE in
data prediction, over any ``Denoiser``.

It follows diffusers' ``DPMSolverMultistepScheduler`` with ``algorithm_type="dpmsolver++"``,
``solver_order=2``, ``solver_type="midpoint"``, ``lower_order_final=True``, ``euler_at_final=False``
and no Karras/Lu/exponential sigmas. Notation for a timestep t (integer in [0, T − 1]):
α_t = √ᾱ_t, σ_t = √(1 − ᾱ_t), λ_t = log α_t − log σ_t (half the log-SNR), so that
x_t = α_t x0 + σ_t ε. Walking timesteps t_0 > t_1 > … > t_{S−1} and then a final noise level
(``final_sigma``: "zero" = σ 0, α 1, the clean data; "sigma_min" = the level of timestep 0),
with D_i = x̂0(x_{t_i}, t_i) from the denoiser (clamped when it clips), h_i = λ_{i+1} − λ_i:

- first order (DDIM) step: x_{i+1} = (σ_{i+1}/σ_i) x_i + α_{i+1} (1 − e^{−h_i}) D_i
- second order (midpoint) step: r = h_{i−1}/h_i, D = D_i + (D_i − D_{i−1})/(2r),
  x_{i+1} = (σ_{i+1}/σ_i) x_i + α_{i+1} (1 − e^{−h_i}) D

The first step is first order (no history yet); so is the last when ``final_sigma="zero"`` (it
then returns D_{S−1} = x̂0 exactly) or, with ``lower_order_final``, when S < 15. NFE = S. The
sampler is deterministic: only x_T is drawn (randomness as in ``genbench.diffusion.noise``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from genbench.diffusion.denoiser import Denoiser
from genbench.diffusion.noise import Randomness, initial_noise
from genbench.diffusion.schedule import distinct_descending

DPM_SPACINGS = ("linspace", "leading", "trailing")
FINAL_SIGMAS = ("zero", "sigma_min")


def dpm_solver_timesteps(T: int, steps: int, spacing: str = "linspace") -> list[int]:
    """The S = ``steps`` timesteps DPM-Solver visits, descending, as ``DPMSolverMultistepScheduler``
    sets them (steps_offset 0). These are not DDIM's spacings of the same names: a grid of S + 1
    points whose lowest point (0) is dropped, since the last step goes to ``final_sigma``.

    - "linspace" (diffusers' default): round(linspace(0, T − 1, S + 1)) without 0: [999, 899, …, 100]
      for T = 1000, S = 10;
    - "leading": k · (T // (S + 1)) for k = S, …, 1: [900, 810, …, 90];
    - "trailing": round(T − k T/S) − 1 for k = 0 … S − 1: [999, 899, …, 99] (as DDIM's "trailing").
    """
    if not 1 <= steps <= T:
        raise ValueError(f"steps must satisfy 1 ≤ steps ≤ T = {T}, got {steps}")
    if spacing == "linspace":
        ts = np.linspace(0, T - 1, steps + 1).round()[::-1][:-1]
    elif spacing == "leading":
        ts = (np.arange(0, steps + 1) * (T // (steps + 1))).round()[::-1][:-1]
    elif spacing == "trailing":
        ts = np.round(T - np.arange(steps) * (T / steps)) - 1
    else:
        raise ValueError(f"unknown DPM-Solver spacing {spacing!r}; allowed: {', '.join(DPM_SPACINGS)}")
    return distinct_descending(ts, steps, spacing, T)


def _levels(denoiser: Denoiser, timesteps: Sequence[int], final_sigma: str) -> tuple[list[float], list[float]]:
    """(α, σ) at each timestep and at the final level, S + 1 of each, as Python floats (float64)."""
    alpha_bars = [denoiser.alpha_bar(t) for t in timesteps]
    alpha_bars.append(1.0 if final_sigma == "zero" else denoiser.alpha_bar(0))
    return [math.sqrt(a) for a in alpha_bars], [math.sqrt(1 - a) for a in alpha_bars]


def _lam(alpha: float, sigma: float) -> float:
    """λ = log α − log σ (+∞ at σ = 0)."""
    return math.inf if sigma == 0 else math.log(alpha) - math.log(sigma)


@torch.inference_mode()
def sample_dpmsolver(denoiser: Denoiser, shape: Sequence[int], *, steps: int = 20, spacing: str = "linspace",
                     final_sigma: str = "zero", lower_order_final: bool = True, generator: Randomness = None,
                     noise: torch.Tensor | None = None, dtype: torch.dtype = torch.float32,
                     device: torch.device | str | None = None, progress: bool = False) -> torch.Tensor:
    """DPM-Solver++(2M) from x_T over ``dpm_solver_timesteps(T, steps, spacing)`` (NFE = steps); see
    the module docstring. shape, noise, generator, dtype, device: as in ``sample_ddpm``."""
    if final_sigma not in FINAL_SIGMAS:
        raise ValueError(f"unknown final_sigma {final_sigma!r}; allowed: {', '.join(FINAL_SIGMAS)}")
    timesteps = dpm_solver_timesteps(denoiser.T, steps, spacing)
    alphas, sigmas = _levels(denoiser, timesteps, final_sigma)
    lambdas = [_lam(a, s) for a, s in zip(alphas, sigmas)]
    x = initial_noise(shape, noise, generator, dtype, device)
    x0_prev = None
    for i, t in enumerate(tqdm(timesteps, desc="DPM-Solver++", disable=not progress)):
        _, x0 = denoiser.predict(x, t)
        last = i == steps - 1
        if last and sigmas[i + 1] == 0:
            x = x0  # the first-order step to σ = 0 is exactly x̂0
        else:
            h = lambdas[i + 1] - lambdas[i]
            first_order = x0_prev is None or (last and lower_order_final and steps < 15)
            d = x0 if first_order else x0 + (x0 - x0_prev) * (h / (lambdas[i] - lambdas[i - 1]) / 2)
            x = (sigmas[i + 1] / sigmas[i]) * x - (alphas[i + 1] * math.expm1(-h)) * d
        x0_prev = x0
    return x
