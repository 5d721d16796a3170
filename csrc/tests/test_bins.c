/*
 * C unit tests of the per-bin reductions (bins.c).  Run under ASan + UBSan.
 *
 * - the outputs do not depend on the chunking (whole, one record per call,
 *   random splits) nor on the record width (value j of a width-3 state ==
 *   the same column alone);
 * - they agree with a two-pass reference in long double (mean, var) and
 *   exactly for count, sum order-free cases, min, max, first, last;
 * - a constant bin gives var exactly 0; signed zeros give IEEE min / max
 *   whatever the order; an all-NaN bin; nan_policy propagate;
 * - a decreasing bin number is refused with its row and changes nothing;
 *   invalid arguments are refused.
 */
#include "bins.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testkit.h"

enum { NS = PS_BIN_KINDS };
static const int32_t ALL[NS] = {PS_BIN_COUNT, PS_BIN_SUM, PS_BIN_MEAN, PS_BIN_VAR, PS_BIN_STD,
                                PS_BIN_MIN, PS_BIN_MAX, PS_BIN_FIRST, PS_BIN_LAST};

static int same_bits(double a, double b)
{
    if (isnan(a) && isnan(b))
        return 1;
    return memcmp(&a, &b, sizeof a) == 0;
}

typedef struct {
    int64_t head[3];
    double *acc;
    int64_t *count;
    int64_t width;
} state;

static void st_init(state *s, int64_t width)
{
    s->width = width;
    s->acc = malloc((size_t)(width * PS_BIN_SLOTS) * sizeof(double));
    s->count = malloc((size_t)width * sizeof(int64_t));
    CHECK(ps_bins_reset(s->head, s->acc, s->count, width) == PS_OK);
}

static void st_free(state *s)
{
    free(s->acc);
    free(s->count);
}

/* Reduce n records in calls of the sizes given by `split` (0: random, -1:
   whole, k > 0: k records per call), then flush; returns the bins found. */
static int64_t reduce(const double *x, const int64_t *b, int64_t n, int64_t width, int propagate,
                      double ddof, int64_t split, int64_t *obins, double *out)
{
    state s;
    st_init(&s, width);
    int64_t k = 0, i = 0, nout, bad;
    while (i < n) {
        int64_t m = split < 0 ? n - i : split > 0 ? split : (int64_t)(rnd() % 50);
        if (m > n - i)
            m = n - i;
        /* random splits also take tiny outputs (cap 1..3): the call stops and
           is called again on the rest, without the order check */
        int64_t done = 0, used;
        for (int first = 1; first || done < m; first = 0) {
            int64_t cap = split == 0 ? 1 + (int64_t)(rnd() % 3) : m + 1;
            CHECK(ps_bins_update(s.head, s.acc, s.count, width, ALL, NS, propagate, ddof,
                                 x + (i + done) * width, b + i + done, m - done, first, cap,
                                 obins + k, out + k * NS * width, &nout, &used, &bad) == PS_OK);
            CHECK(nout <= cap && used <= m - done && (used > 0 || m == done));
            k += nout;
            done += used;
        }
        i += m;
    }
    CHECK(ps_bins_flush(s.head, s.acc, s.count, width, ALL, NS, propagate, ddof, obins + k,
                        out + k * NS * width, &nout) == PS_OK);
    k += nout;
    st_free(&s);
    return k;
}

static void test_chunking_width_reference(void)
{
    int64_t n = 5000, w = 3;
    double *x = malloc((size_t)(n * w) * sizeof *x), *col = malloc((size_t)n * sizeof *col);
    int64_t *b = malloc((size_t)n * sizeof *b), *ob = malloc((size_t)(n + 1) * sizeof *ob);
    int64_t *ob2 = malloc((size_t)(n + 1) * sizeof *ob2);
    double *o = malloc((size_t)((n + 1) * NS * w) * sizeof *o);
    double *o2 = malloc((size_t)((n + 1) * NS * w) * sizeof *o2);
    int64_t bin = -3;
    for (int64_t i = 0; i < n; i++) {
        if (rnd_unit() < 0.01)
            bin += 1 + (int64_t)(rnd() % 3);
        b[i] = bin;
        for (int64_t j = 0; j < w; j++) {
            double u = rnd_unit();
            x[i * w + j] = u < 0.05 ? NAN : rnd_normal() * 3.0 + 1e3 * (double)j;
        }
    }
    for (int propagate = 0; propagate < 2; propagate++) {
        int64_t k = reduce(x, b, n, w, propagate, 1.0, -1, ob, o);
        for (int64_t split = 0; split <= 9; split += 1) {
            int64_t k2 = reduce(x, b, n, w, propagate, 1.0, split == 9 ? 1 : split, ob2, o2);
            int ok = k2 == k;
            for (int64_t i = 0; ok && i < k * NS * w; i++)
                ok = same_bits(o[i], o2[i]) && (i >= k || ob[i] == ob2[i]);
            CHECK_CTX(ok, "propagate %d split %lld", propagate, (long long)split);
        }
        for (int64_t j = 0; j < w; j++) {
            for (int64_t i = 0; i < n; i++)
                col[i] = x[i * w + j];
            int64_t k1 = reduce(col, b, n, 1, propagate, 1.0, 0, ob2, o2);
            int ok = k1 == k;
            for (int64_t r = 0; ok && r < k; r++)
                for (int s = 0; s < NS; s++)
                    ok = same_bits(o[(r * NS + s) * w + j], o2[r * NS + s]);
            CHECK_CTX(ok, "width: value %lld", (long long)j);
        }
    }
    /* reference: two passes in long double, omit */
    int64_t k = reduce(x, b, n, w, 0, 1.0, 0, ob, o);
    int64_t i0 = 0;
    for (int64_t r = 0; r < k; r++) {
        int64_t i1 = i0;
        while (i1 < n && b[i1] == ob[r])
            i1++;
        for (int64_t j = 0; j < w; j++) {
            long double s = 0, ss = 0;
            int64_t c = 0;
            double mn = INFINITY, mx = -INFINITY, first = NAN, last = NAN;
            for (int64_t i = i0; i < i1; i++) {
                double v = x[i * w + j];
                if (isnan(v))
                    continue;
                s += v;
                c++;
                mn = fmin(mn, v);
                mx = fmax(mx, v);
                if (c == 1)
                    first = v;
                last = v;
            }
            long double mean = c ? s / c : NAN;
            for (int64_t i = i0; i < i1; i++)
                if (!isnan(x[i * w + j]))
                    ss += (x[i * w + j] - mean) * (x[i * w + j] - mean);
            const double *row = o + r * NS * w + j;
            CHECK(row[0 * w] == (double)c);
            if (c) {
                CHECK(fabs(row[2 * w] - (double)mean) <= 1e-13 * (fabs((double)mean) + 1));
                CHECK(row[5 * w] == mn && row[6 * w] == mx);
                CHECK(row[7 * w] == first && row[8 * w] == last);
            }
            if (c > 1)
                CHECK_CTX(fabs(row[3 * w] - (double)(ss / (c - 1))) <= 1e-12 * (double)(ss / (c - 1)),
                          "var %g vs %g", row[3 * w], (double)(ss / (c - 1)));
        }
        i0 = i1;
    }
    CHECK(i0 == n);
    free(x), free(col), free(b), free(ob), free(ob2), free(o), free(o2);
}

static void test_special_bins(void)
{
    int64_t ob[4];
    double o[4 * NS];
    /* constant bin after a spike: var exactly 0, for every bin length */
    for (int64_t len = 1; len < 40; len++) {
        double x[41];
        int64_t b[41];
        x[0] = 1e12;
        b[0] = 0;
        for (int64_t i = 1; i <= len; i++) {
            x[i] = 0.1;
            b[i] = 1;
        }
        int64_t k = reduce(x, b, len + 1, 1, 0, 0.0, 0, ob, o);
        CHECK(k == 2 && o[NS + 3] == 0.0 && o[NS + 4] == 0.0 && o[NS + 5] == 0.1);
    }
    /* signed zeros, in both orders and with a block of 8 */
    double z1[10] = {0.0, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    double z2[10] = {-0.0, -0.0, -0.0, -0.0, -0.0, -0.0, -0.0, -0.0, -0.0, 0.0};
    int64_t zb[10] = {0};
    for (int t = 0; t < 2; t++) {
        double *z = t ? z2 : z1;
        for (int rev = 0; rev < 2; rev++) {
            double zz[10];
            for (int i = 0; i < 10; i++)
                zz[i] = rev ? z[9 - i] : z[i];
            reduce(zz, zb, 10, 1, 0, 1.0, 0, ob, o);
            CHECK(o[5] == 0.0 && signbit(o[5]) && o[6] == 0.0 && !signbit(o[6]));
        }
    }
    double allneg[9] = {-0.0, -0.0, -0.0, -0.0, -0.0, -0.0, -0.0, -0.0, -0.0};
    reduce(allneg, zb, 9, 1, 0, 1.0, -1, ob, o);
    CHECK(signbit(o[5]) && signbit(o[6]));
    /* all-NaN bin, then propagate */
    double xn[4] = {NAN, NAN, 2.0, NAN};
    int64_t bn[4] = {5, 5, 6, 6};
    int64_t k = reduce(xn, bn, 4, 1, 0, 1.0, 1, ob, o);
    CHECK(k == 2 && o[0] == 0.0 && o[1] == 0.0 && isnan(o[2]) && isnan(o[5]) && isnan(o[7]));
    CHECK(o[NS + 0] == 1.0 && o[NS + 7] == 2.0 && o[NS + 8] == 2.0);
    reduce(xn, bn, 4, 1, 1, 1.0, 1, ob, o);
    CHECK(o[NS + 0] == 1.0 && isnan(o[NS + 1]) && isnan(o[NS + 5]) && o[NS + 7] == 2.0 &&
          isnan(o[NS + 8]));
}

static void test_errors(void)
{
    state s;
    st_init(&s, 1);
    double x[3] = {1.0, 2.0, 3.0}, o[3 * NS];
    int64_t b[3] = {4, 5, 3}, ob[3], nout = 7, bad = 7, used = 0;
    CHECK(ps_bins_update(s.head, s.acc, s.count, 1, ALL, NS, 0, 1.0, x, b, 3, 1, 3, ob, o, &nout,
                         &used, &bad) == PS_ERR_ARG && bad == 2);
    CHECK(s.head[0] == 0 && s.count[0] == 0);
    int64_t b2[2] = {4, 5};
    CHECK(ps_bins_update(s.head, s.acc, s.count, 1, ALL, NS, 0, 1.0, x, b2, 2, 1, 3, ob, o, &nout,
                         &used, &bad) == PS_OK && nout == 1 && bad == -1);
    int64_t b3[1] = {INT64_MIN};
    CHECK(ps_bins_update(s.head, s.acc, s.count, 1, ALL, NS, 0, 1.0, x, b3, 1, 1, 3, ob, o, &nout,
                         &used, &bad) == PS_ERR_ARG && bad == 0);
    CHECK(s.head[1] == 5 && s.count[0] == 1);
    int32_t wrong[1] = {PS_BIN_KINDS};
    CHECK(ps_bins_update(s.head, s.acc, s.count, 1, wrong, 1, 0, 1.0, x, b2, 2, 1, 3, ob, o, &nout,
                         &used, &bad) == PS_ERR_ARG && bad == -1);
    CHECK(ps_bins_update(s.head, s.acc, s.count, 1, ALL, NS, 0, -1.0, x, b2, 2, 1, 3, ob, o, &nout,
                         &used, &bad) == PS_ERR_ARG);
    CHECK(ps_bins_update(s.head, s.acc, s.count, 1, ALL, NS, 0, NAN, x, b2, 2, 1, 3, ob, o, &nout,
                         &used, &bad) == PS_ERR_ARG);
    CHECK(ps_bins_update(s.head, s.acc, s.count, 0, ALL, NS, 0, 1.0, x, b2, 2, 1, 3, ob, o, &nout,
                         &used, &bad) == PS_ERR_ARG);
    CHECK(ps_bins_update(s.head, s.acc, s.count, 1, ALL, NS, 0, 1.0, NULL, b2, 2, 1, 3, ob, o, &nout,
                         &used, &bad) == PS_ERR_ARG);
    CHECK(ps_bins_update(s.head, s.acc, s.count, 1, ALL, NS, 0, 1.0, x, b2, 0, 1, 3, ob, o, &nout,
                         &used, &bad) == PS_OK && nout == 0);
    s.head[0] = 2;
    CHECK(ps_bins_flush(s.head, s.acc, s.count, 1, ALL, NS, 0, 1.0, ob, o, &nout) == PS_ERR_ARG);
    CHECK(ps_bins_reset(NULL, s.acc, s.count, 1) == PS_ERR_ARG);
    st_free(&s);
}

int main(void)
{
    test_chunking_width_reference();
    test_special_bins();
    test_errors();
    return report();
}
