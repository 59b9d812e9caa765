"""Exact invariance by design: sample i and its features are bit-identical whatever the batch size,
the call boundaries and the number of processes, because every network call is a fixed
micro-batch aligned to global indices (``genbench.microbatch``).

Splits are deliberately unaligned: [0, 70) at once against [0, 7) + [7, 57) + [57, 70), with
micro-batches of 50.
"""

from __future__ import annotations

import pytest
import torch

import genbench as gb
from genbench import assets
from genbench.data.shapes32 import shapes32
from genbench.harness.runner import EvalConfig, evaluate
from genbench.microbatch import aligned_unit, map_micro_batches, map_micro_batches_list, round_up, sample_aligned

SPLITS = ((0, 7), (7, 57), (57, 70))  # unaligned to m = 50
N = SPLITS[-1][1]


def _pieces(sample_range, splits=SPLITS) -> torch.Tensor:
    return torch.cat([sample_range(lo, hi - lo) for lo, hi in splits])


# -- the helpers, on a function whose output records how it was called ------------------------------
def test_sample_aligned_calls_whole_aligned_blocks_only():
    calls = []

    def block(lo: int) -> torch.Tensor:
        calls.append(lo)
        return torch.arange(lo, lo + 4)

    assert sample_aligned(block, 3, 7, 4).tolist() == list(range(3, 10))
    assert calls == [0, 4, 8]
    with pytest.raises(ValueError):
        sample_aligned(block, 0, 0, 4)
    with pytest.raises(ValueError):
        sample_aligned(block, 0, 1, 0)


def test_map_micro_batches_places_every_row_at_its_global_position():
    seen = []

    def fn(x: torch.Tensor) -> torch.Tensor:  # row j of the output: (value, position in the call)
        assert len(x) == 4
        seen.append(x.clone())
        return torch.stack([x, torch.arange(4.0)], dim=1)

    x = torch.arange(10.0, 16.0)  # global rows 5 … 10
    out = map_micro_batches(fn, x, 4, start=5)
    assert out[:, 0].tolist() == x.tolist()
    assert out[:, 1].tolist() == [i % 4 for i in range(5, 11)]
    assert seen[0].tolist() == [10.0, 10.0, 11.0, 12.0]  # global row 4 is padding: a copy of the nearest row
    assert seen[-1].tolist() == [13.0, 14.0, 15.0, 15.0]
    assert map_micro_batches(fn, torch.empty(0), 4).shape == (0, 2)
    words = map_micro_batches_list(lambda items: torch.tensor([len(w) for w in items]), ["a", "bb", "ccc"], 2, "",
                                   start=1)
    assert words.tolist() == [1, 2, 3]


def test_units_and_rounding():
    assert aligned_unit(50, 50) == 50 and aligned_unit(None, 50) == 50 and aligned_unit(4, 6) == 12
    assert round_up(64, 50) == 100 and round_up(50, 50) == 50 and round_up(1, 50) == 50


# -- every bundled generator -----------------------------------------------------------------------
@pytest.fixture
def short_ddpm(random_bundled_assets):
    """The random ddpm-unet re-saved with a 40-step schedule: the ancestral sampler's code path at
    a cost a test can pay (T = 1000 steps of 50-sample micro-batches take minutes)."""
    state, entry = assets.load_bundled_weights("ddpm-unet")
    assets.save_bundled_weights("ddpm-unet", state, {**entry["config"], "T": 40}, command="test", fp16=False)
    return random_bundled_assets


@pytest.mark.parametrize("name, options", [("vae", {}), ("gan", {}), ("ddpm", {}), ("ddim", {"steps": 8}),
                                           ("ddim", {"steps": 8, "eta": 1.0}), ("ldm", {"steps": 3})])
def test_bundled_samples_are_bit_identical_across_unaligned_splits(short_ddpm, name, options):
    gen = gb.get_generator(name, device="cpu", **options)
    assert gen.micro_batch == 50 and gen.meta.options["micro_batch"] == 50
    whole = gen.sample(N, seed=3)
    assert torch.equal(_pieces(lambda lo, n: gen.sample_range(3, lo, n)), whole)
    assert torch.equal(gen.sample_range(3, 60, 1)[0], whole[60])  # one sample alone, mid micro-batch
    assert not torch.equal(gen.sample_range(4, 60, 1)[0], whole[60])


def test_ldm_with_user_captions_is_bit_identical_across_unaligned_splits(random_bundled_assets):
    gen = gb.get_generator("ldm", steps=3, device="cpu")
    captions = ([f"a {size} {color} star on a white background" for size in ("small", "large")
                for color in ("red", "blue", "green")] * 12)[:N]
    whole = gen.sample(N, seed=1, captions=captions)
    pieces = _pieces(lambda lo, n: gen.sample_range(1, lo, n, captions[lo:lo + n]))
    assert torch.equal(pieces, whole)
    assert not torch.equal(whole, gen.sample(N, seed=1))  # the captions were used


def test_another_micro_batch_is_another_recorded_computation(random_bundled_assets):
    small = gb.get_generator("ddim", steps=4, device="cpu", micro_batch=8)
    assert small.meta.options["micro_batch"] == 8
    assert torch.equal(_pieces(lambda lo, n: small.sample_range(0, lo, n), ((0, 3), (3, 13), (13, 20))),
                       small.sample(20))
    with pytest.raises(ValueError, match="micro_batch"):
        gb.get_generator("vae", device="cpu", micro_batch=0)


# -- the evaluation features -------------------------------------------------------------------------
def test_features_and_predictions_are_bit_identical_across_unaligned_splits():
    ext = gb.get_extractor("shapes-net", device="cpu")
    images = shapes32("test", 0, N).images
    whole, preds = ext.extract_all(images)
    pieces = [ext.extract_all(images[lo:hi], lo) for lo, hi in SPLITS]
    assert torch.equal(torch.cat([p[0].features for p in pieces]), whole.features)
    assert torch.equal(torch.cat([p[0].probs for p in pieces]), whole.probs)
    assert torch.equal(torch.cat([p[1]["cell"] for p in pieces]), preds["cell"])
    clip = gb.get_extractor("shapes-clip", device="cpu")
    captions = shapes32("test", 0, N).captions
    scores = gb.clip_score(images, captions, model=clip)
    assert torch.equal(torch.cat([gb.clip_score(images[lo:hi], captions[lo:hi], model=clip, start=lo)
                                  for lo, hi in SPLITS]), scores)


def test_evaluation_does_not_depend_on_the_batch_size(random_bundled_assets):
    gen = gb.get_generator("ldm", steps=1, device="cpu")
    records = [evaluate(gen, config=EvalConfig(n=N, seed=2, batch_size=b, resamples=4, kid_subsets=10), progress=False)
               for b in (7, 64, 1000)]  # n = 70: the last batch is partial in each
    assert [r["provenance"]["batch_size_used"] for r in records] == [50, 100, 1000]
    first = records[0]["metrics"]
    assert {"fid", "kid", "precision", "coverage", "clip_score", "prompt_shape", "pairwise_ssim"} <= first.keys()
    for record in records[1:]:  # every metric comes from the per-sample outputs in sample order: exact
        assert record["metrics"] == first


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_samples_are_bit_identical_across_unaligned_splits(random_bundled_assets):
    # the same micro-batch shapes every call; cuDNN's kernel choice for a shape is fixed only with
    # deterministic algorithms (benchmark mode off)
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        gen = gb.get_generator("ddim", steps=8, device="cuda")
        whole = gen.sample(N, seed=3)
        assert torch.equal(_pieces(lambda lo, n: gen.sample_range(3, lo, n)), whole)
    finally:
        torch.use_deterministic_algorithms(False)
