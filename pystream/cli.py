"""The ``pystream`` command.

    pystream describe FILE [options] [--stage STAGE ...]
    pystream run INPUT [STAGE ...] [-o OUTPUT] [options]
    pystream plugins

INPUT (FILE) is read as a stream, chunk by chunk, so memory stays bounded
whatever its size:

* ``*.npy``                      -> :func:`pystream.from_npy` (memory-mapped)
* other files, with ``--dtype``  -> :func:`pystream.from_file` (raw binary)
* anything else                  -> :func:`pystream.from_text` (CSV / text;
  ``.csv``, ``.tsv`` and ``.txt`` are always text, and there ``--dtype`` is
  the dtype the text is parsed as; ``.gz`` files are decompressed)
* ``-``                          -> standard input: a ``.npy`` stream when it
  starts with the ``.npy`` magic string, raw binary with ``--dtype``, text
  otherwise

``describe`` summarises it in one pass with :meth:`Stream.describe`, after
the ``--stage`` stages if any.  The result is printed as a table, or as JSON
with ``--json`` (NaN becomes ``null``, +/-inf becomes ``1e999`` /
``-1e999``, which every JSON parser reads as a number, and integer sums
stay exact).

``run`` streams INPUT through its STAGE arguments (``moving_mean:window=100``;
see :mod:`pystream._cli_stages`) and writes the records: ``-o x.npy`` a
``.npy`` file (:meth:`Stream.to_npy`), ``-o`` any other path a raw binary
file (:meth:`Stream.to_file`), both written atomically; no ``-o`` (or ``-o
-``) raw binary on standard output, for pipes.  A ``.npy`` header holds the
record count, known only at the end, and a pipe cannot be rewound, so
``--format npy`` is refused for standard output; ``-v`` prints the dtype and
record shape (the ``--dtype`` / ``--record-shape`` that read the raw output
back) on stderr.

Errors (missing file, bad dtype, unparsable text, unknown stage, ...) print
one line ``pystream: error: ...`` on stderr and exit with status 2.  A
progress bar is drawn on stderr only when stderr is a terminal and the input
is large and of known size (tqdm is used when installed: ``pip install
pystream[cli]``; otherwise a small built-in bar).  Output to a closed pipe
(``| head``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import codecs
import io
import json
import math
import os
import shlex
import sys
import threading
import time
from typing import Any, Callable, Iterator, Sequence

import numpy as np

PROG = "pystream"

#: Inputs smaller than this (in bytes) get no progress bar: they finish
#: before a bar would be useful.
PROGRESS_MIN_BYTES = 64 * 1024 * 1024

#: Default delimiter per text extension (None: any whitespace).  Files with
#: other extensions are read as text too when no ``--dtype`` is given.
TEXT_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": None, ".dat": None}

#: Extensions that are always read as text; with them ``--dtype`` gives the
#: dtype the text is parsed as (a CSV is never taken for raw binary).
TEXT_ALWAYS = {".csv", ".tsv", ".txt"}

#: Order of the statistics in the table and in the JSON output.
STATS = ("count", "nan_count", "mean", "std", "var", "min", "max", "sum")

#: Record streams with at most this many values per record are printed with
#: one column per value; wider records get one row per value.
MAX_COLUMNS = 6
HIST_BINS = 20


class CLIError(Exception):
    """An error to report as ``pystream: error: <message>`` (exit status 2)."""


# --------------------------------------------------------------------------
# argument parsing


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors become a single ``pystream: error:`` line.

    Two switches, set on the ``run`` parser: `intermixed` lets positional
    arguments come before, between or after the options (``run - --dtype f8
    take:n=10 -o x.npy``), and `help_tail` returns text appended to the help
    (the stage listing; computed only when the help is shown, as it loads
    the plugins).
    """

    intermixed = False
    help_tail: Callable[[], str] | None = None
    _in_intermixed = False

    def error(self, message: str):  # type: ignore[override]
        raise CLIError(f"{message} (see '{self.prog} --help')")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        # The subcommand action calls parse_known_args.  With STAGE as
        # nargs="*", plain argparse matches it (empty) with INPUT and then has
        # no action left for positionals after an option: parse intermixed.
        if not self.intermixed or self._in_intermixed:
            return super().parse_known_args(args, namespace)
        self._in_intermixed = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._in_intermixed = False

    def format_help(self) -> str:
        text = super().format_help()
        if self.help_tail is not None:
            text += "\n" + self.help_tail() + "\n"
        return text


def _int_at_least(minimum: int, expected: str) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum`` (``_`` separators allowed)."""

    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_nonneg_int = _int_at_least(0, "an integer >= 0")


def _int_list(text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.replace("x", ",").split(",") if p.strip()]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers (e.g. 3,4), got {text!r}")
    return values


def _record_shape(text: str) -> tuple[int, ...]:
    shape = _int_list(text)
    if any(n < 1 for n in shape):
        raise argparse.ArgumentTypeError(
            f"record shape dimensions must be >= 1, got {text!r}")
    return shape


def _usecols(text: str) -> tuple[int, ...]:
    cols = _int_list(text)
    if not cols:
        raise argparse.ArgumentTypeError("--usecols needs at least one column")
    return cols


def _delimiter(text: str) -> str:
    # Let the shell-friendly spelling '\t' mean a tab.
    try:
        value = codecs.decode(text, "unicode_escape") if "\\" in text else text
    except UnicodeDecodeError:
        value = text
    if not value:
        raise argparse.ArgumentTypeError("the delimiter must not be empty")
    return value


def _dtype(text: str) -> np.dtype:
    try:
        dt = np.dtype(text)
    except TypeError as exc:
        raise argparse.ArgumentTypeError(f"unknown dtype {text!r} ({exc})")
    if dt.kind not in "biuf" or dt.fields is not None or dt.subdtype is not None:
        raise argparse.ArgumentTypeError(
            f"unsupported dtype {text!r}: expected a boolean, integer or "
            "floating-point type such as float64, float32, int16, '<u2'")
    return dt


def _add_input_options(p: argparse.ArgumentParser) -> None:
    """The options that select how FILE / INPUT is read (shared by describe and run)."""
    raw = p.add_argument_group("raw binary input (selected by --dtype)")
    raw.add_argument("--dtype", type=_dtype, metavar="DT",
                     help="read the input as raw binary of this element type, e.g. "
                          "float64, '<f4', int16, '>u2' (for .csv/.tsv/.txt "
                          "files: the type the text is parsed as)")
    raw.add_argument("--record-shape", type=_record_shape, metavar="SHAPE",
                     help="shape of one record, e.g. 3 or 3,4 (default: scalar records)")
    raw.add_argument("--offset", type=_nonneg_int, metavar="N",
                     help="bytes to skip at the start of the input (header)")
    text = p.add_argument_group("text input")
    text.add_argument("--delimiter", type=_delimiter, metavar="CHAR",
                      help="field separator (default: ',' for .csv, tab for "
                           ".tsv, whitespace otherwise)")
    text.add_argument("--usecols", type=_usecols, metavar="COLS",
                      help="comma-separated column indices to read, e.g. 0,2")
    text.add_argument("--skiprows", type=_nonneg_int, metavar="N",
                      help="lines to skip at the top (e.g. a header)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Lazy streaming numeric pipelines: command-line tools.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    d = sub.add_parser(
        "describe",
        help="one-pass summary statistics of a .npy, raw binary or text file",
        description=(
            "Summary statistics (count, nan_count, mean, std, var, min, max, "
            "sum) of FILE in one streaming pass with bounded memory. FILE is "
            "a .npy file, a raw binary file when --dtype is given, a text/CSV "
            "file otherwise, or '-' for standard input (a .npy stream is "
            "recognised by its header). --stage runs stages first."
        ),
    )
    d.add_argument("file", metavar="FILE", help="input path, or '-' for stdin")
    _add_input_options(d)
    stats = d.add_argument_group("statistics and output")
    stats.add_argument("--stage", action="append", default=[], metavar="STAGE",
                       help="apply this stage before describing, e.g. "
                            "moving_mean:window=100 (repeatable, applied in order; "
                            "same syntax as 'pystream run', whose --help lists "
                            "the stages)")
    stats.add_argument("--ddof", type=_nonneg_int, default=0,
                       help="delta degrees of freedom of var/std (default: 0)")
    stats.add_argument("--nan-policy", choices=("propagate", "omit", "raise"),
                       default="propagate",
                       help="NaN handling, as in scipy (default: propagate)")
    stats.add_argument("--json", action="store_true",
                       help="print JSON instead of a table")
    stats.add_argument("--chunk-size", type=_positive_int, metavar="N",
                       help="records per chunk (default: the library's)")
    stats.add_argument("--no-progress", action="store_true",
                       help="never draw a progress bar")
    stats.add_argument("--bins", type=_positive_int, default=HIST_BINS, metavar="N",
                       help=f"bins of the text histogram (default: {HIST_BINS})")
    stats.add_argument("--no-histogram", action="store_true",
                       help="skip the histogram (a second pass over FILE)")
    d.set_defaults(func=cmd_describe)

    r = sub.add_parser(
        "run",
        help="stream a file or stdin through stages and write the records",
        usage=f"{PROG} run INPUT [STAGE ...] [-o OUTPUT] [options]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Stream INPUT through the STAGEs, in order, and write the records.\n"
            "\n"
            "INPUT is a .npy file, a raw binary file when --dtype is given, a\n"
            "text/CSV file otherwise, or '-' for standard input (a .npy stream,\n"
            "recognised by its header; raw binary with --dtype; text otherwise).\n"
            "A STAGE is name or name:key=value,... (moving_mean:window=100,\n"
            "resample:10,how=max); no STAGE copies the input (a conversion).\n"
            "\n"
            "Output: -o x.npy writes a .npy file, -o with any other suffix raw\n"
            "binary (records back to back, C order, no header); both are written\n"
            "under a temporary name and renamed when complete. Without -o (or\n"
            "with -o -) raw binary goes to standard output, for pipes: a .npy\n"
            "header holds the record count, known only at the end, and a pipe\n"
            "cannot be rewound, so --format npy needs a file. Read raw output\n"
            "back with --dtype (and --record-shape); -v prints them on stderr.\n"
            "\n"
            "example:\n"
            f"  {PROG} run signal.npy moving_mean:window=100 -o smooth.npy\n"
            f"  {PROG} run log.csv --usecols 2 resample:60,how=max | \\\n"
            f"      {PROG} describe - --dtype float64"
        ),
    )
    r.intermixed = True
    r.help_tail = _stage_listing
    r.add_argument("file", metavar="INPUT", help="input path, or '-' for stdin")
    r.add_argument("stages", nargs="*", default=[], metavar="STAGE",
                   help="name or name:key=value,... (listed below)")
    out = r.add_argument_group("output")
    out.add_argument("-o", "--output", metavar="OUTPUT",
                     help="output file (.npy: a .npy file; other suffixes: raw "
                          "binary), or '-' for standard output (the default, raw)")
    out.add_argument("--format", choices=("npy", "raw"),
                     help="output format (default: npy for a .npy OUTPUT, else raw); "
                          "npy needs a file")
    out.add_argument("-v", "--verbose", action="store_true",
                     help="print what was written (records, dtype, record shape) on stderr")
    _add_input_options(r)
    run_opts = r.add_argument_group("running")
    run_opts.add_argument("--engine", choices=("local", "threads"), default="local",
                          help="local: one pass in order (default); threads: "
                               "partitions of a .npy or raw file on a thread pool "
                               "(the same bits)")
    run_opts.add_argument("--workers", type=_positive_int, metavar="N",
                          help="threads of --engine threads (default: the usable cores)")
    run_opts.add_argument("--chunk-size", type=_positive_int, metavar="N",
                          help="records per chunk read (default: the library's)")
    run_opts.add_argument("--no-progress", action="store_true",
                          help="never draw a progress bar")
    r.set_defaults(func=cmd_run)

    pl = sub.add_parser(
        "plugins",
        help="list the installed plugins, their versions and what each registers",
        description=("List pystream's plugins (the built-in one and every package of the "
                     "'pystream' entry-point group): package, version and the stages, "
                     "sources and reducers each registers; plugins that failed to load are "
                     "listed with their error."),
    )
    pl.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pl.set_defaults(func=cmd_plugins)
    return parser


def _stage_listing() -> str:
    from ._cli_stages import format_catalogue

    return format_catalogue()


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("pystream")
    except Exception:  # not installed (e.g. run from a source tree)
        return "unknown"


# --------------------------------------------------------------------------
# sources


def _api(name: str) -> Callable[..., Any]:
    """A public pystream function, wherever it is exported from."""
    import pystream

    func = getattr(pystream, name, None)
    if func is None:
        from pystream import sources

        func = getattr(sources, name)
    return func


def _call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``func`` with the keyword arguments that are not None.

    Options the user did not give are left to the library's defaults.
    """
    return func(*args, **{k: v for k, v in kwargs.items() if v is not None})


class Input:
    """What ``describe`` reads: a stream plus what is known about its size."""

    def __init__(self, stream: Any, kind: str, label: str,
                 total: int | None = None, unit: str = "B",
                 bytes_per_record: int | None = None,
                 counter: "_CountingReader | None" = None):
        self.stream = stream
        self.kind = kind                # "npy", "raw" or "text"
        self.label = label              # file name or "<stdin>"
        self.total = total              # size in `unit`, when known
        self.unit = unit
        self.bytes_per_record = bytes_per_record
        self.counter = counter          # counts bytes read from a text file


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
    """Select and open the source for ``args.file`` (no data is read yet)."""
    path = args.file
    if path == "-":
        return _open_stdin(args)
    if not os.path.exists(path):
        raise CLIError(f"no such file: {path!r}")
    if os.path.isdir(path):
        raise CLIError(f"is a directory, not a file: {path!r}")
    if not os.access(path, os.R_OK):
        raise CLIError(f"permission denied: {path!r}")
    suffix = _suffix(path)
    if suffix == ".npy":
        if path.lower().endswith(".gz"):
            raise CLIError(f"{path!r}: compressed .npy files cannot be streamed; "
                           "decompress it first (gunzip -k)")
        _check_options(args, "npy")
        return _open_npy(path, args)
    if args.dtype is not None and suffix not in TEXT_ALWAYS:
        _check_options(args, "raw")
        return _open_raw(path, args)
    _check_options(args, "text")
    return _open_text(path, args)


def _open_npy(path: str, args: argparse.Namespace) -> Input:
    stream = _call(_api("from_npy"), path, chunk_size=args.chunk_size)
    header = np.load(path, mmap_mode="r", allow_pickle=False)  # valid: from_npy read it
    nbytes = int(header.size) * header.itemsize
    width = int(np.prod(header.shape[1:], dtype=np.int64))
    del header
    return Input(stream, "npy", path, total=nbytes,
                 bytes_per_record=width * stream.dtype.itemsize)


def _record_bytes(dt: np.dtype, shape: tuple[int, ...]) -> int:
    return dt.itemsize * int(np.prod(shape, dtype=np.int64))


def _open_raw(path: str, args: argparse.Namespace) -> Input:
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
    stream = _call(_api("from_file"), path, dtype=dt,
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
            import gzip

            source = gzip.GzipFile(fileobj=source, mode="rb")
        # Binary: from_text decodes a block at a time (in C), and a decoding
        # error then names the line and the byte offset.
        stream = _call(_api("from_text"), source, **kwargs)
    except BaseException:
        counter.close()
        raise
    return Input(stream, "text", path, total=os.path.getsize(path), counter=counter)


#: The first bytes of every .npy file (and of a .npy stream on stdin).
NPY_MAGIC = b"\x93NUMPY"


class _PrefixedReader(io.RawIOBase):
    """A binary reader returning `prefix`, then the rest of `raw` (stdin whose
    first bytes had to be read to recognise its format)."""

    name = "<stdin>"

    def __init__(self, prefix: bytes, raw: Any):
        super().__init__()
        self._prefix = prefix
        self._raw = raw

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


def _sniff(buf: Any) -> tuple[bytes, Any]:
    """The first bytes of binary stdin (up to the .npy magic's length), and a
    reader that still returns them: `buf` itself when they could be seen
    without consuming them (peek on a pipe or a file, or seek back)."""
    n = len(NPY_MAGIC)
    peek = getattr(buf, "peek", None)
    if peek is not None:
        head = peek(n)[:n]
        # decided unless a pipe delivered only the start of what may be the magic
        if len(head) == n or not head or not NPY_MAGIC.startswith(head):
            return head, buf
    elif getattr(buf, "seekable", lambda: False)():
        pos = buf.tell()
        head = buf.read(n)
        buf.seek(pos)
        return head, buf
    head = b""
    while len(head) < n:
        more = buf.read(n - len(head))
        if not more:
            break
        head += more
    return head, io.BufferedReader(_PrefixedReader(head, buf), buffer_size=1 << 16)


def _check_npy_length(chunks: Iterator[np.ndarray], expected: int) -> Iterator[np.ndarray]:
    """Pass the chunks through; fail if the stream does not hold `expected` records."""
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        if seen > expected:
            raise ValueError(f"<stdin>: the .npy header announces {expected:,} records, "
                             "but more data follows them")
        yield chunk
    if seen < expected:
        raise ValueError(f"<stdin>: the .npy header announces {expected:,} records, but "
                         f"the input ended after {seen:,} (truncated)")


def _open_stdin_npy(reader: Any, args: argparse.Namespace) -> Input:
    """A .npy stream on stdin: its header, then raw records read in order."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(reader)
        if version == (1, 0):
            shape, fortran, dt = fmt.read_array_header_1_0(reader)
        elif version == (2, 0):
            shape, fortran, dt = fmt.read_array_header_2_0(reader)
        else:
            shape, fortran, dt = fmt._read_array_header(reader, version)  # 3.0: utf-8 header
    except (ValueError, OSError, EOFError, AttributeError) as exc:
        raise CLIError(f"<stdin>: not a valid .npy stream: {_exc_text(exc)}") from None
    if not shape:
        raise CLIError("<stdin>: the .npy stream holds a 0-d array (a single value), "
                       "which has no records")
    if fortran and len(shape) > 1:
        raise CLIError("<stdin>: the .npy stream is in Fortran order, so its records are "
                       "not contiguous and cannot be streamed; save it in C order")
    rs = tuple(int(n) for n in shape[1:])
    if dt.itemsize * int(np.prod(rs, dtype=np.int64)) == 0:
        raise CLIError(f"<stdin>: the .npy stream holds records of zero bytes "
                       f"(dtype {dt}, shape {tuple(shape)})")
    stream = _call(_api("from_file"), reader, dtype=dt, record_shape=rs,
                   chunk_size=args.chunk_size)
    stream = stream.pipe(_check_npy_length, int(shape[0]))
    rec_bytes = _record_bytes(dt, rs)
    return Input(stream, "npy", "<stdin>", total=int(shape[0]) * rec_bytes,
                 bytes_per_record=rec_bytes)


def _open_stdin(args: argparse.Namespace) -> Input:
    if sys.stdin is None or getattr(sys.stdin, "closed", False):
        raise CLIError("FILE is '-' but there is no standard input")
    buf = getattr(sys.stdin, "buffer", None)
    head, reader = _sniff(buf) if buf is not None else (b"", None)
    if head == NPY_MAGIC:
        _check_options(args, "npy", "standard input is a .npy stream (it starts with the "
                                    ".npy magic string), which carries its own dtype and shape")
        return _open_stdin_npy(reader, args)
    if args.dtype is not None:
        _check_options(args, "raw")
        dt = args.dtype
        source = "-" if reader is buf else reader
        stream = _call(_api("from_file"), source, dtype=dt,
                       record_shape=args.record_shape, offset=args.offset,
                       chunk_size=args.chunk_size)
        return Input(stream, "raw", "<stdin>",
                     bytes_per_record=_record_bytes(dt, args.record_shape or ()))
    _check_options(args, "text")
    text: Any = "-"
    if reader is not buf:  # the first bytes were consumed: decode what reader returns
        text = io.TextIOWrapper(reader, encoding="utf-8")
    stream = _call(_api("from_text"), text, **_text_kwargs(args, ""))
    return Input(stream, "text", "<stdin>")


# --------------------------------------------------------------------------
# progress


class _BuiltinBar:
    """A small stderr progress bar for when tqdm is not installed."""

    def __init__(self, total: int, unit: str, desc: str, stream: Any):
        self.total, self.unit, self.desc, self.stream = total, unit, desc, stream
        self.n = 0
        self.t0 = self._last = time.perf_counter()

    def update(self, n: int) -> None:
        self.n += n
        now = time.perf_counter()
        if now - self._last >= 0.1 or self.n >= self.total:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        frac = min(1.0, self.n / self.total) if self.total else 1.0
        width = 30
        full = int(frac * width)
        rate = self.n / max(now - self.t0, 1e-9)
        self.stream.write(
            f"\r{self.desc}: {frac:4.0%} |{'#' * full}{'.' * (width - full)}| "
            f"{_human(self.n)}{self.unit}/{_human(self.total)}{self.unit} "
            f"[{_human(rate)}{self.unit}/s]")
        self.stream.flush()

    def close(self) -> None:
        # Erase the bar so the terminal is left clean.
        self.stream.write("\r" + " " * 79 + "\r")
        self.stream.flush()


def _human(n: float) -> str:
    for prefix in ("", "k", "M", "G", "T"):
        if abs(n) < 1000:
            return f"{n:.0f}{prefix}" if prefix == "" else f"{n:.1f}{prefix}"
        n /= 1000.0
    return f"{n:.1f}P"


def make_progress(inp: Input, enabled: bool, stderr: Any) -> Any | None:
    """A progress bar, or None when none should be drawn."""
    if not enabled or inp.total is None or inp.total < PROGRESS_MIN_BYTES:
        return None
    isatty = getattr(stderr, "isatty", None)
    if not (isatty and isatty()):
        return None
    desc = os.path.basename(inp.label)
    try:
        from tqdm import tqdm
    except ImportError:
        return _BuiltinBar(inp.total, inp.unit, desc, stderr)
    return tqdm(total=inp.total, unit=inp.unit, unit_scale=True,
                unit_divisor=1000, desc=desc, file=stderr, leave=False,
                dynamic_ncols=True, mininterval=0.1)


class _Ticker:
    """A pass-through chunk function that moves a progress bar by the input
    each chunk stands for (bytes read, for text).  Thread-safe: the threads
    engine calls it from its workers; the bar never passes its total (a
    partition re-reads a window's warm-up records)."""

    def __init__(self, inp: Input, bar: Any | None):
        self.inp = inp
        self.bar = bar
        self.lock = threading.Lock()

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        bar = self.bar
        if bar is not None and len(chunk):
            with self.lock:
                if self.inp.counter is not None:
                    step = self.inp.counter.count - bar.n
                else:
                    step = len(chunk) * (self.inp.bytes_per_record or 0)
                step = min(step, bar.total - bar.n)
                if step > 0:
                    bar.update(step)
        return chunk


# --------------------------------------------------------------------------
# describe


def _describe(inp: Input, args: argparse.Namespace, bar: Any | None) -> tuple[Any, int]:
    """Run the one-pass describe; returns (Description, number of records)."""
    records = 0

    def progress(chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        # A pass-through stage on the input: moves the bar per chunk.
        tick = _Ticker(inp, bar)
        for chunk in chunks:
            yield tick(chunk)

    def count(chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        # Records of the described stream (after the --stage stages).
        nonlocal records
        for chunk in chunks:
            records += len(chunk)
            yield chunk

    stream = inp.stream.pipe(progress) if bar is not None else inp.stream
    stream = _apply_stages(stream, _stage_specs(getattr(args, "stage", None)))
    desc = stream.pipe(count).describe(ddof=args.ddof, nan_policy=args.nan_policy)
    if bar is not None and inp.counter is not None:
        bar.update(inp.counter.count - bar.n)  # the tail read after the last chunk
    return desc, records


def _as_array(value: Any) -> np.ndarray:
    return np.asarray(value)


def _to_json_value(value: Any) -> Any:
    """Python value for json.dumps: NaN -> None, inf -> 1e999 (see _dumps)."""
    if isinstance(value, np.ndarray):
        return [_to_json_value(v) for v in value.tolist()] if value.ndim else \
            _to_json_value(value.item())
    if isinstance(value, (list, tuple)):
        return [_to_json_value(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return value
    return value


def _dumps(obj: Any) -> str:
    # json would write inf as the non-standard token Infinity; 1e999 is valid
    # JSON and every mainstream parser reads it back as +inf.
    def dump(value: Any) -> str:
        text = json.dumps(value, allow_nan=True)
        if isinstance(value, str):  # a file name may contain "Infinity"
            return text
        # Numbers only (NaN is already None): the tokens are inf's.
        return text.replace("-Infinity", "-1e999").replace("Infinity", "1e999")

    # One key per line, arrays kept on their line.
    items = [f"  {json.dumps(key)}: {dump(value)}" for key, value in obj.items()]
    return "{\n" + ",\n".join(items) + "\n}"


def description_dict(desc: Any) -> dict[str, Any]:
    return {name: getattr(desc, name) for name in STATS}


def to_json(inp: Input, desc: Any, records: int, dtype: Any, hist: Any = None,
            stages: Sequence[str] = ()) -> str:
    from .reducers import quantile_label

    out: dict[str, Any] = {
        "file": inp.label,
        "format": inp.kind,
        "stages": list(stages),
        "dtype": str(dtype) if dtype is not None else None,
        "record_shape": list(_record_shape_of(desc)),
        "records": records,
        "ddof": getattr(desc, "ddof", None),
        "nan_policy": getattr(desc, "nan_policy", None),
    }
    for name, value in description_dict(desc).items():
        out[name] = _to_json_value(value)
    for q, value in getattr(desc, "quantiles", {}).items():
        out[quantile_label(q)] = _to_json_value(value)
    if hist is not None:
        out["histogram"] = {"edges": _to_json_value(hist.edges),
                            "counts": _to_json_value(hist.counts),
                            "underflow": hist.underflow, "overflow": hist.overflow,
                            "nan_count": hist.nan_count}
    return _dumps(out)


def _record_shape_of(desc: Any) -> tuple[int, ...]:
    shape = getattr(desc, "record_shape", None)
    if shape is None:
        shape = _as_array(desc.count).shape
    return tuple(int(n) for n in shape)


def _fmt(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.12g}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]
    lines = []
    for row in (header, *rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def to_table(inp: Input, desc: Any, records: int, dtype: Any, hist: Any = None,
             hist_note: str = "", stages: Sequence[str] = ()) -> str:
    from .reducers import quantile_label

    shape = _record_shape_of(desc)
    head = [
        f"file        {inp.label} ({inp.kind})",
        *([f"stages      {' '.join(stages)}"] if stages else []),
        f"dtype       {dtype}" + (f", record shape {shape}" if shape else ""),
        f"records     {records:,}",
        f"ddof        {getattr(desc, 'ddof', '?')}, "
        f"nan_policy {getattr(desc, 'nan_policy', '?')}",
        "",
    ]
    values = {name: _as_array(getattr(desc, name)).reshape(-1) for name in STATS}
    for q, value in getattr(desc, "quantiles", {}).items():
        values[quantile_label(q)] = _as_array(value).reshape(-1)
    names = list(values)
    if not shape:
        rows = [[name, _fmt(values[name][0])] for name in names]
        body = _table(["stat", "value"], rows)
    else:
        labels = ["[" + ",".join(map(str, idx)) + "]" for idx in np.ndindex(*shape)]
        if len(labels) <= MAX_COLUMNS:
            rows = [[name] + [_fmt(v) for v in values[name]] for name in names]
            body = _table(["stat", *labels], rows)
        else:
            rows = [[label] + [_fmt(values[name][i]) for name in names]
                    for i, label in enumerate(labels)]
            body = _table(["value", *names], rows)
    text = "\n".join(head) + "\n" + body
    if getattr(desc, "quantiles", None):
        text += ("\n\np1..p99: quantiles from a relative-error sketch, each within 1% "
                 "of the exact value.")
    nan_seen = np.any(_as_array(desc.nan_count) > 0)
    if nan_seen and getattr(desc, "nan_policy", None) == "propagate":
        text += ("\n\nNaNs were found, so the statistics are NaN (numpy's rule); "
                 "--nan-policy omit skips them.")
    if hist is not None:
        text += "\n\n" + str(hist)
    elif hist_note:
        text += "\n\n" + hist_note
    return text


def _stream_dtype(inp: Input) -> Any:
    return getattr(inp.stream, "dtype", None)


def _histogram(inp: Input, args: argparse.Namespace, desc: Any) -> tuple[Any, str]:
    """The text histogram's counts, from a second pass over FILE; or why not."""
    if _record_shape_of(desc):
        return None, ("histogram: shown for one-column input only (for text input, pick "
                      "a column with --usecols).")
    if args.file == "-":
        return None, "histogram: not shown for standard input (it can be read only once)."
    lo, hi = float(desc.min), float(desc.max)
    if int(desc.count) == 0 or math.isinf(lo) or math.isinf(hi):
        return None, ""
    # NaN min/max (nan_policy propagate): the range of the non-NaN values,
    # found by the histogram's own first pass.
    rng = None if math.isnan(lo) or math.isnan(hi) else (desc.min, desc.max)
    again = open_input(args)              # a fresh stream over the same file
    try:
        stream = _apply_stages(again.stream, _stage_specs(getattr(args, "stage", None)))
        return stream.histogram(bins=args.bins, range=rng), ""
    finally:
        if again.counter is not None:
            again.counter.close()


def cmd_describe(args: argparse.Namespace, stdout: Any, stderr: Any) -> int:
    """``pystream describe``: the summary table (or JSON) of FILE, after the --stage stages."""
    specs = _stage_specs(args.stage)        # checked before any input is read
    inp = open_input(args)
    try:
        # the dtype described: the last stage's output
        dtype = _apply_stages(inp.stream, specs).dtype if specs else _stream_dtype(inp)
        bar = make_progress(inp, not args.no_progress, stderr)
        try:
            desc, records = _describe(inp, args, bar)
        finally:
            if bar is not None:
                bar.close()
    finally:
        if inp.counter is not None:
            inp.counter.close()
    if dtype is None:
        dtype = getattr(desc, "dtype", None)
    hist, note = (None, "") if args.no_histogram else _histogram(inp, args, desc)
    text = (to_json(inp, desc, records, dtype, hist, args.stage) if args.json
            else to_table(inp, desc, records, dtype, hist, note, args.stage))
    stdout.write(text + "\n")
    stdout.flush()
    return 0


# --------------------------------------------------------------------------
# stages and run


def _stage_specs(texts: Sequence[str] | None) -> list[Any]:
    """Parse STAGE arguments (before any input is read); errors become CLIError."""
    if not texts:
        return []
    from ._cli_stages import StageSpecError, catalogue, parse_stage

    stages = catalogue()
    try:
        return [parse_stage(text, stages) for text in texts]
    except StageSpecError as exc:
        raise CLIError(str(exc)) from None


def _apply_stages(stream: Any, specs: Sequence[Any]) -> Any:
    """Add the parsed stages to `stream`; a stage refusing its values or the
    stream's dtype is reported with its argument (CLIError)."""
    from ._cli_stages import StageSpecError, apply_stages

    try:
        return apply_stages(stream, specs)
    except StageSpecError as exc:
        raise CLIError(str(exc)) from None


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # closed
        return False


def _run_target(args: argparse.Namespace, stdout: Any) -> tuple[str | None, str]:
    """(output path or None for stdout, "npy" or "raw"), checked before reading."""
    path = args.output
    if path is None or path == "-":
        if args.format == "npy":
            raise CLIError(
                "--format npy cannot be written to standard output: a .npy header holds "
                "the record count, known only when the stream ends, and a pipe cannot be "
                "rewound to write it; give -o FILE.npy, or pipe the raw records (the "
                "default) and read them with --dtype (-v prints it)")
        if path is None and _isatty(stdout):
            raise CLIError(
                "refusing to write binary records to a terminal: give -o FILE, or pipe "
                "the output (e.g. '| pystream describe - --dtype float64'); -o - forces it")
        return None, "raw"
    fmt = args.format or ("npy" if path.lower().endswith(".npy") else "raw")
    if os.path.isdir(path):
        raise CLIError(f"-o {path!r} is a directory; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CLIError(f"-o {path!r}: no such directory: {folder!r}")
    if not os.access(folder, os.W_OK):
        raise CLIError(f"-o {path!r}: permission denied (cannot write in {folder!r})")
    return path, fmt


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
    elif inp is not None and inp.kind not in ("npy", "raw"):
        why = (f"{inp.label!r} is read as text, which is parsed in order (convert it "
               "once: pystream run FILE -o FILE.npy)")
    if why:
        raise CLIError("--engine threads reads partitions of the input from their own "
                       "positions, so it needs a .npy or raw binary file; "
                       f"{why}; use --engine local (the default)")
    return {"engine": "threads", "workers": args.workers}


def _dtype_arg(dt: np.dtype) -> str:
    """How to write `dt` for --dtype in a shell: its name if native, else
    with its byte order, quoted ('>i2')."""
    return dt.name if dt.isnative or dt.itemsize == 1 else shlex.quote(dt.str)


def _write(stream: Any, path: str | None, fmt: str, stdout: Any,
           engine: dict[str, Any]) -> int:
    """Write the records of `stream`; returns their number."""
    if path is not None:
        sink = stream.to_npy if fmt == "npy" else stream.to_file
        return sink(path, **engine)
    out = getattr(stdout, "buffer", None)
    if out is None:
        raise CLIError("standard output does not accept binary data; give -o FILE")
    stdout.flush()

    def write(chunk: np.ndarray) -> None:
        out.write(np.ascontiguousarray(chunk).data)

    n = stream.to_callback(write, **engine)
    out.flush()
    return n


def cmd_run(args: argparse.Namespace, stdout: Any, stderr: Any) -> int:
    """``pystream run``: stream INPUT through the STAGEs and write the records.

    Everything that can be checked without data (stages and their
    parameters, the output, the engine) is checked before the input is
    opened, so a mistake never consumes standard input.
    """
    specs = _stage_specs(args.stages)
    path, fmt = _run_target(args, stdout)
    _check_engine(args, None)
    inp = open_input(args)
    try:
        engine = _check_engine(args, inp)
        bar = make_progress(inp, not args.no_progress, stderr)
        try:
            stream = inp.stream.map(_Ticker(inp, bar)) if bar is not None else inp.stream
            stream = _apply_stages(stream, specs)
            n = _write(stream, path, fmt, stdout, engine)
        finally:
            if bar is not None:
                bar.close()
    finally:
        if inp.counter is not None:
            inp.counter.close()
    if args.verbose:
        dt, shape = stream.dtype, tuple(stream.record_shape)
        where = "standard output" if path is None else repr(path)
        back = f"--dtype {_dtype_arg(dt)}" + (
            f" --record-shape {','.join(map(str, shape))}" if shape else "")
        note = "" if fmt == "npy" else f"; read it back with {back}"
        stderr.write(f"{PROG}: wrote {n:,} records of {dt}"
                     + (f", record shape {shape}" if shape else "")
                     + f" to {where} ({fmt}){note}\n")
        stderr.flush()
    return 0


def cmd_plugins(args: argparse.Namespace, stdout: Any, stderr: Any) -> int:
    """``pystream plugins``: one block per plugin, or JSON."""
    import warnings

    from .plugins import get_registry

    with warnings.catch_warnings(record=True):  # failures are listed below
        warnings.simplefilter("always")
        registry = get_registry()
    rows = [{"plugin": p.name, "package": p.package, "version": p.version,
             "error": p.error, **{k: sorted(v) for k, v in p.registered.items()}}
            for p in registry.plugins]
    if args.json:
        stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    lines = []
    for r in rows:
        lines.append(f"{r['plugin']} ({r['package']} {r['version']})"
                     + (f"  FAILED: {r['error']}" if r["error"] else ""))
        for kind in ("stages", "sources", "reducers"):
            if r[kind]:
                names = ", ".join(("from_" + n) if kind == "sources" else n for n in r[kind])
                lines.append(f"  {kind}: {names}")
    stdout.write("\n".join(lines) + "\n")
    return 0


# --------------------------------------------------------------------------
# entry point


def _exc_text(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename!r}" if exc.filename else ""
        return f"{exc.strerror.lower()}{where}"
    text = str(exc).strip().splitlines()
    msg = text[0] if text else ""
    return msg or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pystream`` command; returns the exit status."""
    stdout, stderr = sys.stdout, sys.stderr
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help / --version
            return int(exc.code or 0)
        return args.func(args, stdout, stderr)
    except CLIError as exc:
        _error(stderr, str(exc))
        return 2
    except KeyboardInterrupt:
        _error(stderr, "interrupted")
        return 130
    except BrokenPipeError:
        # Output closed early (e.g. piped into head): not an error worth a
        # message; keep Python from complaining again at exit.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 2
    except MemoryError:
        _error(stderr, "out of memory (try a smaller --chunk-size)")
        return 2
    except (ValueError, TypeError, OSError, OverflowError, EOFError,
            UnicodeError, ArithmeticError) as exc:
        # Bad input: unparsable text, wrong dtype, unreadable file, ...
        if os.environ.get("PYSTREAM_DEBUG"):
            raise
        _error(stderr, _exc_text(exc))
        return 2
    except Exception as exc:  # never show a traceback to the user
        if os.environ.get("PYSTREAM_DEBUG"):
            raise
        _error(stderr, f"{type(exc).__name__}: {_exc_text(exc)} "
                       "(set PYSTREAM_DEBUG=1 for a traceback)")
        return 2


def _error(stderr: Any, message: str) -> None:
    message = " ".join(message.split())  # always exactly one line
    try:
        stderr.write(f"{PROG}: error: {message}\n")
        stderr.flush()
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
