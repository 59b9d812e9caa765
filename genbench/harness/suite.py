"""The suite runner: every command that evaluates models goes through here.

``run`` evaluates a suite's rows, ``eval`` and ``baseline`` a one-model suite, the sweeps suites
whose rows are their grid's cells. Per row: load the generator, then ``evaluate_model`` (sample
with seed ``config.seed`` — sample i depends only on (seed, i) — evaluate every metric, time the
sampling calls, keep the first samples for a grid).

``run_suite`` also writes, into a ``RunFolder`` (rank 0 only): ``results.json`` (the source of
truth; rewritten atomically after every model with ``"complete": false`` until the run ends, so an
interrupted run keeps what it finished and, started again with the same folder and suite,
resumes), ``results.csv``, ``report.md``, ``trilemma.png``, ``samples_<label>.png`` and, for
caption-conditioned models, the grid's prompts and ``prompts_<label>.jsonl`` (every sample's).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genbench.features.weights import WeightsError
from genbench.generators.base import Generator
from genbench.harness.models import load_model
from genbench.harness.one_model import ModelResult, evaluate_model
from genbench.harness.outputs import RunFolder
from genbench.harness.presets import Suite
from genbench.harness.runner import EvalConfig
from genbench.io import command_line

GRID_SAMPLES = 64


@dataclass
class SuiteRow:
    """One model of a suite: its ``label`` in the tables (and the model's name in its record, unless
    ``keep_name``: a sweep cell keeps its generator's name), how to ``load`` its generator, and the
    NFE per sample and parameter count when the generator cannot say them itself."""

    label: str
    load: Callable[[], Generator]
    nfe: int | None = None
    parameters: int | None = None
    keep_name: bool = False


def suite_rows(suite: Suite, device: str | None = None) -> list[SuiteRow]:
    """The rows of ``suite``, each loaded (on demand) with the suite's micro-batch and ``device``; a
    model without a label (``genbench eval``'s) keeps its generator's own name."""
    return [SuiteRow(spec.label or spec.generator, lambda spec=spec: load_model(spec, suite.micro_batch, device),
                     spec.nfe, spec.parameters, keep_name=not spec.label) for spec in suite.models]


def evaluate_rows(rows: Sequence[SuiteRow], config: EvalConfig, *, reference: Any = None, extractor: Any = None,
                  keep_first: int = GRID_SAMPLES, progress: bool = True, log: Callable[..., None] = print,
                  reference_options: dict[str, Any] | None = None, skip_missing_weights: bool = False,
                  ) -> Iterator[tuple[SuiteRow, ModelResult | str]]:
    """(row, its ``ModelResult``) for each row in order; with ``skip_missing_weights``, a row whose
    weights cannot be loaded yields (row, the reason) instead and the rest still run."""
    for i, row in enumerate(rows):
        try:
            generator = row.load()
        except WeightsError as exc:
            if not skip_missing_weights:
                raise
            log(f"[{i + 1}/{len(rows)}] {row.label}: skipped ({exc})", file=sys.stderr)
            yield row, str(exc)
            continue
        log(f"[{i + 1}/{len(rows)}] {row.label}: {config.n} samples", file=sys.stderr)
        yield row, evaluate_model(generator, config, reference=reference, extractor=extractor,
                                  label=None if row.keep_name else row.label,
                                  nfe=row.nfe, parameters=row.parameters, keep_first=keep_first,
                                  progress=progress, reference_options=reference_options)


def run_suite(suite: Suite, out_dir: str | Path | None, device: str | None = None, progress: bool = True,
              log: Callable[..., None] = print, reference: Any = None, extractor: Any = None,
              reference_options: dict[str, Any] | None = None, rows: Sequence[SuiteRow] | None = None) -> dict:
    """Evaluate every model of ``suite`` against ``reference`` (a Reference or a spec; None: the
    suite's) in ``extractor``'s space (None: the reference's) and write the report into ``out_dir``
    (None: write nothing). ``rows``: the suite's rows already built (default ``suite_rows``).
    Returns the results record {"models", "skipped", "provenance"}."""
    started = time.time()
    folder = RunFolder(out_dir)
    config = suite.eval_config()
    done, earlier = _unfinished_run_models(folder.path, suite, _space(reference, extractor))
    rows = list(rows if rows is not None else suite_rows(suite, device))
    # finished records stay in results.json from the start, so a second interrupt cannot lose them
    results: dict[str, Any] = {"models": dict(done), "skipped": {}, "provenance": dict(earlier)}
    for label in done:
        log(f"{label}: done in the interrupted run, kept", file=sys.stderr)
    first_started = earlier.get("started") or dt.datetime.fromtimestamp(started, dt.timezone.utc).isoformat()
    used_stems = {r.get("samples_grid", "")[len("samples_"):-len(".png")] for r in done.values()}
    for row, result in evaluate_rows([r for r in rows if r.label not in done], config, reference=reference,
                                     extractor=extractor, progress=progress, log=log,
                                     reference_options=reference_options, skip_missing_weights=True):
        if isinstance(result, str):
            results["skipped"][row.label] = result
            continue
        record = result.record
        label = record["meta"]["name"] if row.keep_name else row.label
        results["provenance"] = {**record.pop("provenance"), "preset": suite.to_dict(), "command": command_line(),
                                 "started": first_started, "complete": False,
                                 **({"resumed_models": sorted(done)} if done else {})}
        record |= _write_samples(folder, _unique_stem(file_stem(label), used_stems), result, config.n)
        results["models"][label] = record
        folder.write_text("results.json", json.dumps(results, indent=2) + "\n")
    if not results["models"]:
        raise ValueError(f"no model of suite {suite.name!r} could be loaded: {results['skipped']}")
    order = [r.label for r in rows]  # suite order (a model keeping its own name goes last)
    results["models"] = dict(sorted(results["models"].items(),
                                    key=lambda item: order.index(item[0]) if item[0] in order else len(order)))
    results["provenance"] |= {"complete": True, "wall_seconds": round(time.time() - started, 1)}
    write_report(results, folder)
    return results


def _space(reference: Any, extractor: Any) -> dict[str, Any]:
    """What a resumed record must share with this run: the reference's fingerprint and the
    extractor's feature space (None for what is not known before loading)."""
    prov = getattr(reference, "provenance", None) or {}
    ext = extractor.provenance() if hasattr(extractor, "provenance") else {}
    return {"fingerprint": prov.get("fingerprint"), "weights_sha256": ext.get("weights_sha256"),
            "preprocessing": ext.get("preprocessing")}


def _unique_stem(stem: str, used: set[str]) -> str:
    """``stem``, or ``stem_2``, ``stem_3``… when another model's files already use it."""
    unique, k = stem, 1
    while unique in used:
        k += 1
        unique = f"{stem}_{k}"
    used.add(unique)
    return unique


def file_stem(label: str) -> str:
    """``label`` as a file-name part: runs of characters other than letters, digits, '.', '_' and '-'
    become '_' (a label may be a path)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "model"


def _write_samples(folder: RunFolder, stem: str, result: ModelResult, n: int) -> dict[str, str]:
    """The grid of the first samples, ``samples_<stem>.png`` (and, caption-conditioned, its prompts
    and every sample's prompt); the record's fields naming them."""
    from genbench.reports.grids import save_grid_prompts

    if result.first is None or not folder.active:
        return {}
    grid = folder.save_grid(result.first, f"samples_{stem}.png")
    fields = {"samples_grid": grid.name}
    if result.captions is not None:
        fields["samples_prompts"] = save_grid_prompts(result.captions, grid).name
        captions = result.generator.captions_for(0, n)
        fields["prompts"] = folder.write_text(f"prompts_{stem}.jsonl", "".join(
            json.dumps({"index": i, "prompt": p}, ensure_ascii=False) + "\n" for i, p in enumerate(captions))).name
    return fields


def _unfinished_run_models(out: Path | None, suite: Suite, space: dict[str, Any]) -> tuple[dict[str, dict], dict]:
    """(model records, provenance) of an interrupted run of the same suite in ``out`` (its
    results.json, written after every model, still ``"complete": false``), so a run started again
    resumes; ({}, {}) when there is none, it completed, the suite differs, or its reference or
    feature space differs from ``space`` (``_space``)."""
    path = None if out is None else out / "results.json"
    if path is None or not path.is_file():
        return {}, {}
    try:
        earlier = json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}, {}
    provenance = earlier.get("provenance", {})
    if provenance.get("complete", True) or provenance.get("preset") != json.loads(json.dumps(suite.to_dict())):
        return {}, {}
    recorded = {"fingerprint": (provenance.get("reference") or {}).get("fingerprint"),
                "weights_sha256": provenance.get("weights_sha256"), "preprocessing": provenance.get("preprocessing")}
    if any(v is not None and recorded[k] != v for k, v in space.items()):
        return {}, {}
    labels = {m.label for m in suite.models}
    return {label: record for label, record in earlier.get("models", {}).items() if label in labels}, provenance


def write_report(results: dict, folder: RunFolder) -> list[Path]:
    """results.json, results.csv, trilemma.png and report.md in ``folder`` (each atomically)."""
    from genbench.reports.plots import trilemma_plot
    from genbench.reports.results import render
    from genbench.reports.run_report import report_markdown

    if not folder.active:
        return []
    return [folder.write_text("results.json", json.dumps(results, indent=2) + "\n"),
            folder.write_text("results.csv", render(results, "csv")),
            folder.write_with("trilemma.png", lambda path: trilemma_plot(results, path)),
            folder.write_text("report.md", report_markdown(results))]
