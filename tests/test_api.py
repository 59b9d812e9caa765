"""The one-call Python API (``genbench.api``): ``gb.fid`` gives the number ``genbench fid`` prints on
folders, .npz samples, statistics files, tensors, arrays and generator callables (bit for bit: the
same code path), with ``genbench eval``'s interval; ``gb.compare_sets`` gives ``genbench eval``'s
metrics."""

from __future__ import annotations

import contextlib
import io
import json
import warnings

import numpy as np
import pytest
import torch

import genbench as gb
from genbench.cli import main
from genbench.data.disturb import gaussian_noise
from genbench.data.shapes32 import shapes32
from genbench.errors import GenbenchError

N = 40


def noisy(seed: int, start: int, n: int) -> torch.Tensor:
    """A generator callable (seed, start, n): shapes32 train images with per-sample seeded noise."""
    clean = shapes32("train", start, n).images
    return torch.cat([gaussian_noise(clean[k:k + 1], 0.2, torch.Generator().manual_seed(seed * 7919 + start + k))
                      for k in range(n)])


@pytest.fixture(scope="module")
def sides(tmp_path_factory, image_folder):
    """Two image sets (shapes32 test images; noisy train images) as tensors, .npz files and PNG folders,
    and a genbench statistics file of the first."""
    root = tmp_path_factory.mktemp("api")
    a, b = shapes32("test", 0, N).images, noisy(3, 0, N)
    paths = {}
    for name, images in (("a", a), ("b", b)):
        np.savez(root / f"{name}.npz", arr_0=images.permute(0, 2, 3, 1).numpy())  # NHWC, as ADM's files
        paths[name] = (root / f"{name}.npz", image_folder(root / name, images))
    assert main(["stats", str(root / "a"), "-o", str(root / "a_stats.npz"), "--extractor", "shapes-net",
                 "--quiet"]) == 0
    with np.load(root / "a_stats.npz") as f:  # pytorch-fid's layout: mu and sigma only
        np.savez(root / "a_foreign.npz", mu=f["mu"], sigma=f["sigma"])
    return {"a": a, "b": b, "a_npz": paths["a"][0], "b_npz": paths["b"][0], "a_dir": paths["a"][1],
            "b_dir": paths["b"][1], "a_stats": root / "a_stats.npz", "a_foreign": root / "a_foreign.npz"}


def _cli(*argv: str) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(argv)) == 0
    return json.loads(out.getvalue())


def _cli_fid(a, b, *options: str) -> float:
    return _cli("fid", str(a), str(b), "--json", "--quiet", *options)["fid"]


def test_fid_is_the_command_line_number_on_every_kind_of_side(sides):
    shapes_net = ("--extractor", "shapes-net")
    cli = {  # the command line's value for each pair of sides; no --extractor: found as the command line finds it
        "dirs": _cli_fid(sides["a_dir"], sides["b_dir"], *shapes_net),
        "npz": _cli_fid(sides["a_npz"], sides["b_npz"], *shapes_net),
        "stats": _cli_fid(sides["a_stats"], sides["b_npz"]),  # the file records shapes-net
        "shapes32": _cli_fid("shapes32:train", sides["b_npz"]),  # shapes-net for shapes32
    }
    named = {"extractor": "shapes-net"}
    cases = [  # (gb.fid's sides, its options, the command line's pair)
        (sides["a_dir"], sides["b_dir"], named, "dirs"),
        (str(sides["a_npz"]), sides["b_npz"], named, "npz"),
        (sides["a_stats"], sides["b_npz"], {}, "stats"),
        ("shapes32:train", sides["b"], {}, "shapes32"),  # a uint8 NCHW tensor
        (sides["a"].permute(0, 2, 3, 1).numpy(), sides["b"].float() / 255, named, "npz"),  # NHWC array; floats
        (sides["a_stats"], noisy, {"n": N, "seed": 3}, "stats"),  # a generator fn(seed, start, n)
    ]
    for a, b, options, pair in cases:
        result = gb.fid(a, b, progress=False, resamples=0, **options)
        assert abs(result.value - cli[pair]) <= 1e-12, pair
        assert result.value == cli[pair]  # the command line's code path: the same bits
        assert result.n == N and result.ci is None and result.details["ci_reason"].startswith("not asked")
    assert min(cli.values()) > 1.0  # the sides differ: not vacuous


def test_fid_interval_is_genbench_evals_and_the_record_says_how(sides):
    result = gb.fid("shapes32:train", sides["b"], resamples=10, progress=False)
    record = _cli("eval", str(sides["b_npz"]), "--metrics", "fid", "-n", str(N), "--resamples", "10", "--quiet",
                  "--format", "json")
    evaluated = record["models"]["npz:b.npz"]["metrics"]["fid"]
    assert result.ci[0] < result.value < result.ci[1]
    # the same half-samples (seed 0) of the same rows, stored as references store them (float16)
    assert result.ci == pytest.approx(tuple(evaluated["ci"]), rel=1e-3)
    assert result.value == pytest.approx(evaluated["value"], rel=1e-6)
    assert (result.details["ci_method"], result.details["resamples"]) == ("subsample", 10)
    p = result.provenance
    assert p["extractor"]["extractor"] == "shapes-net" and p["extractor"]["weights_sha256"]
    assert p["a"]["fingerprint"] and p["b"]["fingerprint"] and p["b"]["n"] == N and p["genbench_version"]
    stats_side = gb.fid(sides["b_npz"], sides["a_foreign"], extractor="shapes-net", progress=False)
    assert stats_side.ci is None and "statistics" in stats_side.details["ci_reason"]


def test_compare_sets_is_genbench_eval(sides):
    results = gb.compare_sets(sides["a_stats"], sides["b"], metrics=["fid", "pr"], resamples=5,
                              batch_size=16, progress=False)
    record = _cli("eval", str(sides["b_npz"]), "--ref", str(sides["a_stats"]), "--metrics", "fid,pr", "-n",
                  str(N), "--resamples", "5", "--batch-size", "16", "--quiet", "--format", "json")
    expected = record["models"]["npz:b.npz"]["metrics"]
    assert set(results) == set(expected) == {"fid", "precision", "recall"}
    for key, result in results.items():
        assert result.to_dict() == expected[key], key
    assert results["fid"].provenance["reference"]["fingerprint"] == record["provenance"]["reference"]["fingerprint"]
    sampled = gb.compare_sets(sides["a_stats"], noisy, metrics=["fid"], n=N, seed=3, resamples=5, batch_size=16,
                              progress=False)
    assert sampled["fid"].value == results["fid"].value  # the callable's samples are the tensor's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        only_fid = gb.compare_sets(sides["a_foreign"], sides["b"], metrics=["fid", "kid"], extractor="shapes-net",
                                   resamples=2, progress=False)
    assert set(only_fid) == {"fid"} and only_fid["fid"].value == pytest.approx(results["fid"].value, rel=1e-9)
    assert any("kid skipped" in str(w.message) and "feature rows" in str(w.message) for w in caught)


def test_bad_sides_and_options_are_one_line_errors(sides):
    ext = gb.get_extractor("shapes-net", device="cpu")
    for call, match in [
        (lambda: gb.fid("shapes32:train", noisy, extractor="shapes-net"), "n="),
        (lambda: gb.compare_sets("shapes32:train", sides["b"], n=N + 1), "holds 40 samples"),
        (lambda: gb.fid("shapes32:train", sides["b"], extractor=ext, resize="tf"), "given built"),
        (lambda: gb.fid("shapes32:train", sides["b"], extractor="shapes-net", resize="tf"), "does not take"),
        (lambda: gb.fid("shapes32:train", 3.0), "a side is"),
        (lambda: gb.compare_sets(sides["b_npz"], sides["a_stats"]), "holds statistics"),
    ]:
        with pytest.raises(GenbenchError, match=match) as info:
            call()
        assert "\n" not in str(info.value)


def test_load_reference_reads_a_folder_of_images_as_reference_load_does(sides):
    """``gb.load_reference`` takes any spec ``Reference.load`` takes (here a folder of PNGs), in the
    feature space of the extractor named or given built, and checks ``expect``."""
    ext = gb.get_extractor("shapes-net", device="cpu")
    folder = gb.load_reference(sides["a_dir"], extractor="shapes-net", progress=False)
    same = gb.Reference.load(sides["a_dir"], ext, progress=False)
    assert folder.provenance["kind"] == "images" and folder.provenance["spec"] == str(sides["a_dir"])
    assert folder.provenance["fingerprint"] == same.provenance["fingerprint"]
    np.testing.assert_array_equal(folder.sample, same.sample)
    built = gb.load_reference(str(sides["a_dir"]), extractor=ext, expect=ext.provenance(), progress=False)
    np.testing.assert_array_equal(built.mu, folder.mu)
    stats = gb.load_reference(sides["a_stats"])  # the same images' statistics file, in the space it records
    np.testing.assert_allclose(folder.mu, stats.mu, rtol=1e-12, atol=1e-12)
    assert gb.fid(folder, sides["b_dir"], extractor="shapes-net", resamples=0, progress=False).value == \
        gb.fid(sides["a_dir"], sides["b_dir"], extractor="shapes-net", resamples=0, progress=False).value
    with pytest.raises(gb.ProvenanceMismatch):
        gb.load_reference(sides["a_dir"], extractor="shapes-net", expect=gb.get_extractor("shapes-clip").provenance())


def test_clean_fid_names_give_the_inception_their_resize_as_the_command_line_does():
    from genbench.api import build_extractor

    ext, declared = build_extractor(None, ["cleanfid:cifar10/legacy_pytorch/train/32"])
    assert (ext.name, ext.resize, declared) == ("inception-v3-fid", "bilinear", False)
    ext, declared = build_extractor("inception-v3-fid", ["cleanfid:cifar10/clean/train/32"])
    assert (ext.resize, declared) == ("clean", True)
    assert build_extractor("inception-v3-fid", ["cleanfid:cifar10/clean/train/32"], resize="tf")[0].resize == "tf"
