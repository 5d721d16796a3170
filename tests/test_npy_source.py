""".npy and raw binary sources read without memory maps (issue 15).

from_npy reads its data with readinto into reused buffers, as from_file does:
bounded memory, a clear error instead of SIGBUS when a file is truncated
under the reader, FIFOs and devices read once in order, its own header
parser for format versions 1.0, 2.0 and 3.0, checked paths.  The tests that
could hang on a regression (FIFOs) or kill the process (SIGBUS) run in a
subprocess with a timeout.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import struct
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import pystream as ps
from pystream import _npy
from pystream.chain import make_plan
from pystream.stream import node_of

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERSIONS = [(1, 0), (2, 0), (3, 0)]


def npy_bytes(a: np.ndarray, version: tuple[int, int] | None = None) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, version=version)
    return buf.getvalue()


def run_python(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter; a hang fails the test instead of hanging it."""
    try:
        return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                              text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the subprocess hung for {timeout} s; its output: {e.stdout!r} {e.stderr!r}")


def header_bytes(text: str, version: tuple[int, int] = (1, 0)) -> bytes:
    raw = text.encode("utf-8" if version == (3, 0) else "latin1")
    size = struct.pack("<H" if version == (1, 0) else "<I", len(raw))
    return b"\x93NUMPY" + bytes(version) + size + raw


# --------------------------------------------------------------------------- format versions


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype,shape", [("<f8", (101,)), (">i4", (53, 3)), ("<f4", (40, 2, 3)),
                                         ([("a", "<i2"), ("b", ">f8")], (17,))])
def test_versions_from_a_file(tmp_path, version, order, dtype, shape) -> None:
    dt = np.dtype(dtype)
    noise = (np.arange(dt.itemsize * int(np.prod(shape))) % 251).astype(np.uint8)
    x = np.asarray(np.frombuffer(noise.tobytes(), dtype=dt).reshape(shape), order=order)
    path = tmp_path / "x.npy"
    path.write_bytes(npy_bytes(x, version))
    s = ps.from_npy(path, chunk_size=7)
    assert s.dtype == x.dtype and s.record_shape == x.shape[1:]
    assert s.to_array().tobytes() == np.load(path).tobytes() == x.tobytes()


@pytest.mark.parametrize("version", VERSIONS)
def test_versions_through_a_pipe(version) -> None:
    """A pipe path (/dev/fd/N) is read once, in order: header, then data."""
    x = np.arange(300, dtype="<i8").reshape(100, 3)
    data = npy_bytes(x, version)
    r, w = os.pipe()
    try:
        os.write(w, data)  # small: the whole file fits in the pipe's buffer
        os.close(w)
        w = -1
        s = ps.from_npy(f"/dev/fd/{r}", chunk_size=8)
        assert s.one_shot and s.dtype == x.dtype and s.record_shape == (3,)
        np.testing.assert_array_equal(s.to_array(), x)
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_utf8_field_names_need_version_3(tmp_path) -> None:
    x = np.zeros(5, dtype=[("温度", "<f8"), ("n", "<i4")])
    x["温度"] = np.arange(5.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "can only be read by NumPy >= 1.17"
        data = npy_bytes(x)  # numpy picks 3.0 for a name that is not latin-1
    assert data[6:8] == b"\x03\x00"
    path = tmp_path / "u.npy"
    path.write_bytes(data)
    assert ps.from_npy(path).to_array().tobytes() == x.tobytes()


@pytest.mark.parametrize("version", VERSIONS)
def test_versions_on_the_cli_stdin(version) -> None:
    """`pystream describe -` on a real pipe: version 3.0 used to fail with
    "module 'numpy.lib.format' has no attribute '_read_array_header'"."""
    x = np.arange(1000.0).reshape(250, 4)
    out = subprocess.run([sys.executable, "-m", "pystream", "describe", "-", "--json"],
                         input=npy_bytes(x, version), capture_output=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr.decode()
    got = json.loads(out.stdout)
    assert got["records"] == 250 and got["record_shape"] == [4]
    np.testing.assert_allclose(got["sum"], x.sum(axis=0))


def test_no_private_numpy_names() -> None:
    """numpy's private names come and go (_read_array_header did): none is used."""
    private = re.compile(r"(?:lib\.format|\bfmt)\._\w|\bnumpy\.core\b|\bnp\.core\b")
    bad = []
    for root in ("pystream", "plugins", "benchmarks", "docs", "tests"):
        for folder, _, files in os.walk(os.path.join(REPO, root)):
            for name in files:
                if name.endswith(".py"):
                    with open(os.path.join(folder, name), encoding="utf-8") as f:
                        text = f.read()
                    bad += [(os.path.join(folder, name), m) for m in private.findall(text)]
    assert not bad


# --------------------------------------------------------------------------- bad headers


@pytest.mark.parametrize("data,error,fragment", [
    (b"", ValueError, "is empty"),
    (b"\x93NUM", ValueError, "inside the magic string"),
    (b"hello world", ValueError, "does not start with the .npy magic"),
    (b"PK\x03\x04rest of a zip", ValueError, ".npz archive"),
    (b"\x80\x04\x95 a pickle", ValueError, "does not start with the .npy magic"),
    (b"\x93NUMPY\x04\x00\x10\x00", ValueError, "unsupported format version 4.0"),
    (b"\x93NUMPY\x01", ValueError, "no format version"),
    (b"\x93NUMPY\x01\x00\x10", ValueError, "no header length"),
    (b"\x93NUMPY\x01\x00\x40\x00{'descr'", ValueError, "ends inside the header"),
    (b"\x93NUMPY\x02\x00\xff\xff\xff\x7f", ValueError, "numpy's np.load refuses"),
    (header_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (3,)"), ValueError,
     "not a Python literal"),
    (header_bytes("__import__('os').system('true')"), ValueError, "not a Python literal"),
    (header_bytes("[1, 2]"), ValueError, "not a dict"),
    (header_bytes("{'descr': '<f8', 'shape': (3,)}"), ValueError, "not a dict with the keys"),
    (header_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}"), ValueError,
     "not a tuple of non-negative ints"),
    (header_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (True,)}"), ValueError,
     "not a tuple of non-negative ints"),
    (header_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (%s)}" % ("1," * 101)),
     ValueError, "has 101 dimensions"),      # was numpy's message, with no file name
    (header_bytes("{'descr': '<f8', 'fortran_order': 0, 'shape': (3,)}"), ValueError,
     "fortran_order 0 is not a bool"),
    (header_bytes("{'descr': 'zz', 'fortran_order': False, 'shape': (3,)}"), ValueError,
     "descr 'zz' is not a dtype"),
    (header_bytes("{'descr': '|O', 'fortran_order': False, 'shape': (3,)}"), TypeError,
     "Python objects"),
    (b"\x93NUMPY\x03\x00\x04\x00\x00\x00\xff\xfe{}", ValueError, "not utf-8 text"),
])
def test_bad_headers_name_the_file(tmp_path, data, error, fragment) -> None:
    path = tmp_path / "bad.npy"
    path.write_bytes(data)
    with pytest.raises(error, match="from_npy: .*bad.npy") as info:
        ps.from_npy(path)
    assert fragment in str(info.value)
    with pytest.raises(error, match="<stdin>"):  # the same parser on a stream
        _npy.read_npy_header(io.BytesIO(data), "<stdin>")


def test_header_of_exactly_the_limit_is_accepted() -> None:
    text = "{'descr': '<f8', 'fortran_order': False, 'shape': (0,)}"
    text += " " * (_npy.MAX_HEADER_BYTES - len(text) - 1) + "\n"
    h = _npy.read_npy_header(io.BytesIO(header_bytes(text, (2, 0))), "x")
    assert h.shape == (0,) and h.data_offset == 12 + _npy.MAX_HEADER_BYTES


def test_object_and_pickle_files(tmp_path) -> None:
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([1, "a"], dtype=object), allow_pickle=True)
    with pytest.raises(TypeError, match="obj.npy.*Python objects"):
        ps.from_npy(obj)


def test_zero_byte_records(tmp_path) -> None:
    path = tmp_path / "z.npy"
    np.save(path, np.zeros((5, 0)))
    s = ps.from_npy(path, chunk_size=2)
    assert s.record_shape == (0,) and [len(c) for c in s] == [2, 2, 1]


# --------------------------------------------------------------------------- paths


def test_directory_link_socket_and_devices(tmp_path) -> None:
    with pytest.raises(IsADirectoryError, match=f"from_npy: {str(tmp_path)!r} is a directory"):
        ps.from_npy(tmp_path)
    with pytest.raises(IsADirectoryError, match="from_file: .* is a directory"):
        ps.from_file(tmp_path, np.float64)
    link = tmp_path / "dangling.npy"
    os.symlink(tmp_path / "gone.npy", link)
    for call in (lambda: ps.from_npy(link), lambda: ps.from_file(link, "f8"),
                 lambda: ps.from_npy([link])):
        with pytest.raises(FileNotFoundError, match="dangling.npy' is a broken symbolic link "
                                                    "\\(to '.*gone.npy'"):
            call()
    loop = tmp_path / "loop.npy"
    os.symlink(loop, loop)
    with pytest.raises(OSError, match="from_npy: cannot examine .*loop.npy.*symbolic links"):
        ps.from_npy(loop)
    sock_path = tmp_path / "s.sock"
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(sock_path))
        with pytest.raises(ValueError, match="s.sock' is a socket"):
            ps.from_npy(sock_path)
        with pytest.raises(ValueError, match="s.sock' is a socket"):
            ps.from_file(sock_path, "f8")
    finally:
        sock.close()
    with pytest.raises(ValueError, match="'/dev/null' is not a valid .npy file: it is empty"):
        ps.from_npy("/dev/null")
    with pytest.raises(ValueError, match="'/dev/zero' is not a valid .npy file: it does not "
                                         "start with the .npy magic"):
        ps.from_npy("/dev/zero")
    assert ps.from_file("/dev/null", "f8").to_array().shape == (0,)
    zeros = ps.from_file("/dev/zero", "f8", chunk_size=10).take(25)  # a device: read in order
    np.testing.assert_array_equal(zeros.to_array(), np.zeros(25))


def test_list_may_only_hold_paths(tmp_path) -> None:
    with pytest.raises(TypeError, match="a list holds paths only"):
        ps.from_npy([io.BytesIO(b"")])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="list of files is empty"):
        ps.from_npy([])


def test_file_object_and_stdin(monkeypatch) -> None:
    x = np.arange(20.0).reshape(10, 2)
    f = io.BytesIO(b"xx" + npy_bytes(x))
    f.read(2)
    s = ps.from_npy(f, chunk_size=3)  # read from the current position
    assert s.one_shot and s.record_shape == (2,)
    np.testing.assert_array_equal(s.to_array(), x)
    with pytest.raises(RuntimeError, match="one-shot"):
        s.to_array()

    class FakeStdin:
        buffer = io.BytesIO(npy_bytes(x, (3, 0)))

    monkeypatch.setattr(sys, "stdin", FakeStdin())
    np.testing.assert_array_equal(ps.from_npy("-").to_array(), x)
    with pytest.raises(TypeError, match="text-mode"):
        ps.from_npy(io.StringIO("x"))


# --------------------------------------------------------------------------- truncation


def test_truncated_file_is_refused_when_opened(tmp_path) -> None:
    path = tmp_path / "t.npy"
    np.save(path, np.arange(1000.0))
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 8 * 300 - 3)
    with pytest.raises(ValueError, match=r"from_npy: .*t.npy' is truncated: its header announces "
                                         r"1,000 records .* \(699 whole records\)"):
        ps.from_npy(path)


def test_truncated_before_a_run_is_an_error_on_every_engine(tmp_path) -> None:
    path = tmp_path / "t.npy"
    np.save(path, np.arange(10_000.0))
    s = ps.from_npy([path, path], chunk_size=100)
    with open(path, "r+b") as f:
        f.truncate(5000)
    for kw in ({}, {"engine": "threads", "partition_size": 1000},
               {"engine": "dask", "partition_size": 1000}):
        with pytest.raises(ValueError, match="t.npy' is truncated"):
            s.sum(**kw)


def test_truncated_while_streamed_is_an_error_not_sigbus(tmp_path) -> None:
    """The memory map died of SIGBUS when the file shrank under it."""
    path = tmp_path / "t.npy"
    n = 1 << 19  # 4 MiB: several reads of the reader (READ_BYTES)
    assert 8 * n > 3 * _npy.READ_BYTES
    np.save(path, np.arange(n, dtype=np.float64))
    out = run_python(f"""
        import os, numpy as np, pystream as ps
        path = {str(path)!r}
        it = iter(ps.from_npy(path, chunk_size=1000))
        got = [next(it), next(it)]
        with open(path, "r+b") as f:
            f.truncate(128 + 8 * 300_000 + 3)     # data ends inside record 300,000
        try:
            for c in it:
                got.append(c)
        except ValueError as e:
            print("ERROR", e)
        print("RECORDS", sum(len(c) for c in got))
        print("EXACT", bool(np.array_equal(np.concatenate(got), np.arange(len(np.concatenate(got))))))
    """)
    assert out.returncode == 0, f"status {out.returncode}: {out.stderr}"
    assert f"ERROR from_npy: {str(path)!r}: the data ends at record 300,000 of the 524,288" in out.stdout
    assert "truncated" in out.stdout
    assert "RECORDS 300000" in out.stdout and "EXACT True" in out.stdout


def test_from_file_range_of_a_shrunk_file_is_an_error(tmp_path) -> None:
    path = tmp_path / "x.bin"
    np.arange(1_000_000.0).tofile(path)  # 8 MB: several reads
    s = ps.from_file(path, np.float64, chunk_size=64)
    read = make_plan(node_of(s)).access.read
    chunks = read(0, 900_000, None)  # a partition, as the engines read it
    assert len(next(chunks)) == 64
    with open(path, "r+b") as f:
        f.truncate(8 * 500_000)
    with pytest.raises(ValueError, match=r"x.bin': the file ends at byte offset 4000000, before "
                                         r"the 400,000 more records"):
        list(chunks)


# --------------------------------------------------------------------------- engines


@pytest.mark.parametrize("order", ["C", "F"])
def test_partitions_are_bit_identical(tmp_path, order) -> None:
    rng = np.random.default_rng(3)
    parts = [np.asarray(rng.normal(size=(n, 2, 3)) * 10.0 ** rng.integers(-5, 5, size=(n, 1, 1)),
                        order=order) for n in (1000, 1, 777, 2049)]
    paths = []
    for i, (p, v) in enumerate(zip(parts, [(1, 0), (2, 0), (3, 0), (1, 0)])):
        paths.append(tmp_path / f"{i}.npy")
        paths[-1].write_bytes(npy_bytes(p, v))
    want = np.concatenate(parts)
    s = ps.from_npy(paths, chunk_size=97)
    np.testing.assert_array_equal(s.to_array(), want)
    local = s.describe(quantiles=())
    for kw in ({"engine": "threads", "workers": 2, "partition_size": 300},
               {"engine": "dask", "partition_size": 500}):
        assert s.describe(quantiles=(), **kw) == local
        assert s.moving_mean(5).to_array(**kw).tobytes() == s.moving_mean(5).to_array().tobytes()


# --------------------------------------------------------------------------- memory


def test_memory_stays_bounded_on_a_large_file(tmp_path) -> None:
    """Peak RSS grows by a few chunks, not by the file: 600 MB streamed with
    from_npy (local and threads engines) and the CLI.  The file is sparse (no
    disk writes); a memory map of it still fills with resident pages."""
    path = tmp_path / "big.npy"
    n = 75_000_000  # 600 MB of float64
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f8", "fortran_order": False, "shape": (n,)})
        f.truncate(f.tell() + 8 * n)
    out = run_python(f"""
        import resource, subprocess, sys
        import pystream as ps

        def status(field):
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1]) // 1024

        base = status("VmRSS")
        s = ps.from_npy({str(path)!r})
        assert s.sum() == 0.0
        print("LOCAL", status("VmHWM") - base)
        assert s.sum(engine="threads", workers=2) == 0.0
        print("THREADS", status("VmHWM") - base)
        # the CLI's interpreter with pystream imported, then the CLI reading the file
        imported = subprocess.run([sys.executable, "-c", "import resource, pystream.cli; "
                                   "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"],
                                  capture_output=True, text=True, check=True)
        cli = subprocess.run([sys.executable, "-m", "pystream", "describe", {str(path)!r},
                              "--no-histogram", "--json"], capture_output=True, text=True)
        assert cli.returncode == 0, cli.stderr
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print("CLI", (peak - int(imported.stdout)) // 1024)
    """, timeout=120)
    assert out.returncode == 0, out.stderr
    got = dict(line.split() for line in out.stdout.splitlines())
    assert int(got["LOCAL"]) < 100, out.stdout
    assert int(got["THREADS"]) < 100, out.stdout
    # what reading the file adds to the CLI process over its imports (the imports
    # alone are ~50 MB, ~210 MB under the sanitizer run's preloaded ASan)
    assert int(got["CLI"]) < 100, out.stdout


# --------------------------------------------------------------------------- FIFOs


FIFO_SCRIPT = """
    import os, sys, threading, numpy as np, pystream as ps
    from pystream.chain import make_plan
    from pystream.stream import node_of

    def writer(path, data, chunk=1 << 16):
        def run():
            with open(path, "wb") as f:
                for i in range(0, len(data), chunk):
                    f.write(data[i:i + chunk])
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def fifo(name):
        p = os.path.join({tmp!r}, name)
        os.mkfifo(p)
        return p
"""


def test_from_npy_on_a_fifo(tmp_path) -> None:
    x = np.arange(300_000, dtype="<f8").reshape(100_000, 3)  # 2.4 MB: many pipe buffers
    (tmp_path / "x.bin").write_bytes(npy_bytes(x, (3, 0)))
    np.save(tmp_path / "regular.npy", x[:10])
    out = run_python(FIFO_SCRIPT.format(tmp=str(tmp_path)) + """
    data = open(os.path.join({tmp!r}, "x.bin"), "rb").read()
    p = fifo("x.npy")
    t = writer(p, data)
    s = ps.from_npy(p, chunk_size=1000)        # opens the FIFO, reads the header
    print("ONE_SHOT", s.one_shot, make_plan(node_of(s)).access is None)
    try:
        s.sum(engine="threads")
    except ValueError as e:
        print("THREADS", "random-access source" in str(e))
    a = s.to_array()
    print("SUM", a.shape, float(a.sum()))
    try:
        s.to_array()
    except RuntimeError as e:
        print("AGAIN", "one-shot" in str(e), "FIFO" in str(e))
    t.join(10)

    p2 = fifo("y.npy")                          # a FIFO after a regular file
    t = writer(p2, data)
    s = ps.from_npy([os.path.join({tmp!r}, "regular.npy"), p2])
    print("LIST", s.to_array().shape)
    t.join(10)

    p3 = fifo("f.npy")                          # Fortran order cannot come through a pipe
    buf = __import__("io").BytesIO()
    np.save(buf, np.asfortranarray(np.ones((4, 3))))
    t = writer(p3, buf.getvalue())
    try:
        ps.from_npy(p3)
    except ValueError as e:
        print("FORTRAN", "Fortran order" in str(e) and "f.npy" in str(e))
    """.format(tmp=str(tmp_path)))
    assert out.returncode == 0, out.stderr
    assert "ONE_SHOT True True" in out.stdout
    assert "THREADS True" in out.stdout
    assert f"SUM (100000, 3) {float(x.sum())}" in out.stdout
    assert "AGAIN True True" in out.stdout  # names FIFOs (issue 15 replay)
    assert "LIST (100010, 3)" in out.stdout
    assert "FORTRAN True" in out.stdout


def test_from_file_on_a_fifo(tmp_path) -> None:
    x = np.arange(200_000, dtype="<i4")
    (tmp_path / "x.bin").write_bytes(b"HEADER!!" + x.tobytes())
    out = run_python(FIFO_SCRIPT.format(tmp=str(tmp_path)) + """
    data = open(os.path.join({tmp!r}, "x.bin"), "rb").read()
    p = fifo("x.raw")
    t = writer(p, data)
    s = ps.from_file(p, "<i4", offset=8, chunk_size=5000)   # offset: read and dropped
    print("ONE_SHOT", s.one_shot, make_plan(node_of(s)).access is None)
    print("SUM", int(s.sum()))
    try:
        s.sum()
    except RuntimeError as e:
        print("AGAIN", "one-shot" in str(e), "FIFO" in str(e))
    t.join(10)
    """.format(tmp=str(tmp_path)))
    assert out.returncode == 0, out.stderr
    assert "ONE_SHOT True True" in out.stdout
    assert f"SUM {int(x.sum())}" in out.stdout
    assert "AGAIN True True" in out.stdout  # names FIFOs (issue 15 replay)
