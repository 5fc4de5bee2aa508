"""GQA official questions (+ optional scene graphs) → GRIT records.

A questions file is one JSON object keyed by question id (a string; leading zeros matter). Each question's
``annotations`` maps token positions in the question / answer / fullAnswer to scene-graph object ids; the
ground-truth boxes are those objects' boxes in ``{train,val}_sceneGraphs.json`` (``x, y, w, h`` in original
pixels → xyxy). No real scene-graph file was available to us: its layout follows the official GQA documentation.
testdev/test/challenge have no scene graphs: their records get no boxes.
Note: GRIT's own GQA test set is the Visual-CoT form of GQA (see ``viscot``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from grit.data.convert.common import (
    SizeResolver,
    SizeSource,
    answer_kind,
    check,
    checked,
    clip_box,
    fail,
    load_container,
    optional,
    require,
    size_field,
    xywh_to_xyxy,
)

ANNOTATION_FIELDS = ("question", "answer", "fullAnswer")


def referenced_objects(annotations: dict[str, Any], fields: tuple[str, ...] = ANNOTATION_FIELDS) -> list[str]:
    """Object ids referenced by the question/answer annotations, first-seen order, no duplicates."""
    seen: dict[str, None] = {}
    for name in fields:
        for _, value in sorted((annotations.get(name) or {}).items(), key=lambda kv: _token_pos(kv[0])):
            for oid in str(value).split(","):
                if oid.strip():
                    seen.setdefault(oid.strip(), None)
    return list(seen)


def _annotations(q: dict[str, Any], fields: tuple[str, ...], source: Path, where: str) -> dict[str, Any]:
    """The question's ``annotations``, checked: an object of ``{token position: object id(s)}`` maps."""
    annotations = optional(q, "annotations", source, where, "a JSON object") or {}
    for name in fields:
        value = optional(annotations, name, source, where, "a JSON object") or {}
        for pos, oid in value.items():
            check(oid, f"annotations.{name}[{pos!r}]", source, where, "a string or integer")
    return annotations


def _token_pos(key: str) -> int:
    """Annotation keys are token indices ("5") or spans ("3:5")."""
    head = key.split(":")[0]
    return int(head) if head.isdigit() else 0


def convert_gqa(
    questions_json: str | os.PathLike,
    scene_graphs_json: str | os.PathLike | None = None,
    *,
    image_root: str | os.PathLike | None = None,
    sizes: SizeSource = None,
    fields: tuple[str, ...] | list[str] | str = ANNOTATION_FIELDS,
    split: str | None = None,
) -> list[dict[str, Any]]:
    """Convert a GQA ``*_questions.json`` file; boxes only when ``scene_graphs_json`` is given.

    ``image`` is ``<imageId>.jpg`` (``image_root`` = GQA's ``images/`` folder). Sizes come from the scene graph,
    else ``sizes``, else the image files. Boxes are clipped to the image (a few scene-graph boxes overhang it);
    a referenced object absent from the scene graph is an error. ``split`` defaults to the file stem without
    ``_questions`` (``val_balanced``).
    """
    src = Path(questions_json)
    questions = load_container(src, dict, "questions")
    graphs: dict[str, Any] = {}
    if scene_graphs_json is not None:
        graphs = load_container(scene_graphs_json, dict, "scene graphs")
    if isinstance(fields, str):  # from the command line: "question,answer"
        fields = tuple(f.strip() for f in fields.split(",") if f.strip())
    size_of = SizeResolver(image_root, sizes)
    split = split or src.stem.removesuffix("_questions")
    records = []
    for qid, q in questions.items():
        where = f"question {qid}"
        check(q, None, src, where, "a JSON object")
        image_id = str(require(q, "imageId", src, where, "a string or integer"))
        image = f"{image_id}.jpg"
        answer = require(q, "answer", src, where, "a string")
        annotations = _annotations(q, tuple(fields), src, where)
        bboxs: list[list[float]] = []
        if scene_graphs_json is not None:
            graph = graphs.get(image_id)
            if graph is None:
                raise fail(src, where, f"image {image_id} not in scene graphs {scene_graphs_json}")
            gwhere = f"image {image_id}"
            check(graph, None, scene_graphs_json, gwhere, "a JSON object")
            width = size_field(graph, "width", scene_graphs_json, gwhere)
            height = size_field(graph, "height", scene_graphs_json, gwhere)
            objects = optional(graph, "objects", scene_graphs_json, gwhere, "a JSON object") or {}
            for oid in referenced_objects(annotations, tuple(fields)):
                obj = objects.get(oid)
                if obj is None:
                    raise fail(
                        src,
                        where,
                        f"object {oid} not in the scene graph of image {image_id} in {scene_graphs_json}",
                    )
                owhere = f"{gwhere} object {oid}"
                check(obj, None, scene_graphs_json, owhere, "a JSON object")
                raw = [obj.get(k) for k in ("x", "y", "w", "h")]
                xyxy = xywh_to_xyxy(raw, scene_graphs_json, owhere, "fields x, y, w, h")
                box = clip_box(xyxy, width, height)
                if box is not None:
                    bboxs.append(box)
        else:
            width, height = size_of(image, src, where)
        types = optional(q, "types", src, where, "a JSON object") or {}
        rec = {
            "question": require(q, "question", src, where, "a string"),
            "answer": answer,
            "image": image,
            "width": width,
            "height": height,
            "bboxs": bboxs,
            "dataset": "gqa",
            "split": split,
            "answer_type": answer_kind(answer),
            "id": qid,
            "question_type": types.get("structural"),
            "full_answer": q.get("fullAnswer"),
            "detailed_type": types.get("detailed"),
        }
        records.append(checked(rec, src, where))
    return records
