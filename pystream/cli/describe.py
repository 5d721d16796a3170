"""``pystream describe``: the one-pass summary of FILE (after its --stage
stages), with a text histogram from a second pass or, for an input read
once, counted in the same pass."""

from __future__ import annotations

import argparse
import math
import warnings
from typing import Any

import numpy as np

from .._native import kernel_dtype
from ..sketches import SketchAccuracyWarning
from ..sketches.onepass import OnePassHistogram
from .common import CLIError, _apply_stages, _stage_specs
from .inputs import Input, _check_engine, open_input
from .keyed import describe_per_key
from .progress import _Ticker, make_progress
from .report import _record_shape_of, to_json, to_table


def _describe(inp: Input, args: argparse.Namespace, bar: Any | None,
              engine: dict[str, Any] | None = None,
              binner: OnePassHistogram | None = None) -> tuple[Any, int]:
    """Run the one-pass describe; returns (Description, number of records).
    `binner` (input read once) bins the described values in the same pass."""
    stream = inp.stream.map(_Ticker(inp, bar)) if bar is not None else inp.stream
    stream = _apply_stages(stream, _stage_specs(getattr(args, "stage", None)))
    if binner is not None:
        stream = stream.pipe(binner.stage)
    desc = stream.describe(ddof=args.ddof, nan_policy=args.nan_policy,
                           quantile_method=getattr(args, "quantile_method", "kll"),
                           **(engine or {}))
    if bar is not None and inp.counter is not None:
        bar.update(inp.counter.count - bar.n)  # the tail read after the last chunk
    # every record has a value in each column, NaN or not
    count = np.asarray(desc.count).reshape(-1)
    nans = np.asarray(desc.nan_count).reshape(-1)
    records = int(count[0]) + int(nans[0]) if count.size else 0
    return desc, records


def _stream_dtype(inp: Input) -> Any:
    return getattr(inp.stream, "dtype", None)


def _second_pass_histogram(inp: Input, args: argparse.Namespace, desc: Any,
                            engine: dict[str, Any] | None = None,
                            binner: OnePassHistogram | None = None) -> tuple[Any, str]:
    """The text histogram's counts, from a second pass over FILE (or, for an
    input read once, from `binner`, which counted them in the first); or why not."""
    if _record_shape_of(desc):
        return None, ("histogram: shown for one-column input only (pick a column: --usecols "
                      "N for text, --columns NAME for a table).")
    if binner is not None:
        return binner.result()
    lo, hi = float(desc.min), float(desc.max)
    if int(desc.count) == 0 or math.isinf(lo) or math.isinf(hi):
        return None, ""
    # NaN min/max (nan_policy propagate): the range of the non-NaN values,
    # found by the histogram's own first pass.
    rng = None if math.isnan(lo) or math.isnan(hi) else (desc.min, desc.max)
    specs = _stage_specs(getattr(args, "stage", None))
    if rng is None:
        # A text file's stream is one-shot (a file object), so the histogram
        # cannot find the range itself: one more pass over a fresh stream.
        first = open_input(args)
        try:
            stream = _apply_stages(first.stream, specs)
            if stream.one_shot:
                d = stream.describe(nan_policy="omit", quantiles=(), **(engine or {}))
                if int(d.count) == 0 or not (np.isfinite(d.min) and np.isfinite(d.max)):
                    return None, ""
                rng = (d.min, d.max)
        finally:
            first.close()
    again = open_input(args)              # a fresh stream over the same file
    try:
        stream = _apply_stages(again.stream, specs)
        return stream.histogram(bins=args.bins, range=rng, **(engine or {})), ""
    finally:
        again.close()


def _check_describable(inp: Input, dtype: Any, staged: bool) -> None:
    """Refuse, naming FILE, a dtype the reducers cannot read (datetimes,
    complex, structured...) before any record is read."""
    if dtype is None:
        return
    try:
        kernel_dtype(dtype)
    except TypeError:
        what = "the stages' output" if staged else inp.label
        hint = (", e.g. --stage astype:dtype=int64 (counts of their unit since 1970)"
                if np.dtype(dtype).kind == "M" else
                ", e.g. --stage astype:dtype=int64 (counts of their unit)"
                if np.dtype(dtype).kind == "m" else "")
        raise CLIError(
            f"{what} holds {dtype} values, which describe cannot reduce (it reads bool, "
            f"integers and float16/32/64): convert them with an astype stage first{hint}"
        ) from None


class _AccuracyWarnings:
    """Collect the :class:`~pystream.SketchAccuracyWarning` messages of a
    block (once each), for the command to print as ``pystream: warning:``
    lines and in the table, not in Python's warning format (source line
    included); other warnings go on as usual."""

    def __enter__(self) -> list[str]:
        self._catch = warnings.catch_warnings(record=True)
        self._caught = self._catch.__enter__()
        warnings.simplefilter("always")
        self.messages: list[str] = []
        return self.messages

    def __exit__(self, *exc: Any) -> None:
        self._catch.__exit__(*exc)
        for w in self._caught:
            if issubclass(w.category, SketchAccuracyWarning):
                if str(w.message) not in self.messages:
                    self.messages.append(str(w.message))
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def cmd_describe(args: argparse.Namespace, stdout: Any, stderr: Any) -> int:
    """``pystream describe``: the summary table (or JSON) of FILE, after the --stage stages."""
    specs = _stage_specs(args.stage)        # checked before any input is read
    _check_engine(args, None)
    inp = open_input(args)
    if inp.stream.key_column is not None:
        try:
            with _AccuracyWarnings() as accuracy:
                text = describe_per_key(inp, args, _check_engine(args, inp) or {})
        finally:
            inp.close()
        for message in accuracy:
            stderr.write(f"pystream: warning: {message}\n")
        stdout.write(text + "\n")
        stdout.flush()
        return 0
    try:
        engine = _check_engine(args, inp)
        # the dtype described: the last stage's output
        dtype = _apply_stages(inp.stream, specs).dtype if specs else _stream_dtype(inp)
        _check_describable(inp, dtype, bool(specs))
        # an input read once gets its histogram counted in the same pass
        binner = OnePassHistogram(args.bins) if inp.once and not args.no_histogram else None
        bar = make_progress(inp, not args.no_progress, stderr)
        try:
            with _AccuracyWarnings() as accuracy:
                desc, records = _describe(inp, args, bar, engine, binner)
        finally:
            if bar is not None:
                bar.close()
    finally:
        inp.close()
    if dtype is None:
        dtype = getattr(desc, "dtype", None)
    hist, note = (None, "") if args.no_histogram else _second_pass_histogram(inp, args, desc, engine, binner)
    text = (to_json(inp, desc, records, dtype, hist, args.stage) if args.json
            else to_table(inp, desc, records, dtype, hist, note, args.stage, accuracy))
    for message in accuracy:
        stderr.write(f"pystream: warning: {message}\n")
    stdout.write(text + "\n")
    stdout.flush()
    return 0
