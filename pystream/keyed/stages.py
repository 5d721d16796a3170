"""Stages per key: :class:`KeyedStage` runs any stage once per key over that key's
records, in one grouping pass per chunk (see ``docs/keys.rst``).

Each key has the stage's own push form, made for the key's first record and
fed the key's records in stream order, so each key's outputs are, bit for
bit, what the stage gives over that key's records alone.  The outputs of a
chunk go out in the stream's record order: a window's, scan's or EWM's output
at its input record's place, with that record's time and key; a bin (a
resample by count or by time, a session) when the key's own records complete
it, ordered by the record that labels it, with its label time and its key.

The count-preserving C stages (moving windows over records, scans, EWM) run
all keys in one C call per chunk (:mod:`pystream.keyed.kernels`); the rest run
one push form per key present in the chunk.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._checks import first_nan_record, nan_error
from .._columns import ALIGNED, KeyColumn, RowCarrier, RowMap, TimeColumn
from .._timeunits import parse_duration
from ..stages.timed import Duration, TimedStage, TimeOrder, Triple, format_time, time_values
from ..stages.kernel import KernelStage, StageState
from .grouping import KeySlots, TooManyKeys, check_max_keys, group_rows
from .kernels import KeyedStageState, KeyLimitError

__all__ = ["AttachKeys", "KeyedPusher", "KeyedStage"]


class KeyedStage(TimedStage):
    """`inner`, run per key (its outputs keep the key column).

    Parameters
    ----------
    inner : stage object
        A stage (``push(start)``, ``output_meta``) or a timed stage
        (:class:`~pystream.stages.timed.TimedStage`).
    max_keys : int, optional
        At most this many live keys; the record bringing one more raises
        :class:`~pystream.keyed.grouping.TooManyKeys` before its chunk
        changes anything.
    ttl : duration, optional
        Idle time after which a key starts afresh: a record more than `ttl`
        after its key's previous record starts a new state for that key (its
        outputs are the stage's over the key's records from there on), and
        before each chunk the keys whose last record is more than `ttl` before
        the chunk's first record are let go (memory; the outputs do not depend
        on it).  ``max_keys`` then counts the keys held after that plus the
        chunk's new keys, so where it trips depends on the chunking; the
        outputs never do.  Needs a time column, in time order.
    """

    keeps_key = True

    def __init__(self, inner: Any, max_keys: int | None = None, ttl: Any = None) -> None:
        self.inner = inner
        self.name = f"by(...).{getattr(inner, 'name', type(inner).__name__)}"
        self.max_keys = check_max_keys(max_keys, self.name)
        self.ttl_spec = ttl
        self.ttl: Any = None
        self.timed_inner = isinstance(inner, TimedStage)
        self.key_column: Any = None

    @property
    def reads_time(self) -> bool:  # type: ignore[override]
        return self.timed_inner or self.ttl_spec is not None

    def bind_columns(self, time: TimeColumn | None, key: KeyColumn | None) -> KeyedStage:
        """A copy for a stream with these time and key columns."""
        if key is None:
            raise ValueError(f"{self.name} runs per key and the stream has no key column: give "
                             "it one (from_array(x, key=k), stream.by(keys), "
                             "push(key=True))")
        bound = self.bind(time) if time is not None else self._copy()
        bound.key_column = key
        if bound.timed_inner:
            bound.inner = self.inner.bind(time)
        if self.ttl_spec is not None:
            if time is None:
                raise ValueError(f"{self.name}: ttl={self.ttl_spec!r} is measured on the time "
                                 "column, and this stream has none")
            bound.ttl = _ttl_value(self.ttl_spec, time, self.name)
        return bound

    def _copy(self) -> KeyedStage:
        return copy.copy(self)

    def output_meta(self, dtype: np.dtype, record_shape: tuple[int, ...]
                    ) -> tuple[np.dtype, tuple[int, ...]]:
        return self.inner.output_meta(dtype, record_shape)

    def output_names(self, names: tuple[str, ...] | None) -> tuple[str, ...] | None:
        f = getattr(self.inner, "output_names", None)
        return f(names) if f is not None else names

    def output_time(self) -> TimeColumn | None:
        if self.timed_inner:
            return self.inner.output_time()
        return self.time

    def push_timed(self, start: int = 0) -> KeyedPusher:
        return KeyedPusher(self, start)



def _ttl_value(ttl: Any, time: TimeColumn, where: str) -> Any:
    """`ttl` in the stored time's units (ns for calendar times)."""
    raw = ttl.value if isinstance(ttl, Duration) else ttl
    value = parse_duration(raw, time.is_datetime, f"{where}: ttl")
    if not value > 0:
        raise ValueError(f"{where}: ttl must be a positive duration, got {ttl!r}")
    return value


class _Key:
    """One key's push form and what maps its outputs back to records: `carrier`
    gives each output its time (and, for outputs that keep a record's place,
    that record's global position); `done` the position of the record that
    completes a block of records (count bins)."""

    __slots__ = ("carrier", "code", "done", "last", "pusher")

    def __init__(self, pusher: Any, code: int, carrier: RowCarrier | None = None,
                 done: RowCarrier | None = None) -> None:
        self.pusher = pusher
        self.code = code
        self.carrier = carrier
        self.done = done
        self.last: Any = None      # time of its newest record


class KeyedPusher:
    """The push form of a :class:`KeyedStage` (``send(values, time, key)`` ->
    triples; ``close()``)."""

    def __init__(self, stage: KeyedStage, start: int) -> None:
        self.stage = stage
        self.position = start
        self.slots = KeySlots(stage.max_keys, stage.name)
        kc = stage.key_column
        if kc is not None and kc.dictionary is not None:
            self.slots.describe_key = lambda c: kc.dictionary.decode(np.array([c]))[0]
        self.keys: list[_Key | None] = []
        inner = stage.inner
        self.rows = ALIGNED if stage.timed_inner else getattr(inner, "rows", lambda: ALIGNED)()
        self.order = TimeOrder(stage.name, stage.time) if stage.ttl is not None else None
        #: All keys in one C state (count-preserving C stages, without ttl), made on
        #: the first chunk (:meth:`_fast_state`); False: one push form per key.
        self.fast: Any = None

    def _fast_state(self, values: np.ndarray) -> Any:
        """The one C state of every key, when the stage is a count-preserving C kernel
        for this input (a scan of integers runs exactly, per key, instead)."""
        inner = self.stage.inner
        if self.stage.ttl is not None or not isinstance(inner, KernelStage) \
                or inner.rows() != ALIGNED or inner.kernel.startswith("resample"):
            return False
        if type(inner.new_state(values[:1], 0)) is not StageState:
            return False
        limit = -1 if self.stage.max_keys is None else self.stage.max_keys
        return KeyedStageState(inner.kernel, tuple(values.shape[1:]), limit, inner.nan_policy,
                               **inner.kernel_params)

    def _send_fast(self, values: np.ndarray, time: np.ndarray | None,
                   key: np.ndarray) -> list[Triple]:
        try:
            out = self.fast.update(values, key)
        except KeyLimitError as e:
            assert self.stage.max_keys is not None
            shown = self.slots.describe_key(e.key) if self.slots.describe_key else e.key
            raise TooManyKeys(self.stage.name, self.position + e.row, shown,
                              self.stage.max_keys) from None
        return [(out, time, key)]

    # ---------------------------------------------------------------- per key

    def _new_key(self, code: int) -> _Key:
        inner = self.stage.inner
        if self.stage.timed_inner:
            return _Key(inner.push_timed(0), code)
        rows = self.rows
        done = None if rows.step == 1 else RowCarrier(RowMap(rows.step, rows.step - 1))
        return _Key(inner.push(0), code, RowCarrier(rows), done)

    def _feed(self, k: _Key, values: np.ndarray, time: np.ndarray | None,
              positions: np.ndarray, slot: int, outs: list[tuple[Any, ...]]) -> None:
        """Feed one key's records; each output goes to `outs` as ``(values, times,
        places, slot, code)``, `places` the global position the output is put at
        (its own record's, or the one completing its block; None: the chunk's end)."""
        if self.stage.timed_inner:
            keeps = self.stage.inner.keeps_key
            for v, t, p in k.pusher.send(values, time, positions):
                outs.append((v, t, p if keeps else None, slot, k.code))
            return
        assert k.carrier is not None
        k.carrier.push(time, positions)
        if k.done is not None:
            k.done.push(None, positions)
        for v in k.pusher.send(values):
            t, p = k.carrier.claim(len(v))
            if k.done is not None:
                p = k.done.claim(len(v))[1]
            outs.append((v, t, p, slot, k.code))
        if getattr(k.pusher, "error", None) is not None:
            raise k.pusher.error

    # ---------------------------------------------------------------- protocol

    def send(self, values: np.ndarray, time: np.ndarray | None,
             key: np.ndarray | None) -> list[Triple]:
        """Feed one chunk with its columns; return the outputs it completes."""
        name = self.stage.name
        if key is None:
            raise ValueError(f"{name}: a chunk came without its key column")
        n = len(values)
        if len(key) != n:
            raise ValueError(f"{name}: {n} records but {len(key)} keys")
        if self.stage.reads_time and time is None:
            raise ValueError(f"{name}: a chunk came without its time column")
        if not n:
            return []
        if self.order is not None:
            assert time is not None
            self.order.check(time, self.position)
        if getattr(self.stage.inner, "nan_policy", None) == "raise":
            bad = first_nan_record(values)
            if bad >= 0:       # as the stages that read time: the chunk is refused whole
                raise nan_error(name, self.position + bad)
        if self.fast is None:
            self.fast = self._fast_state(values)
        if self.fast is not False:
            result = self._send_fast(values, time, key)
            self.position += n
            return result
        outs: list[tuple[Any, ...]] = []
        if self.stage.ttl is not None:
            assert time is not None
            self._let_go(time_values(time[:1])[0])
        ids = self.slots.encode(key, self.position)
        while len(self.keys) < self.slots.capacity:
            self.keys.append(None)
        order, slots, offsets = group_rows(ids, self.slots.capacity)
        positions = self.position + order
        gv = values[order] if len(slots) > 1 else values
        gt = None if time is None else (time[order] if len(slots) > 1 else time)
        if gt is not None and self.stage.reads_time:
            self._check_order(time_values(gt), key[order[offsets[:-1]]], slots, offsets,
                              positions)
        codes = key[order[offsets[:-1]]].tolist()
        for j, slot in enumerate(slots.tolist()):
            lo, hi = int(offsets[j]), int(offsets[j + 1])
            self._feed_key(slot, codes[j], gv[lo:hi], None if gt is None else gt[lo:hi],
                           positions[lo:hi], outs)
        self.position += n
        return self._assemble(outs)

    def _check_order(self, t: np.ndarray, codes: np.ndarray, slots: np.ndarray,
                     offsets: np.ndarray, positions: np.ndarray) -> None:
        """Each key's times must not go back (across chunks too); the error names the
        first record, in stream order, whose time is before its key's previous one."""
        seg = np.repeat(np.arange(len(slots)), np.diff(offsets))
        back = np.zeros(len(t), bool)
        back[1:] = (t[1:] < t[:-1]) & (seg[1:] == seg[:-1])
        lasts = [None if self.keys[s] is None else self.keys[s].last for s in slots.tolist()]
        for j, last in enumerate(lasts):
            if last is not None and t[offsets[j]] < last:
                back[offsets[j]] = True
        if back.any():
            i = int(np.flatnonzero(back)[np.argmin(positions[back])])
            j = int(seg[i])
            before = t[i - 1] if i > offsets[j] else lasts[j]
            code = int(codes[j])
            shown = self.slots.describe_key(code) if self.slots.describe_key else code
            column = self.stage.time
            raise ValueError(
                f"{self.stage.name}: time goes backwards for key {shown!r} at record "
                f"{int(positions[i])} ({format_time(t[i], column)} after "
                f"{format_time(before, column)}); a stage per key needs each key's records "
                "in time order")

    def _feed_key(self, slot: int, code: int, v: np.ndarray, t: np.ndarray | None,
                  p: np.ndarray, outs: list[tuple[Any, ...]]) -> None:
        """Feed one key's records, starting it afresh after each gap over the ttl."""
        ttl = self.stage.ttl
        k = self.keys[slot]
        if ttl is None:
            if k is None:
                k = self.keys[slot] = self._new_key(code)
            self._feed(k, v, t, p, slot, outs)
            if t is not None:
                k.last = time_values(t[-1:])[0]
            return
        assert t is not None
        tv = time_values(t)
        prev = np.empty(len(tv), tv.dtype)
        prev[1:] = tv[:-1]
        prev[0] = tv[0] if k is None or k.last is None else k.last
        cuts = [0, *np.flatnonzero(tv - prev > ttl).tolist(), len(tv)]
        for a, b in zip(cuts[:-1], cuts[1:]):
            if a == b:
                continue
            if k is None or a > 0 or (k.last is not None and tv[0] - k.last > ttl):
                if k is not None:
                    self._close_key(k, slot, int(p[a]), outs)
                k = self.keys[slot] = self._new_key(code)
            self._feed(k, v[a:b], t[a:b], p[a:b], slot, outs)
            k.last = tv[b - 1]

    def _close_key(self, k: _Key, slot: int, at: int | None,
                   outs: list[tuple[Any, ...]]) -> None:
        """A key's pending outputs (a bin left open) when its state ends, put at
        global position `at` (the record that restarts the key; None: the end)."""
        if self.stage.timed_inner:
            closed = [(v, t) for v, t, _p in k.pusher.close()]
        else:
            assert k.carrier is not None
            closed = [(v, k.carrier.claim(len(v))[0]) for v in k.pusher.close()]
        for v, t in closed:
            outs.append((v, t, None if at is None else np.full(len(v), at, np.int64),
                         slot, k.code))

    def _let_go(self, now: Any) -> None:
        """Before a chunk whose first record is at `now`: drop the keys whose last
        record is more than the ttl before it (any record of theirs from now on
        would start them afresh anyway, so the outputs do not change; keys with
        an open bin are kept until it is emitted)."""
        ttl = self.stage.ttl
        idle = [s for s, k in enumerate(self.keys)
                if k is not None and k.last is not None and now - k.last > ttl
                and not self._has_pending(k)]
        if idle:
            self.slots.remove(np.asarray([self.keys[s].code for s in idle], np.int64))
            for s in idle:
                self.keys[s] = None

    def _has_pending(self, k: _Key) -> bool:
        """Whether the key's stage may hold an open bin: such a key is kept until its
        next record or the end of the stream, where the bin is emitted, so the
        outputs' order does not depend on where the chunks end."""
        if self.stage.timed_inner:
            return not self.stage.inner.keeps_key
        return self.rows.step != 1

    def close(self) -> list[Triple]:
        """The outputs still pending at the end of the stream (open bins), in key order."""
        outs: list[tuple[Any, ...]] = []
        for slot, k in enumerate(self.keys):
            if k is not None:
                self._close_key(k, slot, None, outs)
        return self._assemble(outs)

    # ---------------------------------------------------------------- outputs

    def _assemble(self, outs: list[tuple[Any, ...]]) -> list[Triple]:
        """One output chunk, each output at its place: its record's, or the record
        completing its block; outputs whose place is not known (bins by time, which
        the key's stage closes while reading the chunk; open bins at the end) come
        after, by label time, then key (first seen)."""
        outs = [o for o in outs if len(o[0])]
        if not outs:
            return []
        values = np.concatenate([o[0] for o in outs])
        times = None if outs[0][1] is None else np.concatenate([o[1] for o in outs])
        slot = np.concatenate([np.full(len(o[0]), o[3], np.int64) for o in outs])
        keys = np.concatenate([np.full(len(o[0]), o[4], np.int64) for o in outs])
        unknown = np.iinfo(np.int64).max
        place = np.concatenate([o[2] if o[2] is not None else np.full(len(o[0]), unknown)
                                for o in outs])
        columns = (slot, time_values(times), place) if times is not None else (slot, place)
        order = np.lexsort(columns)
        if not np.array_equal(order, np.arange(len(order))):
            values, keys = values[order], keys[order]
            if times is not None:
                times = times[order]
        return [(values, times, keys)]


class AttachKeys(TimedStage):
    """Give a stream's records the keys of an array aligned with them (``by(array)``):
    record ``i`` gets ``keys[i]``; the stream must have exactly ``len(keys)`` records."""

    reads_time = False
    name = "by"

    def __init__(self, codes: np.ndarray, column: KeyColumn) -> None:
        self.codes = codes
        self.column = column

    def bind_columns(self, time: TimeColumn | None, key: KeyColumn | None) -> AttachKeys:
        bound = copy.copy(self)
        bound.time = time
        return bound

    def output_key(self, key: KeyColumn | None) -> KeyColumn | None:
        return self.column

    def output_meta(self, dtype: np.dtype, record_shape: tuple[int, ...]
                    ) -> tuple[np.dtype, tuple[int, ...]]:
        return dtype, record_shape

    def push_timed(self, start: int = 0) -> _AttachPusher:
        return _AttachPusher(self, start)


class _AttachPusher:
    """The push form of :class:`AttachKeys`."""

    def __init__(self, stage: AttachKeys, start: int) -> None:
        self.stage = stage
        self.position = start
        self.done = False
        self.error: BaseException | None = None

    def send(self, values: np.ndarray, time: np.ndarray | None,
             key: np.ndarray | None) -> list[Triple]:
        codes = self.stage.codes
        a = self.position
        b = a + len(values)
        if b > len(codes):
            raise ValueError(f"by: {len(codes)} keys were given, and the stream has more "
                             f"records (record {len(codes)} has no key)")
        self.position = b
        return [(values, time, codes[a:b])]

    def close(self) -> list[Triple]:
        if self.position != len(self.stage.codes):
            raise ValueError(f"by: {len(self.stage.codes)} keys were given for "
                             f"{self.position} records; give one key per record")
        return []
