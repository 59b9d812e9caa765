"""Prompt files: .txt, .jsonl, .csv and COCO captions .json, and their errors."""

import csv
import json

import pytest

from genbench.data.prompts import load_prompts, prompts_provenance
from genbench.errors import GenbenchError
from genbench.io import sha256_file

PROMPTS = ["a cat, sitting", 'a "quoted" dog', "über café ☕", "two\tcolumns"]


def test_txt_one_prompt_per_line(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("\n".join(PROMPTS[:2]) + "\r\n\n" + "\n".join(PROMPTS[2:]) + "\n", encoding="utf-8")
    assert load_prompts(path) == PROMPTS


@pytest.mark.parametrize("column", ["caption", "text", "prompt"])
def test_jsonl_and_csv_caption_columns(tmp_path, column):
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text("\n".join(json.dumps({"id": i, column: p}) for i, p in enumerate(PROMPTS)) + "\n\n")
    assert load_prompts(jsonl) == PROMPTS
    path = tmp_path / "p.csv"
    with path.open("w", newline="", encoding="utf-8") as f:  # csv quoting of commas and quotes
        writer = csv.writer(f)
        writer.writerow(["file", column])
        writer.writerows([f"{i}.png", p] for i, p in enumerate(PROMPTS))
    assert load_prompts(path) == PROMPTS
    assert prompts_provenance(path, PROMPTS)["column"] == column


def test_column_preference_and_choice(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"prompt": "b", "caption": "a", "other": "c"}) + "\n")
    assert load_prompts(path) == ["a"]  # caption before text before prompt
    assert load_prompts(path, column="other") == ["c"]
    with pytest.raises(GenbenchError, match="no column 'missing'"):
        load_prompts(path, column="missing")


def test_coco_captions_sorted_by_annotation_id(tmp_path):
    path = tmp_path / "captions_val2014.json"
    annotations = [{"image_id": 9, "id": 30, "caption": " third "}, {"image_id": 9, "id": 4, "caption": "first"},
                   {"image_id": 1, "id": 17, "caption": "second\n"}]
    path.write_text(json.dumps({"images": [], "annotations": annotations}))
    assert load_prompts(path) == ["first", "second", "third"]
    record = prompts_provenance(path, load_prompts(path))
    assert record["count"] == 3 and record["sha256"] == sha256_file(path) and "annotation id" in record["format"]
    assert record["rule"] == "sample i gets prompt i mod len(prompts)"


def test_errors_are_one_line(tmp_path):
    cases = {"p.md": ("x", "unknown format"), "empty.txt": ("\n\n", "holds no prompts"),
             "bad.jsonl": ('{"caption": "a"}\nnot json\n', "line 2 is not JSON"),
             "nocol.csv": ("a,b\n1,2\n", "no caption column"),
             "notcoco.json": (json.dumps({"images": []}), "not a COCO captions file"),
             "number.jsonl": ('{"caption": 3}\n', "has no string 'caption'")}
    for name, (text, match) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(GenbenchError, match=match) as info:
            load_prompts(tmp_path / name)
        assert "\n" not in str(info.value)
    with pytest.raises(GenbenchError, match="not found"):
        load_prompts(tmp_path / "missing.txt")
