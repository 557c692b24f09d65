/* strset.c - the string set behind duplicate detection and lookup by name in
 * the GGUF reader and writer; see internal.h. */
#include "gguf/internal.h"

#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int alloc_table(gg_strset *s, size_t cap)
{
    s->str = calloc(cap, sizeof *s->str);
    s->val = calloc(cap, sizeof *s->val);
    if (!s->str || !s->val) {
        free(s->str);
        free(s->val);
        s->str = NULL;
        s->val = NULL;
        return -1;
    }
    s->cap = cap;
    return 0;
}

int gg_strset_init(gg_strset *s, size_t expected)
{
    memset(s, 0, sizeof *s);
    size_t cap = 16;
    while (cap < expected * 2 && cap < ((size_t)1 << 40))
        cap *= 2;
    return alloc_table(s, cap);
}

void gg_strset_free(gg_strset *s)
{
    free(s->str);
    free(s->val);
    memset(s, 0, sizeof *s);
}

static size_t slot_of(const gg_strset *s, const char *str)
{
    size_t mask = s->cap - 1, i = (size_t)fnv1a(str) & mask;
    while (s->str[i] && strcmp(s->str[i], str) != 0)
        i = (i + 1) & mask;
    return i;
}

static int grow(gg_strset *s)
{
    gg_strset old = *s;
    if (alloc_table(s, old.cap * 2) != 0) {
        *s = old;
        return -1;
    }
    for (size_t i = 0; i < old.cap; i++)
        if (old.str[i]) {
            size_t j = slot_of(s, old.str[i]);
            s->str[j] = old.str[i];
            s->val[j] = old.val[i];
        }
    free(old.str);
    free(old.val);
    return 0;
}

int gg_strset_add(gg_strset *s, const char *str, int64_t val, int64_t *existing)
{
    size_t i = slot_of(s, str);
    if (s->str[i]) {
        if (existing)
            *existing = s->val[i];
        return 1;
    }
    if ((s->count + 1) * 2 > s->cap) {
        if (grow(s) != 0)
            return -1;
        i = slot_of(s, str);
    }
    s->str[i] = str;
    s->val[i] = val;
    s->count++;
    return 0;
}

int64_t gg_strset_find(const gg_strset *s, const char *str)
{
    if (!s->cap)
        return -1;
    size_t i = slot_of(s, str);
    return s->str[i] ? s->val[i] : -1;
}
