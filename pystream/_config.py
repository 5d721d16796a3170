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
#:
#: 128 KiB, measured (benchmarks/bench_chunk_size.py, bench_core.py): a chunk
#: and a few temporaries of its size stay in L2 (2 MiB per core here), and
#: per-chunk Python cost (~0.3 us per fused stage, ~1.4 us per reducer
#: update) stays a few percent.  256 KiB was faster in isolated sweeps but,
#: in a generator pipeline (whose consumer still holds the previous chunk
#: while the next is computed), 256 KiB temporaries sit at glibc malloc's
#: dynamic mmap/trim thresholds: the heap is trimmed and re-faulted every
#: chunk (2e6 page faults over 1e8 values) and a 5-stage pipeline took 1.5x
#: the plain loop, against 1.02x at 128 KiB.  Reducers over in-memory arrays
#: do not depend on this value (they read the whole array in one call).
DEFAULT_CHUNK_BYTES: int = 128 * 1024


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
    16384
    >>> default_chunk_size("float32", (4,))
    8192
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
