"""Hook specifications of pystream's plugin system (pluggy, project name ``"pystream"``).

A plugin is a module of :data:`hookimpl` functions exposed through the
entry-point group ``pystream``; each hook receives a ``register`` callback.
The guide (``docs/plugins.md``) shows a complete plugin; the hook reference
there is generated from the docstrings below.
"""

from __future__ import annotations

from typing import Callable

import pluggy

from ._extensions import ENTRY_POINT_GROUP

__all__ = ["hookimpl", "hookspec", "PROJECT", "ENTRY_POINT_GROUP"]

#: pluggy project name (the markers' and the plugin manager's).
PROJECT = ENTRY_POINT_GROUP

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[..., None]


@hookspec
def register_stages(register: Register) -> None:  # type: ignore[empty-body]
    """Register stages: ``register(name, factory, *, family, summary=None, example=None,
    override=False)``.

    ``factory(**params)`` returns a stage object: a ``name`` attribute,
    ``output_meta(dtype, record_shape) -> (dtype, record_shape)`` and
    ``__call__(chunks, start=0)``, a generator over chunks (``start``: the
    global index of the first record of `chunks`); optionally
    ``partitioning() -> Mapping`` (run on the parallel engines) and
    ``push(start=0)`` (a pusher, for push mode).  See
    :mod:`pystream.testing` for the properties a stage must have.  The stage
    becomes ``Stream.<name>(**params)`` and ``pystream.stages.<name>``.

    Parameters
    ----------
    register : callable
        ``register(name, factory, *, family, summary=None, example=None,
        override=False)``.  `family` groups stages in listings and docs;
        `summary` defaults to the first line of the factory's docstring;
        `example` is a URL or the path of a runnable example relative to
        the plugin's project root (the folder of its ``pyproject.toml``);
        `override=True` is needed to replace a built-in.
    """


@hookspec
def register_sources(register: Register) -> None:  # type: ignore[empty-body]
    """Register sources: ``register(name, func, *, summary=None, example=None, override=False)``.

    ``func(*args, **kwargs)`` returns a :class:`pystream.Stream`; it becomes
    ``pystream.from_<name>`` (register ``"wav"``, not ``"from_wav"``).  A
    stream built by :func:`pystream.from_reader` is random access: it runs on
    the parallel engines.

    Parameters
    ----------
    register : callable
        ``register(name, func, *, summary=None, example=None, override=False)``.
    """


@hookspec
def register_reducers(register: Register) -> None:  # type: ignore[empty-body]
    """Register reducers: ``register(name, factory, *, family, summary=None, example=None,
    override=False)``.

    ``factory(**params)`` returns a state with ``update(chunk) -> state``,
    ``merge(other) -> state`` (``other`` covers the records right after this
    state's), ``result()``, ``to_bytes()`` and a classmethod
    ``from_bytes(data)``.  The reducer becomes the terminal method
    ``Stream.<name>(**params)``, which updates a fresh state with every chunk
    and returns ``result()``.  A factory taking ``start=`` gets the global
    index of the state's first record; a state with the class attribute
    ``positional = False`` declares that it does not depend on where its
    records are (it is reduced per partition even after a ``filter``).

    Parameters
    ----------
    register : callable
        Same arguments as for :func:`register_stages`.
    """


@hookspec
def register_sinks(register: Register) -> None:  # type: ignore[empty-body]
    """Register sinks: ``register(name, factory, *, summary=None, example=None,
    override=False)``.

    ``factory(*args, dtype, record_shape, **kwargs)`` returns a writer for a
    stream of that dtype and record shape: ``write(chunk)``, ``finish() ->
    int`` (completes the output, returns the record count), ``abort()``
    (after an error: discard the partial output) and ``count`` (the records
    written so far).  The sink becomes the terminal method
    ``Stream.to_<name>(*args, **kwargs)`` (register ``"wav"``, not
    ``"to_wav"``), and the same terminal on a :class:`pystream.Pipeline`, a
    push sink and a ``fork`` branch.

    Parameters
    ----------
    register : callable
        ``register(name, factory, *, summary=None, example=None, override=False)``.
    """


def _hook_names() -> list[str]:
    """Names of the hooks specified here (used by the meta-tests and the docs)."""
    return [name for name, value in globals().items()
            if name.startswith("register_") and callable(value)
            and hasattr(value, PROJECT + "_spec")]


HOOKS: list[str] = _hook_names()
__all__ += ["HOOKS", "register_stages", "register_sources", "register_reducers",
            "register_sinks"]
