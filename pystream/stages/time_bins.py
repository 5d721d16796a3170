"""Bins of time: calendar resampling, ``resample("1h", how=...)``
(:class:`TimeResample`), and sessions, ``session(gap="30min")``
(:class:`Session`).

Each record gets a bin number (a calendar bin from
:class:`pystream._calendar.Binner`, or a session number); the reducers of
:mod:`pystream.stages.bin_kernels` accumulate each bin in record order and
emit it when a record of a later bin arrives, so every chunking gives the
same bytes.  Bin numbers are consecutive integers over consecutive bins, so
the empty bins between two others are known and emitted as NaN (count and
sum 0, as pandas) when ``empty="nan"``.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._calendar import Binner
from .._checks import check_ddof, check_nan_policy, check_quantile
from .._columns import TimeColumn
from .._native import check_record_values, kernel_dtype
from .._timeunits import parse_duration
from .bin_kernels import BIN_STATS, BinQuantile, BinReducer
from .timed import Duration, TimedPusher, TimedStage, Triple, time_values

__all__ = ["EMPTY", "Session", "TIME_HOWS", "TimeResample", "check_hows"]

#: The reducers of calendar resampling and sessions (``duration``: sessions only).
TIME_HOWS: tuple[str, ...] = BIN_STATS + ("quantile", "duration")
#: What to do with the bins no record falls in.
EMPTY: tuple[str, ...] = ("nan", "omit")
_FILL_ZERO = ("count", "sum")
#: Most empty bins emitted in one output chunk (a long gap comes in pieces).
_FILL_PIECE = 1 << 16
_NS = np.dtype("datetime64[ns]")


def check_hows(how: Any, where: str, allowed: Sequence[str]) -> tuple[tuple[str, ...], bool]:
    """``how`` as a tuple of reducer names, and whether it was one name (the output
    keeps the input's record shape) or a sequence (one more axis, one per name).

    Examples
    --------
    >>> check_hows("mean", "resample", TIME_HOWS)
    (('mean',), True)
    >>> check_hows(["min", "max"], "resample", TIME_HOWS)
    (('min', 'max'), False)
    """
    single = isinstance(how, str)
    hows = (how,) if single else tuple(how) if isinstance(how, (list, tuple)) else None
    if not hows or any(not isinstance(h, str) or h not in allowed for h in hows):
        raise ValueError(f"{where}: how must be one of {', '.join(map(repr, allowed))} or a "
                         f"list of them, got {how!r}")
    if len(set(hows)) != len(hows):
        raise ValueError(f"{where}: how names {how!r} twice")
    return hows, single


class _Bins(TimedStage):
    """What calendar resampling and sessions share: the reducers, the output
    shape and names, the empty bins."""

    keeps_key = False
    #: What to do with the bins no record falls in (:data:`EMPTY`).
    empty = "omit"

    def __init__(self, name: str, how: Any, nan_policy: str | None, partial: bool, q: Any,
                 ddof: float | None, allowed: Sequence[str]) -> None:
        self.name = name
        self.hows, self.single = check_hows(how, name, allowed)
        self.nan_policy = check_nan_policy("omit" if nan_policy is None else nan_policy, name)
        if not isinstance(partial, (bool, np.bool_)):
            raise TypeError(f"{name}: partial must be a bool, got {partial!r}")
        self.partial = bool(partial)
        self.q: float | None = None
        if "quantile" in self.hows:
            if q is None:
                raise TypeError(f"{name}: how='quantile' needs q (the quantile, in [0, 1])")
            self.q = check_quantile(q, name)
        elif q is not None:
            raise TypeError(f"{name}: q applies to how='quantile' only")
        self.ddof = float(check_ddof(1 if ddof is None else ddof, name))

    def output_meta(self, dtype: np.dtype, record_shape: tuple[int, ...]
                    ) -> tuple[np.dtype, tuple[int, ...]]:
        """float64 records: the input's shape for one reducer; for several, one
        value per reducer (and per column of 1-d records, column-major)."""
        kernel_dtype(dtype, self.name)
        check_record_values(record_shape, self.name)
        rs = tuple(record_shape)
        self._scalar_in = rs == ()
        if self.single:
            return np.dtype(np.float64), rs
        k = len(self.hows)
        if rs == ():
            return np.dtype(np.float64), (k,)
        if len(rs) == 1:
            return np.dtype(np.float64), (rs[0] * k,)
        return np.dtype(np.float64), rs + (k,)

    def output_names(self, names: tuple[str, ...] | None) -> tuple[str, ...] | None:
        """The reducers' names (``"mean"``, or ``"temp_mean"`` for a named column)."""
        if self.single:
            return names
        if self._scalar_in:
            return self.hows
        if names is None:
            return None
        return tuple(f"{n}_{h}" for n in names for h in self.hows)

    #: Set by :meth:`output_meta`: the input records are scalars.
    _scalar_in = True


class _BinPusher(TimedPusher):
    """Bin numbers -> reducers -> output chunks with the bins' labels."""

    def __init__(self, stage: _Bins, start: int) -> None:
        super().__init__(stage, start)
        self.bin_stats = tuple(h for h in stage.hows if h not in ("quantile", "duration"))
        if not self.bin_stats and stage.q is None:
            self.bin_stats = ("count",)      # "duration" alone: the bins still need a reducer
        self.width = 1
        self.reducer: BinReducer | None = None
        self.quantile: BinQuantile | None = None
        self.last_bin: int | None = None     # the last bin emitted (for the empty ones)
        self.record_shape: tuple[int, ...] = ()

    @abc.abstractmethod
    def bins(self, t: np.ndarray) -> np.ndarray:
        """The bin number of each time of a chunk."""

    @abc.abstractmethod
    def labels(self, b: np.ndarray) -> np.ndarray:
        """The output time of each bin `b` about to be emitted."""

    def extra(self, b: np.ndarray) -> dict[str, np.ndarray]:
        """Results of the bins `b` that the reducers do not give, one ``(k,)``
        array per name (sessions: ``"duration"``)."""
        return {}

    def emitted(self, b: np.ndarray) -> None:
        """Forget what was kept for the bins `b`, now emitted."""

    def _make(self, width: int) -> None:
        stage = self.stage
        assert isinstance(stage, _Bins)
        policy = "omit" if stage.nan_policy == "raise" else stage.nan_policy
        self.width = width
        if self.bin_stats:
            self.reducer = BinReducer(self.bin_stats, width, policy, stage.ddof)
        if stage.q is not None:
            self.quantile = BinQuantile(stage.q, width)

    def _send(self, values: np.ndarray, time: np.ndarray, key: np.ndarray | None) -> list[Triple]:
        stage = self.stage
        assert isinstance(stage, _Bins)
        rows = self.rows(values, stage.nan_policy)
        if self.reducer is None and self.quantile is None:
            self.record_shape = tuple(values.shape[1:])
            self._make(rows.shape[1])
        b = self.bins(time_values(time))
        return self._emit(*self._reduce(rows, b))

    def _reduce(self, rows: np.ndarray | None, b: np.ndarray | None
                ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Bins completed by `rows` (None: the end of the stream) and their results,
        one ``(k, width)`` array per reducer name."""
        got: dict[str, np.ndarray] = {}
        ids: np.ndarray | None = None
        if self.reducer is not None:
            ids, out = self.reducer.flush() if rows is None else self.reducer.update(rows, b)
            for j, h in enumerate(self.bin_stats):
                got[h] = out[:, j, :]
        if self.quantile is not None:
            qids, qout = self.quantile.flush() if rows is None else self.quantile.update(rows, b)
            ids = qids if ids is None else ids
            got["quantile"] = qout.reshape(len(qids), self.quantile.width)
        assert ids is not None
        stage = self.stage
        assert isinstance(stage, _Bins)
        for name, column in self.extra(ids).items():
            got[name] = np.repeat(column[:, None], self.width, axis=1)
        return ids, [got[h] for h in stage.hows]

    def _emit(self, ids: np.ndarray, parts: list[np.ndarray]) -> list[Triple]:
        if not len(ids):
            return []
        stage = self.stage
        assert isinstance(stage, _Bins)
        labels = self.labels(ids)
        self.emitted(ids)
        out: list[Triple] = []
        fill = stage.empty == "nan"
        if fill and self.last_bin is not None and ids[0] > self.last_bin + 1:
            out.extend(self._empty_bins(self.last_bin + 1, int(ids[0]), len(parts)))
        gaps = np.flatnonzero(np.diff(ids) > 1) if fill else np.empty(0, np.intp)
        lo = 0
        for g in [*gaps.tolist(), len(ids) - 1]:
            hi = g + 1
            out.append((self._shape([p[lo:hi] for p in parts]), labels[lo:hi], None))
            if hi < len(ids):
                out.extend(self._empty_bins(int(ids[g]) + 1, int(ids[hi]), len(parts)))
            lo = hi
        self.last_bin = int(ids[-1])
        return out

    def _empty_bins(self, a: int, b: int, nparts: int) -> list[Triple]:
        """The bins ``[a, b)`` no record fell in: count and sum 0, the rest NaN."""
        stage = self.stage
        assert isinstance(stage, _Bins)
        width = 1
        for s in self.record_shape:
            width *= s
        out: list[Triple] = []
        for lo in range(a, b, _FILL_PIECE):
            hi = min(b, lo + _FILL_PIECE)
            ids = np.arange(lo, hi, dtype=np.int64)
            parts = [np.full((hi - lo, width), 0.0 if h in _FILL_ZERO else np.nan)
                     for h in stage.hows]
            out.append((self._shape(parts), self.labels(ids), None))
        return out

    def _shape(self, parts: list[np.ndarray]) -> np.ndarray:
        """Per-reducer ``(k, width)`` results as output records."""
        stage = self.stage
        assert isinstance(stage, _Bins)
        k = len(parts[0])
        if stage.single:
            return parts[0].reshape((k,) + self.record_shape)
        stacked = np.stack(parts, axis=-1)                   # (k, width, nhows)
        rs = self.record_shape
        if len(rs) <= 1:
            return stacked.reshape(k, -1)
        return stacked.reshape((k,) + rs + (len(parts),))

    def _close(self) -> list[Triple]:
        stage = self.stage
        assert isinstance(stage, _Bins)
        if self.reducer is None and self.quantile is None:
            return []
        ids, parts = self._reduce(None, None)
        if not stage.partial:
            return []
        return self._emit(ids, parts)


# --------------------------------------------------------------------------- calendar bins


class TimeResample(_Bins):
    """Calendar resampling: one output record per bin of time (pandas' ``resample``).

    Parameters
    ----------
    freq : str or timedelta
        ``"1h"``, ``"15min"``, ``"1D"``, ``"1W"``, ``"1MS"``, ``"1ME"``,
        ``"1YS"``... (pandas' aliases), a timedelta, or ``ps.duration(x)``
        for numeric times.
    how : str or sequence of str, default "mean"
        One of :data:`TIME_HOWS` (but ``"duration"``), or several at once.
    nan_policy : {"omit", "propagate", "raise"}, default "omit"
    partial : bool, default True
        Emit the last bin at the end of the stream (it may be incomplete).
    origin, offset, closed, label, tz
        pandas' ``resample`` parameters (:class:`pystream._calendar.Binner`).
    empty : {"nan", "omit"}, default "nan"
        ``"nan"``: emit the bins no record falls in (between the first and
        the last record), as pandas does: count and sum 0, the rest NaN;
        ``"omit"``: leave them out, as polars' ``group_by_dynamic``.
    q : float, optional
        For ``how="quantile"``.
    ddof : float, default 1
        For ``"var"`` / ``"std"``.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> t = np.array(["2024-01-01T00:10", "2024-01-01T00:50", "2024-01-01T02:05"],
    ...              dtype="datetime64[ns]")
    >>> s = ps.from_array(np.array([1.0, 3.0, 5.0]), time=t).resample("1h")
    >>> s.to_array()
    array([ 2., nan,  5.])
    >>> np.concatenate([b.time for b in s.batches()])   # the bins' labels
    array(['2024-01-01T00:00:00.000000000', '2024-01-01T01:00:00.000000000',
           '2024-01-01T02:00:00.000000000'], dtype='datetime64[ns]')
    """

    def __init__(self, freq: Any, how: Any = "mean", nan_policy: str | None = None,
                 partial: bool = True, *, origin: Any = "start_day", offset: Any = None,
                 closed: str | None = None, label: str | None = None, tz: Any = None,
                 empty: str = "nan", q: float | None = None, ddof: float | None = None) -> None:
        super().__init__("resample", how, nan_policy, partial, q, ddof,
                         tuple(h for h in TIME_HOWS if h != "duration"))
        if empty not in EMPTY:
            raise ValueError(f"resample: empty must be 'nan' or 'omit', got {empty!r}")
        self.empty = empty
        self.freq = freq
        self.binner_args: dict[str, Any] = dict(origin=origin, offset=offset, closed=closed,
                                                label=label, tz=tz)
        if isinstance(freq, str) or not isinstance(freq, (int, float, np.number, Duration)):
            Binner(freq, datetime_times=True, where="resample", **self.binner_args)

    def __repr__(self) -> str:
        return f"TimeResample(freq={self.freq!r}, how={self.hows if not self.single else self.hows[0]!r})"

    def _binner(self) -> Binner:
        freq = self.freq.value if isinstance(self.freq, Duration) else self.freq
        return Binner(freq, datetime_times=self.datetime_times, where="resample",
                      **self.binner_args)

    def _bound(self) -> None:
        self._binner()   # refuses a frequency that does not suit the time column

    def output_time(self) -> TimeColumn | None:
        """The bins' labels: calendar times, or float64 numeric times."""
        assert self.time is not None
        if self.time.is_datetime:
            return self.time
        return TimeColumn(self.time.name, np.dtype(np.float64))

    def push_timed(self, start: int = 0) -> _CalendarPusher:
        """A fresh push form (send a chunk with its times, get the completed bins)."""
        return _CalendarPusher(self, start)


class _CalendarPusher(_BinPusher):
    def __init__(self, stage: TimeResample, start: int) -> None:
        super().__init__(stage, start)
        self.binner = stage._binner()
        self.datetime = stage.datetime_times

    def bins(self, t: np.ndarray) -> np.ndarray:
        return self.binner.bins(t)

    def labels(self, b: np.ndarray) -> np.ndarray:
        lab = self.binner.label_of(b)
        return lab if self.datetime else np.asarray(lab, dtype=np.float64)


# --------------------------------------------------------------------------- sessions


class Session(_Bins):
    """Sessions: runs of records whose gaps are at most `gap`, one output record each.

    Parameters
    ----------
    gap : str, timedelta or Duration
        The longest gap inside a session: a record more than `gap` after the
        one before it starts a new session.
    how : str or sequence of str, default "mean"
        One of :data:`TIME_HOWS`, or several at once; ``"duration"`` is the
        session's last time minus its first (seconds for calendar times).
    label : {"start", "end"}, default "start"
        The output's time: the session's first record's or its last's (the
        other is ``start + duration``).
    nan_policy, partial, q, ddof
        As for :class:`TimeResample`.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> t = np.array([0, 60, 90, 4000, 4010], dtype="datetime64[s]")
    >>> s = ps.from_array(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), time=t)
    >>> s.session("30min", how=["count", "mean", "duration"]).to_array()
    array([[ 3. ,  2. , 90. ],
           [ 2. ,  4.5, 10. ]])
    """

    def __init__(self, gap: Any, how: Any = "mean", label: str = "start",
                 nan_policy: str | None = None, partial: bool = True,
                 q: float | None = None, ddof: float | None = None) -> None:
        super().__init__("session", how, nan_policy, partial, q, ddof, TIME_HOWS)
        if label not in ("start", "end"):
            raise ValueError(f"session: label must be 'start' or 'end', got {label!r}")
        self.label = label
        self.gap_value = gap.value if isinstance(gap, Duration) else gap
        self.gap: int | float | None = None
        if isinstance(self.gap_value, str) or not isinstance(self.gap_value,
                                                            (int, float, np.number)):
            parse_duration(self.gap_value, True, "session")

    def __repr__(self) -> str:
        return f"Session(gap={self.gap_value!r}, how={self.hows if not self.single else self.hows[0]!r})"

    def _bound(self) -> None:
        self.gap = parse_duration(self.gap_value, self.datetime_times, "session")

    def push_timed(self, start: int = 0) -> _SessionPusher:
        """A fresh push form (send a chunk with its times, get the completed sessions)."""
        return _SessionPusher(self, start)


class _SessionPusher(_BinPusher):
    def __init__(self, stage: Session, start: int) -> None:
        super().__init__(stage, start)
        self.gap = stage.gap
        self.last_time: Any = None
        self.open_id = 0                     # the number of the session still open
        # The sessions not yet emitted: their numbers, first and last times.
        self.ids = np.empty(0, np.int64)
        self.first: np.ndarray | None = None
        self.last: np.ndarray | None = None
        self.datetime = stage.datetime_times
        self.label = stage.label

    def bins(self, t: np.ndarray) -> np.ndarray:
        new = np.empty(len(t), bool)
        np.greater(t[1:] - t[:-1], self.gap, out=new[1:])
        if self.last_time is None:
            new[0] = False
        else:
            new[0] = (t[0] - self.last_time) > self.gap
        ids = self.open_id + np.cumsum(new, dtype=np.int64)
        # first / last times of the sessions in this chunk
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        ends = np.r_[starts[1:] - 1, len(ids) - 1]
        sid = ids[starts]
        first, last = t[starts], t[ends]
        if self.ids.size and sid[0] == self.ids[-1]:
            assert self.last is not None
            self.last[-1] = last[0]
            sid, first, last = sid[1:], first[1:], last[1:]
        self.ids = np.concatenate([self.ids, sid])
        self.first = first if self.first is None else np.concatenate([self.first, first])
        self.last = last if self.last is None else np.concatenate([self.last, last])
        self.last_time = t[-1]
        self.open_id = int(ids[-1])
        return ids

    def _at(self, b: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.ids, b)

    def labels(self, b: np.ndarray) -> np.ndarray:
        assert self.first is not None and self.last is not None
        pos = self._at(b)
        return (self.first if self.label == "start" else self.last)[pos]

    def extra(self, b: np.ndarray) -> dict[str, np.ndarray]:
        """``"duration"``: each session's last time minus its first (seconds for
        calendar times)."""
        stage = self.stage
        assert isinstance(stage, Session)
        if "duration" not in stage.hows:
            return {}
        assert self.first is not None and self.last is not None
        pos = self._at(b)
        d = (self.last[pos] - self.first[pos]).astype(np.float64)
        return {"duration": d / 1e9 if self.datetime else d}

    def emitted(self, b: np.ndarray) -> None:
        if not len(b) or self.first is None or self.last is None:
            return
        keep = self.ids > b[-1]
        self.ids, self.first, self.last = self.ids[keep], self.first[keep], self.last[keep]
