"""Sources over binary files: ``.npy`` files and raw records (paths, file
objects, standard input)."""

from __future__ import annotations

import io
import math
import os
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

import numpy as np
from numpy.typing import DTypeLike

from .. import _text
from .._npy import (
    NpyHeader,
    check_path,
    check_size,
    npy_records,
    open_path,
    read_npy_header,
    read_header_path,
    read_records,
)
from .._checks import check_count, normalize_record_shape
from ..engines.access import RandomAccess
from ..chain import CallableSource, OneShotSource
from ..stream import Stream
from .common import PathLike, _check_dtype, _chunk_size, _is_path, _is_stdin


# --------------------------------------------------------------------------- from_npy


def _npy_opener(p: str, expected: NpyHeader) -> Callable[[], tuple[Any, NpyHeader]]:
    """Open regular file `p` and re-read its header; refuse it if it changed."""

    def opened() -> tuple[Any, NpyHeader]:
        f = open_path(p, "from_npy")
        try:
            h = read_npy_header(f, repr(p))
            if (h.dtype, h.shape, h.fortran_order) != (expected.dtype, expected.shape,
                                                       expected.fortran_order):
                order = lambda x: " Fortran order" if x.fortran_order else ""  # noqa: E731
                raise ValueError(
                    f"from_npy: {p!r} changed since the stream was made: now {h.shape} {h.dtype}"
                    f"{order(h)}, was {expected.shape} {expected.dtype}{order(expected)}")
            check_size(h, os.fstat(f.fileno()).st_size, repr(p), "from_npy")
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except BaseException:
            f.close()
            raise
        return f, h

    return opened


def _check_npy_header(h: NpyHeader, name: str, first: NpyHeader | None, first_name: str,
                      regular: bool) -> None:
    if not h.shape:
        raise ValueError(f"from_npy: {name} holds a 0-d array (a single value), which has no records")
    if first is not None and (h.dtype != first.dtype or h.record_shape != first.record_shape):
        raise ValueError(
            f"from_npy: {name} holds {h.dtype} records of shape {h.record_shape}, but "
            f"{first_name} holds {first.dtype} records of shape {first.record_shape}; all files "
            "must match")
    if h.by_columns and not regular:
        raise ValueError(
            f"from_npy: {name} is in Fortran order, so its records are not contiguous and can "
            "only be gathered from a regular file, not read in order from a pipe or device; "
            "save it in C order (np.save(path, np.ascontiguousarray(a)))")


def _npy_stream_object(obj: Any, chunk_size: int | None) -> Stream:
    """``from_npy`` on ``"-"`` or a binary file object: the header now, the data in order, once."""
    if _is_stdin(obj):
        f, name = sys.stdin.buffer, "<stdin>"
    else:
        f = obj
        if isinstance(f, io.TextIOBase):
            raise TypeError("from_npy: got a text-mode file; open the file in binary mode ('rb')")
        if not (hasattr(f, "readinto") or hasattr(f, "read")):
            raise TypeError(f"from_npy: expected a path, a list of paths, '-' or a binary file "
                            f"object, got {type(f).__name__}")
        name = _text.source_name(f)
    h = read_npy_header(f, name)
    _check_npy_header(h, name, None, name, regular=False)
    cs = _chunk_size(chunk_size, h.dtype, h.record_shape, "from_npy")
    src = OneShotSource(lambda: npy_records(f, name, h, 0, h.count, cs, seek=False), nonempty=True)
    return Stream._from_source(src, h.dtype, h.record_shape)


def from_npy(path: PathLike | IO[bytes] | Sequence[PathLike], chunk_size: int | None = None) -> Stream:
    """Stream a ``.npy`` file, or several in order, reading the data chunk by chunk.

    The data is read like :func:`from_file` reads a raw file: ``readinto``
    into a few reused chunk buffers, so the memory of a stream stays at a
    few chunks whatever the size of the file (the file is not memory-mapped:
    see "Binary sources" in the design notes for why, and what it costs).

    Parameters
    ----------
    path : str, path-like, binary file object, or a list/tuple of paths
        A ``.npy`` file holding an array of shape ``(N, *record_shape)``
        (format version 1.0, 2.0 or 3.0; C or Fortran order; any byte
        order); or several files with the same dtype and record shape,
        streamed one after the other as one stream (e.g. the shards a
        simulation wrote).  A path may also name a FIFO (a named pipe) or a
        device, which is read once, in order.  ``"-"`` reads a ``.npy``
        stream from ``sys.stdin.buffer``, and a binary file object is read
        from its current position (both one-shot; not closed).
    chunk_size : int, optional
        Records per chunk; default from
        :func:`pystream._config.default_chunk_size`.  Chunks do not span
        two files.

    Returns
    -------
    Stream
        The headers are read now (a FIFO or pipe: the first file's header,
        which waits for a writer); the data is read as chunks are used.
        Chunks live in reused buffers, reused only when nothing refers to
        them (keeping chunks, e.g. ``list(stream)``, is safe); Fortran-order
        records are gathered one value column at a time into
        Fortran-ordered chunks (C order is faster).  On regular files the
        stream is re-iterable and any range of records can be read on its
        own, so the ``"threads"`` and ``"dask"`` engines can split it into
        partitions (bit-identical results); with a FIFO, a device, ``"-"``
        or a file object it is one-shot and the engines refuse it.  Bytes
        after the records the header announces are ignored, as ``np.load``
        does.

    Raises
    ------
    FileNotFoundError
        If a file does not exist or is a broken symbolic link.
    IsADirectoryError
        If a path is a directory.
    ValueError
        If a file is not a ``.npy`` file (empty, no magic string, an
        unsupported version, a malformed header), is a ``.npz`` archive,
        holds a 0-d array, or is shorter than its header announces; if the
        files of a list differ in dtype or record shape, or the list is
        empty; for a Fortran-order file on a pipe; during iteration, if a
        file changed shape or dtype, or its data ends early (truncated
        while it is read: the message names the file and the record).
    TypeError
        If a file holds Python objects (object array or pickle).

    See Also
    --------
    from_file : raw binary files, read the same way.
    numpy.load : with ``mmap_mode="r"``, numpy's memory map (resident
        memory grows with the pages read).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> np.save(os.path.join(d, "a.npy"), np.arange(5.0))
    >>> from_npy(os.path.join(d, "a.npy"), chunk_size=2).to_array()
    array([0., 1., 2., 3., 4.])
    >>> np.save(os.path.join(d, "b.npy"), np.arange(5.0, 7.0))
    >>> from_npy([os.path.join(d, "a.npy"), os.path.join(d, "b.npy")]).to_array()
    array([0., 1., 2., 3., 4., 5., 6.])
    """
    if isinstance(path, (list, tuple)):
        if not path:
            raise ValueError("from_npy: the list of files is empty")
        for q in path:
            if not _is_path(q) or _is_stdin(q):
                raise TypeError(f"from_npy: a list holds paths only, got {q!r:.80}")
        items = list(path)
    elif _is_path(path) and not _is_stdin(path):
        items = [path]
    else:
        return _npy_stream_object(path, chunk_size)
    checked = [check_path(q, "from_npy") for q in items]
    paths = [p for p, _ in checked]
    headers: list[NpyHeader | None] = []
    first_file: Any = None  # a pipe's handle, its header read
    for i, (p, regular) in enumerate(checked):
        if regular:
            h: NpyHeader | None = read_header_path(p)
        elif i == 0:
            first_file = open_path(p, "from_npy")
            try:
                h = read_npy_header(first_file, repr(p))
            except BaseException:
                first_file.close()
                raise
        else:
            h = None  # a pipe after the first: its header is read when it is reached
        if h is not None:
            _check_npy_header(h, repr(p), headers[0] if headers else None, repr(paths[0]), regular)
        headers.append(h)
    first = headers[0]
    assert first is not None
    dt, rs = first.dtype, first.record_shape
    cs = _chunk_size(chunk_size, dt, rs, "from_npy")
    name = f"from_npy({paths[0]!r})" if len(paths) == 1 else f"from_npy([{len(paths)} files])"

    if all(regular for _, regular in checked):
        openers = [_npy_opener(p, h) for p, h in zip(paths, headers)]  # type: ignore[arg-type]
        bounds = [0]
        for h in headers:
            bounds.append(bounds[-1] + h.count)  # type: ignore[union-attr]

        def read(a: int, b: int | None, size: int | None = None) -> Iterator[np.ndarray]:
            stop = bounds[-1] if b is None else min(b, bounds[-1])
            for i, p in enumerate(paths):
                lo, hi = max(a, bounds[i]), min(stop, bounds[i + 1])
                if lo < hi:
                    f, h = openers[i]()
                    with f:
                        yield from npy_records(f, repr(p), h, lo - bounds[i], hi - bounds[i],
                                               size or cs, seek=True)

        access = RandomAccess(name, lambda: bounds[-1], read)
        return Stream._from_source(
            CallableSource(lambda: read(0, None, None), nonempty=True, access=access), dt, rs)

    def chunks() -> Iterator[np.ndarray]:
        for i, (p, regular) in enumerate(checked):
            h = headers[i]
            if i == 0 and first_file is not None:
                f = first_file
            elif regular:
                f, h = _npy_opener(p, h)()  # type: ignore[arg-type]
            else:
                f = open_path(p, "from_npy")
                try:
                    h = read_npy_header(f, repr(p))
                    _check_npy_header(h, repr(p), first, repr(paths[0]), regular=False)
                except BaseException:
                    f.close()
                    raise
            assert h is not None
            with f:
                yield from npy_records(f, repr(p), h, 0, h.count, cs, seek=regular)

    return Stream._from_source(OneShotSource(chunks, nonempty=True), dt, rs)


# --------------------------------------------------------------------------- from_file


def _file_chunks(
    opener: Callable[[], tuple[Any, bool]],
    name: str,
    dtype: np.dtype,
    record_shape: tuple[int, ...],
    offset: int,
    chunk_size: int,
    limit: int | None = None,
) -> Iterator[np.ndarray]:
    """Chunks of a raw file from byte `offset`; `limit` records (None: to EOF).

    A file that ends before `limit` records (it shrank since its length was
    read) raises ``ValueError``.
    """
    record_bytes = dtype.itemsize * math.prod(record_shape)
    f, owned = opener()
    try:
        regular = owned and stat.S_ISREG(os.fstat(f.fileno()).st_mode)
        if offset:
            _skip_bytes(f, offset, name, regular)
        done, rest = yield from read_records(f, dtype, record_shape, chunk_size, limit,
                                             "from_file", batch=regular)
        pos = offset + done * record_bytes
        if rest:
            raise ValueError(
                f"from_file: {name}: trailing partial record of {rest} bytes at byte offset "
                f"{pos} (a record is {record_bytes} bytes: dtype {dtype}, record shape "
                f"{record_shape})"
            )
        if limit is not None and done < limit:
            raise ValueError(
                f"from_file: {name}: the file ends at byte offset {pos}, before the "
                f"{limit - done:,} more records this range should hold (it was truncated while "
                "it was read)")
    finally:
        if owned:
            f.close()


def _skip_bytes(f: Any, offset: int, name: str, regular: bool) -> None:
    """Skip `offset` bytes: seek in a regular file we opened (checking its
    size) or a seekable file object, else read and drop them."""
    if regular:
        size = os.fstat(f.fileno()).st_size
        if offset > size:
            raise ValueError(f"from_file: {name}: offset {offset} is beyond the end of the "
                             f"file ({size} bytes)")
        f.seek(offset)
        return
    seekable = getattr(f, "seekable", None)
    if seekable is not None and seekable():
        f.seek(offset, io.SEEK_CUR)
        return
    left = offset
    while left:  # a pipe or a device: read the bytes and drop them
        data = f.read(min(left, 1 << 20))
        if not data:
            raise ValueError(f"from_file: {name}: offset {offset} is beyond the end of the input")
        left -= len(data)


def from_file(
    path: PathLike | IO[bytes] | Sequence[PathLike],
    dtype: DTypeLike,
    record_shape: tuple[int, ...] = (),
    offset: int = 0,
    chunk_size: int | None = None,
) -> Stream:
    """Stream a raw binary file of fixed-size records.

    The file is read with ``readinto`` into a small pool of reused buffers;
    a buffer is reused only when no chunk made from it is still referenced,
    so keeping chunks (e.g. ``list(stream)``) is always safe, and the memory
    of a stream stays at a few chunks whatever the size of the file.

    Parameters
    ----------
    path : str, path-like, binary file object, or a list/tuple of paths
        File to read.  ``"-"`` reads ``sys.stdin.buffer``.  File objects
        (and stdin) are read from their current position and give a
        one-shot stream; they are not closed.  A list of paths streams the
        files one after the other as one stream (each with the same
        `dtype`, `record_shape` and `offset`, e.g. shards of one recording).
        Regular files can be read in any range of records, so the
        ``"threads"`` and ``"dask"`` engines can split them into partitions.
        A path naming a FIFO (named pipe) or a device is read once, in order
        (`offset` bytes are read and dropped): the stream is then one-shot
        and the engines refuse it.
    dtype : dtype-like
        Element dtype as stored in the file (e.g. ``">f8"`` for big-endian).
    record_shape : tuple of int, optional
        Shape of one record; default ``()``.
    offset : int, optional
        Bytes to skip first (a header); default 0.
    chunk_size : int, optional
        Records per chunk; default from
        :func:`pystream._config.default_chunk_size`.

    Returns
    -------
    Stream
        A lazy stream (re-iterable for regular files).

    Raises
    ------
    FileNotFoundError
        If `path` (or a path of the list) does not exist or is a broken
        symbolic link.
    IsADirectoryError
        If a path is a directory.
    TypeError
        For a text-mode file object, an object dtype or an invalid argument.
    ValueError
        For records of zero bytes, an empty list or a socket; during
        iteration, for a trailing partial record (the message gives the file
        and its byte offset), an `offset` beyond the end of a file, or a file
        that shrank while a partition was read.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.bin")
    >>> np.arange(6, dtype=np.int32).tofile(path)
    >>> from_file(path, np.int32, record_shape=(2,)).to_array().tolist()
    [[0, 1], [2, 3], [4, 5]]
    """
    dt = _check_dtype(dtype, "from_file")
    rs = normalize_record_shape(record_shape, "from_file")
    if dt.itemsize * math.prod(rs) == 0:
        raise ValueError(f"from_file: records of dtype {dt} and shape {rs} have zero bytes")
    off = check_count(offset, "offset", "from_file")
    cs = _chunk_size(chunk_size, dt, rs, "from_file")

    if isinstance(path, (list, tuple)):
        if not path:
            raise ValueError("from_file: the list of files is empty")
        return _paths_stream([check_path(q, "from_file") for q in path], dt, rs, off, cs)
    if _is_path(path) and not _is_stdin(path):
        return _paths_stream([check_path(path, "from_file")], dt, rs, off, cs)
    opener: Callable[[], tuple[Any, bool]]
    if _is_stdin(path):
        name = "<stdin>"
        opener = lambda: (sys.stdin.buffer, False)
    else:
        f = path
        if isinstance(f, io.TextIOBase):
            raise TypeError("from_file: got a text-mode file; open the file in binary mode ('rb')")
        if not (hasattr(f, "readinto") or hasattr(f, "read")):
            raise TypeError(
                f"from_file: expected a path, '-' or a binary file object, got {type(f).__name__}"
            )
        name = _text.source_name(f)
        opener = lambda: (f, False)
    src = OneShotSource(lambda: _file_chunks(opener, name, dt, rs, off, cs), nonempty=True)
    return Stream._from_source(src, dt, rs)


def _paths_stream(checked: list[tuple[str, bool]], dt: np.dtype, rs: tuple[int, ...], off: int,
                  cs: int) -> Stream:
    """The stream of raw files, one after the other: with random access when
    all are regular files, else one-shot (FIFOs and devices are read once)."""
    paths = [p for p, _ in checked]
    record_bytes = dt.itemsize * math.prod(rs)

    def opener(q: str) -> Callable[[], tuple[Any, bool]]:
        return lambda: (open_path(q, "from_file"), True)  # closed by _file_chunks

    def chunks() -> Iterator[np.ndarray]:
        for q in paths:
            yield from _file_chunks(opener(q), repr(q), dt, rs, off, cs)

    if not all(regular for _, regular in checked):
        return Stream._from_source(OneShotSource(chunks, nonempty=True), dt, rs)

    def bounds() -> list[int]:
        """Cumulative record counts of the files, read when a run starts."""
        out = [0]
        for q in paths:
            try:
                size = os.stat(q).st_size
            except OSError as e:
                raise OSError(e.errno, f"from_file: cannot examine {q!r}: {e.strerror}") from None
            if off > size:
                raise ValueError(f"from_file: {q!r}: offset {off} is beyond the end of the file "
                                 f"({size} bytes)")
            out.append(out[-1] + (size - off) // record_bytes)
        return out

    def read(a: int, b: int | None, size: int | None = None) -> Iterator[np.ndarray]:
        edges = bounds()
        stop = edges[-1] if b is None else min(b, edges[-1])
        for i, q in enumerate(paths):
            lo, hi = max(a, edges[i]), min(stop, edges[i + 1])
            if lo >= hi and not (b is None and i == len(paths) - 1 and lo == hi):
                continue
            # A range reaching a file's end reads to EOF, so a trailing partial
            # record raises there as in the serial run.
            limit = None if hi == edges[i + 1] else hi - lo
            yield from _file_chunks(opener(q), repr(q), dt, rs, off + (lo - edges[i]) * record_bytes,
                                    size or cs, limit)

    name = f"from_file({paths[0]!r})" if len(paths) == 1 else f"from_file([{len(paths)} files])"
    access = RandomAccess(name, lambda: bounds()[-1], read)
    return Stream._from_source(CallableSource(chunks, nonempty=True, access=access), dt, rs)
