"""Benchmark converters on the real sample records in ../shared/fixtures (synthetic only where no sample exists)."""

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from grit.data.convert import (
    CONVERTERS,
    ConvertError,
    box_from_expand2square,
    box_to_expand2square,
    convert,
    describe,
    load_sizes,
    validate_files,
)
from grit.data.convert.gqa import referenced_objects
from grit.data.convert.vsr import caption_to_statement
from grit.data.schema import GritDataError, GritRecord, read_jsonl


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def check_records(records: list[dict]) -> list[GritRecord]:
    """Every converter output must be valid GRIT data."""
    return [GritRecord.from_dict(r, where=f"record {i}") for i, r in enumerate(records)]


def viscot_paths(fixtures_dir: Path, name: str) -> tuple[Path, Path]:
    root = fixtures_dir / "viscot" / "viscot_benchmark"
    return root / "benchmark" / f"{name}.json", root / "benchmark_det" / f"{name}.jsonl"


# --------------------------------------------------------------------------------------------- Visual-CoT


@pytest.mark.parametrize("name", ["vsr", "gqa"])
def test_expand2square_box_matches_real_gpt_boxes(fixtures_dir, name):
    bench, det = viscot_paths(fixtures_dir, name)
    items, dets = json.loads(bench.read_text()), jsonl(det)
    assert len(items) == len(dets) == 8
    for item, d in zip(items, dets, strict=True):
        gpt = json.loads(item["conversations"][1]["value"])
        w, h = d["width"], d["height"]
        # forward: the det box reproduces Visual-CoT's stored normalised box digit for digit
        assert [f"{v:.3f}" for v in box_to_expand2square(d["bbox"], w, h)] == [f"{v:.3f}" for v in gpt]
        # inverse: back to original pixels within the 3-decimal rounding
        back = box_from_expand2square(gpt, w, h)
        assert max(abs(a - b) for a, b in zip(back, d["bbox"], strict=True)) <= 0.0005 * max(w, h) + 1e-9
        # and it is NOT the naive x/W, y/H reading whenever the image is not square
        if w != h:
            naive = [d["bbox"][0] / w, d["bbox"][1] / h, d["bbox"][2] / w, d["bbox"][3] / h]
            assert max(abs(a - b) for a, b in zip(naive, gpt, strict=True)) > 0.01


@pytest.mark.parametrize("name", ["vsr", "gqa"])
def test_viscot_with_det_file(fixtures_dir, name):
    bench, det = viscot_paths(fixtures_dir, name)
    items, dets = json.loads(bench.read_text()), jsonl(det)
    records = CONVERTERS["viscot"](bench, det)
    check_records(records)
    assert len(records) == 8
    for rec, item, d in zip(records, items, dets, strict=True):
        assert rec["id"] == item["question_id"] == d["question_id"]
        assert rec["question"] == d["expression"]
        assert "Please provide" not in rec["question"] and "<image>" not in rec["question"]
        assert rec["answer"] == item["conversations"][3]["value"]
        assert rec["answer_type"] == ("yes/no" if rec["answer"] in ("Yes", "No") else "text")
        assert (rec["width"], rec["height"]) == (d["width"], d["height"])
        assert rec["bboxs"] == [d["bbox"]]  # exact floats from the det file
        hash_box = json.loads(item["image"][1].split("###")[1])
        assert [int(v) for v in rec["bboxs"][0]] == hash_box  # ### box = det box truncated
        assert rec["image"] == d["img_path"] and rec["dataset"] == name and rec["split"] == "val"


def test_viscot_without_det_uses_hash_box(fixtures_dir):
    bench, det = viscot_paths(fixtures_dir, "vsr")
    dets = jsonl(det)
    # sizes may come from any jsonl with image/img_path + width + height, here the det file itself
    records = CONVERTERS["viscot"](bench, sizes=str(det), basename=True)
    for rec, d in zip(records, dets, strict=True):
        assert rec["image"] == Path(d["img_path"]).name
        assert rec["bboxs"][0] == [float(int(v)) for v in d["bbox"]]
        assert max(abs(a - b) for a, b in zip(rec["bboxs"][0], d["bbox"], strict=True)) < 1.0


def test_viscot_without_det_or_hash_inverts_gpt_box(fixtures_dir, tmp_path):
    bench, det = viscot_paths(fixtures_dir, "gqa")
    items, dets = json.loads(bench.read_text()), jsonl(det)
    for item in items:
        item["image"] = item["image"][:1]
    stripped = tmp_path / "gqa.json"
    stripped.write_text(json.dumps(items))
    sizes = {Path(d["img_path"]).name: [d["width"], d["height"]] for d in dets}
    records = CONVERTERS["viscot"](stripped, sizes=sizes)
    for rec, d in zip(records, dets, strict=True):
        tol = 0.0005 * max(d["width"], d["height"]) + 1e-9
        assert max(abs(a - b) for a, b in zip(rec["bboxs"][0], d["bbox"], strict=True)) <= tol


def test_viscot_errors_name_file_and_record(fixtures_dir, tmp_path):
    bench, det = viscot_paths(fixtures_dir, "vsr")
    dets = jsonl(det)
    with pytest.raises(ConvertError, match=r"vsr\.json: record 0 \(question_id 0\): no width/height"):
        CONVERTERS["viscot"](bench)
    wrong = {Path(d["img_path"]).name: [d["width"], d["width"]] for d in dets}  # squares: wrong padding
    with pytest.raises(ConvertError, match=r"gpt box .* wrong image size"):
        CONVERTERS["viscot"](bench, sizes=wrong)
    dets[2]["bbox"] = [1.0, 2.0, 3.0, 4.0]
    tampered = tmp_path / "det.jsonl"
    tampered.write_text("".join(json.dumps(d) + "\n" for d in dets))
    with pytest.raises(ConvertError, match=r"record 2 \(question_id 6\): ### box"):
        CONVERTERS["viscot"](bench, tampered)
    tampered.write_text("".join(json.dumps(d) + "\n" for d in jsonl(det)[:3]))
    with pytest.raises(ConvertError, match="question_id 9 not found"):
        CONVERTERS["viscot"](bench, tampered)


def test_viscot_train_passes_grit_schema_through(fixtures_dir, tmp_path):
    src = fixtures_dir / "viscot" / "viscot_dataset" / "vsr_cot_train.jsonl"
    records = CONVERTERS["viscot_train"](src)
    assert records == jsonl(src)  # already GRIT: nothing changes
    bad = tmp_path / "bad.jsonl"
    bad.write_text(src.read_text().splitlines()[0] + "\n" + json.dumps({"question": "q"}) + "\n")
    with pytest.raises(Exception, match=r"bad\.jsonl:2: field 'answer': missing required field"):
        CONVERTERS["viscot_train"](bad)


# ----------------------------------------------------------------------------------------------------- VSR


def test_caption_to_statement():
    assert (
        caption_to_statement("The person is inside the refrigerator.")
        == "the person is inside the refrigerator"
    )
    assert caption_to_statement("TV is on the table. ") == "TV is on the table"


def test_vsr_official_split(fixtures_dir, tmp_path):
    src = fixtures_dir / "vsr" / "data" / "splits" / "random" / "test.jsonl"
    lines = jsonl(src)
    # COCO images are not shipped: make stand-ins of known sizes so the size is read from the image root
    for i, line in enumerate(lines):
        Image.new("RGB", (600 + i, 400 + i)).save(tmp_path / line["image"], format="JPEG")
    records = CONVERTERS["vsr"](src, image_root=tmp_path)
    check_records(records)
    assert len(records) == len(lines) == 10
    for i, (rec, line) in enumerate(zip(records, lines, strict=True)):
        assert rec["answer"] == ("Yes" if line["label"] == 1 else "No")
        assert (
            rec["question"] == "Is it true that " + line["caption"][0].lower() + line["caption"][1:-1] + "?"
        )
        assert (rec["width"], rec["height"]) == (600 + i, 400 + i)
        assert rec["bboxs"] == [] and rec["answer_type"] == "yes/no" and rec["split"] == "test"
        assert rec["relation"] == line["relation"] and rec["id"] == f"random-test-{i + 1}"
    assert records[0]["question"] == "Is it true that the person is inside the refrigerator?"


def test_vsr_zeroshot_and_raw_files_with_sizes(fixtures_dir):
    root = fixtures_dir / "vsr" / "data"
    paths = [root / "splits" / "zeroshot" / "test.jsonl", root / "data_files" / "all_vsr_raw_data.jsonl"]
    sizes = {line["image"]: (640, 480) for p in paths for line in jsonl(p)}
    records = CONVERTERS["vsr"](*paths, sizes=sizes, split="test")
    assert len(records) == 5 + 3
    assert records[5]["question"] == "Is it true that the pizza is above the couch?"
    assert records[5]["answer"] == "No" and records[5]["id"] == "data_files-all_vsr_raw_data-1"


def test_load_sizes_forms(fixtures_dir, tmp_path):
    _, det = viscot_paths(fixtures_dir, "vsr")
    sizes = load_sizes(str(det))
    assert sizes["cot/vsr/000000287427.jpg"] == sizes["000000287427.jpg"] == (640, 480)
    f = tmp_path / "sizes.json"
    f.write_text(json.dumps({"a.jpg": [3, 4], "dir/b.jpg": {"width": 5, "height": 6}}))
    assert load_sizes(f) == {"a.jpg": (3, 4), "dir/b.jpg": (5, 6), "b.jpg": (5, 6)}
    with pytest.raises(ConvertError, match=r"'a\.jpg'"):
        load_sizes({"a.jpg": [0, 4]})


# ----------------------------------------------------------------------------------------------------- GQA


def gqa_questions(fixtures_dir: Path) -> Path:
    return fixtures_dir / "gqa" / "questions" / "val_balanced_questions.json"


def test_gqa_sizes_from_real_images(fixtures_dir):
    src = gqa_questions(fixtures_dir)
    images = fixtures_dir / "gqa" / "images"
    with pytest.raises(ConvertError, match=r"record question 00148535: image not found: .*2351608\.jpg"):
        CONVERTERS["gqa"](src, image_root=images)
    records = CONVERTERS["gqa"](src, image_root=images, sizes={"2351608.jpg": [500, 333]})
    check_records(records)
    by_id = {r["id"]: r for r in records}
    assert list(by_id) == ["00126851", "00148535", "00155957"]  # string ids, leading zeros kept
    assert (by_id["00126851"]["width"], by_id["00126851"]["height"]) == (800, 533)
    assert (by_id["00155957"]["width"], by_id["00155957"]["height"]) == (500, 375)
    assert (by_id["00148535"]["width"], by_id["00148535"]["height"]) == (500, 333)
    assert by_id["00126851"]["question"] == "Are there carts near the pond?"
    assert by_id["00126851"]["answer"] == "yes" and by_id["00126851"]["answer_type"] == "yes/no"
    assert by_id["00148535"]["answer"] == "man" and by_id["00148535"]["question_type"] == "query"
    assert by_id["00126851"]["image"] == "1159529.jpg" and by_id["00126851"]["split"] == "val_balanced"
    assert all(r["bboxs"] == [] for r in records)  # no scene graphs → no boxes


def test_gqa_referenced_objects_from_real_annotations(fixtures_dir):
    q = json.loads(gqa_questions(fixtures_dir).read_text())
    assert referenced_objects(q["00126851"]["annotations"]) == ["1039872", "1039893"]
    # question objects first (shirt), then the answer's (the man)
    assert referenced_objects(q["00148535"]["annotations"]) == ["1883117", "1935688"]
    assert referenced_objects({"question": {"3:5": "7,8", "1": "9"}}) == ["9", "7", "8"]


def test_gqa_boxes_from_scene_graph(fixtures_dir, tmp_path):
    # No real scene-graph sample exists; this one follows the documented layout (x, y, w, h in pixels).
    graphs = {
        "1159529": {
            "width": 800,
            "height": 533,
            "objects": {
                "1039872": {
                    "name": "cart",
                    "x": 100,
                    "y": 200,
                    "w": 50,
                    "h": 40,
                    "attributes": [],
                    "relations": [],
                },
                "1039893": {
                    "name": "pond",
                    "x": 700,
                    "y": 400,
                    "w": 150,
                    "h": 200,
                    "attributes": [],
                    "relations": [],
                },
            },
        },
        "2351608": {"width": 500, "height": 333, "objects": {"1935688": {"x": 1, "y": 2, "w": 3, "h": 4}}},
        "2370134": {"width": 500, "height": 375, "objects": {"3435449": {"x": 0, "y": 0, "w": 10, "h": 10}}},
    }
    sg = tmp_path / "val_sceneGraphs.json"
    sg.write_text(json.dumps(graphs))
    src = gqa_questions(fixtures_dir)
    with pytest.raises(ConvertError, match="question 00148535: object 1883117 not in the scene graph"):
        CONVERTERS["gqa"](src, sg)
    graphs["2351608"]["objects"]["1883117"] = {"x": 10, "y": 20, "w": 30, "h": 40}
    graphs["2370134"]["objects"]["2827701"] = {"x": 5, "y": 5, "w": 5, "h": 5}
    sg.write_text(json.dumps(graphs))
    records = CONVERTERS["gqa"](src, sg)  # sizes from the scene graph: no images needed
    check_records(records)
    assert records[0]["bboxs"] == [[100, 200, 150, 240], [700, 400, 800, 533]]  # xywh → xyxy, pond clipped
    assert records[1]["bboxs"] == [[10, 20, 40, 60], [1, 2, 4, 6]]
    assert (records[1]["width"], records[1]["height"]) == (500, 333)
    answer_only = CONVERTERS["gqa"](src, sg, fields="answer")
    assert [r["bboxs"] for r in answer_only] == [[], [[1, 2, 4, 6]], []]


# ------------------------------------------------------------------------------------------------- TallyQA


def test_tallyqa_from_documented_format(tmp_path):
    # No real TallyQA file exists here; the first record is the one shown in the official README.
    items = [
        {
            "answer": 4,
            "data_source": "imported_genome",
            "image": "VG_100K_2/2410408.jpg",
            "image_id": 92410408,
            "issimple": False,
            "question": "How many headlights does the black bus have?",
            "question_id": 30095774,
        },
        {"answer": 0, "data_source": "amt", "image": "val2014/COCO_val2014_000000000042.jpg", "image_id": 42,
         "issimple": True, "question": "How many dogs are there?", "question_id": 5},
    ]  # fmt: skip
    src = tmp_path / "test.json"
    src.write_text(json.dumps(items))
    sizes = {"2410408.jpg": [800, 600], "COCO_val2014_000000000042.jpg": [640, 480]}
    records = CONVERTERS["tallyqa"](src, sizes=sizes)
    check_records(records)
    assert [r["answer"] for r in records] == ["4", "0"]
    assert records[0]["dataset"] == "tallyqa" and records[0]["answer_type"] == "integer"
    assert records[0]["image"] == "VG_100K_2/2410408.jpg" and (records[0]["width"], records[0]["height"]) == (
        800,
        600,
    )
    assert records[0]["id"] == 30095774 and records[0]["split"] == "test" and records[0]["issimple"] is False
    assert [r["id"] for r in CONVERTERS["tallyqa"](src, sizes=sizes, subset="simple")] == [5]
    items[1]["answer"] = "two"
    src.write_text(json.dumps(items))
    with pytest.raises(ConvertError, match=r"test\.json: record 1 \(question_id 5\): field 'answer'"):
        CONVERTERS["tallyqa"](src, sizes=sizes)


# ----------------------------------------------------------------------------------------------- MathVista


def test_mathvista_testmini(fixtures_dir):
    data = fixtures_dir / "mathvista" / "data"
    problems = json.loads((data / "testmini.json").read_text())
    queries = json.loads((data / "query.json").read_text())
    records = CONVERTERS["mathvista"](data / "testmini.json", data / "query.json")
    check_records(records)
    assert len(records) == len(problems) == 15
    for rec in records:
        p = problems[rec["id"]]
        assert rec["question"] == queries[rec["id"]] and rec["raw_question"] == p["question"]
        for key in ("answer", "choices", "precision", "unit", "answer_type", "question_type", "image"):
            assert rec[key] == p[key], key
        assert (rec["width"], rec["height"]) == (p["metadata"]["img_width"], p["metadata"]["img_height"])
        assert rec["split"] == "testmini" and rec["language"] == p["metadata"]["language"]
    by_id = {r["id"]: r for r in records}
    assert by_id["1"]["answer_type"] == "float" and by_id["1"]["precision"] == 1
    assert by_id["3"]["choices"] == ["135°", "140°", "145°", "150°"] and by_id["3"]["answer"] == "145°"
    assert by_id["2"]["unit"] == "g" and by_id["2"]["question"].endswith("(Unit: g)")


def test_mathvista_without_query(fixtures_dir):
    src = fixtures_dir / "mathvista" / "data" / "testmini.json"
    with pytest.raises(ConvertError, match="pid 1: no query"):
        CONVERTERS["mathvista"](src)
    records = CONVERTERS["mathvista"](src, use_query=False)
    assert records[0]["question"] == records[0]["raw_question"]


# ----------------------------------------------------------------------------------------------------- MME


@pytest.mark.parametrize("folder", ["Your_Results", "LaVIN"])
def test_mme_pairs(fixtures_dir, folder):
    root = fixtures_dir / "mme" / "eval_tool" / folder
    files = [root / f"{s}.txt" for s in ("count", "position", "existence", "numerical_calculation")]
    names = {line.split("\t")[0] for f in files for line in f.read_text().splitlines()}
    records = CONVERTERS["mme"](*files, sizes={n: [640, 480] for n in names})
    check_records(records)
    n_lines = sum(len(f.read_text().splitlines()) for f in files)
    assert len(records) == n_lines
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(r["group"], []).append(r)
    assert len(groups) == n_lines // 2
    assert all(sorted(x["answer"] for x in g) == ["No", "Yes"] for g in groups.values())
    first = records[0]
    assert first["id"] == "count/1" and first["group"] == "count/000000006040.jpg"
    assert first["image"] == "count/000000006040.jpg" and first["question_type"] == "count"
    assert first["question"] == "Is there a train in the picture? Please answer yes or no."
    pos = [r for r in records if r["question_type"] == "position"]
    assert (
        pos[1]["question"] == "Is the cricket bat under the batter's body Please answer yes or no."
    )  # verbatim


def test_mme_images_and_pair_errors(fixtures_dir, tmp_path):
    src = fixtures_dir / "mme" / "eval_tool" / "Your_Results" / "numerical_calculation.txt"
    lines = src.read_text().splitlines()
    # the MME release keeps some subtasks' images in <subtask>/images/
    (tmp_path / "numerical_calculation" / "images").mkdir(parents=True)
    for line in lines:
        Image.new("RGB", (300, 200)).save(tmp_path / "numerical_calculation" / "images" / line.split("\t")[0])
    records = CONVERTERS["mme"](src, image_root=tmp_path)
    assert records[0]["image"] == "numerical_calculation/images/0001.png"
    assert (records[0]["width"], records[0]["height"]) == (300, 200)
    broken = tmp_path / "count.txt"
    broken.write_text("\n".join([lines[0], lines[2], lines[1], lines[3]]) + "\n")
    with pytest.raises(ConvertError, match=r"count\.txt:1: image 0001\.png is not followed by its second"):
        CONVERTERS["mme"](broken, sizes={"0001.png": [1, 1], "0002.png": [1, 1]})
    broken.write_text(lines[0].replace("\tYes", "\tyes") + "\n")
    with pytest.raises(ConvertError, match=r"count\.txt:1: ground truth must be Yes or No"):
        CONVERTERS["mme"](broken, sizes={"0001.png": [1, 1]})


# ------------------------------------------------------------------------------------------------- OVDEval


def test_ovdeval_single_target_from_documented_format(tmp_path):
    # No real OVDEval file exists here; this follows the documented COCO-like layout.
    ann = {
        "categories": [{"supercategory": "x", "id": 1, "name": "cup on the left"}, {"id": 2, "name": "person"}],
        "images": [
            {"id": 10, "file_name": "a.jpg", "width": 640, "height": 480,
             "text": ["cup on the left", "person"], "neg_text": ["cup on the right"]},
            {"id": 11, "file_name": "b.jpg", "width": 100, "height": 80, "text": ["person"], "neg_text": []},
        ],
        "annotations": [
            {"id": 1, "image_id": 10, "category_id": 1, "bbox": [10.5, 20, 30, 40], "iscrowd": 0, "area": 1200},
            {"id": 2, "image_id": 10, "category_id": 2, "bbox": [0, 0, 5, 5], "iscrowd": 0, "area": 25},
            {"id": 3, "image_id": 10, "category_id": 2, "bbox": [50, 50, 5, 5], "iscrowd": 0, "area": 25},
            {"id": 4, "image_id": 11, "category_id": 2, "bbox": [90, 70, 20, 20], "iscrowd": 0, "area": 400},
            {"id": 5, "image_id": 11, "category_id": 1, "bbox": [0, 0, 9, 9], "iscrowd": 1, "area": 81},
        ],
    }  # fmt: skip
    src = tmp_path / "position.json"
    src.write_text(json.dumps(ann))
    records = CONVERTERS["ovdeval"](src)
    check_records(records)
    assert [r["id"] for r in records] == [
        "position-10-1",
        "position-11-2",
    ]  # two-box "person" on a.jpg dropped
    assert records[0]["bboxs"] == [[10.5, 20, 40.5, 60]]  # xywh → xyxy
    assert records[1]["bboxs"] == [[90, 70, 100, 80]]  # clipped to the 100x80 image
    assert records[0]["question"] == 'Locate "cup on the left" in the image.'
    assert records[0]["image"] == "position/a.jpg" and records[0]["neg_text"] == ["cup on the right"]
    multi = CONVERTERS["ovdeval"](src, single_target=False)
    assert [len(r["bboxs"]) for r in multi] == [1, 2, 1]
    ann["annotations"][0]["category_id"] = 9
    src.write_text(json.dumps(ann))
    with pytest.raises(ConvertError, match=r"position\.json: record annotation 1: category_id 9"):
        CONVERTERS["ovdeval"](src)


# -------------------------------------------------------------------------------------------- dispatching


def test_convert_dispatch_writes_valid_jsonl(fixtures_dir, tmp_path):
    bench, det = viscot_paths(fixtures_dir, "gqa")
    out = tmp_path / "out" / "gqa_val.jsonl"
    n = convert("viscot", [str(bench), str(det)], str(out))
    assert n == 8
    records = read_jsonl(out)
    assert records[0].bboxs == [[217.0, 343.0, 242.0, 393.0]] and records[0].id == 7
    assert validate_files([out], check_images=False) == []
    errors = validate_files([out])  # images are not shipped
    assert len(errors) == 8 and "image not found" in errors[0].message


def test_convert_dispatch_errors(fixtures_dir, tmp_path):
    bench, det = viscot_paths(fixtures_dir, "gqa")
    out = tmp_path / "x.jsonl"
    with pytest.raises(ValueError, match="unknown format 'coco'"):
        convert("coco", [str(bench)], out)
    with pytest.raises(ValueError, match=r"wrong number of input files \(3\) for 'viscot'"):
        convert("viscot", [bench, det, det], out)
    with pytest.raises(ValueError, match=r"wrong number of input files \(0\) for 'mme'"):
        convert("mme", [], out)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['colour'\]"):
        convert("viscot", [bench], out, colour="red")
    assert not out.exists()


def test_every_converter_is_registered():
    assert set(CONVERTERS) == {
        "vsr",
        "viscot",
        "viscot_train",
        "gqa",
        "tallyqa",
        "mathvista",
        "mme",
        "ovdeval",
    }
    assert describe("viscot") == "viscot benchmark_json [det_jsonl]  options: sizes, basename, check_gpt_box"
    assert describe("mme").startswith("mme paths...")


def test_broken_sources_are_located(tmp_path):
    bad = tmp_path / "testmini.json"
    bad.write_text('{\n  "1": {"question": "x",\n}')
    with pytest.raises(ConvertError, match=r"testmini\.json:3: invalid JSON"):
        CONVERTERS["mathvista"](bad)
    bad_lines = tmp_path / "test.jsonl"
    bad_lines.write_text('{"image": "a.jpg", "caption": "A cat.", "label": 1}\n{"image": \n')
    with pytest.raises(ConvertError, match=r"test\.jsonl:2: invalid JSON"):
        CONVERTERS["vsr"](bad_lines, sizes={"a.jpg": [2, 2]})
    with pytest.raises(ConvertError, match=r"missing\.json: file not found"):
        CONVERTERS["tallyqa"](tmp_path / "missing.json")


# ---------------------------------------------------------------------------------------- bad inputs


# One input file per converter, written by each test (the sources in ../shared/fixtures are never altered).
ONE_FILE = {
    "vsr": "test.jsonl",
    "viscot": "vsr.json",
    "viscot_train": "train.jsonl",
    "gqa": "val_questions.json",
    "tallyqa": "test.json",
    "mathvista": "testmini.json",
    "mme": "count.txt",
    "ovdeval": "position.json",
}


@pytest.mark.parametrize("fmt", sorted(ONE_FILE))
@pytest.mark.parametrize("content", ["", "  \n\n", "[]", "{}"])
def test_empty_inputs_are_errors(fmt, content, tmp_path):
    """An empty file or JSON container is an error naming the file, never 0 records (for viscot_train, "{}"
    is a line missing every GRIT field: a GritDataError naming file and line)."""
    src = tmp_path / ONE_FILE[fmt]
    src.write_text(content)
    out = tmp_path / "out.jsonl"
    opts = {} if fmt in ("viscot_train", "ovdeval") else {"sizes": {"a.jpg": [2, 2]}}
    with pytest.raises(GritDataError, match=re.escape(str(src))):
        convert(fmt, [src], out, **opts)
    assert not out.exists()


def test_nothing_left_after_filtering_is_an_error(tmp_path):
    src = tmp_path / "test.json"
    src.write_text(json.dumps([{"answer": 1, "image": "a.jpg", "question": "How many?", "issimple": True}]))
    out = tmp_path / "out.jsonl"
    with pytest.raises(ConvertError, match=r"test\.json: no tallyqa records to write .*'subset': 'complex'"):
        convert("tallyqa", [src], out, sizes={"a.jpg": [2, 2]}, subset="complex")
    assert not out.exists()


def test_malformed_numbers_name_file_record_and_field(fixtures_dir, tmp_path):
    bench, det = viscot_paths(fixtures_dir, "vsr")
    lines = det.read_text().splitlines()
    bad = json.loads(lines[2])
    bad["width"] = "640px"
    tampered = tmp_path / "det.jsonl"
    tampered.write_text("\n".join([*lines[:2], json.dumps(bad), *lines[3:]]) + "\n")
    with pytest.raises(ConvertError, match=rf"{re.escape(str(tampered))}:3: field 'width': .*'640px'"):
        CONVERTERS["viscot"](bench, tampered)
    bad["width"], bad["bbox"] = 640, [1, "2", 3, 4]
    tampered.write_text("\n".join([*lines[:2], json.dumps(bad), *lines[3:]]) + "\n")
    with pytest.raises(ConvertError, match=r"det\.jsonl:3: field 'bbox': .*'2'"):
        CONVERTERS["viscot"](bench, tampered)

    problems = json.loads((fixtures_dir / "mathvista" / "data" / "testmini.json").read_text())
    first = next(iter(problems))
    problems[first]["metadata"]["img_height"] = "tall"
    src = tmp_path / "testmini.json"
    src.write_text(json.dumps(problems))
    with pytest.raises(ConvertError, match=rf"testmini\.json: record pid {first} metadata: field 'img_height'"):
        CONVERTERS["mathvista"](src, use_query=False)

    sizes = tmp_path / "sizes.jsonl"
    sizes.write_text('{"image": "a.jpg", "width": 3, "height": 4}\n{"image": "b.jpg", "width": "x", "height": 4}\n')
    with pytest.raises(ConvertError, match=r"sizes\.jsonl:2: expected \[width, height\] positive integers"):
        load_sizes(sizes)


def test_errors_from_two_files_name_both(fixtures_dir, tmp_path):
    bench, det = viscot_paths(fixtures_dir, "vsr")
    dets = jsonl(det)
    dets[1]["expression"] = "Is the sky green?"
    tampered = tmp_path / "det.jsonl"
    tampered.write_text("".join(json.dumps(d) + "\n" for d in dets))
    with pytest.raises(ConvertError, match=rf"vsr\.json: record 1 .* at {re.escape(str(tampered))}:2"):
        CONVERTERS["viscot"](bench, tampered)
    dets = jsonl(det)
    dets[2]["bbox"] = [1.0, 2.0, 3.0, 4.0]
    tampered.write_text("".join(json.dumps(d) + "\n" for d in dets))
    with pytest.raises(ConvertError, match=rf"vsr\.json: record 2 .*### box .* at {re.escape(str(tampered))}:3"):
        CONVERTERS["viscot"](bench, tampered)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("conversations", "not a list", "field 'conversations': expected a list"),
        ("conversations", ["a", "b"], "field 'conversations[0]': expected a JSON object"),
        ("image", 7, "field 'image': expected a path or a list of paths"),
        ("question_id", [1], "field 'question_id': expected a string or integer"),
    ],
)
def test_wrong_types_deep_in_a_record_are_located(fixtures_dir, tmp_path, field, value, message):
    bench, det = viscot_paths(fixtures_dir, "vsr")
    items = json.loads(bench.read_text())
    items[3][field] = value
    src = tmp_path / "vsr.json"
    src.write_text(json.dumps(items))
    with pytest.raises(ConvertError, match=rf"{re.escape(str(src))}: record 3\b.*{re.escape(message)}"):
        CONVERTERS["viscot"](src, det)


def llava_mme_answers(fixtures_dir: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """count.txt as LLaVA's convert_answer_to_mme writes it: column 1 is ``<stem>.txt``, not the image."""
    lines = (fixtures_dir / "mme" / "eval_tool" / "LaVIN" / "count.txt").read_text().splitlines()
    images = [line.split("\t")[0] for line in lines]
    out = tmp_path / "llava" / "count.txt"
    out.parent.mkdir()
    out.write_text("".join(Path(im).stem + ".txt\t" + line.split("\t", 1)[1] + "\n" for im, line in zip(
        images, lines, strict=True)))  # fmt: skip
    return out, images


def test_mme_llava_answers_map_to_the_image_names(fixtures_dir, tmp_path):
    src, images = llava_mme_answers(fixtures_dir, tmp_path)
    with pytest.raises(ConvertError, match=r"count\.txt:1: column 1 is '000000006040\.txt'.*image_root"):
        CONVERTERS["mme"](src, sizes={im: [1, 1] for im in images[2:]})  # no size for the first image
    by_sizes = CONVERTERS["mme"](src, sizes={im: [640, 480] for im in images})
    root = tmp_path / "MME"
    (root / "count").mkdir(parents=True)
    for im in set(images):
        Image.new("RGB", (4, 3)).save(root / "count" / im)
    by_files = CONVERTERS["mme"](src, image_root=root)
    for records in (by_sizes, by_files):
        assert [r["image"] for r in records] == [f"count/{im}" for im in images]
        assert [r["group"] for r in records] == [f"count/{im}" for im in images]
        assert not any(r["image_name"].endswith(".txt") for r in records)
    assert (by_files[0]["width"], by_files[0]["height"]) == (4, 3)
