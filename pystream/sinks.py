"""Sinks: write a stream to a file, atomically.

The data goes to a temporary file next to the target (same directory, so
the final rename is atomic on POSIX and Windows) and replaces the target
only once the whole stream has been written.  An error, a cancelled run or
a ``KeyboardInterrupt`` removes the temporary file and leaves any existing
target untouched: a reader never sees a half-written file under the final
name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import IO, Any, Union

import numpy as np

__all__ = ["atomic_output", "npy_header", "write_npy", "write_raw", "write_text"]

PathLike = Union[str, "os.PathLike[str]"]

#: The largest record count a header is reserved for (the header is written first
#: with room for any length, then rewritten in place once the length is known).
_MAX_RECORDS = 2**63 - 1


def npy_header(dtype: np.dtype, shape: tuple[int, ...], size: int | None = None) -> bytes:
    """A ``.npy`` (format 1.0) header for an array of `dtype` and `shape`, C order.

    Parameters
    ----------
    dtype : numpy.dtype
    shape : tuple of int
    size : int, optional
        Pad the header to exactly `size` bytes (a multiple of 64, at least
        the natural size), so it can be rewritten in place.

    Examples
    --------
    >>> h = npy_header(np.dtype("<f8"), (3,))
    >>> h[:6], len(h) % 64
    (b'\\x93NUMPY', 0)
    """
    descr = np.lib.format.dtype_to_descr(dtype)
    text = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {tuple(shape)!r}, }}"
    prefix = 6 + 2 + 2  # magic, version, header length
    natural = -(-(prefix + len(text) + 1) // 64) * 64
    total = natural if size is None else size
    if total < natural or total % 64:
        raise ValueError(f"npy_header: cannot fit the header in {total} bytes")
    body = text.encode("latin1") + b" " * (total - prefix - len(text) - 1) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body


@contextlib.contextmanager
def atomic_output(path: PathLike, where: str) -> Iterator[IO[bytes]]:
    """A binary file that becomes `path` only if the ``with`` block completes.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "out.bin")
    >>> with atomic_output(p, "example") as f:
    ...     _ = f.write(b"abc")
    >>> open(p, "rb").read()
    b'abc'
    """
    target = os.fspath(path)
    if not isinstance(target, str):
        raise TypeError(f"{where}: path must be a str or path-like, got {path!r}")
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{where}: the directory {directory!r} does not exist")
    if os.path.isdir(target):
        raise IsADirectoryError(f"{where}: {target!r} is a directory")
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".partial",
                               dir=directory)
    try:
        with os.fdopen(fd, "w+b") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: str) -> None:
    """Delete `path`, even through a second Ctrl-C (the first is being handled)."""
    while True:
        try:
            os.unlink(path)
            return
        except FileNotFoundError:
            return
        except KeyboardInterrupt:
            continue


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_chunks(f: IO[bytes], chunks: Iterator[np.ndarray], dtype: np.dtype,
                  record_shape: tuple[int, ...], where: str) -> int:
    n = 0
    with _closing(chunks):
        for c in chunks:
            if c.dtype != dtype or c.shape[1:] != record_shape:
                raise TypeError(f"{where}: a chunk of dtype {c.dtype} and record shape "
                                f"{c.shape[1:]} does not match the stream's {dtype} {record_shape}")
            f.write(memoryview(np.ascontiguousarray(c)).cast("B"))
            n += len(c)
    return n


@contextlib.contextmanager
def _closing(chunks: Iterator[np.ndarray]) -> Iterator[None]:
    """Close the chunk iterator on the way out, so an engine stops its
    workers now when the write fails, not when the iterator is collected."""
    try:
        yield
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def write_npy(stream: Any, path: PathLike, chunks: Iterator[np.ndarray]) -> int:
    """Write `chunks` of `stream` to `path` as a ``.npy`` file; return the record count."""
    dt, rs = stream._meta()
    reserved = len(npy_header(dt, (_MAX_RECORDS, *rs)))
    with atomic_output(path, "to_npy") as f:
        f.write(b"\0" * reserved)
        n = _write_chunks(f, chunks, dt, rs, "to_npy")
        f.seek(0)
        f.write(npy_header(dt, (n, *rs), reserved))
    return n


def write_raw(stream: Any, path: PathLike, chunks: Iterator[np.ndarray]) -> int:
    """Write the raw bytes of `chunks` of `stream` to `path`; return the record count."""
    dt, rs = stream._meta()
    with atomic_output(path, "to_file") as f:
        return _write_chunks(f, chunks, dt, rs, "to_file")


def write_text(stream: Any, path: PathLike, chunks: Iterator[np.ndarray], fmt: Any,
               delimiter: str, header: str | None) -> int:
    """Write `chunks` as text lines (:func:`numpy.savetxt` per chunk); return the record count.

    One line per record, the record's values flattened in C order.
    """
    dt, rs = stream._meta()
    if dt.kind not in "biuf":
        raise TypeError(f"to_text: cannot write {dt} records as numeric text")
    width = int(np.prod(rs, dtype=np.int64))
    if fmt is None:
        fmt = "%.18g" if dt.kind == "f" else "%d"
    with atomic_output(path, "to_text") as f:
        if header is not None:
            f.write("".join(f"# {line}\n" for line in header.splitlines()).encode())
        n = 0
        with _closing(chunks):
            for c in chunks:
                if c.dtype != dt or c.shape[1:] != rs:
                    raise TypeError(f"to_text: a chunk of dtype {c.dtype} and record shape "
                                    f"{c.shape[1:]} does not match the stream's {dt} {rs}")
                np.savetxt(f, c.reshape(len(c), width), fmt=fmt, delimiter=delimiter)
                n += len(c)
    return n
