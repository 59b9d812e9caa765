"""``genbench compare`` (``genbench.cli.compare``): the leaderboard's renderings state the rank rule,
ranks and ties, sample-count warnings per metric, and results of different feature spaces refused."""

import io
import json
from pathlib import Path

import pandas as pd

from genbench.cli import main
from genbench.reports.leaderboard import rank_rule

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "reports" / "example" / "results.json"


def _results(rows, extractor="shapes-net", sha="a" * 64, ssim=False):
    """A results file: name → (fid, fid low, fid high, fid n[, recall n]), the recall's n that of FID
    unless given; with ``ssim`` a pairwise SSIM record (n = 100 pairs) in every row."""

    def metrics(v, lo, hi, n, rn=None):
        out = {"fid": {"value": v, "ci": [lo, hi], "n": n},
               "recall": {"value": 0.5, "ci": [0.4, 0.6], "n": n if rn is None else rn}}
        if ssim:
            out["pairwise_ssim"] = {"value": 0.2, "ci": [0.1, 0.3], "n": 100}
        return out

    return {"models": {name: {"metrics": metrics(*row), "throughput": {"images_per_s": 10.0}}
                       for name, row in rows.items()},
            "provenance": {"extractor": extractor, "weights_sha256": sha}}


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


def test_sample_count_warnings_name_the_metric_and_rows(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_results({"m1": (10.0, 9.0, 11.0, 500, 500)}, ssim=True)))
    b.write_text(json.dumps(_results({"m2": (12.0, 11.5, 13.0, 2000, 500)}, ssim=True)))
    assert main(["compare", str(a), str(b), "--format", "json"]) == 0
    captured = capsys.readouterr()
    (warning,) = [line for line in captured.err.splitlines() if line.startswith("genbench: warning:")]
    assert "sample counts differ for fid (n = 500: m1; n = 2000: m2)" in warning and "recall" not in warning
    assert json.loads(captured.out)["warnings"] == [warning.removeprefix("genbench: warning: ")]
    # equal n per metric (SSIM: pairs)
    b.write_text(json.dumps(_results({"m2": (12.0, 11.5, 13.0, 500, 500)}, ssim=True)))
    assert main(["compare", str(a), str(b), "--format", "md"]) == 0
    assert "warning" not in capsys.readouterr().err.lower()


def test_compare_ranks_and_marks_ties(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_results({"m1": (10.0, 9.0, 11.0, 500), "m2": (3.0, 2.5, 3.5, 500)})))
    b.write_text(json.dumps(_results({"m3": (10.5, 9.8, 11.2, 500), "m4": (30.0, 28.0, 32.0, 500)})))
    assert main(["compare", str(a), str(b), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [(r["rank"], r["shared_rank"], r["model"]) for r in rows] == [(1, False, "m2"), (2, True, "m1"),
                                                                         (2, True, "m3"), (4, False, "m4")]
    assert main(["compare", str(a), str(b), "--metric", "recall"]) == 0  # all tied
    assert capsys.readouterr().out.count("=1") == 4


def test_compare_refuses_different_feature_spaces_and_flags_different_n(tmp_path, capsys):
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    a.write_text(json.dumps(_results({"m1": (10.0, 9.0, 11.0, 500)})))
    b.write_text(json.dumps(_results({"m2": (10.0, 9.0, 11.0, 500)}, extractor="inception-v3-fid")))
    c.write_text(json.dumps(_results({"m3": (10.0, 9.0, 11.0, 2000)})))
    assert main(["compare", str(a), str(b)]) == 2
    assert "different feature spaces" in capsys.readouterr().err
    assert main(["compare", str(a), str(c)]) == 0
    assert "sample counts differ for fid, recall (n = 500: m1; n = 2000: m3)" in capsys.readouterr().err
