"""``pystream describe FILE --key COLUMN``: the summary per key, one row per key
(and per column of the record), as a table or JSON."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ..description import quantile_label
from .common import _apply_stages, _stage_specs
from .inputs import Input
from .report import STATS, _dumps, _table, _to_json_value, description_dict

__all__ = ["describe_per_key"]


def describe_per_key(inp: Input, args: argparse.Namespace, engine: dict[str, Any]) -> str:
    """Run ``describe`` per key over FILE (after its stages, run per key) and format it."""
    keyed = _apply_stages(inp.stream.by(sort=args.sort_keys),
                          _stage_specs(getattr(args, "stage", None)))
    result = keyed.describe(ddof=args.ddof, nan_policy=args.nan_policy,
                            quantile_method=getattr(args, "quantile_method", "kll"), **engine)
    if args.json:
        return _json(inp, result, args.stage or ())
    return _text(inp, result, args.stage or ())


def _text(inp: Input, result: Any, stages: Sequence[str]) -> str:
    key = result.key_name
    head = [f"file        {inp.label} ({inp.kind})",
            *([f"stages      {' '.join(stages)}"] if stages else []),
            f"keys        {len(result):,} ({key}, {result.ordered} order)"]
    if not len(result):
        return "\n".join(head)
    first = result.values[0]
    head.append(f"ddof        {first.ddof}, nan_policy {first.nan_policy}")
    head.append("")
    stats = list(STATS) + [quantile_label(q) for q in first.quantiles]
    columns = list(first.names) if first.names else None
    many = first.record_shape != ()
    header = [key, *(["column"] if many else []), *stats]
    rows = []
    for k, desc in result.items():
        texts = desc.formatted()
        width = len(texts["count"])
        for j in range(width):
            label = [columns[j] if columns and j < len(columns) else f"[{j}]"] if many else []
            rows.append([str(k), *label, *(texts[s][j] for s in stats)])
    return "\n".join(head) + "\n" + _table(header, rows)


def _json(inp: Input, result: Any, stages: Sequence[str]) -> str:
    """One JSON object; ``keys`` lists each key's statistics as ``describe --json`` does
    (NaN as null, inf as 1e999)."""
    rows = []
    for k, desc in result.items():
        row: dict[str, Any] = {"key": k}
        row.update((name, _to_json_value(v)) for name, v in description_dict(desc).items())
        row.update((quantile_label(q), _to_json_value(v)) for q, v in desc.quantiles.items())
        rows.append(row)
    first = result.values[0] if len(result) else None
    out = {"file": inp.label, "format": inp.kind, "stages": list(stages),
           "key": result.key_name, "order": result.ordered,
           "columns": list(first.names) if first is not None and first.names else None,
           "ddof": getattr(first, "ddof", None), "nan_policy": getattr(first, "nan_policy", None),
           "keys": rows}
    return _dumps(out)
