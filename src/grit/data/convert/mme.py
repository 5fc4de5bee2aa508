"""MME eval_tool txt files → GRIT yes/no records, kept in the per-image pairs that acc+ needs.

Each subtask file (``count.txt``, ``position.txt``, ``existence.txt``, ...) has lines
``image_name \\t question \\t Yes|No`` and exactly two consecutive lines per image (one Yes, one No); a 4th column
(a model's response, in result files) is ignored. MME's score counts an image only when BOTH its questions are
right (acc+), so every record carries ``group`` = ``<subtask>/<image>`` and the pair is checked here.
Questions are kept verbatim (some lack the "?" before " Please answer yes or no.").
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from grit.data.convert.common import SizeResolver, SizeSource, fail, read_text
from grit.data.schema import is_file

IMAGE_SUFFIXES = (".jpg", ".png", ".jpeg", ".JPG", ".PNG", ".JPEG")


def _image_rel(subtask: str, name: str, image_root: Path | None) -> str:
    """The MME release keeps images beside the txt (``<subtask>/x.jpg``) or in ``<subtask>/images/``."""
    candidates = [f"{subtask}/{name}", f"{subtask}/images/{name}"]
    if image_root is not None:
        for rel in candidates:
            if is_file(image_root / rel):
                return rel
    return candidates[0]


def _real_image_name(stem: str, subtask: str, image_root: Path | None, known: Iterable[str]) -> str | None:
    """The image behind a LLaVA result's ``<stem>.txt``: a file ``<stem>.<jpg|png...>`` under ``image_root``
    (beside the txt or in ``images/``), else a key of the caller's sizes with that stem; None when not found."""
    if image_root is not None:
        for folder in (image_root / subtask, image_root / subtask / "images"):
            for suffix in IMAGE_SUFFIXES:
                if is_file(folder / f"{stem}{suffix}"):
                    return f"{stem}{suffix}"
    names = sorted({Path(k).name for k in known if Path(k).stem == stem and Path(k).suffix in IMAGE_SUFFIXES})
    return names[0] if len(names) == 1 else None


def convert_mme(
    *paths: str | os.PathLike,
    image_root: str | os.PathLike | None = None,
    sizes: SizeSource = None,
    require_pairs: bool = True,
) -> list[dict[str, Any]]:
    """Convert MME subtask files; the subtask is the file stem.

    ``image`` is ``<subtask>/<image name>`` (``image_root`` = ``MME_Benchmark_release_version``); sizes come from
    the images or from ``sizes`` (keyed by image name). ``id`` is ``<subtask>/<line>``.
    """
    size_of = SizeResolver(image_root, sizes)
    root = Path(image_root) if image_root is not None else None
    records: list[dict[str, Any]] = []
    for path in paths:
        p = Path(path)
        subtask = p.stem
        lines = read_text(p).splitlines()
        rows = []
        for lineno, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            cols = raw.rstrip("\r").split("\t")
            if len(cols) < 3:
                raise fail(p, f"line {lineno}", f"expected 'image<TAB>question<TAB>answer', got {raw!r}")
            name, question, answer = cols[0].strip(), cols[1].strip(), cols[2].strip()
            if not name or not question:
                raise fail(p, f"line {lineno}", f"empty {'image name' if not name else 'question'} in {raw!r}")
            if name.endswith(".txt"):  # LLaVA's MME answers name the question file, not the image
                real = _real_image_name(name[:-4], subtask, root, size_of.sizes)
                if real is None:
                    raise fail(
                        p,
                        f"line {lineno}",
                        f"column 1 is {name!r}, a question file (LLaVA's MME answers), not an image; pass "
                        "image_root (MME_Benchmark_release_version) or sizes keyed by image name to find it",
                    )
                name = real
            if answer not in ("Yes", "No"):
                raise fail(p, f"line {lineno}", f"ground truth must be Yes or No, got {answer!r}")
            rows.append((lineno, name, question, answer))
        if require_pairs:
            if len(rows) % 2:
                raise fail(p, f"line {rows[-1][0]}", "odd number of questions: MME needs two per image")
            for a, b in zip(rows[::2], rows[1::2], strict=True):
                if a[1] != b[1]:
                    raise fail(p, f"line {a[0]}", f"image {a[1]} is not followed by its second question")
                if {a[3], b[3]} != {"Yes", "No"}:
                    raise fail(p, f"line {a[0]}", f"image {a[1]}: expected one Yes and one No question")
        for lineno, name, question, answer in rows:
            image = _image_rel(subtask, name, root)
            width, height = size_of(image, p, f"line {lineno}")
            records.append(
                {
                    "question": question,
                    "answer": answer,
                    "image": image,
                    "width": width,
                    "height": height,
                    "bboxs": [],
                    "dataset": "mme",
                    "answer_type": "yes/no",
                    "id": f"{subtask}/{lineno}",
                    "question_type": subtask,
                    "group": f"{subtask}/{name}",
                    "image_name": name,
                }
            )
    return records
