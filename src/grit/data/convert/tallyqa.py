"""TallyQA (manoja328/TallyQA) counting questions → GRIT records.

Written from the format documented in the official README — no real annotation file was available to us
(``tallyqa.zip`` holds ``train.json`` / ``test.json``, each a JSON list of records like
``{"answer": 4, "data_source": "imported_genome", "image": "VG_100K_2/2410408.jpg", "image_id": 92410408,
"issimple": false, "question": "How many headlights does the black bus have?", "question_id": 30095774}``).
TallyQA has no boxes and no image sizes; sizes come from the images (``image_root`` = the folder holding
``train2014/``, ``val2014/``, ``VG_100K/``, ``VG_100K_2/``) or from ``sizes``. GRIT's TallyQA records carry boxes
from an annotation the GRIT repo does not document; this converter cannot recreate those.
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
    short_repr,
)
from grit.errors import InvalidValue


def convert_tallyqa(
    path: str | os.PathLike,
    *,
    image_root: str | os.PathLike | None = None,
    sizes: SizeSource = None,
    subset: str | None = None,
    split: str | None = None,
) -> list[dict[str, Any]]:
    """Convert a TallyQA json list. ``subset``: ``"simple"`` / ``"complex"`` keeps only that ``issimple`` half.

    Answers are ints in the source and become strings (``answer_type`` ``"integer"``); ``dataset`` is ``tallyqa``
    (the GRIT counting reward keys on it); ``split`` defaults to the file stem.
    """
    if subset not in (None, "simple", "complex"):
        raise InvalidValue(f"subset must be None, 'simple' or 'complex', got {subset!r}")
    src = Path(path)
    items = load_container(src, list, "questions")
    size_of = SizeResolver(image_root, sizes)
    records = []
    for index, item in enumerate(items):
        check(item, None, src, index, "a JSON object")
        qid = optional(item, "question_id", src, index, "a string or integer")
        where = f"{index} (question_id {qid})"
        answer = require(item, "answer", src, where)
        if isinstance(answer, bool) or not isinstance(answer, int) or answer < 0:
            raise fail(src, where, f"field 'answer' must be a non-negative integer count, got {short_repr(answer)}")
        simple = item.get("issimple")
        if subset is not None and bool(simple) != (subset == "simple"):
            continue
        image = require(item, "image", src, where, "a non-empty string")
        width, height = size_of(image, src, where)
        rec = {
            "question": require(item, "question", src, where, "a non-empty string"),
            "answer": str(answer),
            "image": image,
            "width": width,
            "height": height,
            "bboxs": [],
            "dataset": "tallyqa",
            "split": split or src.stem,
            "answer_type": "integer",
            "id": index if qid is None else qid,
            "issimple": simple,
            "data_source": item.get("data_source"),
        }
        records.append(checked(rec, src, where))
    return records
