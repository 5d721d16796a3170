"""Sinks: write a stream to a file, atomically (one writer object per format;
what the rename must and must not do: :doc:`/internals/sinks`).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Any, Union

import numpy as np

__all__ = ["AtomicFile", "ChunkWriter", "NpyWriter", "RawWriter", "TextWriter", "atomic_output",
           "check_data_dtype", "check_target", "drain", "npy_header"]

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


#: Paths that name an open file descriptor of this process (``/dev/stdout``,
#: ``/dev/fd/3``, ``/proc/self/fd/1``): written directly, never renamed onto.
_DESCRIPTOR_PREFIXES = ("/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/fd/", "/proc/")


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a regular file" if stat.S_ISREG(mode) else "a special file"


def _read_only(target: str, st: os.stat_result) -> bool:
    """Whether `target` is write-protected: no write permission bit at all
    (``chmod a-w``), or, for a user other than root, none for this user.

    Read from the mode bits, not from a failed open: root may write any file,
    and the rename never needs write permission on the target itself.
    """
    if not st.st_mode & 0o222:
        return True
    return os.name == "posix" and os.geteuid() != 0 and not os.access(target, os.W_OK)


class AtomicFile:
    """A temporary binary file next to `path` that becomes `path` on :meth:`commit`.

    What the target is decides how it is written:

    * **a regular file, or no file**: atomically.  The data goes to a
      temporary file in the target's directory, renamed onto the target by
      :meth:`commit`; :meth:`abort` deletes it and leaves the target as it
      was.  An existing target keeps its permission bits (not setuid /
      setgid) and, where the user may set them, its owner and group; a new
      one gets ``0o666`` minus the umask, as ``open()`` gives.
    * **a symbolic link**: written through to the file it resolves to (the
      temporary file goes next to that file), so the link stays a link.
    * **a FIFO, a device or a descriptor path** (``/dev/null``,
      ``/dev/stdout``, ``/dev/fd/N``, a named pipe): opened and written
      directly.  No atomicity: an error leaves what was written so far.
      Opening a FIFO waits for a reader, as any writer does.
    * **a write-protected target** (no write permission bit, ``chmod a-w``;
      or, for users other than root, none for this user): refused with
      :class:`PermissionError` unless ``force=True``.  The mode bits are
      read, so root, whom permissions do not stop, is protected too.

    Parameters
    ----------
    path : str or path-like
        The target; its directory must exist.
    where : str
        Names the caller in error messages.
    force : bool, default False
        Replace a write-protected target (it keeps its mode).
    seekable : bool, default False
        The writer will seek back (a ``.npy`` header): refuse targets that
        cannot be rewound (FIFOs, sockets, terminals) up front.

    Attributes
    ----------
    file : binary file
        Where to write.
    target : str
        The path given.
    atomic : bool
        False for FIFOs, devices and descriptor paths.

    Raises
    ------
    TypeError
        If `path` is not a path.
    FileNotFoundError
        If the directory of `path` does not exist.
    IsADirectoryError
        If `path` is a directory.
    PermissionError
        If the target is write-protected and `force` is False.
    ValueError
        If `seekable` and the target cannot be rewound.

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

    def __init__(self, path: PathLike, where: str, force: bool = False,
                 seekable: bool = False) -> None:
        target = check_target(path, where)
        self.target = target
        self.tmp: str | None = None
        try:
            st: os.stat_result | None = os.stat(target)  # follows links
        except FileNotFoundError:
            st = None  # a new file (or a dangling link: created where it points)
        except OSError as e:
            raise type(e)(e.errno, f"{where}: cannot use {target!r} as the output: "
                          f"{e.strerror}") from None
        if st is not None and not force and _read_only(target, st):
            raise PermissionError(
                f"{where}: {target!r} is write-protected (mode {stat.filemode(st.st_mode)}); "
                "pass force=True (pystream run: --force) to replace it, or choose another path")
        descriptor = os.path.abspath(target).startswith(_DESCRIPTOR_PREFIXES)
        if st is not None and (not stat.S_ISREG(st.st_mode) or descriptor):
            if seekable and (stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode)):
                raise ValueError(self._unseekable(where, st.st_mode))
            self.atomic = False
            self.file: IO[bytes] = open(target, "wb")  # noqa: SIM115 - closed by commit/abort
            if seekable and not self.file.seekable():
                self.file.close()
                raise ValueError(self._unseekable(where, st.st_mode))
            return
        self.atomic = True
        self.final = os.path.realpath(target)  # through symbolic links
        directory = os.path.dirname(self.final)
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=f".{os.path.basename(self.final)}.",
                                            suffix=".partial", dir=directory)
        except OSError as e:
            raise type(e)(e.errno, f"{where}: cannot create a temporary file in {directory!r} "
                          f"to write {target!r}: {e.strerror}") from None
        self._stat = st
        self.file = os.fdopen(fd, "w+b")

    def _unseekable(self, where: str, mode: int) -> str:
        return (f"{where}: {self.target!r} is {_kind(mode)}, which cannot be rewound; a .npy "
                "header holds the record count, written when the stream ends, so it needs a "
                "regular file (or write raw records with to_file)")

    def commit(self) -> None:
        """Flush to disk and rename the temporary file to the target (on failure:
        :meth:`abort` and raise).  For a FIFO or device: flush and close."""
        try:
            f = self.file
            f.flush()
            if not self.atomic:
                f.close()
                return
            os.fsync(f.fileno())
            f.close()
            assert self.tmp is not None
            st = self._stat
            if st is None:
                os.chmod(self.tmp, 0o666 & ~_umask())
            else:
                _copy_owner(self.tmp, st)
                os.chmod(self.tmp, stat.S_IMODE(st.st_mode) & ~0o6000)
            os.replace(self.tmp, self.final)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Close and delete the temporary file; the target is left as it was
        (a FIFO or device keeps what was written to it)."""
        try:
            self.file.close()
        except OSError:
            pass
        if self.tmp is not None:
            _remove(self.tmp)


def _copy_owner(path: str, st: os.stat_result) -> None:
    """Give `path` the owner and group of `st` where allowed (root; a group the
    user belongs to); silently keep the user's otherwise."""
    if os.name != "posix" or (st.st_uid == os.geteuid() and st.st_gid == os.getegid()):
        return
    for uid in (st.st_uid, -1):
        try:
            os.chown(path, uid, st.st_gid)
            return
        except OSError:
            continue


@contextlib.contextmanager
def atomic_output(path: PathLike, where: str, force: bool = False) -> Iterator[IO[bytes]]:
    """A binary file that becomes `path` only if the ``with`` block completes
    (see :class:`AtomicFile`).

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "out.bin")
    >>> with atomic_output(p, "example") as f:
    ...     _ = f.write(b"abc")
    >>> open(p, "rb").read()
    b'abc'
    """
    out = AtomicFile(path, where, force)
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


def check_data_dtype(dtype: np.dtype, where: str) -> np.dtype:
    """Refuse dtypes whose bytes are pointers (``object``, numpy's variable-width
    ``StringDType``, structured dtypes with such a field): written to a file
    they would store memory addresses of this process, not data.

    Raises
    ------
    TypeError
        For such a dtype.

    Examples
    --------
    >>> check_data_dtype(np.dtype("f8"), "to_npy")
    dtype('float64')
    """
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise TypeError(
            f"{where}: a stream of dtype {dtype} holds pointers to Python objects, not data; "
            "writing it would store memory addresses. Convert the records to a numeric or "
            "fixed-width dtype first (e.g. .astype(np.float64) or .map(..., dtype='U16'))")
    return dtype


class ChunkWriter:
    """Writes chunks of one dtype and record shape to a file that appears atomically.

    The temporary file is created at construction; :meth:`finish` renames it
    to the target, :meth:`abort` deletes it.  FIFOs, devices and descriptor
    paths are written directly, symbolic links are written through, and a
    write-protected target is refused unless `force` (see
    :class:`AtomicFile`).

    Parameters
    ----------
    path : str or path-like
        Target file; its directory must exist.
    dtype : numpy.dtype
        The chunks' dtype; not one that holds pointers (``object``).
    record_shape : tuple of int
        The chunks' record shape.
    where : str
        Names the sink in error messages (``"to_npy"``...).
    force : bool, default False
        Replace a write-protected target.

    Raises
    ------
    TypeError
        For a dtype that holds pointers (``object``...).
    PermissionError
        For a write-protected target without `force`.
    """

    #: The writer seeks back before finishing (a header): refuse FIFOs and the like.
    _seeks = False

    def __init__(self, path: PathLike, dtype: np.dtype, record_shape: tuple[int, ...],
                 where: str, force: bool = False) -> None:
        self.dtype = check_data_dtype(dtype, where)
        self.record_shape = tuple(record_shape)
        self.where = where
        self.count = 0
        self._out = AtomicFile(path, where, force, self._seeks)

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

    def __init__(self, path: PathLike, dtype: np.dtype, record_shape: tuple[int, ...],
                 force: bool = False) -> None:
        super().__init__(path, dtype, record_shape, "to_file", force)


class NpyWriter(ChunkWriter):
    """A ``.npy`` file (``Stream.to_npy``): room for the header is reserved
    first and the header is written once the length is known (so the target
    must be seekable: a FIFO is refused)."""

    _seeks = True

    def __init__(self, path: PathLike, dtype: np.dtype, record_shape: tuple[int, ...],
                 force: bool = False) -> None:
        super().__init__(path, dtype, record_shape, "to_npy", force)
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
                 fmt: Any = None, delimiter: str = " ", header: str | None = None,
                 force: bool = False) -> None:
        dtype = np.dtype(dtype)
        if dtype.kind not in "biuf":
            raise TypeError(f"to_text: cannot write {dtype} records as numeric text")
        super().__init__(path, dtype, record_shape, "to_text", force)
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
