"""The progress bar of ``describe`` and ``run``: tqdm when installed, a small
built-in bar otherwise, moved by a pass-through chunk function."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import numpy as np

from .inputs import Input

#: Inputs smaller than this (in bytes) get no progress bar: they finish
#: before a bar would be useful.
PROGRESS_MIN_BYTES = 64 * 1024 * 1024


class _BuiltinBar:
    """A small stderr progress bar for when tqdm is not installed."""

    def __init__(self, total: int, unit: str, desc: str, stream: Any):
        self.total, self.unit, self.desc, self.stream = total, unit, desc, stream
        self.n = 0
        self.t0 = self._last = time.perf_counter()

    def update(self, n: int) -> None:
        self.n += n
        now = time.perf_counter()
        if now - self._last >= 0.1 or self.n >= self.total:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        frac = min(1.0, self.n / self.total) if self.total else 1.0
        width = 30
        full = int(frac * width)
        rate = self.n / max(now - self.t0, 1e-9)
        self.stream.write(
            f"\r{self.desc}: {frac:4.0%} |{'#' * full}{'.' * (width - full)}| "
            f"{_human(self.n)}{self.unit}/{_human(self.total)}{self.unit} "
            f"[{_human(rate)}{self.unit}/s]")
        self.stream.flush()

    def close(self) -> None:
        # Erase the bar so the terminal is left clean.
        self.stream.write("\r" + " " * 79 + "\r")
        self.stream.flush()


def _human(n: float) -> str:
    for prefix in ("", "k", "M", "G", "T"):
        if abs(n) < 1000:
            return f"{n:.0f}{prefix}" if prefix == "" else f"{n:.1f}{prefix}"
        n /= 1000.0
    return f"{n:.1f}P"


def make_progress(inp: Input, enabled: bool, stderr: Any) -> Any | None:
    """A progress bar, or None when none should be drawn."""
    if not enabled or inp.total is None or inp.total < PROGRESS_MIN_BYTES:
        return None
    isatty = getattr(stderr, "isatty", None)
    if not (isatty and isatty()):
        return None
    desc = os.path.basename(inp.label)
    try:
        from tqdm import tqdm
    except ImportError:
        return _BuiltinBar(inp.total, inp.unit, desc, stderr)
    return tqdm(total=inp.total, unit=inp.unit, unit_scale=True,
                unit_divisor=1000, desc=desc, file=stderr, leave=False,
                dynamic_ncols=True, mininterval=0.1)


class _Ticker:
    """A pass-through chunk function that moves a progress bar by the input
    each chunk stands for (bytes read, for text).  Thread-safe: the threads
    engine calls it from its workers; the bar never passes its total (a
    partition re-reads a window's warm-up records)."""

    def __init__(self, inp: Input, bar: Any | None):
        self.inp = inp
        self.bar = bar
        self.lock = threading.Lock()

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        bar = self.bar
        if bar is not None and len(chunk):
            with self.lock:
                if self.inp.counter is not None:
                    step = self.inp.counter.count - bar.n
                else:
                    step = len(chunk) * (self.inp.bytes_per_record or 0)
                step = min(step, bar.total - bar.n)
                if step > 0:
                    bar.update(step)
        return chunk
