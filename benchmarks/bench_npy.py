#!/usr/bin/env python3
"""Reading a large ``.npy`` file: peak memory and time of pystream against numpy, in one run.

The script writes one float64 ``.npy`` file of ``--gb`` gigabytes (default
2; it checks the free space first and removes the file at the end unless
``--keep``), reads it once to warm the page cache, then runs every case
``--repeat`` times, **each in a fresh subprocess** so that its peak resident
memory (``VmHWM`` of ``/proc/self/status``, which counts the pages of a
memory map the process touched as well as its own allocations) belongs to
that case alone:

* ``ps.from_npy(path).sum()`` -- pystream's ``.npy`` source (reads the data
  with ``readinto`` into a few reused chunk buffers);
* ``ps.from_file(path, "<f8", offset=header).sum()`` -- the raw-file source
  on the same bytes (the reference for pystream's reading cost);
* ``mmap views (old from_npy)`` -- what ``from_npy`` did before issue 15:
  chunk-sized views of ``np.load(path, mmap_mode="r")`` streamed through the
  same reducer (``ps.from_chunks``), so the cost of dropping zero-copy
  shows in one run;
* ``np.load(mmap_mode="r").sum()`` -- numpy on a memory map;
* ``np.load(path).sum()`` -- numpy reading the whole array into memory.

Columns: best wall time of the operation (imports and start-up excluded),
GB/s, time ratio to ``np.load(mmap_mode="r").sum()``, peak RSS, its growth
over the resident size before the operation, and the ratio of that growth
to from_file's.  The page cache is warm for every case (the file is smaller
than the free memory; the script says so if it is not), so the times
compare the cost of getting bytes from the cache into the sum, not disk
speed.  pystream's results must be bit-identical among its own cases
(chunk invariance) and close to numpy's (numpy's pairwise sum rounds
differently).

``--cold`` evicts the file's pages (``posix_fadvise(DONTNEED)`` on this
file only) before every case instead, so the times include the disk.

Usage::

    python benchmarks/bench_npy.py              # 2 GB, 3 repeats (~1-2 min)
    python benchmarks/bench_npy.py --gb 0.5 --repeat 1
    python benchmarks/bench_npy.py --gb 1 --repeat 1 --cold
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from _common import machine_line, print_table

HERE = os.path.dirname(os.path.abspath(__file__))

CASES = {
    "ps.from_npy(path).sum()": "from_npy",
    "ps.from_file(path, offset=hdr).sum()": "from_file",
    "mmap views (old from_npy)": "mmap_views",
    "np.load(mmap_mode='r').sum()": "np_mmap",
    "np.load(path).sum()": "np_load",
}
REFERENCE = "np.load(mmap_mode='r').sum()"


def _status(field: str) -> int:
    """A ``/proc/self/status`` field in kB (VmRSS, VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def run_case(case: str, path: str, offset: int) -> dict:
    """Run one case in this (fresh) process; return its time, result and memory."""
    tree = os.environ.get("BENCH_NPY_PYSTREAM")
    if tree:  # --baseline: that tree's pystream, ahead of this checkout's
        sys.path.insert(0, tree)
    import pystream as ps

    if tree:
        assert os.path.dirname(os.path.dirname(os.path.abspath(ps.__file__))) == tree

    def old_from_npy() -> float:
        mm = np.load(path, mmap_mode="r")
        cs = ps._config.default_chunk_size(mm.dtype)
        views = (mm[i:i + cs] for i in range(0, len(mm), cs))
        return ps.from_chunks(views, dtype=mm.dtype).sum()

    funcs = {
        "from_npy": lambda: ps.from_npy(path).sum(),
        "from_file": lambda: ps.from_file(path, "<f8", offset=offset).sum(),
        "mmap_views": old_from_npy,
        "np_mmap": lambda: float(np.load(path, mmap_mode="r").sum()),
        "np_load": lambda: float(np.load(path).sum()),
    }
    func = funcs[case]
    rss0 = _status("VmRSS")
    t0 = time.perf_counter()
    result = func()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "result": float(result), "rss0_kb": rss0,
            "hwm_kb": _status("VmHWM")}


def write_npy(path: str, nbytes: int) -> tuple[int, int]:
    """Write a float64 .npy of about `nbytes` bytes; return (records, data offset)."""
    n = nbytes // 8
    block = 1 << 22
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f8", "fortran_order": False, "shape": (n,)})
        offset = f.tell()
        base = np.arange(block, dtype=np.float64) * 1e-6
        for i in range(0, n, block):
            k = min(block, n - i)
            (base[:k] + (i // block) * 0.5).tofile(f)
    return n, offset


def warm(path: str) -> None:
    buf = bytearray(1 << 24)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass


def evict(path: str) -> None:
    """Drop this file's pages from the page cache (this file only; Linux)."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gb", type=float, default=2.0, help="file size in GB (default 2)")
    ap.add_argument("--repeat", type=int, default=3, help="fresh processes per case (best time)")
    ap.add_argument("--dir", default=None, help="where to write the file (default: a temporary "
                    "directory under /work/tmp if it exists, else the system's)")
    ap.add_argument("--keep", action="store_true", help="keep the file")
    ap.add_argument("--cold", action="store_true",
                    help="evict the file from the page cache before every case (posix_fadvise "
                         "DONTNEED on this file only) instead of warming it: times include "
                         "the disk")
    ap.add_argument("--cases", default=",".join(CASES.values()),
                    help="comma-separated subset of: " + ",".join(CASES.values()))
    ap.add_argument("--baseline", metavar="DIR",
                    help="also time from_npy from another pystream source tree (a directory "
                         "holding an importable pystream package with its compiled module), e.g. "
                         "the code before a change: `git archive REV pystream | tar -x -C DIR` "
                         "and copy pystream/_pystream_c*.so into DIR/pystream")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--offset", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:  # a child process: one case
        print(json.dumps(run_case(args.case, args.path, args.offset)))
        return

    nbytes = int(args.gb * 1e9)
    parent = args.dir or ("/work/tmp" if os.path.isdir("/work/tmp") else None)
    tmpdir = tempfile.mkdtemp(prefix="bench_npy_", dir=parent)
    free = shutil.disk_usage(tmpdir).free
    if free < 2 * nbytes:
        shutil.rmtree(tmpdir)
        sys.exit(f"bench_npy: {tmpdir} has {free / 1e9:.1f} GB free; need {2 * nbytes / 1e9:.1f}")
    path = os.path.join(tmpdir, "big.npy")
    try:
        print(machine_line())
        t0 = time.perf_counter()
        n, offset = write_npy(path, nbytes)
        cache = ("evicted from the page cache before every case (cold: times include the "
                 "disk)" if args.cold else "page cache warmed before every case")
        print(f"file: {path}, {n:,} float64 ({os.path.getsize(path) / 1e9:.2f} GB), written in "
              f"{time.perf_counter() - t0:.1f} s; {cache}")
        try:
            if args.cold:
                raise ValueError
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            if avail < 1.5 * nbytes:
                print(f"NOTE: only {avail / 1e9:.1f} GB of free memory: the file may not stay "
                      "in the page cache, so times include disk reads", file=sys.stderr)
        except (ValueError, OSError):
            pass
        wanted = set(args.cases.split(","))
        todo = [(label, case, None) for label, case in CASES.items() if case in wanted]
        if args.baseline:
            base = os.path.basename(os.path.normpath(args.baseline))
            todo.insert(1, (f"ps.from_npy(path).sum() [baseline {base}]", "from_npy",
                            os.path.abspath(args.baseline)))
        runs: dict[str, list[dict]] = {label: [] for label, _, _ in todo}
        for _ in range(max(1, args.repeat)):  # round robin: a busy spell hits every case
            for label, case, pythonpath in todo:
                evict(path) if args.cold else warm(path)
                env = dict(os.environ)
                env.pop("BENCH_NPY_PYSTREAM", None)
                if pythonpath:
                    env["BENCH_NPY_PYSTREAM"] = pythonpath
                out = subprocess.run(
                    [sys.executable, os.path.abspath(__file__), "--case", case, "--path", path,
                     "--offset", str(offset)],
                    check=True, capture_output=True, text=True, cwd=HERE, env=env)
                runs[label].append(json.loads(out.stdout))
        results: dict[str, dict] = {}
        for label, rs in runs.items():
            best = min(rs, key=lambda r: r["seconds"])
            best["hwm_kb"] = max(r["hwm_kb"] for r in rs)
            best["growth_kb"] = max(r["hwm_kb"] - r["rss0_kb"] for r in rs)
            results[label] = best
    finally:
        if not args.keep:
            shutil.rmtree(tmpdir, ignore_errors=True)

    ref = results.get(REFERENCE)
    raw = results.get("ps.from_file(path, offset=hdr).sum()")
    rows = []
    for label, r in results.items():
        rows.append([
            label,
            f"{r['seconds']:.3f}",
            f"{nbytes / r['seconds'] / 1e9:.2f}",
            f"{r['seconds'] / ref['seconds']:.2f}x" if ref else "",
            f"{r['hwm_kb'] / 1024:.0f}",
            f"{r['growth_kb'] / 1024:.0f}",
            f"{r['growth_kb'] / max(raw['growth_kb'], 1):.1f}x" if raw else "",
        ])
    print()
    print_table(["case", "seconds", "GB/s", "vs np mmap", "peak RSS MB", "growth MB",
                 "growth vs from_file"], rows)
    if args.baseline:
        print(f"\nbaseline: pystream imported from {os.path.abspath(args.baseline)}")
    ps_results = {k: v["result"] for k, v in results.items() if not k.startswith("np.")}
    if len(set(ps_results.values())) > 1:
        print(f"WARNING: pystream results differ: {ps_results}", file=sys.stderr)
    for k, v in results.items():
        if k.startswith("np.") and ps_results:
            first = next(iter(ps_results.values()))
            if not np.isclose(v["result"], first, rtol=1e-9):
                print(f"WARNING: {k} = {v['result']!r} far from pystream's {first!r}",
                      file=sys.stderr)


if __name__ == "__main__":
    main()
