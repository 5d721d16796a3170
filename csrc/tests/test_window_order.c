/*
 * C unit tests of window_order.c (moving median / quantile / rank).
 *
 * Every output is compared bit for bit with a naive reference (copy the
 * window's non-NaN values, qsort them in IEEE total order, apply numpy's
 * median / "linear" quantile formulas, bottleneck's move_rank loop), for
 * several chunkings of the same input.  Build with -DPS_ORDER_SORTED_MAX=0
 * to run the double heaps on every window size, with -DPS_ORDER_PASS_MAX=0
 * to run the sorted array's searches + memmove on every window up to
 * PS_ORDER_SORTED_MAX, or with -DPS_ORDER_PASS_MAX=1000 to run its one-pass
 * update on every window up to PS_ORDER_SORTED_MAX.  On CPUs with AVX-512F
 * the AVX-512 pass takes windows up to PS_ORDER_VPASS_MAX (default 288)
 * first: -DPS_ORDER_VPASS_MAX=0 (or -DPS_NO_AVX512) turns it off, a large
 * value runs it on every sorted window.
 *
 * Prints "N passed, M failed" and exits non-zero on failure.
 */
#include "stage_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SANITIZE_ADDRESS__
/* Let impossible allocations fail with NULL instead of aborting. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
#endif

static long passed, failed;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (cond) {                                                            \
            passed++;                                                          \
        } else {                                                               \
            failed++;                                                          \
            if (failed < 20)                                                   \
                fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,         \
                        __LINE__, #cond);                                      \
        }                                                                      \
    } while (0)

/* xorshift64*: deterministic test data without libc's rand(). */
static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}
static double rnd_unit(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

/* ------------------------------------------------------------------------ */
/* Reference                                                                 */

static uint64_t bits(double x)
{
    uint64_t u;
    memcpy(&u, &x, 8);
    return u;
}

/* IEEE total order on non-NaN doubles: -0.0 < +0.0. */
static int cmp_total(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    if (a < b)
        return -1;
    if (a > b)
        return 1;
    if (a == 0.0 && b == 0.0) {
        int sa = signbit(a) != 0, sb = signbit(b) != 0;
        return sb - sa;
    }
    return 0;
}

static double ref_median(const double *s, int64_t c)
{
    if (c % 2)
        return s[c / 2];
    return (s[c / 2 - 1] + s[c / 2]) / 2.0;
}

/* np.quantile(s, q) (method "linear") for sorted non-NaN s. */
static double ref_quantile(const double *s, int64_t c, double q)
{
    double h = (double)(c - 1) * q, a, b, t, diff;
    if (h >= (double)(c - 1)) {
        a = b = s[c - 1];
        t = h - (-1.0);
    } else {
        double lo = floor(h);
        a = s[(int64_t)lo];
        b = s[(int64_t)lo + 1];
        t = h - lo;
    }
    diff = b - a;
    if (t >= 0.5)
        return b - diff * (1 - t);
    return a + diff * t;
}

/* bottleneck's MOVE_RANK over win[0..m), the newest value last. */
static double ref_rank(const double *win, int64_t m, int64_t min_count)
{
    double ai = win[m - 1], g = 0, e = 1, n = 1, r;
    if (ai != ai)
        return NAN;
    for (int64_t j = 0; j < m - 1; j++) {
        double aj = win[j];
        if (aj == aj) {
            n++;
            if (ai > aj)
                g += 2;
            else if (ai == aj)
                e++;
        }
    }
    if (n < (double)min_count)
        return NAN;
    if (n == 1)
        return 0.0;
    r = 0.5 * (g + e - 1.0);
    r = r / (n - 1.0);
    return 2.0 * (r - 0.5);
}

static const double QS[] = {0.0, 0.1, 0.25, 0.5, 0.9, 1.0, 1.0 / 3.0};
#define NQ ((int)(sizeof QS / sizeof QS[0]))

/* A test variant: kind (+ q index) and min_count. */
typedef struct {
    int kind;
    int qi;
    int64_t mc;
} variant;

static int same(double a, double b)
{
    if (a != a || b != b)
        return a != a && b != b;
    return bits(a) == bits(b);
}

/* Reference outputs ref[v][i * width + j] for every variant at once (one
   sort per window). */
static void reference(const double *x, int64_t n, int64_t width, int64_t w,
                      int policy, const variant *vs, int nv, double **ref)
{
    const int64_t wn = w < n ? w : n;
    double *win = malloc((size_t)wn * 8), *s = malloc((size_t)wn * 8);
    for (int64_t j = 0; j < width; j++)
        for (int64_t i = 0; i < n; i++) {
            int64_t first = i - w + 1 < 0 ? 0 : i - w + 1, m = i - first + 1, c = 0;
            int has_nan = 0;
            for (int64_t k = 0; k < m; k++) {
                double v = x[(first + k) * width + j];
                win[k] = v;
                if (v != v)
                    has_nan = 1;
                else
                    s[c++] = v;
            }
            qsort(s, (size_t)c, 8, cmp_total);
            for (int v = 0; v < nv; v++) {
                double r;
                if (policy == PS_NAN_PROPAGATE && has_nan)
                    r = NAN;
                else if (vs[v].kind == PS_MOVE_RANK)
                    r = ref_rank(win, m, vs[v].mc);
                else if (c < vs[v].mc)
                    r = NAN;
                else if (vs[v].kind == PS_MOVE_MEDIAN)
                    r = ref_median(s, c);
                else
                    r = ref_quantile(s, c, QS[vs[v].qi]);
                ref[v][i * width + j] = r;
            }
        }
    free(win);
    free(s);
}

enum { CHUNK_WHOLE, CHUNK_ONE, CHUNK_RANDOM, NCHUNK };

/* Run the kernel over x with the given chunking; outputs to out. */
static int run(const ps_stage_params *p, const double *x, int64_t n,
               int64_t width, int64_t start, int chunking, double *out)
{
    void *st = ps_family_order.create(p, width, start);
    int64_t i = 0;
    if (!st)
        return 0;
    while (i < n) {
        int64_t m, nout = -1;
        if (chunking == CHUNK_WHOLE)
            m = n;
        else if (chunking == CHUNK_ONE)
            m = 1;
        else
            m = (int64_t)(rnd() % (uint64_t)(rnd() % 4 == 0
                                                 ? 3 * (p->window < n ? p->window : n) + 2
                                                 : 5));
        if (m > n - i)
            m = n - i;
        ps_family_order.update(st, x + i * width, m, out + i * width, &nout);
        if (nout != m) {
            ps_family_order.destroy(st);
            return 0;
        }
        i += m;
    }
    ps_family_order.destroy(st);
    return 1;
}

enum { DATA_MIXED, DATA_TIES, DATA_CLEAN, DATA_EXTREME, NDATA };

static void gen(double *x, int64_t len, int type)
{
    static const double special[] = {INFINITY, -INFINITY, 0.0, -0.0, 1.0, -1.0};
    /* keys at the ends of the key range and around zero */
    static const double extreme[] = {INFINITY, -INFINITY, 0.0, -0.0,
                                     0x1p-1074, -0x1p-1074, 0x1.fffffffffffffp+1023,
                                     -0x1.fffffffffffffp+1023, NAN};
    for (int64_t i = 0; i < len; i++) {
        uint64_t r = rnd() % 100;
        if (type == DATA_TIES) {
            x[i] = r < 8 ? NAN : (double)((int64_t)(rnd() % 5) - 2);
            if (x[i] == 0.0 && rnd() % 2)
                x[i] = -0.0;
        } else if (type == DATA_EXTREME) {
            x[i] = extreme[rnd() % 9];
        } else if (type == DATA_MIXED) {
            if (r < 10)
                x[i] = NAN;
            else if (r < 16)
                x[i] = special[rnd() % 6];
            else if (r < 26 && i > 0)
                x[i] = x[rnd() % (uint64_t)i]; /* duplicate (maybe NaN) */
            else
                x[i] = (rnd_unit() - 0.5) * 100.0;
        } else {
            x[i] = (rnd_unit() - 0.5) * 1e6;
        }
    }
    /* occasional long NaN runs (count drops to 0 and back) */
    if (type != DATA_CLEAN && len > 20 && rnd() % 2) {
        int64_t a = (int64_t)(rnd() % (uint64_t)len), b = a + (int64_t)(rnd() % 40);
        for (int64_t i = a; i < b && i < len; i++)
            x[i] = NAN;
    }
}

/* n records (0: a length for w); huge windows (w > n) use min_counts 1, 2,
   n / 2 and w. */
static void test_config_n(int64_t w, int64_t n, int64_t width, int policy, int dtype,
                          int64_t start)
{
    variant vs[64 * (NQ + 2)];
    int nv = 0;
    int64_t mcs[64];
    int nmc = 0;
    double *x, *out, **ref;

    if (n == 0)
        n = w < 20 ? 150 : 3 * w + 37;
    if (w > n) {
        mcs[nmc++] = 1;
        mcs[nmc++] = 2;
        mcs[nmc++] = n / 2;
        mcs[nmc++] = w;
    } else if (w <= 12) {
        for (int64_t m = 1; m <= w; m++)
            mcs[nmc++] = m;
    } else {
        mcs[nmc++] = 1;
        mcs[nmc++] = 2;
        mcs[nmc++] = w / 2;
        mcs[nmc++] = w - 1;
        mcs[nmc++] = w;
    }
    for (int k = 0; k < nmc; k++) {
        vs[nv++] = (variant){PS_MOVE_MEDIAN, 0, mcs[k]};
        vs[nv++] = (variant){PS_MOVE_RANK, 0, mcs[k]};
        for (int qi = 0; qi < NQ; qi++)
            vs[nv++] = (variant){PS_MOVE_QUANTILE, qi, mcs[k]};
    }

    x = malloc((size_t)(n * width) * 8);
    out = malloc((size_t)(n * width) * 8);
    ref = malloc((size_t)nv * sizeof *ref);
    gen(x, n * width, dtype);
    for (int v = 0; v < nv; v++)
        ref[v] = malloc((size_t)(n * width) * 8);
    reference(x, n, width, w, policy, vs, nv, ref);

    for (int v = 0; v < nv; v++) {
        ps_stage_params p;
        memset(&p, 0, sizeof p);
        p.kind = vs[v].kind;
        p.nan_policy = policy;
        p.window = w;
        p.min_count = vs[v].mc;
        p.q = vs[v].kind == PS_MOVE_QUANTILE ? QS[vs[v].qi] : 0.5;
        for (int ch = 0; ch < NCHUNK; ch++) {
            int ok, bad = 0;
            int64_t first_bad = -1;
            for (int64_t i = 0; i < n * width; i++)
                out[i] = 12345.0;
            ok = run(&p, x, n, width, start, ch, out);
            CHECK(ok);
            for (int64_t i = 0; i < n * width; i++)
                if (!same(out[i], ref[v][i])) {
                    if (first_bad < 0)
                        first_bad = i;
                    bad++;
                }
            CHECK(bad == 0);
            if (bad && failed < 20)
                fprintf(stderr,
                        "  kind %d q %g w %lld mc %lld policy %d width %lld "
                        "data %d chunking %d: %d bad, first at %lld: %.17g vs "
                        "ref %.17g\n",
                        p.kind, p.q, (long long)w, (long long)p.min_count,
                        policy, (long long)width, dtype, ch, bad,
                        (long long)first_bad, out[first_bad],
                        ref[v][first_bad]);
        }
    }
    for (int v = 0; v < nv; v++)
        free(ref[v]);
    free(ref);
    free(x);
    free(out);
}

static void test_config(int64_t w, int64_t width, int policy, int dtype, int64_t start)
{
    test_config_n(w, 0, width, policy, dtype, start);
}

/* Huge windows over short streams: created at once (memory follows the
   records seen), fast (moving_rank counts over the records present), same
   outputs as the reference for every chunking; an update that cannot get
   its memory reports nout = -1 and changes nothing. */
static void test_huge(void)
{
    static const int64_t WS[] = {300000000, (int64_t)1 << 40, PS_WINDOW_MAX};
    for (int wi = 0; wi < 3; wi++)
        for (int policy = 0; policy < 2; policy++)
            for (int dtype = 0; dtype < NDATA; dtype++)
                test_config_n(WS[wi], 600, dtype == DATA_MIXED ? 3 : 1, policy, dtype,
                              wi * 1000003);
    {
        ps_stage_params p;
        memset(&p, 0, sizeof p);
        p.window = PS_WINDOW_MAX + 1;
        p.min_count = 1;
        p.kind = PS_MOVE_MEDIAN;
        p.q = 0.5;
        CHECK(ps_family_order.create(&p, 1, 0) == NULL);
    }
#ifdef __SANITIZE_ADDRESS__
    for (int kind = PS_MOVE_MEDIAN; kind <= PS_MOVE_RANK; kind++) {
        ps_stage_params p;
        double x[3] = {3.0, 1.0, 2.0}, out[3];
        int64_t nout = 0;
        void *st;
        memset(&p, 0, sizeof p);
        p.kind = kind;
        p.nan_policy = PS_NAN_OMIT;
        p.window = (int64_t)1 << 40;
        p.min_count = 1;
        p.q = 0.5;
        st = ps_family_order.create(&p, 1, 0);
        CHECK(st != NULL);
        if (!st)
            continue;
        ps_family_order.update(st, x, 1, out, &nout);
        CHECK(nout == 1 && out[0] == (kind == PS_MOVE_RANK ? 0.0 : 3.0));
        /* room for 2**40 records: not available (the input is not read) */
        ps_family_order.update(st, x, (int64_t)1 << 40, out, &nout);
        CHECK(nout == -1);
        ps_family_order.update(st, x + 1, 2, out + 1, &nout);
        CHECK(nout == 2);
        /* windows {3, 1} and {3, 1, 2} */
        if (kind == PS_MOVE_RANK)
            CHECK(out[1] == -1.0 && out[2] == 0.0);
        else
            CHECK(out[1] == 2.0 && out[2] == 2.0);
        ps_family_order.destroy(st);
    }
#endif
}

/* Hand-checked values (numpy / bottleneck outputs). */
static void test_known(void)
{
    ps_stage_params p;
    double x[] = {1.0, 2.0, 2.0, NAN, 0.0, -0.0, 3.0, INFINITY, 2.0};
    /* bn.move_rank(x, 4, min_count=1) */
    double rank[] = {0.0, 1.0, 0.5, NAN, -1.0, -0.5, 1.0, 1.0,
                     -0x1.5555555555556p-2};
    double out[9];
    int64_t nout;
    void *st;
    memset(&p, 0, sizeof p);
    p.kind = PS_MOVE_RANK;
    p.nan_policy = PS_NAN_OMIT;
    p.window = 4;
    p.min_count = 1;
    st = ps_family_order.create(&p, 1, 0);
    CHECK(st != NULL);
    if (!st)
        return;
    ps_family_order.update(st, x, 9, out, &nout);
    CHECK(nout == 9);
    for (int i = 0; i < 9; i++)
        CHECK(same(out[i], rank[i]));
    ps_family_order.destroy(st);

    /* np.quantile([1, inf], q) is NaN for every q; np.median is inf */
    {
        double y[] = {1.0, INFINITY};
        p.kind = PS_MOVE_QUANTILE;
        p.window = 2;
        p.q = 0.0;
        st = ps_family_order.create(&p, 1, 7);
        CHECK(st != NULL);
        if (!st)
            return;
        ps_family_order.update(st, y, 2, out, &nout);
        CHECK(out[0] == 1.0 && out[1] != out[1]);
        ps_family_order.destroy(st);
        p.kind = PS_MOVE_MEDIAN;
        st = ps_family_order.create(&p, 1, 7);
        CHECK(st != NULL);
        if (!st)
            return;
        ps_family_order.update(st, y, 2, out, &nout);
        CHECK(out[0] == 1.0 && out[1] == INFINITY);
        ps_family_order.destroy(st);
    }
}

int main(void)
{
    /* With AVX-512F, 1 .. 288: the AVX-512 pass (PS_ORDER_VPASS_MAX; edges
       of its vectors at 8, 9, 15, 16, 17, 24, 25, 64, 65); without, 1 .. 16:
       the scalar one-pass update (PS_ORDER_PASS_MAX); then binary searches
       + memmove up to 512; 1000: the heaps (PS_ORDER_SORTED_MAX). */
    static const int64_t windows[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                      15, 16, 17, 24, 25, 64, 65, 100, 287,
                                      288, 289, 1000};
    test_known();
    test_huge();
    for (size_t k = 0; k < sizeof windows / sizeof windows[0]; k++)
        for (int64_t width = 1; width <= 3; width += 2)
            for (int policy = 0; policy < 2; policy++)
                for (int dtype = 0; dtype < NDATA; dtype++) {
                    if (windows[k] >= 287 && width == 3 &&
                        (dtype == DATA_CLEAN || dtype == DATA_EXTREME))
                        continue;
                    test_config(windows[k], width, policy, dtype,
                                (windows[k] + width + dtype) % 2 ? 0 : 1000003);
                }
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed != 0;
}
