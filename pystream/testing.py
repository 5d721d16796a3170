"""Test helpers for stage and reducer authors (plugins included): each runs a
stage or reducer the way pystream does and raises ``AssertionError`` with a
clear message when a property a stage must have does not hold.

Examples
--------
>>> import numpy as np
>>> from pystream.stages.windows import Moving
>>> assert_chunk_invariant(Moving("moving_mean", 3), np.arange(20.0))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "assert_chunk_invariant",
    "assert_matches_reference",
    "assert_reducer_mergeable",
    "check_bad_inputs",
    "run_stage",
]

DEFAULT_CHUNK_SIZES: tuple[int | None, ...] = (1, 2, 3, 7, 64, None)


def _chunkings(n: int, chunk_sizes: Sequence[int | None], seed: int) -> Iterable[tuple[str, list[int]]]:
    for size in chunk_sizes:
        size = n if size is None else size
        if size >= 1:
            yield f"chunk_size={size}", [min(size, n - i) for i in range(0, n, size)] or [0]
    rng = np.random.default_rng(seed)
    for k in range(3):
        sizes, total = [], 0
        while total < n:
            step = int(rng.integers(0, 12))
            sizes.append(min(step, n - total))
            total += sizes[-1]
        yield f"random chunking #{k} (seed {seed})", sizes


def run_stage(stage: Any, data: np.ndarray, sizes: Sequence[int] | None = None,
              start: int = 0) -> np.ndarray:
    """Run `stage` over `data` cut into chunks of `sizes` (default: one chunk), as a Stream does.

    Empty chunks in `sizes` are passed through (a stage must skip them).
    Returns the concatenated output with the dtype and record shape that
    ``stage.output_meta`` announces (checked for every chunk).
    """
    data = np.asarray(data)
    if not data.dtype.isnative:  # as a Stream does: stages see native byte order
        data = data.astype(data.dtype.newbyteorder("="))
    sizes = [len(data)] if sizes is None else list(sizes)
    dt, rs = stage.output_meta(data.dtype, tuple(data.shape[1:]))
    dt = np.dtype(dt)
    chunks, i = [], 0
    for k in sizes:
        chunks.append(data[i : i + k])
        i += k
    out = []
    for c in stage(iter(chunks), start):
        if len(c) == 0:
            raise AssertionError(f"{stage.name}: yielded an empty chunk")
        if c.dtype != dt or tuple(c.shape[1:]) != tuple(rs):
            raise AssertionError(
                f"{stage.name}: yielded a chunk of {c.dtype} {c.shape[1:]}, output_meta "
                f"announced {dt} {tuple(rs)}"
            )
        out.append(np.array(c))  # copy: the stage may reuse its buffers
    return np.concatenate(out) if out else np.empty((0, *rs), dt)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":  # NaN payloads aside, bit for bit
        nan_a, nan_b = np.isnan(a), np.isnan(b)
        if not np.array_equal(nan_a, nan_b):
            return False
        a, b = np.where(nan_a, 0, a), np.where(nan_b, 0, b)
    return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def assert_chunk_invariant(stage: Any, data: np.ndarray,
                           chunk_sizes: Sequence[int | None] = DEFAULT_CHUNK_SIZES,
                           seed: int = 0) -> None:
    """Assert that every chunking of `data` gives bit-identical output.

    Parameters
    ----------
    stage : stage object
        Built once; called afresh for each chunking.
    data : array_like
        The whole input, shape ``(n, *record_shape)``.
    chunk_sizes : sequence of int or None
        Fixed chunk sizes to try (None: one chunk); three random chunkings
        with empty chunks are always tried too.
    seed : int
        Seed of the random chunkings.
    """
    data = np.asarray(data)
    whole = run_stage(stage, data)
    for label, sizes in _chunkings(len(data), chunk_sizes, seed):
        got = run_stage(stage, data, sizes)
        if not _same_bits(got, whole):
            raise AssertionError(
                f"{stage.name}: output with {label} differs from the single-chunk output "
                f"(shapes {got.shape} vs {whole.shape})"
            )


def assert_matches_reference(stage: Any, data: np.ndarray,
                             reference: Callable[[np.ndarray], Any],
                             rtol: float = 0.0, atol: float = 0.0,
                             chunk_sizes: Sequence[int | None] = DEFAULT_CHUNK_SIZES) -> None:
    """Assert that the streamed output equals ``reference(data)`` (whole array).

    With ``rtol = atol = 0`` the comparison is exact (NaN equal to NaN).
    """
    data = np.asarray(data)
    want = np.asarray(reference(data))
    for label, sizes in _chunkings(len(data), chunk_sizes, 1):
        got = run_stage(stage, data, sizes)
        if got.shape != want.shape:
            raise AssertionError(f"{stage.name}: shape {got.shape} with {label}, "
                                 f"reference {want.shape}")
        try:
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
        except AssertionError as exc:
            raise AssertionError(f"{stage.name}: differs from the reference with {label}:\n{exc}")


def check_bad_inputs(stage: Any, record_shape: tuple[int, ...] = ()) -> None:
    """Feed a battery of awkward inputs; each must give a clear exception or a correct output.

    * other dtypes (complex, object, strings): a ``TypeError`` or
      ``ValueError`` from ``output_meta`` or the first chunk, or an output
      of the announced dtype (dtype-agnostic stages such as ``nwise``),
      never a crash;
    * an empty stream: no output;
    * byte-swapped, strided, misaligned and read-only float64 input: the
      same output as a plain copy, and the input is not modified;
    * float32 input: runs and announces its output dtype truthfully.

    `record_shape` is the shape of the records fed (default scalars; a
    multivariate stage needs records of at least 2 columns, ``(2,)``).
    """
    for odd in (np.ones(4, complex), np.array(["a", "b"]), np.array([object(), object()])):
        try:
            run_stage(stage, odd)  # checks the announced dtype and record shape
        except (TypeError, ValueError):
            pass
    empty = run_stage(stage, np.empty((0, *record_shape)))
    if len(empty):
        raise AssertionError(f"{stage.name}: produced output for an empty stream")
    base = np.random.default_rng(0).normal(size=(64, *record_shape))
    want = run_stage(stage, base.copy(), [5] * 12 + [4])
    readonly = base.copy()
    readonly.flags.writeable = False
    raw = np.zeros(base.size * 8 + 1, np.uint8)
    misaligned = raw[1:].view(np.float64).reshape(base.shape)
    misaligned[:] = base
    variants = {
        "byte-swapped": base.astype(base.dtype.newbyteorder()),
        "strided": np.repeat(base, 2, axis=0)[::2],
        "misaligned": misaligned,
        "read-only": readonly,
    }
    for label, x in variants.items():
        before = x.copy()
        got = run_stage(stage, x, [5] * 12 + [4])
        if not _same_bits(got, want):
            raise AssertionError(f"{stage.name}: {label} input gives a different output")
        if not np.array_equal(x, before):
            raise AssertionError(f"{stage.name}: modified its {label} input")
    run_stage(stage, base.astype(np.float32), [7] * 9 + [1])


def assert_reducer_mergeable(factory: Callable[..., Any], data: np.ndarray,
                             splits: Sequence[int] | None = None,
                             compare: Callable[[Any, Any], bool] | None = None,
                             chunk_size: int = 7, pass_start: bool = False) -> None:
    """Assert that reducing contiguous partitions and merging them gives the serial result.

    Parameters
    ----------
    factory : callable
        ``factory()`` returns a fresh reducer state (``factory(start)`` with
        `pass_start`, for states that know their global position, such as
        :class:`pystream.Moments`).
    data : array_like
        The whole input.
    splits : sequence of int, optional
        Partition boundaries (default: thirds).
    compare : callable, optional
        ``compare(got, want) -> bool`` for results; default: recursive
        array equality (NaN equal to NaN).
    chunk_size : int
        Chunks fed to each state.
    pass_start : bool
        Call ``factory(start)`` with the partition's first global index.
    """
    data = np.asarray(data)
    n = len(data)
    bounds = [0, *(splits if splits is not None else (n // 3, 2 * n // 3)), n]
    compare = compare or _equal_results

    def reduce(lo: int, hi: int) -> Any:
        state = factory(lo) if pass_start else factory()
        for i in range(lo, hi, chunk_size):
            state.update(data[i : min(hi, i + chunk_size)])
        return state

    serial = reduce(0, n).result()
    parts = [reduce(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
    merged = parts[0]
    for p in parts[1:]:
        merged = merged.merge(p) or merged
    if not compare(merged.result(), serial):
        raise AssertionError(f"merged partitions {bounds} differ from the serial result")
    restored = type(parts[0]).from_bytes(reduce(0, n).to_bytes())
    if not compare(restored.result(), serial):
        raise AssertionError("a state restored with from_bytes(to_bytes()) differs")


def _equal_results(a: Any, b: Any) -> bool:
    """Recursive equality of results: mappings, sequences, dataclasses, objects
    with attributes, arrays and scalars (NaN equal to NaN)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if list(a) != list(b) or not all(_equal_results(a[k], b[k]) for k in a):
            return False
        # a mapping-like result may carry more than its items (e.g. per-key sums)
        return not hasattr(a, "__dict__") or _equal_attributes(a, b)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_equal_results(x, y) for x, y in zip(a, b))
    if hasattr(a, "__dataclass_fields__") and type(a) is type(b):
        return all(_equal_results(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    if hasattr(a, "__dict__") and not isinstance(a, np.ndarray):
        return _equal_attributes(a, b)
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))
    except TypeError:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))


def _equal_attributes(a: Any, b: Any) -> bool:
    va, vb = vars(a), getattr(b, "__dict__", None)
    return (type(a) is type(b) and vb is not None and va.keys() == vb.keys()
            and all(_equal_results(v, vb[k]) for k, v in va.items()))
