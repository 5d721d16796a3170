#!/usr/bin/env python3
"""Write a large sample ``.npy`` file for the pystream demo, chunk by chunk.

The file is a float64 signal of ``--size`` records (default 125,000,000,
i.e. 1 GB of data): a random walk plus Gaussian noise plus a slow sine, with
a few NaNs sprinkled in (one per ~10 million values), as a sensor log might
look.  Its header is made by ``np.lib.format.open_memmap``, then the data is
written one chunk at a time, so memory use stays at a few tens of MB
whatever the size.

If the target already exists and is a valid ``.npy`` of the requested shape
and dtype, nothing is done (``--force`` rewrites it).  The file is written
to a temporary name and renamed at the end, so an interrupted run never
leaves a truncated file that would later be taken as complete.

    python scripts/make_sample.py                       # data/sample.npy, ~1 GB
    python scripts/make_sample.py /tmp/small.npy --size 1000000
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

DEFAULT_SIZE = 125_000_000  # 1e9 bytes of float64
DEFAULT_PATH = os.path.join("data", "sample.npy")
CHUNK = 1 << 20  # 1 Mi values (8 MiB) per write
NAN_EVERY = 10_000_000  # about one NaN per this many values


def is_complete(path: str, size: int) -> bool:
    """True when ``path`` is a readable float64 .npy of shape (size,)."""
    try:
        arr = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return False
    ok = arr.dtype == np.float64 and arr.shape == (size,)
    del arr
    return ok


def write_sample(path: str, size: int, seed: int = 20240601, quiet: bool = False) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = path + ".partial"
    rng = np.random.default_rng(seed)
    # open_memmap writes a valid header and sizes the (sparse) file; the data
    # is then written with ordinary file writes, so no dirty mapped pages pile
    # up in this process (its RSS stays at a few chunks).
    header = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float64, shape=(size,))
    data_offset = header.offset
    del header
    level = 100.0  # random-walk state carried from chunk to chunk
    t0 = time.perf_counter()
    with open(tmp, "r+b") as out:
        out.seek(data_offset)
        for lo in range(0, size, CHUNK):
            hi = min(lo + CHUNK, size)
            n = hi - lo
            steps = rng.standard_normal(n)
            steps *= 0.01
            walk = np.cumsum(steps)
            walk += level
            level = float(walk[-1])
            t = np.arange(lo, hi, dtype=np.float64)
            t *= 2.0 * np.pi / 1_000_000.0
            np.sin(t, out=t)
            t *= 5.0
            walk += t
            walk += rng.normal(0.0, 0.5, n)
            # A few missing readings (NaN).
            n_nan = rng.binomial(n, 1.0 / NAN_EVERY) if size >= 1000 else 0
            if n_nan:
                walk[rng.integers(0, n, n_nan)] = np.nan
            out.write(walk.astype("<f8", copy=False).tobytes())
            if not quiet and sys.stderr.isatty():
                done = hi / size
                print(f"\rmake_sample: {done:6.1%}", end="", file=sys.stderr, flush=True)
    os.replace(tmp, path)
    if not quiet:
        if sys.stderr.isatty():
            print("\r", end="", file=sys.stderr)
        dt = time.perf_counter() - t0
        print(f"make_sample: wrote {path} ({size:,} float64, "
              f"{os.path.getsize(path) / 1e9:.2f} GB) in {dt:.1f} s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("path", nargs="?", default=None,
                   help=f"output .npy path (default: {DEFAULT_PATH})")
    p.add_argument("-o", "--output", default=None, help="same as PATH")
    p.add_argument("--size", type=int, default=DEFAULT_SIZE,
                   help=f"number of float64 values (default: {DEFAULT_SIZE:,})")
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--force", action="store_true", help="rewrite even if present")
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.path and args.output and args.path != args.output:
        p.error("give the output path once (PATH or -o)")
    args.output = args.path or args.output or DEFAULT_PATH
    if args.size < 1:
        p.error("--size must be >= 1")
    if not args.force and is_complete(args.output, args.size):
        if not args.quiet:
            print(f"make_sample: {args.output} exists ({args.size:,} float64), skipped")
        return 0
    write_sample(args.output, args.size, args.seed, args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
