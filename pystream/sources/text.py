"""The text source: delimited numbers (CSV, TSV, whitespace) parsed in C."""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any

import numpy as np
from numpy.typing import DTypeLike

from .. import _text
from .._checks import check_count
from ..stream import Stream
from .common import PathLike, _check_dtype, _chunk_size, _fspath, _is_path, _is_stdin, _source


# --------------------------------------------------------------------------- from_text


def _text_chunks(
    source: Any,
    path: str | None,
    name: str,
    dtype: np.dtype,
    delimiter: str | None,
    usecols: list[int] | None,
    skiprows: int,
    comments: Any,
    quotechar: str | None,
    encoding: str,
    block_lines: int,
) -> Iterator[np.ndarray]:
    parser = _text.TextParser(name, dtype, delimiter, usecols, comments, quotechar)
    for lines, first_line, text, nlines in _text.read_blocks(source, path, name, block_lines, skiprows,
                                                             encoding):
        arr = parser.parse(lines, first_line, text, nlines)
        if len(arr):
            # One column -> scalar records (ncols is the same for every block).
            if arr.shape[1] == 1:
                arr = arr.reshape(len(arr))
            for i in range(0, len(arr), block_lines):  # at most chunk_size records per chunk
                yield arr[i:i + block_lines]


def _normalize_usecols(usecols: object) -> tuple[list[int] | None, tuple[int, ...] | None]:
    """Return (usecols as a list, record shape if known from `usecols`)."""
    if usecols is None:
        return None, None
    bad = TypeError(f"from_text: usecols must be an int or a sequence of ints, got {usecols!r}")
    if isinstance(usecols, (bool, np.bool_, str, bytes)):
        raise bad
    if isinstance(usecols, (int, np.integer)):
        return [int(usecols)], ()
    try:
        items = list(usecols)  # type: ignore[call-overload]
    except TypeError:
        raise bad from None
    if not all(isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_)) for c in items):
        raise bad
    if not items:
        raise ValueError("from_text: usecols is empty")
    cols = [int(c) for c in items]
    return cols, (() if len(cols) == 1 else (len(cols),))


def _check_char(value: object, name: str, allow_none: bool) -> str | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or len(value) != 1 or value in "\r\n":
        what = "a single character or None" if allow_none else "a single character"
        raise (TypeError if not isinstance(value, str) else ValueError)(
            f"from_text: {name} must be {what} (not a line break), got {value!r}"
        )
    return value


def from_text(
    path_or_file: PathLike | IO[str] | IO[bytes] | Iterable[str],
    delimiter: str | None = None,
    usecols: int | Sequence[int] | None = None,
    skiprows: int = 0,
    comments: str | Sequence[str] | None = "#",
    dtype: DTypeLike = np.float64,
    chunk_size: int | None = None,
    quotechar: str | None = '"',
    encoding: str = "utf-8",
) -> Stream:
    """Stream numeric text (CSV or whitespace-separated columns).

    The input is read in large blocks and each block is parsed by one
    :func:`numpy.loadtxt` call (numpy's C tokenizer and number parser).  One
    column gives a scalar stream; several give a record stream of record
    shape ``(ncols,)``.

    Every row is checked: it must have as many fields as the first data
    line, with or without `usecols` (a ragged row is a ValueError naming the
    input and the line, never a shifted column).  Quoted fields are
    tokenized as in RFC 4180 and pandas: a field that starts with
    `quotechar` runs to the closing quote, may hold the delimiter and
    comment characters, and ``""`` inside it is one quote, so text columns
    such as ``"Union County, Troy Shelton"`` can be skipped with `usecols`.
    A quoted numeric field (``"2.5"``) is read as a number.

    Parameters
    ----------
    path_or_file : str, path-like, file object or iterable of str
        A path (``.gz`` paths are decompressed), ``"-"`` for stdin, an open
        text or binary file, or any iterable of lines (str or bytes).  A
        path to a pipe, FIFO or other non-regular file (``/dev/fd/3``,
        ``<(cmd)``, ``/dev/stdin``), a file object, stdin and iterators give
        a one-shot stream: they are read once, front to back (never reopened
        or seeked).  Regular files and lists can be iterated many times.
    delimiter : str, optional
        Column separator (one character); default: runs of whitespace.
    usecols : int or sequence of int, optional
        Columns to read, 0-based (negative: from the end of the row).  An
        int, or a single column, gives a scalar stream.  The other columns
        may hold anything (text, quoted text), but still count: every row
        must have the same number of fields.
    skiprows : int, optional
        Lines to skip at the start (headers); they still count for line
        numbers in errors.
    comments : str or sequence of str, optional
        Comment prefix(es): the rest of the line is ignored (not inside
        quotes); None disables comments.
    dtype : dtype-like, optional
        Numeric dtype of the values; default float64.
    chunk_size : int, optional
        At most that many records per chunk; default from
        :func:`pystream._config.default_chunk_size`.  Files are parsed in
        blocks of about ``32 * chunk_size`` characters (4 Ki to 1 Mi),
        iterables of lines ``chunk_size`` lines at a time.
    quotechar : str or None, optional
        Quote character (default ``'"'``, as pandas); None: quotes are
        ordinary characters.  A quote opens a quoted field only at the start
        of a field.  A quoted field must close on its own line: a line
        break inside quotes, or an unterminated quote, is a ValueError.
    encoding : str, optional
        Encoding of paths, stdin and binary file objects (default UTF-8).
        Text file objects and iterables of str are already decoded.

    Returns
    -------
    Stream
        A lazy stream.  Without `usecols`, the record shape is found by
        parsing the first block when first needed (a one-shot source keeps
        that block for the iteration).

    Raises
    ------
    FileNotFoundError
        If the path does not exist.
    TypeError
        For a non-numeric dtype, invalid `usecols`, `delimiter` or
        `quotechar`.
    ValueError
        During iteration, naming the input (a path, ``<stdin>``, or a file
        object's ``name``) and the line (1-based, counting every line of
        the input, headers and comments included): a value that cannot be
        parsed (with its column, 0-based like `usecols`), a row with
        another number of fields than the first data line, a `usecols`
        column that the rows do not have, a quoted field that does not
        close on its line, bytes that are not valid in `encoding` (with
        the byte offset in the input), or corrupted or truncated gzip data.

    Notes
    -----
    Differences from :func:`pandas.read_csv`: an empty field is an error,
    not NaN; blank lines and comment lines are skipped, but a line of only
    spaces is a row (of one field) when `delimiter` is not whitespace; a
    line break inside a quoted field is refused; there is no header
    inference (use `skiprows`).

    Examples
    --------
    >>> s = from_text(["# x y\\n", "1,2\\n", "3,4\\n"], delimiter=",")
    >>> s.record_shape, s.to_array().tolist()
    ((2,), [[1.0, 2.0], [3.0, 4.0]])
    >>> lines = ['id,name,lat\\n', '1,"Troy, AL",31.8\\n', '2,"a ""b"" c",40.1\\n']
    >>> from_text(lines, delimiter=",", usecols=2, skiprows=1).to_array().tolist()
    [31.8, 40.1]
    """
    dt = _check_dtype(dtype, "from_text")
    if dt.kind not in "biufc":
        raise TypeError(f"from_text: dtype must be numeric (bool, int, float, complex), got {dt}")
    cols, rs = _normalize_usecols(usecols)
    skip = check_count(skiprows, "skiprows", "from_text")
    block = _chunk_size(chunk_size, dt, (), "from_text")
    if delimiter is not None:
        _check_char(delimiter, "delimiter", allow_none=True)
    quote = _check_char(quotechar, "quotechar", allow_none=True)
    if quote is not None and quote == delimiter:
        raise ValueError(f"from_text: quotechar and delimiter are the same character ({quote!r})")
    if not isinstance(encoding, str):
        raise TypeError(f"from_text: encoding must be a str, got {encoding!r}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"from_text: unknown encoding {encoding!r}") from None

    path: str | None = None
    if _is_stdin(path_or_file):
        name, one_shot, source = "<stdin>", True, path_or_file
    elif _is_path(path_or_file):
        path = _fspath(path_or_file, "from_text")  # type: ignore[arg-type]
        # A pipe, FIFO or device can be read once only: one-shot, one open.
        name, one_shot, source = repr(path), not stat.S_ISREG(os.stat(path).st_mode), path
    else:
        src_obj = path_or_file
        if not (hasattr(src_obj, "read") or hasattr(src_obj, "__iter__")):
            raise TypeError(
                "from_text: expected a path, '-', a file object or an iterable of lines, got "
                f"{type(src_obj).__name__}"
            )
        name = _text.source_name(src_obj)
        one_shot = hasattr(src_obj, "read") or iter(src_obj) is src_obj  # type: ignore[arg-type]
        source = src_obj

    src = _source(
        lambda: _text_chunks(source, path, name, dt, delimiter, cols, skip, comments, quote, encoding, block),
        one_shot,
        nonempty=True,
    )
    return Stream._from_source(src, dt, rs)
