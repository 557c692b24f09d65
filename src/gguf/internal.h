/* internal.h - pieces shared by the GGUF reader and writer, not public API. */
#ifndef BN_GGUF_INTERNAL_H
#define BN_GGUF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/strset.h"

/* Little-endian loads from unaligned bytes, and float <-> bit pattern. */
static inline uint16_t gg_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t gg_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t gg_le64(const uint8_t *p)
{
    return (uint64_t)gg_le32(p) | (uint64_t)gg_le32(p + 4) << 32;
}
static inline float gg_f32_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint32_t gg_bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}


#endif
