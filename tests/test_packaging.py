"""`python -m build` makes an sdist and a wheel that install and work.

Slow (builds twice and installs into a fresh venv, from PyPI), so it runs
once in `make test`; PYSTREAM_SKIP_PACKAGING=1 skips it (the sanitizer run).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tarfile
import venv
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    os.environ.get("PYSTREAM_SKIP_PACKAGING") == "1",
    reason="PYSTREAM_SKIP_PACKAGING=1 (covered by the plain `make test` run)",
)

SMOKE = """
import numpy as np, pystream as ps
x = np.arange(10_000, dtype=np.float64)
d = ps.Moments().update(x).result(ddof=1)
assert d.count == 10_000 and d.mean == x.mean() and d.max == 9999.0, d
assert abs(d.var - x.var(ddof=1)) <= 1e-9 * x.var(ddof=1), d
assert ps.from_array(x, chunk_size=777).sum() == x.sum()
print("smoke ok", ps.__file__)
"""


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir",
                    str(out), str(ROOT)], check=True, capture_output=True, text=True)
    return out


def test_sdist_has_sources_and_builder(dist: pathlib.Path) -> None:
    (sdist,) = dist.glob("pystream_numeric-*.tar.gz")
    names = tarfile.open(sdist).getnames()
    for needed in ("csrc/pystream.h", "csrc/moments.c", "csrc/build_ffi.py", "setup.py"):
        assert any(n.endswith(needed) for n in names), needed


def test_wheel_ships_extension_not_builder(dist: pathlib.Path) -> None:
    (wheel,) = dist.glob("pystream_numeric-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("pystream/_pystream_c") and n.endswith(".so") for n in names)
    assert not any("build_ffi" in n for n in names), names
    assert not any(n.endswith(".c") for n in names), names


def test_wheel_installs_and_runs(dist: pathlib.Path, tmp_path: pathlib.Path) -> None:
    (wheel,) = dist.glob("pystream_numeric-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", str(wheel)], check=True,
                   capture_output=True, text=True)
    run = subprocess.run([str(py), "-c", SMOKE], cwd=tmp_path, check=True,
                         capture_output=True, text=True)
    assert "smoke ok" in run.stdout
    assert str(env_dir) in run.stdout  # the installed copy, not the source tree


def test_wheel_metadata_names_the_distribution_and_licence(dist: pathlib.Path) -> None:
    """Distribution ``pystream-numeric`` (import name ``pystream``), BSD-3-Clause with its text."""
    (wheel,) = dist.glob("pystream_numeric-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        text = z.read(meta).decode()
        (licence,) = [n for n in names if n.endswith("/LICENSE") and ".dist-info/" in n]
        assert "BSD 3-Clause License" in z.read(licence).decode()
    assert "\nName: pystream-numeric\n" in text
    assert "\nLicense-Expression: BSD-3-Clause\n" in text
    assert any(n.startswith("pystream/__init__.py") for n in names)
