/* model.c - bn_model: hyperparameters from GGUF metadata, tensor binding and
 * validation, thread pool and kernel choice. The forward pass is in forward.c. */
#include "model_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Caps that keep scratch and cache sizes sane before anything is allocated;
 * far above every released BitNet/Llama shape. */
#define MAX_EMBD (1 << 16)
#define MAX_FF (1 << 18)
#define MAX_LAYER 1024
#define MAX_HEAD 1024
#define MAX_VOCAB (1 << 22)

void bn_model_opts_default(bn_model_opts *opts)
{
    opts->n_threads = 0;
    opts->kernel = NULL;
    opts->actq = BN_ACTQ_TOKEN;
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

typedef struct {
    const bn_gguf *g;
    const char *path;
    const char *arch;
    bn_error *err;
} kv_reader;

/* "{arch}.suffix" */
static void arch_key(const kv_reader *r, const char *suffix, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s.%s", r->arch, suffix);
}

/* The status of looking up key: BN_ENOTFOUND passes through when the key is
 * optional (the caller uses its default); a missing required key or a wrong
 * type becomes an error naming the file and key. */
static bn_status hp_lookup(const kv_reader *r, const char *key, bn_status st, int optional)
{
    if (st == BN_ENOTFOUND && optional)
        return BN_ENOTFOUND;
    if (st == BN_ENOTFOUND)
        return bn_error_set(r->err, BN_EINVAL, "%s: required key '%s' is missing", r->path, key);
    if (st)
        return bn_error_prefix(r->err, "%s", r->path);
    return BN_OK;
}

/* A u32 hyperparameter in [lo, hi]. def < 0: required. */
static bn_status hp_u32(const kv_reader *r, const char *suffix, long def, long lo, long hi,
                        int *out)
{
    char key[128];
    arch_key(r, suffix, key, sizeof key);
    uint32_t v = 0;
    bn_status st = hp_lookup(r, key, bn_gguf_get_u32(r->g, key, &v, r->err), def >= 0);
    if (st == BN_ENOTFOUND)
        v = (uint32_t)def;
    else if (st)
        return st;
    else if ((long)v < lo || (long)v > hi)
        return bn_error_set(r->err, BN_EINVAL, "%s: key '%s' = %u is outside [%ld, %ld]", r->path,
                            key, v, lo, hi);
    *out = (int)v;
    return BN_OK;
}

/* An f32 hyperparameter, finite and > 0. def < 0: required. */
static bn_status hp_f32(const kv_reader *r, const char *suffix, float def, float *out)
{
    char key[128];
    arch_key(r, suffix, key, sizeof key);
    float v = 0.0f;
    bn_status st = hp_lookup(r, key, bn_gguf_get_f32(r->g, key, &v, r->err), def >= 0);
    if (st == BN_ENOTFOUND)
        v = def;
    else if (st)
        return st;
    else if (!isfinite(v) || v <= 0.0f)
        return bn_error_set(r->err, BN_EINVAL, "%s: key '%s' = %g is not a positive finite number",
                            r->path, key, v);
    *out = v;
    return BN_OK;
}

static bn_status read_arch(const bn_gguf *g, const char *path, bn_hparams *hp, bn_error *err)
{
    bn_str s;
    bn_status st = bn_gguf_get_str(g, "general.architecture", &s, err);
    if (st == BN_ENOTFOUND)
        return bn_error_set(err, BN_EINVAL, "%s: key 'general.architecture' is missing", path);
    if (st)
        return bn_error_prefix(err, "%s", path);
    static const struct {
        const char *name;
        bn_arch arch;
    } archs[] = {{"bitnet", BN_ARCH_BITNET},
                 {"bitnet-b1.58", BN_ARCH_BITNET_B158},
                 {"llama", BN_ARCH_LLAMA}};
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++) {
        if (s.len == strlen(archs[i].name) && memcmp(s.ptr, archs[i].name, s.len) == 0) {
            hp->arch = archs[i].arch;
            hp->arch_name = archs[i].name;
            return BN_OK;
        }
    }
    return bn_error_set(err, BN_EUNSUPPORTED,
                        "%s: architecture '%.*s' is not supported (bitnet, bitnet-b1.58, llama)",
                        path, (int)(s.len > 64 ? 64 : s.len), s.ptr);
}

static bn_status read_hparams(const bn_gguf *g, const char *path, bn_hparams *hp, bn_error *err)
{
    bn_status st = read_arch(g, path, hp, err);
    if (st)
        return st;
    kv_reader r = {g, path, hp->arch_name, err};
    if ((st = hp_u32(&r, "context_length", -1, 1, 1 << 24, &hp->n_ctx_train)) ||
        (st = hp_u32(&r, "embedding_length", -1, 1, MAX_EMBD, &hp->n_embd)) ||
        (st = hp_u32(&r, "block_count", -1, 1, MAX_LAYER, &hp->n_layer)) ||
        (st = hp_u32(&r, "feed_forward_length", -1, 1, MAX_FF, &hp->n_ff)) ||
        (st = hp_u32(&r, "attention.head_count", -1, 1, MAX_HEAD, &hp->n_head)) ||
        (st = hp_u32(&r, "attention.head_count_kv", hp->n_head, 1, MAX_HEAD, &hp->n_head_kv)) ||
        (st = hp_f32(&r, "attention.layer_norm_rms_epsilon", -1.0f, &hp->eps)) ||
        (st = hp_f32(&r, "rope.freq_base", 10000.0f, &hp->rope_base)))
        return st;
    if (hp->n_embd % hp->n_head != 0)
        return bn_error_set(err, BN_EINVAL,
                            "%s: embedding_length %d is not a multiple of head_count %d", path,
                            hp->n_embd, hp->n_head);
    if (hp->n_head % hp->n_head_kv != 0)
        return bn_error_set(err, BN_EINVAL,
                            "%s: head_count %d is not a multiple of head_count_kv %d", path,
                            hp->n_head, hp->n_head_kv);
    hp->head_dim = hp->n_embd / hp->n_head;
    if ((st = hp_u32(&r, "rope.dimension_count", hp->head_dim, 2, hp->head_dim, &hp->n_rot)))
        return st;
    if (hp->n_rot % 2 != 0)
        return bn_error_set(err, BN_EINVAL, "%s: key '%s.rope.dimension_count' = %d is odd", path,
                            hp->arch_name, hp->n_rot);

    /* rope scaling: only "none" and "linear" exist for these models */
    hp->rope_scale = 1.0f;
    char key[128];
    arch_key(&r, "rope.scaling.type", key, sizeof key);
    bn_str stype;
    st = bn_gguf_get_str(g, key, &stype, err);
    if (st && st != BN_ENOTFOUND)
        return bn_error_prefix(err, "%s", path);
    int linear = st == BN_OK && stype.len == 6 && memcmp(stype.ptr, "linear", 6) == 0;
    if (st == BN_OK && !linear && !(stype.len == 4 && memcmp(stype.ptr, "none", 4) == 0))
        return bn_error_set(err, BN_EUNSUPPORTED, "%s: rope scaling type '%.*s' is not supported",
                            path, (int)(stype.len > 32 ? 32 : stype.len), stype.ptr);
    if (linear && (st = hp_f32(&r, "rope.scaling.factor", 1.0f, &hp->rope_scale)))
        return st;

    if (hp->arch == BN_ARCH_LLAMA) {
        hp->rope = BN_ROPE_NORM;
        hp->act = BN_FFN_SILU;
        hp->has_sub_norms = 0;
    } else {
        hp->rope = BN_ROPE_NEOX;
        hp->act = hp->arch == BN_ARCH_BITNET_B158 ? BN_FFN_RELU2 : BN_FFN_SILU;
        hp->has_sub_norms = 1;
    }
    return BN_OK;
}

/* ---- tensors -------------------------------------------------------------------- */

typedef struct {
    const bn_gguf *g;
    const char *path;
    uint8_t *used;          /* (n_tensors) 1 once bound */
    bn_error *err;
} binder;

static const bn_gguf_tensor *find(binder *b, const char *name, int optional, bn_error *err)
{
    const bn_gguf_tensor *t = bn_gguf_find_tensor(b->g, name);
    if (!t) {
        if (!optional)
            bn_error_set(err, BN_EINVAL, "%s: tensor '%s' is missing", b->path, name);
        return NULL;
    }
    for (int64_t i = 0; i < bn_gguf_n_tensors(b->g); i++)
        if (bn_gguf_tensor_at(b->g, i) == t)
            b->used[i] = 1;
    return t;
}

static int type_in(bn_type t, const bn_type *allowed, int n)
{
    for (int i = 0; i < n; i++)
        if (allowed[i] == t)
            return 1;
    return 0;
}

static bn_status check_shape(binder *b, const bn_gguf_tensor *t, int64_t ne0, int64_t ne1)
{
    int64_t want[4] = {ne0, ne1, 1, 1};
    for (int d = 0; d < 4; d++)
        if (t->ne[d] != want[d])
            return bn_error_set(b->err, BN_EINVAL,
                                "%s: tensor '%s' has shape [%lld, %lld, %lld, %lld], expected "
                                "[%lld, %lld]",
                                b->path, t->name, (long long)t->ne[0], (long long)t->ne[1],
                                (long long)t->ne[2], (long long)t->ne[3], (long long)ne0,
                                (long long)ne1);
    return BN_OK;
}

static const bn_type PROJ_TYPES[] = {BN_TYPE_I2_S, BN_TYPE_TQ2_0, BN_TYPE_TQ1_0,
                                     BN_TYPE_F16,  BN_TYPE_BF16,  BN_TYPE_F32};
static const bn_type EMBD_TYPES[] = {BN_TYPE_F16, BN_TYPE_F32, BN_TYPE_Q8_0};

int bn_rt_is_ternary(bn_type t)
{
    return t == BN_TYPE_I2_S || t == BN_TYPE_TQ2_0 || t == BN_TYPE_TQ1_0;
}

/* The per-tensor scale of a ternary weight: I2_S keeps it in the tail; TQ keeps
 * it per block as fp16 (d = max|x| of the block, the tensor scale for every
 * non-zero block), so the scale stays with the blocks and is 1 here. */
static bn_status weight_scale(binder *b, bn_weight *w)
{
    w->scale = 1.0f;
    if (w->type != BN_TYPE_I2_S)
        return BN_OK;
    const uint8_t *tail = w->data + w->nbytes - BN_I2_S_TAIL;
    uint32_t bits = (uint32_t)tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16 |
                    (uint32_t)tail[3] << 24;
    float s;
    memcpy(&s, &bits, sizeof s);
    if (!isfinite(s))
        return bn_error_set(b->err, BN_EINVAL, "%s: tensor '%s': I2_S scale %g is not finite",
                            b->path, w->name, s);
    w->scale = s;
    return BN_OK;
}

/* Bind a matrix of n_out rows x n_in columns (GGUF ne = [n_in, n_out]). */
static bn_status bind_matrix(binder *b, const char *name, int n_in, int n_out,
                             const bn_type *types, int n_types, int optional, bn_weight *w)
{
    memset(w, 0, sizeof *w);
    const bn_gguf_tensor *t = find(b, name, optional, b->err);
    if (!t)
        return optional ? BN_ENOTFOUND : BN_EINVAL;
    if (!type_in(t->type, types, n_types)) {
        char list[128] = "";
        for (int i = 0; i < n_types; i++) {
            strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
            strncat(list, bn_type_name(types[i]), sizeof list - strlen(list) - 1);
        }
        return bn_error_set(b->err, BN_EUNSUPPORTED,
                            "%s: tensor '%s' has type %s, expected one of %s", b->path, name,
                            bn_type_name(t->type), list);
    }
    bn_status st = check_shape(b, t, n_in, n_out);
    if (st)
        return st;
    w->name = t->name;
    w->type = t->type;
    w->n_in = n_in;
    w->n_out = n_out;
    w->data = t->data;
    w->nbytes = t->nbytes;
    w->row_bytes = bn_type_row_bytes(t->type, n_in);
    if ((st = weight_scale(b, w)))
        return st;
    if (bn_rt_is_ternary(w->type) &&
        bn_qmat_init(&w->q, w->type, w->data, (size_t)w->nbytes, n_in, n_out, b->err) != BN_OK)
        return bn_error_prefix(b->err, "%s: tensor '%s'", b->path, name);
    return BN_OK;
}

/* Copy an F32 vector of n elements (norm weights) out of the mapping. */
static bn_status bind_vector(binder *b, const char *name, int n, float **out)
{
    const bn_gguf_tensor *t = find(b, name, 0, b->err);
    if (!t)
        return BN_EINVAL;
    if (t->type != BN_TYPE_F32)
        return bn_error_set(b->err, BN_EUNSUPPORTED, "%s: tensor '%s' has type %s, expected F32",
                            b->path, name, bn_type_name(t->type));
    bn_status st = check_shape(b, t, n, 1);
    if (st)
        return st;
    *out = malloc((size_t)n * sizeof **out);
    if (!*out)
        return bn_error_set(b->err, BN_ENOMEM, "%s: out of memory for tensor '%s'", b->path, name);
    memcpy(*out, t->data, (size_t)n * sizeof **out);
    for (int i = 0; i < n; i++)
        if (!isfinite((*out)[i]))
            return bn_error_set(b->err, BN_EINVAL, "%s: tensor '%s' element %d is %g", b->path,
                                name, i, (*out)[i]);
    return BN_OK;
}

static bn_status bind_layer(binder *b, const bn_hparams *hp, int l, bn_layer *L)
{
    char name[BN_GGUF_MAX_NAME + 1];
    int q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    const int np = (int)(sizeof PROJ_TYPES / sizeof PROJ_TYPES[0]);
    bn_status st;
#define NAME(s) (snprintf(name, sizeof name, "blk.%d." s ".weight", l), name)
    if ((st = bind_vector(b, NAME("attn_norm"), hp->n_embd, &L->attn_norm)) ||
        (st = bind_vector(b, NAME("ffn_norm"), hp->n_embd, &L->ffn_norm)) ||
        (st = bind_matrix(b, NAME("attn_q"), hp->n_embd, q_dim, PROJ_TYPES, np, 0, &L->wq)) ||
        (st = bind_matrix(b, NAME("attn_k"), hp->n_embd, kv_dim, PROJ_TYPES, np, 0, &L->wk)) ||
        (st = bind_matrix(b, NAME("attn_v"), hp->n_embd, kv_dim, PROJ_TYPES, np, 0, &L->wv)) ||
        (st = bind_matrix(b, NAME("attn_output"), q_dim, hp->n_embd, PROJ_TYPES, np, 0,
                          &L->wo)) ||
        (st = bind_matrix(b, NAME("ffn_gate"), hp->n_embd, hp->n_ff, PROJ_TYPES, np, 0,
                          &L->wgate)) ||
        (st = bind_matrix(b, NAME("ffn_up"), hp->n_embd, hp->n_ff, PROJ_TYPES, np, 0, &L->wup)) ||
        (st = bind_matrix(b, NAME("ffn_down"), hp->n_ff, hp->n_embd, PROJ_TYPES, np, 0,
                          &L->wdown)))
        return st;
    if (hp->has_sub_norms &&
        ((st = bind_vector(b, NAME("attn_sub_norm"), q_dim, &L->attn_sub_norm)) ||
         (st = bind_vector(b, NAME("ffn_sub_norm"), hp->n_ff, &L->ffn_sub_norm))))
        return st;
#undef NAME
    return BN_OK;
}

static bn_status bind_tensors(bn_model *m, const char *path, bn_error *err)
{
    bn_hparams *hp = &m->hp;
    int64_t nt = bn_gguf_n_tensors(m->g);
    binder b = {m->g, path, calloc((size_t)(nt > 0 ? nt : 1), 1), err};
    if (!b.used)
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory", path);
    const int ne = (int)(sizeof EMBD_TYPES / sizeof EMBD_TYPES[0]);
    bn_status st = BN_OK;

    /* n_vocab comes from the embedding's shape; vocab_size, if given, must agree */
    const bn_gguf_tensor *te = bn_gguf_find_tensor(m->g, "token_embd.weight");
    if (!te) {
        st = bn_error_set(err, BN_EINVAL, "%s: tensor 'token_embd.weight' is missing", path);
        goto out;
    }
    if (te->ne[1] < 1 || te->ne[1] > MAX_VOCAB) {
        st = bn_error_set(err, BN_EINVAL, "%s: tensor 'token_embd.weight' has %lld rows, "
                          "expected 1..%d", path, (long long)te->ne[1], MAX_VOCAB);
        goto out;
    }
    hp->n_vocab = (int)te->ne[1];
    kv_reader r = {m->g, path, hp->arch_name, err};
    int vocab_key;
    if ((st = hp_u32(&r, "vocab_size", hp->n_vocab, 1, MAX_VOCAB, &vocab_key)))
        goto out;
    if (vocab_key != hp->n_vocab) {
        st = bn_error_set(err, BN_EINVAL, "%s: key '%s.vocab_size' = %d but token_embd.weight "
                          "has %d rows", path, hp->arch_name, vocab_key, hp->n_vocab);
        goto out;
    }
    if ((st = bind_matrix(&b, "token_embd.weight", hp->n_embd, hp->n_vocab, EMBD_TYPES, ne, 0,
                          &m->tok_embd)) ||
        (st = bind_vector(&b, "output_norm.weight", hp->n_embd, &m->output_norm)))
        goto out;
    st = bind_matrix(&b, "output.weight", hp->n_embd, hp->n_vocab, EMBD_TYPES, ne, 1, &m->output);
    if (st == BN_ENOTFOUND) {
        m->output = m->tok_embd;
        hp->tied_output = 1;
    } else if (st) {
        goto out;
    }
    hp->embd_type = m->tok_embd.type;

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) {
        st = bn_error_set(err, BN_ENOMEM, "%s: out of memory for %d layers", path, hp->n_layer);
        goto out;
    }
    for (int l = 0; l < hp->n_layer; l++)
        if ((st = bind_layer(&b, hp, l, &m->layers[l])))
            goto out;
    hp->proj_type = m->layers[0].wq.type;
    for (int l = 0; l < hp->n_layer && !m->has_ternary; l++) {
        const bn_weight *ws[] = {&m->layers[l].wq,    &m->layers[l].wk, &m->layers[l].wv,
                                 &m->layers[l].wo,    &m->layers[l].wgate,
                                 &m->layers[l].wup,   &m->layers[l].wdown};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
            m->has_ternary |= bn_rt_is_ternary(ws[i]->type);
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
    if ((st = bind_tensors(m, path, err)))
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
    if ((st = bn_pool_create(opts->n_threads, &m->pool, err)))
        goto fail;
    m->n_threads = bn_pool_threads(m->pool);
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

uint64_t bn_model_weight_bytes(const bn_model *m)
{
    uint64_t n = 0;
    for (int64_t i = 0; i < bn_gguf_n_tensors(m->g); i++)
        n += bn_gguf_tensor_at(m->g, i)->nbytes;
    return n;
}
