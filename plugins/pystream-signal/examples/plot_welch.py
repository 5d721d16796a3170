"""
Welch power spectral density with the ``welch`` reducer
=======================================================

``stream.welch(...)`` accumulates segment periodograms chunk by chunk and
returns ``(f, Pxx)`` as ``scipy.signal.welch(x, axis=0)`` does.  Its state is
mergeable: partitions of a long recording can be reduced separately (other
processes, other machines) and merged, bit-identically to one serial pass.
"""

# %%
import numpy as np
import scipy.signal as ss

import pystream as ps

fs = 2000.0
n = 200_000
t = np.arange(n) / fs
x = np.sin(2 * np.pi * 123 * t) + np.random.default_rng(1).normal(size=n)

f, pxx = ps.from_array(x, chunk_size=5000).welch(fs=fs, nperseg=1024)
f0, p0 = ss.welch(x, fs=fs, nperseg=1024)
print("peak at", f[np.argmax(pxx)], "Hz; max relative difference to scipy:",
      float(np.max(np.abs(pxx - p0) / p0)))

# %%
# Partitions reduced separately (each state knows where it starts), then merged.
from pystream_signal import Welch

bounds = [0, 33_333, 100_001, 150_000, n]
states = []
for lo, hi in zip(bounds[:-1], bounds[1:]):
    s = Welch(fs=fs, nperseg=1024, start=lo)
    for i in range(lo, hi, 4096):
        s.update(x[i:min(i + 4096, hi)])
    states.append(Welch.from_bytes(s.to_bytes()))   # e.g. shipped from a worker
merged = states[0]
for s in states[1:]:
    merged.merge(s)
fm, pm = merged.result()
print("merged partitions identical to the serial stream:", np.array_equal(pm, pxx))

# %%
try:
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib not installed: no plot")
else:
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.semilogy(f, pxx)
    ax.set_xlabel("frequency [Hz]")
    ax.set_ylabel("PSD [V**2/Hz]")
    plt.show()
