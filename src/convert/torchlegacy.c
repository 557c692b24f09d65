/*
 * torchlegacy.c - PyTorch's legacy torch.save format (before 1.6, and later
 * with _use_new_zipfile_serialization=False). No zip: records in a row,
 *   1. pickle: the magic number 0x1950a86a20f9469cfc6c
 *   2. pickle: the protocol version, 1001
 *   3. pickle: sys_info {'protocol_version', 'little_endian': True, 'type_sizes'}
 *   4. pickle: the object; storages are persistent ids
 *      ('storage', torch.<T>Storage, key, location, numel, view_metadata=None)
 *   5. pickle: the list of storage keys, in the order their data follows
 *   6. per key: u64 numel (little-endian), then numel elements,
 * and nothing after. The file is mapped; every storage is placed and checked
 * against the end of the file at open, every view against its storage by
 * pickle.c.
 */
#include <stdlib.h>
#include <string.h>

#include "bn/util.h"
#include "convert/ckpt_internal.h"

/* Record 1: PROTO 2, LONG1 of 10 bytes holding the magic number, STOP. */
static const uint8_t magic_record[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                       0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'};

struct bn_tl_file {
    char *path;
    bn_mapped_file map;
    bn_pkl_result pkl;   /* record 4 */
    uint64_t *data_at;   /* (pkl.n_storages) file offset of each storage's first element */
};

int bnc_tl_is_legacy(const uint8_t *head, size_t n)
{
    return n >= sizeof magic_record - 1 && memcmp(head, magic_record, sizeof magic_record - 1) == 0;
}

/* Run one header record at *pos, advance past it. */
static bn_status record(bn_tl_file *tl, size_t *pos, const char *part, unsigned flags, bn_pkl_result *r,
                        bn_error *err)
{
    bn_status s = bnc_pkl_load(tl->map.data + *pos, tl->map.size - *pos, tl->path, part, flags | BN_PKL_PREFIX, r, err);
    if (!s) *pos += r->consumed;
    return s;
}

typedef struct {
    const char *key;
    size_t index; /* into pkl.storages */
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
    return strcmp(((const keyed *)a)->key, ((const keyed *)b)->key);
}

/* Index of the storage called key (binary search of the sorted keys), or n. */
static size_t find_storage(const keyed *sorted, size_t n, const char *key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(sorted[mid].key, key);
        if (c == 0) return sorted[mid].index;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return n;
}

/* Records 5 and 6: the key list, then each storage's numel and data in that order. */
static bn_status place_storages(bn_tl_file *tl, size_t pos, bn_error *err)
{
    bn_pkl_result keys;
    bn_status s = record(tl, &pos, "storage key list", 0, &keys, err);
    if (s) return s;
    const bn_pkl_result *r = &tl->pkl;
    size_t n = r->n_storages;
    keyed *sorted = malloc((n ? n : 1) * sizeof *sorted);
    uint8_t *seen = calloc(n ? n : 1, 1);
    tl->data_at = calloc(n ? n : 1, sizeof *tl->data_at);
    if (!sorted || !seen || !tl->data_at) s = bn_error_set(err, BN_ENOMEM, "%s: out of memory", tl->path);
    if (!s && keys.n_root_strs != n)
        s = bn_error_set(err, BN_EINVAL, "%s: storage key list names %zu storages, the object uses %zu", tl->path,
                         keys.n_root_strs, n);
    if (!s) {
        for (size_t i = 0; i < n; i++) sorted[i] = (keyed){r->storages[i].key, i};
        qsort(sorted, n, sizeof *sorted, cmp_keyed);
    }
    for (size_t k = 0; k < keys.n_root_strs && !s; k++) {
        const char *key = keys.root_strs[k];
        size_t i = find_storage(sorted, n, key);
        if (i == n || seen[i]) {
            s = bn_error_set(err, BN_EINVAL, "%s: storage key list: '%s' is %s", tl->path, key,
                             i == n ? "not used by the object" : "listed twice");
            break;
        }
        seen[i] = 1;
        if (tl->map.size - pos < 8) {
            s = bn_error_set(err, BN_EINVAL, "%s: storage '%s': file ends before its element count", tl->path, key);
            break;
        }
        uint64_t numel = 0, nbytes;
        for (int b = 7; b >= 0; b--) numel = numel << 8 | tl->map.data[pos + (size_t)b];
        pos += 8;
        if (numel != r->storages[i].numel)
            s = bn_error_set(err, BN_EINVAL, "%s: storage '%s' holds %llu elements but the object says %llu", tl->path,
                             key, (unsigned long long)numel, (unsigned long long)r->storages[i].numel);
        else if (bn_mul_ovf_u64(numel, bn_ckpt_dtype_size(r->storages[i].dtype), &nbytes) ||
                 nbytes > tl->map.size - pos)
            s = bn_error_set(err, BN_EINVAL, "%s: storage '%s' of %llu %s elements runs past the end of the file",
                             tl->path, key, (unsigned long long)numel, bn_ckpt_dtype_name(r->storages[i].dtype));
        else {
            tl->data_at[i] = pos;
            pos += (size_t)nbytes;
        }
    }
    if (!s && pos != tl->map.size)
        s = bn_error_set(err, BN_EINVAL, "%s: %zu bytes after the last storage", tl->path, tl->map.size - pos);
    free(sorted);
    free(seen);
    bnc_pkl_result_free(&keys);
    return s;
}

static bn_status parse(bn_tl_file *tl, bn_error *err)
{
    if (tl->map.size <= sizeof magic_record)
        return bn_error_set(err, BN_EINVAL, "%s: legacy torch.save file ends after its magic number", tl->path);
    if (memcmp(tl->map.data, magic_record, sizeof magic_record) != 0)
        return bn_error_set(err, BN_EINVAL, "%s: not a legacy torch.save file (bad magic record)", tl->path);
    size_t pos = sizeof magic_record;
    bn_pkl_result r;
    bn_status s = record(tl, &pos, "protocol record", 0, &r, err);
    if (s) return s;
    int ok = r.root_is_int && r.root_int == 1001;
    int64_t v = r.root_int;
    bnc_pkl_result_free(&r);
    if (!ok) return bn_error_set(err, BN_EUNSUPPORTED, "%s: legacy protocol version %lld (1001 expected)", tl->path,
                                 (long long)v);
    if ((s = record(tl, &pos, "sys_info record", 0, &r, err))) return s;
    int le = r.little_endian;
    bnc_pkl_result_free(&r);
    if (le != 1)
        return bn_error_set(err, le == 0 ? BN_EUNSUPPORTED : BN_EINVAL, "%s: sys_info %s", tl->path,
                            le == 0 ? "says big-endian (only little-endian checkpoints are read)"
                                    : "has no little_endian flag");
    if ((s = record(tl, &pos, "object pickle", BN_PKL_LEGACY, &tl->pkl, err))) return s;
    return place_storages(tl, pos, err);
}

bn_status bnc_tl_open(const char *path, bn_tl_file **out, bn_error *err)
{
    *out = NULL;
    bn_tl_file *tl = calloc(1, sizeof *tl);
    if (!tl || !(tl->path = strdup(path))) {
        free(tl);
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory", path);
    }
    bn_status s = bn_map_file(path, &tl->map, err);
    if (!s) s = parse(tl, err);
    if (s) {
        bnc_tl_close(tl);
        return s;
    }
    *out = tl;
    return BN_OK;
}

void bnc_tl_close(bn_tl_file *tl)
{
    if (!tl) return;
    bnc_pkl_result_free(&tl->pkl);
    free(tl->data_at);
    bn_unmap_file(&tl->map);
    free(tl->path);
    free(tl);
}

bn_ckpt_entries *bnc_tl_entries(bn_tl_file *tl) { return &tl->pkl.tensors; }

const uint8_t *bnc_tl_storage_data(const bn_tl_file *tl, uint32_t storage)
{
    return tl->map.data + tl->data_at[storage];
}
