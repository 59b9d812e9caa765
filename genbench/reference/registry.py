"""The registry of reference kinds: one entry per kind of ``--ref`` / ``Reference.load`` spec, read by
every function that loads a reference, says whether it holds images, or picks an extractor for it.

A *kind* is a ``ReferenceKind`` (a subclass, registered as an instance) that declares

- ``name`` (the registry key) and ``description`` (one line: what the spec is);
- ``detect(spec)``: whether it reads ``spec`` (a ``Spec``: the text, its path, an .npz's array
  names read once); it may raise ``GenbenchError`` for a spec it recognises but refuses (a
  malformed name, a pickle). Kinds are asked in registration order and the first that says yes
  reads the spec, so a kind that narrows another (an .npz with certain arrays) is registered
  ``before`` it;
- ``load(spec, extractor, options)``: the ``Reference`` in the built ``extractor``'s feature space,
  with ``provenance`` saying ``source``, ``kind`` and ``provenance`` (how its feature space is
  known: "recorded in the file", "declared by the user: NAME", "computed", a clean-fid mode).
  ``options`` is a ``ReadingOptions``. The loader adds ``spec`` and ``fingerprint``;
- ``holds_images``: its images can be put in any feature space (a second one: CMMD's CLIP,
  FD-DINOv2), through ``load_images`` (default: ``load``);
- the feature space it fixes: ``recorded_extractor(spec)`` (the extractor a file records or a
  name implies; None: none), ``needs_declared_extractor`` (statistics without provenance: the
  user must name the extractor), ``default_extractor`` (what its images call for when nothing
  records one: shapes-net for shapes32; None: inception-v3-fid) and ``extractor_options(specs)``
  (keywords its specs imply for the extractor, e.g. clean-fid's ``resize``).

Built-in kinds live in ``genbench.reference.builtin_kinds``, which ``genbench.reference`` imports
(registering them) before anything can ask; ``register_kind`` adds one (plug-ins, tests),
``unregister_kind`` removes it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from genbench.errors import GenbenchError
from genbench.reference.base import Reference
from genbench.reference.formats import npz_keys

DEFAULT_EXTRACTOR = "inception-v3-fid"  # for images when no kind records or calls for another
WHAT_A_REFERENCE_IS = ("a reference is a statistics .npz, a folder or .zip of images, an .npz of samples, a "
                       "torchvision root or shapes32[:split]")


@dataclass(frozen=True)
class ReadingOptions:
    """How a reference is read: ``batch_size`` images per extractor call (rounded up to the
    extractor's micro-batch), ``sample_n`` feature rows kept (the first ones), ``progress`` bars,
    ``cache`` (False: neither read nor write the image-feature cache), ``workers`` decoding
    processes (None: the default), ``resize_inputs`` (N: center-crop and resize folder, zip and
    torchvision images to N×N pixels; None: images must share one size)."""

    batch_size: int = 500
    sample_n: int = 10_000
    progress: bool = True
    cache: bool = True
    workers: int | None = None
    resize_inputs: int | None = None


class Spec:
    """A reference spec as given (``text``), its ``path`` and, read once when a kind asks,
    ``npz_keys``: the array names of an ``.npz`` file (None when ``path`` is not one)."""

    def __init__(self, text: str | os.PathLike) -> None:
        self.text = str(text)

    def __repr__(self) -> str:
        return f"Spec({self.text!r})"

    @cached_property
    def path(self) -> Path:
        return Path(self.text)

    @cached_property
    def npz_keys(self) -> frozenset[str] | None:
        if self.path.suffix == ".npz" and self.path.is_file():
            return frozenset(npz_keys(self.path))
        return None


class ReferenceKind:
    """One kind of reference (module docstring). Subclass it, set the class attributes, write
    ``detect`` and ``load`` (and the extractor methods where the kind fixes a feature space),
    and ``register_kind`` an instance."""

    name: str = ""
    description: str = ""
    holds_images: bool = False
    needs_declared_extractor: bool = False
    default_extractor: str | None = None

    def detect(self, spec: Spec) -> bool:
        """Whether this kind reads ``spec`` (GenbenchError: it is this kind's but refused)."""
        raise NotImplementedError

    def load(self, spec: Spec, extractor: Any, options: ReadingOptions) -> Reference:
        """The reference in the built ``extractor``'s feature space."""
        raise NotImplementedError

    def load_images(self, spec: Spec, extractor: Any, options: ReadingOptions) -> Reference:
        """The reference's images in ``extractor``'s feature space (a second one); GenbenchError
        for a kind that holds statistics only."""
        if not self.holds_images:
            raise GenbenchError(f"reference {spec.text} holds statistics, not images: it cannot be put in the feature "
                                f"space of {extractor.name} (give a folder, an .npz of samples, a torchvision root, "
                                "an ADM batch or shapes32)")
        return self.load(spec, extractor, options)

    def recorded_extractor(self, spec: Spec) -> str | None:
        """The extractor whose feature space ``spec``'s contents are in, when it says (None: it does not)."""
        return None

    def extractor_options(self, specs: list[Spec]) -> dict[str, Any]:
        """Extractor keywords that ``specs`` (all of this kind) imply together ({}: none)."""
        return {}


_KINDS: dict[str, ReferenceKind] = {}  # in detection order; the built-in ones registered when the package loads


def register_kind(kind: ReferenceKind, *, before: str | None = None, overwrite: bool = False) -> ReferenceKind:
    """Add ``kind`` at the end of the detection order, or just ahead of the kind named ``before``;
    ``overwrite`` replaces a kind of the same name in place. Returns ``kind``."""
    if not kind.name:
        raise ValueError(f"reference kind {type(kind).__name__} has no name")
    if kind.name in _KINDS and not overwrite:
        raise ValueError(f"reference kind {kind.name!r} is already registered")
    if before is not None and before not in _KINDS:
        raise ValueError(f"no reference kind {before!r} to register {kind.name!r} before; known: {', '.join(_KINDS)}")
    if before is None or kind.name in _KINDS:
        _KINDS[kind.name] = kind
        return kind
    entries = list(_KINDS.items())
    at = [name for name, _ in entries].index(before)
    _KINDS.clear()
    _KINDS.update(entries[:at] + [(kind.name, kind)] + entries[at:])
    return kind


def unregister_kind(name: str) -> ReferenceKind:
    """Remove the kind ``name`` and return it (KeyError when there is none)."""
    return _KINDS.pop(name)


def kinds() -> dict[str, ReferenceKind]:
    """Every registered kind, in detection order."""
    return dict(_KINDS)


def kind_of(spec: str | os.PathLike | Spec) -> tuple[ReferenceKind, Spec]:
    """(the kind that reads ``spec``, the parsed Spec); GenbenchError when no kind does."""
    spec = spec if isinstance(spec, Spec) else Spec(spec)
    for kind in kinds().values():
        if kind.detect(spec):
            return kind, spec
    if not spec.path.exists():
        raise GenbenchError(f"{spec.text}: no such file or folder ({WHAT_A_REFERENCE_IS})")
    raise GenbenchError(f"{spec.text}: not an .npz, a .zip or a folder ({WHAT_A_REFERENCE_IS})")
