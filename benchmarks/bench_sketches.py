#!/usr/bin/env python3
"""Histograms and quantile sketches: pystream against numpy, DataSketches and crick.

Everything runs in this process on the same float64 arrays (1e7 values by
default, ``--n``), best of ``--repeat`` runs with the garbage collector off.
Speedups are ``peer time / pystream time`` (``2.00x`` = pystream twice as
fast).  The pystream rows time the state objects' ``update`` on the whole
array (what ``stream.histogram`` / ``stream.quantile`` call per chunk); the
peers get the same whole array (DataSketches' vectorised ``update``).

Tables
------
histogram
    ``pystream.Histogram(bins, range).update(x)`` against
    ``np.histogram(x, bins, range)`` (numpy's fixed-width fast path) for
    10, 100 and 1000 bins, and explicit edges; the counts must be equal.
quantile sketches (update throughput)
    ``pystream.DDSketch(alpha=0.01)``, ``pystream.KLLSketch(k)`` against
    Apache DataSketches ``kll_doubles_sketch(k)`` at k = 100, 200, 400,
    crick's ``TDigest`` and ``np.quantile`` on the whole array (exact).
accuracy
    On normal, lognormal and Pareto data: the largest relative error of the
    DDSketch quantiles (against ``np.quantile(method="lower")``) and the
    largest normalised rank error of KLL and DataSketches KLL (same k) and
    of the t-digest, over q = 0.001 ... 0.999.

describe (``--only describe`` runs just this table)
    ``ps.from_array(x).describe()`` with its default rank-error quantiles
    (KLL, k=400), with ``quantile_method="relative"`` (DDSketch) and without
    quantiles, against numpy (``mean``, ``std``, ``min``, ``max`` and
    ``np.percentile`` of the same seven quantiles; ``np.quantile`` alone)
    and pandas ``Series.describe(percentiles=...)``, on N(280, 5) data
    (temperatures in kelvin: far from zero compared with their spread).
    ``ratio`` = that row's time / pystream ``describe()``'s; ``rank err`` is
    the largest rank error of the seven quantiles.

Peers are optional imports: a missing one prints "not installed".
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

import numpy as np

from _common import NOT_INSTALLED, best_of, machine_line, optional, print_table, version_of


def dist_version(name: str) -> str:
    """Installed version of a distribution (datasketches has no __version__)."""
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return NOT_INSTALLED

QS = np.linspace(0.001, 0.999, 999)


def rank_error(sorted_x: np.ndarray, q: np.ndarray, values: np.ndarray) -> float:
    """Largest distance between q and the normalised rank of the returned values.

    With ties, any rank between the number of values < v and <= v counts.
    """
    n = sorted_x.size
    lo = np.searchsorted(sorted_x, values, side="left") / n
    hi = np.searchsorted(sorted_x, values, side="right") / n
    err = np.where(q < lo, lo - q, np.where(q > hi, q - hi, 0.0))
    return float(err.max())


def relative_error(sorted_x: np.ndarray, q: np.ndarray, values: np.ndarray) -> float:
    """Largest |v - x_q| / |x_q| with x_q = np.quantile(x, q, method="lower")."""
    true = sorted_x[np.floor(q * (sorted_x.size - 1)).astype(np.int64)]
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.abs(values - true) / np.abs(true)
    err = np.where(true == 0, np.abs(values), err)
    return float(err.max())


def measure_histograms(ps: Any, x: np.ndarray, rep: int) -> list[tuple[str, float, float]]:
    """(case, pystream seconds, np.histogram seconds); warns if the counts differ."""
    lo, hi = float(x.min()), float(x.max())
    cases: list[tuple[str, dict[str, Any], Callable[[], Any]]] = []
    for bins in (10, 100, 1000):
        cases.append((f"{bins} bins, range", {"bins": bins, "range": (lo, hi)},
                      lambda b=bins: np.histogram(x, bins=b, range=(lo, hi))))
    edges = np.sort(np.random.default_rng(1).uniform(lo, hi, 101))
    cases.append(("101 explicit edges", {"edges": edges}, lambda: np.histogram(x, bins=edges)))
    out = []
    for label, kwargs, peer in cases:
        t_np, (want, _) = best_of(peer, rep)
        t_ps, got = best_of(lambda kw=kwargs: ps.Histogram(**kw).update(x).result(), rep)
        if not np.array_equal(got.counts, want):
            print(f"WARNING: histogram {label}: counts differ from np.histogram", file=sys.stderr)
        out.append((label, t_ps, t_np))
    return out


def histogram_rows(ps: Any, x: np.ndarray, rep: int) -> list[list[str]]:
    return [[label, f"{t_ps * 1e9 / x.size:.2f}", f"{t_np * 1e9 / x.size:.2f}",
             f"{t_np / t_ps:.2f}x"] for label, t_ps, t_np in measure_histograms(ps, x, rep)]


def measure_sketches(ps: Any, x: np.ndarray, rep: int, ds: Any, crick: Any
                     ) -> list[tuple[str, float | None, float | None, str]]:
    """(contender, seconds or None, its peer's seconds or None, the peer's name)."""
    ref: dict[int, float] = {}
    if ds is not None:
        for k in (100, 200, 400):
            ref[k], _ = best_of(lambda k=k: ds.kll_doubles_sketch(k).update(x), rep)
    out: list[tuple[str, float | None, float | None, str]] = []
    t, _ = best_of(lambda: ps.DDSketch(alpha=0.01).update(x), rep)
    out.append(("pystream DDSketch(alpha=0.01)", t, ref.get(200), "DataSketches KLL k=200"))
    for k in (100, 200, 400):
        t, _ = best_of(lambda k=k: ps.KLLSketch(k=k, seed=0).update(x), rep)
        out.append((f"pystream KLLSketch(k={k})", t, ref.get(k), f"DataSketches KLL k={k}"))
    for k in (100, 200, 400):
        out.append((f"DataSketches KLL k={k}", ref.get(k), ref.get(k), f"DataSketches KLL k={k}"))
    t = None
    if crick is not None:
        def tdigest() -> Any:
            d = crick.TDigest()
            d.update(x)
            return d
        t, _ = best_of(tdigest, rep)
    out.append(("crick TDigest", t, ref.get(200), "DataSketches KLL k=200"))
    t, _ = best_of(lambda: np.quantile(x, [0.01, 0.5, 0.99]), rep)
    out.append(("np.quantile (whole array, exact)", t, ref.get(200), "DataSketches KLL k=200"))
    return out


def sketch_rows(ps: Any, x: np.ndarray, rep: int, ds: Any, crick: Any) -> list[list[str]]:
    rows = []
    for label, t, peer_t, peer in measure_sketches(ps, x, rep, ds, crick):
        if t is None:
            rows.append([label, NOT_INSTALLED, "", "", ""])
            continue
        speed = f"{peer_t / t:.2f}x" if peer_t else NOT_INSTALLED
        rows.append([label, f"{t * 1e9 / x.size:.2f}", f"{x.nbytes / t / 1e9:.2f}", peer, speed])
    return rows


def accuracy_rows(ps: Any, n: int, ds: Any, crick: Any, seed: int,
                  repeats: int) -> list[list[str]]:
    """Max errors over QS; KLL's are random, so the mean (and worst) over repeats.

    Each repeat draws new data; pystream's KLL gets seed = the repeat number,
    DataSketches seeds itself (its Python API takes no seed).
    """
    makers = {
        "normal": lambda r: r.standard_normal(n),
        "lognormal": lambda r: r.lognormal(0.0, 2.0, n),
        "pareto(1.5)": lambda r: r.pareto(1.5, n) + 1.0,
    }
    rows = []
    for which, (name, make) in enumerate(makers.items()):
        dd_err, kll_err, ds_err, td_err = [], [], [], []
        for rep in range(repeats):
            # Own data per distribution: lognormal draws are exp(normal draws),
            # so with one seed their ranks -- and rank errors -- would coincide.
            x = make(np.random.default_rng((seed, which, rep)))
            s = np.sort(x)
            dd_err.append(relative_error(s, QS, ps.DDSketch(alpha=0.01).update(x).quantile(QS)))
            kll = ps.KLLSketch(k=200, seed=rep).update(x)
            kll_err.append(rank_error(s, QS, kll.quantile(QS)))
            if ds is not None:
                d = ds.kll_doubles_sketch(200)
                d.update(x)
                ds_err.append(rank_error(s, QS, np.array([d.get_quantile(q) for q in QS])))
            if crick is not None and rep == 0:
                t = crick.TDigest()
                t.update(x)
                td_err.append(rank_error(s, QS, t.quantile(QS)))

        def stat(errs: list[float]) -> str:
            if not errs:
                return NOT_INSTALLED
            return f"{np.mean(errs):.3%} ({max(errs):.3%})"

        rows.append([name, f"{max(dd_err):.4%}", stat(kll_err), stat(ds_err),
                     f"{td_err[0]:.3%}" if td_err else NOT_INSTALLED])
    return rows


DESCRIBE_QS = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def describe_rows(ps: Any, n: int, rep: int, seed: int) -> list[list[str]]:
    """describe() with each quantile method against numpy and pandas (one run)."""
    pd = optional("pandas")
    x = np.random.default_rng(seed).normal(280.0, 5.0, n)
    sx = np.sort(x)
    qs = np.array(DESCRIBE_QS)

    def np_all() -> np.ndarray:
        x.mean(), x.std(), x.min(), x.max()
        return np.percentile(x, qs * 100)

    cases: list[tuple[str, Callable[[], Any]]] = [
        ("pystream describe() (kll, k=400)", lambda: list(ps.from_array(x).describe()
                                                          .quantiles.values())),
        ("pystream describe(quantile_method='relative')",
         lambda: list(ps.from_array(x).describe(quantile_method="relative").quantiles.values())),
        ("pystream describe(quantiles=())", lambda: ps.from_array(x).describe(quantiles=())
         and None),
        ("numpy mean+std+min+max+percentile(7 q)", np_all),
        ("numpy np.quantile(x, 7 q)", lambda: np.quantile(x, qs)),
    ]
    if pd is not None:
        series = pd.Series(x)
        cases.append((f"pandas {version_of(pd)} Series.describe(7 percentiles)",
                      lambda: series.describe(percentiles=list(qs)).iloc[4:11].to_numpy()))
    else:
        cases.append((f"pandas Series.describe: {NOT_INSTALLED}", lambda: None))
    rows = []
    base = None
    for name, fn in cases:
        if name.endswith(NOT_INSTALLED):
            rows.append([name, "-", "-", "-", "-"])
            continue
        t, got = best_of(fn, rep)
        base = t if base is None else base
        err = "-" if got is None else f"{100 * rank_error(sx, qs, np.asarray(got)):.3f}%"
        rows.append([name, f"{t:.4f}", f"{1e9 * t / n:.2f}", f"{t / base:.2f}x", err])
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=float, default=1e7, help="array length (default 1e7)")
    p.add_argument("--accuracy-n", type=float, default=1e6,
                   help="length of the accuracy data sets (default 1e6)")
    p.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3)")
    p.add_argument("--accuracy-repeats", type=int, default=10,
                   help="data sets per distribution for the KLL errors (default 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", choices=("describe",), help="run only this table")
    args = p.parse_args(argv)

    import pystream as ps

    if args.only == "describe":
        n = int(args.n)
        print(f"bench_sketches describe: n={n:,} float64 N(280, 5) values, best of "
              f"{args.repeat}")
        print(f"machine: {machine_line()}")
        print_table(["case", "seconds", "ns/value", "ratio", "rank err"],
                    describe_rows(ps, n, args.repeat, args.seed))
        return 0

    ds = optional("datasketches")
    crick = optional("crick")
    n = int(args.n)
    x = np.random.default_rng(args.seed).standard_normal(n)
    print(f"bench_sketches: n={n:,} float64 normal values, best of {args.repeat}")
    print(f"machine: {machine_line()}")
    print(f"peers: datasketches {dist_version('datasketches')}, crick {version_of(crick)}")
    print()
    print("histogram (ns/value; speedup = np.histogram time / pystream time)")
    print_table(["case", "pystream ns", "np.histogram ns", "speedup"],
                histogram_rows(ps, x, args.repeat))
    print()
    print("quantile sketches: update throughput (speedup = peer time / time)")
    print_table(["sketch", "ns/value", "GB/s", "peer", "speedup"],
                sketch_rows(ps, x, args.repeat, ds, crick))
    print()
    print(f"accuracy on {int(args.accuracy_n):,} values, q = 0.001 ... 0.999, "
          f"{args.accuracy_repeats} data sets per distribution")
    print("DDSketch: largest relative error (bound: alpha = 1%); KLL and t-digest: largest "
          "normalised rank error, mean over the data sets (worst); KLL bound 1.33% at "
          "k=200, 99% confidence; t-digest: first data set only")
    print_table(["data", "DDSketch rel. err", "KLL k=200 rank err",
                 "DataSketches k=200 rank err", "t-digest rank err"],
                accuracy_rows(ps, int(args.accuracy_n), ds, crick, args.seed,
                              args.accuracy_repeats))
    print()
    print("describe on N(280, 5) (ratio = time / pystream describe()'s; rank err: largest "
          "of p1 ... p99)")
    print_table(["case", "seconds", "ns/value", "ratio", "rank err"],
                describe_rows(ps, n, args.repeat, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
