/*
 * tok_internal.h - the tokenizer export's state, shared by tokenizer_export.c
 * (orchestration, configs, special tokens, GGUF KVs) and tok_hf_json.c
 * (tokenizer.json).
 */
#ifndef BN_CONVERT_TOK_INTERNAL_H
#define BN_CONVERT_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <cJSON.h>
#include "bn/tokenizer_export.h"
#include "util/strset.h"

#define BN_TX_MAX_TOKENS (1u << 24)
/* Padding (holes below the largest id, or config.json's vocab_size above the
 * tokenizer's count) may add at most as many tokens as are defined, plus 1024.
 * Real vocabularies pad by a few hundred at most; millions of "[PADn]" tokens
 * mean a broken or hostile file and cost memory and time for nothing. */
#define BN_TX_MAX_PAD(defined) ((uint64_t)(defined) + 1024u)

/* GGUF token types (FORMATS.md §5). */
enum { TX_NORMAL = 1, TX_UNKNOWN = 2, TX_CONTROL = 3, TX_USER = 4, TX_UNUSED = 5, TX_BYTE = 6 };

struct bn_tokexport {
    int spm;                /* 1: "llama" (SentencePiece), 0: "gpt2" (byte-level BPE) */
    const char *pre;        /* BPE: "llama-bpe", "gpt-2" or "default" (static string) */
    uint32_t n;             /* tokens */
    char **tok;             /* (n) NUL-terminated copies; NULL while an id is unfilled */
    uint32_t *tok_len;      /* (n) */
    float *score;           /* (n) */
    int32_t *type;          /* (n) TX_* */
    uint32_t n_merges;
    char **merge;           /* (n_merges) "left right" */
    int32_t bos, eos, unk, pad;        /* -1 unknown */
    int add_bos, add_eos;              /* -1 unknown */
    int add_space_prefix;              /* SPM; -1 unknown */
    char *chat_template;
    bnu_strset index;       /* text -> id, built by bnc_tx_index */
};

/* Make room for ids [0, n); new entries are unfilled. */
bn_status bnc_tx_resize(bn_tokexport *t, uint32_t n, bn_error *err);
/* Fill id with text s[0, len) (copied). Fails if id is already filled with another text. */
bn_status bnc_tx_set(bn_tokexport *t, uint32_t id, const char *s, size_t len, int32_t type,
                    const char *src, bn_error *err);
/* Build the text -> id index; fails on duplicate texts. */
bn_status bnc_tx_index(bn_tokexport *t, const char *src, bn_error *err);
int32_t bnc_tx_find(const bn_tokexport *t, const char *s, size_t len);

/* llama.cpp's convert_hf_to_gguf does_token_look_special(). */
int bnc_tx_looks_special(const char *s, size_t len);

/* Load tokenizer.json (already parsed). May leave added_tokens types and the
 * special-token flags to the caller's config pass. */
bn_status bnc_tx_from_hf_json(bn_tokexport *t, const cJSON *root, const char *path, int spm_ok,
                             bn_error *err);
/* Is this parsed tokenizer.json SentencePiece-style (BPE with byte_fallback)? */
int bnc_tx_json_is_spm(const cJSON *root);

#endif
