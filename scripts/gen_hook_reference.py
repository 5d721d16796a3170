#!/usr/bin/env python3
"""Write the hook reference of docs/plugins.md from pystream/hookspecs.py.

    python scripts/gen_hook_reference.py        # rewrites the marked section

The section between ``<!-- hook-reference-begin -->`` and
``<!-- hook-reference-end -->`` is generated; tests/test_plugins.py fails
when it is out of date.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugins.md"
BEGIN, END = "<!-- hook-reference-begin -->", "<!-- hook-reference-end -->"


def reference() -> str:
    """The generated markdown: one section per hook, signature and docstring."""
    sys.path.insert(0, str(ROOT))
    from pystream import hookspecs

    parts = []
    for name in hookspecs.HOOKS:
        func = getattr(hookspecs, name)
        parts.append(f"### `{name}{inspect.signature(func)}`\n\n{inspect.getdoc(func)}\n")
    return "\n".join(parts)


def main() -> int:
    text = GUIDE.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    GUIDE.write_text(f"{head}{BEGIN}\n\n{reference()}\n{END}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
