"""clean-fid's published statistics by name, ``cleanfid:DATASET/MODE/SPLIT/RES``: the name, the
file and where it is found (genbench's cache, clean-fid's own download folder) or fetched from.

The statistics are Inception moments in the feature space of clean-fid's mode: ``inception-v3-fid``
with resize ``clean`` / ``tf`` (``legacy_tensorflow``) / ``bilinear`` (``legacy_pytorch``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from genbench.errors import GenbenchError
from genbench.io import genbench_home
from genbench.reference.formats import npz_keys

CLEANFID_PREFIX = "cleanfid:"
# where cleanfid.features.get_reference_statistics fetches from; read at each fetch, so a mirror (or a
# test server) is set here (genbench.reference.cleanfid.CLEANFID_STATS_URL)
CLEANFID_STATS_URL = "https://www.cs.cmu.edu/~clean-fid/stats/"
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
    def parse(cls, spec: str) -> CleanFIDStats:
        """The name ``spec`` (``cleanfid:`` + 4 parts, any case); GenbenchError for a malformed one."""
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
        """The file name clean-fid publishes the statistics under."""
        return f"{self.dataset}_{self.mode}_{self.split}_{self.res}.npz"

    @property
    def url(self) -> str:
        """Where clean-fid publishes the file (``CLEANFID_STATS_URL`` + ``filename``)."""
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
    keys = npz_keys(path)
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
