"""Distributed evaluation: sharding, the collectives over 2 gloo processes, and `genbench eval`
under torchrun with 2 processes giving the single-process results (four `genbench eval` processes a
test, 30–40 s each on a 2-core CPU: marked slow, ``-m slow``).

``noisy_test_images`` is also the ``module:callable`` generator the subprocesses load
(``test_distributed:noisy_test_images`` with this folder on PYTHONPATH).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from genbench.data.disturb import gaussian_noise
from genbench.data.shapes32 import shapes32
from genbench.harness import distributed

TESTS = Path(__file__).resolve().parent
DIST_ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def noisy_test_images(seed: int, start: int, n: int) -> torch.Tensor:
    """shapes32 test images start … start+n−1 with Gaussian noise (level 0.3) seeded per sample by
    (seed, i): sample i depends only on (seed, i), as the Generator contract requires."""
    clean = shapes32("test", start, n).images
    return torch.cat([gaussian_noise(clean[k:k + 1], 0.3, torch.Generator().manual_seed(seed * 1_000_003 + start + k))
                      for k in range(n)])


# -- sharding ------------------------------------------------------------------------------------
@pytest.mark.parametrize("n, world", [(0, 1), (1, 1), (10, 1), (10, 2), (201, 2), (7, 3), (2, 3), (5, 8), (1000, 7)])
@pytest.mark.parametrize("unit", [1, 50])
def test_shards_partition_the_samples_in_order(n, world, unit):
    shards = [distributed.shard_range(n, r, world, unit) for r in range(world)]
    assert [i for s in shards for i in s] == list(range(n))  # each index once, rank order = sample order
    assert all(s.step == 1 and (not s or s.start % unit == 0) for s in shards)  # whole units
    units = [-(-len(s) // unit) for s in shards]
    assert max(units) - min(units) <= 1


@pytest.mark.parametrize("n, rank, world, unit", [(10, 2, 2, 1), (10, -1, 2, 1), (10, 0, 0, 1), (-1, 0, 1, 1),
                                                  (10, 0, 1, 0)])
def test_shard_range_refuses_bad_arguments(n, rank, world, unit):
    with pytest.raises(ValueError):
        distributed.shard_range(n, rank, world, unit)


# -- one process: everything is the identity -----------------------------------------------------
def test_without_torchrun_nothing_is_distributed(monkeypatch):
    for name in DIST_ENV:
        monkeypatch.delenv(name, raising=False)
    assert distributed.init_from_env() is False and not distributed.is_initialized()
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    x = torch.arange(6.0).reshape(3, 2)
    assert distributed.gather_rows(x) is x and distributed.gather_rows(None) is None
    distributed.barrier()
    with distributed.session() as is_distributed:
        assert is_distributed is False


def test_backend_follows_the_device():
    assert distributed.backend_for("cpu") == "gloo"
    expected = "nccl" if torch.distributed.is_nccl_available() else "gloo"
    assert distributed.backend_for("cuda") == expected
    assert distributed.backend_for(None) == (expected if torch.cuda.is_available() else "gloo")


# -- two gloo processes: the collectives ---------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _collectives_worker(rank: int, world: int, port: int) -> None:
    """One rank of the spawned group: checks gather_rows against the
    single-process answer (an AssertionError in any rank fails mp.spawn)."""
    torch.set_num_threads(1)
    os.environ.update(WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    with distributed.session("cpu") as is_distributed:
        assert is_distributed and distributed.init_from_env("cpu")  # idempotent
        assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (rank, world, rank == 0)

        # unequal shards (4, 3), several dtypes and ranks; torch in → torch out, numpy in → numpy out
        whole = torch.arange(7 * 2, dtype=torch.float32).reshape(7, 2) / 3
        images = torch.randint(0, 256, (7, 3, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
        shard = distributed.shard_range(7, rank, world)
        assert torch.equal(distributed.gather_rows(whole[shard.start:shard.stop]), whole)
        assert torch.equal(distributed.gather_rows(images[shard.start:shard.stop]), images)
        flags = whole[:, 0] > 1
        assert torch.equal(distributed.gather_rows(flags[shard.start:shard.stop]), flags)
        ids = np.arange(7, dtype=np.int64) * 11
        got = distributed.gather_rows(ids[shard.start:shard.stop])
        assert isinstance(got, np.ndarray) and got.dtype == np.int64 and np.array_equal(got, ids)

        # n < world: the last rank has nothing and says so with None (or with no rows)
        shard = distributed.shard_range(1, rank, world)
        part = whole[shard.start:shard.stop] if len(shard) else None
        assert torch.equal(distributed.gather_rows(part), whole[:1])
        assert torch.equal(distributed.gather_rows(whole[shard.start:shard.stop]), whole[:1])
        assert distributed.gather_rows(None) is None

        distributed.barrier()
    assert not distributed.is_initialized()


def test_collectives_over_two_gloo_processes():
    mp.spawn(_collectives_worker, args=(2, _free_port()), nprocs=2, join=True)


# -- genbench eval: 1 process vs torchrun with 2 ---------------------------------------------------
def _genbench_eval(out: Path, nproc: int, generator: str, *options: str) -> dict:
    """``genbench eval`` as a user types it: plain, or under ``torchrun --nproc_per_node=N`` (which
    gives each process one thread); the 1-process run gets one thread too, so that the runs differ
    only in the number of processes."""
    env = {k: v for k, v in os.environ.items() if k not in DIST_ENV}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")]))
    torchrun = Path(sys.executable).with_name("torchrun")
    launcher = ([sys.executable, "-m", "genbench"] if nproc == 1 else
                [str(torchrun), f"--nproc_per_node={nproc}", f"--master_port={_free_port()}", "-m", "genbench"])
    cmd = [*launcher, "eval", generator, *options, "--quiet", "--format", "json", "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = json.loads(proc.stdout)  # one JSON document: only rank 0 printed
    written = json.loads((out / "results.json").read_text())
    assert printed == written
    return written


def _assert_same_results(one: dict, two: dict, expected: set[str], n: int) -> None:
    assert one["provenance"]["world_size"] == 1 and two["provenance"]["world_size"] == 2
    (name,) = one["models"]
    m1, m2 = one["models"][name]["metrics"], two["models"][name]["metrics"]
    assert expected <= m1.keys() and m1["fid"]["n"] == n
    # every metric, FID included, comes from the per-sample outputs gathered in sample order: exact
    assert m1 == m2


def test_torchrun_two_processes_give_the_single_process_results(tmp_path):
    # a user callable: n = 201 → shards of 101 and 100; batches of 64 cut them differently
    options = ("-n", "201", "--seed", "3", "--batch-size", "64", "--resamples", "4")
    one = _genbench_eval(tmp_path / "one", 1, "test_distributed:noisy_test_images", *options)
    two = _genbench_eval(tmp_path / "two", 2, "test_distributed:noisy_test_images", *options)
    _assert_same_results(one, two, {"fid", "kid", "is", "precision", "pairwise_ssim"}, 201)
    assert one["models"]["test_distributed:noisy_test_images"]["metrics"]["pairwise_ssim"]["n"] == 100


@pytest.mark.slow
def test_torchrun_eval_ddim_dash_n_256_equals_one_process(tmp_path):
    # the command line of the docs: `torchrun --nproc_per_node=2 -m genbench eval ddim -n 256` (its -n
    # reaches genbench); 256 is not a multiple of the batch size (the default preset's 50, one
    # micro-batch): 6 micro-batches, 3 per rank, the last one cut at 256
    options = ("-n", "256", "--steps", "10", "--seed", "3", "--resamples", "4")
    one = _genbench_eval(tmp_path / "one", 1, "ddim", *options)
    two = _genbench_eval(tmp_path / "two", 2, "ddim", *options)
    _assert_same_results(one, two, {"fid", "kid", "is", "precision", "mode_coverage", "pairwise_ssim"}, 256)
    assert one["provenance"]["batch_size_used"] == 50
