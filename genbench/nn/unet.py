"""UNet: the ε-prediction network of the bundled DDPM (and, with ``patch_size=1``, of latent diffusion).

Conventions
- Input x: float (n, in_channels, H, W). Pixel models take shapes32 images scaled as
  x = 2·u8/255 − 1 ∈ [−1, 1] (H = W = 32); latent models take scaled latents (e.g. 8×8×c).
  H and W must be divisible by ``patch_size · 2^(levels − 1)``.
- t: int64 (n,) timesteps in [0, T) with the index convention of ``genbench.diffusion``
  (t = 0 least noisy). The network embeds the raw integer t; it never sees the schedule.
- Output: ε̂ with x's shape (out_channels defaults to in_channels). No sampling loop lives here.

Architecture (DDPM / ADM style): a patchified stem (Conv2d with kernel p + 2, stride p, padding 1:
overlapping p×p patches, so the body runs at H/p × W/p; p = 1 gives the usual 3×3 input conv);
per level ``num_res_blocks`` residual blocks (GroupNorm → SiLU → 3×3 conv, the time embedding
added between the two convs, the second conv zero-initialised) and a stride-2 3×3 conv down; a
middle of block · self-attention · block at the lowest resolution; a decoder with
``num_res_blocks + 1`` blocks per level, each taking a concatenated skip, and nearest ×2 + 3×3
conv up; self-attention after every block of the levels in ``attention_levels``; out: GroupNorm →
SiLU → 3×3 conv to out_channels·p² (zero-initialised) → PixelShuffle(p). Time: sinusoidal
embedding of t (width channels[0], periods up to 10⁴ as in the Transformer) → Linear → SiLU →
Linear (width 4·channels[0]).

Cost of the default config on 32×32×3: 3.20 M parameters, 0.143 GFLOP per image per forward
(``torch.utils.flop_counter.FlopCounterMode``: 2 FLOPs per multiply-add of convolutions, linear
layers and attention matmuls; normalisations and activations not counted; the budget of 0.15 is
pinned in ``tests/test_unet.py``); ``benchmarks/bench_unet.py`` times it per image on the machine at hand.

Full-resolution refinement (``refine_channels`` = R > 0; the bundled pixel DDPM since its
fine-tuning): out ← out + conv3×3(SiLU(conv3×3([x, out]) + Linear(time embedding))), R hidden
channels, the last conv zero-initialised, so a network trained without it loads (its keys plus
``refine_*``) and starts from identical outputs. It exists because with p = 2 the head predicts
each pixel of a 2×2 patch from one 16×16 feature, and the trained network's ε̂ errors carried a
2×2-periodic pattern (rms 0.038 per image at every t, measured at step 20.5k) that the x̂₀ = (x_t −
√(1−ᾱ)ε̂)/√ᾱ of the first sampling steps amplifies up to 157× into the grid seen in samples. Cost at
R = 32 on 32×32×3: +6,755 parameters and 5.3 MFLOP per image (0.148 GFLOP in all).

Conditioning (latent diffusion; only with ``context_dim`` set): ``forward(x, t, context)`` takes a
context sequence (n, L, context_dim), e.g. a text encoder's per-token outputs. It enters twice:
(1) its mean over the L positions → Linear → added to the time embedding (global conditioning,
reaching every ResBlock); (2) a cross-attention layer (queries from the H·W positions, keys and
values from the context; pre-GroupNorm, zero-initialised output, residual) after every
self-attention layer, the middle one included. With ``context_dim=None`` (the default, the pixel
DDPM) none of these modules exist: state-dict keys, parameter shapes, the RNG draws of
initialisation and the outputs are those of the unconditional network.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding (n, dim) of timesteps t (n,): [cos(t·f_i), sin(t·f_i)], f_i = max_period^(−2i/dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class ResBlock(nn.Module):
    """GroupNorm → SiLU → conv → + time emb. → GroupNorm → SiLU → conv, plus a skip (1×1 if widths differ)."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch)
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Identity() if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over the H·W positions, pre-GroupNorm, zero-initialised output, residual."""

    def __init__(self, ch: int, heads: int, groups: int) -> None:
        super().__init__()
        if ch % heads:
            raise ValueError(f"{ch} channels do not split into {heads} heads")
        self.heads = heads
        self.norm = nn.GroupNorm(groups, ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(n, 3, self.heads, c // self.heads, h * w)
        q, k, v = qkv.transpose(-1, -2).unbind(1)  # each (n, heads, h·w, c/heads)
        out = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj(out.transpose(-1, -2).reshape(n, c, h, w))


class CrossAttention(nn.Module):
    """Multi-head attention from the H·W positions (queries) to a context (n, L, context_dim) (keys,
    values); pre-GroupNorm on the queries, zero-initialised output, residual."""

    def __init__(self, ch: int, context_dim: int, heads: int, groups: int) -> None:
        super().__init__()
        if ch % heads:
            raise ValueError(f"{ch} channels do not split into {heads} heads")
        self.heads = heads
        self.norm = nn.GroupNorm(groups, ch)
        self.q = nn.Conv2d(ch, ch, 1)
        self.kv = nn.Linear(context_dim, 2 * ch)
        self.proj = nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q = self.q(self.norm(x)).reshape(n, self.heads, c // self.heads, h * w).transpose(-1, -2)
        k, v = self.kv(context).reshape(n, -1, 2, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # (n, heads, h·w, c/heads)
        return x + self.proj(out.transpose(-1, -2).reshape(n, c, h, w))


class UNet(nn.Module):
    """ε-prediction U-Net; ``forward(x, t) -> ε̂`` (see the module docstring for conventions).

    channels: width per level (level 0 at H/p; the default runs at 16, 8, 4, 2 for 32×32 input);
    num_res_blocks: encoder blocks per level (the decoder has one more); attention_levels: levels
    with self-attention after each block (the middle always has one); heads: attention heads;
    groups: GroupNorm groups (must divide every block's input and output width); context_dim: width
    of the conditioning context (None: unconditional; see the module docstring); refine_channels:
    width of the full-resolution output refinement (0: none; see the module docstring).
    """

    def __init__(self, in_channels: int = 3, out_channels: int | None = None, patch_size: int = 2,
                 channels: tuple[int, ...] = (32, 64, 64, 128), num_res_blocks: int = 1,
                 attention_levels: tuple[int, ...] = (2, 3), heads: int = 4, groups: int = 16,
                 context_dim: int | None = None, refine_channels: int = 0) -> None:
        super().__init__()
        self.context_dim = context_dim
        out_channels = in_channels if out_channels is None else out_channels
        self.patch_size, self.levels = patch_size, len(channels)
        emb_dim = 4 * channels[0]
        self.time_mlp = nn.Sequential(nn.Linear(channels[0], emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.stem = nn.Conv2d(in_channels, channels[0], patch_size + 2, stride=patch_size, padding=1)
        lowest = len(channels) - 1
        if any(not 0 <= level <= lowest for level in attention_levels):
            raise ValueError(f"attention_levels {attention_levels} must index channels {channels}")

        self.down = nn.ModuleList()
        skips, ch = [channels[0]], channels[0]
        for level, width in enumerate(channels):
            for _ in range(num_res_blocks):
                self.down.append(self._block(ch, width, emb_dim, groups, heads, level in attention_levels,
                                             context_dim))
                ch = width
                skips.append(ch)
            if level != lowest:
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skips.append(ch)
        self.mid = nn.ModuleList([ResBlock(ch, ch, emb_dim, groups), SelfAttention(ch, heads, groups),
                                  *self._cross(ch, context_dim, heads, groups), ResBlock(ch, ch, emb_dim, groups)])
        self.up = nn.ModuleList()
        for level in reversed(range(len(channels))):
            for _ in range(num_res_blocks + 1):
                attention = level in attention_levels
                self.up.append(self._block(ch + skips.pop(), channels[level], emb_dim, groups, heads, attention,
                                           context_dim))
                ch = channels[level]
            if level != 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                             nn.Conv2d(ch, ch, 3, padding=1)))
        self.out = nn.Sequential(nn.GroupNorm(groups, ch), nn.SiLU(),
                                 nn.Conv2d(ch, out_channels * patch_size ** 2, 3, padding=1),
                                 nn.PixelShuffle(patch_size))
        nn.init.zeros_(self.out[2].weight)
        nn.init.zeros_(self.out[2].bias)
        if context_dim is not None:  # created last: the unconditional modules above draw the same init
            self.context_emb = nn.Linear(context_dim, emb_dim)
        self.refine_channels = refine_channels
        if refine_channels:  # last again, and zero-initialised: a network without it loads and runs unchanged
            self.refine_in = nn.Conv2d(in_channels + out_channels, refine_channels, 3, padding=1)
            self.refine_emb = nn.Linear(emb_dim, refine_channels)
            self.refine_out = nn.Conv2d(refine_channels, out_channels, 3, padding=1)
            nn.init.zeros_(self.refine_out.weight)
            nn.init.zeros_(self.refine_out.bias)

    @staticmethod
    def _cross(ch: int, context_dim: int | None, heads: int, groups: int) -> list[nn.Module]:
        return [] if context_dim is None else [CrossAttention(ch, context_dim, heads, groups)]

    @classmethod
    def _block(cls, in_ch: int, out_ch: int, emb_dim: int, groups: int, heads: int, attention: bool,
               context_dim: int | None = None) -> nn.ModuleList:
        layers: list[nn.Module] = [ResBlock(in_ch, out_ch, emb_dim, groups)]
        if attention:
            layers += [SelfAttention(out_ch, heads, groups), *cls._cross(out_ch, context_dim, heads, groups)]
        return nn.ModuleList(layers)

    def forward(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """ε̂ (n, out_channels, H, W) for x (n, in_channels, H, W) float and t (n,) int64 in [0, T);
        ``context`` (n, L, context_dim) float is required with ``context_dim`` set and refused without."""
        factor = self.patch_size * 2 ** (self.levels - 1)
        if x.shape[-1] % factor or x.shape[-2] % factor:
            raise ValueError(f"H and W must be divisible by {factor}, got {tuple(x.shape[-2:])}")
        if (context is None) != (self.context_dim is None):
            raise ValueError(f"this UNet has context_dim={self.context_dim}; "
                             f"context {'missing' if context is None else 'given'}")
        emb = self.time_mlp(timestep_embedding(t, self.stem.out_channels))
        if context is not None:
            if context.ndim != 3 or context.shape[0] != x.shape[0] or context.shape[2] != self.context_dim:
                raise ValueError(f"context must be (n={x.shape[0]}, L, {self.context_dim}), "
                                 f"got {tuple(context.shape)}")
            emb = emb + self.context_emb(context.mean(dim=1))
        h = self.stem(x)
        skips = [h]
        for layer in self.down:
            h = _apply(layer, h, emb, context)
            skips.append(h)
        for layer in self.mid:
            h = _apply(layer, h, emb, context)
        for layer in self.up:
            h = _apply(layer, torch.cat([h, skips.pop()], dim=1) if isinstance(layer, nn.ModuleList) else h, emb,
                       context)
        out = self.out(h)
        if self.refine_channels:  # full-resolution correction from the input and the head's output
            r = F.silu(self.refine_in(torch.cat([x, out], dim=1)) + self.refine_emb(emb)[:, :, None, None])
            out = out + self.refine_out(r)
        return out


def _apply(layer: nn.Module, h: torch.Tensor, emb: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
    """Run a block (ModuleList of ResBlock [+ SelfAttention [+ CrossAttention]]), a ResBlock, a
    CrossAttention, or a plain layer (attention, resampling)."""
    if isinstance(layer, nn.ModuleList):
        for sub in layer:
            h = _apply(sub, h, emb, context)
        return h
    if isinstance(layer, ResBlock):
        return layer(h, emb)
    return layer(h, context) if isinstance(layer, CrossAttention) else layer(h)
