"""Sample grids as PNG."""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import make_grid

from genbench.images import unit_to_uint8, validate_images
from genbench.io import atomic_path


def save_grid(images: torch.Tensor, path: str | Path, nrow: int = 8, padding: int = 2) -> Path:
    """Write a batch (uint8 or [0, 1] float, NCHW RGB) as one grid PNG, ``nrow`` images per row,
    gray padding; atomically."""
    from PIL import Image

    batch = unit_to_uint8(validate_images(images, name="grid images"))
    grid = make_grid(batch, nrow=nrow, padding=padding, pad_value=128)
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(grid.permute(1, 2, 0).numpy()).save(tmp, format="png")
    return path


def save_grid_prompts(captions: list[str], grid_path: str | Path, nrow: int = 8, header: str = "") -> Path:
    """Write the prompts of a grid's images beside it, ``<grid stem>_prompts.txt``: an optional
    header line, then one line per grid row, the captions left to right separated by " | "."""
    from genbench.io import atomic_write_text

    grid_path = Path(grid_path)
    lines = [header] if header else []
    lines += [f"row {r}: " + " | ".join(captions[i:i + nrow]) for r, i in enumerate(range(0, len(captions), nrow))]
    path = grid_path.with_name(f"{grid_path.stem}_prompts.txt")
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
