/* synth.c - a random model of a given shape (synth.h): the tensor list and
 * keys from the architecture table, weights from one seeded RNG stream,
 * written tensor by tensor in row chunks (memory ~ one chunk, whatever the
 * shape). */
#include "bn/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/quant.h"
#include "bn/util.h"

void bn_synth_params_default(bn_synth_params *p)
{
    memset(p, 0, sizeof *p);
    p->arch = BN_ARCH_BITNET_B158;
    p->proj_type = BN_TYPE_I2_S;
    p->embd_type = BN_TYPE_F16;
    p->seed = 1;
    bn_synth_preset("tiny", p, NULL);
}

bn_status bn_synth_preset(const char *name, bn_synth_params *p, bn_error *err)
{
    if (!strcmp(name, "tiny")) {
        p->n_embd = 256, p->n_ff = 512, p->n_layer = 2, p->n_head = 4, p->n_head_kv = 2;
        p->n_vocab = 512, p->n_ctx = 512;
    } else if (!strcmp(name, "2b")) {
        p->n_embd = 2560, p->n_ff = 6912, p->n_layer = 30, p->n_head = 20, p->n_head_kv = 5;
        p->n_vocab = 128256, p->n_ctx = 4096;
    } else {
        return bn_error_set(err, BN_EINVAL, "preset '%s' is not 2b or tiny", name);
    }
    return BN_OK;
}

static int is_proj_type(bn_type t)
{
    return t == BN_TYPE_I2_S || t == BN_TYPE_TQ2_0 || t == BN_TYPE_TQ1_0 || t == BN_TYPE_F16 ||
           t == BN_TYPE_BF16 || t == BN_TYPE_F32;
}

bn_status bn_synth_check(const bn_synth_params *p, bn_error *err)
{
    if ((unsigned)p->arch >= BN_ARCH_COUNT)
        return bn_error_set(err, BN_EINVAL, "architecture %d is not one of %s", (int)p->arch,
                            bn_arch_names());
    if (!is_proj_type(p->proj_type))
        return bn_error_set(err, BN_EINVAL, "projection type %s is not one of i2_s, tq2_0, tq1_0, "
                            "f16, bf16, f32", bn_type_name(p->proj_type));
    if (!bn_role_type_ok(BN_ROLE_TOKEN_EMBD, p->embd_type))
        return bn_error_set(err, BN_EINVAL, "embedding type %s is not one of f16, f32, q8_0, q6_k, q4_k",
                            bn_type_name(p->embd_type));
    if (p->n_embd < 1 || p->n_embd > (1 << 16) || p->n_ff < 1 || p->n_ff > (1 << 18) ||
        p->n_layer < 1 || p->n_layer > 1024 || p->n_head < 1 || p->n_head > 1024 ||
        p->n_head_kv < 1 || p->n_head_kv > 1024 || p->n_vocab < 3 + 256 ||
        p->n_vocab > (1 << 22) || p->n_ctx < 1 || p->n_ctx > (1 << 24) || p->n_threads < 0)
        return bn_error_set(err, BN_EINVAL, "embd %d, ff %d, layers %d, heads %d/%d, vocab %d, ctx "
                            "%d, threads %d: a size out of range", p->n_embd, p->n_ff, p->n_layer,
                            p->n_head, p->n_head_kv, p->n_vocab, p->n_ctx, p->n_threads);
    if (p->n_embd % p->n_head || p->n_head % p->n_head_kv || (p->n_embd / p->n_head) % 2)
        return bn_error_set(err, BN_EINVAL, "embd %d, heads %d, heads-kv %d: heads must divide embd "
                            "into an even head size, and heads-kv must divide heads",
                            p->n_embd, p->n_head, p->n_head_kv);
    int64_t blk = bn_type_block_size(p->proj_type), eblk = bn_type_block_size(p->embd_type);
    if (p->n_embd % blk || p->n_ff % blk || p->n_embd % eblk)
        return bn_error_set(err, BN_EINVAL, "embd %d and ff %d must be multiples of %lld for type %s",
                            p->n_embd, p->n_ff, (long long)(blk > eblk ? blk : eblk),
                            bn_type_name(blk >= eblk ? p->proj_type : p->embd_type));
    return BN_OK;
}

/* ---- random numbers (bn_rng_next, reproducible) ------------------------------------ */

static float rng_uniform(uint64_t *s) /* [-1, 1) */
{
    return 2.0f * bn_rng_float(s) - 1.0f;
}

/* ---- tensors -------------------------------------------------------------------------- */

typedef struct {
    char name[BN_GGUF_MAX_NAME + 1];
    int64_t ne0, ne1;        /* ne1 = 1 for vectors */
    bn_type type;
    bn_role_class cls;       /* what the values look like (arch.h) */
} tdesc;

/* Rows per generated chunk: bounds memory for the 128256 x 2560 embedding. */
#define CHUNK_ELEMS (1 << 22)

/* Generate and write one tensor in row chunks. */
static bn_status write_tensor(bn_gguf_writer *w, const tdesc *t, uint64_t *rng, int threads,
                              bn_error *err)
{
    int64_t rows_per = CHUNK_ELEMS / t->ne0 > 0 ? CHUNK_ELEMS / t->ne0 : 1;
    if (rows_per > t->ne1)
        rows_per = t->ne1;
    size_t n = (size_t)(rows_per * t->ne0), cap;
    bn_status st = bn_quant_packed_size(t->type, t->ne0, rows_per, &cap, err);
    if (st)
        return st;
    float *f = malloc(n * sizeof *f);
    int8_t *codes = malloc(n);
    uint8_t *buf = malloc(cap);
    if (!f || !codes || !buf) {
        st = bn_error_set(err, BN_ENOMEM, "out of memory for tensor '%s'", t->name);
        goto out;
    }
    /* ternary scale ~ 1/sqrt(fan-in): keeps activations O(1) without sub-norms */
    float scale = 1.0f / sqrtf((float)t->ne0);
    for (int64_t r0 = 0; r0 < t->ne1 && !st; r0 += rows_per) {
        int64_t nr = t->ne1 - r0 < rows_per ? t->ne1 - r0 : rows_per;
        size_t m = (size_t)(nr * t->ne0), bytes;
        if ((st = bn_quant_packed_size(t->type, t->ne0, nr, &bytes, err)))
            break;
        if (t->cls == BN_RCLASS_PROJ) {
            for (size_t i = 0; i < m; i++)
                codes[i] = (int8_t)(bn_rng_next(rng) % 3) - 1;
            if (bn_type_is_ternary(t->type)) {
                st = bn_pack_ternary(t->type, codes, scale, t->ne0, nr, buf, bytes, threads, err);
                if (t->type == BN_TYPE_I2_S)
                    bytes -= BN_I2_S_TAIL; /* one tail for the whole tensor, below */
            } else {
                for (size_t i = 0; i < m; i++)
                    f[i] = scale * codes[i];
                st = bn_pack_f32(t->type, f, t->ne0, nr, buf, bytes, threads, err);
            }
        } else {
            for (size_t i = 0; i < m; i++)
                f[i] = t->cls == BN_RCLASS_NORM ? 1.0f + 0.25f * rng_uniform(rng) : rng_uniform(rng);
            st = bn_pack_f32(t->type, f, t->ne0, nr, buf, bytes, threads, err);
        }
        if (!st)
            st = bn_gguf_writer_write(w, buf, bytes, err);
    }
    if (!st && t->type == BN_TYPE_I2_S) {
        uint8_t tail[BN_I2_S_TAIL];
        bn_pack_i2s_tail(scale, tail);
        st = bn_gguf_writer_write(w, tail, sizeof tail, err);
    }
out:
    free(f);
    free(codes);
    free(buf);
    return st ? bn_error_prefix(err, "tensor '%s'", t->name) : BN_OK;
}

/* ---- tokenizer -------------------------------------------------------------------------- */

/* <unk>, <s>, </s>, the 256 byte tokens, then distinct "words": the base-26
 * spelling of the index, with the SentencePiece space mark on even ones. */
static bn_status write_tokenizer(bn_gguf_writer *w, int n_vocab, bn_error *err)
{
    char **tok = calloc((size_t)n_vocab, sizeof *tok);
    float *scores = malloc((size_t)n_vocab * sizeof *scores);
    int32_t *types = malloc((size_t)n_vocab * sizeof *types);
    bn_status st = BN_OK;
    if (!tok || !scores || !types) {
        st = bn_error_set(err, BN_ENOMEM, "out of memory for %d tokens", n_vocab);
        goto out;
    }
    for (int i = 0; i < n_vocab; i++) {
        char buf[32];
        if (i == 0)
            snprintf(buf, sizeof buf, "<unk>");
        else if (i == 1)
            snprintf(buf, sizeof buf, "<s>");
        else if (i == 2)
            snprintf(buf, sizeof buf, "</s>");
        else if (i < 3 + 256)
            snprintf(buf, sizeof buf, "<0x%02X>", i - 3);
        else {
            int k = i - 3 - 256, n = 0;
            char word[16];
            do {
                word[n++] = (char)('a' + k % 26);
                k /= 26;
            } while (k > 0 && n < 15);
            word[n] = 0;
            snprintf(buf, sizeof buf, "%s%s", i % 2 ? "" : "\xe2\x96\x81", word);
        }
        tok[i] = strdup(buf);
        if (!tok[i]) {
            st = bn_error_set(err, BN_ENOMEM, "out of memory for %d tokens", n_vocab);
            goto out;
        }
        scores[i] = i < 3 + 256 ? 0.0f : -(float)i;
        types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 3 + 256 ? 6 : 1;
    }
    if ((st = bn_gguf_set_str(w, "tokenizer.ggml.model", "llama", err)) ||
        (st = bn_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, NULL,
                                  (uint64_t)n_vocab, err)) ||
        (st = bn_gguf_set_arr(w, "tokenizer.ggml.scores", BN_GGUF_F32, scores,
                              (uint64_t)n_vocab, err)) ||
        (st = bn_gguf_set_arr(w, "tokenizer.ggml.token_type", BN_GGUF_I32, types,
                              (uint64_t)n_vocab, err)) ||
        (st = bn_gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", 0, err)) ||
        (st = bn_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 1, err)) ||
        (st = bn_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 2, err)) ||
        (st = bn_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", 1, err)) ||
        (st = bn_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", 0, err)))
        goto out;
out:
    if (tok)
        for (int i = 0; i < n_vocab; i++)
            free(tok[i]);
    free(tok);
    free(scores);
    free(types);
    return st;
}

/* ---- the model ---------------------------------------------------------------------------- */

static bn_status write_kvs(bn_gguf_writer *w, const bn_synth_params *o, const bn_arch_info *a,
                           bn_error *err)
{
    bn_status st;
    uint32_t file_type = bn_quant_file_type(o->proj_type);
    const bn_arch_hparams hp = {.n_vocab = o->n_vocab, .n_ctx = o->n_ctx, .n_embd = o->n_embd,
                                .n_layer = o->n_layer, .n_ff = o->n_ff, .n_head = o->n_head,
                                .n_head_kv = o->n_head_kv, .head_dim = o->n_embd / o->n_head,
                                .n_rot = o->n_embd / o->n_head, .eps = 1e-5f,
                                .rope_base = 500000.0f};
    if ((st = bn_gguf_set_str(w, "general.architecture", a->gguf_name, err)) ||
        (st = bn_gguf_set_str(w, "general.name", "bn-synth random ternary model", err)) ||
        (st = bn_gguf_set_u32(w, "general.quantization_version", 2, err)) ||
        (st = bn_gguf_set_u32(w, "general.file_type", file_type, err)) ||
        (st = bn_arch_write_hparams(w, a, &hp, err)))
        return st;
    return o->no_vocab ? BN_OK : write_tokenizer(w, o->n_vocab, err);
}

/* The table's tensor list in file order; returns the count (caller frees *out). */
static int list_tensors(const bn_synth_params *o, const bn_arch_info *a, int untied, tdesc **out)
{
    size_t n = bn_arch_n_tensors(a, o->n_layer, untied);
    tdesc *t = calloc(n, sizeof *t);
    if (!t)
        return -1;
    const bn_arch_dims dims = {o->n_embd, o->n_ff, o->n_vocab, o->n_head, o->n_head_kv, o->n_embd / o->n_head};
    for (size_t i = 0; i < n; i++) {
        const bn_arch_tensor *e;
        int64_t l;
        bn_arch_tensor_at(a, o->n_layer, untied, i, &e, &l);
        bn_arch_gguf_tensor_name(e, l, t[i].name, sizeof t[i].name);
        t[i].ne0 = bn_arch_dim(e->ne0, &dims);
        t[i].ne1 = bn_arch_dim(e->ne1, &dims);
        t[i].cls = bn_role_class_of(e->role);
        t[i].type = t[i].cls == BN_RCLASS_PROJ   ? o->proj_type
                    : t[i].cls == BN_RCLASS_EMBD ? o->embd_type
                                                 : BN_TYPE_F32;
    }
    *out = t;
    return (int)n;
}

bn_status bn_synth_write(const char *path, const bn_synth_params *o, bn_synth_progress_fn progress,
                         void *user, bn_error *err)
{
    bn_status st0 = bn_synth_check(o, err);
    if (st0)
        return st0;
    const bn_arch_info *a = bn_arch_get(o->arch);
    /* a row whose head is untied always gets output.weight */
    int untied = o->untied || a->head == BN_HEAD_UNTIED;
    tdesc *t;
    int n = list_tensors(o, a, untied, &t);
    if (n < 0)
        return bn_error_set(err, BN_ENOMEM, "out of memory");
    bn_gguf_writer *w = NULL;
    bn_status st = bn_gguf_writer_open(path, 0, &w, err);
    if (!st)
        st = write_kvs(w, o, a, err);
    for (int i = 0; i < n && !st; i++) {
        int64_t ne[2] = {t[i].ne0, t[i].ne1};
        st = bn_gguf_add_tensor(w, t[i].name, t[i].cls == BN_RCLASS_NORM ? 1 : 2, ne, t[i].type, err);
    }
    uint64_t rng = o->seed * 0x9E3779B97F4A7C15ull + 0x1234567ull;
    for (int i = 0; i < n && !st; i++) {
        st = write_tensor(w, &t[i], &rng, o->n_threads, err);
        if (!st && progress)
            progress(user, i + 1, n);
    }
    if (!st)
        st = bn_gguf_writer_finish(w, err);
    else
        bn_gguf_writer_abort(w);
    free(t);
    return st;
}

