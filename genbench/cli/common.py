"""What several commands do with their parsed options: build the extractor, load references, turn
generator options into a suite row, parse lists, warn about skipped metrics."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from genbench.cli.options import GENERATOR_OPTIONS, REFERENCE_BATCH_SIZE
from genbench.errors import GenbenchError
from genbench.harness import distributed


def extractor_from_args(name: str, args: argparse.Namespace, specs: Sequence[str] = ()):
    """The extractor ``name`` with the weights options given on the command line (FID Inception, CLIP),
    and for the Inception the resize that references ``specs`` imply (clean-fid's statistics) unless given."""
    from genbench.reference import implied_extractor_options
    from genbench.features.registry import get_extractor

    options = {k: v for k in ("weights", "resize", "device") if (v := getattr(args, k, None)) is not None}
    if name == "inception-v3-fid":
        options = {**implied_extractor_options(list(specs)), **options}
    if getattr(args, "any_weights", False):
        options["expected_sha256"] = None
    try:
        return get_extractor(name, **options)
    except TypeError:  # an option the extractor does not have (else a bug: let it show)
        flags = {"weights": "--weights", "resize": "--resize", "expected_sha256": "--any-weights"}
        given = [flag for key, flag in flags.items() if key in options]
        if not given:
            raise
        raise GenbenchError(f"extractor {name!r} does not take {', '.join(given)}") from None


def reading_options(args: argparse.Namespace) -> dict[str, Any]:
    """How image references are read, from the command line (``workers``, ``resize_inputs``, ``cache``)."""
    return {"workers": args.workers, "resize_inputs": args.resize_inputs, "cache": not getattr(args, "no_cache", False)}


def load_reference(spec: str, ext, args: argparse.Namespace, batch_size: int = REFERENCE_BATCH_SIZE):
    """The reference ``spec`` in ``ext``'s space with the command line's reading options, images read
    in feature batches of ``batch_size`` (under torchrun, rank 0 computes an image reference first and
    the others read its cache)."""
    from genbench.harness.runner import load_reference_once

    return load_reference_once(spec, ext, declared=args.extractor is not None, batch_size=batch_size,
                               progress=not args.quiet and distributed.is_main(), **reading_options(args))


def reference_and_extractor(args: argparse.Namespace, spec: str = "shapes32:train", extractor: str | None = None):
    """(the --ref reference, else ``spec``; the --extractor, else ``extractor``, else the reference's,
    with the weights options)."""
    from genbench.reference import resolve_extractor

    spec = args.ref or spec
    ext = extractor_from_args(resolve_extractor([spec], args.extractor or extractor), args, [spec])
    return load_reference(spec, ext, args), ext


def generator_options(args: argparse.Namespace) -> dict[str, Any]:
    """The generator options given on the command line (store_true flags only when given; 0 is a value)."""
    return {k: v for k in GENERATOR_OPTIONS if (v := getattr(args, k, None)) is not None and v is not False}


def metric_list(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    if not names:
        raise GenbenchError("--metrics takes comma-separated names, e.g. --metrics fid,kid")
    return names


def int_list(text: str, flag: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise GenbenchError(f"{flag} takes comma-separated integers, got {text!r}") from None


def float_list(text: str, flag: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise GenbenchError(f"{flag} takes comma-separated numbers, got {text!r}") from None


def warn_skipped(skipped: dict[str, str], explicit: bool, label: str = "") -> None:
    """One stderr line per metric family that did not run because of the reference (or that was asked for)."""
    for family, reason in skipped.items():
        if explicit or "reference" in reason:
            print(f"genbench: warning: {label}{family} skipped: {reason}", file=sys.stderr)


def log_for(args: argparse.Namespace):
    """``print`` unless --quiet (then nothing)."""
    return (lambda *a, **k: None) if args.quiet else print
