"""Doctests that need the optional pyarrow skip cleanly without it."""

from __future__ import annotations

import re
from typing import Any

import pytest

_NEEDS_PYARROW = re.compile(r"\bpyarrow\b|\.to_(arrow|parquet|ipc)\(|\bfrom_(parquet|ipc|table)\(")


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        pass
    else:
        return
    skip = pytest.mark.skip(reason="needs pyarrow (pip install pystream-numeric[arrow])")
    for item in items:
        test = getattr(item, "dtest", None)
        if test is not None and any(_NEEDS_PYARROW.search(e.source) for e in test.examples):
            item.add_marker(skip)
