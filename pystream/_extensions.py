"""The lookup through which the plugin registry answers the layers below it.

The registry (:mod:`pystream.plugins`) sits above the core: the core never
imports it.  It installs a finder here when it is imported (``import
pystream`` does), and :class:`~pystream.Stream`, the terminal operations and
the package namespace ask :func:`find` for names that are not built in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Finder", "find", "install", "names"]


class Finder(Protocol):
    """What the registry provides: an entry by kind and name, and all names of a kind."""

    def find(self, kind: str, name: str) -> Any | None:
        """The entry `name` of `kind` (``"stages"``, ``"sources"``, ``"reducers"``,
        ``"sinks"``), loading the plugins if it is not built in; None if absent."""

    def names(self, kind: str) -> list[str]:
        """Every registered name of `kind` (plugins loaded)."""


_finder: Finder | None = None


def install(finder: Finder) -> None:
    """Make `finder` answer :func:`find` and :func:`names` (the registry calls this)."""
    global _finder
    _finder = finder


def find(kind: str, name: str) -> Any | None:
    """The registry's entry `name` of `kind`, or None (also when no registry is installed)."""
    return None if _finder is None else _finder.find(kind, name)


def names(kind: str) -> list[str]:
    """The registered names of `kind` (empty when no registry is installed)."""
    return [] if _finder is None else _finder.names(kind)


#: Signature of a registry entry's factory, for type hints.
Factory = Callable[..., Any]
