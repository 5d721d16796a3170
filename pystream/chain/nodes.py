"""Chain nodes: the sources a chain starts from and the :class:`Node` each stream holds.

A node is a source plus the pending fused chunk functions, the global index
of the first record and the metadata.  :func:`compile_chain` turns a node
into its steps (see ``docs/internals/chain.rst``).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Union

import numpy as np

from .._columns import NO_COLUMNS, Columns, RowMap
from .steps import (
    ChunkFn,
    Step,
    Triple,
    carry_rows,
    close_iterator,
    fns_step,
    native_chunks,
    rows_of,
    run_fns,
    run_fns_triples,
    stage_step,
    timed_step,
    values_of,
)

__all__ = ["ONE_SHOT_MESSAGE", "CallableSource", "Node", "OneShotSource", "StageSource", "TimedSource",
           "compile_chain",
           "first_chunk_resolver", "push_steps"]

Meta = tuple[np.dtype, tuple[int, ...]]
Resolver = Callable[["Node"], tuple[Any, Any]]

ONE_SHOT_MESSAGE = (
    "this stream reads a one-shot source (an iterator, a generator, a file object, "
    "stdin, or a path naming a pipe, FIFO or device) that an earlier iteration already "
    "consumed; build a new stream for a new "
    "pass, or materialise the data once (to_array(), then from_array()) to iterate it "
    "several times"
)


# --------------------------------------------------------------------------- sources


class CallableSource:
    """A re-iterable source: ``make()`` returns a fresh iterator of chunks each time."""

    __slots__ = ("access", "make", "make_triples", "nonempty", "whole")
    one_shot = False

    def __init__(
        self,
        make: Callable[[], Iterable[np.ndarray]],
        nonempty: bool = False,
        whole: np.ndarray | None = None,
        access: Any = None,
        triples: Callable[[], Iterable[Triple]] | None = None,
    ) -> None:
        self.make = make
        # ``triples()``: the chunks with their time and key columns (a table
        # source); ``make`` may skip reading those columns.
        self.make_triples = triples
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

    def open_triples(self) -> Iterator[Triple]:
        """The chunks with their time and key (None when the source has none)."""
        if self.make_triples is not None:
            return iter(self.make_triples())
        return ((c, None, None) for c in self.make())


class OneShotSource:
    """A source that can be iterated once; ``peek()`` records and ``open()`` replays.

    With `triples` (a one-shot table source), the source is read as
    ``(chunk, time, key)`` triples: the replay buffer keeps the columns, so
    a peek made to learn the metadata loses nothing.
    """

    __slots__ = ("_buffer", "_consumed", "_it", "_triples", "make", "nonempty")
    one_shot = True

    def __init__(self, make: Callable[[], Iterable[np.ndarray]], nonempty: bool = False,
                 triples: Callable[[], Iterable[Triple]] | None = None) -> None:
        self.make = make
        self.nonempty = nonempty
        self._triples = triples
        self._it: Iterator[Any] | None = None
        self._buffer: collections.deque[Any] = collections.deque()
        self._consumed = False

    def _iterator(self) -> Iterator[Any]:
        if self._it is None:
            self._it = iter(self._triples() if self._triples is not None else self.make())
        return self._it

    def _check(self) -> None:
        if self._consumed:
            raise RuntimeError(ONE_SHOT_MESSAGE)

    def _values(self, items: Iterator[Any]) -> Iterator[np.ndarray]:
        if self._triples is None:
            return items
        return (t[0] for t in items)

    def open(self) -> Iterator[np.ndarray]:
        return self._values(self._open())

    def _open(self) -> Iterator[Any]:
        self._check()
        self._consumed = True
        if not self._buffer:
            return self._iterator()
        return self._replay()

    def open_triples(self) -> Iterator[Triple]:
        """The chunks with their time and key (None when the source has none)."""
        items = self._open()
        if self._triples is not None:
            return items
        return ((c, None, None) for c in items)

    def _replay(self) -> Iterator[Any]:
        buf = self._buffer
        while buf:
            yield buf.popleft()
        yield from self._iterator()

    def peek(self) -> Iterator[np.ndarray]:
        self._check()
        return self._values(self._peek())

    def _peek(self) -> Iterator[Any]:
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


class StageSource:
    """A generator stage wrapped around the iteration of a parent node."""

    __slots__ = ("_step", "args", "kwargs", "native", "nonempty", "parent", "rows", "stage")

    def __init__(
        self,
        parent: Node,
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
        self._step: Step | None = None
        # Which input gives each output its time and key (None: the stage
        # does not say, and the columns stop here).
        self.rows: RowMap | None = rows_of(stage, self.args)

    @property
    def one_shot(self) -> bool:
        return self.parent.one_shot

    def step(self) -> Step:
        """This stage's :class:`Step` (compiled once)."""
        if self._step is None:
            self._step = stage_step(self.stage, self.args, self.kwargs, self.native, self.rows)
        return self._step

    def _pull(self, peek: bool) -> Iterator[np.ndarray]:
        # An exception leaving the stage gets a note naming it and the global
        # records of the input chunk it was working on (not for take, skip
        # and rechunk, which run no user code).
        step = self.step()
        upstream = self.parent.chunks(peek)
        if step.structural:
            return step.serial(upstream)
        return step.run(upstream, self.parent.start)

    def open(self) -> Iterator[np.ndarray]:
        return self._pull(False)

    def peek(self) -> Iterator[np.ndarray]:
        return self._pull(True)

    def open_triples(self) -> Iterator[Triple]:
        """The stage's output chunks with the time and key their row map gives them."""
        assert self.rows is not None
        return carry_rows(self.step(), self.rows, self.parent.triples(), self.parent.start)


class TimedSource:
    """A stage that reads the time column, over the ``(chunk, time, key)`` triples
    of a parent node (duration windows, calendar resampling, sessions, EWM over
    times: :mod:`pystream.stages.timed`).

    The stage object has ``name`` and ``run_timed(triples, start)``, the pull
    run over triples, which gives each output chunk its time (and key) itself.
    """

    __slots__ = ("_step", "nonempty", "parent", "stage")

    def __init__(self, parent: Node, stage: Any) -> None:
        self.parent = parent
        self.stage = stage
        self.nonempty = True
        self._step: Step | None = None

    @property
    def one_shot(self) -> bool:
        return self.parent.one_shot

    def step(self) -> Step:
        """This stage's :class:`Step` (compiled once): sequential, over triples only."""
        if self._step is None:
            self._step = timed_step(self.stage)
        return self._step

    def open_triples(self) -> Iterator[Triple]:
        """The stage's output chunks with their time and key."""
        timed = self.step().timed
        assert timed is not None
        return timed(self.parent.triples(), self.parent.start)

    def open(self) -> Iterator[np.ndarray]:
        return values_of(self.open_triples())

    def peek(self) -> Iterator[np.ndarray]:
        if self.parent.one_shot:
            raise RuntimeError(
                f"{self.stage.name}: the output type after this stage cannot be learned without "
                "reading the one-shot source; give the map after it its dtype (map(f, dtype=...))")
        return self.open()


Source = Union[CallableSource, OneShotSource, StageSource, TimedSource]


# --------------------------------------------------------------------------- nodes


class Node:
    """A stream's place in the chain: its source, pending chunk functions,
    start and metadata (resolved on first use by a resolver when unknown)."""

    __slots__ = ("dtype", "fns", "record_shape", "resolver", "source", "start", "table")

    def __init__(
        self,
        source: Source,
        fns: tuple[ChunkFn, ...],
        dtype: np.dtype | None,
        record_shape: tuple[int, ...] | None,
        resolver: Resolver | None,
        start: int,
        table: Columns = NO_COLUMNS,
    ) -> None:
        self.source = source
        self.fns = fns
        self.start = start
        # Names, time and key columns (docs/design.md, "Tables").
        self.table = table
        if dtype is not None and record_shape is not None:
            self.dtype: np.dtype | None = dtype
            self.record_shape: tuple[int, ...] | None = record_shape
            self.resolver: Resolver | None = None
        else:
            if resolver is None:
                resolver = first_chunk_resolver(dtype, record_shape)
            self.dtype = None
            self.record_shape = None
            self.resolver = resolver

    # ------------------------------------------------------------- metadata

    def meta(self) -> Meta:
        """``(dtype, record_shape)``, resolving them by peeking if needed."""
        if self.dtype is None:
            resolver = self.resolver
            assert resolver is not None
            dt, rs = resolver(self)
            self.record_shape = tuple(rs)
            self.dtype = np.dtype(dt)
            self.resolver = None
        return self.dtype, self.record_shape  # type: ignore[return-value]

    def same_meta(self) -> Meta | Resolver:
        """This node's metadata, or a resolver reading it later."""
        if self.dtype is not None:
            return self.dtype, self.record_shape  # type: ignore[return-value]
        return lambda _n: self.meta()

    @property
    def one_shot(self) -> bool:
        return self.source.one_shot

    # ------------------------------------------------------------- derived nodes

    def derive(self, source: Source | None = None, fns: tuple[ChunkFn, ...] | None = None,
               meta: Meta | Resolver | None = None, table: Columns | None = None) -> Node:
        """A new node sharing this one's source/functions unless replaced; `meta`
        is ``(dtype, record_shape)``, a resolver, or None for "same as this";
        `table` (names, time, key) likewise."""
        if meta is None:
            meta = self.same_meta()
        src = self.source if source is None else source
        fs = self.fns if fns is None else fns
        tb = self.table if table is None else table
        if callable(meta):
            return Node(src, fs, None, None, meta, self.start, tb)
        dt, rs = meta
        return Node(src, fs, dt, rs, None, self.start, tb)

    def with_fn(self, fn: ChunkFn, meta: Meta | Resolver | None = None,
                table: Columns | None = None) -> Node:
        """This node with one more fused chunk function (record for record: the
        time and key columns follow, through a filter's mask too)."""
        return self.derive(fns=self.fns + (fn,), meta=meta, table=table)

    def with_stage(self, stage: Callable[..., Iterator[np.ndarray]], args: tuple[Any, ...] = (),
                   kwargs: dict[str, Any] | None = None, meta: Meta | Resolver | None = None,
                   nonempty: bool = False, native: bool = False) -> Node:
        """A node reading this one through the generator stage `stage`.

        The time and key columns follow when the stage declares its row map
        (every built-in stage does); otherwise they stop here.  Names stay
        while the record shape still matches them.
        """
        src = StageSource(self, stage, args, kwargs, nonempty, native)
        table = self.table
        if table.carried and src.rows is None:
            table = Columns(names=table.names)
        return self.derive(src, (), meta, table)

    # ------------------------------------------------------------- iteration

    def with_timed(self, stage: Any, meta: Meta | Resolver, table: Columns) -> Node:
        """A node reading this one through a stage that reads the time column
        (:class:`TimedSource`); `table` is the output's names, time and key."""
        return self.derive(TimedSource(self, stage), (), meta, table)

    def chunks(self, peek: bool = False) -> Iterator[np.ndarray]:
        """The pull run: the output chunks (``peek``: without consuming a one-shot source)."""
        if not peek and self.dtype is None:
            self.meta()
        src = self.source
        chunks = src.peek() if peek else src.open()
        if not self.fns and src.nonempty:
            return chunks
        return run_fns(chunks, self.fns, self.start)

    def triples(self) -> Iterator[Triple]:
        """The pull run with the columns: ``(chunk, time, key)`` for every output chunk
        (time and key None when this node carries none)."""
        if not self.table.carried:
            return ((c, None, None) for c in self.chunks())
        if self.dtype is None:
            self.meta()
        out = self.source.open_triples()
        if not self.fns:
            return (t for t in out if len(t[0]))
        return run_fns_triples(out, self.fns, self.start)

    def peek_first(self) -> np.ndarray | None:
        """First non-empty output chunk, without consuming a one-shot source."""
        it = self.chunks(True)
        try:
            return next(it, None)
        finally:
            close_iterator(it)

    # ------------------------------------------------------------- the source underneath

    def root(self) -> Node:
        """The node reading the source (through no generator stage)."""
        n = self
        while isinstance(n.source, (StageSource, TimedSource)):
            n = n.source.parent
        return n

    def whole(self) -> np.ndarray | None:
        """The in-memory array of the output, when it is exactly the source's."""
        return None if self.fns else getattr(self.source, "whole", None)

    def length_hint(self, record_nbytes: int) -> int:
        """Records of the in-memory source under this node, or 0 (a hint only).

        0 also when records of `record_nbytes` would need more than twice
        the source's memory (e.g. after ``nwise``).
        """
        whole = getattr(self.root().source, "whole", None)
        if whole is None or len(whole) * record_nbytes > 2 * whole.nbytes + 4096:
            return 0
        return len(whole)

    def writer(self, alloc: Callable[[int], np.ndarray]) -> Iterator[np.ndarray] | None:
        """The output written by the last stage into ``alloc(nbytes)`` memory, when
        that stage can (``writes_into``) and nothing follows it; else None."""
        src = self.source
        if self.fns or not isinstance(src, StageSource) \
                or not getattr(src.stage, "writes_into", False):
            return None
        upstream = src.parent.chunks(False)
        if src.native:
            upstream = native_chunks(upstream)
        return src.stage(upstream, *src.args, **src.kwargs, alloc=alloc)


def first_chunk_resolver(dtype: np.dtype | None, record_shape: tuple[int, ...] | None) -> Resolver:
    """Resolver filling unknown metadata from the first chunk (float64 / () if empty)."""

    def resolve(node: Node) -> Meta:
        first = node.peek_first()
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


# --------------------------------------------------------------------------- compiler


def compile_chain(node: Node, root: Node | None = None) -> tuple[Node, list[Step]]:
    """``(root, steps)``: the steps from `root` down to `node`, in order.

    Without `root`, the chain is followed up to the node reading the source.
    With `root`, `node` must derive from it by stages (else TypeError).
    """
    steps: list[Step] = []
    n = node
    while True:
        if n.fns:
            steps.append(fns_step(n.fns))
        src = n.source
        if root is not None and src is root.source:
            break
        if not isinstance(src, (StageSource, TimedSource)):
            if root is not None:
                raise TypeError("a pipeline must only add stages to the stream it is given; "
                                "this one returned a stream of another source")
            break
        steps.append(src.step())
        n = src.parent
    steps.reverse()
    return n, steps


def push_steps(node: Node, root: Node) -> list[Step]:
    """The steps of `node`, a node derived from `root` by stages, for pushing
    chunks into `root` (its source is never read)."""
    node.meta()                              # fixes the map functions' output metadata
    return compile_chain(node, root)[1]


def node_of(stream: Any) -> Node:
    """The chain node of a :class:`~pystream.Stream` (``stream._node``): the one
    accessor through which the terminals, the engines, push mode and the
    pipelines read a stream's chain."""
    return stream._node
