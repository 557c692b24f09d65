/*
 * tokenizer_export.h - a Hugging Face tokenizer directory to GGUF tokenizer
 * metadata (FORMATS.md §5), as llama.cpp's convert_hf_to_gguf.py writes it.
 *
 * Sources, read from hf_dir when present:
 *   tokenizer.json         byte-level BPE (-> "gpt2") or SentencePiece-style BPE
 *                          with byte_fallback (Llama-2, -> "llama")
 *   tokenizer.model        SentencePiece protobuf (-> "llama"); preferred over a
 *                          SentencePiece-style tokenizer.json, as llama.cpp does
 *   tokenizer_config.json  add_bos_token / add_eos_token, bos/eos/unk/pad tokens,
 *                          added_tokens_decoder, chat_template
 *   config.json            vocab_size (the vocabulary is padded with [PADn]
 *                          unused tokens up to it), bos/eos/pad_token_id
 *   generation_config.json bos/eos/pad_token_id
 *
 * Contract:
 *  1. bn_tokexport_load() validates everything before returning: hostile or
 *     malformed JSON / protobuf, ids out of range or duplicated, tokens
 *     duplicated, merges naming unknown tokens, unknown pre-tokenizer regexes
 *     (BN_EUNSUPPORTED naming the regex). Errors name the file and the field.
 *  2. bn_tokexport_write_kvs() adds, in this order: tokenizer.ggml.model, .pre
 *     (BPE only), .tokens [string], .scores [f32, SPM only: llama.cpp writes
 *     none for BPE], .token_type [i32], .merges [string "a b", BPE only],
 *     .bos/.eos/.unknown/.padding_token_id [u32, those known], .add_bos_token /
 *     .add_eos_token [bool, when the sources say], .add_space_prefix [bool, SPM,
 *     only when false: true is the default readers assume],
 *     tokenizer.chat_template [string, when present].
 *  2a. A SentencePiece-style tokenizer.json has no scores; llama.cpp's
 *     converter writes -1000 for every token, which makes score-driven SPM
 *     merging degenerate. We derive them from the merges instead: a token's
 *     score is minus the rank of the first merge that produces it, so the SPM
 *     merge order is the BPE merge order (-n_merges for normal tokens no
 *     merge produces, 0 for tokens of the other types). The unk_token gets
 *     type UNKNOWN (llama.cpp's converter says CONTROL here, its
 *     tokenizer.model path says UNKNOWN).
 *  3. The handle is immutable after load; free with bn_tokexport_free().
 */
#ifndef BN_TOKENIZER_EXPORT_H
#define BN_TOKENIZER_EXPORT_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stdint.h>
#include "bn/error.h"
#include "bn/gguf.h"

typedef struct bn_tokexport bn_tokexport;

/* Read and validate the tokenizer files of an HF model directory. BN_ENOTFOUND
 * when the directory has neither tokenizer.json nor tokenizer.model. */
bn_status bn_tokexport_load(const char *hf_dir, bn_tokexport **out, bn_error *err);
void bn_tokexport_free(bn_tokexport *t);

/* Write the tokenizer KVs of contract item 2 into an open GGUF writer. */
bn_status bn_tokexport_write_kvs(const bn_tokexport *t, bn_gguf_writer *w, bn_error *err);

/* Number of tokens written (after padding to config.json's vocab_size). */
uint32_t bn_tokexport_vocab_size(const bn_tokexport *t);
/* "llama" or "gpt2". */
const char *bn_tokexport_model(const bn_tokexport *t);
/* tokenizer.ggml.pre ("llama-bpe", "gpt-2", "default"); NULL for SPM. */
const char *bn_tokexport_pre(const bn_tokexport *t);
/* Write a Llama-3 pre-tokenizer under another name llama.cpp gives it for one
 * architecture (falcon3; arch.h bpe_pre). Only a BPE vocabulary whose
 * pre-tokenizer is "llama-bpe" is renamed (the runtime reads both alike);
 * nothing changes otherwise. pre must outlive t. */
void bn_tokexport_rename_llama3_pre(bn_tokexport *t, const char *pre);

/* Read-only views for tests and tools (valid while t lives). */
const char *bn_tokexport_token(const bn_tokexport *t, uint32_t id, size_t *len);
float bn_tokexport_score(const bn_tokexport *t, uint32_t id);
int32_t bn_tokexport_type(const bn_tokexport *t, uint32_t id);
uint32_t bn_tokexport_n_merges(const bn_tokexport *t);
/* Special ids; -1 when absent. which: 'b'os, 'e'os, 'u'nk, 'p'ad. */
int32_t bn_tokexport_special(const bn_tokexport *t, char which);

#pragma GCC visibility pop /* end of the exported API */

#endif
