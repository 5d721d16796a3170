import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.signal as ss

import pystream as ps
from pystream_signal import Decimate, SosFilt, Welch

ROOT = Path(__file__).resolve().parents[1]
# The examples are in the documentation's gallery, docs/examples/plugins/ of the repository.
GALLERY = ROOT.parents[1] / "docs" / "examples" / "plugins"
EXAMPLES = sorted(GALLERY.glob("plot_signal_*.py"))


def test_entry_point_installed():
    eps = importlib.metadata.entry_points(group="pystream")
    mine = [ep for ep in eps if ep.name == "signal"]
    assert mine and mine[0].value == "pystream_signal.plugin"
    assert mine[0].dist.name == "pystream-signal"


def test_plugin_import_does_not_import_scipy():
    code = ("import sys, pystream_signal.plugin; "
            "sys.exit(1 if any(m == 'scipy' or m.startswith('scipy.') for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_registry_exposes_everything():
    from pystream.plugins import get_registry

    reg = get_registry()
    for kind, name, factory in (("stages", "sosfilt", SosFilt), ("stages", "decimate", Decimate),
                                ("reducers", "welch", Welch)):
        entry = getattr(reg, kind)[name]
        assert entry.factory is factory and entry.family == "signal"
        assert entry.summary
    assert isinstance(ps.stages.sosfilt(sos=ss.butter(2, 0.1, output="sos")), SosFilt)
    assert {"sosfilt", "decimate", "welch"} <= set(dir(ps.from_array(np.zeros(3))))


def test_stream_methods(rng):
    x = rng.normal(size=(5000, 3))
    sos = ss.butter(6, [0.1, 0.3], "bandpass", output="sos")
    y = ps.from_array(x, chunk_size=333).sosfilt(sos=sos).to_array()
    assert np.array_equal(y, ss.sosfilt(sos, x, axis=0))
    d = ps.from_array(x, chunk_size=333).decimate(q=4).to_array()
    assert np.array_equal(d, ss.decimate(x, 4, axis=0, zero_phase=False))
    f, p = ps.from_array(x, chunk_size=333).welch(fs=10.0, nperseg=128)
    f0, p0 = ss.welch(x, fs=10.0, nperseg=128, axis=0)
    assert np.array_equal(f, f0)
    np.testing.assert_allclose(p, p0, rtol=1e-12)
    # chained: filter, decimate, then a spectrum, all in one pass
    f, p = ps.from_array(x[:, 0], chunk_size=100).sosfilt(sos=sos).decimate(q=2).welch(nperseg=64)
    f0, p0 = ss.welch(ss.decimate(ss.sosfilt(sos, x[:, 0]), 2, zero_phase=False), nperseg=64)
    np.testing.assert_allclose(p, p0, rtol=1e-12)


def test_stream_meta_and_bad_params_eager():
    s = ps.from_array(np.zeros((10, 2), np.float32))
    assert s.decimate(q=3).dtype == np.float32
    assert s.sosfilt(sos=ss.butter(2, 0.1, output="sos")).dtype == np.float64
    with pytest.raises(ValueError, match="decimate"):
        s.decimate(q=0)
    with pytest.raises(TypeError, match="sosfilt"):
        ps.from_array(np.zeros(4, complex)).sosfilt(sos=ss.butter(2, 0.1, output="sos"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_run(path):
    assert len(EXAMPLES) == 3
    env = dict(os.environ, MPLBACKEND="Agg")
    r = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env,
                       timeout=300, cwd=path.parent)
    assert r.returncode == 0, r.stderr
    assert ": False" not in r.stdout, r.stdout  # every identity check printed True
    doc = path.read_text().split('"""')[1]
    assert doc.strip().splitlines()[1].startswith("====")  # sphinx-gallery title
