"""from_log against a per-line Python reference."""

from __future__ import annotations

import gzip
import io
import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import pystream_text as pt
from _gen import access_log, reference, same

FIELDS = {"common": ["status", "bytes"], "combined": ["status", "bytes"],
          "combined_latency": ["status", "bytes", "latency"]}
DASH = {"bytes": 0.0, "latency": math.nan}


def preset_reference(lines, fmt, fields=None):
    fields = fields or FIELDS[fmt]
    return reference(lines, pt.FORMATS[fmt].pattern, fields, {f: DASH[f] for f in fields if f in DASH})


LINES = access_log(600, seed=1, bad=0.15)


@pytest.mark.parametrize("fmt", sorted(pt.FORMATS))
@pytest.mark.parametrize("chunk_lines", [1, 2, 3, 7, 64, 599, 600, 601, 65536])
def test_presets_match_reference(fmt, chunk_lines):
    want, bad, blank = preset_reference(LINES, fmt)
    rep = pt.ParseReport(max_examples=10_000)
    s = pt.from_log(LINES, format=fmt, chunk_lines=chunk_lines, report=rep)
    assert s.record_shape == (len(FIELDS[fmt]),)
    chunks = list(s)
    assert all(1 <= len(c) <= chunk_lines for c in chunks)
    got = np.concatenate(chunks) if chunks else np.zeros((0, len(FIELDS[fmt])))
    assert same(got, want)
    assert rep.bad_lines == bad and rep.bad == len(bad)
    assert rep.blank == blank and rep.lines == len(LINES) and rep.records == len(want)
    assert rep.complete and rep.lines == rep.blank + rep.records + rep.bad


def test_reference_sanity():
    want, bad, blank = preset_reference(LINES, "combined_latency")
    assert len(want) > 400 and 10 < len(bad) < 150 and blank > 0
    assert any(r[1] == 0.0 for r in want) and any(math.isnan(r[2]) for r in want)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(0, 300), bad=st.floats(0, 1),
       chunk_lines=st.integers(1, 50), fmt=st.sampled_from(sorted(pt.FORMATS)))
def test_random_logs_and_chunkings(seed, n, bad, chunk_lines, fmt):
    lines = access_log(n, seed=seed, bad=bad)
    want, badl, _ = preset_reference(lines, fmt)
    rep = pt.ParseReport(max_examples=10_000)
    got = pt.from_log(lines, format=fmt, chunk_lines=chunk_lines, report=rep).to_array()
    assert same(got, want) and rep.bad_lines == badl


def test_fields_subset_and_order():
    want, _, _ = preset_reference(LINES, "combined_latency", ["latency", "status"])
    got = pt.from_log(LINES, format="combined_latency", fields=["latency", "status"],
                      report=pt.ParseReport()).to_array()
    assert same(got, want)
    one = pt.from_log(LINES, format="combined", fields="status", report=pt.ParseReport())
    assert one.record_shape == (1,)


def test_custom_pattern_search_semantics_and_float():
    lines = ["a x=1.5 y=2", "x=1_000 y=inf", "x=nan y=-3e2 tail", "x=12x y=1", "nothing", "x=- y=1",
             "x=\uff11\uff12 y=0"]
    pat = r"x=(?P<x>\S+) y=(?P<y>\S+)"
    want, bad, _ = reference(lines, pat, ["x", "y"])
    rep = pt.ParseReport()
    got = pt.from_log(lines, pattern=pat, report=rep).to_array()
    assert same(got, want) and rep.bad_lines == bad == [4, 5, 6]
    got2 = pt.from_log(lines, pattern=re.compile(pat), dash=-1.0, report=pt.ParseReport()).to_array()
    assert got2[-2].tolist() == [-1.0, 1.0]
    got3 = pt.from_log(lines, pattern=pat, fields=["y"], report=pt.ParseReport()).to_array()
    assert got3.shape == (6, 1)  # line 4's bad x is not selected


def test_single_group_and_unnamed_groups():
    lines = ["v=1 (a)", "v=2 (b)", "v=q (c)"]
    rep = pt.ParseReport()
    got = pt.from_log(lines, pattern=r"(\w)=(?P<v>\w+) \((\w)\)", report=rep).to_array()
    assert rep.bad_lines == [3] and got.ravel().tolist() == [1.0, 2.0]
    got = pt.from_log(lines, pattern=r"v=(?P<v>\w+)", report=pt.ParseReport()).to_array()
    assert got.ravel().tolist() == [1.0, 2.0]


def test_integer_dtype():
    lines = ["v=1", "v=2.5", "v=-3", "v=1e30", "v=nan"]
    rep = pt.ParseReport()
    got = pt.from_log(lines, pattern=r"v=(?P<v>\S+)", dtype="int32", report=rep).to_array()
    assert got.dtype == np.int32 and got.ravel().tolist() == [1, -3] and rep.bad_lines == [2, 4, 5]
    got = pt.from_log(lines, pattern=r"v=(?P<v>\S+)", dtype=np.float32, report=pt.ParseReport()).to_array()
    assert got.dtype == np.float32 and len(got) == 5


# ------------------------------------------------------------------- inputs


def _write(tmp_path, lines, name="a.log", newline="\n", compress=False):
    data = newline.join(lines).encode("utf-8") + newline.encode()
    p = tmp_path / name
    p.write_bytes(gzip.compress(data) if compress else data)
    return p


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("compress", [False, True])
def test_path_inputs(tmp_path, newline, compress):
    p = _write(tmp_path, LINES, newline=newline, compress=compress)
    want, bad, _ = preset_reference(LINES, "combined")
    rep = pt.ParseReport()
    s = pt.from_log(p, format="combined", chunk_lines=50, report=rep)
    assert same(s.to_array(), want) and rep.bad_lines == bad[:10] and rep.bad == len(bad)
    assert same(s.to_array(), want) and rep.passes == 2  # paths are re-iterable
    assert same(pt.from_log(str(p), format="combined", report=rep).to_array(), want)


def test_file_objects(tmp_path):
    p = _write(tmp_path, LINES)
    want, bad, _ = preset_reference(LINES, "combined")
    for mode in ("rb", "r"):
        with open(p, mode) as f:
            rep = pt.ParseReport()
            s = pt.from_log(f, format="combined", chunk_lines=33, report=rep)
            assert same(s.to_array(), want) and rep.bad == len(bad)
            with pytest.raises(RuntimeError):
                s.to_array()  # one-shot
    s = pt.from_log(io.StringIO("\n".join(LINES)), format="combined", report=pt.ParseReport())
    assert same(s.to_array(), want)
    s = pt.from_log(iter(LINES), format="combined", report=pt.ParseReport())
    assert same(s.to_array(), want)
    s = pt.from_log([ln.encode() + b"\n" for ln in LINES], format="combined", report=pt.ParseReport())
    assert same(s.to_array(), want)


def test_invalid_utf8_in_file(tmp_path):
    good = access_log(5, seed=3, bad=0.0)
    data = ("\n".join(good[:2]) + "\n").encode() + b"\xff\xfe junk \xc3\n" + ("\n".join(good[2:]) + "\n").encode()
    p = tmp_path / "junk.log"
    p.write_bytes(data)
    rep = pt.ParseReport()
    got = pt.from_log(p, format="combined_latency", report=rep).to_array()
    assert len(got) == 5 and rep.bad_lines == [3] and "\ufffd" in rep.examples[0].text


# ------------------------------------------------------------------- errors


def test_errors_raise_names_line():
    lines = access_log(50, seed=5, bad=0.0)
    lines[17] = "this is not a log line"
    with pytest.raises(ValueError, match=r"line 18: no match.*this is not a log line"):
        pt.from_log(lines, format="combined", errors="raise", chunk_lines=7).to_array()
    lines[17] = lines[16].replace('" 200 ', '" 2x0 ')
    lines[3] = lines[3].replace(" 0.", " 0x.") if " 0." in lines[3] else lines[3][:-5] + " 1.2.3"
    with pytest.raises(ValueError, match=r"line 4: field 'latency'"):
        pt.from_log(lines, format="combined_latency", errors="raise").to_array()


def test_errors_warn_once_and_count_without_report():
    for kw in ({"errors": "warn"}, {}):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            pt.from_log(LINES, format="combined", chunk_lines=10, **kw).to_array()
        msgs = [x for x in w if issubclass(x.category, pt.LogParseWarning)]
        assert len(msgs) == 1 and "bad" in str(msgs[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pt.from_log(LINES, format="combined", report=pt.ParseReport()).to_array()  # count: silent
        good = access_log(20, seed=2, bad=0.0)
        pt.from_log(good, format="combined", errors="warn").to_array()  # nothing bad: no warning


def test_report_partial_pass_and_examples():
    rep = pt.ParseReport(max_examples=3)
    s = pt.from_log(LINES, format="combined", chunk_lines=10, report=rep)
    s.take(5).to_array()
    assert not rep.complete and rep.lines <= 20
    s.to_array()
    assert rep.complete and len(rep.examples) == 3 and rep.bad > 3
    b = rep.examples[0]
    assert LINES[b.line - 1].rstrip("\r\n") == b.text and b.reason
    assert "bad" in str(rep)


@pytest.mark.parametrize("kwargs, exc", [
    ({}, ValueError),
    ({"format": "combined", "pattern": "x"}, ValueError),
    ({"format": "nope"}, ValueError),
    ({"format": 3}, TypeError),
    ({"pattern": "("}, ValueError),
    ({"pattern": "(x)"}, ValueError),
    ({"pattern": 5}, TypeError),
    ({"pattern": re.compile(b"(?P<a>x)")}, TypeError),
    ({"format": "combined", "fields": ["agent"]}, ValueError),
    ({"format": "combined", "fields": []}, ValueError),
    ({"format": "combined", "fields": ["status", "status"]}, ValueError),
    ({"format": "combined", "fields": [1]}, TypeError),
    ({"format": "combined", "fields": 3}, TypeError),
    ({"format": "combined", "dtype": "U3"}, TypeError),
    ({"format": "combined", "dtype": complex}, TypeError),
    ({"format": "combined", "dtype": "nonsense"}, TypeError),
    ({"format": "combined", "chunk_lines": 0}, ValueError),
    ({"format": "combined", "chunk_lines": 1.5}, TypeError),
    ({"format": "combined", "chunk_lines": True}, TypeError),
    ({"format": "combined", "errors": "ignore"}, ValueError),
    ({"format": "combined", "report": {}}, TypeError),
    ({"format": "combined", "dash": "x"}, TypeError),
    ({"format": "combined", "dash": {"latency": 0}}, ValueError),
])
def test_bad_parameters_raise_at_construction(kwargs, exc):
    with pytest.raises(exc, match="from_log"):
        pt.from_log(["x"], **kwargs)


def test_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError):
        pt.from_log(tmp_path / "missing.log", format="common")
    with pytest.raises(IsADirectoryError):
        pt.from_log(tmp_path, format="common")
    with pytest.raises(TypeError):
        pt.from_log(5, format="common")
    with pytest.raises(TypeError):
        pt.from_log(np.zeros(3), format="common")
    with pytest.raises(TypeError, match="str or bytes"):
        pt.from_log([1, 2], format="common").to_array()


def test_empty_inputs(tmp_path):
    p = tmp_path / "empty.log"
    p.write_bytes(b"")
    for src in ([], p, ["", "  "]):
        rep = pt.ParseReport()
        a = pt.from_log(src, format="combined", report=rep).to_array()
        assert a.shape == (0, 2) and rep.complete and rep.bad == 0


# --------------------------------------------------------------------------- empty fields (issue 15)

CSV_LIKE = r"^(?P<t>[^,]*),(?P<v>[^,]*),(?P<w>[^,]*)$"


@pytest.mark.parametrize("chunk_lines", [1, 2, 65536])
def test_empty_fields_are_missing_values_not_bad_lines(chunk_lines):
    lines = ["t,v,w", "1,2.5,3", "2,,4", "3, ,", "4,5,6", ",7,8"]
    rep = pt.ParseReport()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # only the header is bad, and it is counted in rep
        got = pt.from_log(lines, pattern=CSV_LIKE, chunk_lines=chunk_lines, report=rep).to_array()
    want = np.array([[1, 2.5, 3], [2, np.nan, 4], [3, np.nan, np.nan], [4, 5, 6], [np.nan, 7, 8]])
    np.testing.assert_array_equal(got, want)
    assert rep.records == 5 and rep.bad == 1 and rep.bad_lines == [1] and rep.missing == 3
    assert "3 with missing values (NaN)" in rep.summary()
    ref, bad, _ = reference(lines, CSV_LIKE, ["t", "v", "w"])
    assert same(got, np.array(ref)) and bad == [1]


def test_optional_group_that_does_not_match_is_missing():
    rep = pt.ParseReport()
    got = pt.from_log(["a=1 b=2", "a=3", "a= b=4"], pattern=r"a=(?P<a>\d*)(?: b=(?P<b>\d+))?",
                      report=rep).to_array()
    np.testing.assert_array_equal(got, [[1, 2], [3, np.nan], [np.nan, 4]])
    assert rep.bad == 0 and rep.missing == 2


def test_empty_field_with_dash_and_bad_values_in_the_same_block():
    lines = ["1,-,", "2,x,3", "3,,-"]
    rep = pt.ParseReport()
    got = pt.from_log(lines, pattern=CSV_LIKE, dash=0.0, report=rep).to_array()
    np.testing.assert_array_equal(got, [[1, 0, np.nan], [3, np.nan, 0]])
    assert rep.bad_lines == [2] and rep.missing == 2


def test_empty_field_with_an_integer_dtype_is_a_bad_line_that_says_why():
    rep = pt.ParseReport()
    got = pt.from_log(["1,2,3", "4,,6"], pattern=CSV_LIKE, dtype="int64", report=rep).to_array()
    np.testing.assert_array_equal(got, [[1, 2, 3]])
    assert rep.bad_lines == [2]
    assert "empty (a missing value), which int64 cannot hold" in rep.examples[0].reason


def test_warning_names_several_bad_lines_not_only_the_first():
    lines = ["header", "1,2,3", "x,2,3", "4,5,6", "y,1,1", "z,1,1", "w,1,1"]
    with pytest.warns(pt.LogParseWarning) as w:
        pt.from_log(lines, pattern=CSV_LIKE).to_array()
    msg = str(w[0].message)
    assert "first bad lines: 1: no match" in msg and "3: field 't'" in msg and "5: field 't'" in msg
    assert "(2 more)" in msg


def test_file_objects_are_named_by_their_name_never_empty(tmp_path):
    import gzip as _gzip

    path = tmp_path / "a.log.gz"
    with _gzip.open(path, "wb") as g:
        g.write(b"x=1\nbad\n")
    rep = pt.ParseReport()
    with open(path, "rb") as raw, _gzip.GzipFile(fileobj=raw) as f:
        pt.from_log(f, pattern=r"x=(?P<x>\d+)", report=rep).to_array()
    assert rep.name == repr(str(path))
    rep2 = pt.ParseReport()
    pt.from_log(io.TextIOWrapper(io.BytesIO(b"x=1\n")), pattern=r"x=(?P<x>\d+)", report=rep2).to_array()
    assert rep2.name == "<unnamed TextIOWrapper file object>"
