"""Table sources on pyarrow (the ``[arrow]`` extra): Parquet, Arrow IPC, in-memory tables.

Every source reads only the columns it needs (a values-only iteration
skips the time and key columns), one row group or record batch at a time;
:mod:`pystream._arrow` turns each batch into numpy.  CSV is in
:mod:`pystream.sources.table_csv`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .._arrow import (ColumnSpec, TablePlan, batch_triple, batch_values, import_arrow,
                      plan_table)
from .._checks import check_count
from .._columns import Columns, KeyColumn, KeyDictionary, TimeColumn
from .._prefetch import read_ahead
from ..chain import CallableSource, OneShotSource
from ..chain.steps import Triple
from ..engines.access import RandomAccess
from ..stream import Stream
from .common import PathLike

__all__ = ["from_ipc", "from_parquet", "from_table", "table_stream"]

#: Records per batch when `batch_size` is not given (pyarrow's own default).
DEFAULT_BATCH = 65_536

#: ``read(columns, a, b, size)`` -> ``(record batch, global row of its first row)``
#: pairs covering rows ``[a, b)`` (``b`` None: to the end).
BatchReader = Callable[[list[str], int, "int | None", "int | None"], Iterator[tuple[Any, int]]]


def table_stream(plan: TablePlan, read: BatchReader, *, length: Callable[[], int] | None = None,
                 one_shot: bool = False, granules: Callable[[], list[int]] | None = None
                 ) -> Stream:
    """The stream of a table source: values, time and key of `read`'s batches.

    With `length`, the source has random access: the threads and Dask
    engines read any row range through `read`, the values, and the time
    and key columns for the column outputs (string keys then encoded into
    each partition's own dictionary, merged in order by the engine).
    """
    dictionary = KeyDictionary() if plan.key_strings else None
    values_only = list(plan.values)

    def values(a: int = 0, b: int | None = None, size: int | None = None) -> Iterator[np.ndarray]:
        for batch, row0 in read(values_only, a, b, size):
            if batch.num_rows:
                yield batch_values(batch, plan, row0)

    triples: Callable[[], Iterator[Triple]] | None = None
    by_range: Callable[..., Iterator[Triple]] | None = None
    if plan.time is not None or plan.key is not None:
        def by_range(a: int, b: int | None = None, size: int | None = None,
                     keys: KeyDictionary | None = None) -> Iterator[Triple]:
            into = dictionary if keys is None else keys
            for batch, row0 in read(plan.read_columns, a, b, size):
                if batch.num_rows:
                    yield batch_triple(batch, plan, row0, into)

        def triples() -> Iterator[Triple]:
            return read_ahead(by_range(0))

    table = Columns(plan.names,
                    None if plan.time is None else TimeColumn(plan.time_name, plan.time_dtype),
                    None if plan.key is None else KeyColumn(plan.key_name, dictionary))
    def serial() -> Iterator[np.ndarray]:
        # the pull run reads ahead (the engines read their ranges in their workers)
        return read_ahead(values())

    if one_shot:
        src: Any = OneShotSource(serial, nonempty=True, triples=triples)
    else:
        access = None if length is None else RandomAccess(
            plan.where, length, values, triples=by_range, local_keys=dictionary is not None,
            granules=granules)
        src = CallableSource(serial, nonempty=True, access=access, triples=triples)
    return Stream._from_source(src, plan.dtype, plan.record_shape, table=table)


def _batch_size(batch_size: Any, where: str) -> int:
    return DEFAULT_BATCH if batch_size is None else check_count(batch_size, "batch_size", where, 1)


def _covering(bounds: list[int], a: int, b: int | None) -> Iterator[tuple[int, int, int]]:
    """``(part, lo, hi)``: the parts (rows ``bounds[i]:bounds[i + 1]``) meeting ``[a, b)``,
    with ``[lo, hi)`` the rows wanted from each, relative to it."""
    stop = bounds[-1] if b is None else min(b, bounds[-1])
    for i in range(len(bounds) - 1):
        first, end = bounds[i], bounds[i + 1]
        if end <= a or first == end:
            continue
        if first >= stop:
            break
        yield i, max(a, first) - first, min(stop, end) - first


def _sliced(batches: Iterator[Any], lo: int, hi: int, row0: int, size: int
            ) -> Iterator[tuple[Any, int]]:
    """Rows ``[lo, hi)`` of a part read as `batches`, in batches of at most `size` rows."""
    pos = 0
    for batch in batches:
        n = batch.num_rows
        s, e = max(lo, pos), min(hi, pos + n)
        if e > s:
            for i in range(s, e, size):
                j = min(i + size, e)
                yield batch.slice(i - pos, j - i), row0 + i
        pos += n
        if pos >= hi:
            return


def _path(path: Any, where: str) -> str:
    p = os.fsdecode(os.fspath(path))
    if not os.path.exists(p):
        raise FileNotFoundError(f"{where}: no such file or directory: {p!r}")
    return p


# --------------------------------------------------------------------------- Parquet


def from_parquet(path_or_directory: PathLike,
                 columns: ColumnSpec | Sequence[ColumnSpec] | None = None,
                 time: ColumnSpec | None = None, key: ColumnSpec | None = None, *,
                 dtype: DTypeLike | None = None, fill_null: float | None = None,
                 batch_size: int | None = None) -> Stream:
    """Stream a Parquet file, or a directory of ``.parquet`` files, row group by row group.

    Needs pyarrow (``pip install pystream-numeric[arrow]``).  Only the
    columns needed are read: iterating the values reads neither the time
    nor the key column.  Memory holds one row group at a time.  The source
    has random access by row group (found from the file metadata, no data
    read), so ``engine="threads"`` and ``engine="dask"`` split it without
    reading it first.

    Parameters
    ----------
    path_or_directory : str or os.PathLike
        A Parquet file, or a directory whose ``*.parquet`` files (sorted by
        name) make one stream; their schemas must agree on the columns read.
    columns : str, int or list of them, optional
        The value columns, by name or position.  One name gives scalar
        records (``Stream.columns`` is that name); a list gives records of
        shape ``(len(columns),)``.  Default: every integer, float and
        all-null column that is neither the time nor the key column, as a
        list (records of shape ``(k,)``).
    time : str or int, optional
        The time column: a timestamp (any unit; tz-aware times are converted
        to UTC, tz-naive times are taken as UTC), a date (date32/date64),
        or numbers.  Stored as int64 nanoseconds since the epoch (shown as
        ``datetime64[ns]``) or as the numbers.  A null is an error naming
        the row.
    key : str or int, optional
        The key column: text (string, large_string, dictionary) encoded as
        int64 codes in first-seen order (:class:`~pystream.KeyDictionary`),
        or integers used as the codes.  A null key has code -1.
    dtype : dtype-like, optional
        The values' dtype.  Default: float64 when a value column is a float
        or all-null column or holds nulls (as the file's statistics say),
        else numpy's result type of the columns.
    fill_null : number, optional
        The value of a null in a value column.  Default: NaN when the
        stream's dtype is a float dtype (so an integer column with nulls
        read beside a float column, or with ``dtype="float64"``, gets NaN);
        with an integer or bool dtype a null is an error naming the column
        and the row (global, 0-based).  A null in a column that the
        statistics do not count (a file written without them) can still
        meet an integer dtype: the error says so.
    batch_size : int, optional
        Records per chunk at most (default 65536).

    Returns
    -------
    Stream
        A re-iterable stream with random access.

    Raises
    ------
    ImportError
        If pyarrow is not installed (``pystream._arrow.MissingExtraError``).
    FileNotFoundError
        If the path does not exist, or a directory holds no ``.parquet`` file.
    KeyError, IndexError, TypeError
        For a column that does not exist or has a type it cannot have.
    ValueError
        While reading: for a null where none can be (the message names the
        column and the row).

    Examples
    --------
    >>> import os, tempfile
    >>> import pyarrow as pa, pyarrow.parquet as pq
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "t.parquet")
    ...     t = pa.table({"x": [1.0, None, 3.0], "n": [1, 2, 3], "k": ["a", "b", "a"]})
    ...     pq.write_table(t, path, row_group_size=2)
    ...     s = from_parquet(path, key="k")
    ...     print(s.columns, s.to_array().tolist())
    ...     print([b.key.tolist() for b in s.batches()], s.key_column.dictionary.keys)
    ('x', 'n') [[1.0, 1.0], [nan, 2.0], [3.0, 3.0]]
    [[0, 1], [0]] ('a', 'b')
    """
    where = f"from_parquet({os.fspath(path_or_directory)!r})"
    pq = import_arrow(where, "pyarrow.parquet")
    p = _path(path_or_directory, where)
    if os.path.isdir(p):
        files = sorted(os.path.join(p, f) for f in os.listdir(p) if f.endswith(".parquet"))
        if not files:
            raise FileNotFoundError(f"{where}: the directory holds no .parquet file")
    else:
        files = [p]
    size = _batch_size(batch_size, where)
    pa = import_arrow(where)
    metas, footers = [], []
    for f in files:
        try:
            pf = pq.ParquetFile(f)
        except (pa.ArrowInvalid, OSError) as e:
            raise ValueError(f"{where}: {f!r} is not a Parquet file ({e})") from None
        try:
            meta = pf.metadata
            metas.append((pf.schema_arrow, [meta.row_group(i).num_rows
                                            for i in range(meta.num_row_groups)]))
            footers.append(meta)
        finally:
            pf.close()
    plan = plan_table(metas[0][0], columns, time, key, dtype=dtype, fill_null=fill_null,
                      where=where, has_nulls=lambda c: _counted_nulls(footers, c))
    for f, (schema, _) in zip(files[1:], metas[1:]):
        for c in plan.read_columns:
            first = metas[0][0].field(c).type
            if c not in schema.names or schema.field(c).type != first:
                got = schema.field(c).type if c in schema.names else "no such column"
                raise ValueError(f"{where}: {f!r} does not match {files[0]!r}: column {c!r} is "
                                 f"{first} there, {got} here")
    groups = [(fi, g) for fi, (_, rows) in enumerate(metas) for g in range(len(rows))]
    bounds = [0]
    for _, rows in metas:
        for r in rows:
            bounds.append(bounds[-1] + r)

    def read(cols: list[str], a: int, b: int | None, chunk: int | None
             ) -> Iterator[tuple[Any, int]]:
        opened: dict[int, Any] = {}
        try:
            for i, lo, hi in _covering(bounds, a, b):
                fi, g = groups[i]
                pf = opened.get(fi)
                if pf is None:
                    for old in opened.values():
                        old.close()
                    opened.clear()
                    pf = opened[fi] = pq.ParquetFile(files[fi])
                step = chunk or size
                batches = pf.iter_batches(batch_size=step, row_groups=[g], columns=cols)
                yield from _sliced(batches, lo, hi, bounds[i], step)
        finally:
            for pf in opened.values():
                pf.close()

    return table_stream(plan, read, length=lambda: bounds[-1], granules=lambda: bounds)


def _counted_nulls(footers: list[Any], name: str) -> bool:
    """Some row group's statistics count nulls in column `name`."""
    for meta in footers:
        for g in range(meta.num_row_groups):
            rg = meta.row_group(g)
            for c in range(rg.num_columns):
                col = rg.column(c)
                if col.path_in_schema == name:
                    st = col.statistics
                    if st is not None and st.has_null_count and st.null_count:
                        return True
    return False


# --------------------------------------------------------------------------- Arrow IPC


def from_ipc(path: PathLike, columns: ColumnSpec | Sequence[ColumnSpec] | None = None,
             time: ColumnSpec | None = None, key: ColumnSpec | None = None, *,
             dtype: DTypeLike | None = None, fill_null: float | None = None,
             batch_size: int | None = None) -> Stream:
    """Stream an Arrow IPC file (Feather v2), record batch by record batch.

    Needs pyarrow (``pip install pystream-numeric[arrow]``).  The file is
    memory-mapped and only the columns needed are read, so a value column
    of the stream's dtype without nulls is a zero-copy view of the file.
    The source has random access by record batch (``engine="threads"``,
    ``engine="dask"``).

    Parameters
    ----------
    path : str or os.PathLike
        An Arrow IPC file (``pyarrow.ipc.new_file``,
        ``pyarrow.feather.write_feather``, ``polars.DataFrame.write_ipc``).
        A file in the IPC *stream* format (``pyarrow.ipc.new_stream``) is
        read too, in order, whole batches (no random access).
    columns, time, key, dtype, fill_null
        As for :func:`from_parquet`.
    batch_size : int, optional
        Records per chunk at most; default: the file's record batches.

    Returns
    -------
    Stream
        A re-iterable stream with random access.

    Raises
    ------
    ImportError
        If pyarrow is not installed.
    ValueError
        If the file is not an Arrow IPC file; while reading, for a null
        where none can be (naming the column and the row).
    KeyError, IndexError, TypeError
        As for :func:`from_parquet`.

    Examples
    --------
    >>> import os, tempfile
    >>> import pyarrow as pa, pyarrow.feather as feather
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "t.arrow")
    ...     t = pa.table({"t": pa.array([0, 60], pa.timestamp("s")), "x": [1.5, 2.5]})
    ...     feather.write_feather(t, path)
    ...     s = from_ipc(path, "x", time="t")
    ...     b = next(s.batches())
    ...     print(s.columns, b.values.tolist(), str(b.time[1]))
    ('x',) [1.5, 2.5] 1970-01-01T00:01:00.000000000
    """
    where = f"from_ipc({os.fspath(path)!r})"
    pa = import_arrow(where)
    ipc = import_arrow(where, "pyarrow.ipc")
    p = _path(path, where)

    def open_reader(cols: list[str] | None) -> Any:
        src = pa.memory_map(p)
        try:
            if cols is None:
                return ipc.open_file(src)
            names = ipc.open_file(src).schema.names
            opts = ipc.IpcReadOptions(included_fields=sorted(names.index(c) for c in cols))
            return ipc.open_file(src, options=opts)
        except pa.ArrowInvalid as e:
            src.close()
            raise ValueError(f"{where}: not an Arrow IPC file (Feather v2): {e}") from None

    size = None if batch_size is None else _batch_size(batch_size, where)
    try:
        schema = open_reader(None).schema
    except ValueError as e:
        try:  # the IPC stream format: read in order, no random access
            with pa.OSFile(p) as f:
                schema = ipc.open_stream(f).schema
        except pa.ArrowInvalid:
            raise e from None
        plan = plan_table(schema, columns, time, key, dtype=dtype, fill_null=fill_null,
                          where=where)

        def read_stream(cols: list[str], a: int, b: int | None, chunk: int | None
                        ) -> Iterator[tuple[Any, int]]:
            row = 0
            with pa.memory_map(p) as src:
                for batch in ipc.open_stream(src):
                    yield from _sliced(iter([batch]), 0, batch.num_rows, row,
                                       size or batch.num_rows or 1)
                    row += batch.num_rows

        return table_stream(plan, read_stream)
    plan = plan_table(schema, columns, time, key, dtype=dtype, fill_null=fill_null, where=where)
    bounds: list[int] = []

    def counted() -> list[int]:
        if not bounds:  # read once, from the batches' headers (one value column)
            r = open_reader(list(plan.values[:1]))
            sizes = [r.get_batch(i).num_rows for i in range(r.num_record_batches)]
            bounds[:] = [0, *np.cumsum(sizes, dtype=np.int64).tolist()]
        return bounds

    def read(cols: list[str], a: int, b: int | None, chunk: int | None
             ) -> Iterator[tuple[Any, int]]:
        bnds = counted()
        r = open_reader(cols)
        for i, lo, hi in _covering(bnds, a, b):
            batch = r.get_batch(i)
            yield from _sliced(iter([batch]), lo, hi, bnds[i], chunk or size or batch.num_rows)

    return table_stream(plan, read, length=lambda: counted()[-1])


# --------------------------------------------------------------------------- in memory


def _as_table(pa: Any, obj: Any, where: str) -> Any:
    if isinstance(obj, pa.Table):
        return obj
    if isinstance(obj, pa.RecordBatch):
        return pa.Table.from_batches([obj])
    module = type(obj).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(obj, preserve_index=False)
    if hasattr(obj, "__arrow_c_stream__"):
        return pa.table(obj)
    if hasattr(obj, "to_arrow"):
        return obj.to_arrow()
    raise TypeError(f"{where}: expected a pyarrow Table or RecordBatchReader, a pandas or "
                    f"polars DataFrame, or an object with __arrow_c_stream__; got "
                    f"{type(obj).__name__}")


def from_table(obj: Any, columns: ColumnSpec | Sequence[ColumnSpec] | None = None,
               time: ColumnSpec | None = None, key: ColumnSpec | None = None, *,
               dtype: DTypeLike | None = None, fill_null: float | None = None,
             batch_size: int | None = None) -> Stream:
    """Stream a table in memory: pyarrow, pandas or polars.

    Needs pyarrow (``pip install pystream-numeric[arrow]``).  A value column
    of the stream's dtype without nulls is streamed as zero-copy views of
    the Arrow buffers (with one column; several columns are copied once per
    chunk into the ``(n, k)`` records).

    Parameters
    ----------
    obj : pyarrow.Table, RecordBatch or RecordBatchReader, pandas or polars DataFrame
        A Table (or DataFrame) gives a re-iterable stream with random
        access; a RecordBatchReader, which can be read once, a one-shot
        stream.  pandas frames go through ``pyarrow.Table.from_pandas``
        (their index is not a column: ``df.reset_index()`` first to read
        it; NaN becomes null, read back as NaN);
        other objects through the Arrow PyCapsule stream protocol
        (``__arrow_c_stream__``).
    columns, time, key, dtype, fill_null
        As for :func:`from_parquet`.
    batch_size : int, optional
        Records per chunk at most (default 65536).

    Returns
    -------
    Stream

    Raises
    ------
    ImportError
        If pyarrow is not installed.
    TypeError
        If `obj` is not a table.
    KeyError, IndexError, ValueError
        As for :func:`from_parquet`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> df = pd.DataFrame({"city": ["Oslo", "Rome", "Oslo"], "temp": [-3.0, 14.5, -1.0]})
    >>> s = from_table(df, "temp", key="city")
    >>> s.to_array().tolist(), s.key_column.decode(next(s.batches()).key).tolist()
    ([-3.0, 14.5, -1.0], ['Oslo', 'Rome', 'Oslo'])
    """
    where = "from_table"
    pa = import_arrow(where)
    size = _batch_size(batch_size, where)
    if isinstance(obj, pa.RecordBatchReader):
        plan = plan_table(obj.schema, columns, time, key, dtype=dtype, fill_null=fill_null,
                          where=where)

        def read_once(cols: list[str], a: int, b: int | None, chunk: int | None
                      ) -> Iterator[tuple[Any, int]]:
            row = 0
            for batch in obj:
                yield from _sliced(iter([batch]), 0, batch.num_rows, row, size)
                row += batch.num_rows

        return table_stream(plan, read_once, one_shot=True)
    table = _as_table(pa, obj, where)
    plan = plan_table(table.schema, columns, time, key, dtype=dtype, fill_null=fill_null,
                      where=where, has_nulls=lambda c: table.column(c).null_count > 0)
    table = table.select(plan.read_columns)
    n = table.num_rows

    def read(cols: list[str], a: int, b: int | None, chunk: int | None
             ) -> Iterator[tuple[Any, int]]:
        stop = n if b is None else min(b, n)
        row = a
        for batch in table.select(cols).slice(a, max(stop - a, 0)).to_batches(chunk or size):
            yield batch, row
            row += batch.num_rows

    return table_stream(plan, read, length=lambda: n)
