#!/usr/bin/env python3
"""Streaming text parsing: ``ps.from_text(...).describe()`` against peers.

On a generated CSV of about ``--mb`` MB (default 100), with 1 and with 4
columns (and on the 4-column file with ``usecols=1``: one column read, the
others skipped; pystream still checks every row's field count), best of
``--repeat`` runs, all in this process:

* ``np.loadtxt``                   parse the whole file into memory, then
  mean / var / min / max (numpy 2's C parser; memory grows with the file);
* ``pandas.read_csv(chunksize=)``  streamed with pandas' C parser, per
  chunk count / sum / sum of squares / min / max (bounded memory, the usual
  streaming idiom);
* ``pandas.read_csv`` whole file, then the same four numpy reductions;
* ``ps.from_text(...).describe()`` streamed, one pass, bounded memory.

Ratios are time / time of the row named in the header (``vs loadtxt``,
``vs pandas chunked``).  The CSV files are kept in ``--dir`` (default: a
``pystream-bench`` folder in the temp directory) and reused across runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Any

import numpy as np

from _common import (NOT_INSTALLED, best_of, machine_line, optional,
                     print_table, ratio, version_of)


def make_csv(path: str, mb: float, ncols: int, seed: int = 0) -> int:
    """Write a CSV of about ``mb`` MB with ``ncols`` float columns, in chunks.

    Returns its number of rows.  Reused when it already exists.
    """
    target = int(mb * 1e6)
    rows_file = path + ".rows"
    if os.path.exists(path) and os.path.exists(rows_file):
        with open(rows_file) as f:
            return int(f.read())
    rng = np.random.default_rng(seed)
    block = 200_000
    nrows = 0
    tmp = path + ".partial"
    with open(tmp, "w") as f:
        while f.tell() < target:
            a = rng.normal(100.0, 15.0, size=(block, ncols))
            np.savetxt(f, a, fmt="%.10g", delimiter=",")
            nrows += block
    os.replace(tmp, path)
    with open(rows_file, "w") as f:
        f.write(str(nrows))
    return nrows


def run_table(ps: Any, pd: Any, path: str, size: int, usecols: int | None, args: Any) -> None:
    """Time the peers and ``from_text(...).describe()`` on one file; print a table."""
    pd_cols = None if usecols is None else [usecols]
    rows: list[list[str]] = []
    t_ref: dict[str, float | None] = {}

    def add(name: str, t: float | None, note: str = "") -> None:
        t_ref[name] = t
        if t is None:
            rows.append([name, NOT_INSTALLED, "", "", "", note])
            return
        rows.append([name, f"{t:.3f}", f"{size / t / 1e6:.1f}",
                     ratio(t, t_ref.get("np.loadtxt")),
                     ratio(t, t_ref.get("pandas chunked")), note])

    def loadtxt():
        a = np.loadtxt(path, delimiter=",", ndmin=2, usecols=usecols)
        return a.mean(axis=0), a.var(axis=0), a.min(axis=0), a.max(axis=0)

    t, ref = best_of(loadtxt, args.repeat)
    want_mean = ref[0]
    add("np.loadtxt", t, "whole file in memory")

    if pd is not None:
        def pandas_chunked():
            count = 0
            s = s2 = None
            lo = hi = None
            for df in pd.read_csv(path, header=None, chunksize=args.pandas_chunksize,
                                  dtype=np.float64, usecols=pd_cols):
                a = df.to_numpy()
                count += len(a)
                cs, cs2 = a.sum(axis=0), (a * a).sum(axis=0)
                cmin, cmax = a.min(axis=0), a.max(axis=0)
                if s is None:
                    s, s2, lo, hi = cs, cs2, cmin, cmax
                else:
                    s += cs
                    s2 += cs2
                    lo = np.minimum(lo, cmin)
                    hi = np.maximum(hi, cmax)
            mean = s / count
            return mean, s2 / count - mean * mean, lo, hi

        def pandas_whole():
            a = pd.read_csv(path, header=None, dtype=np.float64, usecols=pd_cols).to_numpy()
            return a.mean(axis=0), a.var(axis=0), a.min(axis=0), a.max(axis=0)

        t, r = best_of(pandas_chunked, args.repeat)
        if not np.allclose(r[0], want_mean, rtol=1e-9):
            print("WARNING: pandas chunked mean differs", file=sys.stderr)
        add("pandas chunked", t, f"read_csv(chunksize={args.pandas_chunksize})")
        t, _ = best_of(pandas_whole, args.repeat)
        add("pandas whole file", t, "read_csv, whole file in memory")
    else:
        add("pandas chunked", None)
        add("pandas whole file", None)

    def ps_describe():
        return ps.from_text(path, delimiter=",", usecols=usecols).describe()

    t, d = best_of(ps_describe, args.repeat)
    got = np.asarray(d.mean).reshape(-1)
    if not np.allclose(got, want_mean, rtol=1e-9):
        print(f"WARNING: pystream mean {got} differs from loadtxt {want_mean}",
              file=sys.stderr)
    add("ps.from_text().describe()", t, "streamed, one pass")
    print_table(["name", "seconds", "MB/s", "vs loadtxt", "vs pandas chunked",
                 "note"], rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mb", type=float, default=100.0, help="CSV size in MB (default 100)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--pandas-chunksize", type=int, default=1 << 18,
                   help="rows per pandas chunk (default 262144)")
    p.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "pystream-bench"))
    p.add_argument("--cols", default="1,4", help="column counts to run (default 1,4)")
    args = p.parse_args(argv)

    import pystream as ps

    pd = optional("pandas")
    os.makedirs(args.dir, exist_ok=True)
    print(f"bench_text: ~{args.mb:g} MB CSV, best of {args.repeat}")
    print(f"machine: {machine_line()}")
    print(f"peers: pandas {version_of(pd)}")

    for ncols in (int(c) for c in args.cols.split(",")):
        path = os.path.join(args.dir, f"bench_{args.mb:g}MB_{ncols}col.csv")
        nrows = make_csv(path, args.mb, ncols)
        size = os.path.getsize(path)
        print()
        print(f"{ncols} column(s): {path} ({size / 1e6:.0f} MB, {nrows:,} rows)")
        run_table(ps, pd, path, size, None, args)
        if ncols > 1:
            print()
            print(f"{ncols} columns, usecols=1 (one column read; every row's field count checked):")
            run_table(ps, pd, path, size, 1, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
