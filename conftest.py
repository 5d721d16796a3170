"""Doctests that need the optional pyarrow skip cleanly without it.

Without pyarrow the table sources' modules are not collected (their
functions then raise an ImportError naming ``pip install
pystream-numeric[arrow]``, which ``tests/test_table_sources.py`` checks with
pyarrow hidden), and any other doctest that uses pyarrow or a table sink is
skipped.
"""

from __future__ import annotations

import importlib.util
import re
from typing import Any

import pytest

_NEEDS_PYARROW = re.compile(r"\bpyarrow\b|\.to_(arrow|parquet|ipc)\(|\bfrom_(parquet|ipc|table|csv)\(")


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


collect_ignore = [] if _has("pyarrow") else [
    "pystream/_arrow.py", "pystream/sources/tables.py", "pystream/sources/table_csv.py"]


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    if _has("pyarrow"):
        return
    skip = pytest.mark.skip(reason="needs pyarrow (pip install pystream-numeric[arrow])")
    for item in items:
        test = getattr(item, "dtest", None)
        if test is not None and any(_NEEDS_PYARROW.search(e.source) for e in test.examples):
            item.add_marker(skip)
