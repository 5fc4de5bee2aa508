"""The GRIT jsonl record: one image-question-answer triplet per line, with optional ground-truth boxes.

This is the format of the released GRIT data (Visual-CoT metadata verbatim for VSR/GQA)::

    {"question": "What is across from the truck?", "answer": "tv", "image": "000000410123.jpg",
     "width": 640, "height": 354, "bboxs": [[343.87, 94.03, 396.81, 126.06]], "dataset": "vsr", "split": "train"}

Boxes are xyxy in ORIGINAL image pixels. Everything that reads or writes these files goes through here, so bad
data is reported once, as ``file:line: field 'name': message``, instead of failing deep inside training.
Only the stdlib is needed; PIL is imported lazily for the optional image check.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grit.boxes import Box
from grit.errors import GritUserError
from grit.files import atomic_write

# Boxes may poke out of the image by this many pixels, or this fraction of the side (annotation tools round).
BOX_TOLERANCE_PX = 2.0
BOX_TOLERANCE_FRAC = 0.01
# Larger than any real image (PIL refuses ~9500 x 9500 by default); a bigger "size" is a data error.
MAX_IMAGE_SIDE = 1_000_000
# How many errors GritDataError spells out before summarising the rest.
MAX_REPORTED_ERRORS = 10

REQUIRED_FIELDS = ("question", "answer", "image", "width", "height")
# GritRecord's optional fields besides ``bboxs``, in record order (the order ``to_dict`` writes them).
OPTIONAL_FIELDS = ("dataset", "split", "choices", "answer_type", "precision", "unit", "id", "question_type")
OPTIONAL_STR_FIELDS = ("dataset", "split", "answer_type", "unit", "question_type")
KNOWN_FIELDS = (*REQUIRED_FIELDS, "bboxs", *OPTIONAL_FIELDS)


class GritDataError(GritUserError, ValueError):
    """Invalid GRIT data; the message lists where (file:line:field) and why."""


@dataclass(frozen=True)
class ValidationError:
    """One problem in a data file."""

    file: str
    line: int  # 1-based; 0 for problems with the file as a whole
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: field '{self.field}': {self.message}" if self.field else f"{where}: {self.message}"


def errors_to_exception(errors: list[ValidationError]) -> GritDataError:
    """One error: its own line; several: a count, then one line each (the first MAX_REPORTED_ERRORS)."""
    if len(errors) == 1:
        return GritDataError(str(errors[0]))
    lines = [str(e) for e in errors[:MAX_REPORTED_ERRORS]]
    if len(errors) > MAX_REPORTED_ERRORS:
        lines.append(f"... and {len(errors) - MAX_REPORTED_ERRORS} more errors")
    return GritDataError(f"{len(errors)} invalid GRIT data error(s):\n  " + "\n  ".join(lines))


@dataclass
class GritRecord:
    """One validated GRIT example. Unknown keys are kept in ``extra`` and written back unchanged."""

    question: str
    answer: str
    image: str
    width: int
    height: int
    bboxs: list[list[float]] = field(default_factory=list)
    dataset: str | None = None
    split: str | None = None
    choices: list[str] | None = None
    answer_type: str | None = None
    precision: int | None = None
    unit: str | None = None
    id: str | int | None = None
    question_type: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def boxes(self) -> list[Box]:
        """Ground-truth boxes in original-image pixels."""
        return [Box(*b) for b in self.bboxs]

    def image_path(self, image_root: str | os.PathLike | None = None) -> Path:
        """Where the image lives: ``image`` itself when absolute, else joined to ``image_root`` (if given)."""
        p = Path(self.image)
        return p if p.is_absolute() or image_root is None else Path(image_root) / p

    def to_dict(self) -> dict[str, Any]:
        """The jsonl form: required fields and ``bboxs`` always, other optional fields only when set."""
        out: dict[str, Any] = {
            "question": self.question,
            "answer": self.answer,
            "image": self.image,
            "width": self.width,
            "height": self.height,
            "bboxs": [list(b) for b in self.bboxs],
        }
        for name in OPTIONAL_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        for k, v in self.extra.items():
            out.setdefault(k, v)
        return out

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any], where: str = "record") -> GritRecord:
        """Validate a dict and build a record; raises :class:`GritDataError` naming ``where`` and the field."""
        record, errors = parse_record(obj, file=where, line=0)
        if errors:
            raise errors_to_exception(errors)
        assert record is not None
        return record


# ------------------------------------------------------------------------------------------- validation


def is_number(v: Any) -> bool:
    """A finite int or float, not a bool (an int too large for a float is not a usable number)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def as_int(v: Any) -> int | None:
    """An int, or an integral float (``640.0``); None for anything else."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        return int(v)
    return None


def image_side(v: Any) -> int | None:
    """A width or height: an integer (or integral float) in ``1..MAX_IMAGE_SIDE``; None for anything else."""
    side = as_int(v)
    return side if side is not None and 0 < side <= MAX_IMAGE_SIDE else None


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr`` cut to ``limit`` characters, so a huge bad value still gives a one-line error."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_box(raw: Any, width: int | None, height: int | None) -> tuple[list[float] | None, str | None]:
    """Validate one xyxy box in original pixels; returns (box, None) or (None, reason)."""
    if not isinstance(raw, (list, tuple)) or len(raw) != 4:
        return None, f"expected [x1, y1, x2, y2], got {raw!r}"
    if not all(is_number(v) for v in raw):
        return None, f"box {raw!r} has a non-numeric or non-finite coordinate"
    x1, y1, x2, y2 = (float(v) for v in raw)
    if x1 >= x2:
        return None, f"box {list(raw)} has x1 >= x2"
    if y1 >= y2:
        return None, f"box {list(raw)} has y1 >= y2"
    if width is not None and height is not None:
        tx = max(BOX_TOLERANCE_PX, BOX_TOLERANCE_FRAC * width)
        ty = max(BOX_TOLERANCE_PX, BOX_TOLERANCE_FRAC * height)
        if x1 < -tx or y1 < -ty or x2 > width + tx or y2 > height + ty:
            return None, f"box {list(raw)} lies outside the {width}x{height} image"
    return [x1, y1, x2, y2], None


def parse_record(
    obj: Any,
    *,
    file: str,
    line: int,
    image_root: str | os.PathLike | None = None,
    check_images: bool = False,
) -> tuple[GritRecord | None, list[ValidationError]]:
    """Validate one decoded jsonl line; returns the record (None if invalid) and every error found."""
    errors: list[ValidationError] = []

    def err(fld: str | None, msg: str) -> None:
        errors.append(ValidationError(file, line, fld, msg))

    if not isinstance(obj, Mapping):
        err(None, f"expected a JSON object, got {type(obj).__name__}")
        return None, errors
    for name in REQUIRED_FIELDS:
        if name not in obj or obj[name] is None:
            err(name, "missing required field")

    question = obj.get("question")
    if question is not None and not isinstance(question, str):
        err("question", f"expected a string, got {type(question).__name__}")
    answer = obj.get("answer")
    if answer is not None:
        if isinstance(answer, str):
            pass
        elif is_number(answer):
            answer = str(answer)  # TallyQA-style integer answers; the GRIT loader does str() too
        else:
            err("answer", f"expected a string or number, got {answer!r}")
    image = obj.get("image")
    if image is not None and (not isinstance(image, str) or not image):
        err("image", f"expected a non-empty path string, got {image!r}")

    size: dict[str, int | None] = {}
    for name in ("width", "height"):
        raw = obj.get(name)
        size[name] = image_side(raw) if raw is not None else None
        if raw is not None and size[name] is None:
            err(name, f"expected a positive integer up to {MAX_IMAGE_SIDE}, got {short_repr(raw)}")
    width, height = size["width"], size["height"]

    bboxs: list[list[float]] = []
    raw_boxes = obj.get("bboxs")
    if raw_boxes is not None:
        if not isinstance(raw_boxes, list):
            err("bboxs", f"expected a list of [x1, y1, x2, y2] boxes, got {raw_boxes!r}")
        elif raw_boxes and all(is_number(v) for v in raw_boxes):
            err("bboxs", f"expected a list of boxes, got a flat list {raw_boxes!r} (wrap it: [[...]])")
        else:
            for i, rb in enumerate(raw_boxes):
                box, why = _check_box(rb, width, height)
                if why:
                    err(f"bboxs[{i}]", why)
                else:
                    bboxs.append(box)  # type: ignore[arg-type]

    optional: dict[str, Any] = {}
    for name in OPTIONAL_STR_FIELDS:
        v = obj.get(name)
        if v is not None and not isinstance(v, str):
            err(name, f"expected a string, got {v!r}")
        optional[name] = v
    choices = obj.get("choices")
    if choices is not None:
        if not isinstance(choices, list) or not all(isinstance(c, str) or is_number(c) for c in choices):
            err("choices", f"expected a list of strings, got {choices!r}")
        else:
            choices = [c if isinstance(c, str) else str(c) for c in choices]
    precision = obj.get("precision")
    if precision is not None:
        p = as_int(precision)
        if p is None or p < 0:
            err("precision", f"expected a non-negative integer, got {precision!r}")
        precision = p
    rid = obj.get("id")
    if rid is not None and (isinstance(rid, bool) or not isinstance(rid, (str, int))):
        err("id", f"expected a string or integer, got {rid!r}")

    if check_images and isinstance(image, str) and image and width and height:
        path = Path(image) if Path(image).is_absolute() or image_root is None else Path(image_root) / image
        actual, why = _read_size(path)
        if why:
            err("image", why)
        elif actual != (width, height):
            err("image", f"{path} is {actual[0]}x{actual[1]} but the record says {width}x{height}")

    if errors:
        return None, errors
    record = GritRecord(
        question=question,
        answer=answer,
        image=image,
        width=width,
        height=height,
        bboxs=bboxs,
        choices=choices,
        precision=precision,
        id=rid,
        extra={k: v for k, v in obj.items() if k not in KNOWN_FIELDS},
        **optional,
    )
    return record, errors


def _read_size(path: Path) -> tuple[tuple[int, int], str | None]:
    if not is_file(path):
        return (0, 0), f"image not found: {path}"
    try:
        return image_size(path), None
    except Exception as e:  # PIL raises several unrelated types for broken files
        return (0, 0), f"cannot read image {path}: {e}"


def is_file(path: Path) -> bool:
    """``path.is_file()``, False (not an error) for a name the OS cannot hold: too long, or with a NUL byte."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` of an image file, reading only its header."""
    from PIL import Image

    with Image.open(path) as im:
        return im.size


# ---------------------------------------------------------------------------------------------- files


def scan_jsonl(
    path: str | os.PathLike, image_root: str | os.PathLike | None, check_images: bool
) -> tuple[list[GritRecord], list[ValidationError]]:
    """All valid records and all errors of one file (``image_root`` already resolved; see below)."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], [ValidationError(name, 0, None, "file not found")]
    except (OSError, UnicodeDecodeError) as e:
        return [], [ValidationError(name, 0, None, f"cannot read file: {e}")]
    records: list[GritRecord] = []
    errors: list[ValidationError] = []
    for lineno, obj, bad in jsonl_lines(text):
        if bad:
            errors.append(ValidationError(name, lineno, None, bad))
            continue
        rec, errs = parse_record(
            obj, file=name, line=lineno, image_root=image_root, check_images=check_images
        )
        errors.extend(errs)
        if rec is not None:
            records.append(rec)
    if not records and not errors:
        errors.append(ValidationError(name, 0, None, "no records (empty file)"))
    return records, errors


def nonblank_lines(text: str) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` for each non-blank line. Lines end at "\n" only, as JSON Lines says: a raw U+2028
    or NEL inside a JSON string (valid JSON) is not a line break, as ``str.splitlines()`` would make it."""
    for lineno, raw in enumerate(text.split("\n"), start=1):
        if raw.strip():
            yield lineno, raw


def jsonl_lines(text: str) -> Iterator[tuple[int, Any, str | None]]:
    """``(line number, object, None)`` for each non-blank line of jsonl text, or ``(line number, None, why)`` for
    a line that is not JSON: the one decoder behind every jsonl reader, so all of them name file:line alike."""
    for lineno, raw in nonblank_lines(text):
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            yield lineno, None, f"invalid JSON: {e.msg} (column {e.colno})"
            continue
        except RecursionError:
            yield lineno, None, "invalid JSON: nested too deeply"
            continue
        yield lineno, obj, None


def default_image_root(path: str | os.PathLike, image_root: str | os.PathLike | None) -> Path:
    """Relative ``image`` paths resolve against ``image_root``, or the jsonl file's own folder when not given."""
    return Path(image_root) if image_root is not None else Path(path).resolve().parent


def validate_file(
    path: str | os.PathLike, image_root: str | os.PathLike | None = None, check_images: bool = True
) -> list[ValidationError]:
    """Every problem in a GRIT jsonl file (empty list when it is valid). Never raises for bad data."""
    return scan_jsonl(path, default_image_root(path, image_root), check_images)[1]


def read_jsonl(
    path: str | os.PathLike, image_root: str | os.PathLike | None = None, check_images: bool = False
) -> list[GritRecord]:
    """Read and validate a GRIT jsonl file; raises one :class:`GritDataError` listing the first errors."""
    records, errors = scan_jsonl(path, default_image_root(path, image_root), check_images)
    if errors:
        raise errors_to_exception(errors)
    return records


# Characters that str.splitlines() takes for a line end but JSON keeps raw in strings: written escaped, so that
# other readers of grit's files, which may split lines that way, see one record per line.
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def jsonl_line(obj: Any) -> str:
    """One JSON line, UTF-8 text kept readable; what would split the line or cannot be UTF-8 (a lone surrogate,
    which JSON's ``\\ud800`` escape allows) stays escaped."""
    line = json.dumps(obj, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj)
    return line.translate(_LINE_BREAKS)


def write_jsonl(records: Iterable[GritRecord | Mapping[str, Any]], path: str | os.PathLike) -> int:
    """Validate and write records atomically (temp file in the same folder, then rename); returns the count.

    Dicts are validated first, so a converter bug cannot leave a half-written or invalid file behind.
    """
    path = Path(path)
    lines = []
    for i, r in enumerate(records):
        rec = r if isinstance(r, GritRecord) else GritRecord.from_dict(r, where=f"{path} (record {i})")
        lines.append(jsonl_line(rec.to_dict()))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, "".join(line + "\n" for line in lines))
    return len(lines)
