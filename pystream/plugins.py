"""Plugin loading and the registry of stages, sources and reducers.

One :class:`pluggy.PluginManager` holds the built-in plugin
(:mod:`pystream.builtins`) and every module of the ``pystream`` entry-point
group.  Nothing is loaded at ``import pystream``: the first use of the
registry (a plugin stage called on a Stream, ``pystream.from_<name>``,
``pystream.stages.<name>``, ``pystream plugins``) loads it, once.

Failure isolation (as conda's loader): a plugin that fails to import or to
register is reported with a :class:`PluginWarning` naming its package and
the error, its partial registrations are dropped, and every other plugin
still loads.  Environment switches:

``PYSTREAM_STRICT_PLUGINS=1``
    Turn those failures into :class:`PluginError` (for CI).
``PYSTREAM_DISABLE_PLUGINS=1`` (or ``all``)
    Load no entry-point plugin (built-ins only), like
    ``PYTEST_DISABLE_PLUGIN_AUTOLOAD``.
``PYSTREAM_DISABLE_PLUGINS=name,other``
    Skip the listed entry points (entry-point or distribution names).

Conflicts: two plugins registering the same name raise :class:`PluginError`
naming both packages; replacing a built-in needs ``override=True``.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import pluggy

from . import hookspecs

__all__ = [
    "Entry",
    "PluginError",
    "PluginInfo",
    "PluginWarning",
    "Registry",
    "get_registry",
    "reset_registry",
]

BUILTIN = "pystream"
KINDS = ("stages", "sources", "reducers")
_HOOK_OF_KIND = {"stages": "register_stages", "sources": "register_sources",
                 "reducers": "register_reducers"}


class PluginError(RuntimeError):
    """A plugin failed to load or register (strict mode), or two plugins conflict."""


class PluginWarning(UserWarning):
    """A plugin failed to load or register and was skipped."""


@dataclass(frozen=True)
class Entry:
    """One registered stage, source or reducer."""

    name: str
    kind: str  # "stages" | "sources" | "reducers"
    factory: Callable[..., Any]
    family: str
    summary: str
    origin: str  # distribution name ("pystream" for built-ins)
    plugin: str  # entry-point / plugin name
    example: str | None = None


@dataclass
class PluginInfo:
    """A loaded (or failed) plugin."""

    name: str
    package: str
    version: str
    registered: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})
    error: str | None = None


class Registry:
    """Name -> :class:`Entry` for each kind, and the plugins that filled it."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        self.plugins: list[PluginInfo] = []
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)

    @property
    def stages(self) -> dict[str, Entry]:
        return self.entries["stages"]

    @property
    def sources(self) -> dict[str, Entry]:
        return self.entries["sources"]

    @property
    def reducers(self) -> dict[str, Entry]:
        return self.entries["reducers"]

    def get(self, kind: str, name: str) -> Entry | None:
        """The entry registered under `name`, or None."""
        return self.entries[kind].get(name)

    # -- loading ---------------------------------------------------------
    def load(self) -> None:
        from . import builtins

        self._add_plugin(builtins, BUILTIN, BUILTIN, _version(BUILTIN))
        disabled = _disabled()
        if disabled is True:
            return
        for ep in sorted(_entry_points(), key=lambda e: e.name):
            package = ep.dist.name if ep.dist is not None else ep.value.split(".")[0]
            if ep.name in disabled or _canonical(package) in disabled:
                continue
            version = ep.dist.version if ep.dist is not None else "?"
            try:
                module = ep.load()
            except Exception as exc:  # noqa: BLE001 - isolate any plugin failure
                self._fail(PluginInfo(ep.name, package, version), "failed to import", exc)
                continue
            self._add_plugin(module, ep.name, package, version)

    def _add_plugin(self, module: Any, name: str, package: str, version: str) -> None:
        info = PluginInfo(name, package, version)
        try:
            self.manager.register(module, name=name)
        except Exception as exc:  # noqa: BLE001
            self._fail(info, "failed to register", exc)
            return
        staged: dict[str, dict[str, tuple[Entry, bool]]] = {k: {} for k in KINDS}
        try:
            for kind in KINDS:
                hook = getattr(self.manager.hook, _HOOK_OF_KIND[kind])
                for impl in hook.get_hookimpls():
                    if impl.plugin_name == name:
                        impl.function(register=_Register(kind, name, package, staged[kind]))
        except Exception as exc:  # noqa: BLE001
            self.manager.unregister(module)
            self._fail(info, "failed to register", exc)
            return
        for kind in KINDS:
            for entry_name, (entry, override) in staged[kind].items():
                self._merge(entry, override)
                info.registered[kind].append(entry_name)
        self.plugins.append(info)

    def _merge(self, entry: Entry, override: bool) -> None:
        existing = self.entries[entry.kind].get(entry.name)
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
        self.entries[entry.kind][entry.name] = entry

    def _fail(self, info: PluginInfo, what: str, exc: BaseException) -> None:
        info.error = f"{type(exc).__name__}: {exc}"
        self.plugins.append(info)
        message = (f"pystream plugin {info.name!r} from package {info.package} "
                   f"{info.version} {what}: {info.error}")
        if os.environ.get("PYSTREAM_STRICT_PLUGINS") == "1":
            raise PluginError(message) from exc
        warnings.warn(message + " (skipped; PYSTREAM_STRICT_PLUGINS=1 makes this an error)",
                      PluginWarning, stacklevel=4)


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
        if not callable(factory):
            raise TypeError(f"{what}: the factory must be callable, got {factory!r}")
        if self.kind != "sources" and not family:
            raise TypeError(f"{what}: family is required")
        if name in self.staged:
            raise ValueError(f"{what}: registered twice by the same plugin")
        if self.kind == "stages" or self.kind == "reducers":
            _check_not_reserved(name, what, self.plugin == BUILTIN or override)
        doc = inspect.getdoc(factory) or ""
        self.staged[name] = (Entry(
            name=name, kind=self.kind, factory=factory, family=family or "sources",
            summary=summary or (doc.split("\n")[0] if doc else ""), origin=self.package,
            plugin=self.plugin, example=example,
        ), bool(override))


def _check_not_reserved(name: str, what: str, builtin_or_override: bool) -> None:
    """Refuse names that are Stream's own plumbing (map, to_array, describe...)."""
    from .stages.methods import StageMethods
    from .stream import Stream

    if hasattr(Stream, name) and not hasattr(StageMethods, name):
        raise ValueError(f"{what}: {name!r} is a Stream method of the core and cannot be replaced")
    if hasattr(StageMethods, name) and not builtin_or_override:
        return  # a clash with a built-in: _merge reports it with both names


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP))


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-")


def _disabled() -> set[str] | bool:
    value = os.environ.get("PYSTREAM_DISABLE_PLUGINS", "").strip()
    if value.lower() in ("1", "all", "true", "yes"):
        return True
    return {_canonical(v.strip()) for v in value.split(",") if v.strip()} | {
        v.strip() for v in value.split(",") if v.strip()}


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        from . import __version__

        return __version__


_registry: Registry | None = None
_lock = threading.RLock()


def get_registry() -> Registry:
    """The registry, loading the plugins on first use (thread-safe, once)."""
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


def reset_registry() -> None:
    """Forget the loaded registry: the next use loads the plugins again (for tests)."""
    global _registry
    with _lock:
        _registry = None
