/*
 * ewm_pairs.h -- exponentially weighted covariance and correlation of pairs
 * of columns (pandas' a.ewm(...).cov(b) / .corr(b), df.ewm(...).cov() /
 * .corr()), over records of d >= 2 values.
 *
 * Stateless kernel over caller-owned state (the Python wrapper keeps it in
 * numpy arrays, so a state pickles as plain arrays):
 *
 *   st[npairs * PS_EWMC_SLOTS]  per pair p, slots p*PS_EWMC_SLOTS + k:
 *       0 mean_x, 1 mean_y (NaN before the pair's first observation),
 *       2 cov, 3 var_x, 4 var_y (biased, pandas' ewmcov state; var_x and
 *       var_y are kept for the correlation only, 0 for the covariance),
 *       5 sum_wt, 6 sum_wt2, 7 old_wt (pandas' weights)
 *   nobs[npairs]  observations of each pair (records where both values are
 *       finite)
 *
 * Pairs: for d == 2 one pair, (0, 1), and one output value per record; for
 * d > 2 the pairs (i, j), i <= j, in row-major order of the upper triangle
 * (npairs = d (d + 1) / 2), and a (d, d) symmetric matrix per record.
 *
 * Each pair runs pandas' ewmcov on its own records: a record where either
 * value is missing (NaN or +-inf, as pandas' window code) is not an
 * observation of the pair; with ignore_na = 0 it still ages the weights.
 * ewm_pairs.c has the recurrence and the outputs.
 *
 * The region between the cffi-cdef markers is read verbatim by the cffi
 * builder (csrc/build_ffi.py); it stays free of preprocessor directives.
 */
#ifndef PYSTREAM_EWM_PAIRS_H
#define PYSTREAM_EWM_PAIRS_H

#include <stddef.h>
#include <stdint.h>

#include "pystream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cffi-cdef-begin */

enum {
    PS_EWMC_COV = 0,
    PS_EWMC_CORR = 1,
    PS_EWMC_SLOTS = 8   /* doubles of state per pair */
};

/* Pairs of a record of d values: 1 for d == 2, d (d + 1) / 2 for d > 2;
   -1 for d < 2 or when the matrix would not fit an int64 count. */
int64_t ps_ewmc_npairs(int64_t d);

/* Empty state for npairs pairs.  PS_ERR_ARG for NULL or npairs < 1. */
int ps_ewmc_reset(double *st, int64_t *nobs, int64_t npairs);

/* n records (values: n x d contiguous float64, row-major) -> out: n values
   (d == 2) or n x d x d (d > 2).  alpha in (0, 1], minp >= 1 (output NaN
   while the pair has fewer observations), flags 0 or 1 (bias: cov only).
   Any cut of the records into calls gives the same bits.  PS_ERR_ARG for
   invalid arguments (nothing changed). */
int ps_ewmc_update(int kind, int adjust, int ignore_na, int bias, int64_t minp, double alpha,
                   int64_t d, double *st, int64_t *nobs, const double *values, int64_t n,
                   double *out);

/* The same over irregular times (ewm_time.h's conventions): the weight of a
   pair's observation at time t_j in the output at t_i is
   0.5 ** ((t_i - t_j) / halflife), halflife > 0 finite in the units of the
   times.  last_i / last_f [npairs]: the time of each pair's last
   observation; exactly one of (times_i, last_i) / (times_f, last_f) is
   given.  Times are non-decreasing, also across calls (the caller checks).
   Missing values neither add weight nor decay anything, so there is no
   ignore_na.  PS_ERR_ARG for invalid arguments (nothing changed). */
int ps_ewmc_update_times(int kind, int adjust, int bias, int64_t minp, double halflife,
                         int64_t d, double *st, int64_t *nobs, int64_t *last_i, double *last_f,
                         const double *values, const int64_t *times_i, const double *times_f,
                         int64_t n, double *out);

/* cffi-cdef-end */

#ifdef __cplusplus
}
#endif

#endif
