"""Random-number streams of the trainers: every draw comes from a generator whose seed is fixed by
the run's seed and where the draw happens (step, epoch, purpose), so reruns and resumed runs repeat it.

Two keying schemes exist because recorded training commands must keep reproducing their weights:
``seeded_generator`` (hashed keys, e.g. (seed, 0, epoch) and (seed, 1, step)) for the newer trainers,
``offset_generator`` (seed·1,000,003 + index) for the DDPM, shapes-net and shapes-clip trainers.
A generator on a CUDA device draws another stream than a CPU one seeded alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def seeded_generator(*key: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch generator on ``device`` seeded by hashing a tuple of non-negative ints (NumPy
    ``SeedSequence``), so keys such as (seed, 0, e) and (seed, 1, s) give unrelated streams."""
    seed = int(np.random.SeedSequence(key).generate_state(1, np.uint64)[0])
    return torch.Generator(device=device).manual_seed(seed)


def offset_generator(seed: int, index: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch generator on ``device`` seeded with seed·1,000,003 + ``index`` (a step or an epoch)."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + index)


class GeneratorState:
    """A generator that a run draws from step after step, as checkpointable state
    (``state_dict``/``load_state_dict``, for ``TrainLoop.state``): a resumed run continues its stream."""

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator

    def state_dict(self) -> dict[str, Any]:
        return {"rng_state": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["rng_state"])
