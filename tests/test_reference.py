"""The Reference seam (``--ref`` / ``gb.Reference``) and the metric registry (``--metrics``): every
kind of reference gives the numbers its contents determine, through Python and the CLI; what a
reference cannot support is skipped with the reason; image references are cached by content."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import genbench as gb
from genbench.cli import main
from genbench.data.shapes32 import shapes32
from genbench.generators.user import CallableGenerator
from genbench.harness.runner import EvalConfig, evaluate
from genbench.metrics.kid import kid
from genbench.metrics.registry import MetricFamily, MetricInfo, families, register_family
from genbench.features.registry import get_extractor

N_REF, N = 120, 40
CFG = EvalConfig(n=N, batch_size=N, extractor="shapes-net", resamples=4, kid_subsets=10, kid_subset_size=N)


def held_out_images(seed: int, start: int, n: int):
    """A 'generator' returning shapes32 test images 1000 + i (seed-independent)."""
    return shapes32("test", 1000 + start, n).images


GEN = CallableGenerator(held_out_images, "held-out")


@pytest.fixture(scope="module")
def ref_files(tmp_path_factory, image_folder):
    """The same N_REF shapes32 test images as a PNG folder, an NHWC .npz, an ADM batch, clean-fid
    stats with their _kid.npz, a pytorch-fid .npz and a genbench reference file."""
    root = tmp_path_factory.mktemp("refs")
    images = shapes32("test", 0, N_REF).images
    nhwc = images.permute(0, 2, 3, 1).numpy()
    image_folder(root / "pngs", nhwc, pad=4)
    np.savez(root / "samples.npz", arr_0=nhwc)
    ext = get_extractor("shapes-net", device="cpu")
    feats = ext.features(images).double().numpy()
    mu, sigma = feats.mean(0), np.cov(feats, rowvar=False)
    np.savez(root / "pytorch_fid.npz", mu=mu, sigma=sigma)
    np.savez(root / "cleanfid_stats.npz", mu=mu, sigma=sigma)
    np.savez(root / "cleanfid_stats_kid.npz", feats=feats.astype(np.float32))
    np.savez(root / "adm_ref.npz", arr_0=nhwc, mu=mu, sigma=sigma)
    assert main(["stats", str(root / "pngs"), "-o", str(root / "genbench.npz"), "--extractor", "shapes-net",
                 "--quiet"]) == 0
    return root, feats


def _eval(ref, **kw):
    return evaluate(GEN, ref, config=CFG, progress=False, **kw)


def test_every_reference_kind_gives_the_numbers_of_its_contents(ref_files):
    root, feats = ref_files
    folder = _eval(str(root / "pngs"))
    assert folder["skipped"].keys() == {"clip", "prompt"}  # not caption-conditioned
    m = folder["metrics"]
    assert "mode_coverage" in m  # shapes-net's cells of the folder's images
    # the same images as an .npz, a genbench file: every metric equal
    for spec in ("samples.npz", "genbench.npz"):
        other = _eval(str(root / spec))["metrics"]
        assert other.keys() == m.keys()
        for key in m:
            assert other[key]["value"] == pytest.approx(m[key]["value"], rel=1e-9), (spec, key)
    # moments only: FID equal (mu/sigma are those of the same features), the row metrics skipped
    foreign = evaluate(GEN, str(root / "pytorch_fid.npz"), config=CFG, extractor="shapes-net", progress=False)
    assert foreign["metrics"]["fid"]["value"] == pytest.approx(m["fid"]["value"], rel=1e-6)
    assert {"kid", "pr", "dc", "modes"} <= foreign["skipped"].keys() and "kid" not in foreign["metrics"]
    assert foreign["provenance"]["reference"]["provenance"] == "declared by the user: shapes-net"
    # clean-fid: the _kid.npz rows give KID, equal to KID on those rows (float32 as stored)
    clean = evaluate(GEN, str(root / "cleanfid_stats.npz"), config=CFG, extractor="shapes-net", progress=False)
    fake = get_extractor("shapes-net").features(held_out_images(0, 0, N)).double().numpy()
    expected_kid = kid(feats.astype(np.float32).astype(np.float64), fake, 10, N, 0)[0]
    assert clean["metrics"]["kid"]["value"] == pytest.approx(expected_kid, rel=1e-9)
    assert clean["metrics"]["fid"]["value"] == pytest.approx(m["fid"]["value"], rel=1e-6)
    # ADM batch: FID from the stored moments, the row metrics from features of arr_0
    adm = evaluate(GEN, str(root / "adm_ref.npz"), config=CFG, extractor="shapes-net", progress=False)
    assert adm["metrics"]["fid"]["value"] == pytest.approx(m["fid"]["value"], rel=1e-6)
    for key in ("kid", "precision", "recall", "density", "coverage"):
        assert adm["metrics"][key]["value"] == pytest.approx(m[key]["value"], rel=1e-9), key
    assert adm["provenance"]["reference"]["stored_vs_computed_mu_max_abs"] < 1e-4


def test_bundled_pair_and_shapes32_spec_equal_the_default(ref_files):
    default = _eval(None)
    assert default["skipped"].keys() == {"clip", "prompt"}  # the bundled statistics support every other family
    for spec in ("shapes32:train", str(gb.reference.reference_paths("shapes32", "train", "shapes-net")[1])):
        record = _eval(spec)
        assert json.dumps(record["metrics"]) == json.dumps(default["metrics"]), spec


def test_shapes32_split_without_bundled_stats_equals_its_images_as_a_folder(ref_files, monkeypatch):
    root, _ = ref_files
    monkeypatch.setitem(gb.data.shapes32.SPLIT_SIZES, "test", N_REF)  # the split's first N_REF images
    computed = _eval("shapes32:test")
    folder = _eval(str(root / "pngs"))
    for key, value in folder["metrics"].items():
        assert computed["metrics"][key]["value"] == pytest.approx(value["value"], rel=1e-9), key
    assert computed["metrics"].keys() == folder["metrics"].keys()


def test_image_references_are_cached_by_content(tmp_path, monkeypatch, image_folder):
    import genbench.reference.cache as cache

    folder = image_folder(tmp_path / "pngs", shapes32("test", 0, 30).images)
    ext = get_extractor("shapes-net")
    first = gb.Reference.load(folder, ext, progress=False)
    assert first.provenance["cache"] and first.provenance["input"]["n"] == 30

    def no_compute(*args, **kwargs):
        raise AssertionError("recomputed a cached reference")

    monkeypatch.setattr(cache, "compute_reference", no_compute)
    second = gb.Reference.load(folder, ext, progress=False)
    np.testing.assert_array_equal(second.sample, first.sample)
    np.testing.assert_array_equal(second.mu, first.mu)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(folder / "zzz.png")  # new content: a new key
    with pytest.raises(AssertionError, match="recomputed"):
        gb.Reference.load(folder, ext, progress=False)


def test_metrics_option_computes_only_the_chosen(ref_files, capsys, tmp_path):
    root, _ = ref_files
    record = evaluate(GEN, str(root / "genbench.npz"), metrics=["fid", "precision"], config=CFG, progress=False)
    assert set(record["metrics"]) == {"fid", "precision", "recall"} and record["skipped"] == {}
    out = tmp_path / "out"
    assert main(["eval", str(root / "samples.npz"), "--ref", str(root / "pytorch_fid.npz"), "--extractor",
                 "shapes-net", "--metrics", "fid,kid", "-n", "40", "--resamples", "4", "--quiet",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "kid skipped: the reference" in err and "feature rows" in err
    saved = json.loads((out / "results.json").read_text())
    (model,) = saved["models"].values()
    assert set(model["metrics"]) == {"fid"} and set(model["skipped"]) == {"kid"}
    assert main(["eval", "vae", "--metrics", "fid,nope"]) == 2
    assert "unknown metric 'nope'" in capsys.readouterr().err


def test_foreign_statistics_need_a_named_extractor_and_a_matching_space(ref_files, capsys):
    root, _ = ref_files
    assert main(["eval", str(root / "samples.npz"), "--ref", str(root / "pytorch_fid.npz"), "-n", "40"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--extractor" in err and "declared by the user" in err
    with pytest.raises(ValueError, match="--extractor"):
        gb.Reference.load(root / "pytorch_fid.npz")
    # a genbench file records its space: another extractor is refused, naming both
    assert main(["eval", str(root / "samples.npz"), "--ref", str(root / "genbench.npz"), "--extractor",
                 "shapes-clip", "-n", "40"]) == 2
    err = capsys.readouterr().err
    assert "shapes-clip" in err and "shapes-net" in err
    (root / "ref.pkl").write_bytes(b"\x80\x04x")
    assert main(["eval", "vae", "--ref", str(root / "ref.pkl")]) == 2
    assert "run any code" in capsys.readouterr().err


def test_a_registered_family_is_computed_and_judged(ref_files):
    """The registry is the runner's only source of metrics: a new family runs with no runner change."""
    root, _ = ref_files

    def mean_norm(ctx, rows, full):
        return {"feature_norm": float(np.linalg.norm(ctx.features[rows], axis=1).mean())}

    register_family(MetricFamily("norm", (MetricInfo("feature_norm", "‖f‖", (0.0, np.inf), -1),), compute=mean_norm))
    try:
        record = _eval(str(root / "genbench.npz"), metrics=["norm"])
        fake = get_extractor("shapes-net").features(held_out_images(0, 0, N)).numpy()
        assert record["metrics"]["feature_norm"]["value"] == pytest.approx(np.linalg.norm(fake, axis=1).mean(),
                                                                             rel=1e-6)
        lo, hi = record["metrics"]["feature_norm"]["ci"]
        assert lo <= record["metrics"]["feature_norm"]["value"] <= hi
        from genbench.reports.compare import verdict

        assert verdict("feature_norm", {"value": 2.0, "ci": [1.9, 2.1]}, {"value": 3.0, "ci": [2.9, 3.1]}) == "worse"
    finally:
        families()  # loaded
        from genbench.metrics import registry

        registry._FAMILIES.pop("norm")


def test_baseline_records_the_reference_and_check_reuses_it(ref_files, tmp_path, capsys):
    root, _ = ref_files
    samples, baseline = str(root / "samples.npz"), tmp_path / "baseline.json"
    assert main(["baseline", samples, "--ref", str(root / "genbench.npz"), "--metrics", "fid,pr", "-n", "40",
                 "--resamples", "4", "-o", str(baseline), "--quiet"]) == 0
    recorded = json.loads(baseline.read_text())["provenance"]["config"]
    assert recorded["reference"] == str(root / "genbench.npz") and recorded["metrics"] == ["fid", "pr"]
    assert recorded["extractor"] == "shapes-net"  # the one the genbench file records
    capsys.readouterr()
    assert main(["check", samples, "--baseline", str(baseline), "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "PASS" in table and "precision" in table and "kid" not in table


def test_torchvision_root_equals_its_images_as_a_folder(tmp_path, image_folder):
    from test_sources import _noise, _write_idx  # the fake MNIST root's writer

    raw = tmp_path / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    digits = _noise(30, (30, 28, 28))
    for prefix, array in (("train", digits), ("t10k", digits[:3])):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", 0x803, array)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", 0x801, np.zeros(len(array), np.uint8))
    image_folder(tmp_path / "pngs", digits, pad=2)  # grayscale: mode L
    ext = get_extractor("shapes-net")  # 32×32 only: both sides resized by --resize-inputs
    refs = [gb.Reference.load(tmp_path / name, ext, resize_inputs=32, progress=False) for name in ("mnist", "pngs")]
    assert refs[0].provenance["input"]["conversions"] == {"L": 30} == refs[1].provenance["input"]["conversions"]
    np.testing.assert_array_equal(refs[0].mu, refs[1].mu)
    np.testing.assert_array_equal(refs[0].sample, refs[1].sample)
    with pytest.raises(ValueError, match="32"):
        gb.Reference.load(tmp_path / "mnist", ext, progress=False)  # 28×28 into shapes-net: refused


@pytest.mark.parametrize("spec", ["pngs", "samples.npz", "genbench.npz", "pytorch_fid.npz", "cleanfid_stats.npz",
                                  "adm_ref.npz"])
def test_every_kind_through_the_cli_gives_the_python_fid(ref_files, spec, tmp_path, capsys):
    root, _ = ref_files
    assert main(["eval", str(root / "samples.npz"), "--ref", str(root / spec), "--extractor", "shapes-net",
                 "--metrics", "fid", "-n", "40", "--resamples", "4", "--quiet", "--out", str(tmp_path)]) == 0
    (model,) = json.loads((tmp_path / "results.json").read_text())["models"].values()
    python = evaluate(CallableGenerator(lambda seed, start, n: shapes32("test", start, n).images, "same"),
                      str(root / spec), ["fid"], CFG, progress=False)
    assert model["metrics"]["fid"]["value"] == pytest.approx(python["metrics"]["fid"]["value"], rel=1e-12)


def test_compare_ranks_only_results_against_the_same_reference(ref_files, tmp_path, capsys):
    """The same images as a folder and as a genbench file are one reference (same fingerprint);
    the bundled shapes32 statistics are another, and compare refuses to rank across them."""
    root, _ = ref_files
    paths = {}
    for name, ref in (("folder", root / "pngs"), ("file", root / "genbench.npz"), ("bundled", "shapes32:train")):
        out = tmp_path / name
        assert main(["eval", str(root / "samples.npz"), "--ref", str(ref), "--extractor", "shapes-net",
                     "--metrics", "fid", "-n", "40", "--resamples", "4", "--quiet", "--out", str(out)]) == 0
        paths[name] = str(out / "results.json")
    capsys.readouterr()
    assert main(["compare", paths["folder"], paths["file"]]) == 0
    assert main(["compare", paths["folder"], paths["bundled"]]) == 2
    err = capsys.readouterr().err
    assert "different references" in err and "shapes32:train" in err
