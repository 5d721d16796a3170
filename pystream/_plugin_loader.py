"""Loading the entry-point plugins into a registry: pluggy, failure isolation, conflicts.

Imported by :meth:`pystream.plugins.Registry.load` only, so a process that
uses built-in names alone never imports pluggy.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Iterable
from typing import Any, Callable

import pluggy

import pystream.hookspecs as hookspecs

from ._extensions import BUILTIN, KINDS, Entry, PluginError, PluginInfo, PluginWarning
from .stages.methods import StageMethods
from .stream import Stream

__all__ = ["load_plugins"]

#: What a plugin must not prefix its names with: pystream adds it.
_PREFIX = {"sources": "from_", "sinks": "to_"}


def load_plugins(registry: Any, entry_points: Iterable[Any], disabled: set[str]) -> None:
    """Import and register every entry point of `entry_points` not in `disabled`
    into `registry` (a :class:`pystream.plugins.Registry`)."""
    registry.manager = pluggy.PluginManager(hookspecs.PROJECT)
    registry.manager.add_hookspecs(hookspecs)
    for ep in sorted(entry_points, key=lambda e: e.name):
        package = ep.dist.name if ep.dist is not None else ep.value.split(".")[0]
        if ep.name in disabled or package.lower().replace("_", "-") in disabled:
            continue
        version = ep.dist.version if ep.dist is not None else "?"
        try:
            module = ep.load()
        except Exception as exc:  # noqa: BLE001 - isolate any plugin failure
            _fail(registry, PluginInfo(ep.name, package, version), "failed to import", exc)
            continue
        _add_plugin(registry, module, ep.name, package, version)


def _add_plugin(registry: Any, module: Any, name: str, package: str, version: str) -> None:
    info = PluginInfo(name, package, version)
    manager = registry.manager
    try:
        manager.register(module, name=name)
    except Exception as exc:  # noqa: BLE001
        _fail(registry, info, "failed to register", exc)
        return
    staged: dict[str, dict[str, tuple[Entry, bool]]] = {k: {} for k in KINDS}
    try:
        for kind in KINDS:
            hook = getattr(manager.hook, "register_" + kind)
            for impl in hook.get_hookimpls():
                if impl.plugin_name == name:
                    impl.function(register=_Register(kind, name, package, staged[kind]))
    except Exception as exc:  # noqa: BLE001
        manager.unregister(module)
        if isinstance(exc, PluginError):  # a misnamed entry: always an error
            info.error = f"{type(exc).__name__}: {exc}"
            registry.plugins.append(info)
            raise
        _fail(registry, info, "failed to register", exc)
        return
    for kind in KINDS:
        for entry_name, (entry, override) in staged[kind].items():
            _merge(registry, entry, override)
            info.registered[kind].append(entry_name)
    registry.plugins.append(info)


def _merge(registry: Any, entry: Entry, override: bool) -> None:
    existing = registry.entries[entry.kind].get(entry.name)
    if existing is not None:
        if not (override and existing.origin == BUILTIN):
            what = entry.kind[:-1]
            hint = ("pass override=True to replace a built-in"
                    if existing.origin == BUILTIN else
                    f"disable one with PYSTREAM_DISABLE_PLUGINS={existing.plugin} "
                    f"or ={entry.plugin}")
            raise PluginError(
                f"{what} {entry.name!r} is registered by both {existing.origin} "
                f"(plugin {existing.plugin!r}) and {entry.origin} (plugin "
                f"{entry.plugin!r}); {hint}"
            )
    registry.entries[entry.kind][entry.name] = entry


def _fail(registry: Any, info: PluginInfo, what: str, exc: BaseException) -> None:
    info.error = f"{type(exc).__name__}: {exc}"
    registry.plugins.append(info)
    message = (f"pystream plugin {info.name!r} from package {info.package} "
               f"{info.version} {what}: {info.error}")
    if os.environ.get("PYSTREAM_STRICT_PLUGINS") == "1":
        raise PluginError(message) from exc
    warnings.warn(message + " (skipped; PYSTREAM_STRICT_PLUGINS=1 makes this an error)",
                  PluginWarning, stacklevel=5)


class _Register:
    """The ``register`` callback handed to one plugin's hook for one kind."""

    def __init__(self, kind: str, plugin: str, package: str,
                 staged: dict[str, tuple[Entry, bool]]) -> None:
        self.kind = kind
        self.plugin = plugin
        self.package = package
        self.staged = staged

    def __call__(self, name: str, factory: Callable[..., Any], *, family: str | None = None,
                 summary: str | None = None, example: str | None = None,
                 override: bool = False) -> None:
        what = f"plugin {self.plugin!r}: register {self.kind[:-1]} {name!r}"
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"{what}: the name must be a public Python identifier")
        prefix = _PREFIX.get(self.kind)
        if prefix and name.startswith(prefix):
            raise PluginError(
                f"plugin {self.plugin!r} (package {self.package}) registers the {self.kind[:-1]} "
                f"{name!r}, which would be {prefix}{name}: register {name[len(prefix):]!r} "
                f"(pystream adds the {prefix!r} prefix)")
        if not callable(factory):
            raise TypeError(f"{what}: the factory must be callable, got {factory!r}")
        if self.kind in ("stages", "reducers") and not family:
            raise TypeError(f"{what}: family is required")
        if name in self.staged:
            raise ValueError(f"{what}: registered twice by the same plugin")
        attribute = (prefix or "") + name
        if self.kind != "sources" and hasattr(Stream, attribute) \
                and not hasattr(StageMethods, attribute):
            raise ValueError(f"{what}: {attribute!r} is a Stream method of the core and cannot "
                             "be replaced")
        doc = inspect.getdoc(factory) or ""
        self.staged[name] = (Entry(
            name=name, kind=self.kind, factory=factory, family=family or self.kind,
            summary=summary or (doc.split("\n")[0] if doc else ""), origin=self.package,
            plugin=self.plugin, example=example,
        ), bool(override))
