"""The device a training script runs on: ``--device`` parsing, CUDA settings, and its name for the manifest."""

from __future__ import annotations

import torch


def training_device(name: str) -> torch.device:
    """``torch.device(name)``, refusing CUDA where none is available; on CUDA, matrix products and
    convolutions may use TF32 (``torch.set_float32_matmul_precision("high")``)."""
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit(f"--device {name}: CUDA is not available on this machine")
        torch.set_float32_matmul_precision("high")
    return device


def device_label(device: torch.device) -> str:
    """"cpu", or the GPU's name (recorded with bundled weights: timings and rounding depend on it)."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


def device_option(device: torch.device) -> str:
    """The ``--device`` option to append to a recorded training command ("" on the CPU, the default)."""
    return "" if device.type == "cpu" else f" --device {device}"
