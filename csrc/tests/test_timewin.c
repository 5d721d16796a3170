/*
 * C unit tests of the duration-window kernels (timewin.c).  Run under ASan +
 * UBSan by `make ctest`, in three builds: the default, -DPS_TW_SORTED_MAX=0
 * (order statistics always on the Fenwick tree) and a large
 * PS_TW_SORTED_MAX (always the sorted array); with --fingerprint each prints
 * one hash of all the outputs of a random workload, and the three must agree.
 *
 * - window starts: hand-computed, int64 times at the limits (no overflow),
 *   float64 times compared exactly, refusals (decreasing, non-finite);
 * - hand-computed windows for every statistic, NaN policies, min_count;
 * - the split rule: sum and variance of random windows equal FRONT (right to
 *   left from the most aligned global row M) combined with BACK, computed
 *   here independently; any cut of the rows into calls (with a tail) gives
 *   the same bits;
 * - argument checks (PS_ERR_ARG and the offending window).
 */
#include "timewin.h"

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

/* ---------------------------------------------------------------- starts */

static void test_starts(void)
{
    int64_t t[] = {0, 1, 1, 3, 6}, s[5], bad;
    CHECK(ps_tw_starts_i64(t, 5, 2, 0, 0, s, &bad) == PS_OK && bad == -1);
    CHECK(s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 3 && s[4] == 4);
    CHECK(ps_tw_starts_i64(t, 5, 2, 1, 0, s, &bad) == PS_OK);
    CHECK(s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 1 && s[4] == 4);
    CHECK(ps_tw_starts_i64(t, 5, 2, 0, 3, s, &bad) == PS_OK && s[0] == 3 && s[1] == 4);
    CHECK(ps_tw_starts_i64(t, 5, 2, 0, 5, s, &bad) == PS_OK);

    /* the int64 limits: t[i] - t[j] up to 2**64 - 1, exact in uint64 */
    {
        int64_t u[] = {INT64_MIN, INT64_MIN + 1, -1, 0, INT64_MAX - 1, INT64_MAX};
        int64_t r[6];
        CHECK(ps_tw_starts_i64(u, 6, INT64_MAX, 0, 0, r, &bad) == PS_OK);
        /* -1 - INT64_MIN == INT64_MAX == width: out with an open left end */
        CHECK(r[0] == 0 && r[1] == 0 && r[2] == 1 && r[3] == 2 && r[4] == 3 && r[5] == 4);
        CHECK(ps_tw_starts_i64(u, 6, INT64_MAX, 1, 0, r, &bad) == PS_OK);
        CHECK(r[2] == 0 && r[3] == 1 && r[4] == 2 && r[5] == 3);
        CHECK(ps_tw_starts_i64(u, 6, 1, 0, 0, r, &bad) == PS_OK);
        CHECK(r[0] == 0 && r[1] == 1 && r[2] == 2 && r[3] == 3 && r[4] == 4 && r[5] == 5);
    }
    /* longer walks: the interleaved lanes against a plain scan */
    {
        enum { N = 1003 };
        int64_t *u = malloc(N * sizeof *u), *r = malloc(N * sizeof *r);
        int ok = 1;
        u[0] = -50;
        for (int i = 1; i < N; i++)
            u[i] = u[i - 1] + (int64_t)(rnd() % 4 == 0 ? 0 : rnd() % 7) + (rnd() % 50 == 0 ? 90 : 0);
        for (int64_t w = 1; w < 120; w += 13)
            for (int lc = 0; lc < 2; lc++)
                for (int64_t first = 0; first < N; first += 97) {
                    CHECK(ps_tw_starts_i64(u, N, w, lc, first, r, &bad) == PS_OK);
                    for (int64_t i = first; i < N; i++) {
                        int64_t j = 0;
                        while (lc ? u[i] - u[j] > w : u[i] - u[j] >= w)
                            j++;
                        ok &= r[i - first] == j;
                    }
                }
        CHECK(ok);
        free(u);
        free(r);
    }
    /* float64: the exact difference 6.066 - 5.336 is below 0.73 */
    {
        double f[] = {5.336, 6.066}, g[] = {0.5, 0.75};
        int64_t r[2];
        CHECK(ps_tw_starts_f64(f, 2, 0.73, 0, 0, r, &bad) == PS_OK && r[1] == 0);
        CHECK(ps_tw_starts_f64(g, 2, 0.25, 0, 0, r, &bad) == PS_OK && r[1] == 1);
        CHECK(ps_tw_starts_f64(g, 2, 0.25, 1, 0, r, &bad) == PS_OK && r[1] == 0);
        CHECK(ps_tw_starts_f64(g, 2, INFINITY, 0, 0, r, &bad) == PS_OK && r[1] == 0);
        g[1] = NAN;
        CHECK(ps_tw_starts_f64(g, 2, 0.25, 0, 0, r, &bad) == PS_ERR_ARG && bad == 1);
        CHECK(ps_tw_starts_f64(f, 2, NAN, 0, 0, r, &bad) == PS_ERR_ARG && bad == -1);
        CHECK(ps_tw_starts_f64(f, 2, 0.0, 0, 0, r, &bad) == PS_ERR_ARG);
    }
    t[3] = 0;
    CHECK(ps_tw_starts_i64(t, 5, 2, 0, 0, s, &bad) == PS_ERR_ARG && bad == 3);
    CHECK(ps_tw_starts_i64(t, 5, 0, 0, 0, s, &bad) == PS_ERR_ARG);
    CHECK(ps_tw_starts_i64(t, 5, 2, 0, 6, s, &bad) == PS_ERR_ARG);
    CHECK(ps_tw_starts_i64(t, 5, 2, 0, 0, s, NULL) == PS_ERR_ARG);
}

/* ---------------------------------------------------------------- hand-computed */

static void run(int stat, const double *x, int64_t n, const int64_t *s, const int64_t *e,
                int64_t nout, int64_t base, int64_t mc, int prop, double ddof, double q,
                double *out)
{
    int64_t bad;
    CHECK(ps_tw_window(stat, x, n, 1, s, e, 0, nout, base, mc, prop, ddof, q, out, &bad) == PS_OK);
}

static int equal(const double *a, const double *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!same_bits(a[i], b[i])) {
            fprintf(stderr, "  at %lld: %.17g vs %.17g\n", (long long)i, a[i], b[i]);
            return 0;
        }
    return 1;
}

static void test_hand(void)
{
    /* rows:       0    1    2    3    4    5 */
    double x[] = {3.0, 1.0, 1.0, 5.0, NAN, 2.0};
    int64_t s[] = {0, 0, 0, 1, 2, 3}, e[] = {1, 2, 3, 4, 5, 6}, e_open[] = {0, 1, 2, 3, 4, 5};
    double o[6];
    run(PS_TW_SUM, x, 6, s, e, 6, 0, 1, 0, 1, 0, o);
    CHECK(equal(o, (double[]){3, 4, 5, 7, 6, 7}, 6));
    run(PS_TW_SUM, x, 6, s, e, 6, 0, 1, 1, 1, 0, o); /* propagate */
    CHECK(equal(o, (double[]){3, 4, 5, 7, NAN, NAN}, 6));
    run(PS_TW_SUM, x, 6, s, e, 6, 0, 3, 0, 1, 0, o); /* min_count 3 */
    CHECK(equal(o, (double[]){NAN, NAN, 5, 7, NAN, NAN}, 6));
    run(PS_TW_MEAN, x, 6, s, e, 6, 0, 1, 0, 1, 0, o);
    CHECK(equal(o, (double[]){3, 2, 5.0 / 3, 7.0 / 3, 3, 3.5}, 6));
    run(PS_TW_VAR, x, 6, s, e, 6, 0, 1, 0, 1, 0, o);
    CHECK(o[0] != o[0] && o[1] == 2.0 && fabs(o[2] - 4.0 / 3) < 1e-15 && o[4] == 8.0 &&
          o[5] == 4.5);
    run(PS_TW_VAR, x, 6, s, e, 6, 0, 1, 0, 0, 0, o); /* ddof 0: one value gives 0 */
    CHECK(o[0] == 0.0 && o[1] == 1.0);
    run(PS_TW_STD, x, 6, s, e, 6, 0, 1, 0, 1, 0, o);
    CHECK(o[1] == sqrt(2.0) && o[4] == sqrt(8.0));
    run(PS_TW_MIN, x, 6, s, e, 6, 0, 1, 0, 1, 0, o);
    CHECK(equal(o, (double[]){3, 1, 1, 1, 1, 2}, 6));
    run(PS_TW_MAX, x, 6, s, e, 6, 0, 1, 0, 1, 0, o);
    CHECK(equal(o, (double[]){3, 3, 3, 5, 5, 5}, 6));
    run(PS_TW_ARGMIN, x, 6, s, e, 6, 0, 1, 0, 1, 0, o); /* ties to the newest */
    CHECK(equal(o, (double[]){0, 0, 0, 1, 2, 0}, 6));
    run(PS_TW_ARGMAX, x, 6, s, e, 6, 0, 1, 0, 1, 0, o);
    CHECK(equal(o, (double[]){0, 1, 2, 0, 1, 2}, 6));
    run(PS_TW_MEDIAN, x, 6, s, e, 6, 0, 1, 0, 1, 0, o);
    CHECK(equal(o, (double[]){3, 2, 1, 1, 3, 3.5}, 6));
    run(PS_TW_QUANTILE, x, 6, s, e, 6, 0, 1, 0, 1, 0.25, o);
    CHECK(equal(o, (double[]){3, 1.5, 1, 1, 2, 2.75}, 6));
    run(PS_TW_QUANTILE, x, 6, s, e, 6, 0, 1, 0, 1, 1.0, o);
    CHECK(equal(o, (double[]){3, 3, 3, 5, 5, 5}, 6));
    run(PS_TW_RANK, x, 6, s, e, 6, 0, 1, 0, 1, 0, o);
    CHECK(equal(o, (double[]){0, -1, -0.5, 1, NAN, -1}, 6));
    /* open right end: row 0's window is empty, row 1's is row 0 alone */
    run(PS_TW_SUM, x, 6, s, e_open, 6, 0, 1, 0, 1, 0, o);
    CHECK(equal(o, (double[]){NAN, 3, 4, 2, 6, 5}, 6));
    run(PS_TW_ARGMAX, x, 6, s, e_open, 6, 0, 1, 0, 1, 0, o);
    CHECK(equal(o, (double[]){NAN, 0, 1, 0, 0, 1}, 6));
    /* an inf leaves the window: finite again; constant after a spike: var 0 */
    {
        double y[] = {1e300, INFINITY, 2, 2, 2, 2};
        int64_t s2[] = {0, 0, 1, 2, 3, 3}, e2[] = {1, 2, 3, 4, 5, 6};
        run(PS_TW_SUM, y, 6, s2, e2, 6, 0, 1, 0, 1, 0, o);
        CHECK(isinf(o[1]) && isinf(o[2]) && o[3] == 4 && o[4] == 4 && o[5] == 6);
        run(PS_TW_VAR, y, 6, s2, e2, 6, 0, 1, 0, 1, 0, o);
        CHECK(o[1] != o[1] && o[3] == 0.0 && o[4] == 0.0 && o[5] == 0.0);
    }
}

/* ---------------------------------------------------------------- split rule */

static int64_t most_aligned(int64_t S, int64_t E)
{
    /* the row of (S, E] with the most trailing zeros, by search */
    int64_t best = E;
    for (int64_t r = S + 1; r <= E; r++)
        if (__builtin_ctzll((uint64_t)r | (1ull << 62)) > __builtin_ctzll((uint64_t)best | (1ull << 62)))
            best = r;
    return best;
}

static void test_split(void)
{
    enum { N = 300 };
    double x[N], o[N], o2[N];
    int64_t s[N], e[N];
    const int64_t base = 1000;
    for (int i = 0; i < N; i++)
        x[i] = rnd_normal() * (rnd() % 10 == 0 ? 1e8 : 1.0);
    x[17] = NAN;
    for (int i = 0; i < N; i++) {
        e[i] = i + 1;
        s[i] = i < 40 ? 0 : i - 40 + (int64_t)(rnd() % 3);
        if (i > 0 && s[i] < s[i - 1])
            s[i] = s[i - 1];
    }
    run(PS_TW_SUM, x, N, s, e, N, base, 1, 0, 1, 0, o);
    run(PS_TW_VAR, x, N, s, e, N, base, 1, 0, 0, 0, o2);
    {
        int ok_sum = 1, ok_var = 1;
        for (int i = 0; i < N; i++) {
            int64_t m = most_aligned(base + s[i], base + e[i]) - base;
            double f = -0.0, b = -0.0, mf = 0, qf = 0, mb = 0, qb = 0;
            int64_t nf = 0, nb = 0;
            for (int64_t j = m - 1; j >= s[i]; j--)
                if (x[j] == x[j]) {
                    double d;
                    f += x[j];
                    nf++;
                    d = x[j] - mf;
                    mf += d * (1.0 / (double)nf);
                    qf += d * (x[j] - mf);
                }
            for (int64_t j = m; j < e[i]; j++)
                if (x[j] == x[j]) {
                    double d;
                    b += x[j];
                    nb++;
                    d = x[j] - mb;
                    mb += d * (1.0 / (double)nb);
                    qb += d * (x[j] - mb);
                }
            ok_sum &= same_bits(o[i], f + b);
            {
                double m2 = nf == 0 ? qb : nb == 0 ? qf
                          : (qf + qb) + ((mb - mf) * (mb - mf)) *
                                (((double)nf * (double)nb) * (1.0 / (double)(nf + nb)));
                ok_var &= same_bits(o2[i], m2 * (1.0 / (double)(nf + nb)));
            }
        }
        CHECK(ok_sum);
        CHECK(ok_var);
    }
    /* any cut into calls, each with a tail from any earlier row */
    for (int stat = PS_TW_SUM; stat <= PS_TW_RANK; stat++) {
        double whole[N], part[N];
        int ok = 1;
        run(stat, x, N, s, e, N, base, 2, 0, 1, 0.4, whole);
        for (int rep = 0; rep < 4; rep++) {
            int64_t p0 = 0;
            while (p0 < N) {
                int64_t p1 = p0 + 1 + (int64_t)(rnd() % 60), t0;
                int64_t ls[N], le[N];
                if (p1 > N)
                    p1 = N;
                t0 = s[p0] - (int64_t)(rnd() % 5);
                if (t0 < 0)
                    t0 = 0;
                for (int64_t k = p0; k < p1; k++) {
                    ls[k - p0] = s[k] - t0;
                    le[k - p0] = e[k] - t0;
                }
                run(stat, x + t0, p1 - t0, ls, le, p1 - p0, base + t0, 2, 0, 1, 0.4, part + p0);
                p0 = p1;
            }
            ok &= equal(part, whole, N);
        }
        CHECK_CTX(ok, "stat %d", stat);
    }
}

/* ---------------------------------------------------------------- arguments */

static void test_arguments(void)
{
    double x[4] = {1, 2, 3, 4}, o[4];
    int64_t s[4] = {0, 0, 1, 2}, e[4] = {1, 2, 3, 4}, bad;
    CHECK(ps_tw_window(11, x, 4, 1, s, e, 0, 4, 0, 1, 0, 1, 0, o, &bad) == PS_ERR_ARG);
    CHECK(ps_tw_window(PS_TW_QUANTILE, x, 4, 1, s, e, 0, 4, 0, 1, 0, 1, 1.5, o, &bad) == PS_ERR_ARG);
    CHECK(ps_tw_window(PS_TW_QUANTILE, x, 4, 1, s, e, 0, 4, 0, 1, 0, 1, NAN, o, &bad) == PS_ERR_ARG);
    CHECK(ps_tw_window(PS_TW_SUM, x, 4, 1, s, e, 0, 4, 0, 0, 0, 1, 0, o, &bad) == PS_ERR_ARG);
    CHECK(ps_tw_window(PS_TW_SUM, x, 4, 1, s, e, 0, 4, -1, 1, 0, 1, 0, o, &bad) == PS_ERR_ARG);
    CHECK(ps_tw_window(PS_TW_SUM, x, 4, 1, s, e, 0, 4, INT64_MAX - 3, 1, 0, 1, 0, o, &bad) ==
          PS_ERR_ARG);
    CHECK(ps_tw_window(PS_TW_VAR, x, 4, 1, s, e, 0, 4, 0, 1, 0, -1, 0, o, &bad) == PS_ERR_ARG);
    CHECK(ps_tw_window(PS_TW_SUM, x, 4, 0, s, e, 0, 4, 0, 1, 0, 1, 0, o, &bad) == PS_ERR_ARG);
    CHECK(ps_tw_window(PS_TW_SUM, x, 4, 1, s, e, 0, 4, 0, 1, 0, 1, 0, o, NULL) == PS_ERR_ARG);
    s[2] = 4; /* start > end of window 2 */
    CHECK(ps_tw_window(PS_TW_SUM, x, 4, 1, s, e, 0, 4, 0, 1, 0, 1, 0, o, &bad) == PS_ERR_ARG &&
          bad == 2);
    s[2] = 1;
    e[3] = 5; /* past the rows */
    CHECK(ps_tw_window(PS_TW_SUM, x, 4, 1, s, e, 0, 4, 0, 1, 0, 1, 0, o, &bad) == PS_ERR_ARG &&
          bad == 3);
    e[3] = 4;
    s[3] = 0; /* starts decrease */
    CHECK(ps_tw_window(PS_TW_SUM, x, 4, 1, s, e, 0, 4, 0, 1, 0, 1, 0, o, &bad) == PS_ERR_ARG &&
          bad == 3);
    CHECK(ps_tw_window(PS_TW_SUM, x, 0, 1, s, e, 0, 0, 0, 1, 0, 1, 0, o, &bad) == PS_OK);
    /* ends == NULL: window k ends at end0 + k */
    s[3] = 2;
    {
        double o2[4];
        CHECK(ps_tw_window(PS_TW_SUM, x, 4, 1, s, e, 0, 4, 0, 1, 0, 1, 0, o, &bad) == PS_OK);
        CHECK(ps_tw_window(PS_TW_SUM, x, 4, 1, s, NULL, 1, 4, 0, 1, 0, 1, 0, o2, &bad) == PS_OK);
        CHECK(equal(o, o2, 4));
        CHECK(ps_tw_window(PS_TW_SUM, x, 4, 1, s, NULL, 0, 4, 0, 1, 0, 1, 0, o2, &bad) == PS_OK);
        CHECK(o2[0] != o2[0] && o2[1] == 1 && o2[2] == 2 && o2[3] == 3);
        CHECK(ps_tw_window(PS_TW_SUM, x, 4, 1, s, NULL, 2, 4, 0, 1, 0, 1, 0, o2, &bad) ==
                  PS_ERR_ARG && bad == 3);
        CHECK(ps_tw_window(PS_TW_SUM, x, 4, 1, s, NULL, 5, 4, 0, 1, 0, 1, 0, o2, &bad) ==
              PS_ERR_ARG);
    }
}

/* ---------------------------------------------------------------- fingerprint */

static uint64_t fingerprint(void)
{
    enum { N = 6000, W = 3 };
    double *x = malloc(N * W * sizeof *x), *o = malloc(N * W * sizeof *o);
    int64_t *t = malloc(N * sizeof *t), *s = malloc(N * sizeof *s), *e = malloc(N * sizeof *e);
    uint64_t h = 14695981039346656037ull;
    int64_t b;
    t[0] = 0;
    for (int i = 1; i < N; i++)
        t[i] = t[i - 1] + (int64_t)(rnd() % 3);
    for (int i = 0; i < N * W; i++) {
        uint64_t r = rnd() % 40;
        x[i] = r == 0 ? NAN : r == 1 ? INFINITY : r < 12 ? (double)(rnd() % 5) : rnd_normal();
    }
    for (int64_t w = 5; w <= 5000; w *= 10) /* up to ~3000 rows: both order structures */
        for (int lc = 0; lc < 2; lc++) {
            CHECK(ps_tw_starts_i64(t, N, w, lc, 0, s, &b) == PS_OK);
            for (int i = 0; i < N; i++)
                e[i] = i + lc;
            for (int stat = PS_TW_SUM; stat <= PS_TW_RANK; stat++)
                for (int prop = 0; prop < 2; prop++) {
                    CHECK(ps_tw_window(stat, x, N, W, s, w == 500 ? NULL : e, lc, N, 77, 2,
                                       prop, 1, 0.3, o,
                                       &b) == PS_OK);
                    for (int i = 0; i < N * W; i++) {
                        uint64_t u;
                        double v = o[i] != o[i] ? NAN : o[i];
                        memcpy(&u, &v, 8);
                        h = (h ^ u) * 1099511628211ull;
                    }
                }
        }
    free(x);
    free(o);
    free(t);
    free(s);
    free(e);
    return h;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--fingerprint") == 0) {
        printf("%016llx\n", (unsigned long long)fingerprint());
        return failed != 0;
    }
    test_starts();
    test_hand();
    test_split();
    test_arguments();
    (void)fingerprint();
    printf("test_timewin: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
