import hashlib

import numpy as np
import pytest
import torch

from genbench.data.shapes32 import (BACKGROUND_RGB, BACKGROUNDS, CATEGORICAL_LABELS, COLOR_RGB, COLORS,
                                    GEOMETRY_LABELS, SHAPES, SIZE_RADII, SIZES, Shapes32Dataset,
                                    _cos_sin_of_turns, captions_for, shapes32)


@pytest.fixture(scope="module")
def train():
    return shapes32("train", 0, 2000)


def _rgb(table, index):
    return torch.tensor(table, dtype=torch.int32)[index][:, :, None, None]


def _same(a, b):
    assert torch.equal(a.images, b.images)
    assert a.captions == b.captions
    assert a.labels.keys() == b.labels.keys()
    for k in a.labels:
        assert torch.equal(a.labels[k], b.labels[k]), k


def _slice(batch, lo, hi):
    return type(batch)(batch.images[lo:hi], {k: v[lo:hi] for k, v in batch.labels.items()}, batch.captions[lo:hi])


def test_dtypes_and_shapes(train):
    assert train.images.dtype == torch.uint8 and train.images.shape == (2000, 3, 32, 32)
    assert len(train) == len(train.captions) == 2000
    for k in CATEGORICAL_LABELS:
        assert train.labels[k].dtype == torch.int64 and train.labels[k].shape == (2000,)
    for k in GEOMETRY_LABELS:
        assert train.labels[k].dtype == torch.float32 and train.labels[k].shape == (2000,)
    empty = shapes32("test", 7, 0)
    assert empty.images.shape == (0, 3, 32, 32) and empty.captions == []


def test_deterministic_across_calls_and_slices(train):
    _same(train, shapes32("train", 0, 2000))
    _same(shapes32("train", 5, 3), _slice(train, 5, 8))
    _same(shapes32("train", 1990, 100), _slice(shapes32("train", 0, 2090), 1990, 2090))  # across render chunks


def test_independent_of_thread_count():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = shapes32("test", 0, 500)
    finally:
        torch.set_num_threads(threads)
    _same(single, shapes32("test", 0, 500))


def test_pinned_bytes():
    """Any change to the hash, factor ranges or renderer changes every downstream statistic: it must be deliberate."""
    digest = hashlib.sha256(shapes32("test", 0, 256).images.numpy().tobytes()).hexdigest()
    assert digest == "10efb0e9c1508f4c285db5613817bcd5d457b96435a77e9b9bf1fe794c5ac187"


def test_captions_match_labels(train):
    assert train.captions[0].startswith("a ") and train.captions[0].endswith(" background")
    for caption, *idx in zip(train.captions, *(train.labels[k].tolist() for k in CATEGORICAL_LABELS)):
        size, color, shape, _, _, background, _ = caption.split(" ")[1:]
        assert (SHAPES[idx[0]], COLORS[idx[1]], SIZES[idx[2]], BACKGROUNDS[idx[3]]) == (shape, color, size, background)
    assert captions_for(train.labels) == train.captions


def test_factors_balanced_and_all_cells_present(train):
    cells = train.labels["shape"] * len(COLORS) + train.labels["color"]
    assert set(cells.tolist()) == set(range(len(SHAPES) * len(COLORS)))
    for k, names in zip(CATEGORICAL_LABELS, (SHAPES, COLORS, SIZES, BACKGROUNDS)):
        counts = torch.bincount(train.labels[k], minlength=len(names)).double()
        expected = len(train) / len(names)
        assert counts.min() > 0.75 * expected and counts.max() < 1.25 * expected, (k, counts)


def test_continuous_factors_in_range(train):
    lo, hi = torch.tensor(SIZE_RADII, dtype=torch.float32)[train.labels["size"]].T
    radius = train.labels["radius"]
    assert ((radius >= lo) & (radius < hi)).all()
    for c in ("cx", "cy"):
        assert ((train.labels[c] - radius >= 1) & (train.labels[c] + radius <= 31)).all()
    assert ((train.labels["angle"] >= 0) & (train.labels["angle"] < 2 * np.pi)).all()
    assert all(a[1] < b[0] for a, b in zip(SIZE_RADII, SIZE_RADII[1:]))  # bins do not overlap


def test_train_and_test_disjoint():
    def digests(batch):
        return {hashlib.sha256(im.numpy().tobytes()).digest() for im in batch.images}

    train, test = digests(shapes32("train", 0, 5000)), digests(shapes32("test", 0, 2000))
    assert len(test) == 2000 and not train & test


def test_colours_contrast():
    colors, backgrounds = np.array(COLOR_RGB, float), np.array(BACKGROUND_RGB, float)
    assert np.linalg.norm(colors[:, None] - backgrounds[None], axis=-1).min() >= 100
    pairwise = np.linalg.norm(colors[:, None] - colors[None], axis=-1) + 1e9 * np.eye(len(colors))
    assert pairwise.min() >= 90


def test_shape_visible_antialiased_and_inside(train):
    images = train.images.int()
    background, foreground = _rgb(BACKGROUND_RGB, train.labels["background"]), _rgb(COLOR_RGB, train.labels["color"])
    off_background = (images != background).any(1)
    # visible: even the thinnest small shape has many pixels far from the background
    far = ((images - background).abs().amax(1) > 60).sum((1, 2))
    assert far.min() >= 20
    # every pixel blends background and shape colour: t·fg + (1-t)·bg with one t per pixel
    t = ((images - background) * (foreground - background)).sum(1) / ((foreground - background) ** 2).sum(1)
    blend = background + t[:, None] * (foreground - background)
    assert ((blend - images).abs() <= 1.0).all()
    # anti-aliased: every image has edge pixels strictly between background and shape colour
    partial = (off_background & (images != foreground).any(1)).sum((1, 2))
    assert partial.min() >= 8
    # inside: the border is pure background, and drawn pixels lie in the disk (cx, cy, radius + ½ px)
    border = off_background.clone()
    border[:, 1:-1, 1:-1] = False
    assert not border.any()
    centres = torch.arange(32) + 0.5
    dist = torch.sqrt((centres[None, None, :] - train.labels["cx"][:, None, None]) ** 2
                      + (centres[None, :, None] - train.labels["cy"][:, None, None]) ** 2)
    assert not (off_background & (dist > train.labels["radius"][:, None, None] + 0.5 + 1e-3)).any()


def test_cos_sin_of_turns_is_accurate():
    turns = np.arange(0, 2**24, 997, dtype=np.float64) * 2.0**-24
    cos, sin = _cos_sin_of_turns(turns)
    np.testing.assert_allclose(cos, np.cos(2 * np.pi * turns), atol=1e-13)
    np.testing.assert_allclose(sin, np.sin(2 * np.pi * turns), atol=1e-13)


@pytest.mark.parametrize("kwargs, message", [
    (dict(split="val"), "unknown split 'val'; allowed: 'train', 'test'"),
    (dict(split="Train"), "allowed: 'train', 'test'"),
    (dict(start=-1), "start must be an integer >= 0"),
    (dict(start=1.5), "start must be an integer >= 0"),
    (dict(n=-1), "n must be an integer >= 0"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        shapes32(**kwargs)


def test_dataset_matches_batches():
    ds = Shapes32Dataset("test", n=300, chunk_size=128, cache_chunks=2)
    assert len(ds) == 300 and len(Shapes32Dataset("train")) == 50_000 and len(Shapes32Dataset("test")) == 10_000
    batch = shapes32("test", 0, 300)
    for i in (0, 127, 128, 299, -1, 5):
        image, labels, caption = ds[i]
        assert torch.equal(image, batch.images[i]) and caption == batch.captions[i]
        assert all(torch.equal(labels[k], batch.labels[k][i]) for k in batch.labels)
    with pytest.raises(IndexError):
        ds[300]
    images, labels, captions = next(iter(torch.utils.data.DataLoader(ds, batch_size=300)))
    assert torch.equal(images, batch.images) and list(captions) == batch.captions
    assert torch.equal(labels["shape"], batch.labels["shape"])
    with pytest.raises(ValueError, match="split"):
        Shapes32Dataset("val")
