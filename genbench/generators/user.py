"""User-supplied generators (an .npz of samples, a folder or .zip archive of images, a Python
callable, or a plug-in from the entry-point group ``genbench.generators``) and ``load_generator``,
which turns any generator spec into a Generator (bundled names and diffusion models included).

Stored samples (npz, folder, zip) have no seed: sample i is stored item i for every seed, and asking
for more samples than are stored is an error. A callable ``module:function`` is called as
``function(seed, start, n)`` and must return samples start … start+n−1 for that seed (uint8
[0, 255] or float [0, 1], NCHW RGB), so that sample i depends only on (seed, i).
"""

from __future__ import annotations

import inspect
import zipfile
import zlib
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genbench.data.sources import folder_source, is_zip_archive, zip_source
from genbench.errors import GenbenchError
from genbench.generators.base import Generator, GeneratorMeta
from genbench.generators.import_spec import import_object
from genbench.images import unit_to_uint8, validate_images

GENERATOR_GROUP = "genbench.generators"


class _StoredSamples(Generator):
    """Samples held in memory as uint8 NCHW; the seed is ignored (documented above)."""

    stored = True  # read, not sampled: no speed to time

    def __init__(self, images: torch.Tensor, name: str) -> None:
        self.images = validate_images(images, name=name)
        self.meta = GeneratorMeta(name=name, resolution=tuple(self.images.shape[-2:]))

    def sample_range(self, seed: int, start: int, n: int) -> torch.Tensor:
        if start < 0 or start + n > len(self.images):
            raise ValueError(f"{self.meta.name} holds {len(self.images)} samples; asked for [{start}, {start + n})")
        return unit_to_uint8(self.images[start:start + n])


# what np.load and NpzFile raise for a damaged zip: zipfile.BadZipFile (truncated: no central
# directory; bad CRC), EOFError / OSError (short reads), ValueError (a bad .npy header inside, an
# object array), zlib.error (corrupted compressed data)
_UNREADABLE_NPZ = (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error)


def _unreadable_npz(path: Path, exc: BaseException) -> GenbenchError:
    detail = " ".join(str(exc).split()) or type(exc).__name__  # one line
    return GenbenchError(f"cannot read samples file {path}: {detail} (expected an .npz written by np.savez)")


class NpzSamples(_StoredSamples):
    """An .npz of uint8 samples: key ``key`` (default: the only array, or ``arr_0`` as in the
    ADM evaluator's files), NCHW or NHWC (C = 3, detected from the shape)."""

    def __init__(self, path: str | Path, key: str | None = None) -> None:
        path = Path(path)
        try:
            with open(path, "rb") as fh:
                magic = fh.read(6)
        except OSError as exc:
            raise _unreadable_npz(path, exc) from exc
        if magic.startswith(b"\x93NUMPY"):  # np.load would return the bare array
            raise GenbenchError(f"{path} is an .npy array, not an .npz archive; save the samples with np.savez")
        if not magic.startswith(b"PK"):  # np.load would try to unpickle it (and suggest allow_pickle)
            raise GenbenchError(f"cannot read samples file {path}: not an .npz archive (no zip header; "
                                "expected a file written by np.savez)")
        try:
            f = np.load(path, allow_pickle=False)
        except _UNREADABLE_NPZ as exc:
            raise _unreadable_npz(path, exc) from exc
        with f:
            keys = list(f.files)
            key = key or ("arr_0" if "arr_0" in keys else keys[0] if len(keys) == 1 else None)
            if key not in keys:
                raise GenbenchError(f"{path} has arrays {keys}; say which holds the samples (key=...)")
            try:
                arr = f[key]
            except _UNREADABLE_NPZ as exc:  # a damaged member: bad CRC, truncated data, bad header
                raise _unreadable_npz(path, exc) from exc
        if arr.ndim == 4 and arr.shape[1] != 3 and arr.shape[-1] == 3:
            arr = arr.transpose(0, 3, 1, 2)
        super().__init__(torch.from_numpy(np.ascontiguousarray(arr)), f"npz:{path.name}")


class FolderSamples(Generator):
    """Image files of one size in a folder (sorted by name; or class subfolders, ImageFolder
    layout) or in a ``.zip`` archive, read lazily batch by batch as RGB uint8
    (``genbench.data.sources.folder_source`` / ``zip_source``). ``meta.input`` records how they were
    read (``ImageSource.provenance``: conversions, lossy JPEG files and their warning)."""

    stored = True  # read, not sampled: no speed to time

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        self.source = zip_source(path) if is_zip_archive(path) else folder_source(path)
        first = self.source.fetch(0, 1)
        self.meta = GeneratorMeta(name=self.source.name, resolution=tuple(first.shape[-2:]),
                                  input=self.source.provenance())

    def sample_range(self, seed: int, start: int, n: int) -> torch.Tensor:
        if start < 0 or start + n > self.source.n:
            raise ValueError(f"{self.meta.name} holds {self.source.n} images; asked for [{start}, {start + n})")
        return self.source.fetch(start, n)


class CallableGenerator(Generator):
    """Wraps ``fn(seed, start, n) -> images`` (see the module docstring)."""

    def __init__(self, fn: Callable[[int, int, int], Any], name: str, **meta: Any) -> None:
        params = list(inspect.signature(fn).parameters)
        if len(params) < 3:
            raise ValueError(f"{name} must take (seed, start, n); its parameters are {params}")
        self.fn = fn
        self.meta = GeneratorMeta(name=name, **meta)

    def sample_range(self, seed: int, start: int, n: int) -> torch.Tensor:
        images = validate_images(self.fn(seed, start, n), name=self.meta.name)
        if len(images) != n:
            raise ValueError(f"{self.meta.name} returned {len(images)} samples for n={n}")
        return unit_to_uint8(images)


def _as_generator(obj: Any, name: str, options: dict) -> Generator:
    from genbench.diffusion import Denoiser

    if isinstance(obj, Generator):
        return obj
    if isinstance(obj, Denoiser):  # a diffusion model: sampled by DenoiserGenerator with the sampler options
        from genbench.generators.diffusion_model import DenoiserGenerator

        return DenoiserGenerator(obj, **{"name": name, **options})
    if inspect.isclass(obj) and issubclass(obj, Generator):
        return obj(**options)
    if callable(obj):
        return CallableGenerator(obj, name)
    raise ValueError(f"{name} is a {type(obj).__name__}, not a Generator or a callable (seed, start, n)")


def load_generator(spec: str, **options: Any) -> Generator:
    """A generator from a spec: a bundled name (``vae``, ``gan``, ``ddpm``, ``ddim``; ``options`` go
    to it, e.g. ``steps=50, eta=0.0``), an .npz path, an image folder or .zip, ``diffusers:PATH`` (a
    diffusers model folder sampled by ``DenoiserGenerator`` with ``options``: sampler, steps, eta, …;
    a Stable Diffusion-layout pipeline by ``TextToImageGenerator``; a folder holding
    ``model_index.json`` or a UNet ``config.json`` is such a model even without the prefix),
    ``module:callable`` (or ``module:object`` holding a ``Denoiser``), or the name of an entry point
    in ``genbench.generators`` (a Generator class gets ``options``)."""
    from genbench.generators.bundled import BUNDLED, get_bundled

    if spec in BUNDLED:
        return get_bundled(spec, **options)
    if spec.startswith("diffusers:"):
        from genbench.generators.diffusion_model import load_denoiser_generator

        return load_denoiser_generator(spec, **options)
    path = Path(spec)
    if path.suffix == ".npz" and path.is_file():
        return NpzSamples(path, options.get("key"))
    if path.is_dir():
        from genbench.generators.diffusion_model import is_model_folder, load_denoiser_generator

        if is_model_folder(path):  # model_index.json / a UNet config.json: a model, not images
            return load_denoiser_generator(spec, **options)
    if path.is_dir() or is_zip_archive(path):
        return FolderSamples(path)
    plugins = {ep.name: ep for ep in entry_points(group=GENERATOR_GROUP)}
    if spec in plugins:
        return _as_generator(plugins[spec].load(), spec, options)
    if ":" in spec:
        return _as_generator(import_object(spec), spec, options)
    raise ValueError(f"unknown generator {spec!r}: not a bundled name ({', '.join(BUNDLED)}), an .npz file, an "
                     f"image folder, a module:callable, or a plug-in name ({', '.join(sorted(plugins)) or 'none installed'})")
