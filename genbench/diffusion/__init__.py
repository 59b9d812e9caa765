"""Diffusion: the DDPM noise schedule, timestep spacings and samplers (no networks here)."""

from genbench.diffusion.samplers import EpsModel, ddim_sample, ddim_sigma, ddpm_sample, row_generators, standard_normal
from genbench.diffusion.schedule import SPACINGS, DiffusionSchedule, linear_schedule

__all__ = ["SPACINGS", "DiffusionSchedule", "EpsModel", "ddim_sample", "ddim_sigma", "ddpm_sample", "linear_schedule", "row_generators",
           "standard_normal"]
