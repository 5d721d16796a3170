"""
Streaming a raw binary file
===========================

Instruments and simulation codes often write plain binary files: fixed-size
records, no structure, sometimes a header in front and sometimes big-endian.
:func:`pystream.from_file` reads such a file chunk by chunk into a few reused
buffers, so the file can be far larger than memory.

The data are two recordings shipped with matplotlib's sample data: a
membrane-potential trace (``membrane.dat``, 12,000 float32 values sampled
every 0.5 ms, the trace of matplotlib's original logo; x 100 gives mV) and
four EEG channels (``eeg.dat``, 800 samples of 4 float64 values over 10 s,
from matplotlib's "MRI with EEG" example).
"""

import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import cbook

import pystream as ps

membrane_path = cbook.get_sample_data("membrane.dat", asfileobj=False)
eeg_path = cbook.get_sample_data("eeg.dat", asfileobj=False)

# %%
# A file of scalars
# -----------------
# A raw file carries no metadata: you say what one value is (``dtype``).

membrane = ps.from_file(membrane_path, dtype=np.float32, chunk_size=4096)
print("chunks:", [len(c) for c in membrane])
d = membrane.describe()
print(f"{d.count} samples ({d.count * 0.5e-3:g} s), from {100 * d.min:.1f} mV "
      f"to {100 * d.max:.1f} mV")
print("same as np.fromfile:", np.array_equal(membrane.to_array(),
                                             np.fromfile(membrane_path, np.float32)))

# %%
# A file of records
# -----------------
# ``record_shape`` groups the values into records: here one record is one
# time step of the four EEG channels. Statistics come per channel.

eeg = ps.from_file(eeg_path, dtype=np.float64, record_shape=(4,))
print("record_shape:", eeg.record_shape, "| std per channel:", eeg.std().round(3))

# %%
# Header and byte order
# ---------------------
# Write the EEG the way a data logger might: a 32-byte text header, then the
# samples as big-endian float32. ``offset`` skips the header and the dtype
# ``">f4"`` reads big-endian values on any machine.

eeg_values = np.fromfile(eeg_path, np.float64).reshape(-1, 4)
header = b"EEG 4ch 80Hz big-endian float32\n"  # 32 bytes
tmpdir = tempfile.TemporaryDirectory()
logger_path = os.path.join(tmpdir.name, "eeg.raw")
with open(logger_path, "wb") as f:
    f.write(header)
    f.write(eeg_values.astype(">f4").tobytes())

logged = ps.from_file(logger_path, dtype=">f4", record_shape=(4,), offset=len(header))
print(f"{os.path.getsize(logger_path)} bytes on disk, dtype {logged.dtype}, "
      f"records {logged.count()[0]}")
print("values read back exactly:", np.array_equal(logged.to_array(), eeg_values.astype(np.float32)))
print("std per channel as in the float64 original:",
      np.allclose(logged.std(), eeg_values.std(axis=0), rtol=1e-6))

# %%
# An open file object works too (read from its current position, one pass):

with open(logger_path, "rb") as f:
    f.seek(len(header))
    print("max per channel:", ps.from_file(f, dtype=">f4", record_shape=(4,)).max())

# %%
# Plot both recordings, each read back through a stream:

fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 5))
ax1.plot(0.5e-3 * np.arange(d.count), 100 * membrane.to_array(), lw=0.6)
ax1.set_xlabel("time (s)")
ax1.set_ylabel("membrane potential (mV)")
t = np.arange(len(eeg_values)) / 80  # 800 samples over 10 s
for k, channel in enumerate(logged.to_array().T):
    ax2.plot(t, channel - 3 * k, lw=0.6)
ax2.set_yticks([0, -3, -6, -9], labels=["PG3", "PG5", "PG7", "PG9"])
ax2.set_xlabel("time (s)")
fig.tight_layout()
plt.show()

tmpdir.cleanup()
