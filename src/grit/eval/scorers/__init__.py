"""Per-benchmark scorers: what a dataset's entry in ``metrics.json`` adds to :func:`grit.metrics.aggregate`.

``default.score(rows)`` runs on every dataset (and on ``"all"``). Every other module here is a benchmark's
official scorer: module ``<name>.py`` with a ``score(rows) -> dict`` function is applied to each dataset named
like the benchmark (see :func:`is_benchmark`) and its result stored under ``<name>_official``. A new official
scorer is one new file.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from functools import cache
from typing import Any

Scorer = Callable[[list[dict[str, Any]]], dict[str, Any]]


def is_benchmark(name: str, benchmark: str) -> bool:
    """Is dataset `name` this benchmark (e.g. "mme", "mme_count", "MME-position" for "mme")?"""
    return re.match(rf"{benchmark}(?:$|[_\-/ ])", name.lower()) is not None


@cache
def official_scorers() -> dict[str, Scorer]:
    """``{benchmark: score}`` for every scorer module of this package."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "default")
    return {name: importlib.import_module(f"{__name__}.{name}").score for name in names}


def dataset_scores(name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The default scorer's fields, then ``<benchmark>_official`` for each benchmark ``name`` belongs to."""
    from grit.eval.scorers import default

    out = default.score(rows)
    if name != "all":
        for benchmark, score in official_scorers().items():
            if is_benchmark(name, benchmark):
                out[f"{benchmark}_official"] = score(rows)
    return out
