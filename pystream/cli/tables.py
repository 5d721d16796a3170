"""Opening a table as INPUT: Parquet (a file or a directory of files), Arrow
IPC / Feather, and CSV with a header, with ``--columns``, ``--time`` and
``--key`` naming its columns (pyarrow, the ``[arrow]`` extra)."""

from __future__ import annotations

import argparse
import codecs
import os
from typing import Any

from ..sources import from_csv, from_ipc, from_parquet
from .common import CLIError, _call, _exc_text

__all__ = ["TABLE_SUFFIXES", "csv_has_header", "open_table", "table_kind", "table_options"]

#: Extensions of the table formats (``.csv`` is a table when it has a header
#: or table options are given; otherwise it stays numeric text, read without pyarrow).
TABLE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".arrow": "ipc", ".feather": "ipc",
                  ".ipc": "ipc"}
PARQUET_MAGIC = b"PAR1"
ARROW_MAGIC = b"ARROW1"
_FORMAT_NAMES = {"parquet": "Parquet", "ipc": "Arrow IPC", "csv": "CSV"}


def table_options(args: argparse.Namespace) -> list[str]:
    """The table options given (``--columns``, ``--time``, ``--key``)."""
    return [name for name, value in (("--columns", getattr(args, "columns", None)),
                                     ("--time", getattr(args, "time", None)),
                                     ("--key", getattr(args, "key", None)))
            if value is not None]


def table_kind(path: str, suffix: str, head: bytes) -> str | None:
    """``"parquet"`` or ``"ipc"`` when `path` is such a table (by its extension
    or its magic bytes), else None.  A directory holding ``.parquet`` files is
    a Parquet table."""
    if os.path.isdir(path):
        try:
            names = os.listdir(path)
        except OSError:
            return None
        return "parquet" if any(n.lower().endswith((".parquet", ".pq")) for n in names) else None
    kind = TABLE_SUFFIXES.get(suffix)
    if kind is not None:
        return kind
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if head.startswith(ARROW_MAGIC):
        return "ipc"
    return None


def _is_number(field: str) -> bool:
    text = field.strip().strip('"').strip()
    if not text:
        return True  # an empty field is a missing value, not a name
    try:
        float(text)
    except ValueError:
        return text.lower() in ("nan", "na", "n/a", "null", "inf", "-inf", "+inf")
    return True


def csv_has_header(head: bytes, delimiter: str | None) -> bool:
    """Whether the first line of a CSV's first bytes `head` is a header (a field
    that is not a number).

    Examples
    --------
    >>> csv_has_header(b"a,b\\n1,2\\n", ","), csv_has_header(b"1,2\\n3,4\\n", ",")
    (True, False)
    """
    first = head.split(b"\n", 1)[0]
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(first).lstrip("\ufeff")
    except UnicodeDecodeError:
        return False    # not UTF-8 text: the text reader names the line and byte
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    fields = line.split(delimiter) if delimiter else line.split()
    return any(not _is_number(f) for f in fields)


def _columns_argument(args: argparse.Namespace) -> Any:
    """``--columns a,b`` as the source's `columns`: one name gives scalar records."""
    cols = getattr(args, "columns", None)
    if cols is None:
        return None
    return cols[0] if len(cols) == 1 else list(cols)


def open_table(path: str, kind: str, args: argparse.Namespace, reader: Any = None,
               once: bool = False) -> Any:
    """The stream of table `path` (`reader`: an input read once, for CSV), with
    the CLI's options; library errors become CLIError naming the file."""
    given = [name for name, value in (("--dtype", args.dtype), ("--record-shape", args.record_shape),
                                      ("--offset", args.offset), ("--usecols", args.usecols),
                                      ("--skiprows", args.skiprows)) if value is not None]
    if kind != "csv" and args.delimiter is not None:
        given.append("--delimiter")
    if given:
        raise CLIError(f"{', '.join(given)} cannot be used here: {path!r} is read as a "
                       f"{_FORMAT_NAMES[kind]} table (choose its columns with --columns NAMES)")
    common = dict(columns=_columns_argument(args), time=getattr(args, "time", None),
                  key=getattr(args, "key", None))
    try:
        if kind == "parquet":
            return _call(from_parquet, path, batch_size=args.chunk_size, **common)
        if kind == "ipc":
            return _call(from_ipc, path, **common)
        source = reader if reader is not None else path
        return _call(from_csv, source, delimiter=args.delimiter, **common)
    except ImportError as exc:
        raise CLIError(f"{path!r} is a {_FORMAT_NAMES[kind]} table: {_exc_text(exc)}") from None
    except KeyError as exc:  # str() of a KeyError quotes its message
        raise CLIError(f"{path!r}: {exc.args[0] if exc.args else exc}") from None
    except (ValueError, TypeError, OSError) as exc:
        raise CLIError(f"{path!r}: {_exc_text(exc)}") from None
