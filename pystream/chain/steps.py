"""Steps of a chain: the fused loop, error notes, byte-order conversion, :class:`Step`.

Everything that runs a link of a chain -- the pull loop, the engines'
partitions, push mode -- uses the pieces here (see ``docs/internals/chain.rst``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .._columns import ALIGNED, RowCarrier, RowMap
from ..stages.elementwise import AstypeFn, FilterFn, MapFn, SelectFn
from ..stages.partitioning import POINTWISE, Cap, Mapping, Shift
from ..stages.pushers import PusherDefaults
from ..stages.structural import rechunk, skip, take
from .generator_pusher import GeneratorPusher

__all__ = ["Offsets", "Step", "Triple", "carry_rows", "rows_of", "run_fns_triples", "serial_triples",
           "window_triples", "add_note", "annotated", "close_iterator", "fns_step", "fuse",
           "has_timed", "values_of", "native_chunks", "native_dtype", "run_fns", "run_serial", "stage_note",
           "stage_step", "timed_step",
           "window_records"]

ChunkFn = Callable[[np.ndarray], np.ndarray]
#: A chunk with its time and key columns (None where the stream has none).
Triple = tuple[np.ndarray, "np.ndarray | None", "np.ndarray | None"]

#: The stages that run no user code and raise nothing of their own: the pull
#: loop does not wrap them in error notes (the wrapper would double their cost).
STRUCTURAL = (take, skip, rechunk)


# --------------------------------------------------------------------------- error notes


def add_note(error: BaseException, note: str) -> None:
    """Add `note` to `error` unless pystream already said where it happened."""
    if not getattr(error, "_pystream_where", False):
        error.add_note(note)
        try:
            error._pystream_where = True  # type: ignore[attr-defined]
        except AttributeError:  # pragma: no cover - exceptions without a __dict__
            pass


def stage_note(error: BaseException, name: str, a: int, b: int) -> None:
    """Note on `error` that the stage `name` raised it on its input records ``[a, b)``."""
    add_note(error, f"pystream: raised by the stage {name!r} on its input chunk of "
                    f"global records [{a}, {b})")


def stage_name(stage: Any, args: tuple[Any, ...]) -> str:
    """A generator stage's name for messages (``"moving_mean"``, ``"take(3)"``)."""
    name = getattr(stage, "name", None)
    if isinstance(name, str):
        return name
    fn = getattr(stage, "__name__", None) or type(stage).__name__
    return f"{fn}({', '.join(map(repr, args))})" if args else str(fn)


def fn_name(fn: Any) -> str:
    """A chunk function's name for messages (``"map(sqrt)"``, ``"astype"``)."""
    inner = getattr(fn, "func", None) or getattr(fn, "predicate", None)
    kind = type(fn).__name__.removesuffix("Fn").lower()
    if inner is not None:
        return f"{kind}({getattr(inner, '__name__', type(inner).__name__)})"
    return kind


def close_iterator(it: object) -> None:
    """Close `it` if it can be closed (generators, the wrappers below)."""
    close = getattr(it, "close", None)
    if close is not None:
        close()


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
        self.next += self._records(c)
        return c

    @staticmethod
    def _records(item: Any) -> int:
        """How many records `item` holds (a chunk here)."""
        return len(item)

    def close(self) -> None:
        close_iterator(self.chunks)


class annotated:  # noqa: N801 - used like the generator function it replaces
    """`chunks` (a step's output); an exception leaving it gets a note naming
    the step and the global records of the input chunk it was working on.

    An iterator object, not a generator: it adds no generator frame (no hop).
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
            stage_note(e, self.name, self.offsets.offset, self.offsets.next)
            raise

    def close(self) -> None:
        close_iterator(self.chunks)


# --------------------------------------------------------------------------- byte order


def native_dtype(dtype: np.dtype) -> np.dtype:
    """`dtype` in native byte order (stages see native chunks only)."""
    return dtype if dtype.isnative else dtype.newbyteorder("=")


def to_native(chunk: np.ndarray) -> np.ndarray:
    """`chunk` in native byte order (a copy only for byte-swapped data)."""
    return chunk if chunk.dtype.isnative else chunk.astype(native_dtype(chunk.dtype))


def native_chunks(chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Byte-swapped chunks converted to native order (others passed through)."""
    try:
        for c in chunks:
            yield c if c.dtype.isnative else to_native(c)
    finally:
        close_iterator(chunks)


# --------------------------------------------------------------------------- the fused loop


def fuse(fns: tuple[ChunkFn, ...]) -> ChunkFn:
    """The chunk functions `fns` as one: each applied in turn until a chunk is empty.

    One function is returned as is.  If a function raises, the fused
    function's ``failed`` attribute names it (for the pull loop's note).
    """
    if len(fns) == 1:
        return fns[0]

    def fused(c: np.ndarray) -> np.ndarray:
        for f in fns:
            try:
                c = f(c)
            except Exception:
                fused.failed = f  # type: ignore[attr-defined]
                raise
            if not len(c):
                break
        return c

    return fused


def run_fns(chunks: Iterator[np.ndarray], fns: tuple[ChunkFn, ...],
            start: int | None = None) -> Iterator[np.ndarray]:
    """Apply the fused chunk functions `fns` to `chunks`, dropping empty chunks.

    With `start` (the global index of the first record), an exception raised
    by a function gets a note naming it and the global records of the chunk
    it was given.  (The engines, which run this per partition, add their own.)
    """
    if not fns:
        for c in chunks:
            if len(c):
                yield c
        return
    offset = 0 if start is None else start
    apply = fuse(fns)
    for c in chunks:
        k = len(c)
        if not k:
            continue
        try:
            c = apply(c)
        except Exception as e:
            if start is not None:
                stage_note(e, fn_name(getattr(apply, "failed", apply)), offset, offset + k)
            raise
        offset += k
        if len(c):
            yield c


def run_fns_triples(triples: Iterator[Triple], fns: tuple[ChunkFn, ...],
                    start: int) -> Iterator[Triple]:
    """:func:`run_fns` on chunks with their columns: a filter's mask selects the
    same rows of the time and key columns; other functions keep them as they are."""
    offset = start
    for v, t, k in triples:
        n = len(v)
        if not n:
            continue
        f: Any = None
        try:
            for f in fns:
                if type(f) is FilterFn:
                    mask = f.mask(v)
                    v = v[mask]
                    t = None if t is None else t[mask]
                    k = None if k is None else k[mask]
                else:
                    v = f(v)
                if not len(v):
                    break
        except Exception as e:
            stage_note(e, fn_name(f), offset, offset + n)
            raise
        offset += n
        if len(v):
            yield v, t, k


def rows_of(stage: Any, args: tuple[Any, ...]) -> RowMap | None:
    """The row map of a generator stage (which input gives each output its time
    and key), or None when the stage does not declare one (a ``pipe`` generator,
    a plugin stage without ``rows()``)."""
    if stage is take or stage is rechunk:
        return ALIGNED
    if stage is skip:
        return RowMap(1, int(args[0]))
    rows = getattr(stage, "rows", None)
    if not callable(rows):
        return None
    r = rows()
    if not isinstance(r, RowMap) or not (isinstance(r.step, int) and isinstance(r.offset, int)) \
            or r.step < 1 or r.offset < 0:
        raise TypeError(f"stage {stage_name(stage, args)!r}: rows() must return a "
                        f"pystream.RowMap with step >= 1 and offset >= 0, got {r!r}")
    return r


def carry_rows(step: Step, rows: RowMap, triples: Iterator[Triple], start: int,
               run: Callable[[Iterator[np.ndarray]], Iterator[np.ndarray]] | None = None,
               first: tuple[int, int] = (0, 0)) -> Iterator[Triple]:
    """Run `step` on the chunks of `triples`, giving each output record the time
    and key of the input record its row map names.

    `run` replaces the serial run of the step (an engine's fresh stage for a
    partition); `first` is then ``(output, input)``: the step-local indices
    of its first output and of the first input it is fed.
    """
    carrier = RowCarrier(rows, *first)
    fed = [0]

    def feed() -> Iterator[np.ndarray]:
        try:
            for v, t, k in triples:
                carrier.push(t, k)
                fed[0] += len(v)
                yield v
        finally:
            close_iterator(triples)

    if run is not None:
        out = run(feed())
    else:
        out = step.serial(feed()) if step.structural else step.run(feed(), start)
    try:
        for c in out:
            try:
                t, k = carrier.claim(len(c))
            except RuntimeError as e:
                raise RuntimeError(f"stage {step.name!r}: {e} ({rows})") from None
            yield c, t, k
    finally:
        close_iterator(out)
    if run is None and not isinstance(step.mapping, Cap):
        check_row_count(step.name, rows, fed[0], carrier.out)


def check_row_count(name: str, rows: RowMap, inputs: int, outputs: int) -> None:
    """Refuse a stage whose output count does not fit its row map (a plugin that
    declares ``RowMap()`` but drops records would mislabel every later one).

    A row map ``RowMap(step, offset)`` allows ``(inputs - offset) / step``
    outputs, rounded down or up (a partial last block).
    """
    span = max(0, inputs - rows.offset)
    lo, hi = span // rows.step, -(-span // rows.step)
    if not lo <= outputs <= hi:
        want = str(lo) if lo == hi else f"{lo} or {hi}"
        raise ValueError(f"stage {name!r} declares {rows}, which gives {want} output records "
                         f"for its {inputs} input records, but it gave {outputs}: its time and key "
                         "columns would be wrong (fix its rows(), or leave rows() out so the "
                         "columns stop at it)")


class FnsPusher:
    """The push form of fused chunk functions."""

    __slots__ = ("apply",)
    done = False
    error = None

    def __init__(self, fns: tuple[ChunkFn, ...]) -> None:
        self.apply = fuse(fns)

    def send(self, chunk: np.ndarray) -> list[np.ndarray]:
        chunk = self.apply(chunk)
        return [chunk] if len(chunk) else []

    def close(self) -> list[np.ndarray]:
        return []


# --------------------------------------------------------------------------- steps


@dataclasses.dataclass
class Step:
    """One link of a compiled chain, for every way of running it.

    Attributes
    ----------
    name : str
        For error notes (``"moving_mean"``, ``"map(<lambda>)"``).
    serial : callable
        ``serial(chunks) -> chunks``: the step as a serial run applies it.
    fresh : callable or None
        ``fresh(chunks, start, **alloc) -> chunks``: a new instance for a
        partition whose first input has global index `start`; None for a
        sequential step.
    mapping : Mapping or None
        How outputs depend on inputs (None: sequential or data-dependent).
    pusher : callable
        ``pusher()`` -> a new push form of the step (``send``/``close``).
    filter : bool
        The step drops records depending on their values.
    writes_into : bool
        ``fresh(..., alloc=...)`` writes the output into given memory.
    native : bool
        The step takes native-byte-order chunks only.
    structural : bool
        ``take``/``skip``/``rechunk``: the pull loop adds no error notes.
    fns : tuple or None
        The fused chunk functions of a functions step (they move the time
        and key columns record for record, through a filter's mask too).
    rows : RowMap or None
        A generator stage's row map (:func:`rows_of`).
    timed : callable or None
        ``timed(triples, start) -> triples``: a stage that reads the time
        column (:mod:`pystream.stages.timed`); it runs over chunks with their
        columns only (the engines and push mode route such a chain through
        its triples).
    time_mapping : callable or None
        A timed stage that partitions (a duration window):
        ``time_mapping(read_times)`` is its :class:`TimeWindow` mapping, given
        how to read its input's times by range (the planner binds it).
    """

    name: str
    serial: Callable[[Iterator[np.ndarray]], Iterator[np.ndarray]]
    fresh: Callable[..., Iterator[np.ndarray]] | None
    mapping: Mapping | None
    pusher: Callable[[], Any]
    filter: bool = False
    writes_into: bool = False
    native: bool = False
    structural: bool = False
    fns: tuple[ChunkFn, ...] | None = None
    rows: RowMap | None = None
    timed: Callable[[Iterator[Triple], int], Iterator[Triple]] | None = None
    time_mapping: Callable[[Callable[[int, int], Any]], Mapping] | None = None

    @property
    def sequential(self) -> bool:
        return self.fresh is None

    def run(self, chunks: Iterator[np.ndarray], start: int) -> Iterator[np.ndarray]:
        """The step over `chunks` (first record at global index `start`), with notes."""
        offsets = Offsets(chunks, start)
        return annotated(self.serial(offsets), self.name, offsets)


def fns_step(fns: tuple[ChunkFn, ...]) -> Step:
    """The step of a run of fused chunk functions."""
    pointwise = all(isinstance(f, (MapFn, AstypeFn, SelectFn)) for f in fns)
    name = " -> ".join(fn_name(f) for f in fns)

    def run(chunks: Iterator[np.ndarray], start: int = 0) -> Iterator[np.ndarray]:
        return run_fns(chunks, fns)

    return Step(name, run, run, POINTWISE if pointwise else None, lambda: FnsPusher(fns),
                filter=not pointwise, fns=fns)


def stage_step(stage: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
               native: bool = False, rows: RowMap | None = None) -> Step:
    """The step of a generator stage ``stage(chunks, *args, **kwargs)``; `rows` is
    its row map (:func:`rows_of`, read once by the chain node)."""
    name = stage_name(stage, args)

    def serial(chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        return stage(native_chunks(chunks) if native else chunks, *args, **kwargs)

    def pusher() -> Any:
        push = getattr(stage, "push", None)
        if not callable(push):
            return GeneratorPusher(lambda chunks: stage(chunks, *args, **kwargs), name)
        p = push(*args, **kwargs)
        return p if hasattr(p, "done") and hasattr(p, "error") else PusherDefaults(p)

    def passthrough(chunks: Iterator[np.ndarray], start: int = 0) -> Iterator[np.ndarray]:
        return chunks

    if stage in STRUCTURAL:
        mapping = Cap(args[0]) if stage is take else Shift(args[0]) if stage is skip else POINTWISE
        return Step(name, serial, passthrough, mapping, pusher, native=native, structural=True,
                    rows=rows)
    partitioning = getattr(stage, "partitioning", None)
    mapping = partitioning() if callable(partitioning) and "start" in kwargs else None
    if mapping is None:
        return Step(name, serial, None, None, pusher, native=native, rows=rows)

    def fresh(chunks: Iterator[np.ndarray], start: int, **alloc: Any) -> Iterator[np.ndarray]:
        kw = dict(kwargs, start=start, **alloc)
        return stage(native_chunks(chunks) if native else chunks, *args, **kw)

    return Step(name, serial, fresh, mapping, pusher, native=native,
                writes_into=bool(getattr(stage, "writes_into", False)), rows=rows)


def _needs_time(name: str) -> Any:
    """The push form of a stage that reads the time column, asked for by a push
    chain fed values only: refused with what to do instead."""
    raise TypeError(f"{name} reads the time column, and this push chain is given values "
                    "only: make it with pipeline.push(time=...) and call "
                    "send(values, time=times)")


def timed_step(stage: Any) -> Step:
    """The step of a stage that reads the time column (``stage.run_timed(triples,
    start)``): sequential, run over chunks with their columns only."""
    name = stage.name

    def serial(chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        raise TypeError(f"{name} reads the time column: it runs on chunks with their "
                        "columns only (this is a bug of the caller, which lost them)")

    def timed(triples: Iterator[Triple], start: int) -> Iterator[Triple]:
        offsets = _TripleOffsets(triples, start)  # type: ignore[arg-type]
        return annotated(stage.run_timed(offsets, start), name, offsets)  # type: ignore[arg-type]

    return Step(name, serial, None, None, lambda: _needs_time(name), timed=timed,
                time_mapping=getattr(stage, "time_mapping", None))


class _TripleOffsets(Offsets):
    """:class:`Offsets` of chunks with their columns (a record count per triple)."""

    __slots__ = ()

    @staticmethod
    def _records(item: Any) -> int:
        return len(item[0])


def values_of(triples: Iterator[Triple]) -> Iterator[np.ndarray]:
    """The value chunks of chunks with their columns (closing them when stopped)."""
    try:
        for v, _t, _k in triples:
            yield v
    finally:
        close_iterator(triples)


def has_timed(steps: list[Step]) -> bool:
    """Whether any of `steps` reads the time column (the chain then runs over triples)."""
    return any(s.timed is not None for s in steps)


def run_serial(steps: list[Step], chunks: Iterator[np.ndarray], start: int) -> Iterator[np.ndarray]:
    """Run `steps` in order over `chunks` (whose first record has global index `start`)."""
    for step in steps:
        chunks = step.run(chunks, start)
    return chunks


def window_records(chunks: Iterator[np.ndarray], drop: int, keep: int | None) -> Iterator[np.ndarray]:
    """Drop the first `drop` records, then yield at most `keep` (None: all); close upstream."""
    if drop:
        chunks = skip(chunks, drop)
    return chunks if keep is None else take(chunks, keep)


def window_triples(triples: Iterator[Triple], drop: int, keep: int | None) -> Iterator[Triple]:
    """:func:`window_records` of chunks with their time and key columns."""
    try:
        for v, t, k in triples:
            n = len(v)
            lo = min(drop, n)
            drop -= lo
            hi = n if keep is None else min(n, lo + keep)
            if keep is not None:
                keep -= hi - lo
            if hi > lo:
                yield (v[lo:hi], None if t is None else t[lo:hi], None if k is None else k[lo:hi])
            if keep == 0:
                return
    finally:
        close_iterator(triples)


def serial_triples(steps: list[Step], triples: Iterator[Triple], start: int) -> Iterator[Triple]:
    """Run `steps` in order over chunks with their columns (every step moves them:
    a functions step, or a stage with a row map)."""
    for step in steps:
        if step.fns is not None:
            triples = run_fns_triples(triples, step.fns, start)
        elif step.timed is not None:
            triples = step.timed(triples, start)
        else:
            assert step.rows is not None
            triples = carry_rows(step, step.rows, triples, start)
    return triples
