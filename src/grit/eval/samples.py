"""The records to evaluate: GRIT jsonl files read and validated once, each record with a stable key."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grit.data.schema import GritDataError, default_image_root, image_size, nonblank_lines, read_jsonl
from grit.errors import InvalidValue


@dataclass
class Sample:
    """One record to evaluate, with where it came from and its stable key."""

    key: str
    index: int  # position over all input files, in file order (keeps MME question pairs together)
    file: str
    line: int
    record: dict[str, Any]
    image_path: Path


def _record_lines(path: Path) -> list[int]:
    """1-based line numbers of the non-blank lines (= records, in order, once the file has validated)."""
    text = path.read_text(encoding="utf-8")
    return [i for i, _ in nonblank_lines(text)]


def sample_key(record: dict[str, Any], file: str | Path, line: int) -> str:
    """``dataset/id`` when the record has an id (stable across file edits), else ``file-name:line``."""
    if record.get("id") is not None:
        return f"{record['dataset']}/{record['id']}"
    return f"{Path(file).name}:{line}"


def load_samples(
    data: Sequence[str | os.PathLike] | str | os.PathLike,
    image_root: str | os.PathLike | None = None,
    limit: int | None = None,
) -> list[Sample]:
    """Read and validate every jsonl file (one :class:`~grit.data.schema.GritDataError` naming file:line:field
    on bad data); ``limit`` keeps the first ``limit`` records of EACH file. Records without ``dataset`` get the
    file's stem. Relative images resolve against ``image_root``, else the jsonl file's folder."""
    if isinstance(data, (str, os.PathLike)):
        data = [data]
    if limit is not None and limit < 1:
        raise InvalidValue(f"limit must be >= 1, got {limit}")
    samples: list[Sample] = []
    seen: dict[str, str] = {}
    for file in data:
        path = Path(file)
        records = read_jsonl(path, image_root)
        lines = _record_lines(path)
        root = default_image_root(path, image_root)
        for rec, line in list(zip(records, lines, strict=True))[:limit]:
            d = rec.to_dict()
            d["dataset"] = d.get("dataset") or path.stem
            key = sample_key(d, path, line)
            where = f"{path}:{line}"
            if key in seen:
                raise GritDataError(
                    f"{where}: sample key {key!r} is also used at {seen[key]} (ids must be unique)"
                )
            seen[key] = where
            samples.append(Sample(key, len(samples), str(path), line, d, rec.image_path(root)))
    return samples


def check_images(samples: Iterable[Sample]) -> None:
    """Fail before generating anything when images are missing (not an hour into the run) or are not the size
    the record says: predicted boxes are mapped with the real image, ground truth is in the record's pixels,
    so a wrong size would silently skew GIoU."""
    samples = list(samples)
    missing = [s for s in samples if not s.image_path.is_file()]
    if missing:
        shown = "\n  ".join(
            f"{s.file}:{s.line}: field 'image': not found: {s.image_path}" for s in missing[:5]
        )
        more = f"\n  ... and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise FileNotFoundError(f"{len(missing)} image(s) missing:\n  {shown}{more}")
    for s in samples:
        try:
            w, h = image_size(s.image_path)
        except (OSError, ValueError) as e:
            raise GritDataError(f"{s.file}:{s.line}: field 'image': cannot read {s.image_path} ({e})") from e
        if (w, h) != (s.record["width"], s.record["height"]):
            raise GritDataError(
                f"{s.file}:{s.line}: field 'width'/'height': the record says "
                f"{s.record['width']}x{s.record['height']} but {s.image_path} is {w}x{h}"
            )
