#!/usr/bin/env python3
"""Tables (issue 18): ``from_parquet`` and ``from_csv`` against polars, pyarrow and pandas.

Four parts, every contender in this process on the same file, best of
``--repeat`` (gc off), results checked to agree (a ``WARNING:`` line on
stderr if not):

1. **Parquet describe**: a float64 Parquet file of ``--n`` rows x 4 columns
   (row groups of ``--row-group`` rows) summarised per column (count of
   non-null, mean, std with ddof=1, min, max):

   * ``ps.from_parquet(path, columns=COLS).describe(quantiles=(), ddof=1)``;
   * polars ``pl.scan_parquet(path).select(COLS).describe(percentiles=None)``
     (count, null_count, mean, std, min, max; its own collect);
   * polars ``pl.scan_parquet(path).select([count, mean, std, min, max of
     each column]).collect(engine="streaming")`` (the same aggregations
     without describe's formatting, on the streaming engine);
   * pyarrow ``ParquetFile(path).iter_batches(columns=COLS)`` + numpy
     per batch (count, mean, M2, min, max merged batch by batch, Chan et al.).

   **1b. Breakdown** (first 10 row groups of the same file, ns per value):
   pyarrow's read alone, read + conversion to ``(n, 4)`` records, pystream's
   describe of the same records in memory, four scalar describes, and
   ``from_parquet`` drained: where pystream's time goes.

2. **CSV describe**: a CSV of about ``--csv-mb`` MB (a ``time`` column
   ``2024-01-01 00:00:00``, 4 numeric columns with 4 decimals, about 2 %
   of the fields empty = missing), the 4 numeric columns summarised the same
   way: ``ps.from_csv(path, columns=COLS).describe(quantiles=(), ddof=1,
   nan_policy="omit")``; ``pandas.read_csv(usecols=COLS, chunksize=)`` with
   the same per-chunk accumulation as pyarrow's; polars ``scan_csv`` with
   describe and with the streaming engine as above.  ``ps.from_text``
   (numeric text only: an empty field is an error) runs on a twin file, the
   same rows with ``nan`` written for the missing fields, skipping the time
   column with ``usecols`` and the header with ``skiprows=1``.

3. **Threads on Parquet**: a Parquet file (4 columns, one read) of ``--threads-n``
   rows in 16 row groups, ``from_parquet(path, columns="a")
   .moving_median(101).to_array()`` with ``engine="local"`` and
   ``engine="threads", workers=2`` (alternating, best of ``--repeat``):
   speed-up = local / threads, results bit-identical; also with
   ``partition_size=n/2`` (one partition per worker: a windowed stage's
   warm-up makes each partition decode the whole row group before it), and
   the same three on ``from_array`` of the same values (the engine without
   the reading).

4. **Peak RSS**: each contender of part 1 in a fresh subprocess on a
   Parquet file of ``--rss-gb`` GB of float64 data (``VmHWM`` of the child,
   and its growth over the resident size after imports).

Ratios ``x ps`` are *this row's time / pystream's time* (peer / pystream:
``1.50x`` = pystream 1.5 times faster); each target line says ``PASS`` or
``SHORT``.  Files are written once into ``--data-dir`` (default
``benchmarks/.data/``, gitignored) and reused.

Usage::

    python benchmarks/bench_tables.py              # 1e8 rows (3.2 GB), 300 MB CSV, 5 GB RSS file
    python benchmarks/bench_tables.py --quick      # 1e6 rows, 10 MB CSV, 0.2 GB RSS file
    python benchmarks/bench_tables.py --parts csv,threads --wait-idle 120
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any, Callable

import numpy as np

from _common import (NOT_INSTALLED, CpuMeter, best_of, machine_line, optional,
                     print_table, version_of, wait_idle)

HERE = os.path.dirname(os.path.abspath(__file__))
COLS = ["a", "b", "c", "d"]
WINDOW = 101
WAIT = [30.0]  # --wait-idle: seconds to wait for the other processes to calm down


# --------------------------------------------------------------------------- data


def _values(rng: np.random.Generator, rows: int) -> list[np.ndarray]:
    """Four float64 columns of different shapes (prices, returns, sizes, noise)."""
    return [np.round(rng.normal(100.0, 15.0, rows), 4),
            rng.standard_normal(rows) * 1e-3,
            np.round(rng.lognormal(3.0, 1.0, rows), 4),
            rng.uniform(-1.0, 1.0, rows)]


def write_parquet(path: str, n: int, row_group: int, compression: str, seed: int = 0) -> None:
    """A float64 Parquet file of `n` rows x COLS, in row groups of `row_group` rows (once)."""
    if os.path.exists(path):
        return
    import pyarrow as pa
    import pyarrow.parquet as pq
    schema = pa.schema([(c, pa.float64()) for c in COLS])
    rng = np.random.default_rng(seed)
    tmp = path + ".partial"
    print(f"writing {path} ({n:,} rows, {n * 32 / 1e9:.2f} GB of values)...", flush=True)
    with pq.ParquetWriter(tmp, schema, compression=compression) as w:
        done = 0
        while done < n:
            rows = min(row_group, n - done)
            w.write_table(pa.table(_values(rng, rows), schema=schema), row_group_size=rows)
            done += rows
    os.replace(tmp, path)


def write_csv(path: str, twin: str, mb: float, seed: int = 0) -> int:
    """A CSV of about `mb` MB (time + COLS, ~2 % empty fields) and its twin with ``nan``."""
    rows_file = path + ".rows"
    if os.path.exists(path) and os.path.exists(twin) and os.path.exists(rows_file):
        with open(rows_file) as f:
            return int(f.read())
    import pyarrow as pa
    import pyarrow.csv as pacsv
    rng = np.random.default_rng(seed)
    block, nrows = 100_000, 0
    t0 = np.datetime64("2024-01-01T00:00:00", "s")
    print(f"writing {path} and its twin (~{mb:g} MB each)...", flush=True)
    with open(path + ".partial", "wb") as f, open(twin + ".partial", "wb") as g:
        opts = pacsv.WriteOptions(include_header=True)
        while f.tell() < mb * 1e6:
            cols = _values(rng, block)
            missing = [rng.random(block) < 0.02 for _ in COLS]
            time = pa.array(t0 + np.arange(nrows, nrows + block), pa.timestamp("s"))
            with_null = [pa.array(c, mask=m) for c, m in zip(cols, missing)]
            with_nan = [pa.array(np.where(m, np.nan, c)) for c, m in zip(cols, missing)]
            pacsv.write_csv(pa.table([time, *with_null], names=["time", *COLS]), f, opts)
            pacsv.write_csv(pa.table([time, *with_nan], names=["time", *COLS]), g, opts)
            opts = pacsv.WriteOptions(include_header=False)
            nrows += block
    os.replace(path + ".partial", path)
    os.replace(twin + ".partial", twin)
    with open(rows_file, "w") as f:
        f.write(str(nrows))
    return nrows


# --------------------------------------------------------------------------- contenders


class Acc:
    """Per-column count, mean, M2, min, max of non-missing values, merged chunk
    by chunk (Chan et al.): what a numpy user writes for a streamed describe."""

    def __init__(self, k: int) -> None:
        self.n = np.zeros(k, np.int64)
        self.mean, self.m2 = np.zeros(k), np.zeros(k)
        self.lo, self.hi = np.full(k, np.inf), np.full(k, -np.inf)

    def add(self, i: int, a: np.ndarray) -> None:
        nb = a.size
        if nb == 0:
            return
        mb = a.mean()
        d = a - mb
        m2b = float(np.dot(d, d))
        n = self.n[i] + nb
        delta = mb - self.mean[i]
        self.mean[i] += delta * nb / n
        self.m2[i] += m2b + delta * delta * self.n[i] * nb / n
        self.n[i] = n
        self.lo[i] = min(self.lo[i], a.min())
        self.hi[i] = max(self.hi[i], a.max())

    def result(self) -> dict[str, np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore"):
            std = np.sqrt(self.m2 / (self.n - 1))
        return {"count": self.n, "mean": self.mean, "std": std, "min": self.lo, "max": self.hi}


def ps_stats(d: Any) -> dict[str, np.ndarray]:
    return {k: np.asarray(getattr(d, k), dtype=float)
            for k in ("count", "mean", "std", "min", "max")}


def polars_describe(lf: Any) -> dict[str, np.ndarray]:
    df = lf.describe(percentiles=None)
    stat = df["statistic"].to_list()
    return {k: np.array([float(df[c][stat.index(k)]) for c in COLS])
            for k in ("count", "mean", "std", "min", "max")}


def polars_streaming(pl: Any, lf: Any) -> dict[str, np.ndarray]:
    aggs = []
    for c in COLS:
        col = pl.col(c)
        aggs += [col.count().alias(f"{c}.count"), col.mean().alias(f"{c}.mean"),
                 col.std().alias(f"{c}.std"), col.min().alias(f"{c}.min"),
                 col.max().alias(f"{c}.max")]
    row = lf.select(aggs).collect(engine="streaming").row(0, named=True)
    return {k: np.array([float(row[f"{c}.{k}"]) for c in COLS])
            for k in ("count", "mean", "std", "min", "max")}


def pyarrow_batches(path: str, batch_size: int) -> dict[str, np.ndarray]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    acc = Acc(len(COLS))
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=COLS):
        for i in range(len(COLS)):
            col = batch.column(i)
            if col.null_count:
                col = pc.drop_null(col)
            acc.add(i, col.to_numpy(zero_copy_only=False))
    return acc.result()


def pandas_chunked(pd: Any, path: str, chunksize: int) -> dict[str, np.ndarray]:
    acc = Acc(len(COLS))
    for df in pd.read_csv(path, usecols=COLS, dtype=np.float64, chunksize=chunksize):
        for i, c in enumerate(COLS):
            a = df[c].to_numpy()
            acc.add(i, a[~np.isnan(a)])
    return acc.result()


def check(name: str, got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    for k, w in want.items():
        g = got[k]
        ok = (np.array_equal(g, w) if k == "count"
              else np.allclose(g, w, rtol=1e-9 if k in ("mean", "std") else 1e-12, atol=0))
        if not ok:
            print(f"WARNING: {name}: {k} {g} differs from pystream's {w}", file=sys.stderr)


def verdict(r: float | None, goal: float | None) -> str:
    return "" if r is None or goal is None else ("PASS" if r >= goal else "SHORT")


def run_contenders(title: str, contenders: list[tuple[str, Callable[[], Any] | None, str]],
                   nbytes: int, repeat: int, ref: str, ref2: str | None = None) -> dict[str, float]:
    """Time each (name, function or None, note); print the table; return the times."""
    times: dict[str, float] = {}
    results: dict[str, Any] = {}
    failed: set[str] = set()
    wait_idle(WAIT[0], f"before {title.split(':')[0]}")
    meter = CpuMeter()
    for name, func, _ in contenders:
        if func is None:
            continue
        try:
            times[name], results[name] = best_of(func, repeat)
        except Exception as e:  # a peer's API change must not hide the other rows
            failed.add(name)
            print(f"WARNING: {name} raised {type(e).__name__}: {e}", file=sys.stderr)
    want = results.get(ref)
    for name, r in results.items():
        if want is not None and name != ref:
            check(name, r, want)
    header = ["name", "seconds", "MB/s", f"x {ref.split('(')[0]}"]
    if ref2:
        header.append(f"x {ref2.split('(')[0]}")
    rows = []
    for name, _, note in contenders:
        t = times.get(name)
        if t is None:
            rows.append([name, "failed" if name in failed else NOT_INSTALLED, "", "",
                         *([""] if ref2 else []), note])
            continue
        row = [name, f"{t:.3f}", f"{nbytes / t / 1e6:,.0f}",
               f"{t / times[ref]:.2f}x" if ref in times else ""]
        if ref2:
            row.append(f"{t / times[ref2]:.2f}x" if ref2 in times else "")
        rows.append(row + [note])
    others = meter.others()
    print(title)
    if others is not None:
        print(f"(other processes used {others:.2f} cpu on average meanwhile)")
    print_table(header + ["note"], rows)
    return times


def targets(lines: list[tuple[str, float | None, float | None]]) -> None:
    rows = [[what, "" if r is None else f"{r:.2f}x", "" if goal is None else f">= {goal:.2f}x",
             verdict(r, goal)]
            for what, r, goal in lines]
    print_table(["target (peer time / pystream time)", "ratio", "goal", ""], rows)


def over(times: dict[str, float], a: str, b: str) -> float | None:
    return times[a] / times[b] if a in times and b in times else None


# --------------------------------------------------------------------------- parts


def part_parquet(ps: Any, pl: Any, args: Any) -> None:
    path = os.path.join(args.data_dir, f"describe_{args.n:.0f}x4_rg{args.row_group}"
                                       f"_{args.compression}.parquet")
    write_parquet(path, args.n, args.row_group, args.compression)
    nbytes = args.n * 8 * len(COLS)
    psn = "ps.from_parquet().describe()"
    contenders = [
        (psn, lambda: ps_stats(ps.from_parquet(path, columns=COLS)
                               .describe(quantiles=(), ddof=1)), "quantiles=(), ddof=1"),
        ("polars describe", pl and (lambda: polars_describe(pl.scan_parquet(path).select(COLS))),
         "scan_parquet.select.describe(percentiles=None)"),
        ("polars streaming", pl and (lambda: polars_streaming(pl, pl.scan_parquet(path))),
         "scan_parquet.select(aggs).collect(engine='streaming')"),
        ("pyarrow + numpy", lambda: pyarrow_batches(path, args.batch_size),
         f"iter_batches(batch_size={args.batch_size}), per batch"),
    ]
    print()
    times = run_contenders(f"== 1. Parquet describe: {path} ({os.path.getsize(path) / 1e9:.2f} GB "
                           f"on disk, {nbytes / 1e9:.2f} GB of float64, {args.n:,} rows x 4, "
                           f"row groups of {args.row_group:,}); MB/s of values",
                           contenders, nbytes, args.repeat, psn)
    targets([("polars describe / ps", over(times, "polars describe", psn), 1.0),
             ("polars streaming / ps", over(times, "polars streaming", psn), 1.0),
             ("pyarrow + numpy / ps", over(times, "pyarrow + numpy", psn), 1.0)])


def part_breakdown(ps: Any, args: Any) -> None:
    """Where pystream's Parquet describe spends its time, step by step (ns per value)."""
    import pyarrow.parquet as pq
    path = os.path.join(args.data_dir, f"describe_{args.n:.0f}x4_rg{args.row_group}"
                                       f"_{args.compression}.parquet")
    pf = pq.ParquetFile(path)
    groups = list(range(min(pf.num_row_groups, 10)))
    rows_n = sum(pf.metadata.row_group(g).num_rows for g in groups)
    nv = rows_n * len(COLS)

    def read(interleave: bool) -> None:
        for b in pq.ParquetFile(path).iter_batches(batch_size=65_536, row_groups=groups,
                                                   columns=COLS):
            if interleave:
                out = np.empty((b.num_rows, len(COLS)))
                for j in range(len(COLS)):
                    out[:, j] = b.column(j).to_numpy()

    x = np.empty((rows_n, len(COLS)))
    for j, c in enumerate(COLS):
        x[:, j] = pf.read_row_groups(groups, columns=[c]).column(0).to_numpy()
    cols = [np.ascontiguousarray(x[:, j]) for j in range(len(COLS))]
    steps = [
        ("pyarrow iter_batches(65536), read only", lambda: read(False)),
        ("  + each batch to (n, 4) float64 records", lambda: read(True)),
        ("ps.from_array(x (n, 4)).describe(q=())", lambda: ps.from_array(x).describe(quantiles=())),
        ("4 x ps.from_array(column).describe(q=())",
         lambda: [ps.from_array(c).describe(quantiles=()) for c in cols]),
        ("ps.Moments().update(x (n, 4))", lambda: ps.Moments().update(x).result()),
        ("ps.from_parquet(path, COLS).take(rows) drained",
         lambda: [None for _ in ps.from_parquet(path, columns=COLS).take(rows_n)]),
    ]
    rows = []
    for name, f in steps:
        t, _ = best_of(f, args.repeat)
        rows.append([name, f"{t:.3f}", f"{t / nv * 1e9:.2f}"])
    print()
    print(f"== 1b. breakdown of the Parquet describe, first {len(groups)} row groups "
          f"({rows_n:,} rows x 4) of the same file, in this process")
    print_table(["step", "seconds", "ns/value"], rows)


def part_csv(ps: Any, pl: Any, pd: Any, args: Any) -> None:
    path = os.path.join(args.data_dir, f"describe_{args.csv_mb:g}MB.csv")
    twin = os.path.join(args.data_dir, f"describe_{args.csv_mb:g}MB_nan.csv")
    nrows = write_csv(path, twin, args.csv_mb)
    size = os.path.getsize(path)
    psn, txt = "ps.from_csv().describe()", "ps.from_text().describe()"
    opts = dict(quantiles=(), ddof=1, nan_policy="omit")
    contenders = [
        (psn, lambda: ps_stats(ps.from_csv(path, columns=COLS).describe(**opts)),
         "columns=COLS; nan_policy='omit', ddof=1"),
        ("ps.from_csv(time=).describe()",
         lambda: ps_stats(ps.from_csv(path, columns=COLS, time="time").describe(**opts)),
         "the time column parsed too"),
        (txt, lambda: ps_stats(ps.from_text(twin, delimiter=",", usecols=[1, 2, 3, 4],
                                            skiprows=1).describe(**opts)),
         "twin file ('nan' for missing)"),
        ("pandas chunked", pd and (lambda: pandas_chunked(pd, path, args.pandas_chunksize)),
         f"read_csv(usecols, chunksize={args.pandas_chunksize}), per chunk"),
        ("polars describe", pl and (lambda: polars_describe(
            pl.scan_csv(path, schema_overrides={c: pl.Float64 for c in COLS}).select(COLS))),
         "scan_csv.select.describe(percentiles=None)"),
        ("polars streaming", pl and (lambda: polars_streaming(
            pl, pl.scan_csv(path, schema_overrides={c: pl.Float64 for c in COLS}))),
         "scan_csv.select(aggs).collect(engine='streaming')"),
    ]
    print()
    times = run_contenders(f"== 2. CSV describe: {path} ({size / 1e6:.0f} MB, {nrows:,} rows, "
                           f"time + 4 numeric columns, ~2 % empty); MB/s of file",
                           contenders, size, args.repeat, psn, txt)
    targets([("pandas chunked / ps.from_csv", over(times, "pandas chunked", psn), 1.0),
             ("polars describe / ps.from_csv (within 1.25x)",
              over(times, "polars describe", psn), 0.8),
             ("polars streaming / ps.from_csv (within 1.25x)",
              over(times, "polars streaming", psn), 0.8),
             ("pandas chunked / ps.from_text (no target)",
              over(times, "pandas chunked", txt), None),
             ("polars describe / ps.from_text (no target)",
              over(times, "polars describe", txt), None)])


def part_threads(ps: Any, args: Any) -> None:
    rg = -(-args.threads_n // 16)
    path = os.path.join(args.data_dir, f"threads_{args.threads_n:.0f}x4_rg{rg}"
                                       f"_{args.compression}.parquet")
    write_parquet(path, args.threads_n, rg, args.compression, seed=1)

    import pyarrow.parquet as pq
    x = pq.read_table(path, columns=["a"]).column(0).to_numpy()

    def parquet(**kw: Any) -> np.ndarray:
        return ps.from_parquet(path, columns="a").moving_median(WINDOW).to_array(**kw)

    def memory(**kw: Any) -> np.ndarray:
        return ps.from_array(x).moving_median(WINDOW).to_array(**kw)

    wait_idle(WAIT[0], "before the threads table")
    half = -(-args.threads_n // 2)
    configs = [("local", {"engine": "local"}),
               ("threads 2", {"engine": "threads", "workers": 2}),
               (f"threads 2, partition_size={half:,}",
                {"engine": "threads", "workers": 2, "partition_size": half})]
    rows = []
    for label, run in (("from_parquet", parquet), ("from_array (same values, reference)", memory)):
        best = dict.fromkeys((c for c, _ in configs), np.inf)
        res: dict[str, np.ndarray] = {}
        meter = CpuMeter()
        for _ in range(args.repeat):  # alternating, so all see the same machine
            for name, kw in configs:
                t, res[name] = best_of(lambda: run(**kw), 1)
                best[name] = min(best[name], t)
        others = meter.others()
        for name, _ in configs:
            sp = best["local"] / best[name]
            same = res["local"].tobytes() == res[name].tobytes()
            if not same:
                print(f"WARNING: {label}, {name}: not bit-identical to the local result",
                      file=sys.stderr)
            goal = ((">= 1.60x", verdict(sp, 1.6)) if (label, name) == ("from_parquet", "threads 2")
                    else ("", ""))
            rows.append([f"{label}, {name}", f"{best[name]:.3f}",
                         f"{best[name] / args.threads_n * 1e9:.1f}",
                         "" if name == "local" else f"{sp:.2f}x", *goal,
                         "" if name == "local" else ("yes" if same else "NO"),
                         "" if others is None or name != "local" else f"{others:.2f}"])
    print()
    print(f"== 3. threads on Parquet: {path} ({args.threads_n:,} rows, 16 row groups of {rg:,}); "
          f"moving_median({WINDOW}) of column 'a', to_array(); engine='threads', workers=2")
    print_table(["source, engine", "seconds", "ns/value", "speedup", "goal", "", "identical",
                 "others"], rows)


RSS_CASES = ("ps.from_parquet().describe()", "polars describe", "polars streaming",
             "pyarrow + numpy")


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_child(case: str, path: str, batch_size: int) -> None:
    """One contender in this fresh process: JSON with its time and memory."""
    import time
    import pyarrow.parquet  # noqa: F401  (imports before the baseline)
    import pystream as ps
    pl = optional("polars") if case.startswith("polars") else None  # only where used
    base = _status_kb("VmRSS")
    t0 = time.perf_counter()
    if case == RSS_CASES[0]:
        r = ps_stats(ps.from_parquet(path, columns=COLS).describe(quantiles=(), ddof=1))
    elif case == RSS_CASES[1]:
        r = polars_describe(pl.scan_parquet(path).select(COLS))
    elif case == RSS_CASES[2]:
        r = polars_streaming(pl, pl.scan_parquet(path))
    else:
        r = pyarrow_batches(path, batch_size)
    print(json.dumps({"seconds": time.perf_counter() - t0, "hwm_kb": _status_kb("VmHWM"),
                      "base_kb": base, "count": r["count"].tolist(), "mean": r["mean"].tolist()}))


def part_rss(pl: Any, args: Any) -> None:
    n = int(args.rss_gb * 1e9 / 32 + 0.5)
    path = os.path.join(args.data_dir, f"rss_{n:.0f}x4_rg{args.row_group}"
                                       f"_{args.compression}.parquet")
    write_parquet(path, n, args.row_group, args.compression, seed=2)
    rows, first = [], None
    for case in RSS_CASES:
        if case.startswith("polars") and pl is None:
            rows.append([case, NOT_INSTALLED, "", "", "", ""])
            continue
        p = subprocess.run([sys.executable, os.path.abspath(__file__), "--rss-child", case, path,
                            "--batch-size", str(args.batch_size)],
                           capture_output=True, text=True, cwd=HERE)
        if p.returncode != 0:
            print(f"WARNING: {case} (child) failed: {p.stderr.strip()[-500:]}", file=sys.stderr)
            rows.append([case, "failed", "", "", "", ""])
            continue
        r = json.loads(p.stdout.strip().splitlines()[-1])
        first = first or r
        if r["count"] != first["count"] or not np.allclose(r["mean"], first["mean"], rtol=1e-9):
            print(f"WARNING: {case}: count/mean differ from pystream's", file=sys.stderr)
        mb = r["hwm_kb"] / 1024
        goal = ("< 200", "PASS" if mb < 200 else "SHORT") if case == RSS_CASES[0] else ("", "")
        rows.append([case, f"{r['seconds']:.2f}", f"{mb:,.0f}",
                     f"{(r['hwm_kb'] - r['base_kb']) / 1024:,.0f}", *goal])
    print()
    print(f"== 4. peak RSS, one fresh process per contender: {path} "
          f"({n * 32 / 1e9:.2f} GB of float64, {n:,} rows x 4)")
    print_table(["contender", "seconds", "peak RSS MB", "growth MB", "goal MB", ""], rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="small sizes: --n 1e6 --csv-mb 10 --threads-n 1.6e6 --rss-gb 0.2")
    p.add_argument("--n", type=float, default=None, help="Parquet rows for part 1 (default 1e8)")
    p.add_argument("--row-group", type=float, default=1 << 20, help="rows per row group")
    p.add_argument("--csv-mb", type=float, default=None, help="CSV size (default 300 MB)")
    p.add_argument("--threads-n", type=float, default=None, help="rows of part 3 (default 1.6e7)")
    p.add_argument("--rss-gb", type=float, default=None,
                   help="GB of float64 values in part 4's file (default 5)")
    p.add_argument("--parts", default="parquet,breakdown,csv,threads,rss")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=1 << 18, help="pyarrow iter_batches rows")
    p.add_argument("--pandas-chunksize", type=int, default=1 << 18)
    p.add_argument("--compression", default="snappy", help="Parquet codec (default snappy)")
    p.add_argument("--data-dir", default=os.path.join(HERE, ".data"))
    p.add_argument("--wait-idle", type=float, default=30.0,
                   help="seconds to wait for other processes to go idle before each table")
    p.add_argument("--rss-child", nargs=2, metavar=("CASE", "PATH"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rss_child:
        rss_child(args.rss_child[0], args.rss_child[1], args.batch_size)
        return 0
    q = args.quick
    args.n = int(args.n if args.n is not None else (1e6 if q else 1e8))
    args.row_group = int(args.row_group)
    args.csv_mb = args.csv_mb if args.csv_mb is not None else (10.0 if q else 300.0)
    args.threads_n = int(args.threads_n if args.threads_n is not None else (1.6e6 if q else 1.6e7))
    args.rss_gb = args.rss_gb if args.rss_gb is not None else (0.2 if q else 5.0)
    parts = set(args.parts.split(","))
    WAIT[0] = args.wait_idle
    os.makedirs(args.data_dir, exist_ok=True)

    import pystream as ps
    pl, pd, pa = optional("polars"), optional("pandas"), optional("pyarrow")
    if pa is None:
        print("bench_tables needs pyarrow: pip install pystream-numeric[arrow]", file=sys.stderr)
        return 1
    print(f"machine: {machine_line()}")
    print(f"bench_tables: best of {args.repeat}; pyarrow {version_of(pa)}, "
          f"polars {version_of(pl)}, pandas {version_of(pd)}; data in {args.data_dir}")
    if "parquet" in parts:
        part_parquet(ps, pl, args)
    if "breakdown" in parts:
        part_breakdown(ps, args)
    if "csv" in parts:
        part_csv(ps, pl, pd, args)
    if "threads" in parts:
        part_threads(ps, args)
    if "rss" in parts:
        part_rss(pl, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
