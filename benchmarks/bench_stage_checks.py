#!/usr/bin/env python3
"""Cost of checking what untrusted stages yield (issue 15), per chunk, in one run.

A plugin stage or a ``pipe`` generator has every chunk it yields checked
against its declared dtype and record shape (:class:`pystream.stages.untrusted.CheckedChunks`).
This measures what that costs, on the same pass-through generator over
``--n`` float64 values in chunks of ``--chunk`` records (views of one
array, so the pass itself is nearly free and the per-chunk overhead shows):

* ``unchecked``: the generator run as pystream runs its own (trusted)
  stages, without the check (``pipe`` of the generator marked as built-in);
* ``checked``: the same generator as a user's ``pipe`` stage;
* ``checked, plugin``: the same as a plugin stage object (``output_meta``).

Each row prints the time per chunk and the ratio to ``unchecked``; the
extra nanoseconds per chunk are the cost of the check.  Best of
``--repeats`` with the garbage collector off.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import best_of, machine_line, print_table

import pystream as ps


def passthrough(chunks):
    for c in chunks:
        yield c


class PassThrough:
    """A plugin-style stage object yielding its input."""

    name = "passthrough"

    def output_meta(self, dtype, record_shape):
        return dtype, tuple(record_shape)

    def __call__(self, chunks, start=0):
        for c in chunks:
            yield c


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2_000_000)
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    x = np.arange(float(args.n))
    nchunks = -(-args.n // args.chunk)

    def drain(s):
        def run():
            k = 0
            for c in s:
                k += 1
            return k
        return run

    base = ps.from_array(x, chunk_size=args.chunk)
    trusted = passthrough.__module__
    try:
        passthrough.__module__ = "pystream._bench"  # looks built-in: not wrapped
        unchecked = base.pipe(passthrough)
    finally:
        passthrough.__module__ = trusted
    cases = [("unchecked (trusted)", unchecked), ("checked (pipe)", base.pipe(passthrough)),
             ("checked (plugin stage)", base._add_stage(PassThrough()))]
    times = {}
    for _ in range(2):  # interleave, so both see the same state of a shared machine
        for name, s in cases:
            t, k = best_of(drain(s), args.repeats)
            assert k == nchunks
            times[name] = min(times.get(name, t), t)
    ref = times["unchecked (trusted)"]
    rows = [(name, f"{times[name] / nchunks * 1e9:,.0f}", f"{(times[name] - ref) / nchunks * 1e9:+,.0f}",
             f"{times[name] / ref:.2f}x") for name, _ in cases]
    print(machine_line())
    print(f"{args.n:,} float64 values in {nchunks:,} chunks of {args.chunk} records")
    print_table(["stage", "ns/chunk", "check ns/chunk", "ratio"], rows)


if __name__ == "__main__":
    main()
