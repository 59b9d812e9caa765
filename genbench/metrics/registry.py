"""The metric registry: one entry per metric family, read by the runner, the tables and the checks.

A *family* is what ``--metrics`` names (``fid``, ``kid``, ``is``, ``pr``, ``dc``, ``ssim``,
``clip``, ``vendi`` and the opt-in ``fid_inf``, ``is_inf``, ``authpct``, ``ct``, ``mifid``, ``cmmd``,
``fd_dinov2``; the shapes32 domain adds ``modes`` and ``prompt``). It declares

- ``outputs``: the result keys it writes, each a ``MetricInfo`` (label, range, direction, and
  where it sits in the trilemma table);
- ``needs``: what it reads, from the vocabulary in ``NEEDS`` (reference moments or feature
  rows, the extractor's class probabilities or predictions, caption-conditioned generators);
  a family whose needs are not met is skipped with the reason ``NEEDS`` gives;
- how it is computed, one of
  - ``compute(ctx, rows, full)``: a statistic of the sample rows ``rows`` (half-sampling
    intervals, ``bootstrap_many(method="subsample")``); ``full`` is True for the whole sample,
    where extra fields (e.g. KID's std) may be returned as ``{"value": v, **extra}``;
  - ``per_item(ctx)``: per-item values (per sample, per pair) whose mean is the metric
    (percentile-bootstrap intervals), each an array or (array, extra fields);
- ``collect(batch)``: optional per-sample columns computed while the images are at hand (e.g. a
  CLIP score per (image, caption)), gathered in sample order across processes under the names
  ``columns``;
- ``resample=False``: ``compute`` runs on the whole sample only and returns its own interval, if
  any, as ``{"value": v, "ci": [lo, hi], ...}`` (FID∞'s fit, C_T's test statistic);
- ``default=False``: run only when asked for by name (``--metrics``): metrics that need weights
  genbench does not ship (CMMD, FD-DINOv2), cost many FIDs (FID∞), or only mean something
  against the training data (memorization);
- ``aux_extractor``: the ``EvalConfig`` field naming a second feature space the family reads
  (``cmmd_extractor``, ``dinov2_extractor``); the runner builds that extractor before sampling,
  hands it to ``collect`` as ``batch.extractors[family]`` and loads the reference's images in its
  space on demand (``EvalContext.reference_in``).

Built-in families live in ``genbench.metrics.standard`` (the anchors) and
``genbench.metrics.beyond`` (the rest); domain modules register their own with
``register_family`` (``genbench.data.shapes32_metrics``). Direction: −1 lower is better, +1 higher
is better, None reported but never judged by ``compare`` / ``check``.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from genbench.errors import GenbenchError

# what a family may need → why it is skipped when that is missing
NEEDS = {
    "reference.moments": "the reference holds no feature moments (mu, sigma)",
    "reference.features": "the reference holds only mu/sigma, no feature rows (KID, precision/recall and "
                          "density/coverage compare samples with reference rows)",
    "reference.cells": "the reference holds no predicted-cell histogram (shapes32 references with shapes-net have one)",
    "extractor.probs": "the extractor gives no class probabilities",
    "extractor.predictions": "the extractor gives no shapes32 class predictions",
    "generator.captions": "the generator is not caption-conditioned",
    "reference.images": "the reference holds statistics, not images, so it cannot be put in a second feature space "
                        "(give a folder, an .npz of samples, a torchvision root, an ADM batch or shapes32)",
    "reference.heldout": "no held-out data: C_T compares generated and held-out distances to the training set; "
                         "give --heldout REF (shapes32:train uses shapes32:test)",
}


@dataclass(frozen=True)
class MetricInfo:
    """One result key: ``label`` for tables, the ``range`` its value cannot leave (interval ends
    are clipped to it), ``direction`` (−1 / +1 / None), and, for the trilemma table, its ``group``
    ("Quality" or "Diversity / mode coverage"), display ``fmt`` and ``order``; group None keeps it
    out of that table."""

    key: str
    label: str
    range: tuple[float, float] = (-math.inf, math.inf)
    direction: int | None = None
    group: str | None = None
    fmt: str = "{:.3f}"
    order: int = 100


@dataclass(frozen=True)
class MetricFamily:
    name: str
    outputs: tuple[MetricInfo, ...]
    needs: frozenset[str] = frozenset()
    compute: Callable[[Any, Any, bool], dict[str, Any]] | None = None
    per_item: Callable[[Any], dict[str, Any]] | None = None
    collect: Callable[[Any], dict[str, Any]] | None = None
    columns: tuple[str, ...] = ()
    description: str = ""
    default: bool = True
    resample: bool = True
    aux_extractor: str | None = None

    def __post_init__(self) -> None:
        if (self.compute is None) == (self.per_item is None):
            raise ValueError(f"metric family {self.name!r}: give exactly one of compute and per_item")
        unknown = set(self.needs) - set(NEEDS)
        if unknown:
            raise ValueError(f"metric family {self.name!r}: unknown needs {sorted(unknown)}; known: {sorted(NEEDS)}")


_FAMILIES: dict[str, MetricFamily] = {}
_BUILTIN_MODULES = ("genbench.metrics.standard", "genbench.data.shapes32_metrics", "genbench.metrics.beyond")
_loaded = False


def register_family(family: MetricFamily, *, overwrite: bool = False) -> None:
    """Add ``family``; its output keys must not collide with another family's."""
    if family.name in _FAMILIES and not overwrite:
        raise ValueError(f"metric family {family.name!r} is already registered")
    taken = {i.key: f.name for f in _FAMILIES.values() if f.name != family.name for i in f.outputs}
    clash = [i.key for i in family.outputs if i.key in taken]
    if clash:
        raise ValueError(f"metric family {family.name!r}: {clash} already written by {taken[clash[0]]!r}")
    _FAMILIES[family.name] = family


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in _BUILTIN_MODULES:
            importlib.import_module(module)


def families() -> dict[str, MetricFamily]:
    """Every registered family, in registration order."""
    _load()
    return dict(_FAMILIES)


def metric_infos() -> dict[str, MetricInfo]:
    """Result key → its MetricInfo, over every family."""
    return {info.key: info for fam in families().values() for info in fam.outputs}


def metric_info(key: str) -> MetricInfo | None:
    return metric_infos().get(key)


def direction(key: str) -> int | None:
    """−1 lower is better, +1 higher is better, None: not judged (or unknown)."""
    info = metric_info(key)
    return None if info is None else info.direction


def judged_metrics() -> list[str]:
    """Result keys with a direction (what ``compare`` ranks by and ``check`` judges)."""
    return [k for k, i in metric_infos().items() if i.direction is not None]


def table_columns(present: Iterable[str] | None = None) -> list[MetricInfo]:
    """The trilemma table's metric columns, in display order: those of the ``default`` families,
    plus those of opt-in families whose keys are in ``present`` (the keys some result holds)."""
    present = set(present or ())
    return sorted((i for f in families().values() for i in f.outputs
                   if i.group is not None and (f.default or i.key in present)), key=lambda i: i.order)


def select_families(names: Iterable[str] | None) -> tuple[list[MetricFamily], bool]:
    """The families ``names`` asks for (None: every ``default`` one), and whether the choice was explicit. A result key
    (``precision``, ``mode_coverage``) names the family that writes it."""
    every = families()
    if names is None:
        return [f for f in every.values() if f.default], False
    by_output = {i.key: f for f in every.values() for i in f.outputs}
    chosen: list[MetricFamily] = []
    for name in names:
        fam = every.get(name) or by_output.get(name)
        if fam is None:
            raise GenbenchError(f"unknown metric {name!r}; known: {', '.join(every)} "
                                f"(or a result key: {', '.join(by_output)})")
        if fam not in chosen:
            chosen.append(fam)
    return chosen, True


@dataclass
class Availability:
    """What an evaluation has to offer: the needs (``NEEDS`` keys) met, and who lacks the rest."""

    met: set[str] = field(default_factory=set)
    names: dict[str, str] = field(default_factory=dict)  # "reference" / "extractor" / "generator" → a name

    def missing(self, family: MetricFamily) -> str | None:
        """None when ``family`` can run, else why not (one line)."""
        lacking = sorted(set(family.needs) - self.met)
        if not lacking:
            return None
        reasons = []
        for need in lacking:
            who = need.split(".")[0]
            reasons.append(NEEDS[need].replace(f"the {who}", f"the {who} {self.names[who]}", 1)
                           if who in self.names else NEEDS[need])
        return "; ".join(reasons)


@dataclass
class BatchView:
    """One batch while its images are at hand: ``images`` (uint8 NCHW) are samples ``start`` …;
    ``captions`` (caption-conditioned generators, else None), the extractor's ``predictions``
    (per-sample tensors, else None), the evaluation's ``config`` and the families' second
    ``extractors`` (family name → FeatureExtractor)."""

    images: Any
    start: int
    captions: list[str] | None
    predictions: dict[str, Any] | None
    config: Any
    extractors: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalContext:
    """Everything a family computes from, in sample order: ``features`` (n, d) float32, class
    ``probs`` (n, k) or None, gathered ``columns`` (name → per-row numpy array), the ``reference``,
    the ``config``, the ``heldout`` Reference (C_T) or None, and ``load_in(extractor)``, which loads
    the reference's images in a second feature space. ``frechet``, ``prdc`` and ``cached`` build
    reference-side structures once."""

    features: Any
    probs: Any
    columns: dict[str, Any]
    reference: Any
    config: Any
    heldout: Any = None
    load_in: Callable[[Any], Any] | None = None
    extractors: dict[str, Any] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def cached(self, key: str, build: Callable[[], Any]) -> Any:
        """``build()`` once per evaluation (reference-side work shared by the full sample and every resample)."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def reference_in(self, family: str) -> Any:
        """The reference in ``family``'s second feature space (its ``aux_extractor``), loaded once."""
        if self.load_in is None:
            raise GenbenchError("this evaluation cannot load the reference in a second feature space")
        return self.cached(f"reference_in:{family}", lambda: self.load_in(self.extractors[family]))

    def frechet(self):
        if "frechet" not in self._cache:
            self._cache["frechet"] = self.reference.frechet()
        return self._cache["frechet"]

    def prdc(self, rows: Any) -> dict[str, float]:
        """precision / recall / density / coverage of the sample rows ``rows``, computed once per
        ``rows`` (the pr and dc families share one pass)."""
        from genbench.metrics.prdc import PRDCReference

        key = id(rows)
        last = self._cache.get("prdc_rows")
        if last is None or last[0] != key or last[1] is not rows:
            reference = self._cache.setdefault("prdc_ref", PRDCReference.cached(self.reference.sample))
            self._cache["prdc_rows"] = (key, rows, reference.compute(self.features[rows]))
        return self._cache["prdc_rows"][2]
