"""A user's own generators (``genbench.generators.user``): .npz files, folders of images and
``module:callable`` specs, and unreadable image and .npz files as one error line naming the file
(exit 2 on the command line)."""

import numpy as np
import pytest
import torch
from PIL import Image

from genbench.cli import main
from genbench.data.shapes32 import shapes32
from genbench.errors import GenbenchError
from genbench.generators.user import CallableGenerator, FolderSamples, NpzSamples, load_generator
from test_cli import _one_error_line


def test_npz_nhwc_and_nchw(tmp_path):
    images = shapes32("test", 0, 20).images
    np.savez(tmp_path / "nhwc.npz", arr_0=images.permute(0, 2, 3, 1).numpy())
    np.savez(tmp_path / "nchw.npz", samples=images.numpy())
    for path in ("nhwc.npz", "nchw.npz"):
        gen = load_generator(str(tmp_path / path))
        assert isinstance(gen, NpzSamples) and torch.equal(gen.sample(20), images)
    with pytest.raises(ValueError, match="holds 20 samples"):
        gen.sample(21)
    np.savez(tmp_path / "two.npz", a=images.numpy(), b=images.numpy())
    with pytest.raises(ValueError, match="say which"):
        NpzSamples(tmp_path / "two.npz")


def test_folder_of_images(tmp_path, image_folder):
    images = shapes32("test", 0, 12).images
    image_folder(tmp_path, images)
    gen = load_generator(str(tmp_path))
    assert isinstance(gen, FolderSamples) and torch.equal(gen.sample(12), images)
    Image.new("RGB", (16, 16)).save(tmp_path / "odd.png")
    with pytest.raises(ValueError, match="different sizes"):
        FolderSamples(tmp_path)


def test_callable_spec_and_bad_specs(tmp_path, monkeypatch):
    (tmp_path / "mygen.py").write_text("import torch\n"
                                       "def sample(seed, start, n):\n"
                                       "    g = torch.Generator().manual_seed(seed)\n"
                                       "    return torch.rand(start + n, 3, 8, 8, generator=g)[start:]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    gen = load_generator("mygen:sample")
    assert isinstance(gen, CallableGenerator)
    assert gen.sample(5, seed=1).dtype == torch.uint8
    whole = gen.sample(10, seed=1)
    assert torch.equal(torch.cat(list(gen.batches(10, seed=1, batch_size=3))), whole)
    with pytest.raises(ValueError, match="unknown generator"):
        load_generator("no-such-thing")
    with pytest.raises(ValueError, match="cannot import"):
        load_generator("no_such_module:fn")
    with pytest.raises(ValueError, match=r"\(seed, start, n\)"):
        CallableGenerator(lambda n: None, "bad")


# unreadable image files and .npz files: one error line naming the file, exit 2

def _garbage(path):
    path.write_bytes(b"this is not an image\n")


def _truncated(path):  # a valid header (the size scan passes), the pixel data cut: fails when read
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


@pytest.mark.parametrize("damage", [_garbage, _truncated], ids=["garbage", "truncated"])
@pytest.mark.parametrize("command", ["eval", "stats"])
def test_unreadable_image_in_a_folder(tmp_path, capsys, image_folder, damage, command):
    folder = image_folder(tmp_path / "imgs", 24, pad=2)
    bad = folder / "07.png"  # not the first file: a truncated one is met while sampling / extracting
    damage(bad)
    argv = (["eval", str(folder), "-n", "24", "--batch-size", "24", "--resamples", "2", "--quiet"]
            if command == "eval" else
            ["stats", str(folder), "--extractor", "shapes-net", "--out-dir", str(tmp_path / "stats"), "--quiet"])
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"cannot read image file {bad}" in line
    assert not (tmp_path / "stats").exists()


def test_unreadable_image_in_the_api_is_a_genbench_error(tmp_path, image_folder):
    folder = image_folder(tmp_path / "imgs", 3, pad=2)
    _garbage(folder / "01.png")
    with pytest.raises(GenbenchError, match="01.png"):
        FolderSamples(folder)


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
        NpzSamples(path)
