"""Calendar bins and time zones (issue 19): pandas' resample, tz_convert and
tz_localize are the oracles, bin by bin, on random irregular times."""

from __future__ import annotations

import bisect
import datetime
import pickle
import warnings
import zoneinfo

import numpy as np
import pandas as pd
import pytest

from pystream._calendar import Binner, local_offsets, localize, resolve_tz

NS = 10**9
DAY = 86_400 * NS
ZONES = [None, "Europe/Paris", "America/New_York"]
SHORT = ["1h", "15min", "90s", "7h", "1h30min"]
LONG = ["1D", "2D", "W", "W-MON", "2W", "MS", "ME", "2MS", "3ME", "QS", "QE", "QE-NOV", "QS-FEB",
        "YS", "YE", "2YS", "YE-JUN"]


def ns(text: str) -> int:
    return int(np.datetime64(text, "ns").astype(np.int64))


def random_times(rng, start: str, days: float, n: int = 300) -> np.ndarray:
    """Sorted irregular times with runs of duplicates and a gap."""
    t = np.sort(ns(start) + rng.integers(0, int(days * DAY), n))
    t[10:15] = t[10]
    t[n // 2:] += int(days * DAY) // 3            # a gap longer than most bins
    return np.sort(t)


def pandas_bins(t, freq, tz, **kw):
    """pandas' labels (UTC ns) and record counts of every bin from the first
    non-empty one to the last."""
    index = pd.DatetimeIndex(t.astype("datetime64[ns]"))
    if tz is not None:
        index = index.tz_localize("UTC").tz_convert(tz)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        counts = pd.Series(np.ones(len(t)), index=index).resample(freq, **kw).count()
    labels = counts.index.tz_convert("UTC").tz_localize(None) if tz else counts.index
    nonzero = np.flatnonzero(counts.to_numpy())
    keep = slice(nonzero[0], nonzero[-1] + 1)
    return labels.asi8[keep], counts.to_numpy()[keep]


def assert_like_pandas(t, freq, tz=None, **kw):
    want_labels, want_counts = pandas_bins(t, freq, tz, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        binner = Binner(freq, tz=tz, **kw)
    b = binner.bins(t)
    assert np.all(np.diff(b) >= 0), "non-decreasing times give non-decreasing bins"
    numbers = np.arange(b[0], b[-1] + 1)
    counts = np.bincount(b - b[0])
    np.testing.assert_array_equal(binner.label_of(numbers), want_labels,
                                  err_msg=f"labels {freq} {tz} {kw}")
    np.testing.assert_array_equal(counts, want_counts, err_msg=f"members {freq} {tz} {kw}")
    lefts, rights = binner.left(numbers), binner.right(numbers)
    assert np.all(lefts < rights) and np.array_equal(rights[:-1], lefts[1:])
    return binner, b


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("freq", SHORT + LONG)
def test_every_family_closed_and_label_like_pandas(freq, tz):
    rng = np.random.default_rng(abs(hash((freq, tz))) % 2**32)
    days = 12 if freq in SHORT else 2500
    start = "2023-10-25" if freq in SHORT else "2019-01-01"   # spans DST changes
    for closed in (None, "left", "right"):
        for label in (None, "left", "right"):
            t = random_times(rng, start, days)
            assert_like_pandas(t, freq, tz, closed=closed, label=label)


ORIGINS = ["epoch", "start", "start_day", "2020-01-01T00:07:00", 1_600_000_000 * NS + 123]


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("origin", ORIGINS, ids=str)
@pytest.mark.parametrize("offset", [None, "7min", "-20min", "1h30min"])
def test_origin_and_offset_like_pandas(origin, offset, tz):
    rng = np.random.default_rng(11)
    pandas_origin = origin
    if isinstance(origin, int):
        pandas_origin = pd.Timestamp(origin, unit="ns", tz="UTC")
        pandas_origin = pandas_origin.tz_convert(tz) if tz else pandas_origin.tz_localize(None)
    elif origin not in ("epoch", "start", "start_day") and tz:
        pandas_origin = pd.Timestamp(origin).tz_localize(tz)
    for freq in ("1h", "7min", "90s", "1D", "3D", "5h"):
        for closed in ("left", "right"):
            t = random_times(rng, "2023-10-20", 20)
            want_labels, want_counts = pandas_bins(t, freq, tz, closed=closed,
                                                   origin=pandas_origin, offset=offset)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                binner = Binner(freq, tz=tz, closed=closed, origin=origin, offset=offset)
            b = binner.bins(t)
            numbers = np.arange(b[0], b[-1] + 1)
            np.testing.assert_array_equal(binner.label_of(numbers), want_labels)
            np.testing.assert_array_equal(np.bincount(b - b[0]), want_counts)


def test_calendar_frequencies_ignore_origin_with_a_warning_as_pandas():
    with pytest.warns(RuntimeWarning, match="origin and offset do not take effect"):
        Binner("MS", origin="epoch")
    with pytest.warns(RuntimeWarning):
        Binner("1D", tz="Europe/Paris", offset="1h")
    rng = np.random.default_rng(2)
    t = random_times(rng, "2021-01-01", 900)
    assert_like_pandas(t, "2MS", None, origin="epoch", offset="3h")   # ignored by both


@pytest.mark.parametrize("freq", ["1h", "1D", "2D", "W", "2MS", "ME", "QE", "3D"])
@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("origin", ["start_day", "start", "epoch"])
def test_pieces_give_the_same_numbers(freq, tz, origin):
    rng = np.random.default_rng(5)
    t = random_times(rng, "2022-02-01", 40 if freq in ("1h", "1D", "2D", "3D") else 1500, 500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        whole = Binner(freq, tz=tz, origin=origin).bins(t)
        for _ in range(3):
            binner = Binner(freq, tz=tz, origin=origin)
            cuts = np.sort(rng.integers(0, len(t), 6))
            parts = [binner.bins(p) for p in np.split(t, cuts)]
            np.testing.assert_array_equal(np.concatenate(parts), whole)
    # unsorted input: the same number for each record (origin from the first call's first)
    order = np.argsort(rng.random(len(t)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        binner = Binner(freq, tz=tz, origin=origin)
    binner.bins(t[:1])
    np.testing.assert_array_equal(binner.bins(t[order]), whole[order])


@pytest.mark.parametrize("freq", ["1h", "1D", "W", "MS", "ME", "QS", "YE", "2MS"])
@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("start,days", [("1950-03-01", 3000), ("1969-12-20", 30),
                                        ("2195-01-01", 3000), ("2262-01-01", 60)])
def test_before_1970_and_far_future(freq, tz, start, days):
    rng = np.random.default_rng(8)
    if freq == "1h":
        days = min(days, 20)
    t = random_times(rng, start, days)
    try:
        pandas_bins(t, freq, tz)
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        # a label past 2262-04-11 is not an int64 ns: pandas fails; we bin, and
        # refuse to give that label
        binner = Binner(freq, tz=tz)
        b = binner.bins(t)
        assert np.all(np.diff(b) >= 0)
        try:
            labels = binner.label_of(np.arange(b[0], b[-1] + 1))
        except ValueError as err:
            assert "int64 ns range" in str(err)
        else:                                   # pandas failed on its closing edge only
            assert np.all(np.diff(labels) > 0)
            assert np.all(binner.left(b) <= t)
        return
    assert_like_pandas(t, freq, tz)


@pytest.mark.parametrize("freq", ["1h", "1D", "W", "MS", "ME", "2MS", "YS"])
@pytest.mark.parametrize("tz", ZONES)
def test_one_record_and_one_bin(freq, tz):
    for closed in ("left", "right"):
        for label in ("left", "right"):
            assert_like_pandas(np.array([ns("2024-03-31T02:30")]), freq, tz, closed=closed,
                               label=label)
            same = np.full(7, ns("2024-11-03T01:30"))
            binner, b = assert_like_pandas(same, freq, tz, closed=closed, label=label)
            assert len(set(b)) == 1


@pytest.mark.parametrize("freq", ["1h", "1D", "W", "MS", "ME", "QE", "YS", "2MS"])
@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("closed", ["left", "right"])
def test_records_exactly_on_edges(freq, tz, closed):
    """Records at every edge, one ns before and one ns after, for each closed."""
    first = ns("2023-01-15")
    binner = Binner(freq, tz=tz, closed=closed)
    edges = binner.left(np.arange(-3, 40) + binner.bins(np.array([first]))[0])
    if freq in ("W", "ME", "QE") and closed == "right":   # members run to the day's end
        edges = localize(edges + local_offsets(edges, tz) + DAY - 1, resolve_tz(tz, "x"))
    edges = edges[edges > first]
    t = np.stack([edges - 1, edges, edges + 1], axis=1).ravel()
    before, on, after = binner.bins(t).reshape(-1, 3).T
    assert np.all(after - before == 1)
    assert np.all(on == (after if closed == "left" else before))
    assert_like_pandas(np.concatenate([[first], t]), freq, tz, closed=closed)


def test_pickled_binner_continues_the_same_bins():
    rng = np.random.default_rng(6)
    t = random_times(rng, "2023-03-01", 400)
    for freq, tz in (("2MS", "Europe/Paris"), ("90min", "America/New_York"), ("W", None)):
        origin = "start" if freq == "90min" else "start_day"
        binner = Binner(freq, tz=tz, origin=origin)
        whole = Binner(freq, tz=tz, origin=origin).bins(t)
        head = binner.bins(t[:100])
        clone = pickle.loads(pickle.dumps(binner))
        np.testing.assert_array_equal(np.concatenate([head, clone.bins(t[100:])]), whole)
        assert clone.origin_point == binner.origin_point


def test_dst_days_are_23_and_25_hours():
    binner = Binner("1D", tz="Europe/Paris")
    b = binner.bins(np.array([ns("2024-03-30T12:00"), ns("2024-10-26T12:00")]))
    lengths = (binner.right(b) - binner.left(b)) // (3600 * NS)
    assert lengths.tolist() == [24, 24]
    b = binner.bins(np.array([ns("2024-03-31T12:00"), ns("2024-10-27T00:30")]))
    assert ((binner.right(b) - binner.left(b)) // (3600 * NS)).tolist() == [23, 25]
    hourly = Binner("1h", tz="Europe/Paris")
    b = hourly.bins(np.array([ns("2024-10-27T00:30"), ns("2024-10-27T01:30")]))  # UTC
    assert b[1] - b[0] == 1                     # fixed bins stay 60 minutes


@pytest.mark.parametrize("tz", ["Europe/Paris", "America/New_York", "Asia/Kolkata",
                                "Australia/Lord_Howe", "America/Havana", "Asia/Beirut",
                                "Pacific/Apia", "UTC"])
def test_local_offsets_like_pandas(tz):
    rng = np.random.default_rng(4)
    t = rng.integers(ns("1900-01-01"), ns("2200-01-01"), 20_000)
    for times in (t, np.sort(t)):
        want = (pd.DatetimeIndex(times).tz_localize("UTC").tz_convert(tz).tz_localize(None)
                .asi8 - times)
        np.testing.assert_array_equal(local_offsets(times, tz), want)
        np.testing.assert_array_equal(local_offsets(times, zoneinfo.ZoneInfo(tz)), want)


def test_local_offsets_other_zones_and_errors():
    t = np.array([0, ns("2024-07-01")])
    fixed = datetime.timezone(datetime.timedelta(hours=-3, minutes=-30))
    assert local_offsets(t, fixed).tolist() == [-12_600 * NS] * 2
    assert local_offsets(t, None).tolist() == [0, 0]
    assert local_offsets(np.empty(0, np.int64), "Europe/Paris").size == 0
    with pytest.raises(TypeError, match="int64"):
        local_offsets(t.astype(float), "UTC")
    with pytest.raises(ValueError, match="Mars/Olympus"):
        local_offsets(t, "Mars/Olympus")


@pytest.mark.parametrize("tz", ["Europe/Paris", "America/New_York", "America/Havana",
                                "America/Santiago", "Asia/Beirut"])
def test_localize_like_pandas(tz):
    rng = np.random.default_rng(9)
    wall = np.sort(rng.integers(ns("1950-01-01"), ns("2100-01-01"), 3000) // (3600 * NS)
                   * (3600 * NS))
    zone = resolve_tz(tz, "x")
    want = pd.DatetimeIndex(wall).tz_localize(tz, ambiguous=np.ones(len(wall), bool),
                                              nonexistent="shift_forward")
    got = localize(wall, zone, ambiguous="earliest", nonexistent="shift_forward")
    np.testing.assert_array_equal(got, want.tz_convert("UTC").tz_localize(None).asi8)
    try:
        pd.DatetimeIndex(wall).tz_localize(tz)
    except Exception as err:                     # pandas raises: so do we, saying why
        with pytest.raises(ValueError, match="twice|does not exist"):
            localize(wall, zone)
        assert "time" in str(err)


def test_end_of_day_edge_on_a_fold_raises_as_pandas():
    """ME closed right in Beirut 1957: the month's last ns happens twice."""
    t = np.sort(ns("1957-08-01") + np.random.default_rng(1).integers(0, 100 * DAY, 50))
    index = pd.DatetimeIndex(t).tz_localize("UTC").tz_convert("Asia/Beirut")
    with pytest.raises(Exception):
        pd.Series(1, index=index).resample("ME").count()
    with pytest.raises(ValueError, match="happens twice in Asia/Beirut"):
        Binner("ME", tz="Asia/Beirut").bins(t)


def slow_numeric_bins(t, width, origin, closed):
    """Slow twin: edges origin + b * width in float64, then a bisection per record."""
    lo = int(np.floor((min(t) - origin) / width)) - 2
    hi = int(np.floor((max(t) - origin) / width)) + 3
    edges = [origin + float(b) * width for b in range(lo, hi + 1)]
    side = bisect.bisect_right if closed == "left" else bisect.bisect_left
    return np.array([lo + side(edges, float(x)) - 1 for x in t], np.int64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int32, np.uint16])
@pytest.mark.parametrize("width", [0.1, 3, 2.5, 1e-3])
@pytest.mark.parametrize("closed", ["left", "right"])
def test_numeric_times_against_the_slow_twin(dtype, width, closed):
    rng = np.random.default_rng(12)
    raw = np.sort(rng.random(400) * 50)
    raw = np.concatenate([raw, np.round(raw[:50], 1)])      # values on edges
    t = np.sort(raw.astype(dtype))
    for origin in ("start", "epoch", 0.3, -7):
        binner = Binner(width, origin=origin, closed=closed, datetime_times=False)
        b = binner.bins(t)
        o = binner.origin_point
        assert o == (t[0].item() if origin == "start" else 0 if origin == "epoch" else origin)
        np.testing.assert_array_equal(b, slow_numeric_bins(t.astype(float), width, o, closed))
        left, right = binner.left(b), binner.right(b)
        inside = (left <= t) & (t < right) if closed == "left" else (left < t) & (t <= right)
        assert inside.all()


def test_numeric_integer_times_exact_and_like_datetime_bins():
    """Integer widths on integer times are exact int64 arithmetic: the same bins
    and edges as datetime bins of that many ns (checked against pandas above);
    pandas' TimedeltaIndex resample (bins from the first value) is the oracle
    for closed="left" (for "right" it labels by the right edge whatever ``label``)."""
    rng = np.random.default_rng(13)
    t = np.sort(rng.integers(-10**6, 10**6, 500))
    for closed in ("left", "right"):
        for origin in ("start", "epoch", 12345):
            binner = Binner(777, origin=origin, closed=closed, datetime_times=False)
            as_ns = Binner("777ns", origin=origin if origin != 12345 else int(origin),
                           closed=closed)
            b, b_ns = binner.bins(t), as_ns.bins(t)     # numbered from the origin / epoch
            np.testing.assert_array_equal(b - b[0], b_ns - b_ns[0])
            np.testing.assert_array_equal(binner.left(np.arange(b[0], b[-1] + 1)),
                                          as_ns.left(np.arange(b_ns[0], b_ns[-1] + 1)))
            numbers = b
            assert binner.left(numbers).dtype == np.int64
    binner = Binner(777, origin="start", datetime_times=False)
    b = binner.bins(t)
    counts = pd.Series(1, index=pd.to_timedelta(t, unit="ns")).resample("777ns").count()
    nonzero = np.flatnonzero(counts.to_numpy())
    counts = counts.iloc[nonzero[0]:nonzero[-1] + 1]
    np.testing.assert_array_equal(np.bincount(b - b[0]), counts.to_numpy())
    np.testing.assert_array_equal(binner.left(np.arange(b[0], b[-1] + 1)), counts.index.asi8)
    near = np.array([np.iinfo(np.int64).max - 5, np.iinfo(np.int64).max])
    assert Binner(2, origin="start", datetime_times=False).bins(near).tolist() == [0, 2]


@pytest.mark.parametrize("kw,kind,match", [
    ({"freq": "1MS", "datetime_times": False}, TypeError, "numeric"),
    ({"freq": "1h", "tz": "Europe/Paris", "datetime_times": False}, ValueError, "numeric"),
    ({"freq": 0, "datetime_times": False}, ValueError, "positive"),
    ({"freq": "1h", "origin": "end"}, ValueError, "last record"),
    ({"freq": "1h", "origin": "end_day"}, ValueError, "last record"),
    ({"freq": "1h", "origin": "tomorrow"}, ValueError, "origin"),
    ({"freq": 5, "origin": "tomorrow", "datetime_times": False}, ValueError, "origin"),
    ({"freq": "1h", "closed": "both"}, ValueError, "closed"),
    ({"freq": "1h", "label": "middle"}, ValueError, "label"),
    ({"freq": "1h", "tz": "Mars/Olympus"}, ValueError, "Mars/Olympus"),
    ({"freq": "1h", "tz": 5}, TypeError, "tz"),
    ({"freq": "0h"}, ValueError, "positive"),
    ({"freq": "-1h"}, ValueError, "cannot read"),
    ({"freq": "1H"}, ValueError, "'h'"),
    ({"freq": "M"}, ValueError, "'ME'"),
    ({"freq": "fortnight"}, ValueError, "unknown unit"),
    ({"freq": 3}, TypeError, "datetimes"),
    ({"freq": "1h", "offset": 5}, TypeError, "datetimes"),
])
def test_bad_arguments(kw, kind, match):
    freq = kw.pop("freq")
    with pytest.raises(kind, match=match) as info:
        Binner(freq, where="resample", **kw)
    assert "resample" in str(info.value)


def test_bad_times():
    binner = Binner("1h")
    with pytest.raises(ValueError, match="record 2 is NaT"):
        binner.bins(np.array([0, 1, np.iinfo(np.int64).min]))
    with pytest.raises(TypeError, match="int64 ns"):
        binner.bins(np.array([0.5]))
    with pytest.raises(ValueError, match="one-dimensional"):
        binner.bins(np.zeros((2, 2), np.int64))
    with pytest.raises(ValueError, match="int64 ns limit"):
        Binner("1h", origin=5).bins(np.array([np.iinfo(np.int64).min + 1]))
    numeric = Binner(2.0, datetime_times=False)
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="record 1 is"):
            numeric.bins(np.array([0.0, bad]))
    with pytest.raises(TypeError, match="integers or floats"):
        numeric.bins(np.array([True]))
    assert binner.bins(np.empty(0, np.int64)).size == 0
    with pytest.raises(ValueError, match="call bins"):
        Binner("1h", origin="start").left(np.array([0]))
    with pytest.raises(ValueError, match="call bins"):
        Binner("2MS").label_of(np.array([0]))
    dates = np.array(["2024-01-01T10:30"], "datetime64[s]")
    assert Binner("1h").bins(dates).tolist() == Binner("1h").bins(dates.astype("datetime64[ns]")
                                                                  .view(np.int64)).tolist()


def test_origin_point_and_global_numbers():
    binner = Binner("1h", origin="start_day", tz="Europe/Paris")
    assert binner.origin_point is None
    binner.bins(np.array([ns("2024-07-01T15:00")]))
    assert binner.origin_point == ns("2024-06-30T22:00")             # local midnight, UTC
    epoch = Binner("1h", origin="epoch")
    assert epoch.bins(np.array([ns("1970-01-01T05:10")])).tolist() == [5]
    months = Binner("MS")
    assert months.bins(np.array([ns("1970-03-10")])).tolist() == [2]  # months since 1970
    assert months.bins(np.array([ns("1969-12-10")])).tolist() == [-1]
    aware = datetime.datetime(2024, 1, 1, 0, 7, tzinfo=datetime.timezone.utc)
    assert Binner("1h", origin=aware).origin_point == ns("2024-01-01T00:07")
    naive = Binner("1h", origin=datetime.datetime(2024, 1, 1), tz="Europe/Paris")
    assert naive.origin_point == ns("2023-12-31T23:00")             # read on Paris' clock


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("freq,every", [("MS", "1mo"), ("QS", "1q"), ("YS", "1y"), ("1D", "1d"),
                                        ("1h", "1h"), ("W-MON", "1w")])
def test_bin_starts_like_polars_truncate(freq, every, tz):
    """A second oracle: polars' ``dt.truncate`` (local calendar for a zoned column)."""
    pl = pytest.importorskip("polars")
    rng = np.random.default_rng(21)
    t = random_times(rng, "1995-01-01", 12_000, 2000)
    series = pl.Series(t.view("datetime64[ns]")).dt.replace_time_zone("UTC")
    if tz:
        series = series.dt.convert_time_zone(tz)
    want = series.dt.truncate(every).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    fixed = tz is None and freq in ("1D", "1h")     # polars lays fixed bins from the epoch
    binner = Binner(freq, tz=tz, closed="left", label="left",
                    origin="epoch" if fixed else "start_day")
    np.testing.assert_array_equal(binner.left(binner.bins(t)),
                                  want.to_numpy().astype("datetime64[ns]").view(np.int64))


@pytest.mark.parametrize("n", [1, 2, 7])
def test_missing_times_named_at_every_position(n):
    for i in range(n):
        t = np.arange(n, dtype=np.int64) * NS
        t[i] = np.iinfo(np.int64).min
        for freq in ("1h", "MS"):
            with pytest.raises(ValueError, match=f"record {i} is NaT"):
                Binner(freq).bins(t)
        for bad in (np.nan, np.inf, -np.inf):
            x = np.arange(n, dtype=np.float64)
            x[i] = bad
            for dtype in (np.float64, np.float32):
                with pytest.raises(ValueError, match=f"record {i} is"):
                    Binner(1.5, datetime_times=False).bins(x.astype(dtype))
    all_nan = np.full(n, np.nan)
    with pytest.raises(ValueError, match="record 0 is nan"):
        Binner(1.5, datetime_times=False).bins(all_nan)
