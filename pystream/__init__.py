"""pystream: streaming numeric pipelines over numpy chunks.

A stream is a lazy sequence of numpy chunks; stages are generators over
chunks; the arithmetic runs in a small C library (through cffi) over raw,
strided buffers.

>>> import numpy as np, pystream as ps
>>> s = ps.from_array(np.arange(10.0), chunk_size=4)
>>> float(s.map(np.sqrt).sum())  # doctest: +ELLIPSIS
19.30...
"""

from typing import Any

from .aio import from_async_iterable
from .pipeline import Branch, Pipeline, PushSink, Tee, pipeline, tee
from .chain import PushError
from .reducers import Description, Moments
from .sketches import DDSketch, Histogram, HistogramResult, KLLSketch
from .sketches import SketchAccuracyWarning
from .sources import (
    from_array,
    from_chunks,
    from_dask,
    from_file,
    from_iterable,
    from_npy,
    from_text,
)
from .stages.kernel import StageState
from .stream import Stream

__all__ = [
    "Branch",
    "DDSketch",
    "Description",
    "Histogram",
    "HistogramResult",
    "KLLSketch",
    "Moments",
    "Pipeline",
    "PushError",
    "PushSink",
    "SketchAccuracyWarning",
    "StageState",
    "Stream",
    "Tee",
    "from_array",
    "from_async_iterable",
    "from_chunks",
    "from_dask",
    "from_file",
    "from_iterable",
    "from_npy",
    "from_text",
    "pipeline",
    "tee",
]
__version__ = "0.1.0"

from . import plugins as _plugins  # noqa: E402,F401  (installs the registry's finder)


def __getattr__(name: str) -> Any:
    """``pystream.from_<name>``: sources registered by plugins (loaded on first use)."""
    if name.startswith("from_"):
        from .plugins import get_registry

        entry = get_registry().sources.get(name[5:])
        if entry is not None:
            return entry.factory
    raise AttributeError(f"module 'pystream' has no attribute {name!r}")


def __dir__() -> list[str]:
    from .plugins import get_registry

    return sorted(set(globals()) | {"from_" + n for n in get_registry().sources})
