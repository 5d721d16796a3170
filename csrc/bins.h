/*
 * bins.h -- per-bin reductions of a stream whose records carry a bin
 * number (calendar bins of a time column, sessions): count, sum, mean,
 * var, std, min, max, first, last of every value of the record, all in one
 * sequential pass, streaming.
 *
 * The kernel is stateless: the running state of the open bin lives in
 * buffers the caller owns (the Python wrapper keeps them as numpy arrays,
 * so a state pickles as plain arrays), and every call carries it on.
 *
 *   head[3]         open (0 or 1), bin number of the open bin, records in it
 *   acc[width * PS_BIN_SLOTS]   per value j, slots j*PS_BIN_SLOTS + k:
 *                    k = 0 sum, 1 min, 2 max, 3 first, 4 last, 5 NaN seen
 *                    (0.0 or 1.0), 6 a -0.0 seen, 7 a +0.0 seen, 8-15 the Welford means of
 *                    the PS_BIN_LANES lanes, 16-23 their M2
 *   count[width]    non-NaN values of the open bin
 *
 * Everything is accumulated in arrival order, one record after the other,
 * so the results do not depend on how the stream is cut into calls.
 * Semantics (pandas' resample reducers): NaN is missing; count = non-NaN
 * values; sum = sequential float64 sum (0.0 for none); mean = sum / count;
 * var = M2 / (count - ddof) (Welford, NaN while count - ddof <= 0), std =
 * sqrt(var); min / max are IEEE minimum / maximum (-0.0 < +0.0, so the
 * result does not depend on order; NaN for none); first / last = first /
 * last non-NaN value.  M2 is computed by Welford's recurrence in
 * PS_BIN_LANES = 8 interleaved lanes (the k-th non-NaN value of a bin goes
 * to lane k % 8) merged at the end of the bin by Chan et al.'s formula in a
 * fixed tree ((0,1),(2,3)),((4,5),(6,7)): the lanes are fixed by the
 * position in the bin, so the result does not depend on the chunking, a
 * constant bin gives exactly 0, and the eight recurrences run in parallel
 * (one Welford chain has a division in its loop-carried path).  With propagate = 1, a NaN in the bin makes sum,
 * mean, var, std, min and max NaN, and first / last are the values of the
 * bin's first / last record as they are (NaN included).
 *
 * The region between the cffi-cdef markers is read verbatim by the cffi
 * builder (csrc/build_ffi.py); it stays free of preprocessor directives.
 */
#ifndef PYSTREAM_BINS_H
#define PYSTREAM_BINS_H

#include <stddef.h>
#include <stdint.h>

#include "pystream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cffi-cdef-begin */

enum {
    PS_BIN_COUNT = 0,
    PS_BIN_SUM = 1,
    PS_BIN_MEAN = 2,
    PS_BIN_VAR = 3,
    PS_BIN_STD = 4,
    PS_BIN_MIN = 5,
    PS_BIN_MAX = 6,
    PS_BIN_FIRST = 7,
    PS_BIN_LAST = 8,
    PS_BIN_KINDS = 9,   /* number of statistics */
    PS_BIN_LANES = 8,   /* Welford lanes */
    PS_BIN_SLOTS = 24   /* doubles of running state per value */
};

/* Empty running state for `width` values (head open = 0).  PS_ERR_ARG for
   NULL or width < 1. */
int ps_bins_reset(int64_t *head, double *acc, int64_t *count, int64_t width);

/* Accumulate records (values: n x width contiguous float64, row-major;
   bins: n bin numbers, non-decreasing, and not below the open bin).
   Writes the bins completed by these records: their numbers to out_bins
   and their statistics to out (row b, statistic s, value j at
   out[(b * nstats + s) * width + j]); *nout = their count, at most cap
   (>= 1).  When a further bin would complete with the output full, the
   call stops before the record that starts it: *consumed = the records
   taken (n when all were), and the caller calls again with the rest.
   stats: nstats codes PS_BIN_*.  ddof >= 0 (finite).  With check_order,
   a decreasing bin number gives PS_ERR_ARG with *bad_row = its row and
   changes nothing; check_order = 0 is only for records a previous call
   already checked (the rest of a stopped call).  Invalid arguments give
   PS_ERR_ARG with *bad_row = -1. */
int ps_bins_update(int64_t *head, double *acc, int64_t *count, int64_t width,
                   const int32_t *stats, int64_t nstats, int propagate, double ddof,
                   const double *values, const int64_t *bins, int64_t n, int check_order,
                   int64_t cap, int64_t *out_bins, double *out, int64_t *nout,
                   int64_t *consumed, int64_t *bad_row);

/* Complete the open bin, if any (*nout = 1, its number in out_bins[0],
   its statistics in out as above), and empty the state; *nout = 0 when no
   bin is open. */
int ps_bins_flush(int64_t *head, double *acc, int64_t *count, int64_t width,
                  const int32_t *stats, int64_t nstats, int propagate, double ddof,
                  int64_t *out_bins, double *out, int64_t *nout);

/* cffi-cdef-end */

#ifdef __cplusplus
}
#endif

#endif
