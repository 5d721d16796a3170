"""The result of ``describe`` as text: the table, or JSON (NaN as ``null``,
+/-inf as ``1e999`` / ``-1e999``, integer sums exact)."""

from __future__ import annotations

import json
import math
from typing import Any, Sequence

import numpy as np

from ..reducers import quantile_label
from .common import MAX_COLUMNS, STATS
from .inputs import Input


def _as_array(value: Any) -> np.ndarray:
    return np.asarray(value)


def _to_json_value(value: Any) -> Any:
    """Python value for json.dumps: NaN -> None, inf -> 1e999 (see _dumps)."""
    if isinstance(value, np.ndarray):
        return [_to_json_value(v) for v in value.tolist()] if value.ndim else \
            _to_json_value(value.item())
    if isinstance(value, (list, tuple)):
        return [_to_json_value(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return value
    return value


def _dumps(obj: Any) -> str:
    # json would write inf as the non-standard token Infinity; 1e999 is valid
    # JSON and every mainstream parser reads it back as +inf.
    def dump(value: Any) -> str:
        text = json.dumps(value, allow_nan=True)
        if isinstance(value, str):  # a file name may contain "Infinity"
            return text
        # Numbers only (NaN is already None): the tokens are inf's.
        return text.replace("-Infinity", "-1e999").replace("Infinity", "1e999")

    # One key per line, arrays kept on their line.
    items = [f"  {json.dumps(key)}: {dump(value)}" for key, value in obj.items()]
    return "{\n" + ",\n".join(items) + "\n}"


def description_dict(desc: Any) -> dict[str, Any]:
    return {name: getattr(desc, name) for name in STATS}


def to_json(inp: Input, desc: Any, records: int, dtype: Any, hist: Any = None,
            stages: Sequence[str] = ()) -> str:
    """The describe result as JSON (``columns``: the record's column names, a table's)."""
    out: dict[str, Any] = {
        "file": inp.label,
        "format": inp.kind,
        "stages": list(stages),
        "dtype": str(dtype) if dtype is not None else None,
        "record_shape": list(_record_shape_of(desc)),
        "columns": _names_of(desc),
        "records": records,
        "ddof": getattr(desc, "ddof", None),
        "nan_policy": getattr(desc, "nan_policy", None),
    }
    for name, value in description_dict(desc).items():
        out[name] = _to_json_value(value)
    for q, value in getattr(desc, "quantiles", {}).items():
        out[quantile_label(q)] = _to_json_value(value)
    if getattr(desc, "quantiles", None):
        out["quantile_method"] = desc.quantile_method
    if hist is not None:
        out["histogram"] = {"edges": _to_json_value(hist.edges),
                            "counts": _to_json_value(hist.counts),
                            "underflow": hist.underflow, "overflow": hist.overflow,
                            "nan_count": hist.nan_count}
    return _dumps(out)


def _names_of(desc: Any) -> list[str] | None:
    """The described stream's column names (a table's), or None."""
    names = getattr(desc, "names", None)
    return None if names is None else list(names)


def _record_shape_of(desc: Any) -> tuple[int, ...]:
    shape = getattr(desc, "record_shape", None)
    if shape is None:
        shape = _as_array(desc.count).shape
    return tuple(int(n) for n in shape)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]
    lines = []
    for row in (header, *rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def to_table(inp: Input, desc: Any, records: int, dtype: Any, hist: Any = None,
             hist_note: str = "", stages: Sequence[str] = (),
             accuracy_warnings: Sequence[str] = ()) -> str:
    """The describe table; `accuracy_warnings` (a sketch's accuracy warnings) are
    printed under the quantiles' note, whose bound they qualify; a table's
    column names (carried by the Description) label the columns instead of ``[i]``."""
    shape = _record_shape_of(desc)
    head = [
        f"file        {inp.label} ({inp.kind})",
        *([f"stages      {' '.join(stages)}"] if stages else []),
        f"dtype       {dtype}" + (f", record shape {shape}" if shape else ""),
        f"records     {records:,}",
        f"ddof        {getattr(desc, 'ddof', '?')}, "
        f"nan_policy {getattr(desc, 'nan_policy', '?')}",
        "",
    ]
    texts = desc.formatted()   # the digits each statistic's accuracy supports
    values = {name: texts[name] for name in STATS}
    values.update((quantile_label(q), texts[quantile_label(q)]) for q in desc.quantiles)
    names = list(values)
    column_names = _names_of(desc)
    if not shape:
        rows = [[name, values[name][0]] for name in names]
        body = _table(["stat", column_names[0] if column_names else "value"], rows)
    else:
        labels = ["[" + ",".join(map(str, idx)) + "]" for idx in np.ndindex(*shape)]
        if column_names is not None and len(column_names) == len(labels):
            labels = list(column_names)
        if len(labels) <= MAX_COLUMNS:
            rows = [[name, *values[name]] for name in names]
            body = _table(["stat", *labels], rows)
        else:
            rows = [[label] + [values[name][i] for name in names]
                    for i, label in enumerate(labels)]
            body = _table(["value", *names], rows)
    text = "\n".join(head) + "\n" + body
    if getattr(desc, "quantiles", None):
        if getattr(desc, "quantile_method", None) == "relative":
            text += ("\n\np1..p99: relative-error sketch (DDSketch, alpha 1%): each within 1% "
                     "of the exact\nvalue (not of its rank), printed one digit finer than "
                     "that 1%.")
        else:
            text += ("\n\np1..p99: rank-error sketch (KLL, k=400): each a value of the data "
                     "whose rank is\nwithin 1% of q (probability >= 99% per quantile), "
                     "printed one digit finer than\nthe values that 1% of rank spans. "
                     "mean, std, var, sum: 7 significant digits.")
        for message in accuracy_warnings:
            text += f"\nWARNING: {message}"
    nan_seen = np.any(_as_array(desc.nan_count) > 0)
    if nan_seen and getattr(desc, "nan_policy", None) == "propagate":
        text += ("\n\nNaNs were found, so the statistics are NaN (numpy's rule); "
                 "--nan-policy omit skips them.")
    if hist is not None:
        text += "\n\n" + (hist_note + "\n" if hist_note else "") + str(hist)
    elif hist_note:
        text += "\n\n" + hist_note
    return text
