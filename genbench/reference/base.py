"""``Reference``, what generated samples are compared against in one feature space, and its fingerprint.

Moments are float64 with the covariance ÷ (n − 1), as pytorch-fid; feature rows are the float16
sample a reference keeps, read back as float64.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genbench.errors import GenbenchError
from genbench.metrics.frechet import FrechetReference
from genbench.metrics.stats import FeatureStats


@dataclass
class Reference:
    """Reference data for one feature space: ``stats`` (moments with n) or bare ``moments``
    (mu, sigma of foreign files), a feature ``sample`` (rows), the shapes32 ``cell_histogram``,
    ``provenance`` (where it came from and how) and ``extras`` (e.g. the data's own IS)."""

    stats: FeatureStats | None
    sample: np.ndarray | None
    provenance: dict
    cell_histogram: np.ndarray | None = None
    extras: dict = field(default_factory=dict)
    moments: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def mu(self) -> np.ndarray | None:
        return self.stats.mean if self.stats is not None else None if self.moments is None else self.moments[0]

    @property
    def sigma(self) -> np.ndarray | None:
        return self.stats.cov if self.stats is not None else None if self.moments is None else self.moments[1]

    def frechet(self) -> FrechetReference:
        """The cached-factor Fréchet reference of the moments (GenbenchError without moments)."""
        if self.stats is not None:
            return FrechetReference.from_stats(self.stats)
        if self.moments is None:
            raise GenbenchError(f"reference {self.provenance.get('source')} holds no moments (mu, sigma)")
        return FrechetReference(*self.moments)

    def provides(self) -> set[str]:
        """The ``genbench.metrics.registry.NEEDS`` keys this reference meets."""
        out = set()
        if self.stats is not None or self.moments is not None:
            out.add("reference.moments")
        if self.sample is not None:
            out.add("reference.features")
        if self.cell_histogram is not None:
            out.add("reference.cells")
        return out

    @classmethod
    def load(cls, spec: str | Path, extractor: Any = None, **options: Any) -> Reference:
        """Load or compute the reference ``spec``, of any registered kind (``genbench.reference``'s
        docstring lists them; ``genbench.reference.registry`` adds kinds), in ``extractor``'s feature
        space (a FeatureExtractor or a registered name; None: the one the reference records or implies,
        shapes-net for shapes32, inception-v3-fid for other images). A named extractor counts as
        declared by the user, which foreign statistics need. ``options`` (``ReadingOptions``):
        ``batch_size``, ``sample_n``, ``progress``, ``cache``, ``workers``, ``resize_inputs``."""
        if _LOADER is None:  # genbench.reference (the package) installs it on import
            raise RuntimeError("import genbench.reference, not genbench.reference.base, to load references")
        return _LOADER(spec, extractor, **options)


# The loader over the registry of kinds (``genbench.reference.loading.load_any``), installed by
# ``install_loader`` when the package is imported: the kinds build References, so this module
# cannot import them back.
_LOADER: Callable[..., Reference] | None = None


def install_loader(loader: Callable[..., Reference]) -> None:
    """Make ``Reference.load`` call ``loader(spec, extractor, **options)``."""
    global _LOADER
    _LOADER = loader


def reference_fingerprint(ref: Reference) -> str:
    """What identifies a reference's content, whatever its path: the sha256 (first 16 hex digits)
    of its float64 moments, else of its feature rows. Results against references of different
    fingerprints do not compare."""
    digest = hashlib.sha256()
    if ref.mu is not None:
        digest.update(np.ascontiguousarray(ref.mu, np.float64).tobytes())
        digest.update(np.ascontiguousarray(ref.sigma, np.float64).tobytes())
    elif ref.sample is not None:
        digest.update(np.ascontiguousarray(ref.sample, np.float64).tobytes())
    return digest.hexdigest()[:16]
