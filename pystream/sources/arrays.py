"""Sources over data in memory: arrays, Dask arrays, chunks, iterables."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .._columns import Columns, KeyColumn, TimeColumn, as_key_codes, as_time_values, check_names
from .._native import read_only
from .._checks import check_count, normalize_record_shape
from ..engines.access import RandomAccess, array_chunks
from ..engines.dask import dask_source
from ..chain import CallableSource
from ..chain.steps import Triple
from ..stream import Stream
from .common import _check_dtype, _chunk_size, _source


# --------------------------------------------------------------------------- from_array


def from_array(a: ArrayLike, chunk_size: int | None = None, *, columns: Sequence[str] | None = None,
               time: ArrayLike | None = None, key: ArrayLike | None = None) -> Stream:
    """Stream the records of an array (zero-copy views).

    Parameters
    ----------
    a : array_like
        Array of shape ``(N, *record_shape)``.  ndarrays are used as they
        are (no copy); other array-likes go through :func:`numpy.asarray`.
    chunk_size : int, optional
        Records per chunk; default from
        :func:`pystream._config.default_chunk_size`.
    columns : sequence of str, optional
        Names of the record's columns (records of shape ``(len(columns),)``,
        or one name for scalar records): :attr:`Stream.columns`, ``select``
        by name, labelled output.
    time : array_like, optional
        One time per record: ``datetime64`` (any unit; stored as int64
        nanoseconds, UTC, shown as ``datetime64[ns]``) or real numbers.  It
        travels with the records (:meth:`Stream.batches`).
    key : array_like, optional
        One key per record: integers (used as the codes) or strings
        (dictionary encoded in first-seen order).

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
        not an integer; if `time` or `key` has a dtype they cannot have.
    ValueError
        If `time` or `key` does not hold one value per record, `time` has
        NaT or NaN, or `columns` does not name the record's columns.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(10.0)
    >>> s = from_array(x, chunk_size=4)
    >>> [len(c) for c in s]
    [4, 4, 2]
    >>> np.shares_memory(next(iter(s)), x)
    True
    >>> t = np.array(["2024-01-01T00", "2024-01-01T01"], dtype="datetime64[h]")
    >>> b = next(from_array([1.0, 2.0], time=t, key=["UA", "AA"]).batches())
    >>> str(b.time[1]), b.key.tolist()
    ('2024-01-01T01:00:00.000000000', [0, 1])
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

    table, triples, by_range = _array_columns(arr, cs, columns, time, key)
    access = RandomAccess(
        f"from_array(<{arr.dtype} array of shape {arr.shape}>)", lambda: len(arr),
        lambda a, b, size=None: array_chunks(arr, a, b, size or cs), in_memory=True, array=lambda: arr,
        triples=by_range)
    return Stream._from_source(CallableSource(chunks, nonempty=True, whole=arr, access=access,
                                              triples=triples),
                               arr.dtype, rs, table=table)


def _array_columns(arr: np.ndarray, cs: int, columns: Sequence[str] | None, time: ArrayLike | None,
                   key: ArrayLike | None
                   ) -> tuple[Columns, Callable[[], Iterator[Triple]] | None, Any]:
    """``from_array``'s column metadata and, with a time or key, its triples
    (all of them, and by range for the engines)."""
    rs = arr.shape[1:]
    names = None
    if columns is not None:
        if len(rs) > 1:
            raise ValueError(f"from_array: records of shape {rs} have no flat list of columns")
        names = check_names(columns, rs[0] if rs else 1, "from_array")
    n = len(arr)
    t = tc = None
    if time is not None:
        t, shown = as_time_values(time, n, "from_array")
        t = read_only(t)
        tc = TimeColumn(None, shown)
    k = kc = None
    if key is not None:
        k, dictionary = as_key_codes(key, n, "from_array")
        k = read_only(k)
        kc = KeyColumn(None, dictionary)
    table = Columns(names, tc, kc)
    if tc is None and kc is None:
        return table, None, None

    def by_range(a: int, b: int | None, size: int | None = None, keys: Any = None
                 ) -> Iterator[Triple]:
        stop = n if b is None else min(b, n)
        step = size or cs
        for i in range(a, stop, step):
            j = min(i + step, stop)
            yield arr[i:j], None if t is None else t[i:j], None if k is None else k[i:j]

    return table, lambda: by_range(0, None), by_range


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
    make, access = dask_source(array, None if chunk_size is None else
                               check_count(chunk_size, "chunk_size", "from_dask", minimum=1))
    dt = np.dtype(array.dtype)
    if dt.hasobject:
        raise TypeError(f"from_dask: object arrays are not supported (dtype {dt})")
    return Stream._from_source(CallableSource(make, nonempty=True, access=access), dt,
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
