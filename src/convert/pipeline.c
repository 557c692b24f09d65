/*
 * pipeline.c - bn-convert's engine: a Hugging Face directory in, one GGUF out.
 *
 *   config.json ──> bn_hfconfig ──> tensor plan (names, shapes, roles)
 *   checkpoint  ──> one tensor at a time ──> quant (ternarize + pack) ──> GGUF writer
 *   tokenizer   ──> tokenizer KVs
 *
 * Everything is checked before the first byte of tensor data is written:
 * every planned tensor exists with the shape the config implies, nothing
 * unknown is left over, every row length fits the chosen type. Then tensors
 * stream through quant's reusable buffers (bn_quant_bufs: floats, codes,
 * packed bytes), so peak memory is about 5.25 bytes per element of the
 * largest tensor.
 */
#include "bn/convert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bn/checkpoint.h"
#include "bn/quant.h"
#include "bn/threadpool.h"
#include "bn/tokenizer_export.h"
#include "bn/util.h"
#include "convert/ckpt_internal.h"

void bn_convert_opts_init(bn_convert_opts *o)
{
    memset(o, 0, sizeof *o);
    o->proj_type = BN_TYPE_I2_S;
    o->embd_type = BN_TYPE_F16;
    o->method = BN_QM_ABSMEAN;
}


/* One planned tensor, resolved against the checkpoint. */
typedef struct {
    const bn_tensor_plan *plan;
    const bn_ckpt_tensor *src;      /* the weights (float, or uint8 packed) */
    const bn_ckpt_tensor *scale;    /* weight_scale of an offline-packed projection */
    bn_type type;                   /* what we write */
    int fallback;                   /* projection written as F16 because its rows don't fit */
} job;

typedef struct {
    const bn_convert_opts *o;
    bn_hfconfig cfg;
    bn_ckpt *ck;
    bn_tokexport *tok;
    bn_tensor_plan *plan;
    size_t n_plan;
    job *jobs;
    bn_gguf_writer *w;
    bn_outset *outputs;             /* the caller's, or the run's own */
    bn_quant_report *report;
    bn_quant_bufs b;                /* reusable buffers, grown to the largest tensor (quant.h) */
    bn_pool *pool;                  /* o->n_threads readers of one tensor (NULL: one) */
    size_t n_exact;                 /* projections found exactly ternary */
} convert_state;

static void stage(const bn_convert_opts *o, const char *what)
{
    if (o->stage)
        o->stage(o->user, what);
}

static void notice(const bn_convert_opts *o, const char *fmt, ...) BN_PRINTF(2, 3);
static void notice(const bn_convert_opts *o, const char *fmt, ...)
{
    if (!o->notice)
        return;
    char msg[BN_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    o->notice(o->user, msg);
}

static const char *base_name(const char *path, char *buf, size_t cap)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t s = n;
    while (s > 0 && path[s - 1] != '/')
        s--;
    size_t len = n - s < cap - 1 ? n - s : cap - 1;
    memcpy(buf, path + s, len);
    buf[len] = '\0';
    if (len == 0 || strcmp(buf, ".") == 0 || strcmp(buf, "..") == 0) {
        char cwd[4096];
        if (getcwd(cwd, sizeof cwd) && strcmp(cwd, "/") != 0)
            return base_name(cwd, buf, cap);
        snprintf(buf, cap, "model");
    }
    return buf;
}

static int shape_is(const bn_ckpt_tensor *t, int64_t rows, int64_t cols, int one_d)
{
    if (one_d)
        return t->n_dims == 1 && t->shape[0] == cols;
    return t->n_dims == 2 && t->shape[0] == rows && t->shape[1] == cols;
}

static void shape_str(const bn_ckpt_tensor *t, char *buf, size_t cap)
{
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < t->n_dims && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
}

static int is_float_dtype(bn_ckpt_dtype d)
{
    return d == BN_CKPT_F32 || d == BN_CKPT_F16 || d == BN_CKPT_BF16 || d == BN_CKPT_F64;
}

/* Decide whether the checkpoint has a separate output head. */
static bn_status decide_head(convert_state *s, int *has_output, bn_error *err)
{
    const bn_ckpt_tensor *lm = bn_ckpt_find(s->ck, "lm_head.weight");
    int separate = lm && lm->alias_of < 0;
    if (s->cfg.tie_embeddings == 1)
        *has_output = 0;
    else if (s->cfg.tie_embeddings == 0) {
        if (!lm)
            return bn_error_set(err, BN_EINVAL,
                                "%s: config.json says tie_word_embeddings is false but the checkpoint "
                                "has no lm_head.weight",
                                s->o->in_dir);
        *has_output = 1;
    } else {
        *has_output = separate;
    }
    const bn_arch_info *a = bn_arch_get(s->cfg.arch);
    if (!*has_output && a->head == BN_HEAD_UNTIED)
        return bn_error_set(err, BN_EINVAL,
                            "%s: architecture %s has an untied head, but the checkpoint has no "
                            "separate lm_head.weight",
                            s->o->in_dir, a->name);
    if (*has_output && a->head == BN_HEAD_TIED)
        return bn_error_set(err, BN_EUNSUPPORTED,
                            "%s: lm_head.weight is a separate output head, but GGUF architecture "
                            "'%s' ties the head to token_embd (llama.cpp and bitnet.cpp would "
                            "ignore it)",
                            s->o->in_dir, s->cfg.gguf_arch);
    return BN_OK;
}

/* Tensors in a checkpoint that carry no weights of the model. */
static int is_ignorable(const char *name)
{
    size_t n = strlen(name);
    const char *suffix = ".rotary_emb.inv_freq";
    size_t k = strlen(suffix);
    return n >= k && strcmp(name + n - k, suffix) == 0;
}

/* A training checkpoint ({"model": state_dict, "optimizer": ...}) holds the
 * weights under a key: find it, say which, and leave the rest alone. A plain
 * state dict is used as it is, silently. */
static bn_status find_state_dict(convert_state *s, bn_error *err)
{
    char key[64];
    bn_status st = bn_ckpt_find_state_dict(s->ck, NULL, key, sizeof key, err);
    if (st == BN_ENOTFOUND) /* resolve() names the missing tensor as for any checkpoint */
        return BN_OK;
    if (st || !key[0])
        return st;
    size_t outside = 0, n = bn_ckpt_n_tensors(s->ck), pl = strlen(bn_ckpt_prefix(s->ck));
    for (size_t i = 0; i < n; i++)
        outside += strncmp(bn_ckpt_tensor_at(s->ck, i)->name, bn_ckpt_prefix(s->ck), pl) != 0;
    if (outside)
        notice(s->o, "%s: using the state dict under '%s' (a training checkpoint; %zu tensor%s outside it, "
               "such as optimizer state, ignored)", s->o->in_dir, key, outside, outside == 1 ? "" : "s");
    else
        notice(s->o, "%s: using the state dict under '%s'", s->o->in_dir, key);
    return BN_OK;
}

/* Resolve every planned tensor; refuse missing, mis-shaped and unknown ones. */
static bn_status resolve(convert_state *s, bn_error *err)
{
    const bn_convert_opts *o = s->o;
    size_t n_ck = bn_ckpt_n_tensors(s->ck);
    uint8_t *used = calloc(n_ck ? n_ck : 1, 1);
    s->jobs = calloc(s->n_plan, sizeof *s->jobs);
    if (!used || !s->jobs) {
        free(used);
        return bn_error_set(err, BN_ENOMEM, "out of memory planning %zu tensors", s->n_plan);
    }
    bn_status st = BN_OK;
    char shp[96];
    for (size_t i = 0; i < s->n_plan && !st; i++) {
        const bn_tensor_plan *p = &s->plan[i];
        job *j = &s->jobs[i];
        j->plan = p;
        j->src = bn_ckpt_find(s->ck, p->hf_name);
        if (!j->src) {
            st = bn_error_set(err, BN_EINVAL, "%s: tensor '%s' (for %s) is missing from the checkpoint",
                              o->in_dir, p->hf_name, p->gguf_name);
            break;
        }
        used[j->src->index] = 1;
        int one_d = bn_role_class_of(p->role) == BN_RCLASS_NORM;
        int packed = bn_role_is_proj(p->role) && j->src->dtype == BN_CKPT_U8;
        if (packed) {
            if (!s->cfg.offline_packed) {
                st = bn_error_set(err, BN_EINVAL,
                                  "%s: tensor '%s' is uint8 (offline-packed) but config.json has no "
                                  "quantization_config.quant_method \"bitnet\"",
                                  o->in_dir, p->hf_name);
                break;
            }
            if (p->rows % 4 != 0 || !shape_is(j->src, p->rows / 4, p->cols, 0)) {
                shape_str(j->src, shp, sizeof shp);
                st = bn_error_set(err, BN_EINVAL,
                                  "%s: packed tensor '%s' has shape %s, expected [%lld, %lld] "
                                  "(out/4, in) from config.json",
                                  o->in_dir, p->hf_name, shp, (long long)(p->rows / 4), (long long)p->cols);
                break;
            }
            char sname[200];
            snprintf(sname, sizeof sname, "%.*s_scale", (int)strlen(p->hf_name), p->hf_name);
            j->scale = bn_ckpt_find(s->ck, sname);
            if (!j->scale || j->scale->n_el != 1 || !is_float_dtype(j->scale->dtype)) {
                st = bn_error_set(err, BN_EINVAL,
                                  "%s: packed tensor '%s' needs a one-element float '%s'", o->in_dir,
                                  p->hf_name, sname);
                break;
            }
            used[j->scale->index] = 1;
        } else {
            if (!is_float_dtype(j->src->dtype)) {
                st = bn_error_set(err, BN_EUNSUPPORTED, "%s: tensor '%s' has dtype %s; expected a float type",
                                  o->in_dir, p->hf_name, bn_ckpt_dtype_name(j->src->dtype));
                break;
            }
            if (!shape_is(j->src, p->rows, p->cols, one_d)) {
                shape_str(j->src, shp, sizeof shp);
                if (one_d)
                    st = bn_error_set(err, BN_EINVAL, "%s: tensor '%s' has shape %s, expected [%lld] from config.json",
                                      o->in_dir, p->hf_name, shp, (long long)p->cols);
                else
                    st = bn_error_set(err, BN_EINVAL,
                                      "%s: tensor '%s' has shape %s, expected [%lld, %lld] from config.json",
                                      o->in_dir, p->hf_name, shp, (long long)p->rows, (long long)p->cols);
                break;
            }
        }
        /* output types */
        switch (bn_role_class_of(p->role)) {
        case BN_RCLASS_NORM: j->type = BN_TYPE_F32; break;
        case BN_RCLASS_EMBD: j->type = o->embd_type; break;
        default: j->type = o->proj_type; break;
        }
        int64_t blk = bn_type_block_size(j->type);
        if (blk > 1 && p->cols % blk != 0) {
            if (bn_role_is_proj(p->role) && o->allow_fallback) {
                notice(o, "%s: row length %lld is not a multiple of %lld (%s): written as F16 (--allow-fallback)",
                       p->gguf_name, (long long)p->cols, (long long)blk, bn_type_name(j->type));
                j->type = BN_TYPE_F16;
                j->fallback = 1;
            } else {
                st = bn_error_set(err, BN_EINVAL,
                                  "%s: tensor '%s' (%s) has rows of %lld elements; %s needs a multiple "
                                  "of %lld%s",
                                  o->in_dir, p->hf_name, p->gguf_name, (long long)p->cols,
                                  bn_type_name(j->type), (long long)blk,
                                  bn_role_is_proj(p->role) ? " (--allow-fallback writes it as F16)" : "");
                break;
            }
        }
    }
    /* Anything left over in the state dict is a tensor we do not understand:
     * refuse rather than drop it. Outside it (optimizer state) is not ours. */
    const char *prefix = bn_ckpt_prefix(s->ck);
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < n_ck && !st; i++) {
        const bn_ckpt_tensor *t = bn_ckpt_tensor_at(s->ck, i);
        if (used[i] || strncmp(t->name, prefix, pl) != 0 || is_ignorable(t->name))
            continue;
        if (strcmp(t->name + pl, "lm_head.weight") == 0 && (t->alias_of >= 0 || s->cfg.tie_embeddings == 1))
            continue; /* tied head: the same weights as token_embd */
        st = bn_error_set(err, BN_EINVAL, "%s: unexpected tensor '%s' is not part of a %s model",
                          o->in_dir, t->name + pl, s->cfg.hf_arch);
    }
    free(used);
    return st;
}

/* general.*, the architecture's hyperparameters (when there is a config), tokenizer.* */
static bn_status write_kvs(convert_state *s, int have_config, bn_error *err)
{
    const bn_hfconfig *c = &s->cfg;
    bn_gguf_writer *w = s->w;
    char name[256];
    const char *a = c->gguf_arch;
    bn_status st;
    if ((st = bn_gguf_set_str(w, "general.architecture", a, err)) ||
        (st = bn_gguf_set_str(w, "general.name",
                              s->o->name ? s->o->name : base_name(s->o->in_dir, name, sizeof name), err)) ||
        (st = bn_gguf_set_u32(w, "general.file_type",
                              bn_quant_file_type(s->o->vocab_only ? BN_TYPE_F32 : s->o->proj_type), err)) ||
        (st = bn_gguf_set_u32(w, "general.quantization_version", 2, err)))
        return st;
    if (!have_config)
        return bn_tokexport_write_kvs(s->tok, w, err);
    const bn_arch_hparams hp = {.n_vocab = c->n_vocab, .n_ctx = c->n_ctx, .n_embd = c->n_embd,
                                .n_layer = c->n_layer, .n_ff = c->n_ff, .n_head = c->n_head,
                                .n_head_kv = c->n_head_kv, .head_dim = c->head_dim,
                                .n_rot = c->head_dim, .eps = c->rms_eps,
                                .rope_base = c->rope_theta};
    if ((st = bn_arch_write_hparams(w, bn_arch_get(c->arch), &hp, err)))
        return st;
    return bn_tokexport_write_kvs(s->tok, w, err);
}

static bn_status add_infos(convert_state *s, bn_error *err)
{
    for (size_t i = 0; i < s->n_plan; i++) {
        const job *j = &s->jobs[i];
        int64_t ne[2] = {j->plan->cols, j->plan->rows};
        uint32_t nd = bn_role_class_of(j->plan->role) == BN_RCLASS_NORM ? 1 : 2;
        bn_status st = bn_gguf_add_tensor(s->w, j->plan->gguf_name, nd, ne, j->type, err);
        if (st)
            return st;
    }
    return BN_OK;
}

/* f holds elements [first, first + n) of the tensor. */
static bn_status check_finite(const char *dir, const job *j, const float *f, uint64_t n,
                              uint64_t first, bn_error *err)
{
    if (bnc_have_avx2() && bnc_all_finite_avx2(f, (size_t)n))
        return BN_OK;
    for (uint64_t i = 0; i < n; i++)
        if (!isfinite(f[i])) {
            unsigned long long at = (unsigned long long)first + i;
            return bn_error_set(err, BN_EINVAL, "%s: tensor '%s' holds %s at element %llu", dir,
                                j->src->name, isnan(f[i]) ? "NaN" : "Inf", at);
        }
    return BN_OK;
}

/* llama: permute q/k rows for NORM rope (whole rows move: codes stay codes). */
static bn_status permute_qk(convert_state *s, const bn_tensor_plan *p, uint64_t n, bn_error *err)
{
    if (!bn_arch_get(s->cfg.arch)->permute_qk ||
        (p->role != BN_ROLE_ATTN_Q && p->role != BN_ROLE_ATTN_K))
        return BN_OK;
    int64_t heads = p->role == BN_ROLE_ATTN_Q ? s->cfg.n_head : s->cfg.n_head_kv;
    bn_status st = bn_permute_qk_rows(s->b.codes, s->b.scratch, heads, s->cfg.head_dim,
                                      (size_t)p->cols, err);
    if (!st)
        memcpy(s->b.codes, s->b.scratch, (size_t)n);
    return st;
}

/* A whole tensor as floats into s->b.f. A contiguous mapped tensor is converted
 * in one range per thread (the dtype conversion is the costly part of reading a
 * latent checkpoint from the page cache); the floats are the same either way. */
typedef struct {
    convert_state *s;
    const bn_ckpt_tensor *t;
    uint64_t n, per;
    bn_status st[BN_POOL_MAX_THREADS];
    bn_error err[BN_POOL_MAX_THREADS];
} read_ctx;

static void read_task(void *vc, int64_t task, int worker)
{
    (void)worker;
    read_ctx *c = vc;
    uint64_t first = (uint64_t)task * c->per, k = c->n - first < c->per ? c->n - first : c->per;
    c->st[task] = bn_ckpt_read_f32_range(c->s->ck, c->t, first, k, c->s->b.f + first, &c->err[task]);
}

#define READ_SPLIT_MIN (1u << 20) /* elements: below this one thread reads */

static bn_status read_floats(convert_state *s, const bn_ckpt_tensor *t, uint64_t n, bn_error *err)
{
    int nt = bn_pool_threads(s->pool);
    if (nt < 2 || n < READ_SPLIT_MIN || !bnc_ckpt_parallel_reads(s->ck, t))
        return bn_ckpt_read_f32(s->ck, t, s->b.f, s->b.f_cap, err);
    read_ctx *c = malloc(sizeof *c);
    if (!c)
        return bn_error_set(err, BN_ENOMEM, "out of memory reading '%s'", t->name);
    c->s = s, c->t = t, c->n = n;
    c->per = (n + (uint64_t)nt - 1) / (uint64_t)nt;
    c->per = (c->per + 4095) & ~(uint64_t)4095; /* ranges start on whole pages of 2- and 4-byte data */
    int64_t tasks = (int64_t)((n + c->per - 1) / c->per);
    bn_pool_run(s->pool, read_task, c, tasks);
    bn_status st = BN_OK;
    for (int64_t i = 0; i < tasks && !st; i++)
        if ((st = c->st[i]) && err)
            *err = c->err[i];
    free(c);
    return st;
}

/* A latent projection's floats as the ternarizer's first pass asks for them
 * (bn_quant_tensor_fill): each piece is converted from the checkpoint's dtype
 * and scanned while it is in cache, on the pass's threads. */
typedef struct {
    bn_ckpt *ck;
    const bn_ckpt_tensor *t;
} ckpt_source;

static bn_status ckpt_source_read(void *ctx, uint64_t first, uint64_t n, float *dst, bn_error *err)
{
    const ckpt_source *c = ctx;
    return bn_ckpt_read_f32_range(c->ck, c->t, first, n, dst, err);
}

/* A projection -> codes + scale (ternarized, or unpacked from uint8 exactly). */
static bn_status projection_codes(convert_state *s, const job *j, uint64_t n, float *scale,
                                  bn_error *err)
{
    const bn_tensor_plan *p = j->plan;
    bn_status st;
    if (j->scale) {
        /* Offline-packed: unpack along the output rows; scale = 1/weight_scale. */
        uint64_t nb = j->src->nbytes;
        if ((st = bn_quant_bufs_reserve(&s->b, 0, 0, 0, nb, p->hf_name, err)) ||
            (st = bn_ckpt_read_raw(s->ck, j->src, s->b.packed, s->b.packed_cap, err)) ||
            (st = bn_unpack_hf_bitnet_u8(p->hf_name, s->b.packed, p->rows / 4, p->cols, s->b.codes, err)))
            return st;
        float ws;
        if ((st = bn_ckpt_read_f32(s->ck, j->scale, &ws, 1, err)) ||
            (st = bn_hf_weight_scale_to_scale(j->scale->name, ws, scale, err)))
            return st;
        if (!s->report) {
            /* exact by construction: nothing to ternarize or measure */
            s->n_exact++;
            return permute_qk(s, p, n, err);
        }
        for (uint64_t i = 0; i < n; i++)
            s->b.f[i] = (float)s->b.codes[i] * *scale;
    } else if (!bnc_ckpt_parallel_reads(s->ck, j->src)) {
        /* NaN/Inf: the ternarizer's scan finds them in its own pass; the
         * message is check_finite's (below) */
        if ((st = read_floats(s, j->src, n, err)))
            return st;
    }
    /* Ternarize (already-ternary input, including unpacked weights, is kept exactly). */
    bn_quant_stats *stats = NULL;
    bn_quant_stats stbuf;
    if (s->report)
        stats = &stbuf;
    int64_t ne[2] = {p->cols, p->rows};
    bn_ternary_result res;
    const int nt = s->o->n_threads > 0 ? s->o->n_threads : 1;
    const bn_quant_method m = (bn_quant_method)s->o->method;
    if (!j->scale && bnc_ckpt_parallel_reads(s->ck, j->src)) {
        ckpt_source cs = {s->ck, j->src};
        const bn_quant_source src = {ckpt_source_read, &cs};
        st = bn_quant_tensor_fill(p->gguf_name, &src, s->b.f, 2, ne, m, s->b.codes, &res, stats, nt, err);
    } else {
        st = bn_quant_tensor_mt(p->gguf_name, s->b.f, 2, ne, m, s->b.codes, &res, stats, nt, err);
    }
    if (st && (res.flags & BN_QF_NAN_INF) && !j->scale && check_finite(s->o->in_dir, j, s->b.f, n, 0, err))
        return st;
    if (st)
        return bn_error_prefix(err, "%s: tensor '%s'", s->o->in_dir, p->hf_name);
    if (j->scale && (!(res.flags & BN_QF_ALREADY_TERNARY) || res.scale != *scale) && n > 0) {
        /* unpacked codes are ternary by construction: anything else is our bug */
        int all_zero = 1;
        for (uint64_t i = 0; i < n && all_zero; i++)
            all_zero = s->b.codes[i] == 0;
        if (!all_zero)
            return bn_error_set(err, BN_EINTERNAL, "%s: unpacked tensor '%s' did not stay exact",
                                s->o->in_dir, p->hf_name);
    }
    if (!j->scale)
        *scale = res.scale;
    if (s->report && (st = bn_quant_report_add(s->report, stats, err)))
        return st;
    if (res.flags & BN_QF_ALREADY_TERNARY)
        s->n_exact++;
    return permute_qk(s, p, n, err);
}

/* A non-projection tensor (embeddings, output, norms) -> F32/F16/BF16/Q8_0/K-quant rows.
 * These types pack row by row, so a large tensor streams in slices of whole
 * rows (opts.slice_bytes of floats): converting a 128k-vocabulary embedding
 * holds one slice, not the tensor. Tensors the checkpoint cannot hand out in
 * pieces (strided views, compressed zip entries) are read whole. */
#define COPY_SLICE (32u << 20)

static bn_status copy_rows(convert_state *s, const job *j, bn_error *err)
{
    const bn_tensor_plan *p = j->plan;
    int64_t step = p->rows;
    if (bn_ckpt_can_stream(s->ck, j->src)) {
        size_t slice = s->o->slice_bytes ? s->o->slice_bytes : COPY_SLICE;
        step = (int64_t)(slice / sizeof(float)) / (p->cols > 0 ? p->cols : 1);
        step = step < 1 ? 1 : step > p->rows ? p->rows : step;
    }
    uint64_t elems = (uint64_t)step * (uint64_t)p->cols;
    bn_status st;
    if ((st = bn_quant_bufs_reserve(&s->b, (size_t)(elems ? elems : 1), 0, 0, 0, p->hf_name, err)))
        return st;
    int64_t r0 = 0;
    do { /* at least once: an empty tensor still gets its (empty) write */
        int64_t rows = p->rows - r0 < step ? p->rows - r0 : step;
        uint64_t first = (uint64_t)r0 * (uint64_t)p->cols, k = (uint64_t)rows * (uint64_t)p->cols;
        size_t out_size;
        st = step == p->rows ? bn_ckpt_read_f32(s->ck, j->src, s->b.f, s->b.f_cap, err)
                             : bn_ckpt_read_f32_range(s->ck, j->src, first, k, s->b.f, err);
        if (st || (st = check_finite(s->o->in_dir, j, s->b.f, k, first, err)) ||
            (st = bn_quant_packed_size(j->type, p->cols, rows, &out_size, err)) ||
            (st = bn_quant_bufs_reserve(&s->b, 0, 0, 0, out_size, p->hf_name, err)) ||
            (st = bn_pack_f32(j->type, s->b.f, p->cols, rows, s->b.packed, out_size, s->o->n_threads,
                              err)) ||
            (st = bn_gguf_writer_write(s->w, s->b.packed, out_size, err)))
            return st;
    } while ((r0 += step) < p->rows);
    return BN_OK;
}

static bn_status convert_one(convert_state *s, const job *j, uint64_t *bytes_out, bn_error *err)
{
    const bn_tensor_plan *p = j->plan;
    const uint64_t n = (uint64_t)p->rows * (uint64_t)p->cols;
    const int nt = s->o->n_threads;
    size_t out_size;
    bn_status st;
    if ((st = bn_quant_packed_size(j->type, p->cols, p->rows, &out_size, err)))
        return st;
    if (bn_role_is_proj(p->role)) {
        size_t scratch = bn_arch_get(s->cfg.arch)->permute_qk ? (size_t)n : 0;
        if ((st = bn_quant_bufs_reserve(&s->b, (size_t)n, (size_t)n, scratch, 0, p->hf_name, err)))
            return st;
        float scale;
        if ((st = projection_codes(s, j, n, &scale, err)))
            return st;
        if (!s->w)
            return BN_OK; /* report-only run */
        if ((st = bn_quant_bufs_reserve(&s->b, 0, 0, 0, out_size, p->hf_name, err)))
            return st;
        if (bn_type_is_ternary(j->type)) {
            /* bn_pack_ternary writes the I2_S tail too */
            if ((st = bn_pack_ternary(j->type, s->b.codes, scale, p->cols, p->rows, s->b.packed, out_size,
                                      nt, err)))
                return st;
        } else {
            /* float projections carry the ternarized values, as llama.cpp's converter writes them */
            for (uint64_t i = 0; i < n; i++)
                s->b.f[i] = (float)s->b.codes[i] * scale;
            if ((st = bn_pack_f32(j->type, s->b.f, p->cols, p->rows, s->b.packed, out_size, nt, err)))
                return st;
        }
    } else {
        if (!s->w)
            return BN_OK; /* report-only run: only projections matter */
        *bytes_out = out_size;
        return copy_rows(s, j, err);
    }
    *bytes_out = out_size;
    return bn_gguf_writer_write(s->w, s->b.packed, out_size, err);
}

static void state_free(convert_state *s)
{
    bn_gguf_writer_abort(s->w);
    if (s->report != s->o->report)
        bn_quant_report_free(s->report);
    bn_tokexport_free(s->tok);
    bn_ckpt_close(s->ck);
    free(s->plan);
    free(s->jobs);
    bn_quant_bufs_free(&s->b);
    bn_pool_destroy(s->pool);
}

static int is_dir(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int dir_has_config(const char *dir)
{
    char p[4096];
    struct stat st;
    int n = snprintf(p, sizeof p, "%s/config.json", dir);
    return n > 0 && (size_t)n < sizeof p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* HF_DIR must be a directory: a missing path, a file, or the two arguments
 * given the other way round get one line saying what was expected. */
static bn_status check_in_dir(const bn_convert_opts *o, bn_error *err)
{
    if (is_dir(o->in_dir))
        return BN_OK;
    struct stat st;
    int exists = stat(o->in_dir, &st) == 0;
    if (is_dir(o->out_path) && dir_has_config(o->out_path))
        return bn_error_set(err, BN_EINVAL,
                            "HF_DIR must be a directory with config.json, but '%s' %s while '%s' is "
                            "one; did you swap HF_DIR and OUT.gguf?",
                            o->in_dir, exists ? "is a file" : "does not exist", o->out_path);
    if (!exists)
        return bn_error_set(err, BN_ENOTFOUND,
                            "%s: no such directory; HF_DIR must be a Hugging Face model directory "
                            "with config.json",
                            o->in_dir);
    return bn_error_set(err, BN_EINVAL,
                        "%s is a file; HF_DIR must be a directory with config.json (the checkpoint's "
                        "directory, not one of its files)",
                        o->in_dir);
}

/* The run's own output set: no output may be an input (a file of in_dir) or the
 * other output; checked before anything is read. */
static bn_status own_outputs(const bn_convert_opts *o, bn_outset **out, bn_error *err)
{
    const char *outs[2] = {o->out_path, o->report ? NULL : o->report_path};
    return bn_outset_plan(out, &o->in_dir, 1, outs, 2, err);
}

bn_status bn_convert_run(const bn_convert_opts *o, bn_convert_result *res, bn_error *err)
{
    convert_state s;
    memset(&s, 0, sizeof s);
    memset(res, 0, sizeof *res);
    s.o = o;
    double t0 = bn_now_seconds();
    bn_status st;
    if (!bn_type_is_ternary(o->proj_type) && o->proj_type != BN_TYPE_F16 && o->proj_type != BN_TYPE_F32)
        return bn_error_set(err, BN_EINVAL, "projection type %s is not one of i2_s, tq2_0, tq1_0, f16, f32",
                            bn_type_name(o->proj_type));
    if (!bn_role_type_ok(BN_ROLE_TOKEN_EMBD, o->embd_type))
        return bn_error_set(err, BN_EINVAL, "embedding type %s is not one of f16, f32, q8_0, q6_k, q4_k",
                            bn_type_name(o->embd_type));
    if ((st = check_in_dir(o, err)))
        return st;
    bn_outset *own = NULL;
    bn_report_format rf;
    if ((!o->outputs && (st = own_outputs(o, &own, err))) ||
        (st = bn_report_format_choose(o->report_format, o->report_path, &rf, err))) {
        bn_outset_free(own);
        return st;
    }
    s.outputs = o->outputs ? o->outputs : own;
    int have_config = 1;
    stage(o, "reading config.json");
    if ((st = bn_hfconfig_load(o->in_dir, &s.cfg, err))) {
        /* A bare tokenizer directory (tokenizer.json alone) still makes a vocab
         * file, as llama.cpp's vocab GGUFs are: general.* and tokenizer.* only. */
        if (!(st == BN_ENOTFOUND && o->vocab_only)) {
            bn_outset_free(own);
            return st;
        }
        have_config = 0;
        s.cfg.arch = BN_ARCH_LLAMA; /* llama.cpp's vocab files say llama */
        s.cfg.gguf_arch = bn_arch_get(BN_ARCH_LLAMA)->gguf_name;
    }
    if (have_config && o->arch && (st = bn_hfconfig_select(&s.cfg, o->arch, o->in_dir, err))) {
        bn_outset_free(own);
        return st;
    }
    /* docs/compat.md: upstream llama.cpp has no bitnet-b1.58 architecture, so the
     * types it would otherwise load are worth one line saying where they load. */
    if (have_config && o->out_path && !o->vocab_only && strcmp(s.cfg.gguf_arch, "bitnet-b1.58") == 0 &&
        (o->proj_type == BN_TYPE_TQ1_0 || o->proj_type == BN_TYPE_TQ2_0))
        notice(o, "warning: %s projections of a '%s' model (%s) load in bntk and bitnet.cpp, but not in "
               "upstream llama.cpp, which does not know that architecture (docs/compat.md)",
               bn_type_name(o->proj_type), s.cfg.gguf_arch, s.cfg.hf_arch);
    /* The tokenizer goes into the GGUF; a report-only run does not need one. */
    stage(o, "reading the tokenizer");
    if (o->out_path && (st = bn_tokexport_load(o->in_dir, &s.tok, err))) {
        if (st == BN_ENOTFOUND)
            bn_error_set(err, BN_EINVAL, "%s: no tokenizer.json or tokenizer.model: a GGUF without its "
                         "tokenizer cannot be run or evaluated", o->in_dir);
        goto fail;
    }
    const char *pre = have_config ? bn_arch_get(s.cfg.arch)->bpe_pre : NULL;
    if (s.tok && pre)
        bn_tokexport_rename_llama3_pre(s.tok, pre);
    if (have_config && s.tok && bn_tokexport_vocab_size(s.tok) != s.cfg.n_vocab) {
        st = bn_error_set(err, BN_EINVAL, "%s: the tokenizer has %u tokens but config.json says vocab_size %u",
                          o->in_dir, bn_tokexport_vocab_size(s.tok), s.cfg.n_vocab);
        goto fail;
    }
    int has_output = 0;
    if (!o->vocab_only) {
        stage(o, "opening the checkpoint and planning the tensors");
        if ((st = bn_ckpt_open(o->in_dir, &s.ck, err)) || (st = find_state_dict(&s, err)) ||
            (st = decide_head(&s, &has_output, err)) ||
            (st = bn_plan_tensors(&s.cfg, has_output, &s.plan, &s.n_plan, err)) || (st = resolve(&s, err)))
            goto fail;
        if (o->report)
            s.report = o->report;
        else if (o->report_path && ((st = bn_quant_report_new(o->in_dir, &s.report, err)) ||
                                    (st = bn_quant_report_set_tool(s.report, "bn-convert", err)) ||
                                    (st = bn_quant_report_set_meta(s.report, o->report_tool, o->report_command,
                                                                   bn_type_name(o->proj_type), err))))
            goto fail;
    }
    if (!o->out_path && !s.report && !o->vocab_only) {
        st = bn_error_set(err, BN_EINVAL, "%s: nothing to do: no output file and no report", o->in_dir);
        goto fail;
    }
    if (o->out_path && ((st = bn_gguf_writer_open_in(s.outputs, o->out_path, 0, &s.w, err)) ||
                        (st = write_kvs(&s, have_config, err)) || (st = add_infos(&s, err))))
        goto fail;
    if (o->planned) {
        uint64_t total = 0;
        for (size_t i = 0; i < s.n_plan; i++)
            total += s.jobs[i].src->nbytes + (s.jobs[i].scale ? s.jobs[i].scale->nbytes : 0);
        o->planned(o->user, s.n_plan, total);
    }
    if (!o->vocab_only && o->n_threads > 1 && (st = bn_pool_create(o->n_threads, &s.pool, err)))
        goto fail;
    for (size_t i = 0; i < s.n_plan; i++) {
        const job *j = &s.jobs[i];
        uint64_t out_bytes = 0;
        if ((st = convert_one(&s, j, &out_bytes, err)))
            goto fail;
        res->n_by_type[j->type & 63]++;
        res->n_fallback += (size_t)j->fallback;
        res->bytes_in += j->src->nbytes + (j->scale ? j->scale->nbytes : 0);
        res->bytes_out += out_bytes;
        if (o->progress)
            o->progress(o->user, i + 1, s.n_plan, j->plan->gguf_name, res->bytes_in, res->bytes_out);
    }
    /* the report joins the output set: renamed with the GGUF, or removed with it */
    if (o->report_path && (st = bn_quant_report_save(s.report, rf, o->report_path, s.outputs, err)))
        goto fail;
    st = s.w ? bn_gguf_writer_finish(s.w, err) : BN_OK;
    s.w = NULL;
    if (st)
        goto fail;
    if (own && (st = bn_outset_commit(own, err)))
        goto fail;
    res->n_tensors = s.n_plan;
    res->n_already_ternary = s.n_exact;
    res->seconds = bn_now_seconds() - t0;
fail:
    state_free(&s);
    bn_outset_free(own); /* a failed run: every temp file of the run is removed */
    return st;
}
