"""The FID Inception extractor against pytorch-fid and torch-fidelity, with shared random weights."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from genbench.features.inception import WEIGHTS, InceptionV3FID, resize_tf1_bilinear
from genbench.features.weights import WeightsError, WeightsWarning
from genbench.io import sha256_file
from genbench.features.registry import get_extractor


@pytest.fixture(scope="module")
def state_dict(random_inception_state) -> dict[str, torch.Tensor]:
    """Random weights in pytorch-fid's layout (``conftest.random_inception_state``)."""
    return random_inception_state


@pytest.fixture(scope="module")
def weights_path(random_inception_weights):
    return random_inception_weights


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """Two 32×32 uint8 RGB images."""
    return torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))


def test_bilinear_mode_matches_pytorch_fid(state_dict, weights_path, images, monkeypatch):
    import pytorch_fid.inception

    monkeypatch.setattr(pytorch_fid.inception, "load_state_dict_from_url", lambda *args, **kwargs: state_dict)
    reference = pytorch_fid.inception.InceptionV3([3], resize_input=True, normalize_input=True,
                                                  use_fid_inception=True).eval()
    x = images.float() / 255.0
    with torch.no_grad():
        expected = reference(x)[0].flatten(1)
    ours = InceptionV3FID(weights_path, resize="bilinear", device="cpu", expected_sha256=None)
    got = ours.features(x)
    assert got.shape == (2, 2048) and got.dtype == torch.float32
    assert expected.std() > 0.1  # the comparison is not vacuous
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(ours.features(images), got, atol=1e-6, rtol=0)  # uint8 is divided by 255
    assert ours.preprocessing == "torch-bilinear-299,2x-1"


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (1, 2, 17, 40), (1, 1, 400, 301)])
def test_tf1_resize_matches_torch_fidelity(shape):
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    x = torch.rand(shape, generator=torch.Generator().manual_seed(2)) * 255.0
    expected = interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
    assert torch.equal(resize_tf1_bilinear(x, (299, 299)), expected)


def test_tf_mode_matches_torch_fidelity(state_dict, weights_path, images):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    # torch-fidelity's weights-inception-2015-12-05-6726825d.pth has pytorch-fid's keys: it loads ours strictly.
    reference = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                            feature_extractor_weights_path=str(weights_path))
    with torch.no_grad():
        expected_features, expected_logits = reference(images)
    ours = InceptionV3FID(weights_path, device="cpu", expected_sha256=None)
    out = ours.extract(images)
    torch.testing.assert_close(out.features, expected_features, atol=1e-4, rtol=0)
    with torch.inference_mode():
        _, logits = ours.model(ours._normalise(images))
    torch.testing.assert_close(logits.cpu(), expected_logits, atol=1e-4, rtol=0)
    assert out.probs.shape == (2, 1008) and out.probs.dtype == torch.float64
    torch.testing.assert_close(out.probs, torch.softmax(logits.double().cpu(), dim=1))
    # float [0, 1] input is scaled by 255 (not rounded): the same up to float32 rounding
    torch.testing.assert_close(ours.features(images.float() / 255.0), out.features, atol=1e-4, rtol=0)
    assert ours.preprocessing == "tf1-bilinear-299,(x-128)/128"


def test_weights_bookkeeping_and_safetensors(state_dict, weights_path, tmp_path):
    ours = InceptionV3FID(weights_path, device="cpu", expected_sha256=None)
    assert ours.weights_sha256 == sha256_file(weights_path)
    assert ours.provenance()["feature_dim"] == 2048 and not ours.model.training
    safetensors_path = tmp_path / "random_inception.safetensors"
    save_file(state_dict, str(safetensors_path))
    from_safetensors = InceptionV3FID(safetensors_path, device="cpu", expected_sha256=None)
    for key, value in from_safetensors.model.state_dict().items():
        assert torch.equal(value, ours.model.state_dict()[key]), key
    # an explicit path that is not the canonical file is used with a warning naming its digest
    with pytest.warns(WeightsWarning, match=ours.weights_sha256):
        warned = InceptionV3FID(weights_path, device="cpu")
    assert warned.weights_sha256 == ours.weights_sha256
    with pytest.raises(WeightsError, match="sha256"):  # a digest the caller asks for is enforced
        InceptionV3FID(weights_path, device="cpu", expected_sha256="0" * 64)


def test_missing_weights_names_the_place(tmp_path, monkeypatch):
    monkeypatch.setenv("GENBENCH_HOME", str(tmp_path))
    ext = InceptionV3FID(device="cpu")  # nothing is looked up before the network is needed
    assert ext.weights_sha256 == WEIGHTS.sha256 and len(WEIGHTS.sha256) == 64  # named without the file
    with pytest.raises(WeightsError) as info:  # the test session is offline (conftest)
        ext.features(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    assert str(tmp_path / "weights" / WEIGHTS.filename) in str(info.value) and "offline" in str(info.value)


def test_corrupted_weights(weights_path, tmp_path, monkeypatch):
    monkeypatch.setenv("GENBENCH_HOME", str(tmp_path))
    canonical = tmp_path / "weights" / WEIGHTS.filename
    canonical.parent.mkdir()
    canonical.write_bytes(weights_path.read_bytes()[:1000])
    with pytest.raises(WeightsError, match="corrupted"):
        InceptionV3FID(device="cpu").model  # found and checked when the network is first needed
    with pytest.warns(WeightsWarning, match="not the canonical"), pytest.raises(WeightsError, match="cannot read"):
        InceptionV3FID(canonical, device="cpu").model  # named explicitly: a warning, then the truncated file fails
    with pytest.raises(WeightsError, match="cannot read"):  # truncated, with the digest check skipped
        InceptionV3FID(canonical, device="cpu", expected_sha256=None).model


def test_wrong_layout(state_dict, tmp_path):
    bad = dict(state_dict)
    bad["Mixed_5b.extra.weight"] = bad.pop("Mixed_5b.branch1x1.conv.weight")
    bad["fc.weight"] = torch.zeros(1000, 2048)
    path = tmp_path / "bad.pth"
    torch.save(bad, path)
    with pytest.raises(WeightsError) as info:
        InceptionV3FID(path, device="cpu", expected_sha256=None).model
    message = str(info.value)
    assert "Mixed_5b.branch1x1.conv.weight" in message and "Mixed_5b.extra.weight" in message
    assert "fc.weight (1000, 2048)" in message


def test_bad_resize(weights_path):
    with pytest.raises(ValueError, match="'tf', 'bilinear'"):
        InceptionV3FID(weights_path, resize="nearest", expected_sha256=None)


def test_failed_download_leaves_nothing(tmp_path, monkeypatch):
    import dataclasses
    import socket

    import genbench.features.inception as inception

    monkeypatch.setenv("GENBENCH_HOME", str(tmp_path))
    monkeypatch.delenv("GENBENCH_OFFLINE")
    with socket.socket() as s:  # a loopback port nothing listens on: the connection is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(inception, "WEIGHTS", dataclasses.replace(WEIGHTS, url=f"http://127.0.0.1:{port}/w.pth"))
    with pytest.raises(WeightsError, match="could not fetch .*refused"):
        InceptionV3FID(device="cpu").model
    assert list((tmp_path / "weights").glob("*")) == []


def test_registry(weights_path):
    extractor = get_extractor("inception-v3-fid", weights=weights_path, expected_sha256=None, device="cpu")
    assert isinstance(extractor, InceptionV3FID) and extractor.name == "inception-v3-fid"
