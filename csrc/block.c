/*
 * block.c -- block reductions / decimation (PS_RESAMPLE_SUM, MEAN).
 *
 * Block k holds the records with global indices [k*window, (k+1)*window);
 * the stage's first block starts at `start` (a partial block when start is
 * not a multiple of window).  Per column the state is the block's running
 * float64 sum (starting at -0.0, the identity of +, so the result is the
 * sequential sum np.cumsum(block)[-1] bit for bit) and its count of
 * non-NaN values.  OMIT adds 0.0 for a NaN (np.nancumsum; an all-NaN
 * block sums to 0.0); PROPAGATE adds the NaN itself.
 * MEAN = sum / count of non-NaN (OMIT; 0/0 = NaN for an empty count), or
 * sum / records in the block (PROPAGATE; NaN if any NaN via the sum).
 */
#include "stage_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int mean, omit;
    int64_t width, window, start;
    int64_t pos; /* global index of the next record */
    double *sum;
    int64_t *cnt;
} block_state;

static void reset_block(block_state *st)
{
    for (int64_t j = 0; j < st->width; j++) {
        st->sum[j] = -0.0;
        st->cnt[j] = 0;
    }
}

static void *block_create(const ps_stage_params *p, int64_t width, int64_t start)
{
    block_state *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->sum = ps_malloc_n(width, sizeof *st->sum); /* NULL on overflow too */
    st->cnt = ps_malloc_n(width, sizeof *st->cnt);
    if (!st->sum || !st->cnt) {
        free(st->sum);
        free(st->cnt);
        free(st);
        return NULL;
    }
    st->mean = p->kind == PS_RESAMPLE_MEAN;
    st->omit = p->nan_policy == PS_NAN_OMIT;
    st->width = width;
    st->window = p->window;
    st->start = start;
    st->pos = start;
    reset_block(st);
    return st;
}

static void block_destroy(void *p)
{
    block_state *st = p;
    if (!st)
        return;
    free(st->sum);
    free(st->cnt);
    free(st);
}

/* Records of the current (incomplete) block seen so far. */
static int64_t in_block(const block_state *st)
{
    int64_t b0 = st->pos - st->pos % st->window;
    return st->pos - (b0 > st->start ? b0 : st->start);
}

/* The block's reduction; nb = records in it. */
static void emit(const block_state *st, double *row, int64_t nb)
{
    for (int64_t j = 0; j < st->width; j++) {
        double s = st->sum[j];
        if (!st->mean)
            row[j] = s;
        else
            row[j] = s / (double)(st->omit ? st->cnt[j] : nb);
    }
}

static void block_update(void *p, const double *in, int64_t n, double *out, int64_t *nout)
{
    block_state *st = p;
    const int64_t w = st->width;
    int64_t rows = 0;
    int64_t i = 0;
    while (i < n) {
        int64_t left = st->window - st->pos % st->window; /* to the block end */
        int64_t k = n - i < left ? n - i : left;
        const double *x = in + i * w;
        for (int64_t j = 0; j < w; j++) {
            double s = st->sum[j];
            int64_t c = st->cnt[j];
            if (st->omit) {
                for (int64_t r = 0; r < k; r++) {
                    double v = x[r * w + j];
                    int ok = v == v;
                    s = s + (ok ? v : 0.0);
                    c += ok;
                }
            } else {
                for (int64_t r = 0; r < k; r++) {
                    double v = x[r * w + j];
                    s = s + v;
                    c += v == v;
                }
            }
            st->sum[j] = s;
            st->cnt[j] = c;
        }
        i += k;
        if (k == left) { /* block complete */
            emit(st, out + rows * w, in_block(st) + k);
            rows++;
            reset_block(st);
        }
        st->pos += k;
    }
    *nout = rows;
}

static void block_flush(const void *p, double *out, int64_t *nout)
{
    const block_state *st = p;
    int64_t nb = in_block(st);
    if (nb == 0) {
        *nout = 0;
        return;
    }
    emit(st, out, nb);
    *nout = 1;
}

static void block_save(const void *p, ps_writer *w)
{
    const block_state *st = p;
    ps_put_i64(w, st->pos);
    for (int64_t j = 0; j < st->width; j++) {
        ps_put_f64(w, st->sum[j]);
        ps_put_i64(w, st->cnt[j]);
    }
}

static int block_load(void *p, ps_reader *r)
{
    block_state *st = p;
    int64_t pos = ps_get_i64(r);
    if (r->bad || pos < st->start)
        return PS_ERR_CORRUPT;
    st->pos = pos;
    int64_t nb = in_block(st);
    for (int64_t j = 0; j < st->width; j++) {
        double s = ps_get_f64(r);
        int64_t c = ps_get_i64(r);
        if (r->bad || c < 0 || c > nb)
            return PS_ERR_CORRUPT;
        if (nb == 0 && !(s == 0.0 && signbit(s))) /* empty block: -0.0 */
            return PS_ERR_CORRUPT;
        if (st->omit) {
            if (c == 0 && s != 0.0) /* only NaNs: -0.0 + 0.0 + ... */
                return PS_ERR_CORRUPT;
            if (c < 2 && isnan(s)) /* NaN needs inf + -inf */
                return PS_ERR_CORRUPT;
        } else {
            if (c < nb && !isnan(s)) /* a NaN was added */
                return PS_ERR_CORRUPT;
            if (c == nb && c < 2 && isnan(s))
                return PS_ERR_CORRUPT;
        }
        st->sum[j] = s;
        st->cnt[j] = c;
    }
    return PS_OK;
}

const ps_family ps_family_block = {
    block_create, block_destroy, block_update, block_flush, block_save, block_load,
};
