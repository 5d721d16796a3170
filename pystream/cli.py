"""The ``pystream`` command.

    pystream describe FILE [options] [--stage STAGE ...]
    pystream run INPUT [STAGE ...] [-o OUTPUT] [options]
    pystream plugins

INPUT (FILE) is read as a stream, chunk by chunk, so memory stays bounded
whatever its size:

* ``*.npy``                      -> :func:`pystream.from_npy` (read in chunks)
* other files, with ``--dtype``  -> :func:`pystream.from_file` (raw binary)
* anything else                  -> :func:`pystream.from_text` (CSV / text;
  ``.csv``, ``.tsv`` and ``.txt`` are always text, and there ``--dtype`` is
  the dtype the text is parsed as; ``.gz`` files are decompressed)
* a file starting with the pipe format's magic -> a stream saved from a pipe
* ``-`` and paths that are not regular files (pipes, FIFOs, ``<(...)``)
  -> read once, recognised by their first bytes: the pipe format
  (:mod:`pystream.pipeformat`), a ``.npy`` stream, raw binary with
  ``--dtype``, text otherwise (binary input without ``--dtype`` is refused,
  never echoed)

``describe`` summarises it in one pass with :meth:`Stream.describe`, after
the ``--stage`` stages if any; the histogram is a second pass over a regular
file, and is counted in the same pass for an input read once
(:class:`_OnePassHistogram`: exact counts, power-of-two bins).  The result is printed as a table, or as JSON
with ``--json`` (NaN becomes ``null``, +/-inf becomes ``1e999`` /
``-1e999``, which every JSON parser reads as a number, and integer sums
stay exact).

``run`` streams INPUT through its STAGE arguments (``moving_mean:window=100``;
see :mod:`pystream._cli_stages`) and writes the records: ``-o x.npy`` a
``.npy`` file (:meth:`Stream.to_npy`), ``-o`` any other path a raw binary
file (:meth:`Stream.to_file`), both written atomically; no ``-o`` (or ``-o
-``) the self-describing pipe format on standard output
(:func:`pystream.pipeformat.to_pipe`), which ``describe -`` / ``run -``
recognise, so pipes between commands need no option.  A ``.npy`` header
holds the record count, known only at the end, and a pipe cannot be rewound,
so ``--format npy`` is refused for standard output; ``--format raw`` writes
bare records, and ``-v`` prints the ``--dtype`` / ``--record-shape`` that
read them back on stderr.

Errors (missing file, bad dtype, unparsable text, unknown stage, ...) print
one line ``pystream: error: ...`` on stderr and exit with status 2.  A
progress bar is drawn on stderr only when stderr is a terminal and the input
is large and of known size (tqdm is used when installed: ``pip install
pystream-numeric[cli]``; otherwise a small built-in bar).  Output to a closed pipe
(``| head``) ends the command as it ends ``cat``: no message, killed by
SIGPIPE (status 141 in the shell; :func:`main` called with a list of
arguments returns 141 instead).
"""

from __future__ import annotations

import argparse
import codecs
import io
import json
import math
import os
import shlex
import signal
import stat
import sys
import threading
import time
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ._extensions import KINDS, call_name
from ._version import DISTRIBUTION
# The first bytes of every .npy file (and .npy stream) and of the pystream
# pipe format, as their readers define them.
from ._npy import NPY_MAGIC
from .pipeformat import MAGIC as PIPE_MAGIC

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


def _add_engine_options(group: Any) -> None:
    """--engine and --workers (shared by describe and run)."""
    group.add_argument("--engine", choices=("local", "threads"), default="local",
                       help="local: one pass in order (default); threads: "
                            "partitions of a .npy or raw file on a thread pool "
                            "(the same bits)")
    group.add_argument("--workers", type=_positive_int, metavar="N",
                       help="threads of --engine threads (default: the usable cores)")


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
    stats.add_argument("--quantile-method", choices=("kll", "relative"), default="kll",
                       help="quantile sketch of p1..p99: kll (default) is accurate in "
                            "rank (within 1%% of the values below, with probability >= "
                            "99%%), for any data; relative is within 1%% of the value, "
                            "for positive data spanning orders of magnitude (latencies)")
    stats.add_argument("--json", action="store_true",
                       help="print JSON instead of a table")
    stats.add_argument("--chunk-size", type=_positive_int, metavar="N",
                       help="records per chunk (default: the library's)")
    stats.add_argument("--no-progress", action="store_true",
                       help="never draw a progress bar")
    stats.add_argument("--bins", type=_positive_int, default=HIST_BINS, metavar="N",
                       help=f"bins of the text histogram (default: {HIST_BINS})")
    stats.add_argument("--no-histogram", action="store_true",
                       help="skip the histogram (a second pass over FILE; an input "
                            "read once is binned in the first)")
    _add_engine_options(d.add_argument_group("running"))
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
            "with -o -) standard output gets a self-describing stream (a small\n"
            "header with the dtype and record shape, then the records), which\n"
            "'pystream describe -' and 'pystream run -' recognise: pipes between\n"
            "pystream commands need no option. --format raw writes bare records\n"
            "instead (read them back with --dtype and --record-shape; -v prints\n"
            "them). A closed pipe (| head) ends the command quietly (SIGPIPE).\n"
            "\n"
            "example:\n"
            f"  {PROG} run signal.npy moving_mean:window=100 -o smooth.npy\n"
            f"  {PROG} run log.csv --usecols 2 resample:60,how=max | {PROG} describe -"
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
                          "binary), or '-' for standard output (the default: a "
                          "self-describing stream)")
    out.add_argument("--format", choices=("npy", "raw", "stream"),
                     help="output format (default: npy for a .npy OUTPUT, raw for other "
                          "files, stream for standard output); npy needs a file, stream "
                          "standard output; raw is bare records")
    out.add_argument("--force", action="store_true",
                     help="replace OUTPUT even if it is write-protected (refused by default)")
    out.add_argument("-v", "--verbose", action="store_true",
                     help="print what was written (records, dtype, record shape) on stderr")
    _add_input_options(r)
    run_opts = r.add_argument_group("running")
    _add_engine_options(run_opts)
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

        return version(DISTRIBUTION)
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
                 counter: "_CountingReader | None" = None,
                 once: bool = False, closer: Callable[[], None] | None = None):
        self.stream = stream
        self.kind = kind                # "npy", "raw", "text" or "stream" (pipe format)
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
        raise CLIError(f"is a directory, not a file: {path!r}")
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
    if head.startswith(PIPE_MAGIC):
        return _open_pipe_format(path, repr(path), path, args)
    if head.startswith(NPY_MAGIC) and args.dtype is None:
        _check_options(args, "npy", f"{path!r} is a .npy file (it starts with the .npy "
                                    "magic string), which carries its own dtype and shape")
        return _open_npy(path, args)
    if args.dtype is not None and suffix not in TEXT_ALWAYS:
        _check_options(args, "raw")
        return _open_raw(path, args)
    _check_options(args, "text")
    if gz:
        import gzip

        try:
            with gzip.open(path, "rb") as f:
                head = f.read(SNIFF_BYTES)
        except (OSError, EOFError):  # a corrupt .gz: the text reader reports it
            head = b""
    elif not head:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    _refuse_binary(head, repr(path))
    return _open_text(path, args)


def _open_npy(path: str, args: argparse.Namespace) -> Input:
    stream = _call(_api("from_npy"), path, chunk_size=args.chunk_size)
    from ._npy import read_header_path

    # A regular file (open_input sends every other path to _open_once): the
    # size from its header, for the progress bar.
    nbytes = read_header_path(path).nbytes
    return Input(stream, "npy", path, total=nbytes,
                 bytes_per_record=_record_bytes(stream.dtype, stream.record_shape))


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
    from ._npy import NpyFormatError, read_header

    try:
        header = read_header(reader, label, where="")  # versions 1.0, 2.0, 3.0
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
    stream = _call(_api("from_file"), reader, dtype=dt, record_shape=rs,
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
    from .pipeformat import PipeFormatError, from_pipe, open_pipe

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
    if head.startswith(PIPE_MAGIC):
        return _open_pipe_format(reader, label, name, args, once=True, closer=closer)
    if head.startswith(NPY_MAGIC):
        _check_options(args, "npy", f"{label} is a .npy stream (it starts with the .npy "
                                    "magic string), which carries its own dtype and shape")
        return _open_stdin_npy(reader, args, label, closer, name)
    if args.dtype is not None:
        _check_options(args, "raw")
        dt = args.dtype
        stream = _call(_api("from_file"), reader, dtype=dt,
                       record_shape=args.record_shape, offset=args.offset,
                       chunk_size=args.chunk_size)
        return Input(stream, "raw", name,
                     bytes_per_record=_record_bytes(dt, args.record_shape or ()),
                     once=True, closer=closer)
    _check_options(args, "text")
    _refuse_binary(head, label)
    # Binary, as for files: from_text decodes a block at a time, and a
    # decoding error then names the line and the byte offset.
    stream = _call(_api("from_text"), reader, **_text_kwargs(args, _suffix(name)))
    return Input(stream, "text", name, once=True, closer=closer)


def _open_stdin(args: argparse.Namespace) -> Input:
    if sys.stdin is None or getattr(sys.stdin, "closed", False):
        raise CLIError("FILE is '-' but there is no standard input")
    buf = getattr(sys.stdin, "buffer", None)
    if buf is None:
        raise CLIError("standard input does not give bytes (it is not a file)")
    return _open_once(buf, "<stdin>", "<stdin>", args)


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


def _describe(inp: Input, args: argparse.Namespace, bar: Any | None,
              engine: dict[str, Any] | None = None,
              binner: "_OnePassHistogram | None" = None) -> tuple[Any, int]:
    """Run the one-pass describe; returns (Description, number of records).
    `binner` (input read once) bins the described values in the same pass."""
    stream = inp.stream.map(_Ticker(inp, bar)) if bar is not None else inp.stream
    stream = _apply_stages(stream, _stage_specs(getattr(args, "stage", None)))
    if binner is not None:
        stream = stream.pipe(binner.stage)
    desc = stream.describe(ddof=args.ddof, nan_policy=args.nan_policy,
                           quantile_method=getattr(args, "quantile_method", "kll"),
                           **(engine or {}))
    if bar is not None and inp.counter is not None:
        bar.update(inp.counter.count - bar.n)  # the tail read after the last chunk
    # every record has a value in each column, NaN or not
    count = np.asarray(desc.count).reshape(-1)
    nans = np.asarray(desc.nan_count).reshape(-1)
    records = int(count[0]) + int(nans[0]) if count.size else 0
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
    if getattr(desc, "quantiles", None):
        out["quantile_method"] = desc.quantile_method
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


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]
    lines = []
    for row in (header, *rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def to_table(inp: Input, desc: Any, records: int, dtype: Any, hist: Any = None,
             hist_note: str = "", stages: Sequence[str] = (),
             accuracy_warnings: Sequence[str] = ()) -> str:
    """The describe table; `accuracy_warnings` (a sketch's accuracy warnings) are
    printed under the quantiles' note, whose bound they qualify."""
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
    texts = desc.formatted()   # the digits each statistic's accuracy supports
    values = {name: texts[name] for name in STATS}
    values.update((quantile_label(q), texts[quantile_label(q)]) for q in desc.quantiles)
    names = list(values)
    if not shape:
        rows = [[name, values[name][0]] for name in names]
        body = _table(["stat", "value"], rows)
    else:
        labels = ["[" + ",".join(map(str, idx)) + "]" for idx in np.ndindex(*shape)]
        if len(labels) <= MAX_COLUMNS:
            rows = [[name, *values[name]] for name in names]
            body = _table(["stat", *labels], rows)
        else:
            rows = [[label] + [values[name][i] for name in names]
                    for i, label in enumerate(labels)]
            body = _table(["value", *names], rows)
    text = "\n".join(head) + "\n" + body
    if getattr(desc, "quantiles", None):
        if getattr(desc, "quantile_method", None) == "relative":
            text += ("\n\np1..p99: relative-error sketch (DDSketch, alpha 1%): each within 1% "
                     "of the exact\nvalue (not of its rank), printed one digit finer than "
                     "that 1%.")
        else:
            text += ("\n\np1..p99: rank-error sketch (KLL, k=400): each a value of the data "
                     "whose rank is\nwithin 1% of q (probability >= 99% per quantile), "
                     "printed one digit finer than\nthe values that 1% of rank spans. "
                     "mean, std, var, sum: 7 significant digits.")
        for message in accuracy_warnings:
            text += f"\nWARNING: {message}"
    nan_seen = np.any(_as_array(desc.nan_count) > 0)
    if nan_seen and getattr(desc, "nan_policy", None) == "propagate":
        text += ("\n\nNaNs were found, so the statistics are NaN (numpy's rule); "
                 "--nan-policy omit skips them.")
    if hist is not None:
        text += "\n\n" + (hist_note + "\n" if hist_note else "") + str(hist)
    elif hist_note:
        text += "\n\n" + hist_note
    return text


def _stream_dtype(inp: Input) -> Any:
    return getattr(inp.stream, "dtype", None)


class _OnePassHistogram:
    """Exact histogram counts of an input read once, in the statistics' pass.

    The range (min to max) is known only at the end, so values are counted
    on a fine grid of bins whose width ``w`` is a power of two, aligned on
    multiples of ``w``: when a value falls outside the grid's ``limit``
    bins, ``w`` doubles and pairs of bins merge (exact: the grid stays
    aligned).  At the end the bins are merged again into at most `bins`
    bins of width ``W``, the smallest power of two that covers min..max in
    that many (at least 1 for integers, and at least the spacing of float64
    near the largest magnitude).  ``w`` is always the smallest such width for
    the values seen, so ``W`` and every count are the same for any chunking;
    the counts are exact, only the edges differ from the two-pass
    histogram's (equal bins from min to max).  Memory: ``limit`` counters.
    """

    def __init__(self, bins: int):
        self.bins = bins
        self.limit = max(4096, bins)
        self.w = 0.0                      # fine width; 0 before the first value
        self.k0 = 0                       # index of the first fine bin (value k0 * w)
        self.counts = np.zeros(0, np.int64)
        self.lo = self.hi = 0.0
        self.n = 0                        # finite values counted
        self.nan = self.posinf = self.neginf = 0
        self.integer = None               # integer input: bins of width >= 1
        self.dtype: Any = None
        self.why_not = ""                 # set when no histogram can be given

    @staticmethod
    def _floor(x: float, w: float) -> int:
        k = math.floor(x / w)
        return k - 1 if k * w > x else k  # x / w may round up (x tiny against w)

    @staticmethod
    def _log2(w: float) -> int:
        return math.frexp(w)[1] - 1       # exact for a power of two

    def _bins(self, w: float, lo: float, hi: float) -> int:
        return self._floor(hi, w) - self._floor(lo, w) + 1

    def _width(self, start: float, limit: int) -> float:
        """The smallest power of two >= `start` covering lo..hi in `limit` bins
        (or 2**1023, the largest)."""
        w = start
        while self._bins(w, self.lo, self.hi) > limit and w < 2.0 ** 1023:
            w *= 2.0
        return w

    def _base(self) -> float:
        """The narrowest width considered: float64's spacing near the largest
        magnitude (so indices stay exact integers), and 1 for integers."""
        big = max(abs(self.lo), abs(self.hi))
        base = math.ldexp(1.0, math.frexp(big)[1] - 52) if big else math.ldexp(1.0, -1074)
        return max(base, 1.0) if self.integer else base

    def stage(self, chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """A pass-through stage counting each chunk's values."""
        for chunk in chunks:
            if not self.why_not:
                self.update(chunk)
            yield chunk

    def update(self, chunk: np.ndarray) -> None:
        if chunk.ndim != 1:
            self.why_not = ("histogram: shown for one-column input only (for text input, "
                            "pick a column with --usecols).")
            return
        if self.dtype is None:
            self.dtype = chunk.dtype
            self.integer = chunk.dtype.kind in "biu"
        if not len(chunk):
            return
        x = chunk.view(np.uint8) if chunk.dtype.kind == "b" else chunk
        if self.integer:
            lo_i, hi_i = int(x.min()), int(x.max())   # one pass each, on the integers
            if hi_i > 2**53 or lo_i < -2**53:
                self.why_not = ("histogram: not shown: integers beyond 2**53 in an input "
                                "read once (save it to a file for a histogram).")
                return
            values = x.astype(np.float64)       # exact below 2**53
            lo, hi = float(lo_i), float(hi_i)
        else:
            values = x.astype(np.float64, copy=False)
            lo, hi = float(values.min()), float(values.max())
            if not (math.isfinite(lo) and math.isfinite(hi)):  # a NaN or an inf somewhere
                self.nan += int(np.isnan(values).sum())
                self.posinf += int((values == np.inf).sum())
                self.neginf += int((values == -np.inf).sum())
                values = values[np.isfinite(values)]
                if not len(values):
                    return
                lo, hi = float(values.min()), float(values.max())
        first = self.n == 0
        self.lo = lo if first else min(self.lo, lo)
        self.hi = hi if first else max(self.hi, hi)
        w = self._width(max(self.w, self._base()), self.limit)
        if first:
            self.k0 = self._floor(self.lo, w)
        elif w != self.w:                 # merge pairs of bins until the width is w
            shift = min(62, self._log2(w) - self._log2(self.w))
            ks = (self.k0 + np.arange(len(self.counts), dtype=np.int64)) >> shift
            k0 = self._floor(self.lo, w)
            merged = np.zeros(int(ks[-1]) - k0 + 1, np.int64)
            np.add.at(merged, ks - k0, self.counts)
            self.counts, self.k0 = merged, k0
        self.w = w
        k_lo, k_hi = self._floor(self.lo, w), self._floor(self.hi, w)
        if k_lo < self.k0 or k_hi >= self.k0 + len(self.counts):
            grown = np.zeros(k_hi - k_lo + 1, np.int64)
            grown[self.k0 - k_lo:self.k0 - k_lo + len(self.counts)] = self.counts
            self.counts, self.k0 = grown, k_lo
        idx = np.floor(values / w)
        if w > 1.0:  # x / w may round up to 0 only when it is subnormal (x tiny against w)
            idx -= idx * w > values
        idx -= self.k0                          # exact: integers below 2**53
        self.counts += np.bincount(idx.astype(np.int64),
                                   minlength=len(self.counts))[:len(self.counts)]
        self.n += len(values)

    def result(self) -> tuple[Any, str]:
        """(HistogramResult, note) or (None, why not)."""
        from .sketches import Histogram, HistogramResult

        if self.why_not:
            return None, self.why_not
        if self.n == 0 or self.posinf or self.neginf:
            return None, ""               # as for a file: no finite range to bin
        if self.lo == self.hi:            # one value: numpy's bins around it, as for a file
            v = np.array([self.lo], dtype=self.dtype)
            one = Histogram(bins=self.bins, range=(v[0], v[0])).update(v).result()
            return HistogramResult(one.counts * self.n, one.edges, 0, 0, self.nan), ""
        width = self._width(max(self.w, self._base()), self.bins)
        shift = min(62, self._log2(width) - self._log2(self.w))
        ks = (self.k0 + np.arange(len(self.counts), dtype=np.int64)) >> shift
        k0 = self._floor(self.lo, width)
        n = self._floor(self.hi, width) - k0 + 1
        counts = np.zeros(n, np.int64)
        np.add.at(counts, ks - k0, self.counts)
        edges = (k0 + np.arange(n + 1, dtype=np.float64)) * width
        note = (f"histogram: the input can be read only once, so its values were counted in "
                f"the same pass as the statistics, in bins of width {width:g} (a power of "
                "two) aligned on its multiples: exact counts, but not the equal bins from min "
                "to max a file gets.")
        return HistogramResult(counts, edges, 0, 0, self.nan), note


def _histogram(inp: Input, args: argparse.Namespace, desc: Any,
               engine: dict[str, Any] | None = None,
               binner: _OnePassHistogram | None = None) -> tuple[Any, str]:
    """The text histogram's counts, from a second pass over FILE (or, for an
    input read once, from `binner`, which counted them in the first); or why not."""
    if _record_shape_of(desc):
        return None, ("histogram: shown for one-column input only (for text input, pick "
                      "a column with --usecols).")
    if binner is not None:
        return binner.result()
    lo, hi = float(desc.min), float(desc.max)
    if int(desc.count) == 0 or math.isinf(lo) or math.isinf(hi):
        return None, ""
    # NaN min/max (nan_policy propagate): the range of the non-NaN values,
    # found by the histogram's own first pass.
    rng = None if math.isnan(lo) or math.isnan(hi) else (desc.min, desc.max)
    specs = _stage_specs(getattr(args, "stage", None))
    if rng is None:
        # A text file's stream is one-shot (a file object), so the histogram
        # cannot find the range itself: one more pass over a fresh stream.
        first = open_input(args)
        try:
            stream = _apply_stages(first.stream, specs)
            if stream.one_shot:
                d = stream.describe(nan_policy="omit", quantiles=(), **(engine or {}))
                if int(d.count) == 0 or not (np.isfinite(d.min) and np.isfinite(d.max)):
                    return None, ""
                rng = (d.min, d.max)
        finally:
            first.close()
    again = open_input(args)              # a fresh stream over the same file
    try:
        stream = _apply_stages(again.stream, specs)
        return stream.histogram(bins=args.bins, range=rng, **(engine or {})), ""
    finally:
        again.close()


def _check_describable(inp: Input, dtype: Any, staged: bool) -> None:
    """Refuse, naming FILE, a dtype the reducers cannot read (datetimes,
    complex, structured...) before any record is read."""
    if dtype is None:
        return
    from ._native import kernel_dtype

    try:
        kernel_dtype(dtype)
    except TypeError:
        what = "the stages' output" if staged else inp.label
        hint = (", e.g. --stage astype:dtype=int64 (counts of their unit since 1970)"
                if np.dtype(dtype).kind == "M" else
                ", e.g. --stage astype:dtype=int64 (counts of their unit)"
                if np.dtype(dtype).kind == "m" else "")
        raise CLIError(
            f"{what} holds {dtype} values, which describe cannot reduce (it reads bool, "
            f"integers and float16/32/64): convert them with an astype stage first{hint}"
        ) from None


class _AccuracyWarnings:
    """Collect the :class:`~pystream.SketchAccuracyWarning` messages of a
    block (once each), for the command to print as ``pystream: warning:``
    lines and in the table, not in Python's warning format (source line
    included); other warnings go on as usual."""

    def __enter__(self) -> list[str]:
        import warnings

        self._catch = warnings.catch_warnings(record=True)
        self._caught = self._catch.__enter__()
        warnings.simplefilter("always")
        self.messages: list[str] = []
        return self.messages

    def __exit__(self, *exc: Any) -> None:
        import warnings

        from .sketches import SketchAccuracyWarning

        self._catch.__exit__(*exc)
        for w in self._caught:
            if issubclass(w.category, SketchAccuracyWarning):
                if str(w.message) not in self.messages:
                    self.messages.append(str(w.message))
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def cmd_describe(args: argparse.Namespace, stdout: Any, stderr: Any) -> int:
    """``pystream describe``: the summary table (or JSON) of FILE, after the --stage stages."""
    specs = _stage_specs(args.stage)        # checked before any input is read
    _check_engine(args, None)
    inp = open_input(args)
    try:
        engine = _check_engine(args, inp)
        # the dtype described: the last stage's output
        dtype = _apply_stages(inp.stream, specs).dtype if specs else _stream_dtype(inp)
        _check_describable(inp, dtype, bool(specs))
        # an input read once gets its histogram counted in the same pass
        binner = _OnePassHistogram(args.bins) if inp.once and not args.no_histogram else None
        bar = make_progress(inp, not args.no_progress, stderr)
        try:
            with _AccuracyWarnings() as accuracy:
                desc, records = _describe(inp, args, bar, engine, binner)
        finally:
            if bar is not None:
                bar.close()
    finally:
        inp.close()
    if dtype is None:
        dtype = getattr(desc, "dtype", None)
    hist, note = (None, "") if args.no_histogram else _histogram(inp, args, desc, engine, binner)
    text = (to_json(inp, desc, records, dtype, hist, args.stage) if args.json
            else to_table(inp, desc, records, dtype, hist, note, args.stage, accuracy))
    for message in accuracy:
        stderr.write(f"pystream: warning: {message}\n")
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
    """(output path or None for stdout, "npy", "raw" or "stream"), checked before reading."""
    path = args.output
    if path is None or path == "-":
        if args.format == "npy":
            raise CLIError(
                "--format npy cannot be written to standard output: a .npy header holds "
                "the record count, known only when the stream ends, and a pipe cannot be "
                "rewound to write it; give -o FILE.npy, or pipe the stream (the default), "
                "which pystream commands read with no option")
        if path is None and _isatty(stdout):
            raise CLIError(
                "refusing to write binary records to a terminal: give -o FILE, or pipe "
                "the output (e.g. '| pystream describe -'); -o - forces it")
        return None, args.format or "stream"
    if args.format == "stream":
        raise CLIError(
            "--format stream is the format of pipes (standard output); for a file give "
            "-o FILE.npy, which also records the number of records and can be read in "
            "partitions")
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
    elif inp is not None and inp.once:
        why = f"{inp.label!r} is not a regular file: it can only be read once, in order"
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
           engine: dict[str, Any], force: bool = False) -> int:
    """Write the records of `stream`; returns their number."""
    if path is not None:
        sink = stream.to_npy if fmt == "npy" else stream.to_file
        return sink(path, force=force, **engine)
    out = getattr(stdout, "buffer", None)
    if out is None:
        raise CLIError("standard output does not accept binary data; give -o FILE")
    stdout.flush()
    if fmt == "stream":
        from .pipeformat import to_pipe

        return to_pipe(stream, out, **engine)

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
            n = _write(stream, path, fmt, stdout, engine, force=args.force)
        finally:
            if bar is not None:
                bar.close()
    finally:
        inp.close()
    if args.verbose:
        dt, shape = stream.dtype, tuple(stream.record_shape)
        where = "standard output" if path is None else repr(path)
        back = f"--dtype {_dtype_arg(dt)}" + (
            f" --record-shape {','.join(map(str, shape))}" if shape else "")
        note = {"npy": "", "stream": "; pystream commands read it with no option"}.get(
            fmt, f"; read it back with {back}")
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
    rows = [{"plugin": p.name, "package": p.package, "version": p.version, "error": p.error,
             **{k: sorted(call_name(k, n) for n in v) for k, v in p.registered.items()}}
            for p in registry.plugins]
    if args.json:
        stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    lines = []
    for r in rows:
        lines.append(f"{r['plugin']} ({r['package']} {r['version']})"
                     + (f"  FAILED: {r['error']}" if r["error"] else ""))
        for kind in KINDS:
            if r[kind]:
                lines.append(f"  {kind}: {', '.join(r[kind])}")
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


#: The exit status when the output pipe was closed (``| head``): 128 + SIGPIPE,
#: the status a shell reports for ``cat`` killed by SIGPIPE.
SIGPIPE_STATUS = 128 + 13


def _closed_pipe(program: bool) -> int:
    """The end of a command whose reader went away: no message; the program
    dies of SIGPIPE as ``cat`` and the other Unix tools do (so ``set -o
    pipefail`` sees status 141); an in-process call gets 141 back."""
    try:  # later writes (Python's own flush at exit) must not fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    sigpipe = getattr(signal, "SIGPIPE", None)
    if program and sigpipe is not None:
        signal.signal(sigpipe, signal.SIG_DFL)   # Python starts with it ignored
        os.kill(os.getpid(), sigpipe)
    return SIGPIPE_STATUS


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pystream`` command; returns the exit status.

    `argv` None means the program's own arguments (``sys.argv[1:]``): the
    console script and ``python -m pystream``.  Only then does a closed
    output pipe end the process by SIGPIPE; with a list (tests, embedding)
    :data:`SIGPIPE_STATUS` is returned instead.
    """
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
        # Output closed early (e.g. piped into head): not an error worth a message.
        return _closed_pipe(program=argv is None)
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
