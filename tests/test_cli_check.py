"""`genbench baseline` / `genbench check` (``genbench.cli.check``, ``genbench.testing``) and the pytest
plugin: unchanged passes, degraded fails; both commands work without pytest installed, the fixture
lives in the plugin, and a file that is not a baseline is one error line."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from genbench.cli import main
from genbench.generators.user import CallableGenerator
from genbench.harness.presets import get_preset
from genbench.harness.runner import EvalConfig
from genbench.metrics.registry import judged_metrics
from test_cli import _one_error_line
from test_user_generators import _samples_npz

GENERATORS = '''
import torch
from genbench.data.disturb import gaussian_noise
from genbench.data.shapes32 import shapes32

def clean(seed, start, n):
    return shapes32("test", start, n).images

def noisy(seed, start, n):
    return gaussian_noise(clean(seed, start, n), 0.5, torch.Generator().manual_seed(seed * 1_000_003 + start))
'''
SETTINGS = ["-n", "300", "--batch-size", "100", "--resamples", "5", "--quiet"]


@pytest.fixture
def generators(tmp_path, monkeypatch):
    (tmp_path / "qa_generators.py").write_text(GENERATORS)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    return importlib.import_module("qa_generators")


def test_cli_baseline_then_check(tmp_path, generators, capsys):
    baseline = tmp_path / "baseline.json"
    assert main(["baseline", "qa_generators:clean", "-o", str(baseline), *SETTINGS]) == 0
    recorded = json.loads(baseline.read_text())
    assert recorded["provenance"]["config"]["n"] == 300
    capsys.readouterr()
    assert main(["check", "qa_generators:clean", "--baseline", str(baseline), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and " worse\n" not in out  # identical samples: every verdict a tie
    assert main(["check", "qa_generators:noisy", "--baseline", str(baseline), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and " worse\n" in out
    # a loose enough tolerance on every judged metric lets the degraded generator through
    loose = [f"--tolerance={m}=1e9" for m in judged_metrics()]
    assert main(["check", "qa_generators:noisy", "--baseline", str(baseline), "--quiet", *loose]) == 0


def test_pytest_plugin_fixture(tmp_path, generators, genbench_check):
    config = EvalConfig(n=300, batch_size=100, resamples=5)
    baseline = tmp_path / "plugin_baseline.json"
    clean = CallableGenerator(generators.clean, "clean")
    assert genbench_check(clean, baseline, config=config) is None  # first run records
    table = genbench_check(clean, baseline)
    assert set(table["verdict"]) <= {"tie", "n/a"}
    with pytest.raises(pytest.fail.Exception, match="sample quality regressed"):
        genbench_check(CallableGenerator(generators.noisy, "clean"), baseline)


DEGRADED_BUNDLED = '''
import torch
import genbench as gb
from genbench.data.disturb import gaussian_noise

_GAN = []

def noisy_gan(seed, start, n):
    if not _GAN:
        _GAN.append(gb.get_generator("gan", device="cpu"))
    clean = _GAN[0].sample_range(seed, start, n)
    return gaussian_noise(clean, 1.0, torch.Generator().manual_seed(seed * 1_000_003 + start))
'''


def test_bundled_generator_check_with_the_smoke_preset(tmp_path, monkeypatch, capsys, one_thread):
    """The bundled GAN (trained weights) against its own smoke baseline passes; the same GAN with
    added noise fails."""
    (tmp_path / "degraded_bundled.py").write_text(DEGRADED_BUNDLED)
    monkeypatch.syspath_prepend(str(tmp_path))
    baseline = tmp_path / "gan-smoke.json"
    assert main(["baseline", "gan", "--preset", "smoke", "--device", "cpu", "-o", str(baseline), "--quiet"]) == 0
    recorded = json.loads(baseline.read_text())
    smoke = get_preset("smoke")
    assert recorded["provenance"]["config"]["n"] == smoke.n and "gan" in recorded["models"]
    assert recorded["models"]["gan"]["meta"]["options"]["micro_batch"] == smoke.micro_batch  # the preset's
    capsys.readouterr()
    assert main(["check", "gan", "--device", "cpu", "--baseline", str(baseline), "--quiet"]) == 0
    assert "PASS" in capsys.readouterr().out
    assert main(["check", "degraded_bundled:noisy_gan", "--baseline", str(baseline), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and " worse\n" in out


BLOCK_PYTEST = textwrap.dedent('''
    import importlib.abc
    import sys

    class BlockPytest(importlib.abc.MetaPathFinder):  # as if the test extra were not installed
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("pytest", "_pytest"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, BlockPytest())
    for name in [m for m in sys.modules if m.split(".")[0] in ("pytest", "_pytest")]:
        del sys.modules[name]
    try:
        import pytest
    except ModuleNotFoundError:
        pass
    else:
        raise SystemExit("pytest is still importable")

    import genbench.cli
    import genbench.testing
    from genbench.testing import check_against_baseline, record_baseline

    rc = genbench.cli.main(["baseline", "qa_papercut_gen:clean", "-n", "20", "--batch-size", "20",
                            "--resamples", "2", "-o", "baseline.json", "--quiet"])
    assert rc == 0, rc
    # check imports what it needs, then stops on the bad tolerance before sampling (exit 2)
    rc = genbench.cli.main(["check", "qa_papercut_gen:clean", "--baseline", "baseline.json",
                            "--tolerance", "fid=abc"])
    assert rc == 2, rc
    assert not [m for m in sys.modules if m.split(".")[0] in ("pytest", "_pytest")]
    print("ok")
''')


def test_baseline_and_check_work_without_pytest(tmp_path):
    (tmp_path / "qa_papercut_gen.py").write_text(textwrap.dedent('''
        from genbench.data.shapes32 import shapes32

        def clean(seed, start, n):
            return shapes32("test", start, n).images
    '''))
    proc = subprocess.run([sys.executable, "-c", BLOCK_PYTEST], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})  # cwd: "" on sys.path
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "ok"
    assert "--tolerance takes METRIC=VALUE" in proc.stderr
    assert (tmp_path / "baseline.json").is_file()


def test_the_fixture_lives_in_the_pytest_plugin(genbench_check):
    import genbench.pytest_plugin
    import genbench.testing

    assert callable(genbench_check)  # the entry point (pyproject.toml pytest11) registered it
    assert not hasattr(genbench.testing, "genbench_check")  # one home: the plugin imports testing, not back


@pytest.mark.parametrize("content", ['{"models": {}}', '{"models": {"a": {"metrics": {}}, "b": {"metrics": {}}}, '
                                     '"provenance": {"config": {}}}', "[1, 2]", "not json"],
                         ids=["no-provenance", "two-models", "list", "not-json"])
def test_check_against_a_file_that_is_not_a_baseline(tmp_path, capsys, content):
    samples = _samples_npz(tmp_path / "samples.npz")
    bad = tmp_path / "results.json"
    bad.write_text(content)
    assert main(["check", str(samples), "--baseline", str(bad), "--quiet"]) == 2
    assert str(bad) in _one_error_line(capsys.readouterr().err)


def test_record_baseline_takes_the_metrics_and_check_reuses_them(tmp_path):
    from genbench.generators.bundled import get_bundled
    from genbench.harness.runner import EvalConfig
    from genbench.testing import check_against_baseline, record_baseline

    config = EvalConfig(n=20, batch_size=10, resamples=3)
    written = record_baseline(get_bundled("vae", device="cpu", micro_batch=10), tmp_path / "b.json", config,
                              metrics=["fid"])
    (record,) = written["models"].values()
    assert set(record["metrics"]) == {"fid"} and written["provenance"]["config"]["metrics"] == ["fid"]
    table, passed = check_against_baseline("vae", tmp_path / "b.json")  # the recorded micro-batch, 10
    assert passed and list(table.index) == ["fid"] and (table["verdict"] == "tie").all()
    assert check_against_baseline(get_bundled("vae", device="cpu", micro_batch=10), tmp_path / "b.json")[1]
