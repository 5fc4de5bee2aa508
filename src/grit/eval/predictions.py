"""``predictions.jsonl``: one complete JSON line per finished sample, appended batch by batch, so evaluation
is resumable. A killed run loses at most the batch in flight; rerunning reads back what was written, drops a
cut last line and generates only what is missing. ``run.json`` records the settings a resumption must not
change.

Data-parallel evaluation splits the samples into ``n`` shards; shard ``i`` (one process) writes its own
``predictions.shard-i-of-n.jsonl`` and ``run.shard-i-of-n.json``, just as resumable, and :func:`collect_shards`
puts them back together, checking that every sample is there exactly once.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from grit.data.schema import jsonl_lines
from grit.errors import GritUserError, InvalidValue
from grit.files import atomic_write

PREDICTIONS = "predictions.jsonl"
METRICS = "metrics.json"
RUN = "run.json"
# Generation settings that must not change between a run and its resumption (mixed predictions would be
# scored as one run).
RESUME_CHECKED = ("model", "family", "prompt", "max_new_tokens", "temperature", "seed", "image_root",
                  "min_pixels", "max_pixels")  # fmt: skip


class PredictionsError(GritUserError, ValueError):
    """A predictions (or metrics) file that cannot be read; the message names file and line."""


def read_predictions(path: str | os.PathLike, *, repair: bool = False) -> list[dict[str, Any]]:
    """The complete lines of a predictions file.

    A last line without its newline was cut off by a killed run: it is ignored, and with ``repair`` the file
    is truncated to its last complete line so appending continues cleanly. Any other bad line, or a key that
    occurs twice, raises :class:`PredictionsError` naming file and line.
    """
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    complete = data.rfind(b"\n") + 1  # bytes up to and including the last newline
    if repair and complete < len(data):
        with open(path, "r+b") as f:
            f.truncate(complete)
            f.flush()
            os.fsync(f.fileno())
    rows: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    for lineno, row, bad in jsonl_lines(data[:complete].decode("utf-8")):
        if bad:
            raise PredictionsError(f"{path}:{lineno}: {bad}")
        if not isinstance(row, dict) or not isinstance(row.get("key"), str):
            raise PredictionsError(f"{path}:{lineno}: field 'key': missing (expected an object with a key)")
        if row["key"] in first_line:
            raise PredictionsError(
                f"{path}:{lineno}: field 'key': {row['key']!r} already on line {first_line[row['key']]}"
            )
        first_line[row["key"]] = lineno
        rows.append(row)
    return rows


def _jsonl(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def append_predictions(f: IO[str], rows: Iterable[dict[str, Any]]) -> None:
    """One write per batch, each line complete with its newline, synced: a kill leaves at most a cut last
    line, which :func:`read_predictions` drops."""
    f.write(_jsonl(rows))
    f.flush()
    os.fsync(f.fileno())


def rewrite_predictions(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> None:
    """Replace the whole file at once (e.g. after re-judging): a kill leaves the old file or the new one."""
    atomic_write(path, _jsonl(rows))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def check_resume(pred_path: Path, run_path: Path, settings: dict[str, Any]) -> None:
    """Refuse to append to predictions written with other generation settings (see ``RESUME_CHECKED``)."""
    if not run_path.exists():
        return
    previous = json.loads(run_path.read_text(encoding="utf-8"))
    changed = [k for k in RESUME_CHECKED if k in previous and previous[k] != settings[k]]
    if changed:
        diff = ", ".join(f"{k}: {previous[k]!r} -> {settings[k]!r}" for k in changed)
        raise InvalidValue(f"{pred_path} was written with other settings ({diff}); use a new out_dir")


SHARD_FILE = re.compile(r"predictions\.shard-(\d+)-of-(\d+)\.jsonl")


def parse_shard(spec: str) -> tuple[int, int]:
    """``"i/n"`` → ``(i, n)``: evaluate shard ``i`` (counted from 0) of ``n``."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", spec)
    if not m or not int(m[1]) < int(m[2]):
        raise InvalidValue(f"shard {spec!r}: expected i/n with 0 <= i < n (e.g. 0/2 and 1/2)")
    return int(m[1]), int(m[2])


def launched_shard() -> tuple[int, int] | None:
    """``(rank, world size)`` in a process started by ``torchrun`` or ``accelerate launch``, else None."""
    n = int(os.environ.get("WORLD_SIZE", "1"))
    return (int(os.environ["RANK"]), n) if n > 1 and "RANK" in os.environ else None


def shard_files(i: int, n: int) -> tuple[str, str]:
    """The predictions and run file names of shard ``i`` of ``n`` (the plain names for one process)."""
    return (
        (PREDICTIONS, RUN)
        if n == 1
        else (f"predictions.shard-{i}-of-{n}.jsonl", f"run.shard-{i}-of-{n}.json")
    )


def shard_count(out_dir: str | os.PathLike) -> int:
    """How many shards the shard files in ``out_dir`` were written for."""
    counts = {int(m[2]) for f in Path(out_dir).iterdir() if (m := SHARD_FILE.fullmatch(f.name))}
    if len(counts) != 1:
        found = (
            f"shards of {sorted(counts)} processes" if counts else "no predictions.shard-*-of-*.jsonl files"
        )
        raise PredictionsError(f"{out_dir}: {found}; a merge needs the shards of one run")
    return counts.pop()


def collect_shards(
    out_dir: str | os.PathLike, keys: list[str], n: int
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The rows of all ``n`` shard files by key, and the keys of ``keys`` no shard has (yet).

    A sample in two shard files, or one that is not among ``keys`` (the evaluated data), raises
    :class:`PredictionsError` naming the files: such shards were not written by one run."""
    rows: dict[str, dict[str, Any]] = {}
    where: dict[str, Path] = {}
    wanted = set(keys)
    for i in range(n):
        path = Path(out_dir) / shard_files(i, n)[0]
        for row in read_predictions(path):
            key = row["key"]
            if key in where:
                raise PredictionsError(
                    f"{path}: sample {key!r} is also in {where[key]} (one shard per sample)"
                )
            if key not in wanted:
                raise PredictionsError(f"{path}: sample {key!r} is not in the evaluated data")
            rows[key], where[key] = row, path
    return rows, [k for k in keys if k not in rows]
