"""Duration-window kernels (issue 19): window bounds from a time column and
statistics over the windows (C, ``csrc/timewin.c``).

The window of row ``i`` holds the rows ``j`` with ``t[j]`` in an interval of
width `width` ending at ``t[i]`` (``closed`` as pandas' offset windows:
``"right"`` = ``(t - w, t]``, ``"both"``, ``"left"``, ``"neither"``) as a
contiguous row range ``[start, end)``: :func:`window_starts` gives the starts,
and the end is ``i + 1`` for a closed right end, ``i`` for an open one (or,
with ``ends=`` from :func:`window_ends`, pandas' rule for repeated times, see
there).  :func:`time_window` computes a statistic (:data:`TIME_STATS`) per
window and per value of the record.

Every output is a function of the window's values and its *global* row
indices only (``base`` + row): sums and variances use the split rule of
``csrc/timewin.c`` (no value is ever subtracted), the order statistics are
exact.  So calling the kernel on [a tail of earlier records + a chunk] gives
the same bytes as one call over everything.

The slow twins are in :mod:`pystream.stages.time_twins`.
"""

from __future__ import annotations

import math

import numpy as np

from .._checks import as_int, check_ddof
from .._native import as_array, check_status, ffi, lib

__all__ = ["CLOSED", "TIME_STATS", "TimesOutOfOrder", "time_window", "window_ends",
           "window_starts"]


class TimesOutOfOrder(ValueError):
    """Times that go back: ``times[row] < times[row - 1]`` (:attr:`row`)."""

    def __init__(self, message: str, row: int) -> None:
        super().__init__(message)
        self.row = row

#: The statistics of :func:`time_window`, in the C enum's order (``PS_TW_*``).
TIME_STATS: tuple[str, ...] = ("sum", "mean", "var", "std", "min", "max", "argmin", "argmax",
                               "median", "quantile", "rank")

#: The ``closed`` values, as pandas' ``rolling(..., closed=...)``.
CLOSED: tuple[str, ...] = ("right", "both", "left", "neither")

_STAT_CODE = {name: code for code, name in enumerate(TIME_STATS)}


def _check_closed(closed: object, where: str) -> str:
    if closed not in CLOSED:
        raise ValueError(f"{where}: closed must be one of {CLOSED}, got {closed!r}")
    return str(closed)


def _index(value: object, name: str, where: str, minimum: int = 0) -> int:
    out = as_int(value, f"{name} must be an integer", where)
    if out < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {out}")
    return out


def _times(times: object, where: str) -> np.ndarray:
    t = as_array(times, f"{where}: times")
    if t.ndim != 1:
        raise ValueError(f"{where}: times must be 1-d, got shape {t.shape}")
    if t.dtype.kind == "i" or (t.dtype.kind == "u" and t.dtype.itemsize < 8):
        return np.ascontiguousarray(t, dtype=np.int64)
    if t.dtype.kind == "f":
        return np.ascontiguousarray(t, dtype=np.float64)
    raise TypeError(f"{where}: times must be int64 (e.g. nanoseconds since the epoch) or "
                    f"float64, got dtype {t.dtype} (convert datetime64 with .view('int64'))")


def window_starts(times: np.ndarray, width: int | float, closed: str = "right",
                  first: int = 0) -> np.ndarray:
    """The first row of the window of each row ``first .. n-1``.

    Parameters
    ----------
    times : ndarray
        1-d, int64 (nanoseconds, or integer numeric times) or float64
        (numeric times), non-decreasing (checked: a decreasing or, for
        float64, non-finite time raises).
    width : int or float
        The window's duration, > 0: an integer for int64 times, a float for
        float64 times (``inf`` allowed: every earlier row).
    closed : {"right", "both", "left", "neither"}
        Which ends of ``(t - width, t]`` are closed; only the left end
        matters here.
    first : int
        The first row whose start is wanted, ``0 <= first <= n``.

    Returns
    -------
    ndarray
        int64 of length ``n - first``: ``out[k]`` is the least ``j`` with
        ``times[first + k] - times[j] < width`` (``<= width`` for a closed
        left end), compared exactly (no overflow near the int64 limits; the
        exact real difference for float64 times: pandas compares with the
        rounded ``t - width`` instead, which can differ by one row when that
        rounding crosses a time).

    Raises
    ------
    TypeError, ValueError
        For a bad argument, naming it (and the row of a decreasing time).

    Examples
    --------
    >>> t = np.array([0, 1, 1, 3, 6], dtype=np.int64)
    >>> window_starts(t, 2).tolist()
    [0, 0, 0, 3, 4]
    >>> window_starts(t, 2, closed="both").tolist()
    [0, 0, 0, 1, 4]
    >>> window_starts(t, 2, first=3).tolist()
    [3, 4]
    """
    where = "window_starts"
    t, closed, n, first = _rows_from(times, closed, first, where)
    left_closed = closed in ("both", "left")
    out = np.empty(n - first, dtype=np.int64)
    bad = ffi.new("int64_t *")
    optr = ffi.from_buffer("int64_t[]", out)
    if t.dtype == np.int64:
        w = _index(width, "width (int64 times)", where, minimum=1)
        if w > 2**63 - 1:
            raise ValueError(f"{where}: width must fit in int64, got {w}")
        status = lib.ps_tw_starts_i64(ffi.from_buffer("int64_t[]", t), n, w, left_closed,
                                      first, optr, bad)
    else:
        if isinstance(width, (bool, np.bool_)) or not isinstance(width, (int, float, np.number)):
            raise TypeError(f"{where}: width must be a number for float64 times, got {width!r}")
        w = float(width)
        if not w > 0:
            raise ValueError(f"{where}: width must be > 0, got {width!r}")
        status = lib.ps_tw_starts_f64(ffi.from_buffer("double[]", t), n, w, left_closed,
                                      first, optr, bad)
    if bad[0] >= 0:
        i = int(bad[0])
        if t.dtype == np.float64 and not math.isfinite(t[i]):
            raise ValueError(f"{where}: times[{i}] = {t[i]} is not finite")
        raise TimesOutOfOrder(f"{where}: times must be non-decreasing; times[{i}] = {t[i]} < "
                              f"times[{i - 1}] = {t[i - 1]}", i)
    check_status(status, where)
    return out


def window_ends(times: np.ndarray, closed: str = "right", first: int = 0) -> np.ndarray:
    """Window ends by pandas' rule: the rows after the window's last row.

    For a closed right end the window of row ``i`` ends at ``i`` itself
    (``i + 1``), as :func:`time_window`'s default.  For an open right end
    pandas ends it at the first row whose time equals ``t[i]``: earlier rows
    with the same time are *not* in the window (``t[j] < t[i]`` exactly),
    where the default (``i``) includes them.  Pass the result as
    ``time_window(..., ends=...)`` to follow pandas there.

    Parameters
    ----------
    times : ndarray
        As :func:`window_starts` (non-decreasing; not checked again here).
    closed : {"right", "both", "left", "neither"}
    first : int
        The first row whose end is wanted.

    Returns
    -------
    ndarray
        int64 of length ``n - first``.

    Examples
    --------
    >>> t = np.array([0, 1, 1, 1, 2], dtype=np.int64)
    >>> window_ends(t, "left").tolist()
    [0, 1, 1, 1, 4]
    >>> window_ends(t, "right", first=3).tolist()
    [4, 5]
    """
    where = "window_ends"
    t, closed, n, first = _rows_from(times, closed, first, where)
    right_closed = closed in ("right", "both")
    rows = np.arange(first, n, dtype=np.int64)
    if right_closed:
        return rows + 1
    new = np.ones(n, dtype=bool)
    new[1:] = t[1:] != t[:-1]  # the first row of each run of equal times
    run_start = np.maximum.accumulate(np.where(new, np.arange(n, dtype=np.int64), 0))
    return np.ascontiguousarray(run_start[first:])


def _rows_from(times: object, closed: object, first: object, where: str
               ) -> tuple[np.ndarray, str, int, int]:
    """The checked times, `closed`, their count and `first` (in ``[0, n]``)."""
    t = _times(times, where)
    c = _check_closed(closed, where)
    n = len(t)
    f = _index(first, "first", where)
    if f > n:
        raise ValueError(f"{where}: first must be in [0, len(times)={n}], got {f}")
    return t, c, n, f


def _bounds(a: object, name: str, length: int, where: str) -> np.ndarray:
    arr = as_array(a, f"{where}: {name}")
    if arr.ndim != 1 or len(arr) != length:
        raise ValueError(f"{where}: {name} must be 1-d of length {length} (rows first .. n-1), "
                         f"got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{where}: {name} must hold integers (row indices), got {arr.dtype}")
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 8 and length and arr.max() > 2**62:
        raise ValueError(f"{where}: {name} holds a row index out of range")
    return np.ascontiguousarray(arr, dtype=np.int64)


def time_window(stat: str, values: np.ndarray, starts: np.ndarray, first: int, closed: str,
                base: int, min_count: int = 1, nan_policy: str = "omit", ddof: float = 1.0,
                q: float | None = None, *, ends: np.ndarray | None = None) -> np.ndarray:
    """A statistic over duration windows given as row ranges.

    Parameters
    ----------
    stat : str
        One of :data:`TIME_STATS`.  ``argmin`` / ``argmax`` count back from
        the newest row of the window (0 = newest, ties to the newest, as
        ``moving_argmin``); ``rank`` is bottleneck's ``move_rank`` of the
        newest row of the window (NaN when it is NaN, 0 when alone);
        ``quantile`` is ``np.quantile``'s "linear" method.
    values : ndarray
        ``(n, width)`` (or 1-d: ``(n, 1)``) numbers, converted to
        C-contiguous float64 (a copy when needed; the input is never written).
    starts : ndarray
        Length ``n - first``: the first row of each window (from
        :func:`window_starts`), non-decreasing, in ``[0, end]``.
    first : int
        The row of the first output, ``0 <= first <= n``.
    closed : {"right", "both", "left", "neither"}
        The window of output ``k`` ends at ``first + k + 1`` for a closed
        right end (``"right"``, ``"both"``), else at ``first + k``.
    base : int
        Global index of row 0 (>= 0): the split rule of the sums and
        variances works on global rows, so any cut of a stream into calls
        (each with enough earlier rows for its windows) gives the same bytes.
    min_count : int
        Least number of non-NaN values for a non-NaN output (>= 1).
    nan_policy : {"omit", "propagate"}
        ``"propagate"``: a window holding a NaN gives NaN.
    ddof : float
        ``var`` / ``std``: divisor ``count - ddof`` (NaN while <= 0).
    q : float, optional
        ``quantile`` only (required there): in [0, 1].
    ends : ndarray, optional
        Explicit window ends (length ``n - first``, non-decreasing, in
        ``[start, n]``), e.g. :func:`window_ends` for pandas' rule with
        repeated times and an open right end; overrides `closed`.

    Returns
    -------
    ndarray
        float64 ``(n - first, width)`` (1-d for 1-d `values`); a new array.

    Raises
    ------
    TypeError, ValueError
        For bad arguments, naming the argument (and the window at fault).
    MemoryError
        When the O(n) scratch memory is not available.

    Examples
    --------
    >>> t = np.array([0, 1, 1, 3, 6], dtype=np.int64)
    >>> x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    >>> s = window_starts(t, 2)
    >>> time_window("sum", x, s, 0, "right", 0).tolist()
    [1.0, 3.0, 7.0, 8.0, 16.0]
    >>> time_window("argmax", x, s, 0, "right", 0).tolist()
    [0.0, 0.0, 0.0, 0.0, 0.0]
    >>> time_window("quantile", x, s, 0, "right", 0, q=0.5).tolist()
    [1.0, 1.5, 2.0, 8.0, 16.0]
    """
    where = f"time_window({stat!r})"
    if stat not in _STAT_CODE:
        raise ValueError(f"time_window: unknown stat {stat!r}; expected one of {TIME_STATS}")
    arr = as_array(values, f"{where}: values")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{where}: values must be real numbers, got dtype {arr.dtype}")
    one_d = arr.ndim == 1
    if arr.ndim not in (1, 2):
        raise ValueError(f"{where}: values must be 1-d or (n, width), got shape {arr.shape}")
    x = np.ascontiguousarray(arr.reshape(-1, 1) if one_d else arr, dtype=np.float64)
    n, width = x.shape
    if width == 0:
        raise ValueError(f"{where}: records of shape {arr.shape[1:]} hold no values")
    first = _index(first, "first", where)
    if first > n:
        raise ValueError(f"{where}: first must be in [0, n={n}], got {first}")
    nout = n - first
    s = _bounds(starts, "starts", nout, where)
    end0 = first + (_check_closed(closed, where) in ("right", "both"))
    e = None if ends is None else _bounds(ends, "ends", nout, where)
    base = _index(base, "base", where)
    if base > 2**63 - 1 - n:
        raise ValueError(f"{where}: base + n must fit in int64, got base={base}, n={n}")
    min_count = _index(min_count, "min_count", where, minimum=1)
    if nan_policy not in ("omit", "propagate"):
        raise ValueError(f"{where}: nan_policy must be 'omit' or 'propagate', got {nan_policy!r}"
                         " ('raise' is the caller's check)")
    ddof_f = float(check_ddof(ddof, where))
    q_f = math.nan
    if stat == "quantile":
        if q is None:
            raise TypeError(f"{where}: q (the quantile, in [0, 1]) is required")
        if isinstance(q, (bool, np.bool_)) or not isinstance(q, (int, float, np.number)):
            raise TypeError(f"{where}: q must be a number in [0, 1], got {q!r}")
        q_f = float(q)
        if not 0.0 <= q_f <= 1.0:
            raise ValueError(f"{where}: q must be in [0, 1], got {q!r}")
    elif q is not None:
        raise TypeError(f"{where}: q applies to stat='quantile' only")
    if stat in ("median", "quantile", "rank") and n >= 2**31 - 1:
        raise ValueError(f"{where}: at most 2**31 - 2 rows per call for {stat}, got {n}")
    out = np.empty((nout, width), dtype=np.float64)
    bad = ffi.new("int64_t *")
    status = lib.ps_tw_window(_STAT_CODE[stat], ffi.from_buffer("double[]", x), n, width,
                              ffi.from_buffer("int64_t[]", s),
                              ffi.NULL if e is None else ffi.from_buffer("int64_t[]", e), end0,
                              nout, base, min_count, nan_policy == "propagate", ddof_f, q_f,
                              ffi.from_buffer("double[]", out), bad)
    if bad[0] >= 0:
        k = int(bad[0])
        raise ValueError(f"{where}: window {k} (row {first + k}) is [start={s[k]}, "
                         f"end={end0 + k if e is None else e[k]}): starts and ends must be "
                         f"non-decreasing with "
                         f"0 <= start <= end <= n={n}")
    check_status(status, where)
    return out[:, 0] if one_d else out
