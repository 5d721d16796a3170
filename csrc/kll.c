/*
 * kll.c -- the KLL quantile sketch declared in kll.h.
 *
 * The state mirrors DataSketches' kll_sketch: one buffer `items` of
 * capacity levels[num_levels] = total_capacity(k, num_levels); level h is
 * items[levels[h], levels[h+1]); the free space [0, levels[0]) sits below
 * level 0, which grows downwards (value i of a run goes to levels[0] - 1,
 * value i + 1 below it, exactly as DataSketches inserts one value at a
 * time).  Items are uint64 keys: the IEEE total order of the doubles as
 * unsigned integers, so comparisons are integer comparisons, NaN never
 * enters (it is filtered and counted on input) and every sort has one
 * result.
 *
 * Speed (see the report in the commit log / docs): values are converted to
 * keys a block at a time (a vectorisable loop, NaN filtered only when a
 * block holds one) and copied into level 0 in runs, one compaction between
 * runs; level 0 is sorted with sorting networks (8 or 16 inputs, padded)
 * and branchless merges; the halved level is merged into the level above
 * with a branchless merge that stops as soon as the halved run is used up
 * (the rest of the level above is already in place).
 *
 * min / max: level 0 is sorted before it is compacted, so its min and max
 * are folded into min_key / max_key then; the exact min / max are
 * min_key / max_key combined with a scan of the current level 0.
 */
#include "kll.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "serial.h"

#define KLL_M 8u
#define KLL_MIN_K 8
#define KLL_MAX_K 65535
#define MAX_LEVELS 62
#define BLOCK 2048
#define SIGN 0x8000000000000000ull
/* keys of -inf and +inf; NaN keys lie outside [KEY_NINF, KEY_PINF] */
#define KEY_NINF 0x000FFFFFFFFFFFFFull
#define KEY_PINF 0xFFF0000000000000ull
#define FORMAT_VERSION 1u
/* scratch beyond a capacity: sentinels around the runs being merged */
#define TMP_PAD 8
#define MAX_N ((int64_t)1 << 62)

static const unsigned char MAGIC[8] = {'P', 'S', 'K', 'L', 'L', 'S', 'K', 'T'};

struct ps_kll {
    uint64_t *items;      /* levels[num_levels] slots */
    uint64_t *sort_tmp;   /* tmp_cap + TMP_PAD slots: sorting, merging */
    uint64_t *keys;       /* BLOCK slots: converted input */
    uint32_t tmp_cap;
    uint32_t k;
    int num_levels;
    uint64_t seed, rng;
    int64_t n, nan_count;
    uint64_t min_key, max_key; /* UINT64_MAX / 0 when nothing folded yet */
    uint32_t levels[MAX_LEVELS + 2];
    uint32_t caps[MAX_LEVELS + 1];
};

/* ------------------------------------------------------------------------ */
/* keys                                                                     */

static inline uint64_t key_of_bits(uint64_t u)
{
    uint64_t m = (uint64_t)0 - (u >> 63); /* all ones if negative */
    return u ^ (m | SIGN);
}

static inline uint64_t key_of(double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    return key_of_bits(u);
}

static inline double value_of(uint64_t key)
{
    uint64_t u = (key & SIGN) ? key ^ SIGN : ~key;
    double v;
    memcpy(&v, &u, 8);
    return v;
}

static inline int key_is_nan(uint64_t key) { return key - KEY_NINF > KEY_PINF - KEY_NINF; }

/* ------------------------------------------------------------------------ */
/* capacities (DataSketches' kll_helper)                                    */

static const uint64_t POW3[31] = {
    1ull, 3ull, 9ull, 27ull, 81ull, 243ull, 729ull, 2187ull, 6561ull, 19683ull,
    59049ull, 177147ull, 531441ull, 1594323ull, 4782969ull, 14348907ull,
    43046721ull, 129140163ull, 387420489ull, 1162261467ull, 3486784401ull,
    10460353203ull, 31381059609ull, 94143178827ull, 282429536481ull,
    847288609443ull, 2541865828329ull, 7625597484987ull, 22876792454961ull,
    68630377364883ull, 205891132094649ull};

/* round(k * (2/3)**depth) in integers, depth <= 30 */
static uint32_t cap_aux_aux(uint32_t k, int depth)
{
    uint64_t twok = (uint64_t)k << 1;
    uint64_t tmp = (twok << depth) / POW3[depth];
    return (uint32_t)((tmp + 1) >> 1);
}

static uint32_t level_capacity(uint32_t k, int num_levels, int height)
{
    int depth = num_levels - height - 1;
    uint32_t c;
    if (depth <= 30) {
        c = cap_aux_aux(k, depth);
    } else {
        int half = depth / 2;
        c = cap_aux_aux(cap_aux_aux(k, half), depth - half);
    }
    return c > KLL_M ? c : KLL_M;
}

static uint32_t total_capacity(uint32_t k, int num_levels)
{
    uint32_t t = 0;
    for (int h = 0; h < num_levels; h++)
        t += level_capacity(k, num_levels, h);
    return t;
}

static void set_caps(ps_kll *s)
{
    for (int h = 0; h < s->num_levels; h++)
        s->caps[h] = level_capacity(s->k, s->num_levels, h);
}

/* ------------------------------------------------------------------------ */
/* PRNG: splitmix64, one output (its top bit) per compaction                */

static inline unsigned rng_bit(ps_kll *s)
{
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (unsigned)(z >> 63);
}

/* ------------------------------------------------------------------------ */
/* sorting: networks for <= 16 keys, branchless merges above                */

#define CE(a, b)                                                               \
    do {                                                                       \
        uint64_t x_ = a, y_ = b;                                               \
        a = x_ < y_ ? x_ : y_;                                                 \
        b = x_ < y_ ? y_ : x_;                                                 \
    } while (0)

static inline void net8(uint64_t *v)
{
    uint64_t a0 = v[0], a1 = v[1], a2 = v[2], a3 = v[3], a4 = v[4], a5 = v[5], a6 = v[6],
             a7 = v[7];
    CE(a0, a2); CE(a1, a3); CE(a4, a6); CE(a5, a7);
    CE(a0, a4); CE(a1, a5); CE(a2, a6); CE(a3, a7);
    CE(a0, a1); CE(a2, a3); CE(a4, a5); CE(a6, a7);
    CE(a2, a4); CE(a3, a5);
    CE(a1, a4); CE(a3, a6);
    CE(a1, a2); CE(a3, a4); CE(a5, a6);
    v[0] = a0; v[1] = a1; v[2] = a2; v[3] = a3; v[4] = a4; v[5] = a5; v[6] = a6; v[7] = a7;
}

/* Green's 60-comparator network (depth 10). */
static inline void net16(uint64_t *v)
{
    uint64_t a0 = v[0], a1 = v[1], a2 = v[2], a3 = v[3], a4 = v[4], a5 = v[5], a6 = v[6],
             a7 = v[7], a8 = v[8], a9 = v[9], a10 = v[10], a11 = v[11], a12 = v[12],
             a13 = v[13], a14 = v[14], a15 = v[15];
    CE(a0, a13); CE(a1, a12); CE(a2, a15); CE(a3, a14); CE(a4, a8); CE(a5, a6); CE(a7, a11); CE(a9, a10);
    CE(a0, a5); CE(a1, a7); CE(a2, a9); CE(a3, a4); CE(a6, a13); CE(a8, a14); CE(a10, a15); CE(a11, a12);
    CE(a0, a1); CE(a2, a3); CE(a4, a5); CE(a6, a8); CE(a7, a9); CE(a10, a11); CE(a12, a13); CE(a14, a15);
    CE(a0, a2); CE(a1, a3); CE(a4, a10); CE(a5, a11); CE(a6, a7); CE(a8, a9); CE(a12, a14); CE(a13, a15);
    CE(a1, a2); CE(a3, a12); CE(a4, a6); CE(a5, a7); CE(a8, a10); CE(a9, a11); CE(a13, a14);
    CE(a1, a4); CE(a2, a6); CE(a5, a8); CE(a7, a10); CE(a9, a13); CE(a11, a14);
    CE(a2, a4); CE(a3, a6); CE(a9, a12); CE(a11, a13);
    CE(a3, a5); CE(a6, a8); CE(a7, a9); CE(a10, a12);
    CE(a3, a4); CE(a5, a6); CE(a7, a8); CE(a9, a10); CE(a11, a12);
    CE(a6, a7); CE(a8, a9);
    v[0] = a0; v[1] = a1; v[2] = a2; v[3] = a3; v[4] = a4; v[5] = a5; v[6] = a6; v[7] = a7;
    v[8] = a8; v[9] = a9; v[10] = a10; v[11] = a11; v[12] = a12; v[13] = a13; v[14] = a14;
    v[15] = a15;
}

/* Sort n <= 16 keys in place (padded with the largest key). */
static void sort_small(uint64_t *a, uint32_t n)
{
    uint64_t v[16];
    if (n <= 1)
        return;
    if (n <= 8) {
        for (uint32_t i = 0; i < 8; i++)
            v[i] = i < n ? a[i] : UINT64_MAX;
        net8(v);
    } else {
        for (uint32_t i = 0; i < 16; i++)
            v[i] = i < n ? a[i] : UINT64_MAX;
        net16(v);
    }
    memcpy(a, v, (size_t)n * 8);
}

/* out <- merge(a[0..na), b[0..nb)); out may not overlap a or b. */
static void merge_runs(const uint64_t *a, uint32_t na, const uint64_t *b, uint32_t nb,
                       uint64_t *out)
{
    uint32_t i = 0, j = 0, o = 0;
    while (i < na && j < nb) {
        uint64_t x = a[i], y = b[j];
        int t = y < x;
        out[o++] = t ? y : x;
        j += (uint32_t)t;
        i += (uint32_t)!t;
    }
    while (i < na)
        out[o++] = a[i++];
    while (j < nb)
        out[o++] = b[j++];
}

/* Sort n keys in place; tmp holds n keys. */
static void sort_keys(uint64_t *a, uint32_t n, uint64_t *tmp)
{
    if (n <= 16) {
        sort_small(a, n);
        return;
    }
    for (uint32_t i = 0; i < n; i += 16)
        sort_small(a + i, n - i < 16 ? n - i : 16);
    uint64_t *src = a, *dst = tmp;
    for (uint32_t w = 16; w < n; w *= 2) {
        for (uint32_t i = 0; i < n; i += 2 * w) {
            uint32_t na = n - i < w ? n - i : w;
            uint32_t nb = n - i - na < w ? n - i - na : w;
            merge_runs(src + i, na, src + i + na, nb, dst + i);
        }
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, (size_t)n * 8);
}

/* ------------------------------------------------------------------------ */
/* compaction                                                                */

/* Keep the even (offset 0) or odd (offset 1) positions of buf[0..len),
   packed at the bottom (down) or at the top (up) of the range. */
static void halve_up(uint64_t *buf, uint32_t len, unsigned offset)
{
    uint32_t half = len / 2;
    for (uint32_t t = 0; t < half; t++)
        buf[len - 1 - t] = buf[len - 1 - offset - 2 * t];
}

/* Bidirectional branchless merge of a[0..na) and b[0..nb) into
   out[0..na+nb): the front half takes the smallest keys, the back half the
   largest, two independent dependency chains.  a[-1] and b[-1] must be 0
   and a[na] and b[nb] UINT64_MAX (no key is either: both are NaN keys).
   Equal keys are identical, so the output does not depend on which copy
   of a tie is taken. */
static void merge_bidir(const uint64_t *a, uint32_t na, const uint64_t *b, uint32_t nb,
                        uint64_t *out)
{
    uint32_t total = na + nb, nfront = total / 2, nback = total - nfront;
    const uint64_t *fa = a, *fb = b, *ba = a + na - 1, *bb = b + nb - 1;
    uint64_t *fo = out, *bo = out + total - 1;
    uint32_t t = 0;
    for (; t < nfront; t++) {
        uint64_t x = *fa, y = *fb;
        int tb = y < x;
        *fo++ = tb ? y : x;
        fb += tb;
        fa += !tb;
        uint64_t u = *ba, v = *bb;
        int ta = u > v;
        *bo-- = ta ? u : v;
        ba -= ta;
        bb -= !ta;
    }
    if (t < nback) {
        uint64_t u = *ba, v = *bb;
        *bo = u > v ? u : v;
    }
}

/* Halve items[adj_beg .. adj_beg + adj_pop) (sorted) with one random bit
   and merge it into the level above, which starts at adj_beg + adj_pop:
   the result fills items[adj_beg + adj_pop / 2 .. end of the level above).
   tmp holds adj_pop / 2 + pop_above + 4 keys. */
static void halve_and_merge(ps_kll *s, uint64_t *items, uint32_t adj_beg, uint32_t adj_pop,
                            uint32_t pop_above, uint64_t *tmp)
{
    unsigned bit = rng_bit(s);
    uint32_t half = adj_pop / 2;
    if (pop_above == 0) {
        halve_up(items + adj_beg, adj_pop, bit);
        return;
    }
    uint64_t *a = tmp + 1, *b = tmp + half + 3;
    const uint64_t *src = items + adj_beg + bit;
    for (uint32_t i = 0; i < half; i++)
        a[i] = src[2 * i];
    a[-1] = 0;
    a[half] = UINT64_MAX;
    memcpy(b, items + adj_beg + adj_pop, (size_t)pop_above * 8);
    b[-1] = 0;
    b[pop_above] = UINT64_MAX;
    merge_bidir(a, half, b, pop_above, items + adj_beg + half);
}

static int ensure_sort_tmp(ps_kll *s, uint32_t cap)
{
    if (s->tmp_cap >= cap)
        return PS_OK;
    uint64_t *t = malloc(((size_t)cap + TMP_PAD) * 8);
    if (!t)
        return PS_ERR_NOMEM;
    free(s->sort_tmp);
    s->sort_tmp = t;
    s->tmp_cap = cap;
    return PS_OK;
}

static int add_empty_top_level(ps_kll *s)
{
    int L = s->num_levels;
    if (L >= MAX_LEVELS)
        return PS_ERR_OVERFLOW;
    uint32_t cur = s->levels[L];
    uint32_t delta = level_capacity(s->k, L + 1, 0);
    uint32_t cap = cur + delta;
    uint64_t *buf = malloc((size_t)cap * 8);
    if (!buf)
        return PS_ERR_NOMEM;
    if (ensure_sort_tmp(s, cap) != PS_OK) {
        free(buf);
        return PS_ERR_NOMEM;
    }
    memcpy(buf + delta, s->items, (size_t)cur * 8);
    free(s->items);
    s->items = buf;
    for (int h = 0; h <= L; h++)
        s->levels[h] += delta;
    s->levels[L + 1] = cap;
    s->num_levels = L + 1;
    set_caps(s);
    return PS_OK;
}

static inline void fold_minmax(ps_kll *s, uint64_t lo, uint64_t hi)
{
    if (lo < s->min_key)
        s->min_key = lo;
    if (hi > s->max_key)
        s->max_key = hi;
}

/* The buffer is full and a value arrives: compact the lowest level at or
   over its capacity (DataSketches' compress_while_updating). */
static int compress_while_updating(ps_kll *s)
{
    int h = 0;
    while (h < s->num_levels - 1 && s->levels[h + 1] - s->levels[h] < s->caps[h])
        h++;
    if (h == s->num_levels - 1) {
        int st = add_empty_top_level(s);
        if (st != PS_OK)
            return st;
    }
    uint32_t *lv = s->levels;
    uint64_t *items = s->items;
    uint32_t raw_beg = lv[h], raw_lim = lv[h + 1];
    uint32_t pop_above = lv[h + 2] - raw_lim;
    uint32_t raw_pop = raw_lim - raw_beg;
    uint32_t odd = raw_pop & 1u;
    uint32_t adj_beg = raw_beg + odd, adj_pop = raw_pop - odd, half = adj_pop / 2;
    if (h == 0 && adj_pop > 0) {
        sort_keys(items + adj_beg, adj_pop, s->sort_tmp);
        fold_minmax(s, items[adj_beg], items[adj_beg + adj_pop - 1]);
    }
    halve_and_merge(s, items, adj_beg, adj_pop, pop_above, s->sort_tmp);
    lv[h + 1] -= half;
    if (odd) {
        lv[h] = lv[h + 1] - 1;
        items[lv[h]] = items[raw_beg];
    } else {
        lv[h] = lv[h + 1];
    }
    if (h > 0) {
        uint32_t amount = raw_beg - lv[0];
        memmove(items + lv[0] + half, items + lv[0], (size_t)amount * 8);
        for (int j = 0; j < h; j++)
            lv[j] += half;
    }
    return PS_OK;
}

/* Append keys (no NaN) to level 0, one compaction whenever the buffer is
   full and another key arrives. */
static int insert_keys(ps_kll *s, const uint64_t *keys, int64_t cnt)
{
    while (cnt > 0) {
        if (s->levels[0] == 0) {
            int st = compress_while_updating(s);
            if (st != PS_OK)
                return st;
        }
        uint32_t top = s->levels[0];
        uint32_t r = cnt < (int64_t)top ? (uint32_t)cnt : top;
        uint64_t *dst = s->items + top - r; /* key i goes to top - 1 - i */
        for (uint32_t i = 0; i < r; i++)
            dst[r - 1 - i] = keys[i];
        s->levels[0] = top - r;
        s->n += r;
        keys += r;
        cnt -= r;
    }
    return PS_OK;
}

/* ------------------------------------------------------------------------ */
/* input conversion                                                          */

#define CONVERT(T)                                                             \
    do {                                                                       \
        if (stride == (ptrdiff_t)sizeof(T)) {                                  \
            const T *q = (const T *)(const void *)p;                           \
            for (int64_t i = 0; i < cnt; i++)                                  \
                out[i] = key_of((double)q[i]);                                 \
        } else {                                                               \
            for (int64_t i = 0; i < cnt; i++) {                                \
                T v;                                                           \
                memcpy(&v, p + i * stride, sizeof v);                          \
                out[i] = key_of((double)v);                                    \
            }                                                                  \
        }                                                                      \
    } while (0)

/* Keys of cnt values at p, p + stride, ...; returns 1 if float input may
   hold a NaN key (then the caller filters). */
static int to_keys(int dtype, const char *p, int64_t cnt, ptrdiff_t stride, uint64_t *out)
{
    switch (dtype) {
    case PS_FLOAT64: {
        uint64_t bad = 0;
        if (stride == 8) {
            for (int64_t i = 0; i < cnt; i++) {
                uint64_t u;
#if defined(__GNUC__)
                if ((i & 7) == 0) /* the next block, while the sketch works */
                    __builtin_prefetch((const void *)((uintptr_t)p + (uintptr_t)(i + BLOCK) * 8));
#endif
                memcpy(&u, p + i * 8, 8);
                uint64_t key = key_of_bits(u);
                bad |= (uint64_t)(key - KEY_NINF > KEY_PINF - KEY_NINF);
                out[i] = key;
            }
        } else {
            for (int64_t i = 0; i < cnt; i++) {
                uint64_t u;
                memcpy(&u, p + i * stride, 8);
                uint64_t key = key_of_bits(u);
                bad |= (uint64_t)(key - KEY_NINF > KEY_PINF - KEY_NINF);
                out[i] = key;
            }
        }
        return bad != 0;
    }
    case PS_FLOAT32: {
        uint64_t bad = 0;
        for (int64_t i = 0; i < cnt; i++) {
            float f;
            memcpy(&f, p + i * stride, 4);
            uint64_t key = key_of((double)f);
            bad |= (uint64_t)(key - KEY_NINF > KEY_PINF - KEY_NINF);
            out[i] = key;
        }
        return bad != 0;
    }
    case PS_BOOL:
        for (int64_t i = 0; i < cnt; i++)
            out[i] = key_of(p[i * stride] ? 1.0 : 0.0);
        return 0;
    case PS_INT8: CONVERT(int8_t); return 0;
    case PS_INT16: CONVERT(int16_t); return 0;
    case PS_INT32: CONVERT(int32_t); return 0;
    case PS_INT64: CONVERT(int64_t); return 0;
    case PS_UINT8: CONVERT(uint8_t); return 0;
    case PS_UINT16: CONVERT(uint16_t); return 0;
    case PS_UINT32: CONVERT(uint32_t); return 0;
    case PS_UINT64: CONVERT(uint64_t); return 0;
    default: return 0;
    }
}

static int64_t drop_nans(uint64_t *keys, int64_t cnt)
{
    int64_t j = 0;
    for (int64_t i = 0; i < cnt; i++) {
        uint64_t key = keys[i];
        keys[j] = key;
        j += !key_is_nan(key);
    }
    return j;
}

static int flush_keys(ps_kll *s, int64_t cnt, int maybe_nan)
{
    int64_t kept = maybe_nan ? drop_nans(s->keys, cnt) : cnt;
    s->nan_count += cnt - kept;
    return insert_keys(s, s->keys, kept);
}

static size_t dtype_size(int dtype)
{
    switch (dtype) {
    case PS_BOOL: case PS_INT8: case PS_UINT8: return 1;
    case PS_INT16: case PS_UINT16: return 2;
    case PS_INT32: case PS_UINT32: case PS_FLOAT32: return 4;
    case PS_INT64: case PS_UINT64: case PS_FLOAT64: return 8;
    default: return 0;
    }
}

int ps_kll_update(ps_kll *s, const void *data, int dtype, int64_t n, int64_t width,
                  ptrdiff_t record_stride, ptrdiff_t value_stride)
{
    size_t isz = dtype_size(dtype);
    const char *base = data;
    int st = PS_OK;
    if (!s || isz == 0 || n < 0 || width < 0 || (!data && n > 0 && width > 0))
        return isz == 0 && s ? PS_ERR_DTYPE : PS_ERR_ARG;
    if (n == 0 || width == 0)
        return PS_OK;
    if (width > MAX_N / n || n * width > MAX_N - s->n - s->nan_count)
        return PS_ERR_OVERFLOW;
    if (width == 1 || (value_stride == (ptrdiff_t)isz && record_stride == (ptrdiff_t)isz * width)) {
        /* one run of n * width values */
        int64_t total = n * width;
        ptrdiff_t stride = width == 1 ? record_stride : (ptrdiff_t)isz;
        for (int64_t i = 0; i < total && st == PS_OK; i += BLOCK) {
            int64_t cnt = total - i < BLOCK ? total - i : BLOCK;
            int maybe_nan = to_keys(dtype, base + i * stride, cnt, stride, s->keys);
            st = flush_keys(s, cnt, maybe_nan);
        }
        return st;
    }
    {
        int64_t fill = 0;
        int maybe_nan = 0;
        for (int64_t i = 0; i < n && st == PS_OK; i++) {
            const char *rec = base + i * record_stride;
            int64_t j = 0;
            while (j < width && st == PS_OK) {
                int64_t take = width - j < BLOCK - fill ? width - j : BLOCK - fill;
                maybe_nan |= to_keys(dtype, rec + j * value_stride, take, value_stride,
                                     s->keys + fill);
                fill += take;
                j += take;
                if (fill == BLOCK) {
                    st = flush_keys(s, fill, maybe_nan);
                    fill = 0;
                    maybe_nan = 0;
                }
            }
        }
        if (st == PS_OK && fill > 0)
            st = flush_keys(s, fill, maybe_nan);
    }
    return st;
}

/* ------------------------------------------------------------------------ */
/* life cycle and accessors                                                  */

static ps_kll *alloc_state(uint32_t k, uint32_t cap)
{
    ps_kll *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->items = malloc((size_t)cap * 8);
    s->sort_tmp = malloc(((size_t)cap + TMP_PAD) * 8);
    s->keys = malloc((size_t)BLOCK * 8);
    if (!s->items || !s->sort_tmp || !s->keys) {
        ps_kll_free(s);
        return NULL;
    }
    s->tmp_cap = cap;
    s->k = k;
    return s;
}

int ps_kll_new(ps_kll **out, int64_t k, uint64_t seed)
{
    if (!out)
        return PS_ERR_ARG;
    *out = NULL;
    if (k < KLL_MIN_K || k > KLL_MAX_K)
        return PS_ERR_ARG;
    ps_kll *s = alloc_state((uint32_t)k, (uint32_t)k);
    if (!s)
        return PS_ERR_NOMEM;
    s->num_levels = 1;
    s->levels[0] = s->levels[1] = (uint32_t)k;
    s->seed = s->rng = seed;
    s->min_key = UINT64_MAX;
    s->max_key = 0;
    set_caps(s);
    *out = s;
    return PS_OK;
}

void ps_kll_free(ps_kll *s)
{
    if (!s)
        return;
    free(s->items);
    free(s->sort_tmp);
    free(s->keys);
    free(s);
}

int ps_kll_copy(ps_kll **out, const ps_kll *s)
{
    if (!out || !s)
        return PS_ERR_ARG;
    *out = NULL;
    uint32_t cap = s->levels[s->num_levels];
    ps_kll *c = alloc_state(s->k, cap);
    if (!c)
        return PS_ERR_NOMEM;
    uint64_t *items = c->items, *tmp = c->sort_tmp, *keys = c->keys;
    memcpy(c, s, sizeof *c);
    c->items = items;
    c->sort_tmp = tmp;
    c->keys = keys;
    c->tmp_cap = cap;
    memcpy(items + s->levels[0], s->items + s->levels[0],
           (size_t)(cap - s->levels[0]) * 8);
    *out = c;
    return PS_OK;
}

int ps_kll_set_rng(ps_kll *s, uint64_t state)
{
    if (!s)
        return PS_ERR_ARG;
    s->rng = state;
    return PS_OK;
}

uint64_t ps_kll_rng(const ps_kll *s) { return s ? s->rng : 0; }

int64_t ps_kll_k(const ps_kll *s) { return s ? (int64_t)s->k : -1; }
uint64_t ps_kll_seed(const ps_kll *s) { return s ? s->seed : 0; }
int64_t ps_kll_count(const ps_kll *s) { return s ? s->n : -1; }
int64_t ps_kll_nan_count(const ps_kll *s) { return s ? s->nan_count : -1; }
int ps_kll_num_levels(const ps_kll *s) { return s ? s->num_levels : -1; }
int ps_kll_is_exact(const ps_kll *s) { return s && s->num_levels == 1; }

int64_t ps_kll_num_retained(const ps_kll *s)
{
    return s ? (int64_t)(s->levels[s->num_levels] - s->levels[0]) : -1;
}

int64_t ps_kll_level_offset(const ps_kll *s, int h)
{
    if (!s || h < 0 || h > s->num_levels)
        return -1;
    return s->levels[h];
}

int ps_kll_retained(const ps_kll *s, double *out, int64_t cap)
{
    if (!s || (!out && cap > 0))
        return PS_ERR_ARG;
    int64_t r = ps_kll_num_retained(s);
    if (cap < r)
        return PS_ERR_BUFSIZE;
    for (int64_t i = 0; i < r; i++)
        out[i] = value_of(s->items[s->levels[0] + i]);
    return PS_OK;
}

/* The exact min / max keys: folded keys and the current level 0. */
static void effective_minmax(const ps_kll *s, uint64_t *lo, uint64_t *hi)
{
    uint64_t a = s->min_key, b = s->max_key;
    for (uint32_t i = s->levels[0]; i < s->levels[1]; i++) {
        uint64_t v = s->items[i];
        a = v < a ? v : a;
        b = v > b ? v : b;
    }
    *lo = a;
    *hi = b;
}

double ps_kll_min(const ps_kll *s)
{
    uint64_t lo, hi;
    if (!s || s->n == 0)
        return NAN;
    effective_minmax(s, &lo, &hi);
    return value_of(lo);
}

double ps_kll_max(const ps_kll *s)
{
    uint64_t lo, hi;
    if (!s || s->n == 0)
        return NAN;
    effective_minmax(s, &lo, &hi);
    return value_of(hi);
}

/* ------------------------------------------------------------------------ */
/* merge (DataSketches' merge + merge_higher_levels + general_compress)      */

static inline uint32_t pop_of(const ps_kll *s, int h)
{
    return h < s->num_levels ? s->levels[h + 1] - s->levels[h] : 0;
}

/* Compact the work levels bottom-up while the sketch is over capacity.
   in_levels has room for MAX_LEVELS + 2 entries. */
static int general_compress(ps_kll *s, int num_levels_in, uint64_t *it, uint32_t *in_levels,
                            uint32_t *out_levels, uint64_t *tmp, int *final_levels,
                            uint32_t *final_items)
{
    uint32_t k = s->k;
    int cur_levels = num_levels_in;
    uint32_t cur_count = in_levels[num_levels_in] - in_levels[0];
    uint32_t target = total_capacity(k, cur_levels);
    int h = 0;
    out_levels[0] = 0;
    for (;;) {
        if (h == cur_levels - 1)
            in_levels[h + 2] = in_levels[h + 1];
        uint32_t raw_beg = in_levels[h], raw_lim = in_levels[h + 1];
        uint32_t raw_pop = raw_lim - raw_beg;
        if (cur_count < target || raw_pop < level_capacity(k, cur_levels, h)) {
            memmove(it + out_levels[h], it + raw_beg, (size_t)raw_pop * 8);
            out_levels[h + 1] = out_levels[h] + raw_pop;
        } else {
            uint32_t pop_above = in_levels[h + 2] - raw_lim;
            uint32_t odd = raw_pop & 1u;
            uint32_t adj_beg = raw_beg + odd, adj_pop = raw_pop - odd, half = adj_pop / 2;
            if (odd) {
                it[out_levels[h]] = it[raw_beg];
                out_levels[h + 1] = out_levels[h] + 1;
            } else {
                out_levels[h + 1] = out_levels[h];
            }
            if (h == 0 && adj_pop > 0) {
                /* level 0 holds values not yet folded into min / max */
                sort_keys(it + adj_beg, adj_pop, tmp);
                fold_minmax(s, it[adj_beg], it[adj_beg + adj_pop - 1]);
            }
            halve_and_merge(s, it, adj_beg, adj_pop, pop_above, tmp);
            cur_count -= half;
            in_levels[h + 1] -= half;
            if (h == cur_levels - 1) {
                if (cur_levels >= MAX_LEVELS)
                    return PS_ERR_OVERFLOW;
                cur_levels++;
                target += level_capacity(k, cur_levels, 0);
            }
        }
        if (h == cur_levels - 1)
            break;
        h++;
    }
    *final_levels = cur_levels;
    *final_items = cur_count;
    return PS_OK;
}

static int merge_higher_levels(ps_kll *s, const ps_kll *o)
{
    int L = s->num_levels > o->num_levels ? s->num_levels : o->num_levels;
    uint32_t total = (uint32_t)ps_kll_num_retained(s) +
                     ((uint32_t)ps_kll_num_retained(o) - pop_of(o, 0));
    uint32_t in_levels[MAX_LEVELS + 3], out_levels[MAX_LEVELS + 3];
    uint64_t *work = malloc(((size_t)total + 1) * 8);
    uint64_t *tmp = malloc(((size_t)total + TMP_PAD) * 8);
    int st = PS_ERR_NOMEM, final_levels = 0;
    uint32_t final_items = 0;
    if (!work || !tmp)
        goto done;
    memset(in_levels, 0, sizeof in_levels);
    memset(out_levels, 0, sizeof out_levels);
    in_levels[0] = 0;
    memcpy(work, s->items + s->levels[0], (size_t)pop_of(s, 0) * 8);
    in_levels[1] = pop_of(s, 0);
    for (int h = 1; h < L; h++) {
        uint32_t sp = pop_of(s, h), op = pop_of(o, h);
        const uint64_t *a = s->items + (h < s->num_levels ? s->levels[h] : 0);
        const uint64_t *b = o->items + (h < o->num_levels ? o->levels[h] : 0);
        merge_runs(a, sp, b, op, work + in_levels[h]);
        in_levels[h + 1] = in_levels[h] + sp + op;
    }
    st = general_compress(s, L, work, in_levels, out_levels, tmp, &final_levels, &final_items);
    if (st != PS_OK)
        goto done;
    {
        uint32_t cap = total_capacity(s->k, final_levels);
        if (final_items > cap) {
            st = PS_ERR_OVERFLOW; /* cannot happen (as in DataSketches) */
            goto done;
        }
        uint64_t *items = malloc((size_t)cap * 8);
        if (!items || ensure_sort_tmp(s, cap) != PS_OK) {
            free(items);
            st = PS_ERR_NOMEM;
            goto done;
        }
        uint32_t free_slots = cap - final_items;
        memcpy(items + free_slots, work, (size_t)final_items * 8);
        free(s->items);
        s->items = items;
        s->num_levels = final_levels;
        for (int h = 0; h <= final_levels; h++)
            s->levels[h] = out_levels[h] + free_slots;
        set_caps(s);
    }
done:
    free(work);
    free(tmp);
    return st;
}

static int merge_into(ps_kll *s, const ps_kll *o)
{
    int64_t final_n = s->n + o->n;
    uint64_t lo, hi;
    effective_minmax(o, &lo, &hi);
    fold_minmax(s, lo, hi);
    int st = insert_keys(s, o->items + o->levels[0], pop_of(o, 0));
    if (st == PS_OK && o->num_levels >= 2)
        st = merge_higher_levels(s, o);
    if (st != PS_OK)
        return st;
    s->n = final_n;
    s->nan_count += o->nan_count;
    return PS_OK;
}

static void swap_states(ps_kll *a, ps_kll *b)
{
    ps_kll t;
    memcpy(&t, a, sizeof t);
    memcpy(a, b, sizeof t);
    memcpy(b, &t, sizeof t);
}

int ps_kll_merge(ps_kll *s, const ps_kll *other)
{
    if (!s || !other || s == other)
        return PS_ERR_ARG;
    if (s->k != other->k)
        return PS_ERR_MISMATCH;
    if (other->n > MAX_N - s->n || other->nan_count > MAX_N - s->nan_count ||
        s->n + other->n > MAX_N - s->nan_count - other->nan_count)
        return PS_ERR_OVERFLOW;
    if (other->n == 0) {
        s->nan_count += other->nan_count;
        return PS_OK;
    }
    /* merge into a copy, so a failure leaves s as it was */
    ps_kll *c;
    int st = ps_kll_copy(&c, s);
    if (st != PS_OK)
        return st;
    st = merge_into(c, other);
    if (st == PS_OK)
        swap_states(s, c);
    ps_kll_free(c);
    return st;
}

/* ------------------------------------------------------------------------ */
/* queries                                                                   */

typedef struct {
    uint64_t *keys;
    int64_t *cum;
    uint32_t m;
} sorted_view;

static void view_free(sorted_view *v)
{
    free(v->keys);
    free(v->cum);
}

/* All retained keys sorted, with cumulative weights. */
static int view_build(const ps_kll *s, sorted_view *v)
{
    uint32_t r = (uint32_t)ps_kll_num_retained(s);
    uint64_t *k2 = malloc(((size_t)r + 1) * 8);
    int64_t *w2 = malloc(((size_t)r + 1) * 8);
    v->keys = malloc(((size_t)r + 1) * 8);
    v->cum = malloc(((size_t)r + 1) * 8);
    v->m = r;
    if (!k2 || !w2 || !v->keys || !v->cum) {
        free(k2);
        free(w2);
        view_free(v);
        return PS_ERR_NOMEM;
    }
    uint32_t m = pop_of(s, 0);
    memcpy(v->keys, s->items + s->levels[0], (size_t)m * 8);
    sort_keys(v->keys, m, k2);
    for (uint32_t i = 0; i < m; i++)
        v->cum[i] = 1;
    for (int h = 1; h < s->num_levels; h++) {
        const uint64_t *b = s->items + s->levels[h];
        uint32_t nb = pop_of(s, h), i = 0, j = 0, o = 0;
        int64_t wb = (int64_t)1 << h;
        while (i < m && j < nb) {
            if (b[j] < v->keys[i]) {
                k2[o] = b[j++];
                w2[o++] = wb;
            } else {
                k2[o] = v->keys[i];
                w2[o++] = v->cum[i++];
            }
        }
        while (i < m) {
            k2[o] = v->keys[i];
            w2[o++] = v->cum[i++];
        }
        while (j < nb) {
            k2[o] = b[j++];
            w2[o++] = wb;
        }
        uint64_t *tk = v->keys;
        int64_t *tw = v->cum;
        v->keys = k2;
        v->cum = w2;
        k2 = tk;
        w2 = tw;
        m = o;
    }
    for (uint32_t i = 1; i < m; i++)
        v->cum[i] += v->cum[i - 1];
    free(k2);
    free(w2);
    return PS_OK;
}

int ps_kll_quantiles(const ps_kll *s, const double *q, int64_t m, double *out)
{
    sorted_view v;
    uint64_t lo, hi;
    if (!s || m < 0 || (m > 0 && (!q || !out)))
        return PS_ERR_ARG;
    for (int64_t i = 0; i < m; i++)
        if (!(q[i] >= 0.0 && q[i] <= 1.0))
            return PS_ERR_ARG;
    if (s->n == 0) {
        for (int64_t i = 0; i < m; i++)
            out[i] = NAN;
        return PS_OK;
    }
    effective_minmax(s, &lo, &hi);
    if (view_build(s, &v) != PS_OK)
        return PS_ERR_NOMEM;
    for (int64_t i = 0; i < m; i++) {
        if (q[i] == 0.0) {
            out[i] = value_of(lo);
        } else if (q[i] == 1.0) {
            out[i] = value_of(hi);
        } else {
            /* first item whose cumulative weight exceeds floor(q (n - 1)) */
            int64_t pos = (int64_t)floor(q[i] * (double)(s->n - 1));
            uint32_t a = 0, b = v.m - 1;
            while (a < b) {
                uint32_t mid = a + (b - a) / 2;
                if (v.cum[mid] > pos)
                    b = mid;
                else
                    a = mid + 1;
            }
            out[i] = value_of(v.keys[a]);
        }
    }
    view_free(&v);
    return PS_OK;
}

int ps_kll_ranks(const ps_kll *s, const double *val, int64_t m, double *out)
{
    sorted_view v;
    if (!s || m < 0 || (m > 0 && (!val || !out)))
        return PS_ERR_ARG;
    if (s->n == 0) {
        for (int64_t i = 0; i < m; i++)
            out[i] = NAN;
        return PS_OK;
    }
    if (view_build(s, &v) != PS_OK)
        return PS_ERR_NOMEM;
    for (int64_t i = 0; i < m; i++) {
        if (isnan(val[i])) {
            out[i] = NAN;
            continue;
        }
        uint64_t key = key_of(val[i]);
        uint32_t a = 0, b = v.m; /* first index with keys > key */
        while (a < b) {
            uint32_t mid = a + (b - a) / 2;
            if (v.keys[mid] > key)
                b = mid;
            else
                a = mid + 1;
        }
        out[i] = a == 0 ? 0.0 : (double)v.cum[a - 1] / (double)s->n;
    }
    view_free(&v);
    return PS_OK;
}

/* ------------------------------------------------------------------------ */
/* serialization                                                             */

static void write_state(ps_writer *w, const void *state)
{
    const ps_kll *s = state;
    uint64_t lo = 0, hi = 0;
    if (s->n > 0)
        effective_minmax(s, &lo, &hi);
    for (int i = 0; i < 8; i++) {
        if (w->buf && w->pos < w->cap)
            w->buf[w->pos] = MAGIC[i];
        w->pos++;
    }
    ps_put_u64(w, FORMAT_VERSION);
    ps_put_u64(w, s->k);
    ps_put_u64(w, s->seed);
    ps_put_u64(w, s->rng);
    ps_put_i64(w, s->n);
    ps_put_i64(w, s->nan_count);
    ps_put_u64(w, lo);
    ps_put_u64(w, hi);
    ps_put_u64(w, (uint64_t)s->num_levels);
    for (int h = 0; h < s->num_levels; h++)
        ps_put_u64(w, s->levels[h]);
    for (uint32_t i = s->levels[0]; i < s->levels[s->num_levels]; i++)
        ps_put_u64(w, s->items[i]);
}

int ps_kll_serialize(const ps_kll *s, uint8_t *buf, size_t cap, size_t *size)
{
    return ps_serialize_checked(write_state, s, buf, cap, size);
}

static int read_state(ps_reader *r, ps_kll **out)
{
    uint64_t k, seed, rng, lo, hi, L;
    int64_t n, nan_count;
    uint32_t levels[MAX_LEVELS + 2];
    r->pos = 8;
    if (ps_get_u64(r) != FORMAT_VERSION)
        return r->bad ? PS_ERR_CORRUPT : PS_ERR_VERSION;
    k = ps_get_u64(r);
    seed = ps_get_u64(r);
    rng = ps_get_u64(r);
    n = ps_get_i64(r);
    nan_count = ps_get_i64(r);
    lo = ps_get_u64(r);
    hi = ps_get_u64(r);
    L = ps_get_u64(r);
    if (r->bad || k < KLL_MIN_K || k > KLL_MAX_K || n < 0 || n > MAX_N || nan_count < 0 ||
        nan_count > MAX_N - n || L < 1 || L > MAX_LEVELS - 1)
        return PS_ERR_CORRUPT;
    uint32_t cap = total_capacity((uint32_t)k, (int)L);
    for (uint64_t h = 0; h < L; h++) {
        uint64_t b = ps_get_u64(r);
        if (r->bad || b > cap || (h > 0 && b < levels[h - 1]))
            return PS_ERR_CORRUPT;
        levels[h] = (uint32_t)b;
    }
    levels[L] = cap;
    uint32_t retained = cap - levels[0];
    if ((r->cap - r->pos) / 8 != retained)
        return PS_ERR_CORRUPT;
    ps_kll *s = alloc_state((uint32_t)k, cap);
    if (!s)
        return PS_ERR_NOMEM;
    s->num_levels = (int)L;
    memcpy(s->levels, levels, sizeof(uint32_t) * (size_t)(L + 1));
    s->seed = seed;
    s->rng = rng;
    s->n = n;
    s->nan_count = nan_count;
    set_caps(s);
    for (uint32_t i = levels[0]; i < cap; i++)
        s->items[i] = ps_get_u64(r);
    if (r->bad || r->pos != r->cap)
        goto corrupt;
    {
        /* keys are numbers, levels >= 1 sorted, weights add up to n, min /
           max bound everything (and are the extremes in exact mode) */
        uint64_t weight = 0, rmin = UINT64_MAX, rmax = 0;
        for (int h = 0; h < (int)L; h++) {
            uint32_t pop = levels[h + 1] - levels[h];
            for (uint32_t i = levels[h]; i < levels[h + 1]; i++) {
                uint64_t key = s->items[i];
                if (key_is_nan(key) || (h > 0 && i > levels[h] && key < s->items[i - 1]))
                    goto corrupt;
                rmin = key < rmin ? key : rmin;
                rmax = key > rmax ? key : rmax;
            }
            if ((uint64_t)pop > ((uint64_t)MAX_N >> h))
                goto corrupt;
            weight += (uint64_t)pop << h;
            if (weight > (uint64_t)MAX_N)
                goto corrupt;
        }
        if (weight != (uint64_t)n)
            goto corrupt;
        if (L >= 2 && levels[L] == levels[L - 1])
            goto corrupt; /* the top level is never empty */
        if (n == 0) {
            if (lo != 0 || hi != 0 || L != 1)
                goto corrupt;
            s->min_key = UINT64_MAX;
            s->max_key = 0;
        } else {
            if (key_is_nan(lo) || key_is_nan(hi) || lo > rmin || hi < rmax)
                goto corrupt;
            if (L == 1 && (lo != rmin || hi != rmax))
                goto corrupt;
            s->min_key = lo;
            s->max_key = hi;
        }
    }
    *out = s;
    return PS_OK;
corrupt:
    ps_kll_free(s);
    return PS_ERR_CORRUPT;
}

int ps_kll_deserialize(ps_kll **out, const uint8_t *buf, size_t size)
{
    if (!out || (!buf && size))
        return PS_ERR_ARG;
    *out = NULL;
    if (size < 8 + 8 + 8 || memcmp(buf, MAGIC, 8) != 0)
        return PS_ERR_CORRUPT;
    if (!ps_checksum_ok(buf, size)) {
        /* a newer format is reported as such even if its checksum differs */
        ps_reader v = {buf, 8, size, 0};
        return ps_get_u64(&v) != FORMAT_VERSION ? PS_ERR_VERSION : PS_ERR_CORRUPT;
    }
    ps_reader r = {buf, 0, size - 8, 0};
    return read_state(&r, out);
}
