"""Benchmark two checkouts of pystream in one run, alternating, and print new/old ratios.

Each checkout is given by the Python of its virtual environment (with
pystream installed from it, e.g. by ``make venv``)::

    python benchmarks/compare_commits.py --old /path/old/.venv/bin/python \\
                                         --new /path/new/.venv/bin/python

Both Pythons run the same timing worker (``_compare_worker.py``, next to
this file, public API only): the operations of ``bench_core.py``,
``bench_windows.py``, ``bench_push.py`` and ``bench_engines.py`` with the
same calls at smaller sizes, plus per-call overheads.  One worker process
per checkout stays up, and each operation is timed ``--rounds`` times on
each, alternating old and new (ABBA order) operation by operation, so both
see the same machine load; an operation's time is its best over every
round and repeat (an operation whose ratio is flagged gets ``--rounds``
more rounds, up to ``--recheck`` times, so that a burst of load on the
machine does not flag it), in wall time and in CPU time of the worker process (all
threads; on a machine shared with other jobs the CPU time is the steadier
measure).  Ratios are ``new / old`` (``0.90x``: the new checkout is 10 %
faster); those outside ``1 ± --threshold`` are flagged.

Then the first-call cost of a built-in stage: in ``--first-call-runs``
fresh processes per checkout (alternating), the time (wall and CPU) of ``import pystream``
(numpy already imported) and of the first
``ps.from_array(x).moving_mean(10).to_array()``; medians (and minima,
the steadier under a varying load) are compared.

Workers run in a temporary directory (never in a checkout, whose
``pystream/`` would shadow the installed one), with Python's bytecode cache
in a temporary ``PYTHONPYCACHEPREFIX`` per checkout (warmed by one
discarded process), so import times are not compile times and nothing is
written into the checkouts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "_compare_worker.py")


def cpu_lines() -> list[str]:
    """The CPU model and its AVX2 / AVX-512 flags, from /proc/cpuinfo."""
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model == "unknown CPU":
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    avx512 = sorted(fl for fl in flags if fl.startswith("avx512"))
    return [f"CPU: {model} ({os.cpu_count()} logical CPUs)",
            f"AVX2: {'yes' if 'avx2' in flags else 'no'}; "
            f"AVX-512: {' '.join(avx512) if avx512 else 'no'}"]


def describe_checkout(python: str, directory: str | None, env: dict[str, str], cwd: str) -> dict[str, str]:
    """Where `python` imports pystream from, its checkout directory and git commit."""
    probe = ("import json, os, pystream as ps; "
             "print(json.dumps({'file': os.path.dirname(ps.__file__), "
             "'version': getattr(ps, '__version__', '?')}))")
    out = subprocess.run([python, "-c", probe], cwd=cwd, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{python} cannot import pystream:\n{out.stderr}")
    info = json.loads(out.stdout)
    root = directory or os.path.dirname(info["file"])
    if directory and os.path.realpath(os.path.dirname(info["file"])) != os.path.realpath(
            os.path.join(directory, "pystream")):
        print(f"WARNING: {python} imports pystream from {info['file']}, not from {directory}",
              file=sys.stderr)
    git = subprocess.run(["git", "-C", root, "log", "-1", "--format=%h %s"],
                         capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True)
    commit = git.stdout.strip()[:70] if git.returncode == 0 else "(not a git checkout)"
    if dirty.returncode == 0 and dirty.stdout.strip():
        commit += " (+ uncommitted changes)"
    return {"python": python, "dir": root, "package": info["file"], "version": info["version"],
            "commit": commit}


def run_worker(python: str, args: list[str], env: dict[str, str], cwd: str) -> dict[str, float]:
    """Run the timing worker under `python`; return its JSON."""
    out = subprocess.run([python, WORKER, *args], cwd=cwd, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"worker failed under {python}:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


class Server:
    """A ``_compare_worker.py --serve`` process: times one operation per request."""

    def __init__(self, python: str, args: list[str], env: dict[str, str], cwd: str) -> None:
        self.proc = subprocess.Popen([python, WORKER, *args], cwd=cwd, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.python = python
        self.names: list[str] = json.loads(self._line())

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the timing worker of {self.python} ended (see its error above)")
        return line

    def time(self, name: str) -> dict[str, float]:
        """Best wall time and best process CPU time of operation `name`, in seconds."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(name + "\n")
        self.proc.stdin.flush()
        out = json.loads(self._line())
        return {"wall": float(out["t"]), "cpu": float(out["cpu"])}

    def close(self) -> None:
        """End the worker (closing its input ends its loop)."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def worker_env(base: dict[str, str], cache: str | None) -> dict[str, str]:
    """The workers' environment: one bytecode cache per checkout (or none), no threads oversubscription."""
    env = dict(base)
    if cache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


#: The two measures of each operation: wall time, and CPU time of the worker process
#: (all its threads; far less disturbed by other jobs on a shared machine).
METRICS = ("wall", "cpu")


def percentile(sorted_values: list[float], p: float) -> float:
    """The `p`-th quantile (0..1) of already sorted values (nearest rank below)."""
    return sorted_values[int(p * (len(sorted_values) - 1))]


def summarize(metric: str, names: list[str], ratios: dict[str, float],
              per_round: dict[str, list[dict[str, float]]], threshold: float) -> None:
    """Print the ratios' summary and the run-to-run noise of one metric."""
    values = sorted(v for v in ratios.values() if v == v)
    if not values:
        return
    dev = sorted(abs(v - 1) for v in values)
    flagged = sum(1 for v in values if abs(v - 1) > threshold)
    print(f"\n{metric}: {len(values)} operations, new/old geometric mean "
          f"{statistics.geometric_mean(values):.3f}x, median {statistics.median(values):.3f}x, "
          f"range {values[0]:.3f}x..{values[-1]:.3f}x; |ratio - 1| median {statistics.median(dev):.1%}, "
          f"90th percentile {percentile(dev, 0.9):.1%}; {flagged} outside +-{threshold:.0%}")
    spreads = []
    for rounds in per_round.values():
        for n in names:
            runs = [rd[n] for rd in rounds if n in rd]
            if len(runs) > 1 and min(runs) > 0:
                spreads.append(max(runs) / min(runs) - 1)
    if spreads:
        spreads.sort()
        print(f"{metric}: spread (max/min - 1) of an operation's timings within one checkout: "
              f"median {statistics.median(spreads):.1%}, "
              f"90th percentile {percentile(spreads, 0.9):.1%}")


def fmt_ratio(r: float, threshold: float) -> str:
    """``r`` as ``0.953x``, flagged when outside ``1 +- threshold``."""
    flag = "  <-- faster" if r < 1 - threshold else "  <-- SLOWER" if r > 1 + threshold else ""
    return f"{r:6.3f}x{flag}"


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--old", required=True, metavar="PYTHON", help="the old checkout's venv python")
    p.add_argument("--new", required=True, metavar="PYTHON", help="the new checkout's venv python")
    p.add_argument("--old-dir", help="the old checkout (default: from where its python imports pystream)")
    p.add_argument("--new-dir", help="the new checkout (default: from where its python imports pystream)")
    p.add_argument("--n", type=float, default=1e6, help="float64 values per benchmark array (1e6)")
    p.add_argument("--rounds", type=int, default=5,
                   help="timings per operation and checkout, alternating old and new (5)")
    p.add_argument("--repeat", type=int, default=3, help="best of N runs per timing (3)")
    p.add_argument("--first-call-runs", type=int, default=15,
                   help="fresh processes per checkout for the first-call cost (15)")
    p.add_argument("--threshold", type=float, default=0.05, help="flag ratios outside 1 +- this (0.05)")
    p.add_argument("--recheck", type=int, default=2,
                   help="times the flagged operations get --rounds more rounds (2)")
    p.add_argument("--only", help="time only the operations whose name contains this")
    p.add_argument("--no-bytecode-cache", action="store_true",
                   help="keep the environment's bytecode settings (imports may then include compiling)")
    p.add_argument("--json", metavar="FILE", help="also write every measurement to FILE")
    args = p.parse_args(argv)

    t_start = time.perf_counter()
    for line in cpu_lines():
        print(line)
    tmp = tempfile.mkdtemp(prefix="ps-compare-")
    try:
        sides = {"old": args.old, "new": args.new}
        envs = {side: worker_env(dict(os.environ),
                                 None if args.no_bytecode_cache else os.path.join(tmp, f"pycache-{side}"))
                for side in sides}
        info = {side: describe_checkout(py, getattr(args, f"{side}_dir"), envs[side], tmp)
                for side, py in sides.items()}
        for side in sides:
            i = info[side]
            print(f"{side}: {i['commit']}\n     {i['dir']} (pystream {i['version']}, {i['python']})")
        print(f"n={args.n:.0e}, {args.rounds} rounds x best of {args.repeat}, "
              f"flagged outside 1 +- {args.threshold:.0%}; ratio = new / old")
        # warm the bytecode caches (and the page cache) once per side, discarded
        for side, py in sides.items():
            run_worker(py, ["--first-call"], envs[side], tmp)

        # -- throughput: one serving worker per side, alternating ABBA per operation
        worker_args = ["--serve", "--n", str(args.n), "--repeat", str(args.repeat)]
        if args.only:
            worker_args += ["--only", args.only]
        workers = {side: Server(py, worker_args, envs[side], tmp) for side, py in sides.items()}
        try:
            names = [n for n in workers["old"].names if n in workers["new"].names]
            # metric ("wall" / "cpu") -> side -> round -> operation -> best seconds
            per_round: dict[str, dict[str, list[dict[str, float]]]] = {
                m: {side: [{} for _ in range(args.rounds)] for side in sides} for m in METRICS}

            def measure(ops: list[str], rounds: range) -> None:
                for i, name in enumerate(ops):
                    for r in rounds:
                        for side in (("old", "new") if (i + r) % 2 == 0 else ("new", "old")):
                            for m, t in workers[side].time(name).items():
                                per_round[m][side][r][name] = t

            def compute() -> tuple[dict[str, Any], dict[str, Any]]:
                best = {m: {side: {n: min(rd[n] for rd in per_round[m][side] if n in rd) for n in names}
                            for side in sides} for m in METRICS}
                ratios = {m: {n: best[m]["new"][n] / best[m]["old"][n] if best[m]["old"][n] > 0
                              else float("nan") for n in names} for m in METRICS}
                return best, ratios

            t0 = time.perf_counter()
            measure(names, range(args.rounds))
            print(f"  timed {len(names)} operations x {args.rounds} rounds x 2 checkouts in "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
            best, ratios = compute()
            for extra in range(args.recheck):
                # a flagged operation gets more rounds: a true change stays, a load spike does not
                flagged = [n for n in names if any(abs(ratios[m][n] - 1) > args.threshold for m in METRICS)]
                if not flagged:
                    break
                first_round = len(per_round["wall"]["old"])
                more = range(first_round, first_round + args.rounds)
                for m in METRICS:
                    for side in sides:
                        per_round[m][side].extend({} for _ in more)
                t0 = time.perf_counter()
                measure(flagged, more)
                print(f"  re-timed {len(flagged)} flagged operations x {args.rounds} more rounds in "
                      f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
                best, ratios = compute()
        finally:
            for w in workers.values():
                w.close()
        width = max(len(n) for n in names) if names else 10
        print(f"\n{'operation':<{width}}  {'old wall':>10}  {'new wall':>10}  {'wall new/old':<20}"
              f"  cpu new/old")
        family = None
        for n in names:
            fam = n.split("/", 1)[0]
            if fam != family:
                family = fam
                print(f"-- {fam}")
            print(f"{n:<{width}}  {best['wall']['old'][n] * 1e3:8.2f}ms  {best['wall']['new'][n] * 1e3:8.2f}ms  "
                  f"{fmt_ratio(ratios['wall'][n], args.threshold):<20}  "
                  f"{fmt_ratio(ratios['cpu'][n], args.threshold)}")
        for m in METRICS:
            summarize(m, names, ratios[m], per_round[m], args.threshold)

        # -- first-call cost, fresh processes, alternating
        first: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
        for i in range(args.first_call_runs):
            for side in (("old", "new") if i % 2 == 0 else ("new", "old")):
                t0 = time.perf_counter()
                res = run_worker(sides[side], ["--first-call"], envs[side], tmp)
                res["process wall time"] = time.perf_counter() - t0
                first[side].append(res)
        print(f"\nfirst-call cost of a built-in stage: median (and minimum) of {args.first_call_runs} "
              f"fresh processes{'' if args.no_bytecode_cache else ' (bytecode cached)'}")
        keys = list(first["old"][0]) if first["old"] else []
        medians = {side: {k: statistics.median(r[k] for r in first[side]) for k in keys} for side in sides}
        minima = {side: {k: min(r[k] for r in first[side]) for k in keys} for side in sides}
        print(f"{'':<30}  {'old median':>10}  {'new median':>10}  {'new/old':<20}  "
              f"{'old min':>10}  {'new min':>10}  new/old")
        for k in keys:
            o, nw = medians["old"][k], medians["new"][k]
            lo, ln = minima["old"][k], minima["new"][k]
            print(f"{k:<30}  {o * 1e3:8.2f}ms  {nw * 1e3:8.2f}ms  "
                  f"{fmt_ratio(nw / o, args.threshold) if o > 0 else 'n/a':<20}  "
                  f"{lo * 1e3:8.2f}ms  {ln * 1e3:8.2f}ms  "
                  f"{fmt_ratio(ln / lo, args.threshold) if lo > 0 else 'n/a'}")
        print(f"\ntotal {time.perf_counter() - t_start:.0f} s")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"machine": cpu_lines(), "checkouts": info, "best": best, "per_round": per_round,
                           "ratios": ratios, "first_call": first, "first_call_medians": medians,
                           "first_call_minima": minima}, f, indent=1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
