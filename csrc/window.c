/*
 * window.c -- drift-free moving-window sum / mean / var / std / min / max /
 * argmin / argmax (bottleneck's move_* semantics), one independent stream
 * per value of the record.
 *
 * Algorithm (van Herk / Gil-Werman prefix/suffix blocks): global record
 * indices are cut into blocks of w records aligned on multiples of w.  The
 * window of record g (offset r = g mod w in block k) is the suffix of block
 * k-1 from offset r+1 joined with the prefix of block k up to offset r.  A
 * state keeps, per column, the running prefix aggregate of the current
 * block, its raw values, and the suffix aggregates of the previous block
 * (computed backwards when a block completes).  Every aggregate is a fixed
 * function of the values of its part of the window (and of the phase), so
 * outputs never depend on history (no subtraction of values leaving the
 * window) nor on how the input is chunked: the prefix is computed by the
 * same sequence of operations whether records come one by one or a whole
 * block at once, and the suffix by one function in both cases.
 *
 * Aggregates of a part (absent records before `start` simply do not exist;
 * NaNs count only in the non-NaN count):
 * - sum/mean: the sum of the non-NaN values, accumulated in groups of G
 *   aligned offsets (group-local running sum L plus the sum T of the
 *   previous groups of the block: this breaks the dependency chain);
 * - var/std: the same grouped sums of d = x - K and d*d, K being the part's
 *   first non-NaN value (last one for a suffix), so that a constant part
 *   has exactly zero M2 = Q - S*S/n; parts are joined by Chan's formula;
 * - min/max/argmin/argmax: (value, offset in block), NaN meaning empty;
 *   ties go to the newest record, which makes the result unique.
 * In PS_NAN_PROPAGATE mode a window holding a NaN is detected by its
 * non-NaN count being below the number of records in the window.
 */
#include "stage_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* SSE2 (x86-64 baseline) for the branch-free min / max chains, NaN scans
   and square roots; -DPS_NO_SIMD gives the portable C versions, which
   compute exactly the same values. */
#if defined(__SSE2__) && !defined(PS_NO_SIMD)
#include <emmintrin.h>
#define HAVE_SSE2 1
#endif

#define G 8 /* group length of the grouped prefix / suffix aggregates */

enum { CL_SUM, CL_VAR, CL_EXT };

typedef struct {
    int kind, cls, omit, ismax, isarg;
    int64_t w, mc, width, start, pos;
    double *inv;  /* [w + 1]: 1/k, inv[0] = 0 */
    double *invd; /* [w + 1]: 1/(k - ddof), NaN where k - ddof <= 0 */
    double *invA; /* [w]: inv[w - 1 - r] */
    double *wt;   /* [w]: ((w-1-r) * (r+1)) * inv[w], Chan's weight */
    double *raw;  /* [width][w]: values of the current block */
    /* previous block's suffixes, [width][w + 1] each (index w: empty) */
    double *s1;     /* sum / S (sum of x - K) / extremum */
    double *s2;     /* Q (sum of (x - K)^2) */
    double *si;     /* offset of the extremum in its block */
    int64_t *sc;    /* non-NaN counts, valid where !scl */
    unsigned char *scl; /* [width]: previous block clean (w values, no NaN) */
    double *sk;     /* [width]: previous block's suffix shift K */
    /* current block's running prefix, [width] each */
    double *t1, *l1, *t2, *l2, *pk;
    int64_t *pc;
    double *pi;
    /* scratch, [w] each, indexed by offset in block */
    double *xb, *ob, *p1, *p2;
    int64_t *pcb;
    double *pib;
} win;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static int has_nan(const double *x, int64_t n)
{
    int64_t i = 0;
    int bad = 0;
#ifdef HAVE_SSE2
    __m128d acc = _mm_setzero_pd();
    for (; i + 4 <= n; i += 4) {
        __m128d a = _mm_loadu_pd(x + i), b = _mm_loadu_pd(x + i + 2);
        acc = _mm_or_pd(acc, _mm_cmpunord_pd(a, b));
    }
    bad = _mm_movemask_pd(acc) != 0;
#endif
    for (; i < n; i++)
        bad |= x[i] != x[i];
    return bad;
}

static void sqrt_all(double *o, int64_t n)
{
    int64_t i = 0;
#ifdef HAVE_SSE2
    for (; i + 2 <= n; i += 2)
        _mm_storeu_pd(o + i, _mm_sqrt_pd(_mm_loadu_pd(o + i)));
#endif
    for (; i < n; i++)
        o[i] = sqrt(o[i]);
}

static int64_t present_at(const win *s, int64_t g)
{
    int64_t p = g - s->start + 1;
    return p < s->w ? p : s->w;
}

static int reject(const win *s, int64_t c, int64_t present)
{
    return c < s->mc || (!s->omit && c < present);
}

static int64_t group_end(int64_t r, int64_t r1)
{
    int64_t e = (r / G + 1) * G;
    return e < r1 ? e : r1;
}

/* Extremum of an older value a and a newer value b, NaN meaning empty;
   ties go to the newer one.  b must not be NaN unless empty. */
static double ext2(int ismax, double a, double b)
{
#ifdef HAVE_SSE2
    __m128d va = _mm_set_sd(a), vb = _mm_set_sd(b);
    return _mm_cvtsd_f64(ismax ? _mm_max_sd(va, vb) : _mm_min_sd(va, vb));
#else
    return (ismax ? a > b : a < b) ? a : b;
#endif
}

#ifdef HAVE_SSE2
static __m128d sel(__m128d m, __m128d a, __m128d b)
{
    return _mm_or_pd(_mm_and_pd(m, a), _mm_andnot_pd(m, b));
}
#endif

/* ------------------------------------------------------------------------ */
/* Emitting one output from a suffix part A (older) and a prefix part B     */

static double emit_sum(const win *s, double sA, int64_t cA, double pB, int64_t cB,
                       int64_t present)
{
    int64_t c = cA + cB;
    double t;
    if (reject(s, c, present))
        return NAN;
    t = sA + pB;
    return s->kind == PS_MOVE_MEAN ? t * s->inv[c] : t;
}

static double part_m2(double S, double Q, double i)
{
    double t = Q - (S * S) * i;
    return t < 0.0 ? 0.0 : t;
}

static double join_m2(const double *inv, double SA, double QA, double KA, int64_t nA,
                      double SB, double QB, double KB, int64_t nB)
{
    double iA = inv[nA], iB = inv[nB];
    double M2A = part_m2(SA, QA, iA), M2B = part_m2(SB, QB, iB);
    double delta, wt;
    if (nA == 0)
        return M2B;
    if (nB == 0)
        return M2A;
    delta = (KB + SB * iB) - (KA + SA * iA);
    wt = ((double)nA * (double)nB) * inv[nA + nB];
    return (M2A + M2B) + (delta * delta) * wt;
}

static double emit_var(const win *s, double SA, double QA, double KA, int64_t nA,
                       double SB, double QB, double KB, int64_t nB, int64_t present)
{
    int64_t c = nA + nB;
    double v;
    if (reject(s, c, present))
        return NAN;
    v = join_m2(s->inv, SA, QA, KA, nA, SB, QB, KB, nB) * s->invd[c];
    return s->kind == PS_MOVE_STD ? sqrt(v) : v;
}

static double emit_ext(const win *s, int64_t r, double vA, double iA, int64_t cA,
                       double vB, double iB, int64_t cB, int64_t present)
{
    int takeB = vA != vA || (vB == vB && !(s->ismax ? vA > vB : vA < vB));
    if (reject(s, cA + cB, present))
        return NAN;
    if (!s->isarg)
        return takeB ? vB : vA;
    return takeB ? (double)r - iB : ((double)r + (double)s->w) - iA;
}

/* NB whole groups x[0 .. NB*G): the running sums inside each group,
   forward (lb[k] for offset k, lg[g] the total of group g) or backward
   (lb[k] = sum of x[k .. end of its group], same order as the scalar
   loops).  The NB chains are independent and interleaved. */
#ifndef NB
#define NB 2
#endif

static inline void local_prefix(const double *x, double *lb, double *lg)
{
    for (int g = 0; g < NB; g++)
        lg[g] = 0.0;
    for (int k = 0; k < G; k++)
        for (int g = 0; g < NB; g++) {
            lg[g] = lg[g] + x[g * G + k];
            lb[g * G + k] = lg[g];
        }
}

static inline void local_suffix(const double *x, double *lb, double *lg)
{
    for (int g = 0; g < NB; g++)
        lg[g] = 0.0;
    for (int k = G - 1; k >= 0; k--)
        for (int g = 0; g < NB; g++) {
            lg[g] = lg[g] + x[g * G + k];
            lb[g * G + k] = lg[g];
        }
}

/* ------------------------------------------------------------------------ */
/* Suffixes of a completed block x[0..w) whose records before offset a are  */
/* absent.  Entry j describes x[j..w), entry w is empty, entries j < a      */
/* equal entry a.  `clean`: a == 0 and no NaN (then counts are implicit).   */

static void suffix_sum(const double *x, int64_t a, int64_t w, int clean, double *S,
                       int64_t *C)
{
    double U = 0.0;
    int64_t cnt = 0;
    S[w] = 0.0;
    C[w] = 0;
    if (clean) {
        /* the last (maybe partial) group, then NB whole groups at a time,
           then the rest: the same operations as the loop below. */
        int64_t q0 = (w - 1) / G * G;
        double R = 0.0;
        for (int64_t j = w - 1; j >= q0; j--) {
            R = R + x[j];
            S[j] = U + R;
        }
        U = U + R;
        for (; q0 >= NB * G; q0 -= NB * G) {
            const int64_t b = q0 - NB * G;
            double lb[NB * G], lg[NB];
            local_suffix(x + b, lb, lg);
            for (int g = NB - 1; g >= 0; g--) {
                for (int k = 0; k < G; k++)
                    S[b + g * G + k] = U + lb[g * G + k];
                U = U + lg[g];
            }
        }
        for (q0 -= G; q0 >= 0; q0 -= G) {
            R = 0.0;
            for (int k = G - 1; k >= 0; k--) {
                R = R + x[q0 + k];
                S[q0 + k] = U + R;
            }
            U = U + R;
        }
        return;
    }
    for (int64_t q0 = (w - 1) / G * G; q0 >= 0 && q0 + G > a; q0 -= G) {
        int64_t e = q0 + G < w ? q0 + G : w, b = q0 > a ? q0 : a;
        double R = 0.0;
        for (int64_t j = e - 1; j >= b; j--) {
            int ok = x[j] == x[j];
            R = R + (ok ? x[j] : 0.0);
            cnt += ok;
            S[j] = U + R;
            C[j] = cnt;
        }
        U = U + R;
    }
    for (int64_t j = 0; j < a; j++) {
        S[j] = S[a];
        C[j] = C[a];
    }
}

static double suffix_var(const double *x, int64_t a, int64_t w, int clean, double *S,
                         double *Q, int64_t *C)
{
    double U1 = 0.0, U2 = 0.0, K = 0.0;
    int64_t cnt = 0;
    for (int64_t j = w - 1; j >= a; j--)
        if (x[j] == x[j]) {
            K = x[j];
            break;
        }
    S[w] = 0.0;
    Q[w] = 0.0;
    C[w] = 0;
    for (int64_t q0 = (w - 1) / G * G; q0 >= 0 && q0 + G > a; q0 -= G) {
        int64_t e = q0 + G < w ? q0 + G : w, b = q0 > a ? q0 : a;
        double R1 = 0.0, R2 = 0.0;
        if (clean) {
            for (int64_t j = e - 1; j >= b; j--) {
                double d = x[j] - K;
                R1 = R1 + d;
                R2 = R2 + d * d;
                S[j] = U1 + R1;
                Q[j] = U2 + R2;
            }
        } else {
            for (int64_t j = e - 1; j >= b; j--) {
                int ok = x[j] == x[j];
                double d = ok ? x[j] - K : 0.0;
                R1 = R1 + d;
                R2 = R2 + d * d;
                cnt += ok;
                S[j] = U1 + R1;
                Q[j] = U2 + R2;
                C[j] = cnt;
            }
        }
        U1 = U1 + R1;
        U2 = U2 + R2;
    }
    for (int64_t j = 0; j < a; j++) {
        S[j] = S[a];
        Q[j] = Q[a];
        C[j] = C[a];
    }
    return K;
}

/* Extremum values are unique (ties go to the newest record), so any
   evaluation order gives the same result; the clean case is grouped to
   shorten the dependency chain. */
static void suffix_ext(const double *x, int64_t a, int64_t w, int clean, int ismax,
                       int isarg, double *V, double *I, int64_t *C)
{
    V[w] = NAN;
    I[w] = 0.0;
    C[w] = 0;
    if (clean) {
        double U = NAN;
        for (int64_t q0 = (w - 1) / G * G; q0 >= 0; q0 -= G) {
            int64_t e = q0 + G < w ? q0 + G : w;
            double R = x[e - 1];
            V[e - 1] = R;
            for (int64_t j = e - 2; j >= q0; j--) {
                R = ext2(ismax, x[j], R);
                V[j] = R;
            }
            if (q0 + G < w)
                for (int64_t j = q0; j < e; j++)
                    V[j] = ext2(ismax, V[j], U);
            U = V[q0];
        }
        if (isarg) {
            int64_t j = w - 2;
            I[w - 1] = (double)(w - 1);
#ifdef HAVE_SSE2
            {
                __m128d id = _mm_set_sd((double)(w - 1));
                for (; j >= 0; j--) {
                    __m128d y = _mm_load_sd(x + j), n = _mm_load_sd(V + j + 1);
                    __m128d m = ismax ? _mm_cmpgt_sd(y, n) : _mm_cmplt_sd(y, n);
                    id = sel(m, _mm_set_sd((double)j), id);
                    _mm_store_sd(I + j, id);
                }
            }
#else
            for (; j >= 0; j--) {
                int took = ismax ? x[j] > V[j + 1] : x[j] < V[j + 1];
                I[j] = took ? (double)j : I[j + 1];
            }
#endif
        }
    } else {
        double v = NAN, id = 0.0;
        int64_t cnt = 0;
        for (int64_t j = w - 1; j >= a; j--) {
            double y = x[j];
            int took = y == y && ((ismax ? y > v : y < v) || v != v);
            cnt += y == y;
            v = took ? y : v;
            id = took ? (double)j : id;
            V[j] = v;
            I[j] = id;
            C[j] = cnt;
        }
        for (int64_t j = 0; j < a; j++) {
            V[j] = V[a];
            I[j] = I[a];
            C[j] = C[a];
        }
    }
}

/* ------------------------------------------------------------------------ */
/* A segment [r0, r1) of the current block of column j: x[0..r1-r0) are its */
/* values, o[0..r1-r0) get the outputs.  The running prefix is advanced by  */
/* the same operations whatever the segment boundaries.                     */

static void block_done(win *s, int64_t j, const double *x, int64_t r0, int64_t kb)
{
    const int64_t w = s->w, W1 = w + 1;
    const int64_t a = kb < s->start ? s->start - kb : 0;
    const double *b = r0 == 0 ? x : s->raw + j * w;
    const int clean = a == 0 && s->pc[j] == w;
    if (s->cls == CL_SUM)
        suffix_sum(b, a, w, clean, s->s1 + j * W1, s->sc + j * W1);
    else if (s->cls == CL_VAR)
        s->sk[j] = suffix_var(b, a, w, clean, s->s1 + j * W1, s->s2 + j * W1,
                              s->sc + j * W1);
    else
        suffix_ext(b, a, w, clean, s->ismax, s->isarg, s->s1 + j * W1, s->si + j * W1,
                   s->sc + j * W1);
    s->scl[j] = (unsigned char)clean;
    s->t1[j] = s->l1[j] = s->t2[j] = s->l2[j] = s->pk[j] = 0.0;
    if (s->cls == CL_EXT)
        s->t1[j] = s->l1[j] = NAN;
    s->pc[j] = 0;
    s->pi[j] = 0.0;
}

static int64_t count_A(const win *s, int64_t j, int64_t r)
{
    return s->scl[j] ? s->w - 1 - r : s->sc[j * (s->w + 1) + r + 1];
}

/* The clean case of seg_sum (previous block clean, no NaN so far in this
   block): the running prefix and the outputs in one pass, with exactly the
   operations of the general path.  Returns 0 (state untouched) when the
   segment holds a NaN. */
static inline int seg_sum_fast(win *s, int64_t j, const double *x, int64_t r0, int64_t r1,
                               double *o, const int mean)
{
    const double *S = s->s1 + j * (s->w + 1);
    const double iw = s->inv[s->w];
    double T = s->t1[j], L = s->l1[j], chk = 0.0;
    int64_t r = r0;
    if (r % G != 0) {
        const int64_t e = group_end(r, r1);
        double l = L;
        for (; r < e; r++) {
            double v;
            l = l + x[r - r0];
            v = S[r + 1] + (T + l);
            o[r - r0] = mean ? v * iw : v;
        }
        chk = chk + l;
        if (e % G == 0)
            T = T + l;
        L = l;
    }
    /* NB whole groups at a time: their local running sums are independent
       dependency chains, interleaved; then the outputs (vectorizable). */
    for (; r + NB * G <= r1; r += NB * G) {
        const double *xx = x + (r - r0), *SS = S + r + 1;
        double *oo = o + (r - r0);
        double lb[NB * G], lg[NB], Tg[NB];
        local_prefix(xx, lb, lg);
        for (int g = 0; g < NB; g++) {
            Tg[g] = T;
            chk = chk + lg[g];
            T = T + lg[g];
        }
        L = lg[NB - 1];
        for (int g = 0; g < NB; g++)
            for (int k = 0; k < G; k++) {
                double v = SS[g * G + k] + (Tg[g] + lb[g * G + k]);
                oo[g * G + k] = mean ? v * iw : v;
            }
    }
    for (; r + G <= r1; r += G) {
        const double *xx = x + (r - r0), *SS = S + r + 1;
        double *oo = o + (r - r0);
        double l = 0.0;
        for (int k = 0; k < G; k++) {
            double v;
            l = l + xx[k];
            v = SS[k] + (T + l);
            oo[k] = mean ? v * iw : v;
        }
        chk = chk + l;
        T = T + l;
        L = l;
    }
    if (r < r1) {
        double l = 0.0;
        for (; r < r1; r++) {
            double v;
            l = l + x[r - r0];
            v = S[r + 1] + (T + l);
            o[r - r0] = mean ? v * iw : v;
        }
        chk = chk + l;
        L = l;
    }
    if (chk != chk && has_nan(x, r1 - r0))
        return 0;
    s->t1[j] = T;
    s->l1[j] = L;
    s->pc[j] += r1 - r0;
    return 1;
}

static void seg_sum(win *s, int64_t j, const double *x, int64_t r0, int64_t r1,
                    double *o, int64_t kb)
{
    const int64_t w = s->w, c0 = s->pc[j];
    const double *S = s->s1 + j * (w + 1);
    if (s->scl[j] && c0 == r0 &&
        (s->kind == PS_MOVE_MEAN ? seg_sum_fast(s, j, x, r0, r1, o, 1)
                                 : seg_sum_fast(s, j, x, r0, r1, o, 0)))
        return;
    double *P = s->p1;
    int64_t *pc = s->pcb;
    double T = s->t1[j], L = s->l1[j], chk = 0.0;
    int nf = 1;
    for (int64_t r = r0; r < r1;) {
        int64_t e = group_end(r, r1);
        double l = r % G == 0 ? 0.0 : L;
        for (; r < e; r++) {
            l = l + x[r - r0];
            P[r] = T + l;
        }
        chk = chk + l;
        if (e % G == 0)
            T = T + l;
        L = l;
    }
    if (chk != chk && has_nan(x, r1 - r0)) {
        int64_t cnt = c0;
        nf = 0;
        T = s->t1[j];
        L = s->l1[j];
        for (int64_t r = r0; r < r1;) {
            int64_t e = group_end(r, r1);
            double l = r % G == 0 ? 0.0 : L;
            for (; r < e; r++) {
                double v = x[r - r0];
                int ok = v == v;
                l = l + (ok ? v : 0.0);
                cnt += ok;
                P[r] = T + l;
                pc[r] = cnt;
            }
            if (e % G == 0)
                T = T + l;
            L = l;
        }
    }
    s->t1[j] = T;
    s->l1[j] = L;
    s->pc[j] = nf ? c0 + (r1 - r0) : pc[r1 - 1];
    if (nf && c0 == r0 && s->scl[j]) {
        if (s->kind == PS_MOVE_MEAN) {
            const double iw = s->inv[w];
            for (int64_t r = r0; r < r1; r++)
                o[r - r0] = (S[r + 1] + P[r]) * iw;
        } else {
            for (int64_t r = r0; r < r1; r++)
                o[r - r0] = S[r + 1] + P[r];
        }
    } else {
        for (int64_t r = r0; r < r1; r++)
            o[r - r0] = emit_sum(s, S[r + 1], count_A(s, j, r), P[r],
                                 nf ? c0 + (r + 1 - r0) : pc[r], present_at(s, kb + r));
    }
}

static void seg_var(win *s, int64_t j, const double *x, int64_t r0, int64_t r1,
                    double *o, int64_t kb)
{
    const int64_t w = s->w, W1 = w + 1, c0 = s->pc[j], m = r1 - r0;
    const double *S = s->s1 + j * W1, *Q = s->s2 + j * W1;
    const double KA = s->sk[j];
    double *P1 = s->p1, *P2 = s->p2;
    int64_t *pc = s->pcb;
    double T1 = s->t1[j], L1 = s->l1[j], T2 = s->t2[j], L2 = s->l2[j], chk = 0.0;
    double K = c0 == 0 ? x[0] : s->pk[j];
    int nf = 1;
    for (int64_t r = r0; r < r1; r++) {
        double d = x[r - r0] - K;
        P1[r] = d;
        P2[r] = d * d;
    }
    for (int64_t r = r0; r < r1;) {
        int64_t e = group_end(r, r1);
        double l1 = r % G == 0 ? 0.0 : L1, l2 = r % G == 0 ? 0.0 : L2;
        for (; r < e; r++) {
            l1 = l1 + P1[r];
            l2 = l2 + P2[r];
            P1[r] = T1 + l1;
            P2[r] = T2 + l2;
        }
        chk = chk + l2;
        if (e % G == 0) {
            T1 = T1 + l1;
            T2 = T2 + l2;
        }
        L1 = l1;
        L2 = l2;
    }
    if (chk != chk && has_nan(x, m)) {
        int64_t cnt = c0;
        nf = 0;
        T1 = s->t1[j];
        L1 = s->l1[j];
        T2 = s->t2[j];
        L2 = s->l2[j];
        K = s->pk[j];
        if (c0 == 0)
            for (int64_t i = 0; i < m; i++)
                if (x[i] == x[i]) {
                    K = x[i];
                    break;
                }
        for (int64_t r = r0; r < r1;) {
            int64_t e = group_end(r, r1);
            double l1 = r % G == 0 ? 0.0 : L1, l2 = r % G == 0 ? 0.0 : L2;
            for (; r < e; r++) {
                double v = x[r - r0];
                int ok = v == v;
                double d = ok ? v - K : 0.0;
                l1 = l1 + d;
                l2 = l2 + d * d;
                cnt += ok;
                P1[r] = T1 + l1;
                P2[r] = T2 + l2;
                pc[r] = cnt;
            }
            if (e % G == 0) {
                T1 = T1 + l1;
                T2 = T2 + l2;
            }
            L1 = l1;
            L2 = l2;
        }
    }
    s->t1[j] = T1;
    s->l1[j] = L1;
    s->t2[j] = T2;
    s->l2[j] = L2;
    s->pk[j] = K;
    s->pc[j] = nf ? c0 + m : pc[r1 - 1];
    if (nf && c0 == r0 && s->scl[j]) {
        /* emit_var's arithmetic with nA = w-1-r, nB = r+1, n = w. */
        const double *inv = s->inv, *invA = s->invA, *wt = s->wt;
        const double id = s->invd[w];
        const int64_t rl = r1 < w ? r1 : w - 1;
        for (int64_t r = r0; r < rl; r++) {
            double SA = S[r + 1], QA = Q[r + 1], iA = invA[r];
            double SB = P1[r], QB = P2[r], iB = inv[r + 1];
            double tA = QA - (SA * SA) * iA, tB = QB - (SB * SB) * iB;
            double M2A = tA < 0.0 ? 0.0 : tA, M2B = tB < 0.0 ? 0.0 : tB;
            double delta = (K + SB * iB) - (KA + SA * iA);
            o[r - r0] = ((M2A + M2B) + (delta * delta) * wt[r]) * id;
        }
        if (r1 == w)
            o[w - 1 - r0] = part_m2(P1[w - 1], P2[w - 1], inv[w]) * id;
        if (s->kind == PS_MOVE_STD)
            sqrt_all(o, m);
    } else {
        for (int64_t r = r0; r < r1; r++)
            o[r - r0] = emit_var(s, S[r + 1], Q[r + 1], KA, count_A(s, j, r), P1[r], P2[r],
                                 K, nf ? c0 + (r + 1 - r0) : pc[r], present_at(s, kb + r));
    }
}

static void ext_out(int ismax, const double *A, const double *B, double *o, int64_t m)
{
    int64_t i = 0;
#ifdef HAVE_SSE2
    if (ismax)
        for (; i + 2 <= m; i += 2)
            _mm_storeu_pd(o + i, _mm_max_pd(_mm_loadu_pd(A + i), _mm_loadu_pd(B + i)));
    else
        for (; i + 2 <= m; i += 2)
            _mm_storeu_pd(o + i, _mm_min_pd(_mm_loadu_pd(A + i), _mm_loadu_pd(B + i)));
#endif
    for (; i < m; i++)
        o[i] = ext2(ismax, A[i], B[i]);
}

static void seg_ext(win *s, int64_t j, const double *x, int64_t r0, int64_t r1,
                    double *o, int64_t kb)
{
    const int64_t w = s->w, W1 = w + 1, c0 = s->pc[j], m = r1 - r0;
    const int ismax = s->ismax;
    const double *V = s->s1 + j * W1;
    const double *I = s->si + j * W1;
    double *P = s->p1, *pi = s->pib;
    int64_t *pc = s->pcb;
    double T = s->t1[j], L = s->l1[j];
    const int nf = !has_nan(x, m);
    if (nf) {
        for (int64_t r = r0; r < r1;) {
            int64_t e = group_end(r, r1);
            double l = r % G == 0 ? NAN : L;
            for (; r < e; r++) {
                l = ext2(ismax, l, x[r - r0]);
                P[r] = ext2(ismax, T, l);
            }
            if (e % G == 0)
                T = ext2(ismax, T, l);
            L = l;
        }
        s->pc[j] = c0 + m;
    } else {
        int64_t cnt = c0;
        for (int64_t r = r0; r < r1;) {
            int64_t e = group_end(r, r1);
            double l = r % G == 0 ? NAN : L;
            for (; r < e; r++) {
                double y = x[r - r0];
                int ok = y == y;
                if (ok && !(ismax ? l > y : l < y))
                    l = y;
                cnt += ok;
                pc[r] = cnt;
                P[r] = (l != l || (ismax ? T > l : T < l)) ? T : l;
            }
            if (e % G == 0)
                T = (l != l || (ismax ? T > l : T < l)) ? T : l;
            L = l;
        }
        s->pc[j] = cnt;
    }
    s->t1[j] = T;
    s->l1[j] = L;
    if (s->isarg) {
#ifdef HAVE_SSE2
        __m128d id = _mm_set_sd(s->pi[j]);
        for (int64_t r = r0; r < r1; r++) {
            __m128d m = _mm_cmpeq_sd(_mm_load_sd(x + (r - r0)), _mm_load_sd(P + r));
            id = sel(m, _mm_set_sd((double)r), id);
            _mm_store_sd(pi + r, id);
        }
        s->pi[j] = _mm_cvtsd_f64(id);
#else
        double id = s->pi[j];
        for (int64_t r = r0; r < r1; r++) {
            id = x[r - r0] == P[r] ? (double)r : id;
            pi[r] = id;
        }
        s->pi[j] = id;
#endif
    }
    if (nf && c0 == r0 && s->scl[j]) {
        if (!s->isarg) {
            ext_out(ismax, V + r0 + 1, P + r0, o, m);
        } else {
            int64_t r = r0;
#ifdef HAVE_SSE2
            __m128d rr = _mm_set_pd((double)r0 + 1.0, (double)r0);
            const __m128d two = _mm_set1_pd(2.0), dw = _mm_set1_pd((double)w);
            for (; r + 2 <= r1; r += 2) {
                __m128d vA = _mm_loadu_pd(V + r + 1), vB = _mm_loadu_pd(P + r);
                __m128d m = ismax ? _mm_cmpgt_pd(vA, vB) : _mm_cmplt_pd(vA, vB);
                __m128d offA = _mm_sub_pd(_mm_add_pd(rr, dw), _mm_loadu_pd(I + r + 1));
                __m128d offB = _mm_sub_pd(rr, _mm_loadu_pd(pi + r));
                _mm_storeu_pd(o + (r - r0), sel(m, offA, offB));
                rr = _mm_add_pd(rr, two);
            }
#endif
            for (; r < r1; r++) {
                double vA = V[r + 1], vB = P[r];
                int takeB = !(ismax ? vA > vB : vA < vB);
                o[r - r0] = takeB ? (double)r - pi[r] : ((double)r + (double)w) - I[r + 1];
            }
        }
    } else {
        for (int64_t r = r0; r < r1; r++)
            o[r - r0] = emit_ext(s, r, V[r + 1], I[r + 1], count_A(s, j, r), P[r],
                                 s->isarg ? pi[r] : 0.0, nf ? c0 + (r + 1 - r0) : pc[r],
                                 present_at(s, kb + r));
    }
}

/* Records [pos, pos + m) of `in` (m x width), all in one block. */
static void segment(win *s, const double *in, int64_t m, double *out)
{
    const int64_t w = s->w, width = s->width, kb = s->pos - s->pos % w;
    const int64_t r0 = s->pos - kb, r1 = r0 + m;
    for (int64_t j = 0; j < width; j++) {
        const double *x = in;
        double *o = out;
        if (width > 1) {
            for (int64_t i = 0; i < m; i++)
                s->xb[i] = in[i * width + j];
            x = s->xb;
            o = s->ob;
        }
        if (s->cls == CL_SUM)
            seg_sum(s, j, x, r0, r1, o, kb);
        else if (s->cls == CL_VAR)
            seg_var(s, j, x, r0, r1, o, kb);
        else
            seg_ext(s, j, x, r0, r1, o, kb);
        if (r0 != 0 || r1 != w)
            memcpy(s->raw + j * w + r0, x, (size_t)m * sizeof(double));
        if (r1 == w)
            block_done(s, j, x, r0, kb);
        if (width > 1)
            for (int64_t i = 0; i < m; i++)
                out[i * width + j] = o[i];
    }
    s->pos += m;
}

/* Window of one record: the record itself (same values as the general
   path would give). */
static void window_one(const win *s, const double *in, int64_t m, double *out)
{
    switch (s->cls) {
    case CL_SUM:
        for (int64_t i = 0; i < m; i++)
            out[i] = in[i] == in[i] ? 0.0 + in[i] : NAN;
        break;
    case CL_VAR: {
        const double id = s->invd[1];
        for (int64_t i = 0; i < m; i++) {
            double d = in[i] - in[i];
            out[i] = in[i] == in[i] ? (d * d) * id : NAN;
        }
        if (s->kind == PS_MOVE_STD)
            sqrt_all(out, m);
        break;
    }
    default:
        if (s->isarg)
            for (int64_t i = 0; i < m; i++)
                out[i] = in[i] == in[i] ? 0.0 : NAN;
        else
            for (int64_t i = 0; i < m; i++)
                out[i] = in[i] == in[i] ? in[i] : NAN;
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* Family interface                                                         */

static void win_destroy(void *p)
{
    win *s = p;
    if (!s)
        return;
    free(s->inv);
    free(s);
}

static void *win_create(const ps_stage_params *p, int64_t width, int64_t start)
{
    const int64_t w = p->window;
    size_t nw, nw1, nd, total;
    win *s;
    double *d;
    if (w < 1 || width < 1 || start < 0 || w >= INT64_MAX / 16 ||
        (uint64_t)(w + 1) > (uint64_t)(SIZE_MAX / 64) / (uint64_t)width)
        return NULL;
    nw = (size_t)w;
    nw1 = nw + 1;
    nd = (size_t)width;
    /* One allocation of 8-byte slots: tables 2*nw1 + 2*nw; raw nd*nw;
       s1, s2, si, sc nd*nw1 each; sk, t1, l1, t2, l2, pk, pc, pi nd each;
       scratch 6*nw; scl nd bytes (rounded up to slots). */
    total = 2 * nw1 + 2 * nw + nd * nw + 4 * nd * nw1 + 8 * nd + 6 * nw + (nd + 7) / 8;
    s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    d = calloc(total, sizeof(double));
    if (!d) {
        free(s);
        return NULL;
    }
    s->inv = d;
    s->invd = s->inv + nw1;
    s->invA = s->invd + nw1;
    s->wt = s->invA + nw;
    s->raw = s->wt + nw;
    s->s1 = s->raw + nd * nw;
    s->s2 = s->s1 + nd * nw1;
    s->si = s->s2 + nd * nw1;
    s->sc = (int64_t *)(void *)(s->si + nd * nw1);
    s->sk = (double *)(void *)(s->sc + nd * nw1);
    s->t1 = s->sk + nd;
    s->l1 = s->t1 + nd;
    s->t2 = s->l1 + nd;
    s->l2 = s->t2 + nd;
    s->pk = s->l2 + nd;
    s->pc = (int64_t *)(void *)(s->pk + nd);
    s->pi = (double *)(void *)(s->pc + nd);
    s->xb = s->pi + nd;
    s->ob = s->xb + nw;
    s->p1 = s->ob + nw;
    s->p2 = s->p1 + nw;
    s->pcb = (int64_t *)(void *)(s->p2 + nw);
    s->pib = (double *)(void *)(s->pcb + nw);
    s->scl = (unsigned char *)(void *)(s->pib + nw);

    s->kind = p->kind;
    s->cls = p->kind <= PS_MOVE_MEAN ? CL_SUM : p->kind <= PS_MOVE_STD ? CL_VAR : CL_EXT;
    s->omit = p->nan_policy == PS_NAN_OMIT;
    s->ismax = p->kind == PS_MOVE_MAX || p->kind == PS_MOVE_ARGMAX;
    s->isarg = p->kind == PS_MOVE_ARGMIN || p->kind == PS_MOVE_ARGMAX;
    s->w = w;
    s->mc = p->min_count;
    s->width = width;
    s->start = start;
    s->pos = start;
    s->inv[0] = 0.0;
    s->invd[0] = NAN;
    for (int64_t k = 1; k <= w; k++) {
        double dk = (double)k - p->ddof;
        s->inv[k] = 1.0 / (double)k;
        s->invd[k] = dk > 0.0 ? 1.0 / dk : NAN;
    }
    for (int64_t r = 0; r < w; r++) {
        s->invA[r] = s->inv[w - 1 - r];
        s->wt[r] = ((double)(w - 1 - r) * (double)(r + 1)) * s->inv[w];
    }
    /* The block before the first one is empty (counts 0, not clean). */
    if (s->cls == CL_EXT) {
        for (size_t i = 0; i < nd * nw1; i++)
            s->s1[i] = NAN;
        for (size_t i = 0; i < nd; i++)
            s->t1[i] = s->l1[i] = NAN;
    }
    return s;
}

static void win_update(void *p, const double *in, int64_t n, double *out, int64_t *nout)
{
    win *s = p;
    const int64_t w = s->w, width = s->width;
    int64_t i = 0;
    *nout = n;
    if (w == 1) {
        window_one(s, in, n * width, out);
        s->pos += n;
        return;
    }
    if (s->cls == CL_SUM && width == 1) {
        /* Whole clean blocks after a clean one: what segment() does for
           them (seg_sum's clean path, then block_done), without its
           per-block overhead. */
        const int mean = s->kind == PS_MOVE_MEAN;
        while (n - i >= w && s->pos % w == 0 && s->pos >= s->start && s->scl[0] &&
               s->pc[0] == 0) {
            if (!(mean ? seg_sum_fast(s, 0, in + i, 0, w, out + i, 1)
                       : seg_sum_fast(s, 0, in + i, 0, w, out + i, 0)))
                break;
            suffix_sum(in + i, 0, w, 1, s->s1, s->sc);
            s->t1[0] = s->l1[0] = s->t2[0] = s->l2[0] = s->pk[0] = 0.0;
            s->pc[0] = 0;
            s->pi[0] = 0.0;
            s->pos += w;
            i += w;
        }
    }
    while (i < n) {
        int64_t m = w - s->pos % w;
        if (m > n - i)
            m = n - i;
        segment(s, in + i * width, m, out + i * width);
        i += m;
    }
}

const ps_family ps_family_window = {
    win_create, win_destroy, win_update, NULL, NULL, NULL,
};
