"""Mergeable streaming sketches backed by the C core.

:class:`DDSketch` estimates quantiles with a relative-error guarantee, in
bounded memory, and its state is a function of the multiset of values
only: any chunking, partitioning and merge order gives a bit-identical
sketch.
"""

from .ddsketch import DDSketch

__all__ = ["DDSketch"]
