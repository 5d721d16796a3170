#!/usr/bin/env python3
"""Push mode and one-pass fan-out, against pull mode and separate passes, in one run.

Everything is measured in this process, best of ``--repeats`` with the
garbage collector off (``_common.best_of``), and printed with ratios.

1. **push vs pull** -- the same pipeline over the same n float64 values in
   memory, cut into the same chunks (views of one array):

   * pull: ``for c in p(ps.from_array(x, chunk_size=k)): pass``;
   * push: ``sink = p.push()``, ``sink.send(c)`` for every chunk, then
     ``sink.close()``.

   ``push / pull`` is the ratio of the times (target <= 1.2x).  Per-chunk
   overhead shows at small chunks, so three chunk sizes are measured.  The
   outputs are checked bit-identical (bytes of the concatenated output).
   Push and pull alternate, so both see the same state of a shared machine.

2. **fork vs separate passes** -- an n-value float64 ``.npy`` file (written
   once to ``--dir``; 1e8 values = 800 MB), three reducers, either as three
   separate passes (``s.describe(); s.histogram(...); ...``, each reading the
   file) or as one ``s.fork(...)`` reading it once.  ``speedup`` = separate
   time / fork time (target >= 2x); the fork runs in the calling thread,
   and again with ``workers=2`` (its branches on two threads).  Two sets of
   reducers and two cache states:

   * ``light``: ``mean()``, ``std()``, ``max()`` (memory-bound);
   * ``mixed``: ``describe()``, ``histogram(bins=100)``, ``quantile(q)``
     (DDSketch; compute-bound);
   * ``warm``: the file is in the page cache (as after a first read);
   * ``cold``: before every pass (each of the separate ones, and the fork)
     the file's pages are dropped from the page cache with
     ``posix_fadvise(POSIX_FADV_DONTNEED)``, so every pass reads the disk,
     as with a file larger than the memory.  (Linux only; the virtual disk
     of a shared host may itself cache, so cold timings vary more.)

   Every fork result is checked equal to the separate pass's.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Any, Callable

import numpy as np

from _common import best_of, machine_line, print_table, wait_idle

import pystream as ps

QS = [0.01, 0.5, 0.99]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) or np.isscalar(a):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if hasattr(a, "counts"):
        return (np.array_equal(a.counts, b.counts) and np.array_equal(a.edges, b.edges)
                and (a.underflow, a.overflow, a.nan_count) == (b.underflow, b.overflow, b.nan_count))
    return bool(a == b)


# --------------------------------------------------------------------------- push vs pull

PIPELINES: dict[str, Callable[[], ps.Pipeline]] = {
    "moving_mean(100)": lambda: ps.pipeline().moving_mean(100),
    "map(abs).cumsum()": lambda: ps.pipeline().map(np.abs).cumsum(),
    "resample(10, max)": lambda: ps.pipeline().resample(10, how="max"),
    "diff().cummax()": lambda: ps.pipeline().diff().cummax(),
    "nwise(3)": lambda: ps.pipeline().nwise(3),
}


def _pull(p: ps.Pipeline, x: np.ndarray, k: int) -> int:
    n = 0
    for c in p(ps.from_array(x, chunk_size=k)):
        n += len(c)
    return n


def _push(p: ps.Pipeline, chunks: list[np.ndarray]) -> int:
    sink = p.push()
    n = 0
    for c in chunks:
        n += len(sink.send(c))
    return n + len(sink.close())


def _outputs_identical(p: ps.Pipeline, x: np.ndarray, chunks: list[np.ndarray]) -> bool:
    pulled = p(ps.from_array(x, chunk_size=len(chunks[0]))).to_array()
    sink = p.push()
    pushed = [sink.send(c).copy() for c in chunks]
    pushed.append(sink.close())
    return _same(np.concatenate(pushed), pulled)


def push_section(n: int, sizes: list[int], repeats: int) -> list[float]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n)
    rows, ratios = [], []
    for name, make in PIPELINES.items():
        p = make()
        for k in sizes:
            chunks = [x[i:i + k] for i in range(0, n, k)]
            t_pull = t_push = float("inf")
            for _ in range(repeats):          # alternate: both see the same machine
                t_pull = min(t_pull, best_of(lambda: _pull(p, x, k), 1)[0])
                t_push = min(t_push, best_of(lambda: _push(p, chunks), 1)[0])
            same = _outputs_identical(p, x, chunks)
            ratios.append(t_push / t_pull)
            rows.append([name, f"{k:,}", f"{len(chunks):,}", f"{t_pull * 1e3:.1f} ms",
                         f"{t_push * 1e3:.1f} ms", f"{t_push / t_pull:.2f}x",
                         f"{(t_push - t_pull) / len(chunks) * 1e6:+.1f} us",
                         "yes" if same else "NO"])
            if not same:
                print(f"WARNING: push output of {name} differs from pull", file=sys.stderr)
    print_table(["pipeline", "chunk", "chunks", "pull", "push", "push / pull",
                 "per chunk", "identical"], rows)
    return ratios


# --------------------------------------------------------------------------- fork


def _evict(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _sets(lo: float, hi: float) -> dict[str, dict[str, tuple[Any, Callable[[Any], Any]]]]:
    """Set name -> branch name -> (fork branch, separate pass)."""
    return {
        "light": {
            "mean": ("mean", lambda s: s.mean()),
            "std": ("std", lambda s: s.std()),
            "max": ("max", lambda s: s.max()),
        },
        "mixed": {
            "describe": ("describe", lambda s: s.describe()),
            "histogram": (ps.pipeline().histogram(bins=100, range=(lo, hi)),
                          lambda s: s.histogram(bins=100, range=(lo, hi))),
            "quantile": (ps.pipeline().quantile(QS), lambda s: s.quantile(QS)),
        },
    }


def fork_section(path: str, repeats: int, cold: bool) -> list[tuple[str, str, float]]:
    s = ps.from_npy(path)
    d = s.describe(quantiles=())
    lo, hi = float(d.min), float(d.max)
    rows, out = [], []
    for set_name, branches in _sets(lo, hi).items():
        for state in (("warm", "cold") if cold else ("warm",)):
            def separate() -> dict[str, Any]:
                results = {}
                for name, (_, run) in branches.items():
                    if state == "cold":
                        _evict(path)
                    results[name] = run(s)
                return results

            def fork(workers: int | None = None) -> dict[str, Any]:
                if state == "cold":
                    _evict(path)
                return s.fork(**{name: b for name, (b, _) in branches.items()}, workers=workers)

            if state == "warm":
                s.count()                    # read the file into the page cache
            t_sep = t_fork = t_par = float("inf")
            r_sep = r_fork = r_par = None
            for _ in range(repeats):
                t, r_sep = best_of(separate, 1)
                t_sep = min(t_sep, t)
                t, r_fork = best_of(fork, 1)
                t_fork = min(t_fork, t)
                t, r_par = best_of(lambda: fork(2), 1)
                t_par = min(t_par, t)
            same = all(_same(r_fork[k], r_sep[k]) and _same(r_par[k], r_sep[k]) for k in branches)
            if not same:
                print(f"WARNING: fork results of {set_name} differ", file=sys.stderr)
            out.append((set_name, state, t_sep / t_fork, t_sep / t_par))
            rows.append([set_name, ", ".join(branches), state, f"{t_sep * 1e3:.0f} ms",
                         f"{t_fork * 1e3:.0f} ms", f"{t_sep / t_fork:.2f}x",
                         f"{t_par * 1e3:.0f} ms", f"{t_sep / t_par:.2f}x", "yes" if same else "NO"])
    print_table(["set", "reducers", "cache", "3 passes", "fork", "speedup",
                 "fork workers=2", "speedup", "identical"], rows)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=float, default=1e7, help="values for push vs pull (1e7)")
    ap.add_argument("--fork-n", type=float, default=1e8, help="values of the .npy file (1e8)")
    ap.add_argument("--sizes", default="1000,10000,65536", help="chunk sizes for push vs pull")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dir", default=None, help="where to write the .npy (default: a temp dir)")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold-cache rows")
    ap.add_argument("--skip-fork", action="store_true")
    ap.add_argument("--wait-idle", type=float, default=30.0,
                    help="seconds to wait for an idle machine before each section (0: no)")
    args = ap.parse_args()
    print(machine_line())
    print(time.strftime("%Y-%m-%d %H:%M"), f"pystream {ps.__version__}")

    print("\n1. push vs pull: same pipeline, same chunks of float64 in memory "
          f"(n = {int(args.n):,}, best of {args.repeats}, alternating)\n")
    wait_idle(args.wait_idle, "before push vs pull")
    ratios = push_section(int(args.n), [int(v) for v in args.sizes.split(",")], args.repeats)
    print(f"\nworst push / pull: {max(ratios):.2f}x (target <= 1.2x)")

    if args.skip_fork:
        return
    cold = not args.no_cold and hasattr(os, "posix_fadvise")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = os.path.join(tmp, "x.npy")
        n = int(args.fork_n)
        mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n,))
        rng = np.random.default_rng(1)
        for i in range(0, n, 1 << 22):
            mm[i:i + (1 << 22)] = rng.standard_normal(min(1 << 22, n - i))
        mm.flush()
        del mm
        print(f"\n2. fork vs three separate passes over a {n:,}-value float64 .npy "
              f"({n * 8 / 1e6:.0f} MB), best of {args.repeats}, alternating\n")
        wait_idle(args.wait_idle, "before fork vs passes")
        results = fork_section(path, args.repeats, cold)
    for set_name, state, r, r2 in results:
        print(f"{set_name:>5} {state}: fork {r:.2f}x, fork(workers=2) {r2:.2f}x "
              "three separate passes (target >= 2x)")


if __name__ == "__main__":
    main()
