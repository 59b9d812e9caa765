"""The DDPM U-Net's cost per image per network evaluation (NFE), variant by variant, side by side.

The main job's time is dominated by DDPM-1000 (1000 evaluations of this network per sample), so
these are its levers. Every variant times one batch of noisy inputs through the bundled
``ddpm-unet`` weights under ``torch.inference_mode``, and the summary prints ms per image per NFE
and the speed-up over the reference: the eager NCHW network at batch 125 on 2 threads, which is
how the default preset called it before micro-batches (``DiffusionGenerator`` now runs eager NCHW
in micro-batches of 50). ``torch.compile`` is timed after its warm-up (compilation time is
printed separately and weighed against the gain in docs/speed.md); it is skipped where no
compiler works.

Run: ``pytest benchmarks/bench_unet.py --benchmark-only -o addopts='' -p no:cacheprovider``
"""

from __future__ import annotations

import time

import pytest
import torch
from conftest import record

from genbench.generators.bundled import DiffusionGenerator

GROUP = "ddpm-unet ms per image per NFE"


@pytest.fixture(scope="module")
def unet() -> torch.nn.Module:
    return DiffusionGenerator("ddpm", device="cpu").net.to(memory_format=torch.contiguous_format)


def _inputs(batch: int, channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    t = torch.full((batch,), 500, dtype=torch.long)
    return (x.contiguous(memory_format=torch.channels_last) if channels_last else x), t


def _time(benchmark, net, batch: int, channels_last: bool, threads: int, label: str) -> None:
    x, t = _inputs(batch, channels_last)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            benchmark.pedantic(net, args=(x, t), rounds=15, iterations=1, warmup_rounds=3)
    finally:
        torch.set_num_threads(before)
    record(benchmark, GROUP, label, per=batch, unit="image per NFE")


def test_reference_eager_nchw_batch125(benchmark, unet):
    _time(benchmark, unet, 125, False, 2, "reference")


@pytest.mark.parametrize("batch", [25, 50, 125])
def test_eager_nchw(benchmark, unet, batch):
    _time(benchmark, unet, batch, False, 2, f"eager NCHW, batch {batch}, 2 threads")


@pytest.mark.parametrize("batch", [25, 50, 100, 125])
def test_channels_last(benchmark, unet, batch):
    _time(benchmark, unet.to(memory_format=torch.channels_last), batch, True, 2,
          f"channels_last, batch {batch}, 2 threads")
    unet.to(memory_format=torch.contiguous_format)


def test_channels_last_one_thread(benchmark, unet):
    _time(benchmark, unet.to(memory_format=torch.channels_last), 50, True, 1, "channels_last, batch 50, 1 thread")
    unet.to(memory_format=torch.contiguous_format)


def test_torch_compile(benchmark, unet):
    net = unet.to(memory_format=torch.channels_last)
    x, t = _inputs(50, True)
    started = time.perf_counter()
    try:
        compiled = torch.compile(net)
        with torch.inference_mode():
            compiled(x, t)
    except Exception as exc:  # no C++ compiler, unsupported platform: the fallback is eager
        pytest.skip(f"torch.compile unavailable here: {type(exc).__name__}: {exc}")
    warmup = time.perf_counter() - started
    benchmark.extra_info["compile_warmup_s"] = warmup
    print(f"\ntorch.compile warm-up (compilation + first call): {warmup:.1f} s")
    _time(benchmark, compiled, 50, True, 2, f"torch.compile + channels_last, batch 50, 2 threads "
                                            f"(warm-up {warmup:.0f} s not included)")
    unet.to(memory_format=torch.contiguous_format)
