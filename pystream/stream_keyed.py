"""Keyed streams: ``stream.by(key)`` gives a :class:`KeyedStream`, whose terminals
run per key (a :class:`~pystream.keyed.results.KeyedResult`) and whose stages run
per key (a keyed stream again, its records in the stream's order with the key
column beside them).  See ``docs/keys.rst``."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import numpy as np

from ._arguments import suggest_keywords
from ._columns import Batch
from ._extensions import find as find_entry
from .chain import node_of
from .keyed.grouping import batch_size
from .keyed.stages import KeyedStage
from .keyed.terminals import KeySpec, keyed_call
from .stages.methods import StageMethods
from .terminals.plugin import PluginTerminal
from .terminals.protocol import ReducerTerminal
from .terminals.specs import TERMINALS

__all__ = ["KeyedStream"]


class KeyedStream(StageMethods):
    """A stream whose terminals and stages run per key (``stream.by(key)``).

    Terminals (``describe``, ``count``, ``sum``, ``mean``, ``var``, ``std``,
    ``min``, ``max``, ``histogram``, ``quantile``, plugin reducers) return a
    :class:`~pystream.keyed.results.KeyedResult`: for each key, the
    terminal's result over that key's records alone, bit for bit.  Stages
    (every moving window, scan, EWM, ``diff``, ``resample``, ``session``,
    plugin stages) run once per key and return a keyed stream: each output is
    what the stage gives over its key's records alone, in the stream's
    record order, with its key beside it.  :attr:`stream` is the plain
    stream (with its key column) to iterate, write or run unkeyed.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> s = ps.from_array(np.array([1.0, 10.0, 2.0, 20.0]), key=["a", "b", "a", "b"])
    >>> s.by().sum().to_dict()
    {'a': 3.0, 'b': 30.0}
    >>> s.by().cumsum().to_array()
    array([ 1., 10.,  3., 30.])
    """

    __slots__ = ("batched", "keys", "stream", "ttl")

    def __init__(self, stream: Any, keys: KeySpec, ttl: Any = None,
                 batched: bool = False) -> None:
        #: The records with their key column (a :class:`~pystream.Stream`).
        self.stream = stream
        self.keys = keys
        self.ttl = ttl
        #: Whether `stream` already comes in batches (a keyed stage's output).
        self.batched = batched

    def __repr__(self) -> str:
        column = node_of(self.stream).table.key
        name = column.name if column is not None and column.name else "<array>"
        extra = f", max_keys={self.keys.max_keys}" if self.keys.max_keys is not None else ""
        extra += f", ttl={self.ttl!r}" if self.ttl is not None else ""
        return f"<KeyedStream by {name}{extra}: {self.stream!r}>"

    # ---------------------------------------------------------------- the records

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.stream)

    def batches(self) -> Iterator[Batch]:
        """The records with their time and key (:meth:`pystream.Stream.batches`)."""
        return self.stream.batches()

    def to_array(self, **kwargs: Any) -> np.ndarray:
        """The records as one array (:meth:`pystream.Stream.to_array`)."""
        return self.stream.to_array(**kwargs)

    def to_pandas(self, *args: Any, **kwargs: Any) -> Any:
        """The records with their key (and time) columns (:meth:`pystream.Stream.to_pandas`)."""
        return self.stream.to_pandas(*args, **kwargs)

    # ---------------------------------------------------------------- per record

    def map(self, func: Any, dtype: Any = None) -> KeyedStream:
        """:meth:`Stream.map <pystream.Stream.map>` (record by record: the keys
        travel with the records)."""
        return KeyedStream(self.stream.map(func, dtype), self.keys, self.ttl, self.batched)

    def filter(self, predicate: Any) -> KeyedStream:
        """:meth:`Stream.filter <pystream.Stream.filter>` (the kept records keep their keys)."""
        return KeyedStream(self.stream.filter(predicate), self.keys, self.ttl)

    def astype(self, dtype: Any, casting: str = "unsafe") -> KeyedStream:
        """:meth:`Stream.astype <pystream.Stream.astype>`."""
        return KeyedStream(self.stream.astype(dtype, casting), self.keys, self.ttl, self.batched)

    def select(self, columns: Any) -> KeyedStream:
        """:meth:`Stream.select <pystream.Stream.select>`."""
        return KeyedStream(self.stream.select(columns), self.keys, self.ttl, self.batched)

    # ---------------------------------------------------------------- stages

    def _add_stage(self, stage: Any) -> KeyedStream:
        """Run `stage` per key (what the generated stage methods call).

        Without a ttl the stage reads its input in batches of about a million
        records (:func:`~pystream.keyed.grouping.batch_size`): with many keys a
        chunk holds few records of each, and the per-key work is paid per key
        and chunk.  The outputs are the same; a stage with a ttl reads the
        chunks as they come, since idle keys are let go before each.
        """
        keyed = KeyedStage(stage, self.keys.max_keys, self.ttl)
        stream = self.stream
        if self.ttl is None and not self.batched:
            stream = stream.rechunk(batch_size(stream.dtype, stream.record_shape))
        return KeyedStream(stream._add_stage(keyed), self.keys, self.ttl, self.ttl is None)

    def _no_ttl(self, name: str) -> None:
        if self.ttl is not None:
            raise ValueError(f"by(ttl=...).{name}: a terminal per key reduces every record of "
                             "each key, so a ttl does not apply; drop it (ttl is for the "
                             "stages per key)")

    # ---------------------------------------------------------------- plugins

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        entry = find_entry("reducers", name)
        if entry is not None:
            make = PluginTerminal(entry)

            def reducer(*args: Any, engine: str = "local", workers: int | None = None,
                        partition_size: int | None = None, **kwargs: Any) -> Any:
                self._no_ttl(name)
                return keyed_call(node_of(self.stream), self.keys, make, args, kwargs,
                                  engine, workers, partition_size)
            reducer.__name__ = name
            return reducer
        entry = find_entry("stages", name)
        if entry is not None:
            def stage(*args: Any, **kwargs: Any) -> KeyedStream:
                return self._add_stage(entry.factory(*args, **kwargs))
            stage.__name__ = name
            return stage
        raise AttributeError(f"'KeyedStream' object has no attribute {name!r}; per key there "
                             "are the reductions, the stages, and the plugins' reducers and "
                             "stages (.stream is the plain stream)")


def _terminal_method(name: str, spec: Any) -> Any:
    """``KeyedStream.<name>``: the terminal per key, with the Stream method's signature."""
    def method(self: KeyedStream, *args: Any, engine: str = "local", workers: int | None = None,
               partition_size: int | None = None, **kwargs: Any) -> Any:
        self._no_ttl(name)
        return keyed_call(node_of(self.stream), self.keys, spec, args, kwargs, engine,
                          workers, partition_size)
    method.__name__ = name
    method.__qualname__ = f"KeyedStream.{name}"
    method.__doc__ = (f"``{name}`` per key: a :class:`~pystream.keyed.results.KeyedResult` "
                      f"whose entry for each key is :meth:`Stream.{name} "
                      f"<pystream.Stream.{name}>` over that key's records alone (same "
                      "arguments).")
    signature = inspect.signature(spec)
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    engine_params = [
        inspect.Parameter("engine", inspect.Parameter.KEYWORD_ONLY, default="local"),
        inspect.Parameter("workers", inspect.Parameter.KEYWORD_ONLY, default=None),
        inspect.Parameter("partition_size", inspect.Parameter.KEYWORD_ONLY, default=None),
    ]
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[self_param, *signature.parameters.values(), *engine_params],
        return_annotation="KeyedResult")
    return suggest_keywords(method)


for _name, _spec in TERMINALS.items():
    if issubclass(_spec, ReducerTerminal):
        setattr(KeyedStream, _name, _terminal_method(_name, _spec))
del _name, _spec
