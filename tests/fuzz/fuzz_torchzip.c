/*
 * fuzz_torchzip.c - the PyTorch checkpoint reader: zip container, our pickle
 * machine, storage/view checks, legacy detection.
 * needs: src/convert/torchzip.c src/convert/pickle.c src/convert/checkpoint.c
 *
 * Inputs that start with "PK" are taken as a whole .bin file. Anything else
 * is a data.pkl: it is packed into a zip together with the other records a
 * torch.save archive has (version, byteorder, and storages data/0..3 of
 * STORAGE_BYTES each), so the mutations reach the pickle machine and the
 * view-against-storage checks instead of dying at the container. A legacy
 * torch.save pickle (magic number first) is written as it is.
 */
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "bn/checkpoint.h"
#include "common.h"

#define STORAGE_BYTES 4096
#define READ_CAP (1u << 20)

static const unsigned char legacy_magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9};

static void add_entry(zip_t *z, const char *name, const void *p, size_t n)
{
    zip_source_t *s = zip_source_buffer(z, p, n, 0);
    if (!s) fz_fail("zip_source_buffer: %s", zip_strerror(z));
    zip_int64_t i = zip_file_add(z, name, s, ZIP_FL_OVERWRITE);
    if (i < 0) {
        zip_source_free(s);
        fz_fail("zip_file_add %s: %s", name, zip_strerror(z));
    }
    zip_set_file_compression(z, (zip_uint64_t)i, ZIP_CM_STORE, 0);
}

static void write_wrapped(const char *path, const uint8_t *pkl, size_t n)
{
    static unsigned char storage[STORAGE_BYTES];
    int zerr = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    if (!z) fz_fail("zip_open %s: error %d", path, zerr);
    for (size_t i = 0; i < sizeof storage; i++) storage[i] = (unsigned char)(i * 7u + 1u);
    add_entry(z, "archive/data.pkl", pkl, n);
    add_entry(z, "archive/byteorder", "little", 6);
    add_entry(z, "archive/version", "3\n", 2);
    add_entry(z, "archive/data/0", storage, sizeof storage);
    add_entry(z, "archive/data/1", storage, sizeof storage);
    add_entry(z, "archive/data/2", storage, 64);
    add_entry(z, "archive/data/3", storage, 2);
    if (zip_close(z) != 0) fz_fail("zip_close %s: %s", path, zip_strerror(z));
}

static void read_all(bn_ckpt *ck)
{
    static unsigned char buf[READ_CAP];
    bn_error err;
    for (size_t i = 0; i < bn_ckpt_n_tensors(ck); i++) {
        const bn_ckpt_tensor *t = bn_ckpt_tensor_at(ck, i);
        if (!t || !t->name) fz_fail("tensor %zu missing", i);
        if (bn_ckpt_find(ck, t->name) != t) fz_fail("tensor '%s' not found by name", t->name);
        if (t->alias_of >= (int64_t)bn_ckpt_n_tensors(ck)) fz_fail("tensor '%s' alias", t->name);
        if (t->nbytes > READ_CAP) continue;
        fz_check(bn_ckpt_read_raw(ck, t, buf, sizeof buf, &err), &err, "bn_ckpt_read_raw");
        if (t->n_el <= READ_CAP / sizeof(float))
            fz_check(bn_ckpt_read_f32(ck, t, (float *)(void *)buf, READ_CAP / sizeof(float), &err),
                     &err, "bn_ckpt_read_f32");
    }
    bn_error e2;
    fz_check(bn_ckpt_set_prefix(ck, "model.", &e2), &e2, "bn_ckpt_set_prefix");
    (void)bn_ckpt_find(ck, "weight");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_scratch("pytorch_model.bin");
    int whole = (size >= 2 && data[0] == 'P' && data[1] == 'K') ||
                (size >= sizeof legacy_magic && memcmp(data, legacy_magic, sizeof legacy_magic) == 0);
    if (whole)
        fz_write(path, data, size);
    else
        write_wrapped(path, data, size);
    bn_ckpt *ck = NULL;
    bn_error err;
    bn_status st = bn_ckpt_open(path, &ck, &err);
    fz_check(st, &err, "bn_ckpt_open");
    if (st == BN_OK) {
        read_all(ck);
        bn_ckpt_close(ck);
    }
    return 0;
}
