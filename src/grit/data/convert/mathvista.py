"""MathVista (lupantech/MathVista) ``testmini.json`` (+ ``query.json``) → GRIT records.

The source is one JSON object keyed by pid. ``answer`` is always a string (for multiple choice it is the choice
text, not a letter); ``choices``, ``precision``, ``unit``, ``answer_type`` and ``question_type`` are what the
official scorer needs, so they are carried over. The question we ask is the official ``query`` (hint + question
+ unit + lettered choices) from ``query.json`` or from the record itself (HF export); the bare question is kept
as ``raw_question``. Image sizes come from ``metadata.img_width/img_height``. No boxes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from grit.data.convert.common import (
    SizeResolver,
    SizeSource,
    check,
    checked,
    fail,
    load_container,
    optional,
    require,
    size_field,
)

METADATA_FIELDS = ("language", "source", "category", "task", "context", "grade", "skills")


def convert_mathvista(
    testmini_json: str | os.PathLike,
    query_json: str | os.PathLike | None = None,
    *,
    image_root: str | os.PathLike | None = None,
    sizes: SizeSource = None,
    use_query: bool = True,
) -> list[dict[str, Any]]:
    """Convert MathVista problems. ``image`` stays ``images/<pid>.jpg`` (``image_root`` = MathVista's data folder).

    With ``use_query`` (default) every problem must have a query (from ``query_json`` or its own ``query``
    field); with ``use_query=False`` the bare question is asked.
    """
    src = Path(testmini_json)
    problems = load_container(src, dict, "problems keyed by pid")
    queries = load_container(query_json, dict, "queries keyed by pid") if query_json is not None else {}
    size_of = SizeResolver(image_root, sizes)
    records = []
    for pid, p in problems.items():
        where = f"pid {pid}"
        check(p, None, src, where, "a JSON object")
        raw_question = require(p, "question", src, where, "a string")
        question = raw_question
        if use_query:
            if pid in queries:
                question = check(queries[pid], None, query_json, f"pid {pid}", "a string")
            else:
                question = optional(p, "query", src, where, "a string")
            if question is None:
                hint = f" in {query_json}" if query_json is not None else " (pass query.json)"
                raise fail(src, where, f"no query for this pid{hint}; or use use_query=False")
        meta = optional(p, "metadata", src, where, "a JSON object") or {}
        image = require(p, "image", src, where, "a non-empty string")
        if meta.get("img_width") is not None and meta.get("img_height") is not None:
            width = size_field(meta, "img_width", src, f"{where} metadata")
            height = size_field(meta, "img_height", src, f"{where} metadata")
        else:
            width, height = size_of(image, src, where)
        rec = {
            "question": question,
            "answer": str(require(p, "answer", src, where, "a string or number")),
            "image": image,
            "width": width,
            "height": height,
            "bboxs": [],
            "dataset": "mathvista",
            "split": meta.get("split"),
            "choices": p.get("choices"),
            "answer_type": p.get("answer_type"),
            "precision": p.get("precision"),
            "unit": p.get("unit"),
            "id": p.get("pid", pid),
            "question_type": p.get("question_type"),
            "raw_question": raw_question,
            **{k: meta.get(k) for k in METADATA_FIELDS},
        }
        records.append(checked(rec, src, where))
    return records
