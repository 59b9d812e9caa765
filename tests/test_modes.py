import numpy as np
import pytest

from genbench.metrics.modes import cell_histogram, mode_coverage


def test_uniform_samples_cover_everything_with_zero_kl():
    data = np.ones(80)
    res = mode_coverage(np.arange(800) % 80, data)
    assert res["coverage"] == 1.0 and res["occupied"] == 80
    assert res["kl"] == pytest.approx(0.0, abs=1e-12)


def test_single_mode_collapse():
    res = mode_coverage(np.full(500, 7), np.ones(80))
    assert res["coverage"] == 1 / 80
    assert res["kl"] == pytest.approx(np.log(80), rel=1e-12)


def test_half_the_modes_closed_form():
    res = mode_coverage(np.arange(1000) % 40, cell_histogram(np.arange(8000) % 80, 80))
    assert res["coverage"] == 0.5 and res["kl"] == pytest.approx(np.log(2), rel=1e-12)
    assert mode_coverage(np.arange(40) % 40, np.ones(80), min_count=2)["occupied"] == 0


def test_bad_ids_and_histograms():
    with pytest.raises(ValueError, match=r"\[0, 80\)"):
        mode_coverage(np.array([80]), np.ones(80))
    with pytest.raises(ValueError, match="histogram"):
        mode_coverage(np.array([1]), -np.ones(80))
    assert mode_coverage(np.array([2]), np.r_[np.zeros(3), np.ones(77)])["kl"] == np.inf
