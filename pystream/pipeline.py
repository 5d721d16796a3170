"""Unbound pipelines, push sinks and one-pass fan-out.

``ps.pipeline()`` starts a chain of stages that is not attached to a source.
The chain can be

* bound to a stream: ``p(stream)`` is a lazy :class:`~pystream.Stream`;
* driven by pushing chunks: ``sink = p.push()``, then ``sink.send(chunk)``;
* ended by a terminal operation (``p.describe()``, ``p.to_npy(path)``...),
  which makes a :class:`Branch`: a deferred consumer for ``push``,
  :meth:`Stream.fork <pystream.Stream.fork>` and :func:`tee`.

Branches of a fan-out (``stream.fork(stats="describe",
out=ps.pipeline().moving_mean(100).to_npy(path))``) all get each chunk as it
is read, so the stream is read once and never buffered (unlike
``itertools.tee``, which keeps what one consumer has read and another not
yet).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from ._extensions import find as find_entry, names as entry_names
from ._arguments import call_checked
from ._native import read_only
from .consumers import TERMINALS, Consumer, Maker, terminal_maker
from .push import ChainConsumer, PushError, TeeConsumer, compile_steps
from .stages.methods import StageMethods, _suggest_keywords_on_methods
from ._checks import check_count, normalize_record_shape

__all__ = ["Branch", "Pipeline", "PushError", "PushSink", "Tee", "as_chunk", "fork", "make_consumer", "pipeline", "root_of", "tee"]

Op = Callable[[Any], Any]


def _label(func: Any) -> str:
    return getattr(func, "__name__", None) or type(func).__name__


class Pipeline(StageMethods):
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

    __slots__ = ("_labels", "_ops")

    def __init__(self) -> None:
        self._ops: tuple[Op, ...] = ()
        self._labels: tuple[str, ...] = ()

    def _then(self, op: Op, label: str) -> Pipeline:
        p = Pipeline.__new__(Pipeline)
        p._ops = self._ops + (op,)
        p._labels = self._labels + (label,)
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
        from .stream import Stream

        if not isinstance(stream, Stream):
            raise TypeError(f"a pipeline is applied to a pystream Stream, not {type(stream).__name__}"
                            " (use ps.from_array, ps.from_iterable... or push())")
        for op in self._ops:
            stream = op(stream)
        return stream

    # ------------------------------------------------------------- stages

    def _add_stage(self, stage: Any) -> Pipeline:  # type: ignore[override]
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
        chunk per send (see :mod:`pystream.push`).
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
        entry = find_entry("stages", name)
        if entry is not None:
            factory = entry.factory

            def stage_method(*args: Any, **kwargs: Any) -> Pipeline:
                return self._add_stage(call_checked(name, factory, args, kwargs))

            stage_method.__name__ = name
            stage_method.__doc__ = entry.summary
            return stage_method
        if find_entry("reducers", name) is not None or (
                name.startswith("to_") and find_entry("sinks", name[3:]) is not None):
            return lambda *args, **kwargs: Branch(self, name, args, kwargs)
        raise AttributeError(
            f"'Pipeline' object has no attribute {name!r}; no plugin registers a stage or "
            "reducer of that name (`pystream plugins` lists them)")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(entry_names("stages"))
                      | set(entry_names("reducers"))
                      | {"to_" + n for n in entry_names("sinks")})

    # ------------------------------------------------------------- push

    def push(self, target: Any = None, /, *, dtype: DTypeLike | None = None,
             record_shape: tuple[int, ...] | None = None, start: int = 0,
             **branches: Any) -> PushSink:
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
        **branches
            Named targets: ``push(stats="describe", out=...)`` is
            ``push(ps.tee(stats="describe", out=...))``.

        Returns
        -------
        PushSink

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


def _terminal_method(name: str) -> Callable[..., Branch]:
    from .stream import Stream

    def method(self: Pipeline, *args: Any, **kwargs: Any) -> Branch:
        return Branch(self, name, args, kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = (f"A :class:`Branch` computing :meth:`Stream.{name} "
                      f"<pystream.Stream.{name}>` on this pipeline's output (same arguments; "
                      "the engine arguments do not apply).")
    try:
        sig = inspect.signature(getattr(Stream, name))
        params = [p for p in sig.parameters.values()
                  if p.name not in ("engine", "workers", "partition_size")]
        method.__signature__ = sig.replace(parameters=params,  # type: ignore[attr-defined]
                                           return_annotation="Branch")
    except (TypeError, ValueError):  # pragma: no cover - every terminal has a signature
        pass
    return method


for _name in TERMINALS:
    setattr(Pipeline, _name, _terminal_method(_name))
del _name

# Pipeline's own stage methods (astype, select, ...) suggest the keyword meant,
# as Stream's do (pystream._arguments).
_suggest_keywords_on_methods(Pipeline)


# --------------------------------------------------------------------------- branches


class Branch:
    """A terminal operation on a pipeline's output, deferred until chunks come.

    Made by a :class:`Pipeline`'s terminal methods
    (``ps.pipeline().moving_mean(10).to_npy(path)``) or by
    :meth:`Pipeline.into`; used as a target of :meth:`Pipeline.push`, a
    branch of :meth:`Stream.fork <pystream.Stream.fork>` or of :func:`tee`.
    The arguments are checked when it is made.
    """

    __slots__ = ("args", "kwargs", "make", "name", "pipeline", "target")

    def __init__(self, pipeline: Pipeline, name: str, args: tuple[Any, ...],
                 kwargs: dict[str, Any], target: Any = None) -> None:
        self.pipeline = pipeline
        self.name = name
        self.args = args
        self.kwargs = kwargs
        self.target = target
        if target is not None:
            _check_spec(target, "target")
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
            return self.make(r._meta(), r.start)

        if not self.pipeline._ops:
            return inner(root)
        bound = self.pipeline(root)
        steps = compile_steps(bound, root)
        return ChainConsumer(steps, inner(root_of(bound)), root.start)


class Tee:
    """Named branches fed from one pass (see :func:`tee`)."""

    __slots__ = ("branches",)

    def __init__(self, where: str = "tee", /, **branches: Any) -> None:
        if not branches:
            raise TypeError(f"{where}: give at least one branch, e.g. {where}(stats='describe')")
        for name, spec in branches.items():
            _check_spec(spec, name)
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


def _check_spec(spec: Any, name: str) -> None:
    if isinstance(spec, (Branch, Tee, Pipeline)):
        return
    if isinstance(spec, str):
        Branch(Pipeline(), spec, (), {})
        return
    if callable(getattr(spec, "update", None)) and callable(getattr(spec, "result", None)):
        return
    raise TypeError(
        f"branch {name!r}: expected a terminal name ('describe', 'mean'...), a reducer state "
        f"(update and result), a Branch, a Pipeline or a tee(), got {spec!r}")


def _root(peek: Callable[[], Iterator[np.ndarray]], dtype: np.dtype,
          record_shape: tuple[int, ...], start: int) -> Any:
    """A stream that is never read: it carries the dtype, record shape and start
    of what is pushed into a chain; ``peek()`` gives the data a ``map`` whose
    output type cannot be inferred looks at, as a pulled stream would."""
    from .stream import Stream, _CallableSource

    return Stream._from_source(_CallableSource(peek), dtype, record_shape, start=start)


def root_of(stream: Any) -> Any:
    """The root for branches fed `stream`'s output (peeking at `stream`)."""
    return _root(lambda: stream._iter(True), *stream._meta(), stream.start)


def make_consumer(spec: Any, root: Any) -> Consumer:
    """The consumer of `spec` (see :func:`tee`) fed the chunks of `root`."""
    from .consumers import StateConsumer

    if isinstance(spec, str):
        spec = Branch(Pipeline(), spec, (), {})
    elif isinstance(spec, Pipeline):
        spec = Branch(spec, "to_array", (), {})
    if isinstance(spec, Tee):
        return TeeConsumer({name: make_consumer(s, root) for name, s in spec.branches.items()})
    if isinstance(spec, Branch):
        return spec.consumer(root)
    return StateConsumer(spec)


# --------------------------------------------------------------------------- push sink


class _Output(Consumer):
    """Collects a plain push sink's output for :meth:`PushSink.send` to return."""

    def __init__(self, meta: tuple[np.dtype, tuple[int, ...]]) -> None:
        super().__init__()
        self.meta = meta
        self.chunks: list[np.ndarray] = []

    def _update(self, chunk: np.ndarray) -> None:
        self.chunks.append(chunk)

    def take(self) -> np.ndarray:
        chunks, self.chunks = self.chunks, []
        if len(chunks) == 1:
            return chunks[0]
        if chunks:
            return np.concatenate(chunks)
        dt, rs = self.meta
        return np.empty((0, *rs), dt)

    def _result(self) -> Any:
        raise TypeError("result(): this push sink has no target; its output is returned by "
                        "send() and close() (push a reducer, e.g. push('describe'), for a result)")


def as_chunk(data: Any, dtype: np.dtype | None, record_shape: tuple[int, ...] | None,
             where: str) -> np.ndarray:
    """`data` pushed into a stream of `dtype` and `record_shape` (None: not known
    yet), as a chunk ``(k, *record_shape)``.

    An array of exactly one record's shape (a scalar for scalar records) is
    one record; lists and scalars are converted to `dtype`; arrays of another
    dtype are refused (no silent casts).

    Raises
    ------
    TypeError
        For masked arrays, non-numeric data or arrays of another dtype.
    ValueError
        For data of another record shape.
    """
    if type(data) is not np.ndarray:
        from .sources import as_ndarray

        data = as_ndarray(data, dtype, where)
    if dtype is None:
        if data.dtype.kind not in "biufc":
            raise TypeError(f"{where} has dtype {data.dtype}; streams hold numbers")
    elif data.dtype != dtype:
        raise TypeError(f"{where} has dtype {data.dtype}, the stream's is {dtype}; "
                        "cast it (.astype) or push lists, which are converted")
    rs = record_shape
    if rs is None:
        return data.reshape(1) if data.ndim == 0 else data
    if data.shape == rs:
        return data.reshape(1, *rs)
    if data.ndim != len(rs) + 1 or data.shape[1:] != rs:
        expected = (f"one record of shape {rs} or a chunk of shape (k, *{rs})" if rs
                    else "a scalar or a 1-d chunk")
        raise ValueError(f"{where} has shape {data.shape}; expected {expected}")
    return data


class PushSink:
    """A pipeline driven by pushed chunks (made by :meth:`Pipeline.push`).

    :meth:`send` any number of chunks of any size, then :meth:`close`.  The
    stages keep their state between sends, so the outputs are those of the
    pull run over the same records, bit for bit, however they are cut.  With
    a target, :meth:`result` reads its result at any time.  As a context
    manager, the sink is closed at the end of the block, or aborted if the
    block raises (a file sink then leaves no file behind).

    After an error in a stage or target, the sink is aborted (every stage's
    cleanup runs, temporary files are deleted, helper threads end) and
    later calls raise :class:`~pystream.push.PushError`.
    """

    def __init__(self, pipeline: Pipeline, target: Any, dtype: DTypeLike | None,
                 record_shape: tuple[int, ...] | None, start: int) -> None:
        if target is not None:
            _check_spec(target, "target")
        self._pipeline = pipeline
        self._target = target
        self._dtype = None if dtype is None else np.dtype(dtype)
        if self._dtype is not None and self._dtype.hasobject:
            raise TypeError(f"push: object dtypes are not supported (got {self._dtype})")
        self._record_shape = (None if record_shape is None
                              else normalize_record_shape(record_shape, "push"))
        self._start = check_count(start, "start", "push")
        self._consumer: Consumer | None = None
        self._output: _Output | None = None
        self._state = "open"
        self._failure: BaseException | None = None
        self.records = 0
        if self._dtype is not None and self._record_shape is not None:
            self._bind(None)

    def __repr__(self) -> str:
        return f"<PushSink {self._pipeline!r} {self._state}, {self.records} records in>"

    # ------------------------------------------------------------- binding

    def _bind(self, first: np.ndarray | None) -> None:
        dt = self._dtype if self._dtype is not None else np.dtype(np.float64)
        rs = self._record_shape if self._record_shape is not None else ()
        seen = () if first is None else (first,)
        root = _root(lambda: iter(seen), dt, rs, self._start)
        self._dtype, self._record_shape = dt, rs
        if self._target is None:
            bound = self._pipeline(root)
            self._output = _Output(bound._meta())
            self._consumer = ChainConsumer(compile_steps(bound, root), self._output, self._start)
        else:
            self._consumer = self._pipeline.into(self._target).consumer(root)

    def _as_chunk(self, data: Any) -> np.ndarray:
        return as_chunk(data, self._dtype, self._record_shape,
                        f"push: the data sent at record {self._start + self.records}")

    # ------------------------------------------------------------- use

    def _check_open(self, what: str) -> None:
        if self._state != "open":
            raise PushError(f"{what}: this push sink is {self._state}"
                            + (f" (after {type(self._failure).__name__}: {self._failure})"
                               if self._failure is not None else ""))

    def _fail(self, error: BaseException) -> None:
        self._state = "failed"
        self._failure = error
        if self._consumer is not None:
            self._consumer.abort()

    def send(self, data: Any) -> np.ndarray | None:
        """Push records: a chunk ``(k, *record_shape)``, one record, a list or a scalar.

        Returns
        -------
        ndarray or None
            Without a target, the output the records complete (possibly
            empty; may be a view of memory a later send reuses -- copy it to
            keep it).  With a target, None.

        Raises
        ------
        TypeError, ValueError
            For data of the wrong type or shape (the sink stays usable).
        Exception
            What a stage or the target raised, with a note naming the stage
            and the chunk's global records; the sink is then aborted.
        """
        if self._state != "open":
            self._check_open("send")
        rs = self._record_shape
        if (type(data) is np.ndarray and data.dtype == self._dtype and rs is not None
                and data.ndim == len(rs) + 1 and data.shape[1:] == rs):
            chunk = data                     # a chunk as it should be: no conversion
        else:
            chunk = self._as_chunk(data)
        if chunk.flags.writeable:            # the caller's array: stages must not write to it
            chunk = read_only(chunk)
        if self._consumer is None:
            self._dtype = chunk.dtype
            self._record_shape = tuple(chunk.shape[1:])
            self._bind(chunk)
        consumer = self._consumer
        assert consumer is not None
        if len(chunk):
            try:
                consumer.send(chunk)
            except BaseException as e:
                self._fail(e)
                raise
            self.records += len(chunk)
        return None if self._output is None else self._output.take()

    @property
    def done(self) -> bool:
        """True once the pipeline can use no more input (e.g. after ``take(n)``)."""
        return self._consumer is not None and self._consumer.done

    @property
    def closed(self) -> bool:
        """True after :meth:`close` or a failure."""
        return self._state != "open"

    def result(self) -> Any:
        """The target's result over the records pushed so far (the sink stays open).

        Only the branches that received new records since the last call
        compute their result again; the others answer from a cache.

        Raises
        ------
        TypeError
            If the sink has no target.
        """
        self._check_open("result")
        if self._consumer is not None:
            return self._consumer.result()
        # Nothing sent yet: the result of no records, from a consumer made for
        # the occasion (the first send still decides the dtype).
        dtype, record_shape = self._dtype, self._record_shape
        self._bind(None)
        consumer = self._consumer
        self._consumer, self._output = None, None
        self._dtype, self._record_shape = dtype, record_shape
        assert consumer is not None
        try:
            return consumer.result()
        finally:
            consumer.abort()

    def close(self) -> Any:
        """End of input: flush the stages and return the rest.

        Returns
        -------
        ndarray or result
            Without a target, the remaining output (possibly empty); with a
            target, its final result (for a :func:`tee`, a dict).
        """
        self._check_open("close")
        if self._consumer is None:
            self._bind(None)
        consumer = self._consumer
        assert consumer is not None
        try:
            if self._output is not None:
                assert isinstance(consumer, ChainConsumer)
                consumer.flush()
                out: Any = self._output.take()
            else:
                out = consumer.close()
        except BaseException as e:
            self._fail(e)
            raise
        self._state = "closed"
        return out

    def abort(self) -> None:
        """Give up: stop the stages (their cleanup runs) and delete temporary files."""
        if self._state == "open":
            self._state = "aborted"
            if self._consumer is not None:
                self._consumer.abort()

    def __enter__(self) -> PushSink:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._state != "open":
            return
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        # An abandoned sink deletes its temporary files and stops its threads.
        try:
            self.abort()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


def fork(stream: Any, branches: dict[str, Any], workers: int | None = None) -> dict[str, Any]:
    """``stream.fork(**branches)``: one pass over `stream` feeding every branch
    (on `workers` threads when more than one)."""
    from .push import ParallelTee
    from .stream import _close

    spec = Tee("fork", **branches)
    if workers is not None:
        workers = check_count(workers, "workers", "fork", minimum=1)
    root = root_of(stream)
    if workers is not None and workers > 1:
        consumer: Consumer = ParallelTee({name: make_consumer(s, root)
                                          for name, s in spec.branches.items()}, workers)
    else:
        consumer = make_consumer(spec, root)
    it = None
    try:
        if not consumer.done:
            it = stream._iter()
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
            _close(it)
