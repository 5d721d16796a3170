"""pystream hook implementations of pystream-signal (entry point ``pystream: signal``).

Only registrations here: the stage and reducer classes import scipy when they
are built or run, never when this module is imported.
"""

from __future__ import annotations

from pystream.hookspecs import hookimpl

from .filtering import Decimate, SosFilt
from .spectral import Welch

FAMILY = "signal"


@hookimpl
def register_stages(register):  # type: ignore[no-untyped-def]
    register("sosfilt", SosFilt, family=FAMILY,
             summary="Causal IIR filter (second-order sections), state carried across chunks",
             example="../../docs/examples/plugins/plot_signal_sosfilt.py")
    register("decimate", Decimate, family=FAMILY,
             summary="Causal anti-alias filter, then every q-th record (scipy's zero_phase=False)",
             example="../../docs/examples/plugins/plot_signal_decimate.py")


@hookimpl
def register_reducers(register):  # type: ignore[no-untyped-def]
    register("welch", Welch, family=FAMILY,
             summary="Welch power spectral density (f, Pxx); mergeable state",
             example="../../docs/examples/plugins/plot_signal_welch.py")
