"""Metric families beyond the anchors (see ``genbench.metrics.registry``): each answers a known
weakness of FID.

- ``vendi`` (default): the Vendi score of the samples' features, cosine kernel, order
  ``config.vendi_q`` (Friedman & Dieng 2023): the effective number of distinct samples.
- ``fid_inf`` / ``is_inf``: FID∞ and IS∞ (Chong & Forsyth 2020): FID / IS on 15 seeded subsets of
  sizes linspace(N_min, N), extrapolated to N = ∞ by a least-squares line in 1/N; the record keeps
  the fit (sizes, values, residual). Whole sample only; the interval is the fit's.
- ``authpct``: the share (%) of samples whose nearest training row is closer to them than to
  its own nearest training neighbour is *not* (authenticity, Alaa et al. 2022, as dgm-eval);
  ``ct``: Meehan et al.'s C_T data-copying test (negative: closer to the training data than
  held-out data is); ``mifid``: FID ÷ the memorization distance, the mean minimum cosine
  distance (1 − |cos|) replaced by 1 when ≥ ε = ``config.mifid_eps`` (Bai et al. 2021). The
  mean runs over the generated samples (``config.mifid_mean_over="fake"``, the paper's and the
  Kaggle competition's direction); ``"real"`` is torchmetrics' direction (its
  ``MemorizationInformedFrechetInceptionDistance``, to 1e-12 on the same features), which
  cannot see a sample copying a few of many training rows. The reference must be the
  training data (shapes32:train by default); C_T also needs held-out data (``config.heldout``).
- ``cmmd``: CMMD (Jayasumana et al. 2024), 1000 × the biased MMD² of CLIP ViT-L/14@336
  embeddings, Gaussian kernel σ = 10; ``fd_dinov2``: the Fréchet distance of DINOv2 ViT-L/14
  features (Stein et al. 2023). Both read a second feature space (``config.cmmd_extractor``,
  ``config.dinov2_extractor``) whose weights genbench does not ship, and the reference's images
  in that space (computed once, cached).

Only ``vendi`` runs unless asked for: the others need weights, cost many FIDs, or mean something
only against the training data; name them in ``--metrics``.
"""

from __future__ import annotations

import math

import numpy as np

from genbench.metrics.cmmd import cmmd_from_means, kernel_mean
from genbench.metrics.infinity import fid_infinity, is_infinity
from genbench.metrics.memorization import authenticity, ct_score, mifid_from_fid
from genbench.metrics.registry import BatchView, EvalContext, MetricFamily, MetricInfo, register_family
from genbench.metrics.standard import DIVERSITY, QUALITY
from genbench.metrics.stats import FeatureStats
from genbench.metrics.vendi import vendi_score

MEMORIZATION = "Memorization"
CMMD_SIGMA, CMMD_SCALE = 10.0, 1000.0


def _rows(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, np.float64)


def _vendi(ctx: EvalContext, rows: np.ndarray, full: bool) -> dict:
    q = getattr(ctx.config, "vendi_q", 1.0)
    value = vendi_score(ctx.features[rows], q=q)
    return {"vendi": {"value": value, "q": q, "kernel": "cosine"} if full else value}


def _fit_record(fit: dict) -> dict:
    """The extrapolated value with the fit as its record; the interval is ±1.96 standard errors of
    the intercept (indicative: the subsets overlap, so the points are not independent)."""
    out = {"value": fit["value"], "fit": {k: v for k, v in fit.items() if k != "value"}}
    if math.isfinite(fit.get("stderr", math.nan)):
        half = 1.96 * fit["stderr"]
        out |= {"ci": [fit["value"] - half, fit["value"] + half], "ci_method": "fit: intercept ± 1.96 s.e."}
    return out


def _fid_inf(ctx: EvalContext, rows: np.ndarray, full: bool) -> dict:
    return {"fid_inf": _fit_record(fid_infinity(ctx.frechet(), ctx.features[rows], seed=ctx.config.seed))}


def _is_inf(ctx: EvalContext, rows: np.ndarray, full: bool) -> dict:
    return {"is_inf": _fit_record(is_infinity(ctx.probs[rows], seed=ctx.config.seed))}


def _train_rows(ctx: EvalContext) -> np.ndarray:
    return ctx.cached("train_rows", lambda: _rows(ctx.reference.sample))


def _authpct(ctx: EvalContext) -> dict:
    authentic = authenticity(_train_rows(ctx), ctx.features)
    return {"authpct": (100.0 * np.asarray(authentic, np.float64),
                        {"train_rows": len(ctx.reference.sample), "unit": "%"})}


def _ct(ctx: EvalContext, rows: np.ndarray, full: bool) -> dict:
    out = ct_score(_train_rows(ctx), _rows(ctx.heldout.sample), _rows(ctx.features[rows]), seed=ctx.config.seed)
    return {"ct": {**out, "heldout": ctx.config.heldout}}


def _mifid(ctx: EvalContext, rows: np.ndarray, full: bool) -> dict:
    stats = FeatureStats.from_features(ctx.features[rows])
    fid = ctx.frechet().distance(stats.mean, stats.cov)
    cfg = ctx.config
    value = mifid_from_fid(fid, _train_rows(ctx), _rows(ctx.features[rows]), cosine_eps=cfg.mifid_eps,
                           mean_over=cfg.mifid_mean_over)
    return {"mifid": {"value": value, "cosine_eps": cfg.mifid_eps, "mean_over": cfg.mifid_mean_over} if full
            else value}


def _aux_features(column: str, family: str):
    def collect(batch: BatchView) -> dict:
        return {column: batch.extractors[family].features(batch.images, batch.start)}
    return collect


def _cmmd(ctx: EvalContext, rows: np.ndarray, full: bool) -> dict:
    ref = ctx.reference_in("cmmd")
    y = ctx.cached("cmmd_y", lambda: _rows(ref.sample))
    yy = ctx.cached("cmmd_yy", lambda: kernel_mean(y, y, CMMD_SIGMA))
    x = _rows(ctx.columns["cmmd_embeddings"][rows])
    value = cmmd_from_means(kernel_mean(x, x, CMMD_SIGMA), yy, kernel_mean(x, y, CMMD_SIGMA), CMMD_SCALE)
    if not full:
        return {"cmmd": value}
    return {"cmmd": {"value": value, "sigma": CMMD_SIGMA, "scale": CMMD_SCALE, "extractor": ctx.config.cmmd_extractor,
                     "reference_rows": len(y), "reference_fingerprint": ref.provenance.get("fingerprint")}}


def _fd_dinov2(ctx: EvalContext, rows: np.ndarray, full: bool) -> dict:
    ref = ctx.reference_in("fd_dinov2")
    stats = FeatureStats.from_features(ctx.columns["dinov2_features"][rows])
    value = ctx.cached("fd_dinov2_frechet", ref.frechet).distance(stats.mean, stats.cov)
    if not full:
        return {"fd_dinov2": value}
    return {"fd_dinov2": {"value": value, "extractor": ctx.config.dinov2_extractor,
                          "reference_fingerprint": ref.provenance.get("fingerprint")}}


for _family in (
    MetricFamily("vendi", (MetricInfo("vendi", "Vendi ↑", (1.0, math.inf), +1, DIVERSITY, "{:.2f}", 65),),
                 compute=_vendi, description="Vendi score: effective number of distinct samples (cosine kernel)"),
    MetricFamily("fid_inf", (MetricInfo("fid_inf", "FID∞ ↓", (-math.inf, math.inf), -1),),
                 frozenset({"reference.moments"}), compute=_fid_inf, resample=False, default=False,
                 description="FID extrapolated to infinitely many samples (Chong & Forsyth)"),
    MetricFamily("is_inf", (MetricInfo("is_inf", "IS∞ ↑", (-math.inf, math.inf), +1),),
                 frozenset({"extractor.probs"}), compute=_is_inf, resample=False, default=False,
                 description="Inception Score extrapolated to infinitely many samples (Chong & Forsyth)"),
    MetricFamily("authpct", (MetricInfo("authpct", "authentic % ↑", (0.0, 100.0), +1, MEMORIZATION, "{:.1f}", 90),),
                 frozenset({"reference.features"}), per_item=_authpct, default=False,
                 description="share of samples not closer to a training row than its own nearest neighbour"),
    MetricFamily("ct", (MetricInfo("ct", "C_T", (-math.inf, math.inf), None, MEMORIZATION, "{:.2f}", 91),),
                 frozenset({"reference.features", "reference.heldout"}), compute=_ct, resample=False, default=False,
                 description="Meehan et al.'s data-copying test statistic (negative: copying)"),
    MetricFamily("mifid", (MetricInfo("mifid", "MiFID ↓", (0.0, math.inf), -1, MEMORIZATION, "{:.2f}", 92),),
                 frozenset({"reference.moments", "reference.features"}), compute=_mifid, default=False,
                 description="memorization-informed FID (FID ÷ memorization distance)"),
    MetricFamily("cmmd", (MetricInfo("cmmd", "CMMD ↓", (-math.inf, math.inf), -1, QUALITY, "{:.3f}", 15),),
                 frozenset({"reference.images"}), compute=_cmmd, collect=_aux_features("cmmd_embeddings", "cmmd"),
                 columns=("cmmd_embeddings",), default=False, aux_extractor="cmmd_extractor",
                 description="CLIP maximum mean discrepancy (×1000, Gaussian kernel σ = 10)"),
    MetricFamily("fd_dinov2", (MetricInfo("fd_dinov2", "FD-DINOv2 ↓", (0.0, math.inf), -1, QUALITY, "{:.2f}", 12),),
                 frozenset({"reference.images"}), compute=_fd_dinov2,
                 collect=_aux_features("dinov2_features", "fd_dinov2"), columns=("dinov2_features",), default=False,
                 aux_extractor="dinov2_extractor", description="Fréchet distance of DINOv2 ViT-L/14 features"),
):
    register_family(_family)
