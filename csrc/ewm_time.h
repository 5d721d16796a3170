/*
 * ewm_time.h -- exponentially weighted mean / var / std over irregular
 * times (pandas' Series.ewm(halflife=h, times=t)): the weight of the
 * observation j at the time t_i of row i is 0.5 ** ((t_i - t_j) / h).
 *
 * Stateless kernel over caller-owned state (the Python wrapper keeps it in
 * numpy arrays, so a state pickles as plain arrays):
 *
 *   st[width * PS_EWMT_SLOTS]  per value j, slots j*PS_EWMT_SLOTS + k:
 *       mean: 0 S (weighted sum), 1 W (total weight), 2 current mean
 *             (NaN before the first observation), 3 mode (0: S / W,
 *             1: weighted-mean form after S overflowed), 4-5 unused
 *       var/std: 0 mean (NaN before the first observation), 1 cov,
 *             2 sum_wt, 3 sum_wt2, 4 old_wt, 5 unused
 *   nobs[width]   observations (non-missing values) seen per value
 *   seen[1]       1 once a row was seen (the order check across calls)
 *   last_i / last_f [width + 1]   per value the time of its last
 *       observation, and at [width] the time of the stream's last row:
 *       int64 for int64 times (ns), double for numeric times.  Exactly
 *       one of the pairs (times_i, last_i) / (times_f, last_f) is given.
 *
 * The decay from the last observation of a value to row i is
 * D = exp2(-dt / h), dt = t_i - t_last computed exactly in int64 (as an
 * unsigned difference, so no overflow) and then converted to double, or
 * in double for numeric times; dt = 0 (duplicate timestamps) gives D = 1.
 * Missing values (NaN, ±inf, as pandas' window code) are skipped: they
 * neither add weight nor decay anything; the time they span counts
 * through dt at the next observation.  So ignore_na makes no difference
 * with times (see docs/time_ewm.rst: pandas' ignore_na=True drops the span
 * of the missing rows, against the formula).  The semantics per kind are
 * in ewm_time.c.
 *
 * The region between the cffi-cdef markers is read verbatim by the cffi
 * builder (csrc/build_ffi.py); it stays free of preprocessor directives.
 */
#ifndef PYSTREAM_EWM_TIME_H
#define PYSTREAM_EWM_TIME_H

#include <stddef.h>
#include <stdint.h>

#include "pystream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cffi-cdef-begin */

enum {
    PS_EWMT_MEAN = 0,
    PS_EWMT_VAR = 1,
    PS_EWMT_STD = 2,
    PS_EWMT_SLOTS = 6   /* doubles of state per value */
};

/* Empty state for `kind` and `width` values (seen = 0, nobs = 0).
   PS_ERR_ARG for NULL, an unknown kind or width < 1. */
int ps_ewmt_reset(int kind, double *st, int64_t *nobs, int64_t *seen, int64_t width);

/* n rows (values: n x width contiguous float64, row-major; times: n,
   non-decreasing, also after the last row of the previous call; numeric
   times finite) -> out (n x width).  halflife > 0 finite, in the units of
   the times; minp >= 1: output NaN while nobs < minp.  A time out of order
   (or not finite) gives PS_ERR_ARG with *bad_row = its row and changes
   nothing; invalid arguments give PS_ERR_ARG with *bad_row = -1. */
int ps_ewmt_update(int kind, int adjust, int bias, int64_t minp, double halflife,
                   int64_t width, double *st, int64_t *nobs, int64_t *seen,
                   int64_t *last_i, double *last_f,
                   const double *values, const int64_t *times_i, const double *times_f,
                   int64_t n, double *out, int64_t *bad_row);

/* cffi-cdef-end */

#ifdef __cplusplus
}
#endif

#endif
