/* model.c - bn_model: hyperparameters from GGUF metadata, tensor binding and
 * validation, thread pool and kernel choice. The forward pass is in forward.c. */
#include "model_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bn_model_opts_default(bn_model_opts *opts)
{
    opts->n_threads = 0;
    opts->kernel = NULL;
    opts->actq = BN_ACTQ_TOKEN;
    opts->tq1_file_layout = 0;
}

const char *bn_actq_name(bn_actq q)
{
    return q == BN_ACTQ_Q8K ? "q8_k" : "token";
}

bn_status bn_actq_parse(const char *name, bn_actq *out, bn_error *err)
{
    if (!strcmp(name, "token"))
        *out = BN_ACTQ_TOKEN;
    else if (!strcmp(name, "q8_k"))
        *out = BN_ACTQ_Q8K;
    else
        return bn_error_set(err, BN_EINVAL,
                            "unknown activation quantization '%s' (known: token, q8_k)", name);
    return BN_OK;
}

/* ---- hyperparameters ------------------------------------------------------------ */

/* The table's reader refuses on its first problem here (bn-verify --check lists
 * them all with the same reader). */
typedef struct {
    bn_error *err;
    const char *path;
} first_problem;

static void keep_first(void *ctx, const char *msg)
{
    first_problem *f = ctx;
    if (f->err->code == BN_OK)
        bn_error_set(f->err, BN_EINVAL, "%s: %s", f->path, msg);
}

static bn_status read_hparams(const bn_gguf *g, const char *path, bn_hparams *hp, bn_error *err)
{
    bn_error_clear(err);
    first_problem fp = {err, path};
    bn_arch_sink sink = {keep_first, &fp, 0, 0};
    bn_arch_hparams h;
    bn_arch_read_hparams(g, &h, &sink);
    if (sink.n_problems) {
        if (!h.arch)
            err->code = BN_EUNSUPPORTED;
        return err->code;
    }
    const bn_arch_info *a = h.arch;
    hp->arch = a->id;
    hp->arch_name = a->gguf_name;
    hp->n_ctx_train = (int)h.n_ctx;
    hp->n_embd = (int)h.n_embd;
    hp->n_layer = (int)h.n_layer;
    hp->n_ff = (int)h.n_ff;
    hp->n_head = (int)h.n_head;
    hp->n_head_kv = (int)h.n_head_kv;
    hp->head_dim = (int)h.head_dim;
    hp->n_rot = (int)h.n_rot;
    hp->n_vocab = (int)h.n_vocab; /* 0 when absent; bind_tensors takes token_embd's rows */
    hp->eps = h.eps;
    hp->rope_base = h.rope_base;
    hp->rope_scale = h.rope_scale;
    hp->rope = a->rope;
    hp->act = a->act;
    hp->has_sub_norms = a->has_sub_norms;
    return BN_OK;
}

/* ---- tensors -------------------------------------------------------------------- */

typedef struct {
    const bn_gguf *g;
    const char *path;
    bn_arch_dims dims;
    uint8_t *used;          /* (n_tensors) 1 once bound */
    bn_error *err;
} binder;

/* The tensor of entry t (layer l), checked by the table's shape/type rule and
 * marked used (its contents are checked by check_contents); NULL with the error in *st otherwise. */
static const bn_gguf_tensor *find(binder *b, const bn_arch_tensor *t, int64_t l, bn_status *st)
{
    char name[BN_GGUF_MAX_NAME + 1];
    bn_arch_gguf_tensor_name(t, l, name, sizeof name);
    const bn_gguf_tensor *g = bn_gguf_find_tensor(b->g, name);
    if (!g) {
        *st = bn_error_set(b->err, BN_EINVAL, "%s: tensor '%s' is missing", b->path, name);
        return NULL;
    }
    for (int64_t i = 0; i < bn_gguf_n_tensors(b->g); i++)
        if (bn_gguf_tensor_at(b->g, i) == g)
            b->used[i] = 1;
    if ((*st = bn_arch_check_tensor(g, t, &b->dims, b->err))) {
        bn_error_prefix(b->err, "%s", b->path);
        return NULL;
    }
    return g;
}

/* Bind a matrix (GGUF ne = [n_in, n_out]). The per-tensor scale of a ternary
 * weight: I2_S keeps it in the tail; TQ keeps it per block as fp16 (d = max|x|
 * of the block, the tensor scale for every non-zero block), so the scale stays
 * with the blocks and is 1 here. */
static bn_status bind_matrix(binder *b, const bn_arch_tensor *t, int64_t l, bn_weight *w)
{
    memset(w, 0, sizeof *w);
    bn_status st;
    const bn_gguf_tensor *g = find(b, t, l, &st);
    if (!g)
        return st;
    w->name = g->name;
    w->type = g->type;
    w->n_in = (int)g->ne[0];
    w->n_out = (int)g->ne[1];
    w->data = g->data;
    w->nbytes = g->nbytes;
    w->row_bytes = bn_type_row_bytes(g->type, w->n_in);
    w->scale = w->type == BN_TYPE_I2_S ? bn_i2s_tail_scale(g->data, g->n_el) : 1.0f;
    if (bn_type_is_ternary(w->type) &&
        bn_qmat_init(&w->q, w->type, w->data, (size_t)w->nbytes, w->n_in, w->n_out, b->err) != BN_OK)
        return bn_error_prefix(b->err, "%s: tensor '%s'", b->path, g->name);
    return BN_OK;
}

/* Copy an F32 vector (a norm weight) out of the mapping. */
static bn_status bind_vector(binder *b, const bn_arch_tensor *t, int64_t l, float **out)
{
    bn_status st;
    const bn_gguf_tensor *g = find(b, t, l, &st);
    if (!g)
        return st;
    size_t n = (size_t)g->ne[0];
    *out = malloc(n * sizeof **out);
    if (!*out)
        return bn_error_set(b->err, BN_ENOMEM, "%s: out of memory for tensor '%s'", b->path,
                            g->name);
    memcpy(*out, g->data, n * sizeof **out);
    for (size_t i = 0; i < n; i++)
        if (!isfinite((*out)[i]))
            return bn_error_set(b->err, BN_EINVAL, "%s: tensor '%s' element %zu is %g", b->path,
                                g->name, i, (*out)[i]);
    return BN_OK;
}

/* Where a role's tensor goes in the model: a matrix or a vector. */
static bn_weight *matrix_of(bn_model *m, bn_layer *L, bn_role r)
{
    switch (r) {
    case BN_ROLE_ATTN_Q: return &L->wq;
    case BN_ROLE_ATTN_K: return &L->wk;
    case BN_ROLE_ATTN_V: return &L->wv;
    case BN_ROLE_ATTN_OUTPUT: return &L->wo;
    case BN_ROLE_FFN_GATE: return &L->wgate;
    case BN_ROLE_FFN_UP: return &L->wup;
    case BN_ROLE_FFN_DOWN: return &L->wdown;
    case BN_ROLE_TOKEN_EMBD: return &m->tok_embd;
    case BN_ROLE_OUTPUT: return &m->output;
    default: return NULL;
    }
}

static float **vector_of(bn_model *m, bn_layer *L, bn_role r)
{
    switch (r) {
    case BN_ROLE_OUTPUT_NORM: return &m->output_norm;
    case BN_ROLE_ATTN_NORM: return &L->attn_norm;
    case BN_ROLE_ATTN_SUB_NORM: return &L->attn_sub_norm;
    case BN_ROLE_FFN_NORM: return &L->ffn_norm;
    case BN_ROLE_FFN_SUB_NORM: return &L->ffn_sub_norm;
    default: return NULL;
    }
}

/* A layer's seven projection matrices, in file order. */
#define N_PROJ 7
static void layer_projections(bn_layer *L, bn_weight *ws[N_PROJ])
{
    bn_weight *const all[N_PROJ] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->wgate, &L->wup,
                                    &L->wdown};
    memcpy(ws, all, sizeof all);
}

/* The content rules of quantized data (gguf.h, the same function as bn-verify
 * --check) over every tensor, on the pool: they read every byte of the
 * projections (about 1 GB for a 2B model). The first bad tensor in file order
 * is reported, so the message does not depend on the threads. */
typedef struct {
    const bn_gguf *g;
    uint8_t *bad;           /* (n_tensors) */
} content_job;

static void content_task(void *ctx, int64_t i, int worker)
{
    (void)worker;
    const content_job *j = ctx;
    bn_error e;
    j->bad[i] = bn_gguf_check_tensor_data(bn_gguf_tensor_at(j->g, i), &e) != BN_OK;
}

static bn_status check_contents(bn_model *m, const char *path, bn_error *err)
{
    int64_t nt = bn_gguf_n_tensors(m->g);
    content_job j = {m->g, calloc((size_t)(nt > 0 ? nt : 1), 1)};
    if (!j.bad)
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory", path);
    bn_pool_run(m->pool, content_task, &j, nt);
    bn_status st = BN_OK;
    for (int64_t i = 0; i < nt && !st; i++)
        if (j.bad[i] && (st = bn_gguf_check_tensor_data(bn_gguf_tensor_at(m->g, i), err)))
            bn_error_prefix(err, "%s", path);
    free(j.bad);
    return st;
}

/* n_vocab comes from the embedding's shape; vocab_size, if given, must agree. */
static bn_status vocab_from_embd(bn_model *m, const char *path, bn_error *err)
{
    bn_hparams *hp = &m->hp;
    const bn_gguf_tensor *te = bn_gguf_find_tensor(m->g, "token_embd.weight");
    if (!te)
        return bn_error_set(err, BN_EINVAL, "%s: tensor 'token_embd.weight' is missing", path);
    if (te->ne[1] < 1 || te->ne[1] > BN_ARCH_MAX_VOCAB)
        return bn_error_set(err, BN_EINVAL, "%s: tensor 'token_embd.weight' has %lld rows, "
                            "expected 1..%d", path, (long long)te->ne[1], BN_ARCH_MAX_VOCAB);
    if (hp->n_vocab && hp->n_vocab != te->ne[1])
        return bn_error_set(err, BN_EINVAL, "%s: key '%s.vocab_size' = %d but token_embd.weight "
                            "has %lld rows", path, hp->arch_name, hp->n_vocab,
                            (long long)te->ne[1]);
    hp->n_vocab = (int)te->ne[1];
    return BN_OK;
}

static bn_status bind_tensors(bn_model *m, const char *path, bn_error *err)
{
    bn_hparams *hp = &m->hp;
    const bn_arch_info *a = bn_arch_get(hp->arch);
    int64_t nt = bn_gguf_n_tensors(m->g);
    bn_status st = vocab_from_embd(m, path, err);
    if (st)
        return st;
    binder b = {m->g, path,
                {hp->n_embd, hp->n_ff, hp->n_vocab, hp->n_head, hp->n_head_kv, hp->head_dim},
                calloc((size_t)(nt > 0 ? nt : 1), 1), err};
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!b.used || !m->layers) {
        st = bn_error_set(err, BN_ENOMEM, "%s: out of memory for %d layers", path, hp->n_layer);
        goto out;
    }
    int has_output = bn_gguf_find_tensor(m->g, "output.weight") != NULL;
    size_t n = bn_arch_n_tensors(a, hp->n_layer, has_output);
    for (size_t i = 0; i < n && !st; i++) {
        const bn_arch_tensor *t;
        int64_t l;
        bn_arch_tensor_at(a, hp->n_layer, has_output, i, &t, &l);
        bn_layer *L = &m->layers[l >= 0 ? l : 0]; /* global roles ignore it */
        bn_weight *w = matrix_of(m, L, t->role);
        float **v = vector_of(m, L, t->role);
        if (w)
            st = bind_matrix(&b, t, l, w);
        else if (v)
            st = bind_vector(&b, t, l, v);
        else
            st = bn_error_set(err, BN_EINVAL, "%s: architecture %s: no place for tensor role %s",
                              path, a->name, bn_role_name(t->role));
    }
    if (st)
        goto out;
    hp->tied_output = !has_output;
    if (!has_output && a->head == BN_HEAD_UNTIED) {
        st = bn_error_set(err, BN_EINVAL, "%s: tensor 'output.weight' is missing", path);
        goto out;
    }
    if (!has_output)
        m->output = m->tok_embd;
    hp->embd_type = m->tok_embd.type;
    hp->proj_type = m->layers[0].wq.type;
    for (int l = 0; l < hp->n_layer && !m->has_ternary; l++) {
        bn_weight *ws[N_PROJ];
        layer_projections(&m->layers[l], ws);
        for (int i = 0; i < N_PROJ; i++)
            m->has_ternary |= bn_type_is_ternary(ws[i]->type);
    }

    /* llama.cpp refuses files with tensors it did not load; so do we */
    for (int64_t i = 0; i < nt; i++) {
        if (!b.used[i]) {
            st = bn_error_set(err, BN_EINVAL, "%s: unexpected tensor '%s' for architecture %s",
                              path, bn_gguf_tensor_at(m->g, i)->name, hp->arch_name);
            goto out;
        }
    }
out:
    free(b.used);
    return st;
}

/* ---- runtime layouts -------------------------------------------------------------- */

/* TQ1_0 projections repacked as TQ2_0 (kernels.h bn_qmat_tq1_to_tq2_rows) into one
 * buffer, each tensor 64-byte aligned, rows split across the pool. The file's
 * type stays in w->type (what the file is, for the activation rules and the
 * tools); w->q, what the kernels read, describes the repacked bytes. */
typedef struct {
    const bn_qmat *src;
    uint8_t *dst;
    int64_t rows;           /* per task */
} repack_job;

static void repack_task(void *ctx, int64_t task, int worker)
{
    (void)worker;
    const repack_job *j = ctx;
    int64_t r0 = task * j->rows, r1 = r0 + j->rows < j->src->ne1 ? r0 + j->rows : j->src->ne1;
    bn_qmat_tq1_to_tq2_rows(j->src, r0, r1, j->dst);
}

/* Bytes of w as TQ2_0, rounded up to 64 so every tensor in the buffer is aligned. */
static size_t repacked_size(const bn_weight *w)
{
    return (bn_type_row_bytes(BN_TYPE_TQ2_0, w->n_in) * (size_t)w->n_out + 63) / 64 * 64;
}

static bn_status repack_tq1(bn_model *m, const char *path, bn_error *err)
{
    size_t total = 0;
    for (int l = 0; l < m->hp.n_layer; l++) {
        bn_weight *ws[N_PROJ];
        layer_projections(&m->layers[l], ws);
        for (int i = 0; i < N_PROJ; i++)
            total += ws[i]->type == BN_TYPE_TQ1_0 ? repacked_size(ws[i]) : 0;
    }
    if (!total)
        return BN_OK;
    if (!(m->repack = aligned_alloc(64, total)))
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory for %.1f MiB of TQ1_0 projections "
                            "repacked as TQ2_0 (tq1_file_layout keeps the file's)", path,
                            (double)total / 1048576.0);
    m->repack_bytes = total;
    uint8_t *at = m->repack;
    for (int l = 0; l < m->hp.n_layer; l++) {
        bn_weight *ws[N_PROJ];
        layer_projections(&m->layers[l], ws);
        for (int i = 0; i < N_PROJ; i++) {
            bn_weight *w = ws[i];
            if (w->type != BN_TYPE_TQ1_0)
                continue;
            repack_job j = {&w->q, at, 64};
            bn_pool_run(m->pool, repack_task, &j, (w->q.ne1 + j.rows - 1) / j.rows);
            const size_t bytes = bn_type_row_bytes(BN_TYPE_TQ2_0, w->n_in) * (size_t)w->n_out;
            bn_status st = bn_qmat_init(&w->q, BN_TYPE_TQ2_0, at, bytes, w->q.ne0, w->q.ne1, err);
            if (st)
                return bn_error_prefix(err, "%s: tensor '%s' repacked", path, w->name);
            at += repacked_size(w);
        }
    }
    return BN_OK;
}

/* ---- lifecycle ------------------------------------------------------------------ */

static bn_status load_tokenizer(bn_model *m, const char *path, bn_error *err)
{
    if (!bn_gguf_find_kv(m->g, "tokenizer.ggml.model"))
        return BN_OK;
    bn_status st = bn_tokenizer_from_gguf(m->g, &m->tok, err);
    if (st)
        return bn_error_prefix(err, "%s", path);
    if (bn_tokenizer_n_tokens(m->tok) > (uint32_t)m->hp.n_vocab)
        return bn_error_set(err, BN_EINVAL, "%s: tokenizer has %u tokens but the model only %d",
                            path, bn_tokenizer_n_tokens(m->tok), m->hp.n_vocab);
    return BN_OK;
}

bn_status bn_model_load_gguf(bn_gguf *g, const bn_model_opts *opts, bn_model **out,
                             bn_error *err)
{
    *out = NULL;
    bn_model_opts def;
    if (!opts) {
        bn_model_opts_default(&def);
        opts = &def;
    }
    bn_model *m = calloc(1, sizeof *m);
    if (!m)
        return bn_error_set(err, BN_ENOMEM, "out of memory");
    const char *path = bn_gguf_path(g);
    bn_status st;
    if ((st = read_hparams(g, path, &m->hp, err)))
        goto fail;
    m->g = g;
    if ((st = bn_pool_create(opts->n_threads, &m->pool, err)))
        goto fail;
    m->n_threads = bn_pool_threads(m->pool);
    if ((st = bind_tensors(m, path, err)) || (st = check_contents(m, path, err)))
        goto fail;
    if (!opts->tq1_file_layout && (st = repack_tq1(m, path, err)))
        goto fail;
    if (opts->kernel && *opts->kernel)
        st = bn_model_set_kernel(m, opts->kernel, err);
    else
        st = bn_kernel_best(&m->kernel, err); /* honours BN_KERNEL */
    if (st)
        goto fail;
    if ((st = bn_model_set_actq(m, opts->actq, err)))
        goto fail;
    if ((st = load_tokenizer(m, path, err)))
        goto fail;
    *out = m;
    return BN_OK;
fail:
    m->g = NULL; /* the caller keeps g on failure */
    bn_model_free(m);
    return st;
}

bn_status bn_model_load(const char *path, const bn_model_opts *opts, bn_model **out,
                        bn_error *err)
{
    *out = NULL;
    bn_gguf *g;
    bn_status st = bn_gguf_open(path, &g, err);
    if (st)
        return st;
    st = bn_model_load_gguf(g, opts, out, err);
    if (st)
        bn_gguf_close(g);
    return st;
}

void bn_model_free(bn_model *m)
{
    if (!m)
        return;
    if (m->layers) {
        for (int l = 0; l < m->hp.n_layer; l++) {
            free(m->layers[l].attn_norm);
            free(m->layers[l].attn_sub_norm);
            free(m->layers[l].ffn_norm);
            free(m->layers[l].ffn_sub_norm);
        }
        free(m->layers);
    }
    free(m->output_norm);
    free(m->repack);
    bn_tokenizer_free(m->tok);
    bn_pool_destroy(m->pool);
    bn_gguf_close(m->g);
    free(m);
}

const bn_hparams *bn_model_hparams(const bn_model *m) { return &m->hp; }
const bn_gguf *bn_model_gguf(const bn_model *m) { return m->g; }
int bn_model_n_threads(const bn_model *m) { return m->n_threads; }

const bn_tokenizer *bn_model_tokenizer(const bn_model *m) { return m->tok; }

const char *bn_model_kernel(const bn_model *m)
{
    return m->has_ternary ? m->kernel->name : "none";
}

bn_status bn_model_set_kernel(bn_model *m, const char *name, bn_error *err)
{
    const bn_kernel *k;
    bn_status st = bn_kernel_get(name, &k, err);
    if (st)
        return st; /* the message lists the known kernels */
    m->kernel = k;
    return BN_OK;
}

bn_actq bn_model_actq(const bn_model *m) { return m->actq; }

bn_status bn_model_set_actq(bn_model *m, bn_actq q, bn_error *err)
{
    bn_type t = m->hp.proj_type;
    if (q == BN_ACTQ_Q8K && t != BN_TYPE_TQ1_0 && t != BN_TYPE_TQ2_0)
        return bn_error_set(err, BN_EINVAL,
                            "%s: q8_k activations are llama.cpp's for TQ1_0/TQ2_0 projections; "
                            "these are %s (use token)",
                            bn_gguf_path(m->g), bn_type_name(t));
    m->actq = q;
    return BN_OK;
}

uint64_t bn_model_repacked_bytes(const bn_model *m) { return m->repack_bytes; }

uint64_t bn_model_weight_bytes(const bn_model *m)
{
    uint64_t n = 0;
    for (int64_t i = 0; i < bn_gguf_n_tensors(m->g); i++)
        n += bn_gguf_tensor_at(m->g, i)->nbytes;
    return n;
}
