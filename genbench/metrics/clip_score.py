"""CLIP score: image–caption agreement as the clamped cosine of CLIP embeddings, per pair.

Captions longer than the CLIP text encoder's context (77 tokens for OpenAI's and open_clip's
CLIPs, start and end tokens included) are truncated as the model's tokenizer truncates them
(open_clip: the first context_length tokens, the last replaced by the end token), never refused;
``truncated_captions`` says which were, and the score's record counts them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from genbench.features.clip import ClipExtractor
from genbench.images import validate_images
from genbench.features.registry import get_extractor

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


def truncated_captions(tokenizer: object, captions: Sequence[str]) -> torch.Tensor | None:
    """(N,) bool: caption i is longer than ``tokenizer.context_length`` tokens (start and end tokens
    included), i.e. the tokenizer truncates it. Works for open_clip's ``SimpleTokenizer``, tokenizers
    with the same ``encode`` (shapes-clip's) and open_clip's ``HFTokenizer``; None for a tokenizer it
    cannot count with."""
    context = getattr(tokenizer, "context_length", None)
    if not context:
        return None
    hf = getattr(tokenizer, "tokenizer", None)
    if hf is not None and callable(hf):  # open_clip's HFTokenizer: the wrapped transformers tokenizer
        clean = getattr(tokenizer, "clean_fn", lambda t: t)
        lengths = [len(ids) for ids in hf([clean(c) for c in captions], truncation=False).input_ids]
    elif callable(getattr(tokenizer, "encode", None)):  # [sot] + encode(text) + [eot]
        lengths = [len(tokenizer.encode(c)) + 2 for c in captions]
    else:
        return None
    return torch.tensor([n > context for n in lengths], dtype=torch.bool)


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
    the numbers, and a ``truncated`` attribute: the (N,) bool mask of the captions the tokenizer cut
    to its context (``truncated_captions``), or None when it cannot tell (both live on this tensor
    object only; arithmetic on it returns plain tensors).
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
    truncated = truncated_captions(getattr(clip, "tokenizer", None), list(captions))
    scores.provenance = {
        "model": clip.name,
        "weights_sha256": clip.weights_sha256,
        "variant": variant,
        "preprocessing": clip.preprocessing,
    }
    scores.truncated = truncated
    return scores
