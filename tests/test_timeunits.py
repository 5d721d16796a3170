"""Durations and frequency aliases of event time (issue 19): pandas 3 is the oracle."""

from __future__ import annotations

import datetime
import warnings

import numpy as np
import pandas as pd
import pytest
from pandas.tseries.frequencies import to_offset

from pystream._timeunits import (DAY_NS, HOUR_NS, format_duration, is_calendar_alias,
                                 parse_duration, parse_fixed_string, parse_freq,
                                 parse_signed_duration)

ACCEPTED = ["5min", "1h", "30s", "250ms", "10us", "100ns", "1D", "1d", "2W", "1h30min", "1D2h",
            "1.5h", "h", "min", "Min", "D", "W", "0.5s", "2.25min", "90s", "3D4h5min6s7ms8us9ns",
            " 15min "]


def pandas_ns(text: str) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # pandas 3 deprecates "d" and "Min"
        text = text.strip()
        return pd.Timedelta(text if text[0].isdigit() or text[0] == "." else "1" + text).value


@pytest.mark.parametrize("text", ACCEPTED)
def test_fixed_aliases_match_pandas(text):
    assert parse_duration(text, True, "moving_mean") == pandas_ns(text)
    assert parse_fixed_string(text, "x") == pandas_ns(text)


@pytest.mark.parametrize("text", ["5min", "1h30min", "1D2h", "90s", "250ms", "1.5h", "2D"])
def test_fixed_aliases_match_to_offset(text):
    assert parse_duration(text, True, "x") == pd.Timedelta(to_offset(text)).value


@pytest.mark.parametrize("old,new", [("1H", "'h'"), ("5T", "'min'"), ("2S", "'s'"),
                                     ("3L", "'ms'"), ("4U", "'us'"), ("5N", "'ns'"),
                                     ("1m", "'min'")])
def test_removed_aliases_name_the_new_spelling(old, new):
    with pytest.raises(ValueError, match=f"moving_sum.*{new}"):
        parse_duration(old, True, "moving_sum")
    with pytest.raises(ValueError):             # pandas 3 refuses them in offsets too
        to_offset(old)


@pytest.mark.parametrize("text", ["1MS", "1M", "ME", "2ME", "1Y", "YE", "QS", "QE-NOV", "3MS",
                                  "A", "AS", "1B", "BME"])
def test_calendar_units_are_not_durations(text):
    with pytest.raises(ValueError, match="not a fixed duration.*resample"):
        parse_duration(text, True, "moving_mean")
    assert is_calendar_alias(text)


@pytest.mark.parametrize("bad,match", [
    ("0s", "positive"), ("0.0h", "positive"), ("-1h", "cannot read"), ("1.5ns", "whole number"),
    ("xx", "unknown unit 'xx'"), ("", "empty"), ("5 minutes", "unknown unit"),
    ("W-MON", "anchored week"), ("1h-", "cannot read"), ("300000D", "292 years"),
    (np.timedelta64("NaT"), "NaT"), (np.timedelta64(1, "M"), "calendar units"),
    (np.timedelta64(5), "no unit"), (np.timedelta64(5, "ps"), "finer"),
    (np.timedelta64(0, "s"), "positive"), (datetime.timedelta(0), "positive"),
    (-datetime.timedelta(hours=1), "positive"), (pd.Timedelta("-5min"), "positive"),
])
def test_bad_datetime_durations(bad, match):
    with pytest.raises(ValueError, match=match) as info:
        parse_duration(bad, True, "moving_max")
    assert "moving_max" in str(info.value)


@pytest.mark.parametrize("bad", [3, 2.5, True, None, [1], object()])
def test_datetime_durations_need_units(bad):
    with pytest.raises(TypeError, match="moving_min"):
        parse_duration(bad, True, "moving_min")


@pytest.mark.parametrize("unit", ["W", "D", "h", "m", "s", "ms", "us", "ns"])
def test_timedelta64_every_unit(unit):
    rng = np.random.default_rng(7)
    for count in rng.integers(1, 1000, 5):
        value = np.timedelta64(int(count), unit)
        assert parse_duration(value, True, "x") == pd.Timedelta(value).value


def test_timedelta_objects_and_duck_typing():
    value = datetime.timedelta(days=2, seconds=3, microseconds=4)
    assert parse_duration(value, True, "x") == pd.Timedelta(value).value
    assert parse_duration(pd.Timedelta("1h2min3ns"), True, "x") == HOUR_NS + 120 * 10**9 + 3

    class Duck:
        def to_timedelta64(self):
            return np.timedelta64(7, "ms")

    assert parse_duration(Duck(), True, "x") == 7_000_000
    assert parse_duration(np.array(2, "timedelta64[5m]")[()], True, "x") == 10 * 60 * 10**9


@pytest.mark.parametrize("value", [1, 0.25, 1e-9, np.float32(0.5), np.int16(3), 10**18])
def test_numeric_widths(value):
    got = parse_duration(value, False, "x")
    assert got == value and type(got) in (int, float)


@pytest.mark.parametrize("bad,kind,match", [
    ("5min", TypeError, "numeric"), (np.timedelta64(1, "s"), TypeError, "numeric"),
    (datetime.timedelta(seconds=1), TypeError, "numeric"), (pd.Timedelta(1), TypeError, "numeric"),
    (0, ValueError, "positive"), (-1.5, ValueError, "positive"), (np.nan, ValueError, "finite"),
    (np.inf, ValueError, "finite"), (True, TypeError, "bool"), (None, TypeError, "real number"),
])
def test_bad_numeric_widths(bad, kind, match):
    with pytest.raises(kind, match=match) as info:
        parse_duration(bad, False, "session")
    assert "session" in str(info.value)


def test_signed_durations():
    assert parse_signed_duration("-30min", True, "x") == -30 * 60 * 10**9
    assert parse_signed_duration("2h", True, "x") == 2 * HOUR_NS
    assert parse_signed_duration(-datetime.timedelta(hours=1), True, "x") == -HOUR_NS
    assert parse_signed_duration(np.timedelta64(-2, "s"), True, "x") == -2 * 10**9
    assert parse_signed_duration(pd.Timedelta("-1h"), True, "x") == pd.Timedelta("-1h").value
    assert parse_signed_duration(-2.5, False, "x") == -2.5
    assert parse_signed_duration(0, False, "x") == 0
    assert parse_signed_duration(datetime.timedelta(0), True, "x") == 0
    assert parse_signed_duration("0s", True, "x") == 0
    with pytest.raises(ValueError, match="finite"):
        parse_signed_duration(-np.inf, False, "x")


def test_format_duration_examples():
    assert format_duration(5 * 60 * 10**9) == "5min"
    assert format_duration(HOUR_NS) == "1h"
    assert format_duration(DAY_NS + 2 * HOUR_NS) == "26h"
    assert format_duration(DAY_NS + 2 * HOUR_NS + 1) == "1D2h1ns"
    assert format_duration(14 * DAY_NS) == "2W"
    assert format_duration(1) == "1ns"
    for bad in (0, -5, 1.5, True):
        with pytest.raises(ValueError):
            format_duration(bad)


def test_format_duration_round_trips_and_pandas_reads_it():
    rng = np.random.default_rng(3)
    values = [int(v) for v in rng.integers(1, 10**15, 300)]
    values += [int(rng.integers(1, 1000)) * unit for unit in (10**3, 10**6, 10**9, 60 * 10**9,
                                                             HOUR_NS, DAY_NS) for _ in range(20)]
    values.append(np.iinfo(np.int64).max)
    for ns in values:
        text = format_duration(ns)
        assert parse_duration(text, True, "x") == ns, text
        if ns < 10**18:                        # pandas' parser goes through float64
            assert pd.Timedelta(text).value == ns, text
        single = next(f"{ns // s}{u}" for u, s in (("W", 7 * DAY_NS), ("D", DAY_NS),
                                                   ("h", HOUR_NS), ("min", 6 * 10**10),
                                                   ("s", 10**9), ("ms", 10**6), ("us", 10**3),
                                                   ("ns", 1)) if ns % s == 0)
        assert len(text) <= len(single)


@pytest.mark.parametrize("text", ["W", "W-MON", "2W-fri", "MS", "3ME", "QS", "QE", "QE-NOV",
                                  "QS-FEB", "YS", "YE", "2YS", "YE-JUN", "YS-JUL"])
def test_calendar_frequencies_match_to_offset(text):
    freq = parse_freq(text, True, "resample")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        offset = to_offset(text)
    assert freq.n == offset.n
    name = type(offset).__name__
    if name == "Week":
        assert freq.kind == "week" and freq.weekday == offset.weekday and freq.end
    else:
        assert freq.kind == "month"
        assert freq.end == name.endswith("End")
        assert freq.period == {"Month": 1, "Quarter": 3, "Year": 12}[name[:-5].replace("B", "")
                                                                     if name.endswith("Begin")
                                                                     else name[:-3]]
        anchor = getattr(offset, "startingMonth", getattr(offset, "month", 1))
        assert freq.phase == (anchor - 1) % freq.period


def test_day_frequency_depends_on_the_zone():
    assert parse_freq("2D", False, "x").kind == "fixed"
    assert parse_freq("2D", False, "x").ns == 2 * DAY_NS
    assert parse_freq("2D", True, "x").kind == "day"
    assert parse_freq("1D2h", True, "x").kind == "fixed"       # pandas: 26 Hours, a Tick
    assert parse_freq(datetime.timedelta(days=1), True, "x").kind == "fixed"


@pytest.mark.parametrize("bad,match", [("M", "'ME'"), ("2Q", "'QE'"), ("A", "'YE'"),
                                       ("AS", "'YS'"), ("1H", "'h'"), ("BMS", "business"),
                                       ("W-XYZ", "week day"), ("QS-FOO", "month"),
                                       ("0MS", "positive"), ("0h", "positive"),
                                       ("fortnight", "unknown unit"), ("MS-JAN", "unknown")])
def test_bad_frequencies(bad, match):
    with pytest.raises(ValueError, match=match):
        parse_freq(bad, True, "resample")
