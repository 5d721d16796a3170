"""Source factories: make a :class:`~pystream.stream.Stream` from data.

All sources are lazy: nothing is read until the stream is iterated (a
``.npy`` header is read up front to learn the dtype and shape).  Streams
over arrays and regular files can be iterated many times; streams over
iterators, file objects, stdin, FIFOs and devices are one-shot (a second
iteration raises RuntimeError).  Files are read, never memory-mapped (see
:mod:`pystream._npy`).
"""

from __future__ import annotations

import codecs
import io
import itertools
import math
import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import _text
from ._buffers import BufferPool  # noqa: F401 -- the readers' pool (tests patch it here)
from ._npy import (  # noqa: F401 -- NPY_HEADER_LOCK: re-exported
    NPY_HEADER_LOCK,
    NpyHeader,
    check_path,
    check_size,
    npy_records,
    open_path,
    read_header,
    read_header_path,
    read_records,
)
from ._config import default_chunk_size
from ._native import read_only
from ._checks import check_count, normalize_record_shape
from .engines.access import RandomAccess, array_chunks
from .stream import Stream, _CallableSource, _OneShotSource

__all__ = ["from_array", "from_chunks", "from_dask", "from_file", "from_iterable", "from_npy",
           "from_text"]

PathLike = Union[str, "os.PathLike[str]"]


# --------------------------------------------------------------------------- helpers


def _chunk_size(chunk_size: object, dtype: np.dtype, record_shape: tuple[int, ...], where: str) -> int:
    if chunk_size is None:
        return default_chunk_size(dtype, record_shape)
    return check_count(chunk_size, "chunk_size", where, minimum=1)


def _check_dtype(dtype: object, where: str) -> np.dtype:
    if dtype is None:
        raise TypeError(f"{where}: dtype is required (e.g. dtype=np.float64)")
    try:
        dt = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError as e:
        raise TypeError(f"{where}: invalid dtype {dtype!r}: {e}") from None
    if dt.hasobject:
        raise TypeError(f"{where}: object dtypes are not supported (got {dt}); streams hold raw numeric data")
    if dt.subdtype is not None:
        raise TypeError(
            f"{where}: dtype {dt} is a subarray dtype; pass the element dtype and the record "
            f"shape separately: dtype={dt.subdtype[0]}, record_shape={dt.subdtype[1]}"
        )
    return dt


def _is_path(obj: object) -> bool:
    return isinstance(obj, (str, bytes, os.PathLike))


def _fspath(path: PathLike, where: str) -> str:
    p = os.fsdecode(os.fspath(path))
    if not os.path.exists(p):
        raise FileNotFoundError(f"{where}: no such file: {p!r}")
    if os.path.isdir(p):
        raise IsADirectoryError(f"{where}: {p!r} is a directory, not a file")
    return p


def _source(make: Callable[[], Iterable[np.ndarray]], one_shot: bool, nonempty: bool) -> Any:
    return _OneShotSource(make, nonempty) if one_shot else _CallableSource(make, nonempty)


# --------------------------------------------------------------------------- from_array


def from_array(a: ArrayLike, chunk_size: int | None = None) -> Stream:
    """Stream the records of an array (zero-copy views).

    Parameters
    ----------
    a : array_like
        Array of shape ``(N, *record_shape)``.  ndarrays are used as they
        are (no copy); other array-likes go through :func:`numpy.asarray`.
    chunk_size : int, optional
        Records per chunk; default from
        :func:`pystream._config.default_chunk_size`.

    Returns
    -------
    Stream
        A re-iterable stream whose chunks are the views ``a[i:i + chunk_size]``,
        read-only: a ``map`` function, ``pipe`` generator, plugin stage or
        callback that writes to its input gets numpy's "assignment
        destination is read-only" error instead of changing `a`.

    Raises
    ------
    ValueError
        If `a` is 0-d or `chunk_size` < 1.
    TypeError
        If `a` has an object dtype, is a masked array, or `chunk_size` is
        not an integer.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(10.0)
    >>> s = from_array(x, chunk_size=4)
    >>> [len(c) for c in s]
    [4, 4, 2]
    >>> np.shares_memory(next(iter(s)), x)
    True
    """
    if isinstance(a, np.ma.MaskedArray):
        raise TypeError(
            "from_array: masked arrays are not supported; use a.filled(np.nan) or a.compressed()"
        )
    if not isinstance(a, np.ndarray):
        a = np.asarray(a)
    elif type(a) is not np.ndarray:
        a = np.asarray(a)  # a base-class view whose geometry comes from the buffer
    if a.ndim == 0:
        raise ValueError(
            f"from_array: a 0-d array (a single value, {a!r}) has no records; pass an array "
            "of shape (N, *record_shape), e.g. np.atleast_1d(a)"
        )
    if a.dtype.hasobject:
        raise TypeError(f"from_array: object arrays are not supported (dtype {a.dtype})")
    rs = tuple(a.shape[1:])
    cs = _chunk_size(chunk_size, a.dtype, rs, "from_array")
    arr = read_only(a)  # chunks are read-only views: user code cannot write to `a`

    def chunks() -> Iterator[np.ndarray]:
        n = len(arr)
        if n <= cs:
            if n:
                yield arr
            return
        for i in range(0, n, cs):
            yield arr[i : i + cs]

    access = RandomAccess(
        f"from_array(<{arr.dtype} array of shape {arr.shape}>)", lambda: len(arr),
        lambda a, b, size=None: array_chunks(arr, a, b, size or cs), in_memory=True, array=lambda: arr)
    return Stream._from_source(_CallableSource(chunks, nonempty=True, whole=arr, access=access),
                               arr.dtype, rs)


# --------------------------------------------------------------------------- from_dask


def from_dask(array: Any, chunk_size: int | None = None) -> Stream:
    """Stream the records (along axis 0) of a ``dask.array.Array``.

    Needs the optional dependency Dask (``pip install pystream-numeric[dask]``).
    With the default local engine the blocks are computed one after the
    other (with Dask's configured scheduler) and streamed in order, so
    memory holds one block at a time.  With ``engine="dask"`` a terminal
    operation becomes one Dask graph over the blocks (see :doc:`/engines`),
    which also runs on a ``distributed`` cluster; with ``engine="threads"``
    pystream's threads compute ranges of it.  Results are bit-identical on
    every engine.

    Parameters
    ----------
    array : dask.array.Array
        Shape ``(N, *record_shape)``, with known chunk sizes along axis 0.
        Chunks along the other axes are merged, so a block holds whole
        records.
    chunk_size : int, optional
        Records per chunk within a block; default: one chunk per block.

    Returns
    -------
    Stream
        A re-iterable stream (each iteration computes the blocks again;
        ``array.persist()`` first to compute them once).

    Raises
    ------
    ImportError
        If Dask is not installed.
    TypeError
        If `array` is not a Dask array, or has an object dtype.
    ValueError
        If `array` is 0-d or its chunk sizes along axis 0 are unknown.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> x = da.from_array(np.arange(10.0), chunks=4)
    >>> s = from_dask(x)
    >>> [len(c) for c in s]
    [4, 4, 2]
    >>> float(s.mean(engine="dask"))
    4.5
    """
    from .engines.dask import dask_source

    make, access = dask_source(array, None if chunk_size is None else
                               check_count(chunk_size, "chunk_size", "from_dask", minimum=1))
    dt = np.dtype(array.dtype)
    if dt.hasobject:
        raise TypeError(f"from_dask: object arrays are not supported (dtype {dt})")
    return Stream._from_source(_CallableSource(make, nonempty=True, access=access), dt,
                               tuple(int(d) for d in array.shape[1:]))


# --------------------------------------------------------------------------- from_chunks


def as_ndarray(data: Any, dtype: np.dtype | None, where: str) -> np.ndarray:
    """`data` as a plain ndarray: ndarray subclasses are viewed, other objects
    (lists, scalars) converted to `dtype`; masked arrays are refused.

    Raises
    ------
    TypeError
        For a masked array (its mask would be lost) or data numpy cannot convert.
    """
    if type(data) is np.ndarray:
        return data
    if isinstance(data, np.ma.MaskedArray):
        raise TypeError(f"{where} is a masked array; use .filled() first")
    if isinstance(data, np.ndarray):
        return data.view(np.ndarray)
    try:
        return np.asarray(data, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{where} cannot be converted to an array: {e}") from None


def _validated_chunks(
    chunks: Iterable[Any], dtype: np.dtype | None, record_shape: tuple[int, ...] | None
) -> Iterator[np.ndarray]:
    offset = 0
    for i, c in enumerate(chunks):
        if type(c) is not np.ndarray:
            c = as_ndarray(c, dtype, f"from_chunks: chunk {i} (record offset {offset})")
        if c.ndim == 0:
            raise ValueError(
                f"from_chunks: chunk {i} (record offset {offset}) is 0-d; chunks must have shape "
                "(k, *record_shape)"
            )
        if dtype is None:
            if c.dtype.hasobject:
                raise TypeError(
                    f"from_chunks: chunk {i} (record offset {offset}) has object dtype; "
                    "streams hold raw numeric data"
                )
            dtype = c.dtype
        elif c.dtype != dtype:
            raise TypeError(
                f"from_chunks: chunk {i} (record offset {offset}) has dtype {c.dtype}, "
                f"expected {dtype}; cast the chunks, or stream them with dtype={c.dtype} and "
                "use .astype()"
            )
        if record_shape is None:
            record_shape = tuple(c.shape[1:])
        elif c.shape[1:] != record_shape:
            raise ValueError(
                f"from_chunks: chunk {i} (record offset {offset}) has shape {c.shape}, i.e. "
                f"records of shape {c.shape[1:]}, expected record shape {record_shape}"
            )
        offset += len(c)
        yield read_only(c)  # the caller's array: user code downstream must not write to it


def from_chunks(
    chunks: Iterable[ArrayLike],
    dtype: DTypeLike | None = None,
    record_shape: tuple[int, ...] | None = None,
    chunk_size: int | None = None,
) -> Stream:
    """Stream an iterable of chunks, validating each one.

    Parameters
    ----------
    chunks : iterable of array_like
        Chunks of shape ``(k, *record_shape)``.  A re-iterable (list,
        tuple) gives a re-iterable stream; an iterator or generator gives a
        one-shot stream.
    dtype : dtype-like, optional
        Expected dtype; default: the first chunk's.  Chunks of another
        dtype are refused (no silent casts); non-array chunks (lists) are
        converted to it.
    record_shape : tuple of int, optional
        Expected record shape; default: the first chunk's.
    chunk_size : int, optional
        If given, regroup into chunks of exactly this many records (the
        last may be shorter).  Default: keep the incoming chunks.

    Returns
    -------
    Stream
        A lazy stream.  If dtype or record shape must come from the first
        chunk, asking for them peeks at it (a one-shot iterator is not
        consumed: the chunk is kept for the iteration).

    Raises
    ------
    TypeError
        If `chunks` is not iterable or is a single array; during iteration,
        for a chunk of the wrong dtype (the message names the chunk number
        and its global record offset).
    ValueError
        During iteration, for a 0-d chunk or one with the wrong record shape.

    Examples
    --------
    >>> import numpy as np
    >>> s = from_chunks([np.zeros((2, 3)), np.ones((1, 3))])
    >>> s.record_shape, s.to_array().shape
    ((3,), (3, 3))
    """
    if isinstance(chunks, (np.ndarray, str, bytes)):
        raise TypeError(
            "from_chunks: expected an iterable of chunks, got a single "
            f"{type(chunks).__name__}; use from_array() for one array"
        )
    try:
        one_shot = iter(chunks) is chunks  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"from_chunks: expected an iterable of chunks, got {type(chunks).__name__}"
        ) from None
    dt = None if dtype is None else np.dtype(dtype)
    if dt is not None and dt.hasobject:
        raise TypeError(f"from_chunks: object dtypes are not supported (got {dt})")
    rs = None if record_shape is None else normalize_record_shape(record_shape, "from_chunks")
    cs = None if chunk_size is None else check_count(chunk_size, "chunk_size", "from_chunks", 1)
    src = _source(lambda: _validated_chunks(chunks, dt, rs), one_shot, nonempty=False)  # type: ignore[arg-type]

    def resolve(_stream: Stream) -> tuple[np.dtype, tuple[int, ...]]:
        # First raw chunk (empty ones included: they carry dtype and shape).
        it = src.peek()
        try:
            first = next(it, None)
        finally:
            it.close() if hasattr(it, "close") else None
        if first is None:
            return (dt if dt is not None else np.dtype(np.float64), rs if rs is not None else ())
        return (dt if dt is not None else first.dtype, rs if rs is not None else tuple(first.shape[1:]))

    stream = Stream._from_source(src, dt, rs, resolve)
    return stream if cs is None else stream.rechunk(cs)


# --------------------------------------------------------------------------- from_iterable


def _record_error(
    batch: list[Any], offset: int, dtype: np.dtype, record_shape: tuple[int, ...], err: Exception
) -> Exception:
    """Find the first bad record of `batch` and describe it."""
    for j, r in enumerate(batch):
        try:
            shape = np.shape(r)
        except ValueError:
            return ValueError(
                f"from_iterable: record {offset + j} is ragged ({r!r:.80}); expected records "
                f"of shape {record_shape}"
            )
        if shape != record_shape:
            what = "a scalar" if shape == () else f"shape {shape}"
            return ValueError(
                f"from_iterable: record {offset + j} ({r!r:.80}) has {what}, expected "
                + ("a scalar (record_shape ())" if record_shape == () else f"record_shape {record_shape}")
            )
        try:
            np.asarray(r, dtype=dtype)
        except (TypeError, ValueError) as e:
            return ValueError(
                f"from_iterable: record {offset + j} ({r!r:.80}) cannot be converted to {dtype}: {e}"
            )
    return ValueError(
        f"from_iterable: records {offset}..{offset + len(batch) - 1} cannot be converted to "
        f"{dtype} with record shape {record_shape}: {err}"
    )


def _batches(
    iterable: Iterable[Any], dtype: np.dtype, record_shape: tuple[int, ...], chunk_size: int
) -> Iterator[np.ndarray]:
    it = iter(iterable)
    offset = 0
    shape_ok = (None, *record_shape)
    while True:
        batch = list(itertools.islice(it, chunk_size))
        n = len(batch)
        if not n:
            return
        try:
            if record_shape:
                # np.array (not np.fromiter with a subarray dtype): fromiter
                # broadcasts short or scalar records instead of failing.
                arr = np.array(batch, dtype=dtype)
            else:
                arr = np.fromiter(batch, dtype=dtype, count=n)
        except (TypeError, ValueError) as e:
            raise _record_error(batch, offset, dtype, record_shape, e) from None
        if arr.shape[1:] != shape_ok[1:] or arr.ndim != len(shape_ok):
            raise _record_error(batch, offset, dtype, record_shape, ValueError("shape mismatch"))
        del batch
        yield arr
        offset += n
        if n < chunk_size:
            return


def from_iterable(
    iterable: Iterable[Any],
    dtype: DTypeLike,
    record_shape: tuple[int, ...] = (),
    chunk_size: int | None = None,
) -> Stream:
    """Stream the values of an iterable (scalars or fixed-shape records), in batches.

    Values are pulled ``chunk_size`` at a time and converted with numpy, so
    the Python cost is per value only while reading the iterable.

    Parameters
    ----------
    iterable : iterable
        Scalars (``record_shape=()``) or records (sequences / arrays of
        shape `record_shape`).  May be infinite.  An iterator or generator
        gives a one-shot stream; a list or range a re-iterable one.
    dtype : dtype-like
        Element dtype (required).
    record_shape : tuple of int, optional
        Shape of one record; default ``()``.
    chunk_size : int, optional
        Records per chunk; default from
        :func:`pystream._config.default_chunk_size`.

    Returns
    -------
    Stream
        A lazy stream.

    Raises
    ------
    TypeError
        If `dtype` is missing or invalid, or `iterable` is not iterable.
    ValueError
        During iteration, for a ragged record, a record of the wrong shape,
        or a value that cannot be converted (the message names the record
        number).

    Examples
    --------
    >>> s = from_iterable(((i, i * i) for i in range(3)), "int64", record_shape=(2,))
    >>> s.to_array().tolist()
    [[0, 0], [1, 1], [2, 4]]
    """
    dt = _check_dtype(dtype, "from_iterable")
    rs = normalize_record_shape(record_shape, "from_iterable")
    cs = _chunk_size(chunk_size, dt, rs, "from_iterable")
    if isinstance(iterable, np.ndarray):
        raise TypeError("from_iterable: got an ndarray; use from_array() for zero-copy chunks")
    try:
        one_shot = iter(iterable) is iterable
    except TypeError:
        raise TypeError(
            f"from_iterable: expected an iterable, got {type(iterable).__name__}"
        ) from None
    src = _source(lambda: _batches(iterable, dt, rs, cs), one_shot, nonempty=True)
    return Stream._from_source(src, dt, rs)


# --------------------------------------------------------------------------- from_npy


def _npy_opener(p: str, expected: NpyHeader) -> Callable[[], tuple[Any, NpyHeader]]:
    """Open regular file `p` and re-read its header; refuse it if it changed."""

    def opened() -> tuple[Any, NpyHeader]:
        f = open_path(p, "from_npy")
        try:
            h = read_header(f, repr(p))
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
    h = read_header(f, name)
    _check_npy_header(h, name, None, name, regular=False)
    cs = _chunk_size(chunk_size, h.dtype, h.record_shape, "from_npy")
    src = _OneShotSource(lambda: npy_records(f, name, h, 0, h.count, cs, seek=False), nonempty=True)
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
                h = read_header(first_file, repr(p))
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
            _CallableSource(lambda: read(0, None, None), nonempty=True, access=access), dt, rs)

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
                    h = read_header(f, repr(p))
                    _check_npy_header(h, repr(p), first, repr(paths[0]), regular=False)
                except BaseException:
                    f.close()
                    raise
            assert h is not None
            with f:
                yield from npy_records(f, repr(p), h, 0, h.count, cs, seek=regular)

    return Stream._from_source(_OneShotSource(chunks, nonempty=True), dt, rs)


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


def _is_stdin(path: object) -> bool:
    return isinstance(path, str) and path == "-"


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
    src = _OneShotSource(lambda: _file_chunks(opener, name, dt, rs, off, cs), nonempty=True)
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
        return Stream._from_source(_OneShotSource(chunks, nonempty=True), dt, rs)

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
    return Stream._from_source(_CallableSource(chunks, nonempty=True, access=access), dt, rs)


# --------------------------------------------------------------------------- from_text

def _text_chunks(
    source: Any,
    path: str | None,
    name: str,
    dtype: np.dtype,
    delimiter: str | None,
    usecols: list[int] | None,
    skiprows: int,
    comments: Any,
    quotechar: str | None,
    encoding: str,
    block_lines: int,
) -> Iterator[np.ndarray]:
    parser = _text.TextParser(name, dtype, delimiter, usecols, comments, quotechar)
    for lines, first_line, text, nlines in _text.read_blocks(source, path, name, block_lines, skiprows,
                                                             encoding):
        arr = parser.parse(lines, first_line, text, nlines)
        if len(arr):
            # One column -> scalar records (ncols is the same for every block).
            if arr.shape[1] == 1:
                arr = arr.reshape(len(arr))
            for i in range(0, len(arr), block_lines):  # at most chunk_size records per chunk
                yield arr[i:i + block_lines]


def _normalize_usecols(usecols: object) -> tuple[list[int] | None, tuple[int, ...] | None]:
    """Return (usecols as a list, record shape if known from `usecols`)."""
    if usecols is None:
        return None, None
    bad = TypeError(f"from_text: usecols must be an int or a sequence of ints, got {usecols!r}")
    if isinstance(usecols, (bool, np.bool_, str, bytes)):
        raise bad
    if isinstance(usecols, (int, np.integer)):
        return [int(usecols)], ()
    try:
        items = list(usecols)  # type: ignore[call-overload]
    except TypeError:
        raise bad from None
    if not all(isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_)) for c in items):
        raise bad
    if not items:
        raise ValueError("from_text: usecols is empty")
    cols = [int(c) for c in items]
    return cols, (() if len(cols) == 1 else (len(cols),))


def _check_char(value: object, name: str, allow_none: bool) -> str | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or len(value) != 1 or value in "\r\n":
        what = "a single character or None" if allow_none else "a single character"
        raise (TypeError if not isinstance(value, str) else ValueError)(
            f"from_text: {name} must be {what} (not a line break), got {value!r}"
        )
    return value


def from_text(
    path_or_file: PathLike | IO[str] | IO[bytes] | Iterable[str],
    delimiter: str | None = None,
    usecols: int | Sequence[int] | None = None,
    skiprows: int = 0,
    comments: str | Sequence[str] | None = "#",
    dtype: DTypeLike = np.float64,
    chunk_size: int | None = None,
    quotechar: str | None = '"',
    encoding: str = "utf-8",
) -> Stream:
    """Stream numeric text (CSV or whitespace-separated columns).

    The input is read in large blocks and each block is parsed by one
    :func:`numpy.loadtxt` call (numpy's C tokenizer and number parser).  One
    column gives a scalar stream; several give a record stream of record
    shape ``(ncols,)``.

    Every row is checked: it must have as many fields as the first data
    line, with or without `usecols` (a ragged row is a ValueError naming the
    input and the line, never a shifted column).  Quoted fields are
    tokenized as in RFC 4180 and pandas: a field that starts with
    `quotechar` runs to the closing quote, may hold the delimiter and
    comment characters, and ``""`` inside it is one quote, so text columns
    such as ``"Union County, Troy Shelton"`` can be skipped with `usecols`.
    A quoted numeric field (``"2.5"``) is read as a number.

    Parameters
    ----------
    path_or_file : str, path-like, file object or iterable of str
        A path (``.gz`` paths are decompressed), ``"-"`` for stdin, an open
        text or binary file, or any iterable of lines (str or bytes).  A
        path to a pipe, FIFO or other non-regular file (``/dev/fd/3``,
        ``<(cmd)``, ``/dev/stdin``), a file object, stdin and iterators give
        a one-shot stream: they are read once, front to back (never reopened
        or seeked).  Regular files and lists can be iterated many times.
    delimiter : str, optional
        Column separator (one character); default: runs of whitespace.
    usecols : int or sequence of int, optional
        Columns to read, 0-based (negative: from the end of the row).  An
        int, or a single column, gives a scalar stream.  The other columns
        may hold anything (text, quoted text), but still count: every row
        must have the same number of fields.
    skiprows : int, optional
        Lines to skip at the start (headers); they still count for line
        numbers in errors.
    comments : str or sequence of str, optional
        Comment prefix(es): the rest of the line is ignored (not inside
        quotes); None disables comments.
    dtype : dtype-like, optional
        Numeric dtype of the values; default float64.
    chunk_size : int, optional
        At most that many records per chunk; default from
        :func:`pystream._config.default_chunk_size`.  Files are parsed in
        blocks of about ``32 * chunk_size`` characters (4 Ki to 1 Mi),
        iterables of lines ``chunk_size`` lines at a time.
    quotechar : str or None, optional
        Quote character (default ``'"'``, as pandas); None: quotes are
        ordinary characters.  A quote opens a quoted field only at the start
        of a field.  A quoted field must close on its own line: a line
        break inside quotes, or an unterminated quote, is a ValueError.
    encoding : str, optional
        Encoding of paths, stdin and binary file objects (default UTF-8).
        Text file objects and iterables of str are already decoded.

    Returns
    -------
    Stream
        A lazy stream.  Without `usecols`, the record shape is found by
        parsing the first block when first needed (a one-shot source keeps
        that block for the iteration).

    Raises
    ------
    FileNotFoundError
        If the path does not exist.
    TypeError
        For a non-numeric dtype, invalid `usecols`, `delimiter` or
        `quotechar`.
    ValueError
        During iteration, naming the input (a path, ``<stdin>``, or a file
        object's ``name``) and the line (1-based, counting every line of
        the input, headers and comments included): a value that cannot be
        parsed (with its column, 0-based like `usecols`), a row with
        another number of fields than the first data line, a `usecols`
        column that the rows do not have, a quoted field that does not
        close on its line, bytes that are not valid in `encoding` (with
        the byte offset in the input), or corrupted or truncated gzip data.

    Notes
    -----
    Differences from :func:`pandas.read_csv`: an empty field is an error,
    not NaN; blank lines and comment lines are skipped, but a line of only
    spaces is a row (of one field) when `delimiter` is not whitespace; a
    line break inside a quoted field is refused; there is no header
    inference (use `skiprows`).

    Examples
    --------
    >>> s = from_text(["# x y\\n", "1,2\\n", "3,4\\n"], delimiter=",")
    >>> s.record_shape, s.to_array().tolist()
    ((2,), [[1.0, 2.0], [3.0, 4.0]])
    >>> lines = ['id,name,lat\\n', '1,"Troy, AL",31.8\\n', '2,"a ""b"" c",40.1\\n']
    >>> from_text(lines, delimiter=",", usecols=2, skiprows=1).to_array().tolist()
    [31.8, 40.1]
    """
    dt = _check_dtype(dtype, "from_text")
    if dt.kind not in "biufc":
        raise TypeError(f"from_text: dtype must be numeric (bool, int, float, complex), got {dt}")
    cols, rs = _normalize_usecols(usecols)
    skip = check_count(skiprows, "skiprows", "from_text")
    block = _chunk_size(chunk_size, dt, (), "from_text")
    if delimiter is not None:
        _check_char(delimiter, "delimiter", allow_none=True)
    quote = _check_char(quotechar, "quotechar", allow_none=True)
    if quote is not None and quote == delimiter:
        raise ValueError(f"from_text: quotechar and delimiter are the same character ({quote!r})")
    if not isinstance(encoding, str):
        raise TypeError(f"from_text: encoding must be a str, got {encoding!r}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"from_text: unknown encoding {encoding!r}") from None

    path: str | None = None
    if _is_stdin(path_or_file):
        name, one_shot, source = "<stdin>", True, path_or_file
    elif _is_path(path_or_file):
        path = _fspath(path_or_file, "from_text")  # type: ignore[arg-type]
        # A pipe, FIFO or device can be read once only: one-shot, one open.
        name, one_shot, source = repr(path), not stat.S_ISREG(os.stat(path).st_mode), path
    else:
        src_obj = path_or_file
        if not (hasattr(src_obj, "read") or hasattr(src_obj, "__iter__")):
            raise TypeError(
                "from_text: expected a path, '-', a file object or an iterable of lines, got "
                f"{type(src_obj).__name__}"
            )
        name = _text.source_name(src_obj)
        one_shot = hasattr(src_obj, "read") or iter(src_obj) is src_obj  # type: ignore[arg-type]
        source = src_obj

    src = _source(
        lambda: _text_chunks(source, path, name, dt, delimiter, cols, skip, comments, quote, encoding, block),
        one_shot,
        nonempty=True,
    )
    return Stream._from_source(src, dt, rs)
