"""``from_reader``: a random-access source from a ``read(start, stop)`` function.

What a plugin source (or any user code) returns so its streams run on the
parallel engines: the engines read partitions through the function.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Union

import numpy as np
from numpy.typing import DTypeLike

from .._checks import check_count, normalize_record_shape
from .._config import default_chunk_size
from ..engines.access import RandomAccess
from ..chain import CallableSource
from ..stream import Stream

__all__ = ["from_reader"]

Length = Union[int, Callable[[], int]]


def from_reader(read: Callable[[int, int], Any], length: Length, dtype: DTypeLike,
                record_shape: tuple[int, ...] = (), *, chunk_size: int | None = None,
                name: str | None = None) -> Stream:
    """A re-iterable, random-access stream of the records ``read(start, stop)`` returns.

    The stream reads ``read(0, k)``, ``read(k, 2k)``... in order; the
    threads and Dask engines (``engine="threads"``, ``"dask"``) call `read`
    for any range of their partitions, from several threads (or processes)
    at once.  So ``read(start, stop)`` must return the same records
    whenever it is asked for the same range, and be safe to call
    concurrently.  This is how a plugin source declares random access:
    return ``pystream.from_reader(...)`` from the source function.

    Parameters
    ----------
    read : callable
        ``read(start, stop)`` -> an ndarray of records ``[start, stop)``:
        shape ``(stop - start, *record_shape)``, dtype `dtype`.
    length : int or callable
        The number of records, or ``length()`` returning it (read when each
        run starts: a file may have grown).
    dtype : dtype-like
        The records' dtype (not ``object``).
    record_shape : tuple of int, optional
        Shape of one record; default ``()`` (scalars).
    chunk_size : int, optional
        Records per ``read`` call in order; default: pystream's default for
        the record size.
    name : str, optional
        Names the source in error messages; default ``from_reader(<read>)``.

    Returns
    -------
    Stream

    Raises
    ------
    TypeError
        If `read` is not callable, or `dtype` holds Python objects; during
        iteration, if `read` returns something that is not an ndarray of
        `dtype`.
    ValueError
        If `length` is negative; during iteration, if `read` returns
        another number of records or another record shape.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> def read(start, stop):
    ...     return np.arange(start, stop, dtype=np.float64) ** 2
    >>> s = ps.from_reader(read, 10, np.float64, chunk_size=4)
    >>> s.to_array()
    array([ 0.,  1.,  4.,  9., 16., 25., 36., 49., 64., 81.])
    >>> float(s.sum(engine="threads", workers=2, partition_size=3))
    285.0
    """
    if not callable(read):
        raise TypeError(f"from_reader: read must be callable, got {read!r}")
    dt = np.dtype(dtype)
    if dt.hasobject:
        raise TypeError(f"from_reader: object dtypes are not supported (got {dt}); streams hold "
                        "raw numeric data")
    rs = normalize_record_shape(record_shape, "from_reader")
    cs = (default_chunk_size(dt, rs) if chunk_size is None
          else check_count(chunk_size, "chunk_size", "from_reader", minimum=1))
    label = name if name is not None else \
        f"from_reader({getattr(read, '__qualname__', None) or type(read).__name__})"
    if callable(length):
        size = length

        def count() -> int:
            return check_count(size(), "length()", label)
    else:
        fixed = check_count(length, "length", "from_reader")

        def count() -> int:
            return fixed

    def block(a: int, b: int) -> np.ndarray:
        out = read(a, b)
        where = f"{label}: read({a}, {b})"
        if not isinstance(out, np.ndarray):
            raise TypeError(f"{where} returned a {type(out).__name__}, not a numpy array")
        out = np.asarray(out)  # a subclass: viewed as a plain array
        if out.dtype != dt:
            raise TypeError(f"{where} returned dtype {out.dtype}; the source declared {dt}")
        if out.shape != (b - a, *rs):
            raise ValueError(f"{where} returned shape {out.shape}; expected {(b - a, *rs)}")
        return out

    def chunks(a: int, b: int | None, size: int | None = None) -> Iterator[np.ndarray]:
        n = count()
        stop = n if b is None else min(b, n)
        step = size or cs
        for i in range(a, stop, step):
            yield block(i, min(i + step, stop))

    access = RandomAccess(label, count, chunks)
    return Stream._from_source(CallableSource(lambda: chunks(0, None), nonempty=True,
                                               access=access), dt, rs)
