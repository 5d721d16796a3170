"""Reducers and sinks registered by plugins, as terminal operations: one spec
for the pull method, the engines, push and fork."""

from __future__ import annotations

import inspect
from typing import Any

from .._arguments import check_call
import numpy as np

from .protocol import Meta, Reduction, ReducerTerminal, SinkTerminal

__all__ = ["PluginReducer", "PluginSink", "PluginSinkTerminal", "PluginTerminal"]


class PluginReducer(ReducerTerminal):
    """A registered reducer (``entry.factory``) called with `args` and `kwargs`.

    A factory that takes ``start=`` (not given by the caller) gets the
    global index of its first record, as ``describe()`` does, so its
    result is the same whatever the stream's start; such a state with a
    ``merge()`` is reduced per partition by the parallel engines, any other
    consumes their ordered output.
    """

    def __init__(self, entry: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.name = entry.name  # type: ignore[misc]
        factory = entry.factory
        try:
            takes_start = "start" in inspect.signature(factory).parameters
        except (TypeError, ValueError):
            takes_start = False
        self.placed = takes_start and "start" not in kwargs
        check_call(entry.name, factory, args, kwargs)  # a misspelled keyword: the one meant
        self.factory, self.args, self.kwargs = factory, args, kwargs

    def state(self, start: int) -> Any:
        if self.placed:
            return self.factory(*self.args, **self.kwargs, start=start)
        return self.factory(*self.args, **self.kwargs)

    def reduction(self) -> Reduction:
        # A state declaring ``positional = False`` is order-free: reduced per
        # partition and merged even after a filter (see the plugin guide).
        first = self.state(0)
        order_free = getattr(first, "positional", True) is False
        mergeable = (self.placed or order_free) and callable(getattr(first, "merge", None))
        return Reduction(self.state, positional=not order_free, name=self.name,
                         mergeable=mergeable)

    def for_branch(self) -> PluginReducer:
        self.factory(*self.args, **self.kwargs)  # checks the arguments now
        return self


class PluginTerminal:
    """``PluginTerminal(entry)(*args, **kwargs)`` -> the :class:`PluginReducer`
    spec: what the driver (:func:`~pystream.terminals.run.terminal_call`) and
    the branches take in place of a built-in spec class."""

    checks_first = False

    def __init__(self, entry: Any) -> None:
        self.entry = entry
        self.name = entry.name

    def __call__(self, *args: Any, **kwargs: Any) -> PluginReducer:
        return PluginReducer(self.entry, args, kwargs)


class PluginSink(SinkTerminal):
    """A registered sink ``x`` (``stream.to_x(...)``): ``entry.factory(*args,
    dtype=..., record_shape=..., **kwargs)`` makes its writer once the input is
    known; the writer is fed the ordered output, like the built-in sinks."""

    def __init__(self, entry: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.name = entry.call_name  # type: ignore[misc]
        self.factory, self.args, self.kwargs = entry.factory, args, kwargs
        # a misspelled keyword: the one meant (dtype and record_shape come later)
        check_call(self.name, self.factory, args,
                   {**kwargs, "dtype": np.dtype(np.float64), "record_shape": ()})

    def open(self, meta: Meta) -> Any:
        return self.factory(*self.args, **self.kwargs, dtype=meta[0], record_shape=meta[1])


class PluginSinkTerminal(PluginTerminal):
    """``PluginSinkTerminal(entry)(*args, **kwargs)`` -> the :class:`PluginSink` spec."""

    def __init__(self, entry: Any) -> None:
        self.entry = entry
        self.name = entry.call_name

    def __call__(self, *args: Any, **kwargs: Any) -> PluginSink:  # type: ignore[override]
        return PluginSink(self.entry, args, kwargs)
