/*
 * torchzip.c - PyTorch zip checkpoints (torch.save since 1.6), read through
 * libzip so zip64 and re-zipped (deflated) entries work.
 *
 * Layout: <root>/data.pkl (the pickled object, see pickle.c), <root>/data/<key>
 * (one raw little-endian storage per key), <root>/version or
 * <root>/.data/version, and in newer files <root>/byteorder ("little"). <root>
 * is the saved file's base name or "archive"; we take it from the entry that
 * ends in "/data.pkl". A TorchScript archive (torch.jit.save) also has
 * constants.pkl and is rejected as such. (The pre-1.6 format: torchlegacy.c.)
 *
 * At open every storage's zip entry must hold at least numel * element size
 * bytes; pickle.c has already checked every view against numel, so later reads
 * cannot leave their entry except through a lying archive, which zip_fread
 * reports.
 */
#include <stdlib.h>
#include <string.h>

#include <zip.h>

#include "bn/util.h"
#include "convert/ckpt_internal.h"

#define TZ_MAX_PICKLE (512u << 20) /* data.pkl of a 100B-parameter model is a few MB */

typedef struct {
    zip_uint64_t index;   /* zip entry */
    uint64_t nbytes;      /* numel * element size */
    int stored;           /* 1 if uncompressed: zip_fseek works */
    const char *key;      /* points into pkl.storages */
} tz_storage;

struct bn_tz_file {
    char *path;
    zip_t *za;
    bn_pkl_result pkl;
    tz_storage *storages; /* (pkl.n_storages) */
};

struct bn_tz_reader {
    bn_tz_file *tz;
    const tz_storage *st;
    zip_file_t *zf;
};

int bnc_tz_is_zip(const uint8_t *head, size_t n)
{
    return n >= 4 && head[0] == 'P' && head[1] == 'K' &&
           ((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6));
}

static bn_status zip_err(const char *path, const char *what, zip_error_t *ze, bn_error *err)
{
    return bn_error_set(err, BN_EINVAL, "%s: %s: %s", path, what, zip_error_strerror(ze));
}

/* Read a whole entry (at most cap bytes) into a malloc'd, NUL-terminated buffer. */
static bn_status read_entry(bn_tz_file *tz, zip_uint64_t idx, const char *name, size_t cap, uint8_t **out,
                            size_t *len, bn_error *err)
{
    zip_stat_t zs;
    if (zip_stat_index(tz->za, idx, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE))
        return bn_error_set(err, BN_EINVAL, "%s: cannot stat zip entry '%s'", tz->path, name);
    if (zs.size > cap)
        return bn_error_set(err, BN_ELIMIT, "%s: zip entry '%s' is %llu bytes (limit %zu)", tz->path, name,
                            (unsigned long long)zs.size, cap);
    uint8_t *buf = malloc((size_t)zs.size + 1);
    if (!buf) return bn_error_set(err, BN_ENOMEM, "%s: out of memory reading '%s'", tz->path, name);
    zip_file_t *zf = zip_fopen_index(tz->za, idx, 0);
    if (!zf) {
        free(buf);
        return zip_err(tz->path, name, zip_get_error(tz->za), err);
    }
    zip_int64_t got = zip_fread(zf, buf, zs.size);
    bn_status s = BN_OK;
    if (got < 0)
        s = bn_error_set(err, BN_EINVAL, "%s: reading '%s': %s", tz->path, name, zip_file_strerror(zf));
    else if ((zip_uint64_t)got != zs.size)
        s = bn_error_set(err, BN_EINVAL, "%s: zip entry '%s' ended after %lld of %llu bytes", tz->path, name,
                         (long long)got, (unsigned long long)zs.size);
    zip_fclose(zf);
    if (s) {
        free(buf);
        return s;
    }
    buf[zs.size] = '\0';
    *out = buf;
    *len = (size_t)zs.size;
    return BN_OK;
}

/* Find <root>/data.pkl; reject TorchScript archives. root_len excludes the '/'. */
static bn_status find_root(bn_tz_file *tz, char *root, size_t root_cap, bn_error *err)
{
    zip_int64_t n = zip_get_num_entries(tz->za, 0);
    int found = 0;
    for (zip_int64_t i = 0; i < n; i++) {
        const char *nm = zip_get_name(tz->za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        if (!nm) continue;
        const char *slash = strchr(nm, '/');
        if (!slash || slash == nm) continue;
        size_t rl = (size_t)(slash - nm);
        if (strcmp(slash + 1, "constants.pkl") == 0)
            return bn_error_set(err, BN_EUNSUPPORTED,
                                "%s: a TorchScript archive (torch.jit.save, has %s), not a torch.save checkpoint",
                                tz->path, nm);
        if (strcmp(slash + 1, "data.pkl") != 0) continue;
        if (rl >= root_cap)
            return bn_error_set(err, BN_EINVAL, "%s: archive root name of %zu bytes is too long", tz->path, rl);
        if (found && (strlen(root) != rl || memcmp(root, nm, rl) != 0))
            return bn_error_set(err, BN_EINVAL, "%s: two archive roots hold data.pkl ('%s' and '%.*s')", tz->path,
                                root, (int)rl, nm);
        memcpy(root, nm, rl);
        root[rl] = '\0';
        found = 1;
    }
    if (!found) return bn_error_set(err, BN_EINVAL, "%s: zip archive has no <root>/data.pkl: not a torch.save file", tz->path);
    return BN_OK;
}

static zip_int64_t locate(bn_tz_file *tz, const char *root, const char *rest)
{
    char name[1024];
    if ((size_t)snprintf(name, sizeof name, "%s/%s", root, rest) >= sizeof name) return -1;
    return zip_name_locate(tz->za, name, ZIP_FL_ENC_RAW);
}

/* byteorder must be "little" when present; a version record must exist. */
static bn_status check_records(bn_tz_file *tz, const char *root, bn_error *err)
{
    uint8_t *buf;
    size_t len;
    bn_status s;
    zip_int64_t i = locate(tz, root, "byteorder");
    if (i >= 0) {
        if ((s = read_entry(tz, (zip_uint64_t)i, "byteorder", 64, &buf, &len, err))) return s;
        while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) buf[--len] = '\0';
        int little = len == 6 && memcmp(buf, "little", 6) == 0;
        if (!little) {
            s = bn_error_set(err, len == 3 && memcmp(buf, "big", 3) == 0 ? BN_EUNSUPPORTED : BN_EINVAL,
                             "%s: byteorder is '%.16s' (only little-endian checkpoints are read)", tz->path,
                             (const char *)buf);
            free(buf);
            return s;
        }
        free(buf);
    }
    i = locate(tz, root, "version");
    if (i < 0) i = locate(tz, root, ".data/version");
    if (i < 0) return bn_error_set(err, BN_EINVAL, "%s: no %s/version record: not a torch.save file", tz->path, root);
    if ((s = read_entry(tz, (zip_uint64_t)i, "version", 64, &buf, &len, err))) return s;
    size_t k = 0;
    while (k < len && buf[k] >= '0' && buf[k] <= '9') k++;
    int ok = k > 0 && k < 6;
    while (ok && k < len) ok = buf[k] == '\n' || buf[k] == '\r' ? (k++, 1) : 0;
    if (!ok) s = bn_error_set(err, BN_EINVAL, "%s: version record '%.16s' is not a number", tz->path, (const char *)buf);
    free(buf);
    return s;
}

static bn_status bind_storages(bn_tz_file *tz, const char *root, bn_error *err)
{
    size_t n = tz->pkl.n_storages;
    if (n == 0) return BN_OK;
    tz->storages = calloc(n, sizeof *tz->storages);
    if (!tz->storages) return bn_error_set(err, BN_ENOMEM, "%s: out of memory", tz->path);
    for (size_t i = 0; i < n; i++) {
        const bn_pkl_storage *ps = &tz->pkl.storages[i];
        tz_storage *ts = &tz->storages[i];
        char rest[300];
        snprintf(rest, sizeof rest, "data/%s", ps->key);
        zip_int64_t idx = locate(tz, root, rest);
        if (idx < 0)
            return bn_error_set(err, BN_EINVAL, "%s: storage '%s' has no zip entry %s/%s", tz->path, ps->key, root, rest);
        zip_stat_t zs;
        if (zip_stat_index(tz->za, (zip_uint64_t)idx, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE) ||
            !(zs.valid & ZIP_STAT_COMP_METHOD))
            return bn_error_set(err, BN_EINVAL, "%s: cannot stat zip entry for storage '%s'", tz->path, ps->key);
        if (bn_mul_ovf_u64(ps->numel, bn_ckpt_dtype_size(ps->dtype), &ts->nbytes) || ts->nbytes > zs.size)
            return bn_error_set(err, BN_EINVAL, "%s: storage '%s' claims %llu %s elements but its zip entry holds %llu bytes",
                                tz->path, ps->key, (unsigned long long)ps->numel, bn_ckpt_dtype_name(ps->dtype),
                                (unsigned long long)zs.size);
        ts->index = (zip_uint64_t)idx;
        ts->stored = zs.comp_method == ZIP_CM_STORE && !(zs.valid & ZIP_STAT_ENCRYPTION_METHOD && zs.encryption_method != ZIP_EM_NONE);
        ts->key = ps->key;
    }
    return BN_OK;
}

static bn_status open_archive(bn_tz_file *tz, bn_error *err)
{
    bn_mapped_file mf;
    bn_status s = bn_map_file(tz->path, &mf, err);
    if (s) return s;
    int is_zip = bnc_tz_is_zip(mf.data, mf.size);
    bn_unmap_file(&mf);
    if (!is_zip) return bn_error_set(err, BN_EINVAL, "%s: not a zip archive (PyTorch checkpoint expected)", tz->path);
    int ze = 0;
    tz->za = zip_open(tz->path, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!tz->za) {
        zip_error_t e;
        zip_error_init_with_code(&e, ze);
        s = zip_err(tz->path, "not a readable zip archive", &e, err);
        zip_error_fini(&e);
        return s;
    }
    char root[256];
    if ((s = find_root(tz, root, sizeof root, err))) return s;
    if ((s = check_records(tz, root, err))) return s;
    zip_int64_t pi = locate(tz, root, "data.pkl");
    uint8_t *pkl;
    size_t len;
    if ((s = read_entry(tz, (zip_uint64_t)pi, "data.pkl", TZ_MAX_PICKLE, &pkl, &len, err))) return s;
    s = bnc_pkl_load(pkl, len, tz->path, "data.pkl", 0, &tz->pkl, err);
    free(pkl);
    if (s) return s;
    return bind_storages(tz, root, err);
}

bn_status bnc_tz_open(const char *path, bn_tz_file **out, bn_error *err)
{
    *out = NULL;
    bn_tz_file *tz = calloc(1, sizeof *tz);
    if (!tz || !(tz->path = strdup(path))) {
        free(tz);
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory", path);
    }
    bn_status s = open_archive(tz, err);
    if (s) {
        bnc_tz_close(tz);
        return s;
    }
    *out = tz;
    return BN_OK;
}

void bnc_tz_close(bn_tz_file *tz)
{
    if (!tz) return;
    if (tz->za) zip_discard(tz->za);
    bnc_pkl_result_free(&tz->pkl);
    free(tz->storages);
    free(tz->path);
    free(tz);
}

bn_ckpt_entries *bnc_tz_entries(bn_tz_file *tz) { return &tz->pkl.tensors; }

bn_status bnc_tz_reader_open(bn_tz_file *tz, uint32_t storage, uint64_t offset, bn_tz_reader **out, bn_error *err)
{
    *out = NULL;
    if (storage >= tz->pkl.n_storages || offset > tz->storages[storage].nbytes)
        return bn_error_set(err, BN_EINTERNAL, "%s: read outside storage %u", tz->path, storage);
    bn_tz_reader *r = calloc(1, sizeof *r);
    if (!r) return bn_error_set(err, BN_ENOMEM, "%s: out of memory", tz->path);
    r->tz = tz;
    r->st = &tz->storages[storage];
    r->zf = zip_fopen_index(tz->za, r->st->index, 0);
    if (!r->zf) {
        free(r);
        return bn_error_set(err, BN_EINVAL, "%s: storage '%s': %s", tz->path, tz->storages[storage].key,
                            zip_error_strerror(zip_get_error(tz->za)));
    }
    *out = r;
    if (offset == 0) return BN_OK;
    if (r->st->stored && offset <= INT64_MAX && zip_fseek(r->zf, (zip_int64_t)offset, SEEK_SET) == 0) return BN_OK;
    /* Compressed entry: inflate and drop the bytes before offset. */
    uint8_t skip[65536];
    while (offset) {
        size_t k = offset < sizeof skip ? (size_t)offset : sizeof skip;
        bn_status s = bnc_tz_reader_read(r, skip, k, err);
        if (s) {
            bnc_tz_reader_close(r);
            *out = NULL;
            return s;
        }
        offset -= k;
    }
    return BN_OK;
}

bn_status bnc_tz_reader_read(bn_tz_reader *r, void *dst, size_t n, bn_error *err)
{
    uint8_t *d = dst;
    while (n) {
        zip_int64_t got = zip_fread(r->zf, d, n);
        if (got < 0)
            return bn_error_set(err, BN_EINVAL, "%s: storage '%s': %s", r->tz->path, r->st->key,
                                zip_file_strerror(r->zf));
        if (got == 0)
            return bn_error_set(err, BN_EINVAL, "%s: storage '%s': zip entry ended early", r->tz->path, r->st->key);
        d += got;
        n -= (size_t)got;
    }
    return BN_OK;
}

int bnc_tz_storage_seekable(const bn_tz_file *tz, uint32_t storage)
{
    return storage < tz->pkl.n_storages && tz->storages[storage].stored;
}

bn_status bnc_tz_reader_seek(bn_tz_reader *r, uint64_t offset, bn_error *err)
{
    if (!r->st->stored || offset > r->st->nbytes || zip_fseek(r->zf, (zip_int64_t)offset, SEEK_SET) != 0)
        return bn_error_set(err, BN_EINVAL, "%s: storage '%s': cannot seek to byte %llu", r->tz->path, r->st->key,
                            (unsigned long long)offset);
    return BN_OK;
}

void bnc_tz_reader_close(bn_tz_reader *r)
{
    if (!r) return;
    zip_fclose(r->zf);
    free(r);
}
