"""The table of built-in stages: name, family and one-line summary.

Every stage listed here is a :class:`~pystream.stream.Stream` method of the
same name.  Tests walk this table (each stage must have a slow twin and
tests); the plugin system registers the same entries.
"""

from __future__ import annotations

from dataclasses import dataclass

from .methods import StageMethods

__all__ = ["BUILTIN_STAGES", "StageInfo"]


@dataclass(frozen=True)
class StageInfo:
    """Metadata of a registered stage."""

    name: str
    family: str
    summary: str


_FAMILIES = {
    "windows": ("moving_sum", "moving_mean", "moving_var", "moving_std", "moving_min",
                "moving_max", "moving_argmin", "moving_argmax", "moving_median",
                "moving_quantile", "moving_rank"),
    "scans": ("cumsum", "cumprod", "cummin", "cummax", "cumcount", "cummean", "cumvar",
              "cumstd", "diff"),
    "ewm": ("ewm_mean", "ewm_var", "ewm_std"),
    "records": ("nwise", "sliding_window", "tumbling", "resample"),
}


def _summary(name: str) -> str:
    doc = getattr(StageMethods, name).__doc__ or ""
    return doc.strip().split("\n")[0]


#: Stage name -> :class:`StageInfo`, for the stages of this issue's families.
BUILTIN_STAGES: dict[str, StageInfo] = {
    name: StageInfo(name, family, _summary(name))
    for family, names in _FAMILIES.items()
    for name in names
}
