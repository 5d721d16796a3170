/*
 * C unit tests of the EWM over irregular times (ewm_time.c).  Run under
 * ASan + UBSan.
 *
 * - the outputs do not depend on the chunking (whole, one row per call,
 *   random splits) nor on the record width, for int64 and double times;
 * - mean with adjust=1 agrees with the formula sum_j 0.5**((t_i-t_j)/h) x_j /
 *   sum_j 0.5**((t_i-t_j)/h), computed directly in long double;
 * - a constant series gives exactly the constant (and variance 0);
 * - times out of order (or not finite) are refused with their row and
 *   change nothing; invalid arguments are refused.
 */
#include "ewm_time.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testkit.h"

static int same_bits(double a, double b)
{
    if (isnan(a) && isnan(b))
        return 1;
    return memcmp(&a, &b, sizeof a) == 0;
}

typedef struct {
    double *st;
    int64_t *nobs, seen[1], *last_i;
    double *last_f;
} state;

static void st_init(state *s, int kind, int64_t w)
{
    s->st = malloc((size_t)(w * PS_EWMT_SLOTS) * sizeof(double));
    s->nobs = malloc((size_t)w * sizeof(int64_t));
    s->last_i = calloc((size_t)(w + 1), sizeof(int64_t));
    s->last_f = calloc((size_t)(w + 1), sizeof(double));
    CHECK(ps_ewmt_reset(kind, s->st, s->nobs, s->seen, w) == PS_OK);
}

static void st_free(state *s)
{
    free(s->st), free(s->nobs), free(s->last_i), free(s->last_f);
}

/* Run n rows in calls of `split` rows (0: random, -1: whole). */
static void run(int kind, int adjust, int bias, int64_t minp, double h, int64_t w,
                const double *x, const int64_t *ti, const double *tf, int64_t n, int64_t split,
                double *out)
{
    state s;
    st_init(&s, kind, w);
    int64_t i = 0, bad;
    while (i < n) {
        int64_t m = split < 0 ? n - i : split > 0 ? split : (int64_t)(rnd() % 40);
        if (m > n - i)
            m = n - i;
        CHECK(ps_ewmt_update(kind, adjust, bias, minp, h, w, s.st, s.nobs, s.seen,
                             ti ? s.last_i : NULL, ti ? NULL : s.last_f, x + i * w,
                             ti ? ti + i : NULL, ti ? NULL : tf + i, m, out + i * w,
                             &bad) == PS_OK);
        i += m;
    }
    st_free(&s);
}

static void test_chunking_width_formula(void)
{
    int64_t n = 1500, w = 3;
    double *x = malloc((size_t)(n * w) * sizeof *x), *col = malloc((size_t)n * sizeof *col);
    double *tf = malloc((size_t)n * sizeof *tf), *o = malloc((size_t)(n * w) * sizeof *o);
    double *o2 = malloc((size_t)(n * w) * sizeof *o2);
    int64_t *ti = malloc((size_t)n * sizeof *ti);
    int64_t t = 1700000000000000000;
    for (int64_t i = 0; i < n; i++) {
        double u = rnd_unit();
        t += u < 0.2 ? 0 : u < 0.99 ? (int64_t)(rnd() % 4000000000u) : 3600000000000;
        ti[i] = t;
        tf[i] = (double)(t - 1700000000000000000) / 1e9;
        for (int64_t j = 0; j < w; j++) {
            double v = rnd_unit();
            x[i * w + j] = v < 0.08 ? NAN : v < 0.1 ? INFINITY : rnd_normal() + 5.0 * (double)j;
        }
    }
    for (int kind = 0; kind < 3; kind++)
        for (int adjust = 0; adjust < 2; adjust++)
            for (int times = 0; times < 2; times++) {
                const int64_t *pi = times ? NULL : ti;
                const double *pf = times ? tf : NULL;
                double h = times ? 10.0 : 1e10;
                run(kind, adjust, 0, 1, h, w, x, pi, pf, n, -1, o);
                for (int split = 0; split < 4; split++) {
                    run(kind, adjust, 0, 1, h, w, x, pi, pf, n, split == 3 ? 1 : 0, o2);
                    int ok = 1;
                    for (int64_t i = 0; ok && i < n * w; i++)
                        ok = same_bits(o[i], o2[i]);
                    CHECK_CTX(ok, "kind %d adjust %d times %d split %d", kind, adjust, times,
                              split);
                }
                for (int64_t j = 0; j < w; j++) {
                    for (int64_t i = 0; i < n; i++)
                        col[i] = x[i * w + j];
                    run(kind, adjust, 0, 1, h, 1, col, pi, pf, n, 0, o2);
                    int ok = 1;
                    for (int64_t i = 0; ok && i < n; i++)
                        ok = same_bits(o[i * w + j], o2[i]);
                    CHECK_CTX(ok, "width: kind %d value %lld", kind, (long long)j);
                }
            }
    /* the formula, adjust=1 mean, value 0, int64 times */
    run(PS_EWMT_MEAN, 1, 0, 1, 1e10, w, x, ti, NULL, n, 0, o);
    for (int64_t i = 0; i < n; i++) {
        long double s = 0, ws = 0;
        for (int64_t k = 0; k <= i; k++) {
            double v = x[k * w];
            if (!isfinite(v))
                continue;
            long double wt = powl(0.5L, (long double)(ti[i] - ti[k]) / 1e10L);
            s += wt * v;
            ws += wt;
        }
        if (ws == 0)
            CHECK(isnan(o[i * w]));
        else
            CHECK_CTX(fabs(o[i * w] - (double)(s / ws)) <= 1e-12 * (1.0 + fabs((double)(s / ws))),
                      "row %lld: %.17g vs %.17Lg", (long long)i, o[i * w], s / ws);
    }
    free(x), free(col), free(tf), free(o), free(o2), free(ti);
}

static void test_constant(void)
{
    int64_t n = 300, ti[300];
    double x[300], o[300];
    for (int64_t i = 0; i < n; i++) {
        x[i] = 0.1;
        ti[i] = i / 3 * 7;
    }
    for (int adjust = 0; adjust < 2; adjust++) {
        run(PS_EWMT_MEAN, adjust, 0, 1, 5.0, 1, x, ti, NULL, n, 0, o);
        int ok = 1;
        for (int64_t i = 0; i < n; i++)
            ok &= o[i] == 0.1;
        CHECK(ok);
        run(PS_EWMT_VAR, adjust, 1, 1, 5.0, 1, x, ti, NULL, n, 0, o);
        ok = 1;
        for (int64_t i = 0; i < n; i++)
            ok &= o[i] == 0.0;
        CHECK(ok);
    }
}

static void test_errors(void)
{
    state s;
    st_init(&s, PS_EWMT_MEAN, 1);
    double x[3] = {1.0, 2.0, 3.0}, o[3];
    int64_t t[3] = {5, 6, 4}, bad = 9;
    CHECK(ps_ewmt_update(0, 1, 0, 1, 1.0, 1, s.st, s.nobs, s.seen, s.last_i, NULL, x, t, NULL, 3,
                         o, &bad) == PS_ERR_ARG && bad == 2);
    CHECK(s.seen[0] == 0 && s.nobs[0] == 0);
    CHECK(ps_ewmt_update(0, 1, 0, 1, 1.0, 1, s.st, s.nobs, s.seen, s.last_i, NULL, x, t, NULL, 2,
                         o, &bad) == PS_OK && bad == -1 && s.nobs[0] == 2);
    int64_t t2[1] = {INT64_MIN};
    CHECK(ps_ewmt_update(0, 1, 0, 1, 1.0, 1, s.st, s.nobs, s.seen, s.last_i, NULL, x, t2, NULL,
                         1, o, &bad) == PS_ERR_ARG && bad == 0 && s.nobs[0] == 2);
    double tf[2] = {0.0, NAN};
    state f;
    st_init(&f, PS_EWMT_STD, 1);
    CHECK(ps_ewmt_update(2, 1, 0, 1, 1.0, 1, f.st, f.nobs, f.seen, NULL, f.last_f, x, NULL, tf, 2,
                         o, &bad) == PS_ERR_ARG && bad == 1);
    /* both or neither time kinds, bad halflife, kind, minp, width */
    CHECK(ps_ewmt_update(0, 1, 0, 1, 1.0, 1, s.st, s.nobs, s.seen, s.last_i, s.last_f, x, t, NULL,
                         1, o, &bad) == PS_ERR_ARG && bad == -1);
    CHECK(ps_ewmt_update(0, 1, 0, 1, 0.0, 1, s.st, s.nobs, s.seen, s.last_i, NULL, x, t, NULL, 1,
                         o, &bad) == PS_ERR_ARG);
    CHECK(ps_ewmt_update(0, 1, 0, 1, INFINITY, 1, s.st, s.nobs, s.seen, s.last_i, NULL, x, t,
                         NULL, 1, o, &bad) == PS_ERR_ARG);
    CHECK(ps_ewmt_update(3, 1, 0, 1, 1.0, 1, s.st, s.nobs, s.seen, s.last_i, NULL, x, t, NULL, 1,
                         o, &bad) == PS_ERR_ARG);
    CHECK(ps_ewmt_update(0, 1, 0, 0, 1.0, 1, s.st, s.nobs, s.seen, s.last_i, NULL, x, t, NULL, 1,
                         o, &bad) == PS_ERR_ARG);
    CHECK(ps_ewmt_update(0, 1, 0, 1, 1.0, 0, s.st, s.nobs, s.seen, s.last_i, NULL, x, t, NULL, 1,
                         o, &bad) == PS_ERR_ARG);
    CHECK(ps_ewmt_reset(0, s.st, s.nobs, s.seen, 0) == PS_ERR_ARG);
    CHECK(ps_ewmt_reset(5, s.st, s.nobs, s.seen, 1) == PS_ERR_ARG);
    st_free(&s);
    st_free(&f);
}

int main(void)
{
    test_chunking_width_formula();
    test_constant();
    test_errors();
    return report();
}
