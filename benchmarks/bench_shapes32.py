"""Rendering throughput of shapes32 (target: >= 5,000 images/s on a 2-core CPU).

Run: pytest benchmarks/bench_shapes32.py --benchmark-only -p no:cacheprovider
"""

from genbench.data.shapes32 import shapes32

N = 10_000


def test_shapes32_train_10k(benchmark):
    batch = benchmark.pedantic(shapes32, args=("train", 0, N), rounds=5, warmup_rounds=1)
    assert batch.images.shape == (N, 3, 32, 32)
    images_per_s = N / benchmark.stats.stats.median
    benchmark.extra_info["images_per_s"] = round(images_per_s)
    print(f"\nshapes32: {images_per_s:,.0f} images/s (median of {benchmark.stats.stats.rounds} rounds)")
