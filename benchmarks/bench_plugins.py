#!/usr/bin/env python3
"""Cost of loading plugins: the first use of pystream's registry, in fresh processes.

Each measurement starts a new Python process that imports pystream and
times ``pystream.plugins.get_registry()`` (entry-point scan, plugin imports,
hook calls), best of ``--repeat`` processes:

* ``all plugins``: with every installed plugin of the ``pystream`` group;
* ``built-ins only``: ``PYSTREAM_DISABLE_PLUGINS=1``.

The difference is what the installed plugins add (the goal: < 50 ms with the
two plugins of ``plugins/`` installed).  ``import pystream`` is timed too
(it must not load plugins), and so is the first call of a built-in stage
(``from_array(x).moving_mean(10).to_array()`` on 1e5 values), which must
load no plugin and not import pluggy (issue 16).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from _common import machine_line, print_table

CODE = """
import time
t0 = time.perf_counter()
import pystream, pystream.plugins as p
t1 = time.perf_counter()
r = p.get_registry()
t2 = time.perf_counter()
print(t1 - t0, t2 - t1, len(r.plugins), sum(len(e) for e in r.entries.values()))
"""


FIRST_CALL = """
import sys, time
import numpy as np
import pystream as ps
x = np.random.default_rng(0).normal(size=100_000)
t0 = time.perf_counter()
ps.from_array(x).moving_mean(10).to_array()
t1 = time.perf_counter()
print(t1 - t0, int(ps.plugins.is_loaded()), int("pluggy" in sys.modules))
"""


def first_call(env: dict[str, str], repeat: int) -> tuple[float, bool]:
    runs = [subprocess.run([sys.executable, "-c", FIRST_CALL], capture_output=True, text=True,
                           env=env, check=True).stdout.split() for _ in range(repeat)]
    return min(float(r[0]) for r in runs), any(r[1] == "1" or r[2] == "1" for r in runs)


def measure(env: dict[str, str], repeat: int) -> tuple[float, float, int, int]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                             env=env, check=True).stdout.split()
        runs.append((float(out[0]), float(out[1]), int(out[2]), int(out[3])))
    imp = min(r[0] for r in runs)
    load = min(r[1] for r in runs)
    return imp, load, runs[0][2], runs[0][3]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args(argv)
    base = dict(os.environ)
    base.pop("PYSTREAM_DISABLE_PLUGINS", None)
    full = measure(base, args.repeat)
    bare = measure({**base, "PYSTREAM_DISABLE_PLUGINS": "1"}, args.repeat)
    print(f"# {machine_line()}; best of {args.repeat} fresh processes")
    rows = [
        ["all plugins", f"{full[2]}", f"{full[3]}", f"{full[0] * 1e3:.1f}", f"{full[1] * 1e3:.1f}"],
        ["built-ins only", f"{bare[2]}", f"{bare[3]}", f"{bare[0] * 1e3:.1f}", f"{bare[1] * 1e3:.1f}"],
    ]
    print_table(["registry", "plugins", "entries", "import pystream ms", "first registry use ms"],
                rows)
    print(f"plugins add {(full[1] - bare[1]) * 1e3:.1f} ms to the first registry use "
          f"(goal < 50 ms)")
    call, loaded = first_call(base, args.repeat)
    print(f"first moving_mean call (fresh process, all plugins installed): {call * 1e3:.1f} ms; "
          f"{'loaded plugins or pluggy (a regression)' if loaded else 'no plugin loaded, no pluggy'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
