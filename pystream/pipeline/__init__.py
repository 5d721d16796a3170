"""Unbound pipelines: ``ps.pipeline()`` starts a chain of stages not attached
to a source; ``p(stream)`` binds it, :meth:`Pipeline.push` drives it with
chunks (:mod:`.sink`), a terminal method makes a :class:`Branch` for push,
``fork`` and ``tee`` (:mod:`pystream.terminals.fanout`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .._arguments import call_checked
from .._checks import check_count
from .._extensions import find, names
from ..chain import PushError
from ..keyed.stages import KeyedStage
from ..keyed.terminals import KeySpec
from ..stages.methods import StageMethods, _suggest_keywords_on_methods
from ..stream import Stream
from ..terminals.fanout import Branch, Tee, Unbound, fork, make_consumer, root_of, tee
from ..terminals.methods import branch_methods
from .sink import PushSink, as_chunk
from .timed_sink import LateRecords, TimedPushSink

__all__ = ["Branch", "LateRecords", "Pipeline", "PushError", "PushSink", "Tee", "TimedPushSink",
           "as_chunk", "fork", "make_consumer",
           "pipeline", "root_of", "tee"]

Op = Callable[[Any], Any]


def _label(func: Any) -> str:
    return getattr(func, "__name__", None) or type(func).__name__


class Pipeline(Unbound, StageMethods):
    """A chain of stages not yet attached to a source (see :func:`pipeline`).

    Every stage method of :class:`~pystream.Stream` (``map``, ``filter``,
    ``moving_mean``, plugin stages...) returns a longer pipeline; the
    arguments are checked at once.  A pipeline is immutable and reusable.

    * ``p(stream)`` binds it: the :class:`~pystream.Stream` with the stages
      applied.
    * :meth:`push` drives it with chunks handed to it.
    * A terminal operation (``describe``, ``count``, ``sum``, ``mean``,
      ``var``, ``std``, ``min``, ``max``, ``histogram``, ``quantile``,
      ``to_array``, ``to_npy``, ``to_file``, ``to_text``, ``to_callback``, and
      the reducers plugins register) returns a :class:`Branch`, the deferred
      operation for :meth:`push`, :meth:`Stream.fork
      <pystream.Stream.fork>` and :func:`tee`.  It takes the arguments of the
      :class:`~pystream.Stream` method of the same name.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> p = ps.pipeline().map(np.abs).moving_mean(window=2)
    >>> p(ps.from_array(np.array([-1.0, 3.0, -5.0]))).to_array()
    array([nan,  2.,  4.])
    >>> sink = p.push()
    >>> sink.send(np.array([-1.0, 3.0]))
    array([nan,  2.])
    >>> sink.send(-5.0)
    array([4.])
    >>> sink.close()
    array([], dtype=float64)
    """

    __slots__ = ("_keyed", "_labels", "_ops")

    def __init__(self) -> None:
        self._ops: tuple[Op, ...] = ()
        self._labels: tuple[str, ...] = ()
        self._keyed: tuple[int | None, Any] | None = None

    def _then(self, op: Op, label: str) -> Pipeline:
        p = Pipeline.__new__(Pipeline)
        p._ops = self._ops + (op,)
        p._labels = self._labels + (label,)
        p._keyed = self._keyed
        return p

    def by(self, *, max_keys: int | None = None, ttl: Any = None) -> Pipeline:
        """The stages after this run per key (:meth:`Stream.by <pystream.Stream.by>`):
        the pipeline is applied to a stream with a key column, or pushed with
        ``push(key=True)``.

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> sink = ps.pipeline().by().cumsum().push(key=True)
        >>> sink.send([1.0, 10.0, 2.0], key=[0, 1, 0]).values
        array([ 1., 10.,  3.])
        """
        KeySpec.checked(False, max_keys)
        p = self._then(lambda s: s, "by()")
        p._keyed = (max_keys, ttl)
        return p

    def __repr__(self) -> str:
        return f"<Pipeline {' -> '.join(self._labels) or '(no stages)'}>"

    def __len__(self) -> int:
        return len(self._ops)

    def __call__(self, stream: Any) -> Any:
        """Apply the stages to `stream`.

        Parameters
        ----------
        stream : Stream

        Returns
        -------
        Stream
            A lazy stream: `stream` with this pipeline's stages.

        Raises
        ------
        TypeError
            If `stream` is not a :class:`~pystream.Stream`.
        """
        if not isinstance(stream, Stream):
            raise TypeError(f"a pipeline is applied to a pystream Stream, not {type(stream).__name__}"
                            " (use ps.from_array, ps.from_iterable... or push())")
        for op in self._ops:
            stream = op(stream)
        return stream

    # ------------------------------------------------------------- stages

    def _add_stage(self, stage: Any) -> Pipeline:  # type: ignore[override]
        if self._keyed is not None:
            stage = KeyedStage(stage, *self._keyed)
        return self._then(lambda s: s._add_stage(stage), str(getattr(stage, "name", stage)))

    def map(self, func: Callable[[np.ndarray], Any], dtype: DTypeLike | None = None) -> Pipeline:
        """Add :meth:`Stream.map <pystream.Stream.map>`."""
        if not callable(func):
            raise TypeError(f"map: func must be callable, got {func!r}")
        dt = None if dtype is None else np.dtype(dtype)
        return self._then(lambda s: s.map(func, dt), f"map({_label(func)})")

    def filter(self, predicate: Callable[[np.ndarray], Any]) -> Pipeline:
        """Add :meth:`Stream.filter <pystream.Stream.filter>`."""
        if not callable(predicate):
            raise TypeError(f"filter: predicate must be callable, got {predicate!r}")
        return self._then(lambda s: s.filter(predicate), f"filter({_label(predicate)})")

    def astype(self, dtype: DTypeLike, casting: str = "unsafe") -> Pipeline:
        """Add :meth:`Stream.astype <pystream.Stream.astype>`."""
        dt = np.dtype(dtype)
        return self._then(lambda s: s.astype(dt, casting), f"astype({dt})")

    def select(self, columns: Any) -> Pipeline:
        """Add :meth:`Stream.select <pystream.Stream.select>`."""
        return self._then(lambda s: s.select(columns), f"select({columns!r})")

    def pipe(self, stage: Callable[..., Any], *args: Any, dtype: DTypeLike | None = None,
             record_shape: tuple[int, ...] | None = None, **kwargs: Any) -> Pipeline:
        """Add :meth:`Stream.pipe <pystream.Stream.pipe>` (a generator stage).

        In push mode a generator stage runs in a helper thread that gets one
        chunk per send (see :mod:`pystream.chain.generator_pusher`).
        """
        if not callable(stage):
            raise TypeError(f"pipe: stage must be callable, got {stage!r}")
        return self._then(lambda s: s.pipe(stage, *args, dtype=dtype, record_shape=record_shape,
                                           **kwargs), f"pipe({_label(stage)})")

    def take(self, n: int) -> Pipeline:
        """Add :meth:`Stream.take <pystream.Stream.take>`."""
        n = check_count(n, "n", "take")
        return self._then(lambda s: s.take(n), f"take({n})")

    def skip(self, n: int) -> Pipeline:
        """Add :meth:`Stream.skip <pystream.Stream.skip>`."""
        n = check_count(n, "n", "skip")
        return self._then(lambda s: s.skip(n), f"skip({n})")

    def rechunk(self, size: int) -> Pipeline:
        """Add :meth:`Stream.rechunk <pystream.Stream.rechunk>`."""
        size = check_count(size, "size", "rechunk", minimum=1)
        return self._then(lambda s: s.rechunk(size), f"rechunk({size})")

    def then(self, other: Pipeline) -> Pipeline:
        """This pipeline followed by `other`'s stages."""
        if not isinstance(other, Pipeline):
            raise TypeError(f"then: expected a Pipeline, got {type(other).__name__}")
        p = Pipeline.__new__(Pipeline)
        p._ops = self._ops + other._ops
        p._labels = self._labels + other._labels
        return p

    def into(self, target: Any) -> Branch:
        """A :class:`Branch` feeding this pipeline's output to `target`.

        Parameters
        ----------
        target : str, reducer state, Branch, Pipeline or Tee
            Anything :func:`tee` takes as a branch.  With a :func:`tee`, the
            stages run once and every branch gets their output.

        Returns
        -------
        Branch

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> smooth = ps.pipeline().moving_mean(2, min_count=1).into(ps.tee(n="count", top="max"))
        >>> ps.from_array(np.arange(5.0)).fork(smooth=smooth)
        {'smooth': {'n': 5, 'top': np.float64(3.5)}}
        """
        return Branch(self, "into", (target,), {}, target=target)

    def __getattr__(self, name: str) -> Any:
        """Stages, reducers and sinks registered by plugins, as on a Stream."""
        if name.startswith("_"):
            raise AttributeError(name)
        entry = find("stages", name)
        if entry is not None:
            factory = entry.factory

            def stage_method(*args: Any, **kwargs: Any) -> Pipeline:
                return self._add_stage(call_checked(name, factory, args, kwargs))

            stage_method.__name__ = name
            stage_method.__doc__ = entry.summary
            return stage_method
        if find("reducers", name) is not None or (
                name.startswith("to_") and find("sinks", name[3:]) is not None):
            return lambda *args, **kwargs: Branch(self, name, args, kwargs)
        raise AttributeError(
            f"'Pipeline' object has no attribute {name!r}; no plugin registers a stage or "
            "reducer of that name (`pystream plugins` lists them)")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(names("stages")) | set(names("reducers"))
                      | {"to_" + n for n in names("sinks")})

    # ------------------------------------------------------------- push

    def push(self, target: Any = None, /, *, dtype: DTypeLike | None = None,
             record_shape: tuple[int, ...] | None = None, start: int = 0,
             time: Any = None, allowed_lateness: Any = 0,
             late: Callable[[np.ndarray, np.ndarray], Any] | None = None,
             key: bool = False, **branches: Any) -> PushSink | TimedPushSink:
        """Drive the pipeline by pushing chunks: return a :class:`PushSink`.

        Parameters
        ----------
        target : str, reducer state, Branch, Tee or Pipeline, optional
            Where the output goes.  None: :meth:`PushSink.send` returns it.
            A terminal's name (``"describe"``, ``"mean"``, a plugin reducer's
            name), a reducer state (``ps.Moments()``, ``ps.Histogram(...)``,
            anything with ``update`` and ``result``), a :class:`Branch`
            (``ps.pipeline().histogram(range=(0, 1))``) or a :func:`tee`:
            :meth:`PushSink.close` returns its result.
        dtype : dtype-like, optional
            The input dtype; default: the first chunk's.  Array chunks of
            another dtype are refused; lists and scalars are converted.
        record_shape : tuple of int, optional
            The input record shape; default: the first chunk's (``()`` for a
            scalar).  With it, an array of exactly one record's shape is
            taken as one record.
        start : int, optional
            Global index of the first record pushed (as ``Stream.start``).
        time : True or dtype, optional
            Push records with their times: ``send(values, time=times)``
            returns a :class:`~pystream.Batch` of outputs with theirs
            (:class:`~pystream.pipeline.timed_sink.TimedPushSink`); True (or
            a datetime64 dtype) for calendar times, a numeric dtype
            otherwise.  Needed by the stages that read the time column
            (duration windows, calendar resampling, sessions, EWM over times).
        allowed_lateness : duration, default 0
            With `time`: how far behind the newest time a record may arrive
            and still be placed in order; outputs wait until the watermark
            (newest time minus this) passes them, and then equal the pull
            run over the records sorted by time, bit for bit.
        late : callable, optional
            With `time`: ``late(values, times)`` gets the records that
            arrive behind the watermark; without it, ``send`` raises
            :class:`~pystream.LateRecords`.
        key : bool, default False
            Push records with their keys, for stages per key (:meth:`by`):
            ``send(values, key=keys)`` (with `time`, ``send(values,
            time=times, key=keys)``) returns a :class:`~pystream.Batch` of
            outputs with their key codes
            (:class:`~pystream.pipeline.timed_sink.TimedPushSink`); with a
            `target` (a reduction's name, ``"describe"``, or a branch
            without stages, ``ps.pipeline().quantile(0.5)``), the outputs
            are reduced per key instead and ``close()`` returns its
            :class:`~pystream.keyed.results.KeyedResult`.
        **branches
            Named targets: ``push(stats="describe", out=...)`` is
            ``push(ps.tee(stats="describe", out=...))``.

        Returns
        -------
        PushSink or TimedPushSink

        Raises
        ------
        TypeError, ValueError
            For invalid targets or arguments (at once, before any chunk).

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> sink = ps.pipeline().cumsum().push("max")
        >>> for chunk in ([1.0, 2.0], [3.0], [-10.0]):
        ...     sink.send(chunk)
        >>> float(sink.result()), float(sink.close())
        (6.0, 6.0)
        """
        if time is not None or key:
            if branches:
                raise TypeError("push(time=..., key=...): the outputs come back from send() with "
                                "their times and keys, or go to one target per key")
            return TimedPushSink(self, time, allowed_lateness, late, dtype, record_shape, start,
                                 key, target)
        if allowed_lateness != 0 or late is not None:
            raise TypeError("push: allowed_lateness and late need time=... (the records' times)")
        if branches:
            if target is not None:
                raise TypeError("push: give either one target or named branches, not both")
            target = Tee(**branches)
        return PushSink(self, target, dtype, record_shape, start)


def pipeline() -> Pipeline:
    """Start an unbound chain of stages.

    Returns
    -------
    Pipeline
        An empty pipeline; add stages with the :class:`~pystream.Stream`
        stage methods.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> p = ps.pipeline().map(np.abs).moving_mean(window=100)
    >>> p
    <Pipeline map(absolute) -> moving_mean>
    >>> p(ps.from_array(np.ones(1000))).to_array()[-1]
    np.float64(1.0)
    """
    return Pipeline()


for _name, _method in branch_methods().items():
    setattr(Pipeline, _name, _method)
del _name, _method

# Pipeline's own stage methods (astype, select, ...) suggest the keyword meant,
# as Stream's do (pystream._arguments).
_suggest_keywords_on_methods(Pipeline)
