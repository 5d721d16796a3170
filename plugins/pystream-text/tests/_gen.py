"""Generated access logs and a straightforward per-line reference parser (test helpers)."""

from __future__ import annotations

import math
import re

import numpy as np

STATUSES = [200, 200, 200, 200, 301, 304, 404, 500, 503]
JUNK = ["", "   ", "garbage line", "\u00e9\u2603 \ud7ff junk \u0000", '1.2.3.4 - - [x] "GET /" 2OO 12',
        '1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 12x "-" "ua"',
        "\t", "- - -"]


def access_line(rng: np.random.Generator, latency: bool = True) -> str:
    host = ".".join(str(int(x)) for x in rng.integers(1, 255, 4))
    status = STATUSES[int(rng.integers(len(STATUSES)))]
    nbytes = "-" if rng.random() < 0.1 else str(int(rng.integers(0, 100000)))
    path = rng.choice(["/", "/index.html", '/q?a=\\"x\\"', "/caf\u00e9", "/a b"])
    agent = rng.choice(["Mozilla/5.0 (X11; Linux)", "curl/8.0", "-", "Bot \\\"quoted\\\" \u2603"])
    line = (f'{host} - - [10/Oct/2023:13:55:36 -0700] "GET {path} HTTP/1.1" {status} {nbytes} '
            f'"http://ref.example/" "{agent}"')
    if latency:
        lat = "-" if rng.random() < 0.05 else f"{rng.random() * 2:.3f}"
        line += f" {lat}"
    if rng.random() < 0.1:
        line += " " * int(rng.integers(1, 4))
    return line


def access_log(n: int, seed: int = 0, bad: float = 0.05, latency: bool = True) -> list:
    """`n` lines (no terminators): access-log lines with junk mixed in."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        if rng.random() < bad:
            out.append(JUNK[int(rng.integers(len(JUNK)))])
        else:
            out.append(access_line(rng, latency))
    return out


def reference(lines, pattern, fields, dash=None):
    """Per-line reference: (records list, bad line numbers, blank count)."""
    rx = re.compile(pattern, re.MULTILINE)
    dash = dash or {}
    records, bad, blank = [], [], 0
    for i, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if not line.strip():
            blank += 1
            continue
        m = rx.search(line)
        if m is None:
            bad.append(i)
            continue
        try:
            rec = []
            for f in fields:
                s = m.group(f)
                if s is None or not s.strip():
                    rec.append(math.nan)  # an empty field is a missing value
                elif s == "-" and dash.get(f) is not None:
                    rec.append(dash[f])
                else:
                    rec.append(float(s))
        except ValueError:
            bad.append(i)
            continue
        records.append(rec)
    return records, bad, blank


def same(a, b) -> bool:
    a = np.asarray(a, dtype=float).reshape(-1, *np.shape(b)[1:]) if len(a) else np.zeros(np.shape(b))
    b = np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


__all__ = ["access_line", "access_log", "reference", "same", "math"]
