"""Official benchmark annotations → GRIT jsonl. One module per benchmark, all registered in :data:`CONVERTERS`.

Every converter is ``convert_<name>(*source_paths, image_root=None, **opts) -> list[dict]`` and raises
:class:`ConvertError` naming the source file and record. :func:`convert` is the single entry point for the CLI.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from typing import Any

from grit.data.convert.common import ConvertError, load_sizes
from grit.data.convert.gqa import convert_gqa
from grit.data.convert.mathvista import convert_mathvista
from grit.data.convert.mme import convert_mme
from grit.data.convert.ovdeval import convert_ovdeval
from grit.data.convert.tallyqa import convert_tallyqa
from grit.data.convert.viscot import (
    box_from_expand2square,
    box_to_expand2square,
    convert_viscot,
    convert_viscot_train,
)
from grit.data.convert.vsr import convert_vsr
from grit.data.schema import ValidationError, validate_file, write_jsonl
from grit.errors import InvalidValue

CONVERTERS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "vsr": convert_vsr,
    "viscot": convert_viscot,
    "viscot_train": convert_viscot_train,
    "gqa": convert_gqa,
    "tallyqa": convert_tallyqa,
    "mathvista": convert_mathvista,
    "mme": convert_mme,
    "ovdeval": convert_ovdeval,
}


def describe(format: str) -> str:
    """One line per converter for ``--help``-style listings: name, inputs and options."""
    fn = CONVERTERS[format]
    params = inspect.signature(fn).parameters.values()
    inputs = [
        (f"{p.name}..." if p.kind is p.VAR_POSITIONAL else p.name if p.default is p.empty else f"[{p.name}]")
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    opts = [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name != "image_root"]
    return f"{format} {' '.join(inputs)}  options: {', '.join(opts) or '-'}"


def _check_call(format: str, fn: Callable[..., Any], n_inputs: int, opts: dict[str, Any]) -> None:
    params = list(inspect.signature(fn).parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in params)
    required = sum(1 for p in positional if p.default is p.empty) or (1 if variadic else 0)
    if n_inputs < required or (not variadic and n_inputs > len(positional)):
        raise InvalidValue(
            f"wrong number of input files ({n_inputs}) for {format!r}; usage: {describe(format)}"
        )
    known = {p.name for p in params if p.kind is p.KEYWORD_ONLY}
    unknown = sorted(set(opts) - known)
    if unknown:
        raise InvalidValue(f"unknown option(s) {unknown} for {format!r}; usage: {describe(format)}")


def convert(
    format: str,
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    image_root: str | os.PathLike | None = None,
    **opts: Any,
) -> int:
    """Run the ``format`` converter on ``inputs`` and write validated GRIT jsonl to ``out`` atomically.

    Returns the number of records written. Raises ``InvalidValue`` for an unknown format, wrong input count or
    unknown option, and :class:`ConvertError` / ``GritDataError`` (file + record) for bad source data.
    """
    if format not in CONVERTERS:
        raise InvalidValue(f"unknown format {format!r}; choose one of {', '.join(CONVERTERS)}")
    fn = CONVERTERS[format]
    opts = {k: v for k, v in opts.items() if v is not None}
    _check_call(format, fn, len(inputs), opts)
    records = fn(*inputs, image_root=image_root, **opts)
    if not records:  # an empty output would only fail later, in `grit data validate` or training
        sources = ", ".join(str(p) for p in inputs)
        raise ConvertError(f"{sources}: no {format} records to write (options {opts or 'none'}); nothing written")
    return write_jsonl(records, out)


def validate_files(
    paths: Sequence[str | os.PathLike], image_root: str | os.PathLike | None = None, check_images: bool = True
) -> list[ValidationError]:
    """All errors in several GRIT jsonl files (``str(error)`` is ``file:line: field 'f': message``)."""
    return [e for p in paths for e in validate_file(p, image_root=image_root, check_images=check_images)]


__all__ = [
    "CONVERTERS",
    "ConvertError",
    "box_from_expand2square",
    "box_to_expand2square",
    "convert",
    "describe",
    "load_sizes",
    "validate_files",
]
