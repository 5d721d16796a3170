"""Built-in stages.

Stateless stages are chunk functions (``chunk -> chunk``) that a
:class:`~pystream.stream.Stream` fuses into one loop
(:mod:`pystream.stages.elementwise`); structural stages are generator
functions over chunks (:mod:`pystream.stages.structural`).
"""

from __future__ import annotations

from typing import Any

from .elementwise import (
    AstypeFn,
    FilterFn,
    MapFn,
    SelectFn,
    infer_map_output,
    normalize_columns,
)
from .._extensions import find as _find_entry, names as _entry_names
from .._checks import check_count, normalize_record_shape
from .structural import rechunk, skip, take

__all__ = [
    "AstypeFn",
    "FilterFn",
    "MapFn",
    "SelectFn",
    "check_count",
    "infer_map_output",
    "normalize_columns",
    "normalize_record_shape",
    "rechunk",
    "skip",
    "take",
]


def __getattr__(name: str) -> Any:
    """``pystream.stages.<name>``: the factory of a registered stage (built-in or plugin)."""
    entry = _find_entry("stages", name) if not name.startswith("_") else None
    if entry is None:
        raise AttributeError(f"module 'pystream.stages' has no attribute {name!r}")
    return entry.factory


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_entry_names("stages")))
