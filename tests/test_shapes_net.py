"""The bundled shapes32 evaluator: registry, output contract, accuracy of the shipped weights,
IS / mode coverage on real data, sha256 check, size check and batch-size independence."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

import genbench as gb
from genbench.assets import models_dir, read_manifest
from genbench.data.shapes32 import shapes32
from genbench.features.shapes import N_CELLS, ShapesNetExtractor, cell_ids
from genbench.features.weights import WeightsError
from genbench.metrics.modes import mode_coverage


@pytest.fixture(scope="module")
def extractor() -> ShapesNetExtractor:
    return gb.get_extractor("shapes-net", device="cpu")


@pytest.fixture(scope="module")
def test_batch():
    return shapes32("test", 0, 2000)


@pytest.fixture(scope="module")
def outputs(extractor, test_batch):
    return extractor.extract_all(test_batch.images)


def test_registry_and_provenance(extractor):
    assert isinstance(extractor, ShapesNetExtractor)
    assert "shapes-net" in gb.available_extractors()
    prov = extractor.provenance()
    assert prov["extractor"] == "shapes-net" and prov["feature_dim"] == 128
    assert prov["weights_sha256"] == read_manifest()["shapes-net"]["sha256"]
    assert len(prov["weights_sha256"]) == 64


def test_output_contract(outputs):
    extracted, preds = outputs
    assert extracted.features.shape == (2000, 128) and extracted.features.dtype == torch.float32
    assert extracted.probs.shape == (2000, 10) and extracted.probs.dtype == torch.float64
    torch.testing.assert_close(extracted.probs.sum(dim=1), torch.ones(2000, dtype=torch.float64))
    assert (extracted.features >= 0).all()  # pooled after a ReLU
    assert torch.equal(preds["shape"], extracted.probs.argmax(dim=1))
    assert torch.equal(preds["cell"], cell_ids(preds["shape"], preds["color"]))
    assert ((preds["shape_conf"] > 0) & (preds["shape_conf"] <= 1)).all()


def test_bundled_weights_accuracy(outputs, test_batch):
    _, preds = outputs
    accuracy = {h: (preds[h] == test_batch.labels[h]).double().mean().item()
                for h in ("shape", "color", "size", "background")}
    assert accuracy["shape"] >= 0.99 and accuracy["color"] >= 0.99, accuracy
    assert accuracy["size"] >= 0.98 and accuracy["background"] >= 0.99, accuracy


def test_inception_score_near_ten(outputs):
    mean, _ = gb.inception_score(outputs[0].probs, splits=10)
    assert 9.0 < mean <= 10.0


def test_mode_coverage_of_real_data(extractor, outputs, test_batch):
    cells = outputs[1]["cell"]
    assert torch.equal(extractor.cells(test_batch.images[:100]), cells[:100])
    result = mode_coverage(cells, np.ones(N_CELLS))  # shapes32 draws shape and colour uniformly
    assert result["coverage"] == 1.0 and result["occupied"] == 80
    assert result["kl"] < 0.05


def test_float_input_matches_uint8(extractor, test_batch):
    images = test_batch.images[:32]
    torch.testing.assert_close(extractor.features(images.float() / 255), extractor.features(images))


def test_batch_size_independent(extractor, test_batch):
    images = test_batch.images[:64]
    whole = extractor.features(images)
    # any split, given each piece's global start, is the same micro-batches: bit for bit
    pieces = torch.cat([extractor.features(images[:7], 0), extractor.features(images[7:57], 7),
                        extractor.features(images[57:], 57)])
    assert torch.equal(pieces, whole)
    # another micro-batch size is another computation: equal up to float32 rounding only
    other = gb.get_extractor("shapes-net", device="cpu", micro_batch=24)
    assert other.micro_batch == 24
    torch.testing.assert_close(other.features(images), whole, atol=1e-5, rtol=0)


def test_rejects_other_sizes(extractor):
    with pytest.raises(ValueError, match="32x32.*64x64"):
        extractor.features(torch.zeros(2, 3, 64, 64, dtype=torch.uint8))


def test_corrupted_weights_refused(tmp_path, monkeypatch):
    copy = tmp_path / "reference_models"
    shutil.copytree(models_dir(), copy)
    weights = copy / "shapes-net.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    monkeypatch.setenv("GENBENCH_ASSETS", str(tmp_path))
    with pytest.raises(WeightsError, match="sha256"):
        ShapesNetExtractor(device="cpu")
