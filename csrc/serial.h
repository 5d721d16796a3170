/*
 * serial.h -- little-endian byte writer/reader and checksum shared by the
 * stage families' serialization (internal; not part of the cffi cdef).
 *
 * A writer with buf == NULL only counts bytes, so the same code computes
 * the size and writes.  A reader never reads past its end: any short read
 * sets `bad` and returns zeros, and the caller reports PS_ERR_CORRUPT.
 */
#ifndef PYSTREAM_SERIAL_H
#define PYSTREAM_SERIAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pystream.h"

typedef struct {
    uint8_t *buf; /* NULL: count only */
    size_t pos, cap;
} ps_writer;

typedef struct {
    const uint8_t *in;
    size_t pos, cap;
    int bad;
} ps_reader;

static inline void ps_put_u64(ps_writer *w, uint64_t v)
{
    if (w->buf && w->pos + 8 <= w->cap)
        for (int k = 0; k < 8; k++)
            w->buf[w->pos + (size_t)k] = (uint8_t)(v >> (8 * k));
    w->pos += 8;
}

static inline void ps_put_i64(ps_writer *w, int64_t v) { ps_put_u64(w, (uint64_t)v); }

static inline void ps_put_f64(ps_writer *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    ps_put_u64(w, u);
}

static inline void ps_put_f64s(ps_writer *w, const double *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        ps_put_f64(w, v[i]);
}

static inline uint64_t ps_get_u64(ps_reader *r)
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

static inline int64_t ps_get_i64(ps_reader *r) { return (int64_t)ps_get_u64(r); }

static inline double ps_get_f64(ps_reader *r)
{
    uint64_t u = ps_get_u64(r);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

/* Read n doubles; fails (bad) without touching `dst` beyond what fits. */
static inline void ps_get_f64s(ps_reader *r, double *v, int64_t n)
{
    if (n < 0 || (uint64_t)n > (r->cap - r->pos) / 8) {
        r->bad = 1;
        return;
    }
    for (int64_t i = 0; i < n; i++)
        v[i] = ps_get_f64(r);
}

/* Largest number of values per record a state accepts (8 TiB of float64
   per record): every size computed from a width below it, times a small
   constant, fits a 64-bit size_t; the loaders refuse wider headers. */
#define PS_MAX_WIDTH ((int64_t)1 << 40)

/* n * size bytes, or NULL when that overflows size_t (or n < 0). */
static inline void *ps_malloc_n(int64_t n, size_t size)
{
    if (n < 0 || size == 0 || (uint64_t)n > SIZE_MAX / size)
        return NULL;
    return malloc((size_t)n * size);
}

/* 64-bit FNV-1a with the standard offset basis 14695981039346656037. */
#define PS_FNV_OFFSET 0xcbf29ce484222325ull
/* The basis pystream used before issue 15 (1469598103934665603, one digit
   short of the standard one): states written then carry checksums made
   with it, and the loaders still accept them (ps_checksum_ok). */
#define PS_FNV_OFFSET_LEGACY 1469598103934665603ull
#define PS_FNV_PRIME 1099511628211ull

static inline uint64_t ps_fnv1a_basis(const uint8_t *p, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= PS_FNV_PRIME;
    }
    return h;
}

static inline uint64_t ps_fnv1a(const uint8_t *p, size_t n)
{
    return ps_fnv1a_basis(p, n, PS_FNV_OFFSET);
}

/* Does the little-endian u64 at buf[size - 8] checksum buf[0, size - 8)?
   Either basis is accepted (states of older versions stay readable; the
   chance that a random corruption matches one of two checksums is 2**-63).
   Writers always use the standard basis.  size >= 8. */
static inline int ps_checksum_ok(const uint8_t *buf, size_t size)
{
    ps_reader tail = {buf, size - 8, size, 0};
    uint64_t want = ps_get_u64(&tail);
    return ps_fnv1a(buf, size - 8) == want ||
           ps_fnv1a_basis(buf, size - 8, PS_FNV_OFFSET_LEGACY) == want;
}

/* Writes one state's fields (called twice by ps_serialize_checked). */
typedef void (*ps_state_writer)(ps_writer *w, const void *state);

/* The library's serialization protocol: `write` runs once with a counting
   writer to size the state, then into `buf`, and the FNV-1a checksum of
   everything written follows.  *size is set to the bytes needed.  Returns
   PS_OK (also for a size query, buf == NULL), PS_ERR_BUFSIZE when `cap` is
   too small, PS_ERR_ARG for NULL arguments. */
static inline int ps_serialize_checked(ps_state_writer write, const void *state,
                                       uint8_t *buf, size_t cap, size_t *size)
{
    if (!state || !size)
        return PS_ERR_ARG;
    ps_writer counter = {NULL, 0, 0};
    write(&counter, state);
    *size = counter.pos + 8;
    if (!buf)
        return PS_OK;
    if (cap < *size)
        return PS_ERR_BUFSIZE;
    ps_writer w = {buf, 0, cap};
    write(&w, state);
    ps_put_u64(&w, ps_fnv1a(buf, w.pos));
    return PS_OK;
}

#endif /* PYSTREAM_SERIAL_H */
