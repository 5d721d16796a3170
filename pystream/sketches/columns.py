"""One quantile sketch per value of the record, fed chunk by chunk.

Used by :meth:`pystream.Stream.describe` to add quantiles to the one-pass
summary: a :class:`~pystream.sketches.DDSketch` (relative error 1 %) per
column, updated with strided column views (no copies).
"""

from __future__ import annotations

from typing import Any

import numpy as np

DESCRIBE_ALPHA = 0.01


def check_quantiles(quantiles: Any, where: str) -> tuple[float, ...]:
    """Validate the ``quantiles=`` argument: probabilities in [0, 1]."""
    if quantiles is None:
        return ()
    try:
        qs = tuple(float(q) for q in np.atleast_1d(np.asarray(quantiles, dtype=np.float64)))
    except (TypeError, ValueError):
        raise TypeError(f"{where}: quantiles must be a sequence of floats in [0, 1]; "
                        f"got {quantiles!r}") from None
    bad = [q for q in qs if not 0.0 <= q <= 1.0]
    if bad:
        raise ValueError(f"{where}: quantiles must be in [0, 1]; got {bad}")
    return qs


class ColumnQuantiles:
    """DDSketches, one per value of the record, created at the first chunk."""

    def __init__(self, qs: tuple[float, ...], alpha: float = DESCRIBE_ALPHA) -> None:
        self.qs = qs
        self.alpha = alpha
        self.sketches: list[Any] | None = None

    @classmethod
    def for_describe(cls, quantiles: Any, where: str) -> ColumnQuantiles | None:
        qs = check_quantiles(quantiles, where)
        return cls(qs) if qs else None

    def update(self, chunk: np.ndarray) -> None:
        from .ddsketch import DDSketch

        width = int(np.prod(chunk.shape[1:], dtype=np.int64))
        if self.sketches is None:
            self.sketches = [DDSketch(alpha=self.alpha) for _ in range(width)]
        if chunk.ndim == 1:
            self.sketches[0].update(chunk)
            return
        flat = chunk.reshape(len(chunk), width)
        for j, sketch in enumerate(self.sketches):
            sketch.update(flat[:, j])

    def result(self, nan_policy: str, record_shape: tuple[int, ...]) -> dict[float, Any]:
        """{q: value}; scalars for scalar streams, arrays of `record_shape` otherwise.

        An empty column gives NaN; with ``nan_policy="propagate"`` a column
        that saw a NaN gives NaN (numpy's ``quantile``).
        """
        from .ddsketch import DDSketch

        sketches = self.sketches
        if sketches is None:
            width = int(np.prod(record_shape, dtype=np.int64))
            sketches = [DDSketch(alpha=self.alpha) for _ in range(width)]
        qa = np.asarray(self.qs, dtype=np.float64)
        values = np.stack([np.asarray(s.quantile(qa), dtype=np.float64) for s in sketches], axis=1)
        if nan_policy == "propagate":
            values[:, [s.nan_count > 0 for s in sketches]] = np.nan
        out: dict[float, Any] = {}
        for i, q in enumerate(self.qs):
            row = values[i]
            out[q] = float(row[0]) if record_shape == () else row.reshape(record_shape)
        return out
