/*
 * ewm.c -- exponentially weighted mean / var / std (PS_EWM_MEAN, VAR, STD)
 * with pandas' semantics (pandas/_libs/window/aggregations.pyx: `ewm` with
 * normalize=True and `ewmcov` with x = y), one column at a time.
 *
 * Conventions taken from pandas:
 * - alpha goes through pandas' centre of mass (com = 1/alpha - 1, then
 *   alpha = 1/(1 + com)) so the weights are pandas' own; f = 1 - alpha.
 * - ±inf count as missing (pandas' window code maps inf to NaN before the
 *   kernel).  Missing values are skipped; with ignore_na=0 they still age
 *   the old weights (old_wt *= f), with ignore_na=1 they do not.
 * - min_periods 0 is treated as 1; output NaN while nobs < min_periods.
 * - the state machine is pandas': a "no mean yet" state (before the first
 *   observation, or after the mean became NaN through overflow) in which
 *   missing values do nothing and the next observation becomes the mean.
 *
 * Mean, adjust=1 (the fast path).  pandas' recurrence
 *     old_wt *= f; mean = (old_wt*mean + x) / (old_wt + 1); old_wt += 1
 * has a division in the loop-carried chain.  We keep instead the weighted
 * sum S and the total weight W,
 *     S = c*S + x,  W = c*W + 1,  mean = S / W,
 * where c = f, or f * G after missing values (G = product of the factors
 * f of the missing values since the last observation, kept aside so S and
 * W are frozen during a gap and the mean shown during the gap is exactly
 * the previous one, as in pandas).  The chain is one mul + one add; the
 * division is off it.  Bounds on endless streams: W <= 1/alpha and
 * |S| <= max|x| / alpha, so neither can overflow (unless |x| is within a
 * factor alpha of DBL_MAX) nor decay: W >= 1 once a value was seen.  A
 * long gap drives G (not S, W) to 0, and then c = 0 restarts the average
 * at the new value, exactly like pandas' old_wt underflowing to 0.  As
 * in pandas ("avoid numerical errors on constant series"), when the new
 * value equals the current mean, the mean is kept, so a constant series
 * gives exactly the constant.  The result equals pandas' up to rounding
 * (a few ulps; relative error O(eps / alpha) at worst).
 *
 * Mean, adjust=0: pandas' recurrence exactly.  Without a gap old_wt = f
 * and f + alpha == 1.0 exactly in floating point for every alpha in
 * (0, 1] (checked at create), so mean = (f*mean + alpha*x) / (f + alpha)
 * is computed as f*mean + alpha*x, bit-identical to pandas.  After a gap
 * (ignore_na=0) the full formula is used, including pandas' special case
 * new_wt = 1 - old_wt when com == 1 (alpha = 0.5).
 *
 * Var/std: pandas' ewmcov state (mean, cov, sum_wt, sum_wt2, old_wt) and
 * weight updates, identical operations for the weights.  The mean / cov
 * updates are rewritten with r = 1 / (old_wt + new_wt), a = old_wt * r,
 * b = new_wt * r (computed off the data chain), d = x - mean:
 *     mean += b*d,   cov = a * (cov + b*d*d)
 * which is algebraically pandas' formula, shorter in latency and exact for
 * a constant series (d == 0: mean unchanged, cov stays 0).  Overflowing d
 * falls back to pandas' formula.  Results equal pandas' up to rounding.
 */
#include "stage_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

typedef struct {
    double s, w, g, m; /* mean adj=1: S, W, G, mean; adj=0: -, old_wt, -, mean;
                          var: sum_wt, old_wt, sum_wt2, mean */
    double cov;        /* var only */
    double c1, x1;     /* mean adj=1: first of a pair of observations */
    int64_t nobs;
    int half;          /* mean adj=1: c1, x1 hold a pending observation */
} ewm_col;

typedef struct {
    int kind, adjust, ignore_na, bias, com1, fast_adj0;
    int64_t width, minp;
    double alpha, f, ff, new_wt;
    ewm_col *col;
} ewm_state;

static int is_obs(double x) { return fabs(x) <= DBL_MAX; }

static void col_init(const ewm_state *st, ewm_col *c)
{
    c->nobs = 0;
    c->half = 0;
    c->c1 = 0.0;
    c->x1 = 0.0;
    c->m = NAN;
    c->cov = 0.0;
    if (st->kind == PS_EWM_MEAN) {
        c->s = 0.0;
        c->w = st->adjust ? 0.0 : 1.0;
        c->g = 1.0;
    } else {
        c->s = 1.0;
        c->w = 1.0;
        c->g = 1.0;
    }
}

static void *ewm_create(const ps_stage_params *p, int64_t width, int64_t start)
{
    (void)start;
    ewm_state *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->col = ps_malloc_n(width, sizeof *st->col); /* NULL on overflow too */
    if (!st->col) {
        free(st);
        return NULL;
    }
    st->kind = p->kind;
    st->adjust = p->adjust != 0;
    st->ignore_na = p->ignore_na != 0;
    st->bias = p->bias != 0;
    st->width = width;
    st->minp = p->min_count > 1 ? p->min_count : 1;
    double com = 1.0 / p->alpha - 1.0;
    st->alpha = 1.0 / (1.0 + com);
    st->com1 = com == 1.0;
    st->f = 1.0 - st->alpha;
    st->ff = st->f * st->f;
    st->new_wt = st->adjust ? 1.0 : st->alpha;
    st->fast_adj0 = st->f + st->alpha == 1.0;
    for (int64_t j = 0; j < width; j++)
        col_init(st, &st->col[j]);
    return st;
}

static void ewm_destroy(void *p)
{
    ewm_state *st = p;
    if (!st)
        return;
    free(st->col);
    free(st);
}

/* ---- kernels: one column, n rows, stride sd ---------------------------- */

/* One observation or missing value, adjust=1.  Observations are paired
   (S, W are updated once per pair of observations: half-way, the first
   one's factor and value wait in c1, x1), which halves the chain length;
   the pairing follows the observations, so it is independent of how the
   input is split. */
static void adj1_step(double f, int ign, ewm_col *cl, double x)
{
    if (!is_obs(x)) {
        if (!ign)
            cl->g *= f;
        return;
    }
    cl->nobs++;
    double Sc = cl->half ? cl->c1 * cl->s + cl->x1 : cl->s;
    double Wc = cl->half ? cl->c1 * cl->w + 1.0 : cl->w;
    if (Sc != Sc) { /* mean lost (overflow): pandas restarts at x */
        cl->s = x * Wc;
        cl->w = Wc;
        cl->half = 0;
        cl->g = 1.0;
        cl->m = x;
        return;
    }
    double c = cl->g * f, Si, Wi;
    cl->g = 1.0;
    if (!cl->half) {
        cl->c1 = c;
        cl->x1 = x;
        cl->half = 1;
        Si = c * cl->s + x;
        Wi = c * cl->w + 1.0;
    } else {
        double P = c * cl->c1;
        cl->s = P * cl->s + (c * cl->x1 + x);
        cl->w = P * cl->w + (c * 1.0 + 1.0);
        cl->half = 0;
        Si = cl->s;
        Wi = cl->w;
    }
    if (x != cl->m)
        cl->m = Si * (1.0 / Wi);
}

static void mean_adj1(const ewm_state *st, ewm_col *pcl, const double *in, double *out,
                      int64_t n, int64_t sd)
{
    const double f = st->f, ff = f * f, fw = f * 1.0 + 1.0;
    const int ign = st->ignore_na;
    const int64_t minp = st->minp;
    ewm_col col = *pcl; /* a local copy: `out` cannot alias it */
    int64_t i = 0;
    while (i < n) {
        if (!col.half && col.g == 1.0) {
            /* Fast path: pairs of observations.  Same operations as two
               adj1_step() calls with g == 1 (c = 1.0 * f = f, P = f * f).
               m = S * (1/W): W is data-independent and soon constant, so
               the reciprocals are cached (same values either way). */
            double S = col.s, W = col.w, m = col.m;
            double wa = 1.0, ra = 1.0, wb = 1.0, rb = 1.0;
            int64_t nobs = col.nobs;
            for (; i + 1 < n; i += 2) {
                double x1 = in[i * sd], x2 = in[(i + 1) * sd];
                if (!(is_obs(x1) & is_obs(x2)))
                    break;
                double Si = f * S + x1, Wi = f * W + 1.0;
                if (Si != Si)
                    break;
                S = ff * S + (f * x1 + x2);
                W = ff * W + fw;
                if (Wi != wa) {
                    wa = Wi;
                    ra = 1.0 / Wi;
                }
                if (W != wb) {
                    wb = W;
                    rb = 1.0 / W;
                }
                if (x1 != m)
                    m = Si * ra;
                out[i * sd] = nobs + 1 >= minp ? m : NAN;
                if (x2 != m)
                    m = S * rb;
                nobs += 2;
                out[(i + 1) * sd] = nobs >= minp ? m : NAN;
            }
            col.s = S;
            col.w = W;
            col.m = m;
            col.nobs = nobs;
            if (i >= n)
                break;
        }
        adj1_step(f, ign, &col, in[i * sd]);
        out[i * sd] = col.nobs >= minp ? col.m : NAN;
        i++;
    }
    *pcl = col;
}

static void mean_adj0(const ewm_state *st, ewm_col *cl, const double *in, double *out,
                      int64_t n, int64_t sd)
{
    const double f = st->f, a = st->alpha;
    const int ign = st->ignore_na, fast = st->fast_adj0;
    const int64_t minp = st->minp;
    double y = cl->m, ow = cl->w;
    int64_t nobs = cl->nobs;
    for (int64_t i = 0; i < n; i++) {
        double x = in[i * sd];
        if (is_obs(x)) {
            nobs++;
            if (y == y) {
                if (fast && ow == 1.0) {
                    if (y != x)
                        y = f * y + a * x;
                } else {
                    ow *= f;
                    if (y != x) {
                        double nw = st->com1 ? 1.0 - ow : a;
                        y = (ow * y + nw * x) / (ow + nw);
                    }
                }
                ow = 1.0;
            } else {
                y = x;
            }
        } else if (!ign && y == y) {
            ow *= f;
        }
        out[i * sd] = nobs >= minp ? y : NAN;
    }
    cl->m = y;
    cl->w = ow;
    cl->nobs = nobs;
}

static void var_kernel(const ewm_state *st, ewm_col *cl, const double *in, double *out,
                       int64_t n, int64_t sd, int is_std)
{
    const double f = st->f, ff = st->ff, nw = st->new_wt;
    const int ign = st->ignore_na, adjust = st->adjust, bias = st->bias;
    const int64_t minp = st->minp;
    double sw = cl->s, ow = cl->w, sw2 = cl->g, m = cl->m, cov = cl->cov;
    int64_t nobs = cl->nobs;
    for (int64_t i = 0; i < n; i++) {
        double x = in[i * sd];
        int obs = is_obs(x);
        nobs += obs;
        if (m == m) {
            if (obs || !ign) {
                sw *= f;
                sw2 *= ff;
                ow *= f;
                if (obs) {
                    double d = x - m;
                    if (fabs(d) <= DBL_MAX) {
                        double r = 1.0 / (ow + nw), a = ow * r, b = nw * r;
                        m = m + b * d;
                        cov = a * (cov + b * d * d);
                    } else { /* overflow: pandas' formula */
                        double om = m;
                        if (m != x)
                            m = (ow * om + nw * x) / (ow + nw);
                        cov = (ow * (cov + (om - m) * (om - m)) + nw * ((x - m) * (x - m))) /
                              (ow + nw);
                    }
                    sw += nw;
                    sw2 += nw * nw;
                    ow += nw;
                    if (!adjust) {
                        if (ow != 1.0) { /* x / 1.0 == x: skipping is exact */
                            sw /= ow;
                            sw2 /= ow * ow;
                        }
                        ow = 1.0;
                    }
                }
            }
        } else if (obs) {
            m = x;
        }
        double v;
        if (nobs < minp) {
            v = NAN;
        } else if (bias) {
            v = cov;
        } else {
            double num = sw * sw, den = num - sw2;
            v = den > 0.0 ? (num / den) * cov : NAN;
        }
        out[i * sd] = is_std ? sqrt(v) : v;
    }
    cl->s = sw;
    cl->w = ow;
    cl->g = sw2;
    cl->m = m;
    cl->cov = cov;
    cl->nobs = nobs;
}

#define ROWS 256

static void ewm_update(void *p, const double *in, int64_t n, double *out, int64_t *nout)
{
    ewm_state *st = p;
    const int64_t w = st->width;
    for (int64_t i0 = 0; i0 < n; i0 += ROWS) {
        int64_t len = n - i0 < ROWS ? n - i0 : ROWS;
        const double *ib = in + i0 * w;
        double *ob = out + i0 * w;
        for (int64_t j = 0; j < w; j++) {
            if (st->kind == PS_EWM_MEAN) {
                if (st->adjust)
                    mean_adj1(st, &st->col[j], ib + j, ob + j, len, w);
                else
                    mean_adj0(st, &st->col[j], ib + j, ob + j, len, w);
            } else {
                var_kernel(st, &st->col[j], ib + j, ob + j, len, w,
                           st->kind == PS_EWM_STD);
            }
        }
    }
    *nout = n;
}

/* ---- serialization ----------------------------------------------------- */

static void ewm_save(const void *p, ps_writer *w)
{
    const ewm_state *st = p;
    for (int64_t j = 0; j < st->width; j++) {
        const ewm_col *c = &st->col[j];
        ps_put_f64(w, c->s);
        ps_put_f64(w, c->w);
        ps_put_f64(w, c->g);
        ps_put_f64(w, c->m);
        ps_put_f64(w, c->cov);
        ps_put_f64(w, c->half ? c->c1 : 0.0); /* stale when no pair pending */
        ps_put_f64(w, c->half ? c->x1 : 0.0);
        ps_put_i64(w, c->nobs);
        ps_put_i64(w, c->half);
    }
}

static int in01(double v) { return v >= 0.0 && v <= 1.0; }

/* Is the loaded column a state the kernels can reach? */
static int col_valid(const ewm_state *st, const ewm_col *c)
{
    if (c->nobs < 0)
        return 0;
    if (c->half) { /* a pending observation: mean, adjust=1 only */
        if (st->kind != PS_EWM_MEAN || !st->adjust || c->nobs < 1 || !in01(c->c1) ||
            !is_obs(c->x1))
            return 0;
    } else if (c->c1 != 0.0 || c->x1 != 0.0) {
        return 0;
    }
    if (c->nobs == 0 && !isnan(c->m)) /* no value seen: no mean */
        return 0;
    /* weights cannot exceed 1/alpha (+ rounding slack) */
    double wmax = 1.0 / st->alpha + 1.0;
    if (st->kind == PS_EWM_MEAN) {
        if (c->cov != 0.0)
            return 0;
        if (st->adjust) {
            if (!in01(c->g))
                return 0;
            /* S = W = 0 until the first pair of observations completes */
            if (c->nobs == 0 || (c->half && c->nobs == 1 && c->w == 0.0))
                return c->s == 0.0 && c->w == 0.0;
            if (!(c->w >= 1.0 && c->w <= wmax))
                return 0;
            return 1;
        }
        if (c->s != 0.0 || c->g != 1.0)
            return 0;
        return in01(c->w) && (c->w == 1.0 || !isnan(c->m));
    }
    /* var: sum_wt (s), old_wt (w), sum_wt2 (g) are in [0, 1/alpha + 1] */
    if (!(c->s >= 0.0 && c->s <= wmax && c->w >= 0.0 && c->w <= wmax && c->g >= 0.0 &&
          c->g <= wmax))
        return 0;
    if (!st->adjust && !in01(c->w))
        return 0;
    if (isnan(c->m)) /* before the first value: initial weights, cov 0 */
        return c->nobs > 0 || (c->s == 1.0 && c->w == 1.0 && c->g == 1.0 && c->cov == 0.0);
    /* sum_wt2 is a sum of squares of the (at most nobs) positive weights
       whose sum is sum_wt: sum_wt**2 / nobs <= sum_wt2 <= sum_wt**2;
       outside, the unbiased correction sum_wt**2 / (sum_wt**2 - sum_wt2)
       would be garbage.  Slack 2**-16: the two sums decay by separately
       rounded factors (f, f*f) over a gap, a drift of about k * 2**-53
       after k missing values; tiny (subnormal-bound) weights unchecked. */
    if (c->nobs < 1)
        return 0;
    double sq = c->s * c->s;
    if (sq >= 0x1p-900 && (!(c->g <= sq * (1.0 + 0x1p-16)) ||
                           !(c->g >= sq / (double)c->nobs * (1.0 - 0x1p-16))))
        return 0;
    return c->cov >= 0.0 || isnan(c->cov);
}

static int ewm_load(void *p, ps_reader *r)
{
    ewm_state *st = p;
    for (int64_t j = 0; j < st->width; j++) {
        ewm_col c;
        c.s = ps_get_f64(r);
        c.w = ps_get_f64(r);
        c.g = ps_get_f64(r);
        c.m = ps_get_f64(r);
        c.cov = ps_get_f64(r);
        c.c1 = ps_get_f64(r);
        c.x1 = ps_get_f64(r);
        c.nobs = ps_get_i64(r);
        int64_t half = ps_get_i64(r);
        if (half != 0 && half != 1)
            return PS_ERR_CORRUPT;
        c.half = (int)half;
        if (r->bad || !col_valid(st, &c))
            return PS_ERR_CORRUPT;
        st->col[j] = c;
    }
    return PS_OK;
}

const ps_family ps_family_ewm = {
    ewm_create, ewm_destroy, ewm_update, NULL, ewm_save, ewm_load,
};
