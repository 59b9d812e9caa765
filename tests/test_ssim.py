import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity
from torchmetrics.functional.image import structural_similarity_index_measure

from genbench.metrics.ssim import ssim


def _pairs(dtype: torch.dtype, h: int, w: int, n: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Half independent random pairs, half correlated pairs (y = x + noise), smooth-ish content."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(2 * n, 3, h // 4 + 1, w // 4 + 1, generator=g, dtype=torch.float64)
    smooth = torch.nn.functional.interpolate(base, size=(h, w), mode="bilinear", align_corners=False)
    x, y = smooth[:n], smooth[n:].clone()
    half = n // 2
    y[half:] = (x[half:] + 0.08 * torch.randn(n - half, 3, h, w, generator=g, dtype=torch.float64)).clamp(0, 1)
    if dtype == torch.uint8:
        return (x * 255).round().to(torch.uint8), (y * 255).round().to(torch.uint8)
    return x.to(dtype), y.to(dtype)


def _skimage(x: torch.Tensor, y: torch.Tensor, data_range: float) -> np.ndarray:
    return np.array([
        structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                              data_range=data_range, channel_axis=0)
        for a, b in zip(x.numpy(), y.numpy())
    ])


@pytest.mark.parametrize("size", [(32, 32), (48, 40), (11, 17)])
@pytest.mark.parametrize("dtype,data_range", [(torch.uint8, 255.0), (torch.float32, 1.0), (torch.float64, 1.0)])
def test_matches_skimage(size, dtype, data_range):
    x, y = _pairs(dtype, *size)
    ours = ssim(x, y, data_range=data_range)
    assert ours.shape == (4,) and ours.dtype == torch.float64
    ref = _skimage(x, y, data_range)
    # skimage computes float32 input in float32 (~1e-6 off); uint8 and float64 agree to rounding
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-5 if dtype == torch.float32 else 1e-12)
    # the correlated pairs score well above the independent ones: the comparison is not vacuous
    assert ours[2:].min() > ours[:2].max()


def test_uint8_and_float_agree():
    x, y = _pairs(torch.uint8, 32, 32)
    torch.testing.assert_close(ssim(x, y), ssim(x.double() / 255, y.double() / 255, data_range=1.0), rtol=0, atol=1e-10)


def test_identity_and_symmetry():
    x, y = _pairs(torch.uint8, 32, 40)
    torch.testing.assert_close(ssim(x, x), torch.ones(4, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(ssim(x, y), ssim(y, x), rtol=0, atol=1e-12)


def test_torchmetrics_interior_agrees_but_full_mean_differs():
    """torchmetrics reflect-pads and averages the full map; cropped by 5 pixels its map is ours."""
    x, y = _pairs(torch.float64, 32, 32)
    full_mean, full_map = structural_similarity_index_measure(
        x, y, gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=1.0, reduction="none",
        return_full_image=True)
    ours = ssim(x, y, data_range=1.0)
    torch.testing.assert_close(full_map[..., 5:-5, 5:-5].mean(dim=(1, 2, 3)), ours, rtol=0, atol=1e-10)
    assert (full_mean.double() - ours).abs().max() > 1e-3


def test_errors():
    x, y = _pairs(torch.float32, 32, 32)
    with pytest.raises(ValueError, match="shape"):
        ssim(x, y[:, :, :16])
    with pytest.raises(ValueError, match="dtype"):
        ssim(x, y.double())
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        ssim(bad, y, data_range=1.0)
    with pytest.raises(ValueError, match="non-finite"):
        ssim(x, bad, data_range=1.0)
    with pytest.raises(ValueError, match="at least 11"):
        ssim(x[..., :10], y[..., :10], data_range=1.0)
    with pytest.raises(ValueError, match="at least 11"):
        ssim(x[..., :10, :], y[..., :10, :], data_range=1.0)
    with pytest.warns(UserWarning, match="data_range"):
        ssim(x, y)
