"""A fixed battery of pystream results, reduced to hashes, to compare two checkouts.

Every public stage method and terminal operation of :class:`pystream.Stream`
runs on fixed seeded data (float64 with NaNs and infinities, float32,
int64, uint8, records of shape ``(3,)``, a byte-swapped array), under
several chunkings, on every engine (``local``, ``threads`` with a few
partition sizes, ``dask`` when importable), in push mode
(``ps.pipeline().push()``) and through ``fork``; plus the serialized bytes
of the sketch and stage states.  Each case is reduced to a SHA-256 of its
canonical result bytes (an error to its type and message), so two checkouts
agree exactly when every case's hash does.

Only the public API is used (``import pystream as ps``), so the battery
runs unchanged across refactors of the package internals.

Usage::

    python scripts/check_results.py --write results.json    # record a reference
    python scripts/check_results.py --compare results.json  # exit 1 on any difference

The script refuses to run (exit 2) when a public stage or terminal of the
installed pystream is not covered by the battery.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import inspect
import json
import os
import pickle
import re
import shutil
import struct
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

import pystream as ps

try:  # optional engine
    import dask  # noqa: F401
    import dask.array as da

    HAVE_DASK = True
except ImportError:  # pragma: no cover - depends on the environment
    da = None
    HAVE_DASK = False

#: Hex digits kept of each case's SHA-256 (96 bits: collisions are not a concern).
HASH_CHARS = 24

N = 4000          # records per regular data set
N_BIG = 1_100_000  # records of the data set that spans KLL blocks and many partitions

# --------------------------------------------------------------------------- canonical bytes

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_TMP: list[str] = []  # the run's temporary directory, replaced in messages


def _sanitize(text: str) -> str:
    """Drop what differs between runs: object addresses and the temporary directory."""
    text = _ADDRESS.sub(" at 0x?", text)
    for tmp in _TMP:
        text = text.replace(tmp, "<tmp>")
    return text


def canon(obj: Any) -> bytes:
    """Canonical bytes of a result: exact for arrays and floats, recursive for containers.

    Parameters
    ----------
    obj : object
        A result: None, bool, int, float, str, bytes, ndarray, numpy scalar,
        dict, list, tuple, a dataclass (every field), an object with
        ``to_bytes()``, a mapping, or any object (its public attributes).

    Returns
    -------
    bytes
    """
    if obj is None:
        return b"N;"
    if isinstance(obj, bool):
        return b"B1;" if obj else b"B0;"
    if isinstance(obj, int):
        return b"I" + str(obj).encode() + b";"
    if isinstance(obj, float):
        return b"F" + struct.pack("<d", obj) + b";"
    if isinstance(obj, str):
        return b"U" + str(len(obj)).encode() + b":" + _sanitize(obj).encode() + b";"
    if isinstance(obj, (bytes, bytearray, memoryview)):
        b = bytes(obj)
        return b"Y" + str(len(b)).encode() + b":" + b + b";"
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            return b"AO" + str(obj.shape).encode() + canon(obj.tolist())
        a = np.ascontiguousarray(obj)
        return b"A" + a.dtype.str.encode() + str(a.shape).encode() + b":" + a.tobytes() + b";"
    if isinstance(obj, np.generic):
        return b"S" + obj.dtype.str.encode() + b":" + obj.tobytes() + b";"
    if isinstance(obj, np.dtype):
        return b"D" + obj.str.encode() + b";"
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        parts = [b"C", type(obj).__name__.encode(), b"{"]
        for f in dataclasses.fields(obj):
            parts += [f.name.encode(), b"=", canon(getattr(obj, f.name))]
        for extra in ("formatted", "total"):  # derived public views
            value = getattr(obj, extra, None)
            if callable(value):
                value = value()
            if value is not None:
                parts += [extra.encode(), b"=", canon(value)]
        parts += [b"repr=", canon(repr(obj)), b"}"]
        return b"".join(parts)
    to_bytes = getattr(obj, "to_bytes", None)
    if callable(to_bytes) and not isinstance(obj, int):
        return b"T" + type(obj).__name__.encode() + canon(to_bytes())
    if isinstance(obj, dict):
        return b"M{" + b"".join(canon(k) + canon(v) for k, v in obj.items()) + b"}"
    if isinstance(obj, (list, tuple)):
        return b"L[" + b"".join(canon(v) for v in obj) + b"]"
    parts = [b"O", type(obj).__name__.encode(), b"{"]
    if isinstance(obj, Mapping):
        parts += [b"items=", canon(list(obj.items()))]
    attrs = getattr(obj, "__dict__", None)
    if attrs:
        for name in sorted(attrs):
            if not name.startswith("_"):
                parts += [name.encode(), b"=", canon(attrs[name])]
    elif not isinstance(obj, Mapping):
        parts += [b"repr=", canon(repr(obj))]
    return b"".join(parts + [b"}"])


def canon_error(err: BaseException) -> bytes:
    """An error as its type, message and PEP 678 notes."""
    notes = [_sanitize(n) for n in getattr(err, "__notes__", ())]
    return b"E" + canon([type(err).__name__, _sanitize(str(err)), notes])


def attempt(fn: Callable[[], Any], coarse: bool = False) -> tuple[bytes, bool]:
    """Run ``fn()``; return (canonical bytes of its result or error, whether it raised).

    Warnings raised meanwhile are part of the result, as a sorted set of
    (category, message) pairs.  With `coarse`, an error is reduced to its
    type: on Dask, which partition fails first (and so the record a message
    names) depends on the scheduler.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out, failed = canon(fn()), False
        except Exception as err:  # noqa: BLE001 - errors are results here
            out = canon(["E", type(err).__name__]) if coarse else canon_error(err)
            failed = True
    seen = sorted({(w.category.__name__, _sanitize(str(w.message))) for w in caught})
    if seen and not (coarse and failed):
        out += b"W" + canon(seen)
    return out, failed


# --------------------------------------------------------------------------- the battery


class Battery:
    """Collects case name -> hash (``"<hex>"`` or ``"<hex>:E"`` when a part raised)."""

    def __init__(self, only: str | None = None, show: bool = False) -> None:
        self.cases: dict[str, str] = {}
        self.only = only
        self.show = show

    def add(self, name: str, *parts: Callable[[], Any]) -> None:
        """Record one case: the hash of every part's result (or error), in order.

        Errors of cases run on Dask (name containing ``/dask``) count by type only.
        """
        if name in self.cases:
            raise AssertionError(f"duplicate case {name!r}")
        if self.only is not None and not re.search(self.only, name):
            return
        h = hashlib.sha256()
        failed = False
        for part in parts:
            out, err = attempt(part, coarse="/dask" in name)
            if self.show:
                print(f"{name}: {out[:300]!r}", file=sys.stderr)
            h.update(out)
            failed |= err
        self.cases[name] = h.hexdigest()[:HASH_CHARS] + (":E" if failed else "")


def make_data() -> dict[str, np.ndarray]:
    """The fixed, seeded data sets."""
    rng = np.random.default_rng(20261207)
    f64 = rng.normal(0.0, 10.0, N)
    f64[[3, 1999, N - 2]] = np.nan
    f64[500:521] = np.nan                 # a NaN run longer than the small windows
    f64[100], f64[1500] = np.inf, -np.inf
    f64[2500:2601] = 7.0                  # a constant run: var 0, ties
    f64[3000], f64[3001] = 1e12, -1e-300
    f64[3100:3110] = np.round(f64[3100:3110])  # ties
    f32 = rng.normal(5.0, 3.0, N).astype(np.float32)
    f32[[7, 8, 2222]] = np.nan
    i64 = rng.integers(-1_000_000, 1_000_000, N, dtype=np.int64)
    i64[1000:1050] = 42
    u8 = rng.integers(0, 256, N, dtype=np.uint8)
    rec = rng.normal(0.0, 1.0, (N, 3))
    rec[10, 1] = np.nan
    rec[2000, :] = np.nan
    rec[3000, 2] = np.inf
    bswap = f64.astype(">f8")
    lognormal = rng.lognormal(0.0, 2.0, N)
    big = rng.normal(100.0, 15.0, N_BIG)
    big[[5, 600_000, N_BIG - 1]] = np.nan
    return {"f64": f64, "f32": f32, "i64": i64, "u8": u8, "rec3": rec, "bswap": bswap,
            "lognormal": lognormal, "big": big}


def ragged_pieces(a: np.ndarray) -> list[np.ndarray]:
    """`a` cut into irregular chunks: single records, tiny and large pieces."""
    sizes = [1, 2, 1, 3, 5, 700, 1, 13, 1300, 64, 1, 999]
    out, i, j = [], 0, 0
    while i < len(a):
        k = sizes[j % len(sizes)]
        out.append(a[i:i + k])
        i += k
        j += 1
    return out


#: Chunkings of the local runs: name -> stream factory.
CHUNKINGS: dict[str, Callable[[np.ndarray], Any]] = {
    "c257": lambda a: ps.from_array(a, chunk_size=257),
    "c1000": lambda a: ps.from_array(a, chunk_size=1000),
    "whole": lambda a: ps.from_array(a, chunk_size=max(1, len(a))),
    "ragged": lambda a: ps.from_chunks(ragged_pieces(a), dtype=a.dtype, record_shape=a.shape[1:]),
}

#: Engine settings of the parallel runs, each a list of keyword sets (one case each engine).
THREADS = [dict(engine="threads", workers=2),
           dict(engine="threads", workers=2, partition_size=333),
           dict(engine="threads", workers=2, partition_size=1000)]
DASK = [dict(engine="dask", partition_size=700), dict(engine="dask")]


def running_peak(chunks: Iterable[np.ndarray]) -> Iterable[np.ndarray]:
    """A generator stage (for ``pipe``): the running maximum, ignoring NaN."""
    peak = -np.inf
    for c in chunks:
        flat = np.where(np.isnan(c), -np.inf, c) if c.dtype.kind == "f" else c
        out = np.maximum.accumulate(np.concatenate([[peak], flat.reshape(len(c), -1)[:, 0]]))[1:]
        if len(out):
            peak = out[-1]
        yield out.astype(np.float64)


def _flat_pos(c: np.ndarray) -> np.ndarray:
    """A filter predicate for any record shape: the first value of the record > 0."""
    return np.asarray(c).reshape(len(c), -1)[:, 0] > 0


# Stage variants: (label, stage name, function applying it to a Stream or a Pipeline).
StageFn = Callable[[Any], Any]


def stage_variants() -> list[tuple[str, str, StageFn]]:
    """Every public stage method with a few parameter variants."""
    v: list[tuple[str, str, StageFn]] = []

    def add(name: str, label: str, fn: StageFn) -> None:
        v.append((f"{name}({label})", name, fn))

    windows = ["moving_sum", "moving_mean", "moving_var", "moving_std", "moving_min",
               "moving_max", "moving_argmin", "moving_argmax", "moving_median", "moving_rank"]
    for name in windows:
        add(name, "5", lambda s, n=name: getattr(s, n)(5))
        add(name, "5,min_count=1", lambda s, n=name: getattr(s, n)(5, min_count=1))
        add(name, "1", lambda s, n=name: getattr(s, n)(1))
        add(name, "20,min_count=3,propagate",
            lambda s, n=name: getattr(s, n)(20, min_count=3, nan_policy="propagate"))
        add(name, "7,raise", lambda s, n=name: getattr(s, n)(7, nan_policy="raise"))
        add(name, "300,min_count=50", lambda s, n=name: getattr(s, n)(300, min_count=50))
        add(name, "600,min_count=1", lambda s, n=name: getattr(s, n)(600, min_count=1))
        add(name, "window=0", lambda s, n=name: getattr(s, n)(0))
    for name in ("moving_var", "moving_std"):
        add(name, "5,ddof=0", lambda s, n=name: getattr(s, n)(5, ddof=0))
        add(name, "9,min_count=2,ddof=2.5", lambda s, n=name: getattr(s, n)(9, min_count=2, ddof=2.5))
    for q in (0.0, 0.25, 0.9, 1.0):
        add("moving_quantile", f"11,q={q}", lambda s, q=q: s.moving_quantile(11, q=q))
    add("moving_quantile", "600,q=0.3,min_count=1",
        lambda s: s.moving_quantile(600, q=0.3, min_count=1))
    add("moving_quantile", "20,q=0.7,propagate",
        lambda s: s.moving_quantile(20, q=0.7, nan_policy="propagate"))
    add("moving_quantile", "5,q=1.5", lambda s: s.moving_quantile(5, q=1.5))

    for name in ("cumsum", "cumprod", "cummean", "cummin", "cummax", "cumcount"):
        for policy in ("propagate", "omit", "raise"):
            add(name, policy, lambda s, n=name, p=policy: getattr(s, n)(nan_policy=p))
    for name in ("cumvar", "cumstd"):
        for policy in ("propagate", "omit"):
            add(name, f"ddof=1,{policy}", lambda s, n=name, p=policy: getattr(s, n)(nan_policy=p))
            add(name, f"ddof=0,{policy}", lambda s, n=name, p=policy: getattr(s, n)(ddof=0, nan_policy=p))
        add(name, "raise", lambda s, n=name: getattr(s, n)(nan_policy="raise"))
    for n in (0, 1, 2, 5):
        add("diff", str(n), lambda s, n=n: s.diff(n))

    for name in ("ewm_mean", "ewm_var", "ewm_std"):
        add(name, "com=3", lambda s, n=name: getattr(s, n)(com=3))
        add(name, "span=10", lambda s, n=name: getattr(s, n)(span=10))
        add(name, "halflife=5", lambda s, n=name: getattr(s, n)(halflife=5))
        add(name, "alpha=0.3,adjust=False", lambda s, n=name: getattr(s, n)(alpha=0.3, adjust=False))
        add(name, "alpha=0.1,ignore_na", lambda s, n=name: getattr(s, n)(alpha=0.1, ignore_na=True))
        add(name, "span=4,min_periods=6", lambda s, n=name: getattr(s, n)(span=4, min_periods=6))
        add(name, "com=1,span=2", lambda s, n=name: getattr(s, n)(com=1, span=2))
    for name in ("ewm_var", "ewm_std"):
        add(name, "alpha=0.2,bias", lambda s, n=name: getattr(s, n)(alpha=0.2, bias=True))
        add(name, "alpha=0.2,bias,adjust=False,ignore_na",
            lambda s, n=name: getattr(s, n)(alpha=0.2, bias=True, adjust=False, ignore_na=True))

    for n in (1, 3):
        add("nwise", str(n), lambda s, n=n: s.nwise(n))
    add("sliding_window", "4", lambda s: s.sliding_window(4))
    add("sliding_window", "5,step=3", lambda s: s.sliding_window(5, step=3))
    add("sliding_window", "1,step=7", lambda s: s.sliding_window(1, step=7))
    for n in (1, 4, 999):
        add("tumbling", str(n), lambda s, n=n: s.tumbling(n))
    for how in ("mean", "sum", "min", "max", "first", "last"):
        add("resample", f"10,{how}", lambda s, h=how: s.resample(10, how=h))
        add("resample", f"7,{how},omit", lambda s, h=how: s.resample(7, how=h, nan_policy="omit"))
        add("resample", f"33,{how},partial=False", lambda s, h=how: s.resample(33, how=h, partial=False))
        add("resample", f"5,{how},raise", lambda s, h=how: s.resample(5, how=h, nan_policy="raise"))
    add("resample", "1", lambda s: s.resample(1))
    add("resample", "how=median", lambda s: s.resample(4, how="median"))

    for size in (1, 7, 1000):
        add("rechunk", str(size), lambda s, n=size: s.rechunk(n))
    for n in (0, 123, 10**9):
        add("take", str(n), lambda s, n=n: s.take(n))
        add("skip", str(n), lambda s, n=n: s.skip(n))
    add("map", "abs", lambda s: s.map(np.abs))
    add("map", "x*2,dtype=f4", lambda s: s.map(lambda c: c * 2, dtype=np.float32))
    add("map", "stack(x,-x)", lambda s: s.map(lambda c: np.stack([c, -c], axis=1)))
    add("filter", "first>0", lambda s: s.filter(_flat_pos))
    add("filter", "none", lambda s: s.filter(lambda c: np.zeros(len(c), bool)))
    add("astype", "f4", lambda s: s.astype(np.float32))
    add("astype", "i8", lambda s: s.astype(np.int64))
    add("astype", "f8,safe", lambda s: s.astype(np.float64, casting="safe"))
    add("astype", "i4,same_kind", lambda s: s.astype(np.int32, casting="same_kind"))
    add("select", "0", lambda s: s.select(0))
    add("select", "[0,2]", lambda s: s.select([0, 2]))
    add("select", "1:3", lambda s: s.select(slice(1, 3)))
    add("pipe", "running_peak", lambda s: s.pipe(running_peak, dtype=np.float64, record_shape=()))

    # chains: several stages fused and composed
    add("chain", "map|moving_mean|resample|cumsum",
        lambda s: s.map(np.abs).moving_mean(8, min_count=2).resample(5, how="max").cumsum(nan_policy="omit"))
    add("chain", "skip|moving_median|take", lambda s: s.skip(37).moving_median(9, min_count=1).take(2500))
    add("chain", "filter|ewm_mean|diff", lambda s: s.filter(_flat_pos).ewm_mean(span=6).diff())
    add("chain", "rechunk|diff|nwise|moving_max",
        lambda s: s.rechunk(33).diff(2).astype(np.float64).moving_max(4, min_count=1))
    add("chain", "astype|cummax|sliding_window|map",
        lambda s: s.astype(np.float32).cummax(nan_policy="omit").sliding_window(3, step=2).map(lambda c: c.sum(axis=1)))
    add("chain", "moving_var|moving_rank|take|skip",
        lambda s: s.moving_var(12, min_count=3).moving_rank(15, min_count=2).take(3000).skip(11))
    add("chain", "tumbling|map|moving_quantile",
        lambda s: s.tumbling(4).map(lambda c: c.reshape(len(c), -1).max(axis=1)).moving_quantile(6, q=0.4, min_count=1))
    add("chain", "pipe|resample|cumvar",
        lambda s: s.pipe(running_peak, dtype=np.float64, record_shape=()).resample(3, how="last").cumvar(ddof=0))
    return v


#: Stage methods of Stream that are not windows/scans (covered by name in stage_variants).
STRUCTURAL = {"map", "filter", "astype", "select", "take", "skip", "rechunk", "pipe"}

# Terminal variants: (label, terminal name, function(stream, **engine) -> result).
TermFn = Callable[..., Any]


def terminal_variants(tmp: str) -> list[tuple[str, str, TermFn]]:
    """Every public terminal operation with parameter variants."""
    v: list[tuple[str, str, TermFn]] = []

    def add(name: str, label: str, fn: TermFn) -> None:
        v.append((f"{name}({label})", name, fn))

    add("describe", "", lambda s, **e: s.describe(**e))
    add("describe", "ddof=1,omit", lambda s, **e: s.describe(ddof=1, nan_policy="omit", **e))
    add("describe", "raise", lambda s, **e: s.describe(nan_policy="raise", **e))
    add("describe", "quantiles=()", lambda s, **e: s.describe(quantiles=(), **e))
    add("describe", "quantiles=(0.1,0.5,0.999),omit",
        lambda s, **e: s.describe(quantiles=(0.1, 0.5, 0.999), nan_policy="omit", **e))
    add("describe", "relative", lambda s, **e: s.describe(quantile_method="relative", **e))
    add("describe", "relative,omit,ddof=2",
        lambda s, **e: s.describe(quantile_method="relative", nan_policy="omit", ddof=2, **e))
    add("describe", "kll,omit", lambda s, **e: s.describe(quantile_method="kll", nan_policy="omit", **e))
    for name in ("count", "sum", "mean", "min", "max"):
        for policy in ("propagate", "omit", "raise"):
            add(name, policy, lambda s, n=name, p=policy, **e: getattr(s, n)(nan_policy=p, **e))
    for name in ("var", "std"):
        for ddof in (0, 1):
            for policy in ("propagate", "omit"):
                add(name, f"ddof={ddof},{policy}",
                    lambda s, n=name, d=ddof, p=policy, **e: getattr(s, n)(ddof=d, nan_policy=p, **e))
    add("histogram", "", lambda s, **e: s.histogram(**e))
    add("histogram", "bins=7,range=(-20,20)", lambda s, **e: s.histogram(bins=7, range=(-20, 20), **e))
    add("histogram", "edges", lambda s, **e: s.histogram(edges=[-50, -1, 0, 0.5, 3, 1e3], **e))
    add("histogram", "log,bins=12,range=(0.01,1e4)",
        lambda s, **e: s.histogram(bins=12, range=(0.01, 1e4), log=True, **e))
    add("histogram", "bins=1,range=(3,3)", lambda s, **e: s.histogram(bins=1, range=(3, 3), **e))
    add("quantile", "0.5", lambda s, **e: s.quantile(0.5, **e))
    add("quantile", "list,omit",
        lambda s, **e: s.quantile([0.0, 0.01, 0.25, 0.5, 0.99, 1.0], nan_policy="omit", **e))
    add("quantile", "k=50,seed=3,omit", lambda s, **e: s.quantile([0.1, 0.9], k=50, seed=3, nan_policy="omit", **e))
    add("quantile", "relative", lambda s, **e: s.quantile([0.05, 0.5, 0.95], method="relative", **e))
    add("quantile", "relative,alpha=0.05,omit",
        lambda s, **e: s.quantile([0.0, 0.3, 1.0], method="relative", alpha=0.05, nan_policy="omit", **e))
    add("quantile", "raise", lambda s, **e: s.quantile(0.5, nan_policy="raise", **e))
    add("to_array", "", lambda s, **e: s.to_array(**e))
    add("moments", "", lambda s, **e: s.moments(**e))

    def sink(method: str, fname: str, *args: Any, **kw: Any) -> TermFn:
        def run(s: Any, **e: Any) -> Any:
            path = os.path.join(tmp, fname)
            try:
                n = getattr(s, method)(path, *args, **kw, **e)
                with open(path, "rb") as f:
                    data = f.read()
                return [n, hashlib.sha256(data).digest(), sorted(os.listdir(tmp))]
            finally:
                for name in os.listdir(tmp):  # leftovers are part of the result above
                    os.remove(os.path.join(tmp, name))
        return run

    add("to_npy", "", sink("to_npy", "out.npy"))
    add("to_file", "", sink("to_file", "out.raw"))
    add("to_text", "", sink("to_text", "out.txt"))
    add("to_text", "fmt=%.6e,delimiter=',',header", sink("to_text", "out.csv", "%.6e", ",", "a b\nc"))
    add("to_npy", "missing dir", lambda s, **e: s.to_npy(os.path.join(tmp, "nodir", "x.npy"), **e))

    def callback(s: Any, **e: Any) -> Any:
        got: list[np.ndarray] = []
        n = s.to_callback(lambda c: got.append(np.array(c)), **e)
        data = np.concatenate(got) if got else None
        return [n, data]

    add("to_callback", "", callback)
    return v


TERMINALS = {"describe", "count", "sum", "mean", "var", "std", "min", "max", "histogram",
             "quantile", "to_array", "to_npy", "to_file", "to_text", "to_callback"}
#: Public Stream attributes that are neither stages nor terminals, each covered below.
OTHER = {"dtype", "record_shape", "start", "one_shot", "chunks_with_offsets", "fork"}
#: Plugin stages / reducers covered when their package is installed.
PLUGINS = {"sosfilt", "decimate", "welch", "count_by", "moments"}
#: Pipeline-only public methods.
PIPELINE_ONLY = {"push", "then", "into"}


def check_coverage(stages: set[str]) -> list[str]:
    """Public names of Stream / Pipeline not covered by the battery."""
    probe = ps.from_array(np.zeros(3))
    public = {n for n in dir(probe) if not n.startswith("_")}
    public |= {n for n in dir(ps.Stream) if not n.startswith("_")}
    covered = stages | STRUCTURAL | TERMINALS | OTHER | PLUGINS
    missing = sorted(public - covered)
    pipe_public = {n for n in dir(ps.pipeline()) if not n.startswith("_")}
    missing += sorted(f"Pipeline.{n}" for n in pipe_public - covered - PIPELINE_ONLY)
    return missing


# --------------------------------------------------------------------------- families


def stage_meta_and_array(stream_fn: Callable[[], Any]) -> Callable[[], Any]:
    """A part: the staged stream's dtype, record shape and start, then its array."""
    def run() -> Any:
        s = stream_fn()
        return [s.dtype, s.record_shape, s.start, s.to_array()]
    return run


def family_stages(b: Battery, data: dict[str, np.ndarray], variants: list[tuple[str, str, StageFn]]) -> None:
    """Every stage variant on every small data set: local (4 chunkings), threads, dask, push."""
    small = ["f64", "f32", "i64", "u8", "rec3", "bswap"]
    for label, _name, fn in variants:
        for ds in small:
            a = data[ds]
            b.add(f"stage/{label}/{ds}/local",
                  *[stage_meta_and_array(lambda c=c: fn(CHUNKINGS[c](a))) for c in CHUNKINGS])
        for ds in ("f64", "rec3", "i64", "bswap"):
            a = data[ds]
            b.add(f"stage/{label}/{ds}/threads",
                  *[lambda e=e: fn(ps.from_array(a, chunk_size=257)).to_array(**e) for e in THREADS])
            if HAVE_DASK and ds in ("f64", "rec3"):
                b.add(f"stage/{label}/{ds}/dask",
                      *[lambda e=e: fn(ps.from_array(a, chunk_size=257)).to_array(**e) for e in DASK])
            b.add(f"stage/{label}/{ds}/push", lambda: push_outputs(fn(ps.pipeline()), a),
                  lambda: fn(ps.pipeline())(ps.from_array(a, chunk_size=300)).to_array())


def push_pieces(a: np.ndarray) -> list[np.ndarray]:
    """`a` cut into the pushes of the push runs (empty ones included)."""
    cuts = [0, 0, 1, 3, 6, 506, 507, 1600, 1601, 1601, 2900, len(a)]
    return [a[i:j] for i, j in zip(cuts, cuts[1:])]


def push_outputs(p: Any, a: np.ndarray, **kw: Any) -> Any:
    """Push `a` through pipeline `p` in varied pieces: every send's output, then close()'s."""
    sink = p.push(**kw)
    outs = []
    for piece in push_pieces(a):
        out = sink.send(piece)
        outs.append(None if out is None else np.array(out))
    outs.append(np.array(sink.close()))
    return [outs, sink.records, sink.done, sink.closed]


def family_terminals(b: Battery, data: dict[str, np.ndarray], tmp: str) -> None:
    """Every terminal variant on plain and staged streams, on every engine."""
    variants = terminal_variants(tmp)
    sources: dict[str, tuple[np.ndarray, Callable[[Any], Any]]] = {
        "f64": (data["f64"], lambda s: s),
        "f32": (data["f32"], lambda s: s),
        "i64": (data["i64"], lambda s: s),
        "u8": (data["u8"], lambda s: s),
        "rec3": (data["rec3"], lambda s: s),
        "bswap": (data["bswap"], lambda s: s),
        "lognormal": (data["lognormal"], lambda s: s),
        "empty": (data["f64"][:0], lambda s: s),
        "f64|moving_mean": (data["f64"], lambda s: s.moving_mean(7, min_count=1)),
        "f64|filter": (data["f64"], lambda s: s.filter(_flat_pos)),
        "rec3|cumsum": (data["rec3"], lambda s: s.cumsum(nan_policy="omit")),
        "i64|diff|skip": (data["i64"], lambda s: s.diff().skip(5)),
        "f32|resample": (data["f32"], lambda s: s.resample(6, how="min")),
    }
    for label, _name, fn in variants:
        for src, (a, stage) in sources.items():
            chunkings = CHUNKINGS if src in ("f64", "rec3", "i64") else {"c257": CHUNKINGS["c257"],
                                                                        "ragged": CHUNKINGS["ragged"]}
            b.add(f"term/{label}/{src}/local", *[lambda c=c: fn(stage(chunkings[c](a))) for c in chunkings])
            b.add(f"term/{label}/{src}/threads",
                  *[lambda e=e: fn(stage(ps.from_array(a, chunk_size=257)), **e) for e in THREADS])
            if HAVE_DASK and src in ("f64", "rec3", "i64", "f64|moving_mean", "empty"):
                b.add(f"term/{label}/{src}/dask",
                      *[lambda e=e: fn(stage(ps.from_array(a, chunk_size=257)), **e) for e in DASK])
    big = data["big"]
    big_terms = [
        ("describe", lambda s, **e: s.describe(**e)),
        ("describe(relative,omit)", lambda s, **e: s.describe(quantile_method="relative", nan_policy="omit", **e)),
        ("quantile(kll,omit)", lambda s, **e: s.quantile([0.001, 0.25, 0.5, 0.75, 0.999], nan_policy="omit", **e)),
        ("quantile(kll,k=100,seed=9,omit)", lambda s, **e: s.quantile([0.1, 0.5], k=100, seed=9, nan_policy="omit", **e)),
        ("quantile(relative,omit)", lambda s, **e: s.quantile([0.01, 0.5, 0.99], method="relative", nan_policy="omit", **e)),
        ("histogram(bins=50)", lambda s, **e: s.histogram(bins=50, **e)),
        ("sum(omit)", lambda s, **e: s.sum(nan_policy="omit", **e)),
        ("moving_mean|std(omit)", lambda s, **e: s.moving_mean(1000, min_count=1).std(nan_policy="omit", **e)),
    ]
    big_engines = {"local": [dict()], "threads": [dict(engine="threads", workers=2, partition_size=300_000),
                                                  dict(engine="threads", workers=2)]}
    if HAVE_DASK:
        big_engines["dask"] = [dict(engine="dask", partition_size=400_000)]
    for label, fn in big_terms:
        b.add(f"term-big/{label}/local-ragged",
              lambda fn=fn: fn(ps.from_chunks(np.array_split(big, [1, 70_000, 524_289, 524_300, 900_001]))))
        for eng, settings in big_engines.items():
            b.add(f"term-big/{label}/{eng}",
                  *[lambda fn=fn, e=e: fn(ps.from_array(big, chunk_size=65_536), **e) for e in settings])


def family_push_targets(b: Battery, data: dict[str, np.ndarray], tmp: str) -> None:
    """Push sinks with targets: live result() after each send, then close()."""

    def live(p: Any, a: np.ndarray, target: Any = None, **kw: Any) -> Any:
        sink = p.push(target, **kw) if target is not None else p.push(**kw)
        results = []
        for piece in push_pieces(a):
            out = sink.send(piece)
            results.append([out, sink.result(), sink.records])
        results.append(sink.close())
        files = {}
        for name in sorted(os.listdir(tmp)):
            with open(os.path.join(tmp, name), "rb") as f:
                files[name] = hashlib.sha256(f.read()).digest()
            os.remove(os.path.join(tmp, name))
        return [results, files]

    targets: dict[str, Callable[[], tuple[Any, dict[str, Any]]]] = {
        "describe": lambda: ("describe", {}),
        "mean": lambda: ("mean", {}),
        "Moments": lambda: (ps.Moments(), {}),
        "Histogram": lambda: (ps.Histogram(bins=8, range=(-3, 3)), {}),
        "quantile": lambda: (ps.pipeline().quantile([0.1, 0.5], nan_policy="omit"), {}),
        "describe(omit,relative)": lambda: (ps.pipeline().describe(nan_policy="omit", quantile_method="relative"), {}),
        "moving_mean|to_npy": lambda: (ps.pipeline().moving_mean(5).to_npy(os.path.join(tmp, "p.npy")), {}),
        "to_text": lambda: (ps.pipeline().to_text(os.path.join(tmp, "p.txt")), {}),
        "tee": lambda: (ps.tee(a="max", b=ps.pipeline().cumsum(nan_policy="omit").sum(),
                               c=ps.pipeline().take(10).to_array()), {}),
        "branches": lambda: (None, dict(stats="describe", n=ps.pipeline().count(nan_policy="omit"),
                                        h=ps.pipeline().histogram(bins=4, range=(0, 2)))),
    }
    chains = {
        "empty": lambda: ps.pipeline(),
        "moving_median|resample": lambda: ps.pipeline().moving_median(3, min_count=1).resample(24, how="mean"),
        "map|take": lambda: ps.pipeline().map(np.abs).take(1234),
    }
    for cname, chain in chains.items():
        for tname, target in targets.items():
            for ds in ("f64", "rec3", "i64"):
                def run(chain: Any = chain, target: Any = target, a: np.ndarray = data[ds]) -> Any:
                    t, kw = target()
                    return live(chain(), a, t, **kw)
                b.add(f"push-target/{cname}/{tname}/{ds}", run)
    # conversions of lists, scalars and given dtypes; start offsets; errors
    def mixed() -> Any:
        sink = ps.pipeline().cumsum().moving_max(2, min_count=1).push(dtype=np.float64)
        outs = [sink.send(1), sink.send([2.0, 3.5]), sink.send(np.array([-1.0])), sink.send([])]
        return [[np.array(o) for o in outs], sink.close()]
    b.add("push/mixed-inputs", mixed)
    b.add("push/start=1000,raise", lambda: push_outputs(
        ps.pipeline().moving_mean(3, nan_policy="raise"), data["f64"], start=1000))
    b.add("push/record_shape", lambda: push_outputs(
        ps.pipeline().moving_sum(4, min_count=1), data["rec3"], record_shape=(3,)))

    def bad_dtype() -> Any:
        sink = ps.pipeline().moving_mean(2).push()
        sink.send(np.arange(3.0))
        try:
            sink.send(np.arange(3, dtype=np.int64))
        except Exception as err:  # noqa: BLE001
            first = canon_error(err)
        return [first, sink.send(np.arange(2.0)), sink.close()]
    b.add("push/bad-dtype-then-continue", bad_dtype)

    def after_error() -> Any:
        sink = ps.pipeline().map(lambda c: c / (c != 5)).moving_mean(2, nan_policy="raise").push()
        errs = []
        for piece in (np.arange(3.0), np.arange(3.0, 7.0), np.arange(7.0, 9.0)):
            try:
                errs.append(sink.send(piece))
            except Exception as err:  # noqa: BLE001
                errs.append(canon_error(err))
        return errs
    b.add("push/error-then-PushError", after_error)
    b.add("pipeline/then", lambda: ps.pipeline().map(np.abs).then(ps.pipeline().moving_max(4))(
        ps.from_array(data["f64"], chunk_size=500)).to_array())
    b.add("pipeline/into", lambda: ps.from_array(data["f64"], chunk_size=500).fork(
        x=ps.pipeline().moving_mean(4, min_count=1).into(ps.tee(m="max", s=ps.pipeline().sum()))))
    b.add("pipeline/repr-len", lambda: [repr(ps.pipeline().moving_mean(3).take(4)),
                                        len(ps.pipeline().moving_mean(3).take(4))])


def family_fork(b: Battery, data: dict[str, np.ndarray], tmp: str) -> None:
    """fork / tee with several branches, serially and on worker threads."""

    def branches() -> dict[str, Any]:
        return dict(
            d="describe", m="mean", c="count",
            h=ps.Histogram(bins=9, range=(-30, 30)),
            mo=ps.Moments(),
            arr=ps.pipeline().moving_median(9, min_count=1).to_array(),
            top=ps.pipeline().take(100).sum(nan_policy="omit"),
            q=ps.pipeline().quantile([0.2, 0.8], method="relative", nan_policy="omit"),
            npy=ps.pipeline().ewm_mean(alpha=0.3).to_npy(os.path.join(tmp, "fork.npy")),
            t=ps.tee(x="max", y=ps.pipeline().cumsum(nan_policy="omit").to_array()),
            p=ps.pipeline().resample(10, how="sum"),
        )

    def run(a: np.ndarray, workers: int | None, chunking: str) -> Any:
        r = CHUNKINGS[chunking](a).fork(workers=workers, **branches())
        files = {}
        for name in sorted(os.listdir(tmp)):
            with open(os.path.join(tmp, name), "rb") as f:
                files[name] = hashlib.sha256(f.read()).digest()
            os.remove(os.path.join(tmp, name))
        return [r, files]

    for ds in ("f64", "rec3", "i64", "f32"):
        for workers in (None, 2):
            b.add(f"fork/{ds}/workers={workers}", *[lambda c=c, w=workers, a=data[ds]: run(a, w, c)
                                                   for c in ("c257", "ragged")])
    b.add("fork/failing-branch", lambda: ps.from_array(data["f64"], chunk_size=300).fork(
        ok="sum", bad=ps.pipeline().moving_mean(3, nan_policy="raise").to_npy(os.path.join(tmp, "bad.npy"))))
    b.add("fork/leftover-files", lambda: sorted(os.listdir(tmp)))
    b.add("fork/invalid-branch", lambda: ps.from_array(data["f64"]).fork(k=ps.KLLSketch(k=100)))


def _value(attr: Any) -> Any:
    """A property's value or a method's result (whichever the attribute is)."""
    return attr() if callable(attr) else attr


def family_sketches(b: Battery, data: dict[str, np.ndarray]) -> None:
    """Serialized bytes and results of Moments, KLLSketch, DDSketch, Histogram and StageState."""
    f64, rec, i64, f32, logn, big = (data[k] for k in ("f64", "rec3", "i64", "f32", "lognormal", "big"))

    def moments(a: np.ndarray, cut: int) -> Any:
        whole = ps.Moments().update(a)
        left = ps.Moments(start=0)
        for piece in np.array_split(a[:cut], 5):
            left.update(piece)
        right = ps.Moments(start=cut).update(a[cut:])
        merged = left.copy().merge(right)
        back = ps.Moments.from_bytes(merged.to_bytes())
        unpickled = pickle.loads(pickle.dumps(merged))
        return [whole.to_bytes(), left.to_bytes(), right.to_bytes(), merged.to_bytes(),
                back.to_bytes(), unpickled.to_bytes(), merged.result(), merged.result(ddof=1, nan_policy="omit"),
                [merged.start, merged.stop, merged.dtype, merged.record_shape, merged.first_nan], repr(merged)]

    for ds in ("f64", "rec3", "i64", "f32", "u8", "bswap"):
        b.add(f"sketch/Moments/{ds}", lambda a=data[ds]: moments(a, 1234))

    def kll(a: np.ndarray, k: int, seed: int, cut: int) -> Any:
        whole = ps.KLLSketch(k=k, seed=seed).update(a)
        left = ps.KLLSketch(k=k, seed=seed)
        for piece in np.array_split(a[:cut], 3):
            left.update(piece)
        width = int(np.prod(a.shape[1:]))  # positions are values, records flattened
        right = ps.KLLSketch(k=k, seed=seed, start=cut * width).update(a[cut:])
        merged = right.copy().merge(left)
        qs = [0.0, 0.01, 0.5, 0.99, 1.0]
        return [whole.to_bytes(), merged.to_bytes(), whole.quantile(qs), merged.quantile(qs),
                whole.rank([-1.0, 0.0, 5.0]), whole.normalized_rank_error(), whole.normalized_rank_error(True),
                [whole.count, whole.nan_count, whole.min, whole.max, whole.num_retained, whole.num_levels,
                 whole.is_exact, whole.start, whole.stop, whole.block_size],
                ps.KLLSketch.from_bytes(merged.to_bytes()).to_bytes(),
                pickle.loads(pickle.dumps(merged)).to_bytes(), repr(merged)]

    b.add("sketch/KLL/f64,k=200", lambda: kll(f64, 200, 0, 1500))
    b.add("sketch/KLL/f64,k=8,seed=5", lambda: kll(f64, 8, 5, 77))
    b.add("sketch/KLL/rec3,k=50", lambda: kll(rec, 50, 1, 2001))
    b.add("sketch/KLL/i64,k=400", lambda: kll(i64, 400, 2, 3999))
    b.add("sketch/KLL/big,k=400", lambda: kll(big, 400, 0, 600_001))
    b.add("sketch/KLL/bad-merge", lambda: ps.KLLSketch(k=50).update(f64[:10]).merge(ps.KLLSketch(k=50).update(f64[:10])))

    def dd(a: np.ndarray, alpha: float, max_buckets: int) -> Any:
        whole = ps.DDSketch(alpha=alpha, max_buckets=max_buckets).update(a)
        parts = [ps.DDSketch(alpha=alpha, max_buckets=max_buckets).update(p) for p in np.array_split(a, 4)]
        merged = parts[3]
        for p in parts[:3]:
            merged = merged.merge(p)
        qs = [0.0, 0.05, 0.5, 0.95, 1.0]
        return [whole.to_bytes(), merged.to_bytes(), whole.quantile(qs), whole.rank([0.5, 1.0, 100.0]),
                _value(whole.collapsed), _value(whole.buckets),
                [whole.alpha, whole.max_buckets, whole.count, whole.nan_count, whole.min, whole.max],
                ps.DDSketch.from_bytes(whole.to_bytes()).to_bytes(),
                pickle.loads(pickle.dumps(whole)).to_bytes(), whole == merged]

    b.add("sketch/DDSketch/lognormal", lambda: dd(logn, 0.01, 2048))
    b.add("sketch/DDSketch/lognormal,max_buckets=16", lambda: dd(logn, 0.01, 16))
    b.add("sketch/DDSketch/f64,alpha=0.05", lambda: dd(f64, 0.05, 2048))
    b.add("sketch/DDSketch/rec3", lambda: dd(rec, 0.02, 64))
    b.add("sketch/DDSketch/big", lambda: dd(big, 0.01, 2048))
    b.add("sketch/DDSketch/alpha=0.9", lambda: ps.DDSketch(alpha=0.9))

    def hist(a: np.ndarray, **kw: Any) -> Any:
        whole = ps.Histogram(**kw).update(a)
        parts = [ps.Histogram(**kw).update(p) for p in np.array_split(a, 3)]
        merged = parts[0].merge(parts[1]).merge(parts[2])
        return [whole.to_bytes(), merged.to_bytes(), whole.result(), merged.result(),
                [whole.bins, whole.range, whole.log, whole.edges, whole.total],
                ps.Histogram.from_bytes(whole.to_bytes()).to_bytes(),
                pickle.loads(pickle.dumps(whole)).result()]

    b.add("sketch/Histogram/f64,range", lambda: hist(f64, bins=20, range=(-25, 25)))
    b.add("sketch/Histogram/f32,range", lambda: hist(f32, bins=13, range=(0, 10)))
    b.add("sketch/Histogram/i64,edges", lambda: hist(i64, edges=[-10**6, -5, 0, 42, 43, 10**5]))
    b.add("sketch/Histogram/lognormal,log", lambda: hist(logn, bins=15, range=(0.001, 1000), log=True))
    b.add("sketch/Histogram/rec3,range", lambda: hist(rec, bins=6, range=(-2, 2)))
    b.add("sketch/Histogram/no-range", lambda: ps.Histogram(bins=5))

    def stage_state(name: str, a: np.ndarray, rs: tuple[int, ...], **params: Any) -> Any:
        st = ps.StageState(name, record_shape=rs, **params)
        first = [st.update(p) for p in np.array_split(a[:1700], 4)]
        saved = st.to_bytes()
        resumed = ps.StageState.from_bytes(saved, rs)
        pick = pickle.loads(pickle.dumps(st))
        rest_a = resumed.update(a[1700:])
        rest_b = pick.update(a[1700:])
        cont = st.update(a[1700:])
        return [first, saved, rest_a, rest_b, cont, st.flush(), resumed.to_bytes(), st.position,
                st.params, st.record_shape, repr(st)]

    params: dict[str, dict[str, Any]] = {}
    for name in ps.StageState.names():
        if name.startswith("moving_"):
            params[name] = dict(window=6, min_count=2)
            if name == "moving_quantile":
                params[name]["q"] = 0.3
            if name in ("moving_var", "moving_std"):
                params[name]["ddof"] = 1.0
        elif name.startswith("resample_"):
            params[name] = dict(window=5)
        elif name.startswith("ewm_"):
            params[name] = dict(alpha=0.25, adjust=1, ignore_na=0, bias=0)
        elif name in ("cumvar", "cumstd"):
            params[name] = dict(ddof=1.0)
        else:
            params[name] = {}
    b.add("stagestate/names", lambda: ps.StageState.names())
    for name, kw in params.items():
        for policy in ("omit", "propagate"):
            b.add(f"stagestate/{name}/{policy}/f64", lambda n=name, kw=kw, p=policy: stage_state(n, f64, (), nan_policy=p, **kw))
        b.add(f"stagestate/{name}/omit/rec3", lambda n=name, kw=kw: stage_state(n, rec, (3,), **kw))
    b.add("stagestate/ewm_var/adjust=0,ignore_na,bias/f64",
          lambda: stage_state("ewm_var", f64, (), alpha=0.1, adjust=0, ignore_na=1, bias=1))
    b.add("stagestate/bad-bytes", lambda: ps.StageState.from_bytes(b"\x00" * 40))
    b.add("stagestate/bad-name", lambda: ps.StageState("moving_nothing"))


def family_sources(b: Battery, data: dict[str, np.ndarray], tmp: str) -> None:
    """Round trips through the file sinks and sources, and the other sources."""
    def roundtrip(ds: str) -> Any:
        a = data[ds]
        try:
            out = []
            p = os.path.join(tmp, "r.npy")
            ps.from_array(a, chunk_size=500).to_npy(p)
            out.append(ps.from_npy(p, chunk_size=333).to_array())
            out.append(ps.from_npy([p, p], chunk_size=1000).moving_mean(3, min_count=1).to_array())
            p = os.path.join(tmp, "r.raw")
            ps.from_array(a, chunk_size=500).to_file(p)
            out.append(ps.from_file(p, a.dtype, record_shape=a.shape[1:], chunk_size=777).to_array())
            out.append(ps.from_file(p, a.dtype, record_shape=a.shape[1:], offset=a.dtype.itemsize * int(np.prod(a.shape[1:])),
                                    chunk_size=999).describe(engine="threads", workers=2))
            p = os.path.join(tmp, "r.txt")
            ps.from_array(a, chunk_size=500).to_text(p, header="h")
            out.append(ps.from_text(p).to_array())
            out.append(ps.from_text(p, chunk_size=100).describe(nan_policy="omit"))
            return out
        finally:
            for name in os.listdir(tmp):
                os.remove(os.path.join(tmp, name))

    for ds in ("f64", "f32", "i64", "rec3", "bswap", "u8"):
        b.add(f"source/roundtrip/{ds}", lambda ds=ds: roundtrip(ds))
    b.add("source/from_iterable", lambda: ps.from_iterable(iter(data["f64"][:1000].tolist()), "float64",
                                                            chunk_size=64).moving_sum(3).to_array())
    b.add("source/from_iterable-records", lambda: ps.from_iterable(
        (r for r in data["rec3"][:500]), np.float64, (3,), chunk_size=7).cummax().to_array())

    def from_async() -> Any:
        async def gen() -> Any:
            for piece in ragged_pieces(data["f64"]):
                yield piece

        async def main() -> Any:
            out = []
            async for c in ps.from_async_iterable(gen(), "float64").moving_mean(4, min_count=1):
                out.append(np.array(c))
            return np.concatenate(out)

        return asyncio.run(main())

    b.add("source/from_async_iterable", from_async)

    def one_shot() -> Any:
        s = ps.from_chunks(iter(ragged_pieces(data["f64"])), dtype=np.float64)
        first = s.sum(nan_policy="omit")
        try:
            second = s.sum()
        except Exception as err:  # noqa: BLE001
            second = canon_error(err)
        return [s.one_shot, first, second]

    b.add("source/one-shot", one_shot)
    if HAVE_DASK:
        for eng in ("local", "threads", "dask"):
            def dask_src(eng: str = eng) -> Any:
                x = da.from_array(data["f64"], chunks=900)
                e = {} if eng == "local" else dict(engine=eng)
                s = ps.from_dask(x).moving_median(5, min_count=1)
                return [s.describe(nan_policy="omit", **e), s.to_array(**e)]
            b.add(f"source/from_dask/{eng}", dask_src)


def family_misc(b: Battery, data: dict[str, np.ndarray]) -> None:
    """Stream metadata, chunk boundaries, signatures and the registry's public names."""
    f64 = data["f64"]
    b.add("chunks/offsets", lambda: [[o, np.array(c)] for o, c in
                                      ps.from_array(f64[:1000], chunk_size=300).skip(5).moving_mean(3).chunks_with_offsets()])
    for label, fn in [("moving_mean", lambda s: s.moving_mean(10)), ("resample", lambda s: s.resample(7)),
                      ("filter", lambda s: s.filter(_flat_pos)), ("take|skip", lambda s: s.skip(10).take(3000)),
                      ("tumbling", lambda s: s.tumbling(3)), ("diff", lambda s: s.diff()),
                      ("cumsum", lambda s: s.cumsum()), ("plain", lambda s: s)]:
        def lens(fn: Any = fn) -> Any:
            out = {}
            for c in CHUNKINGS:
                sizes: list[int] = []
                fn(CHUNKINGS[c](f64)).to_callback(lambda ch: sizes.append(len(ch)))
                out[c] = sizes
                iter_sizes = [len(ch) for ch in fn(CHUNKINGS[c](f64))]
                out[c + "-iter"] = iter_sizes
            return out
        b.add(f"chunks/sizes/{label}", lens)
    b.add("meta/repr", lambda: [repr(ps.from_array(f64)), repr(ps.from_array(data["rec3"]).moving_mean(3))])
    b.add("meta/start", lambda: [ps.from_array(f64).skip(7).start, ps.from_array(f64).moving_mean(3).start])

    def signature(obj: Any) -> Any:
        sig = inspect.signature(obj)
        return [[p.name, str(p.kind), None if p.default is inspect.Parameter.empty else repr(p.default)]
                for p in sig.parameters.values()]

    probe = ps.from_array(f64[:3])
    for name in sorted(n for n in dir(probe) if not n.startswith("_")):
        attr = getattr(probe, name)
        if callable(attr):
            b.add(f"api/signature/Stream.{name}", lambda a=attr: signature(a))
    for name in sorted(n for n in dir(ps.pipeline()) if not n.startswith("_")):
        b.add(f"api/signature/Pipeline.{name}", lambda n=name: signature(getattr(ps.pipeline(), n)))
    for name in sorted(ps.__all__):
        obj = getattr(ps, name)
        if inspect.isfunction(obj):
            b.add(f"api/signature/ps.{name}", lambda o=obj: signature(o))
    b.add("api/names", lambda: [sorted(ps.__all__), sorted(n for n in dir(ps) if n.startswith("from_")),
                                sorted(n for n in dir(probe) if not n.startswith("_")),
                                sorted(n for n in dir(ps.pipeline()) if not n.startswith("_"))])
    b.add("errors/typo-keyword", lambda: ps.from_array(f64).moving_mean(windw=3))
    b.add("errors/typo-terminal-keyword", lambda: ps.from_array(f64).describe(quantile_methd="kll"))
    b.add("errors/unknown-attribute", lambda: ps.from_array(f64).moving_nothing)
    b.add("errors/bad-engine", lambda: ps.from_array(f64).sum(engine="spark"))
    b.add("errors/bad-workers", lambda: ps.from_array(f64).sum(engine="threads", workers=0))
    b.add("errors/quantile-str", lambda: ps.from_array(f64).quantile("0.5"))
    b.add("errors/ddof-negative", lambda: ps.from_array(f64).var(ddof=-1))
    b.add("errors/histogram-range", lambda: ps.from_array(f64).histogram(bins=3, range=(1, 0)))
    b.add("errors/int-overflow-cumsum", lambda: ps.from_array(np.array([2**62, 2**62, 2**62])).cumsum().to_array())


def family_plugins(b: Battery, data: dict[str, np.ndarray]) -> None:
    """The stages and reducers of the shipped plugin packages (errors if not installed)."""
    sos = np.array([[0.0675, 0.135, 0.0675, 1.0, -1.143, 0.4128]])
    cases: dict[str, Callable[[Any], Any]] = {
        "sosfilt": lambda s: s.sosfilt(sos),
        "decimate(4)": lambda s: s.decimate(4),
        "decimate(3,fir)": lambda s: s.decimate(3, ftype="fir"),
    }
    for label, fn in cases.items():
        for ds in ("f64", "rec3"):
            a = np.nan_to_num(data[ds], nan=0.0, posinf=0.0, neginf=0.0)
            b.add(f"plugin/{label}/{ds}/local", *[lambda c=c: fn(CHUNKINGS[c](a)).to_array() for c in CHUNKINGS])
            b.add(f"plugin/{label}/{ds}/threads",
                  *[lambda e=e: fn(ps.from_array(a, chunk_size=257)).to_array(**e) for e in THREADS])
            b.add(f"plugin/{label}/{ds}/push", lambda: push_outputs(fn(ps.pipeline()), a))
    a = np.nan_to_num(data["f64"], nan=0.0, posinf=0.0, neginf=0.0)
    b.add("plugin/welch/f64/local", *[lambda c=c: ps.from_array(a, chunk_size=257).welch(nperseg=64)
                                      for c in CHUNKINGS])
    b.add("plugin/welch/f64/threads", *[lambda e=e: ps.from_array(a, chunk_size=257).welch(nperseg=64, **e)
                                        for e in THREADS])
    keys = np.stack([data["i64"] % 7, data["f64"], data["rec3"][:, 0]], axis=1)
    b.add("plugin/count_by/local", *[lambda c=c: CHUNKINGS[c](keys).count_by(0, values=[1, 2]) for c in CHUNKINGS])
    b.add("plugin/count_by/threads", *[lambda e=e: ps.from_array(keys, chunk_size=257).count_by(0, **e)
                                       for e in THREADS])
    for ds in ("f64", "rec3", "i64"):
        b.add(f"plugin/moments/{ds}/local", *[lambda c=c, a=data[ds]: CHUNKINGS[c](a).moments() for c in CHUNKINGS])
        b.add(f"plugin/moments/{ds}/threads",
              *[lambda e=e, a=data[ds]: ps.from_array(a, chunk_size=257).moments(**e) for e in THREADS])


# --------------------------------------------------------------------------- driver


def run_battery(only: str | None = None, show: bool = False) -> dict[str, str]:
    """Run every family; return case name -> hash."""
    variants = stage_variants()
    missing = check_coverage({name for _label, name, _fn in variants})
    if missing:
        print("check_results: public names not covered by the battery: " + ", ".join(missing),
              file=sys.stderr)
        sys.exit(2)
    data = make_data()
    b = Battery(only, show)
    tmp = tempfile.mkdtemp(prefix="ps-battery-")
    _TMP[:] = [tmp]
    # the sinks write into their own directory, the sources round trip in another
    sink_dir = os.path.join(tmp, "sinks")
    src_dir = os.path.join(tmp, "sources")
    os.mkdir(sink_dir)
    os.mkdir(src_dir)
    try:
        t0 = time.perf_counter()
        for family, args in [(family_stages, (b, data, variants)),
                             (family_terminals, (b, data, sink_dir)),
                             (family_push_targets, (b, data, sink_dir)),
                             (family_fork, (b, data, sink_dir)),
                             (family_sketches, (b, data)),
                             (family_sources, (b, data, src_dir)),
                             (family_misc, (b, data)),
                             (family_plugins, (b, data))]:
            n0 = len(b.cases)
            t = time.perf_counter()
            family(*args)  # type: ignore[operator]
            print(f"  {family.__name__:<22} {len(b.cases) - n0:6d} cases  {time.perf_counter() - t:6.1f} s",
                  file=sys.stderr)
        print(f"  {'total':<22} {len(b.cases):6d} cases  {time.perf_counter() - t0:6.1f} s", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return b.cases


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--write FILE`` or ``--compare FILE``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", metavar="FILE.json", help="record the results as a reference")
    mode.add_argument("--compare", metavar="FILE.json", help="compare with a reference; exit 1 on any difference")
    parser.add_argument("--only", metavar="REGEX", help="run only the cases whose name matches (debugging)")
    parser.add_argument("--show", action="store_true",
                        help="print the start of each part's canonical bytes (with --only)")
    args = parser.parse_args(argv)
    print(f"pystream {getattr(ps, '__version__', '?')} from {os.path.dirname(ps.__file__)}; "
          f"numpy {np.__version__}; dask {'yes' if HAVE_DASK else 'no'}", file=sys.stderr)
    cases = run_battery(args.only, args.show)
    if args.write:
        doc = {"format": "pystream check_results 1", "pystream": os.path.dirname(ps.__file__),
               "numpy": np.__version__, "dask": HAVE_DASK, "cases": cases}
        with open(args.write, "w") as f:
            json.dump(doc, f, indent=0, sort_keys=True)
            f.write("\n")
        print(f"wrote {len(cases)} cases to {args.write}")
        return 0
    with open(args.compare) as f:
        ref = json.load(f)["cases"]
    if args.only:
        ref = {k: v for k, v in ref.items() if re.search(args.only, k)}
    differ = [k for k in ref if k in cases and cases[k] != ref[k]]
    only_ref = [k for k in ref if k not in cases]
    only_new = [k for k in cases if k not in ref]
    for k in differ:
        print(f"DIFFERS  {k}: reference {ref[k]}, now {cases[k]}")
    for k in only_ref:
        print(f"MISSING  {k}: in the reference, not run now")
    for k in only_new:
        print(f"NEW      {k}: not in the reference")
    compared = len(ref) - len(only_ref)
    print(f"compared {compared} cases: {len(differ)} differ, {len(only_ref)} missing, {len(only_new)} new")
    return 1 if differ or only_ref or only_new else 0


if __name__ == "__main__":
    sys.exit(main())
