/* bufs.c - the reusable tensor buffers of the converter and the requantizer
 * (include/bn/quant.h, bn_quant_bufs). */
#include "bn/quant.h"

#include <stdlib.h>
#include <string.h>

#include "bn/util.h"

static bn_status grow(void **p, size_t *cap, size_t need, size_t elem, const char *what, bn_error *err)
{
    if (need <= *cap)
        return BN_OK;
    size_t bytes;
    if (bn_mul_ovf_size(need, elem, &bytes))
        return bn_error_set(err, BN_ELIMIT, "%s: %zu elements overflow the address space", what, need);
    void *q = realloc(*p, bytes ? bytes : 1);
    if (!q)
        return bn_error_set(err, BN_ENOMEM, "%s: cannot allocate %zu bytes", what, bytes);
    *p = q;
    *cap = need;
    return BN_OK;
}

bn_status bn_quant_bufs_reserve(bn_quant_bufs *b, size_t n_f, size_t n_codes, size_t n_scratch,
                                size_t n_packed, const char *what, bn_error *err)
{
    bn_status st;
    if ((st = grow((void **)&b->f, &b->f_cap, n_f, sizeof *b->f, what, err)) ||
        (st = grow((void **)&b->codes, &b->codes_cap, n_codes, 1, what, err)) ||
        (st = grow((void **)&b->scratch, &b->scratch_cap, n_scratch, 1, what, err)))
        return st;
    return grow((void **)&b->packed, &b->packed_cap, n_packed, 1, what, err);
}

void bn_quant_bufs_free(bn_quant_bufs *b)
{
    free(b->f);
    free(b->codes);
    free(b->scratch);
    free(b->packed);
    memset(b, 0, sizeof *b);
}
