/* reader.c - the validated GGUF reader: parse and check a mapped image once in
 * bn_gguf_open*(), then hand out pointers into the mapping. See gguf.h. */
#include "bn/gguf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bn/util.h"
#include "gguf/internal.h"

/* Smallest possible records, for the "can these counts fit?" check made
 * before anything is allocated: a KV is a key (u64 length + at least 1 byte),
 * a u32 type and at least a 1-byte value; a tensor info is a name (8 + 1), a
 * u32 n_dims, one u64 ne, a u32 type and a u64 offset. */
#define MIN_KV_BYTES 14u
#define MIN_TENSOR_INFO_BYTES 33u
#define HEADER_BYTES 24u

struct bn_gguf {
    char *name;              /* path or caller's name, for messages */
    bn_mapped_file mf;       /* set when opened from a path */
    const uint8_t *base;     /* (size) the whole file */
    uint64_t size;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;    /* file offset of the data section */
    int64_t n_kv;
    bn_gguf_kv *kvs;         /* (n_kv) */
    uint64_t **str_index;    /* (n_kv) for string arrays: file offset of each element, else NULL */
    int64_t n_tensors;
    bn_gguf_tensor *tensors; /* (n_tensors) */
    bnu_strset keys;         /* key -> kv index */
    bnu_strset names;        /* tensor name -> tensor index */
};

/* ---- the parse cursor ------------------------------------------------------ */

typedef struct {
    const uint8_t *b;
    uint64_t size;
    uint64_t pos;
    const char *name; /* file name for messages */
    char ctx[200];    /* "kv 5 'general.name'", "tensor 3 'x'", or "" */
    bn_error *err;
} cursor;

/* Fail with "<file>: <ctx>: <message> (offset N)". Always BN_EINVAL: every
 * parse failure is a property of the input. */
static bn_status fail_at(cursor *c, uint64_t off, const char *fmt, ...) BN_PRINTF(3, 4);
static bn_status fail_at(cursor *c, uint64_t off, const char *fmt, ...)
{
    char msg[BN_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return bn_error_set(c->err, BN_EINVAL, "%s: %s%s%s (offset %llu)", c->name, c->ctx,
                        c->ctx[0] ? ": " : "", msg, (unsigned long long)off);
}

static uint64_t remaining(const cursor *c) { return c->size - c->pos; }

static bn_status need(cursor *c, uint64_t n, const char *what)
{
    if (remaining(c) < n)
        return fail_at(c, c->pos, "file truncated: %s needs %llu bytes but only %llu remain", what,
                       (unsigned long long)n, (unsigned long long)remaining(c));
    return BN_OK;
}

static bn_status rd_u32(cursor *c, const char *what, uint32_t *v)
{
    bn_status st = need(c, 4, what);
    if (st)
        return st;
    *v = gg_le32(c->b + c->pos);
    c->pos += 4;
    return BN_OK;
}

static bn_status rd_u64(cursor *c, const char *what, uint64_t *v)
{
    bn_status st = need(c, 8, what);
    if (st)
        return st;
    *v = gg_le64(c->b + c->pos);
    c->pos += 8;
    return BN_OK;
}

/* A GGUF string: u64 length checked against the bytes that remain. */
static bn_status rd_str(cursor *c, const char *what, bn_str *s)
{
    uint64_t at = c->pos, len;
    bn_status st = rd_u64(c, what, &len);
    if (st)
        return st;
    if (len > remaining(c))
        return fail_at(c, at, "%s length %llu exceeds the %llu bytes left in the file", what,
                       (unsigned long long)len, (unsigned long long)remaining(c));
    s->ptr = (const char *)c->b + c->pos;
    s->len = len;
    c->pos += len;
    return BN_OK;
}

/* A NUL-terminated copy of a key or tensor name; names with NUL bytes cannot
 * be looked up as C strings, so they are refused. */
static bn_status copy_name(cursor *c, uint64_t at, bn_str s, const char *what, char **out)
{
    if (s.len == 0)
        return fail_at(c, at, "%s is empty", what);
    if (memchr(s.ptr, 0, s.len))
        return fail_at(c, at, "%s contains a NUL byte", what);
    char *p = malloc(s.len + 1);
    if (!p)
        return bn_error_set(c->err, BN_ENOMEM, "%s: out of memory copying a %s of %llu bytes",
                            c->name, what, (unsigned long long)s.len);
    memcpy(p, s.ptr, s.len);
    p[s.len] = '\0';
    *out = p;
    return BN_OK;
}

static void set_ctx(cursor *c, const char *kind, int64_t i, const char *name, uint64_t len)
{
    char esc[128];
    bn_gguf_escape(name, len, esc, sizeof esc);
    snprintf(c->ctx, sizeof c->ctx, "%s %lld '%s'", kind, (long long)i, esc);
}

/* ---- KVs --------------------------------------------------------------------- */

static bn_status check_bools(cursor *c, const uint8_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i] > 1)
            return fail_at(c, (uint64_t)(p + i - c->b), "bool value %u is not 0 or 1", p[i]);
    return BN_OK;
}

static bn_status parse_array(bn_gguf *g, cursor *c, bn_gguf_kv *kv, int64_t idx)
{
    uint64_t at = c->pos;
    uint32_t et;
    uint64_t n;
    bn_status st = rd_u32(c, "array element type", &et);
    if (st)
        return st;
    if (et == BN_GGUF_ARRAY)
        return fail_at(c, at, "arrays of arrays are not allowed");
    if (et > BN_GGUF_F64)
        return fail_at(c, at, "unknown array element type %u", et);
    at = c->pos;
    if ((st = rd_u64(c, "array count", &n)))
        return st;
    kv->arr_type = (bn_gguf_vtype)et;
    kv->arr_n = n;
    kv->data = c->b + c->pos;
    if (et != BN_GGUF_STRING) {
        size_t es = bn_gguf_vtype_size(et);
        if (n > remaining(c) / es)
            return fail_at(c, at, "array of %llu %s needs %llu bytes per element but only %llu "
                           "bytes remain", (unsigned long long)n, bn_gguf_vtype_name(et),
                           (unsigned long long)es, (unsigned long long)remaining(c));
        if (et == BN_GGUF_BOOL && (st = check_bools(c, kv->data, n)))
            return st;
        c->pos += n * es;
        return BN_OK;
    }
    /* Every string takes at least its 8-byte length: cap n before allocating the index. */
    if (n > remaining(c) / 8)
        return fail_at(c, at, "array of %llu strings cannot fit in the %llu bytes that remain",
                       (unsigned long long)n, (unsigned long long)remaining(c));
    uint64_t *index = malloc((n ? n : 1) * sizeof *index);
    if (!index)
        return bn_error_set(c->err, BN_ENOMEM, "%s: %s: out of memory indexing %llu strings",
                            c->name, c->ctx, (unsigned long long)n);
    g->str_index[idx] = index;
    for (uint64_t i = 0; i < n; i++) {
        bn_str s;
        index[i] = c->pos;
        if ((st = rd_str(c, "array string", &s)))
            return st;
    }
    return BN_OK;
}

static bn_status parse_kv(bn_gguf *g, cursor *c, int64_t i)
{
    bn_gguf_kv *kv = &g->kvs[i];
    uint64_t at = c->pos;
    bn_str key;
    char *copy;
    snprintf(c->ctx, sizeof c->ctx, "kv %lld", (long long)i);
    bn_status st = rd_str(c, "key", &key);
    if (st || (st = copy_name(c, at, key, "key", &copy)))
        return st;
    kv->key = copy;
    kv->offset = at;
    set_ctx(c, "kv", i, key.ptr, key.len);
    int64_t prev;
    int r = bnu_strset_add(&g->keys, copy, (size_t)key.len, i, &prev);
    if (r < 0)
        return bn_error_set(c->err, BN_ENOMEM, "%s: out of memory", c->name);
    if (r > 0)
        return fail_at(c, at, "duplicate key (first defined by kv %lld)", (long long)prev);
    uint32_t vt;
    at = c->pos;
    if ((st = rd_u32(c, "value type", &vt)))
        return st;
    if (vt > BN_GGUF_F64)
        return fail_at(c, at, "unknown value type %u", vt);
    kv->type = (bn_gguf_vtype)vt;
    if (vt == BN_GGUF_ARRAY)
        return parse_array(g, c, kv, i);
    kv->data = c->b + c->pos;
    if (vt == BN_GGUF_STRING) {
        bn_str s;
        return rd_str(c, "string value", &s);
    }
    size_t sz = bn_gguf_vtype_size(vt);
    if ((st = need(c, sz, bn_gguf_vtype_name(vt))))
        return st;
    if (vt == BN_GGUF_BOOL && (st = check_bools(c, kv->data, 1)))
        return st;
    c->pos += sz;
    return BN_OK;
}

static bn_status read_alignment(bn_gguf *g, cursor *c)
{
    g->alignment = BN_GGUF_DEFAULT_ALIGNMENT;
    int64_t i = bnu_strset_find(&g->keys, "general.alignment", sizeof "general.alignment" - 1);
    if (i < 0)
        return BN_OK;
    const bn_gguf_kv *kv = &g->kvs[i];
    set_ctx(c, "kv", i, kv->key, strlen(kv->key));
    if (kv->type != BN_GGUF_U32)
        return fail_at(c, kv->offset, "general.alignment has type %s, expected u32",
                       bn_gguf_vtype_name(kv->type));
    uint32_t a = gg_le32(kv->data);
    if (a == 0 || (a & (a - 1)) != 0)
        return fail_at(c, kv->offset, "general.alignment=%u is not a power of two", a);
    g->alignment = a;
    return BN_OK;
}

/* ---- tensor infos ------------------------------------------------------------ */

static bn_status parse_shape(cursor *c, bn_gguf_tensor *t)
{
    uint64_t at = c->pos;
    bn_status st = rd_u32(c, "n_dims", &t->n_dims);
    if (st)
        return st;
    if (t->n_dims < 1 || t->n_dims > 4)
        return fail_at(c, at, "n_dims=%u is not in 1..4", t->n_dims);
    uint64_t n_el = 1;
    for (int j = 0; j < 4; j++)
        t->ne[j] = 1;
    for (uint32_t j = 0; j < t->n_dims; j++) {
        uint64_t v;
        char what[16];
        snprintf(what, sizeof what, "ne[%u]", j);
        at = c->pos;
        if ((st = rd_u64(c, what, &v)))
            return st;
        if (v == 0 || v > (uint64_t)INT64_MAX)
            return fail_at(c, at, "ne[%u]=%lld is not a positive size", j, (long long)v);
        if (bn_mul_ovf_u64(n_el, v, &n_el) || n_el > (uint64_t)INT64_MAX)
            return fail_at(c, at, "ne[%u]=%llu makes the element count overflow int64", j,
                           (unsigned long long)v);
        t->ne[j] = (int64_t)v;
    }
    t->n_el = n_el;
    return BN_OK;
}

static bn_status parse_tensor_info(bn_gguf *g, cursor *c, int64_t i, uint64_t *offset_field)
{
    bn_gguf_tensor *t = &g->tensors[i];
    uint64_t at = c->pos;
    bn_str name;
    char *copy;
    snprintf(c->ctx, sizeof c->ctx, "tensor %lld", (long long)i);
    bn_status st = rd_str(c, "tensor name", &name);
    if (st)
        return st;
    if (name.len > BN_GGUF_MAX_NAME) {
        set_ctx(c, "tensor", i, name.ptr, name.len);
        return fail_at(c, at, "name is %llu bytes long, more than %d", (unsigned long long)name.len,
                       BN_GGUF_MAX_NAME);
    }
    if ((st = copy_name(c, at, name, "tensor name", &copy)))
        return st;
    t->name = copy;
    set_ctx(c, "tensor", i, name.ptr, name.len);
    int64_t prev;
    int r = bnu_strset_add(&g->names, copy, (size_t)name.len, i, &prev);
    if (r < 0)
        return bn_error_set(c->err, BN_ENOMEM, "%s: out of memory", c->name);
    if (r > 0)
        return fail_at(c, at, "duplicate tensor name (first used by tensor %lld)", (long long)prev);
    if ((st = parse_shape(c, t)))
        return st;
    uint32_t type;
    at = c->pos;
    if ((st = rd_u32(c, "ggml type", &type)))
        return st;
    if (!bn_type_known(type))
        return fail_at(c, at, "unknown or unsupported ggml type %u", type);
    t->type = (bn_type)type;
    int64_t blk = bn_type_block_size(t->type);
    if (t->ne[0] % blk != 0)
        return fail_at(c, at, "ne[0]=%lld is not a multiple of the %s block (%lld)",
                       (long long)t->ne[0], bn_type_name(type), (long long)blk);
    bn_error e;
    if (bn_type_nbytes(t->type, t->ne[0], t->n_el, &t->nbytes, &e) != BN_OK)
        return fail_at(c, at, "%s", e.msg);
    *offset_field = c->pos;
    return rd_u64(c, "tensor offset", &t->offset);
}

/* llama.cpp's rule: each offset is the running sum of the previous tensors'
 * sizes, each padded to the alignment. Only the last tensor's own padding may
 * be missing at the end of the file. */
static bn_status check_layout(bn_gguf *g, cursor *c, const uint64_t *offset_field)
{
    uint64_t expect = 0, a = g->alignment;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        bn_gguf_tensor *t = &g->tensors[i];
        uint64_t at = offset_field[i], off = t->offset;
        set_ctx(c, "tensor", i, t->name, strlen(t->name));
        if (off % a != 0)
            return fail_at(c, at, "data offset %llu is not a multiple of the alignment (%llu)",
                           (unsigned long long)off, (unsigned long long)a);
        if (off < expect)
            return fail_at(c, at, "data offset %llu overlaps tensor %lld '%s', which ends at %llu "
                           "(padded)", (unsigned long long)off, (long long)(i - 1),
                           g->tensors[i - 1].name, (unsigned long long)expect);
        if (off > expect)
            return fail_at(c, at, "data offset %llu leaves a gap: the previous tensors end at %llu "
                           "(padded)", (unsigned long long)off, (unsigned long long)expect);
        uint64_t begin, end;
        if (bn_add_ovf_u64(g->data_offset, off, &begin) ||
            bn_add_ovf_u64(begin, t->nbytes, &end) || end > g->size)
            return fail_at(c, at, "its %llu bytes of data at file offset %llu run past the end "
                           "of the file (%llu bytes)", (unsigned long long)t->nbytes,
                           (unsigned long long)g->data_offset + off,
                           (unsigned long long)g->size);
        t->data = g->base + begin;
        /* end <= size, so neither the addition nor the padding can overflow. */
        expect = off + t->nbytes;
        expect += (a - expect % a) % a;
    }
    return BN_OK;
}

/* ---- open / close -------------------------------------------------------------- */

/* ---- not a GGUF: say what it is instead ---------------------------------------- */

/* What a file that is not GGUF looks like it is, from its first bytes: the
 * checkpoint formats a user most often hands us by mistake. NULL: unknown. */
static const char *checkpoint_kind(const uint8_t *b, uint64_t size)
{
    if (size >= 4 && memcmp(b, "PK\x03\x04", 4) == 0)
        return "a PyTorch checkpoint (zip)";
    if (size >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5)
        return "a PyTorch checkpoint (legacy pickle)";
    /* safetensors: u64 little-endian header length, then a JSON object */
    if (size >= 10) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--)
            n = n << 8 | b[i];
        if (n >= 2 && n <= size - 8 && b[8] == '{')
            return "a safetensors checkpoint";
    }
    return NULL;
}

/* The directory part of path ("." when there is none), into buf. */
static const char *dir_of(const char *path, char *buf, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return ".";
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, path, n);
    buf[n] = '\0';
    return buf;
}

/* A directory given where a GGUF file is expected: a Hugging Face model
 * directory (config.json inside) gets the command that converts it. */
static bn_status refuse_directory(const char *path, bn_error *err)
{
    char cfg[4096];
    struct stat st;
    int n = snprintf(cfg, sizeof cfg, "%s/config.json", path);
    if (n > 0 && (size_t)n < sizeof cfg && stat(cfg, &st) == 0 && S_ISREG(st.st_mode))
        return bn_error_set(err, BN_EINVAL,
                            "%s is a Hugging Face checkpoint directory, not a GGUF file; convert it "
                            "first: bn-convert %s OUT.gguf",
                            path, path);
    return bn_error_set(err, BN_EINVAL, "%s is a directory, not a GGUF file", path);
}

static bn_status parse_header(bn_gguf *g, cursor *c, uint64_t *n_tensors, uint64_t *n_kv)
{
    const char *kind = c->size >= 4 && memcmp(c->b, "GGUF", 4) != 0 ? checkpoint_kind(c->b, c->size)
                                                                     : NULL;
    if (kind) {
        char dir[4096];
        return bn_error_set(c->err, BN_EINVAL,
                            "%s is %s, not a GGUF file: this is a Hugging Face checkpoint; convert "
                            "it first: bn-convert %s OUT.gguf",
                            c->name, kind, dir_of(c->name, dir, sizeof dir));
    }
    if (c->size < 4 || memcmp(c->b, "GGUF", 4) != 0) {
        char esc[64];
        bn_gguf_escape((const char *)c->b, c->size < 4 ? c->size : 4, esc, sizeof esc);
        return fail_at(c, 0, "bad magic \"%s\" (expected \"GGUF\")", esc);
    }
    c->pos = 4;
    bn_status st = rd_u32(c, "version", &g->version);
    if (st)
        return st;
    if (g->version != 2 && g->version != 3)
        return fail_at(c, 4, "version %u is not supported (only 2 and 3)%s", g->version,
                       (g->version & 0xffff) == 0 ? "; is it a big-endian GGUF?" : "");
    if ((st = rd_u64(c, "tensor count", n_tensors)) || (st = rd_u64(c, "KV count", n_kv)))
        return st;
    uint64_t rem = remaining(c);
    if (*n_kv > rem / MIN_KV_BYTES)
        return fail_at(c, 16, "KV count %llu cannot fit: each KV takes at least %u bytes and "
                       "only %llu bytes follow the header", (unsigned long long)*n_kv,
                       MIN_KV_BYTES, (unsigned long long)rem);
    if (*n_tensors > (rem - *n_kv * MIN_KV_BYTES) / MIN_TENSOR_INFO_BYTES)
        return fail_at(c, 8, "tensor count %llu cannot fit: each tensor info takes at least %u "
                       "bytes and only %llu bytes follow the header and the KVs' minimum size",
                       (unsigned long long)*n_tensors, MIN_TENSOR_INFO_BYTES,
                       (unsigned long long)(rem - *n_kv * MIN_KV_BYTES));
    return BN_OK;
}

static bn_status parse(bn_gguf *g, bn_error *err)
{
    cursor c = {.b = g->base, .size = g->size, .name = g->name, .err = err};
    uint64_t n_tensors, n_kv;
    bn_status st = parse_header(g, &c, &n_tensors, &n_kv);
    if (st)
        return st;
    /* Both counts are now bounded by the file size, so these allocations are too. */
    g->kvs = calloc(n_kv ? n_kv : 1, sizeof *g->kvs);
    g->str_index = calloc(n_kv ? n_kv : 1, sizeof *g->str_index);
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    uint64_t *offset_field = calloc(n_tensors ? n_tensors : 1, sizeof *offset_field);
    if (!g->kvs || !g->str_index || !g->tensors || !offset_field ||
        bnu_strset_init(&g->keys, n_kv) || bnu_strset_init(&g->names, n_tensors)) {
        free(offset_field);
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory for %llu KVs and %llu tensors",
                            g->name, (unsigned long long)n_kv, (unsigned long long)n_tensors);
    }
    for (uint64_t i = 0; i < n_kv && !st; i++) {
        st = parse_kv(g, &c, (int64_t)i);
        g->n_kv = (int64_t)i + 1; /* so close() frees a partly parsed record */
    }
    if (!st)
        st = read_alignment(g, &c);
    for (uint64_t i = 0; i < n_tensors && !st; i++) {
        st = parse_tensor_info(g, &c, (int64_t)i, &offset_field[i]);
        g->n_tensors = (int64_t)i + 1;
    }
    if (!st) {
        c.ctx[0] = '\0';
        g->data_offset = c.pos + (g->alignment - c.pos % g->alignment) % g->alignment;
        if (n_tensors > 0 && g->data_offset > g->size)
            st = fail_at(&c, c.pos, "the data section would start at %llu, past the end of the "
                         "file (%llu bytes)", (unsigned long long)g->data_offset,
                         (unsigned long long)g->size);
    }
    if (!st)
        st = check_layout(g, &c, offset_field);
    free(offset_field);
    return st;
}

static bn_status open_image(bn_gguf *g, bn_gguf **out, bn_error *err)
{
    bn_status st = parse(g, err);
    if (st) {
        bn_gguf_close(g);
        return st;
    }
    *out = g;
    return BN_OK;
}

static bn_gguf *alloc_handle(const char *name, bn_error *err)
{
    bn_gguf *g = calloc(1, sizeof *g);
    size_t n = strlen(name);
    if (g)
        g->name = malloc(n + 1);
    if (!g || !g->name) {
        free(g);
        bn_error_set(err, BN_ENOMEM, "%s: out of memory", name);
        return NULL;
    }
    memcpy(g->name, name, n + 1);
    return g;
}

bn_status bn_gguf_open(const char *path, bn_gguf **out, bn_error *err)
{
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return refuse_directory(path, err);
    bn_gguf *g = alloc_handle(path, err);
    if (!g)
        return BN_ENOMEM;
    bn_status st = bn_map_file(path, &g->mf, err);
    if (st) {
        bn_gguf_close(g);
        return st;
    }
    g->base = g->mf.data;
    g->size = g->mf.size;
    return open_image(g, out, err);
}

bn_status bn_gguf_open_mem(const void *data, size_t size, const char *name, bn_gguf **out,
                           bn_error *err)
{
    *out = NULL;
    static const uint8_t empty[1];
    bn_gguf *g = alloc_handle(name ? name : "<memory>", err);
    if (!g)
        return BN_ENOMEM;
    g->base = data ? data : empty;
    g->size = data ? size : 0;
    return open_image(g, out, err);
}

void bn_gguf_close(bn_gguf *g)
{
    if (!g)
        return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        free((char *)g->kvs[i].key);
        free(g->str_index[i]);
    }
    for (int64_t i = 0; i < g->n_tensors; i++)
        free((char *)g->tensors[i].name);
    free(g->kvs);
    free(g->str_index);
    free(g->tensors);
    bnu_strset_free(&g->keys);
    bnu_strset_free(&g->names);
    bn_unmap_file(&g->mf);
    free(g->name);
    free(g);
}

/* ---- accessors ------------------------------------------------------------------ */

const char *bn_gguf_path(const bn_gguf *g) { return g->name; }
uint32_t bn_gguf_version(const bn_gguf *g) { return g->version; }
uint32_t bn_gguf_alignment(const bn_gguf *g) { return g->alignment; }
uint64_t bn_gguf_data_offset(const bn_gguf *g) { return g->data_offset; }
uint64_t bn_gguf_file_size(const bn_gguf *g) { return g->size; }
int64_t bn_gguf_n_kv(const bn_gguf *g) { return g->n_kv; }
int64_t bn_gguf_n_tensors(const bn_gguf *g) { return g->n_tensors; }

const bn_gguf_kv *bn_gguf_kv_at(const bn_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_kv ? &g->kvs[i] : NULL;
}

const bn_gguf_kv *bn_gguf_find_kv(const bn_gguf *g, const char *key)
{
    int64_t i = bnu_strset_find(&g->keys, key, strlen(key));
    return i < 0 ? NULL : &g->kvs[i];
}

const bn_gguf_tensor *bn_gguf_tensor_at(const bn_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const bn_gguf_tensor *bn_gguf_find_tensor(const bn_gguf *g, const char *name)
{
    int64_t i = bnu_strset_find(&g->names, name, strlen(name));
    return i < 0 ? NULL : &g->tensors[i];
}

bn_gguf_totals bn_gguf_sum(const bn_gguf *g)
{
    /* Tensor data lies inside the file, so the byte sum cannot overflow; the
     * element sum could only for absurd files, and saturates. */
    bn_gguf_totals t = {0, 0};
    for (int64_t i = 0; i < g->n_tensors; i++) {
        if (bn_add_ovf_u64(t.n_params, g->tensors[i].n_el, &t.n_params))
            t.n_params = UINT64_MAX;
        t.n_bytes += g->tensors[i].nbytes;
    }
    return t;
}

/* ---- typed getters ---------------------------------------------------------------- */

static bn_status typed(const bn_gguf *g, const char *key, bn_gguf_vtype want,
                       const bn_gguf_kv **out, bn_error *err)
{
    const bn_gguf_kv *kv = bn_gguf_find_kv(g, key);
    if (!kv)
        return bn_error_set(err, BN_ENOTFOUND, "%s: key '%s' is missing", g->name, key);
    if (kv->type != want) {
        if (kv->type == BN_GGUF_ARRAY)
            return bn_error_set(err, BN_ETYPE, "%s: key '%s' is an array of %s, expected %s",
                                g->name, key, bn_gguf_vtype_name(kv->arr_type),
                                bn_gguf_vtype_name(want));
        return bn_error_set(err, BN_ETYPE, "%s: key '%s' has type %s, expected %s", g->name, key,
                            bn_gguf_vtype_name(kv->type), bn_gguf_vtype_name(want));
    }
    *out = kv;
    return BN_OK;
}

bn_status bn_gguf_get_u8(const bn_gguf *g, const char *key, uint8_t *out, bn_error *err)
{
    const bn_gguf_kv *kv;
    bn_status st = typed(g, key, BN_GGUF_U8, &kv, err);
    if (!st)
        *out = kv->data[0];
    return st;
}

bn_status bn_gguf_get_u32(const bn_gguf *g, const char *key, uint32_t *out, bn_error *err)
{
    const bn_gguf_kv *kv;
    bn_status st = typed(g, key, BN_GGUF_U32, &kv, err);
    if (!st)
        *out = gg_le32(kv->data);
    return st;
}

bn_status bn_gguf_get_i32(const bn_gguf *g, const char *key, int32_t *out, bn_error *err)
{
    const bn_gguf_kv *kv;
    bn_status st = typed(g, key, BN_GGUF_I32, &kv, err);
    if (!st)
        *out = bn_gguf_kv_i32(kv);
    return st;
}

bn_status bn_gguf_get_u64(const bn_gguf *g, const char *key, uint64_t *out, bn_error *err)
{
    const bn_gguf_kv *kv;
    bn_status st = typed(g, key, BN_GGUF_U64, &kv, err);
    if (!st)
        *out = gg_le64(kv->data);
    return st;
}

bn_status bn_gguf_get_f32(const bn_gguf *g, const char *key, float *out, bn_error *err)
{
    const bn_gguf_kv *kv;
    bn_status st = typed(g, key, BN_GGUF_F32, &kv, err);
    if (!st)
        *out = bn_gguf_kv_f32(kv);
    return st;
}

bn_status bn_gguf_get_bool(const bn_gguf *g, const char *key, int *out, bn_error *err)
{
    const bn_gguf_kv *kv;
    bn_status st = typed(g, key, BN_GGUF_BOOL, &kv, err);
    if (!st)
        *out = kv->data[0] != 0;
    return st;
}

bn_status bn_gguf_get_str(const bn_gguf *g, const char *key, bn_str *out, bn_error *err)
{
    const bn_gguf_kv *kv;
    bn_status st = typed(g, key, BN_GGUF_STRING, &kv, err);
    if (!st)
        *out = bn_gguf_kv_str(kv);
    return st;
}

bn_status bn_gguf_get_arr(const bn_gguf *g, const char *key, bn_gguf_vtype elem_type,
                          const bn_gguf_kv **out, bn_error *err)
{
    const bn_gguf_kv *kv;
    bn_status st = typed(g, key, BN_GGUF_ARRAY, &kv, err);
    if (st)
        return st;
    if (kv->arr_type != elem_type)
        return bn_error_set(err, BN_ETYPE, "%s: key '%s' is an array of %s, expected an array "
                            "of %s", g->name, key, bn_gguf_vtype_name(kv->arr_type),
                            bn_gguf_vtype_name(elem_type));
    *out = kv;
    return BN_OK;
}

/* ---- value decoding ----------------------------------------------------------------- */

uint32_t bn_gguf_kv_u32(const bn_gguf_kv *kv) { return gg_le32(kv->data); }
int32_t bn_gguf_kv_i32(const bn_gguf_kv *kv) { return (int32_t)gg_le32(kv->data); }

static double f64_of(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

float bn_gguf_kv_f32(const bn_gguf_kv *kv) { return gg_f32_of(gg_le32(kv->data)); }

bn_str bn_gguf_kv_str(const bn_gguf_kv *kv)
{
    bn_str s = {(const char *)kv->data + 8, gg_le64(kv->data)};
    return s;
}

/* Element at p of integer type t widened to int64; -1 if t is not an integer.
 * u64 values above INT64_MAX are reported as not representable. */
static int int_at(bn_gguf_vtype t, const uint8_t *p, int64_t *out)
{
    switch (t) {
    case BN_GGUF_U8:
    case BN_GGUF_BOOL: *out = p[0]; return 0;
    case BN_GGUF_I8: *out = (int8_t)p[0]; return 0;
    case BN_GGUF_U16: *out = gg_le16(p); return 0;
    case BN_GGUF_I16: *out = (int16_t)gg_le16(p); return 0;
    case BN_GGUF_U32: *out = gg_le32(p); return 0;
    case BN_GGUF_I32: *out = (int32_t)gg_le32(p); return 0;
    case BN_GGUF_I64: *out = (int64_t)gg_le64(p); return 0;
    case BN_GGUF_U64:
        if (gg_le64(p) > (uint64_t)INT64_MAX)
            return -1;
        *out = (int64_t)gg_le64(p);
        return 0;
    default: return -1;
    }
}

static int num_at(bn_gguf_vtype t, const uint8_t *p, double *out)
{
    int64_t v;
    if (t == BN_GGUF_F32) {
        *out = gg_f32_of(gg_le32(p));
        return 0;
    }
    if (t == BN_GGUF_F64) {
        *out = f64_of(gg_le64(p));
        return 0;
    }
    if (t == BN_GGUF_U64) {
        *out = (double)gg_le64(p);
        return 0;
    }
    if (int_at(t, p, &v) != 0)
        return -1;
    *out = (double)v;
    return 0;
}

int bn_gguf_kv_as_i64(const bn_gguf_kv *kv, int64_t *out) { return int_at(kv->type, kv->data, out); }
int bn_gguf_kv_as_f64(const bn_gguf_kv *kv, double *out) { return num_at(kv->type, kv->data, out); }

bn_str bn_gguf_arr_str(const bn_gguf *g, const bn_gguf_kv *kv, uint64_t i)
{
    const uint64_t *index = g->str_index[kv - g->kvs];
    const uint8_t *p = g->base + index[i];
    bn_str s = {(const char *)p + 8, gg_le64(p)};
    return s;
}

int64_t bn_gguf_arr_i64(const bn_gguf_kv *kv, uint64_t i)
{
    int64_t v = 0;
    size_t es = bn_gguf_vtype_size(kv->arr_type);
    if (int_at(kv->arr_type, kv->data + i * es, &v) != 0 && kv->arr_type == BN_GGUF_U64)
        v = INT64_MAX; /* saturate the one unrepresentable case */
    return v;
}

double bn_gguf_arr_f64(const bn_gguf_kv *kv, uint64_t i)
{
    double v = 0;
    num_at(kv->arr_type, kv->data + i * bn_gguf_vtype_size(kv->arr_type), &v);
    return v;
}
