/*
 * comoments.h -- streaming co-moments of records of d float values: count,
 * means and the co-moment matrix C_ij = sum (x_i - m_i)(x_j - m_j), for
 * np.cov / np.corrcoef and pandas' pairwise-complete DataFrame.cov/corr.
 *
 * Placed by global index exactly like ps_moments: blocks of
 * B = ps_moments_block(d) records aligned on multiples of B, one fixed
 * block algorithm (shifted two-pass: column sums, then the corrected
 * co-moment sum over the L1-resident block), block summaries combined only
 * along the canonical binary tree of aligned block ranges with Chan/Pebay's
 * pairwise update, partial edge blocks kept raw (as float64, exact for
 * float32 input).  Any chunking and any merge of adjacent states give the
 * same bytes.
 *
 * NaN: a block without NaN is summarised compactly (n, means[d], C[d*d]).
 * A block holding a NaN is summarised per pair (i, j) over the records
 * where both are non-NaN: count N_ij, the pair's mean of i MU_ij, the
 * co-moment C_ij and the pair's M2 of i V_ij (d*d words each).  Pairs of
 * NaN-free columns come from the vectorised kernel, pairs with a NaN
 * column are summed pair by pair with a branch per value (only such
 * blocks pay it).  A pair without NaN gets the same bits in either form.
 * Means are kept as a shift (from the data) plus an offset.  NaNs are also counted per column, and the
 * first one (record, column) is kept for nan_policy="raise".
 *
 * The region between the cffi-cdef markers is read verbatim by the cffi
 * builder (csrc/build_ffi.py); it stays free of preprocessor directives.
 */
#ifndef PYSTREAM_COMOMENTS_H
#define PYSTREAM_COMOMENTS_H

#include <stddef.h>
#include <stdint.h>

/* cffi-cdef-begin */

typedef struct ps_comoments ps_comoments;

/* A new empty state whose first record has global index `start` (>= 0).
   width 0: the width is set by the first update (ps_comoments_set_width). */
int ps_comoments_new(ps_comoments **out, int64_t width, int64_t start);
/* Set the width of a state that has none yet (width >= 1). */
int ps_comoments_set_width(ps_comoments *m, int64_t width);
void ps_comoments_free(ps_comoments *m);
int ps_comoments_copy(ps_comoments **out, const ps_comoments *m);

int64_t ps_comoments_width(const ps_comoments *m);
int64_t ps_comoments_start(const ps_comoments *m);
int64_t ps_comoments_stop(const ps_comoments *m);
/* Global index of the first record holding a NaN and its column, or -1. */
int64_t ps_comoments_first_nan(const ps_comoments *m);
int64_t ps_comoments_first_nan_column(const ps_comoments *m);

/* Add n records: record r, value j at data + r*s0 + j*s1 (bytes, any
   sign); dtype PS_FLOAT32 or PS_FLOAT64. */
int ps_comoments_update(ps_comoments *m, int dtype, const void *data, int64_t n,
                        ptrdiff_t s0, ptrdiff_t s1);

/* left += right; requires left.stop == right.start and equal widths (or an
   empty right / an empty left without a width). */
int ps_comoments_merge(ps_comoments *left, const ps_comoments *right);

/* Pairwise result, d*d arrays: count[i*d+j] records with i and j non-NaN,
   mean[i*d+j] mean of column i over them, comoment[i*d+j] the co-moment,
   m2[i*d+j] the M2 of column i over them; nan_count[d] per column. */
int ps_comoments_result(const ps_comoments *m, int64_t *count, double *mean,
                        double *comoment, double *m2, int64_t *nan_count);

int ps_comoments_serialize(const ps_comoments *m, uint8_t *buf, size_t cap,
                           size_t *size);
/* Validates the structure and the values a state can hold; PS_ERR_CORRUPT
   or PS_ERR_VERSION otherwise, never undefined behaviour. */
int ps_comoments_deserialize(ps_comoments **out, const uint8_t *buf, size_t size);

/* cffi-cdef-end */

#endif /* PYSTREAM_COMOMENTS_H */
