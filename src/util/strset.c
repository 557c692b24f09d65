/* strset.c - the one string hash set; see strset.h. */
#include "util/strset.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a, then a final avalanche so the low bits used for slots mix well. */
static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    return h ^ (h >> 32);
}

static int alloc_table(bnu_strset *s, size_t cap)
{
    s->slot = calloc(cap, sizeof *s->slot);
    if (!s->slot)
        return -1;
    s->cap = cap;
    return 0;
}

int bnu_strset_init(bnu_strset *s, size_t expected)
{
    memset(s, 0, sizeof *s);
    size_t cap = 16;
    while (cap < expected * 2 && cap < ((size_t)1 << 40))
        cap *= 2;
    return alloc_table(s, cap);
}

void bnu_strset_free(bnu_strset *s)
{
    free(s->slot);
    memset(s, 0, sizeof *s);
}

static size_t slot_of(const bnu_strset *s, const char *str, size_t len)
{
    size_t mask = s->cap - 1, i = (size_t)hash_bytes(str, len) & mask;
    while (s->slot[i].str &&
           (s->slot[i].len != len || memcmp(s->slot[i].str, str, len) != 0))
        i = (i + 1) & mask;
    return i;
}

static int grow(bnu_strset *s)
{
    bnu_strset old = *s;
    if (alloc_table(s, old.cap * 2) != 0) {
        *s = old;
        return -1;
    }
    for (size_t i = 0; i < old.cap; i++)
        if (old.slot[i].str)
            s->slot[slot_of(s, old.slot[i].str, old.slot[i].len)] = old.slot[i];
    free(old.slot);
    return 0;
}

int bnu_strset_add(bnu_strset *s, const char *str, size_t len, int64_t val, int64_t *existing)
{
    if (!s->cap && bnu_strset_init(s, 0) != 0)
        return -1;
    size_t i = slot_of(s, str, len);
    if (s->slot[i].str) {
        if (existing)
            *existing = s->slot[i].val;
        return 1;
    }
    if ((s->count + 1) * 2 > s->cap) {
        if (grow(s) != 0)
            return -1;
        i = slot_of(s, str, len);
    }
    s->slot[i] = (bnu_strset_slot){str, len, val};
    s->count++;
    return 0;
}

int bnu_strset_put(bnu_strset *s, const char *str, size_t len, int64_t val)
{
    int64_t old;
    int r = bnu_strset_add(s, str, len, val, &old);
    if (r > 0)
        s->slot[slot_of(s, str, len)].val = val;
    return r < 0 ? -1 : 0;
}

int64_t bnu_strset_find(const bnu_strset *s, const char *str, size_t len)
{
    if (!s->cap)
        return -1;
    size_t i = slot_of(s, str, len);
    return s->slot[i].str ? s->slot[i].val : -1;
}
