import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import given, settings
from hypothesis import strategies as st
from pystream.testing import (assert_chunk_invariant, assert_matches_reference,
                              check_bad_inputs, run_stage)

from pystream_signal import Decimate, DecimateState


def ref(q, n=None, ftype="iir"):
    return lambda x: ss.decimate(x, q, n, ftype, axis=0, zero_phase=False)


CASES = [(2, None, "iir"), (3, None, "iir"), (5, 4, "iir"), (10, 8, "iir"), (1, None, "iir"),
         (2, None, "fir"), (3, 30, "fir"), (7, None, "fir")]


@pytest.mark.parametrize("q, n, ftype", CASES)
def test_matches_scipy(q, n, ftype, rng):
    x = rng.normal(size=400)
    stage = Decimate(q, n, ftype)
    # iir: same sosfilt calls as scipy -> bit for bit; fir: another summation order than
    # upfirdn (measured identical here, allowed 1e-12)
    tol = 0.0 if ftype == "iir" else 1e-12
    assert_matches_reference(stage, x, ref(q, n, ftype), rtol=tol, atol=tol)
    assert_chunk_invariant(stage, x)


@pytest.mark.parametrize("q, n, ftype", CASES)
def test_records_and_float32(q, n, ftype, rng):
    x = rng.normal(size=(200, 3))
    tol = 0.0 if ftype == "iir" else 1e-12
    assert_matches_reference(Decimate(q, n, ftype), x, ref(q, n, ftype), rtol=tol, atol=tol)
    x32 = x.astype(np.float32)
    stage = Decimate(q, n, ftype)
    assert stage.output_meta(x32.dtype, (3,))[0] == np.float32 == ref(q, n, ftype)(x32).dtype
    tol = 0.0 if ftype == "iir" else 1e-5
    assert_matches_reference(stage, x32, ref(q, n, ftype), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.float16])
def test_other_dtypes_give_float64(dtype, rng):
    x = (rng.normal(size=(90, 2)) * 20).astype(dtype)
    stage = Decimate(3)
    assert stage.output_meta(x.dtype, (2,))[0] == np.float64 == ref(3)(x).dtype
    assert_matches_reference(stage, x, ref(3))


def test_nan(rng):
    x = rng.normal(size=100)
    x[33] = np.nan
    assert_matches_reference(Decimate(4), x, ref(4))
    assert_matches_reference(Decimate(4, ftype="fir"), x, ref(4, None, "fir"), rtol=1e-12)


def test_alignment_on_start(rng):
    """Kept records are offsets 0, q, 2q... from the stream's first record, whatever `start`."""
    x = rng.normal(size=50)
    want = ref(4)(x)
    for start in (0, 1, 3, 1001):
        assert np.array_equal(run_stage(Decimate(4), x, [7] * 7 + [1], start=start), want)


def test_bad_inputs():
    check_bad_inputs(Decimate(3))
    check_bad_inputs(Decimate(3, ftype="fir"))


@pytest.mark.parametrize("ftype", ["iir", "fir"])
def test_checkpoint(ftype, rng):
    x = rng.normal(size=(101, 2))
    want = ref(3, None, ftype)(x)
    for cut in (0, 1, 50, 100):
        s = Decimate(3, ftype=ftype).state((2,))
        a = s.update(x[:cut])
        b = DecimateState.from_bytes(s.to_bytes()).update(x[cut:])
        assert np.array_equal(np.concatenate([a, b]), run_stage(Decimate(3, ftype=ftype), x))
        np.testing.assert_allclose(np.concatenate([a, b]), want, rtol=1e-12, atol=1e-12)
    data = bytearray(s.to_bytes())
    data[len(data) // 2] ^= 1
    with pytest.raises(ValueError):
        DecimateState.from_bytes(bytes(data))


@pytest.mark.parametrize("kw, exc", [
    (dict(q=0), ValueError), (dict(q=2.5), TypeError), (dict(q=True), TypeError),
    (dict(q=2, n=0), ValueError), (dict(q=2, n=1.5), TypeError),
    (dict(q=2, ftype="fft"), ValueError), (dict(q=2, ftype=None), TypeError),
    (dict(q=1, ftype="fir"), ValueError),
])
def test_bad_params(kw, exc):
    with pytest.raises(exc, match="^decimate"):
        Decimate(**kw)


@settings(max_examples=30, deadline=None)
@given(sizes=st.lists(st.integers(0, 30), min_size=1, max_size=15), q=st.integers(2, 6),
       ftype=st.sampled_from(["iir", "fir"]))
def test_random_chunkings_hypothesis(sizes, q, ftype):
    n = sum(sizes)
    x = np.random.default_rng(n).normal(size=n)
    got = run_stage(Decimate(q, ftype=ftype), x, sizes)
    assert np.array_equal(got, run_stage(Decimate(q, ftype=ftype), x))
    if n:
        np.testing.assert_allclose(got, ref(q, None, ftype)(x), rtol=1e-12, atol=1e-12)
