/* test_kquant.c - the K-quants of embeddings and the head (FORMATS.md §2.3):
 * the packers against golden bytes of the reference engines' own quantizer
 * (fixtures/kquant, scripts/make_kquant_golden.sh: bitnet.cpp's and upstream
 * llama.cpp's llama-quantize, which differ in their multiply-add rounding), the dequantizers against the layout written out element by
 * element, and the runtime's Q6_K/Q4_K x Q8_K dot products: every kernel
 * (scalar, AVX2, AVX-512) gives the same integer sums, and the float result
 * is that of the dequantized weights within rounding. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/gguf.h"
#include "bn/quant.h"
#include "bn/kernels.h"
#include "runtime/kquant_internal.h"
#include "testutil.h"

#define ROWS 192
#define COLS 256

static float *stress_input(void)
{
    size_t n;
    uint8_t *h = tu_read(tu_root("fixtures/kquant/stress.f16"), &n);
    ck_assert_msg(h != NULL, "cannot read fixtures/kquant/stress.f16");
    ck_assert_uint_eq(n, (size_t)ROWS * COLS * 2);
    float *x = malloc((size_t)ROWS * COLS * sizeof *x);
    for (size_t i = 0; i < (size_t)ROWS * COLS; i++)
        x[i] = bn_f16_to_f32((uint16_t)(h[2 * i] | h[2 * i + 1] << 8));
    free(h);
    return x;
}

/* ---- packers: llama-quantize's bytes -------------------------------------------- */

/* The stress rows packed as `build` against golden bytes of that build's
 * llama-quantize; the FMA build also through bn_pack_f32 (threads 1 and 3). */
static void check_golden(bn_type t, bn_kquant_build build, const char *golden)
{
    float *x = stress_input();
    size_t gn, sz;
    uint8_t *g = tu_read(tu_root(golden), &gn);
    ck_assert_msg(g != NULL, "cannot read %s", golden);
    bn_error e;
    ck_assert_int_eq(bn_quant_packed_size(t, COLS, ROWS, &sz, &e), BN_OK);
    ck_assert_uint_eq(sz, gn);
    size_t bb = bn_type_block_bytes(t);
    for (int pass = 0; pass < 3; pass++) {
        int threads = pass == 2 ? 3 : 1;
        if (pass > 0 && build != BN_KQ_FMA)
            break;
        uint8_t *out = calloc(1, sz);
        if (pass == 0)
            ck_assert_int_eq(bn_pack_kquant_rows(t, build, x, COLS, 0, ROWS, out, &e), BN_OK);
        else
            ck_assert_int_eq(bn_pack_f32(t, x, COLS, ROWS, out, sz, threads, &e), BN_OK);
        for (size_t r = 0; r < ROWS; r++)
            ck_assert_msg(memcmp(out + r * bb, g + r * bb, bb) == 0,
                          "%s: stress row %zu (pass %d) differs from %s", bn_type_name(t), r, pass, golden);
        free(out);
    }
    free(g);
    free(x);
}

START_TEST(test_q6k_golden) { check_golden(BN_TYPE_Q6_K, BN_KQ_FMA, "fixtures/kquant/stress.q6_k"); }
END_TEST

START_TEST(test_q4k_golden) { check_golden(BN_TYPE_Q4_K, BN_KQ_FMA, "fixtures/kquant/stress.q4_k"); }
END_TEST

/* upstream llama.cpp's build rounds without FMA: other bytes in a few blocks */
START_TEST(test_q6k_golden_upstream)
{
    check_golden(BN_TYPE_Q6_K, BN_KQ_PLAIN, "fixtures/kquant/stress.q6_k.upstream");
}
END_TEST

START_TEST(test_q4k_golden_upstream)
{
    check_golden(BN_TYPE_Q4_K, BN_KQ_PLAIN, "fixtures/kquant/stress.q4_k.upstream");
}
END_TEST

/* Non-finite input is refused with the row and column, as for Q8_0. */
START_TEST(test_kquant_rejects)
{
    float x[2 * COLS] = {0};
    uint8_t out[2 * 210];
    bn_error e;
    x[COLS + 5] = NAN;
    ck_assert_int_eq(bn_pack_f32_rows(BN_TYPE_Q6_K, x, COLS, 0, 2, out, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "row 1, column 5"));
    ck_assert_int_eq(bn_pack_f32_rows(BN_TYPE_Q4_K, x, 128, 0, 1, out, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "Q4_K"));
    ck_assert_int_eq(bn_pack_kquant_rows(BN_TYPE_Q8_0, BN_KQ_FMA, x, COLS, 0, 1, out, &e), BN_EINVAL);
    ck_assert_int_eq(bn_pack_kquant_rows(BN_TYPE_Q6_K, (bn_kquant_build)7, x, COLS, 0, 1, out, &e), BN_EINVAL);
    ck_assert_int_eq(bn_pack_kquant_rows(BN_TYPE_Q6_K, BN_KQ_PLAIN, x, COLS, 0, 2, out, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "row 1, column 5"));
}
END_TEST

/* ---- dequantizers: the layout, element by element -------------------------------- */

/* Q6_K code k of a block (q - 32) as FORMATS.md §2.3 words it. */
static int q6k_code(const uint8_t *b, int k)
{
    int h = k / 128, l = k % 32, quarter = (k % 128) / 32;
    const uint8_t *ql = b + 64 * h, *qh = b + 128 + 32 * h;
    int lo = quarter == 0 ? ql[l] & 15 : quarter == 1 ? ql[l + 32] & 15 : quarter == 2 ? ql[l] >> 4
                                                                                         : ql[l + 32] >> 4;
    return (lo | ((qh[l] >> (2 * quarter)) & 3) << 4) - 32;
}

static float q6k_elem(const uint8_t *b, int k)
{
    float d = bn_f16_to_f32((uint16_t)(b[208] | b[209] << 8));
    return d * (float)(int8_t)b[192 + k / 16] * (float)q6k_code(b, k);
}

/* Q4_K code k of a block, with its group's scale and min */
static int q4k_code(const uint8_t *b, int k, uint8_t *sc, uint8_t *m)
{
    int j = k / 32, chunk = k / 64, l = k % 32;
    bn_kquant_scale_min_k4(j, b + 4, sc, m);
    uint8_t byte = b[16 + 32 * chunk + l];
    return j % 2 == 0 ? byte & 15 : byte >> 4;
}

static float q4k_elem(const uint8_t *b, int k)
{
    uint8_t sc, m;
    int q = q4k_code(b, k, &sc, &m);
    float d = bn_f16_to_f32((uint16_t)(b[0] | b[1] << 8));
    float dmin = bn_f16_to_f32((uint16_t)(b[2] | b[3] << 8));
    return d * (float)sc * (float)q - dmin * (float)m;
}

/* The integer term of element k of a block in the sums S: scale times code times x. */
static int64_t lane_term(bn_type t, const uint8_t *b, int k, int x)
{
    if (t == BN_TYPE_Q6_K)
        return (int64_t)(int8_t)b[192 + k / 16] * q6k_code(b, k) * x;
    uint8_t sc, m;
    int q = q4k_code(b, k, &sc, &m);
    return (int64_t)sc * q * x;
}

START_TEST(test_kquant_dequant)
{
    float *x = stress_input();
    bn_error e;
    for (int ti = 0; ti < 2; ti++) {
        bn_type t = ti ? BN_TYPE_Q4_K : BN_TYPE_Q6_K;
        size_t sz, bb = bn_type_block_bytes(t);
        ck_assert_int_eq(bn_quant_packed_size(t, COLS, ROWS, &sz, &e), BN_OK);
        uint8_t *p = malloc(sz);
        float *y = malloc((size_t)ROWS * COLS * sizeof *y);
        ck_assert_int_eq(bn_pack_f32(t, x, COLS, ROWS, p, sz, 1, &e), BN_OK);
        ck_assert_int_eq(bn_unpack_f32(t, p, sz, COLS, ROWS, y, 2, &e), BN_OK);
        double err2 = 0, x2 = 0;
        for (int r = 0; r < ROWS; r++)
            for (int k = 0; k < COLS; k++) {
                float want = ti ? q4k_elem(p + r * bb, k) : q6k_elem(p + r * bb, k);
                ck_assert_msg(tu_f32_bits(y[r * COLS + k]) == tu_f32_bits(want),
                              "%s row %d elem %d: %g != %g", bn_type_name(t), r, k,
                              (double)y[r * COLS + k], (double)want);
                double dv = (double)y[r * COLS + k] - x[r * COLS + k];
                err2 += dv * dv;
                x2 += (double)x[r * COLS + k] * x[r * COLS + k];
            }
        /* a sanity bound on the quantization itself: 6 bits ~ -35 dB, 4 bits ~ -20 dB */
        ck_assert_msg(err2 / x2 < (ti ? 0.02 : 0.002), "%s relative error %g", bn_type_name(t),
                      err2 / x2);
        free(p);
        free(y);
    }
    free(x);
}
END_TEST


/* ---- runtime: Q6_K/Q4_K x Q8_K sums, every kernel the same ----------------------- */

#define KNB 12 /* blocks per row: 3072 inputs */

/* Random bytes are valid K-quant blocks (every byte pattern decodes); keep d and
 * dmin finite and small so the float comparison below is meaningful. */
static void random_rows(bn_type t, uint8_t *w, int rows)
{
    size_t bb = bn_type_block_bytes(t);
    for (size_t i = 0; i < (size_t)rows * KNB * bb; i++)
        w[i] = (uint8_t)tu_rand32();
    for (size_t b = 0; b < (size_t)rows * KNB; b++) {
        uint8_t *blk = w + b * bb;
        for (int k = 0; k < (t == BN_TYPE_Q6_K ? 1 : 2); k++) {
            uint16_t h = bn_f32_to_f16(0.001f + 0.01f * (float)(tu_rand32() % 1000) / 1000.0f);
            uint8_t *dp = t == BN_TYPE_Q6_K ? blk + 208 : blk + 2 * k;
            dp[0] = (uint8_t)(h & 0xff);
            dp[1] = (uint8_t)(h >> 8);
        }
    }
}

START_TEST(test_kq_sums_equal)
{
    tu_rand_seed(15);
    const int rows = 37, n = KNB * 256;
    bn_error e;
    bn_act a;
    ck_assert_int_eq(bn_act_init(&a, BN_ACT_Q8K, 3, n, &e), BN_OK);
    float *x = malloc((size_t)3 * n * sizeof *x);
    for (int i = 0; i < 3 * n; i++)
        x[i] = tu_gauss() * (i % 700 == 0 ? 40.0f : 1.0f);
    for (int i = 0; i < 256; i++) /* an all-zero block and one at the int8 extremes */
        x[256 + i] = 0.0f, x[n + 512 + i] = i % 2 ? 1e3f : -1e3f;
    ck_assert_int_eq(bn_act_quantize(&a, x, 3, &e), BN_OK);
    int16_t bs[3 * KNB * 16];
    for (int t = 0; t < 3; t++)
        bnr_kq_bsum16(a.q + (size_t)t * n, n, bs + t * KNB * 16);
    for (int ti = 0; ti < 2; ti++) {
        bn_type ty = ti ? BN_TYPE_Q4_K : BN_TYPE_Q6_K;
        size_t rb = KNB * bn_type_block_bytes(ty);
        uint8_t *w = malloc((size_t)rows * rb);
        random_rows(ty, w, rows);
        float *wf = malloc((size_t)n * sizeof *wf);
        bnr_kq_sums_fn basic = bnr_kq_sums_for(ty, "basic");
        bnr_kq_combine_fn comb0 = bnr_kq_combine_for(1), comb1 = bnr_kq_combine_for(0);
        for (int r = 0; r < rows; r++) {
            ck_assert_int_eq(bn_unpack_f32_rows(ty, w, (size_t)rows * rb, n, rows, r, r + 1, wf, &e), BN_OK);
            for (int t = 0; t < 3; t++) {
                int32_t S0[KNB * 8], M0[KNB * 4] = {0};
                const int8_t *q = a.q + (size_t)t * n;
                basic(w + r * rb, q, bs + t * KNB * 16, KNB, S0, M0);
                for (int k = 0; k < 2; k++) { /* every SIMD version this CPU runs */
                    bnr_kq_sums_fn fast = bnr_kq_sums_for(ty, k ? "avx512" : "avx2");
                    if (!fast)
                        continue;
                    int32_t S1[KNB * 8], M1[KNB * 4] = {0};
                    fast(w + r * rb, q, bs + t * KNB * 16, KNB, S1, M1);
                    for (int i = 0; i < KNB * 8; i++)
                        ck_assert_msg(S0[i] == S1[i], "%s %s row %d token %d block %d lane %d: S %d != %d",
                                      k ? "avx512" : "avx2", bn_type_name(ty), r, t, i / 8, i % 8, S0[i], S1[i]);
                    for (int i = 0; i < KNB * 4; i++)
                        ck_assert_msg(M0[i] == M1[i], "%s %s row %d token %d block %d: M %d != %d",
                                      k ? "avx512" : "avx2", bn_type_name(ty), r, t, i / 4, M0[i], M1[i]);
                }
                /* lane k of a block holds the elements with (e mod 32) / 4 == k */
                for (int b = 0; b < KNB; b++)
                    for (int k = 0; k < 8; k++) {
                        int64_t want = 0;
                        for (int i = 0; i < 256; i++)
                            if ((i & 31) >> 2 == k)
                                want += lane_term(ty, w + r * rb + b * bn_type_block_bytes(ty), i, q[256 * b + i]);
                        ck_assert_msg(S0[8 * b + k] == want, "%s row %d block %d lane %d: %d != %lld",
                                      bn_type_name(ty), r, b, k, S0[8 * b + k], (long long)want);
                    }
                /* both combinations give the same bits, and the float result is the
                 * dequantized weights times the dequantized activations up to rounding */
                float got = comb0(ty, w + r * rb, a.scale + t * KNB, S0, M0, KNB);
                float got1 = comb1(ty, w + r * rb, a.scale + t * KNB, S0, M0, KNB);
                ck_assert_msg(tu_f32_bits(got) == tu_f32_bits(got1), "%s row %d token %d: combine %a != %a",
                              bn_type_name(ty), r, t, (double)got, (double)got1);
                /* and the one-pass dots (basic; AVX-512 where it runs) */
                bnr_kq_dot_fn dot = bnr_kq_dot_for(ty);
                float d0 = bnr_kq_dot_basic(ty, w + r * rb, q, bs + t * KNB * 16, a.scale + t * KNB, KNB);
                float d1 = dot ? dot(w + r * rb, q, bs + t * KNB * 16, a.scale + t * KNB, KNB) : d0;
                ck_assert_msg(tu_f32_bits(got) == tu_f32_bits(d0) && tu_f32_bits(got) == tu_f32_bits(d1),
                              "%s row %d token %d: dot %a / %a != %a", bn_type_name(ty), r, t, (double)d0,
                              (double)d1, (double)got);
                double want = 0, mag = 0;
                for (int i = 0; i < n; i++) {
                    double xv = (double)a.scale[t * KNB + i / 256] * q[i];
                    want += (double)wf[i] * xv;
                    mag += fabs((double)wf[i] * xv);
                }
                ck_assert_msg(fabs(got - want) <= 1e-5 * mag + 1e-30, "%s row %d token %d: %g != %g",
                              bn_type_name(ty), r, t, (double)got, want);
            }
        }
        free(w);
        free(wf);
    }
    free(x);
    bn_act_free(&a);
}
END_TEST

/* The model-level path on Q6_K/Q4_K-headed models (tied, and untied for Q4_K):
 * logits do not depend on batching or on the ternary kernel (model.h contract),
 * and are finite. */
static float *eval_tokens(bn_model *m, const int32_t *ids, int n, int one_by_one)
{
    bn_ctx_params p;
    bn_ctx_params_default(&p);
    p.n_ctx = 16;
    bn_ctx *c = NULL;
    bn_error e;
    ck_assert_int_eq(bn_ctx_new(m, &p, &c, &e), BN_OK);
    int nv = (int)bn_model_hparams(m)->n_vocab;
    float *y = malloc((size_t)n * nv * sizeof *y);
    if (one_by_one)
        for (int i = 0; i < n; i++)
            ck_assert_int_eq(bn_ctx_eval(c, 0, ids + i, 1, i, BN_LOGITS_ALL, y + (size_t)i * nv, &e), BN_OK);
    else
        ck_assert_int_eq(bn_ctx_eval(c, 0, ids, n, 0, BN_LOGITS_ALL, y, &e), BN_OK);
    bn_ctx_free(c);
    return y;
}

START_TEST(test_kq_model_invariant)
{
    static const char *types[] = {"q6_k", "q4_k"};
    int32_t ids[9] = {1, 17, 299, 5, 42, 42, 0, 250, 3};
    for (int ti = 0; ti < 2; ti++) {
        char args[160], name[32];
        snprintf(args, sizeof args, "--embd 256 --ff 512 --vocab 300 --layers 2 --embd-type %s%s",
                 types[ti], ti ? " --untied" : "");
        snprintf(name, sizeof name, "kq-%s.gguf", types[ti]);
        bn_model *m = tu_synth_load(name, args);
        bn_error e;
        float *a = eval_tokens(m, ids, 9, 0), *b = eval_tokens(m, ids, 9, 1);
        ck_assert_int_eq(bn_model_set_kernel(m, "basic", &e), BN_OK);
        float *c = eval_tokens(m, ids, 9, 0);
        for (int i = 0; i < 9 * 300; i++) {
            ck_assert_msg(tu_f32_bits(a[i]) == tu_f32_bits(b[i]), "%s: batched != one by one at %d",
                          types[ti], i);
            ck_assert_msg(tu_f32_bits(a[i]) == tu_f32_bits(c[i]), "%s: kernel changed logit %d",
                          types[ti], i);
            ck_assert(isfinite(a[i]));
        }
        bn_model_free(m);
        free(a);
        free(b);
        free(c);
    }
}
END_TEST

/* ---- the head against bitnet.cpp's own numbers ------------------------------------ */

/* fixtures/kquant/head-<type>.f32 (scripts/make_kquant_golden.sh,
 * scripts/kquant_head_ref.cpp): bitnet.cpp's head input ("result_norm") and
 * logits for HEAD_TOK positions of the bn-synth model HEAD_ARGS, whose head
 * has HEAD_NB blocks per row. Every logit must be the same float: every sums
 * function with either combination, and the threaded product. */
#define HEAD_ARGS "--embd 1536 --ff 1536 --layers 1 --heads 12 --heads-kv 4 --vocab 1000 -s 7"
#define HEAD_TOK 4
#define HEAD_NE 1536
#define HEAD_NV 1000
#define HEAD_NB (HEAD_NE / 256)

static void check_head_reference(const char *type)
{
    char args[256], name[64], fx[64];
    snprintf(args, sizeof args, HEAD_ARGS " --embd-type %s", type);
    snprintf(name, sizeof name, "kq-head-%s.gguf", type);
    snprintf(fx, sizeof fx, "fixtures/kquant/head-%s.f32", type);
    size_t n;
    float *ref = (float *)tu_read(tu_root(fx), &n);
    ck_assert_msg(ref != NULL, "cannot read %s", fx);
    ck_assert_uint_eq(n, (size_t)HEAD_TOK * (HEAD_NE + HEAD_NV) * sizeof(float));
    const float *in = ref, *want = ref + HEAD_TOK * HEAD_NE;
    bn_model *m = tu_synth_load(name, args);
    const bn_weight *w = &m->output;
    ck_assert_int_eq(w->n_in, HEAD_NE);
    ck_assert_int_eq(w->n_out, HEAD_NV);
    bn_error e;
    bn_act a;
    ck_assert_int_eq(bn_act_init(&a, BN_ACT_Q8K, HEAD_TOK, HEAD_NE, &e), BN_OK);
    ck_assert_int_eq(bn_act_quantize(&a, in, HEAD_TOK, &e), BN_OK);
    float *y = malloc((size_t)HEAD_TOK * HEAD_NV * sizeof *y);
    ck_assert_int_eq(bnr_kq_matmul(m, w, &a, y, &e), BN_OK);
    int16_t bs[HEAD_NE / 16];
    int32_t S[HEAD_NB * 8], M[HEAD_NB * 4];
    static const char *isas[] = {"basic", "avx2", "avx512"};
    for (int t = 0; t < HEAD_TOK; t++) {
        bnr_kq_bsum16(a.q + (size_t)t * HEAD_NE, HEAD_NE, bs);
        for (int r = 0; r < HEAD_NV; r++) {
            uint32_t wb = tu_f32_bits(want[t * HEAD_NV + r]);
            ck_assert_msg(tu_f32_bits(y[t * HEAD_NV + r]) == wb, "%s token %d row %d: %a, bitnet.cpp %a",
                          type, t, r, (double)y[t * HEAD_NV + r], (double)want[t * HEAD_NV + r]);
            const uint8_t *row = w->data + (size_t)r * w->row_bytes;
            const int8_t *qt = a.q + (size_t)t * HEAD_NE;
            float v0 = bnr_kq_dot_basic(w->type, row, qt, bs, a.scale + t * HEAD_NB, HEAD_NB);
            bnr_kq_dot_fn dot = bnr_kq_dot_for(w->type);
            float v1 = dot ? dot(row, qt, bs, a.scale + t * HEAD_NB, HEAD_NB) : v0;
            ck_assert_msg(tu_f32_bits(v0) == wb && tu_f32_bits(v1) == wb, "%s dot token %d row %d: %a / %a, bitnet.cpp %a",
                          type, t, r, (double)v0, (double)v1, (double)want[t * HEAD_NV + r]);
            for (int k = 0; k < 3; k++) {
                bnr_kq_sums_fn sums = bnr_kq_sums_for(w->type, isas[k]);
                if (!sums)
                    continue;
                sums(row, a.q + (size_t)t * HEAD_NE, bs, HEAD_NB, S, M);
                for (int c = 0; c < 2; c++) {
                    float v = bnr_kq_combine_for(c == 0)(w->type, row, a.scale + t * HEAD_NB, S, M, HEAD_NB);
                    ck_assert_msg(tu_f32_bits(v) == wb, "%s %s/%s token %d row %d: %a, bitnet.cpp %a", type,
                                  isas[k], c ? "simd" : "fmaf", t, r, (double)v, (double)want[t * HEAD_NV + r]);
                }
            }
        }
    }
    free(y);
    bn_act_free(&a);
    bn_model_free(m);
    free(ref);
}

START_TEST(test_kq_head_q6k_reference) { check_head_reference("q6_k"); }
END_TEST

START_TEST(test_kq_head_q4k_reference) { check_head_reference("q4_k"); }
END_TEST

Suite *kquant_suite(void)
{
    Suite *s = suite_create("kquant");
    TCase *pk = tcase_create("packers");
    tcase_add_test(pk, test_q6k_golden);
    tcase_add_test(pk, test_q4k_golden);
    tcase_add_test(pk, test_q6k_golden_upstream);
    tcase_add_test(pk, test_q4k_golden_upstream);
    tcase_add_test(pk, test_kquant_rejects);
    tcase_add_test(pk, test_kquant_dequant);
    suite_add_tcase(s, pk);
    TCase *rt = tcase_create("runtime");
    tcase_add_test(rt, test_kq_sums_equal);
    tcase_add_test(rt, test_kq_model_invariant);
    tcase_add_test(rt, test_kq_head_q6k_reference);
    tcase_add_test(rt, test_kq_head_q4k_reference);
    tcase_set_timeout(rt, 60);
    suite_add_tcase(s, rt);
    return s;
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return tu_run_suite(kquant_suite());
}
