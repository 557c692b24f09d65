/*
 * fuzz_gguf.c - the GGUF reader (bn_gguf_open_mem) and everything bn-info does
 * with what it accepts: typed getters, value formatting, JSON.
 * needs: src/gguf/reader.c src/gguf/json.c
 *
 * Oracle: no sanitizer report; a refusal obeys the error contract; an accepted
 * file keeps the reader's promises (every pointer inside the image, every
 * tensor's bytes inside the file, names unique and findable).
 */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "bn/gguf.h"
#include "common.h"

static void walk_kvs(const bn_gguf *g, const uint8_t *base, size_t size)
{
    char buf[256];
    for (int64_t i = 0; i < bn_gguf_n_kv(g); i++) {
        const bn_gguf_kv *kv = bn_gguf_kv_at(g, i);
        if (!kv || !kv->key) fz_fail("kv %lld missing", (long long)i);
        if (bn_gguf_find_kv(g, kv->key) != kv) fz_fail("kv '%s' not found by name", kv->key);
        if (kv->data < base || kv->data > base + size) fz_fail("kv '%s' outside the image", kv->key);
        bn_gguf_format_value(g, kv, 8, buf, sizeof buf);
        if (kv->type == BN_GGUF_ARRAY) {
            uint64_t n = kv->arr_n < 64 ? kv->arr_n : 64;
            for (uint64_t j = 0; j < n; j++) {
                if (kv->arr_type == BN_GGUF_STRING) {
                    bn_str s = bn_gguf_arr_str(g, kv, j);
                    fz_touch(s.ptr, s.len);
                } else if (kv->arr_type != BN_GGUF_F32 && kv->arr_type != BN_GGUF_F64) {
                    (void)bn_gguf_arr_i64(kv, j);
                } else {
                    (void)bn_gguf_arr_f64(kv, j);
                }
            }
        } else if (kv->type == BN_GGUF_STRING) {
            bn_str s = bn_gguf_kv_str(kv);
            fz_touch(s.ptr, s.len);
        } else {
            int64_t iv;
            double dv;
            (void)bn_gguf_kv_as_i64(kv, &iv);
            (void)bn_gguf_kv_as_f64(kv, &dv);
        }
    }
}

static void walk_tensors(const bn_gguf *g, const uint8_t *base, size_t size)
{
    for (int64_t i = 0; i < bn_gguf_n_tensors(g); i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
        if (!t || !t->name) fz_fail("tensor %lld missing", (long long)i);
        if (bn_gguf_find_tensor(g, t->name) != t) fz_fail("tensor '%s' not found by name", t->name);
        if (t->data < base || t->nbytes > size || (size_t)(t->data - base) > size - t->nbytes)
            fz_fail("tensor '%s' data outside the file", t->name);
        if (t->nbytes) {
            fz_touch(t->data, 1);
            fz_touch(t->data + t->nbytes - 1, 1);
        }
    }
    (void)bn_gguf_sum(g);
}

static void getters(const bn_gguf *g)
{
    static const char *const keys[] = {"general.architecture", "general.alignment",
                                       "tokenizer.ggml.tokens", "general.file_type"};
    bn_error err;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        uint32_t u32;
        uint64_t u64;
        bn_str s;
        const bn_gguf_kv *kv;
        fz_check(bn_gguf_get_u32(g, keys[i], &u32, &err), &err, "get_u32");
        fz_check(bn_gguf_get_u64(g, keys[i], &u64, &err), &err, "get_u64");
        fz_check(bn_gguf_get_str(g, keys[i], &s, &err), &err, "get_str");
        fz_check(bn_gguf_get_arr(g, keys[i], BN_GGUF_STRING, &kv, &err), &err, "get_arr");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bn_gguf *g = NULL;
    bn_error err;
    bn_status st = bn_gguf_open_mem(data, size, "fuzz.gguf", &g, &err);
    fz_check(st, &err, "bn_gguf_open_mem");
    if (st != BN_OK) {
        if (g) fz_fail("failed open left a handle");
        return 0;
    }
    walk_kvs(g, data, size);
    walk_tensors(g, data, size);
    getters(g);
    cJSON *j = bn_gguf_to_json(g, 16);
    if (j) {
        char *s = cJSON_PrintUnformatted(j);
        free(s);
        cJSON_Delete(j);
    }
    bn_gguf_close(g);
    return 0;
}
