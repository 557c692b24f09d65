/*
 * tokenizer_internal.h - what the tokenizer's translation units share:
 * the tokenizer struct, its hash tables, and the pre-tokenizer entry point.
 */
#ifndef BN_RUNTIME_TOKENIZER_INTERNAL_H
#define BN_RUNTIME_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "bn/tokenizer.h"
#include "util/strset.h"

/* One BPE merge: (left id, right id) -> rank and resulting token. */
typedef struct {
    uint64_t key;   /* (uint64)left << 32 | right; 0 slot empty when rank == UINT32_MAX */
    uint32_t rank;  /* index in tokenizer.ggml.merges; UINT32_MAX: empty slot */
    int32_t result; /* id of left+right */
} bn_merge_slot;

struct bn_tokenizer {
    bn_tok_model model;
    bn_tok_pre pre;
    uint32_t n_tokens;
    char *blob;           /* every token text, each followed by a NUL */
    size_t *tok_off;      /* (n_tokens) offset of each text in blob */
    uint32_t *tok_len;    /* (n_tokens) byte length of each text */
    float *scores;        /* (n_tokens) */
    int32_t *types;       /* (n_tokens) bn_tok_type */
    bnu_strset tok_ids;   /* text (in blob) -> id; of equal texts the last id */
    bn_merge_slot *merge_slots;
    size_t merge_mask;    /* 0 when there are no merges */
    uint32_t n_merges;
    int32_t bos, eos, unk, pad;
    int add_bos, add_eos, add_space_prefix, ignore_merges;
    int strict_bytes;     /* BPE: refuse text holding a byte without a token */
    int32_t byte_tok[256]; /* SPM: <0xNN> (or the 1-byte token); BPE: token of the
                              byte's GPT-2 character; -1 when the vocabulary has none */
    uint64_t *spm_pairs;  /* SPM: set of adjacent character pairs that occur inside
                             some token (open addressing, 0 = empty) */
    size_t spm_pairs_mask;
    size_t spm_pairs_n;   /* distinct pairs held (the table grows past half full) */
    int spm_unsegmented;  /* tests only: merge each fragment as one segment, the
                             reference the segmented path must equal */
    int32_t *special;     /* (n_special) control/unknown/user-defined ids, longest text first */
    size_t n_special;
};

/* Called once per pre-tokenized word w[0, n) (a sub-range of the text). Return
 * non-zero to stop (the value is passed back from bnr_pretok_split). */
typedef int (*bn_word_fn)(void *ctx, const char *w, size_t n);

/* Split text[0, len) into words with the regexes of pre, in order. Returns 0,
 * the callback's non-zero value, or -1 when memory runs out. */
int bnr_pretok_split(bn_tok_pre pre, const char *text, size_t len, bn_word_fn fn, void *ctx);

/* Shared by tokenizer.c (which builds the tables) and tokenizer_encode.c. */
uint64_t bnr_tok_hash(const char *s, size_t n);
/* The merge of (l, r), or NULL. */
const bn_merge_slot *bnr_tok_merge_find(const bn_tokenizer *t, int32_t l, int32_t r);
/* Length of the SPM character at s[0, n): a UTF-8 sequence, or one byte when
 * the bytes are not valid UTF-8. */
uint32_t bnr_tok_spm_char_len(const char *s, size_t n);
/* Key of two neighbouring SPM characters, and whether some token holds them
 * side by side (if not, no merge can ever join them). */
uint64_t bnr_tok_pair_key(const char *a, uint32_t na, const char *b, uint32_t nb);
int bnr_tok_spm_pair_possible(const bn_tokenizer *t, uint64_t key);

/* GPT-2's byte <-> unicode map: each byte's code point (< 0x144). */
uint32_t bnr_gpt2_byte_cp(unsigned char b);
/* Inverse: the byte of a code point, or -1 if cp is not in the map. */
int bnr_gpt2_cp_byte(uint32_t cp);

#endif
