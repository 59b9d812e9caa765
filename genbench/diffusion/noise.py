"""The samplers' randomness: the Gaussian draws every sampler makes, and per-sample generators.

x_T (unless a sampler is given it as ``noise``) and every fresh z are drawn on the CPU from
``generator`` (a CPU ``torch.Generator``; None uses torch's global RNG), then moved to x's
device, so a seed gives the same samples on every device. ``generator`` may also be a sequence
of generators, one per sample (row): row i then draws all its noise from ``generator[i]``
alone, so sample i does not depend on which batch it was drawn in (``row_generators`` seeds one
per sample index).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

Randomness = torch.Generator | Sequence[torch.Generator] | None


def row_generators(seed: int, start: int, n: int) -> list[torch.Generator]:
    """One CPU generator per sample index start … start+n−1, seeded from (seed, index) through
    numpy's ``SeedSequence`` (well-mixed, platform-independent), for per-sample randomness."""
    if seed < 0 or start < 0:
        raise ValueError(f"seed and start must be >= 0, got seed={seed}, start={start}")
    gens = []
    for i in range(start, start + n):
        state = np.random.SeedSequence([seed, i]).generate_state(2, np.uint32)
        gens.append(torch.Generator().manual_seed(int(state[0]) << 31 ^ int(state[1])))
    return gens


def standard_normal(shape: Sequence[int], generator: Randomness, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """N(0, I) of ``shape`` on the CPU from one generator, or row by row from one generator per row."""
    if generator is None or isinstance(generator, torch.Generator):
        return torch.randn(tuple(shape), generator=generator, dtype=dtype)
    if len(generator) != shape[0]:
        raise ValueError(f"{len(generator)} row generators for {shape[0]} rows")
    return torch.stack([torch.randn(tuple(shape[1:]), generator=g, dtype=dtype) for g in generator])


def standard_normal_like(x: torch.Tensor, generator: Randomness) -> torch.Tensor:
    """N(0, I) of x's shape and dtype, drawn on the CPU (``standard_normal``) and moved to x's device."""
    return standard_normal(x.shape, generator, x.dtype).to(x.device)


def initial_noise(shape: Sequence[int], noise: torch.Tensor | None, generator: Randomness,
                  dtype: torch.dtype, device: torch.device | str | None) -> torch.Tensor:
    """A sampler's x_T: ``noise`` if given (its shape must be ``shape``; it keeps its dtype and is
    moved to ``device`` if one is given), else drawn from ``generator`` as ``dtype`` and placed on
    ``device`` (default CPU)."""
    if noise is None:
        return standard_normal(shape, generator, dtype).to("cpu" if device is None else device)
    if tuple(noise.shape) != tuple(shape):
        raise ValueError(f"noise has shape {tuple(noise.shape)}, expected {tuple(shape)}")
    return noise if device is None else noise.to(device)
