"""
Same result for any chunking
============================

A stream arrives in chunks, and where the chunk boundaries fall is an
accident: the read size of a file, the packets of a network feed.  The
moving stages carry their state from chunk to chunk and fix their
arithmetic in the stream's global index space, so every chunking gives the
same output, bit for bit.

The data are four EEG channels of 800 samples each, stored as raw float64
in ``eeg.dat``, part of matplotlib's sample data (its "MRI with EEG"
example plots them over 10 s, so 80 samples per second).  Each record of
the stream is one time step of the four channels, and each stage works
channel by channel.
"""

import bottleneck as bn
import matplotlib.cbook as cbook
import matplotlib.pyplot as plt
import numpy as np

import pystream as ps

path = cbook.get_sample_data("eeg.dat", asfileobj=False)
fs = 80.0  # samples per second

# %%
# ``from_file`` streams the raw file; here in chunks of 100 records of
# shape ``(4,)``.

s = ps.from_file(path, dtype="<f8", record_shape=(4,), chunk_size=100)
print(s)
eeg = s.to_array()
print(eeg.shape)

# %%
# Run every moving stage over five chunkings of the same data: one record
# per chunk, odd sizes, the whole array at once, and a one-shot iterator of
# random-size pieces (as from a live feed).

rng = np.random.default_rng(1)
cuts = np.sort(rng.choice(np.arange(1, len(eeg)), size=30, replace=False))
chunkings = {
    "1 record": lambda: ps.from_array(eeg, chunk_size=1),
    "7 records": lambda: ps.from_array(eeg, chunk_size=7),
    "file, 100": lambda: ps.from_file(path, dtype="<f8", record_shape=(4,), chunk_size=100),
    "whole": lambda: ps.from_array(eeg, chunk_size=len(eeg)),
    "random pieces": lambda: ps.from_chunks(iter(np.split(eeg, cuts))),
}
w = 40  # half a second
stages = {
    "moving_sum": {}, "moving_mean": {}, "moving_var": {}, "moving_std": {},
    "moving_min": {}, "moving_max": {}, "moving_argmin": {}, "moving_argmax": {},
    "moving_median": {}, "moving_quantile": {"q": 0.9}, "moving_rank": {},
}
results, identical = {}, []
for stage, kw in stages.items():
    outs = [getattr(make(), stage)(w, **kw).to_array() for make in chunkings.values()]
    results[stage] = outs[0]
    identical += [np.array_equal(outs[0], o, equal_nan=True) for o in outs[1:]]
print(f"{len(stages)} stages x {len(chunkings)} chunkings, bit-identical: {all(identical)}")

# %%
# Applying a whole-array function chunk by chunk does not work: each
# chunk starts a new window, and the state at the boundaries is lost.
# Here is bottleneck's ``move_std`` run on each 100-record chunk of the file
# against the streamed ``moving_std``:

per_chunk = np.concatenate([bn.move_std(c, w, axis=0) for c in s])  # ddof=0; only NaNs counted
print(f"chunk-by-chunk bottleneck: {np.isnan(per_chunk).sum()} NaN outputs, "
      f"streamed: {np.isnan(results['moving_std']).sum()}")

# %%

t = np.arange(len(eeg)) / fs
fig, (ax0, ax1) = plt.subplots(2, 1, sharex=True, figsize=(8, 5))
ax0.plot(t, eeg[:, 0], color="0.5", lw=0.8, label="channel 0")
ax0.plot(t, results["moving_median"][:, 0], color="C0", label="moving median (0.5 s)")
ax0.legend(loc="lower left", fontsize="small")
ax1.plot(t, results["moving_std"][:, 0], color="C0", lw=2, label="streamed moving_std")
ax1.plot(t, per_chunk[:, 0], color="C3", lw=1, label="bottleneck, chunk by chunk")
for b in np.arange(100, len(eeg), 100) / fs:
    ax1.axvline(b, color="k", lw=0.5, ls=":")
ax1.set_xlabel("time (s)")
ax1.set_ylabel("moving std")
ax1.legend(loc="upper left", fontsize="small")
fig.tight_layout()
plt.show()
