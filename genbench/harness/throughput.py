"""Sampling throughput, measured apart from metric work.

Protocol: ``warmup`` untimed calls, then ``repeats`` timed calls of ``sample_range`` on one fixed
batch under ``torch.inference_mode``, with CUDA synchronised before and after each call when
the generator runs there; the median is reported. Peak memory is CUDA's max allocated bytes on
GPU, else the process's peak resident set size (which includes everything loaded before).
"""

from __future__ import annotations

import resource
import statistics
import sys
import time

import torch

from genbench.generators.base import Generator


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_throughput(generator: Generator, batch_size: int = 64, repeats: int = 3, warmup: int = 1,
                       seed: int = 0) -> dict:
    """{"images_per_s", "ms_per_image", "nfe", "batch_size", "repeats", "peak_memory_mb", "device"}."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    times = []
    device = torch.device(getattr(generator, "device", "cpu"))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with torch.inference_mode():
        for i in range(warmup + repeats):
            _sync(device)
            t0 = time.perf_counter()
            generator.sample_range(seed, 0, batch_size)
            _sync(device)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated(device) / 2**20
    else:  # ru_maxrss is KiB on Linux, bytes on macOS
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)
    return {"images_per_s": batch_size / median, "ms_per_image": 1000 * median / batch_size,
            "nfe": generator.meta.nfe, "batch_size": batch_size, "repeats": repeats, "warmup": warmup,
            "peak_memory_mb": peak_mb, "device": str(device)}
