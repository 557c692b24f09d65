/* test_gguf_files.c - the GGUF type table, F16/BF16 against upstream golden
 * bytes, llama.cpp's vocab GGUFs, the writer's refusals and failure paths, and
 * the malformed-file corpus (round trips and bn-info --json: test_gguf.c). */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cJSON.h>

#include "bn/gguf.h"
#include "bn/util.h"
#include "testutil.h"


/* ---- helpers ---------------------------------------------------------------- */

static int count_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (strstr(de->d_name, ".tmp."))
            n++;
    if (d)
        closedir(d);
    return n;
}


/* ---- type table ------------------------------------------------------------- */

START_TEST(test_type_table)
{
    /* 2 rows of 256: sizes from FORMATS.md §2 (and the golden files' sizes). */
    static const struct {
        bn_type t;
        const char *name;
        int64_t block;
        uint64_t bytes;
    } cases[] = {
        {BN_TYPE_F32, "F32", 1, 2048},   {BN_TYPE_F16, "F16", 1, 1024},
        {BN_TYPE_BF16, "BF16", 1, 1024}, {BN_TYPE_Q8_0, "Q8_0", 32, 16 * 34},
        {BN_TYPE_TQ1_0, "TQ1_0", 256, 2 * 54}, {BN_TYPE_TQ2_0, "TQ2_0", 256, 2 * 66},
        {BN_TYPE_I2_S, "I2_S", 128, 512 / 4 + 32},
    };
    bn_error e;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t nb = 0;
        bn_type back;
        ck_assert(bn_type_known(cases[i].t));
        ck_assert_str_eq(bn_type_name(cases[i].t), cases[i].name);
        ck_assert_int_eq(bn_type_from_name(cases[i].name, &back), 0);
        ck_assert_int_eq(back, cases[i].t);
        ck_assert_int_eq(bn_type_block_size(cases[i].t), cases[i].block);
        ck_assert_int_eq(bn_type_nbytes(cases[i].t, 256, 512, &nb, &e), BN_OK);
        ck_assert_uint_eq(nb, cases[i].bytes);
    }
    ck_assert_int_eq(bn_type_from_name("tq2_0", &(bn_type){0}), 0);
    ck_assert_int_eq(bn_type_from_name("Q4_0", &(bn_type){0}), -1);
    ck_assert(!bn_type_known(2) && !bn_type_known(37));
    ck_assert_str_eq(bn_type_name(2), "?");
    ck_assert_uint_eq(bn_type_row_bytes(BN_TYPE_I2_S, 2560), 640);
    ck_assert_uint_eq(bn_type_row_bytes(BN_TYPE_TQ1_0, 512), 108);
    ck_assert_uint_eq(bn_type_block_bytes(BN_TYPE_Q8_0), 34);
    /* The official 2B-4T attn_q: 2560 x 2560 I2_S = n/4 + 32. */
    uint64_t nb;
    ck_assert_int_eq(bn_type_nbytes(BN_TYPE_I2_S, 2560, 2560ull * 2560, &nb, &e), BN_OK);
    ck_assert_uint_eq(nb, 2560ull * 2560 / 4 + 32);
    ck_assert_int_eq(bn_type_nbytes(BN_TYPE_I2_S, 100, 100, &nb, &e), BN_EINVAL);
    ck_assert_str_eq(e.msg, "ne[0]=100 is not a multiple of the I2_S block (128)");
    ck_assert_int_eq(bn_type_nbytes(BN_TYPE_Q8_0, 48, 48, &nb, &e), BN_EINVAL);
    ck_assert_int_eq(bn_type_nbytes(BN_TYPE_F32, 1, UINT64_MAX / 2, &nb, &e), BN_EINVAL);
    ck_assert_int_eq(bn_type_nbytes((bn_type)3, 32, 32, &nb, &e), BN_EINVAL);
    ck_assert_str_eq(bn_gguf_vtype_name(BN_GGUF_F64), "f64");
    ck_assert_str_eq(bn_gguf_vtype_name(13), "?");
    ck_assert_uint_eq(bn_gguf_vtype_size(BN_GGUF_U16), 2);
    ck_assert_uint_eq(bn_gguf_vtype_size(BN_GGUF_STRING), 0);
}
END_TEST

/* ---- F16 / BF16 ---------------------------------------------------------------- */

static const char *const k_golden[] = {"ternary_4x512", "ternary_3x256_zero_block", "gauss_2x768"};

START_TEST(test_half_golden)
{
    /* gguf-py's F16 (numpy astype float16) and BF16 packers, byte for byte. */
    for (size_t c = 0; c < sizeof k_golden / sizeof k_golden[0]; c++) {
        char p[256];
        size_t n32, n16, nb16;
        snprintf(p, sizeof p, "golden/ternary/%s.f32", k_golden[c]);
        uint8_t *f32 = tu_read(tu_shared(p), &n32);
        snprintf(p, sizeof p, "golden/ternary/%s.f16", k_golden[c]);
        uint8_t *f16 = tu_read(tu_shared(p), &n16);
        snprintf(p, sizeof p, "golden/ternary/%s.bf16", k_golden[c]);
        uint8_t *bf16 = tu_read(tu_shared(p), &nb16);
        ck_assert_ptr_nonnull(f32);
        ck_assert_ptr_nonnull(f16);
        ck_assert_ptr_nonnull(bf16);
        ck_assert_uint_eq(n16 * 2, n32);
        ck_assert_uint_eq(nb16 * 2, n32);
        for (size_t i = 0; i < n32 / 4; i++) {
            float x;
            memcpy(&x, f32 + 4 * i, 4);
            uint16_t h = bn_f32_to_f16(x), b = bn_f32_to_bf16(x);
            ck_assert_msg(h == (uint16_t)(f16[2 * i] | f16[2 * i + 1] << 8),
                          "%s: f16 element %zu of %a", k_golden[c], i, (double)x);
            ck_assert_msg(b == (uint16_t)(bf16[2 * i] | bf16[2 * i + 1] << 8),
                          "%s: bf16 element %zu of %a", k_golden[c], i, (double)x);
        }
        free(f32);
        free(f16);
        free(bf16);
    }
}
END_TEST

START_TEST(test_half_rounding)
{
    /* Every half and every bfloat16 survives a trip through f32. */
    for (uint32_t h = 0; h < 65536; h++) {
        float f = bn_f16_to_f32((uint16_t)h);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
            ck_assert(isnan(f));
            ck_assert(isnan(bn_bf16_to_f32(bn_f32_to_bf16(f))));
            continue;
        }
        ck_assert_uint_eq(bn_f32_to_f16(f), h);
        ck_assert_uint_eq(bn_f32_to_bf16(bn_bf16_to_f32((uint16_t)h)), h);
    }
    /* Ties go to even, in normals, subnormals and at the overflow edge. */
    ck_assert_uint_eq(bn_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);        /* tie, even down */
    ck_assert_uint_eq(bn_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);    /* tie, even up */
    ck_assert_uint_eq(bn_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
    ck_assert_uint_eq(bn_f32_to_f16(65504.0f), 0x7bff);
    ck_assert_uint_eq(bn_f32_to_f16(65519.996f), 0x7bff);
    ck_assert_uint_eq(bn_f32_to_f16(65520.0f), 0x7c00);
    ck_assert_uint_eq(bn_f32_to_f16(-1e9f), 0xfc00);
    ck_assert_uint_eq(bn_f32_to_f16(0x1p-24f), 0x0001);
    ck_assert_uint_eq(bn_f32_to_f16(0x1p-25f), 0x0000);               /* tie to even 0 */
    ck_assert_uint_eq(bn_f32_to_f16(0x1.8p-25f), 0x0001);
    ck_assert_uint_eq(bn_f32_to_f16(3 * 0x1p-25f), 0x0002);           /* 1.5 ulp: tie to 2 */
    ck_assert_uint_eq(bn_f32_to_f16(0x1.ffcp-15f), 0x0400);           /* rounds up to normal */
    ck_assert_uint_eq(bn_f32_to_f16(-0.0f), 0x8000);
    ck_assert_uint_eq(bn_f32_to_f16(tu_f32_from_bits(0x00000001)), 0x0000);       /* f32 subnormal */
    ck_assert_uint_eq(bn_f32_to_f16(INFINITY), 0x7c00);
    uint16_t hn = bn_f32_to_f16(tu_f32_from_bits(0x7f800001)); /* signalling NaN, tiny payload */
    ck_assert((hn & 0x7c00) == 0x7c00 && (hn & 0x200));
    ck_assert_uint_eq(bn_f32_to_f16(tu_f32_from_bits(0xffc00000)), 0xfe00);
    /* bfloat16 */
    ck_assert_uint_eq(bn_f32_to_bf16(tu_f32_from_bits(0x3f808000)), 0x3f80);      /* tie, even down */
    ck_assert_uint_eq(bn_f32_to_bf16(tu_f32_from_bits(0x3f818000)), 0x3f82);      /* tie, even up */
    ck_assert_uint_eq(bn_f32_to_bf16(tu_f32_from_bits(0x3f808001)), 0x3f81);
    ck_assert_uint_eq(bn_f32_to_bf16(tu_f32_from_bits(0x7f7fffff)), 0x7f80);      /* FLT_MAX -> inf */
    ck_assert_uint_eq(bn_f32_to_bf16(tu_f32_from_bits(0x7f800001)), 0x7fc0);      /* NaN stays NaN */
    ck_assert_uint_eq(bn_f32_to_bf16(tu_f32_from_bits(0xff800000)), 0xff80);
    ck_assert_uint_eq(tu_f32_bits(bn_bf16_to_f32(0x3f80)), 0x3f800000);
}
END_TEST

/* ---- llama.cpp's vocab files ------------------------------------------------- */

START_TEST(test_vocab_files)
{
    bn_gguf *g;
    bn_error e;
    const bn_gguf_kv *kv;
    bn_str s;
    uint32_t u;
    int b;
    ck_assert_int_eq(bn_gguf_open(tu_shared("data/tokenizer-tests/ggml-vocab-llama-spm.gguf"),
                                  &g, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_n_kv(g), 22);
    ck_assert_int_eq(bn_gguf_n_tensors(g), 0);
    ck_assert_int_eq(bn_gguf_get_str(g, "tokenizer.ggml.model", &s, &e), BN_OK);
    ck_assert(s.len == 5 && memcmp(s.ptr, "llama", 5) == 0);
    ck_assert_int_eq(bn_gguf_get_arr(g, "tokenizer.ggml.tokens", BN_GGUF_STRING, &kv, &e), BN_OK);
    ck_assert_uint_eq(kv->arr_n, 32000);
    s = bn_gguf_arr_str(g, kv, 1);
    ck_assert(s.len == 3 && memcmp(s.ptr, "<s>", 3) == 0);
    s = bn_gguf_arr_str(g, kv, 3);
    ck_assert(s.len == 6 && memcmp(s.ptr, "<0x00>", 6) == 0);
    ck_assert_int_eq(bn_gguf_get_arr(g, "tokenizer.ggml.scores", BN_GGUF_F32, &kv, &e), BN_OK);
    ck_assert_uint_eq(kv->arr_n, 32000);
    ck_assert_int_eq(bn_gguf_get_arr(g, "tokenizer.ggml.token_type", BN_GGUF_I32, &kv, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_arr_i64(kv, 0), 2); /* <unk> is "unknown" */
    ck_assert_int_eq(bn_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &u, &e), BN_OK);
    ck_assert_uint_eq(u, 1);
    ck_assert_int_eq(bn_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b, &e), BN_OK);
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(bn_gguf_get_u32(g, "llama.vocab_size", &u, &e), BN_OK);
    ck_assert_uint_eq(u, 32000);

    /* Re-writing every KV with our writer reproduces gguf-py's bytes; gguf-py
     * left the (empty) data section unpadded, ours pads it. */
    const char *out = tu_tmp("spm-copy.gguf");
    bn_gguf_writer *w;
    ck_assert_int_eq(bn_gguf_writer_open(out, 0, &w, &e), BN_OK);
    for (int64_t i = 0; i < bn_gguf_n_kv(g); i++)
        ck_assert_int_eq(bn_gguf_copy_kv(w, g, bn_gguf_kv_at(g, i), &e), BN_OK);
    ck_assert_int_eq(bn_gguf_writer_finish(w, &e), BN_OK);
    size_t n_orig, n_copy;
    uint8_t *orig = tu_read(tu_shared("data/tokenizer-tests/ggml-vocab-llama-spm.gguf"), &n_orig);
    uint8_t *copy = tu_read(out, &n_copy);
    ck_assert_uint_eq(n_copy, bn_gguf_data_offset(g));
    ck_assert_uint_ge(n_copy, n_orig);
    ck_assert_int_eq(memcmp(orig, copy, n_orig), 0);
    for (size_t i = n_orig; i < n_copy; i++)
        ck_assert_uint_eq(copy[i], 0);
    free(orig);
    free(copy);
    bn_gguf_close(g);

    ck_assert_int_eq(bn_gguf_open(tu_shared("data/tokenizer-tests/ggml-vocab-gpt-2.gguf"), &g,
                                  &e), BN_OK);
    ck_assert_int_eq(bn_gguf_n_kv(g), 16);
    ck_assert_int_eq(bn_gguf_get_arr(g, "tokenizer.ggml.tokens", BN_GGUF_STRING, &kv, &e), BN_OK);
    ck_assert_uint_eq(kv->arr_n, 50257);
    s = bn_gguf_arr_str(g, kv, 50256);
    ck_assert(s.len == 13 && memcmp(s.ptr, "<|endoftext|>", 13) == 0);
    ck_assert_int_eq(bn_gguf_get_arr(g, "tokenizer.ggml.merges", BN_GGUF_STRING, &kv, &e), BN_OK);
    ck_assert_uint_eq(kv->arr_n, 50000);
    s = bn_gguf_arr_str(g, kv, 0);
    ck_assert(s.len == 4 && memcmp(s.ptr, "\xc4\xa0 t", 4) == 0); /* "Ġ t" */
    ck_assert_int_eq(bn_gguf_get_str(g, "tokenizer.ggml.pre", &s, &e), BN_OK);
    ck_assert(s.len == 5 && memcmp(s.ptr, "gpt-2", 5) == 0);
    ck_assert_int_eq(bn_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &u, &e), BN_OK);
    ck_assert_uint_eq(u, 50256);
    bn_gguf_close(g);
}
END_TEST

/* ---- writer refusals and failure paths ---------------------------------------- */

START_TEST(test_writer_refusals)
{
    const char *path = tu_tmp("refuse.gguf");
    bn_gguf_writer *w;
    bn_error e;
    ck_assert_int_eq(bn_gguf_writer_open(path, 3, &w, &e), BN_EINVAL);
    ck_assert_ptr_null(w);
    ck_assert_int_eq(bn_gguf_writer_open(path, 64, &w, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_u32(w, "k", 1, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_f32(w, "k", 1, &e), BN_EINVAL);
    ck_assert_str_eq(strstr(e.msg, "duplicate"), "duplicate key 'k'");
    ck_assert_int_eq(bn_gguf_set_u32(w, "", 1, &e), BN_EINVAL);
    /* general.alignment: only the writer's own value, only as u32 */
    ck_assert_int_eq(bn_gguf_set_u32(w, "general.alignment", 64, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_u32(w, "general.alignment", 32, &e), BN_EINVAL);
    ck_assert_int_eq(bn_gguf_set_u64(w, "general.alignment", 64, &e), BN_ETYPE);
    ck_assert_int_eq(bn_gguf_set_arr(w, "a", BN_GGUF_STRING, "x", 1, &e), BN_EINVAL);
    ck_assert_int_eq(bn_gguf_set_arr(w, "b", BN_GGUF_BOOL, (uint8_t[]){0, 2}, 2, &e), BN_EINVAL);
    int64_t ne[2] = {100, 2};
    ck_assert_int_eq(bn_gguf_add_tensor(w, "x", 2, ne, BN_TYPE_I2_S, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "tensor 'x': ne[0]=100 is not a multiple of the I2_S "
                                        "block (128)"));
    ck_assert_int_eq(bn_gguf_add_tensor(w, "x", 5, ne, BN_TYPE_F32, &e), BN_EINVAL);
    ck_assert_int_eq(bn_gguf_add_tensor(w, "x", 2, (int64_t[]){4, 0}, BN_TYPE_F32, &e), BN_EINVAL);
    ck_assert_int_eq(bn_gguf_add_tensor(w, "x", 2, (int64_t[]){1ll << 40, 1ll << 40},
                                        BN_TYPE_F32, &e), BN_EINVAL);
    ck_assert_int_eq(bn_gguf_add_tensor(w, "x", 1, ne, (bn_type)2, &e), BN_EINVAL);
    char longname[80];
    memset(longname, 'n', 64);
    longname[64] = '\0';
    ck_assert_int_eq(bn_gguf_add_tensor(w, longname, 1, ne, BN_TYPE_F32, &e), BN_EINVAL);
    longname[63] = '\0';
    ck_assert_int_eq(bn_gguf_add_tensor(w, longname, 1, ne, BN_TYPE_F32, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_add_tensor(w, longname, 1, ne, BN_TYPE_F32, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "duplicate tensor name"));
    ck_assert_int_eq(bn_gguf_add_tensor(w, "y", 1, (int64_t[]){4}, BN_TYPE_F32, &e), BN_OK);
    /* 400 + 16 bytes: a write that spans into the next tensor is refused */
    uint8_t buf[512] = {0};
    ck_assert_int_eq(bn_gguf_writer_write(w, buf, 401, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "exceeds the 400 bytes it still needs"));
    ck_assert_int_eq(bn_gguf_writer_write(w, buf, 400, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_u32(w, "late", 1, &e), BN_EINVAL);
    ck_assert_int_eq(bn_gguf_add_tensor(w, "late", 1, ne, BN_TYPE_F32, &e), BN_EINVAL);
    ck_assert_int_eq(bn_gguf_writer_write(w, buf, 16, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_writer_write(w, buf, 1, &e), BN_EINVAL);
    ck_assert_int_eq(bn_gguf_writer_write(w, buf, 0, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_writer_finish(w, &e), BN_OK);
    bn_gguf *g;
    ck_assert_int_eq(bn_gguf_open(path, &g, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_n_kv(g), 2); /* general.alignment (auto, once) and k */
    ck_assert_str_eq(bn_gguf_kv_at(g, 0)->key, "general.alignment");
    ck_assert_uint_eq(bn_gguf_tensor_at(g, 1)->offset, 448);
    bn_gguf_close(g);
}
END_TEST

START_TEST(test_writer_failures_leave_no_trace)
{
    bn_gguf_writer *w = NULL;
    bn_error e;
    ck_assert_int_ne(bn_gguf_writer_open("/nonexistent-dir/x.gguf", 0, &w, &e), BN_OK);
    ck_assert_ptr_null(w);
    ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent-dir/x.gguf"));

    /* An existing target survives an abort and a short write, byte for byte. */
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s", tu_tmp("fail"));
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/target.gguf", dir);
    ck_assert_int_eq(tu_write(path, "precious", 8), 0);

    ck_assert_int_eq(bn_gguf_writer_open(path, 0, &w, &e), BN_OK);
    ck_assert_int_eq(count_temp_files(dir), 1);
    ck_assert_int_eq(bn_gguf_set_u32(w, "k", 1, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_add_tensor(w, "t", 1, (int64_t[]){8}, BN_TYPE_F32, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_writer_write(w, "0123456789abcdef", 16, &e), BN_OK);
    bn_gguf_writer_abort(w);
    ck_assert_int_eq(count_temp_files(dir), 0);

    ck_assert_int_eq(bn_gguf_writer_open(path, 0, &w, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_add_tensor(w, "t", 1, (int64_t[]){8}, BN_TYPE_F32, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_writer_write(w, "0123456789abcdef", 16, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_writer_finish(w, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "tensor 0 't' got 16 of its 32 bytes"));
    ck_assert_int_eq(count_temp_files(dir), 0);

    ck_assert_int_eq(bn_gguf_writer_open(path, 0, &w, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_add_tensor(w, "t", 1, (int64_t[]){8}, BN_TYPE_F32, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_writer_finish(w, &e), BN_EINVAL); /* no bytes at all */
    ck_assert_int_eq(count_temp_files(dir), 0);
    bn_gguf_writer_abort(NULL);

    size_t n;
    uint8_t *b = tu_read(path, &n);
    ck_assert_uint_eq(n, 8);
    ck_assert_int_eq(memcmp(b, "precious", 8), 0);
    free(b);
}
END_TEST

/* ---- malformed corpus ------------------------------------------------------------ */

START_TEST(test_corpus_rejected)
{
    /* Every .gguf under tests/corpus/gguf is listed in MANIFEST.tsv with a fragment
     * its one-line error must contain; the unmutated base opens. */
    size_t n;
    char *manifest = (char *)tu_read(tu_root("tests/corpus/gguf/MANIFEST.tsv"), &n);
    ck_assert_ptr_nonnull(manifest);
    int listed = 0;
    for (char *line = strtok(manifest, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        char *tab = strchr(line, '\t');
        ck_assert_ptr_nonnull(tab);
        *tab = '\0';
        bn_gguf *g = NULL;
        bn_error e;
        char rel[512];
        snprintf(rel, sizeof rel, "tests/corpus/gguf/%s", line);
        bn_status st = bn_gguf_open(tu_root(rel), &g, &e);
        ck_assert_msg(st == BN_EINVAL, "%s: accepted (status %d)", line, st);
        ck_assert_ptr_null(g);
        ck_assert_msg(strstr(e.msg, tab + 1) != NULL, "%s: '%s' lacks '%s'", line, e.msg, tab + 1);
        ck_assert_ptr_null(strchr(e.msg, '\n'));
        ck_assert_ptr_nonnull(strstr(e.msg, line)); /* names the file */
        /* The same bytes from memory give the same verdict. */
        size_t len;
        uint8_t *img = tu_read(tu_root(rel), &len);
        ck_assert_int_eq(bn_gguf_open_mem(img, len, line, &g, &e), BN_EINVAL);
        free(img);
        listed++;
    }
    free(manifest);
    int on_disk = 0;
    DIR *d = opendir(tu_root("tests/corpus/gguf"));
    struct dirent *de;
    while (d && (de = readdir(d)))
        on_disk += strstr(de->d_name, ".gguf") != NULL;
    if (d)
        closedir(d);
    ck_assert_int_ge(listed, 25);
    ck_assert_int_eq(listed, on_disk);

    bn_gguf *g;
    bn_error e;
    ck_assert_int_eq(bn_gguf_open(tu_root("tests/corpus/gguf/base.valid"), &g, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_n_tensors(g), 2);
    bn_gguf_close(g);
}
END_TEST

START_TEST(test_open_errors)
{
    bn_gguf *g = (bn_gguf *)1;
    bn_error e;
    ck_assert_int_eq(bn_gguf_open(tu_tmp("does-not-exist.gguf"), &g, &e), BN_ENOTFOUND);
    ck_assert_ptr_null(g);
    ck_assert_int_ne(bn_gguf_open(tu_tmp(""), &g, &e), BN_OK); /* a directory */
    ck_assert_int_eq(bn_gguf_open_mem(NULL, 0, NULL, &g, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "<memory>: bad magic"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gguf_files");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_type_table);
    tcase_add_test(tc, test_half_golden);
    tcase_add_test(tc, test_half_rounding);
    tcase_add_test(tc, test_vocab_files);
    tcase_add_test(tc, test_writer_refusals);
    tcase_add_test(tc, test_writer_failures_leave_no_trace);
    tcase_add_test(tc, test_corpus_rejected);
    tcase_add_test(tc, test_open_errors);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
