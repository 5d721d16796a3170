"""Stages that read the time column: the base class :class:`TimedStage`, its pull
run over ``(chunk, time, key)`` triples, and the order check every one of them
makes (see ``docs/time.rst`` and ``docs/design.md``, "Event time").

A timed stage is bound to the stream's :class:`~pystream.TimeColumn` when it
is added (:meth:`TimedStage.bind`), so a duration that does not suit the
time column (``"5min"`` over numeric times) fails where it is written.  Its
push form, ``push_timed(start)``, takes one chunk with its time and key at a
time and returns the output chunks with theirs; the pull form drives it.
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._checks import first_nan_record, nan_error
from .._columns import KeyColumn, TimeColumn
from .kernel import to_float64_rows

__all__ = ["Duration", "Triple", "duration", "TimeOrder", "TimedPusher", "TimedStage", "format_time",
           "is_duration", "time_values"]

#: A chunk with its time and key columns (None where the stream has none).
Triple = tuple[np.ndarray, "np.ndarray | None", "np.ndarray | None"]
_NS = np.dtype("datetime64[ns]")


class Duration:
    """A width or gap measured on the time column, not in records.

    ``"5min"``, a :class:`numpy.timedelta64` or a :class:`datetime.timedelta`
    already say so; a plain number (a width in the units of a numeric time
    column) says so when wrapped: ``moving_mean(ps.duration(2.5))``, while
    ``moving_mean(3)`` stays a window of 3 records.

    Examples
    --------
    >>> Duration(2.5)
    duration(2.5)
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        if isinstance(value, Duration):
            value = value.value
        if isinstance(value, bool) or value is None:
            raise TypeError(f"duration: expected a number, a string such as '5min' or a "
                            f"timedelta, got {value!r}")
        self.value = value

    def __repr__(self) -> str:
        return f"duration({self.value!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Duration) and bool(other.value == self.value)

    def __hash__(self) -> int:
        return hash(("duration", str(self.value)))


def duration(value: Any) -> Duration:
    """A width, gap or halflife measured on the time column: ``ps.duration(2.5)``.

    Strings (``"5min"``) and timedeltas are durations already; wrap a number
    to say it is one (in the units of a numeric time column), since a plain
    integer window counts records.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> s = ps.from_array(np.ones(4), time=np.array([0.0, 0.5, 2.0, 2.2]))
    >>> s.moving_sum(ps.duration(1.0)).to_array()
    array([1., 2., 1., 2.])
    """
    return Duration(value)


def is_duration(value: object) -> bool:
    """Whether `value` is a duration (measured on the time column) rather than a
    count of records: a string, a timedelta, or a :class:`Duration`.

    Examples
    --------
    >>> is_duration("5min"), is_duration(np.timedelta64(5, "s")), is_duration(5)
    (True, True, False)
    """
    import datetime

    return isinstance(value, (str, Duration, np.timedelta64, datetime.timedelta)) \
        or hasattr(value, "to_timedelta64")


def time_values(t: np.ndarray) -> np.ndarray:
    """Stored times as the kernels take them: int64 (calendar ns, integer times) or
    float64 (real times); a view when they already are one.

    Raises
    ------
    OverflowError
        For uint64 times beyond int64.
    """
    if t.dtype == np.int64 or t.dtype == np.float64:
        return t
    if t.dtype.kind == "u" and t.dtype.itemsize == 8 and len(t) and t.max() > 2**63 - 1:
        raise OverflowError("uint64 times above 2**63-1 do not fit the kernels' int64 times")
    return t.astype(np.int64 if t.dtype.kind in "iu" else np.float64)


def format_time(value: Any, column: TimeColumn | None) -> str:
    """One stored time as a user reads it: ISO 8601 for calendar times, the number otherwise."""
    if column is not None and column.is_datetime:
        return str(np.int64(value).view(_NS))
    return repr(value.item() if hasattr(value, "item") else value)


class TimeOrder:
    """The check that times never go backwards, across chunks; it names the first
    record that breaks it (its global index and both times)."""

    __slots__ = ("column", "last", "name")

    def __init__(self, name: str, column: TimeColumn | None) -> None:
        self.name = name
        self.column = column
        self.last: Any = None

    def check(self, t: np.ndarray, start: int) -> None:
        """Check the times of records ``start, start+1, ...`` (raise ValueError)."""
        if not len(t):
            return
        last = self.last
        if last is not None and t[0] < last:
            self.fail(start, last, t[0])
        if len(t) > 1:
            back = t[1:] < t[:-1]
            if back.any():
                i = int(np.argmax(back)) + 1
                self.fail(start + i, t[i - 1], t[i])
        self.last = t[-1]

    def fail(self, index: int, before: Any, now: Any) -> None:
        """Raise the error for record `index` at time `now` after one at `before`."""
        raise ValueError(
            f"{self.name}: time goes backwards at record {index} "
            f"({format_time(now, self.column)} after {format_time(before, self.column)}); "
            "a stage that reads the time column needs the records in time order: sort them "
            "by time, or push them with pipeline.push(time=..., allowed_lateness=...)")


class TimedPusher(abc.ABC):
    """The push form of a timed stage: :meth:`send` one chunk with its columns,
    get the output chunks with theirs; :meth:`close` at the end of the stream.

    Subclasses implement :meth:`_send` and :meth:`_close`; this class checks
    the time order and counts the records.
    """

    #: Whether :meth:`send` checks the time order; a subclass whose kernel
    #: checks it anyway (the duration windows') says so with ``self.order.fail``.
    checks_order = True

    def __init__(self, stage: TimedStage, start: int) -> None:
        self.stage = stage
        self.position = start
        self.order = TimeOrder(stage.name, stage.time)

    def send(self, values: np.ndarray, time: np.ndarray | None,
             key: np.ndarray | None) -> list[Triple]:
        """Feed one chunk (its time required) and return the outputs it completes."""
        if time is None:
            raise ValueError(f"{self.stage.name}: a chunk came without its time column")
        if len(time) != len(values):
            raise ValueError(f"{self.stage.name}: {len(values)} records but {len(time)} times")
        if self.checks_order:
            self.order.check(time, self.position)
        out = self._send(values, time, key)
        self.position += len(values)
        return out

    def close(self) -> list[Triple]:
        """The outputs still pending at the end of the stream."""
        return self._close()

    def rows(self, values: np.ndarray, nan_policy: str) -> np.ndarray:
        """`values` as float64 rows for a kernel; under ``nan_policy="raise"`` a
        NaN raises ValueError naming its global record."""
        rows = to_float64_rows(values, self.stage.name)
        if nan_policy == "raise":
            i = first_nan_record(rows)
            if i >= 0:
                raise nan_error(self.stage.name, self.position + i)
        return rows

    @abc.abstractmethod
    def _send(self, values: np.ndarray, time: np.ndarray,
              key: np.ndarray | None) -> list[Triple]:
        """The outputs that the chunk `values` (times checked) completes."""

    def _close(self) -> list[Triple]:
        """The outputs still pending at the end (none, unless a subclass keeps some)."""
        return []


class TimedStage(abc.ABC):
    """Base class of the stages that read the time column.

    Subclasses validate their parameters in ``__init__`` (those that need to
    know the time column's kind wait for :meth:`_bound`), and implement
    :meth:`push_timed` and :meth:`output_meta`.
    """

    name: str = "timed"
    #: The time column, once bound (:meth:`bind`).
    time: TimeColumn | None = None
    #: Whether outputs keep their input record's key (windows, EWM) or lose
    #: it (bins: records of several keys fall in one bin).
    keeps_key: bool = True

    #: Whether the stage needs the time column (a stage per key may read the key only).
    reads_time: bool = True

    def bind_columns(self, time: TimeColumn | None, key: KeyColumn | None) -> TimedStage:
        """A copy of this stage for a stream with these time and key columns
        (by default :meth:`bind` to the time column)."""
        assert time is not None
        return self.bind(time)

    def output_key(self, key: KeyColumn | None) -> KeyColumn | None:
        """The output's key column, given the input's (kept by windows and EWM)."""
        return key if self.keeps_key else None

    def bind(self, time: TimeColumn) -> TimedStage:
        """A copy of this stage for a stream whose time column is `time`
        (durations are resolved against it: ns for calendar times)."""
        bound = copy.copy(self)
        bound.time = time
        bound._bound()
        return bound

    def _bound(self) -> None:
        """Resolve what depends on the time column (called on the bound copy)."""

    @property
    def datetime_times(self) -> bool:
        """Whether the bound time column holds calendar times (int64 ns, UTC)."""
        return self.time is not None and self.time.is_datetime

    @abc.abstractmethod
    def output_meta(self, dtype: np.dtype, record_shape: tuple[int, ...]
                    ) -> tuple[np.dtype, tuple[int, ...]]:
        """The output's ``(dtype, record_shape)`` for input of this one."""

    def output_names(self, names: tuple[str, ...] | None) -> tuple[str, ...] | None:
        """The output's column names, given the input's (by default the same)."""
        return names

    def output_time(self) -> TimeColumn | None:
        """The output's time column (by default the input's)."""
        return self.time

    @abc.abstractmethod
    def push_timed(self, start: int = 0) -> TimedPusher:
        """A fresh push form for one pass (first record at global index `start`)."""

    def run_timed(self, triples: Iterator[Triple], start: int = 0) -> Iterator[Triple]:
        """The pull run: the output chunks, with their time and key, of `triples`
        (the first record has global index `start`)."""
        pusher = self.push_timed(start)
        try:
            for v, t, k in triples:
                if not len(v):
                    continue
                for out in pusher.send(v, t, k):
                    if len(out[0]):
                        yield out
            for out in pusher.close():
                if len(out[0]):
                    yield out
        finally:
            close = getattr(triples, "close", None)
            if close is not None:
                close()
