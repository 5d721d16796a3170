"""
Histograms of a stream: ``histogram`` and ``Histogram``
=======================================================

:meth:`~pystream.Stream.histogram` counts the values of a stream in bins,
in one pass (two when it has to find the range) and with the memory of
the counts only.  It follows
:func:`numpy.histogram` -- the same bins, the same edges, the same rule for
a value on an edge -- and also reports what numpy drops silently: values
below and above the range and NaNs.  Its state, :class:`~pystream.Histogram`,
is exact integer counts, so it merges from partitions without any loss.

Three real data sets: the hourly air temperatures of Seattle in 2010 (°F,
public-domain NOAA data shipped with ``vega_datasets``); the weekly
atmospheric CO2 concentrations at Mauna Loa, 1958-2001, with 59 missing
weeks (C. D. Keeling and T. P. Whorf, Scripps Institution of Oceanography,
shipped with ``statsmodels``); and the daily trading volume of Google
shares, 2004-2008, from matplotlib's sample data (``goog.npz``).
"""

import matplotlib.cbook as cbook
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter
from statsmodels.datasets import co2
from vega_datasets import local_data

import pystream as ps

weather = local_data.seattle_temps()
temp = weather["temp"].to_numpy()

# %%
# The same bins as numpy, bit for bit
# -----------------------------------
# Without ``range``, the bins span the data's minimum and maximum, as in
# numpy; the stream finds them in a first pass, then counts in a second.
# The edges are computed as numpy computes them, so they are the same
# floats, and the counts are the same integers whatever the chunking.

hourly = ps.from_array(temp, chunk_size=1000)
h = hourly.histogram(bins=40)
counts, edges = np.histogram(temp, bins=40)
print("counts == numpy:", np.array_equal(h.counts, counts),
      "| edges identical bits:", h.edges.tobytes() == edges.tobytes(),
      "| chunks of 7:", np.array_equal(ps.from_array(temp, chunk_size=7).histogram(bins=40).counts,
                                      counts))

# %%
# Nothing is dropped silently
# ---------------------------
# Give a range narrower than the data and numpy counts only what falls in
# it.  The stream's histogram counts the rest too: ``underflow`` (below the
# first edge), ``overflow`` (above the last) and ``nan_count``; ``total``
# is all the values seen.  The result, a :class:`~pystream.HistogramResult`,
# prints as a text histogram.  With the CO2 record's gaps, numpy cannot
# even find a default range (``np.histogram`` raises ``ValueError``); the
# stream skips the NaNs to find it, and counts them.

ppm = co2.load_pandas().data["co2"].to_numpy()
weekly = ps.from_array(ppm, chunk_size=500)
narrow = weekly.histogram(bins=8, range=(320, 360))
numpy_counts, _ = np.histogram(ppm, bins=8, range=(320, 360))
print(narrow)
print(f"np.histogram: the same counts ({np.array_equal(narrow.counts, numpy_counts)}), "
      f"{numpy_counts.sum()} of the {len(ppm)} weeks, the others dropped")
full = weekly.histogram(bins=20)
print(f"default range over the NaN gaps: [{full.edges[0]}, {full.edges[-1]}] ppm, "
      f"nan_count {full.nan_count}")

# %%
# Logarithmic bins
# ----------------
# Trading volume is heavy-tailed: with equal-width bins most days fall in
# the first few bins.  ``log=True`` spaces the edges geometrically
# (``np.geomspace(lo, hi, bins + 1)``), equal widths on a logarithmic axis.

goog = cbook.get_sample_data("goog.npz")["price_data"]
volume = goog["volume"]                       # shares per day, int64
daily = ps.from_array(volume)
lin = daily.histogram(bins=30)
logh = daily.histogram(bins=30, log=True)
geo = np.histogram(volume, bins=np.geomspace(volume.min(), volume.max(), 31))
busiest = {name: np.sort(r.counts)[-4:].sum() / len(volume)
           for name, r in [("equal", lin), ("log", logh)]}
print(f"{len(volume)} days; the 4 busiest of 30 bins hold {busiest['equal']:.0%} of the days "
      f"with equal widths, {busiest['log']:.0%} with log=True")
print("log bins == numpy with geomspace edges:",
      np.array_equal(logh.counts, geo[0]) and np.array_equal(logh.edges, geo[1]))

# %%
# Merging partitions: ``Histogram``
# ---------------------------------
# The state behind ``histogram`` is :class:`~pystream.Histogram`.  Fixed
# bins (``range`` or ``edges``) let every partition count on its own; the
# counts are exact, so merging gives exactly the histogram of the whole.
# Here the two halves of the year, each serialized as if sent from a
# worker.

lo, hi = 35.0, 80.0
july = int(np.count_nonzero(weather["date"] < "2010-07-01"))
first = ps.Histogram(bins=45, range=(lo, hi)).update(temp[:july])
second = ps.Histogram(bins=45, range=(lo, hi)).update(temp[july:])
received = [ps.Histogram.from_bytes(part.to_bytes()) for part in (first, second)]
merged: ps.HistogramResult = received[0].merge(received[1]).result()
whole = hourly.histogram(bins=45, range=(lo, hi))
one_state = ps.Histogram(bins=45, range=(lo, hi)).update(temp)
print("merged halves == whole year:", np.array_equal(merged.counts, whole.counts),
      "| same bytes as one state fed the year:", received[0].to_bytes() == one_state.to_bytes())

# %%
# The four histograms.

fig, ((ax0, ax1), (ax2, ax3)) = plt.subplots(2, 2, figsize=(10, 7))


def bars(ax, result, **kwargs):
    ax.stairs(result.counts, result.edges, fill=True, **kwargs)


bars(ax0, h, color="C0", alpha=0.6, label="stream.histogram(bins=40)")
ax0.stairs(counts, edges, color="k", lw=0.8, label="np.histogram(bins=40)")
ax0.set_xlabel("temperature (°F)")
ax0.set_ylabel("hours")
ax0.set_title("Seattle, hourly, 2010", fontsize="medium")
ax0.legend(fontsize="small")

bars(ax1, narrow, color="C0", alpha=0.6, label="counts, range (320, 360)")
ax1.bar([314, 366], [narrow.underflow, narrow.overflow], width=6, color="C3", alpha=0.6,
        label="underflow, overflow")
ax1.set_xticks([314, 320, 330, 340, 350, 360, 366], ["below", 320, 330, 340, 350, 360, "above"])
ax1.set_xlabel("CO2 (ppm)")
ax1.set_ylabel("weeks")
ax1.set_title(f"Mauna Loa, weekly, 1958-2001 ({narrow.nan_count} NaN)", fontsize="medium")
ax1.legend(fontsize="small", loc="upper center")

bars(ax2, logh, color="C2", alpha=0.6, label="log=True")
ax2.set_xscale("log")
ax2.xaxis.set_minor_formatter(NullFormatter())
ax2.set_xticks([2e6, 5e6, 1e7, 2e7, 4e7], ["2M", "5M", "10M", "20M", "40M"])
ax2.set_xlabel("shares traded per day")
ax2.set_ylabel("days")
ax2.set_title("GOOG, daily volume, 2004-2008", fontsize="medium")
ax2.legend(fontsize="small", loc="upper left")
inset = ax2.inset_axes([0.64, 0.42, 0.33, 0.45])
bars(inset, lin, color="0.5")
inset.set_title("equal widths", fontsize="small")
inset.tick_params(labelsize="x-small")
inset.xaxis.get_offset_text().set_fontsize("x-small")

first_r, second_r = first.result(), second.result()
ax3.stairs(first_r.counts, first_r.edges, fill=True, color="C0", alpha=0.6, label="January-June")
ax3.stairs(first_r.counts + second_r.counts, first_r.edges, baseline=first_r.counts,
           fill=True, color="C1", alpha=0.6, label="July-December")
ax3.stairs(merged.counts, merged.edges, color="k", lw=0.8, label="merged")
ax3.set_xlabel("temperature (°F)")
ax3.set_ylabel("hours")
ax3.set_title("two halves of the year, merged", fontsize="medium")
ax3.legend(fontsize="small")
fig.tight_layout()
plt.show()
