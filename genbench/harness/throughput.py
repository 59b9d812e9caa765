"""Sampling throughput, measured apart from metric work.

``TimedGenerator`` times the sampling calls an evaluation makes anyway (so generators too slow
to sample twice are timed at no extra cost), each under ``torch.inference_mode`` with CUDA
synchronised before and after when the generator runs there; the first call is the warm-up and
the median of the rest is reported.

Peak memory is CUDA's max allocated bytes on GPU, else the process's peak resident set size
(which includes everything loaded before).
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time

import torch

from genbench.generators.base import Generator

MIN_TIMED_SECONDS = 2.0  # timed sampling per generator at least (cheap generators get more calls)
MIN_TIMED_SECONDS_ENV = "GENBENCH_MIN_TIMED_SECONDS"  # overrides it (the test suite sets 0: it times nothing)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class TimedGenerator(Generator):
    """Wraps a generator and times each ``sample_range`` call, so throughput comes from the
    evaluation's own sampling at no extra cost and apart from metric work.

    Each call runs under ``torch.inference_mode`` with the device synchronised before and after;
    the result is cloned out of inference mode (uint8, cheap) so metric code may use it freely.
    ``throughput()`` reports the median over calls of the full batch size, leaving out the first
    call as warm-up when there are at least two. ``first`` holds samples 0 … keep_first−1 when the
    calls produce them (for sample grids)."""

    def __init__(self, inner: Generator, keep_first: int = 0) -> None:
        self.inner, self.meta = inner, inner.meta
        self.micro_batch = inner.micro_batch
        self.device = torch.device(getattr(inner, "device", "cpu"))
        self.calls: list[tuple[int, float]] = []  # (batch size, seconds)
        self.keep_first, self._kept = keep_first, []
        if hasattr(inner, "captions_for"):  # caption-conditioned: the runner scores prompts with these
            self.captions_for = inner.captions_for
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def sample_range(self, seed: int, start: int, n: int) -> torch.Tensor:
        with torch.inference_mode():
            _sync(self.device)
            t0 = time.perf_counter()
            images = self.inner.sample_range(seed, start, n)
            _sync(self.device)
            self.calls.append((n, time.perf_counter() - t0))
        images = images.clone()
        have = sum(len(b) for b in self._kept)
        if start <= have < self.keep_first:
            self._kept.append(images[have - start:self.keep_first - start])
        return images

    @property
    def first(self) -> torch.Tensor | None:
        """Samples 0 … keep_first−1 (fewer if fewer were drawn), or None."""
        return torch.cat(self._kept) if self._kept else None

    def throughput(self, min_repeats: int = 3, min_seconds: float | None = None,
                   top_up_seconds: float = 10.0) -> dict:
        """{"images_per_s", "ms_per_image", "nfe", "batch_size", "repeats" (timed calls), "warmup" (0 or 1),
        "timed_seconds", "peak_memory_mb", "device", "method"}.

        Timing only (samples from index 0 again), calls of the full batch size are added now until
        there are a warm-up and at least ``min_repeats`` timed calls that together last at least
        ``min_seconds`` (default ``MIN_TIMED_SECONDS``), as long as the added calls take at most
        ``top_up_seconds``: a generator whose call lasts a few milliseconds is timed over enough
        calls for its median to be stable."""
        if min_seconds is None:
            min_seconds = float(os.environ.get(MIN_TIMED_SECONDS_ENV, MIN_TIMED_SECONDS))
        if not self.calls:
            raise ValueError(f"{self.meta.name}: nothing was sampled, so nothing was timed")
        batch = max(n for n, _ in self.calls)

        def full() -> list[float]:
            return [s for n, s in self.calls if n == batch]

        spent = 0.0
        while True:
            times = full()
            timed = times[1:] if len(times) >= 2 else []
            short = len(timed) < min_repeats or sum(timed) < min_seconds
            if not short or spent + min(times) > top_up_seconds:
                break
            self.sample_range(0, 0, batch)
            spent += self.calls[-1][1]
        times = full()
        warmup = 1 if len(times) >= 2 else 0
        median = statistics.median(times[warmup:])
        return {"images_per_s": batch / median, "ms_per_image": 1000 * median / batch, "nfe": self.meta.nfe,
                "batch_size": batch, "repeats": len(times) - warmup, "warmup": warmup,
                "timed_seconds": round(sum(times[warmup:]), 4),
                "peak_memory_mb": _peak_memory_mb(self.device), "device": str(self.device),
                "method": f"median over full-batch sampling calls (the first = warm-up; topped up to >= {min_repeats} "
                          f"timed calls lasting >= {min_seconds:g} s together)"}


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    # ru_maxrss is KiB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)
