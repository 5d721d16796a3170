"""Collection: the table sources' doctests need pyarrow (the optional ``[arrow]`` extra).

Without pyarrow those modules' doctests are not collected (their functions
then raise an ImportError naming ``pip install pystream-numeric[arrow]``,
which ``tests/test_table_sources.py`` checks with pyarrow hidden).
"""

import importlib.util


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


collect_ignore = [] if _has("pyarrow") else [
    "pystream/_arrow.py", "pystream/sources/tables.py", "pystream/sources/table_csv.py"]
