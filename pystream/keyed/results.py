"""The result of a terminal per key: :class:`KeyedResult`, one entry per key in
first-seen order (or sorted, when asked), with ``to_dict``, ``to_pandas``,
``to_arrow`` (one row per key) and a table repr."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..description import Description, quantile_label

__all__ = ["KeyedResult"]


class KeyedResult:
    """A terminal's result for every key.

    ``r[key]`` is that key's result, exactly what the terminal gives over
    that key's records alone (a :class:`~pystream.Description`, a number,
    an array, a histogram...); ``len(r)``, ``list(r)`` (the keys), ``r.items()``;
    the property ``values`` lists the results in the order of ``keys``.

    Attributes
    ----------
    name : str
        The terminal (``"describe"``, ``"mean"``...).
    keys : ndarray
        The keys: strings (object array) or int64; first-seen order unless
        ``by(..., sort=True)``.
    key_name : str
        The key column's name (``"key"`` when it has none).
    columns : tuple of str or None
        The names of the record's columns, when the stream has them.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> r = ps.from_array(np.array([1.0, 2.0, 5.0]), key=["a", "b", "a"]).by().mean()
    >>> r
    KeyedResult mean per key (2 keys, first-seen order)
    key  mean
    a    3
    b    2
    >>> float(r["a"]), r.to_dict()
    (3.0, {'a': 3.0, 'b': 2.0})
    """

    def __init__(self, name: str, keys: np.ndarray, values: list[Any] | None,
                 key_name: str | None, columns: tuple[str, ...] | None = None,
                 ordered: str = "first-seen", *, item: Callable[[int], Any] | None = None,
                 table: Callable[[], dict[str, Any]] | None = None) -> None:
        self.name = name
        self.keys = keys
        self._values = values
        self._item = item
        self._table = table
        self.key_name = key_name or "key"
        self.columns = columns
        self.ordered = ordered
        self._index: dict[Any, int] | None = None

    @property
    def values(self) -> list[Any]:
        """The results, in the order of :attr:`keys` (made on first use when the
        result was computed for all keys at once)."""
        if self._values is None:
            assert self._item is not None
            self._values = [self._item(i) for i in range(len(self.keys))]
        return self._values

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys.tolist())

    def __contains__(self, key: object) -> bool:
        return key in self._lookup()

    def _lookup(self) -> dict[Any, int]:
        if self._index is None:
            self._index = {k: i for i, k in enumerate(self.keys.tolist())}
        return self._index

    def __getitem__(self, key: Any) -> Any:
        index = self._lookup()
        if isinstance(key, np.generic):
            key = key.item()
        if key not in index:
            shown = ", ".join(repr(k) for k in self.keys[:5].tolist())
            more = ", ..." if len(self.keys) > 5 else ""
            raise KeyError(f"{key!r} is not a key of this result (keys: {shown}{more})")
        i = index[key]
        if self._values is None and self._item is not None:
            return self._item(i)
        return self.values[i]

    def items(self) -> Iterator[tuple[Any, Any]]:
        """``(key, result)`` pairs, in the order of :attr:`keys`."""
        return zip(self.keys.tolist(), self.values)

    def to_dict(self) -> dict[Any, Any]:
        """``{key: result}`` with plain Python values (a Description as its ``to_dict()``,
        arrays as lists, numpy scalars as Python numbers)."""
        return {k: _plain_value(v) for k, v in self.items()}

    # ------------------------------------------------------------------ tables

    def table_columns(self) -> dict[str, Any]:
        """The result as columns: the key, then one column per statistic (and per
        record column), one row per key."""
        cols: dict[str, Any] = {self.key_name: self.keys}
        if self._table is not None:
            cols.update(self._table())
            return cols
        if not len(self):
            return cols
        rows = [_row(v, self.name, self.columns) for v in self.values]
        for name in rows[0]:
            cols[name] = _as_column([r[name] for r in rows])
        return cols

    def to_pandas(self) -> Any:
        """A pandas DataFrame, one row per key, indexed by the key."""
        import pandas as pd
        cols = self.table_columns()
        keys = cols.pop(self.key_name)
        return pd.DataFrame(cols, index=pd.Index(keys, name=self.key_name))

    def to_arrow(self) -> Any:
        """A pyarrow Table, one row per key (the key is the first column)."""
        import pyarrow as pa
        cols = self.table_columns()
        arrays = {}
        for name, col in cols.items():
            if isinstance(col, np.ndarray) and col.ndim > 1:
                arrays[name] = pa.array(list(col))
            elif isinstance(col, np.ndarray) and col.dtype == object:
                arrays[name] = pa.array(col.tolist())
            else:
                arrays[name] = pa.array(col)
        return pa.table(arrays)

    def __repr__(self) -> str:
        head = (f"KeyedResult {self.name} per key ({len(self)} key{'s' * (len(self) != 1)}, "
                f"{self.ordered} order)")
        if not len(self):
            return head
        cols = self.table_columns()
        shown = min(len(self), 20)
        names = list(cols)
        cells = [[_cell(cols[n][i]) for n in names] for i in range(shown)]
        widths = [max(len(n), *(len(r[j]) for r in cells)) for j, n in enumerate(names)]
        lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths)).rstrip()]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
        if len(self) > shown:
            lines.append(f"... ({len(self) - shown} more keys)")
        return "\n".join([head, *lines])


def _plain_value(v: Any) -> Any:
    if isinstance(v, Description):
        return v.to_dict()
    if isinstance(v, (np.ndarray, np.generic)):
        return v.tolist()
    to_dict = getattr(v, "to_dict", None)
    return to_dict() if callable(to_dict) else v


def _row(v: Any, name: str, columns: tuple[str, ...] | None) -> dict[str, Any]:
    """One key's result as named cells (a record's columns flattened by name)."""
    if isinstance(v, Description):
        stats: dict[str, Any] = {s: getattr(v, s) for s in ("count", "nan_count", "mean", "std",
                                                             "min", "max")}
        for q, value in v.quantiles.items():
            stats[quantile_label(q)] = value
        return _flatten(stats, columns)
    if isinstance(v, (np.ndarray, np.generic, int, float)):
        return _flatten({name: v}, columns)
    fields = getattr(v, "to_dict", None)
    if callable(fields):
        return {f"{name}_{k}" if k != name else k: val for k, val in fields().items()}
    return {name: v}


def _flatten(stats: dict[str, Any], columns: tuple[str, ...] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for stat, value in stats.items():
        arr = np.asarray(value)
        if arr.ndim == 0:
            out[stat] = value
        elif columns is not None and arr.shape == (len(columns),):
            for c, x in zip(columns, arr.tolist()):
                out[f"{c}_{stat}"] = x
        else:
            for i, x in enumerate(arr.reshape(-1).tolist()):
                out[f"{stat}_{i}"] = x
    return out


def _as_column(values: list[Any]) -> Any:
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.int64) if values else np.empty(0, np.int64)
    if all(isinstance(v, (float, int, np.floating, np.integer)) for v in values):
        return np.asarray(values, dtype=np.float64)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _cell(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.7g}"
    return str(v)
