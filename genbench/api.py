"""One-call comparisons of two image sets from Python, computed as the command line computes them.

- ``fid(a, b, **options)``: the number ``genbench fid A B`` prints (the same reading, extractor,
  batches and arithmetic: bit for bit on the same inputs), with a 95% interval.
- ``compare_sets(a, b, metrics=[...], **options)``: every asked metric of ``genbench eval B --ref A
  --metrics ...`` (the samples ``b`` against the reference ``a``), with its interval.

A side (``a`` or ``b``) is

- anything ``genbench fid`` takes, as a ``str`` or path: a folder or ``.zip`` of images, an ``.npz``
  of samples, a statistics file (genbench, pytorch-fid, clean-fid, ADM), a torchvision root,
  ``shapes32[:split]`` (for ``compare_sets``, ``b`` must hold samples: a folder, an ``.npz``, a
  bundled generator name, ``module:function``...);
- a ``Reference`` (``a`` only);
- images in memory: a uint8 [0, 255] or float [0, 1] tensor or array, NCHW (NHWC is recognised
  by its last axis of 3); floats are rounded to uint8 first, as ``genbench eval`` does with a
  generator that returns floats;
- a generator: a callable ``fn(seed, start, n)`` returning images start … start+n−1 (the CLI's
  ``module:function`` convention), or a ``genbench.Generator``, sampled for ``n`` images with
  ``seed``.

Options are the command line's: ``extractor`` (a registered name or a built FeatureExtractor;
default: the one a genbench statistics side records, shapes-net for shapes32, else
inception-v3-fid), ``weights``, ``resize``, ``any_weights``, ``device``, ``batch_size``,
``workers``, ``resize_inputs``, ``cache`` (False: ``--no-cache``), ``resamples``, ``seed``,
``progress``; ``extractor_options`` passes other keywords to the extractor's factory. Image
sides given as paths are cached by content like the command line's; images in memory and
generators are not cached.

Results are ``MetricResult``: ``value``, ``ci`` (95%, or None), ``n``, ``provenance`` (as in
results.json: the extractor and its weights, both sides, versions) and ``details``.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from genbench.errors import GenbenchError
from genbench.features.base import FeatureExtractor
from genbench.generators.base import Generator
from genbench.harness import distributed
from genbench.reference import Reference

Side = Any  # str | os.PathLike | Reference | torch.Tensor | np.ndarray | Callable[[int, int, int], Any] | Generator


@dataclass(frozen=True)
class MetricResult:
    """A metric's ``value`` with its 95% interval ``ci`` ((low, high), or None where none was
    computed: see ``details``), ``n`` (the samples measured: the second side's, None where its
    statistics do not record it; every image a ``StreamingFID`` saw on every rank),
    ``provenance`` (as in results.json: extractor and weights sha256, the reference or both sides
    with their fingerprints, versions) and ``details`` (the interval's method, resamples and seed;
    KID's std; why there is no interval)."""

    name: str
    value: float
    ci: tuple[float, float] | None
    n: int | None
    provenance: dict = field(repr=False, compare=False)
    details: dict = field(default_factory=dict, repr=False, compare=False)

    def __float__(self) -> float:
        return float(self.value)

    def to_dict(self) -> dict:
        """``{"value", "ci", "n", **details}``, a results.json metric entry."""
        return {"value": self.value, "ci": None if self.ci is None else list(self.ci), "n": self.n, **self.details}


# -- sides ---------------------------------------------------------------------------------------

def _is_spec(side: Side) -> bool:
    return isinstance(side, (str, os.PathLike))


def build_extractor(extractor: FeatureExtractor | str | None, specs: Sequence[str], *,
                    weights: str | Path | None = None, resize: str | None = None, any_weights: bool = False,
                    device: str | torch.device | None = None,
                    extractor_options: dict | None = None) -> tuple[FeatureExtractor, bool]:
    """(the extractor, whether the user named it): ``extractor`` built, or by name (None: the one
    ``resolve_extractor(specs)`` picks, as the command line) with the command line's weights
    options and, for the Inception, the options the references ``specs`` imply unless given
    (clean-fid statistics' resize: ``implied_extractor_options``)."""
    from genbench.reference import implied_extractor_options, resolve_extractor
    from genbench.features.registry import get_extractor

    options = {k: v for k, v in (("weights", weights), ("resize", resize), ("device", device)) if v is not None}
    if any_weights:
        options["expected_sha256"] = None
    options |= dict(extractor_options or {})
    if isinstance(extractor, FeatureExtractor):
        if options:
            raise GenbenchError(f"{', '.join(sorted(options))} configure an extractor given by name; "
                                f"{extractor.name!r} was given built")
        return extractor, True
    name = resolve_extractor([str(s) for s in specs], extractor)
    if name == "inception-v3-fid":
        options = {**implied_extractor_options([str(s) for s in specs]), **options}
    try:
        return get_extractor(name, **options), extractor is not None
    except TypeError:  # an option the extractor does not have (else a bug: let it show)
        if not options:
            raise
        raise GenbenchError(f"extractor {name!r} does not take {', '.join(sorted(options))}") from None


def _nchw(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images)) if isinstance(images, np.ndarray) else images
    if x.ndim == 4 and x.shape[1] != 3 and x.shape[-1] == 3:  # NHWC, as NpzSamples reads it
        x = x.permute(0, 3, 1, 2).contiguous()
    return x


def as_generator(side: Side, n: int | None, **generator_options: Any) -> tuple[Generator, int]:
    """(a Generator for the samples ``side``, the number of samples to take): images in memory
    (all, or the first ``n``), a callable ``fn(seed, start, n)`` or a Generator (``n``
    required), or a spec the command line's ``genbench eval`` takes (``generator_options`` go to
    it; stored samples: all, or the first ``n``)."""
    from genbench.generators.user import CallableGenerator, _StoredSamples, load_generator

    if isinstance(side, (torch.Tensor, np.ndarray)):
        kind = "tensor" if isinstance(side, torch.Tensor) else "array"
        gen: Generator = _StoredSamples(_nchw(side), f"in-memory {kind}")
    elif isinstance(side, Generator):
        gen = side
    elif _is_spec(side):
        from genbench.reference import holds_images

        spec = str(side)
        if Path(spec).exists() and not holds_images(spec):
            raise GenbenchError(f"{spec} holds statistics, not samples: the samples side takes images (give the "
                                "statistics as the reference, or use gb.fid for the FID between two statistics files)")
        gen = load_generator(spec, **generator_options)
    elif callable(side):
        gen = CallableGenerator(side, getattr(side, "__qualname__", type(side).__name__))
    else:
        raise GenbenchError(f"a side is a path or spec, a Reference, images (tensor or array), a callable "
                            f"fn(seed, start, n) or a Generator; got {type(side).__name__}")
    stored = getattr(gen, "images", None)
    stored_n = len(stored) if stored is not None else getattr(getattr(gen, "source", None), "n", None)
    if stored_n is not None:
        if n is not None and not 1 <= n <= stored_n:
            raise GenbenchError(f"{gen.meta.name} holds {stored_n} samples; n must be in [1, {stored_n}], got {n}")
        return gen, stored_n if n is None else n
    if n is None:
        raise GenbenchError(f"{gen.meta.name} is sampled: say how many samples with n=")
    if n < 1:
        raise GenbenchError(f"n must be >= 1, got {n}")
    return gen, n


def side_reference(side: Side, ext: FeatureExtractor, declared: bool, *, batch_size: int, workers: int | None = None,
                   resize_inputs: int | None = None, cache: bool = True, progress: bool = True, n: int | None = None,
                   seed: int = 0) -> Reference:
    """``side`` in ``ext``'s feature space as a Reference: a spec is read as ``genbench fid`` reads
    its sides (``load_reference_once``: cached by content; under torchrun rank 0 first); images in
    memory (all of them) and generators (``n`` samples of ``seed``) go through the same image
    path, uncached, keeping every feature row (float16, as references keep them)."""
    from genbench.data.sources import ImageSource
    from genbench.harness.runner import load_reference_once
    from genbench.metrics.stats import check_same_space
    from genbench.reference import ReadingOptions, images_reference, reference_fingerprint

    if isinstance(side, Reference):
        check_same_space(side.provenance, ext.provenance(), f"reference {side.provenance.get('source')}",
                         "the extractor in use")
        return side
    if _is_spec(side):
        return load_reference_once(str(side), ext, declared, progress=progress and distributed.is_main(),
                                   batch_size=batch_size, workers=workers, resize_inputs=resize_inputs, cache=cache)
    gen, count = as_generator(side, None if isinstance(side, (torch.Tensor, np.ndarray)) else n)
    source = ImageSource(gen.meta.name, count, lambda start, k: gen.sample_range(seed, start, k))
    read = ReadingOptions(batch_size=batch_size, sample_n=count, progress=progress and distributed.is_main(),
                          cache=False)
    ref = images_reference(source, gen.meta.name, ext, read, fingerprint=["in memory", gen.meta.name, count, seed])
    ref.provenance |= {"spec": None, "seed": None if getattr(gen, "stored", False) else seed}
    ref.provenance["fingerprint"] = reference_fingerprint(ref)
    return ref


def _side_count(ref: Reference) -> int | None:
    return ref.stats.n if ref.stats is not None else ref.provenance.get("n")


# -- FID -----------------------------------------------------------------------------------------

def fid(a: Side, b: Side, *, extractor: FeatureExtractor | str | None = None, weights: str | Path | None = None,
        resize: str | None = None, any_weights: bool = False, device: str | torch.device | None = None,
        batch_size: int = 50, workers: int | None = None, resize_inputs: int | None = None, cache: bool = True,
        n: int | None = None, seed: int = 0, resamples: int = 50, progress: bool = True,
        extractor_options: dict | None = None) -> MetricResult:
    """The FID between ``a`` and ``b`` (module docstring), as ``genbench fid a b`` computes it:
    each side's float64 moments in the extractor's space, Fréchet distance with ``a`` first.

    ``n`` / ``seed``: how many samples a generator side gives and with which seed (images in
    memory are taken whole, as files are). ``ci``: the 95% half-sampling interval of ``genbench eval``
    over ``b``'s samples (``resamples`` half-samples drawn with ``seed``, ``a`` held fixed), from
    the feature rows ``b``'s reference keeps (float16; every row for images in memory and
    generators, up to 10,000 for image paths); None, with the reason in ``details``, when ``b``
    is statistics, keeps fewer rows than its n, or ``resamples=0``."""
    ext, declared = build_extractor(extractor, [s for s in (a, b) if _is_spec(s)], weights=weights, resize=resize,
                                    any_weights=any_weights, device=device, extractor_options=extractor_options)
    read = {"batch_size": batch_size, "workers": workers, "resize_inputs": resize_inputs, "cache": cache,
            "progress": progress, "n": n, "seed": seed}
    ref_a, ref_b = (side_reference(side, ext, declared, **read) for side in (a, b))
    for ref in (ref_a, ref_b):
        if ref.mu is None:
            raise GenbenchError(f"{ref.provenance.get('source')} holds no moments (mu, sigma) for the FID")
    from genbench.harness.runner import versions
    from genbench.metrics.frechet import frechet_distance

    value = frechet_distance(ref_a.mu, ref_a.sigma, ref_b.mu, ref_b.sigma)
    ci, details = _fid_interval(value, ref_a, ref_b, resamples, seed, progress)
    provenance = {"a": ref_a.provenance, "b": ref_b.provenance, "extractor": ext.provenance(), "batch_size": batch_size,
                  "device": str(getattr(ext, "device", "cpu")), **versions()}
    return MetricResult("fid", value, ci, _side_count(ref_b), provenance, details)


def _fid_interval(value: float, ref_a: Reference, ref_b: Reference, resamples: int, seed: int,
                  progress: bool) -> tuple[tuple[float, float] | None, dict]:
    """``genbench eval``'s half-sampling interval of the FID over ``ref_b``'s feature rows, placed
    around ``value``; (None, the reason) where it cannot be computed."""
    from genbench.metrics.bootstrap import bootstrap_many
    from genbench.metrics.stats import FeatureStats

    count = _side_count(ref_b)
    rows = ref_b.sample
    if resamples == 0:
        return None, {"ci_reason": "not asked for (resamples=0)"}
    if rows is None or not count:
        return None, {"ci_reason": "the second side holds statistics, not the feature rows of its samples"}
    if len(rows) < count:
        return None, {"ci_reason": f"the second side keeps {len(rows)} of its {count} feature rows; an interval "
                                   "resamples every row (gb.compare_sets / genbench eval keep them all)"}
    frechet = ref_a.frechet()

    def half(idx: np.ndarray) -> dict[str, float]:
        stats = FeatureStats.from_features(rows[idx])
        return {"fid": frechet.distance(stats.mean, stats.cov)}

    res = bootstrap_many(half, np.arange(count), resamples=resamples, seed=seed, method="subsample",
                         progress=progress and distributed.is_main())["fid"]
    shift = value - res.value  # the interval of the rows' FID, moved onto the FID of the moments
    ci = (max(res.ci[0] + shift, 0.0), max(res.ci[1] + shift, 0.0))
    return ci, {"confidence": res.confidence, "resamples": resamples, "ci_method": res.method, "ci_seed": seed,
                "ci_rows": "the second side's feature rows as its reference keeps them (float16)"}


# -- every metric, as genbench eval --------------------------------------------------------------

def compare_sets(a: Side, b: Side, metrics: Sequence[str] = ("fid",), *,
                 extractor: FeatureExtractor | str | None = None, weights: str | Path | None = None,
                 resize: str | None = None, any_weights: bool = False, device: str | torch.device | None = None,
                 n: int | None = None, seed: int = 0, batch_size: int = 50,
                 resamples: int = 50, heldout: str | None = None, workers: int | None = None,
                 resize_inputs: int | None = None, cache: bool = True, progress: bool = True,
                 generator_options: dict | None = None, extractor_options: dict | None = None,
                 **config: Any) -> dict[str, MetricResult]:
    """The metric families ``metrics`` (names of ``--metrics``: fid, kid, is, pr, dc, ...) of the
    samples ``b`` against the reference ``a``, as ``genbench eval b --ref a --metrics ... -n n
    --seed seed --batch-size batch_size --resamples resamples`` computes them; a dict from result
    key ("fid", "kid", "precision", "recall", ...) to ``MetricResult``, each with its 95% interval
    (half-sampling for statistics of the sample, percentile bootstrap for means of per-item
    values). ``n``: samples of ``b`` (stored samples: default all; generators: required);
    ``generator_options`` go to a ``b`` spec (sampler, steps, ... of a bundled or diffusers model);
    ``config``: other ``EvalConfig`` fields (``kid_subsets``, ``ssim_pairs``, ``clip_model``...).
    A family the inputs cannot support is left out with a warning giving the reason."""
    from genbench.harness.runner import EvalConfig, evaluate

    gen, count = as_generator(b, n, **(generator_options or {}))
    ext, declared = build_extractor(extractor, [a] if _is_spec(a) else [], weights=weights, resize=resize,
                                    any_weights=any_weights, device=device, extractor_options=extractor_options)
    # the command line reads an eval reference in batches of 500 (genbench fid: its --batch-size)
    ref = side_reference(a, ext, declared, batch_size=500, workers=workers, resize_inputs=resize_inputs, cache=cache,
                         progress=progress)
    cfg = EvalConfig(n=count, seed=seed, batch_size=min(count, batch_size),
                     extractor=ext.name if declared else None,
                     reference=str(ref.provenance.get("spec") or ref.provenance.get("source")),
                     metrics=tuple(metrics), heldout=heldout, resamples=resamples,
                     **config)
    record = evaluate(gen, ref, config=cfg, extractor=ext, progress=progress,
                      reference_options={"workers": workers, "resize_inputs": resize_inputs, "cache": cache})
    for family, reason in record["skipped"].items():
        warnings.warn(f"{family} skipped: {reason}", stacklevel=2)
    provenance = {**record["provenance"], "samples": record["meta"]}
    out = {}
    for key, entry in record["metrics"].items():
        ci = entry.get("ci")
        out[key] = MetricResult(key, entry["value"], None if ci is None else (ci[0], ci[1]), entry["n"], provenance,
                                {k: v for k, v in entry.items() if k not in ("value", "ci", "n")})
    return out

