"""Built-in stages: one module per family, each ending with its table
(:mod:`pystream.stages.registry` gathers them), plus the elementwise and
structural stages; ``pystream.stages.<name>`` is a registered stage's factory.
"""

from __future__ import annotations

from typing import Any

from .._extensions import find as _find_extension, names as _extension_names
from .elementwise import (
    AstypeFn,
    FilterFn,
    MapFn,
    SelectFn,
    infer_map_output,
    normalize_columns,
)
from .._checks import check_count, normalize_record_shape
from .registry import BUILTIN_STAGES
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
    entry = _find_extension("stages", name) if not name.startswith("_") else None
    if entry is not None:
        return entry.factory
    if name in BUILTIN_STAGES:  # no registry installed
        return BUILTIN_STAGES[name].build
    raise AttributeError(f"module 'pystream.stages' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(BUILTIN_STAGES) | set(_extension_names("stages")))
