#!/usr/bin/env python3
"""Moving windows, scans and EWM: pystream against bottleneck, numbagg, pandas and numpy.

Everything runs in this process on the same float64 array (1e7 NaN-free
normal values by default), best of ``--repeat`` runs with the garbage
collector off.  pystream goes through the Stream API with chunked input
(``ps.from_array(x)``, the default chunk size of 16,384 records), measured
two ways:

* ``array``: ``stream.moving_mean(w).to_array()`` materialises the whole
  output, as the peers return a whole new output array (both pay for the
  fresh memory: ~1.5-2 ns/value of page faults on this machine);
* ``stream``: ``for chunk in stream.moving_mean(w): pass`` -- the streaming
  use, where output chunks live in reused, cache-resident buffers.

Columns: pystream times and throughput (GB/s of float64 input), then for
each peer ``array/stream`` speedups = peer time / pystream time
(``2.00x`` = pystream twice as fast).
A second table repeats the window stages for windows 10, 100, 1000 and
100000 (ns per value): the cost must not grow with the window for
sum/mean/var/std/min/max, and at most logarithmically for median/quantile.
With ``--baseline PYTHON`` (the interpreter of another build, e.g. a venv of
the main branch) every cell is also timed in that build, interleaved with
ours (a worker process of this script), and the table adds the ratios
ours / baseline (below 1.00 = faster than the baseline).

A first table, ``--huge-windows`` (default 3e8 and 2**40), times every
window stage with a window far longer than the stream (1,000 and 10,000
records) next to bottleneck with the longest window it accepts (the whole
array, which gives the same statistics), and reports the growth of the
process's peak resident memory over that table: a window's memory follows
the records it has seen, not its nominal length.

Results are checked against the peers (allclose; NaN positions equal); a
``WARNING:`` line on stderr reports a disagreement.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
from typing import Any, Callable

import numpy as np

from _common import best_of, machine_line, optional, print_table, version_of


def _check(name: str, got: np.ndarray, want: np.ndarray) -> None:
    ok = np.array_equal(np.isnan(got), np.isnan(want)) and np.allclose(
        got, want, rtol=1e-7, atol=1e-9, equal_nan=True)
    if not ok:
        print(f"WARNING: {name}: pystream and the peer disagree", file=sys.stderr)


def _peers(w: int, bn: Any, nb: Any, pd: Any) -> dict[str, dict[str, Callable[[np.ndarray], Any]]]:
    """stage -> {peer label: function of x}."""
    rolling = (lambda x: pd.Series(x).rolling(w)) if pd is not None else None
    table: dict[str, dict[str, Callable[[np.ndarray], Any]]] = {}

    def add(stage: str, label: str, module: Any, func: Callable[[np.ndarray], Any]) -> None:
        if module is not None:
            table.setdefault(stage, {})[label] = func

    for stage, name in (("moving_sum", "sum"), ("moving_mean", "mean"), ("moving_var", "var"),
                        ("moving_std", "std"), ("moving_min", "min"), ("moving_max", "max"),
                        ("moving_median", "median")):
        table[stage] = {}
        add(stage, "bottleneck", bn, lambda x, f=getattr(bn, "move_" + name, None): f(x, w))
        if nb is not None and hasattr(nb, "move_" + name):
            add(stage, "numbagg", nb, lambda x, f=getattr(nb, "move_" + name): f(x, window=w))
        if pd is not None:
            add(stage, "pandas", pd, lambda x, n=name: getattr(rolling(x), n)(
                **({"ddof": 0} if n in ("var", "std") else {})).to_numpy())
    table["moving_quantile"] = {}
    add("moving_quantile", "pandas", pd,
        lambda x: rolling(x).quantile(0.25).to_numpy())
    table["moving_rank"] = {}
    add("moving_rank", "bottleneck", bn, lambda x: bn.move_rank(x, w))
    table["moving_argmin"] = {}
    add("moving_argmin", "bottleneck", bn, lambda x: bn.move_argmin(x, w))
    return table


def _extra(stage: str) -> dict[str, Any]:
    """The stage's parameters beyond the window: ``ddof=0`` for the variance (the
    peers' bottleneck convention; the stages' default is pandas' 1), ``q``."""
    if stage == "moving_quantile":
        return {"q": 0.25}
    return {"ddof": 0} if stage in ("moving_var", "moving_std") else {}


def _ps_window(ps: Any, stage: str, w: int) -> Callable[[np.ndarray], np.ndarray]:
    extra = _extra(stage)
    return lambda x: getattr(ps.from_array(x), stage)(w, **extra).to_array()


def _ps_stream(ps: Any, stage: str, w: int) -> Callable[[np.ndarray], Any]:
    extra = _extra(stage)
    return lambda x: getattr(ps.from_array(x), stage)(w, **extra)


def _drain(stream: Any) -> None:
    for _ in stream:
        pass


#: The window stages timed against the peers, in table order (then ``ewm_mean``).
WINDOW_STAGES = ("moving_sum", "moving_mean", "moving_var", "moving_std", "moving_min",
                 "moving_max", "moving_argmin", "moving_median", "moving_quantile",
                 "moving_rank")
#: The scans timed against ``np.cumsum``.
SCANS = ("cumsum", "cummean", "cumvar", "cummax")
#: Peer columns of the window table, in order.
PEER_LABELS = ("bottleneck", "numbagg", "pandas")


def load_peers() -> tuple[Any, Any, Any]:
    """(bottleneck, numbagg, pandas); None for a peer that is not installed."""
    return optional("bottleneck"), optional("numbagg"), optional("pandas")


def warm_up_numbagg(nb: Any, x: np.ndarray) -> None:
    """Compile numbagg's kernels (numba JIT) outside the timings."""
    if nb is None:
        return
    small = x[:1000]
    for name in ("move_mean", "move_sum", "move_std", "move_var", "move_exp_nanmean"):
        f = getattr(nb, name, None)
        if f is not None:
            f(small, alpha=0.1) if name == "move_exp_nanmean" else f(small, window=10)


def warm_up_pandas(pd: Any, x: np.ndarray) -> None:
    """Run pandas' rolling and ewm once on a slice: its first call costs ~0.15 s more."""
    if pd is None:
        return
    small = pd.Series(x[:1000])
    small.rolling(10).sum()
    small.ewm(alpha=0.1).mean()


def _time_peers(stage: str, peers: dict[str, Callable[[np.ndarray], Any]], x: np.ndarray,
                out: np.ndarray, repeat: int, pandas_repeat: int = 1) -> dict[str, float]:
    """Time each peer of `stage` and check it agrees with `out`."""
    times = {}
    for label in PEER_LABELS:
        f = peers.get(label)
        if f is None:
            continue
        t, want = best_of(lambda: f(x), repeat if label != "pandas" else pandas_repeat)
        want = np.asarray(want)
        if label == "numbagg" and stage in ("moving_var", "moving_std"):
            # numbagg divides by count - 1 (no ddof argument); pystream here by count (ddof=0)
            w = np.count_nonzero(np.isnan(out[: len(out) // 2])) + 1
            want = want * ((w - 1) / w if stage == "moving_var" else np.sqrt((w - 1) / w))
        _check(f"{stage} vs {label}", out, want)
        times[label] = t
    return times


def measure_windows(x: np.ndarray, w: int, repeat: int, ps: Any, bn: Any, nb: Any,
                    pd: Any, pandas_repeat: int = 1) -> list[dict[str, Any]]:
    """Time the window stages and ``ewm_mean`` (alpha = 2 / (w + 1)) against the peers.

    Each is the best of `repeat` runs, pandas' the best of `pandas_repeat`
    (it is slow).  Returns one dict per stage: ``{"stage": name, "array": seconds,
    "stream": seconds, "peers": {label: seconds}}`` (a missing peer has no
    entry).  Disagreements are reported on stderr.
    """
    rows = []
    peers = _peers(w, bn, nb, pd)
    for stage in WINDOW_STAGES:
        make = _ps_window(ps, stage, w)
        t_ps, out = best_of(lambda: make(x), repeat)
        t_st, _ = best_of(lambda: _drain(_ps_stream(ps, stage, w)(x)), repeat)
        rows.append({"stage": stage, "array": t_ps, "stream": t_st,
                     "peers": _time_peers(stage, peers.get(stage, {}), x, out, repeat,
                                          pandas_repeat)})
    # EWM
    alpha = 2 / (w + 1)
    ewm_peers: dict[str, Callable[[np.ndarray], Any]] = {}
    if nb is not None:
        ewm_peers["numbagg"] = lambda x: nb.move_exp_nanmean(x, alpha=alpha)
    if pd is not None:
        ewm_peers["pandas"] = lambda x: pd.Series(x).ewm(alpha=alpha).mean().to_numpy()
    t_ps, out = best_of(lambda: ps.from_array(x).ewm_mean(alpha=alpha).to_array(), repeat)
    t_st, _ = best_of(lambda: _drain(ps.from_array(x).ewm_mean(alpha=alpha)), repeat)
    rows.append({"stage": "ewm_mean", "array": t_ps, "stream": t_st,
                 "peers": _time_peers("ewm_mean", ewm_peers, x, out, repeat, pandas_repeat)})
    return rows


def measure_scans(x: np.ndarray, repeat: int, ps: Any,
                  stages: tuple[str, ...] = SCANS) -> list[dict[str, Any]]:
    """Time the scans in `stages` and ``np.cumsum`` (checked against ``cumsum``).

    Returns one dict per scan, as :func:`measure_windows`, with the peer
    ``"np.cumsum"``.
    """
    rows = []
    t_np, ref = best_of(lambda: np.cumsum(x), repeat)
    for stage in stages:
        t_ps, out = best_of(lambda: getattr(ps.from_array(x), stage)().to_array(), repeat)
        t_st, _ = best_of(lambda: _drain(getattr(ps.from_array(x), stage)()), repeat)
        if stage == "cumsum":
            _check("cumsum vs numpy", out, ref)
        rows.append({"stage": stage, "array": t_ps, "stream": t_st,
                     "peers": {"np.cumsum": t_np}})
    return rows


def _cells(row: dict[str, Any], gbs: Callable[[float], str],
           labels: tuple[str, ...] = PEER_LABELS) -> list[str]:
    t_ps, t_st = row["array"], row["stream"]
    cells = [row["stage"], f"{t_ps:.4f}", f"{t_st:.4f}", gbs(t_st)]
    for label in labels:
        t = row["peers"].get(label)
        cells.append("" if t is None else f"{t / t_ps:.2f}x/{t / t_st:.2f}x")
    return cells


#: The stages of the scaling table, in order.
SCALING_STAGES = ("moving_sum", "moving_mean", "moving_var", "moving_std", "moving_min",
                  "moving_max", "moving_argmax", "moving_median", "moving_quantile",
                  "moving_rank")


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux: ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_huge(windows: list[int], sizes: tuple[int, ...], repeat: int, ps: Any,
                 bn: Any) -> tuple[list[list[str]], float]:
    """Window stages with windows far longer than the stream, against bottleneck.

    Returns the table rows (stage, then per size: ms per window, bottleneck's
    ms with ``window = len(x)``, our time / bottleneck's) and the growth of the
    peak resident memory over the whole measurement (MB).
    """
    base = _peak_rss_mb()
    rows = []
    for size in sizes:
        x = np.random.default_rng(size).normal(size=size)
        for stage in WINDOW_STAGES:
            extra = _extra(stage)
            f = getattr(bn, stage.replace("moving_", "move_"), None) if bn is not None else None
            t_bn = best_of(lambda: f(x, size, min_count=1), repeat)[0] if f is not None else None
            cells = [f"{stage} (n={size})"]
            for win in windows:
                t, out = best_of(lambda: getattr(ps.from_array(x), stage)(
                    win, min_count=1, **extra).to_array(), repeat)
                if f is not None:
                    _check(f"{stage}(window={win})", out, f(x, size, min_count=1))
                cells.append(f"{t * 1e3:.3f}")
                cells.append("" if t_bn is None else f"{t / t_bn:.2f}")
            cells.append("" if t_bn is None else f"{t_bn * 1e3:.3f}")
            rows.append(cells)
    return rows, _peak_rss_mb() - base


class _Baseline:
    """Another build's interpreter running this script as a ``--worker``."""

    def __init__(self, python: str, n: int, seed: int) -> None:
        self.proc = subprocess.Popen([python, __file__, "--worker", "--n", str(n),
                                      "--seed", str(seed)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.version = self._ask("version")

    def _ask(self, line: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if not answer:
            raise RuntimeError(f"the baseline worker stopped (exit {self.proc.poll()})")
        return answer

    def time(self, stage: str, window: int, repeat: int) -> float:
        return float(self._ask(f"{stage} {window} {repeat}"))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def _worker(n: int, seed: int) -> int:
    """``--worker``: time ``stage window repeat`` lines from stdin (streamed), one answer each."""
    import _common

    # the build installed in this interpreter, not the source tree of this script
    sys.path[:] = [d for d in sys.path if d != _common._ROOT]
    import pystream as ps

    x = np.random.default_rng(seed).normal(size=n)
    for line in sys.stdin:
        if line.strip() == "version":
            print(f"{ps.__version__} ({ps.__file__})", flush=True)
            continue
        stage, win, repeat = line.split()
        t, _ = best_of(lambda: _drain(_ps_stream(ps, stage, int(win))(x)), int(repeat))
        print(t, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=float, default=1e7, help="array length (default 1e7)")
    p.add_argument("--window", type=int, default=100)
    p.add_argument("--windows", default="10,100,1000,100000",
                   help="windows for the scaling table (default 10,100,1000,100000)")
    p.add_argument("--huge-windows", default="300000000,1099511627776",
                   help="windows for the huge-window table ('' to skip; default 3e8,2**40)")
    p.add_argument("--baseline", metavar="PYTHON",
                   help="interpreter of another build: time the scaling table there too")
    p.add_argument("--scaling-only", action="store_true",
                   help="skip the peer and scan tables (the huge and scaling tables only)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    n = int(args.n)
    if args.worker:
        return _worker(n, args.seed)

    import pystream as ps

    bn, nb, pd = load_peers()
    print(f"# {machine_line()}")
    print(f"# pystream {ps.__version__}, bottleneck {version_of(bn)}, numbagg {version_of(nb)}, "
          f"pandas {version_of(pd)}; n = {n:.0e} float64, window {args.window}, "
          f"best of {args.repeat}")

    huge = [int(v) for v in args.huge_windows.split(",") if v.strip()]
    if huge:  # first, while the peak resident memory is that of the imports
        rows, grown = measure_huge(huge, (1000, 10000), args.repeat, ps, bn)
        print()
        print(f"(windows longer than the stream: to_array ms; bottleneck with window = n; "
              f"peak resident memory grew by {grown:.1f} MB over this table)")
        heads = ["stage"]
        for win in huge:
            heads += [f"ps ms w={win:.0e}", "vs bn"]
        print_table(heads + ["bn ms w=n"], rows)

    x = np.random.default_rng(args.seed).normal(size=n)
    gbs = lambda t: f"{x.nbytes / t / 1e9:.2f}"  # noqa: E731
    if not args.scaling_only:
        warm_up_numbagg(nb, x)
        warm_up_pandas(pd, x)
        w = args.window
        rows = [_cells(r, gbs) for r in measure_windows(x, w, args.repeat, ps, bn, nb, pd)]
        print()
        print_table(["stage (window %d)" % w, "ps array s", "ps stream s", "stream GB/s",
                     "vs bottleneck", "vs numbagg", "vs pandas"], rows)

        scans = measure_scans(x, args.repeat, ps)
        t_np = scans[0]["peers"]["np.cumsum"]
        rows = [_cells(r, gbs, ("np.cumsum",)) for r in scans]
        rows.append(["np.cumsum", f"{t_np:.4f}", "", gbs(t_np), "1.00x"])
        print()
        print_table(["scan", "ps array s", "ps stream s", "stream GB/s", "speed vs np.cumsum"],
                    rows)

    windows = [int(v) for v in args.windows.split(",")]
    base = _Baseline(args.baseline, n, args.seed) if args.baseline else None
    rows = []
    for stage in SCALING_STAGES:
        cells, ratios = [stage], []
        for win in windows:
            if stage == "moving_rank" and win > 1000:
                cells.append("O(w)")  # bottleneck's definition is O(window) per value
                ratios.append("")
                continue
            t, _ = best_of(lambda: _drain(_ps_stream(ps, stage, win)(x)), args.repeat)
            cells.append(f"{t / n * 1e9:.2f}")
            if base is not None:
                ratios.append(f"{t / base.time(stage, win, args.repeat):.2f}")
        bcells = []
        if bn is not None and stage in ("moving_mean", "moving_std", "moving_max", "moving_median"):
            f = getattr(bn, stage.replace("moving_", "move_"))
            for win in windows:
                t, _ = best_of(lambda: f(x, win), args.repeat)
                bcells.append(f"{t / n * 1e9:.2f}")
        rows.append(cells + (bcells or [""] * len(windows)) + ratios)
    heads = ["ns/value"] + [f"ps w={v}" for v in windows] + [f"bn w={v}" for v in windows]
    print()
    print("(pystream streamed; bottleneck returns an array)")
    if base is not None:
        heads += [f"/base w={v}" for v in windows]
        print(f"(/base: our time / the baseline's {base.version}, interleaved)")
        base.close()
    print_table(heads, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
