"""``from_log``: text lines -> numeric record stream, through one regular expression."""

from __future__ import annotations

import itertools
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

__all__ = ["FORMATS", "BadLine", "LogParseWarning", "ParseReport", "from_log"]

# --------------------------------------------------------------------------- presets

# The inside of a quoted field, with backslash escapes (Apache writes \" inside the
# request and the user agent), as an unrolled loop (much faster than (?:[^"\\]|\\.)*).
_Q = r'[^"\\]*(?:\\.[^"\\]*)*'
_COMMON = (
    r"^(?P<host>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<time>[^\]]*)\] "
    r'"(?P<request>' + _Q + r')" (?P<status>\d{3}) (?P<bytes>\d+|-)'
)
_COMBINED = _COMMON + r' "(?P<referer>' + _Q + r')" "(?P<agent>' + _Q + r')"'
_REST = r"(?:\s.*)?$"  # anything after the known fields (extra nginx fields) is ignored


@dataclass(frozen=True)
class _Format:
    pattern: str
    fields: tuple[str, ...]  # default fields
    numeric: tuple[str, ...]  # the fields that may be selected
    dash: dict  # field -> value of a "-"


#: Named presets for ``from_log(format=...)``: Apache / nginx access logs.
#:
#: ``common``            ``%h %l %u %t "%r" %>s %b``
#: ``combined``          common + ``"%{Referer}i" "%{User-agent}i"``
#: ``combined_latency``  combined + one trailing number, the request time
#:                       (nginx ``$request_time`` in seconds, or Apache ``%D``/``%T``)
#:
#: Numeric fields: ``status``, ``bytes`` (and ``latency``).  A ``-`` in
#: ``bytes`` is what Apache's ``%b`` writes when no body was sent: it counts
#: as 0.  A ``-`` latency (nginx writes one when there was no upstream) is NaN.
#: A line must match from its start; for ``common`` and ``combined`` anything
#: after the known fields is ignored (so ``common`` also reads combined logs, and
#: logs with extra trailing fields parse); ``combined_latency`` takes the last
#: whitespace-separated token of the line as the latency.
FORMATS: dict[str, _Format] = {
    "common": _Format(_COMMON + _REST, ("status", "bytes"), ("status", "bytes"), {"bytes": 0.0}),
    "combined": _Format(_COMBINED + _REST, ("status", "bytes"), ("status", "bytes"), {"bytes": 0.0}),
    "combined_latency": _Format(
        _COMBINED + r"(?:\s.*)?\s(?P<latency>\S+)\s*$",
        ("status", "bytes", "latency"),
        ("status", "bytes", "latency"),
        {"bytes": 0.0, "latency": math.nan},
    ),
}

# --------------------------------------------------------------------------- report


class LogParseWarning(UserWarning):
    """Lines of a log could not be parsed (``errors="warn"``, or ``"count"`` without a report)."""


@dataclass(frozen=True)
class BadLine:
    """One line that could not be parsed: 1-based line number, its text (truncated), why."""

    line: int
    text: str
    reason: str


@dataclass
class ParseReport:
    """What one pass of :func:`from_log` read: filled while the stream is iterated.

    Pass one as ``from_log(..., report=report)``.  Every pass over the stream
    (each iteration of a re-iterable stream) resets it first, so it always
    describes the latest pass; ``complete`` tells whether that pass read the
    input to its end (a ``take(10)`` stops early).

    Attributes
    ----------
    name : str
        The input (a path's repr, ``<list>``...).
    lines : int
        Lines read so far (blank and bad ones included).
    blank : int
        Lines that were empty or whitespace only (skipped, not errors).
    records : int
        Lines parsed into records.
    bad : int
        Lines that did not match the pattern or had a value that is not a number.
        ``lines == blank + records + bad``.
    missing : int
        Records that hold a missing value: a selected field that was empty
        (or only whitespace), or an optional group that did not match.  Such
        a field is NaN (float dtypes); the record is kept, not a bad line.
    examples : list of BadLine
        The first `max_examples` bad lines (line number, text, reason).
    complete : bool
        True once the pass reached the end of the input.
    """

    max_examples: int = 10
    name: str = ""
    lines: int = 0
    blank: int = 0
    records: int = 0
    bad: int = 0
    missing: int = 0
    examples: list = field(default_factory=list)
    complete: bool = False
    passes: int = 0

    def _reset(self, name: str) -> None:
        self.name = name
        self.lines = self.blank = self.records = self.bad = self.missing = 0
        self.examples = []
        self.complete = False
        self.passes += 1

    def _add_bad(self, line: int, text: str, reason: str) -> None:
        self.bad += 1
        if len(self.examples) < self.max_examples:
            self.examples.append(BadLine(line, text[:200], reason))

    @property
    def bad_lines(self) -> list:
        """Line numbers of the recorded examples."""
        return [b.line for b in self.examples]

    def summary(self, shown: int = 3) -> str:
        """One line: counts, then the first `shown` bad lines (number, reason, text)."""
        s = (f"{self.name}: {self.lines} lines, {self.records} records, {self.bad} bad, "
             f"{self.blank} blank" + (f", {self.missing} with missing values (NaN)" if self.missing else "")
             + ("" if self.complete else " (pass incomplete)"))
        if self.examples:
            first = self.examples[:shown]
            s += f"; first bad line{'s' if len(first) > 1 else ''}: " + "; ".join(
                f"{b.line}: {b.reason}: {b.text!r:.80}" for b in first)
            if self.bad > len(first):
                s += f"; ... ({self.bad - len(first)} more)"
        return s

    def __str__(self) -> str:
        return self.summary()


# --------------------------------------------------------------------------- parsing


class _Parser:
    """Turns blocks of lines (terminators stripped) into float arrays."""

    def __init__(self, rx: re.Pattern, anchored: bool, fields: tuple[str, ...],
                 dash: dict, dtype: np.dtype, errors: str, report: ParseReport, name: str,
                 warn: bool) -> None:
        self.rx = rx
        self.matcher = rx.match if anchored else rx.search
        self.fields = fields
        self.idx = [rx.groupindex[f] for f in fields]
        self.dash = [dash.get(f) for f in fields]
        self.dtype = dtype
        self.errors = errors
        self.report = report
        self.name = name
        self.warn = warn
        self.pending: list = []

    # -- error handling -------------------------------------------------
    def _bad(self, line_no: int, text: str, reason: str) -> None:
        self.pending.append((line_no, text, reason))

    def _flush(self) -> None:
        """Report the bad lines of the block, in line order (one per line)."""
        if not self.pending:
            return
        self.pending.sort(key=lambda b: b[0])
        seen = set()
        for line_no, text, reason in self.pending:
            if line_no in seen:
                continue
            seen.add(line_no)
            if self.errors == "raise":
                raise ValueError(f"from_log: {self.name}, line {line_no}: {reason} (line: {text!r:.200})")
            self.report._add_bad(line_no, text, reason)
        self.pending = []

    def finish(self) -> None:
        r = self.report
        r.complete = True
        if r.bad and self.warn:
            warnings.warn(f"from_log: {r.summary()}", LogParseWarning, stacklevel=2)

    # -- one block --------------------------------------------------------
    def parse(self, lines: list, first: int) -> np.ndarray | None:
        """Parse `lines` (numbered from `first`); return the records or None."""
        try:
            return self._parse(lines, first)
        finally:
            self._flush()

    def _parse(self, lines: list, first: int) -> np.ndarray | None:
        r = self.report
        r.lines += len(lines)
        # Keep (position, line) of the non-blank lines.
        keep = [i for i, s in enumerate(lines) if s and not s.isspace()]
        r.blank += len(lines) - len(keep)
        if not keep:
            return None
        texts = [lines[i] for i in keep] if len(keep) != len(lines) else lines
        matches = list(map(self.matcher, texts))
        try:
            groups = [m.groups() for m in matches]
            bad_rows: list = []
        except AttributeError:  # some lines did not match
            bad_rows = [i for i, m in enumerate(matches) if m is None]
            for i in bad_rows:
                self._bad(first + keep[i], texts[i], "no match")
            groups = [m.groups() for m in matches if m is not None]
        del matches
        if not groups:
            return None
        cols = list(zip(*groups))
        values = np.empty((len(groups), len(self.fields)), dtype=np.float64)
        ok = None
        missing = np.zeros(len(groups), dtype=bool)
        if bad_rows:
            skip = set(bad_rows)
            rows = [i for i in range(len(texts)) if i not in skip]
        else:
            rows = None
        for j, (gi, dash) in enumerate(zip(self.idx, self.dash)):
            col_ok = self._convert(cols[gi - 1], dash, values[:, j], missing)
            if col_ok is not None:
                ok = col_ok if ok is None else ok & col_ok
                for k in np.flatnonzero(~col_ok):
                    row = rows[k] if rows is not None else int(k)
                    self._bad_value(texts, keep, first, row, j, cols[gi - 1][k])
        if self.dtype.kind in "iu":
            info = np.iinfo(self.dtype)
            with np.errstate(invalid="ignore"):
                integral = ((values == np.trunc(values)) & (values >= info.min)
                            & (values < 2.0 ** (8 * self.dtype.itemsize - (self.dtype.kind == "i")))
                            ).all(axis=1)
            if ok is not None:
                integral |= ~ok  # already reported
            if not integral.all():
                for k in np.flatnonzero(~integral):
                    row = rows[k] if rows is not None else int(k)
                    if missing[k]:
                        reason = (f"a field is empty (a missing value), which {self.dtype} cannot "
                                  "hold; use a float dtype to read missing values as NaN")
                    else:
                        reason = f"a value is not an integer in the range of {self.dtype}: {values[k].tolist()}"
                    self._bad(first + keep[row], texts[row], reason)
                ok = integral if ok is None else ok & integral
        if ok is not None:
            values = values[ok]
            missing = missing[ok]
        r.records += len(values)
        r.missing += int(missing.sum())
        if not len(values):
            return None
        return values if self.dtype == np.float64 else values.astype(self.dtype)

    def _convert(self, col: tuple, dash: Any, out: np.ndarray, missing: np.ndarray) -> np.ndarray | None:
        """Fill `out` with the values of `col`; None if all converted, else the ok mask.

        An empty (or whitespace-only) field, or a group that did not take
        part in the match (None), is a missing value: NaN, flagged in
        `missing`.
        """
        try:
            if "" not in col and None not in col and (dash is None or "-" not in col):
                out[:] = np.array(col, dtype=np.float64)
                return None
            u = np.array(col, dtype=object)
            t = u.astype(str)  # None -> "None", but None is caught below
            miss = (np.char.str_len(np.char.strip(t)) == 0) | (u == None)  # noqa: E711
            is_dash = (t == "-") if dash is not None else None
            if miss.any():
                u[miss] = "nan"
                missing |= miss
            if is_dash is not None and is_dash.any():
                u[is_dash] = "0"
            out[:] = u.astype(np.float64)
            if is_dash is not None:
                out[is_dash] = dash
            return None
        except (ValueError, TypeError):
            pass
        ok = np.ones(len(col), dtype=bool)  # slow path, only for blocks with bad values
        for k, s in enumerate(col):
            if s is None or not s.strip():
                out[k] = math.nan
                missing[k] = True
                continue
            if dash is not None and s == "-":
                out[k] = dash
                continue
            try:
                out[k] = float(s)
            except (ValueError, TypeError):
                ok[k] = False
        return ok

    def _bad_value(self, texts: list, keep: list, first: int, row: int, j: int, s: Any) -> None:
        self._bad(first + keep[row], texts[row],
                  f"field {self.fields[j]!r}: cannot convert {s!r:.40} to a number")


# --------------------------------------------------------------------------- readers


def _is_path(obj: object) -> bool:
    return isinstance(obj, (str, bytes, os.PathLike))


def _binary_blocks(f: Any, n: int) -> Iterator[list]:
    """Blocks of `n` lines of a binary file, decoded once per block, split on "\\n" only."""
    while True:
        raw = list(itertools.islice(f, n))
        if not raw:
            return
        text = b"".join(raw).decode("utf-8", "replace")
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        lines = text.split("\n")
        if len(lines) > len(raw):
            lines.pop()  # after the last "\n"
        yield lines
        if len(raw) < n:
            return


def _iter_blocks(it: Iterator, n: int) -> Iterator[list]:
    """Blocks of `n` lines of an iterable of str (or bytes) lines, terminators stripped."""
    while True:
        raw = list(itertools.islice(it, n))
        if not raw:
            return
        try:
            lines = [s.rstrip("\r\n") for s in raw]
        except (AttributeError, TypeError):
            lines = []
            for k, s in enumerate(raw):
                if isinstance(s, (bytes, bytearray)):
                    s = bytes(s).decode("utf-8", "replace")
                elif not isinstance(s, str):
                    raise TypeError(f"from_log: lines must be str or bytes, got {type(s).__name__} "
                                    f"(item {k} of the block)")
                lines.append(s.rstrip("\r\n"))
        yield lines
        if len(raw) < n:
            return


def _file_name(f: Any) -> str:
    """How errors and reports name a file object: its ``.name``, never ``''``."""
    name = getattr(f, "name", None)
    if isinstance(name, str) and name:
        return name if name.startswith("<") and name.endswith(">") else repr(name)
    if isinstance(name, int) and not isinstance(name, bool):
        return f"<file descriptor {name}>"
    inner = getattr(f, "buffer", None) or getattr(f, "fileobj", None)
    if inner is not None and inner is not f:
        got = _file_name(inner)
        if not got.startswith("<unnamed"):
            return got
    return f"<unnamed {type(f).__name__} file object>"


def _open_path(p: str) -> Any:
    with open(p, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        import gzip

        return gzip.open(p, "rb")
    return open(p, "rb")  # noqa: SIM115 - closed by the caller


class _Passes:
    """A re-iterable (paths, lists) or one-shot (files, iterators) source of chunks."""

    def __init__(self, source: Any, kind: str, make_parser: Any, n: int) -> None:
        self.source = source
        self.kind = kind  # "path" | "binary" | "text"
        self.make_parser = make_parser
        self.n = n

    def __iter__(self) -> Iterator[np.ndarray]:
        parser = self.make_parser()
        close = None
        if self.kind == "path":
            f = _open_path(self.source)
            close = f.close
            blocks = _binary_blocks(f, self.n)
        elif self.kind == "binary":
            blocks = _binary_blocks(self.source, self.n)
        else:
            blocks = _iter_blocks(iter(self.source), self.n)
        try:
            line = 1
            for lines in blocks:
                arr = parser.parse(lines, line)
                line += len(lines)
                if arr is not None:
                    yield arr
            parser.finish()
        finally:
            if close is not None:
                close()


# --------------------------------------------------------------------------- from_log

_ERRORS = ("count", "raise", "warn")


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"from_log: {name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"from_log: {name} must be >= {minimum}, got {value}")
    return int(value)


def _compile(pattern: Any) -> re.Pattern:
    if isinstance(pattern, re.Pattern):
        if not isinstance(pattern.pattern, str):
            raise TypeError("from_log: pattern must be a str regex, not a bytes one")
        src, flags = pattern.pattern, pattern.flags
    elif isinstance(pattern, str):
        src, flags = pattern, 0
    else:
        raise TypeError(f"from_log: pattern must be a str or a compiled re.Pattern, got {pattern!r}")
    try:
        return re.compile(src, flags | re.MULTILINE)
    except re.error as e:
        raise ValueError(f"from_log: invalid pattern {src!r}: {e}") from None


def _dash_map(dash: Any, fields: tuple[str, ...], default: dict) -> dict:
    if dash is None:
        return {f: v for f, v in default.items() if f in fields}
    if isinstance(dash, dict):
        out = {f: v for f, v in default.items() if f in fields}
        for f, v in dash.items():
            if f not in fields:
                raise ValueError(f"from_log: dash names {f!r}, which is not one of the fields {fields}")
            out[f] = None if v is None else _check_float(v, f"dash[{f!r}]")
        return out
    v = _check_float(dash, "dash")
    return {f: v for f in fields}


def _check_float(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"from_log: {name} must be a number (or None), got {v!r}")
    return float(v)


def from_log(
    path_or_lines: Any,
    pattern: str | re.Pattern | None = None,
    format: str | None = None,
    fields: Sequence[str] | None = None,
    dtype: Any = "float64",
    chunk_lines: int = 65536,
    errors: str = "count",
    report: ParseReport | None = None,
    dash: Any = None,
):
    """Parse text log lines into a numeric record stream, with a regex or an access-log preset.

    Each line (line terminator stripped) is searched with one compiled
    regular expression (``re.search`` semantics, compiled with
    ``re.MULTILINE``: anchor with ``^...$`` to require the whole line;
    presets match from the line start); the named groups in `fields` become the record's values,
    converted to numbers with ``float()`` semantics, one numpy conversion per
    field and block of lines.  Records have shape ``(len(fields),)``.

    Parameters
    ----------
    path_or_lines : str, path-like, file object or iterable of str
        A path (gzip files are detected and decompressed), an open text or
        binary file, or any iterable of lines (str or bytes, with or
        without their line terminators).  Files are read as UTF-8 (invalid
        bytes become U+FFFD) and split on ``"\\n"`` only.  Paths and lists
        give a re-iterable stream; file objects and iterators a one-shot one.
    pattern : str or re.Pattern, optional
        A regex with named groups.  Exactly one of `pattern` and `format`.
    format : str, optional
        A preset of :data:`FORMATS`: ``"common"``, ``"combined"``
        (Apache/nginx access logs; fields ``status``, ``bytes``) or
        ``"combined_latency"`` (also ``latency``, a trailing number).
    fields : sequence of str, optional
        The named groups to keep, in order; default: every named group of
        `pattern`, or the preset's numeric fields.
    dtype : dtype-like, optional
        Floating or integer dtype of the records; default float64.  Values
        are parsed as float64 first; with an integer dtype a value that is
        not an integer in range makes its line bad.
    chunk_lines : int, optional
        Lines per parsed block (blank and bad lines included), hence at most
        that many records per chunk.  Default 65536.
    errors : {"count", "raise", "warn"}, optional
        What a bad line (no match, or a value that is not a number; an empty
        field is a missing value, not a bad value: see Notes) does.
        ``"count"``: it is skipped and counted in `report`; if no `report`
        was given, one :class:`LogParseWarning` summarises the bad lines at
        the end of the pass, with the counts and the first three bad lines
        (bad lines never go unnoticed).  ``"raise"``:
        ValueError naming the line number and text.  ``"warn"``: counted,
        and one :class:`LogParseWarning` at the end of the pass.
        Blank lines are skipped and counted as ``report.blank``, never bad.
    report : ParseReport, optional
        Filled while the stream is iterated (reset at each pass).
    dash : float, dict or None, optional
        What a value of exactly ``"-"`` becomes: one number for every field,
        or ``{field: number or None}``; None (in the dict: for that field)
        makes ``"-"`` a bad value.  Default: the preset's (``bytes`` 0,
        ``latency`` NaN); for a custom `pattern`, ``"-"`` is bad.

    Returns
    -------
    pystream.Stream
        A lazy stream of records of shape ``(len(fields),)``.

    Raises
    ------
    ValueError
        At construction for a bad pattern, format, field, `errors` or
        `chunk_lines`; during iteration with ``errors="raise"``.
    TypeError
        At construction for arguments of the wrong type.
    FileNotFoundError
        If the path does not exist.

    Notes
    -----
    **Empty fields are missing values, not bad lines.**  A selected field
    that is empty or only whitespace, or an optional group that did not take
    part in the match, is NaN in a float dtype, and its record is kept
    (counted in ``report.missing``).  An integer dtype has no NaN: there a
    line with an empty selected field is a bad line whose reason says so
    (read such columns with a float dtype).  ``"-"`` is not empty: see
    `dash`.

    Examples
    --------
    >>> import pystream_text as pt
    >>> lines = ["t=1 v=2.5", "garbage", "t=2 v=-1"]
    >>> rep = pt.ParseReport()
    >>> s = pt.from_log(lines, pattern=r"t=(?P<t>\\d+) v=(?P<v>\\S+)", report=rep)
    >>> s.to_array().tolist(), rep.bad, rep.bad_lines
    ([[1.0, 2.5], [2.0, -1.0]], 1, [2])
    """
    import pystream

    # -- pattern / format / fields ---------------------------------------
    if (pattern is None) == (format is None):
        raise ValueError("from_log: give exactly one of pattern= (a regex with named groups) and "
                         f"format= (one of {sorted(FORMATS)})")
    if format is not None:
        if not isinstance(format, str):
            raise TypeError(f"from_log: format must be a str, got {format!r}")
        if format not in FORMATS:
            raise ValueError(f"from_log: unknown format {format!r}; known: {sorted(FORMATS)}")
        preset = FORMATS[format]
        anchored = True
        allowed: tuple[str, ...] = preset.numeric
        default_fields, default_dash = preset.fields, preset.dash
    else:
        rx = _compile(pattern)
        anchored = False
        if not rx.groupindex:
            raise ValueError(f"from_log: pattern {rx.pattern!r} has no named groups "
                             "((?P<name>...)), so there is nothing to keep")
        allowed = tuple(sorted(rx.groupindex, key=rx.groupindex.__getitem__))
        default_fields, default_dash = allowed, {}
    if fields is None:
        flds = default_fields
    else:
        if isinstance(fields, str):
            fields = (fields,)
        try:
            flds = tuple(fields)
        except TypeError:
            raise TypeError(f"from_log: fields must be a sequence of group names, got {fields!r}") from None
        if not flds:
            raise ValueError("from_log: fields is empty")
        for f in flds:
            if not isinstance(f, str):
                raise TypeError(f"from_log: fields must be group names (str), got {f!r}")
            if f not in allowed:
                what = f"numeric fields of format {format!r}" if format else "named groups of the pattern"
                raise ValueError(f"from_log: unknown field {f!r}; the {what} are {list(allowed)}")
        if len(set(flds)) != len(flds):
            raise ValueError(f"from_log: fields has duplicates: {list(flds)}")
    dmap = _dash_map(dash, flds, default_dash)
    if format is not None:
        # Only the selected fields capture: smaller match tuples, faster matching.
        src = re.sub(r"\(\?P<(\w+)>", lambda m: m.group(0) if m.group(1) in flds else "(?:",
                     FORMATS[format].pattern)
        rx = _compile(src)

    # -- other parameters ------------------------------------------------
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"from_log: invalid dtype {dtype!r}: {e}") from None
    if dt.kind not in "fiu" or dt.itemsize > 8:
        raise TypeError(f"from_log: dtype must be a floating or integer dtype, got {dt}")
    dt = dt.newbyteorder("=")
    n = _check_int(chunk_lines, "chunk_lines", 1)
    if not isinstance(errors, str) or errors not in _ERRORS:
        raise ValueError(f"from_log: errors must be one of {_ERRORS}, got {errors!r}")
    if report is not None and not isinstance(report, ParseReport):
        raise TypeError(f"from_log: report must be a pystream_text.ParseReport, got {report!r}")
    warn = errors == "warn" or (errors == "count" and report is None)

    # -- input -----------------------------------------------------------
    src = path_or_lines
    if _is_path(src):
        p = os.fsdecode(os.fspath(src))
        if not os.path.exists(p):
            raise FileNotFoundError(f"from_log: no such file: {p!r}")
        if os.path.isdir(p):
            raise IsADirectoryError(f"from_log: {p!r} is a directory, not a file")
        kind, name, source, one_shot = "path", repr(p), p, False
    elif hasattr(src, "read"):
        import io

        mode = getattr(src, "mode", "b")  # GzipFile.mode is an int
        binary = not isinstance(src, io.TextIOBase) and (not isinstance(mode, str) or "b" in mode)
        kind = "binary" if binary else "text"
        name = _file_name(src)
        source, one_shot = src, True
    else:
        if isinstance(src, np.ndarray):
            raise TypeError("from_log: got an ndarray; pass lines of text")
        try:
            one_shot = iter(src) is src
        except TypeError:
            raise TypeError("from_log: expected a path, a file object or an iterable of lines, got "
                            f"{type(src).__name__}") from None
        kind, name, source = "text", f"<{type(src).__name__}>", src

    the_report = report if report is not None else ParseReport()

    def make_parser() -> _Parser:
        the_report._reset(name)
        return _Parser(rx, anchored, flds, dmap, dt, errors, the_report, name, warn)

    passes = _Passes(source, kind, make_parser, n)
    chunks: Iterable = iter(passes) if one_shot else passes
    return pystream.from_chunks(chunks, dtype=dt, record_shape=(len(flds),))
