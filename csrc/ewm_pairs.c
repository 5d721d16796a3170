/*
 * ewm_pairs.c -- EWM covariance / correlation of pairs of columns
 * (ewm_pairs.h has the state layout and the pairs of a record).
 *
 * pandas' ewmcov (pandas/_libs/window/aggregations.pyx) per pair, on the
 * records where both values are finite.  With f = 1 - alpha (alpha through
 * pandas' centre of mass, as ewm.c), new_wt = adjust ? 1 : alpha, at each
 * record once the pair has a mean:
 *     observation, or missing with ignore_na = 0:
 *         sum_wt *= f,  sum_wt2 *= f*f,  old_wt *= f
 *     observation (x, y):
 *         r = 1 / (old_wt + new_wt),  a = old_wt * r,  b = new_wt * r,
 *         dx = x - mean_x,  dy = y - mean_y
 *         mean_x += b*dx,  mean_y += b*dy,  cov = a * (cov + b*dx*dy)
 *         sum_wt += new_wt,  sum_wt2 += new_wt^2,  old_wt += new_wt
 *         adjust = 0: sum_wt /= old_wt, sum_wt2 /= old_wt^2, old_wt = 1
 * The mean / cov update is ewm.c's rewrite of pandas' formula
 *     cov' = (old_wt (cov + (m_x - m_x')(m_y - m_y')) + new_wt (x - m_x')(y - m_y'))
 *            / (old_wt + new_wt)
 * (algebraically equal: m - m' = -b d, x - m' = a d, a + b = 1), shorter in
 * latency and exact for constant data: dx == 0 leaves the mean unchanged and
 * adds exactly 0, so a constant column gives a covariance of exactly 0.  It
 * subtracts the running mean before multiplying (no raw sums), so data of
 * mean 1e9 and spread 1 lose nothing to cancellation.  A difference that
 * overflows falls back to pandas' formula.  The first observation sets the
 * means (cov 0).  A pair's diagonal (x = y) is ewm.c's variance, bit for bit.
 *
 * Outputs, while nobs >= minp (else NaN):
 *     cov:  bias ? cov : cov * sum_wt^2 / (sum_wt^2 - sum_wt2)  (NaN unless
 *           the denominator is > 0)
 *     corr: cov / sqrt(var_x * var_y) (pandas: the three biased ewmcov of
 *           the pair's records), clipped to [-1, 1]; NaN when a variance
 *           is 0 (a constant column, one observation).
 *
 * Fixed point: once a step leaves the weights unchanged (after ~36/alpha
 * observations without gap), the following steps without missing value
 * compute the same r, a, b and bias factor; the inner loop reuses them
 * (same values, the same bits) as ewm.c's variance does.
 *
 * Records are processed in order with the state carried, so any cut of the
 * input into calls gives the same bits.
 */
#include "ewm_pairs.h"

#include <float.h>
#include <math.h>
#include <string.h>

enum { P_MX, P_MY, P_COV, P_VX, P_VY, P_SW, P_SW2, P_OW };

typedef struct {
    int corr, adjust, ign, bias;
    int64_t minp;
    double f, ff, nw;
} params;

static int is_obs(double x) { return fabs(x) <= DBL_MAX; }

int64_t ps_ewmc_npairs(int64_t d)
{
    if (d < 2)
        return -1;
    if (d == 2)
        return 1;
    /* the output matrix has d*d values per record: keep it far from overflow */
    if (d > ((int64_t)1 << 20))
        return -1;
    return d * (d + 1) / 2;
}

int ps_ewmc_reset(double *st, int64_t *nobs, int64_t npairs)
{
    if (!st || !nobs || npairs < 1)
        return PS_ERR_ARG;
    for (int64_t p = 0; p < npairs; p++) {
        double *c = st + p * PS_EWMC_SLOTS;
        c[P_MX] = NAN;
        c[P_MY] = NAN;
        c[P_COV] = 0.0;
        c[P_VX] = 0.0;
        c[P_VY] = 0.0;
        c[P_SW] = 1.0;
        c[P_SW2] = 1.0;
        c[P_OW] = 1.0;
        nobs[p] = 0;
    }
    return PS_OK;
}

static double output(const params *q, int64_t nobs, double cov, double vx, double vy,
                     double sw, double sw2)
{
    if (nobs < q->minp)
        return NAN;
    if (q->corr) {
        double p = vx * vy;
        double s = p >= DBL_MIN && p <= DBL_MAX ? sqrt(p) : sqrt(vx) * sqrt(vy);
        if (!(s > 0.0)) /* a constant column (or an underflowed variance): undefined */
            return NAN;
        double r = cov / s;
        return r > 1.0 ? 1.0 : r < -1.0 ? -1.0 : r;
    }
    if (q->bias)
        return cov;
    double num = sw * sw, den = num - sw2;
    return den > 0.0 ? (num / den) * cov : NAN;
}

/* The mean / co-moment update of one observation (x, y) with the old weight
   ow (already decayed) and the new one nw; a, b are the step's factors.
   Returns 0 when a difference overflowed (pandas' formula was used). */
static void obs_overflow(int corr, double ow, double nw, double x, double y, double *mx,
                         double *my, double *cov, double *vx, double *vy);

/* Inlined (always: as a call, the running values would go through memory
   and the loop-carried chains would wait for it at every record). */
static inline __attribute__((always_inline)) int
obs_step(int corr, double ow, double nw, double x, double y, double *mx, double *my, double *cov,
         double *vx, double *vy, double *a, double *b)
{
    double dx = x - *mx, dy = y - *my;
    *a = *b = 0.0;
    if (fabs(dx) <= DBL_MAX && fabs(dy) <= DBL_MAX) {
        double r = 1.0 / (ow + nw);
        *a = ow * r;
        *b = nw * r;
        *mx = *mx + *b * dx;
        *my = *my + *b * dy;
        *cov = *a * (*cov + *b * dx * dy);
        if (corr) {
            *vx = *a * (*vx + *b * dx * dx);
            *vy = *a * (*vy + *b * dy * dy);
        }
        return 1;
    }
    obs_overflow(corr, ow, nw, x, y, mx, my, cov, vx, vy);
    return 0;
}

/* A difference overflows: pandas' formula. */
static void obs_overflow(int corr, double ow, double nw, double x, double y, double *mx,
                         double *my, double *cov, double *vx, double *vy)
{
    double ox = *mx, oy = *my, t = ow + nw;
    if (ox != x)
        *mx = (ow * ox + nw * x) / t;
    if (oy != y)
        *my = (ow * oy + nw * y) / t;
    double m = *mx, n = *my;
    *cov = (ow * (*cov + (ox - m) * (oy - n)) + nw * ((x - m) * (y - n))) / t;
    if (corr) {
        *vx = (ow * (*vx + (ox - m) * (ox - m)) + nw * ((x - m) * (x - m))) / t;
        *vy = (ow * (*vy + (oy - n) * (oy - n)) + nw * ((y - n) * (y - n))) / t;
    }
}

/* pandas' weights after an observation of weight nw. */
static inline __attribute__((always_inline)) void add_weight(int adjust, double nw, double *sw, double *sw2, double *ow)
{
    *sw += nw;
    *sw2 += nw * nw;
    *ow += nw;
    if (!adjust) {
        if (*ow != 1.0) { /* x / 1.0 == x: skipping is exact */
            *sw /= *ow;
            *sw2 /= *ow * *ow;
        }
        *ow = 1.0;
    }
}

/* One pair over n records: x[i * sx], y[i * sx] -> out[i * so]. */
static void pair_kernel(const params *q, double *c, int64_t *nobs_p, const double *x,
                        const double *y, int64_t sx, double *out, int64_t so, int64_t n)
{
    const double f = q->f, ff = q->ff, nw = q->nw;
    const int ign = q->ign, adjust = q->adjust, corr = q->corr;
    double mx = c[P_MX], my = c[P_MY], cov = c[P_COV], vx = c[P_VX], vy = c[P_VY];
    double sw = c[P_SW], sw2 = c[P_SW2], ow = c[P_OW];
    int64_t nobs = *nobs_p;
    int fixed = 0;
    double fa = 0.0, fb = 0.0, fac = NAN;
    int64_t i = 0;
    while (i < n) {
        if (fixed && mx == mx) {
            if (!corr && !q->bias) {
                for (; i < n; i++) {
                    double xi = x[i * sx], yi = y[i * sx];
                    double dx = xi - mx, dy = yi - my;
                    if (!is_obs(xi) || !is_obs(yi) || !(fabs(dx) <= DBL_MAX) ||
                        !(fabs(dy) <= DBL_MAX))
                        break;
                    nobs++;
                    mx = mx + fb * dx;
                    my = my + fb * dy;
                    cov = fa * (cov + fb * dx * dy);
                    out[i * so] = nobs < q->minp ? NAN : fac * cov;
                }
            } else {
                for (; i < n; i++) {
                    double xi = x[i * sx], yi = y[i * sx];
                    double dx = xi - mx, dy = yi - my;
                    if (!is_obs(xi) || !is_obs(yi) || !(fabs(dx) <= DBL_MAX) ||
                        !(fabs(dy) <= DBL_MAX))
                        break;
                    nobs++;
                    mx = mx + fb * dx;
                    my = my + fb * dy;
                    cov = fa * (cov + fb * dx * dy);
                    if (corr) {
                        vx = fa * (vx + fb * dx * dx);
                        vy = fa * (vy + fb * dy * dy);
                    }
                    out[i * so] = output(q, nobs, cov, vx, vy, sw, sw2);
                }
            }
            if (i >= n)
                break;
        }
        double xi = x[i * sx], yi = y[i * sx];
        int obs = is_obs(xi) && is_obs(yi);
        nobs += obs;
        if (mx == mx) {
            if (obs || !ign) {
                double sw0 = sw, sw20 = sw2, ow0 = ow;
                fixed = 0;
                sw *= f;
                sw2 *= ff;
                ow *= f;
                if (obs) {
                    double a, b;
                    int fin = obs_step(corr, ow, nw, xi, yi, &mx, &my, &cov, &vx, &vy, &a, &b);
                    add_weight(adjust, nw, &sw, &sw2, &ow);
                    if (fin && sw == sw0 && sw2 == sw20 && ow == ow0) {
                        fixed = 1;
                        fa = a;
                        fb = b;
                        double num = sw * sw, den = num - sw2;
                        fac = den > 0.0 ? num / den : NAN;
                    }
                }
            }
        } else if (obs) {
            mx = xi;
            my = yi;
        }
        out[i * so] = output(q, nobs, cov, vx, vy, sw, sw2);
        i++;
    }
    c[P_MX] = mx;
    c[P_MY] = my;
    c[P_COV] = cov;
    c[P_VX] = vx;
    c[P_VY] = vy;
    c[P_SW] = sw;
    c[P_SW2] = sw2;
    c[P_OW] = ow;
    *nobs_p = nobs;
}

#define ROWS 256

int ps_ewmc_update(int kind, int adjust, int ignore_na, int bias, int64_t minp, double alpha,
                   int64_t d, double *st, int64_t *nobs, const double *values, int64_t n,
                   double *out)
{
    int64_t np = ps_ewmc_npairs(d);
    if (!st || !nobs || np < 0 || n < 0 || (n > 0 && (!values || !out)) || minp < 1 ||
        (kind != PS_EWMC_COV && kind != PS_EWMC_CORR) || (adjust != 0 && adjust != 1) ||
        (ignore_na != 0 && ignore_na != 1) || (bias != 0 && bias != 1) ||
        (kind == PS_EWMC_CORR && bias) || !(alpha > 0.0 && alpha <= 1.0))
        return PS_ERR_ARG;
    params q;
    double com = 1.0 / alpha - 1.0;
    double a = 1.0 / (1.0 + com);
    q.corr = kind == PS_EWMC_CORR;
    q.adjust = adjust;
    q.ign = ignore_na;
    q.bias = bias;
    q.minp = minp;
    q.f = 1.0 - a;
    q.ff = q.f * q.f;
    q.nw = adjust ? 1.0 : a;
    if (d == 2) {
        pair_kernel(&q, st, nobs, values, values + 1, 2, out, 1, n);
        return PS_OK;
    }
    /* the matrix: each pair over a block of rows, written at (i, j) and (j, i) */
    for (int64_t i0 = 0; i0 < n; i0 += ROWS) {
        int64_t len = n - i0 < ROWS ? n - i0 : ROWS;
        const double *ib = values + i0 * d;
        double *ob = out + i0 * d * d;
        int64_t p = 0;
        for (int64_t i = 0; i < d; i++) {
            for (int64_t j = i; j < d; j++, p++) {
                pair_kernel(&q, st + p * PS_EWMC_SLOTS, nobs + p, ib + i, ib + j, d,
                            ob + i * d + j, d * d, len);
                if (j != i)
                    for (int64_t r = 0; r < len; r++)
                        ob[r * d * d + j * d + i] = ob[r * d * d + i * d + j];
            }
        }
    }
    return PS_OK;
}

/* ---- over irregular times --------------------------------------------------

   ewm_time.c's var / std recurrence per pair: at an observation after the
   pair's first, with D = exp2(-dt / halflife), dt the time since the pair's
   previous observation (int64 times: an exact unsigned difference, then
   converted),
       sum_wt *= D,  sum_wt2 *= D*D,  old_wt *= D,  new_wt = adjust ? 1 : 1 - D
   and the same mean / co-moment step and outputs as above.  Missing values
   neither add weight nor decay anything (the time they span counts through
   dt), so ignore_na makes no difference.  With times 0, 1, 2, ... this is
   the count-based kernel with f = 0.5 ** (1 / halflife). */
static void pair_times(const params *q, double halflife, double *c, int64_t *nobs_p,
                       int64_t *li, double *lf, const double *x, const double *y, int64_t sx,
                       const int64_t *ti, const double *tf, double *out, int64_t so, int64_t n)
{
    const int corr = q->corr, adjust = q->adjust;
    double mx = c[P_MX], my = c[P_MY], cov = c[P_COV], vx = c[P_VX], vy = c[P_VY];
    double sw = c[P_SW], sw2 = c[P_SW2], ow = c[P_OW];
    double cached_dt = 0.0, cached_d = 1.0; /* exp2(-0 / h) */
    int64_t nobs = *nobs_p;
    for (int64_t i = 0; i < n; i++) {
        double xi = x[i * sx], yi = y[i * sx];
        if (is_obs(xi) && is_obs(yi)) {
            if (nobs == 0) {
                mx = xi;
                my = yi;
                cov = vx = vy = 0.0;
                sw = sw2 = ow = 1.0;
            } else {
                double dt = ti ? (double)((uint64_t)ti[i] - (uint64_t)*li) : tf[i] - *lf;
                if (dt != cached_dt) {
                    cached_dt = dt;
                    cached_d = exp2(-dt / halflife);
                }
                double dd = cached_d, nw = adjust ? 1.0 : 1.0 - dd, a, b;
                sw *= dd;
                sw2 *= dd * dd;
                ow *= dd;
                obs_step(corr, ow, nw, xi, yi, &mx, &my, &cov, &vx, &vy, &a, &b);
                add_weight(adjust, nw, &sw, &sw2, &ow);
            }
            nobs++;
            if (ti)
                *li = ti[i];
            else
                *lf = tf[i];
        }
        out[i * so] = output(q, nobs, cov, vx, vy, sw, sw2);
    }
    c[P_MX] = mx;
    c[P_MY] = my;
    c[P_COV] = cov;
    c[P_VX] = vx;
    c[P_VY] = vy;
    c[P_SW] = sw;
    c[P_SW2] = sw2;
    c[P_OW] = ow;
    *nobs_p = nobs;
}

int ps_ewmc_update_times(int kind, int adjust, int bias, int64_t minp, double halflife,
                         int64_t d, double *st, int64_t *nobs, int64_t *last_i, double *last_f,
                         const double *values, const int64_t *times_i, const double *times_f,
                         int64_t n, double *out)
{
    int64_t np = ps_ewmc_npairs(d);
    int use_i = last_i != NULL;
    if (!st || !nobs || np < 0 || n < 0 || (n > 0 && (!values || !out)) || minp < 1 ||
        (kind != PS_EWMC_COV && kind != PS_EWMC_CORR) || (adjust != 0 && adjust != 1) ||
        (bias != 0 && bias != 1) || (kind == PS_EWMC_CORR && bias) || !(halflife > 0.0) ||
        !isfinite(halflife) || (last_i == NULL) == (last_f == NULL) ||
        (use_i ? !times_i || times_f : !times_f || times_i))
        return PS_ERR_ARG;
    params q;
    q.corr = kind == PS_EWMC_CORR;
    q.adjust = adjust;
    q.ign = 0;
    q.bias = bias;
    q.minp = minp;
    q.f = q.ff = q.nw = 0.0; /* unused: the decay comes from the times */
    if (d == 2) {
        pair_times(&q, halflife, st, nobs, last_i, last_f, values, values + 1, 2, times_i, times_f,
                   out, 1, n);
        return PS_OK;
    }
    for (int64_t i0 = 0; i0 < n; i0 += ROWS) {
        int64_t len = n - i0 < ROWS ? n - i0 : ROWS;
        const double *ib = values + i0 * d;
        const int64_t *tib = times_i ? times_i + i0 : NULL;
        const double *tfb = times_f ? times_f + i0 : NULL;
        double *ob = out + i0 * d * d;
        int64_t p = 0;
        for (int64_t i = 0; i < d; i++) {
            for (int64_t j = i; j < d; j++, p++) {
                pair_times(&q, halflife, st + p * PS_EWMC_SLOTS, nobs + p,
                           use_i ? last_i + p : NULL, use_i ? NULL : last_f + p, ib + i, ib + j, d,
                           tib, tfb, ob + i * d + j, d * d, len);
                if (j != i)
                    for (int64_t r = 0; r < len; r++)
                        ob[r * d * d + j * d + i] = ob[r * d * d + i * d + j];
            }
        }
    }
    return PS_OK;
}
