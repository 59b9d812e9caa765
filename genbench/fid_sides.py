"""The two sides of ``genbench fid A B``: moments read from a statistics file, or computed from images.

A side is one of:

- a statistics ``.npz`` with ``mu`` and ``sigma`` (float64 mean and covariance of the features):
  a genbench file (``genbench stats``, or ``FeatureStats.save``), whose recorded provenance must
  match the extractor in use, or foreign statistics (pytorch-fid's ``--save-stats``, clean-fid's
  ``*.npz``, an ADM evaluator reference batch, which also holds ``arr_0`` images): they carry no
  provenance, so they are accepted as the user declares them to be (``--extractor``), and the
  record says so;
- images: an ``.npz`` of uint8 samples (``arr_0`` or its only array, NCHW or NHWC), a folder of
  image files, a torchvision dataset root, or ``shapes32`` / ``shapes32:train`` / ``shapes32:test``:
  features are computed with the extractor in aligned micro-batches and reduced to float64 moments
  (covariance ÷ (n − 1), as pytorch-fid);
- a pickle (``.pkl``, ``.pickle``, ``.pt``, ``.pth``, ``.ckpt``) is refused: unpickling a file can
  run any code it contains.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from genbench.data.sources import ImageSource, image_source
from genbench.errors import GenbenchError
from genbench.features.base import FeatureExtractor
from genbench.metrics.stats import FeatureStats, check_same_space

PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".ckpt")
SHAPES32_SPLITS = ("train", "test")


@dataclass
class SideMoments:
    """Feature moments of one side: ``mu`` (d,), ``sigma`` (d, d), float64; ``n`` samples (None when
    a foreign file does not say); ``provenance`` says where they came from and how."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int | None
    provenance: dict = field(default_factory=dict)


def refuse_pickle(path: Path) -> None:
    """GenbenchError for a pickle file: say why it is not loaded and what to do instead."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise GenbenchError(f"{path} is a pickle ({path.suffix}); genbench does not load pickles, because "
                            "unpickling can run any code the file contains. Convert it where you trust it: "
                            "save the statistics with numpy (np.savez(file, mu=mu, sigma=sigma)) or the "
                            "samples as an .npz of uint8 images or a folder of PNGs")


def side_moments(spec: str, extractor: FeatureExtractor, batch_size: int = 50, progress: bool = False) -> SideMoments:
    """The moments of side ``spec`` in ``extractor``'s feature space (see the module docstring)."""
    path = Path(spec)
    refuse_pickle(path)
    if path.suffix == ".npz" and path.is_file():
        keys = _npz_keys(path)
        if {"mu", "sigma"} <= keys:
            return _stats_file(path, keys, extractor)
    images = _image_source(spec)
    return _image_moments(images, extractor, batch_size, progress)


def _npz_keys(path: Path) -> set[str]:
    try:
        with np.load(path, allow_pickle=False) as f:
            return set(f.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise GenbenchError(f"cannot read {path}: {exc} (truncated, or not an .npz?)") from exc


def _stats_file(path: Path, keys: set[str], extractor: FeatureExtractor) -> SideMoments:
    with np.load(path, allow_pickle=False) as f:
        mu, sigma = f["mu"].astype(np.float64), f["sigma"].astype(np.float64)
        recorded = json.loads(str(f["provenance"])) if "provenance" in keys else None
        n = int(f["n"]) if "n" in keys else None
    if mu.ndim != 1 or sigma.shape != (mu.size, mu.size):
        raise GenbenchError(f"{path}: mu {mu.shape} and sigma {sigma.shape} are not a mean and its covariance")
    if mu.size != extractor.feature_dim:
        raise GenbenchError(f"{path} holds {mu.size}-d statistics; {extractor.name} features are "
                            f"{extractor.feature_dim}-d")
    if recorded is not None:  # genbench's own: the feature space must be the one in use
        check_same_space(recorded, extractor.provenance(), str(path), "the extractor in use")
        return SideMoments(mu, sigma, n if n is not None else recorded.get("n"),
                           {"source": str(path), "kind": "statistics", "provenance": "recorded in the file"})
    kind = "ADM reference batch" if "arr_0" in keys else "foreign statistics (pytorch-fid / clean-fid layout)"
    return SideMoments(mu, sigma, n, {"source": str(path), "kind": kind,
                                      "provenance": f"declared by the user: {extractor.name}"})


def _image_source(spec: str) -> ImageSource:
    from genbench.generators.sources import NpzSamples

    dataset, _, split = spec.partition(":")
    if dataset == "shapes32":
        if split not in ("", *SHAPES32_SPLITS):
            raise GenbenchError(f"unknown shapes32 split {split!r}; use shapes32:train or shapes32:test")
        return image_source("shapes32", split or "train")
    path = Path(spec)
    if path.suffix == ".npz" and path.is_file():
        samples = NpzSamples(path)
        return ImageSource(samples.meta.name, len(samples.images), lambda start, k: samples.images[start:start + k])
    if not path.exists():
        raise GenbenchError(f"{spec}: no such file or folder (a side is a folder, an .npz, a torchvision root "
                            "or shapes32[:split])")
    return image_source(spec)


def _image_moments(source: ImageSource, extractor: FeatureExtractor, batch_size: int, progress: bool) -> SideMoments:
    if source.n < 2:
        raise GenbenchError(f"{source.name} holds {source.n} image(s); FID needs at least 2 per side")
    stats = FeatureStats(extractor.feature_dim, extractor.provenance(), keep_rows=False)
    for start in tqdm(range(0, source.n, batch_size), desc=f"{source.name} → {extractor.name}", unit="batch",
                      disable=not progress):
        stats.update(extractor.features(source.fetch(start, min(batch_size, source.n - start)), start))
    return SideMoments(stats.mean, stats.cov, stats.n, {"source": source.name, "kind": "images",
                                                        "provenance": "computed", "n": stats.n})
