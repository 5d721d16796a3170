"""Tunable defaults of pystream (chunk sizing).

``DEFAULT_CHUNK_BYTES`` is read at call time by :func:`default_chunk_size`,
so it can be changed (or monkeypatched in tests/benchmarks) at run time.
"""

from __future__ import annotations

import math
import operator

import numpy as np
from numpy.typing import DTypeLike

__all__ = ["DEFAULT_CHUNK_BYTES", "default_chunk_size"]

#: Target size in bytes of one chunk made by the built-in sources.
#: 256 KiB keeps a chunk (and a couple of temporaries of the same size)
#: inside a typical L2 cache while making per-chunk Python overhead
#: negligible (~8 chunks per MiB).
DEFAULT_CHUNK_BYTES: int = 256 * 1024


def default_chunk_size(dtype: DTypeLike, record_shape: tuple[int, ...] = ()) -> int:
    """Return the default number of records per chunk.

    Parameters
    ----------
    dtype : dtype-like
        Element type of the stream.
    record_shape : tuple of int, optional
        Shape of one record (``()`` for a scalar stream).

    Returns
    -------
    int
        ``DEFAULT_CHUNK_BYTES // record_bytes`` records, at least 1.  For
        records of zero bytes, ``DEFAULT_CHUNK_BYTES // 8``.

    Raises
    ------
    TypeError
        If `dtype` is not a valid dtype or `record_shape` holds non-integers.
    ValueError
        If `record_shape` has a negative dimension.

    Examples
    --------
    >>> default_chunk_size("float64")
    32768
    >>> default_chunk_size("float32", (4,))
    16384
    """
    dt = np.dtype(dtype)
    shape = tuple(operator.index(d) for d in record_shape)
    if any(d < 0 for d in shape):
        raise ValueError(f"default_chunk_size: negative dimension in record_shape {shape}")
    record_bytes = dt.itemsize * math.prod(shape)
    target = int(DEFAULT_CHUNK_BYTES)
    if record_bytes <= 0:
        return max(1, target // 8)
    return max(1, target // record_bytes)
