"""The package's layout: names that collide, modules too long or named like the
standard library's (issue 16, "Names")."""

from __future__ import annotations

import ast
import collections
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pystream"
MAX_LINES = 600

#: Module-level hooks Python itself looks up by name (PEP 562).
MODULE_HOOKS = {"__getattr__", "__dir__"}


def _modules() -> dict[str, Path]:
    """Dotted name -> path of every module of the package (``__init__`` as the package)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _hook_names() -> set[str]:
    """The pluggy hooks declared in ``pystream/hookspecs.py``: plugins (the
    built-in one included) implement them under the same names."""
    tree = ast.parse((PACKAGE / "hookspecs.py").read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.name.startswith("register_")}


def test_no_two_top_level_definitions_share_a_name() -> None:
    exempt = MODULE_HOOKS | _hook_names()
    where: dict[str, list[str]] = collections.defaultdict(list)
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if node.name not in exempt:
                    where[node.name].append(f"{name}:{node.lineno}")
    shared = {n: places for n, places in where.items() if len(places) > 1}
    assert not shared, "top-level classes/functions defined more than once:\n" + "\n".join(
        f"  {n}: {', '.join(places)}" for n, places in sorted(shared.items()))


def test_modules_are_short_and_not_named_like_the_standard_library() -> None:
    long = {}
    stdlib = {}
    for name, path in _modules().items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            long[name] = lines
        last = name.rsplit(".", 1)[-1]
        if last in sys.stdlib_module_names:
            stdlib[name] = last
    problems = [f"{n}: {k} lines (more than {MAX_LINES})"
                for n, k in sorted(long.items(), key=lambda kv: -kv[1])]
    problems += [f"{n}: named like the standard library's {s!r}" for n, s in sorted(stdlib.items())]
    assert not problems, "\n".join(problems)
