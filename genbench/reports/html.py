"""A leaderboard as one self-contained HTML page: the runs' trilemma plots above a table whose
columns sort on a click, each model's sample grid as a thumbnail in its row (a click enlarges it,
a click elsewhere or Esc shrinks it), the rank rule and the provenance underneath.

Every image is embedded as a base64 ``data:`` URI and the few lines of script are inline, so the
page is one file that fetches nothing when viewed (it can be mailed or attached to a CI run).
Text is escaped; numbers keep a ``data-value`` so they sort as numbers (the rank by its number,
"=" aside)."""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import pandas as pd

_SCRIPT = """
document.querySelectorAll("th:not([data-nosort])").forEach(th => th.addEventListener("click", () => {
  const col = th.cellIndex;
  const body = th.closest("table").tBodies[0];
  const up = th.dataset.order !== "asc";
  th.dataset.order = up ? "asc" : "desc";
  const key = td => td.dataset.value !== undefined ? parseFloat(td.dataset.value) : td.textContent;
  [...body.rows].sort((a, b) => {
    const x = key(a.cells[col]), y = key(b.cells[col]);
    return (x > y ? 1 : x < y ? -1 : 0) * (up ? 1 : -1);
  }).forEach(row => body.appendChild(row));
}));
document.addEventListener("keydown", e => e.key === "Escape" && document.activeElement.blur());
"""

# a thumbnail enlarges while it has the focus (a click gives it; a click elsewhere takes it away)
_STYLE = """body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right;vertical-align:middle}
th{cursor:pointer;background:#eee}th[data-nosort]{cursor:default}td:nth-child(2){text-align:left}
figure{margin:0 0 1.5em 0}img.plot{max-width:100%;width:720px}
td.samples{width:72px;height:72px;padding:2px}img.thumb{width:72px;height:auto;cursor:zoom-in;display:block}
img.thumb:focus{position:fixed;top:50%;left:50%;transform:translate(-50%,-50%);width:min(90vw,90vh);
z-index:10;cursor:zoom-out;outline:none;image-rendering:pixelated;box-shadow:0 0 0 100vmax rgba(0,0,0,.6)}"""


def png_data_uri(path: str | Path) -> str:
    """The PNG file at ``path`` as a ``data:image/png;base64,…`` URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _cell(value) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        text = "–" if math.isnan(value) else f"{value:.4g}"
        return f'<td data-value="{"NaN" if math.isnan(value) else repr(float(value))}">{text}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def _rank_cell(rank: str) -> str:
    number = rank.lstrip("=")
    return f'<td data-value="{float(number) if number.isdigit() else "NaN"}">{html.escape(rank)}</td>'


def _thumbnail_cell(model: str, grid: str | Path | None) -> str:
    if grid is None:
        return '<td class="samples"></td>'
    alt = html.escape(f"samples of {model}", quote=True)
    return (f'<td class="samples"><img class="thumb" tabindex="0" alt="{alt}" title="{alt} (click to enlarge)" '
            f'src="{png_data_uri(grid)}"></td>')


def leaderboard_html(board: pd.DataFrame, title: str, notes: list[str], grids: dict[str, str | Path] | None = None,
                     plots: list[str | Path] | None = None) -> str:
    """The page for a leaderboard frame (index: rank; a "model" column), with ``plots`` (PNG
    files) above the table, the PNG in ``grids`` of each model (model → file) as a thumbnail in
    its row (none where a model has none), and ``notes`` as paragraphs under the table."""
    grids = grids or {}
    frame = board.reset_index()
    columns = list(frame.columns)
    at = columns.index("model") + 1
    head = "".join(f"<th title='click to sort'>{html.escape(str(c))}</th>" for c in columns[:at])
    head += "<th data-nosort>samples</th>"
    head += "".join(f"<th title='click to sort'>{html.escape(str(c))}</th>" for c in columns[at:])
    rows = []
    for row in frame.itertuples(index=False):
        cells = [_rank_cell(str(v)) if c == "rank" else _cell(v) for c, v in zip(columns, row)]
        cells.insert(at, _thumbnail_cell(str(row[at - 1]), grids.get(row[at - 1])))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    figures = "\n".join(f'<figure><img class="plot" alt="trilemma plot" src="{png_data_uri(p)}">'
                        f"<figcaption>{html.escape(_caption(p, len(plots or [])))}</figcaption></figure>"
                        for p in plots or [])
    paragraphs = "\n".join(f"<p>{html.escape(n)}</p>" for n in notes)
    body = "\n".join(rows)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style></head>
<body><h1>{html.escape(title)}</h1>
{figures}
<table id="leaderboard"><thead><tr>{head}</tr></thead>
<tbody>
{body}
</tbody></table>
{paragraphs}
<script>{_SCRIPT}</script>
</body></html>
"""


def _caption(plot: str | Path, count: int) -> str:
    """The plot's caption: which run's it is when the page shows several."""
    return "The trilemma plot: FID (quality) against images/s (speed), colour and size for diversity" + (
        f" of {Path(plot).parent}" if count > 1 else "") + "."
