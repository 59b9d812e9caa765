"""Markdown tables from pandas frames (no extra dependency)."""

from __future__ import annotations

import pandas as pd


def markdown_table(df: pd.DataFrame, floatfmt: str = ".3f", index: bool = True) -> str:
    """A GitHub-flavoured Markdown table; floats formatted with ``floatfmt``."""
    def fmt(v: object) -> str:
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    header = ([str(df.index.name or "")] if index else []) + [fmt(c) for c in df.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for label, row in df.iterrows():
        cells = ([fmt(label)] if index else []) + [fmt(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
