"""Hook specifications of pystream's plugin system (pluggy, project name ``"pystream"``).

A plugin is a module with functions decorated by :data:`hookimpl`, exposed
through the entry-point group ``pystream``::

    # pyproject.toml of the plugin package
    [project.entry-points.pystream]
    myplugin = "my_package.plugin"

    # my_package/plugin.py
    from pystream.hookspecs import hookimpl

    @hookimpl
    def register_stages(register):
        register("clip_abs", ClipAbs, family="elementwise")

Every hook receives a ``register`` callback (as ``simonw/llm`` does) and
returns nothing.  pystream's own stages, sources and reducers are registered
through these same hooks by the built-in plugin :mod:`pystream.builtins`.
Import heavy dependencies lazily inside the factories: the hooks run on the
first use of the registry, and they should be cheap.
"""

from __future__ import annotations

from typing import Callable

import pluggy

__all__ = ["hookimpl", "hookspec", "PROJECT", "ENTRY_POINT_GROUP"]

#: pluggy project name (the markers' and the plugin manager's).
PROJECT = "pystream"
#: Entry-point group plugin packages declare.
ENTRY_POINT_GROUP = "pystream"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[..., None]


@hookspec
def register_stages(register: Register) -> None:  # type: ignore[empty-body]
    """Register stages: ``register(name, factory, *, family, summary=None, example=None,
    override=False)``.

    ``factory(**params)`` returns a stage object: a ``name`` attribute,
    ``output_meta(dtype, record_shape) -> (dtype, record_shape)`` and
    ``__call__(chunks, start=0)``, a generator over chunks (see
    :mod:`pystream.testing` for the properties a stage must have).  The stage
    becomes ``Stream.<name>(**params)`` and ``pystream.stages.<name>``.

    Parameters
    ----------
    register : callable
        ``register(name, factory, *, family, summary=None, example=None,
        override=False)``.  `family` groups stages in listings and docs;
        `summary` defaults to the first line of the factory's docstring;
        `example` is the path of a runnable example; `override=True` is
        needed to replace a built-in.
    """


@hookspec
def register_sources(register: Register) -> None:  # type: ignore[empty-body]
    """Register sources: ``register(name, func, *, summary=None, example=None, override=False)``.

    ``func(*args, **kwargs)`` returns a :class:`pystream.Stream`; it becomes
    ``pystream.from_<name>``.

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
    and returns ``result()``.

    Parameters
    ----------
    register : callable
        Same arguments as for :func:`register_stages`.
    """


def _hook_names() -> list[str]:
    """Names of the hooks specified here (used by the meta-tests and the docs)."""
    return [name for name, value in globals().items()
            if name.startswith("register_") and callable(value)
            and hasattr(value, PROJECT + "_spec")]


HOOKS: list[str] = _hook_names()
__all__ += ["HOOKS", "register_stages", "register_sources", "register_reducers"]
