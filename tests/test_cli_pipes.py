"""Pipes, inputs read once and what the command says about them (issue 15).

* the pipe format (:mod:`pystream.pipeformat`): ``pystream run ... | pystream
  describe -`` with no option, through real pipes;
* inputs read once (stdin, ``<(...)``, FIFOs): one pass, the histogram
  counted in it (exact counts; tested against numpy);
* binary input of unknown dtype is refused without echoing it; errors name
  ``<stdin>`` and files properly;
* ``describe --engine threads``; the table's digits.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
import threading

import numpy as np
import pytest

import pystream as ps
from pystream import cli
from pystream.cli import common as cli_common
from pystream.pipeformat import MAGIC, FrameWriter, from_pipe, read_header, to_pipe

PY = [sys.executable, "-m", "pystream"]
PYSTREAM = shlex.join(PY)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYSTREAM_DEBUG", None)
    return env


def pipe(*commands: list[str], stdin: bytes | None = None) -> list[subprocess.CompletedProcess]:
    """Run ``python -m pystream`` commands joined by real pipes; returns each
    one's (returncode, stdout of the last, stderr)."""
    procs = []
    prev = subprocess.PIPE if stdin is not None else subprocess.DEVNULL
    for i, argv in enumerate(commands):
        last = i == len(commands) - 1
        p = subprocess.Popen([*PY, *map(str, argv)], stdin=prev if i == 0 else procs[-1].stdout,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
        if i:
            procs[-1].stdout.close()  # the next process owns the read end
        procs.append(p)
        del last
    if stdin is not None:
        procs[0].stdin.write(stdin)
        procs[0].stdin.close()
    out = procs[-1].stdout.read()
    results = []
    for p in procs:
        err = p.stderr.read()
        p.wait(timeout=300)
        results.append(subprocess.CompletedProcess(p.args, p.returncode, None, err))
    results[-1].stdout = out
    return results


def bash(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], capture_output=True, timeout=300, env=_env())


def one_error(err: bytes, *fragments: str) -> str:
    text = err.decode()
    lines = text.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pystream: error: "), text
    for frag in fragments:
        assert frag in lines[0], (frag, text)
    return lines[0]


@pytest.fixture
def x() -> np.ndarray:
    rng = np.random.default_rng(15)
    a = rng.normal(280.0, 5.0, 30_000)
    a[[7, 20_000]] = np.nan
    return a


@pytest.fixture
def npy(tmp_path, x):
    path = tmp_path / "x.npy"
    np.save(path, x)
    return path


def _json(out: bytes) -> dict:
    return json.loads(out.decode().replace("1e999", "Infinity"))


# -- the pipe format between commands ----------------------------------------------


def test_run_into_describe_needs_no_option(npy, x):
    """pystream run x.npy moving_mean:3 -o - | pystream describe - (issue 15)"""
    first, second = pipe(["run", npy, "moving_mean:3", "-o", "-"],
                         ["describe", "-", "--json", "--nan-policy", "omit"])
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert first.stderr == b"" and second.stderr == b""
    got = _json(second.stdout)
    want = ps.from_array(x).moving_mean(3).describe(nan_policy="omit")
    assert got["format"] == "stream" and got["dtype"] == "float64"
    assert got["records"] == len(x)
    for name in ("count", "nan_count", "mean", "var", "min", "max", "sum"):
        assert got[name] == getattr(want, name), name   # bit for bit
    # the histogram was counted in the same pass
    assert sum(got["histogram"]["counts"]) == want.count


@pytest.mark.parametrize("stages,dtype,shape", [
    (["tumbling:n=4"], "float64", [4]),
    (["astype:dtype='>i2'"], ">i2", []),   # non-native byte order travels in the header
    (["astype:dtype=uint8"], "uint8", []),
])
def test_three_commands_keep_dtype_and_shape(tmp_path, npy, x, stages, dtype, shape):
    out = tmp_path / "out.npy"
    a, b, c = pipe(["run", npy, "skip:n=10", "take:n=1000", "-v", *stages],
                   ["run", "-", "-v"],
                   ["run", "-", "-o", out])
    assert a.returncode == b.returncode == c.returncode == 0, (a.stderr, b.stderr, c.stderr)
    assert b"(stream); pystream commands read it with no option" in a.stderr
    got = np.load(out)
    want = cli_common._apply_stages(ps.from_array(x[10:1010]), cli_common._stage_specs(stages)).to_array()
    assert got.dtype == np.dtype(dtype) and list(got.shape[1:]) == shape
    assert got.tobytes() == want.tobytes()


def test_stream_with_a_repeated_dtype_is_accepted_a_wrong_one_refused(npy, x):
    _, ok = pipe(["run", npy, "take:n=10"], ["run", "-", "--dtype", "float64", "-o", "-",
                                             "--format", "raw"])
    assert ok.returncode == 0 and ok.stdout == x[:10].tobytes()
    _, bad = pipe(["run", npy, "take:n=10"], ["describe", "-", "--dtype", "float32"])
    assert bad.returncode == 2
    one_error(bad.stderr, "--dtype float32 contradicts the stream", "(float64)")
    _, bad = pipe(["run", npy, "take:n=10"], ["describe", "-", "--usecols", "1"])
    one_error(bad.stderr, "--usecols cannot be used here", "pystream stream")


def test_a_writer_that_fails_leaves_a_truncated_stream(tmp_path):
    """The upstream command fails at line 5001: the reader must not summarise the
    5000 records it got as if they were the whole input."""
    path = tmp_path / "bad.csv"
    path.write_text("".join(f"{i}\n" for i in range(5000)) + "oops\n")
    first, second = pipe(["run", path, "cumsum", "--chunk-size", 100], ["describe", "-"])
    assert first.returncode == 2 and b"line 5001" in first.stderr
    assert second.returncode == 2 and second.stdout == b""
    one_error(second.stderr, "<stdin>: the pystream stream ended without its end mark",
              "not the whole stream")


def test_format_raw_still_writes_bare_records_and_is_not_echoed(tmp_path, npy, x):
    first, second = pipe(["run", npy, "--format", "raw"], ["describe", "-"])
    assert second.returncode == 2 and second.stdout == b""
    line = one_error(second.stderr, "<stdin> looks binary (it holds NUL bytes)", "--dtype")
    assert "\\x" not in line and "\x00" not in line and "\\udc" not in line
    # the same bytes in a file without a suffix that says what it is
    raw = tmp_path / "data"
    raw.write_bytes(x.tobytes())
    proc = subprocess.run([*PY, "describe", str(raw)], capture_output=True, env=_env())
    line = one_error(proc.stderr, f"{str(raw)!r} looks binary", "--dtype")
    assert "\\x" not in line
    # and, with --dtype, the raw records are read (the old way still works)
    _, ok = pipe(["run", npy, "--format", "raw"], ["describe", "-", "--dtype", "float64",
                                                     "--json"])
    assert _json(ok.stdout)["records"] == len(x)


def test_saved_stream_file_is_recognised(tmp_path, npy, x):
    """`pystream run ... > saved` then `pystream describe saved`: read by its magic,
    twice (a regular file: the histogram's second pass gives numpy's bins)."""
    saved = tmp_path / "saved.bin"
    with open(saved, "wb") as f:
        assert subprocess.run([*PY, "run", str(npy), "-o", "-"], stdout=f,
                              env=_env()).returncode == 0
    proc = subprocess.run([*PY, "describe", str(saved), "--json", "--nan-policy", "omit",
                           "--bins", "7"], capture_output=True, env=_env())
    got = _json(proc.stdout)
    assert got["format"] == "stream" and got["records"] == len(x)
    want = ps.from_array(x).histogram(bins=7, range=(np.nanmin(x), np.nanmax(x)))
    assert got["histogram"]["counts"] == want.counts.tolist()
    assert from_pipe(saved).to_array().tobytes() == x.tobytes()


# -- inputs read once ----------------------------------------------------------------


def test_process_substitution_seq():
    """bash -c 'pystream describe <(seq 1 10)': the histogram used to be all zeros."""
    proc = bash(f"{PYSTREAM} describe <(seq 1 10)")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert "/dev/fd/" in out and "records     10" in out
    assert "10 values: 10 in bins" in out and "can be read only once" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("  [")]
    assert sum(int(r[2].replace(",", "")) for r in rows) == 10
    proc = bash(f"{PYSTREAM} describe <(seq 1 10) --json --bins 10")
    got = _json(proc.stdout)
    assert got["histogram"]["counts"] == [1] * 10          # bins of width 1: 1, 2, ... 10
    assert got["histogram"]["edges"] == list(range(1, 12))
    assert got["mean"] == 5.5 and got["records"] == 10


def test_process_substitution_of_a_stream_and_of_a_npy(npy, x):
    proc = bash(f"{PYSTREAM} describe <({PYSTREAM} run {shlex.quote(str(npy))}) --json "
                "--nan-policy omit --no-histogram")
    assert proc.returncode == 0, proc.stderr
    got = _json(proc.stdout)
    assert got["format"] == "stream" and got["count"] == len(x) - 2
    proc = bash(f"{PYSTREAM} describe <(cat {shlex.quote(str(npy))}) --json --nan-policy omit")
    got = _json(proc.stdout)
    assert got["format"] == "npy" and got["records"] == len(x), proc.stderr
    assert got["mean"] == ps.from_array(x).describe(nan_policy="omit").mean


def test_fifo_is_read_once(tmp_path, x):
    fifo = tmp_path / "values.npy"
    os.mkfifo(fifo)
    data = io.BytesIO()
    np.save(data, x)

    def writer():
        with open(fifo, "wb") as f:
            f.write(data.getvalue())

    t = threading.Thread(target=writer)
    t.start()
    proc = subprocess.run([*PY, "describe", str(fifo), "--json", "--nan-policy", "omit"],
                          capture_output=True, timeout=300, env=_env())
    t.join()
    assert proc.returncode == 0, proc.stderr
    got = _json(proc.stdout)
    assert got["records"] == len(x) and sum(got["histogram"]["counts"]) == len(x) - 2
    # named by its path, as a text FIFO or a file is (it was "'.../values.npy'", quoted)
    assert got["file"] == str(fifo)


def test_threads_engine_refuses_inputs_read_once(npy):
    proc = bash(f"{PYSTREAM} describe <(cat {shlex.quote(str(npy))}) --engine threads")
    assert proc.returncode == 2
    one_error(proc.stderr, "--engine threads", "is not a regular file")
    _, proc = pipe(["run", npy], ["describe", "-", "--engine", "threads"])
    one_error(proc.stderr, "standard input can only be read in order")


# -- errors name their input -----------------------------------------------------------


def test_errors_name_stdin_and_files(tmp_path):
    proc = subprocess.run([*PY, "describe", "-"], input=b"1\n2\nx\n", capture_output=True,
                          env=_env())
    one_error(proc.stderr, "from_text: <stdin>, line 3")
    path = tmp_path / "bad.csv"
    path.write_text("1\n2\nx\n")
    proc = subprocess.run([*PY, "describe", str(path)], capture_output=True, env=_env())
    line = one_error(proc.stderr, f"from_text: {str(path)!r}, line 3")
    assert "TextIOWrapper" not in line and "''" not in line
    proc = bash(f"{PYSTREAM} describe <(printf '1\\n2\\nx\\n')")
    line = one_error(proc.stderr, "from_text: '/dev/fd/", "line 3")
    proc = subprocess.run([*PY, "describe", "-", "--dtype", "float64"], input=b"\0" * 12,
                          capture_output=True, env=_env())
    one_error(proc.stderr, "from_file: <stdin>: trailing partial record of 4 bytes")


def test_python_file_objects_are_named():
    with pytest.raises(ValueError, match=r"from_text: <unnamed StringIO file object>, line 2"):
        ps.from_text(io.StringIO("1\nx\n")).to_array()
    with pytest.raises(ValueError, match=r"from_file: <unnamed BytesIO file object>: trailing"):
        ps.from_file(io.BytesIO(b"\0" * 9), np.float64).to_array()


# -- describe --engine, digits -----------------------------------------------------------


def test_describe_engine_threads_equals_local(npy):
    local = subprocess.run([*PY, "describe", str(npy), "--json", "--chunk-size", "1000",
                            "--stage", "moving_median:window=9"], capture_output=True, env=_env())
    threads = subprocess.run([*PY, "describe", str(npy), "--json", "--chunk-size", "1000",
                              "--stage", "moving_median:window=9", "--engine", "threads",
                              "--workers", "3"], capture_output=True, env=_env())
    assert local.returncode == threads.returncode == 0, threads.stderr
    assert local.stdout == threads.stdout


def test_describe_workers_needs_threads(npy, capsys):
    assert cli.main(["describe", str(npy), "--workers", "2"]) == 2
    assert "--workers applies to --engine threads" in capsys.readouterr().err


def test_table_digits(tmp_path, capsys):
    path = tmp_path / "v.npy"
    np.save(path, np.array([0.1, 0.2], dtype=np.float32))
    assert cli.main(["describe", str(path), "--no-histogram"]) == 0
    rows = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines()
                if line[:1].isalpha() and len(line.split()) == 2)
    assert rows["count"] == "2" and rows["min"] == "0.1" and rows["max"] == "0.2"
    path = tmp_path / "w.npy"
    np.save(path, np.array([0.1, 0.2, 0.30000000000000004 * 3 - 0.6]))
    assert cli.main(["describe", str(path), "--no-histogram"]) == 0
    rows = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines()
                if line[:1].isalpha() and len(line.split()) == 2)
    assert rows["sum"] == "0.6"                       # 7 digits, not 0.6000000000000001
    assert rows["std"] == f"{np.std([0.1, 0.2, 0.30000000000000004 * 3 - 0.6]):.7g}"
    assert rows["max"] == "0.3"                       # 0.30000000000000027
    path = tmp_path / "d.npy"
    np.save(path, np.array([37.0, 39.4]))
    assert cli.main(["describe", str(path), "--no-histogram", "--stage", "diff"]) == 0
    rows = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines()
                if line[:1].isalpha() and len(line.split()) == 2)
    assert rows["max"] == "2.4" and rows["count"] == "1"


# -- the format itself ------------------------------------------------------------------


def _encoded(a: np.ndarray, chunk: int = 3) -> bytes:
    buf = io.BytesIO()
    to_pipe(ps.from_array(a, chunk_size=chunk), buf)
    return buf.getvalue()


@pytest.mark.parametrize("a", [
    np.arange(10.0), np.arange(24, dtype=">i4").reshape(6, 4), np.zeros(0, np.int8),
    np.array([1 + 2j, 3j]), np.ones((5, 2, 3), np.float32), np.array([True, False]),
])
@pytest.mark.parametrize("chunk_size", [1, 4, None])
def test_round_trip(a, chunk_size):
    data = _encoded(a)
    assert data.startswith(MAGIC)
    s = from_pipe(io.BytesIO(data), chunk_size=chunk_size)
    assert s.dtype == a.dtype and s.record_shape == a.shape[1:]
    sizes = [len(c) for c in s]
    assert sum(sizes) == len(a)
    if chunk_size and len(a):  # frames are gathered into chunks of chunk_size records
        assert sizes[:-1] == [chunk_size] * (len(sizes) - 1)
    got = from_pipe(io.BytesIO(data)).to_array()
    assert got.dtype == a.dtype and got.tobytes() == a.tobytes()


def _header(data: bytes, header: str) -> bytes:
    """`data` with its header replaced by `header`."""
    size = int.from_bytes(data[11:15], "little")
    new = header.encode()
    return data[:11] + len(new).to_bytes(4, "little") + new + data[15 + size:]


@pytest.mark.parametrize("mangle,fragment", [
    (lambda d: d[:-8], "truncated (in its end mark)"),
    (lambda d: d[:-16], "ended without its end mark"),
    (lambda d: d[:-20], "truncated (in a frame"),
    (lambda d: d + b"x", "data follows the end"),
    (lambda d: d[:-8] + (99).to_bytes(8, "little"), "counts 99 records but 10"),
    (lambda d: d[:9] + b"\x02\x00" + d[11:], "format version 2.0"),
    (lambda d: d[:15] + b"[" + d[16:], "malformed pystream stream header"),
    (lambda d: d.replace(b"<f8", b"|O8"), "unsupported dtype '|O8'"),
    (lambda d: _header(d, '{"descr": "<f8", "record_shape": [0]}'), "bad record shape [0]"),
    (lambda d: _header(d, '{"descr": "<f8"}'), "malformed pystream stream header"),
    (lambda d: _header(d, '{"descr": "<M8", "record_shape": []}'), "unsupported dtype"),
    (lambda d: d[:11] + (10**6).to_bytes(4, "little") + d[15:], "header of 1000000 bytes"),
    (lambda d: b"\x93NUMPY" + d[6:], "not a pystream stream"),
])
def test_corrupt_streams_raise(mangle, fragment):
    data = mangle(_encoded(np.arange(10.0)))
    with pytest.raises(ValueError, match=None) as info:
        from_pipe(io.BytesIO(data)).to_array()
    assert fragment in str(info.value)


def test_odd_frame_is_refused():
    buf = io.BytesIO()
    FrameWriter(buf, np.float64, ())
    buf.write((12).to_bytes(8, "little") + b"\0" * 12)
    with pytest.raises(ValueError, match="a frame of 12 bytes is not a whole number"):
        from_pipe(io.BytesIO(buf.getvalue())).to_array()


def test_header_is_json_and_object_dtypes_are_refused():
    data = _encoded(np.ones((2, 3), "<u2"))
    size = int.from_bytes(data[11:15], "little")
    assert json.loads(data[15:15 + size]) == {"descr": "<u2", "record_shape": [3]}
    assert read_header(io.BytesIO(data)) == (np.dtype("<u2"), (3,))
    with pytest.raises(TypeError, match="cannot be written to a pipe"):
        FrameWriter(io.BytesIO(), np.dtype("M8[s]"), ())


def test_from_pipe_path_and_stdin(tmp_path, monkeypatch):
    path = tmp_path / "s"
    path.write_bytes(_encoded(np.arange(5.0)))
    assert from_pipe(path).to_array().tolist() == [0, 1, 2, 3, 4]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(_encoded(np.arange(3.0)))))
    assert from_pipe().to_array().tolist() == [0, 1, 2]
    with pytest.raises(TypeError, match="binary mode"):
        from_pipe(io.StringIO("x"))


def test_npy_version_3_on_stdin():
    """A .npy stream of format 3.0 used to fail with numpy's private
    '_read_array_header' (gone from numpy)."""
    buf = io.BytesIO()
    np.save(buf, np.arange(5.0))
    data = bytearray(buf.getvalue())
    assert data[6:8] == b"\x01\x00"
    size = int.from_bytes(data[8:10], "little")
    header = bytes(data[10:10 + size])
    text = header.rstrip()
    pad = -(12 + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    v3 = b"\x93NUMPY\x03\x00" + len(text).to_bytes(4, "little") + text + data[10 + size:]
    assert np.load(io.BytesIO(v3)).tolist() == [0, 1, 2, 3, 4]
    proc = subprocess.run([*PY, "describe", "-", "--json"], input=v3, capture_output=True,
                          env=_env())
    assert proc.returncode == 0, proc.stderr
    assert _json(proc.stdout)["sum"] == 10.0
