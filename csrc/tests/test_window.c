/*
 * C unit tests of the moving-window family (csrc/window.c): sum, mean,
 * var, std, min, max, argmin, argmax.  Run under ASan + UBSan.
 *
 * Every scenario is checked against a naive O(n * w) reference (tolerance
 * a few ulps x window for sum / mean / var / std, exact for min / max /
 * argmin / argmax and for NaN-ness), and for bit identity of the outputs
 * across chunkings (whole, one record per call, random sizes, with empty
 * calls) and across a replay of the last window-1 inputs into a fresh
 * state (what the dispatcher does on deserialization).
 *
 * Prints "N passed, M failed" and exits non-zero on failure.
 */
#include "stage_internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SANITIZE_ADDRESS__
/* Let impossible allocations fail with NULL instead of aborting. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
#endif

#include "testkit.h"

static int64_t rnd_below(int64_t n) { return (int64_t)(rnd() % (uint64_t)n); }

static const int KINDS[] = {PS_MOVE_SUM, PS_MOVE_MEAN,   PS_MOVE_VAR,   PS_MOVE_STD,
                            PS_MOVE_MIN, PS_MOVE_MAX,    PS_MOVE_ARGMIN, PS_MOVE_ARGMAX};
#define NKINDS 8

static const char *kind_name(int kind)
{
    static const char *const names[] = {"?",   "sum", "mean",   "var",   "std",
                                        "min", "max", "argmin", "argmax"};
    return kind >= 1 && kind <= 8 ? names[kind] : "?";
}

static ps_stage_params make_params(int kind, int policy, int64_t w, int64_t mc, double ddof)
{
    ps_stage_params p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.nan_policy = policy;
    p.window = w;
    p.min_count = mc;
    p.ddof = ddof;
    return p;
}

/* ------------------------------------------------------------------------ */
/* Naive reference                                                          */

typedef struct {
    double val; /* reference value (NaN when the output must be NaN) */
    double tol; /* allowed absolute error; < 0: must match bit for bit */
} refval;

static refval reference(const ps_stage_params *p, const double *data, int64_t width,
                        int64_t start, int64_t g, int64_t col)
{
    const int64_t w = p->window, lo = g - w + 1 > start ? g - w + 1 : start;
    int64_t count = 0, present = 0, best_off = -1;
    int hasnan = 0;
    long double sum = 0, sabs = 0;
    double best = NAN;
    refval out = {NAN, 0.0};
    const int kind = p->kind;
    const int ismax = kind == PS_MOVE_MAX || kind == PS_MOVE_ARGMAX;
    for (int64_t i = g; i >= lo; i--) {
        double x = data[(i - start) * width + col];
        present++;
        if (x != x) {
            hasnan = 1;
            continue;
        }
        count++;
        sum += x;
        sabs += fabsl((long double)x);
        if (best != best || (ismax ? x > best : x < best)) {
            best = x;
            best_off = g - i;
        }
    }
    if ((p->nan_policy == PS_NAN_PROPAGATE && hasnan) || count < p->min_count)
        return out;
    switch (kind) {
    case PS_MOVE_SUM:
    case PS_MOVE_MEAN: {
        double eps = DBL_EPSILON * (double)(present + 2) * 4.0;
        out.val = (double)sum;
        out.tol = eps * (double)sabs;
        if (kind == PS_MOVE_MEAN) {
            out.val = (double)(sum / (long double)count);
            out.tol = out.tol / (double)count + 2.0 * DBL_EPSILON * fabs(out.val);
        }
        break;
    }
    case PS_MOVE_VAR:
    case PS_MOVE_STD: {
        long double mean = sum / (long double)count, m2 = 0, dev2 = 0;
        double var, bound, eps = DBL_EPSILON * (double)(present + 2) * 8.0;
        for (int64_t i = g; i >= lo; i--) {
            double x = data[(i - start) * width + col];
            if (x == x) {
                long double d2 = ((long double)x - mean) * ((long double)x - mean);
                m2 += d2;
                dev2 = d2 > dev2 ? d2 : dev2;
            }
        }
        if ((double)count - p->ddof <= 0)
            return out;
        var = (double)(m2 / ((long double)count - (long double)p->ddof));
        /* The kernel sums squares of x - K, K a value of the window, so its
           error bound is relative to sum (x - K)^2 <= M2 + n * max (x - mean)^2
           (documented in docs/design.md), not to M2 alone. */
        bound = (double)((m2 + (long double)count * dev2) /
                         ((long double)count - (long double)p->ddof));
        if (kind == PS_MOVE_VAR) {
            out.val = var;
            out.tol = eps * bound;
        } else {
            out.val = sqrt(var);
            out.tol = eps * bound / (out.val > 0 ? 2.0 * out.val : 1.0) + eps * out.val;
        }
        break;
    }
    case PS_MOVE_MIN:
    case PS_MOVE_MAX:
        out.val = best;
        out.tol = -1.0;
        break;
    default:
        out.val = (double)best_off;
        out.tol = -1.0;
        break;
    }
    return out;
}

/* Bit-identical, except that any two NaNs match: the dispatcher (stage.c)
   makes every NaN output the canonical one, so the family's NaN sign and
   payload (which depend on the compiler's operand order) never escape. */
static int same_bits(double a, double b)
{
    return (a != a && b != b) || memcmp(&a, &b, sizeof a) == 0;
}

/* ------------------------------------------------------------------------ */
/* Running a stage                                                          */

/* chunking: 0 whole, 1 one record per call, 2 random sizes (with empty calls). */
static int run(const ps_stage_params *p, const double *data, int64_t n, int64_t width,
               int64_t start, int chunking, double *out)
{
    void *st = ps_family_window.create(p, width, start);
    int64_t i = 0;
    if (!st)
        return 0;
    while (i < n) {
        int64_t k, nout = -1;
        if (chunking == 0)
            k = n;
        else if (chunking == 1)
            k = 1;
        else {
            uint64_t c = rnd() % 8;
            k = c == 0 ? 0 : c < 4 ? 1 + rnd_below(4)
                                   : 1 + rnd_below(3 * (p->window < n ? p->window : n) + 5);
            if (k > n - i)
                k = n - i;
        }
        ps_family_window.update(st, data + i * width, k, out + i * width, &nout);
        if (nout != k) {
            ps_family_window.destroy(st);
            return 0;
        }
        i += k;
    }
    ps_family_window.destroy(st);
    return 1;
}

/* Fresh state at `pos` - tail replaying the last window-1 inputs, then the rest. */
static int run_replay(const ps_stage_params *p, const double *data, int64_t n,
                      int64_t width, int64_t start, int64_t pos, double *out)
{
    int64_t tail = p->window - 1 < pos - start ? p->window - 1 : pos - start;
    int64_t s2 = pos - tail, nout = 0;
    void *st = ps_family_window.create(p, width, s2);
    double *junk = malloc((size_t)((tail + 1) * width) * sizeof(double));
    int ok = st != NULL && junk != NULL;
    if (ok && tail > 0) {
        ps_family_window.update(st, data + (s2 - start) * width, tail, junk, &nout);
        ok = nout == tail;
    }
    if (ok && n - (pos - start) > 0) {
        int64_t m = n - (pos - start);
        ps_family_window.update(st, data + (pos - start) * width, m,
                                out + (pos - start) * width, &nout);
        ok = nout == m;
    }
    free(junk);
    if (st)
        ps_family_window.destroy(st);
    return ok;
}

static void check_scenario(const ps_stage_params *p, const double *data, int64_t n,
                           int64_t width, int64_t start, const char *what)
{
    size_t sz = (size_t)(n * width) * sizeof(double);
    double *o0 = malloc(sz), *o1 = malloc(sz), *o2 = malloc(sz), *o3 = malloc(sz);
    int bad_ref = 0, bad1 = 0, bad2 = 0, bad3 = 0;
    int64_t first_bad = -1, pos;
    refval rv = {0, 0};
    double got = 0;
    if (!o0 || !o1 || !o2 || !o3) {
        CHECK(!"out of memory");
        goto done;
    }
    CHECK(run(p, data, n, width, start, 0, o0));
    CHECK(run(p, data, n, width, start, 1, o1));
    CHECK(run(p, data, n, width, start, 2, o2));
    pos = start + rnd_below(n + 1);
    memcpy(o3, o0, sz);
    CHECK(run_replay(p, data, n, width, start, pos, o3));
    for (int64_t i = 0; i < n * width; i++) {
        bad1 += !same_bits(o0[i], o1[i]);
        bad2 += !same_bits(o0[i], o2[i]);
        bad3 += !same_bits(o0[i], o3[i]);
    }
    for (int64_t i = 0; i < n && !bad_ref; i++)
        for (int64_t c = 0; c < width; c++) {
            refval r = reference(p, data, width, start, start + i, c);
            double x = o0[i * width + c];
            int ok;
            if (r.val != r.val)
                ok = x != x;
            else if (r.tol < 0 || isinf(r.val))
                ok = same_bits(x, r.val) || (r.tol >= 0 && x == r.val);
            else
                ok = fabs(x - r.val) <= r.tol;
            if (!ok) {
                bad_ref = 1;
                first_bad = i;
                rv = r;
                got = x;
                break;
            }
        }
    CHECK_CTX(!bad_ref, "%s %s policy=%d w=%lld mc=%lld ddof=%g width=%lld start=%lld n=%lld:"
              " record %lld: got %.17g want %.17g (tol %g)",
              what, kind_name(p->kind), p->nan_policy, (long long)p->window,
              (long long)p->min_count, p->ddof, (long long)width, (long long)start,
              (long long)n, (long long)first_bad, got, rv.val, rv.tol);
    CHECK_CTX(!bad1 && !bad2, "%s %s w=%lld: chunked outputs differ (%d, %d)", what,
              kind_name(p->kind), (long long)p->window, bad1, bad2);
    CHECK_CTX(!bad3, "%s %s w=%lld: replayed outputs differ (%d)", what,
              kind_name(p->kind), (long long)p->window, bad3);
done:
    free(o0);
    free(o1);
    free(o2);
    free(o3);
}

/* ------------------------------------------------------------------------ */
/* Data                                                                     */

enum { D_MIXED, D_CLEAN, D_NONNEG, D_SPIKE, D_NANRUNS, D_TIES, ND };

static const char *const DATA_NAMES[] = {"mixed", "clean", "nonneg", "spike", "nanruns",
                                         "ties"};

static void fill(double *x, int64_t m, int type)
{
    for (int64_t i = 0; i < m; i++) {
        double v;
        uint64_t u = rnd() % 1000;
        switch (type) {
        case D_MIXED:
            v = rnd_normal() * 10.0 + 3.0;
            if (u < 40)
                v = NAN;
            else if (u < 45)
                v = INFINITY;
            else if (u < 50)
                v = -INFINITY;
            else if (u < 60)
                v = 0.0;
            else if (u < 65)
                v = -0.0;
            break;
        case D_CLEAN:
            v = rnd_normal() * 1e3 + 1e4;
            break;
        case D_NONNEG:
            v = u < 500 ? rnd_unit() * 1e-3 : u < 990 ? rnd_unit() * 1e6 : 1e15 * rnd_unit();
            if (u < 5)
                v = 0.0;
            break;
        case D_SPIKE:
            /* constant runs with rare huge spikes */
            v = (double)((i / 37) % 5) * 0.1 + 1.0 / 3.0;
            if (u < 8)
                v = 1e12;
            else if (u < 10)
                v = -1e12;
            break;
        case D_NANRUNS:
            v = ((i / 23) % 3 == 0) ? NAN : rnd_normal();
            if (u < 20)
                v = INFINITY;
            break;
        default:
            v = (double)(rnd() % 4) - 1.5; /* many ties */
            if (u < 30)
                v = NAN;
            else if (u < 60)
                v = -0.0;
            else if (u < 90)
                v = 0.0;
            break;
        }
        x[i] = v;
    }
}

/* ------------------------------------------------------------------------ */
/* Scenarios                                                                */

static void grid_case(int64_t w, int64_t start, int64_t width, int type, int64_t n, int full)
{
    double *data = malloc((size_t)(n * width) * sizeof(double));
    if (!data) {
        CHECK(!"out of memory");
        return;
    }
    fill(data, n * width, type);
    for (int ki = 0; ki < NKINDS; ki++)
        for (int policy = 0; policy <= 1; policy++) {
            const int kind = KINDS[ki];
            const int isvar = kind == PS_MOVE_VAR || kind == PS_MOVE_STD;
            int64_t mcs[2] = {1, 1 + rnd_below(w)};
            int nmc = full ? (int)w : 2;
            for (int mi = 0; mi < nmc; mi++) {
                int64_t mc = full ? mi + 1 : mcs[mi];
                for (int dd = 0; dd < (isvar ? 3 : 1); dd++) {
                    ps_stage_params p;
                    if (!full && isvar && dd != (mi + policy) % 3)
                        continue;
                    p = make_params(kind, policy, w, mc, (double)dd);
                    check_scenario(&p, data, n, width, start, DATA_NAMES[type]);
                }
            }
        }
    free(data);
}

static void test_grid(void)
{
    static const int64_t STARTS[] = {0, 7, 1001};
    /* Small windows: every min_count, ddof, start, width and data type. */
    for (int64_t w = 1; w <= 17; w++) {
        if (w == 13 || w == 14 || w == 15)
            continue;
        for (int si = 0; si < 3; si++)
            for (int64_t width = 1; width <= 3; width += 2)
                for (int type = 0; type < ND; type++)
                    grid_case(w, STARTS[si], width, type, 3 * w + 20 + rnd_below(40), 1);
    }
    /* Large windows: a sample. */
    grid_case(100, 7, 1, D_MIXED, 460, 0);
    grid_case(100, 0, 1, D_CLEAN, 420, 0);
    grid_case(100, 1001, 1, D_SPIKE, 430, 0);
    grid_case(100, 1001, 3, D_MIXED, 330, 0);
    grid_case(100, 3, 1, D_NANRUNS, 330, 0);
    grid_case(100, 50, 1, D_TIES, 330, 0);
    grid_case(1000, 1001, 1, D_MIXED, 2317, 0);
    grid_case(1000, 0, 1, D_CLEAN, 2100, 0);
    grid_case(1000, 7, 1, D_NONNEG, 2050, 0);
}

/* Properties required bit for bit, independently of the reference. */
static void test_drift_free(void)
{
    const int64_t ws[] = {3, 8, 10, 100};
    for (int wi = 0; wi < 4; wi++) {
        const int64_t w = ws[wi], n = 20 * w + 13;
        double *x = malloc((size_t)n * sizeof(double)), *o = malloc((size_t)n * sizeof(double));
        if (!x || !o) {
            CHECK(!"out of memory");
            free(x);
            free(o);
            return;
        }
        /* 1e12 spike, then a constant run: var and std exactly 0. */
        for (int64_t i = 0; i < n; i++)
            x[i] = i == 5 ? 1e12 : i < 5 ? rnd_normal() : 0.1 + (double)(i / (4 * w)) * 7.3;
        for (int kind = PS_MOVE_VAR; kind <= PS_MOVE_STD; kind++)
            for (int ch = 0; ch < 3; ch++)
                for (int dd = 0; dd <= 1; dd++) {
                    ps_stage_params p = make_params(kind, PS_NAN_OMIT, w, 1, (double)dd);
                    int bad = 0;
                    CHECK(run(&p, x, n, 1, 0, ch, o));
                    for (int64_t i = w + 5; i < n; i++) {
                        int constant = 1;
                        for (int64_t k = i - w + 1; k <= i; k++)
                            constant &= x[k] == x[i];
                        if (constant)
                            bad += !(o[i] == 0.0 && !signbit(o[i]));
                    }
                    CHECK_CTX(bad == 0, "w=%lld kind=%d: %d constant windows not exactly 0",
                              (long long)w, kind, bad);
                }
        /* Non-negative data never gives a negative sum / mean. */
        for (int64_t i = 0; i < n; i++)
            x[i] = (i % 17 == 3) ? 1e15 * rnd_unit() : rnd_unit() * 1e-6;
        for (int kind = PS_MOVE_SUM; kind <= PS_MOVE_MEAN; kind++)
            for (int ch = 0; ch < 3; ch++) {
                ps_stage_params p = make_params(kind, PS_NAN_OMIT, w, 1, 0);
                int bad = 0;
                CHECK(run(&p, x, n, 1, 0, ch, o));
                for (int64_t i = 0; i < n; i++)
                    bad += !(o[i] >= 0.0);
                CHECK_CTX(bad == 0, "w=%lld: %d negative sums", (long long)w, bad);
            }
        /* inf / NaN leaving the window: finite again. */
        for (int64_t i = 0; i < n; i++)
            x[i] = i == 2 * w + 1 ? INFINITY : i == 2 * w + 2 ? -INFINITY : i == 2 * w + 3 ? NAN
                                                                                       : rnd_normal();
        for (int ki = 0; ki < NKINDS; ki++)
            for (int policy = 0; policy <= 1; policy++) {
                ps_stage_params p = make_params(KINDS[ki], policy, w, 1, 0);
                int bad = 0;
                CHECK(run(&p, x, n, 1, 0, 2, o));
                for (int64_t i = 2 * w + 3 + w; i < n; i++)
                    bad += !isfinite(o[i]);
                CHECK_CTX(bad == 0, "w=%lld %s: %d non-finite outputs after inf/NaN left",
                          (long long)w, kind_name(KINDS[ki]), bad);
            }
        free(x);
        free(o);
    }
}

/* Outputs depend on the window values and phase only: the same window
   content at the same phase gives the same bits whatever came before. */
static void test_history_free(void)
{
    const int64_t w = 10, n = 200;
    double x[200], y[200], ox[200], oy[200];
    for (int64_t i = 0; i < n; i++) {
        x[i] = rnd_normal() * 1e6;
        y[i] = i < 100 ? rnd_normal() * 1e-3 + (i == 50 ? 1e300 : 0.0) : x[i];
    }
    for (int ki = 0; ki < NKINDS; ki++) {
        ps_stage_params p = make_params(KINDS[ki], PS_NAN_OMIT, w, 1, 1);
        int bad = 0;
        CHECK(run(&p, x, n, 1, 0, 2, ox));
        CHECK(run(&p, y, n, 1, 0, 2, oy));
        for (int64_t i = 100 + w - 1; i < n; i++)
            bad += !same_bits(ox[i], oy[i]);
        CHECK_CTX(bad == 0, "%s: history changed %d outputs", kind_name(KINDS[ki]), bad);
    }
}

/* Sum / mean of clean data over many whole blocks (the block-at-a-time
   path, with its runs of whole groups of 8 and pairs of them), a lone NaN
   or inf at varying offsets (fallback to the general path mid-chunk). */
static void test_sum_blocks(void)
{
    static const int64_t ws[] = {8, 16, 24, 31, 32, 33, 48, 64, 100};
    for (int wi = 0; wi < 9; wi++)
        for (int variant = 0; variant < 4; variant++) {
            const int64_t w = ws[wi], n = 12 * w + 5;
            double *x = malloc((size_t)n * sizeof(double));
            if (!x) {
                CHECK(!"out of memory");
                return;
            }
            for (int64_t i = 0; i < n; i++)
                x[i] = rnd_normal() * 1e3 + 7.0;
            if (variant == 1)
                x[3 * w + rnd_below(w)] = NAN;
            else if (variant == 2)
                x[5 * w + rnd_below(w)] = INFINITY;
            else if (variant == 3)
                x[4 * w + 16 + rnd_below(w)] = NAN;
            for (int kind = PS_MOVE_SUM; kind <= PS_MOVE_MEAN; kind++)
                for (int policy = 0; policy <= 1; policy++)
                    for (int64_t start = 0; start <= 9; start += 9) {
                        ps_stage_params p = make_params(kind, policy, w, 1 + rnd_below(w), 0);
                        check_scenario(&p, x, n, 1, start, "blocks");
                    }
            free(x);
        }
}

/* Hand-checked values. */
static void test_small(void)
{
    const double x[] = {1, 3, NAN, 2, 2, -1, 5};
    double o[7];
    int64_t nout;
    ps_stage_params p = make_params(PS_MOVE_SUM, PS_NAN_OMIT, 3, 2, 0);
    void *st = ps_family_window.create(&p, 1, 0);
    CHECK(st != NULL);
    if (!st)
        return;
    ps_family_window.update(st, x, 7, o, &nout);
    CHECK(nout == 7);
    CHECK(isnan(o[0]) && o[1] == 4 && o[2] == 4 && o[3] == 5 && o[4] == 4 && o[5] == 3 &&
          o[6] == 6);
    ps_family_window.destroy(st);

    p = make_params(PS_MOVE_ARGMIN, PS_NAN_PROPAGATE, 3, 1, 0);
    st = ps_family_window.create(&p, 1, 0);
    CHECK(st != NULL);
    if (!st)
        return;
    ps_family_window.update(st, x, 7, o, &nout);
    CHECK(o[0] == 0 && o[1] == 1 && isnan(o[2]) && isnan(o[3]) && isnan(o[4]) && o[5] == 0 &&
          o[6] == 1);
    ps_family_window.destroy(st);

    p = make_params(PS_MOVE_MAX, PS_NAN_OMIT, 4, 1, 0);
    st = ps_family_window.create(&p, 1, 0);
    CHECK(st != NULL);
    if (!st)
        return;
    ps_family_window.update(st, x, 7, o, &nout);
    CHECK(o[0] == 1 && o[1] == 3 && o[2] == 3 && o[3] == 3 && o[4] == 3 && o[5] == 2 &&
          o[6] == 5);
    ps_family_window.destroy(st);

    p = make_params(PS_MOVE_VAR, PS_NAN_OMIT, 3, 1, 1);
    st = ps_family_window.create(&p, 1, 0);
    CHECK(st != NULL);
    if (!st)
        return;
    ps_family_window.update(st, x, 7, o, &nout);
    /* windows: {1}, {1,3}, {1,3}, {3,2}, {2,2}, {2,2,-1}, {2,-1,5} */
    CHECK(isnan(o[0]) && o[1] == 2 && o[2] == 2 && o[3] == 0.5 && o[4] == 0 && o[5] == 3 &&
          o[6] == 9);
    ps_family_window.destroy(st);
}

static void test_family_and_alloc(void)
{
    CHECK(ps_family_window.save == NULL && ps_family_window.load == NULL);
    CHECK(ps_family_window.flush == NULL);
    CHECK(ps_family_window.create && ps_family_window.update && ps_family_window.destroy);
    {
        /* n = 0 updates write nothing. */
        ps_stage_params p = make_params(PS_MOVE_MEAN, PS_NAN_OMIT, 5, 1, 0);
        void *st = ps_family_window.create(&p, 2, 3);
        double o[2] = {42, 42};
        int64_t nout = -1;
        CHECK(st != NULL);
        if (st) {
            ps_family_window.update(st, o, 0, o, &nout);
            CHECK(nout == 0 && o[0] == 42);
            ps_family_window.destroy(st);
        }
    }
    {
        /* Windows beyond PS_WINDOW_MAX are refused. */
        ps_stage_params p = make_params(PS_MOVE_SUM, PS_NAN_OMIT, PS_WINDOW_MAX + 1, 1, 0);
        CHECK(ps_family_window.create(&p, 1, 0) == NULL);
    }
#ifdef __SANITIZE_ADDRESS__
    {
        /* Impossible allocations: NULL, nothing leaked (LSan). */
        ps_stage_params p = make_params(PS_MOVE_MIN, PS_NAN_OMIT, 2, 1, 0);
        CHECK(ps_family_window.create(&p, (int64_t)1 << 41, 0) == NULL);
    }
    for (int ki = 0; ki < NKINDS; ki++) {
        /* Memory grows with the records: a 2**40 window is created, and an
           update needing room for 2**40 records of 2**16 values fails
           with nout = -1 (without reading its input), changing nothing. */
        const int64_t width = (int64_t)1 << 16;
        ps_stage_params p = make_params(KINDS[ki], PS_NAN_OMIT, (int64_t)1 << 40, 1, 0);
        void *st = ps_family_window.create(&p, width, 5);
        double *x = malloc((size_t)(3 * width) * sizeof(double));
        double *o = malloc((size_t)(3 * width) * sizeof(double));
        int64_t nout = 0;
        CHECK(st != NULL && x != NULL && o != NULL);
        if (st && x && o) {
            for (int64_t i = 0; i < 3 * width; i++)
                x[i] = (double)(i / width + 1);
            ps_family_window.update(st, x, 1, o, &nout);
            CHECK(nout == 1);
            ps_family_window.update(st, x, (int64_t)1 << 40, o, &nout);
            CHECK(nout == -1);
            ps_family_window.update(st, x + width, 2, o + width, &nout);
            CHECK(nout == 2);
            /* records 1, 2, 3 in every column */
            if (KINDS[ki] == PS_MOVE_SUM)
                CHECK(o[2 * width + 3] == 6.0);
            if (KINDS[ki] == PS_MOVE_MAX)
                CHECK(o[2 * width + 3] == 3.0);
        }
        free(x);
        free(o);
        if (st)
            ps_family_window.destroy(st);
    }
#endif
}

/* Huge windows over short streams: memory and time follow the records seen
   (a nominal-size state would not even be allocated), and the outputs
   still match the reference, every chunking and a replay, including where
   a block boundary (a multiple of the window) falls inside the stream. */
static void test_huge_windows(void)
{
    static const int64_t WS[] = {300000000, (int64_t)1 << 40, PS_WINDOW_MAX};
    const int64_t n = 700;
    double *x = malloc((size_t)(3 * n) * sizeof(double));
    if (!x) {
        CHECK(!"out of memory");
        return;
    }
    for (int wi = 0; wi < 3; wi++) {
        const int64_t w = WS[wi];
        /* start: at a block start, inside one, and n/3 records before the
           end of a block (the stream crosses into the next block) */
        const int64_t starts[] = {0, 12345, w - n / 3,
                                  w > INT64_MAX / 2 - n ? INT64_MAX - 4 * n : 2 * w - 1};
        for (int si = 0; si < 4; si++)
            for (int type = 0; type < ND; type++) {
                const int64_t width = type == D_MIXED ? 3 : 1;
                fill(x, n * width, type);
                for (int ki = 0; ki < NKINDS; ki++)
                    for (int policy = 0; policy <= 1; policy++) {
                        const int64_t mcs[] = {1, 1 + rnd_below(n), w};
                        ps_stage_params p =
                            make_params(KINDS[ki], policy, w, mcs[rnd_below(3)],
                                        (double)rnd_below(2));
                        check_scenario(&p, x, n, width, starts[si], "huge");
                    }
            }
    }
    free(x);
}

/* Every SIMD level (simd.h) gives the same bits: the sum / var lane
   kernels at each level of this build and CPU, on clean data (the vector
   path), data with NaN / inf (fallbacks), windows not multiple of 4,
   several columns and random chunkings.  Returns a hash of the outputs
   (--fingerprint: the builds with -DPS_NO_AVX2 / -DPS_NO_SIMD must print
   the same). */
static uint64_t test_simd_levels(void)
{
    static const int64_t ws[] = {2, 3, 4, 5, 7, 8, 12, 16, 17, 33, 100, 257};
    const int best = ps_simd_best();
    for (int wi = 0; wi < 12; wi++)
        for (int type = 0; type < 3; type++)
            for (int ki = 0; ki < 4; ki++) {
                const int64_t w = ws[wi], width = type == 2 ? 2 : 1, n = 9 * w + 37;
                const int kind = PS_MOVE_SUM + ki;
                double *x = malloc((size_t)(n * width) * sizeof(double));
                double *ref = malloc((size_t)(n * width) * sizeof(double));
                double *got = malloc((size_t)(n * width) * sizeof(double));
                if (!x || !ref || !got) {
                    CHECK(!"out of memory");
                    free(x);
                    free(ref);
                    free(got);
                    return *fp_state();
                }
                for (int64_t i = 0; i < n * width; i++)
                    x[i] = rnd_normal() * 100.0 + 1e4;
                if (type >= 1) {
                    x[rnd_below(n * width)] = NAN;
                    x[rnd_below(n * width)] = INFINITY;
                }
                for (int policy = 0; policy <= 1; policy++) {
                    ps_stage_params p = make_params(kind, policy, w, 1 + rnd_below(w), 1);
                    uint64_t seed = rnd();
                    int bad = 0;
                    for (int level = PS_SIMD_PORTABLE; level <= best; level++) {
                        uint64_t keep = rng_state;
                        ps_simd_set_limit(level);
                        rng_state = seed; /* the same chunking at every level */
                        CHECK(run(&p, x, n, width, 3, 2, level == 0 ? ref : got));
                        rng_state = keep;
                        if (level > 0)
                            for (int64_t i = 0; i < n * width; i++)
                                bad += !same_bits(ref[i], got[i]);
                    }
                    ps_simd_set_limit(PS_SIMD_AVX512);
                    CHECK_CTX(bad == 0, "%s w=%lld type=%d: %d outputs differ between SIMD levels",
                              kind_name(kind), (long long)w, type, bad);
                    for (int64_t i = 0; i < n * width; i++) {
                        double v = ref[i] != ref[i] ? NAN : ref[i];
                        fp_mix(&v, sizeof v);
                    }
                }
                free(x);
                free(ref);
                free(got);
            }
    return *fp_state();
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--fingerprint") == 0) {
        printf("%016llx\n", (unsigned long long)test_simd_levels());
        return failed != 0;
    }
    test_simd_levels();
    test_family_and_alloc();
    test_small();
    test_history_free();
    test_drift_free();
    test_grid();
    test_sum_blocks();
    test_huge_windows();
    return report();
}
