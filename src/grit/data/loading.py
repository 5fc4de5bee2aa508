"""GRIT jsonl files → one ``datasets.Dataset`` for training and evaluation.

The ``image`` column uses ``datasets.Image()`` holding the absolute path, not a ``set_transform``: the feature is
decoded lazily (only when a row is read, straight into a PIL image as TRL's GRPOTrainer expects), and unlike a
format transform it survives ``map``/``filter``/``select``/``shuffle``/``save_to_disk``. ``image_path`` keeps the
plain path for code that must not decode (visualisation, vLLM, ``cast_column("image", Image(decode=False))``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grit.data.schema import (
    OPTIONAL_FIELDS,
    GritDataError,
    ValidationError,
    default_image_root,
    errors_to_exception,
    scan_jsonl,
)

if TYPE_CHECKING:
    import datasets

# Columns every loaded dataset has, in this order; optional fields missing in a file are None (``bboxs``: []).
CORE_COLUMNS = ("image", "image_path", "question", "answer", "width", "height", "bboxs", *OPTIONAL_FIELDS)

ImageRoot = str | os.PathLike | Mapping[str, str | os.PathLike] | None


def split_paths(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """``"a.jsonl,b.jsonl"`` or a list → list of paths (empty items dropped)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = str(paths).split(",")
    return [str(p).strip() for p in paths if str(p).strip()]


def _root_for(path: str, image_root: ImageRoot) -> Path:
    """A mapping ``image_root`` gives each file its own image folder, keyed by file stem (``vsr_val``) or path."""
    if isinstance(image_root, Mapping):
        root = image_root.get(path, image_root.get(Path(path).stem))
        return default_image_root(path, root)
    return default_image_root(path, image_root)


def _features(columns: dict[str, list[Any]]) -> datasets.Features:
    import datasets
    import pyarrow as pa

    seq = getattr(datasets, "List", None) or datasets.Sequence  # datasets >= 4 has List
    string, f64, i32 = datasets.Value("string"), datasets.Value("float64"), datasets.Value("int32")
    feats: dict[str, Any] = {
        "image": datasets.Image(),
        "image_path": string,
        "question": string,
        "answer": string,
        "width": i32,
        "height": i32,
        "bboxs": seq(seq(f64)),
        "dataset": string,
        "split": string,
        "choices": seq(string),
        "answer_type": string,
        "precision": i32,
        "unit": string,
        "id": string,
        "question_type": string,
    }
    for name, values in columns.items():
        if name in feats:
            continue
        try:
            arrow_type = pa.array(values).type
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise GritDataError(
                f"extra field {name!r} has incompatible types across records/files: {e}"
            ) from e
        feats[name] = datasets.Features.from_arrow_schema(pa.schema([pa.field(name, arrow_type)]))[name]
    return datasets.Features(feats)


def load_grit_dataset(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    image_root: ImageRoot = None,
    check_images: bool = True,
) -> datasets.Dataset:
    """Load and validate GRIT jsonl files into one dataset.

    ``image_root``: folder that relative ``image`` paths are joined to (a str for all files, or a mapping from file
    stem/path to folder); default: each jsonl file's own folder. ``dataset`` defaults to the file stem.
    With ``check_images`` every image must exist and have the recorded size (header read only), so a bad path fails
    here, with file:line, rather than mid-training. All errors of all files are raised together.
    """
    import datasets

    files = split_paths(paths)
    if not files:
        raise GritDataError("no GRIT jsonl files given")
    rows: list[dict[str, Any]] = []
    errors: list[ValidationError] = []
    extra_names: dict[str, None] = {}  # ordered set
    clashes: set[tuple[str, str]] = set()
    for path in files:
        root = _root_for(path, image_root)
        records, errs = scan_jsonl(path, root, check_images)
        errors.extend(errs)
        for rec in records:
            row = {
                "image": str(rec.image_path(root).resolve()),
                "question": rec.question,
                "answer": rec.answer,
                "width": rec.width,
                "height": rec.height,
                "bboxs": rec.bboxs,
                "dataset": rec.dataset if rec.dataset is not None else Path(path).stem,
                "split": rec.split,
                "choices": rec.choices,
                "answer_type": rec.answer_type,
                "precision": rec.precision,
                "unit": rec.unit,
                "id": None if rec.id is None else str(rec.id),
                "question_type": rec.question_type,
            }
            row["image_path"] = row["image"]
            for k in rec.extra:
                if k in CORE_COLUMNS and (path, k) not in clashes:
                    clashes.add((path, k))
                    errors.append(
                        ValidationError(path, 0, k, "field clashes with a column added by the loader")
                    )
                extra_names.setdefault(k, None)
            row.update({k: v for k, v in rec.extra.items() if k not in CORE_COLUMNS})
            rows.append(row)
    if errors:
        raise errors_to_exception(errors)
    names = list(CORE_COLUMNS) + [n for n in extra_names if n not in CORE_COLUMNS]
    columns = {n: [r.get(n) for r in rows] for n in names}
    return datasets.Dataset.from_dict(columns, features=_features(columns))
