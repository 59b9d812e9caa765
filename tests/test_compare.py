"""Comparing records (``genbench.reports.compare``): a verdict per metric (``genbench check``) from
the direction and the intervals, or a tolerance, and the table of them."""

import pytest

from genbench.reports.compare import compare_metrics, verdict


def m(value, lo, hi):
    return {"value": value, "ci": [lo, hi]}


def test_direction_and_interval_overlap():
    assert verdict("fid", m(10, 9, 11), m(12, 10.5, 13.5)) == "tie"      # intervals overlap
    assert verdict("fid", m(10, 9, 11), m(14, 13, 15)) == "worse"        # FID up, disjoint
    assert verdict("fid", m(10, 9, 11), m(5, 4, 6)) == "better"
    assert verdict("precision", m(0.9, 0.88, 0.92), m(0.7, 0.68, 0.72)) == "worse"
    assert verdict("pairwise_ssim", m(0.2, 0.1, 0.3), m(0.9, 0.8, 1.0)) == "n/a"


def test_tolerance_overrides_intervals():
    assert verdict("fid", m(10, 9, 11), m(14, 13, 15), tolerance=5.0) == "tie"
    assert verdict("fid", m(10, 9.9, 10.1), m(10.5, 10.4, 10.6), tolerance=0.2) == "worse"


def test_compare_table():
    old = {"fid": m(10, 9, 11), "is": m(9.0, 8.9, 9.1)}
    new = {"fid": m(10.2, 9.5, 11), "is": m(9.5, 9.4, 9.6), "kid": m(0, 0, 0)}
    df = compare_metrics(old, new)
    assert list(df.index) == ["fid", "is"]
    assert df.loc["fid", "verdict"] == "tie" and df.loc["is", "verdict"] == "better"
    assert df.loc["fid", "difference"] == pytest.approx(0.2)
