"""A small caption encoder for the latent diffusion denoiser (trained jointly with it).

Not shapes-clip: the judge (shapes-clip, shapes-net) stays independent of every generator, so this
encoder shares no weights with it, only the idea of a word-level vocabulary over shapes32 captions.

Tokens (``CaptionTokenizer``): captions are lower-cased and split into words at anything that
is not a letter, digit or underscore. Ids: ``pad`` = 0, ``VOCABULARY`` = 1 … 28, ``unk`` = 29 (any
other word), ``bos`` = 30. A row is ``[bos, w1, …, wk, pad, …]`` of length ``context_length``
(12; shapes32 captions have 8 words); longer captions are truncated to context_length − 1 words.
The null caption ``NULL_CAPTION = ""`` (caption dropout in training, the unconditional branch of
classifier-free guidance) is ``[bos, pad, …]``: a reserved input the encoder learns like any other.

Network (``TextEncoder``): token embedding + learned position embedding (width ``width``) →
``layers`` pre-LayerNorm transformer blocks (bidirectional multi-head self-attention over all
positions, pads included, no mask: rows have a fixed length, so nothing depends on padding
bookkeeping; MLP of 4·width with GELU) → final LayerNorm. ``forward(tokens)`` returns the
context sequence (n, context_length, width) that the U-Net's cross-attention reads; the U-Net
also pools it (the mean over positions) and adds that (through a linear map) to its time
embedding.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genbench.data.shapes32 import BACKGROUNDS, COLORS, SHAPES, SIZES

VOCABULARY: tuple[str, ...] = ("a", "on", "background", *SIZES, *COLORS, *SHAPES, *BACKGROUNDS)
NULL_CAPTION = ""


class CaptionTokenizer:
    """``tokenizer(texts) -> int64 (n, context_length)``: rows ``[bos, w1, …, wk, pad, …]`` (module docstring)."""

    pad_id = 0

    def __init__(self, context_length: int = 12) -> None:
        if context_length < 2:
            raise ValueError(f"context_length must be >= 2, got {context_length}")
        self.context_length = context_length
        self.word_ids = {word: i for i, word in enumerate(VOCABULARY, start=1)}
        self.unk_id, self.bos_id = len(VOCABULARY) + 1, len(VOCABULARY) + 2
        self.vocab_size = self.bos_id + 1

    def encode(self, text: str) -> list[int]:
        """Word ids of ``text`` (no bos, no padding)."""
        return [self.word_ids.get(word, self.unk_id) for word in re.findall(r"\w+", text.lower())]

    def __call__(self, texts: str | Sequence[str]) -> torch.Tensor:
        texts = [texts] if isinstance(texts, str) else list(texts)
        tokens = torch.full((len(texts), self.context_length), self.pad_id, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [self.bos_id, *self.encode(text)][:self.context_length]
            tokens[row, :len(ids)] = torch.tensor(ids)
        return tokens


class _Block(nn.Module):
    """Pre-LayerNorm transformer block: x + MHA(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} does not split into {heads} heads")
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, width = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(n, length, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, length, width)
        x = x + self.proj(attn)
        return x + self.mlp(self.norm2(x))


class TextEncoder(nn.Module):
    """Captions → context (n, context_length, width); see the module docstring."""

    def __init__(self, width: int = 64, layers: int = 2, heads: int = 4, context_length: int = 12) -> None:
        super().__init__()
        self.tokenizer = CaptionTokenizer(context_length)
        self.width, self.context_length = width, context_length
        self.token_embedding = nn.Embedding(self.tokenizer.vocab_size, width)
        self.position_embedding = nn.Parameter(0.02 * torch.randn(context_length, width))
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        self.blocks = nn.ModuleList([_Block(width, heads) for _ in range(layers)])
        self.norm = nn.LayerNorm(width)

    def tokenize(self, captions: str | Sequence[str]) -> torch.Tensor:
        """int64 tokens (n, context_length) on the module's device."""
        return self.tokenizer(captions).to(self.position_embedding.device)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Context (n, context_length, width) for int64 tokens (n, context_length)."""
        if tokens.ndim != 2 or tokens.shape[1] != self.context_length:
            raise ValueError(f"tokens must be (n, {self.context_length}), got {tuple(tokens.shape)}")
        x = self.token_embedding(tokens) + self.position_embedding
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def encode(self, captions: str | Sequence[str]) -> torch.Tensor:
        """Context for caption strings (tokenize, then forward)."""
        return self(self.tokenize(captions))
