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

#include <float.h>
#include <math.h>
#include <stdlib.h>

typedef struct {
    const int64_t *s, *e;
    int64_t e0, nout, base, mc;
    int propagate, stat;
    double ddof;
} cm_args;

/* One part of a window: valid records c, shift (kx, ky) and shifted sums. */
typedef struct {
    int64_t c;
    double kx, ky, sx, sy, sxx, syy, sxy;
} cm_part;

#define END(a, k) ((a)->e ? (a)->e[k] : (a)->e0 + (k))

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

static inline void fold(cm_part *p, double u, double v)
{
    if (u == u && v == v) {
        double dx, dy;
        if (p->c == 0) {
            p->kx = u;
            p->ky = v;
        }
        p->c++;
        dx = u - p->kx;
        dy = v - p->ky;
        p->sx += dx;
        p->sy += dy;
        p->sxx += dx * dx;
        p->syy += dy * dy;
        p->sxy += dx * dy;
    }
}

static const cm_part EMPTY = {0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};

/* Centred co-moments of one non-empty part. */
static inline void moments(const cm_part *p, const double *inv, double *vx, double *vy,
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

/* The statistic of the window made of parts f (FRONT) and b (BACK). */
static double value(const cm_args *a, const cm_part *f, const cm_part *b, int64_t rows, int diag,
                    const double *inv)
{
    int64_t n = f->c + b->c;
    double vx, vy, cxy;
    if (n < a->mc || (a->propagate && n < rows) || n == 0)
        return NAN;
    if (f->c == 0)
        moments(b, inv, &vx, &vy, &cxy);
    else if (b->c == 0)
        moments(f, inv, &vx, &vy, &cxy);
    else {
        double vxf, vyf, cf, vxb, vyb, cb, dx, dy, w;
        moments(f, inv, &vxf, &vyf, &cf);
        moments(b, inv, &vxb, &vyb, &cb);
        dx = (b->kx - f->kx) + (b->sx * inv[b->c] - f->sx * inv[f->c]);
        dy = (b->ky - f->ky) + (b->sy * inv[b->c] - f->sy * inv[f->c]);
        w = ((double)f->c * (double)b->c) * inv[n];
        vx = (vxf + vxb) + (dx * dx) * w;
        vy = (vyf + vyb) + (dy * dy) * w;
        cxy = (cf + cb) + (dx * dy) * w;
    }
    if (!(vx <= DBL_MAX) || !(vy <= DBL_MAX) || !(fabs(cxy) <= DBL_MAX))
        return NAN; /* an inf in the window, or an overflow */
    switch (a->stat) {
    case PS_COMOVE_COV:
        return (double)n - a->ddof > 0.0 ? cxy / ((double)n - a->ddof) : NAN;
    case PS_COMOVE_CORR: {
        double r;
        if (diag)
            return vx > 0.0 ? 1.0 : NAN;
        r = cxy / (sqrt(vx) * sqrt(vy));
        if (r > 1.0)
            r = 1.0;
        else if (r < -1.0)
            r = -1.0;
        return r;
    }
    default: /* PS_COMOVE_BETA */
        return cxy / vx;
    }
}

/* Every output of the pair of columns (ca, cb): written at out[k * stride +
   o1] (and o2). */
static void run_pair(const cm_args *a, const double *x, int64_t d, int64_t ca, int64_t cb,
                     cm_part *suf, const double *inv, double *out, int64_t stride, int64_t o1,
                     int64_t o2)
{
    int64_t m = -1, sb = 0, pe = 0;
    cm_part back = EMPTY;
    const int diag = ca == cb;
    for (int64_t k = 0; k < a->nout; k++) {
        const int64_t s = a->s[k], e = END(a, k);
        double v;
        if (s >= e) {
            v = NAN;
        } else {
            int64_t mp = split_point(a->base + s, a->base + e) - a->base;
            if (mp != m) {
                cm_part f = EMPTY;
                m = mp;
                sb = s;
                for (int64_t j = m - 1; j >= s; j--) {
                    fold(&f, x[j * d + ca], x[j * d + cb]);
                    suf[j - s] = f;
                }
                back = EMPTY;
                pe = m;
            }
            for (; pe < e; pe++)
                fold(&back, x[pe * d + ca], x[pe * d + cb]);
            v = value(a, s < m ? &suf[s - sb] : &EMPTY, &back, e - s, diag, inv);
        }
        out[k * stride + o1] = v;
        if (o2 != o1)
            out[k * stride + o2] = v;
    }
}

static int64_t check_windows(const cm_args *a, int64_t n)
{
    int64_t ps = 0, pe = 0;
    for (int64_t k = 0; k < a->nout; k++) {
        int64_t s = a->s[k], e = END(a, k);
        if (s < ps || e < pe || s < 0 || s > e || e > n)
            return k;
        ps = s;
        pe = e;
    }
    return -1;
}

int ps_comoving(int stat, const double *x, int64_t n, int64_t d,
                const int64_t *starts, const int64_t *ends, int64_t end0, int64_t nout,
                int64_t base, int64_t min_count, int propagate, double ddof,
                double *out, int64_t *bad)
{
    cm_args a;
    cm_part *suf;
    double *inv;
    int64_t width, i;
    if (bad)
        *bad = -1;
    if (!bad || n < 0 || d < 2 || nout < 0 || base < 0 || min_count < 1 ||
        (propagate != 0 && propagate != 1) || (nout > 0 && (!starts || !out)) ||
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
    a.nout = nout;
    a.base = base;
    a.mc = min_count;
    a.propagate = propagate;
    a.stat = stat;
    a.ddof = ddof;
    if (nout == 0)
        return PS_OK;
    *bad = check_windows(&a, n);
    if (*bad >= 0)
        return PS_ERR_ARG;
    suf = ps_malloc_n(n + 1, sizeof *suf);
    inv = ps_malloc_n(n + 1, sizeof *inv);
    if (!suf || !inv) {
        free(suf);
        free(inv);
        return PS_ERR_NOMEM;
    }
    inv[0] = NAN;
    for (i = 1; i <= n; i++)
        inv[i] = 1.0 / (double)i;
    if (d == 2)
        run_pair(&a, x, 2, 0, 1, suf, inv, out, 1, 0, 0);
    else
        for (int64_t ca = 0; ca < d; ca++)
            for (int64_t cb = ca; cb < d; cb++)
                run_pair(&a, x, d, ca, cb, suf, inv, out, width, ca * d + cb, cb * d + ca);
    free(suf);
    free(inv);
    for (i = 0; i < nout * width; i++) /* one canonical NaN */
        if (out[i] != out[i])
            out[i] = NAN;
    return PS_OK;
}
