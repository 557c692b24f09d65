/*
 * fuzz_safetensors.c - the safetensors reader through the public checkpoint
 * API: the input is written to a scratch file, opened with bn_ckpt_open()
 * (header length, UTF-8, strict JSON, dtypes, offsets tiling the data), and
 * every accepted tensor is read back both raw and as f32.
 * needs: src/convert/safetensors.c src/convert/checkpoint.c
 */
#include <stdlib.h>
#include <string.h>

#include "bn/checkpoint.h"
#include "common.h"

#define READ_CAP (1u << 20) /* bytes: bigger tensors are listed, not read */

static void read_all(bn_ckpt *ck)
{
    static unsigned char buf[READ_CAP];
    bn_error err;
    for (size_t i = 0; i < bn_ckpt_n_tensors(ck); i++) {
        const bn_ckpt_tensor *t = bn_ckpt_tensor_at(ck, i);
        if (!t || !t->name) fz_fail("tensor %zu missing", i);
        if (bn_ckpt_find(ck, t->name) != t) fz_fail("tensor '%s' not found by name", t->name);
        if (t->n_dims < 0 || t->n_dims > BN_CKPT_MAX_DIMS) fz_fail("tensor '%s' n_dims", t->name);
        if (t->nbytes > READ_CAP) continue;
        fz_check(bn_ckpt_read_raw(ck, t, buf, sizeof buf, &err), &err, "bn_ckpt_read_raw");
        if (t->n_el <= READ_CAP / sizeof(float))
            fz_check(bn_ckpt_read_f32(ck, t, (float *)(void *)buf, READ_CAP / sizeof(float), &err),
                     &err, "bn_ckpt_read_f32");
        if (t->nbytes > 0) /* too small a buffer is refused, not overrun */
            if (bn_ckpt_read_raw(ck, t, buf, (size_t)t->nbytes - 1, &err) == BN_OK)
                fz_fail("tensor '%s': read into a short buffer succeeded", t->name);
    }
    (void)bn_ckpt_metadata(ck, "format");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_scratch("model.safetensors");
    fz_write(path, data, size);
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
