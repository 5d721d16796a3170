"""
Streaming decimation with ``decimate``
======================================

``decimate(q)`` applies the causal anti-alias filter of
``scipy.signal.decimate`` (Chebyshev I of order 8, or a Hamming FIR) and keeps
every q-th record.  It equals ``scipy.signal.decimate(x, q,
zero_phase=False)``: scipy's default ``zero_phase=True`` filters backwards as
well, which needs the whole signal and cannot stream.
"""

# %%
import numpy as np
import scipy.signal as ss

import pystream as ps

fs = 1000.0
t = np.arange(30_000) / fs
x = np.sin(2 * np.pi * 3 * t) + 0.3 * np.sin(2 * np.pi * 400 * t)  # 400 Hz aliases at fs/10

q = 10
y = ps.from_array(x, chunk_size=4096).decimate(q=q).to_array()
want = ss.decimate(x, q, zero_phase=False)
print(f"{len(x)} records -> {len(y)}; identical to scipy (zero_phase=False):",
      np.array_equal(y, want))

# %%
# The FIR variant: a Hamming-window FIR of 20*q + 1 taps by default.
yf = ps.from_array(x, chunk_size=999).decimate(q=q, ftype="fir").to_array()
wf = ss.decimate(x, q, ftype="fir", zero_phase=False)
print("fir: max |difference| to scipy:", float(np.max(np.abs(yf - wf))))

# %%
# The zero-phase result differs by the filter's delay (a causal filter lags).
zp = ss.decimate(x, q)
print("max |causal - zero_phase| (delay effect):", float(np.max(np.abs(y - zp))))

# %%
try:
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib not installed: no plot")
else:
    td = t[::q]
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.plot(t[:3000], x[:3000], lw=0.3, label="input")
    ax.plot(td[:300], y[:300], "o-", ms=2, label="decimate (causal, streamed)")
    ax.plot(td[:300], zp[:300], label="scipy zero_phase=True")
    ax.legend()
    plt.show()
