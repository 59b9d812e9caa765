"""shapes-clip: a tiny CLIP for the shapes32 domain, built with open_clip from ``shapes-clip.json``.

Architecture (open_clip ``CLIP``, registered as ``"shapes-clip"``; the config file is named after
the architecture because ``open_clip.add_model_config`` names a config by its file stem):
- Vision: open_clip's ``ModifiedResNet`` (CLIP's RN design) at width 16: a 3-conv stem (stride 2,
  then a 2×2 average pool: 32 → 8 pixels), four bottleneck stages of one block each (64, 128, 256,
  512 channels at 8, 4, 2, 1 pixels), attention pooling (8 heads of 64) to the embedding. A ViT
  (4×4 patches, width 64, 4 layers, avg pooling, sin-cos positions) learned shape far too slowly
  for a CPU budget: 61% zero-shot shape accuracy after 7 of 16 epochs, against 96% for this net.
- Text: causal transformer, width 64, 2 layers, 2 heads, ``context_length`` 16, pooled at the eot
  token (open_clip's ``pool_type="argmax"``: the position of the largest id, so the eot id is the
  largest id of the vocabulary).
- Both project to a 64-d joint embedding; ``logit_scale`` is learned (clamped at ln 100 in training).
  1.44 M parameters (1.33 M vision, 0.82 M of them the attention pool); 2.9 MB as fp16.

Vocabulary. open_clip's default BPE tokenizer has 49,408 ids, so its token embedding alone would
cost 49,408·width parameters (3.2 M at width 64, ~6 MB in fp16) for the few dozen words shapes32
captions use. ``ShapesTokenizer`` is a word-level tokenizer over exactly those words, and the
config's ``vocab_size`` is its size (32), so the embedding table has 32·64 parameters.

Images are preprocessed by open_clip's eval transform for ``image_size`` 32 (resize and centre
crop to 32, the identity on shapes32 images; ``ToTensor``; ``Normalize(IMAGE_MEAN, IMAGE_STD)``).
``IMAGE_MEAN``/``IMAGE_STD`` are open_clip's (OpenAI's) defaults, passed explicitly.
``normalize_images`` is the same arithmetic on uint8 tensor batches, used in training.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import open_clip
import torch

from genbench.data.shapes32 import BACKGROUNDS, COLORS, SHAPES, SIZES

ARCHITECTURE = "shapes-clip"
CONFIG_PATH = Path(__file__).with_name(f"{ARCHITECTURE}.json")
IMAGE_MEAN = open_clip.OPENAI_DATASET_MEAN
IMAGE_STD = open_clip.OPENAI_DATASET_STD

# Every word of shapes32 captions ("a {size} {color} {shape} on a {background} background"), which
# are also the zero-shot prompts. Fixed: changing it changes the meaning of the bundled weights' ids.
WORDS: tuple[str, ...] = ("a", "on", "background", *SIZES, *COLORS, *SHAPES, *BACKGROUNDS)


class ShapesTokenizer:
    """Word-level tokenizer for shapes32 captions, called like open_clip's tokenizers.

    ``tokenizer(texts)`` → int64 (n, context_length): ``[sot, w1, …, wk, eot, pad, …]``. Text is
    lower-cased and split into words at anything that is not a letter, digit or underscore
    (spaces, punctuation). Ids: ``pad`` = 0, ``WORDS`` = 1 … 28, then ``unk``, ``sot``, ``eot``;
    ``eot`` is the largest id, so argmax pooling finds it. Words outside ``WORDS`` map to ``unk``
    (the model has seen no ``unk`` in training: such text gets an arbitrary embedding). Text longer
    than ``context_length − 2`` words is truncated, keeping ``eot`` last, as open_clip does.
    """

    pad_id = 0

    def __init__(self, context_length: int = 16) -> None:
        self.context_length = context_length
        self.word_ids = {word: i for i, word in enumerate(WORDS, start=1)}
        self.unk_id, self.sot_id, self.eot_id = len(WORDS) + 1, len(WORDS) + 2, len(WORDS) + 3
        self.vocab_size = self.eot_id + 1

    def encode(self, text: str) -> list[int]:
        """Word ids of ``text``, without sot/eot/padding."""
        return [self.word_ids.get(word, self.unk_id) for word in re.findall(r"\w+", text.lower())]

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """Words of a token row, space-joined; ``"<unk>"`` for unk; sot, eot and pad dropped."""
        return " ".join(WORDS[i - 1] if i <= len(WORDS) else "<unk>"
                        for i in map(int, ids) if self.pad_id < i < self.sot_id)

    def __call__(self, texts: str | Sequence[str], context_length: int | None = None) -> torch.Tensor:
        texts = [texts] if isinstance(texts, str) else texts
        length = context_length or self.context_length
        tokens = torch.full((len(texts), length), self.pad_id, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [self.sot_id, *self.encode(text)][:length - 1] + [self.eot_id]
            tokens[row, :len(ids)] = torch.tensor(ids)
        return tokens


def register_config() -> None:
    """Make ``"shapes-clip"`` an open_clip architecture (idempotent)."""
    if ARCHITECTURE not in open_clip.list_models():
        open_clip.add_model_config(CONFIG_PATH)


@contextlib.contextmanager
def _quiet_open_clip() -> Iterator[None]:
    """Silence open_clip's "no pretrained weights loaded" warning: weights come from a state dict."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def build_shapes_clip(state_dict: dict[str, torch.Tensor] | None = None
                      ) -> tuple[open_clip.CLIP, Callable, ShapesTokenizer]:
    """``(model, preprocess, tokenizer)``: the model randomly initialised (seed it with
    ``torch.manual_seed``) or loaded from ``state_dict`` (strictly), in eval mode; ``preprocess``
    is the PIL eval transform; ``tokenizer`` a ``ShapesTokenizer`` of the model's context length."""
    register_config()
    with _quiet_open_clip():
        model, _, preprocess = open_clip.create_model_and_transforms(
            ARCHITECTURE, image_mean=IMAGE_MEAN, image_std=IMAGE_STD)
    tokenizer = ShapesTokenizer(model.context_length)
    if model.vocab_size != tokenizer.vocab_size:
        raise ValueError(f"{CONFIG_PATH} has vocab_size {model.vocab_size}, the tokenizer {tokenizer.vocab_size}")
    if state_dict is not None:
        model.load_state_dict(state_dict)
    return model.eval(), preprocess, tokenizer


def normalize_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 (n, 3, 32, 32) → float32 model input: the same operations, in the same order, as the
    PIL ``preprocess`` (``x / 255``, then ``(x − mean) / std``), so the results are bit-identical."""
    mean = torch.tensor(IMAGE_MEAN, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
    return images.to(torch.float32).div(255).sub_(mean).div_(std)
