/*
 * bins.c -- per-bin reductions (see bins.h for the state and semantics).
 *
 * The records of one call are cut into runs of equal bin number (found by
 * a galloping search: the order was checked first); each run is
 * accumulated value by value (column j, then the next), with the running
 * state of the column in locals for the whole run.  A run that starts a
 * new bin first emits the open one.  Per non-NaN value v, the p-th of its
 * bin (p from 0), in arrival order:
 *
 *   c = p + 1;  sum += v                         (sequential)
 *   lane L = p % 8, its count m = p / 8 + 1:     (var/std asked)
 *       d = v - mean_L;  mean_L += d / m;  M2_L += d * (v - mean_L)
 *   min / max by plain comparisons, and two flags: a -0.0 / a +0.0 was
 *   seen (at the end, a zero minimum is -0.0 iff a -0.0 was seen, a zero
 *   maximum +0.0 iff a +0.0 was seen: IEEE minimum / maximum, whatever
 *   the order);  first = v at p == 0;  last = v
 *
 * and a NaN sets the NaN flag.  These are the same operations whatever
 * the runs are, so any cut of the stream into calls gives the same bits.
 * Eight values without NaN starting at a position p % 8 == 0 take a
 * block path doing the same arithmetic (the eight lanes then share m, and
 * the compiler vectorises them; with AVX2, by simd.h's dispatch, contiguous
 * values take blocks_avx2, which keeps the lanes in registers); other
 * values go one by one.  Every level performs the same IEEE operations per
 * value, so every level gives the same bits.
 *
 * At the end of a bin the lanes are merged (Chan, Golub, LeVeque) in the
 * fixed tree ((0,1),(2,3)),((4,5),(6,7)):
 *   n = na + nb;  delta = mean_b - mean_a;
 *   mean = mean_a + delta * (nb / n);  M2 = M2_a + M2_b + delta * delta * (na * nb / n)
 * (a side with no value is skipped).  The reported mean is sum / c, as
 * pandas' resample().mean(); the lane means only serve M2.  A constant
 * bin gives delta == 0 everywhere, so M2 is exactly 0.  ±inf are values:
 * the sum and min / max take them, and var turns NaN through inf - inf, as
 * in pandas.
 */
#include "bins.h"

#include <math.h>
#include <string.h>

#include "simd.h"

#define LANES PS_BIN_LANES
enum { S_SUM, S_MIN, S_MAX, S_FIRST, S_LAST, S_NAN, S_NEGZ, S_POSZ, S_MEAN0 = 8, S_M20 = 16 };

static void reset_values(double *acc, int64_t *count, int64_t width)
{
    for (int64_t j = 0; j < width; j++) {
        double *a = acc + j * PS_BIN_SLOTS;
        for (int k = 0; k < PS_BIN_SLOTS; k++)
            a[k] = 0.0;
        a[S_MIN] = INFINITY;
        a[S_MAX] = -INFINITY;
        a[S_FIRST] = NAN;
        a[S_LAST] = NAN;
        count[j] = 0;
    }
}

/* M2 of the bin from the lanes (c values in all). */
static double merged_m2(const double *a, int64_t c)
{
    double n[LANES], mean[LANES], m2[LANES];
    for (int L = 0; L < LANES; L++) {
        n[L] = (double)((c + LANES - 1 - L) / LANES);
        mean[L] = a[S_MEAN0 + L];
        m2[L] = a[S_M20 + L];
    }
    for (int step = 1; step < LANES; step *= 2)
        for (int L = 0; L + step < LANES; L += 2 * step) {
            int R = L + step;
            if (n[R] == 0.0)
                continue;
            if (n[L] == 0.0) {
                n[L] = n[R];
                mean[L] = mean[R];
                m2[L] = m2[R];
                continue;
            }
            double tot = n[L] + n[R], delta = mean[R] - mean[L];
            mean[L] = mean[L] + delta * (n[R] / tot);
            m2[L] = m2[L] + m2[R] + delta * delta * (n[L] * n[R] / tot);
            n[L] = tot;
        }
    return m2[0];
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
                v = c - ddof > 0.0 ? merged_m2(a, count[j]) / (c - ddof) : NAN;
                if (stats[s] == PS_BIN_STD)
                    v = sqrt(v);
                break;
            case PS_BIN_MIN: /* a zero minimum is -0.0 iff a -0.0 was seen */
                v = count[j] > 0 ? a[S_MIN] : NAN;
                if (v == 0.0)
                    v = a[S_NEGZ] != 0.0 ? -0.0 : 0.0;
                break;
            case PS_BIN_MAX: /* a zero maximum is +0.0 iff a +0.0 was seen */
                v = count[j] > 0 ? a[S_MAX] : NAN;
                if (v == 0.0)
                    v = a[S_POSZ] != 0.0 ? 0.0 : -0.0;
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

#if defined(PS_HAVE_AVX2)
#include <immintrin.h>

/* The block path for contiguous values (width 1) in AVX2 registers: blocks
   of 8 values from x[i] while they hold no NaN (c % 8 == 0 on entry, so at
   every block); the same operations as the block path of accumulate_value
   (the lanes' Welford steps lane by lane, the sum in order, min / max
   order-free but for signed zeros, which the flags settle).  Returns the
   index after the last block taken. */
PS_TARGET_AVX2 static int64_t blocks_avx2(double *a, const double *x, int64_t i, int64_t r1,
                                          int welford, int64_t *pc, double *psum, double *plo,
                                          double *phi, double *pfirst, double *plast)
{
    int64_t c = *pc;
    double s = *psum;
    __m256d wm0 = _mm256_loadu_pd(a + S_MEAN0), wm1 = _mm256_loadu_pd(a + S_MEAN0 + 4);
    __m256d q0 = _mm256_loadu_pd(a + S_M20), q1 = _mm256_loadu_pd(a + S_M20 + 4);
    __m256d lo = _mm256_set1_pd(*plo), hi = _mm256_set1_pd(*phi), zero = _mm256_setzero_pd();
    int64_t i0 = i;
    for (; i + LANES <= r1; i += LANES) {
        __m256d v0 = _mm256_loadu_pd(x + i), v1 = _mm256_loadu_pd(x + i + 4);
        __m256d bad = _mm256_or_pd(_mm256_cmp_pd(v0, v0, _CMP_UNORD_Q),
                                   _mm256_cmp_pd(v1, v1, _CMP_UNORD_Q));
        if (_mm256_movemask_pd(bad))
            break;
        if (welford) {
            __m256d m = _mm256_set1_pd((double)(c / LANES + 1));
            __m256d d0 = _mm256_sub_pd(v0, wm0), d1 = _mm256_sub_pd(v1, wm1);
            wm0 = _mm256_add_pd(wm0, _mm256_div_pd(d0, m));
            wm1 = _mm256_add_pd(wm1, _mm256_div_pd(d1, m));
            q0 = _mm256_add_pd(q0, _mm256_mul_pd(d0, _mm256_sub_pd(v0, wm0)));
            q1 = _mm256_add_pd(q1, _mm256_mul_pd(d1, _mm256_sub_pd(v1, wm1)));
        }
        for (int L = 0; L < LANES; L++)
            s += x[i + L];
        lo = _mm256_min_pd(lo, _mm256_min_pd(v0, v1));
        hi = _mm256_max_pd(hi, _mm256_max_pd(v0, v1));
        __m256d z = _mm256_or_pd(_mm256_cmp_pd(v0, zero, _CMP_EQ_OQ),
                                 _mm256_cmp_pd(v1, zero, _CMP_EQ_OQ));
        if (_mm256_movemask_pd(z))
            for (int L = 0; L < LANES; L++)
                if (x[i + L] == 0.0)
                    a[signbit(x[i + L]) ? S_NEGZ : S_POSZ] = 1.0;
        c += LANES;
    }
    if (i == i0)
        return i;
    _mm256_storeu_pd(a + S_MEAN0, wm0);
    _mm256_storeu_pd(a + S_MEAN0 + 4, wm1);
    _mm256_storeu_pd(a + S_M20, q0);
    _mm256_storeu_pd(a + S_M20 + 4, q1);
    double l4[4], h4[4];
    _mm256_storeu_pd(l4, lo);
    _mm256_storeu_pd(h4, hi);
    for (int k = 0; k < 4; k++) {
        *plo = l4[k] < *plo ? l4[k] : *plo;
        *phi = h4[k] > *phi ? h4[k] : *phi;
    }
    if (*pc == 0)
        *pfirst = x[i0];
    *plast = x[i - 1];
    *pc = c;
    *psum = s;
    return i;
}
#endif

/* Accumulate records [r0, r1) of one bin, value j; `fresh` = they open the
   bin.  Blocks of LANES values without NaN that start at a lane-0 position
   take the vectorisable path; the rest goes value by value; both do the
   same arithmetic. */
static inline __attribute__((always_inline)) void
accumulate_value(double *a, int64_t *count, const double *x, int64_t width, int welford,
                 int propagate, int64_t r0, int64_t r1, int fresh, int avx2)
{
    double sum = a[S_SUM], lo = a[S_MIN], hi = a[S_MAX], first = a[S_FIRST], last = a[S_LAST];
    double wm[LANES], w2[LANES];
    memcpy(wm, a + S_MEAN0, sizeof wm);
    memcpy(w2, a + S_M20, sizeof w2);
    int64_t c = *count;
    int nan = 0;
    int64_t i = r0;
    while (i < r1) {
#if defined(PS_HAVE_AVX2)
        if (avx2 && width == 1 && c % LANES == 0 && i + LANES <= r1) {
            double lastv = last, firstv = first;
            memcpy(a + S_MEAN0, wm, sizeof wm);
            memcpy(a + S_M20, w2, sizeof w2);
            int64_t e = blocks_avx2(a, x, i, r1, welford, &c, &sum, &lo, &hi, &firstv, &lastv);
            if (e > i) {
                memcpy(wm, a + S_MEAN0, sizeof wm);
                memcpy(w2, a + S_M20, sizeof w2);
                if (!propagate) {
                    first = firstv;
                    last = lastv;
                }
                i = e;
                continue;
            }
        }
#else
        (void)avx2;
#endif
        if (c % LANES == 0 && i + LANES <= r1) {
            double blk[LANES];
            int bad = 0, zero = 0;
            for (int L = 0; L < LANES; L++) {
                blk[L] = x[(i + L) * width];
                bad |= blk[L] != blk[L];
            }
            if (!bad) {
                if (welford) {
                    double m = (double)(c / LANES + 1);
                    for (int L = 0; L < LANES; L++) {
                        double d = blk[L] - wm[L];
                        wm[L] += d / m;
                        w2[L] += d * (blk[L] - wm[L]);
                    }
                }
                for (int L = 0; L < LANES; L++) {
                    sum += blk[L];
                    lo = blk[L] < lo ? blk[L] : lo;
                    hi = blk[L] > hi ? blk[L] : hi;
                    zero |= blk[L] == 0.0;
                }
                if (zero)
                    for (int L = 0; L < LANES; L++)
                        if (blk[L] == 0.0)
                            a[signbit(blk[L]) ? S_NEGZ : S_POSZ] = 1.0;
                if (c == 0 && !propagate)
                    first = blk[0];
                last = blk[LANES - 1];
                c += LANES;
                i += LANES;
                continue;
            }
        }
        double v = x[i * width];
        i++;
        if (v != v) {
            nan = 1;
            continue;
        }
        int64_t p = c++;
        sum += v;
        if (welford) {
            int L = (int)(p % LANES);
            double d = v - wm[L];
            wm[L] += d / (double)(p / LANES + 1);
            w2[L] += d * (v - wm[L]);
        }
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        if (v == 0.0)
            a[signbit(v) ? S_NEGZ : S_POSZ] = 1.0;
        if (c == 1 && !propagate)
            first = v;
        last = v;
    }
    if (propagate) { /* the bin's first / last records as they are */
        if (fresh)
            first = x[r0 * width];
        last = x[(r1 - 1) * width];
    }
    if (nan)
        a[S_NAN] = 1.0;
    memcpy(a + S_MEAN0, wm, sizeof wm);
    memcpy(a + S_M20, w2, sizeof w2);
    a[S_SUM] = sum;
    a[S_MIN] = lo;
    a[S_MAX] = hi;
    a[S_FIRST] = first;
    a[S_LAST] = last;
    *count = c;
}

/* The same code compiled for the baseline and, where the build and the CPU
   have it, for AVX2 (the eight lanes in two registers): the same IEEE
   operations per value, so the same bits (see simd.h). */
#define ACCUMULATE_BODY                                                                  \
    for (int64_t j = 0; j < width; j++)                                                  \
        accumulate_value(acc + j * PS_BIN_SLOTS, count + j, values + j, width, welford,  \
                         propagate, r0, r1, fresh, AVX2_FLAG);

#define AVX2_FLAG 0
static void accumulate_base(double *acc, int64_t *count, int64_t width, int welford,
                            int propagate, const double *values, int64_t r0, int64_t r1,
                            int fresh)
{
    ACCUMULATE_BODY
}

#undef AVX2_FLAG
#define AVX2_FLAG 1
#if defined(PS_HAVE_AVX2)
PS_TARGET_AVX2 static void accumulate_avx2(double *acc, int64_t *count, int64_t width,
                                           int welford, int propagate, const double *values,
                                           int64_t r0, int64_t r1, int fresh)
{
    ACCUMULATE_BODY
}
#endif

static void accumulate(double *acc, int64_t *count, int64_t width, int welford, int propagate,
                       const double *values, int64_t r0, int64_t r1, int fresh, int level)
{
#if defined(PS_HAVE_AVX2)
    if (level >= PS_SIMD_AVX2) {
        accumulate_avx2(acc, count, width, welford, propagate, values, r0, r1, fresh);
        return;
    }
#endif
    (void)level;
    accumulate_base(acc, count, width, welford, propagate, values, r0, r1, fresh);
}

/* Whether some bins[i] < bins[i - 1] (0 < i < n): the sign bit of the
   wrapped difference flags every decrease and a few increases by more than
   2**63 (the caller then looks exactly); vectorised. */
#define DISORDER_BODY                                                                    \
    uint64_t flag = 0;                                                                   \
    for (int64_t i = 1; i < n; i++)                                                      \
        flag |= ((uint64_t)bins[i] - (uint64_t)bins[i - 1]) >> 63;                       \
    return flag != 0;

static int maybe_disorder_base(const int64_t *bins, int64_t n) { DISORDER_BODY }

#if defined(PS_HAVE_AVX2)
PS_TARGET_AVX2 static int maybe_disorder_avx2(const int64_t *bins, int64_t n) { DISORDER_BODY }
#endif

static int maybe_disorder(const int64_t *bins, int64_t n, int level)
{
#if defined(PS_HAVE_AVX2)
    if (level >= PS_SIMD_AVX2)
        return maybe_disorder_avx2(bins, n);
#endif
    (void)level;
    return maybe_disorder_base(bins, n);
}

/* First index >= i + 1 whose bin differs from bins[i] (bins non-decreasing). */
static int64_t run_end(const int64_t *bins, int64_t i, int64_t n)
{
    int64_t b = bins[i], lo = i, step = 1; /* bins[lo] == b */
    while (step < n - lo && bins[lo + step] == b) {
        lo += step;
        step = step < (n - lo) / 2 ? 2 * step : n - lo; /* no overflow */
    }
    int64_t hi = step < n - lo ? lo + step : n; /* bins[hi] != b or hi == n */
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (bins[mid] == b)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

int ps_bins_update(int64_t *head, double *acc, int64_t *count, int64_t width,
                   const int32_t *stats, int64_t nstats, int propagate, double ddof,
                   const double *values, const int64_t *bins, int64_t n, int check_order,
                   int64_t cap, int64_t *out_bins, double *out, int64_t *nout,
                   int64_t *consumed, int64_t *bad_row)
{
    if (bad_row)
        *bad_row = -1;
    if (!bad_row || !consumed || cap < 1 ||
        !check_args(head, acc, count, width, stats, nstats, ddof, out_bins, out, nout) ||
        n < 0 || (n > 0 && (!values || !bins)))
        return PS_ERR_ARG;
    *nout = 0;
    *consumed = 0;
    /* Check the order first, so a bad call changes nothing. */
    int level = ps_simd();
    if (check_order &&
        ((n > 0 && head[0] && bins[0] < head[1]) || maybe_disorder(bins, n, level))) {
        for (int64_t i = 0; i < n; i++)
            if (i ? bins[i] < bins[i - 1] : head[0] && bins[0] < head[1]) {
                *bad_row = i;
                return PS_ERR_ARG;
            }
    }
    int welford = 0;
    for (int64_t s = 0; s < nstats; s++)
        welford |= stats[s] == PS_BIN_VAR || stats[s] == PS_BIN_STD;
    int64_t k = 0, i = 0;
    while (i < n) {
        int64_t b = bins[i], e = run_end(bins, i, n);
        int fresh = !head[0] || head[1] != b;
        if (fresh) {
            if (head[0] && k == cap)
                break; /* the output is full: the caller calls again from row i */
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
        accumulate(acc, count, width, welford, propagate, values, i, e, fresh, level);
        head[2] += e - i;
        i = e;
    }
    *nout = k;
    *consumed = i;
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
