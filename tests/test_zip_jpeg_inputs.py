"""Inputs people have: a ``.zip`` archive of images reads as the same images as the folder it was
made from (references, samples, ``genbench fid``), and lossy JPEG files or images that
``resize_inputs`` changed give a one-line warning and are recorded in the provenance."""

from __future__ import annotations

import json
import warnings
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from genbench.cli import main
from genbench.data.sources import InputWarning, folder_source, image_source, zip_source
from genbench.data.shapes32 import shapes32
from genbench.errors import GenbenchError
from genbench.generators.sources import load_generator
from genbench.reference import Reference


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


def _save(images: torch.Tensor, folder, fmt: str = "png", start: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images.permute(0, 2, 3, 1).numpy()):
        Image.fromarray(img).save(folder / f"{start + i:03d}.{fmt}", **({"quality": 90} if fmt == "jpg" else {}))


def _input_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, InputWarning)]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """30 shapes32 test images as PNGs (``flat``), the same split into two class subfolders
    (``classes``, names chosen so that sorting by path string and by folder differ: "a-b" < "a/"),
    and both zipped."""
    root = tmp_path_factory.mktemp("zip")
    images = shapes32("test", 0, 30).images
    _save(images, root / "flat")
    _save(images[:15], root / "classes" / "a")
    _save(images[15:], root / "classes" / "a-b", start=15)
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
def jpegs(tmp_path):
    """6 images: 4 PNGs, a JPEG, and a JPEG named .png (counted by its decoded format)."""
    images = shapes32("test", 0, 6).images
    folder = tmp_path / "mixed_formats"
    _save(images[:4], folder)
    _save(images[4:5], folder, "jpg", start=4)
    _save(images[5:], folder, "jpg", start=5)
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


def test_resized_inputs_warn_and_record_how_many_changed(tmp_path):
    folder = tmp_path / "sizes"
    folder.mkdir()
    for i, (w, h) in enumerate([(32, 32), (48, 40), (30, 50), (24, 24), (24, 24)]):
        Image.fromarray(np.full((h, w, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
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


def test_stored_samples_record_their_input_in_the_evaluation(jpegs, shapes):
    import genbench as gb

    _save(shapes32("test", 30, 14).images, jpegs, start=6)  # 20 samples: the runner's minimum
    ref = Reference.load(str(shapes["flat"]), "shapes-net", progress=False)
    with pytest.warns(InputWarning, match="2 of 20 images are lossy JPEG"):
        generator = load_generator(str(jpegs))
    record = gb.evaluate(generator, ref, metrics=["fid"], n=20, resamples=4, progress=False)
    assert record["meta"]["input"]["lossy_jpeg_files"] == 2 and len(record["meta"]["input"]["warnings"]) == 1
    assert json.dumps(record["meta"])  # JSON-ready
