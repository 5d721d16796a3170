"""Push sinks: a pipeline driven by chunks handed to it (:meth:`Pipeline.push`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .._checks import check_count, normalize_record_shape
from .._native import read_only
from ..chain import ChainConsumer, ChunkCollector, PushError, node_of, push_steps
from ..sources import as_ndarray
from ..stream import Stream
from ..terminals.fanout import check_branch
from ..terminals.protocol import Consumer

__all__ = ["PushSink", "as_chunk"]


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
    later calls raise :class:`~pystream.PushError`.
    """

    def __init__(self, pipeline: Any, target: Any, dtype: DTypeLike | None,
                 record_shape: tuple[int, ...] | None, start: int) -> None:
        if target is not None:
            check_branch(target, "target")
        self._pipeline = pipeline
        self._target = target
        self._dtype = None if dtype is None else np.dtype(dtype)
        if self._dtype is not None and self._dtype.hasobject:
            raise TypeError(f"push: object dtypes are not supported (got {self._dtype})")
        self._record_shape = (None if record_shape is None
                              else normalize_record_shape(record_shape, "push"))
        self._start = check_count(start, "start", "push")
        self._consumer: Consumer | None = None
        self._output: ChunkCollector | None = None
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
        root = Stream._pushed(lambda: iter(seen), dt, rs, self._start)
        self._dtype, self._record_shape = dt, rs
        if self._target is None:
            bound = self._pipeline(root)
            self._output = ChunkCollector((bound.dtype, bound.record_shape))
            self._consumer = ChainConsumer(push_steps(node_of(bound), node_of(root)), self._output,
                                           self._start)
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


