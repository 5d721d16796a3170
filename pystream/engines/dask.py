"""``engine="dask"`` and :func:`pystream.from_dask`: pipelines as Dask graphs.

Dask is an optional dependency (``pip install pystream-numeric[dask]``); the graph
it builds is described in ``docs/internals/chain.rst``.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..chain import Node, Plan, add_note, make_plan, run_serial
from .access import RandomAccess, array_chunks
from .options import EngineOptions, Reduction, per_partition, reduce_in_order
from .threads import partitions, require_access

__all__ = ["dask_chunks", "dask_reduce", "dask_source", "import_dask"]

#: Default partition for sources that are not Dask arrays, in bytes of source records.
DEFAULT_PARTITION_BYTES = 64 << 20
#: Partitions computed together when the output is consumed in order.
ORDERED_BATCH = 8


def import_dask() -> Any:
    """``dask.array``, or an ImportError saying how to install it."""
    try:
        import dask.array as da
    except ImportError as e:  # pragma: no cover - dask is in the test extra
        raise ImportError(
            "pystream's Dask support needs dask[array]: pip install 'pystream-numeric[dask]'") from e
    return da


# --------------------------------------------------------------------------- source


def _records_along_axis0(arr: Any) -> Any:
    """`arr` with one chunk along every axis but the first (a block holds whole records)."""
    if arr.ndim > 1 and any(len(c) > 1 for c in arr.chunks[1:]):
        arr = arr.rechunk({i: -1 for i in range(1, arr.ndim)})
    return arr


def dask_source(arr: Any, chunk_size: int | None) -> tuple[Any, RandomAccess]:
    """``(make_chunks, access)`` for :func:`pystream.from_dask`."""
    da = import_dask()
    if not isinstance(arr, da.Array):
        raise TypeError(f"from_dask: expected a dask.array.Array, got {type(arr).__name__}")
    if arr.ndim == 0:
        raise ValueError("from_dask: a 0-d array has no records")
    if any(np.isnan(c) for c in arr.chunks[0]):
        raise ValueError(
            "from_dask: the array's chunk sizes along axis 0 are unknown (NaN); call "
            "arr.compute_chunk_sizes() first")
    arr = _records_along_axis0(arr)
    bounds = np.concatenate([[0], np.cumsum(arr.chunks[0], dtype=np.int64)]).tolist()
    n = bounds[-1]

    def read(a: int, b: int | None, size: int | None = None) -> Iterator[np.ndarray]:
        stop = n if b is None else min(b, n)
        for i in range(len(arr.chunks[0])):
            lo, hi = max(a, bounds[i]), min(stop, bounds[i + 1])
            if lo < hi:
                block = np.asarray(arr.blocks[i][lo - bounds[i]:hi - bounds[i]].compute())
                yield from array_chunks(block, 0, None, size or chunk_size or len(block))

    access = RandomAccess(f"from_dask(<dask array {arr.dtype} {arr.shape}>)", lambda: n, read,
                          dask=arr)
    return (lambda: read(0, None, None)), access


# --------------------------------------------------------------------------- graph


def _task_plan(plan: Plan) -> Plan:
    """`plan` without its source access (which may hold a whole array): what tasks need."""
    return dataclasses.replace(plan, access=None)


def _source_array(plan: Plan, access: RandomAccess, options: EngineOptions) -> Any:
    """The source as a Dask array split into partitions, or None (tasks read it)."""
    da = import_dask()
    if access.dask is not None:
        arr = access.dask
        if options.partition_size is not None:
            arr = arr.rechunk({0: options.partition_size})
        return arr
    if access.array is not None:
        data = access.array()
        size = options.partition_size or max(1, DEFAULT_PARTITION_BYTES // plan.record_nbytes)
        return da.from_array(data, chunks=(size, *data.shape[1:]))
    return None


def _inputs(plan: Plan, access: RandomAccess, options: EngineOptions) -> list[tuple[int, int | None, Any]]:
    """Per partition: ``(a, b, pieces)``, where `pieces` are the Dask blocks
    holding the records ``[need, b)`` it reads (None: the task reads them)."""
    arr = _source_array(plan, access, options)
    if arr is None:
        n = plan.effective_length(access.length())
        size = options.partition_size or max(1, DEFAULT_PARTITION_BYTES // plan.record_nbytes)
        return [(a, b, None) for a, b in partitions(n, size)]
    bounds = np.concatenate([[0], np.cumsum(arr.chunks[0], dtype=np.int64)]).tolist()
    n = bounds[-1]
    limit = plan.read_limit(n)
    blocks = arr.to_delayed().ravel().tolist()   # one per block along axis 0
    out = []
    for i in range(len(bounds) - 1):
        a, b = bounds[i], (bounds[i + 1] if i + 2 < len(bounds) else None)
        lo, hi = plan.output_range(a, b) if plan.indexed else (0, None)
        if b is not None and plan.indexed and lo == hi:
            continue            # owns no output (past a take's cap, inside a skip)
        need = plan.input_start(a, b)
        stop = min(limit, n if b is None else b)
        first = bisect.bisect_right(bounds, need) - 1
        last = bisect.bisect_left(bounds, stop) - 1 if stop > need else first - 1
        pieces = blocks[first:last + 1]
        out.append((a, b, (need - bounds[first] if pieces else 0, stop - need, *pieces)))
    return out or [(0, None, (0, 0))]


def _pieces_reader(offset: int, count: int, pieces: tuple[np.ndarray, ...]) -> Any:
    """Records ``[offset, offset + count)`` of the concatenated Dask blocks `pieces`."""
    def read(p: int, b: int | None, size: int | None = None) -> Iterator[np.ndarray]:
        skip, left = offset, count
        for block in pieces:
            block = np.asarray(block)
            if skip >= len(block):
                skip -= len(block)
                continue
            part = block[skip:skip + left]
            skip = 0
            left -= len(part)
            if len(part):
                yield part
            if not left:
                return
    return read


def _dask_where(plan: Plan, a: int, b: int | None) -> str:
    end = "the end" if b is None else f"record {plan.start + b}"
    return (f"pystream: engine='dask', in the partition from record {plan.start + a} to {end}")


def _partition_chunks(plan: Plan, read: Any, a: int, b: int | None,
                      given: Any, *pieces: np.ndarray) -> Iterator[np.ndarray]:
    """The prefix's output for partition ``[a, b)``: read by the task itself
    (`given` None) or from the blocks `pieces` (`given`: offset and count)."""
    if given is not None:
        read = _pieces_reader(given[0], given[1], pieces)
    return plan.partition(a, b, read)


def _reduce_task(plan: Plan, read: Any, reduction: Reduction, a: int, b: int | None,
                 given: Any, *pieces: np.ndarray) -> Any:
    try:
        first = plan.output_range(a, b)[0] if plan.indexed else 0
        state = reduction.make(plan.start + first)
        for chunk in _partition_chunks(plan, read, a, b, given, *pieces):
            state.update(chunk)
        return state
    except Exception as e:
        add_note(e, f"{_dask_where(plan, a, b)} (reduction {reduction.name!r})")
        raise


def _merge_task(left: Any, right: Any) -> Any:
    merged = left.merge(right)
    return left if merged is None else merged


def _collect_task(plan: Plan, read: Any, a: int, b: int | None, given: Any,
                  *pieces: np.ndarray) -> list[np.ndarray]:
    try:
        return list(_partition_chunks(plan, read, a, b, given, *pieces))
    except Exception as e:
        add_note(e, _dask_where(plan, a, b))
        raise


def _tasks(plan: Plan, access: RandomAccess, options: EngineOptions, fn: Any,
           *head: Any) -> list[Any]:
    import functools

    import dask

    # The plan and the reader are bound with partial so Dask sends them as
    # they are instead of traversing them for collections.
    read = access.read if access.dask is None and access.array is None else None
    task = dask.delayed(functools.partial(fn, _task_plan(plan), read, *head), pure=False)
    tasks = []
    for a, b, given in _inputs(plan, access, options):
        if given is None:
            tasks.append(task(a, b, None))
        else:
            offset, count, *pieces = given
            tasks.append(task(a, b, (offset, count), *pieces))
    return tasks


def dask_reduce(node: Node, reduction: Reduction, options: EngineOptions) -> Any:
    """Reduce the chain `node` as a Dask graph: a state per partition, merged in a tree."""
    import dask

    import_dask()
    plan = make_plan(node)
    access = require_access(plan, "dask")
    if not per_partition(plan, reduction):
        return reduce_in_order(dask_chunks(node, options, plan), reduction, node.start)
    level = _tasks(plan, access, options, _reduce_task, reduction)
    merge = dask.delayed(_merge_task, pure=False)
    while len(level) > 1:
        nxt = [merge(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    (state,) = dask.compute(level[0])
    return state


def dask_chunks(node: Node, options: EngineOptions, plan: Plan | None = None) -> Iterator[np.ndarray]:
    """The chunks of the chain `node` in order, partitions computed by Dask a batch at a time."""
    import_dask()
    plan = plan or make_plan(node)
    access = require_access(plan, "dask")
    return _dask_chunks(plan, access, options)


def _dask_chunks(plan: Plan, access: RandomAccess, options: EngineOptions) -> Iterator[np.ndarray]:
    import dask

    tasks = _tasks(plan, access, options, _collect_task)

    def flat() -> Iterator[np.ndarray]:
        for i in range(0, len(tasks), ORDERED_BATCH):
            for chunks in dask.compute(*tasks[i:i + ORDERED_BATCH]):
                yield from chunks

    first = plan.output_range(0, None)[0] if plan.indexed else 0
    yield from run_serial(plan.suffix, flat(), plan.start + first)
