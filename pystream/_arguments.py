"""A misspelled keyword gets a suggestion: one helper for Python and the
command line (:func:`did_you_mean`; see :doc:`/internals/arguments`).
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

__all__ = ["call_checked", "check_call", "did_you_mean", "keyword_names", "suggest_keywords"]

F = TypeVar("F", bound=Callable[..., Any])


def keyword_names(signature: inspect.Signature) -> list[str]:
    """The parameters of `signature` that can be given by keyword (not ``self``)."""
    return [name for name, p in signature.parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name != "self"]


#: A peer's name for a parameter -> pystream's, where spelling is no guide:
#: the moving windows take bottleneck's ``min_count`` where pandas'
#: ``rolling`` takes ``min_periods`` (the EWM stages take ``min_periods``).
SYNONYMS = {"min_periods": "min_count", "min_count": "min_periods"}


def did_you_mean(key: str, names: Iterable[str]) -> str:
    """``" (did you mean 'window'?)"`` for the name of `names` closest to
    `key` (difflib's ratio >= 0.6) or, first, the name :data:`SYNONYMS`
    gives a peer's name for (``min_periods`` -> ``min_count``); ``""`` when
    none is close."""
    names = list(names)
    if SYNONYMS.get(key) in names:
        return f" (did you mean {SYNONYMS[key]!r}?)"
    close = difflib.get_close_matches(key, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unknown_keyword(where: str, signature: inspect.Signature,
                     kwargs: dict[str, Any]) -> TypeError | None:
    """The TypeError for the first keyword of `kwargs` that `signature` does
    not take, with a suggestion; None if it takes them all."""
    params = signature.parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    for key in kwargs:
        if key not in params:
            return TypeError(f"{where}() got an unexpected keyword argument {key!r}"
                             f"{did_you_mean(key, keyword_names(signature))}")
    return None


def suggest_keywords(func: F) -> F:
    """Wrap a function so a call that does not fit its signature raises a
    TypeError suggesting the keyword meant (the call itself is unchanged:
    the signature is checked only once the call has failed)."""
    signature = inspect.signature(func)
    name = func.__name__

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TypeError:
            unknown = _unknown_keyword(name, signature, kwargs)
            if unknown is not None:
                raise unknown from None
            raise  # Python's own message (a missing argument, ...), or raised inside

    return wrapper  # type: ignore[return-value]


def check_call(where: str, func: Callable[..., Any], args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> None:
    """Check that ``func(*args, **kwargs)`` fits `func`'s signature (when it
    has one) without calling it.

    Raises
    ------
    TypeError
        Named `where` (the stage, reducer or terminal's name, not the
        factory's): for an unknown keyword, with the parameter meant
        (``did you mean 'window'?``); else Python's binding message.
    """
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # no inspectable signature: let the call say
        return
    unknown = _unknown_keyword(where, signature, kwargs)
    if unknown is not None:
        raise unknown
    try:
        signature.bind(*args, **kwargs)
    except TypeError as error:
        raise TypeError(f"{where}(): {error}") from None


def call_checked(where: str, factory: Callable[..., Any], args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any:
    """``factory(*args, **kwargs)``, first checked against the factory's
    signature (when it has one) so a misspelled keyword gets a suggestion
    named `where` (the stage or reducer's name, not the factory's)."""
    check_call(where, factory, args, kwargs)
    return factory(*args, **kwargs)
