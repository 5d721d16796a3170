"""Moving-window stages, ``moving_sum`` ... ``moving_rank`` (C kernels), and their table.

Semantics follow bottleneck's ``move_*`` (``ddof=1`` for the variance, as
pandas); see ``docs/internals/stages.rst``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from .._checks import DEFAULT_DDOF, as_int, check_count, check_ddof, check_nan_policy, check_quantile
from .kernel import KernelStage
from .partitioning import Window
from .slow_twins import slow_moving
from .time_windows import TimeMoving
from .timed import is_duration
from .table import StageRow, numpydoc

__all__ = ["DEFAULT_DDOF", "MAX_WINDOW", "MOVING_STAGES", "Moving", "TABLE", "check_quantile",
           "moving_stage"]

#: The largest ``window`` of the moving stages: 2**52 records (the C
#: kernels' ``PS_WINDOW_MAX``; positions in a window stay exact in float64).
MAX_WINDOW = 2**52

class Moving(KernelStage):
    """A moving-window stage (one of :data:`MOVING_STAGES`).

    Parameters
    ----------
    name : str
        Stage name, e.g. ``"moving_mean"``.
    window : int
        Window length in records, ``1 <= window <=`` :data:`MAX_WINDOW`
        (2**52).
    min_count : int, optional
        Least number of non-NaN values in the window for a non-NaN output,
        ``1 <= min_count <= window``; default `window`.
    nan_policy : {"omit", "propagate", "raise"}, default "omit"
    ddof : float, optional
        ``moving_var`` / ``moving_std`` only: divisor ``count - ddof``;
        default 1 (the sample variance, as pandas' ``rolling`` and polars'
        ``rolling_std``; bottleneck's ``move_std`` is ``ddof=0``).
    q : float, optional
        ``moving_quantile`` only: the quantile in [0, 1] (numpy's "linear"
        interpolation).

    Raises
    ------
    TypeError, ValueError
        For invalid parameters, when the stage is built (not mid-stream).

    Notes
    -----
    Memory grows with the records seen, never with the nominal window: the
    state holds ``min(window, records seen)`` records, at 16 to 96 bytes per
    value (scalar records: ``moving_rank`` 16, ``moving_sum``/``mean`` 64,
    ``moving_var``/``std`` 96 once the window is full), allocated as
    records arrive (doubling, so at most twice that meanwhile, and from
    ``min(window, 2**17)`` values on, so that windows up to 131,072 scalar
    records are allocated once, as they always were).  A window
    longer than the stream therefore costs what the stream holds, and a
    serialized state (``StageState.to_bytes``, pickling) holds the last
    ``min(window - 1, records seen)`` inputs.  ``moving_rank`` compares each
    value with the others in its window: O(records in the window) per value,
    like bottleneck's ``move_rank``.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> stage = Moving("moving_mean", window=2)
    >>> ps.from_array(np.arange(4.0)).pipe(stage, dtype=np.float64).to_array()
    array([nan, 0.5, 1.5, 2.5])
    """

    def __init__(
        self,
        name: str,
        window: int,
        min_count: int | None = None,
        nan_policy: str = "omit",
        ddof: float | None = None,
        q: float | None = None,
    ) -> None:
        if name not in MOVING_STAGES:
            raise ValueError(f"Moving: unknown stage {name!r}; expected one of {MOVING_STAGES}")
        self.name = name  # type: ignore[misc]
        self.kernel = name
        window = check_count(window, "window", name, minimum=1)
        if window > MAX_WINDOW:
            raise ValueError(
                f"{name}: window must be at most 2**52 = {MAX_WINDOW} records, got {window}"
            )
        if min_count is None:
            min_count = window
        else:
            min_count = as_int(min_count, "min_count must be an integer", name)
            if not 1 <= min_count <= window:
                raise ValueError(
                    f"{name}: min_count must be in [1, window={window}], got {min_count}"
                )
        self.nan_policy = check_nan_policy(nan_policy, name)
        params: dict[str, Any] = {"window": window, "min_count": min_count}
        if name in ("moving_var", "moving_std"):
            params["ddof"] = float(check_ddof(DEFAULT_DDOF if ddof is None else ddof, name))
        elif ddof is not None and ddof != 0:
            raise TypeError(f"{name}: ddof applies to moving_var and moving_std only")
        if name == "moving_quantile":
            if q is None:
                raise TypeError("moving_quantile: q (the quantile, in [0, 1]) is required")
            params["q"] = check_quantile(q, name)
        elif q is not None:
            raise TypeError(f"{name}: q applies to moving_quantile only")
        if name == "moving_median":
            params["q"] = 0.5
        self.kernel_params = params

    def partitioning(self) -> Any:
        """How outputs depend on inputs, for the parallel engines
        (:mod:`pystream.stages.partitioning`): output ``i`` needs inputs ``i - window + 1 .. i``."""
        return Window(self.kernel_params["window"])


def moving_stage(name: str, window: Any, min_count: int | None = None, nan_policy: str = "omit",
                 closed: str | None = None, ddof: float | None = None,
                 q: float | None = None) -> Moving | TimeMoving:
    """The moving-window stage `name` over `window`: records (an int) or a duration
    on the time column (a string such as ``"5min"``, a timedelta, ``ps.duration(x)``).

    Examples
    --------
    >>> type(moving_stage("moving_mean", 3)).__name__, type(moving_stage("moving_mean", "5min")).__name__
    ('Moving', 'TimeMoving')
    """
    if isinstance(window, str) and window.strip().lstrip("+-").isdigit():
        raise TypeError(f"{name}: window={window!r}: a window of records is an integer "
                        f"(window={window.strip()}); a duration needs a unit "
                        f"('{window.strip()}s', '{window.strip()}min')")
    if is_duration(window):
        return TimeMoving(name, window, min_count, nan_policy, closed, ddof, q)
    if isinstance(window, (float, np.floating)):
        raise TypeError(f"{name}: window={window!r}: a window of records is an integer; for a "
                        f"duration on a numeric time column write ps.duration({window!r})")
    if closed is not None and closed != "right":
        raise ValueError(f"{name}: closed={closed!r} applies to duration windows "
                         "(window='5min'); a window of records ends at the record itself")
    kw: dict[str, Any] = {}
    if ddof is not None:
        kw["ddof"] = ddof
    if q is not None:
        kw["q"] = q
    return Moving(name, window, min_count, nan_policy, **kw)


# --------------------------------------------------------------------------- the table

_PARAMS = """Parameters
----------
window : int, str or timedelta
    The window: a number of records, ``1 <= window <= 2**52``; or a
    duration on the stream's time column (``"5min"``, ``"1D"``,
    ``np.timedelta64``, ``datetime.timedelta``; ``ps.duration(x)``
    for numeric times, in their units), pandas' offset windows: the
    window of a record at time t holds the records up to it whose times
    are in ``(t - window, t]`` (see `closed`).  Memory follows the
    records in the window, not its nominal length.
min_count : int, optional
    Least number of non-NaN values in the window for a non-NaN
    output.  Default: `window` for a window of records (the first
    ``window - 1`` outputs are NaN, bottleneck's rule); 1 for a
    duration (pandas' ``min_periods`` for offset windows).
nan_policy : {"omit", "propagate", "raise"}, default "omit"
    ``"omit"`` skips NaNs (bottleneck, pandas); ``"propagate"``
    gives NaN for every window holding a NaN; ``"raise"`` raises
    ``ValueError`` naming the record of the first NaN.
closed : {"right", "both", "left", "neither"}, optional
    Duration windows only: which ends of ``(t - window, t]`` are in the
    window (pandas' ``closed``; default ``"right"``).  With an open
    right end the record itself is out of its window."""

_DDOF = """
ddof : float, default 1
    Delta degrees of freedom: divisor ``count - ddof``.  The default
    1 is pandas' and polars' (``rolling(w).std()``); ``ddof=0`` is
    bottleneck's ``move_std`` and numpy's ``np.std``.  The reducers
    (:meth:`std`, :meth:`describe`) keep numpy's default 0."""

_TAIL = """Returns
-------
Stream
    A lazy stream of float64 records of this stream's record shape,
    one per input record (the statistic is taken per value of the
    record).

Raises
------
TypeError, ValueError
    For invalid parameters, when the stage is added (not mid-stream)."""

_SIGNATURE = "window: int | str, min_count: int | None = None, nan_policy: str = \"omit\""


def _window_row(name: str, summary: str, example: str, sample: dict[str, Any], extra: str = "",
                params: str = _SIGNATURE, call: str = "window, min_count, nan_policy") -> StageRow:
    doc = numpydoc(summary, _PARAMS + extra, _TAIL,
                   "Examples\n--------\n>>> import numpy as np, pystream as ps\n" + example)
    params += ", closed: str | None = None"
    call += ", closed=closed"
    row = StageRow(name, "windows", doc, partial(moving_stage, name), params, call,
                   partial(slow_moving, name), sample, kinds=(name,), partitioning="window")
    row.build.__doc__ = row.docstring  # type: ignore[attr-defined]
    return row


#: The moving-window stages, one row each.
TABLE: tuple[StageRow, ...] = (
    _window_row("moving_sum", "Moving-window sum (bottleneck's ``move_sum``), drift-free.",
                ">>> ps.from_array(np.arange(5.0)).moving_sum(3).to_array()\n"
                "array([nan, nan,  3.,  6.,  9.])", {"window": 5, "min_count": 2}),
    _window_row("moving_mean", "Moving-window mean (bottleneck's ``move_mean``), drift-free.",
                ">>> ps.from_array(np.arange(5.0)).moving_mean(2, min_count=1).to_array()\n"
                "array([0. , 0.5, 1.5, 2.5, 3.5])", {"window": 5}),
    _window_row("moving_var",
                "Moving-window variance, the sample variance by default (pandas' "
                "``rolling(w).var()``; bottleneck's ``move_var`` is ``ddof=0``): NaN while "
                "``count - ddof <= 0``; a constant window gives exactly 0.",
                ">>> x = ps.from_array(np.array([1e12, 1.0, 1.0, 1.0]))\n"
                ">>> x.moving_var(2).to_array()                  # ddof=1, as pandas\n"
                "array([   nan, 5.e+23, 0.e+00, 0.e+00])\n"
                ">>> x.moving_var(2, ddof=0).to_array()          # as bottleneck's move_var\n"
                "array([    nan, 2.5e+23, 0.0e+00, 0.0e+00])", {"window": 5, "ddof": 1}, _DDOF,
                _SIGNATURE + ", ddof: float = 1", "window, min_count, nan_policy, ddof=ddof"),
    _window_row("moving_std",
                "Moving-window standard deviation, the sample one by default (pandas' "
                "``rolling(w).std()``; bottleneck's ``move_std`` is ``ddof=0``), drift-free.",
                ">>> x = ps.from_array(np.array([1.0, 3.0, 3.0]))\n"
                ">>> x.moving_std(2).to_array()                  # ddof=1, as pandas\n"
                "array([       nan, 1.41421356, 0.        ])\n"
                ">>> x.moving_std(2, ddof=0).to_array()          # as bottleneck's move_std\n"
                "array([nan,  1.,  0.])", {"window": 5}, _DDOF,
                _SIGNATURE + ", ddof: float = 1", "window, min_count, nan_policy, ddof=ddof"),
    _window_row("moving_min", "Moving-window minimum (bottleneck's ``move_min``).",
                ">>> ps.from_array(np.array([3.0, 1.0, 2.0, 5.0])).moving_min(2).to_array()\n"
                "array([nan,  1.,  1.,  2.])", {"window": 5}),
    _window_row("moving_max", "Moving-window maximum (bottleneck's ``move_max``).",
                ">>> ps.from_array(np.array([3.0, 1.0, 2.0, 5.0])).moving_max(2).to_array()\n"
                "array([nan,  3.,  2.,  5.])", {"window": 5}),
    _window_row("moving_argmin",
                "Where the window's minimum is, counted back from the newest record (0 = newest; "
                "ties go to the newest), as bottleneck's ``move_argmin``.",
                ">>> ps.from_array(np.array([3.0, 1.0, 2.0, 5.0])).moving_argmin(3).to_array()\n"
                "array([nan, nan,  1.,  2.])", {"window": 5}),
    _window_row("moving_argmax",
                "Where the window's maximum is, counted back from the newest record (0 = newest; "
                "ties go to the newest), as bottleneck's ``move_argmax``.",
                ">>> ps.from_array(np.array([3.0, 1.0, 2.0, 5.0])).moving_argmax(3).to_array()\n"
                "array([nan, nan,  2.,  0.])", {"window": 5}),
    _window_row("moving_median",
                "Moving-window median (bottleneck's ``move_median``; the mean of the two middle "
                "values for an even count, as ``np.median``).  O(log window) per record.",
                ">>> ps.from_array(np.array([1.0, 9.0, 2.0, 8.0])).moving_median(3).to_array()\n"
                "array([nan, nan,  2.,  8.])", {"window": 6, "min_count": 1}),
    _window_row("moving_quantile",
                "Moving-window quantile, equal to ``np.quantile(window_values, q)`` (linear "
                "interpolation).  O(log window) per record.  Exact, over the last `window` "
                "records; for the quantiles of a whole stream in bounded memory use "
                ":meth:`quantile` (a sketch).",
                ">>> ps.from_array(np.arange(6.0)).moving_quantile(4, q=0.25).to_array()\n"
                "array([ nan,  nan,  nan, 0.75, 1.75, 2.75])", {"window": 6, "q": 0.7},
                "\nq : float\n    The quantile, in [0, 1].",
                "window: int | str, q: float, min_count: int | None = None, nan_policy: str = \"omit\"",
                "window, min_count, nan_policy, q=q"),
    _window_row("moving_rank",
                "Rank of the newest record within its window, scaled to [-1, 1] (ties averaged), "
                "as bottleneck's ``move_rank``.",
                ">>> ps.from_array(np.array([1.0, 3.0, 2.0, 0.0])).moving_rank(3).to_array()\n"
                "array([nan, nan,  0., -1.])", {"window": 6}),
)

#: The moving-window stage names, each a :class:`Moving` kind.
MOVING_STAGES: tuple[str, ...] = tuple(row.name for row in TABLE)
