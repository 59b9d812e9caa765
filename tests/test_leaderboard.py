"""The leaderboard's rank rule (``genbench.reports.leaderboard``) on constructed intervals: a model's
rank is 1 + the number of models better than it with confidence (interval entirely on the better side),
so overlaps never chain; the sample-count warnings, per metric; and report.md ranks by the same rule."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from genbench.reports.leaderboard import (better_with_confidence, board_warnings, confident_ranks, leaderboard,
                                          rank_rule, ranked_rows, sample_count_warnings)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "reports" / "example" / "results.json"


def rec(value, lo=None, hi=None, n=200):
    out = {"value": value, "n": n}
    if lo is not None:
        out["ci"] = [lo, hi]
    return out


def models(metric="fid", **rows):
    return {name: {"metrics": {metric: r}} for name, r in rows.items()}


def ranks_by_model(board_models, metric="fid"):
    return {r["model"]: (r["rank"], r["shared_rank"]) for r in ranked_rows(board_models, metric)}


def test_a_chain_of_overlaps_does_not_tie_the_ends():
    # a overlaps b, b overlaps c, c overlaps d, but a's interval lies entirely below c's and d's
    got = ranks_by_model(models(a=rec(5, 4, 6), b=rec(7, 5.5, 8.5), c=rec(9, 8, 10), d=rec(11, 9.5, 12.5)))
    assert got == {"a": (1, True), "b": (1, True), "c": (2, False), "d": (3, False)}
    frame = leaderboard(models(a=rec(5, 4, 6), b=rec(7, 5.5, 8.5), c=rec(9, 8, 10), d=rec(11, 9.5, 12.5)))
    assert list(frame.index) == ["=1", "=1", "2", "3"] and list(frame["model"]) == ["a", "b", "c", "d"]


def test_the_issue_case_ddpm_is_not_tied_with_the_best():
    # the shape of the default run: each interval overlaps the next one only
    board = models(ldm=rec(5.9, 4.8, 7.5), ddim50=rec(9.4, 7.4, 11.6), ddim10=rec(11.1, 8.7, 14.0),
                   ddpm=rec(14.9, 12.0, 18.1), vae=rec(29.7, 23.1, 37.6), gan=rec(48.8, 41.5, 58.2))
    assert ranks_by_model(board) == {"ldm": (1, True), "ddim50": (1, True), "ddim10": (2, False), "ddpm": (3, False),
                                     "vae": (5, False), "gan": (6, False)}


def test_a_better_with_confidence_model_always_ranks_strictly_higher():
    """On random intervals of random widths: never a shared rank between a pair whose intervals
    are apart, ranks within 1..n, independent of the input order."""
    rng = np.random.default_rng(0)
    for sign in (-1, 1):
        for _ in range(200):
            n = int(rng.integers(2, 9))
            values = rng.normal(size=n).round(1)  # rounding makes equal values likely
            halfwidths = rng.uniform(0, 1.5, size=n)
            intervals = [(v - h, v + h) for v, h in zip(values, halfwidths)]
            ranks = confident_ranks(list(values), intervals, sign)
            assert all(1 <= r <= n for r in ranks)
            for i, j in itertools.permutations(range(n), 2):
                if better_with_confidence(sign, values[j], intervals[j], values[i], intervals[i]):
                    assert ranks[i] > ranks[j]
                if values[i] == values[j] and intervals[i] == intervals[j]:
                    assert ranks[i] == ranks[j]
            perm = rng.permutation(n)
            permuted = confident_ranks([values[p] for p in perm], [intervals[p] for p in perm], sign)
            assert permuted == [ranks[p] for p in perm]


def test_closed_form_cases():
    disjoint = [(v - 0.1, v + 0.1) for v in (1.0, 2.0, 3.0, 4.0)]
    assert confident_ranks([1.0, 2.0, 3.0, 4.0], disjoint, -1) == [1, 2, 3, 4]
    assert confident_ranks([1.0, 2.0, 3.0, 4.0], disjoint, +1) == [4, 3, 2, 1]
    common = [(0.0, 10.0), (4.0, 5.0), (1.0, 9.0)]  # all share the point 4.5
    assert confident_ranks([5.0, 4.5, 6.0], common, -1) == [1, 1, 1]
    assert confident_ranks([1.0, 2.0], [(0.0, 1.5), (1.5, 3.0)], -1) == [1, 1]  # touching ends overlap


def test_exact_ties_share_the_rank():
    got = ranks_by_model(models(a=rec(3, 2, 4), b=rec(3, 2, 4), c=rec(10, 9, 11)))
    assert got == {"a": (1, True), "b": (1, True), "c": (3, False)}
    got = ranks_by_model(models(a=rec(3), b=rec(3), c=rec(4)))  # no intervals
    assert got == {"a": (1, True), "b": (1, True), "c": (3, False)}
    # equal values share the rank even where (odd) intervals that miss the value are apart
    assert ranks_by_model(models(a=rec(3, 1, 2), b=rec(3, 4, 5))) == {"a": (1, True), "b": (1, True)}


def test_higher_is_better_metric():
    rows = dict(a=rec(0.9, 0.85, 0.95), b=rec(0.7, 0.65, 0.75), c=rec(0.8, 0.72, 0.88))
    recall = ranks_by_model(models("recall", **rows), "recall")
    assert [r["model"] for r in ranked_rows(models("recall", **rows), "recall")] == ["a", "c", "b"]
    assert recall == {"a": (1, True), "c": (1, True), "b": (2, False)}
    fid = ranks_by_model(models("fid", **rows), "fid")  # the same numbers, lower is better
    assert [r["model"] for r in ranked_rows(models("fid", **rows), "fid")] == ["b", "c", "a"]
    assert fid == {"b": (1, True), "c": (1, True), "a": (2, False)}


def test_records_without_an_interval_count_as_their_value():
    got = ranks_by_model(models(a=rec(5), b=rec(6, 4, 8), c=rec(9), d=rec(7, math.nan, math.nan)))
    # a: a point inside b's interval (tie with b); c: beyond a, b and d (point 7) → rank 4
    assert got == {"a": (1, True), "b": (1, True), "d": (2, False), "c": (4, False)}
    (row,) = [r for r in ranked_rows(models(a=rec(5), b=rec(6, 4, 8))) if r["model"] == "a"]
    assert row["fid 95% CI"] is None


def test_sample_counts_are_compared_within_a_metric_only():
    def record(fid_n, ssim_n=100, kid_n=200):
        return {"metrics": {"fid": rec(10, 9, 11, fid_n), "kid": rec(1, 0.5, 1.5, kid_n),
                            "pairwise_ssim": rec(0.2, 0.1, 0.3, ssim_n)}}

    same = {"a": record(200), "b": record(200)}
    assert sample_count_warnings(same, ["fid", "kid", "pairwise_ssim"]) == []  # 100 pairs vs 200 samples: no warning
    assert board_warnings(same, "fid") == []
    differ = {"a": record(200), "b": record(500), "c": record(200)}
    (warning,) = sample_count_warnings(differ, ["fid", "kid", "pairwise_ssim"])
    assert warning.startswith("sample counts differ for fid (n = 200: a, c; n = 500: b)")
    assert "kid" not in warning and "ssim" not in warning
    two = {"a": record(200, kid_n=200), "b": record(500, kid_n=500), "c": record(200, ssim_n=50)}
    warnings = sample_count_warnings(two, ["fid", "kid", "pairwise_ssim"])
    assert len(warnings) == 2
    assert warnings[0].startswith("sample counts differ for fid, kid (n = 200: a, c; n = 500: b)")
    assert warnings[1].startswith("sample counts differ for pairwise_ssim (n = 50: c; n = 100: a, b)")


def test_board_warnings_name_unranked_models():
    board = {"a": {"metrics": {"fid": rec(10, 9, 11)}}, "b": {"metrics": {"recall": rec(0.5, 0.4, 0.6)}},
             "c": {"metrics": {"fid": rec(math.nan)}}}
    assert board_warnings(board, "fid") == ["not ranked (no fid value): b, c"]
    assert [r["model"] for r in ranked_rows(board)] == ["a"]


def test_the_default_run_ranks_ldm_first_and_warns_of_nothing():
    """reports/example (the default run): every pair of models whose FID intervals are apart gets
    different ranks, the LDM is first, and the n of pairwise SSIM (pairs) raises no warning."""
    results = json.loads(EXAMPLE.read_text())
    rows = {r["model"]: r for r in ranked_rows(results["models"], "fid")}
    assert rows["ldm"]["rank"] == 1
    for a, b in itertools.combinations(rows, 2):
        (alo, ahi), (blo, bhi) = rows[a]["fid 95% CI"], rows[b]["fid 95% CI"]
        if ahi < blo or bhi < alo:
            assert rows[a]["rank"] != rows[b]["rank"]
    ldm_hi = rows["ldm"]["fid 95% CI"][1]
    for other in ("ddpm-1000", "ddim-10"):
        assert rows[other]["fid 95% CI"][0] > ldm_hi and rows[other]["rank"] > 1
    assert {r["metrics"]["pairwise_ssim"]["n"] for r in results["models"].values()} != {200}  # the trap is there
    assert board_warnings(results["models"], "fid") == []


@pytest.mark.parametrize("metric", ["recall", "precision", "is"])
def test_higher_is_better_metrics_of_the_default_run(metric):
    results = json.loads(EXAMPLE.read_text())
    rows = ranked_rows(results["models"], metric)
    values = [r[metric] for r in rows]
    assert values == sorted(values, reverse=True)
    best = rows[0]
    for r in rows[1:]:
        if r[f"{metric} 95% CI"][1] < best[f"{metric} 95% CI"][0]:
            assert r["rank"] > 1


def test_report_md_ranks_by_the_same_rule():
    from genbench.reports.run_report import report_markdown

    results = json.loads(EXAMPLE.read_text())
    report = report_markdown(results)
    section = report.split("## Ranking by FID", 1)[1].split("\n## ", 1)[0]
    assert rank_rule("fid") in section and "Warning" not in section
    rows = [line.strip("| ").split(" | ")[:2] for line in section.splitlines() if line.startswith("| ")][1:]
    assert rows[0][1] == "ldm" and rows[0][0].lstrip("=") == "1"
    assert {m for _, m in rows} == set(results["models"])
