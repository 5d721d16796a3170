"""
Streaming IIR filtering with ``sosfilt``
========================================

``stream.sosfilt(sos=...)`` (from the ``pystream-signal`` plugin) runs a
filter in second-order sections over a stream chunk by chunk, carrying the
sections' delays from one chunk to the next, so the result equals
``scipy.signal.sosfilt`` on the whole array, bit for bit.  The data: the
membrane potential of a neuron firing during a current step (``membrane.dat``
from matplotlib's sample data: 12,000 float32 samples at 2 kHz, converted
to mV as in matplotlib's own example), and four EEG channels sampled at
80 Hz (``eeg.dat``, also matplotlib's).
"""

import matplotlib.cbook as cbook
import matplotlib.pyplot as plt
import numpy as np
import scipy.signal as ss

import pystream as ps

raw = np.fromfile(cbook.get_sample_data("membrane.dat", asfileobj=False), dtype=np.float32)
mv = 100 * raw  # mV
fs = 2000.0
t = np.arange(len(mv)) / fs

# %%
# A 2nd-order Butterworth low-pass at 5 Hz keeps the slow depolarisation
# under the spikes.  Chunks of 1000 samples: the filter state crosses 11
# chunk boundaries.

sos = ss.butter(2, 5, fs=fs, output="sos")
cold = ps.from_array(mv, chunk_size=1000).sosfilt(sos=sos).to_array()
print("identical to scipy.signal.sosfilt:", np.array_equal(cold, ss.sosfilt(sos, mv)))

# %%
# A filter starts at rest (zero delays), so it first swings from 0 mV down
# to the resting potential.  Initial delays ``zi`` in scipy's layout start it
# in the steady state of the first sample instead.

zi = ss.sosfilt_zi(sos) * mv[0]
slow = ps.from_array(mv, chunk_size=1000).sosfilt(sos=sos, zi=zi).to_array()
print("with zi, identical to scipy:", np.array_equal(slow, ss.sosfilt(sos, mv, zi=zi)[0]))

# %%
# Several channels at once: records of shape ``(4,)`` are filtered channel
# by channel, as ``scipy.signal.sosfilt(..., axis=0)``.  Here a 4th-order
# Butterworth low-pass at 8 Hz on the EEG.

eeg = np.fromfile(cbook.get_sample_data("eeg.dat", asfileobj=False)).reshape(800, 4)
sos_eeg = ss.butter(4, 8, fs=80.0, output="sos")
eeg_lp = ps.from_array(eeg, chunk_size=128).sosfilt(sos=sos_eeg).to_array()
print("4 EEG channels, identical:",
      np.array_equal(eeg_lp, ss.sosfilt(sos_eeg, eeg, axis=0)))

# %%
# Checkpoint in the middle of the stream and resume from the bytes (for
# example after a restart): ``SosFilt(sos).state()`` is the stage's state.

from pystream_signal import SosFilt, SosfiltState

state = SosFilt(sos, zi=zi).state()
first = state.update(mv[:5_432])
blob = state.to_bytes()                       # e.g. written to disk
second = SosfiltState.from_bytes(blob).update(mv[5_432:])
print(f"checkpoint of {len(blob)} bytes; resumed output identical:",
      np.array_equal(np.concatenate([first, second]), slow))

# %%
fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6))
ax1.plot(t, mv, color="0.6", lw=0.4, label="membrane potential")
ax1.plot(t, cold, color="C1", lw=1, label="sosfilt: 5 Hz low-pass, from rest")
ax1.plot(t, slow, color="C0", label="sosfilt: 5 Hz low-pass, zi = steady state")
ax1.set_xlabel("time (s)")
ax1.set_ylabel("mV")
ax1.legend(loc="upper right", fontsize="small")
te = np.arange(800) / 80.0
gap = 0.8 * np.ptp(eeg)
for ch in range(4):
    ax2.plot(te, eeg[:, ch] - ch * gap, color="0.6", lw=0.6)
    ax2.plot(te, eeg_lp[:, ch] - ch * gap, color="C1", lw=1)
ax2.set_yticks([-ch * gap for ch in range(4)], labels=["PG3", "PG5", "PG7", "PG9"])
ax2.set_xlabel("time (s); grey: EEG, orange: sosfilt 8 Hz low-pass")
fig.tight_layout()
plt.show()
