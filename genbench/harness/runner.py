"""Evaluate one generator: sample → validate → extractor (once per batch) → metrics.

Memory grows with n only by the per-sample outputs: features (n × d float32), shape
probabilities and predicted cells are kept on the CPU (no images beyond the SSIM pairs) for FID
(moments of the features in sample order, float64), KID, precision/recall/density/coverage, IS,
mode coverage and the bootstrap intervals.

Every metric is reported as ``{"value", "ci", "n", ...}``: ``ci`` is a 95% half-sampling interval
over the generated samples (``bootstrap_ci(method="subsample")``; the reference is held fixed),
with ``resamples`` and seed recorded. KID's value is the mean over ``kid_subsets`` subsets, its ``std`` their std.

Caption-conditioned generators (those with ``captions_for(start, n)``, e.g. ``ldm``) also get
``clip_score`` (mean per-pair CLIP score with ``EvalConfig.clip_model``, shapes-clip by default)
and ``prompt_shape`` / ``prompt_color``: the share of samples whose shapes-net shape / colour is
the one their caption names (percentile-bootstrap intervals, as for ``pairwise_ssim``).

Alignment (``genbench.microbatch``): generators and extractors compute fixed micro-batches aligned
to global sample indices; the batch size is rounded up to a multiple of every micro-batch size
involved (``batch_size_used`` in the provenance) and shards are whole micro-batches, so every
per-sample output is bit-identical whatever the batch size or the number of processes.

Distributed (``torchrun``, see ``genbench.harness.distributed``): rank r samples and extracts only
its contiguous shard ``shard_range(n, r, world, unit)`` of the sample indices (whole
micro-batches); the per-sample features, shape probabilities, predicted cells, confidence flags,
prompt scores and SSIM images are gathered in sample order. Every rank then computes every metric,
FID included, from the same inputs in the same order as a single process would, so the results
equal single-process results exactly and all ranks agree. Progress bars show on rank 0 only.
"""

from __future__ import annotations

import math
import platform
from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from genbench.data.shapes32 import caption_labels
from genbench.errors import GenbenchError
from genbench.features.base import FeatureExtractor
from genbench.generators.base import Generator
from genbench.harness import distributed
from genbench.images import validate_images
from genbench.metrics.bootstrap import bootstrap_ci, bootstrap_many
from genbench.metrics.clip_score import clip_score
from genbench.metrics.frechet import FrechetReference
from genbench.metrics.inception_score import inception_score
from genbench.metrics.kid import kid
from genbench.metrics.modes import mode_coverage
from genbench.metrics.prdc import PRDCReference
from genbench.metrics.ssim import ssim
from genbench.metrics.stats import FeatureStats
from genbench.microbatch import aligned_unit, round_up
from genbench.reference import load_reference
from genbench.registry import get_extractor


@dataclass
class EvalConfig:
    """How an evaluation is run; recorded with its results."""

    n: int = 2000
    seed: int = 0
    batch_size: int = 250
    extractor: str = "shapes-net"
    dataset: str = "shapes32"
    split: str = "train"
    resamples: int = 100
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    ssim_pairs: int = 500
    confidence_threshold: float = 0.9
    clip_model: str = "shapes-clip"


# Ranges the metrics cannot leave. Half-sampling intervals are placed around the estimate and can
# cross them (e.g. mode coverage 0.96 with an upper end of 1.005), so interval ends are clipped.
METRIC_RANGES = {"fid": (0.0, math.inf), "is": (1.0, math.inf), "precision": (0.0, 1.0), "recall": (0.0, 1.0),
                 "density": (0.0, math.inf), "coverage": (0.0, 1.0), "mode_coverage": (0.0, 1.0),
                 "mode_kl": (0.0, math.inf), "recognisable": (0.0, 1.0), "prompt_shape": (0.0, 1.0),
                 "prompt_color": (0.0, 1.0), "clip_score": (0.0, 100.0), "pairwise_ssim": (-1.0, 1.0)}


def _metric(value: float, res=None, n: int = 0, name: str | None = None, **extra) -> dict:
    out = {"value": float(value), "n": n, **extra}
    if res is not None:
        lo, hi = METRIC_RANGES.get(name, (-math.inf, math.inf))
        out |= {"ci": [min(max(res.ci[0], lo), hi), min(max(res.ci[1], lo), hi)], "confidence": res.confidence,
                "resamples": res.resamples, "ci_method": res.method, "ci_seed": res.seed}
    return out


@dataclass
class _Samples:
    """Per-sample outputs in sample order: ``features`` (n, d) float32, shape ``probs`` (n, k),
    predicted ``cells`` (n,) and ``confident`` flags (n,) float64 (None without a classifier), and
    ``ssim_images``, the first min(n, 2·ssim_pairs) images (uint8 NCHW); for caption-conditioned
    generators ``prompted`` holds per-sample "clip_score" and 0/1 "prompt_shape" / "prompt_color"
    agreement (float64), else it is empty."""

    features: np.ndarray
    probs: np.ndarray | None
    cells: np.ndarray | None
    confident: np.ndarray | None
    ssim_images: torch.Tensor
    prompted: dict[str, np.ndarray]


def _sample_and_extract(generator: Generator, ext: FeatureExtractor, cfg: EvalConfig, shard: range,
                        batch_size: int, progress: bool) -> dict[str, list[torch.Tensor]]:
    """Sample indices ``shard`` in batches of ``batch_size`` (from ``shard.start``: both multiples of
    every micro-batch size involved) and run the extractor once per batch; return this shard's
    per-sample outputs as lists of per-batch tensors."""
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("features", "probs", "cells", "confident", "ssim",
                                                            *PROMPT_METRICS)}
    ssim_end = min(cfg.n, 2 * cfg.ssim_pairs)  # SSIM pairs come from samples [0, ssim_end)
    captions_for = getattr(generator, "captions_for", None)  # caption-conditioned generators (ldm)
    lo = shard.start
    for batch in tqdm(generator.batches(len(shard), cfg.seed, batch_size, start=shard.start),
                      total=-(-len(shard) // batch_size), desc=f"{generator.meta.name}: sample + extract",
                      disable=not progress, unit="batch"):
        batch = validate_images(batch, name=generator.meta.name)
        pred = None
        if hasattr(ext, "extract_all"):
            out, pred = ext.extract_all(batch, lo)
            parts["cells"].append(pred["cell"])
            parts["confident"].append(pred["shape_conf"] >= cfg.confidence_threshold)
        else:
            out = ext.extract(batch, lo)
        if captions_for is not None:
            _score_prompts(parts, batch, captions_for(lo, len(batch)), lo, pred, cfg.clip_model)
        parts["features"].append(out.features)
        if out.probs is not None:
            parts["probs"].append(out.probs)
        if lo < ssim_end:
            parts["ssim"].append(batch[:ssim_end - lo])
        lo += len(batch)
    return parts


PROMPT_METRICS = ("clip_score", "prompt_shape", "prompt_color")


def _score_prompts(parts: dict[str, list[torch.Tensor]], batch: torch.Tensor, captions: list[str], start: int,
                   pred: dict[str, torch.Tensor] | None, clip_model: str) -> None:
    """Per sample (``batch[0]`` is sample ``start``): CLIP score of (image, its caption) with
    ``clip_model`` and, with shapes-net's predictions, whether the predicted shape / colour is the
    one the caption asks for."""
    parts["clip_score"].append(clip_score(batch, captions, model=clip_model, start=start).double())
    if pred is not None:
        wanted = caption_labels(captions)
        parts["prompt_shape"].append((pred["shape"] == wanted["shape"]).double())
        parts["prompt_color"].append((pred["color"] == wanted["color"]).double())


def _gather_samples(parts: dict[str, list[torch.Tensor]]) -> _Samples:
    """Every rank's per-sample outputs, concatenated in sample order (a no-op in one process)."""
    def gathered(key: str) -> torch.Tensor | None:
        return distributed.gather_rows(torch.cat(parts[key]) if parts[key] else None)

    feats, probs, cells, conf, images = (gathered(k) for k in ("features", "probs", "cells", "confident", "ssim"))
    prompted = {k: v.numpy() for k in PROMPT_METRICS if (v := gathered(k)) is not None}
    return _Samples(features=feats.numpy(), probs=None if probs is None else probs.numpy(),
                    cells=None if cells is None else cells.numpy(),
                    confident=None if conf is None else conf.double().numpy(),
                    ssim_images=images if images is not None else torch.empty(0, dtype=torch.uint8),
                    prompted=prompted)


def evaluate(generator: Generator, config: EvalConfig | None = None, progress: bool = True) -> dict:
    """Metrics of ``generator`` against the reference statistics named in ``config``.

    Under torchrun every rank calls this with the same arguments and gets the same record (see
    the module docstring); ``provenance["world_size"]`` records the number of processes.
    """
    cfg = config or EvalConfig()
    if cfg.n < 20:  # half-samples of n/2 must still fill IS's 10 splits
        raise GenbenchError(f"n must be >= 20 for the metrics and their intervals to mean anything, got {cfg.n}")
    progress = progress and distributed.is_main()
    ext = get_extractor(cfg.extractor)
    ref = load_reference(cfg.dataset, cfg.split, cfg.extractor, expect=ext.provenance())
    unit = aligned_unit(getattr(generator, "micro_batch", None), ext.micro_batch)
    batch_size = round_up(cfg.batch_size, unit)
    shard = distributed.shard_range(cfg.n, distributed.rank(), distributed.world_size(), unit=unit)
    parts = _sample_and_extract(generator, ext, cfg, shard, batch_size, progress)
    samples = _gather_samples(parts)
    fake, p, c, conf = samples.features, samples.probs, samples.cells, samples.confident
    frechet, prdc = FrechetReference.from_stats(ref.stats), PRDCReference.cached(ref.sample)

    def domain_metrics(rows: np.ndarray) -> dict[str, float]:
        modes = mode_coverage(c[rows], ref.cell_histogram)
        return {"mode_coverage": modes["coverage"], "mode_kl": modes["kl"], "recognisable": conf[rows].mean()}

    def sample_metrics(rows: np.ndarray, kid_subsets: int) -> dict[str, float]:
        """Every per-sample metric of the samples ``rows`` (one half-sampling resample)."""
        f = fake[rows]
        out = {"fid": frechet.distance(*_moments(f)),
               "kid": kid(ref.sample, f, kid_subsets, min(cfg.kid_subset_size, len(rows)), cfg.seed)[0],
               **prdc.compute(f)}
        if p is not None:
            out["is"] = inception_score(p[rows])[0]
        if c is not None:
            out |= domain_metrics(rows)
        return out

    everything = np.arange(len(fake))
    # the whole sample: each metric once (KID's mean and std from one run)
    kid_mean, kid_std = kid(ref.sample, fake, cfg.kid_subsets, min(cfg.kid_subset_size, len(fake)), cfg.seed)
    full = {"fid": frechet.distance(*_moments(fake)), "kid": kid_mean, **prdc.compute(fake)}
    if p is not None:
        is_mean, is_std = inception_score(p)
        full["is"] = is_mean
    if c is not None:
        full |= domain_metrics(everything)
    intervals = bootstrap_many(lambda rows: sample_metrics(rows, 10), everything, resamples=cfg.resamples,
                               seed=cfg.seed, method="subsample", progress=progress)
    metrics = {k: _metric(v, intervals[k], len(fake), k) for k, v in full.items()}
    metrics["kid"] |= {"std": kid_std, "subsets": cfg.kid_subsets}
    if p is not None:
        metrics["is"]["std"] = is_std
    if c is not None:
        metrics["recognisable"]["threshold"] = cfg.confidence_threshold
    pairs = samples.ssim_images
    half = len(pairs) // 2
    if half >= 2:
        per_pair = ssim(pairs[:half], pairs[half:2 * half]).numpy()
        metrics["pairwise_ssim"] = _metric(per_pair.mean(), bootstrap_ci(np.mean, per_pair, resamples=cfg.resamples,
                                                                          seed=cfg.seed), half, "pairwise_ssim")
    for key, per_sample in samples.prompted.items():  # means over samples, percentile bootstrap
        metrics[key] = _metric(per_sample.mean(), bootstrap_ci(np.mean, per_sample, resamples=cfg.resamples,
                                                               seed=cfg.seed), len(per_sample), key)
    if samples.prompted:
        metrics["clip_score"]["model"] = cfg.clip_model
    return {"metrics": metrics, "meta": generator.meta.to_dict(),
            "provenance": {"config": asdict(cfg), **ext.provenance(), "reference": ref.provenance,
                           "world_size": distributed.world_size(), "batch_size_used": batch_size,
                           "micro_batch": {"generator": getattr(generator, "micro_batch", None),
                                           "extractor": ext.micro_batch}, **versions()}}


def _moments(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = FeatureStats.from_features(feats)
    return s.mean, s.cov


def versions() -> dict:
    import genbench

    return {"genbench_version": genbench.__version__, "torch_version": torch.__version__,
            "numpy_version": np.__version__, "python_version": platform.python_version(),
            "device": "cuda" if torch.cuda.is_available() else "cpu"}
