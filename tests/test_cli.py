import subprocess
import sys

from genbench import __version__
from genbench.cli import main
from genbench.selfcheck import run_checks


def test_version_console_script():
    out = subprocess.run([sys.executable, "-m", "genbench", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"genbench {__version__}"


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


def test_errors_exit_nonzero_with_a_message(capsys):
    assert main(["stats", "cifar10"]) == 2
    assert "unknown source 'cifar10'" in capsys.readouterr().err
