"""pystream: streaming numeric pipelines over numpy chunks.

A stream is a lazy sequence of numpy chunks; stages are generators over
chunks; the arithmetic runs in a small C library (through cffi) over raw,
strided buffers.

>>> import numpy as np, pystream as ps
>>> s = ps.from_array(np.arange(10.0), chunk_size=4)
>>> float(s.map(np.sqrt).sum())  # doctest: +ELLIPSIS
19.30...
"""

from .reducers import Description, Moments
from .sources import from_array, from_chunks, from_file, from_iterable, from_npy, from_text
from .stages.kernel import StageState
from .stream import Stream

__all__ = [
    "Description",
    "Moments",
    "StageState",
    "Stream",
    "from_array",
    "from_chunks",
    "from_file",
    "from_iterable",
    "from_npy",
    "from_text",
]
__version__ = "0.1.0"
