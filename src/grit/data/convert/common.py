"""Shared pieces of the benchmark converters: reading sources with located errors, image sizes, box helpers."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from grit.data.schema import (
    GritDataError,
    image_side,
    image_size,
    is_file,
    is_number,
    jsonl_lines,
    parse_record,
    short_repr,
)
from grit.errors import InvalidValue

SizeSource = str | os.PathLike | Mapping[str, Any] | None


class ConvertError(GritDataError):
    """A source annotation that cannot be converted; the message names the source file and record."""


FILE = "(file)"  # the ``record`` of a problem with a file as a whole


def fail(source: str | os.PathLike, record: object, message: str) -> ConvertError:
    """``file: record <key>: message``; line-based sources pass ``"line N"`` and get ``file:N: message``."""
    if isinstance(record, str) and record.startswith("line "):
        return ConvertError(f"{source}:{record[5:]}: {message}")
    if record == FILE:
        return ConvertError(f"{source}: {message}")
    record = str(record).replace("\n", "\\n").replace("\r", "\\r")  # keys come from the data: one line
    return ConvertError(f"{source}: record {record}: {message}")


def read_text(path: str | os.PathLike) -> str:
    """The file's text; a missing, unreadable, non-UTF-8 or empty file is a :class:`ConvertError` naming it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConvertError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise ConvertError(f"{path}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ConvertError(f"{path}: cannot read file: {e.strerror or e}") from None
    if not text.strip():
        raise ConvertError(f"{path}: empty file")
    return text


def load_json(path: str | os.PathLike) -> Any:
    """Parse a whole JSON file, turning I/O and syntax errors into a :class:`ConvertError` naming the file."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConvertError(f"{path}:{e.lineno}: invalid JSON: {e.msg} (column {e.colno})") from None
    except RecursionError:
        raise ConvertError(f"{path}: invalid JSON: nested too deeply") from None


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of a jsonl file."""
    for lineno, obj, bad in jsonl_lines(read_text(path)):
        if bad:
            raise ConvertError(f"{path}:{lineno}: {bad}")
        if not isinstance(obj, dict):
            raise ConvertError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        yield lineno, obj


def load_container(path: str | os.PathLike, kind: type, what: str) -> Any:
    """A whole-file JSON list or object (``kind``) with at least one entry; ``what`` names its entries."""
    data = load_json(path)
    if not isinstance(data, kind):
        article = "an object keyed by" if kind is dict else "a list of"
        raise fail(path, FILE, f"expected a JSON {article} {what}, got {type(data).__name__}")
    if not data:
        raise fail(path, FILE, f"no {what} (empty JSON {kind.__name__})")
    return data


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


KINDS: dict[str, Callable[[Any], bool]] = {
    "a string": lambda v: isinstance(v, str),
    "a non-empty string": lambda v: isinstance(v, str) and bool(v.strip()),
    "a JSON object": lambda v: isinstance(v, dict),
    "a list": lambda v: isinstance(v, list),
    "a string or integer": lambda v: isinstance(v, str) or _is_int(v),
    "a string or number": lambda v: isinstance(v, str) or is_number(v),
}


def require(
    obj: Mapping[str, Any], key: str, source: str | os.PathLike, record: object, kind: str | None = None
) -> Any:
    """``obj[key]``, which must be present, not null and (when given) of ``kind``, one of :data:`KINDS`."""
    if key not in obj or obj[key] is None:
        raise fail(source, record, f"missing field {key!r}")
    return check(obj[key], key, source, record, kind) if kind else obj[key]


def optional(obj: Mapping[str, Any], key: str, source: str | os.PathLike, record: object, kind: str) -> Any:
    """``obj.get(key)``: None when absent or null, else it must be of ``kind``."""
    value = obj.get(key)
    return None if value is None else check(value, key, source, record, kind)


def check(value: Any, name: str | None, source: str | os.PathLike, record: object, kind: str) -> Any:
    """``value`` when it is of ``kind``; else an error naming field ``name`` (None: the record itself)."""
    if not KINDS[kind](value):
        field = f"field {name!r}: " if name else ""
        raise fail(source, record, f"{field}expected {kind}, got {short_repr(value)}")
    return value


def size_field(obj: Mapping[str, Any], key: str, source: str | os.PathLike, record: object) -> int:
    """An image side: a positive integer (``640`` or ``640.0``); anything else names the field."""
    value = require(obj, key, source, record)
    size = image_side(value)
    if size is None:
        raise fail(source, record, f"field {key!r}: expected a positive integer size, got {short_repr(value)}")
    return size


def checked(rec: dict[str, Any], source: str | os.PathLike, record: object) -> dict[str, Any]:
    """A converted record that is valid GRIT data, or a :class:`ConvertError` at its SOURCE record."""
    errors = parse_record(rec, file=str(source), line=0)[1]
    if errors:
        e = errors[0]
        raise fail(source, record, f"field {e.field!r}: {e.message}" if e.field else e.message)
    return rec


# ------------------------------------------------------------------------------------------------ sizes


def load_sizes(sizes: SizeSource) -> dict[str, tuple[int, int]]:
    """Image sizes given by the caller, keyed by image path as written in the source (and by bare file name).

    Accepts a mapping ``{image: [w, h] | {"width", "height"}}``, a JSON file holding such a mapping, or a jsonl
    file whose lines carry ``image``/``img_path``/``file_name`` with ``width`` and ``height`` (a GRIT jsonl or a
    Visual-CoT det file both work) — the usual way to size COCO images without downloading them.
    """
    if sizes is None:
        return {}
    if isinstance(sizes, Mapping):
        return _size_table(((name, value, f"image {name!r}") for name, value in sizes.items()), "sizes")
    path = Path(sizes)
    if path.suffix != ".jsonl":
        table = load_json(path)
        if not isinstance(table, Mapping):
            raise fail(path, FILE, "expected a JSON object mapping image name to [width, height]")
        return _size_table(((name, value, f"image {name!r}") for name, value in table.items()), path)
    entries = []
    for lineno, obj in iter_jsonl(path):
        name = obj.get("image") or obj.get("img_path") or obj.get("file_name")
        if not isinstance(name, str) or "width" not in obj or "height" not in obj:
            raise fail(path, f"line {lineno}", "a size line needs image/img_path/file_name, width, height")
        entries.append((name, {"width": obj["width"], "height": obj["height"]}, f"line {lineno}"))
    return _size_table(entries, path)


def _size_table(entries: Iterable[tuple[Any, Any, str]], source: str | os.PathLike) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for name, value, where in entries:
        wh = (value.get("width"), value.get("height")) if isinstance(value, Mapping) else value
        sides = [image_side(v) for v in wh] if isinstance(wh, (list, tuple)) and len(wh) == 2 else [None]
        if None in sides:
            raise fail(source, where, f"expected [width, height] positive integers, got {short_repr(value)}")
        out[str(name)] = (sides[0], sides[1])
        out.setdefault(Path(str(name)).name, (sides[0], sides[1]))
    return out


class SizeResolver:
    """Finds ``(width, height)`` for images whose source annotation has no size.

    Order: the caller's ``sizes`` (exact path, then bare file name), then the image file under ``image_root``.
    Results are cached because benchmarks ask several questions per image.
    """

    def __init__(self, image_root: str | os.PathLike | None = None, sizes: SizeSource = None) -> None:
        self.image_root = Path(image_root) if image_root is not None else None
        self.sizes = load_sizes(sizes)
        self._sizes_from = "" if sizes is None or isinstance(sizes, Mapping) else f" ({sizes})"
        self._cache: dict[str, tuple[int, int]] = {}

    def __call__(self, image: str, source: str | os.PathLike, record: object) -> tuple[int, int]:
        if not isinstance(image, str) or not image.strip():
            raise fail(source, record, f"field 'image': expected a non-empty path string, got {short_repr(image)}")
        if image in self._cache:
            return self._cache[image]
        wh = self.sizes.get(image) or self.sizes.get(Path(image).name)
        if wh is None:
            if self.image_root is None and self.sizes:
                raise fail(source, record, f"no size for image {image!r} in the sizes given{self._sizes_from}")
            if self.image_root is None:
                raise fail(
                    source,
                    record,
                    f"no width/height for image {image!r}: the source has no image size, so pass image_root "
                    "(the folder holding the images) or sizes (a mapping or a json/jsonl file with sizes)",
                )
            path = self.image_root / image
            if not is_file(path):
                raise fail(source, record, f"image not found: {path} (needed to read its size)")
            try:
                wh = image_size(path)
            except Exception as e:  # PIL raises several unrelated types for broken files
                raise fail(source, record, f"cannot read image {path}: {e}") from None
        self._cache[image] = wh
        return wh


# ------------------------------------------------------------------------------------------------ boxes


def xywh_to_xyxy(box: Any, source: str | os.PathLike, record: object, name: str) -> list[float]:
    """COCO / GQA ``[x, y, w, h]`` (top-left + size, pixels) → ``[x1, y1, x2, y2]``; ``name``: the field(s)."""
    if not isinstance(box, (list, tuple)) or len(box) != 4 or not all(is_number(v) for v in box):
        raise fail(source, record, f"{name}: expected a box [x, y, w, h] of numbers, got {short_repr(box)}")
    x, y, w, h = (float(v) for v in box)
    return [x, y, x + w, y + h]


def clip_box(box: list[float], width: int, height: int) -> list[float] | None:
    """Clip an xyxy box to the image; None when nothing of it is left (degenerate annotation)."""
    x1, y1 = max(0.0, box[0]), max(0.0, box[1])
    x2, y2 = min(float(width), box[2]), min(float(height), box[3])
    return [x1, y1, x2, y2] if x2 > x1 and y2 > y1 else None


def fill_template(template: str, option: str, **values: str) -> str:
    """``template.format(**values)``; a template asking for other fields is the user's option error."""
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as e:
        keys = ", ".join("{" + k + "}" for k in values)
        raise InvalidValue(f"option {option}={template!r}: cannot fill it ({e!r}); it may use only {keys}") from None


def answer_kind(answer: str) -> str:
    """``"yes/no"`` for yes/no answers (the judge treats them specially), else ``"text"``."""
    return "yes/no" if answer.strip().lower() in ("yes", "no") else "text"
