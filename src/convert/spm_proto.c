/* spm_proto.c - SentencePiece ModelProto reader (see spm_proto.h). */
#include <stdlib.h>
#include <string.h>

#include "convert/spm_proto.h"

#define MAX_PIECES (1u << 24)

typedef struct {
    const uint8_t *p, *end, *base; /* cursor, end of this message, start of the file */
    const char *name;
    bn_error *err;
} pb;

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

static bn_status pb_fail(pb *b, const char *what)
{
    return bn_error_set(b->err, BN_EINVAL, "%s: %s at byte %zu", b->name, what,
                        (size_t)(b->p - b->base));
}

static bn_status pb_varint(pb *b, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end)
            return pb_fail(b, "truncated varint");
        uint8_t c = *b->p++;
        r |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) {
            *v = r;
            return BN_OK;
        }
    }
    return pb_fail(b, "varint longer than 10 bytes");
}

/* Read a field key; *field 0 means end of message. */
static bn_status pb_key(pb *b, uint32_t *field, int *wt)
{
    if (b->p >= b->end) {
        *field = 0;
        return BN_OK;
    }
    uint64_t k;
    bn_status st = pb_varint(b, &k);
    if (st != BN_OK)
        return st;
    if ((k >> 3) == 0 || (k >> 3) > 0x1FFFFFFF)
        return pb_fail(b, "invalid field number");
    *field = (uint32_t)(k >> 3);
    *wt = (int)(k & 7);
    return BN_OK;
}

/* A length-delimited field's bytes as a sub-message cursor. */
static bn_status pb_len(pb *b, pb *sub)
{
    uint64_t n;
    bn_status st = pb_varint(b, &n);
    if (st != BN_OK)
        return st;
    if (n > (uint64_t)(b->end - b->p))
        return pb_fail(b, "length runs past the end of the message");
    *sub = *b;
    sub->end = b->p + n;
    b->p += n;
    return BN_OK;
}

static bn_status pb_skip(pb *b, int wt)
{
    uint64_t v;
    pb sub;
    switch (wt) {
    case WT_VARINT:
        return pb_varint(b, &v);
    case WT_I64:
    case WT_I32: {
        size_t n = wt == WT_I64 ? 8 : 4;
        if ((size_t)(b->end - b->p) < n)
            return pb_fail(b, "truncated fixed-width field");
        b->p += n;
        return BN_OK;
    }
    case WT_LEN:
        return pb_len(b, &sub);
    default:
        return pb_fail(b, "unsupported wire type (groups are not used by SentencePiece)");
    }
}

static bn_status pb_f32(pb *b, float *f)
{
    if (b->end - b->p < 4)
        return pb_fail(b, "truncated float");
    uint32_t u = (uint32_t)b->p[0] | (uint32_t)b->p[1] << 8 | (uint32_t)b->p[2] << 16 |
                 (uint32_t)b->p[3] << 24;
    memcpy(f, &u, 4);
    b->p += 4;
    return BN_OK;
}

/* int32 fields are varints; negative values are sign-extended to 64 bits. */
static bn_status pb_i32(pb *b, int32_t *v)
{
    uint64_t u;
    bn_status st = pb_varint(b, &u);
    if (st == BN_OK)
        *v = (int32_t)(uint32_t)u;
    return st;
}

#define EXPECT(b, wt, want)                                                           \
    do {                                                                              \
        if ((wt) != (want))                                                           \
            return pb_fail((b), "field has the wrong wire type");                     \
    } while (0)

static bn_status parse_piece(pb *b, bn_spm_piece *pc)
{
    pc->text = NULL;
    pc->len = 0;
    pc->score = 0.0f;
    pc->type = 1;
    int have_text = 0;
    for (;;) {
        uint32_t f = 0;
        int wt = 0;
        bn_status st = pb_key(b, &f, &wt);
        if (st != BN_OK)
            return st;
        if (f == 0)
            break;
        if (f == 1) {
            EXPECT(b, wt, WT_LEN);
            pb s;
            if ((st = pb_len(b, &s)) != BN_OK)
                return st;
            pc->text = (const char *)s.p;
            pc->len = (size_t)(s.end - s.p);
            have_text = 1;
        } else if (f == 2) {
            EXPECT(b, wt, WT_I32);
            if ((st = pb_f32(b, &pc->score)) != BN_OK)
                return st;
            if (pc->score != pc->score)
                return pb_fail(b, "piece score is NaN");
        } else if (f == 3) {
            EXPECT(b, wt, WT_VARINT);
            if ((st = pb_i32(b, &pc->type)) != BN_OK)
                return st;
            if (pc->type < 1 || pc->type > 6)
                return bn_error_set(b->err, BN_EINVAL, "%s: piece type %d is not in 1..6 at byte %zu",
                                    b->name, pc->type, (size_t)(b->p - b->base));
        } else if ((st = pb_skip(b, wt)) != BN_OK) {
            return st;
        }
    }
    if (!have_text)
        return pb_fail(b, "piece without text");
    return BN_OK;
}

/* The scalar fields we read from TrainerSpec (trainer = 1) or NormalizerSpec
 * (trainer = 0): int32 ids/enums, or bools (stored 0/1). NULL: skip. */
static void *spec_field(bn_spm_model *m, int trainer, uint32_t f, int *is_bool)
{
    *is_bool = 0;
    if (!trainer) {
        *is_bool = 1;
        return f == 3 ? &m->add_dummy_prefix : NULL;
    }
    switch (f) {
    case 3: return &m->model_type;
    case 40: return &m->unk_id;
    case 41: return &m->bos_id;
    case 42: return &m->eos_id;
    case 43: return &m->pad_id;
    case 35: *is_bool = 1; return &m->byte_fallback;
    default: return NULL;
    }
}

static bn_status parse_spec(pb *b, bn_spm_model *m, int trainer)
{
    for (;;) {
        uint32_t f = 0;
        int wt = 0, is_bool;
        bn_status st = pb_key(b, &f, &wt);
        if (st != BN_OK || f == 0)
            return st;
        void *dst = spec_field(m, trainer, f, &is_bool);
        if (!dst) {
            if ((st = pb_skip(b, wt)) != BN_OK)
                return st;
            continue;
        }
        EXPECT(b, wt, WT_VARINT);
        int32_t v;
        if ((st = pb_i32(b, &v)) != BN_OK)
            return st;
        if (is_bool)
            *(int *)dst = v != 0;
        else
            *(int32_t *)dst = v;
    }
}

void bnc_spm_free(bn_spm_model *m)
{
    free(m->pieces);
    m->pieces = NULL;
    m->n_pieces = 0;
}

bn_status bnc_spm_parse(const uint8_t *data, size_t size, const char *name, bn_spm_model *out,
                       bn_error *err)
{
    memset(out, 0, sizeof *out);
    out->model_type = 1;
    out->unk_id = 0;
    out->bos_id = 1;
    out->eos_id = 2;
    out->pad_id = -1;
    out->add_dummy_prefix = 1;
    pb b = {data, data + size, data, name, err};
    /* First pass: count pieces so the array is allocated once. */
    uint32_t n = 0;
    bn_status st;
    for (;;) {
        uint32_t f = 0;
        int wt = 0;
        if ((st = pb_key(&b, &f, &wt)) != BN_OK)
            return st;
        if (f == 0)
            break;
        if (f == 1 && wt == WT_LEN && ++n > MAX_PIECES)
            return bn_error_set(err, BN_ELIMIT, "%s: more than %u pieces", name, MAX_PIECES);
        if ((st = pb_skip(&b, wt)) != BN_OK)
            return st;
    }
    if (n == 0)
        return bn_error_set(err, BN_EINVAL, "%s: no pieces (not a SentencePiece model?)", name);
    out->pieces = malloc(n * sizeof *out->pieces);
    if (!out->pieces)
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory for %u pieces", name, n);
    b.p = data;
    for (;;) {
        uint32_t f = 0;
        int wt = 0;
        if ((st = pb_key(&b, &f, &wt)) != BN_OK)
            goto fail;
        if (f == 0)
            break;
        pb sub;
        if ((f == 1 || f == 2 || f == 3) && wt != WT_LEN) {
            st = pb_fail(&b, "field has the wrong wire type");
            goto fail;
        }
        if (f == 1) {
            if ((st = pb_len(&b, &sub)) != BN_OK ||
                (st = parse_piece(&sub, &out->pieces[out->n_pieces])) != BN_OK)
                goto fail;
            out->n_pieces++;
        } else if (f == 2) {
            if ((st = pb_len(&b, &sub)) != BN_OK || (st = parse_spec(&sub, out, 1)) != BN_OK)
                goto fail;
        } else if (f == 3) {
            if ((st = pb_len(&b, &sub)) != BN_OK || (st = parse_spec(&sub, out, 0)) != BN_OK)
                goto fail;
        } else if ((st = pb_skip(&b, wt)) != BN_OK) {
            goto fail;
        }
    }
    return BN_OK;
fail:
    bnc_spm_free(out);
    return st;
}
