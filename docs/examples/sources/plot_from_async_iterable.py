"""
Streaming from asyncio
======================

In an asyncio program, readings arrive from coroutines: a websocket, an
MQTT client, a queue filled by callbacks.  :func:`pystream.from_async_iterable`
turns any async iterable into a stream, and ``async for chunk in stream``
runs the stream's stages as the items arrive, without blocking the event
loop: a chunk of 256 KiB or more is processed in a worker thread (the C
kernels release the GIL), so the other tasks keep running meanwhile.

The data are NOAA's hourly climate normals for Seattle (30-year averages
for each hour of the year, dated 2010; 8,759 records, shipped with
``vega_datasets``), sent by a producer task at random moments.
"""

import asyncio
import time

import matplotlib.pyplot as plt
import numpy as np
from vega_datasets import local_data

import pystream as ps

weather = local_data.seattle_temps()
hours = weather["date"].to_numpy()
temp = weather["temp"].to_numpy()                  # degrees Fahrenheit

# %%
# A producer task and an async source
# -----------------------------------
# The producer puts bursts of readings on an :class:`asyncio.Queue` at
# random times (a fraction of a millisecond apart, to keep the example
# quick), then ``None`` to say it is done.  ``readings()`` is the async
# iterable the stream reads: each item may be a chunk, one reading or a
# list of readings.  The stage here is a day's moving mean; each output
# chunk is copied, since a stage may reuse its output memory.

smooth = ps.pipeline().moving_mean(window=24)


async def producer(queue, x, seed):
    rng = np.random.default_rng(seed)
    i = 0
    while i < len(x):
        await asyncio.sleep(float(rng.exponential(0.0003)))
        k = int(rng.integers(1, 200))
        await queue.put(x[i:i + k])
        i += k
    await queue.put(None)


async def readings(queue):
    while (item := await queue.get()) is not None:
        yield item


async def main():
    queue = asyncio.Queue(maxsize=8)
    task = asyncio.create_task(producer(queue, temp, seed=1))
    stream = smooth(ps.from_async_iterable(readings(queue), dtype="float64"))
    chunks, arrived = [], []
    t0 = time.perf_counter()
    async for chunk in stream:
        chunks.append(chunk.copy())
        arrived.append(time.perf_counter() - t0)
    await task
    return chunks, arrived


chunks, arrived = asyncio.run(main())
out = np.concatenate(chunks)
print(f"{len(chunks)} chunks in {arrived[-1] * 1e3:.0f} ms")
print("bit-identical to the pull run:",
      out.tobytes() == smooth(ps.from_array(temp)).to_array().tobytes())

# %%
# Outside an event loop, the same kind of stream can be used like any other
# (``to_array()``, ``describe()``, ``for``...): a private event loop then
# drives the async iterable.  Inside a running loop that would block the
# loop, so it is refused with a clear error.


async def year():
    for month in np.array_split(temp, 12):
        await asyncio.sleep(0)
        yield month


print(f"no loop running: mean {ps.from_async_iterable(year(), 'float64').mean():.3f} F")


async def blocking_call():
    return ps.from_async_iterable(year(), "float64").mean()


try:
    asyncio.run(blocking_call())
except RuntimeError as err:
    print("RuntimeError:", str(err).split(";")[0])

# %%
# The loop stays responsive
# -------------------------
# For scale only, the year is repeated 400 times: 3.5 million values
# (27 MB) in one chunk, through a compute-bound stage, a day's moving
# median.  A ticker task meanwhile tries to run every millisecond; it
# counts its ticks and the longest gap between two.
#
# First, the pull run called directly in a coroutine: it runs on the
# loop's thread, and the ticker is frozen until it returns.  Then the same
# chunk through ``async for``: it goes to the worker thread and the ticker
# keeps ticking.  (The machine that builds these docs has 2 virtual cores
# shared with other tenants, so the times and gaps vary from build to
# build; what does not vary is that the first run freezes the ticker.)

big = np.tile(temp, 400)
median = ps.pipeline().moving_median(window=25)


async def ticker(ticks, stop):
    while not stop.is_set():
        await asyncio.sleep(0.001)
        ticks.append(time.perf_counter())


async def one_big_chunk():
    yield big


async def timed(work):
    ticks, stop = [], asyncio.Event()
    task = asyncio.create_task(ticker(ticks, stop))
    await asyncio.sleep(0.01)                      # the ticker is running
    t0 = time.perf_counter()
    n = await work()
    t1 = time.perf_counter()
    stop.set()
    await task
    during = np.array([t - t0 for t in ticks if t0 <= t <= t1])   # since the work began
    gaps = np.diff([0.0, *during, t1 - t0])
    return n, t1 - t0, during, gaps.max()


async def on_the_loop():
    return len(median(ps.from_array(big)).to_array())


async def with_async_for():
    n = 0
    async for chunk in median(ps.from_async_iterable(one_big_chunk(), "float64")):
        n += len(chunk)
    return n


median(ps.from_array(big)).to_array()               # warm-up: first-use costs out of the way
runs = {}
for name, work in (("pull run in a coroutine", on_the_loop), ("async for", with_async_for)):
    n, took, during, longest = asyncio.run(timed(work))
    runs[name] = (took, during)
    print(f"{name:>24}: {n:,} values in {took * 1e3:.0f} ms; "
          f"{len(during)} ticks meanwhile, longest gap {longest * 1e3:.1f} ms")

# %%
# Breaking out of an ``async for`` (or cancelling the task) stops the
# stages and the worker thread once the chunk in progress is done.  Smaller
# chunks are processed on the loop's thread directly: handing them to a
# thread would cost more than it saves.
#
# The readings as they arrived, and the ticker during the big chunk:

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.6), width_ratios=[3, 2])
ax0.plot(hours, temp, color="0.75", lw=0.5, label="hourly")
ax0.plot(hours, out, color="C0", label="moving mean, 24 h (async for)")
ax0.set_ylabel("°F")
ax0.set_title("Seattle hourly normals, from an asyncio queue")
ax0.legend(loc="upper left", fontsize="small")

for i, (name, (took, during)) in enumerate(runs.items()):
    ax1.barh(i, took * 1e3, height=0.7, color=f"C{i}", alpha=0.2)
    ax1.eventplot([during * 1e3], lineoffsets=i, linelengths=0.7, colors=f"C{i}")
ax1.set_yticks([0, 1], [name.replace(" in a", "\nin a") for name in runs])
ax1.set_xlabel("ms since the big chunk started (shaded: busy)")
ax1.set_title("ticks of a 1 ms ticker")
fig.tight_layout()
plt.show()
