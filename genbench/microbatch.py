"""Fixed micro-batches aligned to global indices: the one way genbench cuts network evaluations.

Float32 kernels (oneDNN convolutions, BLAS GEMMs, cuDNN) may choose another algorithm, blocking
or vectorisation for another batch shape, so the same row can round differently in a batch of 6
than in a batch of 7. A request's size therefore never decides a shape: row i is always computed
in micro-batch ⌊i / m⌋ — rows [m⌊i/m⌋, m⌊i/m⌋ + m), at position i mod m, in a call of exactly m
rows. A micro-batch that the request covers only in part is still computed whole (rows outside
the request are padding, computed and discarded), so row i gets the same companions whatever the
batch size, the call boundaries or the number of processes, and its bits cannot depend on how a
request was split. The price is at most m − 1 padding rows per request edge; requests that start
and end on multiples of m (the runner's batches and shards) pay nothing.

Two helpers apply the rule:

- ``sample_aligned(block, start, n, m)`` for generators: ``block(lo)`` returns rows lo … lo+m−1 of
  the global sequence (lo a multiple of m); the rows start … start+n−1 are cut out of the blocks.
- ``map_micro_batches(fn, x, m, start)`` for functions of a given batch (feature extractors,
  encoders): ``x[j]`` is global row start + j and goes through the same micro-batch, at the same
  position, as in any other call that contains it; the positions a call does not cover are padded
  with copies of its nearest row (a row's result does not depend on its companions' values, only
  on the call's shape and its position, which this fixes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch

Rows = TypeVar("Rows", torch.Tensor, dict)


def check_micro_batch(m: int) -> int:
    """``m`` as an int, or ValueError unless it is a positive integer."""
    if isinstance(m, bool) or not isinstance(m, int) or m < 1:
        raise ValueError(f"micro_batch must be a positive integer, got {m!r}")
    return m


def aligned_unit(*sizes: int | None) -> int:
    """The least common multiple of the micro-batch sizes given (None counts as 1): batches and
    shards that are multiples of it are aligned to every one of them."""
    return math.lcm(1, *(s for s in sizes if s))


def round_up(n: int, unit: int) -> int:
    """The smallest multiple of ``unit`` that is ≥ n (n ≥ 1)."""
    return -(-n // unit) * unit


def _cut(out: Rows, lo: int, hi: int) -> Rows:
    if isinstance(out, dict):
        return {k: (None if v is None else v[lo:hi]) for k, v in out.items()}
    return out[lo:hi]


def _cat(parts: Sequence[Rows]) -> Rows:
    if isinstance(parts[0], dict):
        return {k: (None if parts[0][k] is None else torch.cat([p[k] for p in parts])) for k in parts[0]}
    return torch.cat(list(parts))


def sample_aligned(block: Callable[[int], Rows], start: int, n: int, m: int) -> Rows:
    """Rows start … start+n−1 (n ≥ 1) of a sequence computed in aligned micro-batches:
    ``block(lo)`` returns rows lo … lo+m−1 (a tensor, or a dict of tensors / None) for each
    lo = k·m that the range touches, and the requested rows are cut out of them."""
    check_micro_batch(m)
    if start < 0 or n < 1:
        raise ValueError(f"need start >= 0 and n >= 1, got start={start}, n={n}")
    end = start + n
    return _cat([_cut(block(lo), max(start, lo) - lo, min(end, lo + m) - lo)
                 for lo in range((start // m) * m, end, m)])


def _padded(rows: torch.Tensor, front: int, back: int) -> torch.Tensor:
    """``rows`` with ``front`` copies of its first row before and ``back`` copies of its last after."""
    if not front and not back:
        return rows
    return torch.cat([rows[:1].expand(front, *rows.shape[1:]), rows, rows[-1:].expand(back, *rows.shape[1:])])


def map_micro_batches(fn: Callable[[torch.Tensor], Rows], x: torch.Tensor, m: int, start: int = 0) -> Rows:
    """``fn`` applied to ``x`` in aligned micro-batches of exactly m rows: ``x[j]`` is global row
    start + j and is computed in micro-batch ⌊(start + j)/m⌋ at position (start + j) mod m;
    positions outside ``x`` are padding (copies of the nearest row of ``x``). Results (a tensor, or
    a dict of tensors / None, rows first) are cut to len(x) rows. An empty ``x`` still makes one
    call, on m rows of zeros, to learn the output's trailing shape, and returns zero rows."""
    check_micro_batch(m)
    if len(x) == 0:
        return _cut(fn(torch.zeros((m, *x.shape[1:]), dtype=x.dtype, device=x.device)), 0, 0)

    def block(lo: int) -> Rows:
        a, b = max(start, lo), min(start + len(x), lo + m)
        return fn(_padded(x[a - start:b - start], a - lo, lo + m - b))

    return sample_aligned(block, start, len(x), m)


def map_micro_batches_list(fn: Callable[[list], torch.Tensor], items: Sequence, m: int, pad_item,
                           start: int = 0) -> torch.Tensor:
    """``map_micro_batches`` for a list (e.g. captions): item j is global item start + j; padding
    positions hold ``pad_item``; ``fn`` maps a list of m items to (m, ...) rows."""
    check_micro_batch(m)
    items = list(items)
    if not items:
        return fn([pad_item] * m)[:0]

    def block(lo: int) -> torch.Tensor:
        a, b = max(start, lo), min(start + len(items), lo + m)
        return fn([pad_item] * (a - lo) + items[a - start:b - start] + [pad_item] * (lo + m - b))

    return sample_aligned(block, start, len(items), m)
