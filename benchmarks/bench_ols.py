#!/usr/bin/env python3
"""Streaming least squares (issue 21): ``Stream.ols`` against numpy's
``lstsq`` and statsmodels' ``OLS.fit()``, and its memory.

Data: ``--rows`` records (1e7) of ``k`` standard-normal regressors and
``y = 0.5 + X @ (1..k) + noise``, for each k of ``--regressors`` (1, 5, 20;
k = 20 runs on ``--wide-rows`` records, 2e6 by default, to bound the peers'
memory: lstsq copies the design and statsmodels builds its pseudo-inverse).

* pystream: ``ps.from_array(a).ols(k)`` on the (n, k + 1) array of
  regressors and response (the exact cross-products, one pass, the whole
  array in one kernel call).
* numpy: ``np.linalg.lstsq(X1, y, rcond=None)`` with the design ``X1``
  (a column of ones and the regressors) built before timing.
* statsmodels: ``sm.OLS(y, X1).fit()`` (pinv), ``X1`` built before timing;
  run at ``k <= 5`` only (``--statsmodels-max``).

Every contender's best of ``--repeat`` rounds (wall time; the CPU time of
that run is shown too: on a shared machine it is what the process got, and
lstsq's includes its BLAS threads) (in a round they run one
after the other, in reverse order every other round, so a burst of load on
the shared machine hits them alike); the peers' coefficients are checked
against pystream's (``rtol=1e-8``).  The ratio column is the peer's time
over pystream's (> 1: pystream faster).

Memory (``--memory``, on by default): the 5-regressor array written to a
``.npy`` file (``--rows`` records, 480 MB at 1e7), then in fresh processes
``ps.from_npy(path).ols(5)`` (streamed in chunks: constant memory) and
``np.load(path)`` + lstsq; each reports its peak RSS growth (``VmHWM``
after the imports, minus before).
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from _common import machine_line, optional, print_table, version_of

import pystream as ps

_PEAK = """
import os, sys, resource
def hwm():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM'):
                return int(line.split()[1]) / 1024
import numpy as np
sys.path.insert(0, {root!r})
import pystream as ps
before = hwm()
path = {path!r}
if {which!r} == 'pystream':
    r = ps.from_npy(path).ols(5)
    coef = r.coef
else:
    a = np.load(path)
    X = np.c_[np.ones(len(a)), a[:, :5]]
    coef = np.linalg.lstsq(X, a[:, 5], rcond=None)[0]
print(hwm() - before, coef[1])
"""


def data(n: int, k: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = np.empty((n, k + 1))
    a[:, :k] = rng.standard_normal((n, k))
    a[:, k] = 0.5 + a[:, :k] @ np.arange(1.0, k + 1) + rng.standard_normal(n)
    return a


def run(k: int, n: int, repeat: int, sm_max: int) -> list[list[str]]:
    a = data(n, k)
    X1 = np.c_[np.ones(n), a[:, :k]]
    y = np.ascontiguousarray(a[:, k])
    sm = optional("statsmodels.api") if k <= sm_max else None
    contenders = {
        "pystream ols": lambda: ps.from_array(a).ols(k).coef,
        "numpy lstsq": lambda: np.linalg.lstsq(X1, y, rcond=None)[0],
    }
    if sm is not None:
        contenders["statsmodels OLS.fit"] = lambda: np.asarray(sm.OLS(y, X1).fit().params)
    best: dict[str, float] = {}
    cpu: dict[str, float] = {}
    coefs: dict[str, np.ndarray] = {}
    names = list(contenders)
    for r in range(repeat):
        for name in (names if r % 2 == 0 else names[::-1]):
            gc.collect()
            gc.disable()
            t0, c0 = time.perf_counter(), time.process_time()
            coefs[name] = contenders[name]()
            t, c = time.perf_counter() - t0, time.process_time() - c0
            gc.enable()
            if t < best.get(name, np.inf):
                best[name], cpu[name] = t, c
    ref = coefs["pystream ols"]
    rows = []
    for name in names:
        if not np.allclose(coefs[name], ref, rtol=1e-8, atol=1e-12):
            print(f"WARNING: {name} disagrees with pystream: {coefs[name]} vs {ref}",
                  file=sys.stderr)
        t = best[name]
        rows.append([f"{k}", f"{n:.0e}", name, f"{t:.3f}", f"{t / n * 1e9:.0f}",
                     f"{cpu[name]:.3f}", f"{t / best['pystream ols']:.2f}x"])
    return rows


def memory(n: int) -> list[list[str]]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ols.npy")
        np.save(path, data(n, 5))
        size = os.path.getsize(path) / 2 ** 20
        for which in ("pystream", "numpy"):
            out = subprocess.run([sys.executable, "-c", _PEAK.format(root=root, path=path,
                                                                     which=which)],
                                 capture_output=True, text=True, check=True).stdout.split()
            label = ("ps.from_npy(path).ols(5)" if which == "pystream"
                     else "np.load(path) + lstsq")
            rows.append([label, f"{size:.0f}", f"{float(out[0]):.0f}"])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=float, default=1e7)
    ap.add_argument("--wide-rows", type=float, default=2e6)
    ap.add_argument("--regressors", default="1,5,20")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--statsmodels-max", type=int, default=5)
    ap.add_argument("--no-memory", action="store_true")
    args = ap.parse_args()
    print(machine_line())
    sm = optional("statsmodels")
    print(f"statsmodels {version_of(sm)}; best of {args.repeat} rounds\n")
    rows = []
    for k in (int(v) for v in args.regressors.split(",")):
        n = int(args.wide_rows if k > 5 else args.rows)
        rows += run(k, n, args.repeat, args.statsmodels_max)
    print_table(["k", "rows", "contender", "seconds", "ns/record", "CPU s", "time / pystream"],
                rows)
    if not args.no_memory:
        print()
        print_table(["memory", "file MB", "peak RSS growth MB"], memory(int(args.rows)))


if __name__ == "__main__":
    main()
