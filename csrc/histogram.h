/*
 * histogram.h -- public C API of the streaming histogram (numpy's
 * np.histogram semantics, one pass, mergeable, serializable).
 *
 * Division of labour
 * ------------------
 * numpy's semantics depend on the dtypes involved (float32 input gets
 * float32 edges; comparisons run in promoted types; the index arithmetic of
 * the equal-width fast path runs in numpy's result types).  The Python layer
 * (pystream/sketches/histogram.py) asks numpy for all of that once per input
 * dtype and hands the kernel a ps_hist_plan: the domain of every comparison,
 * the bounds and edges already converted to those domains, and the scalars of
 * the index formula.  The kernel only executes the plan, with the same IEEE
 * operations in the same types as numpy, so counts are bit-identical.
 *
 * State
 * -----
 * A ps_hist holds its description (ps_hist_spec + the edges as 64-bit
 * words), and int64 counters: nbins bins, then underflow, overflow and NaN,
 * each kept in PS_HIST_LANES interleaved lanes (slot * LANES + lane) so
 * that consecutive values falling in the same bin do not wait on each
 * other's store.  Memory is O(nbins) (ps_hist_nbytes).  Counters are int64:
 * an update or merge that would make the total number of values exceed
 * INT64_MAX fails with PS_ERR_OVERFLOW (unreachable in practice: 2**63
 * values), so no counter can ever wrap.
 *
 * Edge words
 * ----------
 * Edges and range bounds are stored as 64-bit words whose meaning depends
 * on a type tag: float types (PS_FLOAT64, PS_FLOAT32, PS_HIST_FLOAT16) store
 * the IEEE binary64 bits of the value (exact for all three), signed integer
 * types and PS_HIST_PYINT the two's-complement int64, unsigned types the
 * uint64.
 */
#ifndef PYSTREAM_HISTOGRAM_H
#define PYSTREAM_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "pystream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cffi-cdef-begin */

/* Histogram kinds. */
enum {
    PS_HIST_RANGE = 0,   /* bins + range: np.histogram(x, bins, range) */
    PS_HIST_EDGES = 1,   /* explicit edges: np.histogram(x, bins=edges) */
    PS_HIST_LOG = 2      /* np.histogram(x, bins=np.geomspace(lo, hi, bins + 1)) */
};

/* Type tags of range bounds and edges, besides the PS_* dtype codes of
   numpy scalars / arrays (PS_BOOL is never used). */
enum {
    PS_HIST_FLOAT16 = 11,   /* numpy float16 */
    PS_HIST_PYINT = 20,     /* a Python int (int64 range) */
    PS_HIST_PYFLOAT = 21,   /* a Python float */
    PS_HIST_NOVALUE = 22    /* no bound (explicit edges) */
};

/* Comparison / arithmetic domains of a plan. */
enum {
    PS_HDOM_F64 = 0,   /* values converted to double */
    PS_HDOM_F32 = 1,   /* values converted to float */
    PS_HDOM_I64 = 2,   /* integer values, exactly, as int64 (any dtype but uint64) */
    PS_HDOM_U64 = 3    /* unsigned / bool values, exactly, as uint64 */
};

/* How explicit / log edges find a value's bin.  A table maps cells of the
   value axis to the bin at the cell's start; the kernel takes that bin,
   moves at most one bin up, and checks edges[g] <= v < edges[g + 1] by
   comparison (in the plan's domain), falling back to the binary search
   when the check fails.  So the table only saves time: it never changes a
   result, whatever its contents. */
enum {
    PS_HGUESS_BSEARCH = 0,  /* binary search only */
    PS_HGUESS_LINEAR = 1,   /* cell = trunc(((double)v - guess_a) * guess_b) */
    PS_HGUESS_BITS = 2      /* v > 0: cell = (bits of (double)v >> shift) - key0
                               (a piecewise-linear log2: suits log bins) */
};

enum { PS_HIST_LANES = 4 };   /* interleaved counter lanes */
enum { PS_HIST_MAX_BINS = 1073741824 };   /* 2**30: indices fit in int32 */

typedef struct {
    int kind;            /* PS_HIST_* */
    int64_t nbins;       /* 1 .. PS_HIST_MAX_BINS */
    int lo_tag, hi_tag;  /* range / log: how lo and hi were given; edges: NOVALUE */
    uint64_t lo_bits, hi_bits;
    int edge_dtype;      /* dtype of the nbins + 1 edge words */
    int typed;           /* range: 1 once the edges follow an input dtype
                            (before: numpy's float64 edges); others: 1 */
} ps_hist_spec;

/* How to bin one chunk of values (built by the Python layer per dtype). */
typedef struct {
    int dtype;           /* PS_* code of the values handed to the kernel */
    /* PS_HIST_RANGE: under iff !(x >= lo) in lo_dom, over iff !(x <= hi) in
       hi_dom (NaN first).  Bounds: lo_f / hi_f for F64 / F32 domains,
       lo_i / hi_i for I64 (U64: the uint64 bits). */
    int lo_dom, hi_dom;
    double lo_f, hi_f;
    int64_t lo_i, hi_i;
    /* PS_HIST_RANGE: numpy's bin_type T (F64 or F32: it must be the type
       of the state's edges, which the kernel uses; `edges` is ignored) and
       the type R of f = ((T(x) - first_t) / denom_r) * n_r; index =
       trunc(f), then numpy's decrement / increment against the edges.
       PS_HIST_EDGES / LOG: t_dom is the comparison domain (searchsorted's
       common type) and `edges` the nbins + 1 edges in it; the guess fields
       describe the table (PS_HGUESS_*). */
    int t_dom, r_dom;
    double first_t, denom_r, n_r;
    const void *edges;
    int guess;           /* PS_HGUESS_* (edges kinds) */
    double guess_a, guess_b;
    int64_t key0;
    int shift;           /* 0 .. 63 */
    const int32_t *table;   /* ntable bins (clamped to [0, nbins) when read) */
    int64_t ntable;
} ps_hist_plan;

typedef struct ps_hist ps_hist;

/* New empty state.  `edges`: nbins + 1 words typed by spec->edge_dtype,
   non-decreasing, no NaN (range kind: finite and increasing).
   PS_ERR_ARG on any invalid field. */
int ps_hist_new(ps_hist **out, const ps_hist_spec *spec, const uint64_t *edges);
void ps_hist_free(ps_hist *h);
int ps_hist_copy(ps_hist **out, const ps_hist *h);
int ps_hist_get_spec(const ps_hist *h, ps_hist_spec *out);
int64_t ps_hist_nbins(const ps_hist *h);
/* Copy the nbins + 1 edge words. */
int ps_hist_get_edges(const ps_hist *h, uint64_t *out);
/* Range kind, untyped state (no values yet): take the edges of an input
   dtype (edge_dtype PS_FLOAT64, PS_FLOAT32 or PS_HIST_FLOAT16); sets
   typed = 1.  (float16 edges mean numpy's float16 arithmetic, which the
   kernel does not run: such states only take counts through ps_hist_add.) */
int ps_hist_set_edges(ps_hist *h, int edge_dtype, const uint64_t *edges);
/* Bytes of memory the state holds (struct, edges, counters): O(nbins). */
size_t ps_hist_nbytes(const ps_hist *h);
/* Total number of values seen (binned, under, over, NaN). */
int64_t ps_hist_total(const ps_hist *h);

/* Bin n x d values: value (i, j) is at data + i * record_stride +
   j * value_stride (bytes; any sign), aligned, native byte order, dtype
   plan->dtype.  The order of the values does not matter. */
int ps_hist_update(ps_hist *h, const ps_hist_plan *plan, const void *data, int64_t n,
                   int64_t d, ptrdiff_t record_stride, ptrdiff_t value_stride);
/* Add counts computed elsewhere (counts: nbins values, or NULL for none). */
int ps_hist_add(ps_hist *h, const int64_t *counts, int64_t under, int64_t over,
                int64_t nan_count);

/* a <- a + b.  Same spec and edges required (an untyped range state takes
   the edges of a typed one): else PS_ERR_MISMATCH.  PS_ERR_OVERFLOW if the
   total would exceed INT64_MAX. */
int ps_hist_merge(ps_hist *a, const ps_hist *b);

/* counts: nbins values; outside: underflow, overflow, NaN. */
int ps_hist_result(const ps_hist *h, int64_t *counts, int64_t *outside);

/* Same conventions as ps_moments_serialize / ps_moments_deserialize:
   little-endian, magic, version, FNV-1a 64 checksum; every field is
   validated, bad bytes give PS_ERR_CORRUPT / PS_ERR_VERSION. */
int ps_hist_serialize(const ps_hist *h, uint8_t *buf, size_t cap, size_t *size);
int ps_hist_deserialize(ps_hist **out, const uint8_t *buf, size_t size);

/* cffi-cdef-end */

#ifdef __cplusplus
}
#endif

#endif /* PYSTREAM_HISTOGRAM_H */
