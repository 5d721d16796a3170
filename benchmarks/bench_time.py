#!/usr/bin/env python3
"""Event time (issue 19): duration windows, calendar resampling and EWM over
times against polars and pandas.

Data (built once, cached in memory): ``--n`` irregular timestamps, int64
nanoseconds from 2024-01-01 (``np.cumsum`` of exponential gaps of mean 1 s;
1 % of the gaps are 0, so about 1 % of the timestamps repeat the one before;
5 gaps of 2 to 6 hours), and float64 values (standard normal, 0.01 % NaN).
Every contender gets the same missing values: pystream and pandas the NaNs
(both skip them by default), polars the same positions as **nulls**
(``pl.Series(x, nan_to_null=True)``): polars' rolling functions propagate a
NaN through every window that holds it but skip nulls, so this is the input
that asks polars the same question.  Frames, Series and indexes are built
before timing; pystream is timed as the whole-array call
``ps.from_array(x, time=t).<stage>.to_array()`` at the default chunk size.

Parts (``--parts``), each contender timed best of ``--repeat`` rounds (gc
off; pystream and its peers alternate round by round, so a burst of load on
a shared machine hits them alike); the result of each peer's first call is
checked against pystream's (``np.allclose``, NaN = null = NaN; the output
says so, or ``WARNING:`` on stderr):

1. **windows**: ``moving_mean`` / ``moving_std`` / ``moving_max`` over
   ``"5min"`` (``closed="right"``, the default of all three) against polars
   ``rolling_{mean,std,max}_by("t", window_size="5m")`` (goal >= 2x) and
   pandas ``s.rolling("5min").{mean,std,max}()`` (goal >= 5x);
   ``moving_median("5min")`` against polars ``rolling_median_by`` (>= 2x;
   pandas shown for information).
2. **resample**: ``resample("1h", how=["mean", "std", "min", "max"])``
   against pandas ``s.resample("1h").agg([...])`` (empty hours kept, goal
   >= 5x) and, with ``empty="omit"``, against polars
   ``df.group_by_dynamic("t", every="1h").agg(...)`` (which omits empty
   windows; goal >= 1.5x).  Labels are compared too.
3. **ewm**: ``ewm_mean(halflife="10s")`` against pandas
   ``s.ewm(halflife="10s", times=t).mean()`` (goal >= 3x).
4. **sweep**: ns per record of ``moving_mean`` and ``moving_median`` for
   windows of 1 s, 1 min, 1 h and 1 day (about 1, 60, 3600 and 86400
   records), pystream beside polars (the first ``--sweep-n`` records,
   default 1e6: polars' median over a day takes ~4 us a record).

Ratios are *peer time / pystream time* (``2.00x`` = pystream twice as
fast); each goal line says ``PASS`` or ``SHORT``.

Usage::

    python benchmarks/bench_time.py            # 1e7 records, ~5 min on a busy 2-core machine
    python benchmarks/bench_time.py --small    # 1e6 records, quick check
    python benchmarks/bench_time.py --parts windows,ewm --repeat 5
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from typing import Any, Callable

import numpy as np

from _common import (CpuMeter, best_of, machine_line, optional, print_table, version_of,
                     wait_idle)

T0 = np.datetime64("2024-01-01T00:00:00", "ns")
HOWS = ["mean", "std", "min", "max"]
SWEEP = [("1s", "1s"), ("1min", "1m"), ("1h", "1h"), ("1D", "1d")]  # pystream, polars


# --------------------------------------------------------------------------- data


@functools.lru_cache(maxsize=2)
def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(times as datetime64[ns], float64 values) of `n` irregular records (cached)."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1e9, n)                      # nanoseconds, mean 1 s
    gaps[rng.random(n) < 0.01] = 0.0                    # ~1 % repeated timestamps
    gaps[0] = 0.0
    long_gaps = rng.choice(np.arange(1, n), size=min(5, n - 1), replace=False)
    gaps[long_gaps] = rng.uniform(2, 6, long_gaps.size) * 3600e9   # 2-6 hours
    t = T0 + np.cumsum(gaps.astype(np.int64)).astype("timedelta64[ns]")
    x = rng.standard_normal(n)
    x[rng.random(n) < 1e-4] = np.nan
    return t, x


class Frames:
    """The peers' containers of the same data, built once before timing."""

    def __init__(self, t: np.ndarray, x: np.ndarray, pl: Any, pd: Any) -> None:
        self.t, self.x = t, x
        self.last = last_of_timestamp(t)
        self.pl_df = (pl.DataFrame({"t": pl.Series("t", t),
                                    "x": pl.Series("x", x, nan_to_null=True)})
                      .set_sorted("t") if pl is not None else None)
        self.pd_s = (pd.Series(x, index=pd.DatetimeIndex(t), name="x")
                     if pd is not None else None)


def polars_col(out: Any) -> np.ndarray:
    """A polars float column as float64 with NaN for null."""
    return out.to_series().cast(float).fill_null(np.nan).to_numpy()


# --------------------------------------------------------------------------- timing


def agree(got: np.ndarray, want: np.ndarray, where: np.ndarray | None = None,
          tol: float = 1e-9) -> tuple[bool, str]:
    """allclose (rtol = atol = `tol`) with NaN at the same records, on `where` only."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return False, f"shape {want.shape} vs pystream's {got.shape}"
    if where is not None:
        got, want = got[where], want[where]
    same_nan = np.array_equal(np.isnan(got), np.isnan(want))
    ok = same_nan and bool(np.allclose(got, want, rtol=tol, atol=tol, equal_nan=True))
    diff = np.abs(got - want)
    worst = float(np.nanmax(diff)) if diff.size and not np.isnan(diff).all() else 0.0
    part = "" if where is None else f" on the {got.shape[0]:,} last records of their timestamps"
    return ok, f"max |diff| {worst:.1e}, NaN at the same records: {same_nan}{part}"


def last_of_timestamp(t: np.ndarray) -> np.ndarray:
    """True at the last record of each run of equal times.

    polars' ``rolling_*_by`` window of a record holds *every* record of its
    timestamp, also those after it; pandas' and pystream's stop at the
    record itself.  The windows are the same at the last record of a run.
    """
    keep = np.ones(t.shape[0], dtype=bool)
    keep[:-1] = t[1:] != t[:-1]
    return keep


def alternate(funcs: list[Callable[[], Any]], repeat: int) -> tuple[list[float], list[Any]]:
    """Each function's best time over `repeat` rounds, and its first result.

    Round r calls them in order, or in reverse when r is odd (ABBA), each
    call timed alone with gc off: on a shared machine a burst of load hits
    every contender alike instead of one.
    """
    best = [float("inf")] * len(funcs)
    firsts: list[Any] = [None] * len(funcs)
    for r in range(max(1, repeat)):
        for i in (range(len(funcs)) if r % 2 == 0 else reversed(range(len(funcs)))):
            t, out = best_of(funcs[i], 1)
            best[i] = min(best[i], t)
            if r == 0:
                firsts[i] = out
            del out
    return best, firsts


def verdict(r: float | None, goal: float | None) -> str:
    return "" if r is None or goal is None else ("PASS" if r >= goal else "SHORT")


class Report:
    """Collects the rows of one part, then prints the times and the goals."""

    def __init__(self, title: str, n: int, repeat: int, wait: float) -> None:
        self.title, self.n, self.repeat, self.wait = title, n, repeat, wait
        self.rows: list[list[str]] = []
        self.goals: list[list[str]] = []
        self.checks: list[str] = []
        self.meter: CpuMeter | None = None

    def start(self) -> None:
        wait_idle(self.wait, f"before {self.title}")
        self.meter = CpuMeter()

    def case(self, label: str, ps_func: Callable[[], np.ndarray],
             peers: list[tuple[str, Callable[[], Any] | None, Callable[[Any], np.ndarray],
                               float | None]],
             where: dict[str, np.ndarray] | None = None, tol: float = 1e-9) -> np.ndarray:
        """Time pystream and each peer (name, func, to_numpy, goal); check each peer's
        result of its first call against pystream's.

        The contenders alternate, round by round (pystream, peer, peer,
        pystream, ...), and each keeps its best round: on a shared machine a
        burst of load then hits them alike.  ``where[name]``: the records to
        compare with that peer (all if absent).  Returns pystream's result.
        """
        live = [(name, func, conv) for name, func, conv, _ in peers if func is not None]
        best, firsts = alternate([ps_func] + [func for _, func, _ in live], self.repeat)
        want = firsts[0]
        for (name, _, conv), out in zip(live, firsts[1:]):
            ok, how = agree(want, conv(out), (where or {}).get(name), tol)
            line = f"{label}: {name} {'agrees' if ok else 'DIFFERS'} ({how})"
            self.checks.append(line)
            if not ok:
                print(f"WARNING: {line}", file=sys.stderr)
        del firsts
        t_ps = best[0]
        times = dict(zip([name for name, _, _ in live], best[1:]))
        self.rows.append([label, "pystream", f"{t_ps:.3f}", f"{t_ps / self.n * 1e9:.1f}", ""])
        for name, func, _, goal in peers:
            if func is None:
                self.rows.append([label, name, "not installed", "", ""])
                continue
            t = times[name]
            r = t / t_ps
            self.rows.append([label, name, f"{t:.3f}", f"{t / self.n * 1e9:.1f}", f"{r:.2f}x"])
            if goal is not None:
                self.goals.append([f"{label} vs {name}", f"{r:.2f}x", f">= {goal:g}x",
                                   verdict(r, goal)])
        return want

    def show(self) -> None:
        print()
        print(f"== {self.title} ({self.n:,} records, best of {self.repeat})")
        others = self.meter.others() if self.meter is not None else None
        if others is not None:
            print(f"(other processes used {others:.2f} cpu on average meanwhile)")
        for line in self.checks:
            print(f"check: {line}")
        print_table(["operation", "contender", "seconds", "ns/record", "peer/ps"], self.rows)
        if self.goals:
            print()
            print_table(["goal (peer time / pystream time)", "ratio", "goal", ""], self.goals)


# --------------------------------------------------------------------------- parts


def part_windows(ps: Any, pl: Any, pd: Any, f: Frames, args: Any) -> None:
    rep = Report("1. duration windows, '5min', closed='right'", len(f.x), args.repeat,
                 args.wait_idle)
    rep.start()
    for stat, goal_pd in [("mean", 5.0), ("std", 5.0), ("max", 5.0), ("median", None)]:
        def run_ps(stat: str = stat) -> np.ndarray:
            return getattr(ps.from_array(f.x, time=f.t), "moving_" + stat)("5min").to_array()
        pl_f = pd_f = None
        if pl is not None:
            expr = getattr(pl.col("x"), f"rolling_{stat}_by")("t", window_size="5m")
            pl_f = functools.partial(f.pl_df.select, expr)
        if pd is not None:
            pd_f = getattr(f.pd_s.rolling("5min"), stat)
        rep.case(f"moving_{stat}", run_ps,
                 [("polars", pl_f, polars_col, 2.0),
                  ("pandas", pd_f, lambda r: r.to_numpy(), goal_pd)],
                 where={"polars": f.last})
        if stat != "median":   # one call over 1e7 records: ~8x the Stream's time, see README
            kernel_row(rep, stat, f)
    rep.show()


def kernel_row(rep: Report, stat: str, f: Frames) -> None:
    """Time the kernels alone on the whole array (one call, no Stream, no chunks).

    ``window_starts`` + ``time_window`` of :mod:`pystream.stages.time_kernels`
    (internal): the floor of the Stream call, to show where its time goes.
    """
    from pystream.stages import time_kernels as tk
    ti = f.t.view(np.int64)

    def run() -> np.ndarray:
        starts = tk.window_starts(ti, 300 * 10**9, "right")
        return tk.time_window(stat, f.x, starts, 0, "right", 0)

    t, out = best_of(run, rep.repeat)
    same = np.array_equal(out.ravel(), getattr(
        __import__("pystream").from_array(f.x, time=f.t), "moving_" + stat)("5min").to_array(),
        equal_nan=True)
    rep.rows.append([f"moving_{stat}", "ps kernels only", f"{t:.3f}",
                     f"{t / rep.n * 1e9:.1f}", "" if same else "(differs!)"])


def part_resample(ps: Any, pl: Any, pd: Any, f: Frames, args: Any) -> None:
    rep = Report("2. resample('1h', how=['mean', 'std', 'min', 'max'])", len(f.x),
                 args.repeat, args.wait_idle)
    rep.start()

    def run_ps(empty: str) -> np.ndarray:
        return ps.from_array(f.x, time=f.t).resample("1h", how=HOWS, empty=empty).to_array()

    def ps_labels(empty: str) -> np.ndarray:
        s = ps.from_array(f.x, time=f.t).resample("1h", how=HOWS, empty=empty)
        return np.concatenate([b.time for b in s.batches()])

    pd_f = pl_f = None
    if pd is not None:
        pd_f = functools.partial(f.pd_s.resample("1h").agg, HOWS)
        lab = pd_f().index.to_numpy()
        ok = np.array_equal(lab, ps_labels("nan"))
        rep.checks.append(f"empty='nan': pandas' bin labels {'equal' if ok else 'DIFFER FROM'}"
                          f" pystream's ({lab.size} bins)")
    if pl is not None:
        aggs = [getattr(pl.col("x"), h)().alias(h) for h in HOWS]
        pl_f = functools.partial(f.pl_df.group_by_dynamic("t", every="1h").agg, aggs)
        lab = pl_f()["t"].to_numpy()
        ok = np.array_equal(lab, ps_labels("omit"))
        rep.checks.append(f"empty='omit': polars' window starts {'equal' if ok else 'DIFFER FROM'}"
                          f" pystream's ({lab.size} windows)")

    def pl_conv(out: Any) -> np.ndarray:
        return np.column_stack([out[h].cast(float).fill_null(np.nan).to_numpy() for h in HOWS])

    rep.case("resample empty='nan'", functools.partial(run_ps, "nan"),
             [("pandas", pd_f, lambda r: r[HOWS].to_numpy(), 5.0)])
    rep.case("resample empty='omit'", functools.partial(run_ps, "omit"),
             [("polars", pl_f, pl_conv, 1.5)])
    for line in rep.checks[:2]:
        if "DIFFER" in line:
            print(f"WARNING: {line}", file=sys.stderr)
    rep.show()


def ewm_reference(t: np.ndarray, x: np.ndarray, at: np.ndarray, halflife_ns: int) -> np.ndarray:
    """The EWM mean at records `at` summed directly in long double.

    Weights ``0.5 ** ((t_i - t_j) / h)`` over the records up to i with the
    time differences exact in int64; records more than 200 half-lives back
    (weight < 2**-200) are left out.  The oracle that shows whose rounding a
    difference between pystream and pandas is.
    """
    out = np.empty(at.size)
    ti = t.view(np.int64)
    for k, i in enumerate(at):
        j0 = int(np.searchsorted(ti, ti[i] - 200 * halflife_ns))
        xs, dt = x[j0:i + 1], ti[i] - ti[j0:i + 1]
        ok = ~np.isnan(xs)
        w = np.exp2(-(dt[ok].astype(np.longdouble) / np.longdouble(halflife_ns)))
        out[k] = float((w * xs[ok].astype(np.longdouble)).sum() / w.sum())
    return out


def part_ewm(ps: Any, pl: Any, pd: Any, f: Frames, args: Any) -> None:
    rep = Report("3. ewm_mean(halflife='10s') over the times", len(f.x), args.repeat,
                 args.wait_idle)
    rep.start()
    pd_f = None
    if pd is not None:
        pd_f = f.pd_s.ewm(halflife="10s", times=f.pd_s.index).mean
    # pandas turns the time differences into float64 multiples of the
    # half-life and carries the old weight over many steps: its error reaches
    # ~1e-8 on 1e6 records, hence tol=1e-7; the reference below says whose.
    got = rep.case("ewm_mean",
                   lambda: ps.from_array(f.x, time=f.t).ewm_mean(halflife="10s").to_array(),
                   [("pandas", pd_f, lambda r: r.to_numpy(), 3.0)], tol=1e-7)
    at = np.random.default_rng(1).choice(np.flatnonzero(~np.isnan(got)), size=50,
                                         replace=False)
    ref = ewm_reference(f.t, f.x, np.sort(at), 10 * 10**9)
    line = (f"ewm_mean against a long-double sum at 50 random records: pystream max |err| "
            f"{np.abs(got[np.sort(at)] - ref).max():.1e}")
    if pd_f is not None:
        line += f", pandas {np.abs(pd_f().to_numpy()[np.sort(at)] - ref).max():.1e}"
    rep.checks.append(line)
    rep.show()


def part_sweep(ps: Any, pl: Any, f: Frames, args: Any) -> None:
    n = len(f.x)
    wait_idle(args.wait_idle, "before the sweep")
    meter = CpuMeter()
    rows, checks = [], []
    for stat in ("mean", "median"):
        for w_ps, w_pl in SWEEP:
            def run_ps(stat: str = stat, w: str = w_ps) -> np.ndarray:
                return getattr(ps.from_array(f.x, time=f.t), "moving_" + stat)(w).to_array()
            funcs: list[Callable[[], Any]] = [run_ps]
            if pl is not None:
                expr = getattr(pl.col("x"), f"rolling_{stat}_by")("t", window_size=w_pl)
                funcs.append(functools.partial(f.pl_df.select, expr))
            best, firsts = alternate(funcs, args.repeat)
            t_ps = best[0]
            cells = [f"moving_{stat}", w_ps, f"{t_ps / n * 1e9:.1f}"]
            if pl is not None:
                t_pl = best[1]
                ok, how = agree(firsts[0], polars_col(firsts[1]), f.last)
                checks.append(f"moving_{stat}('{w_ps}'): polars {'agrees' if ok else 'DIFFERS'}"
                              f" ({how})")
                if not ok:
                    print(f"WARNING: {checks[-1]}", file=sys.stderr)
                cells += [f"{t_pl / n * 1e9:.1f}", f"{t_pl / t_ps:.2f}x"]
            else:
                cells += ["not installed", ""]
            rows.append(cells)
    print()
    print(f"== 4. cost per record against the window length ({n:,} records, "
          f"best of {args.repeat}; ~1 record per second)")
    others = meter.others()
    if others is not None:
        print(f"(other processes used {others:.2f} cpu on average meanwhile)")
    for line in checks:
        print(f"check: {line}")
    print_table(["operation", "window", "pystream ns/rec", "polars ns/rec", "polars/ps"], rows)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--small", action="store_true", help="1e6 records: a quick check")
    p.add_argument("--n", type=float, default=None, help="records (default 1e7)")
    p.add_argument("--sweep-n", type=float, default=1e6,
                   help="records of part 4 (default 1e6: polars' median over 1-day windows "
                        "takes ~4 us per record)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--parts", default="windows,resample,ewm,sweep")
    p.add_argument("--wait-idle", type=float, default=10.0,
                   help="seconds to wait for other processes to calm down before each part")
    args = p.parse_args(argv)
    n = int(args.n if args.n is not None else (1e6 if args.small else 1e7))
    sweep_n = min(int(args.sweep_n), n)
    parts = set(args.parts.split(","))
    unknown = parts - {"windows", "resample", "ewm", "sweep"}
    if unknown:
        p.error(f"unknown parts: {sorted(unknown)}")

    t_start = time.perf_counter()
    import pystream as ps
    pl, pd = optional("polars"), optional("pandas")
    print(f"machine: {machine_line()}")
    print(f"bench_time: pystream {version_of(ps)} ({ps.__file__}), polars {version_of(pl)}, "
          f"pandas {version_of(pd)}; best of {args.repeat}")
    t, x = make_data(n)
    print(f"data: {n:,} records over {(t[-1] - t[0]) / np.timedelta64(1, 'D'):.1f} days, "
          f"{int((np.diff(t) == np.timedelta64(0)).sum()):,} repeated timestamps, "
          f"{int(np.isnan(x).sum()):,} NaN values (nulls for polars, NaN for pandas), "
          f"longest gap {np.diff(t).max() / np.timedelta64(1, 'h'):.1f} h")
    f = Frames(t, x, pl, pd)
    if "windows" in parts:
        part_windows(ps, pl, pd, f, args)
    if "resample" in parts:
        part_resample(ps, pl, pd, f, args)
    if "ewm" in parts:
        part_ewm(ps, pl, pd, f, args)
    if "sweep" in parts:
        fs = f if sweep_n == n else Frames(t[:sweep_n], x[:sweep_n], pl, None)
        part_sweep(ps, pl, fs, args)
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
