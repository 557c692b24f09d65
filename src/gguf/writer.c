/* writer.c - the streaming GGUF v3 writer. KVs and tensor infos are collected
 * in memory; the header is emitted on the first tensor write (or at finish),
 * then tensor bytes stream straight to a temp file beside the target, which
 * bn_gguf_writer_finish() renames into place. See gguf.h. */
#include "bn/gguf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bn/util.h"
#include "gguf/internal.h"
#include "util/grow.h"

typedef struct {
    char *name;      /* owned, <= 63 bytes */
    uint32_t n_dims;
    int64_t ne[4];   /* ne[0] contiguous; unused dims 1 */
    bn_type type;
    uint64_t nbytes; /* exact size from the type table */
    uint64_t offset; /* in the data section: running padded sum */
} wtensor;

struct bn_gguf_writer {
    char *path;
    uint32_t alignment;
    bn_atomic_file *af;
    FILE *f;
    uint8_t *kv;        /* (kv_len) serialized KV records, in order */
    size_t kv_len, kv_cap;
    uint64_t n_kv;
    char **keys;        /* (n_kv) owned key copies, referenced by key_set */
    size_t keys_cap;
    bnu_strset key_set; /* key -> kv index */
    wtensor *t;         /* (n_t) */
    size_t n_t, t_cap;
    bnu_strset name_set; /* tensor name -> tensor index */
    uint64_t data_end;  /* padded end of the last added tensor, in the data section */
    int started;        /* header emitted; no more KVs or infos */
    size_t cur;         /* tensor receiving bytes */
    uint64_t cur_done;  /* bytes of t[cur] written so far */
    int failed;         /* an I/O error happened: everything further is refused */
};

/* ---- little-endian serialization into the KV buffer ---------------------- */

static int reserve(bn_gguf_writer *w, size_t more)
{
    size_t need;
    if (bn_add_ovf_size(w->kv_len, more, &need))
        return -1;
    return bnu_grow((void **)&w->kv, &w->kv_cap, need, 1, 4096);
}

/* Callers reserve first, so these cannot fail. */
static void put(bn_gguf_writer *w, const void *p, size_t n)
{
    if (n)
        memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
}

static void put_le(bn_gguf_writer *w, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        w->kv[w->kv_len++] = (uint8_t)(v >> (8 * i));
}

static void put_str(bn_gguf_writer *w, const char *s, size_t n)
{
    put_le(w, n, 8);
    put(w, s, n);
}

/* ---- open ------------------------------------------------------------------ */

bn_status bn_gguf_writer_open(const char *path, uint32_t alignment, bn_gguf_writer **out,
                              bn_error *err)
{
    return bn_gguf_writer_open_in(NULL, path, alignment, out, err);
}

bn_status bn_gguf_writer_open_in(bn_outset *set, const char *path, uint32_t alignment,
                                 bn_gguf_writer **out, bn_error *err)
{
    *out = NULL;
    if (alignment == 0)
        alignment = BN_GGUF_DEFAULT_ALIGNMENT;
    if ((alignment & (alignment - 1)) != 0)
        return bn_error_set(err, BN_EINVAL, "%s: alignment %u is not a power of two", path,
                            alignment);
    bn_gguf_writer *w = calloc(1, sizeof *w);
    size_t n = strlen(path);
    if (!w || !(w->path = malloc(n + 1)) || bnu_strset_init(&w->key_set, 64) ||
        bnu_strset_init(&w->name_set, 64)) {
        bn_gguf_writer_abort(w);
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory", path);
    }
    memcpy(w->path, path, n + 1);
    w->alignment = alignment;
    bn_status st = bn_atomic_open_in(set, path, &w->af, err);
    if (st) {
        bn_gguf_writer_abort(w);
        return st;
    }
    w->f = bn_atomic_stream(w->af);
    if (alignment != BN_GGUF_DEFAULT_ALIGNMENT &&
        (st = bn_gguf_set_u32(w, "general.alignment", alignment, err))) {
        bn_gguf_writer_abort(w);
        return st;
    }
    *out = w;
    return BN_OK;
}

/* ---- KVs ------------------------------------------------------------------- */

static bn_status refuse_if_closed(bn_gguf_writer *w, const char *what, bn_error *err)
{
    if (w->failed)
        return bn_error_set(err, BN_EIO, "%s: an earlier write failed; %s refused", w->path, what);
    if (w->started)
        return bn_error_set(err, BN_EINVAL, "%s: %s after tensor data was written; add every KV "
                            "and tensor info first", w->path, what);
    return BN_OK;
}

/* Validate a new key, reserve room for the record (key string, u32 type and
 * value_bytes more) and write the key and type. The caller then puts exactly
 * value_bytes, which cannot fail. */
static bn_status kv_begin(bn_gguf_writer *w, const char *key, bn_gguf_vtype vt,
                          size_t value_bytes, bn_error *err)
{
    bn_status st = refuse_if_closed(w, "adding a KV", err);
    if (st)
        return st;
    size_t klen = strlen(key), total;
    if (klen == 0)
        return bn_error_set(err, BN_EINVAL, "%s: empty KV key", w->path);
    if (bnu_strset_find(&w->key_set, key, klen) >= 0)
        return bn_error_set(err, BN_EINVAL, "%s: duplicate key '%s'", w->path, key);
    if (bn_add_ovf_size(klen, 12, &total) || bn_add_ovf_size(total, value_bytes, &total) ||
        reserve(w, total))
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory for KV '%s'", w->path, key);
    if (bnu_grow((void **)&w->keys, &w->keys_cap, (size_t)w->n_kv + 1, sizeof *w->keys, 32))
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory for KV '%s'", w->path, key);
    char *copy = malloc(klen + 1);
    if (copy)
        memcpy(copy, key, klen + 1);
    if (!copy || bnu_strset_add(&w->key_set, copy, klen, (int64_t)w->n_kv, NULL) < 0) {
        free(copy);
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory for KV '%s'", w->path, key);
    }
    w->keys[w->n_kv++] = copy;
    put_str(w, key, klen);
    put_le(w, (uint64_t)vt, 4);
    return BN_OK;
}

/* general.alignment decides the layout, so only a u32 equal to the writer's
 * alignment is accepted; when the writer already wrote it (non-default
 * alignment) the same value again is a no-op. Returns 1 when handled. */
static int alignment_key(bn_gguf_writer *w, const char *key, bn_gguf_vtype vt, uint64_t v,
                         bn_status *st, bn_error *err)
{
    if (strcmp(key, "general.alignment") != 0)
        return 0;
    if (vt != BN_GGUF_U32)
        *st = bn_error_set(err, BN_ETYPE, "%s: general.alignment must be u32, not %s", w->path,
                           bn_gguf_vtype_name(vt));
    else if (v != w->alignment)
        *st = bn_error_set(err, BN_EINVAL, "%s: general.alignment=%llu disagrees with the "
                           "writer's alignment %u", w->path, (unsigned long long)v, w->alignment);
    else if (bnu_strset_find(&w->key_set, key, strlen(key)) >= 0)
        *st = refuse_if_closed(w, "adding a KV", err);
    else
        return 0;
    return 1;
}

static bn_status set_scalar(bn_gguf_writer *w, const char *key, bn_gguf_vtype vt, uint64_t bits,
                            bn_error *err)
{
    bn_status st;
    if (alignment_key(w, key, vt, bits, &st, err))
        return st;
    size_t n = bn_gguf_vtype_size(vt);
    if ((st = kv_begin(w, key, vt, n, err)))
        return st;
    put_le(w, bits, n);
    return BN_OK;
}

bn_status bn_gguf_set_u8(bn_gguf_writer *w, const char *key, uint8_t v, bn_error *err)
{
    return set_scalar(w, key, BN_GGUF_U8, v, err);
}
bn_status bn_gguf_set_i8(bn_gguf_writer *w, const char *key, int8_t v, bn_error *err)
{
    return set_scalar(w, key, BN_GGUF_I8, (uint8_t)v, err);
}
bn_status bn_gguf_set_u16(bn_gguf_writer *w, const char *key, uint16_t v, bn_error *err)
{
    return set_scalar(w, key, BN_GGUF_U16, v, err);
}
bn_status bn_gguf_set_i16(bn_gguf_writer *w, const char *key, int16_t v, bn_error *err)
{
    return set_scalar(w, key, BN_GGUF_I16, (uint16_t)v, err);
}
bn_status bn_gguf_set_u32(bn_gguf_writer *w, const char *key, uint32_t v, bn_error *err)
{
    return set_scalar(w, key, BN_GGUF_U32, v, err);
}
bn_status bn_gguf_set_i32(bn_gguf_writer *w, const char *key, int32_t v, bn_error *err)
{
    return set_scalar(w, key, BN_GGUF_I32, (uint32_t)v, err);
}
bn_status bn_gguf_set_u64(bn_gguf_writer *w, const char *key, uint64_t v, bn_error *err)
{
    return set_scalar(w, key, BN_GGUF_U64, v, err);
}
bn_status bn_gguf_set_i64(bn_gguf_writer *w, const char *key, int64_t v, bn_error *err)
{
    return set_scalar(w, key, BN_GGUF_I64, (uint64_t)v, err);
}
bn_status bn_gguf_set_f32(bn_gguf_writer *w, const char *key, float v, bn_error *err)
{
    return set_scalar(w, key, BN_GGUF_F32, gg_bits_of(v), err);
}
bn_status bn_gguf_set_f64(bn_gguf_writer *w, const char *key, double v, bn_error *err)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    return set_scalar(w, key, BN_GGUF_F64, u, err);
}
bn_status bn_gguf_set_bool(bn_gguf_writer *w, const char *key, int v, bn_error *err)
{
    return set_scalar(w, key, BN_GGUF_BOOL, v != 0, err);
}

bn_status bn_gguf_set_strn(bn_gguf_writer *w, const char *key, const char *v, size_t len,
                           bn_error *err)
{
    size_t n;
    if (bn_add_ovf_size(len, 8, &n))
        return bn_error_set(err, BN_ELIMIT, "%s: string for '%s' is too long", w->path, key);
    bn_status st = kv_begin(w, key, BN_GGUF_STRING, n, err);
    if (st)
        return st;
    put_str(w, v, len);
    return BN_OK;
}

bn_status bn_gguf_set_str(bn_gguf_writer *w, const char *key, const char *v, bn_error *err)
{
    return bn_gguf_set_strn(w, key, v, strlen(v), err);
}

bn_status bn_gguf_set_arr(bn_gguf_writer *w, const char *key, bn_gguf_vtype elem_type,
                          const void *data, uint64_t n, bn_error *err)
{
    size_t es = bn_gguf_vtype_size(elem_type), bytes;
    if (es == 0)
        return bn_error_set(err, BN_EINVAL, "%s: key '%s': bn_gguf_set_arr takes fixed-size "
                            "elements, not %s", w->path, key, bn_gguf_vtype_name(elem_type));
    if (n > SIZE_MAX || bn_mul_ovf_size((size_t)n, es, &bytes) || bytes > SIZE_MAX - 12)
        return bn_error_set(err, BN_ELIMIT, "%s: key '%s': array of %llu elements is too large",
                            w->path, key, (unsigned long long)n);
    const uint8_t *p = data;
    if (elem_type == BN_GGUF_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (p[i] > 1)
                return bn_error_set(err, BN_EINVAL, "%s: key '%s': bool element %llu is %u, not "
                                    "0 or 1", w->path, key, (unsigned long long)i, p[i]);
    bn_status st = kv_begin(w, key, BN_GGUF_ARRAY, 12 + bytes, err);
    if (st)
        return st;
    put_le(w, (uint64_t)elem_type, 4);
    put_le(w, n, 8);
    put(w, p, bytes); /* elements are little-endian in memory on every host we build for */
    return BN_OK;
}

bn_status bn_gguf_set_arr_str(bn_gguf_writer *w, const char *key, const char *const *strs,
                              const size_t *lens, uint64_t n, bn_error *err)
{
    size_t bytes = 12;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = lens ? lens[i] : strlen(strs[i]);
        if (bn_add_ovf_size(bytes, 8, &bytes) || bn_add_ovf_size(bytes, len, &bytes))
            return bn_error_set(err, BN_ELIMIT, "%s: key '%s': string array is too large",
                                w->path, key);
    }
    bn_status st = kv_begin(w, key, BN_GGUF_ARRAY, bytes, err);
    if (st)
        return st;
    put_le(w, BN_GGUF_STRING, 4);
    put_le(w, n, 8);
    for (uint64_t i = 0; i < n; i++)
        put_str(w, strs[i], lens ? lens[i] : strlen(strs[i]));
    return BN_OK;
}

bn_status bn_gguf_copy_kv(bn_gguf_writer *w, const bn_gguf *src, const bn_gguf_kv *kv,
                          bn_error *err)
{
    if (kv->type == BN_GGUF_STRING) {
        bn_str s = bn_gguf_kv_str(kv);
        return bn_gguf_set_strn(w, kv->key, s.ptr, (size_t)s.len, err);
    }
    if (kv->type != BN_GGUF_ARRAY) {
        uint64_t bits = 0;
        for (size_t i = bn_gguf_vtype_size(kv->type); i-- > 0;)
            bits = bits << 8 | kv->data[i];
        return set_scalar(w, kv->key, kv->type, bits, err);
    }
    if (kv->arr_type != BN_GGUF_STRING)
        return bn_gguf_set_arr(w, kv->key, kv->arr_type, kv->data, kv->arr_n, err);
    /* String arrays: the reader has checked every length against the file, so
     * the sum fits in memory that is already mapped. */
    size_t bytes = 12;
    for (uint64_t i = 0; i < kv->arr_n; i++)
        bytes += 8 + (size_t)bn_gguf_arr_str(src, kv, i).len;
    bn_status st = kv_begin(w, kv->key, BN_GGUF_ARRAY, bytes, err);
    if (st)
        return st;
    put_le(w, BN_GGUF_STRING, 4);
    put_le(w, kv->arr_n, 8);
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        bn_str s = bn_gguf_arr_str(src, kv, i);
        put_str(w, s.ptr, (size_t)s.len);
    }
    return BN_OK;
}

/* ---- tensor infos ----------------------------------------------------------- */

static bn_status tensor_shape(bn_gguf_writer *w, const char *name, uint32_t n_dims,
                              const int64_t *ne, bn_type type, wtensor *t, bn_error *err)
{
    if (n_dims < 1 || n_dims > 4)
        return bn_error_set(err, BN_EINVAL, "%s: tensor '%s': n_dims=%u is not in 1..4", w->path,
                            name, n_dims);
    if (!bn_type_known((uint32_t)type))
        return bn_error_set(err, BN_EINVAL, "%s: tensor '%s': unknown ggml type %u", w->path,
                            name, (unsigned)type);
    uint64_t n_el = 1;
    for (uint32_t j = 0; j < 4; j++) {
        t->ne[j] = j < n_dims ? ne[j] : 1;
        if (t->ne[j] <= 0)
            return bn_error_set(err, BN_EINVAL, "%s: tensor '%s': ne[%u]=%lld is not positive",
                                w->path, name, j, (long long)t->ne[j]);
        if (bn_mul_ovf_u64(n_el, (uint64_t)t->ne[j], &n_el) || n_el > (uint64_t)INT64_MAX)
            return bn_error_set(err, BN_EINVAL, "%s: tensor '%s': element count overflows int64",
                                w->path, name);
    }
    bn_status st = bn_type_nbytes(type, t->ne[0], n_el, &t->nbytes, err);
    if (st)
        return bn_error_prefix(err, "%s: tensor '%s'", w->path, name);
    t->n_dims = n_dims;
    t->type = type;
    return BN_OK;
}

bn_status bn_gguf_add_tensor(bn_gguf_writer *w, const char *name, uint32_t n_dims,
                             const int64_t *ne, bn_type type, bn_error *err)
{
    bn_status st = refuse_if_closed(w, "adding a tensor info", err);
    if (st)
        return st;
    size_t len = strlen(name);
    if (len == 0 || len > BN_GGUF_MAX_NAME)
        return bn_error_set(err, BN_EINVAL, "%s: tensor name '%s' is %zu bytes long; names are "
                            "1 to %d bytes", w->path, name, len, BN_GGUF_MAX_NAME);
    if (bnu_strset_find(&w->name_set, name, len) >= 0)
        return bn_error_set(err, BN_EINVAL, "%s: duplicate tensor name '%s'", w->path, name);
    wtensor t = {0};
    if ((st = tensor_shape(w, name, n_dims, ne, type, &t, err)))
        return st;
    uint64_t a = w->alignment, end;
    t.offset = w->data_end;
    if (bn_add_ovf_u64(t.offset, t.nbytes, &end) || bn_add_ovf_u64(end, a - 1, &end))
        return bn_error_set(err, BN_ELIMIT, "%s: tensor '%s': data section exceeds 2^64 bytes",
                            w->path, name);
    end -= end % a;
    if (bnu_grow((void **)&w->t, &w->t_cap, w->n_t + 1, sizeof *w->t, 64))
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory for tensor infos", w->path);
    t.name = malloc(len + 1);
    if (t.name)
        memcpy(t.name, name, len + 1);
    if (!t.name || bnu_strset_add(&w->name_set, t.name, len, (int64_t)w->n_t, NULL) < 0) {
        free(t.name);
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory for tensor infos", w->path);
    }
    w->t[w->n_t++] = t;
    w->data_end = end;
    return BN_OK;
}

/* ---- streaming ------------------------------------------------------------------ */

/* Called right after the failing stdio call, so errno says why (disk full,
 * file too large, I/O error). */
static bn_status io_fail(bn_gguf_writer *w, bn_error *err)
{
    int e = errno;
    w->failed = 1;
    const char *tmp = bn_atomic_temp_path(w->af);
    if (!strcmp(tmp, w->path)) /* a device written in place */
        return bn_error_set(err, BN_EIO, "%s: write failed: %s", w->path,
                            e ? strerror(e) : "short write");
    return bn_error_set(err, BN_EIO, "%s: write to the temporary file %s failed: %s", w->path,
                        tmp, e ? strerror(e) : "short write");
}

static int write_le(FILE *f, uint64_t v, size_t n)
{
    uint8_t b[8] = {0};
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return fwrite(b, 1, n, f) == n ? 0 : -1;
}

static int write_zeros(FILE *f, uint64_t n)
{
    static const uint8_t zeros[4096];
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (fwrite(zeros, 1, k, f) != k)
            return -1;
        n -= k;
    }
    return 0;
}

static bn_status emit_header(bn_gguf_writer *w, bn_error *err)
{
    FILE *f = w->f;
    uint64_t pos = 24 + w->kv_len;
    w->started = 1;
    if (fwrite("GGUF", 1, 4, f) != 4 || write_le(f, 3, 4) || write_le(f, w->n_t, 8) ||
        write_le(f, w->n_kv, 8) || (w->kv_len && fwrite(w->kv, 1, w->kv_len, f) != w->kv_len))
        return io_fail(w, err);
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        size_t len = strlen(t->name);
        if (write_le(f, len, 8) || fwrite(t->name, 1, len, f) != len ||
            write_le(f, t->n_dims, 4))
            return io_fail(w, err);
        for (uint32_t j = 0; j < t->n_dims; j++)
            if (write_le(f, (uint64_t)t->ne[j], 8))
                return io_fail(w, err);
        if (write_le(f, (uint64_t)t->type, 4) || write_le(f, t->offset, 8))
            return io_fail(w, err);
        pos += 8 + len + 4 + 8 * (uint64_t)t->n_dims + 4 + 8;
    }
    if (write_zeros(f, (w->alignment - pos % w->alignment) % w->alignment))
        return io_fail(w, err);
    return BN_OK;
}

bn_status bn_gguf_writer_write(bn_gguf_writer *w, const void *data, size_t n, bn_error *err)
{
    if (w->failed)
        return bn_error_set(err, BN_EIO, "%s: an earlier write failed; write refused", w->path);
    bn_status st;
    if (!w->started && (st = emit_header(w, err)))
        return st;
    if (n == 0)
        return BN_OK;
    if (w->cur >= w->n_t)
        return bn_error_set(err, BN_EINVAL, "%s: %zu bytes written after the last tensor was "
                            "complete", w->path, n);
    wtensor *t = &w->t[w->cur];
    uint64_t left = t->nbytes - w->cur_done;
    if (n > left)
        return bn_error_set(err, BN_EINVAL, "%s: tensor %zu '%s': a write of %zu bytes exceeds "
                            "the %llu bytes it still needs", w->path, w->cur, t->name, n,
                            (unsigned long long)left);
    if (fwrite(data, 1, n, w->f) != n)
        return io_fail(w, err);
    w->cur_done += n;
    if (w->cur_done == t->nbytes) {
        uint64_t a = w->alignment;
        if (write_zeros(w->f, (a - t->nbytes % a) % a))
            return io_fail(w, err);
        w->cur++;
        w->cur_done = 0;
    }
    return BN_OK;
}

bn_status bn_gguf_writer_finish(bn_gguf_writer *w, bn_error *err)
{
    bn_status st = BN_OK;
    if (w->failed)
        st = bn_error_set(err, BN_EIO, "%s: an earlier write failed; nothing was written",
                          w->path);
    else if (!w->started)
        st = emit_header(w, err);
    if (!st && w->cur < w->n_t)
        st = bn_error_set(err, BN_EINVAL, "%s: tensor %zu '%s' got %llu of its %llu bytes; "
                          "nothing was written", w->path, w->cur, w->t[w->cur].name,
                          (unsigned long long)w->cur_done,
                          (unsigned long long)w->t[w->cur].nbytes);
    if (st) {
        bn_gguf_writer_abort(w);
        return st;
    }
    st = bn_atomic_commit(w->af, err);
    w->af = NULL; /* freed by commit (or owned by its output set), whatever the outcome */
    bn_gguf_writer_abort(w);
    return st;
}

void bn_gguf_writer_abort(bn_gguf_writer *w)
{
    if (!w)
        return;
    bn_atomic_abort(w->af);
    for (uint64_t i = 0; i < w->n_kv; i++)
        free(w->keys[i]);
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->keys);
    free(w->t);
    free(w->kv);
    bnu_strset_free(&w->key_set);
    bnu_strset_free(&w->name_set);
    free(w->path);
    free(w);
}
