"""The built-in plugin: pystream's own stages, sources and reducers.

Registered through the same hooks as third-party plugins (see
:mod:`pystream.hookspecs`), so listings, docs and conflict checks treat both
alike.
"""

from __future__ import annotations

from typing import Any, Callable

from .hookspecs import hookimpl
from .reducers import Moments
from .stages.registry import BUILTIN_STAGES

__all__ = ["STAGE_FACTORIES", "register_reducers", "register_sources", "register_stages"]

#: Stage name -> factory(*args, **params) returning the stage object (from the family tables).
STAGE_FACTORIES: dict[str, Callable[..., Any]] = {
    name: row.build for name, row in BUILTIN_STAGES.items()
}


@hookimpl
def register_stages(register: Callable[..., None]) -> None:
    """Register the built-in window, scan, EWM and record stages."""
    for name, info in BUILTIN_STAGES.items():
        register(name, STAGE_FACTORIES[name], family=info.family, summary=info.summary)


@hookimpl
def register_sources(register: Callable[..., None]) -> None:
    """Register the built-in sources (``pystream.from_<name>``)."""
    from . import aio, sources

    for name in ("array", "chunks", "dask", "file", "iterable", "npy", "text"):
        register(name, getattr(sources, "from_" + name))
    register("async_iterable", aio.from_async_iterable)


@hookimpl
def register_reducers(register: Callable[..., None]) -> None:
    """Register the built-in mergeable reducer state (``Moments``)."""
    register("moments", Moments, family="reductions",
             summary="Streaming moments: count, NaN count, sum, mean, var, min, max.")
