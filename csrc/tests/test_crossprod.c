/*
 * test_crossprod.c -- the exact cross-product state (crossprod.c).
 *
 * Small-integer data, whose sums fit int64, are checked value by value
 * against direct sums; every chunking and merge order must give the same
 * bytes; NaN / inf records are counted and skipped; extreme magnitudes
 * (subnormals, 1e300) are exact under merging; serialized bytes survive a
 * round trip and every truncation or bit flip is refused or gives a valid
 * state (run under ASan/UBSan).  With --fingerprint it prints a hash of the
 * serialized states: the build with -DPS_XP_NO_INT128 (portable 128-bit
 * words) must print the same (`make ctest`).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crossprod.h"
#include "testkit.h"

static ps_xprod *fresh(int64_t ncols, int intercept, int64_t start)
{
    ps_xprod *s = NULL;
    CHECK(ps_xprod_new(&s, ncols, intercept, start) == PS_OK);
    return s;
}

static uint8_t *bytes_of(ps_xprod *s, size_t *size)
{
    CHECK(ps_xprod_serialize(s, NULL, 0, size) == PS_OK);
    uint8_t *buf = malloc(*size);
    CHECK(buf != NULL);
    CHECK(ps_xprod_serialize(s, buf, *size, size) == PS_OK);
    return buf;
}

static int same_bytes(ps_xprod *a, ps_xprod *b)
{
    size_t na, nb;
    uint8_t *x = bytes_of(a, &na), *y = bytes_of(b, &nb);
    int same = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* Entry e's exact sum as an int64 (for small-integer data): bins weighing
   less than 1 must be zero. */
static int64_t entry_value(ps_xprod *s, int64_t e, int *ok)
{
    ps_xprod_info info;
    ps_xprod_info_of(s, &info);
    int64_t w = info.width;
    if (!w)
        return 0;
    uint8_t *low = calloc((size_t)(info.entries * (w - 1)) + 1, 1);
    int64_t *top = calloc((size_t)info.entries, sizeof *top);
    CHECK(ps_xprod_sums(s, low, top) == PS_OK);
    uint64_t v = 0;   /* two's complement, modulo 2**64 */
    for (int64_t k = 0; k < w; k++) {
        int64_t bin = k < w - 1 ? low[e * (w - 1) + k] : top[e];
        int64_t weight = 4 * (info.lo + k) - 2148;
        if (weight < 0) {
            if (bin)
                *ok = 0;     /* integer data: no fraction */
        } else if (weight < 64) {
            v += (uint64_t)bin << weight;
        } else if (!(bin == 0 || bin == 15 || (k == w - 1 && bin == -1))) {
            *ok = 0;         /* beyond 64 bits: only the sign's extension */
        }
    }
    free(low);
    free(top);
    return (int64_t)v;
}

static void test_small_integers_exact(void)
{
    enum { N = 3000, D = 4 };
    static double data[N * D];
    for (int i = 0; i < N * D; i++)
        data[i] = (double)((int64_t)(rnd() % 2001) - 1000);
    int64_t offs[D] = {0, 8, 16, 24};
    for (int intercept = 0; intercept < 2; intercept++) {
        ps_xprod *s = fresh(D, intercept, 0);
        CHECK(ps_xprod_update(s, data, N, D * 8, offs) == PS_OK);
        int m = D + intercept, e = 0, ok = 1;
        for (int a = 0; a < m; a++)
            for (int b = a; b < m; b++, e++) {
                int64_t want = 0;
                for (int i = 0; i < N; i++) {
                    int64_t u = a < intercept ? 1 : (int64_t)data[i * D + a - intercept];
                    int64_t v = b < intercept ? 1 : (int64_t)data[i * D + b - intercept];
                    want += u * v;
                }
                CHECK_CTX(entry_value(s, e, &ok) == want, "entry %d", e);
            }
        CHECK(ok);
        ps_xprod_info info;
        ps_xprod_info_of(s, &info);
        CHECK(info.nobs == N && info.first_bad == -1 && info.stop == N);
        ps_xprod_free(s);
    }
}

static void test_chunking_and_merging(void)
{
    enum { N = 20000, D = 3 };
    static double data[N * D];
    for (int i = 0; i < N * D; i++)
        data[i] = rnd_normal() * pow(10.0, (double)(rnd() % 40) - 20.0);
    int64_t offs[D] = {16, 0, 8};   /* any order of columns */
    ps_xprod *whole = fresh(D, 1, 0);
    CHECK(ps_xprod_update(whole, data, N, D * 8, offs) == PS_OK);
    size_t steps[] = {1, 7, 1000, 8191, 8193};
    for (size_t t = 0; t < sizeof steps / sizeof *steps; t++) {
        ps_xprod *s = fresh(D, 1, 0);
        for (int64_t i = 0; i < N; i += (int64_t)steps[t]) {
            int64_t k = N - i < (int64_t)steps[t] ? N - i : (int64_t)steps[t];
            CHECK(ps_xprod_update(s, data + i * D, k, D * 8, offs) == PS_OK);
        }
        CHECK_CTX(same_bytes(s, whole), "chunks of %zu", steps[t]);
        ps_xprod_free(s);
    }
    /* partitions merged left to right */
    int64_t cuts[] = {0, 3, 5000, 5001, 16000, N};
    ps_xprod *acc = NULL;
    for (int p = 0; p < 5; p++) {
        ps_xprod *part = fresh(D, 1, cuts[p]);
        CHECK(ps_xprod_update(part, data + cuts[p] * D, cuts[p + 1] - cuts[p], D * 8, offs) ==
              PS_OK);
        if (!acc) {
            acc = part;
        } else {
            CHECK(ps_xprod_merge(acc, part) == PS_OK);
            ps_xprod_free(part);
        }
    }
    CHECK(same_bytes(acc, whole));
    /* refused merges */
    ps_xprod *gap = fresh(D, 1, N + 1), *other = fresh(D - 1, 1, N), *noint = fresh(D, 0, N);
    CHECK(ps_xprod_merge(acc, gap) == PS_ERR_NOT_ADJACENT);
    CHECK(ps_xprod_merge(acc, other) == PS_ERR_MISMATCH);
    CHECK(ps_xprod_merge(acc, noint) == PS_ERR_MISMATCH);
    CHECK(ps_xprod_merge(acc, acc) == PS_ERR_ARG);
    size_t size;
    uint8_t *b = bytes_of(whole, &size);
    fp_mix(b, size);
    free(b);
    ps_xprod_free(gap);
    ps_xprod_free(other);
    ps_xprod_free(noint);
    ps_xprod_free(acc);
    ps_xprod_free(whole);
}

static void test_nonfinite_and_extremes(void)
{
    double rows[][2] = {{1.0, 2.0}, {NAN, 1.0}, {3.0, INFINITY}, {-INFINITY, NAN},
                        {5e-324, 1e300}, {-1.7976931348623157e308, 2.2250738585072014e-308},
                        {0.0, -0.0}};
    int64_t offs[2] = {0, 8};
    ps_xprod *s = fresh(2, 1, 10);
    CHECK(ps_xprod_update(s, rows, 7, 16, offs) == PS_OK);
    ps_xprod_info info;
    ps_xprod_info_of(s, &info);
    CHECK(info.nobs == 4 && info.nan_records == 2 && info.inf_records == 1);
    CHECK(info.first_bad == 11 && info.first_bad_col == 0);
    CHECK(info.width > 0 && info.lo + info.width <= PS_XP_NBINS);
    /* the same records one at a time, merged in order: same bytes */
    ps_xprod *acc = fresh(2, 1, 10);
    for (int i = 0; i < 7; i++) {
        ps_xprod *one = fresh(2, 1, 10 + i);
        CHECK(ps_xprod_update(one, rows[i], 1, 16, offs) == PS_OK);
        CHECK(ps_xprod_merge(acc, one) == PS_OK);
        ps_xprod_free(one);
    }
    CHECK(same_bytes(acc, s));
    size_t size;
    uint8_t *b = bytes_of(s, &size);
    fp_mix(b, size);
    free(b);
    ps_xprod_free(acc);
    ps_xprod_free(s);
    /* negative strides: rows read backwards */
    double fwd[3][2] = {{1, 2}, {3, 4}, {5, 7}}, back[3][2] = {{5, 7}, {3, 4}, {1, 2}};
    ps_xprod *x = fresh(2, 1, 0), *y = fresh(2, 1, 0);
    CHECK(ps_xprod_update(x, fwd, 3, 16, offs) == PS_OK);
    CHECK(ps_xprod_update(y, &back[2][0], 3, -16, offs) == PS_OK);
    CHECK(same_bytes(x, y));
    ps_xprod_free(x);
    ps_xprod_free(y);
}

static void test_arguments(void)
{
    ps_xprod *s = NULL;
    CHECK(ps_xprod_new(&s, 0, 1, 0) == PS_ERR_ARG);
    CHECK(ps_xprod_new(&s, PS_XP_MAX_COLS + 1, 1, 0) == PS_ERR_ARG);
    CHECK(ps_xprod_new(&s, 2, 2, 0) == PS_ERR_ARG);
    CHECK(ps_xprod_new(&s, 2, 1, -1) == PS_ERR_ARG);
    CHECK(ps_xprod_new(NULL, 2, 1, 0) == PS_ERR_ARG);
    s = fresh(2, 1, INT64_MAX - 1);
    double r[4] = {1, 2, 3, 4};
    int64_t offs[2] = {0, 8};
    CHECK(ps_xprod_update(s, r, 2, 16, offs) == PS_ERR_OVERFLOW);
    CHECK(ps_xprod_update(s, r, -1, 16, offs) == PS_ERR_ARG);
    CHECK(ps_xprod_update(s, NULL, 1, 16, offs) == PS_ERR_ARG);
    CHECK(ps_xprod_update(s, r, 0, 16, NULL) == PS_OK);
    ps_xprod_free(s);
    ps_xprod_free(NULL);
}

static void test_serialization(void)
{
    enum { N = 500, D = 3 };
    static double data[N * D];
    for (int i = 0; i < N * D; i++)
        data[i] = rnd_normal() * 1e3;
    data[7] = NAN;
    int64_t offs[D] = {0, 8, 16};
    ps_xprod *s = fresh(D, 1, 42);
    CHECK(ps_xprod_update(s, data, N, D * 8, offs) == PS_OK);
    size_t size;
    uint8_t *buf = bytes_of(s, &size);
    ps_xprod *back = NULL;
    CHECK(ps_xprod_deserialize(&back, buf, size) == PS_OK);
    CHECK(back && same_bytes(back, s));
    ps_xprod *copy = NULL;
    CHECK(ps_xprod_copy(&copy, s) == PS_OK);
    CHECK(same_bytes(copy, s));
    ps_xprod_free(copy);
    ps_xprod_free(back);
    for (size_t cut = 0; cut < size; cut++) {
        ps_xprod *t = NULL;
        CHECK(ps_xprod_deserialize(&t, buf, cut) != PS_OK);
        ps_xprod_free(t);
    }
    /* random flips (checksum recomputed, so the validation itself is tested) */
    for (int trial = 0; trial < 3000; trial++) {
        uint8_t *b = malloc(size);
        memcpy(b, buf, size);
        size_t at = (size_t)(rnd() % (size - 8));
        b[at] ^= (uint8_t)(1u << (rnd() % 8));
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t i = 0; i < size - 8; i++) {
            h ^= b[i];
            h *= 1099511628211ull;
        }
        for (int k = 0; k < 8; k++)
            b[size - 8 + (size_t)k] = (uint8_t)(h >> (8 * k));
        ps_xprod *t = NULL;
        if (ps_xprod_deserialize(&t, b, size) == PS_OK) {
            ps_xprod_info info;
            CHECK(ps_xprod_info_of(t, &info) == PS_OK);
            CHECK(info.nobs + info.nan_records + info.inf_records == info.stop - info.start);
            uint8_t *low = malloc((size_t)(info.entries * (info.width ? info.width : 1)));
            int64_t *top = malloc((size_t)info.entries * sizeof *top);
            CHECK(ps_xprod_sums(t, low, top) == PS_OK);
            CHECK(ps_xprod_update(t, data, N, D * 8, offs) == PS_OK);
            free(low);
            free(top);
        }
        ps_xprod_free(t);
        free(b);
    }
    CHECK(ps_xprod_deserialize(&back, NULL, 5) == PS_ERR_ARG);
    fp_mix(buf, size);
    free(buf);
    ps_xprod_free(s);
}

int main(int argc, char **argv)
{
    int fp = argc > 1 && strcmp(argv[1], "--fingerprint") == 0;
    test_small_integers_exact();
    test_chunking_and_merging();
    test_nonfinite_and_extremes();
    test_arguments();
    test_serialization();
    if (fp) {
        printf("%016llx\n", (unsigned long long)*fp_state());
        return failed != 0;
    }
    return report();
}
