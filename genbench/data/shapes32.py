"""shapes32: genbench's embedded, fully procedural benchmark domain.

Each image is 32×32 RGB (uint8, NCHW) showing one anti-aliased shape on a flat background.
Factors: shape (``SHAPES``), colour (``COLORS``), size bin (``SIZES``) with a continuous radius
inside the bin, position, rotation and background tone (``BACKGROUNDS``).

Conventions
- Pixel coordinates: x to the right, y downward, in pixels; the image spans [0, 32]², so pixel
  (row i, column j) has its centre at (j + 0.5, i + 0.5).
- ``radius`` (pixels) is the shape's circumradius: every shape lies in the disk of that radius
  around its centre (``cx``, ``cy``), and that disk lies at least ``MARGIN`` pixels inside the image.
- ``angle`` (radians, [0, 2π)) turns the shape clockwise on screen (y points down).
- Anti-aliasing is analytic: a pixel's coverage is ``clamp(0.5 - d, 0, 1)`` where d is the signed
  distance (pixels) from its centre to the shape's outline, negative inside.

Determinism: image i of a split is a pure function of (split, i). Its factors come from a
counter-based SplitMix64 hash of (split, factor, i), never from a sequential RNG stream, so any
slice ``(start, n)`` reproduces the same images; train and test use different hash keys. Per-image
trigonometry uses a polynomial in IEEE-754 + and × only, and per-pixel work is float32 elementwise
+ − × ÷ √ abs min max, so results do not depend on the platform's libm, SIMD width or thread count.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

IMAGE_SIZE = 32
MARGIN = 1.0  # pixels between the shape's bounding disk and the image border

SHAPES = ("circle", "square", "triangle", "diamond", "star", "cross", "ring", "crescent", "heart", "semicircle")
COLORS = ("red", "green", "blue", "yellow", "magenta", "cyan", "orange", "purple")
COLOR_RGB = ((230, 30, 30), (30, 180, 40), (30, 70, 235), (245, 225, 20),
             (230, 50, 210), (20, 215, 225), (255, 128, 0), (115, 30, 165))
SIZES = ("small", "medium", "large")
SIZE_RADII = ((5.5, 7.0), (8.0, 10.0), (11.0, 13.0))  # [low, high) circumradius in pixels per bin
BACKGROUNDS = ("black", "gray", "white", "beige")
BACKGROUND_RGB = ((0, 0, 0), (128, 128, 128), (255, 255, 255), (225, 210, 170))

SPLIT_SIZES = {"train": 50_000, "test": 10_000}  # nominal sizes; any index >= 0 is valid
_SPLIT_IDS = {"train": 1, "test": 2}
_RENDER_CHUNK = 2048  # images rendered at once; bounds memory, does not change results


# --- counter-based hashing: factors of image i -------------------------------------------------

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijective avalanche mix of uint64 values (wrapping arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _hash(index: np.ndarray, split: str, stream: int) -> np.ndarray:
    """An independent uint64 per (split, stream, index)."""
    key = _splitmix64(np.array([_SPLIT_IDS[split] << 16 | stream], dtype=np.uint64))
    return _splitmix64(index * _GOLDEN + key)


def _uniform(index: np.ndarray, split: str, stream: int) -> np.ndarray:
    """Float64 in [0, 1) with 24 random bits (exact in float32 too)."""
    return (_hash(index, split, stream) >> np.uint64(40)).astype(np.float64) * 2.0**-24


_COS_TAYLOR = [(-1) ** k / math.factorial(2 * k) for k in range(11)]
_SIN_TAYLOR = [(-1) ** k / math.factorial(2 * k + 1) for k in range(11)]


def _cos_sin_of_turns(turns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of 2π·turns for turns in [0, 1), float64, via Taylor polynomials on a quarter
    turn: IEEE + and × give the same bits everywhere, libm/SIMD sin and cos do not."""
    quadrant = np.floor(turns * 4.0)
    x = (turns * 4.0 - quadrant) * (math.pi / 2)
    x2 = x * x
    cos, sin = np.zeros_like(x), np.zeros_like(x)
    for c, s in zip(reversed(_COS_TAYLOR), reversed(_SIN_TAYLOR)):
        cos, sin = cos * x2 + c, sin * x2 + s
    sin = sin * x
    q = quadrant.astype(np.int64)
    return np.choose(q, [cos, -sin, -cos, sin]), np.choose(q, [sin, cos, -sin, -cos])


def _sample_factors(split: str, start: int, n: int) -> dict[str, np.ndarray]:
    """All factors of images start .. start+n-1 (int64 indices into the name tuples; float64 geometry)."""
    index = np.arange(start, start + n, dtype=np.uint64)
    categorical = (("shape", SHAPES), ("color", COLORS), ("size", SIZES), ("background", BACKGROUNDS))
    factors = {name: (_hash(index, split, stream) % np.uint64(len(names))).astype(np.int64)
               for stream, (name, names) in enumerate(categorical)}
    low, high = np.array(SIZE_RADII).T
    radius = low[factors["size"]] + _uniform(index, split, 4) * (high - low)[factors["size"]]
    reach = radius + MARGIN
    factors["radius"] = radius
    factors["cx"] = reach + _uniform(index, split, 5) * (IMAGE_SIZE - 2 * reach)
    factors["cy"] = reach + _uniform(index, split, 6) * (IMAGE_SIZE - 2 * reach)
    turns = _uniform(index, split, 7)
    factors["angle"] = turns * (2 * math.pi)
    factors["cos"], factors["sin"] = _cos_sin_of_turns(turns)
    return factors


# --- signed distances in the shape's unit frame (circumradius 1), negative inside ---------------
# Float32 in, float32 out. Exact 2-D SDFs after Inigo Quilez (iquilezles.org/articles/distfunctions2d);
# unions and intersections use min/max, exact near the outline except just outside convex corners.

def _length(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.sqrt(x * x + y * y)


def _box(x: np.ndarray, y: np.ndarray, half_w: float, half_h: float) -> np.ndarray:
    qx, qy = np.abs(x) - half_w, np.abs(y) - half_h
    return _length(np.maximum(qx, 0.0), np.maximum(qy, 0.0)) + np.minimum(np.maximum(qx, qy), 0.0)


def _circle(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _length(x, y) - 1.0


def _square(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _box(x, y, math.sqrt(0.5), math.sqrt(0.5))


def _triangle(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Equilateral, apex at +y, centroid at the origin."""
    k, half_side = math.sqrt(3.0), math.sqrt(3.0) / 2
    px, py = np.abs(x) - half_side, y + 0.5
    fold = px + k * py > 0
    px, py = np.where(fold, (px - k * py) * 0.5, px), np.where(fold, (-k * px - py) * 0.5, py)
    px = px - np.clip(px, -2 * half_side, 0.0)
    return -_length(px, py) * np.sign(py)


def _diamond(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Rhombus with half-diagonals 0.55 (x) and 1 (y): never a square, whatever the rotation."""
    bx, by = 0.55, 1.0
    x, y = np.abs(x), np.abs(y)
    h = np.clip(((bx - 2 * x) * bx - (by - 2 * y) * by) / (bx * bx + by * by), -1.0, 1.0)
    d = _length(x - (1 - h) * (0.5 * bx), y - (1 + h) * (0.5 * by))
    return d * np.sign(x * by + y * bx - bx * by)


def _star(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Five points at radius 1, inner vertices at radius 0.45."""
    inner = 0.45
    k1x, k1y = 0.8090169943749475, -0.5877852522924731  # cos 36°, -sin 36° as literals, not libm
    x = np.abs(x)
    fold = 2 * np.maximum(k1x * x + k1y * y, 0.0)
    x, y = x - fold * k1x, y - fold * k1y
    fold = 2 * np.maximum(-k1x * x + k1y * y, 0.0)
    x, y = np.abs(x + fold * k1x), y - fold * k1y - 1.0
    bax, bay = -inner * k1y, inner * k1x - 1.0
    h = np.clip((x * bax + y * bay) / (bax * bax + bay * bay), 0.0, 1.0)
    return _length(x - h * bax, y - h * bay) * np.sign(y * bax - x * bay)


def _cross(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Plus sign with arms 0.66 wide."""
    half_width = 0.33
    arm = math.sqrt(1 - half_width**2)
    return np.minimum(_box(x, y, arm, half_width), _box(x, y, half_width, arm))


def _ring(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Annulus between radii 0.5 and 1."""
    return np.abs(_length(x, y) - 0.75) - 0.25


def _crescent(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Unit disk minus a disk of radius 0.8 centred at (0.45, 0)."""
    return np.maximum(_length(x, y) - 1.0, 0.8 - _length(x - 0.45, y))


def _heart(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Quilez's heart (tip at the origin, height ~1.1), scaled and shifted into the unit disk."""
    scale, shift = 0.632, 0.63
    x, y = np.abs(x) * scale, y * scale + shift
    lobe = _length(x - 0.25, y - 0.75) - math.sqrt(2) / 4
    m = np.maximum(x + y, 0.0) * 0.5
    body = np.sqrt(np.minimum(x * x + (y - 1) * (y - 1), (x - m) * (x - m) + (y - m) * (y - m)))
    return np.where(x + y > 1, lobe, body * np.sign(x - y)) * (1 / scale)


def _semicircle(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The half of the unit disk with y >= 0."""
    return np.maximum(_length(x, y) - 1.0, -y)


_SDFS: tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], ...] = (
    _circle, _square, _triangle, _diamond, _star, _cross, _ring, _crescent, _heart, _semicircle)
assert len(_SDFS) == len(SHAPES)


# --- rendering ---------------------------------------------------------------------------------
# numpy, not torch: numpy's ufuncs run on one thread, so rendering neither depends on nor stalls
# behind torch's intra-op thread pool (which slows this small-op workload ~100x on a busy CPU).

_PIXEL_CENTRES = np.arange(IMAGE_SIZE, dtype=np.float32) + 0.5


def _unit_frame_coords(geometry: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel centre in its image's shape frame: shifted to (cx, cy), rotated by -angle,
    divided by radius. Arrays (m, 32, 32) float32 from per-image (m, 1, 1) float32 geometry."""
    dx = _PIXEL_CENTRES[None, None, :] - geometry["cx"]
    dy = _PIXEL_CENTRES[None, :, None] - geometry["cy"]
    cos, sin, inv_radius = geometry["cos"], geometry["sin"], geometry["inv_radius"]
    return (dx * cos + dy * sin) * inv_radius, (dy * cos - dx * sin) * inv_radius


def _render(factors: Mapping[str, np.ndarray]) -> np.ndarray:
    """uint8 (n, 3, 32, 32) images for factors from ``_sample_factors``."""
    geometry = {k: factors[k].astype(np.float32)[:, None, None] for k in ("cx", "cy", "cos", "sin", "radius")}
    geometry["inv_radius"] = (1.0 / factors["radius"]).astype(np.float32)[:, None, None]
    distance = np.empty((len(factors["shape"]), IMAGE_SIZE, IMAGE_SIZE), np.float32)  # pixels, < 0 inside
    for kind, sdf in enumerate(_SDFS):
        idx = np.flatnonzero(factors["shape"] == kind)
        if idx.size:
            of_kind = {k: v[idx] for k, v in geometry.items()}
            distance[idx] = sdf(*_unit_frame_coords(of_kind)) * of_kind["radius"]
    coverage = np.clip(0.5 - distance, 0.0, 1.0)[:, None]
    background = np.array(BACKGROUND_RGB, np.float32)[factors["background"]][:, :, None, None]
    foreground = np.array(COLOR_RGB, np.float32)[factors["color"]][:, :, None, None]
    return np.round(background + coverage * (foreground - background)).astype(np.uint8)


# --- public API --------------------------------------------------------------------------------

@dataclass
class Shapes32Batch:
    """Images ``start .. start+n-1`` of a split.

    ``images``: uint8 (n, 3, 32, 32) RGB. ``labels``: int64 (n,) tensors ``shape``, ``color``,
    ``size``, ``background`` (indices into ``SHAPES``, ``COLORS``, ``SIZES``, ``BACKGROUNDS``) and
    float32 (n,) tensors ``radius``, ``cx``, ``cy`` (pixels) and ``angle`` (radians, [0, 2π)).
    ``captions``: "a {size} {color} {shape} on a {background} background".
    """

    images: torch.Tensor
    labels: dict[str, torch.Tensor]
    captions: list[str]

    def __len__(self) -> int:
        return len(self.captions)


CATEGORICAL_LABELS = ("shape", "color", "size", "background")
GEOMETRY_LABELS = ("radius", "cx", "cy", "angle")


def caption_for(shape: int, color: int, size: int, background: int) -> str:
    """The caption for one image's factor indices, e.g. "a large red star on a gray background"."""
    return f"a {SIZES[size]} {COLORS[color]} {SHAPES[shape]} on a {BACKGROUNDS[background]} background"


def captions_for(labels: Mapping[str, torch.Tensor]) -> list[str]:
    """Captions for a batch of labels (int tensors ``shape``, ``color``, ``size``, ``background``)."""
    columns = [labels[k].tolist() for k in CATEGORICAL_LABELS]
    return [caption_for(*row) for row in zip(*columns)]


def heldout_captions(start: int, n: int, split: str = "test") -> list[str]:
    """Captions of shapes32 images start … start+n−1 of ``split`` (default: the held-out test split),
    without rendering the images."""
    _check_arguments(split, start, n)
    factors = _sample_factors(split, start, n)
    return captions_for({k: torch.from_numpy(factors[k]) for k in ("shape", "color", "size", "background")})


def caption_labels(captions: Sequence[str]) -> dict[str, torch.Tensor]:
    """Factor indices int64 (n,) ``shape``, ``color``, ``size``, ``background`` named by each caption
    (−1 where a caption names none of that factor's words, or several), e.g. for prompt accuracy."""
    names = {"shape": SHAPES, "color": COLORS, "size": SIZES, "background": BACKGROUNDS}
    out = {k: torch.full((len(captions),), -1, dtype=torch.long) for k in names}
    for row, caption in enumerate(captions):
        words = re.findall(r"\w+", caption.lower())
        for key, vocab in names.items():
            hits = {vocab.index(w) for w in words if w in vocab}
            if len(hits) == 1:
                out[key][row] = hits.pop()
    return out


def _check_arguments(split: str, start: int, n: int) -> None:
    if split not in SPLIT_SIZES:
        raise ValueError(f"unknown split {split!r}; allowed: {', '.join(map(repr, SPLIT_SIZES))}")
    for name, value in (("start", start), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")


def shapes32(split: str = "test", start: int = 0, n: int = 1000) -> Shapes32Batch:
    """Images ``start .. start+n-1`` of ``split`` ("train": 50,000 nominal, "test": 10,000
    nominal; any index >= 0 is valid). Image i depends only on (split, i), identically on every
    machine, whatever ``start``, ``n`` or the number of threads."""
    _check_arguments(split, start, n)
    factors = _sample_factors(split, start, n)
    images = np.empty((n, 3, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for lo in range(0, n, _RENDER_CHUNK):
        images[lo:lo + _RENDER_CHUNK] = _render({k: v[lo:lo + _RENDER_CHUNK] for k, v in factors.items()})
    labels = {k: torch.from_numpy(factors[k]) for k in CATEGORICAL_LABELS}
    labels |= {k: torch.from_numpy(factors[k].astype(np.float32)) for k in GEOMETRY_LABELS}
    return Shapes32Batch(torch.from_numpy(images), labels, captions_for(labels))


class Shapes32Dataset(Dataset):
    """The first ``n`` images of ``split`` (default: its nominal size) as a map-style dataset.

    Item i is ``(image, labels, caption)``: uint8 (3, 32, 32) tensor, dict of 0-d tensors as in
    ``Shapes32Batch.labels``, str. Images are rendered ``chunk_size`` at a time and the last
    ``cache_chunks`` chunks are kept, so sequential or locally shuffled access is cheap.
    """

    def __init__(self, split: str = "train", n: int | None = None, chunk_size: int = 1024,
                 cache_chunks: int = 4) -> None:
        n = SPLIT_SIZES.get(split, 0) if n is None else n
        _check_arguments(split, 0, n)
        if chunk_size < 1 or cache_chunks < 1:
            raise ValueError(f"chunk_size and cache_chunks must be >= 1, got {chunk_size}, {cache_chunks}")
        self.split, self.n, self.chunk_size, self.cache_chunks = split, n, chunk_size, cache_chunks
        self._cache: OrderedDict[int, Shapes32Batch] = OrderedDict()

    def __len__(self) -> int:
        return self.n

    def _chunk(self, chunk: int) -> Shapes32Batch:
        if chunk in self._cache:
            self._cache.move_to_end(chunk)
        else:
            start = chunk * self.chunk_size
            self._cache[chunk] = shapes32(self.split, start, min(self.chunk_size, self.n - start))
            if len(self._cache) > self.cache_chunks:
                self._cache.popitem(last=False)
        return self._cache[chunk]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor], str]:
        if not -self.n <= i < self.n:
            raise IndexError(f"index {i} out of range for {self.n} images")
        chunk, offset = divmod(i % self.n, self.chunk_size)
        batch = self._chunk(chunk)
        return batch.images[offset], {k: v[offset] for k, v in batch.labels.items()}, batch.captions[offset]
