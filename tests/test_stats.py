import numpy as np
import pytest
import torch

from genbench.metrics.stats import FeatureStats, ProvenanceMismatch, check_same_space

PROV = {"extractor": "test-net", "weights_sha256": "ab" * 32, "preprocessing": "none"}


def test_mean_and_unbiased_cov_match_numpy():
    x = np.random.default_rng(0).standard_normal((300, 7)) * 3 + 5
    st = FeatureStats.from_features(x)
    assert st.n == 300
    np.testing.assert_allclose(st.mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(st.cov, np.cov(x, rowvar=False), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("batch", [1, 7, 64, 300])
def test_streaming_is_batch_size_independent(batch):
    x = np.random.default_rng(1).standard_normal((300, 5))
    whole = FeatureStats.from_features(x)
    st = FeatureStats(5)
    for i in range(0, 300, batch):
        st.update(torch.from_numpy(x[i:i + batch]).float())  # float32 input is summed in float64
    np.testing.assert_allclose(st.cov, FeatureStats.from_features(x.astype(np.float32)).cov, rtol=1e-12)
    np.testing.assert_allclose(st.mean, whole.mean, atol=1e-6)


def test_other_extractor_refused_naming_both():
    other = {**PROV, "extractor": "inception-v3-fid", "weights_sha256": "cd" * 32}
    with pytest.raises(ProvenanceMismatch, match=r"(?s)extractor='test-net'.*extractor='inception-v3-fid'"):
        check_same_space(PROV, other)
