"""The discrete DDPM noise schedule and the timestep subsets that samplers walk.

Conventions: timesteps t are integers in [0, T − 1]; index t of every schedule tensor is the
noise level of x_t (t = 0 is the least noisy, ᾱ_0 = 1 − β_0 ≈ 1; Ho et al.'s t = 1..T shifted
by one, as in improved-diffusion and diffusers). The forward process is
x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε with ε ~ N(0, I). Schedule tensors are float64 on the CPU.

A sampler with S < T steps does not need a new schedule object: it walks a descending subset
τ of the T timesteps and reads ᾱ at those indices, which is exactly improved-diffusion's
respacing (β'_i = 1 − ᾱ_τi / ᾱ_τ(i−1)).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

SPACINGS = ("uniform", "trailing", "quadratic", "linspace")


@dataclass(frozen=True, eq=False)
class DiffusionSchedule:
    """A variance-preserving schedule given by its betas: (T,) float64, each in (0, 1)."""

    betas: torch.Tensor

    def __post_init__(self) -> None:
        if self.betas.ndim != 1 or len(self.betas) == 0:
            raise ValueError(f"betas must be a non-empty 1-D tensor, got shape {tuple(self.betas.shape)}")
        if not bool(((self.betas > 0) & (self.betas < 1)).all()):
            raise ValueError("every beta must lie in (0, 1)")
        object.__setattr__(self, "betas", self.betas.to(device="cpu", dtype=torch.float64))

    @property
    def T(self) -> int:  # noqa: N802 — the papers' name
        """Number of diffusion steps."""
        return len(self.betas)

    @property
    def alphas(self) -> torch.Tensor:
        """α_t = 1 − β_t, (T,)."""
        return 1 - self.betas

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        """ᾱ_t = Π_{s ≤ t} α_s, (T,), decreasing from ≈ 1 towards 0."""
        return torch.cumprod(self.alphas, dim=0)

    @property
    def alphas_cumprod_prev(self) -> torch.Tensor:
        """ᾱ_{t−1}, (T,), with ᾱ_{−1} = 1 (the clean data)."""
        return torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])

    @property
    def posterior_variance(self) -> torch.Tensor:
        """β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t), the variance of q(x_{t−1} | x_t, x_0), (T,); β̃_0 = 0."""
        return self.betas * (1 - self.alphas_cumprod_prev) / (1 - self.alphas_cumprod)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Diffuse clean x0 (n, ...) to x_t = √ᾱ_t x0 + √(1 − ᾱ_t) noise for per-sample timesteps t (n,) long."""
        alpha_bar = self.alphas_cumprod.to(x0.device)[t].to(x0.dtype).reshape(-1, *([1] * (x0.ndim - 1)))
        return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise

    def timesteps(self, steps: int, spacing: str = "uniform") -> list[int]:
        """The ``steps`` timesteps a sampler visits, descending: ``spaced_timesteps(T, steps, spacing)``."""
        return spaced_timesteps(self.T, steps, spacing)


def linear_schedule(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> DiffusionSchedule:
    """Ho et al. 2020's schedule: β linear from beta_start to beta_end over T steps (float64)."""
    return DiffusionSchedule(torch.linspace(beta_start, beta_end, T, dtype=torch.float64))


def spaced_timesteps(T: int, steps: int, spacing: str = "uniform") -> list[int]:
    """The ``steps`` timesteps a DDIM/DDPM sampler visits among T, descending, distinct ints in [0, T − 1].

    - "uniform": the DDIM paper's code, ``range(0, T, T // S)``: [900, 800, …, 0] for T = 1000,
      S = 10. It starts at (T // S)·(S − 1) and never reaches t = T − 1, so the first step
      sees a little less noise than x_T ~ N(0, I) carries. When S does not divide T the
      paper's code yields more than S steps; we keep the first S. The same list as diffusers'
      "leading" (DDIMScheduler / DDPMScheduler, steps_offset = 0).
    - "trailing": Lin et al. 2023 / diffusers, ``round(arange(T, 0, −T/S)) − 1``: starts at
      T − 1 ([999, 899, …, 99] for S = 10) and stops short of t = 0.
    - "quadratic": the DDIM paper's "quad", ``int(linspace(0, √(0.8 T), S)²)``: dense at
      low noise, ends at 0.8 T. At T = 1000 it repeats timesteps for S ≥ 30 (the paper's
      code silently takes zero-length steps there); we raise ValueError instead.
    - "linspace": diffusers' "linspace", ``round(linspace(0, T − 1, S))``: both ends.

    Samplers step from each entry to the next one (then to ᾱ = 1). diffusers' DDIMScheduler steps
    from t to t − T // S instead, which is the next entry only for "leading", and for "trailing"
    when S divides T; its DDPMScheduler steps to the next entry, as here. DPM-Solver's spacings
    of the same names are other lists (``genbench.diffusion.dpm_solver.dpm_solver_timesteps``).
    """
    if not 1 <= steps <= T:
        raise ValueError(f"steps must satisfy 1 ≤ steps ≤ T = {T}, got {steps}")
    if spacing == "uniform":
        ts = np.arange(steps) * (T // steps)
    elif spacing == "trailing":
        ts = np.round(T - np.arange(steps) * (T / steps)) - 1  # = arange(T, 0, −T/S), exactly S long
    elif spacing == "quadratic":
        ts = np.floor(np.linspace(0, np.sqrt(0.8 * T), steps) ** 2)
    elif spacing == "linspace":
        ts = np.round(np.linspace(0, T - 1, steps))
    else:
        raise ValueError(f"unknown spacing {spacing!r}; allowed: {', '.join(SPACINGS)}")
    return distinct_descending(ts, steps, spacing, T)


def distinct_descending(ts: Sequence[float], steps: int, spacing: str, T: int) -> list[int]:  # noqa: N803
    """``ts`` as distinct descending ints; ValueError when fewer than ``steps`` remain."""
    out = sorted({int(t) for t in ts}, reverse=True)
    if len(out) != steps:
        raise ValueError(f"spacing {spacing!r} gives only {len(out)} distinct timesteps for steps={steps}, T={T}")
    return out
