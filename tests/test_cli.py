"""The ``genbench`` command line as a whole (``genbench.cli``): the version, and which errors are
printed: user-input errors as one ``genbench: error:`` line (exit 2); programming errors propagate."""

import subprocess
import sys

import pytest

import genbench.cli.info as info
from genbench import __version__
from genbench.cli import main
from genbench.errors import GenbenchError


def _one_error_line(err: str) -> str:
    """The single ``genbench: error: …`` line that stderr must consist of."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genbench: error: "), err
    return lines[0]


def test_version_console_script():
    out = subprocess.run([sys.executable, "-m", "genbench", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"genbench {__version__}"


def test_errors_exit_nonzero_with_a_message(capsys):
    assert main(["stats", "cifar10"]) == 2
    assert "unknown image source 'cifar10'" in capsys.readouterr().err


def test_a_key_error_inside_a_command_is_a_bug_not_a_user_error(monkeypatch, capsys):
    def broken(args):
        raise KeyError("x")

    monkeypatch.setattr(info, "run_extractors", broken)
    with pytest.raises(KeyError):
        main(["extractors"])
    assert "genbench: error" not in capsys.readouterr().err


def test_genbench_error_is_a_value_error():
    assert issubclass(GenbenchError, ValueError)  # `except ValueError` callers keep working
