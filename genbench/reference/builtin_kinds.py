"""The built-in reference kinds, in detection order (``genbench.reference.registry`` says what a kind
declares). Each is one class here; nothing else in genbench lists kinds.

================  ================================================================================
``cleanfid``      ``cleanfid:DATASET/MODE/SPLIT/RES``: clean-fid's published statistics, fetched on
                  first use; inception-v3-fid with the mode's resize
``shapes32``      ``shapes32`` / ``shapes32:train`` / ``shapes32:test``: the bundled statistics of
                  the split for the extractor when genbench ships them, else its images
``pickle``        ``.pkl``, ``.pickle``, ``.pt``, ``.pth``, ``.ckpt``: refused (unpickling runs code)
``genbench``      a genbench statistics file, or either file of an ``X.npz`` + ``X-sample.npz`` pair
``adm``           an ADM evaluator reference batch (``arr_0`` uint8 NHWC images, ``mu``, ``sigma``):
                  FID from the stored moments, the other metrics from features of ``arr_0``
``foreign``       pytorch-fid / clean-fid ``mu``, ``sigma`` (+ clean-fid's ``<stem>_kid.npz`` rows)
``npz``           an ``.npz`` of uint8 samples (``arr_0`` or its only array, NCHW or NHWC)
``zip``           a ``.zip`` archive of images
``torchvision``   a torchvision dataset root (CIFAR-10/100, MNIST), its train split
``folder``        a folder of images (flat, or class subfolders)
================  ================================================================================

Statistics without provenance (``adm``, ``foreign``) are read in the feature space the user
declares. Images (``shapes32`` without bundled statistics, ``adm``'s ``arr_0``, ``npz``, ``zip``,
``torchvision``, ``folder``) are computed once per content and extractor
(``genbench.reference.cache``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from genbench.errors import GenbenchError
from genbench.reference.base import Reference
from genbench.reference.cache import file_fingerprint, images_reference, tree_fingerprint
from genbench.reference.cleanfid import CLEANFID_PREFIX, CLEANFID_RESIZE, CleanFIDStats, cleanfid_stats_file
from genbench.reference.formats import (declared_provenance, genbench_pair, is_genbench_file, read_foreign,
                                        read_foreign_moments, read_genbench, read_provenance, reference_paths,
                                        refuse_pickle)
from genbench.reference.registry import ReadingOptions, ReferenceKind, Spec, register_kind

SHAPES32_SPLITS = ("train", "test")


def npz_source(path: Path, key: str | None = None) -> Any:
    """The uint8 samples of an .npz (``key``, default arr_0 or its only array) as an ImageSource."""
    from genbench.data.sources import ImageSource
    from genbench.generators.user import NpzSamples

    samples = NpzSamples(path, key)
    return ImageSource(samples.meta.name, len(samples.images), lambda s, k: samples.images[s:s + k])


class CleanFIDPublished(ReferenceKind):
    name = "cleanfid"
    description = "clean-fid's published statistics by name, cleanfid:DATASET/MODE/SPLIT/RES (fetched on first use)"

    def detect(self, spec: Spec) -> bool:
        if not spec.text.startswith(CLEANFID_PREFIX):
            return False
        CleanFIDStats.parse(spec.text)  # a malformed name fails here, before anything is loaded
        return True

    def recorded_extractor(self, spec: Spec) -> str:
        return "inception-v3-fid"

    def extractor_options(self, specs: list[Spec]) -> dict[str, Any]:
        """The Inception's ``resize`` of the specs' clean-fid mode (one mode only)."""
        modes = {CleanFIDStats.parse(spec.text).mode for spec in specs}
        if len(modes) > 1:
            raise GenbenchError(f"clean-fid statistics of different modes ({', '.join(sorted(modes))}) are in "
                                "different feature spaces and cannot be compared")
        return {"resize": CLEANFID_RESIZE[modes.pop()]}

    def load(self, spec: Spec, extractor: Any, options: ReadingOptions) -> Reference:
        stats = CleanFIDStats.parse(spec.text)
        resize = getattr(extractor, "resize", None)
        if extractor.name != "inception-v3-fid" or resize != stats.resize:
            used = extractor.name + (f" with resize {resize!r}" if resize else "")
            raise GenbenchError(f"{spec.text} holds clean-fid {stats.mode} statistics, in the space of "
                                f"inception-v3-fid with resize {stats.resize!r}, not of {used}: leave --extractor and "
                                "--resize out (or give those) to compare with them")
        path = cleanfid_stats_file(stats, options.progress)
        ref = read_foreign(path, extractor)
        ref.provenance |= {"source": f"{spec.text} ({path})", "kind": "clean-fid published statistics",
                           "url": stats.url,
                           "provenance": f"clean-fid mode {stats.mode}: inception-v3-fid, resize {stats.resize}"}
        return ref


class Shapes32(ReferenceKind):
    name = "shapes32"
    description = "shapes32[:train|test]: the bundled statistics of the split, else its images"
    holds_images = True
    default_extractor = "shapes-net"

    def detect(self, spec: Spec) -> bool:
        dataset, _, split = spec.text.partition(":")
        if dataset != "shapes32" or spec.path.exists():
            return False
        if split not in ("", *SHAPES32_SPLITS):
            raise GenbenchError(f"unknown shapes32 split {split!r}; use shapes32:train or shapes32:test")
        return True

    def load(self, spec: Spec, extractor: Any, options: ReadingOptions) -> Reference:
        split = spec.text.partition(":")[2] or "train"
        bundled = reference_paths("shapes32", split, extractor.name)
        if all(p.is_file() for p in bundled):
            ref = read_genbench(*bundled, extractor.provenance())
            ref.provenance["source"] = f"shapes32:{split} (bundled statistics)"
            return ref
        from genbench import __version__
        from genbench.data.sources import image_source

        name = f"shapes32:{split}"  # the images are procedural: the split and genbench's version say what they are
        return images_reference(image_source("shapes32", split), name, extractor, options, [name, __version__])


class Pickle(ReferenceKind):
    name = "pickle"
    description = "pickles (.pkl, .pickle, .pt, .pth, .ckpt): refused, unpickling runs any code they hold"

    def detect(self, spec: Spec) -> bool:
        refuse_pickle(spec.path)
        return False


class GenbenchStatistics(ReferenceKind):
    name = "genbench"
    description = "a genbench statistics file (genbench stats -o), or either file of a genbench stats pair"

    def detect(self, spec: Spec) -> bool:
        return spec.npz_keys is not None and is_genbench_file(spec.npz_keys)

    def recorded_extractor(self, spec: Spec) -> str | None:
        return read_provenance(genbench_pair(spec.path)[0]).get("extractor")

    def load(self, spec: Spec, extractor: Any, options: ReadingOptions) -> Reference:
        return read_genbench(*genbench_pair(spec.path), extractor.provenance())


def _foreign_moments(spec: Spec) -> bool:
    """An .npz with mu and sigma that is not a genbench file."""
    keys = spec.npz_keys
    return keys is not None and {"mu", "sigma"} <= keys and not is_genbench_file(keys)


class ADMBatch(ReferenceKind):
    name = "adm"
    description = "an ADM evaluator reference batch (arr_0 uint8 NHWC images with their mu, sigma)"
    holds_images = True
    needs_declared_extractor = True

    def detect(self, spec: Spec) -> bool:
        return _foreign_moments(spec) and "arr_0" in spec.npz_keys

    def load(self, spec: Spec, extractor: Any, options: ReadingOptions) -> Reference:
        """Stored moments for FID; features (KID, PR, …) from ``arr_0``."""
        path = spec.path
        mu, sigma, n = read_foreign_moments(path, extractor)
        source = npz_source(path, key="arr_0")
        images = images_reference(source, str(path), extractor, options, file_fingerprint(path))
        provenance = {**declared_provenance(path, extractor, "ADM reference batch", n or source.n),
                      "fid_moments": "stored in the file (mu, sigma)",
                      "features_from": f"arr_0 ({source.n} images, computed)",
                      "sample_n": None if images.sample is None else len(images.sample),
                      "stored_vs_computed_mu_max_abs": float(np.abs(images.mu - mu).max())}
        return Reference(None, images.sample, provenance, images.cell_histogram, images.extras, moments=(mu, sigma))

    def load_images(self, spec: Spec, extractor: Any, options: ReadingOptions) -> Reference:
        """The features of ``arr_0`` (the stored moments are Inception's, not ``extractor``'s)."""
        path = spec.path
        ref = images_reference(npz_source(path, key="arr_0"), str(path), extractor, options, file_fingerprint(path))
        ref.provenance |= {"spec": spec.text, "features_from": "arr_0 (computed)"}
        return ref


class ForeignStatistics(ReferenceKind):
    name = "foreign"
    description = "pytorch-fid / clean-fid statistics (mu, sigma; clean-fid's <stem>_kid.npz beside them)"
    needs_declared_extractor = True

    def detect(self, spec: Spec) -> bool:
        if spec.npz_keys == {"feats"}:
            raise GenbenchError(f"{spec.path} holds clean-fid KID features only; give the statistics file beside it "
                                f"({spec.path.name.removesuffix('_kid.npz')}.npz), which is read with it")
        return _foreign_moments(spec) and "arr_0" not in spec.npz_keys

    def load(self, spec: Spec, extractor: Any, options: ReadingOptions) -> Reference:
        return read_foreign(spec.path, extractor)


class SamplesNpz(ReferenceKind):
    name = "npz"
    description = "an .npz of uint8 samples (arr_0 or its only array; NCHW or NHWC)"
    holds_images = True

    def detect(self, spec: Spec) -> bool:
        return spec.npz_keys is not None

    def load(self, spec: Spec, extractor: Any, options: ReadingOptions) -> Reference:
        path = spec.path
        return images_reference(npz_source(path), str(path), extractor, options, file_fingerprint(path))


class ZipArchive(ReferenceKind):
    name = "zip"
    description = "a .zip archive of images"
    holds_images = True

    def detect(self, spec: Spec) -> bool:
        from genbench.data.sources import is_zip_archive

        return is_zip_archive(spec.path)

    def load(self, spec: Spec, extractor: Any, options: ReadingOptions) -> Reference:
        from genbench.data.sources import zip_source

        path = spec.path
        return images_reference(zip_source(path, options.resize_inputs), str(path), extractor, options,
                                file_fingerprint(path))


class TorchvisionRoot(ReferenceKind):
    name = "torchvision"
    description = "a torchvision dataset root (CIFAR-10/100, MNIST; its train split)"
    holds_images = True

    def detect(self, spec: Spec) -> bool:
        from genbench.data.sources import torchvision_dataset

        return spec.path.is_dir() and torchvision_dataset(spec.path) is not None

    def load(self, spec: Spec, extractor: Any, options: ReadingOptions) -> Reference:
        from genbench.data.sources import torchvision_source

        path = spec.path
        return images_reference(torchvision_source(path, "train", options.resize_inputs), str(path), extractor,
                                options, tree_fingerprint(path))


class ImageFolder(ReferenceKind):
    name = "folder"
    description = "a folder of images (flat, or class subfolders)"
    holds_images = True

    def detect(self, spec: Spec) -> bool:
        return spec.path.is_dir()

    def load(self, spec: Spec, extractor: Any, options: ReadingOptions) -> Reference:
        from genbench.data.sources import folder_source

        path = spec.path
        return images_reference(folder_source(path, options.resize_inputs), str(path), extractor, options,
                                tree_fingerprint(path))


for _kind in (CleanFIDPublished(), Shapes32(), Pickle(), GenbenchStatistics(), ADMBatch(), ForeignStatistics(),
              SamplesNpz(), ZipArchive(), TorchvisionRoot(), ImageFolder()):
    register_kind(_kind)
