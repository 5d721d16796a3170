/*
 * comoving.c -- moving covariance, correlation and regression slope of pairs
 * of columns (issue 21) over windows given as row ranges: the windows of
 * records of moving_cov(100) and the duration windows of
 * moving_cov("5min") alike.
 *
 * Pairs.  For records of d columns every pair (a, b), a <= b, is computed
 * on its own: a record counts for the pair when both of its values are
 * non-NaN (pandas' pairwise-complete rule: each pair's means, variances
 * and co-moment come from those records).  count = such records in the
 * window; the output is NaN when count < min_count, and with propagate when
 * count < the rows of the window.  d == 2 gives the pair's value, d > 2
 * the d x d matrix (the diagonal: the variance of the column, and for the
 * correlation exactly 1, or NaN when the column is constant or too short).
 *
 * The split rule (drift-free, chunk- and partition-invariant bit for bit,
 * as timewin.c's sums and variances).  For a non-empty window of GLOBAL rows
 * [S, E) let k = the index of the highest bit of S ^ E and M = (E >> k) << k,
 * the most aligned point of (S, E].  The window's co-moments are FRONT(S, M)
 * joined with BACK(M, E):
 * - FRONT folds the pair's values from row M-1 down to S, BACK from M up
 *   to E-1; records with a NaN are skipped;
 * - each part shifts by its first valid record (K = (kx, ky): the one
 *   nearest M, a record of the window) and sums dx = x - kx, dy = y - ky,
 *   dx*dx, dy*dy, dx*dy in float64; its centred co-moments are
 *   Vx = Sxx - Sx*Sx/c (clamped at 0), Vy likewise, C = Sxy - Sx*Sy/c;
 * - the parts are joined by Chan's formula: with
 *   delta_x = (kx_b - kx_f) + (Sx_b/c_b - Sx_f/c_f) (and delta_y),
 *   C = (C_f + C_b) + delta_x*delta_y * (c_f*c_b/c) and the same for Vx, Vy
 *   (an empty part is the other one unchanged).
 * No value is ever subtracted when it leaves a window; a constant window has
 * dx == dy == 0 exactly, so covariance 0 and correlation 0/0 = NaN, whatever
 * came before it.  Outputs: cov = C / (count - ddof) (NaN while count - ddof
 * <= 0), corr = C / (sqrt(Vx) * sqrt(Vy)) clipped to [-1, 1], beta (slope of
 * column 1 on column 0) = C / Vx.  A window holding +-inf (or whose squared
 * deviations overflow float64) gives NaN.  Every NaN output is the one
 * canonical quiet NaN.
 *
 * So every output is a function of (values, S, E) only.  M never decreases
 * as windows slide, so a call keeps the FRONT folds for the current M (rows
 * S..M-1) and the running BACK fold (M..E-1), rebuilt only when M changes:
 * O(1) amortised per row for windows of records (M moves about once per
 * window) and for time windows whose length changes slowly (see timewin.c).
 *
 * Memory: O(n) scratch per call (n = rows of the call), freed before
 * returning; PS_ERR_NOMEM when it is not available.
 */
#include "comoving.h"
#include "serial.h"
#include "simd.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#if defined(__SSE2__) && !defined(PS_NO_SIMD)
#include <emmintrin.h>
#define CM_SSE2 1
#endif

typedef struct {
    const int64_t *s, *e;
    int64_t e0, nout, base, mc, window;
    int propagate, stat;
    double ddof;
} cm_args;

/* The sums of one part of a window: valid records c and the sums of the
   shifted values (the shift is kept by the caller). */
typedef struct {
    int64_t c;
    double sx, sy, sxx, syy, sxy;
} cm_sums;

static const cm_sums EMPTY = {0, 0.0, 0.0, 0.0, 0.0, 0.0};

#define END(a, k) ((a)->e ? (a)->e[k] : (a)->e0 + (k))
/* starts NULL: windows of `window` rows ending at END */
#define START(a, k, e) ((a)->s ? (a)->s[k] : ((e) - (a)->window > 0 ? (e) - (a)->window : 0))

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

static inline void add(cm_sums *p, double dx, double dy)
{
    p->c++;
    p->sx += dx;
    p->sy += dy;
    p->sxx += dx * dx;
    p->syy += dy * dy;
    p->sxy += dx * dy;
}

/* Centred co-moments of one non-empty part. */
static inline void moments(const cm_sums *p, const double *inv, double *vx, double *vy,
                           double *cxy)
{
    double r = inv[p->c];
    *vx = p->sxx - p->sx * p->sx * r;
    *vy = p->syy - p->sy * p->sy * r;
    *cxy = p->sxy - p->sx * p->sy * r;
    if (*vx < 0.0)
        *vx = 0.0;
    if (*vy < 0.0)
        *vy = 0.0;
}

/* Outputs are made in blocks of CM_BLOCK: a first loop folds the windows
   and leaves each output as a fraction (num, p1, p2), a second one divides
   (and takes the square roots) with nothing else in the way, so the divider
   and the square root unit work at their throughput instead of waiting on
   the folds.  The same IEEE operations either way (SSE2 or scalar), so the
   bits do not depend on the path. */
#define CM_BLOCK 256

/* 0: never take run_dense (a C test build checks both paths agree). */
#ifndef PS_COMOVING_DENSE
#define PS_COMOVING_DENSE 1
#endif

/* An output's fraction from its window's count n and centred co-moments:
   cov = num / p1, beta = num / p1, corr = num / (sqrt(p1) * sqrt(p2)). */
static inline void prepare(const cm_args *a, int64_t n, double vx, double vy, double cxy,
                           int diag, double *num, double *p1, double *p2)
{
    *p1 = 1.0;
    *p2 = 1.0;
    if (!(vx <= DBL_MAX) || !(vy <= DBL_MAX) || !(fabs(cxy) <= DBL_MAX)) {
        *num = NAN; /* an inf in the window, or an overflow */
        return;
    }
    if (a->stat == PS_COMOVE_COV) {
        *num = cxy;
        *p1 = (double)n - a->ddof > 0.0 ? (double)n - a->ddof : NAN;
    } else if (a->stat == PS_COMOVE_CORR) {
        if (diag)
            *num = vx > 0.0 ? 1.0 : NAN;
        else if (vx > 0.0 && vy > 0.0) {
            *num = cxy;
            *p1 = vx;
            *p2 = vy;
        } else
            *num = NAN; /* a constant column: 0 / 0 */
    } else { /* PS_COMOVE_BETA */
        *num = cxy;
        *p1 = vx;
    }
}

/* out[i * stride] = the fractions' values (corr clipped to [-1, 1]). */
static void divide(int stat, const double *num, const double *p1, const double *p2, int64_t m,
                   double *out, int64_t stride)
{
    int64_t i = 0;
    if (stat != PS_COMOVE_CORR) {
        for (; i < m; i++)
            out[i * stride] = num[i] / p1[i];
        return;
    }
#ifdef CM_SSE2
    {
        const __m128d one = _mm_set1_pd(1.0), mone = _mm_set1_pd(-1.0);
        for (; i + 2 <= m; i += 2) {
            __m128d d = _mm_mul_pd(_mm_sqrt_pd(_mm_loadu_pd(p1 + i)),
                                   _mm_sqrt_pd(_mm_loadu_pd(p2 + i)));
            __m128d r = _mm_div_pd(_mm_loadu_pd(num + i), d);
            /* max(a, b), min(a, b) return b when either is NaN: NaN stays */
            r = _mm_min_pd(one, _mm_max_pd(mone, r));
            out[i * stride] = _mm_cvtsd_f64(r);
            out[(i + 1) * stride] = _mm_cvtsd_f64(_mm_unpackhi_pd(r, r));
        }
    }
#endif
    for (; i < m; i++) {
        double r = num[i] / (sqrt(p1[i]) * sqrt(p2[i]));
        out[i * stride] = r > 1.0 ? 1.0 : r < -1.0 ? -1.0 : r;
    }
}

/* Every output of the pair of columns (ca, cb) of rows of d values: written
   at out[k * stride + o1] (and o2).  At each split point M: when row M-1 is
   valid for the pair (it lies in every window split at M), both parts are
   shifted by it and their sums simply add ("common"); otherwise each part
   is shifted by its own first valid record and they are joined by Chan's
   formula.  Either way every number used is a function of the window's
   values and of M. */
static inline void run_pair(const cm_args *a, const double *x, const int64_t d, int64_t ca,
                            int64_t cb, cm_sums *suf, const double *inv, double *out,
                            int64_t stride, int64_t o1, int64_t o2)
{
    int64_t m = -1, sb = 0, pe = 0;
    int common = 0, bset = 0;
    double fkx = 0.0, fky = 0.0, bkx = 0.0, bky = 0.0;
    double num[CM_BLOCK], q1[CM_BLOCK], q2[CM_BLOCK];
    cm_sums back = EMPTY;
    const int diag = ca == cb, propagate = a->propagate;
    const int64_t nout = a->nout, base = a->base, mc = a->mc;
    for (int64_t k0 = 0; k0 < nout; k0 += CM_BLOCK) {
        const int64_t kb = nout - k0 < CM_BLOCK ? nout - k0 : CM_BLOCK;
        for (int64_t i = 0; i < kb; i++) {
            const int64_t k = k0 + i, e = END(a, k), s = START(a, k, e);
            int64_t mp, n;
            const cm_sums *f;
            double vx, vy, cxy;
            num[i] = NAN;
            q1[i] = 1.0;
            q2[i] = 1.0;
            if (s >= e)
                continue;
            mp = split_point(base + s, base + e) - base;
            if (mp != m) {
                cm_sums acc = EMPTY;
                int fset = 0;
                m = mp;
                sb = s;
                for (int64_t j = m - 1; j >= s; j--) {
                    double u = x[j * d + ca], w = x[j * d + cb];
                    if (u == u && w == w) {
                        if (!fset) {
                            fkx = u;
                            fky = w;
                            fset = 1;
                            common = j == m - 1;
                        }
                        add(&acc, u - fkx, w - fky);
                    }
                    suf[j - s] = acc;
                }
                if (!fset)
                    common = 0;
                back = EMPTY;
                bset = common;
                bkx = fkx;
                bky = fky;
                pe = m;
            }
            for (; pe < e; pe++) {
                double u = x[pe * d + ca], w = x[pe * d + cb];
                if (u == u && w == w) {
                    if (!bset) {
                        bkx = u;
                        bky = w;
                        bset = 1;
                    }
                    add(&back, u - bkx, w - bky);
                }
            }
            f = &suf[s - sb];
            n = f->c + back.c;
            if (n < mc || (propagate && n < e - s) || n == 0)
                continue;
            if (common) {
                cm_sums t;
                t.c = n;
                t.sx = f->sx + back.sx;
                t.sy = f->sy + back.sy;
                t.sxx = f->sxx + back.sxx;
                t.syy = f->syy + back.syy;
                t.sxy = f->sxy + back.sxy;
                moments(&t, inv, &vx, &vy, &cxy);
            } else if (f->c == 0) {
                moments(&back, inv, &vx, &vy, &cxy);
            } else if (back.c == 0) {
                moments(f, inv, &vx, &vy, &cxy);
            } else {
                double vxf, vyf, cf, vxb, vyb, cbk, dx, dy, wt;
                moments(f, inv, &vxf, &vyf, &cf);
                moments(&back, inv, &vxb, &vyb, &cbk);
                dx = (bkx - fkx) + (back.sx * inv[back.c] - f->sx * inv[f->c]);
                dy = (bky - fky) + (back.sy * inv[back.c] - f->sy * inv[f->c]);
                wt = ((double)f->c * (double)back.c) * inv[n];
                vx = (vxf + vxb) + (dx * dx) * wt;
                vy = (vyf + vyb) + (dy * dy) * wt;
                cxy = (cf + cbk) + (dx * dy) * wt;
            }
            prepare(a, n, vx, vy, cxy, diag, &num[i], &q1[i], &q2[i]);
        }
        divide(a->stat, num, q1, q2, kb, out + k0 * stride + o1, stride);
        if (o2 != o1)
            for (int64_t i = 0; i < kb; i++)
                out[(k0 + i) * stride + o2] = out[(k0 + i) * stride + o1];
    }
}

/* The outputs of run_dense from each window's sums (tx .. txy), 1 / count
   (rn; NaN for a rejected window) and count - ddof (dn): the operations of
   moments(), prepare() and divide(), in the same order, two outputs per SSE2
   instruction (the same bits as the scalar loop, which also does the
   remainder). */
static inline double dense_one(int stat, int diag, double sx, double sy, double sxx, double syy,
                               double sxy, double r, double dn)
{
    double vx = sxx - sx * sx * r, vy = syy - sy * sy * r, c = sxy - sx * sy * r;
    double num, p1 = 1.0, p2 = 1.0;
    if (vx < 0.0)
        vx = 0.0;
    if (vy < 0.0)
        vy = 0.0;
    if (r != r || !(vx <= DBL_MAX) || !(vy <= DBL_MAX) || !(fabs(c) <= DBL_MAX))
        return NAN;
    if (stat == PS_COMOVE_COV) {
        num = c;
        p1 = dn > 0.0 ? dn : NAN;
        return num / p1;
    }
    if (stat == PS_COMOVE_BETA)
        return c / vx;
    if (diag)
        return vx > 0.0 ? 1.0 : NAN;
    if (!(vx > 0.0 && vy > 0.0))
        return NAN;
    num = c;
    p1 = vx;
    p2 = vy;
    num = num / (sqrt(p1) * sqrt(p2));
    return num > 1.0 ? 1.0 : num < -1.0 ? -1.0 : num;
}

static void dense_finish(int stat, int diag, int64_t m, const double *tx, const double *ty,
                         const double *txx, const double *tyy, const double *txy,
                         const double *rn, const double *dn, double *out, int64_t stride)
{
    int64_t i = 0;
#ifdef CM_SSE2
    if (!diag) {
        const __m128d zero = _mm_setzero_pd(), big = _mm_set1_pd(DBL_MAX);
        const __m128d one = _mm_set1_pd(1.0), mone = _mm_set1_pd(-1.0);
        const __m128d nan = _mm_set1_pd(NAN), absm = _mm_castsi128_pd(_mm_set1_epi64x(INT64_MAX));
        for (; i + 2 <= m; i += 2) {
            __m128d sx = _mm_loadu_pd(tx + i), sy = _mm_loadu_pd(ty + i);
            __m128d r = _mm_loadu_pd(rn + i);
            __m128d vx = _mm_sub_pd(_mm_loadu_pd(txx + i), _mm_mul_pd(_mm_mul_pd(sx, sx), r));
            __m128d vy = _mm_sub_pd(_mm_loadu_pd(tyy + i), _mm_mul_pd(_mm_mul_pd(sy, sy), r));
            __m128d c = _mm_sub_pd(_mm_loadu_pd(txy + i), _mm_mul_pd(_mm_mul_pd(sx, sy), r));
            __m128d ok, res;
            vx = _mm_max_pd(zero, vx); /* vx < 0 -> 0; NaN and -0.0 stay */
            vy = _mm_max_pd(zero, vy);
            ok = _mm_and_pd(_mm_and_pd(_mm_cmpeq_pd(r, r), _mm_cmple_pd(vx, big)),
                            _mm_and_pd(_mm_cmple_pd(vy, big),
                                       _mm_cmple_pd(_mm_and_pd(c, absm), big)));
            if (stat == PS_COMOVE_COV) {
                __m128d dd = _mm_loadu_pd(dn + i);
                dd = _mm_or_pd(_mm_and_pd(_mm_cmpgt_pd(dd, zero), dd),
                               _mm_andnot_pd(_mm_cmpgt_pd(dd, zero), nan));
                res = _mm_div_pd(c, dd);
            } else if (stat == PS_COMOVE_BETA) {
                res = _mm_div_pd(c, vx);
            } else {
                __m128d pos = _mm_and_pd(_mm_cmpgt_pd(vx, zero), _mm_cmpgt_pd(vy, zero));
                __m128d p1, p2;
                ok = _mm_and_pd(ok, pos);
                p1 = _mm_or_pd(_mm_and_pd(ok, vx), _mm_andnot_pd(ok, one));
                p2 = _mm_or_pd(_mm_and_pd(ok, vy), _mm_andnot_pd(ok, one));
                res = _mm_div_pd(c, _mm_mul_pd(_mm_sqrt_pd(p1), _mm_sqrt_pd(p2)));
                res = _mm_min_pd(one, _mm_max_pd(mone, res));
            }
            res = _mm_or_pd(_mm_and_pd(ok, res), _mm_andnot_pd(ok, nan));
            out[i * stride] = _mm_cvtsd_f64(res);
            out[(i + 1) * stride] = _mm_cvtsd_f64(_mm_unpackhi_pd(res, res));
        }
    }
#endif
    for (; i < m; i++)
        out[i * stride] = dense_one(stat, diag, tx[i], ty[i], txx[i], tyy[i], txy[i], rn[i],
                                    dn[i]);
}

/* run_pair when no row of the call has a NaN in the pair's columns: every
   split point is "common" (row M-1 is valid), counts are row counts, and the
   FRONT folds keep no count.  The same operations in the same order as
   run_pair's common case, so the same bits (csrc/tests/test_comoving.c
   checks it); a third of its instructions. */
typedef struct {
    double sx, sy, sxx, syy, sxy;
} cm_five;

static inline void run_dense(const cm_args *a, const double *x, const int64_t d, int64_t ca,
                             int64_t cb, cm_five *suf, const double *inv, double *out,
                             int64_t stride, int64_t o1, int64_t o2)
{
    int64_t m = -1, sb = 0, pe = 0;
    double kx = 0.0, ky = 0.0;
    double tx[CM_BLOCK], ty[CM_BLOCK], txx[CM_BLOCK], tyy[CM_BLOCK], txy[CM_BLOCK];
    double rn[CM_BLOCK], dn[CM_BLOCK];
    double bx = 0.0, by = 0.0, bxx = 0.0, byy = 0.0, bxy = 0.0;
    const int diag = ca == cb;
    const int64_t nout = a->nout, base = a->base, mc = a->mc, e0 = a->e0, w = a->window;
    const int64_t *const es = a->e, *const ss = a->s;
    const double ddof = a->ddof;
    for (int64_t k0 = 0; k0 < nout; k0 += CM_BLOCK) {
        const int64_t kb = nout - k0 < CM_BLOCK ? nout - k0 : CM_BLOCK;
        /* the window sums of each output of the block */
        for (int64_t i = 0; i < kb; i++) {
            const int64_t k = k0 + i, e = es ? es[k] : e0 + k;
            const int64_t s = ss ? ss[k] : (e - w > 0 ? e - w : 0), n = e - s;
            int64_t mp;
            const cm_five *f;
            if (n <= 0 || n < mc) {
                tx[i] = ty[i] = txx[i] = tyy[i] = txy[i] = 0.0;
                rn[i] = NAN; /* a rejected window: NaN */
                dn[i] = 1.0;
                if (n <= 0)
                    continue;
            } else {
                rn[i] = inv[n];
                dn[i] = (double)n - ddof;
            }
            mp = split_point(base + s, base + e) - base;
            if (mp != m) {
                double sx = 0.0, sy = 0.0, sxx = 0.0, syy = 0.0, sxy = 0.0;
                m = mp;
                sb = s;
                kx = x[(m - 1) * d + ca];
                ky = x[(m - 1) * d + cb];
                for (int64_t j = m - 1; j >= s; j--) {
                    double dx = x[j * d + ca] - kx, dy = x[j * d + cb] - ky;
                    sx += dx;
                    sy += dy;
                    sxx += dx * dx;
                    syy += dy * dy;
                    sxy += dx * dy;
                    suf[j - s].sx = sx;
                    suf[j - s].sy = sy;
                    suf[j - s].sxx = sxx;
                    suf[j - s].syy = syy;
                    suf[j - s].sxy = sxy;
                }
                bx = by = bxx = byy = bxy = 0.0;
                pe = m;
            }
            for (; pe < e; pe++) {
                double dx = x[pe * d + ca] - kx, dy = x[pe * d + cb] - ky;
                bx += dx;
                by += dy;
                bxx += dx * dx;
                byy += dy * dy;
                bxy += dx * dy;
            }
            if (rn[i] != rn[i])
                continue;
            f = &suf[s - sb];
            tx[i] = f->sx + bx;
            ty[i] = f->sy + by;
            txx[i] = f->sxx + bxx;
            tyy[i] = f->syy + byy;
            txy[i] = f->sxy + bxy;
        }
        dense_finish(a->stat, diag, kb, tx, ty, txx, tyy, txy, rn, dn, out + k0 * stride + o1,
                     stride);
        if (o2 != o1)
            for (int64_t i = 0; i < kb; i++)
                out[(k0 + i) * stride + o2] = out[(k0 + i) * stride + o1];
    }
}

/* Whether rows [lo, hi) have a NaN in column c or cc. */
static int has_nan(const double *x, int64_t d, int64_t c, int64_t cc, int64_t lo, int64_t hi)
{
    int any = 0;
    if (d == 2) /* contiguous: the SIMD scan of simd.c */
        return ps_any_nan(x + 2 * lo, 2 * (hi - lo));
    for (int64_t j = lo; j < hi; j++) {
        double u = x[j * d + c], w = x[j * d + cc];
        any |= (u != u) | (w != w);
    }
    return any;
}

/* Two columns: the same code with d, the columns and the output layout
   known to the compiler. */
static void run_two(const cm_args *a, const double *x, int dense, cm_sums *suf,
                    const double *inv, double *out)
{
    if (dense)
        run_dense(a, x, 2, 0, 1, (cm_five *)(void *)suf, inv, out, 1, 0, 0);
    else
        run_pair(a, x, 2, 0, 1, suf, inv, out, 1, 0, 0);
}

static void run_many(const cm_args *a, const double *x, int64_t d, int64_t ca, int64_t cb,
                     int dense, cm_sums *suf, const double *inv, double *out)
{
    if (dense)
        run_dense(a, x, d, ca, cb, (cm_five *)(void *)suf, inv, out, d * d, ca * d + cb,
                  cb * d + ca);
    else
        run_pair(a, x, d, ca, cb, suf, inv, out, d * d, ca * d + cb, cb * d + ca);
}

/* The first bad window (out of [0, n] or out of order), or -1; *longest =
   the most rows of a window. */
static int64_t check_windows(const cm_args *a, int64_t n, int64_t *longest)
{
    int64_t ps = 0, pe = 0, most = 0;
    for (int64_t k = 0; k < a->nout; k++) {
        int64_t e = END(a, k), s = START(a, k, e);
        if (s < ps || e < pe || s < 0 || s > e || e > n)
            return k;
        if (e - s > most)
            most = e - s;
        ps = s;
        pe = e;
    }
    *longest = most;
    return -1;
}

int ps_comoving(int stat, const double *x, int64_t n, int64_t d,
                const int64_t *starts, const int64_t *ends, int64_t end0, int64_t nout,
                int64_t window, int64_t base, int64_t min_count, int propagate, double ddof,
                double *out, int64_t *bad)
{
    cm_args a;
    cm_sums *suf;
    double *inv;
    int64_t width, i, longest = 0, lo, hi;
    if (bad)
        *bad = -1;
    if (!bad || n < 0 || d < 2 || nout < 0 || base < 0 || min_count < 1 ||
        (propagate != 0 && propagate != 1) || (nout > 0 && !out) ||
        (!starts && window < 1) ||
        (n > 0 && !x) || n > INT64_MAX - base || n > INT64_MAX / d)
        return PS_ERR_ARG;
    if (stat != PS_COMOVE_COV && stat != PS_COMOVE_CORR && stat != PS_COMOVE_BETA)
        return PS_ERR_ARG;
    if (stat == PS_COMOVE_BETA && d != 2)
        return PS_ERR_ARG;
    if (stat == PS_COMOVE_COV && !(ddof >= 0.0 && ddof <= DBL_MAX))
        return PS_ERR_ARG;
    if (!ends && (end0 < 0 || end0 > n || nout > n - end0 + 1))
        return PS_ERR_ARG;
    width = d == 2 ? 1 : d * d;
    if (d > 2 && d > 3037000499) /* d * d must fit an int64 */
        return PS_ERR_ARG;
    if (nout > 0 && width > INT64_MAX / nout)
        return PS_ERR_ARG;
    a.s = starts;
    a.e = ends;
    a.e0 = end0;
    a.window = window;
    a.nout = nout;
    a.base = base;
    a.mc = min_count;
    a.propagate = propagate;
    a.stat = stat;
    a.ddof = ddof;
    if (nout == 0)
        return PS_OK;
    if (!starts && !ends) /* windows of records: in range (end0 + nout - 1 <= n, checked) */
        longest = window < n ? window : n;
    else {
        *bad = check_windows(&a, n, &longest);
        if (*bad >= 0)
            return PS_ERR_ARG;
    }
    /* a FRONT part and a count are at most a window's rows */
    suf = ps_malloc_n(longest + 1, sizeof *suf);
    inv = ps_malloc_n(longest + 1, sizeof *inv);
    if (!suf || !inv) {
        free(suf);
        free(inv);
        return PS_ERR_NOMEM;
    }
    inv[0] = NAN;
    for (i = 1; i <= longest; i++)
        inv[i] = 1.0 / (double)i;
    /* the rows the windows read */
    hi = END(&a, 0);
    lo = START(&a, 0, hi);
    hi = END(&a, nout - 1);
    if (d == 2)
        run_two(&a, x, PS_COMOVING_DENSE && !has_nan(x, 2, 0, 1, lo, hi), suf, inv, out);
    else
        for (int64_t ca = 0; ca < d; ca++)
            for (int64_t cb = ca; cb < d; cb++)
                run_many(&a, x, d, ca, cb, PS_COMOVING_DENSE && !has_nan(x, d, ca, cb, lo, hi),
                         suf, inv, out);
    free(suf);
    free(inv);
    if (ps_any_nan(out, nout * width)) /* one canonical NaN */
        for (i = 0; i < nout * width; i++)
            if (out[i] != out[i])
                out[i] = NAN;
    return PS_OK;
}
