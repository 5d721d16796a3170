"""Mergeable streaming sketches backed by the C core: :class:`Histogram`,
:class:`DDSketch`, :class:`KLLSketch` (see :doc:`/internals/sketches`).
"""

from .ddsketch import DDSketch, SketchAccuracyWarning
from .histogram import Histogram, HistogramResult
from .kll import KLLSketch

__all__ = ["DDSketch", "Histogram", "HistogramResult", "KLLSketch", "SketchAccuracyWarning"]
