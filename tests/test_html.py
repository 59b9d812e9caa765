"""The leaderboard page (`genbench compare --format html`, ``genbench.reports.html``): one
self-contained file with the run's trilemma plot above the table and each model's sample grid as a
thumbnail in its row, all as ``data:`` URIs, text escaped, nothing fetched.

The fast tests parse the page (html.parser). The slow ones open it in headless Chromium (Debian's
`chromium` package; skipped without it): every image decodes, one thumbnail per model, a click on
a thumbnail enlarges it, a click on a column header sorts the rows, and a screenshot lands in the
test's output folder."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from genbench.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "reports" / "example" / "results.json"
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_browser = pytest.mark.skipif(BROWSER is None, reason="no headless Chromium installed")


class Page(HTMLParser):
    """What a page holds: its img tags' attributes, every src/href, the rows' cells as text."""

    def __init__(self, text: str):
        super().__init__()
        self.imgs: list[dict] = []
        self.links: list[str] = []
        self.rows: list[list[str]] = []
        self.scripts_with_src = 0
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [v for k, v in attrs.items() if k in ("src", "href") and v]
        if tag == "img":
            self.imgs.append(attrs | {"_row": len(self.rows)})
        if tag == "script" and "src" in attrs:
            self.scripts_with_src += 1
        if tag == "tr":
            self.rows.append([])
        if tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _decoded(uri: str) -> bytes:
    head, data = uri.split(",", 1)
    assert head == "data:image/png;base64"
    return base64.b64decode(data, validate=True)


def _page(paths: list[Path], capsys) -> str:
    assert main(["compare", *map(str, paths), "--format", "html"]) == 0
    return capsys.readouterr().out


def test_the_page_embeds_the_plot_and_one_thumbnail_per_model(capsys):
    text = _page([EXAMPLE], capsys)
    page = Page(text)
    results = json.loads(EXAMPLE.read_text())
    thumbs = [i for i in page.imgs if i.get("class") == "thumb"]
    models_in_rows = {row[1]: i for i, row in enumerate(page.rows) if row}
    assert set(models_in_rows) == set(results["models"]) and len(thumbs) == len(results["models"])
    for img in thumbs:  # each row's thumbnail is that model's grid, byte for byte
        model = page.rows[img["_row"] - 1][1]
        assert _decoded(img["src"]) == (EXAMPLE.parent / results["models"][model]["samples_grid"]).read_bytes()
    (plot,) = [i for i in page.imgs if i.get("class") == "plot"]
    assert _decoded(plot["src"]) == (EXAMPLE.parent / "trilemma.png").read_bytes()
    assert text.index('class="plot"') < text.index("<table")  # the plot above the table
    assert all(link.startswith("data:") for link in page.links) and page.scripts_with_src == 0
    assert not re.search(r"https?://", text)


def _png(path: Path, colour=(200, 30, 30)) -> Path:
    from PIL import Image

    Image.new("RGB", (10, 10), colour).save(path)
    return path


def test_text_is_escaped_and_missing_or_foreign_images_are_left_out(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    _png(run / "samples_ok.png")
    _png(tmp_path / "outside.png")
    odd = '<b>"x&y\'</b>'
    metrics = {"fid": {"value": 10.0, "ci": [9.0, 11.0], "n": 50}}
    results = {"models": {odd: {"metrics": metrics, "samples_grid": "samples_ok.png"},
                          "none": {"metrics": metrics},  # no grid recorded
                          "gone": {"metrics": metrics, "samples_grid": "samples_gone.png"},  # file missing
                          "out": {"metrics": metrics, "samples_grid": "../outside.png"}},  # not beside: not followed
               "provenance": {"extractor": "shapes-net", "weights_sha256": "a" * 64}}
    (run / "results.json").write_text(json.dumps(results))
    text = _page([run / "results.json"], capsys)
    page = Page(text)
    assert "<b>" not in text and odd in [row[1] for row in page.rows if row]
    (thumb,) = [i for i in page.imgs if i.get("class") == "thumb"]
    assert page.rows[thumb["_row"] - 1][1] == odd and thumb["alt"] == f"samples of {odd}"
    assert _decoded(thumb["src"]) == (run / "samples_ok.png").read_bytes()
    assert not [i for i in page.imgs if i.get("class") == "plot"]  # no trilemma.png: no plot, the page renders
    assert text.rstrip().endswith("</html>")


def test_an_eval_folder_shows_its_samples_png(tmp_path, capsys):
    """``genbench eval --out`` writes one model with samples.png beside results.json."""
    for name, colour in (("a", (0, 0, 255)), ("b", (0, 255, 0))):
        (tmp_path / name).mkdir()
        _png(tmp_path / name / "samples.png", colour)
        (tmp_path / name / "results.json").write_text(json.dumps(
            {"models": {name: {"metrics": {"fid": {"value": 3.0 if name == "a" else 9.0, "n": 50}}}},
             "provenance": {"extractor": "shapes-net", "weights_sha256": "a" * 64}}))
    page = Page(_page([tmp_path / "a" / "results.json", tmp_path / "b" / "results.json"], capsys))
    thumbs = {page.rows[i["_row"] - 1][1]: _decoded(i["src"]) for i in page.imgs if i.get("class") == "thumb"}
    assert thumbs == {n: (tmp_path / n / "samples.png").read_bytes() for n in ("a", "b")}


# ---- in a real browser ----

CHECK = """<script>window.addEventListener("load", () => {
  const imgs = [...document.images], thumb = document.querySelector("img.thumb");
  const small = thumb.getBoundingClientRect().width;
  thumb.focus();  /* what a click does */
  const large = thumb.getBoundingClientRect().width;
  thumb.blur();
  const pre = document.createElement("pre");
  pre.id = "check";
  pre.textContent = JSON.stringify({images: imgs.length, decoded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    thumbs: document.querySelectorAll("img.thumb").length, plots: document.querySelectorAll("img.plot").length,
    small, large});
  document.body.appendChild(pre);
});</script></body>"""


def _browser(*args: str) -> str:
    out = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1100", *args],
                         capture_output=True, text=True, timeout=120, check=True)
    return out.stdout


def _rendered(page: Path) -> str:
    """The DOM after the page's scripts ran (``--dump-dom``)."""
    return _browser("--dump-dom", page.as_uri())


def _models(dom: str) -> list[str]:
    return re.findall(r"<tr><td[^>]*>[^<]*</td><td>([^<]+)</td>", dom)


@pytest.mark.slow
@needs_browser
def test_the_page_shows_every_model_and_sorts_on_a_click(tmp_path, capsys):
    html = _page([EXAMPLE], capsys)
    page = tmp_path / "board.html"
    page.write_text(html)
    ranked = _models(_rendered(page))
    assert sorted(ranked) == sorted(["vae", "gan", "ddpm-1000", "ddim-50", "ddim-10", "ldm"])
    assert ranked != sorted(ranked)  # ranked by FID, not by name: the click below has something to do
    clicked = tmp_path / "clicked.html"  # the same page, with a click on the "model" header after it loads
    clicked.write_text(html.replace("</body>", "<script>document.querySelectorAll('th')[1].click();</script></body>"))
    assert _models(_rendered(clicked)) == sorted(ranked)


@pytest.mark.slow
@needs_browser
def test_every_image_decodes_and_a_thumbnail_enlarges(tmp_path, capsys):
    from PIL import Image

    html = _page([EXAMPLE], capsys)
    models = json.loads(EXAMPLE.read_text())["models"]
    page = tmp_path / "board.html"
    page.write_text(html)
    shot = tmp_path / "board.png"
    _browser(f"--screenshot={shot}", page.as_uri())
    with Image.open(shot) as image:
        assert image.size == (1400, 1100)
        assert len(image.convert("RGB").getcolors(1 << 24)) > 50  # not a blank page
    checked = tmp_path / "checked.html"
    checked.write_text(html.replace("</body>", CHECK))
    found = re.search(r'<pre id="check">([^<]*)</pre>', _rendered(checked))
    assert found, "the check script did not run"
    check = json.loads(found.group(1))
    assert check["thumbs"] == len(models) and check["plots"] == 1
    assert check["images"] == len(models) + 1 and check["decoded"] == check["images"]
    assert check["large"] > 4 * check["small"] > 0
