"""Sample grids as PNG."""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import make_grid

from genbench.images import to_uint8, validate_images
from genbench.io import atomic_path


def save_grid(images: torch.Tensor, path: str | Path, nrow: int = 8, padding: int = 2) -> Path:
    """Write a batch (uint8 or [0, 1] float, NCHW RGB) as one grid PNG, ``nrow`` images per row,
    gray padding; atomically."""
    from PIL import Image

    batch = to_uint8(validate_images(images, name="grid images"))
    grid = make_grid(batch, nrow=nrow, padding=padding, pad_value=128)
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(grid.permute(1, 2, 0).numpy()).save(tmp, format="png")
    return path
