"""Resumable evaluation: GRIT jsonl in, ``predictions.jsonl`` + ``metrics.json`` out.

``evaluate`` generates a grounded chain for every record and appends one JSON line per finished sample to
``predictions.jsonl`` (flushed and fsynced after every batch), so a killed run loses at most the batch in
flight: rerunning the same command skips the samples already written and drops an incomplete last line.
Each line holds the record, the completion, the frame its boxes were written in, the predicted boxes in
original pixels and the per-sample scores of :func:`grit.metrics.score_sample`; ``score_predictions``
rescores such a file without a model, so metrics can be recomputed (or a judge swapped) at any time.

``metrics.json`` has one entry per dataset plus ``"all"``: the :func:`grit.metrics.aggregate` summary,
answer distributions, the whole-image reference IoU (shapes), MME acc+ and official score, MathVista's
official score, and the judge used.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from grit.boxes import Frame, as_boxes, iou, union_iou
from grit.chain import parse
from grit.data.schema import default_image_root, image_size, read_jsonl
from grit.eval.scoring import MMEFormatError, mathvista_scores, mme_line, mme_scores
from grit.judge import LLMJudge, judge_answer
from grit.metrics import aggregate, score_sample

PREDICTIONS = "predictions.jsonl"
METRICS = "metrics.json"
RUN = "run.json"
TOP_ANSWERS = 10
# Generation settings that must not change between a run and its resumption (mixed predictions would be
# scored as one run).
RESUME_CHECKED = (
    "model",
    "family",
    "prompt",
    "max_new_tokens",
    "temperature",
    "seed",
    "image_root",
    "min_pixels",
    "max_pixels",
)

Judge = Callable[..., bool]


class PredictionsError(ValueError):
    """A predictions file that cannot be read; the message names file and line."""


@dataclass
class Sample:
    """One record to evaluate, with where it came from and its stable key."""

    key: str
    index: int  # position over all input files, in file order (keeps MME question pairs together)
    file: str
    line: int
    record: dict[str, Any]
    image_path: Path


# ------------------------------------------------------------------------------------------------ input


def _record_lines(path: Path) -> list[int]:
    """1-based line numbers of the non-blank lines (= records, in order, once the file has validated)."""
    text = path.read_text(encoding="utf-8")
    return [i for i, raw in enumerate(text.splitlines(), start=1) if raw.strip()]


def sample_key(record: dict[str, Any], file: str | Path, line: int) -> str:
    """``dataset/id`` when the record has an id (stable across file edits), else ``file-name:line``."""
    if record.get("id") is not None:
        return f"{record['dataset']}/{record['id']}"
    return f"{Path(file).name}:{line}"


def load_samples(
    data: Sequence[str | os.PathLike],
    image_root: str | os.PathLike | None = None,
    limit: int | None = None,
) -> list[Sample]:
    """Read and validate every jsonl file (one :class:`~grit.data.schema.GritDataError` naming file:line:field
    on bad data); ``limit`` keeps the first ``limit`` records of EACH file. Records without ``dataset`` get the
    file's stem. Relative images resolve against ``image_root``, else the jsonl file's folder."""
    if isinstance(data, (str, os.PathLike)):
        data = [data]
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    samples: list[Sample] = []
    seen: dict[str, str] = {}
    for file in data:
        path = Path(file)
        records = read_jsonl(path, image_root)
        lines = _record_lines(path)
        root = default_image_root(path, image_root)
        for rec, line in list(zip(records, lines, strict=True))[:limit]:
            d = rec.to_dict()
            d["dataset"] = d.get("dataset") or path.stem
            key = sample_key(d, path, line)
            where = f"{path}:{line}"
            if key in seen:
                raise ValueError(
                    f"{where}: sample key {key!r} is also used at {seen[key]} (ids must be unique)"
                )
            seen[key] = where
            samples.append(Sample(key, len(samples), str(path), line, d, rec.image_path(root)))
    return samples


def _check_images(samples: Iterable[Sample]) -> None:
    """Fail before generating anything when images are missing (not an hour into the run) or are not the size
    the record says: predicted boxes are mapped with the real image, ground truth is in the record's pixels,
    so a wrong size would silently skew GIoU."""
    samples = list(samples)
    missing = [s for s in samples if not s.image_path.is_file()]
    if missing:
        shown = "\n  ".join(
            f"{s.file}:{s.line}: field 'image': not found: {s.image_path}" for s in missing[:5]
        )
        more = f"\n  ... and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise FileNotFoundError(f"{len(missing)} image(s) missing:\n  {shown}{more}")
    for s in samples:
        try:
            w, h = image_size(s.image_path)
        except (OSError, ValueError) as e:
            raise ValueError(f"{s.file}:{s.line}: field 'image': cannot read {s.image_path} ({e})") from e
        if (w, h) != (s.record["width"], s.record["height"]):
            raise ValueError(
                f"{s.file}:{s.line}: field 'width'/'height': the record says "
                f"{s.record['width']}x{s.record['height']} but {s.image_path} is {w}x{h}"
            )


# ------------------------------------------------------------------------------------------ predictions


def read_predictions(path: str | os.PathLike, *, repair: bool = False) -> list[dict[str, Any]]:
    """The complete lines of a predictions file.

    A last line without its newline was cut off by a killed run: it is ignored, and with ``repair`` the file
    is truncated to its last complete line so appending continues cleanly. Any other bad line, or a key that
    occurs twice, raises :class:`PredictionsError` naming file and line.
    """
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    complete = data.rfind(b"\n") + 1  # bytes up to and including the last newline
    if repair and complete < len(data):
        with open(path, "r+b") as f:
            f.truncate(complete)
            f.flush()
            os.fsync(f.fileno())
    rows: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    for lineno, raw in enumerate(data[:complete].decode("utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as e:
            raise PredictionsError(f"{path}:{lineno}: invalid JSON: {e.msg} (column {e.colno})") from None
        if not isinstance(row, dict) or not isinstance(row.get("key"), str):
            raise PredictionsError(f"{path}:{lineno}: field 'key': missing (expected an object with a key)")
        if row["key"] in first_line:
            raise PredictionsError(
                f"{path}:{lineno}: field 'key': {row['key']!r} already on line {first_line[row['key']]}"
            )
        first_line[row["key"]] = lineno
        rows.append(row)
    return rows


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
        return Frame(**f)
    except TypeError as e:
        raise PredictionsError(
            f"sample {row.get('key')}: field 'frame': expected kind, image_width, image_height, extent_x, "
            f"extent_y, got {f!r}"
        ) from e


def score_row(row: dict[str, Any], judge: Judge | None = None) -> dict[str, Any]:
    """``row`` with its per-sample scores and predicted pixel boxes recomputed from ``completion`` + ``frame``.

    With ``judge=None`` a stored ``correct`` verdict is kept (a file judged by an LLM is not silently re-judged
    by rules); rows without one are judged by the rule judge.
    """
    where = f"sample {row.get('key')}"
    for name in ("completion", "answer", "question"):
        if not isinstance(row.get(name), str):
            raise PredictionsError(f"{where}: field '{name}': expected a string, got {row.get(name)!r}")
    frame = _frame(row)
    keep = judge is None and "correct" in row
    # The GRIT prompt asks for "<answer>": then a completion without one has no answer (see score_sample).
    require = "<answer>" in str(row.get("prompt") or "")
    scores = score_sample(
        row["completion"], row, frame, judge=judge or judge_answer, require_answer_tag=require
    )
    if keep:
        scores["correct"] = bool(row["correct"])
    chain = parse(row["completion"], frame)
    out = dict(row)
    out.update(scores)
    out["pred_boxes"] = [[round(v, 2) for v in b.xyxy] for b in chain.pixel_boxes()]
    out["pred_labels"] = [cb.label for cb in chain.boxes if cb.box is not None]
    out["judge"] = row.get("judge", "rule") if keep else judge_name(judge)
    return out


def _line(sample: Sample, result: Any, judge: Judge) -> dict[str, Any]:
    row: dict[str, Any] = dict(sample.record)
    row.update(
        key=sample.key,
        index=sample.index,
        source=f"{sample.file}:{sample.line}",
        image_path=str(sample.image_path),
        completion=result.text,
        prompt=getattr(result, "prompt", None),
        frame=asdict(result.frame) if result.frame is not None else None,
        n_prompt_tokens=result.n_prompt_tokens,
        n_new_tokens=result.n_new_tokens,
        finished=getattr(result, "finished", None),
    )
    return score_row(row, judge)


# ---------------------------------------------------------------------------------------------- metrics


def _norm_answer(text: Any, n: int = 40) -> str:
    s = " ".join(str(text).split()).strip().rstrip(".").lower()
    return s if len(s) <= n else s[: n - 1] + "…"


def top_answers(values: Iterable[Any], k: int = TOP_ANSWERS) -> list[list[Any]]:
    """``[[answer, count], ...]`` of the ``k`` most common answers (whitespace/case/final dot normalised)."""
    return [[a, c] for a, c in Counter(_norm_answer(v) for v in values).most_common(k)]


def _whole_image_iou(rows: list[dict[str, Any]]) -> tuple[float | None, int]:
    """Mean union IoU of ALL objects in the image vs the ground truth: what boxing everything would score."""
    vals = [union_iou(r["all_boxes"], r["bboxs"]) for r in rows if r.get("all_boxes") and r.get("bboxs")]
    return (sum(vals) / len(vals) if vals else None), len(vals)


ON_OBJECT_IOU = 0.5


def _on_object_rate(rows: list[dict[str, Any]]) -> tuple[float | None, int]:
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


def _acc_plus(rows: list[dict[str, Any]]) -> tuple[float | None, int]:
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


def _mme_official(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """MME's own scorer on the answer text, per subtask (``question_type``), complete image pairs only."""
    pairs: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(rows, key=lambda r: r.get("index", 0)):
        group = str(r.get("group") or r.get("image"))
        pairs.setdefault(group, []).append(r)
    subtasks: dict[str, list[str]] = {}
    incomplete = 0
    for group, members in pairs.items():
        if len(members) != 2:
            incomplete += 1
            continue
        sub = str(members[0].get("question_type") or group.split("/")[0])
        for r in members:
            subtasks.setdefault(sub, []).append(mme_line(group, r["question"], r["answer"], r["answer_pred"]))
    if not subtasks:
        return {"error": "no complete question pairs", "n_incomplete_pairs": incomplete}
    try:
        scores = mme_scores(subtasks)
    except MMEFormatError as e:
        return {"error": str(e), "n_incomplete_pairs": incomplete}
    subs = scores["subtasks"]
    n_q = sum(s["n_questions"] for s in subs.values())
    n_img = sum(s["n_images"] for s in subs.values())
    return {
        "score": sum(s["score"] for s in subs.values()),
        "acc": sum(s["acc"] * s["n_questions"] for s in subs.values()) / n_q,
        "acc_plus": sum(s["acc_plus"] * s["n_images"] for s in subs.values()) / n_img,
        "n_questions": n_q,
        "n_incomplete_pairs": incomplete,
        "subtasks": subs,
        "note": "official MME parser applied to the answer text (after <answer>)",
    }


def _mathvista_official(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """MathVista's normalisation + exact match (rule-based extraction in place of its GPT extractor)."""
    usable = [r for r in rows if r.get("question_type") in ("multi_choice", "free_form")]
    if not usable:
        return {"error": "no records with question_type (convert MathVista with grit data convert)"}
    scores = mathvista_scores([{**r, "response": r["completion"]} for r in usable])
    return {**scores["average"], "by": {k: v for k, v in scores.items() if k != "average"}}


def is_benchmark(name: str, benchmark: str) -> bool:
    """Is dataset `name` this benchmark (e.g. "mme", "mme_count", "MME-position" for "mme")?"""
    return re.match(rf"{benchmark}(?:$|[_\-/ ])", name.lower()) is not None


def compute_metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """metrics.json content for scored rows: ``{"judge", "n", "datasets": {name: {...}, "all": {...}}}``."""
    per = aggregate(rows)
    groups: dict[str, list[dict[str, Any]]] = {"all": rows}
    for r in rows:
        groups.setdefault(str(r.get("dataset", "unknown")), []).append(r)
    for name, summary in per.items():
        members = groups.get(name, [])
        summary["answers_pred"] = top_answers(r["answer_pred"] for r in members)
        summary["answers_gt"] = top_answers(r["answer"] for r in members)
        tokens = [r["n_new_tokens"] for r in members if isinstance(r.get("n_new_tokens"), int)]
        summary["mean_new_tokens"] = sum(tokens) / len(tokens) if tokens else None
        summary["whole_image_iou"], summary["n_whole_image"] = _whole_image_iou(members)
        summary["on_object_rate"], summary["n_chain_boxes"] = _on_object_rate(members)
        acc_plus, n_groups = _acc_plus(members)
        if n_groups:
            summary["acc_plus"], summary["n_groups"] = acc_plus, n_groups
        if name != "all" and is_benchmark(name, "mme"):
            summary["mme_official"] = _mme_official(members)
        if name != "all" and is_benchmark(name, "mathvista"):
            summary["mathvista_official"] = _mathvista_official(members)
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
        _write_json(Path(write), metrics)
    return metrics


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------- evaluate


def _model_name(model: Any) -> str:
    """How run.json names the model (compared on resume): the resolved checkpoint path when there is one."""
    if isinstance(model, (str, os.PathLike)):
        return str(Path(model).resolve()) if Path(model).exists() else str(model)
    if isinstance(model, tuple):
        return f"{type(model[0]).__name__} ({model[2]})"
    return getattr(model, "name", type(model).__name__)


def _make_generator(
    model: Any, family: str | None, device: str | None, dtype: str | None, pixels=(None, None)
):
    """A generator from a checkpoint path, a ``(model, processor, family)`` tuple, or anything with a
    ``generate(items, batch_size=, max_new_tokens=, temperature=, seed=, prompt_style=)`` method."""
    if isinstance(model, (str, os.PathLike)):
        from grit.models.generate import Generator
        from grit.models.loading import load_model

        m, processor, fam = load_model(
            model, family, device=device, dtype=dtype, min_pixels=pixels[0], max_pixels=pixels[1]
        )
        return Generator(m, processor, fam)
    if isinstance(model, tuple):
        from grit.models.generate import Generator

        m, processor, fam = model
        return Generator(m, processor, fam, device=device)
    if callable(getattr(model, "generate", None)):
        return model
    raise TypeError(f"model must be a path, a (model, processor, family) tuple or a generator, got {model!r}")


def _progress(enabled: bool, total: int, done: int):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.2f} samples/s" if speed else "-- samples/s", style="progress.data.speed")

    progress = Progress(
        TextColumn("[bold]eval[/bold] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        Rate(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
    )
    task = progress.add_task(f"({done} already done)" if done else "", total=total)
    return progress, task


def evaluate(
    model: Any,
    data: Sequence[str | os.PathLike] | str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    image_root: str | os.PathLike | None = None,
    prompt: str = "grit",
    batch_size: int = 8,
    max_new_tokens: int = 512,
    temperature: float = 0.0,
    seed: int | None = None,
    limit: int | None = None,
    judge: Judge | None = None,
    progress: bool = True,
    family: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    chunk_size: int | None = None,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> dict[str, Any]:
    """Generate, score and aggregate; returns the metrics (also written to ``out_dir/metrics.json``).

    ``model``: a checkpoint path (loaded with ``family``/``device``/``dtype``), a ``(model, processor,
    family)`` tuple, or a ready generator (e.g. ``VLLMGenerator``). ``prompt``: "grit", "vanilla" or a
    template with ``{question}``. ``judge``: any ``judge(pred, answer, question=, choices=, answer_type=)``
    → bool (default: the offline rule judge). ``chunk_size`` samples go to the generator per call (default
    ``batch_size``; raise it for vLLM) and are written when the call returns. Rerunning with the same
    ``out_dir`` resumes: finished samples are not generated again.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pred_path, run_path = out / PREDICTIONS, out / RUN
    judge = judge or judge_answer
    samples = load_samples(data, image_root, limit)
    if not samples:
        raise ValueError("no records to evaluate")

    done = {r["key"]: r for r in read_predictions(pred_path, repair=True)}
    pending = [s for s in samples if s.key not in done]
    _check_images(pending)
    settings = {
        "model": _model_name(model),
        "prompt": prompt,
        "max_new_tokens": max_new_tokens,
        "temperature": temperature,
        "family": family,
        "seed": seed,
        "min_pixels": min_pixels,
        "max_pixels": max_pixels,
        "image_root": str(image_root) if image_root else None,
    }
    if done and run_path.exists():
        previous = json.loads(run_path.read_text(encoding="utf-8"))
        changed = [k for k in RESUME_CHECKED if k in previous and previous[k] != settings[k]]
        if changed:
            diff = ", ".join(f"{k}: {previous[k]!r} -> {settings[k]!r}" for k in changed)
            raise ValueError(f"{pred_path} was written with other settings ({diff}); use a new out_dir")
    run_info = {
        **settings,
        "data": list(dict.fromkeys(s.file for s in samples)),
        "batch_size": batch_size,
        "limit": limit,
        "judge": judge_name(judge),
    }
    _write_json(run_path, run_info)
    # Loaded only when there is something to generate: rescoring a finished run needs no model.
    generator = _make_generator(model, family, device, dtype, (min_pixels, max_pixels)) if pending else None

    # Biggest images and longest questions first: similar prompt lengths share a batch (less padding).
    pending.sort(key=lambda s: (-(s.record["width"] * s.record["height"]), -len(s.record["question"])))
    step = chunk_size or batch_size
    t0, n_new = time.perf_counter(), 0
    bar, task = _progress(progress, len(pending), len(done))
    with bar, open(pred_path, "a", encoding="utf-8") as f:
        for start in range(0, len(pending), step):
            chunk = pending[start : start + step]
            items = [{"image": str(s.image_path), "question": s.record["question"]} for s in chunk]
            results = generator.generate(  # type: ignore[union-attr]
                items,
                batch_size=batch_size,
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                seed=seed,
                prompt_style=prompt,
            )
            failure = None
            try:
                rows = [_line(s, r, judge) for s, r in zip(chunk, results, strict=True)]
            except Exception as e:  # e.g. the LLM judge gave up: keep the completions, judge them on resume
                if judge is judge_answer:
                    raise
                failure = e
                rows = [
                    {**_line(s, r, judge_answer), "judge": "pending"}
                    for s, r in zip(chunk, results, strict=True)
                ]
            # One write per batch, each line complete with its newline: a kill leaves at most a cut last line.
            f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
            f.flush()
            os.fsync(f.fileno())
            if failure is not None:
                raise failure
            for r in rows:
                done[r["key"]] = r
            n_new += len(rows)
            bar.advance(task, len(rows))
    seconds = time.perf_counter() - t0

    # Rows written earlier under another judge are re-judged so every number uses the same judge.
    name = judge_name(judge)
    stale = {k for k, r in done.items() if r.get("judge") != name}
    for k in stale:
        done[k] = score_row({key: v for key, v in done[k].items() if key != "correct"}, judge)
    if stale:
        tmp = pred_path.with_name(f".{pred_path.name}.tmp")
        tmp.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in done.values()), encoding="utf-8"
        )
        os.replace(tmp, pred_path)

    metrics = compute_metrics([done[s.key] for s in samples])
    metrics["run"] = {
        **run_info,
        "n_generated": n_new,
        "n_resumed": len(samples) - n_new,
        "generation_seconds": round(seconds, 3),
        "samples_per_s": round(n_new / seconds, 3) if n_new and seconds > 0 else None,
    }
    _write_json(out / METRICS, metrics)
    return metrics
