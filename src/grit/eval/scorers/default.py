"""The fields every dataset's summary gets beside :func:`grit.metrics.aggregate`'s: answer distributions, the
judge's mean raw score, generated tokens, the shapes sets' reference IoUs, and acc+ over question groups."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from grit.boxes import as_boxes, iou, union_iou

TOP_ANSWERS = 10
ON_OBJECT_IOU = 0.5


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _norm_answer(text: Any, n: int = 40) -> str:
    s = " ".join(str(text).split()).strip().rstrip(".").lower()
    return s if len(s) <= n else s[: n - 1] + "…"


def top_answers(values: Iterable[Any], k: int = TOP_ANSWERS) -> list[list[Any]]:
    """``[[answer, count], ...]`` of the ``k`` most common answers (whitespace/case/final dot normalised)."""
    return [[a, c] for a, c in Counter(_norm_answer(v) for v in values).most_common(k)]


def whole_image_iou(rows: list[dict[str, Any]]) -> tuple[float | None, int]:
    """Mean union IoU of ALL objects in the image vs the ground truth: what boxing everything would score."""
    vals = [union_iou(r["all_boxes"], r["bboxs"]) for r in rows if r.get("all_boxes") and r.get("bboxs")]
    return _mean(vals), len(vals)


def on_object_rate(rows: list[dict[str, Any]]) -> tuple[float | None, int]:
    """Fraction of chain boxes that sit on some object of the image (IoU ≥ 0.5 with one of ``all_boxes``).

    Tells a chain that boxes the wrong objects (selection) from one whose boxes follow no object at all (boxes
    detached from the image): chain IoU alone is low in both cases. Needs ``all_boxes`` (the shapes sets)."""
    hits = total = 0
    for r in rows:
        if "all_boxes" not in r or not r.get("pred_boxes"):
            continue
        objects = as_boxes(r["all_boxes"] or [])
        for pb in as_boxes(r["pred_boxes"]):
            total += 1
            hits += any(iou(pb, o) >= ON_OBJECT_IOU for o in objects)
    return (hits / total if total else None), total


def acc_plus(rows: list[dict[str, Any]]) -> tuple[float | None, int]:
    """Fraction of groups (MME: the two questions of one image) whose questions are both judged correct.
    Incomplete groups (one question of a pair, e.g. under ``--limit``) are left out, as MME's scorer does."""
    groups: dict[str, list[bool]] = {}
    for r in rows:
        if r.get("group") is not None:
            groups.setdefault(str(r["group"]), []).append(bool(r["correct"]))
    groups = {k: v for k, v in groups.items() if len(v) == 2}
    if not groups:
        return None, 0
    return sum(all(v) for v in groups.values()) / len(groups), len(groups)


def score(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "answers_pred": top_answers(r["answer_pred"] for r in rows),
        "answers_gt": top_answers(r["answer"] for r in rows),
        "mean_new_tokens": _mean([r["n_new_tokens"] for r in rows if isinstance(r.get("n_new_tokens"), int)]),
    }
    out["whole_image_iou"], out["n_whole_image"] = whole_image_iou(rows)
    out["on_object_rate"], out["n_chain_boxes"] = on_object_rate(rows)
    plus, n_groups = acc_plus(rows)
    if n_groups:
        out["acc_plus"], out["n_groups"] = plus, n_groups
    # The judge's raw 0–1 score averaged (Table 1 of the paper); ``acc`` counts the binarised verdicts.
    out["judge_score"] = _mean([float(r.get("judge_score", r["correct"])) for r in rows])
    return out
