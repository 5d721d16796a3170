"""The result of ``describe()``: :class:`Description`, and how its statistics
and quantile estimates are printed."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["DEFAULT_QUANTILES", "Description", "format_quantile", "format_statistic",
           "quantile_label"]

#: The quantiles :meth:`pystream.Stream.describe` estimates by default.
DEFAULT_QUANTILES: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def quantile_label(q: float) -> str:
    """``0.01`` -> ``"p1"``, ``0.999`` -> ``"p99.9"``: the name of a quantile in tables."""
    return "p" + f"{q * 100:.10g}"


@dataclass(frozen=True, eq=False)
class Description:
    """One-pass summary statistics of a stream.

    For a stream of scalars every attribute is a scalar; for a stream of
    records of shape ``record_shape`` every attribute is an array of that
    shape (statistics along the stream axis, value by value).

    Attributes
    ----------
    count : int or ndarray
        Number of non-NaN values.
    nan_count : int or ndarray
        Number of NaN values (always reported, whatever ``nan_policy``).
    sum : float, int or ndarray
        Sum (float64 for float input; for integer input the exact sum, a
        Python ``int`` for scalar streams).
    mean, var, std : float or ndarray
        float64; ``var`` divides M2 by ``count - ddof`` (NaN when <= 0).
    min, max : scalar or ndarray
        In the dtype the kernel read (the stream's, except float16, which
        is read widened to float32); NaN for an empty stream.
    ddof : float
        Delta degrees of freedom used for ``var`` and ``std``.
    nan_policy : str
        ``"propagate"`` (statistics are NaN where a NaN was seen, like
        numpy) or ``"omit"`` (NaNs skipped, like ``np.nan*``).
    quantiles : dict of float to float or ndarray
        Probability -> estimated quantile; empty when
        ``describe(quantiles=())``.  With ``quantile_method="kll"`` (the
        default) a value of the data whose rank is within 1 % of ``q``
        (probability >= 99 % per quantile); with ``"relative"`` within 1 %
        of ``np.quantile(x, q, method="lower")`` in value.
    quantile_method : str or None
        ``"kll"`` or ``"relative"``; None without quantiles.
    quantile_error : dict of float to float or ndarray
        Probability -> width of the value range the method's guarantee
        leaves for that quantile: ``"kll"``, the difference of the
        estimates at ``q + 0.01`` and ``q - 0.01`` (0: a tied value covers
        that rank range, the value is then exact); ``"relative"``,
        ``0.02 * |value|``.  The printed digits follow it.
    names : tuple of str or None
        The names of the record's columns (:attr:`pystream.Stream.columns`)
        when the stream has them: the repr labels the columns by name,
        :meth:`to_dict` lists them under ``"columns"``, and
        ``d["name"]`` (:meth:`column`) is the Description of one column.
    cov, corr : ndarray or None
        With ``describe(cov=True)``: the (d, d) covariance matrix (divisor
        ``count - ddof``, so its diagonal is ``var``) and the correlation
        matrix of the record's columns, computed in the same pass
        (``nan_policy="omit"``: pairwise-complete, as pandas); None
        otherwise.

    Two descriptions are equal when every statistic is (NaN equal to NaN;
    the names, like the dtype, are not compared).
    The repr prints what is meaningful: counts in full, ``sum``, ``mean``,
    ``std`` and ``var`` to 7 significant digits, ``min`` and ``max`` (exact
    values of the data) to 12, and each quantile to one digit finer than
    its ``quantile_error`` (see :meth:`formatted`).
    """

    count: Any
    nan_count: Any
    sum: Any
    mean: Any
    var: Any
    std: Any
    min: Any
    max: Any
    ddof: float = 0
    nan_policy: str = "propagate"
    record_shape: tuple[int, ...] = ()
    dtype: Any = field(default=None, compare=False)
    quantiles: dict[float, Any] = field(default_factory=dict)
    quantile_method: str | None = field(default=None, compare=False)
    quantile_error: dict[float, Any] = field(default_factory=dict, compare=False, repr=False)
    names: tuple[str, ...] | None = field(default=None, compare=False)
    cov: Any = field(default=None, repr=False)
    corr: Any = field(default=None, repr=False)

    STATS = ("count", "nan_count", "mean", "std", "var", "min", "max", "sum")

    __hash__ = None  # type: ignore[assignment]  # holds arrays and a dict

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Description):
            return NotImplemented
        if (self.ddof, self.nan_policy, tuple(self.record_shape)) != \
                (other.ddof, other.nan_policy, tuple(other.record_shape)):
            return False
        if list(self.quantiles) != list(other.quantiles):
            return False
        pairs = [(getattr(self, n), getattr(other, n)) for n in self.STATS]
        pairs += [(self.quantiles[q], other.quantiles[q]) for q in self.quantiles]
        if (self.cov is None) != (other.cov is None):
            return False
        if self.cov is not None:
            pairs += [(self.cov, other.cov), (self.corr, other.corr)]
        return all(_same(a, b) for a, b in pairs)

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values (ints, floats, nested lists), JSON-friendly
        except that NaN stays ``float('nan')``."""
        out: dict[str, Any] = {}
        for name in self.STATS:
            value = getattr(self, name)
            out[name] = value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value
        if self.quantiles:
            out["quantiles"] = {quantile_label(q): v.tolist() if isinstance(v, np.ndarray) else v
                                for q, v in self.quantiles.items()}
        if self.cov is not None:
            out["cov"] = np.asarray(self.cov).tolist()
            out["corr"] = np.asarray(self.corr).tolist()
        out["ddof"] = self.ddof
        out["nan_policy"] = self.nan_policy
        if self.names is not None:
            out["columns"] = list(self.names)
        return out

    def with_names(self, names: tuple[str, ...] | None) -> Description:
        """The same statistics labelled by `names` (one per column of the record).

        Raises
        ------
        ValueError
            If the names do not match the record shape.

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> d = ps.from_array(np.array([[1.0, 2.0], [3.0, 6.0]])).describe(quantiles=())
        >>> d.with_names(("a", "b"))["b"].mean
        np.float64(4.0)
        """
        if names is not None:
            names = tuple(names)
            rs = tuple(self.record_shape)
            if not (rs == (len(names),) or (rs == () and len(names) == 1)):
                raise ValueError(f"Description: {len(names)} names for records of shape {rs}")
        return dataclasses.replace(self, names=names)

    def _index(self, column: int | str) -> int:
        rs = tuple(self.record_shape)
        if len(rs) > 1:
            raise ValueError(f"Description.column: records of shape {rs} have no flat list of "
                             "columns; index the statistics' arrays instead")
        width = rs[0] if rs else 1
        if isinstance(column, str):
            if self.names is None or column not in self.names:
                known = list(self.names) if self.names is not None else "none (unnamed columns)"
                raise KeyError(f"Description: no column named {column!r}; the columns are {known}")
            return self.names.index(column)
        if isinstance(column, (bool, np.bool_)) or not isinstance(column, (int, np.integer)):
            raise TypeError(f"Description: a column is a name or an int, got {column!r}")
        j = int(column) + (width if column < 0 else 0)
        if not 0 <= j < width:
            raise IndexError(f"Description: column {column} is out of range for {width} "
                             "column(s)")
        return j

    def column(self, column: int | str) -> Description:
        """The Description of one column of the record: a scalar Description.

        Parameters
        ----------
        column : str or int
            The column's name (when the stream has names) or its index
            (negative counts from the end).  ``d[column]`` is the same.

        Returns
        -------
        Description
            Scalar statistics, quantiles and quantile errors of that column,
            labelled by its name.

        Raises
        ------
        KeyError
            For a name the record does not have.
        IndexError, TypeError
            For an index out of range, or neither a name nor an int.
        ValueError
            For records with more than one axis.

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> s = ps.from_array(np.array([[1.0, 10.0], [3.0, 30.0]]), columns=["lo", "hi"])
        >>> d = s.describe()
        >>> float(d.column("hi").mean), float(d[0].max), d["hi"].names
        (20.0, 3.0, ('hi',))
        """
        j = self._index(column)
        if self.record_shape == ():
            return self
        label = None if self.names is None else (self.names[j],)

        def pick(value: Any) -> Any:
            v = np.asarray(value).reshape(-1)[j]
            return v.item() if isinstance(v, np.ndarray) and v.dtype.kind == "O" else v

        def scalar(value: Any, kind: str) -> Any:
            v = pick(value)
            if kind == "int" or (kind == "sum" and isinstance(v, (int, np.integer))):
                return int(v)
            return np.float64(v) if kind in ("float", "sum") else v

        return Description(
            scalar(self.count, "int"), scalar(self.nan_count, "int"), scalar(self.sum, "sum"),
            scalar(self.mean, "float"), scalar(self.var, "float"), scalar(self.std, "float"),
            pick(self.min), pick(self.max), self.ddof, self.nan_policy, (), self.dtype,
            {q: np.float64(pick(v)) for q, v in self.quantiles.items()}, self.quantile_method,
            {q: np.float64(pick(v)) for q, v in self.quantile_error.items()}, label)

    def __getitem__(self, column: int | str) -> Description:
        """``d[column]``: :meth:`column`."""
        return self.column(column)

    def formatted(self) -> dict[str, list[str]]:
        """Every statistic as text with the digits that are meaningful.

        Returns
        -------
        dict of str to list of str
            Name (``"count"``, ..., ``"p50"``) -> one string per value of the
            record (one for a scalar stream), in C order: counts in full;
            ``sum`` / ``mean`` / ``std`` / ``var`` to 7 significant digits
            (float64 accumulations; more digits would claim more than the
            inputs usually hold); ``min`` / ``max`` (exact values of the
            data) to 12 significant digits for float64, in full for integers
            and float32; quantiles to one digit finer than their
            :attr:`quantile_error` (12 significant digits when that is 0: a
            tied value, exact).  The command line's table uses it.

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> x = 280.0 + np.arange(1000.0) / 100
        >>> f = ps.from_array(x).describe().formatted()
        >>> f["mean"], f["min"], f["p50"]
        (['284.995'], ['280'], ['284.99'])
        """
        out: dict[str, list[str]] = {}
        integral = self.dtype is not None and np.dtype(self.dtype).kind in "iub"
        for name in self.STATS:
            flat = np.asarray(getattr(self, name), dtype=object).reshape(-1)
            kind = "moment" if name in ("sum", "mean", "std", "var") else "exact"
            out[name] = [format_statistic(v, kind) for v in flat]
        for q, value in self.quantiles.items():
            vals = np.asarray(value, dtype=np.float64).reshape(-1)
            err = self.quantile_error.get(q)
            errs = (np.full(vals.shape, np.nan) if err is None
                    else np.asarray(err, dtype=np.float64).reshape(-1))
            out[quantile_label(q)] = [format_quantile(v, e, integral, self.dtype)
                                      for v, e in zip(vals, errs)]
        return out

    def __repr__(self) -> str:
        head = f"Description(dtype={self.dtype}, record_shape={self.record_shape}, " \
               f"ddof={self.ddof}, nan_policy={self.nan_policy!r}" + \
               (f", quantile_method={self.quantile_method!r})" if self.quantile_method else ")")
        if self.names is not None:
            return "\n".join([head, *self._labelled_rows(), *self._matrix_rows()])
        rows = []
        for name, texts in self.formatted().items():
            if self.record_shape == ():
                rows.append(f"  {name:<10} {texts[0]}")
                continue
            if len(texts) > 20:
                texts = [*texts[:3], "...", *texts[-3:]]
            rows.append(f"  {name:<10} [{' '.join(texts)}]")
        return "\n".join([head, *rows, *self._matrix_rows()])

    def _matrix_rows(self) -> list[str]:
        """The cov and corr matrices (``describe(cov=True)``), 7 significant digits."""
        if self.cov is None:
            return []
        d = np.asarray(self.cov).shape[0]
        labels = list(self.names) if self.names is not None else [str(j) for j in range(d)]
        cols = list(range(d)) if d <= 20 else [*range(3), -1, *range(d - 3, d)]
        out = []
        for title, m in (("cov", self.cov), ("corr", self.corr)):
            table = [[title] + [labels[j] if j >= 0 else "..." for j in cols]]
            for i in cols:
                table.append([labels[i] if i >= 0 else "..."] +
                             ["..." if i < 0 or j < 0 else format_statistic(m[i, j], "moment")
                              for j in cols])
            widths = [max(len(row[k]) for row in table) for k in range(len(table[0]))]
            out += ["  " + "  ".join([row[0].ljust(widths[0])] +
                                     [c.rjust(w) for c, w in zip(row[1:], widths[1:])]).rstrip()
                    for row in table]
        return out

    def _labelled_rows(self) -> list[str]:
        """The statistics as a table whose columns are headed by the names."""
        assert self.names is not None
        cols = list(range(len(self.names)))
        if len(cols) > 20:
            cols = [*cols[:3], -1, *cols[-3:]]
        table = [["stat"] + [self.names[j] if j >= 0 else "..." for j in cols]]
        for name, texts in self.formatted().items():
            table.append([name] + [texts[j] if j >= 0 else "..." for j in cols])
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        return ["  " + "  ".join([row[0].ljust(widths[0])] +
                                 [c.rjust(w) for c, w in zip(row[1:], widths[1:])]).rstrip()
                for row in table]


def _special(v: float) -> str | None:
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return None


def format_statistic(value: Any, kind: str = "exact") -> str:
    """`value` as text: ``kind="moment"``: 7 significant digits for floats;
    ``"exact"`` (a value of the data): 12 significant digits for float64
    (beyond them a value is mostly rounding noise such as
    ``1.3999999999999773``), the shortest text for float32 / float16.
    Integers are printed in full either way."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):d}"
    v = float(value)
    special = _special(v)
    if special is not None:
        return special
    if kind == "moment":
        return f"{v:.7g}"
    if isinstance(value, np.floating) and np.finfo(value.dtype).precision < 15:
        return str(value)                    # float32/16: their shortest text
    return f"{v:.12g}"


def format_quantile(value: float, error: float, integral: bool = False,
                    dtype: Any = None) -> str:
    """A quantile estimate to one digit finer than `error`, the width of the
    value range its guarantee allows (NaN: unknown, 7 significant digits;
    0: exact, 12 significant digits, or the shortest text of the float
    `dtype` of the data).  `integral`: the data are integers, so an
    integral value below 2**53 prints as one when its digits are all
    meaningful."""
    v = float(value)
    special = _special(v)
    if special is not None:
        return special
    if not math.isfinite(error):
        return f"{v:.7g}"
    e = math.floor(math.log10(error)) - 1 if error > 0.0 else -1   # resolution 10**e
    if integral and v.is_integer() and abs(v) < 2.0**53 and e < 0:
        return f"{int(v):d}"
    if error <= 0.0:                         # a tied value, exact: as min / max
        if dtype is not None and np.dtype(dtype).kind == "f":
            return format_statistic(np.dtype(dtype).type(v))
        return f"{v:.12g}"
    if v and math.floor(math.log10(abs(v))) - e + 1 > 12:
        return f"{v:.12g}"                   # no more than a value of the data gets
    if abs(v) < 1e15 and e > -10:
        text = f"{v:.{-e}f}" if e < 0 else f"{round(v, -e):.0f}"
        # a small negative value rounded to zero prints as zero, not "-0.000"
        return text[1:] if text.startswith("-") and not text.strip("-0.") else text
    top = math.floor(math.log10(abs(v))) if v else e
    sig = max(1, min(17, top - e + 1))
    return f"{v:#.{sig}g}"                  # "#": trailing zeros are digits too


def _same(a: Any, b: Any) -> bool:
    """Equal values or arrays, NaN equal to NaN (object arrays of ints too)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def _shape_description(count: np.ndarray, nan_count: np.ndarray, total: Any,
                       mean: np.ndarray, var: np.ndarray, std: np.ndarray,
                       vmin: np.ndarray, vmax: np.ndarray, ddof: float,
                       nan_policy: str, shape: tuple[int, ...],
                       dtype: np.dtype) -> Description:
    if shape == ():
        def scalar(a: np.ndarray) -> Any:
            return a.reshape(())[()]
        s = total[0]
        s = int(s) if total.dtype.kind in "iuO" else np.float64(s)
        return Description(int(count[0]), int(nan_count[0]), s, np.float64(mean[0]),
                           np.float64(var[0]), np.float64(std[0]), scalar(vmin),
                           scalar(vmax), ddof, nan_policy, (), dtype)
    return Description(count.reshape(shape), nan_count.reshape(shape), total.reshape(shape),
                       mean.reshape(shape), var.reshape(shape), std.reshape(shape),
                       vmin.reshape(shape), vmax.reshape(shape), ddof, nan_policy,
                       shape, dtype)
