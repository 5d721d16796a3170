/*
 * test_comoments.c -- the co-moments state (csrc/comoments.c) under ASan +
 * UBSan: chunk and merge invariance of the serialized bytes, results on
 * known data, NaN bookkeeping, every truncation and random corruption of
 * serialized states, bad arguments.  --fingerprint prints a hash of the
 * results instead: builds with -DPS_NO_AVX2 / -DPS_NO_SIMD must agree.
 */
#include "comoments.h"
#include "pystream.h"
#include "testkit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *bytes_of(const ps_comoments *m, size_t *size)
{
    if (ps_comoments_serialize(m, NULL, 0, size) != PS_OK)
        return NULL;
    uint8_t *buf = malloc(*size);
    if (buf && ps_comoments_serialize(m, buf, *size, size) != PS_OK) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* A state over rows [0, n) of x (width d) fed in chunks of `chunk` rows. */
static ps_comoments *fed(const double *x, int64_t n, int64_t d, int64_t start, int64_t chunk)
{
    ps_comoments *m = NULL;
    if (ps_comoments_new(&m, d, start) != PS_OK)
        return NULL;
    for (int64_t i = 0; i < n; i += chunk) {
        int64_t k = n - i < chunk ? n - i : chunk;
        if (ps_comoments_update(m, PS_FLOAT64, x + i * d, k, 8 * d, 8) != PS_OK) {
            ps_comoments_free(m);
            return NULL;
        }
    }
    return m;
}

static int same_bytes(const ps_comoments *a, const ps_comoments *b)
{
    size_t na, nb;
    uint8_t *x = bytes_of(a, &na), *y = bytes_of(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static void test_invariance(int64_t d, int with_nan)
{
    int64_t n = 3001;
    double *x = malloc((size_t)(n * d) * sizeof(double));
    for (int64_t k = 0; k < n * d; k++)
        x[k] = 1e6 + rnd_normal();
    if (with_nan)
        for (int k = 0; k < 20; k++)
            x[rnd() % (uint64_t)(n * d)] = NAN;
    ps_comoments *whole = fed(x, n, d, 5, n);
    CHECK(whole != NULL);
    int64_t chunks[] = {1, 7, 1000};
    for (int c = 0; c < 3; c++) {
        ps_comoments *m = fed(x, n, d, 5, chunks[c]);
        CHECK_CTX(m && same_bytes(m, whole), "d=%lld chunk=%lld", (long long)d,
                  (long long)chunks[c]);
        ps_comoments_free(m);
    }
    int64_t cuts[] = {0, 1, 700, 1024, 2049, 3001};
    ps_comoments *parts[5];
    for (int p = 0; p < 5; p++)
        parts[p] = fed(x + cuts[p] * d, cuts[p + 1] - cuts[p], d, 5 + cuts[p], 333);
    CHECK(ps_comoments_merge(parts[2], parts[3]) == PS_OK);
    CHECK(ps_comoments_merge(parts[0], parts[1]) == PS_OK);
    CHECK(ps_comoments_merge(parts[2], parts[4]) == PS_OK);
    CHECK(ps_comoments_merge(parts[0], parts[2]) == PS_OK);
    CHECK(same_bytes(parts[0], whole));
    CHECK(ps_comoments_merge(parts[0], parts[1]) == PS_ERR_NOT_ADJACENT);
    for (int p = 0; p < 5; p++)
        ps_comoments_free(parts[p]);

    /* the fingerprint: the result arrays */
    int64_t dd = d * d;
    int64_t *cnt = malloc((size_t)dd * sizeof(int64_t)), *nanc = malloc((size_t)d * sizeof(int64_t));
    double *mean = malloc((size_t)dd * sizeof(double)), *com = malloc((size_t)dd * sizeof(double));
    double *m2 = malloc((size_t)dd * sizeof(double));
    CHECK(ps_comoments_result(whole, cnt, mean, com, m2, nanc) == PS_OK);
    fp_mix(cnt, (size_t)dd * 8);
    fp_mix(mean, (size_t)dd * 8);
    fp_mix(com, (size_t)dd * 8);
    fp_mix(m2, (size_t)dd * 8);
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++)
            CHECK(memcmp(&com[i * d + j], &com[j * d + i], 8) == 0); /* exactly symmetric */
    if (!with_nan)
        for (int64_t i = 0; i < d; i++)
            CHECK(fabs(com[i * d + i] / (double)(n - 1) - 1.0) < 0.1); /* unit variance */
    free(cnt), free(nanc), free(mean), free(com), free(m2);
    ps_comoments_free(whole);
    free(x);
}

static void test_known_values(void)
{
    /* x = (1, 2, 4), y = (2, 4.5, 7): C = [[14/3, 7.5], [7.5, 12.5]] */
    double x[] = {1, 2, 2, 4.5, 4, 7};
    ps_comoments *m = fed(x, 3, 2, 0, 3);
    int64_t cnt[4], nanc[2];
    double mean[4], com[4], m2[4];
    CHECK(ps_comoments_result(m, cnt, mean, com, m2, nanc) == PS_OK);
    CHECK(cnt[0] == 3 && cnt[3] == 3 && nanc[0] == 0);
    CHECK(fabs(mean[0] - 7.0 / 3) < 1e-15 && mean[3] == 4.5);
    CHECK(fabs(com[0] - 14.0 / 3) < 1e-14 && com[1] == 7.5 && com[3] == 12.5);
    ps_comoments_free(m);

    /* a NaN: pairwise counts, first NaN */
    double y[] = {1, 2, NAN, 4.5, 4, 7, 5, 1};
    m = fed(y, 4, 2, 10, 1);
    CHECK(ps_comoments_result(m, cnt, mean, com, m2, nanc) == PS_OK);
    CHECK(cnt[0] == 3 && cnt[1] == 3 && cnt[3] == 4 && nanc[0] == 1 && nanc[1] == 0);
    CHECK(ps_comoments_first_nan(m) == 11 && ps_comoments_first_nan_column(m) == 0);
    CHECK(mean[3] == 3.625 && fabs(mean[2] - 10.0 / 3) < 1e-15); /* y over all; over the pair */
    ps_comoments_free(m);

    /* a constant column after a spike in another block: exact zeros */
    double *z = malloc(2000 * 2 * sizeof(double));
    for (int k = 0; k < 2000; k++)
        z[2 * k] = 3.0, z[2 * k + 1] = k == 0 ? 1e12 : (double)(k % 7);
    m = fed(z, 2000, 2, 0, 100);
    CHECK(ps_comoments_result(m, cnt, mean, com, m2, nanc) == PS_OK);
    CHECK(com[0] == 0.0 && com[1] == 0.0 && com[2] == 0.0 && mean[0] == 3.0);
    ps_comoments_free(m);
    free(z);
}

static void test_hostile_bytes(void)
{
    int64_t n = 2000, d = 3;
    double *x = malloc((size_t)(n * d) * sizeof(double));
    for (int64_t k = 0; k < n * d; k++)
        x[k] = rnd_normal();
    x[1700 * 3 + 1] = NAN;
    ps_comoments *m = fed(x, n, d, 3, 500);
    size_t size;
    uint8_t *raw = bytes_of(m, &size);
    ps_comoments *back = NULL;
    CHECK(ps_comoments_deserialize(&back, raw, size) == PS_OK);
    CHECK(back && same_bytes(back, m));
    ps_comoments_free(back);
    for (size_t k = 0; k < size; k++) {
        back = NULL;
        CHECK(ps_comoments_deserialize(&back, raw, k) != PS_OK);
        CHECK(back == NULL);
    }
    uint8_t *bad = malloc(size);
    for (int trial = 0; trial < 2000; trial++) {
        memcpy(bad, raw, size);
        bad[rnd() % size] ^= (uint8_t)(1u << (rnd() % 8));
        back = NULL;
        int st = ps_comoments_deserialize(&back, bad, size);
        CHECK(st != PS_OK);
        ps_comoments_free(back);
    }
    free(bad);
    free(raw);
    ps_comoments_free(m);
    free(x);
}

static void test_arguments(void)
{
    ps_comoments *m = NULL;
    CHECK(ps_comoments_new(&m, 0, -1) == PS_ERR_ARG);
    CHECK(ps_comoments_new(&m, -2, 0) == PS_ERR_ARG);
    CHECK(ps_comoments_new(&m, 0, 4) == PS_OK);
    double x[4] = {1, 2, 3, 4};
    CHECK(ps_comoments_update(m, PS_FLOAT64, x, 2, 16, 8) == PS_ERR_ARG); /* no width yet */
    CHECK(ps_comoments_set_width(m, 2) == PS_OK);
    CHECK(ps_comoments_set_width(m, 3) == PS_ERR_ARG);
    CHECK(ps_comoments_update(m, PS_INT32, x, 2, 16, 8) == PS_ERR_DTYPE);
    CHECK(ps_comoments_update(m, PS_FLOAT64, x, -1, 16, 8) == PS_ERR_ARG);
    CHECK(ps_comoments_update(m, PS_FLOAT64, x, 2, 16, 8) == PS_OK);
    ps_comoments *w = NULL;
    CHECK(ps_comoments_new(&w, 3, 6) == PS_OK);
    CHECK(ps_comoments_update(w, PS_FLOAT64, x, 1, 24, 8) == PS_OK);
    CHECK(ps_comoments_merge(m, w) == PS_ERR_MISMATCH);
    CHECK(ps_comoments_merge(m, m) == PS_ERR_ARG);
    ps_comoments *c = NULL;
    CHECK(ps_comoments_copy(&c, m) == PS_OK && same_bytes(c, m));
    int64_t cnt[4], nanc[2];
    double a[4], b[4], e[4];
    ps_comoments *u = NULL;
    CHECK(ps_comoments_new(&u, 0, 0) == PS_OK);
    CHECK(ps_comoments_result(u, cnt, a, b, e, nanc) == PS_ERR_UNSET);
    ps_comoments_free(u), ps_comoments_free(c), ps_comoments_free(w), ps_comoments_free(m);
}

int main(int argc, char **argv)
{
    int fingerprint = argc > 1 && strcmp(argv[1], "--fingerprint") == 0;
    int64_t widths[] = {2, 3, 5, 8, 17};
    for (int k = 0; k < 5; k++) {
        test_invariance(widths[k], 0);
        test_invariance(widths[k], 1);
    }
    test_known_values();
    test_hostile_bytes();
    test_arguments();
    if (fingerprint) {
        printf("%016llx\n", (unsigned long long)*fp_state());
        return failed != 0;
    }
    return report();
}
