/*
 * selftest.c - the SQLite-style kernel self-test behind bn-verify --kernels:
 * one program of shapes and data drives a kernel and the basic reference,
 * and every int32 sum and every float must agree bit for bit.
 *
 * The data is what a hostile file could hold: random weight bytes (so I2_S
 * and TQ2_0 see the never-written code 0b11 and TQ1_0 sees bytes no packer
 * emits), random fp16 block scales, and activations that are random, all
 * -128, all 127 or alternating extremes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kern.h"
#include "bn/util.h"

typedef struct {
    uint64_t s;
} rng_t;

static uint64_t next(rng_t *r)
{
    return bn_rng_next(&r->s);
}

/* Finite, normal fp16 of either sign, exponent 2^-8 .. 2^3. */
static void put_random_d(rng_t *r, uint8_t *p)
{
    uint16_t h = (uint16_t)((next(r) & 0x83ff) | (uint16_t)(7 + next(r) % 12) << 10);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

static void fill_act(rng_t *r, bn_act *a, int64_t n_tok, int mode)
{
    const int64_t ng = a->ne0 / BN_ACT_GROUP, nb = a->ne0 / BN_QK;
    a->n_tok = n_tok;
    for (int64_t t = 0; t < n_tok; t++) {
        int8_t *q = a->q + t * a->ne0;
        for (int64_t k = 0; k < a->ne0; k++)
            q[k] = mode == 0 ? (int8_t)(next(r) & 0xff) : mode == 1 ? -128 : mode == 2 ? 127
                 : (k + t) % 2 ? 127 : -128;
        a->sum[t] = 0;
        for (int64_t g = 0; g < ng; g++) {
            int32_t s = 0;
            for (int i = 0; i < BN_ACT_GROUP; i++)
                s += q[g * BN_ACT_GROUP + i];
            a->bsum[t * ng + g] = s;
            a->sum[t] += s;
        }
        if (a->kind == BN_ACT_TOKEN)
            a->scale[t] = 0.5f + (float)(next(r) % 1000) / 8.0f;
        else
            for (int64_t b = 0; b < nb; b++)
                a->scale[t * nb + b] = (float)(next(r) % 1000 + 1) / 65536.0f;
    }
}

/* One shape: BN_OK when k agrees with basic, else the first difference in err. */
static bn_status run_one(const bn_kernel *k, rng_t *r, bn_type type, int64_t ne0, int64_t ne1,
                         int64_t nt, bn_act_kind kind, int mode, bn_error *err)
{
    const size_t bb = type == BN_TYPE_TQ2_0 ? BN_TQ2_BLOCK_BYTES : BN_TQ1_BLOCK_BYTES;
    const size_t row_bytes = type == BN_TYPE_I2_S ? (size_t)ne0 / 4 : (size_t)(ne0 / BN_QK) * bb;
    const size_t nbytes = row_bytes * (size_t)ne1 + (type == BN_TYPE_I2_S ? 32 : 0);
    uint8_t *data = malloc(nbytes);
    bn_act a;
    bn_qmat w;
    int32_t *s_ref = NULL, *s_got = NULL;
    float *y_ref = NULL, *y_got = NULL;
    bn_status st = BN_OK;
    memset(&a, 0, sizeof a);
    if (!data)
        return bn_error_set(err, BN_ENOMEM, "kernel self-test: out of memory");
    for (size_t i = 0; i < nbytes; i++)
        data[i] = (uint8_t)next(r);
    if (type == BN_TYPE_I2_S) {
        float sw = 0.25f + (float)(next(r) % 100) / 64.0f;
        memset(data + nbytes - 32, 0, 32);
        memcpy(data + nbytes - 32, &sw, sizeof sw);
    } else {
        for (size_t b = 0; b < nbytes / bb; b++)
            put_random_d(r, data + b * bb + bb - 2);
    }
    if ((st = bn_qmat_init(&w, type, data, nbytes, ne0, ne1, err)) ||
        (st = bn_act_init(&a, kind, nt, ne0, err)))
        goto out;
    fill_act(r, &a, nt, mode);
    const size_t nsum = (size_t)(nt * ne1 * bn_qmat_sums_per_row(&w)), ny = (size_t)(nt * ne1);
    s_ref = malloc(nsum * sizeof *s_ref);
    s_got = malloc(nsum * sizeof *s_got);
    y_ref = malloc(ny * sizeof *y_ref);
    y_got = malloc(ny * sizeof *y_got);
    if (!s_ref || !s_got || !y_ref || !y_got) {
        st = bn_error_set(err, BN_ENOMEM, "kernel self-test: out of memory");
        goto out;
    }
    if ((st = bn_kernel_matmul_int(&bnr_kernel_basic, &w, &a, 0, ne1, s_ref, err)) ||
        (st = bn_kernel_matmul_int(k, &w, &a, 0, ne1, s_got, err)) ||
        (st = bn_kernel_matmul(&bnr_kernel_basic, &w, &a, 0, ne1, y_ref, ne1, err)) ||
        (st = bn_kernel_matmul(k, &w, &a, 0, ne1, y_got, ne1, err)))
        goto out;
    const char *tn = type == BN_TYPE_I2_S ? "I2_S" : type == BN_TYPE_TQ2_0 ? "TQ2_0" : "TQ1_0";
    for (size_t i = 0; i < nsum; i++)
        if (s_got[i] != s_ref[i]) {
            st = bn_error_set(err, BN_EINTERNAL, "kernel '%s': %s %lldx%lld, %lld tokens: integer "
                              "sum %zu is %d, basic gives %d", k->name, tn, (long long)ne1,
                              (long long)ne0, (long long)nt, i, s_got[i], s_ref[i]);
            goto out;
        }
    for (size_t i = 0; i < ny; i++)
        /* Bit-exact on purpose: kernels promise identical results, and NaN or
         * -0.0 must not compare equal to something else. */
        /* NOLINTNEXTLINE(bugprone-suspicious-memory-comparison,cert-exp42-c,cert-flp37-c) */
        if (memcmp(&y_got[i], &y_ref[i], sizeof(float)) != 0) {
            st = bn_error_set(err, BN_EINTERNAL, "kernel '%s': %s %lldx%lld, %lld tokens: output "
                              "%zu is %.9g, basic gives %.9g", k->name, tn, (long long)ne1,
                              (long long)ne0, (long long)nt, i, y_got[i], y_ref[i]);
            goto out;
        }
out:
    free(data);
    free(s_ref);
    free(s_got);
    free(y_ref);
    free(y_got);
    bn_act_free(&a);
    return st;
}

bn_status bn_kernel_selftest(const bn_kernel *k, uint64_t seed, int64_t *n_checked, bn_error *err)
{
    static const int64_t rows[] = {1, 3, 17, 64};
    static const int64_t cols[] = {128, 256, 384, 512, 1280, 4096};
    static const int64_t toks[] = {1, 2, 7, 64};
    static const bn_type types[] = {BN_TYPE_I2_S, BN_TYPE_TQ2_0, BN_TYPE_TQ1_0};
    if (n_checked)
        *n_checked = 0;
    if (!k)
        return bn_error_set(err, BN_EINVAL, "kernel self-test: no kernel");
    if (!k->available())
        return bn_error_set(err, BN_EUNSUPPORTED, "kernel '%s' is not supported by this CPU",
                            k->name);
    rng_t r = {seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull};
    int v = 0;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
            if (types[ti] != BN_TYPE_I2_S && cols[c] % BN_QK)
                continue;
            for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++)
                for (size_t t = 0; t < sizeof toks / sizeof toks[0]; t++, v++) {
                    bn_act_kind kind = types[ti] != BN_TYPE_I2_S && v % 2 ? BN_ACT_Q8K : BN_ACT_TOKEN;
                    bn_status st = run_one(k, &r, types[ti], cols[c], rows[ri], toks[t], kind,
                                           v % 4, err);
                    if (st)
                        return st;
                    if (n_checked)
                        (*n_checked)++;
                }
        }
    return BN_OK;
}
