"""The built-in stages: every family's table, in one mapping.

Built from the family modules' ``TABLE`` rows (:class:`~pystream.stages.table.StageRow`);
the Stream methods (:mod:`pystream.stages.methods`), the registry's built-in
entries, the command line's stage list and the meta-tests read it.
"""

from __future__ import annotations

from .comoving import TABLE as COMOVING_TABLE
from .ewm import TABLE as EWM_TABLE
from .ewm_pairs import TABLE as EWM_PAIRS_TABLE
from .records import TABLE as RECORDS_TABLE
from .scans import TABLE as SCANS_TABLE
from .table import StageRow
from .windows import TABLE as WINDOWS_TABLE

__all__ = ["BUILTIN_STAGES", "FAMILIES"]

#: Family name -> its table, in registry order.
FAMILIES: dict[str, tuple[StageRow, ...]] = {
    "windows": WINDOWS_TABLE,
    "scans": SCANS_TABLE,
    "ewm": EWM_TABLE,
    "ewm_pairs": EWM_PAIRS_TABLE,
    "records": RECORDS_TABLE,
    "comoving": COMOVING_TABLE,
}

#: Stage name -> its :class:`~pystream.stages.table.StageRow`, family by family.
BUILTIN_STAGES: dict[str, StageRow] = {
    row.name: row for table in FAMILIES.values() for row in table
}
