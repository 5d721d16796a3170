#!/usr/bin/env python3
"""Moving covariance and correlation of two columns (issue 21): pystream's
``moving_cov`` / ``moving_corr`` against numbagg's ``move_cov`` /
``move_corr``, pandas' ``rolling(w).cov()/corr()`` and polars'
``rolling_cov`` / ``rolling_corr``.

Data: ``--rows`` records (1e7 by default) of two float64 columns (standard
normal, correlated, no NaN), built once.  pystream is timed through the
Stream API, ``ps.from_array(x).moving_corr(w).to_array()`` (default chunk
size; the whole output materialised, as the peers return an array); the
peers get their inputs prepared before timing (two contiguous columns for
numbagg, two Series for pandas, a DataFrame for polars).  Each cell is the
best of ``--repeat`` runs (gc off), the contenders of a window one after the
other in the same round, so a burst of load on the shared machine hits them
alike.  Every peer's output is checked against pystream's (allclose, NaN at
the same places; a ``WARNING:`` on stderr if not).

Columns: pystream's time and ns per record, then for each peer the ratio
peer time / pystream time (``2.00x`` = pystream twice as fast).  Goals
(issue 21) at window 100: >= 1x numbagg, >= 10x pandas.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from typing import Any, Callable

import numpy as np

from _common import machine_line, optional, print_table, version_of

import pystream as ps


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        out = fn()
        return time.perf_counter() - t0, out
    finally:
        gc.enable()


def check(name: str, got: Any, want: np.ndarray) -> None:
    got = np.asarray(got, dtype=np.float64).ravel()
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-6, atol=1e-9,
                                                  equal_nan=True):
        print(f"WARNING: {name} disagrees with pystream", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=float, default=1e7)
    ap.add_argument("--windows", default="10,100,1000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-pandas", action="store_true", help="skip pandas (slow)")
    args = ap.parse_args()
    n = int(args.rows)
    rng = np.random.default_rng(0)
    a = rng.normal(size=n)
    b = 0.6 * a + 0.8 * rng.normal(size=n)
    x = np.column_stack([a, b])
    numbagg, pd, pl = optional("numbagg"), optional("pandas"), optional("polars")
    if args.no_pandas:
        pd = None
    print(machine_line())
    print(f"{n:,} records of 2 float64 columns; best of {args.repeat}; numbagg "
          f"{version_of(numbagg)}, pandas {version_of(pd)}, polars {version_of(pl)}")
    sa = sb = df = None
    if pd is not None:
        sa, sb = pd.Series(a), pd.Series(b)
    if pl is not None:
        df = pl.DataFrame({"a": a, "b": b})
    rows = []
    for stat in ("cov", "corr"):
        for w in (int(v) for v in args.windows.split(",")):
            contenders: dict[str, Callable[[], Any]] = {
                "pystream": lambda: getattr(ps.from_array(x), f"moving_{stat}")(w).to_array()}
            if numbagg is not None:
                fn = getattr(numbagg, f"move_{stat}")
                contenders["numbagg"] = lambda fn=fn: fn(a, b, window=w)
            if pd is not None:
                contenders["pandas"] = lambda: getattr(sa.rolling(w), stat)(sb).to_numpy()
            if pl is not None and hasattr(pl, f"rolling_{stat}"):
                expr = getattr(pl, f"rolling_{stat}")
                contenders["polars"] = lambda expr=expr: df.select(
                    expr("a", "b", window_size=w)).to_series().to_numpy()
            best = {name: np.inf for name in contenders}
            outs: dict[str, Any] = {}
            for r in range(args.repeat):
                names = list(contenders) if r % 2 == 0 else list(reversed(contenders))
                for name in names:
                    if name == "pandas" and r >= 2:
                        continue        # slow; two rounds suffice
                    t, out = timed(contenders[name])
                    best[name] = min(best[name], t)
                    outs.setdefault(name, out)
            ours = outs["pystream"]
            for name, out in outs.items():
                if name != "pystream":
                    check(f"{name} moving_{stat}({w})", out, ours)
            row = [f"moving_{stat}({w})", f"{best['pystream']:.3f} s",
                   f"{best['pystream'] / n * 1e9:.1f}"]
            for peer in ("numbagg", "pandas", "polars"):
                row.append(f"{best[peer] / best['pystream']:.2f}x" if peer in best else "-")
            rows.append(row)
    print_table(["stage", "pystream", "ns/rec", "numbagg", "pandas", "polars"], rows)


if __name__ == "__main__":
    main()
