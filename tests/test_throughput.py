"""Timing generators (``genbench.harness.throughput``): a median over timed calls after a warm-up."""

import torch

from genbench.data.shapes32 import shapes32
from genbench.generators.user import CallableGenerator


def test_timed_generator_reports_a_median_after_a_warm_up():
    from genbench.harness.throughput import TimedGenerator

    gen = TimedGenerator(CallableGenerator(lambda seed, start, n: shapes32("test", start, n).images, "real", nfe=1),
                         keep_first=5)
    first = gen.sample_range(0, 0, 4)
    gen.sample_range(0, 4, 4)
    assert torch.equal(gen.first, torch.cat([first, shapes32("test", 4, 1).images]))
    tp = gen.throughput(min_repeats=3)  # two full-size calls were too few: topped up to 1 warm-up + 3
    assert tp["warmup"] == 1 and tp["repeats"] == 3 and tp["batch_size"] == 4 and tp["images_per_s"] > 0
    assert len(gen.calls) == 4
    tp = gen.throughput(min_repeats=3, min_seconds=0.05)  # cheap calls: more of them, until 50 ms are timed
    assert tp["timed_seconds"] >= 0.05 and tp["repeats"] == len(gen.calls) - 1 > 3
    assert sum(s for _, s in gen.calls[1:-1]) < 0.05  # and not one call more than that took
