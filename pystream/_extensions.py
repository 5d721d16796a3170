"""The lookup through which the plugin registry answers the layers below it.

The registry (:mod:`pystream.plugins`) sits above the core, which never imports
it: it installs a finder here when it is imported (``import pystream`` does).
The registry's records (:class:`Entry`, :class:`PluginInfo`) and errors live
here too, so lower layers can name them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "KINDS", "Entry", "Finder", "PluginError",
           "PluginInfo", "PluginWarning", "call_name", "find", "install", "names"]

#: The registry's kinds, in listing order: the ``register_<kind>`` hooks, the
#: keys of ``Registry.entries`` and of ``PluginInfo.registered``.
KINDS = ("stages", "sources", "reducers", "sinks")
#: Entry-point group (and pluggy project name) of pystream plugins.
ENTRY_POINT_GROUP = "pystream"
#: The origin and plugin name of pystream's own entries.
BUILTIN = "pystream"

#: How users call an entry of each kind: ``stream.<name>``, ``pystream.from_<name>``...
_PREFIX = {"stages": "", "sources": "from_", "reducers": "", "sinks": "to_"}


class PluginError(RuntimeError):
    """A plugin failed to load or register (strict mode), or two plugins conflict."""


class PluginWarning(UserWarning):
    """A plugin failed to load or register and was skipped."""


@dataclass(frozen=True)
class Entry:
    """One registered stage, source, reducer or sink."""

    name: str
    kind: str  # one of KINDS
    factory: Callable[..., Any]
    family: str
    summary: str
    origin: str  # distribution name ("pystream" for built-ins)
    plugin: str  # entry-point / plugin name
    example: str | None = None

    @property
    def call_name(self) -> str:
        """The name users call: ``from_<name>`` for a source, ``to_<name>`` for a
        sink, the name itself for a stage or reducer."""
        return call_name(self.kind, self.name)


def call_name(kind: str, name: str) -> str:
    """The name users call for entry `name` of `kind` (see :attr:`Entry.call_name`)."""
    return _PREFIX[kind] + name


@dataclass
class PluginInfo:
    """A loaded (or failed) plugin."""

    name: str
    package: str
    version: str
    registered: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})
    error: str | None = None


class Finder(Protocol):
    """What the registry provides: an entry by kind and name, and all names of a kind."""

    def find(self, kind: str, name: str) -> Entry | None:
        """The entry `name` of `kind`; loads the plugins only if `name` is not built in."""

    def names(self, kind: str) -> list[str]:
        """Every registered name of `kind` (plugins loaded)."""


_finder: Finder | None = None


def install(finder: Finder) -> None:
    """Make `finder` answer :func:`find` and :func:`names` (the registry calls this)."""
    global _finder
    _finder = finder


def find(kind: str, name: str) -> Entry | None:
    """The registry's entry `name` of `kind`, or None (also when no registry is installed)."""
    return None if _finder is None else _finder.find(kind, name)


def names(kind: str) -> list[str]:
    """The registered names of `kind` (empty when no registry is installed)."""
    return [] if _finder is None else _finder.names(kind)
