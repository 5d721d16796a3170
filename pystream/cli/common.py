"""What every ``pystream`` command shares: constants, the error type, the
stage arguments and the one-line error text."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from .stage_args import StageSpecError, apply_stages, catalogue, parse_stage

PROG = "pystream"

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


def _call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``func`` with the keyword arguments that are not None.

    Options the user did not give are left to the library's defaults.
    """
    return func(*args, **{k: v for k, v in kwargs.items() if v is not None})


def _stage_specs(texts: Sequence[str] | None) -> list[Any]:
    """Parse STAGE arguments (before any input is read); errors become CLIError."""
    if not texts:
        return []
    stages = catalogue()
    try:
        return [parse_stage(text, stages) for text in texts]
    except StageSpecError as exc:
        raise CLIError(str(exc)) from None


def _apply_stages(stream: Any, specs: Sequence[Any]) -> Any:
    """Add the parsed stages to `stream`; a stage refusing its values or the
    stream's dtype is reported with its argument (CLIError)."""
    try:
        return apply_stages(stream, specs)
    except StageSpecError as exc:
        raise CLIError(str(exc)) from None


def _exc_text(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename!r}" if exc.filename else ""
        return f"{exc.strerror.lower()}{where}"
    text = str(exc).strip().splitlines()
    msg = text[0] if text else ""
    return msg or type(exc).__name__
