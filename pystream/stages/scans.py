"""Scans in C: ``cumsum``, ``cumprod``, ``cummean``, ``cumvar``, ``cumstd``.

Float input accumulates in float64 (float32 never accumulates in float32);
``cumsum`` / ``cumprod`` of float64 are bit-identical to ``np.cumsum`` /
``np.cumprod`` (a sequential loop), and with ``nan_policy="omit"`` to
``np.nancumsum`` / ``np.nancumprod``.  Integer and bool input is summed or
multiplied exactly in int64 and an overflow raises ``OverflowError`` naming
the record (numpy wraps around silently).  ``cummean`` divides a compensated
running sum by the count, so its accuracy does not decay along an endless
stream; ``cumvar`` / ``cumstd`` use Welford's update.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .._native import check_status, ffi, kernel_dtype, lib
from ..reducers import check_ddof, check_nan_policy
from .kernel import KernelStage

__all__ = ["SCAN_STAGES", "Scan"]

#: The C-backed scan names.
SCAN_STAGES = ("cumsum", "cumprod", "cummean", "cumvar", "cumstd")
_INT_KERNELS = {"cumsum": "ps_cumsum_int64", "cumprod": "ps_cumprod_int64"}
_INT64_MAX = np.iinfo(np.int64).max


class Scan(KernelStage):
    """A running (cumulative) statistic: one output per input record.

    Parameters
    ----------
    name : {"cumsum", "cumprod", "cummean", "cumvar", "cumstd"}
    nan_policy : {"propagate", "omit", "raise"}, default "propagate"
        ``"propagate"``: from the first NaN on, every output is NaN (numpy's
        ``cumsum``); ``"omit"``: NaNs are skipped (``np.nancumsum``: a NaN
        counts as 0 in a sum, 1 in a product); ``"raise"``: ``ValueError``.
    ddof : float, default 0
        ``cumvar`` / ``cumstd`` only; NaN while ``count - ddof <= 0``.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> ps.from_array(np.array([1.0, 2.0, 3.0])).pipe(Scan("cummean")).to_array()
    array([1. , 1.5, 2. ])
    """

    def __init__(self, name: str, nan_policy: str = "propagate", ddof: float = 0) -> None:
        if name not in SCAN_STAGES:
            raise ValueError(f"Scan: unknown scan {name!r}; expected one of {SCAN_STAGES}")
        self.name = name  # type: ignore[misc]
        self.kernel = name
        self.nan_policy = check_nan_policy(nan_policy, name)
        params: dict[str, Any] = {}
        if name in ("cumvar", "cumstd"):
            params["ddof"] = float(check_ddof(ddof, name))
        elif ddof != 0:
            raise TypeError(f"{name}: ddof applies to cumvar and cumstd only")
        self.kernel_params = params

    def _exact_int(self, dtype: np.dtype) -> bool:
        return self.name in _INT_KERNELS and np.dtype(dtype).kind in "biu"

    def output_meta(self, dtype: np.dtype, record_shape: tuple[int, ...]) -> tuple[np.dtype, tuple[int, ...]]:
        """int64 for integer/bool cumsum and cumprod (exact), float64 otherwise."""
        kernel_dtype(dtype, self.name)
        if self._exact_int(dtype):
            return np.dtype(np.int64), tuple(record_shape)
        return np.dtype(np.float64), tuple(record_shape)

    def __call__(
        self,
        chunks: Iterator[np.ndarray],
        start: int = 0,
        alloc: Callable[[int], np.ndarray] | None = None,
    ) -> Iterator[np.ndarray]:
        it = iter(chunks)
        first = next((c for c in it if len(c)), None)
        if first is None:
            return
        if not self._exact_int(first.dtype):
            yield from super().__call__(_chain(first, it), start, alloc)
            return
        yield from self._int_scan(_chain(first, it), first.shape[1:], start)

    def _int_scan(self, chunks: Iterator[np.ndarray], record_shape: tuple[int, ...],
                  start: int) -> Iterator[np.ndarray]:
        kernel = getattr(lib, _INT_KERNELS[self.name])
        width = int(np.prod(record_shape, dtype=np.int64))
        carry = np.full(width, 0 if self.name == "cumsum" else 1, dtype=np.int64)
        bad = ffi.new("int64_t *")
        offset = start
        try:
            for chunk in chunks:
                n = len(chunk)
                if not n:
                    continue
                if chunk.dtype == np.uint64 and chunk.size and int(chunk.max()) > _INT64_MAX:
                    row = int(np.argmax((chunk > _INT64_MAX).reshape(n, -1).any(axis=1)))
                    raise OverflowError(
                        f"{self.name}: value at record {offset + row} does not fit int64"
                    )
                rows = np.require(chunk.reshape(n, width), np.int64, ["C", "A"])
                out = np.empty((n, *record_shape), np.int64)
                status = kernel(ffi.from_buffer("int64_t[]", rows), n, width,
                                ffi.from_buffer("int64_t[]", carry, require_writable=True),
                                ffi.from_buffer("int64_t[]", out, require_writable=True), bad)
                if status == lib.PS_ERR_OVERFLOW:
                    raise OverflowError(
                        f"{self.name}: int64 overflow at record {offset + int(bad[0])} "
                        "(integers accumulate exactly; use .astype(float) for a float result)"
                    )
                check_status(status, f"{self.name}: chunk at record {offset}")
                offset += n
                yield out
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    try:
        yield first
        yield from rest
    finally:
        close = getattr(rest, "close", None)
        if close is not None:
            close()

