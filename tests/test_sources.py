"""Image sources: batches decoded in DataLoader workers equal ``fetch``, worker errors stay one-line
GenbenchErrors, files of every mode read exactly as pytorch-fid reads them, and mixed sizes fail
unless ``resize_inputs`` crops and resizes them."""

import os
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from genbench.data import sources
from genbench.data.sources import ImageSource, default_workers, folder_source, image_source
from genbench.errors import GenbenchError

N = 40


def _noise(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture
def folder(tmp_path):
    """N random 32×32 RGB PNGs."""
    path = tmp_path / "rgb"
    path.mkdir()
    for i in range(N):
        Image.fromarray(_noise(i, (32, 32, 3))).save(path / f"{i:03d}.png")
    return path


def _collect(source: ImageSource, batch_size: int, start: int = 0, stop: int | None = None,
             workers: int | None = None) -> tuple[list[int], torch.Tensor]:
    starts, images = zip(*source.batches(batch_size, start, stop, workers))
    return list(starts), torch.cat(images)


@pytest.mark.parametrize(("workers", "batch_size", "start", "stop"),
                         [(0, 7, 0, None), (2, 7, 0, None), (2, 16, 3, 37), (1, 64, 5, 6)])
def test_batches_equal_fetch_for_any_workers_and_batch_size(folder, workers, batch_size, start, stop):
    source = folder_source(folder)
    stop_ = N if stop is None else stop
    starts, images = _collect(source, batch_size, start, stop, workers)
    assert starts == list(range(start, stop_, batch_size))
    assert images.dtype == torch.uint8 and images.shape == (stop_ - start, 3, 32, 32)
    assert torch.equal(images, source.fetch(start, stop_ - start))
    first = np.asarray(Image.open(folder / f"{start:03d}.png")).transpose(2, 0, 1)
    assert np.array_equal(images[0].numpy(), first)


def _pid_image(i: int) -> np.ndarray:
    """A 4×1×1 'image' holding the id of the process that made it."""
    return np.frombuffer(struct.pack("<i", os.getpid()), dtype=np.uint8).reshape(4, 1, 1).copy()


def _decoded_in(source: ImageSource, workers: int) -> set[int]:
    return {struct.unpack("<i", bytes(img[:, 0, 0].tolist()))[0]
            for _, batch in source.batches(4, workers=workers) for img in batch}


def test_file_sources_decode_in_worker_processes_and_in_memory_ones_in_the_caller():
    def fetch(start, k):
        return torch.from_numpy(np.stack([_pid_image(i) for i in range(start, start + k)]))

    with_item = ImageSource("pids", 16, fetch, item=_pid_image)
    assert os.getpid() not in _decoded_in(with_item, workers=2)
    assert _decoded_in(with_item, workers=0) == {os.getpid()}
    assert _decoded_in(ImageSource("pids", 16, fetch), workers=2) == {os.getpid()}


def test_in_memory_source_batches_call_fetch():
    from genbench.data.shapes32 import shapes32

    source = image_source("shapes32", "test")
    starts, images = _collect(source, 8, 10, 30, workers=2)
    assert starts == [10, 18, 26] and torch.equal(images, shapes32("test", 10, 20).images)
    assert source.provenance() == {"source": "shapes32", "n": source.n, "conversions": "none", "resize_inputs": None}


@pytest.mark.parametrize("workers", [0, 2])
def test_a_corrupt_file_is_a_one_line_genbench_error_after_the_batches_before_it(folder, workers):
    source = folder_source(folder)  # headers are fine: the damage is in the pixel data
    bad = folder / "025.png"
    bad.write_bytes(bad.read_bytes()[:200])
    starts = []
    with pytest.raises(GenbenchError) as info:
        for start, _ in source.batches(8, workers=workers):
            starts.append(start)
    message = str(info.value)
    assert message.startswith(f"cannot read image file {bad}: ") and "\n" not in message
    assert starts == [0, 8, 16]


def test_a_file_that_is_not_an_image_fails_before_any_work(folder):
    (folder / "000.png").write_bytes(b"not a png")
    with pytest.raises(GenbenchError, match="cannot read image file .*000.png"):
        folder_source(folder)


def _write_modes(path):
    """Files of every mode ``convert("RGB")`` handles, 32×32 each; returns {file name: mode}."""
    path.mkdir()
    rgba = _noise(1, (32, 32, 4))
    rgba[:8, :, 3] = 0  # fully transparent rows keep their colour
    wide = np.random.default_rng(2).integers(0, 65536, (32, 32), dtype=np.uint16)
    wide[:4] = np.arange(128, dtype=np.uint16).reshape(4, 32)  # some values below 256 survive as they are
    images = {
        "a_rgba.png": Image.fromarray(rgba, "RGBA"),
        "b_rgba.png": Image.fromarray(_noise(3, (32, 32, 4)), "RGBA"),
        "c_l.png": Image.fromarray(_noise(4, (32, 32)), "L"),
        "d_l.png": Image.fromarray(_noise(5, (32, 32)), "L"),
        "e_p.png": Image.fromarray(_noise(6, (32, 32, 3))).quantize(16),
        "f_la.png": Image.fromarray(_noise(7, (32, 32, 2)), "LA"),
        "g_i16.png": Image.fromarray(wide),
        "h_i32.tif": Image.fromarray(wide.astype(np.int32) - 1000),
        "i_cmyk.jpg": Image.fromarray(_noise(8, (32, 32, 4)), "CMYK"),
        "j_rgb.png": Image.fromarray(_noise(9, (32, 32, 3))),
    }
    for name, img in images.items():
        img.save(path / name)
    return {name: Image.open(path / name).mode for name in images}, rgba, wide


def test_every_mode_reads_as_pytorch_fid_reads_it_and_is_counted(tmp_path):
    from pytorch_fid.fid_score import ImagePathDataset

    modes, rgba, wide = _write_modes(tmp_path / "modes")
    assert modes == {"a_rgba.png": "RGBA", "b_rgba.png": "RGBA", "c_l.png": "L", "d_l.png": "L", "e_p.png": "P",
                     "f_la.png": "LA", "g_i16.png": "I;16", "h_i32.tif": "I", "i_cmyk.jpg": "CMYK", "j_rgb.png": "RGB"}
    source = folder_source(tmp_path / "modes")
    files = sorted((tmp_path / "modes").iterdir())
    images = source.fetch(0, source.n).numpy()
    pytorch_fid = ImagePathDataset(files)
    for i, _ in enumerate(files):
        assert np.array_equal(images[i], np.asarray(pytorch_fid[i]).transpose(2, 0, 1)), files[i].name
    assert np.array_equal(images[0], rgba[..., :3].transpose(2, 0, 1))  # alpha dropped, not composited
    assert np.array_equal(images[6], np.broadcast_to(np.clip(wide, 0, 255), (3, 32, 32)))  # clipped, not scaled
    assert source.conversions == {"RGBA": 2, "L": 2, "P": 1, "LA": 1, "I;16": 1, "I": 1, "CMYK": 1}
    assert source.provenance() == {"source": "folder:modes", "n": 10, "conversions": source.conversions,
                                   "resize_inputs": None, "lossy_jpeg_files": 1,  # the CMYK .jpg
                                   "warnings": source.input_warnings()}
    assert torch.equal(_collect(source, 3, workers=2)[1], torch.from_numpy(images))


def test_an_rgb_folder_records_no_conversion(folder):
    source = folder_source(folder)
    assert source.conversions == {}
    assert source.provenance() == {"source": "folder:rgb", "n": N, "conversions": "none", "resize_inputs": None}


@pytest.fixture
def mixed(tmp_path):
    """32×32, 48×40 (landscape), 30×50 (portrait) and 24×24 RGB images."""
    path = tmp_path / "mixed"
    path.mkdir()
    for i, (w, h) in enumerate([(32, 32), (48, 40), (30, 50), (24, 24), (32, 32)]):
        Image.fromarray(_noise(i, (h, w, 3))).save(path / f"{i}.png")
    return path


def test_mixed_sizes_fail_before_any_work_without_resize_inputs(mixed):
    with pytest.raises(ValueError, match="different sizes") as info:
        image_source(str(mixed))
    message = str(info.value)
    assert "\n" not in message and "32×32 e.g. 0.png" in message and "48×40 e.g. 1.png" in message


def test_resize_inputs_center_crops_and_resizes_with_pil_bicubic(mixed):
    source = image_source(str(mixed), resize_inputs=24)
    images = source.fetch(0, source.n)
    assert images.shape == (5, 3, 24, 24)
    for name, box in [("1.png", (4, 0, 44, 40)), ("2.png", (0, 10, 30, 40))]:
        expected = Image.open(mixed / name).convert("RGB").crop(box).resize((24, 24), resample=Image.BICUBIC)
        assert np.array_equal(images[int(name[0])].numpy(), np.asarray(expected).transpose(2, 0, 1)), name
    unchanged = np.asarray(Image.open(mixed / "3.png")).transpose(2, 0, 1)
    assert np.array_equal(images[3].numpy(), unchanged)  # already 24×24: crop and resize are the identity
    assert source.provenance()["resize_inputs"] == {"size": 24, "method": "center crop + PIL bicubic"}
    assert torch.equal(_collect(source, 2, workers=2)[1], images)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_resize_inputs_must_be_a_positive_int(mixed, bad):
    with pytest.raises(ValueError, match="resize_inputs"):
        folder_source(mixed, resize_inputs=bad)


def test_shapes32_refuses_resize_inputs():
    with pytest.raises(ValueError, match="not to shapes32"):
        image_source("shapes32", resize_inputs=16)


@pytest.mark.parametrize(("args", "kwargs"),
                         [((0,), {}), ((4, 5, 4), {}), ((4, 0, N + 1), {}), ((4,), {"workers": -1})])
def test_batches_refuses_bad_ranges_at_the_call(folder, args, kwargs):
    source = folder_source(folder)
    with pytest.raises(ValueError, match="batches need"):
        source.batches(*args, **kwargs)


@pytest.mark.parametrize(("cores", "workers"), [(None, 0), (1, 0), (2, 0), (3, 2), (5, 4), (64, 8)])
def test_default_workers_leaves_one_core_to_the_caller(monkeypatch, cores, workers):
    monkeypatch.setattr(sources.os, "cpu_count", lambda: cores)
    assert default_workers() == workers


def _write_idx(path, magic: int, array: np.ndarray) -> None:
    path.write_bytes(struct.pack(">i", magic) + b"".join(struct.pack(">i", d) for d in array.shape) + array.tobytes())


@pytest.fixture
def mnist_root(tmp_path):
    """A torchvision MNIST root (raw idx files, no download) holding 10 train and 3 test digits."""
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in [("train", 10), ("t10k", 3)]:
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", 0x803, _noise(n, (n, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", 0x801, np.arange(n, dtype=np.uint8))
    return tmp_path / "mnist"


def test_torchvision_mnist_reads_grayscale_as_rgb_in_workers(mnist_root):
    source = image_source(str(mnist_root), "train")
    assert (source.name, source.n, source.conversions) == ("mnist", 10, {"L": 10})
    images = source.fetch(0, 10)
    assert torch.equal(images, torch.from_numpy(np.repeat(_noise(10, (10, 1, 28, 28)), 3, axis=1)))
    assert torch.equal(_collect(source, 4, workers=2)[1], images)
    assert image_source(str(mnist_root), "test").n == 3
    resized = image_source(str(mnist_root), "train", resize_inputs=14)
    assert resized.fetch(0, 10).shape == (10, 3, 14, 14)
