"""Which pystream API each gallery example calls, found by reading its code.

The gallery must show every registered stage, source and reducer (built-in
and from the shipped plugins) and every public :class:`pystream.Stream`
method.  This module reads the examples with :mod:`ast` -- it does not run
them; the docs build does -- and records, per example file, the API it uses:

``source:<name>``
    a call ``ps.from_<name>(...)`` (``pystream`` imported under any name);
``method:<name>``
    a call or attribute access ``<stream>.<name>`` where ``<stream>`` is a
    Stream: the result of a source, of a Stream-returning method on a
    Stream, or a variable assigned one of those;
``object:<Name>``
    ``ps.<Name>`` (or ``from pystream import <Name>``) used anywhere.

Tracking the receiver's type keeps ``x.mean()`` on a numpy array from
counting as an example of ``Stream.mean``.  The same index feeds the test
that fails when something has no example (``tests/test_docs_examples.py``)
and the "Examples using ..." galleries of the API pages (the
``pystream-examples`` directive below).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent.parent
EXAMPLES = DOCS / "examples"

# Stream methods that return a Stream (all stages do too; see stream_methods()).
_STREAM_RETURNING_CORE = {"map", "filter", "astype", "select", "pipe", "take", "skip", "rechunk",
                          "rename"}


def registry_names() -> dict[str, dict[str, Any]]:
    """kind -> {name: registry Entry} for stages, sources and reducers."""
    from pystream.plugins import get_registry

    reg = get_registry()
    return {"stages": dict(reg.stages), "sources": dict(reg.sources), "reducers": dict(reg.reducers)}


def public_stream_members() -> set[str]:
    """Public methods and properties defined on :class:`pystream.Stream`."""
    import pystream

    return {n for n in dir(pystream.Stream) if not n.startswith("_")}


def _pystream_aliases(tree: ast.AST) -> tuple[set[str], set[str]]:
    """Names bound to the pystream module, and names imported from it."""
    modules: set[str] = set()
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "pystream":
                    modules.add(alias.asname or "pystream")
        elif isinstance(node, ast.ImportFrom) and node.module == "pystream":
            for alias in node.names:
                imported.add(alias.asname or alias.name)
    return modules, imported


class _Scanner:
    def __init__(self, tree: ast.AST, stream_returning: set[str]) -> None:
        self.tree = tree
        self.modules, self.imported = _pystream_aliases(tree)
        self.stream_returning = stream_returning
        self.stream_vars: set[str] = set()
        self.found: set[str] = set()

    def is_stream(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.stream_vars
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                if isinstance(func.value, ast.Name) and func.value.id in self.modules:
                    return func.attr.startswith("from_")
                return func.attr in self.stream_returning and self.is_stream(func.value)
            if isinstance(func, ast.Name):
                return func.id.startswith("from_") and func.id in self.imported
        return False

    def _bind(self, target: ast.AST) -> bool:
        if isinstance(target, ast.Name) and target.id not in self.stream_vars:
            self.stream_vars.add(target.id)
            return True
        return False

    def infer_variables(self) -> None:
        """Variables assigned a Stream (flow-insensitive, to a fixed point)."""
        changed = True
        while changed:
            changed = False
            for node in ast.walk(self.tree):
                if isinstance(node, ast.Assign) and self.is_stream(node.value):
                    for target in node.targets:
                        changed |= self._bind(target)
                elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None \
                        and self.is_stream(node.value):
                    changed |= self._bind(node.target)

    def collect(self) -> set[str]:
        self.infer_variables()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Attribute):
                if isinstance(node.value, ast.Name) and node.value.id in self.modules:
                    if node.attr.startswith("from_"):
                        self.found.add("source:" + node.attr[5:])
                    else:
                        self.found.add("object:" + node.attr)
                elif self.is_stream(node.value):
                    self.found.add("method:" + node.attr)
            elif isinstance(node, ast.Name) and node.id in self.imported:
                if node.id.startswith("from_"):
                    self.found.add("source:" + node.id[5:])
                else:
                    self.found.add("object:" + node.id)
        return self.found


def scan_source(text: str, stream_returning: set[str]) -> set[str]:
    """The API keys (``source:``/``method:``/``object:``) one example's code uses."""
    return _Scanner(ast.parse(text), stream_returning).collect()


def stream_returning_methods() -> set[str]:
    """Stream methods whose result is a Stream: the core ones and every stage."""
    return _STREAM_RETURNING_CORE | set(registry_names()["stages"])


def example_files(root: Path = EXAMPLES) -> list[Path]:
    """Every gallery script (``plot_*.py``) under ``docs/examples``."""
    return sorted(root.glob("*/plot_*.py"))


def build_index(files: Iterable[Path] | None = None) -> dict[Path, set[str]]:
    """example file -> the API keys it uses."""
    returning = stream_returning_methods()
    return {path: scan_source(path.read_text(encoding="utf-8"), returning)
            for path in (example_files() if files is None else files)}


def files_using(index: dict[Path, set[str]], key: str) -> list[Path]:
    return sorted(path for path, keys in index.items() if key in keys)


def key_for(fullname: str) -> str | None:
    """The index key of a documented object's full dotted name.

    ``pystream.from_array`` -> ``source:array``; ``pystream.Stream.moving_mean``
    -> ``method:moving_mean``; ``pystream.Moments`` -> ``object:Moments``; a
    plugin's registered factory (``pystream_signal.SosFilt``) -> the key of
    its registered name (``method:sosfilt``).
    """
    parts = fullname.split(".")
    last = parts[-1]
    if last.startswith("from_"):
        return "source:" + last[5:]
    if parts[:2] == ["pystream", "Stream"] and len(parts) == 3:
        return "method:" + last
    if len(parts) == 2 and parts[0] == "pystream":
        return "object:" + last
    names = registry_names()
    target = _resolve(fullname)
    for kind, entries in names.items():
        for name, entry in entries.items():
            if target is not None and entry.factory is target or name == last:
                return ("source:" if kind == "sources" else "method:") + name
    return None


def _resolve(fullname: str) -> Any:
    import importlib

    parts = fullname.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


# --------------------------------------------------------------------- Sphinx

def setup(app: Any) -> dict[str, Any]:
    """Register ``.. pystream-examples:: <fullname>`` (a minigallery by file)."""
    from docutils.parsers.rst import Directive
    from docutils.statemachine import StringList

    cache: dict[str, dict[Path, set[str]]] = {}

    class PystreamExamples(Directive):
        """The gallery examples that use an object, as a sphinx-gallery minigallery."""

        required_arguments = 1

        def run(self) -> list[Any]:
            if "index" not in cache:
                cache["index"] = build_index()
            key = key_for(self.arguments[0])
            files = files_using(cache["index"], key) if key else []
            if not files:
                return []
            rel = [str(p.relative_to(DOCS)) for p in files]
            lines = [".. minigallery:: " + " ".join(rel),
                     f"   :add-heading: Examples using ``{self.arguments[0].split('.')[-1]}``",
                     "   :heading-level: -", ""]
            self.state_machine.insert_input(StringList(lines, source="<pystream-examples>"),
                                            "<pystream-examples>")
            return []

    app.add_directive("pystream-examples", PystreamExamples)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
