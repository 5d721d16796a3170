"""Structural stages: ``take``, ``skip`` and ``rechunk``.

Each stage is a plain generator function ``(chunks, ...) -> chunks`` with a
record counter as its only state.  They never copy data except where
``rechunk`` must join the pieces of a chunk that spans several input chunks.
They never yield empty chunks, and they close their upstream iterator when
they finish early (so files are released promptly).

The argument checks shared by stages and sources (``check_count``,
``normalize_record_shape``) live here too.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator

import numpy as np

__all__ = ["check_count", "first_nan_record", "nan_error", "normalize_record_shape", "rechunk",
           "skip", "take"]


def as_int(value: object, requirement: str, where: str) -> int:
    """Return `value` as a Python int; bools and non-integers raise TypeError.

    ``requirement`` is the message's rule, e.g. ``"n must be an integer"``.

    Examples
    --------
    >>> as_int(3, "n must be an integer", "take")
    3
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {requirement}, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(
            f"{where}: {requirement}, got {value!r} of type {type(value).__name__}"
        ) from None


def first_nan_record(chunk: np.ndarray) -> int:
    """Index of the first record of `chunk` holding a NaN, or -1 (also for non-float data).

    Examples
    --------
    >>> first_nan_record(np.array([[1.0, 2.0], [3.0, np.nan]]))
    1
    """
    if chunk.dtype.kind not in "fc":
        return -1
    isnan = np.isnan(chunk)
    if not isnan.any():
        return -1
    if chunk.ndim > 1:
        isnan = isnan.reshape(len(chunk), -1).any(axis=1)
    return int(np.argmax(isnan))


def nan_error(where: str, index: int) -> ValueError:
    """The error of ``nan_policy="raise"`` for a NaN at global record `index`."""
    return ValueError(f"{where}: NaN at record {index} (nan_policy='raise')")


def check_count(value: object, name: str, where: str, minimum: int = 0) -> int:
    """Validate a record count argument.

    Parameters
    ----------
    value : object
        The value passed by the user.
    name : str
        Name of the parameter (used in error messages).
    where : str
        Name of the calling function (used in error messages).
    minimum : int, optional
        Smallest allowed value.

    Returns
    -------
    int
        `value` as a Python int.

    Raises
    ------
    TypeError
        If `value` is not an integer (bools are refused too).
    ValueError
        If `value` is smaller than `minimum`.

    Examples
    --------
    >>> check_count(5, "n", "take")
    5
    """
    n = as_int(value, f"{name} must be an integer", where)
    if n < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {n}")
    return n


def normalize_record_shape(record_shape: object, where: str) -> tuple[int, ...]:
    """Validate a record shape argument and return it as a tuple of ints.

    Parameters
    ----------
    record_shape : int or sequence of int
        Shape of one record; an int ``n`` means ``(n,)``.
    where : str
        Name of the calling function (used in error messages).

    Returns
    -------
    tuple of int

    Raises
    ------
    TypeError
        If the shape is not an int or a sequence of ints.
    ValueError
        If a dimension is negative.

    Examples
    --------
    >>> normalize_record_shape(3, "from_file")
    (3,)
    >>> normalize_record_shape([2, 4], "from_file")
    (2, 4)
    """
    if isinstance(record_shape, (int, np.integer)) and not isinstance(record_shape, (bool, np.bool_)):
        dims: Iterable[object] = (record_shape,)
    else:
        try:
            dims = tuple(record_shape)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(
                f"{where}: record_shape must be a tuple of ints, got {record_shape!r}"
            ) from None
    out = []
    for d in dims:
        if isinstance(d, (bool, np.bool_)):
            raise TypeError(f"{where}: record_shape must be a tuple of ints, got {record_shape!r}")
        try:
            d = operator.index(d)
        except TypeError:
            raise TypeError(
                f"{where}: record_shape must be a tuple of ints, got {record_shape!r}"
            ) from None
        if d < 0:
            raise ValueError(f"{where}: record_shape has a negative dimension: {record_shape!r}")
        out.append(d)
    return tuple(out)


def _close(it: object) -> None:
    close = getattr(it, "close", None)
    if close is not None:
        close()


def take(chunks: Iterator[np.ndarray], n: int) -> Iterator[np.ndarray]:
    """Yield the first `n` records of `chunks`, then stop pulling upstream.

    Parameters
    ----------
    chunks : iterator of ndarray
        Upstream chunks.
    n : int
        Number of records to keep (``>= 0``).

    Returns
    -------
    iterator of ndarray
        Chunks (views of the upstream chunks) holding at most `n` records
        in total.  Once `n` records are out, upstream is not pulled again
        and is closed.

    Examples
    --------
    >>> import numpy as np
    >>> [c.tolist() for c in take(iter([np.arange(3), np.arange(3)]), 4)]
    [[0, 1, 2], [0]]
    """
    try:
        remaining = n
        if remaining <= 0:
            return
        for c in chunks:
            k = len(c)
            if k >= remaining:
                yield c[:remaining] if k > remaining else c
                return
            if k:
                remaining -= k
                yield c
    finally:
        _close(chunks)


def skip(chunks: Iterator[np.ndarray], n: int) -> Iterator[np.ndarray]:
    """Drop the first `n` records of `chunks` and yield the rest.

    Parameters
    ----------
    chunks : iterator of ndarray
        Upstream chunks.
    n : int
        Number of records to drop (``>= 0``).

    Returns
    -------
    iterator of ndarray
        The remaining chunks; the first one may be a view starting inside
        an upstream chunk.

    Examples
    --------
    >>> import numpy as np
    >>> [c.tolist() for c in skip(iter([np.arange(3), np.arange(3)]), 4)]
    [[1, 2]]
    """
    try:
        remaining = n
        for c in chunks:
            k = len(c)
            if k > remaining:
                yield c[remaining:] if remaining else c
                break
            remaining -= k
        else:
            return
        for c in chunks:
            if len(c):
                yield c
    finally:
        _close(chunks)


def rechunk(chunks: Iterator[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Regroup records into chunks of exactly `size` records (the last may be shorter).

    Parameters
    ----------
    chunks : iterator of ndarray
        Upstream chunks.
    size : int
        Records per output chunk (``>= 1``).

    Returns
    -------
    iterator of ndarray
        Chunks of `size` records, except possibly the last.  A chunk that
        lies inside one upstream chunk is a view; one that spans several is
        a new array (``np.concatenate``).

    Examples
    --------
    >>> import numpy as np
    >>> [c.tolist() for c in rechunk(iter([np.arange(3), np.arange(3, 8)]), 3)]
    [[0, 1, 2], [3, 4, 5], [6, 7]]
    """
    try:
        pending: list[np.ndarray] = []
        npending = 0
        for c in chunks:
            k = len(c)
            i = 0
            if npending:
                need = size - npending
                if k < need:
                    if k:
                        pending.append(c)
                        npending += k
                    continue
                pending.append(c[:need])
                out = np.concatenate(pending)
                pending = []
                npending = 0
                i = need
                yield out
                del out
            while k - i >= size:
                yield c[i : i + size] if (i or k != size) else c
                i += size
            if i < k:
                pending.append(c[i:] if i else c)
                npending = k - i
        if npending:
            yield pending[0] if len(pending) == 1 else np.concatenate(pending)
    finally:
        _close(chunks)
