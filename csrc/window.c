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
 * - sum/mean/var/std: lane sums (lane = offset mod 4) of the values, or of
 *   d = x - K and d*d for var/std, joined into the window by a fixed
 *   4-term sum; see "the lane scheme" below.  The loops vectorize (AVX2,
 *   SSE2 and portable variants of window_lanes.h, same bits) and carry one
 *   vector addition per 4 records;
 * - min/max/argmin/argmax: (value, offset in block), NaN meaning empty;
 *   ties go to the newest record, which makes the result unique.
 * In PS_NAN_PROPAGATE mode a window holding a NaN is detected by its
 * non-NaN count being below the number of records in the window.
 * Windows of at most PS_WINDOW_DIRECT records skip the blocks: sum / mean /
 * var / std add each window's values directly ("small windows" below).
 *
 * Memory grows with the records seen, not with the nominal window: every
 * per-record array has room for `cap` records, cap >= min(w, records seen
 * after the current update), grown by doubling (never beyond w, never
 * below min(w, PS_WINDOW_FLOOR / width)) at the start of an update.  Arrays indexed by offset in block are stored
 * compactly: the current block's raw values from its first present offset
 * `lo` (raw[r - lo]), the previous block's suffixes from its first present
 * offset `ap` (min/max: entry e >= ap at index e - ap, entries e < ap read
 * entry ap; sum/var lanes: bidx(e, ap)),
 * the segment scratch from the segment's first offset (P[r - r0]).  A
 * window of 3e8 records over 1,000 values thus holds 2**17 records' worth
 * of arrays (the floor), not 3e8; the arithmetic, hence every output bit,
 * is unchanged.
 */
#include "stage_internal.h"
#include "simd.h"

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

#define G 8 /* group length of the grouped prefix aggregates of min / max */

enum { CL_SUM, CL_VAR, CL_EXT };

typedef struct {
    int kind, cls, omit, ismax, isarg;
    int simd;     /* SIMD level of this update (simd.h) */
    double ddof;
    int64_t w, mc, width, start, pos;
    int64_t cap;  /* room of the per-record arrays, in records (<= w) */
    int64_t bs;   /* room of each column's suffix arrays: cap + 8 (sum, var), cap + 1 (ext) */
    void *mem;    /* the per-record arrays: one allocation (see resize) */
    int64_t lo;   /* current block: offset of its first present record */
    int64_t ap;   /* previous block: offset of its first present record (w: none) */
    double *inv;  /* [cap + 1]: 1/k, inv[0] = 0 */
    double *invd; /* [cap + 1]: 1/(k - ddof), NaN where k - ddof <= 0 */
    double *raw;  /* [width][cap]: values of the current block, from offset lo */
    /* previous block's suffixes, [width][bs] each.  ext: entry e (offset e of
       the block, w: empty) at index e - ap (sidx), ap = first present offset;
       sum / var: lane suffix sums, entry e at bidx(e, ap) */
    double *s1;     /* sum / S (sum of x - K) / extremum */
    double *s2;     /* var: Q (sum of (x - K)^2) */
    double *si;     /* ext: offset of the extremum in its block */
    int64_t *sc;    /* [width][cap + 1] non-NaN counts (sidx), valid where !scl */
    unsigned char *scl; /* [width]: previous block clean (w values, no NaN) */
    unsigned char *sgl; /* [width]: var single-K mode (previous block ends with a value) */
    double *sk;     /* [width]: previous block's suffix shift K */
    /* current block's running prefix, [width] each */
    double *t1, *l1, *pk; /* ext: t1, l1; var: pk = the prefix's shift K */
    int64_t *pc;          /* non-NaN records so far in the block */
    double *pi;
    double *ln;           /* sum / var: [width][8] lane sums (S lanes, then Q lanes) */
    /* small windows (w <= PS_WINDOW_DIRECT, sum / var): [width][w - 1] the last
       w - 1 values (oldest first; NaN before the start) and [w - 1 + DPIECE]
       scratch */
    double *dh, *dbuf;
    /* scratch, [cap] each, indexed by offset in the segment */
    double *xb, *ob, *p1;
    int64_t *pcb;
    double *pib;
} win;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static int has_nan(const double *x, int64_t n) { return ps_any_nan(x, n); }

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

/* Index of suffix entry e (0 <= e <= w) in arrays whose first entry is ap. */
static inline int64_t sidx(int64_t e, int64_t ap)
{
    return e < ap ? 0 : e - ap;
}

static int64_t count_A(const win *s, int64_t j, int64_t r)
{
    return s->scl[j] ? s->w - 1 - r : s->sc[j * (s->cap + 1) + sidx(r + 1, s->ap)];
}

/* ------------------------------------------------------------------------ */
/* Moving sum / mean / var / std: the lane scheme                           */
/*                                                                          */
/* Lane l of a block holds its offsets r with r mod 4 == l.  The current    */
/* block keeps its lane sums A (per lane, the sum of its values up to the   */
/* newest offset of that lane: 4 doubles, `ln`); a completed block leaves   */
/* its lane suffix sums B[e] = x[e] + B[e + 4] (B[w..w+3] = 0).  The window */
/* of offset r is the current block's offsets 0..r plus the previous        */
/* block's offsets r+1..w-1; per lane, the first part is A[r - m] (the lane */
/* of r - m, m = 0..3) and the second B[r - m + 4], so with                 */
/*     C[r'] = A[r'] + B[r' + 4]                                            */
/* the window sum is (C[r-3] + C[r-2]) + (C[r-1] + C[r]) (A of a negative   */
/* offset is 0).  Every term is a sum of values inside the window, so no    */
/* value that left the window (an inf, a 1e300 spike) can leave a trace.    */
/* The lane sums advance 4 values per vector addition and the outputs are   */
/* lane-parallel: the whole pass vectorizes (window_lanes.h) and the only   */
/* loop-carried chain is one vector addition per 4 records.                 */
/*                                                                          */
/* var / std: the same lanes of d = x - K and d * d, M2 = Q - S*S/n with    */
/* one shift K for both parts: the previous block's last value (offset      */
/* w - 1), which lies in every window of offsets 0..w-2 ("single" mode, set */
/* when that value is present and not NaN).  A constant window then has     */
/* d == 0 exactly, hence M2 == 0.  Otherwise ("two" mode: the first block,  */
/* or a NaN at the previous block's end) each part has its own K (the       */
/* prefix: its first non-NaN; the suffix: its last non-NaN) and the parts   */
/* are joined by Chan's formula.  The window of offset w - 1 is the block   */
/* itself: its own lane suffix sums (K = its last non-NaN) give it.         */
/*                                                                          */
/* NaNs (omit) and absent records add 0.0 to their lane and are not counted */
/* (counts: pc for the prefix, sc / scl for the suffix).                    */

/* Index of lane-suffix entry e (0 <= e < w + 4) of a block whose first
   present offset is ap: entries from ap - 4 on are stored from index 0;
   an entry e < ap - 4 (absent offsets) equals the stored entry of its lane
   among ap - 4 .. ap - 1 (0.0 + B[e + 4] again and again). */
static inline int64_t bidx(int64_t e, int64_t ap)
{
    return e >= ap - 4 ? e - ap + 4 : ((e - ap) % 4 + 4) % 4;
}

/* -- the three variants of the vector loops (window_lanes.h) -- */

/* portable C */
typedef struct {
    double v[4];
} pv4;
static inline pv4 pv_load(const double *p)
{
    pv4 r;
    for (int i = 0; i < 4; i++)
        r.v[i] = p[i];
    return r;
}
static inline void pv_store(double *p, pv4 a)
{
    for (int i = 0; i < 4; i++)
        p[i] = a.v[i];
}
static inline pv4 pv_set1(double x)
{
    pv4 r = {{x, x, x, x}};
    return r;
}
#define PV_OP(NAME, EXPR)                                                       \
    static inline pv4 NAME(pv4 a, pv4 b)                                       \
    {                                                                          \
        pv4 r;                                                                 \
        for (int i = 0; i < 4; i++)                                            \
            r.v[i] = EXPR;                                                     \
        return r;                                                              \
    }
PV_OP(pv_add, a.v[i] + b.v[i])
PV_OP(pv_sub, a.v[i] - b.v[i])
PV_OP(pv_mul, a.v[i] * b.v[i])
static inline pv4 pv_sqrt(pv4 a)
{
    for (int i = 0; i < 4; i++)
        a.v[i] = sqrt(a.v[i]);
    return a;
}
static inline pv4 pv_max0(pv4 a)
{
    for (int i = 0; i < 4; i++)
        a.v[i] = a.v[i] < 0.0 ? 0.0 : a.v[i];
    return a;
}
static inline pv4 pv_sh(pv4 p, pv4 c, int k) /* lanes [p(4-k) .. p3, c0 .. c(3-k)] */
{
    pv4 r;
    for (int i = 0; i < 4; i++)
        r.v[i] = i < k ? p.v[4 - k + i] : c.v[i - k];
    return r;
}
#define V pv4
#define VLOAD pv_load
#define VSTORE pv_store
#define VSET1 pv_set1
#define VADD pv_add
#define VSUB pv_sub
#define VMUL pv_mul
#define VSQRT pv_sqrt
#define VMAX0 pv_max0
#define VSH1(p, c) pv_sh(p, c, 1)
#define VSH2(p, c) pv_sh(p, c, 2)
#define VSH3(p, c) pv_sh(p, c, 3)
#define LV(name) name##_port
#define LV_ATTR
#include "window_lanes.h"

#ifdef PS_HAVE_SSE2
/* SSE2: lanes 0-1 in lo, 2-3 in hi */
typedef struct {
    __m128d lo, hi;
} sv4;
static inline sv4 sv_load(const double *p)
{
    sv4 r = {_mm_loadu_pd(p), _mm_loadu_pd(p + 2)};
    return r;
}
static inline void sv_store(double *p, sv4 a)
{
    _mm_storeu_pd(p, a.lo);
    _mm_storeu_pd(p + 2, a.hi);
}
static inline sv4 sv_set1(double x)
{
    sv4 r = {_mm_set1_pd(x), _mm_set1_pd(x)};
    return r;
}
#define SV_OP(NAME, F)                                                          \
    static inline sv4 NAME(sv4 a, sv4 b)                                       \
    {                                                                          \
        sv4 r = {F(a.lo, b.lo), F(a.hi, b.hi)};                                \
        return r;                                                              \
    }
SV_OP(sv_add, _mm_add_pd)
SV_OP(sv_sub, _mm_sub_pd)
SV_OP(sv_mul, _mm_mul_pd)
static inline sv4 sv_sqrt(sv4 a)
{
    sv4 r = {_mm_sqrt_pd(a.lo), _mm_sqrt_pd(a.hi)};
    return r;
}
static inline sv4 sv_max0(sv4 a)
{
    const __m128d z = _mm_setzero_pd();
    sv4 r = {_mm_max_pd(z, a.lo), _mm_max_pd(z, a.hi)};
    return r;
}
static inline sv4 sv_sh1(sv4 p, sv4 c)
{
    sv4 r = {_mm_shuffle_pd(p.hi, c.lo, 1), _mm_shuffle_pd(c.lo, c.hi, 1)};
    return r;
}
static inline sv4 sv_sh2(sv4 p, sv4 c)
{
    sv4 r = {p.hi, c.lo};
    return r;
}
static inline sv4 sv_sh3(sv4 p, sv4 c)
{
    sv4 r = {_mm_shuffle_pd(p.lo, p.hi, 1), _mm_shuffle_pd(p.hi, c.lo, 1)};
    return r;
}
#define V sv4
#define VLOAD sv_load
#define VSTORE sv_store
#define VSET1 sv_set1
#define VADD sv_add
#define VSUB sv_sub
#define VMUL sv_mul
#define VSQRT sv_sqrt
#define VMAX0 sv_max0
#define VSH1 sv_sh1
#define VSH2 sv_sh2
#define VSH3 sv_sh3
#define LV(name) name##_sse2
#define LV_ATTR
#include "window_lanes.h"
#endif

#ifdef PS_HAVE_AVX2
#include <immintrin.h>
#define V __m256d
#define VLOAD _mm256_loadu_pd
#define VSTORE _mm256_storeu_pd
#define VSET1 _mm256_set1_pd
#define VADD _mm256_add_pd
#define VSUB _mm256_sub_pd
#define VMUL _mm256_mul_pd
#define VSQRT _mm256_sqrt_pd
#define VMAX0(a) _mm256_max_pd(_mm256_setzero_pd(), (a))
#define VSH2(p, c) _mm256_permute2f128_pd((p), (c), 0x21)
#define VSH3(p, c) _mm256_shuffle_pd((p), VSH2(p, c), 0x5)
#define VSH1(p, c) _mm256_shuffle_pd(VSH2(p, c), (c), 0x5)
#define LV(name) name##_avx2
#define LV_ATTR PS_TARGET_AVX2
#include "window_lanes.h"
#endif

/* fn's variant for `level`: fn_avx2, fn_sse2 or fn_port called with args. */
#if defined(PS_HAVE_AVX2)
#define BY_LEVEL(level, fn, args)                                               \
    ((level) >= PS_SIMD_AVX2 ? fn##_avx2 args : (level) >= PS_SIMD_SSE2 ? fn##_sse2 args \
                                                                        : fn##_port args)
#elif defined(PS_HAVE_SSE2)
#define BY_LEVEL(level, fn, args) ((level) >= PS_SIMD_SSE2 ? fn##_sse2 args : fn##_port args)
#else
#define BY_LEVEL(level, fn, args) ((void)(level), fn##_port args)
#endif

/* Lane suffix sums of a completed block (see above) from its values
   x[e - a], a <= e < w (a: its first present offset); returns the shift K
   (var: its last non-NaN value, 0 if none).  Counts in C (entry e at index
   e - a, as sidx reads them) unless the block is clean. */
static double suffix_lanes(const win *s, int var, const double *x, int64_t a, int clean,
                           double *B1, double *B2, int64_t *C)
{
    const int64_t w = s->w;
    double K = 0.0;
    int64_t cnt = 0;
    if (var)
        for (int64_t e = w - 1; e >= a; e--)
            if (x[e - a] == x[e - a]) {
                K = x[e - a];
                break;
            }
    for (int64_t e = w; e < w + 4; e++) {
        B1[bidx(e, a)] = 0.0;
        if (var)
            B2[bidx(e, a)] = 0.0;
    }
    if (clean) {
        if (var)
            BY_LEVEL(s->simd, suffix_var, (x, w, K, B1 + 4, B2 + 4));
        else
            BY_LEVEL(s->simd, suffix_sum, (x, w, B1 + 4));
        return K;
    }
    C[w - a] = 0;
    for (int64_t e = w - 1; e >= a; e--) {
        const double v = x[e - a];
        const int ok = v == v;
        const double d = ok ? (var ? v - K : v) : 0.0;
        const int64_t i = e - a + 4;
        B1[i] = d + B1[i + 4];
        if (var)
            B2[i] = d * d + B2[i + 4];
        cnt += ok;
        C[e - a] = cnt;
    }
    /* the absent offsets' entries that bidx reads (a - 4 .. a - 1) */
    for (int64_t e = a - 1; e >= 0 && e >= a - 4; e--) {
        const int64_t i = e - a + 4;
        B1[i] = 0.0 + B1[i + 4];
        if (var)
            B2[i] = 0.0 + B2[i + 4];
    }
    return K;
}

/* (t3 + t2) + (t1 + t0): the window sum of four lane terms, oldest first. */
static inline double hsum(double t3, double t2, double t1, double t0)
{
    return (t3 + t2) + (t1 + t0);
}

/* Records [r0, r1) of the current block of column j, one at a time: any
   state (NaN, absent records, two-K mode).  The var / std output of offset
   w - 1 is left to segment() (it needs the block's own suffix). */
static void seg_lanes(win *s, int64_t j, const double *x, int64_t r0, int64_t r1, double *o,
                      int64_t kb)
{
    const int var = s->cls == CL_VAR, isstd = s->kind == PS_MOVE_STD;
    const int mean = s->kind == PS_MOVE_MEAN, single = s->sgl[j];
    const int64_t w = s->w, ap = s->ap;
    const double *B1 = s->s1 + j * s->bs, *B2 = var ? s->s2 + j * s->bs : NULL;
    const double KA = s->sk[j];
    double *a1 = s->ln + 8 * j, *a2 = a1 + 4;
    double K = s->pk[j];
    int64_t cnt = s->pc[j];
    for (int64_t r = r0; r < r1; r++) {
        const double v = x[r - r0];
        const int ok = v == v;
        const int l0 = (int)(r & 3), l1 = (int)((r + 3) & 3), l2 = (int)((r + 2) & 3),
                  l3 = (int)((r + 1) & 3);
        int64_t cA, c;
        double d, out;
        if (var && !single && cnt == 0 && ok)
            K = v;
        d = ok ? (var ? v - K : v) : 0.0;
        a1[l0] = a1[l0] + d;
        if (var)
            a2[l0] = a2[l0] + d * d;
        cnt += ok;
        if (var && r == w - 1)
            continue;
        cA = count_A(s, j, r);
        c = cA + cnt;
        if (reject(s, c, present_at(s, kb + r))) {
            o[r - r0] = NAN;
            continue;
        }
        if (!var) {
            out = hsum(a1[l3] + B1[bidx(r + 1, ap)], a1[l2] + B1[bidx(r + 2, ap)],
                       a1[l1] + B1[bidx(r + 3, ap)], a1[l0] + B1[bidx(r + 4, ap)]);
            if (mean)
                out = out * s->inv[c];
        } else if (single) {
            const double S = hsum(a1[l3] + B1[bidx(r + 1, ap)], a1[l2] + B1[bidx(r + 2, ap)],
                                  a1[l1] + B1[bidx(r + 3, ap)], a1[l0] + B1[bidx(r + 4, ap)]);
            const double Q = hsum(a2[l3] + B2[bidx(r + 1, ap)], a2[l2] + B2[bidx(r + 2, ap)],
                                  a2[l1] + B2[bidx(r + 3, ap)], a2[l0] + B2[bidx(r + 4, ap)]);
            out = part_m2(S, Q, s->inv[c]) * s->invd[c];
        } else {
            const double SA = hsum(B1[bidx(r + 1, ap)], B1[bidx(r + 2, ap)],
                                   B1[bidx(r + 3, ap)], B1[bidx(r + 4, ap)]);
            const double QA = hsum(B2[bidx(r + 1, ap)], B2[bidx(r + 2, ap)],
                                   B2[bidx(r + 3, ap)], B2[bidx(r + 4, ap)]);
            const double SB = hsum(a1[l3], a1[l2], a1[l1], a1[l0]);
            const double QB = hsum(a2[l3], a2[l2], a2[l1], a2[l0]);
            out = join_m2(s->inv, SA, QA, KA, cA, SB, QB, K, cnt) * s->invd[c];
        }
        o[r - r0] = var && isstd ? sqrt(out) : out;
    }
    s->pk[j] = K;
    s->pc[j] = cnt;
}

/* nq whole quads of a clean window from offset q0 (a multiple of 4) of
   column j: the vector loop.  Returns 0, with the lane sums as they were,
   when x holds a NaN (the caller then runs seg_lanes over them); an inf
   alone keeps the vector results, which are those of seg_lanes. */
static int clean_quads(win *s, int64_t j, const double *x, int64_t q0, int64_t nq, double *o)
{
    const int64_t w = s->w, nl = s->cls == CL_VAR ? 8 : 4;
    double *lanes = s->ln + 8 * j, save[8];
    const double *B1 = s->s1 + j * s->bs + 4 + q0; /* clean previous block: ap == 0 */
    int bad = 0;
    memcpy(save, lanes, sizeof save);
    if (s->cls == CL_VAR)
        BY_LEVEL(s->simd, var_quads, (x, nq, o, lanes, B1, s->s2 + j * s->bs + 4 + q0, s->pk[j],
                                      s->inv[w], s->invd[w], s->kind == PS_MOVE_STD));
    else
        BY_LEVEL(s->simd, sum_quads, (x, nq, o, lanes, B1, s->inv[w], s->kind == PS_MOVE_MEAN));
    for (int64_t i = 0; i < nl; i++)
        bad |= lanes[i] != lanes[i];
    if (bad && has_nan(x, 4 * nq)) {
        memcpy(lanes, save, sizeof save);
        return 0;
    }
    s->pc[j] += 4 * nq;
    return 1;
}

/* The same records, the whole quads (offsets 4q .. 4q+3) by the vector
   loops when the window is full and clean (previous block clean, no NaN
   so far in this one): the same operations, hence the same bits. */
static void seg_sumvar(win *s, int64_t j, const double *x, int64_t r0, int64_t r1, double *o,
                       int64_t kb)
{
    const int var = s->cls == CL_VAR;
    const int64_t w = s->w;
    /* var / std: the vector loop stops before offset w - 1 (its own rule) */
    const int64_t rend = var && r1 == w ? w - 1 : r1;
    int64_t q0 = (r0 + 3) & ~(int64_t)3, nq;
    if (q0 > rend)
        q0 = rend;
    nq = (rend - q0) / 4;
    if (nq == 0 || !s->scl[j]) {
        seg_lanes(s, j, x, r0, r1, o, kb);
        return;
    }
    seg_lanes(s, j, x, r0, q0, o, kb);
    if (s->pc[j] != q0) { /* a NaN (or an absent record) before the quads */
        seg_lanes(s, j, x + (q0 - r0), q0, r1, o + (q0 - r0), kb);
        return;
    }
    if (!clean_quads(s, j, x + (q0 - r0), q0, nq, o + (q0 - r0)))
        seg_lanes(s, j, x + (q0 - r0), q0, q0 + 4 * nq, o + (q0 - r0), kb);
    seg_lanes(s, j, x + (q0 + 4 * nq - r0), q0 + 4 * nq, r1, o + (q0 + 4 * nq - r0), kb);
}

/* ------------------------------------------------------------------------ */
/* Suffixes of a completed block whose records before offset a are absent:  */
/* x[j - a] is the value at offset j (a <= j < w).  Entry j describes the   */
/* values at offsets j..w-1 and is stored at index j - a; entry w is empty; */
/* entries j < a are not stored (they equal entry a: see sidx).  `clean`:   */
/* a == 0 and no NaN (then counts are implicit).                            */


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
    if (s->cls == CL_EXT) {
        suffix_ext(b, a, w, clean, s->ismax, s->isarg, s->s1 + j * W1, s->si + j * W1,
                   s->sc + j * W1);
        s->t1[j] = s->l1[j] = NAN;
        s->pi[j] = 0.0;
    } else {
        const int var = s->cls == CL_VAR;
        double *lanes = s->ln + 8 * j;
        s->sk[j] = suffix_lanes(s, var, b, a, clean, s->s1 + j * s->bs,
                                var ? s->s2 + j * s->bs : NULL, s->sc + j * W1);
        /* single-K mode for the next block: its shift is this block's last value */
        s->sgl[j] = (unsigned char)(b[w - 1 - a] == b[w - 1 - a]);
        s->pk[j] = s->sgl[j] ? s->sk[j] : 0.0;
        for (int i = 0; i < 8; i++)
            lanes[i] = 0.0;
    }
    s->scl[j] = (unsigned char)clean;
    s->pc[j] = 0;
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


/* ------------------------------------------------------------------------ */
/* Small windows: each output summed directly over its window               */
/*                                                                          */
/* For w <= PS_WINDOW_DIRECT the two-block lane scheme spends more on its   */
/* per-block bookkeeping than the w additions of a direct sum, so sum /     */
/* mean / var / std add the window's values oldest first (var: shifted by   */
/* the window's newest non-NaN value).  Each output is a fixed function of  */
/* its window: drift-free, chunk-invariant, the same at every SIMD level    */
/* (direct_sum / direct_var of window_lanes.h, lane = output).              */

#ifndef PS_WINDOW_DIRECT
#define PS_WINDOW_DIRECT 16
#endif
#define DPIECE 1024 /* outputs per piece of the scratch */

/* One output from its window v[0 .. w) whose first w - present values are
   absent: the operations of direct_sum / direct_var, NaNs adding 0.0 and
   not counted. */
static double direct_one(const win *s, const double *v, int64_t present)
{
    const int64_t w = s->w, a = w - present;
    const int var = s->cls == CL_VAR;
    double K = 0.0, S = 0.0, Q = 0.0, out;
    int64_t c = 0;
    if (var)
        for (int64_t k = w - 1; k >= a; k--)
            if (v[k] == v[k]) {
                K = v[k];
                break;
            }
    for (int64_t k = a; k < w; k++) {
        const int ok = v[k] == v[k];
        const double d = ok ? (var ? v[k] - K : v[k]) : 0.0;
        if (k == a) {
            S = d;
            Q = d * d;
        } else {
            S = S + d;
            if (var)
                Q = Q + d * d;
        }
        c += ok;
    }
    if (reject(s, c, present))
        return NAN;
    if (!var)
        return s->kind == PS_MOVE_MEAN ? S * s->inv[c] : S;
    out = part_m2(S, Q, s->inv[c]) * s->invd[c];
    return s->kind == PS_MOVE_STD ? sqrt(out) : out;
}

static void direct_update(win *s, const double *in, int64_t n, double *out)
{
    const int64_t w = s->w, width = s->width, h = w - 1;
    const int var = s->cls == CL_VAR, isstd = s->kind == PS_MOVE_STD;
    double *buf = s->dbuf;
    for (int64_t j = 0; j < width; j++) {
        double *hist = s->dh + j * h;
        for (int64_t i0 = 0; i0 < n; i0 += DPIECE) {
            const int64_t p = n - i0 < DPIECE ? n - i0 : DPIECE;
            const int64_t g0 = s->pos + i0;           /* global index of the first output */
            /* one value per record: outputs straight into `out` */
            double *ob = width == 1 ? out + i0 : buf + h + DPIECE;
            int64_t t = 0, nq;
            memcpy(buf, hist, (size_t)h * sizeof(double));
            for (int64_t i = 0; i < p; i++)
                buf[h + i] = in[(i0 + i) * width + j];
            /* outputs whose window is not yet full: one at a time */
            for (; t < p && g0 + t - s->start < h; t++)
                ob[t] = direct_one(s, buf + t, g0 + t - s->start + 1);
            nq = (p - t) / 4;
            if (nq > 0) {
                if (var)
                    BY_LEVEL(s->simd, direct_var, (buf + t, w, nq, ob + t, s->inv[w], s->invd[w],
                                                   isstd));
                else
                    BY_LEVEL(s->simd, direct_sum, (buf + t, w, nq, ob + t, s->inv[w],
                                                   s->kind == PS_MOVE_MEAN));
                /* a NaN output: its quad again, one at a time (NaN inputs) */
                for (int64_t q = 0; q < nq; q++) {
                    double *oq = ob + t + 4 * q;
                    if (oq[0] != oq[0] || oq[1] != oq[1] || oq[2] != oq[2] || oq[3] != oq[3])
                        for (int k = 0; k < 4; k++)
                            oq[k] = direct_one(s, buf + t + 4 * q + k, w);
                }
                t += 4 * nq;
            }
            for (; t < p; t++)
                ob[t] = direct_one(s, buf + t, w);
            if (width > 1)
                for (int64_t i = 0; i < p; i++)
                    out[(i0 + i) * width + j] = ob[i];
            memcpy(hist, buf + p, (size_t)h * sizeof(double));
        }
    }
    s->pos += n;
}

/* The block of column j completes with records [r0, w) = x[0 ..): its
   suffixes for the next block (block_done); for var / std, also the output
   of offset w - 1 (*last), whose window is the block itself: from its own
   lane suffixes (shift K = its last non-NaN value). */
static void end_block(win *s, int64_t j, const double *x, int64_t r0, double *last, int64_t kb)
{
    const int64_t w = s->w, n = s->pc[j], lo = s->lo;
    block_done(s, j, x, r0);
    if (s->cls == CL_VAR) {
        const double *B1 = s->s1 + j * s->bs, *B2 = s->s2 + j * s->bs;
        double v = NAN;
        if (!reject(s, n, present_at(s, kb + w - 1))) {
            const double S = hsum(B1[bidx(0, lo)], B1[bidx(1, lo)], B1[bidx(2, lo)],
                                  B1[bidx(3, lo)]);
            const double Q = hsum(B2[bidx(0, lo)], B2[bidx(1, lo)], B2[bidx(2, lo)],
                                  B2[bidx(3, lo)]);
            v = part_m2(S, Q, s->inv[n]) * s->invd[n];
            if (s->kind == PS_MOVE_STD)
                v = sqrt(v);
        }
        *last = v;
    }
}

/* Whole blocks of a one-value record, each after a clean block, from
   in[0 ..): what segment() does for them (the vector quads, the records
   after the last whole quad, end_block), without its per-segment
   bookkeeping.  Returns the records done (whole blocks; stops early at a
   quad run holding a NaN, which segment() then handles). */
static int64_t whole_blocks(win *s, const double *in, int64_t n, double *out)
{
    const int var = s->cls == CL_VAR;
    const int64_t w = s->w, nq = (var ? w - 1 : w) / 4;
    int64_t i = 0;
    if (nq == 0)
        return 0;
    while (n - i >= w && s->pos % w == 0 && s->scl[0] && s->pc[0] == 0) {
        const double *x = in + i;
        double *o = out + i;
        if (!clean_quads(s, 0, x, 0, nq, o))
            break; /* segment() redoes the block (lane sums still 0) */
        s->lo = 0;
        s->ap = 0;
        seg_lanes(s, 0, x + 4 * nq, 4 * nq, w, o + 4 * nq, s->pos);
        end_block(s, 0, x, 0, o + (w - 1), s->pos);
        s->pos += w;
        i += w;
    }
    return i;
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
        if (s->cls == CL_EXT)
            seg_ext(s, j, x, r0, r1, o, kb);
        else
            seg_sumvar(s, j, x, r0, r1, o, kb);
        if (r0 != s->lo || r1 != w)
            memcpy(s->raw + j * s->cap + (r0 - s->lo), x, (size_t)m * sizeof(double));
        if (r1 == w)
            end_block(s, j, x, r0, o + (w - 1 - r0), kb);
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
enum { A_INV, A_INVD, A_RAW, A_S1, A_S2, A_SI, A_SC, A_XB, A_OB, A_P1, A_PCB, A_PIB, NARR };

static double *piece(double *d, const size_t *off, const size_t *len, int a)
{
    return len[a] ? d + off[a] : NULL;
}

/* Room of each column's suffix arrays for `cap` records. */
static int64_t suffix_room(const win *s, int64_t cap)
{
    return s->cls == CL_EXT ? cap + 1 : cap + 8;
}

static void lengths(const win *s, int64_t cap, size_t len[NARR])
{
    const size_t c = (size_t)cap, c1 = c + 1, nd = (size_t)s->width;
    const size_t bs = (size_t)suffix_room(s, cap);
    const int var = s->cls == CL_VAR, ext = s->cls == CL_EXT;
    len[A_INV] = c1;
    len[A_INVD] = c1;
    len[A_RAW] = nd * c;
    len[A_S1] = nd * bs;
    len[A_S2] = var ? nd * bs : 0;
    len[A_SI] = ext ? nd * bs : 0;
    len[A_SC] = nd * c1;
    len[A_XB] = nd > 1 ? c : 0;
    len[A_OB] = nd > 1 ? c : 0;
    len[A_P1] = ext ? c : 0;
    len[A_PCB] = ext ? c : 0;
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
    const int64_t bs = suffix_room(s, cap), obs = s->bs;
    size_t len[NARR], off[NARR], total = 0;
    double *d;
    win t;
    if (cap < 0 || cap > w || (uint64_t)cap + 8 > (uint64_t)(SIZE_MAX / 128) / (uint64_t)nd)
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
    t.raw = piece(d, off, len, A_RAW);
    t.s1 = piece(d, off, len, A_S1);
    t.s2 = piece(d, off, len, A_S2);
    t.si = piece(d, off, len, A_SI);
    t.sc = (int64_t *)(void *)piece(d, off, len, A_SC);
    t.xb = piece(d, off, len, A_XB);
    t.ob = piece(d, off, len, A_OB);
    t.p1 = piece(d, off, len, A_P1);
    t.pcb = (int64_t *)(void *)piece(d, off, len, A_PCB);
    t.pib = piece(d, off, len, A_PIB);
    t.inv[0] = 0.0;
    t.invd[0] = NAN;
    for (int64_t k = 1; k <= cap; k++) {
        double dk = (double)k - s->ddof;
        t.inv[k] = 1.0 / (double)k;
        t.invd[k] = dk > 0.0 ? 1.0 / dk : NAN;
    }
    for (int64_t j = 0; j < nd; j++) {
        double *s1 = t.s1 + j * bs, *s2 = t.s2 ? t.s2 + j * bs : NULL;
        double *si = t.si ? t.si + j * bs : NULL;
        int64_t *sc = t.sc + j * (cap + 1);
        if (!s->mem) {
            /* The block before the first one is empty (counts 0, not clean):
               ext reads entry 0, sum / var entries 0..7 (bidx with ap == w). */
            const int64_t ne = s->cls == CL_EXT ? 1 : 8;
            for (int64_t e = 0; e < ne; e++) {
                s1[e] = s->cls == CL_EXT ? NAN : 0.0;
                if (s2)
                    s2[e] = 0.0;
                if (si)
                    si[e] = 0.0;
            }
            sc[0] = 0;
            continue;
        }
        if (old > 0)
            memcpy(t.raw + j * cap, s->raw + j * old, (size_t)old * sizeof(double));
        memcpy(s1, s->s1 + j * obs, (size_t)obs * sizeof(double));
        memcpy(sc, s->sc + j * (old + 1), (size_t)(old + 1) * sizeof(int64_t));
        if (s2)
            memcpy(s2, s->s2 + j * obs, (size_t)obs * sizeof(double));
        if (si)
            memcpy(si, s->si + j * obs, (size_t)obs * sizeof(double));
    }
    free(s->mem);
    t.mem = d;
    t.cap = cap;
    t.bs = bs;
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
    free(s->dh);
    free(s->dbuf);
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
    /* The per-column running state: sk, t1, l1, pk, pc, pi (8 bytes each),
       ln (8 slots), scl and sgl (1 byte each, rounded up to slots). */
    d = calloc(14 * nd + 2 * ((nd + 7) / 8), sizeof(double));
    if (!d) {
        free(s);
        return NULL;
    }
    s->sk = d;
    s->t1 = s->sk + nd;
    s->l1 = s->t1 + nd;
    s->pk = s->l1 + nd;
    s->pc = (int64_t *)(void *)(s->pk + nd);
    s->pi = (double *)(void *)(s->pc + nd);
    s->ln = s->pi + nd;
    s->scl = (unsigned char *)(void *)(s->ln + 8 * nd);
    s->sgl = s->scl + nd;

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
    if (s->cls != CL_EXT && w > 1 && w <= PS_WINDOW_DIRECT) {
        s->dh = ps_malloc_n((int64_t)nd * (w - 1), sizeof(double));
        s->dbuf = ps_malloc_n(w - 1 + DPIECE + DPIECE, sizeof(double));
        if (!s->dh || !s->dbuf) {
            free(s->dh);
            free(s->dbuf);
            free(d);
            free(s);
            return NULL;
        }
        for (int64_t i = 0; i < (int64_t)nd * (w - 1); i++)
            s->dh[i] = NAN; /* before the start: absent, never read as present */
    }
    /* Room for no record yet: the arrays grow with the records seen. */
    if (!resize(s, 0)) {
        free(s->dh);
        free(s->dbuf);
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
    s->simd = ps_simd();
    if (w == 1) {
        window_one(s, in, n * width, out);
        s->pos += n;
        return;
    }
    if (s->dh) {
        direct_update(s, in, n, out);
        return;
    }
    while (i < n) {
        int64_t m;
        if (s->cls != CL_EXT && width == 1 && s->pos % w == 0) {
            i += whole_blocks(s, in + i, n - i, out + i);
            if (i == n)
                break;
        }
        m = w - s->pos % w;
        if (m > n - i)
            m = n - i;
        segment(s, in + i * width, m, out + i * width);
        i += m;
    }
}

const ps_family ps_family_window = {
    win_create, win_destroy, win_update, NULL, NULL, NULL,
};
