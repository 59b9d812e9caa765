"""Image sources (``genbench.data.sources``): batches decoded in DataLoader workers equal ``fetch``,
worker errors stay one-line GenbenchErrors, files of every mode read exactly as pytorch-fid reads
them, and mixed sizes fail unless ``resize_inputs`` crops and resizes them. Inputs people have: a
``.zip`` archive of images reads as the same images as the folder it was made from (references,
samples, ``genbench fid``), and lossy JPEG files or images that ``resize_inputs`` changed give a
one-line warning and are recorded in the provenance."""

from __future__ import annotations

import json
import os
import struct
import warnings
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from genbench.cli import main
from genbench.data import sources
from genbench.data.shapes32 import shapes32
from genbench.data.sources import (ImageSource, InputWarning, default_workers, folder_source, image_source,
                                   zip_source)
from genbench.errors import GenbenchError
from genbench.generators.user import load_generator
from genbench.reference import Reference

N = 40


def _noise(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture
def folder(tmp_path, image_folder):
    """N random 32×32 RGB PNGs."""
    return image_folder(tmp_path / "rgb", [_noise(i, (32, 32, 3)) for i in range(N)])


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
def mixed(tmp_path, image_folder):
    """32×32, 48×40 (landscape), 30×50 (portrait) and 24×24 RGB images."""
    sizes = [(32, 32), (48, 40), (30, 50), (24, 24), (32, 32)]
    return image_folder(tmp_path / "mixed", [_noise(i, (h, w, 3)) for i, (w, h) in enumerate(sizes)], pad=1)


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


# -- .zip archives, lossy JPEG files and resized inputs -----------------------------------------------

def _zip(folder, archive, extra: dict[str, bytes] | None = None):
    """``folder``'s files under their relative paths, written in reverse order (the archive's own
    order must not matter), plus ``extra`` members."""
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for path in sorted(folder.rglob("*"), reverse=True):
            if path.is_file():
                z.write(path, path.relative_to(folder).as_posix())
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return archive


def _input_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, InputWarning)]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory, image_folder):
    """30 shapes32 test images as PNGs (``flat``), the same split into two class subfolders
    (``classes``, names chosen so that sorting by path string and by folder differ: "a-b" < "a/"),
    and both zipped."""
    root = tmp_path_factory.mktemp("zip")
    images = shapes32("test", 0, 30).images
    image_folder(root / "flat", images)
    image_folder(root / "classes" / "a", images[:15])
    image_folder(root / "classes" / "a-b", images[15:], start=15)
    return {"root": root, "images": images, "flat": root / "flat", "classes": root / "classes",
            "flat.zip": _zip(root / "flat", root / "flat.zip", {"__MACOSX/._000.png": b"\0\5\26\7", "notes.txt": b"x",
                                                                "sub/": b""}),
            "classes.zip": _zip(root / "classes", root / "classes.zip")}


@pytest.mark.parametrize("layout", ["flat", "classes"])
def test_zip_reads_the_folders_images_in_the_folders_order(shapes, layout):
    folder, archive = folder_source(shapes[layout]), image_source(str(shapes[f"{layout}.zip"]))
    assert (archive.name, archive.n) == (f"zip:{layout}.zip", 30)  # __MACOSX/, non-images and folders skipped
    expected = folder.fetch(0, 30)
    assert torch.equal(expected, shapes["images"])
    assert torch.equal(archive.fetch(0, 30), expected)
    # decoded in DataLoader worker processes (each opens the archive itself), in batches that cross members
    assert torch.equal(torch.cat([batch for _, batch in archive.batches(7, workers=2)]), expected)
    assert archive.provenance() == {**folder.provenance(), "source": f"zip:{layout}.zip"}


def test_zip_reference_and_samples_equal_the_folders_bit_for_bit(shapes):
    refs = [Reference.load(str(shapes[k]), "shapes-net", progress=False, cache=False) for k in ("flat", "flat.zip")]
    assert np.array_equal(refs[0].mu, refs[1].mu) and np.array_equal(refs[0].sigma, refs[1].sigma)
    assert np.array_equal(refs[0].sample, refs[1].sample)
    assert refs[1].provenance["input"]["source"] == "zip:flat.zip"
    folder, archive = load_generator(str(shapes["flat"])), load_generator(str(shapes["flat.zip"]))
    assert torch.equal(archive.sample_range(0, 5, 20), folder.sample_range(0, 5, 20))
    assert archive.meta.resolution == (32, 32) and archive.meta.input["source"] == "zip:flat.zip"


def test_genbench_fid_of_a_zip_is_the_folders(shapes, capsys):
    other = str(shapes["classes"])
    values = []
    for side in ("flat", "flat.zip"):
        assert main(["fid", str(shapes[side]), other, "--extractor", "shapes-net", "--json", "--quiet"]) == 0
        record = json.loads(capsys.readouterr().out)
        values.append(record["fid"])
    assert record["a"]["input"]["source"] == "zip:flat.zip" and record["a"]["source"] == str(shapes["flat.zip"])
    assert values[0] == values[1]  # the same images in another order than "classes": FID is a set statistic
    assert values[0] == pytest.approx(0, abs=1e-6)


def test_an_archive_rewritten_in_place_is_read_again(tmp_path, shapes):
    archive = tmp_path / "samples.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(shapes["flat"] / "000.png", "a.png")
    first = zip_source(archive).fetch(0, 1)
    with zipfile.ZipFile(archive, "w") as z:  # same path and member name, other image, other size
        z.write(shapes["flat"] / "001.png", "a.png")
        z.writestr("pad.txt", b"x" * 100)
    assert torch.equal(first, shapes["images"][:1])
    assert torch.equal(zip_source(archive).fetch(0, 1), shapes["images"][1:2])


def test_broken_archives_are_one_line_errors(tmp_path, shapes):
    (tmp_path / "truncated.zip").write_bytes(shapes["flat.zip"].read_bytes()[:500])
    with pytest.raises(GenbenchError, match="cannot read zip archive .*truncated.zip") as info:
        image_source(str(tmp_path / "truncated.zip"))
    assert "\n" not in str(info.value)
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as z:
        z.writestr("readme.txt", "no images")
    with pytest.raises(ValueError, match="no image files"):
        zip_source(tmp_path / "empty.zip")
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as z:
        z.write(shapes["flat"] / "000.png", "000.png")
        z.writestr("001.png", b"not a png")
    with pytest.raises(GenbenchError, match=r"cannot read image file .*bad.zip:001.png"):
        zip_source(tmp_path / "bad.zip")


@pytest.fixture
def jpegs(tmp_path, image_folder):
    """6 images: 4 PNGs, a JPEG, and a JPEG named .png (counted by its decoded format)."""
    images = shapes32("test", 0, 6).images
    folder = image_folder(tmp_path / "mixed_formats", images[:4])
    image_folder(folder, images[4:5], fmt="jpg", start=4)
    image_folder(folder, images[5:], fmt="jpg", start=5)
    (folder / "005.jpg").rename(folder / "005.png")
    return folder


def test_lossy_jpeg_inputs_warn_once_in_one_line_and_are_recorded(jpegs):
    for make in (folder_source, lambda p: zip_source(_zip(p, p.parent / "jpegs.zip"))):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            source = make(jpegs)
        messages = _input_warnings(record)
        assert len(messages) == 1 and "\n" not in messages[0] and "2 of 6 images are lossy JPEG" in messages[0]
        provenance = source.provenance()
        assert provenance["lossy_jpeg_files"] == 2 and provenance["warnings"] == messages
        assert "resized_files" not in provenance


def test_lossless_inputs_of_one_size_do_not_warn(shapes):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        source = folder_source(shapes["flat"])
        resized_to_own_size = folder_source(shapes["flat"], resize_inputs=32)  # crop and resize are the identity
    assert _input_warnings(record) == []
    for s in (source, resized_to_own_size):
        assert not {"lossy_jpeg_files", "resized_files", "warnings"} & set(s.provenance())


def test_resized_inputs_warn_and_record_how_many_changed(tmp_path, image_folder):
    sizes = [(32, 32), (48, 40), (30, 50), (24, 24), (24, 24)]
    folder = image_folder(tmp_path / "sizes", [np.full((h, w, 3), 40 * i, np.uint8) for i, (w, h) in enumerate(sizes)],
                          pad=1)
    with pytest.warns(InputWarning, match=r"^folder:sizes: 3 of 5 images were not 24×24 and were center-cropped"):
        source = image_source(str(folder), resize_inputs=24)
    provenance = source.provenance()
    assert provenance["resized_files"] == 3 and provenance["resize_inputs"]["size"] == 24
    assert len(provenance["warnings"]) == 1 and "\n" not in provenance["warnings"][0]


def test_command_line_warns_once_in_one_line_and_the_record_keeps_it(jpegs, shapes, capsys):
    from genbench.cli import _format_warning

    for run in range(2):  # computed, then read from the cache: the record is the same
        with warnings.catch_warnings(record=True) as record:  # what main() prints through _format_warning
            warnings.simplefilter("always")
            assert main(["fid", str(jpegs), str(shapes["flat"]), "--extractor", "shapes-net", "--json",
                         "--quiet"]) == 0
        messages = _input_warnings(record)
        assert [_format_warning(m, InputWarning, "", 0) for m in messages] == [
            f"genbench: warning: folder:{jpegs.name}: 2 of 6 images are lossy JPEG files; compression artifacts "
            "change the features and FID (PNG keeps the pixels)\n"], run
        sides = json.loads(capsys.readouterr().out)
        assert sides["a"]["input"]["lossy_jpeg_files"] == 2 and sides["a"]["input"]["warnings"] == messages
        assert "warnings" not in sides["b"]["input"]


def test_stored_samples_record_their_input_in_the_evaluation(jpegs, shapes, image_folder):
    import genbench as gb

    image_folder(jpegs, shapes32("test", 30, 14).images, start=6)  # 20 samples: the runner's minimum
    ref = Reference.load(str(shapes["flat"]), "shapes-net", progress=False)
    with pytest.warns(InputWarning, match="2 of 20 images are lossy JPEG"):
        generator = load_generator(str(jpegs))
    record = gb.evaluate(generator, ref, metrics=["fid"], n=20, resamples=4, progress=False)
    assert record["meta"]["input"]["lossy_jpeg_files"] == 2 and len(record["meta"]["input"]["warnings"]) == 1
    assert json.dumps(record["meta"])  # JSON-ready
