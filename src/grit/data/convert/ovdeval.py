"""OVDEval (om-ai-lab/OVDEval) COCO-style annotations → single-target grounding records (GRIT: position subset).

Written from the format documented in the repo's ``Evaluation.md`` / HF card — no real annotation file was
available to us. Per sub-task file: ``images`` [{id, file_name, width, height, text (positive labels),
neg_text (hard negatives)}], ``annotations`` [{image_id, category_id, bbox [x, y, w, h], iscrowd, ...}],
``categories`` [{id, name}]. Unlike COCO the vocabulary is per image. GRIT reduced OVDEval to single-target
detection scored by GIoU only: one record per (image, label) whose label has exactly one box in that image.
The question is ours (``template``); the answer is the label itself, since only the box is scored.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from grit.data.convert.common import (
    FILE,
    check,
    checked,
    clip_box,
    fail,
    fill_template,
    load_container,
    require,
    size_field,
    xywh_to_xyxy,
)

DEFAULT_TEMPLATE = 'Locate "{label}" in the image.'


def convert_ovdeval(
    annotation_json: str | os.PathLike,
    *,
    image_root: str | os.PathLike | None = None,
    subtask: str | None = None,
    single_target: bool = True,
    template: str = DEFAULT_TEMPLATE,
    split: str | None = None,
) -> list[dict[str, Any]]:
    """Convert one OVDEval sub-task file (``subtask`` defaults to its stem, e.g. ``position``).

    ``image`` is ``<subtask>/<file_name>`` (``image_root`` = OVDEval's ``images/`` folder; sizes are in the file,
    so images are not opened). Crowd boxes are ignored; with ``single_target=False`` a record lists every box of
    the label. Boxes xywh → xyxy, clipped to the image.
    """
    src = Path(annotation_json)
    data = load_container(src, dict, "COCO-style sections (images, annotations, categories)")
    subtask = subtask or src.stem
    categories = {}
    for i, c in enumerate(require(data, "categories", src, FILE, "a list")):
        check(c, None, src, f"category {i}", "a JSON object")
        cid = require(c, "id", src, f"category {i}", "a string or integer")
        categories[cid] = require(c, "name", src, f"category {cid}", "a non-empty string")
    images = {}
    for i, im in enumerate(require(data, "images", src, FILE, "a list")):
        check(im, None, src, f"image {i}", "a JSON object")
        images[require(im, "id", src, f"image {i}", "a string or integer")] = im
    groups: dict[tuple[Any, Any], list[dict[str, Any]]] = defaultdict(list)
    for i, ann in enumerate(require(data, "annotations", src, FILE, "a list")):
        check(ann, None, src, f"annotation {i}", "a JSON object")
        where = f"annotation {ann.get('id', i)}"
        image_id = require(ann, "image_id", src, where, "a string or integer")
        category_id = require(ann, "category_id", src, where, "a string or integer")
        if image_id not in images:
            raise fail(src, where, f"image_id {image_id} not in images")
        if category_id not in categories:
            raise fail(src, where, f"category_id {category_id} not in categories")
        if not ann.get("iscrowd"):
            groups[(image_id, category_id)].append(ann)
    records = []
    for (image_id, category_id), anns in groups.items():
        if single_target and len(anns) != 1:
            continue
        im = images[image_id]
        where = f"image {image_id} category {category_id}"
        width = size_field(im, "width", src, f"image {image_id}")
        height = size_field(im, "height", src, f"image {image_id}")
        file_name = require(im, "file_name", src, f"image {image_id}", "a non-empty string")
        label = categories[category_id]
        bboxs = []
        for ann in anns:
            awhere = f"annotation {ann.get('id', '?')}"
            xyxy = xywh_to_xyxy(require(ann, "bbox", src, awhere), src, awhere, "field 'bbox'")
            box = clip_box(xyxy, width, height)
            if box is not None:
                bboxs.append(box)
        if not bboxs:
            continue  # degenerate annotation: nothing to ground
        rec = {
            "question": fill_template(template, "template", label=label),
            "answer": label,
            "image": f"{subtask}/{file_name}",
            "width": width,
            "height": height,
            "bboxs": bboxs,
            "dataset": "ovdeval",
            "split": split,
            "answer_type": "box",
            "id": f"{subtask}-{image_id}-{category_id}",
            "question_type": subtask,
            "image_id": image_id,
            "category_id": category_id,
            "neg_text": im.get("neg_text"),
        }
        records.append(checked(rec, src, where))
    return records
