#!/usr/bin/env python3
"""Speed on every CPU: the targets of issue 17, at every SIMD level, in one run.

For each array length (1e6 and 1e7 by default; ``--big`` adds 1e8) and each
SIMD level this machine offers (``pystream.set_simd_level``: ``avx2``,
``sse2``, ``portable``; every level gives the same bits, only the speed
differs), the stages are timed against their peer in this process, the
variants interleaved round by round (best of ``--repeat``, gc off):

* ``stream``: ``for chunk in ps.from_array(x).<stage>: pass`` -- output
  chunks in reused, cache-resident buffers;
* ``array``: ``....to_array()`` -- a fresh result, as the peers return;
* the peer: bottleneck ``move_*`` (a fresh array) or numbagg
  ``move_exp_nanmean``; for ``describe(quantiles=())``, ``np.sum`` (a
  bandwidth reference: describe reads the data once for count, NaN count,
  sum, mean, M2, min and max).

Ratios are peer time / pystream time (``1.50x`` = pystream 1.5 times
faster); ``target`` is the issue's goal for the array / stream ratios and
``ok`` says whether this run met it.  Results are compared with the peer
(``WARNING`` on stderr if they disagree).  The first line names the CPU,
its SIMD extensions and the kernels' level: figures from another machine
are not comparable.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from typing import Any, Callable

import numpy as np

from _common import machine_line, optional, print_table, version_of

WINDOW = 100


def _drain(stream: Any) -> None:
    for _ in stream:
        pass


def _check(name: str, got: Any, want: Any) -> None:
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-7, atol=1e-9,
                                                   equal_nan=True):
        print(f"WARNING: {name}: pystream and the peer disagree", file=sys.stderr)


def cases(ps: Any, bn: Any, nb: Any, x: np.ndarray) -> list[dict[str, Any]]:
    """name, pystream stream / array makers, peer (label, function), targets."""
    w = WINDOW
    alpha = 2.0 / (w + 1)
    out: list[dict[str, Any]] = []

    def add(name: str, make: Callable[[], Any], peer: tuple[str, Callable[[], Any]] | None,
            target: tuple[float | None, float | None]) -> None:
        out.append({"name": name, "make": make, "peer": peer, "target": target})

    if bn is not None:
        add(f"moving_mean({w})", lambda: ps.from_array(x).moving_mean(w),
            ("bottleneck", lambda: bn.move_mean(x, w)), (1.3, 1.8))
        add(f"moving_std({w})", lambda: ps.from_array(x).moving_std(w, ddof=0),
            ("bottleneck", lambda: bn.move_std(x, w)), (1.2, 1.5))
        add(f"moving_sum({w})", lambda: ps.from_array(x).moving_sum(w),
            ("bottleneck", lambda: bn.move_sum(x, w)), (None, None))
        add(f"moving_var({w})", lambda: ps.from_array(x).moving_var(w, ddof=0),
            ("bottleneck", lambda: bn.move_var(x, w)), (None, None))
        add(f"moving_max({w})", lambda: ps.from_array(x).moving_max(w),
            ("bottleneck", lambda: bn.move_max(x, w)), (2.0, None))
        add(f"moving_median({w})", lambda: ps.from_array(x).moving_median(w),
            ("bottleneck", lambda: bn.move_median(x, w)), (1.5, None))
    if nb is not None:
        add("ewm_mean", lambda: ps.from_array(x).ewm_mean(alpha=alpha),
            ("numbagg", lambda: nb.move_exp_nanmean(x, alpha=alpha)), (1.2, 1.5))
        add("ewm_std", lambda: ps.from_array(x).ewm_std(alpha=alpha),
            ("numbagg", lambda: nb.move_exp_nanstd(x, alpha=alpha)), (None, None))
    add("cummean", lambda: ps.from_array(x).cummean(),
        ("np.cumsum", lambda: np.cumsum(x)), (None, None))
    add("cumvar", lambda: ps.from_array(x).cumvar(),
        ("np.cumsum", lambda: np.cumsum(x)), (None, None))
    return out


def _timed(func: Callable[[], Any]) -> tuple[float, Any]:
    gc.disable()
    try:
        t0 = time.perf_counter()
        result = func()
        return time.perf_counter() - t0, result
    finally:
        gc.enable()


def measure(case: dict[str, Any], repeat: int) -> dict[str, Any]:
    """Best of `repeat` interleaved rounds of stream, array and the peer."""
    best = {"stream": np.inf, "array": np.inf, "peer": np.inf}
    arr = want = None
    for _ in range(repeat):
        gc.collect()
        t, _ = _timed(lambda: _drain(case["make"]()))
        best["stream"] = min(best["stream"], t)
        t, arr = _timed(lambda: case["make"]().to_array())
        best["array"] = min(best["array"], t)
        if case["peer"] is not None:
            t, want = _timed(case["peer"][1])
            best["peer"] = min(best["peer"], t)
    if want is not None and case["peer"][0] != "np.cumsum":
        _check(case["name"], arr, want)
    return best


def describe_vs_sum(ps: Any, x: np.ndarray, repeat: int) -> tuple[float, float]:
    best_d = best_s = np.inf
    for _ in range(repeat):
        t, _ = _timed(lambda: ps.from_array(x).describe(quantiles=()))
        best_d = min(best_d, t)
        t, _ = _timed(lambda: np.sum(x))
        best_s = min(best_s, t)
    return best_d, best_s


def _ok(ratio: float, target: float | None) -> str:
    if target is None:
        return ""
    return "ok" if ratio >= target else "SHORT"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", default="1e6,1e7", help="array lengths (default 1e6,1e7)")
    ap.add_argument("--big", action="store_true", help="also 1e8 (1.6 GB of arrays)")
    ap.add_argument("--levels", default="", help="SIMD levels (default: every one offered)")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--only", default="", help="comma-separated case names (prefix match)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import pystream as ps

    bn, nb = optional("bottleneck"), optional("numbagg")
    info = ps.machine()
    offered = ps.SIMD_LEVELS[: ps.SIMD_LEVELS.index(info.simd_best) + 1][::-1]
    levels = [lv for lv in (args.levels.split(",") if args.levels else offered) if lv]
    sizes = [int(float(v)) for v in args.n.split(",") if v] + ([10 ** 8] if args.big else [])
    print(f"# {machine_line()}")
    print(f"# pystream {ps.__version__}, bottleneck {version_of(bn)}, numbagg {version_of(nb)}; "
          f"float64 N(0, 1), window {WINDOW}, best of {args.repeat} interleaved rounds")
    rng = np.random.default_rng(args.seed)
    for n in sizes:
        x = rng.standard_normal(n)
        if nb is not None:  # numba compiles on the first call
            nb.move_exp_nanmean(x[:100], alpha=0.5)
            nb.move_exp_nanstd(x[:100], alpha=0.5)
        rows = []
        for level in levels:
            ps.set_simd_level(level)
            for case in cases(ps, bn, nb, x):
                if args.only and not any(case["name"].startswith(o)
                                         for o in args.only.split(",")):
                    continue
                t = measure(case, args.repeat)
                ta, ts = case["target"]
                ra, rs = t["peer"] / t["array"], t["peer"] / t["stream"]
                rows.append([case["name"], level, f"{t['stream'] / n * 1e9:.2f}",
                             f"{t['array'] / n * 1e9:.2f}", case["peer"][0],
                             f"{t['peer'] / n * 1e9:.2f}", f"{ra:.2f}x", f"{rs:.2f}x",
                             "/".join("-" if v is None else f"{v:g}x" for v in (ta, rs and ts)),
                             " ".join(v for v in (_ok(ra, ta), _ok(rs, ts)) if v)])
            if not args.only or "describe".startswith(args.only.split(",")[0][:8]):
                td, tsum = describe_vs_sum(ps, x, args.repeat)
                r = tsum / td
                rows.append(["describe(quantiles=())", level, "", f"{td / n * 1e9:.2f}",
                             "np.sum", f"{tsum / n * 1e9:.2f}", f"{r:.2f}x", "", "0.7x/-",
                             _ok(r, 0.7)])
        ps.set_simd_level(None)
        print(f"\nn = {n:.0e}  (ns per value; ratios = peer time / pystream time)")
        print_table(["stage", "simd", "stream", "array", "peer", "peer ns", "array x",
                     "stream x", "target", ""], rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
