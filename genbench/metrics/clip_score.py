"""CLIP score: image–caption agreement as the clamped cosine of CLIP embeddings, per pair."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from genbench.features.clip import ClipExtractor
from genbench.images import validate_images
from genbench.registry import get_extractor

_SCALES = {"torchmetrics": 100.0, "hessel": 2.5}


def _as_clip(model: str | ClipExtractor | tuple) -> ClipExtractor:
    if isinstance(model, str):
        model = get_extractor(model)
    elif isinstance(model, tuple):
        clip_model, preprocess, tokenizer = model
        model = ClipExtractor.from_model(clip_model, preprocess, tokenizer, name="clip:custom")
    if not hasattr(model, "encode_text"):
        raise TypeError(f"clip_score needs a CLIP extractor with encode_text, got {type(model).__name__}")
    return model


def clip_score(images: object, captions: Sequence[str], model: str | ClipExtractor | tuple = "shapes-clip",
               variant: str = "torchmetrics", start: int = 0) -> torch.Tensor:
    """Per-pair CLIP scores, shape (N,), float64, on the CPU: image i against ``captions[i]``.

    ``variant="torchmetrics"``: 100·max(cos, 0), on torchmetrics' 0–100 scale; ``"hessel"``:
    Hessel et al. 2021's CLIPScore, 2.5·max(cos, 0). cos is the cosine between the model's image
    and text embeddings. Each pair is clamped at 0 here; torchmetrics' ``CLIPScore`` instead
    takes 100·cos per pair, averages, and clamps only the mean, so the mean of these scores
    equals torchmetrics' value only when no pair has a negative cosine.

    ``model`` is a registered extractor name (e.g. ``"shapes-clip"``, ``"clip:ViT-B-32"``), a
    ``ClipExtractor``, or an ``(open_clip_model, preprocess, tokenizer)`` tuple (recorded as
    ``"clip:custom"`` with no weights hash). ``start`` is the global index of ``images[0]`` (and
    ``captions[0]``): the model runs on micro-batches aligned to it (``genbench.microbatch``), so a
    pair's score does not depend on how the pairs were batched. The returned tensor carries a ``provenance``
    attribute, ``{"model", "weights_sha256", "variant", "preprocessing"}``, naming what produced
    the numbers (it lives on this tensor object only; arithmetic on it returns plain tensors).
    """
    if variant not in _SCALES:
        raise ValueError(f"unknown CLIP score variant {variant!r}; use one of {', '.join(map(repr, _SCALES))}")
    images = validate_images(images)
    n = images.shape[0]
    if len(captions) != n:
        raise ValueError(f"{n} images but {len(captions)} captions; clip_score pairs image i with caption i")
    clip = _as_clip(model)
    image_emb, text_emb = clip.features(images, start), clip.encode_text(captions, start)
    cos = (F.normalize(image_emb.double(), dim=-1) * F.normalize(text_emb.double(), dim=-1)).sum(dim=-1)
    scores = _SCALES[variant] * cos.clamp(min=0.0)
    scores.provenance = {
        "model": clip.name,
        "weights_sha256": clip.weights_sha256,
        "variant": variant,
        "preprocessing": clip.preprocessing,
    }
    return scores
