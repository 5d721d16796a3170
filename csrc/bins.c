/*
 * bins.c -- per-bin reductions (see bins.h for the state and semantics).
 *
 * The records of one call are cut into runs of equal bin number; each run
 * is accumulated value by value (column j, then the next), with the
 * running state of the column held in locals for the whole run.  A run
 * that starts a new bin first emits the open one.  The arithmetic per
 * record is the same whatever the runs are, so any cut of the stream into
 * calls gives the same bits:
 *
 *   x not NaN:  c += 1;  sum += x;
 *               (var/std asked)  d = x - mean;  mean += d / c;
 *                                M2 += d * (x - mean)         (Welford)
 *               min: x < mn or (x == mn and x is -0.0) -> mn = x
 *               max: x > mx or (x == mx and x is +0.0) -> mx = x
 *               first = x at c == 1;  last = x
 *   x NaN:      nan = 1
 *
 * The Welford mean is only the helper of M2 (the reported mean is sum / c,
 * as pandas' resample().mean()).  A constant bin gives d == 0 at every
 * step after the first, so M2 stays exactly 0.  Welford is skipped when
 * no var/std is asked (M2 is then not reported).  ±inf are values: the
 * sum and min / max take them, and var turns NaN through inf - inf, as in
 * pandas.
 */
#include "bins.h"

#include <math.h>
#include <string.h>

enum { S_SUM, S_WMEAN, S_M2, S_MIN, S_MAX, S_FIRST, S_LAST, S_NAN };

static void reset_values(double *acc, int64_t *count, int64_t width)
{
    for (int64_t j = 0; j < width; j++) {
        double *a = acc + j * PS_BIN_SLOTS;
        a[S_SUM] = 0.0;
        a[S_WMEAN] = 0.0;
        a[S_M2] = 0.0;
        a[S_MIN] = INFINITY;
        a[S_MAX] = -INFINITY;
        a[S_FIRST] = NAN;
        a[S_LAST] = NAN;
        a[S_NAN] = 0.0;
        count[j] = 0;
    }
}

int ps_bins_reset(int64_t *head, double *acc, int64_t *count, int64_t width)
{
    if (!head || !acc || !count || width < 1)
        return PS_ERR_ARG;
    head[0] = 0;
    head[1] = 0;
    head[2] = 0;
    reset_values(acc, count, width);
    return PS_OK;
}

static int check_args(const int64_t *head, const double *acc, const int64_t *count,
                      int64_t width, const int32_t *stats, int64_t nstats, double ddof,
                      const int64_t *out_bins, const double *out, const int64_t *nout)
{
    if (!head || !acc || !count || width < 1 || !stats || nstats < 1 || !out_bins || !out ||
        !nout || !(ddof >= 0.0) || !isfinite(ddof) || (head[0] != 0 && head[0] != 1) ||
        head[2] < 0)
        return 0;
    for (int64_t s = 0; s < nstats; s++)
        if (stats[s] < 0 || stats[s] >= PS_BIN_KINDS)
            return 0;
    return 1;
}

/* The statistics of the open bin into `row` (nstats x width). */
static void emit(const double *acc, const int64_t *count, int64_t width, const int32_t *stats,
                 int64_t nstats, int propagate, double ddof, double *row)
{
    for (int64_t s = 0; s < nstats; s++) {
        double *o = row + s * width;
        for (int64_t j = 0; j < width; j++) {
            const double *a = acc + j * PS_BIN_SLOTS;
            double c = (double)count[j];
            int poisoned = propagate && a[S_NAN] != 0.0;
            double v;
            switch (stats[s]) {
            case PS_BIN_COUNT:
                v = c;
                break;
            case PS_BIN_SUM:
                v = a[S_SUM];
                break;
            case PS_BIN_MEAN:
                v = count[j] > 0 ? a[S_SUM] / c : NAN;
                break;
            case PS_BIN_VAR:
            case PS_BIN_STD:
                v = c - ddof > 0.0 ? a[S_M2] / (c - ddof) : NAN;
                if (stats[s] == PS_BIN_STD)
                    v = sqrt(v);
                break;
            case PS_BIN_MIN:
                v = count[j] > 0 ? a[S_MIN] : NAN;
                break;
            case PS_BIN_MAX:
                v = count[j] > 0 ? a[S_MAX] : NAN;
                break;
            case PS_BIN_FIRST:
                v = a[S_FIRST];
                poisoned = 0;
                break;
            default: /* PS_BIN_LAST */
                v = a[S_LAST];
                poisoned = 0;
                break;
            }
            o[j] = poisoned && stats[s] != PS_BIN_COUNT ? NAN : v;
        }
    }
}

/* Accumulate records [r0, r1) of one bin; `fresh` = they open the bin. */
static void accumulate(double *acc, int64_t *count, int64_t width, int welford, int propagate,
                       const double *values, int64_t r0, int64_t r1, int fresh)
{
    for (int64_t j = 0; j < width; j++) {
        double *a = acc + j * PS_BIN_SLOTS;
        double sum = a[S_SUM], wm = a[S_WMEAN], m2 = a[S_M2];
        double mn = a[S_MIN], mx = a[S_MAX], first = a[S_FIRST], last = a[S_LAST];
        int nan = a[S_NAN] != 0.0;
        int64_t c = count[j];
        const double *x = values + j;
        if (propagate) {
            if (fresh)
                first = x[r0 * width];
            last = x[(r1 - 1) * width];
        }
        for (int64_t i = r0; i < r1; i++) {
            double v = x[i * width];
            if (v != v) {
                nan = 1;
                continue;
            }
            c++;
            sum += v;
            if (welford) {
                double d = v - wm;
                wm += d / (double)c;
                m2 += d * (v - wm);
            }
            if (v < mn || (v == mn && signbit(v)))
                mn = v;
            if (v > mx || (v == mx && !signbit(v)))
                mx = v;
            if (!propagate) {
                if (c == 1)
                    first = v;
                last = v;
            }
        }
        a[S_SUM] = sum;
        a[S_WMEAN] = wm;
        a[S_M2] = m2;
        a[S_MIN] = mn;
        a[S_MAX] = mx;
        a[S_FIRST] = first;
        a[S_LAST] = last;
        a[S_NAN] = nan ? 1.0 : 0.0;
        count[j] = c;
    }
}

int ps_bins_update(int64_t *head, double *acc, int64_t *count, int64_t width,
                   const int32_t *stats, int64_t nstats, int propagate, double ddof,
                   const double *values, const int64_t *bins, int64_t n,
                   int64_t *out_bins, double *out, int64_t *nout, int64_t *bad_row)
{
    if (bad_row)
        *bad_row = -1;
    if (!bad_row || !check_args(head, acc, count, width, stats, nstats, ddof, out_bins, out,
                                nout) ||
        n < 0 || (n > 0 && (!values || !bins)))
        return PS_ERR_ARG;
    *nout = 0;
    /* Check the order first, so a bad call changes nothing. */
    for (int64_t i = 0; i < n; i++) {
        int64_t prev = i ? bins[i - 1] : head[1];
        if ((i || head[0]) && bins[i] < prev) {
            *bad_row = i;
            return PS_ERR_ARG;
        }
    }
    int welford = 0;
    for (int64_t s = 0; s < nstats; s++)
        welford |= stats[s] == PS_BIN_VAR || stats[s] == PS_BIN_STD;
    int64_t k = 0, i = 0;
    while (i < n) {
        int64_t b = bins[i], e = i + 1;
        while (e < n && bins[e] == b)
            e++;
        int fresh = !head[0] || head[1] != b;
        if (fresh) {
            if (head[0]) {
                out_bins[k] = head[1];
                emit(acc, count, width, stats, nstats, propagate, ddof,
                     out + k * nstats * width);
                k++;
                reset_values(acc, count, width);
            }
            head[0] = 1;
            head[1] = b;
            head[2] = 0;
        }
        accumulate(acc, count, width, welford, propagate, values, i, e, fresh);
        head[2] += e - i;
        i = e;
    }
    *nout = k;
    return PS_OK;
}

int ps_bins_flush(int64_t *head, double *acc, int64_t *count, int64_t width,
                  const int32_t *stats, int64_t nstats, int propagate, double ddof,
                  int64_t *out_bins, double *out, int64_t *nout)
{
    if (!check_args(head, acc, count, width, stats, nstats, ddof, out_bins, out, nout))
        return PS_ERR_ARG;
    *nout = 0;
    if (head[0]) {
        out_bins[0] = head[1];
        emit(acc, count, width, stats, nstats, propagate, ddof, out);
        *nout = 1;
    }
    head[0] = 0;
    head[1] = 0;
    head[2] = 0;
    reset_values(acc, count, width);
    return PS_OK;
}
