"""``genbench compare``: a leaderboard from several results.json files.

Rank rule (``confident_ranks``; ``rank_rule`` says it in one sentence under every rendering): a
model's rank is 1 + the number of models that are better than it with confidence, i.e. whose value
is better and whose 95% interval lies entirely on the better side of this model's interval (the
metric registry's ``direction``: lower is better for FID, higher for recall). Every model is
compared with every other, not with the row above, so overlaps never chain: a model is never
shown tied with one that is better than it with confidence. A rank number held by more than one
model is marked "=" (none of them is better than another with confidence; equal values included).
A record without an interval for the ranking metric counts as its value alone (zero width), so
any value outside another model's interval is better or worse than it with confidence. Rows are
sorted by value, best first; intervals differ in width, so a row can hold a smaller rank number
than the row above it.

Records made in different feature spaces (extractor or its weights differ) or against different
references (content fingerprints differ) cannot be compared and are refused. Different sample
counts are allowed but flagged per metric (``sample_count_warnings``): each metric record has its
own n (pairwise SSIM's n counts pairs), so only n of the same metric is compared across rows.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import pandas as pd

from genbench.errors import GenbenchError
from genbench.metrics.registry import direction, judged_metrics, metric_info, table_columns
from genbench.reports.tables import markdown_table

FORMATS = ("table", "json", "csv", "md")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _reference_identities(provenances: dict[str, dict]) -> dict[str, tuple]:
    """The reference each record was computed against: its content fingerprint when every record
    has one, else (records made before fingerprints) its dataset, split and n."""
    refs = {path: prov.get("reference") or {} for path, prov in provenances.items()}
    if all(ref.get("fingerprint") for ref in refs.values()):
        return {path: ("fingerprint", ref["fingerprint"]) for path, ref in refs.items()}
    return {path: ("dataset", ref.get("dataset"), ref.get("split"), ref.get("n")) for path, ref in refs.items()}


def load_models(paths: list[str | Path]) -> tuple[dict[str, dict], dict[str, Path]]:
    """Model records from results.json files, keyed "model" (or "file:model" when names repeat),
    and the results file each came from (same keys). Refuses records from different feature
    spaces or against different references."""
    spaces, provenances, sources, loaded = {}, {}, {}, []
    for path in paths:
        path = Path(path)
        try:
            results = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise GenbenchError(f"cannot read results file {path}: {exc}") from exc
        if not isinstance(results, dict) or "models" not in results:
            raise GenbenchError(f"{path} is not a genbench results file (no 'models' key)")
        prov = results.get("provenance", {})
        spaces[str(path)] = (prov.get("extractor"), prov.get("weights_sha256"))
        provenances[str(path)] = prov
        sources[str(path)] = (prov.get("reference") or {}).get("source", "?")
        loaded += [(path, name, record) for name, record in results["models"].items()]
    if len(set(spaces.values())) > 1:
        raise GenbenchError("these results were computed in different feature spaces and cannot be compared: "
                            + "; ".join(f"{p}: {e} (weights {str(w)[:12]})" for p, (e, w) in spaces.items()))
    references = _reference_identities(provenances)
    if len(set(references.values())) > 1:
        raise GenbenchError("these results were computed against different references and cannot be ranked "
                            "together (FID against one set of images says nothing about another): "
                            + "; ".join(f"{p}: {sources[p]} {references[p][1:]}" for p in references))
    names = [name for _, name, _ in loaded]
    models, origins = {}, {}
    for path, name, record in loaded:
        key = name if names.count(name) == 1 else f"{path.stem if path.stem != 'results' else path.parent.name}:{name}"
        models[key], origins[key] = record, path
    return models, origins


def stated_interval(record: dict) -> tuple[float, float] | None:
    """(low, high) of a metric record's 95% interval; None when it has none (or a NaN end)."""
    ci = record.get("ci")
    if not ci or len(ci) != 2 or any(v is None or math.isnan(float(v)) for v in ci):
        return None
    return float(ci[0]), float(ci[1])


def interval(record: dict) -> tuple[float, float]:
    """The interval a metric record is ranked with: its 95% interval, or (value, value) without one."""
    return stated_interval(record) or (float(record["value"]),) * 2


def better_with_confidence(sign: int, a: float, a_ci: tuple[float, float], b: float, b_ci: tuple[float, float]) -> bool:
    """Whether value ``a`` (interval ``a_ci``) is better than ``b`` (``b_ci``) with confidence:
    ``a`` is better (``sign`` +1: higher is better, −1: lower) and its interval lies entirely on
    the better side of ``b``'s (touching ends count as an overlap)."""
    if sign * (a - b) <= 0:
        return False
    return a_ci[0] > b_ci[1] if sign > 0 else a_ci[1] < b_ci[0]


def confident_ranks(values: Sequence[float], intervals: Sequence[tuple[float, float]], sign: int) -> list[int]:
    """The rank of each item: 1 + the number of items better than it with confidence
    (``better_with_confidence``), each item compared with every other, so overlaps never chain."""
    return [1 + sum(better_with_confidence(sign, values[j], intervals[j], values[i], intervals[i])
                    for j in range(len(values)) if j != i)
            for i in range(len(values))]


def _plain_label(metric: str) -> str:
    info = metric_info(metric)
    return info.label.rstrip(" ↓↑") if info is not None else metric


def rank_rule(metric: str) -> str:
    """The rank rule in one sentence, for under every rendering of a board ranked by ``metric``."""
    lower = direction(metric) == -1
    return (f"Rank = 1 + the number of models better with confidence: {'lower' if lower else 'higher'} "
            f"{_plain_label(metric)} with the 95% interval entirely {'below' if lower else 'above'} this model's "
            f"(every pair compared, so ties never chain; a record without an interval counts as its value alone); "
            f"\"=\" marks a rank shared by models none of which is better than another with confidence.")


def _board_metrics(models: dict[str, dict] | None = None) -> list[str]:
    """The other columns of a board: the judged metrics of the trilemma table (with the opt-in ones
    some of ``models`` has), in its order."""
    present = {k for r in (models or {}).values() for k in r.get("metrics", {})}
    return [i.key for i in table_columns(present) if i.direction is not None]


def _ranked(models: dict[str, dict], metric: str) -> dict[str, dict]:
    """The models a board by ``metric`` holds: those with a finite value of it."""
    def finite(record: dict | None) -> bool:
        return record is not None and record.get("value") is not None and not math.isnan(float(record["value"]))

    return {k: r for k, r in models.items() if finite(r.get("metrics", {}).get(metric))}


def ranked_rows(models: dict[str, dict], metric: str = "fid") -> list[dict]:
    """The board as rows, best value first: rank (int), shared_rank (bool), model, the metric,
    its interval as [low, high] (None without one), the other judged metrics, images/s."""
    sign = direction(metric)
    if sign is None:
        raise GenbenchError(f"cannot rank by {metric!r}; rankable metrics: {', '.join(judged_metrics())}")
    have = _ranked(models, metric)
    if not have:
        raise GenbenchError(f"no model has the metric {metric!r}")
    # best value first; sorted() is stable, so equal values keep the order of the files
    order = sorted(have, key=lambda k: -sign * have[k]["metrics"][metric]["value"])
    records = [have[k]["metrics"][metric] for k in order]
    ranks = confident_ranks([float(r["value"]) for r in records], [interval(r) for r in records], sign)
    others = [k for k in _board_metrics(have) if k != metric]
    rows = []
    for key, record, rank in zip(order, records, ranks):
        m = have[key]["metrics"]
        ci = stated_interval(record)
        row = {"rank": rank, "shared_rank": ranks.count(rank) > 1, "model": key, metric: float(record["value"]),
               f"{metric} 95% CI": list(ci) if ci else None}
        row |= {k: math.nan if m[k].get("value") is None else float(m[k]["value"]) for k in others if k in m}
        row["images/s"] = float(have[key].get("throughput", {}).get("images_per_s", math.nan))
        rows.append(row)
    return rows


def _ci_text(ci: list[float] | None) -> str:
    return "none" if ci is None else f"[{ci[0]:.4g}, {ci[1]:.4g}]"


def leaderboard(models: dict[str, dict], metric: str = "fid") -> pd.DataFrame:
    """The board for display, best value first (index: rank, "=" where the rank is shared), with
    the metric, its interval as text, the other judged metrics, images/s."""
    rows = []
    for row in ranked_rows(models, metric):
        row = dict(row)
        row["rank"] = f"={row['rank']}" if row.pop("shared_rank") else str(row["rank"])
        row[f"{metric} 95% CI"] = _ci_text(row[f"{metric} 95% CI"])
        rows.append(row)
    return pd.DataFrame(rows).set_index("rank")


def sample_count_warnings(models: dict[str, dict], metrics: Sequence[str]) -> list[str]:
    """One warning per split of the rows by sample count, naming the metrics of ``metrics`` whose
    n differs between the rows of ``models`` that have it, and which rows have which n. The n of
    one metric is never compared with another's (pairwise SSIM counts pairs, FID samples)."""
    splits: dict[tuple, list[str]] = {}
    for metric in metrics:
        ns = {k: r["metrics"][metric].get("n") for k, r in models.items() if metric in r.get("metrics", {})}
        by_n: dict[int, list[str]] = {}
        for key, n in ns.items():
            if n is not None:
                by_n.setdefault(int(n), []).append(key)
        if len(by_n) > 1:
            splits.setdefault(tuple(sorted((n, tuple(keys)) for n, keys in by_n.items())), []).append(metric)
    return [f"sample counts differ for {', '.join(names)} ("
            + "; ".join(f"n = {n}: {', '.join(keys)}" for n, keys in split)
            + "): estimates at different n differ in bias and spread (FID, IS and the k-NN metrics drift with n), "
              "so compare at equal n where the ranking matters"
            for split, names in splits.items()]


def board_warnings(models: dict[str, dict], metric: str = "fid") -> list[str]:
    """What a reader of the board by ``metric`` must know: models left off (no value of the
    metric), and sample counts that differ between the ranked rows, per metric shown."""
    warnings = []
    left_off = [k for k in models if k not in _ranked(models, metric)]
    if left_off:
        warnings.append(f"not ranked (no {metric} value): {', '.join(left_off)}")
    have = _ranked(models, metric)
    shown = [metric] + [k for k in _board_metrics(have) if k != metric]
    return warnings + sample_count_warnings(have, shown)


def _json_value(v):
    return None if isinstance(v, float) and math.isnan(v) else v


def render_board(models: dict[str, dict], metric: str = "fid", fmt: str = "table") -> str:
    """The board by ``metric`` as text in one of ``FORMATS``, the rank rule under it: a last line
    of the table, a ``#`` comment line after the CSV, a paragraph under the Markdown (with the
    warnings), the fields ``rank_rule`` and ``warnings`` of the JSON object (its ``rows`` are
    ``ranked_rows``, NaN as null)."""
    rule = rank_rule(metric)
    if fmt == "json":
        rows = [{k: _json_value(v) for k, v in row.items()} for row in ranked_rows(models, metric)]
        return json.dumps({"metric": metric, "direction": "lower is better" if direction(metric) == -1
                           else "higher is better", "rank_rule": rule, "warnings": board_warnings(models, metric),
                           "rows": rows}, indent=2)
    board = leaderboard(models, metric)
    if fmt == "csv":
        return board.to_csv() + f"# {rule}"
    if fmt == "md":
        warnings = "".join(f"\n\nWarning: {w}." for w in board_warnings(models, metric))
        return f"{markdown_table(board, '.4g')}\n\n{rule}{warnings}"
    if fmt == "table":
        return f"{board.to_string(float_format=lambda v: f'{v:.4g}')}\n\n{rule}"
    raise GenbenchError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _png_beside(results_path: Path, name: object) -> Path | None:
    """``name`` in the folder of ``results_path`` when it is a plain file name of a PNG there (a
    name with a folder in it is not followed), else None."""
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        return None
    path = results_path.parent / name
    try:
        with path.open("rb") as f:
            return path if f.read(len(PNG_SIGNATURE)) == PNG_SIGNATURE else None
    except OSError:
        return None


def run_figures(models: dict[str, dict], origins: dict[str, Path]) -> tuple[dict[str, Path], list[Path]]:
    """The images a run wrote beside each results.json: per model its sample grid (the record's
    ``samples_grid``; for a file holding one model without it, ``samples.png`` as ``genbench eval
    --out`` wrote before it recorded its grid), and the run's ``trilemma.png`` once per folder.
    Missing files are left out."""
    per_file: dict[Path, int] = {}
    for path in origins.values():
        per_file[path] = per_file.get(path, 0) + 1
    grids = {}
    for key, record in models.items():
        path = origins[key]
        name = record.get("samples_grid") or ("samples.png" if per_file[path] == 1 else None)
        grid = _png_beside(path, name)
        if grid is not None:
            grids[key] = grid
    plots = [p for p in dict.fromkeys(_png_beside(path, "trilemma.png") for path in origins.values()) if p]
    return grids, plots
