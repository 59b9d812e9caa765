"""A leaderboard as one static HTML page: a table whose columns sort on a click (a few lines of
inline JavaScript, nothing fetched when the page is viewed), the ranking rule and the provenance
underneath. Cells are escaped; numbers keep a ``data-value`` so they sort as numbers."""

from __future__ import annotations

import html
import math

import pandas as pd

_SORT_SCRIPT = """
document.querySelectorAll("th").forEach((th, col) => th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0];
  const up = th.dataset.order !== "asc";
  th.dataset.order = up ? "asc" : "desc";
  const key = td => td.dataset.value !== undefined ? parseFloat(td.dataset.value) : td.textContent;
  [...body.rows].sort((a, b) => {
    const x = key(a.cells[col]), y = key(b.cells[col]);
    return (x > y ? 1 : x < y ? -1 : 0) * (up ? 1 : -1);
  }).forEach(row => body.appendChild(row));
}));
"""


def _cell(value) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        text = "–" if math.isnan(value) else f"{value:.4g}"
        return f'<td data-value="{"NaN" if math.isnan(value) else repr(float(value))}">{text}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def leaderboard_html(board: pd.DataFrame, title: str, notes: list[str]) -> str:
    """The page for a leaderboard frame (index: rank), with ``notes`` as paragraphs under it."""
    frame = board.reset_index()
    head = "".join(f"<th title='click to sort'>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "\n".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in frame.itertuples(index=False))
    paragraphs = "\n".join(f"<p>{html.escape(n)}</p>" for n in notes)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
th,td{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th{{cursor:pointer;background:#eee}}
td:nth-child(2){{text-align:left}}</style></head>
<body><h1>{html.escape(title)}</h1>
<table id="leaderboard"><thead><tr>{head}</tr></thead>
<tbody>
{rows}
</tbody></table>
{paragraphs}
<script>{_SORT_SCRIPT}</script>
</body></html>
"""
