"""
Checkpoint a stream and resume it after a crash
===============================================

A C-backed stage (scans, EWM, moving windows, ``resample``) keeps its state
in a :class:`~pystream.StageState`: feed it chunks with ``update``, save it
with ``to_bytes``, restore it with ``StageState.from_bytes``, and the
restored state continues the stream bit for bit.  Here a job smooths an
hourly temperature feed, arriving in batches of 100 hours, and crashes
half-way.  The feed is NOAA's hourly climate normals for San Francisco
airport (30-year averages for each hour of the year, dated 2010; 8759
records, as shipped in ``vega_datasets``).
"""

import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from vega_datasets import local_data

import pystream as ps

data = local_data.sf_temps()
time, temp = data["date"].to_numpy(), data["temp"].to_numpy()
reference = ps.from_array(temp).ewm_mean(halflife=24).to_array()  # one uninterrupted pass

# %%
# ``ps.stages.ewm_mean(...)`` is the stage object that
# ``Stream.ewm_mean(...)`` pipes (it checks the parameters); its ``state()``
# is a fresh :class:`~pystream.StageState`.  The job writes its outputs and,
# every 10 batches, the state's bytes; it dies at batch 57, losing the 7
# batches (50 to 56) it processed since the last checkpoint.

tmp = tempfile.TemporaryDirectory()
checkpoint = os.path.join(tmp.name, "ewm.state")
state = ps.stages.ewm_mean(halflife=24).state()
written = []
for batch, start in enumerate(range(0, len(temp), 100)):
    if batch == 57:
        crash = start
        del state  # the crash
        break
    written.append(state.update(temp[start:start + 100]))
    if batch % 10 == 9:
        with open(checkpoint, "wb") as f:
            f.write(state.to_bytes())

# %%
# The restart: ``position`` says where the restored state left off, so the
# outputs after it are discarded and the feed is replayed from there.

with open(checkpoint, "rb") as f:
    blob = f.read()
tmp.cleanup()
state = ps.StageState.from_bytes(blob)
restart = state.position
print(f"restored {state!r} from {len(blob)} bytes")
resumed = [np.concatenate(written)[:restart]]
for start in range(restart, len(temp), 100):
    resumed.append(state.update(temp[start:start + 100]))
resumed = np.concatenate(resumed)
print("resumed run identical to the uninterrupted one:",
      len(resumed) == len(reference) and np.array_equal(resumed, reference))

# %%
# ``flush()`` returns the output a state still holds at the end of the
# stream: nothing for a scan or an EWM, the partial last block for
# ``resample``.  The 8759 records (one hour is missing, at the switch to
# daylight saving time) make 364 blocks of 24 and one of 23.

blocks = ps.stages.resample(24).state()
means = [blocks.update(temp[start:start + 100]) for start in range(0, len(temp), 100)]
tail = blocks.flush()
means = np.concatenate(means + [tail])
print(f"ewm flush: {state.flush().size} values; resample flush: the mean of the last "
      f"{len(temp) % 24} hours, {tail[0]:.2f} °F")
print(f"all {len(means)} block means identical to Stream.resample:",
      np.array_equal(means, ps.from_array(temp).resample(24).to_array()))

fig, ax = plt.subplots(figsize=(8, 4))
ax.plot(time, temp, color="0.75", lw=0.4, label="hourly temperature")
ax.plot(time, resumed, color="C0", lw=1, label="ewm_mean(halflife=24), resumed")
ax.plot(time[::24], means, color="C3", lw=0.8, label="24-hour block means (resample)")
ax.axvline(time[restart], color="k", ls="--", lw=0.8, label="last checkpoint")
ax.axvline(time[crash], color="k", ls=":", lw=0.8, label="crash")
ax.set_ylabel("temperature (°F)")
ax.legend(loc="upper left", fontsize="small")
fig.autofmt_xdate()
fig.tight_layout()
plt.show()
