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

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from .._checks import check_count
from .._native import kernel_dtype
from .ewm import resolve_alpha
from .ewm_pairs_kernel import EWM_PAIR_STATS, EwmPairsState, pair_flag, pair_width, pick_columns
from .ewm_pairs_time import EwmPairsTime
from .ewm_pairs_twin import slow_ewm_pairs
from .kernel import KernelStage
from .table import StageRow, numpydoc
from .time_ewm import uses_times

__all__ = ["EWM_PAIR_STATS", "EwmPairs", "EwmPairsState", "EwmPairsTime", "TABLE",
           "ewm_pairs_stage", "pick_columns"]


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
        # the decay is checked by the EWM stages' own rules
        from_ewm = resolve_alpha(com, span, halflife, alpha, name)
        self.name = name  # type: ignore[misc]
        self.kernel = name
        self.stat = name.removeprefix("ewm_")
        for flag, value in (("adjust", adjust), ("ignore_na", ignore_na), ("bias", bias)):
            pair_flag(value, flag, name)
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

    def output_meta(self, dtype: np.dtype, record_shape: tuple[int, ...]
                    ) -> tuple[np.dtype, tuple[int, ...]]:
        """float64: one value per record for 2 columns, a (d, d) matrix for d > 2."""
        kernel_dtype(dtype, self.name)
        d, _ = pair_width(self.name, tuple(record_shape), self.columns, self.names)
        return np.dtype(np.float64), (() if d == 2 else (d, d))

    def new_state(self, chunk: np.ndarray, start: int) -> _Picked:
        """The state for records of the chunk's shape (after `columns`)."""
        d, picked = pair_width(self.name, tuple(chunk.shape[1:]), self.columns, self.names)
        p = self.kernel_params
        state = EwmPairsState(self.stat, p["alpha"], d, p["adjust"], p["ignore_na"],
                              p["min_count"], p["bias"])
        return _Picked(state, picked, start)

    def state(self, record_shape: tuple[int, ...] = (), start: int = 0) -> _Picked:
        """A fresh state for records of `record_shape`."""
        return self.new_state(np.empty((0, *record_shape)), start)


def ewm_pairs_stage(name: str, com: float | None = None, span: float | None = None,
                    halflife: Any = None, alpha: float | None = None, min_periods: int = 0,
                    adjust: bool = True, ignore_na: bool = False, bias: bool = False,
                    columns: Any = None, names: Sequence[str] | None = None,
                    times: Any = None) -> EwmPairs | EwmPairsTime:
    """The stage `name` (``"ewm_cov"`` or ``"ewm_corr"``): decaying per record, or
    over the time column when `times` is given or `halflife` is a duration.

    Examples
    --------
    >>> type(ewm_pairs_stage("ewm_cov", span=3)).__name__
    'EwmPairs'
    >>> type(ewm_pairs_stage("ewm_corr", halflife="1h")).__name__
    'EwmPairsTime'
    """
    if uses_times(halflife, times):
        given = [n for n, v in (("com", com), ("span", span), ("alpha", alpha)) if v is not None]
        if given:
            raise ValueError(f"{name}: an EWM over times takes halflife only (pandas' rule), "
                             f"not {', '.join(given)}")
        return EwmPairsTime(name, halflife, True if times is None else times, min_periods,
                            adjust, ignore_na, bias, columns, names)
    return EwmPairs(name, com, span, halflife, alpha, min_periods, adjust, ignore_na, bias,
                    columns, names)


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
    Exactly one: the decay (pandas' definitions, as ``ewm_var``).
adjust : bool, default True
ignore_na : bool, default False
    pandas' meaning: whether a record missing for a pair ages its weights
    (no effect over times).
{bias}min_periods : int, default 0
    Least number of observations of a pair (records where both its
    values are finite) for a non-NaN output.
columns : list of str or int, optional
    The columns to use (names when the stream has them, or positions),
    as ``select`` picks them; default all.  At least 2.
times : True or str, optional
    Weigh by the stream's time column (True, or its name), as
    ``ewm_var(times=...)``: the weight of a pair's observation ``dt``
    earlier is ``0.5 ** (dt / halflife)``; a duration `halflife`
    (``"10s"``) implies it.  pandas has no covariance over times (its
    ``ewm(times=...).cov()`` raises); with times 0, 1, 2, ... it is the
    count-based statistic."""

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
              "halflife: float | str | None = None, alpha: float | None = None, *, "
              "adjust: bool = True, ignore_na: bool = False{bias}, min_periods: int = 0, "
              "columns: list[str | int] | None = None, times: bool | str | None = None")
_CALL = ("com, span, halflife, alpha, min_periods, adjust, ignore_na, {bias}, columns, "
         "getattr(getattr(self, 'stream', self), 'columns', None) if columns is not None else None, "
         "times")


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
    row = StageRow(name, "ewm_pairs", doc, partial(ewm_pairs_stage, name),
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
