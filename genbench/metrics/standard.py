"""The domain-independent metric families: FID, KID, Inception Score, precision/recall,
density/coverage, pairwise SSIM and CLIP score (see ``genbench.metrics.registry``).

Conventions: FID from the float64 moments of the sample's features against the reference's
(covariance ÷ (n − 1); the whole sample's from exact sums, ``genbench.metrics.exact_sums``); KID
with the cubic polynomial kernel over ``kid_subsets`` subsets of ``min(kid_subset_size, n)`` rows
(10 subsets inside each resample); IS over 10 splits, std the population std over splits;
precision/recall with k = 3, density/coverage with k = 5 (Naeem et al.); pairwise SSIM between
samples i and i + h for i < h = min(n, 2·ssim_pairs) / 2; CLIP score 100·max(cos, 0) per (image,
its caption) with ``config.clip_model``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from genbench.metrics.clip_score import clip_score
from genbench.metrics.exact_sums import exact_stats
from genbench.metrics.inception_score import inception_score
from genbench.metrics.kid import kid
from genbench.metrics.registry import BatchView, EvalContext, MetricFamily, MetricInfo, register_family
from genbench.metrics.ssim import ssim
from genbench.metrics.stats import FeatureStats

QUALITY, DIVERSITY = "Quality", "Diversity / mode coverage"
UNIT = (0.0, 1.0)


def _fid(ctx: EvalContext, rows: np.ndarray, full: bool) -> dict:
    # the whole sample's moments from exact sums: the bits of any split of the rows (gb.StreamingFID)
    stats = exact_stats(ctx.features) if full else FeatureStats.from_features(ctx.features[rows])
    return {"fid": ctx.frechet().distance(stats.mean, stats.cov)}


def _kid(ctx: EvalContext, rows: np.ndarray, full: bool) -> dict:
    cfg = ctx.config
    subsets = cfg.kid_subsets if full else 10
    mean, std = kid(ctx.reference.sample, ctx.features[rows], subsets, min(cfg.kid_subset_size, len(rows)), cfg.seed)
    return {"kid": {"value": mean, "std": std, "subsets": subsets} if full else mean}


def _is(ctx: EvalContext, rows: np.ndarray, full: bool) -> dict:
    mean, std = inception_score(ctx.probs[rows])
    return {"is": {"value": mean, "std": std, "splits": 10} if full else mean}


def _pr(ctx: EvalContext, rows: np.ndarray, full: bool) -> dict:
    out = ctx.prdc(rows)
    return {"precision": out["precision"], "recall": out["recall"]}


def _dc(ctx: EvalContext, rows: np.ndarray, full: bool) -> dict:
    out = ctx.prdc(rows)
    return {"density": out["density"], "coverage": out["coverage"]}


def _ssim_images(batch: BatchView) -> dict:
    end = min(batch.config.n, 2 * batch.config.ssim_pairs)  # pairs come from samples [0, end)
    return {"ssim_images": batch.images[:max(0, end - batch.start)]} if batch.start < end else {}


def _pairwise_ssim(ctx: EvalContext) -> dict:
    images = ctx.columns.get("ssim_images")
    half = 0 if images is None else len(images) // 2
    if half < 2:
        return {}
    import torch

    pairs = torch.as_tensor(images)
    return {"pairwise_ssim": ssim(pairs[:half], pairs[half:2 * half]).numpy()}


def _clip_per_sample(batch: BatchView) -> dict:
    scores = clip_score(batch.images, batch.captions, model=batch.config.clip_model, start=batch.start)
    out = {"clip_score": scores.double()}
    if scores.truncated is not None:  # captions cut to the text encoder's context, counted in the record
        out["clip_truncated"] = scores.truncated.to(torch.int64)
    return out


def _clip(ctx: EvalContext) -> dict:
    truncated = ctx.columns.get("clip_truncated")
    return {"clip_score": (ctx.columns["clip_score"], {
        "model": ctx.config.clip_model,
        "captions_truncated": None if truncated is None else int(truncated.sum()),
        "truncation": "captions longer than the CLIP text context are cut to it as its tokenizer does"})}


for _family in (
    MetricFamily("fid", (MetricInfo("fid", "FID ↓", (0.0, math.inf), -1, QUALITY, "{:.2f}", 10),),
                 frozenset({"reference.moments"}), compute=_fid,
                 description="Fréchet distance between feature Gaussians"),
    MetricFamily("kid", (MetricInfo("kid", "KID ↓", (-math.inf, math.inf), -1, QUALITY, "{:.3g}", 20),),
                 frozenset({"reference.features"}), compute=_kid,
                 description="kernel inception distance (unbiased MMD², cubic kernel)"),
    MetricFamily("is", (MetricInfo("is", "IS ↑", (1.0, math.inf), +1, QUALITY, "{:.2f}", 30),),
                 frozenset({"extractor.probs"}), compute=_is, description="Inception Score of the class probabilities"),
    MetricFamily("pr", (MetricInfo("precision", "precision ↑", UNIT, +1, QUALITY, "{:.3f}", 40),
                        MetricInfo("recall", "recall ↑", UNIT, +1, DIVERSITY, "{:.3f}", 50)),
                 frozenset({"reference.features"}), compute=_pr, description="improved precision and recall (k = 3)"),
    MetricFamily("dc", (MetricInfo("density", "density ↑", (0.0, math.inf), +1),
                        MetricInfo("coverage", "coverage ↑", UNIT, +1, DIVERSITY, "{:.3f}", 60)),
                 frozenset({"reference.features"}), compute=_dc, description="density and coverage (k = 5)"),
    MetricFamily("ssim", (MetricInfo("pairwise_ssim", "pair SSIM ↓", (-1.0, 1.0), None, DIVERSITY, "{:.3f}", 80),),
                 per_item=_pairwise_ssim, collect=_ssim_images, columns=("ssim_images",),
                 description="mean SSIM between pairs of samples (lower: more varied)"),
    MetricFamily("clip", (MetricInfo("clip_score", "CLIP score ↑", (0.0, 100.0)),),
                 frozenset({"generator.captions"}), per_item=_clip, collect=_clip_per_sample, columns=("clip_score", "clip_truncated"),
                 description="CLIP score of each sample with its caption"),
):
    register_family(_family)
