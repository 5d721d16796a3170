"""
Pipelines from the shell: ``pystream run``
==========================================

``pystream run INPUT STAGE ... -o OUTPUT`` streams a file through stages and
writes the records, in bounded memory whatever the file's size.  A stage is
written ``name:key=value,...`` (``moving_median:window=25``,
``resample:24,how=max``): any stage of the registry, plugins included, plus
``take``, ``skip``, ``rechunk``, ``astype`` and ``select``.  ``-o x.npy``
writes a ``.npy`` file, ``-o`` with another suffix raw binary; without
``-o`` the records go to standard output in a self-describing stream, so
commands chain with unix pipes and need no option.  ``pystream describe --stage ...`` summarises a pipeline's output.

The example runs the command as a subprocess (``python -m pystream`` is the
``pystream`` script) on a CSV file of the hourly air temperatures at Seattle
in 2010 (°F; public-domain NOAA data shipped with the ``vega_datasets``
package), and checks each result against the library's, bit for bit.
"""

import os
import shutil
import subprocess
import sys
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from vega_datasets import local_data

import pystream as ps

work = tempfile.mkdtemp()
shutil.copy(local_data.seattle_temps.filepath, os.path.join(work, "seattle-temps.csv"))
with open(os.path.join(work, "seattle-temps.csv")) as f:
    print("".join(f.readline() for _ in range(3)))

PYSTREAM = [sys.executable, "-m", "pystream"]


def pystream(*args, stdin=None):
    """Run ``pystream ARGS`` in the work folder; show its stderr; return the process."""
    proc = subprocess.run([*PYSTREAM, *args], cwd=work, input=stdin, capture_output=True)
    if proc.stderr:
        print(proc.stderr.decode().rstrip())
    return proc


# %%
# A file through stages into a ``.npy`` file
# ------------------------------------------
# The CSV has a header line and the temperature in its second column
# (``--skiprows 1 --usecols 1``).  The maximum of each block of 24 hours,
# then its moving mean over a week (``min_count=1`` gives values from the
# first day on).  ``-v`` reports what was written on stderr.  (The record
# skips the hour lost to daylight saving time, so after 14 March a block
# starts at 1 am: it hardly matters for a daily maximum.)

text_input = ["seattle-temps.csv", "--skiprows", "1", "--usecols", "1"]
pystream("run", *text_input, "resample:24,how=max", "moving_mean:window=7,min_count=1",
         "-o", "weekly_max.npy", "-v")
weekly_max = np.load(os.path.join(work, "weekly_max.npy"))

hourly = ps.from_text(os.path.join(work, "seattle-temps.csv"), delimiter=",", skiprows=1,
                      usecols=1)
library = hourly.resample(24, how="max").moving_mean(window=7, min_count=1).to_array()
print("the library's result, bit for bit:", np.array_equal(weekly_max, library))

# %%
# Pipes: a self-describing stream on standard output
# --------------------------------------------------
# Without ``-o`` the records go to standard output with a small header (the
# dtype and record shape) and an end mark: a ``.npy`` header would hold the
# record count, which is known only when the stream ends, and a pipe cannot
# be rewound to write it.  The next command recognises the stream and needs
# no option; if the first command failed part way, the second would report
# a truncated stream.  The daily minima, smoothed the same way, in a shell::
#
#     pystream run seattle-temps.csv --skiprows 1 --usecols 1 resample:24,how=min -v \
#         | pystream run - moving_mean:window=7,min_count=1 -o weekly_min.npy
#
# and here the same two processes, joined by a real pipe:

first = subprocess.Popen([*PYSTREAM, "run", *text_input, "resample:24,how=min", "-v"],
                         cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
second = subprocess.run([*PYSTREAM, "run", "-", "moving_mean:window=7,min_count=1",
                         "-o", "weekly_min.npy"],
                        cwd=work, stdin=first.stdout, capture_output=True)
first.stdout.close()
print(first.stderr.read().decode().rstrip())
first.wait()
print("exit statuses:", first.returncode, second.returncode)
weekly_min = np.load(os.path.join(work, "weekly_min.npy"))
print("bit for bit:", np.array_equal(
    weekly_min, hourly.resample(24, how="min").moving_mean(window=7, min_count=1).to_array()))

# %%
# ``pystream describe --stage`` applies stages before summarising (in one
# pass; the histogram is a second one).  Here the hour-to-hour changes:

print(pystream("describe", *text_input, "--stage", "diff", "--bins", "8").stdout.decode())

# %%
# Threads
# -------
# A ``.npy`` or raw binary file can be read in partitions: ``--engine
# threads`` runs them on a thread pool and gives the same bits.  A run
# without stages converts the CSV into a ``.npy`` file first (text is parsed
# in order, so it cannot be split).

pystream("run", *text_input, "-o", "temps.npy")
local = pystream("run", "temps.npy", "moving_median:window=25").stdout
threads = pystream("run", "temps.npy", "moving_median:window=25", "--engine", "threads",
                   "--workers", "2").stdout
print(f"{len(local):,} bytes on stdout; threads == local: {threads == local}")

# %%
# Mistakes
# --------
# A bad stage, parameter or value is one line on stderr, naming the
# argument and what is valid, with exit status 2, before any input is read:

for args in (["moving_medain:window=25"], ["moving_median:windw=25"],
             ["moving_median:window=0"], ["moving_median:window=25", "--format", "npy"]):
    proc = pystream("run", "temps.npy", *args)
    print(f"  -> exit status {proc.returncode}\n")

# %%
# The stages
# ----------
# ``pystream run --help`` ends with every stage the command can run, with
# its parameters and defaults, built-in and plugin stages alike (here
# ``sosfilt`` and ``decimate`` from ``pystream-signal``):

help_text = pystream("run", "--help").stdout.decode()
print(help_text[help_text.index("stages ("):])

# %%
# The year: hourly values, and the week-smoothed daily maxima (from the
# ``.npy`` file) and minima (from the pipe):

temps = np.load(os.path.join(work, "temps.npy"))
fig, ax = plt.subplots(figsize=(9, 3.6))
ax.plot(np.arange(len(temps)) / 24, temps, color="0.75", lw=0.4, label="hourly")
days = np.arange(len(weekly_max)) + 0.5
ax.plot(days, weekly_max, color="C3", lw=1.2, label="daily maximum, 7-day moving mean")
ax.plot(days, weekly_min, color="C0", lw=1.2, label="daily minimum, 7-day moving mean")
ax.set_xlabel("day of 2010")
ax.set_ylabel("temperature (°F)")
ax.set_title("Seattle, hourly air temperature, through pystream run")
ax.legend(loc="upper left", fontsize="small")
fig.tight_layout()
plt.show()

shutil.rmtree(work)
