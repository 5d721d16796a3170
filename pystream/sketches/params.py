"""Argument checks of the sketches: the probabilities of every quantile query
(``q``, ``quantiles=``) and the parameters of :class:`~pystream.DDSketch`."""

from __future__ import annotations

import numbers
import operator
from typing import Any

import numpy as np

from .._native import lib

ALPHA_MIN = 1e-5
ALPHA_MAX = 0.5


def check_probabilities(q: Any, where: str, name: str = "q") -> np.ndarray:
    """`q` as a float64 array of probabilities in [0, 1].

    Raises
    ------
    TypeError
        When `q` is not numeric (a string such as ``"0.5"``, a bool, an
        object): numpy's own functions refuse strings too.
    ValueError
        When a probability is NaN or outside [0, 1].
    """
    if isinstance(q, (str, bytes, bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be a number or a sequence of numbers in "
                        f"[0, 1], not {type(q).__name__} {q!r}")
    try:
        raw = np.asarray(q)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: {name} must be a number or a sequence of numbers in "
                        f"[0, 1]; got {q!r}") from None
    if raw.dtype.kind not in "iuf":
        raise TypeError(f"{where}: {name} must be a number or a sequence of numbers in "
                        f"[0, 1]; got {q!r} ({raw.dtype} values)")
    qa = np.array(raw, dtype=np.float64, order="C")
    bad = ~((qa >= 0.0) & (qa <= 1.0))
    if bad.any():
        raise ValueError(f"{where}: {name} must be in [0, 1] (and not NaN); got "
                         f"{qa[bad].ravel()[0]!r}")
    return qa


def _check_alpha(alpha: object) -> float:
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"DDSketch: alpha must be a real number, got {alpha!r}")
    a = float(alpha)
    if not (ALPHA_MIN <= a <= ALPHA_MAX):
        raise ValueError(f"DDSketch: alpha must be in [{ALPHA_MIN}, {ALPHA_MAX}], got {alpha!r}")
    return a


def _check_max_buckets(max_buckets: object) -> int:
    if isinstance(max_buckets, (bool, np.bool_)):
        raise TypeError(f"DDSketch: max_buckets must be an integer, got {max_buckets!r}")
    try:
        mb = operator.index(max_buckets)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"DDSketch: max_buckets must be an integer, got {max_buckets!r}") from None
    limit = int(lib.PS_DDSKETCH_MAX_BUCKETS_LIMIT)
    if not 1 <= mb <= limit:
        raise ValueError(f"DDSketch: max_buckets must be in [1, {limit}], got {mb}")
    return mb


def _as_float_array(values: Any, what: str) -> tuple[np.ndarray, bool]:
    """``values`` as a contiguous float64 array, and whether it was a scalar."""
    scalar = np.ndim(values) == 0 and not isinstance(values, np.ndarray)
    try:
        arr = np.asarray(values, dtype=np.float64)
        if not arr.flags.c_contiguous:  # (np.ascontiguousarray would make 0-d 1-d)
            arr = arr.copy(order="C")
    except (TypeError, ValueError) as exc:
        raise TypeError(f"DDSketch.{what}: expected a number or an array of numbers, "
                        f"got {values!r}") from exc
    return arr, scalar
