#!/usr/bin/env python3
"""Materialising a stream: what ``to_array()`` costs over the streamed form, in one run.

For n float64 values (1e6 and 1e7; 1e8 with ``--big``) and
``moving_mean(window)``, every variant below runs in this process, the
variants interleaved (round-robin, best of ``--repeats`` rounds, gc off),
so all of them see the same state of a shared machine:

* ``streamed``   -- ``for c in s: pass`` (the stage's output buffers reused);
* ``to_array``   -- ``s.to_array()`` (the result written once);
* ``into warm``  -- the same stage writing into an already touched result
  (what ``to_array`` would cost if fresh memory cost nothing: the kernel
  plus the Python per-chunk work);
* ``bottleneck`` -- ``bn.move_mean(x, window)`` (a fresh result too);
* ``numbagg``    -- ``numbagg.move_mean(x, window)`` (may use several cores);
* ``floor``      -- ``np.empty(n)`` + one ``fill``: one write of fresh memory,
  page faults included (``fault only``: one byte written per 4 KiB page,
  ``warm write``: ``fill`` of memory already touched);
* for a last stage that is not a C kernel: ``map(np.sqrt)`` streamed and
  to_array, and ``from_array(x).to_array()`` (a copy of the source).

Then ``to_array - streamed`` (the materialisation's cost) is set against the
floor: the target is ``<= 1.0x`` of it, i.e. one write of the result.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from typing import Any, Callable

import numpy as np

from _common import machine_line, optional, print_table, version_of, wait_idle


def _rounds(variants: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Best wall time of each variant, the variants interleaved round by round."""
    best = {k: float("inf") for k in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            gc.collect()
            gc.disable()
            try:
                t0 = time.perf_counter()
                fn()
                t = time.perf_counter() - t0
            finally:
                gc.enable()
            best[name] = min(best[name], t)
    return best


def _variants(x: np.ndarray, window: int) -> dict[str, Callable[[], Any]]:
    import pystream as ps
    from pystream.chain import node_of
    from pystream.chain.materialise import ResultBuffer

    n = len(x)
    bn = optional("bottleneck")
    nb = optional("numbagg")
    warm = ResultBuffer(np.dtype(np.float64), (), n)
    warm.array.fill(0.0)

    def streamed() -> None:
        for _ in ps.from_array(x).moving_mean(window):
            pass

    def into_warm() -> None:
        warm.used = 0
        it = node_of(ps.from_array(x).moving_mean(window)).writer(warm.alloc)
        for c in it:
            warm.put(c)

    def floor() -> np.ndarray:
        a = np.empty(n)
        a.fill(1.0)
        return a

    def fault_only() -> np.ndarray:
        a = np.empty(n)
        a.view(np.uint8)[::4096] = 0
        return a

    touched = np.zeros(n)

    def warm_write() -> None:
        touched.fill(1.0)

    def map_streamed() -> None:
        for _ in ps.from_array(x).map(np.sqrt):
            pass

    v: dict[str, Callable[[], Any]] = {
        "streamed": streamed,
        "to_array": lambda: ps.from_array(x).moving_mean(window).to_array(),
        "into warm": into_warm,
    }
    if bn is not None:
        v["bottleneck"] = lambda: bn.move_mean(x, window)
    if nb is not None:
        nb.move_mean(x[:1000], window=window)  # compile outside the timings
        v["numbagg"] = lambda: nb.move_mean(x, window=window)
    v.update({
        "floor": floor,
        "fault only": fault_only,
        "warm write": warm_write,
        "map(sqrt) streamed": map_streamed,
        "map(sqrt).to_array": lambda: ps.from_array(x).map(np.sqrt).to_array(),
        "from_array.to_array": lambda: ps.from_array(x).to_array(),
    })
    return v


def _check(x: np.ndarray, window: int) -> None:
    """The materialised result is the streamed one, and bottleneck's."""
    import pystream as ps

    got = ps.from_array(x).moving_mean(window).to_array()
    want = np.concatenate([c.copy() for c in ps.from_array(x).moving_mean(window)])
    if got.tobytes() != want.tobytes():
        print("WARNING: to_array differs from the streamed chunks", file=sys.stderr)
    bn = optional("bottleneck")
    if bn is not None and not np.allclose(got, bn.move_mean(x, window), equal_nan=True):
        print("WARNING: moving_mean differs from bottleneck's move_mean", file=sys.stderr)
    with np.errstate(invalid="ignore"):
        if ps.from_array(x).map(np.sqrt).to_array().tobytes() != np.sqrt(x).tobytes():
            print("WARNING: map(np.sqrt).to_array() differs from np.sqrt", file=sys.stderr)


def bench(n: int, args: argparse.Namespace) -> None:
    x = np.random.default_rng(args.seed).standard_normal(n)
    _check(x[: min(n, 200_000)], args.window)
    with np.errstate(invalid="ignore"):
        best = _rounds(_variants(x, args.window), args.repeats)
    ns = {k: t / n * 1e9 for k, t in best.items()}
    cost = ns["to_array"] - ns["streamed"]
    rows = []
    for name, v in ns.items():
        note = ""
        if name == "to_array":
            note = (f"to_array - streamed = {cost:.2f} ns = {cost / ns['floor']:.2f}x the floor; "
                    f"{v / ns['streamed']:.2f}x streamed")
            for ref in ("bottleneck", "numbagg"):
                if ref in ns:
                    note += f"; {v / ns[ref]:.2f}x {ref}"
        elif name == "into warm":
            note = f"to_array - into warm = {ns['to_array'] - v:.2f} ns (fresh memory)"
        elif name == "map(sqrt).to_array":
            extra = v - ns["map(sqrt) streamed"]
            note = f"- streamed = {extra:.2f} ns = {extra / ns['floor']:.2f}x the floor"
        elif name == "from_array.to_array":
            note = f"{v / ns['floor']:.2f}x the floor (a copy of the source)"
        elif name == "floor":
            note = "np.empty(n) + fill: faults + one write"
        rows.append([name, f"{v:.2f}", f"{best[name] * 1e3:.1f}", note])
    print(f"-- n = {n:,} float64, moving_mean({args.window}), best of {args.repeats} "
          "interleaved rounds --")
    print_table(["variant", "ns/value", "ms", "note"], rows)
    print()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=lambda s: [int(float(v)) for v in s.split(",")],
                   default=[1_000_000, 10_000_000], help="values (default 1e6,1e7)")
    p.add_argument("--big", action="store_true", help="also n = 1e8 (800 MB, ~3 GB peak)")
    p.add_argument("--window", type=int, default=100)
    p.add_argument("--repeats", type=int, default=9, help="interleaved rounds (default 9)")
    p.add_argument("--wait-idle", type=float, default=30.0,
                   help="wait up to this many seconds for idle cpus before each size")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import pystream as ps

    print(f"bench_materialise: {machine_line()}")
    print(f"pystream {version_of(ps)}: {ps.machine().line()}")
    print(f"bottleneck {version_of(optional('bottleneck'))}, numbagg "
          f"{version_of(optional('numbagg'))}")
    print()
    sizes = [*args.sizes, *([100_000_000] if args.big else [])]
    for n in sizes:
        wait_idle(args.wait_idle, f"before n={n:,}")
        bench(n, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
