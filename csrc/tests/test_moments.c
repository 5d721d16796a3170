/*
 * C unit tests of the moments core.  Run under ASan + UBSan by `make ctest`.
 *
 * Prints "N passed, M failed" and exits non-zero on failure.  With
 * --fingerprint it prints one hash per scenario instead: `make ctest`
 * builds this file with and without -DPS_NO_SIMD and requires the two
 * fingerprints to be identical (SIMD and portable kernels agree bit for bit).
 */
#include "pystream.h"

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

static blob serialize(const ps_moments *m)
{
    blob b = {NULL, 0};
    if (ps_moments_serialize(m, NULL, 0, &b.size) != PS_OK)
        return b;
    b.bytes = malloc(b.size);
    if (ps_moments_serialize(m, b.bytes, b.size, &b.size) != PS_OK) {
        free(b.bytes);
        b.bytes = NULL;
    }
    return b;
}

static int same_blob(blob a, blob b)
{
    return a.bytes && b.bytes && a.size == b.size && memcmp(a.bytes, b.bytes, a.size) == 0;
}

static uint64_t hash_blob(blob b)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < b.size; i++) {
        h ^= b.bytes[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Result of a state, all fields, as one blob of bytes (for bit equality). */
typedef struct {
    int64_t count[8], nan_count[8], isum_hi[8], imin[8], imax[8];
    uint64_t isum_lo[8];
    double sum[8], mean[8], m2[8], min[8], max[8];
} result8;

static int get_result(const ps_moments *m, result8 *r)
{
    ps_moments_out o;
    memset(r, 0, sizeof *r);
    o.count = r->count;
    o.nan_count = r->nan_count;
    o.sum = r->sum;
    o.mean = r->mean;
    o.m2 = r->m2;
    o.min = r->min;
    o.max = r->max;
    o.isum_hi = r->isum_hi;
    o.isum_lo = r->isum_lo;
    o.imin = r->imin;
    o.imax = r->imax;
    return ps_moments_result(m, &o);
}

static ps_moments *new_state(int dtype, int ndim, const int64_t *shape, int64_t start)
{
    ps_moments *m = NULL;
    int st = ps_moments_new(&m, dtype, ndim, shape, start);
    CHECK(st == PS_OK);
    return m;
}

/* Feed n records of width d (contiguous) in random chunks. */
static void feed_random(ps_moments *m, const char *data, int64_t n, size_t rec)
{
    int64_t i = 0;
    while (i < n) {
        int64_t k = (int64_t)(rnd() % 3000) + 1;
        if (rnd() % 4 == 0)
            k = (int64_t)(rnd() % 3) + 1;
        if (k > n - i)
            k = n - i;
        CHECK(ps_moments_update(m, data + (size_t)i * rec, k, (ptrdiff_t)rec,
                                (ptrdiff_t)(rec / (size_t)ps_moments_width(m))) == PS_OK);
        i += k;
    }
}

static void test_chunk_invariance(int dtype, size_t isz, int64_t d, int64_t n,
                                  const char *data, uint64_t *fingerprint)
{
    int64_t shape[1] = {d};
    size_t rec = (size_t)d * isz;
    ps_moments *whole = new_state(dtype, d == 1 ? 0 : 1, shape, 0);
    ps_moments *chunked = new_state(dtype, d == 1 ? 0 : 1, shape, 0);
    blob a, b;
    CHECK(ps_moments_update(whole, data, n, (ptrdiff_t)rec, (ptrdiff_t)isz) == PS_OK);
    feed_random(chunked, data, n, rec);
    a = serialize(whole);
    b = serialize(chunked);
    CHECK(same_blob(a, b));
    if (d <= 8) {
        result8 r1, r2;
        CHECK(get_result(whole, &r1) == PS_OK);
        CHECK(get_result(chunked, &r2) == PS_OK);
        CHECK(memcmp(&r1, &r2, sizeof r1) == 0);
        *fingerprint ^= hash_blob((blob){(uint8_t *)&r1, sizeof r1});
    }
    *fingerprint = *fingerprint * 31 + hash_blob(a);
    free(a.bytes);
    free(b.bytes);
    ps_moments_free(whole);
    ps_moments_free(chunked);
}

/* Split [0, n) in parts, merge adjacent parts in random order. */
static void test_partition_invariance(int dtype, size_t isz, const char *data, int64_t n)
{
    enum { P = 9 };
    int64_t cut[P + 1];
    ps_moments *part[P];
    int alive[P];
    int nalive = P;
    ps_moments *serial = new_state(dtype, 0, NULL, 0);
    blob a, b;
    cut[0] = 0;
    cut[P] = n;
    for (int k = 1; k < P; k++)
        cut[k] = (int64_t)(rnd() % (uint64_t)(n + 1));
    for (int k = 1; k < P; k++) /* sort */
        for (int j = k; j > 0 && cut[j] < cut[j - 1]; j--) {
            int64_t t = cut[j];
            cut[j] = cut[j - 1];
            cut[j - 1] = t;
        }
    for (int k = 0; k < P; k++) {
        part[k] = new_state(dtype, 0, NULL, cut[k]);
        alive[k] = 1;
        feed_random(part[k], data + (size_t)cut[k] * isz, cut[k + 1] - cut[k], isz);
    }
    while (nalive > 1) {
        /* pick a random live part and merge its right live neighbour into it */
        int k = (int)(rnd() % P), j;
        if (!alive[k])
            continue;
        for (j = k + 1; j < P && !alive[j]; j++) {}
        if (j == P)
            continue;
        CHECK(ps_moments_merge(part[k], part[j]) == PS_OK);
        ps_moments_free(part[j]);
        alive[j] = 0;
        nalive--;
    }
    CHECK(ps_moments_update(serial, data, n, (ptrdiff_t)isz, (ptrdiff_t)isz) == PS_OK);
    a = serialize(serial);
    b = serialize(part[0]);
    CHECK(same_blob(a, b));
    free(a.bytes);
    free(b.bytes);
    ps_moments_free(part[0]);
    ps_moments_free(serial);
}

static void test_serialization_fuzz(void)
{
    enum { N = 3000 };
    double *x = malloc(N * sizeof *x);
    ps_moments *m = new_state(PS_FLOAT64, 0, NULL, 17), *back = NULL;
    blob b;
    for (int i = 0; i < N; i++)
        x[i] = rnd_normal();
    x[100] = NAN;
    CHECK(ps_moments_update(m, x, N, 8, 8) == PS_OK);
    b = serialize(m);
    CHECK(b.bytes != NULL);
    CHECK(ps_moments_deserialize(&back, b.bytes, b.size) == PS_OK);
    if (back) {
        blob c = serialize(back);
        CHECK(same_blob(b, c));
        CHECK(ps_moments_first_nan(back) == 117);
        free(c.bytes);
        ps_moments_free(back);
    }
    /* every truncation is refused */
    for (size_t len = 0; len < b.size; len++) {
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, b.bytes, len);
        back = NULL;
        CHECK(ps_moments_deserialize(&back, cut, len) != PS_OK && back == NULL);
        free(cut);
    }
    /* random byte flips: refused (or, if the checksum survives, valid) */
    for (int trial = 0; trial < 4000; trial++) {
        uint8_t *bad = malloc(b.size);
        int st;
        memcpy(bad, b.bytes, b.size);
        for (int f = 0; f < 1 + (int)(rnd() % 4); f++)
            bad[rnd() % b.size] ^= (uint8_t)(1u + rnd() % 255u);
        back = NULL;
        st = ps_moments_deserialize(&back, bad, b.size);
        CHECK(st == PS_OK || st == PS_ERR_CORRUPT || st == PS_ERR_VERSION);
        if (st == PS_OK) {
            result8 r;
            (void)get_result(back, &r);
            ps_moments_free(back);
        }
        free(bad);
    }
    /* a forged checksum over corrupt structure is still refused */
    {
        uint8_t *bad = malloc(b.size);
        uint64_t h = PS_FNV_OFFSET;
        memcpy(bad, b.bytes, b.size);
        bad[8 + 4 + 4 + 4 + 8] ^= 0x40; /* the stop field */
        for (size_t i = 0; i + 8 < b.size; i++) {
            h ^= bad[i];
            h *= 1099511628211ull;
        }
        for (int k = 0; k < 8; k++)
            bad[b.size - 8 + (size_t)k] = (uint8_t)(h >> (8 * k));
        back = NULL;
        CHECK(ps_moments_deserialize(&back, bad, b.size) == PS_ERR_CORRUPT);
        free(bad);
    }
    free(b.bytes);
    free(x);
    ps_moments_free(m);
}

static void test_integers(void)
{
    /* int64 sums beyond 2**63 are exact */
    int64_t v[6] = {INT64_MAX, INT64_MAX, INT64_MAX, -1, INT64_MIN, 5};
    ps_moments *m = new_state(PS_INT64, 0, NULL, 0);
    result8 r;
    CHECK(ps_moments_update(m, v, 3, 8, 8) == PS_OK);
    CHECK(get_result(m, &r) == PS_OK);
    /* 3 * (2**63 - 1) = 2**64 + (2**63 - 3) */
    CHECK(r.isum_hi[0] == 1 && r.isum_lo[0] == 9223372036854775805ull);
    CHECK(ps_moments_update(m, v + 3, 3, 8, 8) == PS_OK);
    CHECK(get_result(m, &r) == PS_OK);
    /* + (-1) + (-2**63) + 5 = 2**64 + 1: hi 1, lo 1 */
    CHECK(r.isum_hi[0] == 1 && r.isum_lo[0] == 1ull);
    CHECK(r.imin[0] == INT64_MIN && r.imax[0] == INT64_MAX);
    ps_moments_free(m);

    {
        uint64_t u[4] = {UINT64_MAX, UINT64_MAX, 0, 7};
        m = new_state(PS_UINT64, 0, NULL, 0);
        CHECK(ps_moments_update(m, u, 4, 8, 8) == PS_OK);
        CHECK(get_result(m, &r) == PS_OK);
        /* 2 * (2**64 - 1) + 7 = 2**65 + 5 */
        CHECK(r.isum_hi[0] == 2 && r.isum_lo[0] == 5);
        CHECK((uint64_t)r.imax[0] == UINT64_MAX && r.imin[0] == 0);
        ps_moments_free(m);
    }
    {
        uint8_t b[5] = {0, 1, 2, 255, 0}; /* bool: any nonzero byte is True */
        m = new_state(PS_BOOL, 0, NULL, 0);
        CHECK(ps_moments_update(m, b, 5, 1, 1) == PS_OK);
        CHECK(get_result(m, &r) == PS_OK);
        CHECK(r.isum_hi[0] == 0 && r.isum_lo[0] == 3 && r.imax[0] == 1);
        ps_moments_free(m);
    }
}

static void test_nan_inf_constant(void)
{
    double x[2000];
    result8 r;
    ps_moments *m;
    for (int i = 0; i < 2000; i++)
        x[i] = 0.1;
    m = new_state(PS_FLOAT64, 0, NULL, 0);
    CHECK(ps_moments_update(m, x, 2000, 8, 8) == PS_OK);
    CHECK(get_result(m, &r) == PS_OK);
    CHECK(r.mean[0] == 0.1 && r.m2[0] == 0.0);
    ps_moments_free(m);

    x[1500] = NAN;
    x[3] = INFINITY;
    m = new_state(PS_FLOAT64, 0, NULL, 10);
    CHECK(ps_moments_update(m, x, 2000, 8, 8) == PS_OK);
    CHECK(get_result(m, &r) == PS_OK);
    CHECK(r.count[0] == 1999 && r.nan_count[0] == 1);
    CHECK(isinf(r.mean[0]) && isnan(r.m2[0]) && r.max[0] == INFINITY && r.min[0] == 0.1);
    CHECK(ps_moments_first_nan(m) == 1510);
    ps_moments_free(m);
}

/* Regression: right has a NaN inside a tree node and a later one in its raw
   tail; the merged state must report the node's (earlier) one. */
static void test_merge_first_nan(void)
{
    enum { N = 3000 };
    double *x = malloc(N * sizeof *x);
    ps_moments *l = new_state(PS_FLOAT64, 0, NULL, 0);
    ps_moments *r = new_state(PS_FLOAT64, 0, NULL, 100);
    ps_moments *s = new_state(PS_FLOAT64, 0, NULL, 0);
    for (int i = 0; i < N; i++)
        x[i] = i;
    x[1500] = NAN; /* in block [1024, 2048): a node of r */
    x[2900] = NAN; /* in r's raw tail */
    CHECK(ps_moments_update(l, x, 100, 8, 8) == PS_OK);
    CHECK(ps_moments_update(r, x + 100, N - 100, 8, 8) == PS_OK);
    CHECK(ps_moments_first_nan(r) == 1500);
    CHECK(ps_moments_merge(l, r) == PS_OK);
    CHECK(ps_moments_first_nan(l) == 1500);
    CHECK(ps_moments_update(s, x, N, 8, 8) == PS_OK);
    {
        blob a = serialize(l), b = serialize(s);
        CHECK(same_blob(a, b));
        free(a.bytes);
        free(b.bytes);
    }
    free(x);
    ps_moments_free(l);
    ps_moments_free(r);
    ps_moments_free(s);
}

static void test_errors(void)
{
    ps_moments *a = new_state(PS_FLOAT64, 0, NULL, 0);
    ps_moments *b = new_state(PS_FLOAT64, 0, NULL, 5);
    ps_moments *c = new_state(PS_INT32, 0, NULL, 0);
    ps_moments *u = NULL, *big = NULL;
    double x[4] = {1, 2, 3, 4};
    int64_t shape[2] = {2, 0};
    result8 r;
    CHECK(ps_moments_merge(a, b) == PS_ERR_NOT_ADJACENT);
    CHECK(ps_moments_merge(a, c) == PS_ERR_MISMATCH);
    CHECK(ps_moments_update(a, x, -1, 8, 8) == PS_ERR_ARG);
    CHECK(ps_moments_update(a, NULL, 1, 8, 8) == PS_ERR_ARG);
    CHECK(ps_moments_new(&u, 42, 0, NULL, 0) == PS_ERR_DTYPE && u == NULL);
    CHECK(ps_moments_new(&u, PS_FLOAT64, 0, NULL, -1) == PS_ERR_ARG);
    CHECK(ps_moments_new(&u, PS_FLOAT64, 2, shape, 0) == PS_ERR_ARG);
    CHECK(ps_moments_new(&u, PS_DTYPE_UNSET, 0, NULL, 0) == PS_OK);
    CHECK(ps_moments_update(u, x, 1, 8, 8) == PS_ERR_UNSET);
    CHECK(get_result(u, &r) == PS_ERR_UNSET);
    /* an empty untyped state adopts its neighbour */
    CHECK(ps_moments_update(a, x, 4, 8, 8) == PS_OK);
    {
        ps_moments *e = new_state(PS_DTYPE_UNSET, 0, NULL, 4);
        CHECK(ps_moments_merge(a, e) == PS_OK && ps_moments_stop(a) == 4);
        ps_moments_free(e);
        e = new_state(PS_DTYPE_UNSET, 0, NULL, 0);
        CHECK(ps_moments_merge(e, a) == PS_OK && ps_moments_stop(e) == 4 &&
              ps_moments_dtype(e) == PS_FLOAT64);
        ps_moments_free(e);
    }
    CHECK(ps_moments_set_type(a, PS_INT8, 0, NULL) == PS_ERR_DTYPE);
    /* record count overflow */
    CHECK(ps_moments_new(&big, PS_FLOAT64, 0, NULL, INT64_MAX - 3000) == PS_OK);
    {
        double *y = calloc(5000, sizeof *y);
        CHECK(ps_moments_update(big, y, 5000, 8, 8) == PS_ERR_OVERFLOW);
        free(y);
    }
    CHECK(strcmp(ps_status_message(PS_ERR_CORRUPT),
                 "serialized state is truncated or corrupt") == 0);
    CHECK(strcmp(ps_status_message(99), "unknown status") == 0);
    CHECK(ps_moments_block(1) == 1024 && ps_moments_block(3) == 256 &&
          ps_moments_block(1024) == 1 && ps_moments_block(5000) == 1);
    ps_moments_free(a);
    ps_moments_free(b);
    ps_moments_free(c);
    ps_moments_free(u);
    ps_moments_free(big);
}

static void test_strided(void)
{
    /* reading every 3rd value in place == reading a contiguous copy */
    enum { N = 5000 };
    double *x = malloc(3 * N * sizeof *x), *y = malloc(N * sizeof *y);
    ps_moments *a = new_state(PS_FLOAT64, 0, NULL, 0), *b = new_state(PS_FLOAT64, 0, NULL, 0);
    blob ba, bb;
    for (int i = 0; i < 3 * N; i++)
        x[i] = rnd_normal();
    for (int i = 0; i < N; i++)
        y[i] = x[3 * (N - 1 - i)];
    /* negative stride, from the last element backwards */
    CHECK(ps_moments_update(a, x + 3 * (N - 1), N, -24, 8) == PS_OK);
    CHECK(ps_moments_update(b, y, N, 8, 8) == PS_OK);
    ba = serialize(a);
    bb = serialize(b);
    CHECK(same_blob(ba, bb));
    free(ba.bytes);
    free(bb.bytes);
    free(x);
    free(y);
    ps_moments_free(a);
    ps_moments_free(b);
}

/* Rewrite the trailer of a state's bytes: FNV-1a with `basis`. */
static void reseal(uint8_t *buf, size_t size, uint64_t basis)
{
    uint64_t h = ps_fnv1a_basis(buf, size - 8, basis);
    for (int k = 0; k < 8; k++)
        buf[size - 8 + (size_t)k] = (uint8_t)(h >> (8 * k));
}

static void put_word(uint8_t *buf, size_t at, uint64_t v)
{
    for (int k = 0; k < 8; k++)
        buf[at + (size_t)k] = (uint8_t)(v >> (8 * k));
}

static uint64_t bits_of(double x)
{
    uint64_t u;
    memcpy(&u, &x, 8);
    return u;
}

/* Deserialize `b` with the word at `at` replaced by v and the checksum
   recomputed; returns the status (the state is freed). */
static int load_edited(blob b, size_t at, uint64_t v)
{
    uint8_t *buf = malloc(b.size);
    ps_moments *back = NULL;
    memcpy(buf, b.bytes, b.size);
    put_word(buf, at, v);
    reseal(buf, b.size, PS_FNV_OFFSET);
    int st = ps_moments_deserialize(&back, buf, b.size);
    if (st == PS_OK) {
        result8 r;
        (void)get_result(back, &r);
    }
    ps_moments_free(back);
    free(buf);
    return st;
}

/* FNV-1a: the standard offset basis; checksums of the old basis accepted. */
static void test_checksum_basis(void)
{
    const uint8_t a = 'a';
    CHECK(PS_FNV_OFFSET == 14695981039346656037ull);
    CHECK(ps_fnv1a(NULL, 0) == 0xcbf29ce484222325ull);
    CHECK(ps_fnv1a(&a, 1) == 0xaf63dc4c8601ec8cull); /* published test vector */
    ps_moments *m = new_state(PS_FLOAT64, 0, NULL, 0), *back = NULL;
    double x[5] = {1, 2, 3, 4, 5};
    CHECK(ps_moments_update(m, x, 5, 8, 8) == PS_OK);
    blob b = serialize(m);
    CHECK(ps_checksum_ok(b.bytes, b.size));
    CHECK(ps_fnv1a(b.bytes, b.size - 8) == ((uint64_t)b.bytes[b.size - 8] |
                                            (uint64_t)b.bytes[b.size - 7] << 8 |
                                            (uint64_t)b.bytes[b.size - 6] << 16 |
                                            (uint64_t)b.bytes[b.size - 5] << 24 |
                                            (uint64_t)b.bytes[b.size - 4] << 32 |
                                            (uint64_t)b.bytes[b.size - 3] << 40 |
                                            (uint64_t)b.bytes[b.size - 2] << 48 |
                                            (uint64_t)b.bytes[b.size - 1] << 56));
    reseal(b.bytes, b.size, PS_FNV_OFFSET_LEGACY); /* as written before issue 15 */
    CHECK(ps_moments_deserialize(&back, b.bytes, b.size) == PS_OK);
    ps_moments_free(back);
    reseal(b.bytes, b.size, PS_FNV_OFFSET_LEGACY + 1); /* any other checksum */
    back = NULL;
    CHECK(ps_moments_deserialize(&back, b.bytes, b.size) == PS_ERR_CORRUPT && !back);
    free(b.bytes);
    ps_moments_free(m);
}

/* Hand-edited node summaries (checksum recomputed) are refused; possible
   extreme states load. */
static void test_hostile_states(void)
{
    enum { N = 3000 };
    /* float64, start 0: node [0, 2048) at byte 64; its summary from 76 */
    const size_t S = 76, NN = S, SUM = S + 16, MEAN = S + 24, M2 = S + 32, MN = S + 40,
                 MX = S + 48, IHI = S + 56, IMIN = S + 72;
    double *x = malloc(N * sizeof *x);
    for (int i = 0; i < N; i++)
        x[i] = 280.0 + 5.0 * rnd_normal();
    ps_moments *m = new_state(PS_FLOAT64, 0, NULL, 0);
    CHECK(ps_moments_update(m, x, N, 8, 8) == PS_OK);
    blob b = serialize(m);
    double mean, m2, mn, mx;
    memcpy(&mean, b.bytes + MEAN, 8);
    memcpy(&m2, b.bytes + M2, 8);
    memcpy(&mn, b.bytes + MN, 8);
    memcpy(&mx, b.bytes + MX, 8);
    CHECK(mn > 250.0 && mx < 310.0 && mn < mean && mean < mx && m2 > 0.0);
    CHECK(load_edited(b, MEAN, bits_of(mean)) == PS_OK); /* unchanged: loads */
    CHECK(load_edited(b, M2, bits_of(-1.0)) == PS_ERR_CORRUPT);
    CHECK(load_edited(b, M2, bits_of(-0.0 - 1e-300)) == PS_ERR_CORRUPT);
    CHECK(load_edited(b, M2, bits_of(2048.0 * (mx - mn) * (mx - mn))) == PS_ERR_CORRUPT);
    CHECK(load_edited(b, M2, bits_of(INFINITY)) == PS_ERR_CORRUPT);
    CHECK(load_edited(b, M2, bits_of(NAN)) == PS_ERR_CORRUPT);
    CHECK(load_edited(b, M2, bits_of(0.0)) == PS_OK); /* possible (a 2-point mix) */
    CHECK(load_edited(b, MEAN, bits_of(mn - 1.0)) == PS_ERR_CORRUPT);
    CHECK(load_edited(b, MEAN, bits_of(mx + 1.0)) == PS_ERR_CORRUPT);
    CHECK(load_edited(b, MEAN, bits_of(nextafter(mx, 0.0))) == PS_OK);
    CHECK(load_edited(b, MEAN, bits_of(INFINITY)) == PS_ERR_CORRUPT);
    CHECK(load_edited(b, MEAN, bits_of(NAN)) == PS_ERR_CORRUPT);
    CHECK(load_edited(b, MN, bits_of(mx + 1.0)) == PS_ERR_CORRUPT); /* min > max */
    CHECK(load_edited(b, MN, bits_of(NAN)) == PS_ERR_CORRUPT);
    CHECK(load_edited(b, MX, bits_of(-INFINITY)) == PS_ERR_CORRUPT);
    CHECK(load_edited(b, MX, bits_of(INFINITY)) == PS_ERR_CORRUPT); /* finite mean */
    CHECK(load_edited(b, SUM, bits_of(0.0)) == PS_ERR_CORRUPT);
    CHECK(load_edited(b, SUM, bits_of(1e300)) == PS_ERR_CORRUPT);
    CHECK(load_edited(b, NN, 2047) == PS_ERR_CORRUPT); /* n + nan != span */
    CHECK(load_edited(b, IHI, 1) == PS_ERR_CORRUPT);  /* integer fields of floats */
    CHECK(load_edited(b, IMIN, 5) == PS_ERR_CORRUPT);
    CHECK(load_edited(b, 36, 5) == PS_ERR_CORRUPT);   /* first_nan: no NaN anywhere */
    free(b.bytes);
    ps_moments_free(m);

    /* int32: exact sums and extremes */
    int32_t *v = malloc(N * sizeof *v);
    for (int i = 0; i < N; i++)
        v[i] = (int32_t)(rnd() % 2000) - 1000;
    m = new_state(PS_INT32, 0, NULL, 0);
    CHECK(ps_moments_update(m, v, N, 4, 4) == PS_OK);
    b = serialize(m);
    CHECK(load_edited(b, IHI, 0) == PS_OK || load_edited(b, IHI, (uint64_t)-1) == PS_OK);
    CHECK(load_edited(b, S + 64, (uint64_t)1 << 62) == PS_ERR_CORRUPT); /* ilo */
    CHECK(load_edited(b, IHI, 5) == PS_ERR_CORRUPT);
    CHECK(load_edited(b, IMIN, (uint64_t)INT32_MIN - 1) == PS_ERR_CORRUPT);
    CHECK(load_edited(b, IMIN, 5000) == PS_ERR_CORRUPT);     /* imin > imax */
    CHECK(load_edited(b, S + 80, (uint64_t)-3000) == PS_ERR_CORRUPT); /* imax < imin */
    CHECK(load_edited(b, MN, bits_of(-2000.0)) == PS_ERR_CORRUPT);   /* != (double)imin */
    CHECK(load_edited(b, M2, bits_of(-5.0)) == PS_ERR_CORRUPT);
    free(b.bytes);
    ps_moments_free(m);
    free(v);

    /* possible extremes: every one loads and saves to the same bytes */
    const double big = 1.7976931348623157e308;
    for (int kind = 0; kind < 8; kind++) {
        for (int i = 0; i < N; i++) {
            double y = 0.0;
            switch (kind) {
            case 0: y = INFINITY; break;
            case 1: y = -INFINITY; break;
            case 2: y = i % 2 ? big : -big; break;
            case 3: y = i < 1500 ? big : 1.0; break;
            case 4: y = i % 3 ? 1e200 : -1e200; break;
            case 5: y = i == 7 ? INFINITY : i == 2000 ? -INFINITY : 1.0; break;
            case 6: y = i < 2040 ? NAN : 2.0; break;
            default: y = (double)(i / 1024 % 2); break; /* the Popoviciu bound */
            }
            x[i] = y;
        }
        for (int start = 0; start < 3; start++) {
            ps_moments *e = new_state(PS_FLOAT64, 0, NULL, start * 1021);
            CHECK(ps_moments_update(e, x, N, 8, 8) == PS_OK);
            blob eb = serialize(e);
            ps_moments *back = NULL;
            CHECK_CTX(ps_moments_deserialize(&back, eb.bytes, eb.size) == PS_OK,
                      "extreme data set %d, start %d", kind, start * 1021);
            if (back) {
                blob c = serialize(back);
                CHECK(same_blob(eb, c));
                free(c.bytes);
            }
            ps_moments_free(back);
            free(eb.bytes);
            ps_moments_free(e);
        }
    }
    free(x);
}

int main(int argc, char **argv)
{
    int fingerprint_only = argc > 1 && strcmp(argv[1], "--fingerprint") == 0;
    uint64_t fp = 0;
    enum { N = 20000 };
    double *f64 = malloc(N * 8 * sizeof *f64);
    float *f32 = malloc(N * sizeof *f32);
    int64_t *i64 = malloc(N * sizeof *i64);
    uint16_t *u16 = malloc(N * sizeof *u16);
    for (int i = 0; i < N * 8; i++)
        f64[i] = rnd_normal() * 1e3 + 1e6;
    for (int i = 0; i < N; i++) {
        f32[i] = (float)rnd_normal();
        i64[i] = (int64_t)rnd();
        u16[i] = (uint16_t)rnd();
    }
    f64[777] = NAN;
    f32[12345] = NAN;

    test_chunk_invariance(PS_FLOAT64, 8, 1, N, (const char *)f64, &fp);
    test_chunk_invariance(PS_FLOAT64, 8, 3, N, (const char *)f64, &fp);
    test_chunk_invariance(PS_FLOAT64, 8, 2000, 40, (const char *)f64, &fp);
    test_chunk_invariance(PS_FLOAT32, 4, 1, N, (const char *)f32, &fp);
    test_chunk_invariance(PS_INT64, 8, 1, N, (const char *)i64, &fp);
    test_chunk_invariance(PS_UINT16, 2, 1, N, (const char *)u16, &fp);
    test_chunk_invariance(PS_INT64, 8, 5, N / 5, (const char *)i64, &fp);
    for (int rep = 0; rep < 20; rep++) {
        test_partition_invariance(PS_FLOAT64, 8, (const char *)f64, N);
        test_partition_invariance(PS_FLOAT32, 4, (const char *)f32, N);
        test_partition_invariance(PS_INT64, 8, (const char *)i64, N);
    }
    test_serialization_fuzz();
    test_checksum_basis();
    test_hostile_states();
    test_integers();
    test_nan_inf_constant();
    test_merge_first_nan();
    test_errors();
    test_strided();

    free(f64);
    free(f32);
    free(i64);
    free(u16);
    if (fingerprint_only) {
        printf("%016llx\n", (unsigned long long)fp);
        return failed != 0;
    }
    return report();
}
