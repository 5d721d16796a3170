#!/usr/bin/env python3
"""Core throughput of pystream against numpy and peers, in one run.

Everything is measured in this process, on the same in-memory float64 array
(1e8 values = 800 MB by default; ``--n`` for smaller runs), best of
``--repeat`` runs with the garbage collector off, and printed with ratios:

* ``vs np.sum``  time / time of ``np.sum(x)``, the memory-bandwidth
  reference (one read pass, nothing else);
* ``vs peer``    time / time of the row named in the ``peer`` column.

Rows
----
describe (one pass: count, nan_count, sum, mean, var, min, max):
  pystream ``ps.from_array(x).describe(quantiles=())`` and
  ``Moments().update(x).result()``, and ``describe()`` with its default
  quantiles (p1 ... p99 from a KLL sketch, k=400, fed in the same pass;
  ``bench_sketches.py --only describe`` compares the quantile methods with
  numpy's and pandas' quantiles),
  against numpy's separate ``mean`` + ``var`` + ``min`` + ``max`` (4 passes),
  bottleneck's ``nanmean`` + ``nanvar`` + ``nanmin`` + ``nanmax``, and
  ``crick.SummaryStats`` (update, then mean/var/min/max).
pure-Python generator running mean: per-value cost, measured on a 1e6 slice
  (as a list of Python floats) and reported as ns/value.
5-stage stateless pipeline: ``map(np.abs).map(np.sqrt).map(c*2.0)
  .astype(float32).filter(c > 1)`` over a stream of x, drained chunk by
  chunk, against the same numpy calls on the same chunks in a plain Python
  loop (the target is <= 1.3x).
3-stage map reduced to a sum: ``map(np.abs).map(np.sqrt).map(c*2.0).sum()``
  against the same numpy expression on the whole array (its temporaries do
  not fit in cache) and against the plain chunk loop.

Peers are optional imports: a missing one prints "not installed".
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from _common import (NOT_INSTALLED, best_of, default_chunk_size, machine_line,
                     optional, print_table, ratio, version_of)


def _check(name: str, got: float, want: float, rtol: float = 1e-7) -> None:
    if not np.isclose(got, want, rtol=rtol, atol=0.0, equal_nan=True):
        print(f"WARNING: {name}: result {got!r} differs from numpy's {want!r}",
              file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=float, default=1e8, help="array length (default 1e8)")
    p.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3)")
    p.add_argument("--chunk-size", type=int, default=None,
                   help="records per chunk for the pipelines (default: pystream's)")
    p.add_argument("--gen-n", type=float, default=1e6,
                   help="values for the pure-Python generator (default 1e6)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import pystream as ps
    Moments = ps.Moments

    n = int(args.n)
    rep = args.repeat
    cs = args.chunk_size or default_chunk_size()
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal(n)  # same data for every row
    nbytes = x.nbytes
    bn = optional("bottleneck")
    crick = optional("crick")

    print(f"bench_core: n={n:,} float64 ({nbytes / 1e6:,.0f} MB), best of {rep}, "
          f"chunk_size={cs:,} records")
    print(f"machine: {machine_line()}")
    print(f"peers: bottleneck {version_of(bn)}, crick {version_of(crick)}")
    print()

    rows: list[list[str]] = []
    times: dict[str, float | None] = {}

    def add(name: str, t: float | None, nb: int | None, peer: str = "",
            note: str = "") -> None:
        times[name] = t
        if t is None:
            rows.append([name, NOT_INSTALLED, "", "", peer, "", note])
            return
        gbs = f"{nb / t / 1e9:.2f}" if nb else ""
        rows.append([name, f"{t:.4f}", gbs, ratio(t, times["np.sum"]), peer,
                     ratio(t, times.get(peer)), note])

    # -- reference ---------------------------------------------------------
    x.sum()  # touch the pages once
    t, ref_sum = best_of(lambda: np.sum(x), rep)
    add("np.sum", t, nbytes, note="bandwidth reference")
    ref_mean, ref_var = float(x.mean()), float(x.var())

    # -- describe ----------------------------------------------------------
    def numpy4():
        return x.mean(), x.var(), x.min(), x.max()

    t, _ = best_of(numpy4, rep)
    add("numpy 4 passes", t, nbytes, note="mean,var,min,max")

    if bn is not None:
        def bn4():
            return bn.nanmean(x), bn.nanvar(x), bn.nanmin(x), bn.nanmax(x)
        t, r = best_of(bn4, rep)
        _check("bottleneck nanmean", float(r[0]), ref_mean)
        add("bottleneck 4 passes", t, nbytes,
            "numpy 4 passes", "nanmean,nanvar,nanmin,nanmax")
    else:
        add("bottleneck 4 passes", None, None)

    if crick is not None:
        def crick_stats():
            s = crick.SummaryStats()
            s.update(x)
            return s.mean(), s.var(), s.min(), s.max()
        t, r = best_of(crick_stats, rep)
        _check("crick mean", float(r[0]), ref_mean)
        add("crick SummaryStats", t, nbytes, "numpy 4 passes", "update; mean,var,min,max")
    else:
        add("crick SummaryStats", None, None)

    def ps_describe():
        return ps.from_array(x).describe(quantiles=())

    t, d = best_of(ps_describe, rep)
    _check("ps describe mean", float(d.mean), ref_mean)
    _check("ps describe var", float(d.var), ref_var)
    add("ps describe(quantiles=())", t, nbytes, "numpy 4 passes",
        "from_array(x).describe(quantiles=())")

    # describe()'s default: the same pass also feeds a KLL sketch (p1 ... p99).
    def ps_describe_q():
        return ps.from_array(x).describe()

    t, d = best_of(ps_describe_q, rep)
    _check("ps describe() mean", float(d.mean), ref_mean)
    add("ps describe()", t, nbytes, "numpy 4 passes",
        "with p1..p99 (KLL, k=400) in the same pass")

    def ps_moments():
        return Moments().update(x).result()

    t, d = best_of(ps_moments, rep)
    _check("Moments mean", float(d.mean), ref_mean)
    add("ps Moments.update", t, nbytes, "numpy 4 passes",
        "Moments().update(x).result()")

    # -- pure-Python generator -------------------------------------------------
    gn = min(int(args.gen_n), n)
    values = x[:gn].tolist()

    def running_mean(it):
        count = 0
        mean = 0.0
        for v in it:
            count += 1
            mean += (v - mean) / count
            yield mean

    def drain_generator():
        last = None
        for last in running_mean(values):
            pass
        return last

    t, r = best_of(drain_generator, rep)
    _check("generator running mean", float(r), float(x[:gn].mean()), rtol=1e-6)
    per_value = t / gn
    times["python generator mean"] = None
    rows.append(["python generator mean", f"{per_value * n:.4f}",
                 f"{8 / per_value / 1e9:.3f}", ratio(per_value * n, times["np.sum"]),
                 "", "", f"{per_value * 1e9:.1f} ns/value (timed on {gn:,})"])

    # -- 5-stage stateless pipeline ------------------------------------------
    def plain_loop_5():
        out = 0
        for i in range(0, n, cs):
            c = x[i:i + cs]
            c = np.abs(c)
            c = np.sqrt(c)
            c = c * 2.0
            c = c.astype(np.float32)
            c = c[c > 1]
            out += len(c)
        return out

    def ps_pipeline_5():
        s = (ps.from_array(x, chunk_size=cs)
             .map(np.abs).map(np.sqrt).map(lambda c: c * 2.0)
             .astype(np.float32).filter(lambda c: c > 1))
        out = 0
        for c in s:
            out += len(c)
        return out

    t, want = best_of(plain_loop_5, rep)
    add("loop 5 stages", t, nbytes, note="numpy calls on chunk views")
    t, got = best_of(ps_pipeline_5, rep)
    if got != want:
        print(f"WARNING: 5-stage pipeline kept {got} records, the loop {want}",
              file=sys.stderr)
    add("ps 5 stages", t, nbytes,
        "loop 5 stages", "map x3,astype,filter; target <= 1.3x")

    # -- 3-stage map reduced to a sum ----------------------------------------
    def numpy_whole_3():
        return float((np.sqrt(np.abs(x)) * 2.0).sum())

    def plain_loop_3():
        total = 0.0
        for i in range(0, n, cs):
            c = x[i:i + cs]
            total += float((np.sqrt(np.abs(c)) * 2.0).sum())
        return total

    def ps_pipeline_3():
        s = ps.from_array(x, chunk_size=cs).map(np.abs).map(np.sqrt).map(lambda c: c * 2.0)
        return float(s.sum())

    t, want3 = best_of(numpy_whole_3, rep)
    add("numpy whole 3 ops+sum", t, nbytes,
        note="(sqrt(abs(x))*2).sum(), big temporaries")
    t, r = best_of(plain_loop_3, rep)
    _check("plain loop 3-stage sum", r, want3, rtol=1e-9)
    add("loop 3 ops+sum", t, nbytes,
        "numpy whole 3 ops+sum")
    t, r = best_of(ps_pipeline_3, rep)
    _check("ps 3-stage sum", r, want3, rtol=1e-9)
    add("ps 3 maps+sum", t, nbytes, "numpy whole 3 ops+sum",
        "")
    rows[-1][-1] += f"{ratio(t, times['loop 3 ops+sum'])} vs plain loop"

    print_table(["name", "seconds", "GB/s", "vs np.sum", "peer", "vs peer", "note"], rows)
    print()
    print("seconds: best of the repeats; GB/s: bytes of x read / seconds; ratios: time / "
          "time of np.sum or of the peer row (< 1 is faster).")
    print("python generator mean: seconds and GB/s extrapolated from the per-value "
          "cost on the slice.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
