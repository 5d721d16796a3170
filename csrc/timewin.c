/*
 * timewin.c -- duration windows (issue 19): window bounds from a time
 * column, and sum / mean / var / std / min / max / argmin / argmax /
 * median / quantile / rank over windows given as row ranges.
 *
 * Bounds.  For non-decreasing times t and a width w > 0, the window of row
 * i starts at the least j with t[i] - t[j] < w (left end open) or <= w
 * (left end closed).  int64 times compare the difference as an unsigned
 * 64-bit number (t[i] >= t[j], so the difference is exact in uint64 for
 * any int64 times: no t[i] - w that could overflow near INT64_MIN).
 * float64 times compare the exact real difference: d = fl(t[i] - t[j]) is
 * compared with w and, only when d == w, the sign of the rounding error of
 * the subtraction (Knuth's TwoSum) decides.  The end of a window is the
 * caller's business (ends[], see time_kernels.py).
 *
 * Statistics, per value of the record (column), NaN-aware; count = the
 * non-NaN values of the window; the output is NaN when count < min_count,
 * and with propagate when count < the rows of the window.
 *
 * Sum / mean / var / std: the split rule (drift-free, chunk- and
 * partition-invariant bit for bit).  For a non-empty window of GLOBAL rows
 * [S, E) let k = the index of the highest bit of S ^ E and M = (E >> k) << k,
 * the most aligned point of (S, E] (S < M <= E).  The window's aggregate is
 * FRONT(S, M) combined with BACK(M, E):
 * - FRONT folds the values from row M-1 down to S (right to left), BACK from
 *   M up to E-1 (left to right); NaNs are skipped;
 * - sum: plain float64 addition from the identity -0.0 (x + -0.0 == x for
 *   every x, so an empty part changes nothing), total = FRONT + BACK,
 *   mean = total / count;
 * - var / std: Welford's (count, mean, M2) in each direction (n += 1;
 *   d = x - mean; mean += d * (1.0 / n); M2 += d * (x - mean)), then Chan's
 *   merge M2 = (M2f + M2b) + (delta * delta) * (((double)nf * nb) * (1.0 / n)),
 *   delta = mean_b - mean_f (an empty part is the other one unchanged);
 *   var = M2 * (1.0 / (count - ddof)), NaN while count - ddof <= 0 (as
 *   window.c's invd).  The reciprocals come from a table of the call's
 *   counts: a division per value would cost the divider's throughput (~5
 *   cycles each, 4 per row) and lengthen the dependency chain of the mean.
 * So every output is a function of (values, S, E) only: no value is ever
 * subtracted when it leaves a window, a constant window has M2 = 0 exactly
 * and an inf that left the window leaves no trace.  M never decreases as
 * windows slide (the most aligned point of a later interval cannot be
 * smaller), so a call keeps the suffix folds for the current M (rows S..M-1)
 * and the running prefix fold (M..E-1), rebuilt only when M changes.  When
 * window lengths change slowly (the case of a time window over a regular
 * or Poisson-like stream) each row is folded a bounded number of times
 * (O(1) amortised); adversarial lengths (a window shrinking and growing by
 * factors of 2) can refold a row once per power of two of the lengths
 * involved, so O(log L) amortised at worst.
 *
 * Min / max / argmin / argmax: the same FRONT / BACK split (exact, so the
 * split changes nothing but the speed): branch-free folds keep the newest
 * extremum of each part (ties go to the newest row, as bottleneck's
 * move_argmin), BACK wins ties; O(1) amortised as the sums.
 * argmin / argmax count back from the newest row of the window (ends - 1).
 *
 * Median / quantile / rank: exact order statistics of the window's non-NaN
 * values, so the structure used changes nothing but the speed:
 * - windows of at most PS_TW_SORTED_MAX rows: a sorted array of IEEE
 *   total-order keys (-inf < ... < -0.0 < +0.0 < ... < inf, as
 *   window_order.c), binary search + memmove per entering / leaving row;
 * - longer windows (L rows): segments of max(2 L, 4096) outputs; the
 *   segment's non-NaN values (about 3 L rows) are sorted (LSD radix sort of
 *   their keys) and a Fenwick tree over the sorted positions holds the
 *   window: insert / delete / k-th / count-less in O(log L), on a tree that
 *   stays in cache (one tree over a whole call of 1e7 rows missed it).
 * Median: the middle value, or the mean of the two middle ones; quantile:
 * numpy's "linear" method with numpy's _lerp (as window_order.c); rank:
 * bottleneck's move_rank of the newest row of the window (NaN when it is
 * NaN, 0 when alone; -0.0 == +0.0 there, as the float comparison).
 *
 * Memory: O(n) scratch per call (n = rows of the call), freed before
 * returning; PS_ERR_NOMEM when it is not available.
 */
#include "timewin.h"
#include "serial.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__) && !defined(PS_NO_SIMD)
#include <emmintrin.h>
#define TW_SSE2 1
#endif

#define SIGN64 0x8000000000000000ull

/* Longest window (in rows) whose order statistics use a sorted array
   (binary search + memmove: linear in the window, but cache-resident and
   branch-light); longer ones use the Fenwick tree.  Measured on 1e7
   records (median): 60 rows 119 ns/record sorted vs 157 Fenwick, 300 rows
   198 vs 140, 3600 rows 748 vs 134.  Both give the same
   bits; the C tests rebuild with 0 (Fenwick always) and a large value. */
#ifndef PS_TW_SORTED_MAX
#define PS_TW_SORTED_MAX 128
#endif

/* ------------------------------------------------------------------------ */
/* Bounds                                                                    */

/* Is the real number a - b below w (or equal, lc)?  a >= b finite. */
static inline int in_f64(double a, double b, double w, int lc)
{
    double d = a - b;
    if (d != w)
        return d < w; /* rounding is monotone and w is a double */
    {
        /* TwoSum: a - b == d + err exactly */
        double nb = -b;
        double a1 = d - nb, b1 = d - a1;
        double err = (a - a1) + (nb - b1);
        if (err != err) /* intermediate overflow near DBL_MAX: d is exact enough */
            return lc;
        return err < 0 ? 1 : err > 0 ? 0 : lc;
    }
}

/* Rows [i0, i1) of the two-pointer walk, from j = the start of row i0, in
   TW_LANES interleaved independent walks (the loads of one walk wait on its
   own j only, so the walks overlap); each step advances j by up to two
   branch-free increments, then by a loop for longer jumps (rare). */
#define TW_LANES 4
static void starts_walk_i64(const int64_t *t, int64_t i0, int64_t i1, uint64_t wl,
                            int64_t first, int64_t *starts, const int64_t *j0)
{
    const int64_t len = (i1 - i0) / TW_LANES;
    int64_t j[TW_LANES], r[TW_LANES];
    for (int l = 0; l < TW_LANES; l++) {
        j[l] = j0[l];
        r[l] = i0 + l * len;
    }
    for (int64_t step = 0; step < len; step++) {
        for (int l = 0; l < TW_LANES; l++) {
            const uint64_t ti = (uint64_t)t[r[l] + step];
            int64_t jj = j[l];
            jj += ti - (uint64_t)t[jj] >= wl;
            jj += ti - (uint64_t)t[jj] >= wl;
            while (ti - (uint64_t)t[jj] >= wl)
                jj++;
            j[l] = jj;
            starts[r[l] + step - first] = jj;
        }
    }
    {
        int64_t jj = j[TW_LANES - 1];
        for (int64_t i = i0 + TW_LANES * len; i < i1; i++) {
            while ((uint64_t)t[i] - (uint64_t)t[jj] >= wl)
                jj++;
            starts[i - first] = jj;
        }
    }
}

/* The start of row i (binary search over rows 0 .. i). */
static int64_t start_of_i64(const int64_t *t, int64_t i, uint64_t wl)
{
    int64_t lo = 0, hi = i;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if ((uint64_t)t[i] - (uint64_t)t[mid] < wl)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

int ps_tw_starts_i64(const int64_t *t, int64_t n, int64_t width, int left_closed,
                     int64_t first, int64_t *starts, int64_t *bad)
{
    int64_t i, j0[TW_LANES], len;
    /* in the window iff t[i] - t[j] < wl (exact in uint64; wl <= 2**63) */
    const uint64_t wl = (uint64_t)width + (left_closed ? 1u : 0u);
    if (!bad)
        return PS_ERR_ARG;
    *bad = -1;
    if (n < 0 || first < 0 || first > n || width <= 0 || (n > 0 && !t) ||
        (n > first && !starts))
        return PS_ERR_ARG;
    for (i = 1; i < n; i++)
        if (t[i] < t[i - 1]) {
            *bad = i;
            return PS_ERR_ARG;
        }
    if (first == n)
        return PS_OK;
    len = (n - first) / TW_LANES;
    for (int l = 0; l < TW_LANES; l++)
        j0[l] = start_of_i64(t, first + l * len, wl);
    /* the remainder continues the last lane: its j is where lane 3 ends */
    starts_walk_i64(t, first, n, wl, first, starts, j0);
    return PS_OK;
}

int ps_tw_starts_f64(const double *t, int64_t n, double width, int left_closed,
                     int64_t first, int64_t *starts, int64_t *bad)
{
    int64_t i, j, lo, hi;
    if (!bad)
        return PS_ERR_ARG;
    *bad = -1;
    if (n < 0 || first < 0 || first > n || !(width > 0) || (n > 0 && !t) ||
        (n > first && !starts))
        return PS_ERR_ARG;
    for (i = 0; i < n; i++)
        if (!isfinite(t[i]) || (i > 0 && t[i] < t[i - 1])) {
            *bad = i;
            return PS_ERR_ARG;
        }
    if (first == n)
        return PS_OK;
    if (isinf(width)) { /* every earlier row */
        for (i = first; i < n; i++)
            starts[i - first] = 0;
        return PS_OK;
    }
    lo = 0;
    hi = first;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (in_f64(t[first], t[mid], width, left_closed))
            hi = mid;
        else
            lo = mid + 1;
    }
    j = lo;
    for (i = first; i < n; i++) {
        while (!in_f64(t[i], t[j], width, left_closed))
            j++;
        starts[i - first] = j;
    }
    return PS_OK;
}

/* ------------------------------------------------------------------------ */
/* Common                                                                    */

typedef struct {
    const int64_t *s, *e;
    int64_t e0; /* e == NULL: window k ends at e0 + k */
    int64_t nout, base, mc;
    int propagate;
    double ddof, q;
} tw_args;

/* The most aligned point of (S, E], 0 <= S < E. */
static inline int64_t split_point(int64_t S, int64_t E)
{
    uint64_t d = (uint64_t)S ^ (uint64_t)E;
    int k;
#if defined(__GNUC__)
    k = 63 - __builtin_clzll(d);
#else
    k = 63;
    while (!(d >> k))
        k--;
#endif
    return (int64_t)(((uint64_t)E >> k) << k);
}

#define END(a, k) ((a)->e ? (a)->e[k] : (a)->e0 + (k))

static inline int reject(const tw_args *a, int64_t cnt, int64_t rows)
{
    return cnt < a->mc || (a->propagate && cnt < rows);
}

/* ------------------------------------------------------------------------ */
/* Sum / mean                                                                */

static void run_sum(const tw_args *a, const double *x, int mean, int64_t *sufc,
                    double *suf, double *out)
{
    int64_t m = -1, sb = 0, pe = 0, pc = 0;
    double pacc = -0.0;
    for (int64_t k = 0; k < a->nout; k++) {
        const int64_t s = a->s[k], e = END(a, k);
        int64_t cnt;
        double total;
        if (s >= e) {
            out[k] = NAN;
            continue;
        }
        {
            int64_t m2 = split_point(a->base + s, a->base + e) - a->base;
            if (m2 != m) {
                double acc = -0.0;
                int64_t c = 0;
                m = m2;
                sb = s;
                for (int64_t j = m - 1; j >= s; j--) {
                    double v = x[j];
                    acc += v == v ? v : -0.0;
                    c += v == v;
                    suf[j - s] = acc;
                    sufc[j - s] = c;
                }
                pacc = -0.0;
                pc = 0;
                pe = m;
            }
        }
        for (; pe < e; pe++) {
            double v = x[pe];
            pacc += v == v ? v : -0.0;
            pc += v == v;
        }
        total = suf[s - sb] + pacc;
        cnt = sufc[s - sb] + pc;
        if (reject(a, cnt, e - s))
            out[k] = NAN;
        else
            out[k] = mean ? total / (double)cnt : total;
    }
}

/* ------------------------------------------------------------------------ */
/* Var / std                                                                 */

/* o[i] = sqrt(o[i]) (correctly rounded either way: the same bits), two at a
   time: a square root per output in the loop above would wait on its
   latency. */
static void sqrt_all(double *o, int64_t n)
{
    int64_t i = 0;
#ifdef TW_SSE2
    for (; i + 2 <= n; i += 2)
        _mm_storeu_pd(o + i, _mm_sqrt_pd(_mm_loadu_pd(o + i)));
#endif
    for (; i < n; i++)
        o[i] = sqrt(o[i]);
}

static void run_var(const tw_args *a, const double *x, int sd, int64_t *sn,
                    double *smean, double *sm2, const double *inv, const double *invd,
                    double *out)
{
    int64_t m = -1, sb = 0, pe = 0, pn = 0;
    double pmean = 0.0, pm2 = 0.0;
    for (int64_t k = 0; k < a->nout; k++) {
        const int64_t s = a->s[k], e = END(a, k);
        int64_t nf, n;
        double mf, qf, m2;
        if (s >= e) {
            out[k] = NAN;
            continue;
        }
        {
            int64_t m2p = split_point(a->base + s, a->base + e) - a->base;
            if (m2p != m) {
                int64_t c = 0;
                double mu = 0.0, q = 0.0;
                m = m2p;
                sb = s;
                for (int64_t j = m - 1; j >= s; j--) {
                    double v = x[j];
                    if (v == v) {
                        double d;
                        c++;
                        d = v - mu;
                        mu += d * inv[c];
                        q += d * (v - mu);
                    }
                    sn[j - s] = c;
                    smean[j - s] = mu;
                    sm2[j - s] = q;
                }
                pn = 0;
                pmean = 0.0;
                pm2 = 0.0;
                pe = m;
            }
        }
        for (; pe < e; pe++) {
            double v = x[pe];
            if (v == v) {
                double d;
                pn++;
                d = v - pmean;
                pmean += d * inv[pn];
                pm2 += d * (v - pmean);
            }
        }
        nf = sn[s - sb];
        mf = smean[s - sb];
        qf = sm2[s - sb];
        n = nf + pn;
        if (reject(a, n, e - s) || (double)n - a->ddof <= 0) {
            out[k] = NAN;
            continue;
        }
        if (nf == 0)
            m2 = pm2;
        else if (pn == 0)
            m2 = qf;
        else {
            double delta = pmean - mf;
            m2 = (qf + pm2) + (delta * delta) * (((double)nf * (double)pn) * inv[n]);
        }
        out[k] = m2 * invd[n];
    }
    if (sd)
        sqrt_all(out, a->nout);
}

/* ------------------------------------------------------------------------ */
/* Min / max / argmin / argmax                                               */

/* The same FRONT / BACK split as the sums (exact, so any split gives the
   same result; this one is branch-free and O(1) amortised): FRONT keeps the
   newest extremum of rows M-1 down to S (strict comparison), BACK the newest
   of rows M .. E-1 (>=), and BACK wins ties (its rows are newer).  NaNs never
   compare, so they are skipped; an empty part has index -1. */
static void run_ext(const tw_args *a, const double *x, int ismax, int isarg,
                    int64_t *sc, double *sv, int64_t *si, double *out)
{
    int64_t m = -1, sb = 0, pe = 0, pi = -1, pc = 0;
    double pv = NAN;
    for (int64_t k = 0; k < a->nout; k++) {
        const int64_t s = a->s[k], e = END(a, k);
        int64_t cnt, fi, idx;
        if (s >= e) {
            out[k] = NAN;
            continue;
        }
        {
            int64_t m2 = split_point(a->base + s, a->base + e) - a->base;
            if (m2 != m) {
                double cv = NAN;
                int64_t ci = -1, c = 0;
                m = m2;
                sb = s;
                for (int64_t j = m - 1; j >= s; j--) {
                    double v = x[j];
                    int take = ismax ? v > cv : v < cv;
                    take |= ci < 0 && v == v;
                    cv = take ? v : cv;
                    ci = take ? j : ci;
                    c += v == v;
                    sv[j - s] = cv;
                    si[j - s] = ci;
                    sc[j - s] = c;
                }
                pv = NAN;
                pi = -1;
                pc = 0;
                pe = m;
            }
        }
        for (; pe < e; pe++) {
            double v = x[pe];
            int take = ismax ? v >= pv : v <= pv;
            take |= pi < 0 && v == v;
            pv = take ? v : pv;
            pi = take ? pe : pi;
            pc += v == v;
        }
        cnt = sc[s - sb] + pc;
        if (reject(a, cnt, e - s)) {
            out[k] = NAN;
            continue;
        }
        fi = si[s - sb];
        if (pi < 0)
            idx = fi;
        else if (fi < 0)
            idx = pi;
        else
            idx = (ismax ? pv >= sv[s - sb] : pv <= sv[s - sb]) ? pi : fi;
        out[k] = isarg ? (double)(e - 1 - idx) : x[idx];
    }
}

/* ------------------------------------------------------------------------ */
/* Order statistics: sort once, Fenwick tree over sorted positions          */

typedef struct {
    uint64_t key;
    int64_t row;
} kr;

static inline uint64_t to_key(double x)
{
    uint64_t u;
    memcpy(&u, &x, 8);
    return u ^ ((0 - (u >> 63)) | SIGN64);
}

static int cmp_kr(const void *pa, const void *pb)
{
    const kr *a = pa, *b = pb;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return (a->row > b->row) - (a->row < b->row);
}

#define RBITS 11
#define RBUCKETS (1 << RBITS)
#define RPASSES 6

/* Sort v[0..m) by key (LSD radix, 11-bit digits, passes where every key
   has the same digit skipped); tmp has room for m.  Returns the sorted
   array (v or tmp). */
static kr *sort_keys(kr *v, kr *tmp, int64_t m, int64_t *hist)
{
    if (m < 2048) {
        qsort(v, (size_t)m, sizeof *v, cmp_kr);
        return v;
    }
    memset(hist, 0, sizeof(int64_t) * RPASSES * RBUCKETS);
    for (int64_t i = 0; i < m; i++)
        for (int p = 0; p < RPASSES; p++)
            hist[p * RBUCKETS + ((v[i].key >> (p * RBITS)) & (RBUCKETS - 1))]++;
    for (int p = 0; p < RPASSES; p++) {
        int64_t *h = hist + p * RBUCKETS, sum = 0;
        int skip = 0;
        for (int b = 0; b < RBUCKETS; b++)
            if (h[b] == m)
                skip = 1;
        if (skip)
            continue;
        for (int b = 0; b < RBUCKETS; b++) {
            int64_t c = h[b];
            h[b] = sum;
            sum += c;
        }
        for (int64_t i = 0; i < m; i++) {
            int b = (int)((v[i].key >> (p * RBITS)) & (RBUCKETS - 1));
            tmp[h[b]++] = v[i];
        }
        {
            kr *t = v;
            v = tmp;
            tmp = t;
        }
    }
    return v;
}

static inline void fw_add(int32_t *t, int64_t m, int64_t p, int32_t d)
{
    for (int64_t i = p + 1; i <= m; i += i & -i)
        t[i] += d;
}

/* Number of window values at sorted positions < p. */
static inline int64_t fw_prefix(const int32_t *t, int64_t p)
{
    int64_t s = 0;
    for (int64_t i = p; i > 0; i -= i & -i)
        s += t[i];
    return s;
}

/* Sorted position (0-based) of the k-th smallest window value, 1 <= k <= count. */
static inline int64_t fw_kth(const int32_t *t, int64_t m, int64_t top, int64_t k)
{
    int64_t pos = 0;
    for (int64_t step = top; step; step >>= 1) {
        int64_t nx = pos + step;
        if (nx <= m && t[nx] < k) {
            pos = nx;
            k -= t[nx];
        }
    }
    return pos;
}

static inline double lerp(double a, double b, double t)
{
    double diff = b - a; /* numpy's _lerp */
    if (t >= 0.5)
        return b - diff * (1 - t);
    return a + diff * t;
}

/* Whether output k is NaN whatever its order statistic: an empty window, a
   NaN newest row (rank), or too few values (reject). */
static inline int order_nan(const tw_args *a, int stat, const double *x, int64_t s, int64_t e,
                            int64_t cnt)
{
    if (s >= e || (stat == PS_TW_RANK && x[e - 1] != x[e - 1]))
        return 1;
    return reject(a, cnt, e - s);
}

/* The value of rank r (0-based) among the window's sorted values. */
typedef double (*rank_value)(const void *ctx, int64_t r);

/* Median or quantile (numpy's "linear") of the cnt >= 1 values read by `at`. */
static inline double order_quantile(int stat, double q, int64_t cnt, rank_value at,
                                    const void *ctx)
{
    if (stat == PS_TW_MEDIAN) {
        double lo = at(ctx, (cnt + 1) / 2 - 1);
        return cnt & 1 ? lo : (lo + at(ctx, cnt / 2)) / 2.0;
    }
    /* numpy: virtual index h = (cnt - 1) * q; at or past the last index both
       neighbours are the last value and gamma = h + 1 */
    double h = (double)(cnt - 1) * q;
    if (h >= (double)(cnt - 1)) {
        double v = at(ctx, cnt - 1);
        return lerp(v, v, h + 1.0);
    }
    double fl = floor(h);
    int64_t L = (int64_t)fl;
    return lerp(at(ctx, L), at(ctx, L + 1), h - fl);
}

/* bottleneck's move_rank from the counts of values below (lt) and at most
   (le) the newest one, among cnt >= 1. */
static inline double order_rank(int64_t lt, int64_t le, int64_t cnt)
{
    if (cnt == 1)
        return 0.0;
    double g = (double)(2 * lt), eq = (double)(le - lt);
    double r = 0.5 * (g + eq - 1.0);
    r = r / ((double)cnt - 1.0);
    return 2.0 * (r - 0.5);
}

typedef struct {
    kr *v, *tmp;
    int64_t *hist;
    int32_t *pos, *tree, *glo, *ghi;
    double *sv;
    uint64_t *srt; /* short windows: the sorted keys */
} order_mem;

typedef struct {
    const order_mem *om;
    int64_t m, top;
} tree_ctx;

static double tree_value(const void *ctx, int64_t r)
{
    const tree_ctx *c = ctx;
    return c->om->sv[fw_kth(c->om->tree, c->m, c->top, r + 1)];
}

/* Outputs k0 .. k1-1, whose windows lie in rows [lo, hi): the segment's
   non-NaN values sorted, the Fenwick tree over their sorted positions. */
static void order_segment(const tw_args *a, int stat, const double *x, int64_t lo, int64_t hi,
                          int64_t k0, int64_t k1, order_mem *om, double *out)
{
    int64_t m = 0, top = 1, cs = lo, ce = lo, cnt = 0;
    kr *sorted;
    for (int64_t i = lo; i < hi; i++)
        if (x[i] == x[i]) {
            om->v[m].key = to_key(x[i]);
            om->v[m].row = i - lo;
            m++;
        }
    sorted = sort_keys(om->v, om->tmp, m, om->hist);
    for (int64_t p = 0; p < m; p++) {
        om->pos[sorted[p].row] = (int32_t)p;
        om->sv[p] = x[lo + sorted[p].row];
    }
    if (stat == PS_TW_RANK) { /* runs of equal values (-0.0 == +0.0) */
        for (int64_t p = 0; p < m; p++)
            om->glo[p] = p > 0 && om->sv[p] == om->sv[p - 1] ? om->glo[p - 1] : (int32_t)p;
        for (int64_t p = m - 1; p >= 0; p--)
            om->ghi[p] = p + 1 < m && om->sv[p] == om->sv[p + 1] ? om->ghi[p + 1] : (int32_t)p;
    }
    memset(om->tree, 0, sizeof(int32_t) * (size_t)(m + 1));
    while (top * 2 <= m)
        top *= 2;
    for (int64_t k = k0; k < k1; k++) {
        const int64_t s = a->s[k], e = END(a, k);
        const int64_t lim = s < ce ? s : ce;
        for (; cs < lim; cs++)
            if (x[cs] == x[cs]) {
                fw_add(om->tree, m, om->pos[cs - lo], -1);
                cnt--;
            }
        if (cs < s)
            cs = ce = s; /* the window is empty: jump */
        for (; ce < e; ce++)
            if (x[ce] == x[ce]) {
                fw_add(om->tree, m, om->pos[ce - lo], 1);
                cnt++;
            }
        if (order_nan(a, stat, x, s, e, cnt)) {
            out[k] = NAN;
        } else if (stat != PS_TW_RANK) {
            const tree_ctx c = {om, m, top};
            out[k] = order_quantile(stat, a->q, cnt, tree_value, &c);
        } else { /* rank of the newest row */
            int64_t p = om->pos[e - 1 - lo];
            out[k] = order_rank(fw_prefix(om->tree, om->glo[p]),
                                fw_prefix(om->tree, (int64_t)om->ghi[p] + 1), cnt);
        }
    }
}

/* Long windows: the outputs in segments of max(2 L, 4096) outputs (L = the
   rows of the segment's first window), each with its own sort and tree, so
   the tree spans about 3 L rows (cache-resident) instead of the whole call,
   at the cost of sorting each row about twice. */
static void run_order(const tw_args *a, int stat, const double *x, order_mem *om, double *out)
{
    int64_t k0 = 0;
    while (k0 < a->nout) {
        const int64_t lo = a->s[k0], len = END(a, k0) - lo;
        const int64_t seg = len > 2048 ? 2 * len : 4096;
        const int64_t k1 = seg < a->nout - k0 ? k0 + seg : a->nout;
        order_segment(a, stat, x, lo, END(a, k1 - 1), k0, k1, om, out);
        k0 = k1;
    }
}

/* ------------------------------------------------------------------------ */
/* Order statistics, short windows: a sorted array of keys                   */

static inline double from_key(uint64_t k)
{
    uint64_t u = k ^ ((0 - ((k >> 63) ^ 1)) | SIGN64);
    double x;
    memcpy(&x, &u, 8);
    return x;
}

/* First index of a[0..c) whose key is >= k (branch-free halving). */
static inline int64_t lower_bound(const uint64_t *a, int64_t c, uint64_t k)
{
    const uint64_t *base = a;
    int64_t len = c;
    while (len > 1) {
        int64_t half = len / 2;
        base = base[half - 1] < k ? base + half : base;
        len -= half;
    }
    return (base - a) + (len == 1 && *base < k);
}

static double sorted_value(const void *ctx, int64_t r)
{
    return from_key(((const uint64_t *)ctx)[r]);
}

static void run_sorted(const tw_args *a, int stat, const double *x, uint64_t *srt, double *out)
{
    int64_t cs = 0, ce = 0, cnt = 0;
    const uint64_t kneg0 = to_key(-0.0), kpos0 = to_key(0.0);
    for (int64_t k = 0; k < a->nout; k++) {
        const int64_t s = a->s[k], e = END(a, k);
        const int64_t lim = s < ce ? s : ce;
        for (; cs < lim; cs++)
            if (x[cs] == x[cs]) {
                int64_t p = lower_bound(srt, cnt, to_key(x[cs]));
                memmove(srt + p, srt + p + 1, (size_t)(cnt - p - 1) * 8);
                cnt--;
            }
        if (cs < s)
            cs = ce = s; /* the window is empty: jump */
        for (; ce < e; ce++)
            if (x[ce] == x[ce]) {
                uint64_t kx = to_key(x[ce]);
                int64_t p = lower_bound(srt, cnt, kx);
                memmove(srt + p + 1, srt + p, (size_t)(cnt - p) * 8);
                srt[p] = kx;
                cnt++;
            }
        if (order_nan(a, stat, x, s, e, cnt)) {
            out[k] = NAN;
        } else if (stat != PS_TW_RANK) {
            out[k] = order_quantile(stat, a->q, cnt, sorted_value, srt);
        } else {
            double v = x[e - 1];
            uint64_t klo = v == 0 ? kneg0 : to_key(v), khi = v == 0 ? kpos0 : to_key(v);
            int64_t lt = lower_bound(srt, cnt, klo);
            int64_t le = khi == UINT64_MAX ? cnt : lower_bound(srt, cnt, khi + 1);
            out[k] = order_rank(lt, le, cnt);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Entry point                                                               */

/* Checks the windows; returns the most rows of one, or -1 with *bad = the
   first bad window. */
static int64_t check_windows(const tw_args *a, int64_t n, int64_t *bad)
{
    int64_t most = 0, ps = 0, pe = 0;
    for (int64_t k = 0; k < a->nout; k++) {
        const int64_t s = a->s[k], e = END(a, k);
        if (s < 0 || s > e || e > n || s < ps || e < pe) {
            *bad = k;
            return -1;
        }
        most = e - s > most ? e - s : most;
        ps = s;
        pe = e;
    }
    return most;
}

int ps_tw_window(int stat, const double *x, int64_t n, int64_t width,
                 const int64_t *starts, const int64_t *ends, int64_t end0, int64_t nout,
                 int64_t base, int64_t min_count, int propagate, double ddof,
                 double q, double *out, int64_t *bad)
{
    tw_args a;
    int status = PS_OK;
    const int order = stat == PS_TW_MEDIAN || stat == PS_TW_QUANTILE || stat == PS_TW_RANK;
    double *xc = NULL, *oc = NULL, *d1 = NULL, *d2 = NULL, *inv = NULL;
    int64_t *i1 = NULL, *i2 = NULL, maxrows;
    order_mem om;
    memset(&om, 0, sizeof om);
    if (!bad)
        return PS_ERR_ARG;
    *bad = -1;
    if (stat < PS_TW_SUM || stat > PS_TW_RANK || n < 0 || width < 1 || nout < 0 ||
        base < 0 || base > INT64_MAX - n || min_count < 1 || (propagate != 0 && propagate != 1) ||
        !(ddof >= 0) || isinf(ddof) || (stat == PS_TW_QUANTILE && !(q >= 0 && q <= 1)) ||
        (nout > 0 && (!starts || !out)) || (n > 0 && !x) || end0 < 0 ||
        n > PS_MAX_WIDTH * 64 / width || (order && n >= INT32_MAX))
        return PS_ERR_ARG;
    a.s = starts;
    a.e = ends;
    a.e0 = end0;
    a.nout = nout;
    maxrows = check_windows(&a, n, bad);
    if (maxrows < 0)
        return PS_ERR_ARG;
    if (nout == 0)
        return PS_OK;
    a.base = base;
    a.mc = min_count;
    a.propagate = propagate;
    a.ddof = ddof;
    a.q = q;

    if (width > 1) {
        xc = ps_malloc_n(n + 1, sizeof(double));
        oc = ps_malloc_n(nout, sizeof(double));
        if (!xc || !oc)
            goto nomem;
    }
    switch (stat) {
    case PS_TW_SUM:
    case PS_TW_MEAN:
        d1 = ps_malloc_n(n + 1, sizeof(double));
        i2 = ps_malloc_n(n + 1, sizeof(int64_t));
        if (!d1 || !i2)
            goto nomem;
        break;
    case PS_TW_VAR:
    case PS_TW_STD:
        d1 = ps_malloc_n(n + 1, sizeof(double));
        d2 = ps_malloc_n(n + 1, sizeof(double));
        i1 = ps_malloc_n(n + 1, sizeof(int64_t));
        inv = ps_malloc_n(2 * (maxrows + 1), sizeof(double));
        if (!d1 || !d2 || !i1 || !inv)
            goto nomem;
        /* reciprocals of the counts and of count - ddof (NaN where <= 0):
           no division in the folds nor per output */
        inv[0] = 0.0;
        inv[maxrows + 1] = NAN;
        for (int64_t c = 1; c <= maxrows; c++) {
            inv[c] = 1.0 / (double)c;
            inv[maxrows + 1 + c] = (double)c - ddof > 0 ? 1.0 / ((double)c - ddof) : NAN;
        }
        break;
    case PS_TW_MIN:
    case PS_TW_MAX:
    case PS_TW_ARGMIN:
    case PS_TW_ARGMAX:
        d1 = ps_malloc_n(n + 1, sizeof(double));
        i1 = ps_malloc_n(n + 1, sizeof(int64_t));
        i2 = ps_malloc_n(n + 1, sizeof(int64_t));
        if (!d1 || !i1 || !i2)
            goto nomem;
        break;
    default:
        if (maxrows <= PS_TW_SORTED_MAX) {
            om.srt = ps_malloc_n(maxrows + 1, sizeof(uint64_t));
            if (!om.srt)
                goto nomem;
            break;
        }
        om.v = ps_malloc_n(n + 1, sizeof(kr));
        om.tmp = ps_malloc_n(n + 1, sizeof(kr));
        om.hist = ps_malloc_n(RPASSES * RBUCKETS, sizeof(int64_t));
        om.pos = ps_malloc_n(n + 1, sizeof(int32_t));
        om.tree = ps_malloc_n(n + 2, sizeof(int32_t));
        om.sv = ps_malloc_n(n + 1, sizeof(double));
        if (!om.v || !om.tmp || !om.hist || !om.pos || !om.tree || !om.sv)
            goto nomem;
        if (stat == PS_TW_RANK) {
            om.glo = ps_malloc_n(n + 1, sizeof(int32_t));
            om.ghi = ps_malloc_n(n + 1, sizeof(int32_t));
            if (!om.glo || !om.ghi)
                goto nomem;
        }
        break;
    }

    for (int64_t j = 0; j < width; j++) {
        const double *col = x + j;
        double *o = out + j;
        if (width > 1) {
            for (int64_t i = 0; i < n; i++)
                xc[i] = x[i * width + j];
            col = xc;
            o = oc;
        }
        switch (stat) {
        case PS_TW_SUM:
        case PS_TW_MEAN:
            run_sum(&a, col, stat == PS_TW_MEAN, i2, d1, o);
            break;
        case PS_TW_VAR:
        case PS_TW_STD:
            run_var(&a, col, stat == PS_TW_STD, i1, d1, d2, inv, inv + maxrows + 1, o);
            break;
        case PS_TW_MIN:
        case PS_TW_MAX:
        case PS_TW_ARGMIN:
        case PS_TW_ARGMAX:
            run_ext(&a, col, stat == PS_TW_MAX || stat == PS_TW_ARGMAX,
                    stat == PS_TW_ARGMIN || stat == PS_TW_ARGMAX, i2, d1, i1, o);
            break;
        default:
            if (om.srt)
                run_sorted(&a, stat, col, om.srt, o);
            else
                run_order(&a, stat, col, &om, o);
            break;
        }
        if (width > 1)
            for (int64_t k = 0; k < nout; k++)
                out[k * width + j] = oc[k];
    }
    goto done;
nomem:
    status = PS_ERR_NOMEM;
done:
    free(xc);
    free(oc);
    free(d1);
    free(d2);
    free(inv);
    free(i1);
    free(i2);
    free(om.v);
    free(om.tmp);
    free(om.hist);
    free(om.pos);
    free(om.tree);
    free(om.sv);
    free(om.glo);
    free(om.ghi);
    free(om.srt);
    return status;
}
