"""Records with their time and key as Arrow: numpy triples to ``pyarrow.RecordBatch``.

The stream sinks ``to_arrow``, ``to_pandas``, ``to_parquet`` and ``to_ipc``
(:mod:`pystream.stream_tables`) lay a stream out as a table with this module:
:class:`TableLayout` fixes the schema once from the stream's dtype, record
shape, names, time and key columns, and :meth:`TableLayout.batch` turns one
``(values, time, key_codes)`` triple into a ``RecordBatch`` of that schema.

pyarrow is an optional extra: it is imported when a layout is made
(:func:`pystream._arrow.import_arrow`), never when pystream is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._arrow import MissingExtraError, import_arrow
from ._columns import KeyColumn, TimeColumn

__all__ = ["TableLayout", "require_pandas"]

_NS = np.dtype("datetime64[ns]")
_INT32_MAX = 2**31 - 1


def require_pandas(where: str) -> Any:
    """The ``pandas`` module, or :class:`MissingExtraError` saying how to install it."""
    try:
        import pandas
    except ImportError as e:
        raise MissingExtraError(f"{where} needs pandas, which is not installed: "
                                "pip install pandas") from e
    return pandas


def value_names(record_shape: tuple[int, ...], names: tuple[str, ...] | None,
                where: str) -> list[str]:
    """The table's value column names: `names`, else ``"value"`` for scalar records
    and ``"0"``, ``"1"``, ... for records of shape ``(k,)``.

    Raises
    ------
    ValueError
        For records with more than one axis (no flat list of columns).

    Examples
    --------
    >>> value_names((), None, "to_arrow"), value_names((2,), None, "to_arrow")
    (['value'], ['0', '1'])
    >>> value_names((2,), ("a", "b"), "to_arrow")
    ['a', 'b']
    """
    if len(record_shape) > 1:
        raise ValueError(
            f"{where}: records of shape {record_shape} have more than one axis, so they are not "
            "a flat row of columns; select the columns wanted (.select(...)) or map each "
            "record flat (.map(lambda c: c.reshape(len(c), -1))) first")
    if names is not None:
        return list(names)
    return ["value"] if record_shape == () else [str(i) for i in range(record_shape[0])]


class TableLayout:
    """The Arrow schema of a stream, and the conversion of its triples to batches.

    Columns, in order: the time column (if any; ``timestamp[ns, tz=UTC]`` for
    calendar times, else the numeric times' type; named by the time column's
    name or ``"time"``), the key column (if any; named by its name or
    ``"key"``), then one column per value of the record.

    String keys are an Arrow ``dictionary<int32, string>`` column: pystream
    already holds them as codes of a :class:`~pystream.KeyDictionary`, so
    the codes become the indices as they are (one int32 per row instead of
    one string per row: a key column of 300,000 rows of airline codes takes
    1.2 MB instead of ~3.6 MB), Parquet stores it dictionary encoded, and
    pandas reads it as a ``Categorical`` (categories in first-seen order).
    Integer keys are int64.  A null key (code -1) is null in either case.

    Parameters
    ----------
    dtype : numpy.dtype
        The records' dtype: booleans, integers, floats (float16 included),
        datetime64 / timedelta64, or fixed-width strings.
    record_shape : tuple of int
        ``()`` or ``(k,)``.
    names : tuple of str or None
        The value columns' names.
    time, key : TimeColumn, KeyColumn or None
        The stream's time and key columns.
    where : str
        Names the caller in error messages.

    Raises
    ------
    MissingExtraError
        Without pyarrow.
    ValueError
        For records with more than one axis.
    TypeError
        For a dtype Arrow has no column type for (complex, object...).

    Examples
    --------
    >>> import pyarrow as pa
    >>> layout = TableLayout(np.dtype("f8"), (2,), ("a", "b"), None, None, "to_arrow")
    >>> b = layout.batch(np.array([[1.0, 2.0], [3.0, np.nan]]), None, None)
    >>> isinstance(b, pa.RecordBatch), b.column_names, b.column("b").to_pylist()
    (True, ['a', 'b'], [2.0, nan])
    """

    def __init__(self, dtype: np.dtype, record_shape: tuple[int, ...],
                 names: tuple[str, ...] | None, time: TimeColumn | None,
                 key: KeyColumn | None, where: str) -> None:
        pa = import_arrow(where)
        self.pa = pa
        self.where = where
        self.dtype = np.dtype(dtype)
        self.record_shape = tuple(record_shape)
        self.values = value_names(self.record_shape, names, where)
        self.time = time
        self.key = key
        fields = []
        if time is not None:
            self.time_type = (pa.timestamp("ns", tz="UTC") if time.is_datetime
                              else pa.from_numpy_dtype(time.dtype))
            fields.append(pa.field(time.name or "time", self.time_type, nullable=False))
        if key is not None:
            self.key_type = (pa.int64() if key.dictionary is None
                             else pa.dictionary(pa.int32(), pa.string()))
            fields.append(pa.field(key.name or "key", self.key_type))
        self.value_type = self._value_type(pa)
        fields += [pa.field(n, self.value_type) for n in self.values]
        names_used = [f.name for f in fields]
        dup = next((n for n in names_used if names_used.count(n) > 1), None)
        if dup is not None:
            raise ValueError(f"{where}: the column name {dup!r} is used twice (the time or key "
                             "column and a value column); rename the value columns "
                             "(.rename([...])) first")
        self.schema = pa.schema(fields)

    def _value_type(self, pa: Any) -> Any:
        dt = self.dtype
        if dt.kind in "biufMm":
            try:
                return pa.from_numpy_dtype(dt.newbyteorder("="))
            except (NotImplementedError, pa.ArrowNotImplementedError, TypeError):
                pass  # no Arrow type for it: the TypeError below says what to do
        elif dt.kind in "US":
            return pa.string() if dt.kind == "U" else pa.binary()
        raise TypeError(f"{self.where}: Arrow has no column type for records of dtype {dt}; "
                        "convert them first (.astype(np.float64), or .map(...))")

    def _column(self, v: np.ndarray) -> Any:
        """One value column (1-d), copied once into memory the batch owns."""
        if not v.dtype.isnative:
            v = v.astype(v.dtype.newbyteorder("="))
        # a stage may reuse its output memory for the next chunk: copy (once;
        # a strided column of a record chunk is gathered by that copy)
        own = np.array(v, copy=True, order="C")
        if self.dtype.kind in "US":
            return self.pa.array(own.tolist(), type=self.value_type)
        return self.pa.array(own, type=self.value_type)

    def time_array(self, t: np.ndarray) -> Any:
        """The time column of a batch (int64 ns or numeric times)."""
        own = np.array(t, copy=True)
        if self.time is not None and self.time.is_datetime:
            return self.pa.array(own.view(_NS), type=self.time_type)
        return self.pa.array(own, type=self.time_type)

    def key_array(self, codes: np.ndarray, dictionary: Any = None) -> Any:
        """The key column of a batch from its int64 codes (-1: null).

        `dictionary` (string keys): the Arrow array of the keys to index;
        default every key of the stream's :class:`KeyDictionary` so far.
        """
        pa = self.pa
        assert self.key is not None
        null = codes < 0
        mask = null if null.any() else None
        if self.key.dictionary is None:
            return pa.array(np.array(codes, dtype=np.int64, copy=True), type=pa.int64(), mask=mask)
        if dictionary is None:
            dictionary = self.dictionary()
        if len(dictionary) > _INT32_MAX:
            raise OverflowError(f"{self.where}: more than 2**31-1 distinct keys do not fit "
                                "an Arrow dictionary with int32 indices")
        indices = pa.array(np.where(null, 0, codes).astype(np.int32), type=pa.int32(), mask=mask)
        return pa.DictionaryArray.from_arrays(indices, dictionary)

    def dictionary(self) -> Any:
        """The keys seen so far, in first-seen order, as an Arrow string array."""
        assert self.key is not None and self.key.dictionary is not None
        return self.pa.array(list(self.key.dictionary.keys), type=self.pa.string())

    def batch(self, values: np.ndarray, time: np.ndarray | None, key: np.ndarray | None,
              dictionary: Any = None) -> Any:
        """One ``RecordBatch`` of :attr:`schema` from a triple of the stream.

        Raises
        ------
        ValueError
            If the stream carries a time or key column but the triple lacks it.
        """
        cols = []
        if self.time is not None:
            if time is None:
                raise ValueError(f"{self.where}: a chunk came without its time column")
            cols.append(self.time_array(time))
        if self.key is not None:
            if key is None:
                raise ValueError(f"{self.where}: a chunk came without its key column")
            cols.append(self.key_array(key, dictionary))
        if self.record_shape == ():
            cols.append(self._column(values))
        else:
            cols += [self._column(values[:, j]) for j in range(self.record_shape[0])]
        return self.pa.RecordBatch.from_arrays(cols, schema=self.schema)

    def empty(self) -> Any:
        """A table of no rows with :attr:`schema`."""
        return self.schema.empty_table()
