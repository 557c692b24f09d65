/* types.c - the ggml tensor type table, GGUF value types, and the F16/BF16
 * conversions. See include/bn/gguf.h. */
#include "bn/gguf.h"

#include <string.h>
#include <strings.h>

#include "bn/util.h"
#include "gguf/internal.h"

/* One row per tensor type we read or write (FORMATS.md §2). I2_S is described
 * per 128-element group (32 bytes) so that row sizes come out right; its one
 * 32-byte tail per tensor is added by bn_type_nbytes(). */
typedef struct {
    bn_type type;
    const char *name;
    int64_t block;      /* elements per block; ne[0] must be a multiple */
    size_t block_bytes; /* bytes per block */
    int ternary;        /* holds ternary codes: a projection type */
} type_info;

static const type_info k_types[] = {
    {BN_TYPE_F32, "F32", 1, 4, 0},
    {BN_TYPE_F16, "F16", 1, 2, 0},
    {BN_TYPE_Q8_0, "Q8_0", BN_QK_Q8_0, 34, 0},
    {BN_TYPE_BF16, "BF16", 1, 2, 0},
    {BN_TYPE_TQ1_0, "TQ1_0", BN_QK_TQ, 54, 1},
    {BN_TYPE_TQ2_0, "TQ2_0", BN_QK_TQ, 66, 1},
    {BN_TYPE_I2_S, "I2_S", BN_QK_I2_S, BN_QK_I2_S / 4, 1},
};

static const type_info *type_lookup(uint32_t t)
{
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
        if ((uint32_t)k_types[i].type == t)
            return &k_types[i];
    return NULL;
}

int bn_type_known(uint32_t t) { return type_lookup(t) != NULL; }

int bn_type_is_ternary(bn_type t)
{
    const type_info *ti = type_lookup((uint32_t)t);
    return ti && ti->ternary;
}

const char *bn_type_name(uint32_t t)
{
    const type_info *ti = type_lookup(t);
    return ti ? ti->name : "?";
}

int bn_type_from_name(const char *name, bn_type *t)
{
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
        if (strcasecmp(name, k_types[i].name) == 0) {
            *t = k_types[i].type;
            return 0;
        }
    return -1;
}

int64_t bn_type_block_size(bn_type t)
{
    const type_info *ti = type_lookup((uint32_t)t);
    return ti ? ti->block : 0;
}

size_t bn_type_block_bytes(bn_type t)
{
    const type_info *ti = type_lookup((uint32_t)t);
    return ti ? ti->block_bytes : 0;
}

size_t bn_type_row_bytes(bn_type t, int64_t ne0)
{
    const type_info *ti = type_lookup((uint32_t)t);
    if (!ti || ne0 < 0)
        return 0;
    return (size_t)(ne0 / ti->block) * ti->block_bytes;
}

bn_status bn_type_nbytes(bn_type t, int64_t ne0, uint64_t n_el, uint64_t *out, bn_error *err)
{
    const type_info *ti = type_lookup((uint32_t)t);
    if (!ti)
        return bn_error_set(err, BN_EINVAL, "unknown ggml type %u", (unsigned)t);
    if (ne0 <= 0 || ne0 % ti->block != 0)
        return bn_error_set(err, BN_EINVAL, "ne[0]=%lld is not a multiple of the %s block (%lld)",
                            (long long)ne0, ti->name, (long long)ti->block);
    if (n_el % (uint64_t)ne0 != 0)
        return bn_error_set(err, BN_EINVAL, "%llu elements do not form whole rows of %lld",
                            (unsigned long long)n_el, (long long)ne0);
    uint64_t bytes;
    if (bn_mul_ovf_u64(n_el / (uint64_t)ti->block, ti->block_bytes, &bytes) ||
        (t == BN_TYPE_I2_S && bn_add_ovf_u64(bytes, BN_I2_S_TAIL, &bytes)))
        return bn_error_set(err, BN_EINVAL, "%llu elements of %s overflow a 64-bit byte size",
                            (unsigned long long)n_el, ti->name);
    *out = bytes;
    return BN_OK;
}

/* ---- GGUF value types ------------------------------------------------------ */

const char *bn_gguf_vtype_name(uint32_t vt)
{
    static const char *const names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};
    return vt < sizeof names / sizeof names[0] ? names[vt] : "?";
}

size_t bn_gguf_vtype_size(uint32_t vt)
{
    static const size_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return vt < sizeof sizes / sizeof sizes[0] ? sizes[vt] : 0;
}

/* ---- half and bfloat16 ------------------------------------------------------
 * Integer implementations, so the result never depends on the FPU's rounding
 * mode or on F16C: round to nearest, ties to even, exactly as numpy's
 * astype(float16) and gguf-py's BF16 packer do. */

uint16_t bn_f32_to_f16(float f)
{
    uint32_t x = gg_bits_of(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t a = x & 0x7fffffffu;
    if (a > 0x7f800000u) /* NaN: keep the top payload bits, force quiet */
        return (uint16_t)(sign | 0x7e00u | ((a & 0x7fffffu) >> 13));
    if (a >= 0x477ff000u) /* >= 65520 rounds to infinity (65504 is odd, the tie goes up) */
        return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) { /* below 2^-14: a half subnormal (units of 2^-24) or zero */
        uint32_t e = a >> 23;
        if (e < 102) /* < 2^-25: rounds to zero (a tie at exactly 2^-25 goes to even 0) */
            return (uint16_t)sign;
        uint32_t m = (a & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1)))
            q++;
        return (uint16_t)(sign | q);
    }
    uint32_t h = (a - 0x38000000u) >> 13; /* rebias exponent 127 -> 15 */
    uint32_t rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
        h++; /* a mantissa carry correctly bumps the exponent */
    return (uint16_t)(sign | h);
}

float bn_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f)
        return gg_f32_of(sign | 0x7f800000u | (m << 13));
    if (e != 0)
        return gg_f32_of(sign | ((e + 112) << 23) | (m << 13));
    if (m == 0)
        return gg_f32_of(sign);
    /* subnormal: normalize */
    e = 113;
    while (!(m & 0x400u)) {
        m <<= 1;
        e--;
    }
    return gg_f32_of(sign | (e << 23) | ((m & 0x3ffu) << 13));
}

uint16_t bn_f32_to_bf16(float f)
{
    uint32_t x = gg_bits_of(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN, as ggml and gguf-py */
    return (uint16_t)(((uint64_t)x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

float bn_bf16_to_f32(uint16_t h) { return gg_f32_of((uint32_t)h << 16); }
