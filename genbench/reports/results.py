"""Result records (the JSON source of truth) and their tabular renderings.

``results.json`` shape: ``{"models": {name: {"metrics": {metric: {"value", "ci", "n", …}},
"throughput": {…}, "meta": {…}}}, "provenance": {…}}``.
"""

from __future__ import annotations

import json

import pandas as pd

from genbench.reports.tables import markdown_table

FORMATS = ("table", "json", "csv", "md")


def metrics_frame(results: dict) -> pd.DataFrame:
    """One row per (model, metric): value, ci_low, ci_high, n."""
    rows = []
    for model, record in results["models"].items():
        for metric, m in record["metrics"].items():
            lo, hi = m.get("ci", [float("nan")] * 2)
            rows.append({"model": model, "metric": metric, "value": m["value"], "ci_low": lo, "ci_high": hi,
                         "n": m.get("n")})
    return pd.DataFrame(rows).set_index(["model", "metric"])


def render(results: dict, fmt: str = "table") -> str:
    """The results as text in one of ``FORMATS``."""
    if fmt == "json":
        return json.dumps(results, indent=2)  # model order carries meaning
    df = metrics_frame(results)
    if fmt == "csv":
        return df.to_csv()
    if fmt == "md":
        return markdown_table(df.reset_index(), ".4f", index=False)
    if fmt == "table":
        return df.to_string(float_format=lambda v: f"{v:.4f}")
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")

