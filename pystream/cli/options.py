"""The argument parser's parts: a parser whose errors are one line, the
option value types, and the input and engine options shared by commands."""

from __future__ import annotations

import argparse
import codecs
from typing import Any, Callable

import numpy as np

from .common import CLIError


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


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"empty column name in {text!r}")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"a column is named twice in {text!r}")
    return names


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
    table = p.add_argument_group(
        "table input (Parquet, Arrow IPC/Feather, CSV with a header; needs pyarrow)")
    table.add_argument("--columns", type=_names, metavar="NAMES",
                       help="comma-separated column names to read, e.g. dep_delay,arr_delay "
                            "(default: every numeric column); the output is labelled by them")
    table.add_argument("--time", metavar="COLUMN",
                       help="the time column (dates and timestamps, or numbers)")
    table.add_argument("--key", metavar="COLUMN",
                       help="the key column (text or integers), e.g. carrier")


def _add_engine_options(group: Any) -> None:
    """--engine and --workers (shared by describe and run)."""
    group.add_argument("--engine", choices=("local", "threads"), default="local",
                       help="local: one pass in order (default); threads: "
                            "partitions of a .npy or raw file on a thread pool "
                            "(the same bits)")
    group.add_argument("--workers", type=_positive_int, metavar="N",
                       help="threads of --engine threads (default: the usable cores)")
