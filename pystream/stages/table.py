"""The row of a stage-family table (:class:`StageRow`) and the numpydoc helpers.

Each family module (``windows``, ``scans``, ``ewm``, ``records``) ends with
its ``TABLE``: one row per stage.  Everything else (the Stream and Pipeline
methods, the registry's built-in entries, the CLI's stage list, the API
catalogue, the meta-tests) is built from those rows; see
``docs/internals/stages.rst``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PARTITIONINGS", "StageRow", "numpydoc"]

#: What a stage's outputs need of its inputs, for the parallel engines
#: (:mod:`pystream.stages.partitioning`): ``"window"`` (the last `window`
#: inputs), ``"records"`` (a block or window of inputs per output, or
#: pointwise), ``"sequential"`` (the whole history: a scan or an EWM).
PARTITIONINGS = ("window", "records", "sequential")


@dataclass(frozen=True)
class StageRow:
    """One built-in stage: everything the package says about it, once.

    Attributes
    ----------
    name : str
        The stage's name: ``stream.<name>(...)``, ``pystream.stages.<name>``,
        the registry key and the command line's ``name:...``.
    family : str
        Its family (the module holding its table).
    doc : str
        The method's full numpydoc docstring, unindented; its first line is
        the registry's one-line :attr:`summary`.
    build : callable
        ``build(*args, **kwargs)``: the stage object (validates the parameters).
    params : str
        The method's parameters after ``self``, as written in a ``def``.
    call : str
        The arguments the method passes to `build` (names of `params`).
    kinds : tuple of str
        The C kinds it runs (keys of :data:`pystream.stages.kernel.KINDS`,
        hence ``PS_*`` codes of ``csrc/pystream.h``); empty for numpy stages.
    twin : callable
        The slow twin: ``twin(x, **sample)`` is the whole output for the
        whole 2-d float64 input ``x`` (:mod:`pystream.stages.slow_twins`).
    sample : mapping
        Keyword arguments of a small call, shared by the method and the twin
        (meta-tests, the docs' engines table).
    partitioning : str
        One of :data:`PARTITIONINGS`.
    needs_time : bool
        The stage reads the time column (:mod:`pystream.stages.timed`): the
        meta-tests give the stream times, and the twin takes them as
        ``times=`` (numeric, in the units of `sample`'s durations).
    min_columns : int
        The least number of columns a record needs: 1, or 2 for the
        multivariate stages (``ewm_cov``), which the meta-tests then feed
        records of that many columns.
    """

    name: str
    family: str
    doc: str
    build: Callable[..., Any]
    params: str
    call: str
    twin: Callable[..., Any]
    sample: Mapping[str, Any] = field(default_factory=dict)
    kinds: tuple[str, ...] = ()
    partitioning: str = "sequential"
    needs_time: bool = False
    min_columns: int = 1

    @property
    def docstring(self) -> str:
        """:attr:`doc` indented as a method's docstring (what ``__doc__`` holds)."""
        first, _, rest = self.doc.partition("\n")
        body = "".join(line if line == "\n" else f"        {line}"
                       for line in rest.splitlines(True))
        return f"{first}\n{body}\n        "

    @property
    def summary(self) -> str:
        """The docstring's first line (the registry's and the catalogue's summary)."""
        return self.doc.strip().split("\n")[0]


def numpydoc(summary: str, *sections: str) -> str:
    """A docstring from its summary and sections (each already unindented text;
    empty ones are left out), separated by blank lines.

    Examples
    --------
    >>> print(numpydoc("Sum.", "Returns\\n-------\\nStream"))
    Sum.
    <BLANKLINE>
    Returns
    -------
    Stream
    """
    return "\n\n".join(s.strip("\n") for s in (summary, *sections) if s)
