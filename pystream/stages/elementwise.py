"""Stateless stages: ``map``, ``filter``, ``astype`` and ``select``, each a
*chunk function* ``chunk -> chunk`` that a :class:`~pystream.stream.Stream`
fuses with its neighbours into one loop (``docs/internals/stages.rst``).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._checks import as_int

__all__ = [
    "AstypeFn",
    "FilterFn",
    "MapFn",
    "SelectFn",
    "infer_map_output",
    "normalize_columns",
]

_ndarray = np.ndarray
_BOOL = np.dtype(bool)

ColumnsLike = int | slice | Sequence[int] | np.ndarray


def infer_map_output(
    func: Callable[[np.ndarray], Any], dtype: np.dtype, record_shape: tuple[int, ...]
) -> tuple[np.dtype, tuple[int, ...]] | None:
    """Infer the output dtype and record shape of `func` from an empty chunk.

    Parameters
    ----------
    func : callable
        The chunk function given to ``Stream.map``.
    dtype : numpy.dtype
        Input dtype.
    record_shape : tuple of int
        Input record shape.

    Returns
    -------
    tuple or None
        ``(dtype, record_shape)`` of ``func(np.empty((0, *record_shape), dtype))``,
        or None when that call raises or does not return an array with zero
        records (then the caller falls back to the first real chunk).

    Examples
    --------
    >>> import numpy as np
    >>> infer_map_output(np.sqrt, np.dtype("int32"), ())
    (dtype('float64'), ())
    """
    empty = np.empty((0, *record_shape), dtype)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with np.errstate(all="ignore"):
                out = func(empty)
    except Exception:  # noqa: BLE001 -- any failure on an empty chunk: infer from real data
        return None
    if not isinstance(out, np.ndarray) or out.ndim == 0 or out.shape[0] != 0:
        return None
    return out.dtype, tuple(out.shape[1:])


class MapFn:
    """Chunk function of ``Stream.map``: apply `func` to whole chunks.

    Parameters
    ----------
    func : callable
        ``func(chunk) -> array`` with one output record per input record.
    dtype : numpy.dtype, optional
        Output dtype.  None while unknown (see :meth:`set_meta`).
    record_shape : tuple of int, optional
        Output record shape.  None while unknown.
    cast : bool, optional
        If True, outputs of another dtype are cast to `dtype` (the user
        asked for it with ``map(func, dtype=...)``); otherwise a dtype that
        differs from the inferred one is an error.

    Examples
    --------
    >>> import numpy as np
    >>> f = MapFn(np.negative, np.dtype("int64"), ())
    >>> f(np.arange(3))
    array([ 0, -1, -2])
    """

    __slots__ = ("cast", "dtype", "func", "ndim", "record_shape")

    def __init__(
        self,
        func: Callable[[np.ndarray], Any],
        dtype: np.dtype | None = None,
        record_shape: tuple[int, ...] | None = None,
        cast: bool = False,
    ) -> None:
        self.func = func
        self.cast = cast
        self.dtype: np.dtype | None = None
        self.record_shape: tuple[int, ...] | None = None
        self.ndim = -1
        if dtype is not None and record_shape is not None:
            self.set_meta(dtype, record_shape)
        else:
            self.dtype = dtype

    def set_meta(self, dtype: np.dtype, record_shape: tuple[int, ...]) -> None:
        """Fix the output dtype and record shape checked on every chunk.

        Parameters
        ----------
        dtype : numpy.dtype
            Output dtype.
        record_shape : tuple of int
            Output record shape.

        Returns
        -------
        None

        Examples
        --------
        >>> import numpy as np
        >>> f = MapFn(np.abs)
        >>> f.set_meta(np.dtype("float64"), ())
        """
        self.dtype = np.dtype(dtype)
        self.record_shape = tuple(record_shape)
        self.ndim = 1 + len(self.record_shape)

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        """Apply the function to one chunk, checking the output in O(1).

        Parameters
        ----------
        chunk : ndarray
            Input chunk of shape ``(k, *record_shape)``.

        Returns
        -------
        ndarray
            Output chunk of shape ``(k, *output_record_shape)``.

        Raises
        ------
        ValueError
            If the output does not have one record per input record, or its
            record shape changes.
        TypeError
            If the output dtype differs from the inferred one (pass ``dtype=``
            to ``map`` to cast instead).

        Examples
        --------
        >>> import numpy as np
        >>> MapFn(np.square, np.dtype("int64"), ())(np.arange(3))
        array([0, 1, 4])
        """
        out = self.func(chunk)
        if (
            type(out) is not _ndarray  # not .__class__, which a subclass may fake
            or out.dtype is not self.dtype
            or out.ndim != self.ndim
            or out.shape[0] != chunk.shape[0]
            or out.shape[1:] != self.record_shape
        ):
            return self._slow(out, chunk)
        return out

    def _slow(self, out: Any, chunk: np.ndarray) -> np.ndarray:
        k = chunk.shape[0]
        name = getattr(self.func, "__name__", repr(self.func))
        if not isinstance(out, np.ndarray):
            if isinstance(out, np.generic) or np.isscalar(out) or out is None:
                raise ValueError(
                    f"map: {name} returned a scalar ({type(out).__name__}) for a chunk of {k} "
                    "records; map functions must return one output record per input record "
                    "(use filter() to drop records, or a reducer such as sum() to aggregate)"
                )
            out = np.asarray(out)
        elif type(out) is not np.ndarray:
            if isinstance(out, np.ma.MaskedArray):
                raise TypeError(f"map: {name} returned a masked array; return a plain ndarray")
            out = np.asarray(out)  # geometry from the buffer, not the subclass's attributes
        if out.ndim == 0 or out.shape[0] != k:
            raise ValueError(
                f"map: {name} turned a chunk of {k} records into an array of shape {out.shape}; "
                "map functions must keep the record count (one output record per input "
                "record) -- use filter() to drop records, or a reducer to aggregate"
            )
        if self.dtype is None or self.record_shape is None:
            # Output metadata not known yet (we are being used to infer it).
            return out
        if out.shape[1:] != self.record_shape:
            raise ValueError(
                f"map: {name} returned records of shape {out.shape[1:]}, but the stream's "
                f"record shape is {self.record_shape} (inferred from the first call); the "
                "record shape must not change from chunk to chunk"
            )
        if out.dtype != self.dtype:
            if not self.cast:
                raise TypeError(
                    f"map: {name} returned dtype {out.dtype}, but the stream's dtype is "
                    f"{self.dtype} (inferred from the first call); pass dtype= to map() to "
                    "cast the output to a fixed dtype"
                )
            out = out.astype(self.dtype)
        return out

    def __repr__(self) -> str:
        name = getattr(self.func, "__name__", repr(self.func))
        return f"map({name})"


class FilterFn:
    """Chunk function of ``Stream.filter``: keep records where ``predicate(chunk)`` is True.

    Parameters
    ----------
    predicate : callable
        ``predicate(chunk) -> mask``, a boolean array of shape ``(k,)``.

    Examples
    --------
    >>> import numpy as np
    >>> FilterFn(lambda c: c % 2 == 0)(np.arange(5))
    array([0, 2, 4])
    """

    __slots__ = ("predicate",)

    def __init__(self, predicate: Callable[[np.ndarray], Any]) -> None:
        self.predicate = predicate

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        """Return the records of `chunk` selected by the predicate's mask.

        Parameters
        ----------
        chunk : ndarray
            Input chunk.

        Returns
        -------
        ndarray
            ``chunk[mask]`` (possibly empty).

        Raises
        ------
        TypeError
            If the mask is not boolean.
        ValueError
            If the mask does not have shape ``(k,)``.

        Examples
        --------
        >>> import numpy as np
        >>> FilterFn(lambda c: c > 1)(np.arange(4))
        array([2, 3])
        """
        return chunk[self.mask(chunk)]

    def mask(self, chunk: np.ndarray) -> np.ndarray:
        """The predicate's mask for `chunk`, checked (what ``__call__`` selects with;
        the time and key columns are selected with it too).

        Examples
        --------
        >>> import numpy as np
        >>> FilterFn(lambda c: c > 1).mask(np.arange(4))
        array([False, False,  True,  True])
        """
        mask = self.predicate(chunk)
        if type(mask) is not _ndarray or mask.dtype is not _BOOL or mask.shape != chunk.shape[:1]:
            mask = self._check(mask, chunk)
        return mask

    def _check(self, mask: Any, chunk: np.ndarray) -> np.ndarray:
        name = getattr(self.predicate, "__name__", repr(self.predicate))
        k = chunk.shape[0]
        mask = np.asarray(mask)
        if mask.dtype != _BOOL:
            raise TypeError(
                f"filter: {name} must return a boolean mask (one bool per record), got an array "
                f"of dtype {mask.dtype}; e.g. filter(lambda c: c > 0)"
            )
        if mask.shape != (k,):
            hint = ""
            if chunk.ndim > 1:
                axes = tuple(range(1, chunk.ndim))
                hint = (
                    "; for record streams reduce the record axes, e.g. "
                    f"filter(lambda c: (c > 0).all(axis={axes if len(axes) > 1 else axes[0]}))"
                )
            raise ValueError(
                f"filter: {name} must return a boolean mask of shape ({k},) for a chunk of {k} "
                f"records, got shape {mask.shape}{hint}"
            )
        return mask

    def __repr__(self) -> str:
        return f"filter({getattr(self.predicate, '__name__', repr(self.predicate))})"


class AstypeFn:
    """Chunk function of ``Stream.astype``: cast chunks to `dtype`.

    Parameters
    ----------
    dtype : numpy.dtype
        Target dtype.
    casting : {"no", "equiv", "safe", "same_kind", "unsafe"}, optional
        Casting rule, as in :meth:`numpy.ndarray.astype`.

    Examples
    --------
    >>> import numpy as np
    >>> AstypeFn(np.dtype("float32"))(np.arange(3))
    array([0., 1., 2.], dtype=float32)
    """

    __slots__ = ("casting", "dtype")

    def __init__(self, dtype: np.dtype, casting: str = "unsafe") -> None:
        self.dtype = dtype
        self.casting = casting

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        """Cast one chunk.

        Parameters
        ----------
        chunk : ndarray
            Input chunk.

        Returns
        -------
        ndarray
            ``chunk.astype(dtype)`` (a new array).

        Raises
        ------
        TypeError
            If the cast is not allowed under the casting rule.

        Examples
        --------
        >>> import numpy as np
        >>> AstypeFn(np.dtype("int8"))(np.array([1.7, -2.2]))
        array([ 1, -2], dtype=int8)
        """
        return chunk.astype(self.dtype, casting=self.casting)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"astype({self.dtype})"


class SelectFn:
    """Chunk function of ``Stream.select``: index the first record axis.

    Parameters
    ----------
    index : int, slice or ndarray of int
        A normalized index (see :func:`normalize_columns`).

    Examples
    --------
    >>> import numpy as np
    >>> SelectFn(slice(0, 2))(np.arange(6).reshape(2, 3))
    array([[0, 1],
           [3, 4]])
    """

    __slots__ = ("index",)

    def __init__(self, index: int | slice | np.ndarray) -> None:
        self.index = index

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        """Select the columns of one chunk.

        Parameters
        ----------
        chunk : ndarray
            Input chunk of shape ``(k, n, ...)``.

        Returns
        -------
        ndarray
            ``chunk[:, index]`` (a view for int and slice indices).

        Examples
        --------
        >>> import numpy as np
        >>> SelectFn(1)(np.arange(6).reshape(2, 3))
        array([1, 4])
        """
        return chunk[:, self.index]

    def __repr__(self) -> str:
        return f"select({self.index!r})"


def normalize_columns(
    columns: ColumnsLike, record_shape: tuple[int, ...]
) -> tuple[int | slice | np.ndarray, tuple[int, ...]]:
    """Check a ``select`` argument and compute the new record shape.

    Lists of columns that form an arithmetic progression are turned into
    slices, so the selection stays a zero-copy view.

    Parameters
    ----------
    columns : int, slice or sequence of int
        Columns to keep (indices into the first record axis; negative
        indices count from the end).
    record_shape : tuple of int
        Record shape of the input stream.

    Returns
    -------
    index : int, slice or ndarray of int
        Index to apply as ``chunk[:, index]``.
    record_shape : tuple of int
        Record shape of the output stream.

    Raises
    ------
    ValueError
        For a scalar stream, or when nothing is selected.
    IndexError
        When a column is out of range.
    TypeError
        For indices that are not integers, slices or sequences of integers.

    Examples
    --------
    >>> normalize_columns([0, 1, 2], (4,))
    (slice(0, 3, 1), (3,))
    >>> normalize_columns(-1, (4, 2))
    (3, (2,))
    """
    if not record_shape:
        raise ValueError(
            "select: the stream has scalar records (record_shape ()); select() picks columns "
            "of record streams, e.g. records of shape (3,)"
        )
    n = record_shape[0]
    rest = record_shape[1:]

    def one(c: object) -> int:
        i = as_int(c, "column indices must be integers", "select")
        if not -n <= i < n:
            raise IndexError(
                f"select: column {i} is out of range for records of shape {record_shape} "
                f"(valid columns: {-n} .. {n - 1})"
            )
        return i + n if i < 0 else i

    if isinstance(columns, slice):
        count = len(range(n)[columns])
        if count == 0:
            raise ValueError(f"select: {columns!r} selects no column of records of shape {record_shape}")
        return columns, (count, *rest)
    if isinstance(columns, (int, np.integer)) or (
        isinstance(columns, np.ndarray) and columns.ndim == 0
    ):
        return one(columns), rest
    if isinstance(columns, (str, bytes)) or not isinstance(columns, (Sequence, np.ndarray)):
        raise TypeError(
            "select: columns must be an int, a slice or a sequence of ints, "
            f"got {columns!r} of type {type(columns).__name__}"
        )
    cols = [one(c) for c in np.asarray(columns, dtype=object).ravel().tolist()] if isinstance(
        columns, np.ndarray
    ) else [one(c) for c in columns]
    if isinstance(columns, np.ndarray) and columns.ndim != 1:
        raise TypeError(f"select: a column array must be 1-d, got shape {columns.shape}")
    if not cols:
        raise ValueError("select: the list of columns is empty")
    shape = (len(cols), *rest)
    if len(cols) == 1:
        return slice(cols[0], cols[0] + 1), shape
    step = cols[1] - cols[0]
    if step != 0 and all(b - a == step for a, b in itertools.pairwise(cols)):
        stop = cols[-1] + step
        return slice(cols[0], stop if stop >= 0 else None, step), shape
    return np.asarray(cols, dtype=np.intp), shape
