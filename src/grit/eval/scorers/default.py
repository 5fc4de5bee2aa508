"""The fields every dataset's summary gets beside :func:`grit.metrics.aggregate`'s: answer distributions, the
judge's mean raw score, generated tokens, the shapes sets' reference IoUs and box checks, and acc+ over question
groups."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from grit.boxes import Box, as_boxes, iou, union_iou
from grit.data.shapes.world import COLOR_RGB, SHAPE_NAMES
from grit.eval.predictions import PredictionsError

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


def object_under(box: Box, objects: Sequence[Box]) -> int | None:
    """Index of the object ``box`` sits on: the one it overlaps most, when their IoU is ≥ 0.5; else None."""
    best, best_iou = None, ON_OBJECT_IOU
    for j, o in enumerate(objects):
        v = iou(box, o)
        if v >= best_iou:
            best, best_iou = j, v
    return best


def on_object_rate(rows: list[dict[str, Any]]) -> tuple[float | None, int]:
    """Fraction of chain boxes that sit on some object of the image (:func:`object_under` one of ``all_boxes``).

    Tells a chain that boxes the wrong objects (selection) from one whose boxes follow no object at all (boxes
    detached from the image): chain IoU alone is low in both cases. Needs ``all_boxes`` (the shapes sets)."""
    hits = total = 0
    for r in rows:
        if "all_boxes" not in r or not r.get("pred_boxes"):
            continue
        objects = as_boxes(r["all_boxes"] or [])
        for pb in as_boxes(r["pred_boxes"]):
            total += 1
            hits += object_under(pb, objects) is not None
    return (hits / total if total else None), total


_WORLD_WORDS = frozenset(COLOR_RGB) | frozenset(SHAPE_NAMES)


def label_names(label: str | None, name: str) -> bool:
    """Does a box label name this object ("red square"): state its colour and its shape, and no other colour
    or shape of the shapes world? Case and plurals are ignored ("2 Red squares" names a red square); a box
    without a label names nothing."""
    if not label:
        return False
    words = set()
    for w in re.findall(r"[a-z]+", label.lower()):
        words.add(w[:-1] if w not in _WORLD_WORDS and w[:-1] in _WORLD_WORDS else w)
    return words & _WORLD_WORDS == set(name.split())


def label_match_rate(rows: list[dict[str, Any]]) -> tuple[float | None, int]:
    """Fraction of chain boxes whose label names the object they sit on (:func:`object_under`,
    :func:`label_names`); a box on no object counts as not matching. The shapes world's exact version of the
    paper's cross-modal correlation: do the boxes match their words? Needs ``all_labels`` (the shapes sets)."""
    hits = total = 0
    for r in rows:
        if "all_labels" not in r or not r.get("pred_boxes"):
            continue
        objects, names = as_boxes(r.get("all_boxes") or []), r["all_labels"] or []
        if len(names) != len(objects):
            raise PredictionsError(
                f"sample {r.get('key')}: field 'all_labels': {len(names)} labels for {len(objects)} all_boxes"
            )
        labels = r.get("pred_labels") or []
        for i, pb in enumerate(as_boxes(r["pred_boxes"])):
            j = object_under(pb, objects)
            total += 1
            hits += j is not None and label_names(labels[i] if i < len(labels) else None, names[j])
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
    out["label_match_rate"], out["n_label_checked_boxes"] = label_match_rate(rows)
    plus, n_groups = acc_plus(rows)
    if n_groups:
        out["acc_plus"], out["n_groups"] = plus, n_groups
    # The judge's raw 0–1 score averaged (Table 1 of the paper); ``acc`` counts the binarised verdicts.
    out["judge_score"] = _mean([float(r.get("judge_score", r["correct"])) for r in rows])
    return out
