"""Consumers: the terminal operations in push form.

A pull terminal (``stream.describe()``) loops over the stream itself.  A
push sink (:meth:`pystream.Pipeline.push`) and a fan-out
(:meth:`pystream.Stream.fork`, :func:`pystream.tee`) instead hand each chunk
to one or several *consumers* as it arrives:

``send(chunk)``
    Take one non-empty chunk of the consumer's input (its dtype and record
    shape).
``result()``
    The result so far, without ending anything.  It is recomputed only when
    new data reached the consumer since the last call (a branch fed no new
    records answers from its cache).
``close()``
    End of the stream: the final result (a sink renames its file now).
``abort()``
    Give up after an error elsewhere: a sink deletes its temporary file.
``done``
    True once the consumer can use no more data (after a ``take(n)``), so a
    fan-out can stop reading when every branch is done.

Each terminal of :class:`~pystream.Stream` has a consumer built from the
same parts as the pull method (``Moments`` and ``describe_result``, the
sketch states, the sink writers), so a branch's result equals the separate
run's bit for bit.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from ._extensions import find as find_entry, names as entry_names
from ._arguments import check_call
from ._checks import check_ddof, check_nan_policy, nan_policy_error
from .reducers import (
    DEFAULT_QUANTILES,
    Moments,
    describe_result,
)
from .sinks import NpyWriter, RawWriter, TextWriter, check_target
from .sketches.columns import (
    DESCRIBE_ALPHA,
    RANK_K,
    ColumnQuantiles,
    check_method,
    check_quantiles,
)
from .sketches.reduce import QuantileSpec, _HistogramFactory
from ._checks import first_nan_record

__all__ = ["Consumer", "DescribeConsumer", "QuantileConsumer", "TERMINALS", "share_states",
           "terminal_maker"]

Meta = tuple[np.dtype, tuple[int, ...]]


class Consumer(abc.ABC):
    """Base class: caches :meth:`result` until new data arrives."""

    done: bool = False

    def __init__(self) -> None:
        self._stale = True
        self._cached: Any = None

    def send(self, chunk: np.ndarray) -> None:
        """Consume one non-empty chunk."""
        self._update(chunk)
        self._stale = True

    @abc.abstractmethod
    def _update(self, chunk: np.ndarray) -> None:
        """Feed the chunk to the state."""

    @abc.abstractmethod
    def _result(self) -> Any:
        """Compute the result from the state."""

    def result(self) -> Any:
        """The result over the chunks sent so far (cached until the next chunk)."""
        if self._stale:
            self._cached = self._result()
            self._stale = False
        return self._cached

    def close(self) -> Any:
        """The final result."""
        return self.result()

    def abort(self) -> None:
        """Release what the consumer holds after a failure elsewhere."""


class _Shared(Consumer):
    """A consumer whose state another consumer fed the same chunks may update
    (:func:`share_states`).  A follower (``owner`` set) only checks its own
    ``nan_policy="raise"``; the owner updates the state once per chunk."""

    def __init__(self, start: int, where: str, check_nan: bool) -> None:
        super().__init__()
        self.start = start
        self.position = start
        self.where = where
        self.check_nan = check_nan
        self.owner: Consumer | None = None

    def _update(self, chunk: np.ndarray) -> None:

        if self.owner is None:
            self._feed(chunk)
        elif self.check_nan:
            bad = first_nan_record(chunk)
            if bad >= 0:
                raise nan_policy_error(self.where, self.position + bad)
        self.position += len(chunk)

    @abc.abstractmethod
    def _feed(self, chunk: np.ndarray) -> None:
        """Update the state this consumer owns."""


class DescribeConsumer(_Shared):
    """``describe`` and the statistics read from it (``count``, ``mean``...)."""

    def __init__(self, meta: Meta, start: int, where: str, ddof: float, nan_policy: str,
                 quantiles: Any = (), pick: str | None = None,
                 quantile_method: str = "kll") -> None:

        self.policy = check_nan_policy(nan_policy, where)
        super().__init__(start, where, self.policy == "raise")
        self.meta = meta
        self.ddof = check_ddof(ddof, where)
        self.sketch, self.qs = ColumnQuantiles.for_describe(quantiles, where, start,
                                                            quantile_method)
        self.moments = Moments(start=start)
        self.pick = pick

    def can_follow(self, owner: DescribeConsumer) -> bool:
        """Whether `owner`'s state can serve this consumer too (same start, and
        no quantile sketches of different methods)."""
        return (owner.start == self.start and
                (owner.sketch is None or self.sketch is None
                 or owner.sketch.key == self.sketch.key))

    def follow(self, owner: DescribeConsumer) -> None:
        """Read `owner`'s moments (and sketch) instead of updating its own."""
        if owner.sketch is None and self.sketch is not None:
            owner.sketch = self.sketch           # the owner computes it for both
        self.moments = owner.moments
        self.sketch = owner.sketch if self.qs else None
        self.owner = owner

    def _feed(self, chunk: np.ndarray) -> None:

        m = self.moments
        m.update(chunk)
        if self.sketch is not None:
            self.sketch.update(chunk)
        if self.check_nan and m.first_nan is not None:
            raise nan_policy_error(self.where, m.first_nan)

    def _result(self) -> Any:

        m = self.moments
        if m.dtype is None:
            dt, rs = self.meta
            m = m.copy().update(np.empty((0, *rs), dt))
        d = describe_result(m, self.sketch if self.qs else None, self.qs, self.ddof, self.policy)
        if self.pick is None:
            return d
        if self.pick in ("min", "max") and m.stop == m.start:
            raise ValueError(f"{self.pick}: the stream is empty; a "
                             f"{'minimum' if self.pick == 'min' else 'maximum'} of zero records "
                             "is undefined")
        return getattr(d, self.pick)


class QuantileConsumer(_Shared):
    """``quantile``: one sketch per column (:class:`~pystream.sketches.reduce.QuantileSpec`)."""

    def __init__(self, spec: Any, meta: Meta, start: int) -> None:
        super().__init__(start, "quantile", spec.policy == "raise")
        self.spec = spec
        self.meta = meta
        self.state = spec.factory(start)
        self.columns = self.state.columns

    @property
    def key(self) -> tuple[Any, ...]:
        """What makes two sketch states identical: the sketch's parameters and start."""
        return self.columns.key

    def follow(self, owner: Consumer, columns: Any) -> None:
        """Read the column sketches `owner` updates (built with the same parameters)."""
        self.columns = columns
        self.owner = owner

    def _feed(self, chunk: np.ndarray) -> None:
        self.state.update(chunk)

    def _result(self) -> Any:
        return self.spec.finish(self.columns, self.meta[1])


def share_states(consumers: list[Consumer]) -> None:
    """Let consumers fed the same chunks share the states they can: the
    describe family one moments state (and one quantile sketch per column,
    when their quantile methods agree), a quantile branch the sketches of a
    ``describe`` or of another quantile branch with the same parameters
    (``quantile(q)`` with its defaults shares ``describe()``'s).  The results
    are unchanged (the shared state is the one each would have built); the
    kernels run once per chunk.
    """

    owners: list[DescribeConsumer] = []
    for c in consumers:
        if isinstance(c, DescribeConsumer):
            owner = next((o for o in owners if c.can_follow(o)), None)
            if owner is None:
                owners.append(c)
            else:
                c.follow(owner)
    sketches: dict[tuple[Any, ...], tuple[Consumer, Any]] = {}
    for owner in owners:
        if owner.sketch is not None:
            sketches.setdefault(owner.sketch.key, (owner, owner.sketch))
    for c in consumers:
        if isinstance(c, QuantileConsumer):
            if c.key in sketches:
                c.follow(*sketches[c.key])
            else:
                sketches[c.key] = (c, c.columns)


class StateConsumer(Consumer):
    """A reducer state: ``update(chunk)`` per chunk, ``result()`` for the result."""

    def __init__(self, state: Any) -> None:
        super().__init__()
        if not (callable(getattr(state, "update", None)) and callable(getattr(state, "result", None))):
            raise TypeError(f"a reducer state needs update(chunk) and result() methods; got {state!r}")
        self.state = state

    def _update(self, chunk: np.ndarray) -> None:
        self.state.update(chunk)

    def _result(self) -> Any:
        return self.state.result()


class ArrayConsumer(Consumer):
    """``to_array``: the chunks, copied (a stage may reuse its output memory)."""

    def __init__(self, meta: Meta) -> None:
        super().__init__()
        self.meta = meta
        self.chunks: list[np.ndarray] = []

    def _update(self, chunk: np.ndarray) -> None:
        self.chunks.append(np.array(chunk, dtype=self.meta[0], copy=True))

    def _result(self) -> np.ndarray:
        if len(self.chunks) > 1:
            self.chunks = [np.concatenate(self.chunks)]
        if self.chunks:
            return self.chunks[0]
        dt, rs = self.meta
        return np.empty((0, *rs), dt)


class CallbackConsumer(Consumer):
    """``to_callback``: calls ``func(chunk)``; the result is the record count."""

    def __init__(self, func: Callable[[np.ndarray], Any]) -> None:
        super().__init__()
        self.func = func
        self.count = 0

    def _update(self, chunk: np.ndarray) -> None:
        self.func(chunk)
        self.count += len(chunk)

    def _result(self) -> int:
        return self.count


class WriterConsumer(Consumer):
    """A file sink (:mod:`pystream.sinks` writer): the result so far is the
    record count written; ``close()`` renames the file into place."""

    def __init__(self, writer: Any) -> None:
        super().__init__()
        self.writer = writer

    def _update(self, chunk: np.ndarray) -> None:
        self.writer.write(chunk)

    def _result(self) -> int:
        return int(self.writer.count)

    def close(self) -> int:
        return int(self.writer.finish())

    def abort(self) -> None:
        self.writer.abort()


# --------------------------------------------------------------------------- terminals

#: A terminal's maker: ``make(meta, start) -> Consumer``, built once the input's
#: dtype, record shape and global start are known.
Maker = Callable[[Meta, int], Consumer]


def _describe_maker(where: str, ddof: float, nan_policy: str, quantiles: Any,
                    pick: str | None, quantile_method: str = "kll") -> Maker:

    check_ddof(ddof, where)
    check_nan_policy(nan_policy, where)
    check_quantiles(quantiles, where)
    check_method(quantile_method, where, "quantile_method")
    return lambda meta, start: DescribeConsumer(meta, start, where, ddof, nan_policy, quantiles,
                                                pick, quantile_method)


def _statistic(name: str, takes_ddof: bool) -> Callable[..., Maker]:
    if takes_ddof:
        def terminal(ddof: float = 0, nan_policy: str = "propagate") -> Maker:
            return _describe_maker(name, ddof, nan_policy, (), name)
    else:
        def terminal(nan_policy: str = "propagate") -> Maker:  # type: ignore[misc]
            return _describe_maker(name, 0, nan_policy, (), name)
    return terminal


def _describe_terminal(ddof: float = 0, nan_policy: str = "propagate",
                       quantiles: Any = DEFAULT_QUANTILES, quantile_method: str = "kll") -> Maker:
    return _describe_maker("describe", ddof, nan_policy, quantiles, None, quantile_method)


def _histogram(bins: int = 10, range: tuple[float, float] | None = None, edges: Any = None,
               log: bool = False) -> Maker:

    if range is None and edges is None:
        raise ValueError(
            "histogram: a push sink or fan-out branch reads the data once, and numpy's default "
            "range (the data's min and max) needs a first pass: pass range=(lo, hi) or edges=")
    make = _HistogramFactory(bins=bins, range=range, edges=edges, log=log)
    make()                                   # checks the parameters now
    return lambda meta, start: StateConsumer(make())


def _quantile(q: Any, method: str = "kll", alpha: float = DESCRIBE_ALPHA, k: int = RANK_K,
              seed: int = 0, nan_policy: str = "propagate") -> Maker:

    spec = QuantileSpec(q, method, alpha, k, seed, nan_policy)
    return lambda meta, start: QuantileConsumer(spec, meta, start)


def _to_array() -> Maker:
    return lambda meta, start: ArrayConsumer(meta)


def _to_npy(path: Any, *, force: bool = False) -> Maker:

    target = check_target(path, "to_npy")
    return lambda meta, start: WriterConsumer(NpyWriter(target, *meta, force=force))


def _to_file(path: Any, *, force: bool = False) -> Maker:

    target = check_target(path, "to_file")
    return lambda meta, start: WriterConsumer(RawWriter(target, *meta, force=force))


def _to_text(path: Any, fmt: Any = None, delimiter: str = " ", header: str | None = None,
             *, force: bool = False) -> Maker:

    target = check_target(path, "to_text")
    return lambda meta, start: WriterConsumer(TextWriter(target, *meta, fmt, delimiter, header,
                                                         force=force))


def _to_callback(func: Callable[[np.ndarray], Any]) -> Maker:
    if not callable(func):
        raise TypeError(f"to_callback: func must be callable, got {func!r}")
    return lambda meta, start: CallbackConsumer(func)


#: Terminal operation name -> ``terminal(*args, **kwargs) -> Maker`` (checks the
#: arguments now; the maker builds the consumer when the input is known).
TERMINALS: dict[str, Callable[..., Maker]] = {
    "describe": _describe_terminal,
    "count": _statistic("count", False),
    "sum": _statistic("sum", False),
    "mean": _statistic("mean", False),
    "var": _statistic("var", True),
    "std": _statistic("std", True),
    "min": _statistic("min", False),
    "max": _statistic("max", False),
    "histogram": _histogram,
    "quantile": _quantile,
    "to_array": _to_array,
    "to_npy": _to_npy,
    "to_file": _to_file,
    "to_text": _to_text,
    "to_callback": _to_callback,
}

_ENGINE_ARGS = ("engine", "workers", "partition_size")


def _plugin_reducer(entry: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Maker:
    factory = entry.factory
    try:
        positional = "start" in inspect.signature(factory).parameters and "start" not in kwargs
    except (TypeError, ValueError):
        positional = False
    check_call(entry.name, factory, args, kwargs)  # a misspelled keyword: the one meant
    factory(*args, **kwargs)                 # checks the arguments now

    def make(meta: Meta, start: int) -> Consumer:
        return StateConsumer(factory(*args, **kwargs, start=start) if positional
                             else factory(*args, **kwargs))

    return make


def _plugin_sink(entry: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Maker:
    """A registered sink's maker: its writer is made once the input is known."""
    factory = entry.factory
    check_call("to_" + entry.name, factory, args,
               {**kwargs, "dtype": np.dtype(np.float64), "record_shape": ()})
    return lambda meta, start: WriterConsumer(
        factory(*args, **kwargs, dtype=meta[0], record_shape=meta[1]))


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
    terminal = TERMINALS.get(name)
    if terminal is not None:
        check_call(name, terminal, args, kwargs)
        return terminal(*args, **kwargs)
    sink = find_entry("sinks", name[3:]) if name.startswith("to_") else None
    if sink is not None:
        return _plugin_sink(sink, args, kwargs)
    entry = find_entry("reducers", name)
    if entry is None:
        known = sorted(set(TERMINALS) | set(entry_names("reducers"))
                       | {"to_" + n for n in entry_names("sinks")})
        raise TypeError(f"no terminal operation or registered reducer is named {name!r}; "
                        f"expected one of {known}")
    return _plugin_reducer(entry, args, kwargs)
