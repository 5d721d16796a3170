"""The result of a least-squares fit: :class:`OLSResult`, and the choice of
columns (``y`` / ``x`` by name or position) shared by the state and the terminal."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._columns import column_position

__all__ = ["OLSResult", "column_label", "resolve_columns"]

Column = int | str


def _position(c: object, d: int, names: tuple[str, ...] | None, what: str, where: str) -> int:
    """The position of column `c` (a name or an integer) in records of `d` values."""
    return column_position(c, d, names, where, what)


def resolve_columns(y: object, x: object, d: int, names: tuple[str, ...] | None,
                    where: str = "ols") -> tuple[int, tuple[int, ...]]:
    """Positions of the response `y` and the regressors `x` (None: every column
    but `y`) in records of `d` values named `names` (None: no names).

    Raises
    ------
    KeyError
        A name the stream does not have (or a stream without names).
    IndexError
        A position out of range.
    ValueError
        `y` among `x`, a repeated regressor.

    Examples
    --------
    >>> resolve_columns("b", None, 3, ("a", "b", "c"))
    (1, (0, 2))
    >>> resolve_columns(-1, [0], 3, None)
    (2, (0,))
    """
    yp = _position(y, d, names, "y", where)
    if x is None:
        xs = tuple(i for i in range(d) if i != yp)
    else:
        items: Sequence[Any] = [x] if isinstance(x, (str, int, np.integer)) else list(x)  # type: ignore[arg-type]
        xs = tuple(_position(c, d, names, "x", where) for c in items)
    if yp in xs:
        raise ValueError(f"{where}: the response y (column {column_label(yp, names)!r}) is "
                         "also among the regressors x")
    if len(set(xs)) != len(xs):
        dup = next(i for i in xs if xs.count(i) > 1)
        raise ValueError(f"{where}: regressor {column_label(dup, names)!r} is given twice in x")
    return yp, xs


def column_label(i: int, names: tuple[str, ...] | None) -> str:
    """The name of column `i`, or its position as text."""
    return names[i] if names is not None else str(i)


def _fmt(v: float) -> str:
    return "nan" if math.isnan(v) else f"{v:.6g}"


@dataclass(frozen=True, eq=False)
class OLSResult:
    """An ordinary least-squares fit: ``y = X @ coef + residual``.

    Every statistic is the exact least-squares value of the float64 data,
    rounded once to float64 (see :class:`pystream.LeastSquares`).

    Attributes
    ----------
    coef : ndarray
        The coefficients, the intercept first when there is one
        (statsmodels' ``params``).
    stderr : ndarray
        Their standard errors, ``sqrt(resid_std**2 * diag((X'X)^-1))``
        (statsmodels' ``bse``); NaN when ``df_resid == 0``.
    resid_std : float
        ``sqrt(rss / df_resid)`` (statsmodels' ``sqrt(scale)``).
    r_squared : float
        ``1 - rss / sum((y - mean(y))**2)`` with an intercept, the
        uncentred ``1 - rss / sum(y**2)`` without (as NIST and
        statsmodels).
    nobs : int
        Records used.
    df_resid : int
        ``nobs - len(coef)``.
    rss : float
        The residual sum of squares.
    names : tuple of str
        The term of each coefficient: ``"intercept"``, then the
        regressors' column names (or positions, as text).
    y_name : str
        The response's column name (or position).

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> r = ps.from_array(np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0]])).ols(1)
    >>> r.coef.tolist(), r.names, r.r_squared
    ([1.0, 2.0], ('intercept', '0'), 1.0)
    """

    coef: np.ndarray
    stderr: np.ndarray
    resid_std: float
    r_squared: float
    nobs: int
    df_resid: int
    rss: float
    names: tuple[str, ...]
    y_name: str = "y"

    def __post_init__(self) -> None:
        for name in ("coef", "stderr"):          # frozen: the arrays too
            arr = np.array(getattr(self, name), dtype=np.float64)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    def __eq__(self, other: object) -> bool:
        """Every field equal (arrays elementwise, NaN equal to NaN)."""
        if not isinstance(other, OLSResult):
            return NotImplemented
        same = lambda a, b: bool(np.array_equal(a, b, equal_nan=True))  # noqa: E731
        return (self.names == other.names and self.y_name == other.y_name
                and self.nobs == other.nobs and self.df_resid == other.df_resid
                and all(same(getattr(self, f), getattr(other, f))
                        for f in ("coef", "stderr", "resid_std", "r_squared", "rss")))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        width = max([len("term"), *map(len, self.names)])
        lines = [f"OLSResult: {self.y_name} on {len(self.coef)} terms, {self.nobs} records",
                 f"{'term':<{width}}  {'coef':>13}  {'stderr':>13}"]
        for name, c, s in zip(self.names, self.coef.tolist(), self.stderr.tolist()):
            lines.append(f"{name:<{width}}  {_fmt(c):>13}  {_fmt(s):>13}")
        lines.append(f"resid_std {_fmt(self.resid_std)}  r_squared {_fmt(self.r_squared)}  "
                     f"df_resid {self.df_resid}  rss {_fmt(self.rss)}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The fit as plain Python values: ``coef`` and ``stderr`` map each
        term to its value; the scalars as they are.

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> d = ps.from_array(np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0]])).ols(1).to_dict()
        >>> d["coef"], d["nobs"]
        ({'intercept': 1.0, '0': 2.0}, 3)
        """
        return {"coef": dict(zip(self.names, self.coef.tolist())),
                "stderr": dict(zip(self.names, self.stderr.tolist())),
                "resid_std": self.resid_std, "r_squared": self.r_squared,
                "nobs": self.nobs, "df_resid": self.df_resid, "rss": self.rss,
                "y_name": self.y_name}

    def to_pandas(self) -> Any:
        """A :class:`pandas.DataFrame` of ``coef`` and ``stderr``, one row per
        term (pandas is imported here: it is optional).

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> df = ps.from_array(np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0]])).ols(1).to_pandas()
        >>> df.loc["0", "coef"]
        np.float64(2.0)
        """
        import pandas as pd

        return pd.DataFrame({"coef": self.coef, "stderr": self.stderr},
                            index=pd.Index(list(self.names), name="term"))
