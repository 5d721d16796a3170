"""The package's import graph: layered, acyclic, no deferred imports.

Each module belongs to a layer (``LAYERS``, written out with its purpose in
``docs/design.md``, "Layer map").  A module imports only from its own layer
or below, at module level; the graph has no cycle.  Imports under
``if TYPE_CHECKING:`` are for annotations only and are not counted.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

import pystream

PACKAGE = pathlib.Path(pystream.__file__).parent

#: Layer of each module, by the longest matching dotted prefix (bottom = 0).
LAYERS: dict[str, int] = {
    "pystream._checks": 0,
    "pystream._native": 0,
    "pystream._machine": 0,
    "pystream._columns": 0,
    "pystream._prefetch": 0,
    "pystream._arrow_out": 0,
    "pystream._arrow": 0,
    "pystream._config": 0,
    "pystream._buffers": 0,
    "pystream._arguments": 0,
    "pystream._extensions": 0,
    "pystream._npy": 0,
    "pystream._text": 0,
    "pystream._timeunits": 0,
    "pystream._calendar": 0,
    "pystream._version": 0,
    "pystream._pystream_c": 0,
    "pystream.hookspecs": 0,
    "pystream.stages": 1,
    "pystream.stages.time_kernels": 1,
    "pystream.stages.time_twins": 1,
    "pystream.stages.comoving": 1,
    "pystream.stages.comoving_kernel": 1,
    "pystream.stages.comoving_twins": 1,
    "pystream.stages.comoving_ols": 1,
    "pystream.reducers": 1,
    "pystream.description": 1,
    "pystream.multivariate": 1,
    "pystream.multivariate.comoments": 1,
    "pystream.sketches": 1,
    "pystream.sinks": 1,
    "pystream.keyed": 1,
    "pystream.multivariate": 1,
    "pystream.keyed.terminals": 3,
    "pystream.chain": 2,
    "pystream.chain.materialise": 2,
    "pystream.terminals": 3,
    "pystream.engines": 3,
    "pystream.stream": 4,
    "pystream.stream_stages": 4,
    "pystream.stream_columns": 4,
    "pystream.stream_tables": 4,
    "pystream.stream_keyed": 4,
    "pystream.sources": 5,
    "pystream.pipeline": 5,
    "pystream.aio": 5,
    "pystream.pipeformat": 5,
    "pystream.testing": 5,
    "pystream.plugins": 6,
    "pystream.builtin_entries": 6,
    "pystream._plugin_loader": 6,
    "pystream.cli.stage_args": 7,
    "pystream.cli": 7,
    "pystream.__main__": 8,
    "pystream": 8,
}


def _modules() -> dict[str, pathlib.Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def layer(module: str) -> int:
    """The layer of `module` (its longest prefix in ``LAYERS``; a module must be
    placed explicitly: the package's own entry covers only ``pystream``)."""
    if module == "pystream":
        return LAYERS[module]
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        key = ".".join(parts[:n])
        if key in LAYERS:
            return LAYERS[key]
    raise KeyError(module)


def _targets(module: str, node: ast.Import | ast.ImportFrom, is_package: bool) -> list[str]:
    """The pystream modules an import statement loads."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "pystream"]
    if node.level:
        base = module.split(".")
        if not is_package:
            base.pop()
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != "pystream":
        return []
    out = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
    # ``from .. import sibling``: the package itself is already imported (it is
    # an ancestor of the importer); only the submodules count
    if not (out and module.startswith(target + ".")):
        out.append(target)
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports() -> tuple[dict[str, set[str]], list[str]]:
    """Module-level import edges, and the deferred imports as ``"module:line"``."""
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    deferred: list[str] = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_package = path.name == "__init__.py"

        def visit(node: ast.AST, in_function: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and _is_type_checking(child):
                    continue
                inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                          ast.Lambda))
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    for target in _targets(module, child, is_package):
                        if in_function:
                            deferred.append(f"{module}:{child.lineno} imports {target}")
                        elif target != module:
                            edges[module].add(target)
                visit(child, inner)

        visit(tree, False)
    return edges, deferred


EDGES, DEFERRED = _imports()


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer(module)


#: The one module imported on demand: the plugin loader (pluggy and the
#: entry-point scan), which built-in stages never need (issue 16).
LAZY = {"pystream._plugin_loader"}


def test_no_pystream_module_is_imported_inside_a_function() -> None:
    assert [d for d in DEFERRED if d.split(" imports ")[1] not in LAZY] == []


def test_imports_only_go_down() -> None:
    upward = [f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})"
              for a, targets in EDGES.items() for b in targets
              if b in MODULES and layer(b) > layer(a)]
    assert upward == []


def test_import_graph_is_acyclic() -> None:
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(EDGES.get(node, ())):
            if nxt not in MODULES:
                continue
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt, path + [nxt])
        state[node] = 2

    for module in sorted(MODULES):
        if module not in state:
            walk(module, [module])
    assert cycles == []


@pytest.mark.parametrize("source", [
    "def f():\n    from . import stream\n",
    "def f():\n    import pystream.stream\n",
])
def test_the_checker_sees_deferred_imports(source: str) -> None:
    tree = ast.parse(source)
    found = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert found and _targets("pystream.x", found[0], False)
