#!/usr/bin/env python3
"""Covariance and correlation matrices (issue 21) against numpy, pandas and polars.

Data: ``--rows`` records (1e7 by default) of ``--cols`` float64 columns
(8), standard normal mixed by a random matrix plus 1e3 (correlated, off
zero), built once; the peers' frames are built before timing.

Contenders, each its best of ``--repeat`` rounds (gc off; in each round they
run one after the other, in reverse order every other round, so a burst of
load on the shared machine hits them alike):

* ``cov``: ``ps.from_array(x).cov()`` against ``np.cov(x, rowvar=False)``
  (goal >= 2x), pandas ``DataFrame.cov()`` and polars (``pl.cov`` of every
  pair in one ``select``; reference only);
* ``corr``: ``ps.from_array(x).corr()`` against
  ``np.corrcoef(x, rowvar=False)`` (goal >= 2x), pandas ``DataFrame.corr()``
  and polars ``pl.corr`` of every pair (reference);
* ``describe``: ``describe(cov=True)`` against ``describe()`` in the same
  run, with the default quantile sketches and with ``quantiles=()``
  (goal: within 1.5x of ``describe()``).

Each peer's first result is checked against pystream's (``allclose``,
rtol 1e-9; a ``WARNING:`` on stderr if not).  Ratios are *peer time /
pystream time* (``2.00x`` = pystream twice as fast); for ``describe`` the
ratio is *describe(cov=True) / describe()* (lower is better).

Usage::

    python benchmarks/bench_cov.py                 # 1e7 x 8, ~2 min
    python benchmarks/bench_cov.py --rows 1e6      # quick check
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from typing import Any, Callable

import numpy as np

from _common import machine_line, optional, print_table, ratio, version_of

import pystream as ps


def timed(contenders: dict[str, Callable[[], Any]], repeat: int) -> tuple[dict, dict]:
    """Best time and first result of each contender, interleaved rounds."""
    best: dict[str, float] = {}
    first: dict[str, Any] = {}
    names = list(contenders)
    for k in range(repeat):
        for name in (names if k % 2 == 0 else names[::-1]):
            gc.collect()
            gc.disable()
            try:
                t0 = time.perf_counter()
                out = contenders[name]()
                t = time.perf_counter() - t0
            finally:
                gc.enable()
            best[name] = min(best.get(name, t), t)
            first.setdefault(name, out)
    return best, first


def check(name: str, got: Any, want: np.ndarray) -> None:
    if not np.allclose(np.asarray(got, float), want, rtol=1e-9, atol=1e-12):
        print(f"WARNING: {name} differs from pystream by "
              f"{np.nanmax(np.abs(np.asarray(got, float) - want)):.3g}", file=sys.stderr)


def polars_matrix(pl: Any, df: Any, fn: str, d: int) -> np.ndarray:
    cols = df.columns
    exprs = [getattr(pl, fn)(cols[i], cols[j]).alias(f"{i}_{j}")
             for i in range(d) for j in range(i, d)]
    row = df.select(exprs).row(0)
    out = np.empty((d, d))
    k = 0
    for i in range(d):
        for j in range(i, d):
            out[i, j] = out[j, i] = row[k]
            k += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=float, default=1e7)
    ap.add_argument("--cols", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    n, d = int(args.rows), args.cols
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 1e3
    pd, pl = optional("pandas"), optional("polars")
    frame = pd.DataFrame(x) if pd is not None else None
    pframe = pl.DataFrame(x, schema=[f"c{j}" for j in range(d)]) if pl is not None else None

    print(machine_line())
    print(f"pandas {version_of(pd)}, polars {version_of(pl)}; {n:,} records x {d} float64 "
          f"columns; best of {args.repeat}")
    rows = []
    goals = []
    for what, mine, npf, pdf, plf in (
            ("cov", lambda: ps.from_array(x).cov(), lambda: np.cov(x, rowvar=False),
             "cov", "cov"),
            ("corr", lambda: ps.from_array(x).corr(), lambda: np.corrcoef(x, rowvar=False),
             "corr", "corr")):
        contenders: dict[str, Callable[[], Any]] = {"pystream": mine, "numpy": npf}
        if frame is not None:
            contenders["pandas"] = lambda f=pdf: getattr(frame, f)()
        if pframe is not None:
            contenders["polars"] = lambda f=plf: polars_matrix(pl, pframe, f, d)
        best, first = timed(contenders, args.repeat)
        ref = first["pystream"]
        for name in contenders:
            if name != "pystream":
                check(f"{what}/{name}", first[name], ref)
            rows.append([what, name, f"{best[name]:.3f}",
                         ratio(best[name], best["pystream"]) if name != "pystream" else ""])
        r = best["numpy"] / best["pystream"]
        goals.append(f"{what}: {r:.2f}x np.{'cov' if what == 'cov' else 'corrcoef'} "
                     f"(goal >= 2x): {'PASS' if r >= 2 else 'SHORT'}")
    print_table(["matrix", "contender", "seconds", "peer/pystream"], rows)
    print()

    rows = []
    for label, qs in (("default quantiles", None), ("quantiles=()", ())):
        kw = {} if qs is None else {"quantiles": qs}
        best, first = timed({"describe()": lambda kw=kw: ps.from_array(x).describe(**kw),
                             "describe(cov=True)":
                                 lambda kw=kw: ps.from_array(x).describe(cov=True, **kw)},
                            args.repeat)
        check("describe(cov=True).cov", first["describe(cov=True)"].cov,
              ps.from_array(x).cov(ddof=0))
        r = best["describe(cov=True)"] / best["describe()"]
        rows.append([label, f"{best['describe()']:.3f}", f"{best['describe(cov=True)']:.3f}",
                     f"{r:.2f}x"])
        goals.append(f"describe(cov=True), {label}: {r:.2f}x describe() (goal <= 1.5x): "
                     f"{'PASS' if r <= 1.5 else 'SHORT'}")
    print_table(["describe", "describe() s", "describe(cov=True) s", "ratio"], rows)
    print()
    for g in goals:
        print(g)


if __name__ == "__main__":
    main()
