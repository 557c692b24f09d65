/*
 * fuzz_torchzip.c - the PyTorch checkpoint reader: zip container, our pickle
 * machine, storage/view checks, legacy detection.
 * needs: src/convert/torchzip.c src/convert/pickle.c src/convert/checkpoint.c src/convert/ckpt_read.c
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

#include "ckpt_walk.h"

#define STORAGE_BYTES 4096

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
        fz_ckpt_walk(ck);
        bn_error e2;
        fz_check(bn_ckpt_set_prefix(ck, "model.", &e2), &e2, "bn_ckpt_set_prefix");
        (void)bn_ckpt_find(ck, "weight");
        bn_ckpt_close(ck);
    }
    return 0;
}
