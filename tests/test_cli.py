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
    assert "unknown image source 'cifar10'" in capsys.readouterr().err


def test_stats_of_an_image_folder_match_the_extractor_run_directly(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from genbench.data.shapes32 import shapes32
    from genbench.reference import load_reference
    from genbench.registry import get_extractor

    images = shapes32("test", 0, 30).images
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, img in enumerate(images):
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / f"{i:03d}.png")
    out = tmp_path / "stats"
    assert main(["stats", str(folder), "--extractor", "shapes-net", "--out-dir", str(out), "--batch-size", "8",
                 "--quiet"]) == 0
    ref = load_reference("folder:imgs", "train", "shapes-net", root=out)
    direct = get_extractor("shapes-net").extract(images).features.double().numpy()
    assert ref.stats.n == 30 and ref.provenance["dataset"] == "folder:imgs"
    np.testing.assert_allclose(ref.stats.mean, direct.mean(0), rtol=0, atol=1e-9)
    assert main(["stats", str(folder), "--num-samples", "31", "--out-dir", str(out)]) == 2
    assert "has 30 images" in capsys.readouterr().err
