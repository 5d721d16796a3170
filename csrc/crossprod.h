/*
 * crossprod.h -- public C API of the exact cross-product state of least
 * squares (issue 21): n, X'X, X'y and y'y accumulated *exactly*.
 *
 * A state reads records of `ncols` float64 values chosen by byte offsets
 * (the regressors, then the response) and, with `intercept`, an implicit
 * leading column of ones.  Call that augmented record z (m = ncols +
 * intercept values).  For every pair a <= b of z's columns the state holds
 * the exact sum of z_a * z_b over the records, as a fixed-point integer:
 *
 *   every double is m * 2**e with an integer |m| < 2**53 and
 *   e in [-1074, 971]; with x = e + 1074 it is also
 *   (m << (x & 3)) * 2**(4 (x >> 2) - 1074): a 56-bit integer on a 4-bit
 *   grid.  Entry (a, b) is an array of "bins": bin k weighs
 *   2**(4k - 2148); the product of two values is one 64x64 -> 128-bit
 *   integer product added to bin (xa >> 2) + (xb >> 2) (no shift).  Every
 *   PS_XP_FLUSH records the bins are normalised (carries moved up so every
 *   bin but the top one holds 0..15): no bin can overflow between
 *   normalisations (|adds| < 2**112, 2**13 of them).  A normalised state is the canonical
 *   representation of the exact sums, so any chunking, partitioning and
 *   merge order give the same bytes.
 *
 * The window of bins [lo, hi) is shared by all entries and grows to the
 * hull of what the data's exponents need (plus PS_XP_HEADROOM bins above
 * the largest product for the carries of up to 2**63 records), so a state
 * costs entries * (hi - lo) * 16 bytes: about a kilobyte per entry for
 * data within a few binades, at most 1072 * 16 = 17152 bytes per entry.
 *
 * Records holding a NaN or an infinity in one of their columns never
 * reach the bins: they are counted (NaN records, inf-only records) and
 * the first one's global index and column are kept, so the Python layer
 * applies nan_policy.  Zero is treated as 0 * 2**-52 (it adds nothing).
 */
#ifndef PYSTREAM_CROSSPROD_H
#define PYSTREAM_CROSSPROD_H

#include <stddef.h>
#include <stdint.h>

#include "pystream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cffi-cdef-begin */

typedef struct ps_xprod ps_xprod;

/* What a state holds, besides its bins. */
typedef struct {
    int64_t ncols;        /* values read per record (regressors + response) */
    int64_t m;            /* columns of z: ncols + intercept */
    int64_t entries;      /* m (m + 1) / 2: the pairs a <= b, row-major */
    int64_t intercept;    /* 1: an implicit leading column of ones */
    int64_t start, stop;  /* global indices of the records seen */
    int64_t nobs;         /* records in the sums (all values finite) */
    int64_t nan_records;  /* records with a NaN in one of their columns */
    int64_t inf_records;  /* records with an infinity but no NaN */
    int64_t first_bad;    /* global index of the first NaN/inf record, or -1 */
    int64_t first_bad_col;/* its first non-finite column (0-based), or -1 */
    int64_t lo, width;    /* the window of bins: [lo, lo + width) */
} ps_xprod_info;

/* A fresh state for records of `ncols` (1..PS_XP_MAX_COLS) values whose
   first record has global index `start` (>= 0). */
int ps_xprod_new(ps_xprod **out, int64_t ncols, int intercept, int64_t start);
void ps_xprod_free(ps_xprod *s);
int ps_xprod_copy(ps_xprod **out, const ps_xprod *s);

/* Add `n` records: record i's column c is the double at
   base + i * row_stride + offsets[c] (bytes; any sign; 8-byte aligned). */
int ps_xprod_update(ps_xprod *s, const void *base, int64_t n, int64_t row_stride,
                    const int64_t *offsets);

/* left += right, where right's records follow left's (left.stop ==
   right.start, else PS_ERR_NOT_ADJACENT; other column counts or
   intercept: PS_ERR_MISMATCH). */
int ps_xprod_merge(ps_xprod *left, const ps_xprod *right);

int ps_xprod_info_of(const ps_xprod *s, ps_xprod_info *out);

/* Normalise and export the sums: entry e's bins are low[e * (width - 1) +
   k] (k < width - 1, each 0..15) and top[e] (the signed top bin), so the
   entry's exact sum is (sum_k low * 16**k + top * 16**(width-1)) *
   2**(4 lo - 2148).  `low` holds entries * (width - 1) bytes, `top`
   entries words (nothing is written for an empty window). */
int ps_xprod_sums(ps_xprod *s, uint8_t *low, int64_t *top);

/* Versioned, checksummed little-endian bytes (normalises first); with
   buf == NULL only *size is set. */
int ps_xprod_serialize(ps_xprod *s, uint8_t *buf, size_t cap, size_t *size);
/* Validates everything: PS_ERR_CORRUPT / PS_ERR_VERSION, never UB. */
int ps_xprod_deserialize(ps_xprod **out, const uint8_t *buf, size_t size);

/* cffi-cdef-end */

/* Largest number of columns read per record. */
#define PS_XP_MAX_COLS 1024
/* Bins above the largest product's bin: 2**112 * 2**63 records < 16**44. */
#define PS_XP_HEADROOM 48
/* Bins of the whole range: 2 * (2045 >> 2) + 1 + headroom. */
#define PS_XP_NBINS (1023 + PS_XP_HEADROOM)
/* Records between normalisations (a bin grows by < 2**112 a record). */
#define PS_XP_FLUSH 8192

#ifdef __cplusplus
}
#endif

#endif /* PYSTREAM_CROSSPROD_H */
