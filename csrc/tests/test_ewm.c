/*
 * C unit tests of the EWM kernels (ewm.c), mainly the blocked mean with
 * adjust=1 and its SIMD group kernels.  Run under ASan + UBSan.
 *
 * - every SIMD level the CPU and the build allow (ps_simd_set_limit) gives
 *   the same bits, on data that takes the group kernels (long runs without
 *   gap) and data that leaves them (NaN / inf runs, repeated values,
 *   overflow, alpha 1);
 * - the outputs do not depend on the chunking (whole, one record per call,
 *   random sizes, save -> load into a fresh state between calls) nor on the
 *   record width (column j of a width-3 stage == the same column alone);
 * - they agree with pandas' recurrence (written here) within O(eps/alpha);
 * - a constant series gives exactly the constant;
 * - load() refuses states the kernels cannot reach.
 * With --fingerprint it prints one hash of all outputs instead: the builds
 * with -DPS_NO_AVX2 and -DPS_NO_SIMD must print the same.
 */
#include "stage_internal.h"

#include <float.h>
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

static int same_array(const double *a, const double *b, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++)
        if (!same_bits(a[i], b[i])) {
            fprintf(stderr, "  %s: differ at %lld: %.17g vs %.17g\n", what, (long long)i, a[i],
                    b[i]);
            return 0;
        }
    return 1;
}

/* ---- data ------------------------------------------------------------------ */

enum { D_NORMAL, D_GAPS, D_RUNS, D_CONST, D_STEP, D_HUGE, D_REPEAT, D_COUNT };

/* n x w values of one of the kinds above. */
static double *make_data(int kind, int64_t n, int64_t w)
{
    double *x = malloc((size_t)(n * w + 1) * sizeof *x);
    for (int64_t i = 0; i < n * w; i++) {
        double v = rnd_normal() * 3.0 + 1.0;
        double u = rnd_unit();
        switch (kind) {
        case D_GAPS: /* scattered NaN and inf */
            if (u < 0.05)
                v = NAN;
            else if (u < 0.06)
                v = rnd() & 1 ? INFINITY : -INFINITY;
            break;
        case D_CONST:
            v = 0.1;
            break;
        case D_HUGE: /* sums overflow: the mean is lost and restarts */
            v = (rnd() & 1 ? 1.0 : -1.0) * DBL_MAX * (0.5 + 0.5 * u);
            break;
        case D_REPEAT: /* small integers: values equal the mean at times */
            v = (double)(rnd() % 3);
            break;
        default:
            break;
        }
        x[i] = v;
    }
    if (kind == D_RUNS) /* long runs without gap between NaN / inf runs */
        for (int64_t i = 0; i < n; i++) {
            int64_t r = i % 997;
            if ((r >= 300 && r < 340) || r == 700 || (r >= 900 && r < 905))
                for (int64_t j = 0; j < w; j++)
                    x[i * w + j] = r == 902 ? INFINITY : NAN;
        }
    if (kind == D_STEP) /* constant stretches after noise */
        for (int64_t i = 0; i < n; i++)
            if ((i / 1000) % 2)
                for (int64_t j = 0; j < w; j++)
                    x[i * w + j] = 7.25;
    return x;
}

/* ---- driving the family ---------------------------------------------------- */

typedef struct {
    uint8_t *bytes;
    size_t size;
} blob;

static blob save_state(const void *st)
{
    ps_writer w = {NULL, 0, 0};
    ps_family_ewm.save(st, &w);
    blob b = {malloc(w.pos ? w.pos : 1), w.pos};
    ps_writer w2 = {b.bytes, 0, b.size};
    ps_family_ewm.save(st, &w2);
    CHECK(w2.pos == b.size);
    return b;
}

static int load_state(void *st, const uint8_t *bytes, size_t size)
{
    ps_reader r = {bytes, 0, size, 0};
    int s = ps_family_ewm.load(st, &r);
    if (s == PS_OK && r.pos != size)
        return -1;
    return s;
}

enum { WHOLE, ONE, RANDOM, RELOAD, MODES };

/* Outputs of the stream through the family (n x w), chunked by `mode`. */
static double *run(const ps_stage_params *p, int64_t w, const double *x, int64_t n, int mode)
{
    double *out = malloc((size_t)(n * w + 1) * sizeof *out);
    void *st = ps_family_ewm.create(p, w, 0);
    CHECK(st != NULL);
    int64_t i = 0;
    while (i < n) {
        int64_t k = n - i;
        if (mode == ONE)
            k = 1;
        else if (mode == RANDOM || mode == RELOAD)
            k = 1 + (int64_t)(rnd() % (rnd() & 1 ? 7 : 300));
        if (k > n - i)
            k = n - i;
        int64_t nout = -1;
        ps_family_ewm.update(st, x + i * w, k, out + i * w, &nout);
        CHECK(nout == k);
        i += k;
        if (mode == RELOAD) {
            blob b = save_state(st);
            void *s2 = ps_family_ewm.create(p, w, 0);
            CHECK(load_state(s2, b.bytes, b.size) == PS_OK);
            blob b2 = save_state(s2);
            CHECK(b2.size == b.size && memcmp(b.bytes, b2.bytes, b.size) == 0);
            free(b.bytes);
            free(b2.bytes);
            ps_family_ewm.destroy(st);
            st = s2;
        }
    }
    ps_family_ewm.destroy(st);
    return out;
}

/* pandas' `ewm` (normalize=True), inf as NaN, one column. */
static void ref_mean(const double *x, int64_t n, int64_t w, int64_t j, const ps_stage_params *p,
                     double *out)
{
    double com = 1.0 / p->alpha - 1.0, alpha = 1.0 / (1.0 + com);
    double owf = 1.0 - alpha, new_wt = p->adjust ? 1.0 : alpha;
    int64_t minp = p->min_count > 1 ? p->min_count : 1, nobs = 0;
    double weighted = NAN, old_wt = 1.0;
    for (int64_t i = 0; i < n; i++) {
        double cur = x[i * w + j];
        if (isinf(cur))
            cur = NAN;
        int obs = cur == cur;
        nobs += obs;
        if (i == 0) {
            weighted = cur;
        } else if (weighted == weighted) {
            if (obs || !p->ignore_na) {
                old_wt *= owf;
                if (obs) {
                    if (weighted != cur) {
                        if (!p->adjust && com == 1.0)
                            new_wt = 1.0 - old_wt;
                        weighted = old_wt * weighted + new_wt * cur;
                        weighted /= (old_wt + new_wt);
                    }
                    old_wt = p->adjust ? old_wt + new_wt : 1.0;
                }
            }
        } else if (obs) {
            weighted = cur;
        }
        out[i * w + j] = nobs >= minp ? weighted : NAN;
    }
}

static const int levels[] = {PS_SIMD_PORTABLE, PS_SIMD_SSE2, PS_SIMD_AVX2};

/* One configuration: all levels x all chunkings give the same bits; the
   width-3 stage's columns equal the columns alone; pandas within `tol`. */
static void check_config(int kind, int adjust, int ign, double alpha, int64_t minp, int dkind,
                         int64_t n, double tol)
{
    ps_stage_params p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.alpha = alpha;
    p.adjust = adjust;
    p.ignore_na = ign;
    p.min_count = minp;
    p.bias = 1;
    const int64_t w = 3;
    double *x = make_data(dkind, n, w);
    double *col = malloc((size_t)n * sizeof *col);
    for (int64_t i = 0; i < n; i++)
        col[i] = x[i * w + 1];
    char what[160];
    snprintf(what, sizeof what, "kind %d adjust %d ign %d alpha %g minp %lld data %d", kind,
             adjust, ign, alpha, (long long)minp, dkind);

    ps_simd_set_limit(PS_SIMD_AVX512);
    double *ref = run(&p, 1, col, n, WHOLE);
    fp_mix(ref, (size_t)n * sizeof *ref);
    for (int l = 0; l < 3; l++) {
        /* a level the build or the CPU lacks runs the next lower one (the
           same calls in every build: the fingerprints use the same data) */
        ps_simd_set_limit(levels[l]);
        for (int mode = WHOLE; mode < MODES; mode++) {
            double *o = run(&p, 1, col, n, mode);
            CHECK_CTX(same_array(o, ref, n, what), "%s: level %d mode %d", what, levels[l],
                      mode);
            free(o);
        }
        double *o3 = run(&p, w, x, n, RANDOM);
        int ok = 1;
        for (int64_t i = 0; i < n && ok; i++)
            ok = same_bits(o3[i * w + 1], ref[i]);
        CHECK_CTX(ok, "%s: level %d, width 3", what, levels[l]);
        free(o3);
    }
    ps_simd_set_limit(PS_SIMD_AVX512);

    if (kind == PS_EWM_MEAN && dkind != D_HUGE) {
        double *pd = malloc((size_t)n * sizeof *pd);
        ref_mean(col, n, 1, 0, &p, pd);
        double scale = 0.0;
        for (int64_t i = 0; i < n; i++)
            if (fabs(col[i]) <= DBL_MAX && fabs(col[i]) > scale)
                scale = fabs(col[i]);
        int ok = 1;
        for (int64_t i = 0; i < n && ok; i++) {
            if (isnan(pd[i]) || isnan(ref[i]))
                ok = isnan(pd[i]) && isnan(ref[i]);
            else
                ok = fabs(ref[i] - pd[i]) <= tol * scale;
            if (!ok)
                fprintf(stderr, "  %s: at %lld %.17g vs pandas %.17g\n", what, (long long)i,
                        ref[i], pd[i]);
        }
        CHECK_CTX(ok, "%s: pandas", what);
        if (adjust == 0)
            CHECK_CTX(same_array(ref, pd, n, what), "%s: adjust=0 is pandas' bits", what);
        if (dkind == D_CONST)
            for (int64_t i = 0; i < n; i++)
                if (!(ref[i] == 0.1 || (i + 1 < minp && isnan(ref[i])))) {
                    CHECK_CTX(0, "%s: constant series, %lld: %.17g", what, (long long)i, ref[i]);
                    break;
                }
        free(pd);
    }
    free(ref);
    free(col);
    free(x);
}

/* ---- states ------------------------------------------------------------------ */

static double word_f64(const blob *b, int k)
{
    double v;
    memcpy(&v, b->bytes + 8 * k, 8);
    return v;
}

static void set_word(uint8_t *bytes, int k, const void *v) { memcpy(bytes + 8 * k, v, 8); }

/* Mean adjust=1, per column: Sb, W, G, mean, cov, C, P, nobs, half. */
static void test_states(void)
{
    ps_stage_params p;
    memset(&p, 0, sizeof p);
    p.kind = PS_EWM_MEAN;
    p.alpha = 0.25;
    p.adjust = 1;
    double *x = make_data(D_NORMAL, 200, 1);
    x[150] = NAN;
    double o[200];
    int64_t nout;
    /* states after each count of records: all load, and refusals */
    for (int64_t n = 0; n <= 160; n += 1) {
        void *st = ps_family_ewm.create(&p, 1, 0);
        if (n)
            ps_family_ewm.update(st, x, n, o, &nout);
        blob b = save_state(st);
        CHECK(b.size == 72);
        void *s2 = ps_family_ewm.create(&p, 1, 0);
        CHECK_CTX(load_state(s2, b.bytes, b.size) == PS_OK, "n %lld", (long long)n);
        ps_family_ewm.destroy(s2);
        int64_t nobs, half;
        memcpy(&nobs, b.bytes + 56, 8);
        memcpy(&half, b.bytes + 64, 8);
        CHECK(half == (nobs % 8 != 0));
        double C = word_f64(&b, 5), P = word_f64(&b, 6), W = word_f64(&b, 1);
        CHECK(C >= 0.0 && C <= 1.0 && (half || (C == 1.0 && P == 0.0)));
        CHECK(nobs == 0 ? W == 0.0 : W >= 1.0 && W <= 4.0 + 1e-9);
        /* edits that no stream reaches */
        const struct {
            int word;
            double v;
            int64_t iv;
        } bad[] = {
            {8, 0, !half},   {8, 0, 2},   {7, 0, -1},   {5, 1.5, 0},     {5, -0.5, 0},
            {5, NAN, 0},     {2, 1.5, 0}, {2, NAN, 0},  {1, 0.5, 0},     {1, 5.5, 0},
            {1, NAN, 0},     {4, 1.0, 0}, {6, half ? NAN : 1.0, 0},
        };
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            if (bad[k].word == 6 && half)
                continue; /* any P can be reached in a block */
            if (bad[k].word == 1 && nobs == 0 && bad[k].v == 0.5)
                continue;
            uint8_t *e = malloc(b.size);
            memcpy(e, b.bytes, b.size);
            if (bad[k].word >= 7)
                set_word(e, bad[k].word, &bad[k].iv);
            else
                set_word(e, bad[k].word, &bad[k].v);
            void *s3 = ps_family_ewm.create(&p, 1, 0);
            CHECK_CTX(load_state(s3, e, b.size) == PS_ERR_CORRUPT, "n %lld, edit %zu", (long long)n,
                      k);
            ps_family_ewm.destroy(s3);
            free(e);
        }
        free(b.bytes);
        ps_family_ewm.destroy(st);
    }
    /* random bit flips: refused, or a state that runs (under the sanitizers) */
    void *st = ps_family_ewm.create(&p, 1, 0);
    ps_family_ewm.update(st, x, 77, o, &nout);
    blob b = save_state(st);
    for (int k = 0; k < 3000; k++) {
        uint8_t e[72];
        memcpy(e, b.bytes, 72);
        e[rnd() % 72] ^= (uint8_t)(1u << (rnd() % 8));
        void *s2 = ps_family_ewm.create(&p, 1, 0);
        int r = load_state(s2, e, 72);
        CHECK(r == PS_OK || r == PS_ERR_CORRUPT);
        if (r == PS_OK)
            ps_family_ewm.update(s2, x, 200, o, &nout);
        ps_family_ewm.destroy(s2);
    }
    free(b.bytes);
    ps_family_ewm.destroy(st);
    free(x);
}

/* Endless stream: Sb and W stay bounded; the mean stays accurate. */
static void test_long(void)
{
    ps_stage_params p;
    memset(&p, 0, sizeof p);
    p.kind = PS_EWM_MEAN;
    p.alpha = 1e-3;
    p.adjust = 1;
    int64_t n = 400000;
    double *x = make_data(D_NORMAL, n, 1);
    for (int64_t i = 0; i < n; i++)
        x[i] += 1e3;
    double *o = malloc((size_t)n * sizeof *o), *pd = malloc((size_t)n * sizeof *pd);
    void *st = ps_family_ewm.create(&p, 1, 0);
    int64_t nout;
    ps_family_ewm.update(st, x, n, o, &nout);
    ref_mean(x, n, 1, 0, &p, pd);
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(o[i] - pd[i]) / fabs(pd[i]));
    CHECK_CTX(worst < 1e-12, "relative error %g", worst);
    fp_mix(o, (size_t)n * sizeof *o);
    blob b = save_state(st);
    CHECK(fabs(word_f64(&b, 0)) <= 1.1e3 / 1e-3 && word_f64(&b, 1) <= 1.0 / 1e-3 + 1.0);
    free(b.bytes);
    ps_family_ewm.destroy(st);
    free(o);
    free(pd);
    free(x);
}

int main(int argc, char **argv)
{
    int fp_only = argc > 1 && strcmp(argv[1], "--fingerprint") == 0;
    static const double alphas[] = {2.0 / 101.0, 0.3, 1e-3, 1.0, 0.999, 0.5};
    for (int kind = PS_EWM_MEAN; kind <= PS_EWM_STD; kind++)
        for (int adjust = 1; adjust >= 0; adjust--)
            for (int d = 0; d < D_COUNT; d++)
                for (int a = 0; a < 6; a++) {
                    if (kind != PS_EWM_MEAN && a >= 2 && a != 3)
                        continue;
                    int64_t n = alphas[a] == 1e-3 ? 60000 : 5000;
                    double tol = 64 * DBL_EPSILON / alphas[a];
                    check_config(kind, adjust, a & 1, alphas[a], a == 1 ? 40 : 0, d, n, tol);
                }
    test_states();
    test_long();
    if (fp_only) {
        printf("%016llx\n", (unsigned long long)*fp_state());
        return failed != 0;
    }
    return report();
}
