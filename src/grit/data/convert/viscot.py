"""Visual-CoT (deepcs233/Visual-CoT) → GRIT records. GRIT's VSR and GQA test sets are Visual-CoT benchmark items.

Three on-disk forms of the same items exist:

* ``viscot_benchmark/benchmark/<name>.json`` — a LLaVA conversation list. The ground-truth box appears twice:
  as ``image[1] = "<path>###[x1, y1, x2, y2]"`` (original pixels, truncated to int) and as the first gpt turn
  ``"[0.614, 0.619, 0.731, 0.773]"``, which is NOT x/W, y/H: it is normalised to the image padded to a square
  (LLaVA ``expand2square``), see :func:`box_from_expand2square`.
* ``viscot_benchmark/benchmark_det/<name>.jsonl`` — same items with the exact float box and the image size.
* ``viscot_dataset/*_cot_train.jsonl`` — already the GRIT schema (``convert_viscot_train``).

We prefer the det box (exact floats), then the ``###`` box, then the inverted gpt box, and check that the ones
present agree.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from grit.data.convert.common import (
    SizeResolver,
    SizeSource,
    answer_kind,
    check,
    checked,
    fail,
    iter_jsonl,
    load_container,
    optional,
    require,
    short_repr,
    size_field,
)
from grit.data.schema import GritRecord, is_number

BOX_PROMPT = (
    " Please provide the bounding box coordinate of the region that can help you answer the question better."
)
_HASH_BOX = re.compile(r"###\s*\[([^\]]*)\]\s*$")
_GPT_BOX = re.compile(r"^\s*\[([^\]]*)\]\s*$")


# ------------------------------------------------------------------------------ expand2square box frame


def _square_offsets(width: int, height: int) -> tuple[int, int, int]:
    """LLaVA ``expand2square`` pastes the image centred on a max(W, H) square: (side, dx, dy)."""
    side = max(width, height)
    return side, (side - width) // 2, (side - height) // 2


def box_to_expand2square(box: list[float], width: int, height: int, ndigits: int | None = 3) -> list[float]:
    """Original-pixel xyxy → Visual-CoT's normalised box on the padded square (what its gpt turn holds)."""
    side, dx, dy = _square_offsets(width, height)
    out = [(box[0] + dx) / side, (box[1] + dy) / side, (box[2] + dx) / side, (box[3] + dy) / side]
    return [round(v, ndigits) for v in out] if ndigits is not None else out


def box_from_expand2square(norm_box: list[float], width: int, height: int) -> list[float]:
    """Inverse of :func:`box_to_expand2square`: normalised padded-square box → original-pixel xyxy.

    Exact up to the 3-decimal rounding of the source, i.e. within ``0.0005 * max(W, H)`` pixels.
    """
    side, dx, dy = _square_offsets(width, height)
    x1, y1, x2, y2 = (float(v) for v in norm_box)
    return [x1 * side - dx, y1 * side - dy, x2 * side - dx, y2 * side - dy]


def _parse_numbers(text: str, source: Path, record: object, what: str) -> list[float]:
    try:
        nums = [float(t) for t in text.split(",")]
    except ValueError:
        raise fail(source, record, f"cannot parse {what} [{text}]") from None
    if not all(is_number(v) for v in nums):
        raise fail(source, record, f"{what} [{text}] has a non-finite number")
    if len(nums) != 4:
        raise fail(source, record, f"{what} [{text}] does not have 4 numbers")
    return nums


# ------------------------------------------------------------------------------------------ converters


def _load_det(path: Path) -> dict[Any, tuple[int, dict[str, Any]]]:
    """question_id → (line, det record) with the box as 4 floats and the size as positive ints."""
    det: dict[Any, tuple[int, dict[str, Any]]] = {}
    for lineno, obj in iter_jsonl(path):
        where = f"line {lineno}"
        qid = require(obj, "question_id", path, where, "a string or integer")
        box = require(obj, "bbox", path, where)
        if not isinstance(box, list) or len(box) != 4 or not all(is_number(v) for v in box):
            raise fail(path, where, f"field 'bbox': expected [x1, y1, x2, y2] numbers, got {short_repr(box)}")
        width, height = size_field(obj, "width", path, where), size_field(obj, "height", path, where)
        expression = optional(obj, "expression", path, where, "a string")
        det[qid] = (lineno, {"bbox": [float(v) for v in box], "width": width, "height": height,
                             "expression": expression})  # fmt: skip
    return det


def _turns(convs: Any, source: Path, where: str) -> tuple[list[str], list[str]]:
    """The human and gpt texts of a LLaVA conversation list, each turn checked."""
    check(convs, "conversations", source, where, "a list")
    turns: dict[str, list[str]] = {"human": [], "gpt": []}
    for i, turn in enumerate(convs):
        name = f"conversations[{i}]"
        check(turn, name, source, where, "a JSON object")
        speaker = optional(turn, "from", source, where, "a string")
        if speaker in turns:
            turns[speaker].append(require(turn, "value", source, where, "a string"))
    return turns["human"], turns["gpt"]


def convert_viscot(
    benchmark_json: str | os.PathLike,
    det_jsonl: str | os.PathLike | None = None,
    *,
    image_root: str | os.PathLike | None = None,
    sizes: SizeSource = None,
    basename: bool = False,
    check_gpt_box: bool = True,
) -> list[dict[str, Any]]:
    """Convert a Visual-CoT benchmark json (+ optionally its det jsonl) into GRIT records with original-pixel boxes.

    ``image`` keeps Visual-CoT's relative path (``cot/vsr/000000287427.jpg``; ``image_root`` = the folder holding
    ``cot/``) unless ``basename`` is set. Without the det file, sizes come from ``sizes`` or the images.
    ``id`` is Visual-CoT's ``question_id`` (not the list index: ids have gaps).
    """
    src = Path(benchmark_json)
    items = load_container(src, list, "benchmark items")
    det = _load_det(Path(det_jsonl)) if det_jsonl is not None else {}
    size_of = SizeResolver(image_root, sizes)
    records = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise fail(src, index, f"expected a JSON object, got {short_repr(item)}")
        qid = optional(item, "question_id", src, index, "a string or integer")
        qid = index if qid is None else qid
        where = f"{index} (question_id {qid})"
        images = require(item, "image", src, where)
        images = [images] if isinstance(images, str) else images
        if not isinstance(images, list) or not images or not all(isinstance(e, str) for e in images):
            raise fail(src, where, f"field 'image': expected a path or a list of paths, got {short_repr(images)}")
        image = images[0].split("###")[0]
        hash_box = None
        for entry in images:
            m = _HASH_BOX.search(entry)
            if m:
                hash_box = _parse_numbers(m.group(1), src, where, "field 'image': ### box")
        humans, gpts = _turns(require(item, "conversations", src, where), src, where)
        if not humans or len(gpts) < 2:
            raise fail(
                src, where, "field 'conversations': expected human question, gpt box, human, gpt answer turns"
            )
        question = humans[0].replace("<image>", "").strip()
        question = question.removesuffix(BOX_PROMPT.strip()).strip()
        answer = gpts[-1].strip()
        m = _GPT_BOX.match(gpts[0])
        gpt_box = _parse_numbers(m.group(1), src, where, "field 'conversations': gpt box") if m else None

        found = det.get(qid)
        if det_jsonl is not None and found is None:
            raise fail(src, where, f"question_id {qid} not found in {det_jsonl}")
        if found is not None:
            det_line, d = found
            det_where = f"{det_jsonl}:{det_line}"
            width, height, box = d["width"], d["height"], d["bbox"]
            if d["expression"] is not None and d["expression"].strip() != question:
                raise fail(
                    src,
                    where,
                    f"question {short_repr(question)} differs from the expression {short_repr(d['expression'])} "
                    f"at {det_where}",
                )
            if hash_box is not None and [int(v) for v in box] != [int(v) for v in hash_box]:
                raise fail(src, where, f"### box {hash_box} is not the truncated det box {box} at {det_where}")
        else:
            det_where = None
            width, height = size_of(image, src, where)
            if hash_box is not None:
                box = hash_box
            elif gpt_box is not None:
                box = box_from_expand2square(gpt_box, width, height)
            else:
                raise fail(src, where, "no ground-truth box (no ### box, no gpt box, no det file)")
        if check_gpt_box and gpt_box is not None:
            # hash boxes are truncated to int, so allow 1 px on top of the 3-decimal rounding
            tol = 0.0005 * max(width, height) + (1.0 if found is None and hash_box is not None else 0.0) + 1e-6
            back = box_from_expand2square(gpt_box, width, height)
            if max(abs(a - b) for a, b in zip(back, box, strict=True)) > tol:
                against = f" (det box and size from {det_where})" if det_where else ""
                raise fail(
                    src,
                    where,
                    f"gpt box {gpt_box} maps to {[round(v, 2) for v in back]} px, not the ground truth {box} "
                    f"(image {width}x{height}){against}; wrong image size?",
                )
        rec = {
            "question": question,
            "answer": answer,
            "image": Path(image).name if basename else image,
            "width": width,
            "height": height,
            "bboxs": [box],
            "dataset": item.get("dataset") or src.stem,
            "split": item.get("split"),
            "answer_type": answer_kind(answer),
            "id": qid,
        }
        records.append(checked(rec, src, where))
    return records


def convert_viscot_train(
    *paths: str | os.PathLike, image_root: str | os.PathLike | None = None
) -> list[dict[str, Any]]:
    """Visual-CoT ``viscot_dataset/*.jsonl`` is already the GRIT schema: validate and pass through.

    ``image_root`` is accepted for a uniform CLI; images are not opened (the records carry their size).
    """
    records = []
    for path in paths:
        p = Path(path)
        for lineno, obj in iter_jsonl(p):
            rec = GritRecord.from_dict(obj, where=f"{p}:{lineno}")
            if rec.dataset is None:
                rec.dataset = p.stem
            records.append(rec.to_dict())
    return records
