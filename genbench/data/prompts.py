"""Prompt files: the captions a text-to-image generator is conditioned on, one per sample.

Formats (by file name):

- ``.txt``: one prompt per line, in file order; trailing ``\\r``/``\\n`` removed, empty lines skipped.
- ``.jsonl``: one JSON object per line with a caption column, in file order (blank lines skipped).
- ``.csv``: a header row with a caption column, in file order (Python's ``csv`` dialect, UTF-8).
- ``.json``: COCO captions (``captions_train2014.json``, ``captions_val2017.json``, …): the
  ``caption`` of every entry of ``annotations``, sorted by annotation ``id``; whitespace at the
  ends stripped. COCO has about five captions per image, so this is every caption, not one per image.

The caption column is the first of ``caption``, ``text``, ``prompt`` that the file has
(``PROMPT_COLUMNS``), or the one named with ``column``. Sample i gets prompt i mod len (cycled:
``genbench.generators.text_to_image``). ``prompts_provenance`` says what was read (path, format,
column, count, sha256 of the file) for the record.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from genbench.errors import GenbenchError
from genbench.io import sha256_file

PROMPT_COLUMNS = ("caption", "text", "prompt")
FORMATS = (".txt", ".jsonl", ".csv", ".json")
CYCLE_RULE = "sample i gets prompt i mod len(prompts)"


def _column(available: list[str], column: str | None, path: Path) -> str:
    if column is not None:
        if column not in available:
            raise GenbenchError(f"{path} has no column {column!r}; it has {', '.join(available) or 'none'}")
        return column
    for name in PROMPT_COLUMNS:
        if name in available:
            return name
    raise GenbenchError(f"{path} has no caption column ({', '.join(PROMPT_COLUMNS)}); it has "
                        f"{', '.join(available) or 'none'}")


def _read_jsonl(path: Path, text: str, column: str | None) -> tuple[list[str], str]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise GenbenchError(f"{path} line {number} is not JSON: {exc}") from None
        if not isinstance(row, dict):
            raise GenbenchError(f"{path} line {number} is not a JSON object")
        rows.append(row)
    if not rows:
        return [], column or PROMPT_COLUMNS[0]
    name = _column(list(rows[0]), column, path)
    missing = [i for i, row in enumerate(rows, start=1) if not isinstance(row.get(name), str)]
    if missing:
        raise GenbenchError(f"{path}: record {missing[0]} has no string {name!r}")
    return [row[name] for row in rows], name


def _read_csv(path: Path, text: str, column: str | None) -> tuple[list[str], str]:
    reader = csv.DictReader(text.splitlines())
    name = _column(list(reader.fieldnames or []), column, path)
    prompts = []
    for number, row in enumerate(reader, start=2):
        if row.get(name) is None:
            raise GenbenchError(f"{path} line {number} has no {name!r} value")
        prompts.append(row[name])
    return prompts, name


def _read_coco(path: Path, text: str) -> list[str]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise GenbenchError(f"{path} is not JSON: {exc}") from None
    annotations = data.get("annotations") if isinstance(data, dict) else None
    if not isinstance(annotations, list) or not all(isinstance(a, dict) and isinstance(a.get("caption"), str)
                                                    and "id" in a for a in annotations):
        raise GenbenchError(f"{path} is not a COCO captions file (annotations[] with id and caption)")
    return [a["caption"].strip() for a in sorted(annotations, key=lambda a: a["id"])]


def load_prompts(path: str | Path, column: str | None = None) -> list[str]:
    """The prompts of a ``.txt`` / ``.jsonl`` / ``.csv`` / COCO ``.json`` file (module docstring), in order."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise GenbenchError(f"prompts file {path}: unknown format {suffix or '(no suffix)'}; use "
                            f"{', '.join(FORMATS)} (.json: COCO captions)")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GenbenchError(f"prompts file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GenbenchError(f"cannot read prompts file {path}: {exc}") from None
    if suffix == ".txt":
        prompts = [line for line in text.splitlines() if line.strip()]
    elif suffix == ".jsonl":
        prompts, _ = _read_jsonl(path, text, column)
    elif suffix == ".csv":
        prompts, _ = _read_csv(path, text, column)
    else:
        prompts = _read_coco(path, text)
    if not prompts:
        raise GenbenchError(f"prompts file {path} holds no prompts")
    return prompts


def prompts_provenance(path: str | Path, prompts: list[str], column: str | None = None) -> dict[str, Any]:
    """What a prompts file gave, for the record: path, format, column, count, sha256 and the cycling rule."""
    path = Path(path)
    suffix = path.suffix.lower()
    fmt = {".txt": "lines", ".jsonl": "jsonl", ".csv": "csv", ".json": "coco captions, sorted by annotation id"}
    out: dict[str, Any] = {"path": str(path), "format": fmt.get(suffix, suffix), "count": len(prompts),
                           "sha256": sha256_file(path), "rule": CYCLE_RULE}
    if suffix in (".jsonl", ".csv"):
        out["column"] = column or _detected_column(path, suffix)
    return out


def _detected_column(path: Path, suffix: str) -> str:
    text = path.read_text(encoding="utf-8")
    if suffix == ".csv":
        return _read_csv(path, text, None)[1]
    return _read_jsonl(path, text, None)[1]
