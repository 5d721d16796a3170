/*
 * C unit tests of the DDSketch (csrc/ddsketch.c).  Run under ASan + UBSan:
 *
 *   gcc -std=c11 -Wall -Wextra -Werror -ffp-contract=off \
 *       -fsanitize=address,undefined -fno-sanitize-recover=undefined \
 *       -fno-omit-frame-pointer -g -O1 -Icsrc csrc/tests/test_ddsketch.c \
 *       csrc/ddsketch.c -lm -o build/ctest/test_ddsketch
 *
 * (and again with -DPS_NO_AVX2 / -DPS_NO_SIMD: `--fingerprint` must print
 * the same line for every build, i.e. the AVX2 and portable pass 1 give
 * bit-identical sketches).
 *
 * Checks: the relative-error bound of every bucket value on hard inputs
 * (bucket boundaries found by bisection, powers of two and their
 * neighbours, the ends of the float64 range) for several alphas; quantiles
 * against a sorted copy; bit-identical serialized state for any chunking
 * and merge order (with and without collapse); every dtype and layout;
 * special values; the memory bound; serialization round trips, truncation
 * at every length, byte flips and forged checksums; merge errors.
 */
#include "ddsketch.h"
#include "serial.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testkit.h"

static ps_ddsketch *make(double alpha, int64_t mb)
{
    ps_ddsketch *s = NULL;
    int st = ps_ddsketch_new(&s, alpha, mb);
    CHECK(st == PS_OK && s != NULL);
    return s;
}

static void add(ps_ddsketch *s, const double *x, int64_t n)
{
    CHECK(ps_ddsketch_update(s, x, n, 1, 8, 8, PS_FLOAT64) == PS_OK);
}

typedef struct {
    uint8_t *b;
    size_t n;
} blob;

static blob ser(const ps_ddsketch *s)
{
    blob r = {NULL, 0};
    size_t size = 0;
    CHECK(ps_ddsketch_serialize(s, NULL, 0, &size) == PS_OK);
    r.b = malloc(size);
    r.n = size;
    CHECK(ps_ddsketch_serialize(s, r.b, size, &size) == PS_OK && size == r.n);
    if (size > 1) {
        size_t small = 0;
        CHECK(ps_ddsketch_serialize(s, r.b, size - 1, &small) == PS_ERR_BUFSIZE);
    }
    return r;
}

static int same_state(const ps_ddsketch *a, const ps_ddsketch *b)
{
    blob x = ser(a), y = ser(b);
    int same = x.n == y.n && memcmp(x.b, y.b, x.n) == 0;
    free(x.b);
    free(y.b);
    return same;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double next_up(double x) { return nextafter(x, INFINITY); }
static double next_down(double x) { return nextafter(x, 0.0); }

/* ---- the bound on hard inputs ------------------------------------------ */

/* smallest positive normal double whose index is >= i (bisection on the
   bit patterns; positive doubles order like their bits) */
static double boundary(const ps_ddsketch *s, int64_t i)
{
    uint64_t lo = 0x0010000000000000ull, hi = 0x7fefffffffffffffull;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        double x;
        memcpy(&x, &mid, 8);
        if (ps_ddsketch_index(s, x) >= i)
            hi = mid;
        else
            lo = mid + 1;
    }
    double r;
    memcpy(&r, &lo, 8);
    return r;
}

static double worst;

static void check_value(const ps_ddsketch *s, double x, double alpha)
{
    int64_t i = ps_ddsketch_index(s, x);
    double v = ps_ddsketch_bucket_value(s, i);
    CHECK(i >= 0);
    CHECK(ps_ddsketch_index(s, -x) == i);
    if (isinf(v)) { /* only the bucket whose upper bound passes DBL_MAX */
        CHECK(x >= 0x1p1023);
        return;
    }
    CHECK_CTX(fabs(v - x) <= alpha * x, "alpha %g x %.17g v %.17g rel %.3g", alpha, x, v,
              fabs(v - x) / x);
    if (fabs(v - x) / x > worst)
        worst = fabs(v - x) / x;
}

static void test_bound(void)
{
    const double alphas[] = {1e-5, 1e-4, 1e-3, 0.01, 0.05, 0.2, 1.0 / 3.0, 0.5};
    for (size_t a = 0; a < sizeof alphas / sizeof *alphas; a++) {
        double alpha = alphas[a];
        ps_ddsketch *s = make(alpha, 2048);
        int64_t bottom = ps_ddsketch_index(s, DBL_MIN);
        int64_t top = ps_ddsketch_index(s, DBL_MAX);
        int64_t prev = -1;
        worst = 0;
        CHECK(ps_ddsketch_index(s, 0.0) == -1 && ps_ddsketch_index(s, 4e-320) == -1);
        CHECK(ps_ddsketch_index(s, INFINITY) == -1 && ps_ddsketch_index(s, NAN) == -1);
        /* powers of two and neighbours, with monotonicity along them */
        for (int e = -1022; e <= 1023; e++) {
            double p = ldexp(1.0, e);
            int64_t i = ps_ddsketch_index(s, p);
            CHECK(i >= prev);
            prev = i;
            check_value(s, p, alpha);
            check_value(s, next_up(p), alpha);
            if (e > -1022)
                check_value(s, next_down(p), alpha);
        }
        /* bucket boundaries: near the bottom, near the top, random */
        for (int k = 0; k < 3000; k++) {
            int64_t i;
            if (k < 300)
                i = bottom + 1 + k;
            else if (k < 600)
                i = top - (k - 300);
            else
                i = bottom + 1 + (int64_t)(rnd() % (uint64_t)(top - bottom));
            if (i <= bottom || i > top)
                continue;
            double b = boundary(s, i);
            CHECK(ps_ddsketch_index(s, b) == i);
            CHECK(ps_ddsketch_index(s, next_down(b)) == i - 1);
            check_value(s, b, alpha);
            check_value(s, next_down(b), alpha);
            check_value(s, next_up(b), alpha);
        }
        /* random normal doubles over the whole range */
        for (int k = 0; k < 20000; k++) {
            uint64_t u = (rnd() & 0x000fffffffffffffull) |
                         ((uint64_t)(1 + rnd() % 2046) << 52);
            double x;
            memcpy(&x, &u, 8);
            check_value(s, x, alpha);
        }
        check_value(s, DBL_MIN, alpha);
        check_value(s, DBL_MAX, alpha);
        /* the bound is nearly attained: the analysis is tight */
        CHECK_CTX(worst > 0.9 * alpha && worst <= alpha, "alpha %g worst %.17g", alpha, worst);
        ps_ddsketch_free(s);
    }
}

/* ---- quantiles against a sorted copy ------------------------------------ */

static double *gen(int kind, int64_t n)
{
    double *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++) {
        double u = rnd_unit();
        switch (kind) {
        case 0: x[i] = u; break;                                   /* uniform */
        case 1: x[i] = rnd_normal(); break;                        /* normal */
        case 2: x[i] = exp(3 * rnd_normal()); break;               /* lognormal */
        case 3: x[i] = tan(3.141592653589793 * (u - 0.5)); break;  /* cauchy */
        case 4: x[i] = (double)(rnd() % 13) - 4.0; break;          /* duplicates, zeros */
        default:                                                   /* specials */
            x[i] = u < 0.02 ? NAN : u < 0.03 ? INFINITY : u < 0.04 ? -INFINITY
                 : u < 0.1 ? -0.0 : u < 0.12 ? 3e-310 : 100 * rnd_normal();
        }
    }
    return x;
}

static void test_quantiles(void)
{
    const int64_t n = 200000;
    for (int kind = 0; kind <= 5; kind++) {
        double *x = gen(kind, n), *sorted = malloc((size_t)n * sizeof(double));
        int64_t m = 0;
        double q[1001], got[1001];
        ps_ddsketch *s = make(0.01, 2048);
        for (int64_t i = 0; i < n;) {
            int64_t k = 1 + (int64_t)(rnd() % 5000);
            if (k > n - i)
                k = n - i;
            add(s, x + i, k);
            i += k;
        }
        for (int64_t i = 0; i < n; i++)
            if (!isnan(x[i]))
                sorted[m++] = x[i];
        qsort(sorted, (size_t)m, sizeof(double), cmp_double);
        CHECK(ps_ddsketch_count(s) == (uint64_t)m);
        CHECK(ps_ddsketch_nan_count(s) == (uint64_t)(n - m));
        CHECK(ps_ddsketch_min(s) == sorted[0] && ps_ddsketch_max(s) == sorted[m - 1]);
        for (int k = 0; k <= 1000; k++)
            q[k] = k / 1000.0;
        CHECK(ps_ddsketch_quantiles(s, q, 1001, got) == PS_OK);
        for (int k = 0; k <= 1000; k++) {
            double want = sorted[(int64_t)floor((double)(m - 1) * q[k])];
            if (want != 0 && fabs(want) < DBL_MIN) {
                CHECK(got[k] == 0.0); /* subnormals count as zeros */
                continue;
            }
            if (isinf(want))
                CHECK(got[k] == want);
            else
                CHECK_CTX(fabs(got[k] - want) <= 0.01 * fabs(want),
                          "kind %d q %g got %.17g want %.17g", kind, q[k], got[k], want);
        }
        CHECK(got[0] == sorted[0] && got[1000] == sorted[m - 1]);
        fp_mix(got, sizeof got);
        /* ranks: monotone, 0 below min, 1 at max */
        {
            double v[3] = {sorted[0] - 1.0, sorted[m / 2], sorted[m - 1]}, r[3];
            CHECK(ps_ddsketch_ranks(s, v, 3, r) == PS_OK);
            if (!isinf(sorted[0]))
                CHECK(r[0] == 0.0);
            CHECK(r[1] >= 0.0 && r[1] <= 1.0 && r[2] == 1.0);
        }
        ps_ddsketch_free(s);
        free(x);
        free(sorted);
    }
    /* argument checks */
    {
        ps_ddsketch *s = make(0.01, 10);
        double q = 1.5, out = 7.0, nanq = NAN;
        CHECK(ps_ddsketch_quantiles(s, &q, 1, &out) == PS_ERR_ARG && out == 7.0);
        CHECK(ps_ddsketch_quantiles(s, &nanq, 1, &out) == PS_ERR_ARG);
        q = 0.5;
        CHECK(ps_ddsketch_quantiles(s, &q, 1, &out) == PS_OK && isnan(out)); /* empty */
        CHECK(ps_ddsketch_ranks(s, &q, 1, &out) == PS_OK && isnan(out));
        CHECK(isnan(ps_ddsketch_min(s)) && isnan(ps_ddsketch_max(s)));
        ps_ddsketch_free(s);
    }
}

/* ---- invariance --------------------------------------------------------- */

static void test_invariance(void)
{
    const int64_t n = 100000;
    const int64_t mbs[] = {1, 5, 64, 2048};
    for (int kind = 1; kind <= 5; kind++) {
        double *x = gen(kind, n);
        for (size_t t = 0; t < sizeof mbs / sizeof *mbs; t++) {
            ps_ddsketch *whole = make(0.02, mbs[t]);
            ps_ddsketch *parts[16];
            int np = 0;
            add(whole, x, n);
            /* chunked, one value at a time for a stretch */
            {
                ps_ddsketch *c = make(0.02, mbs[t]);
                int64_t i = 0;
                for (; i < 3000; i++)
                    add(c, x + i, 1);
                while (i < n) {
                    int64_t k = 1 + (int64_t)(rnd() % 3000);
                    if (k > n - i)
                        k = n - i;
                    add(c, x + i, k);
                    i += k;
                }
                CHECK(same_state(c, whole));
                ps_ddsketch_free(c);
            }
            /* reversed order */
            {
                ps_ddsketch *c = make(0.02, mbs[t]);
                CHECK(ps_ddsketch_update(c, x + n - 1, n, 1, -8, -8, PS_FLOAT64) == PS_OK);
                CHECK(same_state(c, whole));
                ps_ddsketch_free(c);
            }
            /* partitions merged in a random order */
            {
                int64_t i = 0;
                while (i < n && np < 16) {
                    int64_t k = np == 15 ? n - i : 1 + (int64_t)(rnd() % 15000);
                    if (k > n - i)
                        k = n - i;
                    parts[np] = make(0.02, mbs[t]);
                    add(parts[np], x + i, k);
                    np++;
                    i += k;
                }
                while (np > 1) {
                    int a = (int)(rnd() % (uint64_t)np), b = (int)(rnd() % (uint64_t)(np - 1));
                    if (b >= a)
                        b++;
                    CHECK(ps_ddsketch_merge(parts[a], parts[b]) == PS_OK);
                    ps_ddsketch_free(parts[b]);
                    parts[b] = parts[np - 1];
                    np--;
                }
                CHECK(same_state(parts[0], whole));
                ps_ddsketch_free(parts[0]);
            }
            /* the memory bound */
            {
                int64_t lo, nb;
                for (int g = 0; g < 2; g++) {
                    CHECK(ps_ddsketch_buckets(whole, g, &lo, &nb, NULL, 0) == PS_OK);
                    CHECK(nb <= mbs[t]);
                }
                CHECK(ps_ddsketch_allocated(whole) <= 2 * 2 * mbs[t] * 8);
            }
            {
                blob b = ser(whole);
                fp_mix(b.b, b.n);
                free(b.b);
            }
            ps_ddsketch_free(whole);
        }
        free(x);
    }
    /* self-merge doubles every count */
    {
        double x[4] = {1, 2, -3, 0};
        ps_ddsketch *a = make(0.01, 100), *b = make(0.01, 100);
        add(a, x, 4);
        add(b, x, 4);
        add(b, x, 4);
        CHECK(ps_ddsketch_merge(a, a) == PS_OK);
        CHECK(same_state(a, b));
        ps_ddsketch_free(a);
        ps_ddsketch_free(b);
    }
}

/* ---- dtypes and layouts ------------------------------------------------- */

static void test_dtypes(void)
{
    enum { R = 257, C = 5 };
    int64_t i8[R][C];
    double ref[R * C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            i8[r][c] = (int64_t)(rnd() % 255) - 127;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            ref[r * C + c] = (double)i8[r][c];
#define CHECK_TYPE(T, CODE, CONV)                                                         \
    do {                                                                                  \
        T a[R][C];                                                                        \
        T col[R];                                                                         \
        double refc[R];                                                                   \
        for (int r = 0; r < R; r++)                                                       \
            for (int c = 0; c < C; c++)                                                   \
                a[r][c] = (T)CONV(i8[r][c]);                                              \
        ps_ddsketch *x = make(0.01, 2048), *y = make(0.01, 2048);                         \
        double tmp[R * C];                                                                \
        for (int k = 0; k < R * C; k++)                                                   \
            tmp[k] = (double)a[k / C][k % C];                                             \
        add(x, tmp, R * C);                                                               \
        /* 2-D contiguous, then 2-D transposed (strides swapped) */                       \
        CHECK(ps_ddsketch_update(y, a, R, C, sizeof a[0], sizeof(T), CODE) == PS_OK);     \
        CHECK(same_state(x, y));                                                          \
        ps_ddsketch_free(y);                                                              \
        y = make(0.01, 2048);                                                             \
        CHECK(ps_ddsketch_update(y, a, C, R, sizeof(T), sizeof a[0], CODE) == PS_OK);     \
        CHECK(same_state(x, y));                                                          \
        ps_ddsketch_free(y);                                                              \
        /* one column, negative stride */                                                 \
        for (int r = 0; r < R; r++) {                                                     \
            col[r] = a[r][2];                                                             \
            refc[r] = (double)a[r][2];                                                    \
        }                                                                                 \
        ps_ddsketch_free(x);                                                              \
        x = make(0.01, 2048);                                                             \
        add(x, refc, R);                                                                  \
        y = make(0.01, 2048);                                                             \
        CHECK(ps_ddsketch_update(y, &a[R - 1][2], R, 1, -(ptrdiff_t)sizeof a[0],          \
                                 sizeof(T), CODE) == PS_OK);                              \
        CHECK(same_state(x, y));                                                          \
        ps_ddsketch_free(y);                                                              \
        y = make(0.01, 2048);                                                             \
        CHECK(ps_ddsketch_update(y, col, R, 1, sizeof(T), sizeof(T), CODE) == PS_OK);     \
        CHECK(same_state(x, y));                                                          \
        ps_ddsketch_free(x);                                                              \
        ps_ddsketch_free(y);                                                              \
    } while (0)
#define SAME(v) (v)
#define ABS(v) ((v) < 0 ? -(v) : (v))
#define BOOLV(v) ((v) > 0)
    CHECK_TYPE(uint8_t, PS_BOOL, BOOLV);
    CHECK_TYPE(int8_t, PS_INT8, SAME);
    CHECK_TYPE(uint8_t, PS_UINT8, ABS);
    CHECK_TYPE(int16_t, PS_INT16, 250 * SAME);
    CHECK_TYPE(uint16_t, PS_UINT16, 500 * ABS);
    CHECK_TYPE(int32_t, PS_INT32, 16000000 * SAME);
    CHECK_TYPE(uint32_t, PS_UINT32, 33000000u * ABS);
    CHECK_TYPE(int64_t, PS_INT64, 72000000000000000ll * SAME);
    CHECK_TYPE(uint64_t, PS_UINT64, 145000000000000000ull * ABS);
    CHECK_TYPE(float, PS_FLOAT32, 0.37f * SAME);
    CHECK_TYPE(double, PS_FLOAT64, 1e-300 * SAME);
    (void)ref;
    /* argument errors */
    {
        ps_ddsketch *s = make(0.01, 10);
        double v = 1;
        CHECK(ps_ddsketch_update(s, &v, 1, 1, 8, 8, 99) == PS_ERR_DTYPE);
        CHECK(ps_ddsketch_update(s, &v, -1, 1, 8, 8, PS_FLOAT64) == PS_ERR_ARG);
        CHECK(ps_ddsketch_update(s, &v, 1, 0, 8, 8, PS_FLOAT64) == PS_ERR_ARG);
        CHECK(ps_ddsketch_update(s, NULL, 1, 1, 8, 8, PS_FLOAT64) == PS_ERR_ARG);
        CHECK(ps_ddsketch_update(s, NULL, 0, 1, 8, 8, PS_FLOAT64) == PS_OK);
        CHECK(ps_ddsketch_count(s) == 0);
        ps_ddsketch_free(s);
    }
}

/* ---- special values ----------------------------------------------------- */

static void test_specials(void)
{
    double x[] = {NAN, -INFINITY, INFINITY, INFINITY, 0.0, -0.0, 5e-324, -1e-310,
                  2.0, -3.0};
    ps_ddsketch *s = make(0.01, 2048);
    double q[] = {0.0, 0.15, 0.3, 0.5, 0.8, 0.9, 1.0}, out[7];
    uint64_t c;
    int64_t lo, nb;
    add(s, x, 10);
    CHECK(ps_ddsketch_count(s) == 9 && ps_ddsketch_nan_count(s) == 1);
    CHECK(ps_ddsketch_zero_count(s) == 4);
    CHECK(ps_ddsketch_inf_count(s, 0) == 2 && ps_ddsketch_inf_count(s, 1) == 1);
    CHECK(ps_ddsketch_buckets(s, 0, &lo, &nb, &c, 1) == PS_OK && nb == 1 && c == 1);
    CHECK(ps_ddsketch_buckets(s, 1, &lo, &nb, &c, 1) == PS_OK && nb == 1 && c == 1);
    CHECK(ps_ddsketch_buckets(s, 1, &lo, &nb, &c, 0) == PS_ERR_BUFSIZE);
    CHECK(ps_ddsketch_quantiles(s, q, 7, out) == PS_OK);
    /* sorted: -inf -3 [0 0 0 0] 2 inf inf; rank floor(8 q) */
    CHECK(out[0] == -INFINITY);
    CHECK(fabs(out[1] + 3.0) <= 0.03);
    CHECK(out[2] == 0.0 && out[3] == 0.0);
    CHECK(fabs(out[4] - 2.0) <= 0.02);
    CHECK(out[5] == INFINITY && out[6] == INFINITY);
    fp_mix(out, sizeof out);
    ps_ddsketch_free(s);
    /* min / max canonical zero */
    s = make(0.01, 2048);
    {
        double z[] = {-0.0, 0.0};
        add(s, z, 1);
        CHECK(memcmp(&(double){ps_ddsketch_min(s)}, &(double){0.0}, 8) == 0);
        add(s, z + 1, 1);
    }
    ps_ddsketch_free(s);
}

/* ---- serialization ------------------------------------------------------ */

static void test_serialization(void)
{
    double *x = gen(5, 3000);
    ps_ddsketch *s = make(0.01, 64), *t = NULL, *e = make(0.05, 7);
    blob b, eb;
    add(s, x, 3000);
    b = ser(s);
    eb = ser(e);
    CHECK(ps_ddsketch_deserialize(&t, b.b, b.n) == PS_OK && t != NULL);
    CHECK(same_state(s, t));
    /* a loaded sketch keeps working */
    add(t, x, 3000);
    add(s, x, 3000);
    CHECK(same_state(s, t));
    ps_ddsketch_free(t);
    t = NULL;
    CHECK(ps_ddsketch_deserialize(&t, eb.b, eb.n) == PS_OK && same_state(t, e));
    ps_ddsketch_free(t);
    /* truncation at every length */
    for (size_t k = 0; k < b.n; k++) {
        t = (ps_ddsketch *)1;
        int st = ps_ddsketch_deserialize(&t, b.b, k);
        CHECK(st == PS_ERR_CORRUPT || st == PS_ERR_VERSION);
        CHECK(t == NULL);
    }
    /* every byte flipped */
    for (size_t k = 0; k < b.n; k++) {
        b.b[k] ^= 0x5a;
        t = NULL;
        int st = ps_ddsketch_deserialize(&t, b.b, b.n);
        CHECK(st == PS_ERR_CORRUPT || st == PS_ERR_VERSION);
        CHECK(t == NULL);
        b.b[k] ^= 0x5a;
    }
    /* forged checksums: random changes of the body, resealed.  Whatever is
       accepted must be a consistent state (serializes back to the same
       bytes and answers queries). */
    for (int trial = 0; trial < 20000; trial++) {
        uint8_t *f = malloc(b.n);
        uint64_t h;
        memcpy(f, b.b, b.n);
        f[16 + rnd() % (b.n - 24)] ^= (uint8_t)(1u << (rnd() % 8));
        h = ps_fnv1a(f, b.n - 8);
        for (int k = 0; k < 8; k++)
            f[b.n - 8 + (size_t)k] = (uint8_t)(h >> (8 * k));
        t = NULL;
        if (ps_ddsketch_deserialize(&t, f, b.n) == PS_OK) {
            blob again = ser(t);
            double q[3] = {0.0, 0.5, 1.0}, out[3];
            CHECK(again.n == b.n && memcmp(again.b, f, b.n) == 0);
            CHECK(ps_ddsketch_quantiles(t, q, 3, out) == PS_OK);
            CHECK(out[0] <= out[1] && out[1] <= out[2]);
            free(again.b);
            ps_ddsketch_free(t);
        } else {
            CHECK(t == NULL);
        }
        free(f);
    }
    /* merge errors */
    CHECK(ps_ddsketch_merge(s, e) == PS_ERR_MISMATCH);
    {
        ps_ddsketch *m = make(0.01, 65);
        CHECK(ps_ddsketch_merge(s, m) == PS_ERR_MISMATCH);
        ps_ddsketch_free(m);
    }
    /* overflow: a forged sketch holding 2**64 - 1 values */
    {
        ps_ddsketch *one = make(0.01, 64), *huge = NULL;
        double v = 1.0;
        blob ob;
        uint64_t h;
        add(one, &v, 1);
        ob = ser(one);
        for (int k = 0; k < 8; k++)
            ob.b[96 + k] = 0xff; /* first positive count */
        h = ps_fnv1a(ob.b, ob.n - 8);
        for (int k = 0; k < 8; k++)
            ob.b[ob.n - 8 + (size_t)k] = (uint8_t)(h >> (8 * k));
        CHECK(ps_ddsketch_deserialize(&huge, ob.b, ob.n) == PS_OK);
        CHECK(huge && ps_ddsketch_count(huge) == UINT64_MAX);
        if (huge) {
            CHECK(ps_ddsketch_merge(one, huge) == PS_ERR_OVERFLOW);
            CHECK(ps_ddsketch_count(one) == 1);
            ps_ddsketch_free(huge);
        }
        free(ob.b);
        ps_ddsketch_free(one);
    }
    /* parameters */
    {
        ps_ddsketch *p = (ps_ddsketch *)1;
        CHECK(ps_ddsketch_new(&p, 0.6, 10) == PS_ERR_ARG && p == NULL);
        CHECK(ps_ddsketch_new(&p, 1e-6, 10) == PS_ERR_ARG);
        CHECK(ps_ddsketch_new(&p, NAN, 10) == PS_ERR_ARG);
        CHECK(ps_ddsketch_new(&p, 0.01, 0) == PS_ERR_ARG);
        CHECK(ps_ddsketch_new(&p, 0.01, PS_DDSKETCH_MAX_BUCKETS_LIMIT + 1) == PS_ERR_ARG);
        CHECK(ps_ddsketch_new(NULL, 0.01, 10) == PS_ERR_ARG);
        ps_ddsketch_free(NULL);
    }
    free(b.b);
    free(eb.b);
    free(x);
    ps_ddsketch_free(s);
    ps_ddsketch_free(e);
}

int main(int argc, char **argv)
{
    int fp_only = argc > 1 && strcmp(argv[1], "--fingerprint") == 0;
    test_bound();
    test_quantiles();
    test_invariance();
    test_dtypes();
    test_specials();
    test_serialization();
    if (fp_only) {
        printf("%016llx %d failed\n", (unsigned long long)*fp_state(), failed);
        return failed != 0;
    }
    return report();
}
