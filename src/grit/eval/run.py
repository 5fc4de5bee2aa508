"""Resumable evaluation: GRIT jsonl in, ``predictions.jsonl`` + ``metrics.json`` out.

The pipeline, one module each: :mod:`~grit.eval.samples` reads the records, :func:`predict` generates and
scores them batch by batch (:mod:`~grit.eval.score`), :mod:`~grit.eval.predictions` appends each finished
batch so a killed run resumes where it stopped, and :mod:`~grit.eval.scorers` adds each benchmark's official
score to ``metrics.json``: one entry per dataset plus ``"all"``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from grit.errors import InvalidValue
from grit.eval.predictions import (
    METRICS,
    PREDICTIONS,
    RESUME_CHECKED,
    PredictionsError,
    append_predictions,
    check_resume,
    collect_shards,
    launched_shard,
    read_predictions,
    rewrite_predictions,
    shard_count,
    shard_files,
    write_json,
)
from grit.eval.samples import Sample, check_images, load_samples
from grit.eval.score import Judge, compute_metrics, judge_name, prediction_row, score_row
from grit.judge import judge_answer

# What the shards of one run must agree on.
SHARED = (*RESUME_CHECKED, "judge", "data", "limit")


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
    from rich import progress as rp
    from rich.text import Text

    class Rate(rp.ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.2f} samples/s" if speed else "-- samples/s", style="progress.data.speed")

    title = rp.TextColumn("[bold]eval[/bold] {task.description}")
    timing = (Rate(), rp.TimeElapsedColumn(), rp.TimeRemainingColumn())
    progress = rp.Progress(title, rp.BarColumn(), rp.MofNCompleteColumn(), *timing, disable=not enabled)
    task = progress.add_task(f"({done} already done)" if done else "", total=total)
    return progress, task


def predict(
    generator: Any, samples: Sequence[Sample], *, judge: Judge = judge_answer, step: int, **generate_kw: Any
) -> Iterator[tuple[list[dict[str, Any]], Exception | None]]:
    """Generate ``step`` samples per generator call and yield each batch's scored predictions rows.

    When the judge fails (e.g. the LLM judge gave up), the batch comes with the error and rows judged by rules
    marked ``"judge": "pending"``, so the completions can be kept and judged again on resume."""
    for start in range(0, len(samples), step):
        chunk = samples[start : start + step]
        items = [{"image": str(s.image_path), "question": s.record["question"]} for s in chunk]
        results = generator.generate(items, **generate_kw)
        pairs = list(zip(chunk, results, strict=True))
        failure = None
        try:
            rows = [prediction_row(s, r, judge) for s, r in pairs]
        except Exception as e:
            if judge is judge_answer:
                raise
            failure = e
            rows = [{**prediction_row(s, r, judge_answer), "judge": "pending"} for s, r in pairs]
        yield rows, failure


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
    shard: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Generate, score and aggregate; returns the metrics (also written to ``out_dir/metrics.json``).

    ``model``: a checkpoint path (loaded with ``family``/``device``/``dtype``), a ``(model, processor,
    family)`` tuple, or a ready generator (e.g. ``VLLMGenerator``). ``prompt``: "grit", "vanilla" or a
    template with ``{question}``. ``judge``: any ``judge(pred, answer, question=, choices=, answer_type=)``
    → bool (default: the offline rule judge). ``chunk_size`` samples go to the generator per call (default
    ``batch_size``; raise it for vLLM) and are written when the call returns. Rerunning with the same
    ``out_dir`` resumes: finished samples are not generated again.

    ``shard=(i, n)`` (default under ``torchrun`` / ``accelerate launch``: the process's rank and world size)
    evaluates every n-th sample from the i-th into its own shard files; the shard that finishes last merges
    all of them into ``predictions.jsonl`` and ``metrics.json`` (see :func:`merge_shards`) and returns the
    merged metrics, the others return their own shard's (``run.merged`` false).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    launched = launched_shard()
    i, n = shard or launched or (0, 1)
    if not 0 <= i < n:
        raise InvalidValue(f"shard {i}/{n}: expected 0 <= i < n")
    pred_path, run_path = (out / name for name in shard_files(i, n))
    judge = judge or judge_answer
    samples = load_samples(data, image_root, limit)
    if not samples:
        raise InvalidValue("no records to evaluate")
    mine = samples[i::n]
    if launched and device is None:
        device = _rank_device()

    done = {r["key"]: r for r in read_predictions(pred_path, repair=True)}
    pending = [s for s in mine if s.key not in done]
    check_images(pending)
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
    if done:
        check_resume(pred_path, run_path, settings)
    run_info = {
        **settings,
        "data": list(dict.fromkeys(s.file for s in samples)),
        "batch_size": batch_size,
        "limit": limit,
        "judge": judge_name(judge),
        **({"shard": f"{i}/{n}"} if n > 1 else {}),
    }
    write_json(run_path, run_info)
    # Loaded only when there is something to generate: rescoring a finished run needs no model.
    generator = _make_generator(model, family, device, dtype, (min_pixels, max_pixels)) if pending else None

    # Biggest images and longest questions first: similar prompt lengths share a batch (less padding).
    pending.sort(key=lambda s: (-(s.record["width"] * s.record["height"]), -len(s.record["question"])))
    t0, n_new = time.perf_counter(), 0
    bar, task = _progress(progress, len(pending), len(done))
    with bar, open(pred_path, "a", encoding="utf-8") as f:
        batches = predict(
            generator,
            pending,
            judge=judge,
            step=chunk_size or batch_size,
            batch_size=batch_size,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            seed=seed,
            prompt_style=prompt,
        )
        for rows, failure in batches:
            append_predictions(f, rows)
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
        rewrite_predictions(pred_path, done.values())

    run = {
        **run_info,
        "n_generated": n_new,
        "n_resumed": len(mine) - n_new,
        "generation_seconds": round(seconds, 3),
        "samples_per_s": round(n_new / seconds, 3) if n_new and seconds > 0 else None,
    }
    if n == 1:
        metrics = compute_metrics([done[s.key] for s in samples])
        metrics["run"] = run
        write_json(out / METRICS, metrics)
        return metrics
    write_json(run_path, run)  # the shard's own counts and time, for the merged run's
    merged = merge_shards(out, samples, n, wait=True)
    if merged is not None:
        return merged
    metrics = compute_metrics([done[s.key] for s in mine])
    metrics["run"] = {**run, "merged": False}
    return metrics


def merge_shards(
    out_dir: str | os.PathLike, samples: Sequence[Sample], n: int, *, wait: bool = False
) -> dict[str, Any] | None:
    """Write ``predictions.jsonl`` (in data order) and ``metrics.json`` from the ``n`` shard files of a run;
    returns the metrics. Every sample must be in exactly one shard, judged as its shard's run says, and all
    shards must have been run with the same settings; else a :class:`PredictionsError` says what is wrong
    (or, with ``wait``, None while some samples are not written yet: other shards are still running)."""
    out = Path(out_dir)
    rows, missing = collect_shards(out, [s.key for s in samples], n)
    infos = [_read_run(out / shard_files(i, n)[1]) for i in range(n)] if not missing else []
    unjudged = [k for k, r in rows.items() if infos and r.get("judge") != infos[0].get("judge")]
    if missing or unjudged:
        if wait:
            return None
        first = (missing or unjudged)[0]
        raise PredictionsError(
            f"{out}: {len(missing)} of {len(samples)} samples are in no shard file and {len(unjudged)} are not "
            f"judged yet (first: {first!r}); finish every shard (rerun it), then merge"
        )
    differ = [k for k in SHARED if len({repr(r.get(k)) for r in infos}) > 1]
    if differ:
        raise PredictionsError(
            f"{out}: the shards were run with different {', '.join(differ)}; rerun them alike"
        )
    ordered = [rows[s.key] for s in samples]
    rewrite_predictions(out / PREDICTIONS, ordered)
    metrics = compute_metrics(ordered)
    n_new, seconds = (
        sum(r.get("n_generated", 0) for r in infos),
        max(r.get("generation_seconds", 0) for r in infos),
    )
    metrics["run"] = {
        **{k: infos[0].get(k) for k in (*SHARED, "batch_size")},
        "shards": n,
        "n_generated": n_new,
        "generation_seconds": seconds,  # the slowest shard's: the shards run side by side
        "samples_per_s": round(n_new / seconds, 3) if n_new and seconds > 0 else None,
    }
    write_json(out / METRICS, metrics)
    return metrics


def merge_eval(out_dir: str | os.PathLike, data: Sequence[str | os.PathLike] | None = None) -> dict[str, Any]:
    """:func:`merge_shards` for shards run as separate jobs (``--shard i/n``): the data, limit and image root
    are those the shards recorded, unless ``data`` is given."""
    out = Path(out_dir)
    n = shard_count(out)
    started = [out / shard_files(i, n)[1] for i in range(n) if (out / shard_files(i, n)[1]).is_file()]
    info = _read_run(started[0] if started else out / shard_files(0, n)[1])
    samples = load_samples(data or info["data"], info.get("image_root"), info.get("limit"))
    return merge_shards(out, samples, n)  # type: ignore[return-value]


def _read_run(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise PredictionsError(f"{path}: not found (that shard has not started)")
    return json.loads(path.read_text(encoding="utf-8"))


def _rank_device() -> str | None:
    """This process's GPU under a launcher (``LOCAL_RANK``; ranks share GPUs when there are fewer); None on CPU."""
    import torch

    n = torch.cuda.device_count()
    return f"cuda:{int(os.environ.get('LOCAL_RANK', '0')) % n}" if n else None
