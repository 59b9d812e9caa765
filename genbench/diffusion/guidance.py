"""Classifier-free guidance (Ho & Salimans 2022) as a wrapper callable: samplers stay unchanged.

A conditional denoiser ``eps_model(x_t, t, context) -> ε̂`` trained with condition dropout (the
dropped condition replaced by a null context) gives both ε̂_c = ε̂(x_t, t, cond) and ε̂_u =
ε̂(x_t, t, uncond). Guidance with scale s samples with

    ε̃ = ε̂_u + s · (ε̂_c − ε̂_u),

so s = 1 is the plain conditional model, s = 0 the unconditional one, and s > 1 trades diversity
for prompt adherence. ``cfg_eps_model`` returns ``(x_t, t) -> ε̃``, an ε-prediction network as a
``Denoiser`` takes it (``Denoiser(cfg_eps_model(…), schedule, "epsilon")``), so every sampler
drives it unchanged.

Cost: for s ∉ {0, 1} each call runs the network once on the doubled batch [x; x] with contexts
[cond; uncond], i.e. two network evaluations per sample and step (``nfe_per_step``); s = 1 runs
only the conditional pass and s = 0 only the unconditional one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from genbench.diffusion.samplers import EpsModel

ConditionalEpsModel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def nfe_per_step(scale: float) -> int:
    """Network evaluations per sample and sampler step at guidance ``scale``: 1 for s ∈ {0, 1}, else 2."""
    return 1 if scale in (0, 1) else 2


def cfg_eps_model(eps_model: ConditionalEpsModel, cond: torch.Tensor, uncond: torch.Tensor,
                  scale: float) -> EpsModel:
    """A sampler-compatible ``(x_t, t) -> ε̂_u + scale·(ε̂_c − ε̂_u)``.

    ``cond``: the conditioning context, first dimension n (one row per sample); ``uncond``: the
    null context, first dimension n or 1 (expanded to n). ``scale`` ≥ 0 (float). For scale 1 only
    ε̂_c is computed, for scale 0 only ε̂_u; otherwise one batched pass over [cond; uncond].
    """
    if not scale >= 0:
        raise ValueError(f"guidance scale must be >= 0, got {scale}")
    n = cond.shape[0]
    if uncond.shape[0] not in (1, n) or uncond.shape[1:] != cond.shape[1:]:
        raise ValueError(f"uncond {tuple(uncond.shape)} does not match cond {tuple(cond.shape)}")
    uncond = uncond.expand(n, *uncond.shape[1:])
    if scale == 1:
        return lambda x, t: eps_model(x, t, cond)
    if scale == 0:
        return lambda x, t: eps_model(x, t, uncond)
    both = torch.cat([cond, uncond])

    def guided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        eps_c, eps_u = eps_model(torch.cat([x, x]), torch.cat([t, t]), both).chunk(2)
        return eps_u + scale * (eps_c - eps_u)

    return guided
