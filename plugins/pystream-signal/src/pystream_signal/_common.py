"""Shared helpers: parameter validation, dtype checks and the state byte format.

State bytes (every checkpointable object of this package) are::

    b"PSSIGNAL"  magic (8 bytes)
    u16          format version (little endian)
    u32          length of the JSON header
    JSON         {"kind": ..., "meta": {...}, "arrays": [[name, dtype, shape], ...]}
    raw arrays   C-order, in the header's order, native little-endian dtypes
    u32          CRC-32 of everything above

Anything else (truncated, corrupt, other kind or version) raises ``ValueError``.
"""

from __future__ import annotations

import json
import operator
import struct
import zlib
from typing import Any

import numpy as np

MAGIC = b"PSSIGNAL"
VERSION = 1
_HEAD = struct.Struct("<8sHI")
_CRC = struct.Struct("<I")


def check_int(value: object, name: str, where: str, minimum: int | None = None) -> int:
    """`value` as an int (bools refused); ``minimum`` inclusive."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be an integer, not bool")
    try:
        out = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{where}: {name} must be an integer, not {type(value).__name__}") from None
    if minimum is not None and out < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}; got {out}")
    return int(out)


def check_real_dtype(dtype: object, where: str) -> np.dtype:
    """The dtype if it is a real number type (bool, int, uint, float); TypeError otherwise."""
    try:
        dt = np.dtype(dtype)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{where}: unsupported dtype {dtype!r}") from None
    if dt.kind not in "biuf" or dt.fields is not None or dt.subdtype is not None:
        raise TypeError(f"{where}: unsupported input dtype {dt} (expected real numbers: "
                        "bool, integers or floats)")
    return dt


def as_chunk(chunk: Any, where: str) -> np.ndarray:
    """Check one input chunk: an ndarray (not masked) of real numbers, at least 1-d."""
    if type(chunk) is not np.ndarray:
        if isinstance(chunk, np.ma.MaskedArray):
            raise TypeError(f"{where}: masked arrays are not supported; use a.filled(np.nan)")
        chunk = np.asarray(chunk)
    check_real_dtype(chunk.dtype, where)
    if chunk.ndim == 0:
        raise ValueError(f"{where}: a 0-d array has no stream axis")
    return chunk


def close_iter(chunks: Any) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


def pack(kind: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """Serialize `meta` (JSON-able) and `arrays` into checksummed bytes."""
    specs = []
    blobs = []
    for name, a in arrays.items():
        a = np.asarray(a)
        dt = a.dtype.newbyteorder("<")
        a = np.ascontiguousarray(a.astype(dt, copy=False))
        specs.append([name, dt.str, list(a.shape)])
        blobs.append(a.tobytes())
    header = json.dumps({"kind": kind, "meta": meta, "arrays": specs},
                        separators=(",", ":"), allow_nan=True).encode()
    body = _HEAD.pack(MAGIC, VERSION, len(header)) + header + b"".join(blobs)
    return body + _CRC.pack(zlib.crc32(body) & 0xFFFFFFFF)



def unpack(kind: str, data: Any, where: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Inverse of :func:`pack`; ValueError on anything malformed."""
    try:
        raw = bytes(memoryview(data).cast("B"))
    except TypeError:
        raise TypeError(f"{where}: expected bytes, not {type(data).__name__}") from None
    if len(raw) < _HEAD.size + _CRC.size:
        raise ValueError(f"{where}: truncated state bytes ({len(raw)} bytes)")
    body, (crc,) = raw[:-_CRC.size], _CRC.unpack(raw[-_CRC.size:])
    magic, version, hlen = _HEAD.unpack_from(body)
    if magic != MAGIC:
        raise ValueError(f"{where}: not pystream-signal state bytes (bad magic)")
    if version != VERSION:
        raise ValueError(f"{where}: unsupported state format version {version} (expected {VERSION})")
    if zlib.crc32(body) & 0xFFFFFFFF != crc:
        raise ValueError(f"{where}: corrupt state bytes (checksum mismatch)")
    try:
        header = json.loads(body[_HEAD.size:_HEAD.size + hlen].decode())
        if header["kind"] != kind:
            raise ValueError(f"{where}: these bytes hold a {header['kind']!r} state, not {kind!r}")
        offset = _HEAD.size + hlen
        arrays: dict[str, np.ndarray] = {}
        for name, dtstr, shape in header["arrays"]:
            dt = np.dtype(dtstr)
            if dt.kind not in "biuf" or dt.hasobject:
                raise ValueError(f"bad dtype {dtstr}")
            count = int(np.prod(shape, dtype=np.int64)) if shape else 1
            nbytes = count * dt.itemsize
            if offset + nbytes > len(body):
                raise ValueError("truncated array data")
            a = np.frombuffer(body, dt, count, offset).reshape(shape)
            arrays[name] = a.astype(dt.newbyteorder("="), copy=True)
            offset += nbytes
        if offset != len(body):
            raise ValueError("trailing bytes")
        return header["meta"], arrays
    except ValueError as e:
        if str(e).startswith(where):
            raise
        raise ValueError(f"{where}: malformed state bytes ({e})") from None
    except (KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{where}: malformed state bytes ({type(e).__name__}: {e})") from None
