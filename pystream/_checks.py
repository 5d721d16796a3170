"""Argument checks and small guards shared by every layer (imports numpy only).

Validators of counts, record shapes, ``nan_policy`` and ``ddof``; the NaN
errors of ``nan_policy="raise"``; the one-thread-at-a-time guard of the
C-backed states; and the unpickler of those states.
"""

from __future__ import annotations

import math
import operator
import threading
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np

__all__ = ["DEFAULT_DDOF", "adopt_arrays", "NAN_POLICIES", "NanPolicy", "StateLock", "as_int", "check_count",
           "check_ddof", "check_nan_policy", "check_quantile", "first_nan_record", "nan_error", "nan_policy_error",
           "normalize_record_shape", "restore_state"]


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


def check_count(value: object, name: str, where: str, minimum: int = 0,
                maximum: int | None = None) -> int:
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
    maximum : int, optional
        Largest allowed value (default: no limit).

    Returns
    -------
    int
        `value` as a Python int.

    Raises
    ------
    TypeError
        If `value` is not an integer (bools are refused too).
    ValueError
        If `value` is smaller than `minimum` or larger than `maximum`.

    Examples
    --------
    >>> check_count(5, "n", "take")
    5
    """
    n = as_int(value, f"{name} must be an integer", where)
    if n < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {n}")
    if maximum is not None and n > maximum:
        raise ValueError(f"{where}: {name} must be <= {maximum}, got {n}")
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


NanPolicy = Literal["propagate", "omit", "raise"]
NAN_POLICIES: tuple[str, ...] = ("propagate", "omit", "raise")


def check_nan_policy(nan_policy: object, where: str = "nan_policy") -> str:
    """Validate ``nan_policy`` (scipy's names); ``where`` prefixes the message."""
    if not isinstance(nan_policy, str) or nan_policy not in NAN_POLICIES:
        raise ValueError(
            f"{where}: nan_policy must be one of {', '.join(map(repr, NAN_POLICIES))}, "
            f"got {nan_policy!r}"
        )
    return nan_policy


def nan_policy_error(where: str, record: int) -> ValueError:
    """The error of ``nan_policy="raise"``: `where` met a NaN at global `record`."""
    return ValueError(f"{where}: NaN at record {record} (nan_policy='raise'); use "
                      "nan_policy='omit' to ignore NaNs or 'propagate' to return NaN")


def check_ddof(ddof: object, where: str = "ddof") -> float:
    """Validate ``ddof``: a finite real number >= 0 (numpy's meaning); bools
    are refused.  ``where`` prefixes the message."""
    if isinstance(ddof, (bool, np.bool_)) or not isinstance(
        ddof, (int, float, np.integer, np.floating)
    ):
        raise TypeError(
            f"{where}: ddof must be a non-negative number, got {ddof!r} of type "
            f"{type(ddof).__name__}"
        )
    if not math.isfinite(ddof) or ddof < 0:
        raise ValueError(f"{where}: ddof must be finite and >= 0, got {ddof!r}")
    return ddof  # type: ignore[return-value]


class StateLock:
    """Refuses concurrent use of one state: cffi releases the GIL in C."""

    __slots__ = ("lock", "what")

    def __init__(self, lock: threading.Lock, what: str) -> None:
        self.lock = lock
        self.what = what

    def __enter__(self) -> None:
        if not self.lock.acquire(blocking=False):
            raise RuntimeError(
                f"{self.what}: this state is in use by another thread. "
                "A state is owned by one thread at a time: give each thread its "
                "own state (for Moments: Moments(start=...), merged afterwards)."
            )

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


def restore_state(cls: Any, data: bytes, *args: Any) -> Any:
    """``cls.from_bytes(data, *args)``: the unpickler of the C-backed states.

    A module-level function rather than the bound classmethod, which
    cloudpickle (used by Dask) would serialize by value, C library included.
    """
    return cls.from_bytes(data, *args)


#: The default ``ddof`` of the variance *stages* (``moving_var``/``moving_std``,
#: ``cumvar``/``cumstd``): 1, the sample variance, as pandas' ``rolling``,
#: ``expanding`` and ``ewm`` and polars' ``rolling_std``.  The *reducers*
#: (``Stream.var``/``std``, ``describe``, ``Moments``) keep numpy's 0
#: (see docs/design.md, "ddof: stages follow pandas, reducers follow numpy").
DEFAULT_DDOF = 1


def check_quantile(q: object, where: str) -> float:
    """Validate a quantile: a real number in [0, 1].

    Examples
    --------
    >>> check_quantile(0.25, "moving_quantile")
    0.25
    """
    if isinstance(q, bool) or not isinstance(q, (int, float)) and not hasattr(q, "__float__"):
        raise TypeError(f"{where}: q must be a number in [0, 1], got {q!r}")
    try:
        value = float(q)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{where}: q must be a number in [0, 1], got {q!r}") from None
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise ValueError(f"{where}: q must be in [0, 1], got {q!r}")
    return value


def adopt_arrays(fresh: Any, state: Any, names: tuple[str, ...], where: str) -> None:
    """Give `fresh` (a new state object) copies of the arrays ``state[name]``,
    each of the dtype and shape of ``fresh.<name>``, or raise ValueError saying
    which is corrupt (unpickling a state held in numpy arrays)."""
    for name in names:
        like = getattr(fresh, name)
        a = state.get(name)
        if not isinstance(a, np.ndarray) or a.dtype != like.dtype or a.shape != like.shape:
            raise ValueError(f"{where}: corrupt state: {name} must be {like.dtype} "
                             f"of shape {like.shape}")
        setattr(fresh, name, np.ascontiguousarray(a).copy())
