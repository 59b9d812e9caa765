"""Comparing result records: which direction is better per metric (the metric registry's
``direction``), and when a difference is real.

A difference counts only when the two 95% intervals do not overlap (or, where the user sets a
tolerance for a metric, when the change in the worse direction exceeds it). Otherwise it is a tie.
"""

from __future__ import annotations

import math

import pandas as pd

from genbench.metrics.registry import direction


def verdict(metric: str, old: dict, new: dict, tolerance: float | None = None) -> str:
    """"better", "worse", "tie" or "n/a" for ``new`` against ``old`` (each {"value", "ci"})."""
    sign = direction(metric)  # +1 higher is better, −1 lower; None: reported, never judged
    if sign is None:
        return "n/a"
    change = sign * (new["value"] - old["value"])  # > 0: better
    if tolerance is not None:
        return "worse" if change < -tolerance else ("better" if change > tolerance else "tie")
    (old_lo, old_hi), (new_lo, new_hi) = old.get("ci", [math.nan] * 2), new.get("ci", [math.nan] * 2)
    if any(math.isnan(v) for v in (old_lo, old_hi, new_lo, new_hi)):
        return "tie" if change == 0 else ("better" if change > 0 else "worse")
    overlap = new_lo <= old_hi and old_lo <= new_hi
    if overlap:
        return "tie"
    return "better" if change > 0 else "worse"


def compare_metrics(old: dict, new: dict, tolerances: dict[str, float] | None = None) -> pd.DataFrame:
    """Rows per metric present in both: old, new, difference (new − old), verdict."""
    tolerances = tolerances or {}
    rows = []
    for metric in old:
        if metric in new:
            rows.append({"metric": metric, "old": old[metric]["value"], "new": new[metric]["value"],
                         "difference": new[metric]["value"] - old[metric]["value"],
                         "verdict": verdict(metric, old[metric], new[metric], tolerances.get(metric))})
    return pd.DataFrame(rows).set_index("metric")
