"""Welch's power spectral density as a mergeable reducer state (:class:`Welch`).

Segments of ``nperseg`` records start at the global indices ``0, h, 2h, ...``
(``h = nperseg - noverlap``), as in ``scipy.signal.welch(x, axis=0)``: only
full segments count.  Each segment's periodogram is computed with scipy's
own :class:`scipy.signal.ShortTimeFFT` (same detrending, window and scaling
as ``welch``).

Determinism: the periodograms are summed in a fixed binary tree over the
global segment index (a block of ``2**L`` aligned segments is always the sum
of its two halves; the final sum folds the maximal blocks left to right), so
the result is bit-identical for any chunking and for any contiguous
partitioning merged in order.  It differs from scipy's ``mean`` (another
summation order) by a few ulps (rtol ~1e-15).

Merging: a state keeps the raw records it cannot use yet: the *tail* (from
the start of its first incomplete segment) and, when it does not start at
record 0, the *head* (its first records, up to the end of the last segment
that starts before it), so ``left.merge(right)`` computes the segments that
straddle the boundary.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ._common import as_chunk, check_int, pack, unpack

__all__ = ["Welch"]

_DETRENDS = ("constant", "linear", False)
_SCALINGS = ("density", "spectrum")


def _window_spec(window: Any, where: str) -> tuple[Any, np.ndarray | None]:
    """(JSON-able spec or None, array or None)."""
    if isinstance(window, str):
        return window, None
    if isinstance(window, tuple):
        if not window or not isinstance(window[0], str):
            raise ValueError(f"{where}: a window tuple must start with the window's name, got {window!r}")
        for v in window[1:]:
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise TypeError(f"{where}: window tuple parameters must be numbers, got {window!r}")
        return [window[0], *(float(v) for v in window[1:])], None
    try:
        a = np.asarray(window)
    except Exception:
        a = np.asarray([], dtype=object)
    if a.dtype.kind not in "iuf" or a.ndim != 1 or not len(a):
        raise TypeError(f"{where}: window must be a name, a (name, *params) tuple or a 1-D "
                        f"array of real numbers, not {type(window).__name__}")
    if not np.isfinite(a).all():
        raise ValueError(f"{where}: window holds non-finite values")
    return None, a.astype(np.float64)


def _push(stack: list[tuple[int, int, np.ndarray]], level: int, i0: int, arr: np.ndarray) -> None:
    """Append nodes ``arr`` (level `level`, indices ``i0, i0+1, ...``) to the block stack.

    Sibling blocks are always combined as ``left + right``: every block
    of ``2**L`` segments is the same full binary tree of sums whatever the
    order the segments arrived in.
    """
    leftovers: list[tuple[int, int, np.ndarray]] = []  # rightmost odd nodes, by level
    while len(arr):
        if i0 % 2:  # the first node is a right sibling: its left one is on the stack, or absent
            top = stack[-1] if stack else None
            if top is not None and top[0] == level and top[1] == i0 - 1:
                stack.pop()
                arr = np.concatenate((top[2][None], arr))
                i0 -= 1
            else:
                stack.append((level, i0, arr[0]))
                arr = arr[1:]
                i0 += 1
                continue
        m = len(arr)
        if m % 2:
            leftovers.append((level, i0 + m - 1, arr[-1]))
        arr = arr[0:m - 1:2] + arr[1:m:2] if m % 2 else arr[0::2] + arr[1::2]
        i0 //= 2
        level += 1
    stack.extend(reversed(leftovers))


class Welch:
    """Welch PSD estimate (mergeable reducer state): ``result()`` gives ``(f, Pxx)``.

    Equals ``scipy.signal.welch(x, fs, window, nperseg, noverlap, nfft,
    detrend, return_onesided, scaling, axis=0, average="mean")`` on the whole
    stream (rtol ~1e-15; scipy sums the periodograms in another order).

    Parameters
    ----------
    fs : float, default 1.0
    window : str, tuple or 1-D array, default "hann"
        As ``scipy.signal.get_window`` (periodic windows).
    nperseg : int, optional
        Segment length; default 256 (or the window's length for an array).
    noverlap : int, optional
        Default ``nperseg // 2``; ``0 <= noverlap < nperseg``.
    nfft : int, optional
        FFT length (zero padding), default `nperseg`.
    detrend : {"constant", "linear", False}
    return_onesided : bool, default True
    scaling : {"density", "spectrum"}
    average : {"mean"}
        ``"median"`` is refused: a median of periodograms cannot be merged.
    start : int, default 0
        Global index of the first record this state will see (for the
        states of partitions after the first).
    """

    name = "welch"
    _KIND = "welch"

    def __init__(self, fs: float = 1.0, window: Any = "hann", nperseg: int | None = None,
                 noverlap: int | None = None, nfft: int | None = None, detrend: Any = "constant",
                 return_onesided: bool = True, scaling: str = "density", average: str = "mean",
                 start: int = 0) -> None:
        w = self.name
        if isinstance(fs, (bool, np.bool_)) or not isinstance(fs, (int, float, np.integer, np.floating)):
            raise TypeError(f"{w}: fs must be a number, not {type(fs).__name__}")
        fs = float(fs)
        if not (math.isfinite(fs) and fs > 0):
            raise ValueError(f"{w}: fs must be a positive finite number, got {fs}")
        spec, warr = _window_spec(window, w)
        if nperseg is None:
            nperseg = 256 if warr is None else len(warr)
        nperseg = check_int(nperseg, "nperseg", w, minimum=1)
        if warr is not None and len(warr) != nperseg:
            raise ValueError(f"{w}: nperseg={nperseg} does not equal the window's length {len(warr)}")
        self._noverlap_param = None if noverlap is None else check_int(noverlap, "noverlap", w, 0)
        noverlap = nperseg // 2 if noverlap is None else self._noverlap_param
        if noverlap >= nperseg:
            raise ValueError(f"{w}: noverlap={noverlap} must be less than nperseg={nperseg}")
        self._nfft_param = None if nfft is None else check_int(nfft, "nfft", w, 1)
        nfft = nperseg if nfft is None else self._nfft_param
        if nfft < nperseg:
            raise ValueError(f"{w}: nfft={nfft} must be >= nperseg={nperseg}")
        if not any(detrend is d or (isinstance(detrend, str) and detrend == d) for d in _DETRENDS):
            if callable(detrend):
                raise TypeError(f"{w}: callable detrend functions are not supported (states must "
                                "serialize); use 'constant', 'linear' or False")
            raise ValueError(f"{w}: detrend must be 'constant', 'linear' or False, got {detrend!r}")
        if not isinstance(return_onesided, (bool, np.bool_)):
            raise TypeError(f"{w}: return_onesided must be a bool")
        if scaling not in _SCALINGS:
            raise ValueError(f"{w}: scaling must be 'density' or 'spectrum', got {scaling!r}")
        if average == "median":
            raise ValueError(f"{w}: average='median' is not supported (a median of segment "
                             "periodograms cannot be accumulated or merged); use average='mean'")
        if average != "mean":
            raise ValueError(f"{w}: average must be 'mean', got {average!r}")
        self.start = check_int(start, "start", w, minimum=0)
        self.fs, self.nperseg, self.noverlap, self.nfft = fs, nperseg, noverlap, nfft
        self.detrend = detrend
        self.return_onesided = bool(return_onesided)
        self.scaling = scaling
        self._spec = spec
        if warr is None:
            from scipy.signal import get_window

            try:
                warr = np.asarray(get_window(tuple(spec) if isinstance(spec, list) else spec, nperseg),
                                  dtype=np.float64)
            except Exception as e:
                raise ValueError(f"{w}: invalid window {window!r}: {e}") from None
        self.window = warr
        self.hop = nperseg - noverlap
        self._sft: Any = None
        # data
        self.count = 0
        self.dtype: np.dtype | None = None           # result_type of the inputs
        self.record_shape: tuple[int, ...] | None = None
        self.first_seg = -(-self.start // self.hop)   # first segment starting at >= start
        self.next_seg = self.first_seg               # first segment not computed yet
        self.buf: np.ndarray | None = None           # records [next_seg*hop, stop), (m, width)
        self.head: np.ndarray | None = None          # records [start, start + len(head)), (m, width)
        self.blocks: list[tuple[int, int, np.ndarray]] = []
        ends = (self.first_seg - 1) * self.hop + nperseg  # end of the last segment starting before
        self.head_len = max(0, ends - self.start) if self.start else 0

    # -- helpers -----------------------------------------------------------------------------

    @property
    def stop(self) -> int:
        """Global index after the last record seen."""
        return self.start + self.count

    @property
    def nsegments(self) -> int:
        """Number of complete segments summed so far."""
        return sum(1 << level for level, _, _ in self.blocks)

    def _params(self) -> dict[str, Any]:
        return {"fs": self.fs, "window": self._spec, "nperseg": self.nperseg,
                "noverlap": self._noverlap_param, "nfft": self._nfft_param,
                "detrend": self.detrend, "return_onesided": self.return_onesided,
                "scaling": self.scaling}

    def __repr__(self) -> str:
        return (f"<Welch [{self.start}, {self.stop}) nperseg={self.nperseg} "
                f"noverlap={self.noverlap}: {self.nsegments} segments>")

    def _get_sft(self) -> Any:
        if self._sft is None:
            from scipy.signal import ShortTimeFFT

            self._sft = ShortTimeFFT(self.window, self.hop, self.fs,
                                     fft_mode="onesided" if self.return_onesided else "twosided",
                                     mfft=self.nfft,
                                     scale_to="psd" if self.scaling == "density" else "magnitude",
                                     phase_shift=None)
        return self._sft

    def _periodograms(self, data: np.ndarray, nseg: int) -> np.ndarray:
        """Periodograms of the `nseg` segments starting at data[0], data[hop], ...: (nseg, width, nfreq)."""
        sft = self._get_sft()
        x = np.ascontiguousarray(data[: (nseg - 1) * self.hop + self.nperseg].T)
        p = sft.spectrogram(x, detr=None if self.detrend is False else self.detrend,
                            p0=0, p1=nseg, k_offset=self.nperseg // 2, axis=-1)
        return np.ascontiguousarray(np.moveaxis(p.real if np.iscomplexobj(p) else p, -1, 0),
                                    dtype=np.float64)

    def _check_same(self, other: Any) -> None:
        if not isinstance(other, Welch):
            raise TypeError(f"welch.merge: expected a Welch state, not {type(other).__name__}")
        if self._params() != other._params() or not np.array_equal(self.window, other.window):
            raise ValueError("welch.merge: the states have different parameters")

    # -- reducer protocol --------------------------------------------------------------------

    def update(self, chunk: np.ndarray) -> Welch:
        """Feed a chunk of shape ``(k, *record_shape)``; returns self."""
        where = f"welch: chunk at record {self.stop}"
        chunk = as_chunk(chunk, where)
        rs = tuple(chunk.shape[1:])
        if self.record_shape is None:
            self.record_shape = rs
        elif rs != self.record_shape:
            raise ValueError(f"{where} has records of shape {rs}, this state holds {self.record_shape}")
        self.dtype = chunk.dtype if self.dtype is None else np.result_type(self.dtype, chunk.dtype)
        k = len(chunk)
        if not k:
            return self
        rows = chunk.reshape(k, -1)
        if len(self.head if self.head is not None else ()) < self.head_len:
            have = 0 if self.head is None else len(self.head)
            part = rows[: self.head_len - have]
            self.head = part.copy() if self.head is None else np.concatenate((self.head, part))
        seg0 = self.next_seg * self.hop           # global index of buf[0]
        stop = self.stop + k
        if self.buf is not None and len(self.buf):
            data = np.concatenate((self.buf, rows))
        else:
            skip = max(0, seg0 - self.stop)       # records before the next segment's start
            data = rows[skip:]
        self.count += k
        nseg = (stop - self.nperseg - seg0) // self.hop + 1 if stop - seg0 >= self.nperseg else 0
        if nseg > 0:
            _push(self.blocks, 0, self.next_seg, self._periodograms(data, nseg))
            self.next_seg += nseg
        cut = self.next_seg * self.hop - seg0
        self.buf = data[cut:].copy() if cut < len(data) else data[:0].copy()
        return self

    def merge(self, other: Welch) -> Welch:
        """Merge the state of the records right after this state's; returns self."""
        self._check_same(other)
        if other.start != self.stop:
            raise ValueError(f"welch.merge: the states are not contiguous: this one stops at record "
                             f"{self.stop}, the other starts at {other.start} (create it with "
                             f"welch(..., start={self.stop}))")
        if other.dtype is not None:
            if self.record_shape is not None and other.record_shape is not None \
                    and self.record_shape != other.record_shape:
                raise ValueError(f"welch.merge: records of shape {self.record_shape} and "
                                 f"{other.record_shape}")
            self.dtype = other.dtype if self.dtype is None else np.result_type(self.dtype, other.dtype)
            if self.record_shape is None:
                self.record_shape = other.record_shape
        if not other.count:
            return self
        ohead = other.head if other.head is not None else np.empty((0, 0))
        # the head of the merged state
        if len(self.head if self.head is not None else ()) < self.head_len:
            have = self.head if self.head is not None else ohead[:0]
            self.head = np.concatenate((have, ohead[: self.head_len - len(have)]))
        # segments straddling the boundary: from self.next_seg to other.first_seg - 1
        seg0 = self.next_seg * self.hop
        straddle = max(0, other.first_seg - self.next_seg)
        if straddle:
            junction = np.concatenate((self.buf, ohead)) if self.buf is not None else ohead
            avail = seg0 + len(junction)
            complete = min(straddle, (avail - self.nperseg - seg0) // self.hop + 1
                           if avail - seg0 >= self.nperseg else 0)
            if complete:
                _push(self.blocks, 0, self.next_seg, self._periodograms(junction, complete))
                self.next_seg += complete
        else:
            junction = None
            complete = 0
        for level, index, arr in other.blocks:
            _push(self.blocks, level, index, arr[None])
        if straddle and complete < straddle:
            # the other state is shorter than its head: it holds all its records in ohead
            self.buf = junction[self.next_seg * self.hop - seg0:].copy()
        else:
            self.next_seg = other.next_seg
            self.buf = other.buf.copy() if other.buf is not None else None
        self.count += other.count
        return self

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """``(f, Pxx)``: frequencies and the PSD (or power spectrum), shape ``(nfreq, *record_shape)``."""
        rs = self.record_shape or ()
        if not self.count:
            return np.empty((0, *rs)), np.empty((0, *rs))
        out_dtype = np.result_type(self.dtype, np.complex64)
        out_dtype = np.empty(0, out_dtype).real.dtype
        if not self.blocks:
            if self.start == 0 and self.buf is not None and len(self.buf) == self.count:
                # shorter than nperseg: scipy shrinks nperseg to the length (with a warning)
                return self._short_result()
            raise ValueError(f"welch: the state [{self.start}, {self.stop}) holds no complete "
                             "segment; merge it with the preceding partitions first")
        total = self.blocks[0][2].copy()
        for _, _, arr in self.blocks[1:]:
            total = total + arr
        if self.return_onesided:
            total[..., 1:-1 if self.nfft % 2 == 0 else None] *= 2
        pxx = total / self.nsegments
        pxx = np.moveaxis(pxx.reshape(*rs, -1), -1, 0).astype(out_dtype)
        return self._get_sft().f, pxx

    def _short_result(self) -> tuple[np.ndarray, np.ndarray]:
        from scipy.signal import welch

        x = self.buf.reshape(self.count, *(self.record_shape or ()))
        window = self.window if self._spec is None else (
            tuple(self._spec) if isinstance(self._spec, list) else self._spec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # re-issued below with our name
            f, p = welch(x, self.fs, window=window, nperseg=self.nperseg,
                         noverlap=self._noverlap_param, nfft=self._nfft_param, detrend=self.detrend,
                         return_onesided=self.return_onesided, scaling=self.scaling, axis=0)
        warnings.warn(f"welch: nperseg={self.nperseg} is greater than the stream's length "
                      f"{self.count}, using nperseg={self.count}", UserWarning, stacklevel=3)
        return f, p

    # -- serialization -----------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Versioned, CRC-checked bytes (see :meth:`from_bytes`)."""
        meta = {"params": self._params(), "start": self.start, "count": self.count,
                "dtype": None if self.dtype is None else self.dtype.str,
                "record_shape": None if self.record_shape is None else list(self.record_shape),
                "next_seg": self.next_seg,
                "blocks": [[lv, ix] for lv, ix, _ in self.blocks]}
        arrays = {"window": self.window}
        if self.buf is not None:
            arrays["buf"] = self.buf
        if self.head is not None:
            arrays["head"] = self.head
        for i, (_, _, arr) in enumerate(self.blocks):
            arrays[f"b{i}"] = arr
        return pack(self._KIND, meta, arrays)

    @classmethod
    def from_bytes(cls, data: Any) -> Welch:
        """Rebuild a state from :meth:`to_bytes`; ValueError for corrupt bytes."""
        meta, arrays = unpack(cls._KIND, data, "Welch.from_bytes")
        try:
            p = dict(meta["params"])
            window = arrays["window"] if p["window"] is None else (
                tuple(p["window"]) if isinstance(p["window"], list) else p["window"])
            new = cls(p["fs"], window, p["nperseg"], p["noverlap"], p["nfft"], p["detrend"],
                      p["return_onesided"], p["scaling"], "mean", meta["start"])
            new.count = check_int(meta["count"], "count", "Welch", 0)
            new.dtype = None if meta["dtype"] is None else np.dtype(meta["dtype"])
            new.record_shape = None if meta["record_shape"] is None else tuple(meta["record_shape"])
            new.next_seg = check_int(meta["next_seg"], "next_seg", "Welch", new.first_seg)
            new.buf = arrays.get("buf")
            new.head = arrays.get("head")
            new.blocks = [(int(lv), int(ix), arrays[f"b{i}"]) for i, (lv, ix) in enumerate(meta["blocks"])]
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"Welch.from_bytes: malformed state ({e})") from None
        return new

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (type(self).from_bytes, (self.to_bytes(),))

    def copy(self) -> Welch:
        return self.from_bytes(self.to_bytes())
