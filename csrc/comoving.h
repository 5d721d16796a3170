/*
 * comoving.h -- public C API of the moving co-moment kernels (issue 21):
 * moving covariance, correlation and regression slope of pairs of columns
 * over windows given as row ranges (windows of records and duration windows
 * alike).
 *
 * See comoving.c for the semantics and the drift-free split rule;
 * pystream/stages/comoving_kernel.py is the Python face.
 */
#ifndef PYSTREAM_COMOVING_H
#define PYSTREAM_COMOVING_H

#include <stddef.h>
#include <stdint.h>

#include "pystream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cffi-cdef-begin */

/* Statistics of ps_comoving. */
enum {
    PS_COMOVE_COV = 0,
    PS_COMOVE_CORR = 1,
    PS_COMOVE_BETA = 2
};

/* The statistic `stat` over nout windows of the n x d row-major float64
   values x (d >= 2): window k is rows [starts[k], ends[k]) (ends NULL:
   ends[k] = end0 + k; starts NULL: starts[k] = max(0, ends[k] - window),
   windows of `window` >= 1 rows), with 0 <= starts[k] <= ends[k] <= n and
   both non-decreasing; `base` is the global index of row 0 (base + n <=
   INT64_MAX).  min_count >= 1, ddof >= 0 (cov), propagate 0 (a record with
   a NaN in either column of a pair does not count for that pair) or 1 (such
   a record in the window gives NaN).
   Output per window: d == 2, one value (the pair's statistic; beta = slope
   of column 1 on column 0); d > 2 (cov, corr), the d x d matrix, row-major.
   PS_ERR_ARG for a bad argument (*bad = the offending window, or -1),
   PS_ERR_NOMEM when the scratch memory (O(n) per call) is not available. */
int ps_comoving(int stat, const double *x, int64_t n, int64_t d,
                const int64_t *starts, const int64_t *ends, int64_t end0, int64_t nout,
                int64_t window, int64_t base, int64_t min_count, int propagate, double ddof,
                double *out, int64_t *bad);

/* cffi-cdef-end */

#ifdef __cplusplus
}
#endif

#endif /* PYSTREAM_COMOVING_H */
