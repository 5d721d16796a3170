/*
 * C unit tests of the EWM covariance / correlation of pairs (ewm_pairs.c).
 * Run under ASan + UBSan.
 *
 * - the outputs do not depend on the cut into calls (whole, one record per
 *   call, random splits), for pairs and (d, d) matrices, with missing values;
 * - the matrix is symmetric and its (i, j) entry, i <= j, is the pair kernel
 *   run on columns i and j alone (so every pair uses its own records);
 * - adjust=1 without missing values agrees with the definition (weights
 *   (1 - alpha)**age, weighted means, weighted co-moment, pandas' bias
 *   factor), computed directly in long double: within 20 eps / alpha of the
 *   standard deviations' product, and on data of mean 1e9 and spread 1
 *   within 4 eps * 1e9 (measured: 1 eps * 1e9, the rounding of the mean;
 *   raw sums would give eps * 1e18 ~ 200, nothing left);
 * - a constant column gives a covariance of exactly 0 and a correlation NaN;
 *   correlations lie in [-1, 1];
 * - over times: chunk invariance (int64 and double times, repeats, gaps);
 *   regular times 0, 1, 2, ... give the count-based statistic;
 * - invalid arguments are refused and change nothing.
 */
#include "ewm_pairs.h"

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
    int kind, adjust, ign, bias;
    int64_t minp;
    double alpha;
} cfg;

/* Run n records of d values in calls of `split` records (0: random, -1: whole). */
static void run(const cfg *c, int64_t d, const double *x, int64_t n, int64_t split, double *out)
{
    int64_t np = ps_ewmc_npairs(d), ow = d == 2 ? 1 : d * d;
    double *st = malloc((size_t)(np * PS_EWMC_SLOTS) * sizeof(double));
    int64_t *nobs = malloc((size_t)np * sizeof(int64_t));
    CHECK(ps_ewmc_reset(st, nobs, np) == PS_OK);
    int64_t i = 0;
    while (i < n) {
        int64_t m = split < 0 ? n - i : split > 0 ? split : (int64_t)(rnd() % 40);
        if (m > n - i)
            m = n - i;
        CHECK(ps_ewmc_update(c->kind, c->adjust, c->ign, c->bias, c->minp, c->alpha, d, st, nobs,
                             x + i * d, m, out + i * ow) == PS_OK);
        i += m;
    }
    free(st);
    free(nobs);
}

static void fill(double *x, int64_t n, int64_t d, double shift, double pmiss)
{
    for (int64_t i = 0; i < n * d; i++) {
        double u = rnd_unit();
        x[i] = shift + rnd_normal();
        if (i % d == 1) /* correlated with column 0 */
            x[i] = shift + 0.6 * (x[i - 1] - shift) + 0.8 * rnd_normal();
        if (u < pmiss)
            x[i] = NAN;
        else if (u < pmiss * 1.2)
            x[i] = (rnd() & 1) ? INFINITY : -INFINITY;
    }
}

static void test_chunking_and_pairs(void)
{
    const int64_t n = 300;
    for (int64_t d = 2; d <= 4; d++) {
        double *x = malloc((size_t)(n * d) * sizeof(double));
        int64_t ow = d == 2 ? 1 : d * d;
        double *a = malloc((size_t)(n * ow) * sizeof(double));
        double *b = malloc((size_t)(n * ow) * sizeof(double));
        double *xy = malloc((size_t)(n * 2) * sizeof(double));
        double *p = malloc((size_t)n * sizeof(double));
        for (int k = 0; k < 32; k++) {
            cfg c = {k & 1, (k >> 1) & 1, (k >> 2) & 1, ((k >> 3) & 1) && !(k & 1),
                     (k >> 4) ? 5 : 1, 0.05 + 0.9 * rnd_unit()};
            fill(x, n, d, 0.0, k % 3 ? 0.1 : 0.0);
            run(&c, d, x, n, -1, a);
            for (int64_t split = 0; split <= 1; split++) {
                run(&c, d, x, n, split, b);
                int same = 1;
                for (int64_t i = 0; i < n * ow; i++)
                    same &= same_bits(a[i], b[i]);
                CHECK_CTX(same, "d=%lld k=%d split=%lld", (long long)d, k, (long long)split);
            }
            int inrange = 1;
            for (int64_t i = 0; i < n * ow; i++)
                inrange &= !c.kind || isnan(a[i]) || (a[i] >= -1.0 && a[i] <= 1.0);
            CHECK(inrange);
            if (d == 2)
                continue;
            /* each entry is the pair kernel on its two columns alone */
            int sym = 1, pair = 1;
            for (int64_t i = 0; i < d; i++)
                for (int64_t j = 0; j < d; j++) {
                    int64_t lo = i < j ? i : j, hi = i < j ? j : i; /* the pair's order */
                    for (int64_t r = 0; r < n; r++) {
                        xy[2 * r] = x[r * d + lo];
                        xy[2 * r + 1] = x[r * d + hi];
                    }
                    run(&c, 2, xy, n, -1, p);
                    for (int64_t r = 0; r < n; r++) {
                        sym &= same_bits(a[r * ow + i * d + j], a[r * ow + j * d + i]);
                        pair &= same_bits(a[r * ow + i * d + j], p[r]);
                    }
                }
            CHECK_CTX(sym && pair, "d=%lld k=%d", (long long)d, k);
            fp_mix(a, (size_t)(n * ow) * sizeof(double));
        }
        free(x), free(a), free(b), free(xy), free(p);
    }
}

/* The definition, adjust=1, no missing value: weights w_j = f**(i - j). */
static void reference(const double *x, int64_t n, double alpha, int bias, int corr, double *out,
                      double *scale)
{
    long double com = 1.0L / alpha - 1.0L, f = 1.0L - 1.0L / (1.0L + com);
    for (int64_t i = 0; i < n; i++) {
        long double sw = 0, sw2 = 0, sx = 0, sy = 0, w = 1;
        for (int64_t j = i; j >= 0; j--, w *= f) {
            sw += w;
            sw2 += w * w;
            sx += w * x[2 * j];
            sy += w * x[2 * j + 1];
        }
        long double mx = sx / sw, my = sy / sw, cxy = 0, vx = 0, vy = 0;
        w = 1;
        for (int64_t j = i; j >= 0; j--, w *= f) {
            long double dx = x[2 * j] - mx, dy = x[2 * j + 1] - my;
            cxy += w * dx * dy;
            vx += w * dx * dx;
            vy += w * dy * dy;
        }
        cxy /= sw, vx /= sw, vy /= sw;
        scale[i] = corr ? 1.0 : (double)(sqrtl(vx * vy) * (bias ? 1.0L : sw * sw / (sw * sw - sw2)));
        if (corr)
            out[i] = i == 0 ? NAN : (double)(cxy / sqrtl(vx * vy));
        else
            out[i] = bias ? (double)cxy : i == 0 ? NAN : (double)(cxy * sw * sw / (sw * sw - sw2));
    }
}

static void test_against_definition(void)
{
    const int64_t n = 400;
    double x[2 * 400], got[400], want[400], scale[400];
    const double shifts[] = {0.0, 1e9};
    const double alphas[] = {0.5, 0.1, 0.02};
    for (int s = 0; s < 2; s++)
        for (int a = 0; a < 3; a++)
            for (int kind = 0; kind < 2; kind++)
                for (int bias = 0; bias <= !kind; bias++) {
                    fill(x, n, 2, shifts[s], 0.0);
                    cfg c = {kind, 1, 0, bias, 1, alphas[a]};
                    run(&c, 2, x, n, 0, got);
                    reference(x, n, alphas[a], bias, kind, want, scale);
                    double worst = 0.0;
                    for (int64_t i = 1; i < n; i++) {
                        double e = fabs(got[i] - want[i]) / scale[i];
                        worst = e > worst ? e : worst;
                    }
                    /* relative to the standard deviations: O(eps / alpha), and O(eps *
                       shift / spread) on shifted data (the mean is rounded to its ulp;
                       raw sums would lose everything: eps * shift**2 / spread**2 ~ 200) */
                    double bound = 20 * 2.2e-16 / alphas[a] + 4 * 2.2e-16 * shifts[s];
                    CHECK_CTX(worst < bound, "shift=%g alpha=%g kind=%d bias=%d: %g", shifts[s],
                              alphas[a], kind, bias, worst);
                    CHECK(isnan(got[0]) == (kind || !bias));
                }
}

static void test_constant(void)
{
    const int64_t n = 200;
    double x[3 * 200], out[200 * 9];
    for (int64_t i = 0; i < n; i++) {
        x[3 * i] = 1e9 + 0.1;
        x[3 * i + 1] = rnd_normal();
        x[3 * i + 2] = -3.3;
    }
    for (int kind = 0; kind < 2; kind++)
        for (int adjust = 0; adjust < 2; adjust++) {
            cfg c = {kind, adjust, 0, 0, 1, 0.1};
            run(&c, 3, x, n, 0, out);
            int ok = 1;
            for (int64_t i = 0; i < n; i++) {
                const double *m = out + i * 9;
                if (kind == PS_EWMC_COV)
                    ok &= i == 0 || (m[0] == 0.0 && m[1] == 0.0 && m[2] == 0.0 && m[5] == 0.0 &&
                                     m[8] == 0.0);
                else
                    ok &= isnan(m[0]) && isnan(m[1]) && isnan(m[2]) && isnan(m[8]) &&
                          (i == 0 || m[4] == 1.0);
            }
            CHECK_CTX(ok, "kind=%d adjust=%d", kind, adjust);
        }
}

static void test_bad_arguments(void)
{
    double st[PS_EWMC_SLOTS], x[4] = {1, 2, 3, 4}, out[2];
    int64_t nobs[1];
    CHECK(ps_ewmc_npairs(1) == -1 && ps_ewmc_npairs(2) == 1 && ps_ewmc_npairs(3) == 6);
    CHECK(ps_ewmc_npairs(((int64_t)1 << 20) + 1) == -1);
    CHECK(ps_ewmc_reset(NULL, nobs, 1) == PS_ERR_ARG);
    CHECK(ps_ewmc_reset(st, nobs, 0) == PS_ERR_ARG);
    CHECK(ps_ewmc_reset(st, nobs, 1) == PS_OK);
    double before[PS_EWMC_SLOTS];
    memcpy(before, st, sizeof st);
    CHECK(ps_ewmc_update(2, 1, 0, 0, 1, 0.5, 2, st, nobs, x, 2, out) == PS_ERR_ARG);
    CHECK(ps_ewmc_update(0, 2, 0, 0, 1, 0.5, 2, st, nobs, x, 2, out) == PS_ERR_ARG);
    CHECK(ps_ewmc_update(1, 1, 0, 1, 1, 0.5, 2, st, nobs, x, 2, out) == PS_ERR_ARG);
    CHECK(ps_ewmc_update(0, 1, 0, 0, 0, 0.5, 2, st, nobs, x, 2, out) == PS_ERR_ARG);
    CHECK(ps_ewmc_update(0, 1, 0, 0, 1, 0.0, 2, st, nobs, x, 2, out) == PS_ERR_ARG);
    CHECK(ps_ewmc_update(0, 1, 0, 0, 1, NAN, 2, st, nobs, x, 2, out) == PS_ERR_ARG);
    CHECK(ps_ewmc_update(0, 1, 0, 0, 1, 1.5, 2, st, nobs, x, 2, out) == PS_ERR_ARG);
    CHECK(ps_ewmc_update(0, 1, 0, 0, 1, 0.5, 1, st, nobs, x, 2, out) == PS_ERR_ARG);
    CHECK(ps_ewmc_update(0, 1, 0, 0, 1, 0.5, 2, st, nobs, x, -1, out) == PS_ERR_ARG);
    CHECK(ps_ewmc_update(0, 1, 0, 0, 1, 0.5, 2, st, nobs, NULL, 2, out) == PS_ERR_ARG);
    CHECK(ps_ewmc_update(0, 1, 0, 0, 1, 0.5, 2, st, NULL, x, 2, out) == PS_ERR_ARG);
    CHECK(memcmp(before, st, sizeof st) == 0 && nobs[0] == 0);
    CHECK(ps_ewmc_update(0, 1, 0, 0, 1, 0.5, 2, st, nobs, NULL, 0, NULL) == PS_OK);
    CHECK(ps_ewmc_update(0, 1, 0, 0, 1, 0.5, 2, st, nobs, x, 2, out) == PS_OK);
    CHECK(nobs[0] == 2 && isnan(out[0]) && out[1] == 2.0); /* cov of (1,2), (3,4): 2 */
}

/* Over times: chunk invariance (int64 and double times), and regular times
   0, 1, 2, ... give the count-based statistic with f = 0.5 ** (1 / h). */
static void run_times(const cfg *c, double h, int64_t d, const double *x, const int64_t *ti,
                      const double *tf, int64_t n, int64_t split, double *out)
{
    int64_t np = ps_ewmc_npairs(d), ow = d == 2 ? 1 : d * d;
    double *st = malloc((size_t)(np * PS_EWMC_SLOTS) * sizeof(double));
    int64_t *nobs = malloc((size_t)np * sizeof(int64_t));
    int64_t *li = calloc((size_t)np, sizeof(int64_t));
    double *lf = calloc((size_t)np, sizeof(double));
    CHECK(ps_ewmc_reset(st, nobs, np) == PS_OK);
    int64_t i = 0;
    while (i < n) {
        int64_t m = split < 0 ? n - i : split > 0 ? split : (int64_t)(rnd() % 40);
        if (m > n - i)
            m = n - i;
        CHECK(ps_ewmc_update_times(c->kind, c->adjust, c->bias, c->minp, h, d, st, nobs,
                                   ti ? li : NULL, ti ? NULL : lf, x + i * d, ti ? ti + i : NULL,
                                   ti ? NULL : tf + i, m, out + i * ow) == PS_OK);
        i += m;
    }
    free(st), free(nobs), free(li), free(lf);
}

static void test_times(void)
{
    const int64_t n = 300;
    for (int64_t d = 2; d <= 3; d++) {
        int64_t ow = d == 2 ? 1 : d * d;
        double *x = malloc((size_t)(n * d) * sizeof(double));
        double *a = malloc((size_t)(n * ow) * sizeof(double));
        double *b = malloc((size_t)(n * ow) * sizeof(double));
        double *e = malloc((size_t)(n * ow) * sizeof(double));
        int64_t *ti = malloc((size_t)n * sizeof(int64_t));
        double *tf = malloc((size_t)n * sizeof(double));
        for (int k = 0; k < 8; k++) {
            cfg c = {k & 1, (k >> 1) & 1, 0, ((k >> 2) & 1) && !(k & 1), 2, 0.0};
            double h = 3.0;
            fill(x, n, d, 0.0, 0.1);
            int64_t t = 1000;
            for (int64_t i = 0; i < n; i++) {
                t += (int64_t)(rnd() % 4); /* repeats and gaps */
                ti[i] = t;
                tf[i] = (double)t;
            }
            run_times(&c, h, d, x, ti, NULL, n, -1, a);
            run_times(&c, h, d, x, NULL, tf, n, 0, b);
            int same = 1;
            for (int64_t i = 0; i < n * ow; i++)
                same &= same_bits(a[i], b[i]);
            run_times(&c, h, d, x, ti, NULL, n, 1, b);
            for (int64_t i = 0; i < n * ow; i++)
                same &= same_bits(a[i], b[i]);
            CHECK_CTX(same, "times d=%lld k=%d", (long long)d, k);
            /* regular times, no missing value: the count-based kernel */
            fill(x, n, d, 0.0, 0.0);
            for (int64_t i = 0; i < n; i++)
                ti[i] = i;
            run_times(&c, h, d, x, ti, NULL, n, 0, a);
            c.alpha = 1.0 - exp2(-1.0 / h);
            run(&c, d, x, n, 0, e);
            double worst = 0.0;
            for (int64_t i = 0; i < n * ow; i++) {
                CHECK(isnan(a[i]) == isnan(e[i]));
                if (!isnan(a[i]))
                    worst = fmax(worst, fabs(a[i] - e[i]) / (1.0 + fabs(e[i])));
            }
            CHECK_CTX(worst < 1e-13, "regular times d=%lld k=%d: %g", (long long)d, k, worst);
            fp_mix(a, (size_t)(n * ow) * sizeof(double));
        }
        free(x), free(a), free(b), free(e), free(ti), free(tf);
    }
    double st[PS_EWMC_SLOTS], x[2] = {1, 2}, out[1], lf[1];
    int64_t nobs[1], li[1], t[1] = {0};
    double tfl[1] = {0};
    CHECK(ps_ewmc_reset(st, nobs, 1) == PS_OK);
    CHECK(ps_ewmc_update_times(0, 1, 0, 1, 0.0, 2, st, nobs, li, NULL, x, t, NULL, 1, out) ==
          PS_ERR_ARG);
    CHECK(ps_ewmc_update_times(0, 1, 0, 1, 1.0, 2, st, nobs, li, lf, x, t, NULL, 1, out) ==
          PS_ERR_ARG);
    CHECK(ps_ewmc_update_times(0, 1, 0, 1, 1.0, 2, st, nobs, li, NULL, x, t, tfl, 1, out) ==
          PS_ERR_ARG);
    CHECK(ps_ewmc_update_times(1, 1, 1, 1, 1.0, 2, st, nobs, li, NULL, x, t, NULL, 1, out) ==
          PS_ERR_ARG);
    CHECK(nobs[0] == 0);
    CHECK(ps_ewmc_update_times(0, 1, 0, 1, 1.0, 2, st, nobs, li, NULL, x, t, NULL, 1, out) ==
          PS_OK && nobs[0] == 1 && li[0] == 0);
}

int main(int argc, char **argv)
{
    test_chunking_and_pairs();
    test_against_definition();
    test_constant();
    test_bad_arguments();
    test_times();
    if (argc > 1 && strcmp(argv[1], "--fingerprint") == 0) {
        printf("%016llx\n", (unsigned long long)*fp_state());
        return 0;
    }
    printf("test_ewm_pairs: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
