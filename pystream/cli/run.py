"""``pystream run``: stream INPUT through STAGE arguments and write the
records to a ``.npy`` file, a Parquet or Arrow IPC file (with the names,
time and key columns), a raw file, or standard output (the pipe format, or
bare records with ``--format raw``)."""

from __future__ import annotations

import argparse
import os
import shlex
from typing import Any

import numpy as np

from ..pipeformat import to_pipe
from .common import PROG, CLIError, _apply_stages, _stage_specs
from .inputs import _check_engine, open_input
from .progress import _Ticker, make_progress


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
        if args.format in ("parquet", "ipc"):
            raise CLIError(f"--format {args.format} needs a file (-o FILE): a table file's "
                           "footer is written last, so a pipe cannot hold one")
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
    fmt = args.format or _format_of(path)
    if os.path.isdir(path):
        raise CLIError(f"-o {path!r} is a directory; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CLIError(f"-o {path!r}: no such directory: {folder!r}")
    if not os.access(folder, os.W_OK):
        raise CLIError(f"-o {path!r}: permission denied (cannot write in {folder!r})")
    return path, fmt


#: Output formats chosen by the file's extension (any other: raw records).
_SUFFIX_FORMATS = {".npy": "npy", ".parquet": "parquet", ".pq": "parquet", ".arrow": "ipc",
                   ".feather": "ipc", ".ipc": "ipc"}


def _format_of(path: str) -> str:
    """The output format of `path` by its extension: a table file (Parquet,
    Arrow IPC) keeps the names, time and key columns; ``.npy`` the values."""
    return _SUFFIX_FORMATS.get(os.path.splitext(path.lower())[1], "raw")


def _dtype_arg(dt: np.dtype) -> str:
    """How to write `dt` for --dtype in a shell: its name if native, else
    with its byte order, quoted ('>i2')."""
    return dt.name if dt.isnative or dt.itemsize == 1 else shlex.quote(dt.str)


def _write(stream: Any, path: str | None, fmt: str, stdout: Any,
           engine: dict[str, Any], force: bool = False) -> int:
    """Write the records of `stream`; returns their number."""
    if path is not None:
        if fmt in ("parquet", "ipc"):
            sink = stream.to_parquet if fmt == "parquet" else stream.to_ipc
            try:
                return sink(path, force=force, **engine)
            except ImportError as exc:
                raise CLIError(f"-o {path!r} is a {'Parquet' if fmt == 'parquet' else 'Arrow IPC'}"
                               f" file: {exc}") from None
        sink = stream.to_npy if fmt == "npy" else stream.to_file
        return sink(path, force=force, **engine)
    out = getattr(stdout, "buffer", None)
    if out is None:
        raise CLIError("standard output does not accept binary data; give -o FILE")
    stdout.flush()
    if fmt == "stream":
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
        note = {"npy": "", "parquet": "", "ipc": "",
                "stream": "; pystream commands read it with no option"}.get(
            fmt, f"; read it back with {back}")
        stderr.write(f"{PROG}: wrote {n:,} records of {dt}"
                     + (f", record shape {shape}" if shape else "")
                     + f" to {where} ({fmt}){note}\n")
        stderr.flush()
    return 0
