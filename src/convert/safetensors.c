/*
 * safetensors.c - validated reader for one safetensors file (FORMATS.md §7).
 *
 * Layout: u64 little-endian header length N, N bytes of JSON, then the data
 * buffer. The JSON is checked here before cJSON sees it (UTF-8, no BOM, no raw
 * control bytes, no escaped NUL) and after (no duplicate keys, nothing but
 * whitespace after the object, integers exact), because cJSON tolerates all of
 * those. Tensor offsets are relative to the data buffer and must tile it: sorted
 * by offset, each tensor starts where the previous one ended and the last ends
 * at the end of the file.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "bn/util.h"
#include "convert/ckpt_internal.h"
#include "util/utf8.h"

#define ST_MAX_HEADER 100000000u  /* 100 MB, the limit of the reference implementation */
#define ST_MAX_INT 9007199254740992.0 /* 2^53: beyond this a JSON double is inexact */

struct bn_st_file {
    char *path;
    bn_mapped_file map;
    bn_ckpt_entries entries; /* sorted by offset */
    char **meta;             /* (2 * n_meta) key, value, key, value ... */
    size_t n_meta;
};

/* Offset of an escaped NUL (\u0000, which cJSON would turn into a truncated C
 * string and so hide a duplicate name), or len if none. Counts backslashes so
 * that "\\u0000" (a literal backslash) is not mistaken for one. */
static size_t escaped_nul_at(const uint8_t *s, size_t len)
{
    for (size_t i = 0; i + 6 <= len; i++) {
        if (s[i] != '\\') continue;
        if (s[i + 1] == '\\') { i++; continue; }
        if (s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0) return i;
    }
    return len;
}

/* Offset of the first byte that is not UTF-8 JSON text (invalid or truncated
 * UTF-8, or an ASCII control other than tab, LF and CR), or len if none. */
static size_t json_text_bad_at(const uint8_t *s, size_t len)
{
    size_t n = bnu_utf8_valid_prefix(s, len);
    for (size_t i = 0; i < n; i++)
        if ((s[i] < 0x20 && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') || s[i] == 0x7f)
            return i;
    return n;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* cJSON keeps every duplicate key of an object; we reject them. */
static bn_status check_unique_keys(const cJSON *obj, const char *path, const char *where, bn_error *err)
{
    size_t n = 0;
    for (const cJSON *c = obj->child; c; c = c->next) n++;
    if (n < 2) return BN_OK;
    const char **keys = malloc(n * sizeof *keys);
    if (!keys) return bn_error_set(err, BN_ENOMEM, "%s: out of memory checking %zu keys", path, n);
    size_t i = 0;
    for (const cJSON *c = obj->child; c; c = c->next) keys[i++] = c->string;
    qsort(keys, n, sizeof *keys, cmp_str_ptr);
    bn_status st = BN_OK;
    for (i = 1; i < n; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0) {
            st = bn_error_set(err, BN_EINVAL, "%s: %s: duplicate key '%s'", path, where, keys[i]);
            break;
        }
    free(keys);
    return st;
}

/* A JSON number that must be an exact non-negative integer <= 2^53. */
static bn_status json_uint(const cJSON *v, const char *path, const char *name, const char *field,
                           uint64_t *out, bn_error *err)
{
    if (!cJSON_IsNumber(v))
        return bn_error_set(err, BN_EINVAL, "%s: tensor '%s': %s holds a non-number", path, name, field);
    double d = v->valuedouble;
    if (signbit(d) || d < 0)
        return bn_error_set(err, BN_EINVAL, "%s: tensor '%s': %s has negative value %g", path, name, field, d);
    if (d > ST_MAX_INT)
        return bn_error_set(err, BN_EINVAL, "%s: tensor '%s': %s value %g is above 2^53", path, name, field, d);
    if (d != floor(d))
        return bn_error_set(err, BN_EINVAL, "%s: tensor '%s': %s has fractional value %g", path, name, field, d);
    *out = (uint64_t)d;
    return BN_OK;
}

static bn_status parse_metadata(bn_st_file *st, const cJSON *m, bn_error *err)
{
    if (!cJSON_IsObject(m))
        return bn_error_set(err, BN_EINVAL, "%s: __metadata__ is not an object", st->path);
    bn_status s = check_unique_keys(m, st->path, "__metadata__", err);
    if (s) return s;
    size_t n = 0;
    for (const cJSON *c = m->child; c; c = c->next, n++)
        if (!cJSON_IsString(c))
            return bn_error_set(err, BN_EINVAL, "%s: __metadata__ value of '%s' is not a string", st->path,
                                c->string);
    if (n == 0) return BN_OK;
    st->meta = calloc(2 * n, sizeof *st->meta);
    if (!st->meta) return bn_error_set(err, BN_ENOMEM, "%s: out of memory for __metadata__", st->path);
    for (const cJSON *c = m->child; c; c = c->next) {
        char *k = strdup(c->string), *v = strdup(c->valuestring);
        st->meta[2 * st->n_meta] = k;
        st->meta[2 * st->n_meta + 1] = v;
        st->n_meta++;
        if (!k || !v) return bn_error_set(err, BN_ENOMEM, "%s: out of memory for __metadata__", st->path);
    }
    return BN_OK;
}

static bn_status parse_entry(bn_st_file *st, const cJSON *t, uint64_t data_start, bn_error *err)
{
    const char *name = t->string;
    if (!cJSON_IsObject(t))
        return bn_error_set(err, BN_EINVAL, "%s: tensor '%s': entry is not an object", st->path, name);
    char where[96];
    snprintf(where, sizeof where, "tensor '%.80s'", name);
    bn_status s = check_unique_keys(t, st->path, where, err);
    if (s) return s;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(t, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
    if (!dt || !sh || !off)
        return bn_error_set(err, BN_EINVAL, "%s: tensor '%s': missing '%s'", st->path, name,
                            !dt ? "dtype" : !sh ? "shape" : "data_offsets");
    bn_ckpt_entry e;
    memset(&e, 0, sizeof e);
    if (!cJSON_IsString(dt) || bn_ckpt_dtype_from_name(dt->valuestring, &e.dtype) != 0)
        return bn_error_set(err, BN_EINVAL, "%s: tensor '%s': unknown dtype %s%s%s", st->path, name,
                            cJSON_IsString(dt) ? "'" : "", cJSON_IsString(dt) ? dt->valuestring : "(not a string)",
                            cJSON_IsString(dt) ? "'" : "");
    if (!cJSON_IsArray(sh))
        return bn_error_set(err, BN_EINVAL, "%s: tensor '%s': shape is not an array", st->path, name);
    int nd = cJSON_GetArraySize(sh);
    if (nd > BN_CKPT_MAX_DIMS)
        return bn_error_set(err, BN_EUNSUPPORTED, "%s: tensor '%s': %d dimensions (at most %d supported)",
                            st->path, name, nd, BN_CKPT_MAX_DIMS);
    e.n_dims = nd;
    int i = 0;
    for (const cJSON *d = sh->child; d; d = d->next, i++) {
        uint64_t v;
        if ((s = json_uint(d, st->path, name, "shape", &v, err))) return s;
        e.shape[i] = (int64_t)v;
    }
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return bn_error_set(err, BN_EINVAL, "%s: tensor '%s': data_offsets is not a [begin, end] pair",
                            st->path, name);
    uint64_t b, en;
    if ((s = json_uint(off->child, st->path, name, "data_offsets", &b, err))) return s;
    if ((s = json_uint(off->child->next, st->path, name, "data_offsets", &en, err))) return s;
    if (bnc_ckpt_entry_sizes(&e, err) != BN_OK) return bn_error_prefix(err, "%s: tensor '%s'", st->path, name);
    if (en < b)
        return bn_error_set(err, BN_EINVAL, "%s: tensor '%s': data_offsets run backwards [%llu, %llu]", st->path,
                            name, (unsigned long long)b, (unsigned long long)en);
    if (en - b != e.nbytes)
        return bn_error_set(err, BN_EINVAL,
                            "%s: tensor '%s': data_offsets [%llu, %llu] span %llu bytes but shape x %s needs %llu",
                            st->path, name, (unsigned long long)b, (unsigned long long)en,
                            (unsigned long long)(en - b), bn_ckpt_dtype_name(e.dtype),
                            (unsigned long long)e.nbytes);
    e.offset = data_start + b; /* cannot overflow: both are below 2^54 */
    bnc_ckpt_entry_contiguous_strides(&e);
    e.name = strdup(name);
    if (!e.name) return bn_error_set(err, BN_ENOMEM, "%s: out of memory", st->path);
    return bnc_ckpt_entries_push(&st->entries, &e, err);
}

static int cmp_entry_offset(const void *a, const void *b)
{
    const bn_ckpt_entry *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Sorted by offset, the tensors must cover [data_start, file size) with no hole
 * and no overlap. */
static bn_status check_tiling(bn_st_file *st, uint64_t data_start, bn_error *err)
{
    bn_ckpt_entries *es = &st->entries;
    if (es->n > 1) qsort(es->v, es->n, sizeof *es->v, cmp_entry_offset);
    uint64_t at = data_start;
    const char *prev = NULL;
    for (size_t i = 0; i < es->n; i++) {
        const bn_ckpt_entry *e = &es->v[i];
        if (e->offset > at)
            return bn_error_set(err, BN_EINVAL, "%s: tensor '%s': hole of %llu bytes before data offset %llu",
                                st->path, e->name, (unsigned long long)(e->offset - at),
                                (unsigned long long)(e->offset - data_start));
        if (e->offset < at)
            return bn_error_set(err, BN_EINVAL, "%s: tensor '%s' at data offset %llu overlaps tensor '%s'",
                                st->path, e->name, (unsigned long long)(e->offset - data_start),
                                prev ? prev : "?");
        at += e->nbytes;
        if (e->nbytes) prev = e->name;
    }
    if (at != st->map.size)
        return bn_error_set(err, BN_EINVAL,
                            at > st->map.size ? "%s: tensors need %llu data bytes but the file holds %llu"
                                              : "%s: tensors cover %llu data bytes but the file holds %llu",
                            st->path, (unsigned long long)(at - data_start),
                            (unsigned long long)(st->map.size - data_start));
    return BN_OK;
}

static bn_status parse_header(bn_st_file *st, bn_error *err)
{
    const uint8_t *p = st->map.data;
    size_t size = st->map.size;
    if (size < 8)
        return bn_error_set(err, BN_EINVAL, "%s: %zu bytes is too short for a safetensors file", st->path, size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | p[i];
    if (n > ST_MAX_HEADER)
        return bn_error_set(err, BN_EINVAL, "%s: header length %llu exceeds the 100 MB limit", st->path,
                            (unsigned long long)n);
    if (n > size - 8)
        return bn_error_set(err, BN_EINVAL, "%s: header length %llu runs past the end of the %zu-byte file",
                            st->path, (unsigned long long)n, size);
    const uint8_t *h = p + 8;
    if (n >= 3 && h[0] == 0xef && h[1] == 0xbb && h[2] == 0xbf)
        return bn_error_set(err, BN_EINVAL, "%s: header starts with a UTF-8 byte order mark", st->path);
    size_t bad = json_text_bad_at(h, n);
    if (bad < n)
        return bn_error_set(err, BN_EINVAL, "%s: header byte %zu (0x%02x) is not valid UTF-8 JSON text", st->path,
                            bad, h[bad]);
    if (n == 0 || h[0] != '{')
        return bn_error_set(err, BN_EINVAL, "%s: header does not start with '{'", st->path);
    if ((bad = escaped_nul_at(h, n)) < n)
        return bn_error_set(err, BN_EINVAL, "%s: header byte %zu: escaped NUL character in a string", st->path, bad);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)h, n, &end, 0);
    if (!root) {
        size_t at = end ? (size_t)((const uint8_t *)end - h) : 0;
        const char *ep = cJSON_GetErrorPtr();
        if (ep && (const uint8_t *)ep >= h && (const uint8_t *)ep <= h + n) at = (size_t)((const uint8_t *)ep - h);
        return bn_error_set(err, BN_EINVAL, "%s: header is not valid JSON (near byte %zu)", st->path, at);
    }
    bn_status s = BN_OK;
    for (size_t i = (size_t)((const uint8_t *)end - h); i < n && !s; i++)
        if (h[i] != ' ' && h[i] != '\t' && h[i] != '\r' && h[i] != '\n')
            s = bn_error_set(err, BN_EINVAL, "%s: header byte %zu: trailing data 0x%02x after the JSON object",
                             st->path, i, h[i]);
    if (!s && !cJSON_IsObject(root))
        s = bn_error_set(err, BN_EINVAL, "%s: header is not a JSON object", st->path);
    if (!s) s = check_unique_keys(root, st->path, "header", err);
    for (const cJSON *c = root->child; c && !s; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0)
            s = parse_metadata(st, c, err);
        else
            s = parse_entry(st, c, 8 + n, err);
    }
    cJSON_Delete(root);
    if (!s) s = check_tiling(st, 8 + n, err);
    return s;
}

bn_status bnc_st_open(const char *path, bn_st_file **out, bn_error *err)
{
    *out = NULL;
    bn_st_file *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        free(st);
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory", path);
    }
    bn_status s = bn_map_file(path, &st->map, err);
    if (!s) s = parse_header(st, err);
    if (s) {
        bnc_st_close(st);
        return s;
    }
    *out = st;
    return BN_OK;
}

void bnc_st_close(bn_st_file *st)
{
    if (!st) return;
    bnc_ckpt_entries_free(&st->entries);
    for (size_t i = 0; i < 2 * st->n_meta; i++) free(st->meta[i]);
    free(st->meta);
    bn_unmap_file(&st->map);
    free(st->path);
    free(st);
}

bn_ckpt_entries *bnc_st_entries(bn_st_file *st) { return &st->entries; }
const uint8_t *bnc_st_base(const bn_st_file *st) { return st->map.data; }

const char *bnc_st_metadata(const bn_st_file *st, const char *key)
{
    for (size_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta[2 * i], key) == 0) return st->meta[2 * i + 1];
    return NULL;
}

