"""The image contract: where images enter genbench they are validated once, here.

Accepted: a 4-D NCHW tensor or array, RGB (C = 3), of dtype uint8 with values in [0, 255] or
floating point with values in [0, 1]; a list of CHW images of one size is stacked first. A
1-channel batch is replicated to RGB only when the caller passes ``replicate_grayscale=True``.
Nothing downstream re-validates, re-scales or clips: a bad batch raises ``ValueError`` naming
what was seen (non-finite count, observed min/max, shape, dtype).

Conversions, each named by the range it reads: ``to_float01`` (a validated batch → float32 in
[0, 1]), ``unit_to_uint8`` (a validated batch, floats in [0, 1] → uint8) and
``signed_unit_to_uint8`` (a model's images in [−1, 1] → uint8, clamped); uint8 values are always
rounded, never truncated.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

ImageBatch = torch.Tensor  # uint8 in [0, 255] or float in [0, 1], NCHW, RGB


def _as_tensor(images: object, name: str) -> torch.Tensor:
    if isinstance(images, torch.Tensor):
        return images
    if isinstance(images, np.ndarray):
        return torch.from_numpy(images)
    if isinstance(images, Sequence) and not isinstance(images, (str, bytes)):
        if len(images) == 0:
            raise ValueError(f"{name}: empty list of images")
        items = [_as_tensor(im, name) for im in images]
        shapes = {tuple(im.shape) for im in items}
        if len(shapes) > 1:
            raise ValueError(f"{name}: images of different sizes in one batch: {sorted(shapes)}; "
                             "resize them to one size first")
        return torch.stack(items)
    raise ValueError(f"{name}: expected a torch.Tensor, numpy array or list of images, got {type(images).__name__}")


def validate_images(images: object, *, replicate_grayscale: bool = False, name: str = "images") -> ImageBatch:
    """Validate an image batch against the contract and return it as a tensor.

    The returned tensor has the input's dtype and values (uint8 [0, 255] or float [0, 1]),
    shape (N, 3, H, W). With ``replicate_grayscale=True`` a (N, 1, H, W) batch is expanded to
    three identical channels; otherwise a 1-channel batch is an error.
    """
    x = _as_tensor(images, name)
    if x.dtype == torch.bool or not (x.dtype == torch.uint8 or x.is_floating_point()):
        raise ValueError(f"{name}: dtype {x.dtype} is not accepted; use uint8 in [0, 255] or float in [0, 1]")
    if x.ndim != 4:
        hint = " (a single CHW image? add a batch dimension with x[None])" if x.ndim == 3 else ""
        raise ValueError(f"{name}: expected 4-D NCHW, got shape {tuple(x.shape)}{hint}")
    n, c, h, w = x.shape
    if n == 0 or h == 0 or w == 0:
        raise ValueError(f"{name}: empty batch, shape {tuple(x.shape)}")
    if c == 1 and replicate_grayscale:
        x = x.expand(n, 3, h, w)
    elif c != 3:
        hint = "; pass replicate_grayscale=True to replicate a 1-channel batch" if c == 1 else ""
        hint = hint or ("; channels last? permute to NCHW" if x.shape[-1] in (1, 3) else "")
        raise ValueError(f"{name}: expected 3 RGB channels in NCHW, got shape {tuple(x.shape)}{hint}")
    if x.is_floating_point():
        finite = torch.isfinite(x)
        if not bool(finite.all()):
            bad = int((~finite).sum())
            raise ValueError(f"{name}: {bad} non-finite values (NaN/Inf) in a batch of shape {tuple(x.shape)}")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            hint = " (uint8-range values in a float tensor? divide by 255)" if hi > 1.0 and hi <= 255.0 else ""
            raise ValueError(f"{name}: float images must lie in [0, 1]; observed min {lo:g}, max {hi:g}{hint}")
    return x


def to_float01(images: ImageBatch) -> torch.Tensor:
    """A validated batch as float32 in [0, 1] (uint8 is divided by 255; floats pass through)."""
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    return images.float()


def unit_to_uint8(images: ImageBatch) -> torch.Tensor:
    """A validated batch as uint8: floats in [0, 1] are scaled by 255 and rounded (not truncated);
    uint8 passes through. For model outputs in [−1, 1] use ``signed_unit_to_uint8``."""
    if images.dtype == torch.uint8:
        return images
    return images.float().mul(255.0).round_().to(torch.uint8)


def signed_unit_to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Model-space images in [−1, 1] (any float dtype, any device) as uint8 on the CPU:
    (x + 1)/2, clamped to [0, 1], then ``unit_to_uint8``. Values outside [−1, 1] are clamped (a
    sampler's output is not clipped). The same bits as diffusers' image processor
    (``(x / 2 + 0.5).clamp(0, 1)``, × 255, rounded)."""
    return unit_to_uint8(((x.float() + 1) / 2).clamp_(0, 1).cpu())

