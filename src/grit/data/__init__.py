"""GRIT data: the jsonl record schema, benchmark converters and loading into ``datasets``.

Importing this package is cheap (stdlib only); ``datasets`` and PIL are imported inside the functions that need them.
"""

from grit.data.loading import load_grit_dataset
from grit.data.schema import (
    GritDataError,
    GritRecord,
    ValidationError,
    read_jsonl,
    validate_file,
    write_jsonl,
)

__all__ = [
    "GritDataError",
    "GritRecord",
    "ValidationError",
    "load_grit_dataset",
    "read_jsonl",
    "validate_file",
    "write_jsonl",
]
