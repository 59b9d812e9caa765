"""Bundled artifacts: weights in ``reference_models/`` and statistics in ``reference_stats/``.

Bundled weights are safetensors (no pickles), stored fp16 where that does not hurt, listed in
``reference_models/manifest.json`` with their sha256, parameter count, config and the command
that trained them. ``load_bundled_weights`` refuses a file whose sha256 differs from the
manifest. Both folders live inside the ``genbench`` package (package data), so an editable and a
plain ``pip install .`` find them alike; ``$GENBENCH_ASSETS`` names another root holding both.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from genbench.features.weights import WeightsError, verify_sha256
from genbench.io import atomic_path, atomic_write_text


def assets_root() -> Path:
    return Path(os.environ.get("GENBENCH_ASSETS", Path(__file__).resolve().parent))


def models_dir() -> Path:
    return assets_root() / "reference_models"


def stats_dir() -> Path:
    return assets_root() / "reference_stats"


def _manifest_path() -> Path:
    return models_dir() / "manifest.json"


def read_manifest() -> dict[str, Any]:
    path = _manifest_path()
    return json.loads(path.read_text()) if path.is_file() else {}


def training_chain(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The training stages behind a manifest entry, oldest first: its ``lineage`` (earlier bundled
    stages it was warm-started from), then the entry itself, each as {sha256, steps, device, command}."""
    own = {"sha256": entry["sha256"], "steps": entry.get("steps"), "device": entry.get("device", "cpu"),
           "command": entry.get("command", "")}
    return [*entry.get("lineage", []), own]


def load_bundled_weights(name: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """State dict (float32) and manifest entry of bundled model ``name``; sha256 checked against the manifest."""
    from safetensors.torch import load_file

    entry = read_manifest().get(name)
    path = models_dir() / f"{name}.safetensors"
    if entry is None or not path.is_file():
        raise WeightsError(f"bundled model {name!r} not found ({path}, manifest {_manifest_path()}); "
                           f"train it with: {entry['command'] if entry else 'its training command in docs/guide.md'}")
    entry = {**entry, "sha256": verify_sha256(path, entry["sha256"])}
    try:
        state = load_file(str(path))
    except Exception as exc:
        raise WeightsError(f"cannot read bundled weights {path}: {exc}") from exc
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, entry


def save_bundled_weights(name: str, state: dict[str, torch.Tensor], config: dict[str, Any], command: str,
                         fp16: bool = True, **extra: Any) -> dict[str, Any]:
    """Write ``reference_models/<name>.safetensors`` atomically and record it in the manifest."""
    from safetensors.torch import save_file

    tensors = {k: (v.half() if fp16 and v.is_floating_point() else v).detach().cpu().contiguous()
               for k, v in state.items()}
    path = models_dir() / f"{name}.safetensors"
    with atomic_path(path) as tmp:
        # one metadata key: safetensors writes several keys in arbitrary order, which would change the sha256
        save_file(tensors, str(tmp), metadata={"genbench": json.dumps({"name": name, "config": config}, sort_keys=True)})
    entry = {"file": path.name, "sha256": verify_sha256(path, None), "dtype": "float16" if fp16 else "float32",
             "parameters": int(sum(v.numel() for v in state.values() if v.is_floating_point())),
             "config": config, "command": command, **extra}
    with _manifest_lock():
        manifest = read_manifest()
        manifest[name] = entry
        atomic_write_text(_manifest_path(), json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return entry


@contextlib.contextmanager
def _manifest_lock() -> Iterator[None]:
    """Serialise read-modify-write of the manifest between processes (two trainings may finish together)."""
    models_dir().mkdir(parents=True, exist_ok=True)
    with open(models_dir() / ".manifest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
