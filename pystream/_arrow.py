"""Arrow record batches as numpy: the ``(values, time, key)`` triples of a table source.

The table sources (:mod:`pystream.sources.tables`) read Parquet, CSV, Arrow
IPC files and in-memory tables with pyarrow, an optional dependency imported
here only inside functions (:func:`import_arrow`).  A :class:`TablePlan`
says which columns are read and how: the value columns (converted to one
dtype), the time column (int64 nanoseconds, UTC, or numbers) and the key
column (int64 codes).  Row numbers in messages are global and 0-based (the
first data row of the source is row 0).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Sequence
from typing import Any, Union

import numpy as np

from ._columns import KeyDictionary

__all__ = ["INSTALL_HINT", "MissingExtraError", "ColumnSpec", "TablePlan", "batch_key",
           "batch_time", "batch_triple", "batch_values", "import_arrow", "plan_table"]

INSTALL_HINT = "pip install pystream-numeric[arrow]"
#: A column, by name or position.
ColumnSpec = Union[str, int]
_NS = np.dtype("datetime64[ns]")
_INT64_MAX = np.iinfo(np.int64).max
_TO_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


class MissingExtraError(ImportError):
    """An optional dependency of a table function is not installed (pyarrow: the
    ``[arrow]`` extra; pandas for ``to_pandas``); the message says what to install."""


def import_arrow(where: str, module: str = "pyarrow") -> Any:
    """Import `module` (``pyarrow`` or one of its submodules), or say how to install it.

    Raises
    ------
    MissingExtraError
        An ImportError naming ``pip install pystream-numeric[arrow]``.

    Examples
    --------
    >>> issubclass(MissingExtraError, ImportError)
    True
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(f"{where} needs pyarrow, an optional dependency: "
                                f"{INSTALL_HINT}") from e


# --------------------------------------------------------------------------- the plan


@dataclasses.dataclass(frozen=True)
class TablePlan:
    """Which columns of a table are read, and how they become numpy.

    Attributes
    ----------
    where : str
        The source, for messages (``"from_parquet('f.parquet')"``).
    values : tuple of str
        Arrow names of the value columns, in record order.
    names : tuple of str
        Their names as the stream shows them (``Stream.columns``).
    scalar : bool
        Records are scalars (``columns`` was one name).
    dtype : numpy.dtype
        The values' dtype.
    fill_null : object
        The value of a null in a value column, or None (NaN when `dtype`
        is a float dtype, an error otherwise).
    time, key : str or None
        Arrow names of the time and key columns.
    time_name, key_name : str or None
        Their names as the stream shows them.
    time_scale : int
        Nanoseconds per unit of a timestamp or date time column; 0 for
        numeric times.
    time_dtype : numpy.dtype or None
        The time column's dtype as shown (``datetime64[ns]`` or numeric).
    key_strings : bool
        Keys are text (encoded by a :class:`KeyDictionary`), not integers.
    """

    where: str
    values: tuple[str, ...]
    names: tuple[str, ...]
    scalar: bool
    dtype: np.dtype
    fill_null: Any = None
    time: str | None = None
    time_name: str | None = None
    time_scale: int = 0
    time_dtype: np.dtype | None = None
    key: str | None = None
    key_name: str | None = None
    key_strings: bool = False

    @property
    def record_shape(self) -> tuple[int, ...]:
        """``()`` for scalar records, else ``(number of value columns,)``."""
        return () if self.scalar else (len(self.values),)

    @property
    def read_columns(self) -> list[str]:
        """Every column a triple needs (values, time, key), each once."""
        out = list(self.values)
        for c in (self.time, self.key):
            if c is not None and c not in out:
                out.append(c)
        return out


def _is_value_type(pa: Any, t: Any) -> bool:
    types = pa.types
    return bool(types.is_integer(t) or types.is_floating(t) or types.is_boolean(t)
                or types.is_null(t))


def _is_text(pa: Any, t: Any) -> bool:
    types = pa.types
    return bool(types.is_string(t) or types.is_large_string(t)
                or (hasattr(types, "is_string_view") and types.is_string_view(t)))


def _numpy_dtype(pa: Any, t: Any) -> np.dtype:
    if pa.types.is_null(t):
        return np.dtype(np.float64)
    return np.dtype(t.to_pandas_dtype())


def plan_table(schema: Any, columns: Any, time: Any, key: Any, *, dtype: Any, fill_null: Any,
               where: str, shown: Sequence[str] | None = None,
               has_nulls: Callable[[str], bool] | None = None) -> TablePlan:
    """The plan of reading `schema`'s columns: checks every choice against the schema.

    `columns`, `time` and `key` name columns by their (shown) name or by
    position (an int).  `shown`: the names the caller sees when they differ
    from the schema's (a CSV without header).  `has_nulls(name)`: the
    column is known to hold nulls (Parquet statistics, an in-memory table):
    the default dtype is then float64, nulls read as NaN.

    Examples
    --------
    >>> import pyarrow as pa
    >>> schema = pa.schema([("t", pa.timestamp("s")), ("k", pa.string()), ("x", pa.int32()),
    ...                     ("y", pa.float32())])
    >>> p = plan_table(schema, None, "t", "k", dtype=None, fill_null=None, where="example")
    >>> p.values, p.dtype, p.record_shape, p.time_dtype, p.key_strings
    (('x', 'y'), dtype('float64'), (2,), dtype('<M8[ns]'), True)
    """
    pa = import_arrow(where)
    arrow_names = list(schema.names)
    names = list(shown) if shown is not None else arrow_names

    def index(spec: Any, what: str) -> int:
        if isinstance(spec, (int, np.integer)) and not isinstance(spec, (bool, np.bool_)):
            i = int(spec)
            if not 0 <= i < len(names):
                raise IndexError(f"{where}: {what} column {i} is out of range: the table has "
                                 f"{len(names)} columns")
        elif isinstance(spec, str):
            if spec not in names:
                raise KeyError(f"{where}: no {what} column {spec!r}; the columns are {names}")
            i = names.index(spec)
        else:
            raise TypeError(f"{where}: a {what} column is a name (str) or a position (int), "
                            f"got {spec!r}")
        if arrow_names.count(arrow_names[i]) > 1:
            raise ValueError(f"{where}: the column name {arrow_names[i]!r} appears more than "
                             "once in the table; rename the columns first")
        return i

    ti = None if time is None else index(time, "time")
    ki = None if key is None else index(key, "key")
    if columns is None:
        vi = [i for i, f in enumerate(schema) if i not in (ti, ki)
              and _is_value_type(pa, f.type) and not pa.types.is_boolean(f.type)]
        if not vi:
            raise ValueError(f"{where}: the table has no numeric column besides the time and "
                             f"key columns (columns: {names}); name the columns to read with "
                             "columns=")
        scalar = False
    elif isinstance(columns, (str, int, np.integer)):
        vi, scalar = [index(columns, "value")], True
    else:
        try:
            specs = list(columns)
        except TypeError:
            raise TypeError(f"{where}: columns must be a name, a position or a list of them, "
                            f"got {columns!r}") from None
        if not specs:
            raise ValueError(f"{where}: columns=[] selects no column")
        vi, scalar = [index(c, "value") for c in specs], False
        if len(set(vi)) != len(vi):
            raise ValueError(f"{where}: columns={specs!r} names a column twice")
    for i in vi:
        t = schema.field(i).type
        if not _is_value_type(pa, t):
            raise TypeError(f"{where}: column {names[i]!r} has type {t}; value columns must "
                            "be numbers or booleans (a text column can be the key=)")
    col_types = [schema.field(i).type for i in vi]
    if dtype is None:
        nulls = [has_nulls is not None and has_nulls(arrow_names[i]) for i in vi]
        if any(pa.types.is_floating(t) or pa.types.is_null(t) for t in col_types) or any(nulls):
            dt = np.dtype(np.float64)
        else:
            dt = np.result_type(*[_numpy_dtype(pa, t) for t in col_types])
    else:
        try:
            dt = np.dtype(dtype)
        except TypeError as e:
            raise TypeError(f"{where}: invalid dtype {dtype!r}: {e}") from None
        if dt.kind not in "biuf":
            raise TypeError(f"{where}: dtype must be a real number or bool dtype, got {dt}")
    if fill_null is not None:
        _check_fill(fill_null, dt, where)
    tname = tscale = tdtype = None
    if ti is not None:
        tscale, tdtype = _time_kind(pa, schema.field(ti).type, names[ti], where)
        tname = arrow_names[ti]
    kname, strings = None, False
    if ki is not None:
        kt = schema.field(ki).type
        if pa.types.is_dictionary(kt):
            kt = kt.value_type
        if _is_text(pa, kt) or pa.types.is_null(kt):
            strings = True
        elif not pa.types.is_integer(kt):
            raise TypeError(f"{where}: the key column {names[ki]!r} has type {kt}; keys must be "
                            "text or integers")
        kname = arrow_names[ki]
    return TablePlan(where, tuple(arrow_names[i] for i in vi), tuple(names[i] for i in vi),
                     scalar, dt, fill_null, tname, None if ti is None else names[ti],
                     tscale or 0, tdtype, kname, None if ki is None else names[ki], strings)


def _check_fill(fill: Any, dt: np.dtype, where: str) -> None:
    try:
        v = np.asarray(fill)
        if v.ndim != 0 or v.dtype.kind not in "biuf":
            raise TypeError
        with np.errstate(invalid="ignore", over="ignore"):
            back = v.astype(dt).astype(v.dtype)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: fill_null must be a number, got {fill!r}") from None
    if not (back == v or (np.isnan(v) and dt.kind == "f")):
        raise ValueError(f"{where}: fill_null={fill!r} is not a {dt} value")


def _time_kind(pa: Any, t: Any, name: str, where: str) -> tuple[int, np.dtype]:
    types = pa.types
    if types.is_timestamp(t):
        return _TO_NS[t.unit], _NS
    if types.is_date32(t):
        return 86_400 * 10**9, _NS
    if types.is_date64(t):
        return 10**6, _NS
    if types.is_null(t):  # all missing: an error as soon as a row comes
        return 1, _NS
    if types.is_integer(t) or types.is_floating(t):
        return 0, _numpy_dtype(pa, t)
    hint = "; give time_format= to parse text times" if _is_text(pa, t) else ""
    raise TypeError(f"{where}: the time column {name!r} has type {t}; it must hold timestamps, "
                    f"dates or numbers{hint}")


# --------------------------------------------------------------------------- conversion


def _null_mask(col: Any) -> np.ndarray:
    """True where `col` (an Arrow array with nulls) is null, from its validity bitmap."""
    validity = col.buffers()[0]
    if validity is None:
        return col.is_null().to_numpy(zero_copy_only=False)
    bits = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")
    return bits[col.offset:col.offset + len(col)] == 0


def _primitive(pa: Any, col: Any) -> np.ndarray | None:
    """The values of a fixed-width numeric or boolean Arrow array as numpy (a view of
    its buffer for numbers; null slots hold whatever the buffer holds), or None for
    other types.

    Read from the buffers rather than with ``Array.to_numpy``, which imports
    pandas when it is installed (57 MB and 0.5 s: the whole memory budget of
    a streamed Parquet file, ``benchmarks/bench_tables.py``).
    """
    t = col.type
    if pa.types.is_boolean(t):
        bits = np.unpackbits(np.frombuffer(col.buffers()[1], np.uint8), bitorder="little")
        return bits[col.offset:col.offset + len(col)].astype(bool)
    if not (pa.types.is_integer(t) or pa.types.is_floating(t)):
        return None
    dt = np.dtype(f"{'f' if pa.types.is_floating(t) else 'i' if pa.types.is_signed_integer(t) else 'u'}"
                  f"{t.bit_width // 8}")
    if not len(col):
        return np.empty(0, dt)
    return np.frombuffer(col.buffers()[1], dt, len(col), col.offset * dt.itemsize)


def _first_null(col: Any) -> int:
    return int(np.flatnonzero(_null_mask(col))[0])


def _column(pa: Any, col: Any, name: str, plan: TablePlan, row0: int) -> np.ndarray:
    """One value column as a numpy array of the plan's dtype (a view where Arrow allows)."""
    t, n, dt, fill = col.type, len(col), plan.dtype, plan.fill_null
    if pa.types.is_null(t):
        if n and fill is None and dt.kind != "f":
            raise ValueError(f"{plan.where}: column {name!r} is null at row {row0}; a {dt} "
                             "column cannot hold missing values: give fill_null=")
        return np.full(n, np.nan if fill is None else fill, dt)
    mask = None
    if col.null_count:
        if fill is None and dt.kind != "f":
            raise ValueError(
                f"{plan.where}: column {name!r} is null (missing) at row {row0 + _first_null(col)};"
                f" {dt} values cannot be missing: give fill_null= (e.g. fill_null=0) or a float "
                "dtype= (nulls become NaN)")
        mask = _null_mask(col)
    a = _primitive(pa, col)
    if a is None:
        if mask is not None and not pa.types.is_floating(t):
            col = col.fill_null(pa.scalar(False) if pa.types.is_boolean(t) else pa.scalar(0, t))
        a = col.to_numpy(zero_copy_only=False)
    elif mask is not None and a.dtype.kind in "iub":
        a = np.where(mask, a.dtype.type(0), a)   # null slots' bytes are unspecified
    if a.dtype != dt:
        _check_cast(a, dt, name, plan.where, row0, mask)
        a = a.astype(dt)
    if mask is not None:
        a = a if a.flags.writeable else a.copy()
        a[mask] = np.nan if fill is None else fill
    return a


def _check_cast(a: np.ndarray, dt: np.dtype, name: str, where: str, row0: int,
                mask: np.ndarray | None) -> None:
    """Refuse a cast that would change values (overflow, fractions, NaN to integers)."""
    if dt.kind not in "iub" or not len(a) or np.can_cast(a.dtype, dt, "safe"):
        return
    keep = np.ones(len(a), bool) if mask is None else ~mask
    if a.dtype.kind == "f":
        bad = keep & ~np.isfinite(a)
        what = "is not finite"
        if not bad.any():
            with np.errstate(invalid="ignore", over="ignore"):
                bad = keep & (a.astype(dt).astype(a.dtype) != a)
            what = f"does not fit {dt}"
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            bad = keep & (a.astype(dt).astype(a.dtype) != a)
        what = f"does not fit {dt}"
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{where}: column {name!r} at row {row0 + i} ({a[i]!r}) {what}; "
                         "choose another dtype=")


def batch_values(batch: Any, plan: TablePlan, row0: int) -> np.ndarray:
    """The records of a record batch (rows ``row0...`` of the source).

    One column is a zero-copy view of the Arrow buffer when its type is
    the plan's dtype and it has no null; several columns are copied once,
    into one preallocated ``(n, k)`` array.
    """
    pa = import_arrow(plan.where)
    n = batch.num_rows
    cols = [batch.column(c) for c in plan.values]
    if len(cols) == 1:
        a = _column(pa, cols[0], plan.names[0], plan, row0)
        return a if plan.scalar else a.reshape(n, 1)
    out = np.empty((n, len(cols)), plan.dtype)
    for j, c in enumerate(cols):
        out[:, j] = _column(pa, c, plan.names[j], plan, row0)
    return out


def batch_time(batch: Any, plan: TablePlan, row0: int) -> np.ndarray:
    """The time column of a batch: int64 nanoseconds since the epoch (UTC), or numbers."""
    pa = import_arrow(plan.where)
    col = batch.column(plan.time)
    if col.null_count:
        raise ValueError(f"{plan.where}: the time column {plan.time_name!r} is null (missing) "
                         f"at row {row0 + _first_null(col)}")
    if plan.time_scale == 0:
        a = _primitive(pa, col)
        if a is None:
            a = col.to_numpy(zero_copy_only=False)
        if a.dtype.kind == "f" and np.isnan(a).any():
            raise ValueError(f"{plan.where}: the time column {plan.time_name!r} is NaN at row "
                             f"{row0 + int(np.flatnonzero(np.isnan(a))[0])}")
        return a
    if pa.types.is_null(col.type):
        return np.zeros(0, np.int64)
    raw = col.view(pa.int32() if pa.types.is_date32(col.type) else pa.int64())
    v = _primitive(pa, raw).astype(np.int64, copy=False)  # type: ignore[union-attr]
    scale = plan.time_scale
    if scale != 1:
        lim = _INT64_MAX // scale
        big = np.abs(v) > lim
        if big.any():
            raise OverflowError(f"{plan.where}: the time column {plan.time_name!r} at row "
                                f"{row0 + int(np.flatnonzero(big)[0])} is outside "
                                "datetime64[ns]'s range (years 1678-2262)")
        v = v * scale
    return v


def batch_key(batch: Any, plan: TablePlan, dictionary: KeyDictionary | None) -> np.ndarray:
    """The key column of a batch as int64 codes (-1 for a null)."""
    pa = import_arrow(plan.where)
    col = batch.column(plan.key)
    if pa.types.is_null(col.type):
        return np.full(len(col), -1, np.int64)
    if plan.key_strings:
        assert dictionary is not None
        d = col if pa.types.is_dictionary(col.type) else col.dictionary_encode()
        idx = _primitive(pa, d.indices).astype(np.int64)  # type: ignore[union-attr]
        if d.indices.null_count:
            idx[_null_mask(d.indices)] = -1
        return dictionary.encode_indexed(d.dictionary.to_pylist(), idx)
    if pa.types.is_dictionary(col.type):
        col = col.dictionary.take(col.indices)
    mask = _null_mask(col) if col.null_count else None
    a = _primitive(pa, col)
    if a is None:
        if mask is not None:
            col = col.fill_null(pa.scalar(0, col.type))
        a = col.to_numpy(zero_copy_only=False)
    elif mask is not None:
        a = np.where(mask, a.dtype.type(0), a)
    if a.dtype == np.uint64 and len(a) and a.max() > _INT64_MAX:
        raise OverflowError(f"{plan.where}: the key column {plan.key_name!r} has uint64 keys "
                            "above 2**63-1, which do not fit int64 codes")
    codes = a.astype(np.int64)
    if mask is not None:
        codes[mask] = -1
    return codes


def batch_triple(batch: Any, plan: TablePlan, row0: int, dictionary: KeyDictionary | None
                 ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(values, time, key)`` of a record batch holding the plan's ``read_columns``."""
    return (batch_values(batch, plan, row0),
            None if plan.time is None else batch_time(batch, plan, row0),
            None if plan.key is None else batch_key(batch, plan, dictionary))
