"""Figures and tables of the docs' performance page, from a small benchmark run.

``build(outdir)`` runs a short version of the benchmark suite in
``benchmarks/`` against the peers, in this process, and writes into
`outdir`:

* ``windows.png``, ``windows_table.rst``: moving windows, EWM and scans,
  speedups = peer time / pystream time (``benchmarks/bench_windows.py``'s
  ``measure_windows`` and ``measure_scans``);
* ``reductions.png``, ``reductions_table.rst``: ``describe()``, ``mean()``
  and ``var()`` against numpy, bottleneck and crick;
* ``cpu_starvation.png``, ``cpu_starvation_table.rst``: time per element
  of a numpy expression with temporaries, evaluated on the whole array and
  streamed in chunks, for array sizes from 1e3 to 3e7 elements;
* ``machine.rst``: the machine, the versions and the sizes of the run.

The run takes about 40 s on the 2-core reference machine.  The environment
variable ``PYSTREAM_DOCS_BENCH_SCALE`` (a float, default 1.0) multiplies
every array size.  Results are checked against the peers; a disagreement
prints a ``WARNING:`` line on stderr, as the benchmark scripts do.
"""

from __future__ import annotations

import datetime
import gc
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"

#: Sizes at scale 1.0 (PYSTREAM_DOCS_BENCH_SCALE multiplies them).
N_WINDOWS = 2_000_000          # float64 values for the window stages
WINDOW = 100
N_REDUCE = 20_000_000          # float64 values for the reductions (160 MB)
N_SKETCH = 2_000_000           # float64 values for the histogram and quantile sketches
STARVE_MIN = 1_000             # smallest array of the CPU starvation curve
STARVE_MAX = 30_000_000        # largest one (240 MB)
STARVE_POINTS = 12
REPEAT = 3                     # best of
PANDAS_REPEAT = 2              # pandas is slow; its first call on a big array also grows the heap
SEED = 0
DPI = 110

PEER_COLORS = {"bottleneck": "#dd8452", "numbagg": "#55a868", "pandas": "#8172b3",
               "np.cumsum": "#937860", "numpy": "#8c8c8c", "crick": "#64b5cd",
               "pystream": "#4c72b0"}


def _warn(msg: str) -> None:
    print(f"WARNING: perf_figures: {msg}", file=sys.stderr, flush=True)


def _scale() -> float:
    raw = os.environ.get("PYSTREAM_DOCS_BENCH_SCALE", "").strip()
    if not raw:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        _warn(f"PYSTREAM_DOCS_BENCH_SCALE={raw!r} is not a positive number; using 1.0")
        return 1.0
    return value


def _bench_modules() -> tuple[Any, Any, Any, Any]:
    """Import ``_common``, ``bench_windows``, ``bench_core`` and ``bench_sketches``."""
    path = str(BENCH_DIR)
    added = path not in sys.path
    if added:
        sys.path.insert(0, path)
    try:
        import _common
        import bench_core
        import bench_sketches
        import bench_windows
    finally:
        if added:
            sys.path.remove(path)
    return _common, bench_windows, bench_core, bench_sketches


# --------------------------------------------------------------------------- machine


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty if unreadable)."""
    text = _read("/proc/cpuinfo") or ""
    info: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if info:
                break
            continue
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    return info


def _parse_size(text: str) -> int | None:
    """'48K' -> 49152; None if not understood."""
    units = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}
    text = text.strip().upper()
    try:
        if text and text[-1] in units:
            return int(text[:-1]) * units[text[-1]]
        return int(text)
    except ValueError:
        return None


def cpu_caches() -> list[dict[str, Any]]:
    """Data and unified caches of cpu0 from sysfs: name, level, bytes, shared_cpus."""
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    caches = []
    for d in sorted(base.glob("index*")):
        level, kind = _read(str(d / "level")), _read(str(d / "type"))
        size = _parse_size(_read(str(d / "size")) or "")
        if level is None or kind is None or size is None:
            continue
        if kind == "Instruction":
            continue
        name = f"L{level}" + ("d" if kind == "Data" else "")
        caches.append({"name": name, "level": int(level), "bytes": size,
                       "shared_cpus": _read(str(d / "shared_cpu_list")) or "?"})
    return caches


def _bytes(n: float) -> str:
    for unit, factor in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if n >= factor:
            v = n / factor
            return f"{v:.0f} {unit}" if v == int(v) or v >= 100 else f"{v:.1f} {unit}"
    return f"{n:.0f} B"


def _version(name: str) -> str:
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:
        return "not installed"


def _write_machine(path: Path, ps: Any, sections: dict[str, str], seconds: float,
                   scale: float) -> None:
    info = _cpuinfo()
    model = info.get("model name") or platform.processor() or platform.machine()
    flags = set(info.get("flags", "").split())
    simd = ", ".join(f for f in ("sse4_2", "avx2", "fma", "avx512f") if f in flags) or "?"
    virt = " (virtual machine)" if "hypervisor" in flags else ""
    caches = cpu_caches()
    cache_text = ", ".join(
        f"{c['name']} {_bytes(c['bytes'])} "
        + (f"(shared by CPUs {c['shared_cpus']})" if any(ch in c["shared_cpus"] for ch in ",-")
           else "(per CPU)")
        for c in caches) or "not readable"
    mem = None
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) * 1024
    peers = ", ".join(f"{name} {_version(name)}" for name in
                      ("bottleneck", "numbagg", "pandas", "crick", "datasketches",
                       "matplotlib"))
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f":CPU: {model}{virt}; {os.cpu_count()} logical CPUs; SIMD: {simd}",
        f":Kernels: pystream's C kernels ran at SIMD level ``{ps.machine().simd_level}`` "
        f"(the best this build and CPU offer: ``{ps.machine().simd_best}``; "
        f"see :ref:`the levels table <perf-levels>`)",
        f":Caches: {cache_text}",
        f":Memory: {_bytes(mem) if mem else '?'}",
        f":OS: {platform.platform()}",
        f":Software: pystream {ps.__version__}, Python {platform.python_version()}, "
        f"numpy {np.__version__}, {peers}",
        f":Run: {now}, {seconds:.0f} s for the whole run (scale {scale:g}); every time is the "
        f"best of {REPEAT} runs in one process, garbage collector off",
    ]
    lines += [f":{k}: {v}" for k, v in sections.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- helpers


def _ns(t: float, n: int) -> str:
    v = t / n * 1e9
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def _x(r: float) -> str:
    return f"{r:.2f}x" if r < 10 else f"{r:.1f}x" if r < 100 else f"{r:.0f}x"


def _list_table(title: str, header: list[str], rows: list[list[str]],
                widths: list[int] | None = None) -> str:
    out = [f".. list-table:: {title}", "   :header-rows: 1"]
    if widths:
        out.append("   :widths: " + " ".join(str(w) for w in widths))
    out.append("")
    for row in [header] + rows:
        for i, cell in enumerate(row):
            lead = "   * -" if i == 0 else "     -"
            out.append(f"{lead} {cell}" if cell else lead)
    return "\n".join(out) + "\n"


def _figure(figsize: tuple[float, float]) -> Any:
    from matplotlib.figure import Figure
    return Figure(figsize=figsize, layout="constrained")


def _save(fig: Any, path: Path) -> None:
    fig.savefig(path, dpi=DPI)


# --------------------------------------------------------------------------- windows


def _peer_call(stage: str, label: str, w: int) -> str:
    name = stage.replace("moving_", "")
    if label == "np.cumsum":
        return "``np.cumsum(x)``" + (" (less work: no division)" if stage == "cummean" else "")
    if stage == "ewm_mean":
        return {"numbagg": "``numbagg.move_exp_nanmean``",
                "pandas": "``Series.ewm(alpha).mean()``"}[label]
    if label == "bottleneck":
        return f"``bn.move_{name}``"
    if label == "numbagg":
        return f"``numbagg.move_{name}``"
    if stage == "moving_quantile":
        return f"``Series.rolling({w}).quantile(0.25)``"
    return f"``Series.rolling({w}).{name}()``"


def _windows(outdir: Path, n: int, bw: Any, ps: Any) -> str:
    bn, nb, pd = bw.load_peers()
    x = np.random.default_rng(SEED).normal(size=n)
    bw.warm_up_numbagg(nb, x)
    bw.warm_up_pandas(pd, x)
    # One large output allocated and freed before the timings: it raises glibc's
    # dynamic mmap/trim thresholds, which the first stage timed would pay for
    # otherwise (moving_sum's to_array() took ~1.5x its later cost).
    ps.from_array(x).moving_sum(WINDOW).to_array()
    rows = bw.measure_windows(x, WINDOW, REPEAT, ps, bn, nb, pd,
                              pandas_repeat=PANDAS_REPEAT)
    rows += bw.measure_scans(x, REPEAT, ps, stages=("cumsum", "cummean"))
    rows = [r for r in rows if r["peers"]]

    # -- chart: two panels (array output / streamed), one bar per peer
    fig = _figure((12, 8.5))
    axes = fig.subplots(1, 2, sharey=True)
    ratios = [t / r[k] for r in rows for t in r["peers"].values() for k in ("array", "stream")]
    ratios = ratios or [1.0]  # no peer installed: empty panels
    lo, hi = min(min(ratios), 1.0) / 1.6, max(ratios) * 1.9
    seen: dict[str, Any] = {}
    for ax, key, title in ((axes[0], "array", "output materialised: .to_array()"),
                           (axes[1], "stream", "output streamed: for chunk in stream")):
        ax.axvspan(lo, 1.0, color="0.94", zorder=0)
        for i, r in enumerate(rows):
            labels = list(r["peers"])
            h = 0.8 / len(labels)
            for j, label in enumerate(labels):
                ratio = r["peers"][label] / r[key]
                y = i - 0.4 + h * (j + 0.5)
                bar = ax.barh(y, ratio - lo, height=h * 0.9, left=lo,
                              color=PEER_COLORS[label], zorder=2)
                seen.setdefault(label, bar)
                ax.text(ratio * 1.05, y, _x(ratio), va="center", fontsize=7, zorder=3)
        ax.axvline(1.0, color="black", lw=1.3, zorder=4)
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("speedup = peer time / pystream time (log scale; > 1: pystream faster)")
        ax.grid(axis="x", which="both", color="0.85", lw=0.6, zorder=1)
        ax.text(1.0 * 0.97, len(rows) - 0.1, "peer faster \u2190", ha="right", va="bottom",
                fontsize=8, color="0.35")
        ax.text(1.0 * 1.03, len(rows) - 0.1, "\u2192 pystream faster", ha="left",
                va="bottom", fontsize=8, color="0.35")
        ax.xaxis.set_major_formatter(_ratio_formatter())
    axes[0].set_yticks(range(len(rows)))
    axes[0].set_yticklabels([r["stage"] for r in rows])
    axes[0].set_ylim(len(rows) + 0.05, -0.6)
    axes[0].set_ylabel(f"pystream stage (window {WINDOW}; EWM alpha = 2/{WINDOW + 1})")
    fig.legend(list(seen.values()), list(seen), loc="outside lower center",
               ncols=max(1, len(seen)), title="peer")
    fig.suptitle(f"pystream against its peers: moving windows, EWM, scans\n"
                 f"n = {n:,} float64 values, best of {REPEAT} (pandas: best of "
                 f"{PANDAS_REPEAT}); pystream input: from_array(x), chunks of "
                 f"{_default_chunk():,} records", fontsize=12)
    _save(fig, outdir / "windows.png")

    # -- table
    trows = []
    for r in rows:
        first = True
        for label, t in r["peers"].items():
            trows.append([f"``{r['stage']}``" if first else "",
                          _ns(r["array"], n) if first else "",
                          _ns(r["stream"], n) if first else "",
                          _peer_call(r["stage"], label, WINDOW), _ns(t, n),
                          _x(t / r["array"]), _x(t / r["stream"])])
            first = False
    title = (f"Window {WINDOW}, n = {n:,} float64, best of {REPEAT} "
             f"(pandas: best of {PANDAS_REPEAT}). "
             "Times in ns per value; speedup = peer time / pystream time.")
    text = _list_table(title, ["stage", "pystream array", "pystream streamed", "peer",
                               "peer", "speedup (array)", "speedup (streamed)"], trows,
                       [14, 10, 10, 26, 8, 10, 10])
    (outdir / "windows_table.rst").write_text(text, encoding="utf-8")
    return (f"n = {n:,} float64 (normal), window {WINDOW}, best of {REPEAT} "
            f"(pandas: best of {PANDAS_REPEAT})")


def _ratio_formatter() -> Any:
    from matplotlib.ticker import FuncFormatter
    return FuncFormatter(lambda v, _: f"{v:g}x")


def _default_chunk() -> int:
    from pystream._config import default_chunk_size
    return default_chunk_size(np.float64)


# --------------------------------------------------------------------------- reductions


def _reductions(outdir: Path, n: int, common: Any, bc: Any, ps: Any) -> str:
    best_of = common.best_of
    bn, crick = common.optional("bottleneck"), common.optional("crick")
    x = np.random.default_rng(SEED).standard_normal(n)
    x.sum()  # touch the pages once
    t_sum, _ = best_of(lambda: np.sum(x), REPEAT)
    ref_mean, ref_var = float(x.mean()), float(x.var())

    def check(name: str, got: Any, want: float) -> None:
        bc._check(name, float(got), want)

    # task -> list of (contender, color key, seconds); the pystream row first
    tasks: dict[str, list[tuple[str, str, float]]] = {}

    t, d = best_of(lambda: ps.from_array(x).describe(quantiles=()), REPEAT)
    check("ps describe mean", d.mean, ref_mean)
    check("ps describe var", d.var, ref_var)
    tasks["describe"] = [("pystream describe(quantiles=())", "pystream", t)]
    # describe()'s default also estimates p1..p99 (a KLL sketch in the same pass).
    t, d = best_of(lambda: ps.from_array(x).describe(), REPEAT)
    check("ps describe() mean", d.mean, ref_mean)
    tasks["describe"].append(("pystream describe() + p1..p99", "pystream", t))
    t, _ = best_of(lambda: (x.mean(), x.var(), x.min(), x.max()), REPEAT)
    tasks["describe"].append(("numpy mean + var + min + max", "numpy", t))
    if bn is not None:
        t, r = best_of(lambda: (bn.nanmean(x), bn.nanvar(x), bn.nanmin(x), bn.nanmax(x)),
                       REPEAT)
        check("bottleneck nanmean", r[0], ref_mean)
        tasks["describe"].append(("bottleneck nanmean + nanvar + nanmin + nanmax",
                                  "bottleneck", t))
    if crick is not None:
        def crick_stats() -> Any:
            s = crick.SummaryStats()
            s.update(x)
            return s.mean(), s.var(), s.min(), s.max()
        t, r = best_of(crick_stats, REPEAT)
        check("crick mean", r[0], ref_mean)
        tasks["describe"].append(("crick SummaryStats", "crick", t))

    for task, ref, np_f, bn_name in (("mean", ref_mean, np.mean, "nanmean"),
                                     ("var", ref_var, np.var, "nanvar")):
        t, r = best_of(lambda: getattr(ps.from_array(x), task)(), REPEAT)
        check(f"ps {task}", r, ref)
        tasks[task] = [(f"pystream {task}()", "pystream", t)]
        t, _ = best_of(lambda: np_f(x), REPEAT)
        tasks[task].append((f"numpy {task}", "numpy", t))
        if bn is not None:
            f = getattr(bn, bn_name)
            t, r = best_of(lambda: f(x), REPEAT)
            check(f"bottleneck {bn_name}", r, ref)
            tasks[task].append((f"bottleneck {bn_name}", "bottleneck", t))
    nbytes = x.nbytes
    gbs = lambda t: nbytes / t / 1e9  # noqa: E731

    # -- chart: GB/s per contender, grouped by task; np.sum as the bandwidth line
    items: list[tuple[str, str, float, str]] = []
    for task, rows in tasks.items():
        t_ps = rows[0][2]
        for label, key, t in rows:
            note = ("" if key == "pystream" else f"  (pystream {_x(t / t_ps)} faster)"
                    if t >= t_ps else f"  (pystream {_x(t_ps / t)} slower)")
            items.append((label, key, t, note))
        items.append(("", "", 0.0, ""))
    items.pop()
    fig = _figure((11, 6.2))
    ax = fig.subplots()
    top = max(gbs(t_sum), *(gbs(t) for _, _, t, _ in items if t)) * 1.75
    for i, (label, key, t, note) in enumerate(items):
        if not t:
            continue
        ax.barh(i, gbs(t), color=PEER_COLORS[key], height=0.75, zorder=2)
        ax.text(gbs(t) + top * 0.008, i, f"{gbs(t):.1f} GB/s{note}", va="center", fontsize=8)
    ax.axvline(gbs(t_sum), color="black", ls="--", lw=1.2, zorder=3)
    ax.text(gbs(t_sum) + top * 0.008, len(items) - 0.5,
            f"np.sum(x): {gbs(t_sum):.1f} GB/s\n(memory-bandwidth reference)",
            fontsize=8, va="bottom")
    ax.set_yticks([i for i, it in enumerate(items) if it[2]])
    ax.set_yticklabels([it[0] for it in items if it[2]], fontsize=9)
    ax.set_ylim(len(items) + 0.3, -0.7)
    ax.set_xlim(0, top)
    ax.set_xlabel("throughput (GB/s of float64 input read; higher is better)")
    ax.grid(axis="x", color="0.85", lw=0.6, zorder=1)
    ax.set_title(f"Reductions over one in-memory array: n = {n:,} float64 "
                 f"({nbytes / 1e6:,.0f} MB), best of {REPEAT}\n"
                 "pystream: one pass for all statistics; numpy and bottleneck: one pass each",
                 fontsize=11)
    _save(fig, outdir / "reductions.png")

    # -- table
    trows = [["reference", "``np.sum(x)``", f"{t_sum * 1e3:.1f}", f"{gbs(t_sum):.1f}", ""]]
    for task, rows in tasks.items():
        t_ps = rows[0][2]
        for i, (label, key, t) in enumerate(rows):
            trows.append([f"``{task}``" if i == 0 else "", label, f"{t * 1e3:.1f}",
                          f"{gbs(t):.1f}", "" if key == "pystream" else _x(t / t_ps)])
    title = (f"n = {n:,} float64 ({nbytes / 1e6:,.0f} MB) in memory, best of {REPEAT}. "
             "Speedup = peer time / pystream time.")
    text = _list_table(title, ["task", "contender", "time (ms)", "GB/s", "pystream speedup"],
                       trows, [10, 40, 10, 10, 12])
    (outdir / "reductions_table.rst").write_text(text, encoding="utf-8")
    return f"n = {n:,} float64 (standard normal, {nbytes / 1e6:,.0f} MB), best of {REPEAT}"


# --------------------------------------------------------------------------- starvation


def expression(x: np.ndarray) -> np.ndarray:
    """The expression of the CPU starvation figure: two temporaries and an output."""
    return np.sqrt(x * x + 1.0) * 0.5 + x


EXPRESSION_TEXT = "np.sqrt(x*x + 1) * 0.5 + x"


def _per_call(func: Callable[[], Any], repeat: int, min_batch: float = 0.02) -> float:
    """Best over `repeat` batches of the mean time of one call (gc off).

    A batch calls `func` often enough to last about `min_batch` seconds,
    so that small arrays are timed over many calls.
    """
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        func()  # warm-up and calibration
        single = time.perf_counter() - t0
    finally:
        gc.enable()
    loops = max(1, math.ceil(min_batch / max(single, 1e-7)))
    # a call long enough to be a batch of its own counts as the first one
    best, batches = (single, repeat - 1) if loops == 1 else (math.inf, repeat)
    for _ in range(batches):
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            for _ in range(loops):
                func()
            best = min(best, (time.perf_counter() - t0) / loops)
        finally:
            gc.enable()
    return best


def _drain(stream: Any) -> None:
    for _ in stream:
        pass


def _starvation(outdir: Path, n_max: int, ps: Any) -> str:
    caches = cpu_caches()
    l2 = next((c["bytes"] for c in caches if c["level"] == 2), 2 * 1024 ** 2)
    chunks = sorted({_default_chunk(), max(1, l2 // 8)})
    sizes = [int(v) for v in np.unique(np.geomspace(STARVE_MIN, n_max, STARVE_POINTS)
                                        .round().astype(np.int64))]
    base = np.random.default_rng(SEED).random(sizes[-1])
    series: dict[str, list[float]] = {"numpy": []}
    for cs in chunks:
        series[f"stream {cs}"] = []
        series[f"array {cs}"] = []
    for n in sizes:
        x = base[:n]
        series["numpy"].append(_per_call(lambda: expression(x), REPEAT) / n * 1e9)
        for cs in chunks:
            series[f"stream {cs}"].append(
                _per_call(lambda: _drain(ps.from_array(x, chunk_size=cs).map(expression)),
                          REPEAT) / n * 1e9)
            series[f"array {cs}"].append(
                _per_call(lambda: ps.from_array(x, chunk_size=cs).map(expression).to_array(),
                          REPEAT) / n * 1e9)
    # agreement on the largest array
    want = expression(base)
    for cs in chunks:
        got = ps.from_array(base, chunk_size=cs).map(expression).to_array()
        if not np.array_equal(got, want):
            _warn(f"cpu starvation: to_array() with chunks of {cs} differs from numpy")
        total = sum(float(c.sum()) for c in ps.from_array(base, chunk_size=cs).map(expression))
        if not math.isclose(total, float(want.sum()), rel_tol=1e-9):
            _warn(f"cpu starvation: streamed sum with chunks of {cs} differs from numpy")
    del base, want

    def chunk_label(cs: int) -> str:
        what = "library default" if cs == _default_chunk() else "L2-sized"
        return f"{cs:,} records ({_bytes(cs * 8)}, {what})"

    # -- chart
    from matplotlib.ticker import FuncFormatter, LogLocator
    fig = _figure((11, 6.8))
    ax = fig.subplots()
    ax.plot(sizes, series["numpy"], color="black", lw=2.2, marker="o",
            label="numpy on the whole array")
    colors = ["#4c72b0", "#dd8452", "#55a868"]
    for cs, color in zip(chunks, colors):
        ax.plot(sizes, series[f"stream {cs}"], color=color, lw=1.8, marker="s",
                label=f"pystream, streamed: chunks of {chunk_label(cs)}")
        ax.plot(sizes, series[f"array {cs}"], color=color, lw=1.4, ls="--", marker="^",
                label=f"pystream, .to_array(): chunks of {chunk_label(cs)}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    xlo, xhi = sizes[0] / 1.5, sizes[-1] * 1.5
    ax.set_xlim(xlo, xhi)
    ymax = max(max(v) for v in series.values())
    ymin = min(min(v) for v in series.values())
    ax.set_ylim(ymin / 1.6, ymax * 1.3)
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_minor_locator(LogLocator(subs=(1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    outside = []
    for c in caches:
        n_eq = c["bytes"] / 8
        label = f"{c['name']} {_bytes(c['bytes'])}"
        if xlo <= n_eq <= xhi:
            ax.axvline(n_eq, color="0.45", ls=":", lw=1.3, zorder=1)
            ax.text(n_eq * 1.06, ymin / 1.55, label, rotation=90, va="bottom",
                    ha="left", fontsize=8, color="0.3")
        else:
            outside.append(f"{label} = {n_eq:.2g} float64")
    if outside:
        ax.text(0.99, 0.02, "beyond the right edge: " + "; ".join(outside),
                transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color="0.3")
    sec = ax.secondary_xaxis("top", functions=(lambda n: n * 8.0, lambda b: b / 8.0))
    sec.set_xlabel("size of x in bytes (each temporary and the output: the same again)")
    sec.set_xticks([2.0 ** k for k in range(13, 34, 3) if xlo <= 2.0 ** k / 8 <= xhi])
    sec.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _bytes(v)))
    sec.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.set_xlabel("array size n (float64 elements, log scale); dotted lines: "
                  "x alone fills that cache")
    ax.set_ylabel("time per element (ns, log scale; lower is better)")
    ax.grid(which="major", color="0.85", lw=0.6)
    ax.legend(loc="upper right", fontsize=8.5, framealpha=0.95)
    ax.set_title(f"CPU starvation: y = {EXPRESSION_TEXT} on float64, best of {REPEAT}\n"
                 "whole-array numpy against the same expression on cache-sized chunks",
                 fontsize=11)
    _save(fig, outdir / "cpu_starvation.png")

    # -- table
    header = ["n", "numpy"]
    for cs in chunks:
        header += [f"streamed, {_bytes(cs * 8)} chunks", f".to_array(), {_bytes(cs * 8)} chunks"]
    trows = []
    for i, n in enumerate(sizes):
        row = [f"{n:,}", f"{series['numpy'][i]:.2f}"]
        for cs in chunks:
            row += [f"{series[f'stream {cs}'][i]:.2f}", f"{series[f'array {cs}'][i]:.2f}"]
        trows.append(row)
    text = _list_table(f"Time per element (ns) of ``y = {EXPRESSION_TEXT}``, float64, best "
                       f"of {REPEAT}.", header, trows)
    (outdir / "cpu_starvation_table.rst").write_text(text, encoding="utf-8")
    return (f"{len(sizes)} sizes from {sizes[0]:,} to {sizes[-1]:,} float64, chunks of "
            + " and ".join(f"{cs:,}" for cs in chunks) + f" records, best of {REPEAT}")


# --------------------------------------------------------------------------- build


# --------------------------------------------------------------------------- sketches


def _sketches(outdir: Path, n: int, common: Any, bs: Any, ps: Any) -> str:
    """Histogram vs np.histogram, quantile sketches vs DataSketches KLL: speedups."""
    x = np.random.default_rng(SEED).normal(size=n)
    ds = common.optional("datasketches")
    crick = common.optional("crick")
    ps.Histogram(bins=10, range=(-1.0, 1.0)).update(x)        # warm up
    bars: list[tuple[str, float]] = []
    rows: list[list[str]] = []
    for label, t_ps, t_np in bs.measure_histograms(ps, x, REPEAT):
        bars.append((f"Histogram, {label}", t_np / t_ps))
        rows.append([f"``Histogram``, {label}", _ns(t_ps, n), "``np.histogram``",
                     _ns(t_np, n), _x(t_np / t_ps)])
    for label, t, peer_t, peer in bs.measure_sketches(ps, x, REPEAT, ds, crick):
        if not label.startswith("pystream") or t is None:
            continue
        speed = peer_t / t if peer_t else None
        if speed is not None:
            bars.append((label.replace("pystream ", ""), speed))
        rows.append([f"``{label.replace('pystream ', '')}.update``", _ns(t, n), peer,
                     _ns(peer_t, n) if peer_t else "not installed",
                     _x(speed) if speed else ""])
    fig = _figure((10, 0.45 * len(bars) + 1.6))
    ax = fig.subplots()
    labels = [b[0] for b in bars][::-1]
    values = [b[1] for b in bars][::-1]
    ax.barh(labels, values, color=PEER_COLORS["pystream"])
    for i, v in enumerate(values):
        ax.text(v, i, f" {_x(v)}", va="center", fontsize=9)
    ax.axvline(1.0, color="black", lw=1)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(_ratio_formatter())
    ax.set_xlim(right=max(values + [1.0]) * 2.5)
    ax.set_xlabel("speedup = peer time / pystream time (log scale; > 1: pystream faster)")
    ax.set_title(f"Histogram vs np.histogram; quantile sketches vs DataSketches KLL "
                 f"(same k)\nn = {n:,} float64, best of {REPEAT}")
    _save(fig, outdir / "sketches.png")
    text = _list_table(f"n = {n:,} float64 normal values, best of {REPEAT}; ns per value",
                       ["pystream", "ns/value", "peer", "ns/value", "speedup"], rows,
                       [30, 10, 30, 10, 10])
    (outdir / "sketches_table.rst").write_text(text, encoding="utf-8")
    return f"n = {n:,}, best of {REPEAT}"


def _levels(outdir: Path, n: int, common: Any, ps: Any) -> str:
    """The same stages at every SIMD level of this machine: streamed ns/value."""
    best_of = common.best_of
    x = np.random.default_rng(SEED).normal(size=n)
    offered = ps.SIMD_LEVELS[: ps.SIMD_LEVELS.index(ps.machine().simd_best) + 1][::-1]
    stages = {
        f"moving_mean({WINDOW})": lambda: ps.from_array(x).moving_mean(WINDOW),
        f"moving_std({WINDOW})": lambda: ps.from_array(x).moving_std(WINDOW),
        "ewm_mean(alpha=0.02)": lambda: ps.from_array(x).ewm_mean(alpha=0.02),
        "cummean": lambda: ps.from_array(x).cummean(),
        "cumvar": lambda: ps.from_array(x).cumvar(),
        "describe(quantiles=())": None,
    }
    times: dict[str, dict[str, float]] = {name: {} for name in stages}
    try:
        for level in offered:
            ps.set_simd_level(level)
            for name, make in stages.items():
                if make is None:
                    t, _ = best_of(lambda: ps.from_array(x).describe(quantiles=()), REPEAT)
                else:
                    t, _ = best_of(lambda: _drain(make()), REPEAT)
                times[name][level] = t
    finally:
        ps.set_simd_level(None)
    rows = [[f"``{name}``"] + [_ns(times[name][lv], n) for lv in offered]
            + [_x(times[name][offered[-1]] / times[name][offered[0]])] for name in stages]
    text = _list_table(f"n = {n:,} float64 normal values, streamed, best of {REPEAT}; "
                       "ns per value at each SIMD level (every level gives the same bits)",
                       ["stage"] + list(offered) + [f"{offered[0]} vs {offered[-1]}"], rows,
                       [30] + [12] * len(offered) + [14])
    (outdir / "levels_table.rst").write_text(text, encoding="utf-8")
    return f"n = {n:,}, levels {', '.join(offered)}, best of {REPEAT}"


def build(outdir: Path) -> None:
    """Run the small benchmark and write the figures and tables into `outdir`."""
    import matplotlib

    matplotlib.use("Agg")
    import pystream as ps

    t0 = time.perf_counter()
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    scale = _scale()
    common, bw, bc, bs = _bench_modules()
    sections = {}
    sections["Windows"] = _windows(outdir, max(10_000, int(N_WINDOWS * scale)), bw, ps)
    sections["Reductions"] = _reductions(outdir, max(10_000, int(N_REDUCE * scale)),
                                         common, bc, ps)
    sections["SIMD levels"] = _levels(outdir, max(10_000, int(N_WINDOWS * scale)), common, ps)
    sections["Sketches"] = _sketches(outdir, max(10_000, int(N_SKETCH * scale)), common, bs, ps)
    sections["CPU starvation"] = _starvation(
        outdir, max(10 * STARVE_MIN, int(STARVE_MAX * scale)), ps)
    _write_machine(outdir / "machine.rst", ps, sections, time.perf_counter() - t0, scale)


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "_generated/perf"))
