"""The registry of reference kinds is the one place kinds are defined: every built-in spec is read by
the kind the registry says, and a kind registered in a test is loaded, chosen an extractor for and
evaluated against through the ordinary entries (``Reference.load``, ``gb.load_reference``,
``evaluate``) with no other change, and is gone once unregistered."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import genbench as gb
from genbench.errors import GenbenchError
from genbench.generators.user import CallableGenerator
from genbench.harness.runner import EvalConfig, evaluate
from genbench.metrics.frechet import frechet_distance
from genbench.reference import (ReadingOptions, Reference, ReferenceKind, Spec, holds_images, implied_extractor_options,
                                kind_of, kinds, load_reference_images, register_kind, resolve_extractor,
                                unregister_kind)
from genbench.features.registry import get_extractor
from test_sources import _noise, _write_idx

BUILT_IN = ["cleanfid", "shapes32", "pickle", "genbench", "adm", "foreign", "npz", "zip", "torchvision", "folder"]


@pytest.fixture
def specs(tmp_path, image_folder):
    """One spec of every built-in kind that lives in files (tiny, never loaded), keyed by kind."""
    images = _noise(0, (4, 32, 32, 3))
    image_folder(tmp_path / "pngs", images, pad=1)
    import zipfile

    with zipfile.ZipFile(tmp_path / "pngs.zip", "w") as archive:
        archive.write(tmp_path / "pngs" / "0.png", "0.png")
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    _write_idx(raw / "train-images-idx3-ubyte", 0x803, _noise(1, (2, 28, 28)))
    mu, sigma = np.zeros(4), np.eye(4)
    np.savez(tmp_path / "samples.npz", arr_0=images)
    np.savez(tmp_path / "pytorch_fid.npz", mu=mu, sigma=sigma)
    np.savez(tmp_path / "adm.npz", arr_0=images, mu=mu, sigma=sigma)
    np.savez(tmp_path / "genbench.npz", mu=mu, sigma=sigma, n=np.int64(4), provenance=np.array('{"extractor": "x"}'))
    return {"cleanfid": "cleanfid:cifar10/clean/train/32", "shapes32": "shapes32:test",
            "genbench": str(tmp_path / "genbench.npz"), "adm": str(tmp_path / "adm.npz"),
            "foreign": str(tmp_path / "pytorch_fid.npz"), "npz": str(tmp_path / "samples.npz"),
            "zip": str(tmp_path / "pngs.zip"), "torchvision": str(tmp_path / "mnist"), "folder": str(tmp_path / "pngs")}


def test_every_built_in_spec_is_read_by_its_kind(specs, tmp_path):
    assert list(kinds()) == BUILT_IN  # the detection order
    for name, spec in specs.items():
        kind, parsed = kind_of(spec)
        assert kind.name == name and parsed.text == spec, spec
        assert holds_images(spec) == kind.holds_images == (name in {"shapes32", "adm", "npz", "zip", "torchvision",
                                                                     "folder"}), spec
    assert resolve_extractor([specs["genbench"]], None) == "x"  # the extractor the file records
    assert resolve_extractor([specs["folder"], specs["shapes32"]], None) == "shapes-net"
    assert resolve_extractor([specs["cleanfid"], specs["folder"]], None) == "inception-v3-fid"
    assert implied_extractor_options([specs["cleanfid"], specs["folder"]]) == {"resize": "clean"}
    with pytest.raises(GenbenchError, match="--extractor"):
        resolve_extractor([specs["adm"]], None)
    (tmp_path / "ref.pt").write_bytes(pickle.dumps({}))
    np.savez(tmp_path / "stats_kid.npz", feats=np.zeros((2, 4)))
    for refused, why in ((tmp_path / "ref.pt", "run any code"), (tmp_path / "stats_kid.npz", "KID features only"),
                         ("shapes32:valid", "unknown shapes32 split"), ("cleanfid:cifar10/32", "DATASET/MODE"),
                         (tmp_path / "nothing", "no such file or folder")):
        with pytest.raises(GenbenchError, match=why):
            kind_of(refused)


class ConstantKind(ReferenceKind):
    """``constant:V``: moments (V, …, V) and identity covariance in shapes-net's 128-d space."""

    name = "test-constant"
    description = "a test-only kind: constant:V"

    def detect(self, spec: Spec) -> bool:
        return spec.text.startswith("constant:")

    def recorded_extractor(self, spec: Spec) -> str:
        return "shapes-net"

    def load(self, spec: Spec, extractor, options: ReadingOptions) -> Reference:
        value = float(spec.text.partition(":")[2])
        provenance = {**extractor.provenance(), "source": spec.text, "kind": "constant", "provenance": "made up"}
        return Reference(None, None, provenance,
                         moments=(np.full(extractor.feature_dim, value), np.eye(extractor.feature_dim)))


def test_a_registered_kind_is_loaded_everywhere_and_gone_when_unregistered():
    register_kind(ConstantKind())
    try:
        ref = gb.Reference.load("constant:0.5", progress=False)  # the extractor the kind records
        assert ref.provenance["extractor"] == "shapes-net" and ref.provenance["spec"] == "constant:0.5"
        assert ref.provenance["fingerprint"] and ref.provides() == {"reference.moments"}
        np.testing.assert_array_equal(ref.mu, np.full(128, 0.5))
        np.testing.assert_array_equal(gb.load_reference("constant:0.5").sigma, ref.sigma)
        assert not holds_images("constant:1") and resolve_extractor(["constant:1"], None) == "shapes-net"
        with pytest.raises(GenbenchError, match="holds statistics, not images"):
            load_reference_images("constant:1", get_extractor("shapes-clip"))
        images = gb.shapes32("test", 0, 20).images
        gen = CallableGenerator(lambda seed, start, n: images[start:start + n], "test images")
        record = evaluate(gen, "constant:0.5", ["fid"], EvalConfig(n=20, batch_size=20, resamples=2), progress=False)
        feats = get_extractor("shapes-net").features(images).double().numpy()
        expected = frechet_distance(np.full(128, 0.5), np.eye(128), feats.mean(0), np.cov(feats, rowvar=False))
        assert record["metrics"]["fid"]["value"] == pytest.approx(expected, rel=1e-6)
        assert record["provenance"]["reference"]["kind"] == "constant"
    finally:
        unregister_kind("test-constant")
    assert list(kinds()) == BUILT_IN
    with pytest.raises(GenbenchError, match="no such file or folder"):
        gb.Reference.load("constant:0.5", "shapes-net")


class MarkedFolder(ReferenceKind):
    """A folder holding a file named MARKER, read ahead of the folder kind."""

    name = "test-marked"
    holds_images = True

    def detect(self, spec: Spec) -> bool:
        return (spec.path / "MARKER").is_file()


def test_a_kind_registered_before_another_is_asked_first(specs, tmp_path):
    marked = tmp_path / "pngs" / "MARKER"
    marked.write_text("")
    register_kind(MarkedFolder(), before="folder")
    try:
        assert list(kinds())[-2:] == ["test-marked", "folder"]
        assert kind_of(specs["folder"])[0].name == "test-marked"
        with pytest.raises(ValueError, match="already registered"):
            register_kind(MarkedFolder())
        with pytest.raises(ValueError, match="no reference kind 'nope'"):
            register_kind(ConstantKind(), before="nope")
    finally:
        unregister_kind("test-marked")
    assert kind_of(specs["folder"])[0].name == "folder"
