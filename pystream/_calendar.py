"""Calendar bins and time zones for resampling event time (issue 19).

:class:`Binner` gives every time a bin number, with pandas'
``Series.resample(freq, origin=, offset=, closed=, label=)`` bins on a naive
(UTC) or tz-aware ``DatetimeIndex``.  Bin numbers are consecutive integers
over consecutive bins, so the bins between two non-empty ones are the missing
integers, and they do not depend on how the times are cut into calls.

Two kinds of frequency, as in pandas 3:

* **fixed** (``"1h"``, ``"90s"``, ``"1h30min"``, a timedelta; ``"nD"`` when no
  ``tz`` is given): bins of that many ns laid from an origin point.  Bin ``b``
  starts at ``o + b * freq`` where ``o`` is the origin (plus ``offset``)
  reduced modulo the frequency into ``[0, freq)``: the numbers count bins
  from the epoch.  With a ``tz`` the bins stay that many ns long (an hour bin
  is 60 minutes across a DST change); only ``origin="start_day"``/``"epoch"``
  are taken on the local clock, as pandas does.
* **calendar** (``"W"``/``"W-MON"``..., ``"MS"``, ``"ME"``, ``"QS"``, ``"QE"``,
  ``"YS"``, ``"YE"`` with anchors such as ``"QE-NOV"``, a multiple like
  ``"2MS"``; and ``"nD"`` with a ``tz``): bins from local midnight to local
  midnight of the anchor days, so a tz-aware day bin lasts 23 or 25 hours
  across DST.  pandas ignores ``origin`` and ``offset`` for these (it warns;
  so do we).  With a multiple ``n``, pandas lays the bins from the first
  record's period (not from a fixed date); so do we: bin ``b`` starts at
  anchor ``r + b * n`` where the residue ``r`` is set by the first record.
  The "end" frequencies (``W``, ``ME``, ``QE``, ``YE``) with
  ``closed="right"`` take in the whole day of their right edge (pandas'
  rule: a "month end" bin ends at the last ns of the month's last day).

The data-dependent choices (``origin="start"``/``"start_day"``, the residue
of calendar multiples) are fixed by the first record of the first non-empty
call to :meth:`Binner.bins` (pandas uses the smallest time: the same on
non-decreasing data).  ``origin="end"``/``"end_day"`` need the last record and
are refused for streams.

Where pandas raises, and what we do (checked in ``tests/test_calendar.py``):
a bin edge whose end-of-day instant happens twice (``ME`` closed right in
Beirut 1957) raises as in pandas.  Bin edges at a local midnight the clock
skips or shows twice take pandas' ``date_range`` rules (``shift_forward``,
the first occurrence) everywhere; pandas raises instead when the *first or
last record's* own day starts in such a gap (``Timestamp.normalize``), which a
stream cannot mimic (the last record is unknown), so we give the bins pandas
gives every other day.  A label past 2262-04-11 is not an int64 ns: pandas
fails building it, :meth:`Binner.label_of` raises for it.

Speed: fixed bins are three numpy passes (min, subtract, floor-divide);
calendar bins find the few edges in the data's range and fill sorted times'
numbers with ``np.repeat`` (unsorted: a ``searchsorted`` per record, ~10x).

Time zones: :func:`local_offsets` turns UTC ns into the zone's UTC offsets,
vectorised: the zone's offset changes in the data's range are found once by
probing ``utcoffset`` daily and bisecting each change to the second
(``zoneinfo`` does not list them), cached per zone, and applied with numpy.
Two changes within one day that cancel out would be missed (the tests
compare 20,000 instants of 1900-2200 with pandas in eight zones).
"""

from __future__ import annotations

import datetime
import threading
import warnings
import zoneinfo
from typing import Any, Literal

import numpy as np

from pystream._timeunits import (DAY_NS, SECOND_NS, Freq, parse_duration, parse_freq,
                                 parse_signed_duration)

__all__ = ["Binner", "local_offsets", "localize", "resolve_tz"]

_I64 = np.iinfo(np.int64)
_MIN_DAY, _MAX_DAY = -106_750, 106_750          # days of the int64 ns range, with room
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


# --------------------------------------------------------------------------- zones

def resolve_tz(tz: object, where: str) -> datetime.tzinfo | None:
    """The tzinfo for a ``tz`` argument: None, a zone name or a tzinfo.

    Examples
    --------
    >>> resolve_tz("Europe/Paris", "resample")
    zoneinfo.ZoneInfo(key='Europe/Paris')
    """
    if tz is None or isinstance(tz, datetime.tzinfo):
        return tz
    if isinstance(tz, str):
        try:
            return zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as err:
            none = "" if zoneinfo.available_timezones() else "; no zone database: pip install tzdata"
            raise ValueError(f"{where}: unknown time zone {tz!r} ({err!r}){none}") from err
    raise TypeError(f"{where}: tz must be None, a zone name like 'Europe/Paris' or a "
                    f"datetime.tzinfo, got {type(tz).__name__}")


def _offset_ns(tz: datetime.tzinfo, second: int) -> int:
    off = (_EPOCH + datetime.timedelta(seconds=second)).astimezone(tz).utcoffset()
    if off is None:
        raise ValueError(f"time zone {tz!r} gives no UTC offset")
    return (off.days * 86_400 + off.seconds) * SECOND_NS + off.microseconds * 1_000


class _ZoneTable:
    """A zone's UTC-offset changes over a range of days, grown on demand.

    ``offs[k]`` is the offset (ns) of the UTC instants with ``k`` changes at
    or before them: ``offs[np.searchsorted(trans, t, "right")]``.
    """

    def __init__(self, tz: datetime.tzinfo) -> None:
        self.tz = tz
        self.lock = threading.Lock()
        self.lo: int | None = None
        self.hi = 0
        self.trans = np.empty(0, np.int64)
        self.offs = np.zeros(1, np.int64)

    def cover(self, lo_ns: int, hi_ns: int) -> tuple[np.ndarray, np.ndarray]:
        lo = max(lo_ns // DAY_NS - 2, _MIN_DAY)
        hi = min(hi_ns // DAY_NS + 2, _MAX_DAY)
        with self.lock:
            if self.lo is not None and self.lo <= lo and hi <= self.hi:
                return self.trans, self.offs
            span = 366 if self.lo is None else max(366, self.hi - self.lo)
            new_lo = lo - span if self.lo is None or lo < self.lo else self.lo
            new_hi = hi + span if self.lo is None or hi > self.hi else self.hi
            new_lo, new_hi = max(new_lo, _MIN_DAY), min(new_hi, _MAX_DAY)
            self.trans, self.offs = self._probe(new_lo, new_hi)
            self.lo, self.hi = new_lo, new_hi
            return self.trans, self.offs

    def _probe(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        tz = self.tz
        days = [_offset_ns(tz, d * 86_400) for d in range(lo, hi + 1)]
        trans: list[int] = []
        offs = [days[0]]
        for i in range(1, len(days)):
            if days[i] != days[i - 1]:
                a, b = (lo + i - 1) * 86_400, (lo + i) * 86_400
                while b - a > 1:
                    mid = (a + b) // 2
                    if _offset_ns(tz, mid) == days[i - 1]:
                        a = mid
                    else:
                        b = mid
                trans.append(b * SECOND_NS)
                offs.append(_offset_ns(tz, b))
        return np.array(trans, np.int64), np.array(offs, np.int64)


_TABLES: dict[Any, _ZoneTable] = {}
_TABLES_LOCK = threading.Lock()


def _zone_table(tz: datetime.tzinfo) -> _ZoneTable:
    try:
        hash(tz)
    except TypeError:
        return _ZoneTable(tz)
    with _TABLES_LOCK:
        table = _TABLES.get(tz)
        if table is None:
            table = _TABLES[tz] = _ZoneTable(tz)
        return table


def _span(t: np.ndarray) -> tuple[int, int, bool]:
    """``(min, max, is_sorted)`` of a non-empty int64 array: its ends when it is
    sorted (one pass for the check), else two more passes."""
    if t.size < 2 or not bool(np.less(t[1:], t[:-1]).any()):
        return int(t[0]), int(t[-1]), True
    return int(t.min()), int(t.max()), False


def _lookup(edges: np.ndarray, values: np.ndarray, t: np.ndarray, side: str,
            is_sorted: bool) -> np.ndarray:
    """``values[np.searchsorted(edges, t, side)]``; by segment counts when `t` is sorted
    (one ``np.repeat`` instead of a search per record)."""
    if edges.size == 0:
        return np.full(t.shape, values[0], values.dtype)
    if is_sorted:
        pos = np.searchsorted(t, edges, side="left" if side == "right" else "right")
        counts = np.diff(pos, prepend=0, append=t.size)
        return np.repeat(values, counts)
    return values[np.searchsorted(edges, t, side)]


def local_offsets(t: np.ndarray, tz: object) -> np.ndarray:
    """UTC offsets (int64 ns) of the zone `tz` at the UTC instants `t` (int64 ns).

    Local wall-clock time is ``t + local_offsets(t, tz)``.

    Examples
    --------
    >>> t = np.array([0, 15_552_000_000_000_000])  # 1970-01-01, 1970-06-30 UTC
    >>> local_offsets(t, "Europe/Paris") // 3_600_000_000_000
    array([1, 1])
    >>> local_offsets(np.array([1_719_792_000_000_000_000]), "Europe/Paris") // 3_600_000_000_000
    array([2])
    """
    zone = resolve_tz(tz, "local_offsets")
    t = np.asarray(t)
    if t.dtype != np.int64:
        raise TypeError(f"local_offsets: times must be int64 ns since the epoch, got {t.dtype}")
    if zone is None or t.size == 0:
        return np.zeros(t.shape, np.int64)
    flat = t.ravel()
    lo, hi, is_sorted = _span(flat)
    trans, offs = _zone_table(zone).cover(lo, hi)
    return _lookup(trans, offs, flat, "right", is_sorted).reshape(t.shape)


def localize(wall: np.ndarray, tz: datetime.tzinfo | None, *, ambiguous: str = "raise",
             nonexistent: str = "raise", where: str = "localize") -> np.ndarray:
    """UTC ns of local wall-clock times (int64 ns), as pandas' ``tz_localize``.

    Parameters
    ----------
    wall : numpy.ndarray
        int64 ns of wall-clock times (as if the local clock were UTC).
    tz : tzinfo or None
        The zone (None: the wall clock is UTC).
    ambiguous : {"raise", "earliest"}
        A time the clock shows twice (fall back): an error, or the first
        occurrence (pandas' ``ambiguous=True``, the DST one).
    nonexistent : {"raise", "shift_forward"}
        A time the clock skips (spring forward): an error, or the instant the
        clock jumps forward (pandas' ``"shift_forward"`` for gaps of whole hours).
    where : str
        Caller, for error messages.

    Examples
    --------
    >>> tz = resolve_tz("Europe/Paris", "x")
    >>> wall = np.array([1_711_846_800_000_000_000])  # 2024-03-31 01:00 local
    >>> int(localize(wall, tz)[0]) == int(wall[0]) - 3_600_000_000_000
    True
    """
    wall = np.asarray(wall, np.int64)
    if tz is None or wall.size == 0:
        return wall.copy()
    trans, offs = _zone_table(tz).cover(int(wall.min()) - 2 * DAY_NS, int(wall.max()) + 2 * DAY_NS)
    a = wall - offs[np.searchsorted(trans, wall - DAY_NS, "right")]
    ok_a = a + offs[np.searchsorted(trans, a, "right")] == wall
    b = wall - offs[np.searchsorted(trans, wall + DAY_NS, "right")]
    ok_b = b + offs[np.searchsorted(trans, b, "right")] == wall
    out = np.where(ok_a, a, b)
    amb = ok_a & ok_b & (a != b)
    if ambiguous not in ("raise", "earliest") or nonexistent not in ("raise", "shift_forward"):
        raise ValueError(f"{where}: ambiguous must be 'raise' or 'earliest' and nonexistent "
                         f"'raise' or 'shift_forward', got {ambiguous!r}, {nonexistent!r}")
    if amb.any() and ambiguous != "earliest":
        raise ValueError(f"{where}: local time {_wall_text(wall[amb][0])} happens twice in "
                         f"{tz} (clocks turned back); pandas raises here too")
    gap = ~(ok_a | ok_b)
    if gap.any():
        if nonexistent != "shift_forward":
            raise ValueError(f"{where}: local time {_wall_text(wall[gap][0])} does not exist "
                             f"in {tz} (clocks jumped forward); pandas raises here too")
        j = np.searchsorted(trans + offs[:-1], wall[gap], "right") - 1
        out[gap] = trans[j]
    return out


def _wall_text(ns: int) -> str:
    return str(np.datetime64(int(ns), "ns"))


def _as_ns(t: np.ndarray, where: str) -> np.ndarray:
    if t.dtype.kind == "M":
        return t.astype("datetime64[ns]").view(np.int64)
    if t.dtype.kind in "iu":
        if t.dtype == np.uint64 and t.size and int(t.max()) > _I64.max:
            raise ValueError(f"{where}: time {int(t.max())} is past int64 ns (2262-04-11)")
        return t if t.dtype == np.int64 else t.astype(np.int64)
    raise TypeError(f"{where}: datetime times must be int64 ns since the epoch (or "
                    f"datetime64), got dtype {t.dtype}")


def _origin_ns(origin: object, tz: datetime.tzinfo | None, where: str) -> int:
    """UTC ns of an explicit origin: aware datetimes as such, naive ones on `tz`'s clock."""
    if isinstance(origin, (bool, np.bool_)):
        raise TypeError(f"{where}: origin cannot be a bool")
    if isinstance(origin, (int, np.integer)):
        return int(origin)
    aware = getattr(origin, "tzinfo", None) is not None
    try:
        if hasattr(origin, "to_datetime64"):          # pandas Timestamp: UTC when aware
            value = np.datetime64(origin.to_datetime64(), "ns")  # type: ignore[union-attr]
        elif isinstance(origin, datetime.datetime):
            if aware:
                origin = origin.astimezone(datetime.timezone.utc).replace(tzinfo=None)
            value = np.datetime64(origin, "ns")
        else:                                         # np.datetime64, ISO string
            value = np.datetime64(origin, "ns")
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: origin must be 'epoch', 'start', 'start_day', a datetime, a "
                         f"numpy.datetime64 or int ns, got {origin!r} ({err})") from None
    if np.isnat(value):
        raise ValueError(f"{where}: origin is NaT")
    ns = int(value.astype(np.int64))
    return ns if aware else int(localize(np.array([ns]), tz, where=where)[0])


class Binner:
    """Bin numbers, edges and labels of pandas' ``resample``, for streams.

    Parameters
    ----------
    freq : str, timedelta-like or number
        Datetime times: a fixed duration (``"1h"``, ``"15min"``, ``"90s"``,
        ``"1h30min"``, a timedelta; ``"1D"`` is 24 h without `tz`, a local day
        with it) or a calendar frequency (``"W"``, ``"W-MON"``, ``"MS"``,
        ``"ME"``, ``"QS"``, ``"QE-NOV"``, ``"YS"``, ``"YE"``, with a multiple such
        as ``"2MS"``).  Numeric times: a positive number in their units.
    origin : {"start_day", "start", "epoch"}, datetime, numpy.datetime64, str or int
        Fixed frequencies: where bins are laid from (pandas' ``origin``;
        "start_day" is local midnight of the first record's day, "start" the
        first record; a naive datetime is read on `tz`'s clock, an int is UTC
        ns).  Numeric times: "start"/"start_day" (the first record), "epoch"
        (0) or a number.  "end"/"end_day" need the last record: refused.
    offset : duration, optional
        Added to the origin (may be negative: ``"-30min"``).
    closed, label : {"left", "right"}, optional
        pandas' defaults: "right" for ``W``, ``ME``, ``QE``, ``YE``, else "left".
    tz : str or tzinfo, optional
        Compute the bins on this zone's wall clock (day bins are local days).
    datetime_times : bool
        Whether times are int64 ns since the epoch (True) or plain numbers.
    where : str
        Caller, for error messages.

    Examples
    --------
    >>> h = 3_600_000_000_000
    >>> binner = Binner("2h", origin="epoch")
    >>> binner.bins(np.array([0, h, 2 * h, 5 * h]))
    array([0, 0, 1, 2])
    >>> binner.label_of(np.array([2])) // h
    array([4])
    >>> months = Binner("MS")
    >>> b = months.bins(np.array(["2024-01-31", "2024-02-01", "2024-04-15"], "datetime64[ns]"))
    >>> b - b[0]
    array([0, 1, 3])
    >>> months.left(b[-1:]).astype("datetime64[ns]")
    array(['2024-04-01T00:00:00.000000000'], dtype='datetime64[ns]')
    """

    def __init__(self, freq: object, *, origin: object = "start_day", offset: object = None,
                 closed: Literal["left", "right"] | None = None,
                 label: Literal["left", "right"] | None = None, tz: object = None,
                 datetime_times: bool = True, where: str = "resample") -> None:
        self.where = where
        self.datetime_times = bool(datetime_times)
        for name, value in (("closed", closed), ("label", label)):
            if value not in (None, "left", "right"):
                raise ValueError(f"{where}: {name} must be 'left' or 'right', got {value!r}")
        if isinstance(origin, str) and origin in ("end", "end_day"):
            raise ValueError(f"{where}: origin={origin!r} needs the last record, which a stream "
                             f"does not know in advance; use 'start_day', 'start', 'epoch' or "
                             f"a timestamp")
        self._residue: int | None = None
        self._start: str | None = origin if isinstance(origin, str) and origin in (
            "start", "start_day") else None
        if not self.datetime_times:
            if tz is not None:
                raise ValueError(f"{where}: tz={tz!r} given but the time column is numeric "
                                 f"(zones need datetime times)")
            self.tz = None
            self._freq = Freq("numeric", 1)
            self._width = parse_duration(freq, False, where)
            self._offset = 0 if offset is None else parse_signed_duration(offset, False, where)
            if self._start is None and origin != "epoch" and (
                    isinstance(origin, (bool, np.bool_)) or not isinstance(
                        origin, (int, float, np.integer, np.floating))
                    or not np.isfinite(origin)):
                raise ValueError(f"{where}: origin for numeric times must be 'start', "
                                 f"'epoch' or a finite number, got {origin!r}")
            self._origin: int | float | None = None if self._start else (
                self._offset + (0 if origin == "epoch" else origin))   # type: ignore[operator]
            self.closed: str = closed or "left"
            self.label: str = label or "left"
            return
        self.tz = resolve_tz(tz, where)
        self._freq = parse_freq(freq, self.tz is not None, where)
        self.closed = closed or ("right" if self._freq.end else "left")
        self.label = label or ("right" if self._freq.end else "left")
        self._offset = 0 if offset is None else parse_signed_duration(offset, True, where)
        if self._freq.kind != "fixed":
            if origin != "start_day" or offset is not None:
                warnings.warn(f"{where}: origin and offset do not take effect with the calendar "
                              f"frequency {freq!r} (as in pandas)", RuntimeWarning, stacklevel=2)
            self._origin = None
            self._residue = 0 if self._freq.n == 1 else None
            return
        if self._start is not None:
            self._origin = None
        elif isinstance(origin, str) and origin == "epoch":   # local 1970-01-01, as pandas
            self._origin = int(localize(np.zeros(1, np.int64), self.tz)[0]) + self._offset
        else:
            self._origin = _origin_ns(origin, self.tz, where) + self._offset

    @property
    def origin_point(self) -> int | float | None:
        """The origin (with offset) of fixed bins, None until the first record fixes it
        (and for calendar frequencies, which have none)."""
        return self._origin

    @property
    def is_calendar(self) -> bool:
        """Whether the bins follow the calendar (days with a zone, weeks, months...)."""
        return self._freq.kind not in ("fixed", "numeric")

    def __repr__(self) -> str:
        return (f"Binner({self._freq.kind}, n={self._freq.n}, closed={self.closed!r}, "
                f"label={self.label!r}, tz={self.tz}, origin_point={self._origin})")

    # ------------------------------------------------------------------ first record
    def _fix_start(self, t0: int | float) -> None:
        if self._freq.kind == "numeric":
            self._origin = t0 + self._offset
            return
        off = int(local_offsets(np.array([t0], np.int64), self.tz)[0])
        day = (int(t0) + off) // DAY_NS
        if self._freq.kind == "fixed":
            if self._start == "start":
                self._origin = int(t0) + self._offset
            else:
                self._origin = int(localize(np.array([day * DAY_NS]), self.tz,
                                            where=self.where)[0]) + self._offset
            return
        freq = self._freq
        anchor = freq.floor_anchor(day)
        if self.closed == "right":     # pandas: first.normalize() - freq
            on = int(freq.anchor_day(np.array([anchor]))[0]) == day
            anchor -= freq.n if on else freq.n - 1
        self._residue = anchor % freq.n

    # ------------------------------------------------------------------ bins
    def bins(self, t: np.ndarray) -> np.ndarray:
        """The bin number (int64) of each time; `t` is int64 ns (or datetime64), or
        numbers for numeric times.

        Examples
        --------
        >>> Binner(10, datetime_times=False, origin="epoch").bins(np.array([0.0, 9.5, 10, 31]))
        array([0, 0, 1, 3])
        """
        t = np.asarray(t)
        if t.ndim != 1:
            raise ValueError(f"{self.where}: times must be one-dimensional, got shape {t.shape}")
        if not self.datetime_times:
            return self._numeric_bins(t)
        t = _as_ns(t, self.where)
        if t.size == 0:
            return np.empty(0, np.int64)
        calendar = self._freq.kind != "fixed"
        tmin, tmax, is_sorted = _span(t) if calendar else (int(t.min()), 0, False)
        if tmin == _I64.min:
            raise ValueError(f"{self.where}: the time of record {int(np.argmin(t))} is NaT "
                             f"(missing); every record needs a time")
        if self._origin is None and self._residue is None:
            self._fix_start(int(t[0]))
        if self._freq.kind == "fixed":
            step = self._freq.ns
            shift = int(self._origin) % step + (self.closed == "right")  # type: ignore[arg-type]
            if tmin < _I64.min + shift:
                raise ValueError(f"{self.where}: time {_wall_text(tmin)} is too close to the "
                                 f"int64 ns limit (1677-09-21) for {step} ns bins")
            if shift == 0:                  # e.g. hours from a midnight: one pass
                return np.floor_divide(t, step)
            out = np.subtract(t, shift)
            return np.floor_divide(out, step, out=out)
        return self._calendar_bins(t, tmin, tmax, is_sorted)

    def _calendar_bins(self, t: np.ndarray, tmin: int, tmax: int,
                       is_sorted: bool) -> np.ndarray:
        freq, r = self._freq, self._residue
        assert r is not None
        offs = local_offsets(np.array([tmin, tmax], np.int64), self.tz)
        days = (np.array([tmin, tmax], dtype=object) + offs.astype(object)) // DAY_NS
        lo = (freq.floor_anchor(int(days[0])) - r) // freq.n - 2
        hi = (freq.floor_anchor(int(days[1])) - r) // freq.n + 2
        # near the ends of the int64 ns range, drop the margin edges that fall out of
        # it: the records between them and the range's end are in the outer bins
        while int(freq.anchor_day(np.array([r + lo * freq.n]))[0]) < _MIN_DAY:
            lo += 1
        while int(freq.anchor_day(np.array([r + hi * freq.n]))[0]) > _MAX_DAY - 1:
            hi -= 1
        numbers = np.arange(lo, hi + 1, dtype=np.int64)
        edges = self._member_edges(numbers)
        if np.any(np.diff(edges) <= 0):
            raise ValueError(f"{self.where}: bin edges in {self.tz} are not increasing "
                             f"around {_wall_text(tmin)}; this zone's clock changes make "
                             f"these bins ill-defined")
        values = np.arange(lo - 1, hi + 1, dtype=np.int64)
        return _lookup(edges, values, t, "right" if self.closed == "left" else "left",
                       is_sorted)

    def _nominal(self, b: np.ndarray) -> np.ndarray:
        freq, r = self._freq, self._residue
        if r is None:
            raise ValueError(f"{self.where}: the bins of {freq.n}-period frequencies are laid "
                             f"from the first record: call bins() first")
        days = freq.anchor_day(r + b * freq.n)
        if days.size and (days.min() < _MIN_DAY or days.max() > _MAX_DAY):
            raise ValueError(f"{self.where}: bin numbers out of the int64 ns range")
        return localize(days * DAY_NS, self.tz, ambiguous="earliest",
                        nonexistent="shift_forward", where=self.where)

    def _member_edges(self, b: np.ndarray) -> np.ndarray:
        edges = self._nominal(b)
        if self._freq.end and self.closed == "right":   # pandas: to the end of that day
            wall = edges + local_offsets(edges, self.tz) + (DAY_NS - 1)
            edges = localize(wall, self.tz, where=self.where)
        return edges

    def _numeric_bins(self, t: np.ndarray) -> np.ndarray:
        if t.dtype.kind not in "iuf":
            raise TypeError(f"{self.where}: numeric times must be integers or floats, got "
                            f"dtype {t.dtype}")
        if t.size == 0:
            return np.empty(0, np.int64)
        if t.dtype.kind == "f":
            bad = ~np.isfinite(t)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"{self.where}: the time of record {i} is {t[i]}; times must "
                                 f"be finite")
        elif t.dtype.kind == "u" and int(t.max()) > _I64.max:
            raise ValueError(f"{self.where}: time {int(t.max())} exceeds int64")
        if self._origin is None:
            self._fix_start(t[0].item())
        o, w = self._origin, self._width
        assert o is not None
        if t.dtype.kind in "iu" and all(isinstance(v, int) for v in (o, w)):
            lo, hi = int(t.min()) - o, int(t.max()) - o   # type: ignore[operator]
            if lo - 1 < _I64.min or hi > _I64.max:
                raise ValueError(f"{self.where}: times minus the origin {o} overflow int64")
            shift = o + (self.closed == "right")           # type: ignore[operator]
            out = np.subtract(t.astype(np.int64), np.int64(shift))
            return np.floor_divide(out, w, out=out)
        tf = t.astype(np.float64)
        q = np.floor((tf - o) / w)
        if np.abs(q).max() > 2.0 ** 62:
            raise ValueError(f"{self.where}: times are more than 2**62 bins of {w} from the "
                             f"origin {o}")
        b = q.astype(np.int64)
        lo, hi = self._numeric_left(b), self._numeric_left(b + 1)
        if self.closed == "left":
            b -= tf < lo
            b += tf >= hi
        else:
            b -= tf <= lo
            b += tf > hi
        return b

    def _numeric_left(self, b: np.ndarray) -> np.ndarray:
        o, w = self._origin, self._width
        if o is None:
            raise ValueError(f"{self.where}: the origin is the first record: call bins() first")
        if isinstance(o, int) and isinstance(w, int):
            big = [int(b.min()) * w + o, int(b.max()) * w + o] if b.size else [0]
            if min(big) < _I64.min or max(big) > _I64.max:
                raise ValueError(f"{self.where}: bin edges overflow int64")
            return b * np.int64(w) + np.int64(o)
        return o + b.astype(np.float64) * w

    # ------------------------------------------------------------------ edges
    def left(self, b: np.ndarray) -> np.ndarray:
        """Left edge of bins `b`: UTC ns (int64), or numbers for numeric times.

        For ``W``/``ME``/``QE``/``YE`` with ``closed="right"`` a bin holds the whole
        day of its right edge (pandas' rule); the edges are the labels pandas gives.
        """
        b = np.asarray(b, np.int64)
        if self._freq.kind == "numeric":
            return self._numeric_left(b)
        if self._freq.kind != "fixed":
            return self._nominal(b)
        if self._origin is None:
            raise ValueError(f"{self.where}: the origin is the first record: call bins() first")
        step = self._freq.ns
        base = int(self._origin) % step
        if b.size and (int(b.min()) * step + base < _I64.min + 1
                       or int(b.max()) * step + base > _I64.max):
            raise ValueError(f"{self.where}: bin edges out of the int64 ns range")
        return b * np.int64(step) + np.int64(base)

    def right(self, b: np.ndarray) -> np.ndarray:
        """Right edge of bins `b` (the left edge of the next bin)."""
        return self.left(np.asarray(b, np.int64) + 1)

    def label_of(self, b: np.ndarray) -> np.ndarray:
        """The label pandas gives bins `b`: their left or right edge, per ``label``."""
        return self.left(b) if self.label == "left" else self.right(b)
