"""The :class:`Stream` class: a lazy sequence of numpy chunks.

Plumbing
--------
A stream is a *source* plus a tuple of pending stateless chunk functions.

* A source knows how to ``open()`` an iterator of raw chunks (checking that
  a one-shot source is not iterated twice) and how to ``peek()`` at them
  without consuming a one-shot source (chunks pulled while peeking are kept
  and replayed by the next ``open()``).
* Stateless stages (``map``, ``filter``, ``astype``, ``select``) append a
  chunk function to the tuple; iterating applies all of them in one loop
  (:func:`_run`), so any number of consecutive stateless stages costs one
  generator hop.
* Structural stages (``take``, ``skip``, ``rechunk``, :meth:`Stream.pipe`)
  make a new source that wraps a generator function around the parent's
  iteration.

Metadata (dtype, record shape) is known up front in most cases; when it is
not (``from_chunks`` without ``dtype``, ``from_text`` without ``usecols``,
a ``map`` whose output cannot be inferred from an empty chunk) it is
resolved on first use by peeking at the first chunk.
"""

from __future__ import annotations

import collections
import inspect
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .stages.elementwise import (
    AstypeFn,
    ColumnsLike,
    FilterFn,
    MapFn,
    SelectFn,
    infer_map_output,
    normalize_columns,
)
from .stages.methods import StageMethods
from .terminals.methods import TerminalMethods
from .terminals.plugin import PluginTerminal
from ._checks import check_count, normalize_record_shape
from .stages.structural import rechunk, skip, take

__all__ = ["Stream"]

ChunkFn = Callable[[np.ndarray], np.ndarray]
Meta = tuple[np.dtype, tuple[int, ...]]
Resolver = Callable[["Stream"], tuple[Any, Any]]


_ONE_SHOT_MESSAGE = (
    "this stream reads a one-shot source (an iterator, a generator, a file object, "
    "stdin, or a path naming a pipe, FIFO or device) that an earlier iteration already "
    "consumed; build a new stream for a new "
    "pass, or materialise the data once (to_array(), then from_array()) to iterate it "
    "several times"
)


# --------------------------------------------------------------------------- sources


class _CallableSource:
    """A re-iterable source: ``make()`` returns a fresh iterator of chunks each time."""

    __slots__ = ("access", "make", "nonempty", "whole")
    one_shot = False

    def __init__(
        self,
        make: Callable[[], Iterable[np.ndarray]],
        nonempty: bool = False,
        whole: np.ndarray | None = None,
        access: Any = None,
    ) -> None:
        self.make = make
        self.nonempty = nonempty
        # The whole in-memory array, when the chunks are views of one: a
        # reducer may then read it in one call (results are chunk-invariant).
        self.whole = whole
        # A RandomAccess (pystream.engines.access) when any record range can
        # be read on its own: what the threads and Dask engines need.
        self.access = access

    def open(self) -> Iterator[np.ndarray]:
        return iter(self.make())

    peek = open


class _OneShotSource:
    """A source that can be iterated once; ``peek()`` records and ``open()`` replays."""

    __slots__ = ("_buffer", "_consumed", "_it", "make", "nonempty")
    one_shot = True

    def __init__(self, make: Callable[[], Iterable[np.ndarray]], nonempty: bool = False) -> None:
        self.make = make
        self.nonempty = nonempty
        self._it: Iterator[np.ndarray] | None = None
        self._buffer: collections.deque[np.ndarray] = collections.deque()
        self._consumed = False

    def _iterator(self) -> Iterator[np.ndarray]:
        if self._it is None:
            self._it = iter(self.make())
        return self._it

    def _check(self) -> None:
        if self._consumed:
            raise RuntimeError(_ONE_SHOT_MESSAGE)

    def open(self) -> Iterator[np.ndarray]:
        self._check()
        self._consumed = True
        if not self._buffer:
            return self._iterator()
        return self._replay()

    def _replay(self) -> Iterator[np.ndarray]:
        buf = self._buffer
        while buf:
            yield buf.popleft()
        yield from self._iterator()

    def peek(self) -> Iterator[np.ndarray]:
        self._check()
        return self._peek()

    def _peek(self) -> Iterator[np.ndarray]:
        buf = self._buffer
        i = 0
        while i < len(buf):
            yield buf[i]
            i += 1
        # A plain for loop (not ``yield from``): closing the peek must not
        # close the underlying iterator.
        for c in self._iterator():
            buf.append(c)
            yield c


class _StageSource:
    """A generator stage wrapped around the iteration of a parent stream."""

    __slots__ = ("args", "kwargs", "native", "nonempty", "parent", "stage")

    def __init__(
        self,
        parent: Stream,
        stage: Callable[..., Iterator[np.ndarray]],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        nonempty: bool = False,
        native: bool = False,
    ) -> None:
        self.parent = parent
        self.stage = stage
        self.args = args
        self.kwargs = kwargs or {}
        self.nonempty = nonempty
        self.native = native  # hand the stage native-byte-order chunks

    @property
    def one_shot(self) -> bool:
        return self.parent.one_shot

    def upstream(self, peek: bool = False) -> Iterator[np.ndarray]:
        """The parent's chunks, converted to native byte order if ``native``."""
        chunks = self.parent._iter(peek)
        return _native_chunks(chunks) if self.native else chunks

    def _annotated(self, peek: bool) -> Iterator[np.ndarray]:
        # An exception leaving the stage gets a note naming it and the global
        # records of the input chunk it was working on.  take, skip and
        # rechunk run no user code and raise nothing of their own: they are
        # not wrapped (they cost a fraction of a microsecond per chunk, which
        # the wrapper would double).
        from .engines.plan import Offsets, _stage_name, annotated

        if self.stage in _STRUCTURAL:
            return self.stage(self.upstream(peek), *self.args, **self.kwargs)
        offsets = Offsets(self.upstream(peek), self.parent._start)
        return annotated(self.stage(offsets, *self.args, **self.kwargs),
                         _stage_name(self.stage, self.args), offsets)

    def open(self) -> Iterator[np.ndarray]:
        return self._annotated(False)

    def peek(self) -> Iterator[np.ndarray]:
        return self._annotated(True)


_STRUCTURAL = (take, skip, rechunk)


def native_dtype(dtype: np.dtype) -> np.dtype:
    """`dtype` in native byte order (stages see native chunks only)."""
    return dtype if dtype.isnative else dtype.newbyteorder("=")


def _native_chunks(chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Byte-swapped chunks converted to native order (others passed through)."""
    try:
        for c in chunks:
            yield c if c.dtype.isnative else c.astype(native_dtype(c.dtype))
    finally:
        _close(chunks)


Source = _CallableSource | _OneShotSource | _StageSource


def _run(chunks: Iterator[np.ndarray], fns: tuple[ChunkFn, ...],
         start: int | None = None) -> Iterator[np.ndarray]:
    """Apply the fused chunk functions `fns` to `chunks`, dropping empty chunks.

    With `start` (the global index of the first record), an exception raised
    by a function gets a note naming it and the global records of the chunk
    it was given.  (The engines, which run this per partition, add their own.)
    """
    n = len(fns)
    if n == 0:
        for c in chunks:
            if len(c):
                yield c
        return
    offset = 0 if start is None else start
    f = fns[0]
    for c in chunks:
        k = len(c)
        if not k:
            continue
        try:
            if n == 1:
                c = f(c)
            else:
                for f in fns:
                    c = f(c)
                    if not len(c):
                        break
        except Exception as e:
            if start is not None:
                _note_fn(e, f, offset, k)
            raise
        offset += k
        if len(c):
            yield c


def _note_fn(error: Exception, fn: ChunkFn, offset: int, k: int) -> None:
    from .engines.plan import _fn_name, add_note

    add_note(error, f"pystream: raised by the stage {_fn_name(fn)!r} on its input chunk of "
                    f"global records [{offset}, {offset + k})")


def _with_offsets(chunks: Iterator[np.ndarray], start: int) -> Iterator[tuple[int, np.ndarray]]:
    offset = start
    for c in chunks:
        yield offset, c
        offset += len(c)


def _close(it: object) -> None:
    close = getattr(it, "close", None)
    if close is not None:
        close()


def _peek_first(stream: Stream) -> np.ndarray | None:
    """First non-empty output chunk of `stream`, without consuming a one-shot source."""
    it = stream._iter(True)
    try:
        return next(it, None)
    finally:
        _close(it)


# --------------------------------------------------------------------------- Stream


class Stream(TerminalMethods, StageMethods):
    """A lazy sequence of numpy chunks with one dtype and one record shape.

    A chunk is an array of shape ``(k, *record_shape)`` holding ``k``
    consecutive records.  Stages (``map``, ``filter``, ``take``, ...) return
    new streams and never modify their parent; nothing is read until the
    stream is iterated.  Iterating yields plain, non-empty ndarrays.

    Most users create streams with the source functions
    (:func:`~pystream.sources.from_array`, ``from_npy``, ``from_file``,
    ``from_text``, ``from_iterable``, ``from_chunks``).

    Parameters
    ----------
    make_chunks : callable
        ``make_chunks()`` returns an iterator of chunks.  It is called once
        per iteration (or once in total if `one_shot`).  Its chunks are
        trusted: they must have the given dtype and record shape (use
        ``from_chunks`` for validated input).  Empty chunks are dropped.
    dtype : dtype-like, optional
        Dtype of the chunks.  None: taken from the first chunk when needed
        (float64 for an empty stream).
    record_shape : tuple of int, optional
        Shape of one record, ``()`` for scalars.  None: taken from the first
        chunk when needed (``()`` for an empty stream).
    one_shot : bool, optional
        True if the chunks can be produced only once (e.g. they come from
        a generator).  A second iteration then raises RuntimeError.
    start : int, optional
        Global index of the first record (offsets reported by
        :meth:`chunks_with_offsets` and used by reducers start here).

    Raises
    ------
    TypeError
        If `make_chunks` is not callable or an argument has the wrong type.
    ValueError
        If `start` is negative or `record_shape` has negative dimensions.

    Examples
    --------
    >>> import numpy as np
    >>> s = Stream(lambda: iter([np.arange(3), np.arange(3, 5)]), np.int64)
    >>> [c.tolist() for c in s.map(np.negative)]
    [[0, -1, -2], [-3, -4]]
    """

    __slots__ = ("__weakref__", "_dtype", "_fns", "_record_shape", "_resolver", "_src", "_start")

    _src: Source
    _fns: tuple[ChunkFn, ...]
    _dtype: np.dtype | None
    _record_shape: tuple[int, ...] | None
    _resolver: Resolver | None
    _start: int

    def __init__(
        self,
        make_chunks: Callable[[], Iterable[np.ndarray]],
        dtype: DTypeLike | None = None,
        record_shape: tuple[int, ...] | None = (),
        *,
        one_shot: bool = False,
        start: int = 0,
    ) -> None:
        if not callable(make_chunks):
            raise TypeError(
                f"Stream: make_chunks must be a callable returning an iterator of chunks, got "
                f"{make_chunks!r}"
            )
        src: Source = _OneShotSource(make_chunks) if one_shot else _CallableSource(make_chunks)
        dt = None if dtype is None else np.dtype(dtype)
        rs = None if record_shape is None else normalize_record_shape(record_shape, "Stream")
        self._init(src, (), dt, rs, _first_chunk_resolver(dt, rs), check_count(start, "start", "Stream"))

    # ------------------------------------------------------------- construction

    def _init(
        self,
        src: Source,
        fns: tuple[ChunkFn, ...],
        dtype: np.dtype | None,
        record_shape: tuple[int, ...] | None,
        resolver: Resolver | None,
        start: int,
    ) -> None:
        self._src = src
        self._fns = fns
        self._start = start
        if dtype is not None and record_shape is not None:
            self._dtype = dtype
            self._record_shape = record_shape
            self._resolver = None
        else:
            if resolver is None:
                raise AssertionError("a stream with unknown metadata needs a resolver")
            self._dtype = None
            self._record_shape = None
            self._resolver = resolver

    @classmethod
    def _from_source(
        cls,
        src: Source,
        dtype: np.dtype | None,
        record_shape: tuple[int, ...] | None,
        resolver: Resolver | None = None,
        start: int = 0,
    ) -> Stream:
        """Make a stream from an internal source object (used by the source factories)."""
        s = cls.__new__(cls)
        if resolver is None and (dtype is None or record_shape is None):
            resolver = _first_chunk_resolver(dtype, record_shape)
        s._init(src, (), dtype, record_shape, resolver, start)
        return s

    def _derive(
        self,
        src: Source | None = None,
        fns: tuple[ChunkFn, ...] | None = None,
        meta: Meta | Resolver | None = None,
    ) -> Stream:
        """New stream sharing this one's source/functions unless replaced.

        `meta` is ``(dtype, record_shape)``, a resolver, or None for "same
        as this stream".
        """
        s = Stream.__new__(Stream)
        if meta is None:
            meta = self._same_meta()
        if callable(meta):
            s._init(self._src if src is None else src, self._fns if fns is None else fns, None, None, meta, self._start)
        else:
            dt, rs = meta
            s._init(self._src if src is None else src, self._fns if fns is None else fns, dt, rs, None, self._start)
        return s

    def _same_meta(self) -> Meta | Resolver:
        if self._dtype is not None:
            return self._dtype, self._record_shape  # type: ignore[return-value]
        parent = self
        return lambda _s: parent._meta()

    def _meta(self) -> Meta:
        """Return ``(dtype, record_shape)``, resolving them by peeking if needed."""
        if self._dtype is None:
            resolver = self._resolver
            assert resolver is not None
            dt, rs = resolver(self)
            self._record_shape = tuple(rs)
            self._dtype = np.dtype(dt)
            self._resolver = None
        return self._dtype, self._record_shape  # type: ignore[return-value]

    # ------------------------------------------------------------- iteration

    def _iter(self, peek: bool = False) -> Iterator[np.ndarray]:
        if not peek and self._dtype is None:
            self._meta()
        src = self._src
        chunks = src.peek() if peek else src.open()
        if not self._fns and src.nonempty:
            return chunks
        return _run(chunks, self._fns, self._start)

    def __iter__(self) -> Iterator[np.ndarray]:
        """Iterate over the chunks (non-empty plain ndarrays).

        Returns
        -------
        iterator of ndarray

        Raises
        ------
        RuntimeError
            If the stream reads a one-shot source that was already consumed.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> [c.tolist() for c in from_array(np.arange(5), chunk_size=2)]
        [[0, 1], [2, 3], [4]]
        """
        return self._iter()

    def __aiter__(self) -> AsyncIterator[np.ndarray]:
        """``async for chunk in stream``: the chunks, without blocking the event loop.

        A stream from :func:`~pystream.from_async_iterable` runs its stages
        in push mode as the items arrive (chunks of 256 KiB or more in a
        worker thread); any other stream is advanced in a worker thread, one
        chunk at a time.  The chunks are those of ``for chunk in stream``.
        See :mod:`pystream.aio`.

        Returns
        -------
        async iterator of ndarray

        Examples
        --------
        >>> import asyncio, numpy as np, pystream as ps
        >>> async def main():
        ...     s = ps.from_array(np.arange(5.0), chunk_size=2).cumsum()
        ...     return [c.tolist() async for c in s]
        >>> asyncio.run(main())
        [[0.0, 1.0], [3.0, 6.0], [10.0]]
        """
        from .aio import aiter_stream

        return aiter_stream(self)

    def chunks_with_offsets(self) -> Iterator[tuple[int, np.ndarray]]:
        """Iterate over ``(offset, chunk)`` pairs.

        `offset` is the global index of the chunk's first record in this
        stream (counting from the stream's start, 0 by default).

        Returns
        -------
        iterator of (int, ndarray)

        Raises
        ------
        RuntimeError
            If the stream reads a one-shot source that was already consumed.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> [(o, len(c)) for o, c in from_array(np.arange(5), chunk_size=2).chunks_with_offsets()]
        [(0, 2), (2, 2), (4, 1)]
        """
        return _with_offsets(self._iter(), self._start)

    # ------------------------------------------------------------- properties

    @property
    def dtype(self) -> np.dtype:
        """numpy.dtype: element type of the chunks.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> from_array(np.zeros(3, np.float32)).dtype
        dtype('float32')
        """
        return self._meta()[0]

    @property
    def record_shape(self) -> tuple[int, ...]:
        """tuple of int: shape of one record (``()`` for a scalar stream).

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> from_array(np.zeros((4, 3))).record_shape
        (3,)
        """
        return self._meta()[1]

    @property
    def start(self) -> int:
        """int: global index of the stream's first record (0 unless given).

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> from_array(np.zeros(3)).start
        0
        """
        return self._start

    @property
    def one_shot(self) -> bool:
        """bool: True if the stream can be iterated only once.

        Examples
        --------
        >>> from pystream.sources import from_iterable
        >>> from_iterable(iter([1.0, 2.0]), float).one_shot
        True
        """
        return self._src.one_shot

    def __repr__(self) -> str:
        if self._dtype is None:
            meta = "dtype=<unresolved>"
        else:
            meta = f"dtype={self._dtype}, record_shape={self._record_shape}"
        fns = ", ".join(repr(f) for f in self._fns)
        extra = f", pending=[{fns}]" if fns else ""
        shot = ", one_shot=True" if self.one_shot else ""
        return f"<Stream {meta}{extra}{shot}>"

    # ------------------------------------------------------------- stateless stages

    def _with_fn(self, fn: ChunkFn, meta: Meta | Resolver | None = None) -> Stream:
        return self._derive(fns=self._fns + (fn,), meta=meta)

    def map(self, func: Callable[[np.ndarray], Any], dtype: DTypeLike | None = None) -> Stream:
        """Apply `func` to every chunk (a stateless, fused stage).

        Parameters
        ----------
        func : callable
            ``func(chunk) -> array`` of shape ``(k, *out_record_shape)``: one
            output record per input record (use :meth:`filter` to drop
            records).  It sees whole chunks, so it should be vectorised.
        dtype : dtype-like, optional
            Output dtype; outputs of another dtype are cast to it.  By
            default the output dtype and record shape are inferred by
            calling `func` on an empty chunk, or, if that fails, on the
            first chunk.

        Returns
        -------
        Stream
            A new lazy stream.

        Raises
        ------
        TypeError
            If `func` is not callable; during iteration, if `func` returns
            a dtype different from the inferred one (and `dtype` was not
            given).
        ValueError
            During iteration, if `func` changes the number of records or the
            record shape.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> from_array(np.array([-1.0, 4.0])).map(np.abs).map(np.sqrt).to_array()
        array([1., 2.])
        """
        if not callable(func):
            raise TypeError(f"map: func must be callable, got {func!r}")
        out_dt = None if dtype is None else np.dtype(dtype)
        fn = MapFn(func, out_dt, None, cast=out_dt is not None)
        parent = self

        def resolve(child: Stream) -> Meta:
            pdt, prs = parent._meta()
            inferred = infer_map_output(func, pdt, prs)
            if inferred is None:
                first = _peek_first(child)
                inferred = (pdt, prs) if first is None else (first.dtype, tuple(first.shape[1:]))
            dt = out_dt if out_dt is not None else inferred[0]
            fn.set_meta(dt, inferred[1])
            return dt, inferred[1]

        if self._dtype is not None:
            inferred = infer_map_output(func, self._dtype, self._record_shape)  # type: ignore[arg-type]
            if inferred is not None:
                dt = out_dt if out_dt is not None else inferred[0]
                fn.set_meta(dt, inferred[1])
                return self._with_fn(fn, (fn.dtype, fn.record_shape))  # type: ignore[arg-type]
        return self._with_fn(fn, resolve)

    def filter(self, predicate: Callable[[np.ndarray], Any]) -> Stream:
        """Keep the records for which ``predicate(chunk)`` is True (fused stage).

        Parameters
        ----------
        predicate : callable
            ``predicate(chunk) -> mask``: a boolean array of shape ``(k,)``,
            one value per record.

        Returns
        -------
        Stream
            A new lazy stream with the same dtype and record shape.

        Raises
        ------
        TypeError
            If `predicate` is not callable; during iteration, if the mask is
            not boolean.
        ValueError
            During iteration, if the mask does not have shape ``(k,)``.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> from_array(np.arange(6)).filter(lambda c: c % 2 == 1).to_array()
        array([1, 3, 5])
        """
        if not callable(predicate):
            raise TypeError(f"filter: predicate must be callable, got {predicate!r}")
        return self._with_fn(FilterFn(predicate))

    def astype(self, dtype: DTypeLike, casting: str = "unsafe") -> Stream:
        """Cast the chunks to `dtype` (fused stage).

        Parameters
        ----------
        dtype : dtype-like
            Target dtype.
        casting : {"no", "equiv", "safe", "same_kind", "unsafe"}, optional
            Casting rule, as in :meth:`numpy.ndarray.astype` (default
            ``"unsafe"``, numpy's default).

        Returns
        -------
        Stream
            A new lazy stream (this stream itself, re-wrapped, if the dtype
            is unchanged).

        Raises
        ------
        TypeError
            If the cast is not allowed under `casting`.
        ValueError
            If `casting` is not a valid rule.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> from_array(np.arange(3)).astype(np.float32).dtype
        dtype('float32')
        """
        dt = np.dtype(dtype)
        if casting not in ("no", "equiv", "safe", "same_kind", "unsafe"):
            raise ValueError(
                "astype: casting must be one of 'no', 'equiv', 'safe', 'same_kind', 'unsafe', "
                f"got {casting!r}"
            )
        if dt.hasobject:
            raise TypeError("astype: object dtypes are not supported in streams")
        if self._dtype is not None:
            if not np.can_cast(self._dtype, dt, casting=casting):  # type: ignore[arg-type]
                raise TypeError(
                    f"astype: cannot cast {self._dtype} to {dt} with casting={casting!r}"
                )
            if dt == self._dtype:
                return self._derive()
            return self._with_fn(AstypeFn(dt, casting), (dt, self._record_shape))  # type: ignore[arg-type]
        parent = self
        return self._with_fn(AstypeFn(dt, casting), lambda _s: (dt, parent._meta()[1]))

    def select(self, columns: ColumnsLike) -> Stream:
        """Pick columns of a record stream: index the first record axis (fused stage).

        Parameters
        ----------
        columns : int, slice or sequence of int
            An int drops the axis (records of shape ``record_shape[1:]``); a
            slice or a list keeps it.  Lists forming an arithmetic
            progression become slices, so the result stays a view.

        Returns
        -------
        Stream
            A new lazy stream.

        Raises
        ------
        ValueError
            For a scalar stream, or if nothing is selected.
        IndexError
            If a column is out of range.
        TypeError
            If `columns` is not an int, a slice or a sequence of ints.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> s = from_array(np.arange(6).reshape(2, 3))
        >>> s.select(0).to_array()
        array([0, 3])
        >>> s.select([0, 2]).record_shape
        (2,)
        """
        dt, rs = self._meta()
        index, new_rs = normalize_columns(columns, rs)
        return self._with_fn(SelectFn(index), (dt, new_rs))

    # ------------------------------------------------------------- structural stages

    def pipe(
        self,
        stage: Callable[..., Iterable[np.ndarray]],
        *args: Any,
        dtype: DTypeLike | None = None,
        record_shape: tuple[int, ...] | None = None,
        **kwargs: Any,
    ) -> Stream:
        """Add a generator stage ``stage(chunks, *args, **kwargs) -> chunks``.

        This is how stateful stages (windows, scans, plugins) plug in: the
        stage receives the iterator of this stream's chunks and yields new
        chunks.  Empty chunks it yields are dropped.  Every other chunk is
        checked against the declared `dtype` and `record_shape` (unless the
        stage is one of pystream's own): a chunk that is not an ndarray, or
        of another dtype or record shape, raises an error naming the stage
        and the chunk's global record offset.  The chunks the stage
        receives may be read-only (views of the caller's arrays): it must
        not write to them.

        Parameters
        ----------
        stage : callable
            Generator function over chunks.
        *args, **kwargs
            Extra arguments for `stage`.
        dtype : dtype-like, optional
            Output dtype; default: this stream's dtype.
        record_shape : tuple of int, optional
            Output record shape; default: this stream's record shape.

        Returns
        -------
        Stream
            A new lazy stream.

        Raises
        ------
        TypeError
            If `stage` is not callable; during iteration, if it yields
            something that is not an ndarray, or a chunk of another dtype.
        ValueError
            During iteration, if it yields a 0-d array or records of another
            shape than `record_shape`.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> def cumsum(chunks):
        ...     total = 0
        ...     for c in chunks:
        ...         out = np.cumsum(c) + total
        ...         total = out[-1]
        ...         yield out
        >>> from_array(np.arange(5), chunk_size=2).pipe(cumsum).to_array()
        array([ 0,  1,  3,  6, 10])
        """
        if not callable(stage):
            raise TypeError(f"pipe: stage must be callable, got {stage!r}")
        dt = None if dtype is None else np.dtype(dtype)
        rs = None if record_shape is None else normalize_record_shape(record_shape, "pipe")
        from .plugins import CheckedGenerator, is_builtin_stage

        out: list[Stream] = []  # the stream made below: its metadata is the declaration
        if not is_builtin_stage(stage):  # each chunk it yields is checked against it
            stage = CheckedGenerator(stage, lambda: out[0]._meta(), lambda: out[0]._start)
        src = _StageSource(self, stage, args, kwargs, nonempty=False)
        meta: Meta | Resolver
        if dt is not None and rs is not None:
            meta = (dt, rs)
        elif dt is None and rs is None:
            meta = self._same_meta()
        else:
            parent = self
            meta = lambda _s: (
                dt if dt is not None else parent._meta()[0],
                rs if rs is not None else parent._meta()[1],
            )
        out.append(self._derive(src=src, fns=(), meta=meta))
        return out[0]

    # ------------------------------------------------------------- plugins
    def __getattr__(self, name: str) -> Any:
        """Stages and reducers registered by plugins, as methods: ``stream.<name>(...)``."""
        if name.startswith("_"):
            raise AttributeError(name)
        from .plugins import get_registry

        registry = get_registry()
        entry = registry.stages.get(name) or registry.reducers.get(name)
        if entry is None:
            raise AttributeError(
                f"'Stream' object has no attribute {name!r}; no plugin registers a stage or "
                "reducer of that name (`pystream plugins` lists them)"
            )
        return _plugin_method(self, entry)

    def __dir__(self) -> list[str]:
        from .plugins import get_registry

        registry = get_registry()
        return sorted(set(super().__dir__()) | set(registry.stages) | set(registry.reducers))

    def _add_stage(self, stage: Any) -> Stream:
        """Pipe a stage object (``output_meta(dtype, record_shape)`` and
        ``stage(chunks, start=...)``) through this stream.

        The output metadata is computed now when this stream's is known, so
        an unsupported input dtype fails at construction, not mid-stream.
        Stages see native byte order only: byte-swapped chunks are converted
        on the way in (one copy per chunk, only for such data).
        """
        from .plugins import checked_stage

        parent = self
        stage = checked_stage(stage, lambda: (native_dtype(parent._meta()[0]), parent._meta()[1]))
        src = _StageSource(self, stage, (), {"start": self._start}, nonempty=False, native=True)
        meta: Meta | Resolver
        if self._dtype is not None:
            meta = stage.output_meta(native_dtype(self._dtype), self._record_shape)
        else:
            parent = self
            meta = lambda _s: stage.output_meta(native_dtype(parent._meta()[0]), parent._meta()[1])
        return self._derive(src=src, fns=(), meta=meta)

    def take(self, n: int) -> Stream:
        """Keep only the first `n` records.

        Upstream is not pulled any further once `n` records are out, so
        ``take`` works on infinite sources.

        Parameters
        ----------
        n : int
            Number of records (``>= 0``).

        Returns
        -------
        Stream
            A new lazy stream.

        Raises
        ------
        TypeError
            If `n` is not an integer.
        ValueError
            If `n` is negative.

        Examples
        --------
        >>> import itertools
        >>> from pystream.sources import from_iterable
        >>> from_iterable(itertools.count(), "int64").take(4).to_array()
        array([0, 1, 2, 3])
        """
        n = check_count(n, "n", "take")
        return self._derive(src=_StageSource(self, take, (n,), nonempty=True), fns=())

    def skip(self, n: int) -> Stream:
        """Drop the first `n` records.

        Parameters
        ----------
        n : int
            Number of records (``>= 0``).

        Returns
        -------
        Stream
            A new lazy stream.

        Raises
        ------
        TypeError
            If `n` is not an integer.
        ValueError
            If `n` is negative.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> from_array(np.arange(5), chunk_size=2).skip(3).to_array()
        array([3, 4])
        """
        n = check_count(n, "n", "skip")
        if n == 0:
            return self._derive()
        return self._derive(src=_StageSource(self, skip, (n,), nonempty=True), fns=())

    def rechunk(self, size: int) -> Stream:
        """Regroup the records into chunks of exactly `size` records (the last may be shorter).

        Parameters
        ----------
        size : int
            Records per chunk (``>= 1``).

        Returns
        -------
        Stream
            A new lazy stream.

        Raises
        ------
        TypeError
            If `size` is not an integer.
        ValueError
            If `size` is smaller than 1.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> [len(c) for c in from_array(np.arange(10), chunk_size=4).rechunk(3)]
        [3, 3, 3, 1]
        """
        size = check_count(size, "size", "rechunk", minimum=1)
        return self._derive(src=_StageSource(self, rechunk, (size,), nonempty=True), fns=())

    # ------------------------------------------------------------- what the terminals ask
    # (the terminal methods come from pystream.terminals.methods.TerminalMethods)

    @classmethod
    def _pushed(cls, peek: Callable[[], Iterator[np.ndarray]], dtype: np.dtype,
                record_shape: tuple[int, ...], start: int) -> Stream:
        """A stream that is never read: it carries the dtype, record shape and
        start of what is pushed into a chain; ``peek()`` gives the data a
        ``map`` whose output type cannot be inferred looks at, as a pulled
        stream would."""
        return cls._from_source(_CallableSource(peek), dtype, record_shape, start=start)

    def _whole_array(self) -> np.ndarray | None:
        """The in-memory array this stream's chunks are views of, when no
        function is pending (a chunk-invariant reducer may read it in one call)."""
        whole = getattr(self._src, "whole", None)
        return whole if whole is not None and not self._fns else None

    def _writes_into(self, alloc: Callable[[int], np.ndarray]) -> Iterator[np.ndarray] | None:
        """The output of a last stage that writes into ``alloc(nbytes)`` memory
        (``writes_into``: the C stages), or None."""
        src = self._src
        if isinstance(src, _StageSource) and not self._fns \
                and getattr(getattr(src, "stage", None), "writes_into", False):
            return src.stage(src.upstream(False), *src.args, **src.kwargs, alloc=alloc)
        return None

    def _length_hint(self, record_nbytes: int) -> int:
        """Records of the in-memory source under this stream, or 0 (a hint only).

        0 also when records of `record_nbytes` would need more than twice
        the source's memory (e.g. after ``nwise``), so a hint never
        allocates much more than the data already in memory.
        """
        src = self._src
        while isinstance(src, _StageSource):
            src = src.parent._src
        whole = getattr(src, "whole", None)
        if whole is None or len(whole) * record_nbytes > 2 * whole.nbytes + 4096:
            return 0
        return len(whole)

def _stream_methods_suggest_keywords() -> None:
    """Stream's own methods (take, astype, describe, ...) suggest the keyword
    meant, as the stage methods do (:mod:`pystream._arguments`)."""
    from .stages.methods import _suggest_keywords_on_methods

    _suggest_keywords_on_methods(Stream)


_stream_methods_suggest_keywords()


def _plugin_method(stream: Stream, entry: Any) -> Callable[..., Any]:
    """``stream.<name>``: pipe a registered stage, or run a registered reducer."""
    from ._arguments import call_checked

    factory = entry.factory
    if entry.kind == "stages":
        def method(*args: Any, **kwargs: Any) -> Any:
            return stream._add_stage(call_checked(entry.name, factory, args, kwargs))
    else:
        def method(*args: Any, engine: str = "local", workers: int | None = None,
                   partition_size: int | None = None, **kwargs: Any) -> Any:
            return stream._terminal(PluginTerminal(entry), args, kwargs, engine, workers, partition_size)
    method.__name__ = method.__qualname__ = entry.name
    method.__doc__ = (f"{entry.summary}\n\n({entry.kind[:-1]} registered by {entry.origin}, "
                      f"plugin {entry.plugin!r}; family {entry.family})\n\n"
                      f"{inspect.getdoc(factory) or ''}")
    try:
        method.__signature__ = inspect.signature(factory)  # type: ignore[attr-defined]
    except (TypeError, ValueError):  # builtins without a signature
        pass
    return method


def _first_chunk_resolver(dtype: np.dtype | None, record_shape: tuple[int, ...] | None) -> Resolver:
    """Resolver filling unknown metadata from the first chunk (float64 / () if empty)."""

    def resolve(stream: Stream) -> Meta:
        first = _peek_first(stream)
        if first is None:
            return (
                dtype if dtype is not None else np.dtype(np.float64),
                record_shape if record_shape is not None else (),
            )
        return (
            dtype if dtype is not None else first.dtype,
            record_shape if record_shape is not None else tuple(first.shape[1:]),
        )

    return resolve
