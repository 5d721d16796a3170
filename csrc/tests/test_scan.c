/*
 * C unit tests of the scan (cumsum ... cumstd), EWM and block (resample)
 * stage families and of the exact int64 scans.  Run under ASan + UBSan.
 *
 * The families are called directly (create / update / flush / save /
 * load / destroy).  Outputs are compared with naive references written
 * here (bit for bit where the kernel promises it), across chunkings
 * (whole, one record per call, random) and across save -> load into a
 * fresh state.  Prints "N passed, M failed", exits non-zero on failure.
 */
#include "stage_internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testkit.h"

/* n x w values: normal * scale + offset, NaN with probability p_nan,
   ±inf with probability p_inf. */
static double *make_data(int64_t n, int64_t w, double scale, double offset, double p_nan,
                         double p_inf)
{
    double *x = malloc((size_t)(n * w + 1) * sizeof *x);
    for (int64_t i = 0; i < n * w; i++) {
        double u = rnd_unit();
        if (u < p_nan)
            x[i] = NAN;
        else if (u < p_nan + p_inf)
            x[i] = rnd() & 1 ? INFINITY : -INFINITY;
        else
            x[i] = rnd_normal() * scale + offset;
    }
    return x;
}

static int same_bits(double a, double b)
{
    if (isnan(a) && isnan(b))
        return 1;
    return memcmp(&a, &b, sizeof a) == 0;
}

static int same_array(const double *a, const double *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!same_bits(a[i], b[i])) {
            fprintf(stderr, "  differ at %lld: %.17g vs %.17g\n", (long long)i, a[i], b[i]);
            return 0;
        }
    return 1;
}

/* |a - b| <= rtol * |b| + atol, NaN matching NaN, inf matching inf. */
static int close_array(const double *a, const double *b, int64_t n, double rtol, double atol)
{
    for (int64_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i]) || isinf(a[i]) || isinf(b[i])) {
            if (!same_bits(a[i], b[i]) && !(isnan(a[i]) && isnan(b[i]))) {
                fprintf(stderr, "  differ at %lld: %.17g vs %.17g\n", (long long)i, a[i],
                        b[i]);
                return 0;
            }
            continue;
        }
        if (!(fabs(a[i] - b[i]) <= rtol * fabs(b[i]) + atol)) {
            fprintf(stderr, "  differ at %lld: %.17g vs %.17g\n", (long long)i, a[i], b[i]);
            return 0;
        }
    }
    return 1;
}

/* ---- driving a family ---------------------------------------------------- */

typedef struct {
    uint8_t *bytes;
    size_t size;
} blob;

static blob save_state(const ps_family *fam, const void *st)
{
    ps_writer w = {NULL, 0, 0};
    fam->save(st, &w);
    blob b = {malloc(w.pos ? w.pos : 1), w.pos};
    ps_writer w2 = {b.bytes, 0, b.size};
    fam->save(st, &w2);
    CHECK(w2.pos == b.size);
    return b;
}

static int load_state(const ps_family *fam, void *st, const uint8_t *bytes, size_t size)
{
    ps_reader r = {bytes, 0, size, 0};
    int s = fam->load(st, &r);
    if (s == PS_OK && r.pos != size)
        return -1;
    return s;
}

enum { WHOLE, ONE, RANDOM, RELOAD };

/* Run the stream through the family; returns the output rows (and the
   flush row, if any, appended) in a malloc'ed array; *rows = row count. */
static double *run(const ps_family *fam, const ps_stage_params *p, int64_t w, int64_t start,
                   const double *x, int64_t n, int mode, int64_t *rows)
{
    double *out = malloc((size_t)((n + 2) * w) * sizeof *out);
    double *tmp = malloc((size_t)w * sizeof *tmp);
    void *st = fam->create(p, w, start);
    CHECK(st != NULL);
    int64_t i = 0, r = 0;
    while (i < n) {
        int64_t k = n - i;
        if (mode == ONE)
            k = 1;
        else if (mode == RANDOM || mode == RELOAD)
            k = 1 + (int64_t)(rnd() % 37);
        if (k > n - i)
            k = n - i;
        int64_t nout = -1;
        fam->update(st, x + i * w, k, out + r * w, &nout);
        CHECK(nout >= 0 && nout <= k);
        r += nout;
        i += k;
        if (mode == RANDOM && fam->flush) { /* flush must not change the state */
            int64_t nf = -1;
            fam->flush(st, tmp, &nf);
            CHECK(nf == 0 || nf == 1);
        }
        if (mode == RELOAD) {
            blob b = save_state(fam, st);
            void *st2 = fam->create(p, w, start);
            int ls = load_state(fam, st2, b.bytes, b.size);
            if (ls != PS_OK)
                fprintf(stderr, "  reload refused: kind %d\n", p->kind);
            CHECK(ls == PS_OK);
            /* the reloaded state saves to the same bytes */
            blob b2 = save_state(fam, st2);
            CHECK(b2.size == b.size && memcmp(b.bytes, b2.bytes, b.size) == 0);
            free(b2.bytes);
            free(b.bytes);
            fam->destroy(st);
            st = st2;
        }
    }
    if (fam->flush) {
        int64_t nf = -1;
        fam->flush(st, out + r * w, &nf);
        CHECK(nf == 0 || nf == 1);
        r += nf;
    }
    fam->destroy(st);
    free(tmp);
    *rows = r;
    return out;
}

/* All chunkings give bit-identical outputs; returns the WHOLE output. */
static double *run_all(const ps_family *fam, const ps_stage_params *p, int64_t w,
                       int64_t start, const double *x, int64_t n, int64_t *rows)
{
    double *ref = run(fam, p, w, start, x, n, WHOLE, rows);
    for (int mode = ONE; mode <= RELOAD; mode++) {
        int64_t r2;
        double *o = run(fam, p, w, start, x, n, mode, &r2);
        CHECK(r2 == *rows);
        if (r2 == *rows)
            CHECK(same_array(o, ref, r2 * w));
        free(o);
    }
    return ref;
}

static ps_stage_params params(int kind, int policy)
{
    ps_stage_params p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.nan_policy = policy;
    p.alpha = 0.5;
    return p;
}

/* ---- references ------------------------------------------------------------ */

static void ref_cumsum(const double *x, int64_t n, int64_t w, int64_t j, int omit, int prod,
                       double *out)
{
    for (int64_t i = 0; i < n; i++) {
        double v = x[i * w + j];
        if (omit && isnan(v))
            v = prod ? 1.0 : 0.0;
        out[i * w + j] = i == 0 ? v : prod ? out[(i - 1) * w + j] * v : out[(i - 1) * w + j] + v;
    }
}

/* long double running mean / variance (Welford) */
static void ref_cummoments(const double *x, int64_t n, int64_t w, int64_t j, int omit,
                           int kind, double ddof, double *out)
{
    long double m = 0, m2 = 0, s = 0;
    int64_t k = 0;
    int nan_seen = 0, inf_seen = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = x[i * w + j];
        if (isnan(v)) {
            if (!omit)
                nan_seen = 1;
        } else if (isinf(v)) {
            inf_seen = 1;
            k++;
            s += v;
        } else {
            k++;
            s += v;
            long double d = v - m;
            m += d / k;
            m2 += d * (v - m);
        }
        double r;
        if (nan_seen || inf_seen) {
            r = kind == PS_CUMMEAN && !nan_seen ? (double)(s / k) : NAN;
        } else if (kind == PS_CUMMEAN) {
            r = k ? (double)m : NAN;
        } else {
            r = k - ddof > 0 ? (double)(m2 / (k - ddof)) : NAN;
            if (kind == PS_CUMSTD)
                r = sqrt(r);
        }
        out[i * w + j] = r;
    }
}

static double pd_val(double v) { return isinf(v) ? NAN : v; }

/* pandas' `ewm` (normalize=True), inf mapped to NaN like pandas. */
static void ref_ewm_mean(const double *x, int64_t n, int64_t w, int64_t j,
                         const ps_stage_params *p, double *out)
{
    double com = 1.0 / p->alpha - 1.0, alpha = 1.0 / (1.0 + com);
    double owf = 1.0 - alpha, new_wt = p->adjust ? 1.0 : alpha;
    int64_t minp = p->min_count > 1 ? p->min_count : 1;
    double weighted = pd_val(x[j]);
    int64_t nobs = weighted == weighted;
    out[j] = nobs >= minp ? weighted : NAN;
    double old_wt = 1.0;
    for (int64_t i = 1; i < n; i++) {
        double cur = pd_val(x[i * w + j]);
        int obs = cur == cur;
        nobs += obs;
        if (weighted == weighted) {
            if (obs || !p->ignore_na) {
                old_wt *= owf;
                if (obs) {
                    if (weighted != cur) {
                        if (!p->adjust && com == 1.0)
                            new_wt = 1.0 - old_wt;
                        weighted = old_wt * weighted + new_wt * cur;
                        weighted /= (old_wt + new_wt);
                    }
                    if (p->adjust)
                        old_wt += new_wt;
                    else
                        old_wt = 1.0;
                }
            }
        } else if (obs) {
            weighted = cur;
        }
        out[i * w + j] = nobs >= minp ? weighted : NAN;
    }
}

/* pandas' `ewmcov` with x = y. */
static void ref_ewm_var(const double *x, int64_t n, int64_t w, int64_t j,
                        const ps_stage_params *p, double *out)
{
    double com = 1.0 / p->alpha - 1.0, alpha = 1.0 / (1.0 + com);
    double owf = 1.0 - alpha, new_wt = p->adjust ? 1.0 : alpha;
    int64_t minp = p->min_count > 1 ? p->min_count : 1;
    double mean = pd_val(x[j]);
    int64_t nobs = mean == mean;
    double cov = 0, sum_wt = 1, sum_wt2 = 1, old_wt = 1;
    for (int64_t i = 0; i < n; i++) {
        if (i > 0) {
            double cur = pd_val(x[i * w + j]);
            int obs = cur == cur;
            nobs += obs;
            if (mean == mean) {
                if (obs || !p->ignore_na) {
                    sum_wt *= owf;
                    sum_wt2 *= owf * owf;
                    old_wt *= owf;
                    if (obs) {
                        double om = mean;
                        if (mean != cur)
                            mean = (old_wt * om + new_wt * cur) / (old_wt + new_wt);
                        cov = (old_wt * (cov + (om - mean) * (om - mean)) +
                               new_wt * ((cur - mean) * (cur - mean))) /
                              (old_wt + new_wt);
                        sum_wt += new_wt;
                        sum_wt2 += new_wt * new_wt;
                        old_wt += new_wt;
                        if (!p->adjust) {
                            sum_wt /= old_wt;
                            sum_wt2 /= old_wt * old_wt;
                            old_wt = 1.0;
                        }
                    }
                }
            } else if (obs) {
                mean = cur;
            }
        }
        double v;
        if (nobs < minp)
            v = NAN;
        else if (p->bias)
            v = cov;
        else {
            double num = sum_wt * sum_wt, den = num - sum_wt2;
            v = den > 0 ? (num / den) * cov : NAN;
        }
        out[i * w + j] = p->kind == PS_EWM_STD ? sqrt(v) : v;
    }
}

/* Block sums / means, aligned at global multiples of `win`. */
static int64_t ref_block(const double *x, int64_t n, int64_t w, int64_t win, int64_t start,
                         int omit, int mean, double *out)
{
    int64_t rows = 0;
    int64_t i = 0;
    while (i < n) {
        int64_t g = start + i;
        int64_t len = win - g % win;
        if (len > n - i)
            len = n - i;
        for (int64_t j = 0; j < w; j++) {
            double s = 0;
            int64_t c = 0;
            for (int64_t k = 0; k < len; k++) {
                double v = x[(i + k) * w + j];
                if (omit && isnan(v))
                    v = 0.0;
                else
                    c++;
                s = k == 0 ? v : s + v; /* np.cumsum(block)[-1] */
            }
            if (mean)
                s = s / (double)(omit ? c : len);
            out[rows * w + j] = s;
        }
        rows++;
        i += len;
    }
    return rows;
}

/* ---- tests ----------------------------------------------------------------- */

static void test_scan_kind(int kind, int policy, int64_t w, double p_nan, double p_inf)
{
    int64_t n = 700;
    double *x = make_data(n, w, 3.0, 10.0, p_nan, p_inf);
    ps_stage_params p = params(kind, policy);
    p.ddof = kind == PS_CUMVAR || kind == PS_CUMSTD ? (double)(rnd() % 3) : 0.0;
    int64_t rows;
    double *o = run_all(&ps_family_scan, &p, w, 0, x, n, &rows);
    CHECK(rows == n);
    double *ref = malloc((size_t)(n * w) * sizeof *ref);
    int omit = policy == PS_NAN_OMIT;
    for (int64_t j = 0; j < w; j++) {
        if (kind == PS_CUMSUM || kind == PS_CUMPROD)
            ref_cumsum(x, n, w, j, omit, kind == PS_CUMPROD, ref);
        else
            ref_cummoments(x, n, w, j, omit, kind, p.ddof, ref);
    }
    if (kind == PS_CUMSUM || kind == PS_CUMPROD)
        CHECK(same_array(o, ref, n * w));
    else
        CHECK(close_array(o, ref, n * w, 1e-12, 1e-12));
    free(ref);
    free(o);
    free(x);
}

static void test_scan_special(void)
{
    /* cumprod with values near 1 (long products stay finite) */
    int64_t n = 2000;
    double *x = make_data(n, 1, 0.01, 1.0, 0.05, 0.0);
    for (int pol = 0; pol < 2; pol++) {
        ps_stage_params p = params(PS_CUMPROD, pol);
        int64_t rows;
        double *o = run_all(&ps_family_scan, &p, 1, 0, x, n, &rows);
        double *ref = malloc((size_t)n * sizeof *ref);
        ref_cumsum(x, n, 1, 0, pol == PS_NAN_OMIT, 1, ref);
        CHECK(same_array(o, ref, n));
        free(ref);
        free(o);
    }
    free(x);

    /* constant streams: cumvar exactly 0, cummean exactly the constant for
       exactly representable sums */
    double c[300];
    for (int k = 0; k < 300; k++)
        c[k] = 0.1;
    for (int kind = PS_CUMVAR; kind <= PS_CUMSTD; kind++) {
        ps_stage_params p = params(kind, PS_NAN_OMIT);
        p.ddof = 1.0;
        int64_t rows;
        double *o = run_all(&ps_family_scan, &p, 1, 0, c, 300, &rows);
        int ok = isnan(o[0]);
        for (int k = 1; k < 300; k++)
            ok &= o[k] == 0.0;
        CHECK(ok);
        free(o);
    }
    for (int k = 0; k < 300; k++)
        c[k] = 3.0;
    {
        ps_stage_params p = params(PS_CUMMEAN, PS_NAN_PROPAGATE);
        int64_t rows;
        double *o = run_all(&ps_family_scan, &p, 1, 0, c, 300, &rows);
        int ok = 1;
        for (int k = 0; k < 300; k++)
            ok &= o[k] == 3.0;
        CHECK(ok);
        free(o);
    }

    /* cummean stays accurate on a long stream with a large offset */
    n = 200000;
    x = make_data(n, 1, 1.0, 1e8, 0.0, 0.0);
    {
        ps_stage_params p = params(PS_CUMMEAN, PS_NAN_OMIT);
        void *st = ps_family_scan.create(&p, 1, 0);
        double *o = malloc((size_t)n * sizeof *o);
        int64_t nout;
        ps_family_scan.update(st, x, n, o, &nout);
        long double s = 0;
        double maxerr = 0;
        for (int64_t i = 0; i < n; i++) {
            s += x[i];
            double e = fabs(o[i] - (double)(s / (i + 1)));
            if (e > maxerr)
                maxerr = e;
        }
        CHECK(maxerr <= 2 * 1.5e-8); /* about 1 ulp of 1e8 */
        ps_family_scan.destroy(st);
        free(o);
    }
    free(x);

    /* NaN / inf semantics of cummean and cumvar, first and middle position */
    {
        double v[5] = {NAN, 1.0, INFINITY, 2.0, -INFINITY};
        double o[5];
        int64_t nout;
        ps_stage_params p = params(PS_CUMMEAN, PS_NAN_OMIT);
        void *st = ps_family_scan.create(&p, 1, 0);
        ps_family_scan.update(st, v, 5, o, &nout);
        CHECK(isnan(o[0]) && o[1] == 1.0 && o[2] == INFINITY && o[3] == INFINITY && isnan(o[4]));
        ps_family_scan.destroy(st);
        p.nan_policy = PS_NAN_PROPAGATE;
        st = ps_family_scan.create(&p, 1, 0);
        ps_family_scan.update(st, v + 1, 4, o, &nout);
        CHECK(o[0] == 1.0 && o[1] == INFINITY && o[2] == INFINITY && isnan(o[3]));
        ps_family_scan.update(st, v, 1, o, &nout);
        CHECK(isnan(o[0]));
        ps_family_scan.destroy(st);
        double u[4] = {1.0, NAN, 2.0, 3.0};
        st = ps_family_scan.create(&p, 1, 0);
        ps_family_scan.update(st, u, 4, o, &nout);
        CHECK(o[0] == 1.0 && isnan(o[1]) && isnan(o[2]) && isnan(o[3]));
        ps_family_scan.destroy(st);
        p = params(PS_CUMVAR, PS_NAN_OMIT);
        p.ddof = 1;
        st = ps_family_scan.create(&p, 1, 0);
        ps_family_scan.update(st, u, 4, o, &nout);
        CHECK(isnan(o[0]) && isnan(o[1]) && o[2] == 0.5 && o[3] == 1.0);
        ps_family_scan.destroy(st);
    }
}

static void test_ewm(int kind, int adjust, int ignore_na, double alpha, int64_t minp, int bias,
                     int64_t w, double p_nan, double p_inf, double offset)
{
    int64_t n = 600;
    double *x = make_data(n, w, 2.0, offset, p_nan, p_inf);
    /* a long NaN run in the middle (weights decay far) */
    for (int64_t i = 200; i < 260; i++)
        x[i * w] = NAN;
    ps_stage_params p = params(kind, PS_NAN_PROPAGATE);
    p.adjust = adjust;
    p.ignore_na = ignore_na;
    p.alpha = alpha;
    p.min_count = minp;
    p.bias = bias;
    int64_t rows;
    double *o = run_all(&ps_family_ewm, &p, w, 0, x, n, &rows);
    CHECK(rows == n);
    double *ref = malloc((size_t)(n * w) * sizeof *ref);
    for (int64_t j = 0; j < w; j++) {
        if (kind == PS_EWM_MEAN)
            ref_ewm_mean(x, n, w, j, &p, ref);
        else
            ref_ewm_var(x, n, w, j, &p, ref);
    }
    int ok;
    if (kind == PS_EWM_MEAN && !adjust)
        ok = same_array(o, ref, n * w); /* pandas' recurrence, bit for bit */
    else
        ok = close_array(o, ref, n * w, 1e-12, 1e-13 * (1 + fabs(offset)));
    if (!ok)
        fprintf(stderr, "  ewm kind %d adjust %d ignore_na %d alpha %g minp %lld bias %d w %lld nan %g\n",
                kind, adjust, ignore_na, alpha, (long long)minp, bias, (long long)w, p_nan);
    CHECK(ok);
    free(ref);
    free(o);
    free(x);
}

static void test_ewm_special(void)
{
    /* constant series: exactly the constant, exactly 0 */
    int64_t n = 500;
    double *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        x[i] = i % 7 == 3 ? NAN : 0.1;
    for (int kind = PS_EWM_MEAN; kind <= PS_EWM_STD; kind++)
        for (int adjust = 0; adjust < 2; adjust++)
            for (int ign = 0; ign < 2; ign++) {
                ps_stage_params p = params(kind, PS_NAN_PROPAGATE);
                p.adjust = adjust;
                p.ignore_na = ign;
                p.alpha = 0.01;
                p.bias = 1;
                int64_t rows;
                double *o = run_all(&ps_family_ewm, &p, 1, 0, x, n, &rows);
                int ok = 1;
                for (int64_t i = 0; i < n; i++)
                    ok &= o[i] == (kind == PS_EWM_MEAN ? 0.1 : 0.0);
                if (!ok)
                    fprintf(stderr, "  constant: kind %d adjust %d ign %d\n", kind, adjust, ign);
                CHECK(ok);
                free(o);
            }
    free(x);

    /* endless stream, tiny alpha: S and W stay bounded, output accurate */
    n = 300000;
    x = make_data(n, 1, 1.0, 5.0, 0.01, 0.0);
    {
        ps_stage_params p = params(PS_EWM_MEAN, 0);
        p.adjust = 1;
        p.alpha = 1e-3;
        double *o = malloc((size_t)n * sizeof *o), *ref = malloc((size_t)n * sizeof *ref);
        void *st = ps_family_ewm.create(&p, 1, 0);
        int64_t nout;
        ps_family_ewm.update(st, x, n, o, &nout);
        ref_ewm_mean(x, n, 1, 0, &p, ref);
        CHECK(close_array(o, ref, n, 1e-12, 0));
        blob b = save_state(&ps_family_ewm, st);
        ps_reader r = {b.bytes, 0, b.size, 0};
        double S = ps_get_f64(&r), W = ps_get_f64(&r);
        CHECK(W >= 1.0 && W <= 1.0 / 1e-3 + 1.0 && fabs(S) <= 1e5);
        free(b.bytes);
        ps_family_ewm.destroy(st);
        free(o);
        free(ref);
    }
    free(x);

    /* ignore_na=0 with a NaN gap long enough to underflow the old weights */
    n = 2000;
    x = make_data(n, 1, 1.0, 1e6, 0.0, 0.0);
    for (int64_t i = 10; i < 1900; i++)
        x[i] = NAN;
    for (int kind = PS_EWM_MEAN; kind <= PS_EWM_VAR; kind++)
        for (int adjust = 0; adjust < 2; adjust++) {
            ps_stage_params p = params(kind, 0);
            p.adjust = adjust;
            p.alpha = 0.5;
            int64_t rows;
            double *o = run_all(&ps_family_ewm, &p, 1, 0, x, n, &rows);
            double *ref = malloc((size_t)n * sizeof *ref);
            if (kind == PS_EWM_MEAN)
                ref_ewm_mean(x, n, 1, 0, &p, ref);
            else
                ref_ewm_var(x, n, 1, 0, &p, ref);
            CHECK(close_array(o, ref, n, 1e-12, 1e-9));
            CHECK(o[1899] == o[9] || kind != PS_EWM_MEAN); /* gap shows the last mean */
            free(ref);
            free(o);
        }
    free(x);
}

static void test_block(int kind, int policy, int64_t w, int64_t win, int64_t start, int64_t n,
                       double p_nan, double p_inf)
{
    double *x = make_data(n, w, 3.0, 1.0, p_nan, p_inf);
    ps_stage_params p = params(kind, policy);
    p.window = win;
    int64_t rows;
    double *o = run_all(&ps_family_block, &p, w, start, x, n, &rows);
    double *ref = malloc((size_t)((n + 1) * w) * sizeof *ref);
    int64_t rr = ref_block(x, n, w, win, start, policy == PS_NAN_OMIT, kind == PS_RESAMPLE_MEAN,
                           ref);
    CHECK(rows == rr);
    if (rows == rr)
        CHECK(same_array(o, ref, rows * w));
    free(ref);
    free(o);
    free(x);
}

static void test_block_special(void)
{
    ps_stage_params p = params(PS_RESAMPLE_SUM, PS_NAN_OMIT);
    p.window = 3;
    double x[7] = {NAN, NAN, NAN, 1.0, NAN, -0.0, 2.0};
    double o[8];
    int64_t nout;
    void *st = ps_family_block.create(&p, 1, 0);
    ps_family_block.flush(st, o, &nout);
    CHECK(nout == 0); /* nothing pending */
    ps_family_block.update(st, x, 2, o, &nout);
    CHECK(nout == 0);
    ps_family_block.update(st, x + 2, 5, o, &nout);
    CHECK(nout == 2 && o[0] == 0.0 && !signbit(o[0]) && o[1] == 1.0);
    ps_family_block.flush(st, o, &nout);
    CHECK(nout == 1 && o[0] == 2.0);
    ps_family_block.flush(st, o, &nout); /* flush does not change the state */
    CHECK(nout == 1 && o[0] == 2.0);
    ps_family_block.destroy(st);

    p.kind = PS_RESAMPLE_MEAN;
    st = ps_family_block.create(&p, 1, 0);
    ps_family_block.update(st, x, 7, o, &nout);
    CHECK(nout == 2 && isnan(o[0]) && o[1] == 0.5);
    ps_family_block.destroy(st);
    p.nan_policy = PS_NAN_PROPAGATE;
    st = ps_family_block.create(&p, 1, 0);
    ps_family_block.update(st, x + 3, 4, o, &nout); /* 1, NaN, -0 | 2 */
    CHECK(nout == 1 && isnan(o[0]));
    ps_family_block.flush(st, o, &nout);
    CHECK(nout == 1 && o[0] == 2.0);
    ps_family_block.destroy(st);

    /* start not a multiple: first block is [5, 8) */
    p = params(PS_RESAMPLE_SUM, PS_NAN_PROPAGATE);
    p.window = 4;
    st = ps_family_block.create(&p, 1, 5);
    double y[6] = {1, 2, 3, 4, 5, 6};
    ps_family_block.update(st, y, 6, o, &nout);
    CHECK(nout == 1 && o[0] == 6.0);
    ps_family_block.flush(st, o, &nout);
    CHECK(nout == 1 && o[0] == 15.0);
    ps_family_block.destroy(st);
    /* window 1: every record is a block */
    p.window = 1;
    st = ps_family_block.create(&p, 1, 7);
    ps_family_block.update(st, y, 6, o, &nout);
    CHECK(nout == 6 && o[5] == 6.0);
    ps_family_block.flush(st, o, &nout);
    CHECK(nout == 0);
    ps_family_block.destroy(st);
}

/* save -> truncations and corrupted fields are refused; random bytes never
   crash. */
static void test_load_refuses(const ps_family *fam, ps_stage_params p, int64_t w, int64_t start,
                              int64_t n, int field_words, const int *bad_words,
                              const double *bad_vals, int nbad)
{
    double *x = make_data(n, w, 1.0, 0.0, 0.1, 0.0);
    double *o = malloc((size_t)((n + 1) * w) * sizeof *o);
    void *st = fam->create(&p, w, start);
    int64_t nout;
    fam->update(st, x, n, o, &nout);
    blob b = save_state(fam, st);
    CHECK(b.size == (size_t)(field_words * 8));
    for (size_t cut = 0; cut < b.size; cut++) {
        void *s2 = fam->create(&p, w, start);
        CHECK(load_state(fam, s2, b.bytes, cut) == PS_ERR_CORRUPT);
        fam->destroy(s2);
    }
    uint8_t *bad = malloc(b.size);
    for (int k = 0; k < nbad; k++) {
        memcpy(bad, b.bytes, b.size);
        double v = bad_vals[k];
        if (bad_words[k] < 0) { /* an int64 field */
            int64_t iv = (int64_t)v;
            for (int q = 0; q < 8; q++)
                bad[(size_t)(-bad_words[k] - 1) * 8 + (size_t)q] = (uint8_t)((uint64_t)iv >> (8 * q));
        } else {
            uint64_t u;
            memcpy(&u, &v, 8);
            for (int q = 0; q < 8; q++)
                bad[(size_t)bad_words[k] * 8 + (size_t)q] = (uint8_t)(u >> (8 * q));
        }
        void *s2 = fam->create(&p, w, start);
        int r = load_state(fam, s2, bad, b.size);
        if (r != PS_ERR_CORRUPT)
            fprintf(stderr, "  bad field %d (word %d) accepted\n", k, bad_words[k]);
        CHECK(r == PS_ERR_CORRUPT);
        fam->destroy(s2);
    }
    for (int k = 0; k < 2000; k++) {
        memcpy(bad, b.bytes, b.size);
        bad[rnd() % b.size] ^= (uint8_t)(1u << (rnd() % 8));
        void *s2 = fam->create(&p, w, start);
        int r = load_state(fam, s2, bad, b.size);
        CHECK(r == PS_OK || r == PS_ERR_CORRUPT);
        if (r == PS_OK) { /* whatever was accepted must run */
            fam->update(s2, x, n, o, &nout);
            if (fam->flush)
                fam->flush(s2, o, &nout);
        }
        fam->destroy(s2);
    }
    free(bad);
    free(b.bytes);
    fam->destroy(st);
    free(o);
    free(x);
}

static void test_corrupt(void)
{
    /* scan: per column a, b, n (int) */
    {
        ps_stage_params p = params(PS_CUMMEAN, PS_NAN_OMIT);
        int words[] = {-3, -3, 1, 0};
        double vals[] = {-1, 1e18, NAN, 0};
        /* last: a = 0 with n > 0 is fine, so use n = 0 with a != 0 below */
        test_load_refuses(&ps_family_scan, p, 1, 0, 50, 3, words, vals, 3);
        int words2[] = {-3};
        double vals2[] = {0};
        test_load_refuses(&ps_family_scan, p, 1, 0, 50, 3, words2, vals2, 1);
        p.kind = PS_CUMVAR;
        int words3[] = {-3, 1, 1};
        double vals3[] = {-5, -1.0, NAN};
        test_load_refuses(&ps_family_scan, p, 3, 0, 50, 9, words3, vals3, 3);
        p.kind = PS_CUMSUM;
        int words4[] = {1, -3};
        double vals4[] = {1.0, 2};
        test_load_refuses(&ps_family_scan, p, 1, 0, 50, 3, words4, vals4, 2);
    }
    /* ewm: per column s, w, g, m, cov, c1, x1, nobs (int), half (int) */
    {
        ps_stage_params p = params(PS_EWM_MEAN, 0);
        p.adjust = 1;
        p.alpha = 0.25;
        int words[] = {-8, 1, 1, 2, 2, 4, -9, 5};
        double vals[] = {-1, 0.5, 1e9, 2.0, NAN, 1.0, 2, 2.0};
        test_load_refuses(&ps_family_ewm, p, 1, 0, 51, 9, words, vals, 8);
        p.adjust = 0;
        int words2[] = {-8, 1, 1, 0};
        double vals2[] = {-1, 1.5, NAN, 3.0};
        test_load_refuses(&ps_family_ewm, p, 1, 0, 51, 9, words2, vals2, 4);
        p.kind = PS_EWM_VAR;
        p.adjust = 1;
        int words3[] = {-8, 0, 1, 2, 4, 0};
        double vals3[] = {-2, -1.0, 1e9, NAN, -1.0, INFINITY};
        test_load_refuses(&ps_family_ewm, p, 1, 0, 51, 9, words3, vals3, 6);
    }
    /* block: pos (int), then per column sum, cnt (int) */
    {
        ps_stage_params p = params(PS_RESAMPLE_MEAN, PS_NAN_OMIT);
        p.window = 7;
        int words[] = {-1, -3, -3, -1};
        double vals[] = {2, -1, 7, 56};
        /* n = 52 from start 3: pos 55, 6 records in the current block */
        test_load_refuses(&ps_family_block, p, 1, 3, 52, 3, words, vals, 4);
        p.nan_policy = PS_NAN_PROPAGATE;
        int words2[] = {-1, -3};
        double vals2[] = {56, 7};
        test_load_refuses(&ps_family_block, p, 1, 3, 52, 3, words2, vals2, 2);
    }
}

/* A state of one value: cumvar's M2 and cummean's compensation are 0. */
static void test_single_value_states(void)
{
    for (int kind = PS_CUMMEAN; kind <= PS_CUMVAR; kind++) {
        ps_stage_params p = params(kind, PS_NAN_OMIT);
        double x = 5.0, o;
        int64_t nout;
        void *st = ps_family_scan.create(&p, 1, 0);
        ps_family_scan.update(st, &x, 1, &o, &nout);
        blob b = save_state(&ps_family_scan, st);
        void *s2 = ps_family_scan.create(&p, 1, 0);
        CHECK(load_state(&ps_family_scan, s2, b.bytes, b.size) == PS_OK);
        ps_family_scan.destroy(s2);
        double bad = 2.5;
        memcpy(b.bytes + 8, &bad, 8); /* M2 (cumvar) / compensation (cummean) */
        s2 = ps_family_scan.create(&p, 1, 0);
        CHECK_CTX(load_state(&ps_family_scan, s2, b.bytes, b.size) == PS_ERR_CORRUPT,
                  "kind %d", kind);
        ps_family_scan.destroy(s2);
        free(b.bytes);
        ps_family_scan.destroy(st);
    }
}

/* ewm var: sum_wt2 between sum_wt**2 / nobs and sum_wt**2. */
static void test_ewm_weight_sums(void)
{
    for (int adjust = 0; adjust < 2; adjust++) {
        ps_stage_params p = params(PS_EWM_VAR, 0);
        p.adjust = adjust;
        p.alpha = 0.2;
        double x[6] = {1, 4, 2, 8, 5, 7}, o[6];
        int64_t nout;
        void *st = ps_family_ewm.create(&p, 1, 0);
        ps_family_ewm.update(st, x, 6, o, &nout);
        blob b = save_state(&ps_family_ewm, st);
        double sw, sw2;
        memcpy(&sw, b.bytes, 8);
        memcpy(&sw2, b.bytes + 16, 8);
        CHECK(sw2 < sw * sw && sw2 > sw * sw / 6.0);
        const double bad[] = {sw * sw * 1.001, sw * sw / 6.0 * 0.999, -1.0, NAN};
        for (int k = 0; k < 4; k++) {
            memcpy(b.bytes + 16, &bad[k], 8);
            void *s2 = ps_family_ewm.create(&p, 1, 0);
            CHECK_CTX(load_state(&ps_family_ewm, s2, b.bytes, b.size) == PS_ERR_CORRUPT,
                      "adjust %d, sum_wt2 %g (sum_wt %g)", adjust, bad[k], sw);
            ps_family_ewm.destroy(s2);
        }
        free(b.bytes);
        ps_family_ewm.destroy(st);
    }
}

/* Widths whose byte counts overflow size_t: create() fails cleanly. */
static void test_huge_width(void)
{
    const ps_family *fams[] = {&ps_family_scan, &ps_family_ewm, &ps_family_block};
    const int kinds[] = {PS_CUMSUM, PS_EWM_MEAN, PS_RESAMPLE_SUM};
    for (int f = 0; f < 3; f++) {
        ps_stage_params p = params(kinds[f], PS_NAN_OMIT);
        p.alpha = 0.5;
        p.window = 3;
        CHECK(fams[f]->create(&p, ((int64_t)1 << 61) + 2, 0) == NULL);
        CHECK(fams[f]->create(&p, INT64_MAX, 0) == NULL);
    }
    CHECK(ps_malloc_n(-1, 8) == NULL);
    CHECK(ps_malloc_n(((int64_t)1 << 61) + 2, 8) == NULL);
}

static void test_int64(void)
{
    int64_t carry[3] = {0, 0, 0}, out[30], bad = 0;
    int64_t in[30];
    for (int k = 0; k < 30; k++)
        in[k] = k - 7;
    CHECK(ps_cumsum_int64(in, 10, 3, carry, out, &bad) == PS_OK && bad == -1);
    int64_t ref[3] = {0, 0, 0};
    int ok = 1;
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < 3; j++) {
            ref[j] += in[i * 3 + j];
            ok &= out[i * 3 + j] == ref[j];
        }
    CHECK(ok && carry[0] == ref[0] && carry[2] == ref[2]);
    /* chunked == whole */
    int64_t c2[3] = {0, 0, 0}, out2[30];
    CHECK(ps_cumsum_int64(in, 4, 3, c2, out2, &bad) == PS_OK);
    CHECK(ps_cumsum_int64(in + 12, 6, 3, c2, out2 + 12, &bad) == PS_OK);
    CHECK(memcmp(out, out2, sizeof out) == 0 && memcmp(c2, carry, sizeof c2) == 0);
    CHECK(ps_cumsum_int64(in, 0, 3, c2, out2, &bad) == PS_OK);

    /* overflow near INT64_MAX at row 2, column 1 */
    int64_t c3[3] = {0, INT64_MAX - 10, INT64_MIN + 5};
    int64_t v[9] = {1, 5, -5, 1, 5, 0, 1, 1, 0};
    CHECK(ps_cumsum_int64(v, 3, 3, c3, out, &bad) == PS_ERR_OVERFLOW && bad == 2);
    CHECK(c3[0] == 2 && c3[1] == INT64_MAX && c3[2] == INT64_MIN); /* last good row */
    CHECK(out[3] == 2 && out[4] == INT64_MAX && out[5] == INT64_MIN);
    int64_t c4[1] = {INT64_MIN + 2};
    int64_t v4[3] = {-1, -1, -1};
    CHECK(ps_cumsum_int64(v4, 3, 1, c4, out, &bad) == PS_ERR_OVERFLOW && bad == 2 &&
          c4[0] == INT64_MIN);

    /* cumprod */
    int64_t c5[2] = {1, 1};
    int64_t v5[8] = {2, -3, 3, 5, 7, -1, 11, 2};
    CHECK(ps_cumprod_int64(v5, 4, 2, c5, out, &bad) == PS_OK && c5[0] == 462 && c5[1] == 30);
    int64_t c6[1] = {1}, out6[64];
    int64_t v6[64];
    for (int k = 0; k < 64; k++)
        v6[k] = 2;
    CHECK(ps_cumprod_int64(v6, 64, 1, c6, out6, &bad) == PS_ERR_OVERFLOW && bad == 62 &&
          c6[0] == (int64_t)1 << 62);
    int64_t c7[1] = {1};
    v6[63] = -2;
    CHECK(ps_cumprod_int64(v6 + 1, 63, 1, c7, out6, &bad) == PS_OK && out6[62] == INT64_MIN);
    v6[63] = 2;
    int64_t c8[1] = {INT64_MIN};
    int64_t m1 = -1;
    CHECK(ps_cumprod_int64(&m1, 1, 1, c8, out, &bad) == PS_ERR_OVERFLOW && bad == 0 &&
          c8[0] == INT64_MIN);

    /* argument errors */
    CHECK(ps_cumsum_int64(in, -1, 3, carry, out, &bad) == PS_ERR_ARG);
    CHECK(ps_cumsum_int64(in, 1, -3, carry, out, &bad) == PS_ERR_ARG);
    CHECK(ps_cumsum_int64(NULL, 1, 3, carry, out, &bad) == PS_ERR_ARG);
    CHECK(ps_cumsum_int64(in, 1, 3, NULL, out, &bad) == PS_ERR_ARG);
    CHECK(ps_cumsum_int64(in, 1, 3, carry, NULL, &bad) == PS_ERR_ARG);
    CHECK(ps_cumprod_int64(in, 1, 3, carry, out, NULL) == PS_ERR_ARG);
    CHECK(ps_cumprod_int64(in, INT64_MAX, 3, carry, out, &bad) == PS_ERR_ARG);
    CHECK(ps_cumprod_int64(NULL, 0, 3, carry, NULL, &bad) == PS_OK);
}

int main(void)
{
    for (int64_t w = 1; w <= 3; w += 2) {
        for (int pol = 0; pol < 2; pol++) {
            for (int kind = PS_CUMSUM; kind <= PS_CUMSTD; kind++) {
                test_scan_kind(kind, pol, w, 0.0, 0.0);
                test_scan_kind(kind, pol, w, 0.05, 0.0);
                if (kind != PS_CUMPROD)
                    test_scan_kind(kind, pol, w, 0.003, 0.002);
            }
        }
    }
    test_scan_special();

    static const double alphas[] = {1.0, 0.5, 0.3, 0.05, 1e-3};
    for (int kind = PS_EWM_MEAN; kind <= PS_EWM_STD; kind++)
        for (int adjust = 0; adjust < 2; adjust++)
            for (int ign = 0; ign < 2; ign++)
                for (int a = 0; a < 5; a++)
                    for (int64_t w = 1; w <= 3; w += 2) {
                        test_ewm(kind, adjust, ign, alphas[a], (a * 3) % 7, a & 1, w, 0.0, 0.0,
                                 0.0);
                        test_ewm(kind, adjust, ign, alphas[a], 0, !(a & 1), w, 0.1, 0.01,
                                 100.0);
                    }
    test_ewm_special();

    for (int kind = PS_RESAMPLE_SUM; kind <= PS_RESAMPLE_MEAN; kind++)
        for (int pol = 0; pol < 2; pol++)
            for (int64_t w = 1; w <= 3; w += 2) {
                test_block(kind, pol, w, 1, 0, 50, 0.1, 0.0);
                test_block(kind, pol, w, 5, 0, 203, 0.0, 0.0);
                test_block(kind, pol, w, 5, 3, 203, 0.1, 0.01);
                test_block(kind, pol, w, 64, 1000, 500, 0.3, 0.0);
                test_block(kind, pol, w, 7, 12, 5, 0.0, 0.0);
                test_block(kind, pol, w, 3, 0, 300, 0.7, 0.0);
            }
    test_block_special();
    test_corrupt();
    test_single_value_states();
    test_ewm_weight_sums();
    test_huge_width();
    test_int64();

    return report();
}
