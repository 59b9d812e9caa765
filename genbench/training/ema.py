"""Exponential moving averages of weights: the networks the trainers sample from and bundle."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema ← decay·ema + (1 − decay)·model for parameters; buffers (e.g. BatchNorm statistics) are copied."""
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


def ema_decay(step: int, decay: float) -> float:
    """The decay applied after step ``step`` (0-based) with the usual warm-up, min(decay, (1 + step)/(10 + step)),
    so early EMA weights are not the random initialisation."""
    return min(decay, (1 + step) / (10 + step))
