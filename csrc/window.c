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
 *
 * Memory grows with the records seen, not with the nominal window: every
 * per-record array has room for `cap` records, cap >= min(w, records seen
 * after the current update), grown by doubling (never beyond w, never
 * below min(w, PS_WINDOW_FLOOR / width)) at the start of an update.  Arrays indexed by offset in block are stored
 * compactly: the current block's raw values from its first present offset
 * `lo` (raw[r - lo]), the previous block's suffixes from its first present
 * offset `ap` (entry e >= ap at index e - ap; entries e < ap read entry ap),
 * the segment scratch from the segment's first offset (P[r - r0]).  A
 * window of 3e8 records over 1,000 values thus holds 2**17 records' worth
 * of arrays (the floor), not 3e8; the arithmetic, hence every output bit,
 * is unchanged.
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
    double ddof;
    int64_t w, mc, width, start, pos;
    int64_t cap;  /* room of the per-record arrays, in records (<= w) */
    void *mem;    /* the per-record arrays: one allocation (see resize) */
    int64_t lo;   /* current block: offset of its first present record */
    int64_t ap;   /* previous block: offset of its first present record (w: none) */
    double *inv;  /* [cap + 1]: 1/k, inv[0] = 0 */
    double *invd; /* [cap + 1]: 1/(k - ddof), NaN where k - ddof <= 0 */
    double *invA; /* [w] once cap == w (else unused): inv[w - 1 - r] */
    double *wt;   /* [w] once cap == w: ((w-1-r) * (r+1)) * inv[w], Chan's weight */
    double *raw;  /* [width][cap]: values of the current block, from offset lo */
    /* previous block's suffixes, [width][cap + 1] each: entry e (offset e of
       the block, w: empty) at index e - ap, ap = first present offset */
    double *s1;     /* sum / S (sum of x - K) / extremum */
    double *s2;     /* var: Q (sum of (x - K)^2) */
    double *si;     /* ext: offset of the extremum in its block */
    int64_t *sc;    /* non-NaN counts, valid where !scl */
    unsigned char *scl; /* [width]: previous block clean (w values, no NaN) */
    double *sk;     /* [width]: previous block's suffix shift K */
    /* current block's running prefix, [width] each */
    double *t1, *l1, *t2, *l2, *pk;
    int64_t *pc;
    double *pi;
    /* scratch, [cap] each, indexed by offset in the segment */
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
/* Suffixes of a completed block whose records before offset a are absent:  */
/* x[j - a] is the value at offset j (a <= j < w).  Entry j describes the   */
/* values at offsets j..w-1 and is stored at index j - a; entry w is empty; */
/* entries j < a are not stored (they equal entry a: see sidx).  `clean`:   */
/* a == 0 and no NaN (then counts are implicit).                            */

/* Index of suffix entry e (0 <= e <= w) in arrays whose first entry is ap. */
static inline int64_t sidx(int64_t e, int64_t ap)
{
    return e < ap ? 0 : e - ap;
}

static void suffix_sum(const double *x, int64_t a, int64_t w, int clean, double *S,
                       int64_t *C)
{
    double U = 0.0;
    int64_t cnt = 0;
    S[w - a] = 0.0;
    C[w - a] = 0;
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
            double v = x[j - a];
            int ok = v == v;
            R = R + (ok ? v : 0.0);
            cnt += ok;
            S[j - a] = U + R;
            C[j - a] = cnt;
        }
        U = U + R;
    }
}

static double suffix_var(const double *x, int64_t a, int64_t w, int clean, double *S,
                         double *Q, int64_t *C)
{
    double U1 = 0.0, U2 = 0.0, K = 0.0;
    int64_t cnt = 0;
    for (int64_t j = w - 1; j >= a; j--)
        if (x[j - a] == x[j - a]) {
            K = x[j - a];
            break;
        }
    S[w - a] = 0.0;
    Q[w - a] = 0.0;
    C[w - a] = 0;
    for (int64_t q0 = (w - 1) / G * G; q0 >= 0 && q0 + G > a; q0 -= G) {
        int64_t e = q0 + G < w ? q0 + G : w, b = q0 > a ? q0 : a;
        double R1 = 0.0, R2 = 0.0;
        if (clean) {
            for (int64_t j = e - 1; j >= b; j--) {
                double d = x[j] - K; /* clean: a == 0 */
                R1 = R1 + d;
                R2 = R2 + d * d;
                S[j] = U1 + R1;
                Q[j] = U2 + R2;
            }
        } else {
            for (int64_t j = e - 1; j >= b; j--) {
                double v = x[j - a];
                int ok = v == v;
                double d = ok ? v - K : 0.0;
                R1 = R1 + d;
                R2 = R2 + d * d;
                cnt += ok;
                S[j - a] = U1 + R1;
                Q[j - a] = U2 + R2;
                C[j - a] = cnt;
            }
        }
        U1 = U1 + R1;
        U2 = U2 + R2;
    }
    return K;
}

/* Extremum values are unique (ties go to the newest record), so any
   evaluation order gives the same result; the clean case is grouped to
   shorten the dependency chain. */
static void suffix_ext(const double *x, int64_t a, int64_t w, int clean, int ismax,
                       int isarg, double *V, double *I, int64_t *C)
{
    V[w - a] = NAN;
    I[w - a] = 0.0;
    C[w - a] = 0;
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
            double y = x[j - a];
            int took = y == y && ((ismax ? y > v : y < v) || v != v);
            cnt += y == y;
            v = took ? y : v;
            id = took ? (double)j : id;
            V[j - a] = v;
            I[j - a] = id;
            C[j - a] = cnt;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* A segment [r0, r1) of the current block of column j: x[0..r1-r0) are its */
/* values, o[0..r1-r0) get the outputs.  The running prefix is advanced by  */
/* the same operations whatever the segment boundaries.  s->lo and s->ap    */
/* describe the current and previous blocks (set by segment()).             */

static void block_done(win *s, int64_t j, const double *x, int64_t r0)
{
    const int64_t w = s->w, W1 = s->cap + 1;
    const int64_t a = s->lo;
    const double *b = r0 == a ? x : s->raw + j * s->cap;
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
    return s->scl[j] ? s->w - 1 - r : s->sc[j * (s->cap + 1) + sidx(r + 1, s->ap)];
}

/* The clean case of seg_sum (previous block clean, no NaN so far in this
   block): the running prefix and the outputs in one pass, with exactly the
   operations of the general path.  Returns 0 (state untouched) when the
   segment holds a NaN. */
static inline int seg_sum_fast(win *s, int64_t j, const double *x, int64_t r0, int64_t r1,
                               double *o, const int mean)
{
    const double *S = s->s1 + j * (s->cap + 1); /* previous block clean: ap == 0 */
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
    const double *S = s->s1 + j * (s->cap + 1);
    const int64_t ap = s->ap;
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
            P[r - r0] = T + l;
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
                P[r - r0] = T + l;
                pc[r - r0] = cnt;
            }
            if (e % G == 0)
                T = T + l;
            L = l;
        }
    }
    s->t1[j] = T;
    s->l1[j] = L;
    s->pc[j] = nf ? c0 + (r1 - r0) : pc[r1 - 1 - r0];
    if (nf && c0 == r0 && s->scl[j]) {
        if (s->kind == PS_MOVE_MEAN) {
            const double iw = s->inv[w];
            for (int64_t r = r0; r < r1; r++)
                o[r - r0] = (S[r + 1] + P[r - r0]) * iw;
        } else {
            for (int64_t r = r0; r < r1; r++)
                o[r - r0] = S[r + 1] + P[r - r0];
        }
    } else {
        for (int64_t r = r0; r < r1; r++)
            o[r - r0] = emit_sum(s, S[sidx(r + 1, ap)], count_A(s, j, r), P[r - r0],
                                 nf ? c0 + (r + 1 - r0) : pc[r - r0], present_at(s, kb + r));
    }
}

static void seg_var(win *s, int64_t j, const double *x, int64_t r0, int64_t r1,
                    double *o, int64_t kb)
{
    const int64_t w = s->w, W1 = s->cap + 1, c0 = s->pc[j], m = r1 - r0, ap = s->ap;
    const double *S = s->s1 + j * W1, *Q = s->s2 + j * W1;
    const double KA = s->sk[j];
    double *P1 = s->p1, *P2 = s->p2;
    int64_t *pc = s->pcb;
    double T1 = s->t1[j], L1 = s->l1[j], T2 = s->t2[j], L2 = s->l2[j], chk = 0.0;
    double K = c0 == 0 ? x[0] : s->pk[j];
    int nf = 1;
    for (int64_t r = r0; r < r1; r++) {
        double d = x[r - r0] - K;
        P1[r - r0] = d;
        P2[r - r0] = d * d;
    }
    for (int64_t r = r0; r < r1;) {
        int64_t e = group_end(r, r1);
        double l1 = r % G == 0 ? 0.0 : L1, l2 = r % G == 0 ? 0.0 : L2;
        for (; r < e; r++) {
            l1 = l1 + P1[r - r0];
            l2 = l2 + P2[r - r0];
            P1[r - r0] = T1 + l1;
            P2[r - r0] = T2 + l2;
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
                P1[r - r0] = T1 + l1;
                P2[r - r0] = T2 + l2;
                pc[r - r0] = cnt;
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
    s->pc[j] = nf ? c0 + m : pc[m - 1];
    if (nf && c0 == r0 && s->scl[j]) {
        /* emit_var's arithmetic with nA = w-1-r, nB = r+1, n = w. */
        const double *inv = s->inv, *invA = s->invA, *wt = s->wt;
        const double id = s->invd[w];
        const int64_t rl = r1 < w ? r1 : w - 1;
        for (int64_t r = r0; r < rl; r++) {
            double SA = S[r + 1], QA = Q[r + 1], iA = invA[r];
            double SB = P1[r - r0], QB = P2[r - r0], iB = inv[r + 1];
            double tA = QA - (SA * SA) * iA, tB = QB - (SB * SB) * iB;
            double M2A = tA < 0.0 ? 0.0 : tA, M2B = tB < 0.0 ? 0.0 : tB;
            double delta = (K + SB * iB) - (KA + SA * iA);
            o[r - r0] = ((M2A + M2B) + (delta * delta) * wt[r]) * id;
        }
        if (r1 == w)
            o[w - 1 - r0] = part_m2(P1[w - 1 - r0], P2[w - 1 - r0], inv[w]) * id;
        if (s->kind == PS_MOVE_STD)
            sqrt_all(o, m);
    } else {
        for (int64_t r = r0; r < r1; r++)
            o[r - r0] = emit_var(s, S[sidx(r + 1, ap)], Q[sidx(r + 1, ap)], KA, count_A(s, j, r),
                                 P1[r - r0], P2[r - r0], K, nf ? c0 + (r + 1 - r0) : pc[r - r0],
                                 present_at(s, kb + r));
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
    const int64_t w = s->w, W1 = s->cap + 1, c0 = s->pc[j], m = r1 - r0, ap = s->ap;
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
                P[r - r0] = ext2(ismax, T, l);
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
                pc[r - r0] = cnt;
                P[r - r0] = (l != l || (ismax ? T > l : T < l)) ? T : l;
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
            __m128d m = _mm_cmpeq_sd(_mm_load_sd(x + (r - r0)), _mm_load_sd(P + (r - r0)));
            id = sel(m, _mm_set_sd((double)r), id);
            _mm_store_sd(pi + (r - r0), id);
        }
        s->pi[j] = _mm_cvtsd_f64(id);
#else
        double id = s->pi[j];
        for (int64_t r = r0; r < r1; r++) {
            id = x[r - r0] == P[r - r0] ? (double)r : id;
            pi[r - r0] = id;
        }
        s->pi[j] = id;
#endif
    }
    if (nf && c0 == r0 && s->scl[j]) {
        if (!s->isarg) {
            ext_out(ismax, V + r0 + 1, P, o, m);
        } else {
            int64_t r = r0;
#ifdef HAVE_SSE2
            __m128d rr = _mm_set_pd((double)r0 + 1.0, (double)r0);
            const __m128d two = _mm_set1_pd(2.0), dw = _mm_set1_pd((double)w);
            for (; r + 2 <= r1; r += 2) {
                __m128d vA = _mm_loadu_pd(V + r + 1), vB = _mm_loadu_pd(P + (r - r0));
                __m128d m = ismax ? _mm_cmpgt_pd(vA, vB) : _mm_cmplt_pd(vA, vB);
                __m128d offA = _mm_sub_pd(_mm_add_pd(rr, dw), _mm_loadu_pd(I + r + 1));
                __m128d offB = _mm_sub_pd(rr, _mm_loadu_pd(pi + (r - r0)));
                _mm_storeu_pd(o + (r - r0), sel(m, offA, offB));
                rr = _mm_add_pd(rr, two);
            }
#endif
            for (; r < r1; r++) {
                double vA = V[r + 1], vB = P[r - r0];
                int takeB = !(ismax ? vA > vB : vA < vB);
                o[r - r0] = takeB ? (double)r - pi[r - r0] : ((double)r + (double)w) - I[r + 1];
            }
        }
    } else {
        for (int64_t r = r0; r < r1; r++)
            o[r - r0] = emit_ext(s, r, V[sidx(r + 1, ap)], I[sidx(r + 1, ap)], count_A(s, j, r),
                                 P[r - r0], s->isarg ? pi[r - r0] : 0.0,
                                 nf ? c0 + (r + 1 - r0) : pc[r - r0], present_at(s, kb + r));
    }
}

/* Records [pos, pos + m) of `in` (m x width), all in one block. */
static void segment(win *s, const double *in, int64_t m, double *out)
{
    const int64_t w = s->w, width = s->width, kb = s->pos - s->pos % w;
    const int64_t r0 = s->pos - kb, r1 = r0 + m;
    /* first present offsets of this block and of the previous one */
    s->lo = kb < s->start ? s->start - kb : 0;
    s->ap = kb <= s->start ? w : kb - s->start >= w ? 0 : w - (kb - s->start);
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
        if (r0 != s->lo || r1 != w)
            memcpy(s->raw + j * s->cap + (r0 - s->lo), x, (size_t)m * sizeof(double));
        if (r1 == w)
            block_done(s, j, x, r0);
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

/* The per-record arrays, in carving order, and their lengths (8-byte slots)
   for room `cap`: only those the kind uses. */
enum { A_INV, A_INVD, A_INVA, A_WT, A_RAW, A_S1, A_S2, A_SI, A_SC,
       A_XB, A_OB, A_P1, A_P2, A_PCB, A_PIB, NARR };

static double *piece(double *d, const size_t *off, const size_t *len, int a)
{
    return len[a] ? d + off[a] : NULL;
}

static void lengths(const win *s, int64_t cap, size_t len[NARR])
{
    const size_t c = (size_t)cap, c1 = c + 1, nd = (size_t)s->width;
    const int var = s->cls == CL_VAR, ext = s->cls == CL_EXT;
    /* invA / wt serve the clean path only, i.e. after a whole block (cap == w) */
    const size_t full = var && cap == s->w ? c : 0;
    len[A_INV] = c1;
    len[A_INVD] = c1;
    len[A_INVA] = full;
    len[A_WT] = full;
    len[A_RAW] = nd * c;
    len[A_S1] = nd * c1;
    len[A_S2] = var ? nd * c1 : 0;
    len[A_SI] = ext ? nd * c1 : 0;
    len[A_SC] = nd * c1;
    len[A_XB] = nd > 1 ? c : 0;
    len[A_OB] = nd > 1 ? c : 0;
    len[A_P1] = c;
    len[A_P2] = var ? c : 0;
    len[A_PCB] = c;
    len[A_PIB] = s->isarg ? c : 0;
}

/* Give the per-record arrays room for `cap` records (cap > s->cap, or the
   first allocation when s->mem is NULL): a new allocation, the tables
   computed, the current block's raw values and the previous block's
   suffixes copied (an empty previous block on the first allocation).
   Returns 0, changing nothing, when the memory is not available. */
static int resize(win *s, int64_t cap)
{
    const int64_t old = s->cap, w = s->w, nd = s->width;
    size_t len[NARR], off[NARR], total = 0;
    double *d;
    win t;
    if (cap < 0 || cap > w || (uint64_t)cap + 1 > (uint64_t)(SIZE_MAX / 128) / (uint64_t)nd)
        return 0;
    lengths(s, cap, len);
    for (int a = 0; a < NARR; a++) {
        off[a] = total;
        total += len[a];
    }
    d = malloc(total * sizeof(double));
    if (!d)
        return 0;
    t = *s;
    t.inv = piece(d, off, len, A_INV);
    t.invd = piece(d, off, len, A_INVD);
    t.invA = piece(d, off, len, A_INVA);
    t.wt = piece(d, off, len, A_WT);
    t.raw = piece(d, off, len, A_RAW);
    t.s1 = piece(d, off, len, A_S1);
    t.s2 = piece(d, off, len, A_S2);
    t.si = piece(d, off, len, A_SI);
    t.sc = (int64_t *)(void *)piece(d, off, len, A_SC);
    t.xb = piece(d, off, len, A_XB);
    t.ob = piece(d, off, len, A_OB);
    t.p1 = piece(d, off, len, A_P1);
    t.p2 = piece(d, off, len, A_P2);
    t.pcb = (int64_t *)(void *)piece(d, off, len, A_PCB);
    t.pib = piece(d, off, len, A_PIB);
    t.inv[0] = 0.0;
    t.invd[0] = NAN;
    for (int64_t k = 1; k <= cap; k++) {
        double dk = (double)k - s->ddof;
        t.inv[k] = 1.0 / (double)k;
        t.invd[k] = dk > 0.0 ? 1.0 / dk : NAN;
    }
    if (len[A_INVA])
        for (int64_t r = 0; r < w; r++) {
            t.invA[r] = t.inv[w - 1 - r];
            t.wt[r] = ((double)(w - 1 - r) * (double)(r + 1)) * t.inv[w];
        }
    for (int64_t j = 0; j < nd; j++) {
        double *s1 = t.s1 + j * (cap + 1), *s2 = t.s2 ? t.s2 + j * (cap + 1) : NULL;
        double *si = t.si ? t.si + j * (cap + 1) : NULL;
        int64_t *sc = t.sc + j * (cap + 1);
        const size_t n1 = (size_t)old + 1;
        if (!s->mem) {
            /* The block before the first one is empty (counts 0, not clean). */
            s1[0] = s->cls == CL_EXT ? NAN : 0.0;
            sc[0] = 0;
            if (s2)
                s2[0] = 0.0;
            if (si)
                si[0] = 0.0;
            continue;
        }
        if (old > 0)
            memcpy(t.raw + j * cap, s->raw + j * old, (size_t)old * sizeof(double));
        memcpy(s1, s->s1 + j * (old + 1), n1 * sizeof(double));
        memcpy(sc, s->sc + j * (old + 1), n1 * sizeof(int64_t));
        if (s2)
            memcpy(s2, s->s2 + j * (old + 1), n1 * sizeof(double));
        if (si)
            memcpy(si, s->si + j * (old + 1), n1 * sizeof(double));
    }
    free(s->mem);
    t.mem = d;
    t.cap = cap;
    *s = t;
    return 1;
}

static void win_destroy(void *p)
{
    win *s = p;
    if (!s)
        return;
    free(s->mem);
    free(s->sk);
    free(s);
}

static void *win_create(const ps_stage_params *p, int64_t width, int64_t start)
{
    const int64_t w = p->window;
    size_t nd;
    win *s;
    double *d;
    /* Windows up to PS_WINDOW_MAX (the dispatcher's limit) keep every
       offset expression below exact and in range. */
    if (w < 1 || w > PS_WINDOW_MAX || width < 1 || start < 0 ||
        (uint64_t)width > (uint64_t)(SIZE_MAX / 128))
        return NULL;
    nd = (size_t)width;
    s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    /* The per-column running state: sk, t1, l1, t2, l2, pk, pc, pi (8 bytes
       each), scl (1 byte, rounded up to slots). */
    d = calloc(8 * nd + (nd + 7) / 8, sizeof(double));
    if (!d) {
        free(s);
        return NULL;
    }
    s->sk = d;
    s->t1 = s->sk + nd;
    s->l1 = s->t1 + nd;
    s->t2 = s->l1 + nd;
    s->l2 = s->t2 + nd;
    s->pk = s->l2 + nd;
    s->pc = (int64_t *)(void *)(s->pk + nd);
    s->pi = (double *)(void *)(s->pc + nd);
    s->scl = (unsigned char *)(void *)(s->pi + nd);

    s->kind = p->kind;
    s->cls = p->kind <= PS_MOVE_MEAN ? CL_SUM : p->kind <= PS_MOVE_STD ? CL_VAR : CL_EXT;
    s->omit = p->nan_policy == PS_NAN_OMIT;
    s->ismax = p->kind == PS_MOVE_MAX || p->kind == PS_MOVE_ARGMAX;
    s->isarg = p->kind == PS_MOVE_ARGMIN || p->kind == PS_MOVE_ARGMAX;
    s->ddof = p->ddof;
    s->w = w;
    s->mc = p->min_count;
    s->width = width;
    s->start = start;
    s->pos = start;
    s->ap = w;
    if (s->cls == CL_EXT)
        for (size_t i = 0; i < nd; i++)
            s->t1[i] = s->l1[i] = NAN;
    /* Room for no record yet: the arrays grow with the records seen. */
    if (!resize(s, 0)) {
        free(d);
        free(s);
        return NULL;
    }
    return s;
}

static void win_update(void *p, const double *in, int64_t n, double *out, int64_t *nout)
{
    win *s = p;
    const int64_t w = s->w, width = s->width;
    const int64_t seen = s->pos - s->start;
    int64_t i = 0, need, cap;
    if (n == 0) {
        *nout = 0;
        return;
    }
    /* room for the records present after this update (at most w) */
    cap = ps_window_room(s->cap, seen < w ? seen : w, n, w, width, &need);
    if (cap > s->cap) {
        if (!resize(s, cap)) {
            *nout = -1; /* out of memory: nothing changed */
            return;
        }
    }
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
