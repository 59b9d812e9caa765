"""Loading references of any kind, over the registry (``genbench.reference.registry``): the one
entry ``Reference.load`` / ``load_reference``, the loaders the runner and the command line call
with a built extractor, and the choice of extractor a set of references calls for."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from genbench.errors import GenbenchError
from genbench.metrics.stats import check_same_space
from genbench.reference.base import Reference, reference_fingerprint
from genbench.reference.formats import read_genbench, reference_paths
from genbench.reference.registry import DEFAULT_EXTRACTOR, ReadingOptions, ReferenceKind, Spec, kind_of


def _undeclared(spec: str) -> GenbenchError:
    return GenbenchError(f"{spec} holds statistics without provenance (pytorch-fid / clean-fid / ADM layout); say "
                         "which feature space they are in with --extractor (e.g. --extractor inception-v3-fid "
                         "--resize bilinear for pytorch-fid's files); the record will say 'declared by the user'")


def resolve_extractor(specs: list[str], given: str | None) -> str:
    """The extractor name for references ``specs``: ``given``; else the one the first reference
    that records or implies one names (a genbench file's, clean-fid statistics' inception-v3-fid);
    else the first kind's ``default_extractor`` (shapes-net for shapes32), else inception-v3-fid.
    Statistics without provenance (foreign, ADM) are refused without ``given``."""
    if given is not None:
        return given
    recorded, undeclared, default = None, None, None
    for text in specs:
        kind, spec = kind_of(text)
        if kind.needs_declared_extractor:
            undeclared = text
        elif not recorded:
            recorded = kind.recorded_extractor(spec)
        default = default or kind.default_extractor
    if undeclared is not None:
        raise _undeclared(undeclared)
    return recorded or default or DEFAULT_EXTRACTOR


def implied_extractor_options(specs: list[str]) -> dict[str, Any]:
    """Extractor keywords that references ``specs`` imply together (each kind's
    ``extractor_options``): clean-fid statistics fix the Inception's ``resize``; ``{}`` for
    other references. GenbenchError when they imply different values."""
    by_kind: dict[str, tuple[ReferenceKind, list[Spec]]] = {}
    for text in specs:
        kind, spec = kind_of(text)
        by_kind.setdefault(kind.name, (kind, []))[1].append(spec)
    options: dict[str, Any] = {}
    for kind, of_kind in by_kind.values():
        for key, value in kind.extractor_options(of_kind).items():
            if options.get(key, value) != value:
                raise GenbenchError(f"references {', '.join(map(str, specs))} imply different extractor {key}s "
                                    f"({options[key]!r}, {value!r}): they are in different feature spaces")
            options[key] = value
    return options


def holds_images(spec: str) -> bool:
    """Whether reference ``spec`` is images (shapes32, a folder, a .zip, an .npz of samples, a
    torchvision root, an ADM batch's ``arr_0``: its kind's ``holds_images``), so it can be put in any
    feature space."""
    return kind_of(spec)[0].holds_images


def _finish(ref: Reference, spec: str) -> Reference:
    ref.provenance["spec"] = spec  # what loads it again (a check re-runs a baseline's reference)
    ref.provenance["fingerprint"] = reference_fingerprint(ref)
    return ref


def load_reference_spec(spec: str, extractor: Any, declared: bool = True, batch_size: int = 500,
                        sample_n: int = 10_000, progress: bool = True, cache: bool = True, workers: int | None = None,
                        resize_inputs: int | None = None) -> Reference:
    """``Reference.load`` with a built extractor; ``declared``: the user named it (statistics
    without provenance are refused otherwise). The provenance gains ``spec`` and ``fingerprint``."""
    kind, parsed = kind_of(spec)
    if kind.needs_declared_extractor and not declared:
        raise _undeclared(spec)
    options = ReadingOptions(batch_size, sample_n, progress, cache, workers, resize_inputs)
    return _finish(kind.load(parsed, extractor, options), spec)


def load_reference_images(spec: str, extractor: Any, **options: Any) -> Reference:
    """The images of reference ``spec`` in ``extractor``'s feature space, computed and cached like
    any image reference (a second feature space: CMMD's CLIP, FD-DINOv2). An ADM batch gives its
    ``arr_0`` (its stored moments are Inception's). ``options``: ``ReadingOptions`` fields, as
    ``load_reference_spec``. GenbenchError for statistics."""
    kind, parsed = kind_of(spec)
    return _finish(kind.load_images(parsed, extractor, ReadingOptions(**options)), spec)


def load_any(spec: str | os.PathLike, extractor: Any = None, **options: Any) -> Reference:
    """``Reference.load``: ``spec`` in the space of ``extractor`` (built, a name, or None: the one
    ``resolve_extractor`` picks, with the options ``implied_extractor_options`` gives the Inception)."""
    from genbench.features.registry import get_extractor

    declared = extractor is not None
    if not declared or isinstance(extractor, str):
        name = extractor or resolve_extractor([str(spec)], None)
        implied = implied_extractor_options([str(spec)]) if name == "inception-v3-fid" else {}
        extractor = get_extractor(name, **implied)
    return load_reference_spec(str(spec), extractor, declared=declared, **options)


def load_reference(spec: str | os.PathLike = "shapes32", split: str | None = None, extractor: Any = None,
                   root: str | os.PathLike | None = None, expect: dict | None = None,
                   **options: Any) -> Reference:
    """A reference, as ``gb.load_reference``. Two forms:

    - ``load_reference(spec, extractor=None, **options)``: any spec ``Reference.load`` takes (a
      folder or .zip of images, an .npz, a statistics file, ``cleanfid:…``, a torchvision root,
      ``shapes32[:split]``), in ``extractor``'s space (a name or a FeatureExtractor; None: the one
      the reference records or calls for); ``options``: ``ReadingOptions`` fields;
    - ``load_reference(dataset, split, extractor, root=None)`` (``split`` or ``root`` given): the
      genbench file pair ``reference_paths(dataset, split, extractor, root)``, by default the
      bundled statistics (``split`` default "train", ``extractor`` default "shapes-net"); no
      ``options``; FileNotFoundError when a file is missing.

    ``expect`` (an extractor's provenance) is checked against the reference's feature space."""
    if split is None and root is None:
        ref = load_any(spec, extractor, **options)
        if expect is not None:
            check_same_space(ref.provenance, expect, f"reference {ref.provenance.get('source')}",
                             "the extractor in use")
        return ref
    if options:
        raise TypeError(f"load_reference(dataset, split, ...) reads a file pair and takes no {', '.join(options)}")
    name = getattr(extractor, "name", extractor) or "shapes-net"
    if expect is None and not isinstance(extractor, (str, type(None))):
        expect = extractor.provenance()
    split = split or "train"
    stats_path, sample_path = reference_paths(str(spec), split, name, None if root is None else Path(root))
    for path in (stats_path, sample_path):
        if not path.is_file():
            raise FileNotFoundError(f"reference statistics {path} not found; regenerate them with "
                                    f"`genbench stats {spec} --split {split} --extractor {name}`")
    return read_genbench(stats_path, sample_path, expect)
