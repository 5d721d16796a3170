"""Opening INPUT: a ``.npy`` file, raw binary, text, the pipe format, or an
input read once (stdin, a pipe, a FIFO) recognised by its first bytes."""

from __future__ import annotations

import argparse
import codecs
import gzip
import io
import os
import stat
import sys
from typing import Any, Callable, Iterator

import numpy as np

from .._npy import NPY_MAGIC, NpyFormatError, read_header_path, read_npy_header
from ..pipeformat import MAGIC as PIPE_MAGIC
from ..pipeformat import PipeFormatError, from_pipe, open_pipe
from ..sources import from_file, from_npy, from_text
from .common import TEXT_ALWAYS, TEXT_SUFFIXES, CLIError, _call, _exc_text
from .tables import csv_has_header, open_table, table_kind, table_options


class Input:
    """What ``describe`` reads: a stream plus what is known about its size."""

    def __init__(self, stream: Any, kind: str, label: str,
                 total: int | None = None, unit: str = "B",
                 bytes_per_record: int | None = None,
                 counter: "_CountingReader | None" = None,
                 once: bool = False, closer: Callable[[], None] | None = None):
        self.stream = stream
        self.kind = kind                # "npy", "raw", "text", "stream" (pipe format),
                                        # "parquet", "ipc" or "csv" (a table)
        self.label = label              # file name or "<stdin>"
        self.total = total              # size in `unit`, when known
        self.unit = unit
        self.bytes_per_record = bytes_per_record
        self.counter = counter          # counts bytes read from a text file
        self.once = once                # a pipe, FIFO or stdin: it can be read only once
        self.closer = closer            # closes a file opened for the input

    def close(self) -> None:
        """Release what was opened for the input (safe to call twice)."""
        if self.counter is not None:
            self.counter.close()
        if self.closer is not None:
            closer, self.closer = self.closer, None
            closer()


class _CountingReader(io.RawIOBase):
    """Binary file wrapper that counts the bytes read (for text progress)."""

    def __init__(self, raw: Any, name: str = ""):
        super().__init__()
        self._raw = raw
        self.count = 0
        self.name = name  # the file name errors give (io reports it through the wrappers)

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        n = self._raw.readinto(buf)
        if n:
            self.count += n
        return n or 0

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def _check_options(args: argparse.Namespace, kind: str, why: str | None = None) -> None:
    """Refuse options that do not apply to the selected kind of input
    (`why` replaces the default reason)."""
    raw_opts = {"--record-shape": args.record_shape, "--offset": args.offset}
    text_opts = {"--delimiter": args.delimiter, "--usecols": args.usecols,
                 "--skiprows": args.skiprows}
    if kind == "npy":
        bad = {"--dtype": args.dtype, **raw_opts, **text_opts}
        why_default = ".npy files carry their own dtype and shape"
    elif kind == "raw":
        bad = text_opts
        why_default = "the input is read as raw binary (because --dtype was given)"
    else:
        bad = raw_opts
        why_default = "the input is read as text (give --dtype to read raw binary)"
    given = [name for name, value in bad.items() if value is not None]
    why = why or why_default
    if given:
        raise CLIError(f"{', '.join(given)} cannot be used here: {why}")


def _suffix(path: str) -> str:
    """Lower-case extension, looking through a trailing .gz (x.csv.gz -> .csv)."""
    root, ext = os.path.splitext(path.lower())
    if ext == ".gz":
        ext = os.path.splitext(root)[1]
    return ext


def open_input(args: argparse.Namespace) -> Input:
    """Select and open the source for ``args.file`` (no record is read yet).

    A regular file is opened by path, so it can be read again (the
    histogram's second pass, the threads engine's partitions).  Standard
    input and any other non-regular path (a pipe, a FIFO, ``<(...)``,
    ``/dev/stdin``) is opened once and its format recognised from its first
    bytes (:func:`_open_once`).
    """
    path = args.file
    if path == "-":
        return _open_stdin(args)
    if not os.path.exists(path):
        raise CLIError(f"no such file: {path!r}")
    if os.path.isdir(path):
        if table_kind(path, "", b"") == "parquet":
            return _open_table(path, "parquet", args)
        raise CLIError(f"is a directory, not a file (nor a directory of .parquet files): {path!r}")
    if not os.access(path, os.R_OK):
        raise CLIError(f"permission denied: {path!r}")
    if not stat.S_ISREG(os.stat(path).st_mode):
        f = open(path, "rb")  # noqa: SIM115 -- closed by Input.close
        try:
            return _open_once(f, repr(path), path, args, closer=f.close)
        except BaseException:
            f.close()
            raise
    suffix = _suffix(path)
    gz = path.lower().endswith(".gz")
    if suffix == ".npy":
        if gz:
            raise CLIError(f"{path!r}: compressed .npy files cannot be streamed; "
                           "decompress it first (gunzip -k)")
        _check_options(args, "npy")
        return _open_npy(path, args)
    head = b""
    if suffix not in TEXT_ALWAYS and not gz:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    kind = table_kind(path, suffix, head) if args.dtype is None else None
    if kind is not None:
        return _open_table(path, kind, args)
    if head.startswith(PIPE_MAGIC):
        return _open_pipe_format(path, repr(path), path, args)
    if head.startswith(NPY_MAGIC) and args.dtype is None:
        _check_options(args, "npy", f"{path!r} is a .npy file (it starts with the .npy "
                                    "magic string), which carries its own dtype and shape")
        return _open_npy(path, args)
    if args.dtype is not None and suffix not in TEXT_ALWAYS:
        _check_options(args, "raw")
        return _open_raw(path, args)
    if gz:
        try:
            with gzip.open(path, "rb") as f:
                head = f.read(SNIFF_BYTES)
        except (OSError, EOFError):  # a corrupt .gz: the text reader reports it
            head = b""
    elif not head:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    _refuse_binary(head, repr(path))
    if _is_csv_table(args, suffix, head):
        return _open_table(path, "csv", args)
    _check_options(args, "text")
    _refuse_table_options(args, repr(path), "is read as numeric text")
    return _open_text(path, args)


def _is_csv_table(args: argparse.Namespace, suffix: str, head: bytes) -> bool:
    """A CSV/TSV read as a table (by pyarrow, with names): it has a header line,
    or --columns/--time/--key name its columns.  Without them it stays numeric
    text (``from_text``, no pyarrow needed)."""
    if suffix not in (".csv", ".tsv") or args.usecols is not None or args.skiprows is not None:
        return False
    delimiter = args.delimiter or TEXT_SUFFIXES[suffix]
    return bool(table_options(args)) or csv_has_header(head, delimiter)


def _refuse_table_options(args: argparse.Namespace, label: str, why: str) -> None:
    given = table_options(args)
    if given:
        raise CLIError(f"{', '.join(given)} name the columns of a table (Parquet, Arrow "
                       f"IPC/Feather, or CSV with a header); {label} {why}")


def _open_table(path: str, kind: str, args: argparse.Namespace, reader: Any = None,
                closer: Callable[[], None] | None = None) -> Input:
    if kind == "csv" and args.delimiter is None:
        args.delimiter = TEXT_SUFFIXES.get(_suffix(path)) or ","
    stream = open_table(path, kind, args, reader)
    return Input(stream, kind, path, once=reader is not None, closer=closer)


def _open_npy(path: str, args: argparse.Namespace) -> Input:
    _refuse_table_options(args, repr(path), "is a .npy file")
    stream = _call(from_npy, path, chunk_size=args.chunk_size)
    # A regular file (open_input sends every other path to _open_once): the
    # size from its header, for the progress bar.
    nbytes = read_header_path(path).nbytes
    return Input(stream, "npy", path, total=nbytes,
                 bytes_per_record=_record_bytes(stream.dtype, stream.record_shape))


def _record_bytes(dt: np.dtype, shape: tuple[int, ...]) -> int:
    return dt.itemsize * int(np.prod(shape, dtype=np.int64))


def _open_raw(path: str, args: argparse.Namespace) -> Input:
    _refuse_table_options(args, repr(path), "is read as raw binary (--dtype)")
    dt = args.dtype
    shape = args.record_shape or ()
    rec_bytes = _record_bytes(dt, shape)
    size = os.path.getsize(path) - (args.offset or 0)
    if size < 0:
        raise CLIError(f"--offset {args.offset} is past the end of {path!r} "
                       f"({os.path.getsize(path)} bytes)")
    if size % rec_bytes:
        raise CLIError(
            f"{path!r}: {size} bytes (after the offset) is not a whole number "
            f"of {rec_bytes}-byte records (dtype {dt}, record shape {shape}); "
            "the file ends with a partial record")
    stream = _call(from_file, path, dtype=dt,
                   record_shape=args.record_shape, offset=args.offset,
                   chunk_size=args.chunk_size)
    return Input(stream, "raw", path, total=size, bytes_per_record=rec_bytes)


def _text_kwargs(args: argparse.Namespace, suffix: str) -> dict[str, Any]:
    delimiter = args.delimiter
    if delimiter is None:
        delimiter = TEXT_SUFFIXES.get(suffix)
    usecols = list(args.usecols) if args.usecols is not None else None
    return dict(delimiter=delimiter, usecols=usecols, skiprows=args.skiprows,
                dtype=args.dtype, chunk_size=args.chunk_size)


def _open_text(path: str, args: argparse.Namespace) -> Input:
    kwargs = _text_kwargs(args, _suffix(path))
    # Hand the parser a binary file that counts the bytes it reads, so the
    # progress bar can follow the file position (compressed bytes for .gz).
    counter = _CountingReader(open(path, "rb"), name=path)
    try:
        source: Any = io.BufferedReader(counter, buffer_size=1 << 16)
        if path.lower().endswith(".gz"):
            source = gzip.GzipFile(fileobj=source, mode="rb")
        # Binary: from_text decodes a block at a time (in C), and a decoding
        # error then names the line and the byte offset.
        stream = _call(from_text, source, **kwargs)
    except BaseException:
        counter.close()
        raise
    return Input(stream, "text", path, total=os.path.getsize(path), counter=counter)


#: Bytes read ahead to recognise the input's format (and binary data).
SNIFF_BYTES = 4096

#: What to do about binary input whose dtype is not known.
_BINARY_HINT = ("give its element type with --dtype (e.g. --dtype float64; --record-shape "
                "3 for records of 3 values, --offset N to skip a header); the output of "
                "'pystream run' to a pipe describes itself and needs no option")


def _looks_binary(head: bytes) -> str | None:
    """Why the first bytes `head` of an input look binary rather than text, or None.

    NUL bytes mean binary.  Bytes that are not UTF-8 alone do not: a CSV in
    Latin-1 is still text, and ``from_text`` names its line, byte offset and
    ``encoding=``.  Undecodable input counts as binary when it also holds
    control characters other than white space, which text in a legacy
    encoding does not (and binary records almost always do).
    """
    if b"\x00" in head:
        return "it holds NUL bytes"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        if any(b < 32 and b not in _WHITE or b == 127 for b in head):
            return "it is not UTF-8 text and holds control characters"
    return None


_WHITE = frozenset(b"\t\n\r\x0b\x0c")


def _refuse_binary(head: bytes, label: str) -> None:
    """CLIError when input about to be read as text looks binary (never echo it)."""
    why = _looks_binary(head)
    if why:
        raise CLIError(f"{label} looks binary ({why}), so it cannot be read as text: "
                       + _BINARY_HINT)


class _PrefixedReader(io.RawIOBase):
    """A binary reader returning `prefix`, then the rest of `raw` (an input
    read once, whose first bytes had to be read to recognise its format)."""

    def __init__(self, prefix: bytes, raw: Any, name: str):
        super().__init__()
        self._prefix = prefix
        self._raw = raw
        self.name = name

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self._prefix:
            n = min(len(buf), len(self._prefix))
            buf[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        readinto = getattr(self._raw, "readinto", None)
        if readinto is not None:
            return readinto(buf) or 0
        data = self._raw.read(len(buf))
        buf[:len(data)] = data
        return len(data)


def _sniff(buf: Any, name: str) -> tuple[bytes, Any]:
    """The first bytes of an input read once (up to SNIFF_BYTES, fewer if it
    ends first), and a buffered reader that still returns them."""
    head = b""
    while len(head) < SNIFF_BYTES:
        more = buf.read(SNIFF_BYTES - len(head))
        if not more:
            break
        head += more
    return head, io.BufferedReader(_PrefixedReader(head, buf, name), buffer_size=1 << 16)


def _check_npy_length(chunks: Iterator[np.ndarray], expected: int,
                      label: str = "<stdin>") -> Iterator[np.ndarray]:
    """Pass the chunks through; fail if the stream does not hold `expected` records."""
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        if seen > expected:
            raise ValueError(f"{label}: the .npy header announces {expected:,} records, "
                             "but more data follows them")
        yield chunk
    if seen < expected:
        raise ValueError(f"{label}: the .npy header announces {expected:,} records, but "
                         f"the input ended after {seen:,} (truncated)")


def _open_stdin_npy(reader: Any, args: argparse.Namespace, label: str = "<stdin>",
                    closer: Callable[[], None] | None = None, name: str | None = None) -> Input:
    """A .npy stream read once (stdin, a pipe): its header, then raw records in
    order.  `label` names it in errors, `name` (default `label`) in the output."""
    try:
        header = read_npy_header(reader, label, where="")  # versions 1.0, 2.0, 3.0
    except NpyFormatError as exc:
        raise CLIError(f"{label}: not a valid .npy stream: {exc.reason}") from None
    except (ValueError, TypeError, OSError, EOFError) as exc:
        raise CLIError(f"{label}: not a valid .npy stream: {_exc_text(exc)}") from None
    shape, fortran, dt = header.shape, header.fortran_order, header.dtype
    if not shape:
        raise CLIError(f"{label}: the .npy stream holds a 0-d array (a single value), "
                       "which has no records")
    if fortran and len(shape) > 1:
        raise CLIError(f"{label}: the .npy stream is in Fortran order, so its records are "
                       "not contiguous and cannot be streamed; save it in C order")
    rs = tuple(int(n) for n in shape[1:])
    if dt.itemsize * int(np.prod(rs, dtype=np.int64)) == 0:
        raise CLIError(f"{label}: the .npy stream holds records of zero bytes "
                       f"(dtype {dt}, shape {tuple(shape)})")
    stream = _call(from_file, reader, dtype=dt, record_shape=rs,
                   chunk_size=args.chunk_size)
    stream = stream.pipe(_check_npy_length, int(shape[0]), label)
    rec_bytes = _record_bytes(dt, rs)
    return Input(stream, "npy", label if name is None else name, total=int(shape[0]) * rec_bytes,
                 bytes_per_record=rec_bytes, once=True, closer=closer)


def _check_pipe_options(args: argparse.Namespace, dt: np.dtype, rs: tuple[int, ...],
                        label: str) -> None:
    """A stream in the pipe format describes itself: --dtype / --record-shape
    may repeat what its header says (scripts written for raw pipes keep
    working), never contradict it; the other input options do not apply."""
    why = (f"{label} is a pystream stream (it starts with the pipe format's magic "
           "string), which carries its own dtype and shape")
    if args.dtype is not None and np.dtype(args.dtype) != dt:
        raise CLIError(f"--dtype {args.dtype} contradicts the stream: {why} ({dt})")
    shape = args.record_shape
    if shape is not None and tuple(shape) != rs:
        raise CLIError(f"--record-shape {','.join(map(str, shape))} contradicts the stream: "
                       f"{why} ({rs})")
    given = [name for name, value in (("--offset", args.offset), ("--delimiter", args.delimiter),
                                      ("--usecols", args.usecols), ("--skiprows", args.skiprows))
             if value is not None]
    if given:
        raise CLIError(f"{', '.join(given)} cannot be used here: {why}")


def _open_pipe_format(source: Any, label: str, name: str, args: argparse.Namespace,
                      once: bool = False, closer: Callable[[], None] | None = None) -> Input:
    """A stream in the pystream pipe format: a saved file (`source` a path) or
    an input read once (`source` a binary reader at the magic string)."""
    try:
        if isinstance(source, str):
            stream = from_pipe(source, chunk_size=args.chunk_size)
        else:
            stream = open_pipe(source, label, chunk_size=args.chunk_size)
    except PipeFormatError as exc:
        raise CLIError(str(exc)) from None
    dt, rs = stream.dtype, tuple(stream.record_shape)
    _check_pipe_options(args, dt, rs, label)
    return Input(stream, "stream", name, bytes_per_record=_record_bytes(dt, rs),
                 once=once, closer=closer)


def _open_once(buf: Any, label: str, name: str, args: argparse.Namespace,
               closer: Callable[[], None] | None = None) -> Input:
    """An input that can be read only once (stdin, a pipe, a FIFO, ``<(...)``):
    recognised by its first bytes -- a pystream pipe stream, a ``.npy``
    stream, raw binary with --dtype, text otherwise.  `label` names it in
    errors ("<stdin>", "'/dev/fd/63'"), `name` in the output."""
    head, reader = _sniff(buf, label if label.startswith("<") else name)
    if head.startswith((b"PAR1", b"ARROW1")):
        raise CLIError(f"{label} is a Parquet or Arrow IPC file, which is read from its end "
                       "(the footer), so it needs a regular file, not a pipe or standard input")
    if head.startswith(PIPE_MAGIC):
        return _open_pipe_format(reader, label, name, args, once=True, closer=closer)
    if head.startswith(NPY_MAGIC):
        _check_options(args, "npy", f"{label} is a .npy stream (it starts with the .npy "
                                    "magic string), which carries its own dtype and shape")
        return _open_stdin_npy(reader, args, label, closer, name)
    if args.dtype is not None:
        _check_options(args, "raw")
        dt = args.dtype
        stream = _call(from_file, reader, dtype=dt,
                       record_shape=args.record_shape, offset=args.offset,
                       chunk_size=args.chunk_size)
        return Input(stream, "raw", name,
                     bytes_per_record=_record_bytes(dt, args.record_shape or ()),
                     once=True, closer=closer)
    _refuse_binary(head, label)
    # a CSV table: named by the options, or a header line (stdin counts as CSV)
    suffix = _suffix(name)
    if _is_csv_table(args, suffix if suffix in (".csv", ".tsv") else ".csv", head):
        return _open_table(name, "csv", args, reader, closer)
    _check_options(args, "text")
    _refuse_table_options(args, label, "is read as numeric text")
    # Binary, as for files: from_text decodes a block at a time, and a
    # decoding error then names the line and the byte offset.
    stream = _call(from_text, reader, **_text_kwargs(args, _suffix(name)))
    return Input(stream, "text", name, once=True, closer=closer)


def _open_stdin(args: argparse.Namespace) -> Input:
    if sys.stdin is None or getattr(sys.stdin, "closed", False):
        raise CLIError("FILE is '-' but there is no standard input")
    buf = getattr(sys.stdin, "buffer", None)
    if buf is None:
        raise CLIError("standard input does not give bytes (it is not a file)")
    return _open_once(buf, "<stdin>", "<stdin>", args)


# --------------------------------------------------------------------------
# the engine an input allows


def _check_engine(args: argparse.Namespace, inp: Input | None) -> dict[str, Any]:
    """The engine keyword arguments of the terminal operation, or a CLIError
    when the input cannot be split (`inp` None: before the input is opened)."""
    if args.engine != "threads":
        if args.workers is not None:
            raise CLIError("--workers applies to --engine threads")
        return {}
    why = None
    if args.file == "-":
        why = "standard input can only be read in order"
    elif inp is not None and inp.once:
        why = f"{inp.label!r} is not a regular file: it can only be read once, in order"
    elif inp is not None and inp.kind not in ("npy", "raw", "parquet", "ipc"):
        why = (f"{inp.label!r} is read as text, which is parsed in order (convert it "
               "once: pystream run FILE -o FILE.npy)")
    if why:
        raise CLIError("--engine threads reads partitions of the input from their own "
                       "positions, so it needs a .npy, raw binary, Parquet or Arrow IPC file; "
                       f"{why}; use --engine local (the default)")
    return {"engine": "threads", "workers": args.workers}
