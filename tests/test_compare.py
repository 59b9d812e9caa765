"""Comparing records: a verdict per metric (``genbench check``), and ``genbench compare``'s
leaderboard renderings: the rank rule under every format, sample-count warnings per metric."""

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from genbench.cli import main
from genbench.reports.compare import compare_metrics, verdict
from genbench.reports.leaderboard import rank_rule

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "reports" / "example" / "results.json"


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


# ---- genbench compare: the rank rule under every rendering, per-metric sample-count warnings ----


def _results(rows, sha="a" * 64):
    """A results file: name → (fid, fid low, fid high, fid n, recall n)."""
    return {"models": {name: {"metrics": {"fid": {"value": v, "ci": [lo, hi], "n": n},
                                          "recall": {"value": 0.5, "ci": [0.4, 0.6], "n": rn},
                                          "pairwise_ssim": {"value": 0.2, "ci": [0.1, 0.3], "n": 100}},
                              "throughput": {"images_per_s": 10.0}} for name, (v, lo, hi, n, rn) in rows.items()},
            "provenance": {"extractor": "shapes-net", "weights_sha256": sha}}


def test_every_format_states_the_rank_rule(capsys):
    rule = rank_rule("fid")
    outputs = {}
    for fmt in ("table", "csv", "md", "json"):
        assert main(["compare", str(EXAMPLE), "--format", fmt]) == 0
        captured = capsys.readouterr()
        outputs[fmt] = captured.out
        assert "warning" not in captured.err  # the default run's n are equal per metric
    assert outputs["table"].rstrip("\n").splitlines()[-1] == rule
    assert outputs["csv"].rstrip("\n").splitlines()[-1] == f"# {rule}"
    frame = pd.read_csv(io.StringIO(outputs["csv"]), comment="#")  # the rule is a comment to CSV readers
    assert len(frame) == 6 and frame["rank"].astype(str).str.lstrip("=").astype(int).min() == 1
    assert rule in outputs["md"].split("\n\n")[1]
    board = json.loads(outputs["json"])
    assert board["rank_rule"] == rule and board["warnings"] == [] and board["direction"] == "lower is better"
    assert [r["rank"] for r in board["rows"]] == sorted(r["rank"] for r in board["rows"])  # FID: no wide outlier here
    assert rank_rule("recall") != rule and "higher recall" in rank_rule("recall")


def test_report_md_ranks_by_the_same_rule():
    from genbench.reports.run_report import report_markdown

    results = json.loads(EXAMPLE.read_text())
    report = report_markdown(results)
    section = report.split("## Ranking by FID", 1)[1].split("\n## ", 1)[0]
    assert rank_rule("fid") in section and "Warning" not in section
    rows = [line.strip("| ").split(" | ")[:2] for line in section.splitlines() if line.startswith("| ")][1:]
    assert rows[0][1] == "ldm" and rows[0][0].lstrip("=") == "1"
    assert {m for _, m in rows} == set(results["models"])


def test_sample_count_warnings_name_the_metric_and_rows(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_results({"m1": (10.0, 9.0, 11.0, 500, 500)})))
    b.write_text(json.dumps(_results({"m2": (12.0, 11.5, 13.0, 2000, 500)})))
    assert main(["compare", str(a), str(b), "--format", "json"]) == 0
    captured = capsys.readouterr()
    (warning,) = [line for line in captured.err.splitlines() if line.startswith("genbench: warning:")]
    assert "sample counts differ for fid (n = 500: m1; n = 2000: m2)" in warning and "recall" not in warning
    assert json.loads(captured.out)["warnings"] == [warning.removeprefix("genbench: warning: ")]
    b.write_text(json.dumps(_results({"m2": (12.0, 11.5, 13.0, 500, 500)})))  # equal n per metric (SSIM: pairs)
    assert main(["compare", str(a), str(b), "--format", "md"]) == 0
    assert "warning" not in capsys.readouterr().err.lower()
