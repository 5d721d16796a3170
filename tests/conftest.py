"""Session guard: the suite must test the build it was asked to test.

``make test-asan`` installs a sanitizer build into its own venv and sets
``PYSTREAM_EXPECT_NATIVE`` to that venv's name; if anything on ``sys.path``
(a repository-root conftest, an in-tree build) made the tests import another
``pystream``, the run would pass without exercising the sanitizer build.
This hook stops the session instead, naming the module it found.
"""

from __future__ import annotations

import os
from typing import Any

import pytest


def pytest_sessionstart(session: Any) -> None:
    expected = os.environ.get("PYSTREAM_EXPECT_NATIVE")
    if not expected:
        return
    import pystream._pystream_c as native

    if expected not in native.__file__:
        raise pytest.UsageError(
            f"PYSTREAM_EXPECT_NATIVE={expected!r} but the tests import {native.__file__}")
