"""VSR (cambridgeltl/visual-spatial-reasoning) official split jsonl → GRIT yes/no records.

VSR is caption verification: each line has a COCO image, a spatial ``caption`` and a ``label`` (1 = true). We ask
"Is it true that <caption>?" with answer "Yes"/"No". The source has no boxes and no image size, so sizes come from
the images (``image_root``: the merged COCO ``trainval2017/`` folder the VSR repo uses) or from ``sizes``.
Note: GRIT's own VSR test set is the Visual-CoT question form (see ``viscot``), not this one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from grit.data.convert.common import (
    SizeResolver,
    SizeSource,
    checked,
    fail,
    fill_template,
    iter_jsonl,
    require,
    short_repr,
)

DEFAULT_TEMPLATE = "Is it true that {caption}?"


def caption_to_statement(caption: str) -> str:
    """``"The cat is under the bed."`` → ``"the cat is under the bed"`` (final period dropped, sentence
    start lowercased unless the first word looks like an acronym, e.g. "TV")."""
    text = caption.strip().rstrip(".").rstrip()
    first = text.split(" ", 1)[0]
    if len(first) > 1 and first[0].isupper() and first[1:].islower():
        text = first[0].lower() + text[1:]
    return text


def convert_vsr(
    *paths: str | os.PathLike,
    image_root: str | os.PathLike | None = None,
    sizes: SizeSource = None,
    template: str = DEFAULT_TEMPLATE,
    split: str | None = None,
) -> list[dict[str, Any]]:
    """Convert one or more VSR jsonl files (``data/splits/*/{train,dev,test}.jsonl`` or the raw data files).

    ``split`` defaults to the file stem (``test``); ``id`` is ``<split folder>-<stem>-<line>``.
    """
    size_of = SizeResolver(image_root, sizes)
    records: list[dict[str, Any]] = []
    for path in paths:
        p = Path(path)
        for lineno, obj in iter_jsonl(p):
            where = f"line {lineno}"
            image = require(obj, "image", p, where, "a non-empty string")
            caption = require(obj, "caption", p, where, "a non-empty string")
            label = require(obj, "label", p, where)
            if isinstance(label, bool) or label not in (0, 1):
                raise fail(p, where, f"field 'label' must be 0 or 1, got {short_repr(label)}")
            width, height = size_of(image, p, where)
            rec = {
                "question": fill_template(template, "template", caption=caption_to_statement(caption)),
                "answer": "Yes" if int(label) == 1 else "No",
                "image": image,
                "width": width,
                "height": height,
                "bboxs": [],
                "dataset": "vsr",
                "split": split or p.stem,
                "answer_type": "yes/no",
                "id": f"{p.parent.name}-{p.stem}-{lineno}",
                "caption": caption,
                "relation": obj.get("relation"),
            }
            records.append(checked(rec, p, where))
    return records
