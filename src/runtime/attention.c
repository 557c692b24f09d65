/* attention.c - causal attention of a chunk of tokens over the KV cache
 * (model_internal.h states the order; FORMATS.md §3 the math).
 *
 * The work is cut into groups: a tile of consecutive tokens of one sequence
 * (tile_tok of them) times the heads that share one KV head, so every key
 * and value row of that head is read once per group instead of once per
 * (token, head). A group's queries each keep their own causal length and
 * their own summation order: grouping changes which rows are read together,
 * never a sum.
 *
 * Two plans, the same floats:
 *  - tiles (prefill): one pool task per group does scores, softmax and the
 *    weighted sum of values, with per-worker score rows;
 *  - split (decode, or any call with too few groups to keep the workers
 *    busy): three pool runs over a round of up to SPLIT_GROUPS groups -
 *    scores by (group, chunk of keys), softmax by even shares of the
 *    round's rows, weighted values by whole groups and, for the groups left
 *    over, chunks of head columns. Keys are independent dot products and
 *    columns independent sums, so every chain stays whole in one thread.
 *
 * The inner loops (scores, weighted values) have a portable form here and an
 * AVX-512 form (attention_avx512.c) that gives the same bits. */
#include "model_internal.h"

/* Float results must not depend on the compiler: no fused multiply-adds. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define TILE_ROWS 16    /* query rows a tile aims at (tokens x heads of a KV head) */
#define SPLIT_GROUPS 8  /* groups of one round of the split plan */

/* ---- the inner loops: portable forms and dispatch ------------------------------------- */

void bnr_att_scores_c(const float *const *q, int nq, const void *k, int f16, size_t ldk, int nk,
                        int n, float *const *s, float *scratch)
{
    const float *tab = f16 ? bnr_f16_table() : NULL;
    for (int j = 0; j < nk; j++) {
        const float *kr;
        if (f16) { /* converted once, then dotted with every query */
            const uint16_t *h = (const uint16_t *)k + (size_t)j * ldk;
            for (int i = 0; i < n; i++)
                scratch[i] = tab[h[i]];
            kr = scratch;
        } else {
            kr = (const float *)k + (size_t)j * ldk;
        }
        for (int i = 0; i < nq; i++)
            s[i][j] = bnr_dot(q[i], kr, n);
    }
}

void bnr_att_pv_c(const float *const *w, const int *len, int nq, const void *v, int f16,
                    size_t ldv, int d0, int d1, float *const *out)
{
    const float *tab = f16 ? bnr_f16_table() : NULL;
    for (int i = 0; i < nq; i++)
        for (int p = 0; p < len[i]; p++) {
            const float wp = w[i][p];
            if (f16) {
                const uint16_t *h = (const uint16_t *)v + (size_t)p * ldv;
                for (int d = d0; d < d1; d++)
                    out[i][d] += wp * tab[h[d]];
            } else {
                const float *r = (const float *)v + (size_t)p * ldv;
                for (int d = d0; d < d1; d++)
                    out[i][d] += wp * r[d];
            }
        }
}

typedef void (*scores_fn)(const float *const *, int, const void *, int, size_t, int, int,
                          float *const *, float *);
typedef void (*pv_fn)(const float *const *, const int *, int, const void *, int, size_t, int, int,
                      float *const *);
typedef void (*row_fn)(float *, int, float);
static void exp_row_c(float *s, int n, float scale);
static void scale_row_c(float *s, int n, float f);
static scores_fn att_scores = bnr_att_scores_c;
static pv_fn att_pv = bnr_att_pv_c;
static row_fn att_exp_row = exp_row_c, att_scale_row = scale_row_c;
static pthread_once_t att_once = PTHREAD_ONCE_INIT;

static void att_init(void)
{
    if (bnr_att_avx512_available()) {
        att_scores = bnr_att_scores_avx512;
        att_pv = bnr_att_pv_avx512;
        att_exp_row = bnr_att_exp_row_avx512;
        att_scale_row = bnr_att_scale_row_avx512;
    }
}

size_t bnr_att_scores_scratch(int nq, int n)
{
    return ((size_t)(nq + 1) / 2 * 2 + 8) * (size_t)n;
}

/* ---- softmax --------------------------------------------------------------------------- */

/* The scores of one row -> the exponents: s[p] = bnr_exp(s[p] * scale - m),
 * m the largest s[p] * scale. As the scalar loop picks it (s > m replaces m,
 * from -inf) m may differ from another order's maximum only in the sign of a
 * zero, and s - (+0) and s - (-0) differ only in the sign of a zero result,
 * whose exp is 1 either way: the exponents do not depend on the order. */
static void exp_row_c(float *s, int n, float scale)
{
    float mx = -INFINITY;
    for (int p = 0; p < n; p++) {
        s[p] = s[p] * scale;
        mx = s[p] > mx ? s[p] : mx;
    }
    for (int p = 0; p < n; p++)
        s[p] = s[p] - mx;
    bnr_exp_rows(s, n);
}

static void scale_row_c(float *s, int n, float f)
{
    for (int p = 0; p < n; p++)
        s[p] = s[p] * f;
}

/* Rows s[i][0..len[i]), i < n, of raw dot products -> weights: exponents as
 * above, each row summed in double in increasing p, times (float)(1 / sum).
 * The sums of up to 8 rows run side by side (each still its own chain), so a
 * double add's latency is paid once per 8 rows, not per row (a decode step's
 * 20 rows shared by two workers no longer wait on one chain at a time). */
static void softmax_rows(float *const *s, const int *len, int n, float scale)
{
    for (int i = 0; i < n; i++)
        att_exp_row(s[i], len[i], scale);
    for (int i0 = 0; i0 < n; i0 += 8) {
        const int m = n - i0 < 8 ? n - i0 : 8;
        float *const *r = s + i0;
        double sum[8] = {0};
        int nmin = len[i0];
        for (int j = 1; j < m; j++)
            nmin = len[i0 + j] < nmin ? len[i0 + j] : nmin;
        int p = 0;
        if (m == 8) /* a constant count: the 8 sums stay in registers */
            for (; p < nmin; p++)
                for (int j = 0; j < 8; j++)
                    sum[j] += r[j][p];
        else
            for (; p < nmin; p++)
                for (int j = 0; j < m; j++)
                    sum[j] += r[j][p];
        for (int j = 0; j < m; j++) {
            for (int q = p; q < len[i0 + j]; q++)
                sum[j] += r[j][q];
            att_scale_row(r[j], len[i0 + j], (float)(1.0 / sum[j]));
        }
    }
}

/* ---- the context's scratch ------------------------------------------------------------- */

typedef struct {
    int t0, n_tok;          /* tokens [t0, t0 + n_tok) of the chunk, one sequence */
} att_tile;

typedef struct {            /* the query rows of one group: row r = token r / G, head r % G */
    const float *q[TILE_ROWS * 4];
    float *s[TILE_ROWS * 4];
    float *out[TILE_ROWS * 4];
    int len[TILE_ROWS * 4];
    int n, nmax;
    const void *k, *v;      /* the KV head's (n_ctx, head_dim) blocks */
} att_rows;

struct bnr_att {
    int n_head, n_head_kv, hd, group; /* group = heads per KV head */
    int n_ctx, n_workers, max_tile;   /* max_tile: tokens per tile, as allocated */
    int tile_tok;                     /* tokens per tile now (<= max_tile) */
    int plan;                         /* BNR_ATT_AUTO / _TILES / _SPLIT */
    float scale;                      /* 1 / sqrtf(head_dim) */
    size_t scratch_n;                 /* floats of one worker's kernel scratch */
    float *ws;                        /* (n_workers, rows, n_ctx) score rows of the tiles plan */
    float *wk;                        /* (n_workers, scratch_n) kernel scratch */
    float *ss;                        /* (SPLIT_GROUPS, rows, n_ctx) score rows of the split plan */
    att_rows *wr;                     /* (n_workers) the tiles plan's rows */
    att_rows *sr;                     /* (SPLIT_GROUPS) the split plan's rows */
    float *sm_s[SPLIT_GROUPS * TILE_ROWS * 4]; /* the round's rows, group after group */
    float *sm_out[SPLIT_GROUPS * TILE_ROWS * 4];
    int sm_len[SPLIT_GROUPS * TILE_ROWS * 4];
    int sm_rows, sm_tasks;            /* rows of the round, softmax tasks over them */
    att_tile *tiles;                  /* (n_batch) */
    int n_tiles;
    /* the call in progress */
    const bn_kvcache *kv;
    int layer;
    const float *q;                   /* (n_tok, n_head * head_dim) */
    const int *seq, *pos;
    float *out;                       /* (n_tok, n_head * head_dim) */
    int kc;                           /* keys per score task */
    int pv_whole, n_dc, dc;           /* weighted values: groups done whole (all columns),
                                       * then the rest in n_dc column chunks of dc */
    int task0[SPLIT_GROUPS + 1];      /* split plan: first score task of each group */
    double kv_bytes;
};

bn_status bnr_att_new(const bn_hparams *hp, int n_ctx, int n_batch, int n_workers, bnr_att **out,
                      bn_error *err)
{
    *out = NULL;
    pthread_once(&att_once, att_init);
    const int G = hp->n_head / hp->n_head_kv;
    if (G > TILE_ROWS * 4)
        return bn_error_set(err, BN_EUNSUPPORTED,
                            "attention: %d heads share a KV head, at most %d are supported", G,
                            TILE_ROWS * 4);
    bnr_att *a = calloc(1, sizeof *a);
    if (!a)
        return bn_error_set(err, BN_ENOMEM, "out of memory for attention scratch");
    a->n_head = hp->n_head;
    a->n_head_kv = hp->n_head_kv;
    a->hd = hp->head_dim;
    a->group = G;
    a->n_ctx = n_ctx;
    a->n_workers = n_workers < 1 ? 1 : n_workers;
    a->max_tile = a->tile_tok = G >= TILE_ROWS ? 1 : TILE_ROWS / G;
    a->scale = 1.0f / sqrtf((float)hp->head_dim);
    const int rows = a->max_tile * G;
    a->scratch_n = bnr_att_scores_scratch(rows, a->hd);
    size_t nw, ns, nk;
    if (bn_mul_ovf_size((size_t)a->n_workers * rows, (size_t)n_ctx, &nw) ||
        bn_mul_ovf_size((size_t)SPLIT_GROUPS * rows, (size_t)n_ctx, &ns) ||
        bn_mul_ovf_size((size_t)a->n_workers, a->scratch_n, &nk) ||
        bn_mul_ovf_size(nw, sizeof(float), &nw) || bn_mul_ovf_size(ns, sizeof(float), &ns) ||
        bn_mul_ovf_size(nk, sizeof(float), &nk)) {
        free(a);
        return bn_error_set(err, BN_ELIMIT, "attention scratch for %d positions overflows", n_ctx);
    }
    a->ws = malloc(nw);
    a->ss = malloc(ns);
    a->wk = malloc(nk);
    a->wr = calloc((size_t)a->n_workers, sizeof *a->wr);
    a->sr = calloc(SPLIT_GROUPS, sizeof *a->sr);
    a->tiles = calloc((size_t)(n_batch > 0 ? n_batch : 1), sizeof *a->tiles);
    if (!a->ws || !a->ss || !a->wk || !a->wr || !a->sr || !a->tiles) {
        bnr_att_free(a);
        return bn_error_set(err, BN_ENOMEM, "out of memory for attention scratch (%d positions)",
                            n_ctx);
    }
    *out = a;
    return BN_OK;
}

void bnr_att_free(bnr_att *a)
{
    if (!a)
        return;
    free(a->ws);
    free(a->ss);
    free(a->wk);
    free(a->wr);
    free(a->sr);
    free(a->tiles);
    free(a);
}

void bnr_att_set_plan(bnr_att *a, int plan, int tile_tok)
{
    a->plan = plan;
    a->tile_tok = tile_tok < 1 ? 1 : tile_tok > a->max_tile ? a->max_tile : tile_tok;
}

double bnr_att_kv_bytes(const bnr_att *a)
{
    return a->kv_bytes;
}

/* ---- groups ------------------------------------------------------------------------------ */

/* Fill r with the rows of group g (tile g % n_tiles... see below) whose score
 * rows start at srow (rows of n_ctx floats). Groups are numbered KV head
 * major, g = kvh * n_tiles + tile, so consecutive tasks share a KV head's
 * rows in cache. */
static void group_rows(const bnr_att *a, int g, float *srow, att_rows *r)
{
    const int kvh = g / a->n_tiles, G = a->group, hd = a->hd, qd = a->n_head * hd;
    const att_tile *t = &a->tiles[g % a->n_tiles];
    r->n = t->n_tok * G;
    r->nmax = 0;
    for (int i = 0; i < r->n; i++) {
        const int tok = t->t0 + i / G, h = kvh * G + i % G;
        r->q[i] = a->q + (size_t)tok * qd + (size_t)h * hd;
        r->out[i] = a->out + (size_t)tok * qd + (size_t)h * hd;
        r->s[i] = srow + (size_t)i * a->n_ctx;
        r->len[i] = a->pos[tok] + 1;
        r->nmax = r->len[i] > r->nmax ? r->len[i] : r->nmax;
    }
    const int seq = a->seq[t->t0];
    r->k = bnr_kv_head_k(a->kv, a->layer, seq, kvh);
    r->v = bnr_kv_head_v(a->kv, a->layer, seq, kvh);
}

/* The tiles plan: one task per group. */
static void tile_task(void *ctx, int64_t task, int worker)
{
    bnr_att *a = ctx;
    att_rows *r = &a->wr[worker];
    const int rows = a->max_tile * a->group, f16 = a->kv->type == BN_KV_F16;
    group_rows(a, (int)task, a->ws + (size_t)worker * rows * a->n_ctx, r);
    att_scores((const float *const *)r->q, r->n, r->k, f16, (size_t)a->hd, r->nmax, a->hd, r->s,
               a->wk + (size_t)worker * a->scratch_n);
    softmax_rows(r->s, r->len, r->n, a->scale);
    for (int i = 0; i < r->n; i++)
        memset(r->out[i], 0, (size_t)a->hd * sizeof(float));
    att_pv((const float *const *)r->s, r->len, r->n, r->v, f16, (size_t)a->hd, 0, a->hd, r->out);
}

/* The split plan, phase 1: scores of group g for keys [c0, c0 + kc). */
static void split_scores_task(void *ctx, int64_t task, int worker)
{
    bnr_att *a = ctx;
    int g = 0;
    while (task >= a->task0[g + 1])
        g++;
    const att_rows *r = &a->sr[g];
    const int c0 = (int)(task - a->task0[g]) * a->kc;
    const int nk = r->nmax - c0 < a->kc ? r->nmax - c0 : a->kc;
    const int f16 = a->kv->type == BN_KV_F16;
    float *s[TILE_ROWS * 4];
    for (int i = 0; i < r->n; i++)
        s[i] = r->s[i] + c0;
    const size_t elt = f16 ? sizeof(uint16_t) : sizeof(float);
    att_scores((const float *const *)r->q, r->n, (const uint8_t *)r->k + (size_t)c0 * a->hd * elt,
               f16, (size_t)a->hd, nk, a->hd, s, a->wk + (size_t)worker * a->scratch_n);
}

/* Phase 2: the softmax of the round's rows, task's share of them (rows are
 * independent: the shares balance the workers whatever the group count). */
static void split_softmax_task(void *ctx, int64_t task, int worker)
{
    (void)worker;
    bnr_att *a = ctx;
    const int r0 = (int)(task * a->sm_rows / a->sm_tasks),
              r1 = (int)((task + 1) * a->sm_rows / a->sm_tasks);
    softmax_rows(a->sm_s + r0, a->sm_len + r0, r1 - r0, a->scale);
    for (int i = r0; i < r1; i++)
        memset(a->sm_out[i], 0, (size_t)a->hd * sizeof(float));
}

/* Phase 3: the weighted values. Tasks below pv_whole are whole groups: each
 * V row is read once, all of it, by one worker (two workers on two halves of
 * the same rows would each pull the whole lines through the hardware
 * prefetchers). The groups left over, too few to share out whole, are split
 * into column chunks so every worker gets the same share. */
static void split_pv_task(void *ctx, int64_t task, int worker)
{
    (void)worker;
    bnr_att *a = ctx;
    int g = (int)task, d0 = 0, d1 = a->hd;
    if (task >= a->pv_whole) {
        g = a->pv_whole + (int)((task - a->pv_whole) / a->n_dc);
        d0 = (int)((task - a->pv_whole) % a->n_dc) * a->dc;
        d1 = d0 + a->dc < a->hd ? d0 + a->dc : a->hd;
    }
    const att_rows *r = &a->sr[g];
    att_pv((const float *const *)r->s, r->len, r->n, r->v, a->kv->type == BN_KV_F16,
           (size_t)a->hd, d0, d1, (float *const *)r->out);
}

/* One round of the split plan over groups [g0, g0 + n). */
static void split_round(bnr_att *a, bn_pool *pool, int g0, int n)
{
    const int rows = a->max_tile * a->group, nw = a->n_workers;
    int64_t keys = 0;
    a->sm_rows = 0;
    for (int g = 0; g < n; g++) {
        att_rows *r = &a->sr[g];
        group_rows(a, g0 + g, a->ss + (size_t)g * rows * a->n_ctx, r);
        keys += r->nmax;
        for (int i = 0; i < r->n; i++, a->sm_rows++) {
            a->sm_s[a->sm_rows] = r->s[i];
            a->sm_out[a->sm_rows] = r->out[i];
            a->sm_len[a->sm_rows] = r->len[i];
        }
    }
    a->sm_tasks = a->sm_rows < nw ? a->sm_rows : nw;
    /* about 8 score tasks per worker, at least 64 keys each, a multiple of 8 */
    int64_t kc = (keys + 8 * nw - 1) / (8 * nw);
    kc = kc < 64 ? 64 : (kc + 7) / 8 * 8;
    a->kc = (int)kc;
    a->task0[0] = 0;
    for (int g = 0; g < n; g++)
        a->task0[g + 1] = a->task0[g] + (int)((a->sr[g].nmax + kc - 1) / kc);
    /* weighted values: n - n % nw groups whole, the other n % nw in nw column
     * chunks each (multiples of 16, at least 32 wide), so 5 groups on 2
     * workers are 2.5 groups each */
    a->pv_whole = n - n % nw;
    int n_dc = (n % nw) ? nw : 1;
    while (n_dc > 1 && a->hd / n_dc < 32)
        n_dc--;
    a->dc = (a->hd + n_dc - 1) / n_dc;
    a->dc = (a->dc + 15) / 16 * 16;
    a->n_dc = (a->hd + a->dc - 1) / a->dc;
    bn_pool_run(pool, split_scores_task, a, a->task0[n]);
    bn_pool_run(pool, split_softmax_task, a, a->sm_tasks);
    bn_pool_run(pool, split_pv_task, a, a->pv_whole + (int64_t)(n - a->pv_whole) * a->n_dc);
}

void bnr_attention(bnr_att *a, bn_pool *pool, const bn_kvcache *kv, int layer, const float *q,
                   const int *seq, const int *pos, int n_tok, float *out)
{
    a->kv = kv;
    a->layer = layer;
    a->q = q;
    a->seq = seq;
    a->pos = pos;
    a->out = out;
    a->n_tiles = 0;
    for (int t = 0; t < n_tok; t++) {
        att_tile *cur = a->n_tiles ? &a->tiles[a->n_tiles - 1] : NULL;
        if (cur && seq[t] == seq[cur->t0] && cur->n_tok < a->tile_tok)
            cur->n_tok++;
        else
            a->tiles[a->n_tiles++] = (att_tile){t, 1};
    }
    /* K and V rows read: each tile's keys once per KV head */
    const double elt = kv->type == BN_KV_F16 ? 2.0 : 4.0;
    a->kv_bytes = 0.0;
    for (int i = 0; i < a->n_tiles; i++)
        a->kv_bytes += (pos[a->tiles[i].t0 + a->tiles[i].n_tok - 1] + 1) * 2.0 * a->n_head_kv *
                       a->hd * elt;
    const int n_groups = a->n_tiles * a->n_head_kv, nw = bn_pool_threads(pool);
    int split = a->plan == BNR_ATT_SPLIT;
    if (a->plan == BNR_ATT_AUTO)
        split = nw > 1 && n_groups <= SPLIT_GROUPS && n_groups < 4 * nw;
    if (!split) {
        bn_pool_run(pool, tile_task, a, n_groups);
        return;
    }
    for (int g0 = 0; g0 < n_groups; g0 += SPLIT_GROUPS)
        split_round(a, pool, g0, n_groups - g0 < SPLIT_GROUPS ? n_groups - g0 : SPLIT_GROUPS);
}
