/*
 * fuzz_safetensors.c - the safetensors reader through the public checkpoint
 * API: the input is written to a scratch file, opened with bn_ckpt_open()
 * (header length, UTF-8, strict JSON, dtypes, offsets tiling the data), and
 * every accepted tensor is read back both raw and as f32.
 * needs: src/convert/safetensors.c src/convert/checkpoint.c src/convert/ckpt_read.c
 */
#include "ckpt_walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_scratch("model.safetensors");
    fz_write(path, data, size);
    bn_ckpt *ck = NULL;
    bn_error err;
    bn_status st = bn_ckpt_open(path, &ck, &err);
    fz_check(st, &err, "bn_ckpt_open");
    if (st == BN_OK) {
        fz_ckpt_walk(ck);
        bn_ckpt_close(ck);
    }
    return 0;
}
