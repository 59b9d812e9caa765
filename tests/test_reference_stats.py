"""The committed reference statistics are reproducible and consistent with the bundled weights."""

import json

import numpy as np
import pytest

from genbench.cli import main
from genbench.data.shapes32 import shapes32
from genbench.reference import load_reference, reference_paths
from genbench.registry import get_extractor

EXTRACTORS = ["shapes-net", "shapes-clip"]


@pytest.mark.parametrize("name", EXTRACTORS)
def test_committed_sample_is_recomputed(name):
    ext = get_extractor(name)
    ref = load_reference("shapes32", "train", name, expect=ext.provenance())
    assert ref.provenance["n"] == 50_000 and ref.stats.n == 50_000
    assert ref.provenance["weights_sha256"] == ext.weights_sha256
    feats = ext.features(shapes32("train", 0, 300).images).numpy()
    # the sample holds the features of train[0:sample_n] in float16
    np.testing.assert_allclose(ref.sample[:300], feats, rtol=2e-3, atol=2e-3 * np.abs(feats).max())


@pytest.mark.parametrize("name", EXTRACTORS)
def test_committed_stats_are_consistent_with_the_sample(name):
    ref = load_reference("shapes32", "train", name)
    # the first 10,000 images are a random fifth of the split: their mean lies within a few
    # standard errors of the full-split mean, coordinate by coordinate
    se = np.sqrt(np.diag(ref.stats.cov) / len(ref.sample))
    z = np.abs(ref.sample.mean(axis=0) - ref.stats.mean) / se
    assert np.median(z) < 2.0


def test_stats_command_writes_provenance(tmp_path):
    assert main(["stats", "shapes32", "--split", "test", "--num-samples", "600", "--sample-n", "200",
                 "--extractor", "shapes-net", "--out-dir", str(tmp_path), "--quiet"]) == 0
    stats_path, sample_path = reference_paths("shapes32", "test", "shapes-net", tmp_path)
    ref = load_reference("shapes32", "test", "shapes-net", root=tmp_path)
    assert ref.stats.n == 600 and ref.sample.shape[0] == 200
    with np.load(stats_path) as f:
        prov = json.loads(str(f["provenance"]))
    for key in ("dataset", "split", "n", "extractor", "weights_sha256", "preprocessing", "genbench_version"):
        assert key in prov
    assert prov["dataset"] == "shapes32" and prov["split"] == "test"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([stats_path.name, sample_path.name])


@pytest.mark.slow
@pytest.mark.parametrize("name", EXTRACTORS)
def test_full_recompute_matches_committed_stats(name, tmp_path):
    assert main(["stats", "shapes32", "--extractor", name, "--out-dir", str(tmp_path), "--quiet"]) == 0
    fresh = load_reference("shapes32", "train", name, root=tmp_path)
    committed = load_reference("shapes32", "train", name)
    np.testing.assert_allclose(fresh.stats.mean, committed.stats.mean, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(fresh.stats.cov, committed.stats.cov, rtol=1e-6, atol=1e-8)
