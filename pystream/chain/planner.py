"""The engines' planner: a chain cut into a parallel prefix and a sequential suffix.

How each step's :class:`~pystream.stages.partitioning.Mapping` lets a
partition reproduce the serial run bit for bit is explained in
``docs/internals/chain.rst``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..stages.partitioning import POINTWISE, Cap, Window
from ..stages.timed import time_values
from .nodes import Node, compile_chain
from .steps import (
    Offsets,
    Step,
    Triple,
    annotated,
    carry_rows,
    run_fns_triples,
    window_records,
    window_triples,
)

__all__ = ["Plan", "make_plan"]


@dataclasses.dataclass
class Plan:
    """A stream cut into a parallel prefix and a sequential suffix.

    Attributes
    ----------
    access : Any or None
        The root source's random access (``RandomAccess``), None if it has
        none.
    start : int
        Global index of the root's first record (the stream's ``start``).
    record_nbytes : int
        Bytes of one record of the root source (for default partition sizes).
    prefix : list of Step
        Steps run inside each partition.
    suffix : list of Step
        Steps run in order in the calling thread.
    indexed : bool
        True when every prefix step has a mapping (no filter), so the global
        index of every output record is known.
    """

    access: Any
    start: int
    record_nbytes: int
    prefix: list[Step]
    suffix: list[Step]
    indexed: bool

    def _owned(self, a: int, b: int | None) -> list[tuple[int, int | None]]:
        """Per prefix step, the outputs ``[lo, hi)`` owned by root partition
        ``[a, b)`` (``hi`` None: to the end).  Past a filter indices are
        unknown; the entries there are not used."""
        owned: list[tuple[int, int | None]] = []
        for step in self.prefix:
            m = step.mapping
            if m is not None:
                a = m.owned(a)
                b = None if b is None else m.owned(b)
                if isinstance(m, Cap) and b is None:
                    # The take stops at its cap, but the final partition stays
                    # open-ended downstream: the stream ends there, so later
                    # stages flush (a partial resample block) as in the serial run.
                    owned.append((a, m.n))
                    continue
            owned.append((a, b))
        return owned

    def output_range(self, a: int, b: int | None) -> tuple[int, int | None]:
        """Final output indices ``[A, B)`` owned by root partition ``[a, b)``
        (``b`` None: to the end; ``B`` None: unbounded).  Meaningful when
        :attr:`indexed`."""
        owned = self._owned(a, b)
        return owned[-1] if owned else (a, b)

    def _smallest(self, n: int, enough: Callable[[int], bool]) -> int:
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi) // 2
            if enough(mid):
                hi = mid
            else:
                lo = mid + 1
        return lo

    def _takes(self) -> list[int]:
        if not self.indexed:
            return []
        return [i for i, s in enumerate(self.prefix) if isinstance(s.mapping, Cap)]

    def effective_length(self, n: int) -> int:
        """The root records that matter out of `n` for splitting: fewer when a
        ``take`` caps the output (partitions past the cap would own nothing,
        so the engines split only this range -- the last partition reads on)."""
        if not self._takes():
            return n
        total = self.output_range(0, n)[1] or 0
        return self._smallest(n, lambda a: (self.output_range(0, a)[1] or 0) >= total)

    def read_limit(self, n: int) -> int:
        """No partition reads a root record at or past this (of `n`): a
        ``take`` stops its input there."""
        takes = self._takes()
        if not takes:
            return n
        t = takes[0]
        cap = self.prefix[t].mapping.n  # type: ignore[union-attr]
        return self._smallest(n, lambda a: (self._owned(0, a)[t][1] or 0) >= cap)

    def _starts(self, owned: list[tuple[int, int | None]], a: int) -> list[int]:
        """Per prefix step, the first input its fresh stage reads, so that it
        emits the partition's first owned output exactly (backwards from the
        last step: the input a step needs is what the step before must emit)."""
        need = owned[-1][0] if owned else a
        starts = [0] * len(self.prefix)
        for i in range(len(self.prefix) - 1, -1, -1):
            m = self.prefix[i].mapping
            if m is not None:
                need = m.need(need)
            starts[i] = need
        return starts

    def input_start(self, a: int, b: int | None) -> int:
        """The first root record partition ``[a, b)`` reads (``a`` minus its warm-up)."""
        starts = self._starts(self._owned(a, b), a)
        return starts[0] if starts else a

    def partition(self, a: int, b: int | None,
                  read: Callable[[int, int | None], Iterator[np.ndarray]],
                  alloc_from: Callable[[int], Callable[[int], np.ndarray]] | None = None,
                  ) -> Iterator[np.ndarray]:
        """The prefix's output for root partition ``[a, b)`` (``b`` None: to the end).

        `read(p, b)` gives the root's records ``[p, b)`` as chunks.  If the
        last step is a C window stage (one output per input) and
        `alloc_from` is given, ``alloc_from(j)`` gives the allocator its
        output chunks are written to, ``j`` being the final output index of
        its first output.
        """
        return self._partition(a, b, read, alloc_from, False)

    def partition_triples(self, a: int, b: int | None,
                          read: Callable[[int, int | None], Iterator[Triple]]) -> Iterator[Triple]:
        """:meth:`partition` of chunks with their time and key columns: `read(p, b)`
        gives the root's records ``[p, b)`` as ``(chunk, time, key)`` triples, and
        each step moves the columns as its row map says (every prefix step of a
        stream that carries columns has one)."""
        return self._partition(a, b, read, None, True)

    def _partition(self, a: int, b: int | None, read: Callable[[int, int | None], Iterator[Any]],
                   alloc_from: Callable[[int], Callable[[int], np.ndarray]] | None,
                   columns: bool) -> Iterator[Any]:
        # Backward: the first output each step must produce and the input it
        # needs for that; forward: run fresh stages from there, dropping the
        # warm-up outputs and stopping at the owned boundary.
        owned = self._owned(a, b)
        n = len(self.prefix)
        starts = self._starts(owned, a)
        it = read(starts[0] if n else a, b)
        filtered = False
        for i, step in enumerate(self.prefix):
            p = starts[i]
            assert step.fresh is not None
            m = step.mapping
            if columns:
                it = self._step_triples(step, it, p, filtered)
            else:
                offsets = Offsets(it, self.start + p)
                extra: dict[str, Any] = {}
                if (alloc_from is not None and i == n - 1 and step.writes_into
                        and isinstance(m, Window)):
                    extra["alloc"] = alloc_from(m.first(p))
                it = annotated(step.fresh(offsets, self.start + p, **extra), step.name, offsets)
            if m is None:
                filtered = True
            if filtered or m == POINTWISE:
                continue    # one output per input: already cut upstream
            target = starts[i + 1] if i + 1 < n else owned[i][0]
            hi = owned[i][1]
            drop = target - m.first(p)
            keep = None if hi is None else max(0, hi - target)
            if drop or keep is not None:
                it = window_triples(it, drop, keep) if columns else window_records(it, drop, keep)
        return it

    def _step_triples(self, step: Step, triples: Iterator[Triple], p: int,
                      filtered: bool) -> Iterator[Triple]:
        """One prefix step of a partition over triples; its fresh stage is fed
        from its input `p` (step-local; unknown past a filter, where only
        pointwise steps follow)."""
        start = self.start + p
        if step.fns is not None:
            return run_fns_triples(triples, step.fns, start)
        if step.timed is not None:
            # A duration window fed from its warm-up (TimeWindow.need): each
            # output is a function of its window and global indices only.
            return step.timed(triples, start)
        assert step.rows is not None and step.fresh is not None
        fresh = step.fresh
        m = step.mapping

        def run(values: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
            offsets = Offsets(values, start)
            return annotated(fresh(offsets, start), step.name, offsets)

        first = (0, 0) if filtered or m is None else (m.first(p), p)
        return carry_rows(step, step.rows, triples, start, run, first)


def _time_windows(steps: list[Step], access: Any) -> list[Step]:
    """`steps` with each duration window that follows the source through pointwise
    steps only made a partitioned step: its warm-up found by reading the
    source's times (:class:`~pystream.stages.partitioning.TimeWindow`)."""
    if access is None or getattr(access, "triples", None) is None:
        return steps
    out = list(steps)
    for i, step in enumerate(steps):
        if step.time_mapping is not None:
            out[i] = dataclasses.replace(step, fresh=_timed_fresh,
                                         mapping=step.time_mapping(_TimesReader(access)))
        if step.mapping != POINTWISE:
            break
    return out


def _timed_fresh(chunks: Iterator[np.ndarray], start: int) -> Iterator[np.ndarray]:
    raise TypeError("a duration window runs over chunks with their columns")  # pragma: no cover


class _TimesReader:
    """The times of the source's records ``[a, b)``, as the kernels take them
    (a class, not a closure: a Dask task pickles it)."""

    def __init__(self, access: Any) -> None:
        self.triples = access.triples

    def __call__(self, a: int, b: int) -> np.ndarray:
        parts = [t for _v, t, _k in self.triples(a, b, None, None) if t is not None]
        if not parts:
            return np.empty(0, np.int64)
        return time_values(np.concatenate(parts) if len(parts) > 1 else parts[0])


def make_plan(node: Node, columns: bool = False) -> Plan:
    """Cut the chain of `node` into its parallel prefix and sequential suffix
    (`columns`: the run carries the time and key columns, so a duration window
    right after the source can be split into partitions too)."""
    root, steps = compile_chain(node)
    if columns:
        steps = _time_windows(steps, getattr(root.source, "access", None))
    dt, rs = root.meta()
    nbytes = max(1, dt.itemsize * int(np.prod(rs, dtype=np.int64)))
    prefix: list[Step] = []
    indexed = True
    cut = len(steps)
    for i, step in enumerate(steps):
        if step.sequential or (not indexed and not step.filter and step.mapping != POINTWISE):
            cut = i
            break
        if step.filter:
            indexed = False
        prefix.append(step)
    return Plan(getattr(root.source, "access", None), node.start, nbytes, prefix, steps[cut:], indexed)
