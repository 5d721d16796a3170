"""Sketches: mergeable, serializable summaries of a stream.

:class:`Histogram` counts values into bins with exactly the semantics of
:func:`numpy.histogram` (bit-identical counts and edges), in one pass
through a C kernel, for any chunking of the stream.
"""

from .histogram import Histogram, HistogramResult

__all__ = ["Histogram", "HistogramResult"]
