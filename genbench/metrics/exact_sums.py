"""Exact sums of float32 feature rows: n, Σx and Σxxᵀ with no rounding until they are read.

Float64 sums of products round at every addition, so their last bits depend on the order of the
rows: the batches they came in, the BLAS blocking, the number of processes. A FID of n ≤ d samples
magnifies those last bits to about 1e-8 (the square roots of the near-zero eigenvalues of a
rank-deficient covariance), and to about 1e-12 above that. ``ExactSums`` keeps the sums exact, so
every split, order and merge of the same rows reads out the same float64 bits:

- each float32 value is cut at the fixed powers 2^(18k) into integer digits,
  x = Σ_k D_k · 2^(18k) with |D_k| < 2^18 (truncation and power-of-two scaling do not round);
- Σxxᵀ = Σ_{k,l} 2^(18(k+l)) D_kᵀ D_l (products for k ≤ l; l < k are their transposes): digit
  products are integers below 2^36, and between two balancings (below) at most 2^15 / (B + 1)
  rows are added, B digits per value, so every entry and partial sum is an integer below 2^52,
  which a float64 matrix product computes exactly whatever its blocking, order or use of FMA;
- the sums are kept per power 2^(18s) as balanced digits in [−2^17, 2^17) (the carry moved to the
  next power). Balanced base-2^18 digits are unique for each integer, so equal sums are equal
  digit arrays, and reading them out (``to_stats``: powers added lowest first in float64) gives
  the same bits every time.

Memory: one d × d float64 array per power present (6 for shapes-net's features: 0.8 MB at
d = 128; 7 or 8 at d = 2048: about 240 MB) and up to 1024 buffered float32 rows, independent of n.
Cost: about B(B + 1)/2 float64 matrix products where a plain Σxxᵀ makes one, B (3 or 4) being the
number of 18-bit digits the values span. ``all_reduce`` sums the digits over ``torch.distributed``
ranks (integers: exact in any order) in two collectives, however many rows each rank saw.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from genbench.metrics.stats import FeatureStats, check_same_space

DIGIT_BITS = 18
BASE = float(2 ** DIGIT_BITS)
HALF = float(2 ** (DIGIT_BITS - 1))
# Rows added since the digits were last balanced, each weighted by (its number of digit powers + 1):
# a row adds at most 2 × (powers) × 2^36 to an entry of 2·Σ, so under this load every entry, the
# balanced digit it started from, A + Aᵀ and the carry arithmetic stay below 2^53, where float64
# integers are exact.
LOAD_LIMIT = 2 ** (51 - 2 * DIGIT_BITS)
FLUSH_ROWS = 1024  # rows buffered (float32) before their products are added: larger, faster matrix products

Digits = dict[int, np.ndarray]  # power p → float64 integers, the value's part at 2^(18p)


def float32_rows(feats: Any, dim: int | None = None) -> np.ndarray:
    """Features (n, d) as a float32 array; ValueError for another rank or width, non-finite values,
    or values a float32 cannot hold exactly."""
    arr = feats.detach().cpu().numpy() if isinstance(feats, torch.Tensor) else np.asarray(feats)
    if arr.ndim != 2 or (dim is not None and arr.shape[1] != dim):
        raise ValueError(f"features: expected a 2-D (n, {dim or 'd'}) array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"features: expected floating point values, got dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        raise ValueError(f"features: {int((~np.isfinite(arr)).sum())} non-finite values in shape {arr.shape}")
    x = arr.astype(np.float32)
    if arr.dtype.itemsize > 4 and not np.array_equal(x, arr):
        raise ValueError("features: exact sums take float32 values (extractors return float32); "
                         "these do not fit in float32 exactly")
    return x


def digit_powers(x: np.ndarray) -> range:
    """The powers k whose digits D_k (at 2^(18k)) hold every bit of the float32 values ``x``."""
    nonzero = np.abs(x[x != 0]).astype(np.float64)
    if nonzero.size == 0:
        return range(0)
    _, exponent = np.frexp(nonzero)  # |x| = m · 2^e, ½ ≤ m < 1: bits 2^(e−1) … 2^(e−24)
    return range((int(exponent.min()) - 24) // DIGIT_BITS, (int(exponent.max()) - 1) // DIGIT_BITS + 1)


def split_digits(x: np.ndarray, powers: range) -> dict[int, np.ndarray]:
    """Integer digits D_k (float64, |D_k| < 2^18) with x = Σ_k D_k · 2^(18k) exactly."""
    x = x.astype(np.float64)

    def above(k: int) -> np.ndarray:  # the integer part of x / 2^(18k), rounded toward zero
        return np.trunc(np.ldexp(x, -DIGIT_BITS * k))

    return {k: above(k) - BASE * above(k + 1) for k in powers}


def _add(acc: Digits, power: int, value: np.ndarray) -> None:
    if power in acc:
        acc[power] += value
    else:
        acc[power] = np.array(value, np.float64)


def _balanced(acc: Digits, symmetrize: bool = False) -> Digits:
    """The same sum as balanced digits in [−2^17, 2^17), all-zero powers left out; with
    ``symmetrize``, the sum of (A + Aᵀ) / 2 for each matrix A of ``acc`` (exact: A + Aᵀ is even
    where A holds 2·P for the products P that stand for P + Pᵀ, and the symmetric P_kk once)."""
    out: Digits = {}
    if not acc:
        return out
    power, top = min(acc), max(acc)
    carry = None
    while power <= top or (carry is not None and carry.any()):
        value = acc.get(power)
        if value is not None and symmetrize:
            value = value + value.T
            value *= 0.5
        if carry is not None:
            value = carry if value is None else value + carry
        carry = value + HALF
        carry /= BASE
        np.floor(carry, out=carry)  # exact: integers below 2^53, a power-of-two divisor
        digit = carry * BASE
        np.subtract(value, digit, out=digit)
        if digit.any():
            out[power] = digit
        power += 1
    return out


def _read(digits: Digits, shape: tuple[int, ...]) -> np.ndarray:
    """Σ_p digits[p] · 2^(18p) in float64, lowest power first (the same bits for the same digits)."""
    out = np.zeros(shape, np.float64)
    for power in sorted(digits):
        out += np.ldexp(digits[power], DIGIT_BITS * power)
    return out


class ExactSums:
    """n, Σx and Σxxᵀ of float32 rows of width ``dim``, exact (module docstring).

    ``update(feats)`` adds rows, ``merge(other)`` adds another partial result, ``all_reduce()``
    sums over ``torch.distributed`` ranks, ``to_stats()`` reads them out as ``FeatureStats``.
    ``provenance`` describes the feature space, as ``FeatureStats.provenance``.
    """

    def __init__(self, dim: int, provenance: dict | None = None) -> None:
        if int(dim) <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        self.dim = int(dim)
        self.provenance: dict = dict(provenance or {})
        self.reset()

    def reset(self) -> "ExactSums":
        """Forget every row (n = 0)."""
        self.n = 0
        self._sum: Digits = {}
        self._outer: Digits = {}  # A with Σxxᵀ = (A + Aᵀ) / 2, balanced (and symmetric) when _load == 0
        self._load = 0
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0
        return self

    def update(self, feats: Any) -> "ExactSums":
        """Add the rows of ``feats`` (n, d), float32 values (numpy or torch)."""
        x = float32_rows(feats, self.dim)
        self._pending.append(x.copy())
        self._pending_rows += len(x)
        self.n += len(x)
        if self._pending_rows >= FLUSH_ROWS:
            self._flush()
        return self

    def _flush(self) -> None:
        if not self._pending:
            return
        x = np.concatenate(self._pending)
        self._pending, self._pending_rows = [], 0
        powers = digit_powers(x)
        if not len(powers):  # all zeros: nothing to add
            return
        cost = len(powers) + 1
        step = LOAD_LIMIT // cost
        for lo in range(0, len(x), step):
            part = x[lo:lo + step]
            if self._load + cost * len(part) > LOAD_LIMIT:
                self._balance()
            digits = split_digits(part, powers)
            for k, dk in digits.items():
                _add(self._sum, k, dk.sum(axis=0))
                for l in powers[k - powers.start:]:  # noqa: E741  (l ≥ k; l < k is the transpose)
                    product = dk.T @ digits[l]  # integers below 2^52: exact in any summation order
                    if l != k:
                        product *= 2
                    _add(self._outer, k + l, product)
            self._load += cost * len(part)

    def _balance(self) -> None:
        self._sum, self._outer = _balanced(self._sum), _balanced(self._outer, symmetrize=self._load > 0)
        self._load = 0

    def _settle(self) -> None:
        """Add the buffered rows and balance: the digits are then unique for the sums."""
        self._flush()
        if self._load:
            self._balance()

    def merge(self, other: "ExactSums") -> "ExactSums":
        """Add another partial result in place (the sums of the union of both row sets)."""
        if other.dim != self.dim:
            raise ValueError(f"feature dimension mismatch: {self.dim} vs {other.dim}")
        check_same_space(self.provenance, other.provenance, "these sums", "the merged sums")
        self._settle()
        other._settle()
        for mine, theirs in ((self._sum, other._sum), (self._outer, other._outer)):
            for power, value in theirs.items():
                _add(mine, power, value)
        self._sum, self._outer = _balanced(self._sum), _balanced(self._outer)
        self.n += other.n
        return self

    def all_reduce(self) -> "ExactSums":
        """Sum over all ``torch.distributed`` ranks, in place (a no-op in one process): every rank
        then holds the sums of every rank's rows, the bits one process given all of them holds.
        Two collectives, whatever the number of updates on each rank (a rank that saw no rows
        takes part all the same); ProvenanceMismatch / ValueError when ranks disagree on the
        feature space or the width."""
        import torch.distributed as dist

        from genbench.harness import distributed

        if distributed.world_size() == 1:
            return self
        self._settle()
        metas = distributed._all_gather_object((self.dim, self.n, self.provenance, sorted(self._sum),
                                                sorted(self._outer)))
        for r, (dim, _, provenance, _, _) in enumerate(metas):
            if dim != self.dim:
                raise ValueError(f"feature dimension differs across ranks: rank {distributed.rank()} has "
                                 f"{self.dim}, rank {r} {dim}")
            check_same_space(self.provenance, provenance, f"rank {distributed.rank()}'s sums", f"rank {r}'s sums")
        layout = [(self._sum, p, (self.dim,)) for p in sorted({p for m in metas for p in m[3]})]
        layout += [(self._outer, p, (self.dim, self.dim)) for p in sorted({p for m in metas for p in m[4]})]
        # balanced digits are below 2^17 in size: their sum over ranks fits an int32 exactly
        wire = torch.from_numpy(np.concatenate([np.zeros(int(np.prod(shape)), np.int32) if p not in acc
                                                else acc[p].astype(np.int32).ravel() for acc, p, shape in layout]))
        wire = wire.to(distributed._comm_device())
        dist.all_reduce(wire, op=dist.ReduceOp.SUM)
        flat, offset = wire.cpu().numpy().astype(np.float64), 0
        total: Digits = {}
        outer: Digits = {}
        for acc, p, shape in layout:
            size = int(np.prod(shape))
            (total if acc is self._sum else outer)[p] = flat[offset:offset + size].reshape(shape)
            offset += size
        self._sum, self._outer = _balanced(total), _balanced(outer)
        self.n = sum(m[1] for m in metas)
        return self

    def to_stats(self) -> FeatureStats:
        """The sums as ``FeatureStats`` (float64 Σx and Σxxᵀ, each rounded once, the same bits for
        the same rows however they were split or ordered), for its ``mean`` and ``cov``."""
        self._settle()
        stats = FeatureStats(self.dim, self.provenance, keep_rows=False)
        stats.n = self.n
        stats.sum = _read(self._sum, (self.dim,))
        stats.sum_outer = _read(self._outer, (self.dim, self.dim))
        return stats

    def __repr__(self) -> str:
        return f"ExactSums(dim={self.dim}, n={self.n})"


def exact_stats(feats: Any, provenance: dict | None = None) -> FeatureStats:
    """``FeatureStats`` of float32 rows (n, d) from exact sums: the bits ``ExactSums`` gives for
    any split of the same rows (``StreamingFID``, torchrun)."""
    x = float32_rows(feats)
    return ExactSums(x.shape[1], provenance).update(x).to_stats()
