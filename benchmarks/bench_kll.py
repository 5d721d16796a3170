"""KLL sketch: update speed and measured rank error against Apache DataSketches.

    python benchmarks/bench_kll.py             # 1e7 float64, k = 100, 200, 400
    python benchmarks/bench_kll.py --n 1e6     # quick check

Speed: ``KLLSketch(k).update(x)`` against ``datasketches.kll_doubles_sketch(k)
.update(x)`` (its vectorised numpy update), same array, best of --repeat,
ns per value and the ratio (DataSketches time / ours).

Accuracy: on 1e6-value streams of several distributions (--acc-n), the
maximum over a grid of 2001 q of the distance from q to the true normalized
rank interval [rank(<v), rank(<=v)] of the returned value v (ties count),
for our sketch with seeds 0..2 and for three DataSketches runs (its
generator is not seedable from Python).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from _common import best_of, optional

from pystream.sketches import KLLSketch


def distributions(n: int, seed: int = 42):
    rng = np.random.default_rng(seed)
    yield "uniform", rng.random(n)
    yield "normal", rng.normal(size=n)
    yield "lognormal", rng.lognormal(0.0, 2.0, size=n)
    yield "cauchy", rng.standard_cauchy(n)
    yield "pareto(0.5)", rng.pareto(0.5, n)
    yield "100 distinct", rng.integers(0, 100, n).astype(np.float64)
    x = rng.normal(size=n)
    u = rng.random(n)
    x[u < 0.01] = np.nan
    x[(u >= 0.01) & (u < 0.015)] = np.inf
    x[(u >= 0.015) & (u < 0.02)] = -np.inf
    yield "normal+1% NaN+1% inf", x
    yield "sorted", np.sort(rng.normal(size=n))


def rank_error(sx: np.ndarray, v: np.ndarray, qs: np.ndarray) -> float:
    lt = np.searchsorted(sx, v, "left") / sx.size
    le = np.searchsorted(sx, v, "right") / sx.size
    return float(np.maximum(0, np.maximum(lt - qs, qs - le)).max())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=float, default=1e7)
    ap.add_argument("--acc-n", type=float, default=1e6)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    ds = optional("datasketches")
    n = int(args.n)
    x = np.random.default_rng(0).normal(size=n)
    print(f"update of {n:,} float64 (normal), best of {args.repeat}")
    print(f"{'k':>5} {'ours ns/value':>14} {'DataSketches':>13} {'speedup':>8}")
    for k in (100, 200, 400):
        t_ours, s = best_of(lambda: KLLSketch(k).update(x), args.repeat)
        if ds is None:
            print(f"{k:>5} {t_ours / n * 1e9:>14.2f} {'not installed':>13}")
            continue

        def run_ds():
            d = ds.kll_doubles_sketch(k)
            d.update(x)
            return d

        t_ds, d = best_of(run_ds, args.repeat)
        if d.n != s.count:
            print("WARNING: counts differ", file=sys.stderr)
        print(f"{k:>5} {t_ours / n * 1e9:>14.2f} {t_ds / n * 1e9:>13.2f} {t_ds / t_ours:>7.2f}x")

    qs = np.linspace(0, 1, 2001)
    m = int(args.acc_n)
    bound = KLLSketch(200).normalized_rank_error()
    print(f"\nmax rank error (%), k = 200, {m:,} values, 2001 q; a-priori bound {bound:.2%}")
    print(f"{'data':>22} {'ours seeds 0,1,2':>22} {'DataSketches x3':>22}")
    all_ours, all_ds = [], []
    for name, data in distributions(m):
        sx = np.sort(data[~np.isnan(data)])
        ours = [rank_error(sx, KLLSketch(200, seed).update(data).quantile(qs), qs)
                for seed in range(3)]
        all_ours += ours
        theirs = []
        if ds is not None:
            for _ in range(3):
                d = ds.kll_doubles_sketch(200)
                d.update(data)
                theirs.append(rank_error(sx, np.array(d.get_quantiles(qs)), qs))
        all_ds += theirs
        fmt = lambda v: " ".join(f"{e * 100:.3f}" for e in v)  # noqa: E731
        print(f"{name:>22} {fmt(ours):>22} {fmt(theirs):>22}")
    print(f"{'mean':>22} {np.mean(all_ours) * 100:>22.3f} "
          f"{(np.mean(all_ds) * 100 if all_ds else float('nan')):>22.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
