"""What the bundled weights are and how they were made (``genbench models``).

``weights_table`` lists every entry of ``reference_models/manifest.json`` (size in MB = 10⁶ bytes,
dtype, parameter count, training steps, device, sha256) and, with ``verify``, hashes each file
against the manifest. ``reproduction`` gives the chain of commands behind one entry, oldest first:
the stages in its ``lineage`` (warm starts from earlier bundled weights, ``genbench.training.
warm_start``), then the entry's own command.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from genbench.assets import models_dir, read_manifest, training_chain
from genbench.errors import GenbenchError
from genbench.features.weights import WeightsError, verify_sha256

COLUMNS = ("name", "file", "size_mb", "dtype", "parameters", "steps", "device", "sha256", "status")


def weights_table(verify: bool = False) -> pd.DataFrame:
    """One row per manifest entry (sorted by name), columns ``COLUMNS``. ``status``: "missing" when
    the file is absent, else with ``verify`` "ok" or "sha256 mismatch", without it "not checked"."""
    rows = []
    for name, entry in sorted(read_manifest().items()):
        path = models_dir() / entry.get("file", f"{name}.safetensors")
        size_mb = path.stat().st_size / 1e6 if path.is_file() else None
        if size_mb is None:
            status = "missing"
        elif not verify:
            status = "not checked"
        else:
            try:
                verify_sha256(path, entry["sha256"])
                status = "ok"
            except WeightsError:
                status = "sha256 mismatch"
        rows.append({"name": name, "file": path.name, "size_mb": size_mb,
                     "dtype": entry.get("dtype"), "parameters": entry.get("parameters"), "steps": entry.get("steps"),
                     "device": entry.get("device", "cpu"), "sha256": entry["sha256"][:12], "status": status})
    return pd.DataFrame(rows, columns=list(COLUMNS)).astype({"parameters": "Int64", "steps": "Int64"})


def reproduction(name: str) -> list[dict[str, Any]]:
    """The stages that made bundled model ``name``, oldest first: each earlier stage of its lineage,
    then the entry itself; each a dict with sha256, steps, device and command."""
    manifest = read_manifest()
    if name not in manifest:
        raise GenbenchError(f"no bundled model {name!r}; the manifest lists {', '.join(sorted(manifest))}")
    return training_chain(manifest[name])


def format_reproduction(name: str) -> str:
    """``reproduction(name)`` as numbered lines: stage, steps, device, sha256 prefix, command."""
    stages = reproduction(name)
    lines = [f"{name}: {len(stages)} stage{'s' if len(stages) > 1 else ''}, oldest first"]
    for i, stage in enumerate(stages, 1):
        steps = "?" if stage.get("steps") is None else f"{stage['steps']:,}"
        lines.append(f"{i}. {steps} steps on {stage.get('device', 'cpu')}, sha256 {stage['sha256'][:12]}…\n"
                     f"   {stage['command']}")
    return "\n".join(lines)
