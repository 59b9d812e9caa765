"""The FID Inception's ``clean`` (clean-fid) and ``torchmetrics`` (torchmetrics >= 1.8) preprocessing
against the reference implementations' own code, bit for bit: clean-fid's resizer and
normalisation, and torchmetrics' ``FrechetInceptionDistance`` input to the network's first layer."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from genbench.data.sources import _read_rgb
from genbench.features.inception import PREPROCESSING, InceptionV3FID, inception_input, resize_pil_bicubic_float

SIZES = [(17, 23), (32, 32), (300, 301)]  # (H, W): upsampled, upsampled, downsampled (antialiased)


def _uint8(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize(("h", "w"), SIZES)
def test_clean_resize_equals_cleanfid_make_resizer(h, w):
    from cleanfid.resize import make_resizer

    resizer = make_resizer("PIL", False, "bicubic", (299, 299))  # clean-fid's build_resizer("clean")
    images = _uint8(h * w, (2, h, w, 3))
    expected = np.stack([resizer(image) for image in images]).transpose(0, 3, 1, 2)
    got = resize_pil_bicubic_float(torch.from_numpy(images).permute(0, 3, 1, 2).float())
    assert got.dtype == torch.float32 and got.shape == (2, 3, 299, 299)
    assert np.array_equal(got.numpy(), expected)
    assert got.min() >= 0 and got.max() <= 255  # bicubic overshoot is clipped, as clean-fid does
    assert not torch.equal(got, got.round())  # no re-quantisation: fractional values stay


def test_clean_resize_of_float_input_is_cleanfids_on_the_unrounded_values():
    """Float [0, 1] batches are scaled by 255 without rounding: clean-fid's resizer on those values."""
    from cleanfid.resize import make_resizer

    x = torch.rand(1, 3, 20, 27, generator=torch.Generator().manual_seed(3))
    expected = make_resizer("PIL", False, "bicubic", (299, 299))((x[0] * 255).permute(1, 2, 0).numpy())
    got = inception_input(x, "clean")
    assert torch.equal(got[0], (torch.from_numpy(expected.transpose(2, 0, 1)) - 128) / 128)


@pytest.fixture(scope="module")
def weights_path(random_inception_weights):
    return random_inception_weights


@pytest.fixture(scope="module")
def files(tmp_path_factory, image_folder) -> list:
    """PNG files of the odd sizes, and a grayscale one (the last)."""
    images = [_uint8(i, (h, w, 3)) for i, (h, w) in enumerate(SIZES)] + [_uint8(9, (40, 33))]
    return sorted(image_folder(tmp_path_factory.mktemp("odd_sizes"), images, pad=1).iterdir())


def _cleanfid_network_input(path) -> torch.Tensor:
    """What clean-fid's mode="clean" feeds the Inception layers for one file: its ResizeDataset
    (read, convert("RGB"), resize, ToTensor), then InceptionV3W.forward's normalisation."""
    from cleanfid.inception_torchscript import InceptionV3W
    from cleanfid.utils import ResizeDataset

    batch = ResizeDataset([str(path)], mode="clean")[0][None]
    seen = {}

    def layers(x):
        seen["x"] = x
        return torch.zeros(len(x), 2048)

    InceptionV3W.forward(SimpleNamespace(resize_inside=False, layers=SimpleNamespace(forward=layers)), batch)
    return seen["x"]


def test_clean_network_input_equals_cleanfids_from_the_file(files, weights_path):
    ext = InceptionV3FID(weights_path, resize="clean", device="cpu", expected_sha256=None)
    assert ext.provenance()["preprocessing"] == PREPROCESSING["clean"] == ext.preprocessing
    for path in files:
        expected = _cleanfid_network_input(path)
        images = torch.tensor(_read_rgb(path))[None]  # genbench's reading of the file
        assert expected.shape == (1, 3, 299, 299)
        assert torch.equal(ext._normalise(images), expected), path.name
        assert torch.equal(inception_input(images, "clean"), expected), path.name


def test_torchmetrics_mode_equals_frechet_inception_distance_default(weights_path):
    """torchmetrics' default FrechetInceptionDistance (antialias=True since 1.8), stopped at the
    network's first layer: its input equals ours for uint8, and for floats with normalize=True."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    assert inspect.signature(FrechetInceptionDistance.__init__).parameters["antialias"].default is True
    metric = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(weights_path))

    class Stop(Exception):
        pass

    seen = {}

    def stop(module, args):
        seen["x"] = args[0]
        raise Stop

    metric.inception.Conv2d_1a_3x3.register_forward_pre_hook(stop)

    def network_input(images):
        with pytest.raises(Stop):
            metric.update(images, real=True)
        return seen.pop("x")

    generator = torch.Generator().manual_seed(4)
    for h, w in SIZES:
        images = torch.randint(0, 256, (2, 3, h, w), dtype=torch.uint8, generator=generator)
        assert torch.equal(inception_input(images, "torchmetrics"), network_input(images)), (h, w)
    metric.normalize = True  # floats in [0, 1]: torchmetrics truncates x·255 to uint8
    floats = torch.rand(2, 3, 21, 19, generator=generator)
    assert torch.equal(inception_input(floats, "torchmetrics"), network_input(floats))
    assert not torch.equal(inception_input(floats, "torchmetrics"), inception_input(floats, "tf"))


def test_modes_are_named_on_the_command_line_and_refused_otherwise():
    from genbench.cli import build_parser

    for mode in ("clean", "torchmetrics"):
        assert build_parser().parse_args(["fid", "a", "b", "--resize", mode]).resize == mode
    assert len(set(PREPROCESSING.values())) == len(PREPROCESSING) == 4  # each mode its own feature space
    with pytest.raises(ValueError, match="'clean', 'torchmetrics'"):
        inception_input(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), "cleanfid")
