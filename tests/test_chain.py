"""The chain compiler (pystream.chain): one compiler for pull, the planner, push and async."""

from __future__ import annotations

import ast
import pathlib

import numpy as np
import pytest

import pystream as ps
from pystream.chain import Node, compile_chain, make_plan, push_steps
from pystream.stream import node_of

CHAIN = pathlib.Path(ps.__file__).parent / "chain"
#: What the chain (layer L2) may import: the base modules and the stages.
ALLOWED = ("pystream._checks", "pystream._native", "pystream._config", "pystream._buffers",
           "pystream._arguments", "pystream._npy", "pystream._text", "pystream._extensions",
           "pystream._columns",
           "pystream.hookspecs", "pystream.stages", "pystream.chain")


def _imports(path: pathlib.Path) -> list[tuple[str, bool]]:
    """``(module, inside a function)`` for every pystream import of `path`."""
    out: list[tuple[str, bool]] = []

    def visit(node: ast.AST, infunc: bool) -> None:
        for ch in ast.iter_child_nodes(node):
            f = infunc or isinstance(ch, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(ch, ast.ImportFrom) and ch.level:
                base = ["pystream", "chain"][: 3 - ch.level]     # modules of pystream/chain/
                out.append((".".join(base + ([ch.module] if ch.module else [])), infunc))
            elif isinstance(ch, ast.ImportFrom) and (ch.module or "").startswith("pystream"):
                out.append((ch.module or "", infunc))
            visit(ch, f)

    visit(ast.parse(path.read_text()), False)
    return out


@pytest.mark.parametrize("path", sorted(CHAIN.glob("*.py")), ids=lambda p: p.name)
def test_chain_imports_only_lower_layers_at_top_level(path: pathlib.Path) -> None:
    for module, infunc in _imports(path):
        assert not infunc, f"{path.name}: deferred import of {module}"
        assert module.startswith(ALLOWED), f"{path.name} imports {module} (above the chain)"


def test_one_compiler_for_pull_planner_and_push() -> None:
    s = ps.from_array(np.arange(10.0), chunk_size=3)
    t = s.map(np.abs).filter(lambda c: c > 1).moving_mean(2).take(5).cumsum()
    root, steps = compile_chain(node_of(t))
    assert root.source is node_of(s).source and root.fns  # the fused map and filter
    assert [st.name for st in steps] == ["map(absolute) -> filter(<lambda>)", "moving_mean",
                                         "take(5)", "cumsum"]
    plan = make_plan(node_of(t))
    assert [st.name for st in plan.prefix + plan.suffix] == [st.name for st in steps]
    # the stage steps are compiled once and shared by every runner
    assert compile_chain(node_of(t))[1][1] is steps[1]
    # push: the steps between two nodes, each with a fresh pusher
    pushed = push_steps(node_of(t), node_of(s))
    assert [st.name for st in pushed] == [st.name for st in steps]
    assert pushed[1].pusher() is not pushed[1].pusher()


def test_push_steps_refuse_a_node_of_another_source() -> None:
    a = node_of(ps.from_array(np.arange(3.0)))
    b = node_of(ps.from_array(np.arange(3.0)).moving_mean(2))
    with pytest.raises(TypeError, match="only add stages"):
        push_steps(b, a)


def test_node_is_the_streams_only_state() -> None:
    s = ps.from_array(np.arange(4.0)).map(np.negative)
    assert ps.Stream.__slots__ == ("__weakref__", "_node")
    node = node_of(s)
    assert isinstance(node, Node) and node.start == 0 and node.one_shot is False
    assert node.meta() == (np.dtype(float), ())
    assert np.concatenate(list(node.chunks())).tolist() == [-0.0, -1.0, -2.0, -3.0]
