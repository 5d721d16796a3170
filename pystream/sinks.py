"""Sinks: write a stream to a file, atomically.

The data goes to a temporary file next to the target (same directory, so
the final rename is atomic on POSIX and Windows) and replaces the target
only once the whole stream has been written.  An error, a cancelled run or
a ``KeyboardInterrupt`` removes the temporary file and leaves any existing
target untouched: a reader never sees a half-written file under the final
name.

Each format is a writer object with ``write(chunk)``, ``finish()`` and
``abort()``, so the same code serves the pull sinks (``Stream.to_npy``...,
which drain an iterator into a writer) and the push sinks and fan-out
branches (:mod:`pystream.consumers`, which call ``write`` per pushed chunk).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Any, Union

import numpy as np

__all__ = ["AtomicFile", "ChunkWriter", "NpyWriter", "RawWriter", "TextWriter", "atomic_output",
           "check_target", "drain", "npy_header"]

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


def check_target(path: PathLike, where: str) -> str:
    """`path` as a str, checked as the target of a sink: its directory exists
    and it is not a directory.

    Raises
    ------
    TypeError, FileNotFoundError, IsADirectoryError
    """
    target = os.fspath(path)
    if not isinstance(target, str):
        raise TypeError(f"{where}: path must be a str or path-like, got {path!r}")
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{where}: the directory {directory!r} does not exist")
    if os.path.isdir(target):
        raise IsADirectoryError(f"{where}: {target!r} is a directory")
    return target


class AtomicFile:
    """A temporary binary file next to `path` that becomes `path` on :meth:`commit`.

    Parameters
    ----------
    path : str or path-like
        The target; its directory must exist.
    where : str
        Names the caller in error messages.

    Raises
    ------
    TypeError
        If `path` is not a path.
    FileNotFoundError
        If the directory of `path` does not exist.
    IsADirectoryError
        If `path` is a directory.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "out.bin")
    >>> f = AtomicFile(p, "example")
    >>> _ = f.file.write(b"abc")
    >>> os.path.exists(p)
    False
    >>> f.commit()
    >>> open(p, "rb").read()
    b'abc'
    """

    def __init__(self, path: PathLike, where: str) -> None:
        target = check_target(path, where)
        directory = os.path.dirname(os.path.abspath(target))
        fd, self.tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".partial",
                                        dir=directory)
        self.target = target
        self.file: IO[bytes] = os.fdopen(fd, "w+b")

    def commit(self) -> None:
        """Flush to disk and rename the temporary file to the target (on failure:
        :meth:`abort` and raise)."""
        try:
            f = self.file
            f.flush()
            os.fsync(f.fileno())
            f.close()
            os.chmod(self.tmp, 0o666 & ~_umask())
            os.replace(self.tmp, self.target)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Close and delete the temporary file; the target is left as it was."""
        try:
            self.file.close()
        except OSError:
            pass
        _remove(self.tmp)


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
    out = AtomicFile(path, where)
    try:
        yield out.file
    except BaseException:
        out.abort()
        raise
    out.commit()


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


class ChunkWriter:
    """Writes chunks of one dtype and record shape to a file that appears atomically.

    The temporary file is created at construction; :meth:`finish` renames it
    to the target, :meth:`abort` deletes it.

    Parameters
    ----------
    path : str or path-like
        Target file; its directory must exist.
    dtype : numpy.dtype
        The chunks' dtype.
    record_shape : tuple of int
        The chunks' record shape.
    where : str
        Names the sink in error messages (``"to_npy"``...).
    """

    def __init__(self, path: PathLike, dtype: np.dtype, record_shape: tuple[int, ...],
                 where: str) -> None:
        self.dtype = np.dtype(dtype)
        self.record_shape = tuple(record_shape)
        self.where = where
        self.count = 0
        self._out = AtomicFile(path, where)

    def _check(self, c: np.ndarray) -> None:
        if c.dtype != self.dtype or c.shape[1:] != self.record_shape:
            raise TypeError(f"{self.where}: a chunk of dtype {c.dtype} and record shape "
                            f"{c.shape[1:]} does not match the stream's {self.dtype} "
                            f"{self.record_shape}")

    def write(self, chunk: np.ndarray) -> None:
        """Append the records of `chunk`.

        Raises
        ------
        TypeError
            If the chunk's dtype or record shape is not the stream's.
        """
        self._check(chunk)
        self._out.file.write(memoryview(np.ascontiguousarray(chunk)).cast("B"))
        self.count += len(chunk)

    def _complete(self, f: IO[bytes]) -> None:
        """Finish the file's content before the rename (e.g. a header)."""

    def finish(self) -> int:
        """Complete the file and give it its final name; return the record count."""
        try:
            self._complete(self._out.file)
        except BaseException:
            self._out.abort()
            raise
        self._out.commit()
        return self.count

    def abort(self) -> None:
        """Delete the temporary file (the target keeps its old content, if any)."""
        self._out.abort()


class RawWriter(ChunkWriter):
    """The chunks' raw bytes, C order (``Stream.to_file``)."""

    def __init__(self, path: PathLike, dtype: np.dtype, record_shape: tuple[int, ...]) -> None:
        super().__init__(path, dtype, record_shape, "to_file")


class NpyWriter(ChunkWriter):
    """A ``.npy`` file (``Stream.to_npy``): room for the header is reserved
    first and the header is written once the length is known."""

    def __init__(self, path: PathLike, dtype: np.dtype, record_shape: tuple[int, ...]) -> None:
        super().__init__(path, dtype, record_shape, "to_npy")
        self._reserved = len(npy_header(self.dtype, (_MAX_RECORDS, *self.record_shape)))
        try:
            self._out.file.write(b"\0" * self._reserved)
        except BaseException:
            self._out.abort()
            raise

    def _complete(self, f: IO[bytes]) -> None:
        f.seek(0)
        f.write(npy_header(self.dtype, (self.count, *self.record_shape), self._reserved))


class TextWriter(ChunkWriter):
    """Text lines, :func:`numpy.savetxt` per chunk (``Stream.to_text``): one line
    per record, its values flattened in C order."""

    def __init__(self, path: PathLike, dtype: np.dtype, record_shape: tuple[int, ...],
                 fmt: Any = None, delimiter: str = " ", header: str | None = None) -> None:
        dtype = np.dtype(dtype)
        if dtype.kind not in "biuf":
            raise TypeError(f"to_text: cannot write {dtype} records as numeric text")
        super().__init__(path, dtype, record_shape, "to_text")
        self._width = int(np.prod(self.record_shape, dtype=np.int64))
        self._fmt = fmt if fmt is not None else ("%.18g" if dtype.kind == "f" else "%d")
        self._delimiter = delimiter
        if header is not None:
            try:
                self._out.file.write("".join(f"# {line}\n" for line in header.splitlines()).encode())
            except BaseException:
                self._out.abort()
                raise

    def write(self, chunk: np.ndarray) -> None:
        self._check(chunk)
        np.savetxt(self._out.file, chunk.reshape(len(chunk), self._width), fmt=self._fmt,
                   delimiter=self._delimiter)
        self.count += len(chunk)


def drain(writer: ChunkWriter, make_chunks: Callable[[], Iterator[np.ndarray]]) -> int:
    """Write every chunk of ``make_chunks()`` with `writer` and finish it; return the
    record count.

    On any error (or Ctrl-C) the writer is aborted.  The chunk iterator is
    closed on the way out, so an engine stops its workers now when the
    write fails, not when the iterator is collected.
    """
    try:
        chunks = make_chunks()
        try:
            for c in chunks:
                writer.write(c)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
    except BaseException:
        writer.abort()
        raise
    return writer.finish()
