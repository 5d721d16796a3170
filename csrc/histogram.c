/*
 * histogram.c -- streaming histogram with np.histogram's exact semantics.
 *
 * The Python layer computes, with numpy, how numpy would bin values of a
 * given dtype (ps_hist_plan, see histogram.h); this file executes the plan
 * in one pass over the caller's buffer, without temporaries beyond a few
 * L1-sized block buffers on the stack.
 *
 * Equal-width bins (PS_HIST_RANGE) follow numpy's fast path value by value:
 *
 *     keep    = x >= first_edge and x <= last_edge      (in lo_dom / hi_dom)
 *     f       = ((T(x) - first_edge) / norm_denom) * n  (in T, then R)
 *     i       = trunc(f); i == n -> n - 1
 *     i      -= T(x) < edges[i]                          (numpy's decrement)
 *     i      += T(x) >= edges[i + 1] and i != n - 1      (numpy's increment)
 *
 * with the same IEEE operations in the same types (the build uses
 * -ffp-contract=off, so no FMA changes a rounding), hence bit-identical
 * counts.  Explicit / log edges (PS_HIST_EDGES / LOG) follow searchsorted:
 * a value v (converted to the common comparison type) with
 * edges[0] <= v <= edges[n] goes to the last bin i < n with edges[i] <= v;
 * the bin is found by a binary search, or by a table guess (linear or
 * logarithmic in v) corrected by comparisons, which gives the same answer.
 *
 * Values are processed in blocks of BLK: convert the block to the domains
 * the plan needs, compute indices (a vectorisable loop), then count.
 * Counting goes to PS_HIST_LANES interleaved copies of the counters (lane =
 * position in the block mod LANES), so runs of values in one bin do not
 * serialize on store-to-load forwarding; result() sums the lanes.
 */
#include "histogram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "serial.h"
#include "simd.h"

#define LANES PS_HIST_LANES
#define BLK 256
#define FORMAT_VERSION 1u
/* "PSHISTG1" read as a little-endian u64 */
#define MAGIC 0x3147545349485350ull
/* header words after the magic: version, kind, nbins, lo_tag, lo_bits,
   hi_tag, hi_bits, edge_dtype, typed */
#define HEADER_WORDS 10

enum { C_IN = 0, C_UNDER = 1, C_OVER = 2, C_NAN = 3 };

struct ps_hist {
    ps_hist_spec spec;
    uint64_t *edges; /* nbins + 1 words */
    /* range kind: the edges as the kernel reads them (double, or float for
       float32 edges): nbins edges, then +inf where edge nbins was (the
       last bin is closed, so numpy never increments past it), then 3 +inf
       of padding read (and ignored) for the NaN / under / over slots */
    void *kedges;
    int64_t *lanes;  /* (nbins + 3) * LANES: bins, under, over, NaN */
    int64_t total;   /* every value seen; bounds every counter */
};

/* ------------------------------------------------------------------------ */
/* Tags and words                                                           */

static int is_int_code(int t) { return t >= PS_INT8 && t <= PS_UINT64; }
static int is_unsigned_code(int t) { return t >= PS_UINT8 && t <= PS_UINT64; }
static int is_float_code(int t)
{
    return t == PS_FLOAT64 || t == PS_FLOAT32 || t == PS_HIST_FLOAT16;
}
static int is_edge_dtype(int t) { return is_int_code(t) || is_float_code(t); }
static int is_bound_tag(int t)
{
    return is_edge_dtype(t) || t == PS_HIST_PYINT || t == PS_HIST_PYFLOAT;
}

static double word_f64(uint64_t w)
{
    double v;
    memcpy(&v, &w, sizeof v);
    return v;
}

static int is_f32_value(double v) { return isnan(v) || (double)(float)v == v; }

/* Exactly a binary16 value (or inf / NaN)? */
static int is_f16_value(double v)
{
    int e;
    if (isnan(v) || isinf(v) || v == 0.0)
        return 1;
    (void)frexp(fabs(v), &e); /* |v| = m * 2**e, m in [0.5, 1) */
    if (e > 16)             /* max finite binary16 is 65504 < 2**16 */
        return 0;
    {
        int q = e - 11 < -24 ? -24 : e - 11; /* ulp exponent */
        double s = ldexp(fabs(v), -q);
        return s == floor(s) && s < 65536.0;
    }
}

/* Is word w a valid value of type tag t?  (floats: finite required when
   `finite`; edges may be infinite, bounds may not) */
static int word_ok(int t, uint64_t w, int finite)
{
    int64_t i = (int64_t)w;
    double v;
    switch (t) {
    case PS_INT8: return i >= -128 && i <= 127;
    case PS_INT16: return i >= -32768 && i <= 32767;
    case PS_INT32: return i >= INT32_MIN && i <= INT32_MAX;
    case PS_INT64: case PS_HIST_PYINT: return 1;
    case PS_UINT8: return w <= 255u;
    case PS_UINT16: return w <= 65535u;
    case PS_UINT32: return w <= 4294967295u;
    case PS_UINT64: return 1;
    case PS_FLOAT64: case PS_HIST_PYFLOAT:
        v = word_f64(w);
        return !isnan(v) && (!finite || isfinite(v));
    case PS_FLOAT32:
        v = word_f64(w);
        return !isnan(v) && (!finite || isfinite(v)) && is_f32_value(v);
    case PS_HIST_FLOAT16:
        v = word_f64(w);
        return !isnan(v) && (!finite || isfinite(v)) && is_f16_value(v);
    default: return 0;
    }
}

/* The value of a word as long double (exact for every tag on x86-64,
   where long double has a 64-bit significand). */
static long double word_ld(int t, uint64_t w)
{
    if (is_float_code(t) || t == PS_HIST_PYFLOAT)
        return (long double)word_f64(w);
    if (t == PS_UINT64)
        return (long double)w;
    return (long double)(int64_t)w;
}

/* a <= b for two words of the same type tag (valid, no NaN). */
static int word_le(int t, uint64_t a, uint64_t b)
{
    if (is_float_code(t))
        return word_f64(a) <= word_f64(b);
    if (is_unsigned_code(t))
        return a <= b;
    return (int64_t)a <= (int64_t)b;
}

static int spec_ok(const ps_hist_spec *s, const uint64_t *edges)
{
    int64_t n = s->nbins;
    if (n < 1 || n > PS_HIST_MAX_BINS)
        return 0;
    if (!is_edge_dtype(s->edge_dtype) || !edges)
        return 0;
    for (int64_t i = 0; i <= n; i++)
        if (!word_ok(s->edge_dtype, edges[i], 0))
            return 0;
    for (int64_t i = 0; i < n; i++)
        if (!word_le(s->edge_dtype, edges[i], edges[i + 1]))
            return 0;
    switch (s->kind) {
    case PS_HIST_RANGE:
        if (s->typed != 0 && s->typed != 1)
            return 0;
        /* numpy's bin_type: float64 (also before the first value), or the
           float32 / float16 of such input */
        if (s->edge_dtype != PS_FLOAT64 &&
            !(s->typed && (s->edge_dtype == PS_FLOAT32 || s->edge_dtype == PS_HIST_FLOAT16)))
            return 0;
        /* numpy refuses equal edges ("Too many bins"); we refuse infinite */
        for (int64_t i = 0; i <= n; i++)
            if (!isfinite(word_f64(edges[i])))
                return 0;
        for (int64_t i = 0; i < n; i++)
            if (!(word_f64(edges[i]) < word_f64(edges[i + 1])))
                return 0;
        break;
    case PS_HIST_LOG:
    case PS_HIST_EDGES:
        if (s->typed != 1)
            return 0;
        break;
    default:
        return 0;
    }
    if (s->kind == PS_HIST_EDGES) {
        if (s->lo_tag != PS_HIST_NOVALUE || s->hi_tag != PS_HIST_NOVALUE || s->lo_bits ||
            s->hi_bits)
            return 0;
    } else {
        if (!is_bound_tag(s->lo_tag) || !is_bound_tag(s->hi_tag) ||
            !word_ok(s->lo_tag, s->lo_bits, 1) || !word_ok(s->hi_tag, s->hi_bits, 1))
            return 0;
        if (word_ld(s->lo_tag, s->lo_bits) > word_ld(s->hi_tag, s->hi_bits))
            return 0;
        if (s->kind == PS_HIST_LOG && !(word_ld(s->lo_tag, s->lo_bits) > 0))
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Life cycle                                                               */

static size_t lanes_len(int64_t n) { return (size_t)(n + 3) * LANES; }

static int alloc_state(ps_hist **out, const ps_hist_spec *spec)
{
    ps_hist *h = calloc(1, sizeof *h);
    if (!h)
        return PS_ERR_NOMEM;
    h->spec = *spec;
    h->edges = malloc((size_t)(spec->nbins + 1) * sizeof *h->edges);
    h->lanes = calloc(lanes_len(spec->nbins), sizeof *h->lanes);
    h->kedges = malloc((size_t)(spec->nbins + 4) * sizeof(double));
    if (!h->edges || !h->lanes || !h->kedges) {
        ps_hist_free(h);
        return PS_ERR_NOMEM;
    }
    *out = h;
    return PS_OK;
}

static void build_kernel_edges(ps_hist *h)
{
    const int64_t n = h->spec.nbins;
    if (h->spec.edge_dtype == PS_FLOAT32) {
        float *k = h->kedges;
        for (int64_t i = 0; i < n; i++)
            k[i] = (float)word_f64(h->edges[i]);
        for (int64_t i = n; i < n + 4; i++)
            k[i] = INFINITY;
    } else {
        double *k = h->kedges;
        for (int64_t i = 0; i < n; i++)
            k[i] = word_f64(h->edges[i]);
        for (int64_t i = n; i < n + 4; i++)
            k[i] = INFINITY;
    }
}

int ps_hist_new(ps_hist **out, const ps_hist_spec *spec, const uint64_t *edges)
{
    int st;
    if (!out || !spec)
        return PS_ERR_ARG;
    *out = NULL;
    if (!spec_ok(spec, edges))
        return PS_ERR_ARG;
    st = alloc_state(out, spec);
    if (st != PS_OK)
        return st;
    memcpy((*out)->edges, edges, (size_t)(spec->nbins + 1) * sizeof *edges);
    build_kernel_edges(*out);
    return PS_OK;
}

void ps_hist_free(ps_hist *h)
{
    if (!h)
        return;
    free(h->edges);
    free(h->lanes);
    free(h->kedges);
    free(h);
}

int ps_hist_copy(ps_hist **out, const ps_hist *h)
{
    int st;
    if (!out || !h)
        return PS_ERR_ARG;
    *out = NULL;
    st = alloc_state(out, &h->spec);
    if (st != PS_OK)
        return st;
    memcpy((*out)->edges, h->edges, (size_t)(h->spec.nbins + 1) * sizeof *h->edges);
    memcpy((*out)->lanes, h->lanes, lanes_len(h->spec.nbins) * sizeof *h->lanes);
    build_kernel_edges(*out);
    (*out)->total = h->total;
    return PS_OK;
}

int ps_hist_get_spec(const ps_hist *h, ps_hist_spec *out)
{
    if (!h || !out)
        return PS_ERR_ARG;
    *out = h->spec;
    return PS_OK;
}

int64_t ps_hist_nbins(const ps_hist *h) { return h ? h->spec.nbins : -1; }

int64_t ps_hist_total(const ps_hist *h) { return h ? h->total : -1; }

int ps_hist_get_edges(const ps_hist *h, uint64_t *out)
{
    if (!h || !out)
        return PS_ERR_ARG;
    memcpy(out, h->edges, (size_t)(h->spec.nbins + 1) * sizeof *out);
    return PS_OK;
}

int ps_hist_set_edges(ps_hist *h, int edge_dtype, const uint64_t *edges)
{
    ps_hist_spec s;
    if (!h || !edges || h->spec.kind != PS_HIST_RANGE || h->spec.typed)
        return PS_ERR_ARG;
    if (edge_dtype != PS_FLOAT64 && edge_dtype != PS_FLOAT32 && edge_dtype != PS_HIST_FLOAT16)
        return PS_ERR_DTYPE;
    s = h->spec;
    s.typed = 1;
    s.edge_dtype = edge_dtype;
    if (!spec_ok(&s, edges))
        return PS_ERR_ARG;
    h->spec = s;
    memcpy(h->edges, edges, (size_t)(s.nbins + 1) * sizeof *edges);
    build_kernel_edges(h);
    return PS_OK;
}

size_t ps_hist_nbytes(const ps_hist *h)
{
    if (!h)
        return 0;
    return sizeof *h + (size_t)(h->spec.nbins + 1) * sizeof *h->edges +
           (size_t)(h->spec.nbins + 4) * sizeof(double) +
           lanes_len(h->spec.nbins) * sizeof *h->lanes;
}

/* ------------------------------------------------------------------------ */
/* Reading values: a walk over n x d values, converted block by block      */

typedef struct {
    const char *base;
    int64_t i, j; /* next value: record i, value j */
    int64_t d;
    ptrdiff_t rs, vs;
} walk;

static void walk_advance(walk *w, int m)
{
    if (w->d == 1) {
        w->i += m;
    } else {
        int64_t j = w->j + m;
        w->i += j / w->d;
        w->j = j % w->d;
    }
}

#define AT(ST, w, i, j) (*(const ST *)(const void *)((w)->base + (i) * (w)->rs + (j) * (w)->vs))

/* dst[k] = CVT(value k of the block), k < m, for source type ST. */
#define CONV_LOOP(ST, CVT)                                                    \
    do {                                                                      \
        if (w->d == 1) {                                                      \
            const int64_t i0 = w->i;                                          \
            for (int k = 0; k < m; k++) {                                     \
                ST v_ = *(const ST *)(const void *)(w->base + (i0 + k) * w->rs); \
                dst[k] = CVT(v_);                                             \
            }                                                                 \
        } else {                                                              \
            int64_t i_ = w->i, j_ = w->j;                                     \
            for (int k = 0; k < m; k++) {                                     \
                ST v_ = AT(ST, w, i_, j_);                                    \
                dst[k] = CVT(v_);                                             \
                if (++j_ == w->d) {                                           \
                    j_ = 0;                                                   \
                    i_++;                                                     \
                }                                                             \
            }                                                                 \
        }                                                                     \
    } while (0)

#define BOOLV(v) ((v) != 0)

/* One conversion function per destination type DT: C's conversions, which
   are numpy's casts (integer -> float rounds to nearest even). */
#define DEFINE_CONV(NAME, DT)                                                 \
    static void NAME(int dtype, const walk *w, DT *dst, int m)                \
    {                                                                         \
        switch (dtype) {                                                      \
        case PS_BOOL: CONV_LOOP(uint8_t, (DT)BOOLV); break;                   \
        case PS_INT8: CONV_LOOP(int8_t, (DT)); break;                         \
        case PS_INT16: CONV_LOOP(int16_t, (DT)); break;                       \
        case PS_INT32: CONV_LOOP(int32_t, (DT)); break;                       \
        case PS_INT64: CONV_LOOP(int64_t, (DT)); break;                       \
        case PS_UINT8: CONV_LOOP(uint8_t, (DT)); break;                       \
        case PS_UINT16: CONV_LOOP(uint16_t, (DT)); break;                     \
        case PS_UINT32: CONV_LOOP(uint32_t, (DT)); break;                     \
        case PS_UINT64: CONV_LOOP(uint64_t, (DT)); break;                     \
        case PS_FLOAT32: CONV_LOOP(float, (DT)); break;                       \
        case PS_FLOAT64: CONV_LOOP(double, (DT)); break;                      \
        default: break;                                                       \
        }                                                                     \
    }

DEFINE_CONV(conv_f64, double)
DEFINE_CONV(conv_f32, float)
DEFINE_CONV(conv_i64, int64_t)
DEFINE_CONV(conv_u64, uint64_t)

/* Block buffers, one per domain, filled on demand. */
typedef struct {
    double f64[BLK];
    float f32[BLK];
    int64_t i64[BLK];
    uint64_t u64[BLK];
    const double *pf64; /* the F64 values (f64, or the caller's buffer) */
    const float *pf32;
    int have[4];
} blockbuf;

/* Software prefetch of the block after next (a 1-D walk): the hardware
   prefetcher alone leaves the first loop over a block waiting on memory.
   A prefetch is a hint that never faults; the address is formed as an
   integer, so no out-of-range pointer is ever made. */
static void prefetch_ahead(const walk *w)
{
#if defined(__GNUC__)
    if (w->d == 1) {
        const ptrdiff_t rs = w->rs < 0 ? -w->rs : w->rs;
        const int step = rs >= 64 ? 1 : (int)(64 / (rs ? rs : 1));
        /* unsigned arithmetic: wraps (harmlessly) instead of overflowing */
        const uintptr_t at = (uintptr_t)w->base +
                             (uintptr_t)(w->i + 2 * BLK) * (uintptr_t)w->rs;
        for (int k = 0; k < BLK; k += step)
            __builtin_prefetch((const void *)(at + (uintptr_t)k * (uintptr_t)w->rs), 0, 3);
    }
#else
    (void)w;
#endif
}

static void need(blockbuf *b, int dom, int dtype, const walk *w, int m)
{
    if (b->have[dom])
        return;
    if (!(b->have[0] | b->have[1] | b->have[2] | b->have[3]))
        prefetch_ahead(w);
    b->have[dom] = 1;
    switch (dom) {
    case PS_HDOM_F64:
        if (dtype == PS_FLOAT64 && w->d == 1 && w->rs == (ptrdiff_t)sizeof(double)) {
            b->pf64 = (const double *)(const void *)(w->base + w->i * w->rs);
        } else {
            conv_f64(dtype, w, b->f64, m);
            b->pf64 = b->f64;
        }
        break;
    case PS_HDOM_F32:
        if (dtype == PS_FLOAT32 && w->d == 1 && w->rs == (ptrdiff_t)sizeof(float)) {
            b->pf32 = (const float *)(const void *)(w->base + w->i * w->rs);
        } else {
            conv_f32(dtype, w, b->f32, m);
            b->pf32 = b->f32;
        }
        break;
    case PS_HDOM_I64: conv_i64(dtype, w, b->i64, m); break;
    default: conv_u64(dtype, w, b->u64, m); break;
    }
}

/* ------------------------------------------------------------------------ */
/* Plan checks                                                              */

static int dom_ok_for(int dom, int dtype)
{
    switch (dom) {
    case PS_HDOM_F64:
    case PS_HDOM_F32: return dtype >= PS_BOOL && dtype <= PS_FLOAT64;
    case PS_HDOM_I64: return dtype >= PS_BOOL && dtype <= PS_UINT32;
    case PS_HDOM_U64: return dtype == PS_BOOL || is_unsigned_code(dtype);
    default: return 0;
    }
}

static int plan_ok(const ps_hist *h, const ps_hist_plan *p)
{
    if (p->dtype < PS_BOOL || p->dtype > PS_FLOAT64)
        return 0;
    if (!dom_ok_for(p->t_dom, p->dtype))
        return 0;
    if (h->spec.kind == PS_HIST_RANGE) {
        if (!dom_ok_for(p->lo_dom, p->dtype) || !dom_ok_for(p->hi_dom, p->dtype))
            return 0;
        /* the arithmetic type is the type of the state's edges */
        if (!(p->t_dom == PS_HDOM_F64 && h->spec.edge_dtype == PS_FLOAT64) &&
            !(p->t_dom == PS_HDOM_F32 && h->spec.edge_dtype == PS_FLOAT32))
            return 0;
        if (p->r_dom != PS_HDOM_F64 && !(p->r_dom == PS_HDOM_F32 && p->t_dom == PS_HDOM_F32))
            return 0;
        if ((p->lo_dom <= PS_HDOM_F32 && isnan(p->lo_f)) ||
            (p->hi_dom <= PS_HDOM_F32 && isnan(p->hi_f)))
            return 0;
    } else {
        if (!p->edges)
            return 0;
        if (p->guess != PS_HGUESS_BSEARCH && p->guess != PS_HGUESS_LINEAR &&
            p->guess != PS_HGUESS_BITS)
            return 0;
        if (p->guess != PS_HGUESS_BSEARCH &&
            (!p->table || p->ntable < 1 || p->ntable > INT32_MAX || p->shift < 0 ||
             p->shift > 63))
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Equal-width bins                                                         */

/* Classes from the range tests: NaN, then !(x >= lo), then !(x <= hi). */
static void classify_range(const ps_hist_plan *p, blockbuf *b, const walk *w, int m,
                           int32_t *cls)
{
    for (int k = 0; k < m; k++)
        cls[k] = C_IN;
    for (int side = 0; side < 2; side++) {
        int dom = side ? p->hi_dom : p->lo_dom;
        int32_t mark = side ? C_OVER : C_UNDER;
        need(b, dom, p->dtype, w, m);
        switch (dom) {
        case PS_HDOM_F64: {
            const double *x = b->pf64;
            const double bound = side ? p->hi_f : p->lo_f;
            for (int k = 0; k < m; k++) {
                int bad = side ? !(x[k] <= bound) : !(x[k] >= bound);
                int32_t c = x[k] != x[k] ? C_NAN : bad ? mark : C_IN;
                cls[k] = cls[k] ? cls[k] : c;
            }
            break;
        }
        case PS_HDOM_F32: {
            const float *x = b->pf32;
            const float bound = (float)(side ? p->hi_f : p->lo_f);
            for (int k = 0; k < m; k++) {
                int bad = side ? !(x[k] <= bound) : !(x[k] >= bound);
                int32_t c = x[k] != x[k] ? C_NAN : bad ? mark : C_IN;
                cls[k] = cls[k] ? cls[k] : c;
            }
            break;
        }
        case PS_HDOM_I64: {
            const int64_t *x = b->i64;
            const int64_t bound = side ? p->hi_i : p->lo_i;
            for (int k = 0; k < m; k++) {
                int bad = side ? x[k] > bound : x[k] < bound;
                cls[k] = cls[k] ? cls[k] : bad ? mark : C_IN;
            }
            break;
        }
        default: {
            const uint64_t *x = b->u64;
            const uint64_t bound = (uint64_t)(side ? p->hi_i : p->lo_i);
            for (int k = 0; k < m; k++) {
                int bad = side ? x[k] > bound : x[k] < bound;
                cls[k] = cls[k] ? cls[k] : bad ? mark : C_IN;
            }
            break;
        }
        }
    }
}

/*
 * Index loop (vectorisable): for each value, the slot numpy's formula
 * gives before its corrections, as a double:
 *   - in range: trunc(f) with f clamped to [0, n - 0.5] (NaN -> 0), which
 *     is numpy's trunc(f) with `== n -> n - 1` (clamping only matters
 *     where numpy itself would index out of bounds);
 *   - NaN / below / above: n - 1 + class (slots n, n + 1, n + 2), and the
 *     value is replaced by NaN so that both corrections are no-ops (every
 *     comparison with NaN is false; the plan's edges are padded to n + 4).
 * nbins <= PS_HIST_MAX_BINS, so every slot fits in int32.
 */
static inline double slot_of(double f, double c, double cap, double n1)
{
    f = f >= 0.0 ? f : 0.0;
    f = f <= cap ? f : cap;
    return c != 0.0 ? n1 + c : f;
}
#define SLOT_OF(f, c, cap, n1) slot_of((f), (c), (cap), (double)(n1))

/* SSE2 (the x86-64 baseline) for the fused float64 index loop: the same
   IEEE operations as the portable loop, so the same slots bit for bit
   (maxpd(f, 0) maps NaN to 0 like `f >= 0 ? f : 0`; -0.0 truncates to 0
   either way).  -DPS_NO_SIMD builds the portable loop only. */
#if defined(__SSE2__) && !defined(PS_NO_SIMD)
#define HAVE_SSE2 1
#include <emmintrin.h>

static int index_f64_sse2(const double *x, int m, const ps_hist_plan *p, double cap,
                          int32_t n1, int32_t *idx, double *xv)
{
    const __m128d first = _mm_set1_pd(p->first_t), denom = _mm_set1_pd(p->denom_r);
    const __m128d nr = _mm_set1_pd(p->n_r), lo = _mm_set1_pd(p->lo_f);
    const __m128d hi = _mm_set1_pd(p->hi_f), capv = _mm_set1_pd(cap);
    const __m128d zero = _mm_setzero_pd(), nan = _mm_set1_pd(NAN);
    const __m128d c1 = _mm_set1_pd((double)n1 + 1.0), c2 = _mm_set1_pd((double)n1 + 2.0);
    const __m128d c3 = _mm_set1_pd((double)n1 + 3.0);
    int k = 0;
    for (; k + 2 <= m; k += 2) {
        const __m128d v = _mm_loadu_pd(x + k);
        __m128d f = _mm_mul_pd(_mm_div_pd(_mm_sub_pd(v, first), denom), nr);
        const __m128d under = _mm_cmplt_pd(v, lo), over = _mm_cmpgt_pd(v, hi);
        const __m128d isnan = _mm_cmpunord_pd(v, v);
        const __m128d out = _mm_or_pd(_mm_or_pd(under, over), isnan);
        const __m128d special = _mm_or_pd(_mm_or_pd(_mm_and_pd(under, c1), _mm_and_pd(over, c2)),
                                          _mm_and_pd(isnan, c3));
        f = _mm_min_pd(_mm_max_pd(f, zero), capv);
        f = _mm_or_pd(_mm_andnot_pd(out, f), special);
        _mm_storel_epi64((__m128i *)(void *)(idx + k), _mm_cvttpd_epi32(f));
        _mm_storeu_pd(xv + k, _mm_or_pd(_mm_andnot_pd(out, v), _mm_and_pd(out, nan)));
    }
    return k;
}

/* float32 values (T = float32): diff = x - first in float, then f in
   double (R = float64: diff widened, divided, multiplied) or in float
   (R = float32: divided and multiplied in float, then widened); classes
   from float comparisons; the same operations as the portable loops. */
static int index_f32_sse2(const float *x, int m, const ps_hist_plan *p, double cap,
                          int32_t n1, int r32, int32_t *idx, float *xv)
{
    const __m128 first = _mm_set1_ps((float)p->first_t), lo = _mm_set1_ps((float)p->lo_f);
    const __m128 hi = _mm_set1_ps((float)p->hi_f), nanf = _mm_set1_ps(NAN);
    const __m128 denomf = _mm_set1_ps((float)p->denom_r), nrf = _mm_set1_ps((float)p->n_r);
    const __m128d denom = _mm_set1_pd(p->denom_r), nr = _mm_set1_pd(p->n_r);
    const __m128d capv = _mm_set1_pd(cap), zero = _mm_setzero_pd();
    const __m128i one = _mm_set1_epi32(1), two = _mm_set1_epi32(2), three = _mm_set1_epi32(3);
    const __m128i n1v = _mm_set1_epi32(n1);
    int k = 0;
    for (; k + 4 <= m; k += 4) {
        const __m128 v = _mm_loadu_ps(x + k);
        const __m128 diff = _mm_sub_ps(v, first);
        const __m128 under = _mm_cmplt_ps(v, lo), over = _mm_cmpgt_ps(v, hi);
        const __m128 isnan = _mm_cmpunord_ps(v, v);
        const __m128 out = _mm_or_ps(_mm_or_ps(under, over), isnan);
        const __m128i outi = _mm_castps_si128(out);
        const __m128i cls = _mm_or_si128(
            _mm_or_si128(_mm_and_si128(_mm_castps_si128(under), one),
                         _mm_and_si128(_mm_castps_si128(over), two)),
            _mm_and_si128(_mm_castps_si128(isnan), three));
        __m128d f0, f1;
        __m128i bins;
        if (r32) {
            const __m128 f = _mm_mul_ps(_mm_div_ps(diff, denomf), nrf);
            f0 = _mm_cvtps_pd(f);
            f1 = _mm_cvtps_pd(_mm_movehl_ps(f, f));
        } else {
            f0 = _mm_mul_pd(_mm_div_pd(_mm_cvtps_pd(diff), denom), nr);
            f1 = _mm_mul_pd(_mm_div_pd(_mm_cvtps_pd(_mm_movehl_ps(diff, diff)), denom), nr);
        }
        f0 = _mm_min_pd(_mm_max_pd(f0, zero), capv);
        f1 = _mm_min_pd(_mm_max_pd(f1, zero), capv);
        bins = _mm_unpacklo_epi64(_mm_cvttpd_epi32(f0), _mm_cvttpd_epi32(f1));
        bins = _mm_or_si128(_mm_andnot_si128(outi, bins),
                            _mm_and_si128(outi, _mm_add_epi32(n1v, cls)));
        _mm_storeu_si128((__m128i *)(void *)(idx + k), bins);
        _mm_storeu_ps(xv + k, _mm_or_ps(_mm_andnot_ps(out, v), _mm_and_ps(out, nanf)));
    }
    return k;
}

/* AVX2 version of index_f64_sse2 (4 values a step), chosen at run time;
   -DPS_NO_AVX2 leaves it out.  Same operations, same slots. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(PS_NO_AVX2)
#define HAVE_AVX2 1
#include <immintrin.h>

__attribute__((target("avx2"))) static int index_f64_avx2(const double *x, int m,
                                                          const ps_hist_plan *p, double cap,
                                                          int32_t n1, int32_t *idx,
                                                          double *xv)
{
    const __m256d first = _mm256_set1_pd(p->first_t), denom = _mm256_set1_pd(p->denom_r);
    const __m256d nr = _mm256_set1_pd(p->n_r), lo = _mm256_set1_pd(p->lo_f);
    const __m256d hi = _mm256_set1_pd(p->hi_f), capv = _mm256_set1_pd(cap);
    const __m256d zero = _mm256_setzero_pd(), nan = _mm256_set1_pd(NAN);
    const __m256d c1 = _mm256_set1_pd((double)n1 + 1.0), c2 = _mm256_set1_pd((double)n1 + 2.0);
    const __m256d c3 = _mm256_set1_pd((double)n1 + 3.0);
    int k = 0;
    for (; k + 4 <= m; k += 4) {
        const __m256d v = _mm256_loadu_pd(x + k);
        __m256d f = _mm256_mul_pd(_mm256_div_pd(_mm256_sub_pd(v, first), denom), nr);
        const __m256d under = _mm256_cmp_pd(v, lo, _CMP_LT_OQ);
        const __m256d over = _mm256_cmp_pd(v, hi, _CMP_GT_OQ);
        const __m256d isnan = _mm256_cmp_pd(v, v, _CMP_UNORD_Q);
        const __m256d out = _mm256_or_pd(_mm256_or_pd(under, over), isnan);
        const __m256d special = _mm256_or_pd(
            _mm256_or_pd(_mm256_and_pd(under, c1), _mm256_and_pd(over, c2)),
            _mm256_and_pd(isnan, c3));
        f = _mm256_min_pd(_mm256_max_pd(f, zero), capv);
        f = _mm256_blendv_pd(f, special, out);
        _mm_storeu_si128((__m128i *)(void *)(idx + k), _mm256_cvttpd_epi32(f));
        _mm256_storeu_pd(xv + k, _mm256_blendv_pd(v, nan, out));
    }
    return k;
}

/* AVX2 version of index_f32_sse2 (8 values a step). */
__attribute__((target("avx2"))) static int index_f32_avx2(const float *x, int m,
                                                          const ps_hist_plan *p, double cap,
                                                          int32_t n1, int r32, int32_t *idx,
                                                          float *xv)
{
    const __m256 first = _mm256_set1_ps((float)p->first_t), lo = _mm256_set1_ps((float)p->lo_f);
    const __m256 hi = _mm256_set1_ps((float)p->hi_f), nanf = _mm256_set1_ps(NAN);
    const __m256 denomf = _mm256_set1_ps((float)p->denom_r), nrf = _mm256_set1_ps((float)p->n_r);
    const __m256d denom = _mm256_set1_pd(p->denom_r), nr = _mm256_set1_pd(p->n_r);
    const __m256d capv = _mm256_set1_pd(cap), zero = _mm256_setzero_pd();
    const __m256i one = _mm256_set1_epi32(1), two = _mm256_set1_epi32(2);
    const __m256i three = _mm256_set1_epi32(3), n1v = _mm256_set1_epi32(n1);
    int k = 0;
    for (; k + 8 <= m; k += 8) {
        const __m256 v = _mm256_loadu_ps(x + k);
        const __m256 diff = _mm256_sub_ps(v, first);
        const __m256 under = _mm256_cmp_ps(v, lo, _CMP_LT_OQ);
        const __m256 over = _mm256_cmp_ps(v, hi, _CMP_GT_OQ);
        const __m256 isnan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
        const __m256 out = _mm256_or_ps(_mm256_or_ps(under, over), isnan);
        const __m256i outi = _mm256_castps_si256(out);
        const __m256i cls = _mm256_or_si256(
            _mm256_or_si256(_mm256_and_si256(_mm256_castps_si256(under), one),
                            _mm256_and_si256(_mm256_castps_si256(over), two)),
            _mm256_and_si256(_mm256_castps_si256(isnan), three));
        __m256d f0, f1;
        __m256i bins;
        if (r32) {
            const __m256 f = _mm256_mul_ps(_mm256_div_ps(diff, denomf), nrf);
            f0 = _mm256_cvtps_pd(_mm256_castps256_ps128(f));
            f1 = _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1));
        } else {
            f0 = _mm256_mul_pd(_mm256_div_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(diff)),
                                             denom), nr);
            f1 = _mm256_mul_pd(_mm256_div_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(diff, 1)),
                                             denom), nr);
        }
        f0 = _mm256_min_pd(_mm256_max_pd(f0, zero), capv);
        f1 = _mm256_min_pd(_mm256_max_pd(f1, zero), capv);
        bins = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm256_cvttpd_epi32(f0)),
                                       _mm256_cvttpd_epi32(f1), 1);
        bins = _mm256_or_si256(_mm256_andnot_si256(outi, bins),
                               _mm256_and_si256(outi, _mm256_add_epi32(n1v, cls)));
        _mm256_storeu_si256((__m256i *)(void *)(idx + k), bins);
        _mm256_storeu_ps(xv + k, _mm256_blendv_ps(v, nanf, out));
    }
    return k;
}

/* The run-time level (simd.h): the CPU, the build and the limit. */
static int cpu_has_avx2(void) { return ps_simd() >= PS_SIMD_AVX2; }
#endif
#endif

/* numpy's decrement and increment, then count in lane `lane`.  The kernel
   edges have +inf at index n, so the increment needs no `i != n - 1` test.
   CLAMP: a binned value below edge 0 would decrement to -1 (numpy would
   then fail); only plans whose lower test does not imply `v >= e[0]` need
   the clamp. */
#define COUNT_ONE(k, lane, CLAMP)                                             \
    do {                                                                      \
        const T v_ = xv[k];                                                   \
        int32_t i_ = idx[k];                                                  \
        i_ -= v_ < e[i_];                                                     \
        if (CLAMP)                                                            \
            i_ = i_ < 0 ? 0 : i_;                                             \
        i_ += v_ >= e[i_ + 1];                                                \
        lanes[(int64_t)i_ * LANES + (lane)]++;                                \
    } while (0)

#define COUNT_LOOP(CLAMP)                                                     \
    do {                                                                      \
        int k = 0;                                                            \
        for (; k + 4 <= m; k += 4) {                                          \
            COUNT_ONE(k, 0, CLAMP);                                           \
            COUNT_ONE(k + 1, 1, CLAMP);                                       \
            COUNT_ONE(k + 2, 2, CLAMP);                                       \
            COUNT_ONE(k + 3, 3, CLAMP);                                       \
        }                                                                     \
        for (; k < m; k++)                                                    \
            COUNT_ONE(k, k & 3, CLAMP);                                       \
    } while (0)

#define COUNT_BLOCK()                                                         \
    do {                                                                      \
        if (fused && (T)p->lo_f >= e[0])                                      \
            COUNT_LOOP(0);                                                    \
        else                                                                  \
            COUNT_LOOP(1);                                                    \
    } while (0)

static void range_block(ps_hist *h, const ps_hist_plan *p, const walk *w, int m)
{
    blockbuf b;
    int32_t cls[BLK];
    int32_t idx[BLK];
    const int32_t n1 = (int32_t)(h->spec.nbins - 1);
    const double cap = (double)h->spec.nbins - 0.5;
    int64_t *lanes = h->lanes;
    /* the usual case: both tests in the arithmetic type, one fused loop */
    const int fused = p->lo_dom == p->t_dom && p->hi_dom == p->t_dom && p->lo_f <= p->hi_f;
    b.have[0] = b.have[1] = b.have[2] = b.have[3] = 0;
    if (!fused)
        classify_range(p, &b, w, m, cls);
    need(&b, p->t_dom, p->dtype, w, m);
    if (p->t_dom == PS_HDOM_F64) {
        typedef double T;
        double xv[BLK];
        const double *restrict x = b.pf64;
        const double *e = (const double *)h->kedges;
        const double first = p->first_t, denom = p->denom_r, nr = p->n_r;
        if (fused) {
            const double lo = p->lo_f, hi = p->hi_f;
            int k = 0;
#if HAVE_AVX2
            if (cpu_has_avx2())
                k = index_f64_avx2(x, m, p, cap, n1, idx, xv);
            else
#endif
#if HAVE_SSE2
                k = index_f64_sse2(x, m, p, cap, n1, idx, xv);
#endif
            for (; k < m; k++) {
                const double v = x[k];
                /* lo <= hi: at most one of the three holds */
                const double c = (v < lo ? 1.0 : 0.0) + (v > hi ? 2.0 : 0.0) +
                                 (v != v ? 3.0 : 0.0);
                idx[k] = (int32_t)SLOT_OF(((v - first) / denom) * nr, c, cap, n1);
                xv[k] = c != 0 ? NAN : v;
            }
        } else {
            for (int k = 0; k < m; k++) {
                const double v = x[k];
                const double c = (double)cls[k];
                idx[k] = (int32_t)SLOT_OF(((v - first) / denom) * nr, c, cap, n1);
                xv[k] = c != 0 ? NAN : v;
            }
        }
        COUNT_BLOCK();
    } else {
        typedef float T;
        float xv[BLK];
        const float *restrict x = b.pf32;
        const float *e = (const float *)h->kedges;
        const float first = (float)p->first_t;
        int k0 = 0;
        if (fused) {
            const float lo = (float)p->lo_f, hi = (float)p->hi_f;
#if HAVE_AVX2
            if (cpu_has_avx2())
                k0 = index_f32_avx2(x, m, p, cap, n1, p->r_dom == PS_HDOM_F32, idx, xv);
            else
#endif
#if HAVE_SSE2
                k0 = index_f32_sse2(x, m, p, cap, n1, p->r_dom == PS_HDOM_F32, idx, xv);
#endif
            for (int k = k0; k < m; k++) {
                const float v = x[k];
                cls[k] = (int32_t)((v < lo ? 1.0f : 0.0f) + (v > hi ? 2.0f : 0.0f) +
                                   (v != v ? 3.0f : 0.0f));
            }
        }
        if (p->r_dom == PS_HDOM_F64) {
            const double denom = p->denom_r, nr = p->n_r;
            for (int k = k0; k < m; k++) {
                const float diff = x[k] - first;
                const double c = (double)cls[k];
                idx[k] = (int32_t)SLOT_OF(((double)diff / denom) * nr, c, cap, n1);
            }
        } else {
            const float denom = (float)p->denom_r, nr = (float)p->n_r;
            for (int k = k0; k < m; k++) {
                const float diff = x[k] - first;
                const float f = (diff / denom) * nr;
                const double c = (double)cls[k];
                idx[k] = (int32_t)SLOT_OF((double)f, c, cap, n1);
            }
        }
        for (int k = k0; k < m; k++)
            xv[k] = cls[k] != 0 ? NAN : x[k];
        COUNT_BLOCK();
    }
}

/* ------------------------------------------------------------------------ */
/* Explicit / log edges                                                     */

/* Count one value into its slot. */
#define BUMP(lanes, slot, k) ((lanes)[(slot) * LANES + ((k) & (LANES - 1))]++)

/* Last i in [0, n) with e[i] <= v, given e[0] <= v (branchless). */
#define BSEARCH(T)                                                            \
    static inline int64_t bsearch_##T(const T *e, int64_t n, T v)             \
    {                                                                         \
        const T *base = e;                                                    \
        int64_t len = n;                                                      \
        while (len > 1) {                                                     \
            int64_t half = len / 2;                                           \
            base = base[half] <= v ? base + half : base;                      \
            len -= half;                                                      \
        }                                                                     \
        return base - e;                                                      \
    }

typedef uint64_t u64;
typedef int64_t i64;
BSEARCH(double)
BSEARCH(float)
BSEARCH(i64)
BSEARCH(u64)

/*
 * A block in two loops: classes (NaN / below e[0] / above e[n]) and table
 * cells, then bins.  A binned value takes the table's bin for its cell,
 * moves at most one bin up, and is checked, e[g] <= v < e[g + 1] (or
 * g == n - 1): the answer is then the last i < n with e[i] <= v, which is
 * searchsorted's; when the check fails (a cell holding several edges, or
 * rounding at a cell's border) the binary search decides.
 */
#define EDGES_BLOCK(T, X, ISFLOAT)                                            \
    do {                                                                      \
        const T *x = (X);                                                     \
        const T *e = (const T *)p->edges;                                     \
        const T e0 = e[0], en = e[n];                                         \
        if (ISFLOAT) { /* arithmetic form: vectorises */                      \
            for (int k = 0; k < m; k++) {                                     \
                const T v = x[k];                                             \
                cls[k] = (int32_t)((v < e0 ? (T)1 : (T)0) + (v > en ? (T)2 : (T)0) + \
                                   (v != v ? (T)3 : (T)0));                   \
            }                                                                 \
        } else {                                                              \
            for (int k = 0; k < m; k++)                                       \
                cls[k] = (int32_t)((x[k] < e0) + 2 * (x[k] > en));            \
        }                                                                     \
        if (guess == PS_HGUESS_LINEAR) {                                      \
            for (int k = 0; k < m; k++) {                                     \
                double c = ((double)x[k] - ga) * gb;                          \
                c = c >= 0.0 ? c : 0.0; /* NaN -> 0 */                        \
                c = c <= top ? c : top;                                       \
                cell[k] = (int32_t)c;                                         \
            }                                                                 \
        } else if (guess == PS_HGUESS_BITS) {                                 \
            for (int k = 0; k < m; k++) {                                     \
                const double d = (double)x[k];                                \
                uint64_t bits;                                                \
                int64_t c;                                                    \
                memcpy(&bits, &d, sizeof bits);                               \
                c = (int64_t)(bits >> shift) - key0;                          \
                c = c < 0 ? 0 : c;                                            \
                cell[k] = (int32_t)(c > ntop ? ntop : c);                     \
            }                                                                 \
        }                                                                     \
        if (guess == PS_HGUESS_BSEARCH) {                                     \
            for (int k = 0; k < m; k++) {                                     \
                const T v = x[k];                                             \
                const int32_t c = cls[k];                                     \
                BUMP(lanes, c ? n - 1 + c : bsearch_##T(e, n, v), k);         \
            }                                                                 \
        } else {                                                              \
            for (int k = 0; k < m; k++) {                                     \
                const T v = x[k];                                             \
                const int32_t c = cls[k];                                     \
                /* unsigned: a negative entry clamps to n - 1 too */        \
                uint64_t gu = (uint64_t)(uint32_t)table[cell[k]];             \
                int64_t g = (int64_t)(gu < (uint64_t)n ? gu : (uint64_t)(n - 1)); \
                int ok;                                                       \
                g += (v >= e[g + 1]) & (g != n - 1);                          \
                ok = (e[g] <= v) & ((v < e[g + 1]) | (g == n - 1));           \
                if (c)                                                        \
                    g = n - 1 + c;                                            \
                else if (!ok)                                                 \
                    g = bsearch_##T(e, n, v);                                 \
                BUMP(lanes, g, k);                                            \
            }                                                                 \
        }                                                                     \
    } while (0)

static void edges_block(ps_hist *h, const ps_hist_plan *p, const walk *w, int m)
{
    blockbuf b;
    int32_t cls[BLK];
    int32_t cell[BLK];
    const int64_t n = h->spec.nbins;
    int64_t *lanes = h->lanes;
    /* plan fields in locals: the counter stores may alias them otherwise */
    const int guess = p->guess;
    const double ga = p->guess_a, gb = p->guess_b;
    const int64_t key0 = p->key0, ntop = p->ntable - 1;
    const double top = (double)ntop;
    const int shift = p->shift;
    const int32_t *table = p->table;
    b.have[0] = b.have[1] = b.have[2] = b.have[3] = 0;
    need(&b, p->t_dom, p->dtype, w, m);
    switch (p->t_dom) {
    case PS_HDOM_F64: EDGES_BLOCK(double, b.pf64, 1); break;
    case PS_HDOM_F32: EDGES_BLOCK(float, b.pf32, 1); break;
    case PS_HDOM_I64: EDGES_BLOCK(i64, b.i64, 0); break;
    default: EDGES_BLOCK(u64, b.u64, 0); break;
    }
}

/* ------------------------------------------------------------------------ */
/* Updates, merge, result                                                   */

int ps_hist_update(ps_hist *h, const ps_hist_plan *p, const void *data, int64_t n,
                   int64_t d, ptrdiff_t record_stride, ptrdiff_t value_stride)
{
    walk w;
    int64_t count, done;
    if (!h || !p || n < 0 || d < 0)
        return PS_ERR_ARG;
    if (n == 0 || d == 0)
        return PS_OK;
    if (!data || !plan_ok(h, p))
        return PS_ERR_ARG;
    if (h->spec.kind == PS_HIST_RANGE && !h->spec.typed)
        return PS_ERR_UNSET;
    if (d > INT64_MAX / n)
        return PS_ERR_OVERFLOW;
    count = n * d;
    if (count > INT64_MAX - h->total)
        return PS_ERR_OVERFLOW;
    w.base = (const char *)data;
    w.i = 0;
    w.j = 0;
    w.d = d;
    w.rs = record_stride;
    w.vs = value_stride;
    if (d > 1 && record_stride == (ptrdiff_t)d * value_stride) {
        /* rows follow each other: one run of n * d values */
        w.d = 1;
        w.rs = value_stride;
    }
    for (done = 0; done < count;) {
        int m = count - done < BLK ? (int)(count - done) : BLK;
        if (h->spec.kind == PS_HIST_RANGE)
            range_block(h, p, &w, m);
        else
            edges_block(h, p, &w, m);
        walk_advance(&w, m);
        done += m;
    }
    h->total += count;
    return PS_OK;
}

int ps_hist_add(ps_hist *h, const int64_t *counts, int64_t under, int64_t over,
                int64_t nan_count)
{
    const int64_t n = h ? h->spec.nbins : 0;
    int64_t sum = 0;
    if (!h || under < 0 || over < 0 || nan_count < 0)
        return PS_ERR_ARG;
    if (h->spec.kind == PS_HIST_RANGE && !h->spec.typed)
        return PS_ERR_UNSET;
    for (int64_t i = 0; i < n + 3; i++) {
        int64_t c = i < n ? (counts ? counts[i] : 0) : i == n ? under : i == n + 1 ? over : nan_count;
        if (c < 0)
            return PS_ERR_ARG;
        if (c > INT64_MAX - sum)
            return PS_ERR_OVERFLOW;
        sum += c;
    }
    if (sum > INT64_MAX - h->total)
        return PS_ERR_OVERFLOW;
    for (int64_t i = 0; i < n; i++)
        h->lanes[i * LANES] += counts ? counts[i] : 0;
    h->lanes[n * LANES] += under;
    h->lanes[(n + 1) * LANES] += over;
    h->lanes[(n + 2) * LANES] += nan_count;
    h->total += sum;
    return PS_OK;
}

static int same_spec(const ps_hist_spec *a, const ps_hist_spec *b)
{
    return a->kind == b->kind && a->nbins == b->nbins && a->lo_tag == b->lo_tag &&
           a->hi_tag == b->hi_tag && a->lo_bits == b->lo_bits && a->hi_bits == b->hi_bits;
}

int ps_hist_merge(ps_hist *a, const ps_hist *b)
{
    size_t len;
    if (!a || !b)
        return PS_ERR_ARG;
    if (!same_spec(&a->spec, &b->spec))
        return PS_ERR_MISMATCH;
    len = (size_t)(a->spec.nbins + 1) * sizeof *a->edges;
    if (a->spec.typed && b->spec.typed &&
        (a->spec.edge_dtype != b->spec.edge_dtype || memcmp(a->edges, b->edges, len) != 0))
        return PS_ERR_MISMATCH;
    if (b->total > INT64_MAX - a->total)
        return PS_ERR_OVERFLOW;
    if (!a->spec.typed && b->spec.typed) {
        a->spec.typed = 1;
        a->spec.edge_dtype = b->spec.edge_dtype;
        memcpy(a->edges, b->edges, len);
        build_kernel_edges(a);
    }
    if (a == b) {
        for (size_t i = 0; i < lanes_len(a->spec.nbins); i++)
            a->lanes[i] *= 2;
    } else {
        for (size_t i = 0; i < lanes_len(a->spec.nbins); i++)
            a->lanes[i] += b->lanes[i];
    }
    a->total += b->total;
    return PS_OK;
}

static int64_t slot_total(const ps_hist *h, int64_t s)
{
    int64_t c = 0;
    for (int l = 0; l < LANES; l++)
        c += h->lanes[s * LANES + l];
    return c;
}

int ps_hist_result(const ps_hist *h, int64_t *counts, int64_t *outside)
{
    const int64_t n = h ? h->spec.nbins : 0;
    if (!h || !counts || !outside)
        return PS_ERR_ARG;
    for (int64_t s = 0; s < n; s++)
        counts[s] = slot_total(h, s);
    for (int k = 0; k < 3; k++)
        outside[k] = slot_total(h, n + k);
    return PS_OK;
}

/* ------------------------------------------------------------------------ */
/* Serialization: u64 words, little-endian, FNV-1a 64 checksum at the end   */

static void write_state(ps_writer *w, const void *state)
{
    const ps_hist *h = state;
    const ps_hist_spec *s = &h->spec;
    ps_put_u64(w, MAGIC);
    ps_put_u64(w, FORMAT_VERSION);
    ps_put_i64(w, s->kind);
    ps_put_i64(w, s->nbins);
    ps_put_i64(w, s->lo_tag);
    ps_put_u64(w, s->lo_bits);
    ps_put_i64(w, s->hi_tag);
    ps_put_u64(w, s->hi_bits);
    ps_put_i64(w, s->edge_dtype);
    ps_put_i64(w, s->typed);
    for (int64_t i = 0; i <= s->nbins; i++)
        ps_put_u64(w, h->edges[i]);
    for (int64_t i = 0; i < s->nbins + 3; i++)
        ps_put_i64(w, slot_total(h, i));
}

int ps_hist_serialize(const ps_hist *h, uint8_t *buf, size_t cap, size_t *size)
{
    return ps_serialize_checked(write_state, h, buf, cap, size);
}

/* A 64-bit field that must hold a small int. */
static int get_small(ps_reader *r, int *out)
{
    int64_t v = ps_get_i64(r);
    if (v < -1000 || v > 1000)
        return 0;
    *out = (int)v;
    return 1;
}

int ps_hist_deserialize(ps_hist **out, const uint8_t *buf, size_t size)
{
    ps_reader r;
    ps_hist_spec s;
    uint64_t *edges = NULL;
    ps_hist *h = NULL;
    int64_t n, total = 0;
    int st = PS_ERR_CORRUPT;
    if (!out || (!buf && size))
        return PS_ERR_ARG;
    *out = NULL;
    if (size < 8 * (HEADER_WORDS + 1) || size % 8 != 0)
        return PS_ERR_CORRUPT;
    {
        ps_reader t = {buf, 0, size, 0};
        uint64_t magic = ps_get_u64(&t), version = ps_get_u64(&t);
        if (magic != MAGIC)
            return PS_ERR_CORRUPT;
        if (!ps_checksum_ok(buf, size))
            /* a newer format is reported as such even if its checksum differs */
            return version != FORMAT_VERSION ? PS_ERR_VERSION : PS_ERR_CORRUPT;
        if (version != FORMAT_VERSION)
            return PS_ERR_VERSION;
    }
    r.in = buf;
    r.pos = 16;
    r.cap = size - 8;
    r.bad = 0;
    memset(&s, 0, sizeof s);
    if (!get_small(&r, &s.kind))
        return PS_ERR_CORRUPT;
    n = ps_get_i64(&r);
    if (!get_small(&r, &s.lo_tag))
        return PS_ERR_CORRUPT;
    s.lo_bits = ps_get_u64(&r);
    if (!get_small(&r, &s.hi_tag))
        return PS_ERR_CORRUPT;
    s.hi_bits = ps_get_u64(&r);
    if (!get_small(&r, &s.edge_dtype) || !get_small(&r, &s.typed) || r.bad)
        return PS_ERR_CORRUPT;
    /* exactly (n + 1) edges and n + 3 counters remain */
    if (n < 1 || (uint64_t)n > (r.cap - r.pos) / 16 ||
        r.cap - r.pos != (size_t)(2 * n + 4) * 8)
        return PS_ERR_CORRUPT;
    s.nbins = n;
    edges = malloc((size_t)(n + 1) * sizeof *edges);
    if (!edges)
        return PS_ERR_NOMEM;
    for (int64_t i = 0; i <= n; i++)
        edges[i] = ps_get_u64(&r);
    st = ps_hist_new(&h, &s, edges);
    free(edges);
    if (st != PS_OK)
        return st == PS_ERR_NOMEM ? st : PS_ERR_CORRUPT;
    for (int64_t i = 0; i < n + 3; i++) {
        int64_t c = ps_get_i64(&r);
        if (c < 0 || c > INT64_MAX - total)
            goto corrupt;
        total += c;
        h->lanes[i * LANES] = c;
    }
    if (r.bad || r.pos != r.cap)
        goto corrupt;
    /* an untyped range state has seen no values */
    if (s.kind == PS_HIST_RANGE && !s.typed && total != 0)
        goto corrupt;
    h->total = total;
    *out = h;
    return PS_OK;
corrupt:
    ps_hist_free(h);
    return PS_ERR_CORRUPT;
}
