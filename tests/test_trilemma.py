"""The trilemma's corner rule (``genbench.reports.trilemma``) on constructed records: quality,
diversity and speed corners, conditioned models judged against the unconditional bars."""

from genbench.reports.trilemma import corners


def _record(fid, coverage, modes, ips, recall=0.5):
    return {"metrics": {"fid": {"value": fid}, "coverage": {"value": coverage}, "mode_coverage": {"value": modes},
                        "recall": {"value": recall}}, "throughput": {"images_per_s": ips}}


def test_corner_rule_on_a_textbook_trilemma():
    results = {"models": {"vae": _record(40.0, 0.8, 1.0, 5000.0), "gan": _record(8.0, 0.3, 0.7, 8000.0),
                          "ddpm": _record(5.0, 0.85, 1.0, 2.0), "ddim": _record(7.0, 0.8, 0.99, 100.0)}}
    assert corners(results) == {"vae": ["diversity", "speed"], "gan": ["quality", "speed"],
                                "ddpm": ["quality", "diversity"], "ddim": ["quality", "diversity"]}
    # off-manifold samples with a high recall do not buy the diversity corner: coverage decides
    results["models"]["junk"] = _record(500.0, 0.01, 0.5, 100.0, recall=0.99)
    assert corners(results)["junk"] == []


def test_conditioned_models_are_judged_against_the_unconditional_bars():
    results = {"models": {"gan": _record(10.0, 0.3, 0.7, 800.0), "ddpm": _record(9.0, 0.8, 1.0, 1.0),
                          "ddim-10": _record(11.0, 0.7, 0.9, 40.0)}}
    alone = corners(results)
    assert alone == {"gan": ["quality", "speed"], "ddpm": ["quality", "diversity"], "ddim-10": ["quality"]}
    # a caption-conditioned model far better on FID and coverage sets no bar, and is judged by them
    results["models"]["ldm"] = _record(3.0, 2.0, 1.0, 5.0) | {"meta": {"conditioning": "caption"}}
    assert corners(results) == alone | {"ldm": ["quality", "diversity"]}
    # were it unconditional, it would take quality and diversity from every other row
    results["models"]["ldm"]["meta"]["conditioning"] = "none"
    assert corners(results) == {"gan": ["speed"], "ddpm": [], "ddim-10": [], "ldm": ["quality", "diversity"]}


def test_speed_corner_lies_one_order_of_magnitude_from_the_fastest():
    results = {"models": {"a": _record(1.0, 1.0, 1.0, 1000.0), "b": _record(1.0, 1.0, 1.0, 100.5),
                          "c": _record(1.0, 1.0, 1.0, 99.5)}}
    assert [("speed" in v) for v in corners(results).values()] == [True, True, False]
