#!/usr/bin/env python3
"""EWM covariance and correlation (issue 21): ``ewm_cov`` / ``ewm_corr`` against
numbagg's ``move_exp_nancov`` / ``move_exp_nancorr`` and pandas'
``a.ewm(alpha).cov(b)`` / ``.corr(b)``, all in this process.

Data: ``--rows`` records (1e7 by default) of 2 float64 columns (standard
normal, the second correlated with the first), one table per share of NaN
in each column of ``--nan-rates`` (0 and 0.1 % by default), decay
``alpha=0.05``, pandas' defaults (``adjust=True``, ``ignore_na=False``,
``min_periods=0``, ``bias=False``), which are numbagg's semantics too.
pystream is timed from ``ps.from_array(x)`` to ``to_array()`` of the
records ``(n, 2)``; numbagg and pandas get the two columns as contiguous
arrays (pandas as two Series built before timing).  Then the matrix form,
``--matrix-rows`` records (1e6) of 4 columns, against pandas'
``DataFrame.ewm(alpha).cov()`` / ``.corr()`` (a (4, 4) matrix per record;
numbagg has no matrix form).

Each contender's best of ``--repeat`` rounds (gc off; within a round the
contenders run one after the other, in reverse order every other round, so
a burst of load on the shared machine hits them alike).  Each peer's first
result is checked against pystream's (NaN at the same places, values within
1e-9 relative to the scale of the column pair's standard deviations) before
it counts: a ``WARNING:`` on stderr if not.  Ratios are *peer time /
pystream time* (``2.00x`` = pystream twice as fast).

Usage::

    python benchmarks/bench_ewm_cov.py                  # 1e7 rows, ~4 min
    python benchmarks/bench_ewm_cov.py --rows 1e6 --repeat 3
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from typing import Any, Callable

import numpy as np

from _common import machine_line, optional, print_table, version_of

ALPHA = 0.05


def make_data(n: int, d: int, nan_rate: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng([seed, d])
    x = rng.standard_normal((n, d))
    x[:, 1:] += 0.5 * x[:, :1]
    x[rng.random((n, d)) < nan_rate] = np.nan
    return x


def agree(got: np.ndarray, want: np.ndarray, scale: float) -> bool:
    got, want = np.asarray(got).reshape(-1), np.asarray(want).reshape(-1)
    if got.shape != want.shape or not np.array_equal(np.isnan(got), np.isnan(want)):
        return False
    ok = ~np.isnan(got)
    return bool(np.all(np.abs(got[ok] - want[ok]) <= 1e-9 * scale))


def race(contenders: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Best wall time of each contender over `repeat` interleaved rounds."""
    best = {name: float("inf") for name in contenders}
    names = list(contenders)
    for r in range(repeat):
        for name in (names if r % 2 == 0 else names[::-1]):
            gc.collect()
            gc.disable()
            try:
                t = time.perf_counter()
                contenders[name]()
                best[name] = min(best[name], time.perf_counter() - t)
            finally:
                gc.enable()
    return best


def check(name: str, got: Any, want: np.ndarray, scale: float) -> None:
    if not agree(got, want, scale):
        print(f"WARNING: {name} disagrees with pystream", file=sys.stderr)


def pairs(n: int, nan_rate: float, repeat: int) -> list[list[str]]:
    import pystream as ps

    x = make_data(n, 2, nan_rate)
    a, b = np.ascontiguousarray(x[:, 0]), np.ascontiguousarray(x[:, 1])
    numbagg = optional("numbagg")
    pd = optional("pandas")
    rows = []
    for stat in ("cov", "corr"):
        mine = lambda: getattr(ps.from_array(x), f"ewm_{stat}")(alpha=ALPHA).to_array()  # noqa: E731
        ref = mine()
        scale = 1.0 if stat == "corr" else float(np.nanstd(a) * np.nanstd(b))
        contenders: dict[str, Callable[[], Any]] = {f"pystream ewm_{stat}": mine}
        if numbagg is not None:
            f = getattr(numbagg, f"move_exp_nan{stat}")
            f(a[:100], b[:100], alpha=ALPHA)  # compile
            check(f"numbagg move_exp_nan{stat}", f(a, b, alpha=ALPHA), ref, scale)
            contenders[f"numbagg move_exp_nan{stat} {version_of(numbagg)}"] = \
                lambda f=f: f(a, b, alpha=ALPHA)
        if pd is not None:
            sa, sb = pd.Series(a), pd.Series(b)
            g = lambda: getattr(sa.ewm(alpha=ALPHA), stat)(sb).to_numpy()  # noqa: E731
            check(f"pandas ewm().{stat}", g(), ref, scale)
            contenders[f"pandas ewm().{stat}(b) {version_of(pd)}"] = g
        best = race(contenders, repeat)
        mine_t = best[f"pystream ewm_{stat}"]
        for name, t in best.items():
            rows.append([name, f"{n:.0e}", f"{t * 1e3:.1f}", f"{t / n * 1e9:.2f}",
                         f"{t / mine_t:.2f}x"])
    return rows


def matrix(n: int, d: int, nan_rate: float, repeat: int) -> list[list[str]]:
    import pystream as ps

    x = make_data(n, d, nan_rate, seed=1)
    pd = optional("pandas")
    rows = []
    for stat in ("cov", "corr"):
        mine = lambda: getattr(ps.from_array(x), f"ewm_{stat}")(alpha=ALPHA).to_array()  # noqa: E731
        contenders: dict[str, Callable[[], Any]] = {f"pystream ewm_{stat} ({d}x{d})": mine}
        if pd is not None:
            df = pd.DataFrame(x)
            g = lambda: getattr(df.ewm(alpha=ALPHA), stat)().to_numpy()  # noqa: E731
            check(f"pandas DataFrame.ewm().{stat}", g(), mine(),
                  1.0 if stat == "corr" else 2.0)
            contenders[f"pandas DataFrame.ewm().{stat}()"] = g
        best = race(contenders, repeat)
        mine_t = best[f"pystream ewm_{stat} ({d}x{d})"]
        for name, t in best.items():
            rows.append([name, f"{n:.0e}", f"{t * 1e3:.1f}", f"{t / n * 1e9:.2f}",
                         f"{t / mine_t:.2f}x"])
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=float, default=1e7)
    p.add_argument("--matrix-rows", type=float, default=1e6)
    p.add_argument("--columns", type=int, default=4, help="columns of the matrix form")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--nan-rates", default="0,1e-3",
                   help="comma list: the share of NaN in each column, one table each")
    args = p.parse_args(argv)
    print(machine_line())
    print(f"best of {args.repeat} interleaved rounds; ratio = peer time / pystream time")
    header = ["contender", "rows", "ms", "ns/row", "vs pystream"]
    for rate in (float(r) for r in args.nan_rates.split(",")):
        print(f"\nNaN in each column: {rate:g}")
        rows = pairs(int(args.rows), rate, args.repeat)
        print_table(header, rows)
        goal = {r[0].split()[1]: float(r[4][:-1]) for r in rows if r[0].startswith("numbagg")}
        if "move_exp_nancov" in goal:
            verdict = "PASS" if goal["move_exp_nancov"] >= 1.0 else "SHORT"
            print(f"goal ewm_cov >= 1x numbagg move_exp_nancov: "
                  f"{goal['move_exp_nancov']:.2f}x {verdict}")
    print(f"\nmatrices, NaN in each column: {float(args.nan_rates.split(',')[-1]):g}")
    print_table(header, matrix(int(args.matrix_rows), args.columns,
                               float(args.nan_rates.split(",")[-1]), args.repeat))


if __name__ == "__main__":
    main()
