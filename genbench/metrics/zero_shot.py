"""Zero-shot classification of the shapes32 factors with a CLIP model.

Prompts are the full captions: every (shape, colour, size, background) combination rendered with
shapes32's caption template, 10·8·3·4 = 960 prompts. An image's softmax over all 960 prompts (at
the model's ``logit_scale``) is marginalised onto each factor, and the factor's prediction is the
value with the largest marginal probability. Scoring whole captions matches what the model was
trained on; marginalising (rather than reading the factors off the single best caption) lets
confident factors stay right when another factor is ambiguous.
"""

from __future__ import annotations

import itertools

import torch

from genbench.data.shapes32 import BACKGROUNDS, CATEGORICAL_LABELS, COLORS, SHAPES, SIZES, Shapes32Batch, caption_for
from genbench.features.clip import ClipExtractor

FACTOR_SIZES = (len(SHAPES), len(COLORS), len(SIZES), len(BACKGROUNDS))  # in CATEGORICAL_LABELS order


def prompts() -> list[str]:
    """The 960 captions, in ``itertools.product`` order over (shape, colour, size, background)."""
    return [caption_for(*combo) for combo in itertools.product(*map(range, FACTOR_SIZES))]


def prompt_index(labels: dict[str, torch.Tensor]) -> torch.Tensor:
    """Index into ``prompts()`` of each image's caption, int64 (n,), from its factor labels."""
    index = torch.zeros_like(labels[CATEGORICAL_LABELS[0]])
    for name, size in zip(CATEGORICAL_LABELS, FACTOR_SIZES):
        index = index * size + labels[name]
    return index


def zero_shot_predict(image_emb: torch.Tensor, prompt_emb: torch.Tensor,
                      logit_scale: float) -> dict[str, torch.Tensor]:
    """Predicted factor indices, int64 (n,) per factor, from L2-normalised image embeddings (n, d)
    and the embeddings of ``prompts()`` (960, d)."""
    probs = (logit_scale * image_emb.float() @ prompt_emb.float().T).softmax(dim=-1)
    probs = probs.view(-1, *FACTOR_SIZES)
    axes = range(1, len(FACTOR_SIZES) + 1)
    return {name: probs.sum(dim=tuple(a for a in axes if a != axis)).argmax(dim=-1)
            for name, axis in zip(CATEGORICAL_LABELS, axes)}


def zero_shot_accuracy(image_emb: torch.Tensor, prompt_emb: torch.Tensor, labels: dict[str, torch.Tensor],
                       logit_scale: float) -> dict[str, float]:
    """Share of images whose factor is predicted right, per factor (``zero_shot_predict``)."""
    predicted = zero_shot_predict(image_emb, prompt_emb, logit_scale)
    return {name: (predicted[name] == labels[name]).double().mean().item() for name in CATEGORICAL_LABELS}


def shapes32_zero_shot(clip: ClipExtractor, batch: Shapes32Batch) -> dict[str, float]:
    """Zero-shot accuracy per factor of a CLIP extractor on a shapes32 batch, through the
    extractor's own preprocessing and tokenizer (in its micro-batches), at its model's learned
    ``logit_scale``."""
    image_emb = clip.features(batch.images)
    logit_scale = clip.model.logit_scale.exp().item()
    return zero_shot_accuracy(image_emb, clip.encode_text(prompts()), batch.labels, logit_scale)
