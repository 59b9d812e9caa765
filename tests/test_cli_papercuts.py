"""Command-line papercuts: generator options equal to 0 reach the generator; `baseline` / `check`
work without pytest; `-n` / `--num-samples` (no `--n`, no abbreviations); unreadable image and
.npz files give one error line naming the file; only user-input errors are printed as errors."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

import genbench.cli.info as info
import genbench.generators.sources as sources
from genbench.cli import build_parser, main
from genbench.errors import GenbenchError


def _one_error_line(err: str) -> str:
    """The single ``genbench: error: …`` line that stderr must consist of."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genbench: error: "), err
    return lines[0]


# 1. generator options: given → passed (0 and 0.0 included); absent → not passed

@pytest.fixture
def captured_options(monkeypatch):
    """load_generator replaced by a stub that records (spec, options) and stops the command with a
    user error (exit 2) before any sampling."""
    calls = []

    def fake_load_generator(spec, **options):
        calls.append((spec, options))
        raise GenbenchError("stub generator: stop here")

    monkeypatch.setattr(sources, "load_generator", fake_load_generator)
    return calls


# bundled generators under a preset (eval, baseline) also get the preset's micro-batch unless one is given
DEFAULT_MB = {"micro_batch": 50}


@pytest.mark.parametrize("argv, expected", [
    (["eval", "ldm", "--guidance", "0", "--eta", "0"], {"guidance": 0.0, "eta": 0.0, **DEFAULT_MB}),
    (["eval", "ldm", "--guidance", "0.0", "--steps", "0"], {"guidance": 0.0, "steps": 0, **DEFAULT_MB}),
    (["eval", "ddim", "--steps", "10", "--sigma-hat", "--device", "cpu"], {"steps": 10, "sigma_hat": True,
                                                                         "device": "cpu", **DEFAULT_MB}),
    (["eval", "ddim"], DEFAULT_MB),
    (["eval", "ddim", "--preset", "smoke"], {"micro_batch": 32}),
    (["eval", "ddim", "--preset", "smoke", "--micro-batch", "8"], {"micro_batch": 8}),
    (["baseline", "ldm", "-o", "unused.json", "--guidance", "0"], {"guidance": 0.0, **DEFAULT_MB}),
    (["check", "ldm", "--baseline", "unused.json", "--eta", "0"], {"eta": 0.0}),
])
def test_given_generator_options_reach_the_generator_even_when_zero(argv, expected, captured_options, capsys):
    assert main(argv) == 2
    assert "stub generator: stop here" in _one_error_line(capsys.readouterr().err)
    ((spec, options),) = captured_options
    assert spec == argv[1]
    assert options == expected  # nothing omitted on the command line is passed (no sigma_hat=False, no None)
    for key in ("guidance", "eta"):
        if key in expected:
            assert type(options[key]) is float and options[key] == 0.0


# 2. `genbench baseline` / `genbench check` without pytest installed

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


# 3. -n / --num-samples on every subcommand that takes a sample count; no --n, no abbreviations

SAMPLE_COUNT_COMMANDS = [["run"], ["sweep", "ddim"], ["sweep", "guidance"], ["eval", "ddim"],
                         ["baseline", "ddim", "-o", "b.json"], ["stats", "shapes32"], ["disturb"]]


@pytest.mark.parametrize("command", SAMPLE_COUNT_COMMANDS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("flag", ["-n", "--num-samples"])
def test_num_samples_and_its_short_form(command, flag):
    args = build_parser().parse_args([*command, flag, "256"])
    assert args.num_samples == 256 and not hasattr(args, "n")
    assert build_parser().parse_args([*command, f"{flag}=256" if flag.startswith("--") else f"{flag}256"]
                                     ).num_samples == 256


@pytest.mark.parametrize("old", [["--n", "256"], ["--num", "256"], ["--num-sample", "256"]])
def test_no_old_name_and_no_abbreviations(old, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["eval", "ddim", *old])
    assert exc.value.code == 2
    assert f"unrecognized arguments: {' '.join(old)}" in capsys.readouterr().err


def test_other_options_are_not_abbreviated_either(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", "ddim", "--guid", "3"])  # --guidance written out only
    assert build_parser().parse_args(["eval", "ddim", "--guidance", "3"]).guidance == 3.0


# 4. unreadable image files and .npz files: one error line naming the file, exit 2

def _png_folder(folder, n=24):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def _garbage(path):
    path.write_bytes(b"this is not an image\n")


def _truncated(path):  # a valid header (the size scan passes), the pixel data cut: fails when read
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


@pytest.mark.parametrize("damage", [_garbage, _truncated], ids=["garbage", "truncated"])
@pytest.mark.parametrize("command", ["eval", "stats"])
def test_unreadable_image_in_a_folder(tmp_path, capsys, damage, command):
    folder = _png_folder(tmp_path / "imgs")
    bad = folder / "07.png"  # not the first file: a truncated one is met while sampling / extracting
    damage(bad)
    argv = (["eval", str(folder), "-n", "24", "--batch-size", "24", "--resamples", "2", "--quiet"]
            if command == "eval" else
            ["stats", str(folder), "--extractor", "shapes-net", "--out-dir", str(tmp_path / "stats"), "--quiet"])
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"cannot read image file {bad}" in line
    assert not (tmp_path / "stats").exists()


def test_unreadable_image_in_the_api_is_a_genbench_error(tmp_path):
    folder = _png_folder(tmp_path / "imgs", n=3)
    _garbage(folder / "01.png")
    with pytest.raises(GenbenchError, match="01.png"):
        sources.FolderSamples(folder)


def _samples_npz(path):
    np.savez(path, arr_0=np.random.default_rng(0).integers(0, 256, (12, 3, 32, 32), dtype=np.uint8))
    return path


def _npz_truncated(path):
    _truncated(_samples_npz(path))


def _npz_text(path):
    path.write_text("x,y\n1,2\n")


def _npz_bad_crc(path):
    data = bytearray(_samples_npz(path).read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the stored array: the zip's CRC check fails on reading
    path.write_bytes(bytes(data))


def _npz_empty(path):
    path.write_bytes(b"")


def _npy_renamed(path):
    with open(path, "wb") as f:
        np.save(f, np.zeros((12, 3, 32, 32), np.uint8))


@pytest.mark.parametrize("make", [_npz_truncated, _npz_text, _npz_bad_crc, _npz_empty, _npy_renamed],
                         ids=["truncated", "text", "bad-crc", "empty", "npy"])
def test_unreadable_npz(tmp_path, capsys, make):
    path = tmp_path / "x.npz"
    make(path)
    assert main(["eval", str(path), "--quiet"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert str(path) in line and "allow_pickle" not in line  # numpy's advice to unpickle is no help here
    with pytest.raises(GenbenchError, match="x.npz"):
        sources.NpzSamples(path)


# 5. user-input errors are printed (exit 2); programming errors propagate

def test_unknown_model_name_is_a_one_line_user_error(capsys):
    assert main(["models", "no-such-model"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "no bundled model 'no-such-model'" in line and not line.endswith(('"', "'"))


def test_unknown_extractor_is_a_user_error(tmp_path, capsys):
    path = _samples_npz(tmp_path / "samples.npz")
    assert main(["eval", str(path), "--extractor", "no-such-extractor", "-n", "20", "--quiet"]) == 2
    assert "unknown feature extractor 'no-such-extractor'" in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("content", ['{"models": {}}', '{"models": {"a": {"metrics": {}}, "b": {"metrics": {}}}, '
                                     '"provenance": {"config": {}}}', "[1, 2]", "not json"],
                         ids=["no-provenance", "two-models", "list", "not-json"])
def test_check_against_a_file_that_is_not_a_baseline(tmp_path, capsys, content):
    samples = _samples_npz(tmp_path / "samples.npz")
    bad = tmp_path / "results.json"
    bad.write_text(content)
    assert main(["check", str(samples), "--baseline", str(bad), "--quiet"]) == 2
    assert str(bad) in _one_error_line(capsys.readouterr().err)


def test_a_key_error_inside_a_command_is_a_bug_not_a_user_error(monkeypatch, capsys):
    def broken(args):
        raise KeyError("x")

    monkeypatch.setattr(info, "run_extractors", broken)
    with pytest.raises(KeyError):
        main(["extractors"])
    assert "genbench: error" not in capsys.readouterr().err


def test_genbench_error_is_a_value_error():
    assert issubclass(GenbenchError, ValueError)  # `except ValueError` callers keep working
