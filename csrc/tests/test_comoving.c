/*
 * C unit tests of the moving co-moment kernel (comoving.c).  Run under ASan +
 * UBSan by `make ctest`, in three builds: the default, -DPS_NO_SIMD (scalar
 * division loop) and -DPS_COMOVING_DENSE=0 (never the NaN-free fast path);
 * with --fingerprint each prints one hash of the outputs of a random
 * workload, and the three must agree.
 *
 * - hand-computed covariances, correlations and slopes, NaN rules, min_count,
 *   ddof, the d x d layout;
 * - against a long-double two-pass reference on random and spiky data with
 *   NaNs and infs (pairwise-complete);
 * - a constant window after a spike: covariance exactly 0, correlation NaN;
 * - any cut of the rows into calls (each with the previous window - 1 rows)
 *   gives the same bits; duration-like windows given by starts / ends;
 * - argument checks (PS_ERR_ARG and the offending window).
 */
#include "comoving.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testkit.h"

static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Window starts of windows of w records over rows first .. n-1. */
static void count_starts(int64_t n, int64_t first, int64_t w, int64_t *s)
{
    for (int64_t i = first; i < n; i++)
        s[i - first] = i - w + 1 < 0 ? 0 : i - w + 1;
}

static void test_hand(void)
{
    double x[] = {1, 2, 2, 4, 4, 5, NAN, 1, 3, 1};
    int64_t s[5], bad;
    double o[5];
    count_starts(5, 0, 3, s);
    CHECK(ps_comoving(PS_COMOVE_COV, x, 5, 2, s, NULL, 1, 5, 0, 0, 2, 0, 1.0, o, &bad) == PS_OK);
    /* rows (1,2),(2,4),(4,5),(nan,1),(3,1); windows of 3 rows */
    CHECK(isnan(o[0]));                      /* one pair: min_count 2 */
    CHECK(o[1] == 1.0);                      /* (1,2),(2,4): (0.5 + 0.5) / 1 */
    CHECK(fabs(o[2] - 13.0 / 6.0) < 1e-15);  /* x 1,2,4 y 2,4,5: (39/9) / 2 */
    CHECK(fabs(o[3] - 1.0) < 1e-15);         /* (2,4),(4,5) (nan row skipped) */
    CHECK(fabs(o[4] - 2.0) < 1e-15);         /* (4,5),(3,1) */
    /* propagate: a NaN in the window gives NaN */
    CHECK(ps_comoving(PS_COMOVE_COV, x, 5, 2, s, NULL, 1, 5, 0, 0, 1, 1, 1.0, o, &bad) == PS_OK);
    CHECK(isnan(o[3]) && isnan(o[4]) && o[1] == 1.0);
    /* ddof 0 */
    CHECK(ps_comoving(PS_COMOVE_COV, x, 5, 2, s, NULL, 1, 5, 0, 0, 2, 0, 0.0, o, &bad) == PS_OK);
    CHECK(o[1] == 0.5);
    /* ddof >= count: NaN */
    CHECK(ps_comoving(PS_COMOVE_COV, x, 5, 2, s, NULL, 1, 5, 0, 0, 1, 0, 2.0, o, &bad) == PS_OK);
    CHECK(isnan(o[1]) && !isnan(o[2]));
    /* correlation of a perfect line is 1, of (4,5),(3,1) also (two points) */
    CHECK(ps_comoving(PS_COMOVE_CORR, x, 5, 2, s, NULL, 1, 5, 0, 0, 2, 0, 1.0, o, &bad) == PS_OK);
    CHECK(fabs(o[1] - 1.0) < 1e-15 && fabs(o[4] - 1.0) < 1e-15 && o[2] > 0.9 && o[2] < 1.0);
    /* beta: slope of column 1 on column 0 */
    CHECK(ps_comoving(PS_COMOVE_BETA, x, 5, 2, s, NULL, 1, 5, 0, 0, 2, 0, 1.0, o, &bad) == PS_OK);
    CHECK(o[1] == 2.0 && fabs(o[4] - 4.0) < 1e-15);
    /* three columns: a 3 x 3 matrix per window, symmetric, diagonal = variances */
    {
        double y[] = {1, 2, 3, 2, 4, 1, 4, 5, 0};
        double m[27];
        int64_t s3[3];
        count_starts(3, 0, 3, s3);
        CHECK(ps_comoving(PS_COMOVE_COV, y, 3, 3, s3, NULL, 1, 3, 0, 0, 3, 0, 1.0, m, &bad) ==
              PS_OK);
        for (int k = 0; k < 18; k++)
            CHECK(isnan(m[k]));
        CHECK(fabs(m[18 + 0] - 7.0 / 3.0) < 1e-15);   /* var(1,2,4) */
        CHECK(fabs(m[18 + 4] - 7.0 / 3.0) < 1e-15);   /* var(2,4,5) */
        CHECK(fabs(m[18 + 8] - 7.0 / 3.0) < 1e-15);   /* var(3,1,0) */
        CHECK(same_bits(m[18 + 1], m[18 + 3]) && same_bits(m[18 + 2], m[18 + 6]));
        CHECK(ps_comoving(PS_COMOVE_CORR, y, 3, 3, s3, NULL, 1, 3, 0, 0, 3, 0, 1.0, m, &bad) ==
              PS_OK);
        CHECK(m[18] == 1.0 && m[22] == 1.0 && m[26] == 1.0 && m[18 + 2] < 0);
    }
}

/* Long-double two-pass reference of one window of the pair (pairwise-complete). */
static double reference(int stat, const double *x, int64_t d, int64_t a, int64_t b, int64_t s,
                        int64_t e, int64_t mc, double ddof)
{
    long double su = 0, sv = 0, cuv = 0, cuu = 0, cvv = 0;
    int64_t n = 0;
    for (int64_t j = s; j < e; j++) {
        double u = x[j * d + a], v = x[j * d + b];
        if (u == u && v == v) {
            if (isinf(u) || isinf(v))
                return NAN;
            su += u;
            sv += v;
            n++;
        }
    }
    if (n == 0 || n < mc)
        return NAN;
    su /= n;
    sv /= n;
    for (int64_t j = s; j < e; j++) {
        double u = x[j * d + a], v = x[j * d + b];
        if (u == u && v == v) {
            cuv += (u - su) * (v - sv);
            cuu += (u - su) * (u - su);
            cvv += (v - sv) * (v - sv);
        }
    }
    if (stat == PS_COMOVE_COV)
        return (double)n - ddof > 0 ? (double)(cuv / ((long double)n - ddof)) : NAN;
    if (stat == PS_COMOVE_BETA)
        return (double)(cuv / cuu);
    if (a == b)
        return cuu > 0 ? 1.0 : NAN;
    return (double)(cuv / sqrtl(cuu * cvv));
}

static void test_reference(void)
{
    enum { N = 700, D = 3 };
    double *x = malloc(N * D * sizeof *x), *o = malloc(N * D * D * sizeof *o);
    int64_t *s = malloc(N * sizeof *s), bad;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N * D; i++) {
            uint64_t r = rnd() % 50;
            x[i] = r == 0 ? NAN : (round == 2 && r == 1) ? INFINITY
                 : (round == 1 && r < 4) ? 1e9 * rnd_normal() : 3 + rnd_normal();
        }
        for (int64_t w = 1; w <= 300; w = w * 3 + 1) {
            count_starts(N, 0, w, s);
            for (int stat = PS_COMOVE_COV; stat <= PS_COMOVE_CORR; stat++) {
                CHECK(ps_comoving(stat, x, N, D, s, NULL, 1, N, 0, 5, 1, 0, 1.0, o, &bad) == PS_OK);
                for (int64_t i = 0; i < N; i++)
                    for (int a = 0; a < D; a++)
                        for (int b = 0; b < D; b++) {
                            double want = reference(stat, x, D, a, b, s[i], i + 1, 1, 1.0);
                            double got = o[i * D * D + a * D + b];
                            double tol = round == 1 ? 1e-6 * (fabs(want) + 1e6) : 1e-11;
                            CHECK_CTX((isnan(want) && isnan(got)) || fabs(got - want) <=
                                      tol * (1 + fabs(want)), "stat %d w %lld i %lld: %g vs %g",
                                      stat, (long long)w, (long long)i, got, want);
                        }
            }
        }
    }
    free(x);
    free(o);
    free(s);
}

static void test_spike(void)
{
    enum { N = 64 };
    double x[2 * N], o[N];
    int64_t s[N], bad;
    for (int i = 0; i < N; i++) {
        x[2 * i] = i < 20 ? 1e12 * rnd_normal() : 3.0;
        x[2 * i + 1] = i < 20 ? -1e12 * rnd_normal() : 7.0;
    }
    for (int64_t w = 2; w <= 40; w += 3) {
        count_starts(N, 0, w, s);
        CHECK(ps_comoving(PS_COMOVE_COV, x, N, 2, s, NULL, 1, N, 0, 3, w, 0, 1.0, o, &bad) == PS_OK);
        for (int64_t i = 20 + w - 1; i < N; i++)
            CHECK(same_bits(o[i], 0.0));
        CHECK(ps_comoving(PS_COMOVE_CORR, x, N, 2, s, NULL, 1, N, 0, 3, w, 0, 1.0, o, &bad) == PS_OK);
        for (int64_t i = 20 + w - 1; i < N; i++)
            CHECK(isnan(o[i]));
    }
}

/* Outputs of rows [first, n) of a call over rows [first - tail, n), against one call. */
static void test_cuts(void)
{
    enum { N = 500 };
    double *x = malloc(N * 2 * sizeof *x), *whole = malloc(N * sizeof *whole);
    double *part = malloc(N * sizeof *part);
    int64_t *s = malloc(N * sizeof *s), *e = malloc(N * sizeof *e), bad;
    for (int i = 0; i < 2 * N; i++)
        x[i] = rnd() % 23 == 0 ? NAN : 1e6 + rnd_normal();
    for (int64_t w = 1; w <= 200; w = 2 * w + 3)
        for (int stat = PS_COMOVE_COV; stat <= PS_COMOVE_BETA; stat++) {
            count_starts(N, 0, w, s);
            CHECK(ps_comoving(stat, x, N, 2, s, NULL, 1, N, 0, 1000, 1, 0, 1.0, whole, &bad) ==
                  PS_OK);
            for (int64_t cut = 1; cut < N; cut += 37) {
                int64_t lo = cut - (w - 1) < 0 ? 0 : cut - (w - 1), m = N - cut;
                for (int64_t i = 0; i < m; i++) {
                    int64_t g = cut + i;
                    s[i] = (g - w + 1 < lo ? lo : g - w + 1) - lo;
                    e[i] = g + 1 - lo;
                }
                CHECK(ps_comoving(stat, x + 2 * lo, N - lo, 2, s, e, 0, m, 0, 1000 + lo, 1, 0, 1.0,
                                  part, &bad) == PS_OK);
                for (int64_t i = 0; i < m; i++)
                    CHECK_CTX(same_bits(part[i], whole[cut + i]), "w %lld cut %lld",
                              (long long)w, (long long)cut);
            }
        }
    free(x);
    free(whole);
    free(part);
    free(s);
    free(e);
}

/* starts NULL with a window: the same windows as explicit starts, the same bits */
static void test_count_mode(void)
{
    enum { N = 300 };
    double *x = malloc(N * 3 * sizeof *x), *a = malloc(N * 9 * sizeof *a);
    double *b = malloc(N * 9 * sizeof *b);
    int64_t *s = malloc(N * sizeof *s), bad;
    for (int i = 0; i < 3 * N; i++)
        x[i] = rnd() % 17 == 0 ? NAN : rnd_normal();
    for (int64_t w = 1; w <= 400; w = 3 * w + 2)
        for (int d = 2; d <= 3; d++) {
            count_starts(N, 0, w, s);
            CHECK(ps_comoving(PS_COMOVE_CORR, x, N, d, s, NULL, 1, N, 0, 9, 1, 0, 1.0, a, &bad) ==
                  PS_OK);
            CHECK(ps_comoving(PS_COMOVE_CORR, x, N, d, NULL, NULL, 1, N, w, 9, 1, 0, 1.0, b,
                              &bad) == PS_OK);
            CHECK(memcmp(a, b, (size_t)N * (d == 2 ? 1 : 9) * sizeof *a) == 0);
        }
    CHECK(ps_comoving(PS_COMOVE_CORR, x, N, 2, NULL, NULL, 1, N, 0, 9, 1, 0, 1.0, b, &bad) ==
          PS_ERR_ARG);
    free(x);
    free(a);
    free(b);
    free(s);
}

static void test_arguments(void)
{
    double x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, o[4];
    int64_t s[4] = {0, 0, 1, 2}, e[4] = {1, 2, 3, 4}, bad;
    CHECK(ps_comoving(PS_COMOVE_COV, x, 4, 2, s, e, 0, 4, 0, 0, 1, 0, 1.0, o, &bad) == PS_OK);
    CHECK(ps_comoving(PS_COMOVE_COV, x, 4, 1, s, e, 0, 4, 0, 0, 1, 0, 1.0, o, &bad) == PS_ERR_ARG);
    CHECK(ps_comoving(PS_COMOVE_BETA, x, 2, 4, s, e, 0, 1, 0, 0, 1, 0, 1.0, o, &bad) == PS_ERR_ARG);
    CHECK(ps_comoving(7, x, 4, 2, s, e, 0, 4, 0, 0, 1, 0, 1.0, o, &bad) == PS_ERR_ARG);
    CHECK(ps_comoving(PS_COMOVE_COV, x, 4, 2, s, e, 0, 4, 0, 0, 0, 0, 1.0, o, &bad) == PS_ERR_ARG);
    CHECK(ps_comoving(PS_COMOVE_COV, x, 4, 2, s, e, 0, 4, 0, 0, 1, 2, 1.0, o, &bad) == PS_ERR_ARG);
    CHECK(ps_comoving(PS_COMOVE_COV, x, 4, 2, s, e, 0, 4, 0, 0, 1, 0, -1.0, o, &bad) == PS_ERR_ARG);
    CHECK(ps_comoving(PS_COMOVE_COV, x, 4, 2, s, e, 0, 4, 0, 0, 1, 0, NAN, o, &bad) == PS_ERR_ARG);
    CHECK(ps_comoving(PS_COMOVE_COV, x, 4, 2, s, e, 0, 4, 0, -1, 1, 0, 1.0, o, &bad) == PS_ERR_ARG);
    CHECK(ps_comoving(PS_COMOVE_COV, x, 4, 2, s, e, 0, 4, 0, INT64_MAX - 2, 1, 0, 1.0, o, &bad) ==
          PS_ERR_ARG);
    CHECK(ps_comoving(PS_COMOVE_COV, x, 4, 2, s, e, 0, 4, 0, 0, 1, 0, 1.0, o, NULL) == PS_ERR_ARG);
    CHECK(ps_comoving(PS_COMOVE_COV, x, 4, 2, s, NULL, 1, 5, 0, 0, 1, 0, 1.0, o, &bad) ==
          PS_ERR_ARG);
    s[2] = 3; /* a start after its end */
    e[2] = 2;
    CHECK(ps_comoving(PS_COMOVE_COV, x, 4, 2, s, e, 0, 4, 0, 0, 1, 0, 1.0, o, &bad) == PS_ERR_ARG &&
          bad == 2);
    s[2] = 1;
    e[2] = 5; /* past the rows */
    CHECK(ps_comoving(PS_COMOVE_COV, x, 4, 2, s, e, 0, 4, 0, 0, 1, 0, 1.0, o, &bad) == PS_ERR_ARG &&
          bad == 2);
    e[2] = 3;
    s[3] = 0; /* starts going back */
    CHECK(ps_comoving(PS_COMOVE_COV, x, 4, 2, s, e, 0, 4, 0, 0, 1, 0, 1.0, o, &bad) == PS_ERR_ARG &&
          bad == 3);
    CHECK(ps_comoving(PS_COMOVE_COV, x, 4, 2, s, e, 0, 0, 0, 0, 1, 0, 1.0, NULL, &bad) == PS_OK);
}

static uint64_t fingerprint(void)
{
    enum { N = 5000 };
    double *x = malloc(N * 4 * sizeof *x), *o = malloc(N * 16 * sizeof *o);
    int64_t *s = malloc(N * sizeof *s), bad;
    uint64_t h = 14695981039346656037ull;
    for (int i = 0; i < N * 4; i++) {
        uint64_t r = rnd() % 400;
        x[i] = r == 0 ? NAN : r == 1 ? INFINITY : r < 80 ? (double)(rnd() % 5) : rnd_normal();
    }
    for (int64_t w = 3; w <= 3000; w *= 10)
        for (int d = 2; d <= 4; d += 2)
            for (int stat = PS_COMOVE_COV; stat <= (d == 2 ? PS_COMOVE_BETA : PS_COMOVE_CORR);
                 stat++)
                for (int prop = 0; prop < 2; prop++) {
                    /* d == 2 reads the first half of each row of 4: rows of 2 of x */
                    count_starts(N, 0, w, s);
                    CHECK(ps_comoving(stat, x, N, d, s, NULL, 1, N, 0, 77, 2, prop, 1.0, o, &bad) ==
                          PS_OK);
                    for (int i = 0; i < N * (d == 2 ? 1 : d * d); i++) {
                        uint64_t u;
                        memcpy(&u, &o[i], 8);
                        h = (h ^ u) * 1099511628211ull;
                    }
                }
    /* the same data without NaN and inf: the fast path where it is built */
    for (int i = 0; i < N * 4; i++)
        if (!isfinite(x[i]))
            x[i] = 0.5;
    for (int64_t w = 3; w <= 3000; w *= 10)
        for (int stat = PS_COMOVE_COV; stat <= PS_COMOVE_CORR; stat++) {
            count_starts(N, 0, w, s);
            CHECK(ps_comoving(stat, x, N, 4, s, NULL, 1, N, 0, 5, 2, 0, 1.0, o, &bad) == PS_OK);
            for (int i = 0; i < N * 16; i++) {
                uint64_t u;
                memcpy(&u, &o[i], 8);
                h = (h ^ u) * 1099511628211ull;
            }
        }
    free(x);
    free(o);
    free(s);
    return h;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--fingerprint") == 0) {
        printf("%016llx\n", (unsigned long long)fingerprint());
        return failed != 0;
    }
    test_hand();
    test_reference();
    test_spike();
    test_cuts();
    test_count_mode();
    test_arguments();
    (void)fingerprint();
    printf("test_comoving: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
