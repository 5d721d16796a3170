"""Binary inputs without memory maps: ``.npy`` headers, checked paths, record
reading (why no memory map: :doc:`/internals/binary-io`).
"""

from __future__ import annotations

import ast
import dataclasses
import math
import os
import stat
import struct
import threading
from collections.abc import Callable, Generator, Iterator
from typing import Any

import numpy as np

from ._buffers import BufferPool

__all__ = ["MAX_HEADER_BYTES", "NPY_HEADER_LOCK", "NPY_MAGIC", "READ_BYTES", "NpyFormatError",
           "NpyHeader", "check_path", "check_size", "npy_records", "open_path", "read_exact",
           "read_full", "read_npy_header", "read_header_path", "read_records"]

#: numpy's limit on an array's number of dimensions (``NPY_MAXDIMS``, 64
#: since numpy 2.0; 32 before).
_MAX_DIMS = 64 if int(np.__version__.split(".")[0]) >= 2 else 32

#: The first bytes of every ``.npy`` file.
NPY_MAGIC = b"\x93NUMPY"
#: Longest header accepted, as numpy's ``np.load`` (``max_header_size``):
#: the header is a Python literal, and a huge one is slow or unsafe to parse.
MAX_HEADER_BYTES = 10_000

#: The header dict is parsed with ``ast.literal_eval``, and CPython 3.11's AST
#: constructor is not thread-safe (a worker of the threads engine opening one
#: file while another opened the next failed with "SystemError: AST
#: constructor recursion depth mismatch"): headers are parsed one at a time.
NPY_HEADER_LOCK = threading.Lock()

_VERSIONS = {(1, 0): ("<H", "latin1"), (2, 0): ("<I", "latin1"), (3, 0): ("<I", "utf-8")}


@dataclasses.dataclass(frozen=True)
class NpyHeader:
    """What a ``.npy`` header says.

    Attributes
    ----------
    version : tuple of int
        Format version, ``(1, 0)``, ``(2, 0)`` or ``(3, 0)``.
    dtype : numpy.dtype
        Element dtype as stored (any byte order).
    shape : tuple of int
        Shape of the stored array.
    fortran_order : bool
        True for a Fortran-ordered (column-major) array.
    data_offset : int
        Bytes from the start of the file to the first data byte.
    """

    version: tuple[int, int]
    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool
    data_offset: int

    @property
    def count(self) -> int:
        """Records in the file (the first dimension; 1 for a 0-d array)."""
        return self.shape[0] if self.shape else 1

    @property
    def record_shape(self) -> tuple[int, ...]:
        return self.shape[1:]

    @property
    def record_bytes(self) -> int:
        return self.dtype.itemsize * math.prod(self.shape[1:])

    @property
    def nbytes(self) -> int:
        """Bytes of data the header announces."""
        return self.count * self.record_bytes

    @property
    def by_columns(self) -> bool:
        """The values of a record are not contiguous and in C order in the
        file (Fortran order with more than one value per record)."""
        return self.fortran_order and math.prod(self.shape[1:]) > 1


class NpyFormatError(ValueError):
    """Input that is not a ``.npy`` file; ``reason`` says why, without the file's name."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _bad(name: str, reason: str, where: str) -> NpyFormatError:
    head = f"{where}: " if where else ""
    return NpyFormatError(f"{head}{name} is not a valid .npy file: {reason}", reason)


def read_exact(f: Any, n: int) -> bytes:
    """Up to `n` bytes of `f`, fewer only at end of input (pipes return short reads)."""
    out = b""
    while len(out) < n:
        more = f.read(n - len(out))
        if more is None:
            raise BlockingIOError("the file is non-blocking and has no data available")
        if not more:
            break
        out += more
    return out


def _literal(text: str) -> Any:
    with NPY_HEADER_LOCK:
        return ast.literal_eval(text)


def read_npy_header(f: Any, name: str, where: str = "from_npy") -> NpyHeader:
    """Read a ``.npy`` header from the current position of binary file `f`.

    Reads exactly the header's bytes (so it works on pipes: the data
    follows), checks it as ``np.load`` does, and returns its contents.

    Parameters
    ----------
    f : binary file object
        Positioned at the magic string.
    name : str
        How to name the input in messages (``"'x.npy'"``, ``"<stdin>"``).
    where : str, optional
        Prefix of messages (the public function), ``""`` for none.

    Returns
    -------
    NpyHeader
        ``data_offset`` counts from the position where the header starts.

    Raises
    ------
    ValueError
        For input that is not a ``.npy`` file (with the reason: empty, no
        magic string, a ``.npz`` archive, unsupported version, truncated or
        malformed header).
    TypeError
        For an array of Python objects.
    """
    magic = read_exact(f, len(NPY_MAGIC))
    if magic != NPY_MAGIC:
        if not magic:
            raise _bad(name, "it is empty", where)
        if magic.startswith(b"PK\x03\x04"):
            head = f"{where}: " if where else ""
            raise ValueError(
                f"{head}{name} is a .npz archive, not a .npy file; open it with np.load and "
                "stream one of its arrays with from_array()")
        if NPY_MAGIC.startswith(magic):
            raise _bad(name, f"it ends after {len(magic)} bytes, inside the magic string", where)
        raise _bad(name, f"it does not start with the .npy magic string (it starts with "
                         f"{magic[:6]!r})", where)
    version_bytes = read_exact(f, 2)
    if len(version_bytes) < 2:
        raise _bad(name, "it ends inside the header (no format version)", where)
    version = (version_bytes[0], version_bytes[1])
    if version not in _VERSIONS:
        raise _bad(name, f"unsupported format version {version[0]}.{version[1]} (pystream reads "
                         "1.0, 2.0 and 3.0)", where)
    fmt, encoding = _VERSIONS[version]
    size_bytes = read_exact(f, struct.calcsize(fmt))
    if len(size_bytes) < struct.calcsize(fmt):
        raise _bad(name, "it ends inside the header (no header length)", where)
    (hlen,) = struct.unpack(fmt, size_bytes)
    if hlen > MAX_HEADER_BYTES:
        raise _bad(name, f"its header is {hlen:,} bytes long; numpy's np.load refuses headers "
                         f"over {MAX_HEADER_BYTES:,} bytes by default, and so does pystream", where)
    raw = read_exact(f, hlen)
    if len(raw) < hlen:
        raise _bad(name, f"it ends inside the header ({len(raw)} of {hlen} bytes)", where)
    data_offset = len(NPY_MAGIC) + 2 + struct.calcsize(fmt) + hlen
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise _bad(name, f"its header is not {encoding} text ({e.reason} at byte {e.start})",
                   where) from None
    try:
        d = _literal(text)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        raise _bad(name, f"its header is not a Python literal: {text.strip()!r:.200}", where) from None
    keys = {"descr", "fortran_order", "shape"}
    if not isinstance(d, dict) or set(d) != keys:
        raise _bad(name, "its header is not a dict with the keys 'descr', 'fortran_order' and "
                         f"'shape': {text.strip()!r:.200}", where)
    shape = d["shape"]
    if not (isinstance(shape, tuple)
            and all(type(n) is int and n >= 0 for n in shape)):
        raise _bad(name, f"its header's shape {shape!r:.100} is not a tuple of non-negative ints",
                   where)
    if len(shape) > _MAX_DIMS:
        raise _bad(name, f"its header's shape has {len(shape)} dimensions; numpy arrays have at "
                         f"most {_MAX_DIMS}", where)
    if not isinstance(d["fortran_order"], bool):
        raise _bad(name, f"its header's fortran_order {d['fortran_order']!r:.50} is not a bool",
                   where)
    try:
        dtype = np.lib.format.descr_to_dtype(d["descr"])
    except (TypeError, ValueError, KeyError, IndexError) as e:
        raise _bad(name, f"its header's descr {d['descr']!r:.100} is not a dtype: {e}",
                   where) from None
    if dtype.hasobject:
        head = f"{where}: " if where else ""
        raise TypeError(
            f"{head}{name} holds Python objects (an object array); only arrays of plain "
            "numeric dtypes can be streamed")
    if dtype.subdtype is not None:  # a subarray dtype: its dimensions are record dimensions
        if d["fortran_order"]:
            raise _bad(name, f"it holds a Fortran-order array of subarray dtype {dtype}, which "
                             "numpy itself does not write", where)
        dtype, sub = dtype.subdtype
        shape = shape + sub
    return NpyHeader(version, dtype, shape, d["fortran_order"], data_offset)


# --------------------------------------------------------------------------- paths


def check_path(path: Any, where: str) -> tuple[str, bool]:
    """Check that `path` names something to read; return ``(path, regular)``.

    ``regular`` is True for a regular file (sizes and random access are
    meaningful), False for a FIFO or a character or block device, which are
    read once, in order.

    Raises
    ------
    FileNotFoundError
        If nothing is there, or the path is a broken symbolic link.
    IsADirectoryError
        For a directory.
    ValueError
        For a socket.
    OSError
        If the path cannot be examined (permissions, a symbolic link loop).
    """
    p = os.fsdecode(os.fspath(path))
    try:
        st = os.stat(p)
    except FileNotFoundError:
        if os.path.islink(p):
            raise FileNotFoundError(
                f"{where}: {p!r} is a broken symbolic link (to {os.readlink(p)!r}, which does "
                "not exist)") from None
        raise FileNotFoundError(f"{where}: no such file: {p!r}") from None
    except OSError as e:
        raise OSError(e.errno, f"{where}: cannot examine {p!r}: {e.strerror}") from None
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{where}: {p!r} is a directory, not a file")
    if stat.S_ISREG(mode):
        return p, True
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return p, False
    kind = "a socket" if stat.S_ISSOCK(mode) else "not a file"
    raise ValueError(f"{where}: {p!r} is {kind}; expected a file, a FIFO or a device")


def open_path(p: str, where: str) -> Any:
    """``open(p, "rb", buffering=0)`` with errors that name the caller and the path."""
    try:
        return open(p, "rb", buffering=0)  # noqa: SIM115 -- the caller closes
    except OSError as e:
        raise OSError(e.errno, f"{where}: cannot open {p!r}: {e.strerror}") from None


def read_header_path(p: str, where: str = "from_npy") -> NpyHeader:
    """The header of the ``.npy`` file `p` (a regular file), with its size checked.

    Raises
    ------
    ValueError
        As :func:`read_npy_header`, and if the file holds less data than its
        header announces.
    """
    with open_path(p, where) as f:
        header = read_npy_header(f, repr(p), where)
        check_size(header, os.fstat(f.fileno()).st_size, repr(p), where)
    return header


def check_size(header: NpyHeader, size: int, name: str, where: str) -> None:
    """Refuse a regular file shorter than its header announces."""
    have = size - header.data_offset
    if have < header.nbytes:
        rb = header.record_bytes
        raise ValueError(
            f"{where}: {name} is truncated: its header announces {header.count:,} records "
            f"({header.nbytes:,} bytes of data) but the file holds {max(have, 0):,} bytes after "
            f"the {header.data_offset}-byte header ({max(have, 0) // rb:,} whole records)")


# --------------------------------------------------------------------------- reading


def read_full(f: Any, buf: np.ndarray, readinto: Callable[[Any], Any] | None, where: str) -> int:
    """Fill `buf` from `f` until it is full or EOF; return the byte count."""
    n = len(buf)
    got = 0
    while got < n:
        if readinto is not None:
            k = readinto(buf[got:] if got else buf)
        else:
            data = f.read(n - got)
            k = len(data) if data is not None else None
            if k:
                buf[got : got + k] = np.frombuffer(data, np.uint8)
        if k is None:
            raise BlockingIOError(f"{where}: the file is non-blocking and has no data available")
        if k == 0:
            break
        got += k
    return got


#: Bytes asked of the kernel per read from a regular file: several chunks at a
#: time.  Reading 1 MiB per call instead of one 128 KiB chunk cut the time of
#: a warm-cache ``from_npy(...).sum()`` by about a third (fewer system calls and
#: page-cache lookups); pipes and devices are read a chunk at a time, so that a
#: slow writer's data comes out as soon as a chunk is complete.
READ_BYTES = 1 << 20


def read_records(
    f: Any,
    dtype: np.dtype,
    record_shape: tuple[int, ...],
    chunk_size: int,
    count: int | None,
    where: str,
    batch: bool = True,
) -> Generator[np.ndarray, None, tuple[int, int]]:
    """Chunks of `count` records (None: up to EOF) read from `f`'s position.

    Chunks are views of buffers of a :class:`~pystream._buffers.BufferPool`
    (reused once nothing refers to them).  With `batch`, one read fills
    several chunks (:data:`READ_BYTES`).  Stops early at EOF and returns
    ``(records read, bytes of a trailing partial record)``; the caller
    decides whether that is an error (records before it are yielded).
    """
    rb = dtype.itemsize * math.prod(record_shape)
    per_read = max(1, READ_BYTES // (chunk_size * rb)) if batch else 1
    block = chunk_size * per_read
    first = block if count is None else min(block, count)
    if first <= 0:
        return 0, 0
    pool = BufferPool(first * rb)
    readinto = getattr(f, "readinto", None)
    done = 0
    while count is None or done < count:
        k = block if count is None else min(block, count - done)
        nbytes = k * rb
        raw = pool.get(nbytes)[:nbytes]
        got = read_full(f, raw, readinto, where)
        nrec = got // rb
        for a in range(0, nrec, chunk_size):
            b = min(a + chunk_size, nrec)
            chunk = raw[a * rb : b * rb].view(dtype).reshape((b - a, *record_shape))
            yield chunk
            del chunk  # so the pool sees the buffer free once downstream drops it
        del raw
        done += nrec
        if got < nbytes:
            return done, got - nrec * rb
    return done, 0


def npy_records(
    f: Any,
    name: str,
    header: NpyHeader,
    lo: int,
    hi: int,
    chunk_size: int,
    seek: bool,
    where: str = "from_npy",
) -> Iterator[np.ndarray]:
    """Chunks of records ``[lo, hi)`` of the ``.npy`` data of open file `f`.

    With `seek`, `f` (a regular file) is positioned here (offsets relative
    to the header's start at position 0); without, `f` must stand at record
    `lo` (a pipe read in order).  Chunks are views of reused buffers (see
    :func:`read_records`).  Fortran-ordered records are gathered one value
    column at a time (one read per value of a record per chunk; `f` must be
    seekable).

    Raises
    ------
    ValueError
        If the data ends before record `hi` (the message names the file and
        the record where the data ended; the records before it are yielded).
    """
    dt, rs, rb = header.dtype, header.record_shape, header.record_bytes
    if hi <= lo:
        return
    if rb == 0:  # records of zero bytes: nothing to read
        for a in range(lo, hi, chunk_size):
            yield np.empty((min(chunk_size, hi - a), *rs), dt)
        return
    if not header.by_columns:
        if seek:
            f.seek(header.data_offset + lo * rb)
        done, _ = yield from read_records(f, dt, rs, chunk_size, hi - lo, where, batch=seek)
        if done < hi - lo:
            _truncated(name, header, lo + done, where, seek)
        return
    if not seek:
        raise ValueError(
            f"{where}: {name} is in Fortran order, so its records are not contiguous and can "
            "only be gathered from a seekable file, not read in order from a pipe; save it in "
            "C order (np.save(path, np.ascontiguousarray(a)))")
    readinto = getattr(f, "readinto", None)
    pool = BufferPool(min(chunk_size, hi - lo) * rb)
    isz = dt.itemsize
    ncols = math.prod(rs)
    pos = lo
    while pos < hi:
        k = min(chunk_size, hi - pos)
        nbytes = k * rb
        raw = pool.get(nbytes)[:nbytes]
        col = k * isz
        for c in range(ncols):
            f.seek(header.data_offset + (c * header.count + pos) * isz)
            got = read_full(f, raw[c * col : (c + 1) * col], readinto, where)
            if got < col:
                _truncated(name, header, pos + got // isz, where, seek)
        # column c of the file holds value c (Fortran order) of every record
        chunk = raw.view(dt).reshape((*rs[::-1], k)).T
        del raw
        yield chunk
        del chunk
        pos += k


def _truncated(name: str, header: NpyHeader, record: int, where: str, seek: bool) -> None:
    what = ("the file is shorter than its header announces (truncated, possibly while it "
            "was read)" if seek else "the input ended early")
    raise ValueError(
        f"{where}: {name}: the data ends at record {record:,} of the {header.count:,} its header "
        f"announces: {what}")
