"""``pystream run``: end to end in subprocesses with real pipes, plus a few
in-process checks (progress bar, terminals).

Every output is compared bit for bit with the library's own result for the
same pipeline.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import signal
import subprocess
import sys

import numpy as np
import pytest

import pystream as ps
from pystream import cli
from pystream.cli import app as cli_app
from pystream.cli import common as cli_common
from pystream.cli import progress as cli_progress
from pystream.cli.stage_args import catalogue

PY = [sys.executable, "-m", "pystream"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYSTREAM_DEBUG", None)
    return env


def pystream(*argv, stdin: bytes | None = None, cwd=None) -> subprocess.CompletedProcess:
    """Run ``python -m pystream ARGV`` with stdin/stdout/stderr pipes."""
    return subprocess.run([*PY, *map(str, argv)], input=stdin, capture_output=True,
                          timeout=300, env=_env(), cwd=cwd)


def assert_same(a: np.ndarray, b: np.ndarray) -> None:
    """Bit for bit: dtype, shape and bytes (NaNs included)."""
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def assert_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit status 2, nothing on stdout, one ``pystream: error:`` line."""
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert proc.stdout == b""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pystream: error: "), err
    assert "Traceback" not in err
    for frag in fragments:
        assert frag in lines[0], (frag, err)
    return lines[0]


@pytest.fixture
def x() -> np.ndarray:
    rng = np.random.default_rng(11)
    a = np.cumsum(rng.normal(size=20_000))
    a[[5, 700, 19_000]] = np.nan
    return a


@pytest.fixture
def npy(tmp_path, x):
    path = tmp_path / "in.npy"
    np.save(path, x)
    return path


# -- files ---------------------------------------------------------------------


def test_npy_to_npy_equals_the_library(tmp_path, npy, x):
    out = tmp_path / "out.npy"
    proc = pystream("run", npy, "moving_mean:window=5", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"" and proc.stderr == b""
    assert_same(np.load(out), ps.from_npy(npy).moving_mean(window=5).to_array())


def test_several_stages_in_order(tmp_path, npy):
    out = tmp_path / "out.npy"
    proc = pystream("run", npy, "moving_quantile:window=50,q=0.9", "resample:10,how=max",
                    "astype:dtype=float32", "-o", out, "--chunk-size", 999)
    assert proc.returncode == 0, proc.stderr
    want = (ps.from_npy(npy).moving_quantile(window=50, q=0.9).resample(10, how="max")
            .astype(np.float32).to_array())
    assert_same(np.load(out), want)


def test_raw_input_and_raw_output(tmp_path):
    a = np.random.default_rng(2).normal(size=(3000, 3)).astype(">f4")
    path = tmp_path / "signal.f32"
    path.write_bytes(b"HEADER" + a.tobytes())
    out = tmp_path / "out.bin"
    proc = pystream("run", path, "--dtype", ">f4", "--record-shape", "3", "--offset", 6,
                    "ewm_mean:halflife=20", "select:columns=(0,2)", "-o", out)
    assert proc.returncode == 0, proc.stderr
    want = ps.from_array(a).ewm_mean(halflife=20).select([0, 2]).to_array()
    got = np.fromfile(out, dtype=want.dtype).reshape(want.shape)  # raw: no header
    assert_same(got, want)
    assert out.stat().st_size == want.nbytes


def test_text_input(tmp_path):
    a = np.random.default_rng(3).normal(size=(500, 4))
    path = tmp_path / "table.csv"
    np.savetxt(path, a, delimiter=",", fmt="%.17g", header="a,b,c,d")
    out = tmp_path / "out.npy"
    proc = pystream("run", path, "--skiprows", 1, "--usecols", "1,3", "cumsum",
                    "diff:n=2", "-o", out)
    assert proc.returncode == 0, proc.stderr
    want = ps.from_text(str(path), delimiter=",", skiprows=1, usecols=[1, 3]).cumsum().diff(n=2)
    assert_same(np.load(out), want.to_array())


def test_no_stage_converts(tmp_path):
    a = np.arange(12, dtype=np.int16)
    path = tmp_path / "x.txt"
    np.savetxt(path, a, fmt="%d")
    out = tmp_path / "x.npy"
    proc = pystream("run", path, "--dtype", "int16", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert_same(np.load(out), a)


def test_format_overrides_the_suffix(tmp_path, npy):
    as_npy = tmp_path / "out.bin"
    assert pystream("run", npy, "take:5", "-o", as_npy, "--format", "npy").returncode == 0
    assert_same(np.load(as_npy), np.load(npy)[:5])
    as_raw = tmp_path / "out.npy"
    assert pystream("run", npy, "take:5", "-o", as_raw, "--format", "raw").returncode == 0
    assert as_raw.read_bytes() == np.load(npy)[:5].tobytes()


def test_a_failure_leaves_no_output_file(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("".join(f"{i}\n" for i in range(5000)) + "oops\n")
    out = tmp_path / "out.npy"
    np.save(out, np.arange(3.0))  # an older result must survive
    proc = pystream("run", path, "cumsum", "-o", out, "--chunk-size", 100)
    assert_error(proc, "line 5001")
    assert_same(np.load(out), np.arange(3.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "out.npy"]


# -- pipes ---------------------------------------------------------------------


def test_stdin_to_stdout_pipeline(tmp_path, npy, x):
    """cat in.npy | pystream run - cumsum | pystream run - --dtype float64 take:n=10 -o out.npy"""
    out = tmp_path / "out.npy"
    env = _env()
    with open(npy, "rb") as source:
        first = subprocess.Popen([*PY, "run", "-", "cumsum"], stdin=source,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    second = subprocess.Popen([*PY, "run", "-", "--dtype", "float64", "take:n=10",
                               "-o", str(out)], stdin=first.stdout, stderr=subprocess.PIPE,
                              env=env)
    first.stdout.close()  # the second process owns the read end now
    err2 = second.communicate(timeout=300)[1]
    err1 = first.communicate(timeout=300)[1]
    assert second.returncode == 0, err2
    # take:n=10 stops reading early: the first process may see a closed pipe,
    # which it must take quietly
    assert err1 == b"" and err2 == b""
    assert_same(np.load(out), ps.from_array(x).cumsum().take(10).to_array())


def test_stdout_raw_then_describe(npy, x):
    proc = pystream("run", npy, "moving_max:window=100,min_count=1", "--format", "raw")
    assert proc.returncode == 0, proc.stderr
    want = ps.from_npy(npy).moving_max(window=100, min_count=1).to_array()
    assert proc.stdout == want.tobytes()
    back = pystream("describe", "-", "--dtype", "float64", "--json", stdin=proc.stdout)
    assert back.returncode == 0, back.stderr
    assert b'"records": 20000' in back.stdout


def test_stdin_npy_and_text(x):
    proc = pystream("run", "-", "moving_std:window=30", "-o", "-", "--format", "raw",
                    stdin=_npy(x))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ps.from_array(x).moving_std(window=30).to_array().tobytes()

    text = "".join(f"{v!r}\n" for v in x[:1000].tolist()).encode()
    proc = pystream("run", "-", "cummax", "--format", "raw", stdin=text)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ps.from_array(x[:1000]).cummax().to_array().tobytes()


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


@pytest.mark.parametrize("stages,dtype,shape", [
    (["tumbling:n=4"], "int16", "(4, 3)"),     # stages output native byte order
    ([], ">i2", "(3,)"),                        # a copy keeps the input's
])
def test_verbose_tells_how_to_read_the_output_back(stages, dtype, shape):
    a = np.arange(600, dtype=">i2").reshape(200, 3)
    proc = pystream("run", "-", *stages, "-v", "--format", "raw", stdin=_npy(a))
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr.decode()
    records = 50 if stages else 200
    assert err.startswith(f"pystream: wrote {records} records of {dtype}, record shape "
                          f"{shape} to standard output (raw)"), err
    back = shlex.split(re.search(r"read it back with (.*)$", err.strip()).group(1))
    assert back == ["--dtype", dtype, "--record-shape", shape.strip("(,)").replace(" ", "")]
    again = pystream("run", "-", *back, "-o", "-", "--format", "raw", stdin=proc.stdout)
    assert again.returncode == 0 and again.stdout == proc.stdout
    want = ps.from_array(a).tumbling(n=4) if stages else ps.from_array(a)
    assert proc.stdout == want.to_array().tobytes()


@pytest.mark.parametrize("fmt", ["stream", "raw"])
def test_broken_pipe_is_quiet(tmp_path, fmt):
    """A closed pipe (| head -c 100) ends pystream as it ends cat: no message,
    killed by SIGPIPE (status 141 in the shell)."""
    path = tmp_path / "big.npy"
    np.save(path, np.random.default_rng(5).normal(size=2_000_000))  # 16 MB: > a pipe buffer
    script = (f"{shlex.join(PY)} run {shlex.quote(str(path))} cumsum --format {fmt} "
              "| head -c 100; echo \" ${PIPESTATUS[*]}\" >&2")
    proc = subprocess.run(["bash", "-c", script], capture_output=True, timeout=300, env=_env())
    assert len(proc.stdout) == 100
    assert proc.stderr == b" 141 0\n"  # no traceback, no message; SIGPIPE's status
    proc = subprocess.Popen([*PY, "run", str(path), "cumsum", "--format", fmt],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    assert len(proc.stdout.read(100)) == 100
    proc.stdout.close()
    err = proc.communicate(timeout=300)[1]
    assert proc.returncode == -signal.SIGPIPE and err == b""


def test_broken_pipe_of_describe_and_in_process(tmp_path, monkeypatch, capsys, npy):
    script = f"{shlex.join(PY)} describe {shlex.quote(str(npy))} | head -c 10; " \
             "echo \" ${PIPESTATUS[*]}\" >&2"
    # describe writes its table at once: a pipe buffer holds it, so head's early
    # exit may or may not be seen; either way nothing is printed on stderr
    proc = subprocess.run(["bash", "-c", script], capture_output=True, timeout=300, env=_env())
    assert len(proc.stdout) == 10 and proc.stderr in (b" 0 0\n", b" 141 0\n"), proc.stderr

    class Closed(io.TextIOWrapper):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    closed = Closed(io.BytesIO())
    monkeypatch.setattr(sys, "stdout", closed)
    # in-process (a list of arguments): status 141 returned, the caller lives on
    monkeypatch.setattr(os, "dup2", lambda *a: None)  # keep pytest's own stdout
    assert cli.main(["describe", str(npy)]) == cli_app.SIGPIPE_STATUS == 141
    assert capsys.readouterr().err == ""


# -- engines -------------------------------------------------------------------


@pytest.mark.parametrize("stages", [
    ["moving_median:window=25", "resample:10,how=max"],       # windows: parallel
    ["moving_mean:window=7", "cumsum", "take:n=15000"],       # a scan: in order after
])
def test_threads_engine_equals_local(tmp_path, npy, stages):
    # raw: the pipe format's frames follow the chunks, which the engines cut differently
    local = pystream("run", npy, *stages, "--chunk-size", 1000, "--format", "raw")
    threads = pystream("run", npy, *stages, "--chunk-size", 1000, "--engine", "threads",
                       "--workers", 3, "--format", "raw")
    assert local.returncode == 0 and threads.returncode == 0, threads.stderr
    assert local.stdout == threads.stdout and len(local.stdout) > 0
    out = tmp_path / "t.npy"
    assert pystream("run", npy, *stages, "--engine", "threads", "-o", out).returncode == 0
    assert np.load(out).tobytes() == local.stdout


def test_threads_engine_needs_a_file(tmp_path, x):
    proc = pystream("run", "-", "--engine", "threads", "cumsum", stdin=_npy(x))
    assert_error(proc, "--engine threads", "standard input can only be read in order")
    path = tmp_path / "x.csv"
    path.write_text("1\n2\n")
    assert_error(pystream("run", path, "--engine", "threads"), "is read as text")
    assert_error(pystream("run", path, "--workers", 2, "-o", "-"),
                 "--workers applies to --engine threads")


# -- plugins and --help ----------------------------------------------------------


def test_plugin_stage(tmp_path, npy):
    pytest.importorskip("pystream_signal", reason="the pystream-signal plugin is not installed")
    out = tmp_path / "dec.npy"
    proc = pystream("run", npy, "moving_mean:window=3,min_count=1", "decimate:q=4", "-o", out)
    assert proc.returncode == 0, proc.stderr
    want = ps.from_npy(npy).moving_mean(window=3, min_count=1).decimate(q=4).to_array()
    assert_same(np.load(out), want)
    assert_error(pystream("run", npy, "decimate:q=4,ftype=fir2"), "stage 'decimate:q=4,ftype=fir2'")


def test_help_lists_every_stage():
    proc = pystream("run", "--help")
    assert proc.returncode == 0 and proc.stderr == b""
    text = proc.stdout.decode()
    for stage in catalogue().values():
        head = f"    {stage.name}: {stage.parameters_text()}"
        assert (head if len(head) <= 79 else f"    {stage.name}: ") in text, stage.name
        assert stage.summary.split()[0] in text
    assert "    moving_quantile: window, q, min_count=None, nan_policy='omit'" in text
    assert "    take: n" in text and "    astype: dtype, casting='unsafe'" in text
    assert "Moving-window mean (bottleneck's move_mean), drift-free." in text


def test_help_lists_plugin_stages_with_parameters():
    pytest.importorskip("pystream_signal", reason="the pystream-signal plugin is not installed")
    text = pystream("run", "--help").stdout.decode()
    assert "signal (plugin pystream-signal)" in text
    assert "    decimate: q, n=None, ftype='iir'" in text
    assert "    sosfilt: sos, zi=None" in text


# -- errors --------------------------------------------------------------------


@pytest.mark.parametrize("stage,fragments", [
    ("movng_mean:window=5", ["unknown stage 'movng_mean'", "did you mean 'moving_mean'",
                             "moving_mean, moving_var", "take, skip"]),
    ("moving_mean:windw=5", ["no parameter 'windw'", "did you mean 'window'",
                             "window, min_count=None, nan_policy='omit'"]),
    ("moving_mean:window=x", ["unknown unit 'x' in duration 'x'"]),
    ("moving_mean:window=0", ["window must be >= 1"]),
    ("moving_mean", ["parameter 'window' is required"]),
    ("resample:10,how=mode", ["stage 'resample:10,how=mode'", "mode"]),
])
def test_stage_errors(tmp_path, npy, stage, fragments):
    out = tmp_path / "out.npy"
    proc = pystream("run", npy, stage, "-o", out)
    line = assert_error(proc, f"stage {stage!r}", *fragments)
    assert len(line) < 800
    assert not out.exists()


def test_stage_errors_come_before_reading_stdin(monkeypatch, capsys, x):
    # the stages are checked first: a bad one leaves standard input unread
    data = io.BytesIO(_npy(x))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(data))
    assert cli.main(["run", "-", "cumsum", "bogus"]) == 2
    assert "unknown stage 'bogus'" in capsys.readouterr().err
    assert data.tell() == 0


@pytest.mark.parametrize("argv,fragment", [
    (["--format", "npy"], "--format npy cannot be written to standard output"),
    (["-o", "-", "--format", "npy"], "pipe cannot be rewound"),
    (["-o", "/nonexistent-dir/x.npy"], "no such directory"),
    (["--dtype", "float64"], "--dtype cannot be used here"),
    (["--engine", "dask"], "invalid choice"),
])
def test_usage_errors(npy, argv, fragment):
    assert_error(pystream("run", npy, "cumsum", *argv), fragment)


def test_missing_input():
    assert_error(pystream("run", "nope.npy", "cumsum"), "no such file: 'nope.npy'")
    line = assert_error(pystream("run"), "the following arguments are required: INPUT")
    assert "STAGE" not in line  # stages are optional (none: a conversion)


# -- in process: progress and terminals ------------------------------------------


class _TTY(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def big_raw(tmp_path):
    """A sparse raw file larger than the progress bar's threshold."""
    path = tmp_path / "zeros.f8"
    with open(path, "wb") as f:
        f.truncate(cli_progress.PROGRESS_MIN_BYTES + 8 * 1024)
    return path


def test_progress_only_on_a_terminal(tmp_path, big_raw):
    out = tmp_path / "o.npy"
    argv = ["run", big_raw, "--dtype", "float64", "take:n=10", "-o", out]
    proc = pystream(*argv)              # stderr is a pipe: no bar
    assert proc.returncode == 0 and proc.stderr == b""


@pytest.mark.parametrize("engine", [[], ["--engine", "threads", "--workers", "2"]])
def test_progress_bar_on_a_terminal(tmp_path, monkeypatch, big_raw, engine):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # the built-in bar
    monkeypatch.setattr(sys, "stderr", _TTY())
    out = tmp_path / "o.f8"
    argv = ["run", str(big_raw), "--dtype", "float64", "moving_sum:window=3,min_count=1",
            "-o", str(out), *engine]
    assert cli.main(argv) == 0
    drawn = sys.stderr.getvalue()
    assert "\r" in drawn and "100%" in drawn and "pystream: error" not in drawn
    assert out.stat().st_size == big_raw.stat().st_size
    # --no-progress: nothing
    monkeypatch.setattr(sys, "stderr", _TTY())
    assert cli.main([*argv, "--no-progress"]) == 0
    assert sys.stderr.getvalue() == ""


class _BinaryTTY(io.TextIOWrapper):
    def isatty(self):
        return True


def test_binary_is_not_written_to_a_terminal(monkeypatch, capsys, npy):
    monkeypatch.setattr(sys, "stdout", _TTY())
    assert cli.main(["run", str(npy), "cumsum"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pystream: error: refusing to write binary records to a terminal")
    # -o - forces it
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", _BinaryTTY(raw))
    assert cli.main(["run", str(npy), "take:n=3", "-o", "-", "--format", "raw"]) == 0
    assert raw.getvalue() == np.load(npy)[:3].tobytes()


# -- the documented commands ----------------------------------------------------

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCUMENTED = ("README.md", "docs/cli.rst", "docs/getting_started.rst")


def _documented_commands() -> list[tuple[str, list[str], str | None]]:
    """Every ``$ pystream ...`` command line of the docs (each side of a pipe),
    with the error line printed below it, if the docs show one."""
    found = []
    for name in DOCUMENTED:
        with open(os.path.join(ROOT, name), encoding="utf-8") as f:
            lines = [line.strip() for line in f]
        for i, line in enumerate(lines):
            if line.startswith("$ "):
                after = lines[i + 1] if i + 1 < len(lines) else ""
                error = after if after.startswith("pystream: error: ") else None
                for part in line[2:].split("|"):
                    argv = shlex.split(part, comments=True)
                    if argv and argv[0] == "pystream":
                        found.append((name, argv[1:], error))
    return found


def test_the_docs_show_run_commands():
    commands = _documented_commands()
    assert sum(argv[0] == "run" for _, argv, _ in commands) >= 8
    assert sum(error is not None for _, _, error in commands) >= 3
    assert {"README.md", "docs/cli.rst", "docs/getting_started.rst"} == {n for n, _, _ in commands}


@pytest.mark.parametrize("where,argv,error", _documented_commands(),
                         ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_documented_command(tmp_path, monkeypatch, capsys, where, argv, error):
    """A command parses (stages included); one shown with an error prints exactly
    that error (run where none of the documented files exist)."""
    if error is not None:
        monkeypatch.chdir(tmp_path)
        assert cli.main(argv) == 2
        assert capsys.readouterr().err.strip() == error
        return
    args = cli_app.build_parser().parse_args(argv)
    texts = getattr(args, "stages", None) or getattr(args, "stage", None) or []
    specs = cli_common._stage_specs(texts)
    assert [s.text for s in specs] == texts


def _documented_pipelines() -> list[tuple[str, str]]:
    """Every ``$ ...`` line of the docs that runs pystream and shows no error
    below it, as written (pipes and ``cat`` included)."""
    found = []
    for name in DOCUMENTED:
        with open(os.path.join(ROOT, name), encoding="utf-8") as f:
            lines = [line.strip() for line in f]
        for i, line in enumerate(lines):
            after = lines[i + 1] if i + 1 < len(lines) else ""
            if (line.startswith("$ ") and "pystream " in line
                    and not after.startswith("pystream: error: ")):
                found.append((name, line[2:]))
    return found


@pytest.mark.parametrize("where,line", _documented_pipelines(), ids=lambda v: v)
def test_documented_command_line_runs(tmp_path, where, line):
    """Each documented command line runs as written, with status 0, on sample
    files named as in the docs (``log.csv`` with a header line, as the docs'
    ``--skiprows 1`` says; issue 15 replay: a line without it, and a
    describe of a text column through a stage starting with NaNs, failed)."""
    rng = np.random.default_rng(15)
    for name in ("signal.npy", "sensor.npy", "big.npy"):
        np.save(tmp_path / name, rng.normal(size=3000))
    (tmp_path / "data").mkdir()
    np.save(tmp_path / "data" / "sample.npy", rng.normal(size=3000))
    values = rng.normal(20, 2, 500)
    (tmp_path / "log.csv").write_text(
        "t,value\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values)))
    pystream = f"{shlex.quote(sys.executable)} -m pystream"
    command = re.sub(r"(^|\| )pystream ", lambda m: f"{m.group(1)}{pystream} ", line)
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (where, line, done.stderr)
    assert "error" not in done.stderr, (where, line, done.stderr)
