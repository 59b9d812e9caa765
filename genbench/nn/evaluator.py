"""ShapesNet: the shapes32 evaluator CNN behind the "shapes-net" feature extractor.

Input: float32 RGB in [0, 1], NCHW, 32×32; the network normalises internally with (x − 0.5)/0.5.
Three stages of two 3×3 conv + BatchNorm + ReLU blocks (the second of each stage strided 2):
32×32 → 16×16 → 8×8 → 4×4 at ``widths`` channels, then a global average pool. The pooled
vector (``widths[-1]`` = 128 values, non-negative since it follows a ReLU) is ``features``: the
penultimate layer that FID/KID/PRDC use. Linear heads on it give logits for each shapes32 factor.
"""

from __future__ import annotations

import torch
from torch import nn

from genbench.data.shapes32 import BACKGROUNDS, COLORS, SHAPES, SIZES

HEADS: dict[str, int] = {"shape": len(SHAPES), "color": len(COLORS), "size": len(SIZES),
                         "background": len(BACKGROUNDS)}


def _conv_bn_relu(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True)]


class ShapesNet(nn.Module):
    """``forward(x)`` → {"features": (n, widths[-1]), "shape": (n, 10), "color": (n, 8),
    "size": (n, 3), "background": (n, 4)}; the heads are logits."""

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for width in widths:
            layers += _conv_bn_relu(c_in, width, 1) + _conv_bn_relu(width, width, 2)
            c_in = width
        self.body = nn.Sequential(*layers)
        self.feature_dim = c_in
        self.heads = nn.ModuleDict({name: nn.Linear(c_in, k) for name, k in HEADS.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.body((x - 0.5) / 0.5).mean(dim=(2, 3))
        return {"features": features, **{name: head(features) for name, head in self.heads.items()}}
