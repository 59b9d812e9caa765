"""The leaderboard page (`genbench compare --format html`) in a real browser: headless Chromium
(Debian's `chromium` package) opens it, shows every model, and a click on a column header sorts the
rows. Marked slow: it needs the browser, which a plain Python environment lacks."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from genbench.cli import main

ROOT = Path(__file__).resolve().parent.parent
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(BROWSER is None, reason="no headless Chromium installed")]


def _rendered(page: Path) -> str:
    """The DOM after the page's scripts ran (``--dump-dom``)."""
    out = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True)
    return out.stdout


def _models(dom: str) -> list[str]:
    return re.findall(r"<tr><td[^>]*>[^<]*</td><td>([^<]+)</td>", dom)


def test_the_page_shows_every_model_and_sorts_on_a_click(tmp_path, capsys):
    assert main(["compare", str(ROOT / "reports" / "example" / "results.json"), "--format", "html"]) == 0
    html = capsys.readouterr().out
    page = tmp_path / "board.html"
    page.write_text(html)
    ranked = _models(_rendered(page))
    assert sorted(ranked) == sorted(["vae", "gan", "ddpm-1000", "ddim-50", "ddim-10", "ldm"])
    assert ranked != sorted(ranked)  # ranked by FID, not by name: the click below has something to do
    clicked = tmp_path / "clicked.html"  # the same page, with a click on the "model" header after it loads
    clicked.write_text(html.replace("</body>", "<script>document.querySelectorAll('th')[1].click();</script></body>"))
    assert _models(_rendered(clicked)) == sorted(ranked)
