"""Duration windows: ``moving_<stat>(window="5min")`` (:class:`TimeMoving`) and the
dispatch of the moving-window methods between record counts and durations
(:func:`moving_stage`).

The window of a record at time t holds the records up to it (up to the one
before it when the right end is open) whose times are in ``(t - w, t]``
(``closed="right"``, pandas' default for offset windows), ``[t - w, t]``
(``"both"``), ``[t - w, t)`` (``"left"``) or ``(t - w, t)`` (``"neither"``).
The kernels (:mod:`pystream.stages.time_kernels`) compute each output from
its window's values and their global record indices only, so any chunking and
any partition give the same bytes, and nothing drifts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import DEFAULT_DDOF, as_int, check_ddof, check_nan_policy, check_quantile
from .._native import check_record_values, kernel_dtype
from .._timeunits import parse_duration
from .partitioning import TimeWindow
from .time_kernels import TIME_STATS, TimesOutOfOrder, time_window, window_ends, window_starts
from .timed import Duration, TimedPusher, TimedStage, Triple, time_values

__all__ = ["CLOSED", "TimeMoving"]

#: Most records given to one kernel call (a larger chunk is cut into blocks).
_BLOCK = 1 << 16
#: The ``closed`` values of duration windows (pandas' names).
CLOSED: tuple[str, ...] = ("right", "both", "left", "neither")


def _stat_of(name: str) -> str:
    return name.removeprefix("moving_")


class TimeMoving(TimedStage):
    """A moving-window stage whose window is a duration on the time column.

    Parameters
    ----------
    name : str
        One of the moving stages, e.g. ``"moving_mean"``.
    window : str, timedelta or Duration
        The window's length: ``"5min"``, ``np.timedelta64(5, "m")``,
        ``datetime.timedelta(minutes=5)`` for calendar times; a number
        wrapped in :class:`~pystream.stages.timed.Duration`
        (``ps.duration(2.5)``) for numeric times, in their units.
    min_count : int, default 1
        Least number of non-NaN values in the window for a non-NaN output
        (pandas' ``min_periods``, whose default is 1 for offset windows).
    nan_policy : {"omit", "propagate", "raise"}, default "omit"
    closed : {"right", "both", "left", "neither"}, default "right"
        Which ends of ``(t - w, t]`` the window includes.
    ddof : float, optional
        ``moving_var`` / ``moving_std``: divisor ``count - ddof``, default 1.
    q : float, optional
        ``moving_quantile``: the quantile in [0, 1].

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> t = np.array([0, 1, 2, 10], dtype="datetime64[s]")
    >>> s = ps.from_array(np.array([1.0, 2.0, 3.0, 4.0]), time=t)
    >>> s.moving_sum("3s").to_array()
    array([1., 3., 6., 4.])
    """

    def __init__(self, name: str, window: Any, min_count: int | None = None,
                 nan_policy: str = "omit", closed: str | None = None,
                 ddof: float | None = None, q: float | None = None) -> None:
        if _stat_of(name) not in TIME_STATS or not name.startswith("moving_"):
            raise ValueError(f"TimeMoving: unknown stage {name!r}; expected moving_<stat> with "
                             f"<stat> one of {TIME_STATS}")
        self.name = name
        self.window = window
        self.stat = _stat_of(name)
        self.min_count = 1 if min_count is None else as_int(
            min_count, "min_count must be an integer", name)
        if self.min_count < 1:
            raise ValueError(f"{name}: min_count must be >= 1, got {min_count}")
        self.nan_policy = check_nan_policy(nan_policy, name)
        closed = "right" if closed is None else closed
        if closed not in CLOSED:
            raise ValueError(f"{name}: closed must be one of {', '.join(map(repr, CLOSED))}, "
                             f"got {closed!r}")
        self.closed = closed
        self.ddof = 0.0
        if self.stat in ("var", "std"):
            self.ddof = float(check_ddof(DEFAULT_DDOF if ddof is None else ddof, name))
        elif ddof is not None and ddof != 0:
            raise TypeError(f"{name}: ddof applies to moving_var and moving_std only")
        self.q: float | None = None
        if self.stat == "quantile":
            if q is None:
                raise TypeError("moving_quantile: q (the quantile, in [0, 1]) is required")
            self.q = check_quantile(q, name)
        elif q is not None:
            raise TypeError(f"{name}: q applies to moving_quantile only")
        self.width: int | float | None = None
        if isinstance(window, Duration):
            window = window.value
        if isinstance(window, str) or not isinstance(window, (int, float, np.number)):
            # Checked now when it can only be a calendar duration (a string,
            # a timedelta); numbers wait for the time column.
            parse_duration(window, True, name)

    def __repr__(self) -> str:
        return (f"TimeMoving({self.name}: window={self.window!r}, min_count={self.min_count}, "
                f"closed={self.closed!r})")

    def _bound(self) -> None:
        value = self.window.value if isinstance(self.window, Duration) else self.window
        self.width = parse_duration(value, self.datetime_times, self.name)

    def output_meta(self, dtype: np.dtype, record_shape: tuple[int, ...]
                    ) -> tuple[np.dtype, tuple[int, ...]]:
        """float64 records of the input's shape."""
        kernel_dtype(dtype, self.name)
        check_record_values(record_shape, self.name)
        return np.dtype(np.float64), tuple(record_shape)

    def time_mapping(self, read_times: Any) -> TimeWindow:
        """The engines' mapping: one output per input, the warm-up of a partition
        being the window of its first record, found by reading `read_times`."""
        assert self.width is not None
        return TimeWindow(self.width, self.closed in ("both", "left"), read_times)

    def push_timed(self, start: int = 0) -> _TimeWindowPusher:
        """A fresh push form (send a chunk with its times, get the outputs)."""
        if self.width is None:
            raise TypeError(f"{self.name}: the stage is not bound to a time column (bind())")
        return _TimeWindowPusher(self, start)


class _TimeWindowPusher(TimedPusher):
    """Keeps the records that may still be in a later window (those within the
    window of the newest time) and runs the kernel on them plus each new chunk."""

    checks_order = False            # window_starts checks it (TimesOutOfOrder)

    def __init__(self, stage: TimeMoving, start: int) -> None:
        super().__init__(stage, start)
        self.tail_values: np.ndarray | None = None
        self.tail_times: np.ndarray | None = None
        self.tail_base = start            # global index of the tail's first record
        self.times_dtype: np.dtype | None = None

    def _times(self, t: np.ndarray) -> np.ndarray:
        stage = self.stage
        assert isinstance(stage, TimeMoving)
        t = time_values(t)
        if t.dtype == np.int64 and not float(stage.width).is_integer():  # type: ignore[arg-type]
            t = t.astype(np.float64)  # a fractional width over integer times
        if self.times_dtype is None:
            self.times_dtype = t.dtype
        elif t.dtype != self.times_dtype:
            t = t.astype(self.times_dtype)
        return t

    def _send(self, values: np.ndarray, time: np.ndarray, key: np.ndarray | None) -> list[Triple]:
        stage = self.stage
        assert isinstance(stage, TimeMoving)
        rows = self.rows(values, stage.nan_policy)
        t = self._times(time)
        if len(rows) <= _BLOCK:
            out = self._block(rows, t)
        else:
            # Bounded calls: the order structures of median / quantile / rank are
            # sized by the call, and stay in cache for a block.
            out = np.concatenate([self._block(rows[i:i + _BLOCK], t[i:i + _BLOCK])
                                  for i in range(0, len(rows), _BLOCK)])
        return [(out.reshape(values.shape), time, key)]

    def _block(self, rows: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The outputs of `rows` at times `t`, with the records kept from before."""
        stage = self.stage
        assert isinstance(stage, TimeMoving)
        if self.tail_values is None or not len(self.tail_values):
            buf_v, buf_t, first = rows, t, 0
        else:
            assert self.tail_times is not None
            buf_v = np.concatenate([self.tail_values, rows])
            buf_t = np.concatenate([self.tail_times, t])
            first = len(self.tail_values)
        width = stage.width
        if buf_t.dtype == np.int64:
            width = int(width)  # type: ignore[arg-type]
        try:
            starts = window_starts(buf_t, width, stage.closed, first)  # type: ignore[arg-type]
        except TimesOutOfOrder as e:   # the kernel checks the order as it walks the times
            self.order.fail(self.tail_base + e.row, buf_t[e.row - 1], buf_t[e.row])
        # An open right end leaves out every record at the record's own time
        # (pandas' rule for repeated times), not only the record itself.
        ends = None if stage.closed in ("right", "both") else \
            window_ends(buf_t, stage.closed, first)
        policy = "omit" if stage.nan_policy == "raise" else stage.nan_policy
        out = time_window(stage.stat, buf_v, starts, first, stage.closed, self.tail_base,
                          stage.min_count, policy, stage.ddof, stage.q, ends=ends)
        keep = int(starts[-1])        # the newest record's window: all a later one can reach
        self.tail_values = buf_v[keep:].copy()
        self.tail_times = buf_t[keep:].copy()
        self.tail_base += keep
        return out
