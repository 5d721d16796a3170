/*
 * ewm_time.c -- EWM mean / var / std over irregular times (ewm_time.h has
 * the state and the time / missing-value conventions).
 *
 * Per value, at an observation x (finite) at time t, with D the decay
 * since the value's previous observation (ewm_time.h):
 *
 * mean, adjust=1 (the formula: sum_j 0.5**((t_i - t_j)/h) x_j over the
 * sum of the same weights):
 *     S = S*D + x,  W = W*D + 1,  mean = S / W
 * and, as pandas ("avoid numerical errors on constant series"), the mean
 * is kept when x equals it, so a constant series gives exactly the
 * constant.  W >= 1 and |S| <= max|x| * W; should S overflow (values near
 * DBL_MAX with W > 1) the value switches for good to the weighted-mean
 * form of the same recurrence, pandas' own:
 *     od = W*D,  W = od + 1,  mean = (od/W)*mean + (1/W)*x
 * which cannot overflow.  A gap long enough to make D underflow to 0
 * restarts the average at x (S = x, W = 1).
 *
 * mean, adjust=0: pandas' recurrence with times (old_wt = D, new_wt =
 * 1 - D, pandas >= 3.0):
 *     mean = (D*mean + (1-D)*x) / (D + (1-D))
 * i.e. y_i = (1 - a_i) y_prev + a_i x_i with a_i = 1 - 0.5**(dt/h): the
 * textbook irregular EWMA (polars' ewm_mean_by).  A duplicate timestamp
 * (D = 1) gives the new value weight 0.
 *
 * var / std: pandas' ewmcov (x = y) with the per-step factor replaced by
 * D: at each observation after the first
 *     sum_wt *= D,  sum_wt2 *= D*D,  old_wt *= D,
 *     new_wt = adjust ? 1 : 1 - D,
 *     mean' = (old_wt*mean + new_wt*x) / (old_wt + new_wt)   (kept if x == mean)
 *     cov = (old_wt*(cov + (mean - mean')^2) + new_wt*(x - mean')^2) / (old_wt + new_wt)
 *     sum_wt += new_wt,  sum_wt2 += new_wt^2,  old_wt += new_wt
 *     adjust=0: sum_wt /= old_wt, sum_wt2 /= old_wt^2, old_wt = 1
 * and the output is cov * sum_wt^2 / (sum_wt^2 - sum_wt2) (NaN unless the
 * denominator is > 0), or cov with bias=1; std = sqrt(var).  With regular
 * times t = 0, 1, 2, ... this is pandas' ewm(halflife=h).var() (pandas
 * refuses times for var/std; this is our extension).
 *
 * Rows are processed one after the other with the state carried, so any
 * cut into calls gives the same bits.
 */
#include "ewm_time.h"

#include <float.h>
#include <math.h>
#include <string.h>

enum { M_S, M_W, M_MEAN, M_MODE };
enum { V_MEAN, V_COV, V_SUMWT, V_SUMWT2, V_OLDWT };

static int is_obs(double x) { return fabs(x) <= DBL_MAX; }

int ps_ewmt_reset(int kind, double *st, int64_t *nobs, int64_t *seen, int64_t width)
{
    if (!st || !nobs || !seen || width < 1 || kind < PS_EWMT_MEAN || kind > PS_EWMT_STD)
        return PS_ERR_ARG;
    for (int64_t j = 0; j < width; j++) {
        double *c = st + j * PS_EWMT_SLOTS;
        for (int k = 0; k < PS_EWMT_SLOTS; k++)
            c[k] = 0.0;
        if (kind == PS_EWMT_MEAN) {
            c[M_MEAN] = NAN;
        } else {
            c[V_MEAN] = NAN;
            c[V_SUMWT] = 1.0;
            c[V_SUMWT2] = 1.0;
            c[V_OLDWT] = 1.0;
        }
        nobs[j] = 0;
    }
    seen[0] = 0;
    return PS_OK;
}

static void mean_obs(double *c, double x, double d, int adjust, int first)
{
    if (first) {
        c[M_S] = x;
        c[M_W] = 1.0;
        c[M_MEAN] = x;
        return;
    }
    double m = c[M_MEAN];
    if (!adjust) {
        double nw = 1.0 - d;
        if (x != m)
            c[M_MEAN] = (d * m + nw * x) / (d + nw);
        return;
    }
    if (c[M_MODE] == 0.0) {
        double s = c[M_S] * d + x;
        double w = c[M_W] * d + 1.0;
        if (fabs(s) <= DBL_MAX) {
            c[M_S] = s;
            c[M_W] = w;
            if (x != m)
                c[M_MEAN] = s / w;
            return;
        }
        c[M_MODE] = 1.0; /* S overflowed: the weighted-mean form from now on */
    }
    double od = c[M_W] * d;
    double w = od + 1.0;
    c[M_W] = w;
    if (x != m)
        c[M_MEAN] = (od / w) * m + (1.0 / w) * x;
}

static void var_obs(double *c, double x, double d, int adjust, int first)
{
    if (first) {
        c[V_MEAN] = x;
        c[V_COV] = 0.0;
        c[V_SUMWT] = 1.0;
        c[V_SUMWT2] = 1.0;
        c[V_OLDWT] = 1.0;
        return;
    }
    double sum_wt = c[V_SUMWT] * d, sum_wt2 = c[V_SUMWT2] * (d * d);
    double old_wt = c[V_OLDWT] * d, new_wt = adjust ? 1.0 : 1.0 - d;
    double om = c[V_MEAN], mean = om;
    if (mean != x)
        mean = (old_wt * om + new_wt * x) / (old_wt + new_wt);
    double a = om - mean, b = x - mean;
    c[V_COV] = (old_wt * (c[V_COV] + a * a) + new_wt * (b * b)) / (old_wt + new_wt);
    c[V_MEAN] = mean;
    sum_wt += new_wt;
    sum_wt2 += new_wt * new_wt;
    old_wt += new_wt;
    if (!adjust) {
        sum_wt /= old_wt;
        sum_wt2 /= old_wt * old_wt;
        old_wt = 1.0;
    }
    c[V_SUMWT] = sum_wt;
    c[V_SUMWT2] = sum_wt2;
    c[V_OLDWT] = old_wt;
}

static double var_out(const double *c, int bias)
{
    if (bias)
        return c[V_COV];
    double num = c[V_SUMWT] * c[V_SUMWT];
    double den = num - c[V_SUMWT2];
    return den > 0.0 ? num / den * c[V_COV] : NAN;
}

/* Width 1, mean, adjust=1 (the common case): the same steps as mean_obs,
   with the state in locals for the whole call, and the decays of a block of
   rows computed first (the exp2 calls then do not wait for the recurrence
   and overlap; exp2 is deterministic, so the values are the same). */
enum { EWMT_BLOCK = 64 };

static void mean_adjust_w1(double *c, int64_t *nobs, int64_t *last_i, double *last_f,
                           const double *x, const int64_t *ti, const double *tf, int64_t n,
                           double halflife, int64_t minp, double *out)
{
    double S = c[M_S], W = c[M_W], m = c[M_MEAN];
    int overflowed = c[M_MODE] != 0.0;
    int64_t k = *nobs, tli = last_i ? last_i[0] : 0;
    double tlf = last_f ? last_f[0] : 0.0, cached_dt = 0.0, cached_d = 1.0;
    double dd[EWMT_BLOCK];
    for (int64_t i0 = 0; i0 < n; i0 += EWMT_BLOCK) {
        int64_t i1 = n - i0 < EWMT_BLOCK ? n : i0 + EWMT_BLOCK;
        /* the decay of every observation from the previous one */
        for (int64_t i = i0; i < i1; i++) {
            if (!is_obs(x[i]))
                continue;
            double dt = ti ? (double)((uint64_t)ti[i] - (uint64_t)tli) : tf[i] - tlf;
            if (dt != cached_dt) {
                cached_dt = dt;
                cached_d = exp2(-dt / halflife);
            }
            dd[i - i0] = cached_d;
            if (ti)
                tli = ti[i];
            else
                tlf = tf[i];
        }
        for (int64_t i = i0; i < i1; i++) {
            double v = x[i];
            if (is_obs(v)) {
                if (k == 0) {
                    S = v;
                    W = 1.0;
                    m = v;
                } else {
                    double d = dd[i - i0];
                    int done = 0;
                    if (!overflowed) {
                        double s2 = S * d + v, w2 = W * d + 1.0;
                        if (fabs(s2) <= DBL_MAX) {
                            S = s2;
                            W = w2;
                            if (v != m)
                                m = s2 / w2;
                            done = 1;
                        } else {
                            overflowed = 1;
                        }
                    }
                    if (!done) {
                        double od = W * d, w = od + 1.0;
                        W = w;
                        if (v != m)
                            m = (od / w) * m + (1.0 / w) * v;
                    }
                }
                k++;
            }
            out[i] = k < minp ? NAN : m;
        }
    }
    c[M_S] = S;
    c[M_W] = W;
    c[M_MEAN] = m;
    c[M_MODE] = overflowed ? 1.0 : 0.0;
    *nobs = k;
    if (last_i)
        last_i[0] = tli;
    else
        last_f[0] = tlf;
}

int ps_ewmt_update(int kind, int adjust, int bias, int64_t minp, double halflife,
                   int64_t width, double *st, int64_t *nobs, int64_t *seen,
                   int64_t *last_i, double *last_f,
                   const double *values, const int64_t *times_i, const double *times_f,
                   int64_t n, double *out, int64_t *bad_row)
{
    if (bad_row)
        *bad_row = -1;
    int use_i = last_i != NULL;
    if (!bad_row || !st || !nobs || !seen || width < 1 || n < 0 || minp < 1 ||
        kind < PS_EWMT_MEAN || kind > PS_EWMT_STD || !(halflife > 0.0) || !isfinite(halflife) ||
        (seen[0] != 0 && seen[0] != 1) || (last_i == NULL) == (last_f == NULL) ||
        (use_i ? !times_i || times_f : !times_f || times_i) || (n > 0 && (!values || !out)))
        return PS_ERR_ARG;
    /* The order check first, so a bad call changes nothing. */
    for (int64_t i = 0; i < n; i++) {
        int have_prev = i > 0 || seen[0];
        if (use_i) {
            int64_t prev = i ? times_i[i - 1] : last_i[width];
            if (have_prev && times_i[i] < prev) {
                *bad_row = i;
                return PS_ERR_ARG;
            }
        } else {
            double prev = i ? times_f[i - 1] : last_f[width];
            if (!isfinite(times_f[i]) || (have_prev && !(times_f[i] >= prev))) {
                *bad_row = i;
                return PS_ERR_ARG;
            }
        }
    }
    double cached_dt = 0.0, cached_d = 1.0; /* exp2(-0 / h) */
    int fast = width == 1 && kind == PS_EWMT_MEAN && adjust;
    if (fast)
        mean_adjust_w1(st, nobs, last_i, last_f, values, times_i, times_f, n, halflife, minp,
                       out);
    for (int64_t i = 0; !fast && i < n; i++) {
        for (int64_t j = 0; j < width; j++) {
            double *c = st + j * PS_EWMT_SLOTS;
            double x = values[i * width + j];
            if (is_obs(x)) {
                int first = nobs[j] == 0;
                double d = 1.0;
                if (!first) {
                    double dt = use_i ? (double)((uint64_t)times_i[i] - (uint64_t)last_i[j])
                                      : times_f[i] - last_f[j];
                    if (dt != cached_dt) {
                        cached_dt = dt;
                        cached_d = exp2(-dt / halflife);
                    }
                    d = cached_d;
                }
                if (kind == PS_EWMT_MEAN)
                    mean_obs(c, x, d, adjust, first);
                else
                    var_obs(c, x, d, adjust, first);
                nobs[j]++;
                if (use_i)
                    last_i[j] = times_i[i];
                else
                    last_f[j] = times_f[i];
            }
            double y;
            if (nobs[j] < minp)
                y = NAN;
            else if (kind == PS_EWMT_MEAN)
                y = c[M_MEAN];
            else {
                y = var_out(c, bias);
                if (kind == PS_EWMT_STD)
                    y = sqrt(y);
            }
            out[i * width + j] = y;
        }
    }
    if (n > 0) {
        seen[0] = 1;
        if (use_i)
            last_i[width] = times_i[n - 1];
        else
            last_f[width] = times_f[n - 1];
    }
    return PS_OK;
}
