"""What the two ε-prediction trainers (``train_ddpm`` on pixels, ``train_ldm`` on autoencoder
latents) share: the noise schedule's constants (T = 1000, β linear 1e-4 → 0.02), AdamW's weight
decay, the gradient-norm clip, and the held-out ε-MSE that decides whether fp16 weights are bundled."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

T, BETA_START, BETA_END = 1000, 1e-4, 0.02
WEIGHT_DECAY, GRAD_CLIP = 0.01, 1.0


@torch.inference_mode()
def held_out_loss(loss: Callable[[slice, torch.Tensor, torch.Tensor], torch.Tensor], shape: Sequence[int],
                  seed: int = 0, batch_size: int = 250) -> float:
    """Mean over ``shape[0]`` examples of ``loss(rows, t, ε)`` (the mean loss of the examples in slice
    ``rows``), taken in batches of ``batch_size``, with t uniform in [0, T) and ε ~ N(0, I) of
    ``shape`` drawn once from ``seed`` on the CPU, so the value is comparable between weights and devices."""
    g = torch.Generator().manual_seed(seed)
    n = shape[0]
    t = torch.randint(T, (n,), generator=g)
    noise = torch.randn(tuple(shape), generator=g)
    total = 0.0
    for lo in range(0, n, batch_size):
        rows = slice(lo, lo + batch_size)
        total += float(loss(rows, t[rows], noise[rows])) * len(t[rows])
    return total / n
