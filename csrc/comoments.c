/*
 * comoments.c -- streaming co-moment matrices (see comoments.h).
 *
 * The placement scheme is the one of moments.c (global aligned blocks of
 * ps_moments_block(d) records, canonical tree of aligned nodes, raw edges):
 * a state's nodes depend only on its [start, stop) and the data, so any
 * chunking and any merge of adjacent states give the same bytes.
 *
 * Block algorithm (one fixed order whatever memory the block comes from;
 * the block is first gathered as float64 rows unless it already is one):
 *   pass 1, per column j: s_j = sum_r x_rj (record order), min, max;
 *           m0_j = min if min == max (a constant column: exact), else s_j / n;
 *   pass 2, per record: y_j = x_rj - m0_j, e_j += y_j,
 *           S_ij += y_i * y_j (record order, every (i, j): the j loop
 *           vectorises without changing any rounding);
 *   C_ij = S_ij - (e_i * e_j) / n   (Bjorck's corrected two-pass),
 *   mean_j = m0_j + e_j / n.
 * C is exactly symmetric (y_i*y_j == y_j*y_i, same order).  Combine
 * (Chan/Pebay):  d = m_b - m_a,  f = n_a n_b / n,
 *   C = (C_a + C_b) + (d_i * d_j) * f,   m = m_a + d * (n_b / n).
 * The pairwise form (blocks holding a NaN) runs the same arithmetic per
 * pair over the records where both values are non-NaN, so a pair without
 * NaN gets the same bits as in the compact form.
 */
#include "comoments.h"
#include "pystream.h"
#include "serial.h"
#include "simd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT_VERSION 1u
#define MAX_NODES 130
/* Records per sub-block: the co-moment sums of a block are sequential sums
   of SUB records, added by a pairwise tree (the error of a block sum grows
   with SUB + log2(B / SUB), not with B). */
#define SUB 16
#define MAX_SUBS (1024 / SUB)
/* Widest record: a d*d matrix of 4 words per pair stays far from SIZE_MAX. */
#define MAX_COWIDTH ((int64_t)1 << 20)

static const unsigned char MAGIC[8] = {'P', 'S', 'C', 'O', 'M', 'O', 'M', '1'};

/* A summary: compact (pw == 0: n records, mu/ml[d], c[d*d]) or pairwise
   (pw == 1: cnt[d*d], mu/ml[d*d], c[d*d], v[d*d]).  A mean is kept as the
   unevaluated sum mu + ml: mu is a shift taken from the data (the first
   block's m0), ml the mean's offset from it, so far from zero (data of
   mean 1e9, spread 1) mean differences keep the digits of the spread. */
typedef struct {
    int pw;
    int64_t n;
    int64_t *cnt;
    double *mu, *ml, *c, *v;
} summ;

typedef struct {
    int level;
    int64_t index;
    summ s;
} node;

struct ps_comoments {
    int64_t d, B, start, stop;
    double *head, *tail; /* raw records, B*d each (allocated with the width) */
    int64_t head_n, tail_n;
    node nodes[MAX_NODES];
    int nn;
    int64_t *nan_count;
    int64_t first_nan, first_nan_col;
    double *work; /* padded rows B*dp, centred rows B*dp, S (B/SUB)*dp*dp, m0, e,
                     the rows with NaNs zeroed B*dp */
    unsigned char *colnan; /* per column: a NaN in the block (dp bytes) */
};

/* ------------------------------------------------------------------ summaries */

static void summ_free(summ *s)
{
    free(s->cnt);
    free(s->mu);
    free(s->ml);
    free(s->c);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* Allocate `s` (fields zeroed) in the given form. */
static int summ_alloc(summ *s, int64_t d, int pw)
{
    memset(s, 0, sizeof *s);
    s->pw = pw;
    int64_t dd = d * d;
    s->c = calloc((size_t)dd, sizeof(double));
    if (pw) {
        s->cnt = calloc((size_t)dd, sizeof(int64_t));
        s->mu = calloc((size_t)dd, sizeof(double));
        s->ml = calloc((size_t)dd, sizeof(double));
        s->v = calloc((size_t)dd, sizeof(double));
    } else {
        s->mu = calloc((size_t)d, sizeof(double));
        s->ml = calloc((size_t)d, sizeof(double));
    }
    if (!s->c || !s->mu || !s->ml || (pw && (!s->cnt || !s->v))) {
        summ_free(s);
        return PS_ERR_NOMEM;
    }
    return PS_OK;
}

static int summ_copy(summ *dst, const summ *src, int64_t d)
{
    int st = summ_alloc(dst, d, src->pw);
    if (st)
        return st;
    int64_t dd = d * d;
    dst->n = src->n;
    memcpy(dst->c, src->c, (size_t)dd * sizeof(double));
    if (src->pw) {
        memcpy(dst->cnt, src->cnt, (size_t)dd * sizeof(int64_t));
        memcpy(dst->mu, src->mu, (size_t)dd * sizeof(double));
        memcpy(dst->ml, src->ml, (size_t)dd * sizeof(double));
        memcpy(dst->v, src->v, (size_t)dd * sizeof(double));
    } else {
        memcpy(dst->mu, src->mu, (size_t)d * sizeof(double));
        memcpy(dst->ml, src->ml, (size_t)d * sizeof(double));
    }
    return PS_OK;
}

/* Compact -> pairwise, in place (exact: counts, means and M2 copied). */
static int to_pairwise(summ *s, int64_t d)
{
    if (s->pw)
        return PS_OK;
    summ p;
    int st = summ_alloc(&p, d, 1);
    if (st)
        return st;
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) {
            p.cnt[i * d + j] = s->n;
            p.mu[i * d + j] = s->n ? s->mu[i] : 0.0;
            p.ml[i * d + j] = s->n ? s->ml[i] : 0.0;
            p.c[i * d + j] = s->c[i * d + j];
            p.v[i * d + j] = s->c[i * d + i];
        }
    p.n = s->n;
    summ_free(s);
    *s = p;
    return PS_OK;
}

/* a = a (+) b, b to the right of a. */
static int summ_combine(summ *a, const summ *b, int64_t d)
{
    if (!a->pw && !b->pw) {
        if (b->n == 0)
            return PS_OK;
        if (a->n == 0) {
            summ t;
            int st = summ_copy(&t, b, d);
            if (st)
                return st;
            summ_free(a);
            *a = t;
            return PS_OK;
        }
        int64_t n = a->n + b->n;
        double f = (double)a->n * (double)b->n / (double)n;
        double r = (double)b->n / (double)n;
        /* delta = (shift_b - shift_a) + (offset_b - offset_a) */
        const double *bm = b->mu, *am = a->mu, *bl = b->ml, *al = a->ml;
        for (int64_t i = 0; i < d; i++) {
            double di = (bm[i] - am[i]) + (bl[i] - al[i]);
            double *crow = a->c + i * d;
            const double *brow = b->c + i * d;
            for (int64_t j = 0; j < d; j++) {
                double dj = (bm[j] - am[j]) + (bl[j] - al[j]);
                crow[j] = (crow[j] + brow[j]) + (di * dj) * f;
            }
        }
        for (int64_t i = 0; i < d; i++)    /* the shift stays a's */
            a->ml[i] = a->ml[i] + ((bm[i] - am[i]) + (bl[i] - al[i])) * r;
        a->n = n;
        return PS_OK;
    }
    /* pairwise */
    summ bb;
    const summ *bp = b;
    int st = to_pairwise(a, d);
    if (st)
        return st;
    if (!b->pw) {
        st = summ_copy(&bb, b, d);
        if (st)
            return st;
        st = to_pairwise(&bb, d);
        if (st) {
            summ_free(&bb);
            return st;
        }
        bp = &bb;
    }
    summ o;
    st = summ_alloc(&o, d, 1);
    if (st) {
        if (bp == &bb)
            summ_free(&bb);
        return st;
    }
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) {
            int64_t k = i * d + j, t = j * d + i;
            int64_t na = a->cnt[k], nb = bp->cnt[k];
            if (nb == 0) {
                o.cnt[k] = na, o.mu[k] = a->mu[k], o.ml[k] = a->ml[k];
                o.c[k] = a->c[k], o.v[k] = a->v[k];
            } else if (na == 0) {
                o.cnt[k] = nb, o.mu[k] = bp->mu[k], o.ml[k] = bp->ml[k];
                o.c[k] = bp->c[k], o.v[k] = bp->v[k];
            } else {
                int64_t n = na + nb;
                double f = (double)na * (double)nb / (double)n;
                double r = (double)nb / (double)n;
                double di = (bp->mu[k] - a->mu[k]) + (bp->ml[k] - a->ml[k]);
                double dj = (bp->mu[t] - a->mu[t]) + (bp->ml[t] - a->ml[t]);
                o.cnt[k] = n;
                o.c[k] = (a->c[k] + bp->c[k]) + (di * dj) * f;
                o.v[k] = (a->v[k] + bp->v[k]) + (di * di) * f;
                o.mu[k] = a->mu[k];
                o.ml[k] = a->ml[k] + di * r;
            }
        }
    o.n = a->n + bp->n;
    summ_free(a);
    *a = o;
    if (bp == &bb)
        summ_free(&bb);
    return PS_OK;
}

/* -------------------------------------------------------------- block algorithm */

/* The compact kernel works on a padded copy of the block: rows of dp
   values (d rounded up to 4, zeros after), so every loop runs over whole
   4-double vectors.  The vector loops only compute independent elements
   side by side (each element is still one sequential sum over the records,
   no FMA: -ffp-contract=off), so the AVX2 build, the SSE2 baseline and a
   scalar loop give the same bits. */
typedef double v4d __attribute__((vector_size(32), aligned(8)));
typedef long long v4l __attribute__((vector_size(32), aligned(8)));

#define splat(v) ((v4d){(v), (v), (v), (v)})

/* Compact summary of n >= 1 rows X (dp values each, zeros after d;
   NaN-free) into mu/ml[d], c[d*d].  Y (n*dp) receives the centred rows;
   S: ceil(n / SUB) * dp*dp, m0/e: dp each. */
static inline __attribute__((always_inline)) void compact_core(
    const double *restrict X, double *restrict Y, int64_t n, int64_t d, int64_t dp,
    double *restrict mu, double *restrict ml, double *restrict c, double *restrict S,
    double *restrict m0, double *restrict e)
{
    /* pass 1: sums; a column is constant when every value equals the first */
    for (int64_t j = 0; j < dp; j += 4) {
        v4d s = splat(0.0), x0 = *(const v4d *)(X + j);
        v4l ne = {0, 0, 0, 0};
        for (int64_t r = 0; r < n; r++) {
            v4d v = *(const v4d *)(X + r * dp + j);
            s += v;
            ne |= (v != x0);
        }
        v4d m = s / splat((double)n);
        for (int k = 0; k < 4; k++)
            m0[j + k] = ne[k] ? m[k] : x0[k];
    }
    /* pass 2: centre, sum the deviations */
    for (int64_t j = 0; j < dp; j += 4) {
        v4d acc = splat(0.0), mv = *(const v4d *)(m0 + j);
        for (int64_t r = 0; r < n; r++) {
            v4d y = *(const v4d *)(X + r * dp + j) - mv;
            *(v4d *)(Y + r * dp + j) = y;
            acc += y;
        }
        *(v4d *)(e + j) = acc;
    }
    /* pass 3: S = Y^T Y by sub-blocks of SUB records (each a sequential
       sum, over tiles of 4 rows x 8 (or 4) columns, upper part), the
       sub-block sums then added by the fixed pairwise tree of tree_sum */
    int64_t nq = (n + SUB - 1) / SUB;
    for (int64_t q = 0; q < nq; q++) {
        int64_t r0 = q * SUB, r1 = r0 + SUB < n ? r0 + SUB : n;
        double *P = S + q * dp * dp;
        for (int64_t i0 = 0; i0 < d; i0 += 4) {
            for (int64_t j0 = i0; j0 < dp; j0 += 8) {
                if (j0 + 8 <= dp) {
                    v4d a0 = splat(0.0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0,
                        b2 = a0, b3 = a0;
                    for (int64_t r = r0; r < r1; r++) {
                        const double *y = Y + r * dp;
                        v4d ya = *(const v4d *)(y + j0), yb = *(const v4d *)(y + j0 + 4);
                        v4d u0 = splat(y[i0]), u1 = splat(y[i0 + 1]), u2 = splat(y[i0 + 2]),
                            u3 = splat(y[i0 + 3]);
                        a0 += u0 * ya, b0 += u0 * yb;
                        a1 += u1 * ya, b1 += u1 * yb;
                        a2 += u2 * ya, b2 += u2 * yb;
                        a3 += u3 * ya, b3 += u3 * yb;
                    }
                    double *o = P + i0 * dp + j0;
                    *(v4d *)o = a0, *(v4d *)(o + 4) = b0;
                    *(v4d *)(o + dp) = a1, *(v4d *)(o + dp + 4) = b1;
                    *(v4d *)(o + 2 * dp) = a2, *(v4d *)(o + 2 * dp + 4) = b2;
                    *(v4d *)(o + 3 * dp) = a3, *(v4d *)(o + 3 * dp + 4) = b3;
                } else {
                    v4d a0 = splat(0.0), a1 = a0, a2 = a0, a3 = a0;
                    for (int64_t r = r0; r < r1; r++) {
                        const double *y = Y + r * dp;
                        v4d ya = *(const v4d *)(y + j0);
                        a0 += splat(y[i0]) * ya;
                        a1 += splat(y[i0 + 1]) * ya;
                        a2 += splat(y[i0 + 2]) * ya;
                        a3 += splat(y[i0 + 3]) * ya;
                    }
                    double *o = P + i0 * dp + j0;
                    *(v4d *)o = a0;
                    *(v4d *)(o + dp) = a1;
                    *(v4d *)(o + 2 * dp) = a2;
                    *(v4d *)(o + 3 * dp) = a3;
                }
            }
        }
    }
    for (int64_t w = 1; w < nq; w *= 2)
        for (int64_t q = 0; q + w < nq; q += 2 * w) {
            double *lo = S + q * dp * dp;
            const double *hi = S + (q + w) * dp * dp;
            for (int64_t i0 = 0; i0 < d; i0 += 4)
                for (int64_t i = i0; i < i0 + 4; i++)
                    for (int64_t j = i0; j < dp; j += 4)
                        *(v4d *)(lo + i * dp + j) += *(const v4d *)(hi + i * dp + j);
        }
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) {
            double sij = j >= i ? S[i * dp + j] : S[j * dp + i];
            c[i * d + j] = sij - (e[i] * e[j]) / (double)n;
        }
    for (int64_t j = 0; j < d; j++)
        mu[j] = m0[j], ml[j] = e[j] / (double)n;
}

static void compact_plain(const double *X, double *Y, int64_t n, int64_t d, int64_t dp,
                          double *mu, double *ml, double *c, double *S, double *m0, double *e)
{
    compact_core(X, Y, n, d, dp, mu, ml, c, S, m0, e);
}

#ifdef PS_HAVE_AVX2
PS_TARGET_AVX2 static void compact_avx2(const double *X, double *Y, int64_t n, int64_t d,
                                        int64_t dp, double *mu, double *ml, double *c,
                                        double *S, double *m0, double *e)
{
    compact_core(X, Y, n, d, dp, mu, ml, c, S, m0, e);
}
#endif

static int64_t padded(int64_t d) { return (d + 3) & ~(int64_t)3; }

/* Pairwise summary of n rows (row stride ld) holding NaNs into o
   (allocated pairwise).  Pairs of two columns without NaN in the block take
   the compact kernel's results t (run on the block with the NaNs zeroed:
   a pair's results read its two columns only).  The other pairs run the
   compact kernel's arithmetic per pair over the records where both values
   are non-NaN, so a pair without NaN would get the same bits either way
   (the slow twin checks it).  Both orders (i, j), (j, i) in one pass. */
static void block_pairwise(const double *x, int64_t n, int64_t d, int64_t ld, summ *o,
                           const unsigned char *colnan, const summ *t)
{
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = i; j < d; j++) {
            int64_t k = i * d + j, u = j * d + i;
            if (!colnan[i] && !colnan[j]) {
                o->cnt[k] = o->cnt[u] = n;
                o->mu[k] = t->mu[i], o->ml[k] = t->ml[i];
                o->mu[u] = t->mu[j], o->ml[u] = t->ml[j];
                o->c[k] = t->c[k], o->c[u] = t->c[u];
                o->v[k] = t->c[i * d + i], o->v[u] = t->c[j * d + j];
                continue;
            }
            int64_t cnt = 0;
            double si = 0.0, sj = 0.0, fi = 0.0, fj = 0.0;
            int vary_i = 0, vary_j = 0;
            for (int64_t r = 0; r < n; r++) {
                double a = x[r * ld + i], b = x[r * ld + j];
                if (a != a || b != b)
                    continue;
                if (cnt == 0)
                    fi = a, fj = b;
                cnt++;
                si += a;
                sj += b;
                vary_i |= a != fi;
                vary_j |= b != fj;
            }
            o->cnt[k] = o->cnt[u] = cnt;
            if (cnt == 0) {
                o->mu[k] = o->ml[k] = o->c[k] = o->v[k] = 0.0;
                o->mu[u] = o->ml[u] = o->c[u] = o->v[u] = 0.0;
                continue;
            }
            double mi = vary_i ? si / (double)cnt : fi;
            double mj = vary_j ? sj / (double)cnt : fj;
            double ei = 0.0, ej = 0.0, sc[MAX_SUBS], vi[MAX_SUBS], vj[MAX_SUBS];
            int64_t nq = (n + SUB - 1) / SUB;
            for (int64_t q = 0; q < nq; q++) {
                double c0 = 0.0, a0 = 0.0, b0 = 0.0;
                for (int64_t r = q * SUB; r < n && r < (q + 1) * SUB; r++) {
                    double a = x[r * ld + i], b = x[r * ld + j];
                    if (a != a || b != b)
                        continue;
                    double yi = a - mi, yj = b - mj;
                    ei += yi;
                    ej += yj;
                    c0 += yi * yj;
                    a0 += yi * yi;
                    b0 += yj * yj;
                }
                sc[q] = c0, vi[q] = a0, vj[q] = b0;
            }
            for (int64_t w = 1; w < nq; w *= 2)
                for (int64_t q = 0; q + w < nq; q += 2 * w)
                    sc[q] += sc[q + w], vi[q] += vi[q + w], vj[q] += vj[q + w];
            o->c[k] = o->c[u] = sc[0] - (ei * ej) / (double)cnt;
            o->v[k] = vi[0] - (ei * ei) / (double)cnt;
            o->v[u] = vj[0] - (ej * ej) / (double)cnt;
            o->mu[k] = mi, o->ml[k] = ei / (double)cnt;
            o->mu[u] = mj, o->ml[u] = ej / (double)cnt;
        }
    o->n = n;
}

/* Rows [p, p + n) as float64 rows: x itself when it already is one, else
   gathered into buf. */
static const double *as_rows(int dtype, const char *p, int64_t n, int64_t d, ptrdiff_t s0,
                             ptrdiff_t s1, double *buf)
{
    if (dtype == PS_FLOAT64 && s1 == 8 && s0 == 8 * d)
        return (const double *)(const void *)p;
    for (int64_t r = 0; r < n; r++) {
        const char *row = p + r * s0;
        double *out = buf + r * d;
        if (dtype == PS_FLOAT64)
            for (int64_t j = 0; j < d; j++)
                out[j] = *(const double *)(const void *)(row + j * s1);
        else
            for (int64_t j = 0; j < d; j++)
                out[j] = (double)*(const float *)(const void *)(row + j * s1);
    }
    return buf;
}

/* Count the NaNs of n rows (row stride ld) whose first has global index `at`. */
static void note_nans(ps_comoments *m, const double *x, int64_t n, int64_t ld, int64_t at)
{
    int64_t d = m->d;
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < d; j++)
            if (x[r * ld + j] != x[r * ld + j]) {
                m->nan_count[j]++;
                if (m->first_nan < 0)
                    m->first_nan = at + r, m->first_nan_col = j;
            }
}

/* The block algorithm: summary of rows [p, p + n), 1 <= n <= B, of any
   strides, in either form.  The rows are first copied as padded float64
   rows into the state's work area (X, then S, m0, e).  count >= 0: note
   the NaNs of the rows, the first with global index `count`. */
static int block_summary(ps_comoments *m, int dtype, const char *p, int64_t n, ptrdiff_t s0,
                         ptrdiff_t s1, summ *o, int64_t count)
{
    int64_t d = m->d, dp = padded(d);
    int64_t nq = (m->B + SUB - 1) / SUB;
    double *buf = m->work, *Y = buf + m->B * dp, *S = Y + m->B * dp;
    double *m0 = S + nq * dp * dp, *e = m0 + dp;
    const double *X = (const double *)(const void *)p;
    if (!(dtype == PS_FLOAT64 && s1 == 8 && s0 == 8 * d && d == dp)) {
        /* not already padded float64 rows: gather them */
        for (int64_t r = 0; r < n; r++) {
            const char *row = p + r * s0;
            double *out = buf + r * dp;
            if (dtype == PS_FLOAT64 && s1 == 8) {
                const double *in = (const double *)(const void *)row;
                for (int64_t j = 0; j < d; j++)
                    out[j] = in[j];
            } else if (dtype == PS_FLOAT64) {
                for (int64_t j = 0; j < d; j++)
                    out[j] = *(const double *)(const void *)(row + j * s1);
            } else {
                for (int64_t j = 0; j < d; j++)
                    out[j] = (double)*(const float *)(const void *)(row + j * s1);
            }
            for (int64_t j = d; j < dp; j++)
                out[j] = 0.0;
        }
        X = buf;
    }
    int pw = ps_any_nan(X, n * dp);
    if (pw && count >= 0)
        note_nans(m, X, n, dp, count);
    int st = summ_alloc(o, d, pw);
    if (st)
        return st;
    if (pw) {
        /* the compact kernel on the block with its NaNs zeroed (Z), for the
           pairs of columns without NaN; the others pair by pair */
        double *Z = S + nq * dp * dp + 2 * dp;
        unsigned char *colnan = m->colnan;
        memset(colnan, 0, (size_t)d);
        for (int64_t r = 0; r < n; r++)
            for (int64_t j = 0; j < dp; j++) {
                double v = X[r * dp + j];
                if (v != v)
                    colnan[j] = 1, v = 0.0;
                Z[r * dp + j] = v;
            }
        summ t;
        st = summ_alloc(&t, d, 0);
        if (st) {
            summ_free(o);
            return st;
        }
#ifdef PS_HAVE_AVX2
        if (ps_simd() >= PS_SIMD_AVX2)
            compact_avx2(Z, Y, n, d, dp, t.mu, t.ml, t.c, S, m0, e);
        else
#endif
            compact_plain(Z, Y, n, d, dp, t.mu, t.ml, t.c, S, m0, e);
        block_pairwise(X, n, d, dp, o, colnan, &t);
        summ_free(&t);
        return PS_OK;
    }
#ifdef PS_HAVE_AVX2
    if (ps_simd() >= PS_SIMD_AVX2)
        compact_avx2(X, Y, n, d, dp, o->mu, o->ml, o->c, S, m0, e);
    else
#endif
        compact_plain(X, Y, n, d, dp, o->mu, o->ml, o->c, S, m0, e);
    o->n = n;
    return PS_OK;
}

/* ------------------------------------------------------------------- the state */

static int64_t head_boundary(const ps_comoments *m)
{
    int64_t r = m->start % m->B;
    return r ? m->start + (m->B - r) : m->start;
}

static int alloc_width(ps_comoments *m, int64_t width)
{
    if (width < 1 || width > MAX_COWIDTH)
        return PS_ERR_ARG;
    m->d = width;
    m->B = ps_moments_block(width);
    int64_t dp = padded(width);
    int64_t gather = 3 * m->B * dp + (m->B + SUB - 1) / SUB * dp * dp + 2 * dp;
    m->head = ps_malloc_n(m->B * width, sizeof(double));
    m->tail = ps_malloc_n(m->B * width, sizeof(double));
    m->work = ps_malloc_n(gather, sizeof(double));
    m->nan_count = calloc((size_t)width, sizeof(int64_t));
    m->colnan = calloc((size_t)dp, 1);
    if (!m->head || !m->tail || !m->work || !m->nan_count || !m->colnan)
        return PS_ERR_NOMEM;
    return PS_OK;
}

void ps_comoments_free(ps_comoments *m)
{
    if (!m)
        return;
    for (int k = 0; k < m->nn; k++)
        summ_free(&m->nodes[k].s);
    free(m->head);
    free(m->tail);
    free(m->work);
    free(m->nan_count);
    free(m->colnan);
    free(m);
}

int ps_comoments_new(ps_comoments **out, int64_t width, int64_t start)
{
    if (!out || start < 0 || width < 0 || width > MAX_COWIDTH)
        return PS_ERR_ARG;
    ps_comoments *m = calloc(1, sizeof *m);
    if (!m)
        return PS_ERR_NOMEM;
    m->start = m->stop = start;
    m->first_nan = m->first_nan_col = -1;
    m->B = 1;
    if (width) {
        int st = alloc_width(m, width);
        if (st) {
            ps_comoments_free(m);
            return st;
        }
    }
    *out = m;
    return PS_OK;
}

int ps_comoments_set_width(ps_comoments *m, int64_t width)
{
    if (!m || m->d || width < 1 || width > MAX_COWIDTH)
        return PS_ERR_ARG;
    int st = alloc_width(m, width);
    if (st) {
        free(m->head), free(m->tail), free(m->work), free(m->nan_count), free(m->colnan);
        m->colnan = NULL;
        m->head = m->tail = m->work = NULL;
        m->nan_count = NULL;
        m->d = 0;
        m->B = 1;
    }
    return st;
}

int64_t ps_comoments_width(const ps_comoments *m) { return m->d; }
int64_t ps_comoments_start(const ps_comoments *m) { return m->start; }
int64_t ps_comoments_stop(const ps_comoments *m) { return m->stop; }
int64_t ps_comoments_first_nan(const ps_comoments *m) { return m->first_nan; }
int64_t ps_comoments_first_nan_column(const ps_comoments *m) { return m->first_nan_col; }

/* Push a summary of an aligned node; combine siblings (binary counter).
   Takes ownership of s. */
static int push_node(ps_comoments *m, int level, int64_t index, summ *s)
{
    if (m->nn >= MAX_NODES) {
        summ_free(s);
        return PS_ERR_OVERFLOW;
    }
    node *nd = &m->nodes[m->nn++];
    nd->level = level;
    nd->index = index;
    nd->s = *s;
    while (m->nn >= 2) {
        node *a = &m->nodes[m->nn - 2], *b = &m->nodes[m->nn - 1];
        if (a->level != b->level || (a->index & 1) || b->index != a->index + 1)
            break;
        int st = summ_combine(&a->s, &b->s, m->d);
        if (st)
            return st;
        summ_free(&b->s);
        m->nn--;
        a->level++;
        a->index >>= 1;
    }
    return PS_OK;
}

static void copy_rows(double *dst, int dtype, const char *p, int64_t n, int64_t d,
                      ptrdiff_t s0, ptrdiff_t s1)
{
    const double *rows = as_rows(dtype, p, n, d, s0, s1, dst);
    if (rows != dst)
        memcpy(dst, rows, (size_t)(n * d) * sizeof(double));
}

/* Append n records at m->stop.  count: note their NaNs. */
static int append(ps_comoments *m, int dtype, const char *p, int64_t n, ptrdiff_t s0,
                  ptrdiff_t s1, int count)
{
    int64_t d = m->d, B = m->B, hb = head_boundary(m);
    while (n > 0) {
        int64_t pos = m->stop;
        if (pos < hb) {
            int64_t k = hb - pos < n ? hb - pos : n;
            double *dst = m->head + m->head_n * d;
            copy_rows(dst, dtype, p, k, d, s0, s1);
            if (count)
                note_nans(m, dst, k, d, pos);
            m->head_n += k;
            m->stop += k;
            p += k * s0;
            n -= k;
        } else if (m->tail_n == 0 && n >= B) {
            summ s;
            int st = block_summary(m, dtype, p, B, s0, s1, &s, count ? pos : -1);
            if (st)
                return st;
            m->stop += B;
            st = push_node(m, 0, pos / B, &s);
            if (st)
                return st;
            p += B * s0;
            n -= B;
        } else {
            int64_t k = B - m->tail_n < n ? B - m->tail_n : n;
            double *dst = m->tail + m->tail_n * d;
            copy_rows(dst, dtype, p, k, d, s0, s1);
            if (count)
                note_nans(m, dst, k, d, pos);
            m->tail_n += k;
            m->stop += k;
            p += k * s0;
            n -= k;
            if (m->tail_n == B) {
                summ s;
                int st = block_summary(m, PS_FLOAT64, (const char *)m->tail, B,
                                       (ptrdiff_t)(8 * d), 8, &s, -1);
                if (st)
                    return st;
                m->tail_n = 0;
                st = push_node(m, 0, (m->stop - B) / B, &s);
                if (st)
                    return st;
            }
        }
    }
    return PS_OK;
}

int ps_comoments_update(ps_comoments *m, int dtype, const void *data, int64_t n,
                        ptrdiff_t s0, ptrdiff_t s1)
{
    if (!m || n < 0 || (n > 0 && !data) || m->d == 0)
        return n == 0 && m ? PS_OK : PS_ERR_ARG;
    if (dtype != PS_FLOAT64 && dtype != PS_FLOAT32)
        return PS_ERR_DTYPE;
    if (n > INT64_MAX / 4 - m->stop)
        return PS_ERR_OVERFLOW;
    return append(m, dtype, (const char *)data, n, s0, s1, 1);
}

int ps_comoments_copy(ps_comoments **out, const ps_comoments *m)
{
    if (!out || !m)
        return PS_ERR_ARG;
    ps_comoments *c;
    int st = ps_comoments_new(&c, m->d, m->start);
    if (st)
        return st;
    c->stop = m->stop;
    c->head_n = m->head_n;
    c->tail_n = m->tail_n;
    c->first_nan = m->first_nan;
    c->first_nan_col = m->first_nan_col;
    if (m->d) {
        memcpy(c->head, m->head, (size_t)(m->head_n * m->d) * sizeof(double));
        memcpy(c->tail, m->tail, (size_t)(m->tail_n * m->d) * sizeof(double));
        memcpy(c->nan_count, m->nan_count, (size_t)m->d * sizeof(int64_t));
    }
    for (int k = 0; k < m->nn; k++) {
        c->nodes[k].level = m->nodes[k].level;
        c->nodes[k].index = m->nodes[k].index;
        st = summ_copy(&c->nodes[k].s, &m->nodes[k].s, m->d);
        if (st) {
            ps_comoments_free(c);
            return st;
        }
        c->nn = k + 1;
    }
    *out = c;
    return PS_OK;
}

int ps_comoments_merge(ps_comoments *left, const ps_comoments *right)
{
    if (!left || !right || left == right)
        return PS_ERR_ARG;
    if (left->stop != right->start)
        return PS_ERR_NOT_ADJACENT;
    if (right->start == right->stop)
        return PS_OK;
    if (left->d != right->d) {
        if (left->d != 0 || left->start != left->stop)
            return PS_ERR_MISMATCH;
        int st = ps_comoments_set_width(left, right->d);
        if (st)
            return st;
    }
    int64_t d = left->d;
    ptrdiff_t s0 = (ptrdiff_t)(8 * d), s1 = 8;
    int st = append(left, PS_FLOAT64, (const char *)right->head, right->head_n, s0, s1, 0);
    if (st)
        return st;
    for (int k = 0; k < right->nn; k++) {
        const node *nd = &right->nodes[k];
        if (left->tail_n != 0 || left->stop != (nd->index << nd->level) * left->B)
            return PS_ERR_CORRUPT; /* cannot happen for states built here */
        summ s;
        st = summ_copy(&s, &nd->s, d);
        if (st)
            return st;
        left->stop += left->B << nd->level;
        st = push_node(left, nd->level, nd->index, &s);
        if (st)
            return st;
    }
    st = append(left, PS_FLOAT64, (const char *)right->tail, right->tail_n, s0, s1, 0);
    if (st)
        return st;
    for (int64_t j = 0; j < d; j++)
        left->nan_count[j] += right->nan_count[j];
    if (left->first_nan < 0 && right->first_nan >= 0) {
        left->first_nan = right->first_nan;
        left->first_nan_col = right->first_nan_col;
    }
    return PS_OK;
}

int ps_comoments_result(const ps_comoments *m, int64_t *count, double *mean, double *comoment,
                        double *m2, int64_t *nan_count)
{
    if (!m || !count || !mean || !comoment || !m2 || !nan_count)
        return PS_ERR_ARG;
    int64_t d = m->d;
    if (d == 0)
        return PS_ERR_UNSET;
    summ acc, part;
    int st = summ_alloc(&acc, d, 0);
    if (st)
        return st;
    ps_comoments *w = (ps_comoments *)m; /* the work area is scratch */
    ptrdiff_t s0 = (ptrdiff_t)(8 * d);
    if (m->head_n) {
        st = block_summary(w, PS_FLOAT64, (const char *)m->head, m->head_n, s0, 8, &part, -1);
        if (!st) {
            st = summ_combine(&acc, &part, d);
            summ_free(&part);
        }
    }
    for (int k = 0; !st && k < m->nn; k++)
        st = summ_combine(&acc, &m->nodes[k].s, d);
    if (!st && m->tail_n) {
        st = block_summary(w, PS_FLOAT64, (const char *)m->tail, m->tail_n, s0, 8, &part, -1);
        if (!st) {
            st = summ_combine(&acc, &part, d);
            summ_free(&part);
        }
    }
    if (!st)
        st = to_pairwise(&acc, d);
    if (!st) {
        memcpy(count, acc.cnt, (size_t)(d * d) * sizeof(int64_t));
        for (int64_t k = 0; k < d * d; k++)
            mean[k] = acc.mu[k] + acc.ml[k];
        memcpy(comoment, acc.c, (size_t)(d * d) * sizeof(double));
        memcpy(m2, acc.v, (size_t)(d * d) * sizeof(double));
        memcpy(nan_count, m->nan_count, (size_t)d * sizeof(int64_t));
    }
    summ_free(&acc);
    return st;
}

/* --------------------------------------------------------------- serialization */

static void put_summ(ps_writer *w, const summ *s, int64_t d)
{
    int64_t dd = d * d;
    ps_put_u64(w, (uint64_t)s->pw);
    if (s->pw) {
        for (int64_t k = 0; k < dd; k++)
            ps_put_i64(w, s->cnt[k]);
        ps_put_f64s(w, s->mu, dd);
        ps_put_f64s(w, s->ml, dd);
        ps_put_f64s(w, s->c, dd);
        ps_put_f64s(w, s->v, dd);
    } else {
        ps_put_f64s(w, s->mu, d);
        ps_put_f64s(w, s->ml, d);
        ps_put_f64s(w, s->c, dd);
    }
}

static void write_state(ps_writer *w, const void *state)
{
    const ps_comoments *m = state;
    for (int k = 0; k < 8; k++) {
        if (w->buf && w->pos < w->cap)
            w->buf[w->pos] = MAGIC[k];
        w->pos++;
    }
    ps_put_u64(w, FORMAT_VERSION);
    ps_put_i64(w, m->d);
    ps_put_i64(w, m->start);
    ps_put_i64(w, m->stop);
    ps_put_i64(w, m->head_n);
    ps_put_i64(w, m->tail_n);
    ps_put_i64(w, m->nn);
    ps_put_i64(w, m->first_nan);
    ps_put_i64(w, m->first_nan_col);
    for (int64_t j = 0; j < m->d; j++)
        ps_put_i64(w, m->nan_count[j]);
    for (int k = 0; k < m->nn; k++) {
        ps_put_i64(w, m->nodes[k].level);
        ps_put_i64(w, m->nodes[k].index);
        put_summ(w, &m->nodes[k].s, m->d);
    }
    ps_put_f64s(w, m->head, m->head_n * m->d);
    ps_put_f64s(w, m->tail, m->tail_n * m->d);
}

int ps_comoments_serialize(const ps_comoments *m, uint8_t *buf, size_t cap, size_t *size)
{
    return ps_serialize_checked(write_state, m, buf, cap, size);
}

/* The canonical aligned nodes of blocks [a, b): the greedy largest aligned
   node at each position (what the binary counter leaves). */
static int canonical_nodes(int64_t a, int64_t b, int *levels, int64_t *indices)
{
    int n = 0;
    while (a < b) {
        int L = 0;
        while (L < 62 && (a & (((int64_t)1 << (L + 1)) - 1)) == 0 &&
               b - a >= ((int64_t)1 << (L + 1)))
            L++;
        if (n >= MAX_NODES)
            return -1;
        levels[n] = L;
        indices[n] = a >> L;
        n++;
        a += (int64_t)1 << L;
    }
    return n;
}

/* Is a value of a co-moment / M2 diagonal possible: >= 0 or NaN. */
static int m2_ok(double v) { return v >= 0.0 || v != v; }

/* |c| <= sqrt(vi * vj) (Cauchy-Schwarz), with slack for rounding. */
static int cs_ok(double c, double vi, double vj)
{
    if (c != c || vi != vi || vj != vj || isinf(vi) || isinf(vj))
        return 1;
    if (isinf(c))
        return 0;
    double bound = sqrt(vi) * sqrt(vj);
    return fabs(c) <= bound * (1.0 + 0x1p-20) + 0x1p-1000;
}

static int summ_possible(const summ *s, int64_t d, int64_t span)
{
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) {
            int64_t k = i * d + j, t = j * d + i;
            if (s->pw) {
                int64_t n = s->cnt[k];
                if (n < 0 || n > span || n != s->cnt[t] || n > s->cnt[i * d + i])
                    return 0;
                if (n == 0 && (s->mu[k] != 0.0 || s->ml[k] != 0.0 || s->c[k] != 0.0 ||
                               s->v[k] != 0.0))
                    return 0;
                if (!m2_ok(s->v[k]) || memcmp(&s->c[k], &s->c[t], 8) != 0)
                    return 0;
                if (!cs_ok(s->c[k], s->v[k], s->v[t]))
                    return 0;
            } else {
                if (!m2_ok(s->c[i * d + i]) || memcmp(&s->c[k], &s->c[t], 8) != 0)
                    return 0;
                if (!cs_ok(s->c[k], s->c[i * d + i], s->c[j * d + j]))
                    return 0;
            }
        }
    return 1;
}

static int get_summ(ps_reader *r, summ *s, int64_t d)
{
    uint64_t pw = ps_get_u64(r);
    if (r->bad || pw > 1)
        return PS_ERR_CORRUPT;
    int64_t dd = d * d;
    /* sizes before allocating: the words must be there */
    uint64_t words = pw ? (uint64_t)(5 * dd) : (uint64_t)(2 * d + dd);
    if (words > (r->cap - r->pos) / 8)
        return PS_ERR_CORRUPT;
    int st = summ_alloc(s, d, (int)pw);
    if (st)
        return st;
    if (pw) {
        for (int64_t k = 0; k < dd; k++)
            s->cnt[k] = ps_get_i64(r);
        ps_get_f64s(r, s->mu, dd);
        ps_get_f64s(r, s->ml, dd);
        ps_get_f64s(r, s->c, dd);
        ps_get_f64s(r, s->v, dd);
    } else {
        ps_get_f64s(r, s->mu, d);
        ps_get_f64s(r, s->ml, d);
        ps_get_f64s(r, s->c, dd);
    }
    return r->bad ? PS_ERR_CORRUPT : PS_OK;
}

static int read_state(ps_reader *r, ps_comoments **out)
{
    if (r->cap < 8 || memcmp(r->in, MAGIC, 8) != 0)
        return PS_ERR_CORRUPT;
    r->pos = 8;
    uint64_t version = ps_get_u64(r);
    if (r->bad)
        return PS_ERR_CORRUPT;
    if (version != FORMAT_VERSION)
        return PS_ERR_VERSION;
    int64_t d = ps_get_i64(r), start = ps_get_i64(r), stop = ps_get_i64(r);
    int64_t head_n = ps_get_i64(r), tail_n = ps_get_i64(r), nn = ps_get_i64(r);
    int64_t first_nan = ps_get_i64(r), first_col = ps_get_i64(r);
    if (r->bad || d < 0 || d > MAX_COWIDTH || start < 0 || stop < start ||
        stop > INT64_MAX / 4 || nn < 0 || nn > MAX_NODES)
        return PS_ERR_CORRUPT;
    /* the structure (start, stop, B) implies */
    ps_comoments *m;
    if (d == 0) {
        if (stop != start || head_n || tail_n || nn || first_nan != -1 || first_col != -1)
            return PS_ERR_CORRUPT;
        int st = ps_comoments_new(&m, 0, start);
        if (st)
            return st;
        *out = m;
        return PS_OK;
    }
    if ((uint64_t)d > (r->cap - r->pos) / 8) /* the NaN counts must be there */
        return PS_ERR_CORRUPT;
    int64_t B = ps_moments_block(d);
    int64_t hb = start % B ? start + (B - start % B) : start;
    int64_t want_head = (stop < hb ? stop : hb) - start;
    int64_t body0 = stop < hb ? stop : hb;
    int64_t want_tail = stop - (body0 > stop - stop % B ? body0 : stop - stop % B);
    int levels[MAX_NODES];
    int64_t indices[MAX_NODES];
    int64_t a = body0 / B, b = (stop - want_tail) / B;
    int want_nn = canonical_nodes(a, b, levels, indices);
    if (head_n != want_head || tail_n != want_tail || want_nn != nn)
        return PS_ERR_CORRUPT;
    int st = ps_comoments_new(&m, d, start);
    if (st)
        return st;
    m->stop = stop;
    m->head_n = head_n;
    m->tail_n = tail_n;
    m->first_nan = first_nan;
    m->first_nan_col = first_col;
    int64_t total_nan = 0;
    st = PS_OK;
    for (int64_t j = 0; j < d; j++) {
        m->nan_count[j] = ps_get_i64(r);
        if (m->nan_count[j] < 0 || m->nan_count[j] > stop - start)
            st = PS_ERR_CORRUPT;
        else
            total_nan += m->nan_count[j];
    }
    if (!st && (total_nan == 0 ? (first_nan != -1 || first_col != -1)
                               : (first_nan < start || first_nan >= stop || first_col < 0 ||
                                  first_col >= d)))
        st = PS_ERR_CORRUPT;
    for (int k = 0; !st && k < nn; k++) {
        int64_t level = ps_get_i64(r), index = ps_get_i64(r);
        if (r->bad || level != levels[k] || index != indices[k]) {
            st = PS_ERR_CORRUPT;
            break;
        }
        st = get_summ(r, &m->nodes[k].s, d);
        if (st)
            break;
        m->nn = k + 1;
        m->nodes[k].level = (int)level;
        m->nodes[k].index = index;
        int64_t span = B << level;
        summ *s = &m->nodes[k].s;
        s->n = span;
        if (!summ_possible(s, d, span) || (s->pw && total_nan == 0))
            st = PS_ERR_CORRUPT;
    }
    if (!st) {
        if ((uint64_t)(head_n + tail_n) > (r->cap - r->pos) / 8 / (uint64_t)d)
            st = PS_ERR_CORRUPT;
        else {
            ps_get_f64s(r, m->head, head_n * d);
            ps_get_f64s(r, m->tail, tail_n * d);
        }
    }
    if (!st && (r->bad || r->pos != r->cap))
        st = PS_ERR_CORRUPT;
    if (st) {
        ps_comoments_free(m);
        return st;
    }
    *out = m;
    return PS_OK;
}

int ps_comoments_deserialize(ps_comoments **out, const uint8_t *buf, size_t size)
{
    if (!out || (!buf && size))
        return PS_ERR_ARG;
    if (size < 16 || !ps_checksum_ok(buf, size))
        return PS_ERR_CORRUPT;
    ps_reader r = {buf, 0, size - 8, 0};
    return read_state(&r, out);
}
