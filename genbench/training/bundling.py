"""Bundling trained weights: float CPU copies, their fp16 rounding, and the check that decides
whether a network is bundled in fp16 (half the file) or fp32."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import nn

from genbench.assets import save_bundled_weights
from genbench.training.device import device_label
from genbench.training.loop import TrainLoop

FP16_PIXEL_TOLERANCE = 2 / 255  # largest change of a sample pixel ([0, 1] units) that fp16 weights may cause
FP16_LOSS_TOLERANCE = 0.01  # largest relative increase of a held-out loss that fp16 weights may cause

T = TypeVar("T")


def cpu_state(net: nn.Module) -> dict[str, torch.Tensor]:
    """A detached, contiguous CPU copy of ``net``'s state dict."""
    return {k: v.detach().cpu().clone(memory_format=torch.contiguous_format) for k, v in net.state_dict().items()}


def fp16_rounded(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with every floating-point tensor rounded to fp16 and back to float32 (others unchanged)."""
    return {k: v.half().float() if v.is_floating_point() else v for k, v in state.items()}


@torch.inference_mode()
def fp16_effect(net: nn.Module, state: dict[str, torch.Tensor], measure: Callable[[], T]) -> tuple[T, T]:
    """(``measure()`` with ``net`` as it is, ``measure()`` after loading ``fp16_rounded(state)`` into it),
    ``state`` being ``net``'s float weights; ``net`` keeps the rounded weights."""
    before = measure()
    net.load_state_dict(fp16_rounded(state))
    return before, measure()


def bundle_by_pixels(name: str, net: nn.Module, render: Callable[[], torch.Tensor], *, command: str,
                     config: dict[str, Any], hparams: dict[str, Any], args: argparse.Namespace, loop: TrainLoop,
                     device: torch.device, started: float) -> None:
    """Save ``net``'s weights as bundled model ``name``: fp16 when rounding them moves no pixel of
    ``render()`` (a [0, 1] image batch made with ``net``, in eval mode) by more than
    ``FP16_PIXEL_TOLERANCE``, else fp32. ``args`` supplies seed, n_train and threads; ``started``
    is the run's ``time.perf_counter()`` start."""
    state = cpu_state(net)
    net.eval()
    fp32, fp16 = fp16_effect(net, state, render)
    fp16_diff = float((fp16 - fp32).abs().max())
    entry = save_bundled_weights(name, state, config=config, command=command, fp16=fp16_diff <= FP16_PIXEL_TOLERANCE,
                                 seed=args.seed, train_split=f"train[0:{args.n_train}]", training=hparams,
                                 steps=loop.step, fp16_max_abs_pixel_diff=fp16_diff, final_log=loop.rows[-1],
                                 train_seconds=round(loop.train_seconds, 1), threads=args.threads,
                                 device=device_label(device))
    print(f"saved {name} ({entry['dtype']}, sha256 {entry['sha256'][:12]}…; fp16 max |Δpixel| {fp16_diff:.2e}); "
          f"total wall time {time.perf_counter() - started:.0f} s", file=sys.stderr)
