"""Stream reductions built on the sketches: ``histogram`` and ``quantile``.

:meth:`pystream.Stream.histogram` and :meth:`pystream.Stream.quantile` call
these.  They feed each chunk to a sketch state (C kernels, GIL released) and
return its result, so memory stays bounded whatever the stream's length.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any

import numpy as np

from .columns import ColumnQuantiles

if TYPE_CHECKING:
    from ..stream import Stream

METHODS = ("relative", "kll")


def _data_range(stream: Stream) -> tuple[Any, Any]:
    """numpy's default histogram range: the data's min and max (a first pass)."""
    if stream.one_shot:
        raise ValueError(
            "histogram: this stream can be read only once, and numpy's default range "
            "(the data's min and max) needs a first pass: pass range=(lo, hi) or edges=")
    d = stream.describe(nan_policy="omit", quantiles=())
    count = int(np.sum(d.count))
    if count == 0:
        return 0.0, 1.0                      # numpy's range for an empty array
    # numpy scalars of the data's dtype, as np.histogram's own x.min(), x.max():
    # float32 data then get numpy's float32 edges.
    lo, hi = np.min(d.min), np.max(d.max)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(
            f"histogram: autodetected range of [{lo}, {hi}] is not finite; pass range=")
    return lo, hi


def histogram(stream: Stream, bins: Any = 10, range: Any = None, edges: Any = None,
              log: bool = False) -> Any:
    """See :meth:`pystream.Stream.histogram`."""
    from .histogram import Histogram

    if edges is None and range is None:
        range = _data_range(stream)
    state = Histogram(bins=bins, range=range, edges=edges, log=log)
    for chunk in stream:
        state.update(chunk)
    return state.result()


def _sketch_factory(method: str, alpha: float, k: int, seed: int) -> Any:
    from .ddsketch import DDSketch
    from .kll import KLLSketch

    if method == "relative":
        DDSketch(alpha=alpha)                # checks alpha now, not per column
        return lambda: DDSketch(alpha=alpha)
    if method == "kll":
        KLLSketch(k=k, seed=seed)
        return lambda: KLLSketch(k=k, seed=seed)
    raise ValueError(f"quantile: method must be one of {METHODS}; got {method!r}")


def quantile(stream: Stream, q: Any, method: str = "relative", alpha: float = 0.01,
             k: int = 200, seed: int = 0, nan_policy: str = "propagate") -> Any:
    """See :meth:`pystream.Stream.quantile`."""
    from ..reducers import check_nan_policy
    from ..stages.structural import first_nan_record, nan_error

    policy = check_nan_policy(nan_policy, "quantile")
    qa = np.asarray(q, dtype=np.float64)
    if qa.size and (np.isnan(qa).any() or qa.min() < 0 or qa.max() > 1):
        raise ValueError(f"quantile: q must be in [0, 1]; got {q!r}")
    k = operator.index(k)
    columns = ColumnQuantiles(_sketch_factory(method, alpha, k, seed))
    for offset, chunk in stream.chunks_with_offsets():
        if policy == "raise":
            bad = first_nan_record(chunk)
            if bad >= 0:
                raise nan_error("quantile", offset + bad)
        columns.update(chunk)
    values = columns.values(qa, policy, stream.record_shape)
    return float(values) if values.ndim == 0 else values
