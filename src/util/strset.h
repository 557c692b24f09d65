/*
 * strset.h - (internal) the one string hash set: byte strings (pointer and
 * length, so keys may hold any byte) mapped to an int64 value, with open
 * addressing and linear probing over a power-of-two table at most half full.
 * The set does not own the strings: each must stay valid, unchanged, while it
 * is in the set. Used for duplicate detection and lookup by name (GGUF keys
 * and tensor names, checkpoint tensors and storages, tokenizer vocabularies,
 * merge checks). Every comparison is of the bytes, never of a hash alone.
 */
#ifndef BN_UTIL_STRSET_H
#define BN_UTIL_STRSET_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *str; /* NULL = empty slot */
    size_t len;
    int64_t val;
} bnu_strset_slot;

typedef struct {
    bnu_strset_slot *slot; /* (cap) */
    size_t cap;            /* power of two, >= 2 * count */
    size_t count;
} bnu_strset;

/* Room for expected strings without growing. Returns 0, or -1 when out of
 * memory. A zeroed set is an empty one too (its first add allocates). */
int bnu_strset_init(bnu_strset *s, size_t expected);
void bnu_strset_free(bnu_strset *s);
/* Inserts str[0, len) -> val. Returns 0 on insertion, 1 if already present
 * (*existing, when not NULL, gets the stored value), -1 when out of memory. */
int bnu_strset_add(bnu_strset *s, const char *str, size_t len, int64_t val, int64_t *existing);
/* Inserts str[0, len) -> val, or replaces the value an equal string has (the
 * stored pointer stays the first one). Returns 0, or -1 when out of memory. */
int bnu_strset_put(bnu_strset *s, const char *str, size_t len, int64_t val);
/* Value stored for str[0, len), or -1. */
int64_t bnu_strset_find(const bnu_strset *s, const char *str, size_t len);

#endif
