"""The image-feature cache: a reference made of images is computed once per content and feature
space, written as a genbench file under ``$GENBENCH_HOME/references/``, and read from there after.

The key (32 hex digits of a sha256) is made of ``CACHE_FORMAT``, the content's fingerprint (what
the kind of reference says identifies its images: file names, sizes and mtimes, or a procedural
split and genbench's version), the extractor's provenance (name, weights sha256, preprocessing),
``sample_n`` and the source's input record (conversions, ``resize_inputs``). With ``cache=False``
nothing is read or written, and the Reference is what a cached read would give.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from genbench.errors import GenbenchError
from genbench.io import genbench_home
from genbench.metrics.stats import FeatureStats
from genbench.reference.base import Reference
from genbench.reference.compute import compute_reference
from genbench.reference.formats import read_genbench, save_reference_file
from genbench.reference.registry import ReadingOptions

CACHE_FORMAT = 1  # bump when what a cached reference holds changes


def references_cache_dir() -> Path:
    """Where computed image references are kept: ``$GENBENCH_HOME/references``."""
    return genbench_home() / "references"


def file_fingerprint(path: Path) -> list:
    """[resolved path, size in bytes, mtime in ns] of one file."""
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def tree_fingerprint(path: Path) -> list:
    """The resolved folder ``path``, then [relative name, size, mtime in ns] of every file under it, sorted."""
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return [str(path.resolve())] + [[str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def images_reference(source: Any, name: str, extractor: Any, options: ReadingOptions, fingerprint: list) -> Reference:
    """Features of every image of ``source`` (an ImageSource) in ``extractor``'s space → a Reference
    whose provenance says ``source`` = ``name``, kind "images", computed; cached under the content
    ``fingerprint`` + feature space (module docstring) when ``options.cache``. It keeps the first
    ``options.sample_n`` feature rows (float16), moments float64 from all images."""
    source_record = source.provenance() if hasattr(source, "provenance") else {"source": source.name, "n": source.n}
    key_record = {"format": CACHE_FORMAT, "content": fingerprint, "extractor": extractor.provenance(),
                  "sample_n": options.sample_n, "input": source_record}
    key = hashlib.sha256(json.dumps(key_record, sort_keys=True, default=str).encode()).hexdigest()[:32]
    cached = references_cache_dir() / f"{key}.npz"
    if not (options.cache and cached.is_file()):
        if source.n < 2:
            raise GenbenchError(f"{source.name} holds {source.n} image(s); a reference needs at least 2")
        ref = compute_reference(source, source.n, extractor, source.name, "all",
                                sample_n=min(options.sample_n, source.n), batch_size=options.batch_size,
                                progress=options.progress, workers=options.workers)
        ref.provenance |= {"input": source_record}
        if options.cache:
            save_reference_file(ref, cached)
        else:  # what a cached read would give: moments from (mu, sigma, n), float16 rows
            ref.stats = FeatureStats.from_moments(ref.stats.mean, ref.stats.cov, ref.stats.n, ref.stats.provenance)
            ref.sample = ref.sample.astype(np.float16).astype(np.float64)
            ref.provenance |= {"source": name, "kind": "images", "provenance": "computed", "cache": None}
            return ref
    ref = read_genbench(cached, None, extractor.provenance())
    ref.provenance |= {"source": name, "kind": "images", "provenance": "computed", "cache": str(cached)}
    return ref
