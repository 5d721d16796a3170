"""
Welch power spectral density with the ``welch`` reducer
=======================================================

``stream.welch(...)`` (from the ``pystream-signal`` plugin) accumulates
segment periodograms chunk by chunk and returns ``(f, Pxx)`` as
``scipy.signal.welch(x, axis=0)`` does.  Its state is mergeable: partitions
of a long record can be reduced separately (other processes, other
machines) and merged, bit-identically to one serial pass.  The data: yearly
sunspot numbers from 1700 to 2008 (the ``sunspots`` dataset that ships with
statsmodels, from NOAA's National Geophysical Data Center).
"""

import matplotlib.pyplot as plt
import numpy as np
import scipy.signal as ss
from statsmodels.datasets import sunspots

import pystream as ps

data = sunspots.load_pandas().data
years, spots = data["YEAR"].to_numpy(), data["SUNACTIVITY"].to_numpy()

# %%
# Segments of 128 years overlapping by half, one sample a year: the peak is
# the solar cycle.

f, pxx = ps.from_array(spots, chunk_size=50).welch(fs=1.0, nperseg=128)
f0, p0 = ss.welch(spots, fs=1.0, nperseg=128)
peak = f[np.argmax(pxx)]
print(f"peak at {peak:.4f} cycles a year: a {1 / peak:.1f}-year cycle;",
      f"max relative difference to scipy: {np.max(np.abs(pxx - p0) / p0):.1e}")

# %%
# One partition per century, each reduced on its own.  A partition's state
# is told where it starts (``start=``), since the segments that straddle its
# first record belong to the merge; the states travel as bytes.

from pystream_signal import Welch

bounds = [0, 100, 200, len(spots)]  # 1700-1799, 1800-1899, 1900-2008
shipped = []
for lo, hi in zip(bounds[:-1], bounds[1:]):
    part = Welch(fs=1.0, nperseg=128, start=lo)
    for chunk in ps.from_array(spots[lo:hi], chunk_size=50):
        part.update(chunk)
    shipped.append(part.to_bytes())
merged = Welch.from_bytes(shipped[0])
for blob in shipped[1:]:
    merged.merge(Welch.from_bytes(blob))
fm, pm = merged.result()
print("three centuries merged, identical to the serial stream:", np.array_equal(pm, pxx))

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5), gridspec_kw={"width_ratios": [3, 2]})
ax1.plot(years, spots, color="k", lw=0.8)
for b in bounds[1:-1]:
    ax1.axvline(years[b], color="C1", ls="--", lw=0.8)
ax1.set_xlabel("year (dashed: partition boundaries)")
ax1.set_ylabel("sunspot number")
ax2.semilogy(f, pxx, color="C0")
ax2.axvline(peak, color="grey", lw=0.5)
ax2.set_xlabel("frequency (cycles a year)")
ax2.set_ylabel("PSD")
fig.tight_layout()
plt.show()
