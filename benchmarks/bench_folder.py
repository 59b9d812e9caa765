"""Reading a folder of PNGs: images per second through ``ImageSource.batches`` (DataLoader workers
decoding while the main process runs the network), against the same images already in memory, and
against pytorch-fid's folder reader (decode only).

Run: pytest benchmarks/bench_folder.py --benchmark-only -o addopts='' -p no:cacheprovider

Two folders of N random RGB PNGs: 32×32 (the network's input size), and 256×256 read with
``resize_inputs=32`` (center crop + PIL bicubic), where decoding is a larger share of the work.
Groups (the summary prints each time ratio as reference ÷ implementation, per image):

- ``features <size>``: shapes-net features of every image; the reference is the extractor on one
  in-memory tensor of the same (resized) images, so a ratio is (folder rate) ÷ (in-memory rate);
- ``decode <size>``: decoding only, no network and no resize; the reference is pytorch-fid's
  ``ImagePathDataset`` + ``DataLoader`` with its own default of min(8, cores) workers and its
  ``ToTensor`` transform.
"""

import os

import numpy as np
import pytest
import torch
from conftest import record
from PIL import Image

from genbench.data.sources import default_workers, folder_source
from genbench.features.registry import get_extractor

N = 400
BATCH = 50  # genbench fid's and pytorch-fid's default batch size
NET_SIZE = 32
WORKERS = sorted({default_workers(), 0})


@pytest.fixture(scope="module", params=[32, 256], ids=lambda s: f"{s}px")
def folder(request, tmp_path_factory):
    """(N random size×size RGB PNGs, size)."""
    path = tmp_path_factory.mktemp(f"pngs{request.param}")
    rng = np.random.default_rng(0)
    for i in range(N):
        pixels = rng.integers(0, 256, (request.param, request.param, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path / f"{i:04d}.png")
    return path, request.param


@pytest.fixture(scope="module")
def extractor():
    return get_extractor("shapes-net")


def _source(folder):
    path, size = folder
    return folder_source(path, resize_inputs=None if size == NET_SIZE else NET_SIZE)


def _features_from_batches(source, ext, workers):
    return torch.cat([ext.features(batch, start) for start, batch in source.batches(BATCH, workers=workers)])


def _features_in_memory(images, ext):
    return torch.cat([ext.features(images[s:s + BATCH], s) for s in range(0, len(images), BATCH)])


def test_in_memory_features(benchmark, folder, extractor):
    images = _source(folder).fetch(0, N)
    benchmark.pedantic(_features_in_memory, args=(images, extractor), rounds=5, warmup_rounds=1)
    record(benchmark, f"features {folder[1]}px", "reference", per=N, unit="image")


@pytest.mark.parametrize("workers", WORKERS, ids=lambda w: f"workers={w}")
def test_folder_features(benchmark, folder, extractor, workers):
    source = _source(folder)
    feats = benchmark.pedantic(_features_from_batches, args=(source, extractor, workers), rounds=5, warmup_rounds=1)
    assert torch.equal(feats, _features_in_memory(source.fetch(0, N), extractor))
    record(benchmark, f"features {folder[1]}px", f"genbench batches(workers={workers}) + shapes-net", per=N,
           unit="image")


def _count(batches) -> int:
    return sum(len(batch[1] if isinstance(batch, (tuple, list)) else batch) for batch in batches)


def test_pytorch_fid_decode(benchmark, folder):
    import torchvision.transforms as TF
    from pytorch_fid.fid_score import ImagePathDataset

    dataset = ImagePathDataset(sorted(folder[0].glob("*.png")), transforms=TF.ToTensor())
    workers = min(8, len(os.sched_getaffinity(0)))  # pytorch-fid's default

    def decode():
        return _count(torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=False, num_workers=workers))

    assert benchmark.pedantic(decode, rounds=5, warmup_rounds=1) == N
    record(benchmark, f"decode {folder[1]}px", "reference", per=N, unit="image")


@pytest.mark.parametrize("workers", WORKERS, ids=lambda w: f"workers={w}")
def test_folder_decode(benchmark, folder, workers):
    source = folder_source(folder[0])
    assert benchmark.pedantic(lambda: _count(source.batches(BATCH, workers=workers)), rounds=5, warmup_rounds=1) == N
    record(benchmark, f"decode {folder[1]}px", f"genbench batches(workers={workers})", per=N, unit="image")
