"""pystream-signal: scipy.signal building blocks as streaming pystream stages.

Registers (through the ``pystream`` entry-point group, family ``"signal"``):

- stage ``sosfilt(sos, zi=None)``: causal IIR filtering by second-order sections;
- stage ``decimate(q, n=None, ftype="iir")``: causal anti-alias filter + every q-th record;
- reducer ``welch(fs=1.0, window="hann", nperseg=256, ...)``: Welch PSD, mergeable.

>>> import numpy as np, pystream as ps                     # doctest: +SKIP
>>> from scipy.signal import butter                        # doctest: +SKIP
>>> sos = butter(4, 0.1, output="sos")                     # doctest: +SKIP
>>> ps.from_array(np.random.rand(10_000)).sosfilt(sos=sos).to_array()   # doctest: +SKIP
"""

from __future__ import annotations

from .filtering import Decimate, DecimateState, SosFilt, SosfiltState
from .spectral import Welch

__version__ = "0.1.0"
__all__ = ["Decimate", "DecimateState", "SosFilt", "SosfiltState", "Welch", "__version__"]
