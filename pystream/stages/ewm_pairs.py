"""Exponentially weighted covariance and correlation of pairs of columns,
``ewm_cov`` and ``ewm_corr`` (C kernel ``csrc/ewm_pairs.c``), and their rows.

pandas' semantics: a record of 2 values gives ``a.ewm(...).cov(b)`` (one
value per record), a record of d > 2 values gives the (d, d) matrix of
``df.ewm(...).cov()`` at that record.  Each pair of columns uses the records
where both of its values are finite (NaN and +-inf are missing, as in
pandas' window code); ``ignore_na`` decides whether missing records age the
weights.  The slow twin is :func:`pystream.stages.ewm_pairs_twin.slow_ewm_pairs`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from .._checks import StateLock, adopt_arrays, check_count
from .._native import check_status, ffi, kernel_dtype, lib
from .ewm import resolve_alpha
from .ewm_pairs_twin import slow_ewm_pairs
from .kernel import KernelStage, to_float64_rows
from .table import StageRow, numpydoc
from .time_ewm import uses_times

__all__ = ["EWM_PAIR_STATS", "EwmPairs", "EwmPairsState", "TABLE", "pick_columns"]

#: The statistics of :class:`EwmPairsState`, in the order of the C codes.
EWM_PAIR_STATS: tuple[str, ...] = ("cov", "corr")
_SLOTS = int(lib.PS_EWMC_SLOTS)
_F8 = np.dtype(np.float64)
_U1 = np.dtype(np.uint8)


def _pair_flag(value: object, name: str, where: str) -> bool:
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
        self.adjust = _pair_flag(adjust, "adjust", where)
        self.ignore_na = _pair_flag(ignore_na, "ignore_na", where)
        self.min_periods = check_count(min_periods, "min_periods", where)
        self.bias = _pair_flag(bias, "bias", where)
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
    if isinstance(columns, (str, int, np.integer)):
        raise TypeError(f"{where}: columns must be a list of at least 2 columns, got {columns!r}")
    try:
        items = list(columns)
    except TypeError:
        raise TypeError(f"{where}: columns must be a list of column names or positions, "
                        f"got {columns!r}") from None
    out = []
    for c in items:
        if isinstance(c, str):
            if names is None:
                raise KeyError(f"{where}: column {c!r}: the stream has no column names "
                               "(use positions, or rename() first)")
            if c not in names:
                raise KeyError(f"{where}: no column {c!r}; the columns are {list(names)}")
            out.append(list(names).index(c))
        elif isinstance(c, (int, np.integer)) and not isinstance(c, bool):
            i = int(c)
            if not -d <= i < d:
                raise IndexError(f"{where}: column {i} is out of range for records of {d} values")
            out.append(i % d)
        else:
            raise TypeError(f"{where}: a column is a name or an integer position, got {c!r}")
    if len(out) < 2:
        raise ValueError(f"{where}: a multivariate statistic needs at least 2 columns, "
                         f"got {len(out)}")
    if len(set(out)) != len(out):
        raise ValueError(f"{where}: columns {items!r} repeat a column")
    return out


class EwmPairs(KernelStage):
    """An EWM covariance or correlation stage (pandas' ``ewm(...).cov()`` / ``.corr()``).

    Parameters
    ----------
    name : {"ewm_cov", "ewm_corr"}
    com, span, halflife, alpha : float, optional
        Exactly one: the decay, as in pandas.
    min_periods, adjust, ignore_na, bias
        As :class:`pystream.stages.ewm.EWM` (``bias``: ``ewm_cov`` only).
    columns : list of str or int, optional
        The columns (names or positions) of the records to use; default all.
    names : tuple of str, optional
        The stream's column names (what the generated method passes), to look
        up names in `columns`.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> x = np.array([[1.0, 2.0], [2.0, 1.0], [4.0, 0.0]])
    >>> EwmPairs("ewm_corr", alpha=0.5).push().send(x)
    [array([        nan, -1.        , -0.98449518])]
    """

    nan_policy = "omit"

    def __init__(self, name: str, com: float | None = None, span: float | None = None,
                 halflife: Any = None, alpha: float | None = None, min_periods: int = 0,
                 adjust: bool = True, ignore_na: bool = False, bias: bool = False,
                 columns: Any = None, names: Sequence[str] | None = None) -> None:
        if name not in ("ewm_cov", "ewm_corr"):
            raise ValueError(f"EwmPairs: unknown stage {name!r}")
        if uses_times(halflife, None):
            raise NotImplementedError(
                f"{name}: an EWM over times (a duration halflife) is not supported for "
                "covariances yet; give halflife as a number of records")
        # the decay is checked by the EWM stages' own rules
        from_ewm = resolve_alpha(com, span, halflife, alpha, name)
        self.name = name  # type: ignore[misc]
        self.kernel = name
        self.stat = name.removeprefix("ewm_")
        for flag, value in (("adjust", adjust), ("ignore_na", ignore_na), ("bias", bias)):
            _pair_flag(value, flag, name)
        if bias and name == "ewm_corr":
            raise TypeError("ewm_corr: bias applies to ewm_cov only (the correlation has none)")
        self.kernel_params = {"alpha": from_ewm,
                              "min_count": check_count(min_periods, "min_periods", name),
                              "adjust": bool(adjust), "ignore_na": bool(ignore_na),
                              "bias": bool(bias)}
        self.columns = None if columns is None else columns
        self.names = None if names is None else tuple(names)
        if columns is not None:  # what can be checked before the record shape is known
            pick_columns(columns, 2**62, self.names if self.names else None, name)

    def _positions(self, record_shape: tuple[int, ...]) -> list[int] | None:
        if len(record_shape) != 1 or record_shape[0] < 2:
            raise ValueError(
                f"{self.name}: records of shape {record_shape}: a multivariate statistic needs "
                "records of at least 2 columns (record shape (d,), d >= 2); stack the series "
                "as columns (np.column_stack) or pick them with columns=")
        if self.columns is None:
            return None
        names = self.names if self.names and len(self.names) == record_shape[0] else None
        return pick_columns(self.columns, record_shape[0], names, self.name)

    def output_meta(self, dtype: np.dtype, record_shape: tuple[int, ...]
                    ) -> tuple[np.dtype, tuple[int, ...]]:
        """float64: one value per record for 2 columns, a (d, d) matrix for d > 2."""
        kernel_dtype(dtype, self.name)
        picked = self._positions(tuple(record_shape))
        d = record_shape[0] if picked is None else len(picked)
        if lib.ps_ewmc_npairs(d) < 0:
            raise ValueError(f"{self.name}: records of {d} values: at most 2**20 columns")
        return np.dtype(np.float64), (() if d == 2 else (d, d))

    def new_state(self, chunk: np.ndarray, start: int) -> _Picked:
        """The state for records of the chunk's shape (after `columns`)."""
        picked = self._positions(tuple(chunk.shape[1:]))
        d = chunk.shape[1] if picked is None else len(picked)
        p = self.kernel_params
        state = EwmPairsState(self.stat, p["alpha"], d, p["adjust"], p["ignore_na"],
                              p["min_count"], p["bias"])
        return _Picked(state, picked, start)

    def state(self, record_shape: tuple[int, ...] = (), start: int = 0) -> _Picked:
        """A fresh state for records of `record_shape`."""
        return self.new_state(np.empty((0, *record_shape)), start)


class _Picked:
    """A state fed the chosen columns of each chunk (the pusher's protocol:
    ``update(chunk, buffer)``, ``flush()``, ``position``)."""

    __slots__ = ("state", "picked", "start")

    def __init__(self, state: EwmPairsState, picked: list[int] | None, start: int) -> None:
        self.state, self.picked, self.start = state, picked, start

    @property
    def position(self) -> int:
        return self.start + self.state.position

    def update(self, chunk: np.ndarray, buffer: np.ndarray | None = None) -> np.ndarray:
        if self.picked is not None:
            if chunk.ndim != 2:
                raise ValueError(f"{self.state.stat}: chunk at record {self.position} has "
                                 f"records of shape {chunk.shape[1:]}")
            chunk = chunk[:, self.picked]
        return self.state.update(chunk, buffer)

    def flush(self) -> np.ndarray:
        return self.state.flush()

    def __repr__(self) -> str:
        return f"<ewm_{self.state.stat} state at record {self.position}>"


# --------------------------------------------------------------------------- the rows

_PARAMS = """Parameters
----------
com, span, halflife, alpha : float, optional
    Exactly one: the decay (pandas' definitions, as ``ewm_var``); an EWM
    over times (a duration `halflife`) is not supported here yet.
adjust : bool, default True
ignore_na : bool, default False
    pandas' meaning: whether a record missing for a pair ages its weights.
{bias}min_periods : int, default 0
    Least number of observations of a pair (records where both its
    values are finite) for a non-NaN output.
columns : list of str or int, optional
    The columns to use (names when the stream has them, or positions),
    as ``select`` picks them; default all.  At least 2."""

_BIAS = """bias : bool, default False
    The biased (population) estimate, as pandas' ``cov(bias=True)``.
"""

_NOTES = """Notes
-----
Records of 2 values give one value per record, pandas'
``a.ewm(...).{stat}(b)`` (numbagg's ``move_exp_nan{stat}(a, b)``);
records of d > 2 values give the (d, d) matrix per record, the rows of
pandas' ``df.ewm(...).{stat}()``.  Each pair uses the records where both
its values are finite (NaN and +-inf are missing, as in pandas); the
weights and the recurrence are pandas' ``ewmcov`` (the mean is subtracted
before multiplying, so data of mean 1e9 and spread 1 stay accurate, and a
constant column gives a covariance of exactly 0 and a correlation of
NaN).{extra}  numbagg differs: its ``min_weight`` is a total weight, not
a count; it has no ``adjust=False``, ``ignore_na`` or ``bias``; an inf
is a value to it (NaN from there on), missing to pandas and here; and it
keeps raw weighted sums, so on data of mean 1e9 and spread 1 its
covariance loses every digit (here: within about ``eps * 1e9`` of the
exact value, relative to the standard deviations).  A 1-column (scalar)
stream is refused: a multivariate statistic needs records of at least 2
columns."""

_SIGNATURE = ("com: float | None = None, span: float | None = None, "
              "halflife: float | None = None, alpha: float | None = None, *, "
              "adjust: bool = True, ignore_na: bool = False{bias}, min_periods: int = 0, "
              "columns: list[str | int] | None = None")
_CALL = ("com, span, halflife, alpha, min_periods, adjust, ignore_na, {bias}, columns, "
         "getattr(self, 'columns', None) if columns is not None else None")


def _pair_row(stat: str, summary: str, example: str) -> StageRow:
    cov = stat == "cov"
    extra = ("" if cov else "  The correlation is clipped to [-1, 1] (pandas' may "
             "round past it).")
    doc = numpydoc(summary, _PARAMS.format(bias=_BIAS if cov else ""),
                   "Returns\n-------\nStream\n    float64 records: scalars for 2 columns, "
                   "(d, d) matrices for d > 2.",
                   _NOTES.format(stat=stat, extra=extra),
                   "Examples\n--------\n>>> import numpy as np, pystream as ps\n" + example)
    name = f"ewm_{stat}"
    row = StageRow(name, "ewm_pairs", doc, partial(EwmPairs, name),
                   _SIGNATURE.format(bias=", bias: bool = False" if cov else ""),
                   _CALL.format(bias="bias" if cov else "False"),
                   partial(slow_ewm_pairs, stat), {"alpha": 0.3}, min_columns=2)
    row.build.__doc__ = row.docstring  # type: ignore[attr-defined]
    return row


#: The EWM covariance / correlation stages, one row each.
TABLE: tuple[StageRow, ...] = (
    _pair_row("cov", "Exponentially weighted moving covariance, as pandas' ``ewm(...).cov()``.",
         ">>> x = np.array([[1.0, 2.0], [2.0, 1.0], [4.0, 0.0]])\n"
         ">>> ps.from_array(x).ewm_cov(alpha=0.5).to_array()\n"
         "array([ nan, -0.5, -1.5])\n"
         ">>> m = ps.from_array(np.c_[x, x[:, 0]]).ewm_cov(alpha=0.5).to_array()\n"
         ">>> m.shape, bool(m[2, 0, 1] == m[2, 1, 0]), m[2, 0, 2] == m[2, 0, 0]\n"
         "((3, 3, 3), True, np.True_)"),
    _pair_row("corr", "Exponentially weighted moving correlation, as pandas' ``ewm(...).corr()``.",
         ">>> x = np.array([[1.0, 2.0], [2.0, 3.0], [4.0, 1.0], [3.0, 3.0]])\n"
         ">>> ps.from_array(x).rename(['a', 'b']).ewm_corr(span=3, columns=['b', 'a'])"
         ".to_array()\n"
         "array([        nan,  1.        , -0.81434507, -0.55708601])"),
)
