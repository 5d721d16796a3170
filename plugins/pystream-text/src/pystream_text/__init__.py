"""pystream-text: parse text logs into numeric streams, and count records by key.

A pystream plugin (entry point ``pystream`` -> ``pystream_text.plugin``):

- source ``log``: :func:`from_log`, also ``pystream.from_log``;
- reducer ``count_by`` (family ``text``): :class:`CountBy`, also
  ``stream.count_by(key=..., values=...)``.
"""

from ._count import CountBy, CountByResult
from ._log import FORMATS, BadLine, LogParseWarning, ParseReport, from_log

__version__ = "0.1.0"
__all__ = ["FORMATS", "BadLine", "CountBy", "CountByResult", "LogParseWarning", "ParseReport",
           "count_by", "from_log"]


def count_by(key: int = 0, values=None) -> CountBy:
    """A fresh :class:`CountBy` state (the registered reducer's factory)."""
    return CountBy(key=key, values=values)
