"""``import_object``: the Python object a ``module:object`` spec names (generators, denoisers,
networks given on the command line)."""

from __future__ import annotations

import importlib
from typing import Any


def import_object(spec: str) -> Any:
    """Import ``module`` and return its attribute ``object`` (dotted paths such as
    ``module:Class.factory`` walk attributes); ValueError when the module cannot be imported."""
    module_name, _, attr = spec.partition(":")
    try:
        obj = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ValueError(f"cannot import {module_name!r} for {spec!r}: {exc}") from exc
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj
