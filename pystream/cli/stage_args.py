"""Stages written on the command line: ``name`` or ``name:v1,key=value,...``
(``pystream run`` STAGE arguments, ``pystream describe --stage``); the rules
are in ``docs/internals/stages.rst`` and ``docs/cli.rst``.

Examples
--------
>>> spec = parse_stage("moving_quantile:50,q=0.9")
>>> spec.name, spec.args, spec.kwargs
('moving_quantile', (50,), {'q': 0.9})
>>> parse_stage("resample:10,how=max").kwargs
{'how': 'max'}
"""

from __future__ import annotations

import ast
import difflib
import inspect
import math
import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

from .._arguments import did_you_mean
from .._extensions import find as find_extension, names as extension_names
from ..stages.registry import BUILTIN_STAGES
from ..stream import Stream

__all__ = [
    "STRUCTURAL",
    "CLIStage",
    "StageSpec",
    "StageSpecError",
    "apply_stages",
    "catalogue",
    "format_catalogue",
    "parse_stage",
    "parse_value",
]

#: Stream methods that are stages and take plain values (``map``, ``filter``
#: and ``pipe`` take functions, so they have no command-line form).
STRUCTURAL = ("take", "skip", "rechunk", "astype", "select")

#: Words read as the Python constants they name (besides Python's own spelling).
_WORDS: dict[str, Any] = {
    "nan": math.nan, "+nan": math.nan, "-nan": math.nan,
    "inf": math.inf, "+inf": math.inf, "-inf": -math.inf,
    "infinity": math.inf, "+infinity": math.inf, "-infinity": -math.inf,
    "true": True, "false": False, "none": None,
}

_OPEN = {"(": ")", "[": "]", "{": "}"}


class StageSpecError(ValueError):
    """A stage argument that cannot be used: its message is one line for the user."""


@dataclass(frozen=True)
class CLIStage:
    """A stage that can be written on the command line.

    Attributes
    ----------
    name : str
        The stage's name (a :class:`~pystream.Stream` method, or a plugin
        stage reached as ``stream.<name>``).
    signature : inspect.Signature
        The parameters the stage is called with (without ``self``).
    summary : str
        One line, plain text.
    family : str
        Registry family (``"windows"``, ``"signal"``, ...); ``"structural"``
        for :data:`STRUCTURAL`.
    origin : str
        The distribution that registers it (``"pystream"`` for built-ins).
    """

    name: str
    signature: inspect.Signature
    summary: str
    family: str
    origin: str

    def parameters_text(self) -> str:
        """The parameters as written in a call, e.g. ``window, min_count=None``."""
        parts = []
        for p in self.signature.parameters.values():
            if p.kind is p.VAR_POSITIONAL:
                parts.append("*" + p.name)
            elif p.kind is p.VAR_KEYWORD:
                parts.append("**" + p.name)
            elif p.default is p.empty:
                parts.append(p.name)
            else:
                parts.append(f"{p.name}={p.default!r}")
        return ", ".join(parts) if parts else "(no parameters)"


@dataclass(frozen=True)
class StageSpec:
    """A parsed stage argument: ``stream.<name>(*args, **kwargs)``.

    Attributes
    ----------
    text : str
        The argument as written (for messages).
    name : str
        The stage.
    args : tuple
        Positional values.
    kwargs : dict
        Keyword values.
    stage : CLIStage
        What the stage is (for messages).
    """

    text: str
    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    stage: CLIStage | None = field(default=None, compare=False, repr=False)

    def apply(self, stream: Any) -> Any:
        """Add this stage to `stream` (lazy; no data is read).

        Parameters
        ----------
        stream : pystream.Stream
            The upstream.

        Returns
        -------
        pystream.Stream
            ``stream.<name>(*args, **kwargs)``.

        Raises
        ------
        StageSpecError
            When the stage refuses its parameters or the stream (a bad
            value, an unsupported dtype, ...): the stage's message, prefixed
            with this argument and followed by the stage's parameters.
        """
        try:
            return getattr(stream, self.name)(*self.args, **self.kwargs)
        except (ValueError, TypeError, IndexError, OverflowError) as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            params = f"; {self.name} takes {self.stage.parameters_text()}" if self.stage else ""
            raise StageSpecError(f"stage {self.text!r}: {message}{params}") from None


# --------------------------------------------------------------------------- the catalogue


def _plain(text: str) -> str:
    """reST inline markup to plain text (``x`` -> x, :meth:`~a.b` -> b)."""
    text = re.sub(r":[\w:.-]+:`~?([^`<]*?)\s*<[^`]*>`", r"\1", text)   # :role:`text <target>`
    text = re.sub(r":[\w:.-]+:`~([^`]*)`", lambda m: m.group(1).rsplit(".", 1)[-1], text)
    text = re.sub(r":[\w:.-]+:`([^`]*)`", r"\1", text)
    text = re.sub(r"``([^`]*)``", r"\1", text)
    return re.sub(r"`([^`]*)`", r"\1", text)


def _summary(doc: str, registered: str = "") -> str:
    """One plain line: the registered summary, or the docstring's first sentence.

    The registry's default summary is the docstring's first *line*, which
    can stop mid-sentence; then the first sentence of the first paragraph
    is used instead.
    """
    raw = doc.strip().split("\n\n", 1)[0] if doc else ""
    paragraph = " ".join(raw.split())
    registered = " ".join(registered.split())
    if registered and not paragraph.startswith(registered):
        text = registered
    else:
        # the first sentence (this code base ends sentences with two spaces)
        text = " ".join(re.split(r"(?<=\.)\s{2,}", raw, maxsplit=1)[0].split()) or registered
    return _plain(text)


def _method_signature(func: Any) -> inspect.Signature:
    sig = inspect.signature(func)
    params = list(sig.parameters.values())
    if params and params[0].name == "self":
        params = params[1:]
    return sig.replace(parameters=params)


def catalogue() -> dict[str, CLIStage]:
    """Every stage the command line can use, by name: registered stages
    (built-ins and plugins, in registry order), then :data:`STRUCTURAL`.

    A stage that is a :class:`~pystream.Stream` method (the built-ins) is
    described by that method's signature, which is what a command-line stage
    calls; a plugin stage by its registry factory's signature.

    Returns
    -------
    dict of str to CLIStage
    """
    out: dict[str, CLIStage] = {}
    for name in extension_names("stages") or list(BUILTIN_STAGES):
        entry = find_extension("stages", name)
        if entry is None:  # no registry installed: the family tables
            row = BUILTIN_STAGES[name]
            factory, summary, family, origin = row.build, row.summary, row.family, "pystream"
        else:
            factory, summary, family, origin = (entry.factory, entry.summary, entry.family,
                                                entry.origin)
        method = getattr(Stream, name, None)
        target = method if method is not None else factory
        try:
            sig = _method_signature(target) if method is not None else inspect.signature(target)
        except (TypeError, ValueError):  # a factory without an inspectable signature
            sig = inspect.Signature([
                inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL),
                inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)])
        doc = inspect.getdoc(target) or ""
        out[name] = CLIStage(name, sig, _summary(doc, summary), family, origin)
    for name in STRUCTURAL:
        method = getattr(Stream, name)
        out[name] = CLIStage(name, _method_signature(method),
                             _summary(inspect.getdoc(method) or ""), "structural", "pystream")
    return out


def format_catalogue(stages: dict[str, CLIStage] | None = None, width: int = 79) -> str:
    """The stage listing of ``pystream run --help``: grouped by family and origin.

    Parameters
    ----------
    stages : dict, optional
        Default: :func:`catalogue`.
    width : int, optional
        Line width.

    Returns
    -------
    str
    """
    stages = catalogue() if stages is None else stages
    groups: dict[tuple[str, str], list[CLIStage]] = {}
    for stage in stages.values():
        groups.setdefault((stage.family, stage.origin), []).append(stage)
    lines = ["stages (STAGE is name or name:key=value,...; values are Python literals,",
             "else strings; a name alone keeps the defaults):"]
    for (family, origin), members in groups.items():
        where = "built-in" if origin == "pystream" else f"plugin {origin}"
        lines.append("")
        lines.append(f"  {family} ({where})")
        for stage in members:
            head = f"    {stage.name}: {stage.parameters_text()}"
            lines.extend(textwrap.wrap(head, width, subsequent_indent=" " * 8,
                                       break_on_hyphens=False))
            lines.extend(textwrap.wrap(stage.summary, width, initial_indent=" " * 8,
                                       subsequent_indent=" " * 8))
    return "\n".join(lines)


# --------------------------------------------------------------------------- parsing


def _split_top(text: str, sep: str) -> list[str]:
    """Split `text` at `sep` outside brackets and quotes."""
    parts: list[str] = []
    depth: list[str] = []
    quote = ""
    start = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in _OPEN:
            depth.append(_OPEN[ch])
        elif depth and ch == depth[-1]:
            depth.pop()
        elif ch == sep and not depth:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def parse_value(text: str) -> Any:
    """A command-line parameter value: a Python literal, else the string itself.

    Parameters
    ----------
    text : str

    Returns
    -------
    object
        ``int``, ``float``, ``bool``, ``None``, a tuple/list/dict/str
        literal, or `text` unchanged.

    Examples
    --------
    >>> parse_value("100"), parse_value("0.9"), parse_value("-inf"), parse_value("max")
    (100, 0.9, -inf, 'max')
    >>> parse_value("(0,2)"), parse_value("True"), parse_value("none")
    ((0, 2), True, None)
    """
    stripped = text.strip()
    word = _WORDS.get(stripped.lower(), _WORDS)
    if word is not _WORDS:
        return word
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def _annotation_types(annotation: Any) -> set[str] | None:
    """The plain types an annotation allows ({"int", "None"} for ``int | None``),
    or None when it is anything else (then the value is not checked here)."""
    if annotation is inspect.Parameter.empty:
        return None
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    text = text.replace(" ", "")
    match = re.fullmatch(r"(?:typing\.)?Optional\[(.*)\]", text)
    if match:
        text = match.group(1) + "|None"
    names = set(text.split("|"))
    if not names or not names <= {"int", "float", "bool", "str", "None", "NoneType"}:
        return None
    return {"None" if n == "NoneType" else n for n in names}


def _type_ok(value: Any, allowed: set[str]) -> bool:
    if value is None:
        return "None" in allowed
    if isinstance(value, bool):
        return "bool" in allowed
    if isinstance(value, int):
        return "int" in allowed or "float" in allowed
    if isinstance(value, float):
        return "float" in allowed
    if isinstance(value, str):
        return "str" in allowed
    return False


_TYPE_WORDS = {"int": "an integer", "float": "a number", "bool": "True or False",
               "str": "a string", "None": "None"}


def parse_stage(text: str, stages: dict[str, CLIStage] | None = None) -> StageSpec:
    """Parse one stage argument and check it against the stage's signature.

    Parameters
    ----------
    text : str
        ``name`` or ``name:value,...,key=value,...``.
    stages : dict, optional
        The stages to accept; default :func:`catalogue`.

    Returns
    -------
    StageSpec

    Raises
    ------
    StageSpecError
        For a malformed argument, an unknown stage, an unknown, repeated or
        missing parameter, or a value of the wrong type; the message names
        the argument and lists the valid stages or parameters.

    Examples
    --------
    >>> parse_stage("take:n=10")
    StageSpec(text='take:n=10', name='take', args=(), kwargs={'n': 10})
    >>> parse_stage("cumsum").kwargs
    {}
    """
    stages = catalogue() if stages is None else stages
    name, colon, rest = text.partition(":")
    name = name.strip()
    where = f"stage {text!r}"
    if not name:
        raise StageSpecError(f"{where}: no stage name before ':' (expected name or "
                             "name:key=value,...)")
    stage = stages.get(name)
    if stage is None:
        close = difflib.get_close_matches(name, list(stages), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise StageSpecError(f"{where}: unknown stage {name!r}{hint} Valid stages: "
                             f"{', '.join(stages)} ('pystream run --help' describes them)")
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    items = _split_top(rest, ",") if colon and rest.strip() else []
    for item in items:
        if not item.strip():
            raise StageSpecError(f"{where}: empty parameter (two commas, or a comma at "
                                 f"an end); {name} takes {stage.parameters_text()}")
        key, eq, value = item.partition("=")
        key = key.strip()
        if eq and key.isidentifier():  # (an identifier holds no bracket or quote)
            if key in kwargs:
                raise StageSpecError(f"{where}: parameter {key!r} is given twice")
            kwargs[key] = parse_value(value)
        else:
            if kwargs:
                raise StageSpecError(f"{where}: the value {item.strip()!r} has no name and "
                                     "comes after a named one (write positional values "
                                     f"first, or key=value); {name} takes "
                                     f"{stage.parameters_text()}")
            args.append(parse_value(item))
    _check_call(where, stage, args, kwargs)
    return StageSpec(text, name, tuple(args), kwargs, stage)


def _check_call(where: str, stage: CLIStage, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Bind the values to the stage's signature; check names and plain types."""
    params = stage.signature.parameters
    takes = f"{stage.name} takes {stage.parameters_text()}"
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    named = [n for n, p in params.items()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key in kwargs:
        if key not in params and not var_kw:
            hint = did_you_mean(key, named)
            raise StageSpecError(f"{where}: {stage.name} has no parameter {key!r}{hint}; "
                                 f"{takes}")
    try:
        bound = stage.signature.bind(*args, **kwargs)
    except TypeError as exc:
        reason = str(exc)
        missing = re.match(r"missing a required argument: '(\w+)'", reason)
        if missing:
            reason = f"parameter {missing.group(1)!r} is required"
        elif "too many positional" in reason:
            reason = f"too many values ({len(args)} without a name)"
        raise StageSpecError(f"{where}: {reason}; {takes}") from None
    for key, value in bound.arguments.items():
        p = params[key]
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        allowed = _annotation_types(p.annotation)
        if allowed is not None and not _type_ok(value, allowed):
            expected = " or ".join(_TYPE_WORDS[t] for t in sorted(allowed, key=list(_TYPE_WORDS).index))
            raise StageSpecError(f"{where}: {key} must be {expected}, got {value!r}; {takes}")


def apply_stages(stream: Any, specs: list[StageSpec] | tuple[StageSpec, ...]) -> Any:
    """Add the stages `specs` to `stream`, in order.

    Parameters
    ----------
    stream : pystream.Stream
    specs : sequence of StageSpec

    Returns
    -------
    pystream.Stream

    Raises
    ------
    StageSpecError
        As :meth:`StageSpec.apply`.
    """
    for spec in specs:
        stream = spec.apply(stream)
    return stream
