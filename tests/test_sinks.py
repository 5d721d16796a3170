"""File sinks (issue 15): what the atomic rename must not replace.

A write-protected file is refused unless ``force=True``; an existing file
keeps its mode; symbolic links are written through; FIFOs and devices are
written directly; pointer dtypes are refused.  The permission tests run as
the current user and, when that is root, also as an unprivileged user
(root ignores permission bits, so the check must read them).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import pystream as ps
from pystream import cli
from pystream.sinks import AtomicFile

X = np.arange(10.0)
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _leftovers(directory) -> list[str]:
    return [n for n in os.listdir(directory) if n.endswith(".partial")]


@pytest.mark.parametrize("sink", ["to_npy", "to_file", "to_text"])
def test_a_write_protected_file_is_refused_unless_forced(tmp_path, sink):
    path = tmp_path / "out"
    path.write_bytes(b"precious")
    path.chmod(0o444)
    with pytest.raises(PermissionError, match=r"write-protected.*force=True"):
        getattr(ps.from_array(X), sink)(path)
    assert path.read_bytes() == b"precious"          # was silently replaced (also as root)
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert not _leftovers(tmp_path)
    assert getattr(ps.from_array(X), sink)(path, force=True) == 10
    assert path.read_bytes() != b"precious"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444  # forced: still read-only


def test_the_push_sinks_take_force_too(tmp_path):
    path = tmp_path / "out.npy"
    path.write_bytes(b"precious")
    path.chmod(0o444)
    with pytest.raises(PermissionError, match="write-protected"):
        ps.from_array(X).fork(a=ps.pipeline().to_npy(path))
    assert path.read_bytes() == b"precious"
    ps.from_array(X).fork(a=ps.pipeline().to_npy(path, force=True))
    np.testing.assert_array_equal(np.load(path), X)


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o755, 0o1644])
def test_an_existing_file_keeps_its_mode(tmp_path, mode):
    path = tmp_path / "private.npy"
    path.write_bytes(b"old")
    path.chmod(mode)
    ps.from_array(X).to_npy(path)
    assert stat.S_IMODE(path.stat().st_mode) == mode   # 0600 came back 0644
    np.testing.assert_array_equal(np.load(path), X)


def test_a_new_file_gets_the_umask_default(tmp_path):
    old = os.umask(0o027)
    try:
        ps.from_array(X).to_file(tmp_path / "new.f8")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.f8").stat().st_mode) == 0o640


def test_a_symlink_is_written_through(tmp_path):
    (tmp_path / "data").mkdir()
    real = tmp_path / "data" / "real.npy"
    real.write_bytes(b"old")
    real.chmod(0o600)
    link = tmp_path / "link.npy"
    link.symlink_to(real)
    ps.from_array(X).to_npy(link)
    assert link.is_symlink() and os.readlink(link) == str(real)  # was replaced by a file
    np.testing.assert_array_equal(np.load(real), X)
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert not _leftovers(tmp_path) and not _leftovers(tmp_path / "data")


def test_a_dangling_symlink_creates_its_file(tmp_path):
    link = tmp_path / "link.f8"
    link.symlink_to(tmp_path / "target.f8")
    ps.from_array(X).to_file(link)
    assert link.is_symlink()
    np.testing.assert_array_equal(np.fromfile(tmp_path / "target.f8"), X)


def test_an_error_through_a_symlink_leaves_the_file(tmp_path):
    real = tmp_path / "real.npy"
    np.save(real, np.zeros(3))
    link = tmp_path / "link.npy"
    link.symlink_to(real)

    def boom(c):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        ps.from_array(X).map(boom, dtype=np.float64).to_npy(link)
    np.testing.assert_array_equal(np.load(real), np.zeros(3))
    assert link.is_symlink() and not _leftovers(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_written_directly(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    assert ps.from_array(X).to_file(fifo) == 10
    reader.join(10)
    assert stat.S_ISFIFO(fifo.stat().st_mode)           # became a regular file
    np.testing.assert_array_equal(np.frombuffer(got[0]), X)
    assert not _leftovers(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_npy_to_a_fifo_is_refused_before_opening_it(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="FIFO, which cannot be rewound"):
        ps.from_array(X).to_npy(fifo)                  # returns at once: no reader needed
    assert stat.S_ISFIFO(fifo.stat().st_mode)


@pytest.fixture
def null_device(tmp_path):
    """A character device that discards what is written: as root a private
    clone of /dev/null (so that a regression cannot replace the system's),
    else /dev/null itself (which an unprivileged user cannot replace)."""
    if IS_ROOT and hasattr(os, "mknod"):
        path = tmp_path / "null"
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        return str(path)
    if not os.path.exists("/dev/null"):
        pytest.skip("needs /dev/null")
    return "/dev/null"


@pytest.mark.parametrize("sink", ["to_npy", "to_file", "to_text"])
def test_a_character_device_stays_a_device(null_device, sink):
    # As root, `pystream run x -o /dev/null` replaced /dev/null by a regular file.
    before = os.stat(null_device)
    assert getattr(ps.from_array(X), sink)(null_device) == 10
    after = os.stat(null_device)
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino
    assert after.st_mode == before.st_mode
    assert not _leftovers(os.path.dirname(null_device))


def test_a_descriptor_path_is_written_directly(tmp_path):
    # /dev/fd/N names an open file: write through the descriptor, never rename
    # a temporary file onto /proc (or onto the file behind it).
    if not os.path.isdir("/dev/fd"):
        pytest.skip("needs /dev/fd")
    r, w = os.pipe()
    try:
        got = []
        reader = threading.Thread(target=lambda: got.append(os.read(r, 1 << 16)))
        reader.start()
        ps.from_array(X).to_file(f"/dev/fd/{w}")
        reader.join(10)
    finally:
        os.close(r)
        os.close(w)
    np.testing.assert_array_equal(np.frombuffer(got[0]), X)


@pytest.mark.parametrize("sink", ["to_npy", "to_file"])
def test_a_stream_of_pointers_is_refused(tmp_path, sink):
    s = ps.from_array(X).map(lambda c: c.astype(object))
    assert s.dtype == object
    with pytest.raises(TypeError, match="pointers"):
        getattr(s, sink)(tmp_path / "out")
    assert os.listdir(tmp_path) == []                   # stored PyObject addresses
    strings = ps.from_array(X).map(lambda c: c.astype(np.dtypes.StringDType()))
    with pytest.raises(TypeError, match="pointers"):
        getattr(strings, sink)(tmp_path / "out")


def test_cli_refuses_a_write_protected_output_unless_forced(tmp_path, capsys):
    src = tmp_path / "x.npy"
    np.save(src, X)
    out = tmp_path / "out.npy"
    out.write_bytes(b"precious")
    out.chmod(0o444)
    assert cli.main(["run", str(src), "-o", str(out), "--no-progress"]) != 0
    assert "write-protected" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert cli.main(["run", str(src), "-o", str(out), "--no-progress", "--force"]) == 0
    np.testing.assert_array_equal(np.load(out), X)
    assert stat.S_IMODE(out.stat().st_mode) == 0o444


def test_atomic_file_says_what_kind_of_target_it_writes(tmp_path):
    f = AtomicFile(tmp_path / "a", "t")
    assert f.atomic
    f.abort()
    assert os.listdir(tmp_path) == []

def test_atomic_file_writes_a_device_directly(null_device):
    g = AtomicFile(null_device, "t")
    assert not g.atomic and g.tmp is None
    g.commit()


@pytest.mark.skipif(not IS_ROOT or shutil.which("setpriv") is None,
                    reason="needs root (to run the same checks as an unprivileged user)")
def test_the_checks_hold_for_an_unprivileged_user_too():
    import tempfile
    from pathlib import Path

    work = Path(tempfile.mkdtemp(prefix="pystream-sinks-"))  # pytest's tmp is root-only
    work.chmod(0o777)
    try:
        _run_as_nobody(work)
    finally:
        shutil.rmtree(work)


def _run_as_nobody(work):
    code = textwrap.dedent(f"""
        import os, stat, numpy as np, pystream as ps
        X = np.arange(10.0)
        p = os.path.join({str(work)!r}, "ro.npy")
        open(p, "wb").write(b"precious"); os.chmod(p, 0o444)
        try:
            ps.from_array(X).to_npy(p)
        except PermissionError as e:
            assert "write-protected" in str(e)
        else:
            raise SystemExit("replaced a read-only file")
        assert open(p, "rb").read() == b"precious"
        ps.from_array(X).to_npy(p, force=True)
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o444
        q = os.path.join({str(work)!r}, "private.f8")
        open(q, "wb").write(b"x"); os.chmod(q, 0o600)
        ps.from_array(X).to_file(q)
        assert stat.S_IMODE(os.stat(q).st_mode) == 0o600
        print("ok")
    """)
    out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=str(work))
    if out.returncode and "Permission denied" in out.stderr and "import" in out.stderr:
        pytest.skip("the unprivileged user cannot read this checkout")
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
