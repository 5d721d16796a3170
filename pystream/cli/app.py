"""The ``pystream`` command's parser and entry point (:func:`main`), and
``pystream plugins``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import warnings
from importlib.metadata import version
from typing import Any, Sequence

from .stage_args import format_catalogue
from .._extensions import KINDS, call_name
from .._version import DISTRIBUTION
from ..plugins import get_registry
from .common import HIST_BINS, PROG, CLIError, _exc_text
from .describe import cmd_describe
from .options import (
    _add_engine_options,
    _add_input_options,
    _nonneg_int,
    _Parser,
    _positive_int,
)
from .run import cmd_run


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Lazy streaming numeric pipelines: command-line tools.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_package_version()}")
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
    stats.add_argument("--sort-keys", action="store_true",
                       help="with --key: list the keys sorted (default: in the order "
                            "they are first seen)")
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
            "Output: -o x.npy writes a .npy file, -o x.parquet (or .arrow,\n"
            ".feather) a table with the column names, time and key, -o with any\n"
            "other suffix raw binary (records back to back, C order, no header);\n"
            "all are written under a temporary name and renamed when complete.\n"
            "Without -o (or\n"
            "with -o -) standard output gets a self-describing stream (a small\n"
            "header with the dtype and record shape, then the records), which\n"
            "'pystream describe -' and 'pystream run -' recognise: pipes between\n"
            "pystream commands need no option. --format raw writes bare records\n"
            "instead (read them back with --dtype and --record-shape; -v prints\n"
            "them). A closed pipe (| head) ends the command quietly (SIGPIPE).\n"
            "\n"
            "example:\n"
            f"  {PROG} run signal.npy moving_mean:window=100 -o smooth.npy\n"
            f"  {PROG} run log.csv --usecols 2 resample:60,how=max | {PROG} describe -\n"
            f"  {PROG} run flights.parquet --columns dep_delay --time time_hour "
            "moving_mean:window=10 -o smooth.parquet"
        ),
    )
    r.intermixed = True
    r.help_tail = _stage_listing
    r.add_argument("file", metavar="INPUT", help="input path, or '-' for stdin")
    r.add_argument("stages", nargs="*", default=[], metavar="STAGE",
                   help="name or name:key=value,... (listed below)")
    out = r.add_argument_group("output")
    out.add_argument("-o", "--output", metavar="OUTPUT",
                     help="output file (.npy: a .npy file; .parquet, .arrow, .feather: "
                          "a table; other suffixes: raw binary), or '-' for standard "
                          "output (the default: a self-describing stream)")
    out.add_argument("--format", choices=("npy", "parquet", "ipc", "raw", "stream"),
                     help="output format (default: by the OUTPUT's suffix, raw for other "
                          "files, stream for standard output); npy, parquet and ipc need "
                          "a file, stream standard output; raw is bare records")
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
    return format_catalogue()


def _package_version() -> str:
    try:
        return version(DISTRIBUTION)
    except Exception:  # not installed (e.g. run from a source tree)
        return "unknown"


# --------------------------------------------------------------------------
# plugins


def cmd_plugins(args: argparse.Namespace, stdout: Any, stderr: Any) -> int:
    """``pystream plugins``: one block per plugin, or JSON."""
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
