"""The pull driver: one terminal spec run over a stream, locally (with the
whole-array fast path) or on the threads / Dask engines."""

from __future__ import annotations

from typing import Any

from ..chain import Node
from ..engines import EngineOptions, check_engine, ordered_chunks, reduce
from ..sinks import drain
from .protocol import ReducerTerminal, SinkTerminal, Terminal

__all__ = ["run_local", "run_state", "run_terminal", "terminal_call"]


def run_local(node: Node, spec: ReducerTerminal) -> Any:
    """The spec's state fed the stream's chunks in order, in this thread.

    A chunk-invariant state (``spec.whole_array``) over an in-memory source
    without pending functions is fed the whole array in one call: the exact
    result of the chunked pass without the per-chunk overhead.
    """
    state = spec.state(node.start)
    whole = node.whole() if spec.whole_array else None
    if whole is not None:
        state.update(whole)
        spec.early(state)
    elif spec.raises_nan:
        early = spec.early
        for c in node.chunks():
            state.update(c)
            early(state)
    else:
        update = state.update
        for c in node.chunks():
            update(c)
    return state


def run_terminal(node: Node, spec: Terminal, options: EngineOptions) -> Any:
    """The result of `spec` over the chain `node` on the engine of `options`."""
    pull = spec.pull
    if pull is not None:
        return pull(node, options)
    if isinstance(spec, SinkTerminal):
        return drain(spec.open(node.meta()), lambda: ordered_chunks(node, options))
    spec = spec.prepare(node, options)
    return spec.finish(run_state(node, spec, options), node.meta)


def run_state(node: Node, spec: ReducerTerminal, options: EngineOptions) -> Any:
    """The spec's final state over the chain `node`: the local loop, or the engine's
    reduction (per partition and merged, or over its ordered output)."""
    if options.name == "local":
        return run_local(node, spec)
    return reduce(node, spec.reduction(), options)


def terminal_call(node: Node, make: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                  engine: object, workers: object, partition_size: object) -> Any:
    """``stream.<terminal>(*args, **kwargs, engine=..., ...)``: the engine
    arguments and the spec's (``make(*args, **kwargs)``) checked in the
    method's order, then :func:`run_terminal`."""
    if make.checks_first:
        spec = make(*args, **kwargs)
        options = check_engine(engine, workers, partition_size, make.name)
    else:
        options = check_engine(engine, workers, partition_size, make.name)
        spec = make(*args, **kwargs)
    return run_terminal(node, spec, options)
