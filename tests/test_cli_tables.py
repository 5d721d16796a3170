"""``pystream describe`` and ``pystream run`` on tables (issue 18): Parquet files
and directories, Arrow IPC/Feather, CSV with a header; --columns, --time, --key;
output labelled by column name."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from pystream.cli import main

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
feather = pytest.importorskip("pyarrow.feather")
pd = pytest.importorskip("pandas")


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def frame() -> "pd.DataFrame":
    rng = np.random.default_rng(3)
    n = 5000
    df = pd.DataFrame({
        "time_hour": pd.date_range("2013-01-01", periods=n, freq="h", tz="UTC"),
        "carrier": np.array(["UA", "AA", "B6", "DL"])[rng.integers(0, 4, n)],
        "dep_delay": rng.normal(10, 30, n),
        "arr_delay": rng.normal(5, 35, n),
        "distance": rng.integers(100, 3000, n).astype(np.int64),
    })
    df.loc[rng.random(n) < 0.05, "dep_delay"] = np.nan
    return df


@pytest.fixture(scope="module")
def files(frame, tmp_path_factory):
    d = tmp_path_factory.mktemp("tables")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), d / "f.parquet",
                   row_group_size=700)
    parts = d / "parts"
    parts.mkdir()
    half = len(frame) // 2
    pq.write_table(pa.Table.from_pandas(frame.iloc[:half], preserve_index=False), parts / "a.parquet")
    pq.write_table(pa.Table.from_pandas(frame.iloc[half:], preserve_index=False), parts / "b.parquet")
    feather.write_feather(pa.Table.from_pandas(frame, preserve_index=False), d / "f.feather")
    frame.to_csv(d / "f.csv", index=False)
    return d


def test_describe_parquet_by_column_names(capsys, files, frame) -> None:
    status, out, err = run(capsys, "describe", files / "f.parquet",
                           "--columns", "dep_delay,arr_delay", "--nan-policy", "omit")
    assert status == 0, err
    header = next(line for line in out.splitlines() if line.startswith("stat"))
    assert header.split()[1:] == ["dep_delay", "arr_delay"]
    mean_line = next(line for line in out.splitlines() if line.startswith("mean "))
    got = [float(v) for v in mean_line.split()[1:]]
    want = frame[["dep_delay", "arr_delay"]].mean().to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert "[0]" not in out


@pytest.mark.parametrize("name", ["f.parquet", "parts", "f.feather", "f.csv"])
def test_every_table_format_gives_the_same_json(capsys, files, frame, name) -> None:
    status, out, err = run(capsys, "describe", files / name, "--columns", "dep_delay,distance",
                           "--nan-policy", "omit", "--json", "--no-histogram")
    assert status == 0, err
    got = json.loads(out)
    assert got["columns"] == ["dep_delay", "distance"]
    assert got["count"] == [int(frame["dep_delay"].count()), len(frame)]
    np.testing.assert_allclose(got["mean"], frame[["dep_delay", "distance"]].mean().to_numpy(),
                               rtol=1e-12)


def test_one_column_is_labelled_and_gets_a_histogram(capsys, files, frame) -> None:
    status, out, err = run(capsys, "describe", files / "f.parquet", "--columns", "arr_delay")
    assert status == 0, err
    assert next(line for line in out.splitlines() if line.startswith("stat")).split() == \
        ["stat", "arr_delay"]
    assert "histogram" not in out or "one-column" not in out


def test_time_and_key_options(capsys, files) -> None:
    status, out, err = run(capsys, "describe", files / "f.parquet", "--columns", "dep_delay",
                           "--time", "time_hour", "--key", "carrier", "--nan-policy", "omit",
                           "--json", "--no-histogram")
    assert status == 0, err
    status, out, err = run(capsys, "describe", files / "f.parquet", "--columns", "dep_delay",
                           "--key", "no_such_column")
    assert status == 2
    assert "no_such_column" in err and "Traceback" not in err


def test_unknown_column_is_named(capsys, files) -> None:
    status, out, err = run(capsys, "describe", files / "f.parquet", "--columns", "dep_dealy")
    assert status == 2
    assert "dep_dealy" in err


def test_csv_with_a_header_is_read_by_name(capsys, files, frame) -> None:
    status, out, err = run(capsys, "describe", files / "f.csv", "--nan-policy", "omit",
                           "--no-histogram")
    assert status == 0, err
    header = next(line for line in out.splitlines() if line.startswith("stat")).split()
    assert header[1:] == ["dep_delay", "arr_delay", "distance"]
    assert "(csv)" in out


def test_numeric_csv_stays_text(capsys, tmp_path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("1,2\n3,4\n")
    status, out, err = run(capsys, "describe", p, "--no-histogram")
    assert status == 0, err
    assert "(text)" in out


def test_threads_engine_on_parquet_is_the_local_result(capsys, files) -> None:
    args = ("describe", files / "f.parquet", "--columns", "dep_delay,arr_delay",
            "--nan-policy", "omit", "--json", "--no-histogram")
    s1, local, _ = run(capsys, *args)
    s2, threads, err = run(capsys, *args, "--engine", "threads", "--workers", "2")
    assert s1 == s2 == 0, err
    assert json.loads(local) == json.loads(threads)


def test_table_options_are_refused_on_other_inputs(capsys, tmp_path) -> None:
    p = tmp_path / "x.npy"
    np.save(p, np.arange(5.0))
    status, out, err = run(capsys, "describe", p, "--columns", "a")
    assert status == 2 and "name the columns of a table" in err
    status, out, err = run(capsys, "describe", tmp_path / "x.npy", "--time", "t")
    assert status == 2 and "--time" in err


def test_text_options_are_refused_on_parquet(capsys, files) -> None:
    status, out, err = run(capsys, "describe", files / "f.parquet", "--usecols", "0")
    assert status == 2 and "Parquet table" in err


def test_parquet_from_a_pipe_is_refused(files) -> None:
    data = (files / "f.parquet").read_bytes()
    proc = subprocess.run([sys.executable, "-m", "pystream", "describe", "-"], input=data,
                          capture_output=True)
    assert proc.returncode == 2
    assert b"needs a regular file" in proc.stderr and b"Traceback" not in proc.stderr


def test_csv_with_a_header_from_stdin(files, frame) -> None:
    data = (files / "f.csv").read_bytes()
    proc = subprocess.run([sys.executable, "-m", "pystream", "describe", "-", "--columns",
                           "arr_delay", "--json", "--no-histogram"], input=data,
                          capture_output=True)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["columns"] == ["arr_delay"] and got["count"] == len(frame)


def test_without_pyarrow_the_extra_is_named(files) -> None:
    code = ("import sys; sys.modules['pyarrow'] = None\n"
            "from pystream.cli import main\n"
            f"sys.exit(main(['describe', {str(files / 'f.parquet')!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == 2
    assert b"pystream-numeric[arrow]" in proc.stderr and b"Traceback" not in proc.stderr


def test_run_writes_a_parquet_column_to_npy(capsys, files, frame, tmp_path) -> None:
    out = tmp_path / "o.npy"
    status, _, err = run(capsys, "run", files / "f.parquet", "--columns", "arr_delay",
                         "-o", out)
    assert status == 0, err
    np.testing.assert_array_equal(np.load(out), frame["arr_delay"].to_numpy())


def test_run_writes_a_table_with_its_time_and_key(capsys, files, frame, tmp_path) -> None:
    out = tmp_path / "smooth.parquet"
    status, _, err = run(capsys, "run", files / "f.parquet", "--columns", "arr_delay",
                         "--time", "time_hour", "--key", "carrier", "moving_mean:window=3",
                         "-o", out, "-v")
    assert status == 0, err
    got = pq.read_table(out).to_pandas()
    want = frame["arr_delay"].rolling(3).mean().to_numpy()
    # pandas subtracts running sums (drift near 0); pystream sums each window
    np.testing.assert_allclose(got["arr_delay"].to_numpy(), want, rtol=1e-12, atol=1e-12)
    assert got["carrier"].astype(str).tolist() == frame["carrier"].tolist()
    assert (got["time_hour"].to_numpy() == frame["time_hour"].to_numpy()).all()
    status, _, err = run(capsys, "run", files / "f.parquet", "--columns", "arr_delay",
                         "-o", tmp_path / "x.feather")
    assert status == 0, err
    assert feather.read_table(tmp_path / "x.feather").column_names == ["arr_delay"]
    status, _, err = run(capsys, "run", files / "f.parquet", "--format", "parquet", "-o", "-")
    assert status == 2 and "needs a file" in err
