"""The report plots' helpers (``genbench.reports.plots``): the Pareto front of (time, FID) points."""

from genbench.reports.plots import pareto_front


def test_pareto_front_minimises_both_coordinates():
    pts = [(1.0, 10.0), (2.0, 5.0), (3.0, 6.0), (4.0, 1.0), (0.5, 20.0), (2.0, 4.0)]
    assert pareto_front(pts) == [4, 0, 5, 3]
