"""
Every CPU, the same bits
========================

pystream's C kernels have variants for the SIMD instructions of the CPU they
run on: AVX2 (most x86 CPUs since 2013), SSE2 (every x86-64 CPU) and plain,
portable C (any CPU).  The best one the build and the CPU offer is chosen at
run time, and every variant performs the same IEEE operations in the same
order: **the results are bit-identical whatever the CPU**, only the speed
differs.

:func:`pystream.machine` says what the kernels run on;
:func:`pystream.set_simd_level` caps the level (as the environment variable
``PYSTREAM_SIMD=sse2`` does at import), which lets one machine time the
kernels of an older CPU.  The data are the hourly air temperatures at
Seattle in 2010 (public-domain NOAA data shipped with ``vega_datasets``),
tiled 200 times for scale only.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from vega_datasets import local_data

import pystream as ps

info: ps.MachineInfo = ps.machine()
print(info.line())
print("levels, lowest first:", ps.SIMD_LEVELS)
print("in use now:", ps.simd_level())

temp = local_data.seattle_temps()["temp"].to_numpy()
big = np.tile(temp, 200)                        # for scale: 1.75 million values

# %%
# The same stages at every level
# ------------------------------
# A day's moving mean and standard deviation and the exponentially weighted
# mean, computed at each level this machine offers.  The outputs are
# compared bit for bit (``view(np.uint64)``), and each level is timed on the
# streamed form (output chunks consumed one by one).

offered = ps.SIMD_LEVELS[: ps.SIMD_LEVELS.index(info.simd_best) + 1]
stages = {
    "moving_mean(24)": lambda s: s.moving_mean(24),
    "moving_std(24)": lambda s: s.moving_std(24),
    "ewm_mean(halflife=24)": lambda s: s.ewm_mean(halflife=24),
}
bits: dict[str, dict[str, np.ndarray]] = {name: {} for name in stages}
ns: dict[str, dict[str, float]] = {name: {} for name in stages}
try:
    for level in offered:
        ps.set_simd_level(level)
        for name, make in stages.items():
            bits[name][level] = make(ps.from_array(big)).to_array().view(np.uint64)
            best = np.inf
            for _ in range(3):
                t0 = time.perf_counter()
                for _chunk in make(ps.from_array(big)):
                    pass
                best = min(best, time.perf_counter() - t0)
            ns[name][level] = best / len(big) * 1e9
finally:
    ps.set_simd_level(None)                     # lift the cap again

for name in stages:
    same = all(np.array_equal(bits[name][lv], bits[name][offered[0]]) for lv in offered)
    times = ", ".join(f"{lv} {ns[name][lv]:.2f}" for lv in offered)
    print(f"{name:24s} identical at every level: {same}; ns/value: {times}")

# %%
# The speed of each level
# -----------------------
# Times on the machine that built these docs (a small shared virtual machine,
# so they move from build to build); the benchmark ``benchmarks/bench_cpu.py``
# compares each level with bottleneck and numbagg.

fig, ax = plt.subplots(figsize=(8, 3.2))
width = 0.8 / len(offered)
for i, level in enumerate(offered):
    ax.barh(np.arange(len(stages)) + i * width, [ns[n][level] for n in stages], width,
            label=level)
ax.set_yticks(np.arange(len(stages)) + width * (len(offered) - 1) / 2, list(stages))
ax.set_xlabel("ns per value (streamed)")
ax.set_title(f"The same kernels at each SIMD level ({info.cpu})")
ax.legend()
fig.tight_layout()
plt.show()
