"""The user page docs/multivariate.rst: its examples run and give what it shows."""

from __future__ import annotations

import doctest
import pathlib


def test_the_multivariate_page_examples_run():
    page = pathlib.Path(__file__).parents[1] / "docs" / "multivariate.rst"
    result = doctest.testfile(str(page), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 20 and result.failed == 0
