"""Cross-modal correlation for real data: the judge sees the chain with the model's boxes and with random boxes
drawn, through the OpenAI-compatible judge with image input, against a local HTTP server."""

from __future__ import annotations

import base64
import io
import json
import random
from pathlib import Path

import pytest
from PIL import Image
from test_learning_curve import records_by_image
from test_llm_judge import FakeJudgeServer
from typer.testing import CliRunner

from grit.boxes import Box, Frame
from grit.data.shapes import generate_split
from grit.eval.correlation import CORRELATION, picture, random_boxes, region_text, score_correlation
from grit.eval.run import evaluate
from grit.judge import LLMJudge
from grit.judge.llm import parse_picture
from grit.models.generate import GenerationResult

HALF = Frame("resized", 84, 84, 42.0, 42.0)  # frame coordinates are half the pixels


def test_region_text_hides_coordinates_and_numbers_the_boxes():
    text = ('<think>2 red squares [{"bbox_2d": [1, 2, 11, 12], "label": "red square"}, '
            '{"bbox_2d": [15, 1, 25, 11], "label": "red square"}] and [3, 4]</think><answer>2</answer>')  # fmt: skip
    out, boxes = region_text(text, HALF)
    assert out == ('<think>2 red squares [{"bbox_2d": [region 1], "label": "red square"}, '
                   '{"bbox_2d": [region 2], "label": "red square"}] and [3, 4]</think><answer>2</answer>')  # fmt: skip
    assert [b.xyxy for b in boxes] == [[2, 4, 22, 24], [30, 2, 50, 22]]  # original pixels
    assert region_text("no boxes at all", None) == ("no boxes at all", [])


def test_random_boxes_keep_the_sizes_inside_the_image():
    boxes = [Box(0, 0, 20, 10), Box(5, 5, 200, 300)]
    a = random_boxes(boxes, 100, 80, random.Random(1))
    assert a == random_boxes(boxes, 100, 80, random.Random(1)) != random_boxes(boxes, 100, 80, random.Random(2))
    assert (a[0].width, a[0].height) == pytest.approx((20, 10)) and (a[1].width, a[1].height) == (100, 80)
    assert all(0 <= b.x1 <= b.x2 <= 100 and 0 <= b.y1 <= b.y2 <= 80 for b in a)


def test_pictures_are_pngs_a_judge_can_see():
    small = Image.open(io.BytesIO(picture(Image.new("RGB", (84, 84)), [Box(10, 10, 30, 30)])))
    big = Image.open(io.BytesIO(picture(Image.new("RGB", (3000, 1500)), [Box(10, 10, 300, 300)])))
    assert small.format == "PNG" and small.size == (336, 336) and big.size == (1024, 512)
    assert small.getpixel((40, 40)) != (0, 0, 0)  # the box outline, scaled with the image


def test_parse_picture():
    assert parse_picture('{"picture": 1}') == 0.0 and parse_picture('```json\n{"picture": "2"}\n```') == 1.0
    assert parse_picture('I choose {"picture": 2} since region 1 is the red square.') == 1.0
    for bad in ['{"picture": 3}', '{"picture": true}', 'picture 1', '{"picture": 1} {"picture": 2}']:
        with pytest.raises(ValueError):
            parse_picture(bad)


class BoxEveryObject:
    """Writes a chain boxing and naming every object of the image (a chain whose boxes match its words)."""

    def __init__(self, records: dict[str, dict]):
        self.records = records

    def generate(self, items, **kw):
        out = []
        for it in items:
            rec = self.records[Path(it["image"]).name]
            pairs = zip(rec["all_boxes"], rec["all_labels"], strict=True)
            objs = json.dumps([{"bbox_2d": [v / 2 for v in b], "label": name} for b, name in pairs])
            text = f"<think>I see {objs}.</think><rethink>ok</rethink><answer>{rec['answer']}</answer>"
            out.append(GenerationResult(text, "p", 1, 1, HALF, True))
        return out


@pytest.fixture
def shapes_eval(tmp_path):
    tests = generate_split(tmp_path / "data", 8, seed=4, styles=["count", "relation"])
    return [str(p) for p in tests.values()], records_by_image(tests)


def oracle(model_pictures: set[str]):
    """A judge that always recognises the model's picture (the data URL's PNG is one the test drew)."""

    def behaviour(user, n):
        urls = [part["image_url"]["url"] for part in user if part["type"] == "image_url"]
        pick = 1 if urls[0] in model_pictures else 2
        return 200, json.dumps({"picture": pick})

    return behaviour


def test_correlation_through_a_local_judge_server(tmp_path, shapes_eval):
    files, records = shapes_eval
    run = tmp_path / "run"
    evaluate(BoxEveryObject(records), files, run, progress=False, max_new_tokens=8)
    rows = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    with_boxes = [r for r in rows if r["pred_boxes"]]
    model_pictures = set()
    for r in with_boxes:
        boxes = [Box(*b) for b in r["pred_boxes"]]
        png = picture(Image.open(r["image_path"]).convert("RGB"), boxes)
        model_pictures.add("data:image/png;base64," + base64.b64encode(png).decode())

    cache = tmp_path / "judge.jsonl"
    with FakeJudgeServer(oracle(model_pictures)) as server:
        m = score_correlation(run, LLMJudge(server.url, "vision", cache_path=cache), seed=0)
    all_ = m["datasets"]["all"]
    assert all_["cross_modal_correlation"] == 1.0 and all_["n_correlation"] == len(with_boxes) > 8
    per_set = [m["datasets"][d]["n_correlation"] for d in ("shapes_count", "shapes_relation")]
    assert sum(per_set) == len(with_boxes) and min(per_set) > 0
    assert len(server.requests) == len(with_boxes)
    body = server.requests[0]["body"]
    assert body["model"] == "vision" and body["messages"][0]["role"] == "system"
    parts = body["messages"][1]["content"]
    assert [p["type"] for p in parts] == ["text", "text", "image_url", "text", "image_url", "text"]
    text = json.loads(parts[0]["text"].split(": ", 1)[1])
    assert "[region 1]" in text and not any(f"{v / 2}" in text for v in with_boxes[0]["all_boxes"][0])
    png = base64.b64decode(parts[2]["image_url"]["url"].split(",", 1)[1])
    assert Image.open(io.BytesIO(png)).size == (336, 336)
    verdicts = [json.loads(line) for line in (run / CORRELATION).read_text().splitlines()]
    firsts = sum(v["model_first"] for v in verdicts)
    assert 0 < firsts < len(verdicts)  # the order of the two pictures is drawn, not fixed

    # A judge that always says "picture 1" is right exactly when the model's picture came first; a rerun asks
    # nothing again (same random boxes and order from the seed, verdicts from the cache).
    with FakeJudgeServer(lambda user, n: (200, '{"picture": 1}')) as server:
        m = score_correlation(run, LLMJudge(server.url, "first"), seed=0)
        assert m["datasets"]["all"]["cross_modal_correlation"] == pytest.approx(firsts / len(verdicts))
    with FakeJudgeServer(lambda user, n: (500, "down")) as server:
        again = score_correlation(run, LLMJudge(server.url, "vision", cache_path=cache), seed=0)
        assert server.requests == [] and again["datasets"]["all"]["cross_modal_correlation"] == 1.0
    assert json.loads((run / "metrics.json").read_text())["datasets"]["all"]["cross_modal_correlation"] == 1.0


def test_grit_eval_correlation_flags(tmp_path, shapes_eval, monkeypatch):
    import grit.eval.run
    from grit.cli import app

    files, records = shapes_eval
    real = grit.eval.run.evaluate
    monkeypatch.setattr(grit.eval.run, "evaluate", lambda model, *a, **k: real(BoxEveryObject(records), *a, **k))
    args = ["eval", "--model", "m", "--data", ",".join(files), "--out", str(tmp_path / "o")]
    res = CliRunner().invoke(app, [*args, "--correlation-judge-url", "http://127.0.0.1:9"])
    assert res.exit_code != 0 and "--correlation-judge-model is required" in res.output
    with FakeJudgeServer(lambda user, n: (200, '{"picture": 2}')) as server:
        res = CliRunner().invoke(
            app, [*args, "--correlation-judge-url", server.url, "--correlation-judge-model", "v",
                  "--correlation-limit", "3"],
        )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "the judge picked the model's boxes in" in res.output and "of 3 chains" in res.output
    assert len(server.requests) == 3
