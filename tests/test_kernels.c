/* test_kernels.c - activation quantization, the basic kernel against an
 * independent float64 reference, and every other kernel against basic
 * (integer sums and floats bit for bit) over a shape program with random
 * and adversarial data.
 *
 * Builds with Check (make check) or, with -DBN_NO_CHECK, with the tiny
 * stand-in below so `make check-arm` can run it under qemu-aarch64, where no
 * arm64 Check library exists. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/kernels.h"
#include "bn/threadpool.h"
#include "bn/util.h"
#include "testutil.h"

#ifndef BN_NO_CHECK
#include <check.h>
#else
/* Minimal Check stand-in: same macro names, same closing summary line. */
static int mc_failed;
#define START_TEST(name) static void name(void)
#define END_TEST
#define ck_assert_msg(cond, ...)                                                 \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: assertion '%s' failed: ", __FILE__, __LINE__, \
                    #cond);                                                      \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
            mc_failed = 1;                                                       \
            return;                                                              \
        }                                                                        \
    } while (0)
#define ck_assert(c) ck_assert_msg(c, "%s", "")
#define ck_assert_int_eq(a, b) ck_assert_msg((a) == (b), "%lld != %lld", (long long)(a), (long long)(b))
#define ck_assert_int_ne(a, b) ck_assert_msg((a) != (b), "%lld == %lld", (long long)(a), (long long)(b))
#define ck_assert_ptr_nonnull(p) ck_assert_msg((p) != NULL, "NULL")
#endif

/* ---- deterministic random numbers (xorshift64*) ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) { return bn_rng_next(&rng_state); }
static int rnd_int(int lo, int hi) { return lo + (int)(rnd() % (uint64_t)(hi - lo + 1)); }

/* ---- independent packers and decoders, written from FORMATS.md ---- */

static size_t type_row_bytes(bn_type t, int64_t ne0)
{
    return t == BN_TYPE_I2_S ? (size_t)ne0 / 4 : (size_t)(ne0 / 256) * (t == BN_TYPE_TQ2_0 ? 66 : 54);
}

static size_t type_bytes(bn_type t, int64_t ne0, int64_t ne1)
{
    return type_row_bytes(t, ne0) * (size_t)ne1 + (t == BN_TYPE_I2_S ? 32 : 0);
}

static uint16_t f32_to_f16_simple(float f) /* normal range only: test scales */
{
    uint32_t b;
    memcpy(&b, &f, 4);
    uint32_t sign = (b >> 16) & 0x8000, exp = (b >> 23) & 0xff, man = b & 0x7fffff;
    return (uint16_t)(sign | (exp - 112) << 10 | man >> 13);
}

static double f16_to_double(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
    return (h & 0x8000) ? -v : v;
}

/* Pack ternary t[ne1][ne0] (values -1..1) with per-block fp16 d (TQ) or the
 * tensor scale (I2_S) into the on-disk bytes. */
static void pack(bn_type type, const int8_t *t, int64_t ne0, int64_t ne1,
                 const uint16_t *d, float scale, uint8_t *out)
{
    memset(out, 0, type_bytes(type, ne0, ne1));
    size_t rb = type_row_bytes(type, ne0);
    for (int64_t r = 0; r < ne1; r++) {
        const int8_t *w = t + r * ne0;
        uint8_t *row = out + r * rb;
        if (type == BN_TYPE_I2_S) {
            for (int64_t k = 0; k < ne0; k++) {
                int64_t b = k / 128, i = k % 128;
                row[32 * b + i % 32] |= (uint8_t)((w[k] + 1) << (6 - 2 * (i / 32)));
            }
            continue;
        }
        for (int64_t b = 0; b < ne0 / 256; b++) {
            const int8_t *x = w + 256 * b;
            uint16_t db = d[r * (ne0 / 256) + b];
            if (type == BN_TYPE_TQ2_0) {
                uint8_t *blk = row + 66 * b;
                for (int k = 0; k < 256; k++)
                    blk[32 * (k / 128) + k % 32] |= (uint8_t)((x[k] + 1) << (2 * ((k % 128) / 32)));
                blk[64] = (uint8_t)db;
                blk[65] = (uint8_t)(db >> 8);
            } else {
                uint8_t *blk = row + 54 * b;
                for (int m = 0; m < 48; m++) { /* qs: 5 trits each */
                    int v = 0;
                    for (int n = 0; n < 5; n++) {
                        int k = m < 32 ? m + 32 * n : 160 + (m - 32) + 16 * n;
                        v = v * 3 + x[k] + 1;
                    }
                    blk[m] = (uint8_t)((v * 256 + 242) / 243);
                }
                for (int j = 0; j < 4; j++) { /* qh: 4 trits, the fifth 0 */
                    int v = 0;
                    for (int n = 0; n < 4; n++)
                        v = v * 3 + x[240 + j + 4 * n] + 1;
                    v *= 3;
                    blk[48 + j] = (uint8_t)((v * 256 + 242) / 243);
                }
                blk[52] = (uint8_t)db;
                blk[53] = (uint8_t)(db >> 8);
            }
        }
    }
    if (type == BN_TYPE_I2_S)
        memcpy(out + rb * ne1, &scale, 4);
}

/* ---- activations set directly (so -128 is reachable) ---- */

static void act_fill(bn_act *a, int64_t n_tok, int mode)
{
    a->n_tok = n_tok;
    for (int64_t t = 0; t < n_tok; t++) {
        int8_t *q = a->q + t * a->ne0;
        for (int64_t k = 0; k < a->ne0; k++) {
            switch (mode) {
            case 0: q[k] = (int8_t)rnd_int(-128, 127); break;
            case 1: q[k] = -128; break;
            case 2: q[k] = 127; break;
            default: q[k] = (k + t) % 2 ? 127 : -128; break;
            }
        }
        int32_t sum = 0;
        for (int64_t g = 0; g < a->ne0 / 128; g++) {
            int32_t s = 0;
            for (int i = 0; i < 128; i++)
                s += q[g * 128 + i];
            a->bsum[t * (a->ne0 / 128) + g] = s;
            sum += s;
        }
        a->sum[t] = sum;
        if (a->kind == BN_ACT_TOKEN)
            a->scale[t] = (float)(0.5 + (double)(rnd() % 1000) / 7.0);
        else
            for (int64_t b = 0; b < a->ne0 / 256; b++)
                a->scale[t * (a->ne0 / 256) + b] = (float)((double)(rnd() % 1000 + 1) / 65536.0);
    }
}

/* ---- activation quantization: hand-computed cases ---- */

START_TEST(test_actquant_token)
{
    float x[128] = {0};
    int8_t q[128];
    float sa;
    int32_t sum, bsum[1];
    /* max|x| = 127 -> sa = 1: the products are the inputs, ties go to even. */
    x[0] = 127.0f; x[1] = 2.5f; x[2] = 3.5f; x[3] = -2.5f; x[4] = 0.5f;
    x[5] = -0.5f; x[6] = 1.5f; x[7] = -127.0f; x[8] = 126.5f; x[9] = -1.5f;
    bn_act_quantize_row_token(x, 128, q, &sa, &sum, bsum);
    ck_assert(sa == 1.0f);
    const int8_t want[10] = {127, 2, 4, -2, 0, 0, 2, -127, 126, -2};
    for (int i = 0; i < 10; i++)
        ck_assert_msg(q[i] == want[i], "q[%d] = %d, want %d", i, q[i], want[i]);
    ck_assert_int_eq(sum, 127 + 2 + 4 - 2 + 2 - 127 + 126 - 2);
    ck_assert_int_eq(bsum[0], sum);

    /* max below 1e-5: the clamp sets a = 1e-5, sa = (float)12700000;
     * 1e-6f * sa = 12.7 -> 13, -3e-6f * sa = -38.100002 -> -38. */
    memset(x, 0, sizeof x);
    x[0] = 1e-6f; x[1] = -3e-6f;
    bn_act_quantize_row_token(x, 128, q, &sa, &sum, bsum);
    ck_assert(sa == 12700000.0f);
    ck_assert_int_eq(q[0], 13);
    ck_assert_int_eq(q[1], -38);
    ck_assert_int_eq(sum, -25);

    /* All zero: sa from the clamp, q all zero. */
    memset(x, 0, sizeof x);
    bn_act_quantize_row_token(x, 128, q, &sa, &sum, bsum);
    ck_assert(sa == 12700000.0f);
    ck_assert_int_eq(sum, 0);

    /* max 3 -> sa = 42.333332f. These x make x*sa round to exactly 46.5 and
     * 17.5 in float32 while the exact products are 46.5000017 and 17.4999999:
     * float32-then-half-even gives 46 and 18, a fused multiply-round 47 and 17. */
    uint32_t b1 = 1066178867u, b2 = 1054058319u;
    memset(x, 0, sizeof x);
    x[0] = 3.0f;
    memcpy(&x[1], &b1, 4);
    memcpy(&x[2], &b2, 4);
    bn_act_quantize_row_token(x, 128, q, &sa, &sum, bsum);
    ck_assert(sa == (float)(127.0 / 3.0));
    ck_assert_int_eq(q[0], 127);
    ck_assert_int_eq(q[1], 46);
    ck_assert_int_eq(q[2], 18);

    /* NaN quantizes to 0 and does not become the max. */
    memset(x, 0, sizeof x);
    x[0] = NAN; x[1] = 1.0f;
    bn_act_quantize_row_token(x, 128, q, &sa, &sum, bsum);
    ck_assert(sa == 127.0f);
    ck_assert_int_eq(q[0], 0);
    ck_assert_int_eq(q[1], 127);
}
END_TEST

START_TEST(test_actquant_q8k)
{
    float x[512] = {0};
    int8_t q[512];
    float d[2];
    int32_t sum, bsum[4];
    /* Block 0: |x| ties between x[0] = -127 and x[5] = 127; the first wins
     * (strict >), so the signed max is -127 -> iscale = 1, d = 1. */
    x[0] = -127.0f; x[1] = 2.5f; x[2] = -0.5f; x[3] = 3.5f; x[4] = -2.5f; x[5] = 127.0f;
    /* Block 1: max +2 -> iscale = -63.5, d = 1/-63.5f; 1 -> -63.5 -> -64 (even). */
    x[256] = 2.0f; x[257] = 1.0f; x[258] = -1.0f; x[259] = 0.5f;
    bn_act_quantize_row_q8k(x, 512, q, d, &sum, bsum);
    ck_assert(d[0] == 1.0f);
    const int8_t want0[6] = {-127, 2, 0, 4, -2, 127};
    for (int i = 0; i < 6; i++)
        ck_assert_msg(q[i] == want0[i], "q[%d] = %d, want %d", i, q[i], want0[i]);
    ck_assert(d[1] == 1.0f / (-127.0f / 2.0f));
    const int8_t want1[4] = {-127, -64, 64, -32};
    for (int i = 0; i < 4; i++)
        ck_assert_msg(q[256 + i] == want1[i], "q[%d] = %d, want %d", 256 + i, q[256 + i], want1[i]);
    ck_assert_int_eq(bsum[0], 4);
    ck_assert_int_eq(bsum[1], 0);
    ck_assert_int_eq(bsum[2], -127 - 64 + 64 - 32);
    ck_assert_int_eq(sum, 4 - 159);

    /* A zero block gives d = 0 and q = 0; a positive max flips signs. */
    memset(x, 0, sizeof x);
    x[300] = 127.0f; x[301] = 2.5f;
    bn_act_quantize_row_q8k(x, 512, q, d, &sum, bsum);
    ck_assert(d[0] == 0.0f);
    ck_assert(d[1] == -1.0f);
    ck_assert_int_eq(q[300], -127);
    ck_assert_int_eq(q[301], -2);
}
END_TEST

START_TEST(test_act_init_quantize)
{
    bn_act a;
    bn_error e;
    ck_assert_int_eq(bn_act_init(&a, BN_ACT_TOKEN, 2, 100, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "100"));
    ck_assert_int_eq(bn_act_init(&a, BN_ACT_Q8K, 2, 384, &e), BN_EINVAL);
    ck_assert_int_eq(bn_act_init(&a, BN_ACT_TOKEN, 0, 128, &e), BN_EINVAL);
    ck_assert_int_eq(bn_act_init(&a, BN_ACT_Q8K, 2, 256, &e), BN_OK);
    float x[512];
    for (int i = 0; i < 512; i++)
        x[i] = (float)(i % 17) - 8.0f;
    ck_assert_int_eq(bn_act_quantize(&a, x, 3, &e), BN_EINVAL);
    ck_assert_int_eq(bn_act_quantize(&a, x, 2, &e), BN_OK);
    ck_assert_int_eq(a.n_tok, 2);
    int8_t q[256];
    float d;
    int32_t sum, bsum[2];
    bn_act_quantize_row_q8k(x + 256, 256, q, &d, &sum, bsum);
    ck_assert_int_eq(memcmp(q, a.q + 256, 256), 0);
    ck_assert(d == a.scale[1]);
    ck_assert_int_eq(sum, a.sum[1]);
    ck_assert_int_eq(bsum[1], a.bsum[3]);
    bn_act_free(&a);
}
END_TEST

/* ---- weights ---- */

START_TEST(test_qmat_init)
{
    static uint8_t buf[64 * 66 + 32];
    bn_qmat w;
    bn_error e;
    ck_assert_int_eq(bn_qmat_init(&w, BN_TYPE_I2_S, buf, 2 * 32 + 32, 128, 2, &e), BN_OK);
    ck_assert_int_eq(bn_qmat_init(&w, BN_TYPE_I2_S, buf, 2 * 32, 128, 2, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "96"));
    ck_assert_int_eq(bn_qmat_init(&w, BN_TYPE_TQ2_0, buf, 66, 128, 1, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "128"));
    ck_assert_int_eq(bn_qmat_init(&w, BN_TYPE_TQ1_0, buf, 54, 256, 1, &e), BN_OK);
    ck_assert_int_eq(bn_qmat_init(&w, BN_TYPE_TQ1_0, buf, 54, 256, 0, &e), BN_EINVAL);
    ck_assert_int_eq(bn_qmat_init(&w, BN_TYPE_F32, buf, 4, 1, 1, &e), BN_EUNSUPPORTED);
    ck_assert_int_eq(bn_qmat_init(&w, BN_TYPE_TQ2_0, buf, 66, (int64_t)1 << 21, 1, &e), BN_EINVAL);
}
END_TEST

/* FORMATS 2.1 worked example: one row of 128, w[k] = (k%3)-1, scale 0.5 ->
 * "24 49 92" repeated over 32 bytes, then 00 00 00 3f and 28 zeros. */
START_TEST(test_i2s_worked_example)
{
    uint8_t bytes[64] = {0};
    const uint8_t pat[3] = {0x24, 0x49, 0x92};
    for (int i = 0; i < 32; i++)
        bytes[i] = pat[i % 3];
    bytes[35] = 0x3f;
    int8_t t[128];
    for (int k = 0; k < 128; k++)
        t[k] = (int8_t)(k % 3 - 1);
    uint8_t packed[64];
    pack(BN_TYPE_I2_S, t, 128, 1, NULL, 0.5f, packed);
    ck_assert_int_eq(memcmp(packed, bytes, 64), 0);

    /* One-hot activations x = e_k: y[k] must be w[k] * 0.5 for every kernel. */
    bn_qmat w;
    bn_act a;
    ck_assert_int_eq(bn_qmat_init(&w, BN_TYPE_I2_S, bytes, 64, 128, 1, NULL), BN_OK);
    ck_assert(w.scale == 0.5f);
    ck_assert_int_eq(bn_act_init(&a, BN_ACT_TOKEN, 128, 128, NULL), BN_OK);
    float *x = calloc(128 * 128, sizeof *x);
    for (int k = 0; k < 128; k++)
        x[k * 128 + k] = 1.0f;
    ck_assert_int_eq(bn_act_quantize(&a, x, 128, NULL), BN_OK);
    size_t nk;
    const bn_kernel *const *ks = bn_kernel_list(&nk);
    for (size_t i = 0; i < nk; i++) {
        if (!ks[i]->available())
            continue;
        float y[128];
        int32_t s[128];
        ck_assert_int_eq(bn_kernel_matmul(ks[i], &w, &a, 0, 1, y, 1, NULL), BN_OK);
        ck_assert_int_eq(bn_kernel_matmul_int(ks[i], &w, &a, 0, 1, s, NULL), BN_OK);
        for (int k = 0; k < 128; k++) {
            ck_assert_msg(s[k] == 127 * (k % 3), "%s: code sum %d at k=%d", ks[i]->name, s[k], k);
            ck_assert_msg(y[k] == 0.5f * (float)(k % 3 - 1), "%s: y[%d] = %g", ks[i]->name, k, y[k]);
        }
    }
    free(x);
    bn_act_free(&a);
}
END_TEST

/* Upstream bytes: gguf-py's TQ1_0/TQ2_0 encodings of ternary inputs
 * (../shared/golden/ternary). One-hot activations read back every element:
 * the block sum must be 127 * sign(x) and the float output x itself (up to
 * the fp16 rounding of d). */
static int check_golden(const char *name, int64_t ne0, int64_t ne1, bn_type type,
                        char *msg, size_t msz)
{
    char f32[128], packed[128];
    snprintf(f32, sizeof f32, "golden/ternary/%s.f32", name);
    snprintf(packed, sizeof packed, "golden/ternary/%s.%s", name,
             type == BN_TYPE_TQ2_0 ? "tq2_0" : "tq1_0");
    size_t nx, nw;
    uint8_t *xb = tu_read(tu_shared(f32), &nx), *wb = tu_read(tu_shared(packed), &nw);
    int rc = 1;
    bn_qmat w;
    bn_act a;
    bn_error e;
    float *x = NULL, *onehot = NULL, *y = NULL;
    int32_t *s = NULL;
    memset(&a, 0, sizeof a);
    if (!xb || !wb || nx != (size_t)(ne0 * ne1) * 4) {
        snprintf(msg, msz, "cannot read %s / %s under %s", f32, packed, tu_shared(""));
        goto out;
    }
    if (bn_qmat_init(&w, type, wb, nw, ne0, ne1, &e) ||
        bn_act_init(&a, BN_ACT_TOKEN, ne0, ne0, &e)) {
        snprintf(msg, msz, "%s: %.200s", packed, e.msg);
        goto out;
    }
    x = malloc(nx);
    memcpy(x, xb, nx);
    onehot = calloc((size_t)(ne0 * ne0), sizeof *onehot);
    for (int64_t k = 0; k < ne0; k++)
        onehot[k * ne0 + k] = 1.0f;
    bn_act_quantize(&a, onehot, ne0, NULL);
    const int64_t nb = ne0 / 256;
    s = malloc(sizeof *s * (size_t)(ne0 * ne1 * nb));
    y = malloc(sizeof *y * (size_t)(ne0 * ne1));
    size_t nk;
    const bn_kernel *const *ks = bn_kernel_list(&nk);
    for (size_t i = 0; i < nk; i++) {
        if (!ks[i]->available())
            continue;
        bn_kernel_matmul_int(ks[i], &w, &a, 0, ne1, s, NULL);
        bn_kernel_matmul(ks[i], &w, &a, 0, ne1, y, ne1, NULL);
        for (int64_t k = 0; k < ne0; k++)
            for (int64_t r = 0; r < ne1; r++) {
                float xv = x[r * ne0 + k];
                for (int64_t b = 0; b < nb; b++) {
                    int32_t want = b == k / 256 ? 127 * ((xv > 0) - (xv < 0)) : 0;
                    int32_t got = s[(k * ne1 + r) * nb + b];
                    if (got != want) {
                        snprintf(msg, msz, "%s %s: row %lld col %lld block %lld: sum %d, want %d",
                                 ks[i]->name, packed, (long long)r, (long long)k, (long long)b, got, want);
                        goto out;
                    }
                }
                float yv = y[k * ne1 + r];
                if (fabsf(yv - xv) > 1e-3f * fabsf(xv)) {
                    snprintf(msg, msz, "%s %s: row %lld col %lld: y %.7g, input %.7g", ks[i]->name,
                             packed, (long long)r, (long long)k, yv, xv);
                    goto out;
                }
            }
    }
    rc = 0;
out:
    free(xb); free(wb); free(x); free(onehot); free(s); free(y);
    bn_act_free(&a);
    return rc;
}

START_TEST(test_golden_tq)
{
    char msg[400] = "";
    const bn_type types[2] = {BN_TYPE_TQ2_0, BN_TYPE_TQ1_0};
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(check_golden("ternary_4x512", 512, 4, types[i], msg, sizeof msg) == 0, "%s", msg);
        ck_assert_msg(check_golden("ternary_3x256_zero_block", 256, 3, types[i], msg, sizeof msg) == 0,
                      "%s", msg);
    }
}
END_TEST

/* ---- the shape program ---- */

typedef struct {
    bn_type type;
    int64_t ne0, ne1, n_tok;
    bn_act_kind kind;
    int act_mode;     /* act_fill mode */
    int weight_mode;  /* 0: packed from known ternary, 1: random bytes, 2: all 0xff */
} shape;

static const char *tname(bn_type t)
{
    return t == BN_TYPE_I2_S ? "I2_S" : t == BN_TYPE_TQ2_0 ? "TQ2_0" : "TQ1_0";
}

/* Runs one shape: basic vs the float64 reference (weight_mode 0), then every
 * available kernel vs basic. Returns 0 or fills msg. */
static int run_shape(const shape *s, char *msg, size_t msz)
{
    const int64_t ne0 = s->ne0, ne1 = s->ne1, nt = s->n_tok, nb = ne0 / 256;
    size_t nbytes = type_bytes(s->type, ne0, ne1);
    uint8_t *data = malloc(nbytes);
    int8_t *tern = malloc((size_t)(ne0 * ne1));
    uint16_t *d = malloc(sizeof(uint16_t) * (size_t)(ne1 * (nb ? nb : 1)));
    float scale = 0.25f + (float)(rnd() % 100) / 64.0f;
    for (int64_t i = 0; i < ne0 * ne1; i++)
        tern[i] = (int8_t)rnd_int(-1, 1);
    for (int64_t i = 0; i < ne1 * nb; i++)
        d[i] = f32_to_f16_simple((float)(rnd() % 2000 + 1) / 1024.0f * (rnd() % 2 ? 1 : -1));
    if (s->weight_mode == 0) {
        pack(s->type, tern, ne0, ne1, d, scale, data);
    } else {
        for (size_t i = 0; i < nbytes; i++)
            data[i] = s->weight_mode == 1 ? (uint8_t)rnd() : 0xff;
        size_t rb = type_row_bytes(s->type, ne0), bb = s->type == BN_TYPE_TQ2_0 ? 66 : 54;
        if (s->type == BN_TYPE_I2_S) {
            memcpy(data + rb * ne1, &scale, 4);
        } else { /* keep d finite so float comparisons are meaningful */
            for (int64_t r = 0; r < ne1; r++)
                for (int64_t b = 0; b < nb; b++) {
                    uint8_t *p = data + r * rb + b * bb + bb - 2;
                    p[0] = (uint8_t)d[r * nb + b];
                    p[1] = (uint8_t)(d[r * nb + b] >> 8);
                }
        }
    }
    bn_qmat w;
    bn_act a;
    bn_error e;
    int rc = 0;
    if (bn_qmat_init(&w, s->type, data, nbytes, ne0, ne1, &e) ||
        bn_act_init(&a, s->kind, nt, ne0, &e)) {
        snprintf(msg, msz, "setup: %s", e.msg);
        free(data); free(tern); free(d);
        return 1;
    }
    act_fill(&a, nt, s->act_mode);
    const int64_t spr = bn_qmat_sums_per_row(&w);
    size_t nsum = (size_t)(nt * ne1 * spr);
    int32_t *ref_s = malloc(nsum * sizeof *ref_s), *got_s = malloc(nsum * sizeof *got_s);
    float *ref_y = malloc((size_t)(nt * ne1) * sizeof *ref_y), *got_y = malloc((size_t)(nt * ne1) * sizeof *got_y);
    const bn_kernel *basic;
    bn_kernel_get("basic", &basic, NULL);
    if (bn_kernel_matmul_int(basic, &w, &a, 0, ne1, ref_s, &e) ||
        bn_kernel_matmul(basic, &w, &a, 0, ne1, ref_y, ne1, &e)) {
        snprintf(msg, msz, "basic: %s", e.msg);
        rc = 1;
        goto out;
    }
    /* The documented epilogue, each rounding forced through a volatile: the
     * library must match it bit for bit (a fused multiply-add would not). */
    for (int64_t t = 0; t < nt && !rc; t++)
        for (int64_t r = 0; r < ne1 && !rc; r++) {
            const int32_t *sr = ref_s + (t * ne1 + r) * spr;
            volatile float v;
            if (s->type == BN_TYPE_I2_S) {
                v = (float)sr[0] - (float)a.sum[t];
                v = v / a.scale[t];
                v = v * w.scale;
            } else {
                float acc = 0.0f;
                for (int64_t b = 0; b < nb; b++) {
                    const uint8_t *blk = data + (size_t)r * w.row_bytes + (size_t)(b + 1) *
                                         (s->type == BN_TYPE_TQ2_0 ? 66 : 54) - 2;
                    volatile float db = (float)f16_to_double((uint16_t)(blk[0] | blk[1] << 8));
                    if (s->kind == BN_ACT_Q8K)
                        db = db * a.scale[t * nb + b];
                    volatile float p = (float)sr[b] * db;
                    acc = acc + p;
                }
                v = s->kind == BN_ACT_Q8K ? acc : acc / a.scale[t];
            }
            float want = v, got = ref_y[t * ne1 + r];
            if (memcmp(&want, &got, sizeof got) != 0) {
                snprintf(msg, msz, "epilogue t=%lld r=%lld: %.9g, documented formula %.9g",
                         (long long)t, (long long)r, got, want);
                rc = 1;
            }
        }
    if (!rc && s->weight_mode == 0) { /* basic vs independent reference */
        for (int64_t t = 0; t < nt && !rc; t++)
            for (int64_t r = 0; r < ne1 && !rc; r++) {
                const int8_t *q = a.q + t * ne0, *wt = tern + r * ne0;
                double y = 0, mag = 0; /* mag: sum of |terms|, for the float error bound */
                for (int64_t b = 0; b < spr; b++) {
                    int64_t len = s->type == BN_TYPE_I2_S ? ne0 : 256, si = 0;
                    for (int64_t k = b * len; k < (b + 1) * len; k++)
                        si += (int64_t)(s->type == BN_TYPE_I2_S ? wt[k] + 1 : wt[k]) * q[k];
                    int32_t got = ref_s[(t * ne1 + r) * spr + b];
                    if (si != got) {
                        snprintf(msg, msz, "basic sum t=%lld r=%lld b=%lld: %d, reference %lld",
                                 (long long)t, (long long)r, (long long)b, got, (long long)si);
                        rc = 1;
                    }
                    double term;
                    if (s->type == BN_TYPE_I2_S) {
                        term = (double)(si - a.sum[t]) / a.scale[t] * scale;
                        mag = (fabs((double)si) + fabs((double)a.sum[t])) / a.scale[t] * scale;
                    } else if (s->kind == BN_ACT_TOKEN) {
                        term = (double)si * f16_to_double(d[r * nb + b]) / a.scale[t];
                    } else {
                        term = (double)si * f16_to_double(d[r * nb + b]) * a.scale[t * nb + b];
                    }
                    y += term;
                    if (s->type != BN_TYPE_I2_S)
                        mag += fabs(term);
                }
                /* float32: a few roundings of 2^-24 relative to the terms */
                double yy = ref_y[t * ne1 + r], tol = 4e-6 * mag + 1e-30;
                if (!rc && fabs(yy - y) > tol) {
                    snprintf(msg, msz, "basic y t=%lld r=%lld: %.9g, reference %.9g",
                             (long long)t, (long long)r, yy, y);
                    rc = 1;
                }
            }
    }
    size_t nk;
    const bn_kernel *const *ks = bn_kernel_list(&nk);
    for (size_t i = 1; i < nk && !rc; i++) {
        if (!ks[i]->available())
            continue;
        memset(got_s, 0x55, nsum * sizeof *got_s);
        if (bn_kernel_matmul_int(ks[i], &w, &a, 0, ne1, got_s, &e) ||
            bn_kernel_matmul(ks[i], &w, &a, 0, ne1, got_y, ne1, &e)) {
            snprintf(msg, msz, "%s: %s", ks[i]->name, e.msg);
            rc = 1;
            break;
        }
        for (size_t j = 0; j < nsum; j++)
            if (got_s[j] != ref_s[j]) {
                snprintf(msg, msz, "%s: sum %zu = %d, basic %d", ks[i]->name, j, got_s[j], ref_s[j]);
                rc = 1;
                break;
            }
        if (!rc && memcmp(got_y, ref_y, (size_t)(nt * ne1) * sizeof *got_y) != 0) {
            snprintf(msg, msz, "%s: floats differ from basic", ks[i]->name);
            rc = 1;
        }
        /* Sub-ranges of rows give the same numbers (threads split rows). */
        if (!rc && ne1 >= 3) {
            int64_t r0 = ne1 / 3, r1 = ne1 - 1;
            memset(got_s, 0x55, nsum * sizeof *got_s);
            bn_kernel_matmul_int(ks[i], &w, &a, r0, r1, got_s, NULL);
            for (int64_t t = 0; t < nt && !rc; t++)
                for (int64_t r = r0; r < r1 && !rc; r++)
                    for (int64_t b = 0; b < spr; b++)
                        if (got_s[(t * (r1 - r0) + r - r0) * spr + b] != ref_s[(t * ne1 + r) * spr + b]) {
                            snprintf(msg, msz, "%s: row range [%lld,%lld) differs at t=%lld r=%lld",
                                     ks[i]->name, (long long)r0, (long long)r1, (long long)t, (long long)r);
                            rc = 1;
                            break;
                        }
        }
    }
out:
    free(data); free(tern); free(d); free(ref_s); free(got_s); free(ref_y); free(got_y);
    bn_act_free(&a);
    return rc;
}

static void shape_program(bn_type type, int *n_run, char *msg, size_t msz, int *failed)
{
    static const int64_t rows[] = {1, 3, 17, 64};
    static const int64_t cols[] = {128, 256, 384, 512, 1280, 4096};
    static const int64_t toks[] = {1, 2, 7, 64};
    int v = 0;
    for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
        if (type != BN_TYPE_I2_S && cols[c] % 256)
            continue;
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
            for (size_t t = 0; t < sizeof toks / sizeof toks[0]; t++, v++) {
                shape s = {type, cols[c], rows[r], toks[t], BN_ACT_TOKEN, v % 4, v % 3};
                if (type != BN_TYPE_I2_S && v % 2)
                    s.kind = BN_ACT_Q8K;
                if (run_shape(&s, msg, msz)) {
                    char tmp[400];
                    snprintf(tmp, sizeof tmp, "%s", msg);
                    snprintf(msg, msz, "%s %lldx%lld x %lld tok (act %d, weights %d, %s): %s",
                             tname(type), (long long)s.ne1, (long long)s.ne0, (long long)s.n_tok,
                             s.act_mode, s.weight_mode, s.kind == BN_ACT_Q8K ? "q8k" : "token", tmp);
                    *failed = 1;
                    return;
                }
                (*n_run)++;
            }
    }
}

static void check_shapes(bn_type type, int want_shapes, char *msg, size_t msz, int *failed,
                         int *n)
{
    *n = 0;
    *failed = 0;
    shape_program(type, n, msg, msz, failed);
    if (!*failed && *n != want_shapes) {
        snprintf(msg, msz, "%s: %d shapes ran, expected %d", tname(type), *n, want_shapes);
        *failed = 1;
    }
}

/* 6 column counts for I2_S (4 for TQ) x 4 row counts x 4 token counts */
START_TEST(test_shapes_i2s)
{
    char msg[600] = "";
    int n, failed;
    check_shapes(BN_TYPE_I2_S, 96, msg, sizeof msg, &failed, &n);
    ck_assert_msg(!failed, "%s", msg);
}
END_TEST

START_TEST(test_shapes_tq2)
{
    char msg[600] = "";
    int n, failed;
    check_shapes(BN_TYPE_TQ2_0, 64, msg, sizeof msg, &failed, &n);
    ck_assert_msg(!failed, "%s", msg);
}
END_TEST

START_TEST(test_shapes_tq1)
{
    char msg[600] = "";
    int n, failed;
    check_shapes(BN_TYPE_TQ1_0, 64, msg, sizeof msg, &failed, &n);
    ck_assert_msg(!failed, "%s", msg);
}
END_TEST

/* The TQ decode and batch paths of the SIMD kernels: every token count 1..17
 * (decode, token groups of 16 and their remainders), block counts around the
 * groups of 8 blocks, both activation kinds, packed / random / 0xff weight
 * bytes; then the decode's activation layout chunks (16 KiB: 51 TQ1_0 and 64
 * TQ2_0 blocks) crossed by rows of 52 and 65 blocks. run_shape compares every available
 * kernel with basic, all rows and a row sub-range. */
START_TEST(test_tq_token_counts)
{
    static const int64_t nbs[] = {1, 9, 10, 16};
    const bn_type types[2] = {BN_TYPE_TQ2_0, BN_TYPE_TQ1_0};
    char msg[600] = "";
    int v = 0;
    for (int ty = 0; ty < 2; ty++)
        for (int64_t nt = 1; nt <= 17; nt++)
            for (int kind = 0; kind < 2; kind++, v++) {
                shape s = {types[ty], 256 * nbs[v % 4], 3 + v % 5, nt,
                           kind ? BN_ACT_Q8K : BN_ACT_TOKEN, v % 4, v % 3};
                ck_assert_msg(!run_shape(&s, msg, sizeof msg), "%s %lldx%lld x %lld tok (%s): %s",
                              tname(s.type), (long long)s.ne1, (long long)s.ne0,
                              (long long)nt, kind ? "q8k" : "token", msg);
            }
    static const int64_t big[][3] = {{52, 3, 1}, {65, 2, 1}, {52, 4, 2}, {65, 3, 17}};
    for (int ty = 0; ty < 2; ty++)
        for (size_t i = 0; i < sizeof big / sizeof big[0]; i++, v++) {
            shape s = {types[ty], 256 * big[i][0], big[i][1], big[i][2],
                       i % 2 ? BN_ACT_Q8K : BN_ACT_TOKEN, v % 4, v % 3};
            ck_assert_msg(!run_shape(&s, msg, sizeof msg), "%s %lldx%lld x %lld tok: %s",
                          tname(s.type), (long long)s.ne1, (long long)s.ne0,
                          (long long)s.n_tok, msg);
        }
}
END_TEST

/* Adversarial extremes at the longest rows we accept: code 3 everywhere and
 * q = -128 everywhere drive every intermediate to its bound. Five rows: the
 * four-row decode paths and a row left over. */
START_TEST(test_extreme_k)
{
    char msg[600] = "";
    const bn_type types[3] = {BN_TYPE_I2_S, BN_TYPE_TQ2_0, BN_TYPE_TQ1_0};
    for (int i = 0; i < 3; i++)
        for (int mode = 1; mode <= 3; mode++) {
            shape s = {types[i], BN_KERNEL_MAX_K, 5, 1, BN_ACT_TOKEN, mode, 2};
            ck_assert_msg(run_shape(&s, msg, sizeof msg) == 0, "%s K=2^20 act %d: %s",
                          tname(types[i]), mode, msg);
        }
    /* The bound itself: 2 rows of code 3 times -128 over 2^20 columns. */
    const bn_kernel *basic;
    bn_kernel_get("basic", &basic, NULL);
    size_t nbytes = type_bytes(BN_TYPE_I2_S, BN_KERNEL_MAX_K, 1);
    uint8_t *data = malloc(nbytes);
    memset(data, 0xff, nbytes);
    bn_qmat w;
    bn_act a;
    int32_t s;
    ck_assert_int_eq(bn_qmat_init(&w, BN_TYPE_I2_S, data, nbytes, BN_KERNEL_MAX_K, 1, NULL), BN_OK);
    ck_assert_int_eq(bn_act_init(&a, BN_ACT_TOKEN, 1, BN_KERNEL_MAX_K, NULL), BN_OK);
    act_fill(&a, 1, 1);
    ck_assert_int_eq(bn_kernel_matmul_int(basic, &w, &a, 0, 1, &s, NULL), BN_OK);
    ck_assert_int_eq(s, -3 * 128 * (int32_t)BN_KERNEL_MAX_K);
    bn_act_free(&a);
    free(data);
}
END_TEST

START_TEST(test_matmul_args_and_table)
{
    static uint8_t buf[2 * 64 + 32];
    bn_qmat w;
    bn_act a, a8;
    bn_error e;
    float y[8];
    const bn_kernel *k;
    ck_assert_int_eq(bn_kernel_get("basic", &k, &e), BN_OK);
    ck_assert_int_eq(bn_qmat_init(&w, BN_TYPE_I2_S, buf, sizeof buf, 256, 2, &e), BN_OK);
    ck_assert_int_eq(bn_act_init(&a, BN_ACT_TOKEN, 1, 128, &e), BN_OK);
    ck_assert_int_eq(bn_act_init(&a8, BN_ACT_Q8K, 1, 256, &e), BN_OK);
    act_fill(&a, 1, 0);
    act_fill(&a8, 1, 0);
    ck_assert_int_eq(bn_kernel_matmul(k, &w, &a, 0, 2, y, 2, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "128"));
    ck_assert_int_eq(bn_kernel_matmul(k, &w, &a8, 0, 2, y, 2, &e), BN_EUNSUPPORTED);
    bn_act_free(&a);
    ck_assert_int_eq(bn_act_init(&a, BN_ACT_TOKEN, 1, 256, &e), BN_OK);
    act_fill(&a, 1, 0);
    ck_assert_int_eq(bn_kernel_matmul(k, &w, &a, 0, 3, y, 2, &e), BN_EINVAL);
    ck_assert_int_eq(bn_kernel_matmul(k, &w, &a, 1, 1, y, 2, &e), BN_EINVAL);
    ck_assert_int_eq(bn_kernel_matmul(k, &w, &a, 0, 2, y, 1, &e), BN_EINVAL);
    ck_assert_int_eq(bn_kernel_matmul(k, &w, &a, 0, 2, y, 2, &e), BN_OK);

    ck_assert_int_eq(bn_kernel_get("nope", &k, &e), BN_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "basic"));
    size_t n;
    const bn_kernel *const *ks = bn_kernel_list(&n);
    ck_assert(n >= 3);
    ck_assert_int_eq(strcmp(ks[0]->name, "basic"), 0);
    for (size_t i = 0; i < n; i++) {
        bn_status st = bn_kernel_get(ks[i]->name, &k, &e);
        ck_assert_int_eq(st, ks[i]->available() ? BN_OK : BN_EUNSUPPORTED);
    }
    setenv("BN_KERNEL", "blocked", 1);
    ck_assert_int_eq(bn_kernel_best(&k, &e), BN_OK);
    ck_assert_int_eq(strcmp(k->name, "blocked"), 0);
    setenv("BN_KERNEL", "bogus", 1);
    ck_assert_int_eq(bn_kernel_best(&k, &e), BN_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "BN_KERNEL"));
    ck_assert_int_eq(bn_kernel_best(&k, NULL), BN_ENOTFOUND);
    ck_assert(k == NULL);
    unsetenv("BN_KERNEL");
    ck_assert_int_eq(bn_kernel_best(&k, &e), BN_OK);
    ck_assert(k->available());
    bn_act_free(&a);
    bn_act_free(&a8);
}
END_TEST

/* A kernel that is wrong by one in one sum of every call. */
static void off_by_one(const bn_qmat *w, const bn_act *x, int64_t r0, int64_t r1,
                       int64_t t0, int64_t t1, int32_t *acc)
{
    const bn_kernel *basic;
    bn_kernel_get("basic", &basic, NULL);
    basic->dot_i2s(w, x, r0, r1, t0, t1, acc);
    if (r1 - r0 > 2)
        acc[2] += 1;
}

static int always_yes(void) { return 1; }

START_TEST(test_selftest)
{
    size_t nk;
    const bn_kernel *const *ks = bn_kernel_list(&nk);
    bn_error e;
    for (size_t i = 0; i < nk; i++) {
        int64_t n = -1;
        bn_status st = bn_kernel_selftest(ks[i], 7, &n, &e);
        if (!ks[i]->available()) {
            ck_assert_int_eq(st, BN_EUNSUPPORTED);
            continue;
        }
        ck_assert_msg(st == BN_OK, "%s", e.msg);
        ck_assert_int_eq(n, 224);
    }
    const bn_kernel *basic;
    bn_kernel_get("basic", &basic, NULL);
    bn_kernel broken = *basic;
    broken.name = "broken";
    broken.available = always_yes;
    broken.dot_i2s = off_by_one;
    int64_t n = -1;
    ck_assert_int_eq(bn_kernel_selftest(&broken, 7, &n, &e), BN_EINTERNAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "broken"));
    ck_assert_ptr_nonnull(strstr(e.msg, "I2_S"));
    ck_assert(n >= 0 && n < 224);
}
END_TEST

/* The AMX kernel's tile edges: token counts around multiples of 16 (the
 * VNNI remainder), past 256 (a second pass of C sums), row counts around 16
 * and 32 (short row groups), columns past one 1024-column B segment; TQ2_0
 * likewise. Every
 * available kernel must agree with basic (run_shape); the test says when
 * this CPU or kernel has no AMX and there is nothing AMX-specific to run. */
START_TEST(test_amx_batches)
{
    const bn_kernel *k;
    bn_error e;
    if (bn_kernel_get("amx", &k, &e) != BN_OK) {
        printf("test_amx_batches: skipped: %s\n", e.msg);
        return;
    }
    static const int64_t shp[][3] = {
        {128, 1, 16}, {128, 17, 17}, {1152, 33, 31}, {2176, 31, 48},
        {1024, 64, 33}, {256, 100, 300}, {384, 16, 64}, {2048, 32, 257},
    };
    char msg[600] = "";
    for (size_t i = 0; i < sizeof shp / sizeof shp[0]; i++) {
        shape s = {BN_TYPE_I2_S, shp[i][0], shp[i][1], shp[i][2], BN_ACT_TOKEN, (int)(i % 4),
                   (int)(i % 3)};
        ck_assert_msg(!run_shape(&s, msg, sizeof msg), "I2_S %lldx%lld x %lld tok: %s",
                      (long long)s.ne1, (long long)s.ne0, (long long)s.n_tok, msg);
    }
    /* TQ2_0: per-block sums scattered 16 rows at a time, both activation kinds */
    static const int64_t tq[][3] = {{256, 1, 16}, {512, 33, 31}, {1280, 17, 48}, {256, 100, 65}};
    for (size_t i = 0; i < sizeof tq / sizeof tq[0]; i++) {
        shape s = {BN_TYPE_TQ2_0, tq[i][0], tq[i][1], tq[i][2], i % 2 ? BN_ACT_Q8K : BN_ACT_TOKEN,
                   (int)(i % 4), (int)(i % 3)};
        ck_assert_msg(!run_shape(&s, msg, sizeof msg), "TQ2_0 %lldx%lld x %lld tok: %s",
                      (long long)s.ne1, (long long)s.ne0, (long long)s.n_tok, msg);
    }
}
END_TEST

/* The amx kernel's small-batch path (weights as the A tile, 2..16 tokens;
 * 1 token and the remainders of 16-token groups by the same rule): every
 * token count 1..17, row counts and row ranges [r0, r1) that are not
 * multiples of 16 (short row groups and a short 64-row set), columns that
 * need one, two or three segments of laid-out activations, random bytes
 * (code 0b11 included) or packed ternary weights and extreme activations.
 * Sums and floats must equal basic's for each range. */
START_TEST(test_amx_small_batches)
{
    const bn_kernel *k, *basic;
    bn_error e;
    if (bn_kernel_get("amx", &k, &e) != BN_OK) {
        printf("test_amx_small_batches: skipped: %s\n", e.msg);
        return;
    }
    ck_assert_int_eq(bn_kernel_get("basic", &basic, NULL), BN_OK);
    static const int64_t cols[] = {128, 384, 2560, 4224, 6912};
    int ranges = 0;
    for (int64_t nt = 1; nt <= 17; nt++) {
        const int64_t ne0 = cols[nt % 5], ne1 = 16 * (nt % 6) + 67 + 2 * nt;
        const int wmode = (int)(nt % 3), amode = (int)(nt % 4);
        const size_t nbytes = type_bytes(BN_TYPE_I2_S, ne0, ne1);
        uint8_t *data = malloc(nbytes);
        int8_t *tern = malloc((size_t)(ne0 * ne1));
        for (int64_t i = 0; i < ne0 * ne1; i++)
            tern[i] = (int8_t)rnd_int(-1, 1);
        if (wmode == 0) {
            pack(BN_TYPE_I2_S, tern, ne0, ne1, NULL, 0.5f + (float)nt / 8.0f, data);
        } else {
            for (size_t i = 0; i < nbytes - 32; i++)
                data[i] = wmode == 1 ? (uint8_t)rnd() : 0xff;
            const float sc = 1.25f;
            memset(data + nbytes - 32, 0, 32);
            memcpy(data + nbytes - 32, &sc, 4);
        }
        bn_qmat w;
        bn_act a;
        ck_assert_int_eq(bn_qmat_init(&w, BN_TYPE_I2_S, data, nbytes, ne0, ne1, NULL), BN_OK);
        ck_assert_int_eq(bn_act_init(&a, BN_ACT_TOKEN, nt, ne0, NULL), BN_OK);
        act_fill(&a, nt, amode);
        const int64_t rr[][2] = {{0, ne1}, {5, ne1 - 3}, {17, 17 + 3 * nt + 1}, {ne1 - 1, ne1},
                                 {64 + 1, ne1}};
        const size_t n = (size_t)(nt * ne1);
        int32_t *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
        float *yw = malloc(n * sizeof *yw), *yg = malloc(n * sizeof *yg);
        for (size_t i = 0; i < sizeof rr / sizeof rr[0]; i++) {
            const int64_t r0 = rr[i][0], r1 = rr[i][1];
            memset(got, 0x55, n * sizeof *got);
            ck_assert_int_eq(bn_kernel_matmul_int(basic, &w, &a, r0, r1, want, NULL), BN_OK);
            ck_assert_int_eq(bn_kernel_matmul_int(k, &w, &a, r0, r1, got, NULL), BN_OK);
            for (int64_t j = 0; j < nt * (r1 - r0); j++)
                ck_assert_msg(got[j] == want[j], "amx %lld tok, %lldx%lld rows [%lld,%lld): sum of "
                              "token %lld row %lld = %d, basic %d", (long long)nt, (long long)ne1,
                              (long long)ne0, (long long)r0, (long long)r1,
                              (long long)(j / (r1 - r0)), (long long)(r0 + j % (r1 - r0)), got[j],
                              want[j]);
            memset(yg, 0, n * sizeof *yg);
            memset(yw, 0, n * sizeof *yw);
            ck_assert_int_eq(bn_kernel_matmul(basic, &w, &a, r0, r1, yw, ne1, NULL), BN_OK);
            ck_assert_int_eq(bn_kernel_matmul(k, &w, &a, r0, r1, yg, ne1, NULL), BN_OK);
            ck_assert_msg(memcmp(yg, yw, n * sizeof *yg) == 0, "amx %lld tok rows [%lld,%lld): "
                          "floats differ from basic", (long long)nt, (long long)r0, (long long)r1);
            ranges++;
        }
        free(want); free(got); free(yw); free(yg); free(data); free(tern);
        bn_act_free(&a);
    }
    ck_assert_int_eq(ranges, 17 * 5);
}
END_TEST

/* Row-parallel driver: the pool's result equals one serial call. */
START_TEST(test_matmul_par)
{
    const int64_t ne0 = 512, ne1 = 301, nt = 5;
    size_t nbytes = type_bytes(BN_TYPE_TQ2_0, ne0, ne1);
    uint8_t *data = malloc(nbytes);
    for (size_t i = 0; i < nbytes; i++)
        data[i] = (uint8_t)rnd();
    for (int64_t r = 0; r < ne1; r++)
        for (int b = 0; b < 2; b++) {
            data[r * 132 + b * 66 + 64] = 0x00;
            data[r * 132 + b * 66 + 65] = 0x3c; /* d = 1.0 */
        }
    bn_qmat w;
    bn_act a;
    ck_assert_int_eq(bn_qmat_init(&w, BN_TYPE_TQ2_0, data, nbytes, ne0, ne1, NULL), BN_OK);
    ck_assert_int_eq(bn_act_init(&a, BN_ACT_TOKEN, nt, ne0, NULL), BN_OK);
    act_fill(&a, nt, 0);
    float *y1 = malloc(sizeof(float) * (size_t)(nt * ne1)), *y2 = malloc(sizeof(float) * (size_t)(nt * ne1));
    const bn_kernel *k;
    ck_assert_int_eq(bn_kernel_best(&k, NULL), BN_OK);
    ck_assert_int_eq(bn_kernel_matmul(k, &w, &a, 0, ne1, y1, ne1, NULL), BN_OK);
    bn_pool *pool;
    ck_assert_int_eq(bn_pool_create(3, &pool, NULL), BN_OK);
    memset(y2, 0, sizeof(float) * (size_t)(nt * ne1));
    ck_assert_int_eq(bn_kernel_matmul_par(k, pool, &w, &a, y2, ne1, NULL), BN_OK);
    ck_assert_int_eq(memcmp(y1, y2, sizeof(float) * (size_t)(nt * ne1)), 0);
    memset(y2, 0, sizeof(float) * (size_t)(nt * ne1));
    ck_assert_int_eq(bn_kernel_matmul_par(k, NULL, &w, &a, y2, ne1, NULL), BN_OK);
    ck_assert_int_eq(memcmp(y1, y2, sizeof(float) * (size_t)(nt * ne1)), 0);
    bn_pool_destroy(pool);
    bn_act_free(&a);
    free(data); free(y1); free(y2);
}
END_TEST

/* The fused TQ2_0 decode (bn_kernel.mv_tq2, the matmul's 1-token path):
 * every one of the 65536 fp16 block scales (NaNs signalling and quiet, infs,
 * subnormals, -0) over random code bytes (0b11 included), both activation
 * kinds, row ranges that start and end inside a 16-row group: each kernel's
 * floats are basic's bit for bit (a NaN where basic has one: which NaN's
 * payload an add keeps is the compiler's choice of operand order), and no
 * float outside the range is written. */
START_TEST(test_tq2_mv)
{
    const int64_t nb = 32, ne0 = 256 * nb, ne1 = 65536 / nb;
    const size_t rb = (size_t)nb * 66, nbytes = rb * (size_t)ne1;
    uint8_t *data = malloc(nbytes);
    for (size_t i = 0; i < nbytes; i++)
        data[i] = (uint8_t)rnd();
    for (int64_t r = 0; r < ne1; r++)
        for (int64_t b = 0; b < nb; b++) { /* block r * nb + b has d = bits r * nb + b */
            uint8_t *p = data + (size_t)r * rb + (size_t)b * 66 + 64;
            p[0] = (uint8_t)(r * nb + b);
            p[1] = (uint8_t)((r * nb + b) >> 8);
        }
    bn_qmat w;
    ck_assert_int_eq(bn_qmat_init(&w, BN_TYPE_TQ2_0, data, nbytes, ne0, ne1, NULL), BN_OK);
    float *ref = malloc(sizeof(float) * (size_t)ne1), *got = malloc(sizeof(float) * (size_t)ne1);
    const bn_kernel *basic;
    ck_assert_int_eq(bn_kernel_get("basic", &basic, NULL), BN_OK);
    static const int64_t ranges[][2] = {{0, 2048}, {5, 2043}, {1000, 1013}, {2047, 2048}};
    size_t nk;
    const bn_kernel *const *ks = bn_kernel_list(&nk);
    int fused = 0;
    for (int kind = 0; kind < 2; kind++) {
        bn_act a;
        ck_assert_int_eq(bn_act_init(&a, kind ? BN_ACT_Q8K : BN_ACT_TOKEN, 1, ne0, NULL), BN_OK);
        act_fill(&a, 1, 0);
        for (size_t g = 0; g < sizeof ranges / sizeof ranges[0]; g++) {
            const int64_t r0 = ranges[g][0], r1 = ranges[g][1];
            memset(ref, 0x5a, sizeof(float) * (size_t)ne1);
            ck_assert_int_eq(bn_kernel_matmul(basic, &w, &a, r0, r1, ref, ne1, NULL), BN_OK);
            for (size_t i = 1; i < nk; i++) {
                if (!ks[i]->available())
                    continue;
                fused += ks[i]->mv_tq2 != NULL;
                memset(got, 0x5a, sizeof(float) * (size_t)ne1);
                ck_assert_int_eq(bn_kernel_matmul(ks[i], &w, &a, r0, r1, got, ne1, NULL), BN_OK);
                for (int64_t r = 0; r < ne1; r++)
                    ck_assert_msg(r >= r0 && r < r1 && isnan(got[r]) && isnan(ref[r])
                                      ? 1 : memcmp(&got[r], &ref[r], sizeof(float)) == 0,
                                  "%s, %s, rows [%lld, %lld): y[%lld] = %08x, basic %08x",
                                  ks[i]->name, kind ? "q8k" : "token", (long long)r0,
                                  (long long)r1, (long long)r, *(const uint32_t *)&got[r],
                                  *(const uint32_t *)&ref[r]);
            }
        }
        bn_act_free(&a);
    }
    if (!fused)
        printf("test_tq2_mv: no available kernel has a fused TQ2_0 decode; the others ran\n");
    free(data); free(ref); free(got);
}
END_TEST

/* The TQ1_0 -> TQ2_0 runtime layout (kernels.h bn_qmat_tq1_to_tq2_rows): per
 * element the trit FORMATS.md 2.2 decodes from the TQ1_0 bytes (every byte
 * value, qh included) is the one in TQ2_0's field, d's two bytes are kept,
 * rows outside the range are not written, and every kernel's sums and floats
 * on the repacked matrix are basic's on the TQ1_0 bytes, for both activation
 * kinds, decode and batches. */
static int tq1_trit(const uint8_t *blk, int k)
{
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    int byte = k < 160 ? k % 32 : k < 240 ? 32 + (k - 160) % 16 : 48 + (k - 240) % 4;
    int n = k < 160 ? k / 32 : k < 240 ? (k - 160) / 16 : (k - 240) / 4;
    return ((uint8_t)(blk[byte] * pow3[n])) * 3 >> 8;
}

START_TEST(test_tq1_repack)
{
    const int64_t nb = 10, ne0 = 256 * nb, ne1 = 37, nt = 17;
    size_t n1 = type_bytes(BN_TYPE_TQ1_0, ne0, ne1), n2 = type_bytes(BN_TYPE_TQ2_0, ne0, ne1);
    uint8_t *d1 = malloc(n1), *d2 = malloc(n2);
    for (size_t i = 0; i < n1; i++)
        d1[i] = (uint8_t)rnd();
    for (int64_t b = 0; b < ne1 * nb; b++) { /* finite d, the rest of the bytes random */
        d1[b * 54 + 52] = (uint8_t)rnd();
        d1[b * 54 + 53] = (uint8_t)(0x30 + rnd() % 16);
    }
    memset(d2, 0xa5, n2);
    bn_qmat w1, w2;
    ck_assert_int_eq(bn_qmat_init(&w1, BN_TYPE_TQ1_0, d1, n1, ne0, ne1, NULL), BN_OK);
    bn_qmat_tq1_to_tq2_rows(&w1, 3, 20, d2);
    for (size_t i = 0; i < n2; i++) /* rows [3, 20) only */
        if (i < 3 * (size_t)nb * 66 || i >= 20 * (size_t)nb * 66)
            ck_assert_msg(d2[i] == 0xa5, "byte %zu outside rows [3, 20) written", i);
    bn_qmat_tq1_to_tq2_rows(&w1, 0, 3, d2);
    bn_qmat_tq1_to_tq2_rows(&w1, 20, ne1, d2);
    for (int64_t b = 0; b < ne1 * nb; b++) {
        const uint8_t *p1 = d1 + b * 54, *p2 = d2 + b * 66;
        for (int k = 0; k < 256; k++) {
            int t2 = p2[32 * (k / 128) + k % 32] >> (2 * ((k % 128) / 32)) & 3;
            ck_assert_msg(t2 == tq1_trit(p1, k), "block %lld element %d: trit %d, TQ1_0 has %d",
                          (long long)b, k, t2, tq1_trit(p1, k));
        }
        ck_assert_msg(p2[64] == p1[52] && p2[65] == p1[53], "block %lld: d changed", (long long)b);
    }
    ck_assert_int_eq(bn_qmat_init(&w2, BN_TYPE_TQ2_0, d2, n2, ne0, ne1, NULL), BN_OK);
    const bn_kernel *basic;
    ck_assert_int_eq(bn_kernel_get("basic", &basic, NULL), BN_OK);
    size_t nk, ny = (size_t)(nt * ne1);
    const bn_kernel *const *ks = bn_kernel_list(&nk);
    int32_t *s1 = malloc(sizeof(int32_t) * ny * (size_t)nb), *s2 = malloc(sizeof(int32_t) * ny * (size_t)nb);
    float *y1 = malloc(sizeof(float) * ny), *y2 = malloc(sizeof(float) * ny);
    for (int kind = 0; kind < 2; kind++)
        for (int64_t n = 1; n <= nt; n += nt - 1) {
            bn_act a;
            ck_assert_int_eq(bn_act_init(&a, kind ? BN_ACT_Q8K : BN_ACT_TOKEN, nt, ne0, NULL), BN_OK);
            act_fill(&a, n, 0);
            ck_assert_int_eq(bn_kernel_matmul_int(basic, &w1, &a, 0, ne1, s1, NULL), BN_OK);
            ck_assert_int_eq(bn_kernel_matmul(basic, &w1, &a, 0, ne1, y1, ne1, NULL), BN_OK);
            for (size_t i = 0; i < nk; i++) {
                if (!ks[i]->available())
                    continue;
                ck_assert_int_eq(bn_kernel_matmul_int(ks[i], &w2, &a, 0, ne1, s2, NULL), BN_OK);
                ck_assert_msg(!memcmp(s1, s2, sizeof(int32_t) * (size_t)(n * ne1 * nb)),
                              "%s: repacked sums differ (%lld tokens, %s)", ks[i]->name,
                              (long long)n, kind ? "q8k" : "token");
                ck_assert_int_eq(bn_kernel_matmul(ks[i], &w2, &a, 0, ne1, y2, ne1, NULL), BN_OK);
                ck_assert_msg(!memcmp(y1, y2, sizeof(float) * (size_t)(n * ne1)),
                              "%s: repacked floats differ (%lld tokens, %s)", ks[i]->name,
                              (long long)n, kind ? "q8k" : "token");
            }
            bn_act_free(&a);
        }
    free(d1); free(d2); free(s1); free(s2); free(y1); free(y2);
}
END_TEST

/* ---- activation quantization: whatever form runs here (AVX-512 or scalar)
 * against the rule of kernels.h contract 4 written out again, on random rows
 * with adversarial values (ties after float rounding, NaN, inf, huge, tiny,
 * -0), and the pool form against the serial one. ---- */

static void ref_quantize_token(const float *x, int64_t n, int8_t *q, float *sa, int32_t *sum,
                               int32_t *bsum)
{
    double a = 0.00001;
    for (int64_t i = 0; i < n; i++)
        if (fabs((double)x[i]) > a)
            a = fabs((double)x[i]);
    float s = (float)(127.0 / a);
    int32_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        volatile float p = x[i] * s; /* rounded to float before rounding to int */
        float r = p;
        q[i] = isnan(r) ? 0 : r >= 127.0f ? 127 : r <= -128.0f ? -128 : (int8_t)nearbyintf(r);
        total += q[i];
        if (i % BN_ACT_GROUP == BN_ACT_GROUP - 1) {
            int32_t g = 0;
            for (int64_t k = i - BN_ACT_GROUP + 1; k <= i; k++)
                g += q[k];
            bsum[i / BN_ACT_GROUP] = g;
        }
    }
    *sa = s;
    *sum = total;
}

/* ggml's Q8_K rule (kernels.h contract 4) written out again: per 256-block,
 * the first element of largest |x| (strict >, from 0: NaN never counts)
 * gives iscale = -127 / it, d = 1 / iscale; a block whose max is 0 is 0. */
static void ref_quantize_q8k(const float *x, int64_t n, int8_t *q, float *d, int32_t *sum,
                             int32_t *bsum)
{
    for (int64_t b = 0; b < n / 256; b++) {
        float amax = 0.0f, m = 0.0f;
        for (int64_t i = b * 256; i < (b + 1) * 256; i++)
            if (fabsf(x[i]) > amax)
                amax = fabsf(x[i]), m = x[i];
        float is = amax == 0.0f ? 0.0f : -127.0f / m;
        for (int64_t i = b * 256; i < (b + 1) * 256; i++) {
            volatile float p = is * x[i];
            float r = p;
            q[i] = amax == 0.0f || isnan(r) ? 0 : r >= 127.0f ? 127 : r <= -128.0f ? -128
                                                                  : (int8_t)nearbyintf(r);
        }
        d[b] = amax == 0.0f ? 0.0f : 1.0f / is;
    }
    int32_t total = 0;
    for (int64_t g = 0; g < n / BN_ACT_GROUP; g++) {
        int32_t s = 0;
        for (int64_t i = g * BN_ACT_GROUP; i < (g + 1) * BN_ACT_GROUP; i++)
            s += q[i];
        bsum[g] = s;
        total += s;
    }
    *sum = total;
}

/* A random row of n floats at a random magnitude (returned), with six
 * adversarial elements by `special`: 1 NaN, 2 +-inf, 3 -0, 4 1e-7 (below the
 * token rule's 1e-5 clamp), 5 halves (.5 ties at scale 1 / d = -1). */
static float random_act_row(float *x, int64_t n, int special)
{
    float amp = (float)ldexp(1.0, rnd_int(-30, 30));
    for (int64_t i = 0; i < n; i++)
        x[i] = amp * (float)((double)(int64_t)(rnd() % 2000001) / 1000000.0 - 1.0);
    for (int k = 0; k < 6; k++) {
        int64_t i = (int64_t)(rnd() % (uint64_t)n);
        if (special == 1) x[i] = NAN;
        if (special == 2) x[i] = k % 2 ? INFINITY : -INFINITY;
        if (special == 3) x[i] = -0.0f;
        if (special == 4) x[i] = 1e-7f;
        if (special == 5) x[i] = (float)(rnd_int(-254, 254)) / 2.0f;
    }
    return amp;
}

START_TEST(test_actquant_q8k_random)
{
    enum { N = 6912 };
    float *x = malloc(sizeof(float) * N), d1[N / 256], d2[N / 256];
    int8_t q1[N], q2[N];
    int32_t b1[N / BN_ACT_GROUP], b2[N / BN_ACT_GROUP], s1, s2;
    for (int it = 0; it < 400; it++) {
        int64_t n = 256 * rnd_int(1, N / 256);
        int special = it % 8;
        float amp = random_act_row(x, n, special);
        if (special == 5) /* |x| 127 twice in block 0: the first (-127) wins */
            x[3] = -127.0f, x[200] = 127.0f;
        if (special == 6) /* zero blocks, one holding a NaN and a -0 */
            for (int64_t i = 0; i < n && i < 2 * 256; i++)
                x[i] = i == 7 ? NAN : i == 9 ? -0.0f : 0.0f;
        if (special == 7) /* the max in the last lane of a block */
            x[256 - 1] = 4.0f * amp;
        bn_act_quantize_row_q8k(x, n, q1, d1, &s1, b1);
        ref_quantize_q8k(x, n, q2, d2, &s2, b2);
        ck_assert_msg(memcmp(d1, d2, sizeof(float) * (size_t)(n / 256)) == 0,
                      "row %d: block scales differ", it);
        ck_assert_msg(memcmp(q1, q2, (size_t)n) == 0, "row %d (n %lld): codes differ", it,
                      (long long)n);
        ck_assert_int_eq(s1, s2);
        ck_assert_int_eq(memcmp(b1, b2, sizeof(int32_t) * (size_t)(n / BN_ACT_GROUP)), 0);
    }
    free(x);
}
END_TEST

START_TEST(test_actquant_token_random)
{
    enum { N = 2560 + 128 };
    float *x = malloc(sizeof(float) * N);
    int8_t q1[N], q2[N];
    int32_t b1[N / BN_ACT_GROUP], b2[N / BN_ACT_GROUP], s1, s2;
    float sa1, sa2;
    for (int it = 0; it < 400; it++) {
        int64_t n = BN_ACT_GROUP * rnd_int(1, N / BN_ACT_GROUP);
        int special = it % 8;
        random_act_row(x, n, special);
        if (special == 5)
            x[0] = 127.0f, x[1] = -126.5f;
        if (special == 6)
            for (int64_t i = 0; i < n; i++)
                x[i] = 0.0f;
        bn_act_quantize_row_token(x, n, q1, &sa1, &s1, b1);
        ref_quantize_token(x, n, q2, &sa2, &s2, b2);
        ck_assert_msg(memcmp(&sa1, &sa2, sizeof sa1) == 0, "row %d: scale %g, want %g", it,
                      (double)sa1, (double)sa2);
        ck_assert_msg(memcmp(q1, q2, (size_t)n) == 0, "row %d (n %lld): codes differ", it,
                      (long long)n);
        ck_assert_int_eq(s1, s2);
        ck_assert_int_eq(memcmp(b1, b2, sizeof(int32_t) * (size_t)(n / BN_ACT_GROUP)), 0);
    }
    /* the pool form: the same bytes as the serial one, for both kinds */
    bn_pool *pool;
    ck_assert_int_eq(bn_pool_create(3, &pool, NULL), BN_OK);
    for (int kind = 0; kind < 2; kind++) {
        const int64_t ne0 = 512, nt = 37;
        float *xs = malloc(sizeof(float) * (size_t)(ne0 * nt));
        for (int64_t i = 0; i < ne0 * nt; i++)
            xs[i] = (float)((double)(int64_t)(rnd() % 2001) / 100.0 - 10.0);
        bn_act a, b;
        bn_act_kind k = kind ? BN_ACT_Q8K : BN_ACT_TOKEN;
        ck_assert_int_eq(bn_act_init(&a, k, nt, ne0, NULL), BN_OK);
        ck_assert_int_eq(bn_act_init(&b, k, nt, ne0, NULL), BN_OK);
        ck_assert_int_eq(bn_act_quantize(&a, xs, nt, NULL), BN_OK);
        ck_assert_int_eq(bn_act_quantize_par(&b, pool, xs, nt, NULL), BN_OK);
        ck_assert_int_eq(b.n_tok, nt);
        ck_assert_int_eq(memcmp(a.q, b.q, (size_t)(ne0 * nt)), 0);
        size_t nsc = kind ? (size_t)(nt * ne0 / 256) : (size_t)nt;
        ck_assert_int_eq(memcmp(a.scale, b.scale, sizeof(float) * nsc), 0);
        ck_assert_int_eq(memcmp(a.sum, b.sum, sizeof(int32_t) * (size_t)nt), 0);
        ck_assert_int_eq(memcmp(a.bsum, b.bsum, sizeof(int32_t) * (size_t)(nt * ne0 / 128)), 0);
        ck_assert_int_eq(bn_act_quantize_par(&b, pool, xs, nt + 1, NULL), BN_EINVAL);
        bn_act_free(&a);
        bn_act_free(&b);
        free(xs);
    }
    bn_pool_destroy(pool);
    free(x);
}
END_TEST

#define TESTS(X)                     \
    X(test_actquant_token)           \
    X(test_actquant_token_random)    \
    X(test_actquant_q8k)             \
    X(test_actquant_q8k_random)      \
    X(test_act_init_quantize)        \
    X(test_qmat_init)                \
    X(test_i2s_worked_example)       \
    X(test_golden_tq)                \
    X(test_shapes_i2s)               \
    X(test_shapes_tq2)               \
    X(test_shapes_tq1)               \
    X(test_tq_token_counts)          \
    X(test_extreme_k)                \
    X(test_matmul_args_and_table)    \
    X(test_selftest)                 \
    X(test_amx_batches)              \
    X(test_amx_small_batches)        \
    X(test_matmul_par)               \
    X(test_tq2_mv)                   \
    X(test_tq1_repack)

#ifndef BN_NO_CHECK
int main(void)
{
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
#define ADD(t) tcase_add_test(tc, t);
    TESTS(ADD)
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
#else
int main(void)
{
    int n = 0, failures = 0;
    size_t nk;
    const bn_kernel *const *ks = bn_kernel_list(&nk);
    printf("kernels available:");
    for (size_t i = 0; i < nk; i++)
        if (ks[i]->available())
            printf(" %s", ks[i]->name);
    printf("\n");
#define RUN(t)                                              \
    mc_failed = 0;                                          \
    t();                                                    \
    n++;                                                    \
    failures += mc_failed;                                  \
    printf("%s %s\n", mc_failed ? "FAIL" : "ok  ", #t);
    TESTS(RUN)
    printf("Checks: %d, Failures: %d, Errors: 0\n", n, failures);
    return failures ? 1 : 0;
}
#endif
