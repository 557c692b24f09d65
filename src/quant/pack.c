/*
 * pack.c - the packers and unpackers for every tensor type bntk writes:
 * F32, F16, BF16, Q8_0, TQ1_0, TQ2_0 (bytes identical to gguf-py's
 * quants.quantize) and I2_S (bitnet.cpp's 128-element / 32-byte layout plus a
 * 32-byte per-tensor tail). See FORMATS.md §2 and quant.h.
 *
 * Every function here works on a row range of a whole tensor so callers can
 * split work across threads; the threaded whole-tensor helpers live in
 * pack_threads.c.
 */
#include "bn/quant.h"

#include <math.h>
#include <string.h>

#include "bn/util.h"
#include "quant/quant_internal.h"

/* ---- layout ---------------------------------------------------------------- */

/* Elements per block of the row layout, 0 for a type this module does not pack. */
static int64_t pack_block(bn_type t)
{
    switch (t) {
    case BN_TYPE_F32:
    case BN_TYPE_F16:
    case BN_TYPE_BF16: return 1;
    case BN_TYPE_Q8_0: return BN_QK_Q8_0;
    case BN_TYPE_Q4_K:
    case BN_TYPE_Q6_K:
    case BN_TYPE_TQ1_0:
    case BN_TYPE_TQ2_0: return BN_QK_TQ;
    case BN_TYPE_I2_S: return BN_QK_I2_S;
    }
    return 0;
}

/* Bytes per block of pack_block(t) elements. */
static size_t pack_block_bytes(bn_type t)
{
    switch (t) {
    case BN_TYPE_F32: return 4;
    case BN_TYPE_F16:
    case BN_TYPE_BF16: return 2;
    case BN_TYPE_Q8_0: return 2 + BN_QK_Q8_0;
    case BN_TYPE_Q4_K: return 144;
    case BN_TYPE_Q6_K: return 210;
    case BN_TYPE_TQ1_0: return 48 + 4 + 2;
    case BN_TYPE_TQ2_0: return 64 + 2;
    case BN_TYPE_I2_S: return BN_QK_I2_S / 4;
    }
    return 0;
}

bn_status bnq_row_bytes(bn_type t, int64_t ne0, size_t *out, bn_error *err)
{
    int64_t blk = pack_block(t);
    if (blk == 0)
        return bn_error_set(err, BN_EUNSUPPORTED, "tensor type %u (%s) cannot be packed or unpacked here",
                            (unsigned)t, bn_type_name((uint32_t)t));
    if (ne0 <= 0 || ne0 % blk != 0)
        return bn_error_set(err, BN_EINVAL, "row length %lld is not a positive multiple of the %s block (%lld)",
                            (long long)ne0, bn_type_name((uint32_t)t), (long long)blk);
    if (bn_mul_ovf_size((size_t)(ne0 / blk), pack_block_bytes(t), out))
        return bn_error_set(err, BN_ELIMIT, "row length %lld of %s overflows size_t", (long long)ne0,
                            bn_type_name((uint32_t)t));
    return BN_OK;
}

bn_status bn_quant_packed_size(bn_type t, int64_t ne0, int64_t n_rows, size_t *out, bn_error *err)
{
    size_t rb, total;
    bn_status st = bnq_row_bytes(t, ne0, &rb, err);
    if (st)
        return st;
    if (n_rows < 0)
        return bn_error_set(err, BN_EINVAL, "negative row count %lld", (long long)n_rows);
    if (bn_mul_ovf_size(rb, (size_t)n_rows, &total) ||
        (t == BN_TYPE_I2_S && bn_add_ovf_size(total, BN_I2_S_TAIL, &total)))
        return bn_error_set(err, BN_ELIMIT, "%s tensor of %lld x %lld overflows size_t",
                            bn_type_name((uint32_t)t), (long long)n_rows, (long long)ne0);
    *out = total;
    return BN_OK;
}

static bn_status check_range(int64_t r0, int64_t r1, bn_error *err)
{
    if (r0 < 0 || r1 < r0)
        return bn_error_set(err, BN_EINVAL, "bad row range [%lld, %lld)", (long long)r0, (long long)r1);
    return BN_OK;
}

uint32_t bn_quant_file_type(bn_type t)
{
    switch (t) {
    case BN_TYPE_F32: return 0;
    case BN_TYPE_F16: return 1;
    case BN_TYPE_Q8_0: return 7;
    case BN_TYPE_Q4_K:
    case BN_TYPE_Q6_K: return UINT32_MAX; /* embeddings/head only, never the bulk type */
    case BN_TYPE_BF16: return 32;
    case BN_TYPE_TQ1_0: return 36;
    case BN_TYPE_TQ2_0: return 37;
    case BN_TYPE_I2_S: return 40;
    }
    return UINT32_MAX;
}

/* ---- little-endian scalars ---------------------------------------------------- */

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)(v >> 8);
}

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static void put_f32(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(u >> (8 * i));
}


/* ---- block encoders ---------------------------------------------------------- */

/* gguf-py's np_roundf (floor(a) + floor(2(a - floor(a))), signed) is round half
 * away from zero, which is C's roundf for every float; the TQ/Q8_0 quantizers
 * compute x * (1/d) in float32, not x / d, and so do we. */

/* Trits (0, 1, 2) of one 256-element block and its d, as gguf-py's TQ quantizers
 * compute them from floats. */
static void tq_trits_from_f32(const float *x, uint8_t trit[BN_QK_TQ], float *d_out)
{
    float d = 0.0f;
    for (int k = 0; k < BN_QK_TQ; k++)
        d = fmaxf(d, fabsf(x[k]));
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int k = 0; k < BN_QK_TQ; k++)
        trit[k] = (uint8_t)((int)roundf(x[k] * id) + 1);
    *d_out = d;
}

/* TQ2_0: qs[64] then fp16 d. Element k = 128j + 32l + m lives in qs[32j + m],
 * bits 2l..2l+1. */
static void tq2_encode(const uint8_t trit[BN_QK_TQ], float d, uint8_t *out)
{
    memset(out, 0, 64);
    for (int k = 0; k < BN_QK_TQ; k++) {
        int j = k / 128, l = (k % 128) / 32, m = k % 32;
        out[32 * j + m] |= (uint8_t)(trit[k] << (2 * l));
    }
    put_u16(out + 64, bn_f32_to_f16(d));
}

/* TQ1_0: qs[48], qh[4], fp16 d. Five trits per byte as base-3 digits, most
 * significant first, stored as the fixed-point fraction ceil(v * 256 / 243). */
static uint8_t tq1_pack5(const uint8_t *trit, int stride, int count)
{
    unsigned v = 0;
    for (int n = 0; n < count; n++)
        v = v * 3 + trit[n * stride];
    for (int n = count; n < 5; n++)
        v *= 3; /* qh bytes carry four trits: the fifth digit is 0 */
    return (uint8_t)((v * 256 + 242) / 243);
}

static void tq1_encode(const uint8_t trit[BN_QK_TQ], float d, uint8_t *out)
{
    for (int m = 0; m < 32; m++)
        out[m] = tq1_pack5(trit + m, 32, 5);
    for (int m = 0; m < 16; m++)
        out[32 + m] = tq1_pack5(trit + 160 + m, 16, 5);
    for (int j = 0; j < 4; j++)
        out[48 + j] = tq1_pack5(trit + 240 + j, 4, 4);
    put_u16(out + 52, bn_f32_to_f16(d));
}

static void q8_0_encode(const float *x, uint8_t *out)
{
    float amax = 0.0f;
    for (int k = 0; k < BN_QK_Q8_0; k++)
        amax = fmaxf(amax, fabsf(x[k]));
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    put_u16(out, bn_f32_to_f16(d));
    for (int k = 0; k < BN_QK_Q8_0; k++)
        out[2 + k] = (uint8_t)(int8_t)roundf(x[k] * id);
}

/* ---- float packers ---------------------------------------------------------- */

static bn_status check_finite_row(bn_type t, const float *x, int64_t ne0, int64_t row, bn_error *err)
{
    for (int64_t c = 0; c < ne0; c++)
        if (!isfinite(x[c]))
            return bn_error_set(err, BN_EINVAL, "row %lld, column %lld: value %g cannot be packed as %s",
                                (long long)row, (long long)c, (double)x[c], bn_type_name((uint32_t)t));
    return BN_OK;
}

bn_status bn_pack_f32_rows(bn_type t, const float *src, int64_t ne0, int64_t r0, int64_t r1,
                           void *dst, bn_error *err)
{
    size_t rb;
    bn_status st = bnq_row_bytes(t, ne0, &rb, err);
    if (st || (st = check_range(r0, r1, err)))
        return st;
    if (t == BN_TYPE_I2_S)
        return bn_error_set(err, BN_EINVAL, "I2_S is packed from ternary codes, not floats: "
                                            "ternarize first (bn_quant_tensor)");
    for (int64_t r = r0; r < r1; r++) {
        const float *x = src + (size_t)r * (size_t)ne0;
        uint8_t *o = (uint8_t *)dst + (size_t)r * rb;
        switch (t) {
        case BN_TYPE_F32:
            for (int64_t c = 0; c < ne0; c++)
                put_f32(o + 4 * c, x[c]);
            break;
        case BN_TYPE_F16: {
            int64_t c = bnq_have_avx2() ? (int64_t)bnq_f32_to_f16_avx2(x, (size_t)ne0, o) : 0;
            for (; c < ne0; c++)
                put_u16(o + 2 * c, bn_f32_to_f16(x[c]));
            break;
        }
        case BN_TYPE_BF16:
            for (int64_t c = 0; c < ne0; c++)
                put_u16(o + 2 * c, bn_f32_to_bf16(x[c]));
            break;
        case BN_TYPE_Q8_0:
        case BN_TYPE_TQ1_0:
        case BN_TYPE_TQ2_0: {
            /* Block scales of NaN/Inf would poison every value of the block. */
            if ((st = check_finite_row(t, x, ne0, r, err)))
                return st;
            int64_t blk = pack_block(t);
            size_t bb = pack_block_bytes(t);
            for (int64_t b = 0; b < ne0 / blk; b++) {
                const float *xb = x + b * blk;
                uint8_t *ob = o + (size_t)b * bb;
                if (t == BN_TYPE_Q8_0) {
                    q8_0_encode(xb, ob);
                } else {
                    uint8_t trit[BN_QK_TQ];
                    float d;
                    tq_trits_from_f32(xb, trit, &d);
                    if (t == BN_TYPE_TQ1_0)
                        tq1_encode(trit, d, ob);
                    else
                        tq2_encode(trit, d, ob);
                }
            }
            break;
        }
        case BN_TYPE_Q4_K:
        case BN_TYPE_Q6_K:
            if ((st = check_finite_row(t, x, ne0, r, err)))
                return st;
            bnq_kquant_row(t, x, ne0, 1, o); /* bitnet.cpp's bytes: bn_pack_kquant_rows */
            break;
        default:
            return bn_error_set(err, BN_EINTERNAL, "unhandled type %s", bn_type_name((uint32_t)t));
        }
    }
    return BN_OK;
}

bn_status bn_pack_kquant_rows(bn_type t, bn_kquant_build build, const float *src, int64_t ne0,
                              int64_t r0, int64_t r1, void *dst, bn_error *err)
{
    size_t rb;
    bn_status st;
    if (t != BN_TYPE_Q6_K && t != BN_TYPE_Q4_K)
        return bn_error_set(err, BN_EINVAL, "%s is not a K-quant type (Q6_K, Q4_K)", bn_type_name((uint32_t)t));
    if (build != BN_KQ_FMA && build != BN_KQ_PLAIN)
        return bn_error_set(err, BN_EINVAL, "unknown K-quant rounding %d", (int)build);
    if ((st = bnq_row_bytes(t, ne0, &rb, err)) || (st = check_range(r0, r1, err)))
        return st;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = src + (size_t)r * (size_t)ne0;
        if ((st = check_finite_row(t, x, ne0, r, err)))
            return st;
        bnq_kquant_row(t, x, ne0, build == BN_KQ_FMA, (uint8_t *)dst + (size_t)r * rb);
    }
    return BN_OK;
}

/* ---- ternary packers ---------------------------------------------------------- */

static bn_status bad_code(const int8_t *row, int64_t ne0, int64_t r, bn_error *err)
{
    for (int64_t c = 0; c < ne0; c++)
        if (row[c] < -1 || row[c] > 1)
            return bn_error_set(err, BN_EINVAL, "row %lld, column %lld: code %d is not -1, 0 or +1",
                                (long long)r, (long long)c, row[c]);
    return BN_OK;
}

bn_status bn_pack_ternary_rows(bn_type t, const int8_t *codes, float scale, int64_t ne0,
                               int64_t r0, int64_t r1, void *dst, bn_error *err)
{
    size_t rb;
    bn_status st = bnq_row_bytes(t, ne0, &rb, err);
    if (st || (st = check_range(r0, r1, err)))
        return st;
    if (!bn_type_is_ternary(t))
        return bn_error_set(err, BN_EINVAL, "%s is not a ternary type (I2_S, TQ1_0, TQ2_0)",
                            bn_type_name((uint32_t)t));
    if (!isfinite(scale) || scale < 0.0f)
        return bn_error_set(err, BN_EINVAL, "ternary scale %g is not finite and non-negative", (double)scale);
    const int simd = bnq_have_avx2();
    const uint16_t d_half = bn_f32_to_f16(scale);
    for (int64_t r = r0; r < r1; r++) {
        const int8_t *c = codes + (size_t)r * (size_t)ne0;
        uint8_t *o = (uint8_t *)dst + (size_t)r * rb;
        /* the bytes of the scalar code below (quant_avx2.c); a bad code is named there */
        if (simd && t == BN_TYPE_TQ2_0 && bnq_pack_tq2_row_avx2(c, ne0, d_half, o) == 0)
            continue;
        if (simd && t == BN_TYPE_I2_S && bnq_pack_i2s_row_avx2(c, ne0, o) == 0)
            continue;
        if ((st = bad_code(c, ne0, r, err)))
            return st;
        if (t == BN_TYPE_I2_S) {
            /* byte g of a 128-element block: elements g, g+32, g+64, g+96 in bits
             * 7:6, 5:4, 3:2, 1:0, each as code + 1. */
            for (int64_t b = 0; b < ne0 / BN_QK_I2_S; b++) {
                const int8_t *cb = c + b * BN_QK_I2_S;
                uint8_t *ob = o + b * (BN_QK_I2_S / 4);
                for (int g = 0; g < 32; g++)
                    ob[g] = (uint8_t)((cb[g] + 1) << 6 | (cb[g + 32] + 1) << 4 | (cb[g + 64] + 1) << 2 |
                                      (cb[g + 96] + 1));
            }
            continue;
        }
        size_t bb = pack_block_bytes(t);
        for (int64_t b = 0; b < ne0 / BN_QK_TQ; b++) {
            const int8_t *cb = c + b * BN_QK_TQ;
            uint8_t trit[BN_QK_TQ];
            int any = 0;
            for (int k = 0; k < BN_QK_TQ; k++) {
                trit[k] = (uint8_t)(cb[k] + 1);
                any |= cb[k] != 0;
            }
            /* gguf-py's d is max|x| of the block: s where any code is non-zero. */
            float d = any ? scale : 0.0f;
            if (t == BN_TYPE_TQ1_0)
                tq1_encode(trit, d, o + (size_t)b * bb);
            else
                tq2_encode(trit, d, o + (size_t)b * bb);
        }
    }
    return BN_OK;
}

void bn_pack_i2s_tail(float scale, uint8_t tail[BN_I2_S_TAIL])
{
    memset(tail, 0, BN_I2_S_TAIL);
    put_f32(tail, scale);
}

/* ---- unpackers -------------------------------------------------------------- */

static bn_status check_src(bn_type t, size_t src_size, int64_t ne0, int64_t n_rows, int64_t r0,
                           int64_t r1, size_t *rb, bn_error *err)
{
    size_t want;
    bn_status st = bn_quant_packed_size(t, ne0, n_rows, &want, err);
    if (st || (st = check_range(r0, r1, err)))
        return st;
    if (r1 > n_rows)
        return bn_error_set(err, BN_EINVAL, "row range [%lld, %lld) outside a tensor of %lld rows",
                            (long long)r0, (long long)r1, (long long)n_rows);
    if (src_size != want)
        return bn_error_set(err, BN_EINVAL, "%s tensor of %lld x %lld needs %zu bytes, got %zu",
                            bn_type_name((uint32_t)t), (long long)n_rows, (long long)ne0, want, src_size);
    return bnq_row_bytes(t, ne0, rb, err);
}

/* The tail scale of an I2_S tensor whose size check_src has accepted. */
static bn_status i2s_scale(const uint8_t *src, int64_t ne0, int64_t n_rows, float *scale, bn_error *err)
{
    float s = bn_i2s_tail_scale(src, (uint64_t)ne0 * (uint64_t)n_rows);
    if (!isfinite(s) || s < 0.0f)
        return bn_error_set(err, BN_EINVAL, "I2_S tail scale %g is not finite and non-negative", (double)s);
    *scale = s;
    return BN_OK;
}

/* Codes of one row; BN_EINVAL on a 2-bit field of 3 (I2_S, TQ2_0). */
static bn_status unpack_codes_row(bn_type t, const uint8_t *in, int64_t ne0, int64_t r, int8_t *out,
                                  bn_error *err)
{
    if (t == BN_TYPE_I2_S) {
        for (int64_t b = 0; b < ne0 / BN_QK_I2_S; b++) {
            const uint8_t *ib = in + b * (BN_QK_I2_S / 4);
            int8_t *cb = out + b * BN_QK_I2_S;
            for (int g = 0; g < 32; g++)
                for (int q = 0; q < 4; q++) {
                    int v = (ib[g] >> (6 - 2 * q)) & 3;
                    if (v == 3)
                        return bn_error_set(err, BN_EINVAL, "I2_S row %lld, column %lld: invalid code 0b11",
                                            (long long)r, (long long)b * BN_QK_I2_S + g + 32 * q);
                    cb[g + 32 * q] = (int8_t)(v - 1);
                }
        }
        return BN_OK;
    }
    size_t bb = pack_block_bytes(t);
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    for (int64_t b = 0; b < ne0 / BN_QK_TQ; b++) {
        const uint8_t *ib = in + (size_t)b * bb;
        int8_t *cb = out + b * BN_QK_TQ;
        if (t == BN_TYPE_TQ2_0) {
            for (int k = 0; k < BN_QK_TQ; k++) {
                int j = k / 128, l = (k % 128) / 32, m = k % 32;
                int v = (ib[32 * j + m] >> (2 * l)) & 3;
                if (v == 3)
                    return bn_error_set(err, BN_EINVAL, "TQ2_0 row %lld, column %lld: invalid trit 3",
                                        (long long)r, (long long)b * BN_QK_TQ + k);
                cb[k] = (int8_t)(v - 1);
            }
        } else {
            /* Trit n of byte q: u = (uint8)(q * 3^n); t = (u * 3) >> 8. */
            for (int n = 0; n < 5; n++) {
                for (int m = 0; m < 32; m++)
                    cb[m + 32 * n] = (int8_t)((((uint8_t)(ib[m] * pow3[n])) * 3 >> 8) - 1);
                for (int m = 0; m < 16; m++)
                    cb[160 + m + 16 * n] = (int8_t)((((uint8_t)(ib[32 + m] * pow3[n])) * 3 >> 8) - 1);
            }
            for (int n = 0; n < 4; n++)
                for (int j = 0; j < 4; j++)
                    cb[240 + j + 4 * n] = (int8_t)((((uint8_t)(ib[48 + j] * pow3[n])) * 3 >> 8) - 1);
        }
    }
    return BN_OK;
}

bn_status bn_unpack_ternary_rows(bn_type t, const void *src, size_t src_size, int64_t ne0,
                                 int64_t n_rows, int64_t r0, int64_t r1, int8_t *codes,
                                 bn_error *err)
{
    if (!bn_type_is_ternary(t))
        return bn_error_set(err, BN_EINVAL, "%s is not a ternary type (I2_S, TQ1_0, TQ2_0)",
                            bn_type_name((uint32_t)t));
    size_t rb;
    bn_status st = check_src(t, src_size, ne0, n_rows, r0, r1, &rb, err);
    if (st)
        return st;
    for (int64_t r = r0; r < r1; r++) {
        st = unpack_codes_row(t, (const uint8_t *)src + (size_t)r * rb, ne0, r,
                              codes + (size_t)(r - r0) * (size_t)ne0, err);
        if (st)
            return st;
    }
    return BN_OK;
}

bn_status bn_unpack_f32_rows(bn_type t, const void *src, size_t src_size, int64_t ne0,
                             int64_t n_rows, int64_t r0, int64_t r1, float *dst, bn_error *err)
{
    size_t rb;
    bn_status st = check_src(t, src_size, ne0, n_rows, r0, r1, &rb, err);
    if (st)
        return st;
    float i2_scale = 0.0f;
    if (t == BN_TYPE_I2_S && (st = i2s_scale(src, ne0, n_rows, &i2_scale, err)))
        return st;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *in = (const uint8_t *)src + (size_t)r * rb;
        float *out = dst + (size_t)(r - r0) * (size_t)ne0;
        switch (t) {
        case BN_TYPE_F32:
            for (int64_t c = 0; c < ne0; c++)
                out[c] = bn_gguf_f32le(in + 4 * c);
            break;
        case BN_TYPE_F16:
            for (int64_t c = 0; c < ne0; c++)
                out[c] = bn_f16_to_f32(get_u16(in + 2 * c));
            break;
        case BN_TYPE_BF16:
            for (int64_t c = 0; c < ne0; c++)
                out[c] = bn_bf16_to_f32(get_u16(in + 2 * c));
            break;
        case BN_TYPE_Q8_0:
            for (int64_t b = 0; b < ne0 / BN_QK_Q8_0; b++) {
                const uint8_t *ib = in + b * (2 + BN_QK_Q8_0);
                float d = bn_f16_to_f32(get_u16(ib));
                for (int k = 0; k < BN_QK_Q8_0; k++)
                    out[b * BN_QK_Q8_0 + k] = (float)(int8_t)ib[2 + k] * d;
            }
            break;
        case BN_TYPE_Q4_K: bn_dequant_row_q4_k(in, out, ne0); break;
        case BN_TYPE_Q6_K: bn_dequant_row_q6_k(in, out, ne0); break;
        case BN_TYPE_I2_S:
        case BN_TYPE_TQ1_0:
        case BN_TYPE_TQ2_0: {
            /* Decode codes into the float buffer's own storage first: an int8 row
             * is a quarter of the float row, so it fits at the row's end. */
            int8_t *codes = (int8_t *)(out + ne0) - ne0;
            if ((st = unpack_codes_row(t, in, ne0, r, codes, err)))
                return st;
            if (t == BN_TYPE_I2_S) {
                for (int64_t c = 0; c < ne0; c++)
                    out[c] = i2_scale * (float)codes[c];
            } else {
                size_t bb = pack_block_bytes(t);
                for (int64_t b = 0; b < ne0 / BN_QK_TQ; b++) {
                    float d = bn_f16_to_f32(get_u16(in + (size_t)b * bb + bb - 2));
                    for (int k = 0; k < BN_QK_TQ; k++)
                        out[b * BN_QK_TQ + k] = d * (float)codes[b * BN_QK_TQ + k];
                }
            }
            break;
        }
        }
    }
    return BN_OK;
}

bn_status bn_packed_ternary_scale(bn_type t, const void *src, size_t src_size, int64_t ne0,
                                  int64_t n_rows, float *scale, bn_error *err)
{
    if (!bn_type_is_ternary(t))
        return bn_error_set(err, BN_EINVAL, "%s is not a ternary type (I2_S, TQ1_0, TQ2_0)",
                            bn_type_name((uint32_t)t));
    size_t rb;
    bn_status st = check_src(t, src_size, ne0, n_rows, 0, n_rows, &rb, err);
    if (st)
        return st;
    if (t == BN_TYPE_I2_S)
        return i2s_scale(src, ne0, n_rows, scale, err);
    size_t bb = pack_block_bytes(t);
    size_t n_blocks = src_size / bb;
    uint16_t common = 0;
    for (size_t b = 0; b < n_blocks; b++) {
        uint16_t h = get_u16((const uint8_t *)src + b * bb + bb - 2);
        if ((h & 0x7fff) == 0)
            continue;
        if (common == 0)
            common = h;
        else if (h != common)
            return bn_error_set(err, BN_EINVAL,
                                "%s block %zu has scale %g but earlier blocks %g: not one per-tensor scale",
                                bn_type_name((uint32_t)t), b, (double)bn_f16_to_f32(h),
                                (double)bn_f16_to_f32(common));
    }
    float s = bn_f16_to_f32(common);
    if (!isfinite(s) || s < 0.0f)
        return bn_error_set(err, BN_EINVAL, "%s block scale %g is not finite and non-negative",
                            bn_type_name((uint32_t)t), (double)s);
    *scale = s;
    return BN_OK;
}
