"""Loading GRIT jsonl files into one datasets.Dataset with lazily decoded images."""

import json
from pathlib import Path

import pytest
from PIL import Image

from grit.data import GritDataError, load_grit_dataset


def make_file(folder: Path, name: str, records: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for r in records:
        img = folder / r["image"]
        if not img.exists():
            Image.new("RGB", (r["width"], r["height"]), (200, 30, 30)).save(img)
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


VSR = [
    {
        "question": "Is the cat left of the dog?",
        "answer": "Yes",
        "image": "v1.png",
        "width": 40,
        "height": 30,
        "bboxs": [[1, 2, 10, 20], [5, 5, 39, 29]],
        "dataset": "vsr",
        "split": "train",
    },
    {"question": "What is under the bed?", "answer": "cat", "image": "v2.png", "width": 20, "height": 20},
]
MATH = [
    {
        "question": "Which one?",
        "answer": "B",
        "image": "m1.png",
        "width": 16,
        "height": 12,
        "choices": ["A", "B"],
        "precision": 1,
        "id": 7,
        "key_words": ["x"],
    }
]


def test_load_two_files_columns_and_defaults(tmp_path):
    a = make_file(tmp_path / "vsr", "vsr_val.jsonl", VSR)
    b = make_file(tmp_path / "mathvista", "mathvista_mini_val.jsonl", MATH)
    ds = load_grit_dataset(f"{a},{b}")
    assert len(ds) == 3
    assert ds.column_names[:4] == ["image", "image_path", "question", "answer"]
    assert ds["dataset"] == ["vsr", "vsr_val", "mathvista_mini_val"]  # explicit field wins, else file stem
    assert ds["bboxs"] == [[[1.0, 2.0, 10.0, 20.0], [5.0, 5.0, 39.0, 29.0]], [], []]
    assert ds["choices"] == [None, None, ["A", "B"]]
    assert ds["precision"] == [None, None, 1]
    assert ds["id"] == [None, None, "7"]
    assert ds["key_words"] == [None, None, ["x"]]  # extra field, filled with None elsewhere
    assert ds["image_path"][0] == str((tmp_path / "vsr" / "v1.png").resolve())
    assert ds.features["image"].__class__.__name__ == "Image"


def test_image_is_decoded_lazily_and_survives_map(tmp_path):
    path = make_file(tmp_path, "d.jsonl", VSR)
    ds = load_grit_dataset([path])
    # stored as a path, not pixels
    raw = ds.data.column("image")[0].as_py()
    assert raw["bytes"] is None and raw["path"].endswith("v1.png")
    row = ds[0]
    assert isinstance(row["image"], Image.Image)
    assert row["image"].size == (40, 30)
    mapped = ds.map(lambda r: {"n_boxes": len(r["bboxs"])}).filter(lambda r: r["n_boxes"] > 0)
    assert len(mapped) == 1 and mapped[0]["image"].size == (40, 30)


def test_image_root_string_and_mapping(tmp_path):
    imgs = tmp_path / "images"
    make_file(imgs, "unused.jsonl", VSR)
    path = tmp_path / "data" / "vsr_val.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(r) + "\n" for r in VSR))
    with pytest.raises(GritDataError, match="image not found"):
        load_grit_dataset(str(path))  # default root = the jsonl's folder, which has no images
    assert load_grit_dataset(str(path), image_root=str(imgs))["image_path"][1] == str(
        (imgs / "v2.png").resolve()
    )
    assert len(load_grit_dataset([path], image_root={"vsr_val": imgs})) == 2
    assert len(load_grit_dataset([path], check_images=False)) == 2


def test_errors_from_all_files_raised_together(tmp_path):
    a = make_file(tmp_path, "a.jsonl", [{**VSR[0], "bboxs": [[10, 5, 8, 20]]}])
    b = make_file(tmp_path, "b.jsonl", [VSR[1]])
    b.write_text(json.dumps({**VSR[1], "width": None}) + "\n")
    with pytest.raises(GritDataError) as info:
        load_grit_dataset([a, b], check_images=False)
    msg = str(info.value)
    assert f"{a}:1: field 'bboxs[0]'" in msg
    assert f"{b}:1: field 'width'" in msg


def test_conflicting_extra_types_and_clashing_names(tmp_path):
    a = make_file(tmp_path, "a.jsonl", [{**VSR[1], "tag": "x"}])
    b = make_file(tmp_path, "b.jsonl", [{**VSR[1], "tag": {"k": 1}}])
    with pytest.raises(GritDataError, match="'tag' has incompatible types"):
        load_grit_dataset([a, b])
    c = make_file(tmp_path, "c.jsonl", [{**VSR[1], "image_path": "x"}])
    with pytest.raises(GritDataError, match="image_path"):
        load_grit_dataset([c])


def test_no_paths():
    with pytest.raises(GritDataError, match="no GRIT jsonl files"):
        load_grit_dataset(" , ")


def test_loads_real_viscot_train_file(fixtures_dir):
    path = fixtures_dir / "viscot" / "viscot_dataset" / "vsr_cot_train.jsonl"
    ds = load_grit_dataset(str(path), check_images=False)  # COCO images are not shipped
    assert len(ds) == 10
    assert set(ds["dataset"]) == {"vsr"}
    assert all(len(b) >= 1 for b in ds["bboxs"])
    assert ds["width"][0] == 640 and ds["height"][0] == 640  # column access: no image decoding
