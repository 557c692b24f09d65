/* json_strict.c - see json_strict.h. */
#include "util/json_strict.h"

#include <stdlib.h>
#include <string.h>

/* The lexical rules cJSON does not apply: no raw control character and no
 * escaped NUL inside a string. Returns the offending offset, or len if clean. */
static size_t scan_strings(const char *t, size_t len, int *what)
{
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];
        if (!in_str) {
            in_str = c == '"';
            continue;
        }
        if (c == '"') {
            in_str = 0;
        } else if (c < 0x20) {
            *what = 0;
            return i;
        } else if (c == '\\' && i + 1 < len) {
            if (t[i + 1] == 'u' && i + 5 < len && !memcmp(t + i + 2, "0000", 4)) {
                *what = 1;
                return i;
            }
            i++; /* the escaped character */
        }
    }
    return len;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A key twice in one object, anywhere in the tree: *dup names it. */
static bn_status find_duplicate(const cJSON *node, const char **dup, const char **where, bn_error *err,
                                const char *name)
{
    for (; node; node = node->next) {
        if (cJSON_IsObject(node)) {
            size_t n = 0;
            for (const cJSON *c = node->child; c; c = c->next)
                n++;
            if (n > 1) {
                const char **v = malloc(n * sizeof *v);
                if (!v)
                    return bn_error_set(err, BN_ENOMEM, "%s: out of memory checking keys", name);
                size_t i = 0;
                for (const cJSON *c = node->child; c; c = c->next)
                    v[i++] = c->string ? c->string : "";
                qsort(v, n, sizeof *v, cmp_name);
                for (i = 1; i < n && !*dup; i++)
                    if (!strcmp(v[i - 1], v[i]))
                        *dup = v[i];
                free(v);
                if (*dup) {
                    *where = node->string;
                    return BN_OK;
                }
            }
        }
        if ((cJSON_IsObject(node) || cJSON_IsArray(node)) && node->child) {
            bn_status st = find_duplicate(node->child, dup, where, err, name);
            if (st || *dup)
                return st;
        }
    }
    return BN_OK;
}

bn_status bnu_json_parse_strict(const char *name, const char *text, size_t len, cJSON **out,
                                bn_error *err)
{
    *out = NULL;
    int what = 0;
    size_t at = scan_strings(text, len, &what);
    if (at < len)
        return bn_error_set(err, BN_EINVAL, what ? "%s: a string holds an escaped NUL (\\u0000) at "
                            "byte %zu; a name with a NUL would be cut short" :
                            "%s: a string holds a raw control character at byte %zu (not valid JSON)",
                            name, at);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t off = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        return bn_error_set(err, BN_EINVAL, "%s: not valid JSON (near byte %zu)", name, off);
    }
    size_t rest = (size_t)(end - text);
    while (rest < len && (text[rest] == ' ' || text[rest] == '\t' || text[rest] == '\n' ||
                          text[rest] == '\r'))
        rest++;
    if (rest < len) {
        cJSON_Delete(root);
        return bn_error_set(err, BN_EINVAL, "%s: data after the JSON document at byte %zu", name, rest);
    }
    const char *dup = NULL, *where = NULL;
    bn_status st = find_duplicate(root, &dup, &where, err, name);
    if (!st && dup)
        st = bn_error_set(err, BN_EINVAL, "%s: key '%s' appears twice in %s%s%s; refusing to guess "
                          "which one is meant", name, dup, where ? "object '" : "the top-level object",
                          where ? where : "", where ? "'" : "");
    if (st) {
        cJSON_Delete(root);
        return st;
    }
    *out = root;
    return BN_OK;
}
