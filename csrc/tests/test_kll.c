/*
 * C unit tests of the KLL sketch (csrc/kll.c).  Run under ASan + UBSan:
 *
 *   gcc -std=c11 -Wall -Wextra -Werror -ffp-contract=off \
 *       -fsanitize=address,undefined -fno-sanitize-recover=undefined \
 *       -fno-omit-frame-pointer -g -O1 \
 *       -Icsrc csrc/tests/test_kll.c csrc/kll.c -lm -o build/ctest/test_kll
 *   build/ctest/test_kll
 *
 * Checks: argument errors; exact mode against a sorted copy; the state's
 * invariants (weights add up to n, levels >= 1 sorted, bounded size);
 * accuracy within the a-priori bound; chunk and layout invariance (bit-
 * identical serialized bytes); dtype conversion; NaN filtering; merges;
 * serialization round trips, truncations, flipped bytes and forged
 * (re-checksummed) bytes, whatever is accepted must then work.  Prints
 * "N passed, M failed", exits non-zero on failure.
 */
#include "kll.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serial.h"
#include "testkit.h"

typedef struct {
    uint8_t *bytes;
    size_t size;
} blob;

static blob save(const ps_kll *s)
{
    blob b = {NULL, 0};
    CHECK(ps_kll_serialize(s, NULL, 0, &b.size) == PS_OK);
    b.bytes = malloc(b.size);
    size_t sz = 0;
    CHECK(ps_kll_serialize(s, b.bytes, b.size - 1, &sz) == PS_ERR_BUFSIZE);
    CHECK(ps_kll_serialize(s, b.bytes, b.size, &sz) == PS_OK && sz == b.size);
    return b;
}

static int same_state(const ps_kll *a, const ps_kll *b)
{
    blob x = save(a), y = save(b);
    int same = x.size == y.size && memcmp(x.bytes, y.bytes, x.size) == 0;
    free(x.bytes);
    free(y.bytes);
    return same;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double *normal_data(int64_t n, double p_nan)
{
    double *x = malloc((size_t)(n + 1) * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        x[i] = rnd_unit() < p_nan ? NAN : rnd_normal();
    return x;
}

/* sorted copy of the non-NaN values; *m = their count */
static double *sorted_copy(const double *x, int64_t n, int64_t *m)
{
    double *s = malloc((size_t)(n + 1) * sizeof *s);
    int64_t j = 0;
    for (int64_t i = 0; i < n; i++)
        if (!isnan(x[i]))
            s[j++] = x[i];
    qsort(s, (size_t)j, sizeof *s, cmp_double);
    *m = j;
    return s;
}

static int64_t count_lt(const double *s, int64_t m, double v)
{
    int64_t a = 0, b = m;
    while (a < b) {
        int64_t mid = a + (b - a) / 2;
        if (s[mid] < v)
            a = mid + 1;
        else
            b = mid;
    }
    return a;
}

static int64_t count_le(const double *s, int64_t m, double v)
{
    int64_t a = 0, b = m;
    while (a < b) {
        int64_t mid = a + (b - a) / 2;
        if (s[mid] <= v)
            a = mid + 1;
        else
            b = mid;
    }
    return a;
}

/* max over a grid of q of the distance from q to [rank <, rank <=] */
static double max_rank_error(const ps_kll *s, const double *sorted, int64_t m)
{
    enum { G = 1001 };
    double q[G], out[G], worst = 0.0;
    for (int i = 0; i < G; i++)
        q[i] = (double)i / (G - 1);
    CHECK(ps_kll_quantiles(s, q, G, out) == PS_OK);
    for (int i = 0; i < G; i++) {
        double lt = (double)count_lt(sorted, m, out[i]) / (double)m;
        double le = (double)count_le(sorted, m, out[i]) / (double)m;
        double e = lt - q[i] > q[i] - le ? lt - q[i] : q[i] - le;
        if (e > worst)
            worst = e;
    }
    return worst;
}

static double bound(int64_t k) { return 2.296 / pow((double)k, 0.9723); }

/* Invariants visible through the API. */
static void check_invariants(const ps_kll *s)
{
    int L = ps_kll_num_levels(s);
    int64_t r = ps_kll_num_retained(s);
    double *v = malloc((size_t)(r + 1) * sizeof *v);
    CHECK(ps_kll_retained(s, v, r) == PS_OK);
    CHECK(r == 0 || ps_kll_retained(s, v, r - 1) == PS_ERR_BUFSIZE);
    int64_t off0 = ps_kll_level_offset(s, 0), weight = 0;
    int sorted = 1;
    for (int h = 0; h < L; h++) {
        int64_t a = ps_kll_level_offset(s, h) - off0, b = ps_kll_level_offset(s, h + 1) - off0;
        CHECK(a <= b);
        weight += (b - a) << h;
        for (int64_t i = a + 1; h > 0 && i < b; i++)
            sorted &= v[i - 1] <= v[i];
    }
    CHECK(sorted);
    CHECK(weight == ps_kll_count(s));
    CHECK(ps_kll_level_offset(s, L + 1) == -1 && ps_kll_level_offset(s, -1) == -1);
    int64_t n = ps_kll_count(s), k = ps_kll_k(s);
    if (n > 0)
        CHECK(r <= 3 * k + 8 * (int64_t)(log2((double)n) + 2));
    CHECK(ps_kll_is_exact(s) == (L == 1));
    free(v);
}

static void test_args(void)
{
    ps_kll *s = NULL;
    CHECK(ps_kll_new(&s, 7, 0) == PS_ERR_ARG && s == NULL);
    CHECK(ps_kll_new(&s, 65536, 0) == PS_ERR_ARG);
    CHECK(ps_kll_new(NULL, 200, 0) == PS_ERR_ARG);
    CHECK(ps_kll_new(&s, 8, 0) == PS_OK && s);
    double x[3] = {1, 2, 3}, q = 0.5, out = 0;
    CHECK(ps_kll_update(s, x, 99, 3, 1, 8, 8) == PS_ERR_DTYPE);
    CHECK(ps_kll_update(s, x, PS_FLOAT64, -1, 1, 8, 8) == PS_ERR_ARG);
    CHECK(ps_kll_update(s, NULL, PS_FLOAT64, 3, 1, 8, 8) == PS_ERR_ARG);
    CHECK(ps_kll_update(s, NULL, PS_FLOAT64, 0, 1, 8, 8) == PS_OK);
    CHECK(ps_kll_update(NULL, x, PS_FLOAT64, 3, 1, 8, 8) == PS_ERR_ARG);
    CHECK(ps_kll_update(s, x, PS_FLOAT64, (int64_t)1 << 62, 2, 8, 8) == PS_ERR_OVERFLOW);
    CHECK(ps_kll_count(s) == 0);
    /* empty queries */
    CHECK(ps_kll_quantiles(s, &q, 1, &out) == PS_OK && isnan(out));
    CHECK(ps_kll_ranks(s, &q, 1, &out) == PS_OK && isnan(out));
    CHECK(isnan(ps_kll_min(s)) && isnan(ps_kll_max(s)));
    q = 1.5;
    CHECK(ps_kll_quantiles(s, &q, 1, &out) == PS_ERR_ARG);
    q = NAN;
    CHECK(ps_kll_quantiles(s, &q, 1, &out) == PS_ERR_ARG);
    CHECK(ps_kll_merge(s, s) == PS_ERR_ARG);
    ps_kll *t = NULL;
    CHECK(ps_kll_new(&t, 9, 0) == PS_OK);
    CHECK(ps_kll_merge(s, t) == PS_ERR_MISMATCH);
    ps_kll_free(t);
    ps_kll_free(s);
    ps_kll_free(NULL);
}

static void test_exact(void)
{
    for (int64_t k = 8; k <= 300; k += 73) {
        for (int64_t n = 1; n <= k; n += 1 + n / 3) {
            double *x = normal_data(n, 0.0);
            for (int64_t i = 0; i < n; i += 4)
                x[i] = floor(x[i] * 2); /* ties */
            ps_kll *s;
            CHECK(ps_kll_new(&s, k, 7) == PS_OK);
            CHECK(ps_kll_update(s, x, PS_FLOAT64, n, 1, 8, 8) == PS_OK);
            CHECK(ps_kll_is_exact(s) && ps_kll_num_retained(s) == n);
            int64_t m;
            double *srt = sorted_copy(x, n, &m);
            int ok = 1;
            for (int i = 0; i <= 40; i++) {
                double q = i / 40.0, out, want = srt[(int64_t)floor(q * (double)(n - 1))];
                CHECK(ps_kll_quantiles(s, &q, 1, &out) == PS_OK);
                ok &= out == want;
                double r;
                CHECK(ps_kll_ranks(s, &want, 1, &r) == PS_OK);
                ok &= r == (double)count_le(srt, m, want) / (double)n;
            }
            CHECK_CTX(ok, "k %lld n %lld", (long long)k, (long long)n);
            CHECK(ps_kll_min(s) == srt[0] && ps_kll_max(s) == srt[n - 1]);
            check_invariants(s);
            free(srt);
            free(x);
            ps_kll_free(s);
        }
    }
}

static void test_accuracy_and_chunking(int64_t k, int64_t n, double p_nan)
{
    double *x = normal_data(n, p_nan);
    if (n > 100) {
        x[3] = INFINITY;
        x[n / 2] = -INFINITY;
    }
    ps_kll *whole, *chunked, *one;
    CHECK(ps_kll_new(&whole, k, 42) == PS_OK);
    CHECK(ps_kll_new(&chunked, k, 42) == PS_OK);
    CHECK(ps_kll_new(&one, k, 42) == PS_OK);
    CHECK(ps_kll_update(whole, x, PS_FLOAT64, n, 1, 8, 8) == PS_OK);
    for (int64_t i = 0; i < n;) {
        int64_t c = (int64_t)(rnd() % 5000);
        if (c > n - i)
            c = n - i;
        CHECK(ps_kll_update(chunked, x + i, PS_FLOAT64, c, 1, 8, 8) == PS_OK);
        i += c;
        if (rnd() % 50 == 0)
            check_invariants(chunked);
    }
    int64_t small = n < 20000 ? n : 20000;
    for (int64_t i = 0; i < small; i++)
        CHECK(ps_kll_update(one, x + i, PS_FLOAT64, 1, 1, 8, 8) == PS_OK);
    CHECK(same_state(whole, chunked));
    {
        ps_kll *ref;
        CHECK(ps_kll_new(&ref, k, 42) == PS_OK);
        CHECK(ps_kll_update(ref, x, PS_FLOAT64, small, 1, 8, 8) == PS_OK);
        CHECK(same_state(ref, one));
        ps_kll_free(ref);
    }
    int64_t m;
    double *srt = sorted_copy(x, n, &m);
    CHECK(ps_kll_count(whole) == m && ps_kll_nan_count(whole) == n - m);
    CHECK(ps_kll_min(whole) == srt[0] && ps_kll_max(whole) == srt[m - 1]);
    double err = max_rank_error(whole, srt, m);
    CHECK_CTX(err <= bound(k), "k %lld n %lld err %g bound %g", (long long)k, (long long)n, err,
              bound(k));
    check_invariants(whole);
    free(srt);
    free(x);
    ps_kll_free(whole);
    ps_kll_free(chunked);
    ps_kll_free(one);
}

/* Strided, 2-D and reversed layouts give the state of the flat run. */
static void test_layouts(void)
{
    enum { R = 700, W = 13 };
    double *x = normal_data(R * W, 0.02);
    double *big = malloc(sizeof(double) * R * W * 3);
    double *fort = malloc(sizeof(double) * R * W);
    for (int64_t i = 0; i < R * W; i++)
        big[3 * i] = x[i];
    for (int64_t i = 0; i < R; i++)
        for (int64_t j = 0; j < W; j++)
            fort[j * R + i] = x[i * W + j];
    ps_kll *ref, *s;
    CHECK(ps_kll_new(&ref, 10, 1) == PS_OK);
    CHECK(ps_kll_update(ref, x, PS_FLOAT64, R * W, 1, 8, 8) == PS_OK);
    CHECK(ps_kll_new(&s, 10, 1) == PS_OK); /* 2-D contiguous */
    CHECK(ps_kll_update(s, x, PS_FLOAT64, R, W, 8 * W, 8) == PS_OK);
    CHECK(same_state(ref, s));
    ps_kll_free(s);
    CHECK(ps_kll_new(&s, 10, 1) == PS_OK); /* 1-D strided */
    CHECK(ps_kll_update(s, big, PS_FLOAT64, R * W, 1, 24, 24) == PS_OK);
    CHECK(same_state(ref, s));
    ps_kll_free(s);
    CHECK(ps_kll_new(&s, 10, 1) == PS_OK); /* 2-D strided values */
    CHECK(ps_kll_update(s, big, PS_FLOAT64, R, W, 24 * W, 24) == PS_OK);
    CHECK(same_state(ref, s));
    ps_kll_free(s);
    CHECK(ps_kll_new(&s, 10, 1) == PS_OK); /* Fortran order */
    CHECK(ps_kll_update(s, fort, PS_FLOAT64, R, W, 8, 8 * R) == PS_OK);
    CHECK(same_state(ref, s));
    ps_kll_free(s);
    /* negative stride: the reversed copy read backwards */
    double *rev = malloc(sizeof(double) * R * W);
    for (int64_t i = 0; i < R * W; i++)
        rev[i] = x[R * W - 1 - i];
    CHECK(ps_kll_new(&s, 10, 1) == PS_OK);
    CHECK(ps_kll_update(s, rev + R * W - 1, PS_FLOAT64, R * W, 1, -8, -8) == PS_OK);
    CHECK(same_state(ref, s));
    ps_kll_free(s);
    /* one huge record, wider than the conversion block */
    CHECK(ps_kll_new(&s, 10, 1) == PS_OK);
    CHECK(ps_kll_update(s, big, PS_FLOAT64, 1, R * W, 0, 24) == PS_OK);
    CHECK(same_state(ref, s));
    ps_kll_free(s);
    ps_kll_free(ref);
    free(rev);
    free(fort);
    free(big);
    free(x);
}

#define DTYPE_CASE(T, code, gen)                                                \
    do {                                                                        \
        T *v = malloc(sizeof(T) * N);                                           \
        double *d = malloc(sizeof(double) * N);                                 \
        for (int i = 0; i < N; i++) {                                           \
            v[i] = (T)(gen);                                                    \
            d[i] = (double)v[i];                                                \
        }                                                                       \
        ps_kll *a, *b;                                                          \
        CHECK(ps_kll_new(&a, 16, 3) == PS_OK && ps_kll_new(&b, 16, 3) == PS_OK); \
        CHECK(ps_kll_update(a, v, code, N, 1, sizeof(T), sizeof(T)) == PS_OK);  \
        CHECK(ps_kll_update(b, d, PS_FLOAT64, N, 1, 8, 8) == PS_OK);            \
        CHECK_CTX(same_state(a, b), "dtype %d", code);                          \
        ps_kll *c;                                                              \
        CHECK(ps_kll_new(&c, 16, 3) == PS_OK);                                  \
        CHECK(ps_kll_update(c, v, code, N / 2, 2, 2 * sizeof(T), sizeof(T)) == PS_OK); \
        CHECK_CTX(same_state(a, c), "dtype %d 2-D", code);                      \
        ps_kll_free(a);                                                         \
        ps_kll_free(b);                                                         \
        ps_kll_free(c);                                                         \
        free(v);                                                                \
        free(d);                                                                \
    } while (0)

static void test_dtypes(void)
{
    enum { N = 5000 };
    DTYPE_CASE(int8_t, PS_INT8, (int8_t)(rnd() & 0xFF));
    DTYPE_CASE(int16_t, PS_INT16, (int16_t)(rnd() & 0xFFFF));
    DTYPE_CASE(int32_t, PS_INT32, (int32_t)(uint32_t)rnd());
    DTYPE_CASE(int64_t, PS_INT64, (int64_t)rnd());
    DTYPE_CASE(uint8_t, PS_UINT8, rnd());
    DTYPE_CASE(uint16_t, PS_UINT16, rnd());
    DTYPE_CASE(uint32_t, PS_UINT32, rnd());
    DTYPE_CASE(uint64_t, PS_UINT64, rnd());
    DTYPE_CASE(uint8_t, PS_BOOL, rnd() & 1);
    DTYPE_CASE(float, PS_FLOAT32, rnd_normal() * 1e3);
    /* float32 NaN is filtered */
    float f[4] = {1.0f, NAN, -INFINITY, 2.0f};
    ps_kll *s;
    CHECK(ps_kll_new(&s, 8, 0) == PS_OK);
    CHECK(ps_kll_update(s, f, PS_FLOAT32, 4, 1, 4, 4) == PS_OK);
    CHECK(ps_kll_count(s) == 3 && ps_kll_nan_count(s) == 1);
    CHECK(ps_kll_min(s) == -INFINITY && ps_kll_max(s) == 2.0);
    ps_kll_free(s);
}

static void test_nan_only_and_signed_zero(void)
{
    double x[5] = {NAN, -NAN, NAN, NAN, NAN};
    ps_kll *s;
    CHECK(ps_kll_new(&s, 8, 0) == PS_OK);
    CHECK(ps_kll_update(s, x, PS_FLOAT64, 5, 1, 8, 8) == PS_OK);
    CHECK(ps_kll_count(s) == 0 && ps_kll_nan_count(s) == 5 && isnan(ps_kll_min(s)));
    double z[3] = {0.0, -0.0, 0.0}, q[2] = {0.0, 1.0}, out[2];
    CHECK(ps_kll_update(s, z, PS_FLOAT64, 3, 1, 8, 8) == PS_OK);
    CHECK(ps_kll_quantiles(s, q, 2, out) == PS_OK);
    CHECK(signbit(out[0]) && !signbit(out[1]));
    ps_kll_free(s);
}

static void test_merge(void)
{
    enum { P = 7 };
    int64_t n = 300000, k = 100;
    double *x = normal_data(n, 0.01);
    ps_kll *acc, *again, *parts[P];
    CHECK(ps_kll_new(&acc, k, 5) == PS_OK);
    CHECK(ps_kll_new(&again, k, 5) == PS_OK);
    int64_t cut = 0;
    for (int p = 0; p < P; p++) {
        int64_t next = p == P - 1 ? n : cut + (int64_t)(rnd() % (uint64_t)(2 * n / P));
        if (next > n)
            next = n;
        CHECK(ps_kll_new(&parts[p], k, (uint64_t)p) == PS_OK);
        CHECK(ps_kll_update(parts[p], x + cut, PS_FLOAT64, next - cut, 1, 8, 8) == PS_OK);
        cut = next;
    }
    blob before = save(parts[P - 1]);
    for (int p = 0; p < P; p++) {
        CHECK(ps_kll_merge(acc, parts[p]) == PS_OK);
        CHECK(ps_kll_merge(again, parts[p]) == PS_OK);
        check_invariants(acc);
    }
    CHECK(same_state(acc, again)); /* deterministic */
    int64_t m;
    double *srt = sorted_copy(x, n, &m);
    CHECK(ps_kll_count(acc) == m && ps_kll_nan_count(acc) == n - m);
    CHECK(ps_kll_min(acc) == srt[0] && ps_kll_max(acc) == srt[m - 1]);
    double err = max_rank_error(acc, srt, m);
    CHECK_CTX(err <= bound(k), "merged err %g", err);
    /* merging an empty sketch changes nothing */
    ps_kll *e;
    CHECK(ps_kll_new(&e, k, 0) == PS_OK);
    CHECK(ps_kll_merge(acc, e) == PS_OK && same_state(acc, again));
    /* an empty sketch takes everything */
    CHECK(ps_kll_merge(e, acc) == PS_OK && ps_kll_count(e) == m);
    check_invariants(e);
    /* the parts were not changed by being merged */
    blob after = save(parts[P - 1]);
    CHECK(after.size == before.size && memcmp(after.bytes, before.bytes, after.size) == 0);
    free(after.bytes);
    free(before.bytes);
    for (int p = 0; p < P; p++)
        ps_kll_free(parts[p]);
    free(srt);
    free(x);
    ps_kll_free(e);
    ps_kll_free(acc);
    ps_kll_free(again);
}

/* ps_kll_set_rng: a merge depends on the receiver's generator state only
   through it, so resetting it makes the merge a function of the operands;
   the state survives serialization. */
static void test_set_rng(void)
{
    int64_t n = 50000, k = 64;
    double *x = normal_data(n, 0.0);
    ps_kll *a, *b, *c, *d;
    CHECK(ps_kll_new(&a, k, 1) == PS_OK && ps_kll_new(&c, k, 2) == PS_OK);
    CHECK(ps_kll_new(&b, k, 3) == PS_OK && ps_kll_new(&d, k, 3) == PS_OK);
    CHECK(ps_kll_update(a, x, PS_FLOAT64, n / 2, 1, 8, 8) == PS_OK);
    CHECK(ps_kll_update(b, x + n / 2, PS_FLOAT64, n / 2, 1, 8, 8) == PS_OK);
    CHECK(ps_kll_update(d, x + n / 2, PS_FLOAT64, n / 2, 1, 8, 8) == PS_OK);
    CHECK(ps_kll_rng(a) != ps_kll_seed(a)); /* compactions advanced it */
    /* c: same values as a, different seed, then the same generator state */
    CHECK(ps_kll_set_rng(c, 99) == PS_OK && ps_kll_rng(c) == 99);
    CHECK(ps_kll_set_rng(NULL, 1) == PS_ERR_ARG && ps_kll_rng(NULL) == 0);
    ps_kll_free(c);
    CHECK(ps_kll_copy(&c, a) == PS_OK);
    CHECK(ps_kll_set_rng(a, 12345) == PS_OK && ps_kll_set_rng(c, 12345) == PS_OK);
    CHECK(ps_kll_merge(a, b) == PS_OK && ps_kll_merge(c, d) == PS_OK);
    CHECK(same_state(a, c));
    CHECK(ps_kll_seed(a) == 1); /* the seed is left alone */
    blob s1 = save(a);
    ps_kll *r;
    CHECK(ps_kll_deserialize(&r, s1.bytes, s1.size) == PS_OK);
    CHECK(ps_kll_rng(r) == ps_kll_rng(a));
    free(s1.bytes);
    ps_kll_free(r);
    ps_kll_free(a);
    ps_kll_free(b);
    ps_kll_free(c);
    ps_kll_free(d);
    free(x);
}

/* Regression: a merge that compacts the receiver's level 0 (general
   compress) must fold it into min / max first, or an extreme value that
   was still in level 0 is lost from min / max. */
static void test_merge_keeps_minmax(void)
{
    int64_t n = 3000;
    double *x = normal_data(n, 0.0);
    for (int64_t extra = 1; extra < 400; extra += 7) {
        ps_kll *a, *b;
        double lo = -1e9, hi = 1e9;
        CHECK(ps_kll_new(&a, 8, (uint64_t)extra) == PS_OK && ps_kll_new(&b, 8, 1) == PS_OK);
        CHECK(ps_kll_update(a, x, PS_FLOAT64, n - extra, 1, 8, 8) == PS_OK);
        CHECK(ps_kll_update(a, &lo, PS_FLOAT64, 1, 1, 8, 8) == PS_OK);
        CHECK(ps_kll_update(a, &hi, PS_FLOAT64, 1, 1, 8, 8) == PS_OK);
        CHECK(ps_kll_update(b, x, PS_FLOAT64, extra * 7, 1, 8, 8) == PS_OK);
        CHECK(ps_kll_merge(a, b) == PS_OK);
        CHECK_CTX(ps_kll_min(a) == lo && ps_kll_max(a) == hi, "extra %lld: min %g max %g",
                  (long long)extra, ps_kll_min(a), ps_kll_max(a));
        check_invariants(a);
        ps_kll_free(a);
        ps_kll_free(b);
    }
    free(x);
}

/* Deserialized states must behave: update, query, merge, serialize. */
static void exercise(ps_kll *s)
{
    double x[300], q[5] = {0, 0.25, 0.5, 0.75, 1}, out[5];
    for (int i = 0; i < 300; i++)
        x[i] = rnd_normal();
    CHECK(ps_kll_quantiles(s, q, 5, out) == PS_OK);
    CHECK(ps_kll_ranks(s, x, 5, out) == PS_OK);
    /* a forged count near 2**62 legitimately overflows */
    int st = ps_kll_update(s, x, PS_FLOAT64, 300, 1, 8, 8);
    CHECK_CTX(st == PS_OK || (st == PS_ERR_OVERFLOW &&
                              ps_kll_count(s) + ps_kll_nan_count(s) > ((int64_t)1 << 61)),
              "status %d", st);
    ps_kll *c;
    CHECK(ps_kll_copy(&c, s) == PS_OK);
    st = ps_kll_merge(c, s);
    CHECK_CTX(st == PS_OK || (st == PS_ERR_OVERFLOW &&
                              ps_kll_count(s) + ps_kll_nan_count(s) > ((int64_t)1 << 60)),
              "status %d n %lld nan %lld", st, (long long)ps_kll_count(s),
              (long long)ps_kll_nan_count(s));
    check_invariants(c);
    ps_kll_free(c);
    blob b = save(s);
    free(b.bytes);
}

static void reseal(uint8_t *buf, size_t size)
{
    uint64_t h = ps_fnv1a(buf, size - 8);
    for (int i = 0; i < 8; i++)
        buf[size - 8 + (size_t)i] = (uint8_t)(h >> (8 * i));
}

static void test_serialization(void)
{
    int64_t sizes[] = {0, 3, 9, 5000, 60000};
    for (int t = 0; t < 5; t++) {
        int64_t n = sizes[t];
        double *x = normal_data(n, 0.05);
        ps_kll *s, *r = NULL;
        CHECK(ps_kll_new(&s, 8 + 17 * t, (uint64_t)t * 1000003u) == PS_OK);
        CHECK(ps_kll_update(s, x, PS_FLOAT64, n, 1, 8, 8) == PS_OK);
        blob b = save(s);
        CHECK(ps_kll_deserialize(&r, b.bytes, b.size) == PS_OK && r);
        CHECK(same_state(s, r));
        /* continuing from the copy gives the same state */
        CHECK(ps_kll_update(s, x, PS_FLOAT64, n, 1, 8, 8) == PS_OK);
        CHECK(ps_kll_update(r, x, PS_FLOAT64, n, 1, 8, 8) == PS_OK);
        CHECK(same_state(s, r));
        ps_kll_free(r);
        r = NULL;
        for (size_t cut = 0; cut < b.size; cut++) {
            CHECK(ps_kll_deserialize(&r, b.bytes, cut) == PS_ERR_CORRUPT && r == NULL);
        }
        uint8_t *bad = malloc(b.size);
        for (size_t i = 0; i < b.size; i++) { /* every byte flipped */
            memcpy(bad, b.bytes, b.size);
            bad[i] ^= (uint8_t)(1u << (rnd() % 8));
            int st = ps_kll_deserialize(&r, bad, b.size);
            CHECK((st == PS_ERR_CORRUPT || st == PS_ERR_VERSION) && r == NULL);
        }
        /* forged: random bit flips in the body, checksum recomputed */
        int accepted = 0;
        for (int k = 0; k < 3000; k++) {
            memcpy(bad, b.bytes, b.size);
            int flips = 1 + (int)(rnd() % 3);
            for (int f = 0; f < flips; f++) {
                size_t at = 8 + (size_t)(rnd() % (b.size - 16));
                bad[at] ^= (uint8_t)(1u << (rnd() % 8));
            }
            reseal(bad, b.size);
            int st = ps_kll_deserialize(&r, bad, b.size);
            CHECK(st == PS_OK || st == PS_ERR_CORRUPT || st == PS_ERR_VERSION);
            if (st == PS_OK) {
                accepted++;
                exercise(r);
                ps_kll_free(r);
                r = NULL;
            }
        }
        (void)accepted; /* e.g. a flipped seed or generator state is valid */
        /* a newer version is reported as such */
        memcpy(bad, b.bytes, b.size);
        bad[8] = 2;
        CHECK(ps_kll_deserialize(&r, bad, b.size) == PS_ERR_VERSION);
        reseal(bad, b.size);
        CHECK(ps_kll_deserialize(&r, bad, b.size) == PS_ERR_VERSION);
        CHECK(ps_kll_deserialize(NULL, b.bytes, b.size) == PS_ERR_ARG);
        CHECK(ps_kll_deserialize(&r, NULL, 5) == PS_ERR_ARG);
        free(bad);
        free(b.bytes);
        free(x);
        ps_kll_free(s);
    }
}

/* A fingerprint of a fixed run (same on every platform and build). */
static void test_fingerprint(void)
{
    ps_kll *s;
    double *x = malloc(sizeof(double) * 200000);
    uint64_t st = 12345;
    for (int i = 0; i < 200000; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (double)(st >> 11) / 9007199254740992.0;
    }
    CHECK(ps_kll_new(&s, 200, 0) == PS_OK);
    CHECK(ps_kll_update(s, x, PS_FLOAT64, 200000, 1, 8, 8) == PS_OK);
    blob b = save(s);
    printf("fingerprint %016llx (%zu bytes)\n", (unsigned long long)ps_fnv1a(b.bytes, b.size),
           b.size);
    free(b.bytes);
    free(x);
    ps_kll_free(s);
}

int main(void)
{
    test_args();
    test_exact();
    test_accuracy_and_chunking(8, 50000, 0.0);
    test_accuracy_and_chunking(100, 200000, 0.01);
    test_accuracy_and_chunking(200, 300000, 0.0);
    test_accuracy_and_chunking(400, 100000, 0.1);
    test_layouts();
    test_dtypes();
    test_nan_only_and_signed_zero();
    test_merge();
    test_set_rng();
    test_merge_keeps_minmax();
    test_serialization();
    test_fingerprint();
    return report();
}
