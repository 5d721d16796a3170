"""The registry of stages, sources, reducers and sinks: built-ins, then plugins on demand.

Built-in names are answered from :mod:`pystream.builtin_entries`, without
pluggy or the entry-point scan.  The plugins of the ``pystream`` entry-point
group load once: when a name that is not built in is asked for, on ``dir()``
of a Stream, of ``pystream`` or of ``pystream.stages``, on ``pystream
plugins``, or on :func:`load`.  Importing this module (``import pystream``
does) installs the finder of :mod:`pystream._extensions`.  Switches, failures
and conflicts: the plugin guide; design notes: ``docs/internals/plugins.rst``.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from ._extensions import (
    BUILTIN,
    ENTRY_POINT_GROUP,
    KINDS,
    Entry,
    PluginError,
    PluginInfo,
    PluginWarning,
    install,
)
from ._version import DISTRIBUTION, __version__
from .builtin_entries import builtin_entries

if TYPE_CHECKING:  # pragma: no cover
    from importlib.metadata import EntryPoint

__all__ = [
    "BUILTIN",
    "KINDS",
    "Entry",
    "PluginError",
    "PluginInfo",
    "PluginWarning",
    "Registry",
    "get_registry",
    "is_loaded",
    "load",
    "reset_registry",
]

#: Kinds whose names share one namespace: stages and reducers are both
#: ``stream.<name>``, sources are ``pystream.from_<name>``, sinks ``stream.to_<name>``.
_NAMESPACE = {"stages": ("stages", "reducers"), "reducers": ("stages", "reducers"),
              "sources": ("sources",), "sinks": ("sinks",)}


class Registry:
    """Name -> :class:`Entry` for each kind of :data:`KINDS`, and the plugins that filled it.

    A new registry holds the built-in entries; :meth:`load` adds the
    entry-point plugins' (:func:`get_registry` returns the loaded one).

    Attributes
    ----------
    entries : dict
        ``entries[kind][name]`` -> :class:`Entry`; kinds ``"stages"``,
        ``"sources"``, ``"reducers"``, ``"sinks"``.
    plugins : list of PluginInfo
        The built-in plugin (``"pystream"``) first, then each entry-point
        plugin, loaded or failed.
    manager : pluggy.PluginManager or None
        The plugin manager once :meth:`load` ran.
    """

    def __init__(self) -> None:
        builtins = _builtin_table()
        self.entries: dict[str, dict[str, Entry]] = {k: dict(builtins[k]) for k in KINDS}
        self.plugins: list[PluginInfo] = [
            PluginInfo(BUILTIN, DISTRIBUTION, __version__, {k: list(builtins[k]) for k in KINDS})]
        self.manager: Any = None

    @property
    def stages(self) -> dict[str, Entry]:
        return self.entries["stages"]

    @property
    def sources(self) -> dict[str, Entry]:
        return self.entries["sources"]

    @property
    def reducers(self) -> dict[str, Entry]:
        return self.entries["reducers"]

    @property
    def sinks(self) -> dict[str, Entry]:
        return self.entries["sinks"]

    def get(self, kind: str, name: str) -> Entry | None:
        """The entry registered under `name`, or None."""
        return self.entries[kind].get(name)

    def load(self) -> None:
        """Add the entry-point plugins' entries (unless ``PYSTREAM_DISABLE_PLUGINS=1``)."""
        disabled = _disabled()
        if disabled is True:
            return
        # The lazy plugin loader: pluggy and the plugins' modules are imported
        # here only, never for a built-in name.
        from ._plugin_loader import load_plugins

        load_plugins(self, _entry_points(), disabled)


def _entry_points() -> list[EntryPoint]:
    # importlib.metadata (with email, zipfile, csv) is imported when plugins
    # load, not at ``import pystream``.
    from importlib.metadata import entry_points

    return list(entry_points(group=ENTRY_POINT_GROUP))


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-")


def _disabled() -> set[str] | bool:
    value = os.environ.get("PYSTREAM_DISABLE_PLUGINS", "").strip()
    if value.lower() in ("1", "all", "true", "yes"):
        return True
    return {_canonical(v.strip()) for v in value.split(",") if v.strip()} | {
        v.strip() for v in value.split(",") if v.strip()}


_builtins: dict[str, dict[str, Entry]] | None = None
_registry: Registry | None = None
_lock = threading.RLock()


def _builtin_table() -> dict[str, dict[str, Entry]]:
    global _builtins
    table = _builtins
    if table is None:
        with _lock:
            if _builtins is None:
                _builtins = builtin_entries()
            table = _builtins
    return table


def get_registry() -> Registry:
    """The registry with the plugins loaded (loads them on the first call; thread-safe, once)."""
    global _registry
    registry = _registry
    if registry is None:
        with _lock:
            if _registry is None:
                fresh = Registry()
                fresh.load()
                _registry = fresh
            registry = _registry
    return registry


def load() -> Registry:
    """Load the plugins now and return the registry (what :func:`get_registry` does).

    Built-in names never load the plugins, so a plugin that replaces a
    built-in (``override=True``) takes effect once the plugins are loaded:
    call ``pystream.plugins.load()`` at start-up to have it from the first
    call.  Loading happens once per process; :func:`reset_registry` forgets it.
    """
    return get_registry()


def is_loaded() -> bool:
    """Whether the plugins have been loaded in this process."""
    return _registry is not None


def reset_registry() -> None:
    """Forget the loaded registry: the next use loads the plugins again (for tests)."""
    global _registry
    with _lock:
        _registry = None


class _Finder:
    """What :mod:`pystream._extensions` asks: built-in names without loading anything."""

    def find(self, kind: str, name: str) -> Entry | None:
        registry = _registry
        if registry is None:
            table = _builtin_table()
            entry = table[kind].get(name)
            if entry is not None or any(name in table[k] for k in _NAMESPACE[kind]):
                return entry
            registry = get_registry()
        return registry.entries[kind].get(name)

    def names(self, kind: str) -> list[str]:
        return list(get_registry().entries[kind])


install(_Finder())
