"""The raw C API (``csrc/pystream.h``) through cffi, for what the Python layer
never reaches: argument checks, status codes, block sizes, overflow."""

from __future__ import annotations

import numpy as np
import pytest

from pystream._native import ffi, lib

CODES = {
    "PS_OK": 0, "PS_ERR_NOMEM": 1, "PS_ERR_ARG": 2, "PS_ERR_DTYPE": 3,
    "PS_ERR_NOT_ADJACENT": 4, "PS_ERR_MISMATCH": 5, "PS_ERR_CORRUPT": 6,
    "PS_ERR_VERSION": 7, "PS_ERR_OVERFLOW": 8, "PS_ERR_BUFSIZE": 9, "PS_ERR_UNSET": 10,
    "PS_ERR_KEYS": 11,
}
DTYPES = {
    "PS_DTYPE_UNSET": -1, "PS_BOOL": 0, "PS_INT8": 1, "PS_INT16": 2, "PS_INT32": 3,
    "PS_INT64": 4, "PS_UINT8": 5, "PS_UINT16": 6, "PS_UINT32": 7, "PS_UINT64": 8,
    "PS_FLOAT32": 9, "PS_FLOAT64": 10,
}
INT64_MAX = 2**63 - 1


def new(dtype=lib.PS_FLOAT64, shape=(), start=0):
    out = ffi.new("ps_moments **")
    dims = ffi.new("int64_t[]", list(shape)) if shape else ffi.NULL
    st = lib.ps_moments_new(out, dtype, len(shape), dims, start)
    assert st == lib.PS_OK, st
    return ffi.gc(out[0], lib.ps_moments_free)


def update(m, a: np.ndarray) -> int:
    a = np.ascontiguousarray(a)
    n = a.shape[0]
    d = a.size // n if n else 1
    return lib.ps_moments_update(m, ffi.from_buffer(a), n, d * a.itemsize, a.itemsize)


def result_out(d):
    keep = {
        "count": np.zeros(d, np.int64), "nan_count": np.zeros(d, np.int64),
        "sum": np.zeros(d), "mean": np.zeros(d), "m2": np.zeros(d), "min": np.zeros(d),
        "max": np.zeros(d), "isum_hi": np.zeros(d, np.int64),
        "isum_lo": np.zeros(d, np.uint64), "imin": np.zeros(d, np.int64),
        "imax": np.zeros(d, np.int64),
    }
    out = ffi.new("ps_moments_out *")
    for name, arr in keep.items():
        setattr(out, name, ffi.cast(ffi.typeof(getattr(out, name)), arr.ctypes.data))
    return out, keep


def test_enum_values_match_header():
    for name, value in {**CODES, **DTYPES}.items():
        assert getattr(lib, name) == value, name
    assert lib.PS_MAX_NDIM == 64


def test_status_messages():
    seen = set()
    for name, code in CODES.items():
        text = ffi.string(lib.ps_status_message(code)).decode()
        assert text and text != "unknown status", name
        seen.add(text)
    assert len(seen) == len(CODES)  # every code has its own text
    assert ffi.string(lib.ps_status_message(0)) == b"ok"
    assert b"overflow" in ffi.string(lib.ps_status_message(lib.PS_ERR_OVERFLOW))
    assert b"adjacent" in ffi.string(lib.ps_status_message(lib.PS_ERR_NOT_ADJACENT))
    for bad in (-1, 12, 13, 1000, -(2**31), 2**31 - 1):
        assert ffi.string(lib.ps_status_message(bad)) == b"unknown status"


@pytest.mark.parametrize("width,block", [
    (1, 1024), (2, 512), (3, 256), (4, 256), (5, 128), (10, 64), (512, 2), (513, 1),
    (1023, 1), (1024, 1), (1025, 1), (5000, 1), (2**40, 1), (0, 1), (-5, 1),
])
def test_block_size(width, block):
    assert lib.ps_moments_block(width) == block


def test_block_size_divides_and_bounds():
    for w in range(1, 2100):
        b = lib.ps_moments_block(w)
        assert b >= 1 and 1024 % b == 0
        assert b == 1 or b * w <= 1024  # a block holds at most 1024 values


def test_new_argument_checks():
    out = ffi.new("ps_moments **")
    assert lib.ps_moments_new(ffi.NULL, lib.PS_FLOAT64, 0, ffi.NULL, 0) == lib.PS_ERR_ARG
    assert lib.ps_moments_new(out, lib.PS_FLOAT64, 0, ffi.NULL, -1) == lib.PS_ERR_ARG
    assert out[0] == ffi.NULL
    assert lib.ps_moments_new(out, lib.PS_FLOAT64, 0, ffi.NULL, -(2**63)) == lib.PS_ERR_ARG
    assert lib.ps_moments_new(out, lib.PS_FLOAT64, 0, ffi.NULL, INT64_MAX) == lib.PS_ERR_ARG
    for bad in (11, 12, -2, 99, 2**31 - 1):
        assert lib.ps_moments_new(out, bad, 0, ffi.NULL, 0) == lib.PS_ERR_DTYPE, bad
    dims = ffi.new("int64_t[]", [3, 0])
    assert lib.ps_moments_new(out, lib.PS_FLOAT64, 2, dims, 0) == lib.PS_ERR_ARG
    dims = ffi.new("int64_t[]", [3, -4])
    assert lib.ps_moments_new(out, lib.PS_FLOAT64, 2, dims, 0) == lib.PS_ERR_ARG
    dims = ffi.new("int64_t[]", [2**21, 2**20])  # 2**41 values per record
    assert lib.ps_moments_new(out, lib.PS_FLOAT64, 2, dims, 0) == lib.PS_ERR_ARG
    assert lib.ps_moments_new(out, lib.PS_FLOAT64, 1, ffi.NULL, 0) == lib.PS_ERR_ARG
    assert lib.ps_moments_new(out, lib.PS_FLOAT64, -1, ffi.NULL, 0) == lib.PS_ERR_ARG
    dims = ffi.new("int64_t[]", [1] * 65)
    assert lib.ps_moments_new(out, lib.PS_FLOAT64, 65, dims, 0) == lib.PS_ERR_ARG
    assert lib.ps_moments_new(out, lib.PS_FLOAT64, 64, dims, 0) == lib.PS_OK
    lib.ps_moments_free(out[0])
    # the largest start that leaves room for a block
    assert lib.ps_moments_new(out, lib.PS_DTYPE_UNSET, 0, ffi.NULL, INT64_MAX - 2048) == lib.PS_OK
    lib.ps_moments_free(out[0])
    lib.ps_moments_free(ffi.NULL)  # a no-op


def test_accessors():
    m = new(lib.PS_INT16, (2, 5), start=42)
    assert lib.ps_moments_dtype(m) == lib.PS_INT16
    assert lib.ps_moments_ndim(m) == 2
    assert [lib.ps_moments_shape(m, k) for k in (-1, 0, 1, 2, 64)] == [-1, 2, 5, -1, -1]
    assert lib.ps_moments_width(m) == 10
    assert lib.ps_moments_start(m) == lib.ps_moments_stop(m) == 42
    assert lib.ps_moments_first_nan(m) == -1
    u = new(lib.PS_DTYPE_UNSET, (), start=7)
    assert lib.ps_moments_dtype(u) == -1 and lib.ps_moments_ndim(u) == 0


def test_set_type():
    u = new(lib.PS_DTYPE_UNSET)
    assert lib.ps_moments_set_type(ffi.NULL, lib.PS_FLOAT64, 0, ffi.NULL) == lib.PS_ERR_ARG
    assert lib.ps_moments_set_type(u, 42, 0, ffi.NULL) == lib.PS_ERR_DTYPE
    assert lib.ps_moments_set_type(u, lib.PS_DTYPE_UNSET, 0, ffi.NULL) == lib.PS_ERR_DTYPE
    assert lib.ps_moments_dtype(u) == -1  # failed calls leave it unset
    dims = ffi.new("int64_t[]", [3])
    assert lib.ps_moments_set_type(u, lib.PS_FLOAT32, 1, dims) == lib.PS_OK
    assert lib.ps_moments_width(u) == 3
    assert lib.ps_moments_set_type(u, lib.PS_FLOAT32, 1, dims) == lib.PS_ERR_DTYPE


def test_update_argument_checks():
    m = new()
    a = np.arange(10.0)
    p = ffi.from_buffer(a)
    assert lib.ps_moments_update(ffi.NULL, p, 10, 8, 8) == lib.PS_ERR_ARG
    assert lib.ps_moments_update(m, p, -1, 8, 8) == lib.PS_ERR_ARG
    assert lib.ps_moments_update(m, p, -(2**63), 8, 8) == lib.PS_ERR_ARG
    assert lib.ps_moments_update(m, ffi.NULL, 5, 8, 8) == lib.PS_ERR_ARG
    assert lib.ps_moments_stop(m) == 0
    assert lib.ps_moments_update(m, ffi.NULL, 0, 8, 8) == lib.PS_OK  # nothing to read
    assert lib.ps_moments_update(m, p, 0, 8, 8) == lib.PS_OK
    assert lib.ps_moments_stop(m) == 0
    assert lib.ps_moments_update(m, p, 10, 8, 8) == lib.PS_OK
    assert lib.ps_moments_stop(m) == 10
    # negative record stride: read backwards from the last element
    r = new()
    last = ffi.cast("char *", ffi.from_buffer(a)) + 9 * 8
    assert lib.ps_moments_update(r, last, 10, -8, 8) == lib.PS_OK
    out, keep = result_out(1)
    assert lib.ps_moments_result(r, out) == lib.PS_OK
    assert keep["sum"][0] == 45.0 and keep["min"][0] == 0.0 and keep["max"][0] == 9.0


def test_update_unset_state():
    u = new(lib.PS_DTYPE_UNSET)
    a = np.arange(3.0)
    assert lib.ps_moments_update(u, ffi.from_buffer(a), 3, 8, 8) == lib.PS_ERR_UNSET
    assert lib.ps_moments_update(u, ffi.from_buffer(a), 0, 8, 8) == lib.PS_ERR_UNSET
    assert lib.ps_moments_stop(u) == 0


def test_result_checks():
    u = new(lib.PS_DTYPE_UNSET)
    out, keep = result_out(1)
    assert lib.ps_moments_result(u, out) == lib.PS_ERR_UNSET
    assert (keep["count"] == 0).all()  # nothing written
    m = new()
    assert lib.ps_moments_result(ffi.NULL, out) == lib.PS_ERR_ARG
    assert lib.ps_moments_result(m, ffi.NULL) == lib.PS_ERR_ARG
    for field in ("count", "nan_count", "sum", "mean", "m2", "min", "max", "isum_hi",
                  "isum_lo", "imin", "imax"):
        out, keep = result_out(1)
        setattr(out, field, ffi.NULL)
        assert lib.ps_moments_result(m, out) == lib.PS_ERR_ARG, field
    out, keep = result_out(1)
    assert lib.ps_moments_result(m, out) == lib.PS_OK  # typed, empty
    assert keep["count"][0] == 0 and np.isnan(keep["mean"][0]) and np.isnan(keep["min"][0])


def test_int_result_fields():
    m = new(lib.PS_INT64)
    a = np.array([2**63 - 1, 2**63 - 1, -5], dtype=np.int64)
    assert update(m, a) == lib.PS_OK
    out, keep = result_out(1)
    assert lib.ps_moments_result(m, out) == lib.PS_OK
    exact = int(keep["isum_hi"][0]) * 2**64 + int(keep["isum_lo"][0])
    assert exact == 2 * (2**63 - 1) - 5
    assert keep["imin"][0] == -5 and keep["imax"][0] == 2**63 - 1
    u = new(lib.PS_UINT64)
    b = np.array([2**64 - 1, 3], dtype=np.uint64)
    assert update(u, b) == lib.PS_OK
    assert lib.ps_moments_result(u, out) == lib.PS_OK
    assert int(keep["isum_hi"][0]) * 2**64 + int(keep["isum_lo"][0]) == 2**64 + 2
    assert keep["imax"].view(np.uint64)[0] == 2**64 - 1 and keep["imin"][0] == 3


def test_count_overflow():
    m = new(start=2**63 - 3000)
    a = np.zeros(5000)
    assert update(m, a) == lib.PS_ERR_OVERFLOW
    assert lib.ps_moments_stop(m) == 2**63 - 3000  # refused as a whole
    assert update(m, a[:500]) == lib.PS_OK
    assert lib.ps_moments_stop(m) == 2**63 - 2500
    # the state is still consistent
    out, keep = result_out(1)
    assert lib.ps_moments_result(m, out) == lib.PS_OK and keep["count"][0] == 500
    # near the limit, even one more record than allowed is refused
    z = new(start=INT64_MAX - 2048)
    assert update(z, a[:1]) == lib.PS_ERR_OVERFLOW
    assert lib.ps_moments_stop(z) == INT64_MAX - 2048


def test_merge_checks():
    a = new()
    b = new(start=5)
    x = np.arange(5.0)
    assert update(a, x) == lib.PS_OK
    assert lib.ps_moments_merge(ffi.NULL, b) == lib.PS_ERR_ARG
    assert lib.ps_moments_merge(a, ffi.NULL) == lib.PS_ERR_ARG
    assert lib.ps_moments_merge(a, a) == lib.PS_ERR_NOT_ADJACENT
    e = new(start=3)
    assert lib.ps_moments_merge(e, e) == lib.PS_OK
    assert update(b, x) == lib.PS_OK
    assert lib.ps_moments_merge(b, a) == lib.PS_ERR_NOT_ADJACENT  # wrong order
    i = new(lib.PS_INT64, start=5)
    assert lib.ps_moments_merge(a, i) == lib.PS_ERR_MISMATCH
    r = new(lib.PS_FLOAT64, (1,), start=5)  # (1,) is not ()
    assert lib.ps_moments_merge(a, r) == lib.PS_ERR_MISMATCH
    assert lib.ps_moments_stop(a) == 5
    assert lib.ps_moments_merge(a, b) == lib.PS_OK
    assert lib.ps_moments_stop(a) == 10 and lib.ps_moments_stop(b) == 10


def test_copy_checks():
    out = ffi.new("ps_moments **")
    assert lib.ps_moments_copy(out, ffi.NULL) == lib.PS_ERR_ARG
    m = new()
    assert lib.ps_moments_copy(ffi.NULL, m) == lib.PS_ERR_ARG
    assert update(m, np.arange(3000.0)) == lib.PS_OK
    assert lib.ps_moments_copy(out, m) == lib.PS_OK
    c = ffi.gc(out[0], lib.ps_moments_free)
    assert lib.ps_moments_stop(c) == 3000
    assert update(c, np.arange(10.0)) == lib.PS_OK
    assert lib.ps_moments_stop(m) == 3000  # independent


def _serialize(m) -> bytes:
    size = ffi.new("size_t *")
    assert lib.ps_moments_serialize(m, ffi.NULL, 0, size) == lib.PS_OK
    buf = bytearray(size[0])
    assert lib.ps_moments_serialize(m, ffi.from_buffer(buf), len(buf), size) == lib.PS_OK
    return bytes(buf)


def test_serialize_checks():
    m = new()
    assert update(m, np.arange(2000.0)) == lib.PS_OK
    size = ffi.new("size_t *")
    assert lib.ps_moments_serialize(ffi.NULL, ffi.NULL, 0, size) == lib.PS_ERR_ARG
    assert lib.ps_moments_serialize(m, ffi.NULL, 0, ffi.NULL) == lib.PS_ERR_ARG
    blob = _serialize(m)
    small = bytearray(len(blob) - 1)
    assert lib.ps_moments_serialize(m, ffi.from_buffer(small), len(small), size) == \
        lib.PS_ERR_BUFSIZE
    assert size[0] == len(blob)
    assert small == bytearray(len(blob) - 1)  # nothing written
    big = bytearray(len(blob) + 10)
    assert lib.ps_moments_serialize(m, ffi.from_buffer(big), len(big), size) == lib.PS_OK
    assert size[0] == len(blob) and bytes(big[: len(blob)]) == blob


def test_deserialize_checks():
    m = new(lib.PS_INT32, (3,), start=17)
    assert update(m, np.arange(30, dtype=np.int32).reshape(10, 3)) == lib.PS_OK
    blob = _serialize(m)
    out = ffi.new("ps_moments **")
    assert lib.ps_moments_deserialize(ffi.NULL, blob, len(blob)) == lib.PS_ERR_ARG
    assert lib.ps_moments_deserialize(out, ffi.NULL, 5) == lib.PS_ERR_ARG
    assert lib.ps_moments_deserialize(out, ffi.NULL, 0) == lib.PS_ERR_CORRUPT
    for k in (0, 1, 19, 20, len(blob) - 1):
        assert lib.ps_moments_deserialize(out, blob, k) in (lib.PS_ERR_CORRUPT,
                                                            lib.PS_ERR_VERSION), k
        assert out[0] == ffi.NULL
    assert lib.ps_moments_deserialize(out, blob, len(blob)) == lib.PS_OK
    c = ffi.gc(out[0], lib.ps_moments_free)
    assert lib.ps_moments_start(c) == 17 and lib.ps_moments_stop(c) == 27
    assert lib.ps_moments_width(c) == 3 and lib.ps_moments_dtype(c) == lib.PS_INT32
    assert _serialize(c) == blob
