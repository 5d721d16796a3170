"""Moving co-moments of record streams (issue 21): ``moving_cov``, ``moving_corr``,
``moving_beta`` over windows of records (:class:`CoMoving`) or durations on the
time column (:class:`TimeCoMoving`), and the family's table.

Both run the kernel of ``csrc/comoving.c`` (:mod:`pystream.stages.comoving_kernel`):
each output is a function of its window's values and global row indices only,
so the outputs are the same bytes for any chunking, and a constant window has
covariance exactly 0 whatever came before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from .._checks import DEFAULT_DDOF, as_int, check_count, check_ddof, check_nan_policy
from .._native import kernel_dtype
from .._timeunits import parse_duration
from .comoving_kernel import CoMovingState, comoving, out_shape, positions, comoving_columns
from .comoving_ols import MovingOLS
from .comoving_twins import slow_moving_beta, slow_moving_corr, slow_moving_cov, slow_moving_ols
from .kernel import KernelStage
from .partitioning import TimeWindow, Window
from .table import StageRow, numpydoc
from .time_kernels import TimesOutOfOrder, window_ends, window_starts
from .time_windows import CLOSED
from .timed import Duration, TimedPusher, TimedStage, Triple, is_duration, time_values

__all__ = ["CoMoving", "TABLE", "TimeCoMoving", "comoving_stage"]

#: The largest window of records (as the other moving stages: 2**52).
MAX_WINDOW = 2**52
#: Most records given to one kernel call of a duration window.
_BLOCK = 1 << 16


class _Params:
    """The checks shared by the two forms (windows of records, durations)."""

    stat: str
    name: str
    min_count: int | None
    ddof: float
    columns: list[int] | None
    nan_policy: str

    def _check(self, stat: str, min_count: Any, ddof: Any, columns: Any, names: Any,
               nan_policy: str) -> None:
        self.stat = stat
        self.name = f"moving_{stat}"
        self.nan_policy = check_nan_policy(nan_policy, self.name)
        self.min_count = None if min_count is None else as_int(
            min_count, "min_count must be an integer", self.name)
        if stat == "cov":
            self.ddof = float(check_ddof(DEFAULT_DDOF if ddof is None else ddof, self.name))
        elif ddof is not None:
            raise TypeError(f"{self.name}: ddof applies to moving_cov only")
        else:
            self.ddof = 1.0
        self.columns = comoving_columns(columns, names, self.name)
        if stat == "beta" and self.columns is not None and len(self.columns) != 2:
            raise ValueError("moving_beta: the slope needs two columns, y and x")

    def output_meta(self, dtype: np.dtype, record_shape: tuple[int, ...]
                    ) -> tuple[np.dtype, tuple[int, ...]]:
        """float64 records: a value for two columns, a ``(k, k)`` matrix for k > 2."""
        kernel_dtype(dtype, self.name)
        return np.dtype(np.float64), out_shape(len(positions(self.columns, record_shape,
                                                              self.name)))


class CoMoving(_Params, KernelStage):
    """Moving covariance, correlation or slope over a window of records.

    Parameters
    ----------
    stat : {"cov", "corr", "beta"}
    window : int
        Records per window, ``1 <= window <= 2**52``.
    min_count : int, optional
        Least number of records valid for a pair (both values non-NaN) for a
        non-NaN output, ``1 <= min_count <= window``; default `window`.
    ddof : float, optional
        ``cov`` only: divisor ``count - ddof``, default 1 (pandas).
    columns : list of int or str, optional
        The columns read (names need `names`); default all.  ``beta``: ``[x, y]``.
    names : tuple of str, optional
        The stream's column names.
    nan_policy : {"omit", "propagate", "raise"}, default "omit"

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> x = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 5.0]])
    >>> ps.from_array(x).pipe(CoMoving("cov", 2), dtype=np.float64, record_shape=()).to_array()
    array([nan, 1. , 0.5])
    """

    #: ``to_array`` hands the result's memory: a pair's outputs (8 bytes a
    #: record, less than its input) are written there in place.
    writes_into = True

    def __init__(self, stat: str, window: int, min_count: int | None = None,
                 ddof: float | None = None, columns: Any = None,
                 names: Sequence[str] | None = None, nan_policy: str = "omit") -> None:
        self._check(stat, min_count, ddof, columns, names, nan_policy)
        self.kernel = self.name
        window = check_count(window, "window", self.name, minimum=1)
        if window > MAX_WINDOW:
            raise ValueError(f"{self.name}: window must be at most 2**52 = {MAX_WINDOW} "
                             f"records, got {window}")
        self.window = window
        if self.min_count is None:
            self.min_count = window
        elif not 1 <= self.min_count <= window:
            raise ValueError(f"{self.name}: min_count must be in [1, window={window}], "
                             f"got {self.min_count}")
        self.kernel_params = {"window": window, "min_count": self.min_count, "ddof": self.ddof}

    def partitioning(self) -> Window:
        """Output ``i`` needs inputs ``i - window + 1 .. i`` (the parallel engines)."""
        return Window(self.window)

    def state(self, record_shape: tuple[int, ...] = (), start: int = 0) -> CoMovingState:
        """A fresh :class:`~pystream.stages.comoving_kernel.CoMovingState`."""
        assert self.min_count is not None
        return CoMovingState(self.stat, self.window, self.min_count,
                             self.nan_policy == "propagate", self.ddof,
                             positions(self.columns, tuple(record_shape), self.name), start)


class TimeCoMoving(_Params, TimedStage):
    """Moving covariance, correlation or slope over a duration on the time column
    (pandas' offset windows; see :class:`~pystream.stages.time_windows.TimeMoving`).

    Parameters are those of :class:`CoMoving`, with `window` a duration
    (``"5min"``, a timedelta, ``ps.duration(x)`` for numeric times),
    `min_count` defaulting to 1 (pandas' ``min_periods`` of offset windows)
    and `closed` in ``{"right", "both", "left", "neither"}``.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> t = np.array([0, 1, 2, 10], dtype="datetime64[s]")
    >>> x = np.array([[1.0, 1.0], [2.0, 3.0], [3.0, 2.0], [4.0, 0.0]])
    >>> ps.from_array(x, time=t).moving_cov("3s").to_array()
    array([nan, 1. , 0.5, nan])
    """

    def __init__(self, stat: str, window: Any, min_count: int | None = None,
                 ddof: float | None = None, columns: Any = None,
                 names: Sequence[str] | None = None, nan_policy: str = "omit",
                 closed: str | None = None) -> None:
        self._check(stat, min_count, ddof, columns, names, nan_policy)
        if self.min_count is None:
            self.min_count = 1
        elif self.min_count < 1:
            raise ValueError(f"{self.name}: min_count must be >= 1, got {self.min_count}")
        closed = "right" if closed is None else closed
        if closed not in CLOSED:
            raise ValueError(f"{self.name}: closed must be one of "
                             f"{', '.join(map(repr, CLOSED))}, got {closed!r}")
        self.closed = closed
        self.window = window
        self.width: int | float | None = None
        value = window.value if isinstance(window, Duration) else window
        if isinstance(value, str) or not isinstance(value, (int, float, np.number)):
            parse_duration(value, True, self.name)

    def __repr__(self) -> str:
        return f"TimeCoMoving({self.name}: window={self.window!r}, closed={self.closed!r})"

    def _bound(self) -> None:
        value = self.window.value if isinstance(self.window, Duration) else self.window
        self.width = parse_duration(value, self.datetime_times, self.name)

    def time_mapping(self, read_times: Any) -> TimeWindow:
        """The engines' mapping (as the other duration windows)."""
        assert self.width is not None
        return TimeWindow(self.width, self.closed in ("both", "left"), read_times)

    def push_timed(self, start: int = 0) -> _TimeCoPusher:
        """A fresh push form (send a chunk with its times, get the outputs)."""
        if self.width is None:
            raise TypeError(f"{self.name}: the stage is not bound to a time column (bind())")
        return _TimeCoPusher(self, start)


class _TimeCoPusher(TimedPusher):
    """Keeps the records within the newest record's window and runs the kernel on
    them plus each new chunk (as the other duration windows' pusher)."""

    checks_order = False            # window_starts checks it

    def __init__(self, stage: TimeCoMoving, start: int) -> None:
        super().__init__(stage, start)
        self.tail_values: np.ndarray | None = None
        self.tail_times: np.ndarray | None = None
        self.tail_base = start
        self.times_dtype: np.dtype | None = None
        self.columns: np.ndarray | None = None

    def _send(self, values: np.ndarray, time: np.ndarray, key: np.ndarray | None) -> list[Triple]:
        stage = self.stage
        assert isinstance(stage, TimeCoMoving)
        if self.columns is None:
            self.columns = positions(stage.columns, tuple(values.shape[1:]), stage.name)
        rows = np.ascontiguousarray(self.rows(values, stage.nan_policy)[:, self.columns])
        t = time_values(time)
        if t.dtype == np.int64 and not float(stage.width).is_integer():  # type: ignore[arg-type]
            t = t.astype(np.float64)
        if self.times_dtype is None:
            self.times_dtype = t.dtype
        elif t.dtype != self.times_dtype:
            t = t.astype(self.times_dtype)
        out = np.concatenate([self._block(rows[i:i + _BLOCK], t[i:i + _BLOCK])
                              for i in range(0, len(rows), _BLOCK)])
        return [(out, time, key)]

    def _block(self, rows: np.ndarray, t: np.ndarray) -> np.ndarray:
        stage = self.stage
        assert isinstance(stage, TimeCoMoving) and stage.min_count is not None
        if self.tail_values is None or not len(self.tail_values):
            buf_v, buf_t, first = rows, t, 0
        else:
            assert self.tail_times is not None
            buf_v = np.concatenate([self.tail_values, rows])
            buf_t = np.concatenate([self.tail_times, t])
            first = len(self.tail_values)
        width = int(stage.width) if buf_t.dtype == np.int64 else stage.width  # type: ignore[arg-type]
        try:
            starts = window_starts(buf_t, width, stage.closed, first)  # type: ignore[arg-type]
        except TimesOutOfOrder as e:
            self.order.fail(self.tail_base + e.row, buf_t[e.row - 1], buf_t[e.row])
        ends = window_ends(buf_t, stage.closed, first)
        out = comoving(stage.stat, buf_v, starts, self.tail_base, ends=ends,
                       min_count=stage.min_count, propagate=stage.nan_policy == "propagate",
                       ddof=stage.ddof)
        keep = int(starts[-1])
        self.tail_values = buf_v[keep:].copy()
        self.tail_times = buf_t[keep:].copy()
        self.tail_base += keep
        return out


def comoving_stage(stat: str, window: Any, min_count: int | None = None,
                   ddof: float | None = None, columns: Any = None,
                   names: Sequence[str] | None = None, nan_policy: str = "omit",
                   closed: str | None = None) -> CoMoving | TimeCoMoving:
    """The moving `stat` stage over `window`: records (an int) or a duration.

    Examples
    --------
    >>> type(comoving_stage("cov", 3)).__name__, type(comoving_stage("corr", "5min")).__name__
    ('CoMoving', 'TimeCoMoving')
    """
    name = f"moving_{stat}"
    if isinstance(window, str) and window.strip().lstrip("+-").isdigit():
        raise TypeError(f"{name}: window={window!r}: a window of records is an integer "
                        f"(window={window.strip()}); a duration needs a unit "
                        f"('{window.strip()}s', '{window.strip()}min')")
    if is_duration(window):
        return TimeCoMoving(stat, window, min_count, ddof, columns, names, nan_policy, closed)
    if isinstance(window, (float, np.floating)):
        raise TypeError(f"{name}: window={window!r}: a window of records is an integer; for a "
                        f"duration on a numeric time column write ps.duration({window!r})")
    if closed is not None and closed != "right":
        raise ValueError(f"{name}: closed={closed!r} applies to duration windows "
                         "(window='5min'); a window of records ends at the record itself")
    return CoMoving(stat, window, min_count, ddof, columns, names, nan_policy)


def _beta_stage(window: Any, y: Any = 1, x: Any = 0, min_count: int | None = None,
                nan_policy: str = "omit", closed: str | None = None,
                names: Sequence[str] | None = None) -> CoMoving | TimeCoMoving:
    if isinstance(y, (list, tuple)) or isinstance(x, (list, tuple)):
        raise TypeError("moving_beta: y and x are single columns (a name or a position); "
                        "for several regressors use moving_ols")
    return comoving_stage("beta", window, min_count, None, [x, y], names, nan_policy, closed)



# --------------------------------------------------------------------------- the table

_WINDOW = """window : int, str or timedelta
    A number of records, ``1 <= window <= 2**52``; or a duration on the
    stream's time column (``"5min"``, ``np.timedelta64``,
    ``datetime.timedelta``; ``ps.duration(x)`` for numeric times), pandas'
    offset windows: the window of a record at time t holds the records up
    to it whose times are in ``(t - window, t]`` (see `closed`)."""

_MIN_COUNT = """min_count : int, optional
    Least number of records valid for a pair (both of its values
    non-NaN) for a non-NaN output.  Default: `window` for a window of
    records, 1 for a duration (pandas' ``min_periods``)."""

_COLUMNS = """columns : list of str or int, optional
    The columns read: names (when the stream has names, ``s.columns``)
    or positions, as :meth:`select`; default every column."""

_POLICY = """nan_policy : {"omit", "propagate", "raise"}, default "omit"
    ``"omit"``: a record with a NaN in either column of a pair does not
    count for that pair (pairwise-complete, pandas' rule: each pair's
    means and variances come from the records where both are valid);
    ``"propagate"``: such a record in the window gives NaN for the pair;
    ``"raise"``: ``ValueError`` naming the record.
closed : {"right", "both", "left", "neither"}, optional
    Duration windows only: which ends of ``(t - window, t]`` are in the
    window (pandas' ``closed``; default ``"right"``)."""

_NOTES = """Notes
-----
Drift-free: each output is computed from the values of its window only
(shifted sums of each half of the window, split at its most aligned
record and joined by Chan's formula; nothing is subtracted when a record
leaves), so the outputs are the same bytes for any chunking, a constant
window gives covariance exactly 0 (correlation NaN) after any spike, and
shifted data (mean 1e9) keep their digits where pandas' and numbagg's
running sums lose them.  A window holding +-inf gives NaN (pandas treats
inf as missing).  Input records must have at least 2 columns; integers
are converted to float64."""

_RAISES = """Raises
------
TypeError, ValueError
    For invalid parameters, or records of fewer than 2 columns, when the
    stage is added (not mid-stream).
KeyError
    For a column name the stream does not have."""


def _doc(summary: str, params: str, returns: str, example: str) -> str:
    return numpydoc(summary, "Parameters\n----------\n" + params,
                    "Returns\n-------\nStream\n" + returns, _RAISES, _NOTES,
                    "Examples\n--------\n>>> import numpy as np, pystream as ps\n" + example)


_MATRIX = """    One float64 record per input record: for two columns the pair's
    value; for k > 2 columns the (k, k) matrix of every pair (pandas'
    ``df.rolling(w).{stat}()`` per row)."""

_NAMES = "names=getattr(self, 'columns', None)"
_TAIL = "nan_policy: str = \"omit\", closed: str | None = None"


def _comoving_row(name: str, doc: str, build: Any, params: str, call: str, twin: Any,
         sample: dict[str, Any]) -> StageRow:
    row = StageRow(name, "comoving", doc, build, params, call, twin, sample, kinds=(),
                   partitioning="window", min_columns=2)
    return row


def _cov(window: Any, ddof: float = 1, min_count: int | None = None, columns: Any = None,
         nan_policy: str = "omit", closed: str | None = None,
         names: Sequence[str] | None = None) -> CoMoving | TimeCoMoving:
    return comoving_stage("cov", window, min_count, ddof, columns, names, nan_policy, closed)


def _corr(window: Any, min_count: int | None = None, columns: Any = None,
          nan_policy: str = "omit", closed: str | None = None,
          names: Sequence[str] | None = None) -> CoMoving | TimeCoMoving:
    return comoving_stage("corr", window, min_count, None, columns, names, nan_policy, closed)


def _ols(window: Any, y: Any, x: Any = None, intercept: bool = True,
         min_count: int | None = None, nan_policy: str = "omit",
         names: Sequence[str] | None = None) -> MovingOLS:
    return MovingOLS(window, y, x, intercept, min_count, nan_policy, names)


#: The moving co-moment stages, one row each.
TABLE: tuple[StageRow, ...] = (
    _comoving_row("moving_cov", _doc(
        "Moving-window covariance of a pair of columns, or of every pair (pandas' "
        "``rolling(w).cov()``, numbagg's ``move_cov``), drift-free.",
        _WINDOW + "\nddof : float, default 1\n    Divisor ``count - ddof`` (pandas' default; "
        "the :meth:`cov` reducer keeps numpy's\n    ``np.cov`` default, also 1).\n"
        + _MIN_COUNT + "\n" + _COLUMNS + "\n" + _POLICY,
        _MATRIX.format(stat="cov"),
        ">>> x = np.array([[1e12, 5.0], [3.0, 7.0], [3.0, 7.0], [3.0, 7.0], [4.0, 9.0]])\n"
        ">>> ps.from_array(x).moving_cov(3).to_array()   # exactly 0 after the spike\n"
        "array([            nan,             nan, -6.66666667e+11,  0.00000000e+00,\n"
        "        6.66666667e-01])"),
        _cov, "window: int | str, *, ddof: float = 1, min_count: int | None = None, "
        "columns: Any = None, " + _TAIL,
        "window, ddof=ddof, min_count=min_count, columns=columns, nan_policy=nan_policy, "
        "closed=closed, " + _NAMES,
        slow_moving_cov, {"window": 5, "min_count": 2}),
    _comoving_row("moving_corr", _doc(
        "Moving-window correlation of a pair of columns, or of every pair (pandas' "
        "``rolling(w).corr()``, numbagg's ``move_corr``), drift-free, in [-1, 1].",
        _WINDOW + "\n" + _MIN_COUNT + "\n" + _COLUMNS + "\n" + _POLICY,
        _MATRIX.format(stat="corr") + "\n    A constant column gives NaN (0 / 0), "
        "the diagonal is 1.",
        ">>> x = np.array([[1.0, 2.0], [2.0, 4.1], [3.0, 5.9], [4.0, 4.0]])\n"
        ">>> ps.from_array(x).moving_corr(3).to_array()\n"
        "array([        nan,         nan,  0.99901526, -0.04676098])"),
        _corr, "window: int | str, *, min_count: int | None = None, columns: Any = None, "
        + _TAIL,
        "window, min_count=min_count, columns=columns, nan_policy=nan_policy, closed=closed, "
        + _NAMES,
        slow_moving_corr, {"window": 6}),
    _comoving_row("moving_beta", _doc(
        "Moving-window regression slope of column `y` on column `x` (``cov(x, y) / var(x)`` "
        "from the same window; pandas' ``rolling(w).cov(x) / rolling(w).var()``).",
        _WINDOW + "\ny : str or int, default 1\n    The dependent column (name or position).\n"
        "x : str or int, default 0\n    The regressor column.\n" + _MIN_COUNT + "\n" + _POLICY,
        "    One float64 value per input record: the least-squares slope of `y` on\n"
        "    `x` (with an intercept) over the window; NaN when `x` is constant.",
        ">>> x = np.array([[1.0, 3.0], [2.0, 5.0], [3.0, 7.5], [4.0, 9.0]])\n"
        ">>> ps.from_array(x).moving_beta(3).to_array()\n"
        "array([ nan,  nan, 2.25, 2.  ])"),
        _beta_stage, "window: int | str, *, y: Any = 1, x: Any = 0, "
        "min_count: int | None = None, " + _TAIL,
        "window, y=y, x=x, min_count=min_count, nan_policy=nan_policy, closed=closed, "
        + _NAMES,
        slow_moving_beta, {"window": 5, "min_count": 3}),
    _comoving_row("moving_ols", numpydoc(
        "Moving-window least squares: per record, the coefficients (intercept first) of "
        "the fit of column `y` on the columns `x` over the window (statsmodels' "
        "``RollingOLS``).",
        "Parameters\n----------\nwindow : int\n    A number of records, "
        "``1 <= window <= 2**52`` (duration windows are not\n    supported yet).\n"
        "y : str or int\n    The dependent column (name or position).\n"
        "x : list of str or int, optional\n    The regressors; default every other column.\n"
        "intercept : bool, default True\n    Fit an intercept (the first coefficient).\n"
        "min_count : int, optional\n    Least number of complete records in the window "
        "(default `window`).\nnan_policy : {\"omit\", \"raise\"}, default \"omit\"\n"
        "    ``\"omit\"``: a record with a NaN in `y` or any regressor is left out\n"
        "    of its windows (statsmodels' ``missing=\"drop\"``); ``\"raise\"``:\n"
        "    ``ValueError`` naming the record.",
        "Returns\n-------\nStream\n    float64 records of ``len(x) + intercept`` "
        "coefficients; NaN where\n    the window has fewer than `min_count` complete records "
        "or its\n    regressors are collinear.",
        "Notes\n-----\nEach window's fit comes from its drift-free centred co-moment "
        "matrix\nand means (the kernels of :meth:`moving_cov` and :meth:`moving_mean`),\n"
        "solved by a Cholesky factorisation per record (the normal equations:\n"
        "accurate for well-conditioned regressors; for ill-conditioned ones\nthe "
        "errors grow with the square of the condition number, where a QR\nof the window "
        "would grow with it).  The outputs are the same bytes\nfor any chunking.",
        "Examples\n--------\n>>> import numpy as np, pystream as ps\n"
        ">>> x = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0], [3.0, 8.0]])\n"
        ">>> ps.from_array(x).moving_ols(3, y=1).to_array().round(4)\n"
        "array([[   nan,    nan],\n       [   nan,    nan],\n       [1.    , 2.    ],\n"
        "       [0.3333, 2.5   ]])"),
        _ols, "window: int, y: Any, x: Any = None, *, intercept: bool = True, "
        "min_count: int | None = None, nan_policy: str = \"omit\"",
        "window, y, x, intercept=intercept, min_count=min_count, nan_policy=nan_policy, "
        + _NAMES,
        slow_moving_ols, {"window": 6, "y": 1}),
)

for _r in TABLE:
    _r.build.__doc__ = _r.docstring
del _r
