"""The chain under every :class:`~pystream.Stream`: nodes, their compiled steps, and
the runners (pull, the engines' planner, push, async).

Layer L2: imports only the base modules and ``pystream.stages``.  The design
is described in ``docs/internals/chain.rst``.
"""

from .async_driver import OFFLOAD_BYTES, aiter_chunks
from .generator_pusher import GeneratorPusher
from .nodes import (
    ONE_SHOT_MESSAGE,
    CallableSource,
    Node,
    OneShotSource,
    StageSource,
    compile_chain,
    first_chunk_resolver,
    node_of,
    push_steps,
)
from .planner import Plan, make_plan
from .push_runner import ChainConsumer, ChunkCollector, ParallelTee, PushError, TeeConsumer
from .steps import (
    Offsets,
    Step,
    add_note,
    annotated,
    close_iterator,
    native_chunks,
    native_dtype,
    run_fns,
    run_serial,
    stage_note,
    to_native,
)

__all__ = [
    "OFFLOAD_BYTES", "ONE_SHOT_MESSAGE", "CallableSource", "ChainConsumer", "GeneratorPusher", "ChunkCollector",
    "Node", "Offsets", "OneShotSource", "ParallelTee", "Plan", "PushError", "StageSource", "Step",
    "TeeConsumer", "add_note", "aiter_chunks", "annotated", "close_iterator", "compile_chain",
    "first_chunk_resolver", "make_plan", "node_of", "native_chunks", "native_dtype", "push_steps", "run_fns",
    "run_serial", "stage_note", "to_native",
]
