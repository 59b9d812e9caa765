"""Locating, fetching and verifying weight files for feature extractors.

``resolve_weights(spec, path)`` finds a weights file, in this order:

1. ``path``, when the caller names one;
2. genbench's cache, ``$GENBENCH_HOME/weights/<spec.filename>`` (default ``~/.cache/genbench/weights``);
3. where other tools already put the same file: ``spec.hub_names`` in torch.hub's checkpoint folder
   (``torch.hub.get_dir()/checkpoints``: ``$TORCH_HOME/hub/checkpoints``, by default
   ``$XDG_CACHE_HOME/torch/hub/checkpoints`` or ``~/.cache/torch/hub/checkpoints``, where
   pytorch-fid, torch-fidelity and ``torch.hub.load`` download), then ``spec.hf_files`` in the
   Hugging Face cache (where open_clip's pretrained tags are downloaded);
4. fetched on first use: ``spec.url`` into genbench's cache by :func:`genbench.fetch.fetch_file`
   (progress bar, temporary file, size and sha256 checked, then renamed), else ``spec.hf_files``
   through ``huggingface_hub`` into its cache.

The sha256 is checked against ``spec.sha256`` (a full digest, or a prefix as in torch.hub file
names) where there is one: a file in genbench's cache that fails it is an error; one in another
tool's folder is skipped with a warning. Offline (``GENBENCH_OFFLINE=1`` or ``genbench --offline``;
``HF_HUB_OFFLINE=1`` too for Hugging Face files) or with ``download=False``, step 4 is refused and a
missing file fails in one line naming the file and where to put it.

:class:`LazyWeights` defers the lookup to the first need: extractors load their network when the
first image is extracted, and name their weights without the file when the spec has a full digest.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from genbench.errors import GenbenchError
from genbench.fetch import FetchError, digest_matches, fetch_file, is_offline, offline_reason
from genbench.io import genbench_home, sha256_file


class WeightsError(GenbenchError):
    """A weights file is missing, corrupted or of the wrong layout."""


class WeightsWarning(UserWarning):
    """A weights file named by the user is not the canonical one (its sha256 is recorded), or a copy
    in another tool's folder is not the expected file (it is skipped)."""


@dataclass(frozen=True)
class WeightsSpec:
    """Where a weights file lives and what it must be.

    ``filename``: its name in genbench's cache; ``sha256``: full hex digest or a prefix (None: not
    published, not checked); ``url``: the canonical download; ``hub_names``: names of the same file
    in torch.hub's checkpoint folder; ``hf_files``: ``(repo_id, filename, …)`` on the Hugging Face
    Hub, the filenames tried in order (cache first, then a download when ``url`` is None)."""

    filename: str
    sha256: str | None = None
    url: str | None = None
    hub_names: tuple[str, ...] = ()
    hf_files: tuple[str, ...] = ()

    @property
    def full_sha256(self) -> str | None:
        """The expected digest when it is a full one (then a file's identity is known before it is found)."""
        return self.sha256.lower() if self.sha256 and len(self.sha256) == 64 else None

    @property
    def source(self) -> str | None:
        """Where the file is fetched from, for messages."""
        if self.url:
            return self.url
        if self.hf_files:
            return f"https://huggingface.co/{self.hf_files[0]} ({' or '.join(self.hf_files[1:])})"
        return None


def weights_dir() -> Path:
    """genbench's weights cache: ``$GENBENCH_HOME/weights``."""
    return genbench_home() / "weights"


def torch_hub_checkpoints() -> Path:
    """torch.hub's checkpoint folder (``$TORCH_HOME/hub/checkpoints``; ``torch.hub.get_dir()`` honours
    ``TORCH_HOME``, ``XDG_CACHE_HOME`` and ``torch.hub.set_dir``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def verify_sha256(path: Path, expected: str | None) -> str:
    """Return the file's sha256; raise ``WeightsError`` if it does not start with ``expected``."""
    digest = sha256_file(path)
    if not digest_matches(digest, expected):
        raise WeightsError(
            f"weights file {path} is corrupted or not the expected file: sha256 {digest}, "
            f"expected {expected}{'…' if len(expected) < 64 else ''}. Delete it and put the right file there."
        )
    return digest


def _explicit(spec: WeightsSpec, path: str | os.PathLike, warn_explicit: bool) -> tuple[Path, str]:
    candidate = Path(path).expanduser()
    if not candidate.is_file():
        raise WeightsError(f"weights file not found: {candidate}")
    if not warn_explicit:
        return candidate, verify_sha256(candidate, spec.sha256)
    digest = sha256_file(candidate)
    if not digest_matches(digest, spec.sha256):
        warnings.warn(f"weights file {candidate} is not the canonical {spec.filename} (sha256 {digest}, canonical "
                      f"{spec.sha256[:16]}…): its numbers do not compare with published ones; the sha256 is recorded",
                      WeightsWarning, stacklevel=4)
    return candidate, digest


def _other_tools_copy(spec: WeightsSpec) -> tuple[Path, str] | None:
    """The file in torch.hub's checkpoint folder or the Hugging Face cache, when it passes the digest check."""
    candidates = [torch_hub_checkpoints() / name for name in spec.hub_names]
    cached = _hf_cached(spec.hf_files)
    if cached is not None:
        candidates.append(cached)
    for candidate in candidates:
        if not candidate.is_file():
            continue
        digest = sha256_file(candidate)
        if digest_matches(digest, spec.sha256):
            return candidate, digest
        warnings.warn(f"ignoring {candidate}: sha256 {digest} is not the expected {spec.filename}'s "
                      f"({spec.sha256[:16]}…)", WeightsWarning, stacklevel=4)
    return None


def hf_offline() -> bool:
    """Whether Hugging Face downloads are forbidden: genbench offline, or ``HF_HUB_OFFLINE`` set."""
    return is_offline() or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _hf_cached(hf_files: tuple[str, ...]) -> Path | None:
    """The first of ``hf_files``' filenames already in the Hugging Face cache (no network)."""
    if not hf_files:
        return None
    from huggingface_hub import try_to_load_from_cache

    repo, *names = hf_files
    for name in names:
        found = try_to_load_from_cache(repo, name)
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    return None


def _hf_fetch(hf_files: tuple[str, ...]) -> Path:
    """Download the first of ``hf_files``' filenames the repository has, into the Hugging Face cache
    (``huggingface_hub`` writes a temporary ``.incomplete`` file and renames it when complete)."""
    from huggingface_hub import hf_hub_download

    from genbench import __version__

    repo, *names = hf_files
    failures = []
    for name in names:
        try:
            return Path(hf_hub_download(repo, name, library_name="genbench", library_version=__version__))
        except Exception as exc:  # a missing alternative (EntryNotFound), or the network
            failures.append(f"{name}: {(str(exc).splitlines() or [type(exc).__name__])[0]}")
    raise FetchError(f"could not fetch {', '.join(names)} from the Hugging Face Hub repository {repo} "
                     f"({'; '.join(failures)})")


def _missing(spec: WeightsSpec, download: bool) -> WeightsError:
    source = spec.source
    if source is None:
        reason = ""
    elif is_offline():
        reason = f"; genbench is offline ({offline_reason()}), so it was not fetched from {source}"
    elif spec.url is None and hf_offline():
        reason = f"; HF_HUB_OFFLINE is set, so it was not fetched from {source}"
    elif not download:
        reason = f"; download=False, so it was not fetched from {source}"
    else:
        reason = ""
    return WeightsError(f"weights file {spec.filename} not found. Put it at {weights_dir() / spec.filename} "
                        f"(set GENBENCH_HOME to move that folder) or pass its path explicitly{reason}")


def resolve_weights(spec: WeightsSpec, path: str | os.PathLike | None = None, download: bool = True,
                    warn_explicit: bool = False) -> tuple[Path, str]:
    """Find, else fetch, a weights file (see the module docstring); return its path and verified sha256.

    ``download=False``: never fetch. ``warn_explicit``: a file the caller names (``path``) that is
    not ``spec.sha256`` is used with a ``WeightsWarning`` naming its digest (fine-tuned or test
    weights) instead of refused; files found elsewhere are always checked."""
    if path is not None:
        return _explicit(spec, path, warn_explicit)
    cached = weights_dir() / spec.filename
    if cached.is_file():
        return cached, verify_sha256(cached, spec.sha256)
    found = _other_tools_copy(spec)
    if found is not None:
        return found
    if not download or spec.source is None or is_offline() or (spec.url is None and hf_offline()):
        raise _missing(spec, download)
    try:
        if spec.url is not None:
            return cached, fetch_file(spec.url, cached, spec.sha256, what="weights file")
        fetched = _hf_fetch(spec.hf_files)
    except FetchError as exc:
        raise WeightsError(str(exc)) from exc
    return fetched, verify_sha256(fetched, spec.sha256)


class LazyWeights:
    """A weights file found (and fetched) at the first need.

    With a full digest in the spec and no path, nothing is looked up until :meth:`resolve` is
    called: :attr:`sha256` is that digest, which the file must then match exactly, so a record made
    without the file names the same weights as one made with it. Otherwise the file is its own
    identity, so it is found (or fetched) at once: a path the caller names, or the default file of a
    spec without a published digest (where a missing file then fails at construction).
    """

    def __init__(self, spec: WeightsSpec, path: str | os.PathLike | None = None, download: bool = True,
                 warn_explicit: bool = False) -> None:
        self.spec, self.download, self.warn_explicit = spec, download, warn_explicit
        self._resolved = None
        if path is not None or spec.full_sha256 is None:
            self._resolved = resolve_weights(spec, path, download, warn_explicit)

    def resolve(self) -> tuple[Path, str]:
        """The file's path and sha256 (found or fetched now, once)."""
        if self._resolved is None:
            self._resolved = resolve_weights(self.spec, None, self.download, self.warn_explicit)
        return self._resolved

    @property
    def sha256(self) -> str:
        """The weights' sha256: the file's when found, else the spec's full digest."""
        return self._resolved[1] if self._resolved is not None else self.spec.full_sha256


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Load a state dict from .safetensors, or from a torch file with ``weights_only=True`` (no pickled code)."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"cannot read weights file {path}: {exc}") from exc
    if not isinstance(state, dict):
        raise WeightsError(f"weights file {path} holds a {type(state).__name__}, not a state dict")
    return state
