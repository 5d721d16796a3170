"""The push form of the stages (``stage.push(start)``): pushing chunks one by one,
empty and 1-record chunks included, gives the pull form's output bit for bit."""

import numpy as np
import pytest
import scipy.signal as ss

from pystream_signal import Decimate, SosFilt


def pieces(x, seed):
    rng = np.random.default_rng(seed)
    out, i = [x[:0], x[:1]], 1
    while i < len(x):
        k = int(rng.choice([0, 1, 2, 5, 17, 64]))
        out.append(x[i:i + k])
        i += k
    return out


def push(stage, chunks, start=0):
    p = stage.push(start)
    outs = []
    for c in chunks:
        got = p.send(c)
        assert all(len(o) for o in got)
        outs += got
        assert not p.done and p.error is None
    outs += p.close()
    return outs


STAGES = [
    ("sosfilt", lambda: SosFilt(ss.butter(4, 0.2, output="sos"))),
    ("sosfilt-zi", lambda: SosFilt(ss.butter(2, 0.3, output="sos"), zi=np.ones((1, 2)))),
    ("decimate-iir", lambda: Decimate(3)),
    ("decimate-fir", lambda: Decimate(4, ftype="fir")),
]


SHAPES = [((401,), np.float64), ((333, 3), np.float32), ((250,), np.int16)]
CASES = [(name, make, shape, dtype) for name, make in STAGES for shape, dtype in SHAPES
         if not (name == "sosfilt-zi" and len(shape) > 1)]  # its zi is for scalar records


@pytest.mark.parametrize("name, make, shape, dtype", CASES,
                         ids=[f"{c[0]}-{c[3].__name__}{list(c[2][1:])}" for c in CASES])
def test_push_equals_pull(name, make, shape, dtype, rng):
    x = (rng.normal(size=shape) * 10).astype(dtype)
    stage = make()
    want = np.concatenate(list(stage(iter([x]))))
    for seed in (1, 2):
        got = np.concatenate(push(stage, pieces(x, seed)))
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == want.tobytes()
        pulled = np.concatenate(list(stage(iter(pieces(x, seed)))))
        assert pulled.tobytes() == want.tobytes()


def test_decimate_push_keeps_the_global_phase(rng):
    """`start` places the kept records on the global index, as the pull form's."""
    x = rng.normal(size=100)
    stage = Decimate(3)
    want = np.concatenate(list(stage(iter([x]), start=7)))
    got = np.concatenate(push(stage, pieces(x, 3), start=7))
    assert got.tobytes() == want.tobytes()


def test_empty_stream_and_bad_chunks():
    stage = SosFilt(ss.butter(2, 0.2, output="sos"))
    assert stage.push().close() == []
    p = stage.push()
    assert p.send(np.zeros(0)) == [] and p.close() == []
    with pytest.raises(TypeError, match="sosfilt"):
        stage.push().send(np.array(["a"]))
    with pytest.raises(ValueError, match="start"):
        stage.push(-1)
