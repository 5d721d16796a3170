"""pystream: streaming numeric pipelines over numpy chunks.

A stream is a lazy sequence of numpy chunks; stages are generators over
chunks; the arithmetic runs in a small C library (through cffi) over raw,
strided buffers.
"""

from .reducers import Description, Moments

__all__ = ["Description", "Moments"]
__version__ = "0.1.0"
