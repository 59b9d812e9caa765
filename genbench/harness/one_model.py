"""Evaluate one model: the step every command shares (``run`` per suite row, ``eval``, ``baseline``,
``check``, every sweep cell).

The generator is wrapped in ``TimedGenerator`` (its own sampling calls are timed, apart from metric
work, and its first samples kept for grids), evaluated by ``harness.runner.evaluate``, and its
throughput measured; stored samples (a folder, an .npz) were read, not sampled, so their
throughput record says so instead of giving a speed. The record is the same, field for field,
whichever command asked for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from genbench.generators.base import Generator
from genbench.harness.runner import EvalConfig, evaluate
from genbench.harness.throughput import TimedGenerator


@dataclass
class ModelResult:
    """``record``: {"metrics", "skipped", "meta", "provenance", "throughput"} (``evaluate``'s record
    plus the throughput); ``first``: samples 0 … keep_first−1 as uint8 NCHW (None if none were kept,
    e.g. on torchrun ranks > 0); ``captions``: their captions for caption-conditioned generators."""

    record: dict[str, Any]
    first: torch.Tensor | None
    captions: list[str] | None
    generator: TimedGenerator


def stored_throughput(nfe: int | None) -> dict[str, Any]:
    """The throughput record of stored samples: no speed, and why."""
    return {"images_per_s": float("nan"), "ms_per_image": float("nan"), "nfe": nfe,
            "method": "stored samples: read, not sampled, so no speed"}


def evaluate_model(generator: Generator, config: EvalConfig, *, reference: Any = None, extractor: Any = None,
                   label: str | None = None, nfe: int | None = None, parameters: int | None = None,
                   keep_first: int = 0, progress: bool = True,
                   reference_options: dict[str, Any] | None = None) -> ModelResult:
    """Every metric of ``config`` for ``generator`` against ``reference`` in ``extractor``'s space
    (``evaluate``'s arguments), plus its sampling throughput. ``label`` renames the model in the
    record; ``nfe`` / ``parameters`` state what a callable cannot say about itself."""
    gen = TimedGenerator(generator, keep_first=keep_first)
    if label is not None:
        gen.meta.name = label
    for key, value in (("nfe", nfe), ("parameters", parameters)):
        if value is not None:
            setattr(gen.meta, key, value)
    record = evaluate(gen, reference, config=config, extractor=extractor, progress=progress,
                      reference_options=reference_options)
    first = gen.first  # before the throughput's top-up calls, which sample from index 0 again
    captions = None
    if first is not None and hasattr(gen, "captions_for"):
        captions = list(gen.captions_for(0, len(first)))
    if getattr(generator, "stored", False):
        record["throughput"] = stored_throughput(gen.meta.nfe)
    elif gen.calls:
        record["throughput"] = gen.throughput()
    else:  # a torchrun rank whose shard was empty: it timed nothing (rank 0 always samples and reports)
        record["throughput"] = {"images_per_s": float("nan"), "ms_per_image": float("nan"), "nfe": gen.meta.nfe,
                                "method": "this process sampled nothing"}
    return ModelResult(record, first, captions, gen)
