"""The probability argument of every quantile query (``q``, ``quantiles=``)."""

from __future__ import annotations

from typing import Any

import numpy as np


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
