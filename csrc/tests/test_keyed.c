/*
 * test_keyed.c -- key map, grouping, keyed moments and keyed stages
 * (keyed.h), against simple models: a linear-scan key table, a naive
 * stable grouping, and one unkeyed state per key fed that key's records.
 * Run under ASan/UBSan by `make ctest`.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "keyed.h"
#include "testkit.h"

/* ---- key map against a linear model -------------------------------- */

#define MODEL_MAX 4096

typedef struct {
    int64_t key[MODEL_MAX];
    int live[MODEL_MAX];
    int64_t cap;
    int64_t freel[MODEL_MAX];
    int64_t nfree;
    int64_t size;
} model;

static int64_t model_find(const model *m, int64_t key)
{
    for (int64_t s = 0; s < m->cap; s++)
        if (m->live[s] && m->key[s] == key)
            return s;
    return -1;
}

static int64_t model_add(model *m, int64_t key)
{
    int64_t s = m->nfree ? m->freel[--m->nfree] : m->cap++;
    m->key[s] = key;
    m->live[s] = 1;
    m->size++;
    return s;
}

static void model_remove(model *m, int64_t key)
{
    int64_t s = model_find(m, key);
    if (s >= 0) {
        m->live[s] = 0;
        m->freel[m->nfree++] = s;
        m->size--;
    }
}

static int64_t pick_key(int64_t nkeys)
{
    static const int64_t special[] = {INT64_MIN, INT64_MAX, 0, -1, 1, INT64_MIN + 1};
    uint64_t r = rnd();
    if (r % 10 == 0)
        return special[(r >> 8) % 6];
    /* keys that collide in low bits: multiples of 2**32 */
    if (r % 10 == 1)
        return (int64_t)((r >> 16) % (uint64_t)nkeys) * ((int64_t)1 << 32);
    return (int64_t)((r >> 16) % (uint64_t)nkeys) - nkeys / 2;
}

static void test_keymap(void)
{
    static model md;
    ps_keymap *m;
    int64_t keys[64], ids[64], bad;
    memset(&md, 0, sizeof md);
    CHECK(ps_keymap_new(&m) == PS_OK);
    for (int round = 0; round < 3000; round++) {
        int64_t n = (int64_t)(rnd() % 64);
        for (int64_t i = 0; i < n; i++)
            keys[i] = pick_key(round < 1500 ? 300 : 1500);
        if (rnd() % 4 == 0) { /* removals */
            for (int64_t i = 0; i < n / 2; i++) {
                int want = model_find(&md, keys[i]) >= 0;
                CHECK((ps_keymap_remove(m, keys[i]) == PS_OK) == want);
                model_remove(&md, keys[i]);
            }
        } else {
            int64_t limit = rnd() % 3 == 0 ? md.size + (int64_t)(rnd() % 4) : -1;
            int64_t size0 = ps_keymap_size(m), cap0 = ps_keymap_capacity(m);
            int st = ps_keymap_encode(m, keys, n, limit, ids, &bad);
            /* the model's answer */
            model tmp = md;
            int64_t want_bad = -1;
            for (int64_t i = 0; i < n; i++) {
                int64_t s = model_find(&tmp, keys[i]);
                if (s < 0) {
                    if (limit >= 0 && tmp.size >= limit) {
                        want_bad = i;
                        break;
                    }
                    s = model_add(&tmp, keys[i]);
                }
                if (st == PS_OK)
                    CHECK(ids[i] == s);
            }
            if (want_bad >= 0) {
                CHECK(st == PS_ERR_KEYS);
                CHECK(bad == want_bad);
                CHECK(ps_keymap_size(m) == size0 && ps_keymap_capacity(m) == cap0);
            } else {
                CHECK(st == PS_OK);
                md = tmp;
            }
        }
        CHECK(ps_keymap_size(m) == md.size);
        CHECK(ps_keymap_capacity(m) == md.cap);
    }
    /* every key findable after all that (probing intact), slots as the model */
    {
        int64_t *sk = malloc((size_t)md.cap * 8);
        uint8_t *lv = malloc((size_t)md.cap);
        CHECK(ps_keymap_keys(m, sk, lv) == PS_OK);
        for (int64_t s = 0; s < md.cap; s++) {
            CHECK(lv[s] == md.live[s]);
            if (md.live[s]) {
                CHECK(sk[s] == md.key[s]);
                CHECK(ps_keymap_find(m, md.key[s]) == s);
            }
        }
        free(sk);
        free(lv);
    }
    ps_keymap_free(m);
}

/* Many removals then lookups: backward-shift deletion keeps probing right. */
static void test_keymap_churn(void)
{
    ps_keymap *m;
    int64_t id, bad;
    CHECK(ps_keymap_new(&m) == PS_OK);
    for (int64_t k = 0; k < 20000; k++) {
        int64_t key = k * 1024; /* same low bits */
        CHECK(ps_keymap_encode(m, &key, 1, -1, &id, &bad) == PS_OK);
    }
    for (int64_t k = 0; k < 20000; k += 3) {
        int64_t key = k * 1024;
        CHECK(ps_keymap_remove(m, key) == PS_OK);
    }
    for (int64_t k = 0; k < 20000; k++)
        CHECK((ps_keymap_find(m, k * 1024) >= 0) == (k % 3 != 0));
    CHECK(ps_keymap_find(m, 7) == -1);
    /* re-adding reuses freed slots, newest freed first */
    {
        int64_t key = -5;
        CHECK(ps_keymap_encode(m, &key, 1, -1, &id, &bad) == PS_OK);
        CHECK(id == 19998);
        CHECK(ps_keymap_capacity(m) == 20000);
    }
    ps_keymap_free(m);
}

static void test_group(void)
{
    int64_t ids[500], order[500], slots[500], off[501], nseg, scratch[40];
    memset(scratch, 0, sizeof scratch);
    for (int round = 0; round < 200; round++) {
        int64_t n = (int64_t)(rnd() % 500), ns = 1 + (int64_t)(rnd() % 40);
        for (int64_t i = 0; i < n; i++)
            ids[i] = (int64_t)(rnd() % (uint64_t)ns);
        CHECK(ps_group_rows(ids, n, ns, scratch, order, slots, off, &nseg) == PS_OK);
        /* naive: slots by first appearance, rows in order */
        int64_t j = 0, g = 0;
        int seen[40] = {0};
        for (int64_t i = 0; i < n; i++) {
            if (seen[ids[i]])
                continue;
            seen[ids[i]] = 1;
            CHECK(slots[g] == ids[i]);
            CHECK(off[g] == j);
            for (int64_t r = i; r < n; r++)
                if (ids[r] == ids[i])
                    CHECK(order[j++] == r);
            g++;
        }
        CHECK(nseg == g && off[g] == n);
        for (int64_t s = 0; s < 40; s++)
            CHECK(scratch[s] == 0);
    }
    ids[0] = 5;
    CHECK(ps_group_rows(ids, 1, 5, scratch, order, slots, off, &nseg) == PS_ERR_ARG);
}

/* ---- keyed moments against one ps_moments per key ------------------- */

static int same_bits(const void *a, const void *b, size_t n) { return memcmp(a, b, n) == 0; }

static void result_of(ps_moments *m, double *f, int64_t *i)
{
    ps_moments_out o = {i, i + 1, f, f + 1, f + 2, f + 3, f + 4, i + 2, (uint64_t *)(i + 3),
                        i + 4, i + 5};
    ps_moments_result(m, &o);
}

static void test_keyed_moments(void)
{
    enum { N = 3000, NK = 7 };
    static double x[N];
    static int64_t keys[N];
    ps_keyed_moments *k, *k2 = NULL;
    ps_moments *ref[NK];
    int64_t bad;
    for (int64_t i = 0; i < N; i++) {
        x[i] = rnd_normal() * 1e3;
        if (rnd() % 50 == 0)
            x[i] = NAN;
        keys[i] = (int64_t)(rnd() % NK) * 1000003 - 5;
    }
    CHECK(ps_keyed_moments_new(&k, PS_FLOAT64, 0, NULL, -1) == PS_OK);
    for (int j = 0; j < NK; j++)
        CHECK(ps_moments_new(&ref[j], PS_FLOAT64, 0, NULL, 0) == PS_OK);
    for (int64_t a = 0; a < N;) {
        int64_t n = 1 + (int64_t)(rnd() % 700);
        if (n > N - a)
            n = N - a;
        CHECK(ps_keyed_moments_update(k, x + a, n, 8, 8, keys + a, &bad) == PS_OK);
        for (int64_t i = a; i < a + n; i++)
            ps_moments_update(ref[(keys[i] + 5) / 1000003], x + i, 1, 8, 8);
        a += n;
        if (a > N / 2 && !k2) { /* a round trip half-way */
            size_t size;
            CHECK(ps_keyed_moments_serialize(k, NULL, 0, &size) == PS_OK);
            uint8_t *buf = malloc(size);
            CHECK(ps_keyed_moments_serialize(k, buf, size, &size) == PS_OK);
            CHECK(ps_keyed_moments_deserialize(&k2, buf, size) == PS_OK);
            /* flipping any byte is refused, never a crash */
            for (size_t b = 0; b < size; b += 7) {
                ps_keyed_moments *bad_state = NULL;
                buf[b] ^= 0x40;
                CHECK(ps_keyed_moments_deserialize(&bad_state, buf, size) != PS_OK);
                CHECK(bad_state == NULL);
                buf[b] ^= 0x40;
            }
            for (size_t cut = 0; cut < size; cut += 13) {
                ps_keyed_moments *bad_state = NULL;
                CHECK(ps_keyed_moments_deserialize(&bad_state, buf, cut) != PS_OK);
            }
            free(buf);
            ps_keyed_moments_free(k);
            k = k2;
        }
    }
    CHECK(ps_keyed_moments_nkeys(k) == NK);
    {
        int64_t ks[NK], cnt[NK], nanc[NK], ihi[NK], imn[NK], imx[NK], fn[NK];
        uint64_t ilo[NK];
        double sum[NK], mean[NK], m2[NK], mn[NK], mx[NK];
        ps_moments_out o = {cnt, nanc, sum, mean, m2, mn, mx, ihi, ilo, imn, imx};
        CHECK(ps_keyed_moments_keys(k, ks) == PS_OK);
        CHECK(ps_keyed_moments_result(k, &o) == PS_OK);
        CHECK(ps_keyed_moments_first_nan(k, fn) == PS_OK);
        CHECK(ks[0] == keys[0]);
        for (int j = 0; j < NK; j++) {
            double f[5];
            int64_t iv[6];
            ps_moments *r = ref[(ks[j] + 5) / 1000003];
            result_of(r, f, iv);
            CHECK(cnt[j] == iv[0] && nanc[j] == iv[1]);
            CHECK(same_bits(&sum[j], &f[0], 8) && same_bits(&mean[j], &f[1], 8));
            CHECK(same_bits(&m2[j], &f[2], 8) && same_bits(&mn[j], &f[3], 8));
            CHECK(same_bits(&mx[j], &f[4], 8));
            CHECK(fn[j] == ps_moments_first_nan(r));
        }
    }
    /* max_keys: refused, state unchanged */
    {
        ps_keyed_moments *lim;
        int64_t kk[4] = {1, 2, 1, 3};
        double v[4] = {1, 2, 3, 4};
        CHECK(ps_keyed_moments_new(&lim, PS_FLOAT64, 0, NULL, 2) == PS_OK);
        CHECK(ps_keyed_moments_update(lim, v, 4, 8, 8, kk, &bad) == PS_ERR_KEYS);
        CHECK(bad == 3);
        CHECK(ps_keyed_moments_nkeys(lim) == 0);
        CHECK(ps_keyed_moments_update(lim, v, 3, 8, 8, kk, &bad) == PS_OK);
        CHECK(ps_keyed_moments_nkeys(lim) == 2);
        ps_keyed_moments_free(lim);
    }
    for (int j = 0; j < NK; j++)
        ps_moments_free(ref[j]);
    ps_keyed_moments_free(k);
}

/* Partitions with presets merge to the serial state, bit for bit. */
static void test_keyed_merge(void)
{
    enum { N = 5000 };
    static double x[N];
    static int64_t keys[N];
    ps_keyed_moments *serial, *p1, *p2;
    int64_t bad, cut = 2222;
    for (int64_t i = 0; i < N; i++) {
        x[i] = rnd_normal();
        keys[i] = (int64_t)(rnd() % 13);
    }
    ps_keyed_moments_new(&serial, PS_FLOAT64, 0, NULL, -1);
    ps_keyed_moments_new(&p1, PS_FLOAT64, 0, NULL, -1);
    ps_keyed_moments_new(&p2, PS_FLOAT64, 0, NULL, -1);
    CHECK(ps_keyed_moments_update(serial, x, N, 8, 8, keys, &bad) == PS_OK);
    CHECK(ps_keyed_moments_update(p1, x, cut, 8, 8, keys, &bad) == PS_OK);
    {
        int64_t pk[13], ps[13], np = 0;
        for (int64_t key = 0; key < 13; key++) {
            int64_t c = 0;
            for (int64_t i = 0; i < cut; i++)
                c += keys[i] == key;
            if (c) {
                pk[np] = key;
                ps[np++] = c;
            }
        }
        CHECK(ps_keyed_moments_preset(p2, pk, ps, np, &bad) == PS_OK);
    }
    CHECK(ps_keyed_moments_update(p2, x + cut, N - cut, 8, 8, keys + cut, &bad) == PS_OK);
    CHECK(ps_keyed_moments_merge(p1, p2, &bad) == PS_OK);
    {
        size_t a, b;
        ps_keyed_moments_serialize(serial, NULL, 0, &a);
        ps_keyed_moments_serialize(p1, NULL, 0, &b);
        CHECK(a == b);
        uint8_t *ba = malloc(a), *bb = malloc(b);
        ps_keyed_moments_serialize(serial, ba, a, &a);
        ps_keyed_moments_serialize(p1, bb, b, &b);
        CHECK(a == b && memcmp(ba, bb, a) == 0);
        free(ba);
        free(bb);
    }
    /* not adjacent: right without presets */
    {
        ps_keyed_moments *p3;
        ps_keyed_moments_new(&p3, PS_FLOAT64, 0, NULL, -1);
        ps_keyed_moments_update(p3, x, 10, 8, 8, keys, &bad);
        CHECK(ps_keyed_moments_merge(serial, p3, &bad) == PS_ERR_NOT_ADJACENT);
        ps_keyed_moments_free(p3);
    }
    ps_keyed_moments_free(serial);
    ps_keyed_moments_free(p1);
    ps_keyed_moments_free(p2);
}

/* ---- keyed stage against one ps_stage per key ------------------------ */

static void test_keyed_stage(int kind, int64_t window, int64_t width)
{
    enum { N = 4000, NK = 9 };
    static double x[N * 2], out[N * 2], ref_out[N * 2];
    static int64_t keys[N];
    ps_stage_params p;
    ps_keyed_stage *s;
    ps_stage *ref[NK];
    int64_t bad, nout;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.window = window;
    p.min_count = 1;
    p.alpha = 0.3;
    p.adjust = 1;
    for (int64_t i = 0; i < N * width; i++)
        x[i] = rnd() % 20 == 0 ? NAN : rnd_normal();
    for (int64_t i = 0; i < N; i++)
        keys[i] = (int64_t)(rnd() % NK);
    CHECK(ps_keyed_stage_new(&s, &p, width, -1) == PS_OK);
    for (int j = 0; j < NK; j++)
        ps_stage_new(&ref[j], &p, width, 0);
    for (int64_t a = 0; a < N;) {
        int64_t n = 1 + (int64_t)(rnd() % 900);
        if (n > N - a)
            n = N - a;
        CHECK(ps_keyed_stage_update(s, x + a * width, keys + a, n, out + a * width, &bad) == PS_OK);
        a += n;
        if (a > N / 3 && a - n <= N / 3) { /* evict key 4, and round trip */
            int64_t k4 = 4;
            size_t size;
            ps_keyed_stage *c;
            CHECK(ps_keyed_stage_evict(s, &k4, 1) == PS_OK);
            CHECK(ps_keyed_stage_nkeys(s) == NK - 1);
            ps_stage_free(ref[4]);
            ps_stage_new(&ref[4], &p, width, 0);
            for (int64_t i = 0; i < a; i++)
                if (keys[i] == 4)
                    keys[i] = -1; /* fed before the eviction: compared apart */
            ps_keyed_stage_serialize(s, NULL, 0, &size);
            uint8_t *buf = malloc(size);
            CHECK(ps_keyed_stage_serialize(s, buf, size, &size) == PS_OK);
            CHECK(ps_keyed_stage_deserialize(&c, buf, size) == PS_OK);
            for (size_t b = 0; b < size; b += 11) {
                ps_keyed_stage *bs = NULL;
                buf[b] ^= 1;
                CHECK(ps_keyed_stage_deserialize(&bs, buf, size) != PS_OK);
                buf[b] ^= 1;
            }
            free(buf);
            ps_keyed_stage_free(s);
            s = c;
        }
    }
    /* the reference, key by key (key 4's records before the eviction went
       to the old state: compare them with a fresh run of their own) */
    {
        ps_stage *old4;
        ps_stage_new(&old4, &p, width, 0);
        for (int64_t i = 0; i < N; i++) {
            ps_stage *r = keys[i] < 0 ? old4 : ref[keys[i]];
            ps_stage_update(r, x + i * width, 1, ref_out + i * width, &nout);
        }
        ps_stage_free(old4);
    }
    CHECK(same_bits(out, ref_out, (size_t)(N * width) * 8));
    for (int j = 0; j < NK; j++)
        ps_stage_free(ref[j]);
    ps_keyed_stage_free(s);
    p.kind = PS_RESAMPLE_SUM;
    CHECK(ps_keyed_stage_new(&s, &p, 1, -1) == PS_ERR_ARG);
}

int main(void)
{
    test_keymap();
    test_keymap_churn();
    test_group();
    test_keyed_moments();
    test_keyed_merge();
    test_keyed_stage(PS_MOVE_MEAN, 3, 1);
    test_keyed_stage(PS_MOVE_MEAN, 100, 2);
    test_keyed_stage(PS_MOVE_MEDIAN, 100, 1);
    test_keyed_stage(PS_MOVE_MAX, 3, 1);
    test_keyed_stage(PS_CUMSUM, 0, 1);
    test_keyed_stage(PS_EWM_MEAN, 0, 2);
    printf("test_keyed: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
