"""
Push mode: a sensor feed that calls you
=======================================

A pulled stream asks its source for the next chunk.  Many feeds work the
other way round: a device driver, a socket handler or a message-queue
consumer *calls your function* with whatever readings it has -- none, one,
or a backlog of hundreds after a dropout -- whenever it pleases.  There is
no loop to hand to a generator.

:func:`pystream.pipeline` builds a chain of stages that is not attached to
any source (a :class:`~pystream.Pipeline`).  Its :meth:`~pystream.Pipeline.push`
returns a :class:`~pystream.PushSink`: call ``send(readings)`` from the
callback, and the stateful stages carry their state from one send to the
next.  The outputs are those of the pull run over the same records, **bit
for bit**, however the feed was cut.

The data are NOAA's hourly climate normals for Seattle (30-year averages
for each hour of the year, dated 2010; 8,759 records, as shipped in
``vega_datasets``), replayed as a feed arriving in irregular bursts.
"""

import os
import tempfile
import threading

import matplotlib.pyplot as plt
import numpy as np
from vega_datasets import local_data

import pystream as ps

weather = local_data.seattle_temps()
hours = weather["date"].to_numpy()
temp = weather["temp"].to_numpy()                  # degrees Fahrenheit


def bursts(x, seed):
    """Cut `x` as a driver might hand it over: mostly a few readings, sometimes
    none, now and then a backlog of hundreds after a dropout."""
    rng = np.random.default_rng(seed)
    i = 0
    while i < len(x):
        k = int(rng.choice([0, 1, 2, 3, 5, 8, 24, 400],
                           p=[0.1, 0.25, 0.2, 0.15, 0.12, 0.1, 0.06, 0.02]))
        yield x[i:i + k]
        i += k


sizes = [len(b) for b in bursts(temp, seed=1)]
print(f"{len(temp):,} hourly readings in {len(sizes):,} bursts: "
      f"{sizes.count(0)} empty, {sizes.count(1)} single, largest {max(sizes)}")

# %%
# A pipeline without a source
# ---------------------------
# The question: each day's mean temperature, after a 3-hour moving median
# has removed single-reading glitches.  ``ps.pipeline()`` takes the same
# stage methods as a :class:`~pystream.Stream` (arguments are checked at
# once) and is immutable, so one pipeline serves any number of runs.
# Called on a stream, it is an ordinary lazy stream: that is the pull run
# every push run below is compared with.

daily: ps.Pipeline = ps.pipeline().moving_median(window=3, min_count=1).resample(24, how="mean")
print(daily, "| a ps.Pipeline:", isinstance(daily, ps.Pipeline))

pulled = daily(ps.from_array(temp)).to_array()
print(f"pull run: {len(pulled)} daily means (the last day has 23 hours)")

# %%
# Pushing the bursts
# ------------------
# ``send`` returns the output the new readings complete: here a daily mean
# only when a burst completes a day, so most sends return an empty array.
# The returned array may be a view of memory a later send reuses, so the
# callback copies what it keeps.  ``close()`` ends the feed and returns the
# rest: the partial last day.

sink = daily.push()
print(sink, "| a ps.PushSink:", isinstance(sink, ps.PushSink))
got = []


def on_readings(readings):                 # what the driver calls
    out = sink.send(readings)
    if len(out):
        got.append(out.copy())


for burst in bursts(temp, seed=1):
    on_readings(burst)
got.append(sink.close())
pushed = np.concatenate(got)
print(f"{len(got) - 1} of {len(sizes)} sends returned a day or more")
print("bit-identical to the pull run:", pushed.tobytes() == pulled.tobytes())

# %%
# Any cutting gives the same bits: other burst patterns, and single readings
# pushed as Python floats (lists and scalars are converted to the stream's
# dtype; arrays of another dtype are refused, never silently cast).


def push_all(pipeline, pieces):
    sink = pipeline.push(dtype="float64")
    outs = [sink.send(piece).copy() for piece in pieces]
    return np.concatenate(outs + [sink.close()])


for seed in (2, 3, 4):
    print(f"bursts, seed {seed}: identical", push_all(daily, bursts(temp, seed)).tobytes()
          == pulled.tobytes())
week = [float(v) for v in temp[:7 * 24]]                   # one float at a time
print("a week, one float per send: identical",
      push_all(daily, week).tobytes() == pulled[:7].tobytes())

# %%
# Live results
# ------------
# With a target -- a reducer's name (``"describe"``, ``"mean"``...), a
# reducer state (``ps.Moments()``, ``ps.Histogram(...)``), a terminal of a
# pipeline (``ps.pipeline().quantile(0.9)``) or several of them by name --
# ``send`` returns None and :meth:`~pystream.PushSink.result` answers at any
# time, without closing the sink.  Here the summary of the daily means is
# read after every burst, as a dashboard would.

sink = daily.push(stats="describe", hist=ps.Histogram(bins=8, range=(36, 68)))
received, live = [], []
for burst in bursts(temp, seed=5):
    assert sink.send(burst) is None
    if sink.records >= 24:
        r = sink.result()["stats"]
        received.append(sink.records)
        live.append((r.mean, r.min, r.max))
live = np.array(live)
print(sink.close()["hist"])

# %%
# A result is computed again only when new records reached it since the
# last call; otherwise it comes from a cache.  Six more hours of the
# current day complete nothing, so the summary of the daily means is the
# very same object:

sink = daily.push("describe")
sink.send(temp[:24 * 100 + 3])                 # 100 days and 3 hours
before = sink.result()
sink.send(temp[24 * 100 + 3:24 * 100 + 9])    # 6 hours: no day completes
print("no new day: same object, not recomputed:", sink.result() is before)
sink.send(temp[24 * 100 + 9:])
final = sink.close()
print("final result equals the pull run's describe():",
      final == daily(ps.from_array(temp)).describe())

# %%
# A context manager and an atomic file
# ------------------------------------
# ``with pipeline.push(...) as sink`` closes the sink at the end of the
# block, or aborts it if the block raises.  A file target
# (``ps.pipeline().to_npy(path)``) writes under a temporary name and renames
# it into place at close: while the feed runs, and after a failure, there is
# no ``daily.npy`` that a reader could take for complete.

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "daily.npy")
    halfway = None
    with daily.push(ps.pipeline().to_npy(path)) as sink:
        for burst in bursts(temp, seed=6):
            sink.send(burst)
            if halfway is None and sink.records >= len(temp) // 2:
                halfway = (sink.result(), os.listdir(tmp))
    print(f"half-way: {halfway[0]} days written, directory holds {halfway[1]}")
    print("after the block:", os.listdir(tmp), "| same as the pull run:",
          np.load(path).tobytes() == pulled.tobytes())

    lost = os.path.join(tmp, "lost.npy")
    try:
        with daily.push(ps.pipeline().to_npy(lost)) as sink:
            for i, burst in enumerate(bursts(temp, seed=7)):
                if i == 300:
                    raise ConnectionError("feed lost")
                sink.send(burst)
    except ConnectionError as err:
        print(f"{err!r} -> {sink}; the directory holds {os.listdir(tmp)}")

# %%
# Errors
# ------
# A stage that raises stops the sink.  The exception is the stage's own,
# with a note (:pep:`678`) naming the stage and the global records of the
# chunk it was working on, counted from the first record pushed.  Every
# stage's cleanup has run, and the sink refuses further use with
# :class:`~pystream.PushError`.  ``then`` puts a plausibility check in front
# of the daily pipeline; a corrupt reading of 999 °F arrives at hour 5,000.


def plausible(readings):
    bad = np.flatnonzero((readings < -40) | (readings > 130))
    if len(bad):
        raise ValueError(f"implausible reading: {readings[bad[0]]} F")
    return readings


checked = ps.pipeline().map(plausible).then(daily)
feed = temp.copy()
feed[5000] = 999.0
sink = checked.push()
try:
    for burst in bursts(feed, seed=8):
        sink.send(burst)
except ValueError as err:
    print(f"{type(err).__name__}: {err}")
    for note in err.__notes__:
        print("  note:", note)
print(sink)
try:
    sink.send(temp[:24])
except ps.PushError as err:
    print("PushError:", err)

# %%
# Bad *input* is different: data of the wrong shape or dtype is refused
# before it reaches a stage, and the sink stays usable.

sink = daily.push()
sink.send(temp[:10])
try:
    sink.send(temp[10:20].astype(np.float32))
except TypeError as err:
    print("TypeError:", err)
print("still open:", not sink.closed, "| still correct:",
      np.concatenate([sink.send(temp[10:]), sink.close()]).tobytes() == pulled.tobytes())

# %%
# Your own generator stages
# -------------------------
# A :meth:`~pystream.Stream.pipe` generator pulls its input, so it cannot
# wait for a push by itself.  In push mode it runs in a helper thread that
# is handed one chunk per send; the thread ends with the sink (at
# ``close``, ``abort``, an error, or when the sink is dropped).  Here the
# running total of cooling degree-hours (hours above 65 °F, weighted by how
# far above).  ``np.cumsum`` adds from left to right, so starting each
# chunk from the previous total gives the same bits for any cutting.


def cooling_degree_hours(chunks, base=65.0):
    total = 0.0
    for c in chunks:
        out = np.cumsum(np.concatenate([[total], np.maximum(c - base, 0.0)]))[1:]
        if len(out):
            total = out[-1]
        yield out


cdh = ps.pipeline().pipe(cooling_degree_hours)
threads_before = threading.active_count()
sink = cdh.push()
outs = [sink.send(b).copy() for b in bursts(temp, seed=9)]
threads_open = threading.active_count()
outs.append(sink.close())
print(f"threads: {threads_before} before, {threads_open} while open, "
      f"{threading.active_count()} after close")
print("identical to the pull run:", np.concatenate(outs).tobytes()
      == cdh(ps.from_array(temp)).to_array().tobytes())
print(f"cooling degree-hours in the year: {outs[-2][-1]:.0f}")

# %%
# The year and its daily means (pushed), and the live summary of the daily
# means as the bursts came in:

fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
days = hours[::24][:len(pushed)] + np.timedelta64(12, "h")
ax0.plot(hours, temp, color="0.75", lw=0.5, label="hourly")
ax0.plot(days, pushed, color="C0", lw=1.2, label="daily mean, pushed")
ax0.set_ylabel("°F")
ax0.set_title("Seattle hourly climate normals, pushed in bursts")
ax0.legend(loc="upper left", fontsize="small")

at = hours[np.asarray(received) - 1]
ax1.fill_between(at, live[:, 1], live[:, 2], color="C1", alpha=0.3, lw=0,
                 label="min to max so far")
ax1.plot(at, live[:, 0], color="C1", label="mean so far")
ax1.set_ylabel("daily means, °F")
ax1.set_title("sink.result() after every burst")
ax1.legend(loc="upper left", fontsize="small")
fig.tight_layout()
plt.show()
