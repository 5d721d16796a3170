"""Timing worker of ``compare_commits.py``: times fixed pystream operations, prints JSON.

Run by each checkout's Python (it uses the public API only, so it works
with any version of pystream).  Two modes:

* default: the operations of ``bench_core.py``, ``bench_windows.py``,
  ``bench_push.py`` and ``bench_engines.py`` (same calls, smaller sizes),
  plus per-call overheads; each the best of ``--repeat`` runs with the
  garbage collector off.  Prints ``{"name": seconds, ...}``.
* ``--serve``: build the operations, print their names (one JSON line),
  then answer requests from stdin, one per line: an operation's name ->
  ``{"t": best wall seconds, "cpu": best process CPU seconds}`` (best of ``--repeat``; the first request of an
  operation warms it up first), until end of input.  So the driver can
  alternate two checkouts operation by operation.
* ``--first-call``: in this fresh process, the time of ``import pystream``
  (numpy imported before) and of the first
  ``ps.from_array(x).moving_mean(10).to_array()`` (which loads the stage
  registry), then of a second identical call.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable
from typing import Any


def first_call() -> dict[str, float]:
    """Import and first-call costs of this fresh process, in seconds (wall and CPU)."""
    marks = [(time.perf_counter(), time.process_time())]
    import numpy as np

    marks.append((time.perf_counter(), time.process_time()))
    import pystream as ps

    marks.append((time.perf_counter(), time.process_time()))
    x = np.arange(1000.0)
    marks.append((time.perf_counter(), time.process_time()))
    ps.from_array(x).moving_mean(10).to_array()
    marks.append((time.perf_counter(), time.process_time()))
    ps.from_array(x).moving_mean(10).to_array()
    marks.append((time.perf_counter(), time.process_time()))
    out = {}
    for label, (a, b) in (("import numpy", (0, 1)), ("import pystream", (1, 2)),
                          ("first moving_mean call", (3, 4)), ("second moving_mean call", (4, 5))):
        out[label] = marks[b][0] - marks[a][0]
        out[label + " (cpu)"] = marks[b][1] - marks[a][1]
    return out


def best_of(func: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Best wall time and best process CPU time of `repeat` calls of `func`.

    The garbage collector runs before each call and is off during it.  The
    CPU time (all threads of the process) is much less disturbed than the
    wall time by other jobs competing for the cores.
    """
    best, best_cpu = float("inf"), float("inf")
    for _ in range(max(1, repeat)):
        gc.collect()
        gc.disable()
        try:
            c0 = time.process_time()
            t0 = time.perf_counter()
            func()
            t1 = time.perf_counter()
            c1 = time.process_time()
        finally:
            gc.enable()
        best, best_cpu = min(best, t1 - t0), min(best_cpu, c1 - c0)
    return best, best_cpu


def operations(n: int) -> dict[str, Callable[[], Any]]:
    """Name -> operation: what the four benchmark scripts time, on `n` float64 values."""
    import numpy as np

    import pystream as ps

    rng = np.random.default_rng(0)
    x = rng.standard_normal(n)
    small = rng.standard_normal(1000)
    ops: dict[str, Callable[[], Any]] = {}

    # bench_core.py
    cs = 16384

    def five_stages() -> int:
        s = (ps.from_array(x, chunk_size=cs).map(np.abs).map(np.sqrt).map(lambda c: c * 2.0)
             .astype(np.float32).filter(lambda c: c > 1))
        return sum(len(c) for c in s)

    ops["core/describe(quantiles=())"] = lambda: ps.from_array(x).describe(quantiles=())
    ops["core/describe()"] = lambda: ps.from_array(x).describe()
    ops["core/Moments.update"] = lambda: ps.Moments().update(x).result()
    ops["core/5 stages (iterated)"] = five_stages
    ops["core/3 maps+sum"] = lambda: ps.from_array(x, chunk_size=cs).map(np.abs).map(np.sqrt).map(
        lambda c: c * 2.0).sum()

    # bench_windows.py (window 100; var/std with ddof=0, quantile q=0.25, as there)
    stages = ("moving_sum", "moving_mean", "moving_var", "moving_std", "moving_min", "moving_max",
              "moving_argmin", "moving_median", "moving_quantile", "moving_rank")
    for stage in stages:
        extra: dict[str, Any] = ({"q": 0.25} if stage == "moving_quantile" else
                                 {"ddof": 0} if stage in ("moving_var", "moving_std") else {})
        ops[f"windows/{stage}(100).to_array"] = (
            lambda st=stage, e=extra: getattr(ps.from_array(x), st)(100, **e).to_array())
    for stage in ("moving_mean", "moving_median"):
        ops[f"windows/{stage}(100) iterated"] = (
            lambda st=stage: [None for _ in getattr(ps.from_array(x), st)(100)])
    ops["windows/ewm_mean(alpha=2/101).to_array"] = lambda: ps.from_array(x).ewm_mean(alpha=2 / 101).to_array()
    for stage in ("cumsum", "cummean", "cumvar", "cummax"):
        ops[f"windows/{stage}.to_array"] = lambda st=stage: getattr(ps.from_array(x), st)().to_array()

    # bench_push.py: pull vs push of five pipelines at two chunk sizes; fork
    pipelines: dict[str, Callable[[], Any]] = {
        "moving_mean(100)": lambda: ps.pipeline().moving_mean(100),
        "map(abs).cumsum()": lambda: ps.pipeline().map(np.abs).cumsum(),
        "resample(10, max)": lambda: ps.pipeline().resample(10, how="max"),
        "diff().cummax()": lambda: ps.pipeline().diff().cummax(),
        "nwise(3)": lambda: ps.pipeline().nwise(3),
    }
    for name, make in pipelines.items():
        for k in (1000, 65536):
            chunks = [x[i:i + k] for i in range(0, n, k)]

            def pull(make: Any = make, k: int = k) -> int:
                return sum(len(c) for c in make()(ps.from_array(x, chunk_size=k)))

            def push(make: Any = make, chunks: list[Any] = chunks) -> int:
                sink = make().push()
                total = sum(len(sink.send(c)) for c in chunks)
                return total + len(sink.close())

            ops[f"push/{name} k={k} pull"] = pull
            ops[f"push/{name} k={k} push"] = push
    lo, hi = float(x.min()), float(x.max())
    qs = [0.01, 0.5, 0.99]
    s = ps.from_array(x)
    for workers in (None, 2):
        ops[f"fork/light workers={workers}"] = lambda w=workers: s.fork(
            mean="mean", std="std", max="max", workers=w)
        ops[f"fork/mixed workers={workers}"] = lambda w=workers: s.fork(
            describe="describe", histogram=ps.pipeline().histogram(bins=100, range=(lo, hi)),
            quantile=ps.pipeline().quantile(qs), workers=w)

    # bench_engines.py: local against threads (2 workers)
    xw = x[: max(1, n // 4)]
    engine_ops: dict[str, Callable[..., Any]] = {
        "moving_median(101).to_array": lambda **k: ps.from_array(xw).moving_median(101).to_array(**k),
        "quantile(q, relative)": lambda **k: ps.from_array(x).quantile(qs, method="relative", **k),
        "quantile(q, kll)": lambda **k: ps.from_array(x).quantile(qs, method="kll", **k),
        "describe(quantiles=())": lambda **k: ps.from_array(x).describe(quantiles=(), **k),
        "describe()": lambda **k: ps.from_array(x).describe(**k),
    }
    for name, op in engine_ops.items():
        ops[f"engines/{name} local"] = op
        ops[f"engines/{name} threads"] = lambda op=op: op(engine="threads", workers=2)
    try:
        import dask.array as da
    except ImportError:
        pass
    else:
        xd = da.from_array(x, chunks=max(1, n // 4))
        ops["engines/from_dask describe(quantiles=()) dask"] = (
            lambda: ps.from_dask(xd).describe(quantiles=(), engine="dask"))

    # per-call overheads (the Python layers a refactor moves)
    def tiny_pipelines() -> None:
        for _ in range(200):
            ps.from_array(small).moving_mean(10).to_array()

    def tiny_describe() -> None:
        for _ in range(200):
            ps.from_array(small).describe()

    def build_only() -> None:
        for _ in range(1000):
            ps.from_array(small).map(np.abs).moving_mean(5).resample(2).cumsum()

    def many_sends() -> None:
        sink = ps.pipeline().moving_mean(10).cumsum().push()
        for i in range(0, 1000 * 10, 10):
            sink.send(small[i % 990:i % 990 + 10])
        sink.close()

    ops["overhead/200 x moving_mean(10).to_array on 1000"] = tiny_pipelines
    ops["overhead/200 x describe() on 1000"] = tiny_describe
    ops["overhead/1000 x build 4-stage stream"] = build_only
    ops["overhead/1000 x push send of 10"] = many_sends
    return ops


def main(argv: list[str] | None = None) -> int:
    """Command line of the worker (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--first-call", action="store_true")
    p.add_argument("--n", type=float, default=1e6)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--only", default=None, help="substring of the operations to time")
    p.add_argument("--serve", action="store_true", help="answer timing requests from stdin")
    args = p.parse_args(argv)
    if args.first_call:
        print(json.dumps(first_call()))
        return 0
    ops = operations(int(args.n))
    if args.serve:
        print(json.dumps([name for name in ops if args.only is None or args.only in name]), flush=True)
        warmed: set[str] = set()
        for line in sys.stdin:
            name = line.strip()
            if not name:
                continue
            if name not in warmed:
                ops[name]()
                warmed.add(name)
            wall, cpu = best_of(ops[name], args.repeat)
            print(json.dumps({"t": wall, "cpu": cpu}), flush=True)
        return 0
    out = {}
    for name, op in ops.items():
        if args.only is None or args.only in name:
            op()  # warm-up: caches, page tables, lazy imports
            out[name] = best_of(op, args.repeat)[0]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
