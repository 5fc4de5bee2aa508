"""Cross-modal correlation, the paper's check that a chain's boxes match its words, for real data.

For each prediction with boxes, an image-reading LLM judge gets the reasoning text with every box replaced by
``[region i]`` and two pictures: the image with the model's boxes drawn and numbered, and the image with as
many random boxes of the same sizes, numbered the same way, in the same colours. It says which picture the
text describes. The share of answers naming the model's picture is the correlation: 0.5 is chance (the boxes
say nothing the words say), 1.0 is every chain's boxes matching its words. The random boxes and the order of
the two pictures are drawn from the seed and the sample key, so a rerun asks the same questions and is
answered from the judge's cache.

On the shapes world :func:`grit.eval.scorers.default.label_match_rate` measures the same thing exactly.
"""

from __future__ import annotations

import io
import json
import os
import random
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from grit.boxes import Box, Frame
from grit.chain import parse
from grit.eval.predictions import METRICS, PREDICTIONS, PredictionsError, read_predictions, write_json
from grit.files import atomic_write

CORRELATION = "correlation.jsonl"
MIN_SIDE = 336  # tiny images (the 84 px shapes) are enlarged by a whole factor so a judge can see the boxes
MAX_SIDE = 1024  # large ones shrunk: the judge's image budget, not detail, decides


class PictureJudge(Protocol):
    def pick_picture(self, text: str, first: bytes, second: bytes) -> int: ...


def region_text(completion: str, frame: Frame | None) -> tuple[str, list[Box]]:
    """The completion with each valid box written as ``[region i]`` (i from 1, in text order), and those boxes
    in original-image pixels. Coordinates are taken out so the judge compares pictures, not numbers."""
    chain = parse(completion, frame)
    out, boxes, end = [], [], 0
    for cb in chain.boxes:
        if cb.box is None:
            continue
        start, stop = cb.span
        boxes.append(frame.to_pixels(cb.box) if frame is not None else cb.box)
        out += [completion[end:start], f"[region {len(boxes)}]"]
        end = stop
    out.append(completion[end:])
    return "".join(out), boxes


def random_boxes(boxes: list[Box], width: int, height: int, rng: random.Random) -> list[Box]:
    """One box per given box, of the same size (clipped to the image), at a uniformly random place."""
    out = []
    for b in boxes:
        w, h = min(max(b.width, 1.0), width), min(max(b.height, 1.0), height)
        x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
        out.append(Box(x, y, x + w, y + h))
    return out


def picture(image: Image.Image, boxes: list[Box]) -> bytes:
    """PNG bytes of ``image`` (resized into MIN_SIDE..MAX_SIDE) with ``boxes`` drawn and numbered 1, 2, ..."""
    from grit.viz import draw_boxes

    w, h = image.size
    scale = max(1, MIN_SIDE // min(w, h)) if min(w, h) < MIN_SIDE else min(1.0, MAX_SIDE / max(w, h))
    if scale != 1:
        resample = Image.NEAREST if scale > 1 else Image.LANCZOS
        image = image.resize((round(w * scale), round(h * scale)), resample)
    scaled = [b.scaled(scale, scale) for b in boxes]
    drawn = draw_boxes(image, scaled, labels=[str(i + 1) for i in range(len(boxes))])
    buf = io.BytesIO()
    drawn.save(buf, format="PNG")
    return buf.getvalue()


def judge_row(row: dict[str, Any], judge: PictureJudge, seed: int) -> dict[str, Any] | None:
    """One prediction's verdict ``{key, dataset, n_boxes, model_first, picked_model}``; None without boxes."""
    frame = Frame(**row["frame"]) if isinstance(row.get("frame"), dict) else None
    text, boxes = region_text(row["completion"], frame)
    if not boxes:
        return None
    path = row.get("image_path")
    try:
        image = Image.open(path).convert("RGB")
    except (OSError, TypeError, ValueError) as e:
        raise PredictionsError(f"sample {row.get('key')}: field 'image_path': cannot read {path!r} ({e})") from e
    rng = random.Random(f"{seed}-{row['key']}")
    rand = random_boxes(boxes, *image.size, rng)
    model_first = rng.random() < 0.5
    mine, other = picture(image, boxes), picture(image, rand)
    pick = judge.pick_picture(text, *((mine, other) if model_first else (other, mine)))
    return {
        "key": row["key"],
        "dataset": str(row.get("dataset", "unknown")),
        "n_boxes": len(boxes),
        "model_first": model_first,
        "picked_model": pick == (0 if model_first else 1),
    }


def correlation_metrics(verdicts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{dataset: {"cross_modal_correlation", "n_correlation"}}`` plus ``"all"``."""
    groups: dict[str, list[bool]] = {"all": []}
    for v in verdicts:
        groups["all"].append(v["picked_model"])
        groups.setdefault(v["dataset"], []).append(v["picked_model"])
    return {
        name: {"cross_modal_correlation": sum(p) / len(p) if p else None, "n_correlation": len(p)}
        for name, p in groups.items()
    }


def score_correlation(
    eval_dir: str | os.PathLike, judge: PictureJudge, *, seed: int = 0, limit: int | None = None
) -> dict[str, Any]:
    """Judge every prediction with boxes in ``eval_dir`` (the first ``limit`` of them), write the verdicts to
    ``correlation.jsonl`` and the rates into ``metrics.json``'s datasets; returns the updated metrics."""
    out = Path(eval_dir)
    metrics_path = out / METRICS
    if not metrics_path.is_file():
        raise PredictionsError(f"{out}: no {METRICS} (run grit eval first)")
    rows = read_predictions(out / PREDICTIONS)
    verdicts = []
    for row in rows:
        if limit is not None and len(verdicts) >= limit:
            break
        v = judge_row(row, judge, seed)
        if v is not None:
            verdicts.append(v)
    atomic_write(out / CORRELATION, "".join(json.dumps(v) + "\n" for v in verdicts))
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    for name, entry in correlation_metrics(verdicts).items():
        if name in metrics.get("datasets", {}):
            metrics["datasets"][name].update(entry)
    metrics["correlation"] = {"judge": getattr(judge, "model", type(judge).__name__), "seed": seed, "limit": limit}
    write_json(metrics_path, metrics)
    return metrics
