"""
Streaming decimation with ``decimate``
======================================

``stream.decimate(q=...)`` (from the ``pystream-signal`` plugin) applies the
anti-alias filter of ``scipy.signal.decimate`` (a Chebyshev I of order 8, or
a Hamming FIR) and keeps every q-th record.  It equals
``scipy.signal.decimate(x, q, zero_phase=False)``: scipy's default
``zero_phase=True`` also filters backwards, which needs the whole signal and
cannot stream.  The data: the membrane potential of a neuron firing during
a current step (``membrane.dat`` from matplotlib's sample data: 12,000
float32 samples at 2 kHz, in mV as in matplotlib's own example).
"""

import matplotlib.cbook as cbook
import matplotlib.pyplot as plt
import numpy as np
import scipy.signal as ss

import pystream as ps

raw = np.fromfile(cbook.get_sample_data("membrane.dat", asfileobj=False), dtype=np.float32)
mv = 100 * raw  # mV
fs, q = 2000.0, 10
t = np.arange(len(mv)) / fs

# %%
# From 2 kHz to 200 Hz.  float32 stays float32, as in scipy.

s = ps.from_array(mv, chunk_size=1000)
y = s.decimate(q=q).to_array()
print(f"{len(mv)} samples -> {len(y)} ({y.dtype}); identical to scipy (zero_phase=False):",
      np.array_equal(y, ss.decimate(mv, q, zero_phase=False)))

# %%
# The FIR variant (201 taps by default) computes only the kept outputs, in
# numpy's summation order, where scipy's ``upfirdn`` sums in its own: the two
# agree to float32 rounding.

yf = s.decimate(q=q, ftype="fir").to_array()
wf = ss.decimate(mv, q, ftype="fir", zero_phase=False)
print("fir: max |difference| to scipy:",
      f"{np.max(np.abs(yf - wf) / np.spacing(np.abs(wf))):.0f} float32 ulps")

# %%
# A causal filter lags: cross-correlating with scipy's zero-phase result
# measures the delay of the IIR filter.

zp = ss.decimate(mv, q)
lags = np.arange(-20, 21)
a, b = y[200:1000] - y[200:1000].mean(), zp[200:1000] - zp[200:1000].mean()
corr = [np.dot(a[20 + k:780 + k], b[20:780]) for k in lags]
delay = lags[np.argmax(corr)] * q / fs
print(f"causal output lags the zero-phase one by {1000 * delay:.0f} ms")

# %%
# Plugin stages chain with any other stage, in one pass: decimate, then the
# ``welch`` reducer of the same plugin.  Its peak is the firing rate.

f, pxx = ps.from_array(mv, chunk_size=1000).decimate(q=q).welch(fs=fs / q, nperseg=256)
f0, p0 = ss.welch(ss.decimate(mv, q, zero_phase=False), fs=fs / q, nperseg=256)
print(f"spectrum peak at {f[1:][np.argmax(pxx[1:])]:.1f} Hz;",
      "identical to scipy:", np.array_equal(pxx, p0))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5), gridspec_kw={"width_ratios": [2, 1]})
w = (t >= 1.0) & (t < 1.3)
td = t[::q]
wd = (td >= 1.0) & (td < 1.3)
ax1.plot(t[w], mv[w], color="0.6", lw=0.8, label="2 kHz input")
ax1.plot(td[wd], y[wd], "o-", ms=3, color="C0", label="decimate(q=10), causal")
ax1.plot(td[wd], zp[wd], color="C3", lw=1, label="scipy, zero_phase=True")
ax1.set_xlabel("time (s)")
ax1.set_ylabel("mV")
ax1.legend(loc="lower right", fontsize="small")
ax2.semilogy(f, pxx)
ax2.set_xlabel("frequency (Hz)")
ax2.set_ylabel("PSD (mV²/Hz)")
fig.tight_layout()
plt.show()
