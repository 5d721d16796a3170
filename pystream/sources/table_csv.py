"""``from_csv``: a CSV file streamed block by block by pyarrow's CSV reader."""

from __future__ import annotations

import csv as _pycsv
import gzip
import io
import itertools
import os
import stat
import sys
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import DTypeLike

from .._arrow import ColumnSpec, import_arrow, plan_table
from .._checks import check_count
from ..chain import CallableSource
from ..stream import Stream
from .common import PathLike
from .tables import table_stream

__all__ = ["from_csv"]

#: Bytes per block when `block_size` is not given (pyarrow's default, 1 MiB).
DEFAULT_BLOCK = 1 << 20


def _is_stream_path(p: str) -> bool:
    """A pipe, FIFO, socket or device: a path that can be read only once."""
    if p == "-":
        return True
    mode = os.stat(p).st_mode
    return not stat.S_ISREG(mode)


def _ragged_line(p: str, encoding: str, delimiter: str, expected: int) -> int | None:
    """The physical line (1-based) of the first record without `expected` fields."""
    enc = "utf-8-sig" if encoding.replace("-", "").lower() == "utf8" else encoding
    opener: Any = gzip.open if p.endswith(".gz") else open
    with opener(p, "rt", encoding=enc, newline="") as f:
        reader = _pycsv.reader(f, delimiter=delimiter)
        for rec in reader:
            if rec and len(rec) != expected:
                return reader.line_num
    return None


def from_csv(path: PathLike | BinaryIO, columns: ColumnSpec | Sequence[ColumnSpec] | None = None,
             time: ColumnSpec | None = None, key: ColumnSpec | None = None, *,
             delimiter: str = ",", header: bool = True,
             na_values: str | Sequence[str] | None = None, dtype: DTypeLike | None = None,
             fill_null: float | None = None, encoding: str = "utf8",
             block_size: int | None = None, time_format: str | None = None) -> Stream:
    """Stream a CSV file through pyarrow's streaming CSV reader, in bounded memory.

    Needs pyarrow (``pip install pystream-numeric[arrow]``).  The file is
    parsed a block at a time; column types are inferred from the first
    block (a column that is all-null there is read as float64 when it is a
    value column, as text when it is the key).  Quoted fields (with the
    delimiter or newlines inside quotes), a UTF-8 byte-order mark, CRLF
    line ends and gzip (a path ending in ``.gz``) are handled.

    Parameters
    ----------
    path : str, os.PathLike or binary file object
        The CSV file; ``"-"``, a pipe/FIFO or a file object (opened in
        binary mode, e.g. ``sys.stdin.buffer``) reads it once (a one-shot
        stream: its first block is read when the stream is made, to learn
        the columns).
    columns, time, key
        The value, time and key columns, by name or position (as for
        :func:`~pystream.from_parquet`; default: every numeric column).
        ISO-8601 times and dates in the time column are parsed (with an
        offset: converted to UTC; without: taken as UTC); see
        `time_format`.  A text column can be the key.
    delimiter : str, optional
        One character; default ``","``.
    header : bool, optional
        The first line holds the names (default).  Without a header the
        columns are named ``"0"``, ``"1"``, ... and can be chosen by name or
        position.
    na_values : str or list of str, optional
        Strings read as null, besides pyarrow's (and pandas') default list
        (the empty field, ``"NA"``, ``"NaN"``, ``"null"``, ``"N/A"``...).
    dtype, fill_null
        As for :func:`~pystream.from_parquet`: the default dtype is float64
        when a value column is a float column, or has a null in the first
        block (as pandas reads it), with nulls as NaN; an all-null column
        is float64 NaN.  An integer column whose first null comes after the
        first block is an error naming the column and the row: give
        ``dtype="float64"`` (or `fill_null`).
    encoding : str, optional
        The text encoding (default UTF-8).
    block_size : int, optional
        Bytes parsed at a time (default 1 MiB); types are inferred from the
        first block.
    time_format : str, optional
        A ``strptime`` format for times that are not ISO-8601
        (``"%d/%m/%Y %H:%M"``); ISO-8601 times are still recognised.

    Returns
    -------
    Stream
        A re-iterable stream (a one-shot stream for a pipe), read in order
        (no random access: ``engine="local"``).  A header-only file gives
        no records (its columns are all-null: float64); an empty file (not
        even a header) gives no records, of the columns named by `columns`
        (float64, or `dtype`), scalar records when `columns` is None.

    Raises
    ------
    ImportError
        If pyarrow is not installed.
    FileNotFoundError
        If the path does not exist.
    ValueError
        While reading: a line with the wrong number of fields (naming the
        line), a value that does not parse as its column's type, a null
        where none can be (naming the column and the row).

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "w.csv")
    ...     with open(path, "w") as f:
    ...         _ = f.write('date,city,temp\\n2024-01-01,"Oslo, NO",-3.5\\n2024-01-02,Rome,\\n')
    ...     s = from_csv(path, "temp", time="date", key="city")
    ...     b = next(s.batches())
    ...     print(b.values.tolist(), str(b.time[1]), s.key_column.decode(b.key).tolist())
    [-3.5, nan] 2024-01-02T00:00:00.000000000 ['Oslo, NO', 'Rome']
    """
    fileobj = path if hasattr(path, "read") else None
    if fileobj is not None:
        if isinstance(fileobj, io.TextIOBase):
            raise TypeError("from_csv: a file object must be opened in binary mode ('rb'), "
                            "e.g. sys.stdin.buffer; the encoding is the `encoding` argument")
        name = getattr(fileobj, "name", None)
        where = f"from_csv({name if isinstance(name, str) else '<file object>'!r})"
        p = "-"
    else:
        where = f"from_csv({os.fspath(path)!r})"  # type: ignore[arg-type]
        p = os.fsdecode(os.fspath(path))  # type: ignore[arg-type]
    pa = import_arrow(where)
    pcsv = import_arrow(where, "pyarrow.csv")
    if p != "-" and not os.path.exists(p):
        raise FileNotFoundError(f"{where}: no such file: {p!r}")
    if p != "-" and os.path.isdir(p):
        raise IsADirectoryError(f"{where}: {p!r} is a directory, not a file")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ValueError(f"{where}: delimiter must be one character, got {delimiter!r}")
    nulls = list(pcsv.ConvertOptions().null_values)
    if na_values is not None:
        nulls += [na_values] if isinstance(na_values, str) else [str(v) for v in na_values]
    block = DEFAULT_BLOCK if block_size is None else check_count(block_size, "block_size",
                                                                   where, minimum=1)
    one_shot = _is_stream_path(p)
    bad_rows: list[Any] = []

    def on_invalid(row: Any) -> str:
        bad_rows.append(row)
        return "error"

    def open_reader(include: list[str] | None = None, types: dict[str, Any] | None = None) -> Any:
        bad_rows.clear()
        src: Any = p
        if fileobj is not None:
            src = fileobj
        elif p == "-":
            src = sys.stdin.buffer
        elif one_shot:
            src = open(p, "rb")  # noqa: SIM115 -- the reader owns it
        opts = dict(
            read_options=pcsv.ReadOptions(encoding=encoding, block_size=block,
                                          autogenerate_column_names=not header),
            parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                            invalid_row_handler=on_invalid),
            convert_options=pcsv.ConvertOptions(
                null_values=nulls, strings_can_be_null=True, include_columns=include,
                column_types=types,
                timestamp_parsers=[time_format, pcsv.ISO8601] if time_format else None))
        try:
            return pcsv.open_csv(src, **opts)
        except pa.ArrowInvalid as e:
            raise _error(e) from None

    def _error(e: Exception) -> Exception:
        if bad_rows:
            row = bad_rows[-1]
            line = None if one_shot else _ragged_line(p, encoding, delimiter, row.expected_columns)
            at = f"line {line}" if line is not None else "a line"
            return ValueError(f"{where}: {at} has {row.actual_columns} fields, expected "
                              f"{row.expected_columns}: {row.text!r}")
        msg = str(e)
        if "Empty CSV file" in msg:
            return EOFError(msg)
        if "straddl" in msg:
            return ValueError(f"{where}: a row is longer than block_size={block} bytes; give a "
                              "larger block_size=")
        return ValueError(f"{where}: {msg} (column types are inferred from the first block: "
                          "give dtype= or a larger block_size=)")

    try:
        first = open_reader()
    except EOFError:
        return _empty(columns, time, key, dtype, where)
    schema = first.schema
    try:  # the first block, parsed already: its nulls choose the default dtype, as pandas'
        head = [first.read_next_batch()]
    except StopIteration:
        head = []
    except pa.ArrowInvalid as e:
        raise _error(e) from None
    shown = None if header else [str(i) for i in range(len(schema))]
    plan = plan_table(schema, columns, time, key, dtype=dtype, fill_null=fill_null, where=where,
                      shown=shown, has_nulls=lambda c: any(b.column(c).null_count for b in head))
    # Pin the types seen in the first block (a values-only read infers the same), and give
    # the columns that were all null there a type later blocks can fill.
    types = {}
    for c in plan.read_columns:
        t = schema.field(c).type
        if pa.types.is_null(t):
            t = pa.string() if c == plan.key else pa.timestamp("ns") if c == plan.time \
                else pa.float64()
        if dtype is not None and c in plan.values and c not in (plan.time, plan.key):
            t = pa.from_numpy_dtype(plan.dtype)  # parse as the dtype asked for
        types[c] = t

    def batches(reader: Any) -> Iterator[Any]:
        try:
            while True:
                try:
                    yield reader.read_next_batch()
                except StopIteration:
                    return
        except pa.ArrowInvalid as e:
            raise _error(e) from None
        finally:
            reader.close() if hasattr(reader, "close") else None

    def read(cols: list[str], a: int, b: int | None, chunk: int | None
             ) -> Iterator[tuple[Any, int]]:
        reader = first if one_shot else open_reader(cols, {c: types[c] for c in cols})
        row = 0
        for batch in itertools.chain(head if one_shot else (), batches(reader)):
            parts = [batch]
            if one_shot:  # the reader made for the schema: select and pin here
                pinned = pa.schema([(c, types[c]) for c in cols])
                parts = pa.Table.from_batches([batch]).select(cols).cast(pinned).to_batches()
            for part in parts:
                yield part, row
                row += part.num_rows

    if not one_shot:
        first.close() if hasattr(first, "close") else None
        head.clear()
    return table_stream(plan, read, one_shot=one_shot)


def _empty(columns: Any, time: Any, key: Any, dtype: Any, where: str) -> Stream:
    """The stream of an empty file (no header, no row): no records, the columns asked for."""
    if columns is None:
        dt = np.dtype(np.float64) if dtype is None else np.dtype(dtype)
        return Stream._from_source(CallableSource(lambda: iter(()), nonempty=True), dt, ())
    pa = import_arrow(where)
    scalar = isinstance(columns, (str, int))
    names = [str(columns)] if scalar else [str(c) for c in columns]
    fields = [(n, pa.float64()) for n in names]
    for c, t in ((time, pa.timestamp("ns")), (key, pa.string())):
        if c is not None and str(c) not in names:
            fields.append((str(c), t))
    plan = plan_table(pa.schema(fields), names[0] if scalar else names,
                      None if time is None else str(time), None if key is None else str(key),
                      dtype=dtype, fill_null=None, where=where)
    return table_stream(plan, lambda cols, a, b, chunk: iter(()))
