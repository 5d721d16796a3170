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
from ._columns import NO_COLUMNS, Columns, KeyColumn, TimeColumn
from ._arguments import call_checked
from ._extensions import find as find_entry, names as entry_names
from .stages.untrusted import checked_stage
from .terminals.methods import TerminalMethods
from .terminals.plugin import PluginSinkTerminal, PluginTerminal
from .stages.methods import StageMethods, _suggest_keywords_on_methods
from .stream_columns import ColumnMethods
from .stages.timed import TimedStage
from .stream_tables import TableSinkMethods
from .stream_stages import ChainStageMethods
from ._checks import check_count, normalize_record_shape

__all__ = ["Stream", "node_of"]

ChunkFn = Callable[[np.ndarray], np.ndarray]


def _with_offsets(chunks: Iterator[np.ndarray], start: int) -> Iterator[tuple[int, np.ndarray]]:
    offset = start
    for c in chunks:
        yield offset, c
        offset += len(c)


# --------------------------------------------------------------------------- Stream


class Stream(ChainStageMethods, ColumnMethods, TableSinkMethods, TerminalMethods, StageMethods):
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
        table: Columns = NO_COLUMNS,
    ) -> Stream:
        """Make a stream from an internal source object (used by the source factories);
        `table`: its column names, time and key columns."""
        return cls._from_node(Node(src, (), dtype, record_shape, resolver, start, table))

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
        table = node.table
        cols = ""
        if table.names is not None and node.dtype is not None:
            names = table.names_for(node.record_shape)  # type: ignore[arg-type]
            cols = f", columns={list(names)}" if names is not None else ""
        if table.time is not None:
            cols += f", time={table.time.name or '<array>'}"
        if table.key is not None:
            cols += f", key={table.key.name or '<array>'}"
        return f"<Stream {meta}{cols}{extra}{shot}>"

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
        if isinstance(stage, TimedStage):
            return self._add_timed(stage)
        stage = checked_stage(stage, lambda: (native_dtype(parent.meta()[0]), parent.meta()[1]))
        meta: Meta | Resolver
        if parent.dtype is not None:
            meta = stage.output_meta(native_dtype(parent.dtype), parent.record_shape)
        else:
            meta = lambda _n: stage.output_meta(native_dtype(parent.meta()[0]), parent.meta()[1])
        return self._derive(parent.with_stage(stage, (), {"start": parent.start}, meta,
                                              native=True))

    def _add_timed(self, stage: TimedStage) -> Stream:
        """Pipe a stage that reads the time column (:mod:`pystream.stages.timed`), or
        the key column (a stage per key, :mod:`pystream.keyed.stages`), bound to
        this stream's columns; its output's names, time and key are the stage's
        to say."""
        parent = self._node
        table = parent.table
        if stage.reads_time and table.time is None:
            raise ValueError(f"{stage.name} needs a time column: give the stream one "
                             "(from_array(x, time=t), from_parquet/from_csv(..., time='col'), "
                             "--time COLUMN on the command line, or pipeline.push(time=True) "
                             "to push records with their times)")
        stage = stage.bind_columns(table.time, table.key)
        dt, rs = parent.meta()
        meta = stage.output_meta(native_dtype(dt), rs)
        out = Columns(stage.output_names(table.names_for(rs)), stage.output_time(),
                      stage.output_key(table.key))
        return self._derive(parent.with_timed(stage, meta, out))

    # ------------------------------------------------------------- what the terminals ask
    # (the terminal methods come from pystream.terminals.methods.TerminalMethods;
    # the terminals read the chain through pystream.chain.node_of)

    @classmethod
    def _pushed(cls, peek: Callable[[], Iterator[np.ndarray]], dtype: np.dtype,
                record_shape: tuple[int, ...], start: int,
                names: tuple[str, ...] | None = None, time: TimeColumn | None = None,
                key: KeyColumn | None = None) -> Stream:
        """A stream that is never read: it carries the dtype, record shape and
        start of what is pushed into a chain; ``peek()`` gives the data a
        ``map`` whose output type cannot be inferred looks at, as a pulled
        stream would; `names`: the columns' names, which the branches' stages carry."""
        return cls._from_source(CallableSource(peek), dtype, record_shape, start=start,
                                table=Columns(names, time, key))


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
