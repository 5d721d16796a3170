"""Durations and frequencies of event time: parsing and formatting (issue 19).

A stream's time column holds either int64 nanoseconds since the Unix epoch,
UTC ("datetime" times), or plain numbers in the user's own units ("numeric"
times: seconds, sample numbers...).  Every duration argument (a moving
window's width, a session gap, a fixed resampling frequency) goes through
:func:`parse_duration`, which returns int nanoseconds for datetime times and
a positive finite number for numeric times.

The string spellings are pandas 3's offset aliases of the *fixed* units
(``to_offset``): ``D`` (and ``d``), ``h``, ``min`` (``Min``), ``s``, ``ms``,
``us``, ``ns`` and ``W`` (7 days as a duration), each with an optional count
(default 1, a decimal where it gives whole nanoseconds), concatenated for
compound durations (``"1h30min"``, ``"1D2h"``).  pandas 3 no longer accepts
the upper-case aliases ``H``, ``T``, ``S``, ``L``, ``U``, ``N`` (``to_offset``
raises, ``Timedelta`` warns that they go), so they are refused with the new
spelling named.  ``m`` is refused too: ``Timedelta`` reads it as minutes and
``to_offset`` refuses it, and it reads as a month to many.  Months, quarters
and years are not fixed durations: they are refused with a pointer to
``resample``, which bins them on the calendar (``pystream._calendar``).

:func:`parse_freq` reads resampling frequencies: the fixed durations above
and pandas 3's calendar aliases (``W[-DAY]``, ``MS``, ``ME``, ``QS[-MON]``,
``QE[-MON]``, ``YS[-MON]``, ``YE[-MON]``, ``nD`` in a zone) into a
:class:`Freq`, whose anchors the calendar binner lays its bins on.
"""

from __future__ import annotations

import datetime
import math
import re

import numpy as np

__all__ = ["DAY_NS", "HOUR_NS", "MINUTE_NS", "SECOND_NS", "WEEK_NS", "Freq", "format_duration",
           "is_calendar_alias", "parse_duration", "parse_fixed_string", "parse_freq",
           "parse_signed_duration"]

SECOND_NS = 1_000_000_000
MINUTE_NS = 60 * SECOND_NS
HOUR_NS = 60 * MINUTE_NS
DAY_NS = 24 * HOUR_NS
WEEK_NS = 7 * DAY_NS
_INT64_MAX = np.iinfo(np.int64).max

_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_REMOVED = {"M": "ME", "Q": "QE", "Y": "YE", "A": "YE", "AS": "YS", "BA": "BYE", "H": "h",
            "T": "min", "S": "s", "L": "ms", "U": "us", "N": "ns"}

#: Fixed units (pandas 3's offset aliases) and their length in ns.
UNIT_NS: dict[str, int] = {
    "W": WEEK_NS, "D": DAY_NS, "d": DAY_NS, "h": HOUR_NS, "min": MINUTE_NS, "Min": MINUTE_NS,
    "s": SECOND_NS, "ms": 1_000_000, "us": 1_000, "ns": 1,
}

#: Aliases pandas 3 removed, with their new spelling.
_RENAMED = {"H": "h", "T": "min", "S": "s", "L": "ms", "U": "us", "N": "ns", "m": "min"}

#: Calendar-variable aliases (their head before any "-ANCHOR" suffix).
_CALENDAR_HEADS = {"M", "ME", "MS", "Q", "QE", "QS", "Y", "YE", "YS", "A", "AS", "BA", "BM",
                   "BME", "BMS", "BQ", "BQE", "BQS", "BY", "BYE", "BYS", "SM", "SME", "SMS",
                   "B", "C", "CBME", "CBMS", "BH", "CBH"}

_TOKEN = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)?\s*([A-Za-z]+(?:-[A-Za-z]+)?)")

#: Largest first for the spelling search of ``format_duration``.
_FORMAT_UNITS = (("W", WEEK_NS), ("D", DAY_NS), ("h", HOUR_NS), ("min", MINUTE_NS),
                 ("s", SECOND_NS), ("ms", 1_000_000), ("us", 1_000), ("ns", 1))


def is_calendar_alias(text: str) -> bool:
    """Whether `text` (a frequency string) names a calendar-variable unit.

    Examples
    --------
    >>> is_calendar_alias("2MS"), is_calendar_alias("QE-NOV"), is_calendar_alias("5min")
    (True, True, False)
    """
    match = re.fullmatch(r"\s*\d*\s*([A-Za-z]+)(?:-[A-Za-z]+)?\s*", text)
    return bool(match) and match.group(1) in _CALENDAR_HEADS


def _tokens(text: str, where: str) -> list[tuple[str | None, str]]:
    """Split a duration string into ``(count, unit)`` pairs; ValueError if it is not one."""
    pos, out = 0, []
    stripped = text.rstrip()
    while pos < len(stripped):
        match = _TOKEN.match(stripped, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"{where}: cannot read {text!r} as a duration (expected e.g. "
                             f"'5min', '1h30min', '250ms', '1D')")
        out.append((match.group(1), match.group(2)))
        pos = match.end()
    if not out:
        raise ValueError(f"{where}: empty duration string {text!r}")
    return out


def _month_error(text: str, where: str) -> ValueError:
    return ValueError(
        f"{where}: {text!r} is a calendar unit (month, quarter, year or business day), not a "
        f"fixed duration: a month is 28 to 31 days. Use a fixed duration ('30D', '4W', "
        f"'1h') here, or resample(...) for calendar bins")


def parse_fixed_string(text: str, where: str, allow_zero: bool = False) -> int:
    """Parse a fixed-duration alias string into int nanoseconds (> 0).

    Parameters
    ----------
    text : str
        ``"5min"``, ``"1h30min"``, ``"1.5h"``, ``"2W"``...
    where : str
        The caller's name, for error messages.

    Returns
    -------
    int
        The duration in nanoseconds.

    Raises
    ------
    ValueError
        Unknown, removed or calendar units, fractions of a nanosecond, zero,
        or more than int64 nanoseconds (292 years).

    Examples
    --------
    >>> parse_fixed_string("1h30min", "resample")
    5400000000000
    >>> parse_fixed_string("h", "resample")
    3600000000000
    """
    if is_calendar_alias(text):
        raise _month_error(text, where)
    total = 0
    for count, unit in _tokens(text, where):
        if unit in _RENAMED:
            raise ValueError(f"{where}: unit {unit!r} in {text!r} is not a pandas 3 alias; "
                             f"write {_RENAMED[unit]!r} instead")
        if "-" in unit or unit not in UNIT_NS:
            head = unit.split("-")[0]
            if head in _CALENDAR_HEADS or head == "W":
                raise _month_error(text, where) if head != "W" else ValueError(
                    f"{where}: {text!r} is an anchored week (a calendar frequency), not a "
                    f"duration; write e.g. '1W' or '7D' for seven days")
            raise ValueError(f"{where}: unknown unit {unit!r} in duration {text!r} (known: "
                             f"{', '.join(k for k in UNIT_NS if k not in ('d', 'Min'))})")
        size = UNIT_NS[unit]
        if count is None:
            total += size
        elif "." in count:
            whole, _, frac = count.partition(".")
            num = int(whole or "0") * 10 ** len(frac) + int(frac or "0")
            value, rest = divmod(num * size, 10 ** len(frac))
            if rest:
                raise ValueError(f"{where}: {count}{unit} in {text!r} is not a whole number "
                                 f"of nanoseconds")
            total += value
        else:
            total += int(count) * size
    if total <= 0 and not (allow_zero and total == 0):
        raise ValueError(f"{where}: duration must be positive, got {text!r}")
    if total > _INT64_MAX:
        raise ValueError(f"{where}: duration {text!r} is longer than int64 nanoseconds "
                         f"allow (about 292 years)")
    return total


def _timedelta_ns(value: object, where: str) -> int:
    """int ns of a timedelta-like value (np.timedelta64, datetime.timedelta, duck typed)."""
    if isinstance(value, datetime.timedelta) and not hasattr(value, "to_timedelta64"):
        return (value.days * 86_400 + value.seconds) * SECOND_NS + value.microseconds * 1_000
    if not isinstance(value, np.timedelta64):
        value = value.to_timedelta64()  # type: ignore[attr-defined]
        if not isinstance(value, np.timedelta64):
            raise TypeError(f"{where}: to_timedelta64() of the duration gave "
                            f"{type(value).__name__}, not numpy.timedelta64")
    if np.isnat(value):
        raise ValueError(f"{where}: the duration is NaT (not a time)")
    unit, _ = np.datetime_data(value.dtype)
    if unit in ("Y", "M"):
        raise ValueError(f"{where}: {value!r} is in calendar units (months or years), not a "
                         f"fixed duration; use resample(...) for calendar bins")
    if unit == "generic":
        raise ValueError(f"{where}: {value!r} has no unit; give e.g. np.timedelta64(5, 'm')")
    count = int(value.astype(np.int64))
    per = {"W": WEEK_NS, "D": DAY_NS, "h": HOUR_NS, "m": MINUTE_NS, "s": SECOND_NS,
           "ms": 1_000_000, "us": 1_000, "ns": 1}
    if unit in per:
        return count * per[unit] * np.datetime_data(value.dtype)[1]
    raise ValueError(f"{where}: {value!r} is finer than a nanosecond ({unit}); give the "
                     f"duration in ns or coarser")


def parse_duration(value: object, datetime_times: bool, where: str) -> int | float:
    """Read a duration argument for a time column.

    Parameters
    ----------
    value : object
        For datetime times (int64 ns since the epoch): a fixed-unit alias string
        (``"5min"``, ``"1h30min"``, ``"1.5h"``, ``"2W"``), a ``numpy.timedelta64``
        (any unit but months and years), a ``datetime.timedelta`` or anything with
        ``to_timedelta64()`` (a pandas ``Timedelta``).  For numeric times: a
        positive finite real number, in the time column's units.
    datetime_times : bool
        Whether the time column holds datetimes (ns) or plain numbers.
    where : str
        The caller's name (e.g. ``"moving_mean"``), for error messages.

    Returns
    -------
    int or float
        int nanoseconds (> 0) for datetime times; the number itself (> 0,
        finite) for numeric times.

    Raises
    ------
    ValueError
        Calendar units (a month is not a fixed duration), zero, negative,
        NaT, non-finite, unknown or removed aliases.
    TypeError
        A value of the wrong kind for the time column (a string for numeric
        times, a number for datetime times, bools).

    Examples
    --------
    >>> parse_duration("5min", True, "moving_mean")
    300000000000
    >>> import datetime
    >>> parse_duration(datetime.timedelta(seconds=1.5), True, "moving_mean")
    1500000000
    >>> parse_duration(2.5, False, "moving_mean")
    2.5
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: a duration cannot be a bool, got {value!r}")
    if not datetime_times:
        if isinstance(value, (str, datetime.timedelta, np.timedelta64)) or hasattr(
                value, "to_timedelta64"):
            raise TypeError(
                f"{where}: the time column is numeric, so the width is a number in its units "
                f"(e.g. 30 or 0.5), not {value!r}")
        if not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{where}: duration must be a real number for a numeric time "
                            f"column, got {type(value).__name__}")
        number = value.item() if isinstance(value, np.generic) else value
        if not math.isfinite(number) or number <= 0:
            raise ValueError(f"{where}: duration must be positive and finite, got {value!r}")
        return number
    if isinstance(value, str):
        return parse_fixed_string(value, where)
    if isinstance(value, (datetime.timedelta, np.timedelta64)) or hasattr(
            value, "to_timedelta64"):
        ns = _timedelta_ns(value, where)
        if ns <= 0:
            raise ValueError(f"{where}: duration must be positive, got {value!r}")
        if ns > _INT64_MAX:
            raise ValueError(f"{where}: duration {value!r} is longer than int64 ns allow")
        return ns
    raise TypeError(
        f"{where}: the time column holds datetimes, so a duration is a string like '5min', "
        f"a numpy.timedelta64 or a datetime.timedelta, not {value!r} "
        f"({type(value).__name__}); bare numbers have no unit")


def _compound(ns: int) -> str:
    parts = []
    for unit, size in _FORMAT_UNITS[1:]:
        count, ns = divmod(ns, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def format_duration(ns: int) -> str:
    """The shortest pandas-style spelling of a positive duration in ns.

    Either one unit with a count (``"90min"``, ``"2W"``) or units from the
    largest down (``"1D2h5s"``), whichever is shorter (the compound on a tie).
    ``parse_duration`` reads every result back to the same ns.

    Examples
    --------
    >>> format_duration(300_000_000_000), format_duration(5_400_000_000_000)
    ('5min', '90min')
    >>> format_duration(3_600_000_000_001)
    '1h1ns'
    """
    if isinstance(ns, (bool, np.bool_)) or int(ns) != ns or ns <= 0:
        raise ValueError(f"format_duration: need a positive int of ns, got {ns!r}")
    ns = int(ns)
    compound = _compound(ns)
    single = next(f"{ns // size}{unit}" for unit, size in _FORMAT_UNITS if ns % size == 0)
    return single if len(single) < len(compound) else compound


def parse_signed_duration(value: object, datetime_times: bool, where: str) -> int | float:
    """A duration that may be zero or negative, such as resample's ``offset=``.

    Same spellings as :func:`parse_duration`, with a leading ``-`` allowed on
    strings (``"-30min"``), negative timedeltas and numbers.

    Examples
    --------
    >>> parse_signed_duration("-30min", True, "resample")
    -1800000000000
    >>> parse_signed_duration(0, False, "resample")
    0
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: a duration cannot be a bool, got {value!r}")
    if not datetime_times:
        if isinstance(value, (int, float, np.integer, np.floating)) and value <= 0:
            if not math.isfinite(value):
                raise ValueError(f"{where}: offset must be finite, got {value!r}")
            return value.item() if isinstance(value, np.generic) else value
        return parse_duration(value, False, where)
    if isinstance(value, str):
        body = value.strip()
        sign = -1 if body.startswith("-") else 1
        return sign * parse_fixed_string(body.lstrip("+-"), where, allow_zero=True)
    if isinstance(value, (datetime.timedelta, np.timedelta64)) or hasattr(
            value, "to_timedelta64"):
        return _timedelta_ns(value, where)
    return parse_duration(value, True, where)


class Freq:
    """A parsed resampling frequency: ``n`` steps of a unit.

    ``kind`` is "fixed" (``ns`` long), "numeric" (numbers, width kept by the
    caller), "day" (local days), "week" (anchored on ``weekday``, Monday 0)
    or "month" (anchors every ``period`` months, 1, 3 or 12, on the months
    whose index since 1970-01 is ``phase`` modulo ``period``; ``end``: on
    the month's last day, else its first).  Anchors are numbered: anchor
    ``j`` falls on day ``anchor_day(j)`` since the epoch.

    Examples
    --------
    >>> freq = parse_freq("QE-NOV", True, "resample")
    >>> freq.anchor_day(np.array([0])).astype("datetime64[D]")  # first anchor from 1970
    array(['1970-02-28'], dtype='datetime64[D]')
    >>> int(freq.floor_anchor(0))       # 1970-01-01 comes after anchor -1 (1969-11-30)
    -1
    """

    def __init__(self, kind: str, n: int, ns: int = 0, weekday: int = 6, period: int = 1,
                 phase: int = 0, end: bool = False) -> None:
        self.kind, self.n, self.ns, self.weekday = kind, n, ns, weekday
        self.period, self.phase, self.end = period, phase, end

    def anchor_day(self, j: np.ndarray) -> np.ndarray:
        """Days since the epoch of anchors number `j` (int64 array)."""
        if self.kind == "day":
            return j
        if self.kind == "week":
            return 7 * j + (self.weekday - 3) % 7          # 1970-01-01 was a Thursday
        month = self.period * j + self.phase + int(self.end)
        first = month.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        return first - 1 if self.end else first

    def floor_anchor(self, day: int) -> int:
        """The largest anchor number whose day is <= `day`."""
        if self.kind == "day":
            return day
        if self.kind == "week":
            return (day - (self.weekday - 3) % 7) // 7
        month = int(np.array(day, "datetime64[D]").astype("datetime64[M]").astype(np.int64))
        j = (month - self.phase) // self.period
        if int(self.anchor_day(np.array([j]))[0]) > day:
            j -= 1
        return j


_CAL = re.compile(r"\s*(\d*)\s*(W|MS|ME|QS|QE|YS|YE|D|d)(?:-([A-Za-z]{3}))?\s*")


def parse_freq(freq: object, zoned: bool, where: str) -> Freq:
    """Parse a resampling frequency of datetime times (pandas 3's aliases).

    Parameters
    ----------
    freq : str or timedelta-like
        A fixed duration (see :func:`parse_fixed_string`; timedeltas are fixed)
        or ``W[-DAY]``, ``MS``, ``ME``, ``QS[-MON]``, ``QE[-MON]``, ``YS[-MON]``,
        ``YE[-MON]`` with an optional multiple, or ``nD``.
    zoned : bool
        Whether bins are computed in a time zone: then ``"nD"`` is n local
        calendar days (23 or 25 hours across DST), else ``n * 24`` hours, as
        pandas does (GH#44996).  Compound strings (``"1D2h"``) and timedeltas
        are always fixed.
    where : str
        Caller, for error messages.

    Returns
    -------
    Freq

    Examples
    --------
    >>> parse_freq("2MS", False, "resample").kind, parse_freq("2D", True, "resample").kind
    ('month', 'day')
    >>> parse_freq("90min", True, "resample").ns
    5400000000000
    """
    if isinstance(freq, (bool, np.bool_)):
        raise TypeError(f"{where}: freq cannot be a bool")
    if not isinstance(freq, str):
        return Freq("fixed", 1, ns=int(parse_duration(freq, True, where)))
    match = _CAL.fullmatch(freq)
    if match is None:
        head = re.fullmatch(r"\s*\d*\s*([A-Za-z]+)(?:-[A-Za-z]+)?\s*", freq)
        if head and head.group(1) in _REMOVED:
            raise ValueError(f"{where}: frequency {freq!r} is not a pandas 3 alias; write "
                             f"{_REMOVED[head.group(1)]!r} instead")
        if head and head.group(1).startswith(("B", "C", "SM")):
            raise ValueError(f"{where}: business and semi-month frequencies ({freq!r}) are "
                             f"not supported; use D, W, MS, ME, QS, QE, YS, YE or a duration")
        return Freq("fixed", 1, ns=parse_fixed_string(freq, where))
    count, unit, anchor = match.groups()
    n = int(count) if count else 1
    if n <= 0:
        raise ValueError(f"{where}: frequency {freq!r} must be positive")
    if unit in ("D", "d"):
        if anchor:
            raise ValueError(f"{where}: unknown frequency {freq!r}")
        if not zoned:             # pandas: on a naive index, Day is 24h (GH#44996)
            return Freq("fixed", 1, ns=n * DAY_NS)
        return Freq("day", n)
    if unit == "W":
        if anchor and anchor.upper() not in _WEEKDAYS:
            raise ValueError(f"{where}: unknown week day {anchor!r} in {freq!r} "
                             f"(one of {', '.join(_WEEKDAYS)})")
        day = _WEEKDAYS.index(anchor.upper()) if anchor else 6
        return Freq("week", n, weekday=day, end=True)
    if anchor and anchor.upper() not in _MONTHS:
        raise ValueError(f"{where}: unknown month {anchor!r} in {freq!r} (one of "
                         f"{', '.join(_MONTHS)})")
    if unit in ("MS", "ME"):
        if anchor:
            raise ValueError(f"{where}: unknown frequency {freq!r}")
        return Freq("month", n, period=1, end=unit == "ME")
    period = 3 if unit[0] == "Q" else 12
    default = 1 if unit.endswith("S") else 12
    month = _MONTHS.index(anchor.upper()) + 1 if anchor else default
    return Freq("month", n, period=period, phase=(month - 1) % period, end=unit.endswith("E"))
