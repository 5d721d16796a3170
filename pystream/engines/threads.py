"""``engine="threads"``: contiguous partitions of a random-access source on a thread pool.

Results are bit-identical to the local run; how partitions are run, merged
and cancelled is described in ``docs/internals/chain.rst``.
"""

from __future__ import annotations

import collections
import concurrent.futures
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..chain import Node, Plan, add_note, make_plan, run_serial
from ..chain.materialise import ResultBuffer
from ..sketches.kll import BLOCK_SIZE as KLL_BLOCK
from .options import EngineOptions, Reduction, default_workers, per_partition, reduce_in_order

__all__ = ["partitions", "require_access", "threads_chunks", "threads_reduce", "threads_to_array"]

#: Partitions per worker when the size is not given (load balance vs. merge cost).
PARTITIONS_PER_WORKER = 4
#: Smallest default partition, in records (warm-up and merge costs stay negligible).
MIN_PARTITION = 1 << 14
#: Largest default partition for ordered outputs, in bytes of source records.
MAX_ORDERED_BYTES = 16 << 20
#: A reduction's default partitions of at least this many records are a
#: multiple of it long and start on a global index that is a multiple of
#: it.  The KLL sketch (``describe()``'s quantiles) lays its blocks on global
#: multiples of powers of two up to its ``BLOCK_SIZE`` (2**19): an aligned
#: boundary cuts no block, so merging two partitions' states shares their
#: blocks (~0.1 ms), where an unaligned one rebuilds the cut blocks (~4-5 ms
#: per merge over 1e7 values; see docs/engines.rst).  Outputs that are not
#: merged (``to_array``, ordered chunks) keep even partitions, which balance
#: the workers better.
ALIGN = KLL_BLOCK


class Cancelled(Exception):
    """Raised inside a worker when the run was cancelled (never reaches the caller)."""


def require_access(plan: Plan, engine: str) -> Any:
    """The root's :class:`~pystream.engines.access.RandomAccess`, or a clear error."""
    if plan.access is None:
        raise ValueError(
            f"engine={engine!r} splits the source into partitions read independently, so it "
            "needs a random-access source: from_array, from_npy (one file or a list), "
            "from_file on paths, or from_dask.  This stream reads a source that can only be "
            "read in order (an iterable, text, a file object or stdin); use engine='local'")
    return plan.access


def partitions(n: int, size: int, origin: int = 0) -> list[tuple[int, int | None]]:
    """``[a, b)`` ranges of `size` records covering ``[0, n)``; the last has ``b`` None.

    The boundaries fall where ``origin + a`` is a multiple of `size` (the
    first range is shorter when `origin` is not one).

    Examples
    --------
    >>> partitions(10, 4)
    [(0, 4), (4, 8), (8, None)]
    >>> partitions(10, 4, origin=3)
    [(0, 1), (1, 5), (5, 9), (9, None)]
    >>> partitions(0, 4)
    [(0, None)]
    """
    bounds = list(range(-origin % size, n, size))
    if bounds and bounds[0] == 0:
        bounds = bounds[1:]
    starts = [0, *bounds]
    return [(a, b) for a, b in zip(starts, [*bounds, None])]


def _partition_size(n: int, workers: int, options: EngineOptions, ordered: bool,
                    record_nbytes: int, align: bool = False) -> int:
    if options.partition_size is not None:
        return options.partition_size
    size = max(MIN_PARTITION, -(-n // (workers * PARTITIONS_PER_WORKER)))
    if ordered:
        size = min(size, max(1, MAX_ORDERED_BYTES // record_nbytes))
    if align and size >= ALIGN:
        size = round(size / ALIGN) * ALIGN
    return size


class _Pool:
    """A thread pool with a cancel flag; closing it cancels and joins everything."""

    def __init__(self, workers: int) -> None:
        self.cancel = threading.Event()
        self.executor = concurrent.futures.ThreadPoolExecutor(
            workers, thread_name_prefix="pystream-worker")

    def reader(self, access: Any) -> Callable[[int, int | None, int | None], Iterator[np.ndarray]]:
        cancel = self.cancel

        def read(a: int, b: int | None, size: int | None = None) -> Iterator[np.ndarray]:
            for chunk in access.read(a, b, size):
                if cancel.is_set():
                    raise Cancelled
                yield chunk

        return read

    def ordered(self, work: Callable[[int, int | None], Any],
                parts: list[tuple[int, int | None]], depth: int) -> Iterator[Any]:
        """``work(a, b)`` for every partition, yielded in order, `depth` in flight."""
        pending: collections.deque[concurrent.futures.Future[Any]] = collections.deque()
        todo = iter(parts)
        try:
            for part in todo:
                pending.append(self.executor.submit(work, *part))
                if len(pending) >= depth:
                    break
            while pending:
                result = pending.popleft().result()
                part = next(todo, None)
                if part is not None:
                    pending.append(self.executor.submit(work, *part))
                yield result
        finally:
            self.close(pending)

    def close(self, pending: collections.deque[concurrent.futures.Future[Any]] | None = None) -> None:
        """Cancel what has not started, stop the running partitions at their
        next chunk and join the threads -- also through a second Ctrl-C, so
        no worker outlives the call (it is re-raised once they are joined)."""
        self.cancel.set()
        for future in pending or ():
            future.cancel()
        interrupted: KeyboardInterrupt | None = None
        while True:
            try:
                self.executor.shutdown(wait=True)
                break
            except KeyboardInterrupt as e:
                interrupted = e
        if interrupted is not None:
            raise interrupted


def _split_partitions(plan: Plan, access: Any, options: EngineOptions, ordered: bool,
                      align: bool = False) -> tuple[int, int, list[tuple[int, int | None]]]:
    """``(records, workers, partitions)`` of a run: the source records that
    matter, the pool size and the partitions covering them (`align`: on
    global multiples of :data:`ALIGN`, for states that are merged)."""
    n = plan.effective_length(access.length())
    workers = options.workers or default_workers()
    granules = getattr(access, "granules", None)
    if granules is not None and options.partition_size is None:
        return n, workers, granule_partitions(n, granules(), workers, plan)
    size = _partition_size(n, workers, options, ordered, plan.record_nbytes, align)
    aligned = align and options.partition_size is None and size % ALIGN == 0
    return n, workers, partitions(n, size, plan.start if aligned else 0)


def granule_partitions(n: int, granules: list[int], workers: int, plan: Plan
                       ) -> list[tuple[int, int | None]]:
    """Partitions of ``[0, n)`` cut at the granule starts nearest to even cuts:
    one per worker when the stages need a warm-up (each partition then decodes
    one granule more), else :data:`PARTITIONS_PER_WORKER` per worker.

    Examples
    --------
    >>> granule_partitions(100, [0, 30, 60, 90, 100], 2, None)
    [(0, 60), (60, None)]
    """
    warmup = plan is not None and any(plan.input_start(a, None) < a for a in (n // 2, n - 1) if a > 0)
    count = workers if warmup or plan is None else workers * PARTITIONS_PER_WORKER
    inner = sorted({g for g in granules if 0 < g < n})
    cuts: list[int] = []
    for i in range(1, count):
        if not inner:
            break
        target = i * n / count
        best = min(inner, key=lambda g: abs(g - target))
        if not cuts or best > cuts[-1]:
            cuts.append(best)
    starts = [0, *cuts]
    return [(a, b) for a, b in zip(starts, [*cuts, None])]


def _threads_where(plan: Plan, a: int, b: int | None) -> str:
    end = "the end" if b is None else f"record {plan.start + b}"
    return (f"pystream: engine='threads', in the partition of {plan.access.name} from record "
            f"{plan.start + a} to {end}")


def threads_reduce(node: Node, reduction: Reduction, options: EngineOptions) -> Any:
    """Reduce the chain `node` with one state per partition, merged in order (see the module doc)."""
    plan = make_plan(node)
    access = require_access(plan, "threads")
    if not per_partition(plan, reduction):
        return reduce_in_order(threads_chunks(node, options, plan), reduction, node.start)
    n, workers, parts = _split_partitions(plan, access, options, ordered=False, align=True)
    pool = _Pool(workers)
    read = pool.reader(access)
    whole = access.in_memory and not plan.prefix

    def work(a: int, b: int | None) -> Any:
        try:
            first = plan.output_range(a, b)[0] if plan.indexed else 0
            state = reduction.make(plan.start + first)
            chunks = read(a, b, ((n if b is None else b) - a) or None) if whole else \
                plan.partition(a, b, read)
            for chunk in chunks:
                state.update(chunk)
            return state
        except Exception as e:
            if not pool.cancel.is_set():
                add_note(e, f"{_threads_where(plan, a, b)} (reduction {reduction.name!r})")
            raise

    merged = None
    states = pool.ordered(work, parts, depth=max(2 * workers, 2))
    try:
        for state in states:
            merged = state if merged is None else merged.merge(state) or merged
    finally:
        states.close()
        pool.close()
    return merged


def threads_chunks(node: Node, options: EngineOptions, plan: Plan | None = None) -> Iterator[np.ndarray]:
    """The chunks of the chain `node` in order: partitions in the workers, then the
    sequential steps (if any) in the calling thread."""
    plan = plan or make_plan(node)
    access = require_access(plan, "threads")
    return _threads_chunks(plan, access, options)


def _threads_chunks(plan: Plan, access: Any, options: EngineOptions) -> Iterator[np.ndarray]:
    _, workers, parts = _split_partitions(plan, access, options, ordered=True)
    pool = _Pool(workers)
    read = pool.reader(access)

    def work(a: int, b: int | None) -> list[np.ndarray]:
        try:
            return list(plan.partition(a, b, read))
        except Exception as e:
            if not pool.cancel.is_set():
                add_note(e, _threads_where(plan, a, b))
            raise

    def flat() -> Iterator[np.ndarray]:
        for chunks in pool.ordered(work, parts, depth=workers + 1):
            yield from chunks

    first = plan.output_range(0, None)[0] if plan.indexed else 0
    source = flat()
    try:
        yield from run_serial(plan.suffix, source, plan.start + first)
    finally:
        # A sequential step that fails does not close its input: close the
        # partitions here, which joins the workers now rather than when the
        # traceback is collected.
        source.close()
        pool.close()


def threads_to_array(node: Node, options: EngineOptions) -> np.ndarray | None:
    """``to_array()`` of the chain `node`, each partition writing its output
    into its own slice of the result, in its worker, whatever the last stage
    is; None when the output positions are not known in advance (a
    sequential step or a filter: use the ordered path).

    Every partition owns an exact, known range of the output
    (:meth:`Plan.output_range`), so the result is allocated once and filled
    in parallel, its pages first-touched by the workers.  The last
    partition's range is open-ended (a stage may flush at the end of the
    stream): it writes into the result's slack (room past the known length)
    and only what does not fit is appended by the calling thread.
    """
    plan = make_plan(node)
    access = require_access(plan, "threads")
    if plan.suffix or not plan.indexed:
        return None
    dt, rs = node.meta()
    n, workers, parts = _split_partitions(plan, access, options, ordered=False)
    last_start = plan.output_range(*parts[-1])[0]
    expected = plan.output_range(parts[-1][0], n)[1] or last_start
    buffer = ResultBuffer(dt, rs, max(expected, last_start))
    result = buffer.array
    capacity = len(result)
    pool = _Pool(workers)
    read = pool.reader(access)
    row = buffer.row
    flat = buffer.flat
    direct = dt.itemsize == 8 and row > 0 and flat is not None

    def writer(lo: int, hi: int) -> Callable[[int], Callable[[int], np.ndarray]]:
        """Allocators placing a C window stage's output straight into
        ``result[lo:hi]`` (warm-up outputs, before `lo`, and what does not fit
        go to scratch memory)."""
        def alloc_from(first: int) -> Callable[[int], np.ndarray]:
            position = [first]

            def alloc(nbytes: int) -> np.ndarray:
                k = nbytes // row
                i = position[0]
                position[0] = i + k
                if lo <= i and i + k <= hi:
                    return flat[i * row:(i + k) * row]
                return np.empty(nbytes, np.uint8)
            return alloc
        return alloc_from

    def work(a: int, b: int | None) -> tuple[int, list[np.ndarray]]:
        """Write partition ``[a, b)`` into its slice; (records written, overflow)."""
        try:
            lo, hi = plan.output_range(a, b)
            last = b is None     # open-ended: the stream's end may flush more
            end = capacity if last or hi is None else hi
            chunks = plan.partition(a, b, read, writer(lo, end) if direct else None)
            at = lo
            overflow: list[np.ndarray] = []
            for c in chunks:
                buffer.check(c)
                k = len(c)
                if overflow or at + k > end:
                    if not last:
                        raise RuntimeError(
                            f"to_array: partition [{a}, {b}) of {access.name} gave more than "
                            f"its {end - lo} records (did the source change?)")
                    overflow.append(c.copy())   # past the slack: the caller appends it
                    continue
                if not (k and c.ctypes.data == result[at:].ctypes.data):
                    result[at:at + k] = c          # not already written in place
                at += k
            if not last and at != hi:
                raise RuntimeError(f"to_array: partition [{a}, {b}) of {access.name} gave "
                                   f"{at - lo} records instead of {end - lo} (did the source change?)")
            return at, overflow
        except Exception as e:
            if not pool.cancel.is_set():
                add_note(e, _threads_where(plan, a, b))
            raise

    end, tail = last_start, []
    results = pool.ordered(work, parts, depth=max(2 * workers, 2))
    try:
        for end, tail in results:
            pass
    finally:
        results.close()
        pool.close()
    buffer.advance(end)
    for c in tail:
        buffer.put(c)
    return buffer.result()
