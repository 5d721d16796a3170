/*
 * stage.c -- the ps_stage object: parameter checks, dispatch to a kernel
 * family (see stage_internal.h) and the serialization envelope.
 *
 * Serialized form (little-endian):
 *   "PSSTAGE1" | u64 version | params | i64 width, start, position |
 *   payload | u64 FNV-1a of everything before.
 * The payload of a replayable family (moving windows) is the last
 * min(window - 1, position - start) input rows; deserialization replays
 * them into a fresh state.  Because a window's output depends only on the
 * values in the window and on its global phase, the restored stage then
 * produces bit-identical outputs.  Other families write their own payload.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stage_internal.h"
#include "simd.h"

#if defined(__SSE2__) && !defined(PS_NO_SIMD)
#include <emmintrin.h>
#endif


/* Version 2 (issue 17): the ewm_mean adjust=1 payload holds the blocked
   recurrence's state (ewm.c); a version-1 state of that kind is refused
   (PS_ERR_VERSION: its words mean something else), every other kind's
   payload is unchanged and loads from either version. */
#define STAGE_VERSION 2u
static const uint8_t STAGE_MAGIC[8] = {'P', 'S', 'S', 'T', 'A', 'G', 'E', '1'};

struct ps_stage {
    ps_stage_params p;
    const ps_family *fam;
    void *st;
    int64_t width, start, pos;
    /* Replayable families: ring of the last min(tail_max, rows seen) input
       rows, tail_max = window - 1; its room tail_cap grows with the rows
       seen (grow_tail), so a huge window costs nothing until it fills. */
    double *tail;
    int64_t tail_max, tail_cap, tail_len, tail_head; /* head: row index of the oldest */
};

static int is_moving(int kind) { return kind >= PS_MOVE_SUM && kind <= PS_MOVE_RANK; }

static const ps_family *family_of(int kind)
{
    if (kind >= PS_MOVE_SUM && kind <= PS_MOVE_ARGMAX)
        return &ps_family_window;
    if (kind >= PS_MOVE_MEDIAN && kind <= PS_MOVE_RANK)
        return &ps_family_order;
    if (kind >= PS_CUMSUM && kind <= PS_CUMSTD)
        return &ps_family_scan;
    if (kind >= PS_EWM_MEAN && kind <= PS_EWM_STD)
        return &ps_family_ewm;
    if (kind == PS_RESAMPLE_SUM || kind == PS_RESAMPLE_MEAN)
        return &ps_family_block;
    return NULL;
}

static int is_flag(int v) { return v == 0 || v == 1; }

/* Check the parameters for their kind; PS_OK or PS_ERR_ARG. */
static int check_params(const ps_stage_params *p)
{
    int k = p->kind;
    if (!family_of(k))
        return PS_ERR_ARG;
    if (p->nan_policy != PS_NAN_PROPAGATE && p->nan_policy != PS_NAN_OMIT)
        return PS_ERR_ARG;
    if (is_moving(k)) {
        if (p->window < 1 || p->window > PS_WINDOW_MAX || p->min_count < 1 ||
            p->min_count > p->window)
            return PS_ERR_ARG;
    }
    if (k == PS_RESAMPLE_SUM || k == PS_RESAMPLE_MEAN) {
        if (p->window < 1)
            return PS_ERR_ARG;
    }
    if (k == PS_MOVE_VAR || k == PS_MOVE_STD || k == PS_CUMVAR || k == PS_CUMSTD) {
        if (!(p->ddof >= 0.0) || !isfinite(p->ddof))
            return PS_ERR_ARG;
    }
    if (k == PS_MOVE_QUANTILE && !(p->q >= 0.0 && p->q <= 1.0))
        return PS_ERR_ARG;
    if (k >= PS_EWM_MEAN && k <= PS_EWM_STD) {
        if (!(p->alpha > 0.0 && p->alpha <= 1.0) || p->min_count < 0 ||
            !is_flag(p->adjust) || !is_flag(p->ignore_na) || !is_flag(p->bias))
            return PS_ERR_ARG;
    }
    return PS_OK;
}

/* A copy of the parameters with the fields the kind ignores zeroed, so
   equal stages serialize to equal bytes. */
static ps_stage_params canonical(const ps_stage_params *p)
{
    ps_stage_params c;
    memset(&c, 0, sizeof c);
    c.kind = p->kind;
    c.nan_policy = p->nan_policy;
    int k = p->kind;
    if (is_moving(k)) {
        c.window = p->window;
        c.min_count = p->min_count;
    }
    if (k == PS_RESAMPLE_SUM || k == PS_RESAMPLE_MEAN)
        c.window = p->window;
    if (k == PS_MOVE_VAR || k == PS_MOVE_STD || k == PS_CUMVAR || k == PS_CUMSTD)
        c.ddof = p->ddof;
    if (k == PS_MOVE_QUANTILE)
        c.q = p->q;
    if (k == PS_MOVE_MEDIAN)
        c.q = 0.5;
    if (k >= PS_EWM_MEAN && k <= PS_EWM_STD) {
        c.alpha = p->alpha;
        c.min_count = p->min_count;
        c.adjust = p->adjust;
        c.ignore_na = p->ignore_na;
        c.bias = p->bias;
    }
    return c;
}

static int make(ps_stage **out, const ps_stage_params *params, int64_t width, int64_t start)
{
    ps_stage_params p = canonical(params);
    ps_stage *s = calloc(1, sizeof *s);
    if (!s)
        return PS_ERR_NOMEM;
    s->p = p;
    s->fam = family_of(p.kind);
    s->width = width;
    s->start = start;
    s->pos = start;
    if (!s->fam->save)
        s->tail_max = p.window - 1;
    s->st = s->fam->create(&s->p, width, start);
    if (!s->st) {
        free(s->tail);
        free(s);
        return PS_ERR_NOMEM;
    }
    *out = s;
    return PS_OK;
}

int ps_stage_new(ps_stage **out, const ps_stage_params *params, int64_t width, int64_t start)
{
    if (!out || !params || width < 1 || width > PS_MAX_WIDTH || start < 0)
        return PS_ERR_ARG;
    *out = NULL;
    int st = check_params(params);
    if (st != PS_OK)
        return st;
    return make(out, params, width, start);
}

void ps_stage_free(ps_stage *s)
{
    if (!s)
        return;
    s->fam->destroy(s->st);
    free(s->tail);
    free(s);
}

int ps_stage_get_params(const ps_stage *s, ps_stage_params *out)
{
    if (!s || !out)
        return PS_ERR_ARG;
    *out = s->p;
    return PS_OK;
}

int64_t ps_stage_width(const ps_stage *s) { return s ? s->width : -1; }
int64_t ps_stage_start(const ps_stage *s) { return s ? s->start : -1; }
int64_t ps_stage_position(const ps_stage *s) { return s ? s->pos : -1; }
int64_t ps_stage_max_out(const ps_stage *s, int64_t n) { return (s && n > 0) ? n : 0; }

/* Make room in the tail ring for n more rows (at most tail_max in all), by
   the windows' growth rule.  The ring only wraps once it is full (cap ==
   tail_max), after which it never grows, so a growing ring starts at index
   0 and realloc keeps its rows in place. */
static int grow_tail(ps_stage *s, int64_t n)
{
    int64_t need, w = s->width;
    int64_t cap = ps_window_room(s->tail_cap, s->tail_len, n, s->tail_max, w, &need);
    double *t;
    if (cap == s->tail_cap)
        return PS_OK;
    if ((uint64_t)cap > SIZE_MAX / sizeof(double) / (uint64_t)w)
        return PS_ERR_NOMEM;
    t = realloc(s->tail, (size_t)cap * (size_t)w * sizeof(double));
    if (!t)
        return PS_ERR_NOMEM;
    s->tail = t;
    s->tail_cap = cap;
    return PS_OK;
}

/* Remember the last tail_max rows of `in` (n rows); grow_tail made room. */
static void keep_tail(ps_stage *s, const double *in, int64_t n)
{
    int64_t cap = s->tail_cap, w = s->width;
    if (cap == 0 || n == 0)
        return;
    if (n >= cap) {
        memcpy(s->tail, in + (n - cap) * w, (size_t)(cap * w) * sizeof(double));
        s->tail_head = 0;
        s->tail_len = cap;
        return;
    }
    /* Append n < cap rows at the ring's end, in at most two pieces. */
    int64_t end = (s->tail_head + s->tail_len) % cap;
    int64_t first = cap - end < n ? cap - end : n;
    memcpy(s->tail + end * w, in, (size_t)(first * w) * sizeof(double));
    if (n > first)
        memcpy(s->tail, in + first * w, (size_t)((n - first) * w) * sizeof(double));
    int64_t len = s->tail_len + n;
    if (len > cap) {
        s->tail_head = (s->tail_head + (len - cap)) % cap;
        len = cap;
    }
    s->tail_len = len;
}

/* Every NaN output becomes the one canonical quiet NaN: the sign and
   payload of a NaN produced by arithmetic depend on operand order, which
   the compiler may choose differently in two code paths, and outputs must
   be bit-identical whatever path (chunking) produced them.  A read-only
   check first: most chunks hold no NaN and are not written again. */
static void canonical_nan(double *out, int64_t count)
{
    const double nan = NAN;
    if (!ps_any_nan(out, count))
        return;
    for (int64_t i = 0; i < count; i++) {
        double v = out[i];
        out[i] = v != v ? nan : v;
    }
}

int ps_stage_update(ps_stage *s, const double *in, int64_t n, double *out, int64_t *nout)
{
    if (!s || !nout || n < 0 || (n > 0 && (!in || !out)))
        return PS_ERR_ARG;
    *nout = 0;
    if (n == 0)
        return PS_OK;
    if (s->pos > INT64_MAX - n)
        return PS_ERR_OVERFLOW;
    if (grow_tail(s, n) != PS_OK)
        return PS_ERR_NOMEM;
    s->fam->update(s->st, in, n, out, nout);
    if (*nout < 0) { /* a family whose memory grows could not grow: unchanged */
        *nout = 0;
        return PS_ERR_NOMEM;
    }
    canonical_nan(out, *nout * s->width);
    keep_tail(s, in, n);
    s->pos += n;
    return PS_OK;
}

int ps_stage_flush(const ps_stage *s, double *out, int64_t *nout)
{
    if (!s || !nout || !out)
        return PS_ERR_ARG;
    *nout = 0;
    if (s->fam->flush) {
        s->fam->flush(s->st, out, nout);
        canonical_nan(out, *nout * s->width);
    }
    return PS_OK;
}

/* ------------------------------------------------------------------ */
/* Serialization                                                       */

static void put_params(ps_writer *w, const ps_stage_params *p)
{
    ps_put_i64(w, p->kind);
    ps_put_i64(w, p->nan_policy);
    ps_put_i64(w, p->window);
    ps_put_i64(w, p->min_count);
    ps_put_f64(w, p->ddof);
    ps_put_f64(w, p->q);
    ps_put_f64(w, p->alpha);
    ps_put_i64(w, p->adjust);
    ps_put_i64(w, p->ignore_na);
    ps_put_i64(w, p->bias);
}

/* Read an int64 that must fit an int. */
static int get_int(ps_reader *r)
{
    int64_t v = ps_get_i64(r);
    if (v < -1000000 || v > 1000000) {
        r->bad = 1;
        return 0;
    }
    return (int)v;
}

static void get_params(ps_reader *r, ps_stage_params *p)
{
    memset(p, 0, sizeof *p);
    p->kind = get_int(r);
    p->nan_policy = get_int(r);
    p->window = ps_get_i64(r);
    p->min_count = ps_get_i64(r);
    p->ddof = ps_get_f64(r);
    p->q = ps_get_f64(r);
    p->alpha = ps_get_f64(r);
    p->adjust = get_int(r);
    p->ignore_na = get_int(r);
    p->bias = get_int(r);
}

static void write_all(ps_writer *w, const void *state)
{
    const ps_stage *s = state;
    for (int k = 0; k < 8; k++) {
        if (w->buf && w->pos < w->cap)
            w->buf[w->pos] = STAGE_MAGIC[k];
        w->pos++;
    }
    ps_put_u64(w, STAGE_VERSION);
    put_params(w, &s->p);
    ps_put_i64(w, s->width);
    ps_put_i64(w, s->start);
    ps_put_i64(w, s->pos);
    if (!s->fam->save) {
        ps_put_i64(w, s->tail_len);
        for (int64_t i = 0; i < s->tail_len; i++) {
            int64_t row = (s->tail_head + i) % s->tail_cap;
            ps_put_f64s(w, s->tail + row * s->width, s->width);
        }
    } else {
        s->fam->save(s->st, w);
    }
}

int ps_stage_serialize(const ps_stage *s, uint8_t *buf, size_t cap, size_t *size)
{
    return ps_serialize_checked(write_all, s, buf, cap, size);
}

/* Replay `n` saved input rows into a fresh stage (outputs discarded). */
static int replay(ps_stage *s, const double *rows, int64_t n)
{
    /* at most as many rows as replayed: the scratch is no larger than the
       serialized rows, whatever the width */
    int64_t per = n < 256 ? n : 256, nout;
    if (n == 0)
        return PS_OK;
    double *scratch = ps_malloc_n(per * s->width, sizeof(double));
    if (!scratch)
        return PS_ERR_NOMEM;
    int st = PS_OK;
    for (int64_t i = 0; i < n && st == PS_OK; i += per) {
        int64_t m = n - i < per ? n - i : per;
        st = ps_stage_update(s, rows + i * s->width, m, scratch, &nout);
    }
    free(scratch);
    return st;
}

static int same_params(const ps_stage_params *a, const ps_stage_params *b)
{
    return a->kind == b->kind && a->nan_policy == b->nan_policy && a->window == b->window &&
           a->min_count == b->min_count && a->adjust == b->adjust &&
           a->ignore_na == b->ignore_na && a->bias == b->bias &&
           memcmp(&a->ddof, &b->ddof, sizeof a->ddof) == 0 &&
           memcmp(&a->q, &b->q, sizeof a->q) == 0 &&
           memcmp(&a->alpha, &b->alpha, sizeof a->alpha) == 0;
}

int ps_stage_deserialize(ps_stage **out, const uint8_t *buf, size_t size)
{
    if (!out || (!buf && size))
        return PS_ERR_ARG;
    *out = NULL;
    if (size < 8 + 8 + 8 || memcmp(buf, STAGE_MAGIC, 8) != 0)
        return PS_ERR_CORRUPT;
    if (!ps_checksum_ok(buf, size))
        return PS_ERR_CORRUPT;
    ps_reader r = {buf, 8, size - 8, 0};
    const uint64_t version = ps_get_u64(&r);
    if (version != 1 && version != STAGE_VERSION)
        return PS_ERR_VERSION;
    ps_stage_params p;
    get_params(&r, &p);
    int64_t width = ps_get_i64(&r), start = ps_get_i64(&r), pos = ps_get_i64(&r);
    if (r.bad || width < 1 || width > PS_MAX_WIDTH || start < 0 || pos < start ||
        check_params(&p) != PS_OK)
        return PS_ERR_CORRUPT;
    if (version == 1 && p.kind == PS_EWM_MEAN && p.adjust)
        return PS_ERR_VERSION;
    ps_stage_params c = canonical(&p);
    if (!same_params(&c, &p))
        return PS_ERR_CORRUPT;
    const ps_family *fam = family_of(p.kind);
    ps_stage *s = NULL;
    int st;
    if (!fam->save) {
        int64_t len = ps_get_i64(&r);
        int64_t room = (int64_t)((r.cap - r.pos) / 8);
        if (r.bad || len < 0 || len > p.window - 1 || len > pos - start || len > room / width ||
            len * width != room)
            return PS_ERR_CORRUPT;
        if (len < p.window - 1 && len != pos - start)
            return PS_ERR_CORRUPT;
        double *rows = ps_malloc_n(len * width + 1, sizeof(double));
        if (!rows)
            return PS_ERR_NOMEM;
        ps_get_f64s(&r, rows, len * width);
        st = make(&s, &p, width, pos - len);
        if (st == PS_OK) {
            st = replay(s, rows, len);
            s->start = start;
        }
        free(rows);
        if (st != PS_OK) {
            ps_stage_free(s);
            return st;
        }
    } else {
        /* Every family saves at least one 8-byte word per column: a width
           the payload cannot hold is refused before create() allocates and
           initialises `width` columns (a forged width would otherwise ask
           for any amount of memory). */
        if ((uint64_t)width > (r.cap - r.pos) / 8)
            return PS_ERR_CORRUPT;
        st = make(&s, &p, width, start);
        if (st != PS_OK)
            return st;
        s->pos = pos;
        st = fam->load(s->st, &r);
        if (st == PS_OK && (r.bad || r.pos != r.cap))
            st = PS_ERR_CORRUPT;
        if (st != PS_OK) {
            ps_stage_free(s);
            return st;
        }
    }
    *out = s;
    return PS_OK;
}

int ps_stage_copy(ps_stage **out, const ps_stage *s)
{
    if (!out || !s)
        return PS_ERR_ARG;
    *out = NULL;
    size_t size;
    int st = ps_stage_serialize(s, NULL, 0, &size);
    if (st != PS_OK)
        return st;
    uint8_t *buf = malloc(size);
    if (!buf)
        return PS_ERR_NOMEM;
    st = ps_stage_serialize(s, buf, size, &size);
    if (st == PS_OK)
        st = ps_stage_deserialize(out, buf, size);
    free(buf);
    return st;
}
