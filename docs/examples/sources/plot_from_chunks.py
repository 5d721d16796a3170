"""
Streaming chunks you already have
=================================

Data often arrive in pieces: one array per file, per day, per network
message. :func:`pystream.from_chunks` turns any iterable of such pieces into
a stream, checking on the way that every piece has the same dtype and record
shape.

The data are the weekly atmospheric CO2 concentrations measured at Mauna Loa
(Hawaii) from 1958 to 2001 by C. D. Keeling and T. P. Whorf (Scripps
Institution of Oceanography), shipped with ``statsmodels``. The record has
gaps, stored as NaN.
"""

import matplotlib.pyplot as plt
import numpy as np
from statsmodels.datasets import co2

import pystream as ps

data = co2.load_pandas().data["co2"]

# %%
# One piece per calendar year
# ---------------------------
# Split the record into years: the pieces have different lengths (the first
# year starts in March, some years have 53 Saturdays).

years = [group.to_numpy() for _, group in data.groupby(data.index.year)]
print(f"{len(years)} pieces, lengths {min(map(len, years))} to {max(map(len, years))}")

# %%
# A list of pieces gives a stream that can be read as often as needed. The
# dtype and record shape come from the first piece.

weekly = ps.from_chunks(years)
print(weekly, "| dtype:", weekly.dtype, "| record_shape:", weekly.record_shape)
print("pieces in the stream:", [len(c) for c in weekly][:5], "...")

# %%
# NaN gaps are skipped with ``nan_policy="omit"``, as pandas does by default:

print(f"streamed mean {weekly.mean(nan_policy='omit'):.4f} ppm, "
      f"pandas mean {data.mean():.4f} ppm")

# %%
# Regroup into equal chunks
# -------------------------
# ``chunk_size`` cuts the incoming pieces into chunks of exactly that many
# records (the last may be shorter), whatever their original boundaries.

regular = ps.from_chunks(years, chunk_size=500)
print("regrouped:", [len(c) for c in regular])

# %%
# Generators are read once
# ------------------------
# An iterator or generator of pieces gives a *one-shot* stream: the pieces
# are produced as the stream is read and are not kept. A second pass fails
# clearly instead of silently seeing no data.


def pieces():
    for _, group in data.groupby(data.index.year):
        yield group.to_numpy()


once = ps.from_chunks(pieces())
print(f"one_shot={once.one_shot}; weeks with a value: {once.count()}")
try:
    once.count()
except RuntimeError as err:
    print("second pass:", str(err).split(";")[0])

# %%
# Pieces are checked
# ------------------
# A piece of another dtype is refused (no silent cast); the message names the
# piece and the global offset of its first record.

mixed = ps.from_chunks([years[0], years[1].astype(np.float32)])
try:
    mixed.to_array()
except TypeError as err:
    print(err)

# %%
# The yearly pieces, and the mean of each (NaNs omitted):

fig, ax = plt.subplots(figsize=(8, 3.5))
for i, (offset, chunk) in enumerate(weekly.chunks_with_offsets()):
    dates = data.index[offset:offset + len(chunk)]
    ax.plot(dates, chunk, lw=0.8, color="C0" if i % 2 else "C9")
    ax.hlines(np.nanmean(chunk), dates[0], dates[-1], color="C3")
ax.set_ylabel("CO$_2$ (ppm)")
ax.set_title("Mauna Loa CO$_2$: one chunk per year, with its mean")
fig.tight_layout()
plt.show()
