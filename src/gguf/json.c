/* json.c - a GGUF file described as JSON (bn-info --json). See gguf.h. */
#include "bn/gguf.h"

#include <cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/internal.h"
#include "util/utf8.h"

/* Bytes as a NUL-terminated UTF-8 string for cJSON: ill-formed sequences and
 * NUL bytes (which a C string cannot hold) become U+FFFD. */
static cJSON *json_str(const char *s, uint64_t len)
{
    size_t cap;
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    cap = (size_t)len * 3 + 1; /* one byte may become the 3-byte U+FFFD */
    char *out = malloc(cap), *o = out;
    if (!out)
        return NULL;
    const uint8_t *p = (const uint8_t *)s;
    for (uint64_t i = 0; i < len;) {
        int n = bnu_utf8_char(p + i, (size_t)(len - i));
        if (n <= 0 || p[i] == 0) {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
            continue;
        }
        memcpy(o, p + i, (size_t)n);
        o += n;
        i += (uint64_t)n;
    }
    *o = '\0';
    cJSON *j = cJSON_CreateString(out);
    free(out);
    return j;
}

/* Exact in a double up to 2^53; larger integers go out as decimal strings. */
static cJSON *json_u64(uint64_t v)
{
    if (v <= (1ull << 53))
        return cJSON_CreateNumber((double)v);
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return cJSON_CreateString(buf);
}

static cJSON *json_i64(int64_t v)
{
    if (v >= -(1ll << 53) && v <= (1ll << 53))
        return cJSON_CreateNumber((double)v);
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    return cJSON_CreateString(buf);
}

static cJSON *json_scalar(bn_gguf_vtype t, const uint8_t *p)
{
    int64_t i;
    switch (t) {
    case BN_GGUF_BOOL: return cJSON_CreateBool(p[0] != 0);
    case BN_GGUF_F32: return cJSON_CreateNumber((double)gg_f32_of(gg_le32(p)));
    case BN_GGUF_F64: {
        uint64_t u = gg_le64(p);
        double d;
        memcpy(&d, &u, 8);
        return cJSON_CreateNumber(d);
    }
    case BN_GGUF_U64: return json_u64(gg_le64(p));
    case BN_GGUF_I64: return json_i64((int64_t)gg_le64(p));
    default: {
        bn_gguf_kv tmp = {.type = t, .data = p};
        if (bn_gguf_kv_as_i64(&tmp, &i) != 0)
            return NULL;
        return cJSON_CreateNumber((double)i);
    }
    }
}

/* Adds item under name; 0 on success, -1 if item is NULL (out of memory). */
static int add(cJSON *obj, const char *name, cJSON *item)
{
    if (!item)
        return -1;
    cJSON_AddItemToObject(obj, name, item);
    return 0;
}

static int push(cJSON *arr, cJSON *item)
{
    if (!item)
        return -1;
    cJSON_AddItemToArray(arr, item);
    return 0;
}

static cJSON *json_kv(const bn_gguf *g, const bn_gguf_kv *kv, uint64_t max_items)
{
    cJSON *o = cJSON_CreateObject();
    int bad = !o || add(o, "key", json_str(kv->key, strlen(kv->key))) ||
              add(o, "type", cJSON_CreateString(bn_gguf_vtype_name(kv->type)));
    if (!bad && kv->type == BN_GGUF_STRING) {
        bn_str s = bn_gguf_kv_str(kv);
        bad = add(o, "offset", json_u64(kv->offset)) || add(o, "value", json_str(s.ptr, s.len));
    } else if (!bad && kv->type != BN_GGUF_ARRAY) {
        bad = add(o, "offset", json_u64(kv->offset)) ||
              add(o, "value", json_scalar(kv->type, kv->data));
    } else if (!bad) {
        cJSON *items = NULL;
        bad = add(o, "elem_type", cJSON_CreateString(bn_gguf_vtype_name(kv->arr_type))) ||
              add(o, "offset", json_u64(kv->offset)) || add(o, "count", json_u64(kv->arr_n)) ||
              !(items = cJSON_AddArrayToObject(o, "items"));
        size_t es = bn_gguf_vtype_size(kv->arr_type);
        for (uint64_t i = 0; !bad && i < kv->arr_n && i < max_items; i++) {
            if (kv->arr_type == BN_GGUF_STRING) {
                bn_str s = bn_gguf_arr_str(g, kv, i);
                bad = push(items, json_str(s.ptr, s.len));
            } else {
                bad = push(items, json_scalar(kv->arr_type, kv->data + i * es));
            }
        }
    }
    if (bad) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *json_tensor(const bn_gguf_tensor *t)
{
    cJSON *o = cJSON_CreateObject(), *ne = NULL;
    int bad = !o || add(o, "name", json_str(t->name, strlen(t->name))) ||
              add(o, "type", cJSON_CreateString(bn_type_name(t->type))) ||
              !(ne = cJSON_AddArrayToObject(o, "ne")) ||
              add(o, "n_elements", json_u64(t->n_el)) || add(o, "bytes", json_u64(t->nbytes)) ||
              add(o, "offset", json_u64(t->offset));
    for (uint32_t j = 0; !bad && j < t->n_dims; j++)
        bad = push(ne, json_i64(t->ne[j]));
    if (bad) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *bn_gguf_to_json(const bn_gguf *g, uint64_t max_items)
{
    /* Containers are attached as they are made, so one cJSON_Delete(root)
     * frees everything on any failure. */
    cJSON *root = cJSON_CreateObject(), *kvs = NULL, *ts = NULL, *tot = NULL;
    bn_gguf_totals sum = bn_gguf_sum(g);
    int bad = !root || add(root, "file", json_str(bn_gguf_path(g), strlen(bn_gguf_path(g)))) ||
              add(root, "format", cJSON_CreateString("gguf")) ||
              add(root, "version", json_u64(bn_gguf_version(g))) ||
              add(root, "alignment", json_u64(bn_gguf_alignment(g))) ||
              add(root, "n_kv", json_i64(bn_gguf_n_kv(g))) ||
              add(root, "n_tensors", json_i64(bn_gguf_n_tensors(g))) ||
              add(root, "data_offset", json_u64(bn_gguf_data_offset(g))) ||
              add(root, "file_size", json_u64(bn_gguf_file_size(g))) ||
              !(kvs = cJSON_AddArrayToObject(root, "kv")) ||
              !(ts = cJSON_AddArrayToObject(root, "tensors")) ||
              !(tot = cJSON_AddObjectToObject(root, "totals")) ||
              add(tot, "parameters", json_u64(sum.n_params)) ||
              add(tot, "bytes", json_u64(sum.n_bytes)) ||
              add(tot, "bits_per_weight",
                  sum.n_params ? cJSON_CreateNumber(8.0 * (double)sum.n_bytes /
                                                    (double)sum.n_params)
                               : cJSON_CreateNull());
    for (int64_t i = 0; !bad && i < bn_gguf_n_kv(g); i++)
        bad = push(kvs, json_kv(g, bn_gguf_kv_at(g, i), max_items));
    for (int64_t i = 0; !bad && i < bn_gguf_n_tensors(g); i++)
        bad = push(ts, json_tensor(bn_gguf_tensor_at(g, i)));
    if (bad) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}
