"""The built-in plugin: pystream's own stages, sources and reducers.

Registered through the same hooks as third-party plugins (see
:mod:`pystream.hookspecs`), so listings, docs and conflict checks treat both
alike.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

from .hookspecs import hookimpl
from .reducers import Moments
from .stages.accumulate import CumCount, CumMax, CumMin, Diff
from .stages.blocks import resample_stage
from .stages.ewm import EWM, EWM_STAGES
from .stages.methods import StageMethods
from .stages.records import NWise, SlidingWindow, Tumbling
from .stages.registry import BUILTIN_STAGES
from .stages.scans import SCAN_STAGES, Scan
from .stages.windows import MOVING_STAGES, Moving

__all__ = ["STAGE_FACTORIES", "register_reducers", "register_sources", "register_stages"]


def _named(cls: Callable[..., Any], name: str) -> Callable[..., Any]:
    factory = partial(cls, name)
    factory.__doc__ = getattr(StageMethods, name).__doc__  # type: ignore[attr-defined]
    return factory


#: Stage name -> factory(*args, **params) returning the stage object.
STAGE_FACTORIES: dict[str, Callable[..., Any]] = {
    **{name: _named(Moving, name) for name in MOVING_STAGES},
    **{name: _named(Scan, name) for name in SCAN_STAGES},
    **{name: _named(EWM, name) for name in EWM_STAGES},
    "cummin": CumMin,
    "cummax": CumMax,
    "cumcount": CumCount,
    "diff": Diff,
    "nwise": NWise,
    "sliding_window": SlidingWindow,
    "tumbling": Tumbling,
    "resample": resample_stage,
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
