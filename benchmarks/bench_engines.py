#!/usr/bin/env python3
"""Engines: ``engine="threads"`` and ``engine="dask"`` against the serial run, in one run.

Everything is measured in this process (and, for Dask, in the two worker
processes of a ``distributed.LocalCluster`` it starts), best of
``--repeats`` runs with the garbage collector off, and printed with ratios.

1. **threads vs local** -- the same terminal operation on the same in-memory
   float64 array with ``engine="local"`` (the serial pull loop) and
   ``engine="threads", workers=2``; ``speedup`` = local time / threads time
   (> 1 is faster).  Every threaded result is checked bit-identical to the
   serial one (``.tobytes()`` of arrays, ``==`` of Description objects):

   * compute-bound: ``moving_median(101).to_array()`` over n/10 values,
     ``quantile(q, method="relative")`` (DDSketch) and
     ``quantile(q, method="kll")`` over n values (target >= 1.7x);
   * memory-bound: ``describe(quantiles=())`` over n values (target >=
     1.2x), and ``describe()`` (its default p1..p99 come from a DDSketch fed
     in the same pass: compute-bound again, no target);
   * reference: ``np.sum`` of the two halves of the array on two threads
     by hand against one ``np.sum``: what two cores give on a pure read
     pass, i.e. the ceiling for the memory-bound rows;
   * diagnostic: ``moving_median(101).sum()`` (the window kernel without
     an output array to fill).

   Local and threaded runs alternate, best of ``--repeats`` each, so both
   see the same state of a shared virtual machine.

   Then the ceiling table: ``moving_median(101).to_array()``, ``describe()``
   and ``describe(quantiles=())`` also run on the two halves of their data
   in two plain threads (the same work with no partitions, merge or
   assembly), and bottleneck's ``move_median`` whole and on two halves: the
   engine's speedup is reported as a fraction of that ceiling (target >=
   0.95).

   Then a workers sweep (1, 2, 3, 4 threads on 2 cores: oversubscription)
   and a partition-size sweep (``partition_size=``, 2 workers).

2. **Dask** -- a ``LocalCluster(n_workers=2, threads_per_worker=1,
   processes=True)`` and a Client; an n-value float64 array generated on the
   workers (``da.random.default_rng(seed).standard_normal``) and persisted
   (generation is not timed), rechunked (and persisted again) to a few
   chunk sizes.  For each chunking: ``x.sum().compute()`` (a reference:
   one read pass plus the scheduler's overhead), dask's own ``da.compute(x.mean(),
   x.var(), x.min(), x.max())`` (one graph) against
   ``ps.from_dask(x).describe(quantiles=(), engine="dask")`` and
   ``describe()``; ``vs dask`` = pystream time / dask time (target <= 1.5x).
   Then the reproducibility table: mean and variance from every chunking,
   for dask and for pystream (and pystream's serial run on the gathered
   array): dask's change in the last bits, pystream's must not.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import logging
import os
import sys
import time
import warnings
from typing import Any, Callable

import numpy as np

from _common import CpuMeter, best_of, machine_line, optional, print_table, version_of, wait_idle

QS = [0.01, 0.5, 0.99]
PENDING = "n/a (raised)"


def _load() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:  # pragma: no cover - not on Unix
        return "?"
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def _same(a: Any, b: Any) -> bool:
    """Bit-identical: arrays by bytes (and dtype/shape), Description objects by ``==``."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) or np.isscalar(a):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    return bool(a == b)


def _yes(flag: bool | None) -> str:
    return "" if flag is None else ("yes" if flag else "NO")


def _size_arg(text: str) -> int | None:
    text = text.strip().lower()
    if text in ("", "default", "none"):
        return None
    return int(float(text))


def _fmt_size(size: int | None) -> str:
    if size is None:
        return "default"
    for unit, shift in (("Mi", 20), ("Ki", 10)):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift}{unit}"
    return f"{size:,}"


# --------------------------------------------------------------------------- threads


class Op:
    """One terminal operation, runnable on any engine."""

    def __init__(self, name: str, data: np.ndarray, run: Callable[..., Any],
                 target: float | None, kind: str) -> None:
        self.name, self.data, self.run, self.target, self.kind = name, data, run, target, kind
        self.local_t: float | None = None
        self.local_r: Any = None
        self.error: str | None = None

    def measure_local(self, rep: int) -> None:
        try:
            self.local_t, self.local_r = best_of(lambda: self.run(engine="local"), rep)
        except Exception as e:  # e.g. KLL partition support still on its branch
            self.error = f"{type(e).__name__}: {e}"
            print(f"WARNING: {self.name} (engine='local') raised {self.error}", file=sys.stderr)

    def measure_threads(self, rep: int, workers: int,
                        partition_size: int | None = None) -> tuple[float | None, bool | None]:
        """(seconds, identical to the serial result); (None, None) if it raises."""
        if self.error is not None:
            return None, None
        try:
            t, r = best_of(lambda: self.run(engine="threads", workers=workers,
                                            partition_size=partition_size), rep)
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"
            print(f"WARNING: {self.name} (engine='threads') raised {self.error}", file=sys.stderr)
            return None, None
        same = _same(self.local_r, r)
        if not same:
            print(f"WARNING: {self.name}: engine='threads' (workers={workers}, partition_size="
                  f"{partition_size}) is not bit-identical to the serial run", file=sys.stderr)
        return t, same


def _default_partition(n: int, workers: int, ordered: bool) -> int | None:
    """The threads engine's default partition size (records), read from its constants."""
    th = optional("pystream.engines.threads")
    try:
        size = max(th.MIN_PARTITION, -(-n // (workers * th.PARTITIONS_PER_WORKER)))
        if ordered:
            size = min(size, max(1, th.MAX_ORDERED_BYTES // 8))
        return int(size)
    except AttributeError:
        return None


def _speed(local: float | None, t: float | None) -> str:
    return f"{local / t:.2f}x" if local and t else ""


#: Other processes using more cpus than this during a row make it measured again.
BUSY = 0.15


def _others(o: float | None) -> str:
    return "" if o is None else f"{o:.2f}"


def quiet(fn: Callable[[], Any], args: argparse.Namespace, what: str,
          pids: tuple[int, ...] = ()) -> tuple[Any, float | None]:
    """``fn()`` measured while other processes leave the cpus alone.

    Runs `fn` under a :class:`CpuMeter`; while other processes used more than
    `BUSY` cpus meanwhile, waits for an idle moment and runs it again (at most
    ``--retries`` times).  Returns (its result, the cpus others used).
    """
    o = None
    for attempt in range(args.retries + 1):
        meter = CpuMeter(pids)
        r = fn()
        o = meter.others()
        if o is None or o <= BUSY or attempt == args.retries:
            return r, o
        print(f"note: {what}: other processes used {o:.2f} cpus meanwhile; measuring again",
              file=sys.stderr)
        wait_idle(args.wait_idle, f"before measuring {what} again")
    return r, o  # pragma: no cover


def bench_threads(x: np.ndarray, args: argparse.Namespace) -> None:
    import pystream as ps

    rep = args.repeats
    n = len(x)
    xw = x[: max(1, int(n * args.window_fraction))]

    ops = [
        Op("moving_median(101).to_array", xw,
           lambda **k: ps.from_array(xw).moving_median(101).to_array(**k), 1.7, "compute"),
        Op("quantile(q, 'relative')", x,
           lambda **k: ps.from_array(x).quantile(QS, method="relative", **k), 1.7, "compute"),
        Op("quantile(q, 'kll')", x,
           lambda **k: ps.from_array(x).quantile(QS, method="kll", **k), 1.7, "compute"),
        Op("describe(quantiles=())", x,
           lambda **k: ps.from_array(x).describe(quantiles=(), **k), 1.2, "memory"),
        Op("describe()", x,
           lambda **k: ps.from_array(x).describe(**k), None, "compute"),
    ]
    # Diagnostics: the window kernel without the output assembly.
    diag = Op("moving_median(101).sum (diag)", xw,
              lambda **k: ps.from_array(xw).moving_median(101).sum(**k), None, "compute")

    if args.ceiling_only:
        bench_ceiling(x, xw, args)
        return
    print(f"== threads vs local: engine='threads', workers={args.workers} against "
          f"engine='local' (speedup = local time / threads time) ==")
    wait_idle(args.wait_idle, "before the threads section")
    rows: list[list[str]] = []

    # Reference: what two threads give on a pure read pass (np.sum of halves).
    pool = concurrent.futures.ThreadPoolExecutor(2)
    halves = [x[: n // 2], x[n // 2:]]

    def sums() -> tuple[float, float]:
        return (best_of(lambda: float(np.sum(x)), rep)[0],
                best_of(lambda: sum(pool.map(np.sum, halves)), rep)[0])

    (t1, t2), o = quiet(sums, args, "np.sum")
    pool.shutdown()
    rows.append(["np.sum 2 halves (ref)", f"{n:,}", f"{t1:.4f}", f"{t2:.4f}", _speed(t1, t2),
                 "", "", "", _others(o), f"memory ceiling: 1 thread {x.nbytes / t1 / 1e9:.1f} "
                 f"GB/s, 2 threads {x.nbytes / t2 / 1e9:.1f} GB/s"])

    for op in [*ops, diag]:
        def both(op: Op = op) -> tuple[float | None, bool | None]:
            # Alternate the two engines, best of `rep` each: both then see the
            # same state of a shared virtual machine (it drifts over minutes).
            best_local = best_threads = None
            same: bool | None = True
            for _ in range(rep):
                op.measure_local(1)
                t, ok = op.measure_threads(1, args.workers)
                if op.local_t is not None:
                    best_local = min(best_local or op.local_t, op.local_t)
                if t is None:
                    return None, None
                best_threads = min(best_threads or t, t)
                same = same and ok
            op.local_t = best_local
            return best_threads, same

        (t, same), o = quiet(both, args, op.name)
        if op.local_t is None or t is None:
            rows.append([op.name, f"{len(op.data):,}",
                         "" if op.local_t is None else f"{op.local_t:.4f}", PENDING, "",
                         f">= {op.target}x" if op.target else "", "", "", _others(o),
                         (op.error or "").split(":")[0] + " raised (message on stderr)"])
            continue
        sp = op.local_t / t
        met = "" if op.target is None else ("yes" if sp >= op.target else "NO")
        gbs = len(op.data) * 8 / t / 1e9
        note = f"{op.kind}-bound; threads read {gbs:.1f} GB/s"
        if op is diag:
            note = "no output array: the window kernel alone"
        rows.append([op.name, f"{len(op.data):,}", f"{op.local_t:.4f}", f"{t:.4f}",
                     f"{sp:.2f}x", f">= {op.target}x" if op.target else "", met, _yes(same),
                     _others(o), note])

    print_table(["operation", "n", "local s", "threads s", "speedup", "target", "met",
                 "identical", "others", "note"], rows)
    print("others: cpus used by other processes while the row ran (a row is measured "
          f"again, up to --retries times, above {BUSY})")
    print()

    bench_ceiling(x, xw, args)

    # -- workers sweep: 1..4 threads on this machine's cores ------------------
    sweep = [op for op in ops if op.name in ("describe(quantiles=())", "moving_median(101).to_array")]
    rows = []
    for op in sweep:
        for w in args.sweep_workers:
            (t, same), o = quiet(lambda: op.measure_threads(rep, w), args, f"{op.name} workers={w}")
            rows.append([op.name, str(w), "" if t is None else f"{t:.4f}",
                         _speed(op.local_t, t), _yes(same), _others(o)])
    print(f"-- workers sweep ({os.cpu_count()} cpus; default partition size; speedup against "
          "the local time above) --")
    print_table(["operation", "workers", "seconds", "speedup", "identical", "others"], rows)
    print()

    # -- partition-size sweep -----------------------------------------------------
    if args.partition_sizes:
        rows = []
        for op in [*ops, diag]:
            if op.error is not None or op.local_t is None:
                rows.append([op.name, "", "", PENDING, "", "", ""])
                continue
            for size in args.partition_sizes:
                (t, same), o = quiet(lambda: op.measure_threads(rep, args.workers, size), args,
                                     f"{op.name} partition_size={size}")
                eff = size or _default_partition(len(op.data), args.workers,
                                                 op.name.endswith("to_array"))
                label = _fmt_size(size) + ("" if size or eff is None else f" ({_fmt_size(eff)})")
                parts = "" if eff is None else f"{-(-len(op.data) // eff):,}"
                rows.append([op.name, label, parts, "" if t is None else f"{t:.4f}",
                             _speed(op.local_t, t), _yes(same), _others(o)])
        print(f"-- partition_size sweep (workers={args.workers}; records per partition; "
              "default = max(16Ki, n / (4 * workers)), capped at 16 MiB of records for "
              "ordered outputs such as to_array) --")
        print_table(["operation", "partition_size", "partitions", "seconds", "speedup",
                     "identical", "others"], rows)
        print()


def _halves(fn: Callable[[np.ndarray], Any], data: np.ndarray,
            pool: concurrent.futures.ThreadPoolExecutor) -> Callable[[], list[Any]]:
    """`fn` on the two halves of `data`, in two plain threads at once."""
    half = len(data) // 2
    parts = [data[:half], data[half:]]
    return lambda: list(pool.map(fn, parts))


def bench_ceiling(x: np.ndarray, xw: np.ndarray, args: argparse.Namespace) -> None:
    """The engine's speedup as a fraction of what two cores give the same work.

    The ceiling is the same pystream work run on the two halves of the data
    in two plain threads (no partitions, no merge, no result assembly): its
    speedup over the local run is the most the engine can reach on this
    machine.  Local, engine, halves (and bottleneck's ``move_median`` whole
    and on halves) alternate within each round, best of ``--repeats``.
    """
    import pystream as ps

    bn = optional("bottleneck")
    w = args.workers
    pool = concurrent.futures.ThreadPoolExecutor(2)
    cases = [
        ("moving_median(101).to_array", xw,
         lambda d, **k: ps.from_array(d).moving_median(101).to_array(**k)),
        ("describe()", x, lambda d, **k: ps.from_array(d).describe(**k)),
        ("describe(quantiles=())", x, lambda d, **k: ps.from_array(d).describe(quantiles=(), **k)),
    ]
    print(f"-- the ceiling: the same work on two independent halves in two plain threads; "
          f"fraction = engine speedup / ceiling speedup (target >= 0.95; workers={w}) --")
    wait_idle(args.wait_idle, "before the ceiling table")
    rows: list[list[str]] = []
    for name, data, run in cases:
        variants = {
            "local": lambda run=run, data=data: run(data),
            "threads": lambda run=run, data=data: run(data, engine="threads", workers=w),
            "halves": _halves(lambda d, run=run: run(d), data, pool),
        }

        def rounds(variants: dict[str, Callable[[], Any]] = variants) -> dict[str, float]:
            best = {k: float("inf") for k in variants}
            for _ in range(args.repeats):
                for k, f in variants.items():
                    best[k] = min(best[k], best_of(f, 1)[0])
            return best

        best, o = quiet(rounds, args, f"ceiling {name}")
        sp = best["local"] / best["threads"]
        ceiling = best["local"] / best["halves"]
        frac = sp / ceiling
        rows.append([name, f"{len(data):,}", f"{best['local']:.4f}", f"{best['threads']:.4f}",
                     f"{best['halves']:.4f}", f"{sp:.2f}x", f"{ceiling:.2f}x", f"{frac:.3f}",
                     "yes" if frac >= 0.95 else "NO", _others(o)])
    if bn is not None:
        variants = {"whole": lambda: bn.move_median(xw, 101),
                    "halves": _halves(lambda d: bn.move_median(d, 101), xw, pool)}

        def bn_rounds() -> dict[str, float]:
            best = {k: float("inf") for k in variants}
            for _ in range(args.repeats):
                for k, f in variants.items():
                    best[k] = min(best[k], best_of(f, 1)[0])
            return best

        best, o = quiet(bn_rounds, args, "ceiling bottleneck")
        rows.append(["bottleneck move_median(101)", f"{len(xw):,}", f"{best['whole']:.4f}", "",
                     f"{best['halves']:.4f}", "", f"{best['whole'] / best['halves']:.2f}x", "", "",
                     _others(o)])
    pool.shutdown()
    print_table(["operation", "n", "local s", "threads s", "2 halves s", "speedup", "ceiling",
                 "fraction", ">= 0.95", "others"], rows)
    print()


# --------------------------------------------------------------------------- dask


def bench_dask(n: int, args: argparse.Namespace) -> None:
    import pystream as ps

    da = optional("dask.array")
    distributed = optional("distributed")
    if da is None or distributed is None:
        print("== Dask: dask[array] / distributed not installed: skipped ==")
        return
    import dask

    rep = args.repeats
    chunkings = []
    for c in [*args.dask_chunks, *args.repro_chunks]:
        if c not in chunkings:
            chunkings.append(c)
    print(f"== Dask: distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True), "
          f"dask {dask.__version__}, distributed {distributed.__version__} ==")
    print(f"x = da.random.default_rng({args.seed}).standard_normal({n:,}) generated on the "
          f"workers, persisted; rechunked and persisted again for chunk sizes "
          f"{', '.join(f'{c:,}' for c in chunkings)}")

    t_start = time.perf_counter()
    with warnings.catch_warnings():
        # the scheduler's (health-check) HTTP server falls back to another port
        # when 8787 is taken by some other cluster: harmless here
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=logging.ERROR)
    client = distributed.Client(cluster)
    try:
        base = da.random.default_rng(args.seed).standard_normal(n, chunks=chunkings[0])
        base = base.persist()
        distributed.wait(base)
        print(f"cluster up and data generated in {time.perf_counter() - t_start:.1f} s "
              "(not timed below)")

        pids = tuple(client.run(os.getpid).values())
        # warm-up, not timed: the workers import pystream (and dask's chunk functions)
        ps.from_dask(base).describe(engine="dask")
        da.compute(base.mean(), base.var())
        wait_idle(args.wait_idle, "before the Dask timings")
        rows: list[list[str]] = []
        repro: list[tuple[int, int, tuple[float, ...], Any, Any]] = []
        for c in chunkings:
            x = base if c == chunkings[0] else base.rechunk(c).persist()
            distributed.wait(x)
            nblocks = len(x.chunks[0])

            def dask4() -> tuple[float, ...]:
                return tuple(float(v) for v in da.compute(x.mean(), x.var(), x.min(), x.max()))

            def three() -> tuple[Any, ...]:
                ts = best_of(lambda: float(x.sum().compute()), rep)[0]
                td, rd = best_of(dask4, rep)
                tp, dp = best_of(
                    lambda: ps.from_dask(x).describe(quantiles=(), engine="dask"), rep)
                tq, dq = best_of(lambda: ps.from_dask(x).describe(engine="dask"), rep)
                return ts, td, rd, tp, dp, tq, dq

            (ts, td, rd, tp, dp, tq, dq), o = quiet(three, args, f"dask chunks={c}", pids)
            if not (np.isclose(dp.mean, rd[0], rtol=1e-9, atol=1e-15)
                    and np.isclose(dp.var, rd[1], rtol=1e-9) and dp.min == rd[2] and dp.max == rd[3]):
                print(f"WARNING: chunks {c}: pystream {dp.mean!r}, {dp.var!r}, {dp.min!r}, "
                      f"{dp.max!r} disagree with dask {rd}", file=sys.stderr)
            timed = c in args.dask_chunks
            ratio_p = tp / td
            rows.append([f"{c:,}", str(nblocks), f"{ts:.4f}", f"{td:.4f}", f"{tp:.4f}", f"{ratio_p:.2f}x",
                         ("yes" if ratio_p <= 1.5 else "NO") if timed else "",
                         f"{tq:.4f}", f"{tq / td:.2f}x", _others(o),
                         "" if timed else "(reproducibility chunking)"])
            repro.append((c, nblocks, rd, dp, dq))
            if x is not base:
                del x   # free the workers' copy before the next chunking
        print_table(["chunks", "blocks", "dask sum s", "dask 4 s", "ps describe(q=()) s", "vs dask",
                     "<= 1.5x", "ps describe() s", "vs dask", "others", "note"], rows)
        print("dask sum: x.sum().compute(), one read pass plus the scheduler's overhead (a "
              "reference); vs dask: pystream time / dask 4 time; others: cpus used by "
              "processes other than this one and the two workers while the row ran")
        print()

        serial = None
        if not args.skip_gather:
            # pystream's serial run on the same values, gathered to this process
            gathered = base.compute()
            serial = ps.from_array(gathered).describe(quantiles=())
            del gathered

        rows = []
        for c, nblocks, rd, dp, dq in repro:
            rows.append([f"{c:,}", str(nblocks), repr(rd[0]), repr(rd[1]),
                         repr(float(dp.mean)), repr(float(dp.var)),
                         _yes(dp == repro[0][3]),
                         "" if serial is None else _yes(dp == serial),
                         _yes(dq == repro[0][4])])
        print("-- reproducibility across chunkings of the same persisted array --")
        print_table(["chunks", "blocks", "dask mean", "dask var", "ps mean", "ps var",
                     "ps == 1st", "ps == serial", "describe() == 1st"], rows)
        dm = {r[2][0] for r in repro}
        dv = {r[2][1] for r in repro}
        pm = {float(r[3].mean) for r in repro}
        pv = {float(r[3].var) for r in repro}
        print(f"distinct values over {len(repro)} chunkings: dask mean {len(dm)}, dask var "
              f"{len(dv)}; pystream mean {len(pm)}, var {len(pv)}; pystream Description "
              f"identical across chunkings: {_yes(all(r[3] == repro[0][3] for r in repro))}"
              + ("" if serial is None else
                 f", equal to the serial run: {_yes(repro[0][3] == serial)}"))
        print()
    finally:
        client.close()
        cluster.close()


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=float, default=1e8,
                   help="values for describe / quantile / Dask (default 1e8 = 800 MB); "
                        "moving_median uses n/10")
    p.add_argument("--repeats", "--repeat", type=int, default=5,
                   help="best of N runs (default 5: thread timings vary more than serial ones)")
    p.add_argument("--workers", type=int, default=2, help="threads for the main table (default 2)")
    p.add_argument("--sweep-workers", type=lambda s: [int(v) for v in s.split(",")],
                   default=[1, 2, 3, 4], help="workers sweep (default 1,2,3,4)")
    p.add_argument("--partition-sizes", type=lambda s: [_size_arg(v) for v in s.split(",")]
                   if s.strip() else [],
                   default=[None, 1 << 18, 1 << 20, 1 << 22, 1 << 24],
                   help="partition_size sweep, comma-separated records ('default' = the "
                        "engine's; '' skips the sweep); default default,262144,1048576,"
                        "4194304,16777216")
    p.add_argument("--window-fraction", type=float, default=0.1,
                   help="moving_median runs over n * this many values (default 0.1)")
    p.add_argument("--skip-threads", action="store_true", help="only the Dask section")
    p.add_argument("--ceiling-only", action="store_true",
                   help="threads: only the ceiling table (no main table, sweeps or Dask)")
    p.add_argument("--skip-dask", action="store_true", help="no Dask section")
    p.add_argument("--dask-chunks", type=lambda s: [int(float(v)) for v in s.split(",")],
                   default=[10_000_000, 2_500_000],
                   help="chunk sizes (elements) timed with Dask (default 1e7,2.5e6)")
    p.add_argument("--repro-chunks", type=lambda s: [int(float(v)) for v in s.split(",")],
                   default=[3_300_000, 17_000_000],
                   help="further chunk sizes for the reproducibility table (default 3.3e6,1.7e7)")
    p.add_argument("--skip-gather", action="store_true",
                   help="do not gather the Dask array to compare with pystream's serial run")
    p.add_argument("--wait-idle", type=float, default=30.0,
                   help="before each table wait up to this many seconds for the other "
                        "processes to leave the cpus idle (default 30; 0: do not wait)")
    p.add_argument("--retries", type=int, default=3,
                   help="measure a row again (after waiting for idle cpus) up to this many "
                        "times when other processes competed for the cpus (default 3)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import pystream as ps

    n = int(args.n)
    scale = n / 1e8
    args.dask_chunks = [max(1, int(c * scale)) for c in args.dask_chunks]
    args.repro_chunks = [max(1, int(c * scale)) for c in args.repro_chunks]
    dask_mod = optional("dask")
    t_all = time.perf_counter()
    print(f"bench_engines: n={n:,} float64 ({n * 8 / 1e6:,.0f} MB), moving_median over "
          f"{int(n * args.window_fraction):,}, best of {args.repeats}")
    print(f"machine: {machine_line()}")
    print(f"pystream: {ps.machine().line()}")
    print(f"pystream {version_of(ps)}, dask {version_of(dask_mod)}, "
          f"usable cpus {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}"
          f", load average {_load()}")
    print()

    x = None
    if not args.skip_threads:
        x = np.random.default_rng(args.seed).standard_normal(n)
        x.sum()  # touch the pages once
        bench_threads(x, args)
    if not args.skip_dask and not args.ceiling_only:
        del x
        bench_dask(n, args)
    sys.stderr.flush()
    print(f"total {time.perf_counter() - t_all:.0f} s; load average at the end {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
