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

import numpy as np
import pluggy

from . import _extensions, hookspecs
from ._checks import normalize_record_shape
from .stages.push import PusherDefaults

__all__ = [
    "CheckedChunks",
    "CheckedGenerator",
    "CheckedPusher",
    "CheckedStage",
    "checked_stage",
    "is_builtin_stage",
    "declared_meta",
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


# --------------------------------------------------------------------------- untrusted stages
#
# A stage written outside pystream (a plugin's, or a generator given to
# Stream.pipe) declares its output's dtype and record shape (output_meta, or
# pipe's arguments); everything downstream (reducers, sinks, the C kernels)
# relies on that declaration.  Each chunk such a stage yields is checked
# against it, so a broken promise is an error that names the stage and the
# chunk's global offset, not silent garbage (describe() reporting an int32
# count for a float64 stream) or an AttributeError deep in a consumer.
# pystream's own stages are trusted and not wrapped.


def is_builtin_stage(stage: Any) -> bool:
    """pystream's own stages (kernel objects, structural functions...): trusted."""
    module = getattr(type(stage), "__module__", "") or ""
    if module == "builtins":  # a function: where it was defined
        module = getattr(stage, "__module__", "") or ""
    return module == "pystream" or module.startswith("pystream.")


def stage_label(stage: Any) -> str:
    """The name errors give a stage: its ``name``, else its function's name."""
    name = getattr(stage, "name", None)
    if isinstance(name, str):
        return name
    return str(getattr(stage, "__name__", None) or type(stage).__name__)


def declared_meta(meta: Any, where: str) -> tuple[np.dtype, tuple[int, ...]]:
    """Check what a stage's ``output_meta`` returned: ``(dtype, record_shape)``.

    Raises
    ------
    TypeError
        If it is not a pair of a dtype and a tuple of non-negative ints, or
        the dtype holds Python objects.
    """

    if not (isinstance(meta, tuple) and len(meta) == 2):
        raise TypeError(f"{where}: output_meta must return (dtype, record_shape), got {meta!r}")
    dtype, record_shape = meta
    if dtype is None:
        raise TypeError(f"{where}: output_meta returned the dtype None; return a numpy dtype")
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"{where}: output_meta returned {dtype!r}, not a dtype ({e})") from None
    if dt.hasobject:
        raise TypeError(f"{where}: output_meta declares dtype {dt}; streams hold raw numeric "
                        "data, not Python objects")
    try:
        rs = normalize_record_shape(record_shape, where)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{where}: output_meta returned the record shape {record_shape!r}: "
                        f"{e}") from None
    return dt, rs


class CheckedChunks:
    """The output of an untrusted stage, each chunk checked against its declaration.

    An iterator object (no generator frame): a plain ndarray of the declared
    dtype and record shape passes in O(1) (a type, a dtype identity and a
    shape-tuple test); ndarray subclasses are viewed as plain arrays (their
    geometry read from the buffer); empty chunks are dropped; anything else
    raises :class:`TypeError` (not an array, another dtype) or
    :class:`ValueError` (a 0-d array, another record shape) naming the
    stage and the global record offset of the chunk.

    Parameters
    ----------
    chunks : iterator
        What the stage yields.
    meta : callable
        ``meta() -> (dtype, record_shape)``, the declaration (called once,
        at the first chunk).
    name : str
        The stage, for error messages.
    start : int
        Global index of the stage's first output record.
    """

    __slots__ = ("_meta", "chunks", "dtype", "name", "ndim", "offset", "record_shape")

    def __init__(self, chunks: Any, meta: Callable[[], tuple[np.dtype, tuple[int, ...]]],
                 name: str, start: int = 0) -> None:
        self.chunks = chunks
        self._meta = meta
        self.name = name
        self.offset = start
        self.dtype: np.dtype | None = None
        self.record_shape: tuple[int, ...] = ()
        self.ndim = 0

    def __iter__(self) -> CheckedChunks:
        return self

    def __next__(self) -> np.ndarray:
        while True:
            c = next(self.chunks)
            if (type(c) is np.ndarray and c.ndim == self.ndim
                    and (c.dtype is self.dtype
                         or (self.dtype is not None and c.dtype == self.dtype))
                    and c.shape[1:] == self.record_shape):
                k = c.shape[0]
                if k:
                    self.offset += k
                    return c
                continue
            c = self._slow(c)
            if c is not None:
                return c

    def _slow(self, c: Any) -> np.ndarray | None:
        if self.dtype is None:
            self.dtype, self.record_shape = self._meta()
            self.ndim = 1 + len(self.record_shape)
        where = (f"stage {self.name!r}: its output chunk at global record {self.offset}")
        if not isinstance(c, np.ndarray):
            raise TypeError(f"{where} is a {type(c).__name__}, not a numpy array; a stage must "
                            "yield ndarrays of shape (k, *record_shape)")
        if type(c) is not np.ndarray:
            if isinstance(c, np.ma.MaskedArray):
                raise TypeError(f"{where} is a masked array; yield plain ndarrays")
            c = np.asarray(c)  # geometry from the buffer, not the subclass's attributes
        if c.ndim == 0:
            raise ValueError(f"{where} is 0-d; a stage must yield chunks of shape "
                             "(k, *record_shape)")
        if not c.shape[0]:
            return None  # empty chunks are dropped, whatever their shape
        if c.dtype != self.dtype:
            raise TypeError(f"{where} has dtype {c.dtype}, but the stage declared {self.dtype} "
                            "(its output_meta, or pipe(dtype=...)); cast the chunks or "
                            "declare the dtype it yields")
        if c.shape[1:] != self.record_shape:
            raise ValueError(f"{where} has records of shape {c.shape[1:]}, but the stage "
                             f"declared {self.record_shape} (its output_meta, or "
                             "pipe(record_shape=...))")
        self.offset += c.shape[0]
        return c

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


class CheckedPusher(PusherDefaults):
    """The push form of an untrusted stage, its outputs checked as :class:`CheckedChunks`.

    ``passthrough`` is not offered (the chunks it would let through
    unchecked could break the declaration): every chunk goes through
    ``send``.
    """

    __slots__ = ("check",)

    def __init__(self, pusher: Any, check: CheckedChunks) -> None:
        super().__init__(pusher)
        self.check = check

    def _checked(self, outs: Any) -> list[np.ndarray]:
        if not isinstance(outs, list):
            if outs is None or isinstance(outs, (np.ndarray, str, bytes)):
                raise TypeError(f"stage {self.check.name!r}: its pusher returned "
                                f"{type(outs).__name__}, not a list of chunks")
            outs = list(outs)
        check = self.check
        check.chunks = iter(outs)
        return list(check)

    def send(self, chunk: np.ndarray) -> list[np.ndarray]:
        return self._checked(self.pusher.send(chunk))

    def close(self) -> list[np.ndarray]:
        return self._checked(self.pusher.close())


class CheckedStage:
    """An untrusted stage object (a plugin's), its output checked chunk by chunk.

    Forwards every attribute (``name``, ``partitioning``, ``push``...) to
    the stage; ``__call__`` and ``push`` check what the stage yields against
    what its ``output_meta`` declared for this stream (see
    :class:`CheckedChunks`), and ``output_meta``'s own result is checked.

    Parameters
    ----------
    stage : object
        The stage (``output_meta`` and ``__call__``).
    input_meta : callable
        ``input_meta() -> (dtype, record_shape)`` of the stream it is
        applied to (native byte order), for a declaration not made yet.
    """

    def __init__(self, stage: Any, input_meta: Callable[[], tuple[np.dtype, tuple[int, ...]]]
                 ) -> None:
        self._stage = stage
        self._input_meta = input_meta
        self._declared: tuple[np.dtype, tuple[int, ...]] | None = None
        self.name = stage_label(stage)

    def __repr__(self) -> str:
        return repr(self._stage)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") or attr in ("_stage", "_input_meta", "_declared"):
            raise AttributeError(attr)
        value = getattr(self._stage, attr)
        if attr == "push" and callable(value):
            def push(*args: Any, **kwargs: Any) -> CheckedPusher:
                check = CheckedChunks(iter(()), self.declared, self.name, kwargs.get("start", 0))
                return CheckedPusher(value(*args, **kwargs), check)
            return push
        return value

    def output_meta(self, dtype: np.dtype, record_shape: tuple[int, ...]
                    ) -> tuple[np.dtype, tuple[int, ...]]:
        """The stage's declaration for this input, checked (see :func:`declared_meta`)."""
        meta = declared_meta(self._stage.output_meta(dtype, record_shape),
                             f"stage {self.name!r}")
        self._declared = meta
        return meta

    def declared(self) -> tuple[np.dtype, tuple[int, ...]]:
        """The declared ``(dtype, record_shape)`` of this stage's output."""
        if self._declared is None:
            self.output_meta(*self._input_meta())
        assert self._declared is not None
        return self._declared

    def __call__(self, chunks: Any, *args: Any, **kwargs: Any) -> CheckedChunks:
        return CheckedChunks(iter(self._stage(chunks, *args, **kwargs)), self.declared,
                             self.name, kwargs.get("start", 0))


def checked_stage(stage: Any, input_meta: Callable[[], tuple[np.dtype, tuple[int, ...]]]) -> Any:
    """`stage` itself if it is pystream's own, else a :class:`CheckedStage`."""
    if is_builtin_stage(stage):
        return stage
    return CheckedStage(stage, input_meta)


class CheckedGenerator:
    """A generator function given to :meth:`Stream.pipe`, its output checked
    against the dtype and record shape the stream declares for it.

    Parameters
    ----------
    func : callable
        ``func(chunks, *args, **kwargs)``, an iterable of chunks.
    meta : callable
        ``meta() -> (dtype, record_shape)``: the output stream's metadata.
    start : callable
        ``start() -> int``: global index of the first output record.
    """

    __slots__ = ("__name__", "func", "meta", "start")

    def __init__(self, func: Callable[..., Any],
                 meta: Callable[[], tuple[np.dtype, tuple[int, ...]]],
                 start: Callable[[], int]) -> None:
        self.func = func
        self.meta = meta
        self.start = start
        self.__name__ = str(getattr(func, "__name__", None) or type(func).__name__)

    def __call__(self, chunks: Any, *args: Any, **kwargs: Any) -> CheckedChunks:
        out = self.func(chunks, *args, **kwargs)
        try:
            it = iter(out)
        except TypeError:
            raise TypeError(f"pipe: {self.__name__} returned a {type(out).__name__}, not an "
                            "iterable of chunks (write it as a generator function)") from None
        return CheckedChunks(it, self.meta, self.__name__, self.start())


class _RegistryFinder:
    """TEMPORARY (H-terminals' branch only; H-registry installs the real finder):
    answers :mod:`pystream._extensions` from :func:`get_registry`."""

    def find(self, kind: str, name: str) -> Any:
        return get_registry().get(kind, name)

    def names(self, kind: str) -> list[str]:
        return list(get_registry().entries[kind])


_extensions.install(_RegistryFinder())
