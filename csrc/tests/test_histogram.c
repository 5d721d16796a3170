/*
 * C unit tests of the streaming histogram (csrc/histogram.c).  Run under
 * ASan + UBSan.
 *
 * The kernel is compared value by value with simple scalar references:
 * numpy's equal-width algorithm written out plainly (and, for sane inputs,
 * the "true" bin: the last edge <= x), and a linear scan for explicit
 * edges.  Data: normal values, every edge and its float neighbours, NaN and
 * +-inf, integers near the int64 / uint64 limits; layouts: contiguous,
 * strided, negative strides, 2-D records; any chunking; merges; serialized
 * round trips, and corrupt bytes (every truncation, every flipped byte,
 * forged fields with a valid checksum) that must be refused cleanly.
 *
 * Prints "N passed, M failed" and exits non-zero on failure.  With
 * --fingerprint it prints one hash of all results instead: builds with
 * -DPS_NO_AVX2 and -DPS_NO_SIMD must print the same (the SIMD index loops
 * are an optimisation, not a different algorithm).
 */
#include "histogram.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serial.h"
#include "testkit.h"

static uint64_t dbits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

/* ---- states and plans ------------------------------------------------------ */

/* numpy's linspace(lo, hi, n + 1) for float64: arange * step + lo, last = hi */
static void linspace(double lo, double hi, int64_t n, double *e)
{
    double step = (hi - lo) / (double)n;
    for (int64_t i = 0; i <= n; i++)
        e[i] = (double)i * step + lo;
    e[n] = hi;
}

/* Range state with float64 (or float32) edges e[0..n], typed. */
static ps_hist *range_state(double lo, double hi, int64_t n, const double *e, int f32)
{
    ps_hist_spec s;
    uint64_t *w = malloc((size_t)(n + 1) * sizeof *w);
    ps_hist *h = NULL;
    memset(&s, 0, sizeof s);
    s.kind = PS_HIST_RANGE;
    s.nbins = n;
    s.lo_tag = s.hi_tag = PS_HIST_PYFLOAT;
    s.lo_bits = dbits(lo);
    s.hi_bits = dbits(hi);
    s.edge_dtype = f32 ? PS_FLOAT32 : PS_FLOAT64;
    s.typed = 1;
    for (int64_t i = 0; i <= n; i++)
        w[i] = dbits(f32 ? (double)(float)e[i] : e[i]);
    CHECK(ps_hist_new(&h, &s, w) == PS_OK);
    free(w);
    return h;
}

static ps_hist_plan range_plan(int dtype, double lo, double hi, int64_t n, int t32, int r32)
{
    ps_hist_plan p;
    memset(&p, 0, sizeof p);
    p.dtype = dtype;
    p.lo_dom = p.hi_dom = p.t_dom = t32 ? PS_HDOM_F32 : PS_HDOM_F64;
    p.r_dom = r32 ? PS_HDOM_F32 : PS_HDOM_F64;
    p.lo_f = t32 ? (double)(float)lo : lo;
    p.hi_f = t32 ? (double)(float)hi : hi;
    p.first_t = p.lo_f;
    p.denom_r = r32 ? (double)((float)hi - (float)lo) : hi - lo;
    p.n_r = (double)n;
    return p;
}

/* Explicit-edges state; edges given as doubles (edge dtype float64). */
static ps_hist *edges_state(const double *e, int64_t n)
{
    ps_hist_spec s;
    uint64_t *w = malloc((size_t)(n + 1) * sizeof *w);
    ps_hist *h = NULL;
    memset(&s, 0, sizeof s);
    s.kind = PS_HIST_EDGES;
    s.nbins = n;
    s.lo_tag = s.hi_tag = PS_HIST_NOVALUE;
    s.edge_dtype = PS_FLOAT64;
    s.typed = 1;
    for (int64_t i = 0; i <= n; i++)
        w[i] = dbits(e[i]);
    CHECK(ps_hist_new(&h, &s, w) == PS_OK);
    free(w);
    return h;
}

/* A table guess like the Python layer builds (equal-width cells). */
typedef struct {
    int32_t *table;
    int64_t ntable;
} tab;

static tab linear_table(const double *e, int64_t n, int64_t cells, ps_hist_plan *p)
{
    tab t;
    t.ntable = cells;
    t.table = malloc((size_t)cells * sizeof *t.table);
    p->guess = PS_HGUESS_LINEAR;
    p->guess_a = e[0];
    p->guess_b = (double)cells / (e[n] - e[0]);
    for (int64_t c = 0; c < cells; c++) {
        double at = e[0] + (double)c / p->guess_b;
        int64_t i = 0;
        while (i + 1 < n && e[i + 1] <= at)
            i++;
        t.table[c] = (int32_t)i;
    }
    p->table = t.table;
    p->ntable = cells;
    return t;
}

/* ---- references ------------------------------------------------------------ */

/* Slots: bins 0..n-1, n = under, n+1 = over, n+2 = NaN. */
static int64_t ref_range_f64(double x, const double *e, int64_t n, double lo, double hi)
{
    double f;
    int64_t i;
    if (isnan(x))
        return n + 2;
    if (!(x >= lo))
        return n;
    if (!(x <= hi))
        return n + 1;
    f = ((x - lo) / (hi - lo)) * (double)n;
    i = (int64_t)f;
    if (i == n)
        i = n - 1;
    if (x < e[i])
        i--;
    if (x >= e[i + 1] && i != n - 1)
        i++;
    return i;
}

/* float32 values, float32 edges; R = float64 (r32 = 0) or float32 */
static int64_t ref_range_f32(float x, const float *e, int64_t n, float lo, float hi, int r32)
{
    int64_t i;
    float diff;
    if (isnan(x))
        return n + 2;
    if (!(x >= lo))
        return n;
    if (!(x <= hi))
        return n + 1;
    diff = x - lo;
    if (r32) {
        float denom = hi - lo;
        float f = (diff / denom) * (float)n;
        i = (int64_t)f;
    } else {
        double f = ((double)diff / ((double)hi - (double)lo)) * (double)n;
        i = (int64_t)f;
    }
    if (i >= n)
        i = n - 1;
    if (x < e[i])
        i--;
    if (x >= e[i + 1] && i != n - 1)
        i++;
    return i;
}

/* searchsorted semantics: last i < n with e[i] <= x, x in [e0, en]. */
static int64_t ref_edges(double x, const double *e, int64_t n)
{
    int64_t i = 0;
    if (isnan(x))
        return n + 2;
    if (x < e[0])
        return n;
    if (x > e[n])
        return n + 1;
    for (int64_t j = 0; j < n; j++)
        if (e[j] <= x)
            i = j;
    return i;
}

static int64_t true_bin(double x, const double *e, int64_t n) { return ref_edges(x, e, n); }

/* ---- running a state over data --------------------------------------------- */

static void result_slots(const ps_hist *h, int64_t *slots)
{
    int64_t n = ps_hist_nbins(h);
    CHECK(ps_hist_result(h, slots, slots + n) == PS_OK);
}

static int same_slots(const int64_t *a, const int64_t *b, int64_t n)
{
    for (int64_t i = 0; i < n + 3; i++)
        if (a[i] != b[i]) {
            fprintf(stderr, "  slot %lld: %lld vs %lld\n", (long long)i, (long long)a[i],
                    (long long)b[i]);
            return 0;
        }
    return 1;
}

enum { WHOLE, ONE, RANDOM, STRIDED, REVERSED, RECORDS, SPLIT_MERGE };

/* Feed `count` values of `isz` bytes at `x` (contiguous) through `plan`
   laid out in mode `mode`; returns the slots in `out` (n + 3). */
static void run_mode(ps_hist *proto, const ps_hist_plan *plan, const void *x, int64_t count,
                     size_t isz, int mode, int64_t *out)
{
    ps_hist *h = NULL;
    const char *bytes = x;
    int64_t n = ps_hist_nbins(proto);
    CHECK(ps_hist_copy(&h, proto) == PS_OK);
    switch (mode) {
    case WHOLE:
        CHECK(ps_hist_update(h, plan, x, count, 1, (ptrdiff_t)isz, (ptrdiff_t)isz) == PS_OK);
        break;
    case ONE:
        for (int64_t i = 0; i < count; i++)
            CHECK(ps_hist_update(h, plan, bytes + i * (int64_t)isz, 1, 1, 0, 0) == PS_OK);
        break;
    case RANDOM:
        for (int64_t i = 0; i < count;) {
            int64_t k = 1 + (int64_t)(rnd() % 700);
            if (k > count - i)
                k = count - i;
            CHECK(ps_hist_update(h, plan, bytes + i * (int64_t)isz, k, 1, (ptrdiff_t)isz,
                                 (ptrdiff_t)isz) == PS_OK);
            i += k;
        }
        break;
    case STRIDED: { /* every value at stride 3 * isz in a bigger buffer */
        char *buf = malloc((size_t)(count * 3 + 1) * isz);
        for (int64_t i = 0; i < count; i++)
            memcpy(buf + i * 3 * (int64_t)isz, bytes + i * (int64_t)isz, isz);
        CHECK(ps_hist_update(h, plan, buf, count, 1, (ptrdiff_t)(3 * isz), 0) == PS_OK);
        free(buf);
        break;
    }
    case REVERSED: /* negative stride from the last value */
        if (count > 0)
            CHECK(ps_hist_update(h, plan, bytes + (count - 1) * (int64_t)isz, count, 1,
                                 -(ptrdiff_t)isz, 0) == PS_OK);
        break;
    case RECORDS: { /* records of 3 values, transposed layout (not row-contiguous) */
        int64_t rows = count / 3, rest = count - rows * 3;
        char *buf = malloc((size_t)(count + 1) * isz);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < 3; j++)
                memcpy(buf + (j * rows + r) * (int64_t)isz, bytes + (r * 3 + j) * (int64_t)isz,
                       isz);
        CHECK(ps_hist_update(h, plan, buf, rows, 3, (ptrdiff_t)isz,
                             (ptrdiff_t)(rows * (int64_t)isz)) == PS_OK);
        CHECK(ps_hist_update(h, plan, bytes + rows * 3 * (int64_t)isz, rest, 1,
                             (ptrdiff_t)isz, 0) == PS_OK);
        free(buf);
        break;
    }
    default: { /* SPLIT_MERGE: three partitions merged in a shuffled order */
        ps_hist *parts[3] = {NULL, NULL, NULL};
        int64_t cut1 = count / 3, cut2 = count / 3 * 2, cuts[4] = {0, cut1, cut2, count};
        for (int k = 0; k < 3; k++) {
            CHECK(ps_hist_copy(&parts[k], proto) == PS_OK);
            CHECK(ps_hist_update(parts[k], plan, bytes + cuts[k] * (int64_t)isz,
                                 cuts[k + 1] - cuts[k], 1, (ptrdiff_t)isz,
                                 (ptrdiff_t)isz) == PS_OK);
        }
        CHECK(ps_hist_merge(parts[2], parts[0]) == PS_OK);
        CHECK(ps_hist_merge(h, parts[1]) == PS_OK);
        CHECK(ps_hist_merge(h, parts[2]) == PS_OK);
        for (int k = 0; k < 3; k++)
            ps_hist_free(parts[k]);
        break;
    }
    }
    result_slots(h, out);
    CHECK(ps_hist_total(h) == ps_hist_total(proto) + count);
    (void)n;
    ps_hist_free(h);
}

/* Every layout gives `want`; also fingerprinted. */
static void check_all_modes(ps_hist *proto, const ps_hist_plan *plan, const void *x,
                            int64_t count, size_t isz, const int64_t *want, const char *what)
{
    int64_t n = ps_hist_nbins(proto);
    int64_t *got = malloc((size_t)(n + 3) * sizeof *got);
    for (int mode = WHOLE; mode <= SPLIT_MERGE; mode++) {
        run_mode(proto, plan, x, count, isz, mode, got);
        CHECK_CTX(same_slots(got, want, n), "%s, mode %d", what, mode);
        if (mode == WHOLE)
            fp_mix(got, (size_t)(n + 3) * sizeof *got);
    }
    free(got);
}

/* ---- data ------------------------------------------------------------------ */

/* normal values, the edges, their neighbours, NaN / inf, in random order */
static double *make_values(const double *e, int64_t n, double lo, double hi, int64_t extra,
                           int64_t *count)
{
    int64_t m = 3 * (n + 1) + extra + 8, k = 0;
    double *x = malloc((size_t)m * sizeof *x);
    for (int64_t i = 0; i <= n; i++) {
        x[k++] = e[i];
        x[k++] = nextafter(e[i], INFINITY);
        x[k++] = nextafter(e[i], -INFINITY);
    }
    for (int64_t i = 0; i < extra; i++) {
        double u = rnd_unit();
        if (u < 0.01)
            x[k++] = NAN;
        else if (u < 0.02)
            x[k++] = rnd() & 1 ? INFINITY : -INFINITY;
        else
            x[k++] = lo + (hi - lo) * (0.5 + 0.25 * rnd_normal());
    }
    x[k++] = lo;
    x[k++] = hi;
    x[k++] = -0.0;
    x[k++] = 0.0;
    for (int64_t i = k - 1; i > 0; i--) { /* shuffle */
        int64_t j = (int64_t)(rnd() % (uint64_t)(i + 1));
        double t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
    *count = k;
    return x;
}

/* ---- tests ----------------------------------------------------------------- */

static void test_range_f64(void)
{
    static const double los[] = {-4.0, 0.0, 0.1, -1e-300, 1e10, -7.25};
    static const double widths[] = {8.0, 1.0, 0.6, 3e-300, 1e-5, 7.25};
    static const int64_t bins[] = {1, 2, 3, 10, 100, 1000, 7};
    for (size_t a = 0; a < sizeof los / sizeof *los; a++)
        for (size_t b = 0; b < sizeof bins / sizeof *bins; b++) {
            double lo = los[a], hi = los[a] + widths[a];
            int64_t n = bins[b], count;
            double *e = malloc((size_t)(n + 1) * sizeof *e);
            linspace(lo, hi, n, e);
            {
                int increasing = 1;
                for (int64_t i = 0; i < n; i++)
                    increasing &= e[i] < e[i + 1];
                if (!increasing) { /* numpy: "too many bins" */
                    free(e);
                    continue;
                }
            }
            ps_hist *h = range_state(lo, hi, n, e, 0);
            ps_hist_plan p = range_plan(PS_FLOAT64, lo, hi, n, 0, 0);
            double *x = make_values(e, n, lo, hi, 3000, &count);
            int64_t *want = calloc((size_t)(n + 3), sizeof *want);
            for (int64_t i = 0; i < count; i++) {
                int64_t s = ref_range_f64(x[i], e, n, lo, hi);
                want[s]++;
                /* numpy's corrections give the true bin on these inputs */
                CHECK_CTX(s == true_bin(x[i], e, n) || s >= n, "x=%.17g s=%lld true=%lld",
                          x[i], (long long)s, (long long)true_bin(x[i], e, n));
            }
            check_all_modes(h, &p, x, count, sizeof *x, want, "range f64");
            free(want);
            free(x);
            free(e);
            ps_hist_free(h);
        }
}

static void test_range_f32(void)
{
    static const double los[] = {-4.0, 0.1, 0.7, -1000.5};
    static const double widths[] = {8.0, 0.6, 0.0001, 2001.0};
    static const int64_t bins[] = {1, 3, 10, 100, 999};
    for (int r32 = 0; r32 < 2; r32++)
        for (size_t a = 0; a < sizeof los / sizeof *los; a++)
            for (size_t b = 0; b < sizeof bins / sizeof *bins; b++) {
                /* volatile: GCC 12's SLP vectoriser at -O3 passes these on
                   unrounded (double) to make_values below */
                volatile float vlo = (float)los[a], vhi = (float)(los[a] + widths[a]);
                float lo = vlo, hi = vhi;
                int64_t n = bins[b], count, m;
                double *e = malloc((size_t)(n + 1) * sizeof *e);
                float *ef = malloc((size_t)(n + 1) * sizeof *ef);
                int increasing = 1;
                linspace(lo, hi, n, e);
                for (int64_t i = 0; i <= n; i++)
                    ef[i] = (float)e[i];
                for (int64_t i = 0; i < n; i++)
                    increasing &= ef[i] < ef[i + 1];
                if (!increasing) {
                    free(e);
                    free(ef);
                    continue;
                }
                for (int64_t i = 0; i <= n; i++)
                    e[i] = ef[i];
                ps_hist *h = range_state(lo, hi, n, e, 1);
                ps_hist_plan p = range_plan(PS_FLOAT32, lo, hi, n, 1, r32);
                double *xd = make_values(e, n, lo, hi, 2000, &count);
                float *x = malloc((size_t)(2 * count) * sizeof *x);
                int64_t *want = calloc((size_t)(n + 3), sizeof *want);
                m = 0;
                for (int64_t i = 0; i < count; i++) { /* and float32 neighbours */
                    x[m++] = (float)xd[i];
                    x[m++] = nextafterf((float)xd[i], (i & 1) ? INFINITY : -INFINITY);
                }
                for (int64_t i = 0; i < m; i++)
                    want[ref_range_f32(x[i], ef, n, lo, hi, r32)]++;
                check_all_modes(h, &p, x, m, sizeof *x, want, "range f32");
                free(want);
                free(x);
                free(xd);
                free(e);
                free(ef);
                ps_hist_free(h);
            }
}

/* int64 / uint64 / int8 / bool values, exact integer range tests */
static void test_range_ints(void)
{
    const int64_t n = 16;
    double e[17];
    int64_t xs[64], k = 0;
    int64_t want[19];
    const double lo = -1000.0, hi = 1000.0;
    ps_hist *h;
    ps_hist_plan p;
    linspace(lo, hi, n, e);
    h = range_state(lo, hi, n, e, 0);
    p = range_plan(PS_INT64, lo, hi, n, 0, 0);
    p.lo_dom = p.hi_dom = PS_HDOM_I64;
    p.lo_i = -1000;
    p.hi_i = 1000;
    xs[k++] = INT64_MIN;
    xs[k++] = INT64_MAX;
    xs[k++] = -1001;
    xs[k++] = -1000;
    xs[k++] = 1000;
    xs[k++] = 1001;
    for (int64_t i = 0; i <= n; i++) {
        xs[k++] = (int64_t)e[i];
        xs[k++] = (int64_t)e[i] + 1;
    }
    while (k < 64)
        xs[k++] = (int64_t)(rnd() % 2401) - 1200;
    memset(want, 0, sizeof want);
    for (int64_t i = 0; i < k; i++) {
        int64_t s;
        if (xs[i] < -1000)
            s = n;
        else if (xs[i] > 1000)
            s = n + 1;
        else
            s = ref_range_f64((double)xs[i], e, n, lo, hi);
        want[s]++;
    }
    check_all_modes(h, &p, xs, k, sizeof *xs, want, "range int64");
    {   /* uint64 with exact unsigned tests */
        uint64_t us[8] = {0, 1, 999, 1000, 1001, UINT64_MAX, (uint64_t)1 << 63, 500};
        ps_hist_plan q = range_plan(PS_UINT64, lo, hi, n, 0, 0);
        int64_t uw[19];
        q.lo_dom = q.hi_dom = PS_HDOM_U64;
        q.lo_i = 0;
        q.hi_i = 1000;
        memset(uw, 0, sizeof uw);
        for (int i = 0; i < 8; i++)
            uw[us[i] > 1000 ? n + 1 : ref_range_f64((double)us[i], e, n, lo, hi)]++;
        check_all_modes(h, &q, us, 8, sizeof *us, uw, "range uint64");
        /* U64 domain refuses signed input; I64 refuses uint64 */
        q.dtype = PS_INT64;
        CHECK(ps_hist_update(h, &q, us, 8, 1, 8, 8) == PS_ERR_ARG);
        p.dtype = PS_UINT64;
        CHECK(ps_hist_update(h, &p, us, 8, 1, 8, 8) == PS_ERR_ARG);
    }
    {   /* int8 and bool read through F64 */
        int8_t b8[6] = {-128, -1, 0, 1, 127, 42};
        uint8_t bb[4] = {0, 1, 2, 0}; /* a non-canonical bool byte reads as 1 */
        ps_hist_plan q = range_plan(PS_INT8, lo, hi, n, 0, 0);
        int64_t w8[19], wb[19];
        memset(w8, 0, sizeof w8);
        memset(wb, 0, sizeof wb);
        for (int i = 0; i < 6; i++)
            w8[ref_range_f64((double)b8[i], e, n, lo, hi)]++;
        check_all_modes(h, &q, b8, 6, 1, w8, "range int8");
        q.dtype = PS_BOOL;
        for (int i = 0; i < 4; i++)
            wb[ref_range_f64(bb[i] ? 1.0 : 0.0, e, n, lo, hi)]++;
        check_all_modes(h, &q, bb, 4, 1, wb, "range bool");
    }
    ps_hist_free(h);
}

/* Mixed domains: the tests in float32 while the arithmetic is float64 (and
   the clamp a value below edge 0 needs): results stay in bounds. */
static void test_range_mixed_domains(void)
{
    const int64_t n = 5;
    double e[6];
    float x[200];
    int64_t got[8], total = 0;
    ps_hist *h;
    ps_hist_plan p;
    linspace(0.7, 1.7, n, e);
    h = range_state(0.7, 1.7, n, e, 0);
    p = range_plan(PS_FLOAT32, 0.7, 1.7, n, 0, 0);
    p.lo_dom = p.hi_dom = PS_HDOM_F32; /* float32(0.7) < 0.7: a binned value below e[0] */
    p.lo_f = (double)(float)0.7;
    p.hi_f = (double)(float)1.7;
    for (int i = 0; i < 200; i++)
        x[i] = (float)(0.6 + 1.2 * rnd_unit());
    x[0] = (float)0.7;
    CHECK(ps_hist_update(h, &p, x, 200, 1, 4, 4) == PS_OK);
    result_slots(h, got);
    for (int i = 0; i < 8; i++)
        total += got[i];
    CHECK(total == 200);
    CHECK(got[0] >= 1); /* float32(0.7) clamped into bin 0 */
    fp_mix(got, sizeof got);
    ps_hist_free(h);
}

static void test_edges(void)
{
    static const int64_t bins[] = {1, 2, 5, 50, 300};
    for (size_t b = 0; b < sizeof bins / sizeof *bins; b++) {
        int64_t n = bins[b], count;
        double *e = malloc((size_t)(n + 1) * sizeof *e);
        double acc = -3.0;
        for (int64_t i = 0; i <= n; i++) { /* uneven, with repeats */
            e[i] = acc;
            if (rnd() % 5 != 0)
                acc += 0.01 + rnd_unit() * (rnd() % 7 == 0 ? 2.0 : 0.1);
        }
        ps_hist *h = edges_state(e, n);
        double *x = make_values(e, n, e[0], e[n], 3000, &count);
        int64_t *want = calloc((size_t)(n + 3), sizeof *want);
        ps_hist_plan p;
        tab t;
        for (int64_t i = 0; i < count; i++)
            want[ref_edges(x[i], e, n)]++;
        memset(&p, 0, sizeof p);
        p.dtype = PS_FLOAT64;
        p.t_dom = PS_HDOM_F64;
        p.edges = e;
        check_all_modes(h, &p, x, count, sizeof *x, want, "edges bsearch");
        t = linear_table(e, n, 8 * n, &p);
        check_all_modes(h, &p, x, count, sizeof *x, want, "edges table");
        /* a wrong table changes nothing but the speed */
        for (int64_t c = 0; c < t.ntable; c++)
            t.table[c] = (int32_t)(rnd() % (uint64_t)(n + 20)) - 10;
        check_all_modes(h, &p, x, count, sizeof *x, want, "edges bad table");
        p.guess = PS_HGUESS_BITS; /* on negative values too: cells clamp */
        p.shift = 44;
        p.key0 = (int64_t)(dbits(0.001) >> 44);
        check_all_modes(h, &p, x, count, sizeof *x, want, "edges bits table");
        free(t.table);
        {   /* the same edges as float32 values compared in float */
            float *xf = malloc((size_t)count * sizeof *xf);
            float *ef = malloc((size_t)(n + 1) * sizeof *ef);
            int64_t *wf = calloc((size_t)(n + 3), sizeof *wf);
            double *ed = malloc((size_t)(n + 1) * sizeof *ed);
            ps_hist_plan q = p;
            for (int64_t i = 0; i <= n; i++) {
                ef[i] = (float)e[i];
                ed[i] = ef[i];
            }
            for (int64_t i = 0; i < count; i++) {
                xf[i] = (float)x[i];
                wf[ref_edges((double)xf[i], ed, n)]++;
            }
            q.dtype = PS_FLOAT32;
            q.t_dom = PS_HDOM_F32;
            q.edges = ef;
            q.guess = PS_HGUESS_BSEARCH;
            check_all_modes(h, &q, xf, count, sizeof *xf, wf, "edges f32");
            free(xf);
            free(ef);
            free(wf);
            free(ed);
        }
        free(want);
        free(x);
        free(e);
        ps_hist_free(h);
    }
    {   /* integer domain: int64 edges near the limits, exact */
        int64_t ei[4] = {INT64_MIN + 1, -5, ((int64_t)1 << 53) + 1, INT64_MAX - 1};
        int64_t xs[9] = {INT64_MIN, INT64_MIN + 1, -6, -5, 0, (int64_t)1 << 53,
                         ((int64_t)1 << 53) + 1, INT64_MAX - 1, INT64_MAX};
        int64_t want[6] = {2, 3, 2, 1, 1, 0}; /* bins 0..2, under, over, NaN */
        double ed[4];
        ps_hist *h;
        ps_hist_plan p;
        tab t;
        for (int i = 0; i < 4; i++)
            ed[i] = (double)ei[i];
        h = edges_state(ed, 3); /* the state's words; the plan compares exactly */
        memset(&p, 0, sizeof p);
        p.dtype = PS_INT64;
        p.t_dom = PS_HDOM_I64;
        p.edges = ei;
        check_all_modes(h, &p, xs, 9, sizeof *xs, want, "edges int64");
        t = linear_table(ed, 3, 16, &p); /* guesses through double, checks exact */
        check_all_modes(h, &p, xs, 9, sizeof *xs, want, "edges int64 table");
        free(t.table);
        ps_hist_free(h);
    }
}

static void test_spec_and_plan_checks(void)
{
    double e[4] = {0.0, 1.0, 2.0, 3.0};
    uint64_t w[4];
    ps_hist_spec s;
    ps_hist *h = NULL;
    for (int i = 0; i < 4; i++)
        w[i] = dbits(e[i]);
    memset(&s, 0, sizeof s);
    s.kind = PS_HIST_RANGE;
    s.nbins = 3;
    s.lo_tag = s.hi_tag = PS_HIST_PYFLOAT;
    s.lo_bits = dbits(0.0);
    s.hi_bits = dbits(3.0);
    s.edge_dtype = PS_FLOAT64;
    s.typed = 0;
    CHECK(ps_hist_new(&h, &s, w) == PS_OK);
    {   /* untyped range states take no values */
        ps_hist_plan p = range_plan(PS_FLOAT64, 0.0, 3.0, 3, 0, 0);
        double x = 1.0;
        CHECK(ps_hist_update(h, &p, &x, 1, 1, 8, 8) == PS_ERR_UNSET);
        CHECK(ps_hist_add(h, NULL, 1, 0, 0) == PS_ERR_UNSET);
        CHECK(ps_hist_set_edges(h, PS_FLOAT32, w) == PS_OK);
        CHECK(ps_hist_set_edges(h, PS_FLOAT32, w) == PS_ERR_ARG); /* typed already */
        CHECK(ps_hist_update(h, &p, &x, 1, 1, 8, 8) == PS_ERR_ARG); /* F64 plan, f32 edges */
        p = range_plan(PS_FLOAT32, 0.0, 3.0, 3, 1, 0);
        {
            float xf = 1.0f;
            CHECK(ps_hist_update(h, &p, &xf, 1, 1, 4, 4) == PS_OK);
        }
        p.r_dom = 7;
        CHECK(ps_hist_update(h, &p, &x, 1, 1, 8, 8) == PS_ERR_ARG);
        p = range_plan(PS_FLOAT32, 0.0, 3.0, 3, 1, 0);
        p.dtype = 99;
        CHECK(ps_hist_update(h, &p, &x, 1, 1, 8, 8) == PS_ERR_ARG);
        p.dtype = PS_FLOAT32;
        CHECK(ps_hist_update(h, &p, NULL, 1, 1, 8, 8) == PS_ERR_ARG);
        CHECK(ps_hist_update(h, &p, NULL, 0, 1, 8, 8) == PS_OK);
        CHECK(ps_hist_update(h, &p, &x, -1, 1, 8, 8) == PS_ERR_ARG);
        CHECK(ps_hist_update(h, &p, &x, INT64_MAX, 2, 8, 8) == PS_ERR_OVERFLOW);
        CHECK(ps_hist_total(h) == 1);
    }
    ps_hist_free(h);
    /* bad specs */
    {
        ps_hist_spec b = s;
        b.nbins = 0;
        CHECK(ps_hist_new(&h, &b, w) == PS_ERR_ARG && h == NULL);
        b = s;
        b.nbins = (int64_t)PS_HIST_MAX_BINS + 1;
        CHECK(ps_hist_new(&h, &b, w) == PS_ERR_ARG);
        b = s;
        b.lo_bits = dbits(5.0); /* lo > hi */
        CHECK(ps_hist_new(&h, &b, w) == PS_ERR_ARG);
        b = s;
        b.hi_bits = dbits(INFINITY);
        CHECK(ps_hist_new(&h, &b, w) == PS_ERR_ARG);
        b = s;
        b.lo_tag = 99;
        CHECK(ps_hist_new(&h, &b, w) == PS_ERR_ARG);
        b = s;
        b.edge_dtype = PS_INT64; /* range edges are float */
        CHECK(ps_hist_new(&h, &b, w) == PS_ERR_ARG);
        b = s;
        b.typed = 0;
        b.edge_dtype = PS_FLOAT32; /* untyped means float64 */
        CHECK(ps_hist_new(&h, &b, w) == PS_ERR_ARG);
        b = s;
        b.kind = PS_HIST_LOG; /* lo = 0 */
        b.typed = 1;
        CHECK(ps_hist_new(&h, &b, w) == PS_ERR_ARG);
        b = s;
        b.kind = 9;
        CHECK(ps_hist_new(&h, &b, w) == PS_ERR_ARG);
        b = s;
        b.lo_tag = PS_FLOAT32;
        b.lo_bits = dbits(0.1); /* not a float32 value */
        CHECK(ps_hist_new(&h, &b, w) == PS_ERR_ARG);
        b = s;
        b.lo_tag = PS_INT8;
        b.lo_bits = 200; /* not an int8 */
        CHECK(ps_hist_new(&h, &b, w) == PS_ERR_ARG);
        CHECK(ps_hist_new(&h, &s, NULL) == PS_ERR_ARG);
        {
            uint64_t bad[4];
            memcpy(bad, w, sizeof bad);
            bad[2] = dbits(0.5); /* decreasing */
            CHECK(ps_hist_new(&h, &s, bad) == PS_ERR_ARG);
            bad[2] = dbits(NAN);
            CHECK(ps_hist_new(&h, &s, bad) == PS_ERR_ARG);
            bad[2] = dbits(1.0); /* equal: fine for explicit edges only */
            CHECK(ps_hist_new(&h, &s, bad) == PS_ERR_ARG);
            b = s;
            b.kind = PS_HIST_EDGES;
            b.lo_tag = b.hi_tag = PS_HIST_NOVALUE;
            b.lo_bits = b.hi_bits = 0;
            b.typed = 1;
            CHECK(ps_hist_new(&h, &b, bad) == PS_OK);
            ps_hist_free(h);
            b.edge_dtype = PS_HIST_FLOAT16;
            bad[1] = dbits(0.1); /* not a float16 value */
            CHECK(ps_hist_new(&h, &b, bad) == PS_ERR_ARG);
            bad[1] = dbits(0.5);
            CHECK(ps_hist_new(&h, &b, bad) == PS_OK);
            ps_hist_free(h);
            h = NULL;
        }
    }
}

static void test_merge_and_add(void)
{
    double e[11];
    ps_hist *a, *b, *c, *u = NULL;
    ps_hist_spec s;
    uint64_t w[11];
    int64_t got[13];
    linspace(0.0, 1.0, 10, e);
    a = range_state(0.0, 1.0, 10, e, 0);
    b = range_state(0.0, 1.0, 10, e, 0);
    c = range_state(0.0, 2.0, 10, e, 0); /* other range */
    CHECK(ps_hist_add(a, NULL, 1, 2, 3) == PS_OK);
    {
        int64_t counts[10] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 5};
        CHECK(ps_hist_add(b, counts, 0, 0, 0) == PS_OK);
        counts[3] = -1;
        CHECK(ps_hist_add(b, counts, 0, 0, 0) == PS_ERR_ARG);
        CHECK(ps_hist_add(b, NULL, -1, 0, 0) == PS_ERR_ARG);
    }
    CHECK(ps_hist_merge(a, c) == PS_ERR_MISMATCH);
    CHECK(ps_hist_merge(a, b) == PS_OK);
    result_slots(a, got);
    CHECK(got[0] == 1 && got[9] == 5 && got[10] == 1 && got[11] == 2 && got[12] == 3);
    CHECK(ps_hist_total(a) == 12);
    CHECK(ps_hist_merge(a, a) == PS_OK); /* doubles */
    CHECK(ps_hist_total(a) == 24);
    /* an untyped state adopts a typed one's edges; float32 vs float64 refused */
    ps_hist_get_spec(a, &s);
    s.typed = 0;
    for (int i = 0; i <= 10; i++)
        w[i] = dbits(e[i]);
    CHECK(ps_hist_new(&u, &s, w) == PS_OK);
    {
        ps_hist *f32 = range_state(0.0, 1.0, 10, e, 1);
        ps_hist_spec t;
        CHECK(ps_hist_merge(a, f32) == PS_ERR_MISMATCH);
        CHECK(ps_hist_merge(u, f32) == PS_OK);
        ps_hist_get_spec(u, &t);
        CHECK(t.typed == 1 && t.edge_dtype == PS_FLOAT32);
        CHECK(ps_hist_merge(u, a) == PS_ERR_MISMATCH);
        ps_hist_free(f32);
    }
    /* overflow of the total (b holds 6 values) */
    CHECK(ps_hist_total(b) == 6);
    CHECK(ps_hist_add(b, NULL, INT64_MAX - 7, 0, 0) == PS_OK);
    CHECK(ps_hist_merge(b, a) == PS_ERR_OVERFLOW);
    {
        double x = 0.5;
        ps_hist_plan p = range_plan(PS_FLOAT64, 0.0, 1.0, 10, 0, 0);
        CHECK(ps_hist_update(b, &p, &x, 1, 1, 8, 8) == PS_OK);
        CHECK(ps_hist_total(b) == INT64_MAX);
        CHECK(ps_hist_update(b, &p, &x, 1, 1, 8, 8) == PS_ERR_OVERFLOW);
        CHECK(ps_hist_add(b, NULL, 0, 0, 1) == PS_ERR_OVERFLOW);
        CHECK(ps_hist_total(b) == INT64_MAX);
    }
    CHECK(ps_hist_nbytes(a) > 0 && ps_hist_nbytes(a) < 64 * 16 + 512);
    ps_hist_free(a);
    ps_hist_free(b);
    ps_hist_free(c);
    ps_hist_free(u);
}

/* ---- serialization ----------------------------------------------------------- */

typedef struct {
    uint8_t *bytes;
    size_t size;
} blob;

static blob save(const ps_hist *h)
{
    blob b = {NULL, 0};
    CHECK(ps_hist_serialize(h, NULL, 0, &b.size) == PS_OK);
    b.bytes = malloc(b.size);
    CHECK(ps_hist_serialize(h, b.bytes, b.size - 1, &b.size) == PS_ERR_BUFSIZE);
    CHECK(ps_hist_serialize(h, b.bytes, b.size, &b.size) == PS_OK);
    return b;
}

static void reseal(uint8_t *bytes, size_t size)
{
    ps_writer w = {bytes, size - 8, size};
    ps_put_u64(&w, ps_fnv1a(bytes, size - 8));
}

static void test_serialization(void)
{
    double e[9];
    ps_hist *h, *g = NULL;
    blob b, b2;
    linspace(-2.0, 2.0, 8, e);
    h = range_state(-2.0, 2.0, 8, e, 0);
    {
        double x[100];
        ps_hist_plan p = range_plan(PS_FLOAT64, -2.0, 2.0, 8, 0, 0);
        for (int i = 0; i < 100; i++)
            x[i] = i % 17 == 0 ? NAN : 1.5 * rnd_normal();
        CHECK(ps_hist_update(h, &p, x, 100, 1, 8, 8) == PS_OK);
    }
    b = save(h);
    CHECK(b.size == 8 * (2 * 8 + 15));
    CHECK(ps_hist_deserialize(&g, b.bytes, b.size) == PS_OK);
    b2 = save(g);
    CHECK(b2.size == b.size && memcmp(b.bytes, b2.bytes, b.size) == 0);
    CHECK(ps_hist_total(g) == 100);
    fp_mix(b.bytes, b.size);
    ps_hist_free(g);
    free(b2.bytes);
    /* every truncation */
    for (size_t len = 0; len < b.size; len++) {
        int st = ps_hist_deserialize(&g, b.bytes, len);
        CHECK_CTX((st == PS_ERR_CORRUPT || st == PS_ERR_VERSION) && g == NULL, "len %zu", len);
    }
    /* every byte flipped (each bit pattern), caught by the checksum or the magic */
    for (size_t i = 0; i < b.size; i++)
        for (int bit = 0; bit < 8; bit += 3) {
            b.bytes[i] ^= (uint8_t)(1u << bit);
            g = NULL;
            {
                int st = ps_hist_deserialize(&g, b.bytes, b.size);
                CHECK_CTX(st != PS_OK && g == NULL, "byte %zu bit %d", i, bit);
            }
            b.bytes[i] ^= (uint8_t)(1u << bit);
        }
    /* forged fields with a valid checksum: refused (or, if still a valid
       state, loaded); never a crash */
    {
        static const size_t fields[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 18, 19, 22, 27, 28, 29};
        int refused = 0, loaded = 0;
        for (size_t f = 0; f < sizeof fields / sizeof *fields; f++)
            for (int trial = 0; trial < 40; trial++) {
                uint8_t *c = malloc(b.size);
                uint64_t v;
                ps_reader r;
                ps_writer w;
                int st;
                memcpy(c, b.bytes, b.size);
                r.in = c;
                r.pos = fields[f] * 8;
                r.cap = b.size;
                r.bad = 0;
                v = ps_get_u64(&r);
                switch (trial % 8) {
                case 0: v += 1; break;
                case 1: v -= 1; break;
                case 2: v = ~v; break;
                case 3: v = (uint64_t)1 << 63; break;
                case 4: v = dbits(NAN); break;
                case 5: v = 0; break;
                case 6: v = rnd(); break;
                default: v ^= (uint64_t)1 << (rnd() % 64); break;
                }
                w.buf = c;
                w.pos = fields[f] * 8;
                w.cap = b.size;
                ps_put_u64(&w, v);
                reseal(c, b.size);
                g = NULL;
                st = ps_hist_deserialize(&g, c, b.size);
                if (st == PS_OK) {
                    int64_t slots[11];
                    loaded++;
                    CHECK(g != NULL);
                    CHECK(ps_hist_nbins(g) == 8 &&
                          ps_hist_result(g, slots, slots + ps_hist_nbins(g)) == PS_OK);
                    ps_hist_free(g);
                } else {
                    refused++;
                    CHECK(g == NULL);
                }
                free(c);
            }
        CHECK(refused > 0 && loaded >= 0);
        /* specific forgeries */
        {
            uint8_t *c = malloc(b.size);
            ps_writer w;
            memcpy(c, b.bytes, b.size);
            w.buf = c;
            w.pos = 8;
            w.cap = b.size;
            ps_put_u64(&w, 2); /* a newer version */
            reseal(c, b.size);
            CHECK(ps_hist_deserialize(&g, c, b.size) == PS_ERR_VERSION);
            c[100] ^= 1; /* ... even with a bad checksum */
            CHECK(ps_hist_deserialize(&g, c, b.size) == PS_ERR_VERSION);
            memcpy(c, b.bytes, b.size);
            w.pos = 8 * 19; /* a count made negative */
            ps_put_u64(&w, (uint64_t)-5);
            reseal(c, b.size);
            CHECK(ps_hist_deserialize(&g, c, b.size) == PS_ERR_CORRUPT);
            memcpy(c, b.bytes, b.size);
            w.pos = 8 * 19; /* counts summing past INT64_MAX */
            ps_put_u64(&w, (uint64_t)INT64_MAX);
            reseal(c, b.size);
            CHECK(ps_hist_deserialize(&g, c, b.size) == PS_ERR_CORRUPT);
            memcpy(c, b.bytes, b.size);
            w.pos = 8 * 9; /* untyped range state with counts */
            ps_put_u64(&w, 0);
            reseal(c, b.size);
            CHECK(ps_hist_deserialize(&g, c, b.size) == PS_ERR_CORRUPT);
            memcpy(c, b.bytes, b.size);
            w.pos = 8 * 3; /* nbins not matching the size */
            ps_put_u64(&w, 9);
            reseal(c, b.size);
            CHECK(ps_hist_deserialize(&g, c, b.size) == PS_ERR_CORRUPT);
            ps_put_u64(&w, (uint64_t)1 << 62);
            w.pos = 8 * 3;
            ps_put_u64(&w, (uint64_t)1 << 62);
            reseal(c, b.size);
            CHECK(ps_hist_deserialize(&g, c, b.size) == PS_ERR_CORRUPT);
            free(c);
        }
    }
    /* random bytes */
    for (int trial = 0; trial < 2000; trial++) {
        size_t len = (size_t)(rnd() % 300);
        uint8_t *c = malloc(len + 1);
        for (size_t i = 0; i < len; i++)
            c[i] = (uint8_t)rnd();
        if (len >= 8 && trial % 2) {
            ps_writer w = {c, 0, len};
            ps_put_u64(&w, 0x3147545349485350ull); /* the magic */
        }
        if (len >= 16 && trial % 4 == 1) {
            ps_writer w = {c, 8, len};
            ps_put_u64(&w, 1);
            reseal(c, len);
        }
        g = NULL;
        if (ps_hist_deserialize(&g, c, len) == PS_OK)
            ps_hist_free(g);
        free(c);
    }
    CHECK(ps_hist_deserialize(&g, NULL, 5) == PS_ERR_ARG);
    free(b.bytes);
    ps_hist_free(h);
}

int main(int argc, char **argv)
{
    int fp = argc > 1 && strcmp(argv[1], "--fingerprint") == 0;
    test_range_f64();
    test_range_f32();
    test_range_ints();
    test_range_mixed_domains();
    test_edges();
    test_spec_and_plan_checks();
    test_merge_and_add();
    test_serialization();
    if (fp) {
        printf("%016llx\n", (unsigned long long)*fp_state());
        return failed != 0;
    }
    return report();
}
