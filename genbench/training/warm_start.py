"""Warm starts: the weights a training run starts from when it continues another run's network.

A source is either a training checkpoint (``.pt``: its model and EMA weights, both kept) or bundled
weights (``.safetensors`` named in ``reference_models/manifest.json``, sha256 checked: the EMA
weights, which then start both the trained network and its EMA). Bundled weights are what survives
a GPU machine that is given back (its checkpoints do not), so a later session can go on from them.
What a warm start does not carry over: the optimizer state (AdamW starts afresh, with its
learning-rate warm-up again) and, from bundled weights, the raw network (it restarts as the EMA).

Bundled weights made by a chain of warm starts keep the chain in their manifest entry: ``lineage``
lists, oldest first, each earlier bundled stage (its sha256, steps, device and the command that made
it), so the weights stay reproducible after the files of the earlier stages are overwritten.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genbench.assets import read_manifest, training_chain, verify_sha256
from genbench.training.loop import TrainLoop


@dataclass
class WarmStart:
    """Model and EMA state dicts (float32, CPU), the source run's step count and training seconds,
    and ``source``: what to record about it (file name, kind, sha256 of bundled weights, step and,
    for bundled weights, ``lineage``: the stages that made them, see ``bundle_fields``)."""

    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor]
    step: int
    train_seconds: float
    source: dict[str, Any]


def load_warm_start(path: str | Path) -> WarmStart:
    """Read a warm-start source (see the module docstring); raises SystemExit with the reason
    when the file is missing, unlisted, altered or of another kind."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"--init-from {path}: no such file")
    if path.suffix == ".safetensors":
        return _from_bundled(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    nets = state.get("state", state)  # TrainLoop checkpoints keep the networks under "state"
    if "model" not in nets or "ema" not in nets or "step" not in state:
        raise SystemExit(f"--init-from {path}: not a training checkpoint with model and ema weights")
    return WarmStart(nets["model"], nets["ema"], int(state["step"]), float(state.get("train_seconds", 0.0)),
                     {"file": path.name, "kind": "checkpoint", "step": int(state["step"])})


def _from_bundled(path: Path) -> WarmStart:
    from safetensors.torch import load_file

    entries = [e for e in read_manifest().values() if e.get("file") == path.name]
    if len(entries) != 1 or "steps" not in entries[0]:
        raise SystemExit(f"--init-from {path}: not a bundled model with a step count in the manifest")
    entry = entries[0]
    sha256 = verify_sha256(path, entry["sha256"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    return WarmStart(state, {k: v.clone() for k, v in state.items()}, int(entry["steps"]),
                     float(entry.get("train_seconds", 0.0)),
                     {"file": path.name, "kind": "bundled", "sha256": sha256, "step": int(entry["steps"]),
                      "lineage": training_chain(entry)})


def warm_start(loop: TrainLoop, path: Path, model: torch.nn.Module, ema: torch.nn.Module,
               may_lack: tuple[str, ...] = ()) -> WarmStart:
    """Start ``loop`` from the source at ``path``: its model and EMA weights go into ``model`` and
    ``ema`` (``load_into``; only parameters named ``may_lack…`` may be missing from it), its step count
    and training seconds into ``loop``, and the source into ``loop.meta["init_source"]``, which the
    checkpoints keep (see ``warm_start_step``). The optimizer is left as it is (fresh)."""
    start = load_warm_start(path)
    load_into(model, start.model, path, may_lack)
    load_into(ema, start.ema, path, may_lack)
    loop.step, loop.train_seconds, loop.meta = start.step, start.train_seconds, {"init_source": start.source}
    print(f"warm start from {path} at step {start.step} (fresh optimizer, learning-rate warm-up again)",
          file=sys.stderr)
    return start


def warm_start_step(loop: TrainLoop) -> int:
    """The step a warm-started run began at (0 for a run from scratch): where its learning-rate warm-up counts from."""
    return loop.meta["init_source"]["step"] if "init_source" in loop.meta else 0


def bundle_fields(source: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest fields that record a warm start's ``source`` in the weights bundled from it:
    ``warm_start`` (file, kind, sha256, step) and, for bundled sources, ``lineage`` (every earlier
    stage, oldest first: sha256, steps, device, command). Empty for a run that started from scratch."""
    if source is None:
        return {}
    fields: dict[str, Any] = {"warm_start": {k: v for k, v in source.items() if k != "lineage"}}
    if source.get("lineage"):
        fields["lineage"] = source["lineage"]
    return fields


def describe_source(source: dict[str, Any]) -> str:
    """The words a recorded training command uses for a warm start's ``source``."""
    if source["kind"] == "bundled":
        return (f"the bundled {source['file']} (sha256 {source['sha256'][:12]}…, {source['step']} steps, made by the "
                f"commands in this entry's lineage)")
    return f"the checkpoint {source['file']} ({source['step']} steps)"


def load_into(net: torch.nn.Module, state: dict[str, torch.Tensor], source: Path,
              may_lack: tuple[str, ...] = ()) -> None:
    """Load ``state`` into ``net``; only parameters whose names start with one of ``may_lack``
    may be missing from it (they keep their initial values); anything else is refused."""
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a parameter of another shape
        raise SystemExit(f"{source} does not fit this network: {exc}") from None
    if unexpected or any(not k.startswith(may_lack) for k in missing):
        raise SystemExit(f"{source} does not fit this network: unexpected {unexpected}, missing {missing}")
