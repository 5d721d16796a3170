"""The pystream pipe format: a self-describing stream of records of unbounded
length (:func:`from_pipe`, :func:`to_pipe`; the layout: :doc:`/internals/pipe-format`).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import struct
import sys
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

from ._buffers import BufferPool
from ._checks import check_count
from ._config import default_chunk_size
from ._text import source_name
from .chain import OneShotSource
from .stream import Stream

__all__ = ["MAGIC", "VERSION", "from_pipe", "read_header", "to_pipe", "write_header"]

#: The first bytes of a pystream pipe stream.
MAGIC = b"\x93PYSTREAM"
#: (major, minor) version written.
VERSION = (1, 0)

_MAX_HEADER = 1 << 16
_DESCR = re.compile(r"[<>|=][biufc][0-9]{1,2}")
_U64 = struct.Struct("<Q")


class PipeFormatError(ValueError):
    """The input is not a valid pystream pipe stream (or is truncated)."""


# --------------------------------------------------------------------------- header


def _header_bytes(dtype: np.dtype, record_shape: tuple[int, ...]) -> bytes:
    dt = np.dtype(dtype)
    if dt.kind not in "biufc" or dt.fields is not None or dt.subdtype is not None:
        raise TypeError(f"to_pipe: records of dtype {dt} cannot be written to a pipe; "
                        "expected a boolean, integer, floating-point or complex dtype")
    header = json.dumps({"descr": dt.str, "record_shape": [int(n) for n in record_shape]},
                        separators=(", ", ": ")).encode()
    return MAGIC + bytes(VERSION) + struct.pack("<I", len(header)) + header


def write_header(file: IO[bytes], dtype: Any, record_shape: tuple[int, ...] = ()) -> None:
    """Write the magic string, version and header of a stream of `dtype` records.

    Parameters
    ----------
    file : binary file object
    dtype : dtype-like
        The records' dtype as they will be written (any byte order).
    record_shape : tuple of int, optional
        Shape of one record; default ``()`` (scalars).
    """
    file.write(_header_bytes(np.dtype(dtype), tuple(record_shape)))


def _read_exact(f: Any, n: int, name: str, what: str) -> bytes:
    """`n` bytes from `f`, or PipeFormatError naming what was cut short."""
    data = b""
    while len(data) < n:
        more = f.read(n - len(data))
        if not more:
            if not data and what == "end":
                raise PipeFormatError(
                    f"{name}: the pystream stream ended without its end mark: the command "
                    "writing it failed or was stopped, so the records read so far are not "
                    "the whole stream")
            raise PipeFormatError(f"{name}: the pystream stream is truncated (in its {what})")
        data += more
    return data


def read_header(file: IO[bytes], name: str = "<stream>") -> tuple[np.dtype, tuple[int, ...]]:
    """Read the magic string, version and header; return ``(dtype, record_shape)``.

    Parameters
    ----------
    file : binary file object
        Positioned at the magic string; left at the first frame.
    name : str, optional
        What to call the input in error messages.

    Raises
    ------
    ValueError
        If the input does not start with the magic string, has a major
        version this pystream does not read, or a malformed header.
    """
    magic = file.read(len(MAGIC))
    if magic != MAGIC:
        raise PipeFormatError(f"{name}: not a pystream stream (it does not start with "
                              f"{MAGIC!r})")
    major, minor = _read_exact(file, 2, name, "header")
    if major != VERSION[0]:
        raise PipeFormatError(f"{name}: pystream stream format version {major}.{minor}; this "
                              f"pystream reads version {VERSION[0]}.x (upgrade pystream)")
    (size,) = struct.unpack("<I", _read_exact(file, 4, name, "header"))
    if size > _MAX_HEADER:
        raise PipeFormatError(f"{name}: pystream stream header of {size} bytes (corrupt)")
    raw = _read_exact(file, size, name, "header")
    try:
        header = json.loads(raw.decode("utf-8"))
        descr, shape = header["descr"], header["record_shape"]
    except (ValueError, KeyError, TypeError):
        raise PipeFormatError(f"{name}: malformed pystream stream header") from None
    if not (isinstance(descr, str) and _DESCR.fullmatch(descr)):
        raise PipeFormatError(f"{name}: unsupported dtype {descr!r} in the stream header")
    if not (isinstance(shape, list) and len(shape) <= 32 and all(
            isinstance(n, int) and not isinstance(n, bool) and 0 < n < 2**40 for n in shape)):
        raise PipeFormatError(f"{name}: bad record shape {shape!r} in the stream header")
    try:
        dt = np.dtype(descr)
    except TypeError:
        raise PipeFormatError(f"{name}: unsupported dtype {descr!r} in the stream header") from None
    rs = tuple(shape)
    if dt.itemsize * math.prod(rs) > 2**40:
        raise PipeFormatError(f"{name}: records of {dt} and shape {rs} are too large")
    return dt, rs


# --------------------------------------------------------------------------- reading


def _frames(f: Any, name: str, dt: np.dtype, rs: tuple[int, ...], chunk_size: int,
            close: bool) -> Iterator[np.ndarray]:
    """Chunks of `chunk_size` records (fewer at the end) gathered from the frames."""
    record = dt.itemsize * math.prod(rs)
    target = chunk_size * record
    pool = BufferPool(target)
    readinto = getattr(f, "readinto", None)
    left = 0          # bytes of the current frame not read yet
    total = 0         # records yielded
    ended = False
    try:
        while not ended:
            buf = pool.get()
            got = 0
            while got < target:
                if left == 0:
                    (n,) = _U64.unpack(_read_exact(f, 8, name, "end"))
                    if n == 0:
                        (announced,) = _U64.unpack(_read_exact(f, 8, name, "end mark"))
                        if announced != total + got // record:
                            raise PipeFormatError(
                                f"{name}: the stream's end mark counts {announced:,} records "
                                f"but {total + got // record:,} were read (corrupt stream)")
                        if f.read(1):
                            raise PipeFormatError(f"{name}: data follows the end of the "
                                                  "pystream stream")
                        ended = True
                        break
                    if n % record:
                        raise PipeFormatError(
                            f"{name}: a frame of {n} bytes is not a whole number of "
                            f"{record}-byte records (dtype {dt}, record shape {rs}; corrupt "
                            "stream)")
                    left = n
                want = min(left, target - got)
                if readinto is not None:
                    k = readinto(buf[got:got + want])
                else:
                    data = f.read(want)
                    k = len(data)
                    buf[got:got + k] = np.frombuffer(data, np.uint8)
                if not k:
                    raise PipeFormatError(f"{name}: the pystream stream is truncated (in a "
                                          f"frame, after {total + got // record:,} records)")
                got += k
                left -= k
            if got:
                nrec = got // record
                chunk = buf[:got].view(dt).reshape((nrec, *rs))
                del buf
                total += nrec
                yield chunk
                del chunk
            else:
                del buf
    finally:
        if close:
            f.close()


def open_pipe(file: IO[bytes], name: str, chunk_size: int | None = None) -> Any:
    """The stream of an open binary file positioned at the magic string
    (read once; the file is not closed).  See :func:`from_pipe`."""
    return _stream(file, name, chunk_size, close=False)


def _stream(f: Any, name: str, chunk_size: int | None, close: bool) -> Any:
    try:
        dt, rs = read_header(f, name)
        cs = (default_chunk_size(dt, rs) if chunk_size is None
              else check_count(chunk_size, "chunk_size", "from_pipe", minimum=1))
    except BaseException:
        if close:
            f.close()
        raise
    src = OneShotSource(lambda: _frames(f, name, dt, rs, cs, close), nonempty=False)
    return Stream._from_source(src, dt, rs)


def from_pipe(source: Any = "-", chunk_size: int | None = None) -> Any:
    """Stream what ``pystream run`` wrote to a pipe (the pystream pipe format).

    The stream's dtype and record shape come from the header; the records
    are read in order, once, in bounded memory, however long the stream.
    The end mark is checked: a stream whose writer failed or was stopped
    part way raises instead of ending quietly.

    Parameters
    ----------
    source : str, path-like or binary file object, optional
        ``"-"`` (the default) reads standard input; a path (a FIFO, a saved
        stream) is opened and closed; a file object is read from its
        current position and not closed.
    chunk_size : int, optional
        Records per chunk; default from
        :func:`pystream._config.default_chunk_size`.

    Returns
    -------
    Stream
        A one-shot stream.  The header is read now.

    Raises
    ------
    ValueError
        If the input is not a pystream stream or its header is malformed;
        during iteration, if it is truncated or corrupt.

    Examples
    --------
    >>> import io, numpy as np, pystream as ps
    >>> from pystream.pipeformat import from_pipe, to_pipe
    >>> buf = io.BytesIO()
    >>> to_pipe(ps.from_array(np.arange(6.0).reshape(3, 2)), buf)
    3
    >>> s = from_pipe(io.BytesIO(buf.getvalue()))
    >>> s.dtype, s.record_shape, s.to_array()[:, 1].tolist()
    (dtype('float64'), (2,), [1.0, 3.0, 5.0])
    """
    if isinstance(source, str) and source == "-":
        return _stream(sys.stdin.buffer, "<stdin>", chunk_size, close=False)
    if isinstance(source, (str, bytes, os.PathLike)):
        path = os.fsdecode(os.fspath(source))
        return _stream(open(path, "rb"), repr(path), chunk_size, close=True)  # noqa: SIM115
    if isinstance(source, io.TextIOBase):
        raise TypeError("from_pipe: got a text-mode file; open it in binary mode ('rb')")
    if not hasattr(source, "read"):
        raise TypeError(f"from_pipe: expected '-', a path or a binary file object, got "
                        f"{type(source).__name__}")
    return _stream(source, source_name(source), chunk_size, close=False)


# --------------------------------------------------------------------------- writing


class FrameWriter:
    """``writer(chunk)`` writes one frame; :meth:`finish` writes the end mark.

    Parameters
    ----------
    file : binary file object
        Receives the header now, then the frames.
    dtype : dtype-like
    record_shape : tuple of int
    """

    def __init__(self, file: IO[bytes], dtype: Any, record_shape: tuple[int, ...]) -> None:
        self.file = file
        self.dtype = np.dtype(dtype)
        self.record_shape = tuple(record_shape)
        self.records = 0
        write_header(file, self.dtype, self.record_shape)

    def __call__(self, chunk: np.ndarray) -> None:
        if chunk.dtype != self.dtype or chunk.shape[1:] != self.record_shape:
            raise ValueError(f"to_pipe: a chunk of {chunk.dtype} records of shape "
                             f"{chunk.shape[1:]} in a stream declared {self.dtype}, "
                             f"{self.record_shape}")
        if not len(chunk):
            return
        data = np.ascontiguousarray(chunk)
        self.file.write(_U64.pack(data.nbytes))
        self.file.write(data.data)
        self.records += len(chunk)

    def finish(self) -> None:
        """Write the end mark (call once, after the last chunk)."""
        self.file.write(_U64.pack(0) + _U64.pack(self.records))


def to_pipe(stream: Any, file: IO[bytes], *, engine: str = "local",
            workers: int | None = None) -> int:
    """Write `stream` to a binary file in the pystream pipe format.

    Parameters
    ----------
    stream : pystream.Stream
    file : binary file object
        Written from its current position and flushed, not closed (e.g.
        ``sys.stdout.buffer``, a socket's file, ``io.BytesIO``).
    engine, workers : optional
        As for :meth:`pystream.Stream.to_callback`.

    Returns
    -------
    int
        The number of records written.

    Notes
    -----
    If the stream raises part way, the end mark is not written, so a reader
    reports the stream as truncated.

    Examples
    --------
    >>> import io, numpy as np, pystream as ps
    >>> buf = io.BytesIO()
    >>> to_pipe(ps.from_array(np.arange(3, dtype=np.int16)), buf)
    3
    >>> buf.getvalue()[:9]
    b'\\x93PYSTREAM'
    """
    writer = FrameWriter(file, stream.dtype, tuple(stream.record_shape))
    n = stream.to_callback(writer, engine=engine, workers=workers)
    writer.finish()
    file.flush()
    return n
