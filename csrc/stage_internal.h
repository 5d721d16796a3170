/*
 * stage_internal.h -- the interface between the stage dispatcher
 * (stage.c: parameter checks, ps_stage object, serialization envelope)
 * and the kernel families (window.c, window_order.c, scan.c, ewm.c,
 * block.c).  Internal; not part of the cffi cdef.
 *
 * Contract for a family:
 *
 * - create(): allocate everything the state will ever need (so update
 *   cannot fail); return NULL on allocation failure.  Exception: the
 *   moving-window families (window.c, window_order.c) allocate with the
 *   records seen, bounded by the window, not with the nominal window; their
 *   update() grows the state first and, if memory is short, changes nothing
 *   and sets *nout = -1 (the dispatcher reports PS_ERR_NOMEM).  Parameters are
 *   already validated by the dispatcher (see ps_stage_new in stage.c):
 *   1 <= window <= PS_WINDOW_MAX, 1 <= min_count <= window for moving kinds, ddof >= 0,
 *   0 <= q <= 1, 0 < alpha <= 1, width >= 1, start >= 0.
 * - update(): n >= 1 records, `in` is n x width contiguous float64
 *   (row-major: value j of record i is in[i * width + j]); write the
 *   output rows to `out` (same layout) and their count to *nout.  Must
 *   give bit-identical outputs for any split of the input into calls.
 * - flush(): optional (NULL if the family has nothing pending at the end
 *   of a stream); must not change the state.
 * - save()/load(): the state's payload, for families whose state is not
 *   replayable.  load() gets a state freshly made by create() with the
 *   same params/width/start and reads what save() wrote; it must validate
 *   every value it reads (NaN where impossible, negative counts, ...)
 *   and return PS_ERR_CORRUPT rather than accept an inconsistent state.
 *   Replayable families (moving windows) set save = load = NULL: their
 *   outputs depend only on the last window-1 inputs and the global
 *   position, so the dispatcher keeps those inputs and serializes them,
 *   and deserialization replays them into a fresh state.
 */
#ifndef PYSTREAM_STAGE_INTERNAL_H
#define PYSTREAM_STAGE_INTERNAL_H

#include "pystream.h"
#include "serial.h"

/* Largest window of the moving kinds (2**52; the dispatcher refuses more):
   offsets in a block, and their sums with the window, are then exact in a
   double (argmin / argmax outputs) and far from int64 overflow. */
#define PS_WINDOW_MAX ((int64_t)1 << 52)

/* The moving-window states grow with the records seen, by doubling, but
   never below PS_WINDOW_FLOOR values (2**17: 1 MB per float64 array) or
   the whole window if smaller: windows up to that size are allocated once,
   on the first update, as they always were (no growth steps, whose page
   faults cost ~2 ms per state at window 1e5), and a huge window over a
   short stream costs about 1 MB per array. */
#define PS_WINDOW_FLOOR ((int64_t)1 << 17)

/* The one growth rule of every window array (the families' states and the
   dispatcher's replay tail): room for `held` records plus `n` new ones, at
   most `max` in all (`*need`).  Returns `cap` when they fit; else `cap`
   doubled (up to max), at least `*need`, and at least PS_WINDOW_FLOOR
   values of `width` per record (max when smaller). */
static inline int64_t ps_window_room(int64_t cap, int64_t held, int64_t n, int64_t max,
                                     int64_t width, int64_t *need)
{
    int64_t grown;
    *need = n >= max - held ? max : held + n;
    if (*need <= cap)
        return cap;
    grown = cap > max / 2 ? max : 2 * cap;
    if (grown < *need)
        grown = *need;
    if (grown < PS_WINDOW_FLOOR / width)
        grown = max < PS_WINDOW_FLOOR / width ? max : PS_WINDOW_FLOOR / width;
    return grown;
}

typedef struct {
    void *(*create)(const ps_stage_params *p, int64_t width, int64_t start);
    void (*destroy)(void *st);
    void (*update)(void *st, const double *in, int64_t n, double *out, int64_t *nout);
    void (*flush)(const void *st, double *out, int64_t *nout);
    void (*save)(const void *st, ps_writer *w);
    int (*load)(void *st, ps_reader *r);
} ps_family;

/* window.c: PS_MOVE_SUM, MEAN, VAR, STD, MIN, MAX, ARGMIN, ARGMAX */
extern const ps_family ps_family_window;
/* window_order.c: PS_MOVE_MEDIAN, QUANTILE, RANK */
extern const ps_family ps_family_order;
/* scan.c: PS_CUMSUM, CUMPROD, CUMMEAN, CUMVAR, CUMSTD */
extern const ps_family ps_family_scan;
/* ewm.c: PS_EWM_MEAN, VAR, STD */
extern const ps_family ps_family_ewm;
/* block.c: PS_RESAMPLE_SUM, MEAN */
extern const ps_family ps_family_block;

#endif /* PYSTREAM_STAGE_INTERNAL_H */
