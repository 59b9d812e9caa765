import numpy as np
import pytest
import torch
from scipy.stats import mannwhitneyu
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors
from torchmetrics.image.mifid import MemorizationInformedFrechetInceptionDistance

from genbench.metrics.frechet import frechet_distance
from genbench.metrics.memorization import (
    authenticity,
    authpct,
    ct_from_cells,
    ct_score,
    memorization_distance,
    mifid,
    mifid_from_fid,
)

D = 32


@pytest.fixture(scope="module")
def sets():
    rng = np.random.default_rng(0)
    train = rng.standard_normal((1000, D))
    return {
        "train": train,
        "test": rng.standard_normal((500, D)),
        "fresh": rng.standard_normal((1000, D)),
        "copy": train + 0.05 * rng.standard_normal(train.shape),             # every training row, jittered
        "half": np.concatenate([train[:500], train[:500]]) + 0.05 * rng.standard_normal(train.shape),
    }


# -- references, transcribed -----------------------------------------------------------------

def dgm_eval_authentic(train_feat, gen_feat, dtype=torch.float64):
    """dgm-eval metrics/authpct.py ``compute_authpct``, returning the per-fake booleans."""
    train_feat = torch.tensor(train_feat, dtype=dtype)
    gen_feat = torch.tensor(gen_feat, dtype=dtype)
    real_dists = torch.cdist(train_feat, train_feat)
    real_dists.fill_diagonal_(float("inf"))
    gen_dists = torch.cdist(train_feat, gen_feat)
    real_min_dists = real_dists.min(axis=0)
    gen_min_dists = gen_dists.min(dim=0)
    return (real_min_dists.values[gen_min_dists.indices] < gen_min_dists.values).numpy()


def meehan_zu(Pn, Qm, T):
    """casey-meehan/data-copying data_copying_tests.py ``Zu`` (as vendored in dgm-eval ct.py)."""
    m, n = Qm.shape[0], Pn.shape[0]
    T_NN = NearestNeighbors(n_neighbors=1).fit(T)
    LQm, _ = T_NN.kneighbors(X=Qm, n_neighbors=1)
    LPn, _ = T_NN.kneighbors(X=Pn, n_neighbors=1)
    u, _ = mannwhitneyu(LQm, LPn, alternative="less")
    mean = (n * m / 2) - 0.5
    std = np.sqrt(n * m * (n + m + 1) / 12)
    return ((u - mean) / std).item()


def meehan_c_t(Pn, Pn_cells, Qm, Qm_cells, T, T_cells, tau):
    """``C_T`` and ``Zu_cells`` of the same file."""
    m, n = Qm.shape[0], Pn.shape[0]
    k = np.max(np.unique(T_cells)) + 1
    labels, cts = np.unique(Qm_cells, return_counts=True)
    Qm_cts = np.zeros(k)
    Qm_cts[labels.astype(int)] = cts
    Pi_tau = Qm_cts / m > tau
    labels, cts = np.unique(Pn_cells, return_counts=True)
    Pn_cts = np.zeros(k)
    Pn_cts[labels.astype(int)] = cts
    Pn_of_pi = Pn_cts / n
    Zu_scores = np.zeros(len(np.unique(Pn_cells)))
    for i in range(len(Zu_scores)):
        if (Qm_cells == i).sum() > 0:
            Zu_scores[i] = meehan_zu(Pn[Pn_cells == i], Qm[Qm_cells == i], T[T_cells == i])
    return Pn_of_pi[Pi_tau].dot(Zu_scores[Pi_tau]) / np.sum(Pn_of_pi[Pi_tau])


def dgm_eval_ct_score(train_feat, test_feat, gen_feat, seed):
    """dgm-eval ``compute_CTscore`` with PCA and KMeans given ``random_state=seed``."""
    if train_feat.shape[1] > 64:
        pca = PCA(n_components=64, random_state=seed).fit(train_feat)
        train_feat, test_feat, gen_feat = pca.transform(train_feat), pca.transform(test_feat), pca.transform(gen_feat)
    km = KMeans(n_clusters=3, n_init=10, random_state=seed).fit(train_feat)
    return meehan_c_t(test_feat, km.predict(test_feat), gen_feat, km.predict(gen_feat), train_feat,
                      km.predict(train_feat), tau=20 / len(gen_feat))


def torchmetrics_mifid(real, fake, eps=0.1):
    metric = MemorizationInformedFrechetInceptionDistance(feature=torch.nn.Identity(), cosine_distance_eps=eps)
    metric.update(torch.from_numpy(real), real=True)
    metric.update(torch.from_numpy(fake), real=False)
    return metric.compute().item()


# -- authenticity ----------------------------------------------------------------------------

@pytest.mark.parametrize("fake_key", ["test", "fresh", "copy", "half"])
def test_authenticity_equals_dgm_eval(sets, fake_key):
    train, fake = sets["train"], sets[fake_key]
    ours = authenticity(train, fake)
    np.testing.assert_array_equal(ours, dgm_eval_authentic(train, fake))
    # dgm-eval itself runs in float32: same verdicts on these data
    assert authpct(train, fake) == pytest.approx(100 * dgm_eval_authentic(train, fake, torch.float32).mean(), abs=0.1)


def test_authenticity_counts_duplicate_training_rows_as_neighbours():
    train = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [5.0, 6.0]])
    fake = np.array([[0.1, 0.0], [5.0, 5.4]])
    # fake 0: nearest train (0, 0) at 0.1, whose other copy is at 0 → authentic;
    # fake 1: nearest (5, 5) at 0.4, whose nearest other is (5, 6) at 1 → not authentic
    np.testing.assert_array_equal(authenticity(train, fake), [True, False])
    np.testing.assert_array_equal(dgm_eval_authentic(train, fake), [True, False])


def test_authenticity_chunk_invariance(sets):
    train, fake = sets["train"][:300], sets["fresh"][:200]
    base = authenticity(train, fake, chunk=4096)
    for chunk in (1, 7, 64, 299):
        np.testing.assert_array_equal(authenticity(train, fake, chunk=chunk), base)


def test_authpct_flags_copies(sets):
    held_out = authpct(sets["train"], sets["test"])
    assert 60 < held_out < 90
    assert abs(authpct(sets["train"], sets["fresh"]) - held_out) < 8
    assert authpct(sets["train"], sets["copy"]) < 5
    assert authpct(sets["train"], sets["half"]) < 5


# -- C_T --------------------------------------------------------------------------------------

@pytest.mark.parametrize("fake_key", ["fresh", "copy"])
def test_ct_from_cells_equals_meehan(sets, fake_key):
    rng = np.random.default_rng(1)
    train, test, fake = sets["train"][:600], sets["test"], sets[fake_key][:400]
    labels = [rng.integers(0, 4, len(a)) for a in (train, test, fake)]
    labels[2][labels[2] == 3] = 2  # cell 3 has no fakes: excluded, as in Meehan's code
    ours = ct_from_cells(train, labels[0], test, labels[1], fake, labels[2])
    ref = meehan_c_t(test, labels[1], fake, labels[2], train, labels[0], tau=20 / len(fake))
    assert ours["value"] == pytest.approx(ref, rel=1e-12)
    assert ours["cells_used"] == 3 and ours["cell_used"] == [True, True, True, False]


def test_ct_from_cells_drops_cells_with_at_most_20_fakes(sets):
    train, test, fake = sets["train"][:300], sets["test"][:300], sets["fresh"][:100]
    t_lab, p_lab = np.arange(300) % 2, np.arange(300) % 2
    q_lab = np.zeros(100, int)
    q_lab[:20] = 1  # exactly 20 fakes in cell 1: not more than τ·m → dropped
    ours = ct_from_cells(train, t_lab, test, p_lab, fake, q_lab)
    ref = meehan_c_t(test, p_lab, fake, q_lab, train, t_lab, tau=20 / 100)
    assert ours["cell_used"] == [True, False]
    assert ours["value"] == pytest.approx(ref, rel=1e-12) and ours["value"] == pytest.approx(ours["cell_z"][0])


@pytest.mark.parametrize("d", [D, 80])  # 80 > 64 takes the PCA path
def test_ct_score_equals_dgm_eval_pipeline(d):
    rng = np.random.default_rng(2)
    train, test = rng.standard_normal((600, d)), rng.standard_normal((300, d))
    fake = np.concatenate([train[:150] + 0.01 * rng.standard_normal((150, d)), rng.standard_normal((250, d))])
    ours = ct_score(train, test, fake, seed=3)
    assert ours["value"] == pytest.approx(dgm_eval_ct_score(train, test, fake, seed=3), rel=1e-10)
    assert ours["num_cells"] == 3 and ours["pca_dim"] == (64 if d > 64 else None)


def test_ct_flags_copies(sets):
    train, test = sets["train"][:600], sets["test"][:300]
    fresh = ct_score(train, test, sets["fresh"][:400])
    copy = ct_score(train, test, sets["copy"][:400])
    assert abs(fresh["value"]) < 3
    assert copy["value"] < -10
    assert copy["cells_used"] == fresh["cells_used"] == 3


# -- MiFID ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fake_key", ["fresh", "copy", "half"])
@pytest.mark.parametrize("eps", [0.1, 0.5])
def test_mifid_equals_torchmetrics(sets, fake_key, eps):
    real, fake = sets["train"], sets[fake_key]
    assert mifid(real, fake, cosine_eps=eps) == pytest.approx(torchmetrics_mifid(real, fake, eps), rel=1e-6)


def test_mifid_definition(sets):
    real, fresh, copy = sets["train"], sets["fresh"], sets["copy"]
    fid_fresh = frechet_distance(real.mean(0), np.cov(real, rowvar=False), fresh.mean(0), np.cov(fresh, rowvar=False))
    assert memorization_distance(real, fresh) > 0.1        # fresh draws: no penalty
    assert mifid(real, fresh) == pytest.approx(fid_fresh, rel=1e-10)
    fid_copy = frechet_distance(real.mean(0), np.cov(real, rowvar=False), copy.mean(0), np.cov(copy, rowvar=False))
    m = memorization_distance(real, copy)
    assert m < 0.01
    assert mifid(real, copy) == pytest.approx(fid_copy / (m + 1e-14), rel=1e-8)
    assert mifid(real, copy) > 100 * fid_copy                # copies: MiFID ≫ FID
    assert mifid(real, real) == 0.0                          # FID ≤ 1e-8 → 0
    assert mifid_from_fid(fid_copy, real, copy) == pytest.approx(mifid(real, copy), rel=1e-10)
    assert mifid_from_fid(5e-9, real, copy) == 0.0


def test_mifid_averaging_direction(sets):
    # Half the training rows copied twice: averaged over the fakes (paper, Kaggle) every fake is
    # a near-copy; averaged over the reals (torchmetrics) half the reals have no copy, M > eps.
    real, half = sets["train"], sets["half"]
    assert memorization_distance(half, real) < 0.01
    assert memorization_distance(real, half) > 0.1
    assert mifid(real, half, mean_over="fake") > 100 * mifid(real, half, mean_over="real")


def test_memorization_distance_chunks_and_zero_rows(sets):
    a, b = sets["fresh"][:100], sets["train"][:150]
    base = memorization_distance(a, b)
    assert memorization_distance(a, b, chunk=7) == pytest.approx(base, rel=1e-12)
    padded = np.concatenate([a, np.zeros((5, D))])
    assert memorization_distance(padded, b) == pytest.approx(base, rel=1e-12)


def test_bad_inputs(sets):
    with pytest.raises(ValueError, match="dimension mismatch"):
        authenticity(np.zeros((5, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="mean_over"):
        mifid(sets["train"], sets["fresh"], mean_over="both")
    with pytest.raises(ValueError, match="lack test"):
        ct_from_cells(sets["train"][:10], np.arange(10) % 2, sets["test"][:10], np.zeros(10, int),
                      sets["fresh"][:10], np.zeros(10, int))
