"""The block layout of :class:`~pystream.KLLSketch`: seeds, the canonical tree
of aligned block ranges, the C sketch helpers and the byte format (see
:doc:`/internals/kll`)."""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import numpy as np

from .._native import check_status, ffi, lib

_MIN_K, _MAX_K = 8, 65535

#: Values per block (global position space).  Chosen by measurement (see
#: the class notes): large enough that the per-block work done in Python
#: (a new C sketch, about one merge of tree nodes) is a few percent of
#: sketching the block, small enough that a partition's raw head stays
#: modest (< BLOCK_SIZE float64 values).
BLOCK_SIZE = 524288

_MASK = (1 << 64) - 1
_MAX_POS = 1 << 62  # positions (values, NaN included) the C sketch can count
_TAG_LEAF = 0x6C6C6B2E6661656C   # seeds of block sketches (leaves)
_TAG_NODE = 0x6C6C6B2E65646F6E   # generator resets of tree merges
_TAG_FINAL = 0x6C6C6B2E6C616E69  # generator resets of the query sketch's merges

_MAGIC = b"PSKLLBLK"
_VERSION = 1
_HEADER = struct.Struct("<8sQQQQQQ")  # magic, version, k, seed, block, start, stop
_U64 = struct.Struct("<Q")
_NODE = struct.Struct("<QQQ")  # level, index, size of the C sketch's bytes
_DIGEST = 8


def _mix(z: int) -> int:
    """One splitmix64 step of state ``z``: its 64-bit output."""
    z = (z + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _derive(seed: int, tag: int, a: int, b: int = 0) -> int:
    """A 64-bit value determined by ``(seed, tag, a, b)``, well mixed."""
    return _mix(_mix(_mix(seed ^ tag) ^ a) ^ b)


def leaf_seed(seed: int, block: int) -> int:
    """Seed of the C sketch of block ``block`` (tests and the slow twin use it)."""
    return _derive(seed, _TAG_LEAF, block)


def node_rng(seed: int, level: int, index: int) -> int:
    """Generator state set before merging the two children of node ``(level, index)``."""
    return _derive(seed, _TAG_NODE, level, index)


def final_rng(seed: int, start: int, stop: int) -> int:
    """Generator state set before merging the piece ``[start, stop)`` into the query sketch."""
    return _derive(seed, _TAG_FINAL, start, stop)


def canonical_nodes(first: int, last: int) -> list[tuple[int, int]]:
    """The maximal aligned dyadic ranges of blocks covering ``[first, last)``.

    ``(level, index)`` for blocks ``[index * 2**level, (index + 1) * 2**level)``,
    left to right: the tree nodes a state covering those full blocks holds.
    """
    out = []
    i = first
    while i < last:
        level = (i & -i).bit_length() - 1 if i else 62
        while i + (1 << level) > last:
            level -= 1
        out.append((level, i >> level))
        i += 1 << level
    return out


# -- C sketches ------------------------------------------------------------


def _c_new(k: int, seed: int) -> Any:
    out = ffi.new("ps_kll **")
    check_status(lib.ps_kll_new(out, k, seed), "KLLSketch")
    return ffi.gc(out[0], lib.ps_kll_free)


def _c_copy(p: Any) -> Any:
    out = ffi.new("ps_kll **")
    check_status(lib.ps_kll_copy(out, p), "KLLSketch")
    return ffi.gc(out[0], lib.ps_kll_free)


def _c_merged(left: Any, right: Any, rng: int) -> Any:
    """A new C sketch: ``left`` with its generator set to ``rng``, ``right`` merged in."""
    c = _c_copy(left)
    check_status(lib.ps_kll_set_rng(c, rng), "KLLSketch.merge")
    check_status(lib.ps_kll_merge(c, right), "KLLSketch.merge")
    return c


def _c_update_f64(p: Any, values: np.ndarray, what: str) -> None:
    """Add contiguous float64 ``values`` to the C sketch ``p``."""
    if values.size:
        check_status(lib.ps_kll_update(p, ffi.from_buffer("double[]", values), lib.PS_FLOAT64,
                                       values.size, 1, 8, 8), what)


def _c_bytes(p: Any) -> bytes:
    size = ffi.new("size_t *")
    check_status(lib.ps_kll_serialize(p, ffi.NULL, 0, size), "KLLSketch.to_bytes")
    buf = bytearray(size[0])
    check_status(lib.ps_kll_serialize(p, ffi.from_buffer(buf), len(buf), size),
                 "KLLSketch.to_bytes")
    return bytes(buf)


def _c_from_bytes(raw: bytes, what: str) -> Any:
    out = ffi.new("ps_kll **")
    check_status(lib.ps_kll_deserialize(out, ffi.from_buffer(raw), len(raw)), what)
    return ffi.gc(out[0], lib.ps_kll_free)


def _push(nodes: list, level: int, index: int, p: Any, seed: int) -> None:
    """Append a node and merge siblings while the last two are siblings."""
    nodes.append((level, index, p))
    while len(nodes) >= 2:
        l1, i1, a = nodes[-2]
        l2, i2, b = nodes[-1]
        if l1 != l2 or i1 & 1 or i2 != i1 + 1:
            break
        up = i1 >> 1
        nodes[-2:] = [(l1 + 1, up, _c_merged(a, b, node_rng(seed, l1 + 1, up)))]


class _Reader:
    """Bounds-checked little-endian reads; every failure is a ValueError."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or n > len(self.data) - self.pos:
            raise ValueError("KLLSketch.from_bytes: truncated or corrupt data")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u64(self) -> int:
        return _U64.unpack(self.take(8))[0]


def _corrupt(why: str) -> ValueError:
    return ValueError(f"KLLSketch.from_bytes: corrupt data ({why})")


def combine(into: Any, left: Any, right: Any) -> None:
    """into <- left (+) right, ``left.stop == right.start``; one of them is into."""
    if right._stop == right._start:
        if left is not into:
            into._take(left)
        return
    if left._stop == left._start:
        if right is not into:
            into._take(right)
        return

    def own_tail(st: Any) -> Any:
        if st._tail is None or st is into:
            return st._tail
        return _c_copy(st._tail)

    B, seed = into._BLOCK, into._seed
    m = left._stop
    head = left._head
    if head is not None and left is not into:
        head = head.copy()
    nodes = list(left._nodes)
    pushes: list = []
    if m % B == 0:  # the boundary is a block boundary: no shared block
        pushes = list(right._nodes)
        tail = own_tail(right)
    else:
        boundary = (m // B + 1) * B
        rhead = right._head[:min(right._stop, boundary) - m]
        crossed = right._stop >= boundary
        if left._tail is not None:  # continue left's open block with right's head
            t = own_tail(left)
            _c_update_f64(t, rhead, "KLLSketch.merge")
            if crossed:
                pushes = [(0, m // B, t), *right._nodes]
                tail = own_tail(right)
            else:
                tail = t
        else:  # left lies inside one block: its head grows
            at = m - left._start
            head[at:at + rhead.size] = rhead
            pushes = list(right._nodes) if crossed else []
            tail = own_tail(right) if crossed else None
    for level, index, p in pushes:
        _push(nodes, level, index, p, seed)
    into._start, into._stop = left._start, right._stop
    into._head, into._nodes, into._tail, into._final = head, nodes, tail, None


def encode_sketch(s: Any) -> bytes:
    """The bytes of :meth:`KLLSketch.to_bytes` (the caller holds the lock)."""
    parts = [_HEADER.pack(_MAGIC, _VERSION, s._k, s._seed, s._BLOCK,
                          s._start, s._stop)]
    hl = s._head_len()
    if hl:
        parts.append(s._head[:hl].astype("<f8", copy=False).tobytes())
    parts.append(_U64.pack(len(s._nodes)))
    for level, index, p in s._nodes:
        b = _c_bytes(p)
        parts.append(_NODE.pack(level, index, len(b)))
        parts.append(b)
    tail = b"" if s._tail is None else _c_bytes(s._tail)
    parts.append(_U64.pack(len(tail)))
    parts.append(tail)
    body = b"".join(parts)
    return body + hashlib.blake2b(body, digest_size=_DIGEST).digest()


def decode_sketch(cls: Any, data: Any) -> Any:
    """The sketch of :meth:`KLLSketch.from_bytes` (`cls`: the class to make)."""
    try:
        raw = bytes(memoryview(data).cast("B"))
    except TypeError:
        raise TypeError(f"KLLSketch.from_bytes expects bytes, not "
                        f"{type(data).__name__}") from None
    what = "KLLSketch.from_bytes"
    if len(raw) < _HEADER.size + _DIGEST or raw[:8] != _MAGIC:
        raise _corrupt("not a KLLSketch: bad magic or too short")
    body, digest = raw[:-_DIGEST], raw[-_DIGEST:]
    if hashlib.blake2b(body, digest_size=_DIGEST).digest() != digest:
        if _U64.unpack_from(raw, 8)[0] != _VERSION:
            raise ValueError(f"{what}: unknown format version "
                             f"{_U64.unpack_from(raw, 8)[0]}")
        raise _corrupt("checksum mismatch")
    r = _Reader(body)
    _, version, k, seed, block, start, stop = _HEADER.unpack(r.take(_HEADER.size))
    if version != _VERSION:
        raise ValueError(f"{what}: unknown format version {version}")
    if block != cls._BLOCK:
        raise ValueError(f"{what}: block size {block}, this build uses {cls._BLOCK}")
    if not (_MIN_K <= k <= _MAX_K and start <= stop <= _MAX_POS):
        raise _corrupt("k, start or stop out of range")
    new = cls(k, seed, start)
    new._stop = stop
    B = block
    hl = new._head_len()
    if hl:
        new._head = np.empty(new._head_end() - start)
        new._head[:hl] = np.frombuffer(r.take(8 * hl), dtype="<f8")
    first, last = new._head_end() // B, stop // B
    want = canonical_nodes(first, last) if last > first else []
    if r.u64() != len(want):
        raise _corrupt("wrong number of tree nodes")
    for level, index in want:
        got_level, got_index, size = _NODE.unpack(r.take(_NODE.size))
        if (got_level, got_index) != (level, index):
            raise _corrupt("tree nodes do not match start and stop")
        p = _c_from_bytes(r.take(size), what)
        positions = int(lib.ps_kll_count(p)) + int(lib.ps_kll_nan_count(p))
        if (int(lib.ps_kll_k(p)) != k or positions != B << level
                or int(lib.ps_kll_seed(p)) != leaf_seed(seed, index << level)):
            raise _corrupt("a tree node does not fit its range")
        new._nodes.append((level, index, p))
    size = r.u64()
    tail_from = stop // B * B
    if (size > 0) != (stop > tail_from and tail_from >= new._head_end()):
        raise _corrupt("tail does not match start and stop")
    if size:
        p = _c_from_bytes(r.take(size), what)
        positions = int(lib.ps_kll_count(p)) + int(lib.ps_kll_nan_count(p))
        if (int(lib.ps_kll_k(p)) != k or positions != stop - tail_from
                or int(lib.ps_kll_seed(p)) != leaf_seed(seed, tail_from // B)):
            raise _corrupt("the tail does not fit its range")
        new._tail = p
    if r.pos != len(body):
        raise _corrupt("trailing bytes")
    return new
