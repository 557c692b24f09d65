/*
 * reference.c - an independent float forward pass of FORMATS.md §3-4 over the
 * weights of a Hugging Face checkpoint, llama2.c style: plain arrays, one
 * sequence at a time, nothing shared with the runtime's forward code (so that
 * agreement between the two means something).
 *
 * Weights are read with the checkpoint readers under the names of the
 * converter's tensor plan, in PyTorch layout ([out, in], rows contiguous), and
 * kept dequantized in float:
 *   BN_REF_QUANTIZED  absmean ternarization (s = max(mean|W|, 1e-5) in double,
 *                     T = clamp(round_half_even(W/s), -1, 1)) or the
 *                     checkpoint's own offline-packed codes with s =
 *                     1/weight_scale; every projection input is quantized per
 *                     token to int8 (a = max|x| in double, sa = (float)(127/a),
 *                     q = round_half_even(x*sa)), y = (float)(sum T*q) / sa * s.
 *   BN_REF_LATENT     the weights as stored (bf16/f16/f32 latent), float
 *                     activations; offline-packed checkpoints have no latent
 *                     weights, so their ternary weights are used as they are.
 * The layer graph is the HF one: RoPE by rotate_half (pairs i, i+d/2) on the
 * unpermuted q/k rows for every architecture - llama.cpp's NORM rope on
 * permuted rows is the same rotation, which is exactly what this checks.
 *
 * Float order: wherever a value feeds an int8 activation quantization it is
 * computed in the runtime's documented order (RMSNorm squares in float summed
 * in double; attention scores by bnr_dot and exp by bnr_exp, the shared
 * primitives of fmath.h; pow, cos, sin in double rounded once; the attention output summed over keys
 * in float), so in QUANTIZED mode every int8 code agrees with the runtime on
 * I2_S files and the comparison shows conversion errors, not rounding noise.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bn/checkpoint.h"
#include "bn/convert.h"
#include "bn/model.h"
#include "bn/quant.h"
#include "bn/util.h"
#include "bn/reference.h"
#include "runtime/fmath.h"

typedef struct {
    int64_t rows, cols;  /* PyTorch [rows = out, cols = in] */
    float *w;            /* (rows, cols) latent weights (LATENT mode) */
    int8_t *t;           /* (rows, cols) ternary codes (QUANTIZED mode, or packed source) */
    float s;             /* per-tensor scale of t */
} ref_linear;

typedef struct {
    float *attn_norm;     /* (n_embd) */
    float *attn_sub_norm; /* (n_embd) or NULL */
    float *ffn_norm;      /* (n_embd) */
    float *ffn_sub_norm;  /* (n_ff) or NULL */
    ref_linear p[BN_ROLE_N_PROJ]; /* by role: q, k, v, o, gate, up, down */
} ref_layer;

struct bn_reference {
    bn_hfconfig cfg;
    bn_ref_mode mode;
    float *embd;      /* (n_vocab, n_embd) */
    float *head;      /* (n_vocab, n_embd): embd when tied, else lm_head */
    float *norm;      /* (n_embd) final norm */
    ref_layer *layers;/* (n_layer) */
};

/* ---- loading ----------------------------------------------------------------- */

static bn_status read_floats(bn_ckpt *ck, const bn_tensor_plan *p, float **out, bn_error *err)
{
    const bn_ckpt_tensor *t = bn_ckpt_find(ck, p->hf_name);
    if (!t)
        return bn_error_set(err, BN_ENOTFOUND, "%s: tensor '%s' (for %s) is missing",
                            bn_ckpt_dir(ck), p->hf_name, p->gguf_name);
    uint64_t want = (uint64_t)p->rows * (uint64_t)p->cols;
    int norm = bn_role_class_of(p->role) == BN_RCLASS_NORM;
    int shape_ok = norm ? t->n_dims == 1 && t->shape[0] == p->cols
                        : t->n_dims == 2 && t->shape[0] == p->rows && t->shape[1] == p->cols;
    if (!shape_ok) {
        char got[160] = "[";
        for (int d = 0; d < t->n_dims && d < BN_CKPT_MAX_DIMS; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "",
                     (long long)t->shape[d]);
        snprintf(got + strlen(got), sizeof got - strlen(got), "]");
        if (norm)
            return bn_error_set(err, BN_EINVAL, "%s: tensor '%s' has shape %s, expected [%lld]",
                                bn_ckpt_dir(ck), p->hf_name, got, (long long)p->cols);
        return bn_error_set(err, BN_EINVAL, "%s: tensor '%s' has shape %s, expected [%lld, %lld]",
                            bn_ckpt_dir(ck), p->hf_name, got, (long long)p->rows,
                            (long long)p->cols);
    }
    float *w = malloc((size_t)want * sizeof *w);
    if (!w)
        return bn_error_set(err, BN_ENOMEM, "reference: cannot allocate tensor '%s'", p->hf_name);
    bn_status st = bn_ckpt_read_f32(ck, t, w, (size_t)want, err);
    if (st) {
        free(w);
        return st;
    }
    for (uint64_t i = 0; i < want; i++)
        if (!isfinite(w[i])) {
            free(w);
            return bn_error_set(err, BN_EINVAL, "%s: tensor '%s' element %llu is not finite",
                                bn_ckpt_dir(ck), p->hf_name, (unsigned long long)i);
        }
    *out = w;
    return BN_OK;
}

/* BitNet b1.58 absmean, written out here rather than taken from quant so the
 * reference stays an independent implementation of FORMATS.md §4. */
static bn_status absmean_ternarize(ref_linear *L, const char *name, bn_error *err)
{
    size_t n = (size_t)L->rows * (size_t)L->cols;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += fabs((double)L->w[i]);
    float s = (float)(sum / (double)n);
    if (s < 1e-5f)
        s = 1e-5f;
    L->t = malloc(n);
    if (!L->t)
        return bn_error_set(err, BN_ENOMEM, "reference: cannot allocate codes of '%s'", name);
    for (size_t i = 0; i < n; i++) {
        float v = rintf(L->w[i] / s); /* round half to even in the default mode */
        L->t[i] = (int8_t)(v > 1.0f ? 1 : v < -1.0f ? -1 : (int)v);
    }
    L->s = s;
    return BN_OK;
}

static bn_status load_packed(bn_ckpt *ck, const bn_tensor_plan *p, const bn_ckpt_tensor *t,
                             ref_linear *L, bn_error *err)
{
    if (t->n_dims != 2 || t->shape[0] * 4 != p->rows || t->shape[1] != p->cols)
        return bn_error_set(err, BN_EINVAL,
                            "%s: packed tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]",
                            bn_ckpt_dir(ck), p->hf_name, (long long)t->shape[0],
                            t->n_dims > 1 ? (long long)t->shape[1] : 0LL,
                            (long long)(p->rows / 4), (long long)p->cols);
    char sname[200];
    snprintf(sname, sizeof sname, "%s_scale", p->hf_name);
    const bn_ckpt_tensor *ts = bn_ckpt_find(ck, sname);
    if (!ts || ts->n_el != 1)
        return bn_error_set(err, BN_EINVAL, "%s: offline-packed '%s' needs a 1-element '%s'",
                            bn_ckpt_dir(ck), p->hf_name, sname);
    uint8_t *packed = malloc((size_t)t->nbytes);
    size_t n = (size_t)p->rows * (size_t)p->cols;
    L->t = malloc(n);
    if (!packed || !L->t) {
        free(packed);
        return bn_error_set(err, BN_ENOMEM, "reference: cannot allocate '%s'", p->hf_name);
    }
    float ws;
    bn_status st = bn_ckpt_read_raw(ck, t, packed, (size_t)t->nbytes, err);
    if (!st)
        st = bn_unpack_hf_bitnet_u8(p->hf_name, packed, p->rows / 4, p->cols, L->t, err);
    if (!st)
        st = bn_ckpt_read_f32(ck, ts, &ws, 1, err);
    if (!st)
        st = bn_hf_weight_scale_to_scale(sname, ws, &L->s, err);
    free(packed);
    return st;
}

static bn_status load_linear(bn_reference *r, bn_ckpt *ck, const bn_tensor_plan *p,
                             ref_linear *L, bn_error *err)
{
    L->rows = p->rows;
    L->cols = p->cols;
    const bn_ckpt_tensor *t = bn_ckpt_find(ck, p->hf_name);
    if (t && t->dtype == BN_CKPT_U8 && r->cfg.offline_packed)
        return load_packed(ck, p, t, L, err);
    bn_status st = read_floats(ck, p, &L->w, err);
    if (st || r->mode == BN_REF_LATENT)
        return st;
    st = absmean_ternarize(L, p->hf_name, err);
    free(L->w);
    L->w = NULL;
    return st;
}

/* Round the embedding through a GGUF storage type, as the converted file holds it. */
static bn_status round_embd(float *e, int64_t rows, int64_t cols, int type, bn_error *err)
{
    size_t n = (size_t)rows * (size_t)cols;
    switch (type) {
    case -1:
    case BN_TYPE_F32:
        return BN_OK;
    case BN_TYPE_F16:
        for (size_t i = 0; i < n; i++)
            e[i] = bn_f16_to_f32(bn_f32_to_f16(e[i]));
        return BN_OK;
    case BN_TYPE_BF16:
        for (size_t i = 0; i < n; i++)
            e[i] = bn_bf16_to_f32(bn_f32_to_bf16(e[i]));
        return BN_OK;
    case BN_TYPE_Q8_0:
    case BN_TYPE_Q6_K:
    case BN_TYPE_Q4_K: {
        size_t sz;
        bn_status st = bn_quant_packed_size((bn_type)type, cols, rows, &sz, err);
        if (st)
            return st;
        void *buf = malloc(sz);
        if (!buf)
            return bn_error_set(err, BN_ENOMEM, "reference: cannot allocate %zu bytes", sz);
        st = bn_pack_f32((bn_type)type, e, cols, rows, buf, sz, 1, err);
        if (!st)
            st = bn_unpack_f32((bn_type)type, buf, sz, cols, rows, e, 1, err);
        free(buf);
        return st;
    }
    default:
        return bn_error_set(err, BN_EINVAL, "reference: cannot round the embedding through type %d",
                            type);
    }
}

void bn_reference_free(bn_reference *r)
{
    if (!r)
        return;
    if (r->head != r->embd)
        free(r->head);
    free(r->embd);
    free(r->norm);
    for (uint32_t l = 0; r->layers && l < r->cfg.n_layer; l++) {
        ref_layer *ly = &r->layers[l];
        free(ly->attn_norm);
        free(ly->attn_sub_norm);
        free(ly->ffn_norm);
        free(ly->ffn_sub_norm);
        for (int k = 0; k < BN_ROLE_N_PROJ; k++) {
            free(ly->p[k].w);
            free(ly->p[k].t);
        }
    }
    free(r->layers);
    free(r);
}

static float **norm_slot(bn_reference *r, const bn_tensor_plan *p)
{
    ref_layer *ly = p->layer >= 0 ? &r->layers[p->layer] : NULL;
    switch (p->role) {
    case BN_ROLE_OUTPUT_NORM: return &r->norm;
    case BN_ROLE_ATTN_NORM: return ly ? &ly->attn_norm : NULL;
    case BN_ROLE_ATTN_SUB_NORM: return ly ? &ly->attn_sub_norm : NULL;
    case BN_ROLE_FFN_NORM: return ly ? &ly->ffn_norm : NULL;
    case BN_ROLE_FFN_SUB_NORM: return ly ? &ly->ffn_sub_norm : NULL;
    default: return NULL;
    }
}

static bn_status load_all(bn_reference *r, bn_ckpt *ck, int embd_round, bn_error *err)
{
    const bn_ckpt_tensor *lm = bn_ckpt_find(ck, "lm_head.weight");
    int has_output = r->cfg.tie_embeddings == 1 ? 0 : (lm && lm->alias_of < 0);
    bn_tensor_plan *plan;
    size_t n_plan;
    bn_status st = bn_plan_tensors(&r->cfg, has_output, &plan, &n_plan, err);
    if (st)
        return st;
    for (size_t i = 0; i < n_plan && !st; i++) {
        const bn_tensor_plan *p = &plan[i];
        bn_role_class rc = bn_role_class_of(p->role);
        if (p->role == BN_ROLE_TOKEN_EMBD || p->role == BN_ROLE_OUTPUT) {
            float **dst = p->role == BN_ROLE_OUTPUT ? &r->head : &r->embd;
            st = read_floats(ck, p, dst, err);
            if (!st && r->mode == BN_REF_QUANTIZED)
                st = round_embd(*dst, p->rows, p->cols, embd_round, err);
        } else if (rc == BN_RCLASS_NORM && norm_slot(r, p)) {
            st = read_floats(ck, p, norm_slot(r, p), err);
        } else if (rc == BN_RCLASS_PROJ && p->layer >= 0) {
            st = load_linear(r, ck, p, &r->layers[p->layer].p[p->role], err);
        } else {
            st = bn_error_set(err, BN_EINTERNAL, "reference: no slot for '%s'", p->gguf_name);
        }
    }
    free(plan);
    if (!st && !r->head)
        r->head = r->embd;
    return st;
}

const char *bn_ref_mode_name(bn_ref_mode mode)
{
    return mode == BN_REF_LATENT ? "latent" : "quantized";
}

bn_status bn_reference_load(const char *hf_dir, bn_ref_mode mode, int embd_round,
                            bn_reference **out, bn_error *err)
{
    *out = NULL;
    bn_reference *r = calloc(1, sizeof *r);
    if (!r)
        return bn_error_set(err, BN_ENOMEM, "reference: out of memory");
    r->mode = mode;
    bn_status st = bn_hfconfig_load(hf_dir, &r->cfg, err);
    if (st) {
        free(r);
        return st;
    }
    /* The sub-norm after attention has n_embd weights and normalizes the
     * n_head * head_dim attention output: the two must agree. */
    if (r->cfg.head_dim % 2 || r->cfg.n_head_kv == 0 || r->cfg.n_head % r->cfg.n_head_kv ||
        (uint64_t)r->cfg.n_head * r->cfg.head_dim != r->cfg.n_embd) {
        st = bn_error_set(err, BN_EINVAL,
                          "%s: head_dim %u with %u heads (%u kv heads) does not fit hidden_size %u",
                          hf_dir, r->cfg.head_dim, r->cfg.n_head, r->cfg.n_head_kv, r->cfg.n_embd);
        free(r);
        return st;
    }
    r->layers = calloc(r->cfg.n_layer ? r->cfg.n_layer : 1, sizeof *r->layers);
    if (!r->layers) {
        free(r);
        return bn_error_set(err, BN_ENOMEM, "reference: out of memory");
    }
    bn_ckpt *ck;
    st = bn_ckpt_open(hf_dir, &ck, err);
    if (!st) {
        char key[64]; /* a training checkpoint: the weights under "model", ... (as bn-convert) */
        if (bn_ckpt_find_state_dict(ck, NULL, key, sizeof key, NULL) == BN_ENOMEM)
            st = bn_error_set(err, BN_ENOMEM, "reference: out of memory");
        if (!st)
            st = load_all(r, ck, embd_round, err);
        bn_ckpt_close(ck);
    }
    if (st) {
        bn_reference_free(r);
        return st;
    }
    *out = r;
    return BN_OK;
}

int bn_reference_n_vocab(const bn_reference *r)
{
    return (int)r->cfg.n_vocab;
}

int bn_reference_n_ctx_train(const bn_reference *r)
{
    return (int)r->cfg.n_ctx;
}

bn_status bn_reference_load_for(const char *hf_dir, bn_ref_mode mode, const bn_model *m,
                                const char *name, bn_reference **out, bn_error *err)
{
    const bn_hparams *hp = bn_model_hparams(m);
    int embd_round = mode == BN_REF_QUANTIZED ? (int)hp->embd_type : -1;
    bn_status st = bn_reference_load(hf_dir, mode, embd_round, out, err);
    if (st)
        return st;
    if (bn_reference_n_vocab(*out) != hp->n_vocab) {
        st = bn_error_set(err, BN_EINVAL, "%s has a vocabulary of %d, %s of %d", hf_dir,
                          bn_reference_n_vocab(*out), name, hp->n_vocab);
        bn_reference_free(*out);
        *out = NULL;
    }
    return st;
}

bn_status bn_reference_check_model(const char *hf_dir, const bn_model *m, const char *model,
                                   bn_error *err)
{
    const bn_hparams *hp = bn_model_hparams(m);
    bn_hfconfig c;
    bn_status st = bn_hfconfig_load(hf_dir, &c, err);
    if (st)
        return st;
    if (strcmp(c.gguf_arch, hp->arch_name) != 0)
        return bn_error_set(err, BN_EINVAL,
                            "%s is a '%s' model (%s) but %s is '%s': not the checkpoint it was "
                            "converted from",
                            hf_dir, c.gguf_arch, c.hf_arch, model, hp->arch_name);
    /* In the order a reader would compare them: depth, widths, heads, vocabulary. */
    const struct { const char *hf, *gguf; uint32_t ref; int got; } f[] = {
        {"num_hidden_layers", "block_count", c.n_layer, hp->n_layer},
        {"hidden_size", "embedding_length", c.n_embd, hp->n_embd},
        {"intermediate_size", "feed_forward_length", c.n_ff, hp->n_ff},
        {"num_attention_heads", "attention.head_count", c.n_head, hp->n_head},
        {"num_key_value_heads", "attention.head_count_kv", c.n_head_kv, hp->n_head_kv},
        {"head_dim", "the head width", c.head_dim, hp->head_dim},
        {"vocab_size", "token_embd rows", c.n_vocab, hp->n_vocab},
    };
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        if (f[i].got < 0 || f[i].ref != (uint32_t)f[i].got)
            return bn_error_set(err, BN_EINVAL,
                                "%s/config.json has %s %u but %s has %s %d: not the checkpoint it "
                                "was converted from",
                                hf_dir, f[i].hf, f[i].ref, model, f[i].gguf, f[i].got);
    return BN_OK;
}

/* ---- the forward pass --------------------------------------------------------- */

/* ggml's RMSNorm: squares in float, summed in double, scale in float. out may
 * alias x. */
static void rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
    double ss = 0.0;
    for (int i = 0; i < n; i++)
        ss += (double)(x[i] * x[i]);
    float scale = 1.0f / sqrtf((float)(ss / n) + eps);
    for (int i = 0; i < n; i++)
        out[i] = x[i] * scale * w[i];
}

/* y (rows) = L x (cols). The hot loop of the reference. */
static void linear(const bn_reference *r, const ref_linear *L, const float *x, float *y,
                   int8_t *qbuf)
{
    const int64_t R = L->rows, C = L->cols;
    if (r->mode == BN_REF_QUANTIZED || !L->w) {
        if (r->mode == BN_REF_QUANTIZED) {
            double a = 0.0;
            for (int64_t k = 0; k < C; k++)
                if (fabs((double)x[k]) > a)
                    a = fabs((double)x[k]);
            if (a < 1e-5)
                a = 1e-5;
            const float sa = (float)(127.0 / a);
            for (int64_t k = 0; k < C; k++) {
                volatile float prod = x[k] * sa; /* one float32 product, no contraction */
                float v = rintf(prod);
                qbuf[k] = (int8_t)(v > 127.0f ? 127 : v < -128.0f ? -128 : (int)v);
            }
            for (int64_t i = 0; i < R; i++) {
                const int8_t *t = L->t + i * C;
                int32_t s = 0;
                for (int64_t k = 0; k < C; k++)
                    s += t[k] * qbuf[k];
                volatile float f = (float)s / sa;
                y[i] = f * L->s;
            }
            return;
        }
        /* LATENT mode over a packed checkpoint: ternary weights, float activations */
        for (int64_t i = 0; i < R; i++) {
            const int8_t *t = L->t + i * C;
            double s = 0.0;
            for (int64_t k = 0; k < C; k++)
                s += t[k] * (double)x[k];
            y[i] = (float)(s * L->s);
        }
        return;
    }
    for (int64_t i = 0; i < R; i++) {
        const float *w = L->w + i * C;
        double s = 0.0;
        for (int64_t k = 0; k < C; k++)
            s += (double)w[k] * (double)x[k];
        y[i] = (float)s;
    }
}

/* rotate_half RoPE on one head vector v (d), position pos. The angles are
 * computed as ggml does (theta_i = pos * base^(-2i/d) by repeated float32
 * multiplication), with pow, cos and sin taken in double and rounded once, as
 * the runtime and the PyTorch reference do: a double-precision angle, or
 * cosf/sinf from another C library, differs in the last bits - enough to flip
 * an int8 activation code, or a near-tied argmax, now and then. */
static void rope(float *v, int d, int pos, float base)
{
    int h = d / 2;
    const float theta_scale = (float)pow((double)base, -2.0 / (double)d);
    float theta = (float)pos;
    for (int i = 0; i < h; i++) {
        float c = (float)cos((double)theta), s = (float)sin((double)theta);
        float a = v[i], b = v[i + h];
        v[i] = a * c - b * s;
        v[i + h] = a * s + b * c;
        theta *= theta_scale;
    }
}

bn_status bn_reference_forward(const bn_reference *r, const int32_t *tokens, int n,
                               float *logits, bn_error *err)
{
    const bn_hfconfig *c = &r->cfg;
    const int E = (int)c->n_embd, F = (int)c->n_ff, V = (int)c->n_vocab;
    const int H = (int)c->n_head, HKV = (int)c->n_head_kv, D = (int)c->head_dim;
    const int QD = H * D, KVD = HKV * D, L = (int)c->n_layer;
    if (n < 1 || (uint32_t)n > c->n_ctx)
        return bn_error_set(err, BN_EINVAL, "reference: %d tokens do not fit the context of %u", n,
                            c->n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            return bn_error_set(err, BN_EINVAL, "reference: token %d has id %d outside 0..%d", i,
                                (int)tokens[i], V - 1);
    int maxd = E > F ? E : F;
    if (QD > maxd)
        maxd = QD;
    /* Every layer processes all n tokens; x holds the residual stream (n, E). */
    size_t nE = (size_t)n * E;
    float *x = malloc(nE * sizeof *x);
    float *k = malloc((size_t)n * KVD * sizeof *k), *v = malloc((size_t)n * KVD * sizeof *v);
    float *q = malloc((size_t)n * QD * sizeof *q);
    float *xb = malloc((size_t)maxd * sizeof *xb), *xb2 = malloc((size_t)maxd * sizeof *xb2);
    float *hb = malloc((size_t)F * sizeof *hb), *hb2 = malloc((size_t)F * sizeof *hb2);
    float *att = malloc((size_t)n * sizeof *att);
    int8_t *qbuf = malloc((size_t)maxd);
    bn_status st = BN_OK;
    if (!x || !k || !v || !q || !xb || !xb2 || !hb || !hb2 || !att || !qbuf) {
        st = bn_error_set(err, BN_ENOMEM, "reference: cannot allocate scratch for %d tokens", n);
        goto done;
    }
    for (int t = 0; t < n; t++)
        memcpy(x + (size_t)t * E, r->embd + (size_t)tokens[t] * E, (size_t)E * sizeof *x);

    const float base = c->rope_theta;
    const float eps = c->rms_eps;
    const float inv_sqrt_d = 1.0f / sqrtf((float)D);
    for (int l = 0; l < L; l++) {
        const ref_layer *ly = &r->layers[l];
        /* q, k, v of every token */
        for (int t = 0; t < n; t++) {
            rmsnorm(xb, x + (size_t)t * E, ly->attn_norm, E, eps);
            linear(r, &ly->p[BN_ROLE_ATTN_Q], xb, q + (size_t)t * QD, qbuf);
            linear(r, &ly->p[BN_ROLE_ATTN_K], xb, k + (size_t)t * KVD, qbuf);
            linear(r, &ly->p[BN_ROLE_ATTN_V], xb, v + (size_t)t * KVD, qbuf);
            for (int h = 0; h < H; h++)
                rope(q + (size_t)t * QD + h * D, D, t, base);
            for (int h = 0; h < HKV; h++)
                rope(k + (size_t)t * KVD + h * D, D, t, base);
        }
        for (int t = 0; t < n; t++) {
            /* causal attention of token t over 0..t, per head (GQA: H/HKV queries per kv head) */
            for (int h = 0; h < H; h++) {
                const float *qh = q + (size_t)t * QD + h * D;
                int kvh = h / (H / HKV);
                float mx = -INFINITY;
                for (int j = 0; j <= t; j++) {
                    const float *kj = k + (size_t)j * KVD + kvh * D;
                    att[j] = bnr_dot(qh, kj, D) * inv_sqrt_d;
                    if (att[j] > mx)
                        mx = att[j];
                }
                double sum = 0.0;
                for (int j = 0; j <= t; j++) {
                    att[j] = bnr_exp(att[j] - mx);
                    sum += att[j];
                }
                const float inv = (float)(1.0 / sum);
                float *out = xb2 + h * D;
                for (int i = 0; i < D; i++) {
                    float a = 0.0f;
                    for (int j = 0; j <= t; j++)
                        a += att[j] * inv * v[(size_t)j * KVD + kvh * D + i];
                    out[i] = a;
                }
            }
            if (ly->attn_sub_norm)
                rmsnorm(xb2, xb2, ly->attn_sub_norm, QD, eps);
            linear(r, &ly->p[BN_ROLE_ATTN_OUTPUT], xb2, xb, qbuf);
            float *xt = x + (size_t)t * E;
            for (int i = 0; i < E; i++)
                xt[i] += xb[i];
            /* FFN */
            rmsnorm(xb, xt, ly->ffn_norm, E, eps);
            linear(r, &ly->p[BN_ROLE_FFN_GATE], xb, hb, qbuf);
            linear(r, &ly->p[BN_ROLE_FFN_UP], xb, hb2, qbuf);
            for (int i = 0; i < F; i++) {
                float g = hb[i];
                g = c->act == BN_FFN_RELU2 ? (g > 0.0f ? g * g : 0.0f)
                                           : g / (1.0f + bnr_exp(-g));
                hb[i] = g * hb2[i];
            }
            if (ly->ffn_sub_norm)
                rmsnorm(hb, hb, ly->ffn_sub_norm, F, eps);
            linear(r, &ly->p[BN_ROLE_FFN_DOWN], hb, xb, qbuf);
            for (int i = 0; i < E; i++)
                xt[i] += xb[i];
        }
    }
    for (int t = 0; t < n; t++) {
        rmsnorm(xb, x + (size_t)t * E, r->norm, E, eps);
        float *lo = logits + (size_t)t * V;
        for (int i = 0; i < V; i++) {
            const float *w = r->head + (size_t)i * E;
            double s = 0.0;
            for (int j = 0; j < E; j++)
                s += (double)w[j] * (double)xb[j];
            lo[i] = (float)s;
        }
    }
done:
    free(x);
    free(k);
    free(v);
    free(q);
    free(xb);
    free(xb2);
    free(hb);
    free(hb2);
    free(att);
    free(qbuf);
    return st;
}

/* ---- as an evaluator: one sequence per thread ---------------------------------- */

typedef struct {
    const bn_reference *r;
    const int32_t *tokens;
    int n_ctx;
    float *logits;
    bn_status st;
    bn_error err;
} ref_job;

static void *ref_thread(void *arg)
{
    ref_job *j = arg;
    j->st = bn_reference_forward(j->r, j->tokens, j->n_ctx, j->logits, &j->err);
    return NULL;
}

typedef struct {
    bn_evaluator ev;
    const bn_reference *r;
} ref_eval;

static bn_status ref_eval_run(bn_evaluator *ev, const int32_t *tokens, int n_seq, int n_ctx,
                              float *logits, bn_error *err)
{
    ref_eval *re = ev->impl;
    if (n_seq < 1 || n_seq > ev->max_seq)
        return bn_error_set(err, BN_EINVAL, "reference: %d sequences (at most %d)", n_seq,
                            ev->max_seq);
    ref_job jobs[64];
    pthread_t th[64];
    int started[64] = {0};
    for (int s = 0; s < n_seq; s++) {
        jobs[s].r = re->r;
        jobs[s].tokens = tokens + (size_t)s * n_ctx;
        jobs[s].n_ctx = n_ctx;
        jobs[s].logits = logits + (size_t)s * n_ctx * (size_t)ev->n_vocab;
        jobs[s].st = BN_OK;
        bn_error_clear(&jobs[s].err);
        if (s > 0 && pthread_create(&th[s], NULL, ref_thread, &jobs[s]) == 0)
            started[s] = 1;
    }
    /* Sequence 0 (and any thread that could not start) runs here. */
    for (int s = 0; s < n_seq; s++)
        if (!started[s])
            ref_thread(&jobs[s]);
    for (int s = 1; s < n_seq; s++)
        if (started[s])
            pthread_join(th[s], NULL);
    for (int s = 0; s < n_seq; s++)
        if (jobs[s].st) {
            if (err)
                *err = jobs[s].err;
            return jobs[s].st;
        }
    return BN_OK;
}

static void ref_eval_destroy(bn_evaluator *ev)
{
    free(ev->impl);
}

bn_status bn_reference_evaluator(const bn_reference *r, int n_threads, bn_evaluator **out,
                                 bn_error *err)
{
    *out = NULL;
    ref_eval *re = calloc(1, sizeof *re);
    if (!re)
        return bn_error_set(err, BN_ENOMEM, "reference: out of memory");
    re->r = r;
    re->ev.n_vocab = (int)r->cfg.n_vocab;
    re->ev.max_seq = n_threads < 1 ? 1 : n_threads > 64 ? 64 : n_threads;
    re->ev.eval = ref_eval_run;
    re->ev.destroy = ref_eval_destroy;
    re->ev.impl = re;
    *out = &re->ev;
    return BN_OK;
}
