"""``genbench compare``: a leaderboard from several results.json files, with ties marked.

Models are ranked by one metric (default FID) in its better direction (the metric registry's ``direction``).
A model whose 95% interval overlaps the interval of the model ranked just above it shares that
model's rank and is marked "=" (the difference is inside the intervals: a tie, not an ordering).
Records made in different feature spaces (extractor or its weights differ) or against different
references (content fingerprints differ) cannot be compared and are refused; different sample counts are allowed but flagged, since FID is biased by n.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from genbench.metrics.registry import direction, judged_metrics, table_columns
from genbench.reports.compare import verdict


def _reference_identities(provenances: dict[str, dict]) -> dict[str, tuple]:
    """The reference each record was computed against: its content fingerprint when every record
    has one, else (records made before fingerprints) its dataset, split and n."""
    refs = {path: prov.get("reference") or {} for path, prov in provenances.items()}
    if all(ref.get("fingerprint") for ref in refs.values()):
        return {path: ("fingerprint", ref["fingerprint"]) for path, ref in refs.items()}
    return {path: ("dataset", ref.get("dataset"), ref.get("split"), ref.get("n")) for path, ref in refs.items()}


def load_models(paths: list[str | Path]) -> tuple[dict[str, dict], list[str]]:
    """Model records from results.json files, keyed "model" (or "file:model" when names repeat), and
    warnings. Refuses records from different feature spaces or against different references."""
    models: dict[str, dict] = {}
    spaces, provenances, sources, ns, warnings = {}, {}, {}, set(), []
    loaded = []
    for path in paths:
        path = Path(path)
        try:
            results = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read results file {path}: {exc}") from exc
        if "models" not in results:
            raise ValueError(f"{path} is not a genbench results file (no 'models' key)")
        prov = results.get("provenance", {})
        spaces[str(path)] = (prov.get("extractor"), prov.get("weights_sha256"))
        provenances[str(path)] = prov
        sources[str(path)] = (prov.get("reference") or {}).get("source", "?")
        for name, record in results["models"].items():
            loaded.append((path, name, record))
            ns.update(m.get("n") for m in record.get("metrics", {}).values() if m.get("n"))
    if len(set(spaces.values())) > 1:
        raise ValueError("these results were computed in different feature spaces and cannot be compared: "
                         + "; ".join(f"{p}: {e} (weights {str(w)[:12]})" for p, (e, w) in spaces.items()))
    references = _reference_identities(provenances)
    if len(set(references.values())) > 1:
        raise ValueError("these results were computed against different references and cannot be ranked together "
                         "(FID against one set of images says nothing about another): "
                         + "; ".join(f"{p}: {sources[p]} {references[p][1:]}" for p in references))
    names = [name for _, name, _ in loaded]
    for path, name, record in loaded:
        key = name if names.count(name) == 1 else f"{path.stem if path.stem != 'results' else path.parent.name}:{name}"
        models[key] = record
    if len(ns) > 1:
        warnings.append(f"sample counts differ ({', '.join(map(str, sorted(ns)))}): FID and the k-NN metrics are "
                        "biased by n, so compare at equal n where the ranking matters")
    return models, warnings


def _board_metrics(models: dict[str, dict] | None = None) -> list[str]:
    """The other columns of a board: the judged metrics of the trilemma table (with the opt-in ones
    some of ``models`` has), in its order."""
    present = {k for r in (models or {}).values() for k in r.get("metrics", {})}
    return [i.key for i in table_columns(present) if i.direction is not None]


def leaderboard(models: dict[str, dict], metric: str = "fid") -> pd.DataFrame:
    """Rows sorted best first by ``metric``: rank ("=" marks a tie with the row above), the metric
    with its interval, the other metrics, images/s."""
    sign = direction(metric)
    if sign is None:
        raise ValueError(f"cannot rank by {metric!r}; rankable metrics: {', '.join(judged_metrics())}")
    have = {k: r for k, r in models.items() if metric in r.get("metrics", {})}
    if not have:
        raise ValueError(f"no model has the metric {metric!r}")
    order = sorted(have, key=lambda k: -sign * have[k]["metrics"][metric]["value"])
    rows, rank, previous = [], 0, None
    for position, key in enumerate(order, start=1):
        m = have[key]["metrics"]
        tie = previous is not None and verdict(metric, have[previous]["metrics"][metric], m[metric]) == "tie"
        rank = rank if tie else position
        lo, hi = m[metric].get("ci", [math.nan, math.nan])
        row = {"rank": f"={rank}" if tie else str(rank), "model": key, metric: m[metric]["value"],
               f"{metric} 95% CI": f"[{lo:.4g}, {hi:.4g}]"}
        row |= {k: m[k]["value"] for k in _board_metrics(models) if k != metric and k in m}
        row["images/s"] = have[key].get("throughput", {}).get("images_per_s", math.nan)
        rows.append(row)
        previous = key
    return pd.DataFrame(rows).set_index("rank")
