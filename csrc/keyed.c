/*
 * keyed.c -- key map, grouping, keyed moments and keyed stages (keyed.h).
 *
 * Every keyed state is a key map plus one unkeyed state per slot; a chunk
 * is moved with one grouping pass (no per-key pass over the chunk), then
 * one call of the unkeyed kernel per key present in the chunk on that
 * key's records gathered contiguously.  The unkeyed kernels are reused
 * unchanged, so a key's results are, bit for bit, those of the unkeyed
 * state fed the key's records alone.
 *
 * Failure atomicity: every check that can refuse a chunk (arguments, the
 * key limit, index overflow, allocation of the scratch buffers, of the
 * per-slot arrays and of the new keys' states) runs before any key's state
 * changes, and a refused chunk leaves the state exactly as it was (the key
 * map's additions are undone from a journal).  Only an allocation failure
 * inside a key's own update (a moving window growing, a moments node) can
 * leave earlier keys of the chunk updated; keyed.h says so and the Python
 * wrapper then refuses further use of the state.
 */
#include <stdlib.h>
#include <string.h>

#include "keyed.h"
#include "serial.h"

/* ======================================================================== */
/* Key map                                                                  */

typedef struct {
    int64_t key;
    int64_t slot; /* -1 = empty */
} kentry;

struct ps_keymap {
    kentry *tab;     /* open-addressing table (one cache line per probe) */
    int64_t tcap;    /* power of two */
    int64_t size;    /* live keys */
    int64_t cap;     /* slots ever handed out */
    int64_t salloc;  /* room of the per-slot arrays */
    int64_t *skey;   /* per slot: key (0 when dead) */
    uint8_t *live;   /* per slot: 1 if live */
    int64_t *freel;  /* free slots, a stack (room salloc) */
    int64_t nfree;
    /* journal of the last encode: rows that added a key, ~row if the key
       took a slot from the free list (else a fresh slot) */
    int64_t *jrow;
    int64_t jlen, jcap;
};

#define TABLE_MIN 16

static uint64_t mix64(int64_t key)
{
    uint64_t z = (uint64_t)key;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int64_t table_pos(const ps_keymap *m, int64_t key)
{
    return (int64_t)(mix64(key) & (uint64_t)(m->tcap - 1));
}

/* Position of key in the table, or the empty position where it would go. */
static int64_t probe(const ps_keymap *m, int64_t key)
{
    int64_t i = table_pos(m, key), mask = m->tcap - 1;
    while (m->tab[i].slot >= 0 && m->tab[i].key != key)
        i = (i + 1) & mask;
    return i;
}

static int table_alloc(ps_keymap *m, int64_t tcap)
{
    kentry *t = ps_malloc_n(tcap, sizeof(kentry));
    if (!t)
        return PS_ERR_NOMEM;
    for (int64_t i = 0; i < tcap; i++) {
        t[i].key = 0;
        t[i].slot = -1;
    }
    m->tab = t;
    m->tcap = tcap;
    return PS_OK;
}

/* Rehash into a table of tcap entries (unchanged on failure). */
static int table_resize(ps_keymap *m, int64_t tcap)
{
    kentry *old = m->tab;
    int64_t ocap = m->tcap;
    if (table_alloc(m, tcap) != PS_OK) {
        m->tab = old;
        m->tcap = ocap;
        return PS_ERR_NOMEM;
    }
    for (int64_t i = 0; i < ocap; i++)
        if (old[i].slot >= 0)
            m->tab[probe(m, old[i].key)] = old[i];
    free(old);
    return PS_OK;
}

/* Room for `want` slots in the per-slot arrays. */
static int slots_reserve(ps_keymap *m, int64_t want)
{
    int64_t n;
    if (want <= m->salloc)
        return PS_OK;
    n = m->salloc < 8 ? 8 : m->salloc;
    while (n < want)
        n = n > INT64_MAX / 2 ? want : 2 * n;
    int64_t *sk = ps_malloc_n(n, sizeof(int64_t));
    uint8_t *lv = ps_malloc_n(n, 1);
    int64_t *fr = ps_malloc_n(n, sizeof(int64_t));
    if (!sk || !lv || !fr) {
        free(sk);
        free(lv);
        free(fr);
        return PS_ERR_NOMEM;
    }
    if (m->cap) {
        memcpy(sk, m->skey, (size_t)m->cap * sizeof(int64_t));
        memcpy(lv, m->live, (size_t)m->cap);
    }
    if (m->nfree)
        memcpy(fr, m->freel, (size_t)m->nfree * sizeof(int64_t));
    free(m->skey);
    free(m->live);
    free(m->freel);
    m->skey = sk;
    m->live = lv;
    m->freel = fr;
    m->salloc = n;
    return PS_OK;
}

int ps_keymap_new(ps_keymap **out)
{
    ps_keymap *m;
    if (!out)
        return PS_ERR_ARG;
    *out = NULL;
    m = calloc(1, sizeof *m);
    if (!m)
        return PS_ERR_NOMEM;
    if (table_alloc(m, TABLE_MIN) != PS_OK) {
        free(m);
        return PS_ERR_NOMEM;
    }
    *out = m;
    return PS_OK;
}

void ps_keymap_free(ps_keymap *m)
{
    if (!m)
        return;
    free(m->tab);
    free(m->skey);
    free(m->live);
    free(m->freel);
    free(m->jrow);
    free(m);
}

int ps_keymap_copy(ps_keymap **out, const ps_keymap *m)
{
    ps_keymap *c;
    if (!out || !m)
        return PS_ERR_ARG;
    *out = NULL;
    c = calloc(1, sizeof *c);
    if (!c)
        return PS_ERR_NOMEM;
    if (table_alloc(c, m->tcap) != PS_OK || slots_reserve(c, m->cap) != PS_OK) {
        ps_keymap_free(c);
        return PS_ERR_NOMEM;
    }
    memcpy(c->tab, m->tab, (size_t)m->tcap * sizeof(kentry));
    if (m->cap) {
        memcpy(c->skey, m->skey, (size_t)m->cap * sizeof(int64_t));
        memcpy(c->live, m->live, (size_t)m->cap);
    }
    if (m->nfree)
        memcpy(c->freel, m->freel, (size_t)m->nfree * sizeof(int64_t));
    c->size = m->size;
    c->cap = m->cap;
    c->nfree = m->nfree;
    *out = c;
    return PS_OK;
}

int64_t ps_keymap_size(const ps_keymap *m) { return m ? m->size : -1; }
int64_t ps_keymap_capacity(const ps_keymap *m) { return m ? m->cap : -1; }

int64_t ps_keymap_find(const ps_keymap *m, int64_t key)
{
    if (!m)
        return -1;
    return m->tab[probe(m, key)].slot;
}

/* Add an absent key; *slot = its slot, *fresh = 1 if the slot is new. */
static int keymap_add(ps_keymap *m, int64_t key, int64_t *slot, int *fresh)
{
    int64_t s, i;
    if ((m->size + 1) > m->tcap / 2) {
        if (m->tcap > INT64_MAX / 4 || table_resize(m, 2 * m->tcap) != PS_OK)
            return PS_ERR_NOMEM;
    }
    if (m->nfree > 0) {
        s = m->freel[--m->nfree];
        *fresh = 0;
    } else {
        if (m->cap == INT64_MAX || slots_reserve(m, m->cap + 1) != PS_OK)
            return PS_ERR_NOMEM;
        s = m->cap++;
        *fresh = 1;
    }
    i = probe(m, key);
    m->tab[i].key = key;
    m->tab[i].slot = s;
    m->skey[s] = key;
    m->live[s] = 1;
    m->size++;
    *slot = s;
    return PS_OK;
}

/* Take key out of the table (backward-shift deletion); returns its slot
   or -1.  The slot's bookkeeping is the caller's. */
static int64_t table_remove(ps_keymap *m, int64_t key)
{
    int64_t mask = m->tcap - 1, i = probe(m, key), j, s = m->tab[i].slot;
    if (s < 0)
        return -1;
    m->tab[i].slot = -1;
    j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (m->tab[j].slot < 0)
            break;
        int64_t home = table_pos(m, m->tab[j].key);
        /* entry j may fill the hole i if i lies on its probe path [home, j] */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->tab[i] = m->tab[j];
            m->tab[j].slot = -1;
            i = j;
        }
    }
    m->live[s] = 0;
    m->skey[s] = 0;
    m->size--;
    return s;
}

int ps_keymap_remove(ps_keymap *m, int64_t key)
{
    int64_t s;
    if (!m)
        return PS_ERR_ARG;
    s = table_remove(m, key);
    if (s < 0)
        return PS_ERR_ARG;
    m->freel[m->nfree++] = s; /* room: nfree < cap <= salloc */
    return PS_OK;
}

/* Undo the additions journaled by the last encode, newest first: a fresh
   slot is handed back (cap - 1), a reused one goes back on the free list,
   so the slots, the free list and the table's entries are as before (the
   table may stay larger). */
static void keymap_rollback(ps_keymap *m, const int64_t *keys)
{
    while (m->jlen > 0) {
        int64_t r = m->jrow[--m->jlen];
        int64_t s = table_remove(m, keys[r < 0 ? ~r : r]);
        if (r < 0)
            m->freel[m->nfree++] = s;
        else
            m->cap--;
    }
}

static int journal(ps_keymap *m, int64_t v)
{
    if (m->jlen == m->jcap) {
        int64_t n = m->jcap < 16 ? 16 : 2 * m->jcap;
        int64_t *j = n > INT64_MAX / 2 ? NULL : ps_malloc_n(n, sizeof(int64_t));
        if (!j)
            return PS_ERR_NOMEM;
        if (m->jlen)
            memcpy(j, m->jrow, (size_t)m->jlen * sizeof(int64_t));
        free(m->jrow);
        m->jrow = j;
        m->jcap = n;
    }
    m->jrow[m->jlen++] = v;
    return PS_OK;
}

#define PREFETCH_TABLE 8192
#define PREFETCH_AHEAD 8

/* encode, keeping the journal of additions (for keymap_rollback). */
static int keymap_encode_j(ps_keymap *m, const int64_t *keys, int64_t n, int64_t max_keys,
                           int64_t *ids, int64_t *bad_row)
{
    m->jlen = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t key = keys[i], s;
        if (i > 0 && key == keys[i - 1]) { /* runs of one key: no lookup */
            ids[i] = ids[i - 1];
            continue;
        }
#ifdef __GNUC__
        /* a table beyond the caches: fetch the entry of a row ahead */
        if (m->tcap >= PREFETCH_TABLE && i + PREFETCH_AHEAD < n)
            __builtin_prefetch(&m->tab[table_pos(m, keys[i + PREFETCH_AHEAD])]);
#endif
        s = m->tab[probe(m, key)].slot;
        if (s < 0) {
            int fresh, st;
            if (max_keys >= 0 && m->size >= max_keys) {
                if (bad_row)
                    *bad_row = i;
                keymap_rollback(m, keys);
                return PS_ERR_KEYS;
            }
            st = journal(m, 0); /* room first: the addition cannot then be lost */
            if (st != PS_OK) {
                keymap_rollback(m, keys);
                return st;
            }
            st = keymap_add(m, key, &s, &fresh);
            if (st != PS_OK) {
                m->jlen--; /* the placeholder of this failed addition */
                keymap_rollback(m, keys);
                return st;
            }
            m->jrow[m->jlen - 1] = fresh ? i : ~i;
        }
        ids[i] = s;
    }
    return PS_OK;
}

int ps_keymap_encode(ps_keymap *m, const int64_t *keys, int64_t n, int64_t max_keys,
                     int64_t *ids, int64_t *bad_row)
{
    int st;
    if (!m || n < 0 || (n > 0 && (!keys || !ids)))
        return PS_ERR_ARG;
    st = keymap_encode_j(m, keys, n, max_keys, ids, bad_row);
    m->jlen = 0;
    return st;
}

int ps_keymap_keys(const ps_keymap *m, int64_t *slot_keys, uint8_t *live)
{
    if (!m)
        return PS_ERR_ARG;
    if (m->cap > 0 && slot_keys)
        memcpy(slot_keys, m->skey, (size_t)m->cap * sizeof(int64_t));
    if (m->cap > 0 && live)
        memcpy(live, m->live, (size_t)m->cap);
    return PS_OK;
}

/* Serialized layout of a map: cap, per slot (live, key), nfree, free slots. */
static void keymap_write(ps_writer *w, const ps_keymap *m)
{
    ps_put_i64(w, m->cap);
    for (int64_t s = 0; s < m->cap; s++) {
        ps_put_u64(w, m->live[s]);
        ps_put_i64(w, m->skey[s]);
    }
    ps_put_i64(w, m->nfree);
    for (int64_t k = 0; k < m->nfree; k++)
        ps_put_i64(w, m->freel[k]);
}

/* Rebuild a map (fresh, empty) from keymap_write's bytes; validates: dead
   slots have key 0 and are exactly the free list (each once), live keys
   are distinct, at most max_keys of them (max_keys >= 0). */
static int keymap_read(ps_reader *r, ps_keymap *m, int64_t max_keys)
{
    int64_t cap = ps_get_i64(r), nfree, tcap = TABLE_MIN;
    if (r->bad || cap < 0 || (uint64_t)cap > (r->cap - r->pos) / 16)
        return PS_ERR_CORRUPT;
    if (slots_reserve(m, cap) != PS_OK)
        return PS_ERR_NOMEM;
    while (tcap / 2 < cap)
        tcap *= 2;
    if (tcap != m->tcap && table_resize(m, tcap) != PS_OK)
        return PS_ERR_NOMEM;
    for (int64_t s = 0; s < cap; s++) {
        uint64_t lv = ps_get_u64(r);
        int64_t key = ps_get_i64(r);
        if (r->bad || lv > 1 || (!lv && key != 0))
            return PS_ERR_CORRUPT;
        m->live[s] = (uint8_t)lv;
        m->skey[s] = key;
        if (lv) {
            int64_t i = probe(m, key);
            if (m->tab[i].slot >= 0) /* a key twice */
                return PS_ERR_CORRUPT;
            m->tab[i].key = key;
            m->tab[i].slot = s;
            m->size++;
        }
    }
    m->cap = cap;
    if (max_keys >= 0 && m->size > max_keys)
        return PS_ERR_CORRUPT;
    nfree = ps_get_i64(r);
    if (r->bad || nfree != cap - m->size)
        return PS_ERR_CORRUPT;
    for (int64_t k = 0; k < nfree; k++) {
        int64_t s = ps_get_i64(r);
        if (r->bad || s < 0 || s >= cap || m->live[s] != 0)
            return PS_ERR_CORRUPT;
        m->live[s] = 2; /* seen on the free list */
        m->freel[k] = s;
    }
    for (int64_t k = 0; k < nfree; k++)
        m->live[m->freel[k]] = 0;
    m->nfree = nfree;
    return PS_OK;
}

/* ======================================================================== */
/* Grouping                                                                 */

int ps_group_rows(const int64_t *ids, int64_t n, int64_t nslots, int64_t *scratch,
                  int64_t *order, int64_t *slots, int64_t *offsets, int64_t *nseg)
{
    int64_t ns = 0;
    if (!nseg || n < 0 || nslots < 0 || !offsets ||
        (n > 0 && (!ids || !scratch || !order || !slots)))
        return PS_ERR_ARG;
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= nslots)
            return PS_ERR_ARG;
    /* counts, and the slots in order of first appearance */
    for (int64_t i = 0; i < n; i++) {
        int64_t s = ids[i];
        if (scratch[s]++ == 0)
            slots[ns++] = s;
    }
    offsets[0] = 0;
    for (int64_t g = 0; g < ns; g++) {
        int64_t s = slots[g];
        offsets[g + 1] = offsets[g] + scratch[s];
        scratch[s] = offsets[g]; /* next write position of slot s */
    }
    for (int64_t i = 0; i < n; i++)
        order[scratch[ids[i]]++] = i;
    for (int64_t g = 0; g < ns; g++)
        scratch[slots[g]] = 0;
    *nseg = ns;
    return PS_OK;
}

/* ======================================================================== */
/* Scratch shared by the keyed states                                       */

typedef struct {
    int64_t *ids, *order, *seg, *off, *made; /* n, n, n, n + 1, n entries */
    int64_t rows;                            /* room of those */
    int64_t *cnt;                            /* per slot, zero between calls */
    int64_t cnt_room;
    unsigned char *buf; /* gathered records */
    size_t buf_room;
    unsigned char *buf2; /* stage outputs */
    size_t buf2_room;
} scratch;

static void scratch_free(scratch *s)
{
    free(s->ids);
    free(s->order);
    free(s->seg);
    free(s->off);
    free(s->made);
    free(s->cnt);
    free(s->buf);
    free(s->buf2);
    memset(s, 0, sizeof *s);
}

static int grow_bytes(unsigned char **p, size_t *room, size_t want)
{
    unsigned char *q;
    if (want <= *room)
        return PS_OK;
    q = malloc(want);
    if (!q)
        return PS_ERR_NOMEM;
    free(*p);
    *p = q;
    *room = want;
    return PS_OK;
}

/* Room for n rows (index arrays), nslots counters, `bytes` of gather
   buffer and `bytes2` of output buffer.  Unchanged contents not kept. */
static int scratch_reserve(scratch *s, int64_t n, int64_t nslots, size_t bytes, size_t bytes2)
{
    if (n > s->rows) {
        int64_t *a = ps_malloc_n(n, 8), *b = ps_malloc_n(n, 8), *c = ps_malloc_n(n, 8);
        int64_t *d = n < INT64_MAX ? ps_malloc_n(n + 1, 8) : NULL, *e = ps_malloc_n(n, 8);
        if (!a || !b || !c || !d || !e) {
            free(a);
            free(b);
            free(c);
            free(d);
            free(e);
            return PS_ERR_NOMEM;
        }
        free(s->ids);
        free(s->order);
        free(s->seg);
        free(s->off);
        free(s->made);
        s->ids = a;
        s->order = b;
        s->seg = c;
        s->off = d;
        s->made = e;
        s->rows = n;
    }
    if (nslots > s->cnt_room) {
        int64_t room = nslots < 64 ? 64 : nslots;
        if (room < INT64_MAX / 2 && room < 2 * s->cnt_room)
            room = 2 * s->cnt_room;
        int64_t *c = (uint64_t)room > SIZE_MAX / 8 ? NULL : calloc((size_t)room, 8);
        if (!c)
            return PS_ERR_NOMEM;
        free(s->cnt);
        s->cnt = c;
        s->cnt_room = room;
    }
    if (grow_bytes(&s->buf, &s->buf_room, bytes) != PS_OK ||
        grow_bytes(&s->buf2, &s->buf2_room, bytes2) != PS_OK)
        return PS_ERR_NOMEM;
    return PS_OK;
}

/* Per-slot pointer array of room `*room`, grown to at least `want`
   (new entries NULL). */
static int grow_ptrs(void ***p, int64_t *room, int64_t want)
{
    int64_t n;
    void **q;
    if (want <= *room)
        return PS_OK;
    n = *room < 8 ? 8 : *room;
    while (n < want)
        n = n > INT64_MAX / 2 ? want : 2 * n;
    q = ps_malloc_n(n, sizeof(void *));
    if (!q)
        return PS_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++)
        q[i] = i < *room ? (*p)[i] : NULL;
    free(*p);
    *p = q;
    *room = n;
    return PS_OK;
}

static int grow_i64(int64_t **p, int64_t *room, int64_t want)
{
    int64_t n;
    int64_t *q;
    if (want <= *room)
        return PS_OK;
    n = *room < 8 ? 8 : *room;
    while (n < want)
        n = n > INT64_MAX / 2 ? want : 2 * n;
    q = ps_malloc_n(n, sizeof(int64_t));
    if (!q)
        return PS_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++)
        q[i] = i < *room ? (*p)[i] : 0;
    free(*p);
    *p = q;
    *room = n;
    return PS_OK;
}

/* ======================================================================== */
/* Keyed moments                                                            */

#define KM_VERSION 1u
#define KS_VERSION 1u
/* ps_moments refuses indices this close to INT64_MAX (ps_moments_update). */
#define MOMENTS_INDEX_MAX (INT64_MAX - 2 * 1024)
static const uint8_t KM_MAGIC[8] = {'P', 'S', 'K', 'E', 'Y', 'M', 'O', 'M'};
static const uint8_t KS_MAGIC[8] = {'P', 'S', 'K', 'E', 'Y', 'S', 'T', 'G'};

struct ps_keyed_moments {
    int dtype, ndim;
    int64_t shape[PS_MAX_NDIM];
    int64_t d;
    size_t isz;
    int64_t max_keys;
    ps_keymap *map;
    ps_moments **st; /* per slot; NULL until the key's first record */
    int64_t *start;  /* per slot: the key's start index */
    int64_t room;    /* of st (and start: same room) */
    int64_t nrec;    /* slots whose st is not NULL */
    int64_t bound;   /* >= every key's stop: while bound + n fits, no key can
                        overflow and the per-key check is skipped */
    scratch sc;
};

static size_t item_size(int dt)
{
    switch (dt) {
    case PS_BOOL: case PS_INT8: case PS_UINT8: return 1;
    case PS_INT16: case PS_UINT16: return 2;
    case PS_INT32: case PS_UINT32: case PS_FLOAT32: return 4;
    default: return 8;
    }
}

static int km_set_type(ps_keyed_moments *k, int dtype, int ndim, const int64_t *shape)
{
    int64_t d = 1;
    if (dtype < PS_BOOL || dtype > PS_FLOAT64)
        return PS_ERR_DTYPE;
    if (ndim < 0 || ndim > PS_MAX_NDIM || (ndim > 0 && !shape))
        return PS_ERR_ARG;
    for (int a = 0; a < ndim; a++) {
        if (shape[a] < 1 || shape[a] > PS_MAX_WIDTH || d > PS_MAX_WIDTH / shape[a])
            return PS_ERR_ARG;
        d *= shape[a];
    }
    k->dtype = dtype;
    k->ndim = ndim;
    for (int a = 0; a < ndim; a++)
        k->shape[a] = shape[a];
    k->d = d;
    k->isz = item_size(dtype);
    return PS_OK;
}

int ps_keyed_moments_new(ps_keyed_moments **out, int dtype, int ndim, const int64_t *shape,
                         int64_t max_keys)
{
    ps_keyed_moments *k;
    int st;
    if (!out)
        return PS_ERR_ARG;
    *out = NULL;
    k = calloc(1, sizeof *k);
    if (!k)
        return PS_ERR_NOMEM;
    k->dtype = PS_DTYPE_UNSET;
    k->d = 1;
    k->max_keys = max_keys < 0 ? -1 : max_keys;
    if (dtype != PS_DTYPE_UNSET && (st = km_set_type(k, dtype, ndim, shape)) != PS_OK) {
        free(k);
        return st;
    }
    if ((st = ps_keymap_new(&k->map)) != PS_OK) {
        free(k);
        return st;
    }
    *out = k;
    return PS_OK;
}

int ps_keyed_moments_set_type(ps_keyed_moments *k, int dtype, int ndim, const int64_t *shape)
{
    if (!k)
        return PS_ERR_ARG;
    if (k->dtype != PS_DTYPE_UNSET)
        return PS_ERR_DTYPE;
    return km_set_type(k, dtype, ndim, shape);
}

void ps_keyed_moments_free(ps_keyed_moments *k)
{
    if (!k)
        return;
    for (int64_t s = 0; s < k->room; s++)
        ps_moments_free(k->st[s]);
    free(k->st);
    free(k->start);
    ps_keymap_free(k->map);
    scratch_free(&k->sc);
    free(k);
}

int ps_keyed_moments_dtype(const ps_keyed_moments *k) { return k ? k->dtype : PS_DTYPE_UNSET; }
int ps_keyed_moments_ndim(const ps_keyed_moments *k) { return k ? k->ndim : -1; }
int64_t ps_keyed_moments_shape(const ps_keyed_moments *k, int axis)
{
    return (k && axis >= 0 && axis < k->ndim) ? k->shape[axis] : -1;
}
int64_t ps_keyed_moments_width(const ps_keyed_moments *k) { return k ? k->d : -1; }
int64_t ps_keyed_moments_max_keys(const ps_keyed_moments *k) { return k ? k->max_keys : -1; }
int64_t ps_keyed_moments_nkeys(const ps_keyed_moments *k) { return k ? k->nrec : -1; }

/* Per-slot arrays for every slot of the map; new entries NULL / 0. */
static int km_room(ps_keyed_moments *k)
{
    int64_t want = ps_keymap_capacity(k->map), r = k->room, r2 = k->room;
    if (grow_ptrs((void ***)&k->st, &r, want) != PS_OK)
        return PS_ERR_NOMEM;
    if (grow_i64(&k->start, &r2, r) != PS_OK) {
        /* st grew alone: keep it (its new entries are NULL), room stays */
        return PS_ERR_NOMEM;
    }
    k->room = r;
    return PS_OK;
}

static int64_t km_stop(const ps_keyed_moments *k, int64_t s)
{
    return k->st[s] ? ps_moments_stop(k->st[s]) : k->start[s];
}

int ps_keyed_moments_copy(ps_keyed_moments **out, const ps_keyed_moments *k)
{
    ps_keyed_moments *c;
    int st;
    if (!out || !k)
        return PS_ERR_ARG;
    *out = NULL;
    c = calloc(1, sizeof *c);
    if (!c)
        return PS_ERR_NOMEM;
    c->dtype = k->dtype;
    c->ndim = k->ndim;
    memcpy(c->shape, k->shape, sizeof c->shape);
    c->d = k->d;
    c->isz = k->isz;
    c->max_keys = k->max_keys;
    c->bound = k->bound;
    st = ps_keymap_copy(&c->map, k->map);
    if (st == PS_OK)
        st = km_room(c);
    for (int64_t s = 0; st == PS_OK && s < c->map->cap; s++) {
        c->start[s] = k->start[s];
        if (k->st[s]) {
            st = ps_moments_copy(&c->st[s], k->st[s]);
            c->nrec++;
        }
    }
    if (st != PS_OK) {
        ps_keyed_moments_free(c);
        return st;
    }
    *out = c;
    return PS_OK;
}

int ps_keyed_moments_preset(ps_keyed_moments *k, const int64_t *keys, const int64_t *starts,
                            int64_t n, int64_t *bad_row)
{
    int st;
    int64_t *ids;
    if (!k || n < 0 || (n > 0 && (!keys || !starts)))
        return PS_ERR_ARG;
    for (int64_t i = 0; i < n; i++) {
        int64_t s = ps_keymap_find(k->map, keys[i]);
        if (starts[i] < 0 || starts[i] > MOMENTS_INDEX_MAX || (s >= 0 && k->st[s])) {
            if (bad_row)
                *bad_row = i;
            return PS_ERR_ARG;
        }
    }
    if ((st = scratch_reserve(&k->sc, n, 0, 0, 0)) != PS_OK)
        return st;
    ids = k->sc.ids;
    st = keymap_encode_j(k->map, keys, n, k->max_keys, ids, bad_row);
    if (st != PS_OK)
        return st;
    if ((st = km_room(k)) != PS_OK) {
        keymap_rollback(k->map, keys);
        return st;
    }
    for (int64_t i = 0; i < n; i++) {
        k->start[ids[i]] = starts[i];
        if (starts[i] > k->bound)
            k->bound = starts[i];
    }
    k->map->jlen = 0;
    return PS_OK;
}

/* Copy the records order[0..cnt) (of d values, strides s0 / s1) into dst,
   contiguous. */
static void gather_records(unsigned char *dst, const char *p, const int64_t *order, int64_t cnt,
                           ptrdiff_t s0, ptrdiff_t s1, int64_t d, size_t isz)
{
    if (d == 1 && isz == 8) {
        for (int64_t j = 0; j < cnt; j++)
            memcpy(dst + 8 * j, p + order[j] * s0, 8);
        return;
    }
    if (d == 1 && isz == 4) {
        for (int64_t j = 0; j < cnt; j++)
            memcpy(dst + 4 * j, p + order[j] * s0, 4);
        return;
    }
    for (int64_t j = 0; j < cnt; j++) {
        const char *row = p + order[j] * s0;
        if (s1 == (ptrdiff_t)isz) {
            memcpy(dst, row, (size_t)d * isz);
            dst += (size_t)d * isz;
        } else {
            for (int64_t c = 0; c < d; c++) {
                memcpy(dst, row + c * s1, isz);
                dst += isz;
            }
        }
    }
}

/* Group a chunk's keys into k->sc (ids, order, seg, off); the map gets the
   new keys (journaled).  *nseg segments. */
static int group_chunk(ps_keymap *map, scratch *sc, const int64_t *keys, int64_t n,
                       int64_t max_keys, int64_t *nseg, int64_t *bad_row)
{
    int st = keymap_encode_j(map, keys, n, max_keys, sc->ids, bad_row);
    if (st != PS_OK)
        return st;
    st = scratch_reserve(sc, n, ps_keymap_capacity(map), 0, 0);
    if (st == PS_OK)
        st = ps_group_rows(sc->ids, n, ps_keymap_capacity(map), sc->cnt, sc->order, sc->seg,
                           sc->off, nseg);
    if (st != PS_OK)
        keymap_rollback(map, keys);
    return st;
}

int ps_keyed_moments_update(ps_keyed_moments *k, const void *data, int64_t n,
                            ptrdiff_t record_stride, ptrdiff_t value_stride,
                            const int64_t *keys, int64_t *bad_row)
{
    int st;
    int64_t nseg, nmade = 0, largest = 0;
    scratch *sc;
    if (!k || n < 0 || (n > 0 && (!data || !keys)))
        return PS_ERR_ARG;
    if (k->dtype == PS_DTYPE_UNSET)
        return PS_ERR_UNSET;
    if (n == 0)
        return PS_OK;
    sc = &k->sc;
    if ((st = scratch_reserve(sc, n, 0, 0, 0)) != PS_OK)
        return st;
    if ((st = group_chunk(k->map, sc, keys, n, k->max_keys, &nseg, bad_row)) != PS_OK)
        return st;
    if ((st = km_room(k)) != PS_OK)
        goto undo;
    for (int64_t g = 0; g < nseg; g++) {
        int64_t s = sc->seg[g], cnt = sc->off[g + 1] - sc->off[g];
        if (k->bound > MOMENTS_INDEX_MAX - n && km_stop(k, s) > MOMENTS_INDEX_MAX - cnt) {
            if (bad_row)
                *bad_row = sc->order[sc->off[g]];
            st = PS_ERR_OVERFLOW;
            goto undo;
        }
        if (cnt > largest)
            largest = cnt;
    }
    if (nseg > 1) {
        size_t rec = (size_t)k->d * k->isz;
        if ((uint64_t)largest > SIZE_MAX / rec) {
            st = PS_ERR_NOMEM;
            goto undo;
        }
        if ((st = scratch_reserve(sc, n, 0, (size_t)largest * rec, 0)) != PS_OK)
            goto undo;
    }
    for (int64_t g = 0; g < nseg; g++) {
        int64_t s = sc->seg[g];
        if (!k->st[s]) {
            st = ps_moments_new(&k->st[s], k->dtype, k->ndim, k->shape, k->start[s]);
            if (st != PS_OK)
                goto undo;
            sc->made[nmade++] = s;
        }
    }
    /* Nothing below can fail but a key's own allocation (NOMEM). */
    k->nrec += nmade;
    k->map->jlen = 0;
    k->bound = k->bound > INT64_MAX - n ? INT64_MAX : k->bound + n;
    if (nseg == 1)
        return ps_moments_update(k->st[sc->seg[0]], data, n, record_stride, value_stride);
    for (int64_t g = 0; g < nseg; g++) {
        int64_t s = sc->seg[g], a = sc->off[g], cnt = sc->off[g + 1] - a;
#ifdef __GNUC__
        if (g + 4 < nseg) /* many small keys: fetch a key's state ahead */
            __builtin_prefetch(k->st[sc->seg[g + 4]]);
#endif
        gather_records(sc->buf, (const char *)data, sc->order + a, cnt, record_stride,
                       value_stride, k->d, k->isz);
        st = ps_moments_update(k->st[s], sc->buf, cnt, (ptrdiff_t)((size_t)k->d * k->isz),
                               (ptrdiff_t)k->isz);
        if (st != PS_OK)
            return st;
    }
    return PS_OK;
undo:
    while (nmade > 0) {
        int64_t s = sc->made[--nmade];
        ps_moments_free(k->st[s]);
        k->st[s] = NULL;
    }
    keymap_rollback(k->map, keys);
    return st;
}

int ps_keyed_moments_merge(ps_keyed_moments *left, const ps_keyed_moments *right,
                           int64_t *bad_key)
{
    const ps_keymap *rm;
    int64_t added = 0, nkeys = 0;
    int st;
    if (!left || !right || left == right)
        return PS_ERR_ARG;
    rm = right->map;
    if (right->dtype != PS_DTYPE_UNSET && left->dtype != PS_DTYPE_UNSET) {
        if (right->dtype != left->dtype || right->ndim != left->ndim)
            return PS_ERR_MISMATCH;
        for (int a = 0; a < left->ndim; a++)
            if (left->shape[a] != right->shape[a])
                return PS_ERR_MISMATCH;
    }
    /* 1. check every key, change nothing */
    for (int64_t s = 0; s < rm->cap; s++) {
        int64_t ls, lstop;
        if (!rm->live[s])
            continue;
        ls = ps_keymap_find(left->map, rm->skey[s]);
        lstop = ls >= 0 ? km_stop(left, ls) : 0;
        if (lstop != right->start[s]) {
            if (bad_key)
                *bad_key = rm->skey[s];
            return PS_ERR_NOT_ADJACENT;
        }
        if (ls < 0) {
            if (left->max_keys >= 0 && left->map->size + added >= left->max_keys) {
                if (bad_key)
                    *bad_key = rm->skey[s];
                return PS_ERR_KEYS;
            }
            added++;
        }
        nkeys++;
    }
    /* 2. right's keys into left's map, in right's slot order */
    if ((st = scratch_reserve(&left->sc, nkeys, 0, 0, 0)) != PS_OK)
        return st;
    {
        int64_t j = 0;
        for (int64_t s = 0; s < rm->cap; s++)
            if (rm->live[s])
                left->sc.order[j++] = rm->skey[s];
    }
    st = keymap_encode_j(left->map, left->sc.order, nkeys, -1, left->sc.ids, NULL);
    if (st != PS_OK)
        return st;
    if ((st = km_room(left)) != PS_OK) {
        keymap_rollback(left->map, left->sc.order);
        return st;
    }
    left->map->jlen = 0;
    if (right->bound > left->bound) /* a key's stop after the merge is one side's */
        left->bound = right->bound;
    if (left->dtype == PS_DTYPE_UNSET && right->dtype != PS_DTYPE_UNSET)
        (void)km_set_type(left, right->dtype, right->ndim, right->shape);
    /* 3. per key: adopt right's start, or merge right's records */
    {
        int64_t j = 0;
        for (int64_t s = 0; s < rm->cap; s++) {
            int64_t ls;
            if (!rm->live[s])
                continue;
            ls = left->sc.ids[j++];
            if (!left->st[ls] && !right->st[s]) {
                left->start[ls] = right->start[s];
            } else if (!left->st[ls]) {
                st = ps_moments_copy(&left->st[ls], right->st[s]);
                if (st != PS_OK)
                    return st;
                left->start[ls] = right->start[s];
                left->nrec++;
            } else if (right->st[s]) {
                st = ps_moments_merge(left->st[ls], right->st[s]);
                if (st != PS_OK)
                    return st;
            }
        }
    }
    return PS_OK;
}

int ps_keyed_moments_keys(const ps_keyed_moments *k, int64_t *keys)
{
    int64_t j = 0;
    if (!k || (k->nrec > 0 && !keys))
        return PS_ERR_ARG;
    for (int64_t s = 0; s < k->map->cap; s++)
        if (k->map->live[s] && k->st[s])
            keys[j++] = k->map->skey[s];
    return PS_OK;
}

int ps_keyed_moments_bounds(const ps_keyed_moments *k, int64_t *starts, int64_t *stops)
{
    int64_t j = 0;
    if (!k)
        return PS_ERR_ARG;
    for (int64_t s = 0; s < k->map->cap; s++)
        if (k->map->live[s] && k->st[s]) {
            if (starts)
                starts[j] = ps_moments_start(k->st[s]);
            if (stops)
                stops[j] = ps_moments_stop(k->st[s]);
            j++;
        }
    return PS_OK;
}

int ps_keyed_moments_first_nan(const ps_keyed_moments *k, int64_t *first_nan)
{
    int64_t j = 0;
    if (!k || (k->nrec > 0 && !first_nan))
        return PS_ERR_ARG;
    for (int64_t s = 0; s < k->map->cap; s++)
        if (k->map->live[s] && k->st[s])
            first_nan[j++] = ps_moments_first_nan(k->st[s]);
    return PS_OK;
}

int ps_keyed_moments_result(const ps_keyed_moments *k, ps_moments_out *out)
{
    int64_t d, j = 0;
    int overflow = 0;
    unsigned char *tmp;
    ps_moments_out one;
    if (!k || !out)
        return PS_ERR_ARG;
    if (k->nrec == 0)
        return PS_OK;
    d = k->d;
    tmp = ps_malloc_n(d, 11 * 8);
    if (!tmp)
        return PS_ERR_NOMEM;
    one.count = (int64_t *)(void *)tmp;
    one.nan_count = one.count + d;
    one.sum = (double *)(void *)(one.nan_count + d);
    one.mean = one.sum + d;
    one.m2 = one.mean + d;
    one.min = one.m2 + d;
    one.max = one.min + d;
    one.isum_hi = (int64_t *)(void *)(one.max + d);
    one.isum_lo = (uint64_t *)(void *)(one.isum_hi + d);
    one.imin = (int64_t *)(void *)(one.isum_lo + d);
    one.imax = one.imin + d;
    for (int64_t s = 0; s < k->map->cap; s++) {
        int st;
        size_t at, bytes = (size_t)d * 8;
        if (!k->map->live[s] || !k->st[s])
            continue;
        st = ps_moments_result(k->st[s], &one);
        if (st == PS_ERR_OVERFLOW)
            overflow = 1;
        else if (st != PS_OK) {
            free(tmp);
            return st;
        }
        at = (size_t)(j * d);
        if (out->count) memcpy(out->count + at, one.count, bytes);
        if (out->nan_count) memcpy(out->nan_count + at, one.nan_count, bytes);
        if (out->sum) memcpy(out->sum + at, one.sum, bytes);
        if (out->mean) memcpy(out->mean + at, one.mean, bytes);
        if (out->m2) memcpy(out->m2 + at, one.m2, bytes);
        if (out->min) memcpy(out->min + at, one.min, bytes);
        if (out->max) memcpy(out->max + at, one.max, bytes);
        if (out->isum_hi) memcpy(out->isum_hi + at, one.isum_hi, bytes);
        if (out->isum_lo) memcpy(out->isum_lo + at, one.isum_lo, bytes);
        if (out->imin) memcpy(out->imin + at, one.imin, bytes);
        if (out->imax) memcpy(out->imax + at, one.imax, bytes);
        j++;
    }
    free(tmp);
    return overflow ? PS_ERR_OVERFLOW : PS_OK;
}

int64_t ps_keyed_moments_nbytes(const ps_keyed_moments *k)
{
    int64_t b;
    if (!k)
        return -1;
    b = (int64_t)sizeof *k + k->room * 16 + k->map->tcap * 16 + k->map->salloc * 17;
    for (int64_t s = 0; s < k->map->cap; s++)
        if (k->st[s]) {
            size_t sz = 0;
            if (ps_moments_serialize(k->st[s], NULL, 0, &sz) == PS_OK)
                b += (int64_t)sz;
        }
    return b;
}

/* A nested state's bytes: u64 length, then the bytes (0: none). */
typedef int (*ser_fn)(const void *st, uint8_t *buf, size_t cap, size_t *size);

static void put_nested(ps_writer *w, ser_fn ser, const void *st)
{
    size_t sz = 0;
    if (!st) {
        ps_put_u64(w, 0);
        return;
    }
    ser(st, NULL, 0, &sz);
    ps_put_u64(w, (uint64_t)sz);
    if (w->buf && w->pos + sz <= w->cap)
        ser(st, w->buf + w->pos, sz, &sz);
    w->pos += sz;
}

static int ser_moments(const void *st, uint8_t *buf, size_t cap, size_t *size)
{
    return ps_moments_serialize((const ps_moments *)st, buf, cap, size);
}

static int ser_stage(const void *st, uint8_t *buf, size_t cap, size_t *size)
{
    return ps_stage_serialize((const ps_stage *)st, buf, cap, size);
}

static void put_magic(ps_writer *w, const uint8_t *magic)
{
    for (int i = 0; i < 8; i++) {
        if (w->buf && w->pos < w->cap)
            w->buf[w->pos] = magic[i];
        w->pos++;
    }
}

static void km_write(ps_writer *w, const void *state)
{
    const ps_keyed_moments *k = state;
    put_magic(w, KM_MAGIC);
    ps_put_u64(w, KM_VERSION);
    ps_put_i64(w, k->dtype);
    ps_put_i64(w, k->ndim);
    for (int a = 0; a < k->ndim; a++)
        ps_put_i64(w, k->shape[a]);
    ps_put_i64(w, k->max_keys);
    keymap_write(w, k->map);
    for (int64_t s = 0; s < k->map->cap; s++)
        if (k->map->live[s]) {
            ps_put_i64(w, k->start[s]);
            put_nested(w, ser_moments, k->st[s]);
        }
}

int ps_keyed_moments_serialize(const ps_keyed_moments *k, uint8_t *buf, size_t cap,
                               size_t *size)
{
    return ps_serialize_checked(km_write, k, buf, cap, size);
}

/* Open an envelope: magic, checksum, version.  r reads the body. */
static int open_envelope(ps_reader *r, const uint8_t *buf, size_t size, const uint8_t *magic,
                         uint64_t version)
{
    if (size < 8 + 8 + 8 || memcmp(buf, magic, 8) != 0)
        return PS_ERR_CORRUPT;
    r->in = buf;
    r->pos = 8;
    r->cap = size - 8;
    r->bad = 0;
    if (!ps_checksum_ok(buf, size)) {
        return ps_get_u64(r) != version ? PS_ERR_VERSION : PS_ERR_CORRUPT;
    }
    if (ps_get_u64(r) != version)
        return PS_ERR_VERSION;
    return PS_OK;
}

/* Read a nested state's length and bytes: *p, *len (len 0: none). */
static int get_nested(ps_reader *r, const uint8_t **p, size_t *len)
{
    uint64_t n = ps_get_u64(r);
    if (r->bad || n > r->cap - r->pos)
        return PS_ERR_CORRUPT;
    *p = r->in + r->pos;
    *len = (size_t)n;
    r->pos += (size_t)n;
    return PS_OK;
}

int ps_keyed_moments_deserialize(ps_keyed_moments **out, const uint8_t *buf, size_t size)
{
    ps_reader r;
    ps_keyed_moments *k = NULL;
    int64_t dtype, ndim, shape[PS_MAX_NDIM], max_keys;
    int st;
    if (!out || (!buf && size))
        return PS_ERR_ARG;
    *out = NULL;
    if ((st = open_envelope(&r, buf, size, KM_MAGIC, KM_VERSION)) != PS_OK)
        return st;
    dtype = ps_get_i64(&r);
    ndim = ps_get_i64(&r);
    if (r.bad || ndim < 0 || ndim > PS_MAX_NDIM || dtype < PS_DTYPE_UNSET || dtype > PS_FLOAT64 ||
        (dtype == PS_DTYPE_UNSET && ndim != 0))
        return PS_ERR_CORRUPT;
    for (int a = 0; a < ndim; a++)
        shape[a] = ps_get_i64(&r);
    max_keys = ps_get_i64(&r);
    if (r.bad || max_keys < -1)
        return PS_ERR_CORRUPT;
    st = ps_keyed_moments_new(&k, (int)dtype, (int)ndim, shape, max_keys);
    if (st != PS_OK)
        return st == PS_ERR_NOMEM ? st : PS_ERR_CORRUPT;
    if ((st = keymap_read(&r, k->map, max_keys)) != PS_OK || (st = km_room(k)) != PS_OK)
        goto fail;
    for (int64_t s = 0; s < k->map->cap; s++) {
        const uint8_t *p;
        size_t len;
        int64_t start;
        ps_moments *m = NULL;
        if (!k->map->live[s])
            continue;
        start = ps_get_i64(&r);
        if (r.bad || start < 0 || start > MOMENTS_INDEX_MAX ||
            get_nested(&r, &p, &len) != PS_OK) {
            st = PS_ERR_CORRUPT;
            goto fail;
        }
        k->start[s] = start;
        if (start > k->bound)
            k->bound = start;
        if (len == 0)
            continue;
        st = ps_moments_deserialize(&m, p, len);
        if (st != PS_OK) {
            st = st == PS_ERR_NOMEM ? st : PS_ERR_CORRUPT;
            goto fail;
        }
        k->st[s] = m;
        k->nrec++;
        if (ps_moments_stop(m) > k->bound)
            k->bound = ps_moments_stop(m);
        if (ps_moments_dtype(m) != k->dtype || ps_moments_ndim(m) != k->ndim ||
            ps_moments_start(m) != start || ps_moments_stop(m) <= start) {
            st = PS_ERR_CORRUPT;
            goto fail;
        }
        for (int a = 0; a < k->ndim; a++)
            if (ps_moments_shape(m, a) != k->shape[a]) {
                st = PS_ERR_CORRUPT;
                goto fail;
            }
    }
    if (r.bad || r.pos != r.cap) {
        st = PS_ERR_CORRUPT;
        goto fail;
    }
    *out = k;
    return PS_OK;
fail:
    ps_keyed_moments_free(k);
    return st == PS_ERR_NOMEM ? st : PS_ERR_CORRUPT;
}

/* ======================================================================== */
/* Keyed stages                                                             */

struct ps_keyed_stage {
    ps_stage_params p; /* canonical (as ps_stage_get_params gives them) */
    int64_t width;
    int64_t max_keys;
    ps_keymap *map;
    ps_stage **st; /* per slot; NULL for a dead slot or before the first record */
    int64_t room;
    int64_t bound; /* >= every key's position (records fed, saturated) */
    scratch sc;
};

static int count_preserving(int kind)
{
    return (kind >= PS_MOVE_SUM && kind <= PS_MOVE_RANK) ||
           (kind >= PS_CUMSUM && kind <= PS_CUMSTD) || (kind >= PS_EWM_MEAN && kind <= PS_EWM_STD);
}

int ps_keyed_stage_new(ps_keyed_stage **out, const ps_stage_params *p, int64_t width,
                       int64_t max_keys)
{
    ps_keyed_stage *s;
    ps_stage *probe_state = NULL;
    int st;
    if (!out || !p)
        return PS_ERR_ARG;
    *out = NULL;
    if (!count_preserving(p->kind))
        return PS_ERR_ARG;
    /* ps_stage_new is the one check of the parameters (and canonicalizes) */
    if ((st = ps_stage_new(&probe_state, p, width, 0)) != PS_OK)
        return st;
    s = calloc(1, sizeof *s);
    if (!s) {
        ps_stage_free(probe_state);
        return PS_ERR_NOMEM;
    }
    ps_stage_get_params(probe_state, &s->p);
    ps_stage_free(probe_state);
    s->width = width;
    s->max_keys = max_keys < 0 ? -1 : max_keys;
    if ((st = ps_keymap_new(&s->map)) != PS_OK) {
        free(s);
        return st;
    }
    *out = s;
    return PS_OK;
}

void ps_keyed_stage_free(ps_keyed_stage *s)
{
    if (!s)
        return;
    for (int64_t i = 0; i < s->room; i++)
        ps_stage_free(s->st[i]);
    free(s->st);
    ps_keymap_free(s->map);
    scratch_free(&s->sc);
    free(s);
}

int ps_keyed_stage_get_params(const ps_keyed_stage *s, ps_stage_params *out)
{
    if (!s || !out)
        return PS_ERR_ARG;
    *out = s->p;
    return PS_OK;
}

int64_t ps_keyed_stage_width(const ps_keyed_stage *s) { return s ? s->width : -1; }
int64_t ps_keyed_stage_max_keys(const ps_keyed_stage *s) { return s ? s->max_keys : -1; }
int64_t ps_keyed_stage_nkeys(const ps_keyed_stage *s) { return s ? s->map->size : -1; }

static int ks_room(ps_keyed_stage *s)
{
    return grow_ptrs((void ***)&s->st, &s->room, ps_keymap_capacity(s->map));
}

int ps_keyed_stage_copy(ps_keyed_stage **out, const ps_keyed_stage *s)
{
    ps_keyed_stage *c;
    int st;
    if (!out || !s)
        return PS_ERR_ARG;
    *out = NULL;
    c = calloc(1, sizeof *c);
    if (!c)
        return PS_ERR_NOMEM;
    c->p = s->p;
    c->width = s->width;
    c->max_keys = s->max_keys;
    c->bound = s->bound;
    st = ps_keymap_copy(&c->map, s->map);
    if (st == PS_OK)
        st = ks_room(c);
    for (int64_t i = 0; st == PS_OK && i < c->map->cap; i++)
        if (s->st[i])
            st = ps_stage_copy(&c->st[i], s->st[i]);
    if (st != PS_OK) {
        ps_keyed_stage_free(c);
        return st;
    }
    *out = c;
    return PS_OK;
}

int ps_keyed_stage_update(ps_keyed_stage *s, const double *in, const int64_t *keys, int64_t n,
                          double *out, int64_t *bad_row)
{
    int st;
    int64_t nseg, nmade = 0, largest = 0, w;
    scratch *sc;
    if (!s || n < 0 || (n > 0 && (!in || !keys || !out)))
        return PS_ERR_ARG;
    if (n == 0)
        return PS_OK;
    w = s->width;
    sc = &s->sc;
    if ((st = scratch_reserve(sc, n, 0, 0, 0)) != PS_OK)
        return st;
    if ((st = group_chunk(s->map, sc, keys, n, s->max_keys, &nseg, bad_row)) != PS_OK)
        return st;
    if ((st = ks_room(s)) != PS_OK)
        goto undo;
    for (int64_t g = 0; g < nseg; g++) {
        int64_t k = sc->seg[g], cnt = sc->off[g + 1] - sc->off[g];
        if (s->bound > INT64_MAX - n && s->st[k] &&
            ps_stage_position(s->st[k]) > INT64_MAX - cnt) {
            if (bad_row)
                *bad_row = sc->order[sc->off[g]];
            st = PS_ERR_OVERFLOW;
            goto undo;
        }
        if (cnt > largest)
            largest = cnt;
    }
    if (nseg > 1) {
        size_t rec = (size_t)w * sizeof(double);
        if ((uint64_t)largest > SIZE_MAX / rec) {
            st = PS_ERR_NOMEM;
            goto undo;
        }
        st = scratch_reserve(sc, n, 0, (size_t)largest * rec, (size_t)largest * rec);
        if (st != PS_OK)
            goto undo;
    }
    for (int64_t g = 0; g < nseg; g++) {
        int64_t k = sc->seg[g];
        if (!s->st[k]) {
            if ((st = ps_stage_new(&s->st[k], &s->p, w, 0)) != PS_OK)
                goto undo;
            sc->made[nmade++] = k;
        }
    }
    /* Nothing below can fail but a key's own allocation (NOMEM). */
    s->map->jlen = 0;
    s->bound = s->bound > INT64_MAX - n ? INT64_MAX : s->bound + n;
    if (nseg == 1) {
        int64_t nout;
        return ps_stage_update(s->st[sc->seg[0]], in, n, out, &nout);
    }
    {
        double *gin = (double *)(void *)sc->buf, *gout = (double *)(void *)sc->buf2;
        size_t rec = (size_t)w * sizeof(double);
        for (int64_t g = 0; g < nseg; g++) {
            int64_t k = sc->seg[g], a = sc->off[g], cnt = sc->off[g + 1] - a, nout;
            const int64_t *ord = sc->order + a;
#ifdef __GNUC__
            if (g + 4 < nseg)
                __builtin_prefetch(s->st[sc->seg[g + 4]]);
#endif
            if (w == 1) {
                for (int64_t j = 0; j < cnt; j++)
                    gin[j] = in[ord[j]];
            } else {
                for (int64_t j = 0; j < cnt; j++)
                    memcpy(gin + j * w, in + ord[j] * w, rec);
            }
            st = ps_stage_update(s->st[k], gin, cnt, gout, &nout);
            if (st != PS_OK)
                return st;
            if (w == 1) {
                for (int64_t j = 0; j < cnt; j++)
                    out[ord[j]] = gout[j];
            } else {
                for (int64_t j = 0; j < cnt; j++)
                    memcpy(out + ord[j] * w, gout + j * w, rec);
            }
        }
    }
    return PS_OK;
undo:
    while (nmade > 0) {
        int64_t k = sc->made[--nmade];
        ps_stage_free(s->st[k]);
        s->st[k] = NULL;
    }
    keymap_rollback(s->map, keys);
    return st;
}

int ps_keyed_stage_evict(ps_keyed_stage *s, const int64_t *keys, int64_t n)
{
    if (!s || n < 0 || (n > 0 && !keys))
        return PS_ERR_ARG;
    for (int64_t i = 0; i < n; i++) {
        int64_t k = ps_keymap_find(s->map, keys[i]);
        if (k < 0)
            continue;
        ps_stage_free(s->st[k]);
        s->st[k] = NULL;
        ps_keymap_remove(s->map, keys[i]);
    }
    return PS_OK;
}

int ps_keyed_stage_keys(const ps_keyed_stage *s, int64_t *keys)
{
    int64_t j = 0;
    if (!s || (s->map->size > 0 && !keys))
        return PS_ERR_ARG;
    for (int64_t i = 0; i < s->map->cap; i++)
        if (s->map->live[i])
            keys[j++] = s->map->skey[i];
    return PS_OK;
}

int ps_keyed_stage_positions(const ps_keyed_stage *s, int64_t *positions)
{
    int64_t j = 0;
    if (!s || (s->map->size > 0 && !positions))
        return PS_ERR_ARG;
    for (int64_t i = 0; i < s->map->cap; i++)
        if (s->map->live[i])
            positions[j++] = s->st[i] ? ps_stage_position(s->st[i]) : 0;
    return PS_OK;
}

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

static int get_int(ps_reader *r, int *v)
{
    int64_t x = ps_get_i64(r);
    if (r->bad || x < -2147483647 || x > 2147483647)
        return 0;
    *v = (int)x;
    return 1;
}

static int get_params(ps_reader *r, ps_stage_params *p)
{
    memset(p, 0, sizeof *p);
    if (!get_int(r, &p->kind) || !get_int(r, &p->nan_policy))
        return 0;
    p->window = ps_get_i64(r);
    p->min_count = ps_get_i64(r);
    p->ddof = ps_get_f64(r);
    p->q = ps_get_f64(r);
    p->alpha = ps_get_f64(r);
    return get_int(r, &p->adjust) && get_int(r, &p->ignore_na) && get_int(r, &p->bias);
}

static int same_params(const ps_stage_params *a, const ps_stage_params *b)
{
    return a->kind == b->kind && a->nan_policy == b->nan_policy && a->window == b->window &&
           a->min_count == b->min_count && memcmp(&a->ddof, &b->ddof, 8) == 0 &&
           memcmp(&a->q, &b->q, 8) == 0 && memcmp(&a->alpha, &b->alpha, 8) == 0 &&
           a->adjust == b->adjust && a->ignore_na == b->ignore_na && a->bias == b->bias;
}

static void ks_write(ps_writer *w, const void *state)
{
    const ps_keyed_stage *s = state;
    put_magic(w, KS_MAGIC);
    ps_put_u64(w, KS_VERSION);
    put_params(w, &s->p);
    ps_put_i64(w, s->width);
    ps_put_i64(w, s->max_keys);
    keymap_write(w, s->map);
    for (int64_t i = 0; i < s->map->cap; i++)
        if (s->map->live[i])
            put_nested(w, ser_stage, s->st[i]);
}

int ps_keyed_stage_serialize(const ps_keyed_stage *s, uint8_t *buf, size_t cap, size_t *size)
{
    return ps_serialize_checked(ks_write, s, buf, cap, size);
}

int ps_keyed_stage_deserialize(ps_keyed_stage **out, const uint8_t *buf, size_t size)
{
    ps_reader r;
    ps_keyed_stage *s = NULL;
    ps_stage_params p;
    int64_t width, max_keys;
    int st;
    if (!out || (!buf && size))
        return PS_ERR_ARG;
    *out = NULL;
    if ((st = open_envelope(&r, buf, size, KS_MAGIC, KS_VERSION)) != PS_OK)
        return st;
    if (!get_params(&r, &p))
        return PS_ERR_CORRUPT;
    width = ps_get_i64(&r);
    max_keys = ps_get_i64(&r);
    if (r.bad || max_keys < -1)
        return PS_ERR_CORRUPT;
    st = ps_keyed_stage_new(&s, &p, width, max_keys);
    if (st != PS_OK)
        return st == PS_ERR_NOMEM ? st : PS_ERR_CORRUPT;
    if (!same_params(&p, &s->p)) { /* not canonical: not written by us */
        st = PS_ERR_CORRUPT;
        goto fail;
    }
    if ((st = keymap_read(&r, s->map, max_keys)) != PS_OK || (st = ks_room(s)) != PS_OK)
        goto fail;
    for (int64_t i = 0; i < s->map->cap; i++) {
        const uint8_t *q;
        size_t len;
        ps_stage_params sp;
        ps_stage *one = NULL;
        if (!s->map->live[i])
            continue;
        if (get_nested(&r, &q, &len) != PS_OK) {
            st = PS_ERR_CORRUPT;
            goto fail;
        }
        if (len == 0) { /* a live key has seen records */
            st = PS_ERR_CORRUPT;
            goto fail;
        }
        st = ps_stage_deserialize(&one, q, len);
        if (st != PS_OK)
            goto fail;
        s->st[i] = one;
        if (ps_stage_position(one) > s->bound)
            s->bound = ps_stage_position(one);
        ps_stage_get_params(one, &sp);
        if (!same_params(&sp, &s->p) || ps_stage_width(one) != width ||
            ps_stage_start(one) != 0 || ps_stage_position(one) < 1) {
            st = PS_ERR_CORRUPT;
            goto fail;
        }
    }
    if (r.bad || r.pos != r.cap) {
        st = PS_ERR_CORRUPT;
        goto fail;
    }
    *out = s;
    return PS_OK;
fail:
    ps_keyed_stage_free(s);
    return st == PS_ERR_NOMEM ? st : PS_ERR_CORRUPT;
}
