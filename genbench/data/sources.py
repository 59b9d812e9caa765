"""Image sources for reference statistics (``genbench stats``): shapes32, a folder of images, a
``.zip`` archive of images, or a torchvision dataset root (CIFAR-10/100, MNIST, or an
ImageFolder-style tree of class folders).

A source is (name, n, fetch) where ``fetch(start, k)`` returns images start … start+k−1 as uint8
NCHW RGB; files are read lazily, batch by batch, so memory stays bounded. ``batches`` walks a range
in consecutive batches; for file-backed sources it decodes in ``torch.utils.data.DataLoader``
worker processes, so decoding overlaps the caller's network work. Nothing is downloaded.

Every file is read as pytorch-fid reads it, ``np.asarray(Image.open(path).convert("RGB"))``, so
statistics agree with pytorch-fid's on the same folder:

- grayscale (L) is repeated to three channels; palette (P) is looked up; CMYK goes through PIL's
  own CMYK → RGB formula;
- alpha (RGBA, LA, PA) is dropped, not composited: a transparent pixel keeps its colour;
- 16- and 32-bit grayscale (I;16, I) is clipped to [0, 255], not rescaled: a 16-bit file with
  values above 255 reads as mostly white. (A 16-bit-per-channel RGB PNG opens as RGB: PIL keeps
  each value's high byte.)

A source records what it converted (``conversions``: file mode → number of files) and, with
``resize_inputs=N``, that every image was center-cropped to a square of its shorter side and
resized to N×N (``RESIZE_METHOD``); ``provenance()`` returns both. Inputs that change the features
before any network sees them, lossy JPEG files (counted by decoded format, whatever the suffix)
and images that ``resize_inputs`` actually cropped or resized, are counted too; the source then
warns in one line per kind when it is made (``InputWarning``, as torch-fidelity warns on JPEG) and
records the counts and the warnings in ``provenance()``.
"""

from __future__ import annotations

import functools
import io
import os
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.utils.data
from PIL import Image

from genbench.errors import GenbenchError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
TORCHVISION_MARKERS = {"cifar-10-batches-py": "CIFAR10", "cifar-100-python": "CIFAR100", "MNIST": "MNIST"}
RESIZE_METHOD = "center crop + PIL bicubic"
LOSSY_FORMATS = ("JPEG", "MPO")  # PIL's names of lossy JPEG files (MPO: multi-picture JPEG from cameras)
PREFETCH_BATCHES = 2  # batches each DataLoader worker decodes ahead of the consumer


class InputWarning(UserWarning):
    """Inputs that change the features before any network sees them (lossy JPEG files, images
    resized by ``resize_inputs``); the source's provenance records the same."""


def default_workers() -> int:
    """Decoding processes ``ImageSource.batches`` starts when not told: one per core but one (the
    calling process runs the network), at most 8; 0 (decode in the caller) on machines of at most
    2 cores, where torch's own threads already use every core and a worker only adds its start-up."""
    cores = os.cpu_count() or 1
    return 0 if cores <= 2 else min(8, cores - 1)


@dataclass
class ImageSource:
    """``name`` (recorded as the dataset in provenance), ``n`` images, ``fetch(start, k)`` → uint8
    NCHW RGB. Optional: ``item(i)`` → image i as uint8 CHW RGB (set by file-backed sources: it is
    what ``batches`` decodes in worker processes, and must be picklable), ``conversions`` (file
    mode → number of files converted to RGB; empty when all were RGB), ``resize_inputs`` (the
    side N of the N×N resize applied to every image, or None), ``lossy_jpeg`` (number of lossy
    JPEG files) and ``resized`` (number of images that ``resize_inputs`` cropped or resized: those
    not already N×N)."""

    name: str
    n: int
    fetch: Callable[[int, int], torch.Tensor]
    item: Callable[[int], np.ndarray] | None = None
    conversions: dict[str, int] = field(default_factory=dict)
    resize_inputs: int | None = None
    lossy_jpeg: int = 0
    resized: int = 0

    def input_warnings(self) -> list[str]:
        """One line per kind of input that changes the features: lossy JPEG files, resized images."""
        out = []
        if self.lossy_jpeg:
            out.append(f"{self.name}: {self.lossy_jpeg} of {self.n} images are lossy JPEG files; compression "
                       "artifacts change the features and FID (PNG keeps the pixels)")
        if self.resized:
            out.append(f"{self.name}: {self.resized} of {self.n} images were not {self.resize_inputs}×"
                       f"{self.resize_inputs} and were center-cropped and resized to it (resize_inputs, "
                       f"{RESIZE_METHOD}); resizing changes the features")
        return out

    def provenance(self) -> dict:
        """{"source", "n", "conversions" (mode → files, or "none"), "resize_inputs" ({"size",
        "method"}, or None)}: what was read and how it was turned into RGB images of one size; plus,
        only when there are any, "lossy_jpeg_files", "resized_files" and "warnings" (the lines of
        ``input_warnings``)."""
        resize = None if self.resize_inputs is None else {"size": self.resize_inputs, "method": RESIZE_METHOD}
        record = {"source": self.name, "n": self.n, "conversions": dict(self.conversions) or "none",
                  "resize_inputs": resize}
        if self.lossy_jpeg:
            record["lossy_jpeg_files"] = self.lossy_jpeg
        if self.resized:
            record["resized_files"] = self.resized
        if notes := self.input_warnings():
            record["warnings"] = notes
        return record

    def warn(self) -> "ImageSource":
        """Issue each of ``input_warnings`` as a one-line ``InputWarning``; returns the source."""
        for message in self.input_warnings():
            warnings.warn(message, InputWarning, stacklevel=3)
        return self

    def batches(self, batch_size: int, start: int = 0, stop: int | None = None,
                workers: int | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        """(global index of the batch's first image, uint8 NCHW images) for consecutive batches over
        [start, stop) (stop: ``n`` when None), in order, starting at start, start + batch_size, …;
        the last batch may be shorter. The images equal ``fetch``'s, byte for byte.

        ``workers``: decoding processes (None: ``default_workers()``; 0: decode in the calling
        process). Sources without ``item`` (in-memory or procedural: shapes32, an .npz) always
        call ``fetch`` in the calling process. An unreadable file raises the same one-line
        GenbenchError whichever process decoded it, after the batches before it were yielded."""
        stop = self.n if stop is None else stop
        workers = default_workers() if workers is None else workers
        if batch_size < 1 or workers < 0 or not 0 <= start <= stop <= self.n:
            raise ValueError(f"{self.name}: batches need batch_size >= 1, workers >= 0 and 0 <= start <= stop <= "
                             f"{self.n}; got batch_size={batch_size}, workers={workers}, [{start}, {stop})")
        if self.item is None or workers == 0:
            return _fetched_batches(self.fetch, batch_size, start, stop)
        return _loaded_batches(self.item, self.name, batch_size, start, stop, workers)


def _fetched_batches(fetch: Callable[[int, int], torch.Tensor], batch_size: int, start: int,
                     stop: int) -> Iterator[tuple[int, torch.Tensor]]:
    for first in range(start, stop, batch_size):
        yield first, fetch(first, min(batch_size, stop - first))


@dataclass
class _Failed:
    """A user error (ValueError, GenbenchError) raised while decoding in a worker, carried back to
    the main process as a value, so it is re-raised there unchanged: DataLoader would otherwise
    wrap it in a multi-line message holding the worker's traceback."""

    error: ValueError


class _Items(torch.utils.data.Dataset):
    """Images [start, stop) of ``item`` as a map-style dataset: index j is image start + j."""

    def __init__(self, item: Callable[[int], np.ndarray], start: int, stop: int) -> None:
        self.item, self.start, self.stop = item, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, j: int) -> np.ndarray | _Failed:
        try:
            return self.item(self.start + j)
        except ValueError as exc:  # GenbenchError is a ValueError; anything else is a bug and keeps its traceback
            return _Failed(exc)


def _collate(arrays: list[np.ndarray | _Failed], where: str) -> torch.Tensor | _Failed:
    """The images stacked as uint8 NCHW, or the first failure among them."""
    failed = next((a for a in arrays if isinstance(a, _Failed)), None)
    if failed is not None:
        return failed
    try:
        return _stack(arrays, where)
    except ValueError as exc:
        return _Failed(exc)


def _loaded_batches(item: Callable[[int], np.ndarray], where: str, batch_size: int, start: int, stop: int,
                    workers: int) -> Iterator[tuple[int, torch.Tensor]]:
    loader = torch.utils.data.DataLoader(
        _Items(item, start, stop), batch_size=batch_size, shuffle=False, num_workers=workers,
        collate_fn=functools.partial(_collate, where=where), persistent_workers=False,
        prefetch_factor=PREFETCH_BATCHES)
    batches = iter(loader)
    try:
        for b, batch in enumerate(batches):
            if isinstance(batch, _Failed):
                raise batch.error
            yield start + b * batch_size, batch
    finally:
        del batches  # shut the workers down now, not when a traceback that holds this frame is freed


def _square(img: Image.Image, size: int) -> Image.Image:
    """The centered square of ``img``'s shorter side (offsets rounded down), resized to size×size
    with PIL bicubic."""
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return img.crop((left, top, left + side, top + side)).resize((size, size), resample=Image.Resampling.BICUBIC)


def _to_rgb_uint8(img: Image.Image, resize: int | None = None) -> np.ndarray:
    """``img`` as pytorch-fid reads it (``convert("RGB")``), then, with ``resize``, cropped and
    resized by ``_square``: RGB uint8 CHW. Converting first means palette images are resampled in
    RGB (PIL would resize P nearest-neighbour) and alpha never enters the interpolation."""
    rgb = img.convert("RGB")
    if resize is not None:
        rgb = _square(rgb, resize)
    return np.asarray(rgb).transpose(2, 0, 1)


# what PIL raises for a file it cannot decode: UnidentifiedImageError and "image file is truncated"
# are OSErrors; a broken chunk can surface as SyntaxError or ValueError; DecompressionBombError
_UNREADABLE = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def _unreadable(path: Path, exc: BaseException) -> GenbenchError:
    detail = " ".join(str(exc).split()) or type(exc).__name__  # one line
    return GenbenchError(f"cannot read image file {path}: {detail}")


def _read_rgb(path: Path, resize: int | None = None) -> np.ndarray:
    """One image file as RGB uint8 CHW (see ``_to_rgb_uint8``); GenbenchError naming the file if it
    cannot be decoded."""
    try:
        with Image.open(path) as img:
            return _to_rgb_uint8(img, resize)
    except _UNREADABLE as exc:
        raise _unreadable(path, exc) from exc


_ZIPS: dict[str, tuple[tuple, zipfile.ZipFile]] = {}  # path → (what identifies the open file, archive)


def _open_zip(path: Path) -> zipfile.ZipFile:
    """``path`` opened once per process and per version of the file: reading the central directory
    of a large archive per image would dominate; a handle inherited across fork would share its file
    offset with the parent (the process id is part of the key); an archive rewritten since it was
    opened is opened again (its inode, size and mtime are too)."""
    try:
        st = os.stat(path)
        key = (os.getpid(), st.st_ino, st.st_size, st.st_mtime_ns)
        held = _ZIPS.get(str(path))
        if held is not None and held[0] == key:
            return held[1]
        if held is not None and held[0][0] == key[0]:  # this process's handle on an older version
            held[1].close()
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise GenbenchError(f"cannot read zip archive {path}: {' '.join(str(exc).split())}") from exc
    _ZIPS[str(path)] = (key, archive)
    return archive


def _read_zip_member(path: Path, name: str, resize: int | None = None) -> np.ndarray:
    """Member ``name`` of archive ``path`` as RGB uint8 CHW, decoded from its bytes as a file is."""
    try:
        data = _open_zip(path).read(name)
        with Image.open(io.BytesIO(data)) as img:
            return _to_rgb_uint8(img, resize)
    except (*_UNREADABLE, zipfile.BadZipFile, KeyError) as exc:  # KeyError: gone from a rewritten archive
        raise _unreadable(Path(f"{path}:{name}"), exc) from exc


def _stack(arrays: list[np.ndarray], where: str) -> torch.Tensor:
    sizes = {a.shape for a in arrays}
    if len(sizes) > 1:
        raise ValueError(f"images in {where} have different sizes {sorted(sizes)}; resize them to one size first")
    return torch.from_numpy(np.stack(arrays))


@dataclass(frozen=True)
class _FileItem:
    """Image i of a list of files (picklable, for DataLoader workers under any start method)."""

    files: tuple[Path, ...]
    resize: int | None

    def __call__(self, i: int) -> np.ndarray:
        return _read_rgb(self.files[i], self.resize)


@dataclass(frozen=True)
class _ZipItem:
    """Image i of a list of members of a zip archive (picklable: each process opens the archive)."""

    path: Path
    names: tuple[str, ...]
    resize: int | None

    def __call__(self, i: int) -> np.ndarray:
        return _read_zip_member(self.path, self.names[i], self.resize)


@dataclass(frozen=True)
class _DatasetItem:
    """Image i of a torchvision dataset whose items are (PIL image, label)."""

    dataset: Any
    resize: int | None

    def __call__(self, i: int) -> np.ndarray:
        return _to_rgb_uint8(self.dataset[i][0], self.resize)


def _check_resize(resize_inputs: int | None) -> None:
    if resize_inputs is not None and (isinstance(resize_inputs, bool) or not isinstance(resize_inputs, int)
                                      or resize_inputs < 1):
        raise ValueError(f"resize_inputs must be a positive number of pixels or None, got {resize_inputs!r}")


def _image_files(path: Path) -> list[Path]:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        files = sorted(p for d in sorted(path.iterdir()) if d.is_dir() for p in d.iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {path} or its subfolders")
    return files


@dataclass
class _Headers:
    """What the headers of a list of files say: ``sizes`` (W, H) → (a file of that size, number of
    files), ``modes`` (non-RGB mode → number of files), ``lossy_jpeg`` (number of JPEG files)."""

    sizes: dict[tuple[int, int], tuple[str, int]] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    lossy_jpeg: int = 0

    def add(self, img: Image.Image, name: str) -> None:
        first, count = self.sizes.get(img.size, (name, 0))
        self.sizes[img.size] = (first, count + 1)
        if img.mode != "RGB":
            self.modes[img.mode] = self.modes.get(img.mode, 0) + 1
        self.lossy_jpeg += img.format in LOSSY_FORMATS

    def one_size(self, where: object, resize_inputs: int | None) -> int:
        """Raise ValueError for images of different sizes unless ``resize_inputs`` = N; return the
        number of images that the N×N resize changes (not already N×N; 0 without a resize)."""
        if len(self.sizes) > 1 and resize_inputs is None:
            raise ValueError(f"images in {where} have different sizes (W×H: "
                             f"{', '.join(f'{w}×{h} e.g. {name}' for (w, h), (name, _) in self.sizes.items())}); "
                             "resize them to one size first")
        if resize_inputs is None:
            return 0
        return sum(count for size, (_, count) in self.sizes.items() if size != (resize_inputs, resize_inputs))


def _scan_headers(files: list[Path]) -> _Headers:
    """Headers only. A file that is not an image fails here, before any work."""
    headers = _Headers()
    for p in files:
        try:
            with Image.open(p) as img:
                headers.add(img, p.name)
        except _UNREADABLE as exc:
            raise _unreadable(p, exc) from exc
    return headers


def folder_source(path: Path, resize_inputs: int | None = None) -> ImageSource:
    """Image files directly in ``path`` (sorted by name), or in its class subfolders (ImageFolder
    layout: sorted by class, then by name). Every header is read first: a file that is not an image
    fails before any work, and so do images of different sizes unless ``resize_inputs`` = N, which
    center-crops every image to a square of its shorter side and resizes it to N×N (PIL bicubic,
    on the RGB image; clean-fid instead resizes each channel in float32 without a crop and keeps
    the fractional values, so its inputs can differ from these by rounding). Lossy JPEG files and
    images the resize changed are warned about and recorded (module docstring)."""
    _check_resize(resize_inputs)
    files = _image_files(path)
    headers = _scan_headers(files)
    resized = headers.one_size(path, resize_inputs)
    item = _FileItem(tuple(files), resize_inputs)

    def fetch(start: int, k: int) -> torch.Tensor:
        return _stack([item(i) for i in range(start, start + k)], str(path))

    return ImageSource(f"folder:{path.name}", len(files), fetch, item, headers.modes, resize_inputs,
                       headers.lossy_jpeg, resized).warn()


def is_zip_archive(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a ``.zip`` file (any case): an archive of images."""
    path = Path(path)
    return path.suffix.lower() == ".zip" and path.is_file()


def _zip_members(path: Path) -> list[str]:
    """The image members of archive ``path`` at any depth (by suffix, as folders; macOS's
    ``__MACOSX/`` resource forks left out), sorted by their folders, then by name: a zip of a folder
    lists its images in the folder's order."""
    names = [name for name in _open_zip(path).namelist()
             if not name.endswith("/") and not name.startswith("__MACOSX/")
             and Path(name).suffix.lower() in IMAGE_SUFFIXES]
    if not names:
        raise ValueError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in zip archive {path}")
    return sorted(names, key=lambda name: name.split("/"))


def zip_source(path: Path, resize_inputs: int | None = None) -> ImageSource:
    """The images of a ``.zip`` archive (what clean-fid and EDM2 read): every image member at any
    depth, sorted by folder, then by name (``_zip_members``), each decoded from its bytes as
    ``folder_source`` decodes a file, so a zip of a folder gives the folder's images bit for bit.
    Headers, sizes, ``resize_inputs``, warnings and records as ``folder_source``."""
    _check_resize(resize_inputs)
    path = Path(path)
    names = _zip_members(path)
    headers = _Headers()
    archive = _open_zip(path)
    for name in names:
        try:
            with archive.open(name) as member, Image.open(member) as img:
                headers.add(img, name)
        except (*_UNREADABLE, zipfile.BadZipFile) as exc:
            raise _unreadable(Path(f"{path}:{name}"), exc) from exc
    resized = headers.one_size(path, resize_inputs)
    item = _ZipItem(path, tuple(names), resize_inputs)

    def fetch(start: int, k: int) -> torch.Tensor:
        return _stack([item(i) for i in range(start, start + k)], str(path))

    return ImageSource(f"zip:{path.name}", len(names), fetch, item, headers.modes, resize_inputs,
                       headers.lossy_jpeg, resized).warn()


def torchvision_dataset(path: Path) -> str | None:
    """The torchvision dataset class (``TORCHVISION_MARKERS``) whose files are under ``path``, or None."""
    return next((cls for marker, cls in TORCHVISION_MARKERS.items() if (Path(path) / marker).exists()), None)


def torchvision_source(path: Path, split: str, resize_inputs: int | None = None) -> ImageSource | None:
    """A torchvision dataset found under ``path`` (no download), or None. ``conversions`` is read from
    the first image (these datasets hold one mode: MNIST is L, CIFAR is RGB)."""
    _check_resize(resize_inputs)
    kind = torchvision_dataset(path)
    if kind is None:
        return None
    import torchvision

    dataset = getattr(torchvision.datasets, kind)(str(path), train=split == "train", download=False)
    item = _DatasetItem(dataset, resize_inputs)
    first = dataset[0][0] if len(dataset) else None
    mode = first.mode if first is not None else "RGB"
    # these datasets hold images of one size: the resize changes all of them or none
    resized = len(dataset) if first is not None and resize_inputs is not None and \
        first.size != (resize_inputs, resize_inputs) else 0

    def fetch(start: int, k: int) -> torch.Tensor:
        return _stack([item(i) for i in range(start, start + k)], kind)

    return ImageSource(f"{kind.lower()}", len(dataset), fetch, item,
                       {} if mode == "RGB" else {mode: len(dataset)}, resize_inputs, resized=resized).warn()


def image_source(spec: str, split: str = "train", resize_inputs: int | None = None) -> ImageSource:
    """``shapes32``, a torchvision dataset root, a folder of images or a ``.zip`` archive of images.
    ``resize_inputs`` (see ``folder_source``) applies to folders, archives and torchvision roots;
    shapes32 is rendered at 32×32."""
    _check_resize(resize_inputs)
    if spec == "shapes32":
        if resize_inputs is not None:
            raise ValueError("resize_inputs applies to folders, zip archives and torchvision roots, not to shapes32")
        from genbench.data.shapes32 import SPLIT_SIZES, shapes32

        return ImageSource("shapes32", SPLIT_SIZES[split], lambda start, k: shapes32(split, start, k).images)
    path = Path(spec)
    if is_zip_archive(path):
        return zip_source(path, resize_inputs)
    if not path.is_dir():
        raise ValueError(f"unknown image source {spec!r}: not 'shapes32', a folder or a .zip archive")
    return torchvision_source(path, split, resize_inputs) or folder_source(path, resize_inputs)
