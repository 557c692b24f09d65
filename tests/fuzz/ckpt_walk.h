/*
 * ckpt_walk.h - what the checkpoint harnesses do with an accepted checkpoint:
 * look every tensor up by name and read it (raw and as f32) when it is at most
 * FZ_READ_CAP bytes, checking the table's invariants on the way.
 */
#ifndef BN_FUZZ_CKPT_WALK_H
#define BN_FUZZ_CKPT_WALK_H

#include "bn/checkpoint.h"
#include "common.h"

#define FZ_READ_CAP (1u << 20) /* bytes: bigger tensors are listed, not read */

static void fz_ckpt_walk(bn_ckpt *ck)
{
    static unsigned char buf[FZ_READ_CAP];
    bn_error err;
    for (size_t i = 0; i < bn_ckpt_n_tensors(ck); i++) {
        const bn_ckpt_tensor *t = bn_ckpt_tensor_at(ck, i);
        if (!t || !t->name) fz_fail("tensor %zu missing", i);
        if (bn_ckpt_find(ck, t->name) != t) fz_fail("tensor '%s' not found by name", t->name);
        if (t->n_dims < 0 || t->n_dims > BN_CKPT_MAX_DIMS) fz_fail("tensor '%s' n_dims", t->name);
        if (t->alias_of >= (int64_t)bn_ckpt_n_tensors(ck)) fz_fail("tensor '%s' alias", t->name);
        if (t->nbytes > FZ_READ_CAP) continue;
        fz_check(bn_ckpt_read_raw(ck, t, buf, sizeof buf, &err), &err, "bn_ckpt_read_raw");
        if (t->n_el <= FZ_READ_CAP / sizeof(float))
            fz_check(bn_ckpt_read_f32(ck, t, (float *)(void *)buf, FZ_READ_CAP / sizeof(float), &err),
                     &err, "bn_ckpt_read_f32");
        if (t->nbytes > 0) /* too small a buffer is refused, not overrun */
            if (bn_ckpt_read_raw(ck, t, buf, (size_t)t->nbytes - 1, &err) == BN_OK)
                fz_fail("tensor '%s': read into a short buffer succeeded", t->name);
    }
    (void)bn_ckpt_metadata(ck, "format");
}

/* Open path as a checkpoint (a refusal must carry a message) and walk it:
 * the checkpoint, to close, or NULL when it was refused. */
static bn_ckpt *fz_ckpt_open_walk(const char *path)
{
    bn_ckpt *ck = NULL;
    bn_error err;
    bn_status st = bn_ckpt_open(path, &ck, &err);
    fz_check(st, &err, "bn_ckpt_open");
    if (st != BN_OK)
        return NULL;
    fz_ckpt_walk(ck);
    return ck;
}

#endif
