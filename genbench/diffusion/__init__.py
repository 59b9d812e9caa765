"""Diffusion: the DDPM noise schedule, timestep spacings, the ``Denoiser`` (a network with its
schedule and prediction type), the samplers over it and their randomness (no networks here)."""

from genbench.diffusion.denoiser import Denoiser, diffusers_betas
from genbench.diffusion.dpm_solver import dpm_solver_timesteps, sample_dpmsolver
from genbench.diffusion.noise import row_generators, standard_normal
from genbench.diffusion.samplers import (SAMPLERS, EpsModel, ddim_sample, ddim_sigma, run_sampler, sample_ddim,
                                         sample_ddpm, sampler_nfe, sampler_options)
from genbench.diffusion.schedule import SPACINGS, DiffusionSchedule, linear_schedule

__all__ = ["SAMPLERS", "SPACINGS", "Denoiser", "DiffusionSchedule", "EpsModel", "ddim_sample", "ddim_sigma",
           "diffusers_betas", "dpm_solver_timesteps", "linear_schedule", "row_generators", "run_sampler",
           "sample_ddim", "sample_ddpm", "sample_dpmsolver", "sampler_nfe", "sampler_options", "standard_normal"]
