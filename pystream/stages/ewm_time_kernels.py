"""EWM mean / var / std over irregular times (C kernel ``csrc/ewm_time.c``).

``ewm_mean/var/std(halflife="10s", times=...)``: the weight of the
observation j at the time t_i of row i is ``0.5 ** ((t_i - t_j) / h)``
(pandas' ``Series.ewm(halflife=h, times=t)``).  The semantics, and where
they differ from pandas and polars (their issues #54328, #51695, #66523,
#54604, polars #21015), are on the user page ``docs/time_ewm.rst``; the
recurrences are in ``csrc/ewm_time.c``.  The slow twin is
:func:`pystream.stages.time_reduce_twins.slow_ewm_time`.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from .._checks import StateLock, adopt_arrays, check_count
from .._native import check_status, ffi, lib
from .bin_kernels import as_values

__all__ = ["EWM_TIME_STATS", "EwmTimeState", "as_times"]

#: The statistics of :class:`EwmTimeState`, in the order of the C codes.
EWM_TIME_STATS: tuple[str, ...] = ("mean", "var", "std")

_SLOTS = int(lib.PS_EWMT_SLOTS)


def as_times(times: Any, n: int, where: str) -> np.ndarray:
    """``times`` as a contiguous int64 (integer / datetime64 input) or float64 array.

    datetime64 of any unit becomes int64 nanoseconds since the epoch.

    Raises
    ------
    TypeError
        For another dtype.
    ValueError
        For a length other than ``n``, NaT, or unsigned values beyond int64.

    Examples
    --------
    >>> as_times(np.array(["2020-01-01"], dtype="datetime64[s]"), 1, "f")
    array([1577836800000000000])
    """
    a = np.asarray(times)
    if a.shape != (n,):
        raise ValueError(f"{where}: times must have shape ({n},) like the values, got {a.shape}")
    if a.dtype.kind == "M":
        nat = np.isnat(a)
        if nat.any():
            raise ValueError(f"{where}: times at row {int(np.argmax(nat))} is NaT")
        return np.ascontiguousarray(a.astype("datetime64[ns]").view(np.int64))
    if a.dtype.kind in "iu":
        if a.dtype.kind == "u" and a.dtype.itemsize == 8 and n and \
                int(a.max()) > np.iinfo(np.int64).max:
            row = int(np.argmax(a > np.iinfo(np.int64).max))
            raise ValueError(f"{where}: times at row {row} ({a[row]}) exceeds the int64 range")
        return np.ascontiguousarray(a, dtype=np.int64)
    if a.dtype.kind == "f":
        return np.ascontiguousarray(a, dtype=np.float64)
    raise TypeError(f"{where}: times must be int64 (e.g. ns since the epoch), datetime64 or "
                    f"float, got dtype {a.dtype}")


def _flag(value: object, name: str, where: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be True or False, got {value!r}")
    return bool(value)


class EwmTimeState:
    """Streaming EWM mean / var / std with time-based weights.

    Parameters
    ----------
    stat : {"mean", "var", "std"}
        The statistic.
    halflife : float
        > 0, in the units of the times (nanoseconds for datetime times).
    width : int
        Values per record.
    adjust : bool
        True: the weighted average of all observations with weights
        ``0.5 ** ((t_i - t_j) / h)``.  False: the recursive form
        ``y_i = (1 - a_i) y_prev + a_i x_i``, ``a_i = 1 - 0.5 ** (dt_i / h)``
        (pandas >= 3.0 with times, polars' ``ewm_mean_by``).
    ignore_na : bool
        Accepted for pandas compatibility; with times it changes nothing: a
        missing value is not an observation, and the weights are those of the
        formula over the observations' times (pandas' ``ignore_na=True``
        forgets the time spanned by missing rows, pandas #54604).
    min_periods : int
        Output NaN while fewer non-missing values were seen (0 is 1, as pandas).
    bias : bool
        var / std only: False applies pandas' bias correction
        ``sum_wt**2 / (sum_wt**2 - sum_wt2)``.

    Notes
    -----
    Missing values are NaN and ±inf (as pandas' window functions).  Times are
    int64 or float64 and non-decreasing, also across calls; duplicate times
    give dt = 0, weight factor 1 (pandas does the same).  var / std with
    times are our extension (pandas raises NotImplementedError); with times
    0, 1, 2, ... they equal pandas' ``ewm(halflife=h).var()`` / ``.std()``.
    The state is a few numpy arrays: the object pickles, and a restored
    checkpoint resumes bit for bit; any chunking gives the same bits.

    Examples
    --------
    >>> e = EwmTimeState("mean", halflife=1.0, width=1)
    >>> e.update(np.array([1.0, 3.0]), np.array([0, 1]))
    array([1.        , 2.33333333])
    >>> e.update(np.array([np.nan, 3.0]), np.array([5, 5]))
    array([2.33333333, 2.94285714])
    """

    def __init__(self, stat: str, halflife: float, width: int, adjust: bool = True,
                 ignore_na: bool = False, min_periods: int = 0, bias: bool = False) -> None:
        where = "EwmTimeState"
        if stat not in EWM_TIME_STATS:
            raise ValueError(f"{where}: stat must be one of {EWM_TIME_STATS}, got {stat!r}")
        if isinstance(halflife, bool) or not isinstance(halflife, (int, float, np.number)):
            raise TypeError(f"{where}: halflife must be a number, got {halflife!r}")
        h = float(halflife)
        if not (math.isfinite(h) and h > 0):
            raise ValueError(f"{where}: halflife must be finite and > 0, got {halflife!r}")
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
            raise ValueError(f"{where}: width must be an integer >= 1, got {width!r}")
        self.stat = stat
        self.halflife = h
        self.width = int(width)
        self.adjust = _flag(adjust, "adjust", where)
        self.ignore_na = _flag(ignore_na, "ignore_na", where)
        self.min_periods = check_count(min_periods, "min_periods", where)
        self.bias = _flag(bias, "bias", where)
        self._kind = EWM_TIME_STATS.index(stat)
        self.st = np.empty(self.width * _SLOTS, dtype=np.float64)
        self.nobs = np.zeros(self.width, dtype=np.int64)
        self.seen = np.zeros(1, dtype=np.int64)
        self.last: np.ndarray | None = None  # times dtype, width + 1; set at the first rows
        self._lock = threading.Lock()
        check_status(lib.ps_ewmt_reset(self._kind, ffi.from_buffer("double[]", self.st),
                                       ffi.from_buffer("int64_t[]", self.nobs),
                                       ffi.from_buffer("int64_t[]", self.seen), self.width), where)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        fresh = EwmTimeState(state["stat"], state["halflife"], state["width"], state["adjust"],
                             state["ignore_na"], state["min_periods"], state["bias"])
        adopt_arrays(fresh, state, ("st", "nobs", "seen"), "EwmTimeState")
        last = state.get("last")
        if last is not None:
            if not isinstance(last, np.ndarray) or last.dtype not in (np.int64, np.float64) or \
                    last.shape != (fresh.width + 1,):
                raise ValueError("EwmTimeState: corrupt state: last must be int64 or float64 "
                                 f"of shape ({fresh.width + 1},)")
            fresh.last = np.ascontiguousarray(last).copy()
        if fresh.seen[0] not in (0, 1) or (fresh.nobs < 0).any() or \
                (fresh.seen[0] == 1) != (fresh.last is not None):
            raise ValueError("EwmTimeState: corrupt state: inconsistent counts")
        self.__dict__.update(fresh.__dict__)

    def update(self, values: np.ndarray, times: np.ndarray) -> np.ndarray:
        """The statistic at every row.

        Parameters
        ----------
        values : ndarray
            ``(n, width)`` real values (1-d in, 1-d out when ``width == 1``).
        times : ndarray
            ``(n,)`` int64 (or datetime64, as ns) or float times, non-decreasing,
            also after the previous call's last row.  The first call fixes the
            kind (integer or float) for the state's life.

        Returns
        -------
        ndarray
            float64, the shape of ``values``.

        Raises
        ------
        ValueError
            For a time smaller than the one before it, or a non-finite float
            time (naming the row); the state is then unchanged.
        TypeError
            For times of the other kind than in the first call.
        """
        where = f"ewm_{self.stat}(times=...)"
        one_d = np.ndim(values) == 1
        v = as_values(values, self.width, where)
        n = v.shape[0]
        t = as_times(times, n, where)
        is_int = t.dtype == np.int64
        if self.last is None:
            if not n:
                return np.empty(0) if one_d else np.empty((0, self.width))
            self.last = np.zeros(self.width + 1, dtype=t.dtype)
        elif self.last.dtype != t.dtype:
            raise TypeError(f"{where}: times are {t.dtype} but this state was started with "
                            f"{self.last.dtype} times")
        out = np.empty((n, self.width), dtype=np.float64)
        bad = ffi.new("int64_t *")
        null = ffi.NULL
        with StateLock(self._lock, where):
            previous = self.last[self.width] if self.seen[0] else None
            status = lib.ps_ewmt_update(
                self._kind, int(self.adjust), int(self.bias), max(self.min_periods, 1),
                self.halflife, self.width, ffi.from_buffer("double[]", self.st),
                ffi.from_buffer("int64_t[]", self.nobs), ffi.from_buffer("int64_t[]", self.seen),
                ffi.from_buffer("int64_t[]", self.last) if is_int else null,
                null if is_int else ffi.from_buffer("double[]", self.last),
                ffi.from_buffer("double[]", v),
                ffi.from_buffer("int64_t[]", t) if is_int else null,
                null if is_int else ffi.from_buffer("double[]", t),
                n, ffi.from_buffer("double[]", out), bad)
        if status == lib.PS_ERR_ARG and bad[0] >= 0:
            row = int(bad[0])
            if not is_int and not math.isfinite(t[row]):
                raise ValueError(f"{where}: times at row {row} is {t[row]}, not a finite time")
            before = t[row - 1] if row else previous
            raise ValueError(f"{where}: times must be non-decreasing: row {row} has time {t[row]} "
                             f"after {before}{' (the last time of the previous call)' if not row else ''}")
        check_status(status, where)
        return out[:, 0] if one_d else out
