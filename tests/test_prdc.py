import numpy as np
import pytest
from prdc import compute_prdc

from genbench.metrics.prdc import density_coverage, knn_radii_sq, precision_recall


@pytest.mark.parametrize("seed,shift,scale", [(0, 0.0, 1.0), (1, 0.3, 1.4), (2, 1.0, 0.5)])
def test_agrees_with_prdc_package(seed, shift, scale):
    rng = np.random.default_rng(seed)
    real = rng.standard_normal((700, 32))
    fake = rng.standard_normal((600, 32)) * scale + shift
    ref3 = compute_prdc(real, fake, nearest_k=3)
    ref5 = compute_prdc(real, fake, nearest_k=5)
    pr = precision_recall(real, fake, k=3, chunk_rows=128)  # chunks smaller than the sets
    dc = density_coverage(real, fake, k=5, chunk_rows=97)
    assert pr["precision"] == pytest.approx(ref3["precision"], abs=1e-12)
    assert pr["recall"] == pytest.approx(ref3["recall"], abs=1e-12)
    assert dc["density"] == pytest.approx(ref5["density"], abs=1e-12)
    assert dc["coverage"] == pytest.approx(ref5["coverage"], abs=1e-12)


def test_chunk_size_does_not_change_results():
    rng = np.random.default_rng(3)
    real, fake = rng.standard_normal((300, 8)), rng.standard_normal((200, 8)) + 0.2
    assert precision_recall(real, fake, chunk_rows=7) == precision_recall(real, fake, chunk_rows=10_000)
    assert density_coverage(real, fake, chunk_rows=7) == density_coverage(real, fake, chunk_rows=10_000)


def test_radii_exclude_the_point_itself():
    x = np.array([[0.0], [1.0], [3.0], [6.0]])
    import torch
    r2 = knn_radii_sq(torch.from_numpy(x), k=1)
    assert r2.tolist() == [1.0, 1.0, 4.0, 9.0]


def test_identical_sets_are_perfect():
    x = np.random.default_rng(4).standard_normal((200, 6))
    assert precision_recall(x, x) == {"precision": 1.0, "recall": 1.0}
    assert density_coverage(x, x)["coverage"] == 1.0


def test_bad_inputs():
    with pytest.raises(ValueError, match="more than k samples"):
        precision_recall(np.zeros((3, 2)), np.zeros((10, 2)), k=3)
    with pytest.raises(ValueError, match="dimension mismatch"):
        density_coverage(np.zeros((10, 2)), np.zeros((10, 3)))
