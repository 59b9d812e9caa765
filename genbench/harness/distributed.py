"""Distributed evaluation over ``torch.distributed``, launched by ``torchrun``.

Conventions:

- A process takes part in a distributed run when torchrun's environment says ``WORLD_SIZE > 1``
  and ``init_from_env`` has joined the process group. Otherwise it is rank 0 of a world of 1 and
  every collective here returns its input unchanged, so single-process code pays nothing.
- Backend: ``"nccl"`` when the evaluation device is CUDA (CUDA available and NCCL built), else
  ``"gloo"``. Each rank makes ``cuda:LOCAL_RANK`` its current device, so code that asks for
  ``"cuda"`` (the default device of the bundled generators and extractors) lands on its own GPU.
  The same command runs on CPUs (gloo) and GPUs (nccl) without changes.
- Sample indices are sharded in contiguous blocks in rank order (``shard_range``): concatenating
  the ranks' rows in rank order gives sample order. Shards are whole units (micro-batches, see
  ``genbench.microbatch``) except where n cuts the last one; their unit counts differ by at most 1.
- ``gather_rows`` concatenates per-sample rows in sample order on every rank. Tensors travel on the backend's
  device (CUDA for nccl, CPU for gloo) and come back on the CPU.
- Every rank must call each collective in the same order (as in any torch.distributed program).
  Only rank 0 (``is_main()``) should print results; files go through ``harness.outputs.RunFolder``,
  which writes on rank 0 only. Moments summed across ranks bit-exactly: ``ExactSums.all_reduce``
  (``genbench.metrics.exact_sums``).
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.distributed as dist


Rows = torch.Tensor | np.ndarray


# -- process group -------------------------------------------------------------------------------
def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _wants_cuda(device: str | torch.device | None) -> bool:
    if device is None:
        return torch.cuda.is_available()
    return torch.device(device).type == "cuda"


def backend_for(device: str | torch.device | None = None) -> str:
    """``"nccl"`` for a CUDA device (``None``: CUDA when available) when NCCL is built, else ``"gloo"``."""
    return "nccl" if _wants_cuda(device) and dist.is_nccl_available() else "gloo"


def is_initialized() -> bool:
    """Whether this process has joined a process group."""
    return dist.is_available() and dist.is_initialized()


def init_from_env(device: str | torch.device | None = None) -> bool:
    """Join the process group that torchrun's environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
    ``MASTER_ADDR``, ``MASTER_PORT``) describes; return whether this process runs distributed.

    Without ``WORLD_SIZE > 1`` it does nothing and returns False. Idempotent: an already
    initialised group is kept. ``device`` is the evaluation device (default: CUDA when available);
    it picks the backend (``backend_for``) and, for CUDA, makes ``cuda:LOCAL_RANK`` current. The
    group is destroyed at interpreter exit if nobody did so before (``shutdown``).
    """
    if is_initialized():
        return world_size() > 1
    if _env_int("WORLD_SIZE", 1) <= 1:
        return False
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    if _wants_cuda(device):
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend_for(device))
    atexit.register(shutdown)
    return world_size() > 1


def shutdown() -> None:
    """Destroy the process group if one is initialised (idempotent)."""
    if is_initialized():
        dist.destroy_process_group()


@contextmanager
def session(device: str | torch.device | None = None) -> Iterator[bool]:
    """``with session() as distributed:`` — ``init_from_env`` on entry; on exit, destroy the group
    if this block created it. Yields whether the run is distributed."""
    owned = not is_initialized()
    try:
        yield init_from_env(device)
    finally:
        if owned:
            shutdown()


def rank() -> int:
    """This process's global rank (0 when not distributed)."""
    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    """Number of processes in the group (1 when not distributed)."""
    return dist.get_world_size() if is_initialized() else 1


def local_rank() -> int:
    """This process's rank on its node (torchrun's ``LOCAL_RANK``; 0 when unset): its GPU index."""
    return _env_int("LOCAL_RANK", 0)


def is_main() -> bool:
    """True on rank 0, the one process that prints results and writes files."""
    return rank() == 0


def barrier() -> None:
    """Wait until every rank gets here (no-op when not distributed)."""
    if world_size() > 1:
        dist.barrier()


def _comm_device() -> torch.device:
    """Where collective buffers live: the current CUDA device for nccl, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _all_gather_object(obj: Any) -> list[Any]:
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


# -- sharding and collectives ----------------------------------------------------------------------
def shard_range(n: int, rank: int, world: int, unit: int = 1) -> range:
    """Sample indices of ``rank``'s shard of ``range(n)`` over ``world`` ranks: contiguous blocks of
    whole ``unit``s (the ⌈n / unit⌉ units, the last one cut at n, dealt in rank order, the first
    ranks getting one more unit when they do not divide evenly), so the shards partition
    ``range(n)``, every shard starts at a multiple of ``unit``, and concatenating them in rank order
    gives sample order. Empty when there are fewer units than ranks."""
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"need 0 <= rank < world, got rank={rank}, world={world}")
    if n < 0 or unit < 1:
        raise ValueError(f"need n >= 0 and unit >= 1, got n={n}, unit={unit}")
    base, extra = divmod(-(-n // unit), world)
    first = rank * base + min(rank, extra)
    return range(min(n, first * unit), min(n, (first + base + (rank < extra)) * unit))


def gather_rows(x: Rows | None) -> Rows | None:
    """Concatenate every rank's rows (along dim 0) in rank order — sample order for
    ``shard_range`` shards — and return the result on every rank, on the CPU, as the kind (torch
    or numpy) and dtype the ranks passed. Shards may differ in size (buffers are padded to the
    largest); a rank with no rows passes ``None`` (or an empty array of the same trailing shape).
    Returns ``None`` when every rank passed ``None``; ValueError when ranks disagree on trailing
    shape, dtype or kind. Not distributed: returns ``x`` unchanged."""
    if world_size() == 1:
        return x
    local = None if x is None else torch.as_tensor(np.ascontiguousarray(x) if isinstance(x, np.ndarray) else x)
    metas = _all_gather_object(None if local is None else
                               (len(local), tuple(local.shape[1:]), local.dtype, isinstance(x, np.ndarray)))
    shapes = {m[1:] for m in metas if m is not None}
    if not shapes:
        return None
    if len(shapes) > 1:
        raise ValueError("gather_rows: ranks passed rows of different trailing shapes / dtypes: "
                         f"{sorted(map(str, shapes))}")
    ((trailing, dtype, as_numpy),) = shapes
    counts = [0 if m is None else m[0] for m in metas]
    if local is None:
        local = torch.empty((0, *trailing), dtype=dtype)
    if max(counts) == 0:
        rows = local.cpu()
    else:
        wire = torch.uint8 if dtype == torch.bool else dtype  # bool travels as uint8 (backend support varies)
        buf = torch.zeros((max(counts), *trailing), dtype=wire, device=_comm_device())
        buf[:len(local)] = local.to(buf.device, wire)
        parts = [torch.empty_like(buf) for _ in counts]
        dist.all_gather(parts, buf)
        rows = torch.cat([p[:c] for p, c in zip(parts, counts)]).cpu().to(dtype)
    return rows.numpy() if as_numpy else rows
