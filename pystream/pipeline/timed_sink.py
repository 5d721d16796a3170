"""Push sinks for records with times and keys: ``pipeline.push(time=...,
allowed_lateness=..., key=...)`` (:class:`TimedPushSink`).

Records may arrive out of time order, up to `allowed_lateness` behind the
newest time seen.  The sink holds them until the watermark (the newest time
minus the lateness) passes them, then hands them to the stages in time order
(ties in arrival order), so the outputs are those of the pull run over the
records sorted by time, bit for bit.  A record older than the watermark when
it arrives can no longer be placed: it goes to the ``late`` callback, or the
send raises -- it never vanishes silently.  With ``key=True`` each record comes
with its key (``send(values, time=..., key=...)``), for stages per key
(``pipeline.by()``); without times, records go to the stages as they arrive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .._checks import check_count, normalize_record_shape
from .._columns import Batch, Columns, KeyColumn, KeyDictionary, TimeColumn, as_time_values
from .._timeunits import parse_duration
from ..chain import CallableSource, GeneratorPusher, PushError, node_of, push_steps
from ..chain.steps import Triple, serial_triples
from ..keyed.terminals import KeySpec, keyed_reduction, keyed_target
from ..stages.timed import format_time
from ..stream import Stream
from .sink import as_chunk

__all__ = ["LateRecords", "TimedPushSink"]

_NS = np.dtype("datetime64[ns]")


class LateRecords(ValueError):
    """Records sent after the watermark had passed their time (and no ``late``
    callback was given).  ``values`` and ``time`` hold them; the sink is
    unchanged and still open."""

    def __init__(self, message: str, values: np.ndarray, time: np.ndarray) -> None:
        super().__init__(message)
        self.values = values
        self.time = time


def _push_time_dtype(time: Any) -> np.dtype:
    """The time column's shown dtype from ``push(time=...)``: True for calendar times."""
    if time is True:
        return _NS
    try:
        dt = np.dtype(time)
    except TypeError:
        raise TypeError(f"push: time must be True (calendar times) or a dtype "
                        f"('datetime64[ns]', 'float64', 'int64'), got {time!r}") from None
    if dt.kind == "M":
        return _NS
    if dt.kind in "iuf" and dt.itemsize <= 8:
        return dt
    raise TypeError(f"push: time must be a datetime64 or real dtype, got {dt}")


class TimedPushSink:
    """A pipeline driven by chunks with their times and/or keys (made by
    ``Pipeline.push(time=..., key=...)``).

    :meth:`send` ``(values, time=times, key=keys)`` any number of times, then
    :meth:`close`; each returns the output the records complete as a
    :class:`~pystream.Batch` (values with their times and key codes;
    :attr:`key_column` decodes string keys).

    Parameters
    ----------
    pipeline : Pipeline
    time : True, dtype or None
        The times' kind: True (or a datetime64 dtype) for calendar times,
        or a numeric dtype; None: records without times (then `key` is True).
    key : bool, default False
        Each record comes with a key: integers, or strings (encoded in the
        order they are first seen; :attr:`key_column` decodes them).
    allowed_lateness : duration, default 0
        How far behind the newest time a record may arrive and still be
        placed in order (``"30s"``, a timedelta; a number for numeric times).
    late : callable, optional
        ``late(values, times)`` receives the records that arrive later than
        that; without it, :meth:`send` raises :class:`LateRecords`.
    dtype, record_shape, start
        As for :meth:`Pipeline.push`.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> sink = ps.pipeline().cumsum().push(time=True, allowed_lateness="10s")
    >>> t = np.array([0, 20, 15, 40], dtype="datetime64[s]")
    >>> sink.send(np.array([1.0, 2.0, 3.0, 4.0]), time=t).values    # 20 s waits for 30 s
    array([1., 4., 6.])
    >>> sink.close().values
    array([10.])
    >>> keyed = ps.pipeline().by().cumsum().push(key=True)
    >>> b = keyed.send([1.0, 2.0, 3.0], key=["a", "b", "a"])
    >>> b.values, keyed.key_column.decode(b.key).tolist()
    (array([1., 2., 4.]), ['a', 'b', 'a'])
    """

    def __init__(self, pipeline: Any, time: Any = True, allowed_lateness: Any = 0,
                 late: Callable[[np.ndarray, np.ndarray], Any] | None = None,
                 dtype: DTypeLike | None = None, record_shape: tuple[int, ...] | None = None,
                 start: int = 0, key: bool = False, target: Any = None) -> None:
        self._pipeline = pipeline
        if not isinstance(key, (bool, np.bool_)):
            raise TypeError(f"push: key must be True or False, got {key!r}")
        if time is None and not key:
            raise TypeError("push: a sink of columns needs time=... or key=True")
        self._tdtype: np.dtype | None = None if time is None else _push_time_dtype(time)
        datetime = self._tdtype == _NS
        if allowed_lateness == 0 or allowed_lateness is None:
            self._lateness: int | float = 0
        elif self._tdtype is None:
            raise TypeError("push: allowed_lateness needs time=... (the records' times)")
        else:
            self._lateness = parse_duration(allowed_lateness, datetime, "push")
        if late is not None and not callable(late):
            raise TypeError(f"push: late must be a callable late(values, times), got {late!r}")
        self._late = late
        self._dtype = None if dtype is None else np.dtype(dtype)
        self._record_shape = (None if record_shape is None
                              else normalize_record_shape(record_shape, "push"))
        self._time_column = None if self._tdtype is None else TimeColumn("time", self._tdtype)
        self._keyed = bool(key)
        self._reduction: Any = None
        if target is not None:
            if not key:
                raise TypeError("push(time=...): the outputs come back from send() with their "
                                "times; a target takes values only (push with key=True to "
                                "reduce per key, or push without time)")
            self._reduction = keyed_reduction(keyed_target(target, "push"), KeySpec())
        #: The key column of the records pushed (None before the first keyed send, or
        #: without keys): ``key_column.decode(batch.key)`` gives string keys back.
        self.key_column: KeyColumn | None = None
        self._start = check_count(start, "start", "push")
        self._pusher: GeneratorPusher | None = None
        self._out_time: TimeColumn | None = None
        self._out_meta: tuple[np.dtype, tuple[int, ...]] = (np.dtype(np.float64), ())
        self._held: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
        self._newest: Any = None
        self._state = "open"
        self._emitted = self._start
        self.records = 0
        self.late_records = 0

    def __repr__(self) -> str:
        return (f"<TimedPushSink {self._pipeline!r} {self._state}, {self.records} records in, "
                f"{self.late_records} late>")

    @property
    def watermark(self) -> Any:
        """The newest time seen minus the allowed lateness (None before any record):
        records older than this are late; the held ones up to it have been released."""
        return None if self._newest is None else self._newest - self._lateness

    def _bind(self, first: np.ndarray) -> None:
        dt = self._dtype if self._dtype is not None else first.dtype
        rs = self._record_shape if self._record_shape is not None else tuple(first.shape[1:])
        self._dtype, self._record_shape = dt, rs
        seen = (first,)
        table = Columns(None, self._time_column, self.key_column)
        root = Stream._from_source(CallableSource(lambda: iter(seen)), dt, rs,
                                   start=self._start, table=table)
        bound = self._pipeline(root)
        self._out_time = bound.time_column
        self._out_meta = (bound.dtype, bound.record_shape)
        if self._out_time is None and self._tdtype is not None:
            raise TypeError("push(time=...): the pipeline drops the time column (a pipe or a "
                            "plugin stage without rows()), so its outputs would have no times")
        steps = push_steps(node_of(bound), node_of(root))
        start = self._start

        def make(feed: Iterator[Triple]) -> Iterator[Triple]:
            return serial_triples(steps, feed, start)

        if self._keyed and bound.key_column is None:
            raise TypeError("push(key=True): the pipeline drops the key column (a bin of "
                            "several keys, a pipe or a plugin stage without rows()); run the "
                            "stages per key with pipeline.by()")
        self._pusher = GeneratorPusher(make, "push(time=...)")  # type: ignore[arg-type]

    def _check_open(self, what: str) -> None:
        if self._state != "open":
            raise PushError(f"{what}: this push sink is {self._state}")

    def send(self, values: Any, time: Any = None, key: Any = None) -> Batch | None:
        """Push records with their times and/or keys; return the outputs they complete
        (None when a target reduces them per key: :meth:`result`).

        Raises
        ------
        LateRecords
            Some records are older than the watermark and no ``late``
            callback was given (nothing of this send was taken).
        TypeError, ValueError
            For values, times or keys of the wrong type or shape (nothing taken).
        """
        batch = self._send(values, time, key)
        if self._reduction is None:
            return batch
        self._reduce(batch)
        return None

    def _reduce(self, batch: Batch) -> None:
        """Feed the outputs to the target per key."""
        reduction = self._reduction
        assert reduction is not None
        reduction.column = self.key_column
        if len(batch.values):
            reduction.update(batch.values, batch.key)

    def result(self) -> Any:
        """With a target: its :class:`~pystream.keyed.results.KeyedResult` so far."""
        if self._reduction is None:
            raise TypeError("push: result() is the target's result; this sink returns its "
                            "outputs from send()")
        self._reduction.column = self.key_column
        return self._reduction.result(lambda: self._out_meta, None)

    def _send(self, values: Any, time: Any, key: Any) -> Batch:
        self._check_open("send")
        chunk = as_chunk(values, self._dtype, self._record_shape,
                         f"push: the data sent at record {self._start + self.records}")
        codes = self._codes(key, len(chunk))
        if self._tdtype is None:
            if time is not None:
                raise TypeError("push: this sink was made without time=...; its records have "
                                "no times")
            if self._pusher is None and len(chunk):
                self._bind(chunk)
            if not len(chunk):
                return self._batch([])
            self.records += len(chunk)
            return self._batch(self._call("send", (chunk, None, codes)))
        if time is None:
            raise TypeError("push: send(values, time=times): this sink's records come with "
                            "their times")
        stored, shown = as_time_values(time, len(chunk), "push")
        if (shown == _NS) != (self._tdtype == _NS):
            raise TypeError(f"push: the times sent are {shown}, the sink's are {self._tdtype}")
        if self._pusher is None and len(chunk):
            self._bind(chunk)
        stored = stored.astype(np.int64 if self._tdtype == _NS else self._tdtype, copy=False)
        if len(stored):
            # Each record is measured against the newest time that arrived before
            # it (earlier sends and earlier records of this one): which records are
            # late does not depend on how the records were batched into sends.
            seed = stored[:1] if self._newest is None else np.array([self._newest], stored.dtype)
            before = np.maximum.accumulate(np.concatenate([seed, stored]))[:-1]
            late = stored < before - self._lateness
            if late.any():
                i = int(np.argmax(late))
                mark = before[i] - self._lateness
                lv, lt = chunk[late], self._shown(stored[late])
                if self._late is None:
                    raise LateRecords(
                        f"push: {int(late.sum())} record(s) arrived later than allowed_lateness "
                        f"(the first, record {i} of this send, at "
                        f"{format_time(stored[i], self._time_column)}, behind the watermark "
                        f"{format_time(mark, self._time_column)}); nothing of this send was taken. "
                        "Pass late=callback to collect them, or a larger allowed_lateness",
                        lv, lt)
                self.late_records += int(late.sum())
                self._late(lv, lt)
                chunk, stored = chunk[~late], stored[~late]
                codes = None if codes is None else codes[~late]
        if not len(chunk):
            return self._batch([])
        self.records += len(chunk)
        self._held.append((chunk, stored, codes))
        newest = stored.max()
        self._newest = newest if self._newest is None else max(self._newest, newest)
        return self._release(self.watermark)

    def _codes(self, key: Any, n: int) -> np.ndarray | None:
        """The int64 codes of the keys sent (strings encoded by the sink's dictionary)."""
        if not self._keyed:
            if key is not None:
                raise TypeError("push: this sink was made without key=True; its records have "
                                "no keys")
            return None
        if key is None:
            raise TypeError("push: send(values, key=keys): this sink's records come with keys")
        arr = np.asarray(key)
        if arr.ndim != 1 or len(arr) != n:
            raise ValueError(f"push: key must be 1-d with one key per record ({n}), "
                             f"got shape {arr.shape}")
        strings = arr.dtype.kind in "USO"
        if not strings and arr.dtype.kind not in "iub":
            raise TypeError(f"push: keys must be integers or strings, got dtype {arr.dtype}")
        if self.key_column is None:
            self.key_column = KeyColumn("key", KeyDictionary() if strings else None)
        dictionary = self.key_column.dictionary
        if (dictionary is not None) != strings:
            raise TypeError(f"push: this sink's keys are {'strings' if dictionary else 'integers'}"
                            f", and these are {'strings' if strings else 'integers'}")
        if dictionary is not None:
            return dictionary.encode(arr)
        if arr.dtype.kind == "u" and arr.dtype.itemsize == 8 and n and arr.max() > 2**63 - 1:
            raise OverflowError("push: uint64 keys above 2**63-1 do not fit int64 codes")
        return arr.astype(np.int64)

    def _release(self, mark: Any) -> Batch:
        """Hand the held records up to `mark` (all: None) to the stages, in time order."""
        if not self._held:
            return self._batch([])
        held = self._held
        v = np.concatenate([h[0] for h in held]) if len(held) > 1 else held[0][0]
        t = np.concatenate([h[1] for h in held]) if len(held) > 1 else held[0][1]
        k = None if held[0][2] is None else (
            np.concatenate([h[2] for h in held]) if len(held) > 1 else held[0][2])  # type: ignore[misc]
        order = np.argsort(t, kind="stable")
        v, t = v[order], t[order]
        k = None if k is None else k[order]
        n = len(t) if mark is None else int(np.searchsorted(t, mark, side="right"))
        self._held = [(v[n:], t[n:], None if k is None else k[n:])] if n < len(t) else []
        if not n:
            return self._batch([])
        return self._batch(self._call("send", (v[:n], t[:n], None if k is None else k[:n])))

    def _call(self, method: str, *args: Any) -> list[Triple]:
        """The chain's ``send`` or ``close``; a failure aborts the sink and is raised
        (after the outputs before it, which the chain hands on first)."""
        pusher = self._pusher
        assert pusher is not None
        try:
            out = getattr(pusher, method)(*args)
            error = pusher.error
        except BaseException:
            self._fail()
            raise
        if error is not None:
            self._fail()
            raise error
        return out

    def _shown(self, t: np.ndarray) -> np.ndarray:
        return t.view(_NS) if self._tdtype == _NS else t

    def _batch(self, out: list[Triple]) -> Batch:
        outs = [o for o in out if len(o[0])]
        timed = self._out_time is not None
        keyed = self._keyed
        if outs:
            v = np.concatenate([o[0] for o in outs])
            t = np.concatenate([o[1] for o in outs]) if timed else None  # type: ignore[misc]
            k = np.concatenate([o[2] for o in outs]) if keyed else None  # type: ignore[misc]
        else:
            dt, rs = self._out_meta
            v = np.empty((0,) + rs, dt)
            t = np.empty(0, np.int64 if self._out_time is None or self._out_time.is_datetime
                         else self._out_time.dtype) if timed else None
            k = np.empty(0, np.int64) if keyed else None
        if t is not None and self._out_time is not None and self._out_time.is_datetime \
                and t.dtype == np.int64:
            t = t.view(_NS)
        batch = Batch(v, t, k, self._emitted)
        self._emitted += len(v)
        return batch

    def _fail(self) -> None:
        self._state = "failed"
        if self._pusher is not None:
            self._pusher.abort()

    def close(self) -> Any:
        """End of input: release every held record, flush the stages, return the rest
        (with a target: its final result)."""
        batch = self._close()
        if self._reduction is None:
            return batch
        self._reduce(batch)
        return self.result()

    def _close(self) -> Batch:
        self._check_open("close")
        if self._pusher is None:
            self._state = "closed"
            return self._batch([])
        first = self._release(None) if self._tdtype is not None else self._batch([])
        tail = self._batch(self._call("close"))
        self._state = "closed"
        if not len(first.values):
            return Batch(tail.values, tail.time, tail.key, first.start)
        return Batch(np.concatenate([first.values, tail.values]),
                     None if first.time is None else np.concatenate([first.time, tail.time]),
                     None if first.key is None else np.concatenate([first.key, tail.key]),
                     first.start)

    def abort(self) -> None:
        """Give up: stop the stages (their cleanup runs)."""
        if self._state == "open":
            self._state = "aborted"
            if self._pusher is not None:
                self._pusher.abort()

    def __enter__(self) -> TimedPushSink:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._state == "open":
            self.close() if exc_type is None else self.abort()
