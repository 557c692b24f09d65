/* test_convert.c - the bn-convert pipeline on synthetic Hugging Face directories
 * written by the test itself (config.json + model.safetensors + the bundled
 * SentencePiece tokenizer): every output type, offline-packed weights, the llama
 * q/k permutation, and one test per way a checkpoint can be wrong. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bn/checkpoint.h"
#include "bn/convert.h"
#include "bn/gguf.h"
#include "bn/quant.h"
#include "bn/tokenizer_export.h"
#include "bn/util.h"
#include "convert/ckpt_internal.h"
#include "testutil.h"

/* ---- a tiny safetensors writer ------------------------------------------------ */

typedef struct {
    char name[160];
    const char *dtype; /* "F32" or "U8" */
    int n_dims;
    int64_t shape[2];
    void *data;
    size_t nbytes;
} st_tensor;

static void write_safetensors(const char *path, st_tensor *t, int n)
{
    size_t cap = 1 << 16, len = 0, off = 0;
    char *hdr = malloc(cap);
    len += (size_t)snprintf(hdr + len, cap - len, "{");
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(hdr + len, cap - len, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "",
                                t[i].name, t[i].dtype);
        for (int d = 0; d < t[i].n_dims; d++)
            len += (size_t)snprintf(hdr + len, cap - len, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
        len += (size_t)snprintf(hdr + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", off, off + t[i].nbytes);
        off += t[i].nbytes;
    }
    len += (size_t)snprintf(hdr + len, cap - len, "}");
    while (len % 8)
        hdr[len++] = ' ';
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    uint64_t hl = len;
    fwrite(&hl, 8, 1, f);
    fwrite(hdr, 1, len, f);
    for (int i = 0; i < n; i++)
        fwrite(t[i].data, 1, t[i].nbytes, f);
    fclose(f);
    free(hdr);
}

/* ---- synthetic models --------------------------------------------------------- */

typedef struct {
    const char *arch;     /* architectures[0] */
    int hidden, ff, heads, kv_heads, layers;
    int packed;           /* write projections offline-packed (uint8 + weight_scale) */
    int untied;           /* write lm_head.weight */
    const char *drop;     /* omit this tensor */
    const char *extra;    /* add this unknown tensor */
    const char *reshape;  /* give this tensor a wrong shape */
    const char *nan_in;   /* put a NaN into this tensor */
    int vocab_delta;      /* config vocab_size = tokenizer size + delta */
    const char *arch_override; /* rewrite architectures[0] after writing the tensors */
} synth;


static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void)
{
    uint64_t x = bn_rng_next(&rng);
    return (float)((x >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static uint32_t tokenizer_size(void)
{
    const char *dir = tu_keep(tu_tmp("tokonly"));
    mkdir(dir, 0755);
    size_t n;
    uint8_t *m = tu_read(tu_root("fixtures/tokenizers/spm-tiny/tokenizer.model"), &n);
    ck_assert_msg(m != NULL, "fixtures/tokenizers/spm-tiny/tokenizer.model is missing");
    char p[4096];
    snprintf(p, sizeof p, "%s/tokenizer.model", dir);
    tu_write(p, m, n);
    free(m);
    bn_tokexport *t;
    bn_error e;
    ck_assert_msg(bn_tokexport_load(dir, &t, &e) == BN_OK, "%s", e.msg);
    uint32_t v = bn_tokexport_vocab_size(t);
    bn_tokexport_free(t);
    return v;
}

/* HF packing along output rows: byte [r, c] holds rows r, r+R, r+2R, r+3R in bits 1:0.. 7:6. */
static uint8_t *hf_pack(const int8_t *codes, int64_t rows, int64_t cols)
{
    int64_t R = rows / 4;
    uint8_t *p = calloc((size_t)(R * cols), 1);
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < cols; c++)
            for (int k = 0; k < 4; k++)
                p[r * cols + c] |= (uint8_t)((codes[(r + k * R) * cols + c] + 1) << (2 * k));
    return p;
}

/* Writes DIR/{config.json, model.safetensors, tokenizer.model}. */
static void make_model(const char *dir, const synth *s)
{
    mkdir(dir, 0755);
    uint32_t V = tokenizer_size();
    char p[4096];
    size_t n;
    uint8_t *m = tu_read(tu_root("fixtures/tokenizers/spm-tiny/tokenizer.model"), &n);
    snprintf(p, sizeof p, "%s/tokenizer.model", dir);
    tu_write(p, m, n);
    free(m);
    int head_dim = s->hidden / s->heads;
    int is_llama = strcmp(s->arch, "LlamaForCausalLM") == 0;
    snprintf(p, sizeof p, "%s/config.json", dir);
    FILE *f = fopen(p, "w");
    fprintf(f,
            "{\"architectures\": [\"%s\"], \"hidden_size\": %d, \"intermediate_size\": %d,"
            " \"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"num_hidden_layers\": %d,"
            " \"vocab_size\": %d, \"max_position_embeddings\": 256, \"rms_norm_eps\": 1e-05,"
            " \"rope_theta\": 10000.0, \"tie_word_embeddings\": %s%s%s}",
            s->arch, s->hidden, s->ff, s->heads, s->kv_heads, s->layers, (int)V + s->vocab_delta,
            s->untied ? "false" : "true",
            strcmp(s->arch, "BitNetForCausalLM") == 0 ? ", \"hidden_act\": \"relu2\"" : "",
            (s->packed || is_llama) ? ", \"quantization_config\": {\"quant_method\": \"bitnet\"}" : "");
    fclose(f);

    bn_hfconfig cfg;
    bn_error e;
    ck_assert_msg(bn_hfconfig_load(dir, &cfg, &e) == BN_OK, "%s", e.msg);
    bn_tensor_plan *plan;
    size_t np;
    ck_assert_int_eq(bn_plan_tensors(&cfg, s->untied, &plan, &np, &e), BN_OK);
    st_tensor *t = calloc(np * 2 + 2, sizeof *t);
    int nt = 0;
    (void)head_dim;
    for (size_t i = 0; i < np; i++) {
        const bn_tensor_plan *pl = &plan[i];
        if (s->drop && strcmp(s->drop, pl->hf_name) == 0)
            continue;
        st_tensor *x = &t[nt++];
        snprintf(x->name, sizeof x->name, "%s", pl->hf_name);
        int64_t rows = pl->rows, cols = pl->cols;
        if (s->reshape && strcmp(s->reshape, pl->hf_name) == 0)
            cols += 2;
        size_t cnt = (size_t)(rows * cols);
        float *w = malloc(cnt * sizeof *w);
        for (size_t k = 0; k < cnt; k++)
            w[k] = bn_role_class_of(pl->role) == BN_RCLASS_NORM ? 1.0f + 0.1f * frand() : 0.05f * frand();
        if (s->nan_in && strcmp(s->nan_in, pl->hf_name) == 0)
            w[cnt / 2] = NAN;
        if (bn_role_is_proj(pl->role) && s->packed) {
            int8_t *codes = malloc(cnt);
            bn_ternary_result r;
            ck_assert_int_eq(bn_ternarize(pl->hf_name, w, cnt, BN_QM_ABSMEAN, codes, &r, &e), BN_OK);
            x->dtype = "U8";
            x->n_dims = 2;
            x->shape[0] = rows / 4;
            x->shape[1] = cols;
            x->data = hf_pack(codes, rows, cols);
            x->nbytes = cnt / 4;
            free(codes);
            /* weight_scale such that 1/weight_scale is exactly the absmean scale */
            float *ws = malloc(sizeof *ws);
            *ws = 1.0f / r.scale;
            for (int k = 0; k < 64 && 1.0f / *ws != r.scale; k++)
                *ws = nextafterf(*ws, 1.0f / *ws > r.scale ? INFINITY : 0.0f);
            st_tensor *y = &t[nt++];
            snprintf(y->name, sizeof y->name, "%.*s_scale", (int)strlen(pl->hf_name), pl->hf_name);
            y->dtype = "F32";
            y->n_dims = 1;
            y->shape[0] = 1;
            y->data = ws;
            y->nbytes = 4;
            free(w);
            continue;
        }
        x->dtype = "F32";
        x->n_dims = bn_role_class_of(pl->role) == BN_RCLASS_NORM ? 1 : 2;
        x->shape[0] = bn_role_class_of(pl->role) == BN_RCLASS_NORM ? cols : rows;
        x->shape[1] = cols;
        x->data = w;
        x->nbytes = cnt * sizeof *w;
    }
    if (s->extra) {
        st_tensor *x = &t[nt++];
        snprintf(x->name, sizeof x->name, "%s", s->extra);
        x->dtype = "F32";
        x->n_dims = 1;
        x->shape[0] = 4;
        x->data = calloc(4, sizeof(float));
        x->nbytes = 16;
    }
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_safetensors(p, t, nt);
    if (s->arch_override) {
        size_t cl;
        snprintf(p, sizeof p, "%s/config.json", dir);
        char *c = (char *)tu_read(p, &cl);
        char *at = strstr(c, s->arch);
        FILE *cf = fopen(p, "w");
        fprintf(cf, "%.*s%s%s", (int)(at - c), c, s->arch_override, at + strlen(s->arch));
        fclose(cf);
        free(c);
    }
    for (int i = 0; i < nt; i++)
        free(t[i].data);
    free(t);
    free(plan);
}

static const synth B158 = {"BitNetForCausalLM", 256, 512, 4, 2, 2, 0, 0, NULL, NULL, NULL, NULL, 0, NULL};

static bn_status convert(const char *dir, const char *out, bn_type type, int fallback, bn_error *e)
{
    bn_convert_opts o;
    bn_convert_opts_init(&o);
    o.in_dir = dir;
    o.out_path = out;
    o.proj_type = type;
    o.allow_fallback = fallback;
    o.n_threads = 2;
    bn_convert_result r;
    bn_error_clear(e);
    return bn_convert_run(&o, &r, e);
}

/* No OUT and no OUT.tmp.* in OUT's directory. */
static void assert_no_output(const char *dir, const char *base)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d)))
        ck_assert_msg(strncmp(de->d_name, base, strlen(base)) != 0, "left behind: %s", de->d_name);
    closedir(d);
}

/* ---- tests -------------------------------------------------------------------- */

static void check_kv_u32(const bn_gguf *g, const char *key, uint32_t want)
{
    uint32_t v;
    bn_error e;
    ck_assert_msg(bn_gguf_get_u32(g, key, &v, &e) == BN_OK, "%s", e.msg);
    ck_assert_uint_eq(v, want);
}

START_TEST(test_every_type)
{
    const char *dir = tu_keep(tu_tmp("b158"));
    make_model(dir, &B158);
    const bn_type types[] = {BN_TYPE_I2_S, BN_TYPE_TQ2_0, BN_TYPE_TQ1_0, BN_TYPE_F16, BN_TYPE_F32};
    bn_hfconfig cfg;
    bn_error e;
    ck_assert_int_eq(bn_hfconfig_load(dir, &cfg, &e), BN_OK);
    bn_ckpt *ck = NULL;
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        const char *out = tu_keep(tu_tmp("b158.gguf"));
        ck_assert_msg(convert(dir, out, types[ti], 0, &e) == BN_OK, "%s: %s", bn_type_name(types[ti]), e.msg);
        bn_gguf *g;
        ck_assert_msg(bn_gguf_open(out, &g, &e) == BN_OK, "%s", e.msg);
        bn_str s;
        ck_assert_int_eq(bn_gguf_get_str(g, "general.architecture", &s, &e), BN_OK);
        ck_assert_int_eq((int)s.len, 12);
        ck_assert_int_eq(memcmp(s.ptr, "bitnet-b1.58", 12), 0);
        check_kv_u32(g, "bitnet-b1.58.block_count", 2);
        check_kv_u32(g, "bitnet-b1.58.embedding_length", 256);
        check_kv_u32(g, "bitnet-b1.58.feed_forward_length", 512);
        check_kv_u32(g, "bitnet-b1.58.attention.head_count", 4);
        check_kv_u32(g, "bitnet-b1.58.attention.head_count_kv", 2);
        check_kv_u32(g, "bitnet-b1.58.rope.dimension_count", 64);
        check_kv_u32(g, "general.quantization_version", 2);
        float fb;
        ck_assert_int_eq(bn_gguf_get_f32(g, "bitnet-b1.58.rope.freq_base", &fb, &e), BN_OK);
        ck_assert_float_eq(fb, 10000.0f);
        ck_assert_ptr_nonnull(bn_gguf_find_kv(g, "tokenizer.ggml.tokens"));
        ck_assert_ptr_null(bn_gguf_find_tensor(g, "output.weight"));
        ck_assert_int_eq(bn_gguf_n_tensors(g), 1 + 2 * 11 + 1);
        ck_assert_int_eq(bn_gguf_find_tensor(g, "token_embd.weight")->type, BN_TYPE_F16);
        ck_assert_int_eq(bn_gguf_find_tensor(g, "blk.1.ffn_sub_norm.weight")->type, BN_TYPE_F32);
        /* every projection decodes to exactly the absmean ternarization of its source */
        if (!ck)
            ck_assert_int_eq(bn_ckpt_open(dir, &ck, &e), BN_OK);
        for (int64_t i = 0; i < bn_gguf_n_tensors(g); i++) {
            const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
            if (!strstr(t->name, "attn_") && !strstr(t->name, "ffn_"))
                continue;
            if (strstr(t->name, "norm"))
                continue;
            ck_assert_int_eq(t->type, types[ti]);
            int64_t cols = t->ne[0], rows = t->ne[1];
            size_t cnt = (size_t)(cols * rows);
            float *w = malloc(cnt * 4), *deq = malloc(cnt * 4);
            int8_t *want = malloc(cnt);
            char hf[160];
            int layer;
            char kind[32];
            ck_assert_int_eq(sscanf(t->name, "blk.%d.%31[a-z_].weight", &layer, kind), 2);
            const char *hfk = !strcmp(kind, "attn_q") ? "self_attn.q_proj" : !strcmp(kind, "attn_k") ? "self_attn.k_proj"
                            : !strcmp(kind, "attn_v") ? "self_attn.v_proj" : !strcmp(kind, "attn_output") ? "self_attn.o_proj"
                            : !strcmp(kind, "ffn_gate") ? "mlp.gate_proj" : !strcmp(kind, "ffn_up") ? "mlp.up_proj" : "mlp.down_proj";
            snprintf(hf, sizeof hf, "model.layers.%d.%s.weight", layer, hfk);
            ck_assert_int_eq(bn_ckpt_read_f32(ck, bn_ckpt_find(ck, hf), w, cnt, &e), BN_OK);
            bn_ternary_result r;
            ck_assert_int_eq(bn_ternarize(hf, w, cnt, BN_QM_ABSMEAN, want, &r, &e), BN_OK);
            ck_assert_int_eq(bn_unpack_f32(t->type, t->data, t->nbytes, cols, rows, deq, 1, &e), BN_OK);
            float s = r.scale;
            if (t->type == BN_TYPE_TQ1_0 || t->type == BN_TYPE_TQ2_0 || t->type == BN_TYPE_F16)
                s = bn_f16_to_f32(bn_f32_to_f16(s));
            for (size_t k = 0; k < cnt; k++)
                ck_assert_msg(deq[k] == s * (float)want[k], "%s %s [%zu]: %g != %g", bn_type_name(t->type),
                              t->name, k, deq[k], s * want[k]);
            free(w);
            free(deq);
            free(want);
        }
        bn_gguf_close(g);
    }
    bn_ckpt_close(ck);
}
END_TEST

START_TEST(test_packed_equals_latent)
{
    synth s = B158;
    const char *lat = tu_keep(tu_tmp("lat")), *pk = tu_keep(tu_tmp("pk"));
    uint64_t seed = rng;
    make_model(lat, &s);
    rng = seed;
    s.packed = 1;
    make_model(pk, &s);
    bn_error e;
    const char *a = tu_keep(tu_tmp("lat.gguf")), *b = tu_keep(tu_tmp("pk.gguf"));
    ck_assert_msg(convert(lat, a, BN_TYPE_I2_S, 0, &e) == BN_OK, "%s", e.msg);
    ck_assert_msg(convert(pk, b, BN_TYPE_I2_S, 0, &e) == BN_OK, "%s", e.msg);
    tu_assert_same_tensors(a, b, "latent vs packed, i2_s");
}
END_TEST

START_TEST(test_llama_permutes_qk)
{
    synth s = {"LlamaForCausalLM", 256, 512, 4, 2, 1, 0, 1, NULL, NULL, NULL, NULL, 0, NULL};
    const char *dir = tu_keep(tu_tmp("llama"));
    make_model(dir, &s);
    bn_error e;
    const char *out = tu_keep(tu_tmp("llama.gguf"));
    ck_assert_msg(convert(dir, out, BN_TYPE_I2_S, 0, &e) == BN_OK, "%s", e.msg);
    bn_gguf *g;
    bn_ckpt *ck;
    ck_assert_int_eq(bn_gguf_open(out, &g, &e), BN_OK);
    ck_assert_int_eq(bn_ckpt_open(dir, &ck, &e), BN_OK);
    ck_assert_ptr_nonnull(bn_gguf_find_tensor(g, "output.weight"));
    ck_assert_ptr_null(bn_gguf_find_tensor(g, "blk.0.attn_sub_norm.weight"));
    const char *names[2][2] = {{"blk.0.attn_k.weight", "model.layers.0.self_attn.k_proj.weight"},
                               {"blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight"}};
    const int heads[2] = {2, 4};
    for (int q = 0; q < 2; q++) {
        const bn_gguf_tensor *t = bn_gguf_find_tensor(g, names[q][0]);
        int64_t cols = t->ne[0], rows = t->ne[1];
        size_t cnt = (size_t)(rows * cols);
        float *w = malloc(cnt * 4);
        int8_t *codes = malloc(cnt), *got = malloc(cnt);
        ck_assert_int_eq(bn_ckpt_read_f32(ck, bn_ckpt_find(ck, names[q][1]), w, cnt, &e), BN_OK);
        bn_ternary_result r;
        ck_assert_int_eq(bn_ternarize("x", w, cnt, BN_QM_ABSMEAN, codes, &r, &e), BN_OK);
        ck_assert_int_eq(bn_unpack_ternary_rows(t->type, t->data, t->nbytes, cols, rows, 0, rows, got, &e), BN_OK);
        /* GGUF row (h, i, p) = HF row (h, p, i), head_dim 64 */
        for (int64_t h = 0; h < heads[q]; h++)
            for (int64_t i = 0; i < 32; i++)
                for (int64_t pp = 0; pp < 2; pp++)
                    ck_assert_int_eq(memcmp(got + (h * 64 + i * 2 + pp) * cols,
                                            codes + (h * 64 + pp * 32 + i) * cols, (size_t)cols), 0);
        free(w);
        free(codes);
        free(got);
    }
    bn_ckpt_close(ck);
    bn_gguf_close(g);
}
END_TEST

static void expect_refusal(const synth *s, bn_type type, const char *needle)
{
    static int k;
    char dname[64], oname[64];
    snprintf(dname, sizeof dname, "bad%d", k);
    snprintf(oname, sizeof oname, "bad%d.gguf", k++);
    const char *dir = tu_keep(tu_tmp(dname));
    make_model(dir, s);
    bn_error e;
    bn_status st = convert(dir, tu_tmp(oname), type, 0, &e);
    ck_assert_msg(st != BN_OK, "accepted (%s)", needle);
    ck_assert_int_eq(bn_status_exit_code(st), 2);
    ck_assert_msg(strstr(e.msg, needle) != NULL, "message '%s' lacks '%s'", e.msg, needle);
    assert_no_output(tu_tmp(""), oname);
}

START_TEST(test_refusals)
{
    synth s = B158;
    s.drop = "model.layers.1.mlp.up_proj.weight";
    expect_refusal(&s, BN_TYPE_I2_S, "model.layers.1.mlp.up_proj.weight");
    s = B158;
    s.reshape = "model.layers.0.self_attn.k_proj.weight";
    expect_refusal(&s, BN_TYPE_I2_S, "expected [128, 256]");
    s = B158;
    s.nan_in = "model.layers.0.mlp.down_proj.weight";
    expect_refusal(&s, BN_TYPE_I2_S, "NaN");
    s = B158;
    s.nan_in = "model.norm.weight";
    expect_refusal(&s, BN_TYPE_I2_S, "model.norm.weight");
    s = B158;
    s.extra = "model.layers.0.self_attn.q_proj.bias";
    expect_refusal(&s, BN_TYPE_I2_S, "unexpected tensor 'model.layers.0.self_attn.q_proj.bias'");
    s = B158;
    s.vocab_delta = -5;
    expect_refusal(&s, BN_TYPE_I2_S, "vocab_size");
    s = B158;
    s.untied = 1;
    expect_refusal(&s, BN_TYPE_I2_S, "lm_head.weight");
    s = B158;
    s.arch_override = "GPT2LMHeadModel";
    expect_refusal(&s, BN_TYPE_I2_S, "BitNetForCausalLM");
    /* 384-wide rows hold I2_S (128) but not TQ2_0 (256): refused without --allow-fallback */
    s = B158;
    s.hidden = 384;
    s.heads = 6;
    expect_refusal(&s, BN_TYPE_TQ2_0, "multiple of 256");
}
END_TEST

START_TEST(test_allow_fallback)
{
    synth s = B158;
    s.hidden = 384;
    s.heads = 6;
    s.ff = 512;
    const char *dir = tu_keep(tu_tmp("fb"));
    make_model(dir, &s);
    bn_error e;
    const char *out = tu_keep(tu_tmp("fb.gguf"));
    ck_assert_msg(convert(dir, out, BN_TYPE_TQ2_0, 1, &e) == BN_OK, "%s", e.msg);
    bn_gguf *g;
    ck_assert_int_eq(bn_gguf_open(out, &g, &e), BN_OK);
    /* q/k/v/gate/up read 384-wide rows: F16; down reads 512-wide rows: TQ2_0 */
    ck_assert_int_eq(bn_gguf_find_tensor(g, "blk.0.attn_q.weight")->type, BN_TYPE_F16);
    ck_assert_int_eq(bn_gguf_find_tensor(g, "blk.0.ffn_down.weight")->type, BN_TYPE_TQ2_0);
    bn_gguf_close(g);
}
END_TEST

/* Embeddings, output and norms stream in slices of whole rows: any slice size
 * gives the same bytes as the default, for every embedding type, tied or not. */
START_TEST(test_sliced_copy)
{
    synth llama = {"LlamaForCausalLM", 256, 512, 4, 2, 1, 0, 1, NULL, NULL, NULL, NULL, 0, NULL};
    const synth *models[] = {&B158, &llama}; /* tied; untied (output.weight) */
    const bn_type embd[] = {BN_TYPE_F16, BN_TYPE_F32, BN_TYPE_Q8_0};
    const size_t slices[] = {1, 256 * 4 * 3 + 5, 1u << 30};
    for (size_t ti = 0; ti < 2 * sizeof embd / sizeof *embd; ti++) {
        const char *dir = tu_keep(tu_tmp("slice"));
        make_model(dir, models[ti % 2]);
        uint8_t *want = NULL;
        size_t want_n = 0;
        for (size_t si = 0; si <= sizeof slices / sizeof *slices; si++) {
            bn_convert_opts o;
            bn_convert_opts_init(&o);
            o.in_dir = dir;
            o.out_path = tu_tmp("slice.gguf");
            o.embd_type = embd[ti / 2];
            o.n_threads = 2;
            o.slice_bytes = si ? slices[si - 1] : 0; /* first: the default */
            bn_convert_result r;
            bn_error e;
            ck_assert_msg(bn_convert_run(&o, &r, &e) == BN_OK, "%s", e.msg);
            size_t n;
            uint8_t *got = tu_read(o.out_path, &n);
            ck_assert_ptr_nonnull(got);
            if (!want) {
                want = got;
                want_n = n;
                continue;
            }
            ck_assert_msg(n == want_n && memcmp(got, want, n) == 0,
                          "%s embeddings, slices of %zu bytes: output differs from the default",
                          bn_type_name(embd[ti / 2]), o.slice_bytes);
            free(got);
        }
        free(want);
    }
}
END_TEST

START_TEST(test_vocab_only)
{
    const char *dir = tu_keep(tu_tmp("vo"));
    make_model(dir, &B158);
    bn_convert_opts o;
    bn_convert_opts_init(&o);
    o.in_dir = dir;
    o.out_path = tu_tmp("vo.gguf");
    o.vocab_only = 1;
    bn_convert_result r;
    bn_error e;
    ck_assert_msg(bn_convert_run(&o, &r, &e) == BN_OK, "%s", e.msg);
    bn_gguf *g;
    ck_assert_int_eq(bn_gguf_open(o.out_path, &g, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_n_tensors(g), 0);
    ck_assert_ptr_nonnull(bn_gguf_find_kv(g, "tokenizer.ggml.scores"));
    check_kv_u32(g, "bitnet-b1.58.vocab_size", tokenizer_size());
    bn_gguf_close(g);
}
END_TEST

START_TEST(test_cli_exit_codes)
{
    const char *dir = tu_keep(tu_tmp("cli"));
    synth s = B158;
    s.drop = "model.norm.weight";
    make_model(dir, &s);
    char cmd[8192], *out;
    snprintf(cmd, sizeof cmd, "%s %s %s", tu_build("bn-convert"), dir, tu_tmp("cli.gguf"));
    ck_assert_int_eq(tu_run(cmd, &out), 2);
    ck_assert_msg(strstr(out, "bn-convert: ") == out && strchr(out, '\n') == out + strlen(out) - 1,
                  "not one line: %s", out);
    ck_assert_ptr_nonnull(strstr(out, "model.norm.weight"));
    free(out);
    ck_assert(!tu_exists(tu_tmp("cli.gguf")));
    snprintf(cmd, sizeof cmd, "%s --type q4_k %s %s", tu_build("bn-convert"), dir, tu_tmp("cli.gguf"));
    ck_assert_int_eq(tu_run(cmd, NULL), 2);
    snprintf(cmd, sizeof cmd, "%s --help", tu_build("bn-convert"));
    ck_assert_int_eq(tu_run(cmd, NULL), 0);
}
END_TEST

/* The AVX2 reading loops (read_avx2.c) against bn_f16_to_f32 and isfinite. */
START_TEST(test_simd_read_matches_scalar)
{
    if (!bnc_have_avx2())
        return; /* the scalar loops are the only path */
    enum { N = 65536 + 5 };
    uint8_t *h = malloc(2 * N);
    float *f = malloc(N * sizeof *f);
    for (uint32_t i = 0; i < N; i++) {
        uint16_t v = (uint16_t)(i & 0xffff); /* every half, NaN payloads and subnormals included */
        h[2 * i] = (uint8_t)(v & 0xff);
        h[2 * i + 1] = (uint8_t)(v >> 8);
    }
    size_t done = bnc_f16_to_f32_avx2(h, N, f);
    ck_assert_uint_eq(done, N - N % 8);
    for (uint32_t i = 0; i < done; i++)
        ck_assert_msg(tu_f32_bits(f[i]) == tu_f32_bits(bn_f16_to_f32((uint16_t)(i & 0xffff))),
                      "half 0x%04x: 0x%08x, want 0x%08x", i & 0xffff, tu_f32_bits(f[i]),
                      tu_f32_bits(bn_f16_to_f32((uint16_t)(i & 0xffff))));
    ck_assert_uint_eq(bnc_bf16_to_f32_avx2(h, N, f), N - N % 8);
    for (uint32_t i = 0; i < done; i++)
        ck_assert_uint_eq(tu_f32_bits(f[i]), tu_f32_bits(bn_bf16_to_f32((uint16_t)(i & 0xffff))));
    for (uint32_t i = 0; i < 1000; i++)
        f[i] = (float)i * 0.25f - 100.0f;
    ck_assert_int_eq(bnc_all_finite_avx2(f, 1000), 1);
    const size_t at[] = {0, 7, 8, 500, 991, 992, 999};
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        float keep = f[at[k]];
        f[at[k]] = k % 3 == 0 ? NAN : k % 3 == 1 ? INFINITY : -INFINITY;
        ck_assert_int_eq(bnc_all_finite_avx2(f, 1000), 0);
        f[at[k]] = keep;
    }
    ck_assert_int_eq(bnc_all_finite_avx2(f, 1000), 1);
    free(h);
    free(f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("convert");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_every_type);
    tcase_add_test(tc, test_simd_read_matches_scalar);
    tcase_add_test(tc, test_packed_equals_latent);
    tcase_add_test(tc, test_llama_permutes_qk);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_allow_fallback);
    tcase_add_test(tc, test_sliced_copy);
    tcase_add_test(tc, test_vocab_only);
    tcase_add_test(tc, test_cli_exit_codes);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
