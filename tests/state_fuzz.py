"""Forge serialized states: edit every header/payload field to extreme values,
recompute the checksum, load, and use what loads (issue 15).

Run as a script in a subprocess (``python state_fuzz.py GROUP``) so a crash
is a failed exit status, not a dead test session: it prints
``ok <cases> <loaded>`` on success, or the first bad case and exits 1.
Importable for the helpers (:func:`reseal`, :func:`fnv1a`).

A loaded forged state must be *possible*: its results obey the invariants
the library promises (counts >= 0, min <= mean <= max, variance >= 0,
quantiles inside [min, max], ...) and it survives update, merge and a
serialization round trip.
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
import sys
import warnings
from typing import Any, Callable, Iterator

import numpy as np

FNV_OFFSET = 0xCBF29CE484222325  # 14695981039346656037, the standard basis
FNV_OFFSET_LEGACY = 1469598103934665603  # pystream before issue 15 (one digit short)
FNV_PRIME = 1099511628211
M64 = (1 << 64) - 1


def fnv1a(data: bytes, basis: int = FNV_OFFSET) -> int:
    """64-bit FNV-1a of ``data``."""
    h = basis
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & M64
    return h


def seal(body: bytes, basis: int | None = None) -> bytes:
    """``body`` followed by its FNV-1a checksum (the C states' trailer).

    Default basis: the standard one, or the legacy one when the environment
    sets ``STATE_FUZZ_LEGACY`` (to run the fuzzer against the old code)."""
    if basis is None:
        basis = FNV_OFFSET_LEGACY if os.environ.get("STATE_FUZZ_LEGACY") else FNV_OFFSET
    return body + struct.pack("<Q", fnv1a(body, basis))


def reseal(raw: bytes, basis: int | None = None) -> bytes:
    """Recompute the trailing FNV-1a checksum of a C state's bytes."""
    return seal(raw[:-8], basis)


# -- extreme values ---------------------------------------------------------

def _f(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


WORDS64 = [0, 1, 2, 3, 7, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**40, 2**53, 2**61 + 2, 2**62,
           2**63 - 1, 2**63, M64, M64 - 1,
           _f(-1.0), _f(-0.0), _f(0.5), _f(2.0), _f(1e308), _f(-1e300), _f(math.inf),
           _f(-math.inf), _f(math.nan), _f(5e-324)]
WORDS32 = [0, 1, 10, 11, 64, 65, 2**31 - 1, 2**31, 2**32 - 1]


def edits(body: bytes, step: int, start: int = 0,
          header: int = 1 << 62) -> Iterator[tuple[int, int, bytes]]:
    """Every field of ``body`` (a ``step``-aligned word from ``start``) set to
    extreme values: (offset, value, edited body).  Fields before ``header``
    get every extreme value; later ones (per-column payload, repeated) a
    quarter of them, rotating, so each value still meets every kind of
    field while the run stays short."""
    sizes = [(8, WORDS64)] + ([(4, WORDS32)] if step == 4 else [])
    for off in range(start, len(body), step):
        for size, values in sizes:
            if off + size > len(body):
                continue
            if off >= header:
                values = values[(off // step) % 4::4]
            for v in values:
                new = body[:off] + v.to_bytes(size, "little") + body[off + size:]
                if new != body:
                    yield off, v, new


# -- invariants of a loaded state ---------------------------------------------

def _check_moments(m: Any) -> None:
    import pystream as ps

    if m.dtype is None or math.prod(m.record_shape or ()) > 1 << 16:
        return  # (a huge possible record: using it would only test the memory)
    for policy in ("omit", "propagate"):
        d = m.result(ddof=0, nan_policy=policy)
        count, nan = np.atleast_1d(d.count), np.atleast_1d(d.nan_count)
        mean, var = np.atleast_1d(d.mean).astype(float), np.atleast_1d(d.var).astype(float)
        lo = np.atleast_1d(d.min).astype(float)
        hi = np.atleast_1d(d.max).astype(float)
        assert (count >= 0).all() and (nan >= 0).all(), "negative count"
        assert ((count + nan) == m.stop - m.start).all(), "counts do not add up"
        assert not (var < 0).any(), f"negative variance {var}"
        ok = (count > 0) & ~np.isnan(mean) & ~np.isnan(lo) & ~np.isnan(hi)
        assert (lo[ok] <= hi[ok]).all(), f"min {lo} > max {hi}"
        # a mean of finite values overflows only near the float64 limit
        big = np.maximum(np.abs(lo), np.abs(hi))
        slack = big * 2.0**-40
        inside = (lo - slack <= mean) & (mean <= hi + slack)
        assert (inside | (~np.isfinite(mean) & (big >= 2.0**900)))[ok].all(), \
            f"mean {mean} outside [{lo}, {hi}]"
        fin = ok & np.isfinite(lo) & np.isfinite(hi)
        bound = (hi - lo)[fin] ** 2 / 4
        # Popoviciu: var <= (max - min)**2 / 4 (with rounding slack); a
        # squared range that overflows may give inf / NaN honestly
        assert ((var[fin] <= bound * (1 + 1e-9) + 1e-300) | ~np.isfinite(bound)).all(), \
            f"variance {var} too large for the range [{lo}, {hi}]"
    rec = m.record_shape or ()
    more = np.ones((3, *rec), dtype=m.dtype)
    ps.Moments.from_bytes(m.to_bytes()).update(more)
    right = ps.Moments(start=m.stop)
    right.update(more)
    m.copy().merge(right)


def _check_stage(s: Any) -> None:
    import pystream as ps

    if math.prod(s.record_shape) > 1 << 16:
        return
    b = s.to_bytes()
    assert ps.StageState.from_bytes(b, s.record_shape).to_bytes() == b, "not canonical"
    x = np.linspace(-3.0, 5.0, 40).repeat(max(1, int(np.prod(s.record_shape, dtype=np.int64))))
    x = x.reshape(40, *s.record_shape)
    out = s.update(x)
    s.flush()
    if s.name in ("cumvar", "cumstd", "ewm_var", "ewm_std", "moving_var", "moving_std"):
        assert not (out < 0).any(), "negative variance"


def _check_ddsketch(s: Any) -> None:
    from pystream.sketches import DDSketch

    assert s.count >= 0 and s.nan_count >= 0
    if s.count:
        q = np.asarray(s.quantile([0.0, 0.25, 0.5, 1.0]), dtype=float)
        assert s.min <= s.max
        assert ((q >= s.min) & (q <= s.max)).all(), f"quantiles {q} outside [{s.min}, {s.max}]"
    s.merge(DDSketch(s.alpha, s.max_buckets).update([1.0, -2.0, 0.0]))
    DDSketch.from_bytes(s.to_bytes())


def _check_kll(s: Any) -> None:
    from pystream.sketches import KLLSketch

    assert s.count >= 0 and s.nan_count >= 0
    if s.count:
        q = np.asarray(s.quantile([0.0, 0.5, 1.0]), dtype=float)
        assert s.min <= s.max
        assert ((q >= s.min) & (q <= s.max)).all(), f"quantiles {q} outside [{s.min}, {s.max}]"
    KLLSketch.from_bytes(s.to_bytes())
    s.update(np.arange(5.0))


def _check_hist(h: Any) -> None:
    from pystream.sketches import Histogram

    r = h.result()
    assert (np.asarray(r.counts) >= 0).all()
    Histogram.from_bytes(h.to_bytes())
    h.update(np.linspace(250.0, 310.0, 30))
    h.merge(Histogram.from_bytes(h.to_bytes()))


# -- the corpus -----------------------------------------------------------------

def _states() -> dict[str, list[tuple[str, Any]]]:
    import pystream as ps
    from pystream.sketches import DDSketch, Histogram, KLLSketch

    rng = np.random.default_rng(3)
    x = rng.normal(280.0, 5.0, 64)
    x[5] = np.nan
    x2 = x.reshape(-1, 2)
    stages = []
    for name in ps.StageState.names():
        params: dict[str, Any] = {}
        if name.startswith("moving"):
            params = {"window": 4, "min_count": 2}
            if name == "moving_quantile":
                params["q"] = 0.3
        elif name.startswith("resample"):
            params = {"window": 5}
        elif name.startswith("ewm"):
            params = {"alpha": 0.25, "adjust": 1, "min_count": 1}
        elif name in ("cumvar", "cumstd"):
            params = {"ddof": 1.0}
        for shape, data in (((), x[:11]), ((2,), x2[:7])):
            s = ps.StageState(name, record_shape=shape, start=3, **params)
            s.update(data)
            stages.append((f"{name}{shape}", s))
        if name.startswith("ewm"):  # the other weighting
            s = ps.StageState(name, alpha=0.5, adjust=0, ignore_na=1)
            s.update(x[:9])
            stages.append((f"{name}-adjust0", s))
    m_small = ps.Moments(start=1021)  # raw head, one node, raw tail
    m_small.update(x[:3])
    m_big = ps.Moments(start=1020)
    m_big.update(np.concatenate([x, rng.normal(280.0, 5.0, 2100)]))
    m_cols = ps.Moments(start=0)
    m_cols.update(rng.normal(0.0, 1.0, (1030, 2)))
    m_int = ps.Moments()
    m_int.update(np.arange(-40, 1100, dtype=np.int16))
    m_inf = ps.Moments()
    y = rng.normal(size=1030)
    y[3] = np.inf
    m_inf.update(y)
    return {
        "moments": [("float", m_small), ("float-nodes", m_big), ("columns", m_cols),
                    ("int16", m_int), ("inf", m_inf), ("unset", ps.Moments())],
        "stages": stages,
        "ddsketch": [("dd", DDSketch().update(x)),
                     ("dd-neg", DDSketch(0.02, 64).update(np.r_[-x, 0.0, x, np.inf]))],
        "kll": [("kll", KLLSketch(k=8).update(np.r_[x, -x])),
                ("kll-small", KLLSketch(k=20).update(x[:7]))],
        "histogram": [("range", Histogram(6, range=(260.0, 300.0)).update(x)),
                      ("log", Histogram(4, range=(1.0, 1e4), log=True).update(np.abs(x))),
                      ("edges", Histogram(edges=[0.0, 1.0, 3.0, 300.0]).update(x))],
    }


def _kll_cases(raw: bytes) -> Iterator[tuple[str, bytes]]:
    """KLLSketch: its envelope's fields (BLAKE2b-64 resealed), and every field
    of each embedded C sketch (FNV resealed, then BLAKE2b)."""
    def outer(body: bytes) -> bytes:
        return body + hashlib.blake2b(body, digest_size=8).digest()

    body = raw[:-8]
    for off, v, new in edits(body, 8, 0, 64):
        yield f"envelope@{off}={v:#x}", outer(new)
    magic = b"PSKLLSKT"
    at = body.find(magic)
    while at >= 0:
        size = struct.unpack_from("<Q", body, at - 8)[0]
        inner = body[at:at + size]
        for off, v, new in edits(inner[:-8], 8, 8, 96):
            yield f"sketch@{at}+{off}={v:#x}", outer(body[:at] + seal(new) + body[at + size:])
        at = body.find(magic, at + size)


def run(group: str) -> int:
    import pystream as ps
    from pystream.sketches import DDSketch, Histogram, KLLSketch

    load: dict[str, Callable[[bytes], Any]] = {
        "moments": ps.Moments.from_bytes,
        "stages": ps.StageState.from_bytes,
        "ddsketch": DDSketch.from_bytes,
        "kll": KLLSketch.from_bytes,
        "histogram": Histogram.from_bytes,
    }
    check = {"moments": _check_moments, "stages": _check_stage, "ddsketch": _check_ddsketch,
             "kll": _check_kll, "histogram": _check_hist}[group]
    cases = loaded = 0
    warnings.simplefilter("ignore")
    for label, state in _states()[group]:
        raw = state.to_bytes()
        if group == "kll":
            forged: Iterator[tuple[str, bytes]] = _kll_cases(raw)
        else:
            step = 4 if group == "moments" else 8
            forged = ((f"@{off}={v:#x}", seal(new))
                      for off, v, new in edits(raw[:-8], step, 8, HEADER[group](state)))
        for what, data in forged:
            cases += 1
            where = f"{group}/{label} {what}"
            print(where, file=sys.stderr, flush=True) if VERBOSE else None
            try:
                obj = load[group](data)
            except ValueError:
                continue
            except MemoryError:
                # a header describing a possible state too large for this
                # machine (a record of up to 2**40 values): refused cleanly
                continue
            except Exception as e:  # noqa: BLE001
                print(f"FAIL {where}: load raised {type(e).__name__}: {e}", flush=True)
                return 1
            loaded += 1
            try:
                check(obj)
            except (ValueError, OverflowError, MemoryError):
                pass  # a clean refusal while using it (e.g. a count at 2**63 - 1)
            except Exception as e:  # noqa: BLE001
                print(f"FAIL {where}: loaded an impossible state: {type(e).__name__}: {e}",
                      flush=True)
                return 1
    print(f"ok {cases} {loaded}", flush=True)
    return 0


#: Bytes of each state's header (fields given every extreme value).
HEADER: dict[str, Callable[[Any], int]] = {
    "moments": lambda m: 64 + 8 * len(m.record_shape or ()),  # ... nnodes
    "stages": lambda s: 120,  # magic, version, 10 parameters, width, start, position
    "ddsketch": lambda s: 96,  # ... min, max, the first store's lo and length
    "histogram": lambda h: 80,  # magic ... typed
}
VERBOSE = False

if __name__ == "__main__":
    VERBOSE = "-v" in sys.argv
    sys.exit(run(sys.argv[1]))
