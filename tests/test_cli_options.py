"""The commands' shared options (``genbench.cli.options``, ``genbench.cli.common``): generator options
given on the command line reach the generator, 0 included, and absent ones are not passed;
``-n`` / ``--num-samples`` on every command that takes a sample count; no ``--n``, no abbreviations."""

import pytest

import genbench.generators.user as sources
from genbench.cli import build_parser, main
from genbench.errors import GenbenchError
from test_cli import _one_error_line


# generator options: given → passed (0 and 0.0 included); absent → not passed

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


# -n / --num-samples on every subcommand that takes a sample count; no --n, no abbreviations

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
