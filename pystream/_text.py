"""Text input for :func:`pystream.from_text`: read lines in blocks, check,
parse (how: :doc:`/internals/text-input`).
"""

from __future__ import annotations

import gzip
import io
import itertools
import re
import sys
import warnings
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["TextParser", "read_blocks", "source_name"]

# numpy's messages, rewritten with our line numbers and 0-based columns.
_CONVERT_RE = re.compile(r"could not convert string (.*) to (\S+) at row \d+, column (\d+)\.?$", re.S)
_CHANGED_RE = re.compile(r"the number of columns changed from \d+ to (\d+) at row \d+")
_REQUIRES_RE = re.compile(r"the dtype passed requires \d+ columns but (\d+) were found at row \d+")
_ROW_RE = re.compile(r",? at row \d+")


def source_name(obj: Any) -> str:
    """How errors name a text source: a path's repr, ``<stdin>``, a file's ``.name``."""
    if obj is sys.stdin or (isinstance(obj, str) and obj == "-"):
        return "<stdin>"
    name = getattr(obj, "name", None)
    if isinstance(name, bytes):
        name = name.decode(errors="replace")
    if isinstance(name, str) and name:
        return name if name.startswith("<") and name.endswith(">") else repr(name)
    if isinstance(name, int) and not isinstance(name, bool):
        return f"<file descriptor {name}>"
    for attr in ("buffer", "raw", "fileobj"):  # wrappers: TextIOWrapper, BufferedReader, GzipFile
        inner_obj = getattr(obj, attr, None)
        if inner_obj is not None and inner_obj is not obj and hasattr(inner_obj, "read"):
            inner = source_name(inner_obj)
            if not inner.startswith("<unnamed"):
                return inner
    if hasattr(obj, "read"):
        return f"<unnamed {type(obj).__name__} file object>"
    return f"<{type(obj).__name__} of lines>"


# --------------------------------------------------------------------------- reading


_ESCAPED = re.compile("[\udc80-\udcff]")  # undecodable bytes, as surrogateescape writes them
_ESCAPED_RUN = re.compile("[\udc80-\udcff]+")
_LINE_END = re.compile("\r\n|\r|\n")
_READ_CHARS = 1 << 20  # at most, characters read (and parsed) at a time from files
_PROBE = "azAZ09,;:\t \n\r\"'#%-+."


def _ascii_compatible(encoding: str) -> bool:
    try:
        return _PROBE.encode(encoding) == _PROBE.encode("ascii")
    except (LookupError, UnicodeError):
        return False


def _cant_decode(bad: bytes, reason: str) -> str:
    return f"can't decode byte{'s' if len(bad) > 1 else ''} {' '.join(f'0x{b:02x}' for b in bad)} ({reason})"


def _hint(encoding: str) -> str:
    if encoding.replace("_", "-").lower() not in ("utf-8", "utf8"):
        return ""
    return "; pass encoding= (e.g. encoding='latin-1' or 'cp1252') if the file is in another encoding"


def _decode(data: bytes, encoding: str, name: str, first_line: int, offset: int) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        line = first_line + data.count(b"\n", 0, e.start)
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1)
        raise ValueError(
            f"from_text: {name}, line {line}: not valid {encoding} at byte offset {offset + e.start} "
            f"(byte {col} of the line, 0-based): {_cant_decode(data[e.start:e.end], e.reason)}"
            f"{_hint(encoding)}"
        ) from None


def _split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()  # after the last "\n"
    return lines


class _Escaped:
    """Lines decoded by a TextIOWrapper with ``errors="surrogateescape"``.

    Decoding never fails on the way (the file is decoded in C, as ``open()``
    does, at the speed of a text file); a block that is not pure ASCII is
    searched for escaped bytes, and the first one is reported with its line
    and byte offset.  ``newline=""`` keeps the line ends, so byte offsets
    are exact.
    """

    def __init__(self, encoding: str, name: str) -> None:
        self.encoding = encoding
        self.name = name
        self.ascii_ok = _ascii_compatible(encoding)
        self.offset = 0

    def nbytes(self, text: str) -> int:
        if self.ascii_ok and text.isascii():
            return len(text)
        return len(text.encode(self.encoding, "surrogateescape"))

    def check(self, text: str, first_line: int) -> None:
        if not (self.ascii_ok and text.isascii()):
            m = _ESCAPED.search(text)
            if m is not None:
                self._fail(text, first_line, m.start())
        self.offset += self.nbytes(text)

    def _fail(self, text: str, first_line: int, pos: int) -> None:
        before = text[:pos]
        line_start = max(before.rfind("\n"), before.rfind("\r")) + 1
        line_no = first_line + len(_LINE_END.findall(before))
        line = text[line_start:pos]
        m = _ESCAPED_RUN.match(text, pos)
        raw = bytes(ord(c) - 0xDC00 for c in (m.group(0) if m else text[pos:pos + 1]))
        col = len(line.encode(self.encoding, "surrogateescape"))
        offset = self.offset + self.nbytes(before)
        raise ValueError(
            f"from_text: {self.name}, line {line_no}: not valid {self.encoding} at byte "
            f"offset {offset} (byte {col} of the line, 0-based): "
            f"{_cant_decode(raw, 'invalid or incomplete sequence')}{_hint(self.encoding)}"
        )


def _text_wrapper(binary: Any, encoding: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(binary, encoding=encoding, errors="surrogateescape", newline="")


def read_blocks(
    source: Any, path: str | None, name: str, block_lines: int, skiprows: int, encoding: str
) -> Iterator[tuple[list[str] | None, int, str, int]]:
    """Yield ``(lines, number of the first line, text, number of lines)`` blocks.

    `path` is the file to open (None for stdin, file objects and
    iterables).  Files (paths, stdin, binary file objects) are read
    ``32 * block_lines`` characters at a time (4 Ki to 1 Mi), cut after a line end: `lines` is None and `text`
    holds whole lines ending in ``"\\n"`` (lone ``"\\r"`` line ends are
    changed to ``"\\n"``).  Iterables and text file objects give blocks of
    `block_lines` lines: `lines` is the list and `text` the lines joined
    with a line break between them.  The source is read once, front to back.
    """
    gz = path is not None and path.endswith(".gz")
    wrapper: Any = None
    close: Callable[[], Any] = lambda: None  # noqa: E731
    if path is not None:
        if gz:
            wrapper = gzip.open(path, "rt", encoding=encoding, errors="surrogateescape", newline="")
        else:
            wrapper = open(path, encoding=encoding, errors="surrogateescape", newline="")  # noqa: SIM115
        close = wrapper.close
    elif isinstance(source, str) and source == "-":
        buf = getattr(sys.stdin, "buffer", None)
        if isinstance(buf, io.BufferedIOBase):
            wrapper = _text_wrapper(buf, encoding)
            close = wrapper.detach  # stdin stays open
    elif isinstance(source, io.BufferedIOBase) and not isinstance(source, io.TextIOBase):
        wrapper = _text_wrapper(source, encoding)  # a binary file: decode in C, keep it open
        close = wrapper.detach
    try:
        if wrapper is not None:
            # ~32 characters a line: blocks follow chunk_size (a progress bar moves), within limits.
            size = min(_READ_CHARS, max(1 << 12, 32 * block_lines))
            yield from _char_blocks(wrapper, skiprows, _Escaped(encoding, name), size)
        else:
            src = sys.stdin if isinstance(source, str) and source == "-" else source
            # An iterable's lines may lack their line ends: join them with one.
            joiner = "" if hasattr(src, "read") else "\n"
            yield from _blocks(iter(src), name, block_lines, skiprows, encoding, joiner)
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        # From a decompressing reader: a .gz path, or a file object such as a GzipFile.
        if not gz and not hasattr(source, "read"):
            raise
        what = ("gzip" if gz or isinstance(source, gzip.GzipFile)
                or isinstance(e, (gzip.BadGzipFile, zlib.error)) else "compressed")
        raise ValueError(f"from_text: {name}: corrupted or truncated {what} data ({e})") from e
    finally:
        close()


def _char_blocks(f: Any, skiprows: int, escaped: _Escaped, size: int) -> Iterator[tuple[None, int, str, int]]:
    line_no = 1
    for _ in range(skiprows):
        ln = f.readline()
        if not ln:
            return
        line_no += 1
        escaped.offset += escaped.nbytes(ln)
    carry = ""
    while True:
        chunk = f.read(size)
        text = carry + chunk if carry else chunk
        if not text:
            return
        if chunk:
            cut = text.rfind("\n") + 1
            if not cut:  # lone "\r" line ends; a final "\r" may be half of a "\r\n"
                cut = text.rfind("\r", 0, len(text) - text.endswith("\r")) + 1
            if not cut:  # a line longer than one read: read on
                carry = text
                continue
            text, carry = text[:cut], text[cut:]
        escaped.check(text, line_no)
        if "\r" in text and text.count("\r") != text.count("\r\n"):
            text = _LINE_END.sub("\n", text)  # lone "\r" line ends
        nlines = text.count("\n") + (not text.endswith("\n"))
        yield None, line_no, text, nlines
        line_no += nlines
        if not chunk:
            return


def _blocks(
    it: Iterator[Any], name: str, n: int, skiprows: int, encoding: str, joiner: str,
) -> Iterator[tuple[list[str], int, str, int]]:
    line_no, offset = 1, 0
    try:
        if skiprows:
            skipped = list(itertools.islice(it, skiprows))
            line_no += len(skipped)
            if skipped and isinstance(skipped[0], (bytes, bytearray)):
                offset += sum(map(len, skipped))
        while True:
            raw = list(itertools.islice(it, n))
            if not raw:
                return
            if isinstance(raw[0], (bytes, bytearray)):
                data = b"".join(raw)
                text = _decode(data, encoding, name, line_no, offset)
                lines = _split_lines(text)
                offset += len(data)
            elif isinstance(raw[0], str):
                lines = raw
                text = joiner.join(lines)
            else:
                raise TypeError(f"from_text: {name}: lines must be str or bytes, got {type(raw[0]).__name__}")
            yield lines, line_no, text, len(raw)
            line_no += len(raw)
            if len(raw) < n:
                return
    except UnicodeDecodeError as e:  # a text-mode file object decodes ahead of us
        raise ValueError(
            f"from_text: {name}, at or after line {line_no}: not valid {e.encoding}: "
            f"{_cant_decode(e.object[e.start:e.end], e.reason)}; open the file with the right "
            "encoding, or pass it in binary mode with encoding= (then the error gives the line "
            "and the byte offset)"
        ) from None


# --------------------------------------------------------------------------- parsing


def _lines(lines: list[str] | None, text: str) -> list[str]:
    return lines if lines is not None else _split_lines(text)


def _src(src: Any) -> Any:
    """What np.loadtxt reads: a list of lines as is, a block of text through a StringIO."""
    return io.StringIO(src) if isinstance(src, str) else src


def _loadtxt(lines: Any, dtype: Any, p: TextParser, usecols: Any = None, **kw: Any) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
        return np.loadtxt(lines, dtype=dtype, delimiter=p.delimiter, usecols=usecols,
                          comments=p.comments, quotechar=p.quotechar, **kw)


class TextParser:
    """Parse blocks of lines into arrays; errors carry the input's name and line numbers.

    Parameters
    ----------
    name : str
        The input, as errors name it.
    dtype : numpy.dtype
        Numeric dtype of the values.
    delimiter, comments, quotechar
        As for :func:`numpy.loadtxt`.
    usecols : list of int or None
        Columns to keep (0-based, negative from the end); None: all.
    """

    def __init__(self, name: str, dtype: np.dtype, delimiter: str | None, usecols: list[int] | None,
                 comments: Any, quotechar: str | None) -> None:
        self.name = name
        self.dtype = dtype
        self.delimiter = delimiter
        self.usecols = usecols
        if comments is not None and not isinstance(comments, str):
            comments = list(comments)
            if len(comments) == 1:
                comments = comments[0]
        self.comments = comments
        # numpy's tokenizer reads quotes only with one single-character comment
        # prefix (or none); otherwise quotes are refused, never split.
        self.refused_quote: str | None = None
        if quotechar is not None and comments is not None and (
            not isinstance(comments, str) or len(comments) != 1
        ):
            self.refused_quote, quotechar = quotechar, None
        self.quotechar = quotechar
        self.ncols: int | None = None  # fields per row, from the first data line
        self.first_data_line = 0
        self.cols: list[int] = []  # usecols, resolved against ncols
        self.row_dtype: np.dtype | None = None
        # Bytes to delete to keep only the delimiter and line feeds (fast usecols check).
        self._keep_only: bytes | None = None
        if delimiter is not None and delimiter.isascii() and delimiter not in " \t\r\n\f\v":
            self._keep_only = bytes(b for b in range(256) if b not in (ord(delimiter), 10))
        self._open_quote: re.Pattern | None = None
        if quotechar is not None:
            q = re.escape(quotechar)
            start = r"[ \t\r\f\v]" if delimiter is None else re.escape(delimiter)
            # A quote at the start of a field whose field reaches the end of the line.
            self._open_quote = re.compile(rf"(?:^|{start}){q}(?:[^{q}\r\n]|{q}{q})*(?:[\r\n]|\Z)", re.M)

    # -- errors -------------------------------------------------------------
    def _error(self, line_no: int, line: str, reason: str) -> ValueError:
        text = line.rstrip("\r\n")
        return ValueError(f"from_text: {self.name}, line {line_no}: {reason} (line: {text!r:.100})")

    def _count_reason(self, found: int | str) -> str:
        return (f"{found} field{'' if str(found) == '1' else 's'}, expected {self.ncols} (as on line "
                f"{self.first_data_line}, the first data line); every row must have the same number "
                "of fields")

    def _reason(self, err: Exception) -> str:
        msg = str(err)
        m = _CONVERT_RE.search(msg)
        if m:
            return (f"could not convert {m.group(1)} to {m.group(2)} in column "
                    f"{int(m.group(3)) - 1} (0-based)")
        m = _CHANGED_RE.search(msg) or _REQUIRES_RE.search(msg)
        if m:
            return self._count_reason(m.group(1))
        return _ROW_RE.sub("", msg)

    # -- quotes -------------------------------------------------------------
    def _check_quotes(self, lines: list[str] | None, first_line: int, text: str) -> None:
        """Refuse a quoted field that does not close on its line."""
        rq = self.refused_quote
        if rq is not None:
            if rq in text:
                lines = _lines(lines, text)
                i = next(k for k, ln in enumerate(lines) if rq in ln)
                raise self._error(
                    first_line + i, lines[i],
                    f"found the quote character {rq!r}, but quoted fields can only be read with "
                    f"one single-character comment prefix (comments={self.comments!r}); pass "
                    "comments='#' (or None), or quotechar=None to read quotes as ordinary characters",
                )
            return
        q = self.quotechar
        rx = self._open_quote
        if q is None or rx is None:
            return
        if q not in text or rx.search(text) is None:
            return
        for i, ln in enumerate(_lines(lines, text)):  # a candidate: find it, and ask numpy's tokenizer
            if q not in ln:
                continue
            body = ln.rstrip("\n") + "\n"
            if rx.search(body) is None:
                continue
            try:
                fields = _loadtxt([body], str, self, ndmin=2)
            except ValueError:
                continue  # reported by the parse itself
            if any("\n" in f for f in fields.ravel().tolist()):
                raise self._error(
                    first_line + i, ln,
                    f"a quoted field does not close on its line (an unterminated {q}, or a line "
                    "break inside quotes, which from_text does not read)",
                )

    # -- first data line ----------------------------------------------------
    def _learn_ncols(self, lines: list[str], first_line: int) -> bool:
        """Find the first data line; set ncols and the row dtype.  False if none in `lines`."""
        if not _loadtxt(lines, "U1", self, ndmin=2, max_rows=1).shape[0]:
            return False
        for i, ln in enumerate(lines):
            row = _loadtxt([ln], "U1", self, ndmin=2)
            if row.shape[0]:
                self.ncols, self.first_data_line = row.shape[1], first_line + i
                break
        else:  # pragma: no cover - the probe found a row
            return False
        if self.usecols is not None:
            n = self.ncols
            assert n is not None
            for c in self.usecols:
                if not -n <= c < n:
                    raise self._error(
                        self.first_data_line, lines[self.first_data_line - first_line],
                        f"usecols has column {c} (0-based), but the first data line has {n} "
                        f"field{'s' if n != 1 else ''} (columns 0 to {n - 1})",
                    )
            self.cols = [c % n for c in self.usecols]
            want = set(self.cols)
            self.row_dtype = np.dtype([(f"f{i}", self.dtype if i in want else "U1") for i in range(n)])
        return True

    # -- blocks -------------------------------------------------------------
    def _fast_usecols(self, src: Any, text: str, nlines: int) -> np.ndarray | None:
        """`usecols` on a plain block: numpy's own `usecols`, field counts checked on the bytes.

        For a block that is ASCII, has a one-character delimiter and no quote
        or comment character, every line has the right number of fields iff
        keeping only the delimiters and line feeds of the block leaves
        ``(delimiter * (ncols - 1) + "\\n") * nlines``: one C pass
        (``bytes.translate``).  None (use the general path) otherwise, or if
        that check fails (blank lines, a ragged row: the general path says
        which).
        """
        d, q = self.delimiter, self.quotechar
        if self._keep_only is None or not text.isascii() or (q is not None and q in text):
            return None
        comments = [self.comments] if isinstance(self.comments, str) else (self.comments or [])
        if any(c in text for c in comments):
            return None
        kept = text.encode("ascii").translate(None, self._keep_only)
        row = d.encode("ascii") * (self.ncols - 1) + b"\n"  # type: ignore[operator, union-attr]
        want = row * nlines
        if not text.endswith("\n"):
            want = want[:-1]
        if kept != want:
            return None
        return _loadtxt(_src(src), self.dtype, self, usecols=self.cols, ndmin=2)

    def _parse(self, src: Any) -> np.ndarray:
        """Parse a block (list of lines or text; ncols known) into a 2-d array of the selected columns."""
        if self.usecols is None:
            arr = _loadtxt(_src(src), self.dtype, self, ndmin=2)
            if len(arr) and arr.shape[1] != self.ncols:
                raise ValueError(self._count_reason(arr.shape[1]))
            return arr
        rows = _loadtxt(_src(src), self.row_dtype, self, ndmin=1)
        out = np.empty((len(rows), len(self.cols)), dtype=self.dtype)
        for j, c in enumerate(self.cols):
            out[:, j] = rows[f"f{c}"]
        return out

    def parse(self, lines: list[str] | None, first_line: int, text: str | None = None,
              nlines: int | None = None) -> np.ndarray:
        """Parse one block; `first_line` is the number of its first line (1-based).

        Either `lines` (a list of lines; `text` defaults to them joined with
        ``"\\n"``), or None and `text`: whole lines, each ending in ``"\\n"``
        (but maybe the last), `nlines` of them.
        """
        if lines is not None:
            if text is None:
                text = "\n".join(lines)
            nlines = len(lines)
        assert text is not None and nlines is not None
        src: Any = lines if lines is not None else text
        self._check_quotes(lines, first_line, text)
        if self.ncols is None and not self._learn_ncols(_lines(lines, text), first_line):
            return np.empty((0, 0), dtype=self.dtype)
        try:
            if self.usecols is not None:
                fast = self._fast_usecols(src, text, nlines)
                if fast is not None:
                    return fast
            return self._parse(src)
        except ValueError as e:
            raise self._locate(_lines(lines, text), first_line, e) from None

    def _locate(self, lines: list[str], first_line: int, err: Exception) -> ValueError:
        # Smallest failing prefix by bisection: lines[:lo] parse, lines[:hi] do not.
        lo, hi = 0, len(lines)
        last_err: Exception = err
        while hi - lo > 1:
            mid = (lo + hi) // 2
            try:
                self._parse(lines[:mid])
            except ValueError as e:
                hi = mid
                last_err = e
            else:
                lo = mid
        bad = hi - 1
        return self._error(first_line + bad, lines[bad], self._reason(last_err))
