"""DINOv2 ViT-L/14 as FD-DINOv2 uses it: the 1024-d CLS token after the final LayerNorm.

The network is ``torch.hub.load('facebookresearch/dinov2', 'dinov2_vitl14')`` (what dgm-eval and EDM2
run), rebuilt with timm's ``VisionTransformer`` at 224×224 and loaded from the official checkpoint
``dinov2_vitl14_pretrain.pth`` (keys ``cls_token``, ``pos_embed``, ``mask_token``, ``patch_embed.*``,
``blocks.N.*``, ``norm.*``). The official model is built at 518×518, so its ``pos_embed`` holds a
37×37 grid that it resamples to 16×16 on every 224×224 forward (bicubic, ``scale_factor`` (16 + 0.1)/37,
no antialiasing: upstream's ``interpolate_pos_encoding`` with its defaults). Here that resampling is
done once, at load time, the same way; ``mask_token`` (training only) is dropped. The forward is then
the official one: patch embedding, CLS token, positional embedding, 24 blocks with layer scale, final
LayerNorm, CLS token.

Two preprocessing conventions, which give slightly different features (``preprocessing`` records which):

- ``resize="pil-bicubic"`` (default; dgm-eval): each image as uint8 (floats in [0, 1] scaled by 255 and
  rounded) → PIL RGB → PIL bicubic resize to 224×224 → /255 → ImageNet mean/std.
- ``resize="torch-bicubic-antialias"`` (EDM2's fast mode): ``F.interpolate`` bicubic with
  ``antialias=True`` to 224×224 on the float [0, 1] batch (uint8 / 255) → ImageNet mean/std.

Weights: the file is looked up at ``weights``, then at ``$GENBENCH_HOME/weights/dinov2_vitl14_pretrain.pth``
(or ``dinov2_vitl14_pretrain.safetensors``, the same state dict in safetensors), then in torch.hub's
checkpoint folder (where ``torch.hub.load('facebookresearch/dinov2', 'dinov2_vitl14')`` puts it), else
fetched from Meta's server on first use (not when offline; ``genbench.features.weights``). Meta
publishes no checksum for the file (torch.hub names carry none for DINOv2), so no sha256 is enforced
by default and the digest of the file used is the feature space's identity: the file is found (or
fetched) when the extractor is built, and a missing one fails then; the network is loaded when the
first image is extracted.
"""

from __future__ import annotations

import dataclasses
import math
import os
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from genbench.features.base import Extracted, FeatureExtractor
from genbench.features.weights import (
    LazyWeights,
    WeightsError,
    WeightsSpec,
    load_state_dict,
    weights_dir,
)
from genbench.images import to_float01, unit_to_uint8
from genbench.nn.device import default_device
from genbench.features.registry import register_extractor

WEIGHTS = WeightsSpec(
    filename="dinov2_vitl14_pretrain.pth",
    sha256=None,  # not published; pass expected_sha256 to pin a copy
    url="https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth",
    hub_names=("dinov2_vitl14_pretrain.pth",),
)
SAFETENSORS_FILENAME = "dinov2_vitl14_pretrain.safetensors"
INPUT_SIZE = 224
PATCH_SIZE = 14
EMBED_DIM = 1024
GRID = INPUT_SIZE // PATCH_SIZE  # 16
INTERPOLATE_OFFSET = 0.1  # upstream DinoVisionTransformer's interpolate_offset (hubconf default)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PREPROCESSING = {
    "pil-bicubic": "uint8,pil-bicubic-224,/255,imagenet-mean-std (dgm-eval)",
    "torch-bicubic-antialias": "float01,torch-bicubic-antialias-224,imagenet-mean-std (EDM2)",
}


def build_vit_l14() -> nn.Module:
    """timm's VisionTransformer in DINOv2 ViT-L/14's configuration at 224×224, on the meta device
    (no memory, no init: load a state dict into it with ``assign=True``). ``forward`` returns the
    CLS token after the final LayerNorm."""
    from timm.models.vision_transformer import VisionTransformer

    with torch.device("meta"):
        return VisionTransformer(
            img_size=INPUT_SIZE, patch_size=PATCH_SIZE, embed_dim=EMBED_DIM, depth=24, num_heads=16, mlp_ratio=4.0,
            qkv_bias=True, init_values=1e-5, num_classes=0, class_token=True, global_pool="token",
            norm_layer=partial(nn.LayerNorm, eps=1e-6), act_layer=nn.GELU, weight_init="skip",
        )


def interpolate_pos_embed(pos_embed: torch.Tensor, grid: int = GRID) -> torch.Tensor:
    """(1, 1 + M², d) → (1, 1 + grid², d), as the official model resamples it for a grid×grid patch input:
    bicubic with ``scale_factor`` (grid + 0.1)/M, no antialiasing, in float32 (unchanged when M == grid)."""
    n, dim = pos_embed.shape[1] - 1, pos_embed.shape[2]
    m = math.isqrt(n)
    if m == grid:
        return pos_embed
    patch = pos_embed[:, 1:].float().reshape(1, m, m, dim).permute(0, 3, 1, 2)
    scale = float(grid + INTERPOLATE_OFFSET) / m
    patch = F.interpolate(patch, scale_factor=(scale, scale), mode="bicubic", antialias=False)
    if tuple(patch.shape[-2:]) != (grid, grid):  # cannot happen for M ≥ 1; kept as the official assert
        raise WeightsError(f"pos_embed grid {m}×{m} resamples to {tuple(patch.shape[-2:])}, not {grid}×{grid}")
    patch = patch.permute(0, 2, 3, 1).reshape(1, grid * grid, dim)
    return torch.cat((pos_embed[:, :1].float(), patch), dim=1).to(pos_embed.dtype)


def convert_official_state_dict(state: dict[str, torch.Tensor], model: nn.Module,
                                path: os.PathLike | str) -> dict[str, torch.Tensor]:
    """The official DINOv2 ViT-L/14 state dict → ``model``'s (from :func:`build_vit_l14`): ``mask_token``
    dropped, ``pos_embed`` resampled to 16×16, float32. ``WeightsError`` for other layouts."""
    expected = model.state_dict()
    state = {k: v for k, v in state.items() if k != "mask_token"}
    shapes = []
    if "pos_embed" in state:
        pos = state.pop("pos_embed")
        shape = tuple(getattr(pos, "shape", ()))
        if len(shape) == 3 and shape[0] == 1 and shape[1] > 1 and shape[2] == EMBED_DIM \
                and math.isqrt(shape[1] - 1) ** 2 == shape[1] - 1:
            state["pos_embed"] = interpolate_pos_embed(pos.float())
        else:
            shapes.append(f"pos_embed {shape} (expected (1, 1 + M*M, {EMBED_DIM}), M = 37 in the official file)")
    missing = [k for k in expected if k not in state and not (k == "pos_embed" and shapes)]
    unexpected = [k for k in state if k not in expected]
    shapes += [f"{k} {tuple(getattr(v, 'shape', ()))} (expected {tuple(expected[k].shape)})"
               for k, v in state.items() if k in expected and getattr(v, "shape", None) != expected[k].shape]
    problems = [f"{what} ({len(keys)}): {', '.join(keys[:5])}{', …' if len(keys) > 5 else ''}"
                for what, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", shapes))
                if keys]
    if problems:
        raise WeightsError(f"weights file {path} is not an official DINOv2 ViT-L/14 state dict "
                           f"(dinov2_vitl14_pretrain.pth layout): " + "; ".join(problems))
    return {k: v.float().contiguous() for k, v in state.items()}


class DinoV2Extractor(FeatureExtractor):
    """DINOv2 ViT-L/14: ``features`` are the (n, 1024) float32 CLS tokens after the final LayerNorm
    (the official model's ``model(x)``), for FD-DINOv2 and the other metrics on its feature space.

    Args:
        weights: path to the official state dict (.pth/.pt read with ``weights_only=True``, or
            .safetensors); by default ``$GENBENCH_HOME/weights/dinov2_vitl14_pretrain.pth`` (or the
            ``.safetensors`` of that name), else torch.hub's copy, else fetched (module docstring).
        expected_sha256: hex digest (or prefix) the file must match; default none (not published).
            ``weights_sha256`` records the full digest either way.
        device: where the network runs; default CUDA when present, else CPU.
        resize: ``"pil-bicubic"`` (dgm-eval, default) or ``"torch-bicubic-antialias"`` (EDM2's fast
            mode); see the module docstring.
        download: fetch the official file from Meta's server when it is found nowhere (default;
            never when offline).
    """

    name = "dinov2-vit-l14"
    feature_dim = EMBED_DIM

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        expected_sha256: str | None = None,
        device: str | torch.device | None = None,
        resize: str = "pil-bicubic",
        download: bool = True,
    ) -> None:
        if resize not in PREPROCESSING:
            raise ValueError(f"resize must be one of {', '.join(map(repr, PREPROCESSING))}; got {resize!r}")
        self.resize = resize
        self.preprocessing = PREPROCESSING[resize]
        spec = dataclasses.replace(WEIGHTS, sha256=expected_sha256)
        if weights is None and not (weights_dir() / WEIGHTS.filename).is_file() \
                and (weights_dir() / SAFETENSORS_FILENAME).is_file():
            spec = dataclasses.replace(spec, filename=SAFETENSORS_FILENAME, url=None)
        self._weights = LazyWeights(spec, weights, download)
        self.device = torch.device(device) if device is not None else default_device()
        self._model: nn.Module | None = None

    @property
    def weights_sha256(self) -> str:
        """The weights file's sha256."""
        return self._weights.sha256

    @property
    def model(self) -> nn.Module:
        """The network, loaded on first use."""
        if self._model is None:
            path, _ = self._weights.resolve()
            model = build_vit_l14()
            model.load_state_dict(convert_official_state_dict(load_state_dict(path), model, path), assign=True)
            self._model = model.requires_grad_(False).eval().to(self.device)
        return self._model

    def _normalise(self, images: torch.Tensor) -> torch.Tensor:
        """A validated batch → the network's (n, 3, 224, 224) float32 input."""
        if self.resize == "pil-bicubic":
            pixels = unit_to_uint8(images).permute(0, 2, 3, 1).cpu().numpy()
            resized = [np.asarray(Image.fromarray(np.ascontiguousarray(im))
                                  .resize((INPUT_SIZE, INPUT_SIZE), Image.BICUBIC)) for im in pixels]
            x = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).to(self.device).float().div(255.0)
        else:
            x = F.interpolate(to_float01(images.to(self.device)), size=(INPUT_SIZE, INPUT_SIZE), mode="bicubic",
                              antialias=True)
        mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    def _extract(self, images: torch.Tensor) -> Extracted:
        return Extracted(self.model(self._normalise(images)))


register_extractor("dinov2-vit-l14", DinoV2Extractor)
