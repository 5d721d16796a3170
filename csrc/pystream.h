/*
 * pystream.h -- the whole public C API of pystream's numeric core.
 *
 * Plain C11, no Python headers.  The region between the cffi-cdef markers
 * is read verbatim by the cffi builder (csrc/build_ffi.py), so it must stay
 * free of preprocessor directives and compiler extensions.
 *
 * Moments state
 * -------------
 * A ps_moments state summarises the records with global indices
 * [start, stop) of one stream: per value of the record (width d), the count
 * of non-NaN values, the NaN count, the sum, mean, M2 (sum of squared
 * deviations), min and max; for integer dtypes also the exact 128-bit sum
 * and the exact min / max.
 *
 * Reproducibility: records are grouped in blocks of B records aligned on
 * multiples of B in *global* index space (B = ps_moments_block(d)).  Each
 * full block is reduced by one fixed algorithm and block results are
 * combined only along the canonical binary tree of aligned block ranges.
 * Partial blocks at the edges of a state are kept raw and reduced when a
 * neighbour completes them.  Hence any chunking of the stream, and any
 * merge of contiguous partitions, gives bit-identical results.
 */
#ifndef PYSTREAM_H
#define PYSTREAM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cffi-cdef-begin */

/* Element types understood by the kernels (values of the `dtype` args). */
enum {
    PS_DTYPE_UNSET = -1,
    PS_BOOL = 0,
    PS_INT8 = 1,
    PS_INT16 = 2,
    PS_INT32 = 3,
    PS_INT64 = 4,
    PS_UINT8 = 5,
    PS_UINT16 = 6,
    PS_UINT32 = 7,
    PS_UINT64 = 8,
    PS_FLOAT32 = 9,
    PS_FLOAT64 = 10
};

/* Status codes returned by every fallible function. */
enum {
    PS_OK = 0,
    PS_ERR_NOMEM = 1,        /* allocation failed */
    PS_ERR_ARG = 2,          /* invalid argument (NULL, negative size...) */
    PS_ERR_DTYPE = 3,        /* unknown dtype, or dtype already set */
    PS_ERR_NOT_ADJACENT = 4, /* merge: left.stop != right.start */
    PS_ERR_MISMATCH = 5,     /* merge: different dtype or record shape */
    PS_ERR_CORRUPT = 6,      /* serialized bytes are truncated or invalid */
    PS_ERR_VERSION = 7,      /* serialized bytes of an unknown version */
    PS_ERR_OVERFLOW = 8,     /* record count or 128-bit sum overflow */
    PS_ERR_BUFSIZE = 9,      /* output buffer too small */
    PS_ERR_UNSET = 10,       /* state has no dtype yet */
    PS_ERR_KEYS = 11         /* keyed states: more keys than max_keys */
};

#define PS_MAX_NDIM 64

typedef struct ps_moments ps_moments;

/* Where ps_moments_result writes; each pointer addresses `width` slots. */
typedef struct {
    int64_t *count;      /* non-NaN values */
    int64_t *nan_count;  /* NaN values */
    double *sum;         /* float64 sum of non-NaN values */
    double *mean;        /* mean of non-NaN values (NaN if count == 0) */
    double *m2;          /* sum of squared deviations from the mean */
    double *min;         /* NaN if count == 0 */
    double *max;         /* NaN if count == 0 */
    int64_t *isum_hi;    /* integer dtypes: exact sum = hi * 2**64 + lo */
    uint64_t *isum_lo;
    int64_t *imin;       /* integer dtypes: exact min (uint64 bits if unsigned) */
    int64_t *imax;       /* integer dtypes: exact max (uint64 bits if unsigned) */
} ps_moments_out;

/* Human-readable text of a status code (static storage). */
const char *ps_status_message(int status);

/* Block size in records for a record of `width` values. */
int64_t ps_moments_block(int64_t width);

/* New empty state covering [start, start).  dtype may be PS_DTYPE_UNSET
   (then ndim and shape are ignored; set them with ps_moments_set_type
   before the first update). */
int ps_moments_new(ps_moments **out, int dtype, int ndim, const int64_t *shape,
                   int64_t start);
int ps_moments_set_type(ps_moments *m, int dtype, int ndim, const int64_t *shape);
void ps_moments_free(ps_moments *m);
int ps_moments_copy(ps_moments **out, const ps_moments *m);

int ps_moments_dtype(const ps_moments *m);
int ps_moments_ndim(const ps_moments *m);
int64_t ps_moments_shape(const ps_moments *m, int axis);
int64_t ps_moments_width(const ps_moments *m);
int64_t ps_moments_start(const ps_moments *m);
int64_t ps_moments_stop(const ps_moments *m);
/* Global index of the first record holding a NaN, or -1. */
int64_t ps_moments_first_nan(const ps_moments *m);

/* Append n records.  Record i, value j is at
   data + i * record_stride + j * value_stride (strides in bytes, may be
   negative).  Values must be aligned for the dtype and in native byte
   order; the caller checks that. */
int ps_moments_update(ps_moments *m, const void *data, int64_t n,
                      ptrdiff_t record_stride, ptrdiff_t value_stride);

/* left <- left (+) right.  Requires left.stop == right.start. */
int ps_moments_merge(ps_moments *left, const ps_moments *right);

int ps_moments_result(const ps_moments *m, ps_moments_out *out);

/* Serialize.  With buf == NULL (or cap too small) only *size is set
   (PS_ERR_BUFSIZE if buf is given but too small). */
int ps_moments_serialize(const ps_moments *m, uint8_t *buf, size_t cap,
                         size_t *size);
/* Deserialize; validates everything.  Bad bytes give PS_ERR_CORRUPT or
   PS_ERR_VERSION, never undefined behaviour. */
int ps_moments_deserialize(ps_moments **out, const uint8_t *buf, size_t size);

/* ------------------------------------------------------------------ */
/* Stages: moving windows, scans, EWM and block reductions.            */
/*                                                                      */
/* A ps_stage turns a stream of float64 records of `width` values into  */
/* an output stream, carrying its state from chunk to chunk.  Outputs   */
/* never depend on how the input was chunked (bit for bit).  Moving     */
/* windows are drift-free: each output is a function of the values in   */
/* its window and of the window's position modulo `window` only.        */

enum {
    PS_NAN_PROPAGATE = 0,   /* a NaN in the window/history gives NaN */
    PS_NAN_OMIT = 1         /* NaNs are skipped; min_count counts non-NaN */
};

enum {
    PS_MOVE_SUM = 1,
    PS_MOVE_MEAN = 2,
    PS_MOVE_VAR = 3,
    PS_MOVE_STD = 4,
    PS_MOVE_MIN = 5,
    PS_MOVE_MAX = 6,
    PS_MOVE_ARGMIN = 7,      /* offset from the newest record (0 = newest) */
    PS_MOVE_ARGMAX = 8,
    PS_MOVE_MEDIAN = 9,
    PS_MOVE_QUANTILE = 10,   /* numpy's "linear" interpolation */
    PS_MOVE_RANK = 11,       /* bottleneck's move_rank, in [-1, 1] */
    PS_CUMSUM = 20,
    PS_CUMPROD = 21,
    PS_CUMMEAN = 22,
    PS_CUMVAR = 23,
    PS_CUMSTD = 24,
    PS_EWM_MEAN = 30,
    PS_EWM_VAR = 31,
    PS_EWM_STD = 32,
    PS_RESAMPLE_SUM = 40,    /* one output row per `window` input rows */
    PS_RESAMPLE_MEAN = 41
};

typedef struct {
    int kind;
    int nan_policy;      /* PS_NAN_PROPAGATE or PS_NAN_OMIT */
    int64_t window;      /* moving: window length >= 1; resample: block length */
    int64_t min_count;   /* moving: 1..window; ewm: min_periods >= 0; else 0 */
    double ddof;         /* var/std: >= 0 */
    double q;            /* moving quantile: in [0, 1] */
    double alpha;        /* ewm: smoothing factor in (0, 1] */
    int adjust;          /* ewm: 0 or 1 */
    int ignore_na;       /* ewm: 0 or 1 */
    int bias;            /* ewm var/std: 0 or 1 */
} ps_stage_params;

typedef struct ps_stage ps_stage;

/* New stage whose first input record has global index `start` (>= 0).
   PS_ERR_ARG for invalid parameters or width < 1. */
int ps_stage_new(ps_stage **out, const ps_stage_params *params, int64_t width,
                 int64_t start);
void ps_stage_free(ps_stage *s);
int ps_stage_copy(ps_stage **out, const ps_stage *s);
int ps_stage_get_params(const ps_stage *s, ps_stage_params *out);
int64_t ps_stage_width(const ps_stage *s);
int64_t ps_stage_start(const ps_stage *s);
/* Global index of the next input record. */
int64_t ps_stage_position(const ps_stage *s);
/* Rows `update` may write for n input rows. */
int64_t ps_stage_max_out(const ps_stage *s, int64_t n);

/* Feed n >= 0 records: `in` is n x width contiguous float64, row-major.
   Writes *nout rows (n x width for all kinds but resample) to `out`,
   which must hold ps_stage_max_out(s, n) rows. */
int ps_stage_update(ps_stage *s, const double *in, int64_t n, double *out,
                    int64_t *nout);
/* End of stream: the reduction of resample's incomplete last block
   (*nout = 0 or 1 rows); other kinds write nothing.  The state is not
   changed, so more updates may follow. */
int ps_stage_flush(const ps_stage *s, double *out, int64_t *nout);

int ps_stage_serialize(const ps_stage *s, uint8_t *buf, size_t cap, size_t *size);
int ps_stage_deserialize(ps_stage **out, const uint8_t *buf, size_t size);

/* Exact int64 running sum / product over n x width row-major values,
   continuing from carry[width] (updated).  On overflow returns
   PS_ERR_OVERFLOW with *bad_row = first overflowing row; rows before it
   are written and carry holds the last good row. */
int ps_cumsum_int64(const int64_t *in, int64_t n, int64_t width,
                    int64_t *carry, int64_t *out, int64_t *bad_row);
int ps_cumprod_int64(const int64_t *in, int64_t n, int64_t width,
                     int64_t *carry, int64_t *out, int64_t *bad_row);

/* ------------------------------------------------------------------ */
/* SIMD level of the kernels (see simd.h): every level gives the same   */
/* bits; the level only changes the speed.                              */

enum {
    PS_SIMD_PORTABLE = 0,    /* plain C loops */
    PS_SIMD_SSE2 = 1,        /* x86-64 baseline */
    PS_SIMD_AVX2 = 2,
    PS_SIMD_AVX512 = 3       /* AVX-512F */
};

/* Highest level this build compiled and this CPU supports. */
int ps_simd_best(void);
/* Level in use: the lower of ps_simd_best() and the limit. */
int ps_simd_level(void);
/* Cap the level (tests, benchmarks, PYSTREAM_SIMD); returns the level now
   in use, or -1 for a value that is not a level.  Not meant to be called
   while kernels run in other threads (they may use either level). */
int ps_simd_set_limit(int level);

/* cffi-cdef-end */

#ifdef __cplusplus
}
#endif

#endif /* PYSTREAM_H */
