"""``ols``: ordinary least squares as a terminal, on the exact cross-product
state :class:`~pystream.LeastSquares` (every driver: local, threads, Dask,
push, fork, tee, and per key)."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np

from .._checks import check_nan_policy
from ..multivariate.ols import LeastSquares, bad_record_error
from ..multivariate.result import OLSResult, column_label, resolve_columns
from .protocol import Meta, MetaFn, ReducerConsumer, ReducerTerminal, terminal

__all__ = ["OLSConsumer", "OLSTerminal"]


def _record_width(meta: Meta, where: str = "ols") -> int:
    """The number of columns of the records (refusing scalar and n-d records)."""
    dt, rs = meta
    if len(rs) != 1 or rs[0] < 2:
        raise ValueError(f"{where}: a multivariate statistic needs records of at least 2 "
                         f"columns (record shape (d,), d >= 2); this stream's records have "
                         f"shape {rs}")
    if np.dtype(dt).kind not in "fiub":
        raise TypeError(f"{where}: least squares needs real numbers, not dtype {dt}")
    return int(rs[0])


def _check_column(c: object, what: str) -> None:
    if isinstance(c, (bool, np.bool_)) or not isinstance(c, (str, int, np.integer)):
        raise TypeError(f"ols: {what} must be a column name or position, got {c!r}")


class OLSConsumer(ReducerConsumer):
    """``ols`` in push form: the columns named by `y` / `x` are resolved once the
    branch learns the names of its input's columns (``label_columns``, called
    before any chunk); until then the state waits."""

    spec: OLSTerminal

    def __init__(self, spec: OLSTerminal, meta: Meta, start: int) -> None:
        self.unbound = spec
        deferred = copy.copy(spec)
        deferred.deferred = True
        super().__init__(deferred, meta, start)

    def label_columns(self, names: tuple[str, ...] | None) -> None:
        self.spec = self.unbound.bound(self.meta, names)
        self.state = self.spec.state(self.start)

    def _update(self, chunk: np.ndarray) -> None:
        if self.state is None:               # never labelled: names cannot be resolved
            self.state = self.unbound.state(self.start)
        super()._update(chunk)

    def _result(self) -> Any:
        if self.state is None:
            self.state = self.unbound.state(self.start)
        return super()._result()


@terminal
class OLSTerminal(ReducerTerminal):
    """``ols()``: a :class:`~pystream.LeastSquares` state."""

    name: ClassVar[str] = "ols"
    whole_array = True
    #: Resolve the column names from the chain node (also per key).
    reads_names: ClassVar[bool] = True
    returns = "OLSResult"
    doc = """Ordinary least squares of column `y` on columns `x`, exact in the data, one pass.

    Fits ``y = b0 + b1 x1 + ... + bk xk`` (``b0`` with `intercept`) and
    returns the coefficients, their standard errors, the residual standard
    deviation and R-squared -- statsmodels' ``OLS(y, X).fit()`` numbers.
    The state accumulates ``n``, ``X'X``, ``X'y`` and ``y'y`` **exactly**
    (fixed-point integers covering any product of two doubles) and the
    normal equations are solved in exact rational arithmetic, so every
    statistic is the exact least-squares value of the float64 data rounded
    once: as accurate as float64 input allows, on any conditioning
    (NIST StRD: see :class:`pystream.LeastSquares`), and the same bits for
    any chunking, partitioning, engine or merge order.  Memory is
    constant: the stream is never held.

    Parameters
    ----------
    y : str or int
        The response: a column name (when the stream has names,
        ``stream.columns``) or position.
    x : str, int or sequence of them, optional
        The regressors; default every column but `y`.
    intercept : bool, optional
        Add a constant term, reported first as ``"intercept"`` (default
        True; statsmodels needs ``add_constant``).
    nan_policy : {"propagate", "omit", "raise"}, optional
        ``"propagate"``: every statistic is NaN if a record held a NaN or
        an infinity in `y` or `x`; ``"omit"``: records with a NaN in `y`
        or any `x` are dropped (statsmodels' ``missing="drop"``), an
        infinity still gives NaN; ``"raise"``: ValueError naming the first
        record with a NaN or infinity, and its column.

    {engine_parameters}

    Returns
    -------
    pystream.OLSResult
        ``coef``, ``stderr``, ``resid_std``, ``r_squared``, ``nobs``,
        ``df_resid``, ``rss``, ``names``; ``to_dict()``, ``to_pandas()``.

    Raises
    ------
    ValueError
        Records of fewer than 2 columns, no records, a NaN with
        ``nan_policy="raise"``, or regressors that are linearly dependent
        over the data (a constant column besides the intercept, fewer
        records than terms): the message names the dependent term.
        Unlike numpy's ``lstsq`` and statsmodels' ``pinv``, no
        minimum-norm answer is made up for a singular design.
    KeyError, IndexError
        A column name the stream does not have, a position out of range.

    See Also
    --------
    pystream.LeastSquares : the mergeable, serializable state.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> a = np.array([[0.0, 1.0], [1.0, 3.1], [2.0, 4.9], [3.0, 7.0]])
    >>> r = ps.from_array(a).rename(["x", "y"]).ols("y")
    >>> r.names, r.coef.round(6).tolist(), r.nobs
    (('intercept', 'x'), [1.03, 1.98], 4)
    >>> X = np.c_[np.ones(4), a[:, 0]]
    >>> np.allclose(r.coef, np.linalg.lstsq(X, a[:, 1], rcond=None)[0])
    True
    """

    def __init__(self, y: str | int, x: Any = None, *, intercept: bool = True,
                 nan_policy: str = "propagate") -> None:
        _check_column(y, "y")
        if x is not None:
            for c in ([x] if isinstance(x, (str, int, np.integer)) else list(x)):
                _check_column(c, "x")
        if not isinstance(intercept, (bool, np.bool_)):
            raise TypeError(f"ols: intercept must be True or False, got {intercept!r}")
        self.y, self.x = y, x
        self.intercept = bool(intercept)
        self.policy = check_nan_policy(nan_policy, "ols")
        self.raises_nan = self.policy == "raise"
        # positional (the default): a state covers [start, stop) of the global
        # records and merges with its neighbour only (the error of "raise" names
        # a record), so after a filter the engines reduce in the calling thread.
        self.columns: tuple[int, tuple[int, ...]] | None = None
        self.names: tuple[str, ...] | None = None
        #: A push consumer's spec before it learns the column names.
        self.deferred = False
        if x is not None and len([x] if isinstance(x, (str, int, np.integer)) else list(x)) \
                == 0 and not self.intercept:
            raise ValueError("ols: no terms to fit (x is empty and intercept=False)")

    def bound(self, meta: Meta, names: tuple[str, ...] | None) -> OLSTerminal:
        """The spec with its columns resolved for records of `meta` named `names`."""
        d = _record_width(meta)
        spec = copy.copy(self)
        spec.columns = resolve_columns(self.y, self.x, d, names)
        spec.names = names
        return spec

    def prepare(self, node: Any, options: Any) -> OLSTerminal:
        meta = node.meta()
        return self.bound(meta, node.table.names_for(meta[1]))

    def state(self, start: int) -> LeastSquares | None:
        if self.columns is None and self.deferred:
            return None
        if self.columns is not None:
            y, xs = self.columns
            return LeastSquares(y, list(xs), intercept=self.intercept, start=start,
                                names=self.names)
        if isinstance(self.y, str) or (self.x is not None and any(
                isinstance(c, str) for c in ([self.x] if isinstance(self.x, str) else self.x))):
            raise KeyError(f"ols: the records come without column names here, so y={self.y!r} "
                           f"/ x={self.x!r} name no column; choose columns by position")
        return LeastSquares(self.y, self.x, intercept=self.intercept, start=start)

    def early(self, state: LeastSquares) -> None:
        if self.raises_nan and state is not None:
            bad = state.first_bad
            if bad is not None:
                raise bad_record_error(bad, self.names)

    def finish(self, state: LeastSquares, meta: MetaFn) -> OLSResult:
        if self.columns is None:
            _record_width(meta())
        y_name = None
        if self.columns is not None:
            y_name = column_label(self.columns[0], self.names)
        return state.result(self.policy, y_name)

    def consumer(self, meta: Meta, start: int) -> OLSConsumer:
        _record_width(meta)
        return OLSConsumer(self, meta, start)
