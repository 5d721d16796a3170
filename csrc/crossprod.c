/*
 * crossprod.c -- exact cross-products for least squares (see crossprod.h).
 *
 * Hot loop, per block of records: every value is split once into a
 * signed integer M = mantissa << (x & 3) (|M| < 2**56) and a bin offset
 * X = x >> 2, x = e + 1074 (scratch arrays on the stack), then for each of
 * the m (m + 1) / 2 pairs one 64x64 -> 128-bit integer product added to
 * bin Xa + Xb of the pair's entry: a multiply and a 128-bit add, no shift,
 * no branch, no rounding.  Pairs of one record are independent, so the
 * adds overlap.
 *
 * 128-bit arithmetic: `unsigned __int128` where the compiler has it
 * (__SIZEOF_INT128__), else a portable pair of uint64 words (also built
 * with -DPS_XP_NO_INT128 by `make ctest`, which requires the same bytes).
 * Bins are unsigned two's-complement words: adds wrap by definition, the
 * sign matters only when carries are moved (floor division by 256).
 */
#include "crossprod.h"

#include <stdlib.h>
#include <string.h>

#include "serial.h"

#define FORMAT_VERSION 1u
/* "PSXPROD1" read as a little-endian u64 */
#define MAGIC 0x31444f5250585350ull
#define HEADER_WORDS 13
/* Biased exponent (e + 1074) given to 1.0's mantissa 2**52 and to zero. */
#define X_ONE 1022
/* Values decomposed per block (scratch on the stack). */
#define SCRATCH 4096

/* ------------------------------------------------------------------ u128 */

#if defined(__SIZEOF_INT128__) && !defined(PS_XP_NO_INT128)
typedef unsigned __int128 u128;

static inline u128 u_zero(void) { return 0; }
static inline u128 u_mul(int64_t a, int64_t b) { return (u128)((__int128)a * (__int128)b); }
static inline void u_add(u128 *acc, u128 v) { *acc += v; }
static inline int u_neg(u128 v) { return (int)(v >> 127); }
static inline uint8_t u_low4(u128 v) { return (uint8_t)(v & 15); }
static inline u128 u_floor16(u128 v) { return u_neg(v) ? ~((~v) >> 4) : v >> 4; }
static inline u128 u_from_i64(int64_t v) { return (u128)(__int128)v; }
static inline uint64_t u_lo(u128 v) { return (uint64_t)v; }
static inline uint64_t u_hi(u128 v) { return (uint64_t)(v >> 64); }
#else
typedef struct {
    uint64_t lo, hi;
} u128;

static inline u128 u_zero(void)
{
    u128 z = {0, 0};
    return z;
}

static inline u128 u_negate(u128 v)
{
    u128 r;
    r.lo = ~v.lo + 1;
    r.hi = ~v.hi + (r.lo == 0);
    return r;
}

static inline u128 u_mul(int64_t a, int64_t b)
{
    int neg = (a < 0) != (b < 0);
    uint64_t x = a < 0 ? (uint64_t)0 - (uint64_t)a : (uint64_t)a;
    uint64_t y = b < 0 ? (uint64_t)0 - (uint64_t)b : (uint64_t)b;
    uint64_t x0 = x & 0xffffffffu, x1 = x >> 32, y0 = y & 0xffffffffu, y1 = y >> 32;
    uint64_t p00 = x0 * y0, p01 = x0 * y1, p10 = x1 * y0, p11 = x1 * y1;
    uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);
    u128 r;
    r.lo = (p00 & 0xffffffffu) | (mid << 32);
    r.hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    return neg ? u_negate(r) : r;
}

static inline void u_add(u128 *acc, u128 v)
{
    acc->lo += v.lo;
    acc->hi += v.hi + (acc->lo < v.lo);
}

static inline int u_neg(u128 v) { return (int)(v.hi >> 63); }
static inline uint8_t u_low4(u128 v) { return (uint8_t)(v.lo & 15); }

static inline u128 u_floor16(u128 v)
{
    u128 r;
    r.lo = (v.lo >> 4) | (v.hi << 60);
    r.hi = (v.hi >> 4) | (u_neg(v) ? 0xf000000000000000ull : 0);
    return r;
}

static inline u128 u_from_i64(int64_t v)
{
    u128 r;
    r.lo = (uint64_t)v;
    r.hi = v < 0 ? ~(uint64_t)0 : 0;
    return r;
}

static inline uint64_t u_lo(u128 v) { return v.lo; }
static inline uint64_t u_hi(u128 v) { return v.hi; }
#endif

/* ----------------------------------------------------------------- state */

struct ps_xprod {
    int64_t ncols, m, entries, intercept;
    int64_t start, stop, nobs, nan_records, inf_records, first_bad, first_bad_col;
    int64_t lo, width;   /* window of bins */
    int64_t pending;     /* records added since the last normalisation */
    u128 *bins;          /* entries * width */
};

static int64_t entries_of(int64_t m) { return m * (m + 1) / 2; }

int ps_xprod_new(ps_xprod **out, int64_t ncols, int intercept, int64_t start)
{
    if (!out || ncols < 1 || ncols > PS_XP_MAX_COLS || (intercept != 0 && intercept != 1) ||
        start < 0)
        return PS_ERR_ARG;
    ps_xprod *s = calloc(1, sizeof *s);
    if (!s)
        return PS_ERR_NOMEM;
    s->ncols = ncols;
    s->intercept = intercept;
    s->m = ncols + intercept;
    s->entries = entries_of(s->m);
    s->start = s->stop = start;
    s->first_bad = s->first_bad_col = -1;
    *out = s;
    return PS_OK;
}

void ps_xprod_free(ps_xprod *s)
{
    if (s) {
        free(s->bins);
        free(s);
    }
}

int ps_xprod_copy(ps_xprod **out, const ps_xprod *s)
{
    if (!out || !s)
        return PS_ERR_ARG;
    ps_xprod *c = malloc(sizeof *c);
    if (!c)
        return PS_ERR_NOMEM;
    *c = *s;
    c->bins = NULL;
    if (s->width) {
        c->bins = ps_malloc_n(s->entries * s->width, sizeof(u128));
        if (!c->bins) {
            free(c);
            return PS_ERR_NOMEM;
        }
        memcpy(c->bins, s->bins, (size_t)(s->entries * s->width) * sizeof(u128));
    }
    *out = c;
    return PS_OK;
}

/* Make the window cover bins [lo, hi). */
static int cover(ps_xprod *s, int64_t lo, int64_t hi)
{
    if (s->width && lo >= s->lo && hi <= s->lo + s->width)
        return PS_OK;
    int64_t nlo = lo, nhi = hi;
    if (s->width) {
        nlo = lo < s->lo ? lo : s->lo;
        nhi = hi > s->lo + s->width ? hi : s->lo + s->width;
    }
    int64_t w = nhi - nlo;
    u128 *bins = ps_malloc_n(s->entries * w, sizeof(u128));
    if (!bins)
        return PS_ERR_NOMEM;
    for (int64_t i = 0; i < s->entries * w; i++)
        bins[i] = u_zero();
    for (int64_t e = 0; e < s->entries; e++)
        for (int64_t k = 0; k < s->width; k++)
            bins[((s->lo - nlo) + k) * s->entries + e] = s->bins[k * s->entries + e];
    free(s->bins);
    s->bins = bins;
    s->lo = nlo;
    s->width = w;
    return PS_OK;
}

/* Move the carries up: every bin but the top one holds 0..15.  Bins are
   stored bin-major (bin k of entry e at k * entries + e), so the products
   of one record, whose bins are close for data of similar magnitudes,
   touch a small band of memory. */
static void normalise(ps_xprod *s)
{
    int64_t w = s->width, ne = s->entries;
    for (int64_t e = 0; e < ne && w; e++) {
        u128 *b = s->bins + e;
        u128 carry = u_zero();
        for (int64_t k = 0; k < w - 1; k++) {
            u128 v = b[k * ne];
            u_add(&v, carry);
            carry = u_floor16(v);
            b[k * ne] = u_from_i64(u_low4(v));
        }
        u_add(&b[(w - 1) * ne], carry);
    }
    s->pending = 0;
}

/* Bins needed by products of values in exponent groups [gmin, gmax]
   (g = x >> 2). */
static int cover_groups(ps_xprod *s, int64_t gmin, int64_t gmax)
{
    return cover(s, 2 * gmin, 2 * gmax + 1 + PS_XP_HEADROOM);
}

/* A record holding a NaN or an infinity: counted, its non-finite values
   zeroed (so they widen no window), the first one's record and column kept. */
static void split_bad(ps_xprod *s, const char *row, const int64_t *offsets, int64_t *M,
                      int64_t *X, unsigned char *flag, int64_t record)
{
    int64_t badcol = -1;
    unsigned char fl = 0;
    for (int64_t c = 0; c < s->ncols; c++) {
        uint64_t bits;
        memcpy(&bits, row + offsets[c], 8);
        if (((bits >> 52) & 0x7ff) != 0x7ff)
            continue;
        fl |= (bits & 0xfffffffffffffull) ? 2 : 1;
        if (badcol < 0)
            badcol = c;
        M[c] = 0;
        X[c] = (X_ONE >> 2) * s->entries;
    }
    *flag = fl;
    if (fl & 2)
        s->nan_records++;
    else
        s->inf_records++;
    if (s->first_bad < 0) {
        s->first_bad = record;
        s->first_bad_col = badcol;
    }
}

/* The exponent groups of a block again, after split_bad() zeroed its
   non-finite values. */
static void block_range(const int64_t *X, int64_t n, int64_t ne, int64_t *gmin, int64_t *gmax)
{
    int64_t lo = X_ONE >> 2, hi = X_ONE >> 2;
    for (int64_t i = 0; i < n; i++) {
        int64_t g = X[i] / ne;
        lo = g < lo ? g : lo;
        hi = g > hi ? g : hi;
    }
    *gmin = lo;
    *gmax = hi;
}

int ps_xprod_update(ps_xprod *s, const void *base, int64_t n, int64_t row_stride,
                    const int64_t *offsets)
{
    if (!s || n < 0 || (n > 0 && (!base || !offsets)))
        return PS_ERR_ARG;
    if (n > INT64_MAX - s->stop)
        return PS_ERR_OVERFLOW;
    const int64_t m = s->m, nc = s->ncols, ic = s->intercept, ne = s->entries;
    const int64_t blk = SCRATCH / m > 0 ? SCRATCH / m : 1;
    int64_t mant[SCRATCH];
    int64_t expo[SCRATCH];   /* bin offsets, (x >> 2) * entries */
    unsigned char bad[SCRATCH];
    if (m > SCRATCH)
        return PS_ERR_ARG;
    const char *p0 = (const char *)base;
    for (int64_t r0 = 0; r0 < n; r0 += blk) {
        int64_t nb = n - r0 < blk ? n - r0 : blk;
        /* split the block's values, branch-free; a record with a NaN or an
           infinity (rare) is redone by split_bad() */
        int64_t gmin = X_ONE >> 2, gmax = X_ONE >> 2;
        for (int64_t i = 0; i < nb; i++) {
            const char *row = p0 + (r0 + i) * row_stride;
            int64_t *M = mant + i * m;
            int64_t *X = expo + i * m;
            uint64_t nonfinite = 0;
            if (ic) {
                M[0] = (int64_t)1 << (52 + (X_ONE & 3));
                X[0] = (X_ONE >> 2) * ne;
            }
            for (int64_t c = 0; c < nc; c++) {
                uint64_t bits;
                memcpy(&bits, row + offsets[c], 8);
                uint64_t ex = (bits >> 52) & 0x7ff, f = bits & 0xfffffffffffffull;
                uint64_t normal = ex != 0;
                nonfinite |= ex == 0x7ff;
                f |= normal << 52;
                /* x = e + 1074: ex - 1 for normal numbers, 0 for subnormals; zero
                   is put at X_ONE (inside every window; it adds nothing) */
                int64_t x = f ? (int64_t)(ex - normal) : X_ONE;
                int64_t g = x >> 2;
                gmin = g < gmin ? g : gmin;
                gmax = g > gmax ? g : gmax;
                /* m * 2**e = (m << (x & 3)) * 2**(4 (x >> 2) - 1074) */
                f <<= x & 3;
                M[ic + c] = bits >> 63 ? -(int64_t)f : (int64_t)f;
                X[ic + c] = g * ne;
            }
            bad[i] = 0;
            if (nonfinite)
                split_bad(s, row, offsets, M + ic, X + ic, &bad[i], s->stop + r0 + i);
        }
        if (gmax >= 2046 >> 2)       /* a non-finite value's exponent: recompute */
            block_range(expo, nb * m, ne, &gmin, &gmax);
        int status = cover_groups(s, gmin, gmax);
        if (status)
            return status;
        const int64_t lo = s->lo;
        u128 *bins = s->bins;
        for (int64_t i = 0; i < nb; i++) {
            if (bad[i])
                continue;
            if (s->pending >= PS_XP_FLUSH)
                normalise(s);
            const int64_t *M = mant + i * m;
            const int64_t *X = expo + i * m;
            int64_t at = -lo * ne;   /* entry e's bin Xa + Xb: at + e + Xa' + Xb' */
            for (int64_t a = 0; a < m; a++) {
                const int64_t ma = M[a], xa = X[a];
                for (int64_t b = a; b < m; b++, at++)
                    u_add(&bins[at + xa + X[b]], u_mul(ma, M[b]));
            }
            s->pending++;
            s->nobs++;
        }
    }
    s->stop += n;
    return PS_OK;
}

int ps_xprod_merge(ps_xprod *left, const ps_xprod *right)
{
    if (!left || !right || left == right)
        return PS_ERR_ARG;
    if (left->ncols != right->ncols || left->intercept != right->intercept)
        return PS_ERR_MISMATCH;
    if (left->stop != right->start)
        return PS_ERR_NOT_ADJACENT;
    if (right->width) {
        normalise(left);
        int status = cover(left, right->lo, right->lo + right->width);
        if (status)
            return status;
        int64_t off = right->lo - left->lo;
        for (int64_t e = 0; e < left->entries; e++)
            for (int64_t k = 0; k < right->width; k++)
                u_add(&left->bins[(off + k) * left->entries + e], right->bins[k * right->entries + e]);
        normalise(left);
    }
    left->nobs += right->nobs;
    left->nan_records += right->nan_records;
    left->inf_records += right->inf_records;
    if (left->first_bad < 0) {
        left->first_bad = right->first_bad;
        left->first_bad_col = right->first_bad_col;
    }
    left->stop = right->stop;
    return PS_OK;
}

int ps_xprod_info_of(const ps_xprod *s, ps_xprod_info *out)
{
    if (!s || !out)
        return PS_ERR_ARG;
    out->ncols = s->ncols;
    out->m = s->m;
    out->entries = s->entries;
    out->intercept = s->intercept;
    out->start = s->start;
    out->stop = s->stop;
    out->nobs = s->nobs;
    out->nan_records = s->nan_records;
    out->inf_records = s->inf_records;
    out->first_bad = s->first_bad;
    out->first_bad_col = s->first_bad_col;
    out->lo = s->lo;
    out->width = s->width;
    return PS_OK;
}

/* The top bin of a normalised entry as int64 (it is -1 or 0 in any state
   data can produce); 0 on success. */
static int top_word(u128 v, int64_t *out)
{
    uint64_t lo = u_lo(v), hi = u_hi(v);
    int neg = (int)(hi >> 63);
    if (hi != (neg ? ~(uint64_t)0 : 0) || (int)(lo >> 63) != neg)
        return PS_ERR_OVERFLOW;
    *out = (int64_t)lo;   /* two's complement value of a word in range */
    return PS_OK;
}

int ps_xprod_sums(ps_xprod *s, uint8_t *low, int64_t *top)
{
    if (!s || (s->width && (!low || !top)))
        return PS_ERR_ARG;
    normalise(s);
    int64_t w = s->width;
    for (int64_t e = 0; e < s->entries && w; e++) {
        for (int64_t k = 0; k < w - 1; k++)
            low[e * (w - 1) + k] = u_low4(s->bins[k * s->entries + e]);
        int status = top_word(s->bins[(w - 1) * s->entries + e], &top[e]);
        if (status)
            return status;
    }
    return PS_OK;
}

static void put_u8(ps_writer *w, uint8_t v)
{
    if (w->buf && w->pos < w->cap)
        w->buf[w->pos] = v;
    w->pos++;
}

static void write_state(ps_writer *w, const void *state)
{
    const ps_xprod *s = state;
    int64_t width = s->width;
    ps_put_u64(w, MAGIC);
    ps_put_u64(w, FORMAT_VERSION);
    ps_put_i64(w, s->ncols);
    ps_put_i64(w, s->intercept);
    ps_put_i64(w, s->start);
    ps_put_i64(w, s->stop);
    ps_put_i64(w, s->nobs);
    ps_put_i64(w, s->nan_records);
    ps_put_i64(w, s->inf_records);
    ps_put_i64(w, s->first_bad);
    ps_put_i64(w, s->first_bad_col);
    ps_put_i64(w, s->lo);
    ps_put_i64(w, width);
    for (int64_t e = 0; e < s->entries && width; e++)
        for (int64_t k = 0; k < width - 1; k++)
            put_u8(w, u_low4(s->bins[k * s->entries + e]));
    for (int64_t e = 0; e < s->entries && width; e++) {
        int64_t t = 0;
        top_word(s->bins[(width - 1) * s->entries + e], &t);
        ps_put_i64(w, t);
    }
}

int ps_xprod_serialize(ps_xprod *s, uint8_t *buf, size_t cap, size_t *size)
{
    if (!s || !size)
        return PS_ERR_ARG;
    normalise(s);
    for (int64_t e = 0; e < s->entries && s->width; e++) {
        int64_t t;
        int status = top_word(s->bins[(s->width - 1) * s->entries + e], &t);
        if (status)
            return status;
    }
    return ps_serialize_checked(write_state, s, buf, cap, size);
}

int ps_xprod_deserialize(ps_xprod **out, const uint8_t *buf, size_t size)
{
    if (!out || (!buf && size))
        return PS_ERR_ARG;
    if (size < 8 * (HEADER_WORDS + 1))
        return PS_ERR_CORRUPT;
    if (!ps_checksum_ok(buf, size))
        return PS_ERR_CORRUPT;
    ps_reader r = {buf, 0, size - 8, 0};
    if (ps_get_u64(&r) != MAGIC)
        return PS_ERR_CORRUPT;
    if (ps_get_u64(&r) != FORMAT_VERSION)
        return PS_ERR_VERSION;
    int64_t ncols = ps_get_i64(&r), intercept = ps_get_i64(&r);
    int64_t start = ps_get_i64(&r), stop = ps_get_i64(&r), nobs = ps_get_i64(&r);
    int64_t nan_records = ps_get_i64(&r), inf_records = ps_get_i64(&r);
    int64_t first_bad = ps_get_i64(&r), first_bad_col = ps_get_i64(&r);
    int64_t lo = ps_get_i64(&r), width = ps_get_i64(&r);
    if (r.bad || ncols < 1 || ncols > PS_XP_MAX_COLS || (intercept != 0 && intercept != 1) ||
        start < 0 || stop < start || nobs < 0 || nan_records < 0 || inf_records < 0 ||
        nobs > stop - start || nan_records > stop - start - nobs ||
        inf_records != stop - start - nobs - nan_records)
        return PS_ERR_CORRUPT;
    if (nan_records + inf_records == 0 ? (first_bad != -1 || first_bad_col != -1)
                                       : (first_bad < start || first_bad >= stop ||
                                          first_bad_col < 0 || first_bad_col >= ncols))
        return PS_ERR_CORRUPT;
    if (width == 0 ? lo != 0
                   : (lo < 0 || width < PS_XP_HEADROOM + 1 || width > PS_XP_NBINS ||
                      lo > PS_XP_NBINS - width))
        return PS_ERR_CORRUPT;
    int64_t m = ncols + intercept, entries = entries_of(m);
    size_t need = 8 * (HEADER_WORDS + 1);
    if (width)
        need += (size_t)entries * (size_t)(width - 1) + 8 * (size_t)entries;
    if (size != need)
        return PS_ERR_CORRUPT;
    ps_xprod *s;
    int status = ps_xprod_new(&s, ncols, (int)intercept, start);
    if (status)
        return status;
    s->stop = stop;
    s->nobs = nobs;
    s->nan_records = nan_records;
    s->inf_records = inf_records;
    s->first_bad = first_bad;
    s->first_bad_col = first_bad_col;
    if (width) {
        status = cover(s, lo, lo + width);
        if (status) {
            ps_xprod_free(s);
            return status;
        }
        const uint8_t *bytes = buf + 8 * HEADER_WORDS;
        int any = 0;
        for (int64_t e = 0; e < entries; e++)
            for (int64_t k = 0; k < width - 1; k++) {
                uint8_t v = bytes[e * (width - 1) + k];
                if (v > 15) {
                    ps_xprod_free(s);
                    return PS_ERR_CORRUPT;
                }
                s->bins[k * entries + e] = u_from_i64(v);
                any |= v;
            }
        r.pos = 8 * HEADER_WORDS + (size_t)entries * (size_t)(width - 1);
        int64_t a = 0, b = 0;
        for (int64_t e = 0; e < entries; e++) {
            int64_t t = ps_get_i64(&r);
            /* the top bin is the sign; a diagonal entry (a sum of squares)
               is never negative */
            if (t < -1 || t > 0 || (a == b && t != 0)) {
                ps_xprod_free(s);
                return PS_ERR_CORRUPT;
            }
            any |= (int)(t != 0);
            s->bins[(width - 1) * entries + e] = u_from_i64(t);
            if (++b == m) {
                a++;
                b = a;
            }
        }
        if (r.bad || (nobs == 0 && any)) {
            ps_xprod_free(s);
            return PS_ERR_CORRUPT;
        }
    }
    *out = s;
    return PS_OK;
}
