"""grit.eval.run: scoring hand-made predictions against hand-computed numbers, resumable evaluation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from grit.boxes import Frame
from grit.data.schema import GritDataError
from grit.eval.predictions import PredictionsError, read_predictions
from grit.eval.run import evaluate
from grit.eval.samples import load_samples
from grit.eval.score import score_predictions

PIX100 = {"kind": "pixels", "image_width": 100, "image_height": 100, "extent_x": 100.0, "extent_y": 100.0}
# Qwen-style resized frame at half the original size: frame coordinates are doubled to reach pixels.
HALF100 = {"kind": "resized", "image_width": 100, "image_height": 100, "extent_x": 50.0, "extent_y": 50.0}


def row(key: str, dataset: str, answer: str, completion: str, bboxs=(), frame=PIX100, **extra) -> dict:
    return {"key": key, "dataset": dataset, "question": f"q {key}?", "answer": answer, "image": f"{key}.png",
            "width": 100, "height": 100, "bboxs": [list(b) for b in bboxs], "completion": completion,
            "frame": frame, **extra}  # fmt: skip


def chain(think: str, answer: str) -> str:
    return f"<think>{think}</think><rethink>checked</rethink><answer>{answer}</answer>"


HAND_ROWS = [
    # tallyqa (counting). A: two boxes written in the half-size frame -> exactly the gt in pixels: GIoU 1,
    # matched 1, correct, grounded format, 2 boxes = answer 2 -> counted ok.
    row("t/a", "tallyqa", "2", chain("cups [0, 0, 5, 5] and [10, 0, 15, 5]", "2"),
        [[0, 0, 10, 10], [20, 0, 30, 10]], HALF100),
    # B: one box twice the gt's area (GIoU 100/200 = 0.5), correct answer, 1 box != 3 -> counted wrong.
    row("t/b", "tallyqa", "3", chain("one cup [0, 0, 10, 20]", "3"), [[0, 0, 10, 10]],
        all_boxes=[[0, 0, 10, 10], [0, 0, 20, 20]]),
    # C: no tags, no box, wrong answer: GIoU 0, format no, counted wrong.
    row("t/c", "tallyqa", "1", "I think 4", [[50, 50, 60, 60]]),
    # MME: image a has both questions right, image b only one -> acc 3/4, acc+ 1/2, score 125.
    row("m/1", "mme", "Yes", chain("a dog", "Yes"), group="count/a.jpg", question_type="count"),
    row("m/2", "mme", "No", chain("a dog", "No"), group="count/a.jpg", question_type="count"),
    row("m/3", "mme", "Yes", chain("a cat", "Yes"), group="count/b.jpg", question_type="count"),
    row("m/4", "mme", "No", chain("a cat", "Yes"), group="count/b.jpg", question_type="count"),
]  # fmt: skip


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_score_predictions_hand_computed(tmp_path):
    m = score_predictions(write_rows(tmp_path / "p.jsonl", HAND_ROWS))
    t = m["datasets"]["tallyqa"]
    assert t["n"] == 3
    assert t["acc"] == pytest.approx(2 / 3)
    assert t["giou"] == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    assert t["matched_iou"] == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    assert t["format_rate"] == pytest.approx(2 / 3)
    assert t["counted_box_acc"] == pytest.approx(1 / 3)
    assert t["mean_boxes"] == pytest.approx(1.0)
    assert t["whole_image_iou"] == pytest.approx(0.25)  # all objects [0,0,20,20] vs gt [0,0,10,10]
    assert t["n_whole_image"] == 1
    assert t["answers_pred"] == [["2", 1], ["3", 1], ["i think 4", 1]]

    mme = m["datasets"]["mme"]
    assert mme["acc"] == pytest.approx(0.75)
    assert mme["acc_plus"] == pytest.approx(0.5)
    assert mme["giou"] is None and mme["n_giou"] == 0
    assert mme["mme_official"]["acc"] == pytest.approx(0.75)
    assert mme["mme_official"]["acc_plus"] == pytest.approx(0.5)
    assert mme["mme_official"]["score"] == pytest.approx(125.0)
    assert mme["answers_pred"] == [["yes", 3], ["no", 1]]

    assert m["datasets"]["all"]["n"] == 7
    assert m["datasets"]["all"]["acc"] == pytest.approx(5 / 7)
    assert m["judge"] == "rule"


def test_score_predictions_mathvista_official(tmp_path):
    mc = {"question_type": "multi_choice", "answer_type": "text", "choices": ["3", "4"], "precision": None}
    ints = {"question_type": "free_form", "answer_type": "integer", "choices": None, "precision": None}
    rows = [
        row("v/1", "mathvista", "4", chain("two pairs", "(B)"), **mc),
        row("v/2", "mathvista", "7", chain("count", "The answer is 6.9"), **ints),  # official truncation: 6
    ]
    m = score_predictions(write_rows(tmp_path / "p.jsonl", rows))["datasets"]["mathvista"]
    assert m["mathvista_official"]["correct"] == 1
    assert m["mathvista_official"]["total"] == 2
    assert m["mathvista_official"]["accuracy"] == pytest.approx(0.5)


def test_score_predictions_judges(tmp_path):
    # Stored verdicts of another judge are kept unless a judge is given.
    rows = [dict(HAND_ROWS[2], correct=True, judge="llm:gpt-4o")]
    path = write_rows(tmp_path / "p.jsonl", rows)
    kept = score_predictions(path)
    assert kept["datasets"]["tallyqa"]["acc"] == 1.0 and kept["judge"] == "llm:gpt-4o"

    def never(pred, answer, **_):
        return False

    rejudged = score_predictions(path, judge=never, write=tmp_path / "m.json")
    assert rejudged["datasets"]["tallyqa"]["acc"] == 0.0 and rejudged["judge"] == "never"
    assert json.loads((tmp_path / "m.json").read_text())["judge"] == "never"


class GradedJudge:
    """Like the LLM judge: a raw 0–1 ``score`` and a verdict that is ``score > 0``."""

    def score(self, pred, answer, question=None, **_):
        return {"2": 0.5, "3": 1.0}.get(pred, 0.0)  # tallyqa A answers 2, B answers 3, C "I think 4"

    def __call__(self, pred, answer, **kw):
        return self.score(pred, answer, **kw) > 0


def test_judge_score_is_the_mean_raw_score_beside_acc(tmp_path):
    """ACC counts verdicts (score > 0), judge_score averages the raw score as the paper's Table 1 does."""
    path = write_rows(tmp_path / "p.jsonl", HAND_ROWS[:3])
    t = score_predictions(path, judge=GradedJudge())["datasets"]["tallyqa"]
    assert t["acc"] == pytest.approx(2 / 3)
    assert t["judge_score"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    rule = score_predictions(path)["datasets"]["tallyqa"]  # the rule judge's score is its verdict
    assert rule["judge_score"] == rule["acc"]
    # Stored raw scores are kept when rescoring without a judge.
    rows = [dict(r, correct=True, judge_score=0.25, judge="llm:x") for r in HAND_ROWS[:2]]
    kept = score_predictions(write_rows(tmp_path / "k.jsonl", rows))["datasets"]["tallyqa"]
    assert (kept["acc"], kept["judge_score"]) == (1.0, 0.25)


def test_read_predictions_partial_last_line_and_errors(tmp_path):
    path = write_rows(tmp_path / "p.jsonl", HAND_ROWS[:2])
    with open(path, "a") as f:
        f.write('{"key": "t/c", "compl')  # a run killed mid-write
    assert [r["key"] for r in read_predictions(path)] == ["t/a", "t/b"]
    assert path.read_text().endswith('"compl')  # reading alone does not modify the file
    read_predictions(path, repair=True)
    assert path.read_text().count("\n") == 2 and path.read_text().endswith("\n")

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(HAND_ROWS[0]) + "\n{oops\n" + json.dumps(HAND_ROWS[1]) + "\n")
    with pytest.raises(PredictionsError, match=r"bad.jsonl:2: invalid JSON"):
        read_predictions(bad)
    dup = write_rows(tmp_path / "dup.jsonl", [HAND_ROWS[0], HAND_ROWS[0]])
    with pytest.raises(PredictionsError, match=r"dup.jsonl:2: field 'key'.*line 1"):
        read_predictions(dup)
    with pytest.raises(PredictionsError, match="field 'completion'"):
        score_predictions(write_rows(tmp_path / "nc.jsonl", [{"key": "x", "answer": "1"}]))


# ------------------------------------------------------------------------------------ evaluate, fake model


def make_set(root: Path, name: str, n: int, size: int = 40, ids: bool = True) -> Path:
    """``n`` records of one small PNG each; the answer is the index, the gt box the left half."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        Image.new("RGB", (size, size), (i * 20 % 255, 80, 160)).save(root / "img" / f"{name}{i}.png")
        rec = {"question": f"How many things in {name} {i}?", "answer": str(i), "image": f"img/{name}{i}.png",
               "width": size, "height": size, "bboxs": [[0, 0, size // 2, size]], "dataset": name}  # fmt: skip
        if ids:
            rec["id"] = i
        lines.append(json.dumps(rec))
    path = root / f"{name}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Result:
    text: str
    frame: Frame
    prompt: str = ""
    n_prompt_tokens: int = 10
    n_new_tokens: int = 5
    finished: bool = True


class FakeGenerator:
    """Answers every question correctly with the left-half box; can fail on a given call like a killed run."""

    name = "fake"

    def __init__(self, fail_on_call: int | None = None):
        self.calls: list[list[str]] = []
        self.fail_on_call = fail_on_call

    def generate(self, items, *, batch_size, max_new_tokens, temperature, seed, prompt_style):
        self.calls.append([it["question"] for it in items])
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise KeyboardInterrupt("killed")
        out = []
        for it in items:
            w, h = Image.open(it["image"]).size
            n = it["question"].split()[-1].rstrip("?")
            out.append(Result(chain(f"[0, 0, {w // 2}, {h}]", n), Frame.pixels(w, h)))
        return out


def test_evaluate_fake_generator_resume(tmp_path):
    data = [make_set(tmp_path, "alpha", 5), make_set(tmp_path, "beta", 3, ids=False)]
    out = tmp_path / "ev"
    with pytest.raises(KeyboardInterrupt):
        evaluate(FakeGenerator(fail_on_call=2), data, out, batch_size=3, progress=False)
    first = read_predictions(out / "predictions.jsonl")
    assert len(first) == 3  # the first batch was written before the "kill"
    with open(out / "predictions.jsonl", "a") as f:
        f.write('{"key": "alpha/4", "completion": "<thi')  # and a cut line from a kill mid-write

    gen = FakeGenerator()
    m = evaluate(gen, data, out, batch_size=3, progress=False)
    assert sum(len(c) for c in gen.calls) == 5  # only the unfinished samples were generated
    done_questions = {r["question"] for r in first}
    assert not done_questions & {q for c in gen.calls for q in c}
    rows = read_predictions(out / "predictions.jsonl")
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)) == 8
    assert {"alpha/0", "alpha/4", "beta.jsonl:1", "beta.jsonl:3"} <= set(keys)
    assert m["datasets"]["all"]["acc"] == 1.0 and m["datasets"]["all"]["giou"] == 1.0
    assert m["datasets"]["alpha"]["n"] == 5 and m["datasets"]["beta"]["n"] == 3
    assert m["run"]["n_generated"] == 5 and m["run"]["n_resumed"] == 3
    assert json.loads((out / "metrics.json").read_text())["datasets"]["all"]["n"] == 8
    r0 = next(r for r in rows if r["key"] == "alpha/0")
    assert r0["pred_boxes"] == [[0, 0, 20, 40]] and r0["frame"]["kind"] == "pixels"
    assert r0["source"].endswith("alpha.jsonl:1") and r0["strict_format"] is True

    # Nothing left to do: a third run generates nothing and gives the same metrics.
    gen3 = FakeGenerator()
    again = evaluate(gen3, data, out, batch_size=3, progress=False)
    assert gen3.calls == [] and again["datasets"] == m["datasets"]
    # Resuming with other generation settings would mix two runs in one file.
    with pytest.raises(ValueError, match="max_new_tokens"):
        evaluate(FakeGenerator(), data, out, max_new_tokens=7, progress=False)


def test_evaluate_limit_judge_and_input_errors(tmp_path):
    data = make_set(tmp_path, "alpha", 5)
    m = evaluate(
        FakeGenerator(), [data], tmp_path / "ev", limit=2, judge=lambda p, a, **_: False, progress=False
    )
    assert m["datasets"]["all"]["n"] == 2 and m["datasets"]["all"]["acc"] == 0.0
    assert m["judge"] == "<lambda>"

    (tmp_path / "img" / "alpha3.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"alpha.jsonl:4: field 'image'"):
        evaluate(FakeGenerator(), [data], tmp_path / "ev2", progress=False)

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "a", "image": "x.png", "width": 10}\n')
    with pytest.raises(GritDataError, match=r"bad.jsonl:1: field 'height'"):
        evaluate(FakeGenerator(), [bad], tmp_path / "ev3", progress=False)

    dup = tmp_path / "dup.jsonl"
    dup.write_text(data.read_text().splitlines()[0] + "\n" + data.read_text().splitlines()[0] + "\n")
    with pytest.raises(ValueError, match=r"dup.jsonl:2: sample key 'alpha/0'"):
        load_samples([dup])


# ------------------------------------------------------------------------------------ evaluate, tiny model


@pytest.mark.slow
def test_evaluate_tiny_model_kill_and_resume(tmp_path, monkeypatch):
    from grit.data.shapes import generate_split
    from grit.models.generate import Generator
    from grit.models.loading import load_model
    from grit.models.tiny import build_tiny

    build_tiny("qwen2_5_vl", tmp_path / "m")
    paths = generate_split(tmp_path / "data", n_per_style=3, seed=0, styles=["count", "relation"])
    data = [str(p) for p in paths.values()]
    model = load_model(tmp_path / "m")
    out = tmp_path / "ev"

    real = Generator.generate
    calls: list[int] = []

    def killed_after_first_batch(self, items, **kw):
        calls.append(len(items))
        if len(calls) == 2:
            raise RuntimeError("simulated kill")
        return real(self, items, **kw)

    monkeypatch.setattr(Generator, "generate", killed_after_first_batch)
    with pytest.raises(RuntimeError, match="simulated kill"):
        evaluate(model, data, out, batch_size=2, max_new_tokens=6, progress=False)
    assert len(read_predictions(out / "predictions.jsonl")) == 2
    with open(out / "predictions.jsonl", "a") as f:
        f.write('{"key": "shapes_count/images/test_count_0')

    calls.clear()
    monkeypatch.setattr(
        Generator, "generate", lambda self, items, **kw: calls.append(len(items)) or real(self, items, **kw)
    )
    m = evaluate(model, data, out, batch_size=2, max_new_tokens=6, progress=True)
    assert sum(calls) == 4  # the 2 finished samples were not generated again
    rows = read_predictions(out / "predictions.jsonl")
    assert sorted(r["key"] for r in rows) == sorted({r["key"] for r in rows}) and len(rows) == 6
    assert all(r["frame"]["kind"] == "resized" and r["n_new_tokens"] >= 1 for r in rows)
    assert set(m["datasets"]) == {"shapes_count", "shapes_relation", "all"}
    assert m["datasets"]["all"]["n"] == 6
    assert m["datasets"]["shapes_relation"]["whole_image_iou"] is not None  # shapes records carry all_boxes
    assert m["run"]["samples_per_s"] > 0


def test_image_size_mismatch_is_caught_before_generation(tmp_path):
    """A record whose width/height disagree with its image would silently skew GIoU: refuse it."""
    from PIL import Image


    Image.new("RGB", (320, 240)).save(tmp_path / "a.png")
    rec = {
        "question": "q",
        "answer": "a",
        "image": "a.png",
        "width": 640,
        "height": 480,
        "bboxs": [[0, 0, 10, 10]],
    }
    (tmp_path / "d.jsonl").write_text(json.dumps(rec) + "\n")
    with pytest.raises(ValueError, match=r"d.jsonl:1: field 'width'/'height'.*640x480.*320x240"):
        evaluate(object(), [tmp_path / "d.jsonl"], tmp_path / "out", progress=False)
    (tmp_path / "a.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"d.jsonl:1: field 'image': cannot read"):
        evaluate(object(), [tmp_path / "d.jsonl"], tmp_path / "out2", progress=False)


def test_hand_made_predictions_with_bad_fields_fail_clearly(tmp_path):

    row = {
        "key": "k1",
        "question": "q",
        "answer": "a",
        "completion": "<answer>a",
        "frame": {"kind": "pixels"},
    }
    (tmp_path / "p.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(PredictionsError, match="k1: field 'frame'"):
        score_predictions(tmp_path / "p.jsonl")
    del row["question"], row["frame"]
    (tmp_path / "p.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(PredictionsError, match="k1: field 'question'"):
        score_predictions(tmp_path / "p.jsonl")


def test_a_failing_judge_keeps_the_generated_completions(tmp_path):
    """The LLM judge gives up mid-run: completions are written (judge "pending") and judged on the rerun."""
    from PIL import Image

    from grit.models.generate import GenerationResult

    class FakeGen:
        calls = 0

        def generate(self, items, **kw):
            FakeGen.calls += 1
            return [
                GenerationResult("<think>a b</think><rethink>r</rethink><answer>yes", "p", 1, 1, None, True)
                for _ in items
            ]

    Image.new("RGB", (10, 10)).save(tmp_path / "a.png")
    recs = [
        {"id": i, "question": "q", "answer": "yes", "image": "a.png", "width": 10, "height": 10}
        for i in range(2)
    ]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))

    def down(*a, **k):
        raise RuntimeError("judge endpoint down")

    with pytest.raises(RuntimeError, match="endpoint down"):
        evaluate(FakeGen(), [tmp_path / "d.jsonl"], tmp_path / "out", judge=down, progress=False)
    rows = read_predictions(tmp_path / "out" / "predictions.jsonl")
    assert len(rows) == 2 and {r["judge"] for r in rows} == {"pending"}

    def up(pred, gold, **k):
        return pred == gold

    m = evaluate(FakeGen(), [tmp_path / "d.jsonl"], tmp_path / "out", judge=up, progress=False)
    assert FakeGen.calls == 1  # nothing generated again
    assert m["datasets"]["all"]["acc"] == 1.0


def test_on_object_rate_counts_chain_boxes_on_any_object():
    from grit.eval.scorers.default import on_object_rate

    rows = [
        # on an object (IoU 1), on nothing, on the second object (IoU 81/119)
        {"all_boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "pred_boxes": [[0, 0, 10, 10], [50, 50, 60, 60], [21, 21, 31, 31]]},
        {"all_boxes": [], "pred_boxes": [[0, 0, 5, 5]]},  # an empty scene: every box is off-object
        {"pred_boxes": [[0, 0, 5, 5]]},  # no object list (not a shapes record): not counted
        {"all_boxes": [[0, 0, 10, 10]], "pred_boxes": []},
    ]  # fmt: skip
    assert on_object_rate(rows) == (pytest.approx(2 / 4), 4)
    assert on_object_rate(rows[2:]) == (None, 0)


@pytest.mark.slow
def test_training_eval_callback_reports_what_grit_eval_reports(tmp_path):
    """The in-training evaluation goes through eval's loading, generation and scoring: same numbers."""
    from types import SimpleNamespace

    from grit.data.shapes import generate_split
    from grit.models.loading import load_model
    from grit.models.tiny import build_tiny
    from grit.train.trainer import GroundedEvalCallback

    build_tiny("qwen2_5_vl", tmp_path / "m")
    data = [str(p) for p in generate_split(tmp_path / "data", n_per_style=2, seed=1, styles=["count"]).values()]
    model, processor, family = load_model(tmp_path / "m")
    cfg = SimpleNamespace(eval_data=data, image_root=None, eval_limit=3, eval_max_new_tokens=8, prompt="grit")
    logged = GroundedEvalCallback(cfg, family, processor).run(model)
    m = evaluate((model, processor, family), data, tmp_path / "ev", limit=3, max_new_tokens=8, batch_size=16,
                 progress=False)  # fmt: skip
    assert set(logged) >= {"eval_shapes_count/acc", "eval_all/format_rate"}
    for name in ("shapes_count", "all"):
        for k in ("acc", "giou", "format_rate", "mean_boxes"):
            assert logged[f"eval_{name}/{k}"] == pytest.approx(m["datasets"][name][k]), (name, k)


def test_cli_answers_bad_eval_input_in_one_line(tmp_path):
    """Records that disagree with their images, and a broken metrics file: one ``error:`` line, no traceback."""
    from typer.testing import CliRunner

    from grit.cli import app

    Image.new("RGB", (32, 24)).save(tmp_path / "a.png")
    rec = {"question": "q", "answer": "a", "image": "a.png", "width": 64, "height": 48}
    write_rows(tmp_path / "d.jsonl", [rec])
    (tmp_path / "ev").mkdir()
    write_rows(tmp_path / "ev" / "predictions.jsonl", HAND_ROWS[:1])
    (tmp_path / "ev" / "metrics.json").write_text("{oops")
    for args, where in [
        (["eval", "--model", "m", "--data", tmp_path / "d.jsonl", "--out", tmp_path / "o"], "d.jsonl:1: field 'width'"),
        (["report", tmp_path / "ev", "--out", tmp_path / "rep"], "metrics.json: invalid JSON"),
    ]:
        result = CliRunner().invoke(app, [str(a) for a in args])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and where in lines[0], result.stderr
