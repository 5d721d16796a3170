import numpy as np
import pytest
import scipy.signal as ss


def _filters():
    out = []
    for order in (2, 3, 4, 6, 8):
        out.append((f"butter{order}-low", ss.butter(order, 0.2, output="sos")))
        out.append((f"cheby1-{order}-band", ss.cheby1(order, 0.5, [0.1, 0.4], "bandpass", output="sos")))
    out.append(("butter5-high", ss.butter(5, 0.3, "highpass", output="sos")))
    return out


FILTERS = _filters()


@pytest.fixture(params=FILTERS, ids=[name for name, _ in FILTERS])
def sos(request):
    return request.param[1]


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
