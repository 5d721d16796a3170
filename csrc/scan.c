/*
 * scan.c -- cumulative kernels (PS_CUMSUM, CUMPROD, CUMMEAN, CUMVAR,
 * CUMSTD) and the exact int64 running sum / product.
 *
 * Every column is an independent sequential recurrence, so any split of
 * the input into update() calls performs the same operations in the same
 * order and gives bit-identical outputs.
 *
 * - CUMSUM / CUMPROD: carry (op) x, carry starting at the operation's
 *   identity (-0.0 for +, 1.0 for *), so row 0 is x itself: bit-identical
 *   to np.cumsum / np.cumprod on float64.  OMIT replaces NaN by 0.0 / 1.0
 *   (np.nancumsum / np.nancumprod).
 * - CUMMEAN: Neumaier-compensated running sum s + c divided by the count.
 *   The only loop-carried chains are the two additions s += x and
 *   c += corr; the compensation term, the NaN select and the division are
 *   off the chain (the divisions run as a second, vectorizable pass over
 *   a block of numerators).  A non-finite running sum zeroes the
 *   compensation term so inf / NaN propagate as in a plain sum.
 * - CUMVAR / CUMSTD: Welford, m += d * (1/n) (the reciprocal is off the
 *   chain), M2 += d * (x - m).  A constant stream has d == 0 from the
 *   second value on, so its variance is exactly 0.
 *
 * PROPAGATE: NaN enters the running sum / mean and stays forever.
 * OMIT: NaNs are skipped (they do not count).
 */
#include "stage_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ROWS 64 /* rows per block of the cummean two-pass kernel (L1-resident) */

typedef struct {
    int kind, omit;
    int64_t width;
    double ddof;
    double *a; /* cumsum/cumprod carry; cummean sum s; cumvar mean m */
    double *b; /* cummean compensation c; cumvar M2 */
    double *n; /* cummean/cumvar count (exact integer in a double) */
} scan_state;

static void *scan_create(const ps_stage_params *p, int64_t width, int64_t start)
{
    (void)start;
    scan_state *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->kind = p->kind;
    st->omit = p->nan_policy == PS_NAN_OMIT;
    st->width = width;
    st->ddof = p->ddof;
    st->a = ps_malloc_n(width, sizeof(double)); /* NULL on overflow too */
    st->b = ps_malloc_n(width, sizeof(double));
    st->n = ps_malloc_n(width, sizeof(double));
    if (!st->a || !st->b || !st->n) {
        free(st->a);
        free(st->b);
        free(st->n);
        free(st);
        return NULL;
    }
    double a0 = st->kind == PS_CUMPROD ? 1.0 : st->kind == PS_CUMSUM ? -0.0 : 0.0;
    for (int64_t j = 0; j < width; j++) {
        st->a[j] = a0;
        st->b[j] = 0.0;
        st->n[j] = 0.0;
    }
    return st;
}

static void scan_destroy(void *p)
{
    scan_state *st = p;
    if (!st)
        return;
    free(st->a);
    free(st->b);
    free(st->n);
    free(st);
}

/* cond ? x : y, without a branch (bit masks). */
static inline double select_bits(int cond, double x, double y)
{
    uint64_t u, v, mask = (uint64_t)0 - (uint64_t)(cond != 0);
    memcpy(&u, &x, sizeof u);
    memcpy(&v, &y, sizeof v);
    u = (u & mask) | (v & ~mask);
    memcpy(&x, &u, sizeof x);
    return x;
}

/* ---- kernels: one column, `len` rows, stride `sd` (= width) ---------- */

static void cumsum_col(double *carry, const double *in, double *out, int64_t len,
                       int64_t sd, int omit)
{
    double c = *carry;
    if (omit) {
        for (int64_t i = 0; i < len; i++) {
            double x = in[i * sd];
            c = c + select_bits(x == x, x, 0.0);
            out[i * sd] = c;
        }
    } else {
        for (int64_t i = 0; i < len; i++) {
            c = c + in[i * sd];
            out[i * sd] = c;
        }
    }
    *carry = c;
}

static void cumprod_col(double *carry, const double *in, double *out, int64_t len,
                        int64_t sd, int omit)
{
    double c = *carry;
    if (omit) {
        for (int64_t i = 0; i < len; i++) {
            double x = in[i * sd];
            c = c * select_bits(x == x, x, 1.0);
            out[i * sd] = c;
        }
    } else {
        for (int64_t i = 0; i < len; i++) {
            c = c * in[i * sd];
            out[i * sd] = c;
        }
    }
    *carry = c;
}

/* Cumulative mean of one column, len <= ROWS rows.  Pass 1 carries only
   s += v and c += corr (TwoSum error term, branch-free, off the chain);
   pass 2 (vectorizable) forms (s + c) / count.  Once s is not finite it
   stays so and c is meaningless (NaN): the mean is then s / count. */
static void cummean_col(double *ps, double *pc, double *pn, const double *in,
                        double *out, int64_t len, int64_t sd, int omit)
{
    double sb[ROWS], cb[ROWS], nb[ROWS];
    double s = *ps, c = *pc;
    int64_t k = (int64_t)*pn;
    if (omit) {
        for (int64_t i = 0; i < len; i++) {
            double x = in[i * sd];
            int ok = x == x;
            double v = select_bits(ok, x, 0.0);
            k += ok;
            double t = s + v;
            double bp = t - s;
            c += (s - (t - bp)) + (v - bp);
            s = t;
            sb[i] = s;
            cb[i] = c;
            nb[i] = (double)k;
        }
    } else {
        for (int64_t i = 0; i < len; i++) {
            double v = in[i * sd];
            double t = s + v;
            double bp = t - s;
            c += (s - (t - bp)) + (v - bp);
            s = t;
            sb[i] = s;
            cb[i] = c;
            nb[i] = (double)(k + i + 1);
        }
        k += len;
    }
    for (int64_t i = 0; i < len; i++)
        cb[i] = (sb[i] + cb[i]) / nb[i];
    if (!(fabs(s) <= DBL_MAX)) /* a non-finite sum stays so: fix its tail */
        for (int64_t i = 0; i < len; i++)
            if (!(fabs(sb[i]) <= DBL_MAX))
                cb[i] = sb[i] / nb[i];
    for (int64_t i = 0; i < len; i++)
        out[i * sd] = cb[i];
    *ps = s;
    *pc = c;
    *pn = (double)k;
}

static void cumvar_col(double *pm, double *pm2, double *pn, const double *in,
                       double *out, int64_t len, int64_t sd, int omit, double ddof,
                       int is_std)
{
    double m = *pm, m2 = *pm2, n = *pn;
    for (int64_t i = 0; i < len; i++) {
        double x = in[i * sd];
        int ok = omit ? x == x : 1;
        n += (double)ok;
        double r = 1.0 / (n > 1.0 ? n : 1.0);
        double d = ok ? x - m : 0.0;
        m = m + d * r;
        double e = ok ? x - m : 0.0;
        m2 = m2 + d * e;
        double dof = n - ddof;
        double v = dof > 0.0 ? m2 / dof : NAN;
        out[i * sd] = is_std ? sqrt(v) : v;
    }
    *pm = m;
    *pm2 = m2;
    *pn = n;
}

static void scan_update(void *p, const double *in, int64_t n, double *out, int64_t *nout)
{
    scan_state *st = p;
    const int64_t w = st->width;
    for (int64_t i0 = 0; i0 < n; i0 += ROWS) {
        int64_t len = n - i0 < ROWS ? n - i0 : ROWS;
        const double *ib = in + i0 * w;
        double *ob = out + i0 * w;
        for (int64_t j = 0; j < w; j++) {
            switch (st->kind) {
            case PS_CUMSUM:
                cumsum_col(&st->a[j], ib + j, ob + j, len, w, st->omit);
                break;
            case PS_CUMPROD:
                cumprod_col(&st->a[j], ib + j, ob + j, len, w, st->omit);
                break;
            case PS_CUMMEAN:
                cummean_col(&st->a[j], &st->b[j], &st->n[j], ib + j, ob + j, len, w,
                            st->omit);
                break;
            default: /* PS_CUMVAR, PS_CUMSTD */
                cumvar_col(&st->a[j], &st->b[j], &st->n[j], ib + j, ob + j, len, w,
                           st->omit, st->ddof, st->kind == PS_CUMSTD);
                break;
            }
        }
    }
    *nout = n;
}

/* ---- serialization ----------------------------------------------------- */

static void scan_save(const void *p, ps_writer *w)
{
    const scan_state *st = p;
    for (int64_t j = 0; j < st->width; j++) {
        ps_put_f64(w, st->a[j]);
        ps_put_f64(w, st->b[j]);
        ps_put_i64(w, (int64_t)st->n[j]);
    }
}

#define MAX_EXACT_COUNT 9007199254740992LL /* 2**53 */

static int scan_load(void *p, ps_reader *r)
{
    scan_state *st = p;
    for (int64_t j = 0; j < st->width; j++) {
        double a = ps_get_f64(r), b = ps_get_f64(r);
        int64_t n = ps_get_i64(r);
        if (r->bad)
            return PS_ERR_CORRUPT;
        switch (st->kind) {
        case PS_CUMSUM:
        case PS_CUMPROD:
            /* carry: any value; unused fields must be as created */
            if (b != 0.0 || n != 0)
                return PS_ERR_CORRUPT;
            break;
        case PS_CUMMEAN:
            /* a finite sum has a finite compensation; no value yet: empty
               sums */
            if (n < 0 || n > MAX_EXACT_COUNT || (fabs(a) <= DBL_MAX && !(fabs(b) <= DBL_MAX)))
                return PS_ERR_CORRUPT;
            if (n == 0 && (a != 0.0 || b != 0.0))
                return PS_ERR_CORRUPT;
            if (st->omit && isnan(a) && n < 2) /* NaN only from inf - inf */
                return PS_ERR_CORRUPT;
            if (n == 1 && fabs(a) <= DBL_MAX && b != 0.0) /* one finite value: exact */
                return PS_ERR_CORRUPT;
            break;
        default: /* CUMVAR / CUMSTD */
            if (n < 0 || n > MAX_EXACT_COUNT || b < 0.0)
                return PS_ERR_CORRUPT;
            if (n == 0 && (a != 0.0 || b != 0.0))
                return PS_ERR_CORRUPT;
            if (!isnan(a) && !isinf(a) && isnan(b)) /* M2 NaN needs inf/NaN */
                return PS_ERR_CORRUPT;
            if (n == 1 && !(b == 0.0 || (isnan(b) && !(fabs(a) <= DBL_MAX))))
                return PS_ERR_CORRUPT; /* one value: M2 is 0 (NaN for inf / NaN) */
            break;
        }
        st->a[j] = a;
        st->b[j] = b;
        st->n[j] = (double)n;
    }
    return PS_OK;
}

const ps_family ps_family_scan = {
    scan_create, scan_destroy, scan_update, NULL, scan_save, scan_load,
};

/* ---- exact int64 scans ------------------------------------------------- */

static int int_scan_args(const int64_t *in, int64_t n, int64_t width,
                         const int64_t *carry, const int64_t *out,
                         const int64_t *bad_row)
{
    if (n < 0 || width < 0 || !bad_row || (width > 0 && !carry))
        return PS_ERR_ARG;
    if (width > 0 && n > INT64_MAX / width)
        return PS_ERR_ARG;
    if (n > 0 && width > 0 && (!in || !out))
        return PS_ERR_ARG;
    return PS_OK;
}

/* Running sum (mul == 0) or product (mul == 1) of int64 values, exact. */
static int int_scan(const int64_t *in, int64_t n, int64_t width, int64_t *carry, int64_t *out,
                    int64_t *bad_row, int mul)
{
    int st = int_scan_args(in, n, width, carry, out, bad_row);
    if (st != PS_OK)
        return st;
    *bad_row = -1;
    for (int64_t i = 0; i < n; i++) {
        const int64_t *x = in + i * width;
        int64_t *y = out + i * width;
        for (int64_t j = 0; j < width; j++) {
            int over = mul ? __builtin_mul_overflow(carry[j], x[j], &y[j])
                           : __builtin_add_overflow(carry[j], x[j], &y[j]);
            if (over) {
                *bad_row = i;
                return PS_ERR_OVERFLOW;
            }
        }
        memcpy(carry, y, (size_t)width * sizeof *carry);
    }
    return PS_OK;
}

int ps_cumsum_int64(const int64_t *in, int64_t n, int64_t width, int64_t *carry,
                    int64_t *out, int64_t *bad_row)
{
    return int_scan(in, n, width, carry, out, bad_row, 0);
}

int ps_cumprod_int64(const int64_t *in, int64_t n, int64_t width, int64_t *carry,
                     int64_t *out, int64_t *bad_row)
{
    return int_scan(in, n, width, carry, out, bad_row, 1);
}
