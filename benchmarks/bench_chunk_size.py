#!/usr/bin/env python3
"""Choose the default chunk size: time describe and a map pipeline per size.

For chunk sizes from 4 KiB to 16 MiB (powers of two, float64 records, so
512 to 2,097,152 records), best of ``--repeat`` runs (default 5) on the same in-memory
array (``--n`` values, default 2e7 = 160 MB):

* ``describe``  ``ps.from_array(x, chunk_size=k).describe()``: one C pass;
  small chunks pay Python overhead per chunk, large ones nothing more;
* ``map x3 -> sum``  ``.map(np.abs).map(np.sqrt).map(c*2.0).sum()``: each
  stage allocates a temporary the size of the chunk, so the pipeline is
  fastest while a chunk and its temporaries stay in L2 (2 MiB per core on
  the reference machine) and slows to memory bandwidth above that.

Each time is also printed relative to the best size for that benchmark;
the recommended default is the size with the smallest geometric mean of the
two relative times.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from _common import best_of, default_chunk_size, machine_line, print_table


def _kib(nbytes: int) -> str:
    return f"{nbytes // 1024} KiB" if nbytes < 1 << 20 else f"{nbytes >> 20} MiB"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=float, default=2e7, help="array length (default 2e7)")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--min-bytes", type=int, default=4 << 10)
    p.add_argument("--max-bytes", type=int, default=16 << 20)
    args = p.parse_args(argv)

    import pystream as ps

    n = int(args.n)
    x = np.random.default_rng(0).standard_normal(n)
    x.sum()  # fault the pages in
    itemsize = x.itemsize
    sizes = []
    b = args.min_bytes
    while b <= args.max_bytes:
        sizes.append(b)
        b *= 2

    print(f"bench_chunk_size: n={n:,} float64 ({x.nbytes / 1e6:.0f} MB), "
          f"best of {args.repeat}")
    print(f"machine: {machine_line()}")
    print(f"current default chunk_size: {default_chunk_size():,} records")
    print()

    ps.from_array(x).map(np.abs).describe()  # warm-up: imports, first-call costs
    ref_mean = float(x.mean())
    ref_sum = float((np.sqrt(np.abs(x)) * 2.0).sum())
    t_desc: list[float] = []
    t_pipe: list[float] = []
    for nbytes in sizes:
        k = nbytes // itemsize
        t, d = best_of(lambda: ps.from_array(x, chunk_size=k).describe(), args.repeat)
        if not math.isclose(float(d.mean), ref_mean, rel_tol=1e-9, abs_tol=1e-12):
            print(f"WARNING: describe mean at chunk {k} differs", file=sys.stderr)
        t_desc.append(t)
        t, s = best_of(lambda: float(ps.from_array(x, chunk_size=k)
                                     .map(np.abs).map(np.sqrt)
                                     .map(lambda c: c * 2.0).sum()), args.repeat)
        if not math.isclose(s, ref_sum, rel_tol=1e-9):
            print(f"WARNING: pipeline sum at chunk {k} differs", file=sys.stderr)
        t_pipe.append(t)
        print(f"  {_kib(nbytes):>8}: describe {t_desc[-1]:.4f} s, "
              f"map x3 -> sum {t_pipe[-1]:.4f} s", file=sys.stderr, flush=True)

    bd, bp = min(t_desc), min(t_pipe)
    scores = [math.sqrt((td / bd) * (tp / bp)) for td, tp in zip(t_desc, t_pipe)]
    best = int(np.argmin(scores))
    rows = []
    for i, nbytes in enumerate(sizes):
        rows.append([
            _kib(nbytes), f"{nbytes // itemsize:,}",
            f"{t_desc[i]:.4f}", f"{x.nbytes / t_desc[i] / 1e9:.2f}", f"{t_desc[i] / bd:.2f}",
            f"{t_pipe[i]:.4f}", f"{x.nbytes / t_pipe[i] / 1e9:.2f}", f"{t_pipe[i] / bp:.2f}",
            f"{scores[i]:.3f}", "<- best" if i == best else "",
        ])
    print_table(["chunk", "records", "describe s", "GB/s", "rel",
                 "map x3->sum s", "GB/s", "rel", "geo-mean rel", ""], rows)
    print()
    print(f"best chunk size: {_kib(sizes[best])} = {sizes[best] // itemsize:,} "
          f"float64 records (describe best at {_kib(sizes[int(np.argmin(t_desc))])}, "
          f"map pipeline best at {_kib(sizes[int(np.argmin(t_pipe))])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
