/*
 * timewin.h -- public C API of the duration-window kernels (issue 19,
 * "Event time"): the window bounds of records that carry a time, and the
 * statistics over windows given as row ranges [start, end).
 *
 * See timewin.c for the semantics and the drift-free split rule of the
 * sums and variances; pystream/stages/time_kernels.py is the Python face.
 */
#ifndef PYSTREAM_TIMEWIN_H
#define PYSTREAM_TIMEWIN_H

#include <stddef.h>
#include <stdint.h>

#include "pystream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cffi-cdef-begin */

/* Statistics of ps_tw_window. */
enum {
    PS_TW_SUM = 0,
    PS_TW_MEAN = 1,
    PS_TW_VAR = 2,
    PS_TW_STD = 3,
    PS_TW_MIN = 4,
    PS_TW_MAX = 5,
    PS_TW_ARGMIN = 6,
    PS_TW_ARGMAX = 7,
    PS_TW_MEDIAN = 8,
    PS_TW_QUANTILE = 9,
    PS_TW_RANK = 10
};

/* First row of the window of rows first .. n-1 of non-decreasing times t:
   starts[i - first] = the least j with t[i] - t[j] < width (left_closed = 0)
   or <= width (left_closed = 1), computed exactly (no overflow for any
   int64 times; exact real comparison for float64 times).  width > 0
   (float64: +inf allowed).  PS_ERR_ARG on a bad argument, or with
   *bad = the first row where the times decrease (or, float64, are not
   finite); *bad = -1 otherwise. */
int ps_tw_starts_i64(const int64_t *t, int64_t n, int64_t width, int left_closed,
                     int64_t first, int64_t *starts, int64_t *bad);
int ps_tw_starts_f64(const double *t, int64_t n, double width, int left_closed,
                     int64_t first, int64_t *starts, int64_t *bad);

/* The statistic `stat` over nout windows of the n x width row-major float64
   values x: window k is rows [starts[k], ends[k]) (ends NULL: ends[k] =
   end0 + k), with 0 <= starts[k] <= ends[k] <= n and both non-decreasing; `base` is the global index of row 0
   (base + n <= INT64_MAX).  min_count >= 1, ddof >= 0 (var/std), q in
   [0, 1] (quantile), propagate 0 (NaNs skipped) or 1 (a NaN in the window
   gives NaN).  Writes nout x width rows to `out`.  PS_ERR_ARG for a bad
   argument (*bad = the offending window, or -1), PS_ERR_NOMEM when the
   scratch memory (O(n) per call) is not available. */
int ps_tw_window(int stat, const double *x, int64_t n, int64_t width,
                 const int64_t *starts, const int64_t *ends, int64_t end0, int64_t nout,
                 int64_t base, int64_t min_count, int propagate, double ddof,
                 double q, double *out, int64_t *bad);

/* cffi-cdef-end */

#ifdef __cplusplus
}
#endif

#endif /* PYSTREAM_TIMEWIN_H */
