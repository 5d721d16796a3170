"""Timing and table helpers shared by the benchmark scripts (not a package)."""

from __future__ import annotations

import gc
import importlib
import os
import platform
import sys
import time
from typing import Any, Callable, Sequence

import numpy as np

NOT_INSTALLED = "not installed"

# Run the benchmarks against the source tree they live in when pystream is
# not installed (e.g. `python benchmarks/bench_core.py` from a checkout
# after an in-place build).
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(1, _ROOT)


def best_of(func: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls of ``func`` (gc off while timing).

    The first call also warms caches and page tables; the minimum over the
    repeats is reported, as ``timeit`` recommends.  Returns (seconds, the
    result of the last call) so callers can check the results agree.
    """
    times = []
    result = None
    for _ in range(max(1, repeat)):
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            result = func()
            times.append(time.perf_counter() - t0)
        finally:
            gc.enable()
    return min(times), result


def optional(name: str) -> Any | None:
    """Import an optional peer; None if it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def version_of(module: Any) -> str:
    return getattr(module, "__version__", "?") if module is not None else NOT_INSTALLED


def default_chunk_size(dtype: Any = np.float64, fallback: int = 32768) -> int:
    """The library's default chunk size in records for ``dtype`` scalars."""
    cfg = optional("pystream._config")
    func = getattr(cfg, "default_chunk_size", None) if cfg is not None else None
    if callable(func):
        return int(func(dtype))
    return fallback


def machine_line() -> str:
    """The CPU, its SIMD extensions, the SIMD level pystream's kernels run at
    (``pystream.machine()``), Python and numpy: the first line of every table."""
    ps = optional("pystream")
    info = getattr(ps, "machine", None)
    if callable(info):
        return f"{info().line()}; Python {platform.python_version()}, numpy {np.__version__}"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cpus, Python {platform.python_version()}, "
            f"numpy {np.__version__}")


def ratio(t: float | None, ref: float | None) -> str:
    if t is None or ref is None or ref <= 0:
        return ""
    return f"{t / ref:.2f}x"


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]],
                file: Any = None) -> None:
    file = file or sys.stdout
    widths = [max(len(str(header[i])), *(len(str(r[i])) for r in rows))
              for i in range(len(header))]
    def line(cells: Sequence[str]) -> str:
        out = [str(cells[0]).ljust(widths[0])]
        out += [str(c).rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return "  ".join(out).rstrip()
    print(line(header), file=file)
    print("  ".join("-" * w for w in widths), file=file)
    for r in rows:
        print(line(r), file=file)
    file.flush()


class CpuMeter:
    """CPU used by *other* processes while a section ran (Linux /proc; else nothing).

    On a 2-core machine a competing process takes a core away from the
    threads engine, so each table reports how many cores others used.
    """

    def __init__(self, pids: tuple[int, ...] = ()) -> None:
        self.pids = pids
        self.start = self._snap()

    def _snap(self) -> tuple[float, float, float] | None:
        try:
            with open("/proc/stat") as f:
                v = [int(t) for t in f.readline().split()[1:]]
            own = 0
            for pid in ("self", *self.pids):
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                own += int(fields[11]) + int(fields[12])   # utime + stime
            busy = sum(v[:8]) - v[3] - v[4]                  # all but idle and iowait
            return time.perf_counter(), float(busy), float(own)
        except (OSError, ValueError, IndexError):
            return None

    def others(self) -> float | None:
        """Average number of cpus used by other processes since construction."""
        end = self._snap()
        if self.start is None or end is None or end[0] <= self.start[0]:
            return None
        hz = os.sysconf("SC_CLK_TCK")
        busy = (end[1] - self.start[1]) - (end[2] - self.start[2])
        return max(0.0, busy / hz / (end[0] - self.start[0]))


def wait_idle(limit: float, where: str) -> None:
    """Wait up to `limit` seconds for a 2 s window in which others use < 0.1 cpu."""
    if limit <= 0:
        return
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        m = CpuMeter()
        time.sleep(2)
        o = m.others()
        if o is None or o < 0.1:
            return
    print(f"WARNING: the machine did not become idle within {limit:.0f} s {where}",
          file=sys.stderr)
