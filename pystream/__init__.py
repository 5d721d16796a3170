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

from ._extensions import find as _find_entry, names as _entry_names
from ._arguments import suggest_keywords as _suggest_keywords
from ._version import __version__
from ._columns import Batch, KeyColumn, KeyDictionary, RowMap, TimeColumn
from ._machine import SIMD_LEVELS, MachineInfo, machine, set_simd_level, simd_level
from .aio import from_async_iterable
from .pipeline import Branch, LateRecords, Pipeline, PushSink, Tee, TimedPushSink, pipeline, tee
from .chain import PushError
from .reducers import Description, Moments
from .multivariate import CoMoments, LeastSquares, OLSResult
from .sketches import DDSketch, Histogram, HistogramResult, KLLSketch
from .sketches import SketchAccuracyWarning
from .sources import (
    from_array,
    from_chunks,
    from_csv,
    from_dask,
    from_file,
    from_ipc,
    from_iterable,
    from_npy,
    from_parquet,
    from_reader,
    from_table,
    from_text,
)
from .stages.kernel import StageState
from .stages.timed import duration
from .stream import Stream
from . import plugins  # noqa: E402 -- installs the registry's finder (loads no plugin)

__all__ = [
    "Batch",
    "Branch",
    "CoMoments",
    "DDSketch",
    "Description",
    "Histogram",
    "HistogramResult",
    "KLLSketch",
    "KeyColumn",
    "KeyDictionary",
    "LateRecords",
    "LeastSquares",
    "MachineInfo",
    "Moments",
    "OLSResult",
    "Pipeline",
    "PushError",
    "PushSink",
    "RowMap",
    "SIMD_LEVELS",
    "SketchAccuracyWarning",
    "StageState",
    "Stream",
    "Tee",
    "TimeColumn",
    "TimedPushSink",
    "duration",
    "from_array",
    "from_async_iterable",
    "from_chunks",
    "from_csv",
    "from_dask",
    "from_file",
    "from_ipc",
    "from_iterable",
    "from_npy",
    "from_parquet",
    "from_reader",
    "from_table",
    "from_text",
    "machine",
    "pipeline",
    "set_simd_level",
    "simd_level",
    "tee",
]

_plugin_sources: dict[str, tuple[Any, Any]] = {}


def __getattr__(name: str) -> Any:
    """``pystream.from_<name>``: sources registered by plugins (loaded on first use).

    The source function is wrapped so a misspelled keyword names the one meant.
    """
    entry = _find_entry("sources", name[5:]) if name.startswith("from_") else None
    if entry is None:
        raise AttributeError(f"module 'pystream' has no attribute {name!r}")
    cached = _plugin_sources.get(name)
    if cached is None or cached[0] is not entry:
        try:
            func = _suggest_keywords(entry.factory)
        except (TypeError, ValueError):  # no inspectable signature
            func = entry.factory
        cached = _plugin_sources[name] = (entry, func)
    return cached[1]


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"from_" + n for n in _entry_names("sources")})
