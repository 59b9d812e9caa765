"""Reference file formats: genbench's statistics files (read and written) and foreign statistics (read).

- genbench: one ``.npz`` (``genbench stats SOURCE -o FILE``) holding ``mu``, ``sigma`` (float64,
  as pytorch-fid reads them), ``n``, ``features`` (the float16 feature sample), ``cell_histogram``
  (shapes32 classifiers) and ``provenance`` (JSON: feature space, dataset, split, n, sample_n,
  genbench version); or the pair ``X.npz`` (``FeatureStats.save``) + ``X-sample.npz`` (the rest)
  that ``genbench stats --out`` writes and ``reference_stats/`` ships.
- foreign: pytorch-fid / clean-fid ``mu``, ``sigma`` (any float dtype, read as float64; an
  optional ``n``), clean-fid's ``<stem>_kid.npz`` (``feats``: feature rows) beside them. They
  record no feature space: the reader is given the extractor the user declared.

Every file is read with ``allow_pickle=False``; pickles are refused with the reason.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from genbench.assets import stats_dir
from genbench.errors import GenbenchError
from genbench.io import atomic_path
from genbench.metrics.stats import FeatureStats, check_same_space
from genbench.reference.base import Reference

PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".ckpt")
DECLARED = "declared by the user"


def refuse_pickle(path: Path) -> None:
    """GenbenchError for a pickle file: say why it is not loaded and what to do instead."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise GenbenchError(f"{path} is a pickle ({path.suffix}); genbench does not load pickles, because "
                            "unpickling can run any code the file contains. Convert it where you trust it: "
                            "save the statistics with numpy (np.savez(file, mu=mu, sigma=sigma)) or the "
                            "samples as an .npz of uint8 images or a folder of PNGs")


def npz_keys(path: Path) -> set[str]:
    """The array names of the ``.npz`` file ``path`` (GenbenchError when it cannot be read)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return set(f.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise GenbenchError(f"cannot read {path}: {exc} (truncated, or not an .npz?)") from exc


# -- genbench files: reading -------------------------------------------------------------------------

def is_genbench_file(keys: set[str]) -> bool:
    """Whether an .npz of arrays ``keys`` is a genbench statistics file (or one of a pair)."""
    return "provenance" in keys and ({"mu", "sigma"} <= keys or "features" in keys)


def genbench_pair(path: Path) -> tuple[Path, Path | None]:
    """(file with mu/sigma, file with the feature sample or None when the first holds both)."""
    if path.name.endswith("-sample.npz"):
        return path.with_name(path.name.removesuffix("-sample.npz") + ".npz"), path
    if "features" in npz_keys(path):
        return path, None
    sample = path.with_name(path.stem + "-sample.npz")
    return path, sample if sample.is_file() else None


def read_provenance(path: Path) -> dict:
    """The ``provenance`` JSON of a genbench file ({} when it has none)."""
    with np.load(path, allow_pickle=False) as f:
        return json.loads(str(f["provenance"])) if "provenance" in f.files else {}


def read_genbench(stats_path: Path, sample_path: Path | None, expect: dict | None) -> Reference:
    """A genbench file (``sample_path`` None) or pair; its recorded feature space must match
    ``expect`` (an extractor's provenance) when given."""
    if not stats_path.is_file():
        raise FileNotFoundError(f"reference statistics {stats_path} not found (the pair of {sample_path})")
    stats = FeatureStats.load(stats_path)
    if expect is not None:
        check_same_space(stats.provenance, expect, f"reference {stats_path}", "the extractor in use")
    sample_file = sample_path or stats_path
    with np.load(sample_file, allow_pickle=False) as f:
        sample = f["features"].astype(np.float64) if "features" in f.files else None
        provenance = json.loads(str(f["provenance"])) if "provenance" in f.files else {}
        histogram = f["cell_histogram"] if "cell_histogram" in f.files else None
    if sample_path is not None:
        check_same_space(stats.provenance, provenance, stats_path.name, sample_path.name)
    extras = {k: provenance[k] for k in ("inception_score",) if k in provenance}
    source = str(stats_path) if sample_path is None else f"{stats_path} + {sample_path.name}"
    return Reference(stats, sample, {**provenance, "source": source, "kind": "genbench statistics",
                                     "provenance": "recorded in the file"}, histogram, extras)


# -- genbench files: writing -------------------------------------------------------------------------

def reference_paths(dataset: str, split: str, extractor: str, root: Path | None = None) -> tuple[Path, Path]:
    """The file pair ``{dataset}-{split}-{extractor}.npz`` + ``…-sample.npz`` under ``root``
    (default: the bundled ``reference_stats/``)."""
    root = stats_dir() if root is None else Path(root)
    stem = f"{dataset}-{split}-{extractor}"
    return root / f"{stem}.npz", root / f"{stem}-sample.npz"


def save_reference(ref: Reference, root: Path | None = None) -> tuple[Path, Path]:
    """Write the file pair (``reference_paths`` of the provenance's dataset, split and extractor)
    atomically; returns their paths."""
    p = ref.provenance
    stats_path, sample_path = reference_paths(p["dataset"], p["split"], p["extractor"], root)
    ref.stats.save(stats_path)
    with atomic_path(sample_path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **_sample_arrays(ref))
    return stats_path, sample_path


def _sample_arrays(ref: Reference) -> dict[str, np.ndarray]:
    """The feature sample (float16), the cell histogram when there is one, and the provenance JSON."""
    p = ref.provenance
    record = {**ref.stats.provenance, "n": p["n"], "sample_n": p["sample_n"], **_version(), **ref.extras}
    if "input" in p:
        record["input"] = p["input"]
    arrays = {"features": ref.sample.astype(np.float16), "provenance": np.array(json.dumps(record, sort_keys=True))}
    if ref.cell_histogram is not None:
        arrays["cell_histogram"] = ref.cell_histogram
    return arrays


def save_reference_file(ref: Reference, path: str | Path) -> Path:
    """Write ``ref`` as one ``.npz``, atomically: ``mu`` and ``sigma`` (float64, as pytorch-fid reads
    them), ``n``, ``features`` (the float16 feature sample), ``cell_histogram`` when there is one,
    and ``provenance`` (JSON: feature space, dataset, split, n, sample_n, genbench version)."""
    path = Path(path)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, mu=ref.stats.mean, sigma=ref.stats.cov, n=np.int64(ref.stats.n), **_sample_arrays(ref))
    return path


def _version() -> dict:
    from genbench import __version__

    return {"genbench_version": __version__}


# -- foreign statistics ------------------------------------------------------------------------------

def read_foreign_moments(path: Path, extractor: Any) -> tuple[np.ndarray, np.ndarray, int | None]:
    """(mu, sigma as float64, n or None) of a foreign statistics file, checked against the
    dimension of ``extractor``'s features."""
    with np.load(path, allow_pickle=False) as f:
        mu, sigma = f["mu"].astype(np.float64), f["sigma"].astype(np.float64)
        n = int(f["n"]) if "n" in f.files else None
    if mu.ndim != 1 or sigma.shape != (mu.size, mu.size):
        raise GenbenchError(f"{path}: mu {mu.shape} and sigma {sigma.shape} are not a mean and its covariance")
    if mu.size != extractor.feature_dim:
        raise GenbenchError(f"{path} holds {mu.size}-d statistics; {extractor.name} features are "
                            f"{extractor.feature_dim}-d")
    return mu, sigma, n


def declared_provenance(path: Path, extractor: Any, kind: str, n: int | None) -> dict:
    """The provenance of a foreign file read in the feature space the user declared."""
    return {**extractor.provenance(), "source": str(path), "kind": kind, "n": n,
            "provenance": f"{DECLARED}: {extractor.name}"}


def read_foreign(path: Path, extractor: Any) -> Reference:
    """pytorch-fid / clean-fid statistics in ``extractor``'s (declared) space; clean-fid's
    ``<stem>_kid.npz`` (``feats``) beside them adds feature rows."""
    mu, sigma, n = read_foreign_moments(path, extractor)
    kid_path = path.with_name(path.stem + "_kid.npz")
    sample = None
    provenance = declared_provenance(path, extractor, "foreign statistics (pytorch-fid / clean-fid layout)", n)
    if kid_path.is_file():
        with np.load(kid_path, allow_pickle=False) as f:
            if "feats" in f.files:
                sample = f["feats"].astype(np.float64)
        if sample is not None and (sample.ndim != 2 or sample.shape[1] != mu.size):
            raise GenbenchError(f"{kid_path}: feats {sample.shape} do not match {mu.size}-d statistics")
        provenance |= {"features_from": str(kid_path), "sample_n": None if sample is None else len(sample)}
    return Reference(None, sample, provenance, moments=(mu, sigma))
