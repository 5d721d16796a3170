/*
 * ddsketch.c -- relative-error quantile sketch (see ddsketch.h for the
 * mapping, the error bound and the collapse rule).
 *
 * Layout.  Each store (0: positive values, 1: negative values, by |x|)
 * is a dense array of uint64 counts: c[j] counts bucket index off + j.
 * [lo, hi] is the range of non-empty buckets (all slots outside it are
 * zero); the array covers at least [lo, hi] and at most 2 * max_buckets
 * slots.  It grows geometrically and is re-placed (slack on the side it
 * grows towards) when the range leaves it.
 *
 * Hot loop.  Values are processed in blocks of BLOCK (L1-resident):
 *   pass 1 (branch-free, vectorisable): per value the key
 *          (index << 1 | sign), or -1 for zeros / subnormals / inf / NaN,
 *          the per-sign min and max index and the min / max value;
 *   between the passes: per store, the collapse floor
 *          L = max(hi, block max) - max_buckets + 1 is applied (buckets
 *          below L fold into L) and the array is made to cover the block's
 *          clamped range -- once per block, so pass 2 never checks bounds;
 *   pass 2: one increment per value, c[sign][max(index, L) - off]++;
 *          the rare special values take a branch.
 * Non-float64 or non-contiguous input is first converted into a block
 * buffer of doubles (integers are rounded to the nearest double).
 *
 * The state after any sequence of updates and merges is a function of the
 * multiset of values only: counts of clamp(index, L) with L derived from
 * the largest index ever seen, exact integer counts, and exact min / max
 * with signed zeros canonicalised.
 */
#include "ddsketch.h"

#include "serial.h"
#include "simd.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 1024
#define MIN_CAP 64
/* Pass 1 prefetches this far ahead: the hardware prefetcher alone leaves
   it waiting on memory (3 -> 1.3 ns/value for data beyond the caches).
   The address is formed as an integer (a pointer past the array would be
   undefined behaviour; a prefetch of any address is harmless). */
#define PREFETCH_BYTES 16384
#ifdef __GNUC__
#define PREFETCH(p) __builtin_prefetch((const void *)((uintptr_t)(p) + PREFETCH_BYTES))
#else
#define PREFETCH(p) ((void)0)
#endif
#define FORMAT_VERSION 1u
#define ALPHA_MIN 1e-5
#define ALPHA_MAX 0.5
/* 0.7 * (1 + 1e-6): 7/10 is 1 / min d(E + p)/d(ln x); the factor is the
   safety margin of the error bound (ddsketch.h). */
#define MULT_NUM 0.7000007

static const unsigned char MAGIC[8] = {'P', 'S', 'D', 'D', 'S', 'K', 'C', 'H'};

/* p(s) = ((CA s + CB) s + CC) s, p(0) = 0, p(1) = 1, increasing on [0, 1];
   p'(s) = (DA s + DB) s + CC. */
static const double CA = 6.0 / 35.0;
static const double CB = -3.0 / 5.0;
static const double CC = 10.0 / 7.0;
static const double DA = 18.0 / 35.0;
static const double DB = -6.0 / 5.0;

#define MANT_MASK 0x000fffffffffffffull
#define ONE_BITS 0x3ff0000000000000ull

typedef struct {
    uint64_t *c;
    int64_t off, cap;
    int64_t lo, hi; /* non-empty range, valid when nonempty */
    int nonempty;
} store;

struct ps_ddsketch {
    double alpha, mult;
    int64_t mb;
    uint64_t n;              /* non-NaN values */
    uint64_t zero, pinf, ninf, nan;
    double mn, mx;           /* +inf / -inf while n == 0 */
    store st[2];
};

/* ------------------------------------------------------------------------ */
/* Mapping                                                                  */

/* Bucket index of the magnitude encoded in u (meaningful for normal
   values; bounded and UB-free for every bit pattern). */
static inline int32_t mag_index(double mult, uint64_t u)
{
    uint32_t ex = (uint32_t)(u >> 52) & 0x7ffu;
    uint64_t mbits = (u & MANT_MASK) | ONE_BITS;
    double m, s, p, y;
    memcpy(&m, &mbits, sizeof m);
    s = m - 1.0;
    p = ((CA * s + CB) * s + CC) * s;
    y = (double)(int32_t)ex + p;
    return (int32_t)(mult * y);
}

static double multiplier(double alpha)
{
    return MULT_NUM / log((1.0 + alpha) / (1.0 - alpha));
}

/* Solve p(s) = t for t in [0, 1]: Newton from s = t, a fixed number of
   steps (p' >= 26/35 and |p''| <= 6/5 on [0, 1], so the error squares at
   each step from <= 0.3: six steps reach the rounding floor).  Only
   + - * / so the Python twin reproduces it bit for bit. */
static double pinv(double t)
{
    double s = t;
    for (int k = 0; k < 6; k++) {
        double f = ((CA * s + CB) * s + CC) * s - t;
        double d = (DA * s + DB) * s + CC;
        s = s - f / d;
    }
    if (s < 0.0)
        s = 0.0;
    if (s > 1.0)
        s = 1.0;
    return s;
}

/* The value bucket i returns: v = 2 lo hi / (lo + hi), lo and hi its
   bounds, computed scaled so that nothing overflows before the final
   ldexp: lo = a 2**(Elo - 1023), hi = b 2**(Ehi - 1023), a, b in [1, 2],
   v = 2ab / (a + b 2**(Ehi - Elo)) * 2**(Ehi - 1023).  Ehi - Elo <= 2 since
   a bucket spans at most ln 3 (alpha <= 1/2). */
static double bucket_value(double mult, int64_t i)
{
    double ylo = (double)i / mult, yhi = (double)(i + 1) / mult;
    double elo = floor(ylo), ehi = floor(yhi);
    double a = 1.0 + pinv(ylo - elo);
    double b = 1.0 + pinv(yhi - ehi);
    int d = (int)(ehi - elo);
    double v = 2.0 * a * b / (a + ldexp(b, d));
    return ldexp(v, (int)ehi - 1023);
}

/* ------------------------------------------------------------------------ */
/* Stores                                                                   */

typedef struct {
    int64_t L;       /* collapse floor after the operation */
    int64_t newlo, newhi;
    uint64_t *newc;  /* replacement array, or NULL */
    int64_t newoff, newcap;
    int active;
} plan;

/* Plan adding indices within [bmin, bmax] (before clamping) to st.
   Allocates the replacement array if one is needed; st is unchanged. */
static int plan_store(const store *st, int64_t bmin, int64_t bmax, int64_t mb, plan *pl)
{
    int64_t newhi = st->nonempty && st->hi > bmax ? st->hi : bmax;
    int64_t L = newhi - mb + 1;
    int64_t blo = bmin > L ? bmin : L;
    int64_t newlo = blo;
    pl->active = 1;
    pl->newc = NULL;
    if (st->nonempty) {
        int64_t olo = st->lo > L ? st->lo : L; /* folding lands on L */
        if (olo < newlo)
            newlo = olo;
    }
    pl->L = L;
    pl->newlo = newlo;
    pl->newhi = newhi;
    if (st->cap > 0 && newlo >= st->off && newhi < st->off + st->cap)
        return PS_OK;
    {
        int64_t need = newhi - newlo + 1; /* <= mb */
        int64_t cap = st->cap, slack;
        int up = st->cap > 0 && newhi >= st->off + st->cap;
        int down = st->cap > 0 && newlo < st->off;
        if (need > cap) {
            int64_t grown = 2 * cap > MIN_CAP ? 2 * cap : MIN_CAP;
            if (grown > 2 * mb)
                grown = 2 * mb;
            cap = need > grown ? need : grown;
        }
        slack = cap - need;
        if (up && !down)
            pl->newoff = newlo;
        else if (down && !up)
            pl->newoff = newhi - cap + 1;
        else
            pl->newoff = newlo - slack / 2;
        pl->newcap = cap;
        pl->newc = calloc((size_t)cap, sizeof(uint64_t));
        if (!pl->newc)
            return PS_ERR_NOMEM;
    }
    return PS_OK;
}

static void plan_discard(plan *pl)
{
    if (pl->active)
        free(pl->newc);
    pl->newc = NULL;
    pl->active = 0;
}

/* Apply a plan: fold the buckets below L into L, move to the new array if
   any.  Afterwards the array covers [newlo, newhi] and lo / hi are set to
   them (the caller adds the counts that make them non-empty). */
static void plan_commit(store *st, plan *pl)
{
    uint64_t pending = 0;
    int64_t L = pl->L;
    if (st->nonempty && st->lo < L) {
        int64_t top = st->hi < L - 1 ? st->hi : L - 1;
        for (int64_t i = st->lo; i <= top; i++) {
            pending += st->c[i - st->off];
            st->c[i - st->off] = 0;
        }
        if (st->hi < L)
            st->nonempty = 0;
        else
            st->lo = L;
    }
    if (pl->newc) {
        if (st->nonempty)
            memcpy(pl->newc + (st->lo - pl->newoff), st->c + (st->lo - st->off),
                   (size_t)(st->hi - st->lo + 1) * sizeof(uint64_t));
        free(st->c);
        st->c = pl->newc;
        st->off = pl->newoff;
        st->cap = pl->newcap;
        pl->newc = NULL;
    }
    if (pending)
        st->c[L - st->off] += pending;
    st->lo = pl->newlo;
    st->hi = pl->newhi;
    st->nonempty = 1;
    pl->active = 0;
}

/* ------------------------------------------------------------------------ */
/* Life cycle                                                               */

static void init_fields(ps_ddsketch *s, double alpha, int64_t mb)
{
    memset(s, 0, sizeof *s);
    s->alpha = alpha;
    s->mult = multiplier(alpha);
    s->mb = mb;
    s->mn = INFINITY;
    s->mx = -INFINITY;
}

static int valid_params(double alpha, int64_t mb)
{
    return alpha >= ALPHA_MIN && alpha <= ALPHA_MAX && mb >= 1 &&
           mb <= PS_DDSKETCH_MAX_BUCKETS_LIMIT;
}

int ps_ddsketch_new(ps_ddsketch **out, double alpha, int64_t max_buckets)
{
    ps_ddsketch *s;
    if (!out)
        return PS_ERR_ARG;
    *out = NULL;
    if (!valid_params(alpha, max_buckets))
        return PS_ERR_ARG;
    s = malloc(sizeof *s);
    if (!s)
        return PS_ERR_NOMEM;
    init_fields(s, alpha, max_buckets);
    *out = s;
    return PS_OK;
}

void ps_ddsketch_free(ps_ddsketch *s)
{
    if (!s)
        return;
    free(s->st[0].c);
    free(s->st[1].c);
    free(s);
}

int ps_ddsketch_copy(ps_ddsketch **out, const ps_ddsketch *s)
{
    ps_ddsketch *t;
    if (!out || !s)
        return PS_ERR_ARG;
    *out = NULL;
    t = malloc(sizeof *t);
    if (!t)
        return PS_ERR_NOMEM;
    *t = *s;
    for (int g = 0; g < 2; g++) {
        t->st[g].c = NULL;
        if (s->st[g].cap > 0) {
            t->st[g].c = malloc((size_t)s->st[g].cap * sizeof(uint64_t));
            if (!t->st[g].c) {
                ps_ddsketch_free(t);
                return PS_ERR_NOMEM;
            }
            memcpy(t->st[g].c, s->st[g].c, (size_t)s->st[g].cap * sizeof(uint64_t));
        }
    }
    *out = t;
    return PS_OK;
}

double ps_ddsketch_alpha(const ps_ddsketch *s) { return s ? s->alpha : NAN; }
int64_t ps_ddsketch_max_buckets(const ps_ddsketch *s) { return s ? s->mb : 0; }
double ps_ddsketch_multiplier(const ps_ddsketch *s) { return s ? s->mult : NAN; }
uint64_t ps_ddsketch_count(const ps_ddsketch *s) { return s ? s->n : 0; }
uint64_t ps_ddsketch_nan_count(const ps_ddsketch *s) { return s ? s->nan : 0; }
uint64_t ps_ddsketch_zero_count(const ps_ddsketch *s) { return s ? s->zero : 0; }

uint64_t ps_ddsketch_inf_count(const ps_ddsketch *s, int negative)
{
    return s ? (negative ? s->ninf : s->pinf) : 0;
}

double ps_ddsketch_min(const ps_ddsketch *s) { return s && s->n ? s->mn : NAN; }
double ps_ddsketch_max(const ps_ddsketch *s) { return s && s->n ? s->mx : NAN; }

int64_t ps_ddsketch_index(const ps_ddsketch *s, double x)
{
    uint64_t u;
    uint32_t ex;
    if (!s)
        return -1;
    memcpy(&u, &x, sizeof u);
    ex = (uint32_t)(u >> 52) & 0x7ffu;
    if (ex == 0 || ex == 0x7ffu)
        return -1;
    return mag_index(s->mult, u);
}

double ps_ddsketch_bucket_value(const ps_ddsketch *s, int64_t index)
{
    if (!s || index < 0 || index > mag_index(s->mult, 0x7fefffffffffffffull))
        return NAN;
    return bucket_value(s->mult, index);
}

int ps_ddsketch_buckets(const ps_ddsketch *s, int negative, int64_t *lo, int64_t *nbuckets,
                        uint64_t *counts, int64_t cap)
{
    const store *st;
    int64_t nb;
    if (!s || !lo || !nbuckets)
        return PS_ERR_ARG;
    st = &s->st[negative ? 1 : 0];
    nb = st->nonempty ? st->hi - st->lo + 1 : 0;
    *lo = st->nonempty ? st->lo : 0;
    *nbuckets = nb;
    if (!counts)
        return PS_OK;
    if (cap < nb)
        return PS_ERR_BUFSIZE;
    if (nb)
        memcpy(counts, st->c + (st->lo - st->off), (size_t)nb * sizeof(uint64_t));
    return PS_OK;
}

int64_t ps_ddsketch_allocated(const ps_ddsketch *s)
{
    return s ? (s->st[0].cap + s->st[1].cap) * (int64_t)sizeof(uint64_t) : 0;
}

/* ------------------------------------------------------------------------ */
/* Update                                                                   */

/* Pass 1 over x[0..nb): keys and per-sign index ranges, min / max.
   Written without branches so that it vectorises. */
static inline void pass1_body(const double *x, int64_t nb, double mult, int32_t *keys,
                              int32_t imin[2], int32_t imax[2], double *vmin,
                              double *vmax)
{
    int32_t pmin = INT32_MAX, nmin = INT32_MAX, pmax = -1, nmax = -1;
    double dmn = INFINITY, dmx = -INFINITY;
    for (int64_t i0 = 0; i0 < nb; i0 += 8) {
      int64_t i1 = nb - i0 < 8 ? nb : i0 + 8;
      PREFETCH(x + i0);
      for (int64_t i = i0; i < i1; i++) {
        double v = x[i];
        uint64_t u;
        memcpy(&u, &v, sizeof u);
        int32_t idx = mag_index(mult, u);
        uint32_t ex = (uint32_t)(u >> 52) & 0x7ffu;
        int32_t neg = (int32_t)(u >> 63);
        int32_t special = (ex - 1u) >= 0x7feu;
        int32_t xp = -(special | neg);       /* all ones: not a positive normal */
        int32_t xn = -(special | (neg ^ 1)); /* all ones: not a negative normal */
        keys[i] = special ? -1 : ((idx << 1) | neg);
        int32_t a = idx | (xp & INT32_MAX), b = (idx & ~xp) | xp;
        int32_t c = idx | (xn & INT32_MAX), d = (idx & ~xn) | xn;
        pmin = a < pmin ? a : pmin;
        pmax = b > pmax ? b : pmax;
        nmin = c < nmin ? c : nmin;
        nmax = d > nmax ? d : nmax;
        dmn = v < dmn ? v : dmn;
        dmx = v > dmx ? v : dmx;
      }
    }
    imin[0] = pmin;
    imax[0] = pmax;
    imin[1] = nmin;
    imax[1] = nmax;
    *vmin = dmn;
    *vmax = dmx;
}

static void pass1_generic(const double *x, int64_t nb, double mult, int32_t *keys,
                          int32_t imin[2], int32_t imax[2], double *vmin, double *vmax)
{
    pass1_body(x, nb, mult, keys, imin, imax, vmin, vmax);
}

#if defined(__GNUC__) && defined(__x86_64__) && !defined(PS_NO_AVX2) && !defined(PS_NO_SIMD)
#define HAVE_AVX2_PASS1 1
#include <immintrin.h>
/* AVX2 version of pass1_body, 4 values per step.  The same IEEE operations
   in the same order (no FMA: the build has -ffp-contract=off and only
   mul/add intrinsics are used; the exponent is converted exactly with the
   2**52 trick), so keys are bit-identical to the scalar loop; min / max
   agree up to the sign of zero, which add_block canonicalises. */
__attribute__((target("avx2"))) static void pass1_avx2(const double *x, int64_t nb,
                                                        double mult, int32_t *keys,
                                                        int32_t imin[2], int32_t imax[2],
                                                        double *vmin, double *vmax)
{
    const __m256i mant = _mm256_set1_epi64x((long long)MANT_MASK);
    const __m256i one = _mm256_set1_epi64x((long long)ONE_BITS);
    const __m256i exmask = _mm256_set1_epi64x(0x7ff);
    const __m256i magic = _mm256_set1_epi64x(0x4330000000000000ll);
    const __m256d two52 = _mm256_set1_pd(4503599627370496.0);
    const __m256d vone = _mm256_set1_pd(1.0);
    const __m256d ca = _mm256_set1_pd(CA), cb = _mm256_set1_pd(CB), cc = _mm256_set1_pd(CC);
    const __m256d vm = _mm256_set1_pd(mult);
    const __m256i odd = _mm256_setr_epi32(1, 3, 5, 7, 0, 0, 0, 0);
    const __m128i zero = _mm_setzero_si128(), ones = _mm_set1_epi32(-1);
    const __m128i e7ff = _mm_set1_epi32(0x7ff), imax31 = _mm_set1_epi32(INT32_MAX);
    __m128i pmin = imax31, nmin = imax31, pmax = ones, nmax = ones;
    __m256d dmn = _mm256_set1_pd(INFINITY), dmx = _mm256_set1_pd(-INFINITY);
    int32_t lmin[2], lmax[2];
    int32_t a4[4], b4[4], c4[4], d4[4];
    double mn4[4], mx4[4], tmn, tmx;
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        __m256d v = _mm256_loadu_pd(x + i);
        PREFETCH(x + i);
        __m256i u = _mm256_castpd_si256(v);
        __m256d m = _mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(u, mant), one));
        __m256d s = _mm256_sub_pd(m, vone);
        __m256d p = _mm256_mul_pd(
            _mm256_add_pd(_mm256_mul_pd(_mm256_add_pd(_mm256_mul_pd(ca, s), cb), s), cc), s);
        __m256i ex64 = _mm256_and_si256(_mm256_srli_epi64(u, 52), exmask);
        __m256d exd = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(ex64, magic)), two52);
        __m256d y = _mm256_add_pd(exd, p);
        __m128i idx = _mm256_cvttpd_epi32(_mm256_mul_pd(vm, y));
        __m128i hi = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(u, odd));
        __m128i ex = _mm_and_si128(_mm_srli_epi32(hi, 20), e7ff);
        __m128i neg = _mm_srli_epi32(hi, 31);
        __m128i special = _mm_or_si128(_mm_cmpeq_epi32(ex, zero), _mm_cmpeq_epi32(ex, e7ff));
        __m128i negm = _mm_sub_epi32(zero, neg);
        __m128i xp = _mm_or_si128(special, negm);
        __m128i xn = _mm_or_si128(special, _mm_xor_si128(negm, ones));
        __m128i key = _mm_or_si128(_mm_or_si128(_mm_slli_epi32(idx, 1), neg), special);
        _mm_storeu_si128((__m128i *)(void *)(keys + i), key);
        pmin = _mm_min_epi32(pmin, _mm_or_si128(idx, _mm_and_si128(xp, imax31)));
        pmax = _mm_max_epi32(pmax, _mm_or_si128(_mm_andnot_si128(xp, idx), xp));
        nmin = _mm_min_epi32(nmin, _mm_or_si128(idx, _mm_and_si128(xn, imax31)));
        nmax = _mm_max_epi32(nmax, _mm_or_si128(_mm_andnot_si128(xn, idx), xn));
        dmn = _mm256_min_pd(v, dmn);
        dmx = _mm256_max_pd(v, dmx);
    }
    pass1_body(x + i, nb - i, mult, keys + i, lmin, lmax, &tmn, &tmx);
    _mm_storeu_si128((__m128i *)(void *)a4, pmin);
    _mm_storeu_si128((__m128i *)(void *)b4, pmax);
    _mm_storeu_si128((__m128i *)(void *)c4, nmin);
    _mm_storeu_si128((__m128i *)(void *)d4, nmax);
    _mm256_storeu_pd(mn4, dmn);
    _mm256_storeu_pd(mx4, dmx);
    for (int k = 0; k < 4; k++) {
        lmin[0] = a4[k] < lmin[0] ? a4[k] : lmin[0];
        lmax[0] = b4[k] > lmax[0] ? b4[k] : lmax[0];
        lmin[1] = c4[k] < lmin[1] ? c4[k] : lmin[1];
        lmax[1] = d4[k] > lmax[1] ? d4[k] : lmax[1];
        tmn = mn4[k] < tmn ? mn4[k] : tmn;
        tmx = mx4[k] > tmx ? mx4[k] : tmx;
    }
    imin[0] = lmin[0];
    imin[1] = lmin[1];
    imax[0] = lmax[0];
    imax[1] = lmax[1];
    *vmin = tmn;
    *vmax = tmx;
}

/* The run-time level (simd.h): the CPU, the build and the limit. */
static int cpu_has_avx2(void) { return ps_simd() >= PS_SIMD_AVX2; }
#endif

static void pass1(const double *x, int64_t nb, double mult, int32_t *keys, int32_t imin[2],
                  int32_t imax[2], double *vmin, double *vmax)
{
#ifdef HAVE_AVX2_PASS1
    if (cpu_has_avx2()) {
        pass1_avx2(x, nb, mult, keys, imin, imax, vmin, vmax);
        return;
    }
#endif
    pass1_generic(x, nb, mult, keys, imin, imax, vmin, vmax);
}

static int add_block(ps_ddsketch *s, const double *x, int64_t nb, int32_t *keys)
{
    int32_t imin[2], imax[2];
    double vmin, vmax;
    plan pl[2];
    int64_t L[2] = {0, 0}, off[2] = {0, 0};
    uint64_t *cnt[2] = {NULL, NULL};
    uint64_t nan = 0, zero = 0, pinf = 0, ninf = 0;
    int st;

    pass1(x, nb, s->mult, keys, imin, imax, &vmin, &vmax);

    pl[0].active = pl[1].active = 0;
    pl[0].newc = pl[1].newc = NULL;
    for (int g = 0; g < 2; g++) {
        if (imax[g] < 0)
            continue;
        st = plan_store(&s->st[g], imin[g], imax[g], s->mb, &pl[g]);
        if (st != PS_OK) {
            plan_discard(&pl[0]);
            plan_discard(&pl[1]);
            return st;
        }
    }
    for (int g = 0; g < 2; g++) {
        if (pl[g].active)
            plan_commit(&s->st[g], &pl[g]);
        L[g] = s->st[g].nonempty ? s->st[g].hi - s->mb + 1 : 0;
        off[g] = s->st[g].off;
        cnt[g] = s->st[g].c;
    }

    /* pass 2 */
    for (int64_t i = 0; i < nb; i++) {
        int32_t k = keys[i];
        if (k >= 0) {
            int g = k & 1;
            int64_t idx = k >> 1;
            idx = idx < L[g] ? L[g] : idx;
            cnt[g][idx - off[g]]++;
        } else {
            uint64_t u;
            memcpy(&u, &x[i], sizeof u);
            if (((u >> 52) & 0x7ffu) == 0)
                zero++;
            else if (u & MANT_MASK)
                nan++;
            else if (u >> 63)
                ninf++;
            else
                pinf++;
        }
    }
    s->zero += zero;
    s->pinf += pinf;
    s->ninf += ninf;
    s->nan += nan;
    s->n += (uint64_t)nb - nan;
    if (vmin == 0.0)
        vmin = 0.0; /* -0.0 -> +0.0: min / max must not depend on order */
    if (vmax == 0.0)
        vmax = 0.0;
    if (vmin < s->mn)
        s->mn = vmin;
    if (vmax > s->mx)
        s->mx = vmax;
    return PS_OK;
}

static int valid_dtype(int dtype) { return dtype >= PS_BOOL && dtype <= PS_FLOAT64; }

/* Convert values p0 .. p0 + nb - 1 (row-major over n x d) to doubles:
   a flat strided run when d == 1, else record by record. */
#define LOAD_AS(T)                                                             \
    do {                                                                       \
        if (d == 1) {                                                          \
            for (int64_t k = 0; k < nb; k++) {                                 \
                T t_;                                                          \
                memcpy(&t_, base + (p0 + k) * rs, sizeof t_);                  \
                dst[k] = (double)t_;                                           \
            }                                                                  \
        } else {                                                               \
            int64_t i = p0 / d, j = p0 % d;                                    \
            for (int64_t k = 0; k < nb; k++) {                                 \
                T t_;                                                          \
                memcpy(&t_, base + i * rs + j * vs, sizeof t_);                \
                dst[k] = (double)t_;                                           \
                if (++j == d) {                                                \
                    j = 0;                                                     \
                    i++;                                                       \
                }                                                              \
            }                                                                  \
        }                                                                      \
    } while (0)

static void load_block(double *dst, const char *base, int64_t p0, int64_t nb, int64_t d,
                       ptrdiff_t rs, ptrdiff_t vs, int dtype)
{
    switch (dtype) {
    case PS_BOOL:
    case PS_UINT8: LOAD_AS(uint8_t); break;
    case PS_INT8: LOAD_AS(int8_t); break;
    case PS_INT16: LOAD_AS(int16_t); break;
    case PS_UINT16: LOAD_AS(uint16_t); break;
    case PS_INT32: LOAD_AS(int32_t); break;
    case PS_UINT32: LOAD_AS(uint32_t); break;
    case PS_INT64: LOAD_AS(int64_t); break;
    case PS_UINT64: LOAD_AS(uint64_t); break;
    case PS_FLOAT32: LOAD_AS(float); break;
    default: LOAD_AS(double); break;
    }
}

int ps_ddsketch_update(ps_ddsketch *s, const void *data, int64_t n, int64_t d,
                       ptrdiff_t record_stride, ptrdiff_t value_stride, int dtype)
{
    double buf[BLOCK];
    int32_t keys[BLOCK];
    const char *base = data;
    int64_t total;
    if (!s || n < 0 || d < 1)
        return PS_ERR_ARG;
    if (!valid_dtype(dtype))
        return PS_ERR_DTYPE;
    if (n == 0)
        return PS_OK;
    if (!data || n > INT64_MAX / d)
        return PS_ERR_ARG;
    total = n * d;
    /* rows that follow each other without gaps: one flat run (with d == 1
       the record stride is the only one that matters) */
    if (d > 1 && record_stride == (ptrdiff_t)d * value_stride) {
        d = 1;
        record_stride = value_stride;
        n = total;
    }
    for (int64_t p0 = 0; p0 < total; p0 += BLOCK) {
        int64_t nb = total - p0 < BLOCK ? total - p0 : BLOCK;
        const double *x;
        int st;
        if (dtype == PS_FLOAT64 && d == 1 && record_stride == (ptrdiff_t)sizeof(double)) {
            x = (const double *)(const void *)(base + p0 * (int64_t)sizeof(double));
        } else {
            load_block(buf, base, p0, nb, d, record_stride, value_stride, dtype);
            x = buf;
        }
        st = add_block(s, x, nb, keys);
        if (st != PS_OK)
            return st;
    }
    return PS_OK;
}

/* ------------------------------------------------------------------------ */
/* Merge                                                                    */

static int add_u64(uint64_t *a, uint64_t b)
{
    if (*a > UINT64_MAX - b)
        return 1;
    *a += b;
    return 0;
}

static int merge_into(ps_ddsketch *a, const ps_ddsketch *b)
{
    plan pl[2];
    uint64_t total = a->n;
    int st;
    if (memcmp(&a->alpha, &b->alpha, sizeof a->alpha) != 0 || a->mb != b->mb)
        return PS_ERR_MISMATCH;
    if (add_u64(&total, a->nan) || add_u64(&total, b->n) || add_u64(&total, b->nan))
        return PS_ERR_OVERFLOW;
    pl[0].active = pl[1].active = 0;
    pl[0].newc = pl[1].newc = NULL;
    for (int g = 0; g < 2; g++) {
        if (!b->st[g].nonempty)
            continue;
        st = plan_store(&a->st[g], b->st[g].lo, b->st[g].hi, a->mb, &pl[g]);
        if (st != PS_OK) {
            plan_discard(&pl[0]);
            plan_discard(&pl[1]);
            return st;
        }
    }
    for (int g = 0; g < 2; g++) {
        store *sa = &a->st[g];
        const store *sb = &b->st[g];
        int64_t L;
        if (!pl[g].active)
            continue;
        plan_commit(sa, &pl[g]);
        L = sa->hi - a->mb + 1;
        for (int64_t i = sb->lo; i <= sb->hi; i++) {
            int64_t t = i < L ? L : i;
            sa->c[t - sa->off] += sb->c[i - sb->off];
        }
    }
    a->n += b->n;
    a->nan += b->nan;
    a->zero += b->zero;
    a->pinf += b->pinf;
    a->ninf += b->ninf;
    if (b->mn < a->mn)
        a->mn = b->mn;
    if (b->mx > a->mx)
        a->mx = b->mx;
    return PS_OK;
}

int ps_ddsketch_merge(ps_ddsketch *a, const ps_ddsketch *b)
{
    if (!a || !b)
        return PS_ERR_ARG;
    if (a == b) {
        ps_ddsketch *t;
        int st = ps_ddsketch_copy(&t, b);
        if (st != PS_OK)
            return st;
        st = merge_into(a, t);
        ps_ddsketch_free(t);
        return st;
    }
    return merge_into(a, b);
}

/* ------------------------------------------------------------------------ */
/* Queries                                                                  */

/* Cumulative counts in value order: -inf, negative buckets from the
   largest magnitude down, zero, positive buckets up, +inf. */
typedef struct {
    uint64_t *cum;
    int64_t npos, nneg, len;
} walk;

static int walk_build(const ps_ddsketch *s, walk *w)
{
    const store *sp = &s->st[0], *sn = &s->st[1];
    uint64_t acc = 0;
    int64_t k = 0;
    w->nneg = sn->nonempty ? sn->hi - sn->lo + 1 : 0;
    w->npos = sp->nonempty ? sp->hi - sp->lo + 1 : 0;
    w->len = w->nneg + w->npos + 3;
    w->cum = malloc((size_t)w->len * sizeof(uint64_t));
    if (!w->cum)
        return PS_ERR_NOMEM;
    acc += s->ninf;
    w->cum[k++] = acc;
    for (int64_t i = sn->hi; w->nneg && i >= sn->lo; i--) {
        acc += sn->c[i - sn->off];
        w->cum[k++] = acc;
    }
    acc += s->zero;
    w->cum[k++] = acc;
    for (int64_t i = sp->lo; w->npos && i <= sp->hi; i++) {
        acc += sp->c[i - sp->off];
        w->cum[k++] = acc;
    }
    acc += s->pinf;
    w->cum[k++] = acc;
    return PS_OK;
}

static double clampv(const ps_ddsketch *s, double v)
{
    return v < s->mn ? s->mn : v > s->mx ? s->mx : v;
}

static double walk_value(const ps_ddsketch *s, const walk *w, int64_t pos)
{
    if (pos == 0)
        return -INFINITY;
    if (pos <= w->nneg)
        return -bucket_value(s->mult, s->st[1].hi - (pos - 1));
    if (pos == w->nneg + 1)
        return 0.0;
    if (pos <= w->nneg + 1 + w->npos)
        return bucket_value(s->mult, s->st[0].lo + (pos - w->nneg - 2));
    return INFINITY;
}

int ps_ddsketch_quantiles(const ps_ddsketch *s, const double *q, int64_t n, double *out)
{
    walk w;
    int st;
    if (!s || n < 0 || (n > 0 && (!q || !out)))
        return PS_ERR_ARG;
    for (int64_t k = 0; k < n; k++)
        if (!(q[k] >= 0.0 && q[k] <= 1.0))
            return PS_ERR_ARG;
    if (s->n == 0) {
        for (int64_t k = 0; k < n; k++)
            out[k] = NAN;
        return PS_OK;
    }
    st = walk_build(s, &w);
    if (st != PS_OK)
        return st;
    for (int64_t k = 0; k < n; k++) {
        double r = floor((double)(s->n - 1) * q[k]);
        uint64_t rank;
        int64_t lo = 0, hi = w.len - 1;
        if (q[k] == 0.0) {
            out[k] = s->mn;
            continue;
        }
        if (q[k] == 1.0) {
            out[k] = s->mx;
            continue;
        }
        rank = r >= 18446744073709551615.0 ? s->n - 1 : (uint64_t)r;
        if (rank > s->n - 1)
            rank = s->n - 1;
        /* first position whose cumulative count exceeds rank */
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (w.cum[mid] > rank)
                hi = mid;
            else
                lo = mid + 1;
        }
        out[k] = clampv(s, walk_value(s, &w, lo));
    }
    free(w.cum);
    return PS_OK;
}

/* rank(v) = (values in buckets below v's bucket
 *            + the bucket's count if v >= the bucket's value) / count,
 * where v's bucket is taken after the collapse clamp and the bucket's value
 * is clamped to [min, max] like a quantile; v < min gives 0, v >= max
 * gives 1 and min <= v at least 1 / count (the minimum is exact).  So
 * rank(quantile(q)) >= (floor(q (count - 1)) + 1) / count. */
int ps_ddsketch_ranks(const ps_ddsketch *s, const double *v, int64_t n, double *out)
{
    walk w;
    int st;
    if (!s || n < 0 || (n > 0 && (!v || !out)))
        return PS_ERR_ARG;
    if (s->n == 0 || n == 0) {
        for (int64_t k = 0; k < n; k++)
            out[k] = NAN;
        return PS_OK;
    }
    st = walk_build(s, &w);
    if (st != PS_OK)
        return st;
    for (int64_t k = 0; k < n; k++) {
        double x = v[k];
        uint64_t below, own;
        double rep;
        if (isnan(x)) {
            out[k] = NAN;
            continue;
        }
        if (x < s->mn) {
            out[k] = 0.0;
            continue;
        }
        if (x >= s->mx) {
            out[k] = 1.0;
            continue;
        }
        if (x == -INFINITY) {
            below = 0;
            own = s->ninf;
            rep = -INFINITY;
        } else if (fabs(x) < DBL_MIN) {
            below = w.cum[w.nneg];
            own = s->zero;
            rep = 0.0;
        } else {
            int g = x < 0.0;
            const store *sg = &s->st[g];
            int64_t idx = ps_ddsketch_index(s, x);
            int64_t pos; /* position in the walk of bucket idx */
            if (!sg->nonempty) {
                below = g ? w.cum[0] : w.cum[w.nneg + 1];
                own = 0;
                rep = 0.0;
            } else {
                int64_t L = sg->hi - s->mb + 1;
                if (idx < L)
                    idx = L;
                rep = g ? -bucket_value(s->mult, idx) : bucket_value(s->mult, idx);
                if (g) {
                    /* negative: larger index = further left */
                    if (idx > sg->hi) {
                        below = w.cum[0];
                        own = 0;
                    } else if (idx < sg->lo) {
                        below = w.cum[w.nneg];
                        own = 0;
                    } else {
                        pos = 1 + (sg->hi - idx);
                        below = w.cum[pos - 1];
                        own = w.cum[pos] - below;
                    }
                } else {
                    if (idx < sg->lo) {
                        below = w.cum[w.nneg + 1];
                        own = 0;
                    } else if (idx > sg->hi) {
                        below = w.cum[w.nneg + 1 + w.npos];
                        own = 0;
                    } else {
                        pos = w.nneg + 2 + (idx - sg->lo);
                        below = w.cum[pos - 1];
                        own = w.cum[pos] - below;
                    }
                }
            }
        }
        if (x >= clampv(s, rep))
            below += own;
        if (below == 0)
            below = 1; /* x >= min: the minimum is <= x */
        out[k] = (double)below / (double)s->n;
    }
    free(w.cum);
    return PS_OK;
}

/* ------------------------------------------------------------------------ */
/* Serialization                                                            */
/*
 * Little-endian 64-bit fields (serial.h):
 *   magic "PSDDSKCH", version, alpha (f64), max_buckets,
 *   zero, +inf, -inf and NaN counts, min, max (f64; +inf / -inf if empty),
 *   per store (positive, then negative): lo, nbuckets, nbuckets counts
 *   (lowest to highest non-empty bucket, so equal states give equal bytes),
 *   FNV-1a 64 of everything before it.
 */

static void write_state(ps_writer *w, const void *state)
{
    const ps_ddsketch *s = state;
    for (int k = 0; k < 8; k++) {
        if (w->buf && w->pos < w->cap)
            w->buf[w->pos] = MAGIC[k];
        w->pos++;
    }
    ps_put_u64(w, FORMAT_VERSION);
    ps_put_f64(w, s->alpha);
    ps_put_i64(w, s->mb);
    ps_put_u64(w, s->zero);
    ps_put_u64(w, s->pinf);
    ps_put_u64(w, s->ninf);
    ps_put_u64(w, s->nan);
    ps_put_f64(w, s->mn);
    ps_put_f64(w, s->mx);
    for (int g = 0; g < 2; g++) {
        const store *st = &s->st[g];
        int64_t nb = st->nonempty ? st->hi - st->lo + 1 : 0;
        ps_put_i64(w, st->nonempty ? st->lo : 0);
        ps_put_i64(w, nb);
        for (int64_t i = 0; i < nb; i++)
            ps_put_u64(w, st->c[st->lo - st->off + i]);
    }
}

int ps_ddsketch_serialize(const ps_ddsketch *s, uint8_t *buf, size_t cap, size_t *size)
{
    return ps_serialize_checked(write_state, s, buf, cap, size);
}

/* (class, signed index) of a non-NaN value in value order; the index is
   the collapse-clamped bucket for stored classes. */
typedef struct {
    int cls;
    int64_t j;
} vkey;

static vkey value_key(const ps_ddsketch *s, double x)
{
    vkey k = {0, 0};
    if (x == -INFINITY)
        k.cls = 0;
    else if (x == INFINITY)
        k.cls = 4;
    else if (fabs(x) < DBL_MIN)
        k.cls = 2;
    else {
        int g = x < 0.0;
        int64_t idx = ps_ddsketch_index(s, x);
        if (s->st[g].nonempty && idx < s->st[g].hi - s->mb + 1)
            idx = s->st[g].hi - s->mb + 1;
        k.cls = g ? 1 : 3;
        k.j = g ? -idx : idx;
    }
    return k;
}

/* Lowest (first = 1) or highest non-empty (class, signed index). */
static vkey extreme_key(const ps_ddsketch *s, int first)
{
    vkey k = {0, 0};
    const store *sp = &s->st[0], *sn = &s->st[1];
    int has[5];
    has[0] = s->ninf != 0;
    has[1] = sn->nonempty;
    has[2] = s->zero != 0;
    has[3] = sp->nonempty;
    has[4] = s->pinf != 0;
    for (int t = 0; t < 5; t++) {
        int c = first ? t : 4 - t;
        if (!has[c])
            continue;
        k.cls = c;
        if (c == 1)
            k.j = first ? -sn->hi : -sn->lo;
        else if (c == 3)
            k.j = first ? sp->lo : sp->hi;
        return k;
    }
    return k;
}

static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static int read_state(ps_reader *r, ps_ddsketch **out)
{
    ps_ddsketch *s = NULL;
    uint64_t version, total = 0;
    double alpha, mn, mx;
    int64_t mb, maxidx;
    uint64_t zero, pinf, ninf, nan;
    r->pos = 8; /* magic checked by the caller */
    version = ps_get_u64(r);
    if (version != FORMAT_VERSION)
        return PS_ERR_VERSION;
    alpha = ps_get_f64(r);
    mb = ps_get_i64(r);
    zero = ps_get_u64(r);
    pinf = ps_get_u64(r);
    ninf = ps_get_u64(r);
    nan = ps_get_u64(r);
    mn = ps_get_f64(r);
    mx = ps_get_f64(r);
    if (r->bad || !valid_params(alpha, mb))
        return PS_ERR_CORRUPT;
    if (ps_ddsketch_new(&s, alpha, mb) != PS_OK)
        return PS_ERR_NOMEM;
    maxidx = mag_index(s->mult, 0x7fefffffffffffffull);
    if (add_u64(&total, zero) || add_u64(&total, pinf) || add_u64(&total, ninf))
        goto corrupt;
    for (int g = 0; g < 2; g++) {
        store *st = &s->st[g];
        int64_t lo = ps_get_i64(r), nb = ps_get_i64(r);
        if (r->bad || nb < 0 || nb > mb || (uint64_t)nb > (r->cap - r->pos) / 8)
            goto corrupt;
        if (nb == 0) {
            if (lo != 0)
                goto corrupt;
            continue;
        }
        if (lo < 0 || lo > maxidx - (nb - 1))
            goto corrupt;
        st->c = malloc((size_t)nb * sizeof(uint64_t));
        if (!st->c) {
            ps_ddsketch_free(s);
            return PS_ERR_NOMEM;
        }
        st->cap = nb;
        st->off = lo;
        st->lo = lo;
        st->hi = lo + nb - 1;
        st->nonempty = 1;
        for (int64_t i = 0; i < nb; i++) {
            st->c[i] = ps_get_u64(r);
            if (add_u64(&total, st->c[i]))
                goto corrupt;
        }
        if (r->bad || st->c[0] == 0 || st->c[nb - 1] == 0)
            goto corrupt;
    }
    if (r->bad || r->pos != r->cap)
        goto corrupt;
    s->zero = zero;
    s->pinf = pinf;
    s->ninf = ninf;
    s->n = total;
    s->nan = nan;
    if (add_u64(&total, nan))
        goto corrupt;
    if (s->n == 0) {
        if (!same_bits(mn, INFINITY) || !same_bits(mx, -INFINITY))
            goto corrupt;
    } else {
        vkey a, b, ea, eb;
        if (isnan(mn) || isnan(mx) || mn > mx || mn == INFINITY || mx == -INFINITY)
            goto corrupt;
        if (same_bits(mn, -0.0) || same_bits(mx, -0.0))
            goto corrupt;
        if ((mn == -INFINITY) != (ninf != 0) || (mx == INFINITY) != (pinf != 0))
            goto corrupt;
        a = value_key(s, mn);
        b = value_key(s, mx);
        ea = extreme_key(s, 1);
        eb = extreme_key(s, 0);
        if (a.cls != ea.cls || a.j != ea.j || b.cls != eb.cls || b.j != eb.j)
            goto corrupt;
    }
    s->mn = mn;
    s->mx = mx;
    *out = s;
    return PS_OK;
corrupt:
    ps_ddsketch_free(s);
    return PS_ERR_CORRUPT;
}

int ps_ddsketch_deserialize(ps_ddsketch **out, const uint8_t *buf, size_t size)
{
    ps_reader r;
    if (!out || (!buf && size))
        return PS_ERR_ARG;
    *out = NULL;
    if (size < 8 + 8 + 8)
        return PS_ERR_CORRUPT;
    if (memcmp(buf, MAGIC, 8) != 0)
        return PS_ERR_CORRUPT;
    if (!ps_checksum_ok(buf, size)) {
        /* a newer format is reported as such even if its checksum differs */
        ps_reader v = {buf, 8, size, 0};
        return ps_get_u64(&v) != FORMAT_VERSION ? PS_ERR_VERSION : PS_ERR_CORRUPT;
    }
    r.in = buf;
    r.pos = 0;
    r.cap = size - 8;
    r.bad = 0;
    return read_state(&r, out);
}
