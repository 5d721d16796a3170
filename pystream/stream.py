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
import re
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
from ._extensions import find as find_entry, names as entry_names
from ._arguments import call_checked, check_call
from .engines import EngineOptions, Reduction, check_engine, ordered_chunks, reduce
from .engines.states import ReducerFactory
from ._checks import check_ddof, check_nan_policy, nan_policy_error
from .reducers import (
    DEFAULT_QUANTILES,
    Moments,
    describe_result,
)
from .stages.methods import StageMethods
from ._checks import check_count, normalize_record_shape
from .stages.structural import rechunk, skip, take
from .stages.untrusted import CheckedGenerator, checked_stage, is_builtin_stage
from .sinks import drain

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


#: The numpydoc entries of the engine arguments every terminal operation takes.
_ENGINE_PARAMETERS = """engine : {"local", "threads", "dask"}, optional
    What runs the pipeline (see :doc:`/engines`): the local pull loop
    (default), partitions on a thread pool, or a Dask graph.  The result is
    bit-identical on every engine.
workers : int, optional
    ``engine="threads"`` only: number of threads (default: the usable
    cores).
partition_size : int, optional
    ``engine="threads"`` or ``"dask"``: records of the source per partition
    (default: a few partitions per worker; for a Dask array, its own
    chunks)."""


#: The ``force`` argument of the file sinks, documented once.
_SINK_PARAMETERS = """\
force : bool, default False
    Replace `path` even if it is write-protected (no write permission
    bit); by default such a file is refused.  An existing file keeps
    its permission bits and owner, a symbolic link is written through
    to its file, and a FIFO or device (``/dev/null``) is written
    directly, without atomicity (see :doc:`/sinks`).
""" + _ENGINE_PARAMETERS


def _engine_parameters(method: Callable[..., Any]) -> Callable[..., Any]:
    """Put the engine arguments' documentation where the docstring says
    ``{engine_parameters}`` (one text for every terminal operation), and
    the file sinks' ``force`` with them where it says ``{sink_parameters}``."""
    doc = method.__doc__
    if doc is not None:
        for key, params in (("engine_parameters", _ENGINE_PARAMETERS),
                            ("sink_parameters", _SINK_PARAMETERS)):
            text = "".join(f"        {line}\n" for line in params.splitlines())
            # right after the other parameters (or the section's underline)
            doc = re.sub(r"\n(?:\n)?        \{" + key + r"\}\n", lambda _m, t=text: "\n" + t, doc)
        method.__doc__ = doc
    return method


# --------------------------------------------------------------------------- Stream


class Stream(StageMethods):
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
        """Stages, reducers and sinks registered by plugins, as methods: ``stream.<name>(...)``
        (a sink ``x`` as ``stream.to_x(...)``)."""
        if name.startswith("_"):
            raise AttributeError(name)
        entry = find_entry("stages", name) or find_entry("reducers", name)
        if entry is None and name.startswith("to_"):
            entry = find_entry("sinks", name[3:])
        if entry is None:
            raise AttributeError(
                f"'Stream' object has no attribute {name!r}; no plugin registers a stage or "
                "reducer of that name (`pystream plugins` lists them)"
            )
        return _plugin_method(self, entry)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(entry_names("stages"))
                      | set(entry_names("reducers"))
                      | {"to_" + n for n in entry_names("sinks")})

    def _add_stage(self, stage: Any) -> Stream:
        """Pipe a stage object (``output_meta(dtype, record_shape)`` and
        ``stage(chunks, start=...)``) through this stream.

        The output metadata is computed now when this stream's is known, so
        an unsupported input dtype fails at construction, not mid-stream.
        Stages see native byte order only: byte-swapped chunks are converted
        on the way in (one copy per chunk, only for such data).
        """
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

    # ------------------------------------------------------------- terminal operations

    @_engine_parameters
    def to_array(self, *, engine: str = "local", workers: int | None = None,
                 partition_size: int | None = None) -> np.ndarray:
        """Materialise the stream into one array.

        Parameters
        ----------
        {engine_parameters}

        Returns
        -------
        ndarray
            A new array of shape ``(N, *record_shape)`` and the stream's
            dtype (also when the stream is empty).

        Raises
        ------
        RuntimeError
            If the stream reads a one-shot source that was already consumed.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> from_array(np.arange(4)).filter(lambda c: c > 5).to_array()
        array([], dtype=int64)
        """
        # Each chunk is copied into one growing result as it arrives (not
        # kept and concatenated), so stages can reuse their output buffers
        # and the result is written once.  It starts at the source's length
        # when known (most stages keep the length) and doubles when full.
        # A last stage that accepts ``alloc`` (the C stages) writes straight
        # into the result, and its chunks need no copy at all.
        dt, rs = self._meta()
        row = dt.itemsize * int(np.prod(rs, dtype=np.int64))
        result: list[np.ndarray] = [np.empty((0, *rs), dt)]
        used = 0

        def reserve(k: int) -> np.ndarray:
            out = result[0]
            if used + k > len(out):
                grown = max(used + k, 2 * used, self._length_hint(row))
                new = np.empty((grown, *rs), dt)
                new[:used] = out[:used]
                result[0] = out = new
            return out

        def alloc(nbytes: int) -> np.ndarray:
            out = reserve(-(-nbytes // row) if row else 0)
            flat = out.reshape(-1).view(np.uint8) if out.size else np.empty(0, np.uint8)
            return flat[used * row :]

        src = self._src
        stage = getattr(src, "stage", None)
        options = check_engine(engine, workers, partition_size, "to_array")
        if options.name == "threads":
            from .engines.threads import threads_to_array

            direct = threads_to_array(self, options)
            if direct is not None:
                return direct
        if options.name != "local":
            from .engines import ordered_chunks

            it = ordered_chunks(self, options)
        elif isinstance(src, _StageSource) and not self._fns and getattr(stage, "writes_into", False) \
                and dt.itemsize == 8 and row:
            it = stage(src.upstream(False), *src.args, **src.kwargs, alloc=alloc)
        else:
            it = self._iter()
        try:
            for c in it:
                if c.dtype != dt or c.shape[1:] != rs:
                    raise TypeError(
                        f"to_array: a chunk of dtype {c.dtype} and record shape {c.shape[1:]} "
                        f"does not match the stream's dtype {dt} and record shape {rs}"
                    )
                k = len(c)
                out = result[0]
                if not (used + k <= len(out) and k and c.ctypes.data == out[used:].ctypes.data):
                    out = reserve(k)
                    out[used : used + k] = c
                used += k
        finally:
            _close(it)
        out = result[0]
        return out if used == len(out) else out[:used].copy()

    @_engine_parameters
    def to_npy(self, path: Any, *, force: bool = False, engine: str = "local",
               workers: int | None = None, partition_size: int | None = None) -> int:
        """Write the stream to a ``.npy`` file, streaming, atomically.

        Records are written as they arrive (memory stays bounded); the
        header, which holds the length, is completed at the end.  The file
        is written under a temporary name in the same directory and renamed
        to `path` only when the whole stream is written, so an error or an
        interrupt (``KeyboardInterrupt``) never leaves a partial file under
        `path`, and an existing file is replaced only on success.

        Parameters
        ----------
        path : str or path-like
            Target file; its directory must exist.
        {sink_parameters}

        Returns
        -------
        int
            The number of records written.

        Raises
        ------
        FileNotFoundError
            If the directory of `path` does not exist.
        PermissionError
            If `path` is write-protected and `force` is False.
        TypeError
            For a dtype whose bytes are pointers (``object``).
        ValueError
            If `path` is a FIFO (a ``.npy`` header is written last).

        Examples
        --------
        >>> import numpy as np, os, tempfile, pystream as ps
        >>> path = os.path.join(tempfile.mkdtemp(), "smooth.npy")
        >>> ps.from_array(np.arange(5.0)).moving_mean(2).to_npy(path)
        5
        >>> np.load(path)
        array([nan, 0.5, 1.5, 2.5, 3.5])
        """
        from .engines import ordered_chunks
        from .sinks import NpyWriter, drain

        options = check_engine(engine, workers, partition_size, "to_npy")
        return drain(NpyWriter(path, *self._meta(), force=force),
                     lambda: ordered_chunks(self, options))

    @_engine_parameters
    def to_file(self, path: Any, *, force: bool = False, engine: str = "local",
                workers: int | None = None, partition_size: int | None = None) -> int:
        """Write the stream's raw bytes (C order, its dtype) to a file, atomically.

        The counterpart of :func:`~pystream.sources.from_file`: no header,
        records back to back.  Written under a temporary name and renamed
        when complete, as :meth:`to_npy`.

        Parameters
        ----------
        path : str or path-like
            Target file; its directory must exist.
        {sink_parameters}

        Returns
        -------
        int
            The number of records written.

        Raises
        ------
        FileNotFoundError
            If the directory of `path` does not exist.
        PermissionError
            If `path` is write-protected and `force` is False.
        TypeError
            For a dtype whose bytes are pointers (``object``).

        Examples
        --------
        >>> import numpy as np, os, tempfile, pystream as ps
        >>> path = os.path.join(tempfile.mkdtemp(), "x.f4")
        >>> ps.from_array(np.arange(4, dtype=np.float32)).to_file(path)
        4
        >>> ps.from_file(path, np.float32).to_array()
        array([0., 1., 2., 3.], dtype=float32)
        """
        from .engines import ordered_chunks
        from .sinks import RawWriter, drain

        options = check_engine(engine, workers, partition_size, "to_file")
        return drain(RawWriter(path, *self._meta(), force=force),
                     lambda: ordered_chunks(self, options))

    @_engine_parameters
    def to_text(self, path: Any, fmt: Any = None, delimiter: str = " ",
                header: str | None = None, *, force: bool = False, engine: str = "local",
                workers: int | None = None, partition_size: int | None = None) -> int:
        """Write the stream as numeric text, one line per record, atomically.

        Like :func:`numpy.savetxt` (which formats each chunk): a record's
        values, flattened, separated by `delimiter`.  The default format
        round-trips every value exactly, so
        :func:`~pystream.sources.from_text` reads the same values back.
        Written under a temporary name and renamed when complete, as
        :meth:`to_npy`.

        Parameters
        ----------
        path : str or path-like
            Target file; its directory must exist.
        fmt : str or sequence of str, optional
            :func:`numpy.savetxt` format; default ``"%.18g"`` for floats (exact
            round trip) and ``"%d"`` for integers and bools (exact at any
            size).
        delimiter : str, optional
            Separator between the values of a record (default a space).
        header : str, optional
            Written first, each line prefixed with ``"# "`` (read back as
            comments).
        {sink_parameters}

        Returns
        -------
        int
            The number of records written.

        Raises
        ------
        TypeError
            For a non-numeric dtype.
        FileNotFoundError
            If the directory of `path` does not exist.

        Examples
        --------
        >>> import numpy as np, os, tempfile, pystream as ps
        >>> path = os.path.join(tempfile.mkdtemp(), "x.txt")
        >>> ps.from_array(np.array([[0.5, 1.0], [2.0, 3.25]])).to_text(path, header="a b")
        2
        >>> print(open(path).read(), end="")
        # a b
        0.5 1
        2 3.25
        >>> ps.from_text(path).to_array()
        array([[0.5 , 1.  ],
               [2.  , 3.25]])
        """
        from .engines import ordered_chunks
        from .sinks import TextWriter, drain

        options = check_engine(engine, workers, partition_size, "to_text")
        return drain(TextWriter(path, *self._meta(), fmt, delimiter, header, force=force),
                     lambda: ordered_chunks(self, options))

    @_engine_parameters
    def to_callback(self, func: Callable[[np.ndarray], Any], *, engine: str = "local",
                    workers: int | None = None, partition_size: int | None = None) -> int:
        """Call ``func(chunk)`` for every chunk, in order; return the number of records.

        A sink for anything else (a socket, a plot, a database): `func` sees
        the chunks as the stream produces them, in order, in the calling
        thread, on every engine.  A chunk may be a view of memory the stream
        reuses later: copy it to keep it.

        Parameters
        ----------
        func : callable
            ``func(chunk)``; its return value is ignored.
        {engine_parameters}

        Returns
        -------
        int
            The number of records passed to `func`.

        Raises
        ------
        TypeError
            If `func` is not callable.

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> sizes = []
        >>> ps.from_array(np.arange(10.0), chunk_size=4).to_callback(lambda c: sizes.append(len(c)))
        10
        >>> sizes
        [4, 4, 2]
        """
        if not callable(func):
            raise TypeError(f"to_callback: func must be callable, got {func!r}")
        from .engines import ordered_chunks

        options = check_engine(engine, workers, partition_size, "to_callback")
        n = 0
        it = ordered_chunks(self, options)
        try:
            for chunk in it:
                func(chunk)
                n += len(chunk)
        finally:
            _close(it)      # an engine stops its workers now if func raised
        return n

    def fork(self, *, workers: int | None = None, **branches: Any) -> dict[str, Any]:
        """Run several terminal operations in one pass over the stream.

        Each chunk is read once and handed to every branch in turn, then
        dropped: memory stays bounded whatever the stream's length (unlike
        :func:`itertools.tee`, nothing is buffered).  Each branch's result is
        the one its own pass would give, bit for bit.  A branch that needs
        no more data (after a ``take``) stops getting chunks, and the pass
        stops when every branch is done.

        Parameters
        ----------
        **branches
            Name -> consumer, as for :func:`pystream.tee`: a terminal's name
            (``"describe"``, ``"mean"``...), a reducer state, a branch made
            by a pipeline's terminal method
            (``ps.pipeline().moving_mean(100).to_npy(path)``), a pipeline
            (its output collected) or a nested ``tee``.  (``workers`` is not
            a branch name.)
        workers : int, optional
            Run the branches on this many threads, each thread owning some
            of the branches and getting every chunk through a short queue
            (the C kernels release the GIL, so branches run on separate
            cores; the results are the same).  Default: every branch in
            turn in the calling thread, where ``to_callback`` functions are
            then called too.

        Returns
        -------
        dict
            Name -> the branch's result (a sink's: its record count).

        Raises
        ------
        TypeError, ValueError
            For invalid branches, before anything is read.
        Exception
            What a branch raised, with a note naming the branch (and the
            stage and records, in a pipeline); every branch is aborted first,
            so no file sink leaves a file behind.

        Notes
        -----
        Branches computing statistics of the ``describe`` family (``count``,
        ``sum``, ``mean``, ``var``, ``std``, ``min``, ``max``, ``describe``)
        directly on the stream share one state: the moments kernel runs
        once per chunk for all of them.

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> s = ps.from_array(np.arange(10.0), chunk_size=4)
        >>> r = s.fork(mean="mean", top=ps.pipeline().moving_max(3).max(nan_policy="omit"),
        ...            hist=ps.Histogram(bins=2, range=(0, 10)))
        >>> float(r["mean"]), float(r["top"]), r["hist"].counts.tolist()
        (4.5, 9.0, [5, 5])
        """
        from .pipeline import fork

        return fork(self, branches, workers)

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

    def _moments(self, nan_policy: str, where: str,
                 observe: Callable[[np.ndarray], Any] | None = None) -> Any:
        m = Moments(start=self._start)
        if observe is None:
            update = m.update
        else:
            def update(chunk: np.ndarray) -> None:
                m.update(chunk)
                observe(chunk)
        whole = getattr(self._src, "whole", None)
        if whole is not None and not self._fns:
            # Chunk invariance makes one call over the array give the exact
            # result of the chunked pass, without the per-chunk overhead.
            update(whole)
            if nan_policy == "raise" and m.first_nan is not None:
                raise nan_policy_error(where, m.first_nan)
            return m
        if nan_policy == "raise":
            for c in self._iter():
                update(c)
                if m.first_nan is not None:
                    raise nan_policy_error(where, m.first_nan)
        else:
            for c in self._iter():
                update(c)
        if m.dtype is None:
            dt, rs = self._meta()
            update(np.empty((0, *rs), dt))
        return m

    def _describe(self, ddof: object, nan_policy: object, where: str,
                  quantiles: Any = (), options: EngineOptions | None = None,
                  quantile_method: str = "kll") -> tuple[Any, Any]:
        from .sketches.columns import ColumnQuantiles, check_method, check_quantiles

        ddof = check_ddof(ddof, where)
        policy = check_nan_policy(nan_policy, where)
        method = check_method(quantile_method, where, "quantile_method")
        if options is None or options.name == "local":
            sketch, qs = ColumnQuantiles.for_describe(quantiles, where, self._start, method)
            m = self._moments(policy, where, None if sketch is None else sketch.update)
        else:
            from .engines import Reduction, reduce
            from .engines.states import DescribeFactory

            qs = check_quantiles(quantiles, where)
            state = reduce(self, Reduction(DescribeFactory(bool(qs), method), name=where),
                           options)
            m, sketch = state.moments, state.sketch
            if m.dtype is None:
                dt, rs = self._meta()
                m.update(np.empty((0, *rs), dt))
            if policy == "raise" and m.first_nan is not None:
                raise nan_policy_error(where, m.first_nan)
        return m, describe_result(m, sketch, qs, ddof, policy)

    @_engine_parameters
    def describe(self, ddof: float = 0, nan_policy: str = "propagate",
                 quantiles: Any = DEFAULT_QUANTILES, quantile_method: str = "kll", *,
                 engine: str = "local", workers: int | None = None,
                 partition_size: int | None = None) -> Any:
        """Summarise the stream in one pass: count, NaN count, sum, mean, var, std, min, max
        and quantiles.

        Parameters
        ----------
        ddof : int or float, optional
            Delta degrees of freedom of ``var`` / ``std`` (divisor ``n - ddof``).
        nan_policy : {"propagate", "omit", "raise"}, optional
            ``"propagate"``: NaNs make the statistics NaN; ``"omit"``: NaNs
            are ignored; ``"raise"``: ValueError at the first NaN (iteration
            stops there).
        quantiles : sequence of float, optional
            Probabilities of the quantiles to estimate in the same pass.
            Default p1, p5, p25, p50, p75, p95, p99; ``()`` skips the sketch
            (several times faster).
        quantile_method : {"kll", "relative"}, optional
            ``"kll"`` (default): accurate in **rank**, whatever the values'
            magnitude, offset or ties: each quantile's rank error is at most
            1 % with probability >= 99 % (a :class:`pystream.KLLSketch`,
            ``k=400``, whose a-priori 99 % bound is 0.68 %); the values
            returned are values of the data.  ``"relative"``: accurate in
            **value** relative to the value (a :class:`pystream.DDSketch`,
            alpha 1 %: each within 1 % of ``np.quantile(x, q,
            method="lower")``), for positive data spanning orders of
            magnitude (latencies, sizes); meaningless for data far from zero
            compared with its spread (temperatures in kelvin, timestamps).
            Both are bit-identical for any chunking, partitioning and
            engine; see :ref:`which-quantile-method`.

        {engine_parameters}

        Returns
        -------
        pystream.reducers.Description
            Scalars for a scalar stream, arrays of ``record_shape`` for a
            record stream; ``quantiles`` maps each probability to its value.

        Raises
        ------
        ValueError
            For an invalid `ddof` / `nan_policy` / `quantile_method`, a
            probability outside [0, 1], or a NaN with
            ``nan_policy="raise"`` (the message names the record).
        TypeError
            If `ddof` or `quantiles` are not numbers, or the dtype is not
            supported.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> d = from_array(np.array([1.0, 2.0, 3.0])).describe(ddof=1)
        >>> float(d.mean), float(d.var), d.quantiles[0.5]
        (2.0, 1.0, 2.0)
        """
        return self._describe(ddof, nan_policy, "describe", quantiles,
                              check_engine(engine, workers, partition_size, "describe"),
                              quantile_method)[1]

    @_engine_parameters
    def count(self, nan_policy: str = "propagate", *, engine: str = "local", workers: int | None = None,
                 partition_size: int | None = None) -> Any:
        """Number of values, as reported by :meth:`describe` (``Description.count``).

        Parameters
        ----------
        nan_policy : {"propagate", "omit", "raise"}, optional
            See :meth:`describe`.

        {engine_parameters}

        Returns
        -------
        int or ndarray
            Per value of the record for record streams.

        Raises
        ------
        ValueError
            For an invalid `nan_policy`, or a NaN with ``nan_policy="raise"``.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> int(from_array(np.arange(5.0)).count())
        5
        """
        return self._describe(0, nan_policy, "count", (),
                              check_engine(engine, workers, partition_size, "count"))[1].count

    @_engine_parameters
    def sum(self, nan_policy: str = "propagate", *, engine: str = "local", workers: int | None = None,
                 partition_size: int | None = None) -> Any:
        """Sum of the records (one pass, accumulated in float64; integers exactly).

        Parameters
        ----------
        nan_policy : {"propagate", "omit", "raise"}, optional
            See :meth:`describe`.

        {engine_parameters}

        Returns
        -------
        scalar or ndarray
            Per value of the record for record streams.

        Raises
        ------
        ValueError
            For an invalid `nan_policy`, or a NaN with ``nan_policy="raise"``.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> float(from_array(np.arange(5.0)).sum())
        10.0
        """
        return self._describe(0, nan_policy, "sum", (),
                              check_engine(engine, workers, partition_size, "sum"))[1].sum

    @_engine_parameters
    def mean(self, nan_policy: str = "propagate", *, engine: str = "local", workers: int | None = None,
                 partition_size: int | None = None) -> Any:
        """Arithmetic mean of the records (one pass).

        Parameters
        ----------
        nan_policy : {"propagate", "omit", "raise"}, optional
            See :meth:`describe`.

        {engine_parameters}

        Returns
        -------
        scalar or ndarray
            NaN for an empty stream.

        Raises
        ------
        ValueError
            For an invalid `nan_policy`, or a NaN with ``nan_policy="raise"``.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> float(from_array(np.arange(5.0)).mean())
        2.0
        """
        return self._describe(0, nan_policy, "mean", (),
                              check_engine(engine, workers, partition_size, "mean"))[1].mean

    @_engine_parameters
    def var(self, ddof: float = 0, nan_policy: str = "propagate", *, engine: str = "local", workers: int | None = None,
                 partition_size: int | None = None) -> Any:
        """Variance of the records (one pass).

        Parameters
        ----------
        ddof : int or float, optional
            Delta degrees of freedom (divisor ``n - ddof``).
        nan_policy : {"propagate", "omit", "raise"}, optional
            See :meth:`describe`.

        {engine_parameters}

        Returns
        -------
        scalar or ndarray

        Raises
        ------
        ValueError
            For an invalid `ddof` / `nan_policy`, or a NaN with
            ``nan_policy="raise"``.
        TypeError
            If `ddof` is not a number.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> float(from_array(np.array([1.0, 2.0, 3.0])).var(ddof=1))
        1.0
        """
        return self._describe(ddof, nan_policy, "var", (),
                              check_engine(engine, workers, partition_size, "var"))[1].var

    @_engine_parameters
    def std(self, ddof: float = 0, nan_policy: str = "propagate", *, engine: str = "local", workers: int | None = None,
                 partition_size: int | None = None) -> Any:
        """Standard deviation of the records (one pass).

        Parameters
        ----------
        ddof : int or float, optional
            Delta degrees of freedom (divisor ``n - ddof``).
        nan_policy : {"propagate", "omit", "raise"}, optional
            See :meth:`describe`.

        {engine_parameters}

        Returns
        -------
        scalar or ndarray

        Raises
        ------
        ValueError
            For an invalid `ddof` / `nan_policy`, or a NaN with
            ``nan_policy="raise"``.
        TypeError
            If `ddof` is not a number.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> float(from_array(np.array([1.0, 3.0])).std())
        1.0
        """
        return self._describe(ddof, nan_policy, "std", (),
                              check_engine(engine, workers, partition_size, "std"))[1].std

    @_engine_parameters
    def min(self, nan_policy: str = "propagate", *, engine: str = "local", workers: int | None = None,
                 partition_size: int | None = None) -> Any:
        """Minimum of the records (one pass).

        Parameters
        ----------
        nan_policy : {"propagate", "omit", "raise"}, optional
            See :meth:`describe`.

        {engine_parameters}

        Returns
        -------
        scalar or ndarray

        Raises
        ------
        ValueError
            If the stream is empty (like numpy's zero-size reduction), for an
            invalid `nan_policy`, or a NaN with ``nan_policy="raise"``.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> float(from_array(np.array([3.0, -1.0, 2.0])).min())
        -1.0
        """
        m, d = self._describe(0, nan_policy, "min", (),
                              check_engine(engine, workers, partition_size, "min"))
        if m.stop == m.start:
            raise ValueError("min: the stream is empty; a minimum of zero records is undefined")
        return d.min

    @_engine_parameters
    def max(self, nan_policy: str = "propagate", *, engine: str = "local", workers: int | None = None,
                 partition_size: int | None = None) -> Any:
        """Maximum of the records (one pass).

        Parameters
        ----------
        nan_policy : {"propagate", "omit", "raise"}, optional
            See :meth:`describe`.

        {engine_parameters}

        Returns
        -------
        scalar or ndarray

        Raises
        ------
        ValueError
            If the stream is empty (like numpy's zero-size reduction), for an
            invalid `nan_policy`, or a NaN with ``nan_policy="raise"``.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> float(from_array(np.array([3.0, -1.0, 2.0])).max())
        3.0
        """
        m, d = self._describe(0, nan_policy, "max", (),
                              check_engine(engine, workers, partition_size, "max"))
        if m.stop == m.start:
            raise ValueError("max: the stream is empty; a maximum of zero records is undefined")
        return d.max

    @_engine_parameters
    def histogram(self, bins: int = 10, range: tuple[float, float] | None = None,
                  edges: Any = None, log: bool = False, *, engine: str = "local", workers: int | None = None,
                  partition_size: int | None = None) -> Any:
        """Histogram of the stream's values with numpy's bins and edge rules, in bounded memory.

        Values are counted as :func:`numpy.histogram` counts them (records
        are flattened): the last bin is closed, a value on an edge goes to
        the bin on its right, float32 data get float32 edges.  Unlike numpy,
        values outside the range are counted (``underflow``, ``overflow``)
        and NaNs are reported (``nan_count``) instead of silently dropped.
        Counts are exact integers, so the result is the same for any chunking.
        One pass over the stream, two without `range` and `edges`.

        Parameters
        ----------
        bins : int, optional
            Number of equal-width bins over `range` (or of logarithmic bins
            with ``log=True``).
        range : (float, float), optional
            Lower and upper edge.  Default: the data's min and max, as numpy
            does -- found by a first pass over the stream (NaNs skipped), so a
            one-shot stream needs `range` or `edges`.
        edges : array_like, optional
            Explicit, increasing bin edges (``np.histogram(x, bins=edges)``);
            excludes `bins`/`range`.
        log : bool, optional
            Logarithmic bins: edges ``np.geomspace(lo, hi, bins + 1)``
            (requires ``lo > 0``).

        {engine_parameters}

        Returns
        -------
        pystream.HistogramResult
            ``counts``, ``edges``, ``underflow``, ``overflow``, ``nan_count``.

        Raises
        ------
        ValueError
            For invalid bins/range/edges, a one-shot stream without `range` or
            `edges`, or a non-finite autodetected range.

        See Also
        --------
        pystream.Histogram : the mergeable state behind this method.

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> h = ps.from_array(np.array([1.0, 2.0, 2.5, 4.0, 9.0])).histogram(bins=2, range=(0, 4))
        >>> h.counts.tolist(), h.overflow
        ([1, 3], 1)
        """
        from .sketches.reduce import histogram

        return histogram(self, bins=bins, range=range, edges=edges, log=log,
                         options=check_engine(engine, workers, partition_size, "histogram"))

    @_engine_parameters
    def quantile(self, q: Any, method: str = "kll", alpha: float = 0.01, k: int = 400,
                 seed: int = 0, nan_policy: str = "propagate", *, engine: str = "local", workers: int | None = None,
                 partition_size: int | None = None) -> Any:
        """Quantiles of the stream in bounded memory, from a quantile sketch.

        Parameters
        ----------
        q : float or array_like of float
            Probabilities in [0, 1] (numbers: a string raises TypeError).
        method : {"kll", "relative"}, optional
            ``"kll"`` (default, as :meth:`describe`): a KLL sketch, accurate
            in rank: the rank error of each quantile is within the KLL bound
            for `k` with probability >= 99 % (0.68 % at the default k=400,
            1.33 % at k=200; :meth:`pystream.KLLSketch.normalized_rank_error`),
            exact while the stream has at most `k` values.  ``"relative"``:
            a DDSketch-style sketch; every returned quantile is within
            relative error `alpha` of the true one (``np.quantile(x, q,
            method="lower")``), for positive data spanning orders of
            magnitude (latencies); meaningless in rank for data far from
            zero compared with its spread.  Both are bit-identical for any
            chunking and partitioning (see :ref:`which-quantile-method`).
        alpha : float, optional
            Relative accuracy of ``method="relative"`` (default 0.01).
        k : int, optional
            Size parameter of ``method="kll"`` (default 400, as
            :meth:`describe`).
        seed : int, optional
            Seed of ``method="kll"``'s random compactions (default 0).
        nan_policy : {"propagate", "omit", "raise"}, optional
            ``"propagate"``: NaN where a NaN was seen (numpy's
            ``quantile``); ``"omit"``: NaNs skipped (``np.nanquantile``);
            ``"raise"``: ValueError naming the first NaN record.

        {engine_parameters}

        Returns
        -------
        float or ndarray
            A float for a scalar stream and a float `q`; otherwise an array of
            shape ``np.shape(q) + record_shape`` (one quantile per value of
            the record, like ``np.quantile(x, q, axis=0)``).

        Raises
        ------
        TypeError
            If `q` is not numeric (e.g. the string ``"0.5"``).
        ValueError
            If a `q` is NaN or outside [0, 1], or `method` is unknown.

        See Also
        --------
        pystream.DDSketch, pystream.KLLSketch : the states, mergeable and
            serializable, for partitions reduced separately.
        moving_quantile : exact quantiles over a moving window.

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> x = 280.0 + np.random.default_rng(0).normal(size=100_000)
        >>> med = ps.from_array(x).quantile(0.5)
        >>> bool(abs(np.mean(x <= med) - 0.5) <= 0.01)      # rank error within 1 %
        True
        >>> ps.from_array(x).quantile([0.0, 1.0]).tolist() == [x.min(), x.max()]
        True
        >>> lat = np.arange(1.0, 1001.0)
        >>> abs(ps.from_array(lat).quantile(0.5, method="relative") - 500.0) <= 0.01 * 500.0
        True
        """
        from .sketches.reduce import quantile

        return quantile(self, q, method=method, alpha=alpha, k=k, seed=seed,
                        nan_policy=nan_policy,
                        options=check_engine(engine, workers, partition_size, "quantile"))

def _stream_methods_suggest_keywords() -> None:
    """Stream's own methods (take, astype, describe, ...) suggest the keyword
    meant, as the stage methods do (:mod:`pystream._arguments`)."""
    from .stages.methods import _suggest_keywords_on_methods

    _suggest_keywords_on_methods(Stream)


_stream_methods_suggest_keywords()


def _plugin_method(stream: Stream, entry: Any) -> Callable[..., Any]:
    """``stream.<name>``: pipe a registered stage, run a registered reducer or sink."""
    factory = entry.factory
    if entry.kind == "stages":
        def method(*args: Any, **kwargs: Any) -> Any:
            return stream._add_stage(call_checked(entry.name, factory, args, kwargs))
    elif entry.kind == "sinks":
        method = _plugin_sink_method(stream, entry)
    else:
        try:
            takes_start = "start" in inspect.signature(factory).parameters
        except (TypeError, ValueError):
            takes_start = False

        def method(*args: Any, engine: str = "local", workers: int | None = None,
                   partition_size: int | None = None, **kwargs: Any) -> Any:
            # A reducer whose state is placed in the global index space
            # (Moments, welch) starts where the stream starts, as describe()
            # does, so its result is the same whatever the stream's start.
            # Such a state with a merge() is reduced per partition by the
            # parallel engines, and so is a state declaring ``positional =
            # False`` (order-free: also after a filter); any other runs in
            # order over their output.
            options = check_engine(engine, workers, partition_size, entry.name)
            positional = takes_start and "start" not in kwargs
            check_call(entry.name, factory, args, kwargs)
            if options.name == "local":
                if positional:
                    kwargs["start"] = stream.start
                state = factory(*args, **kwargs)
                for chunk in stream:
                    state.update(chunk)
                return state.result()
            make = ReducerFactory(factory, args, kwargs, positional)
            first = make(0)
            order_free = getattr(first, "positional", True) is False
            mergeable = (positional or order_free) and callable(getattr(first, "merge", None))
            state = reduce(stream, Reduction(make, positional=not order_free, name=entry.name,
                                             mergeable=mergeable), options)
            return state.result()
    method.__name__ = method.__qualname__ = entry.call_name
    method.__doc__ = _plugin_doc(entry)
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins without a signature
        return method
    if entry.kind == "sinks":
        signature = signature.replace(parameters=[
            p for p in signature.parameters.values() if p.name not in ("dtype", "record_shape")])
    method.__signature__ = signature  # type: ignore[attr-defined]
    return method


def _plugin_sink_method(stream: Stream, entry: Any) -> Callable[..., Any]:
    """``stream.to_<name>``: a registered sink's writer fed the stream's chunks in order."""
    factory, where = entry.factory, entry.call_name

    def method(*args: Any, engine: str = "local", workers: int | None = None,
               partition_size: int | None = None, **kwargs: Any) -> Any:
        options = check_engine(engine, workers, partition_size, where)
        dtype, record_shape = stream._meta()
        kwargs = {**kwargs, "dtype": dtype, "record_shape": record_shape}
        check_call(where, factory, args, kwargs)
        return drain(factory(*args, **kwargs), lambda: ordered_chunks(stream, options))

    return method


def _plugin_doc(entry: Any) -> str:
    """A plugin method's docstring: the summary once, where it comes from, the rest
    of the factory's docstring."""
    doc = inspect.getdoc(entry.factory) or ""
    head, _, rest = doc.partition("\n\n")
    if not (doc and (not entry.summary or head.startswith(entry.summary))):
        head, rest = entry.summary, doc  # an explicit summary, then the whole docstring
    origin = (f"({entry.kind[:-1]} registered by {entry.origin}, plugin {entry.plugin!r}; "
              f"family {entry.family})")
    return "\n\n".join(part for part in (head, origin, rest.strip()) if part)


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
