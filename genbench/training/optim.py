"""Optimizer steps and learning-rate schedules (rates in the optimizer's units; steps 0-based)."""

from __future__ import annotations

import math

import torch


def optimizer_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor,
                   grad_clip: float | None = None) -> torch.Tensor | None:
    """Zero the gradients, backpropagate ``loss``, clip the global gradient norm of the optimizer's
    parameters (in group order) to ``grad_clip`` when given, and step. Returns the norm before
    clipping (a 0-d tensor), or None without clipping."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = None
    if grad_clip is not None:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimizer.step()
    return norm


def set_learning_rate(lr: float, *optimizers: torch.optim.Optimizer) -> None:
    """Set every parameter group of ``optimizers`` to rate ``lr``."""
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["lr"] = lr


def warmup_constant(step: int, peak: float, warmup_steps: int) -> float:
    """Linear warm-up to ``peak`` over ``warmup_steps`` steps (step 0 trains at peak/warmup_steps), then constant."""
    return peak * min(1.0, (step + 1) / warmup_steps)


def linear_decay(step: int, peak: float, start: int | None, end: int) -> float:
    """``peak`` before step ``start``, then falling linearly to 0 at step ``end``; constant when ``start`` is None."""
    if start is None or step < start:
        return peak
    return peak * (end - step) / (end - start)


def warmup_cosine(step: int, peak: float, warmup_steps: int, total_steps: int) -> float:
    """Linear warm-up to ``peak`` over ``warmup_steps``, then a cosine from ``peak`` to 0 at ``total_steps``."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    return 0.5 * peak * (1 + math.cos(math.pi * (step - warmup_steps) / max(1, total_steps - warmup_steps)))
