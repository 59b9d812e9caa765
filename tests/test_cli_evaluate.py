"""``genbench eval`` (``genbench.cli.evaluate``): a one-model suite writing the files ``genbench run``
writes, and an unknown extractor as one error line."""

import json

import numpy as np

from genbench.cli import main
from genbench.data.shapes32 import shapes32
from test_cli import _one_error_line
from test_user_generators import _samples_npz


def test_eval_command_writes_results_json(tmp_path, capsys):
    np.savez(tmp_path / "samples.npz", arr_0=shapes32("test", 0, 200).images.numpy())
    out = tmp_path / "report"
    assert main(["eval", str(tmp_path / "samples.npz"), "-n", "200", "--resamples", "3", "--out", str(out),
                 "--quiet", "--format", "md"]) == 0
    assert "| model | metric |" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    fid = results["models"]["npz:samples.npz"]["metrics"]["fid"]
    assert set(fid) >= {"value", "ci", "n"} and fid["n"] == 200
    assert results["provenance"]["extractor"] == "shapes-net"
    # the same files as `genbench run` writes: eval is a one-model suite
    assert sorted(p.name for p in out.iterdir()) == ["report.md", "results.csv", "results.json",
                                                     "samples_npz_samples.npz.png", "trilemma.png"]
    assert results["models"]["npz:samples.npz"]["samples_grid"] == "samples_npz_samples.npz.png"


def test_unknown_extractor_is_a_user_error(tmp_path, capsys):
    path = _samples_npz(tmp_path / "samples.npz")
    assert main(["eval", str(path), "--extractor", "no-such-extractor", "-n", "20", "--quiet"]) == 2
    assert "unknown feature extractor 'no-such-extractor'" in _one_error_line(capsys.readouterr().err)
