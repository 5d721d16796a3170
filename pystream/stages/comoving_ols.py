"""Moving least squares (issue 21): ``moving_ols`` -- per record, the coefficients of
the least-squares fit of one column on others over a window of records
(:class:`MovingOLS`, its state :class:`OLSState`).

Each window's fit comes from its centred co-moment matrix and its means, both
drift-free and chunk-invariant (the co-moment kernel of ``csrc/comoving.c``
and the ``moving_mean`` kernel), solved per record by a Cholesky
factorisation vectorised over the chunk's records.  A record with a NaN in
`y` or any regressor is left out of every window (statsmodels'
``missing="drop"``), so all pairs count the same records.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._checks import StateLock, as_int, check_count, check_nan_policy, restore_state
from .._columns import column_position
from .._native import kernel_dtype
from .comoving_kernel import CoMovingState, positions
from .kernel import KernelStage, StageState
from .partitioning import Window

__all__ = ["MovingOLS", "OLSState", "solve_normal"]

#: A pivot of the Cholesky factorisation at most this fraction of its
#: diagonal entry marks the regressors as collinear in the window (NaN).
SINGULAR = 1e-12


def solve_normal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``a[i] @ x[i] = b[i]`` for symmetric positive definite ``(n, p, p)``
    matrices by Cholesky, vectorised over `i`; NaN rows where `a[i]` is singular
    (a pivot below :data:`SINGULAR` times its diagonal entry) or not finite.

    Examples
    --------
    >>> a = np.array([[[4.0, 2.0], [2.0, 3.0]], [[1.0, 1.0], [1.0, 1.0]]])
    >>> solve_normal(a, np.array([[2.0, 1.0], [1.0, 1.0]]))
    array([[0.5, 0. ],
           [nan, nan]])
    """
    n, p = b.shape
    low = np.zeros((n, p, p))
    bad = ~np.isfinite(a).all(axis=(1, 2)) | ~np.isfinite(b).all(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in range(p):
            pivot = a[:, j, j] - np.einsum("ik,ik->i", low[:, j, :j], low[:, j, :j])
            bad |= ~(pivot > SINGULAR * np.abs(a[:, j, j]))
            low[:, j, j] = np.sqrt(np.where(bad, 1.0, pivot))
            for i in range(j + 1, p):
                low[:, i, j] = (a[:, i, j] - np.einsum("ik,ik->i", low[:, i, :j],
                                                       low[:, j, :j])) / low[:, j, j]
        z = np.zeros((n, p))
        for j in range(p):                       # L z = b
            z[:, j] = (b[:, j] - np.einsum("ik,ik->i", low[:, j, :j], z[:, :j])) / low[:, j, j]
        x = np.zeros((n, p))
        for j in reversed(range(p)):             # L' x = z
            x[:, j] = (z[:, j] - np.einsum("ik,ik->i", low[:, j + 1:, j], x[:, j + 1:])) \
                / low[:, j, j]
    x[bad] = np.nan
    return x


def _ols_column(c: Any, names: Sequence[str] | None) -> int:
    """One column (a name or an integer position) as a position (range checked later)."""
    return column_position(c, None, names, "moving_ols")


class OLSState:
    """The checkpointable state of :class:`MovingOLS`: a co-moment state and a
    moving-mean state over the columns ``[x..., y]`` (records with a NaN in any of
    them masked whole).

    Parameters
    ----------
    window, min_count : int
    columns : ndarray of int
        ``[x..., y]`` positions in the input records.
    intercept : bool
    start : int, default 0

    Examples
    --------
    >>> import pickle
    >>> s = OLSState(3, 3, np.array([0, 1]), True)
    >>> s.update(np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0], [3.0, 8.0]]))[2:].round(4)
    array([[1.    , 2.    ],
           [0.3333, 2.5   ]])
    >>> pickle.loads(pickle.dumps(s)).update(np.array([[4.0, 9.0]])).round(4)
    array([[1.3333, 2.    ]])
    """

    __slots__ = ("_lock", "columns", "comoments", "intercept", "means", "min_count", "window")

    def __init__(self, window: int, min_count: int, columns: np.ndarray, intercept: bool,
                 start: int = 0, _states: tuple[Any, Any] | None = None) -> None:
        self.window = int(window)
        self.min_count = int(min_count)
        self.columns = np.asarray(columns, dtype=np.intp)
        self.intercept = bool(intercept)
        k = len(self.columns) + (len(self.columns) == 2)   # the kernel's matrices need k > 2
        if _states is None:
            self.comoments = CoMovingState("cov", self.window, self.min_count, False, 0.0,
                                           np.arange(k), start)
            self.means = StageState("moving_mean", (k,), start, "omit", window=self.window,
                                    min_count=1)
        else:
            self.comoments, self.means = _states
        self._lock = threading.Lock()

    @property
    def position(self) -> int:
        """Global index of the next record."""
        return self.comoments.position

    def update(self, chunk: np.ndarray, buffer: np.ndarray | None = None) -> np.ndarray:
        """Feed records; return their coefficients, ``(m, p + intercept)`` (intercept
        first).  `buffer` is accepted for the pusher protocol and not used."""
        chunk = np.asarray(chunk)
        if chunk.dtype != np.float64:
            kernel_dtype(chunk.dtype, "moving_ols")
        if chunk.ndim != 2 or chunk.shape[1] <= int(self.columns.max()):
            raise ValueError(f"moving_ols: chunk at record {self.position} has records of "
                             f"shape {chunk.shape[1:]}, this state reads columns "
                             f"{self.columns.tolist()}")
        rows = np.array(chunk[:, self.columns], dtype=np.float64)
        rows[np.isnan(rows).any(axis=1)] = np.nan          # listwise: the record is out
        if len(self.columns) == 2:
            rows = np.column_stack([rows, rows[:, :1]])
        with StateLock(self._lock, "OLSState.update"):
            c = self.comoments.update(rows)
            m = self.means.update(rows)
        p = len(self.columns) - 1
        cxx, cxy = c[:, :p, :p], c[:, :p, p]
        mx, my = m[:, :p], m[:, p]
        if self.intercept:
            slopes = solve_normal(cxx, cxy)
            return np.column_stack([my - np.einsum("ij,ij->i", mx, slopes), slopes])
        a = cxx + mx[:, :, None] * mx[:, None, :]
        return solve_normal(a, cxy + mx * my[:, None])

    def flush(self) -> np.ndarray:
        """Nothing is pending at the end of a stream."""
        return np.empty((0, len(self.columns) - 1 + self.intercept))

    def to_bytes(self) -> tuple[bytes, bytes]:
        """The two sub-states' bytes (see :meth:`from_bytes`)."""
        return self.comoments.to_bytes(), self.means.to_bytes()

    @classmethod
    def from_bytes(cls, data: tuple[bytes, bytes], columns: Sequence[int],
                   intercept: bool) -> OLSState:
        """Rebuild from :meth:`to_bytes` (``ValueError`` for corrupt bytes)."""
        co = CoMovingState.from_bytes(data[0])
        k = len(co.columns)
        means = StageState.from_bytes(data[1], (k,))
        if means.position != co.position:
            raise ValueError("OLSState.from_bytes: the two states are at different records")
        return cls(co.window, co.min_count, np.asarray(columns), intercept, co.position,
                   (co, means))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (restore_state, (OLSState, self.to_bytes(), self.columns.tolist(),
                                self.intercept))


class MovingOLS(KernelStage):
    """``moving_ols``: least-squares coefficients over a window of records.

    Parameters
    ----------
    window : int
        Records per window, ``1 <= window <= 2**52``.
    y : str or int
        The dependent column.
    x : list of str or int, optional
        The regressors; default every other column.
    intercept : bool, default True
    min_count : int, optional
        Least number of complete records in the window; default `window`.
    nan_policy : {"omit", "raise"}, default "omit"
    names : tuple of str, optional
        The stream's column names.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> x = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0], [3.0, 8.0]])
    >>> ps.from_array(x).moving_ols(3, y=1).to_array()[2:].round(4)
    array([[1.    , 2.    ],
           [0.3333, 2.5   ]])
    """

    name = "moving_ols"
    kernel = "moving_ols"
    writes_into = False

    def __init__(self, window: int, y: Any, x: Any = None, intercept: bool = True,
                 min_count: int | None = None, nan_policy: str = "omit",
                 names: Sequence[str] | None = None) -> None:
        if isinstance(window, (str, np.timedelta64)) or hasattr(window, "total_seconds"):
            raise TypeError("moving_ols: the window is a number of records (duration windows "
                            "are not supported yet; resample the stream first)")
        self.window = check_count(window, "window", "moving_ols", minimum=1)
        if self.window > 2**52:
            raise ValueError(f"moving_ols: window must be at most 2**52, got {self.window}")
        self.min_count = self.window if min_count is None else as_int(
            min_count, "min_count must be an integer", "moving_ols")
        if not 1 <= self.min_count <= self.window:
            raise ValueError(f"moving_ols: min_count must be in [1, window={self.window}], "
                             f"got {self.min_count}")
        self.nan_policy = check_nan_policy(nan_policy, "moving_ols")
        if self.nan_policy == "propagate":
            raise ValueError("moving_ols: nan_policy must be 'omit' (records with a NaN are "
                             "left out, statsmodels' missing='drop') or 'raise'")
        if not isinstance(intercept, (bool, np.bool_)):
            raise TypeError(f"moving_ols: intercept must be True or False, got {intercept!r}")
        self.intercept = bool(intercept)
        if y is None or isinstance(y, (list, tuple)):
            raise TypeError("moving_ols: y is one column (a name or a position)")
        self.y = _ols_column(y, names)
        if x is not None and (isinstance(x, (str, int, np.integer)) or not len(list(x))):
            raise TypeError(f"moving_ols: x is a list of regressor columns, got {x!r}")
        self.x = None if x is None else [_ols_column(c, names) for c in x]
        self.kernel_params = {"window": self.window, "min_count": self.min_count,
                              "intercept": self.intercept}

    def _columns(self, record_shape: tuple[int, ...]) -> np.ndarray:
        d = positions(None, tuple(record_shape), "moving_ols").size
        y = int(positions([self.y], (d,), "moving_ols")[0])
        if self.x is None:
            xs = [c for c in range(d) if c != y]
        else:
            xs = positions(self.x, (d,), "moving_ols").tolist()
        if y in xs:
            raise ValueError(f"moving_ols: y (column {y}) is also a regressor")
        return np.array([*xs, y], dtype=np.intp)

    def output_meta(self, dtype: np.dtype, record_shape: tuple[int, ...]
                    ) -> tuple[np.dtype, tuple[int, ...]]:
        """float64 records of the coefficients: ``(p + intercept,)``."""
        kernel_dtype(dtype, "moving_ols")
        return np.dtype(np.float64), (len(self._columns(record_shape)) - 1 + self.intercept,)

    def partitioning(self) -> Window:
        """Output ``i`` needs inputs ``i - window + 1 .. i``."""
        return Window(self.window)

    def state(self, record_shape: tuple[int, ...] = (), start: int = 0) -> OLSState:
        """A fresh :class:`OLSState`."""
        return OLSState(self.window, self.min_count, self._columns(record_shape),
                        self.intercept, start)
