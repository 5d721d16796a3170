/*
 * keyed.h -- the C core of keyed streams (issue 20): a stream whose
 * records each carry an int64 key (string keys are dictionary-encoded to
 * int64 codes by the Python layer).
 *
 * The invariant: for every key, the keyed result is the unkeyed result on
 * that key's records alone, bit for bit.  A key's state is therefore
 * exactly an unkeyed state (ps_moments, ps_stage) fed that key's records in
 * order, with the key's own record index (0, 1, 2, ... among the key's
 * records, plus a per-key start offset) as the global index.  Chunking and
 * partition invariance follow from the unkeyed states'.
 *
 * Key map (ps_keymap): int64 key -> dense slot id, slots handed out in
 * first-seen order (a removed key's slot goes on a LIFO free list and is
 * reused by the next new key).  Open addressing with linear probing over a
 * power-of-two table, hash = splitmix64 finalizer, grown at load 1/2;
 * removal by backward-shift deletion (no tombstones, so probing stays
 * correct and short after any number of removals).
 *
 * Grouping (ps_group_rows): a stable counting sort of a chunk's rows by
 * slot id; segments come in order of first appearance in the chunk.
 *
 * Keyed states own a key map and one unkeyed state per slot, made when the
 * key's first record arrives, and move each chunk with one grouping pass:
 * group, gather each key's records into a contiguous scratch buffer (kept
 * in the state), run the unkeyed kernel per key, scatter back (stages).
 *
 * The region between the cffi-cdef markers is read verbatim by the cffi
 * builder (csrc/build_ffi.py); it stays free of preprocessor directives.
 */
#ifndef PYSTREAM_KEYED_H
#define PYSTREAM_KEYED_H

#include <stddef.h>
#include <stdint.h>

#include "pystream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cffi-cdef-begin */

typedef struct ps_keymap ps_keymap;

int ps_keymap_new(ps_keymap **out);
void ps_keymap_free(ps_keymap *m);
int ps_keymap_copy(ps_keymap **out, const ps_keymap *m);
/* Live keys. */
int64_t ps_keymap_size(const ps_keymap *m);
/* Slots ever handed out (max slot id + 1; removed slots included). */
int64_t ps_keymap_capacity(const ps_keymap *m);
/* ids[i] = slot of keys[i], adding new keys.  If adding would make more
   than max_keys live keys (max_keys < 0: no limit), returns PS_ERR_KEYS
   with *bad_row = the first row whose key is the (max_keys+1)-th, and the
   map unchanged (the keys this call added are removed again, the free
   list restored).  bad_row may be NULL. */
int ps_keymap_encode(ps_keymap *m, const int64_t *keys, int64_t n, int64_t max_keys,
                     int64_t *ids, int64_t *bad_row);
/* Slot of `key`, or -1. */
int64_t ps_keymap_find(const ps_keymap *m, int64_t key);
/* Remove `key`; its slot goes on the free list.  PS_ERR_ARG if absent. */
int ps_keymap_remove(ps_keymap *m, int64_t key);
/* Per slot id in [0, capacity): its key and whether it is live (a dead
   slot's key is 0). */
int ps_keymap_keys(const ps_keymap *m, int64_t *slot_keys, uint8_t *live);

/* Stable counting sort of n rows by slot id (0 <= ids[i] < nslots, else
   PS_ERR_ARG): order[] = row indices grouped by slot, a slot's rows in
   input order; slots[] = the *nseg slots present, in order of first
   appearance in the chunk; offsets[] (nseg + 1 entries) the segment
   bounds in order[].  scratch: caller-provided int64[nslots], all zero on
   entry, all zero again on return. */
int ps_group_rows(const int64_t *ids, int64_t n, int64_t nslots, int64_t *scratch,
                  int64_t *order, int64_t *slots, int64_t *offsets, int64_t *nseg);

/* ---- keyed moments --------------------------------------------------- */

typedef struct ps_keyed_moments ps_keyed_moments;

/* dtype may be PS_DTYPE_UNSET (then set it with ps_keyed_moments_set_type
   before the first update; presets are allowed before).  max_keys < 0: no
   limit on the number of keys. */
int ps_keyed_moments_new(ps_keyed_moments **out, int dtype, int ndim, const int64_t *shape,
                         int64_t max_keys);
int ps_keyed_moments_set_type(ps_keyed_moments *k, int dtype, int ndim, const int64_t *shape);
void ps_keyed_moments_free(ps_keyed_moments *k);
int ps_keyed_moments_copy(ps_keyed_moments **out, const ps_keyed_moments *k);
int ps_keyed_moments_dtype(const ps_keyed_moments *k);
int ps_keyed_moments_ndim(const ps_keyed_moments *k);
int64_t ps_keyed_moments_shape(const ps_keyed_moments *k, int axis);
int64_t ps_keyed_moments_width(const ps_keyed_moments *k);
int64_t ps_keyed_moments_max_keys(const ps_keyed_moments *k);
/* Give keys[i] the start offset starts[i] >= 0 (the key's global index of
   its next record: earlier partitions held starts[i] of its records).
   Only for keys without records in this state (PS_ERR_ARG otherwise; a
   key preset twice takes the last value).  Counts against max_keys
   (PS_ERR_KEYS, bad_row = the offending entry, state unchanged). */
int ps_keyed_moments_preset(ps_keyed_moments *k, const int64_t *keys, const int64_t *starts,
                            int64_t n, int64_t *bad_row);
/* n records (layout as ps_moments_update) with their keys.  On error the
   state is as before the call (PS_ERR_KEYS: *bad_row = first row of the
   (max_keys+1)-th key; PS_ERR_OVERFLOW: *bad_row = first row of a key
   whose index would overflow), except for PS_ERR_NOMEM inside a key's
   update, which may leave earlier keys of the chunk updated (the caller
   must then discard the state). */
int ps_keyed_moments_update(ps_keyed_moments *k, const void *data, int64_t n,
                            ptrdiff_t record_stride, ptrdiff_t value_stride,
                            const int64_t *keys, int64_t *bad_row);
/* left <- left (+) right, per key (matched by key value; right's new keys
   appended in right's slot order).  Per key requires left.stop ==
   right.start (PS_ERR_NOT_ADJACENT, *bad_key = the key, else unchanged).
   bad_key may be NULL. */
int ps_keyed_moments_merge(ps_keyed_moments *left, const ps_keyed_moments *right,
                           int64_t *bad_key);
/* Keys holding at least one record (preset-only keys are not counted). */
int64_t ps_keyed_moments_nkeys(const ps_keyed_moments *k);
/* Those keys in slot order (first seen). */
int ps_keyed_moments_keys(const ps_keyed_moments *k, int64_t *keys);
/* Per key (as ps_keyed_moments_keys): the start and stop index. */
int ps_keyed_moments_bounds(const ps_keyed_moments *k, int64_t *starts, int64_t *stops);
/* Each key's ps_moments_result into nkeys * width entries, key-major (key
   i, value j at [i * width + j]); NULL fields are skipped.  PS_ERR_OVERFLOW
   if a key's 128-bit sum overflowed (all keys are still written). */
int ps_keyed_moments_result(const ps_keyed_moments *k, ps_moments_out *out);
/* Per key: global index (among the key's records) of its first record
   holding a NaN, or -1. */
int ps_keyed_moments_first_nan(const ps_keyed_moments *k, int64_t *first_nan);
/* Approximate bytes held: the tables plus each key's serialized size. */
int64_t ps_keyed_moments_nbytes(const ps_keyed_moments *k);
int ps_keyed_moments_serialize(const ps_keyed_moments *k, uint8_t *buf, size_t cap,
                               size_t *size);
int ps_keyed_moments_deserialize(ps_keyed_moments **out, const uint8_t *buf, size_t size);

/* ---- keyed stages ---------------------------------------------------- */

typedef struct ps_keyed_stage ps_keyed_stage;

/* Count-preserving kinds only (moving, scans, EWM; resample: PS_ERR_ARG). */
int ps_keyed_stage_new(ps_keyed_stage **out, const ps_stage_params *p, int64_t width,
                       int64_t max_keys);
void ps_keyed_stage_free(ps_keyed_stage *s);
int ps_keyed_stage_copy(ps_keyed_stage **out, const ps_keyed_stage *s);
int ps_keyed_stage_get_params(const ps_keyed_stage *s, ps_stage_params *out);
int64_t ps_keyed_stage_width(const ps_keyed_stage *s);
int64_t ps_keyed_stage_max_keys(const ps_keyed_stage *s);
/* n rows of `width` float64 (contiguous, row-major) with their keys:
   out[i] is what key keys[i]'s own ps_stage gives for that record.
   PS_ERR_KEYS: *bad_row as ps_keymap_encode, state unchanged.
   PS_ERR_NOMEM inside a key's update may leave earlier keys updated. */
int ps_keyed_stage_update(ps_keyed_stage *s, const double *in, const int64_t *keys, int64_t n,
                          double *out, int64_t *bad_row);
/* Drop the keys' states and map entries (absent keys are ignored); a key
   that comes back starts afresh, as if never seen. */
int ps_keyed_stage_evict(ps_keyed_stage *s, const int64_t *keys, int64_t n);
int64_t ps_keyed_stage_nkeys(const ps_keyed_stage *s);
/* Live keys in slot order. */
int ps_keyed_stage_keys(const ps_keyed_stage *s, int64_t *keys);
/* Per live key (as ps_keyed_stage_keys): its records seen. */
int ps_keyed_stage_positions(const ps_keyed_stage *s, int64_t *positions);
int ps_keyed_stage_serialize(const ps_keyed_stage *s, uint8_t *buf, size_t cap, size_t *size);
int ps_keyed_stage_deserialize(ps_keyed_stage **out, const uint8_t *buf, size_t size);

/* cffi-cdef-end */

#ifdef __cplusplus
}
#endif

#endif /* PYSTREAM_KEYED_H */
