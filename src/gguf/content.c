/* content.c - the content rules of quantized tensors (include/bn/gguf.h): what
 * a well-sized I2_S, TQ1_0, TQ2_0 or Q8_0 tensor may still hold wrongly. */
#include "bn/gguf.h"

#include <math.h>
#include <string.h>

/* Index of the first byte of p[0, n) with a 2-bit field equal to 0b11, or n.
 * 64 bytes a step with one test (the loader scans every projection byte). */
static uint64_t first_code3(const uint8_t *p, uint64_t n)
{
    const uint64_t lo = 0x5555555555555555ull;
    uint64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        uint64_t acc = 0;
        for (int k = 0; k < 8; k++) {
            uint64_t w;
            memcpy(&w, p + i + 8 * k, 8);
            acc |= w & (w >> 1);
        }
        if (acc & lo)
            break;
    }
    for (; i < n; i++)
        if (p[i] & (p[i] >> 1) & 0x55u)
            return i;
    return n;
}

static bn_status check_i2s(const bn_gguf_tensor *t, bn_error *err)
{
    uint64_t packed = t->n_el / 4;
    if (t->nbytes < packed + BN_I2_S_TAIL)
        return bn_error_set(err, BN_EINVAL, "tensor '%s': I2_S data of %llu bytes has no tail",
                            t->name, (unsigned long long)t->nbytes);
    const uint8_t *tail = t->data + packed;
    float s = bn_i2s_tail_scale(t->data, t->n_el);
    if (!(isfinite(s) && s > 0.0f))
        return bn_error_set(err, BN_EINVAL, "tensor '%s': I2_S scale %g is not finite and positive",
                            t->name, (double)s);
    for (int i = 4; i < BN_I2_S_TAIL; i++)
        if (tail[i])
            return bn_error_set(err, BN_EINVAL, "tensor '%s': I2_S tail byte %d is 0x%02x, must be "
                                "zero", t->name, i, tail[i]);
    uint64_t at = first_code3(t->data, packed);
    if (at < packed)
        return bn_error_set(err, BN_EINVAL,
                            "tensor '%s': byte %llu (0x%02x) holds the unused I2_S code 0b11",
                            t->name, (unsigned long long)at, t->data[at]);
    return BN_OK;
}

/* Per-block fp16 scales: the first two bytes of a Q8_0 block, the last two of
 * a TQ1_0/TQ2_0 block. */
static bn_status check_block_scales(const bn_gguf_tensor *t, bn_error *err)
{
    size_t bb = bn_type_block_bytes(t->type);
    int q8 = t->type == BN_TYPE_Q8_0;
    size_t d_off = q8 ? 0 : bb - 2;
    uint64_t nb = t->nbytes / bb;
    for (uint64_t b = 0; b < nb; b++) {
        const uint8_t *p = t->data + b * bb + d_off;
        float d = bn_f16_to_f32((uint16_t)(p[0] | p[1] << 8));
        if (!isfinite(d) || (!q8 && d < 0.0f))
            return bn_error_set(err, BN_EINVAL, "tensor '%s': block %llu has scale %g (must be "
                                "finite%s)", t->name, (unsigned long long)b, (double)d,
                                q8 ? "" : " and not negative");
    }
    return BN_OK;
}

bn_status bn_gguf_check_tensor_data(const bn_gguf_tensor *t, bn_error *err)
{
    switch (t->type) {
    case BN_TYPE_I2_S: return check_i2s(t, err);
    case BN_TYPE_TQ1_0:
    case BN_TYPE_TQ2_0:
    case BN_TYPE_Q8_0: return check_block_scales(t, err);
    default: return BN_OK;
    }
}
