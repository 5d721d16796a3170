"""
Which quantile tool when
========================

pystream has three ways to get a quantile, and numpy has a fourth:

.. list-table::
   :header-rows: 1
   :widths: 28 18 22 32

   * - tool
     - quantile of
     - accuracy
     - use it when
   * - ``moving_quantile(window, q)``
     - the last ``window`` records, at every record
     - exact (numpy's ``linear``)
     - you want local behaviour: a band that follows trends, seasons,
       regimes
   * - ``quantile(q)`` (``method="kll"``, the default, as ``describe()``)
     - the whole stream
     - rank within 1 % (probability >= 99 % per quantile; ``k=400``)
     - any distribution, whatever the units or the origin: levels far from
       zero, timestamps, values of both signs, ties
   * - ``quantile(q, method="relative")``
     - the whole stream
     - within ``alpha`` (1 %) of the value
     - positive data spread over orders of magnitude (sizes, latencies,
       volumes) when the value's digits matter; partitions merged in any
       order
   * - ``np.quantile(x, q)``
     - an array in memory
     - exact
     - the data fit in memory

The two sketches keep a few kilobytes whatever the length of the stream
(see :ref:`sphx_glr_auto_examples_sketches_plot_quantile_sketches.py`);
:class:`~pystream.DDSketch` and :class:`~pystream.KLLSketch` are their
mergeable states (:ref:`sphx_glr_auto_examples_sketches_plot_sketch_merge.py`).

All four run here on one series: the weekly atmospheric CO2 concentrations
measured at Mauna Loa (Hawaii) from 1958 to 2001 by C. D. Keeling and
T. P. Whorf (Scripps Institution of Oceanography), shipped with
``statsmodels``; 59 missing weeks are stored as NaN.
"""

import matplotlib.pyplot as plt
import numpy as np
from statsmodels.datasets import co2

import pystream as ps

data = co2.load_pandas().data["co2"]
ppm = data.to_numpy()
weekly = ps.from_array(ppm, chunk_size=500)
qs = np.array([0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99])

# %%
# Local: ``moving_quantile``
# --------------------------
# A year-long (52-week) moving window gives the spread of the last year at
# every week: it rises with the trend and is wide where the seasonal cycle
# is.  NaNs are skipped (the default ``nan_policy="omit"``); half a window
# of values is enough for an output.

w = 52
band = {q: weekly.moving_quantile(w, q=q, min_count=w // 2).to_array() for q in (0.1, 0.5, 0.9)}
last = ppm[-w:]
print(f"last 52 weeks: p10 {band[0.1][-1]:.2f}, median {band[0.5][-1]:.2f}, "
      f"p90 {band[0.9][-1]:.2f} ppm (np.nanquantile: {np.nanquantile(last, 0.1):.2f}, "
      f"{np.nanmedian(last):.2f}, {np.nanquantile(last, 0.9):.2f})")

# %%
# Global: the sketches and numpy
# ------------------------------
# Over the whole record the two sketches and numpy answer the same
# question.  ``nan_policy="omit"`` skips the missing weeks
# (``np.nanquantile``); the sketches follow numpy's ``method="lower"``.

exact = np.nanquantile(ppm, qs, method="lower")
relative = weekly.quantile(qs, method="relative", nan_policy="omit")
kll = weekly.quantile(qs, nan_policy="omit")                 # method="kll", the default
print(f"median 1958-2001: exact {exact[4]:.2f}, relative {relative[4]:.2f}, "
      f"kll {kll[4]:.2f} ppm")

# %%
# The relative sketch keeps its promise -- within 1 % of each value -- but
# 1 % of 340 ppm is 3.4 ppm, more than two years of the rise of CO2: a
# relative error is measured from zero, and these values sit far from it.
# KLL's error is in rank, so it does not depend on where zero is: here it
# is never more than one step of the record's resolution (0.1 ppm) from the
# exact answer.  That is why ``describe()`` and ``quantile()`` use KLL by
# default, and keep the relative sketch for ``quantile_method="relative"``
# / ``method="relative"``.
#
# Subtract a centred year-long moving median and the same data become
# anomalies of a few ppm on both sides of zero.  Now the relative error is
# small in ppm too (it shrinks with the values, and the median, 0, is
# exact), while KLL's is still at most one step of the data (0.05 ppm).

med = weekly.moving_median(w, min_count=w // 2).to_array()
anomaly = ppm[: -w // 2] - med[w // 2:]          # the trailing window, centred
seasonal = ps.from_array(anomaly, chunk_size=500)
exact_a = np.nanquantile(anomaly, qs, method="lower")
relative_a = seasonal.quantile(qs, method="relative", nan_policy="omit")
kll_a = seasonal.quantile(qs, nan_policy="omit")

err = {"levels": (np.abs(relative - exact), np.abs(kll - exact), 0.01 * np.abs(exact)),
       "anomalies": (np.abs(relative_a - exact_a), np.abs(kll_a - exact_a), 0.01 * np.abs(exact_a))}
for name, (e_rel, e_kll, _) in err.items():
    print(f"{name:>9}: largest error relative {e_rel.max():.3f} ppm, kll {e_kll.max():.3f} ppm")

# %%
# When the relative sketch cannot keep its promise
# ------------------------------------------------
# A :class:`~pystream.DDSketch` keeps 2048 buckets per sign below the
# largest magnitude it has seen.  One value far out -- here a corrupt
# reading of 1e25 ppm -- moves that floor up, and every smaller value is
# counted in one bucket: the quantiles falling there are no longer within
# 1 %.  The sketch says so: :attr:`~pystream.DDSketch.collapsed` names the
# bucket and the range of ``q`` it covers, and the quantile call warns with
# :class:`~pystream.SketchAccuracyWarning`.  The rank sketch is unaffected
# (one value moves a rank by one).

import warnings

corrupt = np.append(ppm, 1e25)
dd = ps.DDSketch().update(corrupt)
print(dd.collapsed)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    bad = ps.from_array(corrupt).quantile(0.5, method="relative", nan_policy="omit")
print(f"relative median {bad:.4g} ppm; warned: "
      f"{any(issubclass(w.category, ps.SketchAccuracyWarning) for w in caught)}")
print(f"kll median {ps.from_array(corrupt).quantile(0.5, nan_policy='omit'):.1f} ppm "
      f"(exact {np.nanquantile(ppm, 0.5, method='lower'):.1f})")

# %%
# Top: the moving quantiles follow the record; the whole-record quantiles
# are one number each.  Bottom: the error, in ppm, of each whole-record
# quantile, with the relative sketch's bound (1 % of the value).

fig = plt.figure(figsize=(9, 6.5))
top = fig.add_subplot(2, 1, 1)
t = data.index
top.plot(t, ppm, color="0.6", lw=0.6, label="weekly CO2")
tc = t[: -w // 2]                                 # centre the trailing windows
top.fill_between(tc, band[0.1][w // 2:], band[0.9][w // 2:], color="C0", alpha=0.3, lw=0,
                 label="moving_quantile, 52 weeks: p10 to p90")
top.plot(tc, band[0.5][w // 2:], color="C0", lw=1, label="moving median")
for q, v in zip(qs, exact):
    if q in (0.1, 0.5, 0.9):
        top.axhline(v, color="C3", ls="--" if q == 0.5 else ":", lw=1,
                    label="whole record: p10, median, p90" if q == 0.5 else None)
top.set_ylabel("CO2 (ppm)")
top.legend(fontsize="small", loc="upper left")

labels = [f"p{100 * q:g}" for q in qs]
pos = np.arange(len(qs))
for i, (name, (e_rel, e_kll, bound)) in enumerate(err.items()):
    ax = fig.add_subplot(2, 2, 3 + i)
    ax.bar(pos - 0.2, e_rel, 0.4, color="C0", label='method="relative"')
    ax.bar(pos + 0.2, e_kll, 0.4, color="C1", label='method="kll" (default)')
    ax.plot(pos, bound, "_", color="C3", ms=14, mew=2, label="1 % of the value")
    ax.set_xticks(pos, labels, rotation=60)
    ax.set_title(f"{name}: |quantile - exact|", fontsize="medium")
    ax.set_ylabel("ppm")
    ax.set_ylim(0, 1.5 * max(bound.max(), e_rel.max(), e_kll.max()))
    ax.legend(fontsize="small", loc="upper left", ncols=2)
fig.tight_layout()
plt.show()
