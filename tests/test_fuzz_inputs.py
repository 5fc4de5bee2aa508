"""Property tests: every converter, and GRIT jsonl reading, answers ANY input with valid output or a located error.

Inputs start from real records in ../shared/fixtures (documented layouts where no real file exists: TallyQA,
OVDEval, GQA scene graphs), then hypothesis mutates them: a field replaced by a value of another type (deep
inside too), a field removed, a stray field added, the file cut short. The converter must either write GRIT jsonl
that validates, or raise a :class:`GritUserError` whose message names the input file; any other exception is a
bug. Each property runs a bounded number of examples (a second or two each on a 2-core CPU).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from grit.data.convert import convert
from grit.data.schema import GritDataError, read_jsonl, validate_file, write_jsonl
from grit.errors import GritUserError

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"benchmark fixtures not found at {FIXTURES}")

FUZZ = settings(
    max_examples=int(os.environ.get("GRIT_FUZZ_EXAMPLES", "100")),  # more for a bug hunt
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

# Strings chosen to hit the parsers: numbers in text, boxes, tabs and newlines, format fields, a lone
# surrogate (valid JSON escape, not encodable as UTF-8), a NUL (not allowed in paths), result-file names.
TRICKY = [
    "", " ", "0", "-1", "1e999", "nan", "abc", "Yes", "No", "[1, 2, 3, 4]", "[0.1, 0.2, 0.9, 0.8]", "[1, 2]",
    "###[1, 2, 3, 4]", "a.jpg###[5, 5, 1, 1]", "x.txt", "a\tb", "two\nlines", "{label}", "{caption}{x}",
    "\ud800", "a\x00b", "../a.jpg", "3:5", "1,2",
]  # fmt: skip
leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.integers(),
    st.just(10**400),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from(TRICKY),
)
json_value = st.recursive(
    leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON document (the root is ``()``)."""
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def mutate(data: st.DataObject, doc: Any, max_edits: int = 3) -> Any:
    """A copy of ``doc`` with 1..max_edits edits: a value (at any depth) replaced by another JSON value or
    deleted, or a key added."""
    doc = json.loads(json.dumps(doc))
    for _ in range(data.draw(st.integers(1, max_edits))):
        path = data.draw(st.sampled_from(_paths(doc)))
        op = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            if op == "replace":
                doc = data.draw(json_value)
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if op == "replace":
            parent[path[-1]] = data.draw(json_value)
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(st.text(max_size=6))] = data.draw(json_value)
    return doc


def plain(doc: Any, jsonl: bool) -> str:
    """JSON text, or one line per list item for jsonl."""
    if jsonl:
        return "".join(json.dumps(item) + "\n" for item in (doc if isinstance(doc, list) else [doc]))
    return json.dumps(doc)


def serialise(data: st.DataObject, doc: Any, jsonl: bool) -> str:
    """:func:`plain` text, sometimes cut short at a random character."""
    text = plain(doc, jsonl)
    if data.draw(st.integers(0, 5)) == 0:
        text = text[: data.draw(st.integers(0, len(text)))]
    return text


def two_texts(data: st.DataObject, first: Any, second: Any, jsonl: tuple[bool, bool]) -> tuple[str, str]:
    """The texts of a converter's two input files, one or both of them mutated (so cross-file checks see one
    good file against a bad one)."""
    which = data.draw(st.sampled_from([0, 1, 2]))  # 2: both
    return tuple(  # type: ignore[return-value]
        serialise(data, mutate(data, doc), lines) if which in (i, 2) else plain(doc, lines)
        for i, (doc, lines) in enumerate(((first, jsonl[0]), (second, jsonl[1])))
    )


def fixture_json(rel: str) -> Any:
    return json.loads((FIXTURES / rel).read_text())


def fixture_jsonl(rel: str, n: int) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / rel).read_text().splitlines()[:n]]


def assert_answered(fmt: str, inputs: list[Path], out: Path, **opts: Any) -> None:
    """Valid GRIT output, or a user error naming one of the input files (a sizes file is one too); anything
    else fails the test."""
    named = [*inputs, *(v for k, v in opts.items() if k == "sizes" and isinstance(v, str))]
    try:
        convert(fmt, inputs, out, **opts)
    except GritUserError as e:
        event(type(e).__name__)  # --hypothesis-show-statistics: how often each outcome came up
        message = str(e)
        assert any(str(p) in message for p in named), f"error names no input file: {message}"
        if "\n" in message:  # only a list of several GRIT data errors spans lines
            assert isinstance(e, GritDataError) and "invalid GRIT data error(s)" in message, message
        return
    event("valid output")
    assert validate_file(out, check_images=False) == []


def image_folder(root: Path, names: list[str]) -> Path:
    """A folder holding a tiny image under each name, for converters that read sizes from the images."""
    folder = root / "images"
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 6)).save(folder / name)
    return folder


def sizes_or_images(data: st.DataObject, root: Path, names: list[str]) -> dict[str, Any]:
    """Image sizes from a mapping or from image files (both paths of SizeResolver are exercised)."""
    if data.draw(st.booleans()):
        return {"sizes": {name: [640, 480] for name in names}}
    return {"image_root": image_folder(root, names)}


def put(path: Path, text: str) -> Path:
    """Write ``text`` as the file, lone surrogates included (a truncated escape can leave one)."""
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


def with_files(write: Callable[[Path], tuple[str, list[Path], dict[str, Any]]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        fmt, inputs, opts = write(root)
        assert_answered(fmt, inputs, root / "out" / "out.jsonl", **opts)


# ------------------------------------------------------------------------------------------- converters


@FUZZ
@given(st.data())
def test_fuzz_vsr(data):
    seed = fixture_jsonl("vsr/data/splits/random/test.jsonl", 3)
    images = [r["image"] for r in seed]
    text = serialise(data, mutate(data, seed), jsonl=True)

    with_files(lambda root: ("vsr", [put(root / "test.jsonl", text)], sizes_or_images(data, root, images)))


@FUZZ
@given(st.data())
def test_fuzz_vsr_sizes_file(data):
    """The sizes a caller passes as a jsonl file are input too."""
    seed = fixture_jsonl("vsr/data/splits/random/test.jsonl", 2)
    sizes = [{"image": r["image"], "width": 640, "height": 480} for r in seed]
    text = serialise(data, mutate(data, sizes), jsonl=True)

    def write(root: Path):
        src = put(root / "test.jsonl", plain(seed, jsonl=True))
        return "vsr", [src], {"sizes": str(put(root / "sizes.jsonl", text))}

    with_files(write)


@FUZZ
@given(st.data())
def test_fuzz_viscot(data):
    bench = fixture_json("viscot/viscot_benchmark/benchmark/vsr.json")[:3]
    det = fixture_jsonl("viscot/viscot_benchmark/benchmark_det/vsr.jsonl", 3)
    bench_text, det_text = two_texts(data, bench, det, (False, True))
    use_det = data.draw(st.booleans())

    sizes = {d["img_path"]: [d["width"], d["height"]] for d in det}

    def write(root: Path):
        files = [put(root / "vsr.json", bench_text), put(root / "vsr_det.jsonl", det_text)]
        return "viscot", files[: 1 + use_det], {"sizes": sizes}

    with_files(write)


@FUZZ
@given(st.data())
def test_fuzz_viscot_train(data):
    seed = fixture_jsonl("viscot/viscot_dataset/vsr_cot_train.jsonl", 3)
    text = serialise(data, mutate(data, seed), jsonl=True)

    with_files(lambda root: ("viscot_train", [put(root / "vsr_cot_train.jsonl", text)], {}))


def gqa_scene_graphs(questions: dict[str, Any]) -> dict[str, Any]:
    """Scene graphs in the documented layout, holding every object the questions' annotations reference."""
    graphs: dict[str, Any] = {}
    for q in questions.values():
        objects = graphs.setdefault(q["imageId"], {"width": 500, "height": 400, "objects": {}})["objects"]
        for part in q["annotations"].values():
            for oid in part.values():
                objects[oid] = {"name": "thing", "x": 10, "y": 20, "w": 30, "h": 40, "attributes": []}
    return graphs


@FUZZ
@given(st.data())
def test_fuzz_gqa(data):
    questions = fixture_json("gqa/questions/val_balanced_questions.json")
    graphs = gqa_scene_graphs(questions)
    q_text, g_text = two_texts(data, questions, graphs, (False, False))
    with_graphs = data.draw(st.booleans())

    sizes = {f"{q['imageId']}.jpg": [500, 400] for q in questions.values()}

    def write(root: Path):
        files = [put(root / "val_balanced_questions.json", q_text), put(root / "val_sceneGraphs.json", g_text)]
        return "gqa", files[: 1 + with_graphs], {"sizes": sizes}

    with_files(write)


# TallyQA has no reachable real file: the record of its README (FORMATS.md), plus a complex one.
TALLYQA = [
    {"answer": 4, "data_source": "imported_genome", "image": "VG_100K_2/2410408.jpg", "image_id": 92410408,
     "issimple": False, "question": "How many headlights does the black bus have?", "question_id": 30095774},
    {"answer": 0, "data_source": "amt", "image": "val2014/COCO_val2014_000000000042.jpg", "image_id": 42,
     "issimple": True, "question": "How many dogs are there?", "question_id": 5},
]  # fmt: skip


@FUZZ
@given(st.data())
def test_fuzz_tallyqa(data):
    text = serialise(data, mutate(data, TALLYQA), jsonl=False)
    subset = data.draw(st.sampled_from([None, "simple", "complex"]))

    images = [r["image"] for r in TALLYQA]

    def write(root: Path):
        return "tallyqa", [put(root / "test.json", text)], {**sizes_or_images(data, root, images), "subset": subset}

    with_files(write)


@FUZZ
@given(st.data())
def test_fuzz_mathvista(data):
    problems = dict(list(fixture_json("mathvista/data/testmini.json").items())[:3])
    queries = {pid: q for pid, q in fixture_json("mathvista/data/query.json").items() if pid in problems}
    p_text, q_text = two_texts(data, problems, queries, (False, False))
    with_queries = data.draw(st.booleans())

    def write(root: Path):
        files = [put(root / "testmini.json", p_text), put(root / "query.json", q_text)]
        return "mathvista", files[: 1 + with_queries], {"use_query": with_queries}

    with_files(write)


# OVDEval has no reachable real annotation file: the documented COCO-like layout (FORMATS.md).
OVDEVAL = {
    "categories": [{"id": 1, "name": "cup on the left"}, {"id": 2, "name": "person"}],
    "images": [
        {"id": 10, "file_name": "a.jpg", "width": 640, "height": 480, "text": ["cup on the left"], "neg_text": []},
        {"id": 11, "file_name": "b.jpg", "width": 100, "height": 80, "text": ["person"], "neg_text": ["cat"]},
    ],
    "annotations": [
        {"id": 1, "image_id": 10, "category_id": 1, "bbox": [10.5, 20, 30, 40], "iscrowd": 0, "area": 1200},
        {"id": 2, "image_id": 11, "category_id": 2, "bbox": [90, 70, 20, 20], "iscrowd": 0, "area": 400},
    ],
}  # fmt: skip


@FUZZ
@given(st.data())
def test_fuzz_ovdeval(data):
    text = serialise(data, mutate(data, OVDEVAL), jsonl=False)
    single_target = data.draw(st.booleans())

    with_files(lambda root: ("ovdeval", [put(root / "position.json", text)], {"single_target": single_target}))


mme_text = st.one_of(st.sampled_from(TRICKY), st.text(max_size=10))


@FUZZ
@given(st.data())
def test_fuzz_mme(data):
    """MME files are tab-separated text: columns replaced, dropped or added, lines swapped, names as <stem>.txt."""
    lines = (FIXTURES / "mme/eval_tool/LaVIN/count.txt").read_text().splitlines()[:6]
    rows = [line.split("\t") for line in lines]
    images = sorted({r[0] for r in rows})
    for _ in range(data.draw(st.integers(1, 3))):
        row = data.draw(st.sampled_from(rows))
        op = data.draw(st.sampled_from(["replace", "drop", "add", "swap", "stem"]))
        col = data.draw(st.integers(0, max(len(row) - 1, 0)))
        if op == "replace" and row:
            row[col] = data.draw(mme_text)
        elif op == "drop" and row:
            del row[col]
        elif op == "add":
            row.append(data.draw(mme_text))
        elif op == "swap":
            i, j = data.draw(st.integers(0, len(rows) - 1)), data.draw(st.integers(0, len(rows) - 1))
            rows[i], rows[j] = rows[j], rows[i]
        elif row:
            row[0] = Path(row[0]).stem + ".txt"
    text = "".join("\t".join(r) + "\n" for r in rows)
    if data.draw(st.integers(0, 5)) == 0:
        text = text[: data.draw(st.integers(0, len(text)))]
    require_pairs = data.draw(st.booleans())

    def write(root: Path):
        src = root / "count.txt"
        put(src, text)
        if data.draw(st.booleans()):
            return "mme", [src], {"sizes": {im: [640, 480] for im in images}, "require_pairs": require_pairs}
        folder = image_folder(root, [f"count/{im}" for im in images])
        return "mme", [src], {"image_root": folder, "require_pairs": require_pairs}

    with_files(write)


def test_every_converter_is_fuzzed():
    from grit.data.convert import CONVERTERS

    fuzzed = {re.sub(r"^test_fuzz_", "", name) for name in globals() if name.startswith("test_fuzz_")}
    assert set(CONVERTERS) <= fuzzed


# ------------------------------------------------------------------------------------------ GRIT jsonl


@FUZZ
@given(st.data())
def test_fuzz_grit_jsonl_reading(data):
    """``grit data validate`` never raises on bad data: every problem is an error naming file:line; reading
    raises GritDataError or gives records that write back and validate."""
    seed = fixture_jsonl("viscot/viscot_dataset/vsr_cot_train.jsonl", 3)
    text = serialise(data, mutate(data, seed), jsonl=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "train.jsonl"
        put(src, text)
        errors = validate_file(src, check_images=data.draw(st.booleans()))
        assert all(e.file == str(src) and str(e).startswith(str(src)) for e in errors)
        assert all("\n" not in str(e) for e in errors)
        try:
            records = read_jsonl(src)
        except GritDataError as e:
            assert str(src) in str(e)
            return
        out = Path(tmp) / "copy.jsonl"
        assert write_jsonl(records, out) == len(records)
        assert [r.to_dict() for r in read_jsonl(out)] == [r.to_dict() for r in records]
