import json

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


def test_merge_equals_union():
    rng = np.random.default_rng(2)
    a, b, c = rng.standard_normal((40, 6)), rng.standard_normal((13, 6)) + 1, rng.standard_normal((90, 6))
    merged = FeatureStats.from_features(a).merge(FeatureStats.from_features(b)).merge(FeatureStats.from_features(c))
    union = FeatureStats.from_features(np.concatenate([a, b, c]))
    assert merged.n == union.n
    np.testing.assert_allclose(merged.sum, union.sum, rtol=1e-12)
    np.testing.assert_allclose(merged.sum_outer, union.sum_outer, rtol=1e-12)
    np.testing.assert_allclose(merged.cov, union.cov, rtol=1e-11)


def test_rows_kept_only_while_n_le_d():
    rng = np.random.default_rng(3)
    st = FeatureStats(4).update(rng.standard_normal((3, 4)))
    assert st.rows.shape == (3, 4)
    a = st.centred_factor()
    np.testing.assert_allclose(a.T @ a, st.cov, atol=1e-12)
    st.update(rng.standard_normal((2, 4)))
    assert st.rows is None and st.centred_factor() is None


def test_fewer_than_two_samples_and_dim_mismatch():
    st = FeatureStats(3).update(np.ones((1, 3)))
    with pytest.raises(ValueError, match="at least 2 samples, got n=1"):
        st.cov
    with pytest.raises(ValueError, match="dimension mismatch: stats have d=3, batch has d=4"):
        st.update(np.ones((2, 4)))
    with pytest.raises(ValueError, match="non-finite"):
        st.update(np.full((2, 3), np.nan))


def test_save_load_roundtrip_and_pytorch_fid_reads_it(tmp_path):
    from pytorch_fid.fid_score import calculate_frechet_distance

    x = np.random.default_rng(4).standard_normal((50, 8))
    st = FeatureStats.from_features(x, PROV)
    path = tmp_path / "stats.npz"
    st.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["stats.npz"]  # no temporary left behind
    with np.load(path) as f:  # exactly how pytorch-fid reads precomputed stats
        mu, sigma = f["mu"][:], f["sigma"][:]
        record = json.loads(str(f["provenance"]))
    assert calculate_frechet_distance(mu, sigma, st.mean, st.cov) == pytest.approx(0.0, abs=1e-8)
    assert record["extractor"] == "test-net" and record["n"] == 50 and "genbench_version" in record
    back = FeatureStats.load(path)
    assert back.n == 50 and back.provenance["weights_sha256"] == PROV["weights_sha256"]
    np.testing.assert_allclose(back.cov, st.cov, rtol=1e-12)
    np.testing.assert_allclose(back.sum_outer, st.sum_outer, rtol=1e-10)
    assert back.rows is None  # 50 > 8: no rows stored


def test_truncated_npz_is_a_clear_error(tmp_path):
    path = tmp_path / "stats.npz"
    FeatureStats.from_features(np.random.default_rng(5).standard_normal((20, 4)), PROV).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cannot read statistics file.*truncated"):
        FeatureStats.load(path)
    np.savez(tmp_path / "other.npz", mean=np.zeros(3))
    with pytest.raises(ValueError, match=r"lacks \['mu', 'sigma'\]"):
        FeatureStats.load(tmp_path / "other.npz")


def test_failed_save_leaves_no_file(tmp_path, monkeypatch):
    st = FeatureStats.from_features(np.ones((3, 2)) * np.arange(3)[:, None])

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError):
        st.save(tmp_path / "s.npz")
    assert list(tmp_path.iterdir()) == []


def test_other_extractor_refused_naming_both():
    other = {**PROV, "extractor": "inception-v3-fid", "weights_sha256": "cd" * 32}
    with pytest.raises(ProvenanceMismatch, match=r"(?s)extractor='test-net'.*extractor='inception-v3-fid'"):
        check_same_space(PROV, other)
    a = FeatureStats.from_features(np.eye(3), PROV)
    with pytest.raises(ProvenanceMismatch):
        a.merge(FeatureStats.from_features(np.eye(3), other))
