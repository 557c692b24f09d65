/*
 * requant.c - GGUF to GGUF requantization (include/bn/requant.h): bn-quant's
 * engine, as pipeline.c is bn-convert's.
 *
 *   GGUF ──> layout check (architecture table) ──> every tensor's new type checked
 *        ──> KVs + tensor infos ──> one tensor at a time: decode (f32) ──>
 *            projection: ternarize + statistics ──> pack ──> GGUF writer
 *            embedding/head/norm: pack as embd_type / F32; other: copied
 */
#include "bn/requant.h"

#include <stdio.h>
#include <string.h>

#include "bn/arch.h"

void bn_requant_opts_init(bn_requant_opts *o)
{
    memset(o, 0, sizeof *o);
    o->proj_type = BN_TYPE_I2_S;
    o->embd_type = BN_TYPE_F16;
    o->method = BN_QM_ABSMEAN;
    o->n_threads = 1;
}

/* ---- tensor classes ---------------------------------------------------------------- */

/* How a tensor is requantized, by its role in the architecture table: a
 * projection, an embedding or head, a norm (or any other 1-D float vector,
 * kept F32), or copied unchanged (BN_RCLASS_NONE). */
static bn_role_class classify(const bn_gguf_tensor *t)
{
    int layer;
    bn_role r = bn_role_of_name(t->name, &layer);
    if (bn_role_is_proj(r) && strncmp(t->name, "blk.", 4) == 0)
        return BN_RCLASS_PROJ;
    if (r == BN_ROLE_TOKEN_EMBD || r == BN_ROLE_OUTPUT)
        return BN_RCLASS_EMBD;
    int is_float = t->type == BN_TYPE_F32 || t->type == BN_TYPE_F16 || t->type == BN_TYPE_BF16;
    if (t->n_dims == 1 && is_float)
        return BN_RCLASS_NORM;
    return BN_RCLASS_NONE;
}

/* The types bn_unpack_f32 reads. */
static int decodable(bn_type t)
{
    return t == BN_TYPE_F32 || t == BN_TYPE_F16 || t == BN_TYPE_BF16 || t == BN_TYPE_Q8_0 ||
           bn_type_is_ternary(t);
}

static bn_type out_type(const bn_requant_opts *o, const bn_gguf_tensor *t)
{
    switch (classify(t)) {
    case BN_RCLASS_PROJ: return o->proj_type;
    case BN_RCLASS_EMBD: return o->embd_type;
    case BN_RCLASS_NORM: return BN_TYPE_F32;
    case BN_RCLASS_NONE: return t->type;
    }
    return t->type;
}

/* Rows of a tensor viewed as ne0 x (ne1*ne2*ne3). */
static int64_t n_rows(const bn_gguf_tensor *t)
{
    return t->ne[0] > 0 ? (int64_t)(t->n_el / (uint64_t)t->ne[0]) : 0; /* an empty tensor has no rows */
}

/* ---- the layout check ---------------------------------------------------------------- */

/* u32 hyperparameter {arch}.KEY (non-zero); dflt when absent. */
static bn_status hparam(const bn_gguf *g, const char *arch, const char *key, uint32_t dflt, uint32_t *out,
                        bn_error *err)
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (!bn_gguf_find_kv(g, k) && dflt) {
        *out = dflt;
        return BN_OK;
    }
    bn_status st = bn_gguf_get_u32(g, k, out, err);
    if (!st && *out == 0)
        st = bn_error_set(err, BN_EINVAL, "key '%s' is 0", k);
    return st;
}

/* The hyperparameters copied must describe the tensors written, as bn-convert
 * makes sure: the tensors of the architecture table's row for the file's own
 * KVs, every one present with the shape they imply (contract 2). Files of
 * other architectures, without tensors or without the shape KVs are copied
 * unchecked. */
static bn_status check_layout(const bn_gguf *g, bn_error *err)
{
    bn_str an;
    if (bn_gguf_n_tensors(g) == 0 || bn_gguf_get_str(g, "general.architecture", &an, NULL) != BN_OK)
        return BN_OK;
    const bn_arch_info *row = bn_arch_from_gguf(an.ptr, (size_t)an.len);
    if (!row)
        return BN_OK;
    const char *a = row->gguf_name;
    /* Without the shape hyperparameters there is nothing to disagree with. */
    static const char *const need[] = {"embedding_length", "feed_forward_length", "block_count",
                                       "attention.head_count"};
    for (size_t k = 0; k < sizeof need / sizeof *need; k++) {
        char key[128];
        snprintf(key, sizeof key, "%s.%s", a, need[k]);
        if (!bn_gguf_find_kv(g, key))
            return BN_OK;
    }
    const bn_gguf_tensor *embd = bn_gguf_find_tensor(g, "token_embd.weight");
    uint32_t n_vocab_t = embd && embd->n_dims == 2 && embd->ne[1] <= UINT32_MAX ? (uint32_t)embd->ne[1] : 1;
    uint32_t n_embd, n_ff, n_layer, n_head, n_head_kv, n_vocab;
    bn_status st;
    if ((st = hparam(g, a, "embedding_length", 0, &n_embd, err)) ||
        (st = hparam(g, a, "feed_forward_length", 0, &n_ff, err)) ||
        (st = hparam(g, a, "block_count", 0, &n_layer, err)) ||
        (st = hparam(g, a, "attention.head_count", 0, &n_head, err)) ||
        (st = hparam(g, a, "attention.head_count_kv", n_head, &n_head_kv, err)) ||
        (st = hparam(g, a, "vocab_size", n_vocab_t, &n_vocab, err)))
        return st;
    if (n_embd % n_head || n_layer > 4096)
        return bn_error_set(err, BN_EINVAL, "%s.embedding_length %u is not a multiple of "
                            "%s.attention.head_count %u, or %s.block_count %u is too large", a, n_embd, a,
                            n_head, a, n_layer);
    const bn_arch_dims dims = {n_embd, n_ff, n_vocab, n_head, n_head_kv, n_embd / n_head};
    int has_output = bn_gguf_find_tensor(g, "output.weight") != NULL;
    size_t n_t = bn_arch_n_tensors(row, n_layer, has_output);
    for (size_t i = 0; i < n_t; i++) {
        const bn_arch_tensor *at;
        int64_t l;
        bn_arch_tensor_at(row, n_layer, has_output, i, &at, &l);
        char name[BN_GGUF_MAX_NAME + 1];
        bn_arch_gguf_tensor_name(at, l, name, sizeof name);
        int64_t cols = bn_arch_dim(at->ne0, &dims), rows = bn_arch_dim(at->ne1, &dims); /* rows 1: vectors */
        const bn_gguf_tensor *t = bn_gguf_find_tensor(g, name);
        if (!t)
            return bn_error_set(err, BN_EINVAL, "tensor '%s' is missing for the hyperparameters of "
                                "this %s file", name, a);
        if (t->ne[0] != cols || (t->n_dims > 1 ? t->ne[1] : 1) != rows)
            return bn_error_set(err, BN_EINVAL, "tensor '%s' is [%lld, %lld] but the file's "
                                "hyperparameters (embedding_length %u, feed_forward_length %u, heads %u/%u, "
                                "vocab %u) make it [%lld, %lld]", name, (long long)t->ne[0],
                                (long long)(t->n_dims > 1 ? t->ne[1] : 1), n_embd, n_ff, n_head, n_head_kv,
                                n_vocab, (long long)cols, (long long)rows);
    }
    return BN_OK;
}

/* Every re-encoded tensor decodable, a projection a matrix, every row length
 * fit for its new type: checked before the output exists. */
static bn_status check_targets(const bn_requant_opts *o, const bn_gguf *g, bn_error *err)
{
    for (int64_t i = 0; i < bn_gguf_n_tensors(g); i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
        bn_role_class cl = classify(t);
        if (cl == BN_RCLASS_NONE)
            continue;
        if (!decodable(t->type))
            return bn_error_set(err, BN_EUNSUPPORTED, "tensor '%s': type %s cannot be re-encoded", t->name,
                                bn_type_name((uint32_t)t->type));
        if (cl == BN_RCLASS_PROJ && t->n_dims != 2)
            return bn_error_set(err, BN_EINVAL, "tensor '%s': projection with %u dimensions (expected 2)", t->name,
                                t->n_dims);
        size_t np;
        bn_type ot = out_type(o, t);
        if (bn_quant_packed_size(ot, t->ne[0], n_rows(t), &np, err))
            return bn_error_prefix(err, "tensor '%s' as %s", t->name, bn_type_name((uint32_t)ot));
    }
    return BN_OK;
}

/* ---- one tensor ---------------------------------------------------------------------- */

/* Decode a tensor to f32 into b->f. */
static bn_status decode(const bn_requant_opts *o, const bn_gguf_tensor *t, bn_quant_bufs *b, bn_error *err)
{
    if (!decodable(t->type))
        return bn_error_set(err, BN_EUNSUPPORTED, "tensor '%s': type %s cannot be decoded", t->name,
                            bn_type_name((uint32_t)t->type));
    bn_status st = bn_quant_bufs_reserve(b, (size_t)t->n_el, (size_t)t->n_el, 0, 0, t->name, err);
    if (st)
        return st;
    st = bn_unpack_f32(t->type, t->data, (size_t)t->nbytes, t->ne[0], n_rows(t), b->f, o->n_threads, err);
    return st ? bn_error_prefix(err, "tensor '%s'", t->name) : BN_OK;
}

/* Ternarize + statistics of a projection decoded into b->f. */
static bn_status ternarize(const bn_requant_opts *o, const bn_gguf_tensor *t, bn_quant_bufs *b,
                           bn_ternary_result *res, bn_quant_stats *st, bn_error *err)
{
    return bn_quant_tensor_mt(t->name, b->f, t->n_dims, t->ne, o->method, b->codes, res, st, o->n_threads, err);
}

static bn_status write_tensor(const bn_requant_opts *o, const bn_gguf_tensor *t, bn_gguf_writer *w,
                              bn_quant_bufs *b, uint64_t *bytes_out, bn_error *err)
{
    bn_type ot = out_type(o, t);
    bn_role_class cl = classify(t);
    if (cl == BN_RCLASS_NONE) {
        *bytes_out += t->nbytes;
        return bn_gguf_writer_write(w, t->data, (size_t)t->nbytes, err);
    }
    size_t np;
    bn_status st = bn_quant_packed_size(ot, t->ne[0], n_rows(t), &np, err);
    if (st)
        return bn_error_prefix(err, "tensor '%s' as %s", t->name, bn_type_name((uint32_t)ot));
    if ((st = bn_quant_bufs_reserve(b, 0, 0, 0, np, t->name, err)) || (st = decode(o, t, b, err)))
        return st;
    if (cl == BN_RCLASS_PROJ) {
        bn_ternary_result res;
        bn_quant_stats qs;
        if ((st = ternarize(o, t, b, &res, &qs, err)) || (st = bn_quant_report_add(o->report, &qs, err)))
            return st;
        st = bn_pack_ternary(ot, b->codes, res.scale, t->ne[0], n_rows(t), b->packed, np, o->n_threads, err);
    } else {
        st = bn_pack_f32(ot, b->f, t->ne[0], n_rows(t), b->packed, np, o->n_threads, err);
    }
    if (st)
        return bn_error_prefix(err, "tensor '%s'", t->name);
    *bytes_out += np;
    return bn_gguf_writer_write(w, b->packed, np, err);
}

/* ---- the two runs ------------------------------------------------------------------- */

/* general.* as the input's, file_type and quantization_version for the new
 * projections; then every tensor's info. */
static bn_status write_header(const bn_requant_opts *o, const bn_gguf *g, bn_gguf_writer *w, bn_error *err)
{
    bn_status st = BN_OK;
    int has_ftype = 0, has_qv = 0;
    for (int64_t i = 0; i < bn_gguf_n_kv(g) && !st; i++) {
        const bn_gguf_kv *kv = bn_gguf_kv_at(g, i);
        if (!strcmp(kv->key, "general.alignment"))
            continue; /* the writer emits it for a non-default alignment */
        if (!strcmp(kv->key, "general.file_type")) {
            has_ftype = 1;
            st = bn_gguf_set_u32(w, kv->key, bn_quant_file_type(o->proj_type), err);
        } else {
            has_qv |= !strcmp(kv->key, "general.quantization_version");
            st = bn_gguf_copy_kv(w, g, kv, err);
        }
    }
    if (!st && !has_qv)
        st = bn_gguf_set_u32(w, "general.quantization_version", 2, err);
    if (!st && !has_ftype)
        st = bn_gguf_set_u32(w, "general.file_type", bn_quant_file_type(o->proj_type), err);
    for (int64_t i = 0; i < bn_gguf_n_tensors(g) && !st; i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
        st = bn_gguf_add_tensor(w, t->name, t->n_dims, t->ne, out_type(o, t), err);
    }
    return st;
}

static void planned(const bn_requant_opts *o, const bn_gguf *g)
{
    if (!o->planned)
        return;
    uint64_t total = 0;
    for (int64_t i = 0; i < bn_gguf_n_tensors(g); i++)
        total += bn_gguf_tensor_at(g, i)->nbytes;
    o->planned(o->user, (size_t)bn_gguf_n_tensors(g), total);
}

static bn_status requantize(const bn_requant_opts *o, const bn_gguf *g, bn_error *err)
{
    bn_status st = check_layout(g, err);
    if (st)
        return bn_error_prefix(err, "%s", o->in_name);
    if ((st = check_targets(o, g, err)))
        return st;
    uint32_t align = bn_gguf_alignment(g);
    bn_gguf_writer *w;
    if ((st = bn_gguf_writer_open_in(o->outputs, o->out_path, align == BN_GGUF_DEFAULT_ALIGNMENT ? 0 : align,
                                     &w, err)))
        return st;
    st = write_header(o, g, w, err);
    planned(o, g);
    bn_quant_bufs b = {0};
    uint64_t in = 0, out = 0;
    int64_t nt = bn_gguf_n_tensors(g);
    for (int64_t i = 0; i < nt && !st; i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
        st = write_tensor(o, t, w, &b, &out, err);
        in += t->nbytes;
        if (o->progress)
            o->progress(o->user, (size_t)i + 1, (size_t)nt, t->name, in, out);
    }
    bn_quant_bufs_free(&b);
    if (st) {
        bn_gguf_writer_abort(w);
        return st;
    }
    return bn_gguf_writer_finish(w, err);
}

/* Report only: statistics of every projection; NaN/Inf tensors are listed
 * (flag nan-inf) and noticed rather than fatal, so a gate can name them. */
static bn_status report_only(const bn_requant_opts *o, const bn_gguf *g, bn_error *err)
{
    bn_quant_bufs b = {0};
    bn_status st = BN_OK;
    uint64_t in = 0;
    int64_t nt = bn_gguf_n_tensors(g);
    planned(o, g);
    for (int64_t i = 0; i < nt && !st; i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
        in += t->nbytes;
        if (o->progress)
            o->progress(o->user, (size_t)i + 1, (size_t)nt, t->name, in, 0);
        if (classify(t) != BN_RCLASS_PROJ)
            continue;
        if ((st = decode(o, t, &b, err)))
            break;
        bn_ternary_result res;
        bn_quant_stats qs;
        st = ternarize(o, t, &b, &res, &qs, err);
        if (st && (res.flags & BN_QF_NAN_INF)) {
            if (o->notice) {
                char msg[BN_ERROR_MSG_MAX + 16];
                snprintf(msg, sizeof msg, "warning: %s", err->msg);
                o->notice(o->user, msg);
            }
            st = BN_OK;
        }
        if (!st)
            st = bn_quant_report_add(o->report, &qs, err);
    }
    bn_quant_bufs_free(&b);
    return st;
}

bn_status bn_requant_run(const bn_requant_opts *o, const bn_gguf *g, bn_error *err)
{
    if (!o->report)
        return bn_error_set(err, BN_EINVAL, "%s: requantization needs a report for the statistics", o->in_name);
    if (!bn_type_is_ternary(o->proj_type))
        return bn_error_set(err, BN_EINVAL, "projection type %s is not one of i2_s, tq2_0, tq1_0",
                            bn_type_name((uint32_t)o->proj_type));
    return o->out_path ? requantize(o, g, err) : report_only(o, g, err);
}
