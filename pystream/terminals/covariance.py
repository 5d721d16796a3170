"""``cov`` and ``corr``: covariance and correlation matrices of record streams,
from one :class:`~pystream.CoMoments` state (C kernel), for every engine,
push sink, fork and key."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np

from .._checks import check_ddof, check_nan_policy
from .._columns import column_positions
from ..multivariate.comoments import CoMoments
from .protocol import Meta, MetaFn, ReducerConsumer, ReducerTerminal, terminal

__all__ = ["CorrTerminal", "CovConsumer", "CovState", "CovTerminal", "cov_columns"]


def cov_columns(columns: Any, names: tuple[str, ...] | None, width: int,
                where: str) -> list[int] | None:
    """Positions of `columns` (names or integer positions, as ``select``) among
    `width` columns; None for all of them."""
    return None if columns is None else column_positions(columns, width, names, where)


def _check_columns_argument(columns: Any, where: str) -> Any:
    """`columns` checked before any data is read (types, count, duplicates)."""
    if columns is None:
        return None
    items = [columns] if isinstance(columns, (str, int, np.integer)) else list(columns)
    for c in items:
        if isinstance(c, (bool, np.bool_)) or not isinstance(c, (str, int, np.integer)):
            raise TypeError(f"{where}: columns must be names or integer positions, got {c!r}")
    if len(items) < 2:
        raise ValueError(f"{where}: a multivariate statistic needs at least 2 columns; "
                         f"columns={columns!r} picks {len(items)}")
    return items


class CovState:
    """A :class:`~pystream.CoMoments` fed the chosen columns of each chunk."""

    def __init__(self, start: int, columns: Any, names: tuple[str, ...] | None,
                 where: str) -> None:
        self.comoments = CoMoments(start)
        self.columns = columns
        self.names = names
        self.where = where
        self.picks: list[int] | None = None
        self.resolved = columns is None

    def _pick(self, chunk: np.ndarray) -> np.ndarray:
        if not self.resolved:
            if chunk.ndim != 2:
                raise ValueError(
                    f"{self.where}: a multivariate statistic needs records of at least 2 "
                    f"columns; got records of shape {chunk.shape[1:]}")
            self.picks = cov_columns(self.columns, self.names, chunk.shape[1], self.where)
            self.resolved = True
        return chunk if self.picks is None else chunk[:, self.picks]

    def update(self, chunk: np.ndarray) -> CovState:
        self.comoments.update(self._pick(np.asarray(chunk)))
        return self

    def merge(self, other: CovState) -> CovState:
        self.comoments.merge(other.comoments)
        return self

    def label(self, index: int) -> str:
        """The stream's name or position of the chosen column `index`."""
        k = index if self.picks is None else self.picks[index]
        return repr(self.names[k]) if self.names is not None else str(k)


class CovConsumer(ReducerConsumer):
    """``cov`` / ``corr`` in push form: names label the columns once known."""

    state: CovState

    def label_columns(self, names: tuple[str, ...] | None) -> None:
        """The names of the input's columns (``columns=`` may use them)."""
        if self.state.names is None and not self.state.resolved:
            self.state.names = names


class CovTerminal(ReducerTerminal):
    """``cov()``: the covariance matrix from one co-moments state."""

    name: ClassVar[str] = "cov"
    whole_array = True
    checks_first = True
    returns = "numpy.ndarray"
    doc = """Covariance matrix of the columns of a record stream, in one pass.

    Like ``np.cov(x, rowvar=False, ddof=ddof)`` on the whole stream as a
    (n, d) array, for any chunking, partitioning and engine with the same
    bytes (a :class:`pystream.CoMoments` state: global aligned blocks, a
    shifted two-pass block algorithm, Chan/Pebay's pairwise combine; within
    a few ulps of the exact value on data of mean 1e9 and spread 1, where
    the textbook sums lose every digit).

    Parameters
    ----------
    columns : sequence of str or int, optional
        The columns to use, by name (when the stream has names) or by
        position, as :meth:`select`; default all.  At least 2.
    ddof : int or float, optional
        Delta degrees of freedom, divisor ``n - ddof``; default 1 as
        :func:`numpy.cov` (``describe`` and ``var`` default to 0, as
        ``np.var``).  NaN where ``n - ddof <= 0``.
    nan_policy : {"propagate", "omit", "raise"}, optional
        ``"propagate"``: a NaN in column i makes row and column i NaN (as
        numpy); ``"omit"``: pairwise-complete observations, as pandas'
        ``DataFrame.cov``: each pair uses the records where both are
        non-NaN, with that pair's own count and means; ``"raise"``:
        ``ValueError`` at the first NaN, naming its record and column.

    {engine_parameters}

    Returns
    -------
    numpy.ndarray
        float64, shape (d, d), exactly symmetric; always a matrix, also
        for two columns (as ``np.cov``).

    Raises
    ------
    ValueError
        For a stream of scalar records or records of one column (a
        multivariate statistic needs records of at least 2 columns), fewer
        than 2 columns chosen, an invalid `ddof` / `nan_policy`, or a NaN
        with ``nan_policy="raise"``.
    KeyError, IndexError
        A column name or position that does not exist.

    See Also
    --------
    corr : the correlation matrix.
    pystream.CoMoments : the mergeable state.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> x = np.array([[1.0, 2.0], [2.0, 4.5], [4.0, 7.0]])
    >>> ps.from_array(x).cov().tolist()
    [[2.333333333333333, 3.75], [3.75, 6.25]]
    >>> s = ps.from_array(x).rename(["a", "b"])
    >>> float(s.cov(["b", "a"])[0, 0])
    6.25
    """

    #: The names of the input's columns (set by :meth:`prepare`).
    names: tuple[str, ...] | None = None
    #: Keyed runs call :meth:`prepare` too, so ``columns=`` may name columns.
    reads_names: ClassVar[bool] = True

    def __init__(self, columns: Any = None, *, ddof: float = 1,
                 nan_policy: str = "propagate") -> None:
        self.columns = _check_columns_argument(columns, self.name)
        self.ddof = check_ddof(ddof, self.name)
        self.policy = check_nan_policy(nan_policy, self.name)
        self.raises_nan = self.policy == "raise"

    def state(self, start: int) -> CovState:
        return CovState(start, self.columns, self.names, self.name)

    def prepare(self, node: Any, options: Any) -> CovTerminal:
        """The spec with the names of the stream's columns, if it has any."""
        shape = node.meta()[1]
        if len(shape) != 1:
            raise ValueError(
                f"{self.name}: a multivariate statistic needs records of at least 2 "
                f"columns; the stream's records have shape {shape}")
        names = node.table.names_for(shape)
        if names is None:
            return self
        spec = copy.copy(self)
        spec.names = names
        return spec

    def early(self, state: CovState) -> None:
        if self.raises_nan:
            first = state.comoments.first_nan
            if first is not None:
                raise ValueError(f"{self.name}: NaN at record {first[0]}, column "
                                 f"{state.label(first[1])} (nan_policy='raise')")

    def _empty(self, state: CovState, meta: MetaFn) -> np.ndarray:
        """No record: an all-NaN matrix of the input's width (as np.cov warns and gives)."""
        _dt, shape = meta()
        if len(shape) != 1 or shape[0] < 2:
            raise ValueError(f"{self.name}: a multivariate statistic needs records of at "
                             f"least 2 columns; the stream's records have shape {shape}")
        d = shape[0] if state.columns is None else len(
            cov_columns(state.columns, state.names, shape[0], self.name) or ())
        return np.full((d, d), np.nan)

    def finish(self, state: CovState, meta: MetaFn) -> np.ndarray:
        self.early(state)
        m = state.comoments
        if m.width is None:
            return self._empty(state, meta)
        return m.cov(ddof=self.ddof, nan_policy=self.policy)

    def consumer(self, meta: Meta, start: int) -> CovConsumer:
        return CovConsumer(self, meta, start)


terminal(CovTerminal)


@terminal
class CorrTerminal(CovTerminal):
    """``corr()``: the correlation matrix from one co-moments state."""

    name: ClassVar[str] = "corr"
    doc = """Correlation matrix (Pearson) of the columns of a record stream, in one pass.

    Like ``np.corrcoef(x, rowvar=False)`` on the whole stream, with the
    same bytes for any chunking, partitioning and engine (a
    :class:`pystream.CoMoments` state).  A column of zero variance gives
    NaN in its row and column, diagonal included (numpy gives NaN with a
    RuntimeWarning; pystream does not warn); otherwise the diagonal is
    exactly 1.0 and every entry lies in [-1, 1] (clipped, as numpy).  A
    constant column is detected exactly, so it never gives 1.0000001.

    Parameters
    ----------
    columns : sequence of str or int, optional
        The columns to use, by name or position, as :meth:`select`;
        default all.  At least 2.
    nan_policy : {"propagate", "omit", "raise"}, optional
        ``"propagate"``: a NaN in column i makes row and column i NaN;
        ``"omit"``: pairwise-complete observations, as pandas'
        ``DataFrame.corr``: each pair uses the records where both are
        non-NaN, with the pair's own means and variances; ``"raise"``:
        ``ValueError`` at the first NaN, naming its record and column.

    {engine_parameters}

    Returns
    -------
    numpy.ndarray
        float64, shape (d, d), symmetric.

    Raises
    ------
    ValueError
        For scalar records or records of one column, fewer than 2 columns
        chosen, an invalid `nan_policy`, or a NaN with
        ``nan_policy="raise"``.
    KeyError, IndexError
        A column name or position that does not exist.

    See Also
    --------
    cov : the covariance matrix.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> x = np.array([[1.0, 2.0, 5.0], [2.0, 4.5, 5.0], [4.0, 7.0, 5.0]])
    >>> ps.from_array(x).corr().round(4).tolist()
    [[1.0, 0.982, nan], [0.982, 1.0, nan], [nan, nan, nan]]
    """

    def __init__(self, columns: Any = None, *, nan_policy: str = "propagate") -> None:
        super().__init__(columns, ddof=0, nan_policy=nan_policy)

    def finish(self, state: CovState, meta: MetaFn) -> np.ndarray:
        self.early(state)
        m = state.comoments
        if m.width is None:
            return self._empty(state, meta)
        return m.corr(nan_policy=self.policy)
