/*
 * C tests of the stage envelope (csrc/stage.c) with every family linked:
 * record widths beyond PS_MAX_WIDTH are refused by ps_stage_new; a
 * serialized stage whose width field was edited (checksum recomputed) is
 * refused before anything of that width is allocated; checksums of the
 * pre-issue-15 FNV basis are still accepted, new ones use the standard one.
 * Run under ASan + UBSan by `make ctest`.
 */
#include "pystream.h"

#include <stdlib.h>
#include <string.h>

#include "serial.h"
#include "testkit.h"

enum { WIDTH_AT = 96 }; /* magic, version, 10 parameter words */

static ps_stage_params params_of(int kind)
{
    ps_stage_params p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.nan_policy = PS_NAN_OMIT;
    p.window = 4;
    p.min_count = 1;
    p.alpha = 0.5;
    p.q = 0.5;
    return p;
}

static void put_word(uint8_t *buf, size_t at, uint64_t v)
{
    for (int k = 0; k < 8; k++)
        buf[at + (size_t)k] = (uint8_t)(v >> (8 * k));
}

static void reseal(uint8_t *buf, size_t size, uint64_t basis)
{
    put_word(buf, size - 8, ps_fnv1a_basis(buf, size - 8, basis));
}

static const int KINDS[] = {PS_MOVE_SUM, PS_MOVE_VAR, PS_MOVE_MEDIAN, PS_MOVE_RANK,
                            PS_CUMSUM, PS_CUMPROD, PS_CUMMEAN, PS_CUMVAR,
                            PS_EWM_MEAN, PS_EWM_VAR, PS_RESAMPLE_SUM, PS_RESAMPLE_MEAN};

static void test_width_limit(void)
{
    for (size_t k = 0; k < sizeof KINDS / sizeof *KINDS; k++) {
        ps_stage_params p = params_of(KINDS[k]);
        ps_stage *s = NULL;
        CHECK(ps_stage_new(&s, &p, ((int64_t)1 << 61) + 2, 0) == PS_ERR_ARG && !s);
        CHECK(ps_stage_new(&s, &p, PS_MAX_WIDTH + 1, 0) == PS_ERR_ARG && !s);
        CHECK(ps_stage_new(&s, &p, INT64_MAX, 0) == PS_ERR_ARG && !s);
        CHECK(ps_stage_new(&s, &p, 3, 0) == PS_OK && s);
        ps_stage_free(s);
    }
}

static void test_forged_width_and_checksums(void)
{
    static const int64_t widths[] = {((int64_t)1 << 61) + 2, (int64_t)1 << 62, INT64_MAX,
                                     PS_MAX_WIDTH, PS_MAX_WIDTH + 1, ((int64_t)1 << 31) - 1,
                                     (int64_t)1 << 20, 2, 0, -1};
    double x[20], out[20];
    for (int i = 0; i < 20; i++)
        x[i] = (double)(i % 7) - 2.5;
    for (size_t k = 0; k < sizeof KINDS / sizeof *KINDS; k++) {
        ps_stage_params p = params_of(KINDS[k]);
        ps_stage *s = NULL, *back = NULL;
        int64_t nout;
        size_t size;
        CHECK(ps_stage_new(&s, &p, 1, 0) == PS_OK);
        CHECK(ps_stage_update(s, x, 20, out, &nout) == PS_OK);
        CHECK(ps_stage_serialize(s, NULL, 0, &size) == PS_OK);
        uint8_t *b = malloc(size), *e = malloc(size);
        CHECK(ps_stage_serialize(s, b, size, &size) == PS_OK);
        CHECK(ps_checksum_ok(b, size));
        CHECK(ps_fnv1a(b, size - 8) != ps_fnv1a_basis(b, size - 8, PS_FNV_OFFSET_LEGACY));
        /* written with the standard basis */
        memcpy(e, b, size);
        reseal(e, size, PS_FNV_OFFSET);
        CHECK(memcmp(e, b, size) == 0);
        /* a state written before issue 15 loads, and saves to the same body */
        reseal(e, size, PS_FNV_OFFSET_LEGACY);
        CHECK(ps_stage_deserialize(&back, e, size) == PS_OK);
        if (back) {
            uint8_t *again = malloc(size);
            size_t s2;
            CHECK(ps_stage_serialize(back, again, size, &s2) == PS_OK && s2 == size);
            CHECK(memcmp(again, b, size) == 0);
            free(again);
            ps_stage_free(back);
        }
        /* the width field of the first word edited, checksum recomputed */
        for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
            memcpy(e, b, size);
            put_word(e, WIDTH_AT, (uint64_t)widths[w]);
            reseal(e, size, PS_FNV_OFFSET);
            back = NULL;
            int st = ps_stage_deserialize(&back, e, size);
            CHECK_CTX(st == PS_ERR_CORRUPT && !back, "kind %d width %lld: status %d",
                      KINDS[k], (long long)widths[w], st);
            ps_stage_free(back);
        }
        free(b);
        free(e);
        ps_stage_free(s);
    }
}

int main(void)
{
    test_width_limit();
    test_forged_width_and_checksums();
    return report();
}
