import numpy as np
import pytest
import torch

from genbench.images import signed_unit_to_uint8, to_float01, unit_to_uint8, validate_images


def test_accepts_uint8_and_float_unchanged():
    u = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    assert validate_images(u) is u
    f = torch.rand(2, 3, 8, 8)
    assert torch.equal(validate_images(f), f)
    assert torch.equal(validate_images(u.numpy()), u)


def test_nan_reports_count():
    x = torch.rand(2, 3, 8, 8)
    x[0, 0, 0, :3] = float("nan")
    x[1, 2, 1, 1] = float("inf")
    with pytest.raises(ValueError, match="4 non-finite"):
        validate_images(x)


def test_out_of_range_float_reports_min_max():
    x = torch.rand(2, 3, 8, 8) * 255
    with pytest.raises(ValueError, match=r"max 2\d\d.*divide by 255"):
        validate_images(x)
    with pytest.raises(ValueError, match="min -0.5"):
        validate_images(torch.full((1, 3, 4, 4), -0.5))


def test_wrong_rank_channels_dtype():
    with pytest.raises(ValueError, match=r"4-D NCHW, got shape \(3, 8, 8\).*batch dimension"):
        validate_images(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match=r"3 RGB channels.*\(2, 8, 8, 3\).*channels last"):
        validate_images(torch.rand(2, 8, 8, 3))
    with pytest.raises(ValueError, match="int64"):
        validate_images(torch.zeros(1, 3, 4, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="empty batch"):
        validate_images(torch.zeros(0, 3, 4, 4))


def test_grayscale_only_on_request():
    g = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match="replicate_grayscale"):
        validate_images(g)
    rgb = validate_images(g, replicate_grayscale=True)
    assert rgb.shape == (2, 3, 8, 8) and torch.equal(rgb[:, 0], rgb[:, 2])


def test_list_of_images_one_size():
    ims = [torch.rand(3, 8, 8), torch.rand(3, 8, 8)]
    assert validate_images(ims).shape == (2, 3, 8, 8)
    with pytest.raises(ValueError, match="different sizes"):
        validate_images([torch.rand(3, 8, 8), torch.rand(3, 9, 8)])


def test_conversions_round_not_truncate():
    f = torch.tensor([0.0, 0.5 / 255, 0.6 / 255, 1.0]).view(1, 1, 2, 2).expand(1, 3, 2, 2)
    assert unit_to_uint8(f)[0, 0].flatten().tolist() == [0, 0, 1, 255]
    s = torch.tensor([-1.5, -1.0, 1 / 255 - 1, 1.2 / 255 - 1, 0.0, 1.0, 2.0]).view(1, 1, 1, 7).expand(1, 3, 1, 7)
    assert signed_unit_to_uint8(s)[0, 0].flatten().tolist() == [0, 0, 0, 1, 128, 255, 255]  # clamped, rounded
    u = torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2).expand(1, 3, 1, 2)
    assert to_float01(u)[0, 0].flatten().tolist() == [0.0, 1.0]
    assert np.isclose(to_float01(f).max().item(), 1.0)
