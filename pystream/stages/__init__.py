"""Built-in stages.

Stateless stages are chunk functions (``chunk -> chunk``) that a
:class:`~pystream.stream.Stream` fuses into one loop
(:mod:`pystream.stages.elementwise`); structural stages are generator
functions over chunks (:mod:`pystream.stages.structural`).
"""

from __future__ import annotations

from .elementwise import (
    AstypeFn,
    FilterFn,
    MapFn,
    SelectFn,
    infer_map_output,
    normalize_columns,
)
from .structural import check_count, normalize_record_shape, rechunk, skip, take

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
