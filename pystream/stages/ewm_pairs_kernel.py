"""The state of the EWM covariance / correlation kernel (``csrc/ewm_pairs.c``),
:class:`EwmPairsState`, and the column choice and record checks the
``ewm_cov`` / ``ewm_corr`` stages share (:mod:`pystream.stages.ewm_pairs`,
:mod:`pystream.stages.ewm_pairs_time`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._checks import StateLock, adopt_arrays, check_count
from .._columns import column_positions
from .._native import check_status, ffi, lib
from .kernel import to_float64_rows

__all__ = ["EWM_PAIR_STATS", "EwmPairsState", "pair_flag", "pair_width", "pick_columns"]

#: The statistics of :class:`EwmPairsState`, in the order of the C codes.
EWM_PAIR_STATS: tuple[str, ...] = ("cov", "corr")
_SLOTS = int(lib.PS_EWMC_SLOTS)
_F8 = np.dtype(np.float64)
_U1 = np.dtype(np.uint8)


def pair_flag(value: object, name: str, where: str) -> bool:
    if not isinstance(value, (bool, np.bool_, int)) or value not in (0, 1):
        raise TypeError(f"{where}: {name} must be True or False, got {value!r}")
    return bool(value)


class EwmPairsState:
    """The state of an EWM covariance / correlation over records of `d` values.

    Parameters
    ----------
    stat : {"cov", "corr"}
    alpha : float
        Smoothing factor in (0, 1] (see :func:`pystream.stages.ewm.resolve_alpha`).
    d : int
        Values per record, at least 2.
    adjust, ignore_na : bool
        pandas' meanings.
    min_periods : int, default 0
        Least number of observations of a pair for a non-NaN output.
    bias : bool, default False
        ``cov`` only: the biased estimate.

    Notes
    -----
    The state is numpy arrays (it pickles; a restored state resumes bit for
    bit), and any chunking gives the same bits.  One thread at a time.

    Examples
    --------
    >>> e = EwmPairsState("cov", alpha=0.5, d=2)
    >>> e.update(np.array([[1.0, 2.0], [2.0, 1.0], [4.0, 0.0]]))
    array([ nan, -0.5, -1.5])
    """

    def __init__(self, stat: str, alpha: float, d: int, adjust: bool = True,
                 ignore_na: bool = False, min_periods: int = 0, bias: bool = False) -> None:
        where = "EwmPairsState"
        if stat not in EWM_PAIR_STATS:
            raise ValueError(f"{where}: stat must be one of {EWM_PAIR_STATS}, got {stat!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) \
                or not 0 < float(alpha) <= 1:
            raise ValueError(f"{where}: alpha must be a number in (0, 1], got {alpha!r}")
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"{where}: d must be an integer, got {d!r}")
        npairs = int(lib.ps_ewmc_npairs(int(d))) if 2 <= d <= 2**40 else -1
        if npairs < 1:
            raise ValueError(f"{where}: records of {d} values: a multivariate statistic "
                             "needs records of at least 2 columns (and at most 2**20)")
        self.stat = stat
        self.alpha = float(alpha)
        self.d = int(d)
        self.adjust = pair_flag(adjust, "adjust", where)
        self.ignore_na = pair_flag(ignore_na, "ignore_na", where)
        self.min_periods = check_count(min_periods, "min_periods", where)
        self.bias = pair_flag(bias, "bias", where)
        if self.bias and stat == "corr":
            raise TypeError("ewm_corr: bias applies to ewm_cov only (the correlation has none)")
        self.st = np.empty(npairs * _SLOTS, dtype=np.float64)
        self.nobs = np.zeros(npairs, dtype=np.int64)
        self.position = 0
        self._bind()
        check_status(lib.ps_ewmc_reset(self._c[0], self._c[1], npairs), where)

    def _bind(self) -> None:
        """The lock, and the C view of the state arrays and the fixed arguments
        (made once, not per chunk)."""
        self._lock = threading.Lock()
        self._c = (ffi.from_buffer("double[]", self.st), ffi.from_buffer("int64_t[]", self.nobs))
        self._args = (EWM_PAIR_STATS.index(self.stat), int(self.adjust), int(self.ignore_na),
                      int(self.bias), max(self.min_periods, 1), self.alpha, self.d)
        self._shape = () if self.d == 2 else (self.d, self.d)
        self._width = math.prod(self._shape)

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Shape of one output record: ``()`` for a pair, ``(d, d)`` beyond."""
        return self._shape

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        try:
            fresh = EwmPairsState(state["stat"], state["alpha"], state["d"], state["adjust"],
                                  state["ignore_na"], state["min_periods"], state["bias"])
        except KeyError as e:
            raise ValueError(f"EwmPairsState: corrupt state: {e.args[0]} is missing") from None
        adopt_arrays(fresh, state, ("st", "nobs"), "EwmPairsState")
        position = state.get("position")
        if isinstance(position, bool) or not isinstance(position, int) or position < 0 or \
                (fresh.nobs < 0).any() or (fresh.nobs > position).any():
            raise ValueError("EwmPairsState: corrupt state: inconsistent counts")
        fresh.position = position
        fresh._bind()
        self.__dict__.update(fresh.__dict__)

    def update(self, rows: np.ndarray, buffer: np.ndarray | None = None) -> np.ndarray:
        """The statistic at every record.

        Parameters
        ----------
        rows : ndarray
            ``(n, d)`` real values (converted to float64 once).
        buffer : ndarray of uint8, optional
            Memory for the output (which is then a view of it) when it holds
            at least ``8 * n * values per output record`` bytes; else (and by
            default) a new array.

        Returns
        -------
        ndarray
            float64 of shape ``(n,)`` for d == 2, ``(n, d, d)`` beyond.
        """
        if type(rows) is np.ndarray and rows.dtype == _F8 and rows.ndim == 2 and \
                rows.shape[1] == self.d and rows.flags.c_contiguous and rows.flags.aligned:
            a = rows  # the common case, without any conversion
        else:
            where = f"ewm_{self.stat}: chunk at record {self.position}"
            a = to_float64_rows(rows, where)
            if a.shape[1] != self.d or np.ndim(rows) != 2:
                raise ValueError(f"{where} has records of shape {np.shape(rows)[1:]}, "
                                 f"this state expects ({self.d},)")
        n = a.shape[0]
        need = 8 * n * self._width
        if buffer is not None and buffer.dtype == _U1 and buffer.ndim == 1 and len(buffer) >= need:
            out = buffer[:need].view(_F8).reshape(n, *self._shape)
        else:
            out = np.empty((n, *self._shape), dtype=_F8)
        if not n:
            return out
        with StateLock(self._lock, f"ewm_{self.stat}"):
            status = lib.ps_ewmc_update(*self._args, *self._c, ffi.from_buffer("double[]", a), n,
                                        ffi.from_buffer("double[]", out))
            if status:
                check_status(status, f"ewm_{self.stat}: chunk at record {self.position}")
            self.position += n
        return out

    def flush(self) -> np.ndarray:
        """Nothing is pending at the end of a stream: an empty output."""
        return np.empty((0, *self.out_shape))


def pick_columns(columns: Any, d: int, names: Sequence[str] | None, where: str) -> list[int]:
    """The positions `columns` names in records of `d` values (names are looked up
    in `names`, the stream's column names); at least 2, no repeats.

    Examples
    --------
    >>> pick_columns(["b", 0], 3, ("a", "b", "c"), "ewm_cov")
    [1, 0]
    """
    return column_positions(columns, d, names, where)


def pair_width(name: str, record_shape: tuple[int, ...], columns: Any,
               names: Sequence[str] | None) -> tuple[int, list[int] | None]:
    """``(d, positions)``: the values per record the kernel sees and the chosen
    columns' positions (None: all), for records of `record_shape`.

    Raises
    ------
    ValueError
        For records that are not ``(d,)`` with d >= 2 (a multivariate
        statistic needs records of at least 2 columns), or more than 2**20.

    Examples
    --------
    >>> pair_width("ewm_cov", (4,), ["b", "d"], ("a", "b", "c", "d"))
    (2, [1, 3])
    """
    if len(record_shape) != 1 or record_shape[0] < 2:
        raise ValueError(
            f"{name}: records of shape {record_shape}: a multivariate statistic needs "
            "records of at least 2 columns (record shape (d,), d >= 2); stack the series "
            "as columns (np.column_stack) or pick them with columns=")
    picked = None
    if columns is not None:
        known = names if names and len(names) == record_shape[0] else None
        picked = pick_columns(columns, record_shape[0], known, name)
    d = record_shape[0] if picked is None else len(picked)
    if lib.ps_ewmc_npairs(d) < 0:
        raise ValueError(f"{name}: records of {d} values: at most 2**20 columns")
    return d, picked
