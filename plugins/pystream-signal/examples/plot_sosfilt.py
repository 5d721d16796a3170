"""
Streaming IIR filtering with ``sosfilt``
========================================

A 4th-order Butterworth low-pass filter runs over a stream chunk by chunk;
the filter state travels from chunk to chunk, so the result equals
``scipy.signal.sosfilt`` on the whole array, bit for bit.  The state can be
checkpointed (``to_bytes``) and resumed.
"""

# %%
# A noisy two-tone signal, streamed in chunks of 1000 records.
import numpy as np
import scipy.signal as ss

import pystream as ps

fs = 1000.0
t = np.arange(20_000) / fs
x = np.sin(2 * np.pi * 5 * t) + 0.5 * np.sin(2 * np.pi * 180 * t)
x += 0.2 * np.random.default_rng(0).normal(size=t.size)

sos = ss.butter(4, 30, fs=fs, output="sos")
y = ps.from_array(x, chunk_size=1000).sosfilt(sos=sos).to_array()
print("identical to scipy.signal.sosfilt:", np.array_equal(y, ss.sosfilt(sos, x)))

# %%
# Several channels at once: records of shape (3,) are filtered column by column.
xs = np.stack([x, -x, 2 * x], axis=1)
ys = ps.from_array(xs, chunk_size=777).sosfilt(sos=sos).to_array()
print("3 channels, identical:", np.array_equal(ys, ss.sosfilt(sos, xs, axis=0)))

# %%
# Checkpoint in the middle of the stream, resume from the bytes.
from pystream_signal import SosFilt, SosfiltState

state = SosFilt(sos).state()
first = state.update(x[:12_345])
blob = state.to_bytes()                      # e.g. written to disk
resumed = SosfiltState.from_bytes(blob)
second = resumed.update(x[12_345:])
print(f"checkpoint of {len(blob)} bytes; resumed output identical:",
      np.array_equal(np.concatenate([first, second]), y))

# %%
# Plot (only if matplotlib is installed).
try:
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib not installed: no plot")
else:
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.plot(t[:1000], x[:1000], lw=0.5, label="input")
    ax.plot(t[:1000], y[:1000], label="sosfilt (streamed)")
    ax.set_xlabel("time [s]")
    ax.legend()
    plt.show()
