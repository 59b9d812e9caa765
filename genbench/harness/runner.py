"""Evaluate one generator against one reference: sample → validate → extractor (once per batch) →
the metric families chosen from ``genbench.metrics.registry``.

The runner knows no metric and no domain: each family says what it needs (reference moments or
rows, class probabilities or predictions, captions), what it collects per batch, and how it is
computed. Families whose needs are not met are skipped, and the record says why (``skipped``).

Memory grows with n only by the per-sample outputs (features n × d float32, class probabilities,
the families' columns), kept on the CPU; no images are kept beyond what a family collects (the
SSIM pairs).

Every metric is reported as ``{"value", "ci", "n", ...}``. Statistics of the sample (FID, KID,
IS, precision/recall, density/coverage, mode coverage) get a 95% half-sampling interval over the
generated samples (``bootstrap_many(method="subsample")``; the reference is held fixed); means of
per-item values (pairwise SSIM, CLIP score, prompt accuracy) a percentile bootstrap. Resamples
and seed are recorded.

Alignment (``genbench.microbatch``): generators and extractors compute fixed micro-batches aligned
to global sample indices; the batch size is rounded up to a multiple of every micro-batch size
involved (``batch_size_used`` in the provenance) and shards are whole micro-batches, so every
per-sample output is bit-identical whatever the batch size or the number of processes.

Distributed (``torchrun``, see ``genbench.harness.distributed``): rank r samples and extracts only
its contiguous shard ``shard_range(n, r, world, unit)`` of the sample indices (whole
micro-batches); the per-sample outputs are gathered in sample order. Every rank then computes
every metric from the same inputs in the same order as a single process would, so the results
equal single-process results exactly and all ranks agree. A reference computed from images is
computed (and cached) by rank 0 first. Progress bars show on rank 0 only.
"""

from __future__ import annotations

import dataclasses
import math
import platform
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from genbench.errors import GenbenchError
from genbench.features.base import FeatureExtractor
from genbench.generators.base import Generator
from genbench.harness import distributed
from genbench.images import validate_images
from genbench.metrics.bootstrap import bootstrap_ci, bootstrap_many
from genbench.metrics.stats import check_same_space
from genbench.metrics.registry import Availability, BatchView, EvalContext, MetricFamily, metric_info, select_families
from genbench.microbatch import aligned_unit, round_up
from genbench.reference import Reference, holds_images, load_reference_images, load_reference_spec, resolve_extractor
from genbench.features.registry import get_extractor


@dataclass
class EvalConfig:
    """How an evaluation is run; recorded with its results. ``reference``: a ``Reference.load``
    spec (default: the bundled shapes32 train statistics); ``extractor``: None takes the one the
    reference records (shapes-net for shapes32); ``metrics``: family names (None: every one the
    extractor, reference and generator support); ``heldout``: held-out data for C_T (None: the
    test split when the reference is shapes32's train split); ``cmmd_extractor`` /
    ``dinov2_extractor``: the second feature spaces of CMMD and FD-DINOv2."""

    n: int = 2000
    seed: int = 0
    batch_size: int = 250
    extractor: str | None = None
    reference: str = "shapes32:train"
    metrics: tuple[str, ...] | None = None
    resamples: int = 100
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    ssim_pairs: int = 500
    confidence_threshold: float = 0.9
    clip_model: str = "shapes-clip"
    heldout: str | None = None
    vendi_q: float = 1.0
    mifid_eps: float = 0.1
    mifid_mean_over: str = "fake"
    cmmd_extractor: str = "clip-vit-l14-336"
    dinov2_extractor: str = "dinov2-vit-l14"


def _metric(value: float, res=None, n: int = 0, name: str | None = None, **extra) -> dict:
    out = {"value": float(value), "n": n, **extra}
    if res is not None:
        info = metric_info(name)
        # half-sampling intervals are placed around the estimate and can cross the metric's range
        lo, hi = info.range if info is not None else (-math.inf, math.inf)
        out |= {"ci": [min(max(res.ci[0], lo), hi), min(max(res.ci[1], lo), hi)], "confidence": res.confidence,
                "resamples": res.resamples, "ci_method": res.method, "ci_seed": res.seed}
    return out


def _sample_and_extract(generator: Generator, ext: FeatureExtractor, cfg: EvalConfig, chosen: list[MetricFamily],
                        shard: range, batch_size: int, progress: bool,
                        extractors: dict[str, FeatureExtractor]) -> dict[str, list[torch.Tensor]]:
    """Sample indices ``shard`` in batches of ``batch_size`` (from ``shard.start``: both multiples of
    every micro-batch size involved), run the extractor once per batch and the chosen families'
    ``collect``; return this shard's per-sample outputs as lists of per-batch tensors."""
    collectors = [f for f in chosen if f.collect is not None]
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("features", "probs", *(c for f in collectors
                                                                                  for c in f.columns))}
    captions_for = getattr(generator, "captions_for", None)  # caption-conditioned generators (ldm)
    predict = any("extractor.predictions" in f.needs for f in chosen)
    lo = shard.start
    for batch in tqdm(generator.batches(len(shard), cfg.seed, batch_size, start=shard.start),
                      total=-(-len(shard) // batch_size), desc=f"{generator.meta.name}: sample + extract",
                      disable=not progress, unit="batch"):
        batch = validate_images(batch, name=generator.meta.name)
        out, pred = ext.extract_all(batch, lo) if predict else (ext.extract(batch, lo), None)
        parts["features"].append(out.features)
        if out.probs is not None:
            parts["probs"].append(out.probs)
        view = BatchView(batch, lo, None if captions_for is None else captions_for(lo, len(batch)), pred, cfg,
                         extractors)
        for family in collectors:
            for key, column in family.collect(view).items():
                parts[key].append(column)
        lo += len(batch)
    return parts


def _gather(parts: dict[str, list[torch.Tensor]]) -> dict[str, np.ndarray]:
    """Every rank's per-sample outputs, concatenated in sample order (a no-op in one process);
    columns no rank produced are left out."""
    out = {}
    for key, chunks in parts.items():  # every rank holds the same keys, so the collectives pair up
        rows = distributed.gather_rows(torch.cat(chunks) if chunks else None)
        if rows is not None:
            out[key] = rows.numpy()
    return out


def load_reference_once(spec: str, ext: FeatureExtractor, declared: bool, progress: bool = True,
                        loader: Callable[..., Reference] = load_reference_spec, **options: Any) -> Reference:
    """``loader(spec, ext, …)`` (default ``load_reference_spec``); under torchrun rank 0 loads first
    (computing and caching an image reference), then the other ranks read its cache."""
    if loader is load_reference_spec:
        options["declared"] = declared
    if distributed.world_size() == 1:
        return loader(spec, ext, progress=progress, **options)
    ref = loader(spec, ext, progress=progress, **options) if distributed.is_main() else None
    distributed.barrier()
    return ref if ref is not None else loader(spec, ext, progress=False, **options)


def heldout_spec(cfg: EvalConfig, reference_spec: str) -> str | None:
    """The held-out data C_T compares with: ``cfg.heldout``, else shapes32's test split when the
    reference is its train split, else None."""
    if cfg.heldout is not None:
        return cfg.heldout
    return "shapes32:test" if reference_spec in ("shapes32", "shapes32:train") else None


def _load_reference(reference: Reference | str | None, cfg: EvalConfig, ext: FeatureExtractor, declared: bool,
                    progress: bool) -> Reference:
    if isinstance(reference, Reference):
        return reference
    return load_reference_once(cfg.reference if reference is None else str(reference), ext, declared, progress)


def _resolve_extractor(reference: Reference | str | None, cfg: EvalConfig, extractor: Any) -> tuple[Any, bool]:
    """(the extractor object, whether the user named it)."""
    if extractor is not None and not isinstance(extractor, str):
        return extractor, True
    name = extractor or cfg.extractor
    if name is not None:
        return get_extractor(name), True
    if isinstance(reference, Reference):
        recorded = reference.provenance.get("extractor")
        if recorded is None:
            raise GenbenchError("the reference does not record its extractor; pass extractor=")
        return get_extractor(recorded), False
    from genbench.reference import implied_extractor_options

    spec = cfg.reference if reference is None else str(reference)
    return get_extractor(resolve_extractor([spec], None), **implied_extractor_options([spec])), False


def evaluate(generator: Generator, reference: Reference | str | None = None, metrics: Sequence[str] | None = None,
             config: EvalConfig | None = None, *, extractor: FeatureExtractor | str | None = None,
             progress: bool = True, reference_options: dict[str, Any] | None = None, **overrides: Any) -> dict:
    """Metrics of ``generator`` against ``reference`` (a Reference, a ``Reference.load`` spec, or
    None: ``config.reference``). ``metrics``: family names or result keys (None:
    ``config.metrics``, else all that apply); ``reference_options``: how image references are
    read (``workers``, ``resize_inputs``, ``cache``, ``batch_size``), for the held-out data and
    the reference in a second feature space; ``overrides``: EvalConfig fields (``n=``, ``seed=``…).

    Returns {"metrics", "skipped", "meta", "provenance"}: ``skipped`` maps each family that did
    not run to why (the reference, extractor or generator lacks what it needs). Under torchrun
    every rank calls this with the same arguments and gets the same record (module docstring).
    """
    cfg = dataclasses.replace(config or EvalConfig(), **overrides)
    if metrics is not None:
        cfg = dataclasses.replace(cfg, metrics=tuple(metrics))
    if cfg.n < 20:  # half-samples of n/2 must still fill IS's 10 splits
        raise GenbenchError(f"n must be >= 20 for the metrics and their intervals to mean anything, got {cfg.n}")
    chosen, explicit = select_families(cfg.metrics)
    progress = progress and distributed.is_main()
    ext, declared = _resolve_extractor(reference, cfg, extractor)
    ref = _load_reference(reference, cfg, ext, declared, progress)
    check_same_space(ref.provenance, ext.provenance(), f"reference {ref.provenance.get('source')}",
                     "the extractor in use")
    spec = ref.provenance.get("spec")  # None: a Reference built in Python, which no spec loads again
    cfg = dataclasses.replace(cfg, extractor=ext.name, reference=spec or cfg.reference,
                              heldout=heldout_spec(cfg, spec) if spec is not None or cfg.heldout else None)
    wants_images = any("reference.images" in f.needs for f in chosen)
    available = Availability(ref.provides() | ({"extractor.predictions"} if hasattr(ext, "extract_all") else set())
                             | ({"generator.captions"} if hasattr(generator, "captions_for") else set())
                             | ({"reference.images"} if wants_images and _holds_images(spec) else set())
                             | ({"reference.heldout"} if cfg.heldout is not None else set()),
                             {"reference": str(ref.provenance.get("source")), "extractor": ext.name,
                              "generator": generator.meta.name})
    # whether the extractor gives class probabilities shows in its output: those families wait for it
    skipped = {f.name: available.missing(f) for f in chosen if set(f.needs) - available.met - {"extractor.probs"}}
    runnable = [f for f in chosen if f.name not in skipped]
    # second feature spaces are built before sampling, so missing weights fail at once
    extractors = {f.name: get_extractor(getattr(cfg, f.aux_extractor)) for f in runnable if f.aux_extractor}
    options = dict(reference_options or {})
    heldout = None
    if any("reference.heldout" in f.needs for f in runnable):
        heldout = _load_heldout(cfg.heldout, ref, ext, declared, progress, options)
    unit = aligned_unit(getattr(generator, "micro_batch", None), ext.micro_batch)
    batch_size = round_up(cfg.batch_size, unit)
    shard = distributed.shard_range(cfg.n, distributed.rank(), distributed.world_size(), unit=unit)
    columns = _gather(_sample_and_extract(generator, ext, cfg, runnable, shard, batch_size, progress, extractors))
    if "probs" in columns:
        available.met.add("extractor.probs")
    for f in runnable:
        if (why := available.missing(f)) is not None:
            skipped[f.name] = why
    runnable = [f for f in runnable if f.name not in skipped]
    ctx = EvalContext(columns.pop("features"), columns.pop("probs", None), columns, ref, cfg, heldout,
                      lambda aux: load_reference_once(spec, aux, True, progress, loader=load_reference_images,
                                                      **options),
                      extractors)
    metrics_out = _compute(ctx, runnable, progress)
    return {"metrics": metrics_out, "skipped": skipped, "meta": generator.meta.to_dict(),
            "provenance": {"config": asdict(cfg), **ext.provenance(), "reference": ref.provenance,
                           "metrics_chosen": "explicit" if explicit else "all that apply",
                           "world_size": distributed.world_size(), "batch_size_used": batch_size,
                           "micro_batch": {"generator": getattr(generator, "micro_batch", None),
                                           "extractor": ext.micro_batch},
                           "device": str(getattr(ext, "device", "cpu")), **versions()}}


def _holds_images(spec: str | None) -> bool:
    try:
        return spec is not None and holds_images(spec)
    except GenbenchError:  # a recorded spec that no longer resolves (a moved file): no second feature space
        return False


def _load_heldout(spec: str, ref: Reference, ext: FeatureExtractor, declared: bool, progress: bool,
                  options: dict[str, Any]) -> Reference:
    """The held-out reference of C_T, checked before sampling: in the extractor's space, with feature
    rows, and not the reference itself (held-out rows at distance 0 from the training rows would
    make any copier look innocent)."""
    heldout = load_reference_once(spec, ext, declared, progress, **options)
    check_same_space(heldout.provenance, ext.provenance(), f"held-out reference {spec}", "the extractor in use")
    if heldout.sample is None:
        raise GenbenchError(f"held-out reference {spec} holds no feature rows (mu/sigma only); C_T compares distances "
                            "of rows: give images or a genbench reference file")
    fingerprint = ref.provenance.get("fingerprint")
    if fingerprint is not None and heldout.provenance.get("fingerprint") == fingerprint:
        raise GenbenchError(f"held-out reference {spec} is the reference itself; C_T needs data the generator "
                            "was not trained on (e.g. a test split)")
    return heldout


def _compute(ctx: EvalContext, families: list[MetricFamily], progress: bool) -> dict[str, dict]:
    """Every family's metrics with their 95% intervals: set statistics once on the whole sample
    and on ``resamples`` half-samples; per-item means with a percentile bootstrap."""
    cfg, n = ctx.config, len(ctx.features)
    everything = np.arange(n)
    set_families = [f for f in families if f.compute is not None and f.resample]
    out: dict[str, dict] = {}
    for family in families:  # whole-sample statistics with their own intervals (or none)
        if family.compute is not None and not family.resample:
            for key, value in family.compute(ctx, everything, True).items():
                extra = value if isinstance(value, dict) else {"value": value}
                out[key] = _metric(extra["value"], None, n, key, **{k: v for k, v in extra.items() if k != "value"})
    if set_families:
        full = {k: v for f in set_families for k, v in f.compute(ctx, everything, True).items()}

        def resample(rows: np.ndarray) -> dict[str, float]:
            values = {k: v for f in set_families for k, v in f.compute(ctx, rows, False).items()}
            return {k: v["value"] if isinstance(v, dict) else v for k, v in values.items()}

        intervals = bootstrap_many(resample, everything, resamples=cfg.resamples, seed=cfg.seed,
                                   method="subsample", progress=progress)
        for key, value in full.items():
            extra = value if isinstance(value, dict) else {"value": value}
            out[key] = _metric(extra["value"], intervals[key], n, key, **{k: v for k, v in extra.items()
                                                                          if k != "value"})
    for family in families:
        if family.per_item is None:
            continue
        for key, value in family.per_item(ctx).items():
            per_item, extra = value if isinstance(value, tuple) else (value, {})
            per_item = np.asarray(per_item, np.float64)
            out[key] = _metric(per_item.mean(), bootstrap_ci(np.mean, per_item, resamples=cfg.resamples,
                                                             seed=cfg.seed), len(per_item), key, **extra)
    return out


def versions() -> dict:
    """The versions of genbench, torch, numpy and Python, for provenance."""
    import genbench

    return {"genbench_version": genbench.__version__, "torch_version": torch.__version__,
            "numpy_version": np.__version__, "python_version": platform.python_version()}
