"""Where genbench's networks run unless told otherwise: ``default_device``."""

from __future__ import annotations

import torch


def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
