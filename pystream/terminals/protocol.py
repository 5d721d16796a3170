"""The terminal protocol: one spec per terminal operation, and the consumer
protocol push sinks and fan-outs drive.  Numpy and the base layer only, so
the engines and the push runner can import it.  See ``docs/internals/terminals.rst``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from .._checks import first_nan_record, nan_policy_error
from ..engines.options import Reduction

__all__ = ["Consumer", "Reduction", "ReducerConsumer", "ReducerTerminal", "SinkTerminal",
           "TERMINALS", "Terminal", "WriterConsumer", "share_states", "terminal"]

Meta = tuple[np.dtype, tuple[int, ...]]
#: The input's (dtype, record shape), asked for only when needed (a stream
#: whose metadata is not known peeks at its first chunk).
MetaFn = Callable[[], Meta]


# --------------------------------------------------------------------------- consumers


class Consumer(abc.ABC):
    """A push consumer: ``send(chunk)``, ``result()`` (cached until new data),
    ``close()`` (the final result), ``abort()``, ``done``."""

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

    def label_columns(self, names: tuple[str, ...] | None) -> None:
        """The names of the input's columns, when known (``describe`` labels by them)."""


class ReducerConsumer(Consumer):
    """A reduction terminal in push form: the spec's state, updated per chunk.

    A consumer whose state another consumer fed the same chunks updates
    (:func:`share_states`: ``owner`` set) only checks its own
    ``nan_policy="raise"``.
    """

    #: Order in which :func:`share_states` asks the consumers to :meth:`share`
    #: (None: never shares).
    share_phases: ClassVar[tuple[int, ...]] = ()

    def __init__(self, spec: ReducerTerminal, meta: Meta, start: int) -> None:
        super().__init__()
        self.spec = spec
        self.meta = meta
        self.start = start
        self.position = start
        self.check_nan = spec.raises_nan
        self.owner: Consumer | None = None
        self.state = spec.state(start)

    def _update(self, chunk: np.ndarray) -> None:
        if self.owner is None:
            self.state.update(chunk)
            self.spec.early(self.state)
        elif self.check_nan:
            bad = first_nan_record(chunk)
            if bad >= 0:
                raise nan_policy_error(self.spec.name, self.position + bad)
        self.position += len(chunk)

    def _result(self) -> Any:
        return self.spec.finish(self.state, lambda: self.meta)

    def share(self, phase: int, pool: dict[Any, Any]) -> None:
        """Take part in :func:`share_states` (phase by phase)."""


def share_states(consumers: list[Consumer]) -> None:
    """Let consumers fed the same chunks share the states they can (the
    describe family one moments state, quantile branches the sketches of a
    ``describe`` or of another quantile branch with the same parameters).
    The results are unchanged; the kernels run once per chunk.  Each
    consumer's :meth:`ReducerConsumer.share` does its part, phase by phase,
    in the branches' order."""
    pool: dict[Any, Any] = {}
    phases = sorted({p for c in consumers for p in getattr(c, "share_phases", ())})
    for phase in phases:
        for c in consumers:
            if phase in getattr(c, "share_phases", ()):
                c.share(phase, pool)  # type: ignore[attr-defined]


class WriterConsumer(Consumer):
    """A sink in push form: its writer's ``write(chunk)``; the result so far is
    the record count (``writer.count``); ``close()`` finishes (a file is
    renamed into place), ``abort()`` gives up (a temporary file is deleted)."""

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


# --------------------------------------------------------------------------- specs

#: Terminal operation name -> its spec class, in the order the methods are
#: listed.  :func:`terminal` fills it.
TERMINALS: dict[str, type[Terminal]] = {}


def terminal(cls: type[Terminal]) -> type[Terminal]:
    """Class decorator: register a terminal spec under ``cls.name`` (the
    Stream and Pipeline methods, the push/fork names come from this table)."""
    TERMINALS[cls.name] = cls
    return cls


class Terminal(abc.ABC):
    """One terminal operation: what every kind shares.

    ``Spec(*args, **kwargs)`` takes the method's arguments (without the
    engine's) and checks what the method checks before reading anything.
    A spec is a :class:`ReducerTerminal` (a mergeable state), a
    :class:`SinkTerminal` (a writer fed the ordered output), or drives its
    own pull pass (:attr:`pull`, ``to_array``).  Push and fork use
    :meth:`consumer`; :meth:`for_branch` makes the checks a branch, which
    reads its input once, needs at once.
    """

    #: The method's name (and the name of the push/fork branch).
    name: ClassVar[str] = ""
    #: The method checks these arguments before the engine arguments.
    checks_first: ClassVar[bool] = False
    #: The method's numpydoc (``{engine_parameters}`` where the engine
    #: arguments' documentation goes; see :mod:`pystream.terminals.methods`).
    doc: ClassVar[str] = ""
    #: The method's return annotation.
    returns: ClassVar[str] = "Any"
    #: ``pull(node, options) -> result``: a pull driver of the spec's own
    #: (``to_array``); None for the shared drivers of :mod:`~pystream.terminals.run`.
    pull: ClassVar[Callable[..., Any] | None] = None

    def for_branch(self) -> Terminal:
        """The spec as a push/fork branch, which reads its input once."""
        return self

    @abc.abstractmethod
    def consumer(self, meta: Meta, start: int) -> Consumer:
        """The push consumer of this spec, for input of `meta` from `start`."""


class ReducerTerminal(Terminal):
    """A terminal computed from a mergeable state.

    ``state(start)`` (``update(chunk)``, ``merge(right)``) and
    ``finish(state, meta)`` serve every driver: the local loop, the engines
    through :meth:`reduction`, push and fork through :meth:`consumer`.
    Optional hooks: :meth:`early` (raise during the pass), :meth:`prepare`
    (a first pass), ``whole_array`` (one update over an in-memory source).
    """

    #: The state depends on the global index of its records.
    positional: bool = True
    #: The state can be reduced per partition and merged in order.
    mergeable: bool = True
    #: Locally, an in-memory source is fed as one array (chunk-invariant states).
    whole_array: ClassVar[bool] = False
    #: A consumer following another's state still checks NaNs itself.
    raises_nan: bool = False

    @abc.abstractmethod
    def state(self, start: int) -> Any:
        """A fresh state whose first record has global index `start`."""

    def early(self, state: Any) -> None:
        """Called after each update by the local loop and push: raise now
        (``nan_policy="raise"``) rather than at the end."""

    def finish(self, state: Any, meta: MetaFn) -> Any:
        """The result from the final (merged) state."""
        return state.result()

    def reduction(self) -> Reduction:
        """The engines' view of this spec."""
        return Reduction(self.state, positional=self.positional, name=self.name,
                         mergeable=self.mergeable)

    def prepare(self, node: Any, options: Any) -> ReducerTerminal:
        """Before a pull pass: the spec to run (e.g. after a first pass)."""
        return self

    def consumer(self, meta: Meta, start: int) -> Consumer:
        return ReducerConsumer(self, meta, start)


class SinkTerminal(Terminal):
    """A sink: ``open(meta)`` gives a writer (``write(chunk)``, ``count``,
    ``finish()`` -> the record count, ``abort()``) fed the ordered output."""

    @abc.abstractmethod
    def open(self, meta: Meta) -> Any:
        """The writer for input of `meta`."""

    def consumer(self, meta: Meta, start: int) -> Consumer:
        return WriterConsumer(self.open(meta))
