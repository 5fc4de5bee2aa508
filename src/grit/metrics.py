"""Evaluation metrics: answer accuracy, grounding IoU, format rates, per-dataset aggregation (stdlib only).

Grounding IoU (GIoU) is *our reading* of the GRIT paper — the released code does not contain the metric.
For one sample it is the IoU between the region covered by all predicted boxes and the region covered by
all ground-truth boxes (both in original-image pixels); a sample with no predicted box scores 0, and the
benchmark number averages over the samples that have ground-truth boxes. ``matched_grounding_iou`` is a
stricter companion that also punishes one big box covering several targets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from grit.boxes import Box, Frame, matched_iou, union_iou
from grit.chain import GroundedChain, answer_text, parse
from grit.judge import judge_answer
from grit.judge.rule import is_counting_item, stated_count

BoxLike = Box | Sequence[float]


def grounding_iou(pred_boxes: Iterable[BoxLike], gt_boxes: Iterable[BoxLike]) -> float:
    """IoU of the union region of ``pred_boxes`` with the union region of ``gt_boxes`` (xyxy, same frame).

    No predicted box → 0. Worked example: predictions [0, 0, 2, 2] and [1, 0, 3, 2] overlap, together covering
    x 0–3 × y 0–2 = 6; the ground truth [1, 0, 4, 2] covers 6; they share x 1–3 × y 0–2 = 4; the union of
    the two regions is 6 + 6 − 4 = 8, so GIoU = 4 / 8 = 0.5. (Summing box areas instead would count the
    overlap x 1–2 twice — the union region does not.) Matched IoU of the same boxes pairs [1, 0, 3, 2] with
    the ground truth (IoU 4 / 6) and leaves [0, 0, 2, 2] unmatched: (2/3) / max(2, 1) = 1/3.
    """
    return union_iou(pred_boxes, gt_boxes)


def matched_grounding_iou(pred_boxes: Iterable[BoxLike], gt_boxes: Iterable[BoxLike]) -> float:
    """One-to-one (Hungarian) matching of predicted to ground-truth boxes maximising total IoU; the sum of
    matched IoUs divided by ``max(#pred, #gt)``, so extra or missing boxes count as 0."""
    return matched_iou(pred_boxes, gt_boxes)


def is_counting(record: dict[str, Any]) -> bool:
    """Counting items: an explicit ``counting`` flag, else a counting dataset whose answer states a count
    (the target-counting reward's rule: "2", "two" and "2 dogs" do)."""
    if "counting" in record:
        return bool(record["counting"])
    return is_counting_item(record.get("dataset"), record.get("question")) and _count(record) is not None


def _count(record: dict[str, Any]) -> int | None:
    return stated_count(str(record.get("answer", "")))


def score_sample(
    completion: str,
    record: dict[str, Any],
    frame: Frame | None = None,
    judge: Callable[..., bool] = judge_answer,
    require_answer_tag: bool = False,
    chain: GroundedChain | None = None,
) -> dict[str, Any]:
    """Score one completion against its GRIT record (``question``, ``answer``, optional ``bboxs`` in original
    pixels, ``dataset``). ``frame`` is the frame the model wrote its boxes in (None → original pixels).

    Returns a flat dict (one JSONL row of predictions/metrics): correct, giou and matched_iou (None when the
    record has no boxes), strict_format, tags_ok, n_boxes, counted_ok (None for non-counting items),
    answer_pred, completion_chars, dataset.

    ``require_answer_tag``: the prompt asked for ``<answer>`` (GRIT's does), so a completion without one has
    no answer and is wrong — judging its whole text would credit a truncated ``<think>… so it is yes``.
    Without it (direct-answer prompts) the whole completion is the answer. ``chain``: the completion already
    parsed in ``frame``, for callers that need the chain too.
    """
    chain = chain if chain is not None else parse(completion, frame)
    missing = require_answer_tag and "<answer>" not in completion
    answer_pred = "" if missing else answer_text(completion)
    extra = {k: record[k] for k in ("choices", "answer_type", "precision") if record.get(k) is not None}
    correct = not missing and bool(
        judge(answer_pred, str(record["answer"]), question=record.get("question"), **extra)
    )

    pred_boxes = chain.pixel_boxes()
    gt = record.get("bboxs") or []
    has_gt = len(gt) > 0
    n_boxes = len(chain.valid_boxes)
    counted_ok = None
    if is_counting(record):
        target = _count(record)
        counted_ok = target is not None and n_boxes == target
    return {
        "dataset": record.get("dataset", "unknown"),
        "correct": correct,
        "giou": grounding_iou(pred_boxes, gt) if has_gt else None,
        "matched_iou": matched_grounding_iou(pred_boxes, gt) if has_gt else None,
        "strict_format": chain.strict_format,
        "tags_ok": chain.tags_ok,
        "n_boxes": n_boxes,
        "counted_ok": counted_ok,
        "answer_pred": answer_pred,
        "completion_chars": len(completion),
    }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    with_gt = [r for r in rows if r.get("giou") is not None]
    counting = [r for r in rows if r.get("counted_ok") is not None]
    return {
        "n": len(rows),
        "acc": _mean([float(r["correct"]) for r in rows]),
        "giou": _mean([r["giou"] for r in with_gt]),
        "matched_iou": _mean([r["matched_iou"] for r in with_gt]),
        "n_giou": len(with_gt),
        "format_rate": _mean([float(r["strict_format"]) for r in rows]),
        "tags_rate": _mean([float(r["tags_ok"]) for r in rows]),
        "mean_boxes": _mean([float(r["n_boxes"]) for r in rows]),
        "counted_box_acc": _mean([float(r["counted_ok"]) for r in counting]),
        "n_counting": len(counting),
        "mean_completion_chars": _mean([float(r["completion_chars"]) for r in rows]),
    }


def aggregate(results: list[dict[str, Any]], key: str = "dataset") -> dict[str, dict[str, Any]]:
    """Per-group summaries of :func:`score_sample` rows, plus an ``"all"`` row over every sample.

    Rates are fractions in [0, 1]; a mean over an empty set (e.g. GIoU for a dataset without boxes) is None.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault(str(r.get(key, "unknown")), []).append(r)
    out = {name: _summary(rows) for name, rows in sorted(groups.items())}
    out["all"] = _summary(list(results))
    return out
