"""The pull driver: one terminal spec run over a stream, locally (with the
whole-array fast path) or on the threads / Dask engines."""

from __future__ import annotations

from typing import Any

from ..engines import EngineOptions, check_engine, ordered_chunks, reduce
from ..sinks import drain
from .protocol import SinkTerminal, Terminal

__all__ = ["run_local", "run_state", "run_terminal", "terminal_call"]


def run_local(stream: Any, spec: Terminal) -> Any:
    """The spec's state fed the stream's chunks in order, in this thread.

    A chunk-invariant state (``spec.whole_array``) over an in-memory source
    without pending functions is fed the whole array in one call: the exact
    result of the chunked pass without the per-chunk overhead.
    """
    state = spec.state(stream.start)
    whole = stream._whole_array() if spec.whole_array else None
    if whole is not None:
        state.update(whole)
        spec.early(state)
    elif spec.raises_nan:
        early = spec.early
        for c in stream._iter():
            state.update(c)
            early(state)
    else:
        update = state.update
        for c in stream._iter():
            update(c)
    return state


def run_terminal(stream: Any, spec: Terminal, options: EngineOptions) -> Any:
    """The result of `spec` over `stream` on the engine of `options`."""
    pull = spec.pull
    if pull is not None:
        return pull(stream, options)
    if isinstance(spec, SinkTerminal):
        return drain(spec.open(stream._meta()), lambda: ordered_chunks(stream, options))
    spec = spec.prepare(stream, options)
    return spec.finish(run_state(stream, spec, options), stream._meta)


def run_state(stream: Any, spec: Terminal, options: EngineOptions) -> Any:
    """The spec's final state over `stream`: the local loop, or the engine's
    reduction (per partition and merged, or over its ordered output)."""
    if options.name == "local":
        return run_local(stream, spec)
    return reduce(stream, spec.reduction(), options)


def terminal_call(stream: Any, make: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
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
    return run_terminal(stream, spec, options)
