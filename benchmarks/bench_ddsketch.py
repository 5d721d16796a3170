"""DDSketch against DataSketches' KLL, crick's TDigest and np.quantile.

    python benchmarks/bench_ddsketch.py            # 1e7 float64 per distribution
    python benchmarks/bench_ddsketch.py --n 1e6    # quick check

For normal and lognormal data, times (best of 3, same process, same array):

* ``ps DDSketch.update`` -- ``DDSketch().update(x)`` (alpha 0.01, 2048
  buckets), the whole array in one call;
* ``ps DDSketch chunks`` -- the same, fed in chunks of the library's
  default chunk size (what a stream does);
* ``datasketches KLL`` -- ``kll_doubles_sketch(200).update(x)`` (vectorised
  numpy update);
* ``crick TDigest`` -- ``TDigest().update(x)``;
* ``np.quantile`` -- ``np.quantile(x, qs, method="lower")`` for 999
  quantiles on the whole array (exact, needs the array in memory).

Ratios are peer time / DDSketch time.  Each row also shows the largest
relative error of the sketch's quantiles q = 0.001 ... 0.999 against
np.quantile(method="lower").  Then the largest relative error of DDSketch
on 1e6-value streams of more distributions (the ones of tests/test_ddsketch.py).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys

import numpy as np
from _common import best_of, default_chunk_size, optional, version_of

from pystream.sketches import DDSketch

QS = np.round(np.arange(1, 1000) / 1000, 3)


def _dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def rel_err(got: np.ndarray, want: np.ndarray) -> float:
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.abs(got - want) / np.abs(want)
    return float(np.where(got == want, 0.0, e).max())


def bench(name: str, x: np.ndarray, repeat: int) -> None:
    chunk = default_chunk_size(np.float64)
    truth = np.quantile(x, QS, method="lower")
    rows = []

    def dd() -> DDSketch:
        return DDSketch().update(x)

    def dd_chunks() -> DDSketch:
        s = DDSketch()
        for i in range(0, len(x), chunk):
            s.update(x[i:i + chunk])
        return s

    t_dd, s = best_of(dd, repeat)
    rows.append(("ps DDSketch.update", t_dd, rel_err(s.quantile(QS), truth)))
    t, s2 = best_of(dd_chunks, repeat)
    assert s2 == s
    rows.append((f"ps DDSketch chunks of {chunk}", t, rel_err(s2.quantile(QS), truth)))

    ds = optional("datasketches")
    if ds is not None:
        def kll() -> object:
            k = ds.kll_doubles_sketch(200)
            k.update(x)
            return k
        t, k = best_of(kll, repeat)
        got = np.asarray(k.get_quantiles(QS))
        rows.append((f"datasketches {_dist_version('datasketches')} KLL(200)", t,
                     rel_err(got, truth)))
    else:
        rows.append(("datasketches KLL(200)", None, None))

    crick = optional("crick")
    if crick is not None:
        def td() -> object:
            d = crick.TDigest()
            d.update(x)
            return d
        t, d = best_of(td, repeat)
        rows.append((f"crick {version_of(crick)} TDigest", t, rel_err(d.quantile(QS), truth)))
    else:
        rows.append(("crick TDigest", None, None))

    t, _ = best_of(lambda: np.quantile(x, QS, method="lower"), repeat)
    rows.append(("np.quantile (exact, 999 qs)", t, 0.0))

    print(f"\n{name}: {len(x):.0e} float64")
    print(f"{'what':<36} {'time':>9} {'ns/value':>9} {'vs DDSketch':>12} {'max rel err':>12}")
    for what, t, err in rows:
        if t is None:
            print(f"{what:<36} {'not installed':>9}")
            continue
        print(f"{what:<36} {t:9.4f} {t / len(x) * 1e9:9.2f} {t / t_dd:11.2f}x {err:12.2e}")


def accuracy() -> None:
    sys.path.insert(0, "tests")
    from test_ddsketch import DISTRIBUTIONS, GRID, true_quantiles  # noqa: E402

    print("\nDDSketch(alpha=0.01) max relative error, q = 0, 0.001, ..., 1, 1e6 values")
    for name, x in DISTRIBUTIONS.items():
        s = DDSketch().update(x)
        print(f"  {name:<20} {rel_err(s.quantile(GRID), true_quantiles(x, GRID)):.5f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=float, default=1e7)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-accuracy", action="store_true")
    a = p.parse_args()
    n = int(a.n)
    rng = np.random.default_rng(0)
    bench("normal", rng.normal(size=n), a.repeat)
    bench("lognormal", rng.lognormal(size=n), a.repeat)
    if not a.no_accuracy:
        accuracy()


if __name__ == "__main__":
    main()
