/*
 * ddsketch.h -- a relative-error quantile sketch (DDSketch-style),
 * deterministic and exactly mergeable.
 *
 * Plain C11, no Python headers.  The region between the cffi-cdef markers
 * is read verbatim by the cffi builder (csrc/build_ffi.py), so it stays
 * free of preprocessor directives.  Status codes and dtype codes are the
 * PS_* enums of pystream.h.
 *
 * What the sketch holds
 * ---------------------
 * For a multiset of values (NaN are only counted):
 *   - a positive and a negative store: exact uint64 counts per logarithmic
 *     bucket of |x|, for |x| >= DBL_MIN (2**-1022, the smallest normal);
 *   - a zero count: +-0 and subnormals (|x| < 2**-1022);
 *   - separate +inf and -inf counts, the NaN count;
 *   - the exact minimum and maximum of the non-NaN values (signed zeros
 *     are canonicalised to +0.0).
 *
 * Bucket index of |x| (float64 arithmetic, no FMA, in this order):
 *     E  = biased exponent field of x (1..2046 for normal x)
 *     s  = mantissa in [0, 1)  (|x| = (1 + s) * 2**(E - 1023))
 *     p  = ((A*s + B)*s + C)*s      A = 6/35, B = -3/5, C = 10/7
 *     i  = (int)(mult * (E + p))    truncation (the argument is >= 0)
 *     mult = 0.7000007 / log(gamma),  gamma = (1 + alpha) / (1 - alpha)
 * E + p is a continuous, increasing, piecewise-cubic approximation of
 * log2|x| + 1023 (DDSketch's "cubically interpolated" mapping).
 *
 * Relative-error bound.  Within a binade |x| = (1+s) 2**k, so
 * d(E + p)/d(ln|x|) = (1+s) p'(s) = (18 s^3 - 24 s^2 + 8 s + 50) / 35,
 * whose minimum on [0, 1] is 10/7 (at s = 0 and s = 2/3; maximum
 * 1.4511 at s = 2/9; exact log2 would be 1/ln 2 = 1.4427).  A bucket is an
 * interval of length 1/mult in E + p, hence of length at most
 * (7/10)/mult = ln(gamma) / 1.000001 in ln|x|: its bounds lo < hi satisfy
 * hi/lo = r < gamma.  The bucket returns v = 2 lo hi / (lo + hi) (the
 * point minimising the worst relative error over [lo, hi]); for any x in
 * the bucket |v - x| / x <= (r - 1)/(r + 1) < (gamma - 1)/(gamma + 1) =
 * alpha.  The factor 1.000001 leaves a slack of ln(gamma) * 1e-6 >= 2e-11
 * in ln|x| (for 1e-5 <= alpha <= 0.5, the accepted range), which absorbs
 * rounding: E + p <= 2047 is computed with an absolute error below 3e-13,
 * so a computed bucket bound moves by less than 3e-13 in ln|x|, and the
 * returned value (Newton-inverted cubic, see ddsketch.c) is within a few
 * ulps of v.
 *
 * Collapse rule (bounded memory), per store: with M the largest index
 * ever seen in the store, every value of index i < M - max_buckets + 1 is
 * counted in bucket M - max_buckets + 1.  The state is therefore a pure
 * function of the multiset of values: any chunking, partitioning and merge
 * order gives a bit-identical state (and bit-identical serialized bytes).
 * Collapsing only affects the values of smallest magnitude of that sign:
 * the low quantiles of the positive values and the high quantiles (those
 * closest to zero) of the negative ones.
 */
#ifndef PYSTREAM_DDSKETCH_H
#define PYSTREAM_DDSKETCH_H

#include <stddef.h>
#include <stdint.h>

#include "pystream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cffi-cdef-begin */

typedef struct ps_ddsketch ps_ddsketch;

/* Limits of the parameters accepted by ps_ddsketch_new. */
enum {
    PS_DDSKETCH_MAX_BUCKETS_LIMIT = 16777216   /* 2**24 */
};

/* New empty sketch.  PS_ERR_ARG unless 1e-5 <= alpha <= 0.5 and
   1 <= max_buckets <= PS_DDSKETCH_MAX_BUCKETS_LIMIT. */
int ps_ddsketch_new(ps_ddsketch **out, double alpha, int64_t max_buckets);
void ps_ddsketch_free(ps_ddsketch *s);
int ps_ddsketch_copy(ps_ddsketch **out, const ps_ddsketch *s);

double ps_ddsketch_alpha(const ps_ddsketch *s);
int64_t ps_ddsketch_max_buckets(const ps_ddsketch *s);
/* The index multiplier `mult` (see above). */
double ps_ddsketch_multiplier(const ps_ddsketch *s);
/* Non-NaN values (zeros and infinities included), NaN values. */
uint64_t ps_ddsketch_count(const ps_ddsketch *s);
uint64_t ps_ddsketch_nan_count(const ps_ddsketch *s);
uint64_t ps_ddsketch_zero_count(const ps_ddsketch *s);
/* +inf (sign 0) or -inf (sign 1) count. */
uint64_t ps_ddsketch_inf_count(const ps_ddsketch *s, int negative);
/* Exact min / max of the non-NaN values; NaN for an empty sketch. */
double ps_ddsketch_min(const ps_ddsketch *s);
double ps_ddsketch_max(const ps_ddsketch *s);

/* Add n x d values: value (i, j) is at data + i * record_stride +
   j * value_stride (bytes, may be negative), of type `dtype` (a PS_* dtype
   code), aligned and in native byte order. */
int ps_ddsketch_update(ps_ddsketch *s, const void *data, int64_t n, int64_t d,
                       ptrdiff_t record_stride, ptrdiff_t value_stride, int dtype);

/* a <- a (+) b.  PS_ERR_MISMATCH if alpha or max_buckets differ,
   PS_ERR_OVERFLOW if a count would exceed 2**64 - 1 (a is then unchanged). */
int ps_ddsketch_merge(ps_ddsketch *a, const ps_ddsketch *b);

/* out[k] = estimated quantile q[k] (value of 0-based rank
   floor(q * (count - 1)), numpy's method="lower"); q[0] = 0 / 1 give the
   exact min / max; results are clamped to [min, max]; NaN when empty.
   PS_ERR_ARG if a q is outside [0, 1] or NaN (out is then untouched). */
int ps_ddsketch_quantiles(const ps_ddsketch *s, const double *q, int64_t n, double *out);
/* out[k] = estimated fraction of the non-NaN values <= v[k] (whole
   buckets; see ddsketch.c); NaN for NaN v[k] or an empty sketch. */
int ps_ddsketch_ranks(const ps_ddsketch *s, const double *v, int64_t n, double *out);

/* Introspection (tests, debugging). */
/* Bucket index of |x| (for |x| >= DBL_MIN finite), else -1. */
int64_t ps_ddsketch_index(const ps_ddsketch *s, double x);
/* The magnitude a bucket returns (before clamping to [min, max]). */
double ps_ddsketch_bucket_value(const ps_ddsketch *s, int64_t index);
/* Buckets of a store from its lowest to its highest non-empty one:
   *lo = index of counts[0], *nbuckets = how many (0 for an empty store).
   With counts == NULL only *lo and *nbuckets are set; otherwise counts
   must hold cap >= *nbuckets slots (else PS_ERR_BUFSIZE). */
int ps_ddsketch_buckets(const ps_ddsketch *s, int negative, int64_t *lo,
                        int64_t *nbuckets, uint64_t *counts, int64_t cap);
/* Bytes allocated for the count arrays of both stores. */
int64_t ps_ddsketch_allocated(const ps_ddsketch *s);

/* Serialize (canonical bytes: equal states give equal bytes).  With
   buf == NULL only *size is set; PS_ERR_BUFSIZE if cap is too small. */
int ps_ddsketch_serialize(const ps_ddsketch *s, uint8_t *buf, size_t cap, size_t *size);
/* Deserialize; checks magic, version, checksum and the consistency of the
   whole state.  Bad bytes give PS_ERR_CORRUPT or PS_ERR_VERSION. */
int ps_ddsketch_deserialize(ps_ddsketch **out, const uint8_t *buf, size_t size);

/* cffi-cdef-end */

#ifdef __cplusplus
}
#endif

#endif /* PYSTREAM_DDSKETCH_H */
