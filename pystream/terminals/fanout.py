"""Fan-out: the branches of a push sink, :func:`~pystream.tee` and
``Stream.fork``, each a consumer built from a terminal spec."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .._arguments import check_call
from .._checks import check_count
from .._extensions import find, names
from ..chain import ChainConsumer, ParallelTee, TeeConsumer, close_iterator, node_of, push_steps
from ..chain.steps import has_timed
from ..chain.timed_consumer import ColumnFeed, TimedChainConsumer
from .protocol import Consumer, Meta, share_states
from .plugin import PluginSinkTerminal, PluginTerminal
from .specs import TERMINALS

__all__ = ["Branch", "StateConsumer", "Tee", "Unbound", "check_branch", "fork", "make_consumer", "root_of", "tee",
           "terminal_maker"]

#: A terminal's maker: ``make(meta, start) -> Consumer``, built once the input's
#: dtype, record shape and global start are known.
Maker = Callable[[Meta, int], Consumer]

_ENGINE_ARGS = ("engine", "workers", "partition_size")


class Unbound:
    """Base of :class:`~pystream.Pipeline`: stages not attached to a source
    (here: none, as a branch given by a terminal's name)."""

    __slots__ = ()
    _ops: tuple[Callable[[Any], Any], ...] = ()
    _labels: tuple[str, ...] = ()

    def __call__(self, stream: Any) -> Any:
        for op in self._ops:
            stream = op(stream)
        return stream


class StateConsumer(Consumer):
    """A reducer state given as a branch: ``update(chunk)`` per chunk, ``result()``."""

    def __init__(self, state: Any) -> None:
        super().__init__()
        if not (callable(getattr(state, "update", None)) and callable(getattr(state, "result", None))):
            raise TypeError(f"a reducer state needs update(chunk) and result() methods; got {state!r}")
        self.state = state

    def _update(self, chunk: np.ndarray) -> None:
        self.state.update(chunk)

    def _result(self) -> Any:
        return self.state.result()


def terminal_maker(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Maker:
    """The maker of the terminal operation `name` (a built-in one or a reducer
    registered by a plugin) called with `args` and `kwargs`.

    Raises
    ------
    TypeError
        For unknown names or arguments that do not fit the operation's signature.
    ValueError
        For invalid argument values, and for ``engine=`` other than
        ``"local"`` (a branch runs where its chunks are pushed).
    """
    engine = {k: kwargs.pop(k) for k in _ENGINE_ARGS if k in kwargs}
    if engine.get("engine", "local") != "local" or engine.get("workers") is not None \
            or engine.get("partition_size") is not None:
        raise ValueError(f"{name}: a push sink or fan-out branch runs where its chunks are "
                         f"pushed; engine arguments ({', '.join(engine)}) do not apply")
    spec = TERMINALS.get(name)
    if spec is not None:
        check_call(name, spec, args, kwargs)
        return spec(*args, **kwargs).for_branch().consumer
    sink = find("sinks", name[3:]) if name.startswith("to_") else None
    if sink is not None:
        return PluginSinkTerminal(sink)(*args, **kwargs).for_branch().consumer
    entry = find("reducers", name)
    if entry is None:
        known = sorted(set(TERMINALS) | set(names("reducers")) | {"to_" + n for n in names("sinks")})
        raise TypeError(f"no terminal operation or registered reducer is named {name!r}; "
                        f"expected one of {known}")
    return PluginTerminal(entry)(*args, **kwargs).for_branch().consumer


class Branch:
    """A terminal operation on a pipeline's output, deferred until chunks come.

    Made by a :class:`Pipeline`'s terminal methods
    (``ps.pipeline().moving_mean(10).to_npy(path)``) or by
    :meth:`Pipeline.into`; used as a target of :meth:`Pipeline.push`, a
    branch of :meth:`Stream.fork <pystream.Stream.fork>` or of :func:`tee`.
    The arguments are checked when it is made.
    """

    __slots__ = ("args", "kwargs", "make", "name", "pipeline", "target")

    def __init__(self, pipeline: Unbound, name: str, args: tuple[Any, ...],
                 kwargs: dict[str, Any], target: Any = None) -> None:
        self.pipeline = pipeline
        self.name = name
        self.args = args
        self.kwargs = kwargs
        self.target = target
        if target is not None:
            check_branch(target, "target")
            self.make: Maker | None = None
        else:
            self.make = terminal_maker(name, args, dict(kwargs))

    def __repr__(self) -> str:
        stages = " -> ".join(self.pipeline._labels)
        end = repr(self.target) if self.target is not None else self.name
        return f"<Branch {stages + ' -> ' if stages else ''}{end}>"

    def consumer(self, root: Any) -> Consumer:
        """The consumer of this branch, fed the chunks of `root` (a stream that is
        never read: it carries the dtype, record shape and start of what comes)."""
        def inner(r: Any) -> Consumer:
            if self.make is None:
                return make_consumer(self.target, r)
            consumer = self.make((r.dtype, r.record_shape), r.start)
            consumer.label_columns(r.columns)
            return consumer

        if not self.pipeline._ops:
            return inner(root)
        bound = self.pipeline(root)
        steps = push_steps(node_of(bound), node_of(root))
        if has_timed(steps):
            feed = _FEEDS.get(root)
            if feed is None:
                name = next(s.name for s in steps if s.timed is not None)
                raise TypeError(f"{name}: a branch that reads the time column is fed "
                                "by Stream.fork on a stream with a time column, or by "
                                "pipeline.push(time=...); this one is fed values only")
            return TimedChainConsumer(steps, inner(root_of(bound)), root.start, feed.register())
        return ChainConsumer(steps, inner(root_of(bound)), root.start)


class Tee:
    """Named branches fed from one pass (see :func:`tee`)."""

    __slots__ = ("branches",)

    def __init__(self, where: str = "tee", /, **branches: Any) -> None:
        if not branches:
            raise TypeError(f"{where}: give at least one branch, e.g. {where}(stats='describe')")
        for name, spec in branches.items():
            check_branch(spec, name)
        self.branches = branches

    def __repr__(self) -> str:
        return f"<Tee {', '.join(self.branches)}>"


def tee(**branches: Any) -> Tee:
    """Fan one pass out to several consumers, without buffering.

    Unlike :func:`itertools.tee`, which returns iterators and keeps every
    item one of them has read and another not yet, ``tee`` pushes each chunk
    to every branch as it arrives and keeps nothing.  Use it with
    :meth:`Stream.fork <pystream.Stream.fork>` (which calls it),
    :meth:`Pipeline.push`, or nested as a branch of another tee.

    Parameters
    ----------
    **branches
        Name -> what consumes the chunks: a terminal's name (``"mean"``,
        ``"describe"``, a plugin reducer), a reducer state with ``update`` and
        ``result`` (``ps.Histogram(bins=10, range=(0, 1))``), a
        :class:`Branch` (``ps.pipeline().moving_mean(100).to_npy(path)``), a
        :class:`Pipeline` without a terminal (its output is collected, as
        ``to_array``), or another :class:`Tee`.

    Returns
    -------
    Tee

    Raises
    ------
    TypeError, ValueError
        For a branch that is none of these, or invalid arguments.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> t = ps.tee(n="count", top=ps.pipeline().filter(lambda c: c > 2).count())
    >>> ps.from_array(np.arange(5.0)).fork(all=t)
    {'all': {'n': 5, 'top': 2}}
    """
    return Tee(**branches)


def check_branch(spec: Any, name: str) -> None:
    if isinstance(spec, (Branch, Tee, Unbound)):
        return
    if isinstance(spec, str):
        Branch(Unbound(), spec, (), {})
        return
    if callable(getattr(spec, "update", None)) and callable(getattr(spec, "result", None)):
        return
    raise TypeError(
        f"branch {name!r}: expected a terminal name ('describe', 'mean'...), a reducer state "
        f"(update and result), a Branch, a Pipeline or a tee(), got {spec!r}")


def root_of(stream: Any, feed: ColumnFeed | None = None) -> Any:
    """The root for branches fed `stream`'s output (peeking at `stream`): a
    stream that is never read, carrying its dtype, record shape and start
    (and, with a `feed`, its time and key columns, which the fork feeds to
    the branches that read them)."""
    node = node_of(stream)
    dt, rs = node.meta()
    time, key = (None, None) if feed is None else (node.table.time, node.table.key)
    root = stream._pushed(lambda: node.chunks(True), dt, rs, node.start,
                          node.table.names_for(rs), time, key)
    if feed is not None:
        _FEEDS[root] = feed
    return root


#: The column feed of each fork's root (read by the branches that need times).
_FEEDS: weakref.WeakKeyDictionary[Any, ColumnFeed] = weakref.WeakKeyDictionary()


def make_consumer(spec: Any, root: Any) -> Consumer:
    """The consumer of `spec` (see :func:`tee`) fed the chunks of `root`."""
    if isinstance(spec, str):
        spec = Branch(Unbound(), spec, (), {})
    elif isinstance(spec, Unbound):
        spec = Branch(spec, "to_array", (), {})
    if isinstance(spec, Tee):
        return TeeConsumer({name: make_consumer(s, root) for name, s in spec.branches.items()},
                           share_states)
    if isinstance(spec, Branch):
        return spec.consumer(root)
    return StateConsumer(spec)


def fork(stream: Any, branches: dict[str, Any], workers: int | None = None) -> dict[str, Any]:
    """``stream.fork(**branches)``: one pass over `stream` feeding every branch
    (on `workers` threads when more than one)."""
    spec = Tee("fork", **branches)
    if workers is not None:
        workers = check_count(workers, "workers", "fork", minimum=1)
    node = node_of(stream)
    feed = ColumnFeed() if node.table.time is not None else None
    root = root_of(stream, feed)
    if workers is not None and workers > 1:
        consumer: Consumer = ParallelTee({name: make_consumer(s, root)
                                          for name, s in spec.branches.items()}, workers,
                                         share=share_states)
    else:
        consumer = make_consumer(spec, root)
    it: Iterator[np.ndarray] | None = None
    try:
        if not consumer.done and feed is not None and feed.wanted:
            it = node.triples()
            for chunk, t, k in it:
                feed.put(t, k)
                consumer.send(chunk)
                if consumer.done:
                    break
        elif not consumer.done:
            it = node.chunks()
            for chunk in it:
                consumer.send(chunk)
                if consumer.done:
                    break
        return consumer.close()
    except BaseException:
        consumer.abort()
        raise
    finally:
        if it is not None:
            close_iterator(it)
