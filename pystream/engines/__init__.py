"""Engines: what drives a pipeline -- the local pull loop, threads, or Dask.

Every terminal operation of :class:`pystream.Stream` takes
``engine="local" | "threads" | "dask"``, ``workers`` and ``partition_size``.
The result is bit-identical whatever the engine, the number of workers and
the partition size: partitions are contiguous ranges of the source, window
stages get their warm-up records from before the partition
(:mod:`pystream.engines.plan`), and reducer states are placed in the global
index space and merged in order.  See the "Engines" page of the docs.
"""

from __future__ import annotations

import dataclasses
import operator
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..terminals.protocol import Reduction

__all__ = ["ENGINES", "EngineOptions", "Reduction", "check_engine", "ordered_chunks", "reduce"]

#: The engine names accepted by ``engine=``.
ENGINES = ("local", "threads", "dask")


def default_workers() -> int:
    """Threads used by ``engine="threads"`` when `workers` is not given: the usable cores."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


@dataclasses.dataclass(frozen=True)
class EngineOptions:
    """A checked ``engine=`` / ``workers=`` / ``partition_size=`` triple."""

    name: str = "local"
    workers: int | None = None
    partition_size: int | None = None


def check_engine(engine: object, workers: object, partition_size: object, where: str) -> EngineOptions:
    """Validate the engine arguments of a terminal operation.

    Examples
    --------
    >>> check_engine("threads", 2, None, "describe")
    EngineOptions(name='threads', workers=2, partition_size=None)
    """
    if engine not in ENGINES:
        raise ValueError(f"{where}: engine must be one of {ENGINES}; got {engine!r}")

    def count(value: object, name: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{where}: {name} must be a positive integer, got {value!r}")
        try:
            n = operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(f"{where}: {name} must be a positive integer, got {value!r}") from None
        if n < 1:
            raise ValueError(f"{where}: {name} must be >= 1, got {n}")
        return n

    w = count(workers, "workers")
    size = count(partition_size, "partition_size")
    if engine == "local" and (w is not None or size is not None):
        raise ValueError(f"{where}: workers and partition_size apply to engine='threads' or "
                         "'dask', not to the local engine")
    if engine == "dask" and w is not None:
        raise ValueError(f"{where}: with engine='dask' the Dask scheduler decides the workers "
                         "(dask.config.set(scheduler=...) or a distributed Client); "
                         "drop workers=")
    return EngineOptions(str(engine), w, size)


def per_partition(plan: Any, reduction: Reduction) -> bool:
    """Whether `reduction` can be reduced inside each partition of `plan`
    (no sequential step, a mergeable state, and global indices known if the
    state needs them); otherwise it consumes the engine's ordered output."""
    return not plan.suffix and reduction.mergeable and (plan.indexed or not reduction.positional)


def reduce_in_order(chunks: Iterator[np.ndarray], reduction: Reduction, start: int) -> Any:
    """One state fed with `chunks` in order, in the calling thread."""
    state = reduction.make(start)
    for chunk in chunks:
        state.update(chunk)
    return state


def reduce(stream: Any, reduction: Reduction, options: EngineOptions) -> Any:
    """Run `reduction` over `stream` on the engine of `options`; return the state."""
    if options.name == "local":
        return reduce_in_order(iter(stream), reduction, stream.start)
    if options.name == "threads":
        from .threads import threads_reduce

        return threads_reduce(stream, reduction, options)
    from .dask import dask_reduce

    return dask_reduce(stream, reduction, options)


def ordered_chunks(stream: Any, options: EngineOptions) -> Iterator[np.ndarray]:
    """The chunks of `stream`, in order, computed on the engine of `options`."""
    if options.name == "local":
        return iter(stream)
    if options.name == "threads":
        from .threads import threads_chunks

        return threads_chunks(stream, options)
    from .dask import dask_chunks

    return dask_chunks(stream, options)
