"""The terminal methods of :class:`~pystream.Stream` (:class:`TerminalMethods`)
and :class:`~pystream.Pipeline` (:func:`branch_methods`), generated from the
spec table: signatures from the specs, numpydoc from their ``doc``."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

from .._arguments import suggest_keywords
from ..chain import node_of
from ..engines import EngineOptions
from .describe import DescribeTerminal
from .fanout import Branch, fork
from .protocol import Terminal
from .run import run_state, terminal_call
from .specs import TERMINALS

__all__ = ["ENGINE_PARAMETERS", "TerminalMethods", "branch_methods", "engine_parameters"]

#: The numpydoc entries of the engine arguments every terminal operation takes.
ENGINE_PARAMETERS = """engine : {"local", "threads", "dask"}, optional
    What runs the pipeline (see :doc:`/engines`): the local pull loop
    (default), partitions on a thread pool, or a Dask graph.  The result is
    bit-identical on every engine.
workers : int, optional
    ``engine="threads"`` only: number of threads (default: the usable
    cores).
partition_size : int, optional
    ``engine="threads"`` or ``"dask"``: records of the source per partition
    (default: a few partitions per worker; for a Dask array, its own
    chunks)."""

#: The ``force`` argument of the file sinks, documented once.
_SINK_PARAMETERS = """\
force : bool, default False
    Replace `path` even if it is write-protected (no write permission
    bit); by default such a file is refused.  An existing file keeps
    its permission bits and owner, a symbolic link is written through
    to its file, and a FIFO or device (``/dev/null``) is written
    directly, without atomicity (see :doc:`/sinks`).
""" + ENGINE_PARAMETERS

_ENGINE_SIGNATURE = [
    inspect.Parameter("engine", inspect.Parameter.KEYWORD_ONLY, default="local", annotation="str"),
    inspect.Parameter("workers", inspect.Parameter.KEYWORD_ONLY, default=None,
                      annotation="int | None"),
    inspect.Parameter("partition_size", inspect.Parameter.KEYWORD_ONLY, default=None,
                      annotation="int | None"),
]


def engine_parameters(doc: str) -> str:
    """A method docstring (indented as in a class body) with the engine
    arguments' documentation where it says ``{engine_parameters}``, and the
    file sinks' ``force`` with them where it says ``{sink_parameters}``."""
    for key, params in (("engine_parameters", ENGINE_PARAMETERS),
                        ("sink_parameters", _SINK_PARAMETERS)):
        text = "".join(f"        {line}\n" for line in params.splitlines())
        # right after the other parameters (or the section's underline)
        doc = re.sub(r"\n(?:\n)?        \{" + key + r"\}\n", lambda _m, t=text: "\n" + t, doc)
    return doc


def _method_doc(spec: type[Terminal]) -> str:
    """The spec's ``doc`` (written at a class attribute's indentation) as a
    method's docstring."""
    first, _, rest = spec.doc.partition("\n")
    lines = [("    " + line) if line else line for line in rest.split("\n")]
    return engine_parameters(first + "\n" + "\n".join(lines))


def _stream_method(spec: type[Terminal]) -> Callable[..., Any]:
    """``Stream.<spec.name>``: a real signature (Python's own messages for a
    call that does not fit, the keyword meant suggested), run by
    :func:`~pystream.terminals.run.terminal_call`."""
    name = spec.name
    signature = inspect.signature(spec)
    params, positional, keywords, defaults = ["self"], [], [], {}
    star = False
    for p in signature.parameters.values():
        if p.kind is p.KEYWORD_ONLY and not star:
            params.append("*")
            star = True
        text = p.name
        if p.default is not p.empty:
            defaults[f"_default_{p.name}"] = p.default
            text += f"=_default_{p.name}"
        params.append(text)
        (keywords if p.kind is p.KEYWORD_ONLY else positional).append(p.name)
    if not star:
        params.append("*")
    params += ["engine='local'", "workers=None", "partition_size=None"]
    call = (f"_run(self, _spec, ({''.join(a + ', ' for a in positional)}), "
            f"{{{', '.join(f'{k!r}: {k}' for k in keywords)}}}, engine, workers, partition_size)")
    source = (f"def _make(_spec, _run, {', '.join(['_'] + list(defaults))}):\n"
              f"    def {name}({', '.join(params)}):\n"
              f"        return {call}\n"
              f"    return {name}\n")
    scope: dict[str, Any] = {}
    exec(source, globals(), scope)  # noqa: S102 - generated from the spec's own signature
    method = scope["_make"](spec, _call_on, None, *defaults.values())
    if hasattr(method.__code__, "co_qualname"):
        method.__code__ = method.__code__.replace(co_qualname=f"Stream.{name}")
    method.__qualname__ = f"Stream.{name}"
    method.__doc__ = _method_doc(spec)
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[self_param, *signature.parameters.values(), *_ENGINE_SIGNATURE],
        return_annotation=spec.returns)
    return suggest_keywords(method)


def _call_on(stream: Any, make: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
             engine: object, workers: object, partition_size: object) -> Any:
    """:func:`~pystream.terminals.run.terminal_call` on the chain of `stream`."""
    return terminal_call(node_of(stream), make, args, kwargs, engine, workers, partition_size)


def _branch_method(name: str) -> Callable[..., Branch]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Branch:
        return Branch(self, name, args, kwargs)

    return method


def branch_methods() -> dict[str, Callable[..., Branch]]:
    """The deferred terminal methods of :class:`~pystream.Pipeline`: each
    makes a :class:`~pystream.Branch` (same arguments, no engine)."""
    methods = {}
    for name, spec in TERMINALS.items():
        method = _branch_method(name)
        method.__name__ = name
        method.__qualname__ = f"Pipeline.{name}"
        method.__doc__ = (f"A :class:`Branch` computing :meth:`Stream.{name} "
                          f"<pystream.Stream.{name}>` on this pipeline's output (same arguments; "
                          "the engine arguments do not apply).")
        signature = inspect.signature(spec)
        self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
        method.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[self_param, *signature.parameters.values()], return_annotation="Branch")
        methods[name] = method
    return methods


class TerminalMethods:
    """Mixin of :class:`~pystream.Stream`: its terminal operations (one per
    spec of :data:`~pystream.terminals.protocol.TERMINALS`) and ``fork``."""

    __slots__ = ()

    def _terminal(self, make: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                  engine: object = "local", workers: object = None,
                  partition_size: object = None) -> Any:
        """Run the terminal spec ``make(*args, **kwargs)`` (a spec class, or a
        plugin reducer's :class:`~pystream.terminals.plugin.PluginTerminal`)."""
        return terminal_call(node_of(self), make, args, kwargs, engine, workers, partition_size)

    def _describe(self, ddof: object, nan_policy: object, where: str, quantiles: Any = (),
                  options: EngineOptions | None = None,
                  quantile_method: str = "kll") -> tuple[Any, Any]:
        """``describe()``'s moments and Description (for tests and tools)."""
        spec = DescribeTerminal(ddof, nan_policy, quantiles, quantile_method)  # type: ignore[arg-type]
        node = node_of(self)
        state = run_state(node, spec, options or EngineOptions())
        return state.moments, spec.finish(state, node.meta)  # type: ignore[attr-defined]

    def fork(self, *, workers: int | None = None, **branches: Any) -> dict[str, Any]:
        """Run several terminal operations in one pass over the stream.

        Each chunk is read once and handed to every branch in turn, then
        dropped: memory stays bounded whatever the stream's length (unlike
        :func:`itertools.tee`, nothing is buffered).  Each branch's result is
        the one its own pass would give, bit for bit.  A branch that needs
        no more data (after a ``take``) stops getting chunks, and the pass
        stops when every branch is done.

        Parameters
        ----------
        **branches
            Name -> consumer, as for :func:`pystream.tee`: a terminal's name
            (``"describe"``, ``"mean"``...), a reducer state, a branch made
            by a pipeline's terminal method
            (``ps.pipeline().moving_mean(100).to_npy(path)``), a pipeline
            (its output collected) or a nested ``tee``.  (``workers`` is not
            a branch name.)
        workers : int, optional
            Run the branches on this many threads, each thread owning some
            of the branches and getting every chunk through a short queue
            (the C kernels release the GIL, so branches run on separate
            cores; the results are the same).  Default: every branch in
            turn in the calling thread, where ``to_callback`` functions are
            then called too.

        Returns
        -------
        dict
            Name -> the branch's result (a sink's: its record count).

        Raises
        ------
        TypeError, ValueError
            For invalid branches, before anything is read.
        Exception
            What a branch raised, with a note naming the branch (and the
            stage and records, in a pipeline); every branch is aborted first,
            so no file sink leaves a file behind.

        Notes
        -----
        Branches computing statistics of the ``describe`` family (``count``,
        ``sum``, ``mean``, ``var``, ``std``, ``min``, ``max``, ``describe``)
        directly on the stream share one state: the moments kernel runs
        once per chunk for all of them.

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> s = ps.from_array(np.arange(10.0), chunk_size=4)
        >>> r = s.fork(mean="mean", top=ps.pipeline().moving_max(3).max(nan_policy="omit"),
        ...            hist=ps.Histogram(bins=2, range=(0, 10)))
        >>> float(r["mean"]), float(r["top"]), r["hist"].counts.tolist()
        (4.5, 9.0, [5, 5])
        """
        return fork(self, branches, workers)


for _spec in TERMINALS.values():
    setattr(TerminalMethods, _spec.name, _stream_method(_spec))
del _spec
