"""Grounding IoU, matched IoU, per-sample scoring and aggregation.

GIoU is checked against independent implementations: hand computation, a numpy raster of the boxes on an
integer grid, scipy's Hungarian solver for matched IoU and (when installed) pycocotools' box IoU.
"""

import json

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from grit.boxes import Box, Frame
from grit.metrics import aggregate, grounding_iou, is_counting, matched_grounding_iou, score_sample
from grit.rewards import grounded_target_counting

# ------------------------------------------------------------------------------------------ hand cases


def test_worked_example_from_docstring():
    pred = [[0, 0, 2, 2], [1, 0, 3, 2]]
    gt = [[1, 0, 4, 2]]
    # union(pred) = x 0..3 × y 0..2 = 6; gt = 6; shared x 1..3 × y 0..2 = 4; union of regions = 6 + 6 - 4 = 8
    assert grounding_iou(pred, gt) == 4 / 8
    # matched: [1,0,3,2] ↔ gt with IoU 4/6, [0,0,2,2] unmatched → (4/6) / 2
    assert matched_grounding_iou(pred, gt) == pytest.approx((4 / 6) / 2)


@pytest.mark.parametrize(
    ("pred", "gt", "giou", "miou"),
    [
        ([[0, 0, 10, 10]], [[0, 0, 10, 10]], 1.0, 1.0),
        ([[0, 0, 10, 10]], [[20, 20, 30, 30]], 0.0, 0.0),
        ([], [[0, 0, 10, 10]], 0.0, 0.0),
        ([[0, 0, 10, 10]], [[0, 0, 5, 10]], 0.5, 0.5),
        # two gt boxes, one prediction covering exactly both: the union measure is perfect, matching is not
        ([[0, 0, 20, 10]], [[0, 0, 10, 10], [10, 0, 20, 10]], 1.0, (100 / 200) / 2),
        # two predictions exactly on two gt boxes
        ([[0, 0, 10, 10], [10, 0, 20, 10]], [[0, 0, 10, 10], [10, 0, 20, 10]], 1.0, 1.0),
        # duplicated prediction: union unchanged, matching pays for the extra box
        ([[0, 0, 10, 10], [0, 0, 10, 10]], [[0, 0, 10, 10]], 1.0, 0.5),
        # reversed corners are the same box
        ([[10, 10, 0, 0]], [[0, 0, 10, 10]], 1.0, 1.0),
    ],
)
def test_hand_cases(pred, gt, giou, miou):
    assert grounding_iou(pred, gt) == pytest.approx(giou)
    assert matched_grounding_iou(pred, gt) == pytest.approx(miou)
    boxes = [Box(min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)) for x1, y1, x2, y2 in pred]
    assert grounding_iou(boxes, gt) == pytest.approx(giou)  # Box objects work too


# ------------------------------------------------------------------------------------ independent checks


def random_int_boxes(rng, n, size=24):
    xy = rng.integers(0, size, size=(n, 4))
    boxes = []
    for x1, y1, x2, y2 in xy:
        x1, x2 = sorted((int(x1), int(x2)))
        y1, y2 = sorted((int(y1), int(y2)))
        boxes.append([x1, y1, x2 + 1, y2 + 1])  # at least one cell
    return boxes


def raster(boxes, size=26):
    mask = np.zeros((size, size), dtype=bool)
    for x1, y1, x2, y2 in boxes:
        mask[y1:y2, x1:x2] = True
    return mask


def test_union_iou_matches_numpy_raster():
    rng = np.random.default_rng(0)
    for _ in range(300):
        pred = random_int_boxes(rng, int(rng.integers(1, 5)))
        gt = random_int_boxes(rng, int(rng.integers(1, 4)))
        a, b = raster(pred), raster(gt)
        expected = (a & b).sum() / (a | b).sum()
        assert grounding_iou(pred, gt) == pytest.approx(expected, abs=1e-12), (pred, gt)


def iou_matrix(a, b):
    a, b = np.asarray(a, float)[:, None, :], np.asarray(b, float)[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / (area_a + area_b - inter)


def test_matched_iou_matches_scipy_hungarian():
    rng = np.random.default_rng(1)
    for _ in range(300):
        n, m = int(rng.integers(1, 7)), int(rng.integers(1, 7))
        pred = [sorted_box(rng.uniform(0, 100, 4)) for _ in range(n)]
        gt = [sorted_box(rng.uniform(0, 100, 4)) for _ in range(m)]
        ious = iou_matrix(pred, gt)
        rows, cols = linear_sum_assignment(ious, maximize=True)
        expected = ious[rows, cols].sum() / max(n, m)
        assert matched_grounding_iou(pred, gt) == pytest.approx(expected, abs=1e-9)


def sorted_box(v):
    return [min(v[0], v[2]), min(v[1], v[3]), max(v[0], v[2]) + 1e-3, max(v[1], v[3]) + 1e-3]


def test_single_box_iou_matches_pycocotools():
    mask_utils = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(2)
    for _ in range(200):
        a, b = sorted_box(rng.uniform(0, 50, 4)), sorted_box(rng.uniform(0, 50, 4))
        xywh = lambda q: [q[0], q[1], q[2] - q[0], q[3] - q[1]]  # noqa: E731
        coco = mask_utils.iou(np.array([xywh(a)]), np.array([xywh(b)]), [0])[0][0]
        assert grounding_iou([a], [b]) == pytest.approx(coco, abs=1e-9)


# --------------------------------------------------------------------------------------- score_sample


def completion(think: str, answer: str) -> str:
    return f"<think>{think}</think>\n<rethink>The boxes look right.</rethink>\n<answer>{answer}</answer>"


def qbox(x1, y1, x2, y2, label="obj"):
    return json.dumps({"bbox_2d": [x1, y1, x2, y2], "label": label})


KEYS = {
    "dataset", "correct", "giou", "matched_iou", "strict_format", "tags_ok", "n_boxes", "counted_ok",
    "answer_pred", "completion_chars",
}  # fmt: skip


def test_score_sample_maps_boxes_through_the_frame():
    # 200x100 image, model writes 0-1000 coordinates: [0, 0, 500, 1000] is the left half = pixels [0, 0, 100, 100]
    rec = {"question": "What is on the left?", "answer": "dog", "bboxs": [[0, 0, 100, 100]], "dataset": "vsr"}
    text = completion(f"The dog {qbox(0, 0, 500, 1000, 'dog')} is on the left.", "dog")
    r = score_sample(text, rec, Frame.norm1000(200, 100))
    assert set(r) == KEYS
    assert r["correct"] is True and r["answer_pred"] == "dog"
    assert r["giou"] == pytest.approx(1.0) and r["matched_iou"] == pytest.approx(1.0)
    assert (r["strict_format"], r["tags_ok"], r["n_boxes"], r["counted_ok"]) == (True, True, 1, None)
    assert r["completion_chars"] == len(text) and r["dataset"] == "vsr"
    # without a frame the same numbers are read as original pixels
    r_px = score_sample(text, rec, None)
    assert r_px["giou"] == pytest.approx(100 * 100 / (500 * 1000))


def test_score_sample_qwen_resized_frame():
    # 1000x500 image → Qwen resizes to 1008x504; [0, 0, 504, 252] there is [0, 0, 500, 250] in the original
    frame = Frame.qwen_resized(1000, 500)
    assert (frame.extent_x, frame.extent_y) == (1008.0, 504.0)
    rec = {"question": "q", "answer": "cat", "bboxs": [[0, 0, 500, 500]], "dataset": "gqa"}
    r = score_sample(completion(f"cat {qbox(0, 0, 504, 252)}", "cat"), rec, frame)
    assert r["giou"] == pytest.approx(0.5)


def test_score_sample_counting_and_missing_parts():
    rec = {
        "question": "How many dogs?",
        "answer": "2",
        "bboxs": [[0, 0, 10, 10], [20, 0, 30, 10]],
        "dataset": "tallyqa",
    }
    two = completion(f"dog {qbox(0, 0, 10, 10)} and dog {qbox(20, 0, 30, 10)}", "2")
    r = score_sample(two, rec)
    assert (r["correct"], r["counted_ok"], r["n_boxes"], r["giou"], r["matched_iou"]) == (
        True,
        True,
        2,
        1.0,
        1.0,
    )
    one = completion(f"dogs {qbox(0, 0, 30, 10)}", "2")
    r = score_sample(one, rec)
    assert r["counted_ok"] is False and r["correct"] is True
    assert r["giou"] == pytest.approx(200 / 300)
    assert r["matched_iou"] == pytest.approx((100 / 300) / 2)
    # no tags at all: a direct answer has no grounded chain → GIoU 0, format fails
    r = score_sample("2", rec)
    assert (r["correct"], r["tags_ok"], r["strict_format"], r["n_boxes"], r["giou"]) == (
        True,
        False,
        False,
        0,
        0.0,
    )
    # tags but no box: tags_ok without strict format
    r = score_sample(completion("two dogs", "3"), {"question": "q", "answer": "yes", "dataset": "mme"})
    assert (r["correct"], r["tags_ok"], r["strict_format"], r["giou"], r["matched_iou"], r["counted_ok"]) == (
        False, True, False, None, None, None,
    )  # fmt: skip


def test_is_counting():
    assert is_counting({"dataset": "tallyqa", "answer": "3"})
    assert not is_counting({"dataset": "tallyqa", "answer": "many"})
    assert not is_counting({"dataset": "vsr", "answer": "3"})
    assert is_counting({"dataset": "shapes", "answer": 4, "counting": True})
    # the same rule as the counting reward: any counting-set tag, or "how many" without a tag
    assert is_counting({"dataset": "shapes_count", "answer": "2"})
    assert is_counting({"question": "How many cats?", "answer": "2"})
    assert not is_counting({"dataset": "mme_count", "answer": "yes"})


@pytest.mark.parametrize(
    ("answer", "counting", "counted_ok"),
    [("2", True, True), ("two", True, True), ("2 cups", True, True), ("2.0", True, True), (" 02 ", True, True),
     ("3", True, False), ("-2", False, None), ("2.5", False, None), ("many", False, None), ("", False, None)],
)  # fmt: skip
def test_counting_metric_reads_a_stated_count_as_the_reward_does(answer, counting, counted_ok):
    """One counting rule (grit.judge.rule.stated_count): number words count, as in the counting reward."""
    record = {"dataset": "tallyqa", "answer": answer, "question": "How many cups?"}
    text = '<think> {"bbox_2d": [1, 1, 9, 9]} {"bbox_2d": [20, 20, 30, 30]} </think><rethink>r</rethink><answer>2'
    assert is_counting(record) is counting
    assert score_sample(text, record)["counted_ok"] is counted_ok
    reward = grounded_target_counting([text], answer=[answer], dataset=["tallyqa"])
    assert reward == [1.0 if counted_ok else 0.0]


def test_score_sample_passes_record_fields_to_the_judge():
    seen = {}

    def judge(prediction, answer, **kw):
        seen.update(prediction=prediction, answer=answer, **kw)
        return True

    rec = {
        "question": "Which?",
        "answer": "28cm",
        "choices": ["14cm", "28cm"],
        "answer_type": "text",
        "dataset": "mathvista",
    }
    r = score_sample(completion("look", " (B) "), rec, judge=judge)
    assert r["correct"] is True
    assert seen == {
        "prediction": "(B)",
        "answer": "28cm",
        "question": "Which?",
        "choices": ["14cm", "28cm"],
        "answer_type": "text",
    }
    # the default rule judge uses the choices too
    assert score_sample(completion("look", "(B)"), rec)["correct"] is True


# ------------------------------------------------------------------------------------------ aggregate


def row(dataset, correct, giou, strict, tags, n_boxes, counted, chars):
    return {
        "dataset": dataset, "correct": correct, "giou": giou, "matched_iou": None if giou is None else giou / 2,
        "strict_format": strict, "tags_ok": tags, "n_boxes": n_boxes, "counted_ok": counted,
        "answer_pred": "", "completion_chars": chars,
    }  # fmt: skip


def test_aggregate_known_numbers():
    results = [
        row("vsr", True, 0.5, True, True, 1, None, 100),
        row("vsr", False, 0.0, False, True, 0, None, 50),
        row("tallyqa", True, 1.0, True, True, 2, True, 200),
        row("tallyqa", True, 0.25, True, True, 3, False, 300),
        row("tallyqa", False, 0.75, False, False, 1, True, 100),
        row("mme", True, None, True, True, 1, None, 50),
    ]
    out = aggregate(results)
    assert set(out) == {"vsr", "tallyqa", "mme", "all"}
    vsr = out["vsr"]
    assert (vsr["n"], vsr["acc"], vsr["giou"], vsr["n_giou"], vsr["matched_iou"]) == (2, 0.5, 0.25, 2, 0.125)
    assert (vsr["format_rate"], vsr["tags_rate"], vsr["mean_boxes"], vsr["mean_completion_chars"]) == (
        0.5,
        1.0,
        0.5,
        75.0,
    )
    assert (vsr["counted_box_acc"], vsr["n_counting"]) == (None, 0)
    t = out["tallyqa"]
    assert (t["n"], t["acc"], t["giou"], t["n_giou"]) == (3, 2 / 3, pytest.approx(2 / 3), 3)
    assert (t["counted_box_acc"], t["n_counting"], t["mean_boxes"], t["tags_rate"]) == (2 / 3, 3, 2.0, 2 / 3)
    mme = out["mme"]
    assert (mme["giou"], mme["matched_iou"], mme["n_giou"], mme["acc"]) == (None, None, 0, 1.0)
    a = out["all"]
    assert (a["n"], a["acc"], a["n_giou"], a["n_counting"], a["counted_box_acc"]) == (6, 4 / 6, 5, 3, 2 / 3)
    assert a["giou"] == pytest.approx((0.5 + 0 + 1 + 0.25 + 0.75) / 5)
    assert a["format_rate"] == pytest.approx(4 / 6) and a["mean_completion_chars"] == pytest.approx(800 / 6)


def test_aggregate_end_to_end_from_completions():
    recs = [
        {"question": "How many?", "answer": "1", "bboxs": [[0, 0, 10, 10]], "dataset": "tallyqa"},
        {"question": "Is it red?", "answer": "Yes", "dataset": "mme"},
    ]
    outs = [completion(f"one {qbox(0, 0, 10, 20)}", "1"), completion("no box", "No")]
    out = aggregate([score_sample(c, r) for c, r in zip(outs, recs, strict=True)])
    assert out["tallyqa"]["giou"] == pytest.approx(0.5) and out["tallyqa"]["counted_box_acc"] == 1.0
    assert out["mme"]["acc"] == 0.0 and out["all"]["acc"] == 0.5 and out["all"]["format_rate"] == 0.5


def test_aggregate_by_other_key():
    results = [
        dict(row("vsr", True, 0.5, True, True, 1, None, 10), split="a"),
        dict(row("gqa", False, None, True, True, 1, None, 10), split="a"),
    ]
    out = aggregate(results, key="split")
    assert set(out) == {"a", "all"} and out["a"]["acc"] == 0.5


def test_missing_answer_tag_is_wrong_when_the_prompt_asked_for_it():
    rec = {"question": "Is there a dog?", "answer": "yes"}
    truncated = "<think>I see a dog, so it is yes"
    assert score_sample(truncated, rec)["correct"] is True  # direct prompts: the whole text is the answer
    r = score_sample(truncated, rec, require_answer_tag=True)
    assert r["correct"] is False and r["answer_pred"] == ""
    assert score_sample("<think>a b</think><answer>yes", rec, require_answer_tag=True)["correct"] is True
