"""pystream's own registry entries: the stages (from the stage table), sources and reducers.

Built without pluggy and without the entry-point scan, so a built-in name is
answered before any plugin is loaded (:mod:`pystream.plugins`).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from ._extensions import BUILTIN, KINDS, Entry
from .aio import from_async_iterable
from .reducers import Moments
from .sources import (
    from_array,
    from_chunks,
    from_csv,
    from_dask,
    from_file,
    from_ipc,
    from_iterable,
    from_npy,
    from_parquet,
    from_reader,
    from_table,
    from_text,
)
from .stages.registry import BUILTIN_STAGES

__all__ = ["BUILTIN_SOURCES", "STAGE_FACTORIES", "TABLE_SOURCES", "builtin_entries"]


#: Stage name -> factory(*args, **params) returning the stage object (from the family tables).
STAGE_FACTORIES: dict[str, Callable[..., Any]] = {
    name: row.build for name, row in BUILTIN_STAGES.items()
}

#: Source name -> function (``pystream.from_<name>``).
BUILTIN_SOURCES: dict[str, Callable[..., Any]] = {
    "array": from_array, "chunks": from_chunks, "dask": from_dask, "file": from_file,
    "iterable": from_iterable, "npy": from_npy, "text": from_text, "reader": from_reader,
    "async_iterable": from_async_iterable,
}

#: The table sources (pyarrow, the ``[arrow]`` extra): family ``"tables"``.
TABLE_SOURCES: dict[str, Callable[..., Any]] = {
    "parquet": from_parquet, "csv": from_csv, "ipc": from_ipc, "table": from_table,
}


def _first_doc_line(func: Callable[..., Any]) -> str:
    doc = inspect.getdoc(func) or ""
    return doc.split("\n")[0]


def builtin_entries() -> dict[str, dict[str, Entry]]:
    """Kind -> name -> :class:`Entry` of pystream's own stages, sources and reducers."""
    def entry(kind: str, name: str, factory: Callable[..., Any], family: str,
              summary: str) -> Entry:
        return Entry(name=name, kind=kind, factory=factory, family=family, summary=summary,
                     origin=BUILTIN, plugin=BUILTIN)

    out: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
    for name, info in BUILTIN_STAGES.items():
        out["stages"][name] = entry("stages", name, STAGE_FACTORIES[name], info.family,
                                    info.summary)
    for name, func in BUILTIN_SOURCES.items():
        out["sources"][name] = entry("sources", name, func, "sources", _first_doc_line(func))
    for name, func in TABLE_SOURCES.items():
        out["sources"][name] = entry("sources", name, func, "tables", _first_doc_line(func))
    out["reducers"]["moments"] = entry(
        "reducers", "moments", Moments, "reductions",
        "Streaming moments: count, NaN count, sum, mean, var, min, max.")
    return out
