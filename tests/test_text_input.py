"""from_text: field counts, quoted fields, pipes and FIFOs, error messages (issue 15)."""

from __future__ import annotations

import csv
import gzip
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from pystream import from_text

REPO = Path(__file__).resolve().parents[1]

RAGGED = ["1,2,3\n", "4,5,6,7\n", "8,9,10\n"]


# --------------------------------------------------------------------------- field counts


@pytest.mark.parametrize("usecols", [2, 0, [0, 2], None])
@pytest.mark.parametrize("block", [1, 2, 100])
def test_ragged_row_is_an_error_with_and_without_usecols(usecols, block: int) -> None:
    with pytest.raises(ValueError, match=r"line 2: 4 fields, expected 3 \(as on line 1"):
        from_text(RAGGED, delimiter=",", usecols=usecols, chunk_size=block).to_array()


@pytest.mark.parametrize("usecols", [0, 1, None])
@pytest.mark.parametrize("block", [1, 3, 100])
def test_short_row_is_an_error(usecols, block: int) -> None:
    lines = ["# h\n", "1 2 3\n", "4 5 6\n", "\n", "7 8\n", "9 10 11\n"]
    with pytest.raises(ValueError, match=r"line 5: 2 fields, expected 3 \(as on line 2, the first data line\)"):
        from_text(lines, usecols=usecols, chunk_size=block).to_array()


def test_ragged_row_in_a_later_block_names_the_file(tmp_path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("".join(f"{i},{i},{i}\n" for i in range(1000)) + "1,2,3,4\n")
    with pytest.raises(ValueError, match=r"r\.csv', line 1001: 4 fields, expected 3"):
        from_text(path, delimiter=",", usecols=1, chunk_size=64).sum()


def test_usecols_out_of_range_and_negative() -> None:
    with pytest.raises(ValueError, match=r"line 1: usecols has column 3 \(0-based\), but the first data "
                                         r"line has 3 fields \(columns 0 to 2\)"):
        from_text(["1,2,3\n"], delimiter=",", usecols=[0, 3]).to_array()
    out = from_text(["1,2,3\n", "4,5,6\n"], delimiter=",", usecols=[-1, 0]).to_array()
    np.testing.assert_array_equal(out, [[3, 1], [6, 4]])


def test_usecols_order_duplicates_and_int_dtype() -> None:
    lines = ["a,1,2\n", "b,3,4\n"]
    out = from_text(lines, delimiter=",", usecols=[2, 1, 2], dtype=np.int16).to_array()
    assert out.dtype == np.int16 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, [[2, 1, 2], [4, 3, 4]])


# --------------------------------------------------------------------------- quotes


def test_quoted_fields_are_tokenized_not_split() -> None:
    lines = [
        'id,name,lat,lon\n',
        '1,"Union County, Troy Shelton",31.8,-85.9\n',
        '2,"say ""hi"", #not a comment",40.1,-70.5   # a comment, "really"\n',
        '3,plain,"12.5",-1\n',
        '4,"",1e3,2\n',
    ]
    s = from_text(lines, delimiter=",", usecols=[2, 3], skiprows=1)
    np.testing.assert_array_equal(s.to_array(), [[31.8, -85.9], [40.1, -70.5], [12.5, -1], [1e3, 2]])
    # The minimal case of the issue: the column after a quoted comma is not shifted.
    lon = from_text(lines, delimiter=",", usecols=3, skiprows=1, chunk_size=1).to_array()
    np.testing.assert_array_equal(lon, [-85.9, -70.5, -1, 2])


def test_quoted_field_in_a_whitespace_separated_file() -> None:
    out = from_text(['1 "a b c" 2\n', '3 "d" 4\n'], usecols=[0, 2]).to_array()
    np.testing.assert_array_equal(out, [[1, 2], [3, 4]])


@pytest.mark.parametrize("block", [1, 2, 100])
@pytest.mark.parametrize(
    "bad",
    ['4,"unterminated,5\n', '4,"line\n', '4,"a ""quoted"" word\n', '"4,5,6\n'],
)
def test_unclosed_quote_is_refused_with_its_line(bad: str, block: int) -> None:
    lines = ["1,x,2\n", "3,y,4\n", bad, "7,z,8\n", "9,w,10\n"]
    with pytest.raises(ValueError, match=r"<list of lines>, line 3: a quoted field does "
                                         r"not close on its line"):
        from_text(lines, delimiter=",", usecols=[0, 2], chunk_size=block).to_array()


def test_quote_like_text_that_closes_is_accepted() -> None:
    # A quote inside an unquoted field is an ordinary character; a closed
    # quoted field may be followed by more text (as in pandas).
    lines = ['1,ab"c,2\n', '3,"x"y,4\n', '5,",",6\n']
    np.testing.assert_array_equal(
        from_text(lines, delimiter=",", usecols=[0, 2]).to_array(), [[1, 2], [3, 4], [5, 6]]
    )


def test_quotechar_none_reads_quotes_as_characters() -> None:
    lines = ['1,"a,b",2\n']
    out = from_text(lines, delimiter=",", usecols=[0, 3], quotechar=None).to_array()
    np.testing.assert_array_equal(out, [[1, 2]])
    with pytest.raises(ValueError, match="line 2: 4 fields, expected 3"):
        from_text(['1,"a",2\n'] + lines, delimiter=",", usecols=0, quotechar=None).to_array()


def test_quotes_with_several_comment_prefixes_are_refused_not_split() -> None:
    lines = ["% h\n", "1;2\n", '3;"4;5"\n']
    with pytest.raises(ValueError, match=r"line 3: found the quote character '\"'.*comments="):
        from_text(lines, delimiter=";", comments=["%", "//"]).to_array()
    ok = from_text(["% h\n", "// n\n", "1;2\n"], delimiter=";", comments=["%", "//"]).to_array()
    np.testing.assert_array_equal(ok, [[1, 2]])


def test_quotechar_and_delimiter_arguments() -> None:
    with pytest.raises(ValueError, match="quotechar and delimiter are the same"):
        from_text(["1\n"], delimiter="'", quotechar="'")
    with pytest.raises(ValueError, match="quotechar must be a single character"):
        from_text(["1\n"], quotechar="''")
    with pytest.raises(TypeError, match="delimiter must be a single character"):
        from_text(["1\n"], delimiter=b",")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown encoding"):
        from_text(["1\n"], encoding="no-such-codec")


# --------------------------------------------------------------------------- pandas as oracle


def _random_frame(rng: np.random.Generator, n: int):
    pd = pytest.importorskip("pandas")
    alphabet = list("ab ,;\"'#xyz\t") + ["é", "日本"]
    words = ["".join(rng.choice(alphabet, size=rng.integers(0, 8))) for _ in range(n)]
    return pd.DataFrame({
        "name": words,
        "x": rng.normal(0, 1e3, n),
        "tag": ["" if i % 7 == 0 else f'q"{i}"' if i % 3 == 0 else f"t,{i}" for i in range(n)],
        "y": rng.integers(-10**9, 10**9, n).astype(np.float64) / 7,
        "note": rng.choice(["ok", "a, b", '"quoted"', "x # y"], size=n),
    })


@pytest.mark.parametrize("seed", range(6))
def test_matches_pandas_read_csv_on_quoted_text_columns(tmp_path, seed: int) -> None:
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    df = _random_frame(rng, int(rng.integers(1, 400)))
    quoting = [csv.QUOTE_MINIMAL, csv.QUOTE_NONNUMERIC, csv.QUOTE_ALL][seed % 3]
    path = tmp_path / "r.csv"
    df.to_csv(path, index=False, quoting=quoting)
    for usecols in ([1, 3], [3], [1]):
        ref = pd.read_csv(path, usecols=usecols, comment=None)
        want = ref.to_numpy(dtype=np.float64)
        got = from_text(path, delimiter=",", skiprows=1, usecols=usecols, comments=None,
                        chunk_size=int(rng.integers(1, 50))).to_array()
        np.testing.assert_array_equal(got.reshape(want.shape), want)


def test_matches_pandas_on_vega_airports() -> None:
    pd = pytest.importorskip("pandas")
    vega = pytest.importorskip("vega_datasets")
    try:
        path = vega.local_data.airports.filepath
    except Exception as e:  # pragma: no cover - a vega_datasets without its local files
        pytest.skip(f"vega_datasets airports not available: {e}")
    header = open(path, encoding="utf-8").readline().rstrip("\n").split(",")
    lat, lon = header.index("latitude"), header.index("longitude")
    ref = pd.read_csv(path, usecols=[lat, lon])[["latitude", "longitude"]]
    got = from_text(path, delimiter=",", skiprows=1, usecols=[lat, lon]).to_array()
    np.testing.assert_array_equal(got, ref.to_numpy())
    assert from_text(path, delimiter=",", skiprows=1, usecols=lon).mean() == pytest.approx(
        ref["longitude"].mean(), rel=1e-12)


# --------------------------------------------------------------------------- pipes and FIFOs

_PIPE_SCRIPT = textwrap.dedent(
    """
    import os, sys, threading
    import numpy as np
    from pystream import from_text

    def writer(fd_or_path, text):
        with open(fd_or_path, "w") as f:
            f.write(text)

    text = "".join(f"{i},{2 * i}\\n" for i in range(1, 2001))
    kind, usecols = sys.argv[1], sys.argv[2]
    usecols = None if usecols == "none" else int(usecols)
    if kind == "pipe":
        r, w = os.pipe()
        t = threading.Thread(target=writer, args=(w, text))
        t.start()
        s = from_text(f"/dev/fd/{r}", delimiter=",", usecols=usecols, chunk_size=300)
    else:
        path = sys.argv[3]
        os.mkfifo(path)
        t = threading.Thread(target=writer, args=(path, text))
        t.start()
        s = from_text(path, delimiter=",", usecols=usecols, chunk_size=300)
    assert s.one_shot, "a pipe path must give a one-shot stream"
    out = s.to_array()
    t.join()
    try:
        s.to_array()
    except RuntimeError as e:
        assert "one-shot" in str(e)
    else:
        raise AssertionError("a second pass over a pipe must raise")
    print(out.shape, out.sum(axis=0).tolist())
    """
)


@pytest.mark.parametrize("usecols", ["none", "1"])
@pytest.mark.parametrize("kind", ["pipe", "fifo"])
def test_pipe_and_fifo_paths_are_read_once(tmp_path, kind: str, usecols: str) -> None:
    # In a child process with a timeout: a regression (a second open of the
    # FIFO) hangs there and fails here instead of hanging the suite.
    r = subprocess.run(
        [sys.executable, "-c", _PIPE_SCRIPT, kind, usecols, str(tmp_path / "fifo")],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
    )
    assert r.returncode == 0, r.stderr
    n = 2000
    if usecols == "none":
        assert r.stdout.strip() == f"({n}, 2) [{n * (n + 1) / 2}, {float(n * (n + 1))}]"
    else:
        assert r.stdout.strip() == f"({n},) {float(n * (n + 1))}"


def test_process_substitution_like_dev_fd_in_the_cli(tmp_path) -> None:
    # /dev/fd/N of an inherited pipe, as bash's <(seq 1 10) gives it.
    code = textwrap.dedent(
        """
        import sys
        from pystream import from_text
        s = from_text(sys.argv[1])
        print(s.record_shape, s.sum())
        """
    )
    r_fd, w_fd = os.pipe()
    os.write(w_fd, b"".join(b"%d\n" % i for i in range(1, 11)))
    os.close(w_fd)
    try:
        r = subprocess.run([sys.executable, "-c", code, f"/dev/fd/{r_fd}"], capture_output=True,
                           text=True, timeout=60, cwd=REPO, pass_fds=(r_fd,), check=False)
    finally:
        os.close(r_fd)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "() 55.0"


def test_regular_files_stay_reiterable(tmp_path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("1\n2\n")
    s = from_text(path)
    assert not s.one_shot
    assert s.sum() == s.sum() == 3


# --------------------------------------------------------------------------- errors


def test_invalid_utf8_names_file_line_and_byte_offset(tmp_path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(b"h\n1,2\n3,caf\xe9\n")
    with pytest.raises(ValueError) as e:
        from_text(path, delimiter=",", usecols=0, skiprows=1, chunk_size=1).to_array()
    msg = str(e.value)
    assert "latin.csv', line 3: not valid utf-8 at byte offset 11" in msg
    assert "encoding=" in msg
    out = from_text(path, delimiter=",", usecols=0, skiprows=1, encoding="latin-1").to_array()
    np.testing.assert_array_equal(out, [1, 3])


def test_invalid_utf8_on_stdin_names_stdin() -> None:
    code = "from pystream import from_text; from_text('-').to_array()"
    r = subprocess.run([sys.executable, "-c", code], input=b"1\n2\n\xff\n", capture_output=True,
                       timeout=60, cwd=REPO, check=False)
    err = r.stderr.decode()
    assert r.returncode != 0
    assert "from_text: <stdin>, line 3: not valid utf-8 at byte offset 4" in err


def test_text_file_object_with_bad_bytes_names_the_file(tmp_path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(b"1\n\xff\n")
    with open(path, encoding="utf-8") as f, pytest.raises(ValueError, match=r"t\.txt', at or after line 1: not valid utf-8"):
        from_text(f).to_array()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "crc"])
def test_corrupted_gzip_names_the_file(tmp_path, damage: str) -> None:
    data = gzip.compress(b"".join(b"%d\n" % i for i in range(5000)))
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = b"not gzip at all\n" * 10
    else:
        data = data[:-8] + bytes(8)  # wrong CRC and size
    path = tmp_path / "d.csv.gz"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=r"from_text: '.*d\.csv\.gz': corrupted or truncated gzip data"):
        from_text(path).to_array()


def test_names_of_file_objects_and_stdin(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    wrapper = io.TextIOWrapper(io.BytesIO(b"1\nx\n"), encoding="utf-8")
    with pytest.raises(ValueError) as e:
        from_text(wrapper).to_array()
    msg = str(e.value)
    assert "<TextIOWrapper>" not in msg and "''" not in msg
    assert msg.startswith("from_text: <unnamed TextIOWrapper file object>, line 2:")
    path = tmp_path / "named.txt"
    path.write_text("1\nx\n")
    with open(path, "rb") as f, pytest.raises(ValueError, match=r"named\.txt', line 2: could not convert"):
        from_text(f).to_array()
    monkeypatch.setattr(sys, "stdin", io.StringIO("1\nx\n"))
    with pytest.raises(ValueError, match=r"^from_text: <stdin>, line 2: could not convert"):
        from_text("-").to_array()
    monkeypatch.setattr(sys, "stdin", io.StringIO("1\nx\n"))
    with pytest.raises(ValueError, match=r"^from_text: <stdin>, line 2"):
        from_text(sys.stdin).to_array()


def test_error_columns_are_0_based_like_usecols() -> None:
    lines = ["1,a,2,3\n", "4,b,x,6\n"]
    with pytest.raises(ValueError, match=r"line 2: could not convert 'x' to float64 in column 2 \(0-based\)"):
        from_text(lines, delimiter=",", usecols=[0, 2]).to_array()
    with pytest.raises(ValueError, match=r"could not convert 'a' to float64 in column 1 \(0-based\)"):
        from_text(lines, delimiter=",").to_array()


def test_comment_character_in_an_unquoted_text_field_is_loud_not_silent() -> None:
    # comments="#" (the default, unlike pandas' comment=None) cuts the line:
    # the row is then short, which is an error, never a shifted column.
    lines = ["1,a,2\n", "3,b#c,4\n"]
    with pytest.raises(ValueError, match=r"line 2: 2 fields, expected 3"):
        from_text(lines, delimiter=",", usecols=[0, 2]).to_array()
    out = from_text(lines, delimiter=",", usecols=[0, 2], comments=None).to_array()
    np.testing.assert_array_equal(out, [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match=r"line 2: 1 field, expected 2"):
        from_text(["1,2\n", "3\n"], delimiter=",").to_array()


# --------------------------------------------------------------------------- through the CLI


def _cli(capsys, *argv):
    from pystream.cli import main

    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_usecols_after_a_quoted_comma_and_errors_name_the_file(tmp_path, capsys) -> None:
    import json

    path = tmp_path / "airports.csv"
    path.write_text('iata,name,lat,lon\nA,"Union County, Troy Shelton",31.5,-86.0\nB,plain,40.0,-70.0\n')
    status, out, err = _cli(capsys, "describe", path, "--skiprows", "1", "--usecols", "3", "--json")
    assert status == 0, err
    assert json.loads(out)["mean"] == -78.0
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"1,2\n3,x\n")
    status, _, err = _cli(capsys, "describe", bad, "--usecols", "1")
    assert status == 2
    assert f"from_text: {str(bad)!r}, line 2: could not convert 'x' to float64 in column 1 (0-based)" in err
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"1\n\xe9\n")
    status, _, err = _cli(capsys, "describe", latin)
    assert status == 2 and f"{str(latin)!r}, line 2: not valid utf-8 at byte offset 2" in err
    gz = tmp_path / "t.csv.gz"
    gz.write_bytes(gzip.compress(b"1\n" * 5000)[:-10])
    status, _, err = _cli(capsys, "describe", gz)
    assert status == 2 and f"{str(gz)!r}: corrupted or truncated gzip data" in err
    assert "TextIOWrapper" not in err


@pytest.mark.parametrize("block", [1, 2, 100])
def test_invalid_bytes_after_multibyte_characters_give_exact_offsets(tmp_path, block: int) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes("é,1\r\n".encode() + b"2,3\n4,\xe9\xff\n")  # line 3, offset 6 + 4 + 2
    with pytest.raises(ValueError, match=r"line 3: not valid utf-8 at byte offset 12 \(byte 2 of the line, "
                                         r"0-based\): can't decode bytes 0xe9 0xff"):
        from_text(path, delimiter=",", usecols=1, chunk_size=block).to_array()
    with open(path, "rb") as f, pytest.raises(ValueError, match=r"mixed\.csv', line 3: not valid utf-8 at byte offset 12"):
        from_text(f, delimiter=",", usecols=1, chunk_size=block).to_array()
    with pytest.raises(ValueError, match=r"<list of lines>, line 3: not valid utf-8 at byte offset 12"):
        from_text(path.read_bytes().splitlines(keepends=True), delimiter=",", usecols=1).to_array()


def test_binary_file_object_is_left_open_and_gzip_file_object() -> None:
    f = io.BytesIO(b"1\n2\n")
    assert from_text(f).sum() == 3
    assert not f.closed
    g = gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(b"1\n2\n" * 100)[:-12]), mode="rb")
    with pytest.raises(ValueError, match="corrupted or truncated gzip data"):
        from_text(g).to_array()


def test_carriage_return_only_line_ends_and_unclosed_quotes() -> None:
    out = from_text(io.BytesIO(b'1,"a,b",2\r3,"c",4\r'), delimiter=",", usecols=[0, 2]).to_array()
    np.testing.assert_array_equal(out, [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="line 1: a quoted field does not close"):
        from_text(io.BytesIO(b'1,"a,b,2\r3,"c",4\r'), delimiter=",", usecols=[0, 2]).to_array()


@pytest.mark.parametrize("seed", range(12))
def test_usecols_on_files_every_row_checked_random(tmp_path, seed: int) -> None:
    # Files take the fast usecols path (field counts checked on the bytes)
    # block by block, and the general path for blocks with blank lines,
    # comments, CRLF or quotes; both must find the same first bad line.
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 300)), int(rng.integers(2, 6))
    a = rng.integers(-99, 99, size=(n, k))
    lines = [",".join(map(str, r)) for r in a]
    bad_at = int(rng.integers(0, n)) if seed % 3 else None
    if bad_at is not None:
        lines[bad_at] += ",7" if seed % 2 else ""
        if not seed % 2:
            lines[bad_at] = lines[bad_at].rsplit(",", 1)[0]
    bad_line = lines[bad_at] if bad_at is not None else None
    extra = seed % 4
    if extra == 1:
        lines.insert(int(rng.integers(0, n)), "")
    elif extra == 2:
        lines.insert(int(rng.integers(0, n)), "# note, with, commas")
    eol = "\r\n" if seed % 5 == 0 else "\n"
    text = eol.join(lines) + (eol if seed % 6 else "")
    path = tmp_path / "r.csv"
    path.write_bytes(text.encode())
    usecols = [int(c) for c in rng.choice(k, size=int(rng.integers(1, k + 1)), replace=False)]
    block = int(rng.integers(1, 40))
    s = from_text(path, delimiter=",", usecols=usecols, chunk_size=block)
    if bad_at is None:
        want = np.loadtxt(path, delimiter=",", usecols=usecols, ndmin=2)
        np.testing.assert_array_equal(s.to_array().reshape(want.shape), want)
    else:
        line_no = next(i for i, ln in enumerate(text.split(eol), 1) if ln == bad_line)
        found = k + 1 if seed % 2 else k - 1
        with pytest.raises(ValueError, match=rf"line {line_no}: {found} fields?, expected {k}"):
            s.to_array()


def test_fast_usecols_path_is_taken_on_plain_files_and_not_fooled(tmp_path, monkeypatch) -> None:
    from pystream import _text

    path = tmp_path / "plain.csv"
    path.write_text("".join(f"{i},{i + 1},{i + 2}\n" for i in range(500)))
    general = _text.TextParser._parse

    def no_general(self, lines):  # the general (structured) path must not run here
        raise AssertionError("general path used on a plain block")

    monkeypatch.setattr(_text.TextParser, "_parse", no_general)
    out = from_text(path, delimiter=",", usecols=[2, 0], chunk_size=64).to_array()
    np.testing.assert_array_equal(out, np.loadtxt(path, delimiter=",", usecols=[2, 0]))
    monkeypatch.setattr(_text.TextParser, "_parse", general)
    # One row one field short, another one field long: the delimiter total is
    # right, the per-line pattern is not.
    path.write_text("1,2,3\n4,5\n6,7,8,9\n")
    with pytest.raises(ValueError, match="line 2: 2 fields, expected 3"):
        from_text(path, delimiter=",", usecols=0).to_array()
