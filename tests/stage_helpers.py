"""Shared helpers of the numpy-exact stage tests (test_records.py, test_accumulate.py)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st

from pystream.sources import from_array

CHUNK_SIZES = (1, 2, 3, 5, 7, 13, 31, 97, 1009)
DTYPES = ("float64", "float32", "int64", "int8", "uint8", "bool")
RECORD_SHAPES = ((), (3,), (2, 2))


def make_data(rng: np.random.Generator, n: int, dtype: str, rs: tuple[int, ...]) -> np.ndarray:
    """Random data of `dtype`; floats get ties, signed zeros, NaNs (both signs) and infs."""
    dt = np.dtype(dtype)
    shape = (n, *rs)
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dt)
    x = (rng.normal(size=shape) * 10).astype(dt)
    if rng.random() < 0.5:  # many ties, incl. +0.0 / -0.0
        x = rng.integers(-2, 3, size=shape).astype(dt)
        x[rng.random(shape) < 0.3] *= -1
        x[(x == 0) & (rng.random(shape) < 0.5)] = -0.0
    specials = np.array([np.nan, -np.nan, np.inf, -np.inf], dtype=dt)
    mask = rng.random(shape) < rng.choice([0.0, 0.02, 0.2])
    x[mask] = rng.choice(specials, size=int(mask.sum()))
    return x



#: A chunking: a fixed chunk size (run through ``Stream.pipe``) or a seed for
#: random sizes, empty chunks included (run by calling the stage directly).
chunkings = st.one_of(
    st.sampled_from(CHUNK_SIZES).map(lambda cs: ("size", cs)),
    st.integers(0, 2**32 - 1).map(lambda seed: ("random", seed)),
)


def split(x: np.ndarray, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    big = int(rng.choice([3, 8, 40]))
    pieces, i = [], 0
    while i < len(x):
        k = int(rng.integers(0, big + 1))
        pieces.append(x[i : i + k])
        i += k
    if rng.random() < 0.3:
        pieces.append(x[:0])
    return pieces


def run(stage: Callable, x: np.ndarray, chunking: tuple[str, int]) -> np.ndarray:
    """Run `stage` over `x` cut as `chunking`; check no empty chunk and the metadata."""
    dt, rs = stage.output_meta(x.dtype, x.shape[1:])
    kind, arg = chunking
    if kind == "size":
        s = from_array(x, chunk_size=arg)
        chunks = list(s.pipe(stage, dtype=dt, record_shape=rs))
    else:
        chunks = list(stage(iter(split(x, arg))))
    for c in chunks:
        assert len(c) > 0
        assert c.dtype == dt and c.shape[1:] == rs
    return np.concatenate(chunks) if chunks else np.empty((0, *rs), dt)


def assert_bits_equal(out: np.ndarray, ref: np.ndarray) -> None:
    """Same dtype, shape and bytes (NaN payloads and zero signs included)."""
    assert out.dtype == ref.dtype
    assert out.shape == ref.shape
    np.testing.assert_array_equal(out, ref)
    a = np.ascontiguousarray(out)
    b = np.ascontiguousarray(ref)
    assert a.tobytes() == b.tobytes()


def assert_values_equal(out: np.ndarray, ref: np.ndarray) -> None:
    """Same dtype, shape and values (NaN == NaN, -0.0 == 0.0)."""
    assert out.dtype == ref.dtype
    assert out.shape == ref.shape
    np.testing.assert_array_equal(out, ref)
