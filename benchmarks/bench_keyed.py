#!/usr/bin/env python3
"""Keyed streams (issue 20): statistics, windows and quantile sketches per key
against pandas, polars and numbagg.

Data (built once per size, cached): ``--rows`` records (1e7 by default; a
comma list such as ``1e7,1e8``), float64 values (standard normal, ~0.1 %
NaN) with one random int64 key per record, drawn uniformly from ``K`` keys
for each K of ``--keys`` (10, 1,000 and 100,000).  ``--key-spread dense``
(default) draws the keys from ``0 .. K-1``; ``sparse`` from K random int64
codes spread over the whole int64 range (hashed keys, not small codes).

Every contender gets the same missing values: pystream, pandas and numbagg
the NaNs (all three skip them), polars the same positions as **nulls**
(``pl.Series(x, nan_to_null=True)``), since polars' aggregations and
rolling windows carry a NaN but skip nulls.  The peers' frames are built
before timing; pystream is timed from ``ps.from_array(x, key=k)`` on (the
stream and its key column are part of its call).  numbagg needs labels
``0 .. K-1``: with dense keys they are the keys; with sparse keys its timed
call includes ``pd.factorize(k)``, the step a user needs first.

Parts (``--parts``), each contender's best of ``--repeat`` rounds (gc off;
within a round the contenders run one after the other, in reverse order
every other round, so a burst of load on the shared machine hits them
alike; a contender whose first run takes more than ``--budget`` seconds is
not run again).  Each peer's result of its first run is checked against
pystream's before it counts (key sets equal; counts exact; floats within
1e-9 relative to ``max(|value|, mean |x|)``, see :func:`compare`, NaN at
the same places; a ``WARNING:`` on stderr if not):

1. **describe**: ``ps.from_array(x, key=k).by().describe(quantiles=(),
   nan_policy="omit", ddof=1)`` (count, mean, std, min, max per key)
   against pandas ``df.groupby("k")["x"].agg(["count", "mean", "std",
   "min", "max"])`` (goal >= 2x), polars ``df.group_by("k").agg(count, mean,
   std, min, max)`` (both cores; goal >= 1x) and numbagg's five
   ``group_nan{count,mean,std,min,max}`` calls in a row (goal >= 1x); then
   per statistic, ``.by().<stat>(nan_policy="omit")`` against numbagg's
   ``group_nan<stat>`` alone (goal >= 1x each).
2. **moving**: ``ps.from_array(x, key=k).by().moving_mean(100).to_array()``
   (records in stream order) against polars
   ``pl.col("x").rolling_mean(100).over("k")`` (goal >= 1.5x) and pandas
   ``df.groupby("k")["x"].rolling(100).mean()`` (goal >= 10x; its rows come
   grouped by key and are put back in stream order for the check only).
   pandas' grouped rolling is very slow: it runs only at <= 1e7 rows and
   <= 1,000 keys (``--pandas-rolling-rows``, ``--pandas-rolling-keys``).
3. **memory**: the memory per key of ``.by().quantile(0.5,
   nan_policy="omit")`` with the default KLL sketch (k=400) and with
   ``method="relative"`` (DDSketch, alpha=0.01), for each K of
   ``--memory-keys`` (1,000 and 100,000) over ``--memory-rows`` records (the
   first of ``--rows``).  Each run is a fresh subprocess (data built,
   imports and first calls warmed on two keys), measured three ways:
   *RSS* -- peak resident memory growth (``VmHWM`` after resetting it
   through ``/proc/self/clear_refs``) of the run over K keys, minus that
   of the same keyed run with every record under one key in another fresh
   process (chunks, batches, grouping buffers, one state), divided by
   K - 1: what each further key costs, its states' C allocations and the
   allocator's slack included; *tracemalloc* -- the same difference of
   ``tracemalloc`` peaks (Python objects and numpy buffers only, not the
   C kernels' own ``malloc``; a second run, made only when the first took
   less than ``--tracemalloc-budget`` seconds); *serialized* -- the mean
   ``to_bytes()`` length of ``KLLSketch(k=400)`` / ``DDSketch(alpha=0.01)``
   fed one key's records, over up to 200 keys (the sketch's own data, what
   a key's state ships between processes).  The child also checks the keyed
   quantile of 20 keys against the plain ``quantile`` of their records
   alone (bit for bit).  Records per key are printed: a KLL state grows
   with them (raw values up to its block size, then block sketches of
   about 3k values), a DDSketch with the spread of the values.

Ratios are *peer time / pystream time* (``2.00x`` = pystream twice as
fast); each goal line says ``PASS`` or ``SHORT``.

Usage::

    python benchmarks/bench_keyed.py                      # 1e7 rows, ~5 min (295 s)
    python benchmarks/bench_keyed.py --rows 1e8           # 1e8 rows (data and frames ~5 GB)
    python benchmarks/bench_keyed.py --rows 1e6 --parts describe,moving   # quick check
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from typing import Any, Callable

import numpy as np

from _common import (CpuMeter, machine_line, optional, print_table, version_of, wait_idle)

STATS = ["count", "mean", "std", "min", "max"]
WINDOW = 100
NAN_RATE = 1e-3
RTOL = 1e-9


# --------------------------------------------------------------------------- data


@functools.lru_cache(maxsize=1)
def make_data(n: int, keys: int, spread: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(int64 keys, float64 values) of `n` records over `keys` keys (the last call cached)."""
    rng = np.random.default_rng([seed, keys])
    draw = rng.integers(0, keys, n)
    if spread == "dense":
        k = draw
    else:
        codes = rng.choice(np.unique(rng.integers(-2**62, 2**62, 2 * keys)), keys,
                           replace=False)
        k = codes[draw]
    x = rng.standard_normal(n)
    x[rng.random(n) < NAN_RATE] = np.nan
    return k, x


class Frames:
    """The peers' containers of the same data, built before timing."""

    def __init__(self, k: np.ndarray, x: np.ndarray, pd: Any, pl: Any) -> None:
        self.k, self.x = k, x
        self.pd_df = pd.DataFrame({"k": k, "x": x}) if pd is not None else None
        self.pl_df = (pl.DataFrame({"k": k, "x": pl.Series("x", x, nan_to_null=True)})
                      if pl is not None else None)


# --------------------------------------------------------------------------- timing


def alternate(funcs: list[Callable[[], Any]], repeat: int, budget: float
              ) -> tuple[list[float], list[Any], list[int]]:
    """Each function's best time over `repeat` rounds, its first result and its runs.

    Round r calls them in order, or in reverse when r is odd, each call
    timed alone with gc off.  A function whose first run took more than
    `budget` seconds is not called again (one run).
    """
    best = [float("inf")] * len(funcs)
    firsts: list[Any] = [None] * len(funcs)
    runs = [0] * len(funcs)
    for r in range(max(1, repeat)):
        for i in (range(len(funcs)) if r % 2 == 0 else reversed(range(len(funcs)))):
            if r > 0 and best[i] > budget:
                continue
            gc.collect()
            gc.disable()
            try:
                t0 = time.perf_counter()
                out = funcs[i]()
                t = time.perf_counter() - t0
            finally:
                gc.enable()
            best[i] = min(best[i], t)
            runs[i] += 1
            if r == 0:
                firsts[i] = out
            del out
    return best, firsts, runs


def verdict(r: float, goal: float | None) -> str:
    return "" if goal is None else ("PASS" if r >= goal else "SHORT")


def compare(got: np.ndarray, want: np.ndarray, exact: bool = False, scale: float = 0.0
            ) -> tuple[bool, str]:
    """`want` (a peer's) against `got` (pystream's), NaN at the same places: equal
    (`exact`), or ``|got - want| <= RTOL * max(|got|, |want|, scale)``.

    `scale` is the size of the terms (the mean |x| of the data): a mean or a
    window mean near zero comes from cancelling terms, and its rounding error
    is relative to the terms, not to the result (at 1e7 rows, polars' and
    pandas' window means differ from pystream's by 2e-7 relative at a mean of
    2e-9, by 4e-16 absolute; an exact sum puts pystream nearer).
    """
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return False, f"shape {want.shape} vs pystream's {got.shape}"
    nan_g, nan_w = np.isnan(got), np.isnan(want)
    if not np.array_equal(nan_g, nan_w):
        return False, f"NaN at {int((nan_g != nan_w).sum())} other places"
    g, w = got[~nan_g], want[~nan_g]
    if exact:
        bad = int((g != w).sum())
        return bad == 0, ("equal" if bad == 0 else f"{bad} differ")
    diff = np.where(g == w, 0.0, np.abs(g - w))
    with np.errstate(invalid="ignore"):
        rel = diff / np.maximum(np.maximum(np.abs(g), np.abs(w)), scale)
    rel[diff == 0] = 0.0
    worst = float(rel.max()) if rel.size else 0.0
    most = float(diff.max()) if diff.size else 0.0
    return worst <= RTOL, f"max |diff| {most:.1e}, relative {worst:.1e}"


class Report:
    """The rows, checks and goals of one part."""

    def __init__(self, title: str, repeat: int, wait: float) -> None:
        self.title, self.repeat = title, repeat
        self.rows: list[list[str]] = []
        self.goals: list[list[str]] = []
        self.checks: list[str] = []
        self.notes: list[str] = []
        wait_idle(wait, f"before {title}")
        self.meter = CpuMeter()

    def check(self, label: str, ok: bool, how: str) -> None:
        line = f"{label}: {'agrees' if ok else 'DIFFERS'} ({how})"
        self.checks.append(line)
        if not ok:
            print(f"WARNING: {line}", file=sys.stderr, flush=True)

    def timed(self, case: str, n: int, names: list[str], funcs: list[Callable[[], Any] | None],
              goals: list[float | None], budget: float, notes: dict[str, str] | None = None
              ) -> list[Any]:
        """Time pystream (first) and the peers; add the rows and goals; the first results.

        A None function is a peer not installed, or skipped (its reason in `notes`).
        """
        live = [i for i, f in enumerate(funcs) if f is not None]
        best, firsts, runs = alternate([funcs[i] for i in live], self.repeat, budget)
        times = dict(zip(live, best))
        outs: list[Any] = [None] * len(funcs)
        for i, out in zip(live, firsts):
            outs[i] = out
        nruns = dict(zip(live, runs))
        t_ps = times[0]
        for i, name in enumerate(names):
            if i not in times:
                why = (notes or {}).get(name, "not installed")
                self.rows.append([case, name, why, "", ""])
                continue
            t = times[i]
            one = " (1 run)" if nruns[i] == 1 and self.repeat > 1 else ""
            cells = [case, name, f"{t:.3f}{one}", f"{t / n * 1e9:.1f}"]
            if i == 0:
                self.rows.append(cells + [""])
                continue
            r = t / t_ps
            self.rows.append(cells + [f"{r:.2f}x"])
            if goals[i] is not None:
                self.goals.append([f"{case}: {name}", f"{r:.2f}x", f">= {goals[i]:g}x",
                                   verdict(r, goals[i])])
        return outs

    def show(self) -> None:
        print()
        print(f"== {self.title} (best of {self.repeat})")
        others = self.meter.others()
        if others is not None:
            print(f"(other processes used {others:.2f} cpu on average meanwhile)")
        for line in self.checks:
            print(f"check: {line}")
        print_table(["case", "contender", "seconds", "ns/row", "peer/ps"], self.rows)
        for line in self.notes:
            print(f"note: {line}")
        if self.goals:
            print()
            print_table(["goal (peer time / pystream time)", "ratio", "goal", ""], self.goals)
        sys.stdout.flush()


def short(n: float) -> str:
    """1e7, 2.5e6, 300: a count as the command line takes it."""
    if n < 1e4:
        return f"{n:g}"
    return f"{n:.3g}".replace("e+0", "e").replace("e+", "e")


def case_name(n: int, keys: int) -> str:
    return f"{short(n)} rows, {keys:,} keys"


# --------------------------------------------------------------------------- 1. describe


def ps_table(r: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A keyed describe result as (keys, {stat: values}) (not timed)."""
    vals = r.values
    return np.asarray(r.keys), {s: np.array([float(getattr(d, s)) for d in vals])
                                for s in STATS}


def numbagg_labels(f: Frames, pd: Any, spread: str) -> tuple[Callable[[], Any], np.ndarray]:
    """numbagg's labels: (a function giving (labels 0..m-1, m) as a user gets them, timed
    with numbagg; the key of each label)."""
    if spread == "dense":
        m = int(f.k.max()) + 1
        return (lambda: (f.k, m)), np.arange(m)

    def factorize() -> tuple[np.ndarray, int]:
        codes, uniques = pd.factorize(f.k)
        return codes, len(uniques)
    return factorize, np.asarray(pd.factorize(f.k)[1])


def check_describe(rep: Report, case: str, ps_r: Any, uniq: np.ndarray, outs: dict[str, Any],
                   label_keys: np.ndarray, scale: float) -> None:
    """Every peer's describe against pystream's, key by key; pystream's keys against
    `uniq` (the data's distinct keys, sorted)."""
    keys, want = ps_table(ps_r)
    order = np.argsort(keys)
    skeys = keys[order]
    want = {s: v[order] for s, v in want.items()}
    rep.check(f"{case}: pystream's keys", np.array_equal(skeys, uniq),
              f"{len(keys):,} keys, the data has {len(uniq):,}")

    def stats(peer: str, ok_keys: bool, column: Callable[[str], np.ndarray]) -> None:
        if not ok_keys:
            rep.check(f"{case}: {peer}", False, "its keys are not pystream's")
            return
        res = [compare(want[s], column(s), exact=(s == "count"), scale=scale) for s in STATS]
        rep.check(f"{case}: {peer}", all(ok for ok, _ in res),
                  f"{len(skeys):,} keys equal; " + "; ".join(
                      f"{s} {how}" for s, (_, how) in zip(STATS, res)))

    if outs.get("pandas") is not None:
        d = outs["pandas"]
        ok = np.array_equal(np.sort(d.index.to_numpy()), skeys)
        d = d.reindex(skeys) if ok else d
        stats("pandas describe", ok, lambda s: d[s].to_numpy())
    if outs.get("polars") is not None:
        dl = outs["polars"].sort("k")
        ok = np.array_equal(dl["k"].to_numpy(), skeys)
        stats("polars describe", ok, lambda s: dl[s].cast(float).fill_null(np.nan).to_numpy())
    if outs.get("numbagg") is not None:
        got = outs["numbagg"]
        pos = _positions(label_keys, skeys)
        others = np.ones(len(label_keys), bool)
        if pos is not None:
            others[pos] = False
        ok = pos is not None and not np.any(got["count"][others])
        stats("numbagg group_nan*", ok, lambda s: got[s][pos])


def describe_peers(f: Frames, pd: Any, pl: Any
                   ) -> tuple[Callable[[], Any] | None, Callable[[], Any] | None]:
    """pandas' and polars' describe per key (None when not installed).  The groupby
    is made in the call: pandas caches the grouping on the groupby object."""
    pd_f = pl_f = None
    if pd is not None:
        pd_f = lambda: f.pd_df.groupby("k")["x"].agg(STATS)  # noqa: E731
    if pl is not None:
        aggs = [getattr(pl.col("x"), s)().alias(s) for s in STATS]
        pl_f = lambda: f.pl_df.group_by("k").agg(aggs)  # noqa: E731
    return pd_f, pl_f


def part_describe(ps: Any, pd: Any, pl: Any, nb: Any, args: Any) -> None:
    rep = Report("1. describe per key: count, mean, std (ddof=1), min, max", args.repeat,
                 args.wait_idle)
    for n in args.rows:
        for keys in args.keys:
            k, x = make_data(n, keys, args.key_spread, args.seed)
            f = Frames(k, x, pd, pl)
            case = case_name(n, keys)

            def run_ps() -> Any:
                return ps.from_array(f.x, key=f.k).by().describe(
                    quantiles=(), nan_policy="omit", ddof=1)

            pd_f, pl_f = describe_peers(f, pd, pl)
            nb_f = labels_of = None
            label_keys = np.empty(0, np.int64)
            if nb is not None and (pd is not None or args.key_spread == "dense"):
                labels_of, label_keys = numbagg_labels(f, pd, args.key_spread)

                def nb_f() -> dict[str, np.ndarray]:
                    lab, m = labels_of()
                    return {s: getattr(nb, f"group_nan{s}")(f.x, lab, num_labels=m)
                            for s in STATS}
                nb_f()   # numba compiles on the first call: not timed
            names = ["pystream describe", "pandas groupby.agg", "polars group_by.agg",
                     "numbagg 5 x group_nan*"]
            outs = rep.timed(case, n, names, [run_ps, pd_f, pl_f, nb_f],
                             [None, 2.0, 1.0, 1.0], args.budget)
            uniq = np.unique(k)
            scale = float(np.nanmean(np.abs(x)))
            check_describe(rep, case, outs[0], uniq,
                           {"pandas": outs[1], "polars": outs[2], "numbagg": outs[3]},
                           label_keys, scale)
            del outs
            if nb is not None and labels_of is not None:
                per_stat(rep, ps, nb, f, case, n, labels_of, label_keys, uniq, scale,
                         args)
            del f
            gc.collect()
    rep.show()


def per_stat(rep: Report, ps: Any, nb: Any, f: Frames, case: str, n: int,
             labels_of: Callable[[], Any], label_keys: np.ndarray, uniq: np.ndarray,
             scale: float, args: Any) -> None:
    """Each statistic alone: ``.by().<stat>()`` against numbagg's ``group_nan<stat>``."""
    for s in STATS:
        extra = {"ddof": 1} if s == "std" else {}

        def run_ps(s: str = s, extra: dict[str, Any] = extra) -> Any:
            return getattr(ps.from_array(f.x, key=f.k).by(), s)(nan_policy="omit", **extra)

        def run_nb(s: str = s) -> np.ndarray:
            lab, m = labels_of()
            return getattr(nb, f"group_nan{s}")(f.x, lab, num_labels=m)

        outs = rep.timed(f"{case}: {s}", n, [f"pystream by().{s}()", f"numbagg group_nan{s}"],
                         [run_ps, run_nb], [None, 1.0], args.budget)
        r, got = outs
        keys = np.asarray(r.keys)
        vals = np.array([float(v) for v in r.values])
        pos = _positions(label_keys, keys)
        if not np.array_equal(np.sort(keys), uniq):
            ok, how = False, f"pystream has {len(keys):,} keys, the data {len(uniq):,}"
        elif pos is None:
            ok, how = False, "a key of pystream's is not among numbagg's labels"
        else:
            ok, how = compare(vals, got[pos], exact=(s == "count"), scale=scale)
        rep.check(f"{case}: numbagg group_nan{s}", ok, how)


def _positions(label_keys: np.ndarray, keys: np.ndarray) -> np.ndarray | None:
    """Where each of `keys` is in `label_keys` (None if one is missing)."""
    order = np.argsort(label_keys)
    i = np.searchsorted(label_keys, keys, sorter=order)
    i = np.minimum(i, len(order) - 1)
    pos = order[i]
    return pos if np.array_equal(label_keys[pos], keys) else None


# --------------------------------------------------------------------------- 2. moving


def part_moving(ps: Any, pd: Any, pl: Any, args: Any) -> None:
    rep = Report(f"2. moving_mean({WINDOW}) per key, outputs in stream order", args.repeat,
                 args.wait_idle)
    rep.notes.append(f"pandas' grouped rolling is very slow: it runs only at <= "
                     f"{short(args.pandas_rolling_rows)} rows and <= "
                     f"{args.pandas_rolling_keys:,} keys (skipped elsewhere)")
    for n in args.rows:
        for keys in args.keys:
            k, x = make_data(n, keys, args.key_spread, args.seed)
            f = Frames(k, x, pd, pl)
            case = case_name(n, keys)
            scale = float(np.nanmean(np.abs(x)))

            def run_ps() -> np.ndarray:
                return ps.from_array(f.x, key=f.k).by().moving_mean(WINDOW).to_array()

            pl_f = pd_f = None
            if pl is not None:
                pl_f = functools.partial(
                    f.pl_df.select, pl.col("x").rolling_mean(WINDOW).over("k"))
            slow = n > args.pandas_rolling_rows or keys > args.pandas_rolling_keys
            if pd is not None and not slow:
                pd_f = lambda: f.pd_df.groupby("k")["x"].rolling(WINDOW).mean()  # noqa: E731
            names = ["pystream by().moving_mean", "polars rolling_mean.over",
                     "pandas groupby.rolling"]
            notes = {"pandas groupby.rolling": "skipped"} if pd is not None else {}
            ps_out, pl_out, pd_out = rep.timed(case, n, names, [run_ps, pl_f, pd_f],
                                               [None, 1.5, 10.0], args.budget, notes)
            if pl_out is not None:
                ok, how = compare(ps_out, pl_out.to_series().cast(float).fill_null(np.nan)
                                  .to_numpy(), scale=scale)
                rep.check(f"{case}: polars", ok, how)
            if pd_out is not None:
                back = pd_out.droplevel(0).sort_index()
                ok_index = np.array_equal(back.index.to_numpy(), np.arange(n))
                ok, how = compare(ps_out, back.to_numpy(), scale=scale) if ok_index else \
                    (False, "its rows are not the stream's records")
                rep.check(f"{case}: pandas (rows put back in stream order)", ok, how)
            del ps_out, pl_out, pd_out, f
            gc.collect()
    rep.show()


# --------------------------------------------------------------------------- 3. memory


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def memory_child(spec: str) -> int:
    """One measurement in this fresh process; prints a JSON line after each step
    (the parent keeps the last one, also when it stops a slow child).

    `spec` is ``keyed|onekey,method,n,keys,spread,seed,budget``: the tracemalloc
    run is skipped when the first run took more than `budget` seconds.
    """
    import pystream as ps
    what, method, n_s, keys_s, spread, seed_s, budget_s = spec.split(",")
    n, keys = int(n_s), int(keys_s)
    k, x = make_data(n, keys, spread, int(seed_s))
    kw: dict[str, Any] = {"method": method, "nan_policy": "omit"}

    one = np.zeros(n, np.int64)

    def run() -> Any:
        return ps.from_array(x, key=k if what == "keyed" else one).by().quantile(0.5, **kw)

    def report() -> None:
        print(json.dumps(out), flush=True)

    # imports and first calls, on two keys (few states to free and reuse)
    ps.from_array(x[:1000], key=k[:1000] % 2).by().quantile(0.5, **kw)
    gc.collect()
    out: dict[str, Any] = {}
    base = _status_kb("VmRSS")
    reset = base is not None and _reset_peak()
    t0 = time.perf_counter()
    r = run()
    out["seconds"] = time.perf_counter() - t0
    peak = _status_kb("VmHWM") if reset else None
    out["rss_growth"] = None if peak is None or base is None else (peak - base) * 1024
    report()
    if what == "keyed":
        out.update(_serialized_and_checked(ps, r, k, x, method))
        report()
    del r
    gc.collect()
    if out["seconds"] <= float(budget_s):
        tracemalloc.start()
        r = run()
        out["traced_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    out["done"] = True
    report()
    return 0


def _serialized_and_checked(ps: Any, r: Any, k: np.ndarray, x: np.ndarray, method: str
                            ) -> dict[str, Any]:
    """Mean serialized sketch size over up to 200 keys; 20 keys checked bit for bit."""
    order = np.argsort(k, kind="stable")
    sk = k[order]
    rng = np.random.default_rng(1)
    sample = rng.choice(np.asarray(r.keys), size=min(200, len(r.keys)), replace=False)
    sizes, bad = [], []
    for i, key in enumerate(sample.tolist()):
        lo, hi = np.searchsorted(sk, key, "left"), np.searchsorted(sk, key, "right")
        xs = x[order[lo:hi]]
        if i < 20:
            plain = ps.from_array(xs).quantile(0.5, method=method, nan_policy="omit")
            if np.asarray(plain).tobytes() != np.asarray(r[key]).tobytes():
                bad.append(key)
        xs = xs[~np.isnan(xs)]
        sketch = ps.KLLSketch(k=400) if method == "kll" else ps.DDSketch(alpha=0.01)
        sizes.append(len(sketch.update(xs).to_bytes()))
    keys_ok = np.array_equal(np.sort(np.asarray(r.keys)), np.unique(k))
    return {"serialized": float(np.mean(sizes)), "keys_ok": bool(keys_ok),
            "checked": min(20, len(sample)), "mismatched": bad[:5]}


def run_child(spec: str, timeout: float) -> dict[str, Any]:
    """The last report of a memory child (``{}`` if it gave none; ``timeout`` set
    when it was stopped after `timeout` seconds)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", spec]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        stdout, failed = proc.stdout, proc.returncode != 0
        if failed:
            print(f"WARNING: memory child {spec} failed:\n{proc.stderr[-2000:]}",
                  file=sys.stderr, flush=True)
    except subprocess.TimeoutExpired as e:
        raw = e.stdout or b""
        stdout = raw.decode() if isinstance(raw, bytes) else raw
        failed = False
        print(f"WARNING: memory child {spec} stopped after {timeout:.0f} s",
              file=sys.stderr, flush=True)
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    out: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    if not out.get("done"):
        out["failed" if failed else "timeout"] = True
    return out


def _per_key(keyed: Any, one: Any, keys: int) -> str:
    """Bytes per key beyond the first: (K keys - 1 key) / (K - 1)."""
    if keyed is None or one is None or keys < 2:
        return "n/a"
    return f"{(keyed - one) / (keys - 1):,.0f}"


def part_memory(args: Any) -> None:
    wait_idle(args.wait_idle, "before 3. memory")
    meter = CpuMeter()
    n = args.memory_rows
    rows, checks = [], []
    for method, label in (("kll", "KLL k=400 (default)"), ("relative", "DDSketch alpha=0.01")):
        for keys in args.memory_keys:
            common = (f"{method},{n},{keys},{args.key_spread},{args.seed},"
                      f"{args.tracemalloc_budget}")
            one = run_child("onekey," + common, args.memory_timeout)
            keyed = run_child("keyed," + common, args.memory_timeout)
            if "keys_ok" in keyed and not keyed["keys_ok"]:
                checks.append(f"WARNING: {label}, {keys:,} keys: the result's keys are not "
                              "the data's")
            if "mismatched" in keyed:
                ok = not keyed["mismatched"]
                line = (f"{label}, {keys:,} keys: keyed quantile of {keyed['checked']} keys "
                        f"{'equals' if ok else 'DIFFERS FROM'} the plain quantile of their "
                        "records" + ("" if ok else f" (keys {keyed['mismatched']})"))
                checks.append(line)
                if not ok:
                    print(f"WARNING: {line}", file=sys.stderr, flush=True)
            rss_k, rss_1 = keyed.get("rss_growth"), one.get("rss_growth")
            note = ("stopped" if keyed.get("timeout") else "failed" if keyed.get("failed")
                    else "")
            seconds = keyed.get("seconds")
            rows.append([label, f"{keys:,}", f"{n / keys:,.0f}",
                         note if seconds is None else f"{seconds:.2f}",
                         "n/a" if rss_k is None else f"{rss_k / 2**20:,.1f}",
                         "n/a" if rss_1 is None else f"{rss_1 / 2**20:,.1f}",
                         _per_key(rss_k, rss_1, keys),
                         _per_key(keyed.get("traced_peak"), one.get("traced_peak"), keys),
                         "n/a" if "serialized" not in keyed else f"{keyed['serialized']:,.0f}"])
    print()
    print(f"== 3. memory per key of by().quantile(0.5) ({n:,} rows; one fresh process per "
          "run; B/key = (K keys - 1 key) / (K - 1))")
    others = meter.others()
    if others is not None:
        print(f"(other processes used {others:.2f} cpu on average meanwhile)")
    for line in checks:
        print(f"check: {line}")
    print("(n/a: not measured -- no /proc, a child stopped after --memory-timeout s, or "
          "tracemalloc skipped after a first run over --tracemalloc-budget s)")
    print_table(["sketch", "keys", "rows/key", "keyed s", "RSS growth MB", "1 key MB",
                 "RSS B/key", "tracemalloc B/key", "serialized B/key"], rows)
    sys.stdout.flush()


# --------------------------------------------------------------------------- main


def _counts(text: str) -> list[int]:
    return [int(float(v)) for v in text.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=_counts, default=[10**7],
                   help="records, a comma list (default 1e7; e.g. 1e7,1e8)")
    p.add_argument("--keys", type=_counts, default=[10, 1000, 100000],
                   help="numbers of keys, a comma list (default 10,1000,100000)")
    p.add_argument("--key-spread", choices=["dense", "sparse"], default="dense",
                   help="keys 0..K-1 (dense) or K random int64 codes (sparse)")
    p.add_argument("--parts", default="describe,moving,memory")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--budget", type=float, default=60.0,
                   help="a contender whose first run takes longer is run once")
    p.add_argument("--pandas-rolling-rows", type=float, default=1e7)
    p.add_argument("--pandas-rolling-keys", type=int, default=1000)
    p.add_argument("--memory-rows", type=float, default=None,
                   help="records of part 3 (default: the first of --rows)")
    p.add_argument("--memory-keys", type=_counts, default=[1000, 100000])
    p.add_argument("--tracemalloc-budget", type=float, default=15.0,
                   help="part 3 measures tracemalloc (a second run) only after a first "
                        "run shorter than this (seconds)")
    p.add_argument("--memory-timeout", type=float, default=600.0,
                   help="seconds after which a memory child is stopped (its finished "
                        "measurements are kept)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--wait-idle", type=float, default=10.0,
                   help="seconds to wait for other processes to calm down before each part")
    p.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_child:
        return memory_child(args.memory_child)
    parts = set(args.parts.split(","))
    unknown = parts - {"describe", "moving", "memory"}
    if unknown:
        p.error(f"unknown parts: {sorted(unknown)}")
    if min(args.rows) < 1 or min(args.keys) < 1 or min(args.memory_keys) < 1:
        p.error("--rows, --keys and --memory-keys must be >= 1")
    args.memory_rows = int(args.memory_rows or args.rows[0])

    t_start = time.perf_counter()
    import pystream as ps
    pd, pl, nb = optional("pandas"), optional("polars"), optional("numbagg")
    print(f"machine: {machine_line()}")
    print(f"bench_keyed: pystream {version_of(ps)} ({ps.__file__}), pandas {version_of(pd)}, "
          f"polars {version_of(pl)}, numbagg {version_of(nb)}; best of {args.repeat}")
    print(f"data: float64 N(0, 1) with {NAN_RATE:.1%} NaN (nulls for polars), "
          f"{args.key_spread} int64 keys drawn uniformly; rows {args.rows}, keys {args.keys}")
    if "describe" in parts:
        part_describe(ps, pd, pl, nb, args)
    if "moving" in parts:
        part_moving(ps, pd, pl, args)
    if "memory" in parts:
        part_memory(args)
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
