"""The built-in stage methods of :class:`~pystream.stream.Stream` and
:class:`~pystream.pipeline.Pipeline`, generated from the family tables.

Each method builds the stage registered under its name (a plugin may
replace a built-in with ``override=True``) and pipes it with ``_add_stage``;
see ``docs/internals/stages.rst``.
"""

from __future__ import annotations

import __future__
import inspect
from typing import TYPE_CHECKING, Any

from .._arguments import suggest_keywords
from .._extensions import find
from .registry import BUILTIN_STAGES
from .table import StageRow

__all__ = ["StageMethods"]


def _stage_method(row: StageRow) -> Any:
    """``def <name>(self, <params>) -> Stream: return self._registered(<name>, <call>)``,
    with the row's docstring: a real function, so its signature, defaults and
    call errors are those of a hand-written method."""
    source = (f"def {row.name}(self, {row.params}) -> Stream:\n"
              f"    return self._registered({row.name!r}, {row.call})\n")
    code = compile(source, f"<stage method {row.name}>", "exec",
                   flags=__future__.annotations.compiler_flag, dont_inherit=True)
    namespace: dict[str, Any] = {}
    exec(code, {"__name__": __name__}, namespace)  # noqa: S102 - the source is the table's
    method = namespace[row.name]
    method.__module__ = __name__
    method.__qualname__ = f"StageMethods.{row.name}"
    method.__doc__ = row.docstring
    return method


class StageMethods:
    """Mixin: the built-in stages as :class:`~pystream.stream.Stream` methods."""

    __slots__ = ()

    if TYPE_CHECKING:  # pragma: no cover
        def _add_stage(self, stage: Any) -> Any: ...

    def _registered(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Pipe the stage registered as `name` (a built-in unless a plugin
        replaced it with ``override=True``), built from the arguments."""
        entry = find("stages", name)
        if entry is None:
            return self._add_stage(BUILTIN_STAGES[name].build(*args, **kwargs))
        return self._add_stage(entry.factory(*args, **_for_override(name, entry.factory, kwargs)))


def _for_override(name: str, factory: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keywords a plugin's override of the built-in `name` is given: those the
    method passes at their default (``closed=None``, ``times=None``, added to the
    built-in after the plugin was written) are left out when the factory does not
    take them, so an override keeps working; a value the caller set is passed on
    (and refused by the factory if it does not know it)."""
    try:
        params = inspect.signature(factory).parameters
        defaults = inspect.signature(BUILTIN_STAGES[name].build).parameters
    except (TypeError, ValueError):  # no inspectable signature
        return kwargs
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items()
            if k in params or k not in defaults or not _is_default(v, defaults[k].default)}


def _is_default(value: Any, default: Any) -> bool:
    try:
        return value is default or bool(value == default)
    except Exception:  # an array compared elementwise
        return False


for _row in BUILTIN_STAGES.values():
    setattr(StageMethods, _row.name, _stage_method(_row))
del _row


def _suggest_keywords_on_methods(cls: type) -> None:
    """A misspelled keyword of a stage method (``moving_mean(windw=3)``)
    raises a TypeError that suggests the parameter meant, as the command
    line does (:mod:`pystream._arguments`)."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(member):
            setattr(cls, name, suggest_keywords(member))


_suggest_keywords_on_methods(StageMethods)
