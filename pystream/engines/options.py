"""The engine arguments and what a terminal reduction is, shared by every engine."""

from __future__ import annotations

import dataclasses
import operator
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["ENGINES", "EngineOptions", "Reduction", "check_engine", "default_workers",
           "per_partition", "reduce_in_order"]

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


@dataclasses.dataclass(frozen=True)
class Reduction:
    """What a terminal reduction does, for any engine.

    Attributes
    ----------
    make : callable
        ``make(start)`` -> a fresh state whose first record has global index
        `start`; the state has ``update(chunk)`` and ``merge(right)`` (the
        state of the records right after its own).
    positional : bool
        The state depends on the global index of its records (``Moments``,
        ``KLLSketch``): it can be reduced per partition only where that
        index is known (no ``filter`` before it).  Order-free states
        (histograms, DDSketch) can be reduced per partition anywhere.
    name : str
        For messages.
    mergeable : bool
        False: the state cannot be reduced per partition and merged (its
        merge is missing or not known to reproduce the serial run); it then
        consumes the engine's ordered output in the calling thread.
    """

    make: Callable[[int], Any]
    positional: bool = True
    name: str = "reduce"
    mergeable: bool = True


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
