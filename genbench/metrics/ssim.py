"""Structural similarity (Wang et al. 2004) with the paper's settings, batched in torch."""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

from genbench.images import validate_images

_SIGMA = 1.5
_RADIUS = 5  # int(3.5 * sigma + 0.5), scipy's radius for truncate=3.5: an 11-tap window
_K1, _K2 = 0.01, 0.03


def _gaussian_window(device: torch.device) -> torch.Tensor:
    """The 11-tap normalised Gaussian (σ = 1.5), as scipy.ndimage.gaussian_filter with truncate=3.5."""
    t = torch.arange(-_RADIUS, _RADIUS + 1, dtype=torch.float64, device=device)
    w = torch.exp(-0.5 * (t / _SIGMA) ** 2)
    return w / w.sum()


def ssim(x: object, y: object, data_range: float = 255.0) -> torch.Tensor:
    """Per-image SSIM between two image batches: shape (N,), float64, on the inputs' device.

    ``x`` and ``y`` are (N, 3, H, W) batches of one shape and dtype (uint8 in [0, 255] or float
    in [0, 1]); ``data_range`` is L, the range of the values as given: 255 for uint8, 1.0 for
    float batches (float input with ``data_range > 1`` warns). Wang et al.'s settings: an 11-tap Gaussian window with σ = 1.5, K1 = 0.01,
    K2 = 0.03, population (not sample) covariances, computed in float64 per channel; the SSIM
    map is averaged over the valid region and then over channels.

    Border handling: only window positions that lie entirely inside the image count, so the
    map is (H − 10) × (W − 10) (a 5-pixel border is dropped) and images need H, W ≥ 11. This is
    exactly scikit-image's ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=L, channel_axis=0)``, which filters with reflect
    padding and then crops (win − 1)/2 pixels, discarding every padded value. torchmetrics
    ≥ 1.4.2 instead reflect-pads and averages the full H × W map, border included, so its values
    differ (on the interior the two maps agree).
    """
    x = validate_images(x, name="x")
    y = validate_images(y, name="y")
    if x.shape != y.shape or x.dtype != y.dtype:
        raise ValueError(f"x and y must have one shape and dtype; got {tuple(x.shape)} {x.dtype} "
                         f"and {tuple(y.shape)} {y.dtype}")
    n, c, h, w = x.shape
    size = 2 * _RADIUS + 1
    if h < size or w < size:
        raise ValueError(f"SSIM needs images of at least {size}×{size} (the Gaussian window); got {h}×{w}")
    if x.is_floating_point() and data_range > 1.0:
        warnings.warn(f"float images lie in [0, 1] but data_range={data_range:g}; pass data_range=1.0",
                      stacklevel=2)

    x, y = x.double(), y.double()
    win = _gaussian_window(x.device)
    kernel_h = win.view(1, 1, size, 1).expand(c, 1, size, 1)
    kernel_w = win.view(1, 1, 1, size).expand(c, 1, 1, size)
    # One separable "valid" filtering pass over the five moment images.
    stacked = torch.cat([x, y, x * x, y * y, x * y])
    filtered = F.conv2d(F.conv2d(stacked, kernel_h, groups=c), kernel_w, groups=c)
    mu_x, mu_y, e_xx, e_yy, e_xy = filtered.split(n)
    var_x = e_xx - mu_x * mu_x
    var_y = e_yy - mu_y * mu_y
    cov_xy = e_xy - mu_x * mu_y

    c1 = (_K1 * data_range) ** 2
    c2 = (_K2 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / (
        (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    return ssim_map.mean(dim=(1, 2, 3))
