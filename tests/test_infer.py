"""grit infer: a record of the grounded chain, boxes mapped to original pixels, a PNG of the right size, errors."""

from __future__ import annotations

import dataclasses
import json

import pytest
from models_fixtures import qwen25_dir, tiny_model_dirs  # noqa: F401 - pytest fixtures
from PIL import Image

from grit.errors import GritUserError
from grit.infer import infer
from grit.models.generate import Generator

BG = (128, 128, 128)
# Qwen2.5-VL frame of a 640x354 image under GRIT's pixel budget: resized to 588x308.
COMPLETION = (
    '<think>The cup is here {"bbox_2d": [100, 50, 300, 200], "label": "cup"} and a broken one [5, 6, 7]'
    ' and nothing at {"bbox_2d": [10, 10, 10, 40]}.</think><rethink>One cup.</rethink><answer>1</answer>'
)


@pytest.fixture()
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (640, 354), BG).save(path)
    return path


@pytest.mark.slow
def test_infer_end_to_end_writes_a_png_of_the_original_size(qwen25_dir, photo, tmp_path):  # noqa: F811
    png, page = tmp_path / "out" / "boxes.png", tmp_path / "out" / "chain.html"
    rec = infer(qwen25_dir, photo, "How many cups?", out_png=png, html=page, max_new_tokens=5)
    assert rec["written"] == {"png": str(png), "html": str(page)}
    with Image.open(png) as im:
        assert im.size == (640, 354)
    page_text = page.read_text()
    assert "grit-chain" in page_text and "data:image/png;base64," in page_text
    assert rec["image"] == {"path": str(photo), "width": 640, "height": 354}
    assert rec["family"] == "qwen2_5_vl" and rec["frame"] == {"kind": "resized", "extent": [588.0, 308.0]}
    assert rec["question"] == "How many cups?" and rec["prompt"].startswith("Question: How many cups?")
    assert rec["n_new_tokens"] <= 5 and isinstance(rec["completion"], str)
    json.dumps(rec)  # machine-readable as is


@pytest.mark.slow
def test_infer_maps_boxes_to_original_pixels_and_draws_them(qwen25_dir, photo, tmp_path, monkeypatch):  # noqa: F811
    real_generate = Generator.generate

    def known_completion(self, items, **kwargs):
        return [
            dataclasses.replace(r, text=COMPLETION)
            for r in real_generate(self, items, **{**kwargs, "max_new_tokens": 1})
        ]

    monkeypatch.setattr(Generator, "generate", known_completion)
    png = tmp_path / "boxes.png"
    rec = infer(qwen25_dir, photo, "How many cups?", out_png=png)
    assert (
        rec["think"].startswith("The cup is here") and rec["rethink"] == "One cup." and rec["answer"] == "1"
    )
    assert rec["strict_format"] is True
    valid = [b for b in rec["boxes"] if b["valid"]]
    assert len(valid) == 1
    cup = valid[0]
    assert cup["label"] == "cup" and cup["coords"] == [100, 50, 300, 200] and cup["frame"] == "resized"
    sx, sy = 640 / 588, 354 / 308
    assert cup["box"] == pytest.approx([100 * sx, 50 * sy, 300 * sx, 200 * sy], abs=0.01)
    start, end = cup["span"]
    assert COMPLETION[start:end] == "[100, 50, 300, 200]"
    invalid = [b for b in rec["boxes"] if not b["valid"]]
    assert invalid and all(b["error"] and b["box"] is None for b in invalid)

    with Image.open(png) as im:
        drawn = im.convert("RGB")
    x1, y1, x2, y2 = (round(v) for v in cup["box"])
    mid_y = (y1 + y2) // 2
    assert drawn.getpixel((x1, mid_y)) != BG  # left edge of the box is drawn
    assert drawn.getpixel((x2 - 1, mid_y)) != BG  # right edge
    assert drawn.getpixel(((x1 + x2) // 2, y2 - 1)) != BG  # bottom edge
    assert drawn.getpixel(((x1 + x2) // 2, mid_y)) == BG  # inside stays untouched
    assert drawn.getpixel((600, 330)) == BG  # far away stays untouched


def test_missing_or_unreadable_image_is_a_user_error(tmp_path):
    with pytest.raises(GritUserError, match="image not found"):
        infer(tmp_path / "model", tmp_path / "nope.jpg", "q")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\x00\x01 not a jpeg")
    with pytest.raises(GritUserError, match="cannot read the image"):
        infer(tmp_path / "model", bad, "q")


def test_unknown_model_or_family_is_a_user_error(photo, tmp_path, qwen25_dir):  # noqa: F811
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with pytest.raises(GritUserError, match=r"config\.json") as err:
        infer(empty, photo, "q")
    assert "\n" not in str(err.value)
    with pytest.raises(GritUserError, match="unknown model family"):
        infer(qwen25_dir, photo, "q", family="llava")
    with pytest.raises(GritUserError, match="question is empty"):
        infer(qwen25_dir, photo, "  ")


# One box over the right half of a 640x354 image, as each family writes it.
FAMILY_BOX = {
    "qwen2_5_vl": '{"bbox_2d": [294, 0, 588, 308], "label": "cup"}',  # resized frame: 588x308
    "qwen2_vl": '{"bbox_2d": [500, 0, 1000, 1000], "label": "cup"}',  # 0-1000
    "qwen3_vl": '{"bbox_2d": [500, 0, 1000, 1000], "label": "cup"}',  # 0-1000
    "internvl": "<ref>cup</ref><box>[[500, 0, 1000, 1000]]</box>",  # 0-1000
}


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILY_BOX))
def test_grit_infer_cli_for_every_family(family, tiny_model_dirs, photo, tmp_path, monkeypatch):  # noqa: F811
    """`grit infer` on each family's tiny model: the box written in the family's frame lands on the right half."""
    from typer.testing import CliRunner

    from grit.cli import app

    real_generate = Generator.generate
    text = f"<think>the cup {FAMILY_BOX[family]}</think><rethink>one</rethink><answer>1</answer>"

    def known_completion(self, items, **kwargs):
        return [
            dataclasses.replace(r, text=text)
            for r in real_generate(self, items, **{**kwargs, "max_new_tokens": 1})
        ]

    monkeypatch.setattr(Generator, "generate", known_completion)
    png = tmp_path / f"{family}.png"
    args = [
        "infer",
        "--model",
        str(tiny_model_dirs[family]),
        "--image",
        str(photo),
        "--question",
        "Where is the cup?",
        "--out-png",
        str(png),
        "--json",
    ]
    if family != "internvl":  # GRIT's Qwen budget (InternVL tiles instead)
        args += ["--max-pixels", str(256 * 28 * 28)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert rec["family"] == family and rec["strict_format"] is True
    (box,) = [b["box"] for b in rec["boxes"] if b["valid"]]
    assert box == pytest.approx([320, 0, 640, 354], abs=1.5)
    with Image.open(png) as im:
        drawn = im.convert("RGB")
    assert drawn.size == (640, 354)
    assert (
        drawn.getpixel((321, 177)) != BG
        and drawn.getpixel((480, 177)) == BG
        and drawn.getpixel((100, 177)) == BG
    )


@pytest.mark.slow
def test_shipped_shapes_base_answers_through_grit_infer(tmp_path):
    """The shipped base loads through the same entry point as any model and answers a shapes question."""
    from pathlib import Path

    from typer.testing import CliRunner

    from grit.cli import app
    from grit.data.shapes import generate_split
    from grit.demo import DEFAULT_BASE

    model = Path(__file__).resolve().parents[1] / DEFAULT_BASE
    assert (model / "config.json").is_file(), f"the shipped base is missing: {model}"
    path = generate_split(tmp_path, 1, seed=3, styles=["count"])["count"]
    rec = json.loads(path.read_text().splitlines()[0])
    png = tmp_path / "chain.png"
    args = ["infer", "--model", str(model), "--image", str(tmp_path / rec["image"])]
    args += ["--question", rec["question"], "--out-png", str(png), "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["family"] == "qwen2_5_vl" and out["completion"].strip()
    with Image.open(png) as im:
        assert im.size == (84, 84)
