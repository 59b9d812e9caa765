"""``genbench selfcheck``, ``genbench extractors`` and ``genbench models`` (``genbench.cli.info``):
the self-check's table and what it catches, the extractors listed, an unknown model as one error line."""

from genbench.cli import main
from genbench.selfcheck import run_checks
from test_cli import _one_error_line


def test_selfcheck_passes_and_prints_table(capsys):
    assert main(["selfcheck"]) == 0
    out = capsys.readouterr().out
    assert "0 failed" in out and "FID, diagonal Gaussians" in out


def test_selfcheck_detects_a_wrong_metric(monkeypatch):
    import genbench

    monkeypatch.setattr(genbench, "inception_score", lambda probs, **k: (9.0, 0.0))
    failed = [c.name for c in run_checks() if not c.ok]
    assert failed == ["IS, one-hot over 10 balanced classes"]


def test_extractors_are_listed(capsys):
    assert main(["extractors"]) == 0
    assert {"inception-v3-fid", "shapes-net", "clip:"} <= set(capsys.readouterr().out.split())


def test_unknown_model_name_is_a_one_line_user_error(capsys):
    assert main(["models", "no-such-model"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "no bundled model 'no-such-model'" in line and not line.endswith(('"', "'"))
