/*
 * checkpoint.c - the one checkpoint API (include/bn/checkpoint.h), its tensor
 * table: finds the weights in a directory, reads index files, merges the
 * shards' tensor tables into one name index, reports aliases and the state
 * dict. Moving a tensor's bytes into a caller's buffer (views, zip entries,
 * dtype conversion) is ckpt_read.c.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cJSON.h>

#include "bn/checkpoint.h"
#include "bn/util.h"
#include "convert/ckpt_internal.h"
#include "util/json_strict.h"

#define CK_MAX_INDEX (64u << 20)  /* an index for 10^6 tensors is ~100 MB; real ones are < 1 MB */
#define CK_MAX_CONFIG (16u << 20)

/* ---- dtypes -------------------------------------------------------------------- */

static const struct { const char *name; size_t size; } dtypes[BN_CKPT_DTYPE_COUNT] = {
    [BN_CKPT_F64] = {"F64", 8},     [BN_CKPT_F32] = {"F32", 4},         [BN_CKPT_F16] = {"F16", 2},
    [BN_CKPT_BF16] = {"BF16", 2},   [BN_CKPT_I64] = {"I64", 8},         [BN_CKPT_I32] = {"I32", 4},
    [BN_CKPT_I16] = {"I16", 2},     [BN_CKPT_I8] = {"I8", 1},           [BN_CKPT_U64] = {"U64", 8},
    [BN_CKPT_U32] = {"U32", 4},     [BN_CKPT_U16] = {"U16", 2},         [BN_CKPT_U8] = {"U8", 1},
    [BN_CKPT_BOOL] = {"BOOL", 1},   [BN_CKPT_F8_E4M3] = {"F8_E4M3", 1}, [BN_CKPT_F8_E5M2] = {"F8_E5M2", 1},
};

const char *bn_ckpt_dtype_name(bn_ckpt_dtype dt)
{
    return (unsigned)dt < BN_CKPT_DTYPE_COUNT ? dtypes[dt].name : "?";
}

size_t bn_ckpt_dtype_size(bn_ckpt_dtype dt)
{
    return (unsigned)dt < BN_CKPT_DTYPE_COUNT ? dtypes[dt].size : 0;
}

int bn_ckpt_dtype_from_name(const char *name, bn_ckpt_dtype *dt)
{
    for (int i = 0; i < BN_CKPT_DTYPE_COUNT; i++)
        if (strcmp(name, dtypes[i].name) == 0) {
            *dt = (bn_ckpt_dtype)i;
            return 0;
        }
    return -1;
}

/* ---- entries (shared with the backends) -------------------------------------------- */

bn_status bn_ckpt_entries_push(bn_ckpt_entries *es, bn_ckpt_entry *e, bn_error *err)
{
    if (es->n == es->cap) {
        size_t nc = es->cap ? 2 * es->cap : 64;
        bn_ckpt_entry *nv = realloc(es->v, nc * sizeof *nv);
        if (!nv) {
            free(e->name);
            return bn_error_set(err, BN_ENOMEM, "out of memory for %zu tensors", nc);
        }
        es->v = nv;
        es->cap = nc;
    }
    es->v[es->n++] = *e;
    return BN_OK;
}

void bn_ckpt_entries_free(bn_ckpt_entries *es)
{
    for (size_t i = 0; i < es->n; i++) free(es->v[i].name);
    free(es->v);
    memset(es, 0, sizeof *es);
}

bn_status bn_ckpt_entry_sizes(bn_ckpt_entry *e, bn_error *err)
{
    uint64_t n = 1;
    for (int i = 0; i < e->n_dims; i++)
        if (e->shape[i] < 0 || bn_mul_ovf_u64(n, (uint64_t)e->shape[i], &n))
            return bn_error_set(err, BN_EINVAL, "shape overflows at dimension %d", i);
    if (bn_mul_ovf_u64(n, bn_ckpt_dtype_size(e->dtype), &e->nbytes) || e->nbytes > (uint64_t)INT64_MAX)
        return bn_error_set(err, BN_EINVAL, "byte size of %llu elements overflows", (unsigned long long)n);
    e->n_el = n;
    return BN_OK;
}

void bn_ckpt_entry_contiguous_strides(bn_ckpt_entry *e)
{
    int64_t s = 1;
    for (int i = e->n_dims - 1; i >= 0; i--) {
        e->stride[i] = s;
        s *= e->shape[i] ? e->shape[i] : 1; /* cannot overflow: n_el was checked */
    }
}

size_t bn_ckpt_utf8_check(const uint8_t *s, size_t len, int json_text)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            if (json_text && ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)) return i;
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) { n = 1; cp = c & 0x1f; min = 0x80; }
        else if ((c & 0xf0) == 0xe0) { n = 2; cp = c & 0x0f; min = 0x800; }
        else if ((c & 0xf8) == 0xf0) { n = 3; cp = c & 0x07; min = 0x10000; }
        else return i;
        if (len - i <= n) return i;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return i;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += n + 1;
    }
    return len;
}

/* ---- the checkpoint ---------------------------------------------------------------- */

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

static size_t hash_lookup(const bn_ckpt *ck, const char *name)
{
    if (!ck->hcap) return 0;
    for (size_t j = hash_name(name) & (ck->hcap - 1); ck->hslot[j]; j = (j + 1) & (ck->hcap - 1))
        if (strcmp(ck->t[ck->hslot[j] - 1]->name, name) == 0) return ck->hslot[j];
    return 0;
}

static bn_status hash_grow(bn_ckpt *ck, bn_error *err)
{
    size_t ns = ck->hcap ? 2 * ck->hcap : 256;
    size_t *nh = calloc(ns, sizeof *nh);
    if (!nh) return bn_error_set(err, BN_ENOMEM, "out of memory for the tensor index");
    for (size_t i = 0; i < ck->n; i++) {
        size_t j = hash_name(ck->t[i]->name) & (ns - 1);
        while (nh[j]) j = (j + 1) & (ns - 1);
        nh[j] = i + 1;
    }
    free(ck->hslot);
    ck->hslot = nh;
    ck->hcap = ns;
    return BN_OK;
}

/* Add a tensor (taking ownership of name); rejects a name already present. */
static bn_status add_tensor(bn_ckpt *ck, char *name, size_t shard, const bn_ckpt_entry *e, bn_error *err)
{
    size_t prev = hash_lookup(ck, name);
    if (prev) {
        const ck_tensor *p = ck->t[prev - 1];
        bn_status s = p->shard != shard
                          ? bn_error_set(err, BN_EINVAL, "tensor '%s' is in two shards: %s and %s", name,
                                         ck->shards[p->shard].name, ck->shards[shard].name)
                          : bn_error_set(err, BN_EINVAL, "%s: tensor name '%s' occurs twice", ck->shards[shard].path, name);
        free(name);
        return s;
    }
    if ((ck->n + 1) * 2 > ck->hcap && hash_grow(ck, err)) {
        free(name);
        return err ? err->code : BN_ENOMEM;
    }
    if (ck->n == ck->cap) {
        size_t nc = ck->cap ? 2 * ck->cap : 64;
        ck_tensor **nt = realloc(ck->t, nc * sizeof *nt);
        if (!nt) {
            free(name);
            return bn_error_set(err, BN_ENOMEM, "out of memory for %zu tensors", nc);
        }
        ck->t = nt;
        ck->cap = nc;
    }
    ck_tensor *t = calloc(1, sizeof *t);
    if (!t) {
        free(name);
        return bn_error_set(err, BN_ENOMEM, "out of memory for tensors");
    }
    t->name = name;
    t->shard = shard;
    t->e = e;
    t->pub.name = name;
    t->pub.file = ck->shards[shard].name;
    t->pub.alias_of = -1;
    t->pub.index = ck->n;
    if (e) {
        t->pub.dtype = e->dtype;
        t->pub.n_dims = e->n_dims;
        memcpy(t->pub.shape, e->shape, sizeof t->pub.shape);
        t->pub.n_el = e->n_el;
        t->pub.nbytes = e->nbytes;
    }
    ck->t[ck->n++] = t;
    size_t j = hash_name(name) & (ck->hcap - 1);
    while (ck->hslot[j]) j = (j + 1) & (ck->hcap - 1);
    ck->hslot[j] = ck->n;
    return BN_OK;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static char *join_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *r = malloc(a + b + 2);
    if (!r) return NULL;
    memcpy(r, dir, a);
    r[a] = '/';
    memcpy(r + a + 1, name, b + 1);
    return r;
}

static int is_dir(const char *p)
{
    struct stat s;
    return stat(p, &s) == 0 && S_ISDIR(s.st_mode);
}

static int is_file(const char *p)
{
    struct stat s;
    return stat(p, &s) == 0 && S_ISREG(s.st_mode);
}

/* Present under that name (a dangling link counts: its open says why). */
static int exists(const char *p)
{
    struct stat s;
    return lstat(p, &s) == 0;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Open one weights file, choosing the backend by its first bytes. */
static bn_status open_shard(bn_ckpt *ck, const char *path, bn_error *err)
{
    ck_shard *ns = realloc(ck->shards, (ck->n_shards + 1) * sizeof *ns);
    if (!ns) return bn_error_set(err, BN_ENOMEM, "out of memory for shards");
    ck->shards = ns;
    ck_shard *sh = &ns[ck->n_shards];
    memset(sh, 0, sizeof *sh);
    sh->path = strdup(path);
    sh->name = strdup(base_name(path));
    ck->n_shards++;
    if (!sh->path || !sh->name) return bn_error_set(err, BN_ENOMEM, "out of memory for shards");
    bn_mapped_file mf;
    bn_status s = bn_map_file(path, &mf, err);
    if (s) return s;
    /* A zip, the legacy pickle stream, any other pickle (which the zip reader
     * then refuses by name), or else safetensors. */
    bn_ckpt_format f = bn_tl_is_legacy(mf.data, mf.size)                   ? BN_CKPT_TORCH_LEGACY
                       : bn_tz_is_zip(mf.data, mf.size) ||
                               (mf.size >= 2 && mf.data[0] == 0x80 && mf.data[1] <= 5) ? BN_CKPT_TORCH_ZIP
                                                                                        : BN_CKPT_SAFETENSORS;
    bn_unmap_file(&mf);
    if (ck->n_shards > 1 && f != ck->format)
        return bn_error_set(err, BN_EINVAL, "%s: shards mix checkpoint formats (%s and %s)", path,
                            bn_ckpt_format_name(ck->format), bn_ckpt_format_name(f));
    ck->format = f;
    if (f == BN_CKPT_TORCH_LEGACY) return bn_tl_open(path, &sh->tl, err);
    return f == BN_CKPT_TORCH_ZIP ? bn_tz_open(path, &sh->tz, err) : bn_st_open(path, &sh->st, err);
}

static bn_ckpt_entries *shard_entries(ck_shard *sh)
{
    return sh->st ? bn_st_entries(sh->st) : sh->tl ? bn_tl_entries(sh->tl) : bn_tz_entries(sh->tz);
}

static bn_status add_shard_tensors(bn_ckpt *ck, size_t shard, bn_error *err)
{
    bn_ckpt_entries *es = shard_entries(&ck->shards[shard]);
    for (size_t i = 0; i < es->n; i++) {
        char *name = strdup(es->v[i].name);
        if (!name) return bn_error_set(err, BN_ENOMEM, "out of memory for names");
        bn_status s = add_tensor(ck, name, shard, &es->v[i], err);
        if (s) return s;
    }
    return BN_OK;
}

/* A shard name from an index: a plain file name in the index's directory, with
 * no control character (a NUL is refused by the strict JSON reader already). */
static int plain_file_name(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return s[0] && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static bn_status open_index(bn_ckpt *ck, const char *path, bn_error *err)
{
    char *text;
    size_t len;
    bn_status s = bn_read_file(path, CK_MAX_INDEX, &text, &len, err);
    if (s) return s;
    cJSON *root = NULL;
    s = bnu_json_parse_strict(path, text, len, &root, err);
    const cJSON *wm = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!s && !cJSON_IsObject(wm))
        s = bn_error_set(err, BN_EINVAL, "%s: no \"weight_map\" object", path);
    /* Pass 1: every value is a plain file name; open each distinct shard once, in
     * order of first mention. */
    for (const cJSON *c = wm ? wm->child : NULL; c && !s; c = c->next) {
        if (!cJSON_IsString(c) || !plain_file_name(c->valuestring)) {
            s = bn_error_set(err, BN_EINVAL, "%s: weight_map['%s'] is not a plain file name in the same directory",
                             path, c->string);
            break;
        }
        int seen = 0;
        for (size_t i = 0; i < ck->n_shards && !seen; i++) seen = strcmp(ck->shards[i].name, c->valuestring) == 0;
        if (seen) continue;
        char *sp = join_path(ck->dir, c->valuestring);
        if (!sp) { s = bn_error_set(err, BN_ENOMEM, "out of memory"); break; }
        if (!exists(sp))
            s = bn_error_set(err, BN_ENOTFOUND, "%s: shard '%s' (for tensor '%s') does not exist", path,
                             c->valuestring, c->string);
        else
            s = open_shard(ck, sp, err);
        free(sp);
    }
    for (size_t i = 0; i < ck->n_shards && !s; i++) s = add_shard_tensors(ck, i, err);
    /* Pass 2: each mapped tensor exists, in the shard the map names; the shards hold
     * nothing else. Duplicate map keys are caught by the count. */
    size_t n_map = 0;
    for (const cJSON *c = wm ? wm->child : NULL; c && !s; c = c->next, n_map++) {
        size_t k = hash_lookup(ck, c->string);
        if (!k)
            s = bn_error_set(err, BN_EINVAL, "%s: tensor '%s' is mapped to %s but not there", path, c->string,
                             c->valuestring);
        else if (strcmp(ck->shards[ck->t[k - 1]->shard].name, c->valuestring) != 0)
            s = bn_error_set(err, BN_EINVAL, "%s: tensor '%s' is mapped to %s but found in %s", path, c->string,
                             c->valuestring, ck->shards[ck->t[k - 1]->shard].name);
    }
    if (!s && n_map != ck->n) {
        if (n_map > ck->n)
            s = bn_error_set(err, BN_EINVAL, "%s: weight_map names a tensor twice", path);
        else
            for (size_t i = 0; i < ck->n && !s; i++)
                if (!cJSON_GetObjectItemCaseSensitive(wm, ck->t[i]->name))
                    s = bn_error_set(err, BN_EINVAL, "%s: tensor '%s' of %s is missing from weight_map", path,
                                     ck->t[i]->name, ck->shards[ck->t[i]->shard].name);
    }
    cJSON_Delete(root);
    free(text);
    return s;
}

/* ---- aliases ------------------------------------------------------------------------- */

static int same_view(const ck_tensor *a, const ck_tensor *b)
{
    const bn_ckpt_entry *x = a->e, *y = b->e;
    if (a->shard != b->shard || x->storage != y->storage || x->offset != y->offset || x->n_dims != y->n_dims)
        return 0;
    for (int i = 0; i < x->n_dims; i++)
        if (x->shape[i] != y->shape[i] || (x->shape[i] > 1 && x->stride[i] != y->stride[i])) return 0;
    return 1;
}

static int cmp_view(const void *pa, const void *pb)
{
    const ck_tensor *a = *(ck_tensor *const *)pa, *b = *(ck_tensor *const *)pb;
    const bn_ckpt_entry *x = a->e, *y = b->e;
#define CMP(u, v) if ((u) != (v)) return (u) < (v) ? -1 : 1
    CMP(a->shard, b->shard);
    CMP(x->storage, y->storage);
    CMP(x->offset, y->offset);
    CMP(x->n_dims, y->n_dims);
    for (int i = 0; i < x->n_dims; i++) {
        CMP(x->shape[i], y->shape[i]);
        if (x->shape[i] > 1) CMP(x->stride[i], y->stride[i]);
    }
    CMP(a->pub.index, b->pub.index);
#undef CMP
    return 0;
}

/* PyTorch: names on the same storage with the same view are one tensor. */
static bn_status find_aliases(bn_ckpt *ck, bn_error *err)
{
    if (ck->format == BN_CKPT_SAFETENSORS || ck->n < 2) return BN_OK;
    ck_tensor **v = malloc(ck->n * sizeof *v);
    if (!v) return bn_error_set(err, BN_ENOMEM, "out of memory finding aliases");
    memcpy(v, ck->t, ck->n * sizeof *v);
    qsort(v, ck->n, sizeof *v, cmp_view);
    for (size_t i = 1, first = 0; i < ck->n; i++) {
        if (same_view(v[first], v[i]) && v[i]->pub.n_el > 0)
            v[i]->pub.alias_of = (int64_t)v[first]->pub.index;
        else
            first = i;
    }
    free(v);
    return BN_OK;
}

/* config.json "tie_word_embeddings": true with no lm_head.weight: list it as an
 * alias of the embedding. A missing or unreadable config is the converter's
 * business, not ours. */
static bn_status tie_embeddings(bn_ckpt *ck, bn_error *err)
{
    if (bn_ckpt_find(ck, "lm_head.weight") || !bn_ckpt_find(ck, "model.embed_tokens.weight")) return BN_OK;
    char *cp = join_path(ck->dir, "config.json");
    if (!cp) return bn_error_set(err, BN_ENOMEM, "out of memory");
    char *text = NULL;
    size_t len;
    int tied = 0;
    if (is_file(cp) && bn_read_file(cp, CK_MAX_CONFIG, &text, &len, NULL) == BN_OK) {
        cJSON *root = cJSON_ParseWithLength(text, len);
        tied = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "tie_word_embeddings"));
        cJSON_Delete(root);
    }
    free(text);
    free(cp);
    return tied ? bn_ckpt_add_alias(ck, "lm_head.weight", "model.embed_tokens.weight", err) : BN_OK;
}

/* ---- open / close ---------------------------------------------------------------------- */

static char *dir_of(const char *path)
{
    const char *s = strrchr(path, '/');
    if (!s) return strdup(".");
    if (s == path) return strdup("/");
    char *d = malloc((size_t)(s - path) + 1);
    if (d) {
        memcpy(d, path, (size_t)(s - path));
        d[s - path] = '\0';
    }
    return d;
}

static bn_status open_path(bn_ckpt *ck, const char *path, bn_error *err)
{
    static const char *const candidates[] = {"model.safetensors", "model.safetensors.index.json",
                                             "pytorch_model.bin", "pytorch_model.bin.index.json"};
    if (is_dir(path)) {
        ck->dir = strdup(path);
        if (!ck->dir) return bn_error_set(err, BN_ENOMEM, "out of memory");
        for (size_t i = 0; i < sizeof candidates / sizeof *candidates && !ck->path; i++) {
            char *p = join_path(path, candidates[i]);
            if (!p) return bn_error_set(err, BN_ENOMEM, "out of memory");
            if (exists(p)) ck->path = p; /* not a regular file: the reader says so */
            else free(p);
        }
        if (!ck->path)
            return bn_error_set(err, BN_ENOTFOUND, "%s: no model.safetensors, model.safetensors.index.json, "
                                "pytorch_model.bin or pytorch_model.bin.index.json", path);
    } else {
        if (!exists(path)) return bn_error_set(err, BN_ENOTFOUND, "%s: no such file or directory", path);
        ck->path = strdup(path);
        ck->dir = dir_of(path);
        if (!ck->path || !ck->dir) return bn_error_set(err, BN_ENOMEM, "out of memory");
    }
    bn_status s;
    if (has_suffix(ck->path, ".json")) {
        s = open_index(ck, ck->path, err);
    } else {
        s = open_shard(ck, ck->path, err);
        if (!s) s = add_shard_tensors(ck, 0, err);
    }
    if (!s) s = find_aliases(ck, err);
    if (!s) s = tie_embeddings(ck, err);
    return s;
}

bn_status bn_ckpt_open(const char *path, bn_ckpt **out, bn_error *err)
{
    *out = NULL;
    bn_ckpt *ck = calloc(1, sizeof *ck);
    if (!ck) return bn_error_set(err, BN_ENOMEM, "out of memory");
    bn_status s = open_path(ck, path, err);
    if (s) {
        bn_ckpt_close(ck);
        return s;
    }
    *out = ck;
    return BN_OK;
}

void bn_ckpt_close(bn_ckpt *ck)
{
    if (!ck) return;
    for (size_t i = 0; i < ck->n; i++) {
        free(ck->t[i]->name);
        free(ck->t[i]);
    }
    free(ck->t);
    free(ck->hslot);
    for (size_t i = 0; i < ck->n_shards; i++) {
        bn_st_close(ck->shards[i].st);
        bn_tz_close(ck->shards[i].tz);
        bn_tl_close(ck->shards[i].tl);
        free(ck->shards[i].name);
        free(ck->shards[i].path);
    }
    free(ck->shards);
    free(ck->path);
    free(ck->dir);
    free(ck->prefix);
    free(ck);
}

/* ---- queries ----------------------------------------------------------------------------- */

bn_ckpt_format bn_ckpt_get_format(const bn_ckpt *ck) { return ck->format; }

const char *bn_ckpt_format_name(bn_ckpt_format f)
{
    switch (f) {
    case BN_CKPT_SAFETENSORS: return "safetensors";
    case BN_CKPT_TORCH_ZIP: return "pytorch-zip";
    case BN_CKPT_TORCH_LEGACY: return "pytorch-legacy";
    }
    return "?";
}
const char *bn_ckpt_dir(const bn_ckpt *ck) { return ck->dir; }
const char *bn_ckpt_path(const bn_ckpt *ck) { return ck->path; }
size_t bn_ckpt_n_shards(const bn_ckpt *ck) { return ck->n_shards; }
size_t bn_ckpt_n_tensors(const bn_ckpt *ck) { return ck->n; }

const char *bn_ckpt_shard_name(const bn_ckpt *ck, size_t i)
{
    return i < ck->n_shards ? ck->shards[i].name : NULL;
}

const char *bn_ckpt_metadata(const bn_ckpt *ck, const char *key)
{
    for (size_t i = 0; i < ck->n_shards; i++) {
        const char *v = ck->shards[i].st ? bn_st_metadata(ck->shards[i].st, key) : NULL;
        if (v) return v;
    }
    return NULL;
}

const bn_ckpt_tensor *bn_ckpt_tensor_at(const bn_ckpt *ck, size_t i)
{
    return i < ck->n ? &ck->t[i]->pub : NULL;
}

const bn_ckpt_tensor *bn_ckpt_find(const bn_ckpt *ck, const char *name)
{
    size_t k = hash_lookup(ck, name);
    if (!k && ck->prefix) {
        char *full = malloc(strlen(ck->prefix) + strlen(name) + 1);
        if (full) {
            strcpy(full, ck->prefix);
            strcat(full, name);
            k = hash_lookup(ck, full);
            free(full);
        }
    }
    return k ? &ck->t[k - 1]->pub : NULL;
}

bn_status bn_ckpt_set_prefix(bn_ckpt *ck, const char *prefix, bn_error *err)
{
    free(ck->prefix);
    ck->prefix = NULL;
    if (!prefix || !*prefix) return BN_OK;
    ck->prefix = strdup(prefix);
    return ck->prefix ? BN_OK : bn_error_set(err, BN_ENOMEM, "out of memory");
}

bn_status bn_ckpt_find_state_dict(bn_ckpt *ck, const char *probe, char *key, size_t cap, bn_error *err)
{
    /* "" first (a plain state dict), then one and two levels of the keys
     * training loops use; at most 2 + 1 + 10 + 1 + 10 + 1 bytes each. */
    static const char *const parts[] = {"state_dict", "model", "module"};
    char cand[64], full[BN_CKPT_PROBE_MAX + 64];
    if (!probe) probe = "model.embed_tokens.weight";
    if (strlen(probe) >= BN_CKPT_PROBE_MAX)
        return bn_error_set(err, BN_EINVAL, "state dict probe name too long");
    for (int depth = 0; depth <= 2; depth++) {
        int n = depth == 0 ? 1 : depth == 1 ? 3 : 9;
        for (int i = 0; i < n; i++) {
            if (depth == 0) cand[0] = '\0';
            else if (depth == 1) snprintf(cand, sizeof cand, "%s.", parts[i]);
            else snprintf(cand, sizeof cand, "%s.%s.", parts[i / 3], parts[i % 3]);
            snprintf(full, sizeof full, "%s%s", cand, probe);
            if (!hash_lookup(ck, full)) continue;
            size_t len = strlen(cand);
            if (len) len--; /* the key without its trailing '.' */
            if (cap) snprintf(key, cap, "%.*s", (int)len, cand);
            return bn_ckpt_set_prefix(ck, cand, err);
        }
    }
    if (cap) key[0] = '\0';
    return bn_error_set(err, BN_ENOTFOUND,
                        "%s: no state dict found: '%s' is neither a tensor nor under state_dict, model or "
                        "module (nested once or twice)",
                        ck->path, probe);
}

const char *bn_ckpt_prefix(const bn_ckpt *ck)
{
    return ck->prefix ? ck->prefix : "";
}

bn_status bn_ckpt_add_alias(bn_ckpt *ck, const char *name, const char *target, bn_error *err)
{
    size_t k = hash_lookup(ck, target);
    if (!k) return bn_error_set(err, BN_ENOTFOUND, "alias '%s': target tensor '%s' does not exist", name, target);
    if (hash_lookup(ck, name)) return bn_error_set(err, BN_EINVAL, "alias '%s': a tensor of that name exists", name);
    const ck_tensor *tg = ck->t[k - 1];
    while (tg->pub.alias_of >= 0) tg = ck->t[tg->pub.alias_of];
    char *nm = strdup(name);
    if (!nm) return bn_error_set(err, BN_ENOMEM, "out of memory");
    bn_status s = add_tensor(ck, nm, tg->shard, tg->e, err);
    if (s) return s;
    ck_tensor *t = ck->t[ck->n - 1];
    t->pub = tg->pub;
    t->pub.name = t->name;
    t->pub.index = ck->n - 1;
    t->pub.alias_of = (int64_t)tg->pub.index;
    return BN_OK;
}
