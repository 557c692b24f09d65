/* forward.c - evaluation contexts and the transformer forward pass
 * (FORMATS.md §3), over a batch of tokens that may belong to several sequences.
 *
 * Per layer, for the T tokens of a chunk:
 *     a = RMS(x, attn_norm); Q,K,V = Wq a, Wk a, Wv a         (T x q_dim / kv_dim)
 *     Q,K = RoPE(pos); K,V -> cache (seq, pos)
 *     A = softmax(Q Kᵀ / sqrt(hd) + causal) V                 (per token and head)
 *     x += Wo RMS(A, attn_sub_norm)                           (sub-norm: bitnet archs)
 *     f = RMS(x, ffn_norm); g = act(Wgate f) * (Wup f)
 *     x += Wdown RMS(g, ffn_sub_norm)
 * logits = Wout RMS(x, output_norm), only for the tokens that were asked for.
 *
 * Every token reads its keys and values back from the cache, including those of
 * its own chunk, so a token gives the same bits whether its predecessors were
 * evaluated in this call or an earlier one. */
#include "model_internal.h"

/* Float results must not depend on the compiler: no fused multiply-adds. GCC
 * already keeps ISO C's rule under -std=c11; clang needs to be told. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct bn_ctx {
    bn_model *m;
    bn_ctx_params p;
    bn_kvcache kv;
    bn_mm_scratch *mm;
    int q_dim, kv_dim, wide; /* wide = max(n_embd, q_dim, n_ff) */
    float *rope_cos;        /* (n_ctx, n_rot/2) */
    float *rope_sin;        /* (n_ctx, n_rot/2) */
    /* per-chunk activations, n_batch tokens */
    float *x;               /* (n_batch, n_embd) residual stream */
    float *xb;              /* (n_batch, wide) normed input of a projection */
    float *q;               /* (n_batch, q_dim) */
    float *k;               /* (n_batch, kv_dim) */
    float *v;               /* (n_batch, kv_dim) */
    float *att;             /* (n_batch, q_dim) attention output */
    float *y;               /* (n_batch, n_embd) projection output added to x */
    float *hg;              /* (n_batch, n_ff) gate, then the FFN hidden state */
    float *hu;              /* (n_batch, n_ff) up */
    bnr_att *attn;          /* attention scratch (attention.c) */
    int *seq;               /* (n_batch) sequence of each token */
    int *pos;               /* (n_batch) position of each token */
    int *sel;               /* (n_batch) tokens whose logits are wanted */
    int32_t *tok;           /* (n_batch) token ids of the chunk */
    int n_workers;
    bn_profile *prof;       /* bn_ctx_set_profile, NULL when not profiling */
};

void bn_ctx_params_default(bn_ctx_params *p)
{
    p->n_ctx = 0;
    p->n_seq = 1;
    p->n_batch = 512;
    p->kv_type = BN_KV_F32;
}

const bn_ctx_params *bn_ctx_params_get(const bn_ctx *c) { return &c->p; }
bn_model *bn_ctx_model(const bn_ctx *c) { return c->m; }

void bn_ctx_free(bn_ctx *c)
{
    if (!c)
        return;
    bnr_kv_free(&c->kv);
    bnr_mm_scratch_free(c->mm);
    free(c->rope_cos);
    free(c->rope_sin);
    free(c->x);
    free(c->xb);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->att);
    free(c->y);
    free(c->hg);
    free(c->hu);
    bnr_att_free(c->attn);
    free(c->seq);
    free(c->pos);
    free(c->sel);
    free(c->tok);
    free(c);
}

/* malloc of a*b floats (or ints), NULL on overflow. */
static void *alloc2(size_t a, size_t b, size_t elt)
{
    size_t n;
    if (bn_mul_ovf_size(a, b, &n) || bn_mul_ovf_size(n, elt, &n))
        return NULL;
    return malloc(n ? n : 1);
}

/* cos/sin of the rotation angles of every position, computed as ggml does
 * (ggml_rope_cache_init): theta starts at the position and is multiplied by
 * base^(-2/n_rot) in float32 for each successive pair; linear scaling
 * multiplies the angle by 1/factor. pow, cos and sin are taken in double and
 * rounded once to float, where ggml calls powf/cosf/sinf: those differ in the
 * last bit between C libraries (so ggml builds do not agree among themselves
 * there), the double forms agree with the PyTorch reference bit for bit. */
static void rope_table(bn_ctx *c)
{
    const bn_hparams *hp = &c->m->hp;
    int half = hp->n_rot / 2;
    float theta_scale = (float)pow((double)hp->rope_base, -2.0 / (double)hp->n_rot);
    float freq_scale = 1.0f / hp->rope_scale;
    for (int p = 0; p < c->p.n_ctx; p++) {
        float theta = (float)p;
        for (int i = 0; i < half; i++) {
            float ang = freq_scale * theta;
            c->rope_cos[(size_t)p * half + i] = (float)cos((double)ang);
            c->rope_sin[(size_t)p * half + i] = (float)sin((double)ang);
            theta *= theta_scale;
        }
    }
}

bn_status bn_ctx_new(bn_model *m, const bn_ctx_params *params, bn_ctx **out, bn_error *err)
{
    *out = NULL;
    const bn_hparams *hp = &m->hp;
    bn_ctx_params p;
    bn_ctx_params_default(&p);
    if (params)
        p = *params;
    if (p.n_ctx <= 0)
        p.n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    if (p.n_seq <= 0)
        p.n_seq = 1;
    if (p.n_batch <= 0)
        p.n_batch = 512;
    if (p.n_ctx > (1 << 24) || p.n_seq > 4096 || p.n_batch > (1 << 16))
        return bn_error_set(err, BN_ELIMIT,
                            "context of %d positions x %d sequences, batch %d exceeds the limits "
                            "(2^24, 4096, 65536)",
                            p.n_ctx, p.n_seq, p.n_batch);
    if (p.kv_type != BN_KV_F32 && p.kv_type != BN_KV_F16)
        return bn_error_set(err, BN_EINVAL, "KV cache type %d is unknown", (int)p.kv_type);

    bn_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return bn_error_set(err, BN_ENOMEM, "out of memory for a context");
    c->m = m;
    c->p = p;
    c->q_dim = hp->n_head * hp->head_dim;
    c->kv_dim = hp->n_head_kv * hp->head_dim;
    c->wide = hp->n_embd > c->q_dim ? hp->n_embd : c->q_dim;
    c->wide = c->wide > hp->n_ff ? c->wide : hp->n_ff;
    c->n_workers = bn_pool_threads(m->pool);
    size_t B = (size_t)p.n_batch, half = (size_t)hp->n_rot / 2, f = sizeof(float);
    bn_status st = bnr_kv_init(&c->kv, p.kv_type, hp->n_layer, p.n_seq, p.n_ctx, hp->n_head_kv,
                               hp->head_dim, err);
    if (st || (st = bnr_att_new(hp, p.n_ctx, p.n_batch, c->n_workers, &c->attn, err)))
        goto fail;
    if ((st = bnr_mm_scratch_new(m, p.n_batch, c->wide, &c->mm, err)))
        goto fail;
    c->rope_cos = alloc2((size_t)p.n_ctx, half, f);
    c->rope_sin = alloc2((size_t)p.n_ctx, half, f);
    c->x = alloc2(B, (size_t)hp->n_embd, f);
    c->xb = alloc2(B, (size_t)c->wide, f);
    c->q = alloc2(B, (size_t)c->q_dim, f);
    c->k = alloc2(B, (size_t)c->kv_dim, f);
    c->v = alloc2(B, (size_t)c->kv_dim, f);
    c->att = alloc2(B, (size_t)c->q_dim, f);
    c->y = alloc2(B, (size_t)hp->n_embd, f);
    c->hg = alloc2(B, (size_t)hp->n_ff, f);
    c->hu = alloc2(B, (size_t)hp->n_ff, f);
    c->seq = alloc2(B, 1, sizeof(int));
    c->pos = alloc2(B, 1, sizeof(int));
    c->sel = alloc2(B, 1, sizeof(int));
    c->tok = alloc2(B, 1, sizeof(int32_t));
    if (!c->rope_cos || !c->rope_sin || !c->x || !c->xb || !c->q || !c->k || !c->v ||
        !c->att || !c->y || !c->hg || !c->hu || !c->seq ||
        !c->pos || !c->sel || !c->tok) {
        st = bn_error_set(err, BN_ENOMEM, "out of memory for a context of %d positions, batch %d",
                          p.n_ctx, p.n_batch);
        goto fail;
    }
    rope_table(c);
    *out = c;
    return BN_OK;
fail:
    bn_ctx_free(c);
    return st;
}

void bn_ctx_clear(bn_ctx *c, int seq_id)
{
    for (int s = 0; s < c->p.n_seq; s++)
        if (seq_id < 0 || s == seq_id)
            c->kv.len[s] = 0;
}

int bn_ctx_seq_len(const bn_ctx *c, int seq_id)
{
    return seq_id >= 0 && seq_id < c->p.n_seq ? c->kv.len[seq_id] : 0;
}

/* ---- profiling ------------------------------------------------------------------- */

static const char *const prof_names[BN_PROF_N_OPS] = {
    [BN_PROF_EMBD] = "embd",           [BN_PROF_ATTN_NORM] = "attn_norm",
    [BN_PROF_ACTQ] = "act_quant",      [BN_PROF_ATTN_Q] = "attn_q",
    [BN_PROF_ATTN_K] = "attn_k",       [BN_PROF_ATTN_V] = "attn_v",
    [BN_PROF_ROPE] = "rope+kv_store",  [BN_PROF_ATTN] = "attention",
    [BN_PROF_ATTN_SUB_NORM] = "attn_sub_norm", [BN_PROF_ATTN_OUT] = "attn_output",
    [BN_PROF_FFN_NORM] = "ffn_norm",   [BN_PROF_FFN_GATE] = "ffn_gate",
    [BN_PROF_FFN_UP] = "ffn_up",       [BN_PROF_FFN_ACT] = "ffn_act",
    [BN_PROF_FFN_DOWN] = "ffn_down",   [BN_PROF_RESIDUAL] = "residual",
    [BN_PROF_OUT_NORM] = "output_norm", [BN_PROF_HEAD] = "head",
    [BN_PROF_SAMPLE] = "sampling",
};

const char *bn_prof_op_name(bn_prof_op op)
{
    return (unsigned)op < BN_PROF_N_OPS ? prof_names[op] : "?";
}

void bn_ctx_set_profile(bn_ctx *c, bn_profile *p)
{
    c->prof = p;
    bnr_mm_set_profile(c->mm, p ? &p->op[BN_PROF_ACTQ] : NULL);
}

/* The clock is read only while profiling: off, a step costs one branch. */
static double prof_start(const bn_ctx *c)
{
    return c->prof ? bn_now_seconds() : 0.0;
}

static void prof_end(bn_ctx *c, bn_prof_op op, double t0, double bytes, double ops)
{
    if (!c->prof)
        return;
    bn_prof_stat *s = &c->prof->op[op];
    s->seconds += bn_now_seconds() - t0;
    s->calls += 1;
    s->bytes += bytes;
    s->ops += ops;
}

/* ---- per-token steps ------------------------------------------------------------------ */

/* Rotate n_heads heads of head_dim in v (one token) by the angles of pos. */
static void rope(const bn_ctx *c, float *v, int n_heads, int pos)
{
    const bn_hparams *hp = &c->m->hp;
    int half = hp->n_rot / 2;
    const float *cs = c->rope_cos + (size_t)pos * half, *sn = c->rope_sin + (size_t)pos * half;
    for (int h = 0; h < n_heads; h++) {
        float *hv = v + (size_t)h * hp->head_dim;
        for (int i = 0; i < half; i++) {
            /* NEOX pairs (i, i + n_rot/2); NORM pairs (2i, 2i + 1) */
            int a = hp->rope == BN_ROPE_NEOX ? i : 2 * i;
            int b = hp->rope == BN_ROPE_NEOX ? i + half : 2 * i + 1;
            float x0 = hv[a], x1 = hv[b];
            hv[a] = x0 * cs[i] - x1 * sn[i];
            hv[b] = x0 * sn[i] + x1 * cs[i];
        }
    }
}

/* The steps between the projections, each on tokens independently: a pool
 * task takes a group of consecutive tokens (elementwise.c runs a group's
 * norms side by side; every value is the same whatever the grouping). */
typedef enum {
    OP_ATTN_NORM, OP_ROPE_STORE, OP_ATTN_SUB_NORM, OP_RESIDUAL, OP_FFN_NORM, OP_FFN_ACT
} tok_op;

typedef struct {
    bn_ctx *c;
    const bn_layer *L;
    int l;             /* layer index (the KV cache's) */
    tok_op op;
    int T, group;      /* tokens, tokens per task */
} tok_job;

static void tok_task(void *ctx, int64_t task, int worker)
{
    (void)worker;
    const tok_job *j = ctx;
    bn_ctx *c = j->c;
    const bn_hparams *hp = &c->m->hp;
    const size_t E = (size_t)hp->n_embd, Q = (size_t)c->q_dim, F = (size_t)hp->n_ff;
    const int t0 = (int)task * j->group, n = j->T - t0 < j->group ? j->T - t0 : j->group;
    const size_t t = (size_t)t0;
    switch (j->op) {
    case OP_ATTN_NORM:
        bnr_rmsnorm_rows(c->xb + t * E, E, c->x + t * E, E, j->L->attn_norm, (int)E, n, hp->eps);
        break;
    case OP_ROPE_STORE:
        for (int i = t0; i < t0 + n; i++) {
            float *q = c->q + (size_t)i * Q, *k = c->k + (size_t)i * c->kv_dim;
            rope(c, q, hp->n_head, c->pos[i]);
            rope(c, k, hp->n_head_kv, c->pos[i]);
            bnr_kv_store(&c->kv, j->l, c->seq[i], c->pos[i], k, c->v + (size_t)i * c->kv_dim);
        }
        break;
    case OP_ATTN_SUB_NORM:
        bnr_rmsnorm_rows(c->xb + t * Q, Q, c->att + t * Q, Q, j->L->attn_sub_norm, (int)Q, n,
                         hp->eps);
        break;
    case OP_RESIDUAL:
        bnr_add_into(c->x + t * E, c->y + t * E, (size_t)n * E);
        break;
    case OP_FFN_NORM:
        bnr_rmsnorm_rows(c->xb + t * E, E, c->x + t * E, E, j->L->ffn_norm, (int)E, n, hp->eps);
        break;
    case OP_FFN_ACT:
        if (hp->act == BN_FFN_RELU2)
            bnr_relu2_mul(c->hg + t * F, c->hu + t * F, (size_t)n * F);
        else
            bnr_silu_mul(c->hg + t * F, c->hu + t * F, (size_t)n * F);
        if (j->L->ffn_sub_norm)
            bnr_rmsnorm_rows(c->hg + t * F, F, c->hg + t * F, F, j->L->ffn_sub_norm, (int)F, n,
                             hp->eps);
        break;
    }
}

/* Groups of BN_NORM_ROWS tokens, smaller when that would leave workers idle. */
static void per_token(bn_ctx *c, const bn_layer *L, int l, tok_op op, int T)
{
    static const bn_prof_op prof_op[] = {BN_PROF_ATTN_NORM,     BN_PROF_ROPE,
                                         BN_PROF_ATTN_SUB_NORM, BN_PROF_RESIDUAL,
                                         BN_PROF_FFN_NORM,      BN_PROF_FFN_ACT};
    double t0 = prof_start(c);
    int group = (T + c->n_workers - 1) / c->n_workers;
    tok_job j = {c, L, l, op, T, group < BN_NORM_ROWS ? group : BN_NORM_ROWS};
    bn_pool_run(c->m->pool, tok_task, &j, (T + j.group - 1) / j.group);
    prof_end(c, prof_op[op], t0, 0.0, 0.0);
}

/* y = W x for the T tokens of the current input; profiled under op, the
 * input's quantization (timed by matmul.c into BN_PROF_ACTQ) left out. */
static bn_status project(bn_ctx *c, const bn_weight *w, float *y, int T, bn_prof_op op,
                         bn_error *err)
{
    if (!c->prof)
        return bnr_matmul(c->m, c->mm, w, y, err);
    double q0 = c->prof->op[BN_PROF_ACTQ].seconds, t0 = bn_now_seconds();
    bn_status st = bnr_matmul(c->m, c->mm, w, y, err);
    bn_prof_stat *s = &c->prof->op[op];
    s->seconds += bn_now_seconds() - t0 - (c->prof->op[BN_PROF_ACTQ].seconds - q0);
    s->calls += 1;
    /* the bytes the kernels read: a TQ1_0 tensor repacked as TQ2_0 (model.c) reads more */
    s->bytes += bn_type_is_ternary(w->type) && w->q.type != w->type
                    ? (double)w->q.row_bytes * (double)w->q.ne1
                    : (double)w->nbytes;
    s->ops += 2.0 * w->n_in * (double)w->n_out * T;
    return st;
}

/* Bytes of K and V the attention of the chunk read (each row once per tile
 * of queries, attention.c), and its flops (Q.K and the weighted sum of V, per
 * head): for the profile only. */
static void attention_traffic(const bn_ctx *c, int T, double *bytes, double *ops)
{
    const bn_hparams *hp = &c->m->hp;
    double keys = 0.0;
    for (int t = 0; t < T; t++)
        keys += c->pos[t] + 1;
    *bytes = bnr_att_kv_bytes(c->attn);
    *ops = keys * hp->n_head * 4.0 * hp->head_dim;
}

static bn_status layer_forward(bn_ctx *c, int l, int T, bn_error *err)
{
    const bn_model *m = c->m;
    const bn_hparams *hp = &m->hp;
    const bn_layer *L = &m->layers[l];
    int E = hp->n_embd, F = hp->n_ff;
    bn_status st;

    per_token(c, L, l, OP_ATTN_NORM, T);
    bnr_mm_set_input(c->mm, c->xb, T, E);
    if ((st = project(c, &L->wq, c->q, T, BN_PROF_ATTN_Q, err)) ||
        (st = project(c, &L->wk, c->k, T, BN_PROF_ATTN_K, err)) ||
        (st = project(c, &L->wv, c->v, T, BN_PROF_ATTN_V, err)))
        return st;
    per_token(c, L, l, OP_ROPE_STORE, T);
    double t0 = prof_start(c);
    bnr_attention(c->attn, m->pool, &c->kv, l, c->q, c->seq, c->pos, T, c->att);
    if (c->prof) {
        double bytes, ops;
        attention_traffic(c, T, &bytes, &ops);
        prof_end(c, BN_PROF_ATTN, t0, bytes, ops);
    }

    if (L->attn_sub_norm)
        per_token(c, L, l, OP_ATTN_SUB_NORM, T);
    bnr_mm_set_input(c->mm, L->attn_sub_norm ? c->xb : c->att, T, c->q_dim);
    if ((st = project(c, &L->wo, c->y, T, BN_PROF_ATTN_OUT, err)))
        return st;
    per_token(c, L, l, OP_RESIDUAL, T);

    per_token(c, L, l, OP_FFN_NORM, T);
    bnr_mm_set_input(c->mm, c->xb, T, E);
    if ((st = project(c, &L->wgate, c->hg, T, BN_PROF_FFN_GATE, err)) ||
        (st = project(c, &L->wup, c->hu, T, BN_PROF_FFN_UP, err)))
        return st;
    per_token(c, L, l, OP_FFN_ACT, T);
    bnr_mm_set_input(c->mm, c->hg, T, F);
    if ((st = project(c, &L->wdown, c->y, T, BN_PROF_FFN_DOWN, err)))
        return st;
    per_token(c, L, l, OP_RESIDUAL, T);
    return BN_OK;
}

/* Tokens tok[0..T) with c->seq/c->pos filled; logits of the n_sel tokens listed
 * in c->sel go to logits (n_sel, n_vocab). */
static bn_status chunk_forward(bn_ctx *c, const int32_t *tok, int T, int n_sel, float *logits,
                               bn_error *err)
{
    const bn_model *m = c->m;
    const bn_hparams *hp = &m->hp;
    int E = hp->n_embd;
    double t0 = prof_start(c);
    for (int t = 0; t < T; t++)
        bnr_weight_row_f32(&m->tok_embd, tok[t], c->x + (size_t)t * E);
    prof_end(c, BN_PROF_EMBD, t0, (double)T * m->tok_embd.row_bytes, 0.0);
    bn_status st;
    for (int l = 0; l < hp->n_layer; l++)
        if ((st = layer_forward(c, l, T, err)))
            return st;
    if (n_sel == 0)
        return BN_OK;
    /* normed final states of the selected tokens, gathered (rows of xb) */
    t0 = prof_start(c);
    for (int i = 0; i < n_sel; i++)
        bnr_rmsnorm_rows(c->xb + (size_t)i * E, (size_t)E, c->x + (size_t)c->sel[i] * E,
                         (size_t)E, m->output_norm, E, 1, hp->eps);
    prof_end(c, BN_PROF_OUT_NORM, t0, 0.0, 0.0);
    bnr_mm_set_input(c->mm, c->xb, n_sel, E);
    return project(c, &m->output, logits, n_sel, BN_PROF_HEAD, err);
}

/* ---- public evaluation ------------------------------------------------------------------- */

static bn_status check_items(const bn_ctx *c, const bn_seq_tokens *items, int n_items,
                             bn_error *err)
{
    if (n_items < 1)
        return bn_error_set(err, BN_EINVAL, "eval: %d sequences in a batch", n_items);
    for (int i = 0; i < n_items; i++) {
        const bn_seq_tokens *it = &items[i];
        if (it->seq_id < 0 || it->seq_id >= c->p.n_seq)
            return bn_error_set(err, BN_EINVAL, "eval: sequence id %d is outside [0, %d)",
                                it->seq_id, c->p.n_seq);
        for (int j = 0; j < i; j++)
            if (items[j].seq_id == it->seq_id)
                return bn_error_set(err, BN_EINVAL, "eval: sequence id %d appears twice in a batch",
                                    it->seq_id);
        if (it->n < 1 || !it->tokens)
            return bn_error_set(err, BN_EINVAL, "eval: sequence %d has %d tokens", it->seq_id,
                                it->n);
        if (it->pos0 < 0 || it->pos0 > c->kv.len[it->seq_id])
            return bn_error_set(err, BN_EINVAL,
                                "eval: sequence %d starts at position %d but holds %d positions",
                                it->seq_id, it->pos0, c->kv.len[it->seq_id]);
        if (it->n > c->p.n_ctx - it->pos0)
            return bn_error_set(err, BN_ELIMIT,
                                "eval: sequence %d: positions %d..%d exceed the context of %d",
                                it->seq_id, it->pos0, it->pos0 + it->n - 1, c->p.n_ctx);
        for (int j = 0; j < it->n; j++)
            if (it->tokens[j] < 0 || it->tokens[j] >= c->m->hp.n_vocab)
                return bn_error_set(err, BN_EINVAL,
                                    "eval: sequence %d token %d is id %d, outside [0, %d)",
                                    it->seq_id, j, (int)it->tokens[j], c->m->hp.n_vocab);
    }
    return BN_OK;
}

bn_status bn_ctx_eval_batch(bn_ctx *c, const bn_seq_tokens *items, int n_items,
                            bn_logits_mode mode, float *logits, bn_error *err)
{
    bn_status st = check_items(c, items, n_items, err);
    if (st)
        return st;
    if (mode != BN_LOGITS_NONE && mode != BN_LOGITS_LAST && mode != BN_LOGITS_ALL)
        return bn_error_set(err, BN_EINVAL, "eval: logits mode %d is unknown", (int)mode);
    if (mode != BN_LOGITS_NONE && !logits)
        return bn_error_set(err, BN_EINVAL, "eval: no logits buffer");
    for (int i = 0; i < n_items; i++)
        c->kv.len[items[i].seq_id] = items[i].pos0;

    /* The items' tokens form one stream, cut into chunks of n_batch; logits rows
     * of the tokens selected in a chunk are consecutive in the output. No
     * allocation per call: a decode step is one call per token. */
    int32_t *tok = c->tok;
    size_t V = (size_t)c->m->hp.n_vocab, out_row = 0;
    int T = 0, n_sel = 0;
    for (int i = 0; i < n_items && !st; i++) {
        const bn_seq_tokens *it = &items[i];
        for (int j = 0; j < it->n && !st; j++) {
            tok[T] = it->tokens[j];
            c->seq[T] = it->seq_id;
            c->pos[T] = it->pos0 + j;
            if (mode == BN_LOGITS_ALL || (mode == BN_LOGITS_LAST && j == it->n - 1))
                c->sel[n_sel++] = T;
            T++;
            int last = i == n_items - 1 && j == it->n - 1;
            if (T == c->p.n_batch || last) {
                st = chunk_forward(c, tok, T, n_sel, n_sel ? logits + out_row * V : NULL, err);
                out_row += (size_t)n_sel;
                T = n_sel = 0;
            }
        }
    }
    for (int i = 0; i < n_items; i++)
        c->kv.len[items[i].seq_id] = st ? items[i].pos0 : items[i].pos0 + items[i].n;
    return st;
}

bn_status bn_ctx_eval(bn_ctx *c, int seq_id, const int32_t *tokens, int n, int pos0,
                      bn_logits_mode mode, float *logits, bn_error *err)
{
    bn_seq_tokens it = {seq_id, tokens, n, pos0};
    return bn_ctx_eval_batch(c, &it, 1, mode, logits, err);
}
