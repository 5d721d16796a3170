"""
Threads and Dask: same bits, less time
======================================

``engine="threads"`` cuts a random-access source (an array, a ``.npy`` file,
a raw file, a Dask array) into contiguous partitions and runs the pipeline on
each in a thread pool.  The C kernels release the GIL, so the partitions run
on separate cores.  A moving window's partition starts ``window - 1`` records
early (its warm-up), and the reducer states are placed at their global record
offsets and merged in order: the result is **bit-identical** to the serial
run, whatever ``workers`` and ``partition_size``.

The data are the hourly air temperatures at Seattle in 2010 (8,759 hours,
public-domain NOAA data shipped with the ``vega_datasets`` package).  **For
scale only**, the year is tiled 500 times into 4.4 million values (35 MB):
one real year is read in microseconds, and timing threads needs work to
share.  The statistics of a tiled series are the year's statistics.

The machine that builds these docs has 2 virtual cores shared with other
tenants, so the timings below move from build to build; the example first
measures how much two threads can run in parallel there at all.
"""

import os
import tempfile
import threading
import time

import matplotlib.pyplot as plt
import numpy as np
from vega_datasets import local_data

import pystream as ps

weather = local_data.seattle_temps()
hours = weather["date"].to_numpy()
temp = weather["temp"].to_numpy()                  # degrees Fahrenheit
big = np.tile(temp, 500)                           # for scale: 4.4 million values
print(f"{len(temp):,} hours -> tiled to {len(big):,} values ({big.nbytes / 1e6:.0f} MB)")

# %%
# A pipeline and three ways to run it
# -----------------------------------
# A day's moving median (25 hours; a compute-bound order-statistic window)
# summarised by ``describe()`` (``nan_policy="omit"`` skips the 24 warm-up
# NaNs of the window).  The stream is lazy: the engine is chosen only by the
# terminal call.  ``==`` on two :class:`~pystream.Description` compares every
# statistic exactly.

smooth = ps.from_array(big).moving_median(window=25)

serial = smooth.describe(nan_policy="omit")
threads_1 = smooth.describe(nan_policy="omit", engine="threads", workers=1)
threads_2 = smooth.describe(nan_policy="omit", engine="threads", workers=2,
                            partition_size=250_000)
print(serial)
print("threads, 1 worker :", serial == threads_1)
print("threads, 2 workers:", serial == threads_2)

# %%
# The same bits for any partition size, down to tiny ones where every
# partition is mostly warm-up (each one re-reads the 24 hours before it):

for size in (1_000, 8_759, 1_000_003):
    d = smooth.describe(nan_policy="omit", engine="threads", workers=2, partition_size=size)
    print(f"partition_size={size:>9,}: identical {d == serial}")

# %%
# Dask gives the same bits too (here on Dask's default threaded scheduler;
# a ``distributed.Client`` or ``dask.config.set(scheduler="processes")``
# is used the same way).  The graph has one task per partition, and the
# states are merged in a tree.

on_dask = smooth.describe(nan_policy="omit", engine="dask", partition_size=1_000_000)
print("dask:", on_dask == serial)

# %%
# Sinks run on every engine too: :meth:`~pystream.Stream.to_npy`,
# :meth:`~pystream.Stream.to_file` and :meth:`~pystream.Stream.to_text` write
# the output as it arrives, in order, under a temporary name renamed to the
# target only when the whole stream is written;
# :meth:`~pystream.Stream.to_callback` hands each chunk to a function.

with tempfile.TemporaryDirectory() as tmp:
    n = smooth.to_npy(os.path.join(tmp, "smooth.npy"), engine="threads", workers=2)
    smooth.to_file(os.path.join(tmp, "smooth.f64"), engine="threads", workers=2)
    on_disk = ps.from_npy(os.path.join(tmp, "smooth.npy"))
    print(f"{n:,} records written; same file:",
          np.array_equal(np.load(os.path.join(tmp, "smooth.npy")), smooth.to_array(),
                         equal_nan=True),
          "| reads back as", on_disk.describe(nan_policy="omit") == serial)
    del on_disk
    # The first week of the smoothed series as text, and read back exactly:
    week = ps.from_array(temp).moving_median(window=25).take(7 * 24)
    week.to_text(os.path.join(tmp, "week.txt"), header="moving median of 25 hours, deg F",
                 engine="threads", workers=2, partition_size=50)
    print(open(os.path.join(tmp, "week.txt")).read().splitlines()[:3])
    print("text reads back exactly:",
          np.array_equal(ps.from_text(os.path.join(tmp, "week.txt")).to_array(),
                         week.to_array(), equal_nan=True))

# Daily maxima of the smoothed series, collected by a callback as chunks arrive:
daily_max = []
ps.from_array(temp).moving_median(window=25, min_count=1).resample(24, "max").to_callback(
    lambda chunk: daily_max.append(chunk.max()), engine="threads", workers=2)
print(f"warmest smoothed day of the year: {max(daily_max):.1f} F")

# %%
# Timing
# ------
# First, what the machine gives two threads: the same numpy work (a sort,
# which releases the GIL) twice in a row, then in two threads at once.  On
# two free cores the ratio is close to 2; on an oversubscribed virtual
# machine it can be close to 1, and no engine can beat it.


def best_of(run, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times)


def two_sorts_in_threads():
    ts = [threading.Thread(target=np.sort, args=(big,)) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


capacity = best_of(lambda: (np.sort(big), np.sort(big))) / best_of(two_sorts_in_threads)
print(f"two threads run {capacity:.2f}x as fast as one on this machine")

# %%
# Then the pipelines, best of 3.  The moving median costs ~13 ns per value
# on one core: compute-bound, so its speed-up follows the machine's
# parallel capacity measured above.  ``describe(quantiles=())`` alone costs
# ~0.5 ns per value (~15 GB/s): it is bound by memory bandwidth, so a second
# thread helps only as far as it brings more bandwidth -- nearly 2x on an
# idle 2-core virtual machine, little when a neighbour on the host is busy,
# and nothing beyond a socket's limit on a server (see :doc:`/engines`).
# The data here is small (35 MB) and partly cached, so take this row as a
# sketch; ``benchmarks/bench_engines.py`` measures 800 MB.

plain = ps.from_array(big)
runs = {
    "moving_median(25)\n.describe()": lambda **kw: smooth.describe(nan_policy="omit", **kw),
    "describe(quantiles=())": lambda **kw: plain.describe(quantiles=(), **kw),
}
engines = {
    "local": {},
    "threads, 1 worker": {"engine": "threads", "workers": 1},
    "threads, 2 workers": {"engine": "threads", "workers": 2},
}
timings = {label: [best_of(lambda: run(**kw)) for kw in engines.values()]
           for label, run in runs.items()}
for label, ts in timings.items():
    print(label.replace("\n", ""), "  ".join(f"{name}: {t * 1e3:6.1f} ms"
                                            for name, t in zip(engines, ts)),
          f"  speed-up x{ts[0] / ts[2]:.2f}")

# %%
# A week of the real data with its moving median, and the timings:

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.6), width_ratios=[3, 2])
week = slice(24 * 180, 24 * 187)
ax0.plot(hours[week], temp[week], color="0.6", lw=0.8, label="hourly")
ax0.plot(hours[week], smooth.take(len(temp)).to_array()[week], color="C0",
         label="moving median, 25 h")
ax0.set_ylabel("temperature (°F)")
ax0.set_title("Seattle, a week of June 2010")
ax0.legend(loc="upper left", fontsize="small")
ax0.tick_params(axis="x", labelrotation=30)

x = np.arange(len(runs))
for i, name in enumerate(engines):
    ax1.bar(x + (i - 1) * 0.27, [ts[i] * 1e3 for ts in timings.values()], 0.27,
            label=name, color=f"C{i}")
ax1.set_xticks(x, list(runs))
ax1.set_ylabel("time (ms), 4.4 M values")
ax1.set_title(f"Same bits; 2 threads = {capacity:.2f}x one here")
ax1.legend(fontsize="small")
fig.tight_layout()
plt.show()
