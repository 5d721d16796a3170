/*
 * ewm.c -- exponentially weighted mean / var / std (PS_EWM_MEAN, VAR, STD)
 * with pandas' semantics (pandas/_libs/window/aggregations.pyx: `ewm` with
 * normalize=True and `ewmcov` with x = y), one column at a time.
 *
 * Conventions taken from pandas:
 * - alpha goes through pandas' centre of mass (com = 1/alpha - 1, then
 *   alpha = 1/(1 + com)) so the weights are pandas' own; f = 1 - alpha.
 * - ±inf count as missing (pandas' window code maps inf to NaN before the
 *   kernel).  Missing values are skipped; with ignore_na=0 they still age
 *   the old weights (old_wt *= f), with ignore_na=1 they do not.
 * - min_periods 0 is treated as 1; output NaN while nobs < min_periods.
 * - the state machine is pandas': a "no mean yet" state (before the first
 *   observation, or after the mean became NaN through overflow) in which
 *   missing values do nothing and the next observation becomes the mean.
 *
 * Mean, adjust=1 (the fast path).  pandas' recurrence
 *     old_wt *= f; mean = (old_wt*mean + x) / (old_wt + 1); old_wt += 1
 * has a division in the loop-carried chain.  We keep instead the weighted
 * sum S and the total weight W,
 *     S = c*S + x,  W = c*W + 1,  mean = S / W,
 * where c = f, or f * G after missing values (G = product of the factors
 * f of the missing values since the last observation, kept aside so S and
 * W are frozen during a gap and the mean shown during the gap is exactly
 * the previous one, as in pandas).  S is computed in blocks of 8
 * observations (the chain is one mul + add per block; see "mean, adjust=1:
 * the blocked recurrence" below and docs/design.md); the division is off
 * it.  Bounds on endless streams: W <= 1/alpha and
 * |S| <= max|x| / alpha, so neither can overflow (unless |x| is within a
 * factor alpha of DBL_MAX) nor decay: W >= 1 once a value was seen.  A
 * long gap drives G (not S, W) to 0, and then c = 0 restarts the average
 * at the new value, exactly like pandas' old_wt underflowing to 0.  As
 * in pandas ("avoid numerical errors on constant series"), when the new
 * value equals the current mean, the mean is kept, so a constant series
 * gives exactly the constant.  The result equals pandas' up to rounding
 * (a few ulps; relative error O(eps / alpha) at worst).
 *
 * Mean, adjust=0: pandas' recurrence exactly.  Without a gap old_wt = f
 * and f + alpha == 1.0 exactly in floating point for every alpha in
 * (0, 1] (checked at create), so mean = (f*mean + alpha*x) / (f + alpha)
 * is computed as f*mean + alpha*x, bit-identical to pandas.  After a gap
 * (ignore_na=0) the full formula is used, including pandas' special case
 * new_wt = 1 - old_wt when com == 1 (alpha = 0.5).
 *
 * Var/std: pandas' ewmcov state (mean, cov, sum_wt, sum_wt2, old_wt) and
 * weight updates, identical operations for the weights.  The mean / cov
 * updates are rewritten with r = 1 / (old_wt + new_wt), a = old_wt * r,
 * b = new_wt * r (computed off the data chain), d = x - mean:
 *     mean += b*d,   cov = a * (cov + b*d*d)
 * which is algebraically pandas' formula, shorter in latency and exact for
 * a constant series (d == 0: mean unchanged, cov stays 0).  Overflowing d
 * falls back to pandas' formula.  Results equal pandas' up to rounding.
 */
#include "stage_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simd.h"
#if defined(PS_HAVE_SSE2)
#include <immintrin.h>
#endif

typedef struct {
    double s, w, g, m; /* mean adj=1: Sb, W, G, mean; adj=0: -, old_wt, -, mean;
                          var: sum_wt, old_wt, sum_wt2, mean */
    double cov;        /* var only */
    double c1, x1;     /* mean adj=1: C, P of the current block (1, 0 at its start) */
    int64_t nobs;
} ewm_col;

typedef struct {
    int kind, adjust, ignore_na, bias, com1, fast_adj0;
    int64_t width, minp;
    double alpha, f, ff, new_wt;
    ewm_col *col;
} ewm_state;

static int is_obs(double x) { return fabs(x) <= DBL_MAX; }

static void col_init(const ewm_state *st, ewm_col *c)
{
    c->nobs = 0;
    c->c1 = st->kind == PS_EWM_MEAN && st->adjust ? 1.0 : 0.0;
    c->x1 = 0.0;
    c->m = NAN;
    c->cov = 0.0;
    if (st->kind == PS_EWM_MEAN) {
        c->s = 0.0;
        c->w = st->adjust ? 0.0 : 1.0;
        c->g = 1.0;
    } else {
        c->s = 1.0;
        c->w = 1.0;
        c->g = 1.0;
    }
}

static void *ewm_create(const ps_stage_params *p, int64_t width, int64_t start)
{
    (void)start;
    ewm_state *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->col = ps_malloc_n(width, sizeof *st->col); /* NULL on overflow too */
    if (!st->col) {
        free(st);
        return NULL;
    }
    st->kind = p->kind;
    st->adjust = p->adjust != 0;
    st->ignore_na = p->ignore_na != 0;
    st->bias = p->bias != 0;
    st->width = width;
    st->minp = p->min_count > 1 ? p->min_count : 1;
    double com = 1.0 / p->alpha - 1.0;
    st->alpha = 1.0 / (1.0 + com);
    st->com1 = com == 1.0;
    st->f = 1.0 - st->alpha;
    st->ff = st->f * st->f;
    st->new_wt = st->adjust ? 1.0 : st->alpha;
    st->fast_adj0 = st->f + st->alpha == 1.0;
    for (int64_t j = 0; j < width; j++)
        col_init(st, &st->col[j]);
    return st;
}

static void ewm_destroy(void *p)
{
    ewm_state *st = p;
    if (!st)
        return;
    free(st->col);
    free(st);
}

/* ---- kernels: one column, n rows, stride sd ---------------------------- */

/* ---- mean, adjust=1: the blocked recurrence ------------------------------

   Blocks of EWM_K observations, aligned on the observation count (nobs % K
   is the position in the current block; missing values do not count).
   Per column: Sb (cl->s) = S at the start of the block, W (cl->w) = the
   total weight (sequential, W = c*W + 1), G (cl->g) = pending gap factor,
   and the in-block Horner sums over the block's observations so far,
   P (cl->x1) = sum of c-weighted values, C (cl->c1) = product of the
   factors c.  At the k-th observation of a block:
       c = G*f,  P = k ? c*P + x : x,  C = k ? c*C : c,  W = c*W + 1,
       S = C*Sb + P,  y = S * (1/W),  mean = x == mean ? mean : y,
   and at the block's end Sb = S, P = 0, C = 1.  S depends on the previous
   block only through Sb: the loop-carried chain is one mul + add per block.
   The AVX2 / SSE2 / portable group kernels below do these very operations
   (4, 2 or 1 block per lane set, blocks in lanes) on runs of observations
   without gap, at W's fixed point (f*W + 1 == W, reached after ~36/alpha
   observations and kept while there is no gap, so W and 1/W are constant).
   They give up (leaving the group to adj1_obs) when a value is missing or
   not finite, a result is not finite, or a value equals the previous mean. */
#define EWM_K 8

static void adj1_obs(double f, ewm_col *cl, double x)
{
    int j = (int)(cl->nobs % EWM_K);
    if (cl->nobs > 0 && cl->m != cl->m) {
        /* mean lost (overflow): pandas restarts at x, keeping the weight */
        cl->s = 0.0;
        cl->x1 = x * cl->w;
        cl->g = 1.0;
        cl->m = x;
    } else {
        double c = cl->g * f;
        cl->g = 1.0;
        if (j == 0) {
            cl->x1 = x;
            cl->c1 = c;
        } else {
            cl->x1 = c * cl->x1 + x;
            cl->c1 = c * cl->c1;
        }
        cl->w = c * cl->w + 1.0;
        double y = (cl->c1 * cl->s + cl->x1) * (1.0 / cl->w);
        if (x != cl->m)
            cl->m = y;
    }
    cl->nobs++;
    if (j == EWM_K - 1) {
        cl->s = cl->c1 * cl->s + cl->x1;
        cl->x1 = 0.0;
        cl->c1 = 1.0;
    }
}

typedef struct {
    double f, r;      /* f; 1/W at W's fixed point */
    double c[EWM_K];  /* C after k+1 observations without gap: f, f*f, ... */
} adj1_consts;

/* Portable group kernel: 4 blocks (32 observations) at a time, same
   operations as adj1_obs.  Returns the count done (a multiple of 32);
   outputs are stored only for groups that succeed (in may alias out). */
static int64_t adj1_portable(const adj1_consts *kc, const double *x, double *out, int64_t n,
                             double *psb, double *pm)
{
    const double f = kc->f, r = kc->r, F = kc->c[EWM_K - 1];
    double sb = *psb, m = *pm;
    int64_t i = 0;
    for (; i + 4 * EWM_K <= n; i += 4 * EWM_K) {
        const double *p = x + i;
        double P[4][EWM_K], y[4][EWM_K], s[5];
        for (int b = 0; b < 4; b++)
            P[b][0] = p[b * EWM_K];
        for (int k = 1; k < EWM_K; k++)
            for (int b = 0; b < 4; b++)
                P[b][k] = f * P[b][k - 1] + p[b * EWM_K + k];
        s[0] = sb;
        for (int b = 0; b < 4; b++)
            s[b + 1] = F * s[b] + P[b][EWM_K - 1];
        int bad = 0;
        double prev = m;
        for (int b = 0; b < 4; b++)
            for (int k = 0; k < EWM_K; k++) {
                double v = (kc->c[k] * s[b] + P[b][k]) * r;
                bad |= !(fabs(v) <= DBL_MAX) | (p[b * EWM_K + k] == prev);
                y[b][k] = prev = v;
            }
        if (bad)
            break;
        memcpy(out + i, y, sizeof y);
        sb = s[4];
        m = prev;
    }
    *psb = sb;
    *pm = m;
    return i;
}

#ifdef PS_HAVE_SSE2
/* SSE2: 2 blocks (16 observations) at a time, block b in lane b. */
static int64_t adj1_sse2(const adj1_consts *kc, const double *x, double *out, int64_t n,
                         double *psb, double *pm)
{
    const __m128d vf = _mm_set1_pd(kc->f), vr = _mm_set1_pd(kc->r), zero = _mm_setzero_pd();
    const double F = kc->c[EWM_K - 1];
    double sb = *psb, m = *pm;
    int64_t i = 0;
    for (; i + 2 * EWM_K <= n; i += 2 * EWM_K) {
        const double *p = x + i;
        __m128d X[EWM_K], P, Y[EWM_K];
        for (int k = 0; k < EWM_K; k += 2) {
            __m128d a = _mm_loadu_pd(p + k), b = _mm_loadu_pd(p + EWM_K + k);
            X[k] = _mm_unpacklo_pd(a, b);
            X[k + 1] = _mm_unpackhi_pd(a, b);
        }
        __m128d Ps[EWM_K];
        P = X[0];
        Ps[0] = P;
        for (int k = 1; k < EWM_K; k++) {
            P = _mm_add_pd(_mm_mul_pd(vf, P), X[k]);
            Ps[k] = P;
        }
        double p0 = _mm_cvtsd_f64(P), p1 = _mm_cvtsd_f64(_mm_unpackhi_pd(P, P));
        double s1 = F * sb + p0, s2 = F * s1 + p1;
        __m128d SB = _mm_set_pd(s1, sb);
        __m128d bad = zero, acc = zero;
        for (int k = 0; k < EWM_K; k++) {
            Y[k] = _mm_mul_pd(_mm_add_pd(_mm_mul_pd(_mm_set1_pd(kc->c[k]), SB), Ps[k]), vr);
            acc = _mm_add_pd(acc, Y[k]);
            if (k)
                bad = _mm_or_pd(bad, _mm_cmpeq_pd(X[k], Y[k - 1]));
        }
        __m128d last = Y[EWM_K - 1];
        __m128d prev = _mm_unpacklo_pd(_mm_set_sd(m), last); /* (m, y of block 0) */
        bad = _mm_or_pd(bad, _mm_cmpeq_pd(X[0], prev));
        bad = _mm_or_pd(bad, _mm_cmpneq_pd(_mm_mul_pd(acc, zero), zero));
        if (_mm_movemask_pd(bad))
            break;
        for (int k = 0; k < EWM_K; k += 2) {
            _mm_storeu_pd(out + i + k, _mm_unpacklo_pd(Y[k], Y[k + 1]));
            _mm_storeu_pd(out + i + EWM_K + k, _mm_unpackhi_pd(Y[k], Y[k + 1]));
        }
        sb = s2;
        m = _mm_cvtsd_f64(_mm_unpackhi_pd(last, last));
    }
    *psb = sb;
    *pm = m;
    return i;
}
#endif

#ifdef PS_HAVE_AVX2
/* 4x4 transpose of doubles: rows a..d -> columns. */
#define EWM_T4(a, b, c, d, o0, o1, o2, o3)                                       \
    do {                                                                         \
        __m256d t0_ = _mm256_unpacklo_pd(a, b), t1_ = _mm256_unpackhi_pd(a, b);  \
        __m256d t2_ = _mm256_unpacklo_pd(c, d), t3_ = _mm256_unpackhi_pd(c, d);  \
        o0 = _mm256_permute2f128_pd(t0_, t2_, 0x20);                             \
        o1 = _mm256_permute2f128_pd(t1_, t3_, 0x20);                             \
        o2 = _mm256_permute2f128_pd(t0_, t2_, 0x31);                             \
        o3 = _mm256_permute2f128_pd(t1_, t3_, 0x31);                             \
    } while (0)

/* AVX2: 4 blocks (32 observations) at a time, block b in lane b; two
   groups per iteration, so that the two groups' Horner chains (7 dependent
   mul + add) overlap. */
typedef struct {
    __m256d X[EWM_K], P[EWM_K];
} adj1_group;

PS_TARGET_AVX2 static inline __attribute__((always_inline)) int
adj1_avx2_load(const double *p, __m256d vf, adj1_group *g)
{
    EWM_T4(_mm256_loadu_pd(p), _mm256_loadu_pd(p + 8), _mm256_loadu_pd(p + 16),
           _mm256_loadu_pd(p + 24), g->X[0], g->X[1], g->X[2], g->X[3]);
    EWM_T4(_mm256_loadu_pd(p + 4), _mm256_loadu_pd(p + 12), _mm256_loadu_pd(p + 20),
           _mm256_loadu_pd(p + 28), g->X[4], g->X[5], g->X[6], g->X[7]);
    g->P[0] = g->X[0];
    for (int k = 1; k < EWM_K; k++)
        g->P[k] = _mm256_add_pd(_mm256_mul_pd(vf, g->P[k - 1]), g->X[k]);
    /* the last P of a block is finite iff its values and sums are */
    __m256d a = _mm256_andnot_pd(_mm256_set1_pd(-0.0), g->P[EWM_K - 1]);
    return _mm256_movemask_pd(_mm256_cmp_pd(a, _mm256_set1_pd(DBL_MAX), _CMP_NLE_UQ));
}

/* The 4 block steps of Sb from *sb; 0 when the last is not finite. */
PS_TARGET_AVX2 static inline __attribute__((always_inline)) int
adj1_avx2_chain(const adj1_group *g, double F, double *sb, __m256d *SB)
{
    __m128d lo = _mm256_castpd256_pd128(g->P[EWM_K - 1]);
    __m128d hi = _mm256_extractf128_pd(g->P[EWM_K - 1], 1);
    double s0 = *sb;
    double s1 = F * s0 + _mm_cvtsd_f64(lo);
    double s2 = F * s1 + _mm_cvtsd_f64(_mm_unpackhi_pd(lo, lo));
    double s3 = F * s2 + _mm_cvtsd_f64(hi);
    double s4 = F * s3 + _mm_cvtsd_f64(_mm_unpackhi_pd(hi, hi));
    *SB = _mm256_set_pd(s3, s2, s1, s0);
    *sb = s4;
    return fabs(s4) <= DBL_MAX;
}

/* Outputs of a group; nonzero when a value equals the previous mean.
   (P and Sb finite, C > 0 or Sb * 0 = 0: no output is NaN, so the mean is
   never lost in the group; only x == mean needs adj1_obs.) */
PS_TARGET_AVX2 static inline __attribute__((always_inline)) int
adj1_avx2_out(const adj1_group *g, const adj1_consts *kc, __m256d SB, double m, __m256d *Y)
{
    const __m256d vr = _mm256_set1_pd(kc->r);
    for (int k = 0; k < EWM_K; k++)
        Y[k] = _mm256_mul_pd(
            _mm256_add_pd(_mm256_mul_pd(_mm256_set1_pd(kc->c[k]), SB), g->P[k]), vr);
    __m256d last = Y[EWM_K - 1];
    __m256d prev = _mm256_blend_pd(_mm256_permute4x64_pd(last, _MM_SHUFFLE(2, 1, 0, 3)),
                                   _mm256_set1_pd(m), 1);
    __m256d e0 = _mm256_or_pd(_mm256_cmp_pd(g->X[0], prev, _CMP_EQ_OQ),
                              _mm256_cmp_pd(g->X[1], Y[0], _CMP_EQ_OQ));
    __m256d e1 = _mm256_or_pd(_mm256_cmp_pd(g->X[2], Y[1], _CMP_EQ_OQ),
                              _mm256_cmp_pd(g->X[3], Y[2], _CMP_EQ_OQ));
    __m256d e2 = _mm256_or_pd(_mm256_cmp_pd(g->X[4], Y[3], _CMP_EQ_OQ),
                              _mm256_cmp_pd(g->X[5], Y[4], _CMP_EQ_OQ));
    __m256d e3 = _mm256_or_pd(_mm256_cmp_pd(g->X[6], Y[5], _CMP_EQ_OQ),
                              _mm256_cmp_pd(g->X[7], Y[6], _CMP_EQ_OQ));
    return _mm256_movemask_pd(_mm256_or_pd(_mm256_or_pd(e0, e1), _mm256_or_pd(e2, e3)));
}

/* Stores a group's outputs; returns its last (the mean). */
PS_TARGET_AVX2 static inline __attribute__((always_inline)) double
adj1_avx2_store(const __m256d *Y, double *o)
{
    __m256d o0, o1, o2, o3;
    EWM_T4(Y[0], Y[1], Y[2], Y[3], o0, o1, o2, o3);
    _mm256_storeu_pd(o, o0);
    _mm256_storeu_pd(o + 8, o1);
    _mm256_storeu_pd(o + 16, o2);
    _mm256_storeu_pd(o + 24, o3);
    EWM_T4(Y[4], Y[5], Y[6], Y[7], o0, o1, o2, o3);
    _mm256_storeu_pd(o + 4, o0);
    _mm256_storeu_pd(o + 12, o1);
    _mm256_storeu_pd(o + 20, o2);
    _mm256_storeu_pd(o + 28, o3);
    __m128d h = _mm256_extractf128_pd(Y[EWM_K - 1], 1);
    return _mm_cvtsd_f64(_mm_unpackhi_pd(h, h));
}

PS_TARGET_AVX2 static int64_t adj1_avx2(const adj1_consts *kc, const double *x, double *out,
                                        int64_t n, double *psb, double *pm)
{
    const __m256d vf = _mm256_set1_pd(kc->f);
    const double F = kc->c[EWM_K - 1];
    const int64_t G = 4 * EWM_K;
    double sb = *psb, m = *pm;
    int64_t i = 0;
    while (i + G <= n) {
        adj1_group a, b;
        __m256d SA, SB, YA[EWM_K], YB[EWM_K];
        int two = i + 2 * G <= n;
        int bad_a = adj1_avx2_load(x + i, vf, &a);
        int bad_b = two ? adj1_avx2_load(x + i + G, vf, &b) : 1;
        double s = sb;
        if (bad_a || !adj1_avx2_chain(&a, F, &s, &SA) ||
            adj1_avx2_out(&a, kc, SA, m, YA))
            break;
        double sa = s;
        if (!bad_b && adj1_avx2_chain(&b, F, &s, &SB)) {
            double ma = _mm_cvtsd_f64(_mm_unpackhi_pd(_mm256_extractf128_pd(YA[EWM_K - 1], 1),
                                                      _mm256_extractf128_pd(YA[EWM_K - 1], 1)));
            if (!adj1_avx2_out(&b, kc, SB, ma, YB)) {
                adj1_avx2_store(YA, out + i);
                m = adj1_avx2_store(YB, out + i + G);
                sb = s;
                i += 2 * G;
                continue;
            }
        }
        m = adj1_avx2_store(YA, out + i);
        sb = sa;
        i += G;
        if (two)
            break; /* the second group failed */
    }
    *psb = sb;
    *pm = m;
    return i;
}
#endif

/* One column, contiguous. */
static void mean_adj1(const ewm_state *st, ewm_col *pcl, const double *in, double *out,
                      int64_t n, int level)
{
    const double f = st->f;
    const int ign = st->ignore_na;
    const int64_t minp = st->minp;
    ewm_col col = *pcl; /* a local copy: `out` cannot alias it */
    adj1_consts kc;
    kc.f = f;
    kc.r = 0.0;
    kc.c[0] = 1.0 * f; /* c = G*f with G = 1, as in adj1_obs */
    for (int k = 1; k < EWM_K; k++)
        kc.c[k] = kc.f * kc.c[k - 1];
    double wr = -1.0; /* the W whose reciprocal kc.r is */
    int64_t i = 0, skip = 0;
    while (i < n) {
        if (skip <= 0 && n - i >= 4 * EWM_K && col.nobs % EWM_K == 0 && col.nobs > 0 &&
            col.g == 1.0 && col.m == col.m && col.nobs + 1 >= minp && f * col.w + 1.0 == col.w) {
            if (col.w != wr) {
                wr = col.w;
                kc.r = 1.0 / col.w;
            }
            int64_t done;
#ifdef PS_HAVE_AVX2
            if (level >= PS_SIMD_AVX2)
                done = adj1_avx2(&kc, in + i, out + i, n - i, &col.s, &col.m);
            else
#endif
#ifdef PS_HAVE_SSE2
            if (level >= PS_SIMD_SSE2)
                done = adj1_sse2(&kc, in + i, out + i, n - i, &col.s, &col.m);
            else
#endif
                done = adj1_portable(&kc, in + i, out + i, n - i, &col.s, &col.m);
            (void)level;
            col.nobs += done;
            i += done;
            if (i >= n)
                break;
            skip = 4 * EWM_K; /* a group failed here: the next ones scalar */
        }
        double x = in[i];
        if (is_obs(x))
            adj1_obs(f, &col, x);
        else if (!ign && col.nobs > 0 && col.m == col.m)
            col.g *= f;
        out[i] = col.nobs >= minp ? col.m : NAN;
        i++;
        skip--;
    }
    *pcl = col;
}

static void mean_adj0(const ewm_state *st, ewm_col *cl, const double *in, double *out,
                      int64_t n, int64_t sd)
{
    const double f = st->f, a = st->alpha;
    const int ign = st->ignore_na, fast = st->fast_adj0;
    const int64_t minp = st->minp;
    double y = cl->m, ow = cl->w;
    int64_t nobs = cl->nobs;
    for (int64_t i = 0; i < n; i++) {
        double x = in[i * sd];
        if (is_obs(x)) {
            nobs++;
            if (y == y) {
                if (fast && ow == 1.0) {
                    if (y != x)
                        y = f * y + a * x;
                } else {
                    ow *= f;
                    if (y != x) {
                        double nw = st->com1 ? 1.0 - ow : a;
                        y = (ow * y + nw * x) / (ow + nw);
                    }
                }
                ow = 1.0;
            } else {
                y = x;
            }
        } else if (!ign && y == y) {
            ow *= f;
        }
        out[i * sd] = nobs >= minp ? y : NAN;
    }
    cl->m = y;
    cl->w = ow;
    cl->nobs = nobs;
}

/* pandas' weight updates and the mean / cov update above.  Once a step
   leaves the weights unchanged (their fixed point, reached after ~36/alpha
   observations without gap), the next steps without missing value leave
   them unchanged too and compute the same r, a, b and bias factor: the
   inner loop reuses them (same values, so the same bits) and skips the two
   divisions and the weight updates. */
static void var_kernel(const ewm_state *st, ewm_col *cl, const double *in, double *out,
                       int64_t n, int64_t sd, int is_std)
{
    const double f = st->f, ff = st->ff, nw = st->new_wt;
    const int ign = st->ignore_na, adjust = st->adjust, bias = st->bias;
    const int64_t minp = st->minp;
    double sw = cl->s, ow = cl->w, sw2 = cl->g, m = cl->m, cov = cl->cov;
    int64_t nobs = cl->nobs;
    int fixed = 0;             /* the weights are at a fixed point */
    double fa = 0.0, fb = 0.0; /* a, b there */
    double fac = NAN;          /* the bias factor there (NaN: den <= 0) */
    int64_t i = 0;
    while (i < n) {
        if (fixed && m == m) {
            for (; i < n; i++) {
                double x = in[i * sd];
                double d = x - m;
                if (!is_obs(x) || !(fabs(d) <= DBL_MAX))
                    break;
                nobs++;
                m = m + fb * d;
                cov = fa * (cov + fb * d * d);
                double v = nobs < minp ? NAN : bias ? cov : fac * cov;
                out[i * sd] = is_std ? sqrt(v) : v;
            }
            if (i >= n)
                break;
        }
        double x = in[i * sd];
        int obs = is_obs(x);
        nobs += obs;
        if (m == m) {
            if (obs || !ign) {
                double sw0 = sw, sw20 = sw2, ow0 = ow;
                fixed = 0;
                sw *= f;
                sw2 *= ff;
                ow *= f;
                if (obs) {
                    double d = x - m;
                    double r = 0.0, a = 0.0, b = 0.0;
                    int fin = fabs(d) <= DBL_MAX;
                    if (fin) {
                        r = 1.0 / (ow + nw);
                        a = ow * r;
                        b = nw * r;
                        m = m + b * d;
                        cov = a * (cov + b * d * d);
                    } else { /* overflow: pandas' formula */
                        double om = m;
                        if (m != x)
                            m = (ow * om + nw * x) / (ow + nw);
                        cov = (ow * (cov + (om - m) * (om - m)) + nw * ((x - m) * (x - m))) /
                              (ow + nw);
                    }
                    sw += nw;
                    sw2 += nw * nw;
                    ow += nw;
                    if (!adjust) {
                        if (ow != 1.0) { /* x / 1.0 == x: skipping is exact */
                            sw /= ow;
                            sw2 /= ow * ow;
                        }
                        ow = 1.0;
                    }
                    if (fin && sw == sw0 && sw2 == sw20 && ow == ow0) {
                        fixed = 1;
                        fa = a;
                        fb = b;
                        double num = sw * sw, den = num - sw2;
                        fac = den > 0.0 ? num / den : NAN;
                    }
                }
            }
        } else if (obs) {
            m = x;
        }
        double v;
        if (nobs < minp) {
            v = NAN;
        } else if (bias) {
            v = cov;
        } else {
            double num = sw * sw, den = num - sw2;
            v = den > 0.0 ? (num / den) * cov : NAN;
        }
        out[i * sd] = is_std ? sqrt(v) : v;
        i++;
    }
    cl->s = sw;
    cl->w = ow;
    cl->g = sw2;
    cl->m = m;
    cl->cov = cov;
    cl->nobs = nobs;
}

#define ROWS 256

static void ewm_update(void *p, const double *in, int64_t n, double *out, int64_t *nout)
{
    ewm_state *st = p;
    const int64_t w = st->width;
    *nout = n;
    if (st->kind == PS_EWM_MEAN && st->adjust) {
        const int level = ps_simd();
        if (w == 1) {
            mean_adj1(st, &st->col[0], in, out, n, level);
            return;
        }
        double xb[ROWS], yb[ROWS]; /* one column of a row block, contiguous */
        for (int64_t i0 = 0; i0 < n; i0 += ROWS) {
            int64_t len = n - i0 < ROWS ? n - i0 : ROWS;
            for (int64_t j = 0; j < w; j++) {
                for (int64_t i = 0; i < len; i++)
                    xb[i] = in[(i0 + i) * w + j];
                mean_adj1(st, &st->col[j], xb, yb, len, level);
                for (int64_t i = 0; i < len; i++)
                    out[(i0 + i) * w + j] = yb[i];
            }
        }
        return;
    }
    for (int64_t i0 = 0; i0 < n; i0 += ROWS) {
        int64_t len = n - i0 < ROWS ? n - i0 : ROWS;
        const double *ib = in + i0 * w;
        double *ob = out + i0 * w;
        for (int64_t j = 0; j < w; j++) {
            if (st->kind == PS_EWM_MEAN)
                mean_adj0(st, &st->col[j], ib + j, ob + j, len, w);
            else
                var_kernel(st, &st->col[j], ib + j, ob + j, len, w, st->kind == PS_EWM_STD);
        }
    }
}

/* ---- serialization ----------------------------------------------------- */

/* Per column, 9 words: s, w, g, m, cov, c1, x1, nobs, half.  For the mean
   with adjust=1, c1 = C, x1 = P and half = 1 when a block is under way
   (nobs % EWM_K != 0; redundant, checked on load); else c1 = x1 = half = 0. */
static int adj1_kind(const ewm_state *st) { return st->kind == PS_EWM_MEAN && st->adjust; }

static void ewm_save(const void *p, ps_writer *w)
{
    const ewm_state *st = p;
    for (int64_t j = 0; j < st->width; j++) {
        const ewm_col *c = &st->col[j];
        ps_put_f64(w, c->s);
        ps_put_f64(w, c->w);
        ps_put_f64(w, c->g);
        ps_put_f64(w, c->m);
        ps_put_f64(w, c->cov);
        ps_put_f64(w, c->c1);
        ps_put_f64(w, c->x1);
        ps_put_i64(w, c->nobs);
        ps_put_i64(w, adj1_kind(st) && c->nobs % EWM_K != 0);
    }
}

static int in01(double v) { return v >= 0.0 && v <= 1.0; }

/* Is the loaded column a state the kernels can reach? */
static int col_valid(const ewm_state *st, const ewm_col *c, int64_t half)
{
    if (c->nobs < 0)
        return 0;
    if (c->nobs == 0 && !isnan(c->m)) /* no value seen: no mean */
        return 0;
    /* weights cannot exceed 1/alpha (+ rounding slack) */
    double wmax = 1.0 / st->alpha + 1.0;
    if (adj1_kind(st)) {
        if (half != (c->nobs % EWM_K != 0) || c->cov != 0.0 || !in01(c->g) || !in01(c->c1))
            return 0;
        if (c->nobs == 0) /* nothing seen: the initial state */
            return c->s == 0.0 && c->w == 0.0 && c->g == 1.0 && c->c1 == 1.0 && c->x1 == 0.0;
        if (!half && (c->c1 != 1.0 || c->x1 != 0.0)) /* a block's start */
            return 0;
        /* W >= 1 once a value was seen (frozen over gaps: G holds them) */
        return c->w >= 1.0 && c->w <= wmax;
    }
    if (half != 0 || c->c1 != 0.0 || c->x1 != 0.0)
        return 0;
    if (st->kind == PS_EWM_MEAN) {
        if (c->cov != 0.0)
            return 0;
        if (c->s != 0.0 || c->g != 1.0)
            return 0;
        return in01(c->w) && (c->w == 1.0 || !isnan(c->m));
    }
    /* var: sum_wt (s), old_wt (w), sum_wt2 (g) are in [0, 1/alpha + 1] */
    if (!(c->s >= 0.0 && c->s <= wmax && c->w >= 0.0 && c->w <= wmax && c->g >= 0.0 &&
          c->g <= wmax))
        return 0;
    if (!st->adjust && !in01(c->w))
        return 0;
    if (isnan(c->m)) /* before the first value: initial weights, cov 0 */
        return c->nobs > 0 || (c->s == 1.0 && c->w == 1.0 && c->g == 1.0 && c->cov == 0.0);
    /* sum_wt2 is a sum of squares of the (at most nobs) positive weights
       whose sum is sum_wt: sum_wt**2 / nobs <= sum_wt2 <= sum_wt**2;
       outside, the unbiased correction sum_wt**2 / (sum_wt**2 - sum_wt2)
       would be garbage.  Slack 2**-16: the two sums decay by separately
       rounded factors (f, f*f) over a gap, a drift of about k * 2**-53
       after k missing values; tiny (subnormal-bound) weights unchecked. */
    if (c->nobs < 1)
        return 0;
    double sq = c->s * c->s;
    if (sq >= 0x1p-900 && (!(c->g <= sq * (1.0 + 0x1p-16)) ||
                           !(c->g >= sq / (double)c->nobs * (1.0 - 0x1p-16))))
        return 0;
    return c->cov >= 0.0 || isnan(c->cov);
}

static int ewm_load(void *p, ps_reader *r)
{
    ewm_state *st = p;
    for (int64_t j = 0; j < st->width; j++) {
        ewm_col c;
        c.s = ps_get_f64(r);
        c.w = ps_get_f64(r);
        c.g = ps_get_f64(r);
        c.m = ps_get_f64(r);
        c.cov = ps_get_f64(r);
        c.c1 = ps_get_f64(r);
        c.x1 = ps_get_f64(r);
        c.nobs = ps_get_i64(r);
        int64_t half = ps_get_i64(r);
        if (r->bad || !col_valid(st, &c, half))
            return PS_ERR_CORRUPT;
        st->col[j] = c;
    }
    return PS_OK;
}

const ps_family ps_family_ewm = {
    ewm_create, ewm_destroy, ewm_update, NULL, ewm_save, ewm_load,
};
