/*
 * window_order.c -- moving order statistics: PS_MOVE_MEDIAN,
 * PS_MOVE_QUANTILE (numpy's "linear" method) and PS_MOVE_RANK
 * (bottleneck's move_rank).
 *
 * Each column keeps a ring buffer of its last `window` inputs (NaN before
 * the window fills, so the value leaving the window is simply the ring
 * slot about to be overwritten) and, for median / quantile, the window's
 * non-NaN values in an order structure:
 *
 * - window <= PS_ORDER_SORTED_MAX: a sorted array.  A step replaces the
 *   leaving value by the entering one: two branchless binary searches and
 *   one memmove of the values between the two positions; or, for small
 *   windows, one branchless select-only pass over the whole array (scalar
 *   up to PS_ORDER_PASS_MAX; AVX-512, chosen at run time, up to
 *   PS_ORDER_VPASS_MAX).
 * - larger windows: a double heap (max-heap `low` holding the L smallest
 *   values, min-heap `high` the others) with a slot -> heap position index,
 *   so the leaving value is replaced or deleted in O(log w).  L follows the
 *   non-NaN count (NaNs make it vary) by moving heap tops across.
 *
 * Values are stored as uint64 keys whose unsigned order is the IEEE total
 * order restricted to non-NaN values (-inf < ... < -0.0 < +0.0 < ... < inf).
 * Order statistics of a window are thus a function of its multiset of
 * values only (not of insertion history or chunking), and both structures
 * give the same bits.  numpy's sort treats -0.0 == +0.0, so where numpy's
 * choice between them is unspecified we return the total-order one.
 *
 * Rank is O(records in the window) per value like bottleneck's: a
 * vectorizable counting loop over the ring buffer.
 *
 * The state is replayable (save = load = NULL): outputs depend only on the
 * last `window` inputs.
 *
 * Memory follows the records seen (see order_state; from a floor of
 * PS_WINDOW_FLOOR values): a window of 3e8 over 1,000 values takes ~1 MB
 * per array, not GBs, and moving_rank counts over the slots
 * written so far, so its cost per value is at most the records in the
 * window.
 */
#include "stage_internal.h"
#include "simd.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Largest window using the sorted array (memmove is linear in the window
   but beats the heaps' cache misses and branches on small windows).  The
   tests rebuild with -DPS_ORDER_SORTED_MAX=0 to run the heaps on every
   window size. */
#ifndef PS_ORDER_SORTED_MAX
#define PS_ORDER_SORTED_MAX 512
#endif

/* Largest window whose sorted array is updated by one branchless pass over
   the whole array (replace_pass) instead of binary searches and memmove:
   no search latency and no mispredicted branches, at O(window) work.  The
   tests rebuild with -DPS_ORDER_PASS_MAX=0 (searches on every sorted
   window) and with a large value (the pass on every sorted window). */
#ifndef PS_ORDER_PASS_MAX
#define PS_ORDER_PASS_MAX 16
#endif

/* Largest window whose sorted array is updated by the AVX-512 version of
   the one-pass update (8 keys per instruction, lane-strided layout; see
   replace_pass_avx512), chosen at run time on CPUs with AVX-512F; it then
   replaces both the scalar pass and the searches up to this window (at
   w = 100 about 14 ns per value against 30 for the searches; they cross
   near w = 320).  -DPS_NO_AVX512 (or -DPS_NO_SIMD) leaves it out; the tests
   rebuild with -DPS_ORDER_VPASS_MAX=0 (never) and with a large value (on
   every sorted window). */
#ifndef PS_ORDER_VPASS_MAX
#define PS_ORDER_VPASS_MAX 288
#endif

#if defined(__SSE2__) && !defined(PS_NO_SIMD)
#include <emmintrin.h>
#define HAVE_SSE2_RANK 1
#endif

#if defined(__GNUC__) && defined(__x86_64__) && !defined(PS_NO_SIMD) && \
    !defined(PS_NO_AVX512) && PS_ORDER_VPASS_MAX > 0
#include <immintrin.h>
#define HAVE_AVX512_PASS 1

/* The run-time level (simd.h): the CPU, the build and the limit. */
static int cpu_has_avx512f(void) { return ps_simd() >= PS_SIMD_AVX512; }
#endif

/* A condition to compile to a conditional move, not a jump. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 9
#define UNPREDICTABLE(c) __builtin_expect_with_probability(!!(c), 1, 0.5)
#elif defined(__clang__) && defined(__has_builtin)
#if __has_builtin(__builtin_unpredictable)
#define UNPREDICTABLE(c) __builtin_unpredictable(!!(c))
#endif
#endif
#ifndef UNPREDICTABLE
#define UNPREDICTABLE(c) (c)
#endif

#define HIGH_FLAG 0x80000000u
#define SIGN64 0x8000000000000000ull

/* ------------------------------------------------------------------------ */
/* Keys                                                                      */

static inline uint64_t to_key(double x)
{
    uint64_t u;
    memcpy(&u, &x, 8);
    return u ^ ((0 - (u >> 63)) | SIGN64);
}

static inline double from_key(uint64_t k)
{
    uint64_t u = k ^ ((0 - ((k >> 63) ^ 1)) | SIGN64);
    double x;
    memcpy(&x, &u, 8);
    return x;
}

/* First index i in a[0..n) with a[i] >= k (n if none). */
static inline int64_t lower_bound(const uint64_t *a, int64_t n, uint64_t k)
{
    const uint64_t *base = a;
    if (n <= 0)
        return 0;
    while (n > 1) {
        int64_t half = n / 2;
        base = base[half] < k ? base + half : base;
        n -= half;
    }
    return (base - a) + (*base < k);
}

/* Both lower bounds at once (two independent dependency chains). */
static inline void lower_bound2(const uint64_t *a, int64_t n, uint64_t k1,
                                uint64_t k2, int64_t *r1, int64_t *r2)
{
    const uint64_t *b1 = a, *b2 = a;
    if (n <= 0) {
        *r1 = *r2 = 0;
        return;
    }
    while (n > 1) {
        int64_t half = n / 2;
        b1 = b1[half] < k1 ? b1 + half : b1;
        b2 = b2[half] < k2 ? b2 + half : b2;
        n -= half;
    }
    *r1 = (b1 - a) + (*b1 < k1);
    *r2 = (b2 - a) + (*b2 < k2);
}

/* a[0 .. n) is sorted ascending with a[n] = UINT64_MAX (and unused slots
   of a[0 .. n) also UINT64_MAX).  Remove one copy of ko (UINT64_MAX: none)
   and insert kx (UINT64_MAX: none), keeping a sorted.  With b = a minus ko
   (b[i] = a[i] < ko ? a[i] : a[i + 1], since ko's first copy is at the
   first index where a[i] >= ko) the result is c[i] = max(b[i - 1],
   min(b[i], kx)) with b[-1] = 0, below every key.  In place: a[i] and
   a[i + 1] are read before a[i] is written. */
static inline void replace_pass(uint64_t *a, int64_t n, uint64_t ko, uint64_t kx)
{
    uint64_t prevb = 0, ai = a[0];
    for (int64_t i = 0; i < n; i++) {
        uint64_t an = a[i + 1];
        uint64_t b = UNPREDICTABLE(ai < ko) ? ai : an;
        uint64_t m = UNPREDICTABLE(b < kx) ? b : kx;
        a[i] = UNPREDICTABLE(prevb > m) ? prevb : m;
        prevb = b;
        ai = an;
    }
}

/* a[0 .. m) = a[1 .. m + 1) */
static inline void move_down(uint64_t *a, int64_t m)
{
    if (m <= 8) {
        for (int64_t i = 0; i < m; i++)
            a[i] = a[i + 1];
    } else {
        memmove(a, a + 1, (size_t)m * 8);
    }
}

/* a[1 .. m + 1) = a[0 .. m) */
static inline void move_up(uint64_t *a, int64_t m)
{
    if (m <= 8) {
        for (int64_t i = m; i > 0; i--)
            a[i] = a[i - 1];
    } else {
        memmove(a + 1, a, (size_t)m * 8);
    }
}

/* ------------------------------------------------------------------------ */
/* State                                                                     */

typedef struct {
    uint64_t k;
    uint64_t slot;
} hent;

typedef struct {
    double *ring;       /* last `window` inputs, NaN where none yet */
    uint64_t *sorted;   /* sorted mode: the cnt non-NaN keys, ascending */
    hent *low, *high;   /* heap mode: max-heap of keys, max-heap of ~keys */
    uint32_t *pos;      /* heap mode: slot -> heap index | HIGH_FLAG */
    int64_t nlow, nhigh;
    int64_t cnt;        /* non-NaN values in the window */
    int64_t last_nan;   /* record index (from state start) of last NaN, -1 */
} column;

/* Memory grows with the records seen: the ring, the heaps, the position
   index and the per-count tables have room for `cap` records, cap >=
   min(window, records seen after the current update) (grown by doubling at
   the start of an update, from PS_WINDOW_FLOOR values, see order_resize).  Record t (from the state's
   start) goes to ring slot t % window, so before the window fills the ring
   slots in use are 0..t and the others hold NaN, as in a full-size ring.
   The sorted-array mode (windows <= PS_ORDER_SORTED_MAX) is allocated whole
   at creation. */
typedef struct {
    int kind;
    int propagate;
    int heap_mode;
    int vpass;          /* sorted mode updated by run_pass_avx512 */
    double q;
    int64_t window;
    int64_t min_count;
    int64_t width;
    int64_t start;
    int64_t seen;       /* records fed so far */
    int64_t head;       /* ring slot of the next record (seen % window) */
    int64_t cap;        /* room of the per-record arrays, in records */
    int64_t *ltab;      /* [cap + 1] (median / quantile): size of `low` for each count */
    int64_t *vmap;      /* vpass: [4 * (window + 1)], see run_pass_avx512 */
    double *ttab;       /* [cap + 1]: quantile interpolation weight */
    unsigned char *above; /* [cap + 1]: quantile index at the last value */
    column *cols;
    void *fixed;        /* cols, sorted arrays, vmap (64-byte aligned) */
    void *mem;          /* ltab, ttab, rings, heaps, positions, above */
} order_state;

/* Per non-NaN count c: low holds sorted[0 .. ltab[c]), so the order
   statistics needed are sorted[ltab[c] - 1] (top of low) and sorted[ltab[c]]
   (top of high). */
static void table_entry(const order_state *st, int64_t c)
{
    st->ttab[c] = 0.0;
    st->above[c] = 0;
    if (st->kind == PS_MOVE_QUANTILE && c > 0) {
        /* numpy: virtual index (n - 1) * q; at or past the last index
           both neighbours are the last value and gamma = h - (-1). */
        double h = (double)(c - 1) * st->q;
        if (h >= (double)(c - 1)) {
            st->ltab[c] = c;
            st->ttab[c] = h + 1.0;
            st->above[c] = 1;
        } else {
            double lo = floor(h);
            st->ltab[c] = (int64_t)lo + 1;
            st->ttab[c] = h - lo;
        }
    } else {
        st->ltab[c] = (c + 1) / 2;
    }
}

/* Give the per-record arrays room for `cap` records (> st->cap): a new
   allocation, the tables computed, rings / heaps / positions copied and the
   new ring slots NaN.  Returns 0, changing nothing, when the memory is not
   available (or a heap position would not fit its 31 bits). */
static int order_resize(order_state *st, int64_t cap)
{
    const int64_t old = st->cap, width = st->width;
    const int rank = st->kind == PS_MOVE_RANK, heap = st->heap_mode;
    size_t per_col, total, off = 0;
    unsigned char *mem;
    if (cap < 0 || cap > st->window || (heap && cap >= (int64_t)HIGH_FLAG) ||
        (uint64_t)cap + 1 > (uint64_t)(SIZE_MAX / 64) / (uint64_t)width)
        return 0;
    /* Bytes per column: ring + (heap mode: low + high + pos). */
    per_col = (size_t)cap * 8;
    if (!rank && heap)
        per_col += (size_t)cap * (2 * sizeof(hent) + 4);
    /* the per-count tables serve median / quantile only */
    total = (size_t)width * per_col + (rank ? 0 : ((size_t)cap + 1) * 17) + 8;
    mem = malloc(total);
    if (!mem)
        return 0;
    /* 8-byte aligned pieces first, then 4-byte, then bytes. */
    if (!rank) {
        st->ltab = (int64_t *)(void *)(mem + off);
        off += ((size_t)cap + 1) * 8;
        st->ttab = (double *)(void *)(mem + off);
        off += ((size_t)cap + 1) * 8;
    }
    for (int64_t j = 0; j < width; j++) {
        column *c = &st->cols[j];
        double *ring = (double *)(void *)(mem + off);
        off += (size_t)cap * 8;
        if (old > 0)
            memcpy(ring, c->ring, (size_t)old * 8);
        for (int64_t s = old; s < cap; s++)
            ring[s] = NAN;
        c->ring = ring;
        if (heap) {
            hent *lo = (hent *)(void *)(mem + off), *hi;
            off += (size_t)cap * sizeof(hent);
            hi = (hent *)(void *)(mem + off);
            off += (size_t)cap * sizeof(hent);
            if (c->nlow > 0)
                memcpy(lo, c->low, (size_t)c->nlow * sizeof(hent));
            if (c->nhigh > 0)
                memcpy(hi, c->high, (size_t)c->nhigh * sizeof(hent));
            c->low = lo;
            c->high = hi;
        }
    }
    if (heap)
        for (int64_t j = 0; j < width; j++) {
            column *c = &st->cols[j];
            uint32_t *pos = (uint32_t *)(void *)(mem + off);
            off += (size_t)cap * 4;
            if (old > 0)
                memcpy(pos, c->pos, (size_t)old * 4);
            c->pos = pos;
        }
    if (!rank) {
        st->above = mem + off;
        for (int64_t c = 0; c <= cap; c++)
            table_entry(st, c);
    }
    free(st->mem);
    st->mem = mem;
    st->cap = cap;
    return 1;
}

static void order_destroy(void *p)
{
    order_state *st = p;
    if (!st)
        return;
    free(st->mem);
    free(st->fixed);
    free(st);
}

static void *order_create(const ps_stage_params *p, int64_t width, int64_t start)
{
    order_state *st;
    int64_t w = p->window;
    int rank = p->kind == PS_MOVE_RANK;
    int heap;
    size_t total, off, nsorted, vbytes, sbytes;
    int vpass = 0;
    unsigned char *mem;

    if (w < 1 || width < 1 || w > PS_WINDOW_MAX ||
        (uint64_t)width > (uint64_t)(SIZE_MAX / 1024) ||
        (p->kind != PS_MOVE_MEDIAN && p->kind != PS_MOVE_QUANTILE && !rank))
        return NULL;
    heap = !rank && w > PS_ORDER_SORTED_MAX;
    /* Sorted mode (w <= PS_ORDER_SORTED_MAX): keys per column, w + 1
       rounded up to whole 64-byte vectors (the AVX-512 pass works on
       ceil(w / 8) of them). */
    nsorted = !rank && !heap ? ((size_t)w + 8) / 8 * 8 : 0;
#ifdef HAVE_AVX512_PASS
    vpass = !rank && !heap && w <= PS_ORDER_VPASS_MAX && cpu_has_avx512f();
#endif
    vbytes = vpass ? (size_t)(w + 1) * 32 : 0;
    sbytes = (size_t)width * nsorted * 8;
    total = (size_t)width * sizeof(column) + vbytes + sbytes + 128;

    st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    mem = malloc(total);
    if (!mem) {
        free(st);
        return NULL;
    }
    st->fixed = mem;
    st->kind = p->kind;
    st->propagate = p->nan_policy == PS_NAN_PROPAGATE;
    st->heap_mode = heap;
    st->vpass = vpass;
    st->q = p->q;
    st->window = w;
    st->min_count = p->min_count;
    st->width = width;
    st->start = start;

    off = 0;
    st->cols = (column *)(void *)(mem + off);
    off += (size_t)width * sizeof(column);
    memset(st->cols, 0, (size_t)width * sizeof(column));
    for (int64_t j = 0; j < width; j++)
        st->cols[j].last_nan = -1;
    st->vmap = (int64_t *)(void *)(mem + off);
    off += vbytes;
    /* Sorted arrays, each 64-byte aligned (whole vectors). */
    if (nsorted) {
        off += (size_t)(-(uintptr_t)(mem + off) & 63);
        for (int64_t j = 0; j < width; j++) {
            uint64_t *a = (uint64_t *)(void *)(mem + off);
            off += nsorted * 8;
            for (size_t s = 0; s < nsorted; s++)
                a[s] = UINT64_MAX;
            st->cols[j].sorted = a;
        }
    }
    /* The sorted mode is small and allocated whole; the others start empty
       and grow with the records seen. */
    if (!order_resize(st, nsorted ? w : 0)) {
        free(mem);
        free(st);
        return NULL;
    }
    /* Lane-strided positions of keys ltab[c] - 1 and ltab[c] (0 where
       there is no such key: its value is then not used). */
    if (vpass) {
        int64_t nv = (w + 7) / 8;
        for (int64_t c = 0; c <= w; c++) {
            int64_t L = st->ltab[c];
            int64_t plo = L >= 1 ? ((L - 1) % nv) * 8 + (L - 1) / nv : 0;
            int64_t phi = L < 8 * nv ? (L % nv) * 8 + L / nv : 0;
            st->vmap[4 * c] = plo & ~(int64_t)7;
            st->vmap[4 * c + 1] = phi & ~(int64_t)7;
            st->vmap[4 * c + 2] = plo & 7;
            st->vmap[4 * c + 3] = 8 + (phi & 7);
        }
    }
    return st;
}

/* ------------------------------------------------------------------------ */
/* Output from the order statistics                                          */

/* klo = key of sorted[L - 1], khi = key of sorted[L] (used only when L < c). */
static inline double order_value(const order_state *st, int64_t c, uint64_t klo,
                                 uint64_t khi)
{
    double a = from_key(klo);
    if (st->kind == PS_MOVE_MEDIAN) {
        if (c & 1)
            return a;
        return (a + from_key(khi)) / 2.0;
    } else {
        double b = st->above[c] ? a : from_key(khi);
        double t = st->ttab[c];
        double diff = b - a;
        /* numpy's _lerp */
        if (t >= 0.5)
            return b - diff * (1 - t);
        return a + diff * t;
    }
}

/* ------------------------------------------------------------------------ */
/* Sorted-array mode                                                         */

static void run_sorted(const order_state *st, column *c, const double *in,
                       int64_t n, double *out)
{
    const int64_t w = st->window, stride = st->width, mc = st->min_count;
    const int propagate = st->propagate;
    uint64_t *a = c->sorted;
    double *ring = c->ring;
    int64_t head = st->head, t = st->seen, cnt = c->cnt, last_nan = c->last_nan;

    for (int64_t i = 0; i < n; i++, t++) {
        double x = in[i * stride];
        double old = ring[head];
        ring[head] = x;
        if (++head == w)
            head = 0;
        if (x == x) {
            uint64_t kx = to_key(x);
            if (old == old) {
                uint64_t ko = to_key(old);
                int64_t p, q;
                lower_bound2(a, cnt, ko, kx, &p, &q);
                if (kx > ko) {
                    /* a[p] = ko is among the q values < kx */
                    move_down(a + p, q - 1 - p);
                    a[q - 1] = kx;
                } else if (kx < ko) {
                    move_up(a + q, p - q);
                    a[q] = kx;
                }
            } else {
                int64_t q = lower_bound(a, cnt, kx);
                memmove(a + q + 1, a + q, (size_t)(cnt - q) * 8);
                a[q] = kx;
                cnt++;
            }
        } else {
            last_nan = t;
            if (old == old) {
                int64_t p = lower_bound(a, cnt, to_key(old));
                memmove(a + p, a + p + 1, (size_t)(cnt - 1 - p) * 8);
                cnt--;
            }
        }
        if ((propagate && last_nan >= 0 && last_nan > t - w) || cnt < mc) {
            out[i * stride] = NAN;
        } else {
            int64_t L = st->ltab[cnt];
            out[i * stride] = order_value(st, cnt, a[L - 1], L < cnt ? a[L] : 0);
        }
    }
    c->cnt = cnt;
    c->last_nan = last_nan;
}

/* Small windows: one replace_pass per value over the whole array (unused
   slots hold UINT64_MAX), so the loop has a fixed trip count. */
static void run_pass(const order_state *st, column *c, const double *in,
                     int64_t n, double *out)
{
    const int64_t w = st->window, stride = st->width, mc = st->min_count;
    const int propagate = st->propagate;
    uint64_t *a = c->sorted;
    double *ring = c->ring;
    int64_t head = st->head, t = st->seen, cnt = c->cnt, last_nan = c->last_nan;

    for (int64_t i = 0; i < n; i++, t++) {
        double x = in[i * stride];
        double old = ring[head];
        uint64_t kx = x == x ? to_key(x) : UINT64_MAX;
        uint64_t ko = old == old ? to_key(old) : UINT64_MAX;
        ring[head] = x;
        if (++head == w)
            head = 0;
        replace_pass(a, w, ko, kx);
        cnt += (int64_t)(x == x) - (int64_t)(old == old);
        if (x != x)
            last_nan = t;
        if ((propagate && last_nan >= 0 && last_nan > t - w) || cnt < mc) {
            out[i * stride] = NAN;
        } else {
            int64_t L = st->ltab[cnt];
            out[i * stride] = order_value(st, cnt, a[L - 1], a[L]);
        }
    }
    c->cnt = cnt;
    c->last_nan = last_nan;
}

#ifdef HAVE_AVX512_PASS
/* replace_pass on 8 keys per instruction, over the sorted array stored
   lane-strided: with nv = ceil(window / 8) vectors, key i of the sorted
   order (0 <= i < 8 * nv; UINT64_MAX from the count on) lives in lane
   i / nv of vector i % nv, i.e. at a[(i % nv) * 8 + i / nv] (vmap).  Key
   i + 1 is then the same lane of the next vector, and for the last vector
   lane + 1 of vector 0 (UINT64_MAX past the end), so the pass needs no
   shuffle except at that seam: one compare, one blend, one min and one max
   per 8 keys.  Same formula as replace_pass: b[i] = a[i] < ko ? a[i] :
   a[i + 1], c[i] = max(b[i - 1], min(b[i], kx)), b[-1] = 0.  b of the last
   vector is computed first (it needs vector 0 before it is overwritten);
   every other vector is loaded before it is written. */
__attribute__((target("avx512f"))) static inline void
replace_pass_avx512(uint64_t *a, int64_t nv, uint64_t ko, uint64_t kx)
{
    const __m512i vko = _mm512_set1_epi64((long long)ko);
    const __m512i vkx = _mm512_set1_epi64((long long)kx);
    const __m512i ones = _mm512_set1_epi64(-1);
    __m512i cur = _mm512_load_si512((const void *)a);
    __m512i alast = _mm512_load_si512((const void *)(a + 8 * (nv - 1)));
    /* a[i + 1] for the last vector: vector 0 one lane down, then the end */
    __m512i anlast = _mm512_alignr_epi64(ones, cur, 1);
    __m512i blast = _mm512_mask_blend_epi64(_mm512_cmplt_epu64_mask(alast, vko),
                                            anlast, alast);
    /* b[i - 1] for vector 0: the last vector's b one lane up, 0 in lane 0 */
    __m512i bprev = _mm512_alignr_epi64(blast, _mm512_setzero_si512(), 7);
    for (int64_t v = 0; v + 1 < nv; v++) {
        __m512i next = _mm512_load_si512((const void *)(a + 8 * v + 8));
        __m512i b = _mm512_mask_blend_epi64(_mm512_cmplt_epu64_mask(cur, vko),
                                            next, cur);
        __m512i c = _mm512_max_epu64(bprev, _mm512_min_epu64(b, vkx));
        _mm512_store_si512((void *)(a + 8 * v), c);
        bprev = b;
        cur = next;
    }
    _mm512_store_si512((void *)(a + 8 * (nv - 1)),
                       _mm512_max_epu64(bprev, _mm512_min_epu64(blast, vkx)));
}

/* run_pass with replace_pass_avx512.  Keys ltab[cnt] - 1 and ltab[cnt] are
   lanes vmap[4 * cnt + 2] of the vector at a + vmap[4 * cnt] and
   vmap[4 * cnt + 3] - 8 of the vector at a + vmap[4 * cnt + 1]. */
__attribute__((target("avx512f"))) static void
run_pass_avx512(const order_state *st, column *c, const double *in, int64_t n,
                double *out)
{
    const int64_t w = st->window, stride = st->width, mc = st->min_count;
    const int64_t nv = (w + 7) / 8;
    const int64_t *vmap = st->vmap;
    const int propagate = st->propagate;
    uint64_t *a = c->sorted;
    double *ring = c->ring;
    int64_t head = st->head, t = st->seen, cnt = c->cnt, last_nan = c->last_nan;

    for (int64_t i = 0; i < n; i++, t++) {
        double x = in[i * stride];
        double old = ring[head];
        uint64_t kx = x == x ? to_key(x) : UINT64_MAX;
        uint64_t ko = old == old ? to_key(old) : UINT64_MAX;
        ring[head] = x;
        if (++head == w)
            head = 0;
        replace_pass_avx512(a, nv, ko, kx);
        cnt += (int64_t)(x == x) - (int64_t)(old == old);
        if (x != x)
            last_nan = t;
        if ((propagate && last_nan >= 0 && last_nan > t - w) || cnt < mc) {
            out[i * stride] = NAN;
        } else {
            /* Whole-vector loads (they forward from the pass's stores;
               8-byte loads from a vector store's upper half do not), then
               one permute brings the two keys to lanes 0 and 1. */
            const int64_t *e = vmap + 4 * cnt;
            __m512i lo = _mm512_load_si512((const void *)(a + e[0]));
            __m512i hi = _mm512_load_si512((const void *)(a + e[1]));
            __m512i idx = _mm512_castsi128_si512(
                _mm_loadu_si128((const __m128i *)(const void *)(e + 2)));
            __m128i r = _mm512_castsi512_si128(_mm512_permutex2var_epi64(lo, idx, hi));
            out[i * stride] = order_value(st, cnt, (uint64_t)_mm_cvtsi128_si64(r),
                                          (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(r, r)));
        }
    }
    c->cnt = cnt;
    c->last_nan = last_nan;
}
#endif /* HAVE_AVX512_PASS */
/* ------------------------------------------------------------------------ */
/* Double-heap mode.  Both heaps are max-heaps of uint64; `high` stores ~key
   so its top is the smallest key.  pos[slot] = index | (HIGH_FLAG if in
   high).                                                                    */

static inline void heap_up(hent *h, uint32_t *pos, uint32_t flag, int64_t i,
                           hent e)
{
    while (i > 0) {
        int64_t par = (i - 1) >> 1;
        if (h[par].k >= e.k)
            break;
        h[i] = h[par];
        pos[h[i].slot] = (uint32_t)i | flag;
        i = par;
    }
    h[i] = e;
    pos[e.slot] = (uint32_t)i | flag;
}

static inline void heap_down(hent *h, int64_t n, uint32_t *pos, uint32_t flag,
                             int64_t i, hent e)
{
    for (;;) {
        int64_t ch = 2 * i + 1;
        if (ch >= n)
            break;
        if (ch + 1 < n && h[ch + 1].k > h[ch].k)
            ch++;
        if (h[ch].k <= e.k)
            break;
        h[i] = h[ch];
        pos[h[i].slot] = (uint32_t)i | flag;
        i = ch;
    }
    h[i] = e;
    pos[e.slot] = (uint32_t)i | flag;
}

/* Put e at index i (replacing what was there) and restore the heap. */
static inline void heap_replace(hent *h, int64_t n, uint32_t *pos, uint32_t flag,
                                int64_t i, hent e)
{
    if (i > 0 && h[(i - 1) >> 1].k < e.k)
        heap_up(h, pos, flag, i, e);
    else
        heap_down(h, n, pos, flag, i, e);
}

/* Remove index i; returns the new size. */
static inline int64_t heap_remove(hent *h, int64_t n, uint32_t *pos,
                                  uint32_t flag, int64_t i)
{
    n--;
    if (i < n)
        heap_replace(h, n, pos, flag, i, h[n]);
    return n;
}

static void run_heap(const order_state *st, column *c, const double *in,
                     int64_t n, double *out)
{
    const int64_t w = st->window, stride = st->width, mc = st->min_count;
    const int propagate = st->propagate;
    hent *lo = c->low, *hi = c->high;
    uint32_t *pos = c->pos;
    double *ring = c->ring;
    int64_t head = st->head, t = st->seen, cnt = c->cnt, last_nan = c->last_nan;
    int64_t nlo = c->nlow, nhi = c->nhigh;

    for (int64_t i = 0; i < n; i++, t++) {
        double x = in[i * stride];
        uint64_t s = (uint64_t)head;
        double old = ring[head];
        ring[head] = x;
        if (++head == w)
            head = 0;
        if (x == x) {
            hent e;
            e.k = to_key(x);
            e.slot = s;
            if (old == old) {
                uint32_t ps = pos[s];
                if (!(ps & HIGH_FLAG)) {
                    if (nhi == 0 || e.k <= ~hi[0].k) {
                        heap_replace(lo, nlo, pos, 0, ps, e);
                    } else {
                        hent m = hi[0];
                        m.k = ~m.k;
                        heap_replace(lo, nlo, pos, 0, ps, m);
                        e.k = ~e.k;
                        heap_down(hi, nhi, pos, HIGH_FLAG, 0, e);
                    }
                } else {
                    ps &= ~HIGH_FLAG;
                    if (nlo == 0 || e.k >= lo[0].k) {
                        e.k = ~e.k;
                        heap_replace(hi, nhi, pos, HIGH_FLAG, ps, e);
                    } else {
                        hent m = lo[0];
                        m.k = ~m.k;
                        heap_replace(hi, nhi, pos, HIGH_FLAG, ps, m);
                        heap_down(lo, nlo, pos, 0, 0, e);
                    }
                }
            } else {
                if (nlo > 0 && e.k <= lo[0].k) {
                    heap_up(lo, pos, 0, nlo, e);
                    nlo++;
                } else {
                    e.k = ~e.k;
                    heap_up(hi, pos, HIGH_FLAG, nhi, e);
                    nhi++;
                }
                cnt++;
            }
        } else {
            last_nan = t;
            if (old == old) {
                uint32_t ps = pos[s];
                if (!(ps & HIGH_FLAG))
                    nlo = heap_remove(lo, nlo, pos, 0, ps);
                else
                    nhi = heap_remove(hi, nhi, pos, HIGH_FLAG, ps & ~HIGH_FLAG);
                cnt--;
            }
        }
        /* Rebalance: low must hold ltab[cnt] values. */
        {
            int64_t L = st->ltab[cnt];
            while (nlo > L) {
                hent m = lo[0];
                nlo = heap_remove(lo, nlo, pos, 0, 0);
                m.k = ~m.k;
                heap_up(hi, pos, HIGH_FLAG, nhi, m);
                nhi++;
            }
            while (nlo < L) {
                hent m = hi[0];
                nhi = heap_remove(hi, nhi, pos, HIGH_FLAG, 0);
                m.k = ~m.k;
                heap_up(lo, pos, 0, nlo, m);
                nlo++;
            }
        }
        if ((propagate && last_nan >= 0 && last_nan > t - w) || cnt < mc)
            out[i * stride] = NAN;
        else
            out[i * stride] = order_value(st, cnt, lo[0].k, nhi > 0 ? ~hi[0].k : 0);
    }
    c->cnt = cnt;
    c->last_nan = last_nan;
    c->nlow = nlo;
    c->nhigh = nhi;
}

/* ------------------------------------------------------------------------ */
/* Rank                                                                      */

/* Counts over r[0..w) of values < x, == x and non-NaN.  gcc does not
   vectorize the scalar loop for baseline x86-64 (no 64-bit integer compare
   in SSE2), hence the SSE2 version; both count exactly the same. */
static void rank_counts(const double *r, int64_t w, double x, int64_t *lt,
                        int64_t *eq, int64_t *nn)
{
    int64_t j = 0, a = 0, b = 0, c = 0;
#ifdef HAVE_SSE2_RANK
    {
        __m128i l0 = _mm_setzero_si128(), e0 = l0, n0 = l0;
        __m128i l1 = l0, e1 = l0, n1 = l0;
        const __m128d xv = _mm_set1_pd(x);
        int64_t lanes[2];
        for (; j + 4 <= w; j += 4) {
            __m128d v0 = _mm_loadu_pd(r + j), v1 = _mm_loadu_pd(r + j + 2);
            /* a true compare is all ones = -1 per 64-bit lane */
            l0 = _mm_sub_epi64(l0, _mm_castpd_si128(_mm_cmplt_pd(v0, xv)));
            e0 = _mm_sub_epi64(e0, _mm_castpd_si128(_mm_cmpeq_pd(v0, xv)));
            n0 = _mm_sub_epi64(n0, _mm_castpd_si128(_mm_cmpord_pd(v0, v0)));
            l1 = _mm_sub_epi64(l1, _mm_castpd_si128(_mm_cmplt_pd(v1, xv)));
            e1 = _mm_sub_epi64(e1, _mm_castpd_si128(_mm_cmpeq_pd(v1, xv)));
            n1 = _mm_sub_epi64(n1, _mm_castpd_si128(_mm_cmpord_pd(v1, v1)));
        }
        _mm_storeu_si128((__m128i *)(void *)lanes, _mm_add_epi64(l0, l1));
        a = lanes[0] + lanes[1];
        _mm_storeu_si128((__m128i *)(void *)lanes, _mm_add_epi64(e0, e1));
        b = lanes[0] + lanes[1];
        _mm_storeu_si128((__m128i *)(void *)lanes, _mm_add_epi64(n0, n1));
        c = lanes[0] + lanes[1];
    }
#endif
    for (; j < w; j++) {
        double v = r[j];
        a += v < x;
        b += v == x;
        c += v == v;
    }
    *lt = a;
    *eq = b;
    *nn = c;
}

static void run_rank(const order_state *st, column *c, const double *in,
                     int64_t n, double *out)
{
    const int64_t w = st->window, stride = st->width, mc = st->min_count;
    const int propagate = st->propagate;
    double *ring = c->ring;
    int64_t head = st->head, t = st->seen, last_nan = c->last_nan;

    for (int64_t i = 0; i < n; i++, t++) {
        double x = in[i * stride];
        ring[head] = x;
        if (++head == w)
            head = 0;
        if (x != x) {
            last_nan = t;
            out[i * stride] = NAN;
            continue;
        }
        if (propagate && last_nan >= 0 && last_nan > t - w) {
            out[i * stride] = NAN;
            continue;
        }
        {
            /* Over the whole window including x itself: lt = values < x,
               eq = values == x (x included), nn = non-NaN values.
               bottleneck: g = 2 * lt, e = eq, n = nn. */
            /* Before the window fills, slots t + 1 .. w - 1 are NaN (never
               written): count over slots 0 .. t only, so the cost follows
               the records in the window, not its nominal length. */
            int64_t lt, eq, nn;
            rank_counts(ring, t < w ? t + 1 : w, x, &lt, &eq, &nn);
            if (nn < mc) {
                out[i * stride] = NAN;
            } else if (nn == 1) {
                out[i * stride] = 0.0;
            } else {
                double g = (double)(2 * lt), e = (double)eq;
                double r = 0.5 * (g + e - 1.0);
                r = r / ((double)nn - 1.0);
                out[i * stride] = 2.0 * (r - 0.5);
            }
        }
    }
    c->last_nan = last_nan;
}

/* ------------------------------------------------------------------------ */

static void order_update(void *p, const double *in, int64_t n, double *out,
                         int64_t *nout)
{
    order_state *st = p;
    const int64_t width = st->width, w = st->window, seen = st->seen;
    /* room for the records in the window after this update (at most w) */
    int64_t need, cap = ps_window_room(st->cap, seen < w ? seen : w, n, w, width, &need);
    if (cap > st->cap) {
        if (st->heap_mode && need < (int64_t)HIGH_FLAG && cap >= (int64_t)HIGH_FLAG)
            cap = (int64_t)HIGH_FLAG - 1;
        if (!order_resize(st, cap)) {
            *nout = -1; /* out of memory: nothing changed */
            return;
        }
    }
    for (int64_t j = 0; j < width; j++) {
        column *c = &st->cols[j];
        if (st->kind == PS_MOVE_RANK)
            run_rank(st, c, in + j, n, out + j);
        else if (st->heap_mode)
            run_heap(st, c, in + j, n, out + j);
#ifdef HAVE_AVX512_PASS
        else if (st->vpass)
            run_pass_avx512(st, c, in + j, n, out + j);
#endif
        else if (st->window <= PS_ORDER_PASS_MAX)
            run_pass(st, c, in + j, n, out + j);
        else
            run_sorted(st, c, in + j, n, out + j);
    }
    st->seen += n;
    st->head = (int64_t)(((uint64_t)st->head + (uint64_t)(n % st->window)) %
                         (uint64_t)st->window);
    *nout = n;
}

const ps_family ps_family_order = {
    order_create, order_destroy, order_update, NULL, NULL, NULL,
};
