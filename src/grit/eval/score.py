"""Scoring predictions: each row's scores from its completion, then ``metrics.json`` per dataset.

A row holds the record, the completion, the frame its boxes were written in, the predicted boxes in original
pixels and the per-sample scores of :func:`grit.metrics.score_sample`; :func:`score_predictions` rescores a
predictions file without a model, so metrics can be recomputed (or a judge swapped) at any time.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from grit.boxes import Frame
from grit.chain import GroundedChain, parse
from grit.eval.predictions import PredictionsError, read_predictions, write_json
from grit.eval.samples import Sample
from grit.eval.scorers import dataset_scores
from grit.judge import LLMJudge, judge_answer
from grit.metrics import aggregate, score_sample

Judge = Callable[..., bool]


def judge_name(judge: Judge | None) -> str:
    """How metrics.json names the judge: ``rule``, ``llm:<model>`` or the callable's name."""
    if judge is None or judge is judge_answer:
        return "rule"
    if isinstance(judge, LLMJudge):
        return f"llm:{judge.model}"
    return getattr(judge, "__name__", type(judge).__name__)


def _frame(row: dict[str, Any]) -> Frame | None:
    f = row.get("frame")
    if f is None:
        return None
    try:
        return Frame.from_dict(f)
    except ValueError as e:
        raise PredictionsError(f"sample {row.get('key')}: field 'frame': {e}") from None


def _raw_score(judge: Judge, correct: bool, row: dict[str, Any]) -> float:
    """The judge's 0–1 score behind its verdict: a judge with a ``score`` method (the LLM judge, whose
    verdict is score > 0) is asked again, from its cache; a yes/no judge's score is its verdict."""
    raw = getattr(judge, "score", None)
    if not correct or not callable(raw):
        return float(correct)
    return float(raw(row["answer_pred"], str(row["answer"]), question=row.get("question")))


def row_chain(row: dict[str, Any]) -> GroundedChain:
    """The row's completion parsed in the frame its boxes were written in."""
    return parse(row["completion"], _frame(row))


def score_row(row: dict[str, Any], judge: Judge | None = None) -> dict[str, Any]:
    """``row`` with its per-sample scores and predicted pixel boxes recomputed from ``completion`` + ``frame``.

    With ``judge=None`` a stored ``correct`` verdict (and ``judge_score``) is kept (a file judged by an LLM is
    not silently re-judged by rules); rows without one are judged by the rule judge.
    """
    where = f"sample {row.get('key')}"
    for name in ("completion", "answer", "question"):
        if not isinstance(row.get(name), str):
            raise PredictionsError(f"{where}: field '{name}': expected a string, got {row.get(name)!r}")
    frame = _frame(row)
    keep = judge is None and "correct" in row
    # The GRIT prompt asks for "<answer>": then a completion without one has no answer (see score_sample).
    require = "<answer>" in str(row.get("prompt") or "")
    chain = parse(row["completion"], frame)
    scores = score_sample(
        row["completion"], row, frame, judge=judge or judge_answer, require_answer_tag=require, chain=chain
    )
    out = dict(row)
    out.update(scores)
    if keep:
        out["correct"] = bool(row["correct"])
        out["judge_score"] = float(row.get("judge_score", out["correct"]))
    else:
        out["judge_score"] = _raw_score(judge or judge_answer, out["correct"], out)
    out["pred_boxes"] = [[round(v, 2) for v in b.xyxy] for b in chain.pixel_boxes()]
    out["pred_labels"] = [cb.label for cb in chain.boxes if cb.box is not None]
    out["judge"] = row.get("judge", "rule") if keep else judge_name(judge)
    return out


def prediction_row(sample: Sample, result: Any, judge: Judge) -> dict[str, Any]:
    """The scored predictions line of one generated sample."""
    row: dict[str, Any] = dict(sample.record)
    row.update(
        key=sample.key,
        index=sample.index,
        source=f"{sample.file}:{sample.line}",
        image_path=str(sample.image_path),
        completion=result.text,
        prompt=getattr(result, "prompt", None),
        frame=result.frame.to_dict() if result.frame is not None else None,
        n_prompt_tokens=result.n_prompt_tokens,
        n_new_tokens=result.n_new_tokens,
        finished=getattr(result, "finished", None),
    )
    return score_row(row, judge)


def compute_metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """metrics.json content for scored rows: ``{"judge", "n", "datasets": {name: {...}, "all": {...}}}``."""
    per = aggregate(rows)
    groups: dict[str, list[dict[str, Any]]] = {"all": rows}
    for r in rows:
        groups.setdefault(str(r.get("dataset", "unknown")), []).append(r)
    for name, summary in per.items():
        summary.update(dataset_scores(name, groups.get(name, [])))
    judges = sorted({str(r.get("judge", "rule")) for r in rows})
    return {"judge": ", ".join(judges) if judges else None, "n": len(rows), "datasets": per}


def score_predictions(
    pred_path: str | os.PathLike, *, judge: Judge | None = None, write: str | os.PathLike | None = None
) -> dict[str, Any]:
    """Metrics of an existing predictions file, no model needed (see :func:`score_row` for ``judge``).

    With ``write`` the metrics are also saved there as JSON.
    """
    rows = [score_row(r, judge) for r in read_predictions(pred_path)]
    if not rows:
        raise PredictionsError(f"{pred_path}: no predictions")
    metrics = compute_metrics(rows)
    if write is not None:
        write_json(write, metrics)
    return metrics
