"""The :class:`Stream` class: a lazy sequence of numpy chunks.

A stream is a facade over one chain node (:class:`pystream.chain.Node`):
a source plus pending fused chunk functions; see ``docs/internals/chain.rst``.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .chain import (
    node_of,
    CallableSource,
    Node,
    OneShotSource,
    aiter_chunks,
    first_chunk_resolver,
    native_dtype,
)
from .chain.nodes import Meta, Resolver, Source
from .stages.elementwise import (
    AstypeFn,
    ColumnsLike,
    FilterFn,
    MapFn,
    SelectFn,
    infer_map_output,
    normalize_columns,
)
from ._arguments import call_checked
from ._extensions import find as find_entry, names as entry_names
from .stages.untrusted import CheckedGenerator, checked_stage, is_builtin_stage
from .terminals.methods import TerminalMethods
from .terminals.plugin import PluginSinkTerminal, PluginTerminal
from .stages.methods import StageMethods, _suggest_keywords_on_methods
from ._checks import check_count, normalize_record_shape
from .stages.structural import rechunk, skip, take

__all__ = ["Stream", "node_of"]

ChunkFn = Callable[[np.ndarray], np.ndarray]


def _with_offsets(chunks: Iterator[np.ndarray], start: int) -> Iterator[tuple[int, np.ndarray]]:
    offset = start
    for c in chunks:
        yield offset, c
        offset += len(c)


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

    __slots__ = ("__weakref__", "_node")

    _node: Node

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
        src: Source = OneShotSource(make_chunks) if one_shot else CallableSource(make_chunks)
        dt = None if dtype is None else np.dtype(dtype)
        rs = None if record_shape is None else normalize_record_shape(record_shape, "Stream")
        self._node = Node(src, (), dt, rs, first_chunk_resolver(dt, rs),
                          check_count(start, "start", "Stream"))

    # ------------------------------------------------------------- construction

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
        return cls._from_node(Node(src, (), dtype, record_shape, resolver, start))

    @classmethod
    def _from_node(cls, node: Node) -> Stream:
        s = cls.__new__(cls)
        s._node = node
        return s

    def _derive(self, node: Node) -> Stream:
        """A new stream over `node` (a node derived from this stream's)."""
        s = Stream.__new__(Stream)
        s._node = node
        return s

    def _meta(self) -> Meta:
        """Return ``(dtype, record_shape)``, resolving them by peeking if needed."""
        return self._node.meta()

    # ------------------------------------------------------------- iteration

    def _iter(self, peek: bool = False) -> Iterator[np.ndarray]:
        return self._node.chunks(peek)

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
        See :func:`pystream.from_async_iterable`.

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
        return aiter_chunks(self._node)

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
        return _with_offsets(self._node.chunks(), self._node.start)

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
        return self._node.start

    @property
    def one_shot(self) -> bool:
        """bool: True if the stream can be iterated only once.

        Examples
        --------
        >>> from pystream.sources import from_iterable
        >>> from_iterable(iter([1.0, 2.0]), float).one_shot
        True
        """
        return self._node.one_shot

    def __repr__(self) -> str:
        node = self._node
        if node.dtype is None:
            meta = "dtype=<unresolved>"
        else:
            meta = f"dtype={node.dtype}, record_shape={node.record_shape}"
        fns = ", ".join(repr(f) for f in node.fns)
        extra = f", pending=[{fns}]" if fns else ""
        shot = ", one_shot=True" if self.one_shot else ""
        return f"<Stream {meta}{extra}{shot}>"

    # ------------------------------------------------------------- stateless stages

    def _with_fn(self, fn: ChunkFn, meta: Meta | Resolver | None = None) -> Stream:
        return self._derive(self._node.with_fn(fn, meta))

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
        parent = self._node

        def resolve(child: Node) -> Meta:
            pdt, prs = parent.meta()
            inferred = infer_map_output(func, pdt, prs)
            if inferred is None:
                first = child.peek_first()
                inferred = (pdt, prs) if first is None else (first.dtype, tuple(first.shape[1:]))
            dt = out_dt if out_dt is not None else inferred[0]
            fn.set_meta(dt, inferred[1])
            return dt, inferred[1]

        if parent.dtype is not None:
            inferred = infer_map_output(func, parent.dtype, parent.record_shape)  # type: ignore[arg-type]
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
        parent = self._node
        if parent.dtype is not None:
            if not np.can_cast(parent.dtype, dt, casting=casting):
                raise TypeError(
                    f"astype: cannot cast {parent.dtype} to {dt} with casting={casting!r}"
                )
            if dt == parent.dtype:
                return self._derive(parent.derive())
            return self._with_fn(AstypeFn(dt, casting), (dt, parent.record_shape))  # type: ignore[arg-type]
        return self._with_fn(AstypeFn(dt, casting), lambda _n: (dt, parent.meta()[1]))

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
        parent = self._node
        out: list[Node] = []  # the node made below: its metadata is the declaration
        if not is_builtin_stage(stage):  # each chunk it yields is checked against it
            stage = CheckedGenerator(stage, lambda: out[0].meta(), lambda: out[0].start)
        meta: Meta | Resolver
        if dt is not None and rs is not None:
            meta = (dt, rs)
        elif dt is None and rs is None:
            meta = parent.same_meta()
        else:
            meta = lambda _n: (
                dt if dt is not None else parent.meta()[0],
                rs if rs is not None else parent.meta()[1],
            )
        out.append(parent.with_stage(stage, args, kwargs, meta))
        return self._derive(out[0])

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
        parent = self._node
        stage = checked_stage(stage, lambda: (native_dtype(parent.meta()[0]), parent.meta()[1]))
        meta: Meta | Resolver
        if parent.dtype is not None:
            meta = stage.output_meta(native_dtype(parent.dtype), parent.record_shape)
        else:
            meta = lambda _n: stage.output_meta(native_dtype(parent.meta()[0]), parent.meta()[1])
        return self._derive(parent.with_stage(stage, (), {"start": parent.start}, meta,
                                              native=True))

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
        return self._derive(self._node.with_stage(take, (n,), nonempty=True))

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
            return self._derive(self._node.derive())
        return self._derive(self._node.with_stage(skip, (n,), nonempty=True))

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
        return self._derive(self._node.with_stage(rechunk, (size,), nonempty=True))

    # ------------------------------------------------------------- what the terminals ask
    # (the terminal methods come from pystream.terminals.methods.TerminalMethods;
    # the terminals read the chain through pystream.chain.node_of)

    @classmethod
    def _pushed(cls, peek: Callable[[], Iterator[np.ndarray]], dtype: np.dtype,
                record_shape: tuple[int, ...], start: int) -> Stream:
        """A stream that is never read: it carries the dtype, record shape and
        start of what is pushed into a chain; ``peek()`` gives the data a
        ``map`` whose output type cannot be inferred looks at, as a pulled
        stream would."""
        return cls._from_source(CallableSource(peek), dtype, record_shape, start=start)


# Stream's own methods (take, astype, describe, ...) suggest the keyword meant,
# as the stage methods do (:mod:`pystream._arguments`).
_suggest_keywords_on_methods(Stream)


def _plugin_method(stream: Stream, entry: Any) -> Callable[..., Any]:
    """``stream.<name>``: pipe a registered stage, run a registered reducer or sink."""
    factory = entry.factory
    if entry.kind == "stages":
        def method(*args: Any, **kwargs: Any) -> Any:
            return stream._add_stage(call_checked(entry.name, factory, args, kwargs))
    else:
        make = PluginSinkTerminal(entry) if entry.kind == "sinks" else PluginTerminal(entry)

        def method(*args: Any, engine: str = "local", workers: int | None = None,
                   partition_size: int | None = None, **kwargs: Any) -> Any:
            return stream._terminal(make, args, kwargs, engine, workers, partition_size)
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
