/*
 * hf_bitnet.c - Hugging Face offline-packed BitNet weights (FORMATS.md §4):
 * `*.weight` is uint8 [out/4, in] packed along the OUTPUT rows, with value =
 * code - 1, and `*.weight_scale` is the reciprocal of the per-tensor scale
 * (HF's BitLinear divides its output by it). These are unpacked to codes and
 * repacked, never re-quantized.
 */
#include "bn/quant.h"

#include <math.h>

#include "bn/util.h"
#include "quant/quant_internal.h"

bn_status bn_unpack_hf_bitnet_u8(const char *name, const uint8_t *packed, int64_t packed_rows,
                                 int64_t in, int8_t *codes, bn_error *err)
{
    const char *nm = name ? name : "?";
    size_t n;
    if (packed_rows <= 0 || in <= 0 || bn_mul_ovf_size((size_t)packed_rows, (size_t)in, &n) ||
        bn_mul_ovf_size(n, 4, &n))
        return bn_error_set(err, BN_EINVAL, "tensor '%s': bad packed shape [%lld, %lld]", nm,
                            (long long)packed_rows, (long long)in);
    const size_t R = (size_t)packed_rows, C = (size_t)in;
    const int simd = bnq_have_avx2();
    for (size_t r = 0; r < R; r++) {
        if (simd && bnq_unpack_hf_row_avx2(packed, C, R, r, codes) == 0)
            continue; /* the same codes (quant_avx2.c); a 3 is found and named below */
        for (size_t c = 0; c < C; c++) {
            uint8_t b = packed[r * C + c];
            /* bits 2q+1:2q hold output row r + q*R */
            for (int q = 0; q < 4; q++) {
                int v = (b >> (2 * q)) & 3;
                if (v == 3)
                    return bn_error_set(err, BN_EINVAL,
                                        "tensor '%s': byte 0x%02x at [%zu, %zu] holds the unused value 3 "
                                        "(bits %d:%d)", nm, b, r, c, 2 * q + 1, 2 * q);
                codes[(r + (size_t)q * R) * C + c] = (int8_t)(v - 1);
            }
        }
    }
    return BN_OK;
}

bn_status bn_hf_weight_scale_to_scale(const char *name, float weight_scale, float *scale,
                                      bn_error *err)
{
    const char *nm = name ? name : "?";
    if (!isfinite(weight_scale) || weight_scale <= 0.0f)
        return bn_error_set(err, BN_EINVAL, "tensor '%s': weight_scale %g is not finite and positive", nm,
                            (double)weight_scale);
    float s = 1.0f / weight_scale;
    if (!isfinite(s))
        return bn_error_set(err, BN_EINVAL, "tensor '%s': 1 / weight_scale %g overflows", nm,
                            (double)weight_scale);
    *scale = s;
    return BN_OK;
}
