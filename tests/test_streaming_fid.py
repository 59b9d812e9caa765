"""``ExactSums`` (exact, order-free sums of feature rows) and ``gb.StreamingFID``: unequal batches,
float input and explicit indices give the ``genbench eval --metrics fid`` value bit for bit, and
so does ``torchrun --nproc_per_node=2`` with uneven shards (a rank with fewer batches, or none)."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import genbench as gb
from genbench.cli import main
from genbench.data.shapes32 import shapes32
from genbench.errors import GenbenchError
from genbench.metrics.exact_sums import ExactSums, digit_powers, exact_stats, split_digits

N = 40  # fewer rows than shapes-net's 128 features: a rank-deficient covariance, where FID shows every last bit
DIST_ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def _wide_rows(n: int, d: int, seed: int = 0) -> np.ndarray:
    """float32 rows over 30 binary orders of magnitude, both signs, with exact zeros."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) * np.exp2(rng.uniform(-20, 10, (n, d)))
    x[rng.random((n, d)) < 0.1] = 0
    return x.astype(np.float32)


# -- exact sums ----------------------------------------------------------------------------------
def test_digits_hold_every_bit():
    x = _wide_rows(50, 7).astype(np.float64)
    digits = split_digits(x, digit_powers(x))
    assert np.array_equal(sum(np.ldexp(v, 18 * k) for k, v in digits.items()), x)
    assert all(np.abs(v).max() < 2 ** 18 and np.array_equal(v, np.trunc(v)) for v in digits.values())


def test_sums_are_the_correctly_rounded_exact_sums():
    x = _wide_rows(300, 5)
    stats = ExactSums(5).update(x).to_stats()
    x64 = x.astype(np.float64)  # products of float32 values are exact in float64; fsum rounds their sum once
    exact_outer = np.array([[math.fsum(x64[:, i] * x64[:, j]) for j in range(5)] for i in range(5)])
    exact_sum = np.array([math.fsum(x64[:, i]) for i in range(5)])
    # read out lowest power first: at most 1 ulp from the correctly rounded sum
    assert np.all(np.abs(stats.sum_outer - exact_outer) <= np.spacing(np.abs(exact_outer)))
    assert np.all(np.abs(stats.sum - exact_sum) <= np.spacing(np.abs(exact_sum)))
    assert stats.n == 300 and np.array_equal(stats.sum_outer, stats.sum_outer.T)


def test_sums_do_not_depend_on_split_order_or_merges():
    x = _wide_rows(2500, 6, seed=1)  # more rows than are buffered (1024) and than fit between two balancings
    whole = exact_stats(x)
    parts = ExactSums(6)
    for lo, hi in ((0, 7), (7, 20), (20, 1500), (1500, 2500)):
        parts.update(torch.from_numpy(x[lo:hi]))
    backwards = ExactSums(6).update(x[::-1])
    merged = ExactSums(6).update(x[:1111]).merge(ExactSums(6).update(x[1111:]))
    plain = gb.FeatureStats.from_features(x)
    for other in (parts.to_stats(), backwards.to_stats(), merged.to_stats()):
        assert other.n == 2500
        assert np.array_equal(other.sum, whole.sum) and np.array_equal(other.sum_outer, whole.sum_outer)
    np.testing.assert_allclose(whole.cov, plain.cov, rtol=1e-9, atol=1e-300)  # and they are the sums


def test_exact_sums_refuse_what_they_cannot_hold():
    with pytest.raises(ValueError, match="float32"):
        ExactSums(2).update(np.array([[0.1, 1.0]], np.float64))  # 0.1 is not a float32
    with pytest.raises(ValueError, match="non-finite"):
        ExactSums(2).update(np.array([[np.nan, 1.0]], np.float32))
    with pytest.raises(ValueError, match="2-D"):
        ExactSums(3).update(np.zeros((4, 2), np.float32))


def _all_reduce_worker(rank: int, world: int, port: int) -> None:
    """One of 2 ranks: rank 0 adds rows 0..1199 in three updates, rank 1 rows 1200..1499 in one; a
    second ExactSums gets every row on rank 0 and none on rank 1. After ``all_reduce`` every rank
    holds the one-process sums, bit for bit."""
    from genbench.harness import distributed

    torch.set_num_threads(1)
    os.environ.update(WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    x = _wide_rows(1500, 9, seed=2)
    whole = exact_stats(x)
    with distributed.session("cpu"):
        uneven, lonely = ExactSums(9, {"extractor": "x"}), ExactSums(9, {"extractor": "x"})
        for lo, hi in ((0, 7), (7, 500), (500, 1200)) if rank == 0 else ((1200, 1500),):
            uneven.update(x[lo:hi])
        if rank == 0:
            lonely.update(x)
        for sums in (uneven, lonely):
            stats = sums.all_reduce().to_stats()
            assert stats.n == 1500 and np.array_equal(stats.sum, whole.sum)
            assert np.array_equal(stats.sum_outer, whole.sum_outer)
        with pytest.raises(gb.ProvenanceMismatch):  # ranks in different feature spaces
            ExactSums(9, {"extractor": f"rank {rank}"}).all_reduce()


def test_all_reduce_over_two_gloo_processes_with_uneven_updates():
    import torch.multiprocessing as mp

    mp.spawn(_all_reduce_worker, args=(2, _free_port()), nprocs=2, join=True)


# -- StreamingFID against genbench eval ----------------------------------------------------------
@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> tuple[torch.Tensor, Path, float]:
    """N shapes32 test images, their .npz, and `genbench eval --metrics fid` of it (shapes32 train)."""
    images = shapes32("test", 0, N).images
    path = tmp_path_factory.mktemp("streaming") / "samples.npz"
    np.savez(path, arr_0=images.numpy())
    return images, path, _eval_fid(path)


def _eval_fid(path: Path) -> float:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["eval", str(path), "--metrics", "fid", "-n", str(N), "--resamples", "2", "--quiet",
                     "--format", "json"]) == 0
    return json.loads(out.getvalue())["models"][f"npz:{path.name}"]["metrics"]["fid"]["value"]


def test_unequal_batches_give_the_genbench_eval_value(samples):
    images, _, expected = samples
    fid = gb.StreamingFID("shapes32:train", progress=False)
    for lo, hi in ((0, 7), (7, 20), (20, 40)):
        fid.update(images[lo:hi])
    split = fid.compute()
    fid.reset()
    fid.update(images)
    at_once = fid.compute()
    fid.reset()
    fid.update(images[20:], start=20)  # explicit global indices: any order
    fid.update(images[:20].float() / 255, start=0)  # floats in [0, 1] are rounded to uint8 as eval does
    reordered = fid.compute()
    assert split.value > 1.0  # not vacuous
    for result in (split, at_once, reordered):
        assert abs(result.value - expected) <= 1e-12
        assert result.value == expected  # exact sums: the same bits
        assert result.n == N and result.ci is None
    assert split.provenance["extractor"] == "shapes-net" and split.provenance["weights_sha256"]
    assert split.provenance["reference"]["fingerprint"]


def test_compute_keeps_the_state_and_reset_clears_it(samples):
    images = samples[0]
    fid = gb.StreamingFID("shapes32:train", extractor="shapes-net", progress=False)
    fid.update(images[:30])
    first = fid.compute().value
    assert fid.compute().value == first and fid.n == 30
    fid.reset()
    assert fid.n == 0
    fid.update(images[:1])
    with pytest.raises(GenbenchError, match="at least 2"):
        fid.compute()
    with pytest.raises(ValueError, match="float images must lie in"):
        fid.update(images.float())  # 0..255 in a float tensor


# -- torchrun: uneven shards ---------------------------------------------------------------------
WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np
    import torch
    import genbench as gb
    from genbench.harness import distributed

    images = torch.from_numpy(np.load(sys.argv[1])["arr_0"])
    with distributed.session("cpu"):
        rank = distributed.rank()
        uneven = gb.StreamingFID("shapes32:train", progress=False)  # rank 0: 3 batches; rank 1: 1
        lonely = gb.StreamingFID("shapes32:train", progress=False)  # rank 0: every image; rank 1: none
        if rank == 0:
            for lo, hi in ((0, 7), (7, 20), (20, 30)):
                uneven.update(images[lo:hi])
            lonely.update(images)
        else:
            uneven.update(images[30:], start=30)
        results = [uneven.compute(), lonely.compute()]
        print(json.dumps({"rank": rank, "values": [r.value for r in results], "n": [r.n for r in results],
                          "world_size": results[0].provenance["world_size"]}), flush=True)
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_torchrun_uneven_shards_give_the_single_process_value(samples, tmp_path):
    _, path, _ = samples
    env = {k: v for k, v in os.environ.items() if k not in DIST_ENV}
    env["OMP_NUM_THREADS"] = "1"  # torchrun's per-process threads, for the one-process run too
    one = subprocess.run([sys.executable, "-m", "genbench", "eval", str(path), "--metrics", "fid", "-n", str(N),
                          "--resamples", "2", "--quiet", "--format", "json"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    expected = json.loads(one.stdout)["models"]["npz:samples.npz"]["metrics"]["fid"]["value"]
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    torchrun = Path(sys.executable).with_name("torchrun")
    # a hang (a rank waiting on a collective the other never calls) fails here, at the timeout
    two = subprocess.run([str(torchrun), "--nproc_per_node=2", f"--master_port={_free_port()}", str(script),
                          str(path)], env=env, capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    rows = [json.loads(line) for line in two.stdout.splitlines() if line.startswith("{")]
    assert sorted(r["rank"] for r in rows) == [0, 1]
    for row in rows:  # every rank: all 40 images, the one-process bits
        assert row["world_size"] == 2 and row["n"] == [N, N]
        assert all(abs(v - expected) <= 1e-12 for v in row["values"])
        assert row["values"] == [expected, expected]
