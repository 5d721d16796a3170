"""Exact rational arithmetic of least squares: the normal equations solved on
integers, statistics rounded once to float64, and the pure-Python slow twin
of the C cross-product kernel (``csrc/crossprod.c``).

The C state hands over every sum of products as a Python ``int`` times one
common power of two (:func:`entry_ints`).  :func:`solve` runs fraction-free
Gauss-Jordan elimination (Bareiss) on those integers, so coefficients,
residual sum of squares and the diagonal of ``(X'X)^-1`` are exact
rationals; :func:`to_float` and :func:`sqrt_float` round them once,
correctly, to float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["ExactSolution", "RankDeficient", "dependent_columns", "entry_ints",
           "exact_crossproducts", "solve", "sqrt_float", "to_float", "triangle_index"]

#: Exponent of bin 0 of the C state: bin k weighs 2**(BIN_BITS * k - BIN_BIAS).
BIN_BIAS = 2148
#: Payload bits of a normalised bin.
BIN_BITS = 4


def triangle_index(m: int) -> list[list[int]]:
    """``idx[a][b]``: the entry of pair (a, b) in the row-major upper triangle
    of an ``m x m`` symmetric matrix (the C state's order)."""
    idx = [[0] * m for _ in range(m)]
    e = 0
    for a in range(m):
        for b in range(a, m):
            idx[a][b] = idx[b][a] = e
            e += 1
    return idx


def entry_ints(low: np.ndarray, top: np.ndarray) -> list[int]:
    """The exact integer of each entry from the normalised bins of the C state.

    Parameters
    ----------
    low : ndarray of uint8, shape (entries, width - 1)
        Bins 0..width-2 of each entry (0..15 each).
    top : ndarray of int64, shape (entries,)
        The top bin (the sign: -1 or 0).

    Returns
    -------
    list of int
        ``sum_k low[e, k] * 16**k + top[e] * 16**(width - 1)``.

    Examples
    --------
    >>> entry_ints(np.array([[1, 2, 3]], np.uint8), np.array([-1]))
    [-3295]
    """
    shift = BIN_BITS * low.shape[1]
    if low.shape[1] % 2:
        low = np.concatenate([low, np.zeros((len(low), 1), np.uint8)], axis=1)
    packed = low[:, 0::2] | (low[:, 1::2] << 4)          # two bins a byte
    return [int.from_bytes(row.tobytes(), "little") + (int(t) << shift)
            for row, t in zip(packed, top.tolist())]


def to_float(q: Fraction | int) -> float:
    """``q`` rounded once to float64 (``inf`` beyond the float64 range).

    Examples
    --------
    >>> to_float(Fraction(1, 3)) == 1 / 3, to_float(10 ** 400)
    (True, inf)
    """
    try:
        return float(q)
    except OverflowError:
        return math.inf if q > 0 else -math.inf


def sqrt_float(q: Fraction | int) -> float:
    """The square root of a non-negative rational, correctly rounded to float64.

    Examples
    --------
    >>> sqrt_float(Fraction(2)) == math.sqrt(2.0), sqrt_float(Fraction(1, 4))
    (True, 0.5)
    """
    q = Fraction(q)
    if q < 0:
        raise ValueError(f"sqrt_float: negative argument {q}")
    if q == 0:
        return 0.0
    a, b = q.numerator, q.denominator
    # 2t chosen so that a * 4**t / b has at least 112 bits: the integer root
    # then has >= 56 bits, and a sticky half unit rounds it correctly.
    t = (114 - (a.bit_length() - b.bit_length())) // 2
    scaled = Fraction(a * 4 ** t, b) if t >= 0 else Fraction(a, b * 4 ** (-t))
    n = scaled.numerator // scaled.denominator
    r = math.isqrt(n)
    exact = scaled.denominator == 1 and r * r == n
    value = Fraction(2 * r + (0 if exact else 1)) / Fraction(2) ** (t + 1)
    return to_float(value)


class RankDeficient(ValueError):
    """The regressors are linearly dependent (exactly, over the data)."""

    def __init__(self, message: str, dependent: list[int]) -> None:
        super().__init__(message)
        self.dependent = dependent


@dataclass(frozen=True)
class ExactSolution:
    """The exact least-squares solution (rationals in the data's units).

    ``coef``: the coefficients; ``inv_diag``: the diagonal of ``(X'X)^-1``
    in units of the common scale ``2**-scale`` (so ``rss * inv_diag`` is
    scale-free); ``rss``: the residual sum of squares in units of
    ``2**scale``.
    """

    coef: list[Fraction]
    inv_diag: list[Fraction]
    rss: Fraction


def solve(gram: list[list[int]], p: int) -> ExactSolution:
    """Solve the normal equations of a Gram matrix exactly.

    Parameters
    ----------
    gram : list of list of int
        The symmetric ``(p + 1) x (p + 1)`` matrix ``Z'Z`` of the regressors
        (first `p` columns) and the response (last), all in units of one
        common power of two.
    p : int
        Number of regressors.

    Returns
    -------
    ExactSolution

    Raises
    ------
    RankDeficient
        If ``X'X`` is singular (its :attr:`~RankDeficient.dependent` lists
        the regressors that are combinations of the ones before them).

    Examples
    --------
    >>> s = solve([[2, 3, 5], [3, 5, 8], [5, 8, 13]], 2)   # z = (1, x, y): (1, 1, 2), (1, 2, 3)
    >>> [str(c) for c in s.coef], s.rss
    (['1', '1'], Fraction(0, 1))
    """
    rows = [[gram[i][j] for j in range(p)] + [gram[i][p]] + [int(i == j) for j in range(p)]
            for i in range(p)]
    prev = 1
    for k in range(p):
        pivot_row = rows[k]
        pivot = pivot_row[k]
        if pivot == 0:
            dep = dependent_columns(gram, p)
            raise RankDeficient("singular", dep)
        # Columns left of k are zero off the diagonal, and identity columns
        # right of k are zero but on their own row: only these change.
        active = [*range(k + 1, p + 1), *range(p + 1, p + 2 + k)]
        for i in range(p):
            if i == k:
                continue
            row = rows[i]
            factor = row[k]
            if factor:
                for j in active:
                    row[j] = (pivot * row[j] - factor * pivot_row[j]) // prev   # exact (Sylvester)
            elif pivot != prev:
                for j in active:
                    row[j] = pivot * row[j] // prev
            row[k] = 0
            if i > k:
                row[p + 1 + i] = pivot * row[p + 1 + i] // prev
        prev = pivot
    det = prev
    coef = [Fraction(rows[j][p], det) for j in range(p)]
    inv_diag = [Fraction(rows[j][p + 1 + j], det) for j in range(p)]
    rss = Fraction(gram[p][p]) - sum((c * gram[j][p] for j, c in enumerate(coef)), Fraction(0))
    return ExactSolution(coef, inv_diag, rss)


def dependent_columns(gram: list[list[int]], p: int) -> list[int]:
    """The regressors (among the first `p` of `gram`) that are exact linear
    combinations of the regressors before them: rational elimination of the
    Gram matrix with the zero pivots skipped.

    Examples
    --------
    >>> dependent_columns([[1, 2, 0], [2, 4, 0], [0, 0, 1]], 2)
    [1]
    """
    a = [[Fraction(gram[i][j]) for j in range(p)] for i in range(p)]
    dependent = []
    for k in range(p):
        pivot = a[k][k]
        if pivot == 0:      # the Schur complement of a Gram matrix is PSD: row k is 0
            dependent.append(k)
            continue
        for i in range(k + 1, p):
            f = a[i][k] / pivot
            if f:
                for j in range(k, p):
                    a[i][j] -= f * a[k][j]
    return dependent


def _split(x: float) -> tuple[int, int]:
    """``x`` as ``m * 2**e`` with integers (``x`` finite)."""
    num, den = x.as_integer_ratio()
    return num, -(den.bit_length() - 1)


def exact_crossproducts(z: Any) -> list[Fraction]:
    """Slow twin of the C kernel: the exact sums ``sum_r z[r, a] * z[r, b]``
    for ``a <= b`` (row-major upper triangle), records with a non-finite
    value left out, as Fractions.

    Examples
    --------
    >>> exact_crossproducts(np.array([[1.0, 0.1], [1.0, np.nan]]))[1] == Fraction(0.1)
    True
    """
    z = np.asarray(z, dtype=np.float64)
    m = z.shape[1]
    sums = [Fraction(0)] * (m * (m + 1) // 2)
    for row in z.tolist():
        if not all(math.isfinite(v) for v in row):
            continue
        parts = [_split(v) for v in row]
        e = 0
        for a in range(m):
            ma, xa = parts[a]
            for b in range(a, m):
                mb, xb = parts[b]
                sums[e] += Fraction(ma * mb) * Fraction(2) ** (xa + xb)
                e += 1
    return sums
