"""The Reference: what generated samples are compared against, in one feature space.

``Reference.load(spec, extractor)`` takes

- ``shapes32`` / ``shapes32:train`` / ``shapes32:test``: the bundled statistics of that split when
  genbench ships them for the extractor (``reference_stats/``), else computed from the images;
- a genbench reference file (``genbench stats SOURCE -o FILE``: ``mu``, ``sigma``, ``n``,
  ``features``, ``provenance``), or the pair ``X.npz`` + ``X-sample.npz`` that ``genbench stats
  --out-dir`` writes (either file names the pair): its recorded feature space must be the
  extractor's;
- foreign statistics: a pytorch-fid / clean-fid ``.npz`` (``mu``, ``sigma``; FID only), with
  clean-fid's ``<stem>_kid.npz`` (``feats``) beside it giving feature rows; an ADM evaluator
  reference batch (``arr_0`` uint8 NHWC images plus ``mu``, ``sigma``): FID from the stored
  moments, the other metrics from features of ``arr_0``. Foreign files carry no provenance, so
  they need an explicitly named extractor and are recorded as "declared by the user";
- ``cleanfid:DATASET/MODE/SPLIT/RES`` (e.g. ``cleanfid:cifar10/clean/train/32``): clean-fid's published
  statistics, fetched on first use from clean-fid's stats URL into ``$GENBENCH_HOME/cleanfid/`` (or
  read from clean-fid's own download folder) and read as foreign statistics in the feature space of
  the mode: ``inception-v3-fid`` with resize ``clean`` / ``tf`` (``legacy_tensorflow``) /
  ``bilinear`` (``legacy_pytorch``), chosen automatically (:func:`implied_extractor_options`);
- images: a folder (flat or class subfolders), a ``.zip`` archive of images, an ``.npz`` of uint8
  samples, a torchvision dataset root. Their features are computed once and cached in
  ``$GENBENCH_HOME/references/`` under a key made of the content (file names, sizes and mtimes)
  and the extractor's provenance, so a second use reads the cache;
- pickles (``.pkl``, ``.pt``, ``.pth``, ``.ckpt``) are refused: unpickling runs arbitrary code.

A Reference provides some of ``reference.moments`` (FID), ``reference.features`` (KID,
precision/recall, density/coverage: up to ``sample_n`` float16 rows) and ``reference.cells``
(the shapes32 predicted-cell histogram); metrics needing what it lacks are skipped, with the reason.
Moments are float64, covariance ÷ (n − 1), as pytorch-fid.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from genbench.assets import stats_dir
from genbench.errors import GenbenchError
from genbench.io import atomic_path, genbench_home
from genbench.metrics.frechet import FrechetReference
from genbench.metrics.inception_score import inception_score
from genbench.metrics.modes import cell_histogram
from genbench.metrics.stats import FeatureStats, check_same_space

PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".ckpt")
SHAPES32_SPLITS = ("train", "test")
CACHE_FORMAT = 1  # bump when what a cached reference holds changes
DECLARED = "declared by the user"


@dataclass
class Reference:
    """Reference data for one feature space: ``stats`` (moments with n) or bare ``moments``
    (mu, sigma of foreign files), a feature ``sample`` (rows), the shapes32 ``cell_histogram``,
    ``provenance`` (where it came from and how) and ``extras`` (e.g. the data's own IS)."""

    stats: FeatureStats | None
    sample: np.ndarray | None
    provenance: dict
    cell_histogram: np.ndarray | None = None
    extras: dict = field(default_factory=dict)
    moments: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def mu(self) -> np.ndarray | None:
        return self.stats.mean if self.stats is not None else None if self.moments is None else self.moments[0]

    @property
    def sigma(self) -> np.ndarray | None:
        return self.stats.cov if self.stats is not None else None if self.moments is None else self.moments[1]

    def frechet(self) -> FrechetReference:
        """The cached-factor Fréchet reference of the moments (GenbenchError without moments)."""
        if self.stats is not None:
            return FrechetReference.from_stats(self.stats)
        if self.moments is None:
            raise GenbenchError(f"reference {self.provenance.get('source')} holds no moments (mu, sigma)")
        return FrechetReference(*self.moments)

    def provides(self) -> set[str]:
        """The ``genbench.metrics.registry.NEEDS`` keys this reference meets."""
        out = set()
        if self.stats is not None or self.moments is not None:
            out.add("reference.moments")
        if self.sample is not None:
            out.add("reference.features")
        if self.cell_histogram is not None:
            out.add("reference.cells")
        return out

    @classmethod
    def load(cls, spec: str | Path, extractor: Any = None, **options: Any) -> "Reference":
        """Load or compute the reference ``spec`` (see the module docstring) in ``extractor``'s
        feature space (a FeatureExtractor or a registered name; None: the one the reference
        records, shapes-net for shapes32, inception-v3-fid for other images). ``options``:
        ``batch_size``, ``sample_n``, ``progress``, ``cache``, ``workers``, ``resize_inputs``."""
        from genbench.registry import get_extractor

        declared = extractor is not None
        if not declared or isinstance(extractor, str):
            name = extractor or resolve_extractor([str(spec)], None)
            implied = implied_extractor_options([str(spec)]) if name == "inception-v3-fid" else {}
            extractor = get_extractor(name, **implied)
        return load_reference_spec(str(spec), extractor, declared=declared, **options)


def resolve_extractor(specs: list[str], given: str | None) -> str:
    """The extractor name for references ``specs``: ``given``; else the one a genbench file among
    them records; else shapes-net when one is shapes32, else inception-v3-fid. Foreign statistics
    carry no provenance: without ``given`` they are refused. clean-fid's published statistics
    (``cleanfid:…``) are in inception-v3-fid's space (its resize: :func:`implied_extractor_options`)."""
    if given is not None:
        return given
    recorded, foreign = None, None
    for spec in specs:
        kind, path = _kind(spec)
        if kind == "cleanfid":
            recorded = recorded or "inception-v3-fid"
        elif kind == "genbench":
            recorded = recorded or _read_provenance(_genbench_pair(path)[0]).get("extractor")
        elif kind in ("foreign", "adm"):
            foreign = spec
    if foreign is not None:
        raise GenbenchError(f"{foreign} holds statistics without provenance (pytorch-fid / clean-fid / ADM layout); "
                            "say which feature space they are in with --extractor (e.g. --extractor inception-v3-fid "
                            "--resize bilinear for pytorch-fid's files); the record will say 'declared by the user'")
    if recorded:
        return recorded
    return "shapes-net" if any(_kind(s)[0] == "shapes32" for s in specs) else "inception-v3-fid"


def refuse_pickle(path: Path) -> None:
    """GenbenchError for a pickle file: say why it is not loaded and what to do instead."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise GenbenchError(f"{path} is a pickle ({path.suffix}); genbench does not load pickles, because "
                            "unpickling can run any code the file contains. Convert it where you trust it: "
                            "save the statistics with numpy (np.savez(file, mu=mu, sigma=sigma)) or the "
                            "samples as an .npz of uint8 images or a folder of PNGs")


def _npz_keys(path: Path) -> set[str]:
    try:
        with np.load(path, allow_pickle=False) as f:
            return set(f.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise GenbenchError(f"cannot read {path}: {exc} (truncated, or not an .npz?)") from exc


def _kind(spec: str) -> tuple[str, Path | None]:
    """("shapes32" | "cleanfid" | "genbench" | "foreign" | "adm" | "images", path) for a reference spec."""
    if spec.startswith(CLEANFID_PREFIX):
        CleanFIDStats.parse(spec)  # a malformed name fails here, before anything is loaded
        return "cleanfid", None
    dataset, _, split = spec.partition(":")
    if dataset == "shapes32" and not Path(spec).exists():
        if split not in ("", *SHAPES32_SPLITS):
            raise GenbenchError(f"unknown shapes32 split {split!r}; use shapes32:train or shapes32:test")
        return "shapes32", None
    path = Path(spec)
    refuse_pickle(path)
    if path.suffix == ".npz" and path.is_file():
        keys = _npz_keys(path)
        if "provenance" in keys and ({"mu", "sigma"} <= keys or "features" in keys):
            return "genbench", path
        if {"mu", "sigma"} <= keys:
            return ("adm" if "arr_0" in keys else "foreign"), path
        if keys == {"feats"}:
            raise GenbenchError(f"{path} holds clean-fid KID features only; give the statistics file beside it "
                                f"({path.name.removesuffix('_kid.npz')}.npz), which is read with it")
        return "images", path
    if not path.exists():
        raise GenbenchError(f"{spec}: no such file or folder (a reference is a statistics .npz, a folder or .zip of "
                            "images, an .npz of samples, a torchvision root or shapes32[:split])")
    if path.is_dir() or (path.suffix.lower() == ".zip" and path.is_file()):
        return "images", path
    raise GenbenchError(f"{spec}: not an .npz, a .zip or a folder (a reference is a statistics .npz, a folder or "
                        ".zip of images, an .npz of samples, a torchvision root or shapes32[:split])")


def load_reference_spec(spec: str, extractor: Any, declared: bool = True, batch_size: int = 500,
                        sample_n: int = 10_000, progress: bool = True, cache: bool = True, workers: int | None = None,
                        resize_inputs: int | None = None) -> Reference:
    """``Reference.load`` with a built extractor; ``declared``: the user named it (foreign
    statistics are refused otherwise)."""
    ref = _load_spec(spec, extractor, declared, resize_inputs, batch_size=batch_size, sample_n=sample_n,
                     progress=progress, cache=cache, workers=workers)
    ref.provenance["spec"] = spec  # what loads it again (a check re-runs a baseline's reference)
    ref.provenance["fingerprint"] = reference_fingerprint(ref)
    return ref


def holds_images(spec: str) -> bool:
    """Whether reference ``spec`` is images (shapes32, a folder, an .npz of samples, a torchvision
    root, an ADM batch's ``arr_0``), so it can be put in any feature space."""
    return _kind(spec)[0] in ("shapes32", "images", "adm")


def load_reference_images(spec: str, extractor: Any, **options: Any) -> Reference:
    """The images of reference ``spec`` in ``extractor``'s feature space, computed and cached like
    any image reference (a second feature space: CMMD's CLIP, FD-DINOv2). An ADM batch gives its
    ``arr_0`` (its stored moments are Inception's). ``options``: as ``load_reference_spec``."""
    kind, path = _kind(spec)
    if kind == "adm":
        keep = {k: v for k, v in options.items() if k != "resize_inputs"}
        ref = _from_images(_npz_source(path, key="arr_0"), str(path), extractor, fingerprint=_file_fingerprint(path),
                           **keep)
        ref.provenance |= {"spec": spec, "features_from": "arr_0 (computed)"}
        ref.provenance["fingerprint"] = reference_fingerprint(ref)
        return ref
    if kind not in ("shapes32", "images"):
        raise GenbenchError(f"reference {spec} holds statistics, not images: it cannot be put in the feature space of "
                            f"{extractor.name} (give a folder, an .npz of samples, a torchvision root, an ADM batch "
                            "or shapes32)")
    return load_reference_spec(spec, extractor, declared=True, **options)


def reference_fingerprint(ref: Reference) -> str:
    """What identifies a reference's content, whatever its path: the sha256 (first 16 hex digits)
    of its float64 moments, else of its feature rows. Results against references of different
    fingerprints do not compare."""
    digest = hashlib.sha256()
    if ref.mu is not None:
        digest.update(np.ascontiguousarray(ref.mu, np.float64).tobytes())
        digest.update(np.ascontiguousarray(ref.sigma, np.float64).tobytes())
    elif ref.sample is not None:
        digest.update(np.ascontiguousarray(ref.sample, np.float64).tobytes())
    return digest.hexdigest()[:16]


def _load_spec(spec: str, extractor: Any, declared: bool, resize_inputs: int | None, **compute: Any) -> Reference:
    kind, path = _kind(spec)
    if kind in ("foreign", "adm") and not declared:
        resolve_extractor([spec], None)  # raises, saying why
    if kind == "shapes32":
        split = spec.partition(":")[2] or "train"
        bundled = reference_paths("shapes32", split, extractor.name)
        if all(p.is_file() for p in bundled):
            ref = _genbench_files(*bundled, extractor.provenance())
            ref.provenance["source"] = f"shapes32:{split} (bundled statistics)"
            return ref
        from genbench.data.sources import image_source

        return _from_images(image_source("shapes32", split), f"shapes32:{split}", extractor, **compute)
    if kind == "genbench":
        return _genbench_files(*_genbench_pair(path), extractor.provenance())
    if kind == "foreign":
        return _foreign(path, extractor)
    if kind == "cleanfid":
        return _cleanfid(spec, extractor, progress=compute.get("progress", True))
    if kind == "adm":
        return _adm(path, extractor, **compute)
    return _from_images(_images_source(path, resize_inputs), str(path), extractor, **compute)


# -- genbench files --------------------------------------------------------------------------------

def _genbench_pair(path: Path) -> tuple[Path, Path | None]:
    """(file with mu/sigma, file with the feature sample or None when the first holds both)."""
    if path.name.endswith("-sample.npz"):
        return path.with_name(path.name.removesuffix("-sample.npz") + ".npz"), path
    if "features" in _npz_keys(path):
        return path, None
    sample = path.with_name(path.stem + "-sample.npz")
    return path, sample if sample.is_file() else None


def _read_provenance(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as f:
        return json.loads(str(f["provenance"])) if "provenance" in f.files else {}


def _genbench_files(stats_path: Path, sample_path: Path | None, expect: dict | None) -> Reference:
    """A genbench file (or pair); its recorded feature space must match ``expect`` (an
    extractor's provenance) when given."""
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


# -- foreign statistics ----------------------------------------------------------------------------

def _foreign_moments(path: Path, extractor: Any) -> tuple[np.ndarray, np.ndarray, int | None]:
    with np.load(path, allow_pickle=False) as f:
        mu, sigma = f["mu"].astype(np.float64), f["sigma"].astype(np.float64)
        n = int(f["n"]) if "n" in f.files else None
    if mu.ndim != 1 or sigma.shape != (mu.size, mu.size):
        raise GenbenchError(f"{path}: mu {mu.shape} and sigma {sigma.shape} are not a mean and its covariance")
    if mu.size != extractor.feature_dim:
        raise GenbenchError(f"{path} holds {mu.size}-d statistics; {extractor.name} features are "
                            f"{extractor.feature_dim}-d")
    return mu, sigma, n


def _declared(path: Path, extractor: Any, kind: str, n: int | None) -> dict:
    return {**extractor.provenance(), "source": str(path), "kind": kind, "n": n,
            "provenance": f"{DECLARED}: {extractor.name}"}


def _foreign(path: Path, extractor: Any) -> Reference:
    """pytorch-fid / clean-fid statistics; clean-fid's ``<stem>_kid.npz`` (``feats``) adds rows."""
    mu, sigma, n = _foreign_moments(path, extractor)
    kid_path = path.with_name(path.stem + "_kid.npz")
    sample = None
    provenance = _declared(path, extractor, "foreign statistics (pytorch-fid / clean-fid layout)", n)
    if kid_path.is_file():
        with np.load(kid_path, allow_pickle=False) as f:
            if "feats" in f.files:
                sample = f["feats"].astype(np.float64)
        if sample is not None and (sample.ndim != 2 or sample.shape[1] != mu.size):
            raise GenbenchError(f"{kid_path}: feats {sample.shape} do not match {mu.size}-d statistics")
        provenance |= {"features_from": str(kid_path), "sample_n": None if sample is None else len(sample)}
    return Reference(None, sample, provenance, moments=(mu, sigma))


# -- clean-fid's published statistics --------------------------------------------------------------

CLEANFID_PREFIX = "cleanfid:"
CLEANFID_STATS_URL = "https://www.cs.cmu.edu/~clean-fid/stats/"  # cleanfid.features.get_reference_statistics
CLEANFID_RESIZE = {"clean": "clean", "legacy_tensorflow": "tf", "legacy_pytorch": "bilinear"}  # mode → resize


@dataclass(frozen=True)
class CleanFIDStats:
    """clean-fid's published statistics ``cleanfid:DATASET/MODE/SPLIT/RES``: what
    ``cleanfid.features.get_reference_statistics(DATASET, RES, mode=MODE, split=SPLIT)`` reads, the
    file ``{dataset}_{mode}_{split}_{res}.npz`` (lowercased; RES is ``na`` for split ``custom``) at
    clean-fid's stats URL, in the Inception space of ``mode`` (``CLEANFID_RESIZE``). Its KID features
    (``…_kid.npz``, ``feats``) are not fetched; put that file beside the statistics to have them."""

    dataset: str
    mode: str
    split: str
    res: str

    @classmethod
    def parse(cls, spec: str) -> "CleanFIDStats":
        parts = [part.strip() for part in spec.removeprefix(CLEANFID_PREFIX).split("/")]
        if len(parts) != 4 or not all(parts):
            raise GenbenchError(f"{spec}: clean-fid statistics are named cleanfid:DATASET/MODE/SPLIT/RES, e.g. "
                                "cleanfid:cifar10/clean/train/32")
        dataset, mode, split, res = (part.lower() for part in parts)
        if mode not in CLEANFID_RESIZE:
            raise GenbenchError(f"{spec}: clean-fid's modes are {', '.join(CLEANFID_RESIZE)}, not {mode!r}")
        return cls(dataset, mode, split, "na" if split == "custom" else res)

    @property
    def filename(self) -> str:
        return f"{self.dataset}_{self.mode}_{self.split}_{self.res}.npz"

    @property
    def url(self) -> str:
        return CLEANFID_STATS_URL + self.filename

    @property
    def resize(self) -> str:
        """The inception-v3-fid preprocessing of the mode."""
        return CLEANFID_RESIZE[self.mode]


def cleanfid_cache_dir() -> Path:
    """Where clean-fid statistics fetched by genbench are kept: ``$GENBENCH_HOME/cleanfid``."""
    return genbench_home() / "cleanfid"


def _cleanfid_package_stats() -> Path | None:
    """clean-fid's own download folder (``cleanfid/stats`` in its package), if clean-fid is installed."""
    import importlib.util

    found = importlib.util.find_spec("cleanfid")
    locations = list(found.submodule_search_locations or []) if found is not None else []
    return Path(locations[0]) / "stats" if locations else None


def _check_moments_file(path: Path) -> None:
    keys = _npz_keys(path)
    if not {"mu", "sigma"} <= keys:
        raise GenbenchError(f"it holds {', '.join(sorted(keys)) or 'nothing'}, not mu and sigma")


def cleanfid_stats_file(stats: CleanFIDStats, progress: bool = True) -> Path:
    """The statistics file: in genbench's cache, else in clean-fid's download folder, else fetched
    into the cache (atomically; a transfer cut short or a file without mu/sigma leaves nothing);
    ``GenbenchError`` offline or when it cannot be fetched."""
    from genbench.fetch import FetchError, fetch_file

    cached = cleanfid_cache_dir() / stats.filename
    package = _cleanfid_package_stats()
    for candidate in (cached, None if package is None else package / stats.filename):
        if candidate is not None and candidate.is_file():
            return candidate
    try:
        fetch_file(stats.url, cached, progress=progress, check=_check_moments_file, what="clean-fid statistics file")
    except FetchError as exc:
        hint = " (clean-fid publishes some dataset/mode/split/resolution combinations only)" if "404" in str(exc) \
            else ""
        raise FetchError(f"{exc}{hint}") from exc
    return cached


def implied_extractor_options(specs: list[str]) -> dict[str, Any]:
    """Extractor keywords that references ``specs`` imply: clean-fid statistics fix the Inception's
    ``resize`` (``{}`` for other references)."""
    modes = {CleanFIDStats.parse(spec).mode for spec in map(str, specs) if spec.startswith(CLEANFID_PREFIX)}
    if len(modes) > 1:
        raise GenbenchError(f"clean-fid statistics of different modes ({', '.join(sorted(modes))}) are in different "
                            "feature spaces and cannot be compared")
    return {"resize": CLEANFID_RESIZE[modes.pop()]} if modes else {}


def _cleanfid(spec: str, extractor: Any, progress: bool = True) -> Reference:
    stats = CleanFIDStats.parse(spec)
    resize = getattr(extractor, "resize", None)
    if extractor.name != "inception-v3-fid" or resize != stats.resize:
        used = extractor.name + (f" with resize {resize!r}" if resize else "")
        raise GenbenchError(f"{spec} holds clean-fid {stats.mode} statistics, in the space of inception-v3-fid with "
                            f"resize {stats.resize!r}, not of {used}: leave --extractor and --resize out (or give "
                            f"those) to compare with them")
    path = cleanfid_stats_file(stats, progress)
    ref = _foreign(path, extractor)
    ref.provenance |= {"source": f"{spec} ({path})", "kind": "clean-fid published statistics", "url": stats.url,
                       "provenance": f"clean-fid mode {stats.mode}: inception-v3-fid, resize {stats.resize}"}
    return ref


def _adm(path: Path, extractor: Any, **compute: Any) -> Reference:
    """ADM evaluator batch: stored moments for FID; features (KID, PR, …) from ``arr_0``."""
    mu, sigma, n = _foreign_moments(path, extractor)
    source = _npz_source(path, key="arr_0")
    images = _from_images(source, str(path), extractor, fingerprint=_file_fingerprint(path), **compute)
    computed_mu = images.mu
    provenance = {**_declared(path, extractor, "ADM reference batch", n or source.n),
                  "fid_moments": "stored in the file (mu, sigma)",
                  "features_from": f"arr_0 ({source.n} images, computed)",
                  "sample_n": None if images.sample is None else len(images.sample),
                  "stored_vs_computed_mu_max_abs": float(np.abs(computed_mu - mu).max())}
    return Reference(None, images.sample, provenance, images.cell_histogram, images.extras, moments=(mu, sigma))


# -- images (computed once, cached) -------------------------------------------------------------------

def _npz_source(path: Path, key: str | None = None):
    """The uint8 samples of an .npz (``key``, default arr_0 or its only array) as an ImageSource."""
    from genbench.data.sources import ImageSource
    from genbench.generators.sources import NpzSamples

    samples = NpzSamples(path, key)
    return ImageSource(samples.meta.name, len(samples.images), lambda s, k: samples.images[s:s + k])


def _images_source(path: Path, resize_inputs: int | None):
    from genbench.data.sources import image_source

    return _npz_source(path) if path.suffix == ".npz" else image_source(str(path), resize_inputs=resize_inputs)


def _file_fingerprint(path: Path) -> list:
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def _content_fingerprint(spec: str) -> list:
    """What identifies the images of ``spec``: file names, sizes and mtimes (a folder: every file
    under it), or the procedural split and genbench's version (shapes32)."""
    if spec.startswith("shapes32:"):
        from genbench import __version__

        return [spec, __version__]
    path = Path(spec)
    if path.is_file():
        return _file_fingerprint(path)
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return [str(path.resolve())] + [[str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def references_cache_dir() -> Path:
    return genbench_home() / "references"


def _from_images(source: Any, spec: str, extractor: Any, batch_size: int = 500, sample_n: int = 10_000,
                 progress: bool = True, cache: bool = True, workers: int | None = None,
                 fingerprint: list | None = None) -> Reference:
    """Features of every image of ``source`` → a Reference; cached by content + feature space."""
    source_record = source.provenance() if hasattr(source, "provenance") else {"source": source.name, "n": source.n}
    key_record = {"format": CACHE_FORMAT, "content": fingerprint or _content_fingerprint(spec),
                  "extractor": extractor.provenance(), "sample_n": sample_n, "input": source_record}
    key = hashlib.sha256(json.dumps(key_record, sort_keys=True, default=str).encode()).hexdigest()[:32]
    cached = references_cache_dir() / f"{key}.npz"
    if not (cache and cached.is_file()):
        if source.n < 2:
            raise GenbenchError(f"{source.name} holds {source.n} image(s); a reference needs at least 2")
        ref = compute_reference(source, source.n, extractor, source.name, "all", sample_n=min(sample_n, source.n),
                                batch_size=batch_size, progress=progress, workers=workers)
        ref.provenance |= {"input": source_record}
        if cache:
            save_reference_file(ref, cached)
        else:  # what a cached read would give: moments from (mu, sigma, n), float16 rows
            ref.stats = FeatureStats.from_moments(ref.stats.mean, ref.stats.cov, ref.stats.n, ref.stats.provenance)
            ref.sample = ref.sample.astype(np.float16).astype(np.float64)
            ref.provenance |= {"source": spec, "kind": "images", "provenance": "computed", "cache": None}
            return ref
    ref = _genbench_files(cached, None, extractor.provenance())
    ref.provenance |= {"source": spec, "kind": "images", "provenance": "computed", "cache": str(cached)}
    return ref


def _batches(images: Any, n: int, batch_size: int, workers: int | None, desc: str,
             progress: bool) -> Iterator[tuple[int, torch.Tensor]]:
    """(start, images start … start+k−1) over [0, n): an ImageSource's own (parallel) decoding when
    it has it, else ``fetch`` / a (start, k) callable batch by batch."""
    bar = tqdm(total=n, desc=desc, disable=not progress, unit="img")
    if hasattr(images, "batches"):
        it = images.batches(batch_size, 0, n, workers=workers)
    else:
        fetch = getattr(images, "fetch", images)
        it = ((s, fetch(s, min(batch_size, n - s))) for s in range(0, n, batch_size))
    for start, batch in it:
        yield start, batch
        bar.update(len(batch))
    bar.close()


def compute_reference(images: Any, n: int, extractor: Any, dataset: str, split: str, sample_n: int = 10_000,
                      batch_size: int = 500, progress: bool = True, workers: int | None = None) -> Reference:
    """Run ``extractor`` over images [0, n) (an ImageSource or a ``(start, k) -> images`` callable)
    and collect stats, a feature sample and class statistics."""
    from genbench.microbatch import round_up

    provenance = {**extractor.provenance(), "dataset": dataset, "split": split}
    stats = FeatureStats(extractor.feature_dim, provenance, keep_rows=False)
    sample, probs, cells = [], [], []
    n_cells = getattr(extractor, "n_cells", None)  # classifier extractors with mode-coverage cells
    batch_size = round_up(batch_size, extractor.micro_batch)
    for start, batch in _batches(images, n, batch_size, workers, f"{dataset} → {extractor.name}", progress):
        if n_cells:
            out, predictions = extractor.extract_all(batch, start)
            cells.append(predictions["cell"].numpy())
        else:
            out = extractor.extract(batch, start)
        stats.update(out.features)
        if sum(len(s) for s in sample) < sample_n:
            sample.append(out.features.numpy())
        if out.probs is not None:
            probs.append(out.probs.numpy())
    extras = {}
    if probs and n >= 10:  # the data's own IS (10 splits)
        mean, std = inception_score(np.concatenate(probs))
        extras["inception_score"] = {"mean": mean, "std": std, "splits": 10}
    histogram = cell_histogram(np.concatenate(cells), n_cells) if n_cells else None
    feats = np.concatenate(sample)[:sample_n]
    return Reference(stats, feats, {**provenance, "n": n, "sample_n": len(feats)}, histogram, extras)


# -- writing ---------------------------------------------------------------------------------------

def reference_paths(dataset: str, split: str, extractor: str, root: Path | None = None) -> tuple[Path, Path]:
    root = stats_dir() if root is None else Path(root)
    stem = f"{dataset}-{split}-{extractor}"
    return root / f"{stem}.npz", root / f"{stem}-sample.npz"


def save_reference(ref: Reference, root: Path | None = None) -> tuple[Path, Path]:
    """Write the file pair (``reference_paths``) atomically; returns their paths."""
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


def load_reference(dataset: str = "shapes32", split: str = "train", extractor: str = "shapes-net",
                   root: Path | None = None, expect: dict | None = None) -> Reference:
    """The file pair ``reference_paths(dataset, split, extractor, root)`` (the bundled statistics by
    default); ``expect`` (an extractor's provenance) is checked against them."""
    stats_path, sample_path = reference_paths(dataset, split, extractor, root)
    for path in (stats_path, sample_path):
        if not path.is_file():
            raise FileNotFoundError(f"reference statistics {path} not found; regenerate them with "
                                    f"`genbench stats {dataset} --split {split} --extractor {extractor}`")
    return _genbench_files(stats_path, sample_path, expect)


def _version() -> dict:
    from genbench import __version__

    return {"genbench_version": __version__}
