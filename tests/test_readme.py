"""The Python examples of the README and of docs/ run as written (blocks that need weights files
say so and are skipped)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCKS = [(page, block) for page in PAGES
          for block in re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)]
RUNNABLE = [(page, b) for page, b in BLOCKS if "not run by the README test" not in b]


def test_docs_have_examples():
    assert len(RUNNABLE) >= 7


def test_docs_links_point_at_files():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+)\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


@pytest.mark.parametrize("page, block", RUNNABLE,
                         ids=[f"{page.stem}-block{i}" for i, (page, _) in enumerate(RUNNABLE)])
def test_docs_example_runs(page, block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(block, str(page), "exec"), {})
