/*
 * spm_proto.h - the parts of a SentencePiece model file (tokenizer.model,
 * protobuf ModelProto) that a GGUF vocabulary needs, read by a small
 * protobuf wire-format decoder of our own.
 *
 * ModelProto: 1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec.
 * SentencePiece: 1 piece (string), 2 score (float), 3 type (enum, default NORMAL=1).
 * TrainerSpec: 3 model_type (UNIGRAM=1 default, BPE=2), 35 byte_fallback,
 *              40 unk_id (0), 41 bos_id (1), 42 eos_id (2), 43 pad_id (-1).
 * NormalizerSpec: 3 add_dummy_prefix (default true).
 * Unknown fields of any wire type but groups are skipped; every length is
 * checked against the bytes that remain.
 */
#ifndef BN_CONVERT_SPM_PROTO_H
#define BN_CONVERT_SPM_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include "bn/error.h"

typedef struct {
    const char *text; /* inside the caller's buffer, not NUL-terminated */
    size_t len;
    float score;
    int32_t type;     /* 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte */
} bn_spm_piece;

typedef struct {
    bn_spm_piece *pieces; /* (n_pieces) */
    uint32_t n_pieces;
    int32_t model_type;   /* 1 unigram, 2 BPE, 3 word, 4 char */
    int32_t unk_id, bos_id, eos_id, pad_id;
    int byte_fallback;
    int add_dummy_prefix;
} bn_spm_model;

/* Parse data[0, size) (which must outlive the result). name is used in messages. */
bn_status bnc_spm_parse(const uint8_t *data, size_t size, const char *name, bn_spm_model *out,
                       bn_error *err);
void bnc_spm_free(bn_spm_model *m);

#endif
