"""Metric families of the shapes32 domain, registered with ``genbench.metrics.registry``.

- ``modes``: ``mode_coverage`` and ``mode_kl`` compare the shapes-net predicted (shape × colour)
  cells of the samples with the reference's cell histogram (``genbench.metrics.modes``);
  ``recognisable`` is the share of samples whose shape softmax peaks at ≥
  ``config.confidence_threshold``.
- ``prompt``: for caption-conditioned generators, the share of samples whose predicted shape /
  colour is the one their caption names (``prompt_shape``, ``prompt_color``).

Both need an extractor that gives shapes32 predictions (``extract_all``: ``cell``, ``shape``,
``color``, ``shape_conf`` per sample), i.e. shapes-net.
"""

from __future__ import annotations

import math

import numpy as np

from genbench.data.shapes32 import caption_labels
from genbench.metrics.modes import mode_coverage
from genbench.metrics.registry import BatchView, EvalContext, MetricFamily, MetricInfo, register_family
from genbench.metrics.standard import DIVERSITY, UNIT


def _cells(batch: BatchView) -> dict:
    pred = batch.predictions
    return {"cell": pred["cell"], "confident": (pred["shape_conf"] >= batch.config.confidence_threshold).double()}


def _modes(ctx: EvalContext, rows: np.ndarray, full: bool) -> dict:
    modes = mode_coverage(ctx.columns["cell"][rows], ctx.reference.cell_histogram)
    recognisable = float(ctx.columns["confident"][rows].mean())
    return {"mode_coverage": modes["coverage"], "mode_kl": modes["kl"],
            "recognisable": {"value": recognisable, "threshold": ctx.config.confidence_threshold} if full
            else recognisable}


def _prompt_agreement(batch: BatchView) -> dict:
    wanted = caption_labels(batch.captions)
    pred = batch.predictions
    return {"prompt_shape": (pred["shape"] == wanted["shape"]).double(),
            "prompt_color": (pred["color"] == wanted["color"]).double()}


def _prompt(ctx: EvalContext) -> dict:
    return {k: ctx.columns[k] for k in ("prompt_shape", "prompt_color")}


register_family(MetricFamily(
    "modes", (MetricInfo("mode_coverage", "modes ↑", UNIT, +1, DIVERSITY, "{:.3f}", 70),
              MetricInfo("mode_kl", "mode KL ↓", (0.0, math.inf), -1),
              MetricInfo("recognisable", "recognisable ↑", UNIT, +1)),
    frozenset({"extractor.predictions", "reference.cells"}), compute=_modes, collect=_cells,
    columns=("cell", "confident"), description="shapes32 (shape × colour) mode coverage and recognisable share"))
register_family(MetricFamily(
    "prompt", (MetricInfo("prompt_shape", "prompt shape ↑", UNIT), MetricInfo("prompt_color", "prompt colour ↑", UNIT)),
    frozenset({"extractor.predictions", "generator.captions"}), per_item=_prompt, collect=_prompt_agreement,
    columns=("prompt_shape", "prompt_color"), description="shapes32 prompt accuracy of caption-conditioned samples"))
