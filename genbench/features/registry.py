"""Names → factories for feature extractors (and, later, generators and datasets).

Built-in names are registered by the modules that define them. Third parties add theirs
through the entry-point group ``genbench.feature_extractors`` (``name = "module:factory"``).
A name ending in ``:`` registers a family: ``clip:`` matches ``clip:ViT-B-32`` and the factory
receives the part after the colon as its first argument.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from genbench.errors import GenbenchError

EXTRACTOR_GROUP = "genbench.feature_extractors"

_EXTRACTORS: dict[str, Callable[..., Any]] = {}
_BUILTIN_MODULES = ("genbench.features.inception", "genbench.features.clip", "genbench.features.shapes",
                    "genbench.features.shapes_clip", "genbench.features.dinov2", "genbench.features.clip_cmmd")
_loaded = False


def register_extractor(name: str, factory: Callable[..., Any], *, overwrite: bool = False) -> None:
    """Register ``factory(**kwargs) -> FeatureExtractor`` under ``name`` (``"family:"`` for a family)."""
    if name in _EXTRACTORS and not overwrite and _EXTRACTORS[name] is not factory:
        raise ValueError(f"feature extractor {name!r} is already registered")
    _EXTRACTORS[name] = factory


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a real missing dependency, not a module that doesn't exist yet
                raise
    for ep in entry_points(group=EXTRACTOR_GROUP):
        if ep.name not in _EXTRACTORS:
            _EXTRACTORS[ep.name] = ep.load()


def available_extractors() -> list[str]:
    """Registered names, built-in and from entry points."""
    _load_all()
    return sorted(_EXTRACTORS)


def get_extractor(name: str, **kwargs: Any):
    """Build the feature extractor registered as ``name`` (e.g. ``"inception-v3-fid"``, ``"clip:ViT-B-32"``)."""
    _load_all()
    if name in _EXTRACTORS:
        return _EXTRACTORS[name](**kwargs)
    family, sep, arg = name.partition(":")
    if sep and f"{family}:" in _EXTRACTORS:
        return _EXTRACTORS[f"{family}:"](arg, **kwargs)
    raise GenbenchError(f"unknown feature extractor {name!r}; available: {', '.join(available_extractors())}")
