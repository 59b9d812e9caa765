"""Image sources for reference statistics (``genbench stats``): shapes32, a folder of images, or a
torchvision dataset root (CIFAR-10/100, MNIST, or an ImageFolder-style tree of class folders).

A source is (name, n, fetch) where ``fetch(start, k)`` returns images start … start+k−1 as uint8
NCHW RGB; files are read lazily, batch by batch, so memory stays bounded. Grayscale images are
repeated to three channels (as pytorch-fid and torch-fidelity do). Nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genbench.errors import GenbenchError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
TORCHVISION_MARKERS = {"cifar-10-batches-py": "CIFAR10", "cifar-100-python": "CIFAR100", "MNIST": "MNIST"}


@dataclass
class ImageSource:
    """``name`` (recorded as the dataset in provenance), ``n`` images, ``fetch(start, k)``."""

    name: str
    n: int
    fetch: Callable[[int, int], torch.Tensor]


def _to_rgb_uint8(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB")).transpose(2, 0, 1)


# what PIL raises for a file it cannot decode: UnidentifiedImageError and "image file is truncated"
# are OSErrors; a broken chunk can surface as SyntaxError or ValueError; DecompressionBombError
_UNREADABLE = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def _unreadable(path: Path, exc: BaseException) -> GenbenchError:
    detail = " ".join(str(exc).split()) or type(exc).__name__  # one line
    return GenbenchError(f"cannot read image file {path}: {detail}")


def _read_rgb(path: Path) -> np.ndarray:
    """One image file as RGB uint8 CHW; GenbenchError naming the file if it cannot be decoded."""
    try:
        with Image.open(path) as img:
            return _to_rgb_uint8(img)
    except _UNREADABLE as exc:
        raise _unreadable(path, exc) from exc


def _stack(arrays: list[np.ndarray], where: str) -> torch.Tensor:
    sizes = {a.shape for a in arrays}
    if len(sizes) > 1:
        raise ValueError(f"images in {where} have different sizes {sorted(sizes)}; resize them to one size first")
    return torch.from_numpy(np.stack(arrays))


def folder_source(path: Path) -> ImageSource:
    """Image files directly in ``path`` (sorted by name), or in its class subfolders (ImageFolder
    layout: sorted by class, then by name)."""
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        files = sorted(p for d in sorted(path.iterdir()) if d.is_dir() for p in d.iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {path} or its subfolders")
    sizes = {}
    for p in files:  # headers only: a mixed folder (or a file that is not an image) fails here, before any work
        try:
            with Image.open(p) as img:
                sizes.setdefault(img.size, p.name)
        except _UNREADABLE as exc:
            raise _unreadable(p, exc) from exc
    if len(sizes) > 1:
        raise ValueError(f"images in {path} have different sizes (W×H: "
                         f"{', '.join(f'{w}×{h} e.g. {name}' for (w, h), name in sizes.items())}); resize them to one size first")

    def fetch(start: int, k: int) -> torch.Tensor:
        return _stack([_read_rgb(p) for p in files[start:start + k]], str(path))

    return ImageSource(f"folder:{path.name}", len(files), fetch)


def torchvision_source(path: Path, split: str) -> ImageSource | None:
    """A torchvision dataset found under ``path`` (no download), or None."""
    kind = next((cls for marker, cls in TORCHVISION_MARKERS.items() if (path / marker).exists()), None)
    if kind is None:
        return None
    import torchvision

    dataset = getattr(torchvision.datasets, kind)(str(path), train=split == "train", download=False)

    def fetch(start: int, k: int) -> torch.Tensor:
        return _stack([_to_rgb_uint8(dataset[i][0]) for i in range(start, start + k)], kind)

    return ImageSource(f"{kind.lower()}", len(dataset), fetch)


def image_source(spec: str, split: str = "train") -> ImageSource:
    """``shapes32``, a torchvision dataset root, or a folder of images."""
    if spec == "shapes32":
        from genbench.data.shapes32 import SPLIT_SIZES, shapes32

        return ImageSource("shapes32", SPLIT_SIZES[split], lambda start, k: shapes32(split, start, k).images)
    path = Path(spec)
    if not path.is_dir():
        raise ValueError(f"unknown image source {spec!r}: not 'shapes32' and not a folder")
    return torchvision_source(path, split) or folder_source(path)
