"""``genbench stats`` (``genbench.cli.stats``): statistics of an image folder equal the extractor run
directly, and the files it writes record their provenance."""

import json

import numpy as np

from genbench.cli import main
from genbench.data.shapes32 import shapes32
from genbench.features.registry import get_extractor
from genbench.reference import load_reference, reference_paths


def test_stats_of_an_image_folder_match_the_extractor_run_directly(tmp_path, capsys, image_folder):
    images = shapes32("test", 0, 30).images
    folder = image_folder(tmp_path / "imgs", images)
    out = tmp_path / "stats"
    assert main(["stats", str(folder), "--extractor", "shapes-net", "--out-dir", str(out), "--batch-size", "8",
                 "--quiet"]) == 0
    ref = load_reference("folder:imgs", "train", "shapes-net", root=out)
    direct = get_extractor("shapes-net").extract(images).features.double().numpy()
    assert ref.stats.n == 30 and ref.provenance["dataset"] == "folder:imgs"
    np.testing.assert_allclose(ref.stats.mean, direct.mean(0), rtol=0, atol=1e-9)
    assert main(["stats", str(folder), "--num-samples", "31", "--out-dir", str(out)]) == 2
    assert "has 30 images" in capsys.readouterr().err


def test_stats_command_writes_provenance(tmp_path):
    assert main(["stats", "shapes32", "--split", "test", "--num-samples", "600", "--sample-n", "200",
                 "--extractor", "shapes-net", "--out-dir", str(tmp_path), "--quiet"]) == 0
    stats_path, sample_path = reference_paths("shapes32", "test", "shapes-net", tmp_path)
    ref = load_reference("shapes32", "test", "shapes-net", root=tmp_path)
    assert ref.stats.n == 600 and ref.sample.shape[0] == 200
    with np.load(stats_path) as f:
        prov = json.loads(str(f["provenance"]))
    for key in ("dataset", "split", "n", "extractor", "weights_sha256", "preprocessing", "genbench_version"):
        assert key in prov
    assert prov["dataset"] == "shapes32" and prov["split"] == "test"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([stats_path.name, sample_path.name])
