"""`genbench fid A B` (``genbench.cli.fid``) against pytorch-fid on the same folders and the same
(random) Inception weights, and the kinds of side it takes: folders, .npz samples, genbench and
foreign statistics files, shapes32; pickles refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genbench.cli import main
from genbench.data.shapes32 import shapes32
from genbench.features.inception import InceptionV3FID
from genbench.metrics.stats import FeatureStats
from genbench.features.registry import get_extractor


@pytest.fixture(scope="module")
def folders(tmp_path_factory, random_inception_state, image_folder):
    """Two folders of 12 PNGs each (shapes32 test images, the second set noisier) and the weights file."""
    root = tmp_path_factory.mktemp("fid")
    rng = np.random.default_rng(0)
    images = shapes32("test", 0, 24).images.permute(0, 2, 3, 1).numpy()
    for name, part, noise in (("a", images[:12], 0), ("b", images[12:], 40)):
        noisy = np.clip(part.astype(np.int16) + rng.integers(-noise, noise + 1, part.shape), 0, 255).astype(np.uint8)
        image_folder(root / name, noisy)
    weights = root / "pt_inception-random.pth"
    torch.save(random_inception_state, weights)
    return root / "a", root / "b", weights


def _genbench_fid(capsys, *argv: str) -> float:
    assert main(["fid", *argv, "--quiet"]) == 0
    return float(capsys.readouterr().out.strip())


def test_fid_of_two_folders_agrees_with_pytorch_fid(folders, random_inception_state, monkeypatch, capsys):
    import pytorch_fid.fid_score
    import pytorch_fid.inception

    from genbench.reference import Reference

    a, b, weights = folders
    monkeypatch.setattr(pytorch_fid.inception, "load_state_dict_from_url",
                        lambda *args, **kwargs: random_inception_state)
    monkeypatch.setattr(InceptionV3FID, "micro_batch", 12)  # one side per call: no padding rows to pay for on a CPU
    model = pytorch_fid.inception.InceptionV3([3]).eval()
    ext = get_extractor("inception-v3-fid", weights=weights, resize="bilinear", device="cpu", expected_sha256=None)
    reference = {}
    for side in (a, b):  # the same moments from the same files: decoding, resize, network, float64 moments
        mu, sigma = pytorch_fid.fid_score.compute_statistics_of_path(str(side), model, 10, 2048, "cpu", 0)
        np.savez(side.parent / f"{side.name}_stats.npz", mu=mu, sigma=sigma)  # what pytorch-fid --save-stats writes
        ours = Reference.load(str(side), ext, batch_size=12, progress=False, cache=False)
        np.testing.assert_allclose(ours.mu, mu, rtol=0, atol=1e-5)
        np.testing.assert_allclose(ours.sigma, sigma, rtol=0, atol=1e-5)
        reference[side.name] = (mu, sigma)
    expected = pytorch_fid.fid_score.calculate_frechet_distance(*reference["a"], *reference["b"])
    assert expected > 1.0  # not vacuous: the two folders differ
    options = ("--extractor", "inception-v3-fid", "--weights", str(weights), "--any-weights", "--resize", "bilinear",
               "--device", "cpu")
    from_stats = _genbench_fid(capsys, str(a.parent / "a_stats.npz"), str(a.parent / "b_stats.npz"), *options)
    from_folder = _genbench_fid(capsys, str(a), str(a.parent / "b_stats.npz"), *options)
    # 12 images per side: rank-deficient covariances, where scipy's sqrtm (pytorch-fid) warns that its
    # result "might be inaccurate" (about 5e-6 relative here); full rank needs > 2048 images per side
    assert from_stats == pytest.approx(expected, rel=1e-4)
    assert from_folder == pytest.approx(from_stats, rel=1e-5)


def test_sides_of_every_kind_give_the_same_moments(tmp_path, capsys, image_folder):
    images = shapes32("test", 0, 60).images
    np.savez(tmp_path / "samples.npz", arr_0=images.permute(0, 2, 3, 1).numpy())  # NHWC, as the ADM evaluator
    image_folder(tmp_path / "pngs", images)
    ext = get_extractor("shapes-net", device="cpu")
    stats = FeatureStats.from_features(ext.features(images), ext.provenance())
    stats.save(tmp_path / "genbench_stats.npz")
    np.savez(tmp_path / "foreign_stats.npz", mu=stats.mean, sigma=stats.cov)  # pytorch-fid / clean-fid layout
    np.savez(tmp_path / "adm_batch.npz", arr_0=np.zeros((2, 32, 32, 3), np.uint8), mu=stats.mean, sigma=stats.cov)
    ref = str(tmp_path / "genbench_stats.npz")
    for side in ("samples.npz", "pngs", "genbench_stats.npz", "foreign_stats.npz", "adm_batch.npz"):
        fid = _genbench_fid(capsys, str(tmp_path / side), ref, "--extractor", "shapes-net")
        assert fid == pytest.approx(0, abs=1e-6), side
    assert main(["fid", "shapes32:test", str(tmp_path / "foreign_stats.npz"), "--extractor", "shapes-net",
                 "--json", "--quiet"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["fid"] > 0 and record["a"]["n"] == 10_000 and record["a"]["kind"] == "images"
    assert record["b"]["provenance"] == "declared by the user: shapes-net" and record["b"]["n"] is None


@pytest.mark.parametrize("name", ["model.pkl", "stats.pt", "inception.pth"])
def test_pickles_are_refused_with_the_reason(tmp_path, capsys, name):
    (tmp_path / name).write_bytes(b"\x80\x04not really")
    assert main(["fid", str(tmp_path / name), "shapes32:test", "--extractor", "shapes-net"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pickle" in err and "run any code" in err


def test_bad_sides_are_one_line_errors(tmp_path, capsys):
    other = FeatureStats.from_features(np.random.default_rng(0).standard_normal((200, 128)), {"extractor": "x"})
    other.save(tmp_path / "other_space.npz")
    np.savez(tmp_path / "wrong_dim.npz", mu=np.zeros(4), sigma=np.eye(4))
    for a, match in [(tmp_path / "missing", "no such file"), (tmp_path / "wrong_dim.npz", "4-d statistics"),
                     ("shapes32:valid", "unknown shapes32 split")]:
        assert main(["fid", str(a), "shapes32:test", "--extractor", "shapes-net", "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and match in err
    # statistics of another feature space: refused, naming both (a message of a few lines)
    assert main(["fid", str(tmp_path / "other_space.npz"), "shapes32:test", "--extractor", "shapes-net"]) == 2
    err = capsys.readouterr().err
    assert "extractor='x'" in err and "extractor='shapes-net'" in err
    assert main(["fid", "shapes32:test", "shapes32:test", "--extractor", "shapes-net", "--resize", "tf"]) == 2
    assert "does not take --resize" in capsys.readouterr().err


def test_stats_file_is_a_side_and_pytorch_fid_reads_it(tmp_path, capsys, image_folder):
    import pytorch_fid.fid_score

    images = shapes32("test", 0, 30).images
    folder = image_folder(tmp_path / "pngs", images)
    out = tmp_path / "ref.npz"
    assert main(["stats", str(folder), "-o", str(out), "--extractor", "shapes-net", "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    with np.load(out, allow_pickle=False) as f:
        assert f["features"].shape == (30, 128) and int(f["n"]) == 30
        assert json.loads(str(f["provenance"]))["extractor"] == "shapes-net"
    ext = get_extractor("shapes-net", device="cpu")
    mu, sigma = pytorch_fid.fid_score.compute_statistics_of_path(str(out), None, 50, 128, "cpu", 0)  # reads mu/sigma
    expected = FeatureStats.from_features(ext.features(images))
    np.testing.assert_allclose(mu, expected.mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(sigma, expected.cov, rtol=0, atol=1e-12)
    assert _genbench_fid(capsys, str(folder), str(out), "--extractor", "shapes-net") == pytest.approx(0, abs=1e-6)
    assert main(["stats", str(folder), "-o", str(out), "--extractor", "shapes-net", "--extractor", "shapes-clip"]) == 2
    assert "one feature space" in capsys.readouterr().err
