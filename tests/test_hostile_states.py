"""Hostile and legacy serialized states (issue 15)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

import pystream as ps
from pystream.sketches import DDSketch, Histogram, KLLSketch


def _data(n: int = 3000, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(280.0, 5.0, n)
    x[::97] = np.nan
    return x


def legacy_states() -> dict[str, Callable[[], Any]]:
    """Deterministic states of every serialized type (fixtures' recipes)."""
    x = _data()
    x2 = x[:1500].reshape(-1, 2)

    def moments() -> ps.Moments:
        m = ps.Moments(start=1020)  # raw head of 4, two full blocks, tail of 52
        m.update(x[:2100])
        return m

    def moments_int() -> ps.Moments:
        m = ps.Moments()
        m.update(np.arange(-500, 1100, dtype=np.int32).reshape(-1, 2))
        return m

    def stage(name: str, shape: tuple[int, ...] = (), **params: Any) -> Callable[[], Any]:
        def make() -> ps.StageState:
            s = ps.StageState(name, record_shape=shape, **params)
            s.update(x2 if shape else x[:1001])
            return s
        return make

    out: dict[str, Callable[[], Any]] = {
        "moments": moments,
        "moments_int": moments_int,
        "cumsum": stage("cumsum"),
        "cumvar": stage("cumvar", (2,), ddof=1.0),
        "cummean": stage("cummean"),
        "ewm_mean": stage("ewm_mean", alpha=0.1, adjust=1),
        "ewm_var": stage("ewm_var", (2,), alpha=0.3, adjust=0, bias=0),
        "resample_mean": stage("resample_mean", window=7),
        "moving_mean": stage("moving_mean", (2,), window=5, min_count=1),
        "moving_median": stage("moving_median", window=4, min_count=2),
        "ddsketch": lambda: DDSketch().update(x),
        "kll": lambda: KLLSketch(k=64).update(x),
        "histogram": lambda: Histogram(10, range=(260.0, 300.0)).update(x),
    }
    return out


# ---------------------------------------------------------------------------
# helpers

import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import pathlib  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402

import pytest  # noqa: E402

from state_fuzz import FNV_OFFSET, FNV_OFFSET_LEGACY, fnv1a, reseal, seal  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = HERE / "data" / "legacy_fnv" / "states.json"


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # Under the sanitizer build (make test-asan) a refused huge allocation
    # must come back as NULL (MemoryError), not abort the child.
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS", ""),
                                                 "allocator_may_return_null=1"]))
    return env


def run_child(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (a crash is a failed status)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, cwd=HERE, env=_child_env())


def set_word(raw: bytes, offset: int, value: int, size: int = 8) -> bytes:
    """C state bytes with the little-endian field at ``offset`` replaced and
    the checksum recomputed (a hand-edited state)."""
    body = bytearray(raw[:-8])
    body[offset:offset + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    return seal(bytes(body))


def forge(load: Callable[[bytes], Any], raw: bytes, offset: int, value: int) -> bytes:
    """``set_word``, after checking that resealing the unedited field loads
    (so a refusal of the edit is about the value, not the checksum)."""
    same = int.from_bytes(raw[offset:offset + 8], "little")
    load(set_word(raw, offset, same))
    return set_word(raw, offset, value)


def f2u(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


# ---------------------------------------------------------------------------
# FNV-1a: the standard basis, legacy checksums still accepted

def test_fnv_helper_is_the_standard_fnv1a():
    # published FNV-1a 64 test vectors
    assert FNV_OFFSET == 14695981039346656037
    assert fnv1a(b"") == 0xCBF29CE484222325
    assert fnv1a(b"a") == 0xAF63DC4C8601EC8C
    assert fnv1a(b"foobar") == 0x85944171F73967E8


@pytest.mark.parametrize("name", sorted(legacy_states()))
def test_new_states_carry_the_standard_checksum(name):
    raw = legacy_states()[name]().to_bytes()
    if name == "kll":  # the C sketches inside the BLAKE2b envelope
        at = raw.find(b"PSKLLSKT")
        size = struct.unpack_from("<Q", raw, at - 8)[0]
        raw = raw[at:at + size]
    assert raw[-8:] == struct.pack("<Q", fnv1a(raw[:-8]))
    assert raw[-8:] != struct.pack("<Q", fnv1a(raw[:-8], FNV_OFFSET_LEGACY))


def _loader(name: str) -> Any:
    if name.startswith("moments"):
        return ps.Moments.from_bytes
    return {"ddsketch": DDSketch.from_bytes, "kll": KLLSketch.from_bytes,
            "histogram": Histogram.from_bytes}.get(name, ps.StageState.from_bytes)


def _same_results(name: str, a: Any, b: Any) -> None:
    if name.startswith("moments"):
        assert a.result(ddof=1, nan_policy="omit").to_dict().__repr__() == \
            b.result(ddof=1, nan_policy="omit").to_dict().__repr__()
    elif name in ("ddsketch", "kll"):
        q = [0.0, 0.1, 0.5, 0.9, 1.0]
        np.testing.assert_array_equal(a.quantile(q), b.quantile(q))
    elif name == "histogram":
        np.testing.assert_array_equal(a.result().counts, b.result().counts)
    else:
        x = np.linspace(0.0, 1.0, 24).reshape(12, -1)
        x = x[:, 0] if a.record_shape == () else x
        np.testing.assert_array_equal(a.update(x), b.update(x))


@pytest.mark.parametrize("name", sorted(legacy_states()))
def test_states_written_by_the_previous_version_load(name):
    """Bytes written by pystream before the offset-basis fix (fixtures made by
    main 9a66e1e) load, equal a state built now from the same data, and are
    written back with the standard checksum."""
    old = bytes.fromhex(json.loads(FIXTURES.read_text())[name])
    if name == "ewm_mean":
        # Its kernel changed in issue 17 (stage format 2): the old words mean
        # something else, so the state is refused, never continued wrongly.
        with pytest.raises(ValueError, match="before issue 17.*rebuild the state"):
            ps.StageState.from_bytes(old)
        return
    fresh = legacy_states()[name]()
    loaded = _loader(name)(old)
    new = loaded.to_bytes()
    assert new == fresh.to_bytes()
    if _loader(name) == ps.StageState.from_bytes:
        # the stage envelope's format word went from 1 to 2 (issue 17)
        assert old[8:16] == (1).to_bytes(8, "little") and new[8:16] == (2).to_bytes(8, "little")
        old_v2 = old[:8] + new[8:16] + old[16:]
    else:
        old_v2 = old
    if name != "kll":  # KLLSketch's own envelope digest is BLAKE2b
        assert new[:-8] == old_v2[:-8] and new[-8:] != old[-8:]
        assert old[-8:] == struct.pack("<Q", fnv1a(old[:-8], FNV_OFFSET_LEGACY))
    else:
        assert new != old
    _same_results(name, loaded, fresh)
    # a corrupted legacy state is still refused
    bad = bytearray(old)
    bad[len(bad) // 2] ^= 0x10
    with pytest.raises(ValueError):
        _loader(name)(bytes(bad))


# ---------------------------------------------------------------------------
# crashes: sizes from record shapes and from header fields

def test_stage_with_an_enormous_record_is_refused():
    code = """
        import pystream as ps
        for name in ps.StageState.names():
            params = {"window": 3, "min_count": 1} if name.startswith(("moving", "resample")) else {}
            if name.startswith("resample"):
                params = {"window": 3}
            if name.startswith("ewm"):
                params = {"alpha": 0.5}
            for shape in [(2**61 + 2,), (2**40 + 1,), (2**32, 2**32), (2**62, 4)]:
                try:
                    ps.StageState(name, record_shape=shape, **params)
                except ValueError as e:
                    assert "2**40" in str(e), e
                else:
                    raise AssertionError((name, shape))
        print("refused")
    """
    r = run_child(code)
    assert r.returncode == 0 and "refused" in r.stdout, (r.returncode, r.stdout, r.stderr[-2000:])


def test_c_stage_new_refuses_widths_beyond_the_limit():
    code = """
        from pystream._native import ffi, lib
        for kind in (lib.PS_CUMSUM, lib.PS_CUMVAR, lib.PS_EWM_MEAN, lib.PS_RESAMPLE_SUM):
            p = ffi.new("ps_stage_params *")
            p.kind, p.window, p.alpha = kind, 2, 0.5
            out = ffi.new("ps_stage **")
            for width in (2**61 + 2, 2**40 + 1, 2**63 - 1):
                assert lib.ps_stage_new(out, p, width, 0) == lib.PS_ERR_ARG
        print("refused")
    """
    r = run_child(code)
    assert r.returncode == 0 and "refused" in r.stdout, (r.returncode, r.stdout, r.stderr[-2000:])


WIDTH_AT = 96  # "PSSTAGE1", version, 10 parameter words: then width, start, position


def test_forged_stage_width_is_refused_before_allocation():
    """The 35 crash cases: a serialized stage whose width field was changed and
    its checksum recomputed (one child process for all kinds)."""
    forged = []
    for name, params in [("cumsum", {}), ("cummean", {}), ("cumvar", {}), ("cumprod", {}),
                         ("ewm_mean", {"alpha": 0.5}), ("ewm_var", {"alpha": 0.5}),
                         ("resample_sum", {"window": 4}),
                         ("moving_mean", {"window": 4, "min_count": 1}),
                         ("moving_median", {"window": 4, "min_count": 1})]:
        s = ps.StageState(name, **params)
        s.update(np.arange(10.0))
        raw = s.to_bytes()
        assert struct.unpack_from("<q", raw, WIDTH_AT)[0] == 1
        for w in [2**61 + 2, 2**62, 2**63 - 1, 2**40, 2**40 + 1, 2**31 - 1, 2**20, 2]:
            forged.append(forge(ps.StageState.from_bytes, raw, WIDTH_AT, w))
    code = f"""
        import pystream as ps
        for data in {forged!r}:
            try:
                ps.StageState.from_bytes(data)
            except ValueError:
                pass
            else:
                raise AssertionError("loaded")
        print("refused")
    """
    r = run_child(code)
    assert r.returncode == 0 and "refused" in r.stdout, (r.returncode, r.stdout, r.stderr[-2000:])


@pytest.mark.parametrize("group", ["moments", "stages", "ddsketch", "kll", "histogram"])
def test_fuzz_every_field_with_extreme_values(group):
    """Every header field of every state type (and a rotating share of
    extreme values in every payload field), checksum recomputed: a clean
    ValueError (MemoryError for a possible state larger than this machine)
    or a state whose results are possible; never a crash."""
    r = subprocess.run([sys.executable, str(HERE / "state_fuzz.py"), group],
                       capture_output=True, text=True, timeout=300, cwd=HERE, env=_child_env())
    assert r.returncode == 0, (r.returncode, r.stdout[-3000:], r.stderr[-3000:])
    cases, loaded = map(int, r.stdout.split()[1:3])
    assert cases > 500 and 0 < loaded < cases


# ---------------------------------------------------------------------------
# hostile Moments states: possible-looking bytes describing impossible data

def moments_layout(raw: bytes) -> dict[str, Any]:
    """Offsets of a Moments state's fields (csrc/moments.c write_state)."""
    ndim = struct.unpack_from("<I", raw, 16)[0]
    at = 20 + 8 * ndim
    start, stop, first_nan, head_n, tail_n = struct.unpack_from("<5q", raw, at)
    nnodes = struct.unpack_from("<I", raw, at + 40)[0]
    pos = at + 44
    d = int(np.prod(struct.unpack_from(f"<{ndim}q", raw, 20))) if ndim else 1
    names = ["n", "nan", "sum", "mean", "m2", "min", "max", "ihi", "ilo", "imin", "imax"]
    nodes = []
    for _ in range(nnodes):
        fields = {}
        for k, f in enumerate(names):
            fields[f] = pos + 12 + 8 * d * k
        nodes.append(fields)
        pos += 12 + 88 * d
    return {"first_nan": at + 16, "nodes": nodes, "d": d, "start": start, "stop": stop}


def _float_state() -> tuple[ps.Moments, bytes, dict[str, Any]]:
    rng = np.random.default_rng(1)
    m = ps.Moments()
    m.update(rng.normal(280.0, 5.0, 2100))  # two full blocks: one node
    raw = m.to_bytes()
    return m, raw, moments_layout(raw)


def _get(raw: bytes, off: int) -> float:
    return struct.unpack_from("<d", raw, off)[0]


@pytest.mark.parametrize("field,value", [
    ("m2", -1.0),                       # negative variance
    ("m2", -1e-300),
    ("m2", 1e12),                       # variance larger than the range allows
    ("mean", 2.0),                      # mean below the minimum
    ("mean", 1e6),                      # mean above the maximum
    ("mean", math.inf),                 # an infinite mean of finite values
    ("mean", math.nan),
    ("min", 300.0),                     # min > max
    ("max", 200.0),
    ("max", math.nan),
    ("sum", -5.0),                      # sum outside [n min, n max]
    ("sum", 1e300),
    ("imin", 3),                        # integer fields of a float state
    ("m2", math.inf),
])
def test_hostile_float_moments_are_refused(field, value):
    m, raw, lay = _float_state()
    node = lay["nodes"][0]
    bits = f2u(value) if isinstance(value, float) else value
    forged = forge(ps.Moments.from_bytes, raw, node[field], bits)
    with pytest.raises(ValueError, match="corrupt"):
        ps.Moments.from_bytes(forged)
    # the untouched state loads
    assert ps.Moments.from_bytes(raw).to_bytes() == raw


def test_hostile_moments_within_the_slack_still_load():
    """The checks allow for rounding: a node mean a few ulps off its exact
    value, or an M2 a little below the Popoviciu bound, is possible."""
    m, raw, lay = _float_state()
    node = lay["nodes"][0]
    mean = _get(raw, node["mean"])
    forged = set_word(raw, node["mean"], f2u(np.nextafter(mean, np.inf)))
    ps.Moments.from_bytes(forged)
    forged = set_word(raw, node["m2"], f2u(0.0))
    assert ps.Moments.from_bytes(forged).result().var >= 0


def test_hostile_moments_negative_variance_in_result():
    """The reported case: an edited M2 made describe() print a negative
    variance; now the state is refused."""
    m, raw, lay = _float_state()
    node = lay["nodes"][0]
    forged = forge(ps.Moments.from_bytes, raw, node["m2"], f2u(-_get(raw, node["m2"]) * 10))
    with pytest.raises(ValueError):
        ps.Moments.from_bytes(forged).result()


def test_hostile_int_moments_are_refused():
    m = ps.Moments()
    m.update(np.arange(-100, 1948, dtype=np.int32))  # 2 blocks of 1024: one node
    raw = m.to_bytes()
    node = moments_layout(raw)["nodes"][0]
    assert ps.Moments.from_bytes(raw).result().mean == m.result().mean
    cases = [
        ("imin", 2**40),             # outside int32
        ("imax", -2**40),
        ("imin", 5000),              # imin > imax
        ("min", f2u(-99.0)),         # float view differs from the exact min
        ("ilo", 2**62),              # exact sum above n * max
        ("ihi", 1),
        ("ihi", -1),                 # exact sum below n * min
        ("m2", f2u(-2.0)),
        ("mean", f2u(5000.0)),
        ("m2", f2u(math.nan)),
    ]
    for field, value in cases:
        with pytest.raises(ValueError):
            ps.Moments.from_bytes(forge(ps.Moments.from_bytes, raw, node[field], value))


def test_hostile_first_nan_is_refused():
    x = np.arange(3000.0)
    x[1500] = np.nan
    m = ps.Moments()
    m.update(x)
    raw = m.to_bytes()
    lay = moments_layout(raw)
    assert m.first_nan == 1500
    # records [0, 2048) are one tree node holding the NaN (inside a node the
    # exact record cannot be checked, only that the node holds a NaN)
    for forged in (-1, 2048, 2999, 2500, 3000, 2**62):
        with pytest.raises(ValueError):
            ps.Moments.from_bytes(forge(ps.Moments.from_bytes, raw, lay["first_nan"], forged))
    clean = ps.Moments()
    clean.update(np.arange(3000.0))
    raw = clean.to_bytes()
    with pytest.raises(ValueError):
        ps.Moments.from_bytes(forge(ps.Moments.from_bytes, raw, moments_layout(raw)["first_nan"], 7))


def test_possible_extreme_states_round_trip():
    """No false refusals: states of infinities, overflowing sums and
    squares, single values, all-NaN columns and every dtype's extremes load."""
    big = np.finfo(np.float64).max
    datasets = [
        np.array([np.inf] * 1030),
        np.array([-np.inf] * 1030),
        np.r_[np.full(1030, big), -big, 1.0],
        np.r_[np.full(600, big), np.full(600, -big)],
        np.r_[np.full(700, 1e200), np.full(700, -1e200)],
        np.r_[np.inf, np.full(1100, -np.inf), 3.0],
        np.r_[np.full(1030, np.nan), 2.0],
        np.linspace(-1e-300, 1e-300, 3000),
        np.r_[np.full(1024, 1.0), np.full(1024, 1.0 + 2**-52)],
        np.repeat([0.0, 1.0], 1024),   # the Popoviciu bound reached exactly
    ]
    for x in datasets:
        for start in (0, 3, 1021):
            m = ps.Moments(start=start)
            m.update(x)
            assert ps.Moments.from_bytes(m.to_bytes()).to_bytes() == m.to_bytes()
            m32 = ps.Moments(start=start)
            with np.errstate(over="ignore"):
                m32.update(x.astype(np.float32))
            ps.Moments.from_bytes(m32.to_bytes())
    for dt in ("bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"):
        info = np.iinfo(dt) if dt != "bool" else None
        for vals in ([0, 1] if info is None else [info.min, info.max], ):
            x = np.array(vals * 1100, dtype=dt)
            for arr in (x, np.sort(x), np.full(2100, vals[-1], dtype=dt)):
                m = ps.Moments()
                m.update(arr.reshape(-1, 2))
                assert ps.Moments.from_bytes(m.to_bytes()).to_bytes() == m.to_bytes()


# ---------------------------------------------------------------------------
# hostile stage states

SCAN_AT = 120  # first column's payload: a, b, n


@pytest.mark.parametrize("name", ["cumvar", "cummean"])
def test_scan_single_value_state_is_exact(name):
    s = ps.StageState(name)
    s.update(np.array([5.0]))
    raw = s.to_bytes()
    assert struct.unpack_from("<q", raw, SCAN_AT + 16)[0] == 1
    with pytest.raises(ValueError):
        ps.StageState.from_bytes(forge(ps.StageState.from_bytes, raw, SCAN_AT + 8, f2u(2.5)))
    assert ps.StageState.from_bytes(raw).to_bytes() == raw


@pytest.mark.parametrize("name,field,value", [
    ("cumvar", 8, f2u(-1.0)),           # negative M2
    ("cumvar", 16, -3),                 # negative count
    ("ewm_var", 32, f2u(-1.0)),         # negative covariance
    ("ewm_var", 16, f2u(1e-3)),         # sum of squared weights below sum**2 / nobs
    ("ewm_std", 16, f2u(2.5)),          # ... above sum**2 (bias correction garbage)
    ("ewm_mean", 8, f2u(1e9)),          # weight beyond 1 / alpha
    ("resample_mean", 16, 2**40),       # a count larger than the block
])
def test_hostile_stage_states_are_refused(name, field, value):
    params = {"alpha": 0.5} if name.startswith("ewm") else {"window": 5} if \
        name.startswith("resample") else {}
    s = ps.StageState(name, **params)
    s.update(np.arange(7.0))
    raw = s.to_bytes()
    with pytest.raises(ValueError):
        ps.StageState.from_bytes(forge(ps.StageState.from_bytes, raw, SCAN_AT + field, value))
