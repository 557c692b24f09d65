/* test_matmul.c - the float-weight product of matmul.c (the F16 head, F32,
 * BF16 and Q8_0 rows) against the documented summation order, written out
 * here independently: for each (token, row), 8 lane sums over i = j mod 8 in
 * increasing i (one rounded product, one rounded add), lanes combined
 * ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)), then the n % 8 tail in order.
 * Every value must match bit for bit, whatever the thread count, the number of
 * tokens in the call, the row count (odd, partial blocks) or n % 8; on a CPU
 * with AVX-512 that exercises the register-blocked GEMM of matmul_avx512.c,
 * elsewhere the row-at-a-time path. The attention scores' bnr_dot_rows
 * likewise. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "runtime/model_internal.h"
#include "testutil.h"

static uint16_t f16_bits(float f)
{ /* a random finite F16 near f: sign, exponent 10..20, random mantissa */
    (void)f;
    uint32_t r = tu_rand32();
    return (uint16_t)((r & 0x8000u) | (10u + r % 11u) << 10 | (r >> 8 & 0x3ffu));
}

/* Weights of one type, n_out x n_in, random bytes that decode to finite values. */
static uint8_t *make_weights(bn_type type, int n_in, int n_out, size_t *row_bytes)
{
    size_t rb = type == BN_TYPE_F32 ? 4u * n_in : type == BN_TYPE_Q8_0 ? (size_t)n_in / 32 * 34
                                                                        : 2u * n_in;
    uint8_t *d = malloc(rb * (size_t)n_out);
    for (int r = 0; r < n_out; r++) {
        uint8_t *p = d + rb * (size_t)r;
        for (int i = 0; i < n_in; i++) {
            if (type == BN_TYPE_F32) {
                float v = (float)tu_gauss();
                memcpy(p + 4 * i, &v, 4);
            } else if (type == BN_TYPE_F16) {
                uint16_t h = f16_bits(0);
                memcpy(p + 2 * i, &h, 2);
            } else if (type == BN_TYPE_BF16) {
                float v = (float)tu_gauss();
                uint32_t u;
                memcpy(&u, &v, 4);
                uint16_t h = (uint16_t)(u >> 16);
                memcpy(p + 2 * i, &h, 2);
            }
        }
        if (type == BN_TYPE_Q8_0)
            for (int b = 0; b < n_in / 32; b++) {
                uint16_t h = f16_bits(0);
                memcpy(p + 34 * b, &h, 2);
                for (int j = 0; j < 32; j++)
                    p[34 * b + 2 + j] = (uint8_t)tu_rand32();
            }
    }
    *row_bytes = rb;
    return d;
}

static void check_shape(bn_pool *pool, bn_type type, int n_in, int n_out, int n_tok)
{
    bn_model m;
    memset(&m, 0, sizeof m);
    m.pool = pool;
    bn_error e;
    size_t rb;
    uint8_t *data = make_weights(type, n_in, n_out, &rb);
    bn_weight w = {.name = "w", .type = type, .n_in = n_in, .n_out = n_out, .data = data,
                   .nbytes = rb * (size_t)n_out, .row_bytes = rb, .scale = 1.0f};
    float *x = malloc(sizeof(float) * (size_t)n_tok * n_in);
    float *y = malloc(sizeof(float) * (size_t)n_tok * n_out);
    float *row = malloc(sizeof(float) * (size_t)n_in);
    for (size_t i = 0; i < (size_t)n_tok * n_in; i++)
        x[i] = (float)tu_gauss();
    bn_mm_scratch *s;
    ck_assert_int_eq(bnr_mm_scratch_new(&m, n_tok, n_in, &s, &e), BN_OK);
    bnr_mm_set_input(s, x, n_tok, n_in);
    ck_assert_msg(bnr_matmul(&m, s, &w, y, &e) == BN_OK, "%s", e.msg);
    for (int r = 0; r < n_out; r++) {
        bnr_weight_row_f32(&w, r, row);
        for (int t = 0; t < n_tok; t++) {
            float want = tu_ref_dot(row, x + (size_t)t * n_in, n_in);
            float got = y[(size_t)t * n_out + r];
            ck_assert_msg(tu_f32_bits(got) == tu_f32_bits(want),
                          "%s [%d x %d], %d tokens, %d threads: token %d row %d: got %.9g (0x%08x), "
                          "want %.9g (0x%08x)", bn_type_name(type), n_out, n_in, n_tok,
                          bn_pool_threads(pool), t, r, got, tu_f32_bits(got), want,
                          tu_f32_bits(want));
        }
    }
    bnr_mm_scratch_free(s);
    free(data);
    free(x);
    free(y);
    free(row);
}

START_TEST(test_float_order)
{
    static const bn_type types[] = {BN_TYPE_F16, BN_TYPE_F32, BN_TYPE_BF16};
    static const int ins[] = {1, 7, 8, 13, 64, 100, 264};
    static const int outs[] = {1, 2, 3, 7, 8, 9, 17, 33};
    static const int toks[] = {1, 2, 3, 4, 5, 7, 65, 67};
    bn_pool *pools[2];
    bn_error e;
    for (int p = 0; p < 2; p++)
        ck_assert_int_eq(bn_pool_create(p + 1, &pools[p], &e), BN_OK);
    for (size_t ty = 0; ty < sizeof types / sizeof *types; ty++)
        for (size_t i = 0; i < sizeof ins / sizeof *ins; i++)
            for (size_t o = 0; o < sizeof outs / sizeof *outs; o++)
                check_shape(pools[(i + o) % 2], types[ty], ins[i], outs[o], toks[(i + o + ty) % 8]);
    /* Q8_0 rows are whole 32-blocks */
    for (size_t o = 0; o < sizeof outs / sizeof *outs; o++)
        check_shape(pools[o % 2], BN_TYPE_Q8_0, 64 + 32 * (int)(o % 3), outs[o], toks[o]);
    /* the BitNet-2B head's width, many tokens (token tiles of 64, 2 threads) */
    check_shape(pools[1], BN_TYPE_F16, 2560, 50, 130);
    check_shape(pools[0], BN_TYPE_F16, 2560, 19, 1);
    for (int p = 0; p < 2; p++)
        bn_pool_destroy(pools[p]);
}
END_TEST

/* The F16 head's small-batch path (bnr_gemm_f16_avx512: rows converted in
 * registers, 4 pairs x up to 5 tokens or 2 pairs x up to 12 per tile, tiles
 * balanced beyond) and the packed GEMM above it: every token count 1..17, odd
 * row counts (a short last block), n_in % 8 != 0 (the tail) and == 0, with
 * 1 and 2 threads. On a CPU with AVX-512 this must be the SIMD path (asserted),
 * so the test compares the kernel actually taken with the documented order. */
START_TEST(test_f16_token_counts)
{
    bn_pool *pools[2];
    bn_error e;
    for (int p = 0; p < 2; p++)
        ck_assert_int_eq(bn_pool_create(p + 1, &pools[p], &e), BN_OK);
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("f16c"))
        ck_assert_msg(bnr_avx512_available(), "AVX-512 CPU, but the float GEMM is not used");
#endif
    static const int ins[] = {259, 264, 2565};
    static const int outs[] = {37, 19, 8};
    for (int nt = 1; nt <= 17; nt++)
        for (int i = 0; i < 3; i++)
            check_shape(pools[(nt + i) % 2], BN_TYPE_F16, ins[i], outs[(nt + i) % 3], nt);
    for (int p = 0; p < 2; p++)
        bn_pool_destroy(pools[p]);
}
END_TEST

/* Attention scores: one query against consecutive cached keys. */
START_TEST(test_dot_rows)
{
    static const int ns[] = {1, 8, 13, 64, 128, 130};
    static const int rows[] = {1, 2, 7, 8, 9, 31, 100};
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
        for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
            int n = ns[i], nr = rows[r];
            size_t stride = (size_t)n + r % 3 * 5;
            float *k = malloc(sizeof(float) * stride * (size_t)nr), *q = malloc(sizeof(float) * (size_t)n);
            float *out = malloc(sizeof(float) * (size_t)nr);
            for (size_t j = 0; j < stride * (size_t)nr; j++)
                k[j] = (float)tu_gauss();
            for (int j = 0; j < n; j++)
                q[j] = (float)tu_gauss();
            bnr_dot_rows(q, k, stride, nr, n, out);
            for (int j = 0; j < nr; j++) {
                float want = tu_ref_dot(q, k + (size_t)j * stride, n);
                ck_assert_msg(tu_f32_bits(out[j]) == tu_f32_bits(want),
                              "n %d, %d rows: row %d = %.9g, want %.9g", n, nr, j, out[j], want);
            }
            free(k);
            free(q);
            free(out);
        }
}
END_TEST

/* The F16 KV cache forms: the same floats as converting the halves with the
 * table and calling the F32 forms. */
START_TEST(test_f16_rows)
{
    static const int ns[] = {8, 13, 64, 128, 130};
    static const int rows[] = {1, 7, 9, 100};
    const float *tab = bnr_f16_table();
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
        for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
            int n = ns[i], nr = rows[r];
            size_t stride = (size_t)n + r % 3 * 5, nh = stride * (size_t)nr;
            uint16_t *h = malloc(sizeof(uint16_t) * nh);
            float *k = malloc(sizeof(float) * nh), *q = malloc(sizeof(float) * (size_t)n);
            float *out = malloc(sizeof(float) * (size_t)nr), *want = malloc(sizeof(float) * (size_t)nr);
            for (size_t j = 0; j < nh; j++) {
                h[j] = bn_f32_to_f16((float)tu_gauss());
                k[j] = tab[h[j]];
            }
            for (int j = 0; j < n; j++)
                q[j] = (float)tu_gauss();
            bnr_dot_rows_f16(q, h, stride, nr, n, out);
            bnr_dot_rows(q, k, stride, nr, n, want);
            for (int j = 0; j < nr; j++)
                ck_assert_msg(tu_f32_bits(out[j]) == tu_f32_bits(want[j]),
                              "dot n %d, %d rows: row %d = %.9g, want %.9g", n, nr, j, out[j], want[j]);
            float y1[130], y2[130];
            for (int j = 0; j < n; j++)
                y1[j] = y2[j] = (float)tu_gauss();
            for (int j = 0; j < nr; j++) {
                bnr_axpy_f16(y1, q[j % n], h + (size_t)j * stride, n);
                bnr_axpy(y2, q[j % n], k + (size_t)j * stride, n);
            }
            for (int j = 0; j < n; j++)
                ck_assert_msg(tu_f32_bits(y1[j]) == tu_f32_bits(y2[j]), "axpy n %d: element %d", n, j);
            free(h); free(k); free(q); free(out); free(want);
        }
}
END_TEST

/* The softmax's exp, 8 at a time: the floats of bnr_exp exactly, over a run
 * of consecutive floats, random ones across and beyond the float range of
 * exp, and the special values; lengths that are not multiples of 8. */
START_TEST(test_exp_rows)
{
    enum { N = 1 << 20 };
    float *v = malloc(sizeof(float) * N), *w = malloc(sizeof(float) * N);
    for (int pass = 0; pass < 3; pass++) {
        uint32_t b;
        float f = -20.0f;
        memcpy(&b, &f, sizeof b);
        for (int i = 0; i < N; i++) {
            if (pass == 0) { /* consecutive floats downwards from -20 (bits upwards) */
                uint32_t bi = b + (uint32_t)i;
                memcpy(&v[i], &bi, sizeof bi);
            } else if (pass == 1) {
                v[i] = (float)(-90.0 * (tu_rand32() / 4294967296.0));
            } else {
                v[i] = (float)(200.0 * (tu_rand32() / 4294967296.0) - 100.0);
            }
        }
        if (pass == 2) {
            const float sp[] = {0.0f, -0.0f, NAN, INFINITY, -INFINITY, -87.0f, 88.0f, -87.5f,
                                88.5f, 1e-30f, -1e-30f, 0.5f, -0.5f};
            memcpy(v, sp, sizeof sp);
        }
        for (int i = 0; i < N; i++)
            w[i] = bnr_exp(v[i]);
        int n = N - pass * 3; /* 2^20, then tails of 5 and 2 */
        bnr_exp_rows(v, n);
        for (int i = 0; i < n; i++)
            ck_assert_msg(tu_f32_bits(v[i]) == tu_f32_bits(w[i]) || (v[i] != v[i] && w[i] != w[i]),
                          "pass %d, element %d: %.9g, want %.9g", pass, i, v[i], w[i]);
    }
    /* hard cases: floats whose e^x (libm, in double) lies within 2^14 double
     * ulps of a midpoint between two floats, gathered from 2^26 random floats
     * in [-87, 88] (about 4000 of them): the exp's polynomial must be good to
     * far better than that band, and a wrong coefficient or power shows here,
     * where one in a million random floats would not catch it */
    int n = 0;
    for (int i = 0; i < (1 << 26) && n < N; i++) {
        const float x = (float)(175.0 * (tu_rand32() / 4294967296.0) - 87.0);
        const double e = exp((double)x);
        uint64_t eb;
        memcpy(&eb, &e, sizeof eb);
        const int64_t d = (int64_t)(eb & 0x1fffffff) - 0x10000000;
        if (d > -(1 << 14) && d < (1 << 14))
            v[n++] = x;
    }
    ck_assert_int_gt(n, 1000);
    for (int i = 0; i < n; i++)
        w[i] = bnr_exp(v[i]);
    bnr_exp_rows(v, n);
    for (int i = 0; i < n; i++)
        ck_assert_msg(tu_f32_bits(v[i]) == tu_f32_bits(w[i]), "hard case %d: %.9g, want %.9g", i,
                      v[i], w[i]);
    free(v);
    free(w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("matmul");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_float_order);
    tcase_add_test(tc, test_f16_token_counts);
    tcase_add_test(tc, test_dot_rows);
    tcase_add_test(tc, test_exp_rows);
    tcase_add_test(tc, test_f16_rows);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
