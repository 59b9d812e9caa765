"""Locating and verifying weight files for feature extractors.

Weights are never fetched silently. A weights file is looked up, in order, at the path the
caller passes, then at ``$GENBENCH_HOME/weights/<filename>``; its sha256 is checked against
the expected digest (full hex, or a prefix as in torch.hub file names). A download from the
canonical URL happens only when the caller asks (``download=True``); offline, that fails with
a message saying where to put the file.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from genbench.errors import GenbenchError
from genbench.io import atomic_path, genbench_home, sha256_file


class WeightsError(GenbenchError):
    """A weights file is missing, corrupted or of the wrong layout."""


class WeightsWarning(UserWarning):
    """A weights file named by the user is not the canonical one (its sha256 is recorded)."""


@dataclass(frozen=True)
class WeightsSpec:
    """Where a weights file lives and what its sha256 must be (``sha256`` may be a prefix)."""

    filename: str
    sha256: str | None = None
    url: str | None = None


def weights_dir() -> Path:
    return genbench_home() / "weights"


def verify_sha256(path: Path, expected: str | None) -> str:
    """Return the file's sha256; raise ``WeightsError`` if it does not start with ``expected``."""
    digest = sha256_file(path)
    if expected and not digest.startswith(expected.lower()):
        raise WeightsError(
            f"weights file {path} is corrupted or not the expected file: sha256 {digest}, "
            f"expected {expected}{'…' if len(expected) < 64 else ''}. Delete it and put the right file there."
        )
    return digest


def resolve_weights(spec: WeightsSpec, path: str | os.PathLike | None = None, download: bool = False,
                    warn_explicit: bool = False) -> tuple[Path, str]:
    """Find (and with ``download=True`` fetch) a weights file; return its path and verified sha256.
    ``warn_explicit``: a file the caller names (``path``) that is not ``spec.sha256`` is used with a
    warning naming its digest (fine-tuned or test weights) instead of refused; the file found at
    the default place is always checked."""
    if path is not None:
        candidate = Path(path).expanduser()
        if not candidate.is_file():
            raise WeightsError(f"weights file not found: {candidate}")
        if not warn_explicit:
            return candidate, verify_sha256(candidate, spec.sha256)
        digest = sha256_file(candidate)
        if spec.sha256 and not digest.startswith(spec.sha256.lower()):
            warnings.warn(f"weights file {candidate} is not the canonical {spec.filename} (sha256 {digest}, canonical "
                          f"{spec.sha256}…): its numbers do not compare with published ones; the sha256 is recorded",
                          WeightsWarning, stacklevel=3)
        return candidate, digest
    candidate = weights_dir() / spec.filename
    if candidate.is_file():
        return candidate, verify_sha256(candidate, spec.sha256)
    if download and spec.url:
        try:
            with atomic_path(candidate) as tmp:
                torch.hub.download_url_to_file(spec.url, str(tmp), progress=True)
                verify_sha256(tmp, spec.sha256)
        except WeightsError:
            raise
        except Exception as exc:  # network failures come in many types
            raise WeightsError(
                f"could not download {spec.url} ({exc}). Offline? Download it elsewhere and put it at "
                f"{candidate} (or set GENBENCH_HOME, or pass the path explicitly)."
            ) from exc
        return candidate, verify_sha256(candidate, spec.sha256)
    where = f" from {spec.url}" if spec.url else ""
    raise WeightsError(
        f"weights file {spec.filename} not found. Put it at {candidate} (set GENBENCH_HOME to move that "
        f"folder), pass its path explicitly, or ask for a download{where} with download=True."
    )


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
