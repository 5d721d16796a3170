"""``ewm_cov`` / ``ewm_corr`` over irregular times (:class:`EwmPairsTime`):
``ewm_cov(halflife="10s")`` or ``ewm_cov(halflife=2.0, times=True)``.

The weight of a pair's observation at time t_j in the output at t_i is
``0.5 ** ((t_i - t_j) / halflife)``, as :class:`~pystream.stages.time_ewm.EwmTime`
for ``ewm_var``; missing values neither add weight nor decay anything (the
time they span counts at the pair's next observation).  The kernel is
``csrc/ewm_pairs.c`` (``ps_ewmc_update_times``); the state is numpy arrays,
carried across chunks, so any chunking gives the same bytes.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._checks import StateLock, adopt_arrays, check_count
from .._columns import TimeColumn
from .._native import check_status, ffi, kernel_dtype, lib
from .._timeunits import parse_duration
from .ewm_pairs_kernel import EWM_PAIR_STATS, pair_flag, pair_width, pick_columns
from .ewm_time_kernels import as_times
from .kernel import to_float64_rows
from .timed import Duration, TimedPusher, TimedStage, Triple, time_values

__all__ = ["EwmPairsTime", "EwmPairsTimeState"]

_SLOTS = int(lib.PS_EWMC_SLOTS)


class EwmPairsTimeState:
    """The state of an EWM covariance / correlation over times.

    Parameters
    ----------
    stat : {"cov", "corr"}
    halflife : float
        In the units of the times (ns for calendar times).
    d : int
        Values per record, at least 2.
    adjust : bool, default True
    min_periods : int, default 0
    bias : bool, default False
        ``cov`` only.

    Examples
    --------
    >>> e = EwmPairsTimeState("cov", 1.0, 2)
    >>> e.update(np.array([[1.0, 2.0], [2.0, 1.0], [4.0, 0.0]]), np.array([0, 1, 3]))
    array([        nan, -0.5       , -1.57692308])
    """

    def __init__(self, stat: str, halflife: float, d: int, adjust: bool = True,
                 min_periods: int = 0, bias: bool = False) -> None:
        where = "EwmPairsTimeState"
        if stat not in EWM_PAIR_STATS:
            raise ValueError(f"{where}: stat must be one of {EWM_PAIR_STATS}, got {stat!r}")
        if isinstance(halflife, bool) or not isinstance(halflife, (int, float, np.number)) \
                or not (math.isfinite(float(halflife)) and float(halflife) > 0):
            raise ValueError(f"{where}: halflife must be a finite number > 0, got {halflife!r}")
        npairs = int(lib.ps_ewmc_npairs(int(d))) if 2 <= d <= 2**40 else -1
        if npairs < 1:
            raise ValueError(f"{where}: records of {d} values: a multivariate statistic "
                             "needs records of at least 2 columns (and at most 2**20)")
        self.stat, self.halflife, self.d = stat, float(halflife), int(d)
        self.adjust = pair_flag(adjust, "adjust", where)
        self.min_periods = check_count(min_periods, "min_periods", where)
        self.bias = pair_flag(bias, "bias", where)
        if self.bias and stat == "corr":
            raise TypeError("ewm_corr: bias applies to ewm_cov only (the correlation has none)")
        self.st = np.empty(npairs * _SLOTS, dtype=np.float64)
        self.nobs = np.zeros(npairs, dtype=np.int64)
        self.last: np.ndarray | None = None  # per pair, int64 or float64: set by the first times
        self._lock = threading.Lock()
        check_status(lib.ps_ewmc_reset(ffi.from_buffer("double[]", self.st),
                                       ffi.from_buffer("int64_t[]", self.nobs), npairs), where)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        try:
            fresh = EwmPairsTimeState(state["stat"], state["halflife"], state["d"],
                                      state["adjust"], state["min_periods"], state["bias"])
        except KeyError as e:
            raise ValueError(f"EwmPairsTimeState: corrupt state: {e.args[0]} is missing") from None
        adopt_arrays(fresh, state, ("st", "nobs"), "EwmPairsTimeState")
        last = state.get("last")
        if last is not None:
            if not isinstance(last, np.ndarray) or last.dtype not in (np.int64, np.float64) or \
                    last.shape != fresh.nobs.shape:
                raise ValueError("EwmPairsTimeState: corrupt state: last must be int64 or "
                                 f"float64 of shape {fresh.nobs.shape}")
            fresh.last = np.ascontiguousarray(last).copy()
        if (fresh.nobs < 0).any() or ((fresh.nobs > 0).any() and fresh.last is None):
            raise ValueError("EwmPairsTimeState: corrupt state: inconsistent counts")
        self.__dict__.update(fresh.__dict__)

    def update(self, rows: np.ndarray, times: np.ndarray) -> np.ndarray:
        """The statistic at every record.

        Parameters
        ----------
        rows : ndarray
            ``(n, d)`` real values.
        times : ndarray
            ``(n,)`` int64 (or datetime64) or float times, non-decreasing (the
            stage checks the order); the first call fixes their kind.

        Returns
        -------
        ndarray
            float64, ``(n,)`` for d == 2, ``(n, d, d)`` beyond.
        """
        where = f"ewm_{self.stat}(times=...)"
        a = to_float64_rows(rows, where)
        if a.shape[1] != self.d or np.ndim(rows) != 2:
            raise ValueError(f"{where}: records of shape {np.shape(rows)[1:]}, this state "
                             f"expects ({self.d},)")
        n = a.shape[0]
        t = as_times(times, n, where)
        out = np.empty((n,) if self.d == 2 else (n, self.d, self.d))
        if not n:
            return out
        if self.last is None:
            self.last = np.zeros(len(self.nobs), dtype=t.dtype)
        elif self.last.dtype != t.dtype:
            raise TypeError(f"{where}: times are {t.dtype} but this state was started with "
                            f"{self.last.dtype} times")
        is_int = t.dtype == np.int64
        null = ffi.NULL
        with StateLock(self._lock, where):
            status = lib.ps_ewmc_update_times(
                EWM_PAIR_STATS.index(self.stat), int(self.adjust), int(self.bias),
                max(self.min_periods, 1), self.halflife, self.d,
                ffi.from_buffer("double[]", self.st), ffi.from_buffer("int64_t[]", self.nobs),
                ffi.from_buffer("int64_t[]", self.last) if is_int else null,
                null if is_int else ffi.from_buffer("double[]", self.last),
                ffi.from_buffer("double[]", a),
                ffi.from_buffer("int64_t[]", t) if is_int else null,
                null if is_int else ffi.from_buffer("double[]", t), n,
                ffi.from_buffer("double[]", out))
        check_status(status, where)
        return out


class EwmPairsTime(TimedStage):
    """``ewm_cov`` / ``ewm_corr`` whose decay follows the time column.

    Parameters
    ----------
    name : {"ewm_cov", "ewm_corr"}
    halflife : str, timedelta, Duration or float
        The time over which a weight halves (``"10s"``, or a number in the
        units of a numeric time column).
    times : True or str
        The stream's time column (True, or its name).
    min_periods, adjust, bias
        As the count-based stages.
    ignore_na : bool
        Accepted, no effect: over times a missing value never decays the
        weights (the time it spans counts at the next observation).
    columns, names
        As :class:`~pystream.stages.ewm_pairs.EwmPairs`.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> t = np.array([0, 1, 3], dtype="datetime64[s]")
    >>> x = np.array([[1.0, 2.0], [2.0, 1.0], [4.0, 0.0]])
    >>> ps.from_array(x, time=t).ewm_cov(halflife="1s").to_array()
    array([        nan, -0.5       , -1.57692308])
    """

    def __init__(self, name: str, halflife: Any, times: Any = True, min_periods: int = 0,
                 adjust: bool = True, ignore_na: bool = False, bias: bool = False,
                 columns: Any = None, names: Sequence[str] | None = None) -> None:
        if name not in ("ewm_cov", "ewm_corr"):
            raise ValueError(f"EwmPairsTime: unknown stage {name!r}")
        self.name = name
        if halflife is None:
            raise TypeError(f"{name}: an EWM over times takes its decay as halflife= "
                            "(a duration such as '10s'); com, span and alpha count records")
        self.halflife_value = halflife.value if isinstance(halflife, Duration) else halflife
        if times is not None and times is not True and not isinstance(times, str):
            raise TypeError(f"{name}: times must be True or the name of the stream's time "
                            f"column (the times travel with the stream), got {type(times).__name__}")
        self.times = times
        self.min_periods = check_count(min_periods, "min_periods", name)
        self.adjust = pair_flag(adjust, "adjust", name)
        pair_flag(ignore_na, "ignore_na", name)
        self.bias = pair_flag(bias, "bias", name)
        if self.bias and name == "ewm_corr":
            raise TypeError("ewm_corr: bias applies to ewm_cov only (the correlation has none)")
        self.columns = columns
        self.names = None if names is None else tuple(names)
        if columns is not None:
            pick_columns(columns, 2**62, self.names if self.names else None, name)
        self.halflife: float | None = None
        if isinstance(self.halflife_value, str) or not isinstance(
                self.halflife_value, (int, float, np.number)):
            parse_duration(self.halflife_value, True, name)

    def __repr__(self) -> str:
        return f"EwmPairsTime({self.name}: halflife={self.halflife_value!r})"

    def _bound(self) -> None:
        time: TimeColumn | None = self.time
        assert time is not None
        if isinstance(self.times, str) and time.name is not None and self.times != time.name:
            raise ValueError(f"{self.name}: times={self.times!r}, but the stream's time column "
                             f"is {time.name!r} (a stream has one time column)")
        self.halflife = float(parse_duration(self.halflife_value, time.is_datetime, self.name))

    def output_meta(self, dtype: np.dtype, record_shape: tuple[int, ...]
                    ) -> tuple[np.dtype, tuple[int, ...]]:
        """float64: one value per record for 2 columns, a (d, d) matrix for d > 2."""
        kernel_dtype(dtype, self.name)
        d, _ = pair_width(self.name, tuple(record_shape), self.columns, self.names)
        return np.dtype(np.float64), (() if d == 2 else (d, d))

    def push_timed(self, start: int = 0) -> _EwmPairsTimePusher:
        """A fresh push form (send a chunk with its times, get its outputs)."""
        if self.halflife is None:
            raise TypeError(f"{self.name}: the stage is not bound to a time column (bind())")
        return _EwmPairsTimePusher(self, start)


class _EwmPairsTimePusher(TimedPusher):
    def __init__(self, stage: EwmPairsTime, start: int) -> None:
        super().__init__(stage, start)
        self.state: EwmPairsTimeState | None = None
        self.picked: list[int] | None = None

    def _send(self, values: np.ndarray, time: np.ndarray, key: np.ndarray | None) -> list[Triple]:
        stage = self.stage
        assert isinstance(stage, EwmPairsTime) and stage.halflife is not None
        if self.state is None:
            d, self.picked = pair_width(stage.name, tuple(values.shape[1:]), stage.columns,
                                        stage.names)
            self.state = EwmPairsTimeState(stage.name.removeprefix("ewm_"), stage.halflife, d,
                                           stage.adjust, stage.min_periods, stage.bias)
        if self.picked is not None:
            values = values[:, self.picked]
        out = self.state.update(self.rows(values, "omit"), time_values(time))
        return [(out, time, key)]
