#!/usr/bin/env python3
"""A short tour of pystream pipelines, printed for ``make demo``.

    python scripts/demo_pipeline.py [data/sample.npy]

Each example is printed as code, then run (the printed code is exactly the
code that runs), using only pystream's public API.
"""

from __future__ import annotations

import sys
import textwrap
import time

EXAMPLES = [
    (
        "A lazy pipeline over a memory-mapped .npy: nothing is read until "
        "describe() pulls the chunks through",
        """
        s = (ps.from_npy(path)
               .map(np.abs)
               .filter(lambda c: c > 1)
               .take(10_000_000))
        print(s.describe())
        """,
    ),
    (
        "A record stream: each record is a 3-channel sample; statistics are "
        "per channel",
        """
        rng = np.random.default_rng(0)
        x = rng.normal([0.0, 10.0, -5.0], [1.0, 2.0, 0.5], size=(1_000_000, 3))
        d = ps.from_array(x, chunk_size=4096).describe(ddof=1)
        print(d)
        print("numpy mean:", x.mean(axis=0), " std:", x.std(axis=0, ddof=1))
        """,
    ),
    (
        "Partition invariance: summarise two halves separately (e.g. on two "
        "workers), merge, and get bit-identical results to one serial pass",
        """
        left = ps.Moments(start=0).update(x[:400_000])
        right = ps.Moments(start=400_000).update(x[400_000:])
        merged = left.merge(right).result(ddof=1)
        serial = ps.Moments().update(x).result(ddof=1)
        print("identical:", bool(np.array_equal(merged.mean, serial.mean)
                                  and np.array_equal(merged.var, serial.var)))
        """,
    ),
    (
        "Moving windows carry their state across chunks and never drift: noise "
        "of scale 1e6, then a constant signal -- the moving std is exactly 0 once "
        "the noise has left the window (bottleneck's running sums leave ~0.03 here)",
        """
        rng = np.random.default_rng(0)
        sig = np.concatenate([rng.normal(size=10_000) * 1e6, np.full(10_000, 0.1)])
        std = ps.from_array(sig, chunk_size=777).moving_std(window=100).to_array()
        print("max moving std once the noise has left:", std[10_100:].max())
        """,
    ),
    (
        "A sensor-style pipeline over the memory-mapped file: EWM smoothing, a "
        "moving median and decimation by 1000, all streamed chunk by chunk",
        """
        t0 = time.perf_counter()
        out = (ps.from_npy(path).take(20_000_000)
                 .ewm_mean(halflife=50)
                 .moving_median(window=101, min_count=1)
                 .resample(1000, how="mean")
                 .to_array())
        print(f"{len(out)} decimated values in {time.perf_counter() - t0:.2f} s;",
              "first five:", np.round(out[:5], 4))
        """,
    ),
    (
        "The same kind of pipeline on a thread pool: engine='threads' cuts the file into "
        "partitions (each moving median warmed up with the 100 records before it) and "
        "gives the serial result bit for bit",
        """
        smooth = ps.from_npy(path).take(20_000_000).moving_median(window=101, min_count=1)
        t0 = time.perf_counter()
        serial = smooth.describe()
        t_serial = time.perf_counter() - t0
        t0 = time.perf_counter()
        parallel = smooth.describe(engine="threads", workers=2)
        t_threads = time.perf_counter() - t0
        print(f"local {t_serial:.2f} s, threads {t_threads:.2f} s "
              f"({t_serial / t_threads:.2f}x); identical: {parallel == serial}")
        """,
    ),
    (
        "One pass, several results: fork() hands each chunk of the file to every "
        "branch (statistics, a histogram, a moving mean written to a .npy) and "
        "keeps none of them",
        """
        import os, tempfile
        out = os.path.join(tempfile.mkdtemp(), "smooth.npy")
        s = ps.from_npy(path).take(10_000_000)
        r = s.fork(stats=ps.pipeline().describe(nan_policy="omit"),
                   hist=ps.pipeline().histogram(bins=6, range=(0, 120)),
                   smooth=ps.pipeline().moving_mean(window=100).to_npy(out))
        print(r["stats"])
        print("histogram:", r["hist"].counts.tolist())
        print(f"{r['smooth']:,} moving means written; same as their own pass:",
              np.array_equal(np.load(out), s.moving_mean(window=100).to_array(), equal_nan=True))
        """,
    ),
    (
        "Push mode: the same stages fed by a callback as data arrives, in chunks of "
        "any size; the result equals the pull run bit for bit",
        """
        p = ps.pipeline().map(np.abs).moving_mean(window=100)
        x = np.load(path, mmap_mode="r")[:1_000_000]
        sink = p.push(ps.tee(last=ps.pipeline().to_array(),
                             stats=ps.pipeline().describe(nan_policy="omit")))
        rng = np.random.default_rng(1)
        i = 0
        while i < len(x):                         # bursts of 1 to 5000 records
            k = int(rng.integers(1, 5000))
            sink.send(x[i:i + k])
            i += k
        live = sink.result()                      # readable any time, sink still open
        pushed = sink.close()
        print("pushed == pulled:", np.array_equal(pushed["last"], p(ps.from_array(x)).to_array(),
                                                equal_nan=True), "| mean", live["stats"].mean)
        """,
    ),
]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    import numpy as np

    import pystream as ps

    namespace = {"np": np, "ps": ps, "time": time, "path": argv[0] if argv else "data/sample.npy"}
    print(f">>> import numpy as np; import pystream as ps; path = {namespace['path']!r}")
    for title, code in EXAMPLES:
        code = textwrap.dedent(code).strip("\n")
        print()
        print(f"# {title}")
        for line in code.splitlines():
            print((">>> " if not line.startswith((" ", ")")) else "... ") + line)
        t0 = time.perf_counter()
        exec(compile(code, "<demo>", "exec"), namespace)
        print(f"# ({time.perf_counter() - t0:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
