"""Shared pieces of the benchmark converters: reading sources with located errors, image sizes, box helpers."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from grit.data.schema import GritDataError, image_size, jsonl_lines

SizeSource = str | os.PathLike | Mapping[str, Any] | None


class ConvertError(GritDataError):
    """A source annotation that cannot be converted; the message names the source file and record."""


def fail(source: str | os.PathLike, record: object, message: str) -> ConvertError:
    """``file: record <key>: message``; line-based sources pass ``"line N"`` and get ``file:N: message``."""
    if isinstance(record, str) and record.startswith("line "):
        return ConvertError(f"{source}:{record[5:]}: {message}")
    return ConvertError(f"{source}: record {record}: {message}")


def load_json(path: str | os.PathLike) -> Any:
    """Parse a whole JSON file, turning I/O and syntax errors into a :class:`ConvertError` naming the file."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ConvertError(f"{path}: file not found") from None
    except json.JSONDecodeError as e:
        raise ConvertError(f"{path}:{e.lineno}: invalid JSON: {e.msg} (column {e.colno})") from None


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of a jsonl file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConvertError(f"{path}: file not found") from None
    for lineno, obj, bad in jsonl_lines(text):
        if bad:
            raise ConvertError(f"{path}:{lineno}: {bad}")
        if not isinstance(obj, dict):
            raise ConvertError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        yield lineno, obj


def require(obj: Mapping[str, Any], key: str, source: str | os.PathLike, record: object) -> Any:
    if key not in obj or obj[key] is None:
        raise fail(source, record, f"missing field {key!r}")
    return obj[key]


# ------------------------------------------------------------------------------------------------ sizes


def load_sizes(sizes: SizeSource) -> dict[str, tuple[int, int]]:
    """Image sizes given by the caller, keyed by image path as written in the source (and by bare file name).

    Accepts a mapping ``{image: [w, h] | {"width", "height"}}``, a JSON file holding such a mapping, or a jsonl
    file whose lines carry ``image``/``img_path``/``file_name`` with ``width`` and ``height`` (a GRIT jsonl or a
    Visual-CoT det file both work) — the usual way to size COCO images without downloading them.
    """
    if sizes is None:
        return {}
    if not isinstance(sizes, Mapping):
        path = Path(sizes)
        if path.suffix == ".jsonl":
            entries: dict[str, Any] = {}
            for lineno, obj in iter_jsonl(path):
                name = obj.get("image") or obj.get("img_path") or obj.get("file_name")
                if not isinstance(name, str) or "width" not in obj or "height" not in obj:
                    raise ConvertError(
                        f"{path}:{lineno}: a size line needs image/img_path/file_name, width, height"
                    )
                entries[name] = (obj["width"], obj["height"])
            sizes = entries
        else:
            sizes = load_json(path)
            if not isinstance(sizes, Mapping):
                raise ConvertError(f"{path}: expected a JSON object mapping image name to [width, height]")
    out: dict[str, tuple[int, int]] = {}
    for name, value in sizes.items():
        wh = (value.get("width"), value.get("height")) if isinstance(value, Mapping) else value
        if (
            not isinstance(wh, (list, tuple))
            or len(wh) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in wh)
        ):
            raise ConvertError(
                f"sizes: image {name!r}: expected [width, height] positive ints, got {value!r}"
            )
        out[str(name)] = (wh[0], wh[1])
        out.setdefault(Path(str(name)).name, (wh[0], wh[1]))
    return out


class SizeResolver:
    """Finds ``(width, height)`` for images whose source annotation has no size.

    Order: the caller's ``sizes`` (exact path, then bare file name), then the image file under ``image_root``.
    Results are cached because benchmarks ask several questions per image.
    """

    def __init__(self, image_root: str | os.PathLike | None = None, sizes: SizeSource = None) -> None:
        self.image_root = Path(image_root) if image_root is not None else None
        self.sizes = load_sizes(sizes)
        self._cache: dict[str, tuple[int, int]] = {}

    def __call__(self, image: str, source: str | os.PathLike, record: object) -> tuple[int, int]:
        if image in self._cache:
            return self._cache[image]
        wh = self.sizes.get(image) or self.sizes.get(Path(image).name)
        if wh is None:
            if self.image_root is None:
                raise fail(
                    source,
                    record,
                    f"no width/height for image {image!r}: the source has no image size, so pass image_root "
                    "(the folder holding the images) or sizes (a mapping or a json/jsonl file with sizes)",
                )
            path = self.image_root / image
            if not path.is_file():
                raise fail(source, record, f"image not found: {path} (needed to read its size)")
            try:
                wh = image_size(path)
            except Exception as e:  # PIL raises several unrelated types for broken files
                raise fail(source, record, f"cannot read image {path}: {e}") from None
        self._cache[image] = wh
        return wh


# ------------------------------------------------------------------------------------------------ boxes


def xywh_to_xyxy(box: Any, source: str | os.PathLike, record: object) -> list[float]:
    """COCO / GQA ``[x, y, w, h]`` (top-left + size, pixels) → ``[x1, y1, x2, y2]``."""
    if not isinstance(box, (list, tuple)) or len(box) != 4 or not all(_is_num(v) for v in box):
        raise fail(source, record, f"expected a box [x, y, w, h], got {box!r}")
    x, y, w, h = (float(v) for v in box)
    return [x, y, x + w, y + h]


def clip_box(box: list[float], width: int, height: int) -> list[float] | None:
    """Clip an xyxy box to the image; None when nothing of it is left (degenerate annotation)."""
    x1, y1 = max(0.0, box[0]), max(0.0, box[1])
    x2, y2 = min(float(width), box[2]), min(float(height), box[3])
    return [x1, y1, x2, y2] if x2 > x1 and y2 > y1 else None


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def answer_kind(answer: str) -> str:
    """``"yes/no"`` for yes/no answers (the judge treats them specially), else ``"text"``."""
    return "yes/no" if answer.strip().lower() in ("yes", "no") else "text"
