"""Tests of the ``pystream`` command (pystream/cli/).

Most tests call ``main(argv)`` in-process and read what it printed; a few run
``python -m pystream`` as a subprocess to check the real entry point, exit
statuses and that no traceback ever reaches the user.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import pystream as ps
from pystream.cli import app as cli_app
from pystream.cli import describe as cli_describe
from pystream.cli import inputs as cli_inputs
from pystream.cli import progress as cli_progress
from pystream.cli import main

STATS = ("count", "nan_count", "mean", "std", "var", "min", "max", "sum")
QUANTILE_ROWS = ("p1", "p5", "p25", "p50", "p75", "p95", "p99")


# -- helpers -------------------------------------------------------------------


def run(capsys, *argv):
    """Run the CLI in-process; returns (status, stdout, stderr)."""
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def run_json(capsys, *argv):
    status, out, err = run(capsys, *argv, "--json")
    assert status == 0, err
    return json.loads(out)


def expected(a, ddof=0, omit=False):
    """numpy's answer for a (n, *record_shape) array, per value."""
    a = np.asarray(a)
    f = a.astype(np.float64)
    nan = np.isnan(f)
    count = (~nan).sum(axis=0)
    out = {"count": count, "nan_count": nan.sum(axis=0)}
    if omit or not nan.any():
        with np.errstate(all="ignore"), _quiet():
            out["mean"] = np.nanmean(f, axis=0)
            out["var"] = np.nanvar(f, axis=0, ddof=ddof)
            out["min"] = np.nanmin(f, axis=0) if len(f) else np.nan
            out["max"] = np.nanmax(f, axis=0) if len(f) else np.nan
    out["std"] = np.sqrt(out["var"]) if "var" in out else None
    out["sum"] = np.nansum(f, axis=0)
    return out


class _quiet:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


def assert_matches(got, want, names=("count", "nan_count", "mean", "var", "std",
                                     "min", "max", "sum"), rtol=1e-12):
    for name in names:
        if want.get(name) is None:
            continue
        g = np.array(got[name], dtype=np.float64)  # None (null) -> nan
        w = np.asarray(want[name], dtype=np.float64)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-12, equal_nan=True,
                                   err_msg=name)


def assert_one_error_line(err, *fragments):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pystream: error: "), err
    assert "Traceback" not in err
    for frag in fragments:
        assert frag.lower() in lines[0].lower(), (frag, err)


@pytest.fixture
def signal():
    rng = np.random.default_rng(1)
    return np.cumsum(rng.normal(size=5000)) + 100.0


# -- .npy ----------------------------------------------------------------------


def test_npy_json_matches_numpy(tmp_path, capsys, signal):
    path = tmp_path / "x.npy"
    np.save(path, signal)
    got = run_json(capsys, "describe", path)
    assert got["count"] == len(signal) and got["nan_count"] == 0
    assert isinstance(got["count"], int) and isinstance(got["mean"], float)
    assert got["records"] == len(signal)
    assert got["dtype"] == "float64" and got["record_shape"] == []
    assert_matches(got, expected(signal))


def test_npy_table(tmp_path, capsys, signal):
    path = tmp_path / "x.npy"
    np.save(path, signal)
    status, out, err = run(capsys, "describe", path)
    assert status == 0 and err == ""
    lines = {ln.split()[0]: ln.split()[1:] for ln in out.splitlines() if ln.strip()}
    for name in STATS:
        assert name in lines, out
    assert int(lines["count"][0]) == len(signal)
    assert float(lines["mean"][0]) == pytest.approx(signal.mean(), rel=1e-6)  # 7 digits
    assert float(lines["max"][0]) == pytest.approx(signal.max(), rel=1e-10)


@pytest.mark.parametrize("ddof", [0, 1, 5])
def test_ddof(tmp_path, capsys, signal, ddof):
    path = tmp_path / "x.npy"
    np.save(path, signal)
    got = run_json(capsys, "describe", path, "--ddof", ddof)
    assert got["ddof"] == ddof
    assert_matches(got, expected(signal, ddof=ddof), names=("var", "std"))


def test_nan_policies(tmp_path, capsys, signal):
    a = signal.copy()
    a[[10, 2000, 2001]] = np.nan
    path = tmp_path / "nan.npy"
    np.save(path, a)
    got = run_json(capsys, "describe", path)  # propagate
    assert got["nan_count"] == 3 and got["count"] == len(a) - 3
    assert got["mean"] is None and got["var"] is None  # NaN -> null
    got = run_json(capsys, "describe", path, "--nan-policy", "omit")
    assert_matches(got, expected(a, omit=True))
    status, out, err = run(capsys, "describe", path, "--nan-policy", "raise")
    assert status == 2 and out == ""
    assert_one_error_line(err, "nan")


def test_npy_record_stream_columns(tmp_path, capsys):
    a = np.random.default_rng(2).normal([1.0, -2.0, 30.0], 1.0, size=(1000, 3))
    path = tmp_path / "rec.npy"
    np.save(path, a)
    got = run_json(capsys, "describe", path)
    assert got["record_shape"] == [3]
    assert got["count"] == [1000, 1000, 1000]
    assert_matches(got, expected(a))
    status, out, _ = run(capsys, "describe", path)
    assert status == 0
    header = next(ln for ln in out.splitlines() if ln.startswith("stat"))
    assert header.split() == ["stat", "[0]", "[1]", "[2]"]


def test_npy_record_stream_wide_table(tmp_path, capsys):
    a = np.arange(12 * 50, dtype=np.float32).reshape(50, 3, 4)
    path = tmp_path / "rec34.npy"
    np.save(path, a)
    got = run_json(capsys, "describe", path)
    assert got["record_shape"] == [3, 4]
    assert np.array(got["mean"]).shape == (3, 4)
    assert_matches(got, expected(a), rtol=1e-6)
    status, out, _ = run(capsys, "describe", path)
    assert status == 0
    lines = out.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith("value"))
    assert lines[i].split() == ["value", *STATS, *QUANTILE_ROWS]
    table = lines[i + 1:lines.index("", i)]
    assert [ln.split()[0] for ln in table] == [
        f"[{r},{c}]" for r in range(3) for c in range(4)]
    assert "histogram: shown for one-column input" in out


def test_empty_npy(tmp_path, capsys):
    path = tmp_path / "empty.npy"
    np.save(path, np.zeros(0))
    got = run_json(capsys, "describe", path)
    assert got["count"] == 0 and got["mean"] is None and got["min"] is None


def test_inf_is_a_json_number(tmp_path, capsys):
    path = tmp_path / "inf.npy"
    np.save(path, np.array([1.0, np.inf, -np.inf, 2.0]))
    status, out, _ = run(capsys, "describe", path, "--json")
    assert status == 0
    assert "Infinity" not in out and "NaN" not in out
    got = json.loads(out)
    assert got["max"] == math.inf and got["min"] == -math.inf


def test_chunk_size_invariance(tmp_path, capsys, signal):
    path = tmp_path / "x.npy"
    a = signal.copy()
    a[77] = np.nan
    np.save(path, a)
    outs = []
    for cs in (None, 1, 7, 4096):
        extra = ["--chunk-size", cs] if cs else []
        outs.append(run_json(capsys, "describe", path, "--nan-policy", "omit", *extra))
    assert all(o == outs[0] for o in outs[1:])


# -- raw binary ----------------------------------------------------------------


def test_raw_float32_record_shape_offset(tmp_path, capsys):
    a = np.random.default_rng(3).normal(size=(400, 2)).astype(np.float32)
    path = tmp_path / "x.bin"
    path.write_bytes(b"HEADER__" * 2 + a.tobytes())
    got = run_json(capsys, "describe", path, "--dtype", "float32",
                   "--record-shape", "2", "--offset", 16)
    assert got["dtype"] == "float32" and got["record_shape"] == [2]
    assert_matches(got, expected(a), rtol=1e-6)


def test_raw_big_endian_int_exact_sum(tmp_path, capsys):
    a = np.array([2**62, 2**62, 2**62, -5, 7], dtype=">i8")
    path = tmp_path / "big.dat"
    path.write_bytes(a.tobytes())
    got = run_json(capsys, "describe", path, "--dtype", ">i8")
    assert got["count"] == 5
    assert got["sum"] == 3 * 2**62 + 2  # exact, beyond int64 and float64
    assert got["min"] == -5 and got["max"] == 2**62


def test_raw_2d_record_shape(tmp_path, capsys):
    a = np.arange(24 * 10, dtype=np.int16).reshape(10, 2, 12)
    path = tmp_path / "x.raw"
    path.write_bytes(a.tobytes())
    got = run_json(capsys, "describe", path, "--dtype", "int16", "--record-shape", "2,12")
    assert got["record_shape"] == [2, 12]
    assert_matches(got, expected(a))


def test_raw_partial_record_is_an_error(tmp_path, capsys):
    path = tmp_path / "odd.bin"
    path.write_bytes(b"\0" * 13)
    status, out, err = run(capsys, "describe", path, "--dtype", "float64")
    assert status == 2 and out == ""
    assert_one_error_line(err, "record")


# -- text ----------------------------------------------------------------------


def test_csv_with_header_and_usecols(tmp_path, capsys):
    a = np.random.default_rng(4).normal(size=(300, 4))
    path = tmp_path / "x.csv"
    with open(path, "w") as f:
        f.write("a,b,c,d\n")
        np.savetxt(f, a, delimiter=",", fmt="%.17g")
    got = run_json(capsys, "describe", path, "--skiprows", 1, "--usecols", "0,2")
    assert got["record_shape"] == [2]
    assert_matches(got, expected(a[:, [0, 2]]))


def test_single_column_csv_is_a_scalar_stream(tmp_path, capsys):
    a = np.random.default_rng(5).normal(size=1000)
    path = tmp_path / "one.csv"
    np.savetxt(path, a, fmt="%.17g")
    got = run_json(capsys, "describe", path)
    assert got["count"] == 1000
    assert_matches(got, expected(a))


@pytest.mark.parametrize("suffix,delim", [(".tsv", "\t"), (".txt", " "), (".dat", "  ")])
def test_default_delimiters(tmp_path, capsys, suffix, delim):
    a = np.arange(30, dtype=np.float64).reshape(10, 3)
    path = tmp_path / f"x{suffix}"
    np.savetxt(path, a, delimiter=delim, fmt="%g")
    got = run_json(capsys, "describe", path)
    assert_matches(got, expected(a))


def test_explicit_delimiter_escape(tmp_path, capsys):
    a = np.arange(20, dtype=np.float64).reshape(10, 2)
    path = tmp_path / "semi.log"
    np.savetxt(path, a, delimiter=";", fmt="%g")
    got = run_json(capsys, "describe", path, "--delimiter", ";")
    assert_matches(got, expected(a))
    path2 = tmp_path / "tabs.log"
    np.savetxt(path2, a, delimiter="\t", fmt="%g")
    got = run_json(capsys, "describe", path2, "--delimiter", "\\t")
    assert_matches(got, expected(a))


def test_bad_text_is_one_error_line(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("1.0\n2.0\nhello\n4.0\n")
    status, out, err = run(capsys, "describe", path)
    assert status == 2 and out == ""
    assert_one_error_line(err)


# -- stdin ---------------------------------------------------------------------


class _Stdin(io.TextIOWrapper):
    pass


def _fake_stdin(monkeypatch, data: bytes):
    monkeypatch.setattr(sys, "stdin", _Stdin(io.BytesIO(data), encoding="utf-8"))


def test_stdin_text(monkeypatch, capsys):
    a = np.arange(1, 101, dtype=np.float64)
    _fake_stdin(monkeypatch, "\n".join(f"{v:g}" for v in a).encode() + b"\n")
    got = run_json(capsys, "describe", "-")
    assert got["file"] == "<stdin>"
    assert_matches(got, expected(a))


def test_stdin_csv_with_delimiter(monkeypatch, capsys):
    a = np.arange(40, dtype=np.float64).reshape(20, 2)
    _fake_stdin(monkeypatch, "\n".join(f"{r[0]:g},{r[1]:g}" for r in a).encode())
    got = run_json(capsys, "describe", "-", "--delimiter", ",")
    assert_matches(got, expected(a))


def test_stdin_raw(monkeypatch, capsys):
    a = np.random.default_rng(6).normal(size=(1001, 3))
    _fake_stdin(monkeypatch, b"xx" + a.tobytes())
    got = run_json(capsys, "describe", "-", "--dtype", "<f8", "--record-shape", "3",
                   "--offset", 2, "--chunk-size", 100)
    assert got["records"] == 1001
    assert_matches(got, expected(a))


def test_stdin_raw_partial_record(monkeypatch, capsys):
    _fake_stdin(monkeypatch, b"\0" * 20)
    status, out, err = run(capsys, "describe", "-", "--dtype", "float64")
    assert status == 2 and out == ""
    assert_one_error_line(err, "partial record")


def _npy_bytes(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


class _Trickle(io.RawIOBase):
    """A pipe that delivers 2 bytes per read and can neither peek nor seek."""

    def __init__(self, data: bytes):
        super().__init__()
        self._data = data

    def readable(self):
        return True

    def readinto(self, buf):
        n = min(2, len(buf), len(self._data))
        buf[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


def test_stdin_npy_is_recognised(monkeypatch, capsys):
    a = np.random.default_rng(9).normal(size=(777, 3))
    _fake_stdin(monkeypatch, _npy_bytes(a))
    got = run_json(capsys, "describe", "-", "--chunk-size", 100)
    assert got["format"] == "npy" and got["file"] == "<stdin>"
    assert got["records"] == 777 and got["record_shape"] == [3]
    assert_matches(got, expected(a))


@pytest.mark.parametrize("data", [
    np.arange(50, dtype=">i4"),                       # any byte order
    np.arange(60, dtype=np.uint8).reshape(20, 3),
])
def test_stdin_npy_through_a_trickling_pipe(monkeypatch, capsys, data):
    # the format is known only after 6 bytes, which arrive 2 at a time
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(_Trickle(_npy_bytes(data))))
    got = run_json(capsys, "describe", "-")
    assert got["records"] == len(data) and got["dtype"] == str(data.dtype)
    assert_matches(got, expected(data))


def test_stdin_text_through_a_trickling_pipe(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(_Trickle(b"\x93\n1\n2\n3\n")))
    status, out, err = run(capsys, "describe", "-", "--json")
    assert status == 2  # not .npy (only its first byte): read as text, which it is not
    # not UTF-8 but no control character: text in another encoding, whose
    # error names the line and byte offset (binary input: test_cli_pipes)
    assert_one_error_line(err, "<stdin>, line 1: not valid utf-8 at byte offset 0", "encoding")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(_Trickle(b"1\n2\n3\n4\n")))
    assert run_json(capsys, "describe", "-")["sum"] == 10


def test_stdin_npy_refuses_raw_options(monkeypatch, capsys):
    _fake_stdin(monkeypatch, _npy_bytes(np.arange(10.0)))
    status, out, err = run(capsys, "describe", "-", "--dtype", "float64")
    assert status == 2 and out == ""
    assert_one_error_line(err, "--dtype cannot be used", ".npy stream")


@pytest.mark.parametrize("data,fragment", [
    (_npy_bytes(np.arange(100.0))[:-8], "truncated"),
    (_npy_bytes(np.arange(100.0)) + b"\0" * 8, "more data follows"),
    (_npy_bytes(np.asfortranarray(np.ones((4, 3)))), "Fortran order"),
    (_npy_bytes(np.float64(1.0)), "0-d"),
    (b"\x93NUMPY\x01\x00garbage", "not a valid .npy stream"),
])
def test_stdin_bad_npy(monkeypatch, capsys, data, fragment):
    _fake_stdin(monkeypatch, data)
    status, out, err = run(capsys, "describe", "-")
    assert status == 2 and out == ""
    assert_one_error_line(err, fragment)


# -- errors --------------------------------------------------------------------


def test_missing_file(tmp_path, capsys):
    status, out, err = run(capsys, "describe", tmp_path / "nope.npy")
    assert status == 2 and out == ""
    assert_one_error_line(err, "no such file")


def test_directory(tmp_path, capsys):
    status, _, err = run(capsys, "describe", tmp_path)
    assert status == 2
    assert_one_error_line(err, "directory")


@pytest.mark.parametrize("dtype", ["float65", "complex128", "U10", "object", "nonsense"])
def test_bad_dtype(tmp_path, capsys, dtype):
    path = tmp_path / "x.bin"
    path.write_bytes(b"\0" * 64)
    status, out, err = run(capsys, "describe", path, "--dtype", dtype)
    assert status == 2 and out == ""
    assert_one_error_line(err, "dtype")


def test_corrupt_npy(tmp_path, capsys):
    path = tmp_path / "bad.npy"
    path.write_bytes(b"\x93NUMPY garbage")
    status, _, err = run(capsys, "describe", path)
    assert status == 2
    assert_one_error_line(err, ".npy")


@pytest.mark.parametrize("argv,frag", [
    (["--dtype", "float64"], "--dtype"),
    (["--delimiter", ","], "--delimiter"),
    (["--record-shape", "3"], "--record-shape"),
])
def test_options_that_do_not_apply_to_npy(tmp_path, capsys, argv, frag):
    path = tmp_path / "x.npy"
    np.save(path, np.arange(4.0))
    status, _, err = run(capsys, "describe", path, *argv)
    assert status == 2
    assert_one_error_line(err, frag)


def test_text_options_with_raw(tmp_path, capsys):
    path = tmp_path / "x.bin"
    path.write_bytes(np.arange(4.0).tobytes())
    status, _, err = run(capsys, "describe", path, "--dtype", "f8", "--usecols", "0")
    assert status == 2
    assert_one_error_line(err, "--usecols")


@pytest.mark.parametrize("argv,frag", [
    ([], "required"),
    (["describe"], "required"),
    (["frobnicate"], "invalid choice"),
    (["describe", "x.npy", "--ddof", "-1"], "ddof"),
    (["describe", "x.npy", "--chunk-size", "0"], "chunk-size"),
    (["describe", "x.npy", "--nan-policy", "ignore"], "nan-policy"),
    (["describe", "x.npy", "--record-shape", "3,a"], "record-shape"),
    (["describe", "x.npy", "--bogus"], "unrecognized"),
])
def test_usage_errors(capsys, argv, frag):
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert_one_error_line(err, frag)


def test_help_and_version(capsys):
    status, out, _ = run(capsys, "describe", "--help")
    assert status == 0 and "--nan-policy" in out and "--record-shape" in out
    status, out, _ = run(capsys, "--version")
    assert status == 0 and out.startswith("pystream ")


def test_unexpected_exception_is_one_line(tmp_path, capsys, monkeypatch):
    path = tmp_path / "x.npy"
    np.save(path, np.arange(4.0))

    def boom(*a, **k):
        raise KeyError("internal")

    monkeypatch.setattr(cli_describe, "_describe", boom)
    monkeypatch.delenv("PYSTREAM_DEBUG", raising=False)
    status, _, err = run(capsys, "describe", path)
    assert status == 2
    assert_one_error_line(err, "KeyError")


# -- progress bar --------------------------------------------------------------


class _TTY(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("use_tqdm", [True, False])
def test_progress_bar_on_a_terminal(tmp_path, capsys, monkeypatch, signal, use_tqdm):
    if use_tqdm:
        pytest.importorskip("tqdm")
    else:
        monkeypatch.setitem(sys.modules, "tqdm", None)  # import fails
    path = tmp_path / "x.npy"
    np.save(path, signal)
    fake_err = _TTY()
    monkeypatch.setattr(sys, "stderr", fake_err)
    monkeypatch.setattr(cli_progress, "PROGRESS_MIN_BYTES", 0)
    status = main(["describe", str(path), "--json", "--chunk-size", "100"])
    out = capsys.readouterr().out
    assert status == 0
    json.loads(out)  # stdout holds only the result
    assert "\r" in fake_err.getvalue()  # a bar was drawn on stderr
    assert "pystream: error" not in fake_err.getvalue()


def test_bar_counts_all_bytes(tmp_path, monkeypatch, signal):
    path = tmp_path / "x.npy"
    np.save(path, signal)
    args = cli_app.build_parser().parse_args(["describe", str(path), "--chunk-size", "64"])
    inp = cli_inputs.open_input(args)
    monkeypatch.setattr(cli_progress, "PROGRESS_MIN_BYTES", 0)
    monkeypatch.setitem(sys.modules, "tqdm", None)
    bar = cli_progress.make_progress(inp, True, _TTY())
    assert isinstance(bar, cli_progress._BuiltinBar)
    desc, records = cli_describe._describe(inp, args, bar)
    assert records == len(signal)
    assert bar.n == bar.total == signal.nbytes


def test_no_progress_bar(tmp_path, capsys, monkeypatch, signal):
    path = tmp_path / "x.npy"
    np.save(path, signal)
    monkeypatch.setattr(cli_progress, "PROGRESS_MIN_BYTES", 0)
    # not a terminal -> no bar
    status, _, err = run(capsys, "describe", path, "--json")
    assert status == 0 and err == ""
    # a terminal, but --no-progress
    fake_err = _TTY()
    monkeypatch.setattr(sys, "stderr", fake_err)
    assert main(["describe", str(path), "--no-progress"]) == 0
    assert fake_err.getvalue() == ""


def test_small_inputs_get_no_bar(tmp_path, monkeypatch, signal):
    path = tmp_path / "x.npy"
    np.save(path, signal)
    args = cli_app.build_parser().parse_args(["describe", str(path)])
    assert cli_progress.make_progress(cli_inputs.open_input(args), True, _TTY()) is None


# -- subprocess: the real entry point ------------------------------------------


def _python_m(*argv, stdin=None):
    env = dict(os.environ)
    env.pop("PYSTREAM_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "pystream", *map(str, argv)],
                          input=stdin, capture_output=True, timeout=120, env=env)


def test_python_m_pystream(tmp_path, signal):
    path = tmp_path / "x.npy"
    np.save(path, signal)
    proc = _python_m("describe", path, "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert_matches(got, expected(signal))
    assert proc.stderr == b""  # not a terminal: no progress bar

    raw = np.arange(10, dtype="<u2")
    proc = _python_m("describe", "-", "--dtype", "<u2", "--json", stdin=raw.tobytes())
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["sum"] == 45

    proc = _python_m("describe", "-", "--json", stdin=_npy_bytes(signal))  # a real pipe
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["format"] == "npy" and got["records"] == len(signal)
    assert_matches(got, expected(signal))

    proc = _python_m("describe", tmp_path / "missing.csv")
    assert proc.returncode == 2
    assert proc.stdout == b""
    err = proc.stderr.decode()
    assert_one_error_line(err, "no such file")

    bad = tmp_path / "bad.txt"
    bad.write_text("1\n2\nthree\n")
    proc = _python_m("describe", bad)
    assert proc.returncode == 2
    assert_one_error_line(proc.stderr.decode())


def test_text_bar_follows_the_file_position(tmp_path, monkeypatch):
    a = np.random.default_rng(7).normal(size=(3000, 2))
    path = tmp_path / "x.csv"
    np.savetxt(path, a, delimiter=",", fmt="%.17g")
    args = cli_app.build_parser().parse_args(["describe", str(path), "--chunk-size", "100"])
    inp = cli_inputs.open_input(args)
    monkeypatch.setattr(cli_progress, "PROGRESS_MIN_BYTES", 0)
    monkeypatch.setitem(sys.modules, "tqdm", None)
    bar = cli_progress.make_progress(inp, True, _TTY())
    seen = []
    update = bar.update
    monkeypatch.setattr(bar, "update", lambda n: (seen.append(n), update(n)))
    desc, records = cli_describe._describe(inp, args, bar)
    inp.counter.close()
    assert records == 3000
    assert len([n for n in seen if n > 0]) > 1  # moved while parsing
    assert bar.n == bar.total == os.path.getsize(path)


def test_gzip_text(tmp_path, capsys):
    import gzip

    a = np.random.default_rng(8).normal(size=(500, 3))
    path = tmp_path / "x.csv.gz"
    with gzip.open(path, "wt") as f:
        np.savetxt(f, a, delimiter=",", fmt="%.17g")
    got = run_json(capsys, "describe", path)
    assert_matches(got, expected(a))


def test_dtype_with_csv_is_the_parse_dtype(tmp_path, capsys):
    path = tmp_path / "ints.csv"
    path.write_text("1,2\n3,4\n9223372036854775807,0\n")
    got = run_json(capsys, "describe", path, "--dtype", "int64")
    assert got["dtype"] == "int64"
    assert got["sum"] == [2**63 - 1 + 4, 6]  # exact, parsed as integers


def test_output_to_a_closed_pipe(tmp_path):
    path = tmp_path / "r.npy"
    np.save(path, np.zeros((10, 3000)))  # a table longer than a pipe buffer
    proc = subprocess.run(
        f"{sys.executable} -m pystream describe {path} | head -c 10",
        shell=True, capture_output=True, timeout=120)
    assert b"Traceback" not in proc.stderr


def test_no_stdin(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", None)
    status, _, err = run(capsys, "describe", "-")
    assert status == 2
    assert_one_error_line(err, "standard input")


def test_console_script(tmp_path):
    script = os.path.join(os.path.dirname(sys.executable), "pystream")
    if not os.path.exists(script):
        pytest.skip("the pystream console script is not installed next to this Python")
    path = tmp_path / "x.npy"
    np.save(path, np.arange(10.0))
    proc = subprocess.run([script, "describe", str(path), "--json"],
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["sum"] == 45.0


def test_describe_quantiles_and_histogram(tmp_path, capsys):
    x = np.random.default_rng(4).lognormal(size=20_000)
    x[100] = np.nan
    path = tmp_path / "logn.npy"
    np.save(path, x)
    got = run_json(capsys, "describe", path, "--nan-policy", "omit", "--bins", "7",
                   "--quantile-method", "relative")
    for label, q in zip(QUANTILE_ROWS, (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)):
        want = np.nanquantile(x, q, method="lower")
        assert abs(got[label] - want) <= 0.01 * want, label
    h = got["histogram"]
    counts, edges = np.histogram(x[~np.isnan(x)], bins=7)
    assert h["counts"] == counts.tolist() and h["edges"] == edges.tolist()
    assert h["nan_count"] == 1 and h["underflow"] == h["overflow"] == 0
    status, out, _ = run(capsys, "describe", path, "--bins", "7")
    assert status == 0 and "p50" in out and "7 bins" in out
    # nan_policy propagate: the statistics are NaN, the histogram still shows
    # the non-NaN values (its own first pass finds their range).
    assert f"{counts.max():,}" in out
    status, out, _ = run(capsys, "describe", path, "--no-histogram")
    assert status == 0 and "bins" not in out


def test_describe_histogram_of_stdin_in_the_same_pass(capsys, monkeypatch):
    data = np.arange(100, dtype="<f8").tobytes()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    status, out, _ = run(capsys, "describe", "-", "--dtype", "<f8", "--bins", 10)
    assert status == 0
    assert "can be read only once" in out and "bins of width 16" in out and "p50" in out
    # exact counts on edges at multiples of 16: [0, 16) ... [96, 112)
    assert "[0, 16)" in out and "[96, 112]" in out


# -- describe --stage ------------------------------------------------------------


def test_describe_stages(tmp_path, capsys, signal):
    path = tmp_path / "x.npy"
    np.save(path, signal)
    got = run_json(capsys, "describe", path, "--stage", "moving_mean:window=50",
                   "--stage", "resample:10,how=max", "--nan-policy", "omit", "--bins", 5)
    y = ps.from_npy(path).moving_mean(window=50).resample(10, how="max").to_array()
    assert got["stages"] == ["moving_mean:window=50", "resample:10,how=max"]
    assert got["records"] == len(y) == 500
    assert_matches(got, expected(y, omit=True))
    counts, edges = np.histogram(y[~np.isnan(y)], bins=5)  # the second pass has the stages too
    assert got["histogram"]["counts"] == counts.tolist()
    assert got["histogram"]["edges"] == edges.tolist()
    status, out, _ = run(capsys, "describe", path, "--stage", "take:n=10", "--stage",
                         "astype:int32")
    assert status == 0
    assert "stages      take:n=10 astype:int32" in out and "dtype       int32" in out
    assert "records     10\n" in out


def test_describe_stages_on_stdin(monkeypatch, capsys):
    a = np.arange(100, dtype=np.float64)
    _fake_stdin(monkeypatch, "\n".join(f"{v:g}" for v in a).encode())
    got = run_json(capsys, "describe", "-", "--stage", "cumsum", "--stage", "skip:n=90")
    assert got["records"] == 10 and got["sum"] == float(np.cumsum(a)[90:].sum())


@pytest.mark.parametrize("stage,frag", [
    ("moving_mean", "parameter 'window' is required"),
    ("moving_mean:window=0", "window must be >= 1"),
    ("nope", "unknown stage 'nope'"),
])
def test_describe_bad_stage(tmp_path, capsys, stage, frag):
    path = tmp_path / "x.npy"
    np.save(path, np.arange(10.0))
    status, out, err = run(capsys, "describe", path, "--stage", stage)
    assert status == 2 and out == ""
    assert_one_error_line(err, f"stage {stage!r}", frag)


def test_describe_help_mentions_stages(capsys):
    status, out, _ = run(capsys, "describe", "--help")
    assert status == 0 and "--stage STAGE" in out and "pystream run" in out


def test_describe_text_file_with_nan_gets_its_histogram(tmp_path, capsys):
    """A text file holding a NaN, default nan_policy propagate: the table and
    the histogram of its non-NaN values (issue 15 replay: the histogram's
    range pass refused the text file's one-shot stream, and the command
    failed with no table at all)."""
    path = tmp_path / "n.txt"
    path.write_text("1\nnan\n3\n2\n")
    status, out, err = run(capsys, "describe", path, "--bins", "2")
    assert status == 0, err
    assert "nan_count" in out and "2 bins over [1, 3]" in out
    got = run_json(capsys, "describe", path, "--bins", "2")
    assert got["histogram"]["counts"] == [1, 2] and got["histogram"]["nan_count"] == 1
    # the same through a stage that starts with NaNs (the README's example)
    status, out, err = run(capsys, "describe", path, "--stage", "moving_mean:window=2",
                           "--bins", "2")
    assert status == 0, err
    assert "bins over" in out
    # all NaN: the table, no histogram
    path.write_text("nan\nnan\n")
    status, out, err = run(capsys, "describe", path)
    assert status == 0, err
    assert "bins over" not in out


def test_sketch_accuracy_warning_is_one_cli_line_and_in_the_table(tmp_path, capsys):
    """The relative-error sketch's collapse warning (one value far out):
    stderr gets one ``pystream: warning:`` line, not Python's warning
    format with its source line, and the table prints it under the
    quantiles' "within 1%" claim that it qualifies (issue 15 replay)."""
    x = np.append(np.random.default_rng(5).normal(size=5000), -1e100)
    path = tmp_path / "far.npy"
    np.save(path, x)
    status, out, err = run(capsys, "describe", path, "--quantile-method", "relative",
                           "--no-histogram")
    assert status == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pystream: warning: DDSketch.quantile:"), err
    assert "SketchAccuracyWarning" not in err and ".py:" not in err
    assert "\nWARNING: DDSketch.quantile:" in out and "not within alpha=0.01" in out
    status, out, err = run(capsys, "describe", path, "--no-histogram")  # KLL: no warning
    assert status == 0 and err == "" and "WARNING" not in out


def test_describe_refuses_a_dtype_it_cannot_reduce_naming_the_file(tmp_path, capsys):
    """Datetimes (issue 15's timestamps) and complex values: one error line
    naming FILE and how to convert, before any record is read (was "chunk at
    record 0: dtype datetime64[s] is not supported ... (convert with
    .astype(...) first)", with no file, and Python advice)."""
    t = np.datetime64("2013-01-01T00:00:00") + np.arange(1000).astype("timedelta64[s]")
    path = tmp_path / "ts.npy"
    np.save(path, t)
    status, out, err = run(capsys, "describe", path)
    assert status == 2 and out == ""
    assert err.startswith(f"pystream: error: {path} holds datetime64[s] values") and \
        "--stage astype:dtype=int64" in err and err.count("\n") == 1, err
    got = run_json(capsys, "describe", path, "--stage", "astype:dtype=int64")
    assert got["min"] == int(t[0].astype(np.int64)) and got["count"] == 1000
    path = tmp_path / "c.npy"
    np.save(path, np.ones(3, complex))
    status, out, err = run(capsys, "describe", path)
    assert status == 2 and f"{path} holds complex128 values" in err
