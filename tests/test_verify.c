/* test_verify.c - the structural check on broken GGUFs written here, the
 * kernel self-test and the runtime evaluator on a small model written here, the
 * reference forward pass, and bn-verify's gates and exit codes (perplexity and
 * KLD statistics: test_ppl.c). Nothing here needs the fixtures or bn-convert;
 * tests/cli/verify.sh covers the converted models. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "bn/util.h"
#include "bn/gguf.h"
#include "bn/model.h"
#include "bn/verify.h"
#include "testutil.h"
/* ---- a small model written with the GGUF writer ------------------------------------------ */

enum {
    E = 128, FF = 256, NH = 2, NKV = 1, HD = 64, NL = 1, NCTX = 64,
    NTOK = 3 + 256 /* <unk> <s> </s> and the 256 byte tokens */
};

typedef enum {
    BR_NONE = 0,
    BR_MISSING_TENSOR,
    BR_WRONG_SHAPE,
    BR_WRONG_KV_TYPE,
    BR_NAN_SCALE,
    BR_VOCAB_MISMATCH,
    BR_STRAY_TENSOR,
    BR_NAN_NORM,
    BR_BAD_TOKEN_TYPE,
    BR_BAD_MERGE,
    BR_COUNT
} breakage;

static uint64_t rng = 1;
static uint32_t rnd(void)
{
    return (uint32_t)(bn_rng_next(&rng) >> 33);
}

/* I2_S bytes of a (rows, cols) ternary matrix: FORMATS.md §2.1. */
static uint8_t *pack_i2s(int64_t rows, int64_t cols, float scale, size_t *size)
{
    int64_t n = rows * cols;
    *size = (size_t)n / 4 + 32;
    uint8_t *b = calloc(1, *size);
    uint8_t *c = malloc((size_t)n);
    for (int64_t k = 0; k < n; k++)
        c[k] = (uint8_t)(rnd() % 3); /* code = w + 1 */
    for (int64_t blk = 0; blk < n / 128; blk++)
        for (int g = 0; g < 32; g++) {
            const uint8_t *q = c + 128 * blk + g;
            b[32 * blk + g] = (uint8_t)(q[0] << 6 | q[32] << 4 | q[64] << 2 | q[96]);
        }
    memcpy(b + n / 4, &scale, 4);
    free(c);
    return b;
}

typedef struct {
    char name[64];
    int64_t ne0, ne1; /* ne1 = 0: 1-D */
    bn_type type;
} tdesc;

/* general.architecture and the bitnet-b1.58 hyperparameters (FORMATS.md §3). */
static int set_hparams(bn_gguf_writer *w, breakage br, bn_error *e)
{
    const char *a = "bitnet-b1.58";
    char key[96];
#define K(s) (snprintf(key, sizeof key, "%s." s, a), key)
    int rc = bn_gguf_set_str(w, "general.architecture", a, e);
    if (br == BR_WRONG_KV_TYPE)
        rc |= bn_gguf_set_i32(w, K("context_length"), NCTX, e);
    else
        rc |= bn_gguf_set_u32(w, K("context_length"), NCTX, e);
    rc |= bn_gguf_set_u32(w, K("embedding_length"), E, e);
    rc |= bn_gguf_set_u32(w, K("block_count"), NL, e);
    rc |= bn_gguf_set_u32(w, K("feed_forward_length"), FF, e);
    rc |= bn_gguf_set_u32(w, K("attention.head_count"), NH, e);
    rc |= bn_gguf_set_u32(w, K("attention.head_count_kv"), NKV, e);
    rc |= bn_gguf_set_u32(w, K("rope.dimension_count"), HD, e);
    rc |= bn_gguf_set_u32(w, K("vocab_size"), br == BR_VOCAB_MISMATCH ? NTOK + 1 : NTOK, e);
    rc |= bn_gguf_set_f32(w, K("attention.layer_norm_rms_epsilon"), 1e-5f, e);
    rc |= bn_gguf_set_f32(w, K("rope.freq_base"), 10000.0f, e);
#undef K
    return rc;
}

/* Finish or abort a writer; 0 on success. */
static int finish_writer(bn_gguf_writer *w, int rc, bn_error *e)
{
    if (rc) {
        fprintf(stderr, "writing a test GGUF: %s\n", e->msg);
        bn_gguf_writer_abort(w);
        return -1;
    }
    return bn_gguf_writer_finish(w, e) ? -1 : 0;
}

static int write_model(const char *path, breakage br)
{
    bn_error e;
    bn_gguf_writer *w;
    rng = 7;
    if (bn_gguf_writer_open(path, 0, &w, &e))
        return -1;
    int rc = set_hparams(w, br, &e);
    rc |= bn_gguf_set_str(w, "general.name", "test-verify", &e);
    rc |= bn_gguf_set_u32(w, "general.file_type", 40, &e);
    rc |= bn_gguf_set_u32(w, "general.quantization_version", 2, &e);
    /* SentencePiece vocabulary: <unk>, <s>, </s>, <0x00>..<0xFF> */
    char *toks[NTOK];
    float scores[NTOK];
    int32_t types[NTOK];
    toks[0] = strdup("<unk>");
    toks[1] = strdup("<s>");
    toks[2] = strdup("</s>");
    types[0] = 2;
    types[1] = types[2] = 3;
    for (int i = 0; i < 256; i++) {
        toks[3 + i] = malloc(8);
        snprintf(toks[3 + i], 8, "<0x%02X>", i);
        types[3 + i] = 6;
    }
    if (br == BR_BAD_TOKEN_TYPE)
        types[10] = 9;
    if (br == BR_BAD_MERGE)
        free(toks[4]); /* replaced below by the merge's result */
    for (int i = 0; i < NTOK; i++)
        scores[i] = 0.0f;
    if (br == BR_BAD_MERGE) {
        /* a BPE vocabulary whose second merge makes a token that does not exist */
        const char *merges[2] = {"<0x41> <0x42>", "<0x43> <0x44>"};
        toks[4] = strdup("<0x41><0x42>");
        rc |= bn_gguf_set_str(w, "tokenizer.ggml.model", "gpt2", &e);
        rc |= bn_gguf_set_str(w, "tokenizer.ggml.pre", "default", &e);
        rc |= bn_gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 2, &e);
    } else {
        rc |= bn_gguf_set_str(w, "tokenizer.ggml.model", "llama", &e);
    }
    rc |= bn_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, NULL, NTOK,
                              &e);
    rc |= bn_gguf_set_arr(w, "tokenizer.ggml.scores", BN_GGUF_F32, scores, NTOK, &e);
    rc |= bn_gguf_set_arr(w, "tokenizer.ggml.token_type", BN_GGUF_I32, types, NTOK, &e);
    rc |= bn_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 1, &e);
    rc |= bn_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 2, &e);
    rc |= bn_gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", 0, &e);
    rc |= bn_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", 1, &e);
    for (int i = 0; i < NTOK; i++)
        free(toks[i]);

    tdesc t[32];
    int nt = 0;
#define T(nm, a0, a1, ty) (snprintf(t[nt].name, 64, "%s", nm), t[nt].ne0 = a0, t[nt].ne1 = a1, t[nt].type = ty, nt++)
    T("token_embd.weight", E, NTOK, BN_TYPE_F16);
    T("blk.0.attn_norm.weight", E, 0, BN_TYPE_F32);
    T("blk.0.attn_q.weight", E, NH * HD, BN_TYPE_I2_S);
    T("blk.0.attn_k.weight", E, br == BR_WRONG_SHAPE ? NH * HD : NKV * HD, BN_TYPE_I2_S);
    T("blk.0.attn_v.weight", E, NKV * HD, BN_TYPE_I2_S);
    T("blk.0.attn_output.weight", NH * HD, E, BN_TYPE_I2_S);
    T("blk.0.attn_sub_norm.weight", E, 0, BN_TYPE_F32);
    T("blk.0.ffn_norm.weight", E, 0, BN_TYPE_F32);
    T("blk.0.ffn_gate.weight", E, FF, BN_TYPE_I2_S);
    if (br != BR_MISSING_TENSOR)
        T("blk.0.ffn_up.weight", E, FF, BN_TYPE_I2_S);
    T("blk.0.ffn_down.weight", FF, E, BN_TYPE_I2_S);
    T("blk.0.ffn_sub_norm.weight", FF, 0, BN_TYPE_F32);
    T("output_norm.weight", E, 0, BN_TYPE_F32);
    if (br == BR_STRAY_TENSOR)
        T("blk.0.attn_q.scale", 1, 0, BN_TYPE_F32);
#undef T
    for (int i = 0; i < nt; i++) {
        int64_t ne[2] = {t[i].ne0, t[i].ne1};
        rc |= bn_gguf_add_tensor(w, t[i].name, t[i].ne1 ? 2 : 1, ne, t[i].type, &e);
    }
    for (int i = 0; i < nt && !rc; i++) {
        int64_t rows = t[i].ne1 ? t[i].ne1 : 1, n = t[i].ne0 * rows;
        if (t[i].type == BN_TYPE_I2_S) {
            size_t sz;
            float s = 0.02f + 0.001f * (float)i;
            if (br == BR_NAN_SCALE && strstr(t[i].name, "attn_q"))
                s = NAN;
            uint8_t *b = pack_i2s(rows, t[i].ne0, s, &sz);
            rc |= bn_gguf_writer_write(w, b, sz, &e);
            free(b);
        } else if (t[i].type == BN_TYPE_F16) {
            uint16_t *h = malloc((size_t)n * 2);
            for (int64_t k = 0; k < n; k++)
                h[k] = bn_f32_to_f16(((float)(rnd() % 2001) - 1000.0f) / 1000.0f);
            rc |= bn_gguf_writer_write(w, h, (size_t)n * 2, &e);
            free(h);
        } else {
            float *f = malloc((size_t)n * 4);
            for (int64_t k = 0; k < n; k++)
                f[k] = 1.0f;
            if (br == BR_NAN_NORM && strstr(t[i].name, "ffn_norm"))
                f[5] = NAN;
            rc |= bn_gguf_writer_write(w, f, (size_t)n * 4, &e);
            free(f);
        }
    }
    return finish_writer(w, rc, &e);
}

static const char *model_path(breakage br)
{
    static char paths[BR_COUNT][512];
    if (!paths[br][0]) {
        char name[64];
        snprintf(name, sizeof name, "verify-model-%d.gguf", (int)br);
        snprintf(paths[br], sizeof paths[br], "%s", tu_tmp(name));
        ck_assert_int_eq(write_model(paths[br], br), 0);
    }
    return paths[br];
}

/* Problems of a check, all joined, for substring assertions. */
static size_t check_file(const char *path, char *joined, size_t cap)
{
    bn_gguf *g;
    bn_error e;
    ck_assert_msg(bn_gguf_open(path, &g, &e) == BN_OK, "%s", e.msg);
    bn_check_report r;
    ck_assert_int_eq(bn_check_gguf(g, &r, &e), BN_OK);
    joined[0] = 0;
    for (size_t i = 0; i < r.n; i++) {
        strncat(joined, r.items[i], cap - strlen(joined) - 2);
        strncat(joined, "\n", cap - strlen(joined) - 1);
    }
    size_t n = r.n;
    bn_check_report_free(&r);
    bn_gguf_close(g);
    return n;
}

START_TEST(test_check_good)
{
    char buf[8192];
    size_t n = check_file(model_path(BR_NONE), buf, sizeof buf);
    ck_assert_msg(n == 0, "unexpected problems:\n%s", buf);
}
END_TEST

START_TEST(test_check_broken)
{
    static const struct {
        breakage br;
        const char *needle;
    } cases[] = {
        {BR_MISSING_TENSOR, "required tensor 'blk.0.ffn_up.weight' is missing"},
        {BR_WRONG_SHAPE, "tensor 'blk.0.attn_k.weight' has shape [128, 128], expected [128, 64]"},
        {BR_WRONG_KV_TYPE, "key 'bitnet-b1.58.context_length' has type i32"},
        {BR_NAN_SCALE, "tensor 'blk.0.attn_q.weight': I2_S scale nan"},
        {BR_VOCAB_MISMATCH, "tokenizer.ggml.tokens has 259 tokens but the vocabulary size is 260"},
        {BR_STRAY_TENSOR, "tensor 'blk.0.attn_q.scale' is not part of a bitnet-b1.58 model"},
        {BR_NAN_NORM, "tensor 'blk.0.ffn_norm.weight' holds 1 NaN/Inf values"},
        {BR_BAD_TOKEN_TYPE, "tokenizer.ggml.token_type[10] = 9"},
        {BR_BAD_MERGE, "1 of 2 merges do not parse; the first, #1 \"<0x43> <0x44>\", produces a "
                       "token that is not in the vocabulary"},
    };
    int i = _i;
    char buf[8192];
    size_t n = check_file(model_path(cases[i].br), buf, sizeof buf);
    ck_assert_msg(n >= 1 && strstr(buf, cases[i].needle), "case %d: wanted \"%s\", got:\n%s", i,
                  cases[i].needle, buf);
    /* a vocabulary mismatch also shows in token_embd's shape: every problem is listed */
    if (cases[i].br == BR_VOCAB_MISMATCH)
        ck_assert_ptr_nonnull(strstr(buf, "tensor 'token_embd.weight' has shape [128, 259]"));
}
END_TEST

/* ---- the runtime: kernels and the evaluator --------------------------------------------- */

START_TEST(test_kernels_selftest)
{
    bn_model *m;
    bn_error e;
    bn_model_opts o;
    bn_model_opts_default(&o);
    o.n_threads = 2;
    ck_assert_msg(bn_model_load(model_path(BR_NONE), &o, &m, &e) == BN_OK, "%s", e.msg);
    char before[32];
    snprintf(before, sizeof before, "%s", bn_model_kernel(m));
    bn_kernel_check *kc;
    size_t n;
    ck_assert_msg(bn_verify_kernels(m, NULL, 12, &kc, &n, &e) == BN_OK, "%s", e.msg);
    ck_assert_uint_ge(n, 1);
    ck_assert_str_eq(kc[0].name, "basic");
    for (size_t i = 0; i < n; i++) {
        if (!kc[i].available)
            continue;
        /* 7 model matrices + 3 types x 3 widths x 4 row counts */
        ck_assert_uint_eq(kc[i].n_matrices, 7 + 36);
        ck_assert_uint_gt(kc[i].n_sums, 0);
        ck_assert_msg(kc[i].n_mismatch == 0, "kernel %s: %llu mismatches", kc[i].name,
                      (unsigned long long)kc[i].n_mismatch);
        ck_assert_int_eq(kc[i].logits_checked, 12);
        ck_assert_msg(kc[i].logits_identical, "kernel %s: logits differ by %g", kc[i].name,
                      kc[i].max_logit_diff);
    }
    ck_assert_str_eq(bn_model_kernel(m), before);
    free(kc);
    bn_model_free(m);
}
END_TEST

START_TEST(test_model_evaluator)
{
    bn_model *m;
    bn_error e;
    bn_model_opts o;
    bn_model_opts_default(&o);
    o.n_threads = 2;
    ck_assert_msg(bn_model_load(model_path(BR_NONE), &o, &m, &e) == BN_OK, "%s", e.msg);
    int32_t *text = tu_token_text(64 * 5, NTOK);
    double ppl[2];
    for (int g = 0; g < 2; g++) {
        bn_evaluator *ev;
        ck_assert_msg(bn_verify_model_evaluator(m, 32, g ? 3 : 1, &ev, &e) == BN_OK, "%s", e.msg);
        bn_ppl_params p;
        bn_ppl_params_init(&p);
        p.n_ctx = 32;
        p.add_bos = 1;
        p.bos_id = 1;
        bn_ppl_result r;
        ck_assert_msg(bn_ppl_run(ev, text, 64 * 5, &p, &r, &e) == BN_OK, "%s", e.msg);
        ck_assert_int_eq(r.n_chunks, 10);
        ck_assert(isfinite(r.ppl) && r.ppl > 1.0);
        ppl[g] = r.ppl;
        bn_evaluator_free(ev);
    }
    /* batching several chunks together gives the same bits (model.h contract 5) */
    ck_assert_msg(ppl[0] == ppl[1], "%.17g vs %.17g", ppl[0], ppl[1]);
    bn_evaluator *ev;
    ck_assert_int_eq(bn_verify_model_evaluator(m, NCTX + 1, 1, &ev, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "context_length"));
    free(text);
    bn_model_free(m);
}
END_TEST


/* ---- the reference forward pass against the runtime, on twin files ------------------------
 * One set of weights written twice: as a Hugging Face directory (config.json +
 * F32 model.safetensors, PyTorch layout) and as the GGUF a converter makes of it
 * (I2_S projections, F16 embedding, F32 norms). Projections are +-s with no
 * zeros, so absmean ternarization recovers exactly the codes and the scale. */

typedef struct {
    const char *hf;    /* HF name */
    const char *gg;    /* GGUF name */
    int64_t rows, cols;/* PyTorch [rows, cols]; norms: rows 0 */
} twin_t;

static const twin_t TWIN[] = {
    {"model.embed_tokens.weight", "token_embd.weight", NTOK, E},
    {"model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight", 0, E},
    {"model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight", NH * HD, E},
    {"model.layers.0.self_attn.k_proj.weight", "blk.0.attn_k.weight", NKV * HD, E},
    {"model.layers.0.self_attn.v_proj.weight", "blk.0.attn_v.weight", NKV * HD, E},
    {"model.layers.0.self_attn.o_proj.weight", "blk.0.attn_output.weight", E, NH * HD},
    {"model.layers.0.self_attn.attn_sub_norm.weight", "blk.0.attn_sub_norm.weight", 0, E},
    {"model.layers.0.post_attention_layernorm.weight", "blk.0.ffn_norm.weight", 0, E},
    {"model.layers.0.mlp.gate_proj.weight", "blk.0.ffn_gate.weight", FF, E},
    {"model.layers.0.mlp.up_proj.weight", "blk.0.ffn_up.weight", FF, E},
    {"model.layers.0.mlp.down_proj.weight", "blk.0.ffn_down.weight", E, FF},
    {"model.layers.0.mlp.ffn_sub_norm.weight", "blk.0.ffn_sub_norm.weight", 0, FF},
    {"model.norm.weight", "output_norm.weight", 0, E},
};
#define N_TWIN (sizeof TWIN / sizeof TWIN[0])

static int is_proj(const twin_t *t)
{
    return t->rows && strcmp(t->hf, "model.embed_tokens.weight") != 0;
}

/* Deterministic float weights of tensor i (n values). */
static float *twin_weights(size_t i, size_t n)
{
    float *w = malloc(n * sizeof *w);
    rng = 1000 + i;
    /* distinct per tensor; powers of two, so the packed form's 1/weight_scale is exact */
    float s = ldexpf(1.0f, -1 - (int)(i % 3));
    for (size_t k = 0; k < n; k++) {
        if (is_proj(&TWIN[i]))
            w[k] = rnd() % 2 ? s : -s;
        else if (TWIN[i].rows) /* embedding */
            w[k] = ((float)(rnd() % 2001) - 1000.0f) / 1000.0f;
        else /* norm */
            w[k] = 0.5f + (float)(rnd() % 1001) / 1000.0f;
    }
    return w;
}

/* One safetensors entry: header text and its bytes. */
typedef struct {
    char hdr[16384];
    int len;
    size_t off;
    uint8_t *data;
} st_buf;

static void st_add(st_buf *b, const char *name, const char *dtype, int64_t d0, int64_t d1,
                   const void *bytes, size_t nbytes)
{
    char shape[64];
    if (d1)
        snprintf(shape, sizeof shape, "[%lld, %lld]", (long long)d0, (long long)d1);
    else
        snprintf(shape, sizeof shape, "[%lld]", (long long)d0);
    b->len += snprintf(b->hdr + b->len, sizeof b->hdr - (size_t)b->len,
                       "%s\"%s\": {\"dtype\": \"%s\", \"shape\": %s, \"data_offsets\": [%zu, %zu]}",
                       b->off ? ", " : "", name, dtype, shape, b->off, b->off + nbytes);
    b->data = realloc(b->data, b->off + nbytes);
    memcpy(b->data + b->off, bytes, nbytes);
    b->off += nbytes;
}

/* The HF directory: F32 latent weights, or (packed) the offline-packed form of
 * microsoft/bitnet-b1.58-2B-4T: uint8 [out/4, in] with rows r, r+R, r+2R, r+3R
 * in bits 1:0, 3:2, 5:4, 7:6 as code+1, and weight_scale = 1/s (FORMATS.md §4). */
static int write_twin_hf(const char *dir, int packed)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"architectures\": [\"BitNetForCausalLM\"], \"model_type\": \"bitnet\", "
             "\"hidden_act\": \"relu2\", \"hidden_size\": %d, \"intermediate_size\": %d, "
             "\"num_hidden_layers\": %d, \"num_attention_heads\": %d, \"num_key_value_heads\": %d, "
             "\"max_position_embeddings\": %d, \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0, "
             "\"tie_word_embeddings\": true, \"vocab_size\": %d, \"bos_token_id\": 1, "
             "\"eos_token_id\": 2%s}\n",
             E, FF, NL, NH, NKV, NCTX, NTOK,
             packed ? ", \"quantization_config\": {\"quant_method\": \"bitnet\"}" : "");
    if (tu_write(path, cfg, strlen(cfg)))
        return -1;
    st_buf *b = calloc(1, sizeof *b);
    b->len = snprintf(b->hdr, sizeof b->hdr, "{");
    for (size_t i = 0; i < N_TWIN; i++) {
        const twin_t *t = &TWIN[i];
        size_t n = (size_t)(t->rows ? t->rows : 1) * (size_t)t->cols;
        float *w = twin_weights(i, n);
        if (packed && is_proj(t)) {
            int64_t R = t->rows / 4, C = t->cols;
            uint8_t *u = calloc((size_t)(R * C), 1);
            for (int64_t r = 0; r < R; r++)
                for (int64_t c = 0; c < C; c++)
                    for (int q = 0; q < 4; q++) {
                        unsigned code = w[(r + q * R) * C + c] > 0 ? 2u : 0u;
                        u[r * C + c] |= (uint8_t)(code << (2 * q));
                    }
            st_add(b, t->hf, "U8", R, C, u, (size_t)(R * C));
            free(u);
            char sname[160];
            snprintf(sname, sizeof sname, "%s_scale", t->hf);
            float ws = 1.0f / fabsf(w[0]);
            st_add(b, sname, "F32", 1, 0, &ws, 4);
        } else {
            st_add(b, t->hf, "F32", t->rows ? t->rows : t->cols, t->rows ? t->cols : 0, w, 4 * n);
        }
        free(w);
    }
    b->len += snprintf(b->hdr + b->len, sizeof b->hdr - (size_t)b->len, "}");
    while (b->len % 8)
        b->hdr[b->len++] = ' ';
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    int rc = -1;
    if (f) {
        uint64_t hl = (uint64_t)b->len;
        fwrite(&hl, 8, 1, f);
        fwrite(b->hdr, 1, (size_t)b->len, f);
        fwrite(b->data, 1, b->off, f);
        rc = fclose(f) ? -1 : 0;
    }
    free(b->data);
    free(b);
    return rc;
}

/* The same model as a GGUF (no tokenizer: the comparison runs on token ids). */
static int write_twin_gguf(const char *path)
{
    bn_error e;
    bn_gguf_writer *w;
    if (bn_gguf_writer_open(path, 0, &w, &e))
        return -1;
    int rc = set_hparams(w, BR_NONE, &e);
    for (size_t i = 0; i < N_TWIN; i++) {
        int64_t ne[2] = {TWIN[i].cols, TWIN[i].rows};
        bn_type ty = !TWIN[i].rows ? BN_TYPE_F32 : is_proj(&TWIN[i]) ? BN_TYPE_I2_S : BN_TYPE_F16;
        rc |= bn_gguf_add_tensor(w, TWIN[i].gg, TWIN[i].rows ? 2 : 1, ne, ty, &e);
    }
    for (size_t i = 0; i < N_TWIN && !rc; i++) {
        size_t n = (size_t)(TWIN[i].rows ? TWIN[i].rows : 1) * (size_t)TWIN[i].cols;
        float *wt = twin_weights(i, n);
        if (!TWIN[i].rows) {
            rc |= bn_gguf_writer_write(w, wt, 4 * n, &e);
        } else if (!is_proj(&TWIN[i])) {
            uint16_t *h = malloc(2 * n);
            for (size_t k = 0; k < n; k++)
                h[k] = bn_f32_to_f16(wt[k]);
            rc |= bn_gguf_writer_write(w, h, 2 * n, &e);
            free(h);
        } else {
            /* I2_S of the signs, FORMATS.md §2.1, scale = |w| */
            size_t sz = n / 4 + 32;
            uint8_t *b = calloc(1, sz);
            for (size_t blk = 0; blk < n / 128; blk++)
                for (int g = 0; g < 32; g++) {
                    uint8_t c[4];
                    for (int j = 0; j < 4; j++)
                        c[j] = wt[128 * blk + (size_t)g + 32 * (size_t)j] > 0 ? 2 : 0;
                    b[32 * blk + (size_t)g] = (uint8_t)(c[0] << 6 | c[1] << 4 | c[2] << 2 | c[3]);
                }
            float s = fabsf(wt[0]);
            memcpy(b + n / 4, &s, 4);
            rc |= bn_gguf_writer_write(w, b, sz, &e);
            free(b);
        }
        free(wt);
    }
    return finish_writer(w, rc, &e);
}

/* KLD statistics of the reference (mode) against the runtime over n tokens. */
static void twin_compare(bn_ref_mode mode, int packed, bn_kld_result *res)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", tu_tmp(packed ? "twin-hf-packed" : "twin-hf"));
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(write_twin_hf(dir, packed), 0);
    const char *gg = tu_tmp("twin.gguf");
    ck_assert_int_eq(write_twin_gguf(gg), 0);

    bn_error e;
    bn_reference *ref;
    ck_assert_msg(bn_reference_load(dir, mode, BN_TYPE_F16, &ref, &e) == BN_OK, "%s", e.msg);
    ck_assert_int_eq(bn_reference_n_vocab(ref), NTOK);
    bn_model *m;
    bn_model_opts o;
    bn_model_opts_default(&o);
    o.n_threads = 2;
    ck_assert_msg(bn_model_load(gg, &o, &m, &e) == BN_OK, "%s", e.msg);

    enum { N = 48 };
    int32_t *tok = tu_token_text(N, NTOK);
    float *a = malloc((size_t)N * NTOK * sizeof *a), *b = malloc((size_t)N * NTOK * sizeof *b);
    ck_assert_msg(bn_reference_forward(ref, tok, N, a, &e) == BN_OK, "%s", e.msg);
    bn_ctx_params cp;
    bn_ctx_params_default(&cp);
    cp.n_ctx = N;
    bn_ctx *c;
    ck_assert_msg(bn_ctx_new(m, &cp, &c, &e) == BN_OK, "%s", e.msg);
    ck_assert_msg(bn_ctx_eval(c, 0, tok, N, 0, BN_LOGITS_ALL, b, &e) == BN_OK, "%s", e.msg);
    bn_kld_stats st;
    bn_kld_init(&st);
    for (int j = 0; j + 1 < N; j++)
        ck_assert_int_eq(bn_kld_add(&st, a + (size_t)j * NTOK, b + (size_t)j * NTOK, NTOK,
                                    tok[j + 1], &e), BN_OK);
    bn_kld_finish(&st, res);
    bn_ctx_free(c);
    bn_model_free(m);
    bn_reference_free(ref);
    free(a);
    free(b);
    free(tok);
}

START_TEST(test_reference_quantized_matches_runtime)
{
    bn_kld_result r;
    for (int packed = 0; packed < 2; packed++) {
        twin_compare(BN_REF_QUANTIZED, packed, &r);
        ck_assert_msg(r.kld_mean < 1e-6 && r.top1 == 1.0, "%s: KLD %g, top-1 %g",
                      packed ? "packed" : "latent", r.kld_mean, r.top1);
        ck_assert_double_eq_tol(r.ppl_ratio, 1.0, 1e-4);
    }
}
END_TEST

START_TEST(test_reference_latent_differs)
{
    bn_kld_result q, l;
    twin_compare(BN_REF_QUANTIZED, 0, &q);
    twin_compare(BN_REF_LATENT, 0, &l);
    /* the same ternary weights without activation quantization: a measurable,
     * small difference */
    ck_assert_msg(l.kld_mean > q.kld_mean && l.kld_mean > 1e-7 && l.kld_mean < 1.0,
                  "latent KLD %g vs quantized %g", l.kld_mean, q.kld_mean);
}
END_TEST

START_TEST(test_reference_bad_dir)
{
    bn_reference *ref;
    bn_error e;
    ck_assert_int_ne(bn_reference_load(tu_tmp("no-such-dir"), BN_REF_QUANTIZED, -1, &ref, &e),
                     BN_OK);
    ck_assert_ptr_nonnull(strstr(e.msg, "no-such-dir"));
}
END_TEST

/* ---- bn-verify: exit codes and gates ------------------------------------------------------ */

static int run_tool(const char *args, char **out)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s", tu_build("bn-verify"), args);
    return tu_run(cmd, out);
}

/* Text of n bytes (printable) for the byte-level test vocabulary. */
static const char *text_file(void)
{
    const char *p = tu_tmp("verify-text.txt");
    char buf[600];
    uint64_t x = 99;
    for (size_t i = 0; i < sizeof buf - 1; i++)
        buf[i] = (char)("abcdefgh ijklmnop\n"[bn_rng_next(&x) % 18]);
    buf[sizeof buf - 1] = '\n';
    ck_assert_int_eq(tu_write(p, buf, sizeof buf), 0);
    return p;
}

START_TEST(test_cli_gates)
{
    const char *model = model_path(BR_NONE);
    const char *txt = text_file();
    const char *js = tu_tmp("verify-out.json");
    char args[2048], *out = NULL;
    snprintf(args, sizeof args, "%s --perplexity %s -c 64 -t 2 --json %s", model, txt, js);
    int rc = run_tool(args, &out);
    ck_assert_msg(rc == 0, "rc %d: %s", rc, out);
    ck_assert_ptr_nonnull(strstr(out, "Final estimate: PPL = "));
    free(out);
    size_t len;
    char *j = (char *)tu_read(js, &len);
    ck_assert_ptr_nonnull(j);
    cJSON *root = cJSON_ParseWithLength(j, len);
    ck_assert_ptr_nonnull(root);
    cJSON *pp = cJSON_GetObjectItem(root, "perplexity");
    double ppl = cJSON_GetObjectItem(pp, "ppl")->valuedouble;
    ck_assert_int_eq(cJSON_GetObjectItem(pp, "n_ctx")->valueint, 64);
    int n_tok = cJSON_GetObjectItem(pp, "tokens")->valueint;
    ck_assert_int_gt(n_tok, 600); /* BOS + one byte token per character, 3 per space */
    ck_assert_int_eq(cJSON_GetObjectItem(pp, "chunks")->valueint, n_tok / 64);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(root, "ok")));
    cJSON_Delete(root);
    free(j);

    /* a passing and a failing threshold */
    snprintf(args, sizeof args, "%s --perplexity %s -c 64 -t 2 -q --max-ppl %.6f", model, txt,
             ppl * 1.001);
    rc = run_tool(args, &out);
    ck_assert_msg(rc == 0, "rc %d: %s", rc, out);
    ck_assert_ptr_nonnull(strstr(out, "gate max-ppl passed"));
    free(out);
    snprintf(args, sizeof args, "%s --perplexity %s -c 64 -t 2 -q --max-ppl %.6f", model, txt,
             ppl * 0.999);
    rc = run_tool(args, &out);
    ck_assert_msg(rc == 1, "rc %d: %s", rc, out);
    ck_assert_ptr_nonnull(strstr(out, "gate max-ppl failed"));
    free(out);
}
END_TEST

START_TEST(test_cli_exit_codes)
{
    const char *model = model_path(BR_NONE);
    const char *txt = text_file();
    char args[2048], *out = NULL;
    /* -c beyond context_length: refused, exit 2 */
    snprintf(args, sizeof args, "%s --perplexity %s -c 128", model, txt);
    ck_assert_int_eq(run_tool(args, &out), 2);
    ck_assert_ptr_nonnull(strstr(out, "exceeds the model's context_length 64"));
    free(out);
    /* a broken file: --check exit 1, listing the problems */
    snprintf(args, sizeof args, "%s --check", model_path(BR_WRONG_SHAPE));
    ck_assert_int_eq(run_tool(args, &out), 1);
    ck_assert_ptr_nonnull(strstr(out, "attn_k.weight' has shape"));
    free(out);
    snprintf(args, sizeof args, "%s --check", model);
    ck_assert_int_eq(run_tool(args, &out), 0);
    free(out);
    /* not a GGUF: exit 2 with a message */
    snprintf(args, sizeof args, "%s --check", txt);
    ck_assert_int_eq(run_tool(args, &out), 2);
    ck_assert_ptr_nonnull(strstr(out, "bn-verify: "));
    free(out);
    /* usage errors */
    ck_assert_int_eq(run_tool("", &out), 2);
    free(out);
    snprintf(args, sizeof args, "%s --min-top1 99", model);
    ck_assert_int_eq(run_tool(args, &out), 2);
    free(out);
    snprintf(args, sizeof args, "%s --perplexity %s -c x", model, txt);
    ck_assert_int_eq(run_tool(args, &out), 2);
    free(out);
    ck_assert_int_eq(run_tool("--help", &out), 0);
    free(out);
}
END_TEST
int main(void)
{
    Suite *s = suite_create("verify");
    TCase *tc = tcase_create("check");
    tcase_add_test(tc, test_check_good);
    tcase_add_loop_test(tc, test_check_broken, 0, 9);
    suite_add_tcase(s, tc);
    tc = tcase_create("runtime");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_kernels_selftest);
    tcase_add_test(tc, test_model_evaluator);
    tcase_add_test(tc, test_reference_quantized_matches_runtime);
    tcase_add_test(tc, test_reference_latent_differs);
    tcase_add_test(tc, test_reference_bad_dir);
    tcase_add_test(tc, test_cli_gates);
    tcase_add_test(tc, test_cli_exit_codes);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
