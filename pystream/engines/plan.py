"""Split a pipeline into partitions that give the serial run's output bit for bit.

A stream is a chain ``root source -> step -> step -> ...``.  Each step is a
run of fused chunk functions (``map``, ``filter``, ``astype``, ``select``) or
a generator stage.  To run contiguous pieces of the root independently, each
step says how its outputs depend on its inputs (its :class:`Mapping`):

* **pointwise** -- output ``j`` is input ``j`` (``map``, ``astype``, ``rechunk``);
* **window** of ``history`` records -- output ``j`` needs inputs
  ``j - history + 1 .. j`` (``moving_*``): a partition starting at input
  ``a`` is fed ``history - 1`` records of warm-up before ``a`` and the
  warm-up outputs are dropped;
* **records** of ``size`` every ``step`` -- output ``j`` is computed from
  inputs ``[j*step, j*step + size)`` (``nwise``, ``sliding_window``,
  ``tumbling``, ``resample``, ``diff``): a partition owns the outputs whose
  last input it owns, and starts reading at the first input of its first
  output (a multiple of ``step``, so a fresh stage is aligned);
* ``skip`` / ``take`` -- shift or cap the index;
* **sequential** -- the output depends on the whole history (scans, EWM,
  IIR filters, any ``pipe`` generator): this step and all after it run in
  the calling thread, in order, over the partitions' ordered output.

A ``filter`` changes the number of records in a data-dependent way; steps
after it stay parallel only if they are pointwise or filters, and reducers
after it merge in parallel only if they are order-free (histograms,
DDSketch).  Non-final partitions stop each step at the last output they own,
so a stage's end-of-stream flush (a partial ``resample`` block) is emitted
only by the final partition, as in the serial run.
"""

from __future__ import annotations


import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..stages.partitioning import POINTWISE, Cap, Mapping, Shift, Window

__all__ = ["Plan", "Step", "make_plan"]


# --------------------------------------------------------------------------- steps


@dataclasses.dataclass
class Step:
    """One link of the chain.

    Attributes
    ----------
    name : str
        For error messages (``"moving_mean"``, ``"map(<lambda>)"``).
    serial : callable
        ``serial(chunks) -> chunks``: the step as the local engine runs it.
    fresh : callable or None
        ``fresh(chunks, start) -> chunks``: a new instance of the step for a
        partition whose first input has global index `start`.  None for
        sequential steps.
    mapping : Mapping or None
        None for sequential steps and for data-dependent lengths.
    filter : bool
        The step drops records depending on their values.
    """

    name: str
    serial: Callable[[Iterator[np.ndarray]], Iterator[np.ndarray]]
    fresh: Callable[..., Iterator[np.ndarray]] | None
    mapping: Mapping | None
    filter: bool = False
    #: ``fresh(chunks, start, alloc=...)`` is accepted: a C stage that writes
    #: its output into memory the caller gives (``to_array`` without a copy).
    writes_into: bool = False

    @property
    def sequential(self) -> bool:
        return self.fresh is None


def _stage_name(stage: Any, args: tuple[Any, ...]) -> str:
    name = getattr(stage, "name", None)
    if isinstance(name, str):
        return name
    fn = getattr(stage, "__name__", None) or type(stage).__name__
    return f"{fn}({', '.join(map(repr, args))})" if args else str(fn)


def _fn_name(fn: Any) -> str:
    inner = getattr(fn, "func", None) or getattr(fn, "predicate", None)
    kind = type(fn).__name__.removesuffix("Fn").lower()
    if inner is not None:
        return f"{kind}({getattr(inner, '__name__', type(inner).__name__)})"
    return kind


def _fns_step(fns: tuple[Any, ...]) -> Step:
    from ..stages.elementwise import AstypeFn, MapFn, SelectFn
    from ..stream import _run

    pointwise = all(isinstance(f, (MapFn, AstypeFn, SelectFn)) for f in fns)
    name = " -> ".join(_fn_name(f) for f in fns)

    def run(chunks: Iterator[np.ndarray], start: int = 0) -> Iterator[np.ndarray]:
        return _run(chunks, fns)

    return Step(name, run, run, POINTWISE if pointwise else None, filter=not pointwise)


def _stage_step(src: Any) -> Step:
    from ..stages.structural import rechunk, skip, take
    from ..stream import _native_chunks

    stage, args, kwargs, native = src.stage, src.args, src.kwargs, src.native
    name = _stage_name(stage, args)

    def serial(chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        return stage(_native_chunks(chunks) if native else chunks, *args, **kwargs)

    def passthrough(chunks: Iterator[np.ndarray], start: int = 0) -> Iterator[np.ndarray]:
        return chunks

    if stage is take:
        return Step(name, serial, passthrough, Cap(args[0]))
    if stage is skip:
        return Step(name, serial, passthrough, Shift(args[0]))
    if stage is rechunk:
        return Step(name, serial, passthrough, POINTWISE)
    partitioning = getattr(stage, "partitioning", None)
    mapping = partitioning() if callable(partitioning) else None
    if mapping is None or "start" not in kwargs:
        return Step(name, serial, None, None)

    def fresh(chunks: Iterator[np.ndarray], start: int, **alloc: Any) -> Iterator[np.ndarray]:
        kw = dict(kwargs, start=start, **alloc)
        return stage(_native_chunks(chunks) if native else chunks, *args, **kw)

    return Step(name, serial, fresh, mapping, writes_into=bool(getattr(stage, "writes_into", False)))


# --------------------------------------------------------------------------- plan


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
            offsets = Offsets(it, self.start + p)
            m = step.mapping
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
                it = window_records(it, drop, keep)
        return it


class Offsets:
    """An iterator of chunks that remembers the global index of the last chunk it passed on."""

    __slots__ = ("chunks", "next", "offset")

    def __init__(self, chunks: Iterator[np.ndarray], start: int) -> None:
        self.chunks = chunks
        self.offset = start
        self.next = start

    def __iter__(self) -> Offsets:
        return self

    def __next__(self) -> np.ndarray:
        try:
            c = next(self.chunks)
        except StopIteration:
            raise
        except Exception as e:
            # Raised upstream: a stage there has named itself already; if not,
            # it came from reading the source, not from the step reading this.
            add_note(e, f"pystream: raised while reading the source, at global record {self.next}")
            raise
        self.offset = self.next
        self.next += len(c)
        return c

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


def add_note(error: BaseException, note: str) -> None:
    """Add `note` to `error` unless pystream already said where it happened."""
    if not getattr(error, "_pystream_where", False):
        error.add_note(note)
        try:
            error._pystream_where = True  # type: ignore[attr-defined]
        except AttributeError:  # pragma: no cover - exceptions without a __dict__
            pass


class annotated:  # noqa: N801 - used like the generator function it replaces
    """`chunks` (a step's output); an exception leaving it gets a note naming
    the step and the global index of the input chunk it was working on.

    An iterator object, not a generator, so it adds no generator frame (the
    hop count of a pipeline, see ``tests/test_stages.py``) between stages.
    """

    __slots__ = ("chunks", "name", "offsets")

    def __init__(self, chunks: Iterator[np.ndarray], name: str, offsets: Offsets) -> None:
        self.chunks = chunks
        self.name = name
        self.offsets = offsets

    def __iter__(self) -> annotated:
        return self

    def __next__(self) -> np.ndarray:
        try:
            return next(self.chunks)
        except StopIteration:
            raise
        except Exception as e:
            offsets = self.offsets
            add_note(e, f"pystream: raised by the stage {self.name!r} on its input chunk of "
                        f"global records [{offsets.offset}, {offsets.next})")
            raise

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


def run_serial(steps: list[Step], chunks: Iterator[np.ndarray], start: int) -> Iterator[np.ndarray]:
    """Run `steps` in order over `chunks` (whose first record has global index `start`)."""
    for step in steps:
        offsets = Offsets(chunks, start)
        chunks = annotated(step.serial(offsets), step.name, offsets)
    return chunks


def window_records(chunks: Iterator[np.ndarray], drop: int, keep: int | None) -> Iterator[np.ndarray]:
    """Drop the first `drop` records, then yield at most `keep` (None: all); close upstream.

    The structural ``skip`` and ``take`` stages, composed.
    """
    from ..stages.structural import skip, take

    if drop:
        chunks = skip(chunks, drop)
    return chunks if keep is None else take(chunks, keep)


def chain(stream: Any) -> tuple[Any, list[Step]]:
    """The root stream of `stream` (the one reading the source) and the steps
    from the root down."""
    from ..stream import _StageSource

    steps: list[Step] = []
    s = stream
    while True:
        if s._fns:
            steps.append(_fns_step(s._fns))
        src = s._src
        if isinstance(src, _StageSource):
            steps.append(_stage_step(src))
            s = src.parent
            continue
        steps.reverse()
        return s, steps


def make_plan(stream: Any) -> Plan:
    """Cut `stream` into its parallel prefix and sequential suffix."""
    root_stream, steps = chain(stream)
    root = root_stream._src
    dt, rs = root_stream._meta()
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
    return Plan(getattr(root, "access", None), stream.start, nbytes, prefix, steps[cut:], indexed)
