"""GRIT jsonl schema: parsing, validation messages with file:line:field, atomic writing."""

import json
from pathlib import Path

import pytest
from PIL import Image

from grit.data.schema import (
    GritDataError,
    GritRecord,
    read_jsonl,
    validate_file,
    write_jsonl,
)

GOOD = {
    "question": "What is across from the truck?",
    "answer": "tv",
    "image": "a.png",
    "width": 64,
    "height": 48,
    "bboxs": [[10, 5, 30, 20]],
    "dataset": "vsr",
    "split": "train",
}


def write_lines(path: Path, lines: list) -> Path:
    path.write_text("".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines))
    return path


def test_read_valid_record_normalises_types(tmp_path):
    rec = {**GOOD, "answer": 4, "width": 64.0, "precision": 2.0, "choices": ["a", 3], "key_words": ["truck"]}
    (r,) = read_jsonl(write_lines(tmp_path / "d.jsonl", [rec]))
    assert r.answer == "4"
    assert r.width == 64 and isinstance(r.width, int)
    assert r.precision == 2
    assert r.choices == ["a", "3"]
    assert r.bboxs == [[10.0, 5.0, 30.0, 20.0]]
    assert r.boxes[0].x2 == 30.0
    assert r.extra == {"key_words": ["truck"]}
    assert r.to_dict()["key_words"] == ["truck"]


def test_optional_fields_default(tmp_path):
    rec = {k: GOOD[k] for k in ("question", "answer", "image", "width", "height")}
    (r,) = read_jsonl(write_lines(tmp_path / "d.jsonl", [rec]))
    assert r.bboxs == [] and r.dataset is None and r.choices is None and r.id is None
    assert r.to_dict() == {**rec, "bboxs": []}


def test_blank_lines_are_skipped(tmp_path):
    path = write_lines(tmp_path / "d.jsonl", [GOOD, "", "   ", GOOD])
    assert len(read_jsonl(path)) == 2


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"bboxs": [[10, 5, 30, 20], [10, 5, 8, 20]]}, "bboxs[1]", "box [10, 5, 8, 20] has x1 >= x2"),
        ({"bboxs": [[10, 20, 30, 20]]}, "bboxs[0]", "y1 >= y2"),
        ({"bboxs": [[10, 5, 80, 20]]}, "bboxs[0]", "outside the 64x48 image"),
        ({"bboxs": [[10, 5, 30]]}, "bboxs[0]", "expected [x1, y1, x2, y2]"),
        ({"bboxs": [[10, 5, "a", 20]]}, "bboxs[0]", "non-numeric"),
        ({"bboxs": [10, 5, 30, 20]}, "bboxs", "flat list"),
        ({"width": 0}, "width", "positive integer"),
        ({"height": 4.5}, "height", "positive integer"),
        ({"width": True}, "width", "positive integer"),
        ({"width": 10**400}, "width", "positive integer up to"),  # too large for a float: no OverflowError
        ({"bboxs": [[10, 5, 10**400, 20]]}, "bboxs[0]", "non-numeric or non-finite"),
        ({"question": 3}, "question", "expected a string"),
        ({"answer": [1]}, "answer", "string or number"),
        ({"answer": None}, "answer", "missing required field"),
        ({"image": ""}, "image", "non-empty path"),
        ({"choices": "A,B"}, "choices", "list of strings"),
        ({"precision": -1}, "precision", "non-negative integer"),
        ({"id": 1.5}, "id", "string or integer"),
        ({"dataset": 7}, "dataset", "expected a string"),
    ],
)
def test_invalid_fields_reported_with_location(tmp_path, change, field, fragment):
    path = write_lines(tmp_path / "d.jsonl", [GOOD, {**GOOD, **change}])
    errors = validate_file(path, check_images=False)
    assert len(errors) == 1
    e = errors[0]
    assert (e.file, e.line, e.field) == (str(path), 2, field)
    assert fragment in e.message
    assert str(e).startswith(f"{path}:2: field '{field}': ")


def test_box_within_tolerance_is_accepted(tmp_path):
    path = write_lines(tmp_path / "d.jsonl", [{**GOOD, "bboxs": [[-1.5, 0, 65.5, 48.4]]}])
    assert validate_file(path, check_images=False) == []


def test_missing_fields_and_bad_json_all_reported(tmp_path):
    missing = {k: v for k, v in GOOD.items() if k not in ("question", "height")}
    path = write_lines(tmp_path / "d.jsonl", ['{"question": "x", ', missing, [1, 2]])
    errors = validate_file(path, check_images=False)
    got = [(e.line, e.field) for e in errors]
    assert got == [(1, None), (2, "question"), (2, "height"), (3, None)]
    assert "invalid JSON" in errors[0].message
    assert "expected a JSON object" in errors[3].message


def test_read_jsonl_raises_one_error_listing_locations(tmp_path):
    path = write_lines(tmp_path / "d.jsonl", [{**GOOD, "width": -1}] * 12)
    with pytest.raises(GritDataError) as info:
        read_jsonl(path)
    msg = str(info.value)
    assert "12 invalid" in msg
    assert f"{path}:1: field 'width'" in msg
    assert "and 2 more errors" in msg


def test_one_error_is_one_line_and_deep_nesting_is_located(tmp_path):
    path = write_lines(tmp_path / "d.jsonl", [GOOD, "[" * 100_000 + "]" * 100_000, {**GOOD, "width": "640"}])
    errors = validate_file(path, check_images=False)
    assert [(e.line, e.field) for e in errors] == [(2, None), (3, "width")]
    assert "nested too deeply" in errors[0].message
    with pytest.raises(GritDataError) as info:
        GritRecord.from_dict({**GOOD, "width": "640"}, where="src.jsonl:3")
    assert str(info.value) == "src.jsonl:3: field 'width': expected a positive integer up to 1000000, got '640'"


def test_written_lines_survive_any_string(tmp_path):
    """Text JSON allows but a line reader or UTF-8 does not (U+2028, NEL, a lone surrogate) is kept escaped."""
    odd = {**GOOD, "question": "a\u2028b\x85c", "answer": "\ud800"}
    plain = {**GOOD, "question": "Qu'y a-t-il à côté du camion\u2028?"}
    path = tmp_path / "out.jsonl"
    assert write_jsonl([odd, plain], path) == 2
    assert len(path.read_bytes().splitlines()) == len(path.read_text(encoding="utf-8").splitlines()) == 2
    assert "à côté" in path.read_text(encoding="utf-8")  # readable text stays unescaped
    assert [r.to_dict() for r in read_jsonl(path)] == [odd, plain]


def test_missing_and_empty_files(tmp_path):
    (e,) = validate_file(tmp_path / "nope.jsonl")
    assert "file not found" in str(e)
    (tmp_path / "empty.jsonl").write_text("\n")
    (e,) = validate_file(tmp_path / "empty.jsonl")
    assert "no records" in e.message


def test_image_checks(tmp_path):
    Image.new("RGB", (64, 48)).save(tmp_path / "a.png")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    path = write_lines(
        tmp_path / "d.jsonl",
        [GOOD, {**GOOD, "image": "missing.png"}, {**GOOD, "width": 65}, {**GOOD, "image": "broken.png"}],
    )
    # relative paths resolve against the jsonl's folder by default
    errors = validate_file(path)
    assert [(e.line, e.field) for e in errors] == [(2, "image"), (3, "image"), (4, "image")]
    assert "image not found" in errors[0].message
    assert "is 64x48 but the record says 65x48" in errors[1].message
    assert "cannot read image" in errors[2].message
    # an explicit image root wins; absolute image paths ignore it
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert len(validate_file(write_lines(tmp_path / "e.jsonl", [GOOD]), image_root=other)) == 1
    absolute = {**GOOD, "image": str(tmp_path / "a.png")}
    assert validate_file(write_lines(tmp_path / "f.jsonl", [absolute]), image_root=other) == []
    assert validate_file(path, check_images=False) == []


def test_write_jsonl_round_trip_and_atomic(tmp_path):
    out = tmp_path / "sub" / "out.jsonl"
    rec = GritRecord.from_dict({**GOOD, "id": 3, "extra_field": {"a": 1}})
    n = write_jsonl([rec, {**GOOD, "answer": 7}], out)
    assert n == 2
    back = read_jsonl(out)
    assert back[0] == rec
    assert back[1].answer == "7"
    assert [p.name for p in out.parent.iterdir()] == ["out.jsonl"]  # no temp file left

    # an invalid record aborts the write and leaves the old file untouched
    before = out.read_text()
    with pytest.raises(GritDataError, match=r"record 1\): field 'bboxs\[0\]'"):
        write_jsonl([GOOD, {**GOOD, "bboxs": [[5, 5, 1, 9]]}], out)
    assert out.read_text() == before
    assert [p.name for p in out.parent.iterdir()] == ["out.jsonl"]


def test_image_path(tmp_path):
    rec = GritRecord.from_dict(GOOD)
    assert rec.image_path() == Path("a.png")
    assert rec.image_path(tmp_path) == tmp_path / "a.png"
    rec.image = str(tmp_path / "x.png")
    assert rec.image_path("/elsewhere") == tmp_path / "x.png"


@pytest.mark.parametrize("sep", ["\u2028", "\u2029", "\x85", "\x0c", "\r"])
def test_raw_line_separators_inside_strings_do_not_split_records(tmp_path, sep):
    # JSON allows these raw inside strings; other writers (not grit's) leave them raw. Only "\n" ends a line.
    text = json.dumps({**GOOD, "question": f"left{sep}right"}, ensure_ascii=False) + "\n"
    path = tmp_path / "d.jsonl"
    path.write_text(text + json.dumps(GOOD) + "\n", encoding="utf-8", newline="")
    first, second = read_jsonl(path)
    assert first.question == f"left{sep}right" and second.question == GOOD["question"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(text + '{"question": \n', encoding="utf-8", newline="")
    with pytest.raises(GritDataError, match=r"bad\.jsonl:2"):
        read_jsonl(bad)
