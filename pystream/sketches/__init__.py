"""Mergeable streaming sketches backed by the C core.

* :class:`Histogram` -- counts in fixed, explicit or logarithmic bins, with
  numpy's edge rules; exact, so bit-identical for any chunking.
* :class:`DDSketch` -- quantiles within a relative error ``alpha``; the
  state is a function of the multiset of values only, so any chunking,
  partitioning and merge order gives a bit-identical sketch.
* :class:`KLLSketch` -- quantiles within the KLL rank-error bound for ``k``;
  reproducible for a given seed and input order (any chunking).

Each has ``update`` / ``merge`` / ``to_bytes`` / ``from_bytes`` and pickles.
"""

from .ddsketch import DDSketch, SketchAccuracyWarning
from .histogram import Histogram, HistogramResult
from .kll import KLLSketch

__all__ = ["DDSketch", "Histogram", "HistogramResult", "KLLSketch", "SketchAccuracyWarning"]
