"""
Drift-free windows
==================

bottleneck and pandas update a moving sum by adding the value that enters
the window and subtracting the one that leaves.  The rounding error of
every value that ever passed stays in that running sum, so one huge value
spoils all the outputs after it.  pystream never subtracts: every output is
computed from the values in its window only.

The data are synthetic, because the point is the failure: a sensor reads
20 with noise of standard deviation 0.01, record 5,000 is a glitch of
1e12, and from record 12,000 on the sensor is stuck at exactly 20.
"""

import bottleneck as bn
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import pystream as ps

rng = np.random.default_rng(0)
x = 20 + 0.01 * rng.standard_normal(20_000)
x[5_000] = 1e12
x[12_000:] = 20.0
w = 100

# %%
# The reference is numpy's ``std`` of every window, computed from scratch
# (``ddof=0``, bottleneck's convention; ``moving_std`` defaults to pandas'
# ``ddof=1``, so the comparison spells ``ddof=0`` out for pystream and pandas).

exact = np.full(len(x), np.nan)
exact[w - 1:] = np.lib.stride_tricks.sliding_window_view(x, w).std(axis=1)

ours = ps.from_array(x).moving_std(w, ddof=0).to_array()   # ddof=0: as bottleneck and np.std
peers = {"pystream": ours,
         "bottleneck": bn.move_std(x, w),
         "pandas": pd.Series(x).rolling(w).std(ddof=0).to_numpy()}

noisy, stuck = slice(5_000 + w, 12_000), slice(12_000 + w, None)
for name, y in peers.items():
    err = np.max(np.abs(y[noisy] - exact[noisy]))
    print(f"{name:>10}: max error after the glitch {err:.1e}, "
          f"nonzero std on the stuck sensor: {np.count_nonzero(y[stuck])}")

# %%
# bottleneck's moving std is wrong by as much as the signal's own standard
# deviation for the rest of the stream; pandas' is close, but a window of
# 100 identical values does not get a zero standard deviation.  pystream's
# outputs agree with the reference to rounding error, and are exactly 0
# where the window is constant.  The moving variance and mean tell the same
# story:

var = ps.from_array(x).moving_var(w, ddof=0).to_array()
print("moving_var on the stuck sensor is exactly 0:", np.all(var[stuck] == 0))
mean = ps.from_array(x).moving_mean(w).to_array()
print("moving mean on the stuck sensor, |mean - 20|: "
      f"pystream {np.max(np.abs(mean[stuck] - 20)):.1e}, "
      f"bottleneck {np.max(np.abs(bn.move_mean(x, w)[stuck] - 20)):.1e}")

# %%
# An ``inf`` is the extreme case: a running sum that has seen ``inf`` stays
# ``inf`` or ``NaN`` forever, while a pystream window forgets it once it has
# left.

z = np.r_[np.ones(10), np.inf, np.ones(20)]
print("after an inf, pystream:  ", ps.from_array(z).moving_mean(5).to_array()[-3:])
print("after an inf, bottleneck:", bn.move_mean(z, 5)[-3:])

# %%

fig, axes = plt.subplots(len(peers), 1, sharex=True, sharey=True, figsize=(8, 6))
for ax, (name, y) in zip(axes, peers.items()):
    ax.plot(exact, color="0.6", lw=3, label="numpy, window by window")
    ax.plot(y, lw=0.8, color="C3" if name != "pystream" else "C0", label=name)
    ax.axvline(5_000, color="k", ls=":", lw=0.8)
    ax.set_ylabel("moving std")
    ax.legend(loc="upper right")
axes[0].set_ylim(-0.002, 0.025)
axes[0].annotate("glitch (1e12)", (5_000, 0.02), xytext=(5_300, 0.02))
axes[-1].set_xlabel("record")
fig.tight_layout()
plt.show()
