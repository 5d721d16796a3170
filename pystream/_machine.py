"""The machine the kernels run on: the CPU and the SIMD level of the C core.

Every kernel gives the same bits at every SIMD level; the level only
changes the speed (see ``csrc/simd.h``).  The level in use is the highest
the build compiled and the CPU supports, capped by :func:`set_simd_level`
or, at import, by the environment variable ``PYSTREAM_SIMD``
(``avx512``, ``avx2``, ``sse2`` or ``portable``), so a benchmark or a test
can run the kernels of a CPU without AVX2 on any machine.
"""

from __future__ import annotations

import os
import platform
import warnings
from typing import NamedTuple

from ._native import lib

__all__ = ["MachineInfo", "SIMD_LEVELS", "machine", "set_simd_level", "simd_level"]

#: The SIMD levels, lowest first (their index is the C core's level).
SIMD_LEVELS: tuple[str, ...] = ("portable", "sse2", "avx2", "avx512")

class MachineInfo(NamedTuple):
    """What :func:`machine` reports."""

    #: CPU model name (``/proc/cpuinfo``; else :func:`platform.processor`).
    cpu: str
    #: Logical CPUs of the machine (:func:`os.cpu_count`).
    cpus: int
    #: SIMD extensions of the CPU that matter to the kernels.
    cpu_simd: tuple[str, ...]
    #: Highest level this build compiled and this CPU supports.
    simd_best: str
    #: The level the kernels use now.
    simd_level: str

    def line(self) -> str:
        """One line for a benchmark or a report."""
        capped = "" if self.simd_level == self.simd_best else f" (capped; best {self.simd_best})"
        flags = ", ".join(self.cpu_simd) or "none known"
        return (f"{self.cpu}, {self.cpus} cpus, CPU SIMD: {flags}; "
                f"kernels: {self.simd_level}{capped}")


def _cpu_model_and_flags() -> tuple[str, tuple[str, ...]]:
    cpu = platform.processor() or platform.machine()
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name":
                    cpu = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
                if key == "flags" and cpu:
                    break
    except OSError:
        pass
    known = ("sse2", "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl")
    return cpu, tuple(f for f in known if f in flags)


def simd_level() -> str:
    """The SIMD level the C kernels use now.

    Returns
    -------
    str
        One of :data:`SIMD_LEVELS`.

    Examples
    --------
    >>> import pystream as ps
    >>> ps.simd_level() in ps.SIMD_LEVELS
    True
    """
    return SIMD_LEVELS[lib.ps_simd_level()]


def set_simd_level(level: str | None) -> str:
    """Cap the SIMD level of the C kernels; returns the level in use before.

    Results do not change (every level gives the same bits), only the
    speed: this lets a benchmark time the kernels of a CPU without AVX2,
    or without SIMD, on any machine.  Not meant to be called while other
    threads run kernels.

    Parameters
    ----------
    level : {'portable', 'sse2', 'avx2', 'avx512'} or None
        The highest level to use; None lifts the cap.  A level above what
        the CPU supports uses the CPU's best.

    Returns
    -------
    str
        The level in use before the call (to restore it).

    Raises
    ------
    ValueError
        If `level` is not one of the levels.

    Examples
    --------
    >>> import pystream as ps
    >>> before = ps.set_simd_level("portable")
    >>> ps.simd_level()
    'portable'
    >>> _ = ps.set_simd_level(before)
    """
    before = simd_level()
    name = SIMD_LEVELS[-1] if level is None else level
    if name not in SIMD_LEVELS:
        raise ValueError(f"set_simd_level: {level!r} is not a SIMD level; "
                         f"choose one of {', '.join(SIMD_LEVELS)} or None")
    lib.ps_simd_set_limit(SIMD_LEVELS.index(name))
    return before


def machine() -> MachineInfo:
    """The CPU, its SIMD extensions and the SIMD level of the C kernels.

    Returns
    -------
    MachineInfo
        ``cpu``, ``cpus``, ``cpu_simd``, ``simd_best``, ``simd_level``, and
        ``line()`` to print them on one line (as the benchmarks do).

    Examples
    --------
    >>> import pystream as ps
    >>> info = ps.machine()
    >>> info.simd_level in ps.SIMD_LEVELS and info.cpus >= 1
    True
    """
    cpu, flags = _cpu_model_and_flags()
    return MachineInfo(cpu=cpu, cpus=os.cpu_count() or 1, cpu_simd=flags,
                       simd_best=SIMD_LEVELS[lib.ps_simd_best()], simd_level=simd_level())


def _apply_environment() -> None:
    """``PYSTREAM_SIMD``: the cap at import (an unknown value warns and is ignored)."""
    value = os.environ.get("PYSTREAM_SIMD", "").strip().lower()
    if not value:
        return
    if value not in SIMD_LEVELS:
        warnings.warn(f"PYSTREAM_SIMD={value!r} is not a SIMD level "
                      f"({', '.join(SIMD_LEVELS)}); ignored", RuntimeWarning, stacklevel=2)
        return
    lib.ps_simd_set_limit(SIMD_LEVELS.index(value))


_apply_environment()
