/* test_quant.c - ternarization methods (absmean, absmax, mse) on hand-computed
 * examples and against the PyTorch / NumPy reference of fixtures/quant
 * (scripts/quant_reference.py), threads, already-ternary input, flags. */
#include <check.h>
#include <cJSON.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/quant.h"
#include "quant/quant_internal.h"
#include "testutil.h"

static int64_t ulp_diff(float a, float b)
{
    int32_t x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    return llabs((long long)x - (long long)y);
}

static void *read_fixture(const char *rel, size_t *n)
{
    void *p = tu_read(tu_root(rel), n);
    ck_assert_msg(p != NULL, "cannot read %s", tu_root(rel));
    return p;
}

/* ---- methods on hand-computed examples ---------------------------------------------- */

static void check_codes(const int8_t *got, const int8_t *want, int n)
{
    for (int i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "code %d: got %d want %d", i, got[i], want[i]);
}

START_TEST(test_absmean_hand)
{
    /* mean|W| = (0.4+0.1+0.05+0.3+0.9+0+0.6+0.25)/8 = 2.6/8 = 0.325.
     * W/s = 1.23, -0.31, 0.15, -0.92, 2.77, 0, -1.85, 0.77
     *  ->    1,    0,    0,    -1,   1(clamped), 0, -1, 1 */
    const float w[8] = {0.4f, -0.1f, 0.05f, -0.3f, 0.9f, 0.0f, -0.6f, 0.25f};
    const int8_t want[8] = {1, 0, 0, -1, 1, 0, -1, 1};
    int8_t c[8];
    bn_ternary_result r;
    bn_error e;
    ck_assert_int_eq(bn_ternarize("t", w, 8, BN_QM_ABSMEAN, c, &r, &e), BN_OK);
    check_codes(c, want, 8);
    ck_assert_int_le(ulp_diff(r.scale, 0.325f), 1);
    ck_assert_uint_eq(r.flags, 0);

    /* Round half to even, as torch.round: mean = (2+1+0.5+0.5)/4 = 1, so rs = 1 and
     * 0.5 -> 0 (half away from zero would give 1), 2 -> 2 -> clamped to 1. */
    const float w2[4] = {2.0f, -1.0f, 0.5f, -0.5f};
    const int8_t want2[4] = {1, -1, 0, 0};
    ck_assert_int_eq(bn_ternarize("t", w2, 4, BN_QM_ABSMEAN, c, &r, &e), BN_OK);
    check_codes(c, want2, 4);
    ck_assert_float_eq(r.scale, 1.0f);
}
END_TEST

START_TEST(test_absmax_hand)
{
    /* max|W| = 0.8, threshold 0.4: |W| > 0.4 for 0.8, 0.5, -0.45, -0.8, 0.41
     * (0.39 and 0.1 and 0.2 drop); scale = (0.8+0.5+0.45+0.8+0.41)/5 = 2.96/5 = 0.592. */
    const float w[8] = {0.8f, -0.2f, 0.5f, -0.45f, 0.1f, -0.8f, 0.39f, 0.41f};
    const int8_t want[8] = {1, 0, 1, -1, 0, -1, 0, 1};
    int8_t c[8];
    bn_ternary_result r;
    bn_error e;
    ck_assert_int_eq(bn_ternarize("t", w, 8, BN_QM_ABSMAX, c, &r, &e), BN_OK);
    check_codes(c, want, 8);
    ck_assert_int_le(ulp_diff(r.scale, 0.592f), 1);
    ck_assert_float_eq(r.threshold, 0.4f);
}
END_TEST

START_TEST(test_mse_hand)
{
    /* Magnitudes 3, 2, 1, 0: keeping the top k gives f(k) = (Σ)²/k = 9, 12.5, 12.
     * Best k = 2: s = 2.5, Δ = 1 (largest dropped), error = 0.25+0.25+1 = 1.5. */
    const float w[4] = {3.0f, -2.0f, 1.0f, 0.0f};
    const int8_t want[4] = {1, -1, 0, 0};
    int8_t c[4];
    bn_ternary_result r;
    bn_error e;
    ck_assert_int_eq(bn_ternarize("t", w, 4, BN_QM_MSE, c, &r, &e), BN_OK);
    check_codes(c, want, 4);
    ck_assert_float_eq(r.scale, 2.5f);
    ck_assert_float_eq(r.threshold, 1.0f);
    /* Ties cannot be split: magnitudes 1, 1, 0.2, 0.1: k = 1 is not allowed;
     * f(2) = 2, f(3) = 2.2²/3 = 1.61, f(4) = 2.3²/4 = 1.32 -> k = 2, s = 1. */
    const float w2[4] = {1.0f, 1.0f, 0.2f, -0.1f};
    const int8_t want2[4] = {1, 1, 0, 0};
    ck_assert_int_eq(bn_ternarize("t", w2, 4, BN_QM_MSE, c, &r, &e), BN_OK);
    check_codes(c, want2, 4);
    ck_assert_float_eq(r.scale, 1.0f);
    bn_quant_stats st;
    int64_t ne[1] = {4};
    ck_assert_int_eq(bn_quant_stats_compute(&st, "t", 1, ne, w2, c, &r, BN_QM_MSE, &e), BN_OK);
    /* error = 0.2² + 0.1² = 0.05 (in float: the inputs are float) */
    ck_assert_double_eq_tol(st.sum_err2, (double)0.2f * 0.2f + (double)0.1f * 0.1f, 1e-15);
}
END_TEST

/* ---- methods and statistics vs the PyTorch / NumPy reference -------------------------- */

static void rel_eq(double got, double want, double tol, const char *what, const char *ctx)
{
    double d = want == 0 ? fabs(got) : fabs(got - want) / fabs(want);
    ck_assert_msg(d < tol, "%s %s: got %.17g want %.17g (rel %.3g)", ctx, what, got, want, d);
}

START_TEST(test_vs_reference)
{
    size_t n;
    char *txt = read_fixture("fixtures/quant/reference.json", &n);
    cJSON *root = cJSON_Parse(txt);
    ck_assert_ptr_nonnull(root);
    cJSON *c;
    int checked = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases"))
    {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        cJSON *ne = cJSON_GetObjectItem(c, "ne");
        int64_t shape[2] = {(int64_t)cJSON_GetArrayItem(ne, 0)->valuedouble,
                            (int64_t)cJSON_GetArrayItem(ne, 1)->valuedouble};
        char path[256];
        snprintf(path, sizeof path, "fixtures/quant/%s.f32", name);
        size_t wn;
        float *w = read_fixture(path, &wn);
        ck_assert_uint_eq(wn, (size_t)(shape[0] * shape[1]) * 4);
        cJSON *m;
        cJSON_ArrayForEach(m, cJSON_GetObjectItem(c, "methods"))
        {
            bn_quant_method meth;
            ck_assert_int_eq(bn_quant_method_from_name(m->string, &meth), 0);
            snprintf(path, sizeof path, "fixtures/quant/%s.%s.i8", name, m->string);
            size_t cn;
            int8_t *want = read_fixture(path, &cn);
            ck_assert_uint_eq(cn, wn / 4);
            int8_t *got = malloc(cn);
            bn_ternary_result r;
            bn_quant_stats st;
            bn_error e;
            char ctx[128];
            snprintf(ctx, sizeof ctx, "%s/%s", name, m->string);
            ck_assert_int_eq(bn_quant_tensor(name, w, 2, shape, meth, got, &r, &st, &e), BN_OK);
            for (size_t i = 0; i < cn; i++)
                ck_assert_msg(got[i] == want[i], "%s: code %zu got %d want %d", ctx, i, got[i], want[i]);
            uint32_t bits = (uint32_t)cJSON_GetObjectItem(m, "scale_bits")->valuedouble;
            float ws;
            memcpy(&ws, &bits, 4);
            ck_assert_msg(ulp_diff(r.scale, ws) <= 1, "%s: scale %.9g vs %.9g", ctx, (double)r.scale,
                          (double)ws);
            ck_assert_uint_eq(st.n_neg, (uint64_t)cJSON_GetObjectItem(m, "n_neg")->valuedouble);
            ck_assert_uint_eq(st.n_zero, (uint64_t)cJSON_GetObjectItem(m, "n_zero")->valuedouble);
            ck_assert_uint_eq(st.n_pos, (uint64_t)cJSON_GetObjectItem(m, "n_pos")->valuedouble);
            /* the reference uses its own scale: recompute our stats with it when
             * the two differ by an ulp so the comparison is like for like */
            if (r.scale != ws) {
                r.scale = ws;
                ck_assert_int_eq(bn_quant_stats_compute(&st, name, 2, shape, w, got, &r, meth, &e), BN_OK);
            }
            rel_eq(st.mse, cJSON_GetObjectItem(m, "mse")->valuedouble, 1e-6, "mse", ctx);
            rel_eq(st.rmse, cJSON_GetObjectItem(m, "rmse")->valuedouble, 1e-6, "rmse", ctx);
            rel_eq(st.nmse, cJSON_GetObjectItem(m, "nmse")->valuedouble, 1e-6, "nmse", ctx);
            rel_eq(st.cosine, cJSON_GetObjectItem(m, "cosine")->valuedouble, 1e-6, "cosine", ctx);
            rel_eq(st.max_abs_err, cJSON_GetObjectItem(m, "max_abs_err")->valuedouble, 1e-6, "max_abs_err", ctx);
            cJSON *snr = cJSON_GetObjectItem(m, "snr_db");
            if (cJSON_IsNumber(snr))
                rel_eq(st.snr_db, snr->valuedouble, 1e-6, "snr_db", ctx);
            /* the absmean baseline every method reports */
            double base = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "methods"), "absmean"),
                                              "nmse")->valuedouble;
            rel_eq(st.nmse_absmean, base, 1e-6, "nmse_absmean", ctx);
            if (strcmp(name, "tiny_8x128") == 0 && meth == BN_QM_ABSMEAN)
                ck_assert(st.flags & BN_QF_SCALE_CLAMPED);
            else
                ck_assert(!(st.flags & BN_QF_SCALE_CLAMPED));
            checked++;
            free(got);
            free(want);
        }
        free(w);
    }
    ck_assert_int_eq(checked, 9);
    cJSON_Delete(root);
    free(txt);
}
END_TEST

/* The generator of scripts/quant_reference.py hashed(): exact float32 values. */
static void hashed_weights(float *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t h = (uint32_t)((uint64_t)i * 2654435761u);
        w[i] = (float)((double)((int64_t)(h >> 16) - 32768) * 0x1p-20);
    }
}

/* 4M elements against torch: codes (by count and an index-weighted checksum) and
 * the scale, at a size where float32 and double means could part ways. */
START_TEST(test_absmean_large_vs_torch)
{
    size_t len;
    char *txt = read_fixture("fixtures/quant/reference.json", &len);
    cJSON *root = cJSON_Parse(txt);
    cJSON *ref = cJSON_GetObjectItem(root, "hashed_2048x2048");
    ck_assert_ptr_nonnull(ref);
    const size_t n = 2048 * 2048;
    float *w = malloc(n * 4);
    int8_t *c = malloc(n);
    hashed_weights(w, n);
    bn_ternary_result r;
    bn_error e;
    ck_assert_int_eq(bn_ternarize("hashed", w, n, BN_QM_ABSMEAN, c, &r, &e), BN_OK);
    uint32_t bits = (uint32_t)cJSON_GetObjectItem(ref, "scale_bits")->valuedouble;
    float want;
    memcpy(&want, &bits, 4);
    ck_assert_int_le(ulp_diff(r.scale, want), 1);
    int64_t sum = 0, neg = 0, zero = 0, pos = 0;
    for (size_t i = 0; i < n; i++) {
        sum += (int64_t)c[i] * (int64_t)(i % 1000003 + 1);
        neg += c[i] < 0;
        zero += c[i] == 0;
        pos += c[i] > 0;
    }
    ck_assert_int_eq(neg, (int64_t)cJSON_GetObjectItem(ref, "n_neg")->valuedouble);
    ck_assert_int_eq(zero, (int64_t)cJSON_GetObjectItem(ref, "n_zero")->valuedouble);
    ck_assert_int_eq(pos, (int64_t)cJSON_GetObjectItem(ref, "n_pos")->valuedouble);
    ck_assert_int_eq(sum, (int64_t)cJSON_GetObjectItem(ref, "checksum")->valuedouble);
    free(w);
    free(c);
    cJSON_Delete(root);
    free(txt);
}
END_TEST

static double nmse_of(const float *w, uint64_t n, bn_quant_method m)
{
    int8_t *c = malloc(n);
    bn_ternary_result r;
    bn_quant_stats st;
    bn_error e;
    int64_t ne[1] = {(int64_t)n};
    ck_assert_int_eq(bn_quant_tensor("g", w, 1, ne, m, c, &r, &st, &e), BN_OK);
    free(c);
    return st.nmse;
}

/* On Gaussian weights the exact MSE fit beats absmean, which beats absmax; the
 * histogram search (large tensors) agrees with the exhaustive sort. */
START_TEST(test_mse_gaussian)
{
    const uint64_t n = 300000;
    float *w = malloc(n * 4);
    for (uint64_t i = 0; i < n; i++)
        w[i] = 0.02f * tu_gauss();
    double a = nmse_of(w, n, BN_QM_ABSMEAN), b = nmse_of(w, n, BN_QM_ABSMAX), m = nmse_of(w, n, BN_QM_MSE);
    ck_assert_msg(m < a && a < b, "nmse mse %g absmean %g absmax %g", m, a, b);
    /* For a unit Gaussian, the optimal threshold keeps ~|x| > 0.61σ: NMSE ~ 0.19. */
    ck_assert(m > 0.17 && m < 0.21);

    uint32_t u1, u2;
    double A1, A2;
    uint64_t k1, k2;
    bn_error e;
    ck_assert_int_eq(bnq_mse_search(w, n, 0, &u1, &A1, &k1, &e), BN_OK);
    ck_assert_int_eq(bnq_mse_search(w, n, 1, &u2, &A2, &k2, &e), BN_OK);
    double f1 = A1 * A1 / (double)k1, f2 = A2 * A2 / (double)k2;
    ck_assert_msg(fabs(f1 - f2) <= 1e-12 * f1, "sort f %.17g vs buckets f %.17g (k %llu vs %llu)", f1, f2,
                  (unsigned long long)k1, (unsigned long long)k2);
    ck_assert(llabs((long long)k1 - (long long)k2) <= 2);
    free(w);
}
END_TEST

/* Threads change nothing: codes, scale and every statistic are bit-identical. */
START_TEST(test_threads_identical)
{
    const uint64_t n = 1000 * 333; /* not a multiple of the chunk */
    float *w = malloc(n * 4);
    int8_t *c1 = malloc(n), *c2 = malloc(n);
    for (uint64_t i = 0; i < n; i++)
        w[i] = 0.01f * tu_gauss();
    int64_t ne[2] = {1000, 333};
    for (int m = 0; m < 3; m++)
        for (int th = 2; th <= 5; th += 3) {
            bn_ternary_result r1, r2;
            bn_quant_stats s1, s2;
            bn_error e;
            ck_assert_int_eq(bn_quant_tensor_mt("x", w, 2, ne, (bn_quant_method)m, c1, &r1, &s1, 1, &e), BN_OK);
            ck_assert_int_eq(bn_quant_tensor_mt("x", w, 2, ne, (bn_quant_method)m, c2, &r2, &s2, th, &e), BN_OK);
            ck_assert_int_eq(memcmp(c1, c2, n), 0);
            ck_assert_int_eq(memcmp(&r1, &r2, sizeof r1), 0);
            ck_assert_int_eq(memcmp(&s1, &s2, sizeof s1), 0);
        }
    w[n - 3] = INFINITY; /* the NaN/Inf check is chunked too: still found, same index */
    bn_ternary_result r;
    bn_error e;
    ck_assert_int_eq(bn_ternarize_mt("x", w, n, BN_QM_ABSMEAN, c1, &r, 4, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "element 332997 is +Inf"));
    free(w);
    free(c1);
    free(c2);
}
END_TEST

/* Latent weights saved after quantization (s·T) are kept exactly by every method. */
START_TEST(test_already_ternary)
{
    const uint64_t n = 4096;
    float *w = malloc(n * 4);
    int8_t *t = malloc(n), *c = malloc(n);
    const float s = 0.0371f;
    for (uint64_t i = 0; i < n; i++) {
        t[i] = (int8_t)(tu_rand32() % 3) - 1;
        w[i] = s * (float)t[i];
    }
    int64_t ne[2] = {256, 16};
    for (int m = 0; m < 3; m++) {
        bn_ternary_result r;
        bn_quant_stats st;
        bn_error e;
        ck_assert_int_eq(bn_quant_tensor("blk.0.attn_q.weight", w, 2, ne, (bn_quant_method)m, c, &r, &st, &e),
                         BN_OK);
        ck_assert(st.flags & BN_QF_ALREADY_TERNARY);
        ck_assert_int_eq(memcmp(c, t, n), 0);
        ck_assert_float_eq(r.scale, s);
        ck_assert_double_eq(st.nmse, 0.0);
        ck_assert_double_eq(st.max_abs_err, 0.0);
        ck_assert_double_eq_tol(st.cosine, 1.0, 1e-12);
        ck_assert(isinf(st.snr_db));
    }
    /* one value off by an ulp: no longer ternary */
    w[17] = nextafterf(w[17] == 0 ? s : w[17], 1.0f);
    bn_ternary_result r;
    bn_error e;
    ck_assert_int_eq(bn_ternarize("x", w, n, BN_QM_ABSMEAN, c, &r, &e), BN_OK);
    ck_assert(!(r.flags & BN_QF_ALREADY_TERNARY));
    free(w);
    free(t);
    free(c);
}
END_TEST

START_TEST(test_nan_inf_and_flags)
{
    float w[256];
    for (int i = 0; i < 256; i++)
        w[i] = (i % 2 ? 1.0f : -1.0f) * (1.0f + 0.01f * (float)(i % 7));
    int8_t c[256];
    bn_ternary_result r;
    bn_quant_stats st;
    bn_error e;
    int64_t ne[1] = {256};
    ck_assert_int_eq(bn_quant_tensor("blk.3.ffn_up.weight", w, 1, ne, BN_QM_ABSMEAN, c, &r, &st, &e), BN_OK);
    ck_assert(st.flags & BN_QF_SIGN_LIKE);
    ck_assert(!(st.flags & BN_QF_ALREADY_TERNARY));

    w[100] = NAN;
    ck_assert_int_eq(bn_quant_tensor("blk.3.ffn_up.weight", w, 1, ne, BN_QM_MSE, c, &r, &st, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "blk.3.ffn_up.weight"));
    ck_assert_ptr_nonnull(strstr(e.msg, "NaN"));
    ck_assert_ptr_nonnull(strstr(e.msg, "100"));
    ck_assert(st.flags & BN_QF_NAN_INF);
    ck_assert_str_eq(st.name, "blk.3.ffn_up.weight");
    ck_assert_int_eq(st.layer, 3);
    w[100] = -INFINITY;
    ck_assert_int_eq(bn_ternarize("x", w, 256, BN_QM_ABSMAX, c, &r, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "-Inf"));
    ck_assert_int_eq(bn_ternarize("x", w, 0, BN_QM_ABSMAX, c, &r, &e), BN_EINVAL);

    uint32_t f;
    char buf[96];
    ck_assert_int_eq(bn_quant_flags_parse("sign-like,nan-inf", &f), 0);
    ck_assert_uint_eq(f, BN_QF_SIGN_LIKE | BN_QF_NAN_INF);
    ck_assert_str_eq(bn_quant_flags_str(f, buf, sizeof buf), "sign-like,nan-inf");
    ck_assert_str_eq(bn_quant_flags_str(0, buf, sizeof buf), "-");
    ck_assert_int_eq(bn_quant_flags_parse("sign-like,bogus", &f), -1);
    bn_quant_method m;
    ck_assert_int_eq(bn_quant_method_from_name("mse", &m), 0);
    ck_assert_int_eq(m, BN_QM_MSE);
    ck_assert_int_eq(bn_quant_method_from_name("MSE", &m), -1);
}
END_TEST

/* Extreme but finite inputs: no overflow in the statistics, every element in the
 * histogram (UBSan checks the bin arithmetic). */
START_TEST(test_extreme_values)
{
    float w[512];
    int8_t c[512];
    for (int i = 0; i < 512; i++)
        w[i] = (i % 2 ? 1e-38f : -3e-39f) * (float)(1 + i % 5);
    w[7] = 3.0e38f;
    w[8] = -3.0e38f;
    int64_t ne[1] = {512};
    for (int m = 0; m < 3; m++) {
        bn_ternary_result r;
        bn_quant_stats st;
        bn_error e;
        ck_assert_int_eq(bn_quant_tensor("x", w, 1, ne, (bn_quant_method)m, c, &r, &st, &e), BN_OK);
        ck_assert(isfinite(st.sum_w2) && isfinite(st.nmse) && isfinite(st.cosine));
        uint64_t total = 0;
        for (int b = 0; b < BN_QSTAT_BINS; b++)
            total += st.hist[b];
        ck_assert_uint_eq(total, 512);
        ck_assert(isfinite(r.scale) && r.scale > 0);
    }
}
END_TEST

START_TEST(test_kind_names)
{
    int l;
    ck_assert_int_eq(bn_quant_kind_of("blk.12.attn_output.weight", &l), BN_ROLE_ATTN_OUTPUT);
    ck_assert_int_eq(l, 12);
    ck_assert_int_eq(bn_quant_kind_of("blk.0.ffn_down.weight", &l), BN_ROLE_FFN_DOWN);
    ck_assert_int_eq(bn_quant_kind_of("model.layers.7.self_attn.k_proj.weight", &l), BN_ROLE_ATTN_K);
    ck_assert_int_eq(l, 7);
    ck_assert_int_eq(bn_quant_kind_of("model.layers.30.mlp.gate_proj.weight", &l), BN_ROLE_FFN_GATE);
    ck_assert_int_eq(l, 30);
    ck_assert_int_eq(bn_quant_kind_of("blk.3.attn_norm.weight", &l), BN_ROLE_OTHER);
    ck_assert_int_eq(l, 3);
    ck_assert_int_eq(bn_quant_kind_of("token_embd.weight", &l), BN_ROLE_OTHER);
    ck_assert_int_eq(l, -1);
    ck_assert_int_eq(bn_quant_kind_of("blk.x.attn_q.weight", &l), BN_ROLE_OTHER);
    ck_assert_int_eq(bn_quant_kind_of("blk.1.attn_q.weight_scale", &l), BN_ROLE_OTHER);
    ck_assert_int_eq(bn_quant_kind_of("model.layers.2.self_attn.q_proj.weight_scale", &l), BN_ROLE_OTHER);
    ck_assert_str_eq(bn_role_name(BN_ROLE_FFN_UP), "ffn_up");
}
END_TEST

/* ---- SIMD passes against their scalar references (quant_avx2.c) ------------------ */

static int same_scan(const bnq_scan_part *a, const bnq_scan_part *b)
{
    /* mag is only meaningful when not mixed */
    return memcmp(&a->abs_sum, &b->abs_sum, sizeof a->abs_sum) == 0 && tu_f32_bits(a->abs_max) == tu_f32_bits(b->abs_max) &&
           a->mixed == b->mixed && a->bad == b->bad && (a->mixed || tu_f32_bits(a->mag) == tu_f32_bits(b->mag));
}

START_TEST(test_simd_scan_matches_scalar)
{
    if (!bnq_have_avx2())
        return; /* nothing to compare: the scalar code is the only path */
    enum { N = 65536 };
    float *w = malloc(N * sizeof *w);
    const uint64_t lens[] = {N, N - 1, 1000, 13, 8, 7, 1};
    int taken = 0;
    for (int fam = 0; fam < 6; fam++) {
        for (uint64_t i = 0; i < N; i++) {
            float g = 0.02f * tu_gauss();
            switch (fam) {
            case 0: w[i] = bn_f16_to_f32(bn_f32_to_f16(g)); break;           /* an fp16 checkpoint */
            case 1: w[i] = bn_bf16_to_f32(bn_f32_to_bf16(g)); break;         /* a bf16 one */
            case 2: w[i] = (float)((int)(tu_rand32() % 3) - 1) * 0.37f; break; /* already ternary */
            case 3: w[i] = 0.0f; break;
            case 4: w[i] = i % 5 ? 0.0f : (i % 2 ? 0.25f : -0.25f); break;   /* one magnitude */
            default: w[i] = bn_f16_to_f32((uint16_t)(tu_rand32() & 0x83ff)); break; /* fp16 subnormals */
            }
        }
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            bnq_scan_part a, b;
            bnq_scan_chunk_scalar(w, lens[l], &a);
            if (bnq_scan_chunk_avx2(w, lens[l], &b) == 0) {
                taken++;
                ck_assert_msg(same_scan(&a, &b), "family %d, n %llu: SIMD scan differs", fam,
                              (unsigned long long)lens[l]);
            } else {
                ck_assert_msg(fam > 5, "family %d, n %llu: SIMD scan declined an fp16/bf16 chunk", fam,
                              (unsigned long long)lens[l]);
            }
        }
    }
    ck_assert_int_eq(taken, 6 * 7);
    /* a sum that rounds in double must be declined, not returned in another order */
    for (uint64_t i = 0; i < N; i++)
        w[i] = i % 2 ? 1.0f : ldexpf(1.0f + ldexpf(1.0f, -23), -60);
    bnq_scan_part a, b;
    bnq_scan_chunk_scalar(w, N, &a);
    ck_assert_int_eq(bnq_scan_chunk_avx2(w, N, &b), -1);
    /* NaN or Inf anywhere (tail included): declined, the scalar scan names the index */
    for (uint64_t i = 0; i < N; i++)
        w[i] = 0.01f;
    const uint64_t at[] = {0, 7, 8, 999, 1000 - 1};
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        w[at[k]] = k % 2 ? INFINITY : NAN;
        ck_assert_int_eq(bnq_scan_chunk_avx2(w, 1000, &b), -1);
        bnq_scan_chunk_scalar(w, 1000, &a);
        ck_assert_int_eq(a.bad, (int64_t)at[k]);
        w[at[k]] = 0.01f;
    }
    free(w);
}
END_TEST

START_TEST(test_simd_codes_match_scalar)
{
    if (!bnq_have_avx2())
        return;
    enum { N = 4099 };
    float *w = malloc(N * sizeof *w);
    int8_t *c = malloc(N);
    const float rs = 64.0f; /* a power of two: the ties below are exact */
    for (int i = 0; i < N; i++)
        w[i] = tu_gauss() / 64.0f;
    /* ties of w * rs at +-0.5 and +-1.5 (round half to even), exact zeros and -0 */
    const float ties[] = {0.5f, -0.5f, 1.5f, -1.5f, 2.5f, 0.0f, -0.0f, 1e-30f};
    for (int k = 0; k < 8; k++)
        w[17 * k + 3] = ties[k] / rs;
    for (int k = 0; k < 8; k++)
        ck_assert(w[17 * k + 3] * rs == ties[k] || k == 7);
    uint64_t nz;
    float zmax;
    ck_assert_int_eq(bnq_absmean_codes_avx2(w, N, rs, c, &nz, &zmax), 0);
    uint64_t want_nz = 0;
    float want_zmax = 0.0f;
    for (int i = 0; i < N; i++) {
        float q = rintf(w[i] * rs);
        int want = q > 1.0f ? 1 : q < -1.0f ? -1 : (int)q;
        ck_assert_msg(c[i] == want, "element %d: code %d, want %d", i, c[i], want);
        if (want)
            want_nz++;
        else
            want_zmax = fmaxf(want_zmax, fabsf(w[i]));
    }
    ck_assert_uint_eq(nz, want_nz);
    ck_assert_uint_eq(tu_f32_bits(zmax), tu_f32_bits(want_zmax));
    ck_assert_int_eq(c[3], 0);      /* 0.5 -> 0 */
    ck_assert_int_eq(c[20], 0);     /* -0.5 -> 0 */
    ck_assert_int_eq(c[37], 1);     /* 1.5 -> 2 -> clamped 1 */
    ck_assert_int_eq(c[54], -1);
    free(w);
    free(c);
}
END_TEST

/* TQ2_0 from FORMATS.md §2.2 directly: element k = 128j + 32l + m in qs[32j + m],
 * bits 2l..2l+1, code + 1; d (fp16) last, 0 for an all-zero block. */
static void tq2_row_reference(const int8_t *c, int64_t ne0, uint16_t dh, uint8_t *o)
{
    for (int64_t b = 0; b < ne0 / 256; b++) {
        uint8_t *ob = o + 66 * b;
        memset(ob, 0, 66);
        int any = 0;
        for (int k = 0; k < 256; k++) {
            int j = k / 128, l = (k % 128) / 32, m = k % 32;
            ob[32 * j + m] |= (uint8_t)((c[256 * b + k] + 1) << (2 * l));
            any |= c[256 * b + k] != 0;
        }
        uint16_t d = any ? dh : 0;
        ob[64] = (uint8_t)(d & 0xff);
        ob[65] = (uint8_t)(d >> 8);
    }
}

START_TEST(test_simd_tq2_matches_reference)
{
    if (!bnq_have_avx2())
        return;
    enum { NE0 = 1024 };
    int8_t c[NE0];
    uint8_t got[4 * 66], want[4 * 66];
    const uint16_t dh = bn_f32_to_f16(0.0213f);
    for (int trial = 0; trial < 50; trial++) {
        for (int i = 0; i < NE0; i++)
            c[i] = (int8_t)((int)(tu_rand32() % 3) - 1);
        if (trial % 5 == 0)
            memset(c + 256, 0, 256); /* an all-zero block: d = 0 */
        ck_assert_int_eq(bnq_pack_tq2_row_avx2(c, NE0, dh, got), 0);
        tq2_row_reference(c, NE0, dh, want);
        ck_assert_mem_eq(got, want, sizeof want);
    }
    const int8_t bad[] = {2, -2, 127, -128};
    for (int k = 0; k < 4; k++) {
        c[300 + k] = bad[k];
        ck_assert_int_eq(bnq_pack_tq2_row_avx2(c, NE0, dh, got), -1);
        c[300 + k] = 0;
    }
}
END_TEST

START_TEST(test_simd_stats_match_scalar)
{
    if (!bnq_have_avx2())
        return;
    enum { N = 65536 };
    float *w = malloc(N * sizeof *w);
    int8_t *c = malloc(N);
    for (int i = 0; i < N; i++) {
        w[i] = 0.02f * tu_gauss();
        float q = rintf(w[i] * 60.0f);
        c[i] = (int8_t)(q > 1 ? 1 : q < -1 ? -1 : (int)q);
    }
    w[5] = 1e30f; /* far past the histogram's end: the last bin */
    {
        /* values on and next to every bin edge: the bins of the division formula */
        bnq_hist_edges h;
        bnq_hist_edges_init(&h, 1.0 / 60.0, 2.5);
        for (int b = 1; b < BN_QSTAT_BINS && 6 * b + 2 < N; b++)
            for (int d = -1; d <= 1; d++)
                w[6 * b + 7 + d] = tu_f32_from_bits(h.edge[b] + (uint32_t)d) * (b % 2 ? 1.0f : -1.0f);
    }
    const uint64_t lens[] = {N, N - 3, N - 5, 4097, 6, 3};
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
        bnq_stat_sums a, b;
        bnq_stat_sums_scalar(w, c, lens[l], 1.0f / 60.0f, &a);
        ck_assert_int_eq(bnq_stat_sums_avx2(w, c, lens[l], 1.0f / 60.0f, &b), 0);
        ck_assert_msg(memcmp(&a, &b, sizeof a) == 0, "n %llu: SIMD sums differ (sw2 %.17g vs %.17g, se2 %.17g vs %.17g)",
                      (unsigned long long)lens[l], a.sw2, b.sw2, a.se2, b.se2);
        uint64_t ha[BN_QSTAT_BINS] = {0}, hb[BN_QSTAT_BINS] = {0};
        bnq_hist_edges h;
        bnq_hist_edges_init(&h, 1.0 / 60.0, 2.5);
        bnq_stat_hist_scalar(w, lens[l], 1.0 / 60.0, 2.5, ha);
        ck_assert_int_eq(bnq_stat_hist_avx2(w, lens[l], &h, hb), 0);
        ck_assert_mem_eq(ha, hb, sizeof ha);
        ck_assert(lens[l] < 6 || ha[BN_QSTAT_BINS - 1] >= 1);
        /* the two interleaved (the fused statistics' pass): the same bits */
        bnq_stat_sums b2;
        uint64_t hc[BN_QSTAT_BINS] = {0};
        ck_assert_int_eq(bnq_stat_sums_hist_avx2(w, c, lens[l], 1.0f / 60.0f, &h, &b2, hc), 0);
        ck_assert_msg(memcmp(&a, &b2, sizeof a) == 0, "n %llu: interleaved sums differ", (unsigned long long)lens[l]);
        ck_assert_mem_eq(ha, hc, sizeof ha);
    }
    { /* a NaN: the interleaved pass declines, as the histogram does */
        bnq_stat_sums b2;
        uint64_t hc[BN_QSTAT_BINS] = {0};
        bnq_hist_edges h;
        bnq_hist_edges_init(&h, 1.0 / 60.0, 2.5);
        w[N - 9] = NAN;
        ck_assert_int_eq(bnq_stat_sums_hist_avx2(w, c, N, 1.0f / 60.0f, &h, &b2, hc), -1);
        w[N - 9] = INFINITY; /* in the one-by-one tail */
        ck_assert_int_eq(bnq_stat_sums_hist_avx2(w, c, N - 5, 1.0f / 60.0f, &h, &b2, hc), -1);
    }
    free(w);
    free(c);
}
END_TEST

/* bn_quant_tensor_mt's statistics, fused into the code pass, are those of the
 * separate passes (bnq_stats_compute) bit for bit, for every method and thread count. */
START_TEST(test_fused_stats_identical)
{
    enum { N = 3 * 65536 + 768 };
    float *w = malloc(N * sizeof *w);
    int8_t *c1 = malloc(N), *c2 = malloc(N);
    for (int kind = 0; kind < 2; kind++) {
        for (int i = 0; i < N; i++)
            w[i] = kind ? (float)((int)(tu_rand32() % 3) - 1) * 0.3f : 0.02f * tu_gauss();
        for (int m = BN_QM_ABSMEAN; m <= BN_QM_MSE; m++)
            for (int nt = 1; nt <= 3; nt += 2) {
                int64_t ne[2] = {768, N / 768};
                bn_ternary_result r1, r2;
                bn_quant_stats s1, s2;
                bn_error e;
                ck_assert_int_eq(bn_quant_tensor_mt("blk.0.attn_q.weight", w, 2, ne, (bn_quant_method)m, c1,
                                                    &r1, &s1, nt, &e), BN_OK);
                ck_assert_int_eq(bn_ternarize_mt("blk.0.attn_q.weight", w, N, (bn_quant_method)m, c2, &r2, nt, &e),
                                 BN_OK);
                ck_assert_int_eq(bnq_stats_compute(&s2, "blk.0.attn_q.weight", 2, ne, w, c2, &r2,
                                                   (bn_quant_method)m, nt, &e), BN_OK);
                ck_assert_mem_eq(c1, c2, N);
                ck_assert_msg(memcmp(&s1, &s2, sizeof s1) == 0, "kind %d, method %d, %d threads: stats differ "
                              "(nmse %.17g vs %.17g)", kind, m, nt, s1.nmse, s2.nmse);
            }
    }
    free(w);
    free(c1);
    free(c2);
}
END_TEST

/* bn_quant_tensor_fill: the floats handed out in pieces (as bn-convert reads a
 * checkpoint) give bn_quant_tensor_mt's codes, result and statistics bit for bit,
 * for every method and thread count, on awkward values (subnormals, ±0, a
 * magnitude range that makes the SIMD scan decline) and a length that is no
 * multiple of the chunk or a vector; the first NaN/Inf gets the same message;
 * a failing source's message comes back. */
typedef struct {
    const float *w;
    uint64_t fail_at; /* the piece holding this element fails (UINT64_MAX: none) */
    atomic_int pieces;
} fill_src;

static bn_status fill_read(void *ctx, uint64_t first, uint64_t n, float *dst, bn_error *err)
{
    fill_src *f = ctx;
    if (f->fail_at >= first && f->fail_at - first < n)
        return bn_error_set(err, BN_EIO, "piece at %llu unreadable", (unsigned long long)first);
    memcpy(dst, f->w + first, n * sizeof *dst);
    atomic_fetch_add(&f->pieces, 1);
    return BN_OK;
}

START_TEST(test_fill_matches_in_memory)
{
    enum { COLS = 771, ROWS = 257, N = COLS * ROWS }; /* 198147: 3 chunks and an odd tail */
    float *w = malloc(N * sizeof *w), *got = malloc(N * sizeof *got);
    int8_t *c1 = malloc(N), *c2 = malloc(N);
    const int64_t ne[2] = {COLS, ROWS};
    for (int kind = 0; kind < 4; kind++) {
        for (int i = 0; i < N; i++) {
            float x = 0.02f * tu_gauss();
            if (kind == 1) /* subnormals, ±0, and values far apart: the scan's exactness test declines */
                x = i % 7 == 0 ? -0.0f : i % 7 == 1 ? 0.0f : i % 7 == 2 ? 1e-42f * (float)(i % 13) : i % 5 ? x : x * 1e30f;
            if (kind == 2) /* already ternary */
                x = (float)((int)(tu_rand32() % 3) - 1) * 0.25f;
            if (kind == 3) /* all zero: the scale's clamp */
                x = i & 1 ? 0.0f : -0.0f;
            w[i] = x;
        }
        for (int m = BN_QM_ABSMEAN; m <= BN_QM_MSE; m++)
            for (int nt = 1; nt <= 3; nt += 2) {
                bn_ternary_result r1, r2;
                bn_quant_stats s1, s2;
                bn_error e1, e2;
                fill_src f = {w, UINT64_MAX, 0};
                const bn_quant_source src = {fill_read, &f};
                memset(got, 0xff, N * sizeof *got);
                bn_status a = bn_quant_tensor_mt("blk.0.ffn_up.weight", w, 2, ne, (bn_quant_method)m, c1, &r1, &s1,
                                                 nt, &e1);
                bn_status b = bn_quant_tensor_fill("blk.0.ffn_up.weight", &src, got, 2, ne, (bn_quant_method)m, c2,
                                                   &r2, &s2, nt, &e2);
                ck_assert_int_eq(a, b);
                ck_assert_int_eq(a, BN_OK);
                ck_assert_int_eq(f.pieces, (int)bnq_n_chunks(N)); /* each element read once */
                ck_assert_mem_eq(got, w, N * sizeof *w);
                ck_assert_mem_eq(c1, c2, N);
                ck_assert_mem_eq(&r1, &r2, sizeof r1);
                ck_assert_msg(memcmp(&s1, &s2, sizeof s1) == 0, "kind %d, method %d, %d threads: stats differ",
                              kind, m, nt);
            }
    }
    /* NaN and Inf, the first by index wins in both */
    w[N - 5] = NAN;
    w[70000] = -INFINITY;
    for (int nt = 1; nt <= 2; nt++) {
        bn_ternary_result r1, r2;
        bn_quant_stats s1, s2;
        bn_error e1, e2;
        fill_src f = {w, UINT64_MAX, 0};
        const bn_quant_source src = {fill_read, &f};
        ck_assert_int_eq(bn_quant_tensor_mt("t", w, 2, ne, BN_QM_ABSMEAN, c1, &r1, &s1, nt, &e1), BN_EINVAL);
        ck_assert_int_eq(bn_quant_tensor_fill("t", &src, got, 2, ne, BN_QM_ABSMEAN, c2, &r2, &s2, nt, &e2),
                         BN_EINVAL);
        ck_assert_str_eq(e1.msg, e2.msg);
        ck_assert_ptr_nonnull(strstr(e2.msg, "element 70000 is -Inf"));
        ck_assert_uint_eq(r1.flags, r2.flags);
        ck_assert_uint_eq(s2.flags & BN_QF_NAN_INF, BN_QF_NAN_INF);
        /* a source failure is returned with its message */
        f.fail_at = 140000;
        ck_assert_int_eq(bn_quant_tensor_fill("t", &src, got, 2, ne, BN_QM_ABSMEAN, c2, &r2, NULL, nt, &e2), BN_EIO);
        ck_assert_ptr_nonnull(strstr(e2.msg, "piece at 131072 unreadable"));
    }
    free(w);
    free(got);
    free(c1);
    free(c2);
}
END_TEST

/* F16 packing: vcvtps2ph against bn_f32_to_f16 on random bit patterns, ties,
 * half subnormals and the overflow edge; a group with NaN/Inf is left alone. */
START_TEST(test_simd_f16_matches_scalar)
{
    if (!bnq_have_avx2())
        return;
    enum { N = 1 << 16 };
    float *x = malloc(N * sizeof *x);
    uint8_t *o = malloc(2 * N);
    for (int i = 0; i < N; i++) {
        uint32_t r = tu_rand32();
        switch (i % 4) {
        case 0: x[i] = tu_f32_from_bits((r & 0x80000000u) | (0x33000000u + r % 0x14800000u)); break; /* 2^-25..2^16 */
        case 1: x[i] = tu_f32_from_bits(((r & 0x3fffu) << 13 | 0x1000u) + 0x38000000u); break;      /* f16 ties */
        case 2: x[i] = tu_f32_from_bits(0x477fe000u + r % 0x2000u) * (r & 1 ? 1.0f : -1.0f); break;  /* near 65520 */
        default: x[i] = ldexpf((float)(r % 2048), -24 - (int)(r % 3)); break;                        /* subnormal halves */
        }
    }
    ck_assert_uint_eq(bnq_f32_to_f16_avx2(x, N, o), N);
    for (int i = 0; i < N; i++) {
        uint16_t want = bn_f32_to_f16(x[i]), got = (uint16_t)(o[2 * i] | o[2 * i + 1] << 8);
        ck_assert_msg(got == want, "0x%08x: 0x%04x, want 0x%04x", tu_f32_bits(x[i]), got, want);
    }
    x[21] = NAN;
    ck_assert_uint_eq(bnq_f32_to_f16_avx2(x, N, o), 16);
    x[21] = INFINITY;
    ck_assert_uint_eq(bnq_f32_to_f16_avx2(x, N, o), 16);
    free(x);
    free(o);
}
END_TEST

/* I2_S rows and HF offline-packed rows against FORMATS.md written out directly. */
START_TEST(test_simd_i2s_and_hf_unpack)
{
    if (!bnq_have_avx2())
        return;
    enum { NE0 = 512, R = 3, C = 72 };
    int8_t c[NE0];
    uint8_t got[NE0 / 4], want[NE0 / 4];
    for (int trial = 0; trial < 20; trial++) {
        for (int i = 0; i < NE0; i++)
            c[i] = (int8_t)((int)(tu_rand32() % 3) - 1);
        ck_assert_int_eq(bnq_pack_i2s_row_avx2(c, NE0, got), 0);
        for (int b = 0; b < NE0 / 128; b++) /* §2.1: byte[32b+g] = c[g]<<6 | c[g+32]<<4 | c[g+64]<<2 | c[g+96], codes + 1 */
            for (int g = 0; g < 32; g++)
                want[32 * b + g] = (uint8_t)((c[128 * b + g] + 1) << 6 | (c[128 * b + g + 32] + 1) << 4 |
                                             (c[128 * b + g + 64] + 1) << 2 | (c[128 * b + g + 96] + 1));
        ck_assert_mem_eq(got, want, sizeof want);
    }
    c[77] = 2;
    ck_assert_int_eq(bnq_pack_i2s_row_avx2(c, NE0, got), -1);
    /* §4: byte [r, c] holds rows r, r+R, r+2R, r+3R in bits 1:0, 3:2, 5:4, 7:6, value - 1 */
    uint8_t packed[R * C];
    int8_t codes[4 * R * C];
    for (int i = 0; i < R * C; i++) {
        uint32_t x = tu_rand32();
        packed[i] = (uint8_t)(x % 3 | (x / 3 % 3) << 2 | (x / 9 % 3) << 4 | (x / 27 % 3) << 6);
    }
    memset(codes, 99, sizeof codes);
    for (int r = 0; r < R; r++)
        ck_assert_int_eq(bnq_unpack_hf_row_avx2(packed, C, R, (size_t)r, codes), 0);
    for (int r = 0; r < R; r++)
        for (int q = 0; q < 4; q++)
            for (int k = 0; k < C; k++)
                ck_assert_int_eq(codes[(r + q * R) * C + k], ((packed[r * C + k] >> (2 * q)) & 3) - 1);
    packed[1 * C + 40] |= 0x30; /* a 3 in the SIMD part, then in the tail */
    ck_assert_int_eq(bnq_unpack_hf_row_avx2(packed, C, R, 1, codes), -1);
    packed[1 * C + 40] &= 0x0f;
    packed[2 * C + 70] |= 0x03;
    ck_assert_int_eq(bnq_unpack_hf_row_avx2(packed, C, R, 2, codes), -1);
}
END_TEST

Suite *quant_suite(void)
{
    Suite *s = suite_create("quant");
    TCase *me = tcase_create("methods");
    tcase_set_timeout(me, 60);
    tcase_add_test(me, test_absmean_hand);
    tcase_add_test(me, test_absmax_hand);
    tcase_add_test(me, test_mse_hand);
    tcase_add_test(me, test_vs_reference);
    tcase_add_test(me, test_absmean_large_vs_torch);
    tcase_add_test(me, test_mse_gaussian);
    tcase_add_test(me, test_already_ternary);
    tcase_add_test(me, test_threads_identical);
    tcase_add_test(me, test_nan_inf_and_flags);
    tcase_add_test(me, test_kind_names);
    tcase_add_test(me, test_extreme_values);
    tcase_add_test(me, test_simd_scan_matches_scalar);
    tcase_add_test(me, test_simd_codes_match_scalar);
    tcase_add_test(me, test_simd_tq2_matches_reference);
    tcase_add_test(me, test_simd_stats_match_scalar);
    tcase_add_test(me, test_fused_stats_identical);
    tcase_add_test(me, test_fill_matches_in_memory);
    tcase_add_test(me, test_simd_f16_matches_scalar);
    tcase_add_test(me, test_simd_i2s_and_hf_unpack);
    suite_add_tcase(s, me);
    return s;
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return tu_run_suite(quant_suite());
}
