/*
 * kll.h -- a KLL quantile sketch (Karnin, Lang, Liberty 2016) with rank
 * error guarantees, in the variant of Apache DataSketches' kll_sketch.
 *
 * Algorithm (as DataSketches): all levels live in one buffer, level 0 at
 * the bottom growing downwards into the free space below it; level h holds
 * items of weight 2**h, levels >= 1 are sorted.  Compaction is lazy: only
 * when the buffer is full and another value arrives is the lowest level
 * whose population reaches its capacity compacted (level 0 is sorted
 * first): an odd item stays, the others are halved (the even or the odd
 * positions, chosen by one random bit) and merged into the level above.
 * Level capacities are max(8, round(k * (2/3)**depth)), depth counted from
 * the top level.  A merge feeds the other sketch's level 0 through the
 * update path and then merges the higher levels level by level and
 * compacts them bottom-up (DataSketches' general_compress).
 *
 * Differences from DataSketches, all for reproducibility:
 *   - values are float64 (other dtypes are converted), kept as
 *     order-preserving uint64 keys: IEEE total order, -0.0 < +0.0, so a
 *     sort has a unique result whatever algorithm performs it;
 *   - the random bits come from a splitmix64 generator seeded by `seed`
 *     and advanced once per compaction, never by anything else;
 *   - queries build their sorted view from a copy: they never change the
 *     state (DataSketches sorts level 0 in place).
 * Hence the state is a deterministic function of (k, seed, the sequence of
 * values): any chunking of the same stream gives bit-identical state.  A
 * merged state depends on the order of the merges (KLL is not
 * order-invariant) but is deterministic given that order.
 *
 * NaN is ignored (counted); +-inf are ordinary values.  min and max are
 * exact.  Queries use numpy's 'lower' convention: quantile(q) is the
 * retained item covering position floor(q * (n - 1)) of the weighted
 * sorted sample (exact mode: np.quantile(x, q, method="lower")); q = 0 and
 * q = 1 give the exact min and max; rank(v) is the weight of retained
 * items <= v divided by n.
 *
 * A state is not thread-safe; callers serialize access.
 */
#ifndef PYSTREAM_KLL_H
#define PYSTREAM_KLL_H

#include <stddef.h>
#include <stdint.h>

#include "pystream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cffi-cdef-begin */

typedef struct ps_kll ps_kll;

/* New empty sketch; 8 <= k <= 65535 (else PS_ERR_ARG). */
int ps_kll_new(ps_kll **out, int64_t k, uint64_t seed);
void ps_kll_free(ps_kll *s);
int ps_kll_copy(ps_kll **out, const ps_kll *s);

/* Set the state of the compaction generator (splitmix64) to `state`; the
   next compaction draws its bit from it.  Nothing else changes (not the
   seed reported by ps_kll_seed).  Used to make a merge depend only on the
   two operands, not on how the receiving sketch was built. */
int ps_kll_set_rng(ps_kll *s, uint64_t state);
/* The generator's current state (ps_kll_set_rng restores it). */
uint64_t ps_kll_rng(const ps_kll *s);

int64_t ps_kll_k(const ps_kll *s);
uint64_t ps_kll_seed(const ps_kll *s);
/* Non-NaN values seen (the total weight). */
int64_t ps_kll_count(const ps_kll *s);
int64_t ps_kll_nan_count(const ps_kll *s);
int64_t ps_kll_num_retained(const ps_kll *s);
int ps_kll_num_levels(const ps_kll *s);
/* 1 while nothing has been compacted (every value is retained). */
int ps_kll_is_exact(const ps_kll *s);
/* Exact min / max of the non-NaN values (NaN when count == 0). */
double ps_kll_min(const ps_kll *s);
double ps_kll_max(const ps_kll *s);

/* Add n records of `width` values each, value j of record i at
   data + i * record_stride + j * value_stride (bytes, may be negative),
   values in record order.  Values must be aligned and in native byte
   order.  dtype is one of the PS_* element types; everything is read as
   float64.  PS_ERR_OVERFLOW if the count would pass 2**62. */
int ps_kll_update(ps_kll *s, const void *data, int dtype, int64_t n, int64_t width,
                  ptrdiff_t record_stride, ptrdiff_t value_stride);

/* s <- s (+) other.  PS_ERR_MISMATCH if the k differ.  `other` is not
   changed and may not be s itself. */
int ps_kll_merge(ps_kll *s, const ps_kll *other);

/* out[i] = quantile(q[i]); each q in [0, 1] (else PS_ERR_ARG, nothing
   written).  An empty sketch gives NaN. */
int ps_kll_quantiles(const ps_kll *s, const double *q, int64_t m, double *out);
/* out[i] = estimated fraction of values <= v[i] (NaN for NaN v or an
   empty sketch). */
int ps_kll_ranks(const ps_kll *s, const double *v, int64_t m, double *out);

/* Versioned, checksummed little-endian bytes (serial.h).  With buf NULL
   only *size is set; PS_ERR_BUFSIZE if cap is too small. */
int ps_kll_serialize(const ps_kll *s, uint8_t *buf, size_t cap, size_t *size);
/* Validates everything (structure, sortedness, weights, min/max):
   PS_ERR_CORRUPT / PS_ERR_VERSION, never undefined behaviour. */
int ps_kll_deserialize(ps_kll **out, const uint8_t *buf, size_t size);

/* Introspection (tests): levels[h] for 0 <= h <= num_levels (offsets in
   the buffer; level h is [levels[h], levels[h+1])), -1 out of range. */
int64_t ps_kll_level_offset(const ps_kll *s, int h);
/* The retained values in storage order (ps_kll_num_retained of them). */
int ps_kll_retained(const ps_kll *s, double *out, int64_t cap);

/* cffi-cdef-end */

#ifdef __cplusplus
}
#endif

#endif /* PYSTREAM_KLL_H */
