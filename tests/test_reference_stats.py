"""The committed reference statistics are reproducible and consistent with the bundled weights."""

import numpy as np
import pytest

from genbench.cli import main
from genbench.data.shapes32 import shapes32
from genbench.reference import load_reference
from genbench.features.registry import get_extractor

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


@pytest.mark.slow
@pytest.mark.parametrize("name", EXTRACTORS)
def test_full_recompute_matches_committed_stats(name, tmp_path):
    assert main(["stats", "shapes32", "--extractor", name, "--out-dir", str(tmp_path), "--quiet"]) == 0
    fresh = load_reference("shapes32", "train", name, root=tmp_path)
    committed = load_reference("shapes32", "train", name)
    np.testing.assert_allclose(fresh.stats.mean, committed.stats.mean, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(fresh.stats.cov, committed.stats.cov, rtol=1e-6, atol=1e-8)
