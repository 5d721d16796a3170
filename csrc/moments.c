/*
 * moments.c -- streaming count / NaN count / sum / mean / M2 / min / max.
 *
 * Reproducibility scheme (see pystream.h): records are grouped in blocks of
 * B records aligned on multiples of B in global index space.  A full block
 * is reduced by block_summary(), one fixed algorithm whose arithmetic does
 * not depend on where the block's bytes live (chunk memory or a raw buffer,
 * any strides).  Block summaries are combined only along the canonical
 * binary tree of aligned block ranges (a binary counter), so the tree nodes
 * a state holds depend only on its [start, stop) range and the data.
 * Partial blocks at a state's edges are kept raw (head / tail buffers) and
 * reduced when a merge or further updates complete them, or, for result(),
 * by the same block algorithm.
 *
 * Within a block, each value of the record uses LANES interleaved
 * accumulators (lane = record index % LANES), reduced by a fixed tree, and
 * two passes over the (cache-resident) block: the sum, then the corrected
 * sum of squared deviations (Bjorck's corrected two-pass algorithm).  Block
 * summaries are combined with Chan et al.'s pairwise update.
 */
#include "pystream.h"
#include "serial.h"
#include "simd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* SSE2 width-1 kernels on x86-64 (plus an AVX2 one for contiguous float64,
   chosen at run time); -DPS_NO_AVX2 leaves SSE2 only, -DPS_NO_SIMD forces
   the portable C kernels.  The C tests build all three and check they give
   bit-identical results. */
#if defined(__SSE2__) && !defined(PS_NO_SIMD)
#define HAVE_SSE_W1 1
#endif

#define LANES 8
#define TILE 32
#define BLOCK_VALUES 1024
/* A canonical decomposition of a range of < 2**63 blocks has < 2 * 63 nodes. */
#define MAX_NODES 130
#define FORMAT_VERSION 1u

static const unsigned char MAGIC[8] = {'P', 'S', 'M', 'O', 'M', 'E', 'N', 'T'};

/* ------------------------------------------------------------------------ */
/* 128-bit signed integers as hi * 2**64 + lo                               */

typedef struct {
    int64_t hi;
    uint64_t lo;
} i128;

static i128 i128_from_i64(int64_t v)
{
    i128 r;
    r.hi = v < 0 ? -1 : 0;
    r.lo = (uint64_t)v;
    return r;
}

/* floor(x / 2**k) without relying on implementation-defined shifts. */
static int64_t asr64(int64_t x, int k)
{
    return x >= 0 ? (int64_t)((uint64_t)x >> k)
                  : -(int64_t)((uint64_t)(-(x + 1)) >> k) - 1;
}

/* x * 2**32 for |x| < 2**62. */
static i128 i128_shl32(int64_t x)
{
    i128 r;
    r.hi = asr64(x, 32);
    r.lo = (uint64_t)x << 32;
    return r;
}

/* *a += b; returns 1 on overflow (then *a is unchanged). */
static int i128_add(i128 *a, i128 b)
{
    uint64_t lo = a->lo + b.lo;
    int carry = lo < a->lo;
    int64_t h;
    if ((b.hi > 0 && a->hi > INT64_MAX - b.hi) ||
        (b.hi < 0 && a->hi < INT64_MIN - b.hi))
        return 1;
    h = a->hi + b.hi;
    if (carry) {
        if (h == INT64_MAX)
            return 1;
        h += 1;
    }
    a->hi = h;
    a->lo = lo;
    return 0;
}

static long double i128_to_ld(i128 v)
{
    return (long double)v.hi * 18446744073709551616.0L + (long double)v.lo;
}

/* ------------------------------------------------------------------------ */
/* Summaries: structure-of-arrays of width d, one allocation.              */

typedef struct {
    int64_t *n;
    int64_t *nan;
    double *sum;
    double *mean;
    double *m2;
    double *mn;
    double *mx;
    int64_t *ihi;
    uint64_t *ilo;
    int64_t *imin;
    int64_t *imax;
} summ;

#define SUMM_FIELDS 11

static int summ_alloc(summ *s, int64_t d)
{
    unsigned char *mem = malloc((size_t)d * SUMM_FIELDS * 8);
    size_t w = (size_t)d;
    if (!mem)
        return PS_ERR_NOMEM;
    s->n = (int64_t *)(void *)mem;
    s->nan = s->n + w;
    s->sum = (double *)(void *)(s->nan + w);
    s->mean = s->sum + w;
    s->m2 = s->mean + w;
    s->mn = s->m2 + w;
    s->mx = s->mn + w;
    s->ihi = (int64_t *)(void *)(s->mx + w);
    s->ilo = (uint64_t *)(void *)(s->ihi + w);
    s->imin = (int64_t *)(void *)(s->ilo + w);
    s->imax = s->imin + w;
    return PS_OK;
}

static void summ_free(summ *s)
{
    free(s->n);
    s->n = NULL;
}

static void summ_copy(summ *dst, const summ *src, int64_t d)
{
    memcpy(dst->n, src->n, (size_t)d * SUMM_FIELDS * 8);
}

static int is_int_dtype(int dt) { return dt >= PS_BOOL && dt <= PS_UINT64; }
static int is_signed_dtype(int dt) { return dt >= PS_INT8 && dt <= PS_INT64; }
static int is_float_dtype(int dt) { return dt == PS_FLOAT32 || dt == PS_FLOAT64; }

/* The empty summary: identity of combine(). */
static void summ_empty(summ *s, int64_t d, int dtype)
{
    for (int64_t c = 0; c < d; c++) {
        s->n[c] = 0;
        s->nan[c] = 0;
        s->sum[c] = 0.0;
        s->mean[c] = 0.0;
        s->m2[c] = 0.0;
        s->mn[c] = INFINITY;
        s->mx[c] = -INFINITY;
        s->ihi[c] = 0;
        s->ilo[c] = 0;
        if (dtype == PS_UINT64 || dtype == PS_UINT32 || dtype == PS_UINT16 ||
            dtype == PS_UINT8 || dtype == PS_BOOL) {
            s->imin[c] = (int64_t)-1; /* bits of UINT64_MAX */
            s->imax[c] = 0;
        } else {
            s->imin[c] = INT64_MAX;
            s->imax[c] = INT64_MIN;
        }
    }
}

/* a <- a (+) b, column by column.  Returns 1 on 128-bit sum overflow. */
static int summ_combine(summ *a, const summ *b, int64_t d, int dtype)
{
    int overflow = 0;
    int isint = is_int_dtype(dtype);
    int uns = isint && !is_signed_dtype(dtype);
    for (int64_t c = 0; c < d; c++) {
        int64_t na = a->n[c], nb = b->n[c], n = na + nb;
        double ma = a->mean[c], mb = b->mean[c];
        a->nan[c] += b->nan[c];
        a->sum[c] = a->sum[c] + b->sum[c];
        a->mn[c] = b->mn[c] < a->mn[c] ? b->mn[c] : a->mn[c];
        a->mx[c] = b->mx[c] > a->mx[c] ? b->mx[c] : a->mx[c];
        if (na == 0) {
            a->mean[c] = mb;
            a->m2[c] = b->m2[c];
        } else if (nb != 0) {
            if (isfinite(ma) && isfinite(mb)) {
                double delta = mb - ma;
                if (isint) {
                    /* Block means of large integers rounded to double lose
                       the low bits (ulp 2048 near 2**63): take the
                       difference from the exact sums instead. */
                    i128 sa, sb;
                    sa.hi = a->ihi[c];
                    sa.lo = a->ilo[c];
                    sb.hi = b->ihi[c];
                    sb.lo = b->ilo[c];
                    delta = (double)(i128_to_ld(sb) / (long double)nb -
                                     i128_to_ld(sa) / (long double)na);
                }
                double wb = (double)nb / (double)n;
                if (isfinite(delta)) {
                    a->mean[c] = ma + delta * wb;
                    a->m2[c] = a->m2[c] + b->m2[c] +
                               delta * delta * ((double)na * wb);
                } else {
                    a->mean[c] = ma * ((double)na / (double)n) + mb * wb;
                    a->m2[c] = INFINITY;
                }
            } else {
                /* inf / nan means: the sum of the two decides. */
                a->mean[c] = ma + mb;
                a->m2[c] = NAN;
            }
        }
        a->n[c] = n;
        if (isint) {
            i128 s;
            s.hi = a->ihi[c];
            s.lo = a->ilo[c];
            i128 t;
            t.hi = b->ihi[c];
            t.lo = b->ilo[c];
            if (i128_add(&s, t))
                overflow = 1;
            a->ihi[c] = s.hi;
            a->ilo[c] = s.lo;
            if (uns) {
                if ((uint64_t)b->imin[c] < (uint64_t)a->imin[c])
                    a->imin[c] = b->imin[c];
                if ((uint64_t)b->imax[c] > (uint64_t)a->imax[c])
                    a->imax[c] = b->imax[c];
            } else {
                if (b->imin[c] < a->imin[c])
                    a->imin[c] = b->imin[c];
                if (b->imax[c] > a->imax[c])
                    a->imax[c] = b->imax[c];
            }
        }
    }
    return overflow;
}

/* ------------------------------------------------------------------------ */
/* Block kernels                                                            */

#define LANE_TREE(a) \
    ((((a)[0] + (a)[1]) + ((a)[2] + (a)[3])) + (((a)[4] + (a)[5]) + ((a)[6] + (a)[7])))

/* min / max use 4 lanes (lane = record index % 4), folded in lane order. */
static double min4(const double *a)
{
    double m = a[0];
    for (int j = 1; j < 4; j++)
        m = a[j] < m ? a[j] : m;
    return m;
}

static double max4(const double *a)
{
    double m = a[0];
    for (int j = 1; j < 4; j++)
        m = a[j] > m ? a[j] : m;
    return m;
}

/* After pass 1 of a float column: sum S of cnt non-NaN values, min, max. */
static void float_col_first(summ *o, int64_t c, int64_t n, double S, double cnt,
                            double mn, double mx)
{
    o->n[c] = (int64_t)cnt;
    o->nan[c] = n - (int64_t)cnt;
    o->sum[c] = S;
    o->mn[c] = mn;
    o->mx[c] = mx;
    o->ihi[c] = 0;
    o->ilo[c] = 0;
    o->imin[c] = 0;
    o->imax[c] = 0;
    o->mean[c] = cnt > 0 ? S / cnt : 0.0;
    o->m2[c] = 0.0;
}

/* Does column c need pass 2?  Constant and empty columns are exact already. */
static int col_needs_pass2(summ *o, int64_t c)
{
    if (o->n[c] == 0)
        return 0;
    if (o->mn[c] == o->mx[c] && isfinite(o->mn[c])) {
        o->mean[c] = o->mn[c];
        o->m2[c] = 0.0;
        return 0;
    }
    if (!isfinite(o->mean[c])) {
        o->m2[c] = NAN;
        return 0;
    }
    return 1;
}

/* After pass 2: Q = sum of squared deviations from mean_b, E = their sum. */
static void col_second(summ *o, int64_t c, double Q, double E)
{
    double cnt = (double)o->n[c];
    double m2 = Q - E * E / cnt;
    o->mean[c] = o->mean[c] + E / cnt;
    o->m2[c] = m2 > 0.0 ? m2 : (m2 == m2 ? 0.0 : m2);
}

/*
 * Float kernels.  T: element type; the per-value arithmetic is the same in
 * the width-1 path and the tiled path (lane = record index % LANES).
 */
#define DEFINE_FLOAT_W1(NAME, T)                                           \
    static void NAME##_w1(const char *p, int64_t n, ptrdiff_t s0, summ *o)    \
    {                                                                          \
        double s[LANES], cn[LANES], mn[LANES], mx[LANES];                      \
        int64_t i = 0;                                                         \
        for (int j = 0; j < LANES; j++) {                                      \
            s[j] = 0.0;                                                        \
            cn[j] = 0.0;                                                       \
            mn[j] = INFINITY;                                                  \
            mx[j] = -INFINITY;                                                 \
        }                                                                      \
        for (; i + LANES <= n; i += LANES)                                     \
            for (int j = 0; j < LANES; j++) {                                  \
                double v = (double)*(const T *)(const void *)(p + (i + j) * s0); \
                int ok = v == v;                                               \
                s[j] += ok ? v : 0.0;                                          \
                cn[j] += ok ? 1.0 : 0.0;                                       \
                mn[j & 3] = v < mn[j & 3] ? v : mn[j & 3];                                 \
                mx[j & 3] = v > mx[j & 3] ? v : mx[j & 3];                                 \
            }                                                                  \
        for (; i < n; i++) {                                                   \
            int j = (int)(i % LANES);                                          \
            double v = (double)*(const T *)(const void *)(p + i * s0);         \
            int ok = v == v;                                                   \
            s[j] += ok ? v : 0.0;                                              \
            cn[j] += ok ? 1.0 : 0.0;                                           \
            mn[j & 3] = v < mn[j & 3] ? v : mn[j & 3];                                     \
            mx[j & 3] = v > mx[j & 3] ? v : mx[j & 3];                                     \
        }                                                                      \
        float_col_first(o, 0, n, LANE_TREE(s), LANE_TREE(cn), min4(mn),    \
                        max4(mx));                                         \
        if (!col_needs_pass2(o, 0))                                            \
            return;                                                            \
        {                                                                      \
            double q[LANES], e[LANES], mb = o->mean[0];                        \
            for (int j = 0; j < LANES; j++) {                                  \
                q[j] = 0.0;                                                    \
                e[j] = 0.0;                                                    \
            }                                                                  \
            for (i = 0; i + LANES <= n; i += LANES)                            \
                for (int j = 0; j < LANES; j++) {                              \
                    double v = (double)*(const T *)(const void *)(p + (i + j) * s0); \
                    double t = v - mb;                                         \
                    int ok = v == v;                                           \
                    q[j] += ok ? t * t : 0.0;                                  \
                    e[j] += ok ? t : 0.0;                                      \
                }                                                              \
            for (; i < n; i++) {                                               \
                int j = (int)(i % LANES);                                      \
                double v = (double)*(const T *)(const void *)(p + i * s0);     \
                double t = v - mb;                                             \
                int ok = v == v;                                               \
                q[j] += ok ? t * t : 0.0;                                      \
                e[j] += ok ? t : 0.0;                                          \
            }                                                                  \
            col_second(o, 0, LANE_TREE(q), LANE_TREE(e));                      \
        }                                                                      \
    }                                                                          \

#define DEFINE_FLOAT_TILE(NAME, T)                                           \
    static void NAME##_tile(const char *p, int64_t n, ptrdiff_t s0,           \
                            ptrdiff_t s1, int64_t c0, int64_t w, summ *o)     \
    {                                                                          \
        double s[LANES][TILE], cn[LANES][TILE], mn[LANES][TILE], mx[LANES][TILE]; \
        double Q[LANES][TILE], E[LANES][TILE], mb[TILE];                       \
        int need = 0;                                                          \
        for (int j = 0; j < LANES; j++)                                        \
            for (int64_t c = 0; c < w; c++) {                                  \
                s[j][c] = 0.0;                                                 \
                cn[j][c] = 0.0;                                                \
                mn[j][c] = INFINITY;                                           \
                mx[j][c] = -INFINITY;                                          \
                Q[j][c] = 0.0;                                                 \
                E[j][c] = 0.0;                                                 \
            }                                                                  \
        for (int64_t i = 0; i < n; i++) {                                      \
            int j = (int)(i % LANES);                                          \
            const char *row = p + i * s0 + c0 * s1;                            \
            for (int64_t c = 0; c < w; c++) {                                  \
                double v = (double)*(const T *)(const void *)(row + c * s1);   \
                int ok = v == v;                                               \
                s[j][c] += ok ? v : 0.0;                                       \
                cn[j][c] += ok ? 1.0 : 0.0;                                    \
                mn[j & 3][c] = v < mn[j & 3][c] ? v : mn[j & 3][c];                        \
                mx[j & 3][c] = v > mx[j & 3][c] ? v : mx[j & 3][c];                        \
            }                                                                  \
        }                                                                      \
        for (int64_t c = 0; c < w; c++) {                                      \
            double ls[LANES], lc[LANES], lmn[LANES], lmx[LANES];               \
            for (int j = 0; j < LANES; j++) {                                  \
                ls[j] = s[j][c];                                               \
                lc[j] = cn[j][c];                                              \
                lmn[j] = mn[j][c];                                             \
                lmx[j] = mx[j][c];                                             \
            }                                                                  \
            float_col_first(o, c0 + c, n, LANE_TREE(ls), LANE_TREE(lc),        \
                            min4(lmn), max4(lmx));                     \
            need |= col_needs_pass2(o, c0 + c);                                \
            mb[c] = o->mean[c0 + c];                                           \
        }                                                                      \
        if (!need)                                                             \
            return;                                                            \
        for (int64_t i = 0; i < n; i++) {                                      \
            int j = (int)(i % LANES);                                          \
            const char *row = p + i * s0 + c0 * s1;                            \
            for (int64_t c = 0; c < w; c++) {                                  \
                double v = (double)*(const T *)(const void *)(row + c * s1);   \
                double t = v - mb[c];                                          \
                int ok = v == v;                                               \
                Q[j][c] += ok ? t * t : 0.0;                                   \
                E[j][c] += ok ? t : 0.0;                                       \
            }                                                                  \
        }                                                                      \
        for (int64_t c = 0; c < w; c++) {                                      \
            double lq[LANES], le[LANES];                                       \
            if (o->n[c0 + c] == 0 ||                                           \
                (o->mn[c0 + c] == o->mx[c0 + c] && isfinite(o->mn[c0 + c])) ||  \
                !isfinite(o->mean[c0 + c]))                                    \
                continue;                                                      \
            for (int j = 0; j < LANES; j++) {                                  \
                lq[j] = Q[j][c];                                               \
                le[j] = E[j][c];                                               \
            }                                                                  \
            col_second(o, c0 + c, LANE_TREE(lq), LANE_TREE(le));               \
        }                                                                      \
    }

DEFINE_FLOAT_TILE(f64, double)
DEFINE_FLOAT_TILE(f32, float)

#ifndef HAVE_SSE_W1
DEFINE_FLOAT_W1(f64, double)
DEFINE_FLOAT_W1(f32, float)
#else
/*
 * SSE2 versions of the width-1 float kernels (SSE2 is the x86-64 baseline,
 * so no runtime dispatch is needed).  Vector k holds lanes 2k and 2k+1, so
 * lane j still sees records i with i % LANES == j, in order, with the same
 * IEEE operations as the portable C above: results are bit-identical.
 * _mm_min_pd(v, m) is exactly `v < m ? v : m` (NaN v keeps m).
 */
#include <emmintrin.h>
#include <xmmintrin.h>

/* Software prefetch: the hardware prefetcher alone leaves the first pass
   waiting on memory.  The fast kernel asks, in pass 1, for the line two
   blocks ahead; the masked kernel, in pass 2, for the next block's line
   (measured best on a 1e8-value stream; see benchmarks/bench_core.py).  A
   prefetch is a hint: it never faults, and the address is formed as an
   integer so no out-of-range pointer is ever made. */
#define PREFETCH_AHEAD(i, blocks)                                              \
    _mm_prefetch((const char *)(uintptr_t)((uintptr_t)p +                     \
                                           (uintptr_t)(((i) + (blocks) * n) * s0)), \
                 _MM_HINT_T0)
#define PREFETCH_NEXT(i) PREFETCH_AHEAD(i, 1)
#define AT(T, i) (*(const T *)(const void *)(p + (i) * s0))
#define F64_CONTIG2(i) _mm_loadu_pd((const double *)(const void *)(p + (i) * 8))
#define F64_STRIDED2(i) _mm_set_pd(AT(double, (i) + 1), AT(double, i))
#define F32_CONTIG2(i) \
    _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(const void *)(p + (i) * 4))))
#define F32_STRIDED2(i) _mm_set_pd((double)AT(float, (i) + 1), (double)AT(float, i))
#define F64_1(i) AT(double, i)
#define F32_1(i) ((double)AT(float, i))

#define DEFINE_SSE_W1_MASKED(NAME, LOAD2, LOAD1)                                      \
    static void NAME(const char *p, int64_t n, ptrdiff_t s0, summ *o)          \
    {                                                                          \
        __m128d s0v = _mm_setzero_pd(), s1v = s0v, s2v = s0v, s3v = s0v;       \
        __m128d mn0 = _mm_set1_pd(INFINITY), mn1 = mn0;                        \
        __m128d mx0 = _mm_set1_pd(-INFINITY), mx1 = mx0;                       \
        __m128d allok = _mm_cmpeq_pd(_mm_setzero_pd(), _mm_setzero_pd());     \
        double S[LANES], MN[4], MX[4], cnt = (double)n;                        \
        int64_t i = 0, vec_end;                                                \
        (void)s0;                                                              \
        for (; i + LANES <= n; i += LANES) {                                   \
            __m128d a = LOAD2(i), b = LOAD2(i + 2), c = LOAD2(i + 4),          \
                    d = LOAD2(i + 6);                                          \
            __m128d oa = _mm_cmpord_pd(a, a), ob = _mm_cmpord_pd(b, b),        \
                    oc = _mm_cmpord_pd(c, c), od = _mm_cmpord_pd(d, d);        \
            s0v = _mm_add_pd(s0v, _mm_and_pd(oa, a));                          \
            s1v = _mm_add_pd(s1v, _mm_and_pd(ob, b));                          \
            s2v = _mm_add_pd(s2v, _mm_and_pd(oc, c));                          \
            s3v = _mm_add_pd(s3v, _mm_and_pd(od, d));                          \
            mn0 = _mm_min_pd(a, mn0);                                          \
            mn1 = _mm_min_pd(b, mn1);                                          \
            mx0 = _mm_max_pd(a, mx0);                                          \
            mx1 = _mm_max_pd(b, mx1);                                          \
            mn0 = _mm_min_pd(c, mn0);                                          \
            mn1 = _mm_min_pd(d, mn1);                                          \
            mx0 = _mm_max_pd(c, mx0);                                          \
            mx1 = _mm_max_pd(d, mx1);                                          \
            allok = _mm_and_pd(allok, _mm_and_pd(_mm_and_pd(oa, ob), _mm_and_pd(oc, od))); \
        }                                                                      \
        vec_end = i;                                                           \
        _mm_storeu_pd(S, s0v);                                                 \
        _mm_storeu_pd(S + 2, s1v);                                             \
        _mm_storeu_pd(S + 4, s2v);                                             \
        _mm_storeu_pd(S + 6, s3v);                                             \
        _mm_storeu_pd(MN, mn0);                                                \
        _mm_storeu_pd(MN + 2, mn1);                                            \
        _mm_storeu_pd(MX, mx0);                                                \
        _mm_storeu_pd(MX + 2, mx1);                                            \
        for (; i < n; i++) {                                                   \
            int j = (int)(i % LANES);                                          \
            double v = LOAD1(i);                                               \
            int ok = v == v;                                                   \
            S[j] += ok ? v : 0.0;                                              \
            MN[i % 4] = v < MN[i % 4] ? v : MN[i % 4];                         \
            MX[i % 4] = v > MX[i % 4] ? v : MX[i % 4];                         \
        }                                                                      \
        /* NaNs are rare: count them exactly only where one was seen. */      \
        for (int64_t r = _mm_movemask_pd(allok) == 3 ? vec_end : 0; r < n; r++) { \
            double v = LOAD1(r);                                               \
            cnt -= v != v ? 1.0 : 0.0;                                         \
        }                                                                      \
        float_col_first(o, 0, n, LANE_TREE(S), cnt, min4(MN), max4(MX));       \
        if (!col_needs_pass2(o, 0))                                            \
            return;                                                            \
        {                                                                      \
            __m128d q0 = _mm_setzero_pd(), q1 = q0, q2 = q0, q3 = q0;          \
            __m128d e0 = q0, e1 = q0, e2 = q0, e3 = q0;                        \
            const double mb = o->mean[0];                                      \
            const __m128d mbv = _mm_set1_pd(mb);                               \
            double Q[LANES], E[LANES];                                         \
            for (i = 0; i + LANES <= n; i += LANES) {                          \
                __m128d a = LOAD2(i), b = LOAD2(i + 2), c = LOAD2(i + 4),      \
                        d = LOAD2(i + 6);                                      \
                PREFETCH_NEXT(i);                                              \
                __m128d ta = _mm_and_pd(_mm_cmpord_pd(a, a), _mm_sub_pd(a, mbv)); \
                __m128d tb = _mm_and_pd(_mm_cmpord_pd(b, b), _mm_sub_pd(b, mbv)); \
                __m128d tc = _mm_and_pd(_mm_cmpord_pd(c, c), _mm_sub_pd(c, mbv)); \
                __m128d td = _mm_and_pd(_mm_cmpord_pd(d, d), _mm_sub_pd(d, mbv)); \
                q0 = _mm_add_pd(q0, _mm_mul_pd(ta, ta));                       \
                q1 = _mm_add_pd(q1, _mm_mul_pd(tb, tb));                       \
                q2 = _mm_add_pd(q2, _mm_mul_pd(tc, tc));                       \
                q3 = _mm_add_pd(q3, _mm_mul_pd(td, td));                       \
                e0 = _mm_add_pd(e0, ta);                                       \
                e1 = _mm_add_pd(e1, tb);                                       \
                e2 = _mm_add_pd(e2, tc);                                       \
                e3 = _mm_add_pd(e3, td);                                       \
            }                                                                  \
            _mm_storeu_pd(Q, q0);                                              \
            _mm_storeu_pd(Q + 2, q1);                                          \
            _mm_storeu_pd(Q + 4, q2);                                          \
            _mm_storeu_pd(Q + 6, q3);                                          \
            _mm_storeu_pd(E, e0);                                              \
            _mm_storeu_pd(E + 2, e1);                                          \
            _mm_storeu_pd(E + 4, e2);                                          \
            _mm_storeu_pd(E + 6, e3);                                          \
            for (; i < n; i++) {                                               \
                int j = (int)(i % LANES);                                      \
                double v = LOAD1(i);                                           \
                double t = v - mb;                                             \
                int ok = v == v;                                               \
                Q[j] += ok ? t * t : 0.0;                                      \
                E[j] += ok ? t : 0.0;                                          \
            }                                                                  \
            col_second(o, 0, LANE_TREE(Q), LANE_TREE(E));                      \
        }                                                                      \
    }

/*
 * Fast path for blocks without NaN: no masks.  NaN is sticky in a sum, so a
 * block whose lane sums come out NaN (a NaN, or inf - inf) is redone by the
 * masked kernel; for NaN-free blocks both do exactly the same operations.
 */
#define DEFINE_SSE_W1(NAME, LOAD2, LOAD1)                                      \
    static void NAME(const char *p, int64_t n, ptrdiff_t s0, summ *o)          \
    {                                                                          \
        __m128d s0v = _mm_setzero_pd(), s1v = s0v, s2v = s0v, s3v = s0v;       \
        __m128d mn0 = _mm_set1_pd(INFINITY), mn1 = mn0;                        \
        __m128d mx0 = _mm_set1_pd(-INFINITY), mx1 = mx0;                       \
        double S[LANES], MN[4], MX[4], tot;                                    \
        int64_t i = 0;                                                         \
        (void)s0;                                                              \
        for (; i + LANES <= n; i += LANES) {                                   \
            __m128d a = LOAD2(i), b = LOAD2(i + 2), c = LOAD2(i + 4),          \
                    d = LOAD2(i + 6);                                          \
            PREFETCH_AHEAD(i, 2);                                              \
            s0v = _mm_add_pd(s0v, a);                                          \
            s1v = _mm_add_pd(s1v, b);                                          \
            s2v = _mm_add_pd(s2v, c);                                          \
            s3v = _mm_add_pd(s3v, d);                                          \
            mn0 = _mm_min_pd(a, mn0);                                          \
            mn1 = _mm_min_pd(b, mn1);                                          \
            mx0 = _mm_max_pd(a, mx0);                                          \
            mx1 = _mm_max_pd(b, mx1);                                          \
            mn0 = _mm_min_pd(c, mn0);                                          \
            mn1 = _mm_min_pd(d, mn1);                                          \
            mx0 = _mm_max_pd(c, mx0);                                          \
            mx1 = _mm_max_pd(d, mx1);                                          \
        }                                                                      \
        _mm_storeu_pd(S, s0v);                                                 \
        _mm_storeu_pd(S + 2, s1v);                                             \
        _mm_storeu_pd(S + 4, s2v);                                             \
        _mm_storeu_pd(S + 6, s3v);                                             \
        _mm_storeu_pd(MN, mn0);                                                \
        _mm_storeu_pd(MN + 2, mn1);                                            \
        _mm_storeu_pd(MX, mx0);                                                \
        _mm_storeu_pd(MX + 2, mx1);                                            \
        for (; i < n; i++) {                                                   \
            int j = (int)(i % LANES);                                          \
            double v = LOAD1(i);                                               \
            S[j] += v;                                                         \
            MN[i % 4] = v < MN[i % 4] ? v : MN[i % 4];                         \
            MX[i % 4] = v > MX[i % 4] ? v : MX[i % 4];                         \
        }                                                                      \
        tot = LANE_TREE(S);                                                    \
        if (tot != tot) {                                                      \
            NAME##_masked(p, n, s0, o);                                        \
            return;                                                            \
        }                                                                      \
        float_col_first(o, 0, n, tot, (double)n, min4(MN), max4(MX));          \
        if (!col_needs_pass2(o, 0))                                            \
            return;                                                            \
        {                                                                      \
            __m128d q0 = _mm_setzero_pd(), q1 = q0, q2 = q0, q3 = q0;          \
            __m128d e0 = q0, e1 = q0, e2 = q0, e3 = q0;                        \
            const double mb = o->mean[0];                                      \
            const __m128d mbv = _mm_set1_pd(mb);                               \
            double Q[LANES], E[LANES];                                         \
            for (i = 0; i + LANES <= n; i += LANES) {                          \
                __m128d ta = _mm_sub_pd(LOAD2(i), mbv);                        \
                __m128d tb = _mm_sub_pd(LOAD2(i + 2), mbv);                    \
                __m128d tc = _mm_sub_pd(LOAD2(i + 4), mbv);                    \
                __m128d td = _mm_sub_pd(LOAD2(i + 6), mbv);                    \
                q0 = _mm_add_pd(q0, _mm_mul_pd(ta, ta));                       \
                q1 = _mm_add_pd(q1, _mm_mul_pd(tb, tb));                       \
                q2 = _mm_add_pd(q2, _mm_mul_pd(tc, tc));                       \
                q3 = _mm_add_pd(q3, _mm_mul_pd(td, td));                       \
                e0 = _mm_add_pd(e0, ta);                                       \
                e1 = _mm_add_pd(e1, tb);                                       \
                e2 = _mm_add_pd(e2, tc);                                       \
                e3 = _mm_add_pd(e3, td);                                       \
            }                                                                  \
            _mm_storeu_pd(Q, q0);                                              \
            _mm_storeu_pd(Q + 2, q1);                                          \
            _mm_storeu_pd(Q + 4, q2);                                          \
            _mm_storeu_pd(Q + 6, q3);                                          \
            _mm_storeu_pd(E, e0);                                              \
            _mm_storeu_pd(E + 2, e1);                                          \
            _mm_storeu_pd(E + 4, e2);                                          \
            _mm_storeu_pd(E + 6, e3);                                          \
            for (; i < n; i++) {                                               \
                int j = (int)(i % LANES);                                      \
                double t = LOAD1(i) - mb;                                      \
                Q[j] += t * t;                                                 \
                E[j] += t;                                                     \
            }                                                                  \
            col_second(o, 0, LANE_TREE(Q), LANE_TREE(E));                      \
        }                                                                      \
    }

DEFINE_SSE_W1_MASKED(f64_w1_contig_masked, F64_CONTIG2, F64_1)
DEFINE_SSE_W1_MASKED(f64_w1_strided_masked, F64_STRIDED2, F64_1)
DEFINE_SSE_W1_MASKED(f32_w1_contig_masked, F32_CONTIG2, F32_1)
DEFINE_SSE_W1_MASKED(f32_w1_strided_masked, F32_STRIDED2, F32_1)
DEFINE_SSE_W1(f64_w1_contig, F64_CONTIG2, F64_1)
DEFINE_SSE_W1(f64_w1_strided, F64_STRIDED2, F64_1)
DEFINE_SSE_W1(f32_w1_contig, F32_CONTIG2, F32_1)
DEFINE_SSE_W1(f32_w1_strided, F32_STRIDED2, F32_1)
#endif /* HAVE_SSE_W1 */

#if defined(HAVE_SSE_W1) && defined(__GNUC__) && defined(__x86_64__) && !defined(PS_NO_AVX2)
/*
 * AVX2 version of the NaN-free contiguous float64 kernel, chosen at run
 * time.  Same lanes as above: sum/Q/E vector 0 holds lanes 0-3 (records
 * i..i+3), vector 1 lanes 4-7; min/max lane = record index % 4, fed with
 * records i then i+4, as in the SSE2 kernel.  Hence identical results.
 */
#include <immintrin.h>
#define HAVE_AVX2_W1 1

__attribute__((target("avx2"))) static void f64_w1_contig_avx2(const char *p, int64_t n,
                                                               ptrdiff_t s0, summ *o)
{
    __m256d sa = _mm256_setzero_pd(), sb = sa;
    __m256d mn = _mm256_set1_pd(INFINITY), mx = _mm256_set1_pd(-INFINITY);
    double S[LANES], MN[4], MX[4], tot;
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        __m256d a = _mm256_loadu_pd((const double *)(const void *)(p + i * 8));
        __m256d b = _mm256_loadu_pd((const double *)(const void *)(p + (i + 4) * 8));
        PREFETCH_AHEAD(i, 2);
        sa = _mm256_add_pd(sa, a);
        sb = _mm256_add_pd(sb, b);
        mn = _mm256_min_pd(a, mn);
        mx = _mm256_max_pd(a, mx);
        mn = _mm256_min_pd(b, mn);
        mx = _mm256_max_pd(b, mx);
    }
    _mm256_storeu_pd(S, sa);
    _mm256_storeu_pd(S + 4, sb);
    _mm256_storeu_pd(MN, mn);
    _mm256_storeu_pd(MX, mx);
    for (; i < n; i++) {
        int j = (int)(i % LANES);
        double v = F64_1(i);
        S[j] += v;
        MN[i % 4] = v < MN[i % 4] ? v : MN[i % 4];
        MX[i % 4] = v > MX[i % 4] ? v : MX[i % 4];
    }
    tot = LANE_TREE(S);
    if (tot != tot) {
        f64_w1_contig_masked(p, n, s0, o);
        return;
    }
    float_col_first(o, 0, n, tot, (double)n, min4(MN), max4(MX));
    if (!col_needs_pass2(o, 0))
        return;
    {
        __m256d qa = _mm256_setzero_pd(), qb = qa, ea = qa, eb = qa;
        const double mb = o->mean[0];
        const __m256d mbv = _mm256_set1_pd(mb);
        double Q[LANES], E[LANES];
        for (i = 0; i + LANES <= n; i += LANES) {
            __m256d ta = _mm256_sub_pd(_mm256_loadu_pd((const double *)(const void *)(p + i * 8)), mbv);
            __m256d tb = _mm256_sub_pd(_mm256_loadu_pd((const double *)(const void *)(p + (i + 4) * 8)), mbv);
            qa = _mm256_add_pd(qa, _mm256_mul_pd(ta, ta));
            qb = _mm256_add_pd(qb, _mm256_mul_pd(tb, tb));
            ea = _mm256_add_pd(ea, ta);
            eb = _mm256_add_pd(eb, tb);
        }
        _mm256_storeu_pd(Q, qa);
        _mm256_storeu_pd(Q + 4, qb);
        _mm256_storeu_pd(E, ea);
        _mm256_storeu_pd(E + 4, eb);
        for (; i < n; i++) {
            int j = (int)(i % LANES);
            double t = F64_1(i) - mb;
            Q[j] += t * t;
            E[j] += t;
        }
        col_second(o, 0, LANE_TREE(Q), LANE_TREE(E));
    }
}

/* The run-time level (simd.h): the CPU, the build and the limit. */
static int cpu_has_avx2(void) { return ps_simd() >= PS_SIMD_AVX2; }
#endif /* HAVE_AVX2_W1 */

/*
 * Integer kernels.  Pass 1 sums exactly: types of <= 32 bits in int64 lanes
 * (a block holds <= 1024 values, so no lane can overflow); 64-bit types
 * split each value into a high and a low 32-bit half summed separately.
 * LOAD(ptr) gives the value as int64_t (signed) or uint64_t (unsigned).
 */
#define DEFINE_INT_KERNEL(NAME, VT, LOAD, WIDE)                                \
    static void NAME##_col(const char *p, int64_t n, ptrdiff_t s0, int64_t c,  \
                           summ *o)                                            \
    {                                                                          \
        int64_t ls[LANES], lh[LANES];                                          \
        VT vmin, vmax;                                                         \
        int64_t i;                                                             \
        i128 total;                                                            \
        for (int j = 0; j < LANES; j++) {                                      \
            ls[j] = 0;                                                         \
            lh[j] = 0;                                                         \
        }                                                                      \
        vmin = LOAD(p);                                                        \
        vmax = vmin;                                                           \
        for (i = 0; i + LANES <= n; i += LANES)                                \
            for (int j = 0; j < LANES; j++) {                                  \
                VT v = LOAD(p + (i + j) * s0);                                 \
                if (WIDE) {                                                    \
                    ls[j] += (int64_t)((uint64_t)v & 0xffffffffu);             \
                    lh[j] += WIDE_HI(v);                                       \
                } else {                                                       \
                    ls[j] += (int64_t)v;                                       \
                }                                                              \
                vmin = v < vmin ? v : vmin;                                    \
                vmax = v > vmax ? v : vmax;                                    \
            }                                                                  \
        for (; i < n; i++) {                                                   \
            int j = (int)(i % LANES);                                          \
            VT v = LOAD(p + i * s0);                                           \
            if (WIDE) {                                                        \
                ls[j] += (int64_t)((uint64_t)v & 0xffffffffu);                 \
                lh[j] += WIDE_HI(v);                                           \
            } else {                                                           \
                ls[j] += (int64_t)v;                                           \
            }                                                                  \
            vmin = v < vmin ? v : vmin;                                        \
            vmax = v > vmax ? v : vmax;                                        \
        }                                                                      \
        total = i128_from_i64(LANE_TREE(ls));                                  \
        if (WIDE) {                                                            \
            int ovf = i128_add(&total, i128_shl32(LANE_TREE(lh)));             \
            (void)ovf; /* |block sum| < 2**74: cannot overflow */              \
        }                                                                      \
        o->n[c] = n;                                                           \
        o->nan[c] = 0;                                                         \
        o->ihi[c] = total.hi;                                                  \
        o->ilo[c] = total.lo;                                                  \
        o->imin[c] = (int64_t)vmin;                                            \
        o->imax[c] = (int64_t)vmax;                                            \
        o->mn[c] = (double)vmin;                                               \
        o->mx[c] = (double)vmax;                                               \
        o->sum[c] = (double)i128_to_ld(total);                                 \
        o->mean[c] = (double)(i128_to_ld(total) / (long double)n);             \
        o->m2[c] = 0.0;                                                        \
        if (vmin == vmax) {                                                    \
            o->mean[c] = (double)vmin;                                         \
            return;                                                            \
        }                                                                      \
        {                                                                      \
            double q[LANES], e[LANES], mb = o->mean[c];                        \
            for (int j = 0; j < LANES; j++) {                                  \
                q[j] = 0.0;                                                    \
                e[j] = 0.0;                                                    \
            }                                                                  \
            for (i = 0; i + LANES <= n; i += LANES)                            \
                for (int j = 0; j < LANES; j++) {                              \
                    double t = (double)LOAD(p + (i + j) * s0) - mb;            \
                    q[j] += t * t;                                             \
                    e[j] += t;                                                 \
                }                                                              \
            for (; i < n; i++) {                                               \
                int j = (int)(i % LANES);                                      \
                double t = (double)LOAD(p + i * s0) - mb;                      \
                q[j] += t * t;                                                 \
                e[j] += t;                                                     \
            }                                                                  \
            col_second(o, c, LANE_TREE(q), LANE_TREE(e));                      \
        }                                                                      \
    }

#define LD_BOOL(ptr) ((uint64_t)(*(const uint8_t *)(const void *)(ptr) != 0))
#define LD_I8(ptr) ((int64_t) * (const int8_t *)(const void *)(ptr))
#define LD_I16(ptr) ((int64_t) * (const int16_t *)(const void *)(ptr))
#define LD_I32(ptr) ((int64_t) * (const int32_t *)(const void *)(ptr))
#define LD_I64(ptr) (*(const int64_t *)(const void *)(ptr))
#define LD_U8(ptr) ((uint64_t) * (const uint8_t *)(const void *)(ptr))
#define LD_U16(ptr) ((uint64_t) * (const uint16_t *)(const void *)(ptr))
#define LD_U32(ptr) ((uint64_t) * (const uint32_t *)(const void *)(ptr))
#define LD_U64(ptr) (*(const uint64_t *)(const void *)(ptr))

/* High 32-bit half of a 64-bit value, as a (small) int64; WIDE_HI is
   expanded inside DEFINE_INT_KERNEL with the definition in force there. */
static int64_t hi_signed(int64_t v) { return asr64(v, 32); }
static int64_t hi_unsigned(uint64_t v) { return (int64_t)(v >> 32); }

#define WIDE_HI(v) hi_signed((int64_t)(v))
DEFINE_INT_KERNEL(i8, int64_t, LD_I8, 0)
DEFINE_INT_KERNEL(i16, int64_t, LD_I16, 0)
DEFINE_INT_KERNEL(i32, int64_t, LD_I32, 0)
DEFINE_INT_KERNEL(i64, int64_t, LD_I64, 1)
#undef WIDE_HI
#define WIDE_HI(v) hi_unsigned((uint64_t)(v))
DEFINE_INT_KERNEL(b8, uint64_t, LD_BOOL, 0)
DEFINE_INT_KERNEL(u8, uint64_t, LD_U8, 0)
DEFINE_INT_KERNEL(u16, uint64_t, LD_U16, 0)
DEFINE_INT_KERNEL(u32, uint64_t, LD_U32, 0)
DEFINE_INT_KERNEL(u64, uint64_t, LD_U64, 1)
#undef WIDE_HI

typedef void (*int_col_fn)(const char *, int64_t, ptrdiff_t, int64_t, summ *);

static int_col_fn int_kernel(int dtype)
{
    switch (dtype) {
    case PS_BOOL: return b8_col;
    case PS_INT8: return i8_col;
    case PS_INT16: return i16_col;
    case PS_INT32: return i32_col;
    case PS_INT64: return i64_col;
    case PS_UINT8: return u8_col;
    case PS_UINT16: return u16_col;
    case PS_UINT32: return u32_col;
    case PS_UINT64: return u64_col;
    default: return NULL;
    }
}

#ifdef HAVE_SSE_W1
/* Values of a record block gathered at once: a block holds about 1024 values
   (B = 1024 / next_pow2(d)), so d * n <= 1024 for every d > 1. */
#define GATHER 1024

/* Width-1 float64 kernel for n contiguous doubles into column 0 of o. */
static void f64_w1_best(const char *p, int64_t n, summ *o)
{
#ifdef HAVE_AVX2_W1
    if (cpu_has_avx2()) {
        f64_w1_contig_avx2(p, n, (ptrdiff_t)sizeof(double), o);
        return;
    }
#endif
    f64_w1_contig(p, n, (ptrdiff_t)sizeof(double), o);
}

/* Column c of o as a width-1 summary (its fields offset by c). */
static summ column_view(const summ *o, int64_t c)
{
    summ v;
    v.n = o->n + c;
    v.nan = o->nan + c;
    v.sum = o->sum + c;
    v.mean = o->mean + c;
    v.m2 = o->m2 + c;
    v.mn = o->mn + c;
    v.mx = o->mx + c;
    v.ihi = o->ihi + c;
    v.ilo = o->ilo + c;
    v.imin = o->imin + c;
    v.imax = o->imax + c;
    return v;
}

/*
 * Float records (d > 1): each column of the block is gathered into
 * contiguous doubles (float32 widened exactly) and summarised by the
 * width-1 SIMD kernel.  The width-1 kernels and the tile do the same
 * operations in the same lanes (sum, count and Q/E lane = record % LANES,
 * min/max lane = record % 4, the same lane tree, the same pass-2 rule), so
 * the bits are the tile's -- the ctest fingerprints of the -DPS_NO_SIMD
 * build (which keeps the tile) check it -- at SIMD speed instead of a
 * scalar loop (bench_tables.py: 3.7-5.8 ns a value for 4 columns against
 * 0.8-0.9 for the same values as 4 scalar streams).
 */
static void float_records_gathered(int dtype, const char *p, int64_t n, ptrdiff_t s0,
                                   ptrdiff_t s1, int64_t d, summ *o)
{
    double buf[GATHER];         /* column c at buf + c * n */
    /* one pass over the records (each row read once), columns side by side */
    if (dtype == PS_FLOAT64)
        for (int64_t i = 0; i < n; i++) {
            const char *row = p + i * s0;
            for (int64_t c = 0; c < d; c++)
                buf[c * n + i] = *(const double *)(const void *)(row + c * s1);
        }
    else
        for (int64_t i = 0; i < n; i++) {
            const char *row = p + i * s0;
            for (int64_t c = 0; c < d; c++)
                buf[c * n + i] = (double)*(const float *)(const void *)(row + c * s1);
        }
    for (int64_t c = 0; c < d; c++) {
        summ v = column_view(o, c);
        f64_w1_best((const char *)(buf + c * n), n, &v);
    }
}
#endif

/* Summary of n >= 0 records (n <= B) into o; fixed arithmetic. */
static void block_summary(int dtype, const char *p, int64_t n, ptrdiff_t s0,
                          ptrdiff_t s1, int64_t d, summ *o)
{
    if (n == 0) {
        summ_empty(o, d, dtype);
        return;
    }
    if (is_float_dtype(dtype)) {
        if (d == 1) {
#ifdef HAVE_SSE_W1
            if (dtype == PS_FLOAT64) {
#ifdef HAVE_AVX2_W1
                if (s0 == (ptrdiff_t)sizeof(double) && cpu_has_avx2())
                    f64_w1_contig_avx2(p, n, s0, o);
                else
#endif
                if (s0 == (ptrdiff_t)sizeof(double))
                    f64_w1_contig(p, n, s0, o);
                else
                    f64_w1_strided(p, n, s0, o);
            } else {
                if (s0 == (ptrdiff_t)sizeof(float))
                    f32_w1_contig(p, n, s0, o);
                else
                    f32_w1_strided(p, n, s0, o);
            }
#else
            if (dtype == PS_FLOAT64)
                f64_w1(p, n, s0, o);
            else
                f32_w1(p, n, s0, o);
#endif
            return;
        }
#ifdef HAVE_SSE_W1
        if (n * d <= GATHER) {
            float_records_gathered(dtype, p, n, s0, s1, d, o);
            return;
        }
#endif
        for (int64_t c0 = 0; c0 < d; c0 += TILE) {
            int64_t w = d - c0 < TILE ? d - c0 : TILE;
            if (dtype == PS_FLOAT64)
                f64_tile(p, n, s0, s1, c0, w, o);
            else
                f32_tile(p, n, s0, s1, c0, w, o);
        }
        return;
    }
    {
        int_col_fn f = int_kernel(dtype);
        for (int64_t c = 0; c < d; c++)
            f(p + c * s1, n, s0, c, o);
    }
}

/* ------------------------------------------------------------------------ */
/* State                                                                    */

typedef struct {
    int level;
    int64_t index; /* covers blocks [index << level, (index + 1) << level) */
    summ s;
} node;

/* Memory grows with the records seen (issue 20: keyed streams hold one
   state per key, so a state with a few records must cost little): the
   shape is allocated only for ndim > 0, the raw head / tail buffers start
   at RAW_MIN records and double up to B, and the node array grows by
   doubling up to MAX_NODES.  None of this changes the arithmetic. */
struct ps_moments {
    int dtype;
    int ndim;
    int64_t *shape; /* ndim entries (NULL for ndim == 0) */
    int64_t d;
    int64_t B;
    size_t isz;
    int64_t start, stop, first_nan;
    unsigned char *head; /* records [start, start + head_n) */
    int64_t head_n, head_cap;
    unsigned char *tail; /* records [stop - tail_n, stop); starts on a block boundary */
    int64_t tail_n, tail_cap;
    int nnodes;
    int nalloc; /* node slots whose summ is allocated */
    int ncap;   /* room of nodes[] */
    node *nodes;
};

/* First room of a raw buffer, in records (then doubled up to B). */
#define RAW_MIN 8

/* Room for `want` records (<= B) in a raw buffer; contents kept. */
static int raw_room(const ps_moments *m, unsigned char **buf, int64_t *cap, int64_t want)
{
    int64_t n;
    unsigned char *p;
    if (want <= *cap)
        return PS_OK;
    n = *cap < RAW_MIN ? RAW_MIN : *cap;
    while (n < want)
        n *= 2;
    if (n > m->B)
        n = m->B;
    p = realloc(*buf, (size_t)(n * m->d) * m->isz);
    if (!p)
        return PS_ERR_NOMEM;
    *buf = p;
    *cap = n;
    return PS_OK;
}

static size_t dtype_size(int dt)
{
    switch (dt) {
    case PS_BOOL: case PS_INT8: case PS_UINT8: return 1;
    case PS_INT16: case PS_UINT16: return 2;
    case PS_INT32: case PS_UINT32: case PS_FLOAT32: return 4;
    case PS_INT64: case PS_UINT64: case PS_FLOAT64: return 8;
    default: return 0;
    }
}

static const char *const MESSAGES[] = {
    "ok",
    "out of memory",
    "invalid argument",
    "unsupported dtype, or dtype already set",
    "states are not adjacent: left.stop != right.start",
    "states differ in dtype or record shape",
    "serialized state is truncated or corrupt",
    "serialized state has an unknown format version",
    "overflow: record count or 128-bit integer sum out of range",
    "output buffer too small",
    "state has no dtype yet (no data seen)",
    "more keys than max_keys",
};

const char *ps_status_message(int status)
{
    if (status < 0 || status >= (int)(sizeof MESSAGES / sizeof MESSAGES[0]))
        return "unknown status";
    return MESSAGES[status];
}

int64_t ps_moments_block(int64_t width)
{
    int64_t p = 1;
    if (width < 1)
        return 1;
    while (p < width && p < BLOCK_VALUES)
        p <<= 1;
    return BLOCK_VALUES / p;
}

/* Largest number of values per record we accept (keeps all sizes in range). */

static int set_type(ps_moments *m, int dtype, int ndim, const int64_t *shape)
{
    int64_t d = 1;
    if (dtype < PS_BOOL || dtype > PS_FLOAT64)
        return PS_ERR_DTYPE;
    if (ndim < 0 || ndim > PS_MAX_NDIM || (ndim > 0 && !shape))
        return PS_ERR_ARG;
    for (int k = 0; k < ndim; k++) {
        if (shape[k] < 1 || shape[k] > PS_MAX_WIDTH || d > PS_MAX_WIDTH / shape[k])
            return PS_ERR_ARG;
        d *= shape[k];
    }
    if (ndim > 0) {
        m->shape = malloc((size_t)ndim * sizeof(int64_t));
        if (!m->shape)
            return PS_ERR_NOMEM;
    }
    m->dtype = dtype;
    m->ndim = ndim;
    for (int k = 0; k < ndim; k++)
        m->shape[k] = shape[k];
    m->d = d;
    m->B = ps_moments_block(d);
    m->isz = dtype_size(dtype);
    return PS_OK;
}

int ps_moments_new(ps_moments **out, int dtype, int ndim, const int64_t *shape,
                   int64_t start)
{
    ps_moments *m;
    if (!out || start < 0 || start > INT64_MAX - 2 * BLOCK_VALUES)
        return PS_ERR_ARG;
    *out = NULL;
    m = calloc(1, sizeof *m);
    if (!m)
        return PS_ERR_NOMEM;
    m->dtype = PS_DTYPE_UNSET;
    m->d = 1;
    m->B = ps_moments_block(1);
    m->start = m->stop = start;
    m->first_nan = -1;
    if (dtype != PS_DTYPE_UNSET) {
        int st = set_type(m, dtype, ndim, shape);
        if (st != PS_OK) {
            free(m);
            return st;
        }
    }
    *out = m;
    return PS_OK;
}

int ps_moments_set_type(ps_moments *m, int dtype, int ndim, const int64_t *shape)
{
    if (!m)
        return PS_ERR_ARG;
    if (m->dtype != PS_DTYPE_UNSET)
        return PS_ERR_DTYPE;
    return set_type(m, dtype, ndim, shape);
}

void ps_moments_free(ps_moments *m)
{
    if (!m)
        return;
    for (int k = 0; k < m->nalloc; k++)
        summ_free(&m->nodes[k].s);
    free(m->nodes);
    free(m->shape);
    free(m->head);
    free(m->tail);
    free(m);
}

int ps_moments_dtype(const ps_moments *m) { return m->dtype; }
int ps_moments_ndim(const ps_moments *m) { return m->ndim; }
int64_t ps_moments_shape(const ps_moments *m, int axis)
{
    return (axis >= 0 && axis < m->ndim) ? m->shape[axis] : -1;
}
int64_t ps_moments_width(const ps_moments *m) { return m->d; }
int64_t ps_moments_start(const ps_moments *m) { return m->start; }
int64_t ps_moments_stop(const ps_moments *m) { return m->stop; }
int64_t ps_moments_first_nan(const ps_moments *m) { return m->first_nan; }

/* First block boundary at or after the start. */
static int64_t head_boundary(const ps_moments *m)
{
    return ((m->start + m->B - 1) / m->B) * m->B;
}

/* Make sure node slot k has an allocated summary. */
static int slot_ready(ps_moments *m, int k)
{
    while (m->nalloc <= k) {
        if (m->nalloc >= MAX_NODES)
            return PS_ERR_OVERFLOW;
        if (m->nalloc == m->ncap) {
            int n = m->ncap < 4 ? 4 : (m->ncap > MAX_NODES / 2 ? MAX_NODES : 2 * m->ncap);
            node *p = realloc(m->nodes, (size_t)n * sizeof(node));
            if (!p)
                return PS_ERR_NOMEM;
            m->nodes = p;
            m->ncap = n;
        }
        if (summ_alloc(&m->nodes[m->nalloc].s, m->d) != PS_OK)
            return PS_ERR_NOMEM;
        m->nalloc++;
    }
    return PS_OK;
}

/* The node just written in slot nnodes becomes part of the stack; merge
   siblings like a binary counter carries. */
static void push_node(ps_moments *m, int level, int64_t index)
{
    node *top = &m->nodes[m->nnodes];
    top->level = level;
    top->index = index;
    m->nnodes++;
    while (m->nnodes >= 2) {
        node *l = &m->nodes[m->nnodes - 2];
        node *r = &m->nodes[m->nnodes - 1];
        if (l->level != r->level || (l->index & 1) != 0 || r->index != l->index + 1)
            break;
        /* Block sums of a node are < 2**63 * 2**64: no overflow possible. */
        (void)summ_combine(&l->s, &r->s, m->d, m->dtype);
        l->level += 1;
        l->index >>= 1;
        m->nnodes--;
    }
}

static int64_t scan_first_nan(int dtype, const char *p, int64_t n, ptrdiff_t s0,
                              ptrdiff_t s1, int64_t d)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++) {
            const char *q = p + i * s0 + c * s1;
            double v = dtype == PS_FLOAT64 ? *(const double *)(const void *)q
                                           : (double)*(const float *)(const void *)q;
            if (v != v)
                return i;
        }
    return -1;
}

static void copy_records(unsigned char *dst, const char *p, int64_t n,
                         ptrdiff_t s0, ptrdiff_t s1, int64_t d, size_t isz)
{
    for (int64_t i = 0; i < n; i++) {
        const char *row = p + i * s0;
        if (s1 == (ptrdiff_t)isz) {
            memcpy(dst, row, (size_t)d * isz);
            dst += (size_t)d * isz;
        } else {
            for (int64_t c = 0; c < d; c++) {
                memcpy(dst, row + c * s1, isz);
                dst += isz;
            }
        }
    }
}

/* Records copied into a raw buffer: track NaNs. */
static void note_nans(ps_moments *m, const char *p, int64_t n, ptrdiff_t s0,
                      ptrdiff_t s1)
{
    if (m->first_nan < 0 && is_float_dtype(m->dtype)) {
        int64_t k = scan_first_nan(m->dtype, p, n, s0, s1, m->d);
        if (k >= 0)
            m->first_nan = m->stop + k;
    }
}

static int append(ps_moments *m, const char *p, int64_t n, ptrdiff_t s0,
                  ptrdiff_t s1)
{
    const int64_t B = m->B;
    const int64_t hb = head_boundary(m);
    const ptrdiff_t rec = (ptrdiff_t)((size_t)m->d * m->isz);
    while (n > 0) {
        int64_t k;
        if (m->stop < hb) { /* records before the first block boundary */
            k = hb - m->stop < n ? hb - m->stop : n;
            if (raw_room(m, &m->head, &m->head_cap, m->head_n + k) != PS_OK)
                return PS_ERR_NOMEM;
            copy_records(m->head + (size_t)(m->head_n * rec), p, k, s0, s1, m->d, m->isz);
            note_nans(m, p, k, s0, s1);
            m->head_n += k;
        } else if (m->tail_n > 0 || n < B) { /* a partial block */
            k = B - m->tail_n < n ? B - m->tail_n : n;
            if (raw_room(m, &m->tail, &m->tail_cap, m->tail_n + k) != PS_OK)
                return PS_ERR_NOMEM;
            copy_records(m->tail + (size_t)(m->tail_n * rec), p, k, s0, s1, m->d, m->isz);
            note_nans(m, p, k, s0, s1);
            m->tail_n += k;
            if (m->tail_n == B) {
                int st = slot_ready(m, m->nnodes);
                if (st != PS_OK)
                    return st;
                block_summary(m->dtype, (const char *)m->tail, B, rec,
                              (ptrdiff_t)m->isz, m->d, &m->nodes[m->nnodes].s);
                push_node(m, 0, (m->stop + k - B) / B);
                m->tail_n = 0;
            }
        } else { /* full blocks straight from the caller's memory */
            int st = slot_ready(m, m->nnodes);
            node *slot;
            if (st != PS_OK)
                return st;
            k = B;
            slot = &m->nodes[m->nnodes];
            block_summary(m->dtype, p, B, s0, s1, m->d, &slot->s);
            if (m->first_nan < 0 && is_float_dtype(m->dtype)) {
                for (int64_t c = 0; c < m->d; c++)
                    if (slot->s.nan[c] > 0) {
                        m->first_nan = m->stop +
                                       scan_first_nan(m->dtype, p, B, s0, s1, m->d);
                        break;
                    }
            }
            push_node(m, 0, m->stop / B);
        }
        m->stop += k;
        p += k * s0;
        n -= k;
    }
    return PS_OK;
}

int ps_moments_update(ps_moments *m, const void *data, int64_t n,
                      ptrdiff_t record_stride, ptrdiff_t value_stride)
{
    if (!m || n < 0 || (n > 0 && !data))
        return PS_ERR_ARG;
    if (m->dtype == PS_DTYPE_UNSET)
        return PS_ERR_UNSET;
    if (n == 0)
        return PS_OK;
    if (m->stop > INT64_MAX - 2 * BLOCK_VALUES - n)
        return PS_ERR_OVERFLOW;
    return append(m, (const char *)data, n, record_stride, value_stride);
}

static int copy_into(ps_moments *c, const ps_moments *m)
{
    if (m->ndim > 0) {
        c->shape = malloc((size_t)m->ndim * sizeof(int64_t));
        if (!c->shape)
            return PS_ERR_NOMEM;
        memcpy(c->shape, m->shape, (size_t)m->ndim * sizeof(int64_t));
    }
    c->dtype = m->dtype;
    c->ndim = m->ndim;
    c->d = m->d;
    c->B = m->B;
    c->isz = m->isz;
    c->start = m->start;
    c->stop = m->stop;
    c->first_nan = m->first_nan;
    if (raw_room(c, &c->head, &c->head_cap, m->head_n) != PS_OK ||
        raw_room(c, &c->tail, &c->tail_cap, m->tail_n) != PS_OK)
        return PS_ERR_NOMEM;
    if (m->head_n > 0)
        memcpy(c->head, m->head, (size_t)(m->head_n * m->d) * m->isz);
    if (m->tail_n > 0)
        memcpy(c->tail, m->tail, (size_t)(m->tail_n * m->d) * m->isz);
    c->head_n = m->head_n;
    c->tail_n = m->tail_n;
    for (int k = 0; k < m->nnodes; k++) {
        int st = slot_ready(c, k);
        if (st != PS_OK)
            return st;
        c->nodes[k].level = m->nodes[k].level;
        c->nodes[k].index = m->nodes[k].index;
        summ_copy(&c->nodes[k].s, &m->nodes[k].s, m->d);
    }
    c->nnodes = m->nnodes;
    return PS_OK;
}

int ps_moments_copy(ps_moments **out, const ps_moments *m)
{
    ps_moments *c;
    int st;
    if (!out || !m)
        return PS_ERR_ARG;
    *out = NULL;
    c = calloc(1, sizeof *c);
    if (!c)
        return PS_ERR_NOMEM;
    st = copy_into(c, m);
    if (st != PS_OK) {
        ps_moments_free(c);
        return st;
    }
    *out = c;
    return PS_OK;
}

static int same_type(const ps_moments *a, const ps_moments *b)
{
    if (a->dtype != b->dtype || a->ndim != b->ndim)
        return 0;
    for (int k = 0; k < a->ndim; k++)
        if (a->shape[k] != b->shape[k])
            return 0;
    return 1;
}

int ps_moments_merge(ps_moments *left, const ps_moments *right)
{
    int st;
    if (!left || !right)
        return PS_ERR_ARG;
    if (left == right) /* only an empty state is adjacent to itself */
        return left->start == left->stop ? PS_OK : PS_ERR_NOT_ADJACENT;
    if (left->stop != right->start)
        return PS_ERR_NOT_ADJACENT;
    if (right->dtype == PS_DTYPE_UNSET)
        return PS_OK; /* right is empty */
    if (left->dtype == PS_DTYPE_UNSET) {
        /* left is empty and untyped: it becomes a copy of right. */
        ps_moments *c, tmp;
        st = ps_moments_copy(&c, right);
        if (st != PS_OK)
            return st;
        tmp = *left;
        *left = *c;
        *c = tmp;
        ps_moments_free(c);
        return PS_OK;
    }
    if (!same_type(left, right))
        return PS_ERR_MISMATCH;
    if (right->stop - right->start > INT64_MAX - 2 * BLOCK_VALUES - left->stop)
        return PS_ERR_OVERFLOW;
    {
        /* left's NaNs precede all of right's; right knows its own first one
           (possibly inside a tree node, which the appends below never scan). */
        const int64_t first_nan = left->first_nan >= 0 ? left->first_nan : right->first_nan;
        const ptrdiff_t isz = (ptrdiff_t)left->isz;
        const ptrdiff_t rec = (ptrdiff_t)((size_t)left->d * left->isz);
        /* 1. right's head completes left's tail (or extends left's head). */
        st = append(left, (const char *)right->head, right->head_n, rec, isz);
        if (st != PS_OK)
            return st;
        /* 2. right's tree nodes, carried into left's binary counter. */
        for (int k = 0; k < right->nnodes; k++) {
            const node *nd = &right->nodes[k];
            st = slot_ready(left, left->nnodes);
            if (st != PS_OK)
                return st;
            summ_copy(&left->nodes[left->nnodes].s, &nd->s, left->d);
            push_node(left, nd->level, nd->index);
            left->stop = ((nd->index + 1) << nd->level) * left->B;
        }
        /* 3. right's tail. */
        st = append(left, (const char *)right->tail, right->tail_n, rec, isz);
        if (st != PS_OK)
            return st;
        left->first_nan = first_nan;
    }
    return PS_OK;
}

int ps_moments_result(const ps_moments *m, ps_moments_out *out)
{
    summ acc, part;
    int st, overflow = 0;
    int64_t d;
    ptrdiff_t rec;
    if (!m || !out || !out->count || !out->nan_count || !out->sum || !out->mean ||
        !out->m2 || !out->min || !out->max || !out->isum_hi || !out->isum_lo ||
        !out->imin || !out->imax)
        return PS_ERR_ARG;
    if (m->dtype == PS_DTYPE_UNSET)
        return PS_ERR_UNSET;
    d = m->d;
    rec = (ptrdiff_t)((size_t)d * m->isz);
    st = summ_alloc(&acc, d);
    if (st != PS_OK)
        return st;
    st = summ_alloc(&part, d);
    if (st != PS_OK) {
        summ_free(&acc);
        return st;
    }
    summ_empty(&acc, d, m->dtype);
    if (m->head_n > 0) {
        block_summary(m->dtype, (const char *)m->head, m->head_n, rec,
                      (ptrdiff_t)m->isz, d, &part);
        overflow |= summ_combine(&acc, &part, d, m->dtype);
    }
    for (int k = 0; k < m->nnodes; k++)
        overflow |= summ_combine(&acc, &m->nodes[k].s, d, m->dtype);
    if (m->tail_n > 0) {
        block_summary(m->dtype, (const char *)m->tail, m->tail_n, rec,
                      (ptrdiff_t)m->isz, d, &part);
        overflow |= summ_combine(&acc, &part, d, m->dtype);
    }
    for (int64_t c = 0; c < d; c++) {
        int empty = acc.n[c] == 0;
        out->count[c] = acc.n[c];
        out->nan_count[c] = acc.nan[c];
        out->sum[c] = acc.sum[c];
        out->mean[c] = empty ? NAN : acc.mean[c];
        out->m2[c] = empty ? NAN : acc.m2[c];
        out->min[c] = empty ? NAN : acc.mn[c];
        out->max[c] = empty ? NAN : acc.mx[c];
        out->isum_hi[c] = acc.ihi[c];
        out->isum_lo[c] = acc.ilo[c];
        out->imin[c] = acc.imin[c];
        out->imax[c] = acc.imax[c];
        if (is_int_dtype(m->dtype) && !empty) {
            i128 s;
            s.hi = acc.ihi[c];
            s.lo = acc.ilo[c];
            out->sum[c] = (double)i128_to_ld(s);
            if (acc.imin[c] == acc.imax[c])
                out->mean[c] = out->min[c];
            else
                out->mean[c] = (double)(i128_to_ld(s) / (long double)acc.n[c]);
        }
    }
    summ_free(&acc);
    summ_free(&part);
    return overflow ? PS_ERR_OVERFLOW : PS_OK;
}

/* ------------------------------------------------------------------------ */
/* Serialization: little-endian, versioned, checksummed, fully validated.  */

typedef struct {
    uint8_t *buf; /* NULL: only count */
    const uint8_t *in;
    size_t pos, cap;
    int bad;
} cursor;

static void put_u64(cursor *w, uint64_t v)
{
    if (w->buf && w->pos + 8 <= w->cap)
        for (int k = 0; k < 8; k++)
            w->buf[w->pos + (size_t)k] = (uint8_t)(v >> (8 * k));
    w->pos += 8;
}

static void put_u32(cursor *w, uint32_t v)
{
    if (w->buf && w->pos + 4 <= w->cap)
        for (int k = 0; k < 4; k++)
            w->buf[w->pos + (size_t)k] = (uint8_t)(v >> (8 * k));
    w->pos += 4;
}

static void put_f64(cursor *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    put_u64(w, u);
}

/* Raw values of isz bytes in native order, written little-endian. */
static int host_is_little(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void put_raw(cursor *w, const unsigned char *src, int64_t count, size_t isz)
{
    size_t bytes = (size_t)count * isz;
    if (bytes && w->buf && w->pos + bytes <= w->cap) { /* src may be NULL when empty */
        if (host_is_little() || isz == 1) {
            memcpy(w->buf + w->pos, src, bytes);
        } else {
            for (size_t i = 0; i < bytes; i += isz)
                for (size_t k = 0; k < isz; k++)
                    w->buf[w->pos + i + k] = src[i + isz - 1 - k];
        }
    }
    w->pos += bytes;
}

static uint64_t get_u64(cursor *r)
{
    uint64_t v = 0;
    if (r->bad || r->cap - r->pos < 8) {
        r->bad = 1;
        return 0;
    }
    for (int k = 0; k < 8; k++)
        v |= (uint64_t)r->in[r->pos + (size_t)k] << (8 * k);
    r->pos += 8;
    return v;
}

static uint32_t get_u32(cursor *r)
{
    uint32_t v = 0;
    if (r->bad || r->cap - r->pos < 4) {
        r->bad = 1;
        return 0;
    }
    for (int k = 0; k < 4; k++)
        v |= (uint32_t)r->in[r->pos + (size_t)k] << (8 * k);
    r->pos += 4;
    return v;
}

static int64_t get_i64(cursor *r) { return (int64_t)get_u64(r); }
static int32_t get_i32(cursor *r) { return (int32_t)get_u32(r); }

static double get_f64(cursor *r)
{
    uint64_t u = get_u64(r);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

static void get_raw(cursor *r, unsigned char *dst, int64_t count, size_t isz)
{
    size_t bytes = (size_t)count * isz;
    if (r->bad || r->cap - r->pos < bytes) {
        r->bad = 1;
        return;
    }
    if (!bytes)
        return;
    if (host_is_little() || isz == 1) {
        memcpy(dst, r->in + r->pos, bytes);
    } else {
        for (size_t i = 0; i < bytes; i += isz)
            for (size_t k = 0; k < isz; k++)
                dst[i + k] = r->in[r->pos + i + isz - 1 - k];
    }
    r->pos += bytes;
}

static void put_summ(cursor *w, const summ *s, int64_t d)
{
    for (int64_t c = 0; c < d; c++) put_u64(w, (uint64_t)s->n[c]);
    for (int64_t c = 0; c < d; c++) put_u64(w, (uint64_t)s->nan[c]);
    for (int64_t c = 0; c < d; c++) put_f64(w, s->sum[c]);
    for (int64_t c = 0; c < d; c++) put_f64(w, s->mean[c]);
    for (int64_t c = 0; c < d; c++) put_f64(w, s->m2[c]);
    for (int64_t c = 0; c < d; c++) put_f64(w, s->mn[c]);
    for (int64_t c = 0; c < d; c++) put_f64(w, s->mx[c]);
    for (int64_t c = 0; c < d; c++) put_u64(w, (uint64_t)s->ihi[c]);
    for (int64_t c = 0; c < d; c++) put_u64(w, s->ilo[c]);
    for (int64_t c = 0; c < d; c++) put_u64(w, (uint64_t)s->imin[c]);
    for (int64_t c = 0; c < d; c++) put_u64(w, (uint64_t)s->imax[c]);
}

static void get_summ(cursor *r, summ *s, int64_t d)
{
    for (int64_t c = 0; c < d; c++) s->n[c] = get_i64(r);
    for (int64_t c = 0; c < d; c++) s->nan[c] = get_i64(r);
    for (int64_t c = 0; c < d; c++) s->sum[c] = get_f64(r);
    for (int64_t c = 0; c < d; c++) s->mean[c] = get_f64(r);
    for (int64_t c = 0; c < d; c++) s->m2[c] = get_f64(r);
    for (int64_t c = 0; c < d; c++) s->mn[c] = get_f64(r);
    for (int64_t c = 0; c < d; c++) s->mx[c] = get_f64(r);
    for (int64_t c = 0; c < d; c++) s->ihi[c] = get_i64(r);
    for (int64_t c = 0; c < d; c++) s->ilo[c] = get_u64(r);
    for (int64_t c = 0; c < d; c++) s->imin[c] = get_i64(r);
    for (int64_t c = 0; c < d; c++) s->imax[c] = get_i64(r);
}

static void write_state(cursor *w, const ps_moments *m)
{
    for (int k = 0; k < 8; k++) {
        if (w->buf && w->pos < w->cap)
            w->buf[w->pos] = MAGIC[k];
        w->pos++;
    }
    put_u32(w, FORMAT_VERSION);
    put_u32(w, (uint32_t)m->dtype);
    put_u32(w, (uint32_t)m->ndim);
    for (int k = 0; k < m->ndim; k++)
        put_u64(w, (uint64_t)m->shape[k]);
    put_u64(w, (uint64_t)m->start);
    put_u64(w, (uint64_t)m->stop);
    put_u64(w, (uint64_t)m->first_nan);
    put_u64(w, (uint64_t)m->head_n);
    put_u64(w, (uint64_t)m->tail_n);
    put_u32(w, (uint32_t)m->nnodes);
    for (int k = 0; k < m->nnodes; k++) {
        put_u32(w, (uint32_t)m->nodes[k].level);
        put_u64(w, (uint64_t)m->nodes[k].index);
        put_summ(w, &m->nodes[k].s, m->d);
    }
    put_raw(w, m->head, m->head_n * m->d, m->isz);
    put_raw(w, m->tail, m->tail_n * m->d, m->isz);
}

int ps_moments_serialize(const ps_moments *m, uint8_t *buf, size_t cap, size_t *size)
{
    cursor w = {NULL, NULL, 0, 0, 0};
    if (!m || !size)
        return PS_ERR_ARG;
    write_state(&w, m);
    *size = w.pos + 8;
    if (!buf)
        return PS_OK;
    if (cap < *size)
        return PS_ERR_BUFSIZE;
    w.buf = buf;
    w.cap = cap;
    w.pos = 0;
    write_state(&w, m);
    put_u64(&w, ps_fnv1a(buf, w.pos));
    return PS_OK;
}

/* ---- is a loaded summary possible? --------------------------------------
 *
 * A node summary read from bytes must be one the kernels can produce from
 * some data: the checks below are necessary conditions, with slack for the
 * rounding of the computed means and sums (a few thousand ulps of the
 * largest value), so every real state passes and a hand-edited one with a
 * negative M2, a mean or sum outside what [min, max] allows, a variance
 * larger than the range allows (Popoviciu: M2 <= n (max - min)**2 / 4) or
 * an exact integer sum outside [n min, n max] is refused. */

/* Beyond this magnitude a sum of finite values may overflow (n <= 2**62). */
#define BIG_VALUE 0x1p900
/* A range this large may overflow M2 (squares and n-weighted deltas). */
#define BIG_RANGE 0x1p400
#define MEAN_SLACK 0x1p-40 /* relative to the largest |value| */
#define SUM_SLACK 0x1p-30  /* relative to n * the largest |value| */

static int can_be_pinf(double mx) { return mx == INFINITY || mx >= BIG_VALUE; }
static int can_be_ninf(double mn) { return mn == -INFINITY || mn <= -BIG_VALUE; }

/* v is the mean (scale 1) or the sum (scale n) of n >= 1 values in
   [mn, mx] (both not NaN, mn <= mx). */
static int within(double v, double mn, double mx, double scale, double slack)
{
    if (v != v)
        return can_be_pinf(mx) && can_be_ninf(mn);
    if (v == INFINITY)
        return can_be_pinf(mx);
    if (v == -INFINITY)
        return can_be_ninf(mn);
    if (!isfinite(mn) || !isfinite(mx)) /* an infinite value makes v infinite */
        return 0;
    double big = fmax(fabs(mn), fabs(mx)) * scale;
    double tol = big * slack;
    /* a bound that overflows (inf - inf = NaN) does not refuse */
    double lo = mn * scale - tol, hi = mx * scale + tol;
    return !(v < lo) && !(v > hi);
}

/* 64 x 64 -> 128-bit unsigned product. */
static void mul_u64(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo)
{
    uint64_t a0 = a & 0xffffffffu, a1 = a >> 32, b0 = b & 0xffffffffu, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);
    *lo = (p00 & 0xffffffffu) | (mid << 32);
    *hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
}

/* n * v as an i128 (v an int64, or uint64 bits when `uns`), n in [0, 2**62]. */
static i128 i128_mul(int64_t n, int64_t v, int uns)
{
    uint64_t hi, lo, mag = uns || v >= 0 ? (uint64_t)v : (uint64_t)0 - (uint64_t)v;
    i128 r;
    mul_u64((uint64_t)n, mag, &hi, &lo);
    r.hi = (int64_t)hi;
    r.lo = lo;
    if (!uns && v < 0) { /* negate: two's complement of (hi, lo) */
        r.lo = ~lo + 1;
        r.hi = (int64_t)(~hi + (r.lo == 0));
    }
    return r;
}

static int i128_le(i128 a, i128 b) { return a.hi < b.hi || (a.hi == b.hi && a.lo <= b.lo); }

/* The range of an integer dtype's values, as int64 (uint64 bits for UINT64). */
static void int_range(int dtype, int64_t *lo, int64_t *hi)
{
    switch (dtype) {
    case PS_BOOL: *lo = 0; *hi = 1; break;
    case PS_INT8: *lo = INT8_MIN; *hi = INT8_MAX; break;
    case PS_INT16: *lo = INT16_MIN; *hi = INT16_MAX; break;
    case PS_INT32: *lo = INT32_MIN; *hi = INT32_MAX; break;
    case PS_UINT8: *lo = 0; *hi = UINT8_MAX; break;
    case PS_UINT16: *lo = 0; *hi = UINT16_MAX; break;
    case PS_UINT32: *lo = 0; *hi = UINT32_MAX; break;
    case PS_UINT64: *lo = 0; *hi = -1; break; /* bits of UINT64_MAX */
    default: *lo = INT64_MIN; *hi = INT64_MAX; break;
    }
}

/* Column c of a node summary covering `span` records. */
static int summ_col_possible(const summ *s, int64_t c, int dtype)
{
    const int64_t n = s->n[c];
    const double mn = s->mn[c], mx = s->mx[c], mean = s->mean[c], m2 = s->m2[c];
    if (is_int_dtype(dtype)) {
        const int uns = !is_signed_dtype(dtype);
        int64_t lo, hi, a = s->imin[c], b = s->imax[c];
        int_range(dtype, &lo, &hi);
        if (n < 1) /* integer nodes hold span >= 1 values, no NaN */
            return 0;
        if (uns ? ((uint64_t)a > (uint64_t)b || (uint64_t)b > (uint64_t)hi)
                : (a > b || a < lo || b > hi))
            return 0;
        /* the float views of the exact extremes, as the kernels set them */
        if (mn != (uns ? (double)(uint64_t)a : (double)a) ||
            mx != (uns ? (double)(uint64_t)b : (double)b))
            return 0;
        /* the exact sum lies in [n min, n max] */
        i128 sum;
        sum.hi = s->ihi[c];
        sum.lo = s->ilo[c];
        if (!i128_le(i128_mul(n, a, uns), sum) || !i128_le(sum, i128_mul(n, b, uns)))
            return 0;
        if (!isfinite(mean) || !isfinite(m2) || !isfinite(s->sum[c]))
            return 0;
    } else {
        if (s->ihi[c] || s->ilo[c] || s->imin[c] || s->imax[c])
            return 0;
        if (n == 0) /* only NaNs: the empty summary */
            return s->sum[c] == 0.0 && mean == 0.0 && m2 == 0.0 && mn == INFINITY &&
                   mx == -INFINITY;
        if (mn != mn || mx != mx || mn > mx) /* (min = max = inf: all values inf) */
            return 0;
        if (dtype == PS_FLOAT32 && ((double)(float)mn != mn || (double)(float)mx != mx))
            return 0;
    }
    if (!within(mean, mn, mx, 1.0, MEAN_SLACK) ||
        !within(s->sum[c], mn, mx, (double)n, SUM_SLACK))
        return 0;
    if (!isfinite(mean)) /* M2 of a non-finite mean is NaN */
        return m2 != m2;
    if (m2 < 0.0)
        return 0;
    double range = mx - mn;
    if (!isfinite(m2)) /* overflow of squares: only for a huge range */
        return !(range < BIG_RANGE);
    if (range < BIG_RANGE) { /* Popoviciu, with slack for rounding */
        double bound = (double)n * (range * range / 4.0);
        if (!(m2 <= bound * (1.0 + 0x1p-20)))
            return 0;
    }
    return 1;
}

/* Does raw record i of `raw` (d values of dtype) hold a NaN? */
static int raw_has_nan(const unsigned char *raw, int64_t i, int64_t d, int dtype)
{
    for (int64_t c = 0; c < d; c++) {
        size_t at = (size_t)(i * d + c);
        if (dtype == PS_FLOAT64) {
            double v;
            memcpy(&v, raw + at * 8, 8);
            if (v != v)
                return 1;
        } else if (dtype == PS_FLOAT32) {
            float v;
            memcpy(&v, raw + at * 4, 4);
            if (v != v)
                return 1;
        }
    }
    return 0;
}

/* first_nan is the first record holding a NaN (-1 for none): the first
   NaN of the raw head, else within the first node with a NaN, else in the
   raw tail. */
static int first_nan_possible(const ps_moments *m, int64_t head_n, int64_t tail_n,
                              int64_t first_nan)
{
    if (is_float_dtype(m->dtype)) {
        for (int64_t i = 0; i < head_n; i++)
            if (raw_has_nan(m->head, i, m->d, m->dtype))
                return first_nan == m->start + i;
        for (int k = 0; k < m->nnodes; k++) {
            const node *nd = &m->nodes[k];
            for (int64_t c = 0; c < m->d; c++) {
                if (nd->s.nan[c] > 0) {
                    int64_t span = ((int64_t)1 << nd->level) * m->B;
                    int64_t from = (nd->index << nd->level) * m->B;
                    return first_nan >= from && first_nan < from + span;
                }
            }
        }
        for (int64_t i = 0; i < tail_n; i++)
            if (raw_has_nan(m->tail, i, m->d, m->dtype))
                return first_nan == m->stop - tail_n + i;
    }
    return first_nan == -1;
}

/* The canonical decomposition of blocks [a, b): appends (level, index). */
static int canonical_nodes(int64_t a, int64_t b, int *levels, int64_t *indices)
{
    int count = 0;
    while (a < b) {
        int L = 0;
        while (L < 62 && (a & (((int64_t)1 << (L + 1)) - 1)) == 0 &&
               ((int64_t)1 << (L + 1)) <= b - a)
            L++;
        if (count >= MAX_NODES)
            return -1;
        levels[count] = L;
        indices[count] = a >> L;
        count++;
        a += (int64_t)1 << L;
    }
    return count;
}

static int read_state(cursor *r, ps_moments **out)
{
    int32_t dtype, ndim, nnodes;
    int64_t shape[PS_MAX_NDIM];
    int64_t start, stop, first_nan, head_n, tail_n;
    ps_moments *m = NULL;
    int st;
    for (int k = 0; k < 8; k++)
        if (r->pos + (size_t)k >= r->cap || r->in[k] != MAGIC[k])
            return PS_ERR_CORRUPT;
    r->pos = 8;
    if (get_u32(r) != FORMAT_VERSION)
        return r->bad ? PS_ERR_CORRUPT : PS_ERR_VERSION;
    dtype = get_i32(r);
    ndim = get_i32(r);
    if (r->bad || ndim < 0 || ndim > PS_MAX_NDIM)
        return PS_ERR_CORRUPT;
    for (int k = 0; k < ndim; k++)
        shape[k] = get_i64(r);
    start = get_i64(r);
    stop = get_i64(r);
    first_nan = get_i64(r);
    head_n = get_i64(r);
    tail_n = get_i64(r);
    nnodes = get_i32(r);
    if (r->bad)
        return PS_ERR_CORRUPT;
    if (dtype == PS_DTYPE_UNSET) {
        if (ndim != 0 || start != stop || head_n || tail_n || nnodes || first_nan != -1)
            return PS_ERR_CORRUPT;
    }
    st = ps_moments_new(&m, dtype, ndim, shape, start < 0 ? 0 : start);
    if (st != PS_OK)
        return st == PS_ERR_NOMEM ? st : PS_ERR_CORRUPT;
    if (start < 0 || stop < start || stop > INT64_MAX - 2 * BLOCK_VALUES)
        goto corrupt;
    if (dtype == PS_DTYPE_UNSET) {
        if (r->pos != r->cap)
            goto corrupt;
        *out = m;
        return PS_OK;
    }
    if (first_nan != -1 && (first_nan < start || first_nan >= stop ||
                            !is_float_dtype(dtype)))
        goto corrupt;
    {
        /* The structure is a function of (start, stop, B): check it all. */
        const int64_t B = m->B;
        int64_t hb = ((start + B - 1) / B) * B;
        int64_t want_head = (stop < hb ? stop : hb) - start;
        int64_t tb = stop >= hb ? (stop / B) * B : hb;
        int64_t want_tail = stop >= hb ? stop - tb : 0;
        int levels[MAX_NODES];
        int64_t indices[MAX_NODES];
        int want_nodes = stop >= hb ? canonical_nodes(hb / B, tb / B, levels, indices) : 0;
        if (head_n != want_head || tail_n != want_tail || nnodes != want_nodes ||
            want_nodes < 0)
            goto corrupt;
        for (int k = 0; k < nnodes; k++) {
            int32_t level = get_i32(r);
            int64_t index = get_i64(r);
            int64_t span;
            if (r->bad || level != levels[k] || index != indices[k])
                goto corrupt;
            if (slot_ready(m, k) != PS_OK) {
                ps_moments_free(m);
                return PS_ERR_NOMEM;
            }
            /* a node's summary must fit in what remains */
            if ((r->cap - r->pos) / ((size_t)SUMM_FIELDS * 8) < (size_t)m->d)
                goto corrupt;
            get_summ(r, &m->nodes[k].s, m->d);
            m->nodes[k].level = level;
            m->nodes[k].index = index;
            m->nnodes = k + 1;
            span = ((int64_t)1 << level) * B;
            for (int64_t c = 0; c < m->d; c++) {
                summ *s = &m->nodes[k].s;
                if (s->n[c] < 0 || s->nan[c] < 0 || s->n[c] > span ||
                    s->nan[c] != span - s->n[c] ||
                    (s->nan[c] != 0 && !is_float_dtype(dtype)) ||
                    !summ_col_possible(s, c, dtype))
                    goto corrupt;
            }
        }
        if ((r->cap - r->pos) / m->isz / (size_t)m->d < (size_t)(head_n + tail_n))
            goto corrupt;
        if (raw_room(m, &m->head, &m->head_cap, head_n) != PS_OK ||
            raw_room(m, &m->tail, &m->tail_cap, tail_n) != PS_OK) {
            ps_moments_free(m);
            return PS_ERR_NOMEM;
        }
        get_raw(r, m->head, head_n * m->d, m->isz);
        get_raw(r, m->tail, tail_n * m->d, m->isz);
        if (r->bad || r->pos != r->cap)
            goto corrupt;
        m->head_n = head_n;
        m->tail_n = tail_n;
        m->stop = stop;
        if (!first_nan_possible(m, head_n, tail_n, first_nan))
            goto corrupt;
        m->first_nan = first_nan;
    }
    *out = m;
    return PS_OK;
corrupt:
    ps_moments_free(m);
    return PS_ERR_CORRUPT;
}

int ps_moments_deserialize(ps_moments **out, const uint8_t *buf, size_t size)
{
    cursor r;
    int st;
    if (!out || (!buf && size))
        return PS_ERR_ARG;
    *out = NULL;
    if (size < 8 + 4 + 8)
        return PS_ERR_CORRUPT;
    if (memcmp(buf, MAGIC, 8) != 0)
        return PS_ERR_CORRUPT;
    if (!ps_checksum_ok(buf, size)) {
        /* A newer format is reported as such even if its checksum differs. */
        cursor v = {NULL, buf, 8, size, 0};
        return get_u32(&v) != FORMAT_VERSION ? PS_ERR_VERSION : PS_ERR_CORRUPT;
    }
    r.buf = NULL;
    r.in = buf;
    r.pos = 0;
    r.cap = size - 8;
    r.bad = 0;
    st = read_state(&r, out);
    return st;
}
