"""
Removing spikes with a moving median
====================================

A moving mean is dragged up by every spike; a moving median or a moving
quantile is not.  The signal is ``membrane.dat`` from matplotlib's sample
data: 12,000 float32 samples of a membrane-potential trace in which a step
of current makes a neuron fire a train of action potentials.
:meth:`~pystream.Stream.moving_median` recovers the slow potential under
the spikes and :meth:`~pystream.Stream.moving_quantile` gives a band around
it.
"""

import matplotlib.cbook as cbook
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import pystream as ps

v = np.fromfile(cbook.get_sample_data("membrane.dat", asfileobj=False), np.float32)

# %%
# A spike lasts about ten samples, less than half of a 31-sample window, so
# the median of the window ignores it.  The stages read the float32 samples
# and compute in float64.

s = ps.from_array(v)
w = 31
mean = s.moving_mean(w).to_array()
median = s.moving_median(w).to_array()
q25 = s.moving_quantile(w, q=0.25).to_array()
q75 = s.moving_quantile(w, q=0.75).to_array()

# %%
# The median is the mean of the two middle values and the quantile uses
# numpy's "linear" interpolation, so both are equal, bit for bit, to
# pandas' rolling median and quantile:

r = pd.Series(v, dtype=np.float64).rolling(w)
print("median == pandas:", np.array_equal(median, r.median(), equal_nan=True))
print("q=0.75 == pandas:", np.array_equal(q75, r.quantile(0.75), equal_nan=True))

# %%
# A trailing window lags by half its length: plotting each output
# ``w // 2`` samples earlier centres it on the trace.  Samples far above
# the median are spikes.

t = np.arange(len(v))
tc = t - w // 2
spike = v - median > 0.15
n_spikes = np.count_nonzero(np.diff(spike.astype(int)) == 1)
print(f"{n_spikes} spikes, {spike.sum()} samples ({spike.mean():.1%} of the trace)")

fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(8, 6))
ax0.plot(t, v, color="0.6", lw=0.7, label="signal")
ax0.plot(tc, median, color="C0", lw=1, label=f"moving median ({w} samples)")
ax0.set_ylabel("membrane potential")
ax0.legend(loc="upper right")

z = slice(4000, 5000)
ax1.plot(t[z], v[z], color="0.6", lw=0.7)
ax1.fill_between(tc[z], q25[z], q75[z], color="C0", alpha=0.25, label="moving quartiles")
ax1.plot(tc[z], median[z], color="C0", label="moving median")
ax1.plot(tc[z], mean[z], color="C3", ls="--", label="moving mean")
ax1.plot(t[z][spike[z]], v[z][spike[z]], ".", color="k", ms=3, label="flagged as spike")
ax1.set_xlabel("sample")
ax1.set_ylabel("membrane potential")
ax1.legend(loc="upper right", ncols=2, fontsize="small")
fig.tight_layout()
plt.show()
