/* internal.h - pieces shared by the GGUF reader and writer, not public API. */
#ifndef BN_GGUF_INTERNAL_H
#define BN_GGUF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

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


/* A set of byte strings (keys, tensor names) for duplicate detection and
 * lookup. Open addressing, FNV-1a; stores pointers, never copies, so the
 * strings must outlive the set. Each entry carries a caller value (an index). */
typedef struct {
    const char **str; /* (cap) NUL-terminated strings or NULL */
    int64_t *val;     /* (cap) */
    size_t cap;       /* power of two, >= 2 * count */
    size_t count;
} gg_strset;

/* Returns 0, or -1 when out of memory. */
int gg_strset_init(gg_strset *s, size_t expected);
void gg_strset_free(gg_strset *s);
/* Inserts s -> val. Returns 0 on insertion, 1 if already present (*existing
 * gets the stored value), -1 when out of memory. */
int gg_strset_add(gg_strset *s, const char *str, int64_t val, int64_t *existing);
/* Value stored for str, or -1. */
int64_t gg_strset_find(const gg_strset *s, const char *str);

#endif
