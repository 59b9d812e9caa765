"""The families beyond the anchors (``genbench.metrics.beyond``) as registered metrics: Vendi by
default, the others by name; memorization metrics catch a generator that copies its training data
and pass held-out data; CMMD and FD-DINOv2 read a second feature space and the reference's images in
it."""

from __future__ import annotations

import numpy as np
import pytest

from genbench.cli import main
from genbench.data.shapes32 import shapes32
from genbench.errors import GenbenchError
from genbench.features.weights import WeightsError
from genbench.generators.copying import ShapesCopier
from genbench.harness.runner import EvalConfig, evaluate
from genbench.metrics.cmmd import cmmd
from genbench.metrics.frechet import frechet_distance
from genbench.metrics.registry import select_families
from genbench.metrics.vendi import vendi_score
from genbench.features.registry import get_extractor

CFG = EvalConfig(n=200, batch_size=200, resamples=4, kid_subsets=10, kid_subset_size=200)
MEMO = ("fid", "authpct", "ct", "mifid")


def test_vendi_runs_by_default_and_the_rest_by_name():
    default = {f.name for f in select_families(None)[0]}
    assert "vendi" in default
    assert not default & {"fid_inf", "is_inf", "authpct", "ct", "mifid", "cmmd", "fd_dinov2"}
    chosen, explicit = select_families(["cmmd", "authpct"])
    assert [f.name for f in chosen] == ["cmmd", "authpct"] and explicit


def test_vendi_family_is_the_vendi_score_of_the_sample_features():
    gen = ShapesCopier("test", pixels=0)
    record = evaluate(gen, metrics=["vendi"], config=CFG, progress=False)
    feats = get_extractor("shapes-net", device="cpu").features(shapes32("test", 0, CFG.n).images).double().numpy()
    assert record["metrics"]["vendi"]["value"] == pytest.approx(vendi_score(feats), rel=1e-5)
    assert record["metrics"]["vendi"]["q"] == 1.0
    lo, hi = record["metrics"]["vendi"]["ci"]
    assert lo <= record["metrics"]["vendi"]["value"] <= hi


@pytest.fixture(scope="module")
def memorization_records():
    copier = evaluate(ShapesCopier("train", pixels=4), metrics=MEMO, config=CFG, progress=False)
    fresh = evaluate(ShapesCopier("test", pixels=0), metrics=MEMO, config=CFG, progress=False)
    return copier, fresh


def test_a_copying_generator_is_caught_and_held_out_data_is_not(memorization_records):
    copier, fresh = (r["metrics"] for r in memorization_records)
    assert copier["authpct"]["value"] < 0.5 * fresh["authpct"]["value"]
    assert copier["ct"]["value"] < -5.0 < fresh["ct"]["value"]
    # MiFID / FID = 1 / memorization distance: copies sit far closer to the training rows than fresh
    # data does (in shapes-net space fresh data is itself below ε = 0.1, so compare the two)
    memorized = copier["mifid"]["value"] / copier["fid"]["value"]
    assert memorized > 10.0 * fresh["mifid"]["value"] / fresh["fid"]["value"]


def test_memorization_records_say_what_they_compared(memorization_records):
    copier, _ = memorization_records
    assert copier["provenance"]["config"]["heldout"] == "shapes32:test"
    assert copier["metrics"]["ct"]["heldout"] == "shapes32:test"
    assert copier["metrics"]["authpct"]["unit"] == "%"
    assert "ci" not in copier["metrics"]["ct"]  # a test statistic, no half-sampling interval


def test_ct_without_heldout_data_is_skipped_with_the_reason(tmp_path):
    images = shapes32("test", 0, 120).images.permute(0, 2, 3, 1).numpy()
    np.savez(tmp_path / "ref.npz", arr_0=images)
    record = evaluate(ShapesCopier("test", 0), str(tmp_path / "ref.npz"), metrics=["ct", "authpct"],
                      config=CFG, extractor="shapes-net", progress=False)
    assert "--heldout" in record["skipped"]["ct"]
    assert "authpct" in record["metrics"]


def test_heldout_data_must_have_rows_and_must_not_be_the_reference(tmp_path):
    feats = get_extractor("shapes-net", device="cpu").features(shapes32("test", 0, 100).images).double().numpy()
    np.savez(tmp_path / "pf.npz", mu=feats.mean(0), sigma=np.cov(feats, rowvar=False))
    never = ShapesCopier("train", 0)
    never.sample_range = None  # the checks come before any sampling
    with pytest.raises(GenbenchError, match="no feature rows"):
        evaluate(never, metrics=["ct"], config=CFG, heldout=str(tmp_path / "pf.npz"), extractor="shapes-net",
                 progress=False)
    with pytest.raises(GenbenchError, match="the reference itself"):
        evaluate(never, metrics=["ct"], config=CFG, heldout="shapes32:train", progress=False)


def test_fid_infinity_family_records_its_fit():
    record = evaluate(ShapesCopier("test", 0), metrics=["fid", "fid_inf"], config=CFG, progress=False)
    fit = record["metrics"]["fid_inf"]["fit"]
    assert len(fit["ns"]) == 15 and fit["ns"][-1] == CFG.n and len(fit["fids"]) == 15
    assert fit["fids"][-1] == pytest.approx(record["metrics"]["fid"]["value"], rel=1e-6)  # N = n: the whole sample


def test_second_feature_space_families_use_the_reference_images_in_that_space(tmp_path):
    """cmmd / fd_dinov2 with a cheap stand-in extractor: the family equals the function applied to
    the samples' and the reference images' features in that space."""
    ref_images = shapes32("test", 5000, 150).images
    np.savez(tmp_path / "ref.npz", arr_0=ref_images.permute(0, 2, 3, 1).numpy())
    cfg = EvalConfig(**{**CFG.__dict__, "cmmd_extractor": "shapes-clip", "dinov2_extractor": "shapes-net"})
    record = evaluate(ShapesCopier("test", 0), str(tmp_path / "ref.npz"), metrics=["cmmd", "fd_dinov2"], config=cfg,
                      extractor="shapes-net", progress=False)
    samples = shapes32("test", 0, CFG.n).images
    clip = get_extractor("shapes-clip", device="cpu")
    x, y = (clip.features(im).double().numpy() for im in (samples, ref_images))
    y16 = y.astype(np.float16).astype(np.float64)  # reference rows are stored as float16
    assert record["metrics"]["cmmd"]["value"] == pytest.approx(cmmd(x, y16), rel=1e-4, abs=1e-6)
    net = get_extractor("shapes-net", device="cpu")
    a, b = (net.features(im).double().numpy() for im in (samples, ref_images))
    expected = frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert record["metrics"]["fd_dinov2"]["value"] == pytest.approx(expected, rel=1e-4)
    assert record["metrics"]["cmmd"]["extractor"] == "shapes-clip"


def test_second_feature_space_needs_images_not_statistics(tmp_path):
    feats = get_extractor("shapes-net", device="cpu").features(shapes32("test", 0, 100).images).double().numpy()
    np.savez(tmp_path / "pf.npz", mu=feats.mean(0), sigma=np.cov(feats, rowvar=False))
    record = evaluate(ShapesCopier("test", 0), str(tmp_path / "pf.npz"), metrics=["fid", "cmmd"], config=CFG,
                      extractor="shapes-net", progress=False)
    assert "statistics, not images" in record["skipped"]["cmmd"]
    assert "fid" in record["metrics"]


def test_missing_cmmd_weights_fail_before_sampling_with_where_to_put_them(capsys):
    with pytest.raises(WeightsError, match="not found"):
        evaluate(ShapesCopier("test", 0), metrics=["cmmd"], config=CFG, progress=False)
    assert main(["eval", "genbench.generators.copying:ShapesCopier", "--metrics", "fd_dinov2", "-n", "20",
                 "--quiet"]) == 2
    assert "dinov2" in capsys.readouterr().err
